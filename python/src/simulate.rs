//! `simulate`, `trace.generate` and `trace.read`: `servesim::ops::simulate` and
//! `servesim::ops::trace`, as `servesim simulate` and `servesim trace` call them.

use crate::error::{self, input, ops};
use crate::scenario;
use crate::table::columns;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use servesim::ops::records;
use servesim::ops::simulate::{SimulateRequest, TraceInput};
use servesim::ops::trace::{GenerateRequest, TraceFile};
use sim::Outcome;
use std::path::PathBuf;

fn trace_format(format: Option<&str>) -> PyResult<Option<traces::formats::SourceFormat>> {
    format.map(str::parse::<traces::formats::SourceFormat>).transpose().map_err(|e| input(format!("trace_format: {e}")))
}

/// Simulates a scenario through `servesim::ops::simulate::simulate`; returns a dict with
/// `summary_json` (the bytes of `summary.json`), `config_toml` (`config.resolved.toml`),
/// `config_hash`, `run_id`, `trace_id`, `trace_source`, `requests`, `seed`, `scenario`,
/// `scenario_source`, `notes`, `dir` (the run directory, with `out`) and `records` (typed
/// columns of `requests.parquet`, with `records`).
#[pyfunction]
#[pyo3(signature = (scenario, kind, seed=None, requests=None, trace=None, trace_format=None, speed=None,
                    records=false, out=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn simulate<'py>(
    py: Python<'py>,
    scenario: &str,
    kind: &str,
    seed: Option<u64>,
    requests: Option<u64>,
    trace: Option<PathBuf>,
    trace_format: Option<&str>,
    speed: Option<f64>,
    records: bool,
    out: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let format = self::trace_format(trace_format)?;
    if trace.is_none() && (format.is_some() || speed.is_some()) {
        return Err(input("trace_format and speed apply to a trace: give trace="));
    }
    let mut req = SimulateRequest::new(scenario::source(scenario, kind)?);
    req.trace = trace.map(|path| TraceInput { path, format, speed });
    req.seed = seed;
    req.requests = requests;
    req.records = records;
    req.out = out;
    let done = crate::progress::run(py, progress, move |p| {
        req.progress = p;
        servesim::ops::simulate::simulate(&req)
    })?
    .map_err(|e| ops(&e))?;
    let config_toml = done.config.to_toml();
    let d = PyDict::new(py);
    d.set_item("config_hash", artifact::IdKind::Sha256.of(config_toml.as_bytes()).to_string())?;
    d.set_item("summary_json", done.summary_json().map_err(error::other)?)?;
    d.set_item("config_toml", config_toml)?;
    d.set_item("run_id", &done.run_id)?;
    d.set_item("trace_id", &done.trace.id)?;
    d.set_item("trace_source", &done.trace.source)?;
    d.set_item("requests", done.trace.requests)?;
    d.set_item("seed", done.config.seed)?;
    d.set_item("scenario", &done.config.name)?;
    d.set_item("scenario_source", &done.scenario_source)?;
    d.set_item("notes", error::parameters_all(&done.notes))?;
    d.set_item("dir", done.dir.as_ref().map(|p| p.display().to_string()))?;
    let table = match &done.outcome {
        Outcome::Classic(sim::RunResult { records: Some(r), summary, .. }) => Some(records::simulated(r, summary)),
        Outcome::Llm(s, Some(r)) => Some(records::llm(r, s)),
        _ => None,
    };
    match table {
        Some(t) => d.set_item("records", columns(py, &t)?)?,
        None => d.set_item("records", py.None())?,
    }
    // An autoscaled run's pools over time: the `timeline.csv` table.
    match &done.outcome {
        Outcome::Classic(r) if !r.timeline.is_empty() => {
            d.set_item("timeline", columns(py, &records::timeline(&r.timeline, &r.summary))?)?;
        }
        _ => d.set_item("timeline", py.None())?,
    }
    Ok(d)
}

/// Reads any CSV, Parquet or JSONL table through a column mapping (`servesim trace import
/// --columns`, through `servesim::ops::trace::import_mapped`) and writes it in the servesim schema
/// to `out`: the columns and the trace id.
#[pyfunction]
#[pyo3(signature = (path, columns, out, time_unit="s", filters=Vec::new()))]
pub(crate) fn trace_import_columns<'py>(
    py: Python<'py>,
    path: PathBuf,
    columns: &str,
    out: PathBuf,
    time_unit: &str,
    filters: Vec<String>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let mut map = traces::formats::ColumnMap::parse(columns).map_err(|e| input(format!("columns: {e}")))?;
    map.time_unit = time_unit.parse().map_err(|e| input(format!("time_unit: {e}")))?;
    for f in &filters {
        map.filters.push(traces::formats::ColumnMap::parse_filter(f).map_err(|e| input(format!("filters: {e}")))?);
    }
    let t = py.detach(|| servesim::ops::trace::import_mapped(&path, &map, &out)).map_err(|e| ops(&e))?;
    trace_columns(py, &t)
}

fn trace_columns<'py>(py: Python<'py>, t: &TraceFile) -> PyResult<(Bound<'py, PyAny>, String)> {
    Ok((columns(py, &traces::formats::trace_table(&t.trace))?, t.trace_id.clone()))
}

/// The requests of a scenario's `[workload]` (`servesim trace gen`, through
/// `servesim::ops::trace::generate`): the columns of the servesim trace schema and the trace id;
/// with `out`, the trace is also written there (CSV, Parquet or JSONL by extension).
#[pyfunction]
#[pyo3(signature = (scenario, kind, requests=None, seed=None, out=None))]
pub(crate) fn trace_generate<'py>(
    py: Python<'py>,
    scenario: &str,
    kind: &str,
    requests: Option<u64>,
    seed: Option<u64>,
    out: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let req = GenerateRequest { scenario: scenario::source(scenario, kind)?, requests, seed, out };
    let t = py.detach(|| servesim::ops::trace::generate(&req)).map_err(|e| ops(&e))?;
    trace_columns(py, &t)
}

/// Reads a trace file (CSV, Parquet or JSONL; servesim, Azure or Mooncake schema, detected unless
/// `format` says) through `servesim::ops::trace::read`: the columns of the servesim trace schema
/// and the trace id.
#[pyfunction]
#[pyo3(signature = (path, format=None))]
pub(crate) fn trace_read<'py>(
    py: Python<'py>,
    path: PathBuf,
    format: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let format = format
        .map(str::parse::<traces::formats::SourceFormat>)
        .transpose()
        .map_err(|e| input(format!("format: {e}")))?;
    let t = py.detach(|| servesim::ops::trace::read(&path, format)).map_err(|e| ops(&e))?;
    trace_columns(py, &t)
}
