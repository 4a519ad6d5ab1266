//! Runs xfv's ONNX models through ONNX Runtime on the execution provider the user asked for:
//! embeddings from a recognition model, raw outputs from the detector. The only crate that
//! depends on `ort`; no `ort` type appears in its public API.
//!
//! ```no_run
//! use xfv_runtime::{EmbeddingModel, EpRequest, Runtime, RuntimeOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let card = xfv_core::ModelCard::from_path("models/sface.toml".as_ref())?;
//! let rt = Runtime::new(RuntimeOptions::default())?;
//! let mut model = EmbeddingModel::load(&rt, &card.model_path(), &card.manifest()?, &EpRequest::cpu())?;
//! let crops = ndarray::Array4::<f32>::zeros((2, 3, 112, 112));
//! let emb = model.embed(crops.view())?;
//! assert_eq!(emb.values.dim(), (2, 128));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod ep;
mod gradient;
mod library;
mod model;

use std::path::{Path, PathBuf};

pub use ep::{
    CudaOptions, DimRange, EpRequest, ExecutionTarget, ProfileDim, ProfileInput, TensorRtOptions,
    TrtPrecision,
};
pub use gradient::{
    Binding, DEFAULT_CHUNK_ROWS, DEFAULT_IMAGES_PER_RUN, GRAPH_VERSION, GradientBatch,
    GradientModel, GraphMetadata, GraphPrecision, Reduce,
};
pub use library::{LIBRARY_FILE, LibraryError, SETUP_HINT, candidates as library_candidates};
pub use model::{DetectorModel, EmbeddingModel, ModelInfo};

/// Errors of the runtime crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// ONNX Runtime itself could not be loaded.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// A model file does not exist.
    #[error("model file {} does not exist; run `scripts/setup` to fetch and convert the models, or check the path", path.display())]
    ModelMissing {
        /// The file.
        path: PathBuf,
    },
    /// The execution provider is not part of this build.
    #[error(
        "execution provider `{ep}` is not compiled into this xfv build; rebuild with `--features {ep}` (and provide the GPU build of ONNX Runtime)"
    )]
    EpNotCompiled {
        /// Provider name.
        ep: &'static str,
    },
    /// The provider is compiled in but could not start for this model.
    #[error("execution provider `{ep}` could not start for {}: {reason}", path.display())]
    EpUnavailable {
        /// Provider (with device).
        ep: String,
        /// The model.
        path: PathBuf,
        /// What ONNX Runtime said.
        reason: String,
    },
    /// A tensor's shape is not what the model card says.
    #[error("{}: tensor `{tensor}` has shape {got:?}, expected {expected:?}", path.display())]
    ShapeMismatch {
        /// The model.
        path: PathBuf,
        /// Tensor name.
        tensor: String,
        /// Expected shape (-1 = any).
        expected: Vec<i64>,
        /// Actual shape.
        got: Vec<i64>,
    },
    /// A gradient graph's metadata disagrees with the model card.
    #[error("{}: metadata `{key}` is {got:?} but the model card says {expected:?}; re-export the gradient graph from this card (scripts/setup does)", path.display())]
    ManifestMismatch {
        /// The graph.
        path: PathBuf,
        /// Metadata key.
        key: String,
        /// The card's value.
        expected: String,
        /// The graph's value.
        got: String,
    },
    /// The graph's inputs/outputs are not the ones this kind of model has.
    #[error("{}: {reason}", path.display())]
    Interface {
        /// The model.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// ONNX Runtime reported an error while loading or running a model.
    #[error("ONNX Runtime, {}: {source}", path.display())]
    Ort {
        /// The model.
        path: PathBuf,
        /// ort's error.
        source: ort::Error,
    },
}

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Explicit ONNX Runtime library (`--ort-lib`); `None` searches as [`library_candidates`] lists.
    pub library: Option<PathBuf>,
    /// Threads ONNX Runtime may use inside one operator; set explicitly so ORT and rayon do not
    /// oversubscribe the cores. Default: the number of available cores.
    pub intra_threads: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            library: None,
            intra_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// A loaded ONNX Runtime: the library, its environment, and the session settings every model
/// shares.
#[derive(Clone)]
pub struct Runtime {
    library: PathBuf,
    env: ort::environment::Environment,
    intra_threads: usize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("intra_threads", &self.intra_threads)
            .finish()
    }
}

impl Runtime {
    /// Loads ONNX Runtime (once per process) and keeps the options.
    pub fn new(options: RuntimeOptions) -> Result<Self, Error> {
        let (library, env) = library::load(options.library.as_deref())?;
        Ok(Runtime {
            library,
            env,
            intra_threads: options.intra_threads.max(1),
        })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// ORT intra-op threads per session.
    pub fn intra_threads(&self) -> usize {
        self.intra_threads
    }
}
