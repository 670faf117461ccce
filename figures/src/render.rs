//! Rendering a [`Figure`] to SVG text and PNG bytes, and writing both files atomically.

use std::fs;
use std::path::{Path, PathBuf};

use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};

use crate::error::{Error, Result};
use crate::glyphs::GlyphBackend;
use crate::spec::Figure;
use crate::{draw, prepare, style};

impl Figure {
    /// Checks the data without drawing: the errors [`Figure::render`] would return for bad data.
    pub fn validate(&self) -> Result<()> {
        prepare::prepare(self).map(|_| ())
    }

    /// The footer line: figure id and the run ids, shortened to `+N more` when they do not fit.
    pub fn footer(&self) -> String {
        const MAX_CHARS: usize = 120;
        let head = format!("servesim · figure {} · ", self.id);
        if self.run_ids.is_empty() {
            return format!("{head}runs: none given");
        }
        let label = if self.run_ids.len() == 1 { "run" } else { "runs" };
        let mut shown = Vec::new();
        for (i, id) in self.run_ids.iter().enumerate() {
            let rest = self.run_ids.len() - i - 1;
            let candidate = format!("{head}{label}: {}", [&shown[..], &[id.as_str()]].concat().join(", "));
            let suffix = if rest > 0 { format!(" +{rest} more") } else { String::new() };
            if candidate.chars().count() + suffix.chars().count() > MAX_CHARS && !shown.is_empty() {
                return format!("{head}{label}: {} +{} more", shown.join(", "), self.run_ids.len() - shown.len());
            }
            shown.push(id.as_str());
        }
        format!("{head}{label}: {}", shown.join(", "))
    }

    /// The figure as SVG text, `WIDTH`×`HEIGHT` user units.
    pub fn to_svg(&self) -> Result<String> {
        let prepared = prepare::prepare(self)?;
        style::ensure_font()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (style::WIDTH, style::HEIGHT)).into_drawing_area();
            draw::figure(&root, &self.title, &self.footer(), &prepared).map_err(|e| self.draw_error("SVG", e))?;
        }
        Ok(svg)
    }

    /// The figure as PNG bytes, `WIDTH`×`HEIGHT` pixels, 8-bit RGB.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let prepared = prepare::prepare(self)?;
        style::ensure_font()?;
        let (w, h) = (style::WIDTH, style::HEIGHT);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let backend = GlyphBackend(BitMapBackend::with_buffer(&mut rgb, (w, h)));
            let root = backend.into_drawing_area();
            draw::figure(&root, &self.title, &self.footer(), &prepared).map_err(|e| self.draw_error("PNG", e))?;
        }
        let mut png = Vec::new();
        {
            use image::ImageEncoder;
            image::codecs::png::PngEncoder::new(&mut png)
                .write_image(&rgb, w, h, image::ColorType::Rgb8)
                .map_err(|e| Error::Encode { figure: self.id.clone(), message: e.to_string() })?;
        }
        Ok(png)
    }

    /// Renders `<stem>.svg` and `<stem>.png` into `out_dir` (created if missing) and returns their
    /// paths. Both images are drawn in memory first; each file is written to a temporary file in
    /// `out_dir` and renamed into place, so a reader never sees a partial file and bad data
    /// writes nothing.
    pub fn render(&self, out_dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
        if stem.is_empty() || stem.contains(['/', '\\']) || stem == "." || stem == ".." {
            return Err(Error::InvalidStem { figure: self.id.clone(), stem: stem.to_string() });
        }
        let svg = self.to_svg()?;
        let png = self.to_png()?;
        fs::create_dir_all(out_dir).map_err(|source| Error::Io { path: out_dir.to_path_buf(), source })?;
        let svg_path = out_dir.join(format!("{stem}.svg"));
        let png_path = out_dir.join(format!("{stem}.png"));
        write_atomic(&svg_path, svg.as_bytes())?;
        write_atomic(&png_path, &png)?;
        Ok(vec![svg_path, png_path])
    }

    /// The figure's data as pretty JSON, for golden files. Non-finite numbers become `null`
    /// (JSON has no NaN); such a figure does not render anyway.
    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// A figure from JSON written by [`Figure::to_json`].
    pub fn from_json(json: &str) -> Result<Figure> {
        Ok(serde_json::from_str(json)?)
    }

    fn draw_error(&self, format: &'static str, e: impl std::fmt::Display) -> Error {
        Error::Draw { figure: self.id.clone(), format, message: e.to_string() }
    }
}

/// Writes `bytes` over `path` atomically (`artifact::write_file`: temporary file, sync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    artifact::write_file(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}
