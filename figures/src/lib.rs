//! Figures for the servesim course chapter: plain data in, SVG and PNG files out.
//!
//! TODO: crate docs.

mod cdf;
mod draw;
mod error;
mod prepare;
mod render;
mod spec;
pub mod style;
mod ticks;

pub use cdf::MAX_CDF_POINTS;
pub use error::{Error, Result};
pub use spec::{
    Axis, BarChart, BarSeries, CdfChart, CdfCurve, CdfData, Chart, Figure, Highlight, LabeledPoint, LineChart,
    LineStyle, Panel, PanelsChart, RefAxis, RefLine, Scale, ScatterChart, Series,
};
