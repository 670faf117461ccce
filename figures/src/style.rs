//! The house style: one palette, one font, fixed sizes. Every chart kind draws through these
//! constants so the chapter's figures look alike. Colours and text styles are plotters types and
//! stay inside the crate; the sizes are public so callers (e.g. slide templates) can match them.

use std::sync::OnceLock;

use plotters::style::text_anchor::Pos;
use plotters::style::{Color, FontDesc, FontFamily, FontStyle, RGBColor, TextStyle};

use crate::error::{Error, Result};

/// Image width in pixels (PNG) and user units (SVG).
pub const WIDTH: u32 = 1200;
/// Image height in pixels (PNG) and user units (SVG).
pub const HEIGHT: u32 = 750;

/// The palette as hex strings, in the order series get it (for callers that draw elsewhere).
pub const PALETTE_HEX: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];

/// The Okabe–Ito colour-blind-safe palette, in the order series get it. Yellow is last: it is the
/// weakest on white.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];

/// Colour of the i-th series (the palette repeats after eight; markers tell repeats apart).
pub(crate) fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Text, axes and the highlight ring.
pub(crate) const INK: RGBColor = RGBColor(0x20, 0x20, 0x20);
/// Reference lines and the footer.
pub(crate) const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// Grid lines.
pub(crate) const GRID: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);

/// Title size in pixels.
pub const TITLE_PX: f64 = 34.0;
/// Axis titles.
pub const AXIS_TITLE_PX: f64 = 25.0;
/// Tick labels, legend entries and annotations.
pub const LABEL_PX: f64 = 21.0;
/// Footer.
pub const FOOTER_PX: f64 = 17.0;

/// Data line width in pixels.
pub const LINE_WIDTH: u32 = 3;
/// Marker radius in pixels.
pub const MARKER_PX: i32 = 6;

/// Attribution for the embedded DejaVu Sans, to ship with binaries that contain it. The full
/// licence text is `assets/dejavu-fonts-ttf-2.37/LICENSE` in the `dejavu` crate.
pub const FONT_NOTICE: &str = "DejaVu Sans 2.37: fonts are (c) Bitstream (Bitstream Vera Fonts Copyright (c) 2003 by \
Bitstream, Inc. All Rights Reserved. Bitstream Vera is a trademark of Bitstream, Inc.); DejaVu changes are in the \
public domain; glyphs imported from Arev fonts are (c) 2006 Tavmjong Bah. Licensed under the Bitstream Vera and Arev \
font licences.";

/// The family name the embedded font is registered under. It is also what the SVG files name as
/// `font-family`, with a generic fallback for viewers that lack DejaVu Sans.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

/// Registers DejaVu Sans (regular and bold) with plotters once per process.
pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT_FAMILY, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok { Ok(()) } else { Err(Error::Font) }
}

/// The font at a size, regular.
pub(crate) fn font(px: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FONT_FAMILY), px, FontStyle::Normal)
}

/// Regular text in a colour.
pub(crate) fn text(px: f64, color: RGBColor) -> TextStyle<'static> {
    TextStyle { font: font(px), color: color.to_backend_color(), pos: Pos::default() }
}

/// The title style.
pub(crate) fn title() -> TextStyle<'static> {
    let font = FontDesc::new(FontFamily::Name(FONT_FAMILY), TITLE_PX, FontStyle::Bold);
    TextStyle { font, color: INK.to_backend_color(), pos: Pos::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_palette_matches() {
        for (c, hex) in PALETTE.iter().zip(PALETTE_HEX) {
            assert_eq!(format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2), hex);
        }
    }
}
