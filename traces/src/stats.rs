//! Descriptive statistics of a trace, for `servesim trace inspect`.

use crate::id::trace_id;
use crate::request::{Request, Trace};
use serde::Serialize;

/// Percentiles of a size column.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Percentiles {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// What `trace inspect` reports.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceStats {
    /// Content id of the trace.
    pub trace_id: String,
    /// Number of requests.
    pub requests: usize,
    /// Last arrival minus first arrival, seconds.
    pub span_s: f64,
    /// (requests − 1) / span, requests per second.
    pub mean_rate_per_s: f64,
    /// Coefficient of variation (std / mean) of inter-arrival gaps; 1 for Poisson.
    pub interarrival_cv: f64,
    /// Fraction of inter-arrival gaps that are exactly zero (quantized timestamps).
    pub zero_gap_fraction: f64,
    /// Input sizes.
    pub input_size: Percentiles,
    /// Output tokens.
    pub output_tokens: Percentiles,
    /// Class names.
    pub classes: Vec<String>,
    /// Requests with a cache key.
    pub with_cache_key: usize,
    /// Distinct cache keys.
    pub distinct_cache_keys: usize,
    /// Requests with prefix block ids.
    pub with_prefix_blocks: usize,
    /// Fraction of all prefix blocks whose id appeared earlier in the trace (the upper bound on
    /// any prefix-cache hit rate).
    pub repeated_block_fraction: f64,
    /// Requests with a recorded service time.
    pub with_service_time: usize,
}

/// Nearest-rank percentile of sorted data (`q` in 0..=1).
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn percentiles(mut v: Vec<u64>) -> Percentiles {
    v.sort_unstable();
    let mean = if v.is_empty() { 0.0 } else { v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 };
    Percentiles {
        mean,
        p50: nearest_rank(&v, 0.50),
        p90: nearest_rank(&v, 0.90),
        p99: nearest_rank(&v, 0.99),
        max: v.last().copied().unwrap_or(0),
    }
}

/// Prefix blocks whose id appeared in an earlier request, over all prefix blocks (0 without
/// any): the most a prefix cache of unbounded size can hit on these requests, in this order.
pub fn repeated_block_fraction<R: std::borrow::Borrow<Request>>(requests: impl IntoIterator<Item = R>) -> f64 {
    let mut seen = std::collections::HashSet::new();
    let (mut blocks, mut repeated) = (0u64, 0u64);
    for q in requests {
        for id in q.borrow().prefix_blocks.as_deref().unwrap_or_default() {
            blocks += 1;
            repeated += u64::from(!seen.insert(*id));
        }
    }
    if blocks > 0 { repeated as f64 / blocks as f64 } else { 0.0 }
}

/// Computes [`TraceStats`] for a trace.
pub fn stats(trace: &Trace) -> TraceStats {
    let r = &trace.requests;
    let n = r.len();
    let span = match (r.first(), r.last()) {
        (Some(a), Some(b)) => (b.arrival - a.arrival).as_secs_f64(),
        _ => 0.0,
    };
    let gaps: Vec<f64> = r.windows(2).map(|w| (w[1].arrival - w[0].arrival).as_secs_f64()).collect();
    let (cv, zero) = if gaps.is_empty() {
        (0.0, 0.0)
    } else {
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - m) * (g - m)).sum::<f64>() / gaps.len() as f64;
        let zero = gaps.iter().filter(|&&g| g == 0.0).count() as f64 / gaps.len() as f64;
        (if m > 0.0 { var.sqrt() / m } else { 0.0 }, zero)
    };
    let keys: std::collections::HashSet<u64> = r.iter().filter_map(|q| q.cache_key).collect();
    TraceStats {
        trace_id: trace_id(r, &trace.classes),
        requests: n,
        span_s: span,
        mean_rate_per_s: if span > 0.0 { (n - 1) as f64 / span } else { 0.0 },
        interarrival_cv: cv,
        zero_gap_fraction: zero,
        input_size: percentiles(r.iter().map(|q| q.input_size).collect()),
        output_tokens: percentiles(r.iter().map(|q| q.output_tokens).collect()),
        classes: trace.classes.clone(),
        with_cache_key: r.iter().filter(|q| q.cache_key.is_some()).count(),
        distinct_cache_keys: keys.len(),
        with_prefix_blocks: r.iter().filter(|q| q.prefix_blocks.is_some()).count(),
        repeated_block_fraction: repeated_block_fraction(r),
        with_service_time: r.iter().filter(|q| q.service.is_some()).count(),
    }
}

/// Two-sample Kolmogorov–Smirnov test: the statistic D = sup |F_a − F_b| and its asymptotic
/// p-value Q_KS((√n_e + 0.12 + 0.11/√n_e) D) with n_e = n m / (n + m) (Stephens' correction, as in
/// Numerical Recipes). Used to tell whether a trace's gaps or sizes drifted from a reference.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let ne = n * m / (n + m);
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    (d, kolmogorov_q(lambda))
}

/// Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}, the Kolmogorov distribution's tail.
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let jf = f64::from(j);
        let term = (-2.0 * jf * jf * lambda * lambda).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_accepts_samples_of_one_law_and_rejects_shifted_ones() {
        use rand::RngExt;
        let mut r = crate::rng::from_seed(3);
        let a: Vec<f64> = (0..2000).map(|_| r.random::<f64>()).collect();
        let b: Vec<f64> = (0..2000).map(|_| r.random::<f64>()).collect();
        let c: Vec<f64> = (0..2000).map(|_| r.random::<f64>() * 1.2).collect();
        let (d, p) = ks_two_sample(&a, &b);
        assert!(d < 0.05 && p > 0.01, "{d} {p}");
        let (d, p) = ks_two_sample(&a, &c);
        assert!(d > 0.1 && p < 1e-6, "{d} {p}");
        // Hand-computed: {1, 2, 3} vs {4, 5}: the CDFs are 1 and 0 at x = 3, so D = 1.
        assert_eq!(ks_two_sample(&[1.0, 2.0, 3.0], &[4.0, 5.0]).0, 1.0);
        assert!((kolmogorov_q(1.36) - 0.0494).abs() < 1e-3, "the 5% critical value");
    }
}
