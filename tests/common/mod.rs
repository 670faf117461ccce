//! Helpers shared by the end-to-end test binaries: run the `servesim` binary and check the
//! outcome.
#![allow(dead_code)] // each test binary uses its own subset

use std::process::{Command, Output};

/// Runs `servesim` with `args`.
pub fn servesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).output().expect("servesim runs")
}

/// Runs and expects success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = servesim(args);
    assert!(o.status.success(), "servesim {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Runs and expects exit code 2 with every word of `words` in the error.
pub fn bad_input(args: &[&str], words: &[&str]) {
    let o = servesim(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "servesim {args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "servesim {args:?}: `{err}` lacks `{w}`");
    }
}
