//! `groundtruth`: the LLM simulator against real vLLM measurements, through
//! `servesim::ops::groundtruth` as `servesim groundtruth` runs it.

use crate::error::ops;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Reads every case directory (all checked before anything runs), simulates each with the
/// calibration (`calibration`, else the built-in one) and, with `out`, writes `OUT/<case id>/`
/// as the CLI does. Returns the calibration's reference and, per case, (case id, comparison JSON,
/// summary JSON, model reference, case directory written or None).
#[pyfunction]
#[pyo3(signature = (cases, calibration=None, models=None, seed=1, out=None))]
#[allow(clippy::type_complexity)]
pub(crate) fn groundtruth(
    py: Python<'_>,
    cases: Vec<PathBuf>,
    calibration: Option<PathBuf>,
    models: Option<PathBuf>,
    seed: u64,
    out: Option<PathBuf>,
) -> PyResult<(String, Vec<(String, String, String, String, Option<String>)>)> {
    use servesim::ops::groundtruth::{load_calibration, prepare_all, run_case, simulate};
    let work = || -> anyhow::Result<_> {
        let (cal, cal_ref) = load_calibration(calibration.as_deref())?;
        let prepared = prepare_all(&cases, models.as_deref(), seed)?;
        let mut rows = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let (cmp, summary, dir) = match &out {
                // The summary is the one the comparison was computed from, as written.
                Some(out) => {
                    let (dir, cmp) = run_case(p, &cal, &cal_ref, seed, out)?;
                    (cmp, std::fs::read_to_string(dir.join("summary.json"))?, Some(dir.display().to_string()))
                }
                None => {
                    let (cmp, summary, _) = simulate(p, &cal, seed)?;
                    (cmp, serde_json::to_string_pretty(&summary)? + "\n", None)
                }
            };
            let cmp = serde_json::to_string_pretty(&cmp)? + "\n";
            rows.push((p.case.id.clone(), cmp, summary, p.model_ref.clone(), dir));
        }
        Ok((cal_ref, rows))
    };
    py.detach(work).map_err(|e| ops(&e))
}
