//! `servesim calibrate-llm`: fit the LLM iteration model to ground-truth cases.

use anyhow::Result;
use clap::Args;
use servesim::ops::calibrate_llm::{CalibrateLlmRequest, Fit, calibrate_llm};
use servesim::ops::progress::Progress;
use sim::groundtruth::{Comparison, median_abs_errors};
use sim::llm::calibration::{MIN_DEVICE_CASES, PARAMS, param};
use std::path::PathBuf;

/// Fit the LLM iteration model to ground-truth cases.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim calibrate-llm ../shared/groundtruth/cases/* --out calib.toml
  servesim groundtruth ../shared/groundtruth/cases/* --calibration calib.toml

Fits compute, attention, expert-layer (moe), memory and KV-cache memory (kv_memory) efficiency, the per-iteration overhead (ms), the per-layer overhead
(us), the per-sequence overhead (us), the achieved share of the link bandwidth (comm) and the
per-request front-end latency (ms) per device kind with at least 3 cases, and once over every
case (`pooled`, used for every other kind), by coordinate search with golden-section steps
minimising the mean over cases of (|ln(sim/measured)| of mean TTFT + the same of mean E2E) / 2,
each term a robust loss min(|x|, c) + 0.05·(|x| - c)+, c = ln 1.25. The memory kept outside weights and KV is the median over the cases
that recorded their KV blocks. Prints the in-sample fit and, beside it, leave-one-out
cross-validation: each case predicted by parameters fitted from scratch without it (on its
kind's other cases when they are at least 3, else on all other cases).
The built-in calibration was made (and is regenerated) with:
  servesim calibrate-llm ../shared/groundtruth/cases/* --out sim/src/llm/calibration.toml --steps 4")]
pub struct CalibrateLlmArgs {
    /// Case directories.
    #[arg(required = true, value_name = "CASE_DIR")]
    pub cases: Vec<PathBuf>,
    /// Calibration file to write.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// Directory of the models' config.json files (default: CASE_DIR/../../models).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Seed of generated workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rounds of the coordinate search.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Golden-section steps per parameter and round.
    #[arg(long, default_value_t = 8)]
    pub steps: usize,
    /// Skip the leave-one-out cross-validation.
    #[arg(long)]
    pub no_loo: bool,
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// Runs the command.
pub fn run(args: &CalibrateLlmArgs) -> Result<()> {
    eprintln!(
        "fitting {} parameters on {} cases ({} rounds, {} steps){}…",
        PARAMS.len(),
        args.cases.len(),
        args.rounds,
        args.steps,
        if args.no_loo { "" } else { ", then one fit per case left out" }
    );
    let c = calibrate_llm(&CalibrateLlmRequest {
        cases: args.cases.clone(),
        models: args.models.clone(),
        seed: args.seed,
        rounds: args.rounds,
        steps: args.steps,
        leave_one_out: !args.no_loo,
        out: Some(args.out.clone()),
        progress: Progress::Bar,
    })?;
    for (k, n) in &c.too_few {
        println!("{k}: {n} case(s), fewer than {MIN_DEVICE_CASES}: uses the pooled parameters");
    }
    println!("{:<48} {:>9} {:>9} {:>9} {:>9}", "case", "ttft in", "e2e in", "ttft loo", "e2e loo");
    for (i, p) in c.cases.iter().enumerate() {
        let err = |c: &Comparison, k: &str| pct(c.metrics[k].relative_error);
        let (lt, le) = match &c.leave_one_out {
            Some(l) => (err(&l[i], "ttft_ms.mean"), err(&l[i], "e2e_ms.mean")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<48} {:>9} {:>9} {:>9} {:>9}",
            p.case.id,
            err(&c.in_sample[i], "ttft_ms.mean"),
            err(&c.in_sample[i], "e2e_ms.mean"),
            lt,
            le
        );
    }
    let ins_med = median_abs_errors(&c.in_sample);
    let pooled_med = median_abs_errors(&c.pooled_in_sample);
    let loo_med = c.leave_one_out.as_deref().map(median_abs_errors);
    println!("\n{:<20} {:>6} {:>12} {:>12} {:>12}", "metric", "cases", "in-sample", "pooled", "leave-1-out");
    for (k, (m, n)) in &ins_med {
        let l = loo_med.as_ref().map_or("-".to_string(), |l| format!("{:.1}%", l[k].0 * 100.0));
        println!("{k:<20} {n:>6} {:>11.1}% {:>11.1}% {:>12}", m * 100.0, pooled_med[k].0 * 100.0, l);
    }
    println!("\nparameters (objective = mean robust |log error| of mean TTFT and E2E):");
    let show = |k: &str, f: &Fit| {
        let values: Vec<String> =
            PARAMS.iter().enumerate().map(|(i, (n, _, _))| format!("{n} {:.3}", param(&f.efficiency, i))).collect();
        println!("  {k:<9} {}  kv reserve {:.2} GB  objective {:.4}", values.join("  "), f.kv_reserve_gb, f.objective);
    };
    show("pooled", &c.pooled);
    for (k, f) in &c.devices {
        show(k, f);
    }
    println!("\nwrote {}", args.out.display());
    Ok(())
}
