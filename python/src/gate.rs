//! The release gate over two summaries (`sim::gate`): rules parsed and evaluated by the library,
//! metrics flattened by `sim::gate::metrics_of` as for `servesim gate`.
//!
//! `gate` judges summaries held in memory (no files to audit, nothing written); `gate_dirs` is
//! `servesim gate` on run directories, through `servesim::ops::gate`.

use crate::error::{input, ops, other};
use pyo3::prelude::*;
use servesim::ops::gate::GateRequest;
use sim::gate::{BUILTIN_RULES, RuleSet};
use std::path::PathBuf;

/// Loads rules as `servesim gate --rules` does (`builtin:NAME` or a file, through
/// `servesim::ops::gate::load_rules`), or from TOML text.
fn load_rules(arg: &str, is_text: bool) -> PyResult<RuleSet> {
    if is_text {
        return RuleSet::parse(arg).map_err(|e| input(format!("<toml>: invalid rules: {e}")));
    }
    servesim::ops::gate::load_rules(arg).map(|(rules, _)| rules).map_err(|e| ops(&e))
}

/// Evaluates `rules` on two summaries given as JSON; the decision (verdict, rule set name,
/// per-rule evidence) as JSON.
#[pyfunction]
#[pyo3(signature = (baseline_json, candidate_json, rules, rules_is_text=false))]
pub(crate) fn gate(baseline_json: &str, candidate_json: &str, rules: &str, rules_is_text: bool) -> PyResult<String> {
    let rules = load_rules(rules, rules_is_text)?;
    let metrics = |who: &str, text: &str| -> PyResult<_> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| input(format!("{who}: not a summary: {e}")))?;
        Ok(sim::gate::metrics_of(&v))
    };
    let decision = rules.evaluate(&metrics("baseline", baseline_json)?, &metrics("candidate", candidate_json)?);
    serde_json::to_string(&decision).map_err(other)
}

/// Every built-in rule set: name → TOML text.
#[pyfunction]
pub(crate) fn builtin_rules() -> Vec<(&'static str, &'static str)> {
    BUILTIN_RULES.to_vec()
}

/// The release gate on two run directories, as `servesim gate` decides it
/// (`servesim::ops::gate::gate`): both runs audited (a run that fails its audit is blocked, the
/// findings are evidence), the rules evaluated on their `summary.json`, and `OUT/<gate-id>/`
/// written with `rules.toml` and `decision.json`. Returns (gate id, directory, decision.json text).
#[pyfunction]
#[pyo3(signature = (baseline, candidate, rules, out))]
pub(crate) fn gate_dirs(
    py: Python<'_>,
    baseline: PathBuf,
    candidate: PathBuf,
    rules: String,
    out: PathBuf,
) -> PyResult<(String, String, String)> {
    let req = GateRequest { baseline, candidate, rules, out, recorded_paths: None };
    let gated = py.detach(|| servesim::ops::gate::gate(&req)).map_err(|e| ops(&e))?;
    let file = std::fs::read_to_string(gated.dir.join("decision.json")).map_err(other)?;
    Ok((gated.gate_id, gated.dir.display().to_string(), file))
}
