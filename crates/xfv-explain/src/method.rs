//! The one trait every explanation method implements ([`PairMethod`]) and what a method may ask
//! of the model ([`Oracle`]).
//!
//! Why an oracle: the methods differ in what they need from the network - FGGB needs the
//! per-image maps `gn^k` (cached per image), the similarity gradient and xSSAB need VJPs with
//! pair-dependent cotangents, CorrRISE needs only forward passes of masked images. The oracle
//! offers exactly these, on model-input tensors (already scaled per the model card), so this
//! crate stays free of any runtime and the evaluation never knows which method made a map.

use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayView4};

use crate::{Error, ImageGradients, ImageMaps, Method, PairExplanation};

/// What an oracle's failures look like to a method (the runtime's own error, boxed).
pub type OracleError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The model as the methods see it. Tensors are model inputs `[3, H, W]` (one image) or
/// `[N, 3, H, W]` (a batch), scaled as the model card says.
pub trait Oracle {
    /// Embedding dimension D.
    fn dim(&self) -> usize;

    /// The model-input value of a black pixel (0 in `[0, 1]` image space) per input channel.
    fn black(&self) -> [f32; 3];

    /// Images per forward batch the oracle prefers.
    fn batch_size(&self) -> usize {
        32
    }

    /// L2-normalised embeddings `[N, D]` of a batch `[N, 3, H, W]`.
    fn embed(&mut self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, OracleError>;

    /// `[K, H, W]`: for each cotangent row `c` `[D]`, the mean over RGB of
    /// `|c^T d e / d x|` - the VJP through the L2-normalised embedding `e` of one image `x`,
    /// without any per-map normalisation (`reduce = absmean`).
    fn vjp_absmean(
        &mut self,
        x: ArrayView3<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<Array3<f32>, OracleError>;

    /// FGGB steps 1-3 of one image: its embedding and `gn^k` `[D, H, W]`.
    fn fggb_maps(&mut self, x: ArrayView3<'_, f32>) -> Result<ImageGradients, OracleError>;
}

/// One image of a pair as a method receives it.
#[derive(Debug, Clone, Copy)]
pub struct ImageInput<'a> {
    /// The model-input tensor `[3, H, W]`.
    pub tensor: ArrayView3<'a, f32>,
    /// Its L2-normalised embedding `[D]`.
    pub embedding: ArrayView1<'a, f32>,
    /// FGGB's per-image maps when already computed (the per-image cache); methods that do not
    /// use them ignore them.
    pub fggb: Option<&'a ImageGradients>,
    /// CorrRISE's masked embeddings `[N, D]` of this image when already computed with the same
    /// masks (`CorrRise::masked_embeddings`); other methods ignore them.
    pub masked_embeddings: Option<&'a Array2<f32>>,
}

impl<'a> ImageInput<'a> {
    /// An image with nothing cached.
    pub fn new(tensor: ArrayView3<'a, f32>, embedding: ArrayView1<'a, f32>) -> Self {
        ImageInput {
            tensor,
            embedding,
            fggb: None,
            masked_embeddings: None,
        }
    }

    /// With FGGB's per-image maps.
    pub fn with_fggb(mut self, fggb: Option<&'a ImageGradients>) -> Self {
        self.fggb = fggb;
        self
    }

    /// With CorrRISE's masked embeddings.
    pub fn with_masked_embeddings(mut self, masked: Option<&'a Array2<f32>>) -> Self {
        self.masked_embeddings = masked;
        self
    }
}

/// An explanation method: a pair in, both images' signed maps out (positive = evidence for
/// "same person"), each `[H, W]` at the crop's size.
pub trait PairMethod: Send + Sync {
    /// Which method this is.
    fn method(&self) -> Method;

    /// Explains the pair (A, B) against the cosine threshold `threshold`.
    fn explain(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<PairExplanation, Error>;

    /// The maps of A alone, explained against B (the evaluation's probe: only the probe is
    /// perturbed, so B's maps are never needed). Equal to `explain(..).a`; methods override it
    /// to skip B's work (half the VJPs or forward passes, and FGGB needs no gradients of B).
    fn explain_probe(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<ImageMaps, Error> {
        Ok(self.explain(oracle, a, b, threshold)?.a)
    }
}

/// The method object for `method` with its default options.
pub fn method_impl(method: Method) -> Box<dyn PairMethod> {
    match method {
        Method::Fggb => Box::new(crate::fggb::Fggb),
        Method::SimilarityGradient => Box::new(crate::similarity_gradient::SimilarityGradient),
        Method::Xssab => Box::new(crate::xssab::Xssab),
        Method::Corrrise => Box::new(crate::corrrise::CorrRise::default()),
    }
}

/// Wraps an oracle failure.
pub(crate) fn oracle_err(method: Method) -> impl Fn(OracleError) -> Error {
    move |source| Error::Oracle {
        method: method.name(),
        source,
    }
}

/// Checks that a map stack has `k` maps of `(h, w)`.
pub(crate) fn check_maps(
    what: &'static str,
    maps: &Array3<f32>,
    k: usize,
    (h, w): (usize, usize),
) -> Result<(), Error> {
    if maps.dim() != (k, h, w) {
        return Err(Error::ShapeMismatch {
            what,
            expected: vec![k, h, w],
            got: maps.shape().to_vec(),
        });
    }
    Ok(())
}
