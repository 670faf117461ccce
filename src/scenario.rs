//! Finding a scenario: a TOML file, or the name of a built-in.

use crate::error::input;
use anyhow::{Context, Result};
use sim::ScenarioConfig;
use std::path::Path;

/// Where a scenario came from.
pub struct Loaded {
    /// The validated config.
    pub config: ScenarioConfig,
    /// `builtin:NAME` or the file path.
    pub source: String,
}

/// Loads `arg`: an existing file (or anything ending in `.toml`) is read; otherwise `arg` must be a
/// built-in name.
pub fn load(arg: &str) -> Result<Loaded> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".toml") {
        let text =
            std::fs::read_to_string(path).map_err(|e| input(format!("{arg}: cannot read scenario file: {e}")))?;
        let config = ScenarioConfig::parse(&text).with_context(|| format!("{arg}: invalid scenario"))?;
        return Ok(Loaded { config, source: arg.to_string() });
    }
    match sim::builtin::builtin(arg) {
        Some(c) => Ok(Loaded { config: c.context("built-in scenario is invalid")?, source: format!("builtin:{arg}") }),
        None => {
            let names: Vec<&str> = sim::builtin::BUILTINS.iter().map(|(n, _)| *n).collect();
            Err(input(format!(
                "unknown scenario `{arg}`: not a file and not a built-in (built-ins: {}; `servesim scenarios` describes them)",
                names.join(", ")
            )))
        }
    }
}
