//! Figures for the servesim course chapter: plain data in, SVG and PNG files out.
//!
//! Callers (the course pipeline in the root binary) compute every number from simulation runs
//! and hand this crate a [`Figure`]: an id, a title, a caption, the run ids the data came from
//! and one [`Chart`]. [`Figure::render`] checks the data, draws it and writes `<stem>.svg` and
//! `<stem>.png`; [`Figure::to_json`] keeps the same data as a golden file that renders again
//! without re-running anything.
//!
//! ```
//! use figures::{Axis, Chart, Figure, LineChart, Panel, RefLine, Series};
//!
//! let fig = Figure {
//!     facts: Default::default(),
//!     id: "latency-vs-load".into(),
//!     title: "Mean latency vs load".into(),
//!     caption: "Simulated mean latency against utilization, with the M/M/1 formula.".into(),
//!     run_ids: vec!["run-3f2a9c1b7d4e5a60".into()],
//!     chart: Chart::Line(LineChart {
//!         x: Axis::new("utilization", ""),
//!         panel: Panel::new(
//!             Axis::new("mean latency", "ms").log(),
//!             vec![
//!                 Series::new("simulated", [(0.5, 20.4), (0.8, 50.3), (0.9, 101.0)]).with_markers(),
//!                 Series::analytic("M/M/1", (1..=9).map(|i| (i as f64 / 10.0, 10.0 / (1.0 - i as f64 / 10.0)))),
//!             ],
//!         )
//!         .with_ref_line(RefLine::horizontal(100.0, "SLO 100 ms"))
//!         .with_highlight(0.8, 50.3, "plan's choice"),
//!     }),
//! };
//! let dir = tempfile::tempdir().unwrap();
//! let files = fig.render(dir.path(), "latency-vs-load").unwrap();
//! assert!(files[0].ends_with("latency-vs-load.svg") && files[1].ends_with("latency-vs-load.png"));
//! let golden = fig.to_json().unwrap();
//! assert_eq!(Figure::from_json(&golden).unwrap(), fig);
//! ```
//!
//! # Chart kinds
//!
//! | [`Chart`] variant | data | typical figure |
//! |---|---|---|
//! | `Line` ([`LineChart`]) | named `(x, y)` [`Series`], solid or dashed ("analytic"), optional markers, log x and/or y, reference lines ([`RefLine`], e.g. an SLO), highlighted points ([`Highlight`], e.g. "plan's choice") | latency vs load, with the queueing formula dashed |
//! | `Scatter` ([`ScatterChart`]) | [`LabeledPoint`]s with a label each, an optional group (colour, legend) and size (marker area) | accuracy vs latency, marker area ∝ memory |
//! | `Cdf` ([`CdfChart`]) | per curve raw samples (empirical CDF) or `[p, value]` quantile points ([`CdfData`]) | latency distributions per policy |
//! | `TwoPanel` ([`PanelsChart`]) | two stacked [`Panel`]s sharing x, each with its own y axis | p99 latency and throughput vs max queue delay |
//! | `Timeline` ([`PanelsChart`]) | as `TwoPanel`, but every series is a step function (a value holds until the next point) | queue length and utilization over time |
//! | `Bar` ([`BarChart`]) | one value per category and series, grouped; linear y from zero | cost per scenario and hardware |
//!
//! # Style
//!
//! One module, [`style`], fixes the look: 1200×750 px PNG and an SVG of the same size; the
//! Okabe–Ito colour-blind-safe palette in a fixed order (blue, orange, bluish green, vermillion,
//! reddish purple, sky blue, black, yellow), with marker shapes cycling alongside so series stay
//! apart in grayscale print; text sized for slides and print (title 34 px bold, axis titles
//! 25 px, ticks/legend/annotations 21 px, footer 17 px). Axes are titled `quantity (unit)` from
//! [`Axis`]. The legend has its own column right of the plot, so it never covers data; reference
//! lines and highlights carry their labels on a white box. Linear axes use 1-2-2.5-5 tick steps
//! and start at zero when the data are non-negative and near it; log axes tick decades (with 2
//! and 5 between on short ranges). A footer line names the figure id and the run ids the data came
//! from (`servesim · figure <id> · runs: …`, shortened to `+N more` past ~120 characters).
//! [`Figure::caption`] is kept in the JSON for the chapter's text, not drawn.
//!
//! # Font
//!
//! plotters' default text path (`ttf` feature, font-kit) looks fonts up through fontconfig and
//! rasterizes them with FreeType from the system. This crate uses plotters with
//! `default-features = false` and its `ab_glyph` feature instead, and registers **DejaVu Sans**
//! (regular and bold) from bytes embedded by the [`dejavu`](https://crates.io/crates/dejavu)
//! crate (2.37.0; the crate is MIT/Apache-2.0, the fonts are under the Bitstream Vera licence
//! with public-domain DejaVu changes and Arev glyphs © Tavmjong Bah — a permissive licence that
//! allows embedding and redistribution with its notice, see [`style::FONT_NOTICE`]). So images
//! look the same on every machine and no font file is committed here. DejaVu covers the Greek
//! letters and symbols the chapter uses (ρ, μ, λ, ≤, ×, ∝). The SVG files name the font as
//! `font-family="DejaVu Sans, sans-serif"`: SVG text is laid out by the viewer, which falls back
//! to its own sans-serif where DejaVu Sans is missing.
//!
//! PNG text goes through a thin backend wrapper (`glyphs.rs`): plotters 0.3.7's `ab_glyph`
//! renderer drops each glyph's left side bearing and rounds advances per glyph, which made letter
//! spacing visibly uneven; the wrapper keeps plotters' text layout and anchors but rasterizes each
//! glyph at its exact position with the same embedded font.
//!
//! # Bad data
//!
//! All data is checked before anything is drawn, and bad data writes no file:
//! - NaN or ±∞ anywhere (points, samples, reference lines, highlights, bar values):
//!   [`Error::NonFinite`], naming the figure, the series, the point index and the axis;
//! - an empty series, sample set or quantile list: [`Error::EmptySeries`]; a chart or panel with
//!   no series at all, mismatched bar lengths, a probability outside [0, 1], a negative scatter
//!   size, a log-scale bar chart: [`Error::InvalidData`];
//! - a value ≤ 0 on a logarithmic axis: [`Error::NonPositiveOnLogAxis`];
//! - a single-point series is drawn as a marker; constant data get a padded range.
//!
//! Dropping points silently would make a figure disagree with the runs it names, so the caller
//! decides what to leave out.
//!
//! # Determinism
//!
//! The same [`Figure`] renders to byte-identical SVG and PNG (tested): the font is embedded,
//! ticks and layout are computed from the data alone, nothing depends on time, locale, hash
//! order or the system, and the PNG encoder (`image`/`png`, already linked by plotters) is
//! deterministic. JSON numbers are parsed exactly (`serde_json`'s `float_roundtrip`), so a figure
//! reloaded from its golden file renders the same bytes too. Byte-identical output holds for the
//! same versions of plotters, ab_glyph and png; golden files therefore keep the data, not images.
//!
//! # Output
//!
//! [`Figure::render`] draws both images in memory, then writes each to a temporary file in the
//! output directory (created if missing) and renames it into place. [`Figure::to_svg`] and
//! [`Figure::to_png`] return the bytes without touching the disk.
//!
//! **Architecture invariant:** the only crate that uses plotters; it renders and never computes
//! metrics (the one transformation is turning raw samples into an empirical CDF, reduced to
//! [`MAX_CDF_POINTS`] quantile points for large samples). It depends on no other servesim crate.

mod cdf;
mod draw;
mod error;
mod glyphs;
mod layout;
mod prepare;
mod render;
mod spec;
pub mod style;
mod ticks;

pub use cdf::MAX_CDF_POINTS;
pub use error::{Error, Result};
pub use layout::TextBox;
pub use spec::{
    Axis, BarChart, BarSeries, CdfChart, CdfCurve, CdfData, Chart, Fact, Figure, Highlight, LabeledPoint, LineChart,
    LineStyle, Panel, PanelsChart, RefAxis, RefLine, Scale, ScatterChart, Series,
};
