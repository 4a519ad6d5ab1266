//! xfv's facade: the pipeline that wires the stages - image files -> aligned crops
//! (`xfv-preprocess`) -> embeddings (`xfv-runtime`) -> score and decision (`xfv-core`). The CLI,
//! the tests and the benches call this crate, not the stages one by one.
//!
//! ```no_run
//! use xfv::{Verifier, prelude::*};
//! # fn main() -> Result<(), xfv::Error> {
//! let mut v = Verifier::builder("sface").ep(EpRequest::cpu()).build()?;
//! let report = v.verify("data/obama/obama.jpg".as_ref(), "data/obama/obama2.jpg".as_ref())?;
//! println!("{} {:.3} -> {}", report.model, report.verdict.score, report.verdict.decision);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bench;
mod choice;
mod explain;
mod models;
mod oracle;
mod verify;

use std::path::PathBuf;

pub use bench::{
    BenchOptions, BenchReport, Comparison as BenchComparison, SgemmCeiling, StageMedians, Stats,
    Workload, compare as compare_bench, cpu_description, load_avg, peak_rss_mb, read_report,
    run_bench, sgemm_gflops,
};
pub use explain::{
    ExplainOutcome, ExplainRecord, ExplainTimings, Explainer, ExplainerBuilder, MapFiles,
    PairWriter, Preparer, WrittenFiles, cosine_threshold, gradient_graph_path,
    gradient_graph_path_for, vjp_graph_path,
};
pub use models::{KNOWN_MODELS, checked_model_file, default_models_dir, resolve_card, sha256_file};
pub use oracle::{ExtraSessions, ForwardPath, ModelOracle};
pub use verify::{ImageEmbedding, StageTimings, Verifier, VerifierBuilder, VerifyReport};
pub use xfv_explain::corrrise::CorrRiseOptions;

/// The types most users need.
pub mod prelude {
    pub use xfv_core::{Comparison, Decision, ModelCard, ModelManifest, Verdict};
    pub use xfv_explain::{Method, PairExplanation};
    pub use xfv_preprocess::Mode;
    pub use xfv_report::DisplayOptions;
    pub use xfv_runtime::{
        CudaOptions, DimRange, EpRequest, ExecutionTarget, GraphPrecision, RuntimeOptions,
        TensorRtOptions, TrtPrecision,
    };
}

/// Errors of the pipeline: each names the file it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a model card failed.
    #[error(transparent)]
    Card(#[from] xfv_core::Error),
    /// Loading or running a model failed.
    #[error(transparent)]
    Runtime(#[from] xfv_runtime::Error),
    /// Explanation inputs of inconsistent shapes.
    #[error(transparent)]
    Explain(#[from] xfv_explain::Error),
    /// Writing pictures or files failed.
    #[error(transparent)]
    Report(#[from] xfv_report::Error),
    /// An image could not be turned into a crop.
    #[error(transparent)]
    Preprocess(#[from] xfv_preprocess::Error),
    /// `--model` names no card.
    #[error("no model card for `{model}` (looked at {}); known models: sface, mobilefacenet, dlib, or pass a card .toml / an .onnx with its .toml beside it", looked_at.display())]
    CardMissing {
        /// What the user asked for.
        model: String,
        /// Where the card should have been.
        looked_at: PathBuf,
    },
    /// The card's converted model file is absent.
    #[error("model file {} does not exist; run `scripts/setup` to fetch and convert the models (`scripts/setup --fp16` for the fp16 gradient graphs)", path.display())]
    ModelMissing {
        /// The file.
        path: PathBuf,
    },
    /// The converted model file is not the one its card describes.
    #[error("model file {} has sha256 {got}, its card says {expected}: the file is corrupted or from another conversion; delete it and run `scripts/setup`", path.display())]
    ModelChecksum {
        /// The file.
        path: PathBuf,
        /// sha256 in the card.
        expected: String,
        /// sha256 of the file.
        got: String,
    },
    /// A benchmark run could not be set up (`xfv bench`).
    #[error("benchmark: {reason}")]
    Bench {
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
}
