//! `servesim groundtruth`: the LLM simulator against real vLLM measurements.

use anyhow::Result;
use clap::Args;
use servesim::ops::groundtruth::{load_calibration, prepare_all, run_case};
use sim::groundtruth::median_abs_errors;
use std::path::PathBuf;

/// Simulate ground-truth cases and compare with what was measured.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim groundtruth ../shared/groundtruth/cases/*
  servesim groundtruth ../shared/groundtruth/cases/h30-h100-llama-2-7b-general --out /tmp/gt
  servesim groundtruth ../shared/groundtruth/cases/* --calibration calib.toml

Each CASE_DIR holds case.toml (and workload.jsonl for per-request cases); the model's
config.json is read from --models (default: CASE_DIR/../../models), else a built-in shape.
Writes OUT/<case id>/ with comparison.json (every measured statistic: measured, sim,
relative_error = (sim - measured) / measured), scenario.toml, summary.json and manifest.json,
each directory whole or not at all; then prints the median |error| per metric over the cases.
Parameters come from the built-in calibration unless --calibration is given. A malformed case
exits with 2, naming the file and key.")]
pub struct GroundtruthArgs {
    /// Case directories.
    #[arg(required = true, value_name = "CASE_DIR")]
    pub cases: Vec<PathBuf>,
    /// Calibration from `servesim calibrate-llm` (default: the built-in one).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Directory of the models' config.json files (default: CASE_DIR/../../models).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Parent directory of the per-case output directories.
    #[arg(long, short = 'o', default_value = "groundtruth", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of generated workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs the command.
pub fn run(args: &GroundtruthArgs) -> Result<()> {
    let (calibration, calibration_ref) = load_calibration(args.calibration.as_deref())?;
    // Every case is read (and refused) before anything is simulated or written.
    let prepared = prepare_all(&args.cases, args.models.as_deref(), args.seed)?;
    let mut comparisons = Vec::new();
    println!(
        "{:<48} {:>7} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}",
        "case", "calib", "ttft meas", "ttft sim", "err", "e2e meas", "e2e sim", "err"
    );
    for p in &prepared {
        let (_, cmp) = run_case(p, &calibration, &calibration_ref, args.seed, &args.out)?;
        let m = |k: &str| {
            cmp.metrics.get(k).map_or((f64::NAN, f64::NAN, f64::NAN), |c| (c.measured, c.sim, c.relative_error))
        };
        let (tm, ts, te) = m("ttft_ms.mean");
        let (em, es, ee) = m("e2e_ms.mean");
        println!(
            "{:<48} {:>7} {:>10.1} {:>10.1} {:>+7.1}% {:>10.1} {:>10.1} {:>+7.1}%",
            p.case.id,
            cmp.calibration,
            tm,
            ts,
            te * 100.0,
            em,
            es,
            ee * 100.0
        );
        comparisons.push(cmp);
    }
    println!();
    println!("{:<20} {:>8} {:>16}", "metric", "cases", "median |error|");
    for (k, (med, n)) in median_abs_errors(&comparisons) {
        println!("{k:<20} {n:>8} {:>15.1}%", med * 100.0);
    }
    println!("\nwrote {} case directories under {}", comparisons.len(), args.out.display());
    Ok(())
}
