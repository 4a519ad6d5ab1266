//! Five-point alignment: a least-squares similarity transform and a bilinear affine warp.
//!
//! Coordinates follow OpenCV's convention, which the alignment templates were made in: pixel
//! `(x, y)` has its centre at `(x, y)`. A 2x3 matrix `m` maps `(x, y)` to
//! `(m[0][0]*x + m[0][1]*y + m[0][2], m[1][0]*x + m[1][1]*y + m[1][2])`.

use image::{Rgb, RgbImage};

/// A 2x3 affine transform, row-major: `[[a, b, tx], [c, d, ty]]`.
pub type Affine = [[f32; 3]; 2];

/// The similarity transform (rotation, uniform scale, translation; never a reflection) that
/// maps `src` onto `dst` with the least squared error.
///
/// This is Umeyama's estimate (Umeyama 1991, "Least-squares estimation of transformation
/// parameters between two point patterns", eq. 40-42) specialised to 2-D, where it has a closed
/// form: with centred points `p = src - mean(src)` and `q = dst - mean(dst)`, the transform
/// `[[a, -b], [b, a]]` has `a = sum(p.q) / sum(|p|^2)` and `b = sum(p x q) / sum(|p|^2)`, the
/// minimiser over all rotations+scales (so reflections are excluded by construction).
///
/// Returns `None` when the point lists differ in length, hold fewer than two points, are not
/// finite, or all `src` points coincide.
pub fn similarity_transform(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Affine> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(sx, sy), p| {
            (sx + f64::from(p[0]), sy + f64::from(p[1]))
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (px, py) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (qx, qy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
        norm += px * px + py * py;
    }
    let scale_ref = msx.abs() + msy.abs() + 1.0;
    if !(norm.is_finite() && dot.is_finite() && cross.is_finite())
        || norm <= 1e-12 * scale_ref * scale_ref
    {
        return None;
    }
    let a = dot / norm;
    let b = cross / norm;
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    Some([
        [a as f32, -b as f32, tx as f32],
        [b as f32, a as f32, ty as f32],
    ])
}

/// The inverse of an affine transform, or `None` when it is singular.
pub fn invert_affine(m: &Affine) -> Option<Affine> {
    let [[a, b, tx], [c, d, ty]] = m.map(|r| r.map(f64::from));
    let det = a * d - b * c;
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    Some([
        [ia as f32, ib as f32, (-(ia * tx + ib * ty)) as f32],
        [ic as f32, id as f32, (-(ic * tx + id * ty)) as f32],
    ])
}

/// Applies an affine transform to a point.
pub fn apply_affine(m: &Affine, p: [f32; 2]) -> [f32; 2] {
    [
        m[0][0] * p[0] + m[0][1] * p[1] + m[0][2],
        m[1][0] * p[0] + m[1][1] * p[1] + m[1][2],
    ]
}

/// Warps `image` into a `width` x `height` crop: crop pixel `(u, v)` takes the bilinear
/// sample of `image` at `crop_to_image * (u, v)`.
///
/// Outside the image is black: each of the four bilinear taps that falls outside contributes
/// 0 (OpenCV's `BORDER_CONSTANT` with value 0), so a sample half a pixel beyond the edge is
/// half as bright. Values are rounded to the nearest integer.
pub fn warp_affine(image: &RgbImage, crop_to_image: &Affine, width: u32, height: u32) -> RgbImage {
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let tap = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            [0.0; 3]
        } else {
            image.get_pixel(x as u32, y as u32).0.map(f32::from)
        }
    };
    RgbImage::from_fn(width, height, |u, v| {
        let [x, y] = apply_affine(crop_to_image, [u as f32, v as f32]);
        if !(x.is_finite() && y.is_finite()) {
            return Rgb([0, 0, 0]);
        }
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let mut out = [0.0f32; 3];
        for (dx, dy, w) in [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ] {
            if w == 0.0 {
                continue;
            }
            let p = tap(x0 + dx, y0 + dy);
            for c in 0..3 {
                out[c] += w * p[c];
            }
        }
        Rgb(out.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn similarity(scale: f32, angle: f32, t: [f32; 2]) -> Affine {
        let (s, c) = angle.sin_cos();
        [[scale * c, -scale * s, t[0]], [scale * s, scale * c, t[1]]]
    }

    #[test]
    fn recovers_a_known_similarity_exactly() {
        let truth = similarity(1.7, 0.4, [12.0, -3.5]);
        let src = [
            [10.0, 20.0],
            [50.0, 22.0],
            [30.0, 40.0],
            [15.0, 60.0],
            [45.0, 61.0],
        ];
        let dst = src.map(|p| apply_affine(&truth, p));
        let m = similarity_transform(&src, &dst).expect("non-degenerate");
        for r in 0..2 {
            for c in 0..3 {
                assert!((m[r][c] - truth[r][c]).abs() < 1e-4, "{m:?} vs {truth:?}");
            }
        }
    }

    #[test]
    fn never_returns_a_reflection() {
        // dst is src mirrored: the best similarity has positive determinant.
        let src = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]];
        let dst = src.map(|[x, y]| [-x, y]);
        let m = similarity_transform(&src, &dst).expect("non-degenerate");
        assert!(m[0][0] * m[1][1] - m[0][1] * m[1][0] >= 0.0);
    }

    #[test]
    fn degenerate_inputs_give_none() {
        let p = [[3.0, 4.0]; 5];
        assert!(similarity_transform(&p, &[[0.0, 1.0]; 5]).is_none());
        assert!(similarity_transform(&[[0.0, 0.0]], &[[1.0, 1.0]]).is_none());
        assert!(similarity_transform(&[[0.0, 0.0], [1.0, 0.0]], &[[1.0, 1.0]]).is_none());
        assert!(invert_affine(&[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]).is_none());
    }

    #[test]
    fn inverse_round_trips() {
        let m = similarity(0.8, -1.1, [100.0, 7.0]);
        let inv = invert_affine(&m).expect("invertible");
        let p = [13.0, -42.0];
        let q = apply_affine(&inv, apply_affine(&m, p));
        assert!(
            (q[0] - p[0]).abs() < 1e-3 && (q[1] - p[1]).abs() < 1e-3,
            "{q:?}"
        );
    }

    fn test_image() -> RgbImage {
        RgbImage::from_fn(23, 17, |x, y| {
            Rgb([(x * 11) as u8, (y * 15) as u8, ((x * y) % 256) as u8])
        })
    }

    #[test]
    fn warp_by_integer_translation_copies_pixels() {
        let img = test_image();
        let out = warp_affine(&img, &[[1.0, 0.0, 3.0], [0.0, 1.0, 2.0]], 10, 8);
        for (u, v, p) in out.enumerate_pixels() {
            assert_eq!(p, img.get_pixel(u + 3, v + 2));
        }
    }

    #[test]
    fn warp_matches_a_direct_bilinear_computation() {
        let img = test_image();
        let m = similarity(0.9, 0.3, [4.25, 1.5]);
        let out = warp_affine(&img, &m, 20, 15);
        for (u, v, p) in out.enumerate_pixels() {
            let x = m[0][0] * u as f32 + m[0][1] * v as f32 + m[0][2];
            let y = m[1][0] * u as f32 + m[1][1] * v as f32 + m[1][2];
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let get = |xi: f32, yi: f32, c: usize| -> f32 {
                if xi < 0.0 || yi < 0.0 || xi >= 23.0 || yi >= 17.0 {
                    0.0
                } else {
                    f32::from(img.get_pixel(xi as u32, yi as u32).0[c])
                }
            };
            for c in 0..3 {
                let want = get(x0, y0, c) * (1.0 - fx) * (1.0 - fy)
                    + get(x0 + 1.0, y0, c) * fx * (1.0 - fy)
                    + get(x0, y0 + 1.0, c) * (1.0 - fx) * fy
                    + get(x0 + 1.0, y0 + 1.0, c) * fx * fy;
                assert!(
                    (f32::from(p.0[c]) - want).abs() <= 0.5 + 1e-3,
                    "({u},{v}) c{c}"
                );
            }
        }
    }

    #[test]
    fn outside_the_image_is_black() {
        let img = RgbImage::from_pixel(4, 4, Rgb([200, 100, 50]));
        let out = warp_affine(&img, &[[1.0, 0.0, -10.0], [0.0, 1.0, 0.0]], 4, 4);
        assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));
        // Half a pixel beyond the right edge: half the brightness.
        let out = warp_affine(&img, &[[1.0, 0.0, 3.5], [0.0, 1.0, 0.0]], 1, 1);
        assert_eq!(out.get_pixel(0, 0).0, [100, 50, 25]);
    }
}
