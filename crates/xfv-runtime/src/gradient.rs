//! The gradient-augmented graph made by `xfv-export` (docs/gradient-graph.md): inputs
//! `x [N,3,H,W]` and `cotangent [K,D]`, outputs the L2-normalised `embedding [N,D]` and
//! `jacobian`, the vector-Jacobian products of the K cotangent rows w.r.t. the pixels:
//! `[N,K,3,H,W]` (`reduce = none`) or `[N,K,H,W]` (`absmean`, `fggb`).
//!
//! The graph carries its model card's facts in `xfv.*` metadata; [`GradientModel::load`] checks
//! them against the card the user chose instead of trusting flags.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView2, ArrayView4, Axis, Ix2, s};
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;
use xfv_core::{ColourOrder, Comparison, ModelManifest};

use crate::model::{BatchAxis, check_shape, open_session, ort_err};
use crate::{EpRequest, Error, ModelInfo, Runtime};

/// The graph format version this build reads (`xfv.graph_version`).
pub const GRAPH_VERSION: &str = "1";

/// What the graph's `jacobian` output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    /// Full `[N,K,3,H,W]`.
    None,
    /// Mean over RGB of `|.|`: `[N,K,H,W]`.
    AbsMean,
    /// `absmean`, then each `[H,W]` map divided by its L2 norm + 1e-8 (FGGB steps 2-3).
    Fggb,
}

/// Arithmetic of a gradient graph's sweep (`xfv.precision`; absent = fp32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphPrecision {
    /// Everything float32.
    Fp32,
    /// `xfv-export --fp16`: the sweep carrying the cotangent rows in float16 (cotangent scaled by
    /// `xfv.cotangent_scale` and divided back in the graph); forward, head and reduction float32.
    /// Inputs and outputs stay float32; float16 outputs are read too.
    Fp16,
}

/// The `xfv.*` metadata of a gradient graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphMetadata {
    /// `xfv.graph_version`.
    pub graph_version: String,
    /// `xfv.model_name`.
    pub model_name: String,
    /// `xfv.input_width_px`.
    pub width_px: u32,
    /// `xfv.input_height_px`.
    pub height_px: u32,
    /// `xfv.colour_order`.
    pub colour_order: ColourOrder,
    /// `xfv.mean`.
    pub mean: [f32; 3],
    /// `xfv.std`.
    pub std: [f32; 3],
    /// `xfv.embedding_dim`.
    pub dim: usize,
    /// `xfv.comparison`.
    pub comparison: Comparison,
    /// `xfv.threshold`.
    pub threshold: f32,
    /// `xfv.reduce`.
    pub reduce: Reduce,
    /// `xfv.source_sha256`: the inference graph it was made from.
    pub source_sha256: String,
    /// `xfv.precision` (absent: fp32).
    pub precision: GraphPrecision,
}

impl GraphMetadata {
    /// Parses the `xfv.*` keys; `path` names the graph in errors.
    pub fn parse(path: &Path, map: &BTreeMap<String, String>) -> Result<Self, Error> {
        let get = |key: &str| -> Result<&str, Error> {
            map.get(key).map(String::as_str).ok_or_else(|| Error::Interface {
                path: path.to_path_buf(),
                reason: format!(
                    "metadata key `{key}` is missing: not a gradient graph made by xfv-export (run `python -m xfv_tools.export MODEL.onnx --card CARD.toml -o OUT`)"
                ),
            })
        };
        let bad = |key: &str, v: &str| Error::Interface {
            path: path.to_path_buf(),
            reason: format!("metadata `{key}` = {v:?} cannot be read"),
        };
        let num = |key: &str| -> Result<f64, Error> {
            let v = get(key)?;
            v.parse::<f64>().map_err(|_| bad(key, v))
        };
        let triple = |key: &str| -> Result<[f32; 3], Error> {
            let v = get(key)?;
            let xs: Vec<f32> = serde_json::from_str(v).map_err(|_| bad(key, v))?;
            <[f32; 3]>::try_from(xs).map_err(|_| bad(key, v))
        };
        let version = get("xfv.graph_version")?.to_string();
        if version != GRAPH_VERSION {
            return Err(Error::ManifestMismatch {
                path: path.to_path_buf(),
                key: "xfv.graph_version".into(),
                expected: GRAPH_VERSION.into(),
                got: version,
            });
        }
        let colour = get("xfv.colour_order")?;
        let comparison = get("xfv.comparison")?;
        let reduce = get("xfv.reduce")?;
        Ok(GraphMetadata {
            graph_version: version,
            model_name: get("xfv.model_name")?.to_string(),
            width_px: num("xfv.input_width_px")? as u32,
            height_px: num("xfv.input_height_px")? as u32,
            colour_order: match colour {
                "rgb" => ColourOrder::Rgb,
                "bgr" => ColourOrder::Bgr,
                v => return Err(bad("xfv.colour_order", v)),
            },
            mean: triple("xfv.mean")?,
            std: triple("xfv.std")?,
            dim: num("xfv.embedding_dim")? as usize,
            comparison: match comparison {
                "cosine" => Comparison::Cosine,
                "euclidean" => Comparison::Euclidean,
                v => return Err(bad("xfv.comparison", v)),
            },
            threshold: num("xfv.threshold")? as f32,
            reduce: match reduce {
                "none" => Reduce::None,
                "absmean" => Reduce::AbsMean,
                "fggb" => Reduce::Fggb,
                v => return Err(bad("xfv.reduce", v)),
            },
            source_sha256: get("xfv.source_sha256")?.to_string(),
            precision: match map.get("xfv.precision").map(String::as_str) {
                None | Some("fp32") => GraphPrecision::Fp32,
                Some("fp16") => GraphPrecision::Fp16,
                Some(v) => return Err(bad("xfv.precision", v)),
            },
        })
    }

    /// Checks every fact the graph states against the card's manifest.
    pub fn check_against(&self, path: &Path, m: &ModelManifest) -> Result<(), Error> {
        let fmt3 = |v: [f32; 3]| format!("{v:?}");
        let checks: [(&str, String, String); 8] = [
            ("xfv.model_name", m.name.clone(), self.model_name.clone()),
            (
                "xfv.input_width_px",
                m.input.width_px.to_string(),
                self.width_px.to_string(),
            ),
            (
                "xfv.input_height_px",
                m.input.height_px.to_string(),
                self.height_px.to_string(),
            ),
            (
                "xfv.colour_order",
                m.input.colour_order.to_string(),
                self.colour_order.to_string(),
            ),
            ("xfv.mean", fmt3(m.input.mean), fmt3(self.mean)),
            ("xfv.std", fmt3(m.input.std), fmt3(self.std)),
            (
                "xfv.embedding_dim",
                m.embedding.dim.to_string(),
                self.dim.to_string(),
            ),
            (
                "xfv.comparison",
                m.embedding.comparison.to_string(),
                self.comparison.to_string(),
            ),
        ];
        for (key, expected, got) in checks {
            if expected != got {
                return Err(Error::ManifestMismatch {
                    path: path.to_path_buf(),
                    key: key.into(),
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }
}

/// Gradients of a batch of images for all D embedding dimensions.
#[derive(Debug, Clone)]
pub struct GradientBatch {
    /// L2-normalised embeddings `[N, D]`.
    pub embeddings: Array2<f32>,
    /// Per-dimension maps `[N, D, H, W]` in the graph's reduction (`absmean` or `fggb`).
    pub maps: Array4<f32>,
}

impl GradientBatch {
    /// The normalised embedding of image `i`.
    pub fn embedding(&self, i: usize) -> Array1<f32> {
        self.embeddings.row(i).to_owned()
    }

    /// The `[D, H, W]` maps of image `i`.
    pub fn image_maps(&self, i: usize) -> Array3<f32> {
        self.maps.index_axis(Axis(0), i).to_owned()
    }
}

/// A gradient graph session.
pub struct GradientModel {
    session: Session,
    info: ModelInfo,
    meta: GraphMetadata,
    custom: BTreeMap<String, String>,
    chunk_rows: usize,
    images_per_run: usize,
    binding: Binding,
}

impl std::fmt::Debug for GradientModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradientModel")
            .field("info", &self.info)
            .field("meta", &self.meta)
            .field("chunk_rows", &self.chunk_rows)
            .field("images_per_run", &self.images_per_run)
            .field("binding", &self.binding)
            .finish()
    }
}

/// How [`GradientModel::gradients`] feeds the graph across its chunks of cotangent rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// Plain ORT I/O binding on GPU providers (CUDA, TensorRT), plain runs on the CPU.
    #[default]
    Auto,
    /// Every chunk is a plain run: the images are handed in (and, on a GPU, uploaded) again with
    /// each chunk, and both outputs come back.
    Plain,
    /// ORT I/O binding: the images are bound once for all chunks (uploaded once on a GPU), the
    /// embedding is fetched with the first chunk only, and each chunk's reduced maps `[N,K,H,W]`
    /// are the only thing copied back to host memory. The Jacobian itself never leaves the
    /// graph (its reduction to maps runs on the provider's device, inside the graph).
    Bound,
}

/// Default number of cotangent rows per run: measured on SFace (2 cores) as the knee where
/// larger chunks stop getting faster while memory keeps growing (docs/gradient-graph.md).
pub const DEFAULT_CHUNK_ROWS: usize = 32;

/// Default number of images per run (the batch axis N of `x`): one. Measured on an idle 2-core
/// machine (docs/performance.md): one image per run of 32 rows is faster than two (SFace 4.44 s vs
/// 4.76 s per pair, MobileFaceNet 3.19 s vs 3.74 s) and halves the peak memory, since a run's
/// activations grow with N x K.
pub const DEFAULT_IMAGES_PER_RUN: usize = 1;

impl GradientModel {
    /// Opens a gradient graph and checks its metadata against `manifest` (the card's facts).
    pub fn load(
        rt: &Runtime,
        path: &Path,
        manifest: &ModelManifest,
        request: &EpRequest,
    ) -> Result<Self, Error> {
        let model = Self::load_unchecked(rt, path, request)?;
        model.meta.check_against(path, manifest)?;
        Ok(model)
    }

    /// Opens a gradient graph trusting its own metadata (for graphs without a card, e.g. test
    /// fixtures).
    pub fn load_unchecked(rt: &Runtime, path: &Path, request: &EpRequest) -> Result<Self, Error> {
        let (session, info) = open_session(rt, path, request, BatchAxis::Ranged)?;
        let err = ort_err(path);
        let md = session.metadata().map_err(&err)?;
        let mut map = BTreeMap::new();
        for key in md.custom_keys().map_err(&err)? {
            if let Some(v) = md.custom(&key) {
                map.insert(key, v);
            }
        }
        drop(md);
        let meta = GraphMetadata::parse(path, &map)?;
        let custom = map;
        let names: Vec<&str> = info.inputs.iter().map(|(n, _)| n.as_str()).collect();
        let outs: Vec<&str> = info.outputs.iter().map(|(n, _)| n.as_str()).collect();
        if names != ["x", "cotangent"] || outs != ["embedding", "jacobian"] {
            return Err(Error::Interface {
                path: path.to_path_buf(),
                reason: format!(
                    "a gradient graph has inputs [x, cotangent] and outputs [embedding, jacobian]; this one has {names:?} -> {outs:?}"
                ),
            });
        }
        let (h, w, d) = (
            i64::from(meta.height_px),
            i64::from(meta.width_px),
            meta.dim as i64,
        );
        check_shape(path, "x", &[-1, 3, h, w], &info.inputs[0].1)?;
        check_shape(path, "cotangent", &[-1, d], &info.inputs[1].1)?;
        check_shape(path, "embedding", &[-1, d], &info.outputs[0].1)?;
        let jac: &[i64] = if meta.reduce == Reduce::None {
            &[-1, -1, 3, h, w]
        } else {
            &[-1, -1, h, w]
        };
        check_shape(path, "jacobian", jac, &info.outputs[1].1)?;
        Ok(GradientModel {
            session,
            info,
            meta,
            custom,
            chunk_rows: DEFAULT_CHUNK_ROWS,
            images_per_run: DEFAULT_IMAGES_PER_RUN,
            binding: Binding::Auto,
        })
    }

    /// Cotangent rows per run (memory grows with it); at least 1.
    #[must_use]
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// How the chunks feed the graph (default [`Binding::Auto`]).
    #[must_use]
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.binding = binding;
        self
    }

    /// Whether [`gradients`](Self::gradients) uses I/O binding on this session's provider.
    pub fn uses_binding(&self) -> bool {
        match self.binding {
            Binding::Plain => false,
            Binding::Bound => true,
            Binding::Auto => !matches!(self.info.ep, crate::ExecutionTarget::Cpu),
        }
    }

    /// Images per run in [`gradients`](Self::gradients) (at least 1): a batch of more images is
    /// split into groups of this size.
    #[must_use]
    pub fn with_images_per_run(mut self, images: usize) -> Self {
        self.images_per_run = images.max(1);
        self
    }

    /// Images per run.
    pub fn images_per_run(&self) -> usize {
        self.images_per_run
    }

    /// Rows per run.
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// The graph's metadata.
    pub fn metadata(&self) -> &GraphMetadata {
        &self.meta
    }

    /// Facts for reports.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Any metadata value of the graph by key, including optional keys [`GraphMetadata`] does not
    /// hold (e.g. `xfv.backward_gflop_per_row`, written by newer exports for benchmarks).
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.custom.get(key).map(String::as_str)
    }

    /// One run: normalised embeddings `[N,D]` and the VJPs of the K cotangent rows
    /// (`[N,K,3,H,W]` or `[N,K,H,W]`).
    pub fn vjp(
        &mut self,
        x: ArrayView4<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<(Array2<f32>, ArrayD<f32>), Error> {
        let path = self.info.path.clone();
        let err = ort_err(&path);
        self.check_images(x)?;
        check_shape(
            &path,
            "cotangent",
            &[-1, self.meta.dim as i64],
            &[cotangent.nrows() as i64, cotangent.ncols() as i64],
        )?;
        let x = x.as_standard_layout();
        let c = cotangent.as_standard_layout();
        let outputs = self
            .session
            .run(ort::inputs![
                "x" => TensorRef::from_array_view(&x).map_err(&err)?,
                "cotangent" => TensorRef::from_array_view(&c).map_err(&err)?,
            ])
            .map_err(&err)?;
        let e = embedding_output(&path, &outputs["embedding"])?;
        let j = extract_f32(&outputs["jacobian"]).map_err(&err)?;
        Ok((e, j))
    }

    /// Checks an image batch against the graph's `x [N,3,H,W]`.
    fn check_images(&self, x: ArrayView4<'_, f32>) -> Result<(), Error> {
        let m = &self.meta;
        check_shape(
            &self.info.path,
            "x",
            &[-1, 3, i64::from(m.height_px), i64::from(m.width_px)],
            &x.shape().iter().map(|d| *d as i64).collect::<Vec<_>>(),
        )
    }

    /// Maps for every embedding dimension: the identity's rows as cotangents, in chunks of
    /// [`chunk_rows`](Self::chunk_rows), the images in groups of
    /// [`images_per_run`](Self::images_per_run). Needs a reduced graph (`absmean` or `fggb`).
    pub fn gradients(&mut self, x: ArrayView4<'_, f32>) -> Result<GradientBatch, Error> {
        if self.meta.reduce == Reduce::None {
            return Err(Error::Interface {
                path: self.info.path.clone(),
                reason: "per-dimension maps need a graph exported with --reduce fggb (or absmean); this one has reduce = none".into(),
            });
        }
        let n = x.shape()[0];
        if n <= self.images_per_run {
            return self.gradients_one_run(x);
        }
        let mut parts = Vec::with_capacity(n.div_ceil(self.images_per_run));
        for i0 in (0..n).step_by(self.images_per_run) {
            let i1 = (i0 + self.images_per_run).min(n);
            parts.push(self.gradients_one_run(x.slice(s![i0..i1, .., .., ..]))?);
        }
        let bad = |_| Error::Interface {
            path: self.info.path.clone(),
            reason: "image groups of different shapes".into(),
        };
        let e: Vec<_> = parts.iter().map(|p| p.embeddings.view()).collect();
        let m: Vec<_> = parts.iter().map(|p| p.maps.view()).collect();
        Ok(GradientBatch {
            embeddings: ndarray::concatenate(Axis(0), &e).map_err(bad)?,
            maps: ndarray::concatenate(Axis(0), &m).map_err(bad)?,
        })
    }

    /// [`gradients`](Self::gradients) for images that go through the graph together.
    fn gradients_one_run(&mut self, x: ArrayView4<'_, f32>) -> Result<GradientBatch, Error> {
        let (n, d) = (x.shape()[0], self.meta.dim);
        let (h, w) = (self.meta.height_px as usize, self.meta.width_px as usize);
        let mut maps = Array4::<f32>::zeros((n, d, h, w));
        let mut embeddings = None;
        let mut bound = if self.uses_binding() {
            Some(self.bind_images(x)?)
        } else {
            None
        };
        let mut k0 = 0;
        while k0 < d {
            let k1 = (k0 + self.chunk_rows).min(d);
            let mut cot = Array2::<f32>::zeros((k1 - k0, d));
            for (r, k) in (k0..k1).enumerate() {
                cot[[r, k]] = 1.0;
            }
            let (e, j) = match bound.as_mut() {
                Some(b) => self.run_bound(b, cot, embeddings.is_none())?,
                None => {
                    let (e, j) = self.vjp(x, cot.view())?;
                    (Some(e), j)
                }
            };
            let j = j
                .into_dimensionality::<ndarray::Ix4>()
                .map_err(|_| Error::Interface {
                    path: self.info.path.clone(),
                    reason: "reduced jacobian is not [N,K,H,W]".into(),
                })?;
            check_shape(
                &self.info.path,
                "jacobian",
                &[n as i64, (k1 - k0) as i64, h as i64, w as i64],
                &j.shape().iter().map(|v| *v as i64).collect::<Vec<_>>(),
            )?;
            maps.slice_mut(s![.., k0..k1, .., ..]).assign(&j);
            if let Some(e) = e {
                embeddings.get_or_insert(e);
            }
            k0 = k1;
        }
        Ok(GradientBatch {
            embeddings: embeddings.unwrap_or_else(|| Array2::zeros((n, d))),
            maps,
        })
    }
}

impl GradientModel {
    /// An I/O binding with the images `x` bound (copied once to the provider's device).
    fn bind_images(&self, x: ArrayView4<'_, f32>) -> Result<ort::session::IoBinding, Error> {
        let err = ort_err(&self.info.path);
        self.check_images(x)?;
        let xt =
            ort::value::Tensor::from_array(x.as_standard_layout().into_owned()).map_err(&err)?;
        let mut binding = self.session.create_binding().map_err(&err)?;
        binding.bind_input("x", &xt).map_err(&err)?;
        Ok(binding)
    }

    /// One chunk through a binding from [`bind_images`](Self::bind_images): binds the cotangent
    /// rows and the outputs (the embedding only when `with_embedding`) to host memory and runs.
    fn run_bound(
        &mut self,
        binding: &mut ort::session::IoBinding,
        cotangent: Array2<f32>,
        with_embedding: bool,
    ) -> Result<(Option<Array2<f32>>, ArrayD<f32>), Error> {
        use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
        let path = self.info.path.clone();
        let err = ort_err(&path);
        let host = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::CPUOutput,
        )
        .map_err(&err)?;
        let cot = ort::value::Tensor::from_array(cotangent).map_err(&err)?;
        binding.bind_input("cotangent", &cot).map_err(&err)?;
        binding.clear_outputs();
        if with_embedding {
            binding
                .bind_output_to_device("embedding", &host)
                .map_err(&err)?;
        }
        binding
            .bind_output_to_device("jacobian", &host)
            .map_err(&err)?;
        let outputs = self.session.run_binding(binding).map_err(&err)?;
        let e = if with_embedding {
            Some(embedding_output(&path, &outputs["embedding"])?)
        } else {
            None
        };
        let j = extract_f32(&outputs["jacobian"]).map_err(&err)?;
        Ok((e, j))
    }
}

/// A gradient graph's `embedding` output as `[N, D]` f32.
fn embedding_output(path: &Path, value: &ort::value::DynValue) -> Result<Array2<f32>, Error> {
    extract_f32(value)
        .map_err(ort_err(path))?
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::Interface {
            path: path.to_path_buf(),
            reason: "embedding is not two-dimensional".into(),
        })
}

/// An output as f32: float32 as is, float16 (graphs that emit it) widened with `half`.
fn extract_f32(value: &ort::value::DynValue) -> Result<ArrayD<f32>, ort::Error> {
    match value.dtype().tensor_type() {
        Some(ort::value::TensorElementType::Float16) => Ok(value
            .try_extract_array::<half::f16>()?
            .mapv(half::f16::to_f32)),
        _ => Ok(value.try_extract_array::<f32>()?.to_owned()),
    }
}
