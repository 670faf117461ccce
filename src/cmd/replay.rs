//! `servesim replay`: a trace in real time against ONNX Runtime sessions, through the simulator's
//! own policies.

use crate::cmd::simulate::TraceRef;
use crate::error::input;
use crate::rundir::{FileRef, RunDir, RunManifest, code_version};
use crate::scenario;
use anyhow::{Context, Result};
use artifact::IdKind;
use clap::Args;
use replay::harness::{Plan, ReplayOptions, ReplayRecord, ReplayResult, replay};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use traces::formats::{SourceFormat, Table, TableColumn};
use traces::id::TraceHasher;
use traces::{Request, SimTime};

/// What `replay` and `validate` both take: the scenario, the requests, the models and how the
/// harness runs them.
#[derive(Debug, Args)]
pub struct ReplayInput {
    /// Scenario: a TOML file or a built-in name.
    #[arg(long, short = 's', value_name = "FILE|NAME")]
    pub scenario: String,
    /// Trace to replay (CSV, Parquet or JSONL); the scenario's workload if omitted.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Schema of --trace, if detection should not decide.
    #[arg(long, value_name = "servesim|azure|mooncake", requires = "trace")]
    pub trace_format: Option<SourceFormat>,
    /// Models directory (written by `servesim models build`).
    #[arg(long, value_name = "DIR")]
    pub models: PathBuf,
    /// Replay speed: trace time is divided by this (a validation's simulation runs the same
    /// sped-up arrivals).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// ONNX Runtime intra-op threads per session (for validate: the profile's `simulate_threads`).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Warm-up runs of each batch size per session before the clock starts.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Number of requests (cuts a trace; size of a generated workload).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Run seed (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Block instead of polling. By default the worker threads and the scheduling thread
    /// busy-wait for each other when there is a core for each: hand-offs then cost a few µs at
    /// any load instead of 15–70 µs that grow with it (a calibration profile should be made the
    /// same way: `calibrate --no-poll`).
    #[arg(long)]
    pub no_poll: bool,
}

/// Replay a trace in real time against real models and write a run directory.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim models build --preset tiny --out models/tiny
  servesim trace generate --scenario my.toml --requests 2000 --out trace.parquet
  servesim replay --trace trace.parquet --scenario my.toml --models models/tiny
  servesim replay --scenario my.toml --models models/tiny --requests 1000 --speed 0.5

Each device of the scenario runs its `variant` (= a model name in --models) on its own ONNX
Runtime session(s); requests are released open-loop at trace time / --speed and go through the
same serving core (cache, router, queues, batchers) as `servesim simulate`. As in the simulator,
latency runs from the intended release (trace time / --speed; release lateness is its own column),
a cache hit answers after the scenario's `hit_ms`, and a queue is bounded only by the scenario's
`queue_capacity`. Writes OUT/<run-id>/ (manifest.json with
kind `replay`, config.resolved.toml, summary.json, requests.parquet). Ctrl-C stops releasing,
lets running batches finish and writes the run marked \"partial\": true; a second Ctrl-C exits.")]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: ReplayInput,
    /// Parent directory of the run directory.
    #[arg(long, short = 'o', default_value = "runs", value_name = "DIR")]
    pub out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A model a replay ran, as its manifest names it (read back by `validate`).
#[derive(Debug, Serialize, serde::Deserialize)]
pub(crate) struct ModelRef {
    pub variant: String,
    pub id: String,
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
pub(crate) fn load_requests(
    config: &mut sim::ScenarioConfig,
    args: &ReplayInput,
    scenario_source: &str,
) -> Result<(traces::Trace, TraceRef)> {
    let (trace, format, requests) = (args.trace.as_ref(), args.trace_format, args.requests);
    if requests == Some(0) {
        return Err(input("--requests: must be at least 1"));
    }
    let (reqs, classes, source) = if let Some(path) = trace {
        let mut t = traces::formats::read_any(path, format)?;
        if let Some(n) = requests.or(config.requests) {
            t.requests.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        config.workload = None;
        (t.requests, t.classes, path.display().to_string())
    } else {
        let w = config.workload.clone().ok_or_else(|| {
            input(format!("{scenario_source}: the scenario has no [workload]; give a trace with --trace"))
        })?;
        let n = requests.or(config.requests).unwrap_or(1000);
        config.requests = Some(n);
        let reqs: Vec<Request> = w.generator(config.seed, n)?.collect();
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

/// Runs the command; returns the run directory and the result.
pub fn run(args: &ReplayArgs) -> Result<(PathBuf, ReplayResult)> {
    let loaded = scenario::load(&args.input.scenario)?;
    let mut config = loaded.config;
    if let Some(seed) = args.input.seed {
        config.seed = seed;
    }
    let (trace, trace_ref) = load_requests(&mut config, &args.input, &loaded.source)?;
    let requests = trace.requests;
    let opts = ReplayOptions {
        speed: args.input.speed,
        threads: args.input.threads,
        warmup: args.input.warmup,
        stop: Some(ctrl_c()?),
        poll: !args.input.no_poll,
    };
    let dir = write_run(&config, &loaded.source, &args.input.models, &requests, trace_ref, &opts, &args.out, 0)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&dir.1.summary)?);
    } else {
        print_summary(&dir.1, &dir.0);
    }
    Ok(dir)
}

/// A flag set by Ctrl-C (or SIGTERM); a second signal exits at once with code 130.
pub(crate) fn ctrl_c() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    // First Ctrl-C: stop releasing and write a partial run; second: exit at once.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .context("installing Ctrl-C handler")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing Ctrl-C handler")?;
    }
    Ok(stop)
}

/// Replays and writes the run directory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_run(
    config: &sim::ScenarioConfig,
    scenario_source: &str,
    models: &std::path::Path,
    requests: &[Request],
    trace_ref: TraceRef,
    opts: &ReplayOptions,
    out: &std::path::Path,
    repetition: u32,
) -> Result<(PathBuf, ReplayResult)> {
    let plan = Plan::new(config, models)?;
    let model_refs: Vec<ModelRef> = plan
        .models
        .iter()
        .map(|m| ModelRef { variant: m.name.clone(), id: m.id.clone(), file: m.path.display().to_string() })
        .collect();
    eprintln!(
        "replaying {} requests of {} at speed {} on {} device(s) ({})",
        requests.len(),
        trace_ref.source,
        opts.speed,
        plan.devices.len(),
        model_refs.iter().map(|m| m.variant.as_str()).collect::<Vec<_>>().join(", ")
    );
    let result = replay(&plan, requests, opts)?;
    let resolved = config.to_toml();
    let config_hash = IdKind::Sha256.of(resolved.as_bytes()).to_string();
    let run_id = run_id(&resolved, &trace_ref.id, config.seed, &model_refs, opts.speed, opts.threads, repetition);
    let mut dir = RunDir::create(out, &run_id)?;
    dir.write("config.resolved.toml", resolved.as_bytes())?;
    dir.write("summary.json", (serde_json::to_string_pretty(&result.summary)? + "\n").as_bytes())?;
    records_table(&result.records, &plan).write(&dir.path("requests.parquet")).context("writing requests.parquet")?;
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

fn records_table(records: &[ReplayRecord], plan: &Plan) -> Table {
    let s = |ns: u64| SimTime(ns).as_secs_f64();
    let os = |ns: Option<u64>| ns.map(s);
    let col = |f: &dyn Fn(&ReplayRecord) -> Option<f64>| TableColumn::OptF64(records.iter().map(f).collect());
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| s(r.arrival)).collect()));
    t.push("start_s", col(&|r| os(r.start)));
    t.push("finish_s", col(&|r| os(r.finish)));
    t.push("latency_ms", col(&|r| r.latency_ns().map(|l| l as f64 / 1e6)));
    t.push(
        "device",
        TableColumn::Str(
            records.iter().map(|r| r.device.map_or(String::new(), |d| plan.devices[d].name.clone())).collect(),
        ),
    );
    t.push("server", TableColumn::OptU64(records.iter().map(|r| r.server.map(u64::from)).collect()));
    t.push("batch_size", TableColumn::U64(records.iter().map(|r| u64::from(r.batch_size)).collect()));
    t.push("dropped", TableColumn::Bool(records.iter().map(|r| r.dropped).collect()));
    t.push("cache", crate::cmd::simulate::cache_column(records.iter().map(|r| r.cache)));
    t.push("escalated", TableColumn::Bool(records.iter().map(|r| r.escalated_from.is_some()).collect()));
    // Replay's own columns.
    t.push(
        "variant",
        TableColumn::Str(
            records.iter().map(|r| r.device.map_or(String::new(), |d| plan.devices[d].variant.clone())).collect(),
        ),
    );
    t.push("intended_s", TableColumn::F64(records.iter().map(|r| s(r.intended)).collect()));
    t.push("enqueued_s", TableColumn::F64(records.iter().map(|r| s(r.enqueued)).collect()));
    t.push("dispatch_s", col(&|r| os(r.dispatch)));
    t.push("lateness_us", TableColumn::F64(records.iter().map(|r| r.lateness_ns() as f64 / 1e3).collect()));
    t.push("overhead_us", col(&|r| r.overhead_ns.map(|o| o as f64 / 1e3)));
    t.push("ort_ms", col(&|r| r.ort_ns.map(|o| o as f64 / 1e6)));
    t.push("prediction", TableColumn::OptU64(records.iter().map(|r| r.prediction.map(u64::from)).collect()));
    t.push("correct", TableColumn::OptU64(records.iter().map(|r| r.correct.map(u64::from)).collect()));
    t.push("student_confidence", col(&|r| r.confidence.map(f64::from)));
    t.push(
        "student_prediction",
        TableColumn::OptU64(records.iter().map(|r| r.escalated_from.map(u64::from)).collect()),
    );
    t
}

pub(crate) fn print_summary(result: &ReplayResult, path: &std::path::Path) {
    let s = &result.summary;
    println!("replay {}  ->  {}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"), path.display());
    if s.partial {
        println!("PARTIAL: stopped before the trace ended");
    }
    println!("scenario {}  speed {}  threads {}  duration {:.3} s", s.scenario, s.speed, s.threads, s.duration_s);
    let c = &s.requests;
    println!(
        "requests: {} arrived, {} completed, {} dropped, {} unfinished",
        c.arrived, c.completed, c.dropped, c.unfinished
    );
    println!("{:<16}{:>10}{:>10}{:>10}{:>10}{:>10}", "", "mean", "p50", "p90", "p99", "max");
    for (name, d) in [
        ("latency ms", &s.latency_ms),
        ("queue delay ms", &s.queue_delay_ms),
        ("batch run ms", &s.batch_run_ms),
        ("lateness µs", &s.lateness_us),
        ("overhead µs", &s.overhead_us),
        ("  release µs", &s.handoff_release_us),
        ("  dispatch µs", &s.handoff_dispatch_us),
        ("  return µs", &s.handoff_return_us),
    ] {
        println!("{:<16}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}", name, d.mean, d.p50, d.p90, d.p99, d.max);
    }
    println!("throughput {:.2}/s  batches {}  mean batch size {:.2}", s.throughput_per_s, s.batches, s.mean_batch_size);
    if let Some(h) = s.cache_hit_ratio {
        println!("cache hit ratio {h:.4}");
    }
    for v in &s.variants {
        println!(
            "  variant {:<18} served {:>7}  accuracy {}  latency p50 {:.3} ms  p99 {:.3} ms",
            v.name,
            v.served,
            v.accuracy.map_or("-".to_string(), |a| format!("{a:.4}")),
            v.latency_ms.p50,
            v.latency_ms.p99
        );
    }
    for d in &s.devices {
        println!(
            "  device {:<12} {:<18} completed {:>7}  dropped {:>6}  utilization {:.4}",
            d.name, d.variant, d.completed, d.dropped, d.utilization
        );
    }
    if let Some(c) = &s.cascade {
        let acc = |a: Option<f64>| a.map_or("-".to_string(), |a| format!("{a:.4}"));
        println!(
            "cascade: {:.1}% escalated (mean student confidence {:.3}); kept by the student {} (accuracy {}, p99 {:.3} ms), \
             escalated {} (teacher's accuracy {}, the student's would have been {}, p99 {:.3} ms)",
            100.0 * c.escalation_fraction,
            c.mean_student_confidence,
            c.kept.requests,
            acc(c.kept.accuracy),
            c.kept.latency_ms.p99,
            c.escalated.requests,
            acc(c.escalated.accuracy),
            acc(c.student_accuracy_on_escalated),
            c.escalated.latency_ms.p99
        );
    }
}
