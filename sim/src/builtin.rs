//! Built-in scenarios, embedded in the binary (`servesim scenarios` lists them).

use crate::config::{ConfigError, ScenarioConfig};

/// (name, TOML text) of every built-in scenario, in listing order.
pub const BUILTINS: &[(&str, &str)] = &[
    ("mmc", include_str!("../scenarios/mmc.toml")),
    ("mm1", include_str!("../scenarios/mm1.toml")),
    ("md1", include_str!("../scenarios/md1.toml")),
    ("bursty", include_str!("../scenarios/bursty.toml")),
    ("overload", include_str!("../scenarios/overload.toml")),
    ("dynbatch", include_str!("../scenarios/dynbatch.toml")),
    ("batching", include_str!("../scenarios/batching.toml")),
    ("caching", include_str!("../scenarios/caching.toml")),
    ("quantization", include_str!("../scenarios/quantization.toml")),
    ("distillation", include_str!("../scenarios/distillation.toml")),
    ("hardware", include_str!("../scenarios/hardware.toml")),
    ("autoscaling", include_str!("../scenarios/autoscaling.toml")),
    ("llm", include_str!("../scenarios/llm.toml")),
];

/// The TOML text of built-in scenario `name`.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The parsed and validated built-in scenario `name`.
pub fn builtin(name: &str) -> Option<Result<ScenarioConfig, ConfigError>> {
    builtin_text(name).map(ScenarioConfig::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_validates_and_is_named_after_its_key() {
        for (name, _) in BUILTINS {
            let c = builtin(name).unwrap().unwrap();
            assert_eq!(&c.name, name);
            assert!(!c.description.is_empty());
        }
    }
}
