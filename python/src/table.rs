//! A `traces::formats::Table` (the columns a result file is written from) as Python values, which
//! `servesim._frame` turns into a pandas DataFrame with one dtype per column kind.

use pyo3::prelude::*;
use pyo3::types::PyList;
use traces::formats::{Table, TableColumn};

/// `[(name, kind, values)]`: kind is `u64`, `opt_u64`, `f64`, `opt_f64`, `bool`, `str` or
/// `list_u64`; values a list (None for gaps).
pub(crate) fn columns<'py>(py: Python<'py>, table: &Table) -> PyResult<Bound<'py, PyAny>> {
    let out = PyList::empty(py);
    for (name, column) in table.columns() {
        let (kind, values) = match column {
            TableColumn::U64(v) => ("u64", v.into_pyobject(py)?),
            TableColumn::OptU64(v) => ("opt_u64", v.into_pyobject(py)?),
            TableColumn::F64(v) => ("f64", v.into_pyobject(py)?),
            TableColumn::OptF64(v) => ("opt_f64", v.into_pyobject(py)?),
            TableColumn::Bool(v) => ("bool", v.into_pyobject(py)?),
            TableColumn::Str(v) => ("str", v.into_pyobject(py)?),
            TableColumn::ListU64(v) => ("list_u64", v.into_pyobject(py)?),
        };
        out.append((name, kind, values))?;
    }
    Ok(out.into_any())
}
