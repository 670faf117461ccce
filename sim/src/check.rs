//! Configuration and run errors and the value checks every config section shares: a leaf module
//! (it uses only `calendar`'s error and `traces`), so that `config` can depend on the sections
//! (catalog, service, policies, llm) and they, and both engines, on these without a cycle.

use traces::SimTime;

/// Largest `servers` and `count` accepted per device group.
pub const MAX_REPLICAS: u32 = 100_000;

/// A scenario file that cannot be used, with the key that is wrong and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML, or a key unknown or of the wrong type (the parser's message names it).
    #[error("{0}")]
    Parse(String),
    /// A value out of range or inconsistent with others.
    #[error("`{key}`: {reason}")]
    Invalid {
        /// Dotted key path, e.g. `devices[0].servers`.
        key: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// An invalid value at `key`.
    pub fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { key: key.to_string(), reason: reason.into() }
    }
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The request source went back in time (an unsorted trace).
    #[error("request {id} arrives at {arrival}, before the previous arrival at {previous}: the trace is not sorted")]
    Unsorted {
        /// Request id.
        id: u64,
        /// Its arrival.
        arrival: SimTime,
        /// The arrival before it.
        previous: SimTime,
    },
    /// The scenario does not resolve (see [`crate::ScenarioConfig::resolve`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An internal scheduling bug.
    #[error(transparent)]
    Schedule(#[from] crate::calendar::ScheduleError),
}

/// `v` must be finite and ≥ 0; the error names `key`.
pub(crate) fn non_negative(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("must be a non-negative finite number, got {v}")))
    }
}

/// `v` must be finite and > 0; the error names `key`.
pub(crate) fn positive(key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("must be a positive finite number, got {v}")))
    }
}

/// Checks measured points (x strictly increasing from 1, y positive, equal lengths); errors name
/// `key.xf[i]` or `key.yf[i]`.
pub(crate) fn check_points(key: &str, xf: &str, yf: &str, xs: &[u32], ys: &[f64]) -> Result<(), ConfigError> {
    if xs.is_empty() {
        return Err(ConfigError::invalid(&format!("{key}.{xf}"), "needs at least one point"));
    }
    if xs.len() != ys.len() {
        return Err(ConfigError::invalid(
            &format!("{key}.{yf}"),
            format!("has {} values for the {} values of `{xf}`", ys.len(), xs.len()),
        ));
    }
    if xs[0] == 0 {
        return Err(ConfigError::invalid(&format!("{key}.{xf}[0]"), "must be at least 1"));
    }
    for i in 1..xs.len() {
        if xs[i] <= xs[i - 1] {
            return Err(ConfigError::invalid(&format!("{key}.{xf}[{i}]"), "must strictly increase"));
        }
    }
    for (i, v) in ys.iter().enumerate() {
        positive(&format!("{key}.{yf}[{i}]"), *v)?;
    }
    Ok(())
}
