//! Service-time models: how long one request occupies one server.

use crate::config::ConfigError;
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
}

fn positive(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("must be a positive finite number, got {v}"),
        ))
    }
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
            ServiceSpec::Empirical { values_ms } => {
                if values_ms.is_empty() {
                    return Err(ConfigError::invalid(
                        &format!("{key}.values_ms"),
                        "needs at least one value",
                    ));
                }
                for (i, v) in values_ms.iter().enumerate() {
                    positive(&format!("{key}.values_ms[{i}]"), *v)?;
                }
                Ok(())
            }
        }
    }

    /// Mean service time, seconds.
    pub fn mean_s(&self) -> f64 {
        match self {
            ServiceSpec::Exponential { mean_ms } | ServiceSpec::LogNormal { mean_ms, .. } => {
                mean_ms / 1e3
            }
            ServiceSpec::Deterministic { ms } => ms / 1e3,
            ServiceSpec::Empirical { values_ms } => {
                values_ms.iter().sum::<f64>() / values_ms.len() as f64 / 1e3
            }
        }
    }

    /// Second moment E[S²], seconds².
    pub fn second_moment_s2(&self) -> f64 {
        let m = self.mean_s();
        match self {
            ServiceSpec::Exponential { .. } => 2.0 * m * m,
            ServiceSpec::Deterministic { .. } => m * m,
            ServiceSpec::LogNormal { cv, .. } => m * m * (1.0 + cv * cv),
            ServiceSpec::Empirical { values_ms } => {
                values_ms.iter().map(|v| (v / 1e3) * (v / 1e3)).sum::<f64>()
                    / values_ms.len() as f64
            }
        }
    }

    pub(crate) fn sampler(&self) -> ServiceSampler {
        match self {
            ServiceSpec::Exponential { mean_ms } => ServiceSampler::Exponential(
                Exp::new(1.0 / (mean_ms * 1e6)).expect("validated positive mean"),
            ),
            ServiceSpec::Deterministic { ms } => {
                ServiceSampler::Fixed(SimTime::from_millis_f64(*ms).unwrap_or(SimTime::MAX))
            }
            ServiceSpec::LogNormal { mean_ms, cv } => {
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = (mean_ms * 1e6).ln() - sigma2 / 2.0;
                ServiceSampler::LogNormal(LogNormal::new(mu, sigma2.sqrt()).expect("validated cv"))
            }
            ServiceSpec::Empirical { values_ms } => ServiceSampler::Empirical(
                values_ms
                    .iter()
                    .map(|v| SimTime::from_millis_f64(*v).unwrap_or(SimTime::MAX))
                    .collect(),
            ),
        }
    }
}

/// A ready-to-draw service-time distribution (nanoseconds inside).
pub(crate) enum ServiceSampler {
    Exponential(Exp<f64>),
    Fixed(SimTime),
    LogNormal(LogNormal<f64>),
    Empirical(Vec<SimTime>),
}

impl ServiceSampler {
    pub(crate) fn sample(&self, rng: &mut StreamRng) -> SimTime {
        use rand::RngExt;
        match self {
            ServiceSampler::Exponential(d) => SimTime(d.sample(rng).round() as u64),
            ServiceSampler::Fixed(t) => *t,
            ServiceSampler::LogNormal(d) => SimTime(d.sample(rng).round() as u64),
            ServiceSampler::Empirical(v) => v[rng.random_range(0..v.len())],
        }
    }
}
