//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong between an image file and a model input tensor.
///
/// Variants that concern one file name it, so a message read on its own says which input to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read (missing, no permission, a directory, ...).
    #[error("cannot read image {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file's content is not in an image format this build decodes.
    #[error(
        "{} is not an image (or not in a supported format: JPEG, PNG, WebP, BMP, TIFF, PNM, GIF): {reason}",
        path.display()
    )]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image data ends before the image does.
    #[error("{} is truncated: {reason}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image is in a known format but its data is corrupt.
    #[error("cannot decode image {}: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image is smaller than [`DecodeLimits::min_side_px`](crate::DecodeLimits) on a side.
    #[error(
        "{} is {width}x{height} px, too small: each side must be at least {min_px} px",
        path.display()
    )]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The minimum side length.
        min_px: u32,
    },
    /// The image is larger than the decode limits allow; it was rejected before its pixels
    /// were allocated.
    #[error(
        "{} is too large to decode ({}): the limit is {max_side_px} px a side and {max_bytes} bytes decoded",
        path.display(),
        match (width, height) { (Some(w), Some(h)) => format!("{w}x{h} px"), _ => "size beyond the limits".to_string() }
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Declared width, when the header could be read.
        width: Option<u32>,
        /// Declared height, when the header could be read.
        height: Option<u32>,
        /// The side limit in force.
        max_side_px: u32,
        /// The decoded-bytes limit in force.
        max_bytes: u64,
    },
    /// The detector found no face above its score threshold.
    #[error(
        "no face found in {} (if the image is already an aligned face crop, pass --aligned to skip detection)",
        path.display()
    )]
    NoFace {
        /// The file.
        path: PathBuf,
    },
    /// Detection was asked for but the preprocessor was built without a detector.
    #[error("{} needs face detection but no detector was configured (or pass --aligned)", path.display())]
    NoDetector {
        /// The file.
        path: PathBuf,
    },
    /// The detector failed on this file (backend error or malformed outputs).
    #[error("face detector failed on {}: {source}", path.display())]
    Detector {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The detector backend returned an error (no file known at this level; the
    /// [`Preprocessor`](crate::Preprocessor) wraps it into [`Error::Detector`]).
    #[error("detector backend: {source}")]
    Backend {
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The detector's outputs lack a head this decoder needs.
    #[error("detector output `{name}` is missing (outputs: {available:?})")]
    MissingOutput {
        /// The head's name, e.g. `cls_8`.
        name: String,
        /// The outputs the backend did return.
        available: Vec<String>,
    },
    /// The five landmarks coincide, so no similarity transform exists.
    #[error("{}: the detected landmarks are degenerate (all at one point), cannot align", path.display())]
    DegenerateLandmarks {
        /// The file.
        path: PathBuf,
    },
    /// A tensor or image has a shape other than the one required.
    #[error("{tensor}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Which tensor or image.
        tensor: String,
        /// Expected shape (0 stands for "any").
        expected: Vec<usize>,
        /// Actual shape.
        got: Vec<usize>,
    },
    /// A model card cannot drive this stage (wrong kind, missing table, bad values).
    #[error("model card `{name}`: {reason}")]
    Card {
        /// Card name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}
