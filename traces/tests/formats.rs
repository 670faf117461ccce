//! Trace files: round trips across formats, the public-trace importers on the real shared files,
//! and the validation contract.

use std::path::{Path, PathBuf};
use traces::formats::{SourceFormat, read_any, read_trace, write_trace};
use traces::id::trace_id;
use traces::workload::{ArrivalSpec, KeySpec, SizeSpec, WorkloadSpec};
use traces::{ClassId, Request, SimTime, Trace, TraceError};

/// The shared public traces: `SERVESIM_SHARED_TRACES`, else `../shared/traces` beside the checkout.
fn shared(name: &str) -> PathBuf {
    let dir = std::env::var_os("SERVESIM_SHARED_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"));
    let p = dir.join(name);
    assert!(p.exists(), "shared trace {} not found: set SERVESIM_SHARED_TRACES", p.display());
    p
}

fn rich_trace() -> Trace {
    let spec = WorkloadSpec {
        arrivals: ArrivalSpec::Poisson { rate: 1000.0 },
        input_size: SizeSpec::LogNormal { mean: 500.0, cv: 1.5 },
        output_tokens: SizeSpec::LogNormal { mean: 100.0, cv: 1.0 },
        cache_keys: Some(KeySpec { universe: 50, zipf_s: 1.0 }),
        prefixes: None,
        sessions: Some(traces::workload::SessionGenSpec { turns: SizeSpec::LogNormal { mean: 3.0, cv: 1.0 } }),
    };
    let mut requests: Vec<Request> = spec.generator(11, 300).unwrap().collect();
    assert!(requests.windows(2).any(|w| w[0].session == w[1].session), "turns of one session");
    assert!(requests.windows(2).any(|w| w[0].session != w[1].session));
    for (i, r) in requests.iter_mut().enumerate() {
        r.class = ClassId((i % 3 == 1) as u16);
        if i % 4 == 0 {
            r.prefix_blocks = Some(vec![1, 2, i as u64].into_boxed_slice());
        }
        if i % 5 == 0 {
            r.service = Some(SimTime(1_234_567 + i as u64));
        }
        if i % 7 == 0 {
            r.cache_key = None;
        }
        if i % 11 == 0 {
            r.session = None;
        }
        if i % 3 == 0 {
            r.adapter = Some(i as u32 % 5);
        }
    }
    // Ties are legal.
    requests[10].arrival = requests[9].arrival;
    Trace { requests, classes: vec!["small".into(), "large".into()] }
}

#[test]
fn the_same_requests_have_the_same_id_in_csv_parquet_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let trace = rich_trace();
    let id = trace_id(&trace.requests, &trace.classes);
    for ext in ["csv", "parquet", "jsonl"] {
        let p = dir.path().join(format!("t.{ext}"));
        write_trace(&p, &trace).unwrap();
        let back = read_trace(&p).unwrap();
        assert_eq!(back.requests, trace.requests, "{ext}");
        assert_eq!(trace_id(&back.requests, &back.classes), id, "{ext}");
    }
}

#[test]
fn azure_conversation_trace_imports_exactly() {
    let t = read_any(&shared("AzureLLMInferenceTrace_conv.csv"), None).unwrap();
    let r = &t.requests;
    assert_eq!(r.len(), 19_366);
    assert_eq!((r[0].arrival, r[0].input_size, r[0].output_tokens), (SimTime(0), 374, 44));
    assert_eq!((r[1].arrival, r[1].input_size, r[1].output_tokens), (SimTime(4_314_579_000), 396, 109));
    let last = r.last().unwrap();
    assert_eq!((last.arrival, last.input_size, last.output_tokens), (SimTime(3_501_721_937_000), 197, 183));
    let s = traces::stats::stats(&t);
    assert!((s.mean_rate_per_s - 5.53).abs() < 0.01, "{}", s.mean_rate_per_s);
    assert!((s.interarrival_cv - 1.09).abs() < 0.01, "{}", s.interarrival_cv);
    assert_eq!(s.input_size.p50, 1020);
    assert_eq!(s.output_tokens.p50, 129);
    assert_eq!(s.input_size.max, 14_050);
}

#[test]
fn mooncake_trace_keeps_equal_timestamps_and_block_ids() {
    let p = shared("mooncake_conversation_trace.jsonl");
    let t = read_any(&p, Some(SourceFormat::Mooncake)).unwrap();
    let r = &t.requests;
    assert_eq!(r.len(), 12_031);
    assert_eq!((r[0].arrival, r[0].input_size, r[0].output_tokens), (SimTime(0), 6758, 500));
    assert_eq!(
        r[1].prefix_blocks.as_deref(),
        Some(&[0u64, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27][..])
    );
    assert_eq!(r.last().unwrap().arrival, SimTime(3_536_999_000_000));
    let s = traces::stats::stats(&t);
    let blocks: usize = r.iter().map(|q| q.prefix_blocks.as_ref().map_or(0, |b| b.len())).sum();
    assert_eq!(blocks, 288_500);
    assert!((s.repeated_block_fraction - 0.366).abs() < 0.001, "{}", s.repeated_block_fraction);
    assert!(s.zero_gap_fraction > 0.85, "quantized ticks: {}", s.zero_gap_fraction);
    assert_eq!(s.input_size.p50, 6909);
}

/// Writes `text` to a file named `name` and reads it as a servesim trace.
fn read_text(name: &str, text: &str) -> Result<Trace, TraceError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    read_trace(&p)
}

fn expect_invalid(name: &str, text: &str, row: Option<usize>, column: Option<&str>, words: &str) {
    match read_text(name, text) {
        Err(TraceError::Invalid { at, reason }) => {
            assert_eq!(at.row, row, "{name}: {reason}");
            assert_eq!(at.column.as_deref(), column, "{name}: {reason}");
            assert!(reason.contains(words), "{name}: `{reason}` lacks `{words}`");
            assert!(at.file.ends_with(name));
        }
        other => panic!("{name}: expected a validation error, got {other:?}"),
    }
}

#[test]
fn the_validation_contract_names_file_row_and_column() {
    let h = "id,arrival_s,input_size\n";
    expect_invalid("unsorted.csv", &format!("{h}1,0.5,3\n2,0.2,3\n"), Some(2), Some("arrival_s"), "not sorted");
    expect_invalid("dup.csv", &format!("{h}1,0.1,3\n1,0.2,3\n"), Some(2), Some("id"), "duplicate");
    expect_invalid("neg.csv", &format!("{h}1,-0.1,3\n"), Some(1), Some("arrival_s"), "non-negative");
    expect_invalid("nan.csv", &format!("{h}1,0.1,3\n2,NaN,3\n"), Some(2), Some("arrival_s"), "finite");
    expect_invalid("inf.csv", &format!("{h}1,inf,3\n"), Some(1), Some("arrival_s"), "finite");
    expect_invalid("negsize.csv", &format!("{h}1,0.1,-3\n"), Some(1), Some("input_size"), "negative");
    expect_invalid("fracsize.csv", &format!("{h}1,0.1,2.5\n"), Some(1), Some("input_size"), "integer");
    expect_invalid("word.csv", &format!("{h}1,0.1,abc\n"), Some(1), Some("input_size"), "not an integer");
    expect_invalid("nosize.csv", "id,arrival_s\n1,0.1\n", None, Some("input_size"), "missing");
    expect_invalid("hole.csv", &format!("{h}1,,3\n"), Some(1), Some("arrival_s"), "missing value");
    expect_invalid("empty.csv", "", None, None, "empty");
    expect_invalid("header_only.csv", h, None, None, "no rows");
    expect_invalid(
        "mistyped.jsonl",
        "{\"arrival_s\": 0.1, \"input_size\": [1]}\n",
        None,
        Some("input_size"),
        "has type",
    );
    expect_invalid(
        "negative.jsonl",
        "{\"arrival_s\": 0.1, \"input_size\": -4}\n",
        Some(1),
        Some("input_size"),
        "negative",
    );
    expect_invalid("ext.txt", "x", None, None, "extension");
}

#[test]
fn a_bad_azure_timestamp_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("azure.csv");
    std::fs::write(&p, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,1,2\nyesterday,3,4\n").unwrap();
    let e = read_any(&p, None).unwrap_err().to_string();
    assert!(e.contains("row 2") && e.contains("TIMESTAMP") && e.contains("yesterday"), "{e}");
}

#[test]
fn sizes_can_be_resampled_from_a_real_trace() {
    use traces::workload::TraceField;
    let azure = shared("AzureLLMInferenceTrace_conv.csv").display().to_string();
    let spec = WorkloadSpec {
        arrivals: ArrivalSpec::Poisson { rate: 10.0 },
        input_size: SizeSpec::FromTrace { path: azure.clone(), field: TraceField::InputSize },
        output_tokens: SizeSpec::FromTrace { path: azure, field: TraceField::OutputTokens },
        cache_keys: None,
        prefixes: None,
        sessions: None,
    };
    let t = Trace { requests: spec.generator(2, 50_000).unwrap().collect(), classes: Trace::default_classes() };
    let s = traces::stats::stats(&t);
    // The resampled distribution has the trace's median (1020 / 129) to within sampling noise.
    assert!((s.input_size.p50 as f64 / 1020.0 - 1.0).abs() < 0.03, "{}", s.input_size.p50);
    assert!((s.output_tokens.p50 as f64 / 129.0 - 1.0).abs() < 0.05, "{}", s.output_tokens.p50);
    assert!(s.input_size.max <= 14_050);
    let missing = WorkloadSpec {
        input_size: SizeSpec::FromTrace { path: "/no/such/trace.csv".into(), field: TraceField::InputSize },
        ..spec
    };
    let e = missing.generator(1, 1).err().unwrap().to_string();
    assert!(e.contains("/no/such/trace.csv"), "{e}");
}

/// Found by the `trace_jsonl` fuzzer: an integer beyond 64 bits made polars' JSON schema
/// inference panic (Int128 was not enabled). It must be an error naming file and column.
#[test]
fn fuzz_jsonl_integer_beyond_64_bits_is_an_error_not_a_panic() {
    let text = "{\"timestamp\": 0, \"input_length\": 908888888888888888888888888880, \"output_length\": 5}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.jsonl");
    std::fs::write(&p, text).unwrap();
    match read_any(&p, None) {
        Err(TraceError::Invalid { at, reason }) => {
            assert_eq!(at.column.as_deref(), Some("input_length"));
            assert!(reason.contains("beyond 64 bits"), "{reason}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Found by the `trace_jsonl` fuzzer: polars' JSONL line sampling indexes past the end of this
/// 17-byte file and panics. It must be an error naming the file.
#[test]
fn fuzz_jsonl_line_sampling_slice_out_of_range_is_an_error() {
    // Found by the trace_jsonl fuzzer: blank lines with a vertical tab before one record made
    // polars' line sampling slice past the end ("range start index 16 out of range").
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vt.jsonl");
    let mut bytes = b"\n\n\x0b\n\n\n\n\n\n\n\n\n\n\n".to_vec();
    bytes.extend_from_slice(b"{\"mimes|amp\": 0, \"ith\": 5, \"xa_;ds\": [0, 2]}\n");
    std::fs::write(&p, &bytes).unwrap();
    let e = read_any(&p, None).unwrap_err().to_string();
    assert!(e.contains("vt.jsonl"), "{e}");
}

#[test]
fn fuzz_jsonl_line_sampling_panic_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("odd.jsonl");
    std::fs::write(&p, b"\n\n2\n{\"arr 0\": 0}\n").unwrap();
    let e = read_any(&p, None).unwrap_err().to_string();
    assert!(e.contains("odd.jsonl"), "{e}");
}

#[test]
fn fuzz_parquet_negative_page_value_count_is_an_error_not_an_abort() {
    // Found by the trace_parquet fuzzer: 47 bytes changed in a 20-row trace, among them a data
    // page header's num_values made negative, which polars casts to ~2^64 and then reserves a
    // 2^61-byte validity bitmap for (an allocation failure aborts; no catch_unwind helps).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("forged.parquet");
    std::fs::write(&p, include_bytes!("fuzz/parquet-page-num-values-negative.parquet")).unwrap();
    let e = read_any(&p, None).unwrap_err().to_string();
    assert!(e.contains("forged.parquet") && e.contains("a data page claims"), "{e}");
}
