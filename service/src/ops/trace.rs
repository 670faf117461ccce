//! Request traces: generate one from a scenario's workload, convert one to the servesim schema,
//! describe one.

use crate::error::input;
use crate::scenario::ScenarioSource;
use anyhow::Result;
use std::path::{Path, PathBuf};
use traces::formats::{SourceFormat, read_any, write_trace};

/// A synthetic trace to generate.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    /// The scenario whose `[workload]` to sample.
    pub scenario: ScenarioSource,
    /// Number of requests (default: the scenario's, or 100000).
    pub requests: Option<u64>,
    /// Seed (default: the scenario's).
    pub seed: Option<u64>,
    /// Output file; `.csv`, `.parquet` or `.jsonl`; `None` writes nothing.
    pub out: Option<PathBuf>,
}

/// A trace and its id.
pub struct TraceFile {
    /// The requests.
    pub trace: traces::Trace,
    /// `tr-` content id of the requests (independent of the file format).
    pub trace_id: String,
}

/// Samples the scenario's workload (and writes the trace, with `req.out`).
pub fn generate(req: &GenerateRequest) -> Result<TraceFile> {
    let loaded = req.scenario.load()?;
    let cfg = loaded.config;
    let w = cfg.workload.as_ref().ok_or_else(|| input(format!("{}: the scenario has no [workload]", loaded.source)))?;
    let n = req.requests.or(cfg.requests).unwrap_or(sim::DEFAULT_REQUESTS);
    if n == 0 {
        return Err(input("--requests: must be at least 1"));
    }
    let requests: Vec<_> = w.generator(req.seed.unwrap_or(cfg.seed), n)?.collect();
    let trace = traces::Trace { requests, classes: traces::Trace::default_classes() };
    if let Some(out) = &req.out {
        write_trace(out, &trace)?;
    }
    Ok(with_id(trace))
}

/// Reads a trace file (servesim, Azure or Mooncake schema; detected unless `format` says).
pub fn read(path: &Path, format: Option<SourceFormat>) -> Result<TraceFile> {
    Ok(with_id(read_any(path, format)?))
}

/// Reads `input` and writes it in the servesim schema to `out`.
pub fn import(input: &Path, format: Option<SourceFormat>, out: &Path) -> Result<TraceFile> {
    let t = read(input, format)?;
    write_trace(out, &t.trace)?;
    Ok(t)
}

/// Reads any table through the column mapping `map` and writes it in the servesim schema to `out`.
pub fn import_mapped(input: &Path, map: &traces::formats::ColumnMap, out: &Path) -> Result<TraceFile> {
    let t = with_id(traces::formats::read_mapped(input, map)?);
    write_trace(out, &t.trace)?;
    Ok(t)
}

fn with_id(trace: traces::Trace) -> TraceFile {
    let trace_id = traces::id::trace_id(&trace.requests, &trace.classes);
    TraceFile { trace, trace_id }
}
