//! Fitting the LLM iteration model to ground-truth cases (`servesim calibrate-llm`): the
//! parameters per device kind with enough cases and once pooled over all, by coordinate search
//! over parallel simulations of every case; in-sample comparisons, and leave-one-out ones made by
//! fitting from scratch without each case.

use crate::error::input;
use crate::ops::groundtruth::{Prepared, prepare_all};
use crate::ops::progress::{Progress, Reporter};
use crate::rundir::code_version;
use anyhow::{Context, Result};
use rayon::prelude::*;
use sim::groundtruth::{Comparison, median};
use sim::llm::calibration::{
    Calibration, CaseCheck, Entry, MIN_DEVICE_CASES, SCHEMA, Source, coordinate_search, leave_one_out_sets, log_error,
};
use sim::llm::perf::Efficiency;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A calibration to fit.
#[derive(Clone, Debug)]
pub struct CalibrateLlmRequest {
    /// Case directories.
    pub cases: Vec<PathBuf>,
    /// Directory of the models' config.json files (default: CASE_DIR/../../models).
    pub models: Option<PathBuf>,
    /// Seed of generated workloads.
    pub seed: u64,
    /// Rounds of the coordinate search (at least 1).
    pub rounds: usize,
    /// Golden-section steps per parameter and round (at least 1).
    pub steps: usize,
    /// Cross-validate by leaving each case out (one fit per case: the long part).
    pub leave_one_out: bool,
    /// Where to write the calibration (atomically); `None` writes nothing.
    pub out: Option<PathBuf>,
    /// Progress over the fits (pooled, one per kind, one per left-out case).
    pub progress: Progress,
}

/// One fitted parameter set.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The parameters.
    pub efficiency: Efficiency,
    /// The objective they reach on their cases.
    pub objective: f64,
    /// Memory kept outside weights and KV, GB.
    pub kv_reserve_gb: f64,
}

/// A fitted calibration and the comparisons that judge it.
pub struct CalibratedLlm {
    /// The cases, in the order given.
    pub cases: Vec<Prepared>,
    /// The pooled fit (every case).
    pub pooled: Fit,
    /// One fit per device kind with at least [`MIN_DEVICE_CASES`] cases.
    pub devices: BTreeMap<String, Fit>,
    /// Kinds with too few cases (they use the pooled fit), with their case counts.
    pub too_few: Vec<(String, usize)>,
    /// Each case with its kind's parameters (the pooled ones when its kind has none).
    pub in_sample: Vec<Comparison>,
    /// Each case with the pooled parameters.
    pub pooled_in_sample: Vec<Comparison>,
    /// Each case predicted by parameters fitted without it (when asked for).
    pub leave_one_out: Option<Vec<Comparison>>,
    /// What was (or would be) written.
    pub calibration: Calibration,
    /// The file's text.
    pub text: String,
}

/// Simulates case `p` with `eff` and `reserve`.
pub fn compare(p: &Prepared, eff: &Efficiency, reserve: f64, seed: u64, source: Source) -> Result<Comparison> {
    let config = p
        .case
        .scenario_with(&p.shape, eff, reserve)
        .map_err(|e| input(format!("case {}: cannot build its scenario: {e}", p.case.id)))?;
    let s = sim::llm::run(config.resolve_llm()?, &mut p.requests.iter().cloned(), seed)?;
    Ok(p.case.compare(&s, source))
}

/// The objective's term of one comparison.
pub fn loss(c: &Comparison) -> f64 {
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

/// Fits the calibration `req` asks for; writes it when `req.out` is given.
pub fn calibrate_llm(req: &CalibrateLlmRequest) -> Result<CalibratedLlm> {
    if req.rounds == 0 || req.steps == 0 {
        return Err(input("--rounds and --steps must be at least 1"));
    }
    let cases = prepare_all(&req.cases, req.models.as_deref(), req.seed)?;
    let fitter = Fitter { cases: &cases, seed: req.seed, rounds: req.rounds, steps: req.steps };
    let kinds: Vec<String> = cases.iter().map(|p| p.case.server.gpu.clone()).collect();
    let all: Vec<usize> = (0..cases.len()).collect();
    let mut by_kind: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, k) in kinds.iter().enumerate() {
        by_kind.entry(k.clone()).or_default().push(i);
    }
    let too_few: Vec<(String, usize)> =
        by_kind.iter().filter(|(_, s)| s.len() < MIN_DEVICE_CASES).map(|(k, s)| (k.clone(), s.len())).collect();
    by_kind.retain(|_, set| set.len() >= MIN_DEVICE_CASES);
    let folds = if req.leave_one_out { cases.len() } else { 0 };
    let bar = Reporter::new(
        &req.progress,
        (1 + by_kind.len() + folds) as u64,
        "calibrate-llm [{elapsed_precise}] {wide_bar} {pos}/{len} fits",
        true,
    );
    let (pooled_eff, pooled_f, pooled_reserve) = fitter.fit(&all, &Efficiency::default(), 0, fitter.rounds);
    bar.inc();
    let mut fitted: BTreeMap<String, (Efficiency, f64, f64)> = BTreeMap::new();
    for (k, set) in &by_kind {
        fitted.insert(k.clone(), fitter.fit(set, &pooled_eff, 0, fitter.rounds));
        bar.inc();
    }
    // In-sample: every case with its kind's parameters.
    let in_sample: Vec<Comparison> = (0..cases.len())
        .into_par_iter()
        .map(|i| match fitted.get(&kinds[i]) {
            Some((e, _, r)) => compare(&cases[i], e, *r, req.seed, Source::Device),
            None => compare(&cases[i], &pooled_eff, pooled_reserve, req.seed, Source::Pooled),
        })
        .collect::<Result<_>>()?;
    let pooled_in_sample: Vec<Comparison> = (0..cases.len())
        .into_par_iter()
        .map(|i| compare(&cases[i], &pooled_eff, pooled_reserve, req.seed, Source::Pooled))
        .collect::<Result<_>>()?;
    let leave_one_out: Option<Vec<Comparison>> = if req.leave_one_out {
        let mut out = Vec::new();
        for (i, (train, source)) in leave_one_out_sets(&kinds).iter().enumerate() {
            // From scratch, as the calibration made without case i would be.
            let (e, _, r) = fitter.fit(train, &Efficiency::default(), 0, fitter.rounds);
            out.push(compare(&cases[i], &e, r, req.seed, *source)?);
            bar.inc();
        }
        Some(out)
    } else {
        None
    };
    bar.finish();
    let version = code_version();
    let out_name = req.out.as_ref().map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let calibration = Calibration {
        schema: SCHEMA.to_string(),
        servesim: version.servesim.clone(),
        command: format!(
            "servesim calibrate-llm {} --out {out_name} --seed {} --rounds {} --steps {}{}",
            req.cases.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
            req.seed,
            req.rounds,
            req.steps,
            if req.leave_one_out { "" } else { " --no-loo" }
        ),
        objective: "mean over cases of (|ln(sim/measured)| of mean TTFT + of mean E2E) / 2, each |x| through the robust loss min(|x|, c) + 0.05 (|x| - c)+, c = ln 1.25"
            .to_string(),
        checks: cases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = |c: &Comparison, k: &str| c.metrics[k].clone();
                let loo_i = leave_one_out.as_ref().map(|l| &l[i]);
                CaseCheck {
                    case: p.case.id.clone(),
                    gpu: p.case.server.gpu.clone(),
                    model: p.case.server.model.clone(),
                    ttft_measured: m(&in_sample[i], "ttft_ms.mean").measured,
                    e2e_measured: m(&in_sample[i], "e2e_ms.mean").measured,
                    ttft_in_sample: m(&in_sample[i], "ttft_ms.mean").sim,
                    e2e_in_sample: m(&in_sample[i], "e2e_ms.mean").sim,
                    ttft_loo: loo_i.map(|c| m(c, "ttft_ms.mean").sim),
                    e2e_loo: loo_i.map(|c| m(c, "e2e_ms.mean").sim),
                    loo_source: loo_i.map(|c| c.calibration.clone()),
                }
            })
            .collect(),
        pooled: entry("pooled", &fitter, &all, pooled_eff.clone(), pooled_reserve, &pooled_in_sample),
        devices: by_kind
            .iter()
            .map(|(k, set)| {
                let (e, _, r) = &fitted[k];
                entry(k, &fitter, set, e.clone(), *r, &in_sample)
            })
            .collect(),
    };
    let text = format!(
        "# Written by `servesim calibrate-llm` (servesim {}, commit {}); regenerate, do not edit.\n{}",
        version.servesim,
        version.git_commit,
        calibration.to_toml()
    );
    Calibration::parse(&text).map_err(|e| anyhow::anyhow!("the calibration written does not read back: {e}"))?;
    if let Some(out) = &req.out {
        artifact::write_file(out, text.as_bytes()).with_context(|| format!("{}: cannot write", out.display()))?;
    }
    let fit = |(e, f, r): (Efficiency, f64, f64)| Fit { efficiency: e, objective: f, kv_reserve_gb: r };
    Ok(CalibratedLlm {
        pooled: fit((pooled_eff, pooled_f, pooled_reserve)),
        devices: fitted.into_iter().map(|(k, v)| (k, fit(v))).collect(),
        too_few,
        in_sample,
        pooled_in_sample,
        leave_one_out,
        calibration,
        text,
        cases,
    })
}
