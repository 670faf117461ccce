//! JSONL traces (servesim and Mooncake schemas, detected): reading must return a trace or an
//! error naming the file, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, data).expect("write");
    if let Err(e) = traces::formats::read_any(&path, None) {
        assert!(e.to_string().contains("t.jsonl"), "{e}");
    }
});
