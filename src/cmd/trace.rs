//! `servesim trace gen | import | inspect`.

use anyhow::Result;
use clap::{Args, Subcommand};
use servesim::error::input;
use servesim::ops::trace::{GenerateRequest, generate, import, import_mapped, read};
use servesim::scenario::ScenarioSource;
use std::path::PathBuf;
use traces::formats::{ColumnMap, SourceFormat};
use traces::stats::stats;

/// Make, convert and describe request traces.
#[derive(Debug, Subcommand)]
pub enum TraceCmd {
    /// Generate a synthetic trace from a scenario's [workload].
    #[command(after_help = "\
Examples:
  servesim trace gen --scenario mmc --requests 10000 --out mmc.parquet
  servesim trace gen --scenario bursty --seed 3 --out bursty.csv")]
    Gen(GenArgs),
    /// Convert a trace (servesim, Azure or Mooncake schema) to the servesim schema.
    #[command(after_help = "\
Examples:
  servesim trace import ../shared/traces/AzureLLMInferenceTrace_conv.csv --out azure.parquet
  servesim trace import ../shared/traces/mooncake_conversation_trace.jsonl --from mooncake --out mooncake.parquet")]
    Import(ImportArgs),
    /// Print count, span, rate, inter-arrival CV, size percentiles and the trace id.
    #[command(after_help = "\
Examples:
  servesim trace inspect ../shared/traces/AzureLLMInferenceTrace_conv.csv
  servesim trace inspect mmc.parquet --json")]
    Inspect(InspectArgs),
}

/// `trace gen` arguments.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Scenario whose [workload] to sample: a TOML file or a built-in name.
    #[arg(long, short = 's')]
    pub scenario: String,
    /// Number of requests (default: the scenario's).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output file; .csv, .parquet or .jsonl.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// `trace import` arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim trace import ../shared/traces/AzureLLMInferenceTrace_conv.csv --out azure.parquet
  servesim trace import jobs.csv --out jobs.parquet \\
      --columns arrival=start_time,service=exec_time,class=tenant,key=function --where status=SUCCEED
  servesim trace import calls.csv --out calls.parquet --columns arrival=ts_ms,service=dur_ms --time-unit ms

With --columns any CSV, Parquet or JSONL table is read through the mapping: arrival (required) is a
number in --time-unit (an epoch or an offset) or a datetime `YYYY-MM-DD HH:MM:SS[.fff]`; service is
a recorded execution time in --time-unit (a scenario with `recorded_service` serves it as is); class
and key may be any text; input and output are integers. Rows failing a --where are dropped, the rest
sorted by arrival and numbered from 0, arrivals counted from the earliest (idle nights are kept).")]
pub struct ImportArgs {
    /// Input trace file.
    pub input: PathBuf,
    /// Input schema (default: detected from the columns).
    #[arg(long, value_name = "servesim|azure|mooncake", conflicts_with = "columns")]
    pub from: Option<SourceFormat>,
    /// Map columns of any table: FIELD=COLUMN pairs, FIELD one of arrival (required), service,
    /// class, key, session (a conversation id: its rows are turns), adapter (a LoRA adapter), input,
    /// output.
    #[arg(long, value_name = "arrival=COL,...")]
    pub columns: Option<String>,
    /// Unit of numeric arrival and service times with --columns.
    #[arg(long, value_name = "s|ms|us|ns", default_value = "s", requires = "columns")]
    pub time_unit: String,
    /// Keep only rows where COLUMN equals VALUE (repeatable; all must hold), with --columns.
    #[arg(long = "where", value_name = "COLUMN=VALUE", requires = "columns")]
    pub filters: Vec<String>,
    /// Output file; .csv, .parquet or .jsonl.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// `trace inspect` arguments.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Trace file.
    pub input: PathBuf,
    /// Input schema (default: detected from the columns).
    #[arg(long, value_name = "servesim|azure|mooncake")]
    pub from: Option<SourceFormat>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a trace subcommand.
pub fn run(cmd: &TraceCmd) -> Result<()> {
    match cmd {
        TraceCmd::Gen(a) => {
            let req = GenerateRequest {
                scenario: ScenarioSource::Arg(a.scenario.clone()),
                requests: a.requests,
                seed: a.seed,
                out: Some(a.out.clone()),
            };
            let t = generate(&req)?;
            println!("wrote {} requests to {} (trace id {})", t.trace.requests.len(), a.out.display(), t.trace_id);
        }
        TraceCmd::Import(a) => {
            let t = match &a.columns {
                None => import(&a.input, a.from, &a.out)?,
                Some(spec) => {
                    let mut map = ColumnMap::parse(spec).map_err(|e| input(format!("--columns: {e}")))?;
                    map.time_unit = a.time_unit.parse().map_err(|e| input(format!("--time-unit: {e}")))?;
                    for f in &a.filters {
                        map.filters.push(ColumnMap::parse_filter(f).map_err(|e| input(format!("--where: {e}")))?);
                    }
                    import_mapped(&a.input, &map, &a.out)?
                }
            };
            println!(
                "imported {} requests from {} into {} (trace id {})",
                t.trace.requests.len(),
                a.input.display(),
                a.out.display(),
                t.trace_id
            );
        }
        TraceCmd::Inspect(a) => {
            let s = stats(&read(&a.input, a.from)?.trace);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("trace      {}", a.input.display());
                println!("id         {}", s.trace_id);
                println!("requests   {}", s.requests);
                println!("span       {:.3} s", s.span_s);
                println!("mean rate  {:.4} req/s", s.mean_rate_per_s);
                println!(
                    "gap CV     {:.4} (1 = Poisson; {:.1}% of gaps are zero)",
                    s.interarrival_cv,
                    100.0 * s.zero_gap_fraction
                );
                println!("{:<14}{:>12}{:>10}{:>10}{:>10}{:>10}", "size", "mean", "p50", "p90", "p99", "max");
                for (name, p) in [("input_size", &s.input_size), ("output_tokens", &s.output_tokens)] {
                    println!("{:<14}{:>12.2}{:>10}{:>10}{:>10}{:>10}", name, p.mean, p.p50, p.p90, p.p99, p.max);
                }
                println!("classes    {}", s.classes.join(", "));
                if s.with_cache_key > 0 {
                    println!("cache keys {} requests, {} distinct", s.with_cache_key, s.distinct_cache_keys);
                }
                if s.with_prefix_blocks > 0 {
                    println!(
                        "prefixes   {} requests; {:.1}% of blocks repeat an earlier block (prefix-cache hit bound)",
                        s.with_prefix_blocks,
                        100.0 * s.repeated_block_fraction
                    );
                }
                if s.with_service_time > 0 {
                    println!("service    recorded for {} requests", s.with_service_time);
                }
            }
        }
    }
    Ok(())
}
