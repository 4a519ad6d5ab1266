//! Judges explanation maps the way the FGGB paper does: deletion and insertion curves - the
//! probe perturbed by its map, the gallery fixed, verification accuracy at the clean EER
//! threshold as P% of the pixels go - for any method behind `xfv_explain::PairMethod`, on any
//! labelled pair set; tables (CSV/JSON) and plots (PNG).
//!
//! The evaluation never knows which method made a map; the model is reached through
//! `xfv_explain::Oracle`, so this crate has no runtime of its own.
//!
//! ```
//! use xfv_eval::metrics::{auc, eer};
//! let scores = [0.9, 0.7, 0.6, 0.4];
//! let genuine = [true, false, true, false];
//! let p = eer(&scores, &genuine)?;
//! assert_eq!(p.threshold, 0.7);
//! assert_eq!(auc(&scores, &genuine)?, 0.75);
//! # Ok::<(), xfv_eval::Error>(())
//! ```
#![deny(missing_docs)]

pub mod checkpoint;
pub mod metrics;
pub mod output;
pub mod pairs;
pub mod perturb;
pub mod plot;
pub mod run;

use std::path::PathBuf;

pub use checkpoint::{Checkpoint, PairScores};
pub use metrics::EerPoint;
pub use pairs::{Pair, read_pairs};
pub use perturb::Metric;
pub use run::{
    Curve, EvalOptions, Evaluation, IndexPair, MapKind, MethodTiming, PairSelection, Verification,
    evaluate,
};

/// Errors of the evaluation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A score list has only one class: no EER, no AUC.
    #[error(
        "the pair set needs genuine and impostor pairs; it has {genuine} genuine and {impostor} impostor"
    )]
    OneClass {
        /// Genuine pairs.
        genuine: usize,
        /// Impostor pairs.
        impostor: usize,
    },
    /// Two lists that go together differ in length.
    #[error("{what}: expected {expected}, got {got}")]
    LengthMismatch {
        /// Which lists.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// Images of different shapes in one batch.
    #[error("{what}: images of different shapes")]
    Shape {
        /// Which batch.
        what: &'static str,
    },
    /// A pairs file cannot be read.
    #[error("{}:{line}: {reason}", path.display())]
    PairsFile {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A method failed.
    #[error(transparent)]
    Explain(#[from] xfv_explain::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A results file or plot could not be written (atomically: nothing half-written is left).
    #[error(transparent)]
    Write(#[from] xfv_report::Error),
    /// A checkpoint file from a run with other inputs (model, pairs, threshold, options).
    #[error(
        "{}: a checkpoint of an evaluation with other inputs; choose another output folder, or delete the file to start over",
        path.display()
    )]
    CheckpointMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The results could not be serialised.
    #[error("results JSON: {reason}")]
    Json {
        /// Serializer message.
        reason: String,
    },
}
