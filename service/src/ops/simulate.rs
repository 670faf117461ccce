//! Simulate a scenario — on its generated workload or a trace — and write its run directory.

use crate::error::input;
use crate::ops::profile::{ProfileRef, apply_profile};
use crate::ops::progress::{Progress, Reporter};
use crate::ops::records;
use crate::rundir::{FileRef, RunDir, RunManifest, TraceRef, code_version};
use crate::scenario::ScenarioSource;
use anyhow::{Context, Result};
use artifact::IdKind;
use serde::Serialize;
use sim::{Outcome, RunOptions, ScenarioConfig};
use std::path::PathBuf;
use traces::formats::SourceFormat;
use traces::id::TraceHasher;
use traces::{Request, SimTime};

/// A trace that replaces the scenario's workload.
#[derive(Clone, Debug)]
pub struct TraceInput {
    /// CSV, Parquet or JSONL; servesim, Azure or Mooncake schema.
    pub path: PathBuf,
    /// The schema, if detection should not decide.
    pub format: Option<SourceFormat>,
    /// Arrival times divided by this (the trace id is that of the compressed requests).
    pub speed: Option<f64>,
}

/// A calibration profile for the devices whose variant it measured.
#[derive(Clone, Debug)]
pub struct ProfileInput {
    /// The profile file (`servesim calibrate`).
    pub profile: PathBuf,
    /// The models directory it must have been measured on.
    pub models: PathBuf,
}

/// What to simulate, and where to write it.
#[derive(Clone, Debug)]
pub struct SimulateRequest {
    /// The scenario.
    pub scenario: ScenarioSource,
    /// Drive the run with a trace instead of the scenario's workload.
    pub trace: Option<TraceInput>,
    /// Run seed (overrides the scenario's).
    pub seed: Option<u64>,
    /// Number of requests (overrides the scenario's; cuts a trace to its first N).
    pub requests: Option<u64>,
    /// Give measured devices the profile's service model.
    pub profile: Option<ProfileInput>,
    /// Keep one record per request (written as `requests.parquet`).
    pub records: bool,
    /// Parent directory of the run directory; `None` writes nothing.
    pub out: Option<PathBuf>,
    /// How the manifest names the trace, when not by its path.
    pub trace_source: Option<String>,
    /// How the manifest names the scenario, when not by its source.
    pub scenario_source: Option<String>,
    /// Where progress goes: a bar on stderr (drawn for runs of two million requests or more) or a
    /// callback (every 65 536 requests), counting requests.
    pub progress: Progress,
}

impl SimulateRequest {
    /// A request for `scenario` as it is: its workload, seed and request count, nothing written.
    pub fn new(scenario: ScenarioSource) -> SimulateRequest {
        SimulateRequest {
            scenario,
            trace: None,
            seed: None,
            requests: None,
            profile: None,
            records: false,
            out: None,
            trace_source: None,
            scenario_source: None,
            progress: Progress::Hidden,
        }
    }
}

/// A finished simulation.
pub struct Simulated {
    /// The run id (a content hash: the same for equal config, trace, seed and code).
    pub run_id: String,
    /// The run directory, if one was written.
    pub dir: Option<PathBuf>,
    /// The config as run (`config.resolved.toml` is its `to_toml()`).
    pub config: ScenarioConfig,
    /// `scenario_source` of the manifest.
    pub scenario_source: String,
    /// The requests that drove it.
    pub trace: TraceRef,
    /// The summary (and records, if asked for).
    pub outcome: Outcome,
    /// The profile applied, if any.
    pub profile: Option<ProfileRef>,
    /// What the caller should be told (e.g. that a trace was cut).
    pub notes: Vec<String>,
}

impl Simulated {
    /// `summary.json`, as written.
    pub fn summary_json(&self) -> Result<String> {
        summary_json(&self.outcome)
    }
}

/// The summary of `outcome` as `summary.json` holds it.
pub fn summary_json(outcome: &Outcome) -> Result<String> {
    Ok(match outcome {
        Outcome::Classic(r) => serde_json::to_string_pretty(&r.summary)?,
        Outcome::Llm(s, _) => serde_json::to_string_pretty(s)?,
    } + "\n")
}

/// What a simulation's manifest adds to every run's.
#[derive(Debug, Serialize)]
struct SimulateManifest<'a> {
    /// The calibration profile its service times came from (`--profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a ProfileRef>,
}

/// Counts, hashes and shows progress over the requests as the engine pulls them.
struct Tap<I> {
    inner: I,
    hasher: TraceHasher,
    progress: Reporter,
}

impl<I: Iterator<Item = Request>> Iterator for Tap<I> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        let r = self.inner.next()?;
        self.hasher.push(&r);
        if self.hasher.count().is_multiple_of(65_536) {
            self.progress.set(self.hasher.count());
        }
        Some(r)
    }
}

fn reporter(total: u64, progress: &Progress) -> Reporter {
    // Short runs finish before a bar would be worth drawing.
    let template = "{spinner} simulating {pos}/{len} requests [{elapsed_precise}, eta {eta}] {wide_bar}";
    Reporter::new(progress, total, template, total >= 2_000_000)
}

/// The id of a run of the resolved config `resolved` over trace `trace_id` with `seed`: equal
/// inputs and code give equal ids, whichever command ran them.
pub fn run_id(resolved: &str, trace_id: &str, seed: u64) -> String {
    let config_hash = IdKind::Sha256.of(resolved);
    let servesim = code_version().servesim;
    let key = format!("servesim-run-v1\0simulate\0{config_hash}\0{trace_id}\0{seed}\0{servesim}");
    IdKind::Run.of(key).into()
}

/// Simulates `requests` (n of them, for the progress bar), hashing them on the way.
fn drive(
    config: &ScenarioConfig,
    requests: impl Iterator<Item = Request>,
    classes: &[String],
    n: u64,
    opts: RunOptions,
    source: String,
    progress: &Progress,
) -> Result<(Outcome, TraceRef)> {
    let mut tap = Tap { inner: requests, hasher: TraceHasher::new(classes), progress: reporter(n, progress) };
    let result = sim::run_scenario(config, &mut tap, opts)?;
    tap.progress.finish();
    let requests = tap.hasher.count();
    Ok((result, TraceRef { id: tap.hasher.finish(), source, requests }))
}

/// One point of a grid (a sweep's, the course's): `config` on its generated workload with its own
/// seed and `requests` requests, nothing written.
pub struct Point {
    /// Its run id: the one [`simulate`] gives the same config and seed.
    pub run_id: String,
    /// `config.resolved.toml`.
    pub resolved: String,
    /// What it produced.
    pub outcome: Outcome,
}

/// Runs `config` (which must have a workload) on `requests` generated requests.
pub fn point(config: &ScenarioConfig, requests: u64) -> Result<Point> {
    let mut config = config.clone();
    config.requests = Some(requests);
    let w = config.workload.clone().ok_or_else(|| input(format!("scenario `{}` has no [workload]", config.name)))?;
    let opts = RunOptions { seed: config.seed, record: false, trace_driven: false };
    let g = w.generator(config.seed, requests)?;
    let classes = traces::Trace::default_classes();
    let (outcome, trace) = drive(&config, g, &classes, requests, opts, "generated".to_string(), &Progress::Hidden)?;
    let resolved = config.to_toml();
    Ok(Point { run_id: run_id(&resolved, &trace.id, config.seed), resolved, outcome })
}

/// Runs `config` on `requests` (sorted by arrival; their classes numbered as the scenario's
/// `[[classes]]`), as a trace-driven run with records: the run id is the one `simulate` gives the
/// same config, requests and seed.
pub fn point_on(config: &ScenarioConfig, requests: Vec<Request>, classes: &[String]) -> Result<Point> {
    let mut config = config.clone();
    config.workload = None;
    config.requests = None;
    let n = requests.len() as u64;
    let opts = RunOptions { seed: config.seed, record: true, trace_driven: true };
    let (outcome, trace) =
        drive(&config, requests.into_iter(), classes, n, opts, "generated".to_string(), &Progress::Hidden)?;
    let resolved = config.to_toml();
    Ok(Point { run_id: run_id(&resolved, &trace.id, config.seed), resolved, outcome })
}

/// Renumbers a trace's classes as the scenario's `[[classes]]` by name (a scenario without
/// classes ignores them). A class the scenario does not list is an input error naming both.
pub(crate) fn remap_classes(config: &ScenarioConfig, trace: &mut traces::Trace, path: &std::path::Path) -> Result<()> {
    if config.classes.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = config.classes.iter().map(|c| c.name.as_str()).collect();
    let map: Vec<Option<u16>> =
        trace.classes.iter().map(|name| names.iter().position(|n| n == name).map(|i| i as u16)).collect();
    for r in &mut trace.requests {
        let k = usize::from(r.class.0);
        let Some(to) = map.get(k).copied().flatten() else {
            let name = trace.classes.get(k).map_or("?", String::as_str);
            return Err(input(format!(
                "{}: request {} is of class `{name}`, which is not among the scenario's [[classes]] ({})",
                path.display(),
                r.id,
                names.join(", ")
            )));
        };
        r.class = traces::ClassId(to);
    }
    Ok(())
}

/// Simulates `req` and, with `req.out`, writes `OUT/<run-id>/` (manifest.json,
/// config.resolved.toml, summary.json and, with records, requests.parquet) whole or not at all.
pub fn simulate(req: &SimulateRequest) -> Result<Simulated> {
    let mut loaded = req.scenario.load()?;
    if let Some(label) = &req.scenario_source {
        loaded.source = label.clone();
    }
    let mut config = loaded.config;
    if let Some(seed) = req.seed {
        config.seed = seed;
    }
    if let Some(n) = req.requests {
        if n == 0 {
            return Err(input("--requests: must be at least 1"));
        }
        config.requests = Some(n);
    }
    let profile = match &req.profile {
        Some(p) => Some(apply_profile(&mut config, &p.profile, &p.models)?),
        None => None,
    };
    let seed = config.seed;
    let speed = req.trace.as_ref().and_then(|t| t.speed);
    if let Some(speed) = speed
        && !(speed.is_finite() && speed > 0.0)
    {
        return Err(input(format!("--speed: must be a positive number, got {speed}")));
    }
    let mut notes = Vec::new();
    let (outcome, trace_ref) = if let Some(t) = &req.trace {
        let mut trace = traces::formats::read_any(&t.path, t.format)?;
        if let Some(speed) = speed {
            for r in &mut trace.requests {
                r.arrival = SimTime::round_ns(r.arrival.as_nanos() as f64 / speed);
            }
        }
        // A trace is cut only by an explicit request count (the scenario's `requests` sizes its
        // generated workload, which the trace replaces), and says so.
        config.requests = req.requests;
        if let Some(n) = req.requests {
            let total = trace.requests.len();
            trace.requests.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            if trace.requests.len() < total {
                notes.push(format!(
                    "simulating the first {} of the {total} requests of {} (--requests)",
                    trace.requests.len(),
                    t.path.display()
                ));
            }
        }
        // The trace replaces the workload: the resolved config says so.
        config.workload = None;
        remap_classes(&config, &mut trace, &t.path)?;
        let n = trace.requests.len() as u64;
        let opts = RunOptions { seed, record: req.records, trace_driven: true };
        let source = req.trace_source.clone().unwrap_or_else(|| t.path.display().to_string());
        drive(&config, trace.requests.into_iter(), &trace.classes, n, opts, source, &req.progress)?
    } else {
        let workload = config.workload.clone().ok_or_else(|| {
            input(format!("{}: the scenario has no [workload]; give a trace with --trace", loaded.source))
        })?;
        let n = *config.requests.get_or_insert(sim::DEFAULT_REQUESTS);
        let generator = workload.generator(seed, n)?;
        let opts = RunOptions { seed, record: req.records, trace_driven: false };
        let classes = traces::Trace::default_classes();
        drive(&config, generator, &classes, n, opts, "generated".to_string(), &req.progress)?
    };

    let resolved = config.to_toml();
    let run_id = run_id(&resolved, &trace_ref.id, seed);
    let mut done = Simulated {
        run_id,
        dir: None,
        config,
        scenario_source: loaded.source,
        trace: trace_ref,
        outcome,
        profile,
        notes,
    };
    if let Some(out) = &req.out {
        done.dir = Some(write_run(out, &done, &resolved)?);
    }
    Ok(done)
}

/// Writes the run directory of `run` under `out`.
fn write_run(out: &std::path::Path, run: &Simulated, resolved: &str) -> Result<PathBuf> {
    let mut dir = RunDir::create(out, &run.run_id)?;
    dir.write("config.resolved.toml", resolved.as_bytes())?;
    dir.write("summary.json", run.summary_json()?.as_bytes())?;
    match &run.outcome {
        Outcome::Classic(sim::RunResult { records: Some(records), summary, .. }) => {
            records::simulated(records, summary)
                .write(&dir.path("requests.parquet"))
                .context("writing requests.parquet")?;
            dir.register("requests.parquet")?;
        }
        Outcome::Llm(s, Some(records)) => {
            records::llm(records, s).write(&dir.path("requests.parquet")).context("writing requests.parquet")?;
            dir.register("requests.parquet")?;
        }
        _ => {}
    }
    if let Outcome::Classic(r) = &run.outcome
        && !r.timeline.is_empty()
    {
        records::timeline(&r.timeline, &r.summary).write(&dir.path("timeline.csv")).context("writing timeline.csv")?;
        dir.register("timeline.csv")?;
        if r.records.is_some() {
            records::scaling(&r.scaling, &r.summary).write(&dir.path("scaling.csv")).context("writing scaling.csv")?;
            dir.register("scaling.csv")?;
        }
    }
    let files: Vec<(String, String)> = dir.files().to_vec();
    let manifest = RunManifest {
        schema: "servesim.run/1",
        run_id: &run.run_id,
        kind: "simulate",
        scenario: &run.config.name,
        scenario_source: &run.scenario_source,
        config_hash: IdKind::Sha256.of(resolved.as_bytes()).to_string(),
        trace: run.trace.clone(),
        seed: run.config.seed,
        extra: SimulateManifest { profile: run.profile.as_ref() },
        code: code_version(),
        files: FileRef::list(&files),
    };
    dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
    dir.commit()
}
