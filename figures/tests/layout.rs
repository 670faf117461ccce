//! No text of a figure leaves its canvas or overlaps other text: the sample figures and the
//! course's golden figures (`tests/golden/course-quick` of the workspace), measured with the
//! glyph extents the PNG is drawn with.

mod samples;

use figures::{Figure, style};
use std::path::Path;

/// Clear pixels required between two texts: less and they read as one ("1e-5 0.0001").
const GAP: i32 = 6;

/// Every problem with the text of `fig`: boxes past the canvas, pairs of boxes closer than `GAP`.
fn problems(fig: &Figure) -> Vec<String> {
    let boxes = fig.text_boxes().unwrap();
    assert!(boxes.iter().any(|b| b.text == fig.title), "{}: the title is drawn", fig.id);
    let mut out = Vec::new();
    for (i, a) in boxes.iter().enumerate() {
        if !a.inside(style::WIDTH, style::HEIGHT) {
            out.push(format!("{}: `{}` extends past the canvas: {a:?}", fig.id, a.text));
        }
        for b in &boxes[i + 1..] {
            if a.within(b, GAP - 1) {
                out.push(format!("{}: `{}` runs into `{}`: {a:?} {b:?}", fig.id, a.text, b.text));
            }
        }
    }
    out
}

fn course_figures() -> Vec<Figure> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/course-quick");
    let mut figs: Vec<Figure> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| Figure::from_json(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    figs.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(figs.len() >= 10, "{}", dir.display());
    figs
}

#[test]
fn no_text_leaves_the_canvas_or_overlaps_other_text() {
    let all: Vec<String> = samples::all().iter().chain(&course_figures()).flat_map(problems).collect();
    assert!(all.is_empty(), "{} problems:\n{}", all.len(), all.join("\n"));
}

/// The traces figure as `servesim course --public-traces` draws it: long legend entries and gaps
/// from 1e-5 to 100 mean gaps on a log axis (the review found the legend cut at the right edge
/// and the tick labels running together).
fn traces_with_public_traces() -> Figure {
    let mut fig = course_figures().into_iter().find(|f| f.id == "traces").unwrap();
    if let figures::Chart::Cdf(c) = &mut fig.chart {
        let mut curve = c.curves[0].clone();
        curve.name = "Azure LLM conversation: CV 2.42, 11% zero gaps (not drawn)".into();
        curve.data =
            figures::CdfData::Samples((0..2000).map(|i| 10f64.powf(-5.0 + 7.0 * f64::from(i) / 2000.0)).collect());
        c.curves.push(curve);
    }
    fig
}

#[test]
fn long_legend_entries_wrap_and_wide_log_axes_stay_legible() {
    let fig = traces_with_public_traces();
    assert_eq!(problems(&fig), Vec::<String>::new());
    let boxes = fig.text_boxes().unwrap();
    // Every word of the long entry is drawn (wrapped, not cut), and the decades are powers of ten.
    for word in ["conversation:", "zero", "drawn)"] {
        assert!(boxes.iter().any(|b| b.text.contains(word)), "{word}: {boxes:?}");
    }
    for tick in ["10⁻⁵", "10⁻¹", "10⁰", "10²"] {
        assert!(boxes.iter().any(|b| b.text == tick), "{tick}: {boxes:?}");
    }
}

#[test]
fn the_check_finds_text_past_the_canvas_and_text_running_together() {
    let mut fig = samples::line();
    fig.title = "a title far too long for any canvas: ".repeat(6);
    assert!(problems(&fig).iter().any(|p| p.contains("past the canvas")), "{:?}", problems(&fig));
    let boxes = samples::line().text_boxes().unwrap();
    let a = boxes[0].clone();
    let mut b = a.clone();
    b.x0 = a.x1 + GAP;
    b.x1 = b.x0 + 10;
    assert!(a.within(&a, 0) && !a.within(&b, GAP - 1) && a.within(&b, GAP));
}
