//! Similarity-score gradient (plain saliency; shared/spec/fggb.md, "Peers"):
//! `M_A = mean_c |d s / d x_A|` with `s = <e_A, e_B>`. Since `d s / d x_A = e_B^T d e_A / d x_A`,
//! it is one VJP of image A with cotangent `e_B` (and one of B with `e_A`).
//!
//! The map is a magnitude: it says where the score is sensitive, not in which direction. It is
//! reported as the similarity map when the pair is accepted (`s >= theta`) and as the
//! dissimilarity map when rejected, so the signed map is `+M` or `-M`. Output shape: `[H, W]`.
//! The VJP must be plain `absmean`: FGGB's per-map normalisation would change relative scales.

use ndarray::{Array1, Array2, Axis};

use crate::method::{ImageInput, Oracle, PairMethod, check_maps, oracle_err};
use crate::{Error, ImageMaps, Method, PairExplanation};

/// The similarity-gradient method (no options).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimilarityGradient;

/// `mean_c |d <e_x, other> / d x|` `[H, W]` of one image.
pub(crate) fn score_gradient(
    oracle: &mut dyn Oracle,
    x: &ImageInput<'_>,
    other: &ImageInput<'_>,
    method: Method,
) -> Result<Array2<f32>, Error> {
    let (_, h, w) = x.tensor.dim();
    let cot = other.embedding.to_owned().insert_axis(Axis(0));
    let maps = oracle
        .vjp_absmean(x.tensor, cot.view())
        .map_err(oracle_err(method))?;
    check_maps("similarity-gradient VJP", &maps, 1, (h, w))?;
    Ok(maps.index_axis_move(Axis(0), 0))
}

impl PairMethod for SimilarityGradient {
    fn method(&self) -> Method {
        Method::SimilarityGradient
    }

    fn explain(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<PairExplanation, Error> {
        // each image is a probe explained against the other (the sign comes from the same score)
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
        let sign = if a.embedding.dot(&b.embedding) >= threshold {
            1.0
        } else {
            -1.0
        };
        let ma = score_gradient(oracle, &a, &b, self.method())?;
        Ok(ImageMaps::from_signed(ma * sign))
    }
}
