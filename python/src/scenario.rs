//! A scenario from Python: a built-in name or a file (what the CLI's `--scenario` takes), TOML
//! text, or a dict (sent as JSON) — as a `servesim::scenario::ScenarioSource`, which the library
//! loads and validates with the CLI's messages.

use crate::error::input;
use pyo3::prelude::*;
use servesim::scenario::ScenarioSource;

/// The source of `text` given as `kind`: `name_or_path` (the CLI's `--scenario`: a file if it
/// exists or ends in `.toml`, else a built-in name), `toml` (scenario text, named `<toml>`) or
/// `json` (a dict serialized by the Python side, named `<dict>`).
pub(crate) fn source(text: &str, kind: &str) -> PyResult<ScenarioSource> {
    match kind {
        "toml" => Ok(ScenarioSource::Toml { text: text.to_string(), label: "<toml>".into() }),
        "json" => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| input(format!("<dict>: not a scenario table: {e}")))?;
            let toml = toml::to_string(&value).map_err(|e| {
                input(format!("<dict>: cannot be written as TOML (None values have no TOML form): {e}"))
            })?;
            Ok(ScenarioSource::Toml { text: toml, label: "<dict>".into() })
        }
        "name_or_path" => Ok(ScenarioSource::Arg(text.to_string())),
        other => Err(crate::error::other(format!("internal: unknown scenario kind `{other}`"))),
    }
}

/// Every built-in scenario: name → TOML text.
#[pyfunction]
pub(crate) fn builtin_scenarios() -> Vec<(&'static str, &'static str)> {
    sim::builtin::BUILTINS.to_vec()
}
