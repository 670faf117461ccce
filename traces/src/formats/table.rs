//! A minimal column table for writing results (per-request records, sweep rows) with polars.

use super::{Format, write_frame};
use crate::error::{Result, TraceError};
use polars::prelude::*;
use std::path::Path;

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum TableColumn {
    /// Unsigned integers.
    U64(Vec<u64>),
    /// Unsigned integers with gaps.
    OptU64(Vec<Option<u64>>),
    /// Floats.
    F64(Vec<f64>),
    /// Floats with gaps.
    OptF64(Vec<Option<f64>>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Text.
    Str(Vec<String>),
    /// Lists of unsigned integers (written as `;`-separated text in CSV).
    ListU64(Vec<Option<Vec<u64>>>),
}

impl TableColumn {
    fn len(&self) -> usize {
        match self {
            TableColumn::U64(v) => v.len(),
            TableColumn::OptU64(v) => v.len(),
            TableColumn::F64(v) => v.len(),
            TableColumn::OptF64(v) => v.len(),
            TableColumn::Bool(v) => v.len(),
            TableColumn::Str(v) => v.len(),
            TableColumn::ListU64(v) => v.len(),
        }
    }

    fn into_column(self, name: &str, format: Format) -> Column {
        let name = PlSmallStr::from(name);
        match self {
            TableColumn::U64(v) => Column::new(name, v),
            TableColumn::OptU64(v) => Column::new(name, v),
            TableColumn::F64(v) => Column::new(name, v),
            TableColumn::OptF64(v) => Column::new(name, v),
            TableColumn::Bool(v) => Column::new(name, v),
            TableColumn::Str(v) => Column::new(name, v),
            TableColumn::ListU64(v) if format == Format::Csv => {
                let text: Vec<Option<String>> = v
                    .into_iter()
                    .map(|l| l.map(|l| l.iter().map(u64::to_string).collect::<Vec<_>>().join(";")))
                    .collect();
                Column::new(name, text)
            }
            TableColumn::ListU64(v) => {
                let values: usize = v.iter().map(|l| l.as_ref().map_or(0, Vec::len)).sum();
                let mut b = ListPrimitiveChunkedBuilder::<UInt64Type>::new(name, v.len(), values, DataType::UInt64);
                for l in &v {
                    b.append_opt_slice(l.as_deref());
                }
                b.finish().into_series().into_column()
            }
        }
    }
}

/// Named columns of equal length, written as CSV, Parquet or JSONL by file extension.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    columns: Vec<(String, TableColumn)>,
}

impl Table {
    /// Appends a column.
    pub fn push(&mut self, name: &str, column: TableColumn) {
        self.columns.push((name.to_string(), column));
    }

    /// The columns in order, by name.
    pub fn columns(&self) -> &[(String, TableColumn)] {
        &self.columns
    }

    /// Number of rows (of the first column).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// Writes the table atomically to `path`; the format follows the extension.
    pub fn write(self, path: &Path) -> Result<()> {
        let format = Format::from_path(path)?;
        let height = self.rows();
        if let Some((name, _)) = self.columns.iter().find(|(_, c)| c.len() != height) {
            return Err(TraceError::invalid(path, None, Some(name), "column length differs from the others"));
        }
        let cols: Vec<Column> = self.columns.into_iter().map(|(n, c)| c.into_column(&n, format)).collect();
        let df = DataFrame::new(height, cols).map_err(|e| TraceError::Format {
            path: path.into(),
            format: "table",
            message: e.to_string(),
        })?;
        write_frame(path, df)
    }
}
