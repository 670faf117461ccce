//! Rendering each chart kind: files, contents, determinism and bad data.

mod samples;

use std::path::Path;

#[test]
fn each_kind_renders_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("FIGURES_KEEP");
    let out = keep.as_deref().map(Path::new).unwrap_or(dir.path());
    for fig in samples::all() {
        let paths = fig.render(out, &fig.id).unwrap();
        assert_eq!(paths, vec![out.join(format!("{}.svg", fig.id)), out.join(format!("{}.png", fig.id))]);
    }
}
