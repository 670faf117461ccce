//! ONNX Runtime against the kernels' reference forward passes, model errors, and a short replay,
//! all on the `tiny` preset built into a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kernels::onnx::{Imported, import};
use nalgebra::DMatrix;
use replay::harness::{Plan, ReplayOptions, replay};
use replay::model::{ModelFile, OrtModel, TestSplit};
use replay::{ReplayError, runtime};

/// The tiny models, built once per test binary.
fn models() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("tiny");
        let opts = kernels::BuildOptions {
            out_dir: out.clone(),
            preset: kernels::Preset::Tiny,
            seed: 42,
            created_by: "replay tests".into(),
            overwrite: false,
        };
        kernels::build(&opts, &mut |_| {}).unwrap();
        (tmp, out)
    })
    .1
}

fn reference_logits(dir: &Path, name: &str, split: &TestSplit) -> DMatrix<f32> {
    let x = DMatrix::from_row_slice(split.rows(), split.features, &split.x);
    match import(&std::fs::read(dir.join(format!("{name}.onnx"))).unwrap()).unwrap() {
        Imported::Fp32(m) => m.logits(&x),
        Imported::Int8(m) => m.logits(&x),
    }
}

fn ort_logits(dir: &Path, name: &str, split: &TestSplit) -> Vec<f32> {
    let file = ModelFile::find(dir, name).unwrap();
    let mut m = OrtModel::load(&file, 1, Some(split.features)).unwrap();
    m.run(&split.x).unwrap().logits.expect("the kernels' models have a logits output")
}

#[test]
fn the_library_is_provisioned_and_cached() {
    let path = runtime::library_path().unwrap();
    assert!(path.is_file());
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        assert_eq!(path, runtime::cached_library());
        // A second lookup reuses the cache (same file, pinned hash) instead of fetching.
        assert_eq!(runtime::locate().unwrap(), path);
        assert_eq!(runtime::file_sha256(path).unwrap(), runtime::LIB_SHA256);
    }
}

#[test]
fn fp32_models_match_the_nalgebra_forward_pass() {
    let dir = models();
    let split = replay::model::load_split(dir).unwrap();
    for name in ["teacher-fp32", "student-fp32", "student-hard-fp32"] {
        let want = reference_logits(dir, name, &split);
        let got = ort_logits(dir, name, &split);
        let classes = want.ncols();
        let max_abs = (0..split.rows())
            .flat_map(|r| (0..classes).map(move |c| (r, c)))
            .map(|(r, c)| (want[(r, c)] - got[r * classes + c]).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: max |Δlogit| ORT vs nalgebra {max_abs:e}");
        assert!(max_abs <= 1e-4, "{name}: max |Δlogit| {max_abs}");
    }
}

#[test]
fn int8_models_agree_with_the_int8_reference() {
    let dir = models();
    let split = replay::model::load_split(dir).unwrap();
    for name in ["teacher-int8", "student-int8"] {
        let want = reference_logits(dir, name, &split);
        let got = ort_logits(dir, name, &split);
        let classes = want.ncols();
        let argmax = |row: &[f32]| (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        let agree = (0..split.rows())
            .filter(|&r| {
                let w: Vec<f32> = (0..classes).map(|c| want[(r, c)]).collect();
                argmax(&w) == argmax(&got[r * classes..(r + 1) * classes])
            })
            .count();
        let frac = agree as f64 / split.rows() as f64;
        eprintln!("{name}: top-1 agreement ORT vs int8 reference {agree}/{}", split.rows());
        assert!(frac >= 0.99, "{name}: top-1 agreement {frac}");
    }
}

#[test]
fn bad_model_files_are_named() {
    let dir = models();
    let tmp = tempfile::tempdir().unwrap();
    for f in ["test_split.csv", "teacher-fp32.onnx"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    // Missing file.
    let e = ModelFile::find(tmp.path(), "teacher-int8").unwrap_err();
    assert!(e.is_input_error() && e.to_string().contains("teacher-int8.onnx"), "{e}");
    // Corrupt file (no card to catch it first: ONNX Runtime must refuse it).
    std::fs::write(tmp.path().join("broken.onnx"), b"not a protobuf at all").unwrap();
    let f = ModelFile::find(tmp.path(), "broken").unwrap();
    let e = OrtModel::load(&f, 1, Some(11)).unwrap_err();
    assert!(matches!(e, ReplayError::Model { .. }) && e.to_string().contains("broken.onnx"), "{e}");
    // Wrong input width.
    let f = ModelFile::find(tmp.path(), "teacher-fp32").unwrap();
    let e = OrtModel::load(&f, 1, Some(7)).unwrap_err();
    assert!(e.to_string().contains("teacher-fp32.onnx") && e.to_string().contains("width 11"), "{e}");
    // A card that does not match its file.
    std::fs::copy(dir.join("teacher-int8.card.json"), tmp.path().join("teacher-fp32.card.json")).unwrap();
    let e = ModelFile::find(tmp.path(), "teacher-fp32").unwrap_err();
    assert!(e.to_string().contains("changed after it was built"), "{e}");
}

const SCENARIO: &str = r#"
name = "replay-test"
seed = 3

[workload.arrivals]
kind = "poisson"
rate = 1000.0

[[variants]]
name = "student-int8"
family = "student"
precision = "int8"
quality = 0.6
weight_bytes = 1000
service = { cpu = { kind = "affine", a_ms = 0.05, b_ms = 0.01 } }

[[variants]]
name = "teacher-fp32"
family = "teacher"
precision = "fp32"
quality = 0.6
weight_bytes = 1000
service = { cpu = { kind = "affine", a_ms = 0.1, b_ms = 0.02 } }

[router]
kind = "join_shortest_queue"

[[devices]]
name = "a"
kind = "cpu"
variant = "student-int8"
queue_capacity = 64
batching = { kind = "dynamic", max_batch = 8, max_queue_delay_ms = 1.0 }

[[devices]]
name = "b"
kind = "cpu"
variant = "teacher-fp32"
batching = { kind = "none" }
"#;

#[test]
fn a_short_replay_completes_with_scored_records() {
    let dir = models();
    let config = sim::ScenarioConfig::parse(SCENARIO).unwrap();
    let plan = Plan::new(&config, dir).unwrap();
    // 300 Poisson arrivals at 1000/s: about 0.3 s of wall time.
    let requests: Vec<traces::Request> = config.workload.as_ref().unwrap().generator(7, 300).unwrap().collect();
    let r = replay(&plan, &requests, &ReplayOptions { warmup: 2, ..ReplayOptions::default() }).unwrap();
    let s = &r.summary;
    assert_eq!(r.records.len(), 300);
    assert_eq!(s.requests.arrived, 300);
    assert_eq!(s.requests.completed + s.requests.dropped, 300, "{s:?}");
    assert!(!s.partial);
    for rec in r.records.iter().filter(|r| r.finish.is_some()) {
        let (d, st, f) = (rec.dispatch.unwrap(), rec.start.unwrap(), rec.finish.unwrap());
        let back = rec.returned.unwrap();
        assert!(rec.enqueued <= d && d <= st && st <= f && f <= back, "{rec:?}");
        // Released on the scheduling thread itself: no hand-off before the queue.
        assert_eq!(rec.enqueued, rec.arrival, "{rec:?}");
        // Latency runs from the intended release to the answer back on the scheduling thread.
        assert_eq!(rec.latency_ns(), Some(back - rec.intended));
        assert!(rec.batch_size >= 1 && rec.batch_size <= 8);
    }
    assert!(s.variants.iter().all(|v| v.accuracy.is_some_and(|a| a > 0.3)), "{:?}", s.variants);
    assert!(s.mean_batch_size >= 1.0);
}

/// A `[[variants]]` entry for model `name` (family and precision from its name) and a
/// `[[devices]]` entry `device` serving it with `batching` (a TOML table).
fn served(name: &str, device: &str, batching: &str) -> String {
    let (family, precision) = name.split_once('-').unwrap();
    format!(
        "[[variants]]\nname = \"{name}\"\nfamily = \"{family}\"\nprecision = \"{precision}\"\nquality = 0.6\n\
         weight_bytes = 1000\nservice = {{ cpu = {{ kind = \"deterministic\", ms = 0.05 }} }}\n\n\
         [[devices]]\nname = \"{device}\"\nkind = \"cpu\"\nvariant = \"{name}\"\nbatching = {batching}\n\n"
    )
}

/// A one-device scenario with the given batching table, no workload.
fn one_device(batching: &str) -> sim::ScenarioConfig {
    sim::ScenarioConfig::parse(&format!("name = \"unit\"\nseed = 1\n\n{}", served("student-fp32", "d", batching)))
        .unwrap()
}

#[test]
fn batches_are_the_simulators_batcher_decisions() {
    // Eight requests at time 0 into a static batcher of 4 with a long timeout: exactly two
    // batches of four, in arrival order, as the engine's dispatch loop forms them.
    let plan = Plan::new(&one_device(r#"{ kind = "static", size = 4, timeout_ms = 10000.0 }"#), models()).unwrap();
    let requests: Vec<traces::Request> = (0..8).map(|i| traces::Request::new(i, traces::SimTime(0), 1)).collect();
    let r = replay(&plan, &requests, &ReplayOptions { warmup: 1, ..ReplayOptions::default() }).unwrap();
    assert_eq!(r.summary.batches, 2);
    assert_eq!(r.summary.mean_batch_size, 4.0);
    assert!(r.records.iter().all(|x| x.batch_size == 4 && x.finish.is_some()));
    let first: Vec<u64> = r.records.iter().filter(|x| x.dispatch == r.records[0].dispatch).map(|x| x.id).collect();
    assert_eq!(first, vec![0, 1, 2, 3]);
    // Predictions are scored against the test labels of rows id mod rows.
    assert!(r.records.iter().all(|x| x.correct.is_some()));
}

#[test]
fn a_stopped_replay_is_partial_and_conserves_requests() {
    let plan = Plan::new(&one_device(r#"{ kind = "none" }"#), models()).unwrap();
    let requests: Vec<traces::Request> =
        (0..50).map(|i| traces::Request::new(i, traces::SimTime(i * 1_000_000_000), 1)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r =
        replay(&plan, &requests, &ReplayOptions { warmup: 1, stop: Some(stop), ..ReplayOptions::default() }).unwrap();
    let s = &r.summary;
    assert!(s.partial);
    assert_eq!(s.requests.completed + s.requests.dropped + s.requests.unfinished, 50, "{s:?}");
    assert!(r.records.iter().all(|x| x.dropped || x.finish.is_some()));
}

#[test]
fn scenarios_replay_cannot_run_are_refused() {
    let config = sim::builtin::builtin("mmc").unwrap().unwrap();
    let e = Plan::new(&config, models()).unwrap_err();
    assert!(e.is_input_error() && e.to_string().contains("variant"), "{e}");
    let e = replay(
        &Plan::new(&one_device(r#"{ kind = "none" }"#), models()).unwrap(),
        &[],
        &ReplayOptions { speed: 0.0, ..ReplayOptions::default() },
    )
    .unwrap_err();
    assert!(e.is_input_error() && e.to_string().contains("--speed"), "{e}");
}

/// A student → teacher cascade on the tiny models, escalating by `escalate` (a TOML table).
fn cascade(escalate: &str) -> sim::ScenarioConfig {
    let dynamic = "{ kind = \"dynamic\", max_batch = 8, max_queue_delay_ms = 0.5 }";
    sim::ScenarioConfig::parse(&format!(
        "name = \"cascade\"\nseed = 9\n\n[workload.arrivals]\nkind = \"poisson\"\nrate = 400.0\n\n{}{}\
         [cascade]\nstudent = \"student-int8\"\nteacher = \"teacher-fp32\"\nescalate = {escalate}\n",
        served("student-int8", "s", dynamic),
        served("teacher-fp32", "t", dynamic)
    ))
    .unwrap()
}

#[test]
fn a_cascade_escalates_on_the_real_students_confidence() {
    let config = cascade(r#"{ kind = "confidence", threshold = 0.6, beta_a = 5.0, beta_b = 2.0 }"#);
    let plan = Plan::new(&config, models()).unwrap();
    let requests: Vec<traces::Request> = config.workload.as_ref().unwrap().generator(4, 400).unwrap().collect();
    let r = replay(&plan, &requests, &ReplayOptions { warmup: 1, ..ReplayOptions::default() }).unwrap();
    let c = r.summary.cascade.as_ref().expect("a cascade summary");
    let (student, teacher) = (0usize, 1usize);
    let mut escalated = 0;
    for rec in r.records.iter().filter(|x| x.finish.is_some()) {
        // Every request met the student first; it went on exactly when the student's own
        // confidence was below the threshold, and then the teacher answered.
        let conf = rec.confidence.expect("the student answered");
        if conf < 0.6 {
            escalated += 1;
            assert!(rec.escalated_from.is_some() && rec.device == Some(teacher), "{rec:?}");
        } else {
            assert!(rec.escalated_from.is_none() && rec.device == Some(student), "{rec:?}");
        }
    }
    assert_eq!(c.escalated.requests, escalated);
    assert_eq!(c.kept.requests + c.escalated.requests, r.summary.requests.completed);
    assert!((c.escalation_fraction - escalated as f64 / r.summary.requests.completed as f64).abs() < 1e-12);
    // Device counts: the student served everyone, the teacher the escalated ones; an escalated
    // request sat in two batches.
    assert_eq!(r.summary.devices[student].completed, r.summary.requests.completed);
    assert_eq!(r.summary.devices[teacher].completed, escalated);
    let slots = r.summary.devices.iter().map(|d| d.completed).sum::<u64>() as f64;
    assert!((r.summary.mean_batch_size - slots / r.summary.batches as f64).abs() < 1e-12);
}

#[test]
fn a_cascade_by_probability_escalates_none_or_all_at_the_extremes() {
    for (p, all) in [("0.0", false), ("1.0", true)] {
        let config = cascade(&format!(r#"{{ kind = "probability", p = {p} }}"#));
        let plan = Plan::new(&config, models()).unwrap();
        let requests: Vec<traces::Request> = config.workload.as_ref().unwrap().generator(4, 100).unwrap().collect();
        let r = replay(&plan, &requests, &ReplayOptions { warmup: 1, ..ReplayOptions::default() }).unwrap();
        let c = r.summary.cascade.as_ref().unwrap();
        assert_eq!(c.escalation_fraction, if all { 1.0 } else { 0.0 }, "p = {p}");
        assert!(r.records.iter().filter(|x| x.finish.is_some()).all(|x| x.escalated_from.is_some() == all));
    }
}
