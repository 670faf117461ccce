//! Size distributions (input sizes, output tokens) and cache-key popularity.

use crate::error::{Result, TraceError};
use crate::rng::StreamRng;
use rand::RngExt;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, LogNormal, Zipf};
use serde::{Deserialize, Serialize};

/// A distribution of non-negative integer sizes (tokens or bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeSpec {
    /// Always `value`.
    Fixed {
        /// The size.
        value: u64,
    },
    /// Lognormal with the given mean and coefficient of variation, rounded to an integer, at
    /// least 1.
    LogNormal {
        /// Mean size.
        mean: f64,
        /// Coefficient of variation (std / mean).
        cv: f64,
    },
    /// Resampled uniformly from observed values (for example a real trace's input sizes).
    Empirical {
        /// The observed values; must not be empty.
        values: Vec<u64>,
    },
    /// Resampled uniformly from one column of a trace file (servesim, Azure or Mooncake schema,
    /// detected), for example the real prompt lengths of the Azure conversation trace. The path
    /// is relative to the working directory.
    FromTrace {
        /// Trace file.
        path: String,
        /// Which column to sample.
        field: TraceField,
    },
}

/// A size column of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceField {
    /// Input size (prompt tokens).
    InputSize,
    /// Output tokens.
    OutputTokens,
}

impl SizeSpec {
    /// Fixed size 1 (the default input size).
    pub fn one() -> SizeSpec {
        SizeSpec::Fixed { value: 1 }
    }

    /// Fixed size 0 (the default output length).
    pub fn zero() -> SizeSpec {
        SizeSpec::Fixed { value: 0 }
    }

    /// Checks parameters; errors name `field`.
    pub fn validate(&self, field: &str) -> Result<()> {
        match self {
            SizeSpec::Fixed { .. } => Ok(()),
            SizeSpec::LogNormal { mean, cv } => {
                if !(mean.is_finite() && *mean > 0.0) {
                    return Err(TraceError::spec(
                        format!("{field}.mean"),
                        format!("must be a positive finite number, got {mean}"),
                    ));
                }
                if !(cv.is_finite() && *cv > 0.0) {
                    return Err(TraceError::spec(
                        format!("{field}.cv"),
                        format!("must be a positive finite number, got {cv}"),
                    ));
                }
                Ok(())
            }
            SizeSpec::Empirical { values } if values.is_empty() => {
                Err(TraceError::spec(format!("{field}.values"), "needs at least one value"))
            }
            SizeSpec::Empirical { .. } => Ok(()),
            SizeSpec::FromTrace { path, .. } if path.trim().is_empty() => {
                Err(TraceError::spec(format!("{field}.path"), "must name a trace file"))
            }
            SizeSpec::FromTrace { .. } => Ok(()),
        }
    }

    /// Mean of the distribution (before rounding); `None` for a trace column not yet read.
    pub fn mean(&self) -> Option<f64> {
        match self {
            SizeSpec::Fixed { value } => Some(*value as f64),
            SizeSpec::LogNormal { mean, .. } => Some(*mean),
            SizeSpec::Empirical { values } => {
                Some(values.iter().map(|&v| v as f64).sum::<f64>() / values.len().max(1) as f64)
            }
            SizeSpec::FromTrace { .. } => None,
        }
    }

    pub(crate) fn sampler(&self) -> Result<SizeSampler> {
        self.validate("size")?;
        Ok(match self {
            SizeSpec::Fixed { value } => SizeSampler::Fixed(*value),
            SizeSpec::LogNormal { mean, cv } => {
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                SizeSampler::LogNormal(
                    LogNormal::new(mu, sigma2.sqrt()).map_err(|e| TraceError::spec("size.cv", e.to_string()))?,
                )
            }
            SizeSpec::Empirical { values } => SizeSampler::Empirical(values.clone()),
            SizeSpec::FromTrace { path, field } => SizeSampler::Empirical(trace_column(path, *field)?),
        })
    }
}

/// A ready-to-draw size distribution.
pub enum SizeSampler {
    /// Constant.
    Fixed(u64),
    /// Lognormal, rounded, at least 1.
    LogNormal(LogNormal<f64>),
    /// Uniform over observed values.
    Empirical(Vec<u64>),
}

impl SizeSampler {
    /// One draw.
    pub fn sample(&self, rng: &mut StreamRng) -> u64 {
        match self {
            SizeSampler::Fixed(v) => *v,
            SizeSampler::LogNormal(d) => (d.sample(rng).round() as u64).max(1),
            SizeSampler::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }
}

/// Cache keys drawn independently from a Zipf(s) law over `universe` keys (key 0 most popular).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Number of distinct keys.
    pub universe: u64,
    /// Zipf exponent: P(key k) ∝ (k + 1)^(−s); 0 is uniform.
    pub zipf_s: f64,
}

impl KeySpec {
    /// Checks parameters; errors name `field`.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.universe == 0 {
            return Err(TraceError::spec(format!("{field}.universe"), "must be at least 1"));
        }
        if !(self.zipf_s.is_finite() && self.zipf_s >= 0.0) {
            return Err(TraceError::spec(
                format!("{field}.zipf_s"),
                format!("must be a non-negative finite number, got {}", self.zipf_s),
            ));
        }
        Ok(())
    }

    /// A sampler of keys in `0..universe`.
    pub fn sampler(&self) -> Result<KeySampler> {
        self.validate("cache_keys")?;
        let err = |e: String| TraceError::spec("cache_keys", e);
        if self.universe <= ALIAS_MAX_KEYS {
            // Walker's alias method: O(1) per key after an O(n) table, no powf per draw.
            // f32 weights halve the table (it is read at random: cache misses dominate).
            let weights: Vec<f32> = (1..=self.universe).map(|k| (k as f64).powf(-self.zipf_s) as f32).collect();
            return WeightedAliasIndex::new(weights).map(KeySampler::Alias).map_err(|e| err(e.to_string()));
        }
        Zipf::new(self.universe as f64, self.zipf_s).map(KeySampler::Rejection).map_err(|e| err(e.to_string()))
    }
}

/// Universes up to this size use an alias table (16 bytes per key); larger ones rejection sampling.
const ALIAS_MAX_KEYS: u64 = 1 << 22;

/// A ready-to-draw key distribution.
pub enum KeySampler {
    /// Alias table over the key probabilities.
    Alias(WeightedAliasIndex<f32>),
    /// Rejection sampling (large universes).
    Rejection(Zipf<f64>),
}

impl KeySampler {
    /// One key in `0..universe`.
    pub fn sample(&mut self, rng: &mut StreamRng) -> u64 {
        match self {
            KeySampler::Alias(a) => a.sample(rng) as u64,
            KeySampler::Rejection(z) => z.sample(rng) as u64 - 1,
        }
    }
}

#[cfg(feature = "formats")]
fn trace_column(path: &str, field: TraceField) -> Result<Vec<u64>> {
    let trace = crate::formats::read_any(std::path::Path::new(path), None)?;
    Ok(trace
        .requests
        .iter()
        .map(|r| match field {
            TraceField::InputSize => r.input_size,
            TraceField::OutputTokens => r.output_tokens,
        })
        .collect())
}

#[cfg(not(feature = "formats"))]
fn trace_column(path: &str, _field: TraceField) -> Result<Vec<u64>> {
    Err(TraceError::spec(
        "from_trace",
        format!("{path}: reading sizes from a trace needs the `formats` feature of the traces crate"),
    ))
}
