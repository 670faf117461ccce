//! Typed, checked access to DataFrame columns, with errors that name row and column.

use crate::error::{Result, TraceError};
use polars::prelude::*;
use std::path::Path;

/// Column reader over one frame read from `file`.
pub(crate) struct Columns<'a> {
    df: &'a DataFrame,
    file: &'a Path,
}

fn is_int(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

impl<'a> Columns<'a> {
    pub(crate) fn new(df: &'a DataFrame, file: &'a Path) -> Columns<'a> {
        Columns { df, file }
    }

    fn err(&self, row: Option<usize>, col: &str, reason: impl Into<String>) -> TraceError {
        TraceError::invalid(self.file, row, Some(col), reason)
    }

    /// The error for a required column that is absent.
    pub(crate) fn missing(&self, col: &str) -> TraceError {
        let have: Vec<String> = self.df.get_column_names().iter().map(|c| c.to_string()).collect();
        self.err(None, col, format!("required column is missing (columns present: {})", have.join(", ")))
    }

    fn get(&self, col: &str) -> Option<&Column> {
        self.df.column(col).ok()
    }

    fn wrong_type(&self, col: &str, dt: &DataType, want: &str) -> TraceError {
        self.err(None, col, format!("has type {dt}, expected {want}"))
    }

    fn polars(&self, col: &str, e: PolarsError) -> TraceError {
        self.err(None, col, e.to_string())
    }

    /// Parses a text column value by value (trimmed; empty cells are missing); `parse` gets the
    /// 0-based row and the text.
    fn parse_text<T>(
        &self,
        c: &Column,
        col: &str,
        parse: impl Fn(usize, &str) -> Result<T>,
    ) -> Result<Option<Vec<Option<T>>>> {
        let s = c.str().map_err(|e| self.polars(col, e))?;
        s.iter()
            .enumerate()
            .map(|(i, v)| match v.map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => parse(i, t).map(Some),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A float column (strings are parsed); `None` when absent.
    pub(crate) fn f64(&self, col: &str) -> Result<Option<Vec<Option<f64>>>> {
        let Some(c) = self.get(col) else {
            return Ok(None);
        };
        let dt = c.dtype().clone();
        if dt == DataType::String {
            return self.parse_text(c, col, |i, t| {
                t.parse::<f64>().map_err(|_| self.err(Some(i + 1), col, format!("not a number: `{t}`")))
            });
        }
        if !(is_int(&dt) || matches!(dt, DataType::Float32 | DataType::Float64)) {
            return Err(self.wrong_type(col, &dt, "a number"));
        }
        let f = c.cast(&DataType::Float64).map_err(|e| self.polars(col, e))?;
        let f = f.f64().map_err(|e| self.polars(col, e))?;
        Ok(Some(f.iter().collect()))
    }

    /// A non-negative integer column (strings are parsed; integral floats accepted); `None` when absent.
    pub(crate) fn u64(&self, col: &str) -> Result<Option<Vec<Option<u64>>>> {
        let Some(c) = self.get(col) else {
            return Ok(None);
        };
        let dt = c.dtype().clone();
        let check_f = |i: usize, v: f64| -> Result<u64> {
            if !v.is_finite() {
                Err(self.err(Some(i + 1), col, format!("must be a finite non-negative integer, got {v}")))
            } else if v < 0.0 {
                Err(self.err(Some(i + 1), col, format!("must not be negative, got {v}")))
            } else if v.fract() != 0.0 || v > 2f64.powi(53) {
                Err(self.err(Some(i + 1), col, format!("must be an integer, got {v}")))
            } else {
                Ok(v as u64)
            }
        };
        if dt == DataType::String {
            return self.parse_text(c, col, |i, t| match t.parse::<u64>() {
                Ok(x) => Ok(x),
                Err(_) => match t.parse::<f64>() {
                    Ok(f) => check_f(i, f),
                    Err(_) => Err(self.err(Some(i + 1), col, format!("not an integer: `{t}`"))),
                },
            });
        }
        if dt == DataType::Int128 {
            // JSON inference gives integers beyond 64 bits this type; nothing that large is a size.
            let c =
                c.strict_cast(&DataType::Int64).map_err(|_| self.err(None, col, "holds an integer beyond 64 bits"))?;
            return self.u64_from_i64(&c, col).map(Some);
        }
        if dt == DataType::UInt64 {
            let u = c.u64().map_err(|e| self.polars(col, e))?;
            return Ok(Some(u.iter().collect()));
        }
        if is_int(&dt) {
            let c = c.cast(&DataType::Int64).map_err(|e| self.polars(col, e))?;
            return self.u64_from_i64(&c, col).map(Some);
        }
        if matches!(dt, DataType::Float32 | DataType::Float64) {
            let c = c.cast(&DataType::Float64).map_err(|e| self.polars(col, e))?;
            let v = c.f64().map_err(|e| self.polars(col, e))?;
            return v
                .iter()
                .enumerate()
                .map(|(i, x)| x.map(|f| check_f(i, f)).transpose())
                .collect::<Result<Vec<_>>>()
                .map(Some);
        }
        Err(self.wrong_type(col, &dt, "a non-negative integer"))
    }

    /// Non-negative values of an Int64 column; a negative one is an error naming its row.
    fn u64_from_i64(&self, c: &Column, col: &str) -> Result<Vec<Option<u64>>> {
        let v = c.i64().map_err(|e| self.polars(col, e))?;
        v.iter()
            .enumerate()
            .map(|(i, x)| match x {
                None => Ok(None),
                Some(x) if x < 0 => Err(self.err(Some(i + 1), col, format!("must not be negative, got {x}"))),
                Some(x) => Ok(Some(x as u64)),
            })
            .collect()
    }

    /// A string column (numbers are rendered as text); `None` when absent.
    pub(crate) fn string(&self, col: &str) -> Result<Option<Vec<Option<String>>>> {
        let Some(c) = self.get(col) else {
            return Ok(None);
        };
        let dt = c.dtype().clone();
        if !(dt == DataType::String || is_int(&dt)) {
            return Err(self.wrong_type(col, &dt, "a string"));
        }
        let c = c.cast(&DataType::String).map_err(|e| self.polars(col, e))?;
        let s = c.str().map_err(|e| self.polars(col, e))?;
        Ok(Some(s.iter().map(|v| v.map(str::to_string)).collect()))
    }

    /// A list-of-integers column (CSV: `;`-separated text); `None` when absent.
    pub(crate) fn blocks(&self, col: &str) -> Result<Option<Vec<Option<Vec<u64>>>>> {
        let Some(c) = self.get(col) else {
            return Ok(None);
        };
        let dt = c.dtype().clone();
        match &dt {
            DataType::String => {
                let s = c.str().map_err(|e| self.polars(col, e))?;
                s.iter()
                    .enumerate()
                    .map(|(i, v)| match v.map(str::trim) {
                        None => Ok(None),
                        Some("") => Ok(Some(Vec::new())),
                        Some(t) => t
                            .split(';')
                            .map(|x| {
                                x.trim().parse::<u64>().map_err(|_| {
                                    self.err(
                                        Some(i + 1),
                                        col,
                                        format!("not a `;`-separated list of non-negative integers: `{t}`"),
                                    )
                                })
                            })
                            .collect::<Result<Vec<u64>>>()
                            .map(Some),
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            }
            DataType::List(inner) if is_int(inner) || **inner == DataType::Null => {
                let c = c.cast(&DataType::List(Box::new(DataType::Int64))).map_err(|e| self.polars(col, e))?;
                let l = c.list().map_err(|e| self.polars(col, e))?;
                let mut out = Vec::with_capacity(l.len());
                for (i, item) in l.amortized_iter().enumerate() {
                    let Some(series) = item else {
                        out.push(None);
                        continue;
                    };
                    let v = series.as_ref().i64().map_err(|e| self.polars(col, e))?;
                    let mut ids = Vec::with_capacity(v.len());
                    for x in v.iter() {
                        match x {
                            Some(x) if x >= 0 => ids.push(x as u64),
                            Some(x) => {
                                return Err(self.err(
                                    Some(i + 1),
                                    col,
                                    format!("block ids must not be negative, got {x}"),
                                ));
                            }
                            None => {
                                return Err(self.err(Some(i + 1), col, "null block id in list"));
                            }
                        }
                    }
                    out.push(Some(ids));
                }
                Ok(Some(out))
            }
            _ => Err(self.wrong_type(col, &dt, "a list of non-negative integers")),
        }
    }

    /// A required string column.
    pub(crate) fn required_string(&self, col: &str) -> Result<Vec<String>> {
        let v = self.string(col)?.ok_or_else(|| self.missing(col))?;
        v.into_iter().enumerate().map(|(i, x)| x.ok_or_else(|| self.err(Some(i + 1), col, "missing value"))).collect()
    }

    /// A required non-negative integer column.
    pub(crate) fn required_u64(&self, col: &str) -> Result<Vec<u64>> {
        let v = self.u64(col)?.ok_or_else(|| self.missing(col))?;
        v.into_iter().enumerate().map(|(i, x)| x.ok_or_else(|| self.err(Some(i + 1), col, "missing value"))).collect()
    }
}
