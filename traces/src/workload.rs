//! Synthetic workloads: arrival processes, size distributions and cache keys.
//!
//! A [`Generator`] is an iterator: it produces requests one at a time, so a 10-million-request
//! run never holds its trace in memory. Each stochastic source draws from its own seeded stream
//! (see [`crate::rng`]), so changing, say, the size distribution leaves the arrival times alone.

mod arrivals;
mod sizes;

pub use arrivals::{ArrivalProcess, ArrivalSpec};
pub use sizes::{KeySampler, KeySpec, SizeSampler, SizeSpec, TraceField};

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
    /// Shared prompt prefixes with prefix block ids (for LLM prefix caching); default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<PrefixSpec>,
    /// Conversations: consecutive requests are dealt into sessions of `turns` turns (their
    /// `session` ids); default: none. The arrival process then paces the turns of an open-loop
    /// replay; an LLM scenario with `[llm.sessions]` keeps only each session's first arrival and
    /// sends every later turn a think time after the previous answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionGenSpec>,
}

/// Turns per conversation (`[workload.sessions]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionGenSpec {
    /// Turns per session (values below 1 count as 1).
    pub turns: SizeSpec,
}

/// Shared prompt prefixes — system prompts, few-shot templates, a conversation's history: each
/// request starts with one of `prompts` shared prefixes of `tokens` tokens, chosen by
/// Zipf(`zipf_s`), followed by its own `input_size` tokens. Its prefix block ids (one per
/// `block_tokens` tokens, as Mooncake's `hash_ids`) are the shared prefix's blocks, then fresh
/// ids for its own tokens, so only the shared part can ever hit a prefix cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixSpec {
    /// Distinct shared prefixes.
    pub prompts: u64,
    /// Tokens of each shared prefix.
    pub tokens: u64,
    /// Zipf exponent of prefix popularity (0: uniform).
    #[serde(default)]
    pub zipf_s: f64,
    /// Tokens per block id (default 512).
    #[serde(default = "five_twelve")]
    pub block_tokens: u64,
}

fn five_twelve() -> u64 {
    512
}

impl PrefixSpec {
    /// Checks parameters; errors name `field`.
    pub fn validate(&self, field: &str) -> Result<()> {
        KeySpec { universe: self.prompts, zipf_s: self.zipf_s }.validate(field).map_err(|e| match e {
            crate::TraceError::Spec { field: f, reason } => {
                crate::TraceError::spec(f.replace(".universe", ".prompts"), reason)
            }
            other => other,
        })?;
        if self.prompts >= 1 << 31 {
            return Err(crate::TraceError::spec(format!("{field}.prompts"), "must be below 2^31"));
        }
        if self.block_tokens == 0 {
            return Err(crate::TraceError::spec(format!("{field}.block_tokens"), "must be at least 1"));
        }
        if self.tokens > 1 << 24 {
            return Err(crate::TraceError::spec(format!("{field}.tokens"), "must be at most 2^24"));
        }
        Ok(())
    }
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
        if let Some(p) = &self.prefixes {
            p.validate("prefixes")?;
        }
        if let Some(s) = &self.sessions {
            s.turns.validate("sessions.turns")?;
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
            prefixes: match &self.prefixes {
                Some(p) => Some((
                    p.clone(),
                    KeySpec { universe: p.prompts, zipf_s: p.zipf_s }.sampler()?,
                    stream(seed, "prefixes"),
                )),
                None => None,
            },
            next_block: 0,
            next_id: 0,
            remaining: count,
            sessions: match &self.sessions {
                Some(s) => Some((s.turns.sampler()?, stream(seed, "sessions"))),
                None => None,
            },
            session: 0,
            turns_left: 0,
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
    prefixes: Option<(PrefixSpec, sizes::KeySampler, StreamRng)>,
    next_block: u64,
    next_id: u64,
    remaining: u64,
    sessions: Option<(SizeSampler, StreamRng)>,
    /// The current session's id and its turns still to deal.
    session: u64,
    turns_left: u64,
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
        let mut input_size = self.input.sample(&mut self.input_rng);
        let prefix_blocks = self.prefixes.as_mut().map(|(spec, sampler, rng)| {
            let k = sampler.sample(rng);
            let own = (spec.tokens + input_size).div_ceil(spec.block_tokens) - spec.tokens / spec.block_tokens;
            input_size += spec.tokens;
            // Shared blocks: (prefix << 32) | block; own blocks: a counter with the top bit set.
            let mut ids: Vec<u64> = (0..spec.tokens / spec.block_tokens).map(|b| (k << 32) | b).collect();
            for _ in 0..own {
                ids.push((1 << 63) | self.next_block);
                self.next_block += 1;
            }
            ids.into_boxed_slice()
        });
        Some(Request {
            id,
            arrival,
            class: ClassId(0),
            input_size,
            output_tokens: self.output.sample(&mut self.output_rng),
            cache_key: self.keys.as_mut().map(|k| k.sample(&mut self.key_rng)),
            prefix_blocks,
            service: None,
            adapter: None,
            session: self.sessions.as_mut().map(|(turns, rng)| {
                if self.turns_left == 0 {
                    self.session = self.next_id - 1;
                    self.turns_left = turns.sample(rng).max(1);
                }
                self.turns_left -= 1;
                self.session
            }),
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
        WorkloadSpec {
            arrivals,
            input_size: SizeSpec::one(),
            output_tokens: SizeSpec::zero(),
            cache_keys: None,
            prefixes: None,
            sessions: None,
        }
    }

    fn gaps(spec: &WorkloadSpec, n: u64) -> (f64, f64) {
        let t: Vec<f64> = spec.generator(3, n).unwrap().map(|r| r.arrival.as_secs_f64()).collect();
        let g: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let m = g.iter().sum::<f64>() / g.len() as f64;
        let v = g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / g.len() as f64;
        (1.0 / m, v.sqrt() / m)
    }

    #[test]
    fn shared_prefixes_repeat_their_blocks_and_only_them() {
        let mut w = spec(ArrivalSpec::Poisson { rate: 10.0 });
        w.input_size = SizeSpec::Fixed { value: 300 };
        w.prefixes = Some(PrefixSpec { prompts: 3, tokens: 1024, zipf_s: 1.0, block_tokens: 512 });
        let reqs: Vec<Request> = w.generator(4, 2000).unwrap().collect();
        let mut seen = std::collections::HashMap::<u64, u32>::new();
        for r in &reqs {
            assert_eq!(r.input_size, 1324);
            let b = r.prefix_blocks.as_deref().unwrap();
            assert_eq!(b.len() as u64, r.input_size.div_ceil(512), "one id per block, the last one partial");
            assert_eq!(b[0] >> 32, b[1] >> 32, "the two shared blocks name one prefix");
            assert!(b[0] >> 32 < 3 && b[2] >> 63 == 1);
            for &h in b {
                *seen.entry(h).or_default() += 1;
            }
        }
        // 6 shared blocks, each seen many times; every own block exactly once.
        assert_eq!(seen.values().filter(|&&n| n > 1).count(), 6);
        assert_eq!(seen.values().filter(|&&n| n == 1).count(), reqs.len());
        // Zipf(1) over 3: prefix 0 is the most popular.
        let first = reqs.iter().filter(|r| r.prefix_blocks.as_deref().unwrap()[0] >> 32 == 0).count();
        assert!(first as f64 / 2000.0 > 0.45, "{first}");
        let bad = PrefixSpec { prompts: 0, tokens: 10, zipf_s: 1.0, block_tokens: 512 };
        assert!(bad.validate("prefixes").unwrap_err().to_string().contains("prefixes.prompts"));
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
