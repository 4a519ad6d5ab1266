//! FGGB - Feature-Guided Gradient Backpropagation (Y. Lu, Z. Xu, T. Ebrahimi, "Explainable Face
//! Verification via Feature-Guided Gradient Backpropagation", IEEE FG 2024; shared/spec/fggb.md).
//!
//! Steps 1-3 are per image and run on the device inside the gradient graph (`reduce = fggb`):
//! `G^k = d e[k] / d x` through the L2 normalisation, `g^k = mean_c |G^k|`,
//! `gn^k = g^k / (||g^k||_F + 1e-8)`. This module does steps 4-7 for a pair:
//!
//! - step 4, weights: `w_k = e_A[k] * e_B[k] - theta / D`, so `sum_k w_k = s - theta` (the
//!   threshold spread evenly over the D dimensions; subtracting all of theta from each `w_k` is a
//!   known mistake that empties the similarity map);
//! - step 5, signed map per image: `S = sum_k w_k gn^k` (`[D] x [D, H, W] -> [H, W]`);
//! - step 6, split: similarity `max(S, 0)`, dissimilarity `max(-S, 0)`;
//! - step 7, both images with the same `w`.
//!
//! Sign convention: positive = evidence for "same person". Output shape: the crop's `[H, W]`.
//! Display blur and min-max belong to the report, not here.

use ndarray::{Array1, Array2, ArrayView1, ArrayView3, Axis};

use crate::method::{ImageInput, Oracle, PairMethod, oracle_err};
use crate::{Error, ImageGradients, ImageMaps, Method, PairExplanation};

/// FGGB behind the method trait: uses the images' cached per-image maps when the caller has them
/// (the per-image cache path), otherwise asks the oracle for them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fggb;

impl PairMethod for Fggb {
    fn method(&self) -> Method {
        Method::Fggb
    }

    fn explain(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<PairExplanation, Error> {
        let get = |oracle: &mut dyn Oracle, x: &ImageInput<'_>| -> Result<ImageGradients, Error> {
            match x.fggb {
                Some(g) => Ok(g.clone()),
                None => oracle.fggb_maps(x.tensor).map_err(oracle_err(Method::Fggb)),
            }
        };
        let ga = get(oracle, &a)?;
        let gb = get(oracle, &b)?;
        if ga.dim() != gb.dim() {
            return Err(Error::ShapeMismatch {
                what: "FGGB embedding of B",
                expected: vec![ga.dim()],
                got: vec![gb.dim()],
            });
        }
        Ok(explain_pair(&ga, &gb, threshold))
    }

    /// Only A's per-image maps are needed: B enters through its embedding alone (the weights).
    fn explain_probe(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<ImageMaps, Error> {
        let owned;
        let ga = match a.fggb {
            Some(g) => g,
            None => {
                owned = oracle
                    .fggb_maps(a.tensor)
                    .map_err(oracle_err(Method::Fggb))?;
                &owned
            }
        };
        if ga.dim() != b.embedding.len() {
            return Err(Error::ShapeMismatch {
                what: "embedding of B",
                expected: vec![ga.dim()],
                got: vec![b.embedding.len()],
            });
        }
        Ok(probe_maps(ga, b.embedding, threshold))
    }
}

/// A's maps against B's embedding `e_b`: `S_A = sum_k w_k gn_A^k` with
/// `w_k = e_A[k] e_B[k] - theta / D` - the same as [`explain_pair`]'s `a` when `e_b` is B's
/// gradient-graph embedding.
pub fn probe_maps(a: &ImageGradients, e_b: ArrayView1<'_, f32>, threshold: f32) -> ImageMaps {
    let w = weights(a.embedding().view(), e_b, threshold);
    ImageMaps::from_signed(combine(a.maps().view(), w.view()))
}

/// The pair weights `w_k = e_A[k] e_B[k] - theta / D` (step 4).
pub fn weights(e_a: ArrayView1<'_, f32>, e_b: ArrayView1<'_, f32>, threshold: f32) -> Array1<f32> {
    let share = threshold / e_a.len() as f32;
    let mut w = &e_a * &e_b;
    w.mapv_inplace(|v| v - share);
    w
}

/// The signed map `S = sum_k w_k maps[k]` (step 5) for maps `[D, H, W]`. Accumulates in f32 in
/// dimension order, as a GEMV over the flattened maps.
pub fn combine(maps: ArrayView3<'_, f32>, w: ArrayView1<'_, f32>) -> Array2<f32> {
    let (d, h, wd) = maps.dim();
    debug_assert_eq!(d, w.len());
    let flat = maps
        .into_shape_with_order((d, h * wd))
        .map(|v| w.dot(&v))
        .unwrap_or_else(|_| {
            // non-contiguous input: sum axis by axis
            let mut acc = Array1::<f32>::zeros(h * wd);
            for (k, m) in maps.axis_iter(Axis(0)).enumerate() {
                acc.iter_mut()
                    .zip(m.iter())
                    .for_each(|(a, v)| *a += w[k] * v);
            }
            acc
        });
    flat.into_shape_with_order((h, wd))
        .unwrap_or_else(|_| Array2::zeros((h, wd)))
}

/// FGGB for one pair from the two images' cached per-image gradients, with cosine threshold
/// `threshold`. Both images' maps are combined in parallel.
///
/// Panics if the two images have different D (the caller pairs images of one model).
pub fn explain_pair(a: &ImageGradients, b: &ImageGradients, threshold: f32) -> PairExplanation {
    assert_eq!(
        a.dim(),
        b.dim(),
        "images of one model have one embedding size"
    );
    let score = a.embedding().dot(b.embedding());
    let w = weights(a.embedding().view(), b.embedding().view(), threshold);
    let (sa, sb) = rayon::join(
        || combine(a.maps().view(), w.view()),
        || combine(b.maps().view(), w.view()),
    );
    PairExplanation {
        method: Method::Fggb,
        score,
        threshold,
        weights: w,
        a: ImageMaps::from_signed(sa),
        b: ImageMaps::from_signed(sb),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    #[test]
    fn weights_sum_to_score_minus_threshold() {
        let a = array![0.6f32, 0.8, 0.0];
        let b = array![0.0f32, 0.6, 0.8];
        let w = weights(a.view(), b.view(), 0.3);
        assert!((w.sum() - (0.48 - 0.3)).abs() < 1e-6);
        assert!((w[0] - (-0.1)).abs() < 1e-6);
    }

    #[test]
    fn combine_is_the_weighted_sum() {
        let maps = Array3::from_shape_fn((3, 2, 2), |(k, y, x)| (k * 4 + y * 2 + x) as f32);
        let w = array![1.0f32, -1.0, 0.5];
        let s = combine(maps.view(), w.view());
        for y in 0..2 {
            for x in 0..2 {
                let want: f32 = (0..3).map(|k| w[k] * maps[[k, y, x]]).sum();
                assert!((s[[y, x]] - want).abs() < 1e-6);
            }
        }
    }
}
