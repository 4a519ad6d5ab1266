//! The display pipeline: raw map -> Gaussian blur -> min-max to [0, 1] -> colour -> overlay.
//!
//! This is spec step 8 ("Display"): blur and normalisation exist for the eye only. The raw maps
//! stay untouched (they go to `.npy` as they are); every function here returns a new array.

use image::RgbImage;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

use crate::colour::{ColourMap, to_u8};
use crate::{Error, Result};

/// A Gaussian blur for display: `kernel_px` taps (odd) with standard deviation `sigma_px`,
/// both in crop pixels. The kernel is normalised to sum to 1, applied separably (rows then
/// columns) with mirrored borders (`dcba|abcd|dcba` without repeating the edge pixel, as
/// OpenCV's default `BORDER_REFLECT_101`), so a map's mass is neither lost at the border nor
/// shifted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianBlur {
    /// Number of taps; odd and at least 1.
    pub kernel_px: usize,
    /// Standard deviation in pixels; positive and finite.
    pub sigma_px: f32,
}

impl Default for GaussianBlur {
    /// The spec's display blur: kernel 25, sigma 5.
    fn default() -> Self {
        GaussianBlur {
            kernel_px: 25,
            sigma_px: 5.0,
        }
    }
}

impl GaussianBlur {
    /// The normalised 1-D kernel (length `kernel_px`, sums to 1, symmetric).
    pub fn kernel(&self) -> Result<Vec<f32>> {
        if self.kernel_px % 2 != 1 {
            return Err(Error::InvalidOption {
                name: "blur.kernel_px",
                reason: format!("must be odd and positive, got {}", self.kernel_px),
            });
        }
        if !(self.sigma_px.is_finite() && self.sigma_px > 0.0) {
            return Err(Error::InvalidOption {
                name: "blur.sigma_px",
                reason: format!("must be positive and finite, got {}", self.sigma_px),
            });
        }
        let r = (self.kernel_px / 2) as f64;
        let s2 = 2.0 * f64::from(self.sigma_px).powi(2);
        let w: Vec<f64> = (0..self.kernel_px)
            .map(|i| (-(i as f64 - r).powi(2) / s2).exp())
            .collect();
        let sum: f64 = w.iter().sum();
        Ok(w.iter().map(|v| (v / sum) as f32).collect())
    }

    /// Blurs `map` (any H x W, even smaller than the kernel) and returns a new map.
    pub fn apply(&self, map: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let k = self.kernel()?;
        let rows = convolve_axis(map, Axis(1), &k);
        Ok(convolve_axis(rows.view(), Axis(0), &k))
    }
}

/// Mirror index `i` into `0..n` without repeating the edge (`reflect-101`), for any `i`.
fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// 1-D convolution of every lane along `axis` with the symmetric kernel `k`.
fn convolve_axis(map: ArrayView2<'_, f32>, axis: Axis, k: &[f32]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros(map.raw_dim());
    let r = (k.len() / 2) as isize;
    for (src, mut dst) in map.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
        let n = src.len();
        for (i, d) in dst.iter_mut().enumerate() {
            let mut acc = 0f64;
            for (j, w) in k.iter().enumerate() {
                let at = reflect101(i as isize + j as isize - r, n);
                acc += f64::from(*w) * f64::from(src[at]);
            }
            *d = acc as f32;
        }
    }
    out
}

/// How blurred maps are brought to `[0, 1]` before colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalise {
    /// Each map is stretched by its own minimum and maximum (the common practice, and the
    /// default): every picture uses the full colour range, so the *shape* of each map is easy
    /// to read, but colours are not comparable between maps - a faint dissimilarity map looks
    /// as bright as a strong similarity map.
    #[default]
    PerMap,
    /// One minimum and maximum over all four maps of the pair (similarity and dissimilarity of A
    /// and of B): colours compare across the whole panel, so a weak map stays dark. Sensible
    /// because all four are magnitudes of the same pair-weighted sum (spec steps 5-7).
    SharedPerPair,
}

impl Normalise {
    /// Words for the legend.
    pub fn describe(self) -> &'static str {
        match self {
            Normalise::PerMap => "min-max per map",
            Normalise::SharedPerPair => "min-max shared by the pair",
        }
    }
}

/// `(min, max)` over the finite values of `maps`; `None` when there is none.
pub fn finite_range<'a>(maps: impl IntoIterator<Item = ArrayView2<'a, f32>>) -> Option<(f32, f32)> {
    let mut range: Option<(f32, f32)> = None;
    for m in maps {
        for &v in m.iter().filter(|v| v.is_finite()) {
            range = Some(match range {
                None => (v, v),
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
            });
        }
    }
    range
}

/// Maps `map` linearly from `[lo, hi]` to `[0, 1]`, clamping. When `hi <= lo` (a constant map)
/// or the range is not finite, every value becomes 0 - never NaN. Non-finite values become 0.
pub fn min_max_with(map: ArrayView2<'_, f32>, lo: f32, hi: f32) -> Array2<f32> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return Array2::zeros(map.raw_dim());
    }
    map.mapv(|v| {
        if v.is_finite() {
            ((v - lo) / span).clamp(0.0, 1.0)
        } else {
            0.0
        }
    })
}

/// Min-max normalisation of one map by its own finite range (see [`min_max_with`]).
pub fn min_max(map: ArrayView2<'_, f32>) -> Array2<f32> {
    match finite_range([map]) {
        Some((lo, hi)) => min_max_with(map, lo, hi),
        None => Array2::zeros(map.raw_dim()),
    }
}

/// How maps are turned into pictures. `Default` is the spec's display step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DisplayOptions {
    /// Blur before normalising; `None` shows the raw map (e.g. for CorrRISE, which the spec
    /// shows unblurred). Default: kernel 25, sigma 5.
    pub blur: Option<GaussianBlur>,
    /// Per-map or shared min-max. Default: [`Normalise::PerMap`].
    pub normalise: Normalise,
    /// Colour map. Default: [`ColourMap::Inferno`].
    pub colour_map: ColourMap,
    /// Weight of the colour over the face, in `[0, 1]`: `out = (1 - alpha) * face + alpha *
    /// colour`. Default 0.5.
    pub alpha: f32,
    /// Integer upscaling of crops and maps in the panel (bilinear), at least 1. Default 2.
    pub upscale: u32,
}

impl Default for DisplayOptions {
    fn default() -> Self {
        DisplayOptions {
            blur: Some(GaussianBlur::default()),
            normalise: Normalise::PerMap,
            colour_map: ColourMap::Inferno,
            alpha: 0.5,
            upscale: 2,
        }
    }
}

impl DisplayOptions {
    /// Checks the ranges of every option.
    pub fn validate(&self) -> Result<()> {
        if let Some(b) = &self.blur {
            b.kernel()?;
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidOption {
                name: "alpha",
                reason: format!("must lie in [0, 1], got {}", self.alpha),
            });
        }
        if self.upscale == 0 || self.upscale > 16 {
            return Err(Error::InvalidOption {
                name: "upscale",
                reason: format!("must lie in 1..=16, got {}", self.upscale),
            });
        }
        Ok(())
    }

    /// Blurs (if asked) and normalises a set of maps to `[0, 1]` following `self.normalise`:
    /// per map, or with one range shared by all of `maps` (pass the four maps of a pair).
    pub fn display_maps(&self, maps: &[ArrayView2<'_, f32>]) -> Result<Vec<Array2<f32>>> {
        self.validate()?;
        let blurred: Vec<Array2<f32>> = maps
            .iter()
            .map(|m| match &self.blur {
                Some(b) => b.apply(*m),
                None => Ok(m.to_owned()),
            })
            .collect::<Result<_>>()?;
        Ok(match self.normalise {
            Normalise::PerMap => blurred.iter().map(|m| min_max(m.view())).collect(),
            Normalise::SharedPerPair => {
                let (lo, hi) = finite_range(blurred.iter().map(|m| m.view())).unwrap_or((0.0, 0.0));
                blurred
                    .iter()
                    .map(|m| min_max_with(m.view(), lo, hi))
                    .collect()
            }
        })
    }
}

/// Bilinear resampling of a map to `height x width` (pixel centres aligned, edges clamped).
pub(crate) fn resize_bilinear(
    map: ArrayView2<'_, f32>,
    height: usize,
    width: usize,
) -> Array2<f32> {
    let (h, w) = map.dim();
    if h == 0 || w == 0 {
        return Array2::zeros((height, width));
    }
    let coord = |dst: usize, src_n: usize, dst_n: usize| {
        let c =
            ((dst as f32 + 0.5) * src_n as f32 / dst_n as f32 - 0.5).clamp(0.0, (src_n - 1) as f32);
        let i0 = c.floor() as usize;
        let i1 = (i0 + 1).min(src_n - 1);
        (i0, i1, c - i0 as f32)
    };
    let cols: Vec<_> = (0..width).map(|x| coord(x, w, width)).collect();
    Array2::from_shape_fn((height, width), |(y, x)| {
        let (y0, y1, ty) = coord(y, h, height);
        let (x0, x1, tx) = cols[x];
        let top = map[[y0, x0]] * (1.0 - tx) + map[[y0, x1]] * tx;
        let bottom = map[[y1, x0]] * (1.0 - tx) + map[[y1, x1]] * tx;
        top * (1.0 - ty) + bottom * ty
    })
}

/// A stand-alone heat map picture of a map already in `[0, 1]` (no face under it).
pub fn heatmap(map01: ArrayView2<'_, f32>, colour_map: ColourMap) -> RgbImage {
    let (h, w) = map01.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        image::Rgb(colour_map.rgb(map01[[y as usize, x as usize]]))
    })
}

/// Blends a map in `[0, 1]` over an RGB crop `[H, W, 3]`, both at the crop's size:
/// `(1 - alpha) * face + alpha * colour`. The map must have the crop's `H x W`.
pub fn overlay(
    crop: ArrayView3<'_, u8>,
    map01: ArrayView2<'_, f32>,
    colour_map: ColourMap,
    alpha: f32,
) -> Result<RgbImage> {
    let (h, w, c) = crop.dim();
    if c != 3 {
        return Err(Error::ShapeMismatch {
            what: "crop (RGB8 [H, W, 3])".into(),
            expected: vec![h, w, 3],
            got: vec![h, w, c],
        });
    }
    if map01.dim() != (h, w) {
        return Err(Error::ShapeMismatch {
            what: "map under the crop".into(),
            expected: vec![h, w],
            got: map01.shape().to_vec(),
        });
    }
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::InvalidOption {
            name: "alpha",
            reason: format!("must lie in [0, 1], got {alpha}"),
        });
    }
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let (y, x) = (y as usize, x as usize);
        let col = colour_map.rgb_f32(map01[[y, x]]);
        image::Rgb(std::array::from_fn(|k| {
            to_u8((1.0 - alpha) * f32::from(crop[[y, x, k]]) + alpha * col[k])
        }))
    }))
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = GaussianBlur::default().kernel().expect("kernel");
        assert_eq!(k.len(), 25);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..25 {
            assert_eq!(k[i], k[24 - i]);
        }
        assert!(k[12] > k[11] && k[0] > 0.0);
        for bad in [0, 24] {
            let b = GaussianBlur {
                kernel_px: bad,
                sigma_px: 5.0,
            };
            assert!(matches!(b.kernel(), Err(Error::InvalidOption { .. })));
        }
        let b = GaussianBlur {
            kernel_px: 5,
            sigma_px: 0.0,
        };
        assert!(b.kernel().is_err());
    }

    #[test]
    fn blur_of_an_impulse_is_symmetric_and_keeps_its_mass() {
        let n = 41;
        let mut m = Array2::<f32>::zeros((n, n));
        m[[20, 20]] = 1.0;
        let b = GaussianBlur::default().apply(m.view()).expect("blur");
        assert!((b.sum() - 1.0).abs() < 1e-5, "sum {}", b.sum());
        for y in 0..n {
            for x in 0..n {
                let v = b[[y, x]];
                assert!((v - b[[n - 1 - y, x]]).abs() < 1e-7);
                assert!((v - b[[y, n - 1 - x]]).abs() < 1e-7);
                assert!((v - b[[x, y]]).abs() < 1e-7);
            }
        }
        assert_eq!(
            b.iter().cloned().fold(f32::MIN, f32::max),
            b[[20, 20]],
            "peak stays at the impulse"
        );
    }

    #[test]
    fn blur_near_the_border_keeps_mass_and_works_on_tiny_maps() {
        let mut m = Array2::<f32>::zeros((9, 7));
        m[[0, 0]] = 2.0;
        m[[8, 3]] = 1.0;
        let b = GaussianBlur::default().apply(m.view()).expect("blur");
        assert!(b.iter().all(|v| v.is_finite() && *v >= 0.0));
        let one = Array2::<f32>::from_elem((1, 1), 3.0);
        let b1 = GaussianBlur::default().apply(one.view()).expect("1x1");
        assert!((b1[[0, 0]] - 3.0).abs() < 1e-5);
        let c = Array2::<f32>::from_elem((5, 6), 0.25);
        let bc = GaussianBlur::default().apply(c.view()).expect("const");
        assert!(bc.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn min_max_of_a_constant_map_is_zero_not_nan() {
        for value in [0.0, 3.5, -2.0] {
            let m = Array2::<f32>::from_elem((4, 4), value);
            let n = min_max(m.view());
            assert!(n.iter().all(|v| *v == 0.0), "{value}: {n:?}");
        }
        let opts = DisplayOptions {
            normalise: Normalise::SharedPerPair,
            ..DisplayOptions::default()
        };
        let z = Array2::<f32>::zeros((8, 8));
        let out = opts.display_maps(&[z.view(), z.view()]).expect("display");
        assert!(out.iter().all(|m| m.iter().all(|v| *v == 0.0)));
    }

    #[test]
    fn min_max_spans_zero_to_one_and_ignores_non_finite() {
        let m = Array2::from_shape_vec((1, 4), vec![2.0f32, 4.0, f32::NAN, 6.0]).expect("shape");
        let n = min_max(m.view());
        assert_eq!(n.as_slice().expect("contiguous"), &[0.0, 0.5, 0.0, 1.0]);
    }

    #[test]
    fn shared_normalisation_keeps_a_weak_map_dark() {
        let strong = Array2::from_shape_fn((6, 6), |(y, x)| (y * 6 + x) as f32);
        let weak = strong.mapv(|v| v * 0.1);
        let mut opts = DisplayOptions {
            blur: None,
            ..DisplayOptions::default()
        };
        let per = opts
            .display_maps(&[strong.view(), weak.view()])
            .expect("per map");
        assert_eq!(per[1][[5, 5]], 1.0);
        opts.normalise = Normalise::SharedPerPair;
        let shared = opts
            .display_maps(&[strong.view(), weak.view()])
            .expect("shared");
        assert_eq!(shared[0][[5, 5]], 1.0);
        assert!((shared[1][[5, 5]] - 0.1).abs() < 1e-6);
    }

    #[test]
    fn raw_maps_are_not_modified() {
        let raw = Array2::from_shape_fn((10, 10), |(y, x)| (y * x) as f32);
        let copy = raw.clone();
        let _ = DisplayOptions::default()
            .display_maps(&[raw.view()])
            .expect("display");
        assert_eq!(raw, copy);
    }

    #[test]
    fn overlay_blends_and_checks_shapes() {
        let crop = Array3::<u8>::from_elem((4, 5, 3), 200);
        let map = Array2::<f32>::zeros((4, 5));
        let img = overlay(crop.view(), map.view(), ColourMap::Inferno, 0.5).expect("overlay");
        assert_eq!(img.dimensions(), (5, 4));
        assert_eq!(img.get_pixel(0, 0).0, [100, 100, 102]);
        let wrong = Array2::<f32>::zeros((5, 4));
        assert!(matches!(
            overlay(crop.view(), wrong.view(), ColourMap::Inferno, 0.5),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(overlay(crop.view(), map.view(), ColourMap::Inferno, 1.5).is_err());
    }

    #[test]
    fn bilinear_upscale_keeps_constants_and_range() {
        let c = Array2::<f32>::from_elem((3, 4), 0.7);
        let up = resize_bilinear(c.view(), 6, 8);
        assert!(up.iter().all(|v| (v - 0.7).abs() < 1e-6));
        let r = Array2::from_shape_fn((3, 3), |(y, x)| (y + x) as f32 / 4.0);
        let up = resize_bilinear(r.view(), 6, 6);
        assert!(up.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(up[[0, 0]], 0.0);
        assert_eq!(up[[5, 5]], 1.0);
    }
}
