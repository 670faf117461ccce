//! The production contract: `gate` and `audit` (`lineage` is its own module).

use anyhow::Result;
use clap::Args;
use servesim::audit::{RunAudit, audit_run, run_dirs};
use servesim::error::input;
use servesim::ops::gate::{GateRequest, Gated};
use std::path::PathBuf;

/// Compare a candidate run with a baseline under declared rules and decide.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim gate --baseline runs/run-aaaa --candidate runs/run-bbbb --rules builtin:int8-vs-fp32
  servesim gate --baseline runs/run-aaaa --candidate runs/run-bbbb --rules my-rules.toml --out gates

Built-in rule sets: int8-vs-fp32, student-vs-teacher, hardware-mix (sim/rules/*.toml).
Both runs are audited first: a run that fails its audit cannot be promoted (verdict block).
Writes OUT/<gate-id>/decision.json (verdict, every rule's values, bound and outcome, the audits).
Exit codes: 0 accept, 3 warn, 4 block, 5 rollback; 2 bad input.")]
pub struct GateArgs {
    /// The run in production (a run directory).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The run proposed to replace it.
    #[arg(long)]
    pub candidate: PathBuf,
    /// Rules: a TOML file, or builtin:NAME.
    #[arg(long)]
    pub rules: String,
    /// Where decisions are written.
    #[arg(long, short = 'o', default_value = "gates")]
    pub out: PathBuf,
}

/// Re-hash a run (or every run in a directory) and check its lineage.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  servesim audit runs/run-aaaa
  servesim audit runs

Signals: missing (a listed file is absent), tampered (a hash differs), orphaned (a file the
manifest does not list), unauditable (a lineage field is missing or the code version unknown),
inconsistent (the run id or config hash does not match the files).
Exit codes: 0 every run clean, 4 findings (promotion must be refused), 2 bad input.")]
pub struct AuditArgs {
    /// A run directory, or a directory of run directories.
    pub path: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gate`; returns the process exit code.
pub fn gate(args: &GateArgs) -> Result<u8> {
    let req = GateRequest {
        baseline: args.baseline.clone(),
        candidate: args.candidate.clone(),
        rules: args.rules.clone(),
        out: args.out.clone(),
        recorded_paths: None,
    };
    let Gated { gate_id, dir: path, decision } = servesim::ops::gate::gate(&req)?;
    let decision_code = decision.verdict.exit_code();
    print_decision(&req, &Gated { gate_id, dir: path, decision });
    Ok(decision_code)
}

/// Prints a gate's decision, rule by rule.
pub(crate) fn print_decision(args: &GateRequest, gated: &Gated) {
    let (gate_id, path, decision) = (&gated.gate_id, &gated.dir, &gated.decision);
    println!("gate {gate_id}  ->  {}", path.display());
    println!("rules {}  baseline {}  candidate {}", decision.rules, args.baseline.display(), args.candidate.display());
    println!("{:<34} {:<9} {:>14} {:>14} {:>14}  outcome", "metric", "action", "baseline", "candidate", "bound");
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.6}"));
    for e in &decision.evidence {
        println!(
            "{:<34} {:<9} {:>14} {:>14} {:>14}  {}",
            e.rule.metric,
            format!("{:?}", e.rule.action).to_lowercase(),
            num(e.baseline),
            num(e.candidate),
            num(e.bound),
            e.outcome
        );
    }
    println!("verdict: {:?} (exit code {})", decision.verdict, decision.verdict.exit_code());
}

/// Runs `audit`; returns the process exit code.
pub fn audit(args: &AuditArgs) -> Result<u8> {
    if !args.path.is_dir() {
        return Err(input(format!("{}: not a directory", args.path.display())));
    }
    let dirs = run_dirs(&args.path);
    if dirs.is_empty() {
        return Err(input(format!("{}: no run directories here", args.path.display())));
    }
    let audits: Vec<RunAudit> = dirs.iter().map(|d| audit_run(d)).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&audits)?);
    } else {
        for a in &audits {
            let status = if a.is_clean() { "clean" } else { "FINDINGS" };
            println!("{}  {}  ({} files verified)", a.path.display(), status, a.verified);
            for f in &a.findings {
                println!("  {:<12} {:<24} {}", f.signal, f.subject, f.detail);
            }
        }
    }
    Ok(if audits.iter().all(RunAudit::is_clean) { 0 } else { 4 })
}
