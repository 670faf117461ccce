//! The LLM simulator against real vLLM measurements: ground-truth cases read, simulated,
//! compared and written as run directories of kind `groundtruth`.

use crate::error::input;
use crate::rundir::{FileRef, RunDir, RunManifest, TraceRef, code_version, sha256_hex};
use anyhow::Result;
use serde::Serialize;
use sim::groundtruth::{Case, Comparison, Workload};
use sim::llm::calibration::Calibration;
use sim::llm::shape::ModelShape;
use std::path::{Path, PathBuf};
use traces::Request;

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
    let summary = sim::llm::run(config.resolve_llm()?, &mut p.requests.iter().cloned(), seed)?;
    Ok((p.case.compare(&summary, source), summary, config.to_toml()))
}

#[derive(Serialize)]
struct GroundtruthManifest<'a> {
    case: &'a str,
    model: &'a str,
    calibration: &'a str,
    calibration_entry: &'a str,
}

/// Simulates a prepared case with `calibration` (`calibration_ref` names it in the manifest) and
/// writes `out/<case id>/` with comparison.json, scenario.toml, summary.json and manifest.json;
/// returns the directory and the comparison.
pub fn run_case(
    p: &Prepared,
    calibration: &Calibration,
    calibration_ref: &str,
    seed: u64,
    out: &Path,
) -> Result<(PathBuf, Comparison)> {
    let (cmp, summary, scenario_toml) = simulate(p, calibration, seed)?;
    let dir = write_case(out, p, calibration_ref, seed, &cmp, &summary, &scenario_toml)?;
    Ok((dir, cmp))
}

fn write_case(
    out: &Path,
    p: &Prepared,
    calibration_ref: &str,
    seed: u64,
    cmp: &Comparison,
    summary: &sim::llm::LlmSummary,
    scenario_toml: &str,
) -> Result<PathBuf> {
    let mut dir = RunDir::create(out, &p.case.id)?;
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
        seed,
        extra: GroundtruthManifest {
            case: &p.case_ref,
            model: &p.model_ref,
            calibration: calibration_ref,
            calibration_entry: &cmp.calibration,
        },
        code: code_version(),
        files: FileRef::list(&files),
    };
    dir.write("manifest.json", (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
    dir.commit()
}
