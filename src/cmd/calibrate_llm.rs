//! `servesim calibrate-llm`: fit the LLM iteration model to ground-truth cases.

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use servesim::error::input;
use servesim::ops::groundtruth::{Prepared, prepare_all};
use servesim::rundir::code_version;
use sim::groundtruth::{Comparison, median, median_abs_errors};
use sim::llm::calibration::{
    Calibration, CaseCheck, Entry, MIN_DEVICE_CASES, PARAMS, SCHEMA, Source, coordinate_search, leave_one_out_sets,
    log_error, param,
};
use sim::llm::perf::Efficiency;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Fit the LLM iteration model to ground-truth cases.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim calibrate-llm ../shared/groundtruth/cases/* --out calib.toml
  servesim groundtruth ../shared/groundtruth/cases/* --calibration calib.toml

Fits compute, attention, expert-layer (moe) and memory efficiency, the per-iteration overhead (ms), the per-layer overhead
(us), the per-sequence overhead (us), the achieved share of the link bandwidth (comm) and the
per-request front-end latency (ms) per device kind with at least 3 cases, and once over every
case (`pooled`, used for every other kind), by coordinate search with golden-section steps
minimising the mean over cases of (|ln(sim/measured)| of mean TTFT + the same of mean E2E) / 2,
each term a robust loss min(|x|, c) + 0.05·(|x| - c)+, c = ln 1.25. The memory kept outside weights and KV is the median over the cases
that recorded their KV blocks. Prints the in-sample fit and, beside it, leave-one-out
cross-validation: each case predicted by parameters fitted from scratch without it (on its
kind's other cases when they are at least 3, else on all other cases).
The built-in calibration was made (and is regenerated) with:
  servesim calibrate-llm ../shared/groundtruth/cases/* --out sim/src/llm/calibration.toml --steps 4 --no-loo")]
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

/// Simulates case `p` with `eff` and `reserve`.
fn compare(p: &Prepared, eff: &Efficiency, reserve: f64, seed: u64, source: Source) -> Result<Comparison> {
    let config = p
        .case
        .scenario_with(&p.shape, eff, reserve)
        .map_err(|e| input(format!("case {}: cannot build its scenario: {e}", p.case.id)))?;
    let s = sim::llm::run(config.resolve_llm()?, &mut p.requests.iter().cloned(), seed)?;
    Ok(p.case.compare(&s, source))
}

/// The objective's term of one comparison.
fn loss(c: &Comparison) -> f64 {
    let t = &c.metrics["ttft_ms.mean"];
    let e = &c.metrics["e2e_ms.mean"];
    (log_error(t.measured, t.sim) + log_error(e.measured, e.sim)) / 2.0
}

struct Fitter<'a> {
    cases: &'a [Prepared],
    seed: u64,
    rounds: usize,
    steps: usize,
}

impl Fitter<'_> {
    fn objective(&self, set: &[usize], eff: &Efficiency, reserve: f64) -> f64 {
        let losses: Vec<f64> = set
            .par_iter()
            .map(|&i| {
                compare(&self.cases[i], eff, reserve, self.seed, Source::Device).map_or(f64::INFINITY, |c| loss(&c))
            })
            .collect();
        losses.iter().sum::<f64>() / losses.len() as f64
    }

    /// Median fitted reserve over the cases of `set` that recorded their KV blocks.
    fn reserve(&self, set: &[usize]) -> f64 {
        let mut v: Vec<f64> =
            set.iter().filter_map(|&i| self.cases[i].case.kv_reserve_gb(&self.cases[i].shape)).collect();
        if v.is_empty() { 0.0 } else { median(&mut v).max(0.0) }
    }

    fn fit(&self, set: &[usize], start: &Efficiency, first_round: usize, rounds: usize) -> (Efficiency, f64, f64) {
        let reserve = self.reserve(set);
        let (e, f) =
            coordinate_search(start, first_round, rounds, self.steps, &mut |e| self.objective(set, e, reserve));
        (e, f, reserve)
    }
}

fn entry(kind: &str, fitter: &Fitter, set: &[usize], eff: Efficiency, reserve: f64, ins: &[Comparison]) -> Entry {
    let mean_log = |k: &str| {
        let v: Vec<f64> = set
            .iter()
            .map(|&i| {
                let m = &ins[i].metrics[k];
                (m.sim / m.measured).ln().abs()
            })
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let mut models: Vec<String> = set.iter().map(|&i| fitter.cases[i].model_ref.clone()).collect();
    models.sort();
    models.dedup();
    Entry {
        kind: kind.to_string(),
        efficiency: eff,
        kv_reserve_gb: reserve,
        cases: set.iter().map(|&i| fitter.cases[i].case_ref.clone()).collect(),
        models,
        fit_ttft: mean_log("ttft_ms.mean"),
        fit_e2e: mean_log("e2e_ms.mean"),
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// Runs the command.
pub fn run(args: &CalibrateLlmArgs) -> Result<()> {
    if args.rounds == 0 || args.steps == 0 {
        return Err(input("--rounds and --steps must be at least 1"));
    }
    let cases = prepare_all(&args.cases, args.models.as_deref(), args.seed)?;
    let fitter = Fitter { cases: &cases, seed: args.seed, rounds: args.rounds, steps: args.steps };
    let kinds: Vec<String> = cases.iter().map(|p| p.case.server.gpu.clone()).collect();
    let all: Vec<usize> = (0..cases.len()).collect();
    eprintln!(
        "fitting {} parameters on {} cases ({} rounds, {} steps)…",
        PARAMS.len(),
        cases.len(),
        args.rounds,
        args.steps
    );
    let (pooled_eff, pooled_f, pooled_reserve) = fitter.fit(&all, &Efficiency::default(), 0, fitter.rounds);
    let mut by_kind: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, k) in kinds.iter().enumerate() {
        by_kind.entry(k.clone()).or_default().push(i);
    }
    by_kind.retain(|k, set| {
        let keep = set.len() >= MIN_DEVICE_CASES;
        if !keep {
            eprintln!("  {k}: {} case(s), fewer than {MIN_DEVICE_CASES}: uses the pooled parameters", set.len());
        }
        keep
    });
    let mut fitted: BTreeMap<String, (Efficiency, f64, f64)> = BTreeMap::new();
    for (k, set) in &by_kind {
        let f = fitter.fit(set, &pooled_eff, 0, fitter.rounds);
        eprintln!("  {k}: {} cases, objective {:.4}", set.len(), f.1);
        fitted.insert(k.clone(), f);
    }
    // In-sample: every case with its kind's parameters.
    let insample: Vec<Comparison> = (0..cases.len())
        .into_par_iter()
        .map(|i| match fitted.get(&kinds[i]) {
            Some((e, _, r)) => compare(&cases[i], e, *r, args.seed, Source::Device),
            None => compare(&cases[i], &pooled_eff, pooled_reserve, args.seed, Source::Pooled),
        })
        .collect::<Result<_>>()?;
    let pooled_ins: Vec<Comparison> = (0..cases.len())
        .into_par_iter()
        .map(|i| compare(&cases[i], &pooled_eff, pooled_reserve, args.seed, Source::Pooled))
        .collect::<Result<_>>()?;
    // Leave one out.
    let loo: Option<Vec<Comparison>> = if args.no_loo {
        None
    } else {
        let sets = leave_one_out_sets(&kinds);
        let bar = ProgressBar::new(sets.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("leave-one-out [{elapsed_precise}] {wide_bar} {pos}/{len} folds")
                .expect("a valid template"),
        );
        let mut out = Vec::new();
        for (i, (train, source)) in sets.iter().enumerate() {
            // From scratch, as the calibration made without case i would be.
            let (e, _, r) = fitter.fit(train, &Efficiency::default(), 0, fitter.rounds);
            out.push(compare(&cases[i], &e, r, args.seed, *source)?);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Some(out)
    };

    println!("{:<48} {:>9} {:>9} {:>9} {:>9}", "case", "ttft in", "e2e in", "ttft loo", "e2e loo");
    for (i, p) in cases.iter().enumerate() {
        let err = |c: &Comparison, k: &str| pct(c.metrics[k].relative_error);
        let (lt, le) = match &loo {
            Some(l) => (err(&l[i], "ttft_ms.mean"), err(&l[i], "e2e_ms.mean")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<48} {:>9} {:>9} {:>9} {:>9}",
            p.case.id,
            err(&insample[i], "ttft_ms.mean"),
            err(&insample[i], "e2e_ms.mean"),
            lt,
            le
        );
    }
    let ins_med = median_abs_errors(&insample);
    let pooled_med = median_abs_errors(&pooled_ins);
    let loo_med = loo.as_deref().map(median_abs_errors);
    println!("\n{:<20} {:>6} {:>12} {:>12} {:>12}", "metric", "cases", "in-sample", "pooled", "leave-1-out");
    for (k, (m, n)) in &ins_med {
        let l = loo_med.as_ref().map_or("-".to_string(), |l| format!("{:.1}%", l[k].0 * 100.0));
        println!("{k:<20} {n:>6} {:>11.1}% {:>11.1}% {:>12}", m * 100.0, pooled_med[k].0 * 100.0, l);
    }
    println!("\nparameters (objective = mean robust |log error| of mean TTFT and E2E):");
    let show = |k: &str, e: &Efficiency, f: f64, r: f64| {
        let values: Vec<String> =
            PARAMS.iter().enumerate().map(|(i, (n, _, _))| format!("{n} {:.3}", param(e, i))).collect();
        println!("  {k:<9} {}  kv reserve {r:.2} GB  objective {f:.4}", values.join("  "));
    };
    show("pooled", &pooled_eff, pooled_f, pooled_reserve);
    for (k, (e, f, r)) in &fitted {
        show(k, e, *f, *r);
    }

    let version = code_version();
    let calib = Calibration {
        schema: SCHEMA.to_string(),
        servesim: version.servesim.clone(),
        command: format!(
            "servesim calibrate-llm {} --out {} --seed {} --rounds {} --steps {}",
            args.cases.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
            args.out.display(),
            args.seed,
            args.rounds,
            args.steps
        ),
        objective: "mean over cases of (|ln(sim/measured)| of mean TTFT + of mean E2E) / 2, each |x| through the robust loss min(|x|, c) + 0.05 (|x| - c)+, c = ln 1.25"
            .to_string(),
        checks: cases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = |c: &Comparison, k: &str| c.metrics[k].clone();
                let loo_i = loo.as_ref().map(|l| &l[i]);
                CaseCheck {
                    case: p.case.id.clone(),
                    gpu: p.case.server.gpu.clone(),
                    model: p.case.server.model.clone(),
                    ttft_measured: m(&insample[i], "ttft_ms.mean").measured,
                    e2e_measured: m(&insample[i], "e2e_ms.mean").measured,
                    ttft_in_sample: m(&insample[i], "ttft_ms.mean").sim,
                    e2e_in_sample: m(&insample[i], "e2e_ms.mean").sim,
                    ttft_loo: loo_i.map(|c| m(c, "ttft_ms.mean").sim),
                    e2e_loo: loo_i.map(|c| m(c, "e2e_ms.mean").sim),
                    loo_source: loo_i.map(|c| c.calibration.clone()),
                }
            })
            .collect(),
        pooled: entry("pooled", &fitter, &all, pooled_eff.clone(), pooled_reserve, &pooled_ins),
        devices: by_kind
            .iter()
            .map(|(k, set)| {
                let (e, _, r) = &fitted[k];
                entry(k, &fitter, set, e.clone(), *r, &insample)
            })
            .collect(),
    };
    let text = format!(
        "# Written by `servesim calibrate-llm` (servesim {}, commit {}); regenerate, do not edit.\n{}",
        version.servesim,
        version.git_commit,
        calib.to_toml()
    );
    Calibration::parse(&text).map_err(|e| anyhow::anyhow!("the calibration written does not read back: {e}"))?;
    artifact::write_file(&args.out, text.as_bytes())
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    println!("\nwrote {}", args.out.display());
    Ok(())
}
