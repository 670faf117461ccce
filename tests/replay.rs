//! End to end: `servesim calibrate`, `simulate --profile`, `replay` and `validate` on the tiny
//! models, ONNX Runtime provisioning, and the bad inputs of the replay commands. These run ONNX
//! Runtime for real (the library is provisioned into the project cache on first use).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

mod common;
use common::{bad_input, ok, servesim};

/// The tiny models, built once per test binary by the binary itself.
fn models() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("tiny");
        ok(&["models", "build", "--preset", "tiny", "--out", out.to_str().unwrap()]);
        (tmp, out)
    })
    .1
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A one-device scenario serving `variant` with a dynamic batcher, Poisson arrivals at `rate`.
fn scenario(dir: &Path, variant: &str, rate: f64, extra: &str) -> PathBuf {
    let text = format!(
        r#"name = "replay-e2e"
seed = 5

[workload.arrivals]
kind = "poisson"
rate = {rate}

[[variants]]
name = "{variant}"
family = "teacher"
precision = "fp32"
quality = 0.6
weight_bytes = 1000
service = {{ cpu = {{ kind = "affine", a_ms = 0.05, b_ms = 0.01 }} }}

[[devices]]
name = "cpu0"
kind = "cpu"
variant = "{variant}"
batching = {{ kind = "dynamic", max_batch = 8, max_queue_delay_ms = 0.5 }}
{extra}
"#
    );
    let p = dir.join(format!("{variant}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// A quick calibration of `variants` of the tiny models (batch 1–8, 1 warm-up, 3 runs) into
/// `out`; returns what `calibrate` printed.
fn calibrate(variants: &[&str], out: &Path) -> String {
    let mut args = vec![
        "calibrate",
        "--models",
        s(models()),
        "--batch",
        "1,2,4,8",
        "--warmup",
        "1",
        "--repeats",
        "3",
        "--gaps",
        "0,1,5",
        "--gap-rounds",
        "2",
        "--sustained-ms",
        "5",
        "--probe-loads",
        "0.2,0.5",
        "--probe-requests",
        "40",
    ];
    for v in variants {
        args.extend(["--variant", v]);
    }
    args.extend(["--out", s(out)]);
    ok(&args)
}

fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

fn only_run(out: &Path, prefix: &str) -> PathBuf {
    let v: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect();
    assert_eq!(v.len(), 1, "{v:?}");
    v[0].clone()
}

#[test]
fn calibrate_writes_a_profile_that_simulate_uses_and_a_stale_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("profile.toml");
    let out = calibrate(&["teacher-fp32", "student-int8"], &profile);
    assert!(out.contains("teacher-fp32") && out.contains("R²"), "{out}");
    let text = std::fs::read_to_string(&profile).unwrap();
    let parsed = replay::profile::Profile::load(&profile).unwrap();
    assert_eq!(parsed.entries.len(), 2);
    let e = &parsed.entries[0];
    assert_eq!(e.batch, vec![1, 2, 4, 8]);
    assert!(e.model_id.starts_with("mdl-") && e.median_ms.iter().all(|m| *m > 0.0));
    assert!(e.affine.is_some() && e.affine_floor.is_some());
    // Measured through the replay's worker path: a server's busy time is the ONNX Runtime run
    // plus the hand-offs around it, so each size's median busy time is at least its median run.
    assert_eq!(e.run_median_ms.len(), 4);
    assert!(e.median_ms.iter().zip(&e.run_median_ms).all(|(busy, run)| busy >= run && *run > 0.0), "{e:?}");
    assert!(out.contains("ORT alone ms"), "{out}");
    // Bursts after idle gaps of 0, 1 and 5 ms, at the smallest and the largest size, and the
    // cold-start model fitted to them.
    let cold = e.cold.as_ref().expect("idle gaps measured");
    assert_eq!(
        (cold.gap_ms.as_slice(), cold.batch.as_slice(), cold.burst, cold.rounds),
        (&[0.0, 1.0, 5.0][..], &[1, 8][..], 3, 2)
    );
    assert!(cold.median_ms.iter().flatten().flatten().all(|m| *m > 0.0) && cold.fit.slowdown >= 0.0, "{cold:?}");
    assert!(out.contains("cold starts: slowdown"), "{out}");
    // A sustained run (at least 30 runs) and the open-loop probe at two loads, every request
    // served by the one server without batching.
    let st = e.sustained.as_ref().expect("sustained run");
    assert!(st.runs >= 30 && st.batch == 1 && (st.ratio - st.last_ms / st.first_ms).abs() < 1e-12, "{st:?}");
    let probe = e.probe.as_ref().expect("probe");
    assert_eq!(probe.points.iter().map(|p| p.load).collect::<Vec<_>>(), vec![0.2, 0.5]);
    assert!(probe.points.iter().all(|p| p.batches == 40 && p.ratio > 0.0 && p.busy_median_ms > 0.0), "{probe:?}");
    let capacity = 1e3 / e.median_ms[0];
    assert!((probe.points[1].rate_per_s - 0.5 * capacity).abs() < 1e-9 * capacity);
    assert!(out.contains("open-loop probe") && out.contains("sustained:"), "{out}");

    let scn = scenario(tmp.path(), "teacher-fp32", 500.0, "");
    let runs = tmp.path().join("runs");
    let args = |p: &Path| {
        vec![
            "simulate".to_string(),
            "--scenario".into(),
            s(&scn).into(),
            "--requests".into(),
            "500".into(),
            "--profile".into(),
            s(p).into(),
            "--models".into(),
            s(models()).into(),
            "--out".into(),
            s(&runs).into(),
        ]
    };
    let a = args(&profile);
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let run = only_run(&runs, "run-");
    let resolved = std::fs::read_to_string(run.join("config.resolved.toml")).unwrap();
    assert!(resolved.contains("table"), "the profile's table is the device's service model:\n{resolved}");

    // Resampled batch-1 runs only for devices that do not batch.
    let emp = tmp.path().join("empirical.toml");
    std::fs::write(&emp, text.replacen("use = \"table\"", "use = \"empirical\"", 1)).unwrap();
    let a = args(&emp);
    bad_input(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["empirical", "cpu0", "batches"]);
    assert_eq!(e.samples_ms.len(), 4);
    assert!(e.samples_ms.iter().all(|v| v.len() == 3));

    // A profile of the first format (ONNX Runtime runs timed alone): stale, with the fix.
    let v1 = tmp.path().join("v1.toml");
    std::fs::write(&v1, text.replace("servesim.service-profile/3", "servesim.service-profile/1")).unwrap();
    let a = args(&v1);
    bad_input(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["v1.toml", "stale", "re-run `servesim calibrate`"]);
    // Another model id: stale.
    let stale = tmp.path().join("stale.toml");
    std::fs::write(&stale, text.replacen(&e.model_id, "mdl-0000", 1)).unwrap();
    let a = args(&stale);
    bad_input(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["stale.toml", "stale profile", "mdl-0000"]);
    // Another machine: stale.
    let other = tmp.path().join("other.toml");
    std::fs::write(&other, text.replacen(&format!("cpu = \"{}\"", parsed.machine.cpu), "cpu = \"Z80\"", 1)).unwrap();
    let a = args(&other);
    bad_input(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["stale profile", "Z80"]);

    // Stalls, drift and cold starts the calibration saw go to the device (unless the profile says
    // `stalls = false`, `drift = false`, `cold = false`).
    let mut stalled = parsed.clone();
    stalled.entries[0].stalls =
        Some(replay::profile::MeasuredStalls { rate_per_s: 2.5, duration_ms: vec![5.0, 6.0], above_ms: vec![1e3; 4] });
    let measured = replay::profile::MeasuredDrift { step_ms: 200.0, factors: vec![1.0, 1.1, 1.05, 0.95] };
    let drift = measured.spec().unwrap();
    stalled.entries[0].drift = Some(measured);
    let gaps = [0.0, 1.0, 10.0];
    let runs: Vec<Vec<Vec<Vec<f64>>>> = [0.5, 0.7, 0.9].iter().map(|m| vec![vec![vec![*m; 3]]]).collect();
    let cold = replay::profile::MeasuredCold::from_runs(&gaps, &[1], &[0.5], &runs).unwrap();
    let cold_spec = cold.spec();
    stalled.entries[0].cold = Some(cold);
    for (model, expect) in [(true, true), (false, false)] {
        stalled.stalls = model;
        stalled.drift = model;
        stalled.cold = model;
        let file = tmp.path().join(format!("stalls-{model}.toml"));
        std::fs::write(&file, stalled.to_toml()).unwrap();
        let out = tmp.path().join(format!("runs-stalls-{model}"));
        let mut a = args(&file);
        *a.last_mut().unwrap() = s(&out).into();
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let cfg = sim::ScenarioConfig::parse(
            &std::fs::read_to_string(only_run(&out, "run-").join("config.resolved.toml")).unwrap(),
        )
        .unwrap();
        let want =
            expect.then(|| sim::service::StallSpec { rate_per_s: 2.5, duration_ms: vec![5.0, 6.0], busy_only: true });
        assert_eq!(cfg.devices[0].stalls, want, "profile stalls = {model}");
        assert_eq!(cfg.devices[0].drift, expect.then(|| drift.clone()), "profile drift = {model}");
        assert_eq!(cfg.devices[0].cold, expect.then(|| cold_spec.clone()), "profile cold = {model}");
    }
}

#[test]
fn replay_writes_a_run_directory_with_records_and_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario(tmp.path(), "student-int8", 1000.0, "");
    let runs = tmp.path().join("runs");
    let out = ok(&[
        "replay",
        "--scenario",
        s(&scn),
        "--models",
        s(models()),
        "--requests",
        "300",
        "--warmup",
        "2",
        "--out",
        s(&runs),
    ]);
    assert!(out.contains("variant student-int8") && out.contains("accuracy"), "{out}");
    let run = only_run(&runs, "run-");
    let m = manifest(&run);
    assert_eq!(m["kind"], "replay");
    assert_eq!(m["schema"], "servesim.run/1");
    assert_eq!(m["partial"], false);
    assert_eq!(m["trace"]["requests"], 300);
    assert!(m["models"][0]["id"].as_str().unwrap().starts_with("mdl-"));
    for f in ["config.resolved.toml", "summary.json", "requests.parquet"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["requests"]["arrived"], 300);
    assert_eq!(
        summary["requests"]["completed"].as_u64().unwrap() + summary["requests"]["dropped"].as_u64().unwrap(),
        300
    );
    assert!(summary["variants"][0]["accuracy"].as_f64().is_some());
    // The run audits clean (every file hashed in the manifest).
    ok(&["audit", s(&run)]);
}

#[test]
fn replay_reads_a_trace_file_at_a_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("t.csv");
    let rows: String = (0..100).map(|i| format!("{i},{},1\n", f64::from(i) * 0.004)).collect();
    std::fs::write(&trace, format!("id,arrival_s,input_size\n{rows}")).unwrap();
    let scn = scenario(tmp.path(), "teacher-int8", 1.0, "");
    let runs = tmp.path().join("runs");
    ok(&[
        "replay",
        "--trace",
        s(&trace),
        "--speed",
        "2",
        "--scenario",
        s(&scn),
        "--models",
        s(models()),
        "--out",
        s(&runs),
    ]);
    let run = only_run(&runs, "run-");
    let m = manifest(&run);
    assert_eq!(m["trace"]["requests"], 100);
    assert_eq!(m["trace"]["source"], s(&trace));
    assert_eq!(m["replay"]["speed"], 2.0);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["requests"]["arrived"], 100);
}

#[test]
fn overload_drops_at_the_bounded_queue_and_the_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    // 400 requests at 200,000/s into a queue of 2: most must be dropped.
    let scn = scenario(tmp.path(), "teacher-fp32", 200_000.0, "queue_capacity = 2\n");
    let runs = tmp.path().join("runs");
    ok(&["replay", "--scenario", s(&scn), "--models", s(models()), "--requests", "400", "--out", s(&runs), "--json"]);
    let run = only_run(&runs, "run-");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let (done, dropped) =
        (summary["requests"]["completed"].as_u64().unwrap(), summary["requests"]["dropped"].as_u64().unwrap());
    assert_eq!(done + dropped, 400);
    assert!(dropped > 0, "{summary}");
}

#[test]
fn validate_keeps_both_runs_and_a_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("profile.toml");
    calibrate(&["student-fp32"], &profile);
    let scn = scenario(tmp.path(), "student-fp32", 1000.0, "");
    let runs = tmp.path().join("runs");
    ok(&[
        "validate",
        "--scenario",
        s(&scn),
        "--models",
        s(models()),
        "--profile",
        s(&profile),
        "--requests",
        "200",
        "--warmup",
        "1",
        "--replays",
        "2",
        "--out",
        s(&runs),
    ]);
    let val = only_run(&runs, "val-");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(val.join("comparison.json")).unwrap()).unwrap();
    for k in ["latency_ms_p50", "latency_ms_p90", "latency_ms_p99"] {
        assert!(c[k]["replay"].as_f64().unwrap() > 0.0 && c[k]["sim"].as_f64().unwrap() > 0.0, "{c}");
        // The median of two replays lies in their range; the flag says whether the sim does.
        let (lo, hi) = (c[k]["replay_range"][0].as_f64().unwrap(), c[k]["replay_range"][1].as_f64().unwrap());
        let (rep, sim) = (c[k]["replay"].as_f64().unwrap(), c[k]["sim"].as_f64().unwrap());
        assert!(lo <= rep && rep <= hi, "{c}");
        assert_eq!(c[k]["sim_within_replay_range"].as_bool(), Some(lo <= sim && sim <= hi), "{c}");
    }
    // Two replays of the same inputs are two runs (their ids differ), both kept and named.
    let replays: Vec<&str> = c["replay_runs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(replays.len(), 2);
    assert_ne!(replays[0], replays[1]);
    // Two replays, the prediction, two in-sample diagnostics and one out-of-sample speed check.
    assert_eq!(manifest(&val)["runs"].as_array().unwrap().len(), 6);
    // The sim again on the first replay's own busy times (the simulator's error alone): a run
    // of its own, from a scenario file kept in the validation directory.
    let explained = &c["sim_with_replay_service"];
    assert!(explained["latency_ms_p99"]["relative_error"].as_f64().unwrap().is_finite(), "{c}");
    // Given the replay's own busy times the simulator reproduces its median (in-sample: the
    // queueing and batching are the same code, latency runs from the intended release in both).
    let e50 = explained["latency_ms_p50"]["relative_error"].as_f64().unwrap();
    assert!(e50.abs() < 0.25, "sim on the replay's busy times: p50 {:+.1} %; {c}", 100.0 * e50);
    let explained_run = runs.join(explained["sim_run"].as_str().unwrap());
    assert_eq!(manifest(&explained_run)["kind"], "simulate");
    assert!(val.join("scenario-replay-service.toml").is_file());
    let resolved = std::fs::read_to_string(explained_run.join("config.resolved.toml")).unwrap();
    assert!(resolved.contains("table_samples"), "{resolved}");
    for r in &replays {
        assert_eq!(manifest(&runs.join(r))["kind"], "replay");
    }
    // The machine's speed during each replay against the profile's, and the sim a third time
    // with the profile's times scaled by the median ratio (its table = the profile's × factor).
    let ratios: Vec<f64> = c["profile_speed_ratio"].as_array().unwrap().iter().map(|r| r.as_f64().unwrap()).collect();
    assert_eq!(ratios.len(), 2);
    assert!(ratios.iter().all(|r| r.is_finite() && *r > 0.0), "{ratios:?}");
    let factor = (ratios[0] + ratios[1]) / 2.0;
    let at_speed = runs.join(c["sim_at_replay_speed"]["sim_run"].as_str().unwrap());
    let scaled =
        sim::ScenarioConfig::parse(&std::fs::read_to_string(at_speed.join("config.resolved.toml")).unwrap()).unwrap();
    let sim::service::ServiceSpec::Table { ms, .. } = scaled.devices[0].service.as_ref().unwrap() else {
        panic!("{scaled:?}")
    };
    let parsed = replay::profile::Profile::load(&profile).unwrap();
    for (got, measured) in ms.iter().zip(&parsed.entries[0].median_ms) {
        assert!((got / measured - factor).abs() < 1e-9, "{got} vs {measured} × {factor}");
    }
    assert!(val.join("scenario-replay-speed.toml").is_file());
    // Out of sample: the speed measured on replay 0, scored on replay 1 (its table = the
    // profile's × replay 0's ratio).
    let oos = &c["speed_out_of_sample"].as_array().unwrap()[..];
    assert_eq!(oos.len(), 1);
    assert_eq!((oos[0]["fitted_on"].as_u64(), oos[0]["scored_on"].as_u64()), (Some(0), Some(1)));
    assert!((oos[0]["factor"].as_f64().unwrap() - ratios[0]).abs() < 1e-12);
    let oos_run = runs.join(oos[0]["sim_run"].as_str().unwrap());
    let scaled =
        sim::ScenarioConfig::parse(&std::fs::read_to_string(oos_run.join("config.resolved.toml")).unwrap()).unwrap();
    let sim::service::ServiceSpec::Table { ms, .. } = scaled.devices[0].service.as_ref().unwrap() else {
        panic!("{scaled:?}")
    };
    for (got, measured) in ms.iter().zip(&parsed.entries[0].median_ms) {
        assert!((got / measured - ratios[0]).abs() < 1e-9, "{got} vs {measured} × {}", ratios[0]);
    }
    let p50 = &oos[0]["latency_ms_p50"];
    let (rep, sim_p50) = (p50["replay"].as_f64().unwrap(), p50["sim"].as_f64().unwrap());
    assert!((p50["relative_error"].as_f64().unwrap() - (sim_p50 - rep) / rep).abs() < 1e-12, "{c}");
    // Busy time by idle gap: every batch of both replays lands in one bin.
    let bins = c["busy_by_gap"].as_array().unwrap();
    let batches: u64 = bins.iter().map(|b| b["batches"].as_u64().unwrap()).sum();
    let replayed: u64 = replays
        .iter()
        .map(|r| {
            let sm: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(runs.join(r).join("summary.json")).unwrap()).unwrap();
            sm["batches"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(batches, replayed, "{bins:?}");
    let ks = c["ks_distance"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ks));
    assert_eq!(manifest(&runs.join(c["replay_run"].as_str().unwrap()))["kind"], "replay");
    let sim_manifest = manifest(&runs.join(c["sim_run"].as_str().unwrap()));
    assert_eq!(sim_manifest["kind"], "simulate");
    // Lineage: the simulation names the profile it took its service times from (by content
    // hash) and, through it, the model the profile measured; the validation names both runs.
    let profile_sha = sim_manifest["profile"]["sha256"].as_str().unwrap();
    assert_eq!(c["profile_sha256"].as_str(), Some(profile_sha));
    let model_id = manifest(&runs.join(c["replay_run"].as_str().unwrap()))["models"][0]["id"].clone();
    assert_eq!(sim_manifest["profile"]["used"][0]["model_id"], model_id);
    assert_eq!(manifest(&val)["profile"]["sha256"].as_str(), Some(profile_sha));
    // Both runs name the validation's trace file, relative to themselves.
    for run in [c["sim_run"].as_str().unwrap(), c["replay_run"].as_str().unwrap()] {
        let source = manifest(&runs.join(run))["trace"]["source"].as_str().unwrap().to_string();
        assert!(runs.join(run).join(&source).is_file(), "{run}: {source}");
    }
    let lineage = ok(&["lineage", s(&val)]);
    for want in [&format!("prof-{}", &profile_sha[..32]), model_id.as_str().unwrap(), "(replay)", "(simulate)"] {
        assert!(lineage.contains(want), "lineage lacks {want}:\n{lineage}");
    }
    ok(&["audit", s(&val)]);
}

#[test]
fn bad_model_directories_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let dir = tmp.path().join("models");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(models().join("test_split.csv"), dir.join("test_split.csv")).unwrap();
    // Missing model file.
    let scn = scenario(tmp.path(), "teacher-int8", 100.0, "");
    let args = ["replay", "--scenario", s(&scn), "--models", s(&dir), "--requests", "10", "--out", s(&runs)];
    bad_input(&args, &["teacher-int8.onnx", "cannot read model"]);
    bad_input(&["calibrate", "--models", s(&dir), "--out", s(&tmp.path().join("p.toml"))], &["no .onnx models"]);
    // Corrupt file.
    std::fs::write(dir.join("teacher-int8.onnx"), b"\x08\x01garbage, not an ONNX model").unwrap();
    bad_input(&args, &["teacher-int8.onnx", "ONNX Runtime cannot load it"]);
    // Wrong input width: a valid model over 5 features where the test split has 11.
    let mlp = kernels::mlp::Mlp::new(&[5, 4, 3], &mut traces::rng::stream(1, "test"));
    let meta = kernels::onnx::ExportMeta {
        name: "teacher-int8".into(),
        version: "test".into(),
        doc: String::new(),
        props: Vec::new(),
    };
    std::fs::write(dir.join("teacher-int8.onnx"), kernels::onnx::export_fp32(&mlp, &meta).unwrap()).unwrap();
    bad_input(&args, &["teacher-int8.onnx", "input width 5", "11 features"]);
}

#[test]
fn a_bad_ort_dylib_path_is_a_clear_error() {
    // A child process: the library loads once per process.
    let tmp = tempfile::tempdir().unwrap();
    let scn = scenario(tmp.path(), "student-fp32", 100.0, "");
    let o = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["replay", "--scenario", s(&scn), "--models", s(models()), "--requests", "5"])
        .args(["--out", s(&tmp.path().join("runs"))])
        .env("ORT_DYLIB_PATH", tmp.path().join("nowhere/libonnxruntime.so"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for w in ["ONNX Runtime unavailable", "ORT_DYLIB_PATH", "nowhere/libonnxruntime.so", "fix:"] {
        assert!(err.contains(w), "`{err}` lacks `{w}`");
    }
    // A file that is not a library: loading fails with the same kind of message.
    let fake = tmp.path().join("libfake.so");
    std::fs::write(&fake, b"not ELF").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["calibrate", "--models", s(models()), "--out", s(&tmp.path().join("p.toml"))])
        .env("ORT_DYLIB_PATH", &fake)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("libfake.so") && err.contains("fix:"), "{err}");
    // Nothing cached and no way to fetch: the error lists every attempt.
    let o = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["calibrate", "--models", s(models()), "--out", s(&tmp.path().join("p.toml"))])
        .env_remove("ORT_DYLIB_PATH")
        .env("SERVESIM_CACHE_DIR", tmp.path().join("empty-cache"))
        .env("PATH", tmp.path().join("no-bin"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for w in
        ["ORT_DYLIB_PATH: not set", "empty-cache/onnxruntime/1.32.0/libonnxruntime.so.1.32.0", "pip download", "fix:"]
    {
        assert!(err.contains(w), "`{err}` lacks `{w}`");
    }
}

/// Starts a replay of 100,000 requests at 1000/s (100 s: any interrupt comes long before) and
/// returns once it is replaying (its signal handler is installed before that line).
fn start_long_replay(dir: &Path) -> (std::process::Child, PathBuf) {
    let scn = scenario(dir, "student-fp32", 1000.0, "");
    let runs = dir.join("runs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["replay", "--scenario", s(&scn), "--models", s(models()), "--requests", "100000"])
        .args(["--warmup", "1", "--out", s(&runs)])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.starts_with("replaying"), "{line}");
    (child, runs)
}

#[test]
fn ctrl_c_writes_a_partial_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (child, runs) = start_long_replay(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let run = only_run(&runs, "run-");
    let m = manifest(&run);
    assert_eq!(m["partial"], true);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], true);
    assert!(summary["requests"]["unfinished"].as_u64().unwrap() > 0);
}

#[test]
fn kill_9_during_replay_leaves_no_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, runs) = start_long_replay(tmp.path());
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    // Nothing that looks like a finished run: at most the temporary directory, which the next
    // run in the same place removes.
    let names: Vec<String> = std::fs::read_dir(&runs)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(names.iter().all(|n| n.starts_with(".tmp-")), "{names:?}");
    let scn = scenario(tmp.path(), "student-fp32", 1000.0, "");
    ok(&[
        "replay",
        "--scenario",
        s(&scn),
        "--models",
        s(models()),
        "--requests",
        "200",
        "--warmup",
        "1",
        "--out",
        s(&runs),
    ]);
    let names: Vec<String> =
        std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.len() == 1 && names[0].starts_with("run-"), "the abandoned temp directory is gone: {names:?}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The production contract on measured numbers: two replays (fp32 teacher, int8 teacher) on the
/// same requests, gated by the built-in int8 rule set, whose `quality` rule now reads the
/// accuracy ONNX Runtime's answers actually had on the test labels.
#[test]
fn the_gate_compares_replays_on_measured_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let replay = |variant: &str| {
        let scn = scenario(tmp.path(), variant, 500.0, "\n[slo]\nlatency_ms = 50.0\n");
        let out = tmp.path().join(variant);
        ok(&["replay", "--scenario", s(&scn), "--models", s(models()), "--requests", "200", "--out", s(&out)]);
        only_run(&out, "run-")
    };
    let (base, cand) = (replay("teacher-fp32"), replay("teacher-int8"));
    let (bs, cs) = (json(&base.join("summary.json")), json(&cand.join("summary.json")));
    for sm in [&bs, &cs] {
        // quality is the measured accuracy, also the only variant's; cost and drop rate are there.
        let q = sm["quality"].as_f64().unwrap();
        assert_eq!(sm["accuracy"].as_f64(), Some(q), "{sm}");
        assert_eq!(sm["variants"][0]["accuracy"].as_f64(), Some(q), "{sm}");
        assert!(q > 0.2 && q <= 1.0, "{sm}");
        assert!(sm["cost"]["usd_per_1000_requests"].as_f64().unwrap() > 0.0, "{sm}");
        assert!((0.0..=1.0).contains(&sm["slo"]["attainment"].as_f64().unwrap()), "{sm}");
        assert_eq!(sm["drop_rate"].as_f64(), Some(0.0), "{sm}");
    }
    let gate = |rules: &str| {
        let out = tmp.path().join("gates");
        let o =
            servesim(&["gate", "--baseline", s(&base), "--candidate", s(&cand), "--rules", rules, "--out", s(&out)]);
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        let id = stdout.split_whitespace().nth(1).unwrap().to_string();
        (o.status.code().unwrap(), json(&out.join(id).join("decision.json")))
    };
    let (code, d) = gate("builtin:int8-vs-fp32");
    let q = d["evidence"].as_array().unwrap().iter().find(|e| e["metric"] == "quality").unwrap();
    assert_eq!(q["baseline"].as_f64(), bs["quality"].as_f64(), "{d}");
    assert_eq!(q["candidate"].as_f64(), cs["quality"].as_f64(), "{d}");
    let lost = bs["quality"].as_f64().unwrap() - cs["quality"].as_f64().unwrap();
    assert_eq!(q["passed"].as_bool(), Some(lost <= 0.01 + 1e-12), "{d}");
    assert_eq!(i64::from(code), d["exit_code"].as_i64().unwrap(), "{d}");
    // The same measured accuracy against absolute limits: unreachable → rollback (exit 5),
    // trivially met → accept (exit 0).
    let rules = |limit: f64| {
        let p = tmp.path().join(format!("q{limit}.toml"));
        std::fs::write(
            &p,
            format!(
                "name = \"measured-quality\"\n[[rule]]\nmetric = \"quality\"\nkind = \"min\"\nlimit = {limit}\n\
                 action = \"rollback\"\nowner = \"model-quality\"\n"
            ),
        )
        .unwrap();
        p
    };
    let (code, d) = gate(s(&rules(1.01)));
    assert_eq!((code, d["verdict"].as_str()), (5, Some("rollback")), "{d}");
    let (code, d) = gate(s(&rules(0.0)));
    assert_eq!((code, d["verdict"].as_str()), (0, Some("accept")), "{d}");
}
