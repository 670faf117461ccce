//! `servesim groundtruth` and `servesim calibrate-llm` on the shared real vLLM cases (read from
//! ../shared/groundtruth, or $SERVESIM_SHARED_GROUNDTRUTH; skipped with a note when absent).

use std::path::{Path, PathBuf};

mod common;
use common::{bad_input, ok};

/// The shared ground-truth directory, if present.
fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("SERVESIM_SHARED_GROUNDTRUTH")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/groundtruth"), PathBuf::from);
    if dir.join("cases").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: shared ground truth {} not found (set SERVESIM_SHARED_GROUNDTRUTH)", dir.display());
        None
    }
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn groundtruth_compares_every_measured_statistic_deterministically() {
    let Some(gt) = shared() else { return };
    let cases = ["blis-h100-llama-2-7b-jan21-llama7b-train-1", "h30-h100-llama-2-7b-roleplay"];
    let dirs: Vec<String> = cases.iter().map(|c| gt.join("cases").join(c).display().to_string()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let mut args = vec!["groundtruth"];
        args.extend(dirs.iter().map(String::as_str));
        args.extend(["--out", out.to_str().unwrap()]);
        let stdout = ok(&args);
        assert!(stdout.contains("median |error|") && stdout.contains("ttft_ms.mean"), "{stdout}");
    }
    for c in cases {
        for f in ["comparison.json", "scenario.toml", "summary.json", "manifest.json"] {
            assert_eq!(std::fs::read(a.join(c).join(f)).unwrap(), std::fs::read(b.join(c).join(f)).unwrap(), "{c}/{f}");
        }
        let cmp = json(&a.join(c).join("comparison.json"));
        assert_eq!(cmp["case"], c);
        // Every measured statistic of case.toml is compared, with the error as defined.
        let case: toml::Table =
            toml::from_str(&std::fs::read_to_string(gt.join("cases").join(c).join("case.toml")).unwrap()).unwrap();
        let measured = case["measured"].as_table().unwrap();
        let n: usize = measured.values().map(|v| v.as_table().map_or(1, |t| t.len())).sum();
        let metrics = cmp["metrics"].as_object().unwrap();
        assert_eq!(metrics.len(), n, "{c}");
        let ttft = &metrics["ttft_ms.mean"];
        let (m, s) = (ttft["measured"].as_f64().unwrap(), ttft["sim"].as_f64().unwrap());
        assert_eq!(m, measured["ttft_ms"]["mean"].as_float().unwrap());
        assert!((ttft["relative_error"].as_f64().unwrap() - (s - m) / m).abs() < 1e-12);
        // The summary is the simulation the comparison read.
        let summary = json(&a.join(c).join("summary.json"));
        assert_eq!(summary["latency_ms"]["ttft"]["mean"].as_f64().unwrap(), s);
        let manifest = json(&a.join(c).join("manifest.json"));
        assert_eq!(manifest["kind"], "groundtruth");
        assert!(manifest["case"].as_str().unwrap().starts_with(&format!("{c} sha256:")));
        // The scenario it ran is a valid scenario of its own.
        let scenario = std::fs::read_to_string(a.join(c).join("scenario.toml")).unwrap();
        sim::ScenarioConfig::parse(&scenario).unwrap();
    }
    // The per-request case replayed all 282 requests of its workload file.
    let cmp = json(&a.join(cases[0]).join("comparison.json"));
    assert_eq!(cmp["requests"], 282);
}

#[test]
fn malformed_cases_exit_2_naming_file_and_key_and_write_nothing() {
    let Some(gt) = shared() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = gt.join("cases/h30-h100-llama-2-7b-roleplay/case.toml");
    let text = std::fs::read_to_string(&src).unwrap();
    let bad = tmp.path().join("cases/bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("case.toml"), text.replace("max_num_seqs = 128", "max_num_seqs = \"many\"")).unwrap();
    let good = gt.join("cases/h30-h100-llama-2-7b-codegen");
    let out = tmp.path().join("out");
    let models = gt.join("models");
    let args = [
        "groundtruth",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        "--models",
        models.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    bad_input(&args, &["cases/bad/case.toml", "`server.max_num_seqs`", "integer"]);
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
    // A model file that is not a model configuration names its key.
    std::fs::write(bad.join("case.toml"), text.replace("model = \"llama-2-7b\"", "model = \"cluster\"")).unwrap();
    std::fs::write(tmp.path().join("cluster.json"), r#"{"num_nodes": 1}"#).unwrap();
    let args = [
        "groundtruth",
        bad.to_str().unwrap(),
        "--models",
        tmp.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    bad_input(&args, &["cluster.json", "`num_hidden_layers`"]);
    // A stale calibration is refused.
    let calib = tmp.path().join("calib.toml");
    std::fs::write(&calib, sim::llm::calibration::BUILTIN.replace("servesim = \"0.", "servesim = \"9.")).unwrap();
    let args = [
        "groundtruth",
        good.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    bad_input(&args, &["calib.toml", "stale"]);
}

#[test]
fn calibrate_llm_writes_a_calibration_groundtruth_reads() {
    let Some(gt) = shared() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let calib = tmp.path().join("calib.toml");
    let cases: Vec<String> =
        ["h30-h100-llama-2-7b-roleplay", "h30-h100-llama-2-7b-codegen", "h30-h100-llama-2-70b-roleplay"]
            .iter()
            .map(|c| gt.join("cases").join(c).display().to_string())
            .collect();
    let mut args = vec!["calibrate-llm"];
    args.extend(cases.iter().map(String::as_str));
    args.extend(["--out", calib.to_str().unwrap(), "--rounds", "1", "--steps", "2"]);
    let stdout = ok(&args);
    assert!(stdout.contains("leave-1-out") && stdout.contains("in-sample"), "{stdout}");
    let c = sim::llm::calibration::Calibration::parse(&std::fs::read_to_string(&calib).unwrap()).unwrap();
    assert_eq!(c.devices.len(), 1);
    assert_eq!(c.devices[0].kind, "h100-sxm");
    assert_eq!(c.devices[0].cases.len(), 3);
    assert!(c.devices[0].cases[0].starts_with("h30-h100-llama-2-7b-roleplay sha256:"));
    assert!(c.devices[0].models.iter().any(|m| m.starts_with("llama-2-7b sha256:")), "{:?}", c.devices[0].models);
    // It records each case's evidence: measured, in-sample and leave-one-out means.
    assert_eq!(c.checks.len(), 3);
    for k in &c.checks {
        assert!(k.ttft_measured > 0.0 && k.e2e_in_sample > 0.0 && k.e2e_loo.unwrap() > 0.0, "{k:?}");
        // Two other cases are too few for an entry: each is predicted by the pooled fit.
        assert_eq!(k.loo_source.as_deref(), Some("pooled"));
    }
    let out = tmp.path().join("gt");
    let mut args = vec!["groundtruth", cases[0].as_str(), "--calibration", calib.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap()]);
    ok(&args);
    let cmp = json(&out.join("h30-h100-llama-2-7b-roleplay/comparison.json"));
    assert_eq!(cmp["calibration"], "device");
    // Two cases are too few for a kind of its own: the calibration has only its pooled entry.
    let mut args = vec!["calibrate-llm"];
    args.extend(cases[..2].iter().map(String::as_str));
    args.extend(["--out", calib.to_str().unwrap(), "--rounds", "1", "--steps", "1", "--no-loo"]);
    ok(&args);
    let c = sim::llm::calibration::Calibration::parse(&std::fs::read_to_string(&calib).unwrap()).unwrap();
    assert!(c.devices.is_empty() && c.pooled.cases.len() == 2, "{:?}", c.devices);
}

#[test]
fn an_inference_perf_client_gives_up_after_300_s_and_the_overloaded_run_shows_it() {
    let Some(gt) = shared() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let case = gt.join("cases/h30-h100-llama-2-7b-reasoning");
    let out = tmp.path().join("gt");
    ok(&["groundtruth", case.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let dir = out.join("h30-h100-llama-2-7b-reasoning");
    let scenario = sim::ScenarioConfig::parse(&std::fs::read_to_string(dir.join("scenario.toml")).unwrap()).unwrap();
    assert_eq!(scenario.llm.unwrap().client_timeout_s, Some(300.0));
    // 4 requests/s of 1,448 output tokens overload one H100: most requests time out, and the
    // ones that finish did so within the client's 300 s.
    let summary = json(&dir.join("summary.json"));
    let (arrived, completed, timed_out) = (
        summary["requests"]["arrived"].as_u64().unwrap(),
        summary["requests"]["completed"].as_u64().unwrap(),
        summary["requests"]["timed_out"].as_u64().unwrap(),
    );
    assert_eq!(completed + timed_out, arrived);
    assert!(timed_out > arrived / 2, "{timed_out} of {arrived}");
    assert!(summary["latency_ms"]["e2e"]["max"].as_f64().unwrap() <= 300_000.0 + 1.0);
}
