//! Drawing a prepared figure on any plotters backend (SVG or bitmap): title, panels, legend
//! column and footer. The legend has a column of its own right of the plot, so it never covers
//! data.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::prepare::{LegendEntry, Marker, Prepared, PreparedPanel};
use crate::spec::RefAxis;
use crate::style;

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const FOOTER_H: u32 = 40;
const Y_LABEL_AREA: u32 = 118;
const X_LABEL_AREA: u32 = 78;
const LEGEND_ROW: i32 = 34;
/// Between the lines of one wrapped legend entry.
const LEGEND_LINE: i32 = 25;
/// The legend text's offset right of its swatch.
const LEGEND_TEXT_X: i32 = 60;
const SCATTER_LABEL_PX: f64 = style::LABEL_PX - 2.0;

/// Draws the whole figure on `root`.
pub(crate) fn figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    footer: &str,
    p: &Prepared,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let (body, foot) = root.split_vertically(h - FOOTER_H);
    draw_footer(&foot, footer, w)?;
    let body = body.margin(14, 0, 10, 0);
    let body = body.titled(title, style::title())?;

    let legend_w = legend_width(&body, p);
    let (plot, legend) = if legend_w > 0 { body.split_horizontally(w - legend_w) } else { (body.clone(), body) };
    if legend_w > 0 {
        draw_legend(&legend, p)?;
    }
    match p.panels.len() {
        1 => draw_panel(&plot, p, &p.panels[0], true)?,
        _ => {
            let (_, ph) = plot.dim_in_pixel();
            let (top, bottom) = plot.split_vertically((ph - X_LABEL_AREA) / 2);
            draw_panel(&top, p, &p.panels[0], false)?;
            draw_panel(&bottom, p, &p.panels[1], true)?;
        }
    }
    root.present()
}

fn draw_footer<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, footer: &str, w: u32) -> DrawResult<DB> {
    area.draw(&PathElement::new(vec![(24, 2), (w as i32 - 24, 2)], style::GRID.stroke_width(1)))?;
    let st = style::text(style::FOOTER_PX, style::MUTED).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(footer.to_string(), (24, (FOOTER_H / 2) as i32 + 1), st))
}

fn legend_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Prepared) -> u32 {
    if p.legend.is_empty() && p.legend_note.is_none() {
        return 0;
    }
    let font = style::font(style::LABEL_PX);
    let widest = p
        .legend
        .iter()
        .map(|e| area.estimate_text_size(&e.name, &font.clone().into()).map(|s| s.0).unwrap_or(200))
        .max();
    (widest.unwrap_or(0) + 110).clamp(220, 460)
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Prepared) -> DrawResult<DB> {
    let (aw, _) = area.dim_in_pixel();
    let x0 = 8;
    let mut y = 30;
    let font = style::font(style::LABEL_PX);
    for e in &p.legend {
        draw_swatch(area, e, x0, y)?;
        // An entry wider than the column wraps onto more lines instead of running off the canvas.
        let lines = wrap(area, &e.name, &font, aw.saturating_sub(LEGEND_TEXT_X as u32 + 8));
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                y += LEGEND_LINE;
            }
            let st = style::text(style::LABEL_PX, style::INK).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(line.clone(), (x0 + LEGEND_TEXT_X, y), st))?;
        }
        y += LEGEND_ROW;
    }
    if let Some(note) = &p.legend_note {
        y += LEGEND_ROW / 2;
        let font = style::font(style::FOOTER_PX);
        for line in wrap(area, note, &font, aw.saturating_sub(24)) {
            let st = style::text(style::FOOTER_PX, style::MUTED).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(line, (x0, y), st))?;
            y += 24;
        }
    }
    Ok(())
}

fn wrap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str, font: &FontDesc<'_>, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let candidate = if cur.is_empty() { word.to_string() } else { format!("{cur} {word}") };
        let fits = area.estimate_text_size(&candidate, &font.clone().into()).map(|s| s.0 <= width).unwrap_or(true);
        if fits || cur.is_empty() {
            cur = candidate;
        } else {
            lines.push(std::mem::replace(&mut cur, word.to_string()));
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn draw_swatch<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, e: &LegendEntry, x: i32, y: i32) -> DrawResult<DB> {
    let color = style::series_color(e.color);
    if e.block {
        area.draw(&Rectangle::new([(x + 8, y - 10), (x + 42, y + 10)], color.filled()))?;
    }
    if e.line {
        let st = color.stroke_width(style::LINE_WIDTH);
        if e.dashed {
            for (a, b) in [(0, 12), (19, 31), (38, 50)] {
                area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], st))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 50, y)], st))?;
        }
    }
    if let Some(m) = e.marker {
        let r = if e.line { style::MARKER_PX } else { 9 };
        draw_marker(area, m, (x + 25, y), r, color)?;
    }
    Ok(())
}

/// Draws a marker centred on a backend coordinate of `area`.
fn draw_marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    m: Marker,
    at: CT::From,
    r: i32,
    color: RGBColor,
) -> DrawResult<DB>
where
    CT::From: Clone,
{
    let fill = color.filled();
    match m {
        Marker::Circle => area.draw(&Circle::new(at, r, fill)),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, r + 2, fill)),
        Marker::Square => area.draw(&(EmptyElement::at(at) + Rectangle::new([(-r, -r), (r, r)], fill))),
        Marker::Cross => area.draw(&Cross::new(at, r, color.stroke_width(3))),
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Prepared,
    panel: &PreparedPanel,
    with_x_axis: bool,
) -> DrawResult<DB> {
    let x_axis = &p.x;
    let y_axis = &panel.y;
    let mut chart = ChartBuilder::on(area)
        .margin_top(16)
        .margin_right(28)
        .margin_left(10)
        .margin_bottom(if with_x_axis { 6 } else { 16 })
        .x_label_area_size(if with_x_axis { X_LABEL_AREA } else { 0 })
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_axis.clone(), y_axis.clone())?;

    let x_fmt = |v: &f64| match &p.categories {
        Some(c) => c.get(v.round().max(0.0) as usize).cloned().unwrap_or_default(),
        None => x_axis.label(*v),
    };
    let y_fmt = |v: &f64| y_axis.label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_desc(panel.y_title.clone())
        .axis_desc_style(style::text(style::AXIS_TITLE_PX, style::INK))
        .label_style(style::text(style::LABEL_PX, style::INK))
        .bold_line_style(style::GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(style::INK.stroke_width(1))
        .x_label_offset(0)
        .set_all_tick_mark_size(6);
    if p.categories.is_some() {
        mesh.disable_x_mesh();
    }
    if with_x_axis {
        mesh.x_desc(p.x_title.clone());
    }
    mesh.draw()?;

    let plot = chart.plotting_area();
    for b in &panel.bars {
        let color = style::series_color(b.color);
        let base = 0.0_f64.clamp(y_axis.lo, y_axis.hi);
        plot.draw(&Rectangle::new([(b.x0, base), (b.x1, b.value)], color.filled()))?;
    }
    for r in &panel.rules {
        let pts = match r.axis {
            RefAxis::X => vec![(r.value, y_axis.lo), (r.value, y_axis.hi)],
            RefAxis::Y => vec![(x_axis.lo, r.value), (x_axis.hi, r.value)],
        };
        let st = style::MUTED.stroke_width(2);
        chart.draw_series(DashedLineSeries::new(pts, 10, 6, st))?;
        // Horizontal lines are labelled at their left end (latency curves usually rise to the right),
        // vertical ones at their top; the label sits on a white box so crossing data stays legible.
        let (at, dx, dy, below) = match r.axis {
            RefAxis::X => ((r.value, y_axis.hi), 8, 6, true),
            RefAxis::Y => ((x_axis.lo, r.value), 10, -6, false),
        };
        boxed_label(
            chart.plotting_area(),
            area,
            at,
            (dx, dy),
            (false, below),
            Label(&r.label, style::LABEL_PX, style::MUTED),
        )?;
    }
    for line in &panel.lines {
        let color = style::series_color(line.color);
        let st = color.stroke_width(style::LINE_WIDTH);
        if line.points.len() > 1 {
            if line.dashed {
                chart.draw_series(DashedLineSeries::new(line.points.iter().copied(), 14, 9, st))?;
            } else {
                chart.draw_series(LineSeries::new(line.points.iter().copied(), st))?;
            }
        }
        if let Some(m) = line.marker {
            for &pt in &line.points {
                draw_marker(chart.plotting_area(), m, pt, style::MARKER_PX, color)?;
            }
        }
    }
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    for mark in &panel.marks {
        let color = style::series_color(mark.color);
        let plot = chart.plotting_area();
        plot.draw(&Circle::new((mark.x, mark.y), mark.radius, color.mix(0.8).filled()))?;
        plot.draw(&Circle::new((mark.x, mark.y), mark.radius, style::INK.stroke_width(1)))?;
        let px = chart.backend_coord(&(mark.x, mark.y));
        let right = px.0 > xr.end - 260;
        let gap = mark.radius + 5;
        let (dx, dy) = if right { (-gap, -gap / 2) } else { (gap, -gap / 2) };
        boxed_label(
            plot,
            area,
            (mark.x, mark.y),
            (dx, dy),
            (right, false),
            Label(&mark.label, SCATTER_LABEL_PX, style::INK),
        )?;
    }
    for spot in &panel.spots {
        let plot = chart.plotting_area();
        plot.draw(&Circle::new((spot.x, spot.y), 13, style::INK.stroke_width(3)))?;
        let px = chart.backend_coord(&(spot.x, spot.y));
        let (tw, th) = text_size(area, &spot.label, style::LABEL_PX);
        let right = px.0 + 20 + tw > xr.end;
        let below = px.1 - 20 - th < yr.start;
        let dx = if right { -20 } else { 20 };
        let dy = if below { 20 } else { -20 };
        boxed_label(
            plot,
            area,
            (spot.x, spot.y),
            (dx, dy),
            (right, below),
            Label(&spot.label, style::LABEL_PX, style::INK),
        )?;
    }
    Ok(())
}

fn text_size<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str, px: f64) -> (i32, i32) {
    let size = area.estimate_text_size(text, &style::font(px).into()).unwrap_or((0, 0));
    (size.0 as i32, size.1 as i32)
}

/// Text, size in pixels and colour of a label.
struct Label<'a>(&'a str, f64, RGBColor);

/// A label on a white box, placed at a pixel offset from a data point: `(left of, below)` the
/// offset when the flags are set, else right of and above it.
fn boxed_label<DB: DrawingBackend, CT: CoordTranslate>(
    plot: &DrawingArea<DB, CT>,
    measure: &DrawingArea<DB, Shift>,
    at: CT::From,
    (dx, dy): (i32, i32),
    (left_of, below): (bool, bool),
    Label(text, px, color): Label<'_>,
) -> DrawResult<DB> {
    let (tw, th) = text_size(measure, text, px);
    let left = if left_of { dx - tw } else { dx };
    let top = if below { dy } else { dy - th };
    let bg = Rectangle::new([(left - 4, top - 3), (left + tw + 4, top + th + 3)], WHITE.mix(0.85).filled());
    let st = style::text(px, color).pos(Pos::new(HPos::Left, VPos::Top));
    plot.draw(&(EmptyElement::at(at) + bg + Text::new(text.to_string(), (left, top), st)))
}
