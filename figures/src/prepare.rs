//! Checking a figure's data and turning it into what is drawn: plot coordinates, fitted axes,
//! colours and legend entries. Nothing is drawn before all data has passed, so a bad series never
//! leaves a half-written file.

use crate::cdf;
use crate::error::{Error, Result};
use crate::spec::{Axis, BarChart, CdfChart, CdfData, Chart, Figure, LineStyle, Panel, RefAxis, Scale, ScatterChart};
use crate::ticks::AxisMap;

/// Marker shapes, cycled with the colours so series stay apart in grayscale print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

impl Marker {
    fn of(color: usize) -> Marker {
        [Marker::Circle, Marker::Triangle, Marker::Square, Marker::Cross][color % 4]
    }
}

/// A series ready to draw, in plot coordinates.
#[derive(Debug)]
pub(crate) struct Line {
    pub points: Vec<(f64, f64)>,
    pub color: usize,
    pub dashed: bool,
    /// Marker drawn at every point, if any.
    pub marker: Option<Marker>,
}

/// A labelled scatter point, in plot coordinates.
#[derive(Debug)]
pub(crate) struct Mark {
    pub x: f64,
    pub y: f64,
    pub radius: i32,
    pub color: usize,
    pub label: String,
}

/// A reference line in plot coordinates.
#[derive(Debug)]
pub(crate) struct Rule {
    pub axis: RefAxis,
    pub value: f64,
    pub label: String,
}

/// A highlighted point in plot coordinates.
#[derive(Debug)]
pub(crate) struct Spot {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// A grouped bar in plot coordinates.
#[derive(Debug)]
pub(crate) struct Bar {
    pub x0: f64,
    pub x1: f64,
    pub value: f64,
    pub color: usize,
}

/// One panel ready to draw.
#[derive(Debug)]
pub(crate) struct PreparedPanel {
    pub y: AxisMap,
    pub y_title: String,
    pub lines: Vec<Line>,
    pub marks: Vec<Mark>,
    pub bars: Vec<Bar>,
    pub rules: Vec<Rule>,
    pub spots: Vec<Spot>,
}

/// A legend entry.
#[derive(Debug)]
pub(crate) struct LegendEntry {
    pub name: String,
    pub color: usize,
    pub dashed: bool,
    /// Draw a line swatch (false for scatter groups and bars).
    pub line: bool,
    pub marker: Option<Marker>,
    /// Draw a filled box (bars).
    pub block: bool,
}

/// A whole figure ready to draw.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub x: AxisMap,
    pub x_title: String,
    /// Category names for a bar chart's x ticks (tick i is category i).
    pub categories: Option<Vec<String>>,
    /// One or two panels, top first.
    pub panels: Vec<PreparedPanel>,
    pub legend: Vec<LegendEntry>,
    pub legend_note: Option<String>,
}

/// Colour indices by name, in order of first appearance.
#[derive(Default)]
struct Colors(Vec<String>);

impl Colors {
    fn of(&mut self, name: &str) -> (usize, bool) {
        match self.0.iter().position(|n| n == name) {
            Some(i) => (i, false),
            None => {
                self.0.push(name.to_string());
                (self.0.len() - 1, true)
            }
        }
    }
}

struct Checker<'a> {
    figure: &'a str,
}

impl Checker<'_> {
    fn value(&self, series: &str, index: usize, axis: &'static str, value: f64, scale: Scale) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::NonFinite {
                figure: self.figure.to_string(),
                series: series.to_string(),
                index,
                axis,
                value,
            });
        }
        if scale == Scale::Log && value <= 0.0 {
            return Err(Error::NonPositiveOnLogAxis {
                figure: self.figure.to_string(),
                series: series.to_string(),
                index,
                axis,
                value,
            });
        }
        Ok(())
    }

    fn points(&self, series: &str, points: &[[f64; 2]], x: Scale, y: Scale) -> Result<()> {
        if points.is_empty() {
            return Err(self.empty(series));
        }
        for (i, &[px, py]) in points.iter().enumerate() {
            self.value(series, i, "x", px, x)?;
            self.value(series, i, "y", py, y)?;
        }
        Ok(())
    }

    fn empty(&self, series: &str) -> Error {
        Error::EmptySeries { figure: self.figure.to_string(), series: series.to_string() }
    }

    fn invalid(&self, message: String) -> Error {
        Error::InvalidData { figure: self.figure.to_string(), message }
    }

    fn rules(&self, rules: &[crate::spec::RefLine], x: Scale, y: Scale) -> Result<()> {
        for r in rules {
            let (axis, scale) = match r.axis {
                RefAxis::X => ("x", x),
                RefAxis::Y => ("y", y),
            };
            self.value(&format!("reference line '{}'", r.label), 0, axis, r.value, scale)?;
        }
        Ok(())
    }
}

/// Checks the figure and prepares it for drawing.
pub(crate) fn prepare(fig: &Figure) -> Result<Prepared> {
    let ck = Checker { figure: &fig.id };
    match &fig.chart {
        Chart::Line(c) => panels(&ck, &c.x, &[&c.panel], false),
        Chart::TwoPanel(c) => panels(&ck, &c.x, &[&c.top, &c.bottom], false),
        Chart::Timeline(c) => panels(&ck, &c.x, &[&c.top, &c.bottom], true),
        Chart::Cdf(c) => cdf_chart(&ck, c),
        Chart::Scatter(c) => scatter(&ck, c),
        Chart::Bar(c) => bars(&ck, c),
    }
}

fn panels(ck: &Checker<'_>, x: &Axis, panels: &[&Panel], step: bool) -> Result<Prepared> {
    let mut colors = Colors::default();
    let mut legend = Vec::new();
    let mut xs = Vec::new();
    let mut out = Vec::new();
    for panel in panels {
        if panel.series.is_empty() {
            return Err(ck.invalid(format!("the panel of '{}' has no series", panel.y.title())));
        }
        let mut ys = Vec::new();
        let mut lines = Vec::new();
        for s in &panel.series {
            ck.points(&s.name, &s.points, x.scale, panel.y.scale)?;
            let (color, new) = colors.of(&s.name);
            let marker = (s.markers || s.points.len() == 1).then(|| Marker::of(color));
            if new {
                legend.push(LegendEntry {
                    name: s.name.clone(),
                    color,
                    dashed: s.style == LineStyle::Dashed,
                    line: true,
                    marker: s.markers.then(|| Marker::of(color)),
                    block: false,
                });
            }
            let mut points: Vec<(f64, f64)> = s.points.iter().map(|&[a, b]| (a, b)).collect();
            if step {
                points = steps(&points);
            }
            xs.extend(points.iter().map(|p| p.0));
            ys.extend(points.iter().map(|p| p.1));
            lines.push(Line { points, color, dashed: s.style == LineStyle::Dashed, marker });
        }
        ck.rules(&panel.ref_lines, x.scale, panel.y.scale)?;
        for (i, h) in panel.highlights.iter().enumerate() {
            let name = format!("highlight '{}'", h.label);
            ck.value(&name, i, "x", h.x, x.scale)?;
            ck.value(&name, i, "y", h.y, panel.y.scale)?;
            xs.push(h.x);
            ys.push(h.y);
        }
        for r in &panel.ref_lines {
            match r.axis {
                RefAxis::X => xs.push(r.value),
                RefAxis::Y => ys.push(r.value),
            }
        }
        let y = AxisMap::fit(panel.y.scale, &ys, true);
        out.push((panel, y, lines));
    }
    let xmap = AxisMap::fit(x.scale, &xs, false);
    let panels = out
        .into_iter()
        .map(|(panel, y, lines)| PreparedPanel {
            lines: lines
                .into_iter()
                .map(|l| Line { points: l.points.iter().map(|&(a, b)| (xmap.map(a), y.map(b))).collect(), ..l })
                .collect(),
            rules: rules(&panel.ref_lines, &xmap, &y),
            spots: panel
                .highlights
                .iter()
                .map(|h| Spot { x: xmap.map(h.x), y: y.map(h.y), label: h.label.clone() })
                .collect(),
            y_title: panel.y.title(),
            y,
            marks: Vec::new(),
            bars: Vec::new(),
        })
        .collect();
    Ok(Prepared { x: xmap, x_title: x.title(), categories: None, panels, legend, legend_note: None })
}

/// A step function through the points: each value holds until the next x.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &p) in points.iter().enumerate() {
        if i > 0 {
            out.push((p.0, points[i - 1].1));
        }
        out.push(p);
    }
    out
}

fn rules(rules: &[crate::spec::RefLine], x: &AxisMap, y: &AxisMap) -> Vec<Rule> {
    rules
        .iter()
        .map(|r| Rule {
            axis: r.axis,
            value: match r.axis {
                RefAxis::X => x.map(r.value),
                RefAxis::Y => y.map(r.value),
            },
            label: r.label.clone(),
        })
        .collect()
}

fn cdf_chart(ck: &Checker<'_>, c: &CdfChart) -> Result<Prepared> {
    if c.curves.is_empty() {
        return Err(ck.invalid("the CDF chart has no curves".to_string()));
    }
    let mut series = Vec::new();
    for curve in &c.curves {
        let points = match &curve.data {
            CdfData::Samples(s) => {
                if s.is_empty() {
                    return Err(ck.empty(&curve.name));
                }
                for (i, &v) in s.iter().enumerate() {
                    ck.value(&curve.name, i, "x", v, c.x.scale)?;
                }
                cdf::empirical(s)
            }
            CdfData::Quantiles(q) => {
                if q.is_empty() {
                    return Err(ck.empty(&curve.name));
                }
                for (i, &[p, v]) in q.iter().enumerate() {
                    ck.value(&curve.name, i, "y", p, Scale::Linear)?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(ck.invalid(format!(
                            "series '{}', point {i}: probability {p} is outside [0, 1]",
                            curve.name
                        )));
                    }
                    ck.value(&curve.name, i, "x", v, c.x.scale)?;
                }
                cdf::from_quantiles(q)
            }
        };
        series.push(crate::spec::Series { name: curve.name.clone(), points, style: curve.style, markers: false });
    }
    let mut panel = Panel::new(Axis::new("cumulative fraction", ""), series);
    panel.ref_lines.clone_from(&c.ref_lines);
    let mut prepared = panels(ck, &c.x, &[&panel], false)?;
    // A fraction axis always shows 0 to 1 in steps of 0.2, whatever the curves cover.
    let y = &mut prepared.panels[0].y;
    *y = AxisMap::fit(Scale::Linear, &[0.0, 1.0], true);
    Ok(prepared)
}

fn scatter(ck: &Checker<'_>, c: &ScatterChart) -> Result<Prepared> {
    if c.points.is_empty() {
        return Err(ck.invalid("the scatter chart has no points".to_string()));
    }
    let mut colors = Colors::default();
    let mut legend = Vec::new();
    let max_size = c.points.iter().filter_map(|p| p.size).fold(0.0_f64, f64::max);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let mut raw = Vec::new();
    let grouped = c.points.iter().any(|p| p.group.is_some());
    for (i, p) in c.points.iter().enumerate() {
        let name = format!("point '{}'", p.label);
        ck.value(&name, i, "x", p.x, c.x.scale)?;
        ck.value(&name, i, "y", p.y, c.y.scale)?;
        if let Some(s) = p.size
            && (!s.is_finite() || s < 0.0)
        {
            return Err(ck.invalid(format!("point '{}' (index {i}): size {s} must be finite and ≥ 0", p.label)));
        }
        let group = p.group.as_deref().unwrap_or("other");
        let (color, new) = colors.of(group);
        if new && grouped {
            legend.push(LegendEntry {
                name: group.to_string(),
                color,
                dashed: false,
                line: false,
                marker: Some(Marker::Circle),
                block: false,
            });
        }
        // Marker area proportional to size: radius ∝ sqrt(size), 5 to 22 px.
        let radius = match p.size {
            Some(s) if max_size > 0.0 => 5 + (17.0 * (s / max_size).sqrt()).round() as i32,
            _ => 8,
        };
        xs.push(p.x);
        ys.push(p.y);
        raw.push((p, color, radius));
    }
    ck.rules(&c.ref_lines, c.x.scale, c.y.scale)?;
    for r in &c.ref_lines {
        match r.axis {
            RefAxis::X => xs.push(r.value),
            RefAxis::Y => ys.push(r.value),
        }
    }
    // Labels sit beside the markers: more room at the edges than a line chart needs.
    let x = AxisMap::fit_padded(c.x.scale, &xs, false, 0.08);
    let y = AxisMap::fit_padded(c.y.scale, &ys, false, 0.12);
    let marks = raw
        .into_iter()
        .map(|(p, color, radius)| Mark { x: x.map(p.x), y: y.map(p.y), radius, color, label: p.label.clone() })
        .collect();
    let panel = PreparedPanel {
        rules: rules(&c.ref_lines, &x, &y),
        y_title: c.y.title(),
        y,
        lines: Vec::new(),
        marks,
        bars: Vec::new(),
        spots: Vec::new(),
    };
    Ok(Prepared {
        x_title: c.x.title(),
        x,
        categories: None,
        panels: vec![panel],
        legend,
        legend_note: c.size_note.clone(),
    })
}

fn bars(ck: &Checker<'_>, c: &BarChart) -> Result<Prepared> {
    if c.categories.is_empty() {
        return Err(ck.invalid("the bar chart has no categories".to_string()));
    }
    if c.series.is_empty() {
        return Err(ck.invalid("the bar chart has no series".to_string()));
    }
    if c.y.scale == Scale::Log {
        return Err(ck.invalid("bar charts need a linear y axis (bars start at zero)".to_string()));
    }
    let mut colors = Colors::default();
    let mut legend = Vec::new();
    let mut ys = vec![0.0];
    let mut bars = Vec::new();
    let k = c.series.len() as f64;
    let width = 0.8 / k;
    for (j, s) in c.series.iter().enumerate() {
        if s.values.is_empty() {
            return Err(ck.empty(&s.name));
        }
        if s.values.len() != c.categories.len() {
            return Err(ck.invalid(format!(
                "series '{}' has {} values for {} categories",
                s.name,
                s.values.len(),
                c.categories.len()
            )));
        }
        let (color, new) = colors.of(&s.name);
        if new {
            legend.push(LegendEntry {
                name: s.name.clone(),
                color,
                dashed: false,
                line: false,
                marker: None,
                block: true,
            });
        }
        for (i, &v) in s.values.iter().enumerate() {
            ck.value(&s.name, i, "y", v, Scale::Linear)?;
            ys.push(v);
            let x0 = i as f64 - 0.4 + j as f64 * width;
            bars.push(Bar { x0, x1: x0 + width, value: v, color });
        }
    }
    ck.rules(&c.ref_lines, Scale::Linear, Scale::Linear)?;
    if let Some(r) = c.ref_lines.iter().find(|r| r.axis == RefAxis::X) {
        return Err(ck.invalid(format!("reference line '{}': bar charts take horizontal (y) lines only", r.label)));
    }
    ys.extend(c.ref_lines.iter().map(|r| r.value));
    let n = c.categories.len();
    let mut x = AxisMap::fit(Scale::Linear, &[-0.6, n as f64 - 0.4], false);
    x.lo = -0.6;
    x.hi = n as f64 - 0.4;
    x.ticks = (0..n).map(|i| i as f64).collect();
    let y = AxisMap::fit(Scale::Linear, &ys, true);
    let panel = PreparedPanel {
        rules: rules(&c.ref_lines, &x, &y),
        y_title: c.y.title(),
        y,
        lines: Vec::new(),
        marks: Vec::new(),
        bars,
        spots: Vec::new(),
    };
    Ok(Prepared {
        x,
        x_title: c.x_label.clone(),
        categories: Some(c.categories.clone()),
        panels: vec![panel],
        legend,
        legend_note: None,
    })
}
