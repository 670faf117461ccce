//! A bitmap backend wrapper that rasterizes text with correct glyph positions.
//!
//! plotters 0.3.7 draws `ab_glyph` text by placing each glyph's *ink box* at the running advance,
//! which drops the glyph's left side bearing and rounds the advance per glyph: letters such as
//! `i`, `l` and `t` sit too far left and spacing looks uneven at slide sizes. This wrapper keeps
//! plotters' layout (the same layout box, anchors and rotation, so text lands where plotters
//! planned it) and only replaces how the glyphs are rasterized: each glyph is positioned at its
//! exact fractional advance and drawn at its own pixel bounds, side bearing included.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle};

/// Wraps a backend; everything but text is passed through unchanged.
pub(crate) struct GlyphBackend<B>(pub B);

fn fonts() -> Option<&'static (FontRef<'static>, FontRef<'static>)> {
    static FONTS: OnceLock<Option<(FontRef<'static>, FontRef<'static>)>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let regular = FontRef::try_from_slice(dejavu::sans::regular()).ok()?;
            let bold = FontRef::try_from_slice(dejavu::sans::bold()).ok()?;
            Some((regular, bold))
        })
        .as_ref()
}

impl<B: DrawingBackend> DrawingBackend for GlyphBackend<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, (iw, ih), src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (w, h) = self.get_size();
        let mut pixels = Vec::new();
        let placed = place(text, style, pos, |x, y, coverage| pixels.push((x, y, coverage)))
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        if !placed {
            return self.0.draw_text(text, style, pos);
        }
        for (px, py, coverage) in pixels {
            if px >= 0 && px < w as i32 && py >= 0 && py < h as i32 {
                let pixel = BackendColor { alpha: color.alpha * f64::from(coverage.min(1.0)), rgb: color.rgb };
                self.0.draw_pixel((px, py), pixel)?;
            }
        }
        Ok(())
    }
}

/// Where the glyphs of `text` land: calls `ink(x, y, coverage)` for every pixel of every glyph,
/// in backend coordinates (not clipped to the canvas). Returns `false`, calling nothing, when the
/// embedded font is unavailable.
pub(crate) fn place<S: BackendTextStyle>(
    text: &str,
    style: &S,
    pos: BackendCoord,
    mut ink: impl FnMut(i32, i32, f32),
) -> Result<bool, S::FontError> {
    let Some((regular, bold)) = fonts() else {
        return Ok(false);
    };
    // The same box and anchoring as plotters' default text drawing.
    let ((min_x, min_y), (max_x, max_y)) = style.layout_box(text)?;
    let (width, height) = (max_x - min_x, max_y - min_y);
    let dx = match style.anchor().h_pos {
        HPos::Left => 0,
        HPos::Right => -width,
        HPos::Center => -width / 2,
    };
    let dy = match style.anchor().v_pos {
        VPos::Top => 0,
        VPos::Center => -height / 2,
        VPos::Bottom => -height,
    };
    let trans = style.transform();
    let font = match style.style() {
        FontStyle::Bold => bold,
        _ => regular,
    };
    let size = style.size() as f32;
    let scaled = font.as_scaled(size);
    // plotters puts the baseline at half the font size below the top of the layout box.
    let baseline = size / 2.0;
    let mut caret = 0.0_f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(size, point(caret, baseline));
        caret += scaled.h_advance(id);
        let Some(outline) = scaled.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        let mut pixels = Vec::new();
        outline.draw(|x, y, coverage| pixels.push((x, y, coverage)));
        for (x, y, coverage) in pixels {
            if coverage <= 0.0 {
                continue;
            }
            let gx = bounds.min.x as i32 + x as i32;
            let gy = bounds.min.y as i32 + y as i32;
            let (tx, ty) = trans.transform(gx + dx - min_x, gy + dy - min_y);
            ink(pos.0 + tx, pos.1 + ty, coverage);
        }
    }
    Ok(true)
}
