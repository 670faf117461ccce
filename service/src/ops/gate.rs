//! Release gates: a candidate run against a baseline under declared rules, with evidence.

use crate::audit::{RunAudit, audit_run, is_run_dir};
use crate::error::input;
use crate::rundir::{RunDir, code_version, read_json, sha256_hex};
use anyhow::{Context, Result};
use artifact::IdKind;
use serde::Serialize;
use sim::gate::{BUILTIN_RULES, Decision, RuleSet, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A gate to decide.
#[derive(Clone, Debug)]
pub struct GateRequest {
    /// The run in production (a run directory).
    pub baseline: PathBuf,
    /// The run proposed to replace it.
    pub candidate: PathBuf,
    /// Rules: a TOML file, or `builtin:NAME`.
    pub rules: String,
    /// Where decisions are written.
    pub out: PathBuf,
    /// How decision.json names the two runs, when not by the paths given.
    pub recorded_paths: Option<[String; 2]>,
}

/// A decided gate.
#[derive(Debug)]
pub struct Gated {
    /// `gate-` id (both run ids and the rules' hash).
    pub gate_id: String,
    /// `OUT/<gate-id>/`.
    pub dir: PathBuf,
    /// The verdict and every rule's evidence (the audits' findings included).
    pub decision: Decision,
}

/// The rule set `arg` names (`builtin:NAME` or a file) and its text.
pub fn load_rules(arg: &str) -> Result<(RuleSet, String)> {
    let text = match arg.strip_prefix("builtin:") {
        Some(name) => BUILTIN_RULES.iter().find(|(n, _)| *n == name).map(|(_, t)| t.to_string()).ok_or_else(|| {
            let names: Vec<&str> = BUILTIN_RULES.iter().map(|(n, _)| *n).collect();
            input(format!("--rules: unknown built-in rule set `{name}` (built-ins: {})", names.join(", ")))
        })?,
        None => std::fs::read_to_string(arg).map_err(|e| input(format!("{arg}: cannot read rules: {e}")))?,
    };
    let rules = RuleSet::parse(&text).with_context(|| format!("{arg}: invalid rules"))?;
    Ok((rules, text))
}

#[derive(Serialize, serde::Deserialize)]
struct RunRef {
    path: String,
    run_id: Option<String>,
}

#[derive(Serialize)]
struct DecisionFile<'a> {
    schema: &'static str,
    gate_id: &'a str,
    verdict: Verdict,
    exit_code: u8,
    rules_sha256: String,
    baseline: RunRef,
    candidate: RunRef,
    #[serde(flatten)]
    decision: &'a Decision,
    audits: [&'a RunAudit; 2],
    code: crate::rundir::CodeVersion,
}

/// Audits both runs, evaluates the rules on their summaries and writes
/// `OUT/<gate-id>/decision.json` with the rules used. A run that fails its audit cannot be
/// promoted (verdict at least block).
pub fn gate(args: &GateRequest) -> Result<Gated> {
    for (flag, p) in [("--baseline", &args.baseline), ("--candidate", &args.candidate)] {
        if !is_run_dir(p) {
            return Err(input(format!("{flag} {}: not a run directory (no manifest.json)", p.display())));
        }
    }
    let (rules, text) = load_rules(&args.rules)?;
    // An unreadable summary yields no metrics: every rule on it fails, and the audit says why.
    let metrics = |p: &Path| -> BTreeMap<String, f64> {
        read_json(&p.join("summary.json")).map(|v| sim::gate::metrics_of(&v)).unwrap_or_default()
    };
    let (b, c) = (metrics(&args.baseline), metrics(&args.candidate));
    let mut decision = rules.evaluate(&b, &c);
    let audits = [audit_run(&args.baseline), audit_run(&args.candidate)];
    for (who, a) in ["baseline", "candidate"].iter().zip(&audits) {
        if !a.is_clean() {
            decision.verdict = decision.verdict.max(Verdict::Block);
            decision.evidence.push(sim::gate::Evidence {
                rule: sim::gate::Rule {
                    metric: format!("audit.{who}"),
                    kind: sim::gate::RuleKind::Min,
                    limit: 0.0,
                    action: sim::gate::Action::Block,
                    owner: "servesim".into(),
                    why: "an unauditable run cannot be promoted".into(),
                    when_changed: Vec::new(),
                },
                baseline: None,
                candidate: None,
                bound: None,
                passed: false,
                outcome: format!(
                    "FAIL: {} finding(s): {}",
                    a.findings.len(),
                    a.findings.iter().map(|f| format!("{} {}", f.signal, f.subject)).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let rules_sha = sha256_hex(text.as_bytes());
    let gate_id: String =
        IdKind::Gate.of(format!("{:?}\0{:?}\0{rules_sha}", audits[0].run_id, audits[1].run_id)).into();
    let recorded = args
        .recorded_paths
        .clone()
        .unwrap_or_else(|| [args.baseline.display().to_string(), args.candidate.display().to_string()]);
    let file = DecisionFile {
        schema: "servesim.decision/1",
        gate_id: &gate_id,
        verdict: decision.verdict,
        exit_code: decision.verdict.exit_code(),
        rules_sha256: rules_sha,
        baseline: RunRef { path: recorded[0].clone(), run_id: audits[0].run_id.clone() },
        candidate: RunRef { path: recorded[1].clone(), run_id: audits[1].run_id.clone() },
        decision: &decision,
        audits: [&audits[0], &audits[1]],
        code: code_version(),
    };
    let mut dir = RunDir::create(&args.out, &gate_id)?;
    dir.write("rules.toml", text.as_bytes())?;
    dir.write("decision.json", (serde_json::to_string_pretty(&file)? + "\n").as_bytes())?;
    let dir = dir.commit()?;
    Ok(Gated { gate_id, dir, decision })
}
