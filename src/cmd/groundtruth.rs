//! `servesim groundtruth`: the LLM simulator against real vLLM measurements.

use crate::error::input;
use crate::rundir::{FileRef, RunDir, RunManifest, TraceRef, code_version, sha256_hex};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use sim::llm::calibration::Calibration;
use sim::llm::groundtruth::{Case, Comparison, Workload, median_abs_errors};
use sim::llm::shape::ModelShape;
use std::path::{Path, PathBuf};
use traces::Request;

/// Simulate ground-truth cases and compare with what was measured.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Examples:
  servesim groundtruth ../shared/groundtruth/cases/*
  servesim groundtruth ../shared/groundtruth/cases/h30-h100-llama-2-7b-general --out /tmp/gt
  servesim groundtruth ../shared/groundtruth/cases/* --calibration calib.toml

Each CASE_DIR holds case.toml (and workload.jsonl for per-request cases); the model's
config.json is read from --models (default: CASE_DIR/../../models), else a built-in shape.
Writes OUT/<case id>/ with comparison.json (every measured statistic: measured, sim,
relative_error = (sim - measured) / measured), scenario.toml, summary.json and manifest.json,
each directory whole or not at all; then prints the median |error| per metric over the cases.
Parameters come from the built-in calibration unless --calibration is given. A malformed case
exits with 2, naming the file and key.")]
pub struct GroundtruthArgs {
    /// Case directories.
    #[arg(required = true, value_name = "CASE_DIR")]
    pub cases: Vec<PathBuf>,
    /// Calibration from `servesim calibrate-llm` (default: the built-in one).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Directory of the models' config.json files (default: CASE_DIR/../../models).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Parent directory of the per-case output directories.
    #[arg(long, short = 'o', default_value = "groundtruth", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of generated workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// A case ready to simulate.
pub struct Prepared {
    /// The case.
    pub case: Case,
    /// Its model.
    pub shape: ModelShape,
    /// `id sha256:<case.toml>`.
    pub case_ref: String,
    /// `name sha256:<config.json>` or `name builtin`.
    pub model_ref: String,
    /// The requests.
    pub requests: Vec<Request>,
    /// Where they came from.
    pub source: String,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| input(format!("{}: cannot read: {e}", path.display())))
}

/// Reads every case directory ([`prepare`]) and refuses a case id given twice.
pub fn prepare_all(dirs: &[PathBuf], models: Option<&Path>, seed: u64) -> Result<Vec<Prepared>> {
    let prepared: Vec<Prepared> = dirs.iter().map(|d| prepare(d, models, seed)).collect::<Result<_>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for p in &prepared {
        if !seen.insert(p.case.id.clone()) {
            return Err(input(format!("case id `{}` is given twice", p.case.id)));
        }
    }
    Ok(prepared)
}

/// Reads a case directory; every problem is an input error naming the file and key.
pub fn prepare(dir: &Path, models: Option<&Path>, seed: u64) -> Result<Prepared> {
    let case_path = dir.join("case.toml");
    let text = read(&case_path)?;
    let label = case_path.display().to_string();
    let case = Case::parse(&label, &text).map_err(|e| input(e.to_string()))?;
    let models_dir = models.map_or_else(|| dir.join("../../models"), Path::to_path_buf);
    let model_path = models_dir.join(format!("{}.json", case.server.model));
    let builtin = sim::llm::shape::builtin_shape(&case.server.model);
    let (shape, model_ref) = if model_path.exists() {
        let t = read(&model_path)?;
        match ModelShape::from_hf_config(&case.server.model, &t) {
            Ok(s) => (s, format!("{} sha256:{}", case.server.model, sha256_hex(t.as_bytes()))),
            // Not a model configuration, but servesim knows the model.
            Err(_) if builtin.is_some() => (builtin.expect("checked"), format!("{} builtin", case.server.model)),
            Err(e) => return Err(input(format!("{}: {e}", model_path.display()))),
        }
    } else {
        let s = builtin.ok_or_else(|| {
            input(format!(
                "{label}: `server.model`: `{}` is neither {} nor a built-in model",
                case.server.model,
                model_path.display()
            ))
        })?;
        (s, format!("{} builtin", case.server.model))
    };
    let (requests, source) = match &case.workload {
        Workload::Mooncake { requests_file, .. } => {
            let p = dir.join(requests_file);
            let t = read(&p)?;
            let r = case.mooncake_requests(&p.display().to_string(), &t).map_err(|e| input(e.to_string()))?;
            (r, p.display().to_string())
        }
        Workload::SharedPrefix { .. } => (case.generated_requests(seed), "generated".to_string()),
    };
    let case_ref = format!("{} sha256:{}", case.id, sha256_hex(text.as_bytes()));
    Ok(Prepared { case, shape, case_ref, model_ref, requests, source })
}

/// The calibration of `--calibration`, else the built-in one.
pub fn load_calibration(path: Option<&Path>) -> Result<(Calibration, String)> {
    match path {
        None => Ok((Calibration::builtin(), "builtin".to_string())),
        Some(p) => {
            let t = read(p)?;
            let c = Calibration::parse(&t).map_err(|e| input(format!("{}: {e}", p.display())))?;
            Ok((c, format!("{} sha256:{}", p.display(), sha256_hex(t.as_bytes()))))
        }
    }
}

/// Simulates a prepared case with `calibration`.
pub fn simulate(
    p: &Prepared,
    calibration: &Calibration,
    seed: u64,
) -> Result<(Comparison, sim::llm::LlmSummary, String)> {
    let (config, source) = p
        .case
        .scenario(&p.shape, calibration)
        .map_err(|e| input(format!("case {}: cannot build its scenario: {e}", p.case.id)))?;
    let summary = sim::llm::run(&config, &mut p.requests.iter().cloned(), seed)?;
    Ok((p.case.compare(&summary, source), summary, config.to_toml()))
}

#[derive(Serialize)]
struct GroundtruthManifest<'a> {
    case: &'a str,
    model: &'a str,
    calibration: &'a str,
    calibration_entry: &'a str,
}

/// Runs the command.
pub fn run(args: &GroundtruthArgs) -> Result<()> {
    let (calibration, calibration_ref) = load_calibration(args.calibration.as_deref())?;
    // Every case is read (and refused) before anything is simulated or written.
    let prepared = prepare_all(&args.cases, args.models.as_deref(), args.seed)?;
    let mut comparisons = Vec::new();
    println!(
        "{:<48} {:>7} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}",
        "case", "calib", "ttft meas", "ttft sim", "err", "e2e meas", "e2e sim", "err"
    );
    for p in &prepared {
        let (cmp, summary, scenario_toml) = simulate(p, &calibration, args.seed)?;
        let mut dir = RunDir::create(&args.out, &p.case.id)?;
        dir.write("comparison.json", (serde_json::to_string_pretty(&cmp)? + "\n").as_bytes())?;
        dir.write("scenario.toml", scenario_toml.as_bytes())?;
        dir.write("summary.json", (serde_json::to_string_pretty(&summary)? + "\n").as_bytes())?;
        let hasher = {
            let mut h = traces::id::TraceHasher::new(&traces::Trace::default_classes());
            for r in &p.requests {
                h.push(r);
            }
            h
        };
        let files = dir.files().to_vec();
        let manifest = RunManifest {
            schema: "servesim.run/1",
            run_id: &p.case.id,
            kind: "groundtruth",
            scenario: &format!("groundtruth-{}", p.case.id),
            scenario_source: &p.case_ref,
            config_hash: artifact::IdKind::Sha256.of(scenario_toml.as_bytes()).to_string(),
            trace: TraceRef { id: hasher.finish(), source: p.source.clone(), requests: p.requests.len() as u64 },
            seed: args.seed,
            extra: GroundtruthManifest {
                case: &p.case_ref,
                model: &p.model_ref,
                calibration: &calibration_ref,
                calibration_entry: &cmp.calibration,
            },
            code: code_version(),
            files: FileRef::list(&files),
        };
        dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
        dir.commit()?;
        let m = |k: &str| {
            cmp.metrics.get(k).map_or((f64::NAN, f64::NAN, f64::NAN), |c| (c.measured, c.sim, c.relative_error))
        };
        let (tm, ts, te) = m("ttft_ms.mean");
        let (em, es, ee) = m("e2e_ms.mean");
        println!(
            "{:<48} {:>7} {:>10.1} {:>10.1} {:>+7.1}% {:>10.1} {:>10.1} {:>+7.1}%",
            p.case.id,
            cmp.calibration,
            tm,
            ts,
            te * 100.0,
            em,
            es,
            ee * 100.0
        );
        comparisons.push(cmp);
    }
    println!();
    println!("{:<20} {:>8} {:>16}", "metric", "cases", "median |error|");
    for (k, (med, n)) in median_abs_errors(&comparisons) {
        println!("{k:<20} {n:>8} {:>15.1}%", med * 100.0);
    }
    println!("\nwrote {} case directories under {}", comparisons.len(), args.out.display());
    Ok(())
}
