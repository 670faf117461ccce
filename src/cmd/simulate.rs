//! `servesim simulate`.

use crate::error::input;
use crate::rundir::{FileRef, RunDir, RunManifest, code_version, peak_rss_bytes};
use crate::scenario;
use anyhow::{Context, Result};
use artifact::IdKind;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sim::engine::RequestRecord;
use sim::{RunOptions, Summary};
use std::path::PathBuf;
use traces::formats::{SourceFormat, Table, TableColumn};
use traces::id::TraceHasher;
use traces::{Request, SimTime};

/// Simulate a scenario and write a run directory.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim simulate --scenario mmc
  servesim simulate --scenario mmc --seed 7 --requests 100000 --records
  servesim simulate --scenario my.toml --trace ../shared/traces/AzureLLMInferenceTrace_conv.csv
  servesim simulate --scenario overload --out /tmp/runs

Writes OUT/<run-id>/ with manifest.json, config.resolved.toml, summary.json and, with
--records, requests.parquet; the directory appears whole or not at all.")]
pub struct SimulateArgs {
    /// Scenario: a TOML file or a built-in name (see `servesim scenarios`).
    #[arg(long, short = 's', value_name = "FILE|NAME")]
    pub scenario: String,
    /// Drive the run with this trace instead of the scenario's workload (CSV, Parquet or JSONL;
    /// servesim, Azure or Mooncake schema, detected from the columns).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Schema of --trace, if detection should not decide.
    #[arg(long, value_name = "servesim|azure|mooncake", requires = "trace")]
    pub trace_format: Option<SourceFormat>,
    /// Run seed (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of requests (overrides the scenario's; cuts a --trace to its first N, which
    /// nothing else does).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Parent directory of the run directory.
    #[arg(long, short = 'o', default_value = "runs", value_name = "DIR")]
    pub out: PathBuf,
    /// Also write one record per request (requests.parquet).
    #[arg(long)]
    pub records: bool,
    /// Replay the trace this many times faster (arrival times divided by X; the trace id is that
    /// of the compressed requests).
    #[arg(long, value_name = "X", requires = "trace")]
    pub speed: Option<f64>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Service-time profile from `servesim calibrate`: devices whose `variant` it measured take
    /// its service model, and the stalls and drift it saw (unless the profile turns them off).
    /// Refused if stale (other models than --models, or another machine).
    #[arg(long, value_name = "FILE", requires = "models")]
    pub profile: Option<PathBuf>,
    /// Models directory the profile must have been measured on (with --profile).
    #[arg(long, value_name = "DIR", requires = "profile")]
    pub models: Option<PathBuf>,
    /// How the manifest names the trace file, when not by `trace`'s path (validate writes the
    /// trace into a directory that is renamed into place afterwards).
    #[arg(skip)]
    pub trace_source: Option<String>,
    /// How the manifest names the scenario file, when not by `scenario`.
    #[arg(skip)]
    pub scenario_source: Option<String>,
}

pub(crate) use crate::rundir::TraceRef;

/// What a simulation's manifest adds to every run's.
#[derive(Debug, Serialize)]
struct SimulateManifest {
    /// The calibration profile its service times came from (`--profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<crate::cmd::calibrate::ProfileRef>,
}

/// Counts, hashes and shows progress over the requests as the engine pulls them.
struct Tap<I> {
    inner: I,
    hasher: TraceHasher,
    bar: ProgressBar,
}

impl<I: Iterator<Item = Request>> Iterator for Tap<I> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        let r = self.inner.next()?;
        self.hasher.push(&r);
        if self.hasher.count().is_multiple_of(65_536) {
            self.bar.set_position(self.hasher.count());
        }
        Some(r)
    }
}

fn progress(total: u64) -> ProgressBar {
    // Short runs finish before a bar would be worth drawing.
    if total < 2_000_000 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} simulating {pos}/{len} requests [{elapsed_precise}, eta {eta}] {wide_bar}",
        )
        .expect("valid template"),
    );
    bar
}

/// The id of a run of the resolved config `resolved` over trace `trace_id` with `seed`: equal
/// inputs and code give equal ids, whichever command ran them.
pub(crate) fn run_id(resolved: &str, trace_id: &str, seed: u64) -> String {
    let config_hash = IdKind::Sha256.of(resolved);
    let servesim = code_version().servesim;
    let key = format!("servesim-run-v1\0simulate\0{config_hash}\0{trace_id}\0{seed}\0{servesim}");
    IdKind::Run.of(key).into()
}

pub(crate) use sim::Outcome;

/// Simulates `requests` (n of them, for the progress bar), hashing them on the way.
pub(crate) fn drive(
    config: &sim::ScenarioConfig,
    requests: impl Iterator<Item = Request>,
    classes: &[String],
    n: u64,
    opts: RunOptions,
    source: String,
) -> Result<(Outcome, TraceRef)> {
    let mut tap = Tap { inner: requests, hasher: TraceHasher::new(classes), bar: progress(n) };
    let result = sim::run_scenario(config, &mut tap, opts)?;
    tap.bar.finish_and_clear();
    let requests = tap.hasher.count();
    Ok((result, TraceRef { id: tap.hasher.finish(), source, requests }))
}

/// Runs the command; returns the run directory.
pub fn run(args: &SimulateArgs) -> Result<PathBuf> {
    run_full(args).map(|(path, _)| path)
}

/// Runs the command; returns the run directory and what the run produced.
pub(crate) fn run_full(args: &SimulateArgs) -> Result<(PathBuf, Outcome)> {
    let mut loaded = scenario::load(&args.scenario)?;
    if let Some(label) = &args.scenario_source {
        loaded.source = label.clone();
    }
    let mut config = loaded.config;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(n) = args.requests {
        if n == 0 {
            return Err(input("--requests: must be at least 1"));
        }
        config.requests = Some(n);
    }
    let profile = match (&args.profile, &args.models) {
        (Some(profile), Some(models)) => Some(crate::cmd::calibrate::apply_profile(&mut config, profile, models)?),
        _ => None,
    };
    let seed = config.seed;
    if let Some(speed) = args.speed
        && !(speed.is_finite() && speed > 0.0)
    {
        return Err(input(format!("--speed: must be a positive number, got {speed}")));
    }

    let (result, trace_ref) = if let Some(path) = &args.trace {
        let mut trace = traces::formats::read_any(path, args.trace_format)?;
        if let Some(speed) = args.speed {
            for r in &mut trace.requests {
                r.arrival = SimTime::round_ns(r.arrival.as_nanos() as f64 / speed);
            }
        }
        // A trace is cut only by an explicit --requests (the scenario's `requests` sizes its
        // generated workload, which the trace replaces), and says so.
        config.requests = args.requests;
        if let Some(n) = args.requests {
            let total = trace.requests.len();
            trace.requests.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            if trace.requests.len() < total {
                eprintln!(
                    "simulating the first {} of the {total} requests of {} (--requests)",
                    trace.requests.len(),
                    path.display()
                );
            }
        }
        // The trace replaces the workload: the resolved config says so.
        config.workload = None;
        let n = trace.requests.len() as u64;
        let opts = RunOptions { seed, record: args.records, trace_driven: true };
        let source = args.trace_source.clone().unwrap_or_else(|| path.display().to_string());
        drive(&config, trace.requests.into_iter(), &trace.classes, n, opts, source)?
    } else {
        let workload = config.workload.clone().ok_or_else(|| {
            input(format!("{}: the scenario has no [workload]; give a trace with --trace", loaded.source))
        })?;
        let n = *config.requests.get_or_insert(sim::DEFAULT_REQUESTS);
        let generator = workload.generator(seed, n)?;
        let opts = RunOptions { seed, record: args.records, trace_driven: false };
        let classes = traces::Trace::default_classes();
        drive(&config, generator, &classes, n, opts, "generated".to_string())?
    };

    let resolved = config.to_toml();
    let config_hash = IdKind::Sha256.of(resolved.as_bytes()).to_string();
    let version = code_version();
    let run_id = run_id(&resolved, &trace_ref.id, seed);

    let mut dir = RunDir::create(&args.out, &run_id)?;
    dir.write("config.resolved.toml", resolved.as_bytes())?;
    let summary_json = match &result {
        Outcome::Classic(r) => serde_json::to_string_pretty(&r.summary)?,
        Outcome::Llm(s, _) => serde_json::to_string_pretty(s)?,
    } + "\n";
    dir.write("summary.json", summary_json.as_bytes())?;
    if let Outcome::Classic(sim::RunResult { records: Some(records), summary, .. }) = &result {
        records_table(records, summary).write(&dir.path("requests.parquet")).context("writing requests.parquet")?;
        dir.register("requests.parquet")?;
    }
    if let Outcome::Llm(s, Some(records)) = &result {
        llm_records_table(records, s).write(&dir.path("requests.parquet")).context("writing requests.parquet")?;
        dir.register("requests.parquet")?;
    }
    let files: Vec<(String, String)> = dir.files().to_vec();
    let manifest = RunManifest {
        schema: "servesim.run/1",
        run_id: &run_id,
        kind: "simulate",
        scenario: &config.name,
        scenario_source: &loaded.source,
        config_hash,
        trace: trace_ref,
        seed,
        extra: SimulateManifest { profile },
        code: version,
        files: FileRef::list(&files),
    };
    dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
    let path = dir.commit()?;

    if args.json {
        println!("{}", summary_json.trim_end());
    } else {
        match &result {
            Outcome::Classic(r) => print_summary(&r.summary, &run_id, &path, &manifest.trace),
            Outcome::Llm(s, _) => print_llm_summary(s, &run_id, &path, &manifest.trace),
        }
    }
    Ok((path, result))
}

fn llm_records_table(records: &[sim::llm::LlmRecord], summary: &sim::llm::LlmSummary) -> Table {
    let secs = |t: Option<SimTime>| t.map(SimTime::as_secs_f64);
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| r.arrival.as_secs_f64()).collect()));
    t.push("admitted_s", TableColumn::OptF64(records.iter().map(|r| secs(r.admitted)).collect()));
    t.push("first_token_s", TableColumn::OptF64(records.iter().map(|r| secs(r.first_token)).collect()));
    t.push("finish_s", TableColumn::OptF64(records.iter().map(|r| secs(r.finish)).collect()));
    t.push(
        "ttft_ms",
        TableColumn::OptF64(records.iter().map(|r| r.first_token.map(|f| (f - r.arrival).as_millis_f64())).collect()),
    );
    t.push(
        "tpot_ms",
        TableColumn::OptF64(
            records
                .iter()
                .map(|r| match (r.first_token, r.finish) {
                    (Some(f), Some(e)) if r.output > 1 => Some((e - f).as_millis_f64() / (r.output - 1) as f64),
                    _ => None,
                })
                .collect(),
        ),
    );
    t.push("prompt_tokens", TableColumn::U64(records.iter().map(|r| r.prompt).collect()));
    t.push("output_tokens", TableColumn::U64(records.iter().map(|r| r.output).collect()));
    t.push("cached_tokens", TableColumn::U64(records.iter().map(|r| r.cached_tokens).collect()));
    t.push("replica", TableColumn::Str(records.iter().map(|r| summary.replicas[r.replica].name.clone()).collect()));
    t.push("preemptions", TableColumn::U64(records.iter().map(|r| u64::from(r.preemptions)).collect()));
    t.push("rejected", TableColumn::Bool(records.iter().map(|r| r.rejected).collect()));
    t.push("timed_out", TableColumn::Bool(records.iter().map(|r| r.timed_out).collect()));
    t
}

/// The `cache` column of a records table: each outcome by its serialized name.
pub(crate) fn cache_column(outcomes: impl Iterator<Item = sim::engine::CacheOutcome>) -> TableColumn {
    TableColumn::Str(
        outcomes
            .map(|c| serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
            .collect(),
    )
}

fn records_table(records: &[RequestRecord], summary: &Summary) -> Table {
    let secs = |t: Option<SimTime>| t.map(SimTime::as_secs_f64);
    let name =
        |d: Option<sim::engine::DeviceId>| d.map_or(String::new(), |d| summary.devices[d.0 as usize].name.clone());
    let mut t = Table::default();
    t.push("id", TableColumn::U64(records.iter().map(|r| r.id).collect()));
    t.push("arrival_s", TableColumn::F64(records.iter().map(|r| r.arrival.as_secs_f64()).collect()));
    t.push("start_s", TableColumn::OptF64(records.iter().map(|r| secs(r.start)).collect()));
    t.push("finish_s", TableColumn::OptF64(records.iter().map(|r| secs(r.finish)).collect()));
    t.push(
        "latency_ms",
        TableColumn::OptF64(records.iter().map(|r| r.finish.map(|f| (f - r.arrival).as_millis_f64())).collect()),
    );
    t.push("device", TableColumn::Str(records.iter().map(|r| name(r.device)).collect()));
    t.push("server", TableColumn::OptU64(records.iter().map(|r| r.server.map(u64::from)).collect()));
    t.push("batch_size", TableColumn::U64(records.iter().map(|r| u64::from(r.batch_size)).collect()));
    t.push("dropped", TableColumn::Bool(records.iter().map(|r| r.dropped).collect()));
    t.push("cache", cache_column(records.iter().map(|r| r.cache)));
    t.push("escalated", TableColumn::Bool(records.iter().map(|r| r.escalated).collect()));
    t
}

/// Rows of durations in ms under `columns`, right-aligned. A row whose largest value reaches
/// 100 s is shown in seconds, its label saying so (`end-to-end (s)`); columns widen to the widest
/// cell, so no number runs into the next.
fn ms_table(columns: &[&str], rows: &[(&str, Vec<f64>)], decimals: usize) -> String {
    let big = |v: &[f64]| v.iter().any(|x| x.abs() >= 1e5);
    let mixed = rows.iter().any(|(_, v)| big(v));
    let cells: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(name, v)| {
            let (label, scale) = match (mixed, big(v)) {
                (false, _) => (name.to_string(), 1.0),
                (true, false) => (format!("{name} (ms)"), 1.0),
                (true, true) => (format!("{name} (s)"), 1e-3),
            };
            (label, v.iter().map(|x| format!("{:.decimals$}", x * scale)).collect())
        })
        .collect();
    let width = cells
        .iter()
        .flat_map(|(_, v)| v.iter().map(|c| c.len() + 2))
        .chain(columns.iter().map(|c| c.len() + 2))
        .max()
        .unwrap_or(10)
        .max(10);
    let first = cells.iter().map(|(l, _)| l.len() + 2).max().unwrap_or(16).max(16);
    let mut out = format!("{:<first$}", if mixed { "" } else { "ms" });
    for c in columns {
        out += &format!("{c:>width$}");
    }
    out.push('\n');
    for (label, v) in &cells {
        out += &format!("{label:<first$}");
        for c in v {
            out += &format!("{c:>width$}");
        }
        out.push('\n');
    }
    out
}

fn print_llm_summary(s: &sim::llm::LlmSummary, run_id: &str, path: &std::path::Path, trace: &TraceRef) {
    println!("run {run_id}  ->  {}", path.display());
    println!(
        "scenario {}  seed {}  trace {} ({}, {} requests)  scheduler {}",
        s.scenario, s.seed, trace.id, trace.source, trace.requests, s.scheduler
    );
    println!(
        "model {}  {:.1} GB weights x tp {}  decode step (batch 1) {:.2} ms  prefill of 1024 tokens {:.1} ms",
        s.model.model,
        s.model.weight_bytes / 1e9,
        s.model.tensor_parallel,
        s.model.decode_step_batch1_ms,
        s.model.prefill_1024_ms
    );
    println!(
        "requests: {} arrived, {} completed, {} rejected ({} longer than max_model_len, the rest too long for KV memory){}",
        s.requests.arrived,
        s.requests.completed,
        s.requests.rejected,
        s.requests.rejected_too_long,
        if s.requests.timed_out > 0 { format!(", {} timed out", s.requests.timed_out) } else { String::new() }
    );
    println!(
        "tokens: {} prompt, {} output, {} prefilled, {} from prefix cache, {} recomputed",
        s.tokens.input, s.tokens.output, s.tokens.prefill_computed, s.tokens.prefix_cached, s.tokens.recomputed
    );
    let l = &s.latency_ms;
    let rows: Vec<(&str, Vec<f64>)> =
        [("TTFT", &l.ttft), ("TPOT", &l.tpot), ("inter-token", &l.itl), ("end-to-end", &l.e2e)]
            .into_iter()
            .map(|(name, d)| (name, vec![d.mean, d.p50, d.p90, d.p99, d.p999, d.max]))
            .collect();
    print!("{}", ms_table(&["mean", "p50", "p90", "p99", "p99.9", "max"], &rows, 2));
    println!(
        "throughput {:.2} requests/s  {:.0} output tokens/s  {:.0} tokens/s over {:.1} s",
        s.throughput.requests_per_s, s.throughput.output_tokens_per_s, s.throughput.total_tokens_per_s, s.horizon_s
    );
    println!(
        "KV: {} pages of {} tokens  mean utilization {:.3}  peak {:.3}  preemptions {}",
        s.kv.capacity_pages, s.kv.block_size, s.kv.mean_utilization, s.kv.peak_utilization, s.kv.preemptions
    );
    println!(
        "iterations {}  mean {:.1} sequences, {:.1} tokens  prefill-only {}",
        s.iterations.count, s.iterations.mean_seqs, s.iterations.mean_tokens, s.iterations.prefill_only
    );
    if let Some(p) = &s.prefix {
        println!(
            "prefix cache: hit rate {:.4} ({} of {} blocks)  evictions {}",
            p.hit_rate, p.hits, p.lookups, p.evictions
        );
    }
    if let Some(slo) = &s.slo {
        println!(
            "SLO TTFT <= {} ms and TPOT <= {} ms: attainment {:.4}  goodput {:.2}/s",
            slo.ttft_ms, slo.tpot_ms, slo.attainment, slo.goodput_per_s
        );
    }
    println!(
        "cost {:.4} $  {:.4} $ per 1M output tokens  {:.4} $ per 1M tokens",
        s.cost.usd, s.cost.usd_per_million_output_tokens, s.cost.usd_per_million_tokens
    );
    if let Some(b) = peak_rss_bytes() {
        println!("peak memory {:.1} MiB", b as f64 / (1024.0 * 1024.0));
    }
}

fn print_summary(s: &Summary, run_id: &str, path: &std::path::Path, trace: &TraceRef) {
    println!("run {run_id}  ->  {}", path.display());
    println!(
        "scenario {}  seed {}  trace {} ({}, {} requests)",
        s.scenario, s.seed, trace.id, trace.source, trace.requests
    );
    println!(
        "requests: {} arrived, {} completed, {} dropped ({:.3}%)",
        s.requests.arrived,
        s.requests.completed,
        s.requests.dropped,
        100.0 * s.drop_rate
    );
    let rows: Vec<(&str, Vec<f64>)> =
        [("latency", &s.latency_ms), ("queue delay", &s.queue_delay_ms), ("service", &s.service_ms)]
            .into_iter()
            .map(|(name, d)| (name, vec![d.mean, d.p50, d.p90, d.p95, d.p99, d.p999, d.max]))
            .collect();
    print!("{}", ms_table(&["mean", "p50", "p90", "p95", "p99", "p99.9", "max"], &rows, 3));
    println!(
        "throughput {:.2}/s  utilization {:.4}  mean queue {:.3}  mean in system {:.3}  Little residual {:.1e}",
        s.throughput_per_s, s.utilization, s.mean_queue_length, s.mean_in_system, s.little.relative_residual
    );
    if s.batches.max_size > 1 {
        println!("batches {}  mean size {:.2}  max {}", s.batches.count, s.batches.mean_size, s.batches.max_size);
    }
    if let Some(slo) = &s.slo {
        println!(
            "SLO latency <= {} ms: attainment {:.4}  goodput {:.2}/s",
            slo.latency_ms, slo.attainment, slo.goodput_per_s
        );
    }
    if s.cost.usd_per_hour > 0.0 {
        println!(
            "cost {:.4} $ provisioned ({:.3} $/h)  {:.6} $ per 1000 requests",
            s.cost.provisioned_usd, s.cost.usd_per_hour, s.cost.usd_per_1000_requests
        );
    }
    if let Some(q) = s.quality {
        println!("quality (traffic-weighted accuracy) {q:.4}");
    }
    if let Some(c) = &s.cache {
        println!(
            "cache: {} lookups, hit ratio {:.4} ({} hits, {} stale served, {} stale refreshed, {} misses)",
            c.lookups, c.hit_ratio, c.hits, c.stale_hits, c.stale_misses, c.misses
        );
    }
    if let Some(c) = &s.cascade {
        println!("cascade: {:.2}% escalated", 100.0 * c.escalation_fraction);
        for (name, p) in [("student only", &c.student_path), ("escalated", &c.escalated_path)] {
            println!(
                "  {:<13} {:>8} requests  latency mean {:.3} ms  p99 {:.3} ms  cost {:.3e} $/request  quality {:.4}",
                name, p.requests, p.latency_ms.mean, p.latency_ms.p99, p.mean_cost_usd, p.mean_quality
            );
        }
    }
    for v in &s.variants {
        println!(
            "  variant {:<16} served {:>8}  answered {:>8}  latency mean {:.3} ms  p99 {:.3} ms  quality {:.4}",
            v.name, v.served, v.answered, v.latency_ms.mean, v.latency_ms.p99, v.quality
        );
    }
    if s.devices.len() > 1 {
        for d in &s.devices {
            println!(
                "  device {:<12} {:<6} servers {:>3}  utilization {:.4}  p99 {:.3} ms  completed {}  dropped {}",
                d.name,
                d.kind.as_deref().unwrap_or("-"),
                d.servers,
                d.utilization,
                d.latency_ms.p99,
                d.counts.completed,
                d.counts.dropped
            );
        }
    }
    if let Some(a) = &s.analytic {
        let cmp = |sim: f64, exact: f64| format!("{exact:.3} (sim {sim:.3}, {:+.2}%)", 100.0 * (sim / exact - 1.0));
        print!(
            "analytic {}: E[Wq] {}  E[W] {}",
            a.model,
            cmp(s.queue_delay_ms.mean, a.wq_mean_ms),
            cmp(s.latency_ms.mean, a.w_mean_ms)
        );
        if let Some(p) = a.w_p50_ms {
            print!("  p50 {}", cmp(s.latency_ms.p50, p));
        }
        if let Some(p) = a.w_p99_ms {
            print!("  p99 {}", cmp(s.latency_ms.p99, p));
        }
        println!();
    }
    if let Some(b) = peak_rss_bytes() {
        println!("peak memory {:.1} MiB", b as f64 / (1024.0 * 1024.0));
    }
}

#[cfg(test)]
mod table_tests {
    use super::ms_table;

    #[test]
    fn large_values_are_shown_in_seconds_and_never_run_together() {
        let rows = vec![("TTFT", vec![12.5, 10.0]), ("end-to-end", vec![1_775_762.381_662, 1_662_152.34])];
        let t = ms_table(&["mean", "max"], &rows, 2);
        assert!(t.contains("end-to-end (s)") && t.contains("1775.76") && t.contains("TTFT (ms)"), "{t}");
        for line in t.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.iter().filter(|f| f.parse::<f64>().is_ok()).count() == 2, "{line}");
        }
        // A value too wide for ten characters even in seconds widens every column.
        let rows = vec![("x", vec![123_456_789_012.0, 1.0])];
        let t = ms_table(&["mean", "max"], &rows, 2);
        let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row, ["x", "(s)", "123456789.01", "0.00"], "{t}");
        // All in ms: the header says so once, as before.
        let t = ms_table(&["mean"], &[("latency", vec![29.619])], 3);
        assert_eq!(t, format!("{:<16}{:>10}\n{:<16}{:>10}\n", "ms", "mean", "latency", "29.619"));
    }
}
