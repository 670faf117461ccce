//! Synthetic workloads: arrival processes, size distributions and cache keys.
//!
//! A [`Generator`] is an iterator: it produces requests one at a time, so a 10-million-request
//! run never holds its trace in memory. Each stochastic source draws from its own seeded stream
//! (see [`crate::rng`]), so changing, say, the size distribution leaves the arrival times alone.

mod arrivals;
mod sizes;

pub use arrivals::{ArrivalProcess, ArrivalSpec};
pub use sizes::{KeySpec, SizeSampler, SizeSpec, TraceField};

use crate::error::Result;
use crate::request::{ClassId, Request};
use crate::rng::{StreamRng, stream};
use crate::time::SimTime;
use serde::{Deserialize, Serialize};

/// A complete synthetic workload: how requests arrive and what they look like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The arrival process.
    pub arrivals: ArrivalSpec,
    /// Input size per request (tokens or bytes); default: fixed 1.
    #[serde(default = "SizeSpec::one")]
    pub input_size: SizeSpec,
    /// Output tokens per request; default: fixed 0 (non-generative requests).
    #[serde(default = "SizeSpec::zero")]
    pub output_tokens: SizeSpec,
    /// Response-cache keys; default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_keys: Option<KeySpec>,
}

impl WorkloadSpec {
    /// Checks every parameter; errors name the field (e.g. `arrivals.rate`).
    pub fn validate(&self) -> Result<()> {
        self.arrivals.validate("arrivals")?;
        self.input_size.validate("input_size")?;
        self.output_tokens.validate("output_tokens")?;
        if let Some(k) = &self.cache_keys {
            k.validate("cache_keys")?;
        }
        Ok(())
    }

    /// Long-run mean arrival rate in requests per second.
    pub fn mean_rate(&self) -> f64 {
        self.arrivals.mean_rate()
    }

    /// A generator of `count` requests under `seed`.
    pub fn generator(&self, seed: u64, count: u64) -> Result<Generator> {
        self.validate()?;
        Ok(Generator {
            arrivals: self.arrivals.process(stream(seed, "arrivals"))?,
            input: self.input_size.sampler()?,
            output: self.output_tokens.sampler()?,
            keys: self.cache_keys.as_ref().map(|k| k.sampler()).transpose()?,
            input_rng: stream(seed, "sizes/input"),
            output_rng: stream(seed, "sizes/output"),
            key_rng: stream(seed, "cache_keys"),
            next_id: 0,
            remaining: count,
        })
    }
}

/// Streams synthetic requests; see [`WorkloadSpec::generator`].
pub struct Generator {
    arrivals: ArrivalProcess,
    input: SizeSampler,
    output: SizeSampler,
    keys: Option<sizes::KeySampler>,
    input_rng: StreamRng,
    output_rng: StreamRng,
    key_rng: StreamRng,
    next_id: u64,
    remaining: u64,
}

impl Iterator for Generator {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let arrival: SimTime = self.arrivals.next_arrival();
        let id = self.next_id;
        self.next_id += 1;
        Some(Request {
            id,
            arrival,
            class: ClassId(0),
            input_size: self.input.sample(&mut self.input_rng),
            output_tokens: self.output.sample(&mut self.output_rng),
            cache_key: self.keys.as_mut().map(|k| k.sample(&mut self.key_rng)),
            prefix_blocks: None,
            service: None,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(arrivals: ArrivalSpec) -> WorkloadSpec {
        WorkloadSpec { arrivals, input_size: SizeSpec::one(), output_tokens: SizeSpec::zero(), cache_keys: None }
    }

    fn gaps(spec: &WorkloadSpec, n: u64) -> (f64, f64) {
        let t: Vec<f64> = spec.generator(3, n).unwrap().map(|r| r.arrival.as_secs_f64()).collect();
        let g: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let m = g.iter().sum::<f64>() / g.len() as f64;
        let v = g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / g.len() as f64;
        (1.0 / m, v.sqrt() / m)
    }

    #[test]
    fn poisson_has_its_rate_and_unit_cv() {
        let (rate, cv) = gaps(&spec(ArrivalSpec::Poisson { rate: 200.0 }), 200_000);
        assert!((rate / 200.0 - 1.0).abs() < 0.01, "{rate}");
        assert!((cv - 1.0).abs() < 0.01, "{cv}");
    }

    #[test]
    fn gamma_renewal_has_the_requested_cv() {
        for target in [0.5, 2.0, 4.0] {
            let (rate, cv) = gaps(&spec(ArrivalSpec::Gamma { rate: 50.0, cv: target }), 400_000);
            assert!((rate / 50.0 - 1.0).abs() < 0.02, "{target}: rate {rate}");
            assert!((cv / target - 1.0).abs() < 0.03, "{target}: cv {cv}");
        }
    }

    #[test]
    fn deterministic_arrivals_are_evenly_spaced() {
        let t: Vec<u64> =
            spec(ArrivalSpec::Deterministic { rate: 4.0 }).generator(1, 4).unwrap().map(|r| r.arrival.0).collect();
        assert_eq!(t, vec![250_000_000, 500_000_000, 750_000_000, 1_000_000_000]);
    }

    #[test]
    fn mmpp_mean_rate_is_the_time_weighted_average_and_bursty() {
        let s = spec(ArrivalSpec::Mmpp { rates: [20.0, 200.0], mean_sojourn_s: [3.0, 1.0] });
        let expected = (20.0 * 3.0 + 200.0 * 1.0) / 4.0;
        assert!((s.mean_rate() - expected).abs() < 1e-12);
        let (rate, cv) = gaps(&s, 300_000);
        assert!((rate / expected - 1.0).abs() < 0.03, "{rate} vs {expected}");
        assert!(cv > 1.2, "MMPP should be burstier than Poisson, cv {cv}");
    }

    #[test]
    fn diurnal_thinning_keeps_the_mean_rate_and_follows_the_cycle() {
        let s = spec(ArrivalSpec::Diurnal { mean_rate: 100.0, amplitude: 0.8, period_s: 100.0 });
        let t: Vec<f64> = s.generator(9, 100_000).unwrap().map(|r| r.arrival.as_secs_f64()).collect();
        let span = t.last().unwrap() - t[0];
        assert!(((t.len() as f64 / span) / 100.0 - 1.0).abs() < 0.02);
        // Rate peaks a quarter period in (sin = 1) and bottoms out at three quarters.
        let in_phase = |lo: f64, hi: f64| t.iter().filter(|&&x| (x % 100.0) >= lo && (x % 100.0) < hi).count();
        assert!(in_phase(20.0, 30.0) > 5 * in_phase(70.0, 80.0));
    }

    #[test]
    fn sources_are_independent_streams() {
        let a = WorkloadSpec {
            input_size: SizeSpec::LogNormal { mean: 100.0, cv: 1.0 },
            ..spec(ArrivalSpec::Poisson { rate: 5.0 })
        };
        let b = WorkloadSpec { input_size: SizeSpec::Fixed { value: 7 }, ..a.clone() };
        let ta: Vec<SimTime> = a.generator(5, 1000).unwrap().map(|r| r.arrival).collect();
        let tb: Vec<SimTime> = b.generator(5, 1000).unwrap().map(|r| r.arrival).collect();
        assert_eq!(ta, tb, "changing sizes must not move arrivals");
    }

    #[test]
    fn impossible_parameters_name_their_field() {
        let e = spec(ArrivalSpec::Poisson { rate: -1.0 }).validate().unwrap_err().to_string();
        assert!(e.contains("arrivals.rate"), "{e}");
        let e = spec(ArrivalSpec::Gamma { rate: 1.0, cv: 0.0 }).validate().unwrap_err().to_string();
        assert!(e.contains("arrivals.cv"), "{e}");
    }
}
