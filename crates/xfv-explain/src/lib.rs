//! Explanation methods for face verification: from per-image gradient maps and normalised
//! embeddings to a pair's signed saliency maps, split into similarity and dissimilarity maps for
//! both images. Pure computation (no I/O, no model), parallel with rayon.
//!
//! One module per method, all behind one trait, [`PairMethod`]: a method gets the pair's two
//! images ([`ImageInput`]: model-input tensor, embedding, FGGB's cached per-image maps when
//! present) and an [`Oracle`] (the model: embed, VJPs with given cotangents, FGGB's per-image
//! maps), and returns the same [`PairExplanation`], so evaluation and reports never need to know
//! which method made a map. FGGB keeps its per-image cache path ([`fggb::explain_pair`]).
//!
//! ```
//! use ndarray::{Array1, Array3};
//! use xfv_explain::{ImageGradients, fggb};
//! // D = 2 dimensions, 4x4 maps
//! let a = ImageGradients::new(Array1::from(vec![0.6, 0.8]), Array3::from_elem((2, 4, 4), 0.25))?;
//! let b = ImageGradients::new(Array1::from(vec![0.8, 0.6]), Array3::from_elem((2, 4, 4), 0.25))?;
//! let ex = fggb::explain_pair(&a, &b, 0.5);
//! assert!((ex.score - 0.96).abs() < 1e-6);
//! assert!((ex.weights.sum() - (0.96 - 0.5)).abs() < 1e-6); // sum of weights = score - theta
//! assert!(ex.a.similarity.iter().all(|v| *v > 0.0));        // accepted: all similarity here
//! # Ok::<(), xfv_explain::Error>(())
//! ```
#![deny(missing_docs)]

pub mod corrrise;
pub mod fggb;
mod method;
pub mod similarity_gradient;
pub mod xssab;

pub use method::{ImageInput, Oracle, OracleError, PairMethod, method_impl};

use ndarray::{Array1, Array2, Array3, ArrayView2};
use serde::Serialize;

/// The explanation methods xfv offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Feature-Guided Gradient Backpropagation (Lu, Xu & Ebrahimi, FG 2024).
    Fggb,
    /// Gradient of the similarity score, `mean_c |d s / d x|` (plain saliency).
    SimilarityGradient,
    /// xSSAB: similarity score argument backpropagation (Huber et al., WACV 2024).
    Xssab,
    /// CorrRISE: correlation-based randomised input sampling (Lu, Xu & Ebrahimi, WACV 2024).
    Corrrise,
}

impl Method {
    /// The name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Fggb => "fggb",
            Method::SimilarityGradient => "similarity-gradient",
            Method::Xssab => "xssab",
            Method::Corrrise => "corrrise",
        }
    }

    /// The name as a picture shows it.
    pub fn display_name(self) -> &'static str {
        match self {
            Method::Fggb => "FGGB",
            Method::SimilarityGradient => "similarity gradient",
            Method::Xssab => "xSSAB",
            Method::Corrrise => "CorrRISE",
        }
    }

    /// Every method, in the order tables list them.
    pub const ALL: [Method; 4] = [
        Method::Fggb,
        Method::Xssab,
        Method::SimilarityGradient,
        Method::Corrrise,
    ];

    /// Whether the method needs plain (`absmean`) VJPs with pair-dependent cotangents.
    pub fn needs_vjp(self) -> bool {
        matches!(self, Method::SimilarityGradient | Method::Xssab)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::UnknownMethod {
                name: s.to_string(),
            })
    }
}

/// Errors: inputs of inconsistent shapes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Shapes do not agree.
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// Expected shape.
        expected: Vec<usize>,
        /// Actual shape.
        got: Vec<usize>,
    },
    /// The model behind a method failed.
    #[error("{method}: the model failed: {source}")]
    Oracle {
        /// The method that asked.
        method: &'static str,
        /// What the model said.
        source: OracleError,
    },
    /// No method of that name.
    #[error("no explanation method `{name}` (known: fggb, xssab, similarity-gradient, corrrise)")]
    UnknownMethod {
        /// The name asked for.
        name: String,
    },
}

/// What one image contributes, independent of any pair: its L2-normalised embedding `e` [D] and
/// its per-dimension maps `[D, H, W]` (for FGGB: `gn^k`, steps 1-3, computed on the device by the
/// gradient graph). Compute once per image, reuse for every pair it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGradients {
    embedding: Array1<f32>,
    maps: Array3<f32>,
}

impl ImageGradients {
    /// Checks that `maps` has one `[H, W]` map per embedding dimension.
    pub fn new(embedding: Array1<f32>, maps: Array3<f32>) -> Result<Self, Error> {
        if maps.shape()[0] != embedding.len() {
            return Err(Error::ShapeMismatch {
                what: "per-dimension maps",
                expected: vec![embedding.len(), maps.shape()[1], maps.shape()[2]],
                got: maps.shape().to_vec(),
            });
        }
        Ok(ImageGradients { embedding, maps })
    }

    /// The normalised embedding `[D]`.
    pub fn embedding(&self) -> &Array1<f32> {
        &self.embedding
    }

    /// The per-dimension maps `[D, H, W]`.
    pub fn maps(&self) -> &Array3<f32> {
        &self.maps
    }

    /// Embedding dimension D.
    pub fn dim(&self) -> usize {
        self.embedding.len()
    }

    /// Map size `(H, W)`.
    pub fn map_size(&self) -> (usize, usize) {
        (self.maps.shape()[1], self.maps.shape()[2])
    }
}

/// The maps of one image of a pair, all `[H, W]` f32 at the aligned crop's size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageMaps {
    /// The signed map: positive where the image supports "same person", negative where it
    /// supports "different".
    #[serde(skip)]
    pub signed: Array2<f32>,
    /// `max(signed, 0)`.
    #[serde(skip)]
    pub similarity: Array2<f32>,
    /// `max(-signed, 0)` (a magnitude, non-negative).
    #[serde(skip)]
    pub dissimilarity: Array2<f32>,
}

impl ImageMaps {
    /// Splits a signed map into its similarity and dissimilarity parts (FGGB step 6).
    pub fn from_signed(signed: Array2<f32>) -> Self {
        let similarity = signed.mapv(|v| v.max(0.0));
        let dissimilarity = signed.mapv(|v| (-v).max(0.0));
        ImageMaps {
            signed,
            similarity,
            dissimilarity,
        }
    }

    /// The signed map as a view.
    pub fn signed(&self) -> ArrayView2<'_, f32> {
        self.signed.view()
    }
}

/// A pair's explanation: score, the threshold it was held against, the method's per-dimension
/// weights (when it has them) and the maps of both images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairExplanation {
    /// The method that made the maps.
    pub method: Method,
    /// Cosine similarity of the normalised embeddings.
    pub score: f32,
    /// Cosine threshold theta used by the method.
    pub threshold: f32,
    /// Per-dimension weights (FGGB: `e_A[k] e_B[k] - theta / D`); they sum to `score - threshold`.
    #[serde(skip)]
    pub weights: Array1<f32>,
    /// Maps of image A.
    pub a: ImageMaps,
    /// Maps of image B.
    pub b: ImageMaps,
}
