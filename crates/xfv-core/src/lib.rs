//! xfv's vocabulary: the nouns every other crate speaks - model cards and manifests, aligned
//! batches, detections, embeddings and verification decisions.
//!
//! This crate does no I/O beyond reading a card and holds no model code; it exists so that the
//! stages (preprocess -> runtime -> explain -> report) agree on types without depending on each
//! other.
//!
//! ```
//! use xfv_core::{Comparison, Decision, Verdict};
//! let v = Verdict::decide(Comparison::Cosine, 0.74, 0.363);
//! assert_eq!(v.decision, Decision::Accept);
//! let v = Verdict::decide(Comparison::Euclidean, 0.74, 0.6);
//! assert_eq!(v.decision, Decision::Reject);
//! ```
#![deny(missing_docs)]

mod card;
mod verdict;

use std::path::PathBuf;

pub use card::{
    AlignmentSpec, CARD_SCHEMA, ColourOrder, Comparison, ConvertedSpec, DetectorSpec,
    EmbeddingSpec, InputSpec, ModelCard, ModelKind, ModelManifest, SourceSpec,
};
use ndarray::{Array2, Array4};
use serde::{Deserialize, Serialize};
pub use verdict::{Decision, Verdict, cosine, euclidean};

/// Errors of the vocabulary crate: reading and checking model cards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A model card is malformed or inconsistent.
    #[error("model card {}: {reason}", path.display())]
    CardInvalid {
        /// The card file (empty when parsed from text).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One detected face in original image pixels (after EXIF orientation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box `[x, y, width, height]` in image pixels.
    pub bbox_px: [f32; 4],
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Five landmarks `[x, y]`: image-left eye, image-right eye, nose tip, image-left mouth
    /// corner, image-right mouth corner.
    pub landmarks_px: [[f32; 2]; 5],
}

/// How one aligned crop was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropOrigin {
    /// The image file.
    pub path: PathBuf,
    /// Image size after EXIF orientation, `[width, height]`.
    pub image_size_px: [u32; 2],
    /// The face that was aligned; `None` when the input was taken as already aligned.
    pub detection: Option<Detection>,
    /// How many faces the detector found (0 when detection was skipped).
    pub faces_found: usize,
    /// The 2x3 similarity transform from crop pixels to image pixels (`None` for `--aligned`
    /// inputs that were only resized).
    pub crop_to_image: Option<[[f32; 3]; 2]>,
}

/// Aligned face crops ready for a model: `tensor` is `[N, 3, H, W]` f32, already in the model's
/// colour order and scaling; `rgb8` keeps the crops as 0..255 RGB for pictures.
#[derive(Debug, Clone)]
pub struct AlignedBatch {
    /// Model input `[N, 3, H, W]`.
    pub tensor: Array4<f32>,
    /// The same crops as RGB bytes `[N, H, W, 3]` for display.
    pub rgb8: Array4<u8>,
    /// Where each crop came from, one per row.
    pub origins: Vec<CropOrigin>,
}

impl AlignedBatch {
    /// Number of crops.
    pub fn len(&self) -> usize {
        self.tensor.shape()[0]
    }

    /// True when the batch holds no crop.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Raw model embeddings, one row per crop: `[N, D]`, as the network output them (not normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// `[N, D]` values.
    pub values: Array2<f32>,
}
