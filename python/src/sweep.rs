//! `sweep` and `plan`: `servesim::ops::sweep::sweep` and `servesim::ops::plan::plan`, as
//! `servesim sweep` and `servesim plan` call them.

use crate::error::{input, ops, other};
use crate::scenario;
use crate::table::columns;
use pyo3::prelude::*;
use servesim::ops::plan::PlanRequest;
use servesim::ops::sweep::SweepRequest;
use std::path::PathBuf;

/// Runs a sweep into `OUT/<sweep-id>/` exactly as the CLI does; returns (sweep id, directory,
/// the sweep table's typed columns — the table `sweep.csv` and `sweep.parquet` hold —, points
/// simulated now).
#[pyfunction]
#[pyo3(signature = (scenario, kind, vary, out, requests=None, jobs=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sweep<'py>(
    py: Python<'py>,
    scenario: &str,
    kind: &str,
    vary: Vec<(String, Vec<String>)>,
    out: PathBuf,
    requests: Option<u64>,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, String, Bound<'py, PyAny>, usize)> {
    if vary.is_empty() {
        return Err(input("vary: give at least one key and its values"));
    }
    if let Some((k, _)) = vary.iter().find(|(k, v)| k.trim().is_empty() || v.is_empty()) {
        return Err(input(format!("vary `{k}`: needs a key and at least one value")));
    }
    let mut req = SweepRequest {
        scenario: scenario::source(scenario, kind)?,
        vary,
        requests,
        jobs,
        shard: None,
        out,
        progress: Default::default(),
    };
    let done = crate::progress::run(py, progress, move |p| {
        req.progress = p;
        servesim::ops::sweep::sweep(&req).map(|s| (s, req.vary))
    })?;
    let (done, vary) = done.map_err(|e| ops(&e))?;
    let keys: Vec<String> = vary.into_iter().map(|(k, _)| k).collect();
    let table = servesim::ops::sweep::table(&done.points, &keys);
    Ok((done.sweep_id, done.dir.display().to_string(), columns(py, &table)?, done.ran_now))
}

/// Plans the cheapest device mix that meets a latency objective; returns (scenario, offered
/// rate, the report as `servesim plan --json` prints it).
#[pyfunction]
#[pyo3(signature = (scenario, kind, slo, max_drop=0.001, rate=None, trace=None, trace_format=None,
                    min_count=0, max_count=8, requests=None, seed=None, minimize="cost"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    py: Python<'_>,
    scenario: &str,
    kind: &str,
    slo: &str,
    max_drop: f64,
    rate: Option<f64>,
    trace: Option<PathBuf>,
    trace_format: Option<&str>,
    min_count: u32,
    max_count: u32,
    requests: Option<u64>,
    seed: Option<u64>,
    minimize: &str,
) -> PyResult<(String, f64, String)> {
    if rate.is_some() && trace.is_some() {
        return Err(input("rate and trace: give one or the other (a trace brings its own rate)"));
    }
    let req = PlanRequest {
        scenario: scenario::source(scenario, kind)?,
        slo: slo.parse().map_err(|e| input(format!("slo `{slo}`: {e}")))?,
        max_drop,
        rate,
        trace,
        trace_format: trace_format
            .map(str::parse::<traces::formats::SourceFormat>)
            .transpose()
            .map_err(|e| input(format!("trace_format: {e}")))?,
        min_count,
        max_count,
        requests,
        seed,
        minimize: match minimize {
            "cost" => sim::plan::autoscale::Minimize::Cost,
            "energy" => sim::plan::autoscale::Minimize::Energy,
            other => return Err(input(format!("minimize `{other}`: expected \"cost\" or \"energy\""))),
        },
    };
    let planned = py.detach(|| servesim::ops::plan::plan(&req)).map_err(|e| ops(&e))?;
    // An autoscaled pool's plan (`servesim plan --json` prints the same).
    let json = match &planned.auto {
        Some(a) => serde_json::to_string_pretty(a),
        None => serde_json::to_string_pretty(&planned.report),
    }
    .map_err(other)?;
    Ok((planned.scenario, planned.offered_per_s, json))
}
