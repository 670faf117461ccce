//! Closed-form queueing results used to check the simulator and printed beside it.
//!
//! Notation: arrival rate λ (1/s), service rate μ = 1/E[S], c servers, offered load a = λ/μ,
//! utilisation ρ = a/c. All times in seconds.

use serde::Serialize;

/// The analytic prediction for a scenario, in milliseconds where a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Kendall notation of the model, e.g. `M/M/4`.
    pub model: String,
    /// Utilisation ρ.
    pub utilization: f64,
    /// Probability that an arrival waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_wait: Option<f64>,
    /// Mean waiting time in queue, ms.
    pub wq_mean_ms: f64,
    /// Mean sojourn time (wait + service), ms.
    pub w_mean_ms: f64,
    /// Mean number waiting.
    pub lq: f64,
    /// Mean number in system.
    pub l: f64,
    /// Sojourn-time median, ms, where the distribution is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w_p50_ms: Option<f64>,
    /// Sojourn-time 99th percentile, ms, where the distribution is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w_p99_ms: Option<f64>,
}

impl Prediction {
    /// Mean values of a single-server queue with arrival rate `lambda` (1/s): mean wait `wq` and
    /// sojourn `w` (s), with Little's law for the queue lengths; no percentiles.
    fn means(model: &str, lambda: f64, utilization: f64, p_wait: Option<f64>, wq: f64, w: f64) -> Prediction {
        Prediction {
            model: model.to_string(),
            utilization,
            p_wait,
            wq_mean_ms: wq * 1e3,
            w_mean_ms: w * 1e3,
            lq: lambda * wq,
            l: lambda * w,
            w_p50_ms: None,
            w_p99_ms: None,
        }
    }
}

/// Erlang C: probability that an arrival waits in M/M/c with offered load `a` = λ/μ.
///
/// Computed through the Erlang B recursion, which is stable for large c.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let rho = a / f64::from(c);
    if rho >= 1.0 {
        return 1.0;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    b / (1.0 - rho * (1.0 - b))
}

/// M/M/c.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MMc {
    /// Arrival rate λ, 1/s.
    pub lambda: f64,
    /// Service rate μ per server, 1/s.
    pub mu: f64,
    /// Servers.
    pub c: u32,
}

impl MMc {
    /// ρ = λ / (cμ).
    pub fn utilization(&self) -> f64 {
        self.lambda / (f64::from(self.c) * self.mu)
    }

    /// P(wait > 0).
    pub fn p_wait(&self) -> f64 {
        erlang_c(self.c, self.lambda / self.mu)
    }

    /// Rate θ = cμ − λ of the conditional exponential wait.
    fn theta(&self) -> f64 {
        f64::from(self.c) * self.mu - self.lambda
    }

    /// E[Wq] = C / (cμ − λ).
    pub fn wq_mean(&self) -> f64 {
        self.p_wait() / self.theta()
    }

    /// E[W] = E[Wq] + 1/μ.
    pub fn w_mean(&self) -> f64 {
        self.wq_mean() + 1.0 / self.mu
    }

    /// P(W > t) for the FIFO sojourn time: W = Wq + S where Wq is 0 with probability 1 − C
    /// and Exp(θ) otherwise, and S ~ Exp(μ) independent.
    pub fn sojourn_ccdf(&self, t: f64) -> f64 {
        let (mu, th, c) = (self.mu, self.theta(), self.p_wait());
        let both = if (th - mu).abs() < 1e-9 * mu {
            (1.0 + mu * t) * (-mu * t).exp()
        } else {
            (th * (-mu * t).exp() - mu * (-th * t).exp()) / (th - mu)
        };
        (1.0 - c) * (-mu * t).exp() + c * both
    }

    /// The q-quantile of the sojourn time (bisection on the CCDF).
    pub fn sojourn_quantile(&self, q: f64) -> f64 {
        quantile_by_bisection(|t| 1.0 - self.sojourn_ccdf(t), q, 1.0 / self.mu)
    }

    /// The full prediction.
    pub fn predict(&self) -> Prediction {
        let wq = self.wq_mean();
        Prediction {
            model: format!("M/M/{}", self.c),
            utilization: self.utilization(),
            p_wait: Some(self.p_wait()),
            wq_mean_ms: wq * 1e3,
            w_mean_ms: self.w_mean() * 1e3,
            lq: self.lambda * wq,
            l: self.lambda * self.w_mean(),
            w_p50_ms: Some(self.sojourn_quantile(0.5) * 1e3),
            w_p99_ms: Some(self.sojourn_quantile(0.99) * 1e3),
        }
    }
}

/// M/G/1 by Pollaczek–Khinchine: E[Wq] = λ E[S²] / (2 (1 − ρ)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MG1 {
    /// Arrival rate λ, 1/s.
    pub lambda: f64,
    /// Mean service time E[S], s.
    pub mean_s: f64,
    /// Second moment E[S²], s².
    pub second_moment_s2: f64,
}

impl MG1 {
    /// ρ = λ E[S].
    pub fn utilization(&self) -> f64 {
        self.lambda * self.mean_s
    }

    /// Pollaczek–Khinchine mean wait.
    pub fn wq_mean(&self) -> f64 {
        self.lambda * self.second_moment_s2 / (2.0 * (1.0 - self.utilization()))
    }

    /// The prediction (mean values only; see [`MD1`] for the deterministic case's distribution).
    pub fn predict(&self, model: &str) -> Prediction {
        let wq = self.wq_mean();
        Prediction::means(model, self.lambda, self.utilization(), Some(self.utilization()), wq, wq + self.mean_s)
    }
}

/// M/G/1 whose server stalls: up times exponential with rate α, stalls of a general duration D,
/// preemptive-resume, stalls whether busy or idle (Avi-Itzhak & Naor, 1963). A request's
/// completion time C (service plus the stalls that interrupt it) has E[C] = E[S](1 + αE[D]) and
/// E[C²] = E[S²](1 + αE[D])² + αE[S]E[D²]; the mean wait is Pollaczek–Khinchine on C plus the
/// stall left when a request finds the idle server stalled, αE[D²] / (2(1 + αE[D])).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MG1Stalls {
    /// The stall-free queue.
    pub base: MG1,
    /// Stall rate α per second of up time.
    pub rate: f64,
    /// E[D], s.
    pub stall_mean_s: f64,
    /// E[D²], s².
    pub stall_second_moment_s2: f64,
    /// Stalls strike only busy servers: no stall is left to wait out when a request finds the
    /// server idle (the residual term drops).
    pub busy_only: bool,
}

impl MG1Stalls {
    /// The queue of completion times C.
    pub fn completion(&self) -> MG1 {
        let MG1 { lambda, mean_s, second_moment_s2 } = self.base;
        let stretch = 1.0 + self.rate * self.stall_mean_s;
        MG1 {
            lambda,
            mean_s: mean_s * stretch,
            second_moment_s2: second_moment_s2 * stretch * stretch + self.rate * mean_s * self.stall_second_moment_s2,
        }
    }

    /// Mean wait before the request's completion time starts.
    pub fn wq_mean(&self) -> f64 {
        let residual = if self.busy_only {
            0.0
        } else {
            self.rate * self.stall_second_moment_s2 / (2.0 * (1.0 + self.rate * self.stall_mean_s))
        };
        self.completion().wq_mean() + residual
    }

    /// The prediction (mean values only).
    pub fn predict(&self) -> Prediction {
        let c = self.completion();
        let wq = self.wq_mean();
        Prediction::means("M/G/1 with stalls", self.base.lambda, c.utilization(), None, wq, wq + c.mean_s)
    }
}

/// M/G/1 with an exceptional first service (Welch, 1964): a request that finds the server idle
/// is served in S₀, every other one in S. With cold starts that wear off after one batch
/// ([`crate::service::ColdSpec`] with τ_busy = 0) S₀ = S·(1 + s(I)), where the idle time I
/// before it is exponential with rate λ (Poisson arrivals, memoryless) and independent of S.
/// With ρ = λE[S]:
///
/// ```text
/// p₀    = (1 − ρ) / (1 − ρ + λE[S₀])                 (share of requests that find it idle)
/// E[Wq] = λE[S²] / (2(1 − ρ)) + λ(E[S₀²] − E[S²]) / (2(1 − ρ + λE[S₀]))
/// E[W]  = E[Wq] + p₀E[S₀] + (1 − p₀)E[S]
/// ```
///
/// Checked against an independent simulation before use (three parameter sets, within 0.7 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MG1Cold {
    /// The queue without the penalty.
    pub base: MG1,
    /// E[S₀], s.
    pub first_mean_s: f64,
    /// E[S₀²], s².
    pub first_second_moment_s2: f64,
}

impl MG1Cold {
    /// Share of requests that find the server idle, p₀.
    pub fn p_idle(&self) -> f64 {
        let rho = self.base.utilization();
        (1.0 - rho) / (1.0 - rho + self.base.lambda * self.first_mean_s)
    }

    /// Long-run share of time the server is busy, λ(p₀E[S₀] + (1 − p₀)E[S]) = 1 − p₀.
    pub fn utilization(&self) -> f64 {
        1.0 - self.p_idle()
    }

    /// E[Wq].
    pub fn wq_mean(&self) -> f64 {
        let MG1 { lambda, mean_s, second_moment_s2 } = self.base;
        let rho = lambda * mean_s;
        lambda * second_moment_s2 / (2.0 * (1.0 - rho))
            + lambda * (self.first_second_moment_s2 - second_moment_s2)
                / (2.0 * (1.0 - rho + lambda * self.first_mean_s))
    }

    /// The prediction (mean values only).
    pub fn predict(&self) -> Prediction {
        let p0 = self.p_idle();
        let wq = self.wq_mean();
        let w = wq + p0 * self.first_mean_s + (1.0 - p0) * self.base.mean_s;
        Prediction::means("M/G/1 with cold starts", self.base.lambda, self.utilization(), Some(1.0 - p0), wq, w)
    }
}

/// Largest term [`MD1::wait_cdf`] accepts in its alternating sum: cancellation costs about
/// term × 1e-16, so results stay within 1e-9.
const MD1_MAX_TERM: f64 = 1e7;

/// M/D/1: deterministic service `d` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MD1 {
    /// Arrival rate λ, 1/s.
    pub lambda: f64,
    /// Service time D, s.
    pub d: f64,
}

impl MD1 {
    fn as_mg1(&self) -> MG1 {
        MG1 { lambda: self.lambda, mean_s: self.d, second_moment_s2: self.d * self.d }
    }

    /// E[Wq] = ρ D / (2 (1 − ρ)).
    pub fn wq_mean(&self) -> f64 {
        self.as_mg1().wq_mean()
    }

    /// P(Wq ≤ t), Erlang's formula:
    /// (1 − ρ) Σ_{k=0}^{⌊t/D⌋} [λ(kD − t)]^k / k! · e^{−λ(kD − t)}.
    ///
    /// The sum alternates and its terms grow roughly like e^{λt}; `None` once a term exceeds
    /// what f64 can cancel to 1e-9 (λt around 12; far beyond the 99th percentile below ρ = 0.9).
    pub fn wait_cdf(&self, t: f64) -> Option<f64> {
        if t < 0.0 {
            return Some(0.0);
        }
        let rho = self.lambda * self.d;
        let n = (t / self.d).floor() as u32;
        let (mut sum, mut largest) = (0.0f64, 0.0f64);
        for k in 0..=n {
            let x = self.lambda * (f64::from(k) * self.d - t);
            let mut term = (-x).exp();
            for j in 1..=k {
                term *= x / f64::from(j);
            }
            largest = largest.max(term.abs());
            sum += term;
        }
        (largest <= MD1_MAX_TERM).then(|| ((1.0 - rho) * sum).clamp(0.0, 1.0))
    }

    /// The q-quantile of the sojourn time W = Wq + D, if within the formula's range.
    pub fn sojourn_quantile(&self, q: f64) -> Option<f64> {
        if 1.0 - self.lambda * self.d >= q {
            return Some(self.d);
        }
        let mut hi = self.d;
        while self.wait_cdf(hi)? < q {
            hi *= 2.0;
        }
        let mut lo = 0.0;
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.wait_cdf(mid)? < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(self.d + hi)
    }

    /// The prediction, with sojourn percentiles where the formula is accurate.
    pub fn predict(&self) -> Prediction {
        Prediction {
            w_p50_ms: self.sojourn_quantile(0.5).map(|s| s * 1e3),
            w_p99_ms: self.sojourn_quantile(0.99).map(|s| s * 1e3),
            ..self.as_mg1().predict("M/D/1")
        }
    }
}

/// Zipf popularities p_k ∝ k^(−s), k = 1..n, normalised.
pub fn zipf_popularity(n: u64, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

/// Che's approximation of the LRU hit ratio under independent requests with popularities `p`
/// (summing to 1) and a cache of `capacity` entries: find the characteristic time T with
/// Σ_k (1 − e^{−p_k T}) = C, then hit ratio = Σ_k p_k (1 − e^{−p_k T}).
pub fn che_lru_hit_ratio(p: &[f64], capacity: f64) -> f64 {
    if capacity >= p.len() as f64 {
        return 1.0;
    }
    let occupancy = |t: f64| p.iter().map(|&q| 1.0 - (-q * t).exp()).sum::<f64>();
    let mut hi = 1.0;
    while occupancy(hi) < capacity {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if occupancy(mid) < capacity {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    p.iter().map(|&q| q * (1.0 - (-q * hi).exp())).sum()
}

/// The hit ratio of a cache that always holds the `capacity` most popular keys: the optimum for
/// independent requests, which LFU approaches on stationary popularity.
pub fn top_c_hit_ratio(p: &[f64], capacity: usize) -> f64 {
    let mut sorted = p.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.iter().take(capacity).sum()
}

/// Smallest t with cdf(t) ≥ q, for a non-decreasing cdf; `scale` is a typical time.
fn quantile_by_bisection(cdf: impl Fn(f64) -> f64, q: f64, scale: f64) -> f64 {
    let mut hi = scale;
    while cdf(hi) < q {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs()
    }

    #[test]
    fn mm4_matches_the_design_values() {
        let q = MMc { lambda: 360.0, mu: 100.0, c: 4 };
        assert!(close(q.p_wait(), 0.787753, 1e-6), "{}", q.p_wait());
        assert!(close(q.wq_mean() * 1e3, 19.693832, 1e-7));
        assert!(close(q.w_mean() * 1e3, 29.693832, 1e-7));
        assert!(close(q.sojourn_quantile(0.5) * 1e3, 22.545037, 1e-6), "{}", q.sojourn_quantile(0.5));
        assert!(close(q.sojourn_quantile(0.99) * 1e3, 121.931674, 1e-6), "{}", q.sojourn_quantile(0.99));
    }

    #[test]
    fn mm1_sojourn_is_exponential() {
        let q = MMc { lambda: 80.0, mu: 100.0, c: 1 };
        assert!(close(q.p_wait(), 0.8, 1e-12));
        for t in [0.001, 0.01, 0.1] {
            assert!(close(q.sojourn_ccdf(t), (-(20.0) * t).exp(), 1e-9));
        }
        assert!(close(q.sojourn_quantile(0.99), 100f64.ln() / 20.0, 1e-9));
    }

    #[test]
    fn md1_matches_a_high_precision_evaluation_of_erlangs_formula() {
        // References: the same formula evaluated with 60-digit arithmetic (mpmath).
        let d = MD1 { lambda: 50.0, d: 0.01 };
        let m = MMc { lambda: 50.0, mu: 100.0, c: 1 };
        assert!(close(d.wq_mean(), m.wq_mean() / 2.0, 1e-12));
        assert!(close(d.wait_cdf(0.0).unwrap(), 0.5, 1e-12));
        for (t, f) in [(0.005, 0.642012708343871), (0.015, 0.89799683122037), (0.05, 0.998764270269218)] {
            assert!(close(d.wait_cdf(t).unwrap(), f, 1e-9), "t={t}");
        }
        assert!(close(d.sojourn_quantile(0.99).unwrap() * 1e3, 43.36255957, 1e-7));
        let d = MD1 { lambda: 80.0, d: 0.01 };
        for (t, f) in [(0.005, 0.298364939528254), (0.015, 0.544677408736008), (0.05, 0.899502761753602)] {
            assert!(close(d.wait_cdf(t).unwrap(), f, 1e-9), "t={t}");
        }
        assert!(close(d.sojourn_quantile(0.5).unwrap() * 1e3, 22.7593987338, 1e-7));
        assert!(close(d.sojourn_quantile(0.99).unwrap() * 1e3, 113.55886792, 1e-7));
        // Far tails are refused rather than computed wrong.
        assert_eq!(d.wait_cdf(5.0), None);
    }
}
