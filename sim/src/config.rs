//! Scenario files: TOML, parsed in two stages.
//!
//! [`ScenarioConfig`] is the raw serde form (`deny_unknown_fields`, every field documented);
//! [`ScenarioConfig::validate`] checks every value and names the offending key. The validated
//! config is what the engine runs and what a run directory stores as `config.resolved.toml`.

use crate::policy::BatcherSpec;
use crate::service::ServiceSpec;
use serde::{Deserialize, Serialize};
use traces::workload::WorkloadSpec;

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
        ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// A serving scenario: workload, devices and how requests reach them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Short name (used in run ids and listings).
    pub name: String,
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Run seed; every random stream is derived from it. The CLI's `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of requests to simulate (generated workloads; a trace is cut to this many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Synthetic workload; optional when a trace is given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSpec>,
    /// How requests are spread over devices when there are several.
    #[serde(default)]
    pub router: RouterSpec,
    /// The devices. Each has one FIFO queue and `servers` identical servers.
    pub devices: Vec<DeviceSpec>,
}

fn default_seed() -> u64 {
    1
}

/// Routing policy across devices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouterSpec {
    /// Device `i mod n` for the i-th request.
    #[default]
    RoundRobin,
}

/// What to do with a trace's recorded service time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedService {
    /// Use the recorded time when a request has one, else sample the device's distribution.
    #[default]
    Prefer,
    /// Always sample the device's distribution.
    Ignore,
}

/// One device (a model replica): a FIFO queue in front of `servers` identical servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// Name, unique among devices.
    pub name: String,
    /// Number of servers (concurrent requests in service), at least 1.
    #[serde(default = "one")]
    pub servers: u32,
    /// Maximum number of waiting requests; arrivals beyond it are dropped. Unbounded if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<u64>,
    /// Service time of one batch (one request when not batching) on one server.
    pub service: ServiceSpec,
    /// How waiting requests are grouped into batches (default: none, one at a time).
    #[serde(default, skip_serializing_if = "BatcherSpec::is_none")]
    pub batching: BatcherSpec,
    /// Whether a trace's recorded service time overrides the distribution.
    #[serde(default)]
    pub recorded_service: RecordedService,
}

fn one() -> u32 {
    1
}

impl ScenarioConfig {
    /// Parses TOML text (no validation beyond types and known keys).
    pub fn from_toml_str(text: &str) -> Result<ScenarioConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string().trim_end().to_string()))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<ScenarioConfig, ConfigError> {
        let c = Self::from_toml_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// The canonical TOML of this config (what `config.resolved.toml` holds).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario config always serializes")
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "must not be empty"));
        }
        if self.requests == Some(0) {
            return Err(ConfigError::invalid("requests", "must be at least 1"));
        }
        if let Some(w) = &self.workload {
            w.validate().map_err(|e| match e {
                traces::TraceError::Spec { field, reason } => {
                    ConfigError::invalid(&format!("workload.{field}"), reason)
                }
                other => ConfigError::invalid("workload", other.to_string()),
            })?;
        }
        if self.devices.is_empty() {
            return Err(ConfigError::invalid(
                "devices",
                "at least one device is needed",
            ));
        }
        for (i, d) in self.devices.iter().enumerate() {
            let key = format!("devices[{i}]");
            if d.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    "must not be empty",
                ));
            }
            if self.devices[..i].iter().any(|o| o.name == d.name) {
                return Err(ConfigError::invalid(
                    &format!("{key}.name"),
                    format!("duplicate device name `{}`", d.name),
                ));
            }
            if d.servers == 0 {
                return Err(ConfigError::invalid(
                    &format!("{key}.servers"),
                    "must be at least 1",
                ));
            }
            d.service.validate(&format!("{key}.service"))?;
            d.batching.validate(&format!("{key}.batching"))?;
        }
        Ok(())
    }

    /// Total servers over all devices.
    pub fn total_servers(&self) -> u64 {
        self.devices.iter().map(|d| u64::from(d.servers)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "t"
        [workload.arrivals]
        kind = "poisson"
        rate = 10.0
        [[devices]]
        name = "d"
        servers = 2
        service = { kind = "exponential", mean_ms = 5.0 }
    "#;

    fn err(text: &str) -> String {
        ScenarioConfig::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_scenario_round_trips_through_its_resolved_toml() {
        let c = ScenarioConfig::parse(GOOD).unwrap();
        assert_eq!(ScenarioConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn bad_scenarios_name_the_key_and_the_reason() {
        let e = err(&GOOD.replace("servers = 2", "servers = 0"));
        assert!(
            e.contains("devices[0].servers") && e.contains("at least 1"),
            "{e}"
        );
        let e = err(&GOOD.replace("rate = 10.0", "rate = -10.0"));
        assert!(
            e.contains("workload.arrivals.rate") && e.contains("positive"),
            "{e}"
        );
        let e = err(&GOOD.replace("servers = 2", "servers = 2\nspeed = 3"));
        assert!(e.contains("unknown field") && e.contains("speed"), "{e}");
        let e = err(&GOOD.replace("servers = 2", "servers = \"two\""));
        assert!(e.contains("servers") && e.contains("invalid type"), "{e}");
        let e = err(&GOOD.replace("\"exponential\"", "\"weibull\""));
        assert!(e.contains("weibull"), "{e}");
        let e = err(&GOOD.replace("mean_ms = 5.0", "mean_ms = 0.0"));
        assert!(e.contains("devices[0].service.mean_ms"), "{e}");
    }
}
