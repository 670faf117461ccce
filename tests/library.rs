//! The `servesim` library writes what the binary writes: the same run directories, ids and
//! tables, from typed requests.

mod common;
use common::ok;
use servesim::ops::simulate::{SimulateRequest, point, simulate};
use servesim::ops::sweep::{SweepRequest, sweep};
use servesim::scenario::ScenarioSource;
use std::path::Path;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn library_simulate_writes_the_run_directory_the_cli_writes() {
    let t = tempfile::tempdir().unwrap();
    let (cli, lib) = (t.path().join("cli"), t.path().join("lib"));
    ok(&["simulate", "--scenario", "mmc", "-n", "3000", "--seed", "5", "--records", "--out", cli.to_str().unwrap()]);
    let req = SimulateRequest {
        requests: Some(3000),
        seed: Some(5),
        records: true,
        out: Some(lib.clone()),
        ..SimulateRequest::new(ScenarioSource::Arg("mmc".into()))
    };
    let done = simulate(&req).unwrap();
    let dir = done.dir.clone().unwrap();
    assert_eq!(dir, lib.join(&done.run_id));
    let cli_dir = cli.join(&done.run_id);
    assert!(cli_dir.is_dir(), "the CLI wrote another run id than the library's {}", done.run_id);
    let (a, b) = (files(&cli_dir), files(&dir));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        ["config.resolved.toml", "manifest.json", "requests.parquet", "summary.json"]
    );
    assert!(a == b, "library and CLI run directories differ");
    assert_eq!(done.summary_json().unwrap().as_bytes(), &std::fs::read(dir.join("summary.json")).unwrap()[..]);
}

#[test]
fn a_scenario_as_toml_text_or_as_a_value_runs_as_the_built_in_does() {
    let text = sim::builtin::builtin_text("mm1").unwrap().to_string();
    let builtin = ScenarioSource::Builtin("mm1".into());
    let config = builtin.load().unwrap().config;
    let run =
        |s: ScenarioSource| simulate(&SimulateRequest { requests: Some(2000), ..SimulateRequest::new(s) }).unwrap();
    let a = run(builtin);
    let b = run(ScenarioSource::Toml { text, label: "mine".into() });
    let c = run(ScenarioSource::Config { config: Box::new(config.clone()), label: "value".into() });
    assert_eq!((a.dir.as_ref(), b.scenario_source.as_str()), (None, "mine"), "nothing is written without `out`");
    assert_eq!(a.run_id, b.run_id);
    assert_eq!(a.run_id, c.run_id);
    // A grid point of the same config and request count is the same run.
    let mut cfg = config;
    cfg.requests = Some(2000);
    assert_eq!(point(&cfg, 2000).unwrap().run_id, a.run_id);
    assert!(matches!(
        simulate(&SimulateRequest::new(ScenarioSource::Builtin("no-such".into()))),
        Err(e) if servesim::error::exit_code(&e) == 2
    ));
}

#[test]
fn library_sweep_gives_the_cli_sweep_table() {
    let t = tempfile::tempdir().unwrap();
    let (cli, lib) = (t.path().join("cli"), t.path().join("lib"));
    let vary = "workload.arrivals.rate=100,200";
    ok(&["sweep", "-s", "mm1", "--vary", vary, "-n", "2000", "-j", "1", "-o", cli.to_str().unwrap()]);
    let req = SweepRequest {
        scenario: ScenarioSource::Builtin("mm1".into()),
        vary: servesim::ops::sweep::parse_vary(&[vary.to_string()]).unwrap(),
        requests: Some(2000),
        jobs: Some(2),
        shard: None,
        out: lib.clone(),
        progress: servesim::ops::progress::Progress::Hidden,
    };
    let done = sweep(&req).unwrap();
    assert_eq!((done.points.len(), done.ran_now), (2, 2));
    let read = |root: &Path| std::fs::read(root.join(&done.sweep_id).join("sweep.csv")).unwrap();
    assert!(read(&cli) == read(&lib), "library and CLI sweep tables differ");
    let rates: Vec<&str> = done.points.iter().map(|p| p.params[0].1.as_str()).collect();
    assert_eq!(rates, ["100", "200"]);
    assert!(done.points[0].metrics["latency_ms.mean"] < done.points[1].metrics["latency_ms.mean"]);
}
