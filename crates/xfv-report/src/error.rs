//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while turning maps into pictures and files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (for atomic writes: the final path, not the temporary one).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Encoding a picture or a record failed before anything was written.
    #[error("cannot encode {}: {reason}", path.display())]
    Encode {
        /// The file that was to be written.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
    /// A `.npy` file is not NumPy format 1.0/2.0/3.0 little-endian `float32`, or is truncated.
    #[error("cannot read {} as .npy float32: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Two things that must have the same shape do not (a map and its crop, two crops).
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Which array was wrong, e.g. `"similarity map of A"`.
        what: String,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape it has.
        got: Vec<usize>,
    },
    /// A display option is out of its range (e.g. an even blur kernel, alpha outside 0..=1).
    #[error("display option {name}: {reason}")]
    InvalidOption {
        /// The option's field name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
