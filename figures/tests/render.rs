//! Rendering each chart kind: files, contents, determinism, bad data and golden JSON.

mod samples;

use std::path::Path;

use figures::*;

/// The text nodes of an SVG, unescaped and trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        let after = &rest[start..];
        let open_end = after.find('>').expect("unterminated <text>") + 1;
        let close = after.find("</text>").expect("no </text>");
        let raw = after[open_end..close].trim();
        out.push(
            raw.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[close + 7..];
    }
    out
}

/// Width and height from a PNG's IHDR, after checking the signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

/// Axis titles, legend names and labels each sample must show.
fn expected_texts(fig: &Figure) -> Vec<String> {
    let mut t = vec![fig.title.clone(), fig.footer()];
    let panel = |p: &Panel, t: &mut Vec<String>| {
        t.push(p.y.title());
        t.extend(p.series.iter().map(|s| s.name.clone()));
        t.extend(p.ref_lines.iter().map(|r| r.label.clone()));
        t.extend(p.highlights.iter().map(|h| h.label.clone()));
    };
    match &fig.chart {
        Chart::Line(c) => {
            t.push(c.x.title());
            panel(&c.panel, &mut t);
        }
        Chart::TwoPanel(c) | Chart::Timeline(c) => {
            t.push(c.x.title());
            panel(&c.top, &mut t);
            panel(&c.bottom, &mut t);
        }
        Chart::Scatter(c) => {
            t.extend([c.x.title(), c.y.title()]);
            t.extend(c.points.iter().map(|p| p.label.clone()));
            t.extend(c.points.iter().filter_map(|p| p.group.clone()));
        }
        Chart::Cdf(c) => {
            t.extend([c.x.title(), "cumulative fraction".to_string()]);
            t.extend(c.curves.iter().map(|c| c.name.clone()));
            t.extend(c.ref_lines.iter().map(|r| r.label.clone()));
        }
        Chart::Bar(c) => {
            t.extend([c.x_label.clone(), c.y.title()]);
            t.extend(c.categories.iter().cloned());
            t.extend(c.series.iter().map(|s| s.name.clone()));
        }
    }
    t
}

#[test]
fn each_kind_renders_svg_and_png_with_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    // FIGURES_KEEP=<dir> keeps the images for a look.
    let keep = std::env::var_os("FIGURES_KEEP");
    let out = keep.as_deref().map(Path::new).unwrap_or(dir.path());
    for fig in samples::all() {
        let paths = fig.render(out, &fig.id).unwrap();
        assert_eq!(paths, vec![out.join(format!("{}.svg", fig.id)), out.join(format!("{}.png", fig.id))]);

        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.starts_with("<svg width=\"1200\" height=\"750\""), "{}", &svg[..80]);
        let texts = svg_texts(&svg);
        for want in expected_texts(&fig) {
            assert!(texts.contains(&want), "{}: SVG lacks text {want:?}; has {texts:?}", fig.id);
        }

        let png = std::fs::read(&paths[1]).unwrap();
        assert_eq!(png_size(&png), (style::WIDTH, style::HEIGHT));
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (1200, 750));
        // The title is drawn: dark text pixels in the band above the plot.
        let title_ink = (10..50).flat_map(|y| (0..1200).map(move |x| (x, y))).filter(|&(x, y)| {
            let p = decoded.get_pixel(x, y).0;
            p.iter().all(|&c| c < 0x60)
        });
        assert!(title_ink.count() > 500, "{}: title not drawn", fig.id);
        // Not blank: the palette's blue or orange is somewhere.
        assert!(decoded.pixels().any(|p| p.0 == [0x00, 0x72, 0xB2] || p.0 == [0xE6, 0x9F, 0x00]), "{}", fig.id);
    }
    if keep.is_none() {
        let mut names: Vec<String> =
            std::fs::read_dir(out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names.len(), 12, "no temporary files left: {names:?}");
    }
}

#[test]
fn output_is_byte_identical_across_renders() {
    for fig in samples::all() {
        assert_eq!(fig.to_svg().unwrap(), fig.to_svg().unwrap(), "{} SVG", fig.id);
        assert!(fig.to_png().unwrap() == fig.to_png().unwrap(), "{} PNG", fig.id);
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fig = samples::line();
    let pa = fig.render(a.path(), "f").unwrap();
    let pb = fig.render(b.path(), "f").unwrap();
    for (x, y) in pa.iter().zip(&pb) {
        assert!(std::fs::read(x).unwrap() == std::fs::read(y).unwrap(), "{}", x.display());
    }
}

#[test]
fn rendering_again_replaces_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut fig = samples::bar();
    fig.render(dir.path(), "bar").unwrap();
    fig.title = "Another title".into();
    let paths = fig.render(dir.path(), "bar").unwrap();
    assert!(svg_texts(&std::fs::read_to_string(&paths[0]).unwrap()).contains(&"Another title".to_string()));
}

fn line_with(points: Vec<[f64; 2]>, y: Axis) -> Figure {
    let mut fig = samples::line();
    let Chart::Line(c) = &mut fig.chart else { unreachable!() };
    c.panel.y = y;
    c.panel.ref_lines.clear();
    c.panel.highlights.clear();
    c.panel.series[1].points = points;
    fig
}

#[test]
fn nan_and_infinity_are_errors_naming_series_and_point_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fig = line_with(vec![[0.1, 1.0], [0.2, f64::NAN]], Axis::new("latency", "ms"));
    let err = fig.render(dir.path(), "bad").unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite { series, index: 1, axis: "y", .. } if series == "M/M/1 analytic"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("latency-vs-load") && msg.contains("M/M/1 analytic") && msg.contains("point 1"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "bad data writes nothing");

    let fig = line_with(vec![[f64::INFINITY, 1.0]], Axis::new("latency", "ms"));
    assert!(matches!(fig.validate(), Err(Error::NonFinite { axis: "x", index: 0, .. })));

    let mut cdf = samples::cdf();
    let Chart::Cdf(c) = &mut cdf.chart else { unreachable!() };
    c.curves[0].data = CdfData::Samples(vec![1.0, f64::NEG_INFINITY]);
    assert!(matches!(cdf.to_png(), Err(Error::NonFinite { series, index: 1, .. }) if series == "dynamic"));

    let mut bar = samples::bar();
    let Chart::Bar(c) = &mut bar.chart else { unreachable!() };
    c.series[2].values[3] = f64::NAN;
    assert!(matches!(bar.to_svg(), Err(Error::NonFinite { series, index: 3, .. }) if series == "GPU + cache"));
}

#[test]
fn empty_series_and_empty_charts_are_errors() {
    let fig = line_with(vec![], Axis::new("latency", "ms"));
    let err = fig.validate().unwrap_err();
    assert!(matches!(&err, Error::EmptySeries { series, .. } if series == "M/M/1 analytic"), "{err:?}");
    assert!(err.to_string().contains("has no points"));

    let mut fig = samples::two_panel();
    let Chart::TwoPanel(c) = &mut fig.chart else { unreachable!() };
    c.bottom.series.clear();
    let err = fig.validate().unwrap_err();
    assert!(matches!(err, Error::InvalidData { .. }) && err.to_string().contains("throughput"), "{err}");

    let mut cdf = samples::cdf();
    let Chart::Cdf(c) = &mut cdf.chart else { unreachable!() };
    c.curves[2].data = CdfData::Quantiles(vec![]);
    assert!(matches!(cdf.validate(), Err(Error::EmptySeries { series, .. }) if series == "M/D/1 analytic"));

    let mut scatter = samples::scatter();
    let Chart::Scatter(c) = &mut scatter.chart else { unreachable!() };
    c.points.clear();
    assert!(matches!(scatter.validate(), Err(Error::InvalidData { .. })));
}

#[test]
fn single_point_and_constant_series_render_with_a_marker() {
    let mut fig = line_with(vec![[0.5, 20.0]], Axis::new("latency", "ms"));
    let Chart::Line(c) = &mut fig.chart else { unreachable!() };
    c.panel.series = vec![Series::new("only", [(3.0, 7.0)])];
    let svg = fig.to_svg().unwrap();
    assert!(svg.contains("<circle"), "a one-point series is drawn as a marker");
    fig.to_png().unwrap();

    let Chart::Line(c) = &mut fig.chart else { unreachable!() };
    c.panel.series = vec![Series::new("flat", [(1.0, 0.0), (2.0, 0.0)])];
    fig.to_png().unwrap();
}

#[test]
fn log_axis_with_non_positive_values_is_a_clear_error() {
    let fig = line_with(vec![[0.1, 5.0], [0.2, 0.0]], Axis::new("latency", "ms").log());
    let err = fig.validate().unwrap_err();
    assert!(matches!(&err, Error::NonPositiveOnLogAxis { index: 1, axis: "y", .. }), "{err:?}");
    assert!(err.to_string().contains("logarithmic y axis"), "{err}");

    let mut fig = samples::line();
    let Chart::Line(c) = &mut fig.chart else { unreachable!() };
    c.panel.ref_lines.push(RefLine::horizontal(-1.0, "below zero"));
    let err = fig.validate().unwrap_err();
    assert!(matches!(&err, Error::NonPositiveOnLogAxis { series, .. } if series.contains("below zero")), "{err:?}");

    let mut cdf = samples::cdf();
    let Chart::Cdf(c) = &mut cdf.chart else { unreachable!() };
    c.curves[1].data = CdfData::Samples(vec![3.0, -2.0]);
    assert!(matches!(cdf.validate(), Err(Error::NonPositiveOnLogAxis { axis: "x", .. })));
}

#[test]
fn malformed_data_is_invalid() {
    let mut bar = samples::bar();
    let Chart::Bar(c) = &mut bar.chart else { unreachable!() };
    c.series[1].values.pop();
    let err = bar.validate().unwrap_err();
    assert!(err.to_string().contains("'GPU' has 3 values for 4 categories"), "{err}");

    let mut bar = samples::bar();
    let Chart::Bar(c) = &mut bar.chart else { unreachable!() };
    c.y = c.y.clone().log();
    assert!(matches!(bar.validate(), Err(Error::InvalidData { .. })));

    let mut cdf = samples::cdf();
    let Chart::Cdf(c) = &mut cdf.chart else { unreachable!() };
    c.curves[2].data = CdfData::Quantiles(vec![[1.5, 3.0]]);
    assert!(cdf.validate().unwrap_err().to_string().contains("outside [0, 1]"));

    let mut scatter = samples::scatter();
    let Chart::Scatter(c) = &mut scatter.chart else { unreachable!() };
    c.points[0].size = Some(-1.0);
    assert!(matches!(scatter.validate(), Err(Error::InvalidData { .. })));

    let dir = tempfile::tempdir().unwrap();
    for stem in ["", "a/b", ".."] {
        assert!(matches!(samples::bar().render(dir.path(), stem), Err(Error::InvalidStem { .. })), "{stem:?}");
    }
}

#[test]
fn footer_names_the_runs_and_shortens_long_lists() {
    let mut fig = samples::timeline();
    assert_eq!(fig.footer(), "servesim · figure burst-timeline · run: run-3f2a9c1b7d4e5a60");
    fig.run_ids = (0..40).map(|i| format!("run-{i:016x}")).collect();
    let footer = fig.footer();
    assert!(footer.ends_with(" more") && footer.chars().count() <= 130, "{footer}");
    fig.run_ids.clear();
    assert!(fig.footer().ends_with("runs: none given"));
}

#[test]
fn json_round_trips_and_rejects_unknown_fields() {
    for fig in samples::all() {
        let json = fig.to_json().unwrap();
        assert_eq!(Figure::from_json(&json).unwrap(), fig, "{}", fig.id);
    }
    let json = samples::bar().to_json().unwrap();
    assert!(json.contains("\"kind\": \"bar\""));
    let bad = json.replacen("\"x_label\"", "\"typo\": 1, \"x_label\"", 1);
    assert!(Figure::from_json(&bad).is_err());
}

/// The data behind a figure is kept as a golden file; `UPDATE_GOLDEN=1` rewrites it.
#[test]
fn golden_json_of_the_line_sample() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/latency-vs-load.json");
    let json = samples::line().to_json().unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &json).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(json, golden);
    Figure::from_json(&golden).unwrap().to_png().unwrap();
}

#[test]
fn svg_text_is_escaped() {
    let mut fig = samples::two_panel();
    fig.title = "p99 < SLO & throughput > 1k".into();
    let svg = fig.to_svg().unwrap();
    assert!(svg.contains("p99 &lt; SLO &amp; throughput &gt; 1k"));
    assert!(svg_texts(&svg).contains(&fig.title));
}
