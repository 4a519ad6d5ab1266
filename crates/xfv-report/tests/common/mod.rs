//! Synthetic inputs for panel tests and the example: a drawn "face" and Gaussian-blob maps.
#![allow(dead_code)]

use ndarray::{Array2, Array3};

/// A face-ish RGB crop `[h, w, 3]`: grey-blue background, skin ellipse with soft shading, hair,
/// eyebrows, eyes, a nose shadow and a mouth. `shift` moves the features sideways (pixels at
/// 112 px) so the two faces of a pair differ.
pub fn synthetic_face(h: usize, w: usize, shift: f32) -> Array3<u8> {
    let s = w as f32 / 112.0;
    let (cx, cy) = (w as f32 / 2.0 + shift * s, h as f32 * 0.52);
    let ell = |x: f32, y: f32, ex: f32, ey: f32, rx: f32, ry: f32| {
        ((x - ex) / (rx * s)).powi(2) + ((y - ey) / (ry * s)).powi(2)
    };
    Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
        let bg = [96.0, 110.0, 128.0][c] + 20.0 * yf / h as f32;
        let mut px = bg;
        let face = ell(xf, yf, cx, cy, 36.0, 46.0);
        if ell(xf, yf, cx, cy - 22.0 * s, 40.0, 34.0) < 1.0 && yf < cy - 18.0 * s {
            px = [52.0, 36.0, 28.0][c]; // hair
        }
        if face < 1.0 && !(yf < cy - 26.0 * s && face > 0.55) {
            let shade = 1.0 - 0.25 * face;
            px = [226.0, 178.0, 146.0][c] * shade;
            for ex in [cx - 15.0 * s, cx + 15.0 * s] {
                let ey = cy - 8.0 * s;
                if ell(xf, yf, ex, ey - 9.0 * s, 10.0, 2.2) < 1.0 {
                    px = [70.0, 50.0, 40.0][c]; // eyebrow
                }
                let e = ell(xf, yf, ex, ey, 8.0, 4.0);
                if e < 1.0 {
                    px = if ell(xf, yf, ex, ey, 3.2, 3.2) < 1.0 {
                        [40.0, 30.0, 25.0][c]
                    } else {
                        [240.0, 240.0, 235.0][c]
                    };
                }
            }
            let nose = ell(xf, yf, cx + 2.0 * s, cy + 8.0 * s, 4.0, 9.0);
            if nose < 1.0 {
                px *= 0.85 + 0.15 * nose;
            }
            if ell(xf, yf, cx, cy + 25.0 * s, 12.0, 4.0) < 1.0 {
                px = [170.0, 70.0, 75.0][c]; // mouth
            }
        }
        px.clamp(0.0, 255.0) as u8
    })
}

/// `amp * exp(-d^2 / (2 sigma^2))` around `(cy, cx)`, in pixels of an `h x w` map.
pub fn blob(h: usize, w: usize, cy: f32, cx: f32, sigma: f32, amp: f32) -> Array2<f32> {
    Array2::from_shape_fn((h, w), |(y, x)| {
        let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
        amp * (-d2 / (2.0 * sigma * sigma)).exp()
    })
}

/// Four raw maps for a 112-scaled pair: (sim A, dissim A, sim B, dissim B). Similarity on the
/// eyes and nose, dissimilarity on the mouth / chin and one cheek, dissimilarity weaker.
pub fn synthetic_maps(h: usize, w: usize) -> [Array2<f32>; 4] {
    let s = w as f32 / 112.0;
    let (cx, cy) = (w as f32 / 2.0, h as f32 * 0.52);
    let sim_a = blob(h, w, cy - 8.0 * s, cx - 15.0 * s, 6.0 * s, 1e-3)
        + blob(h, w, cy - 8.0 * s, cx + 15.0 * s, 6.0 * s, 0.8e-3)
        + blob(h, w, cy + 8.0 * s, cx + 2.0 * s, 5.0 * s, 0.5e-3);
    let dis_a = blob(h, w, cy + 25.0 * s, cx, 7.0 * s, 3e-4)
        + blob(h, w, cy + 10.0 * s, cx - 24.0 * s, 5.0 * s, 1.5e-4);
    let sim_b = blob(h, w, cy - 8.0 * s, cx - 11.0 * s, 6.0 * s, 0.9e-3)
        + blob(h, w, cy - 8.0 * s, cx + 19.0 * s, 6.0 * s, 1e-3);
    let dis_b = blob(h, w, cy + 34.0 * s, cx + 4.0 * s, 8.0 * s, 2e-4)
        + blob(h, w, cy - 30.0 * s, cx + 20.0 * s, 6.0 * s, 1e-4);
    [sim_a, dis_a, sim_b, dis_b]
}
