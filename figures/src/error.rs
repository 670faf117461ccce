//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while checking, rendering or saving a figure.
///
/// Data errors name the figure id and the series (and the point index where there is one), so a
/// caller can find the bad run without opening a debugger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A series, CDF sample set or bar group holds no values.
    #[error("figure '{figure}': series '{series}' has no points")]
    EmptySeries {
        /// Figure id.
        figure: String,
        /// Series name.
        series: String,
    },
    /// A value is NaN or infinite.
    #[error("figure '{figure}': series '{series}', point {index}: {axis} value {value} is not finite")]
    NonFinite {
        /// Figure id.
        figure: String,
        /// Series name (or `reference line '…'` / `highlight '…'`).
        series: String,
        /// Index of the point inside the series.
        index: usize,
        /// `x` or `y`.
        axis: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A value that must go on a logarithmic axis is zero or negative.
    #[error(
        "figure '{figure}': series '{series}', point {index}: {axis} value {value} cannot be shown on a \
         logarithmic {axis} axis (values must be > 0; use a linear axis or drop the point)"
    )]
    NonPositiveOnLogAxis {
        /// Figure id.
        figure: String,
        /// Series name (or `reference line '…'` / `highlight '…'`).
        series: String,
        /// Index of the point inside the series.
        index: usize,
        /// `x` or `y`.
        axis: &'static str,
        /// The offending value.
        value: f64,
    },
    /// Data that is well-formed numbers but does not make a chart (no series at all, a bar series
    /// whose length differs from the category count, a quantile outside [0, 1], …).
    #[error("figure '{figure}': {message}")]
    InvalidData {
        /// Figure id.
        figure: String,
        /// What is wrong, naming the series or field.
        message: String,
    },
    /// The output file stem is empty or contains a path separator.
    #[error("figure '{figure}': output stem '{stem}' must be a plain, non-empty file name without separators")]
    InvalidStem {
        /// Figure id.
        figure: String,
        /// The stem given.
        stem: String,
    },
    /// The embedded font could not be registered with plotters.
    #[error("the embedded DejaVu Sans font could not be loaded")]
    Font,
    /// plotters reported an error while drawing.
    #[error("figure '{figure}': drawing the {format} failed: {message}")]
    Draw {
        /// Figure id.
        figure: String,
        /// `SVG` or `PNG`.
        format: &'static str,
        /// plotters' message.
        message: String,
    },
    /// Encoding the PNG failed.
    #[error("figure '{figure}': encoding the PNG failed: {message}")]
    Encode {
        /// Figure id.
        figure: String,
        /// The encoder's message.
        message: String,
    },
    /// Writing an output file (or creating its directory) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A figure could not be converted to or from JSON.
    #[error("figure JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
