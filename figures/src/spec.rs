//! The figure specification: plain, serde-serializable data. Callers compute everything shown;
//! this crate only checks and draws it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One figure: what is drawn, its title, its caption and the runs it came from.
///
/// Serialized as JSON by [`Figure::to_json`] so the data behind a figure can be kept as a golden
/// file and re-rendered later without re-running the simulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// Stable identifier, e.g. `batching-latency-vs-load`. Printed in the footer and in errors.
    pub id: String,
    /// Title drawn at the top of the image.
    pub title: String,
    /// Caption for the course text. Kept in the JSON, not drawn (the chapter typesets it).
    #[serde(default)]
    pub caption: String,
    /// Run ids (or any provenance strings) the data came from, drawn in the footer.
    #[serde(default)]
    pub run_ids: Vec<String>,
    /// What the caption quotes that the chart does not hold (the scenario's service model, a
    /// run's preemptions, a model's dataset id…), so that a caption can be recomputed from this
    /// JSON alone and checked against it. Not drawn.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, Fact>,
    /// What to draw.
    pub chart: Chart,
}

/// One fact a caption quotes: a number or a name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Fact {
    /// A number (serialized exactly).
    Number(f64),
    /// A name or any other text.
    Text(String),
}

impl From<f64> for Fact {
    fn from(x: f64) -> Self {
        Fact::Number(x)
    }
}

impl From<&str> for Fact {
    fn from(s: &str) -> Self {
        Fact::Text(s.to_string())
    }
}

impl From<String> for Fact {
    fn from(s: String) -> Self {
        Fact::Text(s)
    }
}

/// The chart kinds. Tagged by `kind` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Chart {
    /// Named (x, y) series in one panel.
    Line(LineChart),
    /// Labelled points, optionally grouped and sized.
    Scatter(ScatterChart),
    /// Empirical CDFs of samples, or CDFs given as quantile points.
    Cdf(CdfChart),
    /// Two stacked panels sharing the x axis (e.g. p99 latency and throughput vs max queue delay).
    TwoPanel(PanelsChart),
    /// Two stacked panels over time whose series are step functions: each value holds until the
    /// next point (e.g. queue length and utilization).
    Timeline(PanelsChart),
    /// Grouped bars over named categories.
    Bar(BarChart),
}

/// Linear or base-10 logarithmic axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Linear.
    #[default]
    Linear,
    /// Base-10 logarithmic; every value shown on it must be > 0.
    Log,
}

/// An axis: what it measures, in which unit, on which scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Quantity, e.g. `p99 latency`.
    pub label: String,
    /// Unit, e.g. `ms`; empty for dimensionless quantities. Drawn as `label (unit)`.
    #[serde(default)]
    pub unit: String,
    /// Scale.
    #[serde(default)]
    pub scale: Scale,
}

impl Axis {
    /// A linear axis.
    pub fn new(label: impl Into<String>, unit: impl Into<String>) -> Self {
        Axis { label: label.into(), unit: unit.into(), scale: Scale::Linear }
    }

    /// The same axis on a logarithmic scale.
    pub fn log(mut self) -> Self {
        self.scale = Scale::Log;
        self
    }

    /// The text drawn along the axis: `label (unit)`, or `label` without a unit.
    pub fn title(&self) -> String {
        if self.unit.is_empty() { self.label.clone() } else { format!("{} ({})", self.label, self.unit) }
    }
}

/// How a series' line is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStyle {
    /// Solid line (measured / simulated data).
    #[default]
    Solid,
    /// Dashed line (analytic or reference curves).
    Dashed,
}

/// A named series of (x, y) points, drawn in the given order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points as `[x, y]`.
    pub points: Vec<[f64; 2]>,
    /// Solid or dashed.
    #[serde(default)]
    pub style: LineStyle,
    /// Draw a marker at every point (a single-point series always gets one).
    #[serde(default)]
    pub markers: bool,
}

impl Series {
    /// A solid series without markers.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().map(|(x, y)| [x, y]).collect(),
            style: LineStyle::Solid,
            markers: false,
        }
    }

    /// A dashed series, for analytic curves.
    pub fn analytic(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series { style: LineStyle::Dashed, ..Series::new(name, points) }
    }

    /// The same series with a marker at every point.
    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }
}

/// Which axis a reference line is a value of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefAxis {
    /// A vertical line at an x value.
    X,
    /// A horizontal line at a y value (e.g. an SLO).
    Y,
}

/// A labelled reference line across the plot, e.g. `SLO 200 ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefLine {
    /// Horizontal (`y`) or vertical (`x`).
    pub axis: RefAxis,
    /// Position in data units.
    pub value: f64,
    /// Text drawn beside the line.
    pub label: String,
}

impl RefLine {
    /// A horizontal line at `y`.
    pub fn horizontal(y: f64, label: impl Into<String>) -> Self {
        RefLine { axis: RefAxis::Y, value: y, label: label.into() }
    }

    /// A vertical line at `x`.
    pub fn vertical(x: f64, label: impl Into<String>) -> Self {
        RefLine { axis: RefAxis::X, value: x, label: label.into() }
    }
}

/// A point singled out with a ring and a label, e.g. the planner's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Highlight {
    /// x in data units.
    pub x: f64,
    /// y in data units.
    pub y: f64,
    /// Text drawn beside the point.
    pub label: String,
}

/// One panel of x–y series with its own y axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// The y axis.
    pub y: Axis,
    /// The series, drawn in order; colours follow the order of first appearance of each name.
    pub series: Vec<Series>,
    /// Reference lines.
    #[serde(default)]
    pub ref_lines: Vec<RefLine>,
    /// Highlighted points.
    #[serde(default)]
    pub highlights: Vec<Highlight>,
}

impl Panel {
    /// A panel with series and nothing else.
    pub fn new(y: Axis, series: Vec<Series>) -> Self {
        Panel { y, series, ref_lines: Vec::new(), highlights: Vec::new() }
    }

    /// Adds a reference line.
    pub fn with_ref_line(mut self, line: RefLine) -> Self {
        self.ref_lines.push(line);
        self
    }

    /// Adds a highlighted point.
    pub fn with_highlight(mut self, x: f64, y: f64, label: impl Into<String>) -> Self {
        self.highlights.push(Highlight { x, y, label: label.into() });
        self
    }
}

/// A line chart: one panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineChart {
    /// The x axis.
    pub x: Axis,
    /// The panel.
    pub panel: Panel,
}

/// Two stacked panels sharing the x axis (used by [`Chart::TwoPanel`] and [`Chart::Timeline`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelsChart {
    /// The shared x axis (drawn under the bottom panel).
    pub x: Axis,
    /// Upper panel.
    pub top: Panel,
    /// Lower panel.
    pub bottom: Panel,
}

/// A labelled point of a scatter chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabeledPoint {
    /// Text drawn beside the point (e.g. `int8, 1.2 GB`).
    pub label: String,
    /// x in data units.
    pub x: f64,
    /// y in data units.
    pub y: f64,
    /// Optional size (e.g. memory); the marker's area is proportional to it. Must be ≥ 0.
    #[serde(default)]
    pub size: Option<f64>,
    /// Optional group (legend entry and colour); points without one share a default group.
    #[serde(default)]
    pub group: Option<String>,
}

/// A scatter chart with per-point labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScatterChart {
    /// The x axis.
    pub x: Axis,
    /// The y axis.
    pub y: Axis,
    /// The points.
    pub points: Vec<LabeledPoint>,
    /// What marker size means, shown under the legend (e.g. `marker area ∝ memory`).
    #[serde(default)]
    pub size_note: Option<String>,
    /// Reference lines.
    #[serde(default)]
    pub ref_lines: Vec<RefLine>,
}

/// The data of one CDF curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CdfData {
    /// Raw samples; the empirical CDF is drawn (reduced to at most
    /// [`crate::MAX_CDF_POINTS`] quantile points for large samples).
    Samples(Vec<f64>),
    /// Pre-computed `[probability, value]` points, probability in [0, 1], in any order.
    Quantiles(Vec<[f64; 2]>),
}

/// One named CDF.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdfCurve {
    /// Legend entry.
    pub name: String,
    /// Samples or quantile points.
    pub data: CdfData,
    /// Solid or dashed (e.g. an analytic distribution).
    #[serde(default)]
    pub style: LineStyle,
}

/// CDFs of several named samples on one chart; the y axis is the cumulative fraction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdfChart {
    /// The value axis (e.g. latency in ms, often logarithmic).
    pub x: Axis,
    /// The curves.
    pub curves: Vec<CdfCurve>,
    /// Reference lines (e.g. an SLO on x, p99 on y).
    #[serde(default)]
    pub ref_lines: Vec<RefLine>,
}

/// One group member of a bar chart: a value per category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarSeries {
    /// Legend entry.
    pub name: String,
    /// One value per category, in category order.
    pub values: Vec<f64>,
}

/// Grouped bars: for each category, one bar per series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarChart {
    /// What the categories are (drawn under them), e.g. `scenario`.
    pub x_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// The value axis (linear only: bars start at zero).
    pub y: Axis,
    /// The series.
    pub series: Vec<BarSeries>,
    /// Horizontal reference lines (`axis` must be `y`).
    #[serde(default)]
    pub ref_lines: Vec<RefLine>,
}
