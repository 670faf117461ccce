//! Trace files: CSV, Parquet and JSONL through polars, in the servesim schema or in the formats
//! of the public traces (Azure LLM inference, Mooncake).
//!
//! The servesim schema (column: type, unit):
//!
//! | column | type | unit / meaning | required |
//! |---|---|---|---|
//! | `id` | unsigned integer | unique request id | no (row index) |
//! | `arrival_s` | float | seconds since trace start | yes |
//! | `class` | string | model or traffic class | no (`default`) |
//! | `input_size` | unsigned integer | tokens or bytes | yes |
//! | `output_tokens` | unsigned integer | tokens to generate | no (0) |
//! | `cache_key` | unsigned integer | response-cache key | no |
//! | `prefix_blocks` | list of unsigned integers (CSV: `;`-separated) | prompt block ids | no |
//! | `service_s` | float | recorded service time, seconds | no |
//! | `session` | unsigned integer | conversation id: its requests are turns, in arrival order | no |
//! | `adapter` | unsigned integer (< 2³²) | LoRA adapter id | no |
//!
//! Readers never trust the file: every value is checked and a failure names the file, the 1-based
//! data row and the column. Writers write to a temporary file beside the target and rename it
//! into place, so a reader never sees half a file.

mod columns;
mod import;
mod mapped;
mod table;

pub use import::{SourceFormat, detect_source_format, read_any};
pub use mapped::{ColumnMap, TimeUnit, read_mapped};
pub use table::{Table, TableColumn};

use crate::error::{Result, TraceError};
use crate::request::{ClassId, Request, Trace};
use crate::time::SimTime;
use crate::validate::validate;
use columns::Columns;
use polars::prelude::*;
use std::path::Path;

/// A file format, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
}

impl Format {
    /// The format of `path`, from its extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            _ => Err(TraceError::invalid(
                path,
                None,
                None,
                format!("unknown file extension `{ext}`: use .csv, .parquet or .jsonl"),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Parquet => "Parquet",
            Format::Jsonl => "JSONL",
        }
    }
}

/// Reads a whole file into a DataFrame. CSV columns are read as strings, so that every value is
/// parsed (and every error reported) by this crate, with its row and column.
pub(crate) fn read_frame(path: &Path) -> Result<DataFrame> {
    let format = Format::from_path(path)?;
    let meta = std::fs::metadata(path).map_err(|source| TraceError::Io { path: path.into(), source })?;
    if meta.len() == 0 {
        return Err(TraceError::invalid(path, None, None, "the file is empty"));
    }
    // polars can panic on hostile input (the trace_jsonl fuzzer found one in its line sampling);
    // a file we cannot read is an error naming the file, never a crash.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_with_polars(path, format)));
    let df = match read {
        Ok(result) => result?,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown failure".into());
            return Err(TraceError::Format {
                path: path.into(),
                format: format.name(),
                message: format!("the reader failed: {why}"),
            });
        }
    };
    if df.height() == 0 {
        return Err(TraceError::invalid(path, None, None, "the file has no rows"));
    }
    Ok(df)
}

fn read_with_polars(path: &Path, format: Format) -> Result<DataFrame> {
    let fail = |e: PolarsError| TraceError::Format { path: path.into(), format: format.name(), message: e.to_string() };
    let open = || std::fs::File::open(path).map_err(|source| TraceError::Io { path: path.into(), source });
    let df = match format {
        Format::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.into()))
            .and_then(|r| r.finish())
            .map_err(fail)?,
        Format::Parquet => {
            let mut reader = ParquetReader::new(open()?);
            check_parquet_sizes(path, reader.get_metadata().map_err(fail)?)?;
            reader.finish().map_err(fail)?
        }
        Format::Jsonl => JsonReader::new(open()?)
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .map_err(fail)?,
    };
    Ok(df)
}

/// Row counts a Parquet file may claim: 64 rows per byte of file, at least a million. A trace
/// row costs bytes (arrival times are distinct floats), and polars allocates for a claimed count
/// before decoding it; an allocation that fails aborts the process, which no `catch_unwind`
/// can turn into an error.
fn parquet_row_limit(file_bytes: u64) -> u64 {
    (file_bytes.saturating_mul(64)).max(1_000_000)
}

fn check_parquet_sizes(path: &Path, meta: &polars::io::parquet::read::FileMetadata) -> Result<()> {
    let bytes = std::fs::metadata(path).map_err(|source| TraceError::Io { path: path.into(), source })?.len();
    let limit = parquet_row_limit(bytes);
    let too_many = |what: String, n: u64| {
        TraceError::invalid(
            path,
            None,
            None,
            format!(
                "{what} claims {n} rows, more than a {bytes}-byte file can hold (limit {limit}): the file is corrupt"
            ),
        )
    };
    if meta.num_rows as u64 > limit {
        return Err(too_many("the footer".into(), meta.num_rows as u64));
    }
    for (g, rg) in meta.row_groups.iter().enumerate() {
        if rg.num_rows() as u64 > limit {
            return Err(too_many(format!("row group {g}"), rg.num_rows() as u64));
        }
        for c in rg.parquet_columns() {
            let column = c.descriptor().path_in_schema.join(".");
            let n = u64::try_from(c.num_values()).unwrap_or(u64::MAX);
            if n > limit {
                return Err(too_many(format!("row group {g}, column `{column}`,"), n));
            }
            check_parquet_pages(path, c, n, &column, g)?;
        }
    }
    Ok(())
}

/// Walks one column chunk's page headers as polars will (same reader) and refuses a data page
/// that claims more values than its chunk: the trace_parquet fuzzer found a page header whose
/// negative `num_values` polars casts to ~2^64 and then reserves a 2^61-byte validity bitmap for.
/// A header the reader cannot parse is left for polars to report.
fn check_parquet_pages(
    path: &Path,
    chunk: &polars_parquet::parquet::metadata::ColumnChunkMetadata,
    chunk_values: u64,
    column: &str,
    group: usize,
) -> Result<()> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::PageReader;
    let range = chunk.byte_range();
    let mut file = std::fs::File::open(path).map_err(|source| TraceError::Io { path: path.into(), source })?;
    let len = file.metadata().map_err(|source| TraceError::Io { path: path.into(), source })?.len();
    if range.start > range.end || range.end > len {
        return Err(TraceError::invalid(
            path,
            None,
            None,
            format!("row group {group}, column `{column}`: its bytes {range:?} lie outside the {len}-byte file"),
        ));
    }
    let mut bytes = vec![0u8; usize::try_from(range.end - range.start).unwrap_or(usize::MAX)];
    {
        use std::io::{Read, Seek, SeekFrom};
        file.seek(SeekFrom::Start(range.start))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|source| TraceError::Io { path: path.into(), source })?;
    }
    let buffer = polars_buffer::Buffer::from(bytes);
    let pages = PageReader::new(std::io::Cursor::new(buffer), chunk, vec![], usize::MAX);
    for page in pages {
        let Ok(CompressedPage::Data(page)) = page else {
            if page.is_err() {
                break;
            }
            continue;
        };
        let n = page.num_values() as u64;
        if n > chunk_values {
            return Err(TraceError::invalid(
                path,
                None,
                None,
                format!(
                    "row group {group}, column `{column}`: a data page claims {n} values, its column chunk has \
                     {chunk_values}: the file is corrupt"
                ),
            ));
        }
    }
    Ok(())
}

/// The non-null values of numeric column `name` of a table file (CSV, Parquet or JSONL), e.g. a
/// run's `requests.parquet`.
pub fn read_f64_column(path: &Path, name: &str) -> Result<Vec<f64>> {
    let df = read_frame(path)?;
    let bad = |why: String| TraceError::invalid(path, None, Some(name), why);
    let col = df.column(name).map_err(|_| bad("no such column".into()))?;
    let col = col.cast(&DataType::Float64).map_err(|e| bad(e.to_string()))?;
    let values = col.f64().map_err(|e| bad(e.to_string()))?;
    Ok(values.iter().flatten().collect())
}

/// Reads a trace in the servesim schema and checks the whole contract.
pub fn read_trace(path: &Path) -> Result<Trace> {
    let df = read_frame(path)?;
    let cols = Columns::new(&df, path);
    let n = df.height();
    let arrival = cols.f64("arrival_s")?.ok_or_else(|| cols.missing("arrival_s"))?;
    let input = cols.u64("input_size")?.ok_or_else(|| cols.missing("input_size"))?;
    let ids = cols.u64("id")?;
    let class = cols.string("class")?;
    let output = cols.u64("output_tokens")?;
    let keys = cols.u64("cache_key")?;
    let blocks = cols.blocks("prefix_blocks")?;
    let service = cols.f64("service_s")?;
    let sessions = cols.u64("session")?;
    let adapters = cols.u64("adapter")?;

    let mut classes: Vec<String> = Vec::new();
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let row = Some(i + 1);
        let time = |v: Option<f64>, col: &str| -> Result<SimTime> {
            let v = v.ok_or_else(|| TraceError::invalid(path, row, Some(col), "missing value"))?;
            SimTime::from_secs_f64(v).ok_or_else(|| {
                TraceError::invalid(
                    path,
                    row,
                    Some(col),
                    format!("must be a finite, non-negative number of seconds, got {v}"),
                )
            })
        };
        let class_id = match class.as_ref().and_then(|c| c[i].as_deref()) {
            None => intern(&mut classes, "default"),
            Some(name) => intern(&mut classes, name),
        };
        if classes.len() > u16::MAX as usize {
            return Err(TraceError::invalid(path, row, Some("class"), "more than 65535 distinct classes"));
        }
        requests.push(Request {
            id: match &ids {
                Some(v) => v[i].ok_or_else(|| TraceError::invalid(path, row, Some("id"), "missing value"))?,
                None => i as u64,
            },
            arrival: time(arrival[i], "arrival_s")?,
            class: ClassId(class_id),
            input_size: input[i].ok_or_else(|| TraceError::invalid(path, row, Some("input_size"), "missing value"))?,
            output_tokens: output.as_ref().and_then(|v| v[i]).unwrap_or(0),
            cache_key: keys.as_ref().and_then(|v| v[i]),
            prefix_blocks: blocks.as_ref().and_then(|v| v[i].clone()).map(Vec::into_boxed_slice),
            service: match service.as_ref().and_then(|v| v[i]) {
                Some(s) => Some(time(Some(s), "service_s")?),
                None => None,
            },
            session: sessions.as_ref().and_then(|v| v[i]),
            adapter: match adapters.as_ref().and_then(|v| v[i]) {
                Some(a) => {
                    Some(u32::try_from(a).map_err(|_| {
                        TraceError::invalid(path, row, Some("adapter"), format!("{a} is not below 2^32"))
                    })?)
                }
                None => None,
            },
        });
    }
    if classes.is_empty() {
        classes = Trace::default_classes();
    }
    validate(path, &requests)?;
    Ok(Trace { requests, classes })
}

fn intern(classes: &mut Vec<String>, name: &str) -> u16 {
    match classes.iter().position(|c| c == name) {
        Some(i) => i as u16,
        None => {
            classes.push(name.to_string());
            (classes.len() - 1) as u16
        }
    }
}

/// Writes a trace in the servesim schema; the format follows the extension. Optional columns are
/// written only when some request has a value.
pub fn write_trace(path: &Path, trace: &Trace) -> Result<()> {
    trace_table(trace).write(path)
}

/// The columns of `trace` in the servesim schema, as [`write_trace`] writes them (the Python
/// module hands the same table to pandas). Optional columns only when some request has a value.
pub fn trace_table(trace: &Trace) -> Table {
    let r = &trace.requests;
    let mut t = Table::default();
    t.push("id", TableColumn::U64(r.iter().map(|q| q.id).collect()));
    t.push("arrival_s", TableColumn::F64(r.iter().map(|q| q.arrival.as_secs_f64()).collect()));
    t.push(
        "class",
        TableColumn::Str(
            r.iter().map(|q| trace.classes.get(q.class.0 as usize).cloned().unwrap_or_default()).collect(),
        ),
    );
    t.push("input_size", TableColumn::U64(r.iter().map(|q| q.input_size).collect()));
    t.push("output_tokens", TableColumn::U64(r.iter().map(|q| q.output_tokens).collect()));
    if r.iter().any(|q| q.cache_key.is_some()) {
        t.push("cache_key", TableColumn::OptU64(r.iter().map(|q| q.cache_key).collect()));
    }
    if r.iter().any(|q| q.prefix_blocks.is_some()) {
        let lists: Vec<Option<Vec<u64>>> = r.iter().map(|q| q.prefix_blocks.as_ref().map(|b| b.to_vec())).collect();
        t.push("prefix_blocks", TableColumn::ListU64(lists));
    }
    if r.iter().any(|q| q.service.is_some()) {
        t.push("service_s", TableColumn::OptF64(r.iter().map(|q| q.service.map(SimTime::as_secs_f64)).collect()));
    }
    if r.iter().any(|q| q.session.is_some()) {
        t.push("session", TableColumn::OptU64(r.iter().map(|q| q.session).collect()));
    }
    if r.iter().any(|q| q.adapter.is_some()) {
        t.push("adapter", TableColumn::OptU64(r.iter().map(|q| q.adapter.map(u64::from)).collect()));
    }
    t
}

/// Writes `df` to `path` in `format` via a temporary file renamed into place.
pub(crate) fn write_frame(path: &Path, mut df: DataFrame) -> Result<()> {
    let format = Format::from_path(path)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| TraceError::Io { path: dir.into(), source })?;
    let fail = |e: PolarsError| TraceError::Format { path: path.into(), format: format.name(), message: e.to_string() };
    artifact::write_file_with(path, |file| match format {
        Format::Csv => CsvWriter::new(file).include_header(true).finish(&mut df).map_err(fail),
        Format::Parquet => ParquetWriter::new(file).finish(&mut df).map(|_| ()).map_err(fail),
        Format::Jsonl => JsonWriter::new(file).with_json_format(JsonFormat::JsonLines).finish(&mut df).map_err(fail),
    })
    .map_err(|e| match e {
        artifact::WriteError::Io(source) => TraceError::Io { path: path.into(), source },
        artifact::WriteError::Write(e) => e,
    })
}
