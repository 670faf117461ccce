//! Replays on real models (ONNX Runtime) through the simulator's policies, written as run
//! directories of kind `replay`.

use crate::error::input;
use crate::ops::records;
use crate::rundir::{FileRef, RunDir, RunManifest, TraceRef, code_version};
use crate::scenario::ScenarioSource;
use anyhow::{Context, Result};
use artifact::IdKind;
use replay::harness::{Plan, ReplayOptions, ReplayResult, replay as run_replay};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use traces::Request;
use traces::formats::SourceFormat;
use traces::id::TraceHasher;

/// What `replay` and `validate` both take: the scenario, the requests, the models and how the
/// harness runs them.
#[derive(Clone, Debug)]
pub struct ReplayInput {
    /// The scenario.
    pub scenario: ScenarioSource,
    /// Trace to replay; the scenario's workload if `None`.
    pub trace: Option<PathBuf>,
    /// Schema of the trace, if detection should not decide.
    pub trace_format: Option<SourceFormat>,
    /// Models directory (written by `servesim models build`).
    pub models: PathBuf,
    /// Trace time is divided by this.
    pub speed: f64,
    /// ONNX Runtime intra-op threads per session.
    pub threads: usize,
    /// Warm-up runs of each batch size per session before the clock starts.
    pub warmup: usize,
    /// Number of requests (cuts a trace; size of a generated workload, default 1000).
    pub requests: Option<u64>,
    /// Run seed (overrides the scenario's).
    pub seed: Option<u64>,
    /// Busy-wait between threads (the default of `replay`) instead of blocking.
    pub poll: bool,
}

/// A replay and where to write it.
#[derive(Clone, Debug)]
pub struct ReplayRequest {
    /// What to replay.
    pub input: ReplayInput,
    /// Parent directory of the run directory.
    pub out: PathBuf,
    /// Set to stop releasing requests (the run is written marked partial).
    pub stop: Option<Arc<AtomicBool>>,
}

/// A replay to run and write: everything its run id and manifest depend on.
pub struct ReplayRun<'a> {
    /// The scenario as replayed (its workload replaced by the requests).
    pub config: &'a sim::ScenarioConfig,
    /// How the manifest names the scenario.
    pub scenario_source: &'a str,
    /// Models directory.
    pub models: &'a Path,
    /// The requests, sorted by arrival.
    pub requests: &'a [Request],
    /// The manifest's trace.
    pub trace: TraceRef,
    /// How the harness runs.
    pub opts: &'a ReplayOptions,
    /// Parent directory of the run directory.
    pub out: &'a Path,
    /// Which of several replays of the same inputs (0 for a single one).
    pub repetition: u32,
}

/// A model a replay ran, as its manifest names it (read back by `validate`).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ModelRef {
    /// The variant (model name).
    pub variant: String,
    /// Its model id.
    pub id: String,
    /// The `.onnx` file.
    pub file: String,
}

#[derive(Debug, Serialize)]
struct ReplaySettings {
    speed: f64,
    threads: usize,
    warmup: usize,
    poll: bool,
    /// Which of several replays of the same inputs (validate --replays); 0 for a single one.
    repetition: u32,
    machine: replay::profile::Machine,
    onnxruntime_library: String,
}

/// What a replay's manifest adds to every run's.
#[derive(Debug, Serialize)]
struct ReplayManifest {
    models: Vec<ModelRef>,
    replay: ReplaySettings,
    partial: bool,
}

/// The requests a replay or validation uses, and the trace reference the manifest names.
pub fn load_requests(
    config: &mut sim::ScenarioConfig,
    input_: &ReplayInput,
    scenario_source: &str,
) -> Result<(traces::Trace, TraceRef)> {
    let (trace, format, requests) = (input_.trace.as_ref(), input_.trace_format, input_.requests);
    if requests == Some(0) {
        return Err(input("--requests: must be at least 1"));
    }
    let (reqs, classes, source) = if let Some(path) = trace {
        let mut t = traces::formats::read_any(path, format)?;
        if let Some(n) = requests.or(config.requests) {
            t.requests.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        config.workload = None;
        super::simulate::remap_classes(config, &mut t, path)?;
        (t.requests, t.classes, path.display().to_string())
    } else {
        let w = config.workload.clone().ok_or_else(|| {
            input(format!("{scenario_source}: the scenario has no [workload]; give a trace with --trace"))
        })?;
        let n = requests.or(config.requests).unwrap_or(1000);
        config.requests = Some(n);
        let mut reqs: Vec<Request> = w.generator(config.seed, n)?.collect();
        // The classes the simulator would draw for this workload, in the same order.
        if let Some(mut draw) = sim::engine::ClassDraw::new(config, config.seed) {
            for r in &mut reqs {
                r.class = traces::ClassId(draw.draw());
            }
        }
        (reqs, traces::Trace::default_classes(), "generated".to_string())
    };
    let mut h = TraceHasher::new(&classes);
    for r in &reqs {
        h.push(r);
    }
    let n = h.count();
    Ok((traces::Trace { requests: reqs, classes }, TraceRef { id: h.finish(), source, requests: n }))
}

/// Replay run id: like simulate's, with the kind, models and replay settings in the key.
fn run_id(
    resolved: &str,
    trace_id: &str,
    seed: u64,
    models: &[ModelRef],
    speed: f64,
    threads: usize,
    repetition: u32,
) -> String {
    let config_hash = IdKind::Sha256.of(resolved);
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    let mut key = format!(
        "servesim-run-v1\0replay\0{config_hash}\0{trace_id}\0{seed}\0{}\0{}\0{speed}\0{threads}",
        code_version().servesim,
        ids.join(",")
    );
    if repetition > 0 {
        key += &format!("\0repetition {repetition}");
    }
    IdKind::Run.of(key).into()
}

/// Replays `req` and writes `OUT/<run-id>/`; `status` hears what is being replayed.
pub fn replay(req: &ReplayRequest, status: &mut dyn FnMut(&str)) -> Result<(PathBuf, ReplayResult)> {
    let loaded = req.input.scenario.load()?;
    let mut config = loaded.config;
    if let Some(seed) = req.input.seed {
        config.seed = seed;
    }
    let (trace, trace_ref) = load_requests(&mut config, &req.input, &loaded.source)?;
    let opts = ReplayOptions {
        speed: req.input.speed,
        threads: req.input.threads,
        warmup: req.input.warmup,
        stop: req.stop.clone(),
        poll: req.input.poll,
    };
    let run = ReplayRun {
        config: &config,
        scenario_source: &loaded.source,
        models: &req.input.models,
        requests: &trace.requests,
        trace: trace_ref,
        opts: &opts,
        out: &req.out,
        repetition: 0,
    };
    write_run(run, status)
}

/// Replays `run` and writes its run directory; `status` hears what is being replayed.
pub fn write_run(run: ReplayRun<'_>, status: &mut dyn FnMut(&str)) -> Result<(PathBuf, ReplayResult)> {
    let ReplayRun { config, scenario_source, models, requests, trace: trace_ref, opts, out, repetition } = run;
    let plan = Plan::new(config, models)?;
    let model_refs: Vec<ModelRef> = plan
        .models
        .iter()
        .map(|m| ModelRef { variant: m.name.clone(), id: m.id.clone(), file: m.path.display().to_string() })
        .collect();
    status(&format!(
        "replaying {} requests of {} at speed {} on {} device(s) ({})",
        requests.len(),
        trace_ref.source,
        opts.speed,
        plan.devices.len(),
        model_refs.iter().map(|m| m.variant.as_str()).collect::<Vec<_>>().join(", ")
    ));
    let result = run_replay(&plan, requests, opts)?;
    let resolved = config.to_toml();
    let config_hash = IdKind::Sha256.of(resolved.as_bytes()).to_string();
    let run_id = run_id(&resolved, &trace_ref.id, config.seed, &model_refs, opts.speed, opts.threads, repetition);
    let mut dir = RunDir::create(out, &run_id)?;
    dir.write("config.resolved.toml", resolved.as_bytes())?;
    dir.write("summary.json", (serde_json::to_string_pretty(&result.summary)? + "\n").as_bytes())?;
    records::replayed(&result.records, &plan)
        .write(&dir.path("requests.parquet"))
        .context("writing requests.parquet")?;
    dir.register("requests.parquet")?;
    let files: Vec<(String, String)> = dir.files().to_vec();
    let manifest = RunManifest {
        schema: "servesim.run/1",
        run_id: &run_id,
        kind: "replay",
        scenario: &config.name,
        scenario_source,
        config_hash,
        trace: trace_ref,
        seed: config.seed,
        extra: ReplayManifest {
            models: model_refs,
            replay: ReplaySettings {
                speed: opts.speed,
                threads: opts.threads,
                warmup: opts.warmup,
                poll: opts.poll,
                repetition,
                machine: replay::profile::Machine::current(),
                onnxruntime_library: replay::runtime::library_path()?.display().to_string(),
            },
            partial: result.summary.partial,
        },
        code: code_version(),
        files: FileRef::list(&files),
    };
    dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
    Ok((dir.commit()?, result))
}
