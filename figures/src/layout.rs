//! Where a figure's text lands: every string drawn, with the box its glyphs' ink covers, measured
//! by the same glyph placement the PNG uses. Tests use it to check that no text leaves the canvas
//! or overlaps other text.

use plotters::prelude::{DrawingBackend, IntoDrawingArea};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Result;
use crate::spec::Figure;
use crate::{draw, glyphs, prepare, style};

/// One string drawn on a figure and the pixels its ink covers: `x0..=x1`, `y0..=y1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextBox {
    /// The string.
    pub text: String,
    /// Leftmost inked column.
    pub x0: i32,
    /// Topmost inked row.
    pub y0: i32,
    /// Rightmost inked column.
    pub x1: i32,
    /// Bottom inked row.
    pub y1: i32,
}

impl TextBox {
    /// Whether the two boxes come closer than `gap` pixels (0: share a pixel).
    pub fn within(&self, other: &TextBox, gap: i32) -> bool {
        self.x0 <= other.x1 + gap && other.x0 <= self.x1 + gap && self.y0 <= other.y1 + gap && other.y0 <= self.y1 + gap
    }

    /// Whether the box lies wholly inside a `width`×`height` canvas.
    pub fn inside(&self, width: u32, height: u32) -> bool {
        self.x0 >= 0 && self.y0 >= 0 && self.x1 < width as i32 && self.y1 < height as i32
    }
}

/// A backend that draws nothing and records the ink box of every text.
struct Recorder {
    boxes: Rc<RefCell<Vec<TextBox>>>,
}

#[derive(Debug)]
struct NoError;

impl std::fmt::Display for NoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no error")
    }
}

impl std::error::Error for NoError {}

impl DrawingBackend for Recorder {
    type ErrorType = NoError;

    fn get_size(&self) -> (u32, u32) {
        (style::WIDTH, style::HEIGHT)
    }

    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<NoError>> {
        Ok(())
    }

    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<NoError>> {
        Ok(())
    }

    fn draw_pixel(&mut self, _: BackendCoord, _: BackendColor) -> std::result::Result<(), DrawingErrorKind<NoError>> {
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        _: BackendCoord,
        _: BackendCoord,
        _: &S,
    ) -> std::result::Result<(), DrawingErrorKind<NoError>> {
        Ok(())
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<NoError>> {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let mut b = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        glyphs::place(text, style, pos, |x, y, coverage| {
            if coverage > 0.05 {
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        })
        .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        if b.0 <= b.2 {
            self.boxes.borrow_mut().push(TextBox { text: text.to_string(), x0: b.0, y0: b.1, x1: b.2, y1: b.3 });
        }
        Ok(())
    }
}

impl Figure {
    /// Every string the figure draws with the box its ink covers on the `WIDTH`×`HEIGHT` canvas
    /// (text with no ink, such as an empty label, is left out).
    pub fn text_boxes(&self) -> Result<Vec<TextBox>> {
        let prepared = prepare::prepare(self)?;
        style::ensure_font()?;
        let boxes = Rc::new(RefCell::new(Vec::new()));
        let root = Recorder { boxes: Rc::clone(&boxes) }.into_drawing_area();
        draw::figure(&root, &self.title, &self.footer(), &prepared).map_err(|e| crate::Error::Draw {
            figure: self.id.clone(),
            format: "layout",
            message: e.to_string(),
        })?;
        drop(root);
        Ok(boxes.take())
    }
}
