//! Streaming metrics: memory independent of the number of requests.
//!
//! Latency distributions live in HDR histograms (3 significant digits); means are exact sums;
//! time averages are integrals of step functions updated at every change. Definitions and
//! formulas: `docs/metrics.md`.

use hdrhistogram::Histogram;
use serde::Serialize;
use traces::SimTime;

/// A streaming latency distribution in nanoseconds.
#[derive(Clone)]
pub struct LatencyStats {
    hist: Histogram<u64>,
    sum_ns: u128,
    count: u64,
    max_ns: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        LatencyStats { hist: Histogram::new(3).expect("3 significant digits is valid"), sum_ns: 0, count: 0, max_ns: 0 }
    }
}

impl LatencyStats {
    /// Adds one observation.
    #[inline]
    pub fn record(&mut self, d: SimTime) {
        let v = d.as_nanos();
        // The histogram auto-resizes to the largest value seen; should it ever refuse, clamp
        // rather than lose the observation (the exact max and mean are kept separately).
        if self.hist.record(v).is_err() {
            self.hist.saturating_record(v);
        }
        self.sum_ns += u128::from(v);
        self.count += 1;
        self.max_ns = self.max_ns.max(v);
    }

    /// Adds `n` observations of the same value (a batch: one service time for all its requests).
    #[inline]
    pub fn record_n(&mut self, d: SimTime, n: u64) {
        let v = d.as_nanos();
        if self.hist.record_n(v, n).is_err() {
            self.hist.saturating_record(v);
        }
        self.sum_ns += u128::from(v) * u128::from(n);
        self.count += n;
        self.max_ns = self.max_ns.max(v);
    }

    /// Adds every observation of `other` (merging per-device distributions into per-variant ones).
    pub fn merge(&mut self, other: &LatencyStats) {
        self.hist.add(&other.hist).expect("auto-resizing histograms of equal precision always merge");
        self.sum_ns += other.sum_ns;
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean, seconds.
    pub fn mean_s(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_ns as f64 / self.count as f64 / 1e9 }
    }

    /// Quantile `q` (0..=1), seconds, within 0.1 % (HDR histogram resolution).
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.count == 0 { 0.0 } else { self.hist.value_at_quantile(q) as f64 / 1e9 }
    }

    /// The summary in milliseconds.
    pub fn summary_ms(&self) -> Distribution {
        let ms = |s: f64| s * 1e3;
        Distribution {
            count: self.count,
            mean: ms(self.mean_s()),
            p50: ms(self.quantile_s(0.50)),
            p90: ms(self.quantile_s(0.90)),
            p95: ms(self.quantile_s(0.95)),
            p99: ms(self.quantile_s(0.99)),
            p999: ms(self.quantile_s(0.999)),
            max: self.max_ns as f64 / 1e6,
        }
    }
}

/// Summary of a distribution, milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    /// Observations.
    pub count: u64,
    /// Exact mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Exact maximum.
    pub max: f64,
}

/// The time integral of an integer-valued step function (queue length, busy servers…).
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeIntegral {
    value: u64,
    since: SimTime,
    area: u128,
    peak: u64,
}

impl TimeIntegral {
    /// Sets the value at `now` (times must not decrease).
    #[inline]
    pub fn set(&mut self, now: SimTime, value: u64) {
        let held = now.as_nanos() - self.since.as_nanos();
        self.area += u128::from(self.value) * u128::from(held);
        // A value that changes again at the same instant was never really held (a request that
        // enters the queue and is dispatched at once): only values held for a positive time count.
        if held > 0 {
            self.peak = self.peak.max(self.value);
        }
        self.value = value;
        self.since = now;
    }

    /// Adds `delta` (may be negative) at `now`.
    #[inline]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        let v = self.value.checked_add_signed(delta).expect("step function stays non-negative");
        self.set(now, v);
    }

    /// Current value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Largest value held for a positive time (the current value counts).
    pub fn peak(&self) -> u64 {
        self.peak.max(self.value)
    }

    /// The integral over [0, end], in value × seconds.
    pub fn area_s_until(&self, end: SimTime) -> f64 {
        let area =
            self.area + u128::from(self.value) * u128::from(end.as_nanos().saturating_sub(self.since.as_nanos()));
        area as f64 / 1e9
    }

    /// Time average over [0, end].
    pub fn mean_until(&self, end: SimTime) -> f64 {
        let area =
            self.area + u128::from(self.value) * u128::from(end.as_nanos().saturating_sub(self.since.as_nanos()));
        if end.as_nanos() == 0 { 0.0 } else { area as f64 / end.as_nanos() as f64 }
    }
}
