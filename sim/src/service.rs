//! Service-time models: how long one batch (of one or more requests) occupies one server.
//!
//! Distributions (`exponential`, `deterministic`, `log_normal`, `empirical`) do not depend on the
//! batch size; batch models (`affine`, `affine_floor`, `table`) are deterministic functions of it.
//! A table is the format calibration profiles use: measured (batch size, milliseconds) points,
//! linearly interpolated between points and extrapolated from the last two beyond the end.

use crate::check::{ConfigError, non_negative, positive};
use rand::RngExt;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::{Deserialize, Serialize};
use traces::SimTime;
use traces::rng::StreamRng;

/// A service-time distribution. Times are in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceSpec {
    /// Exponential with the given mean.
    Exponential {
        /// Mean, ms.
        mean_ms: f64,
    },
    /// Always the same time.
    Deterministic {
        /// The time, ms.
        ms: f64,
    },
    /// Lognormal with the given mean and coefficient of variation.
    LogNormal {
        /// Mean, ms.
        mean_ms: f64,
        /// Coefficient of variation (std / mean).
        cv: f64,
    },
    /// Resampled uniformly from measured times.
    Empirical {
        /// Measured times, ms; at least one.
        values_ms: Vec<f64>,
    },
    /// `a + b·B` for a batch of B requests.
    Affine {
        /// Fixed cost per batch, ms.
        a_ms: f64,
        /// Cost per request in the batch, ms.
        b_ms: f64,
    },
    /// `max(floor, a + b·B)`: a memory-bound floor under the affine compute cost.
    AffineFloor {
        /// Fixed cost per batch, ms.
        a_ms: f64,
        /// Cost per request in the batch, ms.
        b_ms: f64,
        /// Least time of any batch, ms.
        floor_ms: f64,
    },
    /// Measured points: batch sizes (strictly increasing, from 1 or more) and their times.
    Table {
        /// Batch sizes.
        batch: Vec<u32>,
        /// Time of a batch of that size, ms.
        ms: Vec<f64>,
    },
    /// Measured runs per batch size, resampled: a batch of size B draws one quantile u and takes
    /// the u-quantile of each neighbouring measured size, interpolated linearly in B. Keeps the
    /// real spread (a calibration's `samples_ms`), which a table of medians loses.
    TableSamples {
        /// Batch sizes (strictly increasing, from 1 or more).
        batch: Vec<u32>,
        /// Timed runs of each size, ms.
        samples_ms: Vec<Vec<f64>>,
    },
}

impl ServiceSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match self {
            ServiceSpec::Exponential { mean_ms } => positive(&format!("{key}.mean_ms"), *mean_ms),
            ServiceSpec::Deterministic { ms } => positive(&format!("{key}.ms"), *ms),
            ServiceSpec::LogNormal { mean_ms, cv } => {
                positive(&format!("{key}.mean_ms"), *mean_ms)?;
                positive(&format!("{key}.cv"), *cv)
            }
            ServiceSpec::Empirical { values_ms } => positive_list(&format!("{key}.values_ms"), values_ms),
            ServiceSpec::Affine { a_ms, b_ms } => {
                non_negative(&format!("{key}.a_ms"), *a_ms)?;
                non_negative(&format!("{key}.b_ms"), *b_ms)?;
                positive(&format!("{key}.a_ms + b_ms"), a_ms + b_ms)
            }
            ServiceSpec::AffineFloor { a_ms, b_ms, floor_ms } => {
                non_negative(&format!("{key}.a_ms"), *a_ms)?;
                non_negative(&format!("{key}.b_ms"), *b_ms)?;
                positive(&format!("{key}.floor_ms"), *floor_ms)
            }
            ServiceSpec::Table { batch, ms } => crate::check::check_points(key, "batch", "ms", batch, ms),
            ServiceSpec::TableSamples { batch, samples_ms } => {
                let medians: Vec<f64> = samples_ms.iter().map(|v| median(v)).collect();
                crate::check::check_points(key, "batch", "samples_ms", batch, &medians)?;
                for (i, v) in samples_ms.iter().enumerate() {
                    if v.is_empty() {
                        return Err(ConfigError::invalid(&format!("{key}.samples_ms[{i}]"), "needs at least one run"));
                    }
                    for (j, x) in v.iter().enumerate() {
                        positive(&format!("{key}.samples_ms[{i}][{j}]"), *x)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The same model with every time multiplied by `factor` (a machine that runs `factor`
    /// times slower; shapes, spreads and batch-size dependence kept).
    pub fn scaled(&self, factor: f64) -> ServiceSpec {
        let all = |v: &[f64]| v.iter().map(|x| x * factor).collect::<Vec<f64>>();
        match self {
            ServiceSpec::Exponential { mean_ms } => ServiceSpec::Exponential { mean_ms: mean_ms * factor },
            ServiceSpec::Deterministic { ms } => ServiceSpec::Deterministic { ms: ms * factor },
            ServiceSpec::LogNormal { mean_ms, cv } => ServiceSpec::LogNormal { mean_ms: mean_ms * factor, cv: *cv },
            ServiceSpec::Empirical { values_ms } => ServiceSpec::Empirical { values_ms: all(values_ms) },
            ServiceSpec::Affine { a_ms, b_ms } => ServiceSpec::Affine { a_ms: a_ms * factor, b_ms: b_ms * factor },
            ServiceSpec::AffineFloor { a_ms, b_ms, floor_ms } => {
                ServiceSpec::AffineFloor { a_ms: a_ms * factor, b_ms: b_ms * factor, floor_ms: floor_ms * factor }
            }
            ServiceSpec::Table { batch, ms } => ServiceSpec::Table { batch: batch.clone(), ms: all(ms) },
            ServiceSpec::TableSamples { batch, samples_ms } => ServiceSpec::TableSamples {
                batch: batch.clone(),
                samples_ms: samples_ms.iter().map(|v| all(v)).collect(),
            },
        }
    }

    /// Mean time of a batch of `b` requests, seconds.
    pub fn batch_mean_s(&self, b: usize) -> f64 {
        let b = b as f64;
        match self {
            ServiceSpec::Affine { a_ms, b_ms } => (a_ms + b_ms * b) / 1e3,
            ServiceSpec::AffineFloor { a_ms, b_ms, floor_ms } => floor_ms.max(a_ms + b_ms * b) / 1e3,
            ServiceSpec::Table { batch, ms } => interpolate(batch, ms, b) / 1e3,
            ServiceSpec::TableSamples { batch, samples_ms } => {
                let means: Vec<f64> =
                    samples_ms.iter().map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64).collect();
                interpolate(batch, &means, b) / 1e3
            }
            _ => self.mean_s(),
        }
    }

    /// Whether the time depends on the batch size.
    pub fn is_batch_model(&self) -> bool {
        matches!(
            self,
            ServiceSpec::Affine { .. }
                | ServiceSpec::AffineFloor { .. }
                | ServiceSpec::Table { .. }
                | ServiceSpec::TableSamples { .. }
        )
    }

    /// Mean service time of a single request, seconds.
    pub fn mean_s(&self) -> f64 {
        match self {
            ServiceSpec::Affine { .. }
            | ServiceSpec::AffineFloor { .. }
            | ServiceSpec::Table { .. }
            | ServiceSpec::TableSamples { .. } => self.batch_mean_s(1),
            ServiceSpec::Exponential { mean_ms } | ServiceSpec::LogNormal { mean_ms, .. } => mean_ms / 1e3,
            ServiceSpec::Deterministic { ms } => ms / 1e3,
            ServiceSpec::Empirical { values_ms } => values_ms.iter().sum::<f64>() / values_ms.len() as f64 / 1e3,
        }
    }

    /// Second moment E[S²] of a single request, seconds².
    pub fn second_moment_s2(&self) -> f64 {
        let m = self.mean_s();
        match self {
            ServiceSpec::Exponential { .. } => 2.0 * m * m,
            ServiceSpec::Deterministic { .. }
            | ServiceSpec::Affine { .. }
            | ServiceSpec::AffineFloor { .. }
            | ServiceSpec::Table { .. } => m * m,
            ServiceSpec::LogNormal { cv, .. } => m * m * (1.0 + cv * cv),
            ServiceSpec::TableSamples { batch, samples_ms } => {
                let i = batch.iter().position(|&b| b >= 1).unwrap_or(0);
                let v = &samples_ms[i];
                v.iter().map(|x| (x / 1e3) * (x / 1e3)).sum::<f64>() / v.len().max(1) as f64
            }
            ServiceSpec::Empirical { values_ms } => {
                values_ms.iter().map(|v| (v / 1e3) * (v / 1e3)).sum::<f64>() / values_ms.len() as f64
            }
        }
    }

    pub(crate) fn sampler(&self) -> ServiceSampler {
        match self {
            ServiceSpec::Exponential { mean_ms } => {
                ServiceSampler::Exponential(Exp::new(1.0 / (mean_ms * 1e6)).expect("validated positive mean"))
            }
            ServiceSpec::Deterministic { ms } => {
                ServiceSampler::Fixed(SimTime::from_millis_f64(*ms).unwrap_or(SimTime::MAX))
            }
            ServiceSpec::LogNormal { mean_ms, cv } => {
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = (mean_ms * 1e6).ln() - sigma2 / 2.0;
                ServiceSampler::LogNormal(LogNormal::new(mu, sigma2.sqrt()).expect("validated cv"))
            }
            ServiceSpec::Empirical { values_ms } => ServiceSampler::Empirical(
                values_ms.iter().map(|v| SimTime::from_millis_f64(*v).unwrap_or(SimTime::MAX)).collect(),
            ),
            ServiceSpec::TableSamples { batch, samples_ms } => ServiceSampler::Quantiles(
                batch.clone(),
                samples_ms
                    .iter()
                    .map(|v| {
                        let mut t: Vec<f64> = v.clone();
                        t.sort_by(f64::total_cmp);
                        t
                    })
                    .collect(),
            ),
            // Batch models are deterministic: precompute the common sizes.
            _ => ServiceSampler::ByBatch(
                (0..=256).map(|b| SimTime::from_secs_f64(self.batch_mean_s(b)).unwrap_or(SimTime::MAX)).collect(),
                self.clone(),
            ),
        }
    }
}

/// Piecewise-linear interpolation through (x, y) points, extrapolated from the end segments.
pub(crate) fn interpolate(xs: &[u32], ys: &[f64], x: f64) -> f64 {
    if xs.len() == 1 {
        return ys[0];
    }
    let i = xs.iter().position(|&v| f64::from(v) >= x).unwrap_or(xs.len() - 1).clamp(1, xs.len() - 1);
    let (x0, x1) = (f64::from(xs[i - 1]), f64::from(xs[i]));
    let y = ys[i - 1] + (ys[i] - ys[i - 1]) * (x - x0) / (x1 - x0);
    y.max(f64::MIN_POSITIVE)
}

/// A ready-to-draw service-time distribution (nanoseconds inside).
pub(crate) enum ServiceSampler {
    Exponential(Exp<f64>),
    Fixed(SimTime),
    LogNormal(LogNormal<f64>),
    Empirical(Vec<SimTime>),
    /// Deterministic in the batch size: a table for sizes 0..=256, the formula beyond.
    ByBatch(Vec<SimTime>, ServiceSpec),
    /// Measured runs per batch size, sorted (ms): one quantile drawn, interpolated in the size.
    Quantiles(Vec<u32>, Vec<Vec<f64>>),
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut t = v.to_vec();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

impl ServiceSampler {
    /// Time of a batch of `batch` requests.
    pub(crate) fn sample(&self, rng: &mut StreamRng, batch: usize) -> SimTime {
        match self {
            ServiceSampler::ByBatch(table, spec) => table
                .get(batch)
                .copied()
                .unwrap_or_else(|| SimTime::from_secs_f64(spec.batch_mean_s(batch)).unwrap_or(SimTime::MAX)),
            ServiceSampler::Exponential(d) => SimTime::round_ns(d.sample(rng)),
            ServiceSampler::Fixed(t) => *t,
            ServiceSampler::LogNormal(d) => SimTime::round_ns(d.sample(rng)),
            ServiceSampler::Empirical(v) => v[rng.random_range(0..v.len())],
            ServiceSampler::Quantiles(sizes, sorted) => {
                let u: f64 = rng.random();
                let at = |i: usize| {
                    let v = &sorted[i];
                    v[((u * v.len() as f64) as usize).min(v.len() - 1)]
                };
                let ys: Vec<f64> = (0..sizes.len()).map(at).collect();
                SimTime::from_millis_f64(interpolate(sizes, &ys, batch as f64)).unwrap_or(SimTime::MAX)
            }
        }
    }
}

/// A non-empty list of positive finite numbers; errors name `key` or `key[i]`.
fn positive_list(key: &str, values: &[f64]) -> Result<(), ConfigError> {
    if values.is_empty() {
        return Err(ConfigError::invalid(key, "needs at least one value"));
    }
    for (i, v) in values.iter().enumerate() {
        positive(&format!("{key}[{i}]"), *v)?;
    }
    Ok(())
}

/// Stalls: moments when a server makes no progress — the worker thread preempted by the host or
/// a neighbour, a garbage-collection pause — as a process in wall time, not a property of a run.
/// A batch in service when a stall begins resumes where it was when the stall ends
/// (preemptive-resume), and a batch dispatched during a stall starts when it ends; a stall while
/// the server is idle costs nothing. Calibration measures them (`servesim calibrate`): on a
/// shared VM, a few ms about once a second, which sets a replay's p99 at low load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallSpec {
    /// Stalls per second of up time: the time from the end of one stall to the start of the next
    /// is exponential with this rate.
    pub rate_per_s: f64,
    /// Durations, resampled uniformly, ms; at least one.
    pub duration_ms: Vec<f64>,
    /// Stalls strike only while the server works (a stall that began while it idled is gone
    /// by the next dispatch): the rate is per second of busy time, as a calibration measures it.
    /// Default false: they strike in wall time, and a batch dispatched during one waits for its end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub busy_only: bool,
}

impl StallSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        positive(&format!("{key}.rate_per_s"), self.rate_per_s)?;
        positive_list(&format!("{key}.duration_ms"), &self.duration_ms)
    }

    /// Mean duration, s.
    pub fn mean_duration_s(&self) -> f64 {
        self.duration_ms.iter().sum::<f64>() / self.duration_ms.len() as f64 / 1e3
    }
}

/// Cold starts: a server that has been idle runs its next batches slower — on the machines
/// measured (BENCHMARKS.md), batches after an idle stretch of tens of ms ran up to 1.8× their
/// back-to-back time, and so did the batch right after such a slow one: the slowness builds up
/// while the server idles and wears off while it works (clock frequency, caches and TLBs refilled,
/// neighbours' data evicted). Modelled as a slowdown s per server, a multiple of the batch's warm
/// service time:
///
/// ```text
/// idle for g:            s ← S − (S − s) · exp(−(g / τ_idle)^k)  (builds up towards S)
/// a batch of warm time w: takes w · (1 + s)
/// after it, busy for d:   s ← s · exp(−d / τ_busy)               (wears off; τ_busy = 0: at once)
/// ```
///
/// The shape k ≥ 1 makes the build-up start late: measured here, gaps of up to 10 ms cost a few
/// per cent and 100 ms doubled the time (k = 1 is a plain exponential).
///
/// A server starts warm (s = 0: replay warms every session before its clock starts). A batch
/// dispatched the moment its server frees up (g = 0) pays what is left of the slowdown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdSpec {
    /// S: the slowdown of a server that has idled long (0.5: batches take 1.5× their warm time).
    pub slowdown: f64,
    /// τ_idle: idle time over which the slowdown builds up, ms.
    pub idle_tau_ms: f64,
    /// τ_busy: busy time over which it wears off, ms (0: gone after one batch).
    #[serde(default)]
    pub busy_tau_ms: f64,
    /// k: the shape of the build-up, ≥ 1 (default 1: exponential).
    #[serde(default = "one_f64")]
    pub shape: f64,
}

fn one_f64() -> f64 {
    1.0
}

impl ColdSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        non_negative(&format!("{key}.slowdown"), self.slowdown)?;
        positive(&format!("{key}.idle_tau_ms"), self.idle_tau_ms)?;
        non_negative(&format!("{key}.busy_tau_ms"), self.busy_tau_ms)?;
        if !(self.shape >= 1.0 && self.shape.is_finite()) {
            return Err(ConfigError::invalid(
                &format!("{key}.shape"),
                format!("must be at least 1, got {}", self.shape),
            ));
        }
        Ok(())
    }

    /// The slowdown after idling `gap_ms` with slowdown `s` left when the idling began.
    pub fn after_idle(&self, s: f64, gap_ms: f64) -> f64 {
        self.slowdown - (self.slowdown - s) * (-(gap_ms.max(0.0) / self.idle_tau_ms).powf(self.shape)).exp()
    }

    /// The slowdown left after working `busy_ms` with slowdown `s`.
    pub fn after_busy(&self, s: f64, busy_ms: f64) -> f64 {
        if self.busy_tau_ms == 0.0 { 0.0 } else { s * (-busy_ms.max(0.0) / self.busy_tau_ms).exp() }
    }

    /// The first two moments of the factor 1 + s of a batch that starts a busy period, when
    /// τ_busy = 0 (so s = 0 when the idling begins) and the idle gap I is exponential with rate
    /// `lambda` (1/s) — the idle period of a single server fed by Poisson arrivals:
    /// E[s] = S·(1 − L₁), E[s²] = S²·(1 − 2L₁ + L₂) with Lⱼ = E[exp(−j·(I/τ)^k)]. For k = 1,
    /// Lⱼ = λ/(λ + j/τ); otherwise Lⱼ is integrated numerically (Gauss–Laguerre, 64 points).
    pub fn factor_moments_exp_gap(&self, lambda: f64) -> (f64, f64) {
        let tau_s = self.idle_tau_ms / 1e3;
        let l = |j: f64| -> f64 {
            if self.shape == 1.0 {
                lambda / (lambda + j / tau_s)
            } else {
                // E[f(I)] = ∫ λe^(−λx) f(x) dx = ∫ e^(−y) f(y/λ) dy.
                gauss_laguerre_64(|y| (-j * (y / lambda / tau_s).powf(self.shape)).exp())
            }
        };
        let (l1, l2) = (l(1.0), l(2.0));
        let m1 = self.slowdown * (1.0 - l1);
        let m2 = self.slowdown * self.slowdown * (1.0 - 2.0 * l1 + l2);
        (1.0 + m1, 1.0 + 2.0 * m1 + m2)
    }
}

/// ∫₀^∞ e^(−y) f(y) dy by 64-point Gauss–Laguerre quadrature (nodes by Newton's method on the
/// Laguerre polynomial, computed once).
fn gauss_laguerre_64(f: impl Fn(f64) -> f64) -> f64 {
    static RULE: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    let rule = RULE.get_or_init(|| {
        const N: usize = 64;
        let n = N as f64;
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(N);
        let mut z = 0.0f64;
        for i in 0..N {
            // Initial guesses (Numerical Recipes, gaulag with α = 0).
            z = match i {
                0 => 3.0 / (1.0 + 2.4 * n),
                1 => z + 15.0 / (1.0 + 2.5 * n),
                _ => {
                    let ai = (i - 1) as f64;
                    let two_back: f64 = out[i - 2].0;
                    z + (1.0 + 2.55 * ai) / (1.9 * ai) * (z - two_back)
                }
            };
            let mut pp = 0.0;
            for _ in 0..100 {
                let (mut p1, mut p2) = (1.0f64, 0.0f64);
                for j in 0..N {
                    let p3 = p2;
                    p2 = p1;
                    let jf = j as f64;
                    p1 = ((2.0 * jf + 1.0 - z) * p2 - jf * p3) / (jf + 1.0);
                }
                pp = (n * p1 - n * p2) / z;
                let z1 = z;
                z = z1 - p1 / pp;
                if (z - z1).abs() <= 1e-14 * z.abs().max(1.0) {
                    break;
                }
            }
            // w = −1 / (pp · N · L_{N−1}(z)); with the recurrence above, the weight is
            // 1 / (z · pp²) for α = 0.
            out.push((z, 1.0 / (z * pp * pp)));
        }
        out
    });
    rule.iter().map(|&(x, w)| w * f(x)).sum()
}

/// One server's cold-start state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ColdState {
    /// The slowdown when the server last became idle.
    pub slowdown: f64,
}

impl ColdState {
    /// A batch of warm time `work` starting after an idle gap `gap`: its time, with the state
    /// moved on to the batch's end.
    pub fn serve(&mut self, spec: &ColdSpec, gap: SimTime, work: SimTime) -> SimTime {
        let s = spec.after_idle(self.slowdown, gap.as_nanos() as f64 / 1e6);
        let took = SimTime::round_ns(work.as_nanos() as f64 * (1.0 + s));
        self.slowdown = spec.after_busy(s, took.as_nanos() as f64 / 1e6);
        took
    }
}

/// Drift: the machine's speed over time — every service time a device samples is multiplied by
/// the speed factor of the moment it starts. The factor is a stationary process in steps of
/// `step_ms`: its logarithm follows an AR(1) with median 1,
///
/// ```text
/// x₀ ~ N(0, σ² / (1 − φ²)),   x_{k+1} = φ·x_k + σ·ε_k,   factor_k = exp(x_k)
/// ```
///
/// so slow stretches last about 1/(1 − φ) steps and build queues at high load, which resampling
/// runs one by one (i.i.d.) cannot. A calibration measures a factor per round and fits φ (the
/// lag-1 autocorrelation of their logarithms) and σ ([`DriftSpec::fit`]); each device draws its
/// own path (stream `drift/{device}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// How long each factor lasts, ms.
    pub step_ms: f64,
    /// Autocorrelation of the log factor from one step to the next, in [0, 1).
    pub phi: f64,
    /// Standard deviation of the log factor's innovation per step (≥ 0).
    pub sigma: f64,
}

impl DriftSpec {
    /// Checks parameters; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        positive(&format!("{key}.step_ms"), self.step_ms)?;
        if !(self.phi >= 0.0 && self.phi < 1.0) {
            return Err(ConfigError::invalid(&format!("{key}.phi"), format!("must be in [0, 1), got {}", self.phi)));
        }
        non_negative(&format!("{key}.sigma"), self.sigma)
    }

    /// Fits the process to measured factors, one per step, in time order: with x = ln(factor)
    /// centred on its mean, φ = the lag-1 autocorrelation of x (clamped to [0, 0.99]) and
    /// σ = sd(x)·√(1 − φ²), so that the fitted process has the measured spread. `None` with fewer
    /// than three factors or a non-positive one.
    pub fn fit(step_ms: f64, factors: &[f64]) -> Option<DriftSpec> {
        if factors.len() < 3 || factors.iter().any(|f| !(*f > 0.0 && f.is_finite())) {
            return None;
        }
        let x: Vec<f64> = factors.iter().map(|f| f.ln()).collect();
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let c: Vec<f64> = x.iter().map(|v| v - mean).collect();
        let var = c.iter().map(|v| v * v).sum::<f64>() / c.len() as f64;
        let lag1 = c.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / c.len() as f64;
        let phi = if var > 0.0 { (lag1 / var).clamp(0.0, 0.99) } else { 0.0 };
        Some(DriftSpec { step_ms, phi, sigma: var.sqrt() * (1.0 - phi * phi).sqrt() })
    }

    /// Standard deviation of the stationary log factor, σ/√(1 − φ²).
    pub fn stationary_sd(&self) -> f64 {
        self.sigma / (1.0 - self.phi * self.phi).sqrt()
    }
}

/// A device's drift: one path of the process, drawn lazily from the device's own stream as time
/// moves on (calls come in non-decreasing time, as the engine's do).
#[derive(Clone, Debug)]
pub struct Drift {
    step_ns: u64,
    phi: f64,
    sigma: f64,
    /// The step whose log factor is `x`.
    step: u64,
    x: f64,
    rng: StreamRng,
}

impl Drift {
    /// Draws the first step from the stationary distribution.
    pub fn new(spec: &DriftSpec, mut rng: StreamRng) -> Drift {
        let step_ns = SimTime::round_ns(spec.step_ms * 1e6).as_nanos().max(1);
        let x = spec.stationary_sd() * standard_normal(&mut rng);
        Drift { step_ns, phi: spec.phi, sigma: spec.sigma, step: 0, x, rng }
    }

    /// The factor at `t` (not before the last call's).
    pub fn factor(&mut self, t: SimTime) -> f64 {
        let k = t.as_nanos() / self.step_ns;
        if k > self.step {
            // n steps at once: x_{k+n} = φⁿ x_k + σ √((1 − φ²ⁿ)/(1 − φ²)) ε.
            let n = (k - self.step).min(i32::MAX as u64) as i32;
            let phin = self.phi.powi(n);
            let sd = if self.phi == 0.0 {
                self.sigma
            } else {
                self.sigma * ((1.0 - phin * phin) / (1.0 - self.phi * self.phi)).sqrt()
            };
            self.x = phin * self.x + sd * standard_normal(&mut self.rng);
            self.step = k;
        }
        self.x.exp()
    }

    /// `work` started at `t`, at the speed of that moment.
    pub fn apply(&mut self, t: SimTime, work: SimTime) -> SimTime {
        SimTime::round_ns(work.as_nanos() as f64 * self.factor(t))
    }
}

fn standard_normal(rng: &mut StreamRng) -> f64 {
    rand_distr::StandardNormal.sample(rng)
}

/// One server's stalls, drawn lazily from its own stream.
#[derive(Clone, Debug)]
pub struct Stalls {
    gap: Exp<f64>,
    durations_ns: Vec<u64>,
    /// The next stall not yet over: [start, end).
    next: (SimTime, SimTime),
    busy_only: bool,
}

impl Stalls {
    /// The first stall after time zero.
    pub fn new(spec: &StallSpec, rng: &mut StreamRng) -> Stalls {
        let gap = Exp::new(spec.rate_per_s).expect("validated: the rate is positive and finite");
        let durations_ns = spec.duration_ms.iter().map(|ms| SimTime::round_ns(ms * 1e6).as_nanos().max(1)).collect();
        let mut s = Stalls { gap, durations_ns, next: (SimTime::ZERO, SimTime::ZERO), busy_only: spec.busy_only };
        s.advance(rng);
        s
    }

    /// Draws the stall after the current one.
    fn advance(&mut self, rng: &mut StreamRng) {
        let start = self.next.1.saturating_add(SimTime::round_ns(self.gap.sample(rng) * 1e9));
        let d = self.durations_ns[rng.random_range(0..self.durations_ns.len())];
        self.next = (start, start.saturating_add(SimTime(d)));
    }

    /// When `work` of service started at `start` is done, given the stalls on the way.
    /// Calls must come in non-decreasing `start` order for one server.
    pub fn finish(&mut self, start: SimTime, work: SimTime, rng: &mut StreamRng) -> SimTime {
        let mut t = start;
        let mut left = work.as_nanos();
        loop {
            let (s, e) = self.next;
            if e <= t {
                self.advance(rng);
            } else if s <= t {
                // Dispatched during a stall: nothing happens until it ends — unless stalls only
                // strike busy servers, when the one that began in the idle time does not count.
                if !self.busy_only {
                    t = e;
                }
                self.advance(rng);
            } else if s.as_nanos() - t.as_nanos() < left {
                left -= s.as_nanos() - t.as_nanos();
                t = e;
                self.advance(rng);
            } else {
                return t.saturating_add(SimTime(left));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_multiplies_every_batch_size_mean_and_keeps_the_spread() {
        let specs = [
            ServiceSpec::Exponential { mean_ms: 4.0 },
            ServiceSpec::Deterministic { ms: 2.0 },
            ServiceSpec::LogNormal { mean_ms: 3.0, cv: 0.5 },
            ServiceSpec::Empirical { values_ms: vec![1.0, 3.0] },
            ServiceSpec::Affine { a_ms: 1.0, b_ms: 0.5 },
            ServiceSpec::AffineFloor { a_ms: 1.0, b_ms: 0.5, floor_ms: 2.5 },
            ServiceSpec::Table { batch: vec![1, 4], ms: vec![1.0, 2.5] },
            ServiceSpec::TableSamples { batch: vec![1, 4], samples_ms: vec![vec![1.0, 2.0], vec![3.0, 5.0]] },
        ];
        for s in &specs {
            let t = s.scaled(1.25);
            t.validate("s").unwrap();
            for b in [1, 2, 4, 9] {
                assert!((t.batch_mean_s(b) - 1.25 * s.batch_mean_s(b)).abs() < 1e-12, "{s:?} at {b}");
            }
            assert!((t.second_moment_s2() - 1.25 * 1.25 * s.second_moment_s2()).abs() < 1e-15, "{s:?}");
        }
    }

    #[test]
    fn batch_models_compute_their_formulas() {
        let a = ServiceSpec::Affine { a_ms: 2.0, b_ms: 0.25 };
        assert!((a.batch_mean_s(8) - 0.004).abs() < 1e-15);
        let f = ServiceSpec::AffineFloor { a_ms: 1.0, b_ms: 0.5, floor_ms: 3.0 };
        assert!((f.batch_mean_s(2) - 0.003).abs() < 1e-15);
        assert!((f.batch_mean_s(10) - 0.006).abs() < 1e-15);
        let t = ServiceSpec::Table { batch: vec![1, 4, 8], ms: vec![2.0, 3.0, 5.0] };
        for (b, ms) in [(1, 2.0), (2, 2.0 + 1.0 / 3.0), (4, 3.0), (6, 4.0), (8, 5.0), (10, 6.0)] {
            assert!((t.batch_mean_s(b) * 1e3 - ms).abs() < 1e-12, "B={b}");
        }
        let mut rng = traces::rng::from_seed(1);
        assert_eq!(t.sampler().sample(&mut rng, 6), SimTime::from_millis(4));
        assert_eq!(t.sampler().sample(&mut rng, 1000), SimTime::from_millis(501));
    }

    #[test]
    fn sampled_tables_keep_the_measured_spread_and_interpolate_between_sizes() {
        let t = ServiceSpec::TableSamples {
            batch: vec![1, 3],
            samples_ms: vec![vec![4.0, 1.0, 3.0, 2.0], vec![5.0, 6.0, 8.0, 7.0]],
        };
        t.validate("s").unwrap();
        assert!(
            t.is_batch_model()
                && (t.batch_mean_s(1) - 0.0025).abs() < 1e-12
                && (t.batch_mean_s(2) - 0.0045).abs() < 1e-12
        );
        let sampler = t.sampler();
        let mut rng = traces::rng::from_seed(7);
        let mut seen =
            [std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), std::collections::BTreeSet::new()];
        for _ in 0..2000 {
            for (k, b) in [1usize, 2, 3].iter().enumerate() {
                seen[k].insert(sampler.sample(&mut rng, *b).as_nanos());
            }
        }
        let ms = |v: &[u64]| v.iter().map(|n| *n as f64 / 1e6).collect::<Vec<_>>();
        assert_eq!(ms(&seen[0].iter().copied().collect::<Vec<_>>()), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            ms(&seen[1].iter().copied().collect::<Vec<_>>()),
            [3.0, 4.0, 5.0, 6.0],
            "same quantile of both sizes, halfway"
        );
        assert_eq!(ms(&seen[2].iter().copied().collect::<Vec<_>>()), [5.0, 6.0, 7.0, 8.0]);
        let e = ServiceSpec::TableSamples { batch: vec![1, 2], samples_ms: vec![vec![1.0], vec![]] }
            .validate("s")
            .unwrap_err();
        assert!(e.to_string().contains("s.samples_ms"), "{e}");
    }

    #[test]
    fn gauss_laguerre_integrates_against_exp_minus_y() {
        assert!((gauss_laguerre_64(|_| 1.0) - 1.0).abs() < 1e-12);
        assert!((gauss_laguerre_64(|y| y * y) - 2.0).abs() < 1e-10);
        assert!((gauss_laguerre_64(|y| (-y).exp()) - 0.5).abs() < 1e-12);
        // E[exp(−I/τ)] for I ~ Exp(λ) is λ/(λ + 1/τ): the closed form of shape 1.
        let (lambda, tau) = (100.0, 0.005);
        let q = gauss_laguerre_64(|y| (-(y / lambda / tau)).exp());
        assert!((q - lambda / (lambda + 1.0 / tau)).abs() < 1e-12, "{q}");
    }

    #[test]
    fn cold_starts_build_up_later_with_a_larger_shape() {
        let c = |shape| ColdSpec { slowdown: 1.0, idle_tau_ms: 10.0, busy_tau_ms: 0.0, shape };
        // At g = τ both shapes reach 1 − 1/e; below τ the larger shape has built up less.
        for shape in [1.0, 2.0] {
            assert!((c(shape).after_idle(0.0, 10.0) - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
        }
        assert!((c(2.0).after_idle(0.0, 2.0) - (1.0 - (-0.04f64).exp())).abs() < 1e-12);
        assert!(c(2.0).after_idle(0.0, 2.0) < c(1.0).after_idle(0.0, 2.0));
        // Moments of the factor agree with a direct quadrature of the same expectation.
        let (f1, f2) = c(2.0).factor_moments_exp_gap(50.0);
        let direct1 = 1.0 + gauss_laguerre_64(|y| c(2.0).after_idle(0.0, y / 50.0 * 1e3));
        let direct2 = gauss_laguerre_64(|y| (1.0 + c(2.0).after_idle(0.0, y / 50.0 * 1e3)).powi(2));
        assert!((f1 - direct1).abs() < 1e-12 && (f2 - direct2).abs() < 1e-12, "{f1} {direct1} {f2} {direct2}");
        let e = ColdSpec { shape: 0.5, ..c(1.0) }.validate("c").unwrap_err();
        assert!(e.to_string().contains("c.shape"), "{e}");
    }

    #[test]
    fn bad_tables_name_the_key() {
        let e = ServiceSpec::Table { batch: vec![1, 4, 4], ms: vec![1.0, 2.0, 3.0] }.validate("s").unwrap_err();
        assert!(e.to_string().contains("s.batch[2]"), "{e}");
        let e = ServiceSpec::Table { batch: vec![1, 4], ms: vec![1.0] }.validate("s").unwrap_err();
        assert!(e.to_string().contains("s.ms"), "{e}");
    }
}
