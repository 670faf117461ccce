//! What every trace fuzz target does: write the bytes to a file with the format's extension and
//! read it. Reading must return a trace or an error naming the file, never crash.

/// libfuzzer-sys aborts on every panic, even one the reader catches: polars panics on some
/// hostile files, and `traces::formats::read_any` turns those into errors (regression tests in
/// traces/tests/formats.rs). This lets panics raised inside polars unwind to that handler; any
/// other panic still aborts, and so does a failed allocation (which nothing can catch).
pub fn let_polars_panics_unwind() {
    std::panic::set_hook(Box::new(|info| {
        if !info.location().is_some_and(|l| l.file().contains("/polars-")) {
            std::process::abort();
        }
    }));
}

/// Reads `data` as a trace file named `t.<ext>`.
pub fn read_trace_bytes(data: &[u8], ext: &str) {
    let_polars_panics_unwind();
    let dir = tempfile::tempdir().expect("temp dir");
    let name = format!("t.{ext}");
    let path = dir.path().join(&name);
    std::fs::write(&path, data).expect("write");
    if let Err(e) = traces::formats::read_any(&path, None) {
        assert!(e.to_string().contains(&name), "{e}");
    }
}
