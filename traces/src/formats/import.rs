//! Importers for the public trace formats, and format detection.

use super::columns::Columns;
use super::{read_frame, read_trace};
use crate::error::{Result, TraceError};
use crate::request::{Request, Trace};
use crate::time::SimTime;
use crate::validate::validate;
use chrono::NaiveDateTime;
use std::path::Path;

/// The schema a trace file is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    /// servesim's own schema (see the module docs of [`crate::formats`]).
    Servesim,
    /// Azure LLM inference trace: `TIMESTAMP,ContextTokens,GeneratedTokens` (CSV), wall-clock
    /// timestamps with up to 9 fractional digits and no zone.
    Azure,
    /// Mooncake trace: JSONL with `timestamp` (integer ms from start), `input_length`,
    /// `output_length` and `hash_ids` (one id per 512-token prompt block).
    Mooncake,
}

impl std::str::FromStr for SourceFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "servesim" => Ok(SourceFormat::Servesim),
            "azure" => Ok(SourceFormat::Azure),
            "mooncake" => Ok(SourceFormat::Mooncake),
            _ => Err(format!("unknown trace format `{s}` (expected servesim, azure or mooncake)")),
        }
    }
}

/// Guesses the schema of `path` from its column names.
pub fn detect_source_format(path: &Path) -> Result<SourceFormat> {
    let df = read_frame(path)?;
    let names: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
    let has = |c: &str| names.iter().any(|n| n == c);
    Ok(if has("TIMESTAMP") && has("ContextTokens") {
        SourceFormat::Azure
    } else if has("timestamp") && has("input_length") {
        SourceFormat::Mooncake
    } else {
        SourceFormat::Servesim
    })
}

/// Reads `path` in `format`, or in the detected format when `None`.
pub fn read_any(path: &Path, format: Option<SourceFormat>) -> Result<Trace> {
    let format = match format {
        Some(f) => f,
        None => detect_source_format(path)?,
    };
    match format {
        SourceFormat::Servesim => read_trace(path),
        SourceFormat::Azure => read_azure(path),
        SourceFormat::Mooncake => read_mooncake(path),
    }
}

/// Arrival offsets from the first row; a row earlier than the first is an ordering error.
fn offsets(path: &Path, col: &str, stamps: &[i128]) -> Result<Vec<SimTime>> {
    let first = stamps.first().copied().unwrap_or(0);
    stamps
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            u64::try_from(t - first).map(SimTime).map_err(|_| {
                TraceError::invalid(
                    path,
                    Some(i + 1),
                    Some(col),
                    "rows are not sorted by time: earlier than the first row",
                )
            })
        })
        .collect()
}

fn read_azure(path: &Path) -> Result<Trace> {
    let df = read_frame(path)?;
    let cols = Columns::new(&df, path);
    let stamps = cols.required_string("TIMESTAMP")?;
    let context = cols.required_u64("ContextTokens")?;
    let generated = cols.required_u64("GeneratedTokens")?;
    let ns: Vec<i128> = stamps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .map_err(|e| {
                    TraceError::invalid(
                        path,
                        Some(i + 1),
                        Some("TIMESTAMP"),
                        format!("not a `YYYY-MM-DD HH:MM:SS.fffffff` time: `{s}` ({e})"),
                    )
                })
                .map(|t| {
                    let u = t.and_utc();
                    u.timestamp() as i128 * 1_000_000_000 + u.timestamp_subsec_nanos() as i128
                })
        })
        .collect::<Result<_>>()?;
    let arrivals = offsets(path, "TIMESTAMP", &ns)?;
    let requests: Vec<Request> = arrivals
        .into_iter()
        .enumerate()
        .map(|(i, arrival)| Request { output_tokens: generated[i], ..Request::new(i as u64, arrival, context[i]) })
        .collect();
    validate(path, &requests)?;
    Ok(Trace { requests, classes: Trace::default_classes() })
}

fn read_mooncake(path: &Path) -> Result<Trace> {
    let df = read_frame(path)?;
    let cols = Columns::new(&df, path);
    let ms = cols.required_u64("timestamp")?;
    let input = cols.required_u64("input_length")?;
    let output = cols.required_u64("output_length")?;
    let blocks = cols.blocks("hash_ids")?;
    let stamps: Vec<i128> = ms.iter().map(|&m| m as i128 * 1_000_000).collect();
    let arrivals = offsets(path, "timestamp", &stamps)?;
    let requests: Vec<Request> = arrivals
        .into_iter()
        .enumerate()
        .map(|(i, arrival)| Request {
            output_tokens: output[i],
            prefix_blocks: blocks.as_ref().and_then(|b| b[i].clone()).map(Vec::into_boxed_slice),
            ..Request::new(i as u64, arrival, input[i])
        })
        .collect();
    validate(path, &requests)?;
    Ok(Trace { requests, classes: Trace::default_classes() })
}
