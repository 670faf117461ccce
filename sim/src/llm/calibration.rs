//! Fitted iteration-model parameters per device kind (`servesim calibrate-llm` writes them; a
//! copy fitted on the shared ground-truth cases is built in, `calibration.toml`).
//!
//! A calibration holds one [`Efficiency`] per device kind it saw often enough
//! ([`MIN_DEVICE_CASES`]) and a `pooled` one fitted on every case. Scenarios without
//! `[llm.efficiency]` take the built-in entry of their device kind, else the pooled one;
//! `servesim groundtruth` does the same and says which. It also records, per case, the
//! measured means, the in-sample fit and the leave-one-out prediction (`[[check]]`): the
//! evidence of its accuracy, made by the command that wrote it. A calibration of another schema
//! or servesim version is refused as stale.

use super::perf::Efficiency;
use serde::{Deserialize, Serialize};

/// The schema tag of a calibration file.
pub const SCHEMA: &str = "servesim.llm-calibration/1";

/// The built-in calibration's text.
pub const BUILTIN: &str = include_str!("calibration.toml");

/// A calibration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// [`SCHEMA`].
    pub schema: String,
    /// servesim version that wrote it.
    pub servesim: String,
    /// The command that wrote it.
    #[serde(default)]
    pub command: String,
    /// What the fit minimised.
    #[serde(default)]
    pub objective: String,
    /// Fitted on every case.
    pub pooled: Entry,
    /// Fitted on each device kind's cases.
    #[serde(default, rename = "device")]
    pub devices: Vec<Entry>,
    /// Per case: measured, in-sample and leave-one-out means, as `calibrate-llm` computed them.
    #[serde(default, rename = "check")]
    pub checks: Vec<CaseCheck>,
}

/// One case's means as measured, as fitted (in sample) and as predicted by parameters fitted
/// without it (leave-one-out), ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseCheck {
    /// Case id.
    pub case: String,
    /// Its device kind.
    pub gpu: String,
    /// Its model.
    pub model: String,
    /// Mean TTFT, measured.
    pub ttft_measured: f64,
    /// Mean E2E, measured.
    pub e2e_measured: f64,
    /// Mean TTFT with the calibration's own parameters.
    pub ttft_in_sample: f64,
    /// Mean E2E with the calibration's own parameters.
    pub e2e_in_sample: f64,
    /// Mean TTFT predicted without the case (absent with `--no-loo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_loo: Option<f64>,
    /// Mean E2E predicted without the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_loo: Option<f64>,
    /// `device` or `pooled`: the entry its leave-one-out prediction used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loo_source: Option<String>,
}

/// The parameters of one device kind (or of all, `pooled`) and what they were fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Device kind (`pooled` for the pooled entry).
    pub kind: String,
    /// The parameters.
    pub efficiency: Efficiency,
    /// GPU memory the engine keeps outside weights and KV (activations, CUDA graphs), GB,
    /// fitted from the cases that recorded their KV blocks (0 if none did).
    #[serde(default)]
    pub kv_reserve_gb: f64,
    /// `id sha256:<hash of case.toml>` of each case fitted on.
    #[serde(default)]
    pub cases: Vec<String>,
    /// `name sha256:<hash of config.json>` (or `name builtin`) of each model of those cases.
    #[serde(default)]
    pub models: Vec<String>,
    /// In-sample mean |ln(sim / measured)| of mean TTFT and of mean E2E.
    #[serde(default)]
    pub fit_ttft: f64,
    /// See `fit_ttft`.
    #[serde(default)]
    pub fit_e2e: f64,
}

/// Which entry applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The device kind's own entry.
    Device,
    /// The pooled entry (the kind was not calibrated).
    Pooled,
}

impl Source {
    /// `device` or `pooled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::Pooled => "pooled",
        }
    }
}

/// The version calibrations must match: major.minor of this crate.
fn version_key(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

impl Calibration {
    /// Parses and checks a calibration; errors name the key (and say why it is stale).
    pub fn parse(text: &str) -> Result<Calibration, String> {
        let c: Calibration = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        if c.schema != SCHEMA {
            return Err(format!("`schema`: stale calibration: `{}`, this servesim reads `{SCHEMA}`", c.schema));
        }
        let ours = env!("CARGO_PKG_VERSION");
        if version_key(&c.servesim) != version_key(ours) {
            return Err(format!(
                "`servesim`: stale calibration: written by servesim {}, this is {ours}; run calibrate-llm again",
                c.servesim
            ));
        }
        for (i, e) in c.devices.iter().enumerate() {
            e.efficiency.validate(&format!("device[{i}].efficiency")).map_err(|e| e.to_string())?;
        }
        c.pooled.efficiency.validate("pooled.efficiency").map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The built-in calibration.
    pub fn builtin() -> Calibration {
        Calibration::parse(BUILTIN).expect("the built-in calibration parses")
    }

    /// The entry of device kind `kind`, else the pooled one.
    pub fn entry(&self, kind: &str) -> (&Entry, Source) {
        match self.devices.iter().find(|e| e.kind == kind) {
            Some(e) => (e, Source::Device),
            None => (&self.pooled, Source::Pooled),
        }
    }

    /// TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a calibration serializes")
    }
}

/// The built-in efficiency of device kind `kind` for scenarios that give none: its calibrated
/// entry, else the pooled one (fitted over every case).
pub fn builtin_efficiency(kind: &str) -> Efficiency {
    Calibration::builtin().entry(kind).0.efficiency.clone()
}

/// The free parameters, in the order the search visits them, with the interval searched:
/// compute, attention, expert-layer (moe), memory and KV-cache memory (kv_memory) efficiency,
/// per-iteration overhead (ms), per-layer overhead (µs),
/// per-sequence overhead (µs), the achieved share of the link bandwidth in all-reduces, and the
/// per-request front-end latency (ms).
pub const PARAMS: [(&str, f64, f64); 10] = [
    ("compute", 0.05, 1.0),
    ("attention", 0.05, 1.0),
    ("moe", 0.2, 1.0),
    ("memory", 0.2, 1.0),
    ("kv_memory", 0.2, 1.0),
    ("overhead_ms", 0.0, 20.0),
    ("layer_overhead_us", 0.0, 200.0),
    ("seq_overhead_us", 0.0, 300.0),
    ("comm", 0.25, 2.0),
    ("request_overhead_ms", 0.0, 100.0),
];

/// The value of free parameter `i` ([`PARAMS`] order) of `e`.
pub fn param(e: &Efficiency, i: usize) -> f64 {
    [
        e.compute,
        e.attention.unwrap_or(e.compute),
        e.moe,
        e.memory,
        e.kv_memory.unwrap_or(e.memory),
        e.overhead_ms,
        e.layer_overhead_us,
        e.seq_overhead_us,
        e.comm,
        e.request_overhead_ms,
    ][i]
}

fn set_param(e: &mut Efficiency, i: usize, v: f64) {
    match i {
        0 => e.compute = v,
        1 => e.attention = Some(v),
        2 => e.moe = v,
        3 => e.memory = v,
        4 => e.kv_memory = Some(v),
        5 => e.overhead_ms = v,
        6 => e.layer_overhead_us = v,
        7 => e.seq_overhead_us = v,
        8 => e.comm = v,
        _ => e.request_overhead_ms = v,
    }
}

/// The knee of the objective's robust loss: ln 1.25.
pub const LOSS_SCALE: f64 = 0.223_143_551_314_209_7;

/// Slope of the robust loss past its knee.
pub const LOSS_TAIL_SLOPE: f64 = 0.05;

/// A term of the objective: ρ(x) = min(x, c) + 0.05 · (x − c)⁺ of x = |ln(sim / measured)|, c =
/// [`LOSS_SCALE`] (x capped at ln 100; a sim that produced no value counts as the cap). Past 25 %
/// a term barely grows: a run the model cannot reach (a server past its capacity, where a few
/// per cent of iteration time decide whether the queue grows) does not drag the parameters away
/// from the many runs it can — the fit aims where the median error is measured — yet the slope
/// never vanishes, so the search still sees which way a far-off case improves.
pub fn log_error(measured: f64, sim: f64) -> f64 {
    let cap = 100f64.ln();
    let x = if measured > 0.0 && sim > 0.0 && sim.is_finite() { (sim / measured).ln().abs().min(cap) } else { cap };
    x.min(LOSS_SCALE) + LOSS_TAIL_SLOPE * (x - LOSS_SCALE).max(0.0)
}

/// Coordinate search: each parameter in turn by golden-section search over its interval
/// ([`PARAMS`]; in round r > 0, ± `1 / (2 · 4^r)` of it around the current value), keeping the
/// current value unless the search found a lower objective. Rounds `first_round..rounds` run (a
/// warm start from a fitted point skips the wide first round). `steps` golden-section steps per
/// parameter (the interval shrinks by 0.618 each). Returns the parameters and their objective.
/// Deterministic: the same objective gives the same result.
pub fn coordinate_search(
    start: &Efficiency,
    first_round: usize,
    rounds: usize,
    steps: usize,
    objective: &mut dyn FnMut(&Efficiency) -> f64,
) -> (Efficiency, f64) {
    let mut best = start.clone();
    let mut best_f = objective(&best);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for round in first_round..rounds {
        for (i, &(_, lo0, hi0)) in PARAMS.iter().enumerate() {
            let span = (hi0 - lo0) / 4f64.powi(round as i32);
            let cur = param(&best, i);
            let (mut lo, mut hi) =
                if round == 0 { (lo0, hi0) } else { ((cur - span / 2.0).max(lo0), (cur + span / 2.0).min(hi0)) };
            let mut eval = |v: f64| {
                let mut e = best.clone();
                set_param(&mut e, i, v);
                objective(&e)
            };
            let mut a = hi - phi * (hi - lo);
            let mut b = lo + phi * (hi - lo);
            let (mut fa, mut fb) = (eval(a), eval(b));
            for _ in 0..steps {
                if fa <= fb {
                    hi = b;
                    b = a;
                    fb = fa;
                    a = hi - phi * (hi - lo);
                    fa = eval(a);
                } else {
                    lo = a;
                    a = b;
                    fa = fb;
                    b = lo + phi * (hi - lo);
                    fb = eval(b);
                }
            }
            let (v, f) = if fa <= fb { (a, fa) } else { (b, fb) };
            if f < best_f {
                set_param(&mut best, i, v);
                best_f = f;
            }
        }
    }
    (best, best_f)
}

/// Cases a device kind needs for an entry of its own; a kind with fewer uses the pooled
/// parameters (one or two runs cannot tell a device's efficiency from their load).
pub const MIN_DEVICE_CASES: usize = 3;

/// The training set of each case in leave-one-out cross-validation: the other cases of its
/// device kind when they are enough for an entry ([`MIN_DEVICE_CASES`]), else every other case
/// (pooled) — the calibration that would have been made without it.
pub fn leave_one_out_sets(kinds: &[String]) -> Vec<(Vec<usize>, Source)> {
    (0..kinds.len())
        .map(|i| {
            let same: Vec<usize> = (0..kinds.len()).filter(|&j| j != i && kinds[j] == kinds[i]).collect();
            if same.len() < MIN_DEVICE_CASES {
                ((0..kinds.len()).filter(|&j| j != i).collect(), Source::Pooled)
            } else {
                (same, Source::Device)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_finds_the_minimum_of_a_separable_bowl() {
        // Minimum at compute 0.7, attention 0.45, moe 0.6, memory 0.9, KV memory 0.55, overhead
        // 3 ms, 25 µs per layer, 40 µs per sequence, comm 1.3, 12 ms.
        let target = [0.7, 0.45, 0.6, 0.9, 0.55, 3.0, 25.0, 40.0, 1.3, 12.0];
        let mut calls = 0;
        let mut f = |e: &Efficiency| {
            calls += 1;
            (0..10).map(|i| ((param(e, i) - target[i]) / (PARAMS[i].2 - PARAMS[i].1)).powi(2)).sum::<f64>()
        };
        // Attention and KV memory set apart from compute and memory from the start (unset, they
        // follow them, which couples the two in the first search of each).
        let start = Efficiency { attention: Some(0.5), kv_memory: Some(0.8), ..Efficiency::default() };
        let (e, v) = coordinate_search(&start, 0, 2, 20, &mut f);
        for (i, t) in target.iter().enumerate() {
            let tol = 1e-3 * (PARAMS[i].2 - PARAMS[i].1);
            assert!((param(&e, i) - t).abs() < tol, "{}: {} vs {t}", PARAMS[i].0, param(&e, i));
        }
        assert!(v < 1e-6);
        // One evaluation to start, then 2 + 20 per parameter and round.
        assert_eq!(calls, 1 + 2 * 10 * 22);
    }

    #[test]
    fn leave_one_out_holds_each_case_out_of_its_own_fit() {
        let kinds: Vec<String> = ["h100", "h100", "rtx", "h100", "h100"].iter().map(|s| s.to_string()).collect();
        let sets = leave_one_out_sets(&kinds);
        assert_eq!(sets[0], (vec![1, 3, 4], Source::Device));
        assert_eq!(sets[4], (vec![0, 1, 3], Source::Device));
        // The only rtx case is predicted from every other case.
        assert_eq!(sets[2], (vec![0, 1, 3, 4], Source::Pooled));
        // Two other cases of a kind are too few for an entry of its own.
        let three: Vec<String> = ["a", "a", "a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(leave_one_out_sets(&three)[0], (vec![1, 2, 3], Source::Pooled));
        // Folds of four cases (h100, h100, rtx, h100), as if one other case made an entry.
        let sets = [(vec![1, 3], ()), (vec![0, 3], ()), (vec![0, 1, 3], ()), (vec![0, 1], ())];
        // LOO on a tiny set: each case's own "measured" optimum is its compute efficiency; a fit
        // is the training mean; the held-out prediction error is known by hand.
        let optimum = [0.4, 0.6, 0.9, 0.8];
        let errors: Vec<f64> = sets
            .iter()
            .enumerate()
            .map(|(i, (train, _))| {
                let mut f = |e: &Efficiency| train.iter().map(|&j| (e.compute - optimum[j]).powi(2)).sum::<f64>();
                let (e, _) = coordinate_search(&Efficiency::default(), 0, 1, 40, &mut f);
                e.compute - optimum[i]
            })
            .collect();
        // Case 0: mean(0.6, 0.8) − 0.4 = 0.3; 1: mean(0.4, 0.8) − 0.6 = 0; 2: mean(0.4, 0.6, 0.8)
        // − 0.9 = −0.3; 3: mean(0.4, 0.6) − 0.8 = −0.3.
        for (got, want) in errors.iter().zip([0.3, 0.0, -0.3, -0.3]) {
            assert!((got - want).abs() < 1e-6, "{errors:?}");
        }
    }

    #[test]
    fn log_errors_are_symmetric_and_capped() {
        assert!((log_error(100.0, 200.0) - log_error(200.0, 100.0)).abs() < 1e-12);
        // Its own log error up to 25 %, then a twentieth of the rest.
        let c = 1.25f64.ln();
        assert!((LOSS_SCALE - c).abs() < 1e-15);
        assert!((log_error(100.0, 120.0) - 1.2f64.ln()).abs() < 1e-12);
        assert!((log_error(100.0, 200.0) - (c + 0.05 * (2f64.ln() - c))).abs() < 1e-12);
        // Monotone, never flat below the cap; no value = the cap.
        assert!(log_error(1.0, 50.0) > log_error(1.0, 20.0));
        assert_eq!(log_error(1.0, 1e9), log_error(1.0, 100.0));
        assert_eq!(log_error(1.0, 0.0), log_error(1.0, 100.0));
    }

    #[test]
    fn stale_calibrations_are_refused_naming_the_key() {
        let mut c = Calibration::builtin();
        c.schema = "servesim.llm-calibration/0".into();
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().starts_with("`schema`: stale"));
        let mut c = Calibration::builtin();
        c.servesim = "99.0.0".into();
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().starts_with("`servesim`: stale"));
        let mut c = Calibration::builtin();
        c.pooled.efficiency.compute = 2.0;
        assert!(Calibration::parse(&c.to_toml()).unwrap_err().contains("pooled.efficiency.compute"));
    }

    #[test]
    fn unknown_kinds_fall_back_to_the_pooled_entry() {
        let c = Calibration::builtin();
        assert_eq!(c.entry("no-such-gpu").1, Source::Pooled);
        assert_eq!(builtin_efficiency("no-such-gpu"), c.pooled.efficiency);
        for e in &c.devices {
            assert_eq!(c.entry(&e.kind).1, Source::Device);
            assert_eq!(builtin_efficiency(&e.kind), e.efficiency);
        }
    }
}
