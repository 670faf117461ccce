//! Finding a scenario: a TOML file, the name of a built-in, or TOML text.

use crate::error::input;
use anyhow::{Context, Result};
use sim::ScenarioConfig;
use std::path::{Path, PathBuf};

/// Where a scenario came from.
pub struct Loaded {
    /// The validated config.
    pub config: ScenarioConfig,
    /// `builtin:NAME`, the file path, or the label given with TOML text.
    pub source: String,
}

/// A scenario as a caller names it.
#[derive(Clone, Debug)]
pub enum ScenarioSource {
    /// What `--scenario` takes: an existing file (or anything ending in `.toml`), else a built-in.
    Arg(String),
    /// A built-in scenario by name (`servesim scenarios` lists them).
    Builtin(String),
    /// A TOML file.
    File(PathBuf),
    /// TOML text; `label` is how manifests name its source.
    Toml {
        /// The scenario.
        text: String,
        /// Its `scenario_source` in manifests.
        label: String,
    },
    /// A config already built (and validated) as a value; `label` names its source.
    Config {
        /// The scenario.
        config: Box<ScenarioConfig>,
        /// Its `scenario_source` in manifests.
        label: String,
    },
}

impl ScenarioSource {
    /// Resolves the source to a validated config.
    pub fn load(&self) -> Result<Loaded> {
        match self {
            ScenarioSource::Arg(arg) => load(arg),
            ScenarioSource::Builtin(name) => builtin(name),
            ScenarioSource::File(path) => file(path),
            ScenarioSource::Toml { text, label } => {
                let config = ScenarioConfig::parse(text).with_context(|| format!("{label}: invalid scenario"))?;
                Ok(Loaded { config, source: label.clone() })
            }
            ScenarioSource::Config { config, label } => {
                Ok(Loaded { config: (**config).clone(), source: label.clone() })
            }
        }
    }
}

/// Loads `arg`: an existing file (or anything ending in `.toml`) is read; otherwise `arg` must be a
/// built-in name.
pub fn load(arg: &str) -> Result<Loaded> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".toml") {
        return file(path);
    }
    builtin(arg)
}

/// Reads and validates a scenario file.
pub fn file(path: &Path) -> Result<Loaded> {
    let arg = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| input(format!("{arg}: cannot read scenario file: {e}")))?;
    let config = ScenarioConfig::parse(&text).with_context(|| format!("{arg}: invalid scenario"))?;
    Ok(Loaded { config, source: arg })
}

/// A built-in scenario by name.
pub fn builtin(name: &str) -> Result<Loaded> {
    match sim::builtin::builtin(name) {
        Some(c) => Ok(Loaded { config: c.context("built-in scenario is invalid")?, source: format!("builtin:{name}") }),
        None => {
            let names: Vec<&str> = sim::builtin::BUILTINS.iter().map(|(n, _)| *n).collect();
            Err(input(format!(
                "unknown scenario `{name}`: not a file and not a built-in (built-ins: {}; `servesim scenarios` describes them)",
                names.join(", ")
            )))
        }
    }
}
