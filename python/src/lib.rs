//! `servesim._core`: the extension module behind `import servesim`.
//!
//! Every function here calls the library the CLI calls — the root package's service layer
//! `servesim::ops` (simulate, sweep, plan, gate, groundtruth, trace, records), `servesim::course` (the
//! course's figures) and `servesim::scenario`,
//! and `sim::analytic` —; none re-implements a model, a format, an id or a run directory.
//! Structured results cross into Python as JSON text (the same serialization the CLI writes to
//! `summary.json`, `decision.json`, `comparison.json`) or as typed columns for pandas; the Python
//! package `servesim` (beside this crate) wraps them. Errors keep the CLI's messages, with its
//! flags written as this module's parameters (`error::parameters`).
//!
//! **Architecture invariant:** the only crate that links PyO3; nothing in the workspace depends on
//! it.

mod analytic;
mod error;
mod figures;
mod gate;
mod groundtruth;
mod progress;
mod scenario;
mod simulate;
mod sweep;
mod table;

use pyo3::prelude::*;

/// The module `servesim._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InputError", py.get_type::<error::InputError>())?;
    m.add("ServesimError", py.get_type::<error::ServesimError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(analytic::mmc, m)?)?;
    m.add_function(wrap_pyfunction!(analytic::md1, m)?)?;
    m.add_function(wrap_pyfunction!(analytic::mg1, m)?)?;
    m.add_function(wrap_pyfunction!(analytic::erlang_c, m)?)?;
    m.add_function(wrap_pyfunction!(analytic::zipf, m)?)?;
    m.add_function(wrap_pyfunction!(analytic::che, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::trace_generate, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::trace_read, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::trace_import_columns, m)?)?;
    m.add_function(wrap_pyfunction!(scenario::builtin_scenarios, m)?)?;
    m.add_function(wrap_pyfunction!(gate::gate, m)?)?;
    m.add_function(wrap_pyfunction!(gate::builtin_rules, m)?)?;
    m.add_function(wrap_pyfunction!(gate::gate_dirs, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::plan, m)?)?;
    m.add_function(wrap_pyfunction!(groundtruth::groundtruth, m)?)?;
    m.add_function(wrap_pyfunction!(figures::course_figure, m)?)?;
    m.add_function(wrap_pyfunction!(figures::course_figure_ids, m)?)?;
    m.add_function(wrap_pyfunction!(figures::render_figure, m)?)?;
    m.add_function(wrap_pyfunction!(figures::course_measured_figure, m)?)?;
    m.add_function(wrap_pyfunction!(figures::course_measured_ids, m)?)?;
    Ok(())
}
