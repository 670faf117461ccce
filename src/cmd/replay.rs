//! `servesim replay`: a trace in real time against ONNX Runtime sessions, through the simulator's
//! own policies.

use anyhow::{Context, Result};
use clap::Args;
use replay::harness::ReplayResult;
use servesim::ops::replay::{ReplayRequest, replay};
use servesim::scenario::ScenarioSource;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use traces::formats::SourceFormat;

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

impl ReplayInput {
    /// The library's input for these flags.
    pub fn to_input(&self) -> servesim::ops::replay::ReplayInput {
        servesim::ops::replay::ReplayInput {
            scenario: ScenarioSource::Arg(self.scenario.clone()),
            trace: self.trace.clone(),
            trace_format: self.trace_format,
            models: self.models.clone(),
            speed: self.speed,
            threads: self.threads,
            warmup: self.warmup,
            requests: self.requests,
            seed: self.seed,
            poll: !self.no_poll,
        }
    }
}

/// Runs the command; returns the run directory and the result.
pub fn run(args: &ReplayArgs) -> Result<(PathBuf, ReplayResult)> {
    let req = ReplayRequest { input: args.input.to_input(), out: args.out.clone(), stop: Some(ctrl_c()?) };
    let dir = replay(&req, &mut |s| eprintln!("{s}"))?;
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
