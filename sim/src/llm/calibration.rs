//! Fitted iteration-model parameters per device kind (`servesim calibrate-llm` writes them; a
//! copy fitted on the shared ground-truth cases is built in, `calibration.toml`).
//!
//! A calibration holds one [`Efficiency`] per device kind it saw and a `pooled` one fitted on
//! every case. Scenarios without `[llm.efficiency]` take the built-in entry of their device
//! kind (and [`Efficiency::default`] for kinds it has not seen); `servesim groundtruth` takes
//! the device entry, else the pooled one, and says which. A calibration of another schema or
//! servesim version is refused as stale.

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
/// entry, else [`Efficiency::default`].
pub fn builtin_efficiency(kind: &str) -> Efficiency {
    let c = Calibration::builtin();
    match c.entry(kind) {
        (e, Source::Device) => e.efficiency.clone(),
        (_, Source::Pooled) => Efficiency::default(),
    }
}

/// The free parameters, in the order the search visits them, with the interval searched:
/// compute and memory efficiency, per-iteration overhead (ms), per-sequence overhead (µs), the
/// achieved share of the link bandwidth in all-reduces, and the per-request front-end latency (ms).
pub const PARAMS: [(&str, f64, f64); 6] = [
    ("compute", 0.05, 1.0),
    ("memory", 0.2, 1.0),
    ("overhead_ms", 0.0, 20.0),
    ("seq_overhead_us", 0.0, 300.0),
    ("comm", 0.25, 2.0),
    ("request_overhead_ms", 0.0, 100.0),
];

fn param(e: &Efficiency, i: usize) -> f64 {
    [e.compute, e.memory, e.overhead_ms, e.seq_overhead_us, e.comm, e.request_overhead_ms][i]
}

fn set_param(e: &mut Efficiency, i: usize, v: f64) {
    match i {
        0 => e.compute = v,
        1 => e.memory = v,
        2 => e.overhead_ms = v,
        3 => e.seq_overhead_us = v,
        4 => e.comm = v,
        _ => e.request_overhead_ms = v,
    }
}

/// A term of the objective: |ln(sim / measured)|, capped at ln 2 so that a case the model
/// cannot reach (an overloaded run whose clients timed out) weighs no more than a factor of two.
pub fn log_error(measured: f64, sim: f64) -> f64 {
    if !(measured > 0.0 && sim > 0.0 && sim.is_finite()) {
        return std::f64::consts::LN_2;
    }
    (sim / measured).ln().abs().min(std::f64::consts::LN_2)
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

/// The training set of each case in leave-one-out cross-validation: the other cases of its
/// device kind, or every other case (pooled) when its kind has no other case.
pub fn leave_one_out_sets(kinds: &[String]) -> Vec<(Vec<usize>, Source)> {
    (0..kinds.len())
        .map(|i| {
            let same: Vec<usize> = (0..kinds.len()).filter(|&j| j != i && kinds[j] == kinds[i]).collect();
            if same.is_empty() {
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
        // Minimum at compute 0.7, memory 0.9, overhead 3 ms, 40 µs per sequence, comm 1.3, 12 ms.
        let target = [0.7, 0.9, 3.0, 40.0, 1.3, 12.0];
        let mut calls = 0;
        let mut f = |e: &Efficiency| {
            calls += 1;
            (0..6).map(|i| ((param(e, i) - target[i]) / (PARAMS[i].2 - PARAMS[i].1)).powi(2)).sum::<f64>()
        };
        let (e, v) = coordinate_search(&Efficiency::default(), 0, 2, 20, &mut f);
        for (i, t) in target.iter().enumerate() {
            let tol = 1e-3 * (PARAMS[i].2 - PARAMS[i].1);
            assert!((param(&e, i) - t).abs() < tol, "{}: {} vs {t}", PARAMS[i].0, param(&e, i));
        }
        assert!(v < 1e-6);
        // One evaluation to start, then 2 + 20 per parameter and round.
        assert_eq!(calls, 1 + 2 * 6 * 22);
    }

    #[test]
    fn leave_one_out_holds_each_case_out_of_its_own_fit() {
        let kinds: Vec<String> = ["h100", "h100", "rtx", "h100"].iter().map(|s| s.to_string()).collect();
        let sets = leave_one_out_sets(&kinds);
        assert_eq!(sets[0], (vec![1, 3], Source::Device));
        assert_eq!(sets[3], (vec![0, 1], Source::Device));
        // The only rtx case is predicted from every other case.
        assert_eq!(sets[2], (vec![0, 1, 3], Source::Pooled));
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
        assert!((log_error(100.0, 150.0) - 1.5f64.ln()).abs() < 1e-12);
        assert_eq!(log_error(1.0, 1e9), std::f64::consts::LN_2);
        assert_eq!(log_error(1.0, 0.0), std::f64::consts::LN_2);
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
        assert_eq!(builtin_efficiency("no-such-gpu"), Efficiency::default());
        for e in &c.devices {
            assert_eq!(c.entry(&e.kind).1, Source::Device);
            assert_eq!(builtin_efficiency(&e.kind), e.efficiency);
        }
    }
}
