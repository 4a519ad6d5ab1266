//! xfv-batch runs an explanation over a list of pairs at scale: each distinct image goes through
//! the gradient graph once, pairs are the cheap combination, every pair ends as one JSON Lines
//! record, and a killed run resumes where it stopped.
//!
//! ```no_run
//! use xfv::Explainer;
//! use xfv_batch::{Batch, BatchOptions};
//! # fn main() -> Result<(), xfv_batch::Error> {
//! let mut opts = BatchOptions::new("out/batch");
//! opts.images_root = Some("data".into());
//! let batch = Batch::open(Explainer::builder("sface"), "pairs.csv".as_ref(), opts)?;
//! let summary = batch.run(|record| eprintln!("{} {:?}", record.row, record.decision))?;
//! assert_eq!(summary.run.gradient_passes <= 2 * summary.pairs, true);
//! # Ok(()) }
//! ```
//!
//! # Pipeline
//!
//! Three stages joined by bounded channels, so the slowest sets the pace: (1) decode, detect and
//! align on its own thread (its own detector session, [`xfv::Preparer`]); (2) the gradient graph
//! on one thread that owns the [`xfv::Explainer`] (ONNX Runtime's `Session::run` takes `&mut`);
//! (3) pair combination, panel rendering and PNG/NPY writing on the rayon pool
//! ([`xfv::PairWriter`]). The calling thread appends the records. The image order comes from
//! [`schedule::plan`]: at most `--memory` worth of per-image maps are held, dropped as soon as
//! their last pair is queued, evicted farthest-next-use first when the budget is full.
//!
//! # Output folder
//!
//! `results.jsonl` (one record per pair, see below), `pairs/<row:06>/` (what `xfv explain`
//! writes: `panel.png`, crops, raw `.npy` maps, `record.json`), `summary.json` ([`Summary`]),
//! `run.json` ([`RunInfo`]: list checksum, shard, model - checked by [`merge()`]) and
//! `index.html` (the gallery, [`gallery`]).
//!
//! # `results.jsonl` schema (version 1)
//!
//! One JSON object per line, one line per entry of the pair list (bad rows included), in the
//! order they finished (a merge writes row order):
//!
//! | key | type | when | meaning |
//! |---|---|---|---|
//! | `schema` | int | always | `1` |
//! | `row` | int | always | 0-based entry number in the list (header and blank lines not counted); the pair's id |
//! | `line` | int | always | 1-based line in the list file |
//! | `a`, `b` | string | always | paths as written in the list (lossy UTF-8); for a bad row `a` is the row's text and `b` is empty |
//! | `label` | 0 or 1 | labelled rows | 1 same person, 0 different |
//! | `status` | `"ok"` or `"error"` | always | |
//! | `score` | float | ok | cosine similarity of the L2-normalised embeddings |
//! | `threshold` | float | ok | cosine threshold held against |
//! | `decision` | `"accept"` or `"reject"` | ok | `score >= threshold` |
//! | `correct` | bool | ok and labelled | decision agrees with the label |
//! | `dir` | string | ok | the pair's folder relative to the output folder |
//! | `error` | object | error | `{kind, message, file?}`; `kind` is one of `columns`, `label`, `duplicate`, `image` (missing, unreadable, no face), `gradients`, `write` |
//! | `timings` | object | ok | `{combine_ms, write_ms}` for the pair itself (per-image costs are in the pair's `record.json` and in `summary.json`) |
//!
//! Absent keys are left out, not `null`. Each line is appended with one `write` and an `fsync`;
//! a killed run leaves at most a torn last line, which the next run cuts off. Recorded pairs
//! (ok or error) are not done again; delete `results.jsonl` to start over.
//!
//! # Shards
//!
//! `--shard I/N` takes the entries whose `row % N == I`; the shards of one list are disjoint and
//! together cover it, and [`merge()`] joins their folders.
#![deny(missing_docs)]

pub mod cache;
pub mod gallery;
mod merge;
pub mod pairs;
pub mod results;
mod run;
pub mod schedule;

use std::path::PathBuf;

pub use merge::merge;
pub use pairs::{Entry, EntryKind, Pair, PairFormat, PairList};
pub use results::{ErrorKind, Record, RecordError, RunStats, SCHEMA, Status, Summary};
pub use run::{Batch, BatchOptions, RunInfo};

/// `I/N`: this run takes the entries with `row % N == I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Offset I (0-based).
    pub index: usize,
    /// Count N (>= 1).
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether entry `row` belongs to this shard.
    pub fn contains(&self, row: usize) -> bool {
        row % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Shard { got: s.to_owned() };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Errors that stop a batch (a bad pair or image never does: it becomes an error record).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The pair list has no `a,b[,label]` header (nor LFW's count line).
    #[error("{}: the first line must be the header `a,b` or `a,b,label` (comma or tab), or LFW's pair count; got `{got}`", path.display())]
    PairsHeader {
        /// The list.
        path: PathBuf,
        /// The first line.
        got: String,
    },
    /// `--shard` is not `I/N` with `0 <= I < N`.
    #[error("shard must be I/N with 0 <= I < N, got `{got}`")]
    Shard {
        /// What was given.
        got: String,
    },
    /// Encoding a record or cache entry failed.
    #[error("cannot encode {}: {reason}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A JSON file of a batch output could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Outputs to merge (or an output to resume) come from different lists or models.
    #[error("{}: {key} is `{got}`, expected `{expected}`; only outputs of one pair list merge or resume (use a new output folder)", path.display())]
    MergeMismatch {
        /// The `run.json` that differs.
        path: PathBuf,
        /// Which field.
        key: &'static str,
        /// Value in the first input.
        expected: String,
        /// Value here.
        got: String,
    },
    /// The method has no per-image stage to cache (only FGGB is batched).
    #[error(
        "xfv batch runs --method fggb only (its per-image maps are what the batch caches); `{method}` needs both images at once: use xfv explain per pair"
    )]
    MethodNotBatched {
        /// The method asked for.
        method: &'static str,
    },
    /// Loading the model or writing files failed.
    #[error(transparent)]
    Xfv(#[from] xfv::Error),
    /// Writing an output file failed.
    #[error(transparent)]
    Report(#[from] xfv_report::Error),
    /// A model card could not be read.
    #[error(transparent)]
    Card(#[from] xfv_core::Error),
}
