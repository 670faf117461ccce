//! CSV traces (servesim and Azure schemas, detected): reading must return a trace or an error
//! naming the file, never crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| servesim_fuzz::read_trace_bytes(data, "csv"));
