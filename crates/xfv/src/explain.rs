//! Explaining a pair: two image files -> aligned crops -> per-image gradient maps (the gradient
//! graph, once per image) -> FGGB pair maps -> panel PNG, raw `.npy` maps and a JSON record.
//! The other methods (similarity gradient, xSSAB, CorrRISE) run through
//! [`Explainer::explain_faces`], which asks the [`ModelOracle`] for what each method needs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array3, Axis, stack};
use serde::Serialize;
use xfv_core::{Comparison, CropOrigin, ModelCard, Verdict};
use xfv_explain::{ImageGradients, ImageInput, Method, Oracle, PairExplanation, fggb, method_impl};
use xfv_preprocess::{AlignedFace, Mode, Preprocessor};
use xfv_report::{DisplayOptions, PanelFace, PanelInput, crop_view, render_panel};
use xfv_runtime::{GradientModel, GraphPrecision, ModelInfo, Runtime};

use crate::choice::{ModelChoice, model_choice_setters};
use crate::oracle::{ExtraSessions, ModelOracle};
use crate::{Error, resolve_card};

/// The gradient graph of a card: `<models>/<name>.grad.onnx` (made by `scripts/setup`).
pub fn gradient_graph_path(card: &ModelCard) -> PathBuf {
    gradient_graph_path_for(card, GraphPrecision::Fp32)
}

/// The gradient graph of a card in a precision: `<name>.grad.onnx` (fp32) or
/// `<name>.grad.fp16.onnx` (the fp16 sweep; `scripts/setup --fp16` exports it).
pub fn gradient_graph_path_for(card: &ModelCard, precision: GraphPrecision) -> PathBuf {
    match precision {
        GraphPrecision::Fp32 => card.dir.join(format!("{}.grad.onnx", card.name)),
        GraphPrecision::Fp16 => card.dir.join(format!("{}.grad.fp16.onnx", card.name)),
    }
}

/// The plain VJP graph of a card: `<models>/<name>.absmean.onnx` (made by `scripts/setup`), for
/// the similarity gradient and xSSAB.
pub fn vjp_graph_path(card: &ModelCard) -> PathBuf {
    card.dir.join(format!("{}.absmean.onnx", card.name))
}

/// The cosine threshold FGGB uses for a card. Cosine cards give theirs; for a euclidean card
/// (dlib: distance 0.6 on raw embeddings) the cosine of unit vectors at that distance,
/// `1 - t^2 / 2` - exact when the raw embeddings have unit norm, which dlib's nearly do.
pub fn cosine_threshold(card: &ModelCard) -> f32 {
    match card.embedding.as_ref() {
        Some(e) if e.comparison == Comparison::Euclidean => 1.0 - e.threshold * e.threshold / 2.0,
        Some(e) => e.threshold,
        None => 0.0,
    }
}

/// Builds an [`Explainer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ExplainerBuilder {
    choice: ModelChoice,
    chunk_rows: Option<usize>,
    images_per_run: Option<usize>,
    precision: GraphPrecision,
    method: Method,
}

impl ExplainerBuilder {
    /// Starts with a model name (`sface`), a card (`x.toml`) or an ONNX file with its card beside
    /// it; the gradient graph `<name>.grad.onnx` sits beside the card.
    pub fn new(model: impl Into<String>) -> Self {
        ExplainerBuilder {
            choice: ModelChoice::new(model.into()),
            chunk_rows: None,
            images_per_run: None,
            precision: GraphPrecision::Fp32,
            method: Method::Fggb,
        }
    }

    model_choice_setters!();

    /// Cotangent rows per gradient-graph run (memory grows with it).
    pub fn chunk_rows(mut self, rows: Option<usize>) -> Self {
        self.chunk_rows = rows;
        self
    }

    /// Images per gradient-graph run (default
    /// [`DEFAULT_IMAGES_PER_RUN`](xfv_runtime::DEFAULT_IMAGES_PER_RUN); memory grows with it).
    pub fn images_per_run(mut self, images: Option<usize>) -> Self {
        self.images_per_run = images;
        self
    }

    /// The gradient graph's arithmetic (default fp32; fp16 loads `<name>.grad.fp16.onnx`, made by
    /// `scripts/setup --fp16`, and checks its `xfv.precision`).
    pub fn precision(mut self, precision: GraphPrecision) -> Self {
        self.precision = precision;
        self
    }

    /// The explanation method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Loads the card, its gradient graph (metadata checked against the card, made from the
    /// card's converted model) and, in detect mode, the detector.
    pub fn build(self) -> Result<Explainer, Error> {
        let dir = self.choice.dir();
        let card = resolve_card(&self.choice.model, &dir)?;
        let manifest = card.manifest()?;
        let graph = gradient_graph_path_for(&card, self.precision);
        if !graph.is_file() {
            return Err(Error::ModelMissing { path: graph });
        }
        let rt = Runtime::new(self.choice.runtime.clone())?;
        let mut grad = GradientModel::load(&rt, &graph, &manifest, &self.choice.ep)?;
        if grad.metadata().precision != self.precision {
            return Err(xfv_runtime::Error::ManifestMismatch {
                path: graph,
                key: "xfv.precision".into(),
                expected: format!("{:?}", self.precision).to_lowercase(),
                got: format!("{:?}", grad.metadata().precision).to_lowercase(),
            }
            .into());
        }
        if grad.metadata().source_sha256 != card.converted.sha256 {
            return Err(xfv_runtime::Error::ManifestMismatch {
                path: graph,
                key: "xfv.source_sha256".into(),
                expected: card.converted.sha256.clone(),
                got: grad.metadata().source_sha256.clone(),
            }
            .into());
        }
        if let Some(rows) = self.chunk_rows {
            grad = grad.with_chunk_rows(rows);
        }
        if let Some(images) = self.images_per_run {
            grad = grad.with_images_per_run(images);
        }
        let (pre, detector_info) = self.preprocessor(&rt, &dir, manifest)?;
        let threshold = self
            .choice
            .threshold
            .unwrap_or_else(|| cosine_threshold(&card));
        let mut extra = ExtraSessions::new(
            rt,
            self.choice.ep.clone(),
            pre.manifest().clone(),
            vjp_graph_path(&card),
            card.model_path(),
        );
        // fail early when the chosen method's model file is missing
        if self.method.needs_vjp() {
            extra.load_vjp(&grad.metadata().source_sha256)?;
        }
        if self.method == Method::Corrrise {
            extra.load_model()?;
        }
        Ok(Explainer {
            pre,
            grad,
            extra,
            card,
            mode: self.choice.mode,
            threshold,
            method: self.method,
            detector_info,
        })
    }
}

impl ExplainerBuilder {
    /// Builds only stage 1 (decode, detect, align) with its own detector session, so that a
    /// pipeline can prepare images on one thread while the [`Explainer`] runs the gradient graph
    /// on another (`Session::run` is `&mut`).
    pub fn build_preparer(&self) -> Result<Preparer, Error> {
        let dir = self.choice.dir();
        let card = resolve_card(&self.choice.model, &dir)?;
        let rt = Runtime::new(self.choice.runtime.clone())?;
        let (pre, _) = self.preprocessor(&rt, &dir, card.manifest()?)?;
        Ok(Preparer {
            pre,
            mode: self.choice.mode,
        })
    }

    fn preprocessor(
        &self,
        rt: &Runtime,
        dir: &Path,
        manifest: xfv_core::ModelManifest,
    ) -> Result<(Preprocessor, Option<ModelInfo>), Error> {
        crate::verify::preprocessor(rt, dir, manifest, self.choice.mode, &self.choice.ep)
    }
}

/// Stage 1 alone (see [`ExplainerBuilder::build_preparer`]).
#[derive(Debug)]
pub struct Preparer {
    pre: Preprocessor,
    mode: Mode,
}

impl Preparer {
    /// One image file -> its aligned crop, as [`Explainer::prepare`].
    pub fn prepare(&mut self, path: &Path) -> Result<AlignedFace, Error> {
        Ok(self.pre.prepare(path, self.mode)?)
    }

    /// Detect-and-align or aligned input.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// Stages 3-4 without the sessions: combines two images' gradients and writes a pair's files,
/// as [`Explainer::combine`] and [`Explainer::write`] do. Cheap to clone, `Send + Sync`, so
/// worker threads can use it while the [`Explainer`] keeps running the gradient graph.
#[derive(Debug, Clone)]
pub struct PairWriter {
    model: String,
    graph: PathBuf,
    ep: String,
    threshold: f32,
    method: Method,
}

/// Milliseconds per stage of one pair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExplainTimings {
    /// Decode + detect + align + tensor, both images.
    pub preprocess_ms: f64,
    /// Gradient graph (forward + all D backward rows), both images.
    pub gradients_ms: f64,
    /// FGGB pair combination.
    pub combine_ms: f64,
    /// Panel rendering + PNG/NPY/JSON writing.
    pub write_ms: f64,
}

/// One explained pair, before writing.
#[derive(Debug, Clone)]
pub struct ExplainOutcome {
    /// The two aligned faces (crops and origins).
    pub faces: [AlignedFace; 2],
    /// The maps, weights and score.
    pub explanation: PairExplanation,
    /// Cosine score against the cosine threshold.
    pub verdict: Verdict,
    /// Time per stage (write filled in by [`Explainer::write`]).
    pub timings: ExplainTimings,
}

/// Files written for one pair, relative to the output folder.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenFiles {
    /// The panel PNG.
    pub panel: String,
    /// Aligned crops, `[a, b]`.
    pub crops: [String; 2],
    /// Raw f32 `.npy` maps `[H, W]`.
    pub maps: MapFiles,
}

/// The raw map files of a pair.
#[derive(Debug, Clone, Serialize)]
pub struct MapFiles {
    /// Similarity map of A.
    pub a_similarity: String,
    /// Dissimilarity map of A (magnitude).
    pub a_dissimilarity: String,
    /// Similarity map of B.
    pub b_similarity: String,
    /// Dissimilarity map of B (magnitude).
    pub b_dissimilarity: String,
    /// Signed map of A (similarity - dissimilarity).
    pub a_signed: String,
    /// Signed map of B.
    pub b_signed: String,
}

/// The JSON record of one explained pair (`record.json`). Schema version 1.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainRecord {
    /// Record schema version.
    pub schema: u32,
    /// xfv version.
    pub xfv_version: &'static str,
    /// Explanation method.
    pub method: Method,
    /// Model name.
    pub model: String,
    /// Gradient graph file.
    pub graph: PathBuf,
    /// Execution provider that ran the gradient graph.
    pub ep: String,
    /// Cosine score of the normalised embeddings, threshold, decision.
    pub verdict: Verdict,
    /// Image A: file, detection, landmarks, transform.
    pub a: CropOrigin,
    /// Image B.
    pub b: CropOrigin,
    /// Files written, relative to the record's folder.
    pub files: WrittenFiles,
    /// Time per stage.
    pub timings: ExplainTimings,
}

/// Explains pairs of face images with one model and one method.
#[derive(Debug)]
pub struct Explainer {
    pre: Preprocessor,
    grad: GradientModel,
    extra: ExtraSessions,
    card: ModelCard,
    mode: Mode,
    threshold: f32,
    method: Method,
    detector_info: Option<ModelInfo>,
}

impl Explainer {
    /// Shorthand for [`ExplainerBuilder::new`].
    pub fn builder(model: impl Into<String>) -> ExplainerBuilder {
        ExplainerBuilder::new(model)
    }

    /// The model's card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// The cosine threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The gradient graph's session facts (EP that ran, chunking).
    pub fn gradient_info(&self) -> &ModelInfo {
        self.grad.info()
    }

    /// The gradient graph session (metadata, chunking), for benchmarks.
    pub(crate) fn gradient_model(&self) -> &GradientModel {
        &self.grad
    }

    /// The method chosen at build time.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The model behind the methods (forward passes, VJPs, FGGB maps), borrowed.
    pub fn oracle(&mut self) -> ModelOracle<'_> {
        ModelOracle::new(&mut self.grad, &mut self.extra)
    }

    /// The sessions opened on demand (forward path, batch size).
    pub fn extra_sessions_mut(&mut self) -> &mut ExtraSessions {
        &mut self.extra
    }

    /// A crop as the model's input tensor `[3, H, W]`.
    pub fn tensor(&self, face: &AlignedFace) -> Result<Array3<f32>, Error> {
        Ok(face.to_tensor(self.pre.manifest())?)
    }

    /// Stages 2-3 for any method: the pair's maps from two crops. FGGB uses `cached` per-image
    /// gradients when given (else computes them); the other methods ignore them and ask the
    /// oracle (VJPs for the similarity gradient and xSSAB, forward passes for CorrRISE).
    pub fn explain_faces(
        &mut self,
        fa: &AlignedFace,
        fb: &AlignedFace,
        cached: Option<[&ImageGradients; 2]>,
    ) -> Result<PairExplanation, Error> {
        if self.method == Method::Fggb {
            if let Some([a, b]) = cached {
                return Ok(self.combine(a, b));
            }
            let grads = self.image_gradients(&[fa, fb])?;
            return Ok(self.combine(&grads[0], &grads[1]));
        }
        let (ta, tb) = (self.tensor(fa)?, self.tensor(fb)?);
        let batch = stack(Axis(0), &[ta.view(), tb.view()]).map_err(|_| {
            xfv_explain::Error::ShapeMismatch {
                what: "pair batch",
                expected: ta.shape().to_vec(),
                got: tb.shape().to_vec(),
            }
        })?;
        let (method, threshold) = (self.method, self.threshold);
        let mut oracle = self.oracle();
        let e = oracle
            .embed(batch.view())
            .map_err(|source| xfv_explain::Error::Oracle {
                method: "embedding",
                source,
            })?;
        let ia = ImageInput::new(ta.view(), e.row(0));
        let ib = ImageInput::new(tb.view(), e.row(1));
        Ok(method_impl(method).explain(&mut oracle, ia, ib, threshold)?)
    }

    /// The detector's session facts, in detect mode.
    pub fn detector_info(&self) -> Option<&ModelInfo> {
        self.detector_info.as_ref()
    }

    /// Stage 1: one image file -> its aligned crop.
    pub fn prepare(&mut self, path: &Path) -> Result<AlignedFace, Error> {
        Ok(self.pre.prepare(path, self.mode)?)
    }

    /// Stage 2: per-image gradients of several crops (through the graph in groups of
    /// [`ExplainerBuilder::images_per_run`]). Depends on the images alone: cache and reuse them
    /// for every pair an image is in.
    pub fn image_gradients(
        &mut self,
        faces: &[&AlignedFace],
    ) -> Result<Vec<ImageGradients>, Error> {
        let manifest = self.pre.manifest().clone();
        let tensors = faces
            .iter()
            .map(|f| f.to_tensor(&manifest))
            .collect::<Result<Vec<_>, _>>()?;
        let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
        let batch = stack(Axis(0), &views).map_err(|_| xfv_preprocess::Error::ShapeMismatch {
            tensor: "gradient batch".into(),
            expected: vec![
                3,
                manifest.input.height_px as usize,
                manifest.input.width_px as usize,
            ],
            got: tensors
                .first()
                .map(|t| t.shape().to_vec())
                .unwrap_or_default(),
        })?;
        let g = self.grad.gradients(batch.view())?;
        (0..faces.len())
            .map(|i| Ok(ImageGradients::new(g.embedding(i), g.image_maps(i))?))
            .collect()
    }

    /// Stage 3 of FGGB's per-image cache path: the pair's FGGB maps from two images' cached
    /// gradients. Always FGGB (the gradients are FGGB's); other methods need the crops: see
    /// [`Explainer::explain_faces`].
    pub fn combine(&self, a: &ImageGradients, b: &ImageGradients) -> PairExplanation {
        self.pair_writer().combine(a, b)
    }

    /// Stages 3-4 detached from the sessions (for worker threads).
    pub fn pair_writer(&self) -> PairWriter {
        PairWriter {
            model: self.card.name.clone(),
            graph: self.grad.info().path.clone(),
            ep: self.grad.info().ep.to_string(),
            threshold: self.threshold,
            method: self.method,
        }
    }

    /// Stages 1-3 for one pair of files (the two images share one gradient-graph batch).
    pub fn explain(&mut self, a: &Path, b: &Path) -> Result<ExplainOutcome, Error> {
        let t0 = Instant::now();
        let fa = self.prepare(a)?;
        let fb = self.prepare(b)?;
        let t1 = Instant::now();
        let (explanation, t2) = if self.method == Method::Fggb {
            let grads = self.image_gradients(&[&fa, &fb])?;
            let t2 = Instant::now();
            (self.combine(&grads[0], &grads[1]), t2)
        } else {
            (self.explain_faces(&fa, &fb, None)?, Instant::now())
        };
        let t3 = Instant::now();
        let verdict = Verdict::decide(Comparison::Cosine, explanation.score, self.threshold);
        Ok(ExplainOutcome {
            faces: [fa, fb],
            explanation,
            verdict,
            timings: ExplainTimings {
                preprocess_ms: ms(t1 - t0),
                gradients_ms: ms(t2 - t1),
                combine_ms: ms(t3 - t2),
                write_ms: 0.0,
            },
        })
    }

    /// Stage 4: writes the panel, the crops, the raw maps and `record.json` into `out_dir`
    /// (created if needed; every file written atomically) and returns the record.
    pub fn write(
        &self,
        outcome: &ExplainOutcome,
        out_dir: &Path,
        display: &DisplayOptions,
    ) -> Result<ExplainRecord, Error> {
        self.pair_writer().write(outcome, out_dir, display)
    }
}

impl PairWriter {
    /// The cosine threshold in use.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The method chosen at build time (its pair step for FGGB is [`PairWriter::combine`]; the
    /// other methods run in [`Explainer::explain_faces`]).
    pub fn method(&self) -> Method {
        self.method
    }

    /// Stage 3 of FGGB's cache path: the pair's FGGB maps from two images' gradients (FGGB
    /// whatever the method; the other methods run in [`Explainer::explain_faces`]).
    pub fn combine(&self, a: &ImageGradients, b: &ImageGradients) -> PairExplanation {
        fggb::explain_pair(a, b, self.threshold)
    }

    /// Stage 4: writes the panel, the crops, the raw maps and `record.json` into `out_dir`
    /// (created if needed; every file written atomically) and returns the record.
    pub fn write(
        &self,
        outcome: &ExplainOutcome,
        out_dir: &Path,
        display: &DisplayOptions,
    ) -> Result<ExplainRecord, Error> {
        let t0 = Instant::now();
        std::fs::create_dir_all(out_dir).map_err(|source| Error::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
        let ex = &outcome.explanation;
        let name = |o: &CropOrigin| {
            o.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let [fa, fb] = &outcome.faces;
        let (name_a, name_b) = (name(&fa.origin), name(&fb.origin));
        let panel = render_panel(
            &PanelInput {
                a: PanelFace {
                    crop: crop_view(&fa.crop)?,
                    name: &name_a,
                    similarity: ex.a.similarity.view(),
                    dissimilarity: ex.a.dissimilarity.view(),
                },
                b: PanelFace {
                    crop: crop_view(&fb.crop)?,
                    name: &name_b,
                    similarity: ex.b.similarity.view(),
                    dissimilarity: ex.b.dissimilarity.view(),
                },
                model: &self.model,
                method: ex.method.display_name(),
                verdict: outcome.verdict,
            },
            display,
        )?;
        let files = WrittenFiles {
            panel: "panel.png".into(),
            crops: ["a_crop.png".into(), "b_crop.png".into()],
            maps: MapFiles {
                a_similarity: "a_similarity.npy".into(),
                a_dissimilarity: "a_dissimilarity.npy".into(),
                b_similarity: "b_similarity.npy".into(),
                b_dissimilarity: "b_dissimilarity.npy".into(),
                a_signed: "a_signed.npy".into(),
                b_signed: "b_signed.npy".into(),
            },
        };
        let p = |f: &str| out_dir.join(f);
        xfv_report::write_png_atomic(&p(&files.panel), &panel)?;
        xfv_report::write_png_atomic(&p(&files.crops[0]), &fa.crop)?;
        xfv_report::write_png_atomic(&p(&files.crops[1]), &fb.crop)?;
        let m = &files.maps;
        for (file, map) in [
            (&m.a_similarity, &ex.a.similarity),
            (&m.a_dissimilarity, &ex.a.dissimilarity),
            (&m.b_similarity, &ex.b.similarity),
            (&m.b_dissimilarity, &ex.b.dissimilarity),
            (&m.a_signed, &ex.a.signed),
            (&m.b_signed, &ex.b.signed),
        ] {
            xfv_report::write_npy_f32(&p(file), map.view())?;
        }
        let mut timings = outcome.timings.clone();
        timings.write_ms = ms(t0.elapsed());
        let record = ExplainRecord {
            schema: 1,
            xfv_version: env!("CARGO_PKG_VERSION"),
            method: ex.method,
            model: self.model.clone(),
            graph: self.graph.clone(),
            ep: self.ep.clone(),
            verdict: outcome.verdict,
            a: fa.origin.clone(),
            b: fb.origin.clone(),
            files,
            timings,
        };
        xfv_report::write_json_atomic(&p("record.json"), &record)?;
        Ok(record)
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
