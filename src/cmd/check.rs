//! `servesim check`: the chapter's failure table, run over a directory.

use anyhow::Result;
use clap::Args;
use servesim::ops::check::{CheckRequest, check};
use std::path::PathBuf;

/// Run the failure checks over a directory of traces, scenarios and runs.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim check runs
  servesim check data --reference ../shared/traces/AzureLLMInferenceTrace_conv.csv --max-age-days 30
  servesim check runs --max-cost-per-1000 0.002 --max-p99-ms 50

Signals and responses:
  stale         a trace file older than --max-age-days        -> refresh the trace before planning on it
  malformed     a trace or scenario file that does not parse  -> fix the named row or key
  inconsistent  a trace whose gaps or sizes drift from --reference (two-sample KS, p < 0.01)
                                                             -> re-plan and re-calibrate for the new traffic
  stale         a calibration profile made on another machine or ONNX Runtime, or for models whose
                cards (in the profile's models_dir) now have other ids -> re-run `servesim calibrate`
  inconsistent  a validation (comparison.json) whose sim-vs-replay p50/p90/p99 differ by more
                than --max-drift                              -> re-calibrate; do not plan on the sim
  unauditable   a run whose audit finds anything, or a model card whose id is not the hash of its
                ONNX file (or that lacks a version or dataset) -> refuse promotion; re-run or rebuild
  too costly    a run over --max-cost-per-1000 or --max-p99-ms -> block; re-plan with `servesim plan`
Exit codes: 0 no signal, 4 signals found, 2 bad input.")]
pub struct CheckArgs {
    /// Directory to check (searched recursively, two levels deep).
    pub dir: PathBuf,
    /// Reference trace for drift checks.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Traces older than this many days are stale.
    #[arg(long)]
    pub max_age_days: Option<f64>,
    /// Cost budget, $ per 1000 requests.
    #[arg(long)]
    pub max_cost_per_1000: Option<f64>,
    /// Latency budget for p99, ms.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Largest tolerated sim-vs-replay relative error of p50/p90/p99 in a validation's
    /// comparison.json (default 0.10).
    #[arg(long, default_value_t = 0.10)]
    pub max_drift: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command; returns the exit code.
pub fn run(args: &CheckArgs) -> Result<u8> {
    let report = check(&CheckRequest {
        dir: args.dir.clone(),
        reference: args.reference.clone(),
        max_age_days: args.max_age_days,
        max_cost_per_1000: args.max_cost_per_1000,
        max_p99_ms: args.max_p99_ms,
        max_drift: args.max_drift,
    })?;
    let signals = &report.signals;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&signals)?);
    } else {
        println!("checked {} items under {}: {} signal(s)", report.checked, args.dir.display(), signals.len());
        for s in signals {
            println!(
                "{:<13} {}\n              evidence: {}\n              response: {}",
                s.signal, s.subject, s.evidence, s.response
            );
        }
    }
    Ok(if signals.is_empty() { 0 } else { 4 })
}
