//! End-to-end tests of the `servesim` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{bad_input, ok, servesim};

fn shared(name: &str) -> String {
    let dir = std::env::var_os("SERVESIM_SHARED_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces"));
    let p = dir.join(name);
    assert!(p.exists(), "shared trace {} not found: set SERVESIM_SHARED_TRACES", p.display());
    p.display().to_string()
}

/// The run directories under `out`.
fn runs(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(out).map_or(Vec::new(), |d| d.map(|e| e.unwrap().path()).collect());
    v.sort();
    v
}

fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn simulate_is_deterministic_and_seeds_matter() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    for (out, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        ok(&[
            "simulate",
            "--scenario",
            "mmc",
            "--requests",
            "20000",
            "--seed",
            seed,
            "--records",
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let (ra, rb, rc) = (runs(&a), runs(&b), runs(&c));
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].file_name(), rb[0].file_name(), "same inputs, same run id");
    assert_ne!(ra[0].file_name(), rc[0].file_name(), "another seed, another run id");
    for f in ["summary.json", "config.resolved.toml", "manifest.json", "requests.parquet"] {
        assert_eq!(std::fs::read(ra[0].join(f)).unwrap(), std::fs::read(rb[0].join(f)).unwrap(), "{f}");
    }
    assert_ne!(std::fs::read(ra[0].join("summary.json")).unwrap(), std::fs::read(rc[0].join("summary.json")).unwrap());
    let m = manifest(&ra[0]);
    assert_eq!(m["seed"], 5);
    assert_eq!(m["trace"]["requests"], 20000);
    assert!(m["config_hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(m["code"]["git_commit"].is_string());
    assert_eq!(m["run_id"].as_str().unwrap(), ra[0].file_name().unwrap().to_str().unwrap());
}

#[test]
fn records_are_written_and_every_file_is_hashed_in_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&["simulate", "-s", "overload", "-n", "3000", "--records", "-o", tmp.path().to_str().unwrap()]);
    assert!(out.contains("dropped"), "{out}");
    let run = &runs(tmp.path())[0];
    let m = manifest(run);
    let files = m["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["path"] == "requests.parquet"));
    for f in files {
        let bytes = std::fs::read(run.join(f["path"].as_str().unwrap())).unwrap();
        let digest = sha2_hex(&bytes);
        assert_eq!(f["sha256"].as_str().unwrap(), digest, "{}", f["path"]);
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    let r = &summary["requests"];
    assert_eq!(r["arrived"].as_u64().unwrap(), r["completed"].as_u64().unwrap() + r["dropped"].as_u64().unwrap());
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn simulate_prints_the_analytic_value_beside_the_simulated_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&["simulate", "-s", "md1", "-n", "50000", "-o", tmp.path().to_str().unwrap()]);
    assert!(out.contains("analytic M/D/1: E[Wq] 20.000"), "{out}");
    assert!(out.contains("sim "), "{out}");
}

#[test]
fn bad_scenarios_exit_2_name_the_key_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = out.to_str().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let dev = "[[devices]]\nname = \"d\"\nservice = { kind = \"exponential\", mean_ms = 1.0 }\n";
    let wl = "[workload.arrivals]\nkind = \"poisson\"\nrate = 10.0\n";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            write(
                "zero.toml",
                &format!("name = \"x\"\n{wl}{}", dev.replace("name = \"d\"", "name = \"d\"\nservers = 0")),
            ),
            vec!["zero.toml", "devices[0].servers", "at least 1"],
        ),
        (
            write("neg.toml", &format!("name = \"x\"\n{}{dev}", wl.replace("10.0", "-3.0"))),
            vec!["neg.toml", "workload.arrivals.rate", "positive"],
        ),
        (
            write("unknown.toml", &format!("name = \"x\"\ncolour = 1\n{wl}{dev}")),
            vec!["unknown.toml", "unknown field", "colour"],
        ),
        (
            write("type.toml", &format!("name = \"x\"\nseed = \"one\"\n{wl}{dev}")),
            vec!["type.toml", "seed", "invalid type"],
        ),
        (
            write("kind.toml", &format!("name = \"x\"\n{}{dev}", wl.replace("poisson", "poison"))),
            vec!["kind.toml", "poison"],
        ),
        (
            write("nodev.toml", &format!("name = \"x\"\ndevices = []\n{wl}")),
            vec!["nodev.toml", "devices", "at least one"],
        ),
        (write("noload.toml", &format!("name = \"x\"\n{dev}")), vec!["noload.toml", "no [workload]"]),
    ];
    for (path, words) in &cases {
        bad_input(&["simulate", "--scenario", path, "--out", o], words);
    }
    bad_input(&["simulate", "--scenario", "no-such-builtin", "--out", o], &["unknown scenario", "mmc"]);
    bad_input(&["simulate", "--scenario", "mmc", "--requests", "0", "--out", o], &["--requests"]);
    bad_input(&["simulate", "--scenario", "mmc", "--seed=-1", "--out", o], &["--seed", "invalid value"]);
    let bad_trace = write("t.csv", "id,arrival_s,input_size\n1,0.2,1\n2,0.1,1\n");
    bad_input(
        &["simulate", "--scenario", "mmc", "--trace", &bad_trace, "--out", o],
        &["t.csv", "row 2", "arrival_s", "not sorted"],
    );
    assert!(runs(&out).is_empty(), "nothing may be written on bad input: {:?}", runs(&out));
}

#[test]
fn trace_inspect_and_import_agree_on_the_trace_id_across_formats() {
    let azure = shared("AzureLLMInferenceTrace_conv.csv");
    let text = ok(&["trace", "inspect", &azure]);
    assert!(text.contains("requests   19366"), "{text}");
    let id_line = text.lines().find(|l| l.starts_with("id ")).unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    for ext in ["parquet", "csv", "jsonl"] {
        let p = tmp.path().join(format!("azure.{ext}"));
        ok(&["trace", "import", &azure, "--out", p.to_str().unwrap()]);
        let again = ok(&["trace", "inspect", p.to_str().unwrap()]);
        assert!(again.contains(&id_line), "{ext}: {again}");
    }
    let json = ok(&["trace", "inspect", &shared("mooncake_conversation_trace.jsonl"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["requests"], 12031);
}

#[test]
fn a_generated_trace_and_the_same_workload_inline_have_one_trace_id() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mm1.parquet");
    let gen_out = ok(&["trace", "gen", "-s", "mm1", "-n", "5000", "--seed", "9", "-o", file.to_str().unwrap()]);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&["simulate", "-s", "mm1", "-n", "5000", "--seed", "9", "-o", a.to_str().unwrap()]);
    ok(&["simulate", "-s", "mm1", "--trace", file.to_str().unwrap(), "--seed", "9", "-o", b.to_str().unwrap()]);
    let (ma, mb) = (manifest(&runs(&a)[0]), manifest(&runs(&b)[0]));
    assert_eq!(ma["trace"]["id"], mb["trace"]["id"]);
    assert!(gen_out.contains(ma["trace"]["id"].as_str().unwrap()), "{gen_out}");
    // Same requests, same seed: the simulated latencies agree too.
    let sa: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs(&a)[0].join("summary.json")).unwrap()).unwrap();
    let sb: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs(&b)[0].join("summary.json")).unwrap()).unwrap();
    assert_eq!(sa["latency_ms"], sb["latency_ms"]);
}

#[test]
fn simulate_runs_on_the_real_azure_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let azure = shared("AzureLLMInferenceTrace_conv.csv");
    let out = ok(&["simulate", "-s", "mm1", "--trace", &azure, "-o", tmp.path().to_str().unwrap()]);
    assert!(out.contains("19366 arrived"), "{out}");
    assert!(!out.contains("analytic"), "a trace-driven run has no closed form: {out}");
}

#[test]
fn an_llm_scenario_runs_on_the_azure_trace_and_its_summary_is_gateable() {
    let tmp = tempfile::tempdir().unwrap();
    let azure = shared("AzureLLMInferenceTrace_conv.csv");
    let out = ok(&["simulate", "-s", "llm", "--trace", &azure, "-o", tmp.path().to_str().unwrap()]);
    assert!(out.contains("19366 completed") && out.contains("TTFT") && out.contains("per 1M output tokens"), "{out}");
    let run = &runs(tmp.path())[0];
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["engine"], "llm");
    assert_eq!(summary["tokens"]["output"], 4_088_665, "every output token of the trace, once");
    assert!(summary["latency_ms"]["tpot"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(manifest(run)["trace"]["id"], "tr-e18090441ed9cdf47f26f68308012264");
    // On Llama-2-7B (4,096 positions) the requests longer than its context are refused at
    // arrival, as vLLM refuses them: counted from the trace itself.
    let csv = std::fs::read_to_string(&azure).unwrap();
    let too_long = csv
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<u64> = l.split(',').skip(1).map(|x| x.trim().parse().unwrap()).collect();
            f[0] + f[1].max(1) > 4096
        })
        .count();
    let llama2 = tmp.path().join("llama2.toml");
    let text = ok(&["scenarios", "--show", "llm"]).replace("model = \"llama-3.1-8b\"", "model = \"llama-2-7b\"");
    std::fs::write(&llama2, text).unwrap();
    let short = tmp.path().join("short");
    let out = ok(&["simulate", "-s", llama2.to_str().unwrap(), "--trace", &azure, "-o", short.to_str().unwrap()]);
    assert!(too_long > 0 && out.contains(&format!("{too_long} longer than max_model_len")), "{too_long}: {out}");
    // Per-request records, hashed in the manifest; a 10x faster replay of the same trace.
    let fast = tmp.path().join("fast");
    ok(&["simulate", "-s", "llm", "--trace", &azure, "--speed", "10", "--records", "-o", fast.to_str().unwrap()]);
    let run10 = &runs(&fast)[0];
    let m = manifest(run10);
    assert_ne!(m["trace"]["id"], "tr-e18090441ed9cdf47f26f68308012264", "compressed arrivals are other requests");
    assert!(m["files"].as_array().unwrap().iter().any(|f| f["path"] == "requests.parquet"), "{m}");
    let s10: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run10.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s10["tokens"]["output"], 4_088_665);
    assert!(s10["horizon_s"].as_f64().unwrap() < summary["horizon_s"].as_f64().unwrap());
    bad_input(
        &["simulate", "-s", "llm", "--trace", &azure, "--speed", "0", "-o", fast.to_str().unwrap()],
        &["--speed"],
    );
}

#[test]
fn models_build_is_deterministic_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        let out = ok(&["models", "build", "--preset", "tiny", "--out", d.to_str().unwrap()]);
        assert!(out.contains("teacher-int8") && out.contains("mdl-"), "{out}");
    }
    let mut names: Vec<_> = std::fs::read_dir(&a).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert!(names.iter().any(|n| n.to_string_lossy() == "student-int8.onnx"), "{names:?}");
    for n in &names {
        assert_eq!(std::fs::read(a.join(n)).unwrap(), std::fs::read(b.join(n)).unwrap(), "{n:?} differs");
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("teacher-int8.card.json")).unwrap()).unwrap();
    let onnx = std::fs::read(a.join("teacher-int8.onnx")).unwrap();
    assert_eq!(card["id"].as_str().unwrap(), format!("mdl-{}", sha2_hex(&onnx)), "id = hash of the ONNX bytes");
    bad_input(&["models", "build", "--preset", "tiny", "--out", a.to_str().unwrap()], &["exists", "--overwrite"]);
    // `check` verifies every card against its model file: a changed model is unauditable.
    assert!(servesim(&["check", a.to_str().unwrap()]).status.success());
    let mut bytes = std::fs::read(b.join("student-int8.onnx")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(b.join("student-int8.onnx"), bytes).unwrap();
    let out = servesim(&["check", b.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("unauditable") && text.contains("student-int8.card.json") && text.contains("hashes to"),
        "{text}"
    );
    let tree = ok(&["lineage", a.join("student-int8.card.json").to_str().unwrap()]);
    let student =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(a.join("student-fp32.card.json")).unwrap())
            .unwrap();
    assert!(tree.contains(student["id"].as_str().unwrap()) && tree.contains("quantized-from"), "{tree}");
    assert!(ok(&["lineage", a.to_str().unwrap()]).contains("teacher-fp32"));
    bad_input(
        &["models", "build", "--preset", "huge", "--out", tmp.path().join("c").to_str().unwrap()],
        &["--preset", "huge"],
    );
    // An output whose parents do not exist yet gets them; one whose parent cannot be a directory
    // fails before any training, its reason printed once.
    let deep = tmp.path().join("new/deeper/models");
    ok(&["models", "build", "--preset", "tiny", "--out", deep.to_str().unwrap()]);
    assert!(deep.join("index.json").is_file());
    std::fs::write(tmp.path().join("file"), "").unwrap();
    let blocked = tmp.path().join("file/models");
    let o = servesim(&["models", "build", "--preset", "tiny", "--out", blocked.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&tmp.path().join("file").display().to_string()) && !err.contains("training"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

fn sweep_csv(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("sweep.csv")).unwrap()
}

fn only_dir(parent: &Path) -> PathBuf {
    let mut d: Vec<PathBuf> = std::fs::read_dir(parent).unwrap().map(|e| e.unwrap().path()).collect();
    d.retain(|p| p.is_dir());
    assert_eq!(d.len(), 1, "{d:?}");
    d.pop().unwrap()
}

#[test]
fn sweeps_give_the_same_table_whatever_the_jobs_shards_or_interruptions() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = ["--vary", "workload.arrivals.rate=20,40,60", "--vary", "devices.0.servers=1,2"];
    let sweep = |out: &Path, extra: &[&str]| {
        let mut a = vec!["sweep", "-s", "mm1", "-n", "20000", "-o", out.to_str().unwrap()];
        a.extend_from_slice(&grid);
        a.extend_from_slice(extra);
        ok(&a)
    };
    let one = tmp.path().join("one");
    sweep(&one, &["--jobs", "1"]);
    let dir1 = only_dir(&one);
    let csv = sweep_csv(&dir1);
    assert_eq!(csv.lines().count(), 1 + 6, "{csv}");
    let header = csv.lines().next().unwrap();
    assert!(header.contains("param.workload.arrivals.rate") && header.contains("latency_ms.p99"), "{header}");
    // --jobs 2: identical table, same sweep id.
    let two = tmp.path().join("two");
    sweep(&two, &["--jobs", "2"]);
    let dir2 = only_dir(&two);
    assert_eq!(dir1.file_name(), dir2.file_name());
    assert_eq!(csv, sweep_csv(&dir2));
    let tree = ok(&["lineage", dir1.to_str().unwrap()]);
    assert!(
        tree.contains("sweep swp-") && tree.matches("scenario mm1").count() == 6 && !tree.contains("NO CONFIG"),
        "{tree}"
    );
    // Two shards, merged: identical table.
    let sh = tmp.path().join("shards");
    sweep(&sh, &["--shard", "0/2"]);
    sweep(&sh, &["--shard", "1/2"]);
    let shards: Vec<String> =
        std::fs::read_dir(&sh).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    let merged = tmp.path().join("merged");
    let mut a = vec!["merge", "-o", merged.to_str().unwrap()];
    a.extend(shards.iter().map(String::as_str));
    ok(&a);
    assert_eq!(csv, sweep_csv(&only_dir(&merged)));
    // One shard alone does not make a sweep.
    bad_input(&["merge", "-o", merged.to_str().unwrap(), &shards[0]], &["point", "no shard"]);
    // Lost points are re-run, finished ones skipped; the table comes out the same.
    for i in [1, 4] {
        std::fs::remove_file(dir1.join("points").join(format!("{i:06}.json"))).unwrap();
    }
    let out = sweep(&one, &["--jobs", "2"]);
    assert!(out.contains("2 run now, 4 already done"), "{out}");
    assert_eq!(csv, sweep_csv(&dir1));
    // A bad key names itself.
    bad_input(
        &["sweep", "-s", "mm1", "--vary", "devices.7.servers=2", "-o", one.to_str().unwrap()],
        &["devices.7", "past the end"],
    );
    bad_input(
        &["sweep", "-s", "mm1", "--vary", "workload.arrivals.rate=-5", "-o", one.to_str().unwrap()],
        &["workload.arrivals.rate=-5", "positive"],
    );
}

#[test]
fn a_killed_sweep_resumes_to_the_same_table() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        ["sweep", "-s", "mm1", "-n", "1500000", "--jobs", "1", "--vary", "workload.arrivals.rate=10,20,30,40,50"]
            .iter()
            .map(|s| s.to_string())
            .chain(["-o".to_string(), out.display().to_string()])
            .collect()
    };
    let clean = tmp.path().join("clean");
    ok(&args(&clean).iter().map(String::as_str).collect::<Vec<_>>());
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim")).args(args(&killed)).spawn().unwrap();
    // Kill it once the first point is on disk (or give up waiting and kill it anyway).
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(120) {
        let n = std::fs::read_dir(&killed)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|d| std::fs::read_dir(d.unwrap().path().join("points")).ok())
            .map_or(0, |d| d.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count());
        if n >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = only_dir(&killed);
    assert!(!dir.join("sweep.csv").exists(), "a killed sweep has no table yet");
    for e in std::fs::read_dir(dir.join("points")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let _: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        }
    }
    let out = ok(&args(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("already done") && !out.contains(" 0 already done"), "{out}");
    assert_eq!(sweep_csv(&only_dir(&clean)), sweep_csv(&dir));
}

#[test]
fn the_llm_release_gate_refuses_static_batching_and_int8_weights_without_quality_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let base = ok(&["scenarios", "--show", "llm"]);
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let sim = |scenario: &Path, out: &str| -> PathBuf {
        let dir = tmp.path().join(out);
        ok(&["simulate", "-s", scenario.to_str().unwrap(), "-n", "3000", "-o", dir.to_str().unwrap()]);
        runs(&dir).pop().unwrap()
    };
    let baseline = sim(&write("base.toml", &base), "base");
    let int8_text = base.replace("weights = \"fp16\"", "weights = \"int8\"");
    let int8 = sim(&write("int8.toml", &int8_text), "int8");
    let declared = "\n[llm.quality]\ndelta = -0.002\nmetric = \"mmlu\"\nevidence = \"declared\"\nsource = \"test\"\n";
    let int8_q = sim(&write("int8q.toml", &format!("{int8_text}{declared}")), "int8q");
    let stat = sim(
        &write(
            "static.toml",
            &base.replace("kind = \"continuous\"\nmax_num_seqs = 256\nmax_batched_tokens = 8192", "kind = \"static\""),
        ),
        "static",
    );
    let gate = |cand: &Path| {
        let out = servesim(&[
            "gate",
            "--baseline",
            baseline.to_str().unwrap(),
            "--candidate",
            cand.to_str().unwrap(),
            "--rules",
            "builtin:llm-release",
            "-o",
            tmp.path().join("gates").to_str().unwrap(),
        ]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = gate(&int8);
    assert_eq!(code, Some(4), "a precision change without quality evidence is blocked: {text}");
    assert!(text.contains("quality.delta"), "{text}");
    let (code, text) = gate(&int8_q);
    assert_eq!(code, Some(0), "weight-only int8 halves decode time; its declared loss is within a point: {text}");
    let (code, text) = gate(&stat);
    assert!(matches!(code, Some(4) | Some(5)), "static batching must not ship: {text}");
    assert!(text.contains("latency_ms.ttft.p99"), "{text}");
}

#[test]
fn check_flags_stale_profiles_and_sim_vs_replay_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let (models, dir) = (tmp.path().join("models"), tmp.path().join("watch"));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile.toml");
    ok(&["models", "build", "--preset", "tiny", "--out", models.to_str().unwrap()]);
    ok(&[
        "calibrate",
        "--models",
        models.to_str().unwrap(),
        "--variant",
        "student-int8",
        "--gap-rounds",
        "3",
        "--out",
        profile.to_str().unwrap(),
    ]);
    let comparison = |p99: f64| {
        let v = serde_json::json!({
            "schema": "servesim.validation/1", "sim_run": "run-s", "replay_run": "run-r",
            "latency_ms_p50": {"relative_error": 0.02}, "latency_ms_p90": {"relative_error": -0.05},
            "latency_ms_p99": {"relative_error": p99}
        });
        std::fs::write(dir.join("comparison.json"), v.to_string()).unwrap();
    };
    comparison(0.08);
    let out = servesim(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // The sim's tail drifts 30% from reality: inconsistent.
    comparison(-0.30);
    let text = String::from_utf8_lossy(&servesim(&["check", dir.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("inconsistent") && text.contains("p99 -30.0%"), "{text}");
    assert!(servesim(&["check", dir.to_str().unwrap(), "--max-drift", "0.5"]).status.success());
    // A profile measured elsewhere, or for a model that has since been rebuilt, is stale.
    comparison(0.0);
    let good = std::fs::read_to_string(&profile).unwrap();
    let cpu = good.lines().find(|l| l.starts_with("cpu = ")).unwrap().to_string();
    std::fs::write(&profile, good.replace(&cpu, "cpu = \"a machine far away\"")).unwrap();
    let out = servesim(&["check", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.code() == Some(4) && text.contains("stale") && text.contains("a machine far away"), "{text}");
    let id_line = good.lines().find(|l| l.starts_with("model_id = ")).unwrap().to_string();
    std::fs::write(&profile, good.replace(&id_line, "model_id = \"mdl-0000\"")).unwrap();
    let text = String::from_utf8_lossy(&servesim(&["check", dir.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("stale") && text.contains("mdl-0000"), "{text}");
}

/// The course figures README.md shows (from docs/figures/).
const README_FIGURES: [&str; 11] = [
    "traces",
    "latency-vs-load",
    "batching-window",
    "cache-hit-ratio",
    "models-accuracy-vs-memory",
    "hardware-cost-vs-slo",
    "llm-ttft-tpot-vs-load",
    "llm-kv-timeline",
    "stalls",
    "llm-prefix-hit-rate",
    "llm-groundtruth",
];

#[test]
fn course_renders_every_figure_deterministically_with_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    // The calibration figure measures ONNX Runtime unless given a profile: measure once, so that
    // both runs render the same data.
    let models = tmp.path().join("models");
    let profile = tmp.path().join("profile.toml");
    ok(&["models", "build", "--preset", "tiny", "--out", models.to_str().unwrap()]);
    ok(&["calibrate", "--models", models.to_str().unwrap(), "--gap-rounds", "3", "--out", profile.to_str().unwrap()]);
    for d in [&a, &b] {
        let (d, m, p) = (d.to_str().unwrap(), models.to_str().unwrap(), profile.to_str().unwrap());
        // The notebooks are executed by tests/python.rs (`servesim notebooks`), not here: their HTML
        // shows temporary paths and timings.
        ok(&["course", "--quick", "--out", d, "--models", m, "--profile", p, "--no-notebooks"]);
    }
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("index.json")).unwrap()).unwrap();
    let figures = index.as_array().unwrap();
    assert_eq!(figures.len(), 23);
    // The traces step: every trace the traces figure plots is a file with its id and statistics.
    let traces: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("traces/index.json")).unwrap()).unwrap();
    let trace_ids: Vec<&str> =
        traces.as_array().unwrap().iter().map(|t| t["stats"]["trace_id"].as_str().unwrap()).collect();
    assert!(trace_ids.len() >= 3, "{traces}");
    for t in traces.as_array().unwrap() {
        let inspected = ok(&["trace", "inspect", a.join("traces").join(t["file"].as_str().unwrap()).to_str().unwrap()]);
        assert!(inspected.contains(t["stats"]["trace_id"].as_str().unwrap()), "{inspected}");
    }
    for f in figures {
        for file in f["files"].as_array().unwrap() {
            let name = file.as_str().unwrap();
            let (x, y) = (std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap());
            // A measurement made by the run (the sim-vs-replay figure) is real data: not reproducible.
            assert!(!x.is_empty() && (x == y || f["measured"] == true), "{name} differs between two runs");
        }
        let runs = f["run_ids"].as_array().unwrap();
        assert!(!runs.is_empty());
        for id in runs.iter().map(|r| r.as_str().unwrap()) {
            // Points are simulation runs (with their config), for the model figure model ids, for
            // the ground-truth figure the cases the built-in calibration fitted.
            let config = a.join("configs").join(format!("{id}.toml"));
            let validation_run = a.join("validation").join(id).join("manifest.json");
            let cascade_run = a.join("cascade").join(id).join("manifest.json");
            assert!(
                config.is_file()
                    || validation_run.is_file()
                    || cascade_run.is_file()
                    || trace_ids.contains(&id)
                    || (id.starts_with("mdl-") && models.join("index.json").is_file())
                    || sim::llm::calibration::Calibration::builtin()
                        .pooled
                        .cases
                        .iter()
                        .any(|c| c.split(' ').next() == Some(id)),
                "{id}"
            );
        }
        let svg = std::fs::read_to_string(a.join(format!("{}.svg", f["id"].as_str().unwrap()))).unwrap();
        assert!(svg.contains(runs[0].as_str().unwrap()), "the footer names the runs");
    }
    // The data behind every figure is golden (not the image bytes): UPDATE_GOLDEN=1 rewrites it.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/course-quick");
    for f in figures.iter().filter(|f| f["id"] != "calibration" && f["measured"] != true) {
        // (The calibration figure plots a measurement: it is reproducible from its profile only.)
        let name = format!("{}.json", f["id"].as_str().unwrap());
        let got = std::fs::read_to_string(a.join(&name)).unwrap();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(golden.join(&name), &got).unwrap();
        }
        let want = std::fs::read_to_string(golden.join(&name))
            .unwrap_or_else(|e| panic!("{name}: no golden file ({e}); run with UPDATE_GOLDEN=1"));
        assert!(got == want, "{name} differs from tests/golden/course-quick (UPDATE_GOLDEN=1 if intended)");
    }
    // The README shows some of these figures from docs/figures/: they must be what the code
    // draws now (UPDATE_GOLDEN=1 refreshes them too).
    let shown = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figures");
    for id in README_FIGURES {
        let name = format!("{id}.svg");
        let got = std::fs::read(a.join(&name)).unwrap();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&shown).unwrap();
            std::fs::write(shown.join(&name), &got).unwrap();
        }
        let want = std::fs::read(shown.join(&name)).unwrap_or_default();
        assert!(got == want, "docs/figures/{name} is stale (UPDATE_GOLDEN=1 cargo test --test cli course)");
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        assert!(readme.contains(&format!("docs/figures/{name}")), "README.md does not show {name}");
    }
    // Lineage walks from a figure (or the whole course) back to each run's config.
    let by_id = |id: &str| figures.iter().find(|f| f["id"] == id).unwrap();
    let window = by_id("batching-window");
    let fig = a.join("batching-window.json");
    let tree = ok(&["lineage", fig.to_str().unwrap()]);
    assert!(tree.contains(window["figure_id"].as_str().unwrap()), "{tree}");
    let traces_tree = ok(&["lineage", a.join("traces.json").to_str().unwrap()]);
    assert!(traces_tree.contains("traces/poisson.parquet") && !traces_tree.contains("unauditable"), "{traces_tree}");
    for r in window["run_ids"].as_array().unwrap() {
        assert!(tree.contains(r.as_str().unwrap()) && !tree.contains("NO CONFIG"), "{tree}");
    }
    assert!(ok(&["lineage", a.to_str().unwrap()]).contains("course at"));
    // Lineage by id alone: a figure, a trace and the calibration profile are found under --root.
    let root = a.to_str().unwrap();
    let tree = ok(&["lineage", window["figure_id"].as_str().unwrap(), "--root", root]);
    assert!(tree.contains("figure batching-window") && !tree.contains("NO CONFIG"), "{tree}");
    let tree = ok(&["lineage", trace_ids[0], "--root", root]);
    assert!(tree.contains("traces/poisson.parquet"), "{tree}");
    let profile_id = format!("prof-{}", &sha2_hex(&std::fs::read(&profile).unwrap())[..32]);
    let tree = ok(&["lineage", &profile_id, "--root", tmp.path().to_str().unwrap()]);
    assert!(tree.contains("profile prof-") && tree.contains("teacher-int8 = model mdl-"), "{tree}");
    bad_input(&["lineage", "run-0000000000000000", "--root", root], &["run-0000000000000000", "no artifact"]);
    // The measured quantization gate: fp32 teacher (baseline) vs int8 teacher (candidate),
    // both replayed; the decision's quality evidence is each replay's measured accuracy, and
    // lineage walks from the decision to both runs (paths valid after the rename).
    let gate = runs(&a.join("gates")).remove(0);
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(gate.join("decision.json")).unwrap()).unwrap();
    // Measured numbers decide, so the verdict is not known in advance; it must be the one the
    // evidence implies: the most severe action among the failed rules, accept when none failed,
    // with its exit code.
    let severity = ["accept", "warn", "block", "rollback"];
    let implied = d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["passed"] == false)
        .map(|e| severity.iter().position(|s| e["action"] == *s).unwrap())
        .max()
        .unwrap_or(0);
    assert_eq!(d["verdict"], severity[implied], "{d}");
    assert_eq!(d["exit_code"], [0, 3, 4, 5][implied], "{d}");
    let q = d["evidence"].as_array().unwrap().iter().find(|e| e["metric"] == "quality").unwrap();
    for who in ["baseline", "candidate"] {
        let run = PathBuf::from(d[who]["path"].as_str().unwrap());
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
        assert_eq!(q[who], summary["accuracy"], "{who}: {d}");
        ok(&["audit", run.to_str().unwrap()]);
    }
    let tree = ok(&["lineage", gate.to_str().unwrap()]);
    assert!(tree.contains("teacher-fp32") && tree.contains("teacher-int8") && !tree.contains("cannot read"), "{tree}");
    assert!(std::fs::read_to_string(a.join("index.md")).unwrap().contains("Release decision, measured"));
    // The cascade on real models: one replay per threshold, each a run with its own summary,
    // and lineage from the figure reaches them (not a missing config).
    let cascade = by_id("cascade-threshold");
    assert_eq!(cascade["measured"], true);
    assert_eq!(cascade["run_ids"].as_array().unwrap().len(), 7);
    let tree = ok(&["lineage", a.join("cascade-threshold.json").to_str().unwrap()]);
    assert!(tree.contains("(replay)") && !tree.contains("NO CONFIG"), "{tree}");
    // A point's run id is the one `simulate` gives its config.
    let id = by_id("latency-vs-load")["run_ids"][0].as_str().unwrap();
    let config = a.join("configs").join(format!("{id}.toml"));
    let out = ok(&["simulate", "-s", config.to_str().unwrap(), "-o", tmp.path().join("runs").to_str().unwrap()]);
    assert!(out.contains(id), "{out}");
    assert!(!tmp.path().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".tmp")));
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        vec!["--help"],
        vec!["simulate", "--help"],
        vec!["scenarios", "--help"],
        vec!["trace", "gen", "--help"],
        vec!["trace", "import", "--help"],
        vec!["trace", "inspect", "--help"],
        vec!["plan", "--help"],
        vec!["gate", "--help"],
        vec!["audit", "--help"],
        vec!["lineage", "--help"],
        vec!["check", "--help"],
        vec!["course", "--help"],
        vec!["notebooks", "--help"],
        vec!["sweep", "--help"],
        vec!["merge", "--help"],
        vec!["models", "build", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Examples:"), "{args:?}: {out}");
    }
    let list = ok(&["scenarios"]);
    for name in ["mmc", "mm1", "md1", "bursty", "overload"] {
        assert!(list.lines().any(|l| l.starts_with(name)), "{list}");
    }
    let toml = ok(&["scenarios", "--show", "mmc"]);
    assert!(toml.contains("rate = 360.0"));
}

#[test]
fn plan_names_a_winner_and_rejects_a_bad_objective() {
    let out = ok(&["plan", "-s", "hardware", "--slo", "p99<=40ms", "--max-count", "3", "-n", "20000"]);
    assert!(out.contains("winner: 2x a100"), "{out}");
    assert!(out.contains("pruned: peak throughput"), "{out}");
    bad_input(&["plan", "-s", "hardware", "--slo", "p99 below 40"], &["--slo", "p99<=50ms"]);
    bad_input(&["plan", "-s", "hardware", "--slo", "p99<=40ms", "--max-drop", "2"], &["--max-drop"]);
    // Minimizing energy visits every mix that is not pruned and picks the least energy that meets.
    let energy_plan = |scenario: &str, slo: &str| {
        ok(&["plan", "-s", scenario, "--slo", slo, "--max-count", "3", "-n", "20000", "--minimize", "energy"])
    };
    let e = energy_plan("hardware", "p99<=40ms");
    assert!(e.contains("the least energy among the mixes that meet the objective") && e.contains(" kWh"), "{e}");
    let kwh = |line: &str| -> f64 { line.rsplit(", ").next().unwrap().trim_end_matches(" kWh").parse().unwrap() };
    let meets: Vec<&str> = e.lines().filter(|l| l.contains("MEETS")).collect();
    let best = meets.iter().map(|l| kwh(l)).fold(f64::INFINITY, f64::min);
    let winner = meets.iter().find(|l| l.starts_with('*')).expect("a winner row");
    assert_eq!(kwh(winner), best, "{e}");
    // An autoscaled pool: every max (1..=3) and target (5) simulated, minimizing energy.
    let out = energy_plan("autoscaling", "p99<=1s");
    assert!(out.contains("autoscaled pool `l4` (utilization policy)") && out.contains("minimizing energy"), "{out}");
    let rows = out.lines().filter(|l| l.contains("MEETS") || l.contains(" fails")).count();
    assert_eq!(rows, 15, "{out}");
}

/// Two runs of `mm1` that differ by seed, and a rules file for them.
fn two_runs(tmp: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    ok(&["simulate", "-s", "mm1", "-n", "5000", "--seed", "1", "-o", a.to_str().unwrap()]);
    ok(&["simulate", "-s", "mm1", "-n", "5000", "--seed", "2", "-o", b.to_str().unwrap()]);
    (runs(&a).remove(0), runs(&b).remove(0))
}

fn gate_code(tmp: &Path, base: &Path, cand: &Path, rules: &str) -> (Option<i32>, String, serde_json::Value) {
    let file = tmp.join("rules.toml");
    std::fs::write(&file, format!("name = \"t\"\n{rules}")).unwrap();
    let out = tmp.join("gates");
    let o = servesim(&[
        "gate",
        "--baseline",
        base.to_str().unwrap(),
        "--candidate",
        cand.to_str().unwrap(),
        "--rules",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let dir = text.lines().next().and_then(|l| l.split("->").nth(1)).map(|p| PathBuf::from(p.trim())).unwrap();
    let decision = serde_json::from_slice(&std::fs::read(dir.join("decision.json")).unwrap()).unwrap();
    (o.status.code(), text, decision)
}

#[test]
fn gate_reaches_every_verdict_with_its_exit_code_and_logs_the_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, cand) = two_runs(tmp.path());
    let rule = |metric: &str, kind: &str, limit: f64, action: &str| {
        format!(
            "[[rule]]\nmetric = \"{metric}\"\nkind = \"{kind}\"\nlimit = {limit}\naction = \"{action}\"\nowner = \"team\"\n"
        )
    };
    let pass = rule("requests.completed", "min", 5000.0, "rollback");
    let cases = [
        (pass.clone(), 0, "accept"),
        (format!("{pass}{}", rule("latency_ms.mean", "max", 0.001, "warn")), 3, "warn"),
        (
            format!(
                "{}{}",
                rule("latency_ms.mean", "max", 0.001, "warn"),
                rule("latency_ms.p99", "max", 0.001, "block")
            ),
            4,
            "block",
        ),
        (
            format!("{}{}", rule("latency_ms.p99", "max", 0.001, "block"), rule("drop_rate", "min", 0.5, "rollback")),
            5,
            "rollback",
        ),
        (rule("no.such.metric", "max", 1.0, "block"), 4, "block"),
    ];
    for (rules, code, verdict) in cases {
        let (got, text, d) = gate_code(tmp.path(), &base, &cand, &rules);
        assert_eq!(got, Some(code), "{rules}\n{text}");
        assert_eq!(d["verdict"], verdict);
        assert_eq!(d["exit_code"], code);
        assert!(
            d["evidence"].as_array().unwrap().iter().all(|e| e.get("outcome").is_some() && e.get("owner").is_some())
        );
        assert!(d["baseline"]["run_id"].as_str().unwrap().starts_with("run-"));
    }
    // Relative rules compare with the baseline's value.
    let (_, _, d) =
        gate_code(tmp.path(), &base, &cand, &rule("latency_ms.mean", "max_relative_increase", 10.0, "block"));
    let e = &d["evidence"][0];
    let expect = e["baseline"].as_f64().unwrap() * 11.0;
    assert!((e["bound"].as_f64().unwrap() - expect).abs() < 1e-9);
}

#[test]
fn a_changed_byte_is_detected_and_blocks_promotion() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, cand) = two_runs(tmp.path());
    let o = servesim(&["audit", cand.parent().unwrap().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    // Flip one byte of the summary.
    let summary = cand.join("summary.json");
    let mut bytes = std::fs::read(&summary).unwrap();
    let i = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
    bytes[i] = if bytes[i] == b'9' { b'8' } else { bytes[i] + 1 };
    std::fs::write(&summary, bytes).unwrap();
    std::fs::write(cand.join("notes.txt"), "hello").unwrap();
    let o = servesim(&["audit", cand.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("tampered") && out.contains("summary.json"), "{out}");
    assert!(out.contains("orphaned") && out.contains("notes.txt"), "{out}");
    // A gate whose every rule passes still refuses an unauditable candidate.
    let rules = "[[rule]]\nmetric = \"requests.arrived\"\nkind = \"min\"\nlimit = 0.0\naction = \"warn\"\n";
    let (code, text, d) = gate_code(tmp.path(), &base, &cand, rules);
    assert_eq!(code, Some(4), "{text}");
    assert!(text.contains("audit.candidate"), "{text}");
    assert_eq!(d["audits"][1]["findings"].as_array().unwrap().len(), 2);
}

#[test]
fn a_missing_version_or_file_makes_a_run_unauditable() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, cand) = two_runs(tmp.path());
    let m = cand.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    v["code"].as_object_mut().unwrap().remove("servesim");
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    std::fs::remove_file(cand.join("config.resolved.toml")).unwrap();
    let o = servesim(&["audit", cand.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let signals: Vec<(&str, &str)> = a[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["signal"].as_str().unwrap(), f["subject"].as_str().unwrap()))
        .collect();
    assert!(signals.contains(&("unauditable", "code.servesim")), "{signals:?}");
    assert!(signals.contains(&("missing", "config.resolved.toml")), "{signals:?}");
}

#[test]
fn lineage_walks_from_a_decision_to_its_runs_and_their_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, cand) = two_runs(tmp.path());
    let rules = "[[rule]]\nmetric = \"requests.arrived\"\nkind = \"min\"\nlimit = 0.0\naction = \"warn\"\n";
    let (_, text, d) = gate_code(tmp.path(), &base, &cand, rules);
    let dir = text.lines().next().unwrap().split("->").nth(1).unwrap().trim().to_string();
    let out = ok(&["lineage", &dir]);
    assert!(out.contains(d["gate_id"].as_str().unwrap()), "{out}");
    for run in [&base, &cand] {
        let m = manifest(run);
        assert!(out.contains(m["run_id"].as_str().unwrap()), "{out}");
        assert!(out.contains(m["trace"]["id"].as_str().unwrap()), "{out}");
        assert!(out.contains(m["config_hash"].as_str().unwrap()), "{out}");
    }
    bad_input(&["lineage", "/no/such/thing"], &["/no/such/thing"]);
    bad_input(
        &["gate", "--baseline", "/nope", "--candidate", "/nope", "--rules", "builtin:int8-vs-fp32"],
        &["--baseline", "not a run directory"],
    );
}

#[test]
fn check_raises_each_failure_signal_with_evidence_and_a_response() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let p = |name: &str| data.join(name).to_str().unwrap().to_string();
    ok(&["trace", "gen", "-s", "mm1", "-n", "3000", "-o", &p("steady.parquet")]);
    ok(&["trace", "gen", "-s", "bursty", "-n", "3000", "-o", &p("bursty.csv")]);
    let reference = tmp.path().join("ref.parquet");
    ok(&["trace", "gen", "-s", "mm1", "-n", "3000", "--seed", "9", "-o", reference.to_str().unwrap()]);
    std::fs::write(p("bad.csv"), "id,arrival_s,input_size\n1,0.5,1\n2,0.1,1\n").unwrap();
    std::fs::write(
        p("bad.toml"),
        "name = \"x\"\n[[devices]]\nname = \"d\"\nservers = 0\nservice = { kind = \"deterministic\", ms = 1.0 }\n",
    )
    .unwrap();
    ok(&["simulate", "-s", "mm1", "-n", "2000", "-o", &p("runs")]);
    let clean = ok(&["check", &p("runs")]);
    assert!(clean.contains("0 signal(s)"), "{clean}");
    let run = runs(&data.join("runs")).remove(0);
    std::fs::write(run.join("stray.txt"), "x").unwrap();
    let o = servesim(&[
        "check",
        data.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
        "--max-p99-ms",
        "20",
        "--max-age-days",
        "0",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(4));
    let signals: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let has = |signal: &str, subject: &str| {
        signals.as_array().unwrap().iter().any(|s| {
            s["signal"] == signal
                && s["subject"].as_str().unwrap().ends_with(subject)
                && !s["response"].as_str().unwrap().is_empty()
        })
    };
    assert!(has("stale", "steady.parquet"), "{signals:#}");
    assert!(has("malformed", "bad.csv") && has("malformed", "bad.toml"), "{signals:#}");
    assert!(has("inconsistent", "bursty.csv"), "{signals:#}");
    assert!(!has("inconsistent", "steady.parquet"), "same law as the reference: {signals:#}");
    let run_name = run.file_name().unwrap().to_str().unwrap();
    assert!(has("unauditable", run_name) && has("too costly", run_name), "{signals:#}");
}

#[test]
fn kill_9_during_simulate_leaves_no_run_directory_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    // A writer killed while writing leaves its temporary directory behind; fake one from a pid
    // that cannot exist.
    std::fs::create_dir_all(out.join(".tmp-run-0123456789abcdef-4194305")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["simulate", "-s", "mmc", "-n", "200000000", "-o", out.to_str().unwrap()])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        runs(&out).iter().all(|p| !p.file_name().unwrap().to_str().unwrap().starts_with("run-")),
        "{:?}",
        runs(&out)
    );
    ok(&["simulate", "-s", "mm1", "-n", "1000", "-o", out.to_str().unwrap()]);
    let names: Vec<String> = runs(&out).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 1, "the abandoned temporary directory is removed: {names:?}");
    assert!(names[0].starts_with("run-"));
}

#[test]
fn a_million_row_trace_imports_and_simulates() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.parquet");
    let gen_out = ok(&["trace", "gen", "-s", "mmc", "-n", "1000000", "-o", file.to_str().unwrap()]);
    let out = tmp.path().join("runs");
    let text = ok(&["simulate", "-s", "mmc", "--trace", file.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(text.contains("1000000 arrived, 1000000 completed"), "{text}");
    let m = manifest(&runs(&out)[0]);
    assert!(gen_out.contains(m["trace"]["id"].as_str().unwrap()), "{gen_out}");
}

/// README.md shows S1's printout (`simulate --scenario mmc`, seed 1): it is what the binary prints
/// now, line for line (the run directory's parent and the machine's peak memory aside).
#[test]
fn readme_s1_printout_is_what_simulate_prints() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, after) = readme.split_once("`cargo run -- simulate --scenario mmc`, seed 1), prints:\n\n```\n").unwrap();
    let (shown, _) = after.split_once("```").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&["simulate", "--scenario", "mmc", "-o", tmp.path().to_str().unwrap()]);
    let printed: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("peak memory"))
        .map(|l| l.replace(&format!("{}/", tmp.path().display()), "runs/"))
        .collect();
    assert_eq!(shown.lines().collect::<Vec<_>>(), printed, "README.md's S1 printout is stale");
}

#[test]
fn a_trace_is_cut_only_by_an_explicit_requests_and_says_so() {
    // mm1's scenario asks for 200,000 requests of its own workload; a trace of 300 replaces
    // that workload and is simulated whole. --requests 120 cuts it, and stderr says so.
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("t.csv");
    ok(&["trace", "gen", "-s", "mm1", "-n", "300", "-o", trace.to_str().unwrap()]);
    let arrived = |dir: &Path| {
        let run = &runs(dir)[0];
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
        s["requests"]["arrived"].as_u64().unwrap()
    };
    let whole = tmp.path().join("whole");
    ok(&["simulate", "-s", "mm1", "--trace", trace.to_str().unwrap(), "-o", whole.to_str().unwrap()]);
    assert_eq!(arrived(&whole), 300);
    let cut = tmp.path().join("cut");
    let o = servesim(&[
        "simulate",
        "-s",
        "mm1",
        "--trace",
        trace.to_str().unwrap(),
        "-n",
        "120",
        "-o",
        cut.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(arrived(&cut), 120);
    assert!(String::from_utf8_lossy(&o.stderr).contains("the first 120 of the 300 requests"), "{o:?}");
}

#[test]
fn readme_autoscaling_row_quotes_the_scenarios_cold_start() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let row = readme.lines().find(|l| l.starts_with("| `autoscaling` |")).expect("the README lists autoscaling");
    let quoted: f64 = row.split("-s cold starts").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    let c = sim::builtin::builtin("autoscaling").unwrap().unwrap();
    let a = c.devices[0].autoscale.as_ref().unwrap();
    let kind = sim::catalog::builtin_kinds()[c.devices[0].kind.as_deref().unwrap()].load_gb_s;
    assert_eq!(quoted, a.cold_start_s(0.0, kind), "README's autoscaling row: {row}");
}
