//! [`ModelOracle`]: the model as the explanation methods see it (`xfv_explain::Oracle`), backed
//! by ONNX Runtime sessions: the FGGB gradient graph (`<name>.grad.onnx`, loaded at once), the
//! plain VJP graph (`<name>.absmean.onnx`, loaded on first use) and the inference model
//! (`<name>.onnx`, loaded on first use, for the forward passes of CorrRISE and the evaluation).

use std::path::PathBuf;

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayView4, Axis, Ix3, Ix4};
use xfv_core::ModelManifest;
use xfv_explain::{ImageGradients, Oracle, OracleError};
use xfv_runtime::{EmbeddingModel, EpRequest, GradientModel, Reduce, Runtime};

use crate::Error;

/// How the oracle makes plain forward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardPath {
    /// The inference model (`<name>.onnx`), then L2 normalisation (default: faster, measured in
    /// docs/evaluation.md).
    #[default]
    InferenceModel,
    /// The FGGB gradient graph with one zero cotangent row (K = 0 rows do not run: the graph's
    /// broadcasts need K >= 1); pays for one backward pass per batch.
    GradientGraph,
}

/// The sessions an [`Explainer`](crate::Explainer) opens on demand for the methods beyond FGGB:
/// the plain VJP graph and the inference model.
#[derive(Debug)]
pub struct ExtraSessions {
    rt: Runtime,
    ep: EpRequest,
    manifest: ModelManifest,
    vjp_path: PathBuf,
    vjp: Option<GradientModel>,
    model_path: PathBuf,
    model: Option<EmbeddingModel>,
    forward: ForwardPath,
    batch: usize,
}

impl ExtraSessions {
    /// Nothing opened yet; `vjp_path` and `model_path` are opened when first needed.
    pub fn new(
        rt: Runtime,
        ep: EpRequest,
        manifest: ModelManifest,
        vjp_path: PathBuf,
        model_path: PathBuf,
    ) -> Self {
        ExtraSessions {
            rt,
            ep,
            manifest,
            vjp_path,
            vjp: None,
            model_path,
            model: None,
            forward: ForwardPath::default(),
            batch: 32,
        }
    }

    /// Opens the plain VJP graph now (it must exist: `scripts/setup` exports it) and checks it
    /// against the card and the FGGB graph's source.
    pub fn load_vjp(&mut self, source_sha256: &str) -> Result<&mut GradientModel, Error> {
        if self.vjp.is_none() {
            if !self.vjp_path.is_file() {
                return Err(Error::ModelMissing {
                    path: self.vjp_path.clone(),
                });
            }
            let g = GradientModel::load(&self.rt, &self.vjp_path, &self.manifest, &self.ep)?;
            if g.metadata().reduce == Reduce::Fggb || g.metadata().source_sha256 != source_sha256 {
                return Err(xfv_runtime::Error::ManifestMismatch {
                    path: self.vjp_path.clone(),
                    key: "xfv.reduce / xfv.source_sha256".into(),
                    expected: format!("absmean or none, made from {source_sha256}"),
                    got: format!(
                        "{:?}, made from {}",
                        g.metadata().reduce,
                        g.metadata().source_sha256
                    ),
                }
                .into());
            }
            self.vjp = Some(g);
        }
        self.vjp.as_mut().ok_or(Error::ModelMissing {
            path: self.vjp_path.clone(),
        })
    }

    /// Opens the inference model now.
    pub fn load_model(&mut self) -> Result<&mut EmbeddingModel, Error> {
        if self.model.is_none() {
            if !self.model_path.is_file() {
                return Err(Error::ModelMissing {
                    path: self.model_path.clone(),
                });
            }
            self.model = Some(EmbeddingModel::load(
                &self.rt,
                &self.model_path,
                &self.manifest,
                &self.ep,
            )?);
        }
        self.model.as_mut().ok_or(Error::ModelMissing {
            path: self.model_path.clone(),
        })
    }

    /// Chooses the forward path.
    pub fn set_forward(&mut self, forward: ForwardPath) {
        self.forward = forward;
    }

    /// Images per forward batch (at least 1).
    pub fn set_batch_size(&mut self, batch: usize) {
        self.batch = batch.max(1);
    }
}

/// The model behind the explanation methods (see the module docs): the FGGB gradient graph and
/// the [`ExtraSessions`], borrowed for as long as the methods run.
#[derive(Debug)]
pub struct ModelOracle<'a> {
    fggb: &'a mut GradientModel,
    extra: &'a mut ExtraSessions,
}

impl<'a> ModelOracle<'a> {
    /// Borrows the sessions.
    pub fn new(fggb: &'a mut GradientModel, extra: &'a mut ExtraSessions) -> Self {
        ModelOracle { fggb, extra }
    }

    fn embed_impl(&mut self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, Error> {
        match self.extra.forward {
            ForwardPath::InferenceModel => {
                let mut e = self.extra.load_model()?.embed(x)?.values;
                for mut row in e.axis_iter_mut(Axis(0)) {
                    let n = row.dot(&row).sqrt().max(1e-12);
                    row.mapv_inplace(|v| v / n);
                }
                Ok(e)
            }
            ForwardPath::GradientGraph => {
                // one zero cotangent row: the graph cannot broadcast K = 0 rows
                let cot = Array2::<f32>::zeros((1, self.extra.manifest.embedding.dim));
                Ok(self.fggb.vjp(x, cot.view())?.0)
            }
        }
    }

    fn vjp_impl(
        &mut self,
        x: ArrayView3<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<Array3<f32>, Error> {
        let sha = self.fggb.metadata().source_sha256.clone();
        let g = self.extra.load_vjp(&sha)?;
        let path = g.info().path.clone();
        let reduce = g.metadata().reduce;
        let (_, j) = g.vjp(x.insert_axis(Axis(0)), cotangent)?;
        let bad = |what: &str| xfv_runtime::Error::Interface {
            path: path.clone(),
            reason: format!("jacobian is not {what}"),
        };
        let maps = if reduce == Reduce::None {
            // [1,K,3,H,W] -> mean over RGB of |.|
            let j = j
                .into_dimensionality::<ndarray::Ix5>()
                .map_err(|_| bad("[1,K,3,H,W]"))?;
            j.index_axis(Axis(0), 0)
                .mapv(f32::abs)
                .mean_axis(Axis(1))
                .ok_or_else(|| bad("non-empty"))?
        } else {
            let j = j
                .into_dimensionality::<Ix4>()
                .map_err(|_| bad("[1,K,H,W]"))?;
            j.index_axis_move(Axis(0), 0)
        };
        Ok(maps
            .into_dimensionality::<Ix3>()
            .map_err(|_| bad("[K,H,W]"))?)
    }

    fn fggb_impl(&mut self, x: ArrayView3<'_, f32>) -> Result<ImageGradients, Error> {
        let g = self.fggb.gradients(x.insert_axis(Axis(0)))?;
        Ok(ImageGradients::new(g.embedding(0), g.image_maps(0))?)
    }
}

impl Oracle for ModelOracle<'_> {
    fn dim(&self) -> usize {
        self.extra.manifest.embedding.dim
    }

    fn black(&self) -> [f32; 3] {
        let i = &self.extra.manifest.input;
        [0, 1, 2].map(|c| (0.0 - i.mean[c]) / i.std[c])
    }

    fn batch_size(&self) -> usize {
        self.extra.batch
    }

    fn embed(&mut self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, OracleError> {
        Ok(self.embed_impl(x)?)
    }

    fn vjp_absmean(
        &mut self,
        x: ArrayView3<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<Array3<f32>, OracleError> {
        Ok(self.vjp_impl(x, cotangent)?)
    }

    fn fggb_maps(&mut self, x: ArrayView3<'_, f32>) -> Result<ImageGradients, OracleError> {
        Ok(self.fggb_impl(x)?)
    }
}
