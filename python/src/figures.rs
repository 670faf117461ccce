//! The course's figures from Python: `servesim::course::figure` and
//! `servesim::course::measured::figure` (the same steps `servesim course` runs, captioned from the
//! same data), and any figure JSON that `servesim course` wrote rendered by the same `figures` code.

use crate::error::{input, ops, other};
use pyo3::prelude::*;
use servesim::course::measured::{Measured, Quiet};
use servesim::ops::progress::Progress;
use std::path::PathBuf;

/// (id, title, caption, SVG, the figure's JSON, run ids) of a figure.
type Drawn = (String, String, String, String, String, Vec<String>);

fn drawn(fig: &figures::Figure, svg: String) -> PyResult<Drawn> {
    let json = fig.to_json().map_err(other)? + "\n";
    Ok((fig.id.clone(), fig.title.clone(), fig.caption.clone(), svg, json, fig.run_ids.clone()))
}

/// Figure `id` of the course, simulated into `dir` (`configs/`, and `traces/` for the traces
/// figure) at the `--quick` scale or the full one.
#[pyfunction]
#[pyo3(signature = (id, dir, quick=true, progress=None))]
pub(crate) fn course_figure(
    py: Python<'_>,
    id: &str,
    dir: PathBuf,
    quick: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Drawn> {
    let (fig, svg) = crate::progress::run(py, progress, |p| {
        let callback = match p {
            Progress::Callback(f) => Some(f),
            _ => None,
        };
        servesim::course::figure(id, &dir, quick, callback)
    })?
    .map_err(|e| ops(&e))?;
    drawn(&fig, svg)
}

/// The ids of the figures `course_figure` draws, with the units (simulations) each counts.
#[pyfunction]
pub(crate) fn course_figure_ids() -> Vec<(&'static str, u64)> {
    servesim::course::simulated_steps().iter().flat_map(|s| s.figures.iter().map(move |f| (*f, s.units))).collect()
}

/// A figure from its JSON (a `<figure>.json` that `servesim course` or `servesim figures`
/// wrote), checked and rendered to SVG.
#[pyfunction]
pub(crate) fn render_figure(json: &str) -> PyResult<Drawn> {
    let fig = figures::Figure::from_json(json).map_err(|e| input(format!("not a servesim figure: {e}")))?;
    let svg = fig.to_svg().map_err(|e| input(format!("figure {}: {e}", fig.id)))?;
    drawn(&fig, svg)
}

/// Measured figure `id` of the course (models, calibration, validation, cascade), its step run
/// into `dir` on the models in `models` (never built here: an error names the command that builds
/// them), with `profile` for the calibration and validation figures if given.
#[pyfunction]
#[pyo3(signature = (id, dir, models, quick=true, profile=None, progress=None))]
pub(crate) fn course_measured_figure(
    py: Python<'_>,
    id: &str,
    dir: PathBuf,
    models: PathBuf,
    quick: bool,
    profile: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Drawn> {
    let m = Measured { models, quick, build: false, stop: None, report: &Quiet };
    let (fig, svg) = crate::progress::run(py, progress, |p| {
        let callback = match p {
            Progress::Callback(f) => Some(f),
            _ => None,
        };
        servesim::course::measured::figure(id, &dir, &m, profile.as_deref(), callback)
    })?
    .map_err(|e| ops(&e))?;
    drawn(&fig, svg)
}

/// The ids of the figures `course_measured_figure` draws, with the units (measurements) each counts.
#[pyfunction]
pub(crate) fn course_measured_ids() -> Vec<(&'static str, u64)> {
    servesim::course::measured::figure_ids()
}
