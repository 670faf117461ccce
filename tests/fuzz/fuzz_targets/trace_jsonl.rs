//! JSONL traces (servesim and Mooncake schemas, detected): reading must return a trace or an
//! error naming the file, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on every panic, even one the reader catches: polars panics on some
    // hostile JSONL, and `read_any` turns those into errors (tested in traces/tests/formats.rs).
    // Let panics raised inside polars unwind to that handler; any other panic still aborts.
    std::panic::set_hook(Box::new(|info| {
        if !info.location().is_some_and(|l| l.file().contains("/polars-")) {
            std::process::abort();
        }
    }));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, data).expect("write");
    if let Err(e) = traces::formats::read_any(&path, None) {
        assert!(e.to_string().contains("t.jsonl"), "{e}");
    }
});
