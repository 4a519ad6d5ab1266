//! Sessions for the model kinds xfv runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayView4, Ix2};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use xfv_core::{Embeddings, InputSpec, ModelManifest};

use crate::ep::ProfileInput;
use crate::{EpRequest, Error, ExecutionTarget, Runtime};

/// Facts about a loaded model, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    /// The model file.
    pub path: PathBuf,
    /// The execution provider that really runs it.
    pub ep: ExecutionTarget,
    /// True when the provider is not the first one requested (a fallback happened).
    pub fell_back: bool,
    /// ORT intra-op threads.
    pub intra_threads: usize,
    /// Input names and shapes (-1 = dynamic).
    pub inputs: Vec<(String, Vec<i64>)>,
    /// Output names and shapes (-1 = dynamic).
    pub outputs: Vec<(String, Vec<i64>)>,
}

pub(crate) fn ort_err(path: &Path) -> impl Fn(ort::Error) -> Error + '_ {
    move |source| Error::Ort {
        path: path.to_path_buf(),
        source,
    }
}

fn outlet_shapes(outlets: &[ort::value::Outlet]) -> Vec<(String, Vec<i64>)> {
    outlets
        .iter()
        .map(|o| {
            let shape = o
                .dtype()
                .tensor_shape()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            (o.name().to_string(), shape)
        })
        .collect()
}

/// Opens a session on the first target of `request` that starts. With one target, its failure is
/// the error; with several, failures are logged and the next is tried.
/// What a session's leading dynamic axis means for TensorRT's optimisation profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchAxis {
    /// An image batch N (and the cotangent rows K of a gradient graph): the configured ranges.
    Ranged,
    /// One image per run (the detector).
    Single,
}

/// Opens `path` on the first provider of `request` that starts. When TensorRT is among them, the
/// graph's declared inputs are read first (a CPU session without optimisations) and turned into
/// optimisation profiles ([`ProfileInput::from_declared`]), so every session kind - recognition,
/// gradient graph, detector - gets an engine built for the shapes it will run.
pub(crate) fn open_session(
    rt: &Runtime,
    path: &Path,
    request: &EpRequest,
    batch: BatchAxis,
) -> Result<(Session, ModelInfo), Error> {
    let wants_trt = request
        .targets
        .iter()
        .any(|t| matches!(t, ExecutionTarget::TensorRt(_)));
    let profile = if wants_trt && path.is_file() {
        let declared = declared_inputs(rt, path)?;
        ProfileInput::from_declared(&declared, batch == BatchAxis::Single).map_err(|reason| {
            Error::Interface {
                path: path.to_path_buf(),
                reason,
            }
        })?
    } else {
        Vec::new()
    };
    open_session_profiled(rt, path, request, &profile)
}

/// The graph's input names and declared shapes (-1 = dynamic), read by a CPU session that skips
/// graph optimisation.
fn declared_inputs(rt: &Runtime, path: &Path) -> Result<Vec<(String, Vec<i64>)>, Error> {
    let err = ort_err(path);
    let session = Session::builder(&rt.env)
        .map_err(&err)?
        .with_optimization_level(GraphOptimizationLevel::Disable)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(1)
        .map_err(|e| err(e.into()))?
        .commit_from_file(path)
        .map_err(&err)?;
    Ok(outlet_shapes(session.inputs()))
}

/// [`open_session`] with the graph's inputs and dynamic axes for TensorRT optimisation profiles.
pub(crate) fn open_session_profiled(
    rt: &Runtime,
    path: &Path,
    request: &EpRequest,
    profile: &[ProfileInput],
) -> Result<(Session, ModelInfo), Error> {
    if !path.is_file() {
        return Err(Error::ModelMissing {
            path: path.to_path_buf(),
        });
    }
    let mut last_err = None;
    for (i, target) in request.targets.iter().enumerate() {
        match open_on(rt, path, target, profile) {
            Ok(session) => {
                if i > 0 {
                    tracing::warn!(
                        model = %path.display(),
                        ep = %target,
                        requested = %request.targets[0],
                        "falling back to another execution provider"
                    );
                }
                let info = ModelInfo {
                    path: path.to_path_buf(),
                    ep: target.clone(),
                    fell_back: i > 0,
                    intra_threads: rt.intra_threads,
                    inputs: outlet_shapes(session.inputs()),
                    outputs: outlet_shapes(session.outputs()),
                };
                return Ok((session, info));
            }
            Err(e) if request.allows_fallback() && i + 1 < request.targets.len() => {
                tracing::warn!(model = %path.display(), ep = %target, error = %e, "execution provider did not start");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or(Error::EpNotCompiled { ep: "none" }))
}

fn open_on(
    rt: &Runtime,
    path: &Path,
    target: &ExecutionTarget,
    profile: &[ProfileInput],
) -> Result<Session, Error> {
    let dispatch = target.dispatch(profile)?;
    let err = ort_err(path);
    let mut builder = Session::builder(&rt.env)
        .map_err(&err)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(rt.intra_threads)
        .map_err(|e| err(e.into()))?;
    if let Some(d) = dispatch {
        builder = builder
            .with_execution_providers([d])
            .map_err(|e| Error::EpUnavailable {
                ep: target.to_string(),
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
    }
    builder.commit_from_file(path).map_err(|e| {
        if matches!(target, ExecutionTarget::Cpu) {
            err(e)
        } else {
            Error::EpUnavailable {
                ep: target.to_string(),
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        }
    })
}

/// Checks a declared shape against an expected one (-1 in `expected` or `got` = any).
pub(crate) fn check_shape(
    path: &Path,
    tensor: &str,
    expected: &[i64],
    got: &[i64],
) -> Result<(), Error> {
    let ok = expected.len() == got.len()
        && expected
            .iter()
            .zip(got)
            .all(|(e, g)| *e < 0 || *g < 0 || e == g);
    if ok {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

fn input_shape(spec: &InputSpec) -> [i64; 4] {
    [-1, 3, i64::from(spec.height_px), i64::from(spec.width_px)]
}

/// A recognition model: crops `[N, 3, H, W]` in, raw embeddings `[N, D]` out.
pub struct EmbeddingModel {
    session: Session,
    info: ModelInfo,
    input: String,
    output: String,
    manifest: ModelManifest,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("info", &self.info)
            .finish()
    }
}

impl EmbeddingModel {
    /// Opens `path` and checks it has one image input and one embedding output of the sizes the
    /// manifest states.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        manifest: &ModelManifest,
        request: &EpRequest,
    ) -> Result<Self, Error> {
        let (session, info) = open_session(rt, path, request, BatchAxis::Ranged)?;
        if info.inputs.len() != 1 || info.outputs.is_empty() {
            return Err(Error::Interface {
                path: path.to_path_buf(),
                reason: format!(
                    "a recognition model has one input and an embedding output; this graph has inputs {:?} and outputs {:?}",
                    info.inputs, info.outputs
                ),
            });
        }
        let (input, in_shape) = info.inputs[0].clone();
        check_shape(path, &input, &input_shape(&manifest.input), &in_shape)?;
        let (output, out_shape) = info.outputs[0].clone();
        check_shape(
            path,
            &output,
            &[-1, manifest.embedding.dim as i64],
            &out_shape,
        )?;
        Ok(EmbeddingModel {
            session,
            info,
            input,
            output,
            manifest: manifest.clone(),
        })
    }

    /// Facts for reports (EP actually used, shapes).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Raw embeddings of a batch of crops (already scaled per the manifest).
    pub fn embed(&mut self, crops: ArrayView4<'_, f32>) -> Result<Embeddings, Error> {
        let path = self.info.path.clone();
        let err = ort_err(&path);
        let expected = input_shape(&self.manifest.input);
        let got: Vec<i64> = crops.shape().iter().map(|d| *d as i64).collect();
        check_shape(&path, &self.input, &expected, &got)?;
        let crops = crops.as_standard_layout();
        let tensor = TensorRef::from_array_view(&crops).map_err(&err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(&err)?;
        let values = outputs[self.output.as_str()]
            .try_extract_array::<f32>()
            .map_err(&err)?
            .to_owned();
        let values = values
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::Interface {
                path: path.clone(),
                reason: format!("output `{}` is not two-dimensional", self.output),
            })?;
        let n = crops.shape()[0];
        check_shape(
            &path,
            &self.output,
            &[n as i64, self.manifest.embedding.dim as i64],
            &[values.nrows() as i64, values.ncols() as i64],
        )?;
        Ok(Embeddings { values })
    }
}

/// A detector: one `[1, 3, H, W]` tensor in, its named outputs out (decoding lives in
/// `xfv-preprocess`).
pub struct DetectorModel {
    session: Session,
    info: ModelInfo,
    input: String,
    spec: InputSpec,
}

impl std::fmt::Debug for DetectorModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorModel")
            .field("info", &self.info)
            .finish()
    }
}

impl DetectorModel {
    /// Opens a detector graph with one image input of the card's size.
    pub fn load(
        rt: &Runtime,
        path: &Path,
        spec: &InputSpec,
        request: &EpRequest,
    ) -> Result<Self, Error> {
        let (session, info) = open_session(rt, path, request, BatchAxis::Single)?;
        if info.inputs.len() != 1 {
            return Err(Error::Interface {
                path: path.to_path_buf(),
                reason: format!("a detector has one input; this graph has {:?}", info.inputs),
            });
        }
        let (input, shape) = info.inputs[0].clone();
        check_shape(path, &input, &input_shape(spec), &shape)?;
        Ok(DetectorModel {
            session,
            info,
            input,
            spec: spec.clone(),
        })
    }

    /// Facts for reports.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Runs the detector and returns every output by name.
    pub fn run(
        &mut self,
        input: ArrayView4<'_, f32>,
    ) -> Result<HashMap<String, ArrayD<f32>>, Error> {
        let path = self.info.path.clone();
        let err = ort_err(&path);
        let got: Vec<i64> = input.shape().iter().map(|d| *d as i64).collect();
        check_shape(&path, &self.input, &input_shape(&self.spec), &got)?;
        let input = input.as_standard_layout();
        let tensor = TensorRef::from_array_view(&input).map_err(&err)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(&err)?;
        let mut out = HashMap::new();
        for (name, value) in outputs.iter() {
            let arr = value.try_extract_array::<f32>().map_err(&err)?.to_owned();
            out.insert(name.to_string(), arr);
        }
        Ok(out)
    }
}
