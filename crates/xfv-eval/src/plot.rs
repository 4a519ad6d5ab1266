//! Accuracy- and mean-score-vs-P line plots drawn straight onto an RGB image: axes with ticks and labels, one
//! coloured line per method, a legend with each method's area. Text is the public-domain 8x8
//! bitmap font of `font8x8` (ASCII).

use font8x8::{BASIC_FONTS, UnicodeFonts};
use image::{Rgb, RgbImage};

use crate::run::Curve;

const W: u32 = 800;
const H: u32 = 480;
const LEFT: u32 = 70;
const RIGHT: u32 = 280; // room for the longest legend: "Similarity gradient 100.0"
const TOP: u32 = 40;
const BOTTOM: u32 = 60;
/// Line colours (Okabe-Ito, colour-blind safe), one per method in order.
const COLOURS: [[u8; 3]; 6] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
];

fn text(img: &mut RgbImage, x: u32, y: u32, s: &str, colour: [u8; 3]) {
    let mut pen = x;
    for c in s.chars() {
        let c = if (' '..='~').contains(&c) { c } else { '?' };
        let glyph = BASIC_FONTS.get(c).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    let (px, py) = (pen + col, y + row as u32);
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, Rgb(colour));
                    }
                }
            }
        }
        pen += 8;
    }
}

fn dot(img: &mut RgbImage, x: i64, y: i64, r: i64, colour: [u8; 3]) {
    for dy in -r..=r {
        for dx in -r..=r {
            let (px, py) = (x + dx, y + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, Rgb(colour));
            }
        }
    }
}

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), colour: [u8; 3], r: i64) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        dot(
            img,
            (x0 + t * (x1 - x0)).round() as i64,
            (y0 + t * (y1 - y0)).round() as i64,
            r,
            colour,
        );
    }
}

/// What a figure plots against P.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Accuracy (%) at the clean threshold, legend with `area_x100`.
    Accuracy,
    /// Mean perturbed score, legend with `mean_score_area`; the y range fits the data in steps
    /// of 0.1 and always holds 0.
    MeanScore,
}

/// One figure of `series` against P (% of pixels), a line per curve, legend `method (area)`.
pub fn curve_plot(title: &str, curves: &[&Curve], series: Series) -> RgbImage {
    let values = |c: &Curve| -> Vec<f64> {
        let v = match series {
            Series::Accuracy => &c.accuracy,
            Series::MeanScore => &c.mean_score,
        };
        v.iter()
            .map(|a| if a.is_finite() { *a } else { 0.0 })
            .collect()
    };
    let (lo, hi) = match series {
        Series::Accuracy => (0.0, 1.0),
        Series::MeanScore => {
            let all: Vec<f64> = curves.iter().flat_map(|c| values(c)).collect();
            let min = all.iter().copied().fold(0.0_f64, f64::min);
            let max = all.iter().copied().fold(0.0_f64, f64::max);
            let lo = (min * 10.0).floor() / 10.0;
            (lo, ((max * 10.0).ceil() / 10.0).max(lo + 0.1))
        }
    };
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let (pw, ph) = (f64::from(W - LEFT - RIGHT), f64::from(H - TOP - BOTTOM));
    let to_px = |p: f64, v: f64| {
        (
            f64::from(LEFT) + p / 100.0 * pw,
            f64::from(TOP) + (1.0 - (v.clamp(lo, hi) - lo) / (hi - lo)) * ph,
        )
    };
    let grey = [200, 200, 200];
    let black = [0, 0, 0];
    // grid and ticks: P every 10 %, the y axis every tenth of the range (accuracy) or every 0.1
    for i in 0..=10 {
        let v = f64::from(i) * 10.0;
        let (x, _) = to_px(v, lo);
        line(
            &mut img,
            (x, f64::from(TOP)),
            (x, f64::from(TOP) + ph),
            grey,
            0,
        );
        text(
            &mut img,
            x as u32 - 8,
            H - BOTTOM + 8,
            &format!("{v:.0}"),
            black,
        );
    }
    let y_ticks = ((hi - lo) * 10.0).round() as i32;
    for i in 0..=y_ticks {
        let v = lo + (hi - lo) * f64::from(i) / f64::from(y_ticks.max(1));
        let (_, y) = to_px(0.0, v);
        line(
            &mut img,
            (f64::from(LEFT), y),
            (f64::from(LEFT) + pw, y),
            grey,
            0,
        );
        let label = match series {
            Series::Accuracy => format!("{:>3.0}", v * 100.0),
            Series::MeanScore => format!("{v:>4.1}"),
        };
        text(&mut img, LEFT - 40, y as u32 - 4, &label, black);
    }
    // axes
    line(&mut img, to_px(0.0, lo), to_px(100.0, lo), black, 0);
    line(&mut img, to_px(0.0, lo), to_px(0.0, hi), black, 0);
    text(
        &mut img,
        LEFT + (pw as u32) / 2 - 100,
        H - 24,
        "P: % of pixels perturbed",
        black,
    );
    let y_label = match series {
        Series::Accuracy => "accuracy (%)",
        Series::MeanScore => "mean score vs gallery",
    };
    text(&mut img, 4, TOP - 16, y_label, black);
    text(&mut img, LEFT, 10, title, black);
    // curves and legend
    for (k, c) in curves.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let pts: Vec<(f64, f64)> = c
            .ratios
            .iter()
            .zip(values(c))
            .map(|(p, v)| to_px(*p, v))
            .collect();
        for w in pts.windows(2) {
            line(&mut img, w[0], w[1], colour, 1);
        }
        for p in &pts {
            dot(&mut img, p.0.round() as i64, p.1.round() as i64, 3, colour);
        }
        let ly = TOP + 10 + k as u32 * 20;
        let lx = W - RIGHT + 14;
        line(
            &mut img,
            (f64::from(lx), f64::from(ly + 4)),
            (f64::from(lx + 20), f64::from(ly + 4)),
            colour,
            1,
        );
        let area = match series {
            Series::Accuracy => format!("{:.1}", c.area_x100),
            Series::MeanScore => format!("{:.3}", c.mean_score_area),
        };
        text(
            &mut img,
            lx + 26,
            ly,
            &format!("{} {area}", c.method.display_name()),
            black,
        );
    }
    text(&mut img, W - RIGHT + 14, TOP - 6, "method  area", black);
    img
}
