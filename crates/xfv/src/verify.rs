//! Verification of a pair: two image files -> crops -> embeddings -> score -> Accept/Reject.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ndarray::{ArrayD, ArrayView4, Axis, stack};
use serde::Serialize;
use xfv_core::{CropOrigin, ModelCard, ModelKind, ModelManifest, Verdict};
use xfv_preprocess::{DetectorBackend, FaceDetector, Mode, Preprocessor};
use xfv_runtime::{DetectorModel, EmbeddingModel, EpRequest, ModelInfo, Runtime};

use crate::choice::{ModelChoice, model_choice_setters};
use crate::{Error, checked_model_file, resolve_card};

/// The detector's card name in the models folder.
const DETECTOR: &str = "yunet";

/// The runtime's detector session as the preprocessing's detector backend.
struct OrtDetector(DetectorModel);

impl DetectorBackend for OrtDetector {
    fn infer(
        &mut self,
        input: ArrayView4<'_, f32>,
    ) -> Result<HashMap<String, ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.run(input)?)
    }
}

/// Stage 1 for `manifest`'s model: a preprocessor, with the detector (its card checked, its
/// file sha256-checked, its session on `ep`) in detect mode. Shared by every pipeline.
pub(crate) fn preprocessor(
    rt: &Runtime,
    dir: &Path,
    manifest: ModelManifest,
    mode: Mode,
    ep: &EpRequest,
) -> Result<(Preprocessor, Option<ModelInfo>), Error> {
    let mut pre = Preprocessor::builder(manifest);
    let mut detector_info = None;
    if mode == Mode::Detect {
        let det_card = resolve_card(DETECTOR, dir)?;
        if det_card.kind != ModelKind::Detector {
            return Err(xfv_core::Error::CardInvalid {
                path: dir.join(format!("{DETECTOR}.toml")),
                reason: "expected a detector card".into(),
            }
            .into());
        }
        let det_path = checked_model_file(&det_card)?;
        let det = DetectorModel::load(rt, &det_path, &det_card.input, ep)?;
        detector_info = Some(det.info().clone());
        pre = pre.detector(FaceDetector::new(&det_card, OrtDetector(det))?);
    }
    Ok((pre.build(), detector_info))
}

/// Builds a [`Verifier`].
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifierBuilder {
    choice: ModelChoice,
}

impl VerifierBuilder {
    /// Starts with a model name (`sface`), card (`x.toml`) or ONNX file with its card beside it.
    pub fn new(model: impl Into<String>) -> Self {
        VerifierBuilder {
            choice: ModelChoice::new(model.into()),
        }
    }

    model_choice_setters!();

    /// Loads the model (checking its sha256 against its card) and, in detect mode, the detector.
    pub fn build(self) -> Result<Verifier, Error> {
        let c = self.choice;
        let dir = c.dir();
        let card = resolve_card(&c.model, &dir)?;
        let manifest = card.manifest()?;
        let path = checked_model_file(&card)?;
        let rt = Runtime::new(c.runtime)?;
        let model = EmbeddingModel::load(&rt, &path, &manifest, &c.ep)?;
        let (pre, _) = preprocessor(&rt, &dir, manifest, c.mode, &c.ep)?;
        let threshold = c
            .threshold
            .unwrap_or(card.embedding.as_ref().map_or(0.0, |e| e.threshold));
        Ok(Verifier {
            pre,
            model,
            card,
            mode: c.mode,
            threshold,
        })
    }
}

/// Time spent per stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimings {
    /// Decode + detect + align + to tensor, both images.
    pub preprocess_ms: f64,
    /// Embedding network, both images in one batch.
    pub embed_ms: f64,
}

/// The outcome of verifying one pair.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Model name.
    pub model: String,
    /// Execution provider that ran the model.
    pub ep: String,
    /// True when a fallback provider ran instead of the first requested.
    pub ep_fell_back: bool,
    /// Score, threshold and decision.
    pub verdict: Verdict,
    /// Where the two crops came from (detections, landmarks, transforms).
    pub a: CropOrigin,
    /// Second image.
    pub b: CropOrigin,
    /// Time per stage.
    pub timings: StageTimings,
}

/// One image's embedding, as the model outputs it (not normalised), and where its crop came from.
#[derive(Debug, Clone, Serialize)]
pub struct ImageEmbedding {
    /// `[D]` values.
    pub embedding: Vec<f32>,
    /// Source file, detection and crop transform.
    pub origin: CropOrigin,
}

/// Verifies pairs of face images with one model.
#[derive(Debug)]
pub struct Verifier {
    pre: Preprocessor,
    model: EmbeddingModel,
    card: ModelCard,
    mode: Mode,
    threshold: f32,
}

impl Verifier {
    /// Shorthand for [`VerifierBuilder::new`].
    pub fn builder(model: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(model)
    }

    /// The model's card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The decision threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The execution provider that runs the model, and whether it is a fallback.
    pub fn ep(&self) -> (String, bool) {
        let info = self.model.info();
        (info.ep.to_string(), info.fell_back)
    }

    /// Embeds image files, up to `batch` crops per model run. One result per path, in order: an
    /// image that cannot be used (unreadable, no face) is an error in its own slot and the others
    /// go on. The outer error is a model run that failed, which concerns the whole batch.
    pub fn embed_files(
        &mut self,
        paths: &[impl AsRef<Path>],
        batch: usize,
    ) -> Result<Vec<Result<ImageEmbedding, Error>>, Error> {
        let manifest = self.pre.manifest().clone();
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(batch.max(1)) {
            let slots: Vec<Result<(CropOrigin, ndarray::Array3<f32>), Error>> = chunk
                .iter()
                .map(|p| {
                    let face = self.pre.prepare(p.as_ref(), self.mode)?;
                    let tensor = face.to_tensor(&manifest)?;
                    Ok((face.origin, tensor))
                })
                .collect();
            let views: Vec<_> = slots
                .iter()
                .filter_map(|s| s.as_ref().ok().map(|(_, t)| t.view()))
                .collect();
            let mut rows = Vec::new();
            if !views.is_empty() {
                let stacked =
                    stack(Axis(0), &views).map_err(|_| xfv_preprocess::Error::ShapeMismatch {
                        tensor: "image batch".into(),
                        expected: views[0].shape().to_vec(),
                        got: views
                            .iter()
                            .map(|v| v.shape().to_vec())
                            .find(|s| s != views[0].shape())
                            .unwrap_or_default(),
                    })?;
                let emb = self.model.embed(stacked.view())?;
                if emb.values.nrows() != views.len() {
                    return Err(xfv_preprocess::Error::ShapeMismatch {
                        tensor: "embeddings".into(),
                        expected: vec![views.len()],
                        got: vec![emb.values.nrows()],
                    }
                    .into());
                }
                rows = emb.values.outer_iter().map(|r| r.to_vec()).collect();
            }
            let mut rows = rows.into_iter();
            for slot in slots {
                out.push(slot.map(|(origin, _)| ImageEmbedding {
                    embedding: rows.next().unwrap_or_default(),
                    origin,
                }));
            }
        }
        Ok(out)
    }

    /// Verifies one pair of image files.
    pub fn verify(&mut self, a: &Path, b: &Path) -> Result<VerifyReport, Error> {
        let t0 = Instant::now();
        let manifest = self.pre.manifest().clone();
        let fa = self.pre.prepare(a, self.mode)?;
        let fb = self.pre.prepare(b, self.mode)?;
        let ta = fa.to_tensor(&manifest)?;
        let tb = fb.to_tensor(&manifest)?;
        let batch = stack(Axis(0), &[ta.view(), tb.view()]).map_err(|_| {
            xfv_preprocess::Error::ShapeMismatch {
                tensor: "pair batch".into(),
                expected: ta.shape().to_vec(),
                got: tb.shape().to_vec(),
            }
        })?;
        let t1 = Instant::now();
        let emb = self.model.embed(batch.view())?;
        let t2 = Instant::now();
        let comparison = manifest.embedding.comparison;
        let verdict = Verdict::from_embeddings(
            comparison,
            &emb.values.row(0).to_vec(),
            &emb.values.row(1).to_vec(),
            self.threshold,
        );
        let info = self.model.info();
        Ok(VerifyReport {
            model: self.card.name.clone(),
            ep: info.ep.to_string(),
            ep_fell_back: info.fell_back,
            verdict,
            a: fa.origin,
            b: fb.origin,
            timings: StageTimings {
                preprocess_ms: (t1 - t0).as_secs_f64() * 1e3,
                embed_ms: (t2 - t1).as_secs_f64() * 1e3,
            },
        })
    }
}
