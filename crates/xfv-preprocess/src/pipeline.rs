//! The whole path for one file: decode, then detect + align, or take as an aligned crop.

use std::path::Path;

use image::RgbImage;
use image::imageops::{self, FilterType};
use xfv_core::{AlignedBatch, CropOrigin, Detection, ModelManifest};

use crate::align::{Affine, invert_affine, similarity_transform, warp_affine};
use crate::{DecodeLimits, Error, FaceDetector, decode_image_with, into_aligned_batch};

/// How an input file becomes a crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Detect faces, take the largest (by box area), align it to the model's template.
    #[default]
    Detect,
    /// The file is already an aligned face crop: resize it to the model's crop size (bilinear)
    /// without detection (the CLI's `--aligned`).
    Aligned,
}

/// One face crop at the model's input size, with where it came from.
#[derive(Debug, Clone)]
pub struct AlignedFace {
    /// The crop, RGB8, the model's width x height.
    pub crop: RgbImage,
    /// Source file, image size, detection and crop-to-image transform.
    pub origin: CropOrigin,
}

/// Turns image files into aligned crops and tensors for one recognition model.
#[derive(Debug)]
pub struct Preprocessor {
    manifest: ModelManifest,
    detector: Option<FaceDetector>,
    limits: DecodeLimits,
}

/// Builds a [`Preprocessor`].
#[derive(Debug)]
#[must_use]
pub struct PreprocessorBuilder {
    manifest: ModelManifest,
    detector: Option<FaceDetector>,
    limits: DecodeLimits,
}

impl PreprocessorBuilder {
    /// Starts from the recognition model's manifest (crop size, template, colour order,
    /// scaling); no detector, default [`DecodeLimits`].
    pub fn new(manifest: ModelManifest) -> Self {
        Self {
            manifest,
            detector: None,
            limits: DecodeLimits::default(),
        }
    }

    /// The face detector used in [`Mode::Detect`]. Without one, only [`Mode::Aligned`] works.
    pub fn detector(mut self, detector: FaceDetector) -> Self {
        self.detector = Some(detector);
        self
    }

    /// Decode bounds (size, memory).
    pub fn limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The preprocessor.
    pub fn build(self) -> Preprocessor {
        Preprocessor {
            manifest: self.manifest,
            detector: self.detector,
            limits: self.limits,
        }
    }
}

impl Preprocessor {
    /// Shorthand for [`PreprocessorBuilder::new`].
    pub fn builder(manifest: ModelManifest) -> PreprocessorBuilder {
        PreprocessorBuilder::new(manifest)
    }

    /// The model facts this preprocessor works for.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// Decodes `path` and makes its crop (see [`Mode`]).
    pub fn prepare(&mut self, path: &Path, mode: Mode) -> Result<AlignedFace, Error> {
        let image = decode_image_with(path, &self.limits)?;
        self.prepare_image(&image, path, mode)
    }

    /// Makes the crop of an already decoded, upright image; `path` is recorded in the origin
    /// and named in errors.
    pub fn prepare_image(
        &mut self,
        image: &RgbImage,
        path: &Path,
        mode: Mode,
    ) -> Result<AlignedFace, Error> {
        let (cw, ch) = (self.manifest.input.width_px, self.manifest.input.height_px);
        let mut origin = CropOrigin {
            path: path.to_path_buf(),
            image_size_px: [image.width(), image.height()],
            detection: None,
            faces_found: 0,
            crop_to_image: None,
        };
        let crop = match mode {
            Mode::Aligned => {
                if image.dimensions() == (cw, ch) {
                    image.clone()
                } else {
                    imageops::resize(image, cw, ch, FilterType::Triangle)
                }
            }
            Mode::Detect => {
                let detector = self.detector.as_mut().ok_or_else(|| Error::NoDetector {
                    path: path.to_path_buf(),
                })?;
                let faces = detector.detect(image).map_err(|e| Error::Detector {
                    path: path.to_path_buf(),
                    source: Box::new(e),
                })?;
                let face = largest(&faces).ok_or_else(|| Error::NoFace {
                    path: path.to_path_buf(),
                })?;
                tracing::debug!(path = %path.display(), faces = faces.len(), score = face.score, "face chosen");
                let (crop, crop_to_image) =
                    align_face(image, face, &self.manifest).ok_or_else(|| {
                        Error::DegenerateLandmarks {
                            path: path.to_path_buf(),
                        }
                    })?;
                origin.faces_found = faces.len();
                origin.detection = Some(face.clone());
                origin.crop_to_image = Some(crop_to_image);
                crop
            }
        };
        Ok(AlignedFace { crop, origin })
    }

    /// Prepares several files (in order) and stacks them into one [`AlignedBatch`]. Stops at
    /// the first file that fails.
    pub fn prepare_batch<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        mode: Mode,
    ) -> Result<AlignedBatch, Error> {
        let faces = paths
            .iter()
            .map(|p| self.prepare(p.as_ref(), mode))
            .collect::<Result<Vec<_>, _>>()?;
        into_aligned_batch(faces, &self.manifest)
    }
}

/// The detection with the largest box area (the first such on ties).
pub fn largest(faces: &[Detection]) -> Option<&Detection> {
    faces.iter().reduce(|best, d| {
        if d.bbox_px[2] * d.bbox_px[3] > best.bbox_px[2] * best.bbox_px[3] {
            d
        } else {
            best
        }
    })
}

/// Aligns one detected face: the similarity transform from its landmarks to the manifest's
/// template, then a bilinear warp to the crop size. Returns the crop and the crop-to-image
/// transform, or `None` when the landmarks are degenerate.
pub fn align_face(
    image: &RgbImage,
    face: &Detection,
    manifest: &ModelManifest,
) -> Option<(RgbImage, Affine)> {
    let image_to_crop = similarity_transform(&face.landmarks_px, &manifest.template_px)?;
    let crop_to_image = invert_affine(&image_to_crop)?;
    let crop = warp_affine(
        image,
        &crop_to_image,
        manifest.input.width_px,
        manifest.input.height_px,
    );
    Some((crop, crop_to_image))
}
