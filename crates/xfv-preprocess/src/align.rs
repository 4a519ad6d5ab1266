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
