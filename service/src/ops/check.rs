//! The chapter's failure table over a directory of traces, scenarios, profiles, validations,
//! model cards and runs: each finding is a [`Signal`] with its evidence and the response the
//! chapter prescribes (`servesim check` prints them).

use crate::audit::{audit_run, is_run_dir};
use crate::error::input;
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use traces::stats::ks_two_sample;

/// What to check, and the limits.
#[derive(Clone, Debug)]
pub struct CheckRequest {
    /// Directory to check (searched recursively, two levels deep).
    pub dir: PathBuf,
    /// Reference trace for drift checks.
    pub reference: Option<PathBuf>,
    /// Traces older than this many days are stale.
    pub max_age_days: Option<f64>,
    /// Cost budget, $ per 1000 requests.
    pub max_cost_per_1000: Option<f64>,
    /// Latency budget for p99, ms.
    pub max_p99_ms: Option<f64>,
    /// Largest tolerated sim-vs-replay relative error of p50/p90/p99 in a validation.
    pub max_drift: f64,
}

/// What a check found.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Items looked at (runs, traces, scenarios, profiles, validations, cards).
    pub checked: usize,
    /// The signals raised, in path order.
    pub signals: Vec<Signal>,
}

/// One raised signal.
#[derive(Debug, Serialize)]
pub struct Signal {
    /// Which failure.
    pub signal: &'static str,
    /// The file or run.
    pub subject: String,
    /// The measured evidence.
    pub evidence: String,
    /// What to do.
    pub response: &'static str,
}

fn files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        out.push(p.clone());
        if p.is_dir() && depth > 0 && !is_run_dir(&p) {
            files(&p, depth - 1, out);
        }
    }
}

fn gaps_and_sizes(t: &traces::Trace) -> (Vec<f64>, Vec<f64>) {
    let r = &t.requests;
    (
        r.windows(2).map(|w| (w[1].arrival - w[0].arrival).as_secs_f64()).collect(),
        r.iter().map(|q| q.input_size as f64).collect(),
    )
}

/// What is wrong with a model card, if anything: its id must be the hash of the ONNX file it names.
fn card_problem(card: &Path) -> Option<String> {
    /// The lineage fields of a card (`kernels::card::ModelCard`), each optional: a card missing
    /// one is a finding here, not a parse error.
    #[derive(serde::Deserialize)]
    struct Lineage {
        id: Option<String>,
        file: Option<String>,
        version: Option<String>,
        dataset_id: Option<String>,
    }
    let v: Lineage = match std::fs::read(card).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Some(format!("not valid JSON: {e}")),
        Err(e) => return Some(format!("cannot read: {e}")),
    };
    let (Some(id), Some(file)) = (v.id.as_deref(), v.file.as_deref()) else {
        return Some("no `id` or `file`: the model cannot be traced".into());
    };
    if v.version.as_deref().is_none_or(str::is_empty) || v.dataset_id.is_none() {
        return Some("no `version` or `dataset_id`: the lineage has a missing edge".into());
    }
    let onnx = card.parent().unwrap_or(Path::new(".")).join(file);
    match std::fs::read(&onnx) {
        Err(e) => Some(format!("{}: cannot read the model file: {e}", onnx.display())),
        Ok(bytes) => {
            let actual: String = artifact::IdKind::Model.of(&bytes).into();
            (actual != id).then(|| format!("{} hashes to {actual}, the card says {id}", onnx.display()))
        }
    }
}

/// Checks everything under `req.dir`; a missing directory or unreadable reference trace is an
/// input error.
pub fn check(req: &CheckRequest) -> Result<CheckReport> {
    if !req.dir.is_dir() {
        return Err(input(format!("{}: not a directory", req.dir.display())));
    }
    let reference = match &req.reference {
        Some(p) => Some(gaps_and_sizes(&traces::formats::read_any(p, None)?)),
        None => None,
    };
    let mut all = Vec::new();
    files(&req.dir, 2, &mut all);
    let mut signals = Vec::new();
    let mut checked = 0usize;
    for p in &all {
        let name = p.display().to_string();
        if p.is_dir() && is_run_dir(p) {
            checked += 1;
            let a = audit_run(p);
            if !a.is_clean() {
                let list: Vec<String> = a.findings.iter().map(|f| format!("{} {}", f.signal, f.subject)).collect();
                signals.push(Signal {
                    signal: "unauditable",
                    subject: name.clone(),
                    evidence: list.join("; "),
                    response: "refuse promotion; re-run from config.resolved.toml",
                });
            }
            let summary: Option<serde_json::Value> =
                std::fs::read(p.join("summary.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(s) = summary {
                // LLM runs report cost per token and end-to-end latency under `latency_ms.e2e`.
                let llm = s["engine"] == "llm";
                let cost = if llm {
                    let done = s["requests"]["completed"].as_f64().unwrap_or(0.0);
                    s["cost"]["usd"].as_f64().filter(|_| done > 0.0).map(|u| u / done * 1000.0)
                } else {
                    s["cost"]["usd_per_1000_requests"].as_f64()
                };
                let p99 = if llm { s["latency_ms"]["e2e"]["p99"].as_f64() } else { s["latency_ms"]["p99"].as_f64() };
                if let (Some(limit), Some(c)) = (req.max_cost_per_1000, cost)
                    && c > limit
                {
                    signals.push(Signal {
                        signal: "too costly",
                        subject: name.clone(),
                        evidence: format!("cost {c:.6} $/1000 requests > budget {limit}"),
                        response: "block; re-plan with `servesim plan`",
                    });
                }
                if let (Some(limit), Some(v)) = (req.max_p99_ms, p99)
                    && v > limit
                {
                    signals.push(Signal {
                        signal: "too costly",
                        subject: name.clone(),
                        evidence: format!("p99 latency {v:.3} ms > budget {limit} ms"),
                        response: "block; re-plan with `servesim plan`",
                    });
                }
            }
            continue;
        }
        if !p.is_file() {
            continue;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if p.file_name().is_some_and(|n| n == "comparison.json") {
            checked += 1;
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap_or_default())
                && v["schema"] == "servesim.validation/1"
            {
                let off: Vec<String> = ["p50", "p90", "p99"]
                    .iter()
                    .filter_map(|q| {
                        let e = v[format!("latency_ms_{q}")]["relative_error"].as_f64()?;
                        (e.abs() > req.max_drift).then(|| format!("{q} {:+.1}%", 100.0 * e))
                    })
                    .collect();
                if !off.is_empty() {
                    signals.push(Signal {
                        signal: "inconsistent",
                        subject: name.clone(),
                        evidence: format!(
                            "sim vs replay (runs {} / {}): {} beyond ±{:.0}%",
                            v["sim_run"].as_str().unwrap_or("?"),
                            v["replay_run"].as_str().unwrap_or("?"),
                            off.join(", "),
                            100.0 * req.max_drift
                        ),
                        response: "re-calibrate; do not plan on the simulator until it validates",
                    });
                }
            }
            continue;
        }
        if ext == "toml" && std::fs::read_to_string(p).is_ok_and(|t| t.contains("servesim.service-profile/")) {
            checked += 1;
            match replay::profile::Profile::load(p) {
                Err(e) => signals.push(Signal {
                    signal: "malformed",
                    subject: name.clone(),
                    evidence: e.to_string(),
                    response: "fix the named key or re-run `servesim calibrate`",
                }),
                Ok(profile) => {
                    let variants: Vec<&str> = profile.entries.iter().map(|e| e.variant.as_str()).collect();
                    if let Err(e) = profile.check_fresh(p, Path::new(&profile.models_dir), &variants) {
                        signals.push(Signal {
                            signal: "stale",
                            subject: name.clone(),
                            evidence: e.to_string(),
                            response: "re-run `servesim calibrate` for these models on this machine",
                        });
                    }
                }
            }
            continue;
        }
        if ext == "toml" {
            checked += 1;
            let text = std::fs::read_to_string(p).unwrap_or_default();
            // Rule sets live beside scenarios; only files that look like scenarios are checked.
            let looks_like_scenario =
                text.contains("[[devices]]") || text.contains("devices =") || text.contains("[llm]");
            if looks_like_scenario && let Err(e) = sim::ScenarioConfig::parse(&text) {
                signals.push(Signal {
                    signal: "malformed",
                    subject: name.clone(),
                    evidence: e.to_string().lines().last().unwrap_or_default().to_string(),
                    response: "fix the named key",
                });
            }
            continue;
        }
        if name.ends_with(".card.json") {
            checked += 1;
            if let Some(problem) = card_problem(p) {
                signals.push(Signal {
                    signal: "unauditable",
                    subject: name.clone(),
                    evidence: problem,
                    response: "refuse promotion; rebuild with `servesim models build` (same seed, same ids)",
                });
            }
            continue;
        }
        // A model directory's data files (the test split) are not request traces.
        let in_model_dir = p.parent().and_then(|d| std::fs::read(d.join("index.json")).ok()).is_some_and(|b| {
            serde_json::from_slice::<kernels::card::Index>(&b).is_ok_and(|i| i.schema == "servesim.kernels-index/1")
        });
        if in_model_dir || !["csv", "parquet", "pq", "jsonl", "ndjson"].contains(&ext.as_str()) {
            continue;
        }
        checked += 1;
        if let Some(days) = req.max_age_days
            && let Ok(modified) = std::fs::metadata(p).and_then(|m| m.modified())
        {
            let age = SystemTime::now().duration_since(modified).unwrap_or(Duration::ZERO);
            if age.as_secs_f64() > days * 86_400.0 {
                signals.push(Signal {
                    signal: "stale",
                    subject: name.clone(),
                    evidence: format!("written {:.1} days ago, limit {days}", age.as_secs_f64() / 86_400.0),
                    response: "refresh the trace before planning on it",
                });
            }
        }
        match traces::formats::read_any(p, None) {
            Err(e) => signals.push(Signal {
                signal: "malformed",
                subject: name.clone(),
                evidence: e.to_string(),
                response: "fix the named row and column",
            }),
            Ok(t) => {
                if let Some((ref_gaps, ref_sizes)) = &reference {
                    let (gaps, sizes) = gaps_and_sizes(&t);
                    for (what, a, b) in [("inter-arrival gaps", &gaps, ref_gaps), ("input sizes", &sizes, ref_sizes)] {
                        let (d, pval) = ks_two_sample(a, b);
                        if pval < 0.01 {
                            signals.push(Signal {
                                signal: "inconsistent",
                                subject: name.clone(),
                                evidence: format!("{what} drift from the reference: KS D = {d:.4}, p = {pval:.2e}"),
                                response: "re-plan and re-calibrate for the new traffic",
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(CheckReport { checked, signals })
}
