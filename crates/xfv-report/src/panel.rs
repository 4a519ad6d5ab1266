//! The pair panel: one PNG a person reads at a glance (see [`render_panel`]).

use image::{Rgb, RgbImage};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use xfv_core::{Comparison, Decision, Verdict};

use crate::display::{DisplayOptions, resize_bilinear};
use crate::text::{CELL_PX, draw_text, fit, text_width};
use crate::{Error, Result};

/// One face of the pair with its two maps.
#[derive(Debug, Clone, Copy)]
pub struct PanelFace<'a> {
    /// The aligned crop as RGB bytes `[H, W, 3]` (row-major, RGB order) - the layout of one row
    /// of `xfv_core::AlignedBatch::rgb8` (`batch.rgb8.index_axis(Axis(0), i)`); use
    /// [`crop_view`] for an `image::RgbImage`.
    pub crop: ArrayView3<'a, u8>,
    /// What to call the face on the panel, normally its file name.
    pub name: &'a str,
    /// Raw similarity map `[H, W]`, non-negative (spec step 6, `S+`).
    pub similarity: ArrayView2<'a, f32>,
    /// Raw dissimilarity map `[H, W]`, non-negative (spec step 6, `S-` as a magnitude).
    pub dissimilarity: ArrayView2<'a, f32>,
}

/// Everything a panel shows. Both crops must have one size and every map must have it too.
#[derive(Debug, Clone, Copy)]
pub struct PanelInput<'a> {
    /// The first image of the pair (top row).
    pub a: PanelFace<'a>,
    /// The second image of the pair (bottom row).
    pub b: PanelFace<'a>,
    /// The model's name, as the user chose it (e.g. `"sface"`).
    pub model: &'a str,
    /// The explanation method's display name (e.g. `"FGGB"`). Only a label: the report never
    /// depends on which method made the maps.
    pub method: &'a str,
    /// Score, threshold, comparison and decision.
    pub verdict: Verdict,
}

/// A borrowed `[H, W, 3]` view of an `image::RgbImage` (no copy).
pub fn crop_view(image: &RgbImage) -> Result<ArrayView3<'_, u8>> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let need = h * w * 3;
    let raw = image.as_raw();
    let bytes = raw.get(..need).ok_or_else(|| Error::ShapeMismatch {
        what: "RgbImage buffer".into(),
        expected: vec![need],
        got: vec![raw.len()],
    })?;
    ArrayView3::from_shape((h, w, 3), bytes).map_err(|_| Error::ShapeMismatch {
        what: "RgbImage buffer".into(),
        expected: vec![h, w, 3],
        got: vec![bytes.len()],
    })
}

/// Outer margin, pixels.
const MARGIN: u32 = 12;
/// Space between tiles, pixels.
const GAP: u32 = 8;
/// Scale of the 8x8 font for all text but the legend notes: 16 px characters.
const TEXT_SCALE: u32 = 2;
/// Scale of the legend notes: 8 px characters.
const NOTE_SCALE: u32 = 1;
/// Height of a 16 px text line.
const LINE: u32 = CELL_PX * TEXT_SCALE;
/// Height of the colour bar.
const BAR: u32 = 16;

const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [25, 25, 25];
const MUTED: [u8; 3] = [90, 90, 90];
/// Colour of the word "Accept" in the header.
pub const ACCEPT_RGB: [u8; 3] = [0, 140, 60];
/// Colour of the word "Reject" in the header.
pub const REJECT_RGB: [u8; 3] = [205, 30, 30];

/// Where everything sits on a panel, in pixels from the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelLayout {
    /// Panel width: `40 + 3*tile_width` (margins 12, gaps 8).
    pub width: u32,
    /// Panel height: `200 + 2*tile_height`.
    pub height: u32,
    /// Width of one tile: crop width times `upscale`.
    pub tile_width: u32,
    /// Height of one tile: crop height times `upscale`.
    pub tile_height: u32,
    /// Left edge of the face, similarity and dissimilarity columns.
    pub column_x: [u32; 3],
    /// Top of the two header lines (model/method, then score/decision).
    pub header_y: [u32; 2],
    /// Top of the column titles.
    pub titles_y: u32,
    /// Top of the label line above row A and row B.
    pub label_y: [u32; 2],
    /// Top of the tiles of row A and row B.
    pub row_y: [u32; 2],
    /// Top of the colour bar (which spans the two map columns).
    pub legend_y: u32,
}

impl PanelLayout {
    /// The layout for crops of `height x width` pixels upscaled by `upscale`.
    pub fn new(height: usize, width: usize, upscale: u32) -> Self {
        let s = upscale.max(1);
        let tile_width = width as u32 * s;
        let tile_height = height as u32 * s;
        let column_x = [0, 1, 2].map(|i| MARGIN + i * (tile_width + GAP));
        let mut y = MARGIN;
        let header_y = [y, y + LINE + 6];
        y += 2 * LINE + 6 + 14;
        let titles_y = y;
        y += LINE + 8;
        let mut label_y = [0; 2];
        let mut row_y = [0; 2];
        for r in 0..2 {
            label_y[r] = y;
            y += LINE + 4;
            row_y[r] = y;
            y += tile_height + 12;
        }
        let legend_y = y;
        y += BAR + 4 + LINE + MARGIN;
        PanelLayout {
            width: 2 * MARGIN + 3 * tile_width + 2 * GAP,
            height: y,
            tile_width,
            tile_height,
            column_x,
            header_y,
            titles_y,
            label_y,
            row_y,
            legend_y,
        }
    }
}

/// Checks that both crops are `[H, W, 3]` of one size and every map is `[H, W]`; returns
/// `(H, W)`.
fn check_shapes(input: &PanelInput<'_>) -> Result<(usize, usize)> {
    let (h, w, c) = input.a.crop.dim();
    if c != 3 {
        return Err(Error::ShapeMismatch {
            what: "crop of A (RGB8 [H, W, 3])".into(),
            expected: vec![h, w, 3],
            got: vec![h, w, c],
        });
    }
    if input.b.crop.dim() != (h, w, 3) {
        return Err(Error::ShapeMismatch {
            what: "crop of B (must match crop of A)".into(),
            expected: vec![h, w, 3],
            got: input.b.crop.shape().to_vec(),
        });
    }
    for (what, map) in [
        ("similarity map of A", input.a.similarity),
        ("dissimilarity map of A", input.a.dissimilarity),
        ("similarity map of B", input.b.similarity),
        ("dissimilarity map of B", input.b.dissimilarity),
    ] {
        if map.dim() != (h, w) {
            return Err(Error::ShapeMismatch {
                what: what.into(),
                expected: vec![h, w],
                got: map.shape().to_vec(),
            });
        }
    }
    if h == 0 || w == 0 {
        return Err(Error::ShapeMismatch {
            what: "crop of A (must not be empty)".into(),
            expected: vec![1, 1, 3],
            got: vec![h, w, c],
        });
    }
    Ok((h, w))
}

/// The header's score line without the decision word, e.g. `"cosine 0.748 >= 0.363 -> "`.
/// The relation is the one the numbers actually satisfy.
fn score_line(v: &Verdict) -> String {
    let op = match v.comparison {
        Comparison::Cosine if v.score >= v.threshold => ">=",
        Comparison::Cosine => "<",
        Comparison::Euclidean if v.score <= v.threshold => "<=",
        Comparison::Euclidean => ">",
    };
    format!(
        "{} {:.3} {op} {:.3} -> ",
        v.comparison, v.score, v.threshold
    )
}

/// Renders the pair panel: one PNG a person reads at a glance.
///
/// ```text
///  +---------------------------------------------------------------+
///  | model: sface   method: FGGB                                   |  header, 16 px text
///  | cosine 0.748 >= 0.363 -> Accept        (Accept green / Reject red)
///  |        face          similarity         dissimilarity        |  column titles
///  | A  obama.jpg                                                  |  row label
///  | [crop A]      [sim A over crop]   [dissim A over crop]        |  tiles, upscaled
///  | B  obama2.jpg                                                 |
///  | [crop B]      [sim B over crop]   [dissim B over crop]        |
///  | min-max per map  [=========== colour bar (inferno) =========]  |  legend: 8 px notes
///  | blur 25 px, sigma 5  low                                high  |  beside the bar
///  | inferno, alpha 0.5                                            |
///  +---------------------------------------------------------------+
/// ```
///
/// Every size follows from the crop size `H x W` and `upscale` `s` (see [`PanelLayout`]): tiles
/// are `sW x sH`; the panel is `40 + 3 sW` wide and `200 + 2 sH` high. For 112x112 crops at the
/// default `s = 2` that is **712 x 648** pixels; for 150x150 crops, 940 x 800.
///
/// Maps are blurred and normalised for display by [`DisplayOptions::display_maps`] (all four at
/// once, so [`Normalise::SharedPerPair`](crate::Normalise::SharedPerPair) sees the whole pair),
/// upscaled bilinearly with the crops, coloured and blended over the face. The header prints the
/// relation the numbers satisfy (`>=`/`<` for cosine, `<=`/`>` for euclidean) and the verdict's
/// decision word in [`ACCEPT_RGB`] or [`REJECT_RGB`].
///
/// Errors: [`Error::ShapeMismatch`] when a map or the second crop differs in size from the first
/// crop (or a crop is not `[H, W, 3]`); [`Error::InvalidOption`] for out-of-range options.
pub fn render_panel(input: &PanelInput<'_>, options: &DisplayOptions) -> Result<RgbImage> {
    options.validate()?;
    let (h, w) = check_shapes(input)?;
    let layout = PanelLayout::new(h, w, options.upscale);
    let mut img = RgbImage::from_pixel(layout.width, layout.height, Rgb(BACKGROUND));
    let text_px = layout.width - 2 * MARGIN;

    // header
    let line1 = format!("model: {}   method: {}", input.model, input.method);
    draw_text(
        &mut img,
        MARGIN,
        layout.header_y[0],
        &fit(&line1, text_px, TEXT_SCALE),
        TEXT_SCALE,
        INK,
    );
    let (word, colour) = match input.verdict.decision {
        Decision::Accept => ("Accept", ACCEPT_RGB),
        Decision::Reject => ("Reject", REJECT_RGB),
    };
    let score = fit(
        &score_line(&input.verdict),
        text_px.saturating_sub(text_width(word, TEXT_SCALE)),
        TEXT_SCALE,
    );
    let pen = draw_text(
        &mut img,
        MARGIN,
        layout.header_y[1],
        &score,
        TEXT_SCALE,
        INK,
    );
    // the decision word twice, one pixel apart: a bold face for the one word that matters
    draw_text(&mut img, pen, layout.header_y[1], word, TEXT_SCALE, colour);
    draw_text(
        &mut img,
        pen + 1,
        layout.header_y[1],
        word,
        TEXT_SCALE,
        colour,
    );

    // column titles, centred over their tiles
    for (i, title) in ["face", "similarity", "dissimilarity"].iter().enumerate() {
        let t = fit(title, layout.tile_width, TEXT_SCALE);
        let tw = text_width(&t, TEXT_SCALE);
        let x = layout.column_x[i] + layout.tile_width.saturating_sub(tw) / 2;
        draw_text(&mut img, x, layout.titles_y, &t, TEXT_SCALE, INK);
    }

    // maps for display: blur + normalise, all four at once so that SharedPerPair sees them all
    let shown = options.display_maps(&[
        input.a.similarity,
        input.a.dissimilarity,
        input.b.similarity,
        input.b.dissimilarity,
    ])?;
    let (th, tw) = (layout.tile_height as usize, layout.tile_width as usize);
    for (r, (face, label)) in [(&input.a, "A"), (&input.b, "B")].into_iter().enumerate() {
        let pen = draw_text(&mut img, MARGIN, layout.label_y[r], label, TEXT_SCALE, INK);
        let name = fit(face.name, text_px.saturating_sub(pen), TEXT_SCALE);
        draw_text(
            &mut img,
            pen + CELL_PX * TEXT_SCALE,
            layout.label_y[r],
            &name,
            TEXT_SCALE,
            MUTED,
        );
        let crop = upscale_crop(face.crop, th, tw);
        let y0 = layout.row_y[r];
        for (c, map) in [None, Some(&shown[2 * r]), Some(&shown[2 * r + 1])]
            .into_iter()
            .enumerate()
        {
            let up = map.map(|m| resize_bilinear(m.view(), th, tw));
            let x0 = layout.column_x[c];
            for y in 0..th {
                for x in 0..tw {
                    let face_px: [f32; 3] = std::array::from_fn(|k| f32::from(crop[[y, x, k]]));
                    let px = match &up {
                        None => face_px,
                        Some(m) => {
                            let col = options.colour_map.rgb_f32(m[[y, x]]);
                            let a = options.alpha;
                            std::array::from_fn(|k| (1.0 - a) * face_px[k] + a * col[k])
                        }
                    };
                    img.put_pixel(
                        x0 + x as u32,
                        y0 + y as u32,
                        Rgb(px.map(crate::colour::to_u8)),
                    );
                }
            }
        }
    }

    draw_legend(&mut img, &layout, options);
    Ok(img)
}

/// Colour bar under the two map columns with "low" and "high" at its ends, and a note on how
/// the maps were scaled in the face column beside it.
fn draw_legend(img: &mut RgbImage, layout: &PanelLayout, options: &DisplayOptions) {
    let x0 = layout.column_x[1];
    let x1 = layout.column_x[2] + layout.tile_width;
    let y0 = layout.legend_y;
    let span = (x1 - x0).max(2) - 1;
    for x in x0..x1 {
        let col = options.colour_map.rgb((x - x0) as f32 / span as f32);
        for y in y0..y0 + BAR {
            img.put_pixel(x, y, Rgb(col));
        }
    }
    let ty = y0 + BAR + 4;
    draw_text(img, x0, ty, "low", TEXT_SCALE, INK);
    let high_w = text_width("high", TEXT_SCALE);
    draw_text(img, x1.saturating_sub(high_w), ty, "high", TEXT_SCALE, INK);

    let note_px = layout.tile_width;
    let blur = match &options.blur {
        Some(b) => format!("blur {} px, sigma {}", b.kernel_px, b.sigma_px),
        None => "no blur".to_owned(),
    };
    let notes = [
        options.normalise.describe().to_owned(),
        blur,
        format!("{}, alpha {}", options.colour_map.name(), options.alpha),
    ];
    let note_line = CELL_PX * NOTE_SCALE + 4;
    for (i, note) in notes.iter().enumerate() {
        draw_text(
            img,
            layout.column_x[0],
            y0 + i as u32 * note_line,
            &fit(note, note_px, NOTE_SCALE),
            NOTE_SCALE,
            MUTED,
        );
    }
}

/// Bilinear upscaling of an RGB crop to `height x width`, channel by channel.
fn upscale_crop(crop: ArrayView3<'_, u8>, height: usize, width: usize) -> Array3<u8> {
    let mut out = Array3::<u8>::zeros((height, width, 3));
    for k in 0..3 {
        let plane: Array2<f32> = crop.index_axis(ndarray::Axis(2), k).mapv(f32::from);
        let up = resize_bilinear(plane.view(), height, width);
        out.index_axis_mut(ndarray::Axis(2), k)
            .assign(&up.mapv(crate::colour::to_u8));
    }
    out
}
