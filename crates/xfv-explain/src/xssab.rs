//! xSSAB - explainable similarity score argument backpropagation (M. Huber et al., "Efficient
//! Explainable Face Verification based on Similarity Score Argument Backpropagation", WACV 2024;
//! shared/spec/fggb.md, "Peers").
//!
//! With `bound = theta / D` and `v_i = e_A[i] e_B[i]`: the positive argument keeps `e_B[i]` where
//! `v_i >= bound`, the negative one where `v_i < bound`. Each partial score
//! `s_pos = sum_i e_A[i] keep_pos_i` (and `s_neg`) is backpropagated to `x_A` - one VJP each,
//! with the kept `e_B` as cotangent - and reduced to `mean_c |grad|`. Combined signed map of A:
//! `pos - neg` (positive = similarity, negative = dissimilarity). B likewise with A and B
//! swapped (same split, since `v` is symmetric). Output shape: `[H, W]` per image.

use ndarray::{Array1, Array2, Axis, stack};

use crate::method::{ImageInput, Oracle, PairMethod, check_maps, oracle_err};
use crate::{Error, ImageMaps, Method, PairExplanation};

/// The xSSAB method (no options).
#[derive(Debug, Clone, Copy, Default)]
pub struct Xssab;

/// The two cotangents `[2, D]` for explaining `x` against `other`: row 0 keeps `other[i]` where
/// `v_i >= theta / D`, row 1 where `v_i < theta / D`.
pub fn cotangents(
    x: ndarray::ArrayView1<'_, f32>,
    other: ndarray::ArrayView1<'_, f32>,
    threshold: f32,
) -> Array2<f32> {
    let bound = threshold / x.len() as f32;
    let keep = |pos: bool| -> Array1<f32> {
        x.iter()
            .zip(other.iter())
            .map(|(a, b)| if (a * b >= bound) == pos { *b } else { 0.0 })
            .collect()
    };
    let (p, n) = (keep(true), keep(false));
    stack(Axis(0), &[p.view(), n.view()]).unwrap_or_else(|_| Array2::zeros((2, x.len())))
}

/// The positive and negative maps `[2, H, W]` of one image.
pub fn partial_maps(
    oracle: &mut dyn Oracle,
    x: &ImageInput<'_>,
    other: &ImageInput<'_>,
    threshold: f32,
) -> Result<ndarray::Array3<f32>, Error> {
    let (_, h, w) = x.tensor.dim();
    let cot = cotangents(x.embedding, other.embedding, threshold);
    let maps = oracle
        .vjp_absmean(x.tensor, cot.view())
        .map_err(oracle_err(Method::Xssab))?;
    check_maps("xSSAB VJPs", &maps, 2, (h, w))?;
    Ok(maps)
}

impl PairMethod for Xssab {
    fn method(&self) -> Method {
        Method::Xssab
    }

    fn explain(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<PairExplanation, Error> {
        // the split is symmetric in A and B, so each image is a probe explained against the other
        Ok(PairExplanation {
            method: self.method(),
            score: a.embedding.dot(&b.embedding),
            threshold,
            weights: Array1::zeros(0),
            a: self.explain_probe(oracle, a, b, threshold)?,
            b: self.explain_probe(oracle, b, a, threshold)?,
        })
    }

    fn explain_probe(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<ImageMaps, Error> {
        let m = partial_maps(oracle, &a, &b, threshold)?;
        Ok(ImageMaps::from_signed(
            &m.index_axis(Axis(0), 0) - &m.index_axis(Axis(0), 1),
        ))
    }
}
