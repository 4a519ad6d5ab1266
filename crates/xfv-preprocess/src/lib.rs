//! xfv's one path from image files to model input tensors: decode (bounded, EXIF-upright),
//! detect faces with YuNet, align them by a five-point similarity transform, and apply the
//! model's colour order and scaling - every parameter read from a model card, none built in.
//!
//! ```text
//! file --decode_image--> RgbImage --FaceDetector::detect--> Vec<Detection>
//!      --align_face--> AlignedFace (crop + CropOrigin) --into_aligned_batch--> AlignedBatch
//! ```
//!
//! [`Preprocessor`] runs the whole path for a file in [`Mode::Detect`] or, for inputs that are
//! already face crops, [`Mode::Aligned`] (resize only). The detector network runs behind the
//! [`DetectorBackend`] trait, which `xfv-runtime` implements on ONNX Runtime, so this crate
//! stays free of inference code.
//!
//! Design notes:
//! - Coordinates everywhere (detections, landmarks, templates, `CropOrigin::crop_to_image`) are
//!   pixels of the decoded, EXIF-upright image, with pixel `(x, y)` centred at `(x, y)` (OpenCV's
//!   convention, in which the alignment templates were made).
//! - [`FaceDetector`] owns its backend as `Box<dyn DetectorBackend + Send>` rather than being
//!   generic over it: detection runs once per image, so dynamic dispatch costs nothing, and the
//!   [`Preprocessor`] and everything holding it stay free of a type parameter.
//! - The only numbers of this crate's own are the [`DecodeLimits`] defaults; model facts (crop
//!   size, template, colour order, scaling, detector strides and thresholds) come from cards.
//!
//! ```
//! use xfv_core::{ColourOrder, Comparison, EmbeddingSpec, InputSpec, ModelManifest};
//! use xfv_preprocess::{Mode, Preprocessor, into_aligned_batch};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = ModelManifest {
//!     name: "example".into(),
//!     input: InputSpec {
//!         width_px: 112,
//!         height_px: 112,
//!         colour_order: ColourOrder::Bgr,
//!         mean: [127.5; 3],
//!         std: [128.0; 3],
//!     },
//!     embedding: EmbeddingSpec {
//!         dim: 128,
//!         comparison: Comparison::Cosine,
//!         threshold: 0.363,
//!         threshold_source: String::new(),
//!     },
//!     template_px: [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]],
//! };
//! // An "already aligned" 200x200 crop, pure red.
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("crop.png");
//! image::RgbImage::from_pixel(200, 200, image::Rgb([255, 0, 0])).save(&path)?;
//!
//! let mut pre = Preprocessor::builder(manifest.clone()).build();
//! let face = pre.prepare(&path, Mode::Aligned)?;
//! assert_eq!(face.crop.dimensions(), (112, 112));
//! assert_eq!(face.origin.image_size_px, [200, 200]);
//!
//! let batch = into_aligned_batch(vec![face], &manifest)?;
//! assert_eq!(batch.tensor.shape(), &[1, 3, 112, 112]);
//! // BGR order: red is the last channel; (255 - 127.5) / 128 = 0.99609375.
//! assert_eq!(batch.tensor[[0, 2, 0, 0]], 0.99609375);
//! assert_eq!(batch.tensor[[0, 0, 0, 0]], -127.5 / 128.0);
//! assert_eq!(batch.rgb8[[0, 5, 5, 0]], 255);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod align;
mod decode;
mod detect;
mod error;
mod pipeline;
mod tensor;

pub use align::{Affine, apply_affine, invert_affine, similarity_transform, warp_affine};
pub use decode::{DecodeLimits, decode_image, decode_image_with};
pub use detect::{DetectorBackend, FaceDetector, Letterbox, decode_heads, iou, nms};
pub use error::Error;
pub use pipeline::{AlignedFace, Mode, Preprocessor, PreprocessorBuilder, align_face, largest};
pub use tensor::into_aligned_batch;
