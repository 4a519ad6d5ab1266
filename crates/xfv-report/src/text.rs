//! Bitmap text for the panel: the public-domain 8x8 font of the `font8x8` crate, printable ASCII
//! only. Any other character (accents, CJK, emoji in a file name) is drawn as `?`, so no name can
//! make rendering fail or panic.

use font8x8::{BASIC_FONTS, UnicodeFonts};
use image::{Rgb, RgbImage};

/// Width and height of one glyph cell at scale 1, in pixels.
pub(crate) const CELL_PX: u32 = 8;

/// The character actually drawn for `c`.
fn printable(c: char) -> char {
    if (' '..='~').contains(&c) { c } else { '?' }
}

/// Width of `text` drawn at `scale`, in pixels.
pub(crate) fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * CELL_PX * scale
}

/// `text` with unprintable characters replaced, shortened in the middle with `...` so that it
/// fits in `max_px` at `scale` (the start and the end of a file name both say something).
pub(crate) fn fit(text: &str, max_px: u32, scale: u32) -> String {
    let chars: Vec<char> = text.chars().map(printable).collect();
    let max = (max_px / (CELL_PX * scale.max(1))) as usize;
    if chars.len() <= max {
        return chars.into_iter().collect();
    }
    if max <= 3 {
        return chars.into_iter().take(max).collect();
    }
    let keep = max - 3;
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push_str("...");
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Draws `text` with its top-left corner at `(x, y)`, each font pixel a `scale` x `scale` block,
/// clipped to the image. Returns the x just after the last glyph.
pub(crate) fn draw_text(
    img: &mut RgbImage,
    x: u32,
    y: u32,
    text: &str,
    scale: u32,
    colour: [u8; 3],
) -> u32 {
    let scale = scale.max(1);
    let mut pen = x;
    for c in text.chars().map(printable) {
        let glyph = BASIC_FONTS.get(c).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                // font8x8: bit 0 is the leftmost pixel of the row
                if bits & (1 << col) == 0 {
                    continue;
                }
                let (px, py) = (pen + col * scale, y + row as u32 * scale);
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (qx, qy) = (px + dx, py + dy);
                        if qx < img.width() && qy < img.height() {
                            img.put_pixel(qx, qy, Rgb(colour));
                        }
                    }
                }
            }
        }
        pen += CELL_PX * scale;
    }
    pen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_drawn_as_question_marks_without_panicking() {
        let mut img = RgbImage::new(200, 20);
        let end = draw_text(&mut img, 0, 0, "Zoë_李.jpg", 2, [255, 255, 255]);
        assert_eq!(end, text_width("Zoe_X.jpg", 2));
        let mut q = RgbImage::new(200, 20);
        draw_text(&mut q, 0, 0, "Zo?_?.jpg", 2, [255, 255, 255]);
        assert_eq!(img, q);
        // clipping at the edge
        draw_text(&mut img, 195, 15, "WWW", 3, [1, 2, 3]);
    }

    #[test]
    fn fit_shortens_in_the_middle() {
        assert_eq!(fit("short.jpg", 800, 1), "short.jpg");
        let f = fit("a_very_long_file_name_indeed.jpg", 8 * 12, 1);
        assert_eq!(f.chars().count(), 12);
        assert!(
            f.starts_with("a_ve") && f.ends_with(".jpg") && f.contains("..."),
            "{f}"
        );
        assert_eq!(fit("ü", 80, 1), "?");
    }
}
