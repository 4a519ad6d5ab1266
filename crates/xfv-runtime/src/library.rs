//! Finding and loading the ONNX Runtime shared library (`load-dynamic`).
//!
//! The library is not linked: `scripts/setup` unpacks `libonnxruntime.so.1.31.1` from the PyPI
//! `onnxruntime==1.31.1` wheel into `.xfv/lib/`, and this module finds it, in order:
//! 1. an explicit path (`xfv --ort-lib PATH`);
//! 2. the `ORT_DYLIB_PATH` environment variable (set by `.cargo/config.toml` for `cargo run` and
//!    `cargo test`); a relative value is tried against the executable's folder, then the working
//!    directory;
//! 3. the absolute path `.cargo/config.toml` gave at compile time, so an installed binary built
//!    from this checkout keeps finding the checkout's library;
//! 4. beside the executable, and in `../lib` next to it (for a packaged install).
//!
//! A missing or unusable library is an [`Error`](crate::Error) that says which command fixes it;
//! `ort::init()` (which panics) is never used.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why ONNX Runtime could not be loaded. Every message ends with the command that fixes it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// No candidate path holds a file.
    #[error(
        "the ONNX Runtime library was not found (tried: {}); {SETUP_HINT}",
        list(tried)
    )]
    Missing {
        /// Paths tried, in order.
        tried: Vec<PathBuf>,
    },
    /// The file exists but is not a usable ONNX Runtime (wrong file, wrong version, broken).
    #[error("the ONNX Runtime library {} cannot be used: {reason}; {SETUP_HINT}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What ONNX Runtime or the loader said.
        reason: String,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file name `scripts/setup` installs.
pub const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// What to tell a user whose library is missing or wrong.
pub const SETUP_HINT: &str = "run `scripts/setup` from the xfv checkout (it unpacks libonnxruntime.so.1.31.1 from the onnxruntime==1.31.1 wheel into .xfv/lib/), or pass --ort-lib PATH / set ORT_DYLIB_PATH";

/// Candidate paths, in the order they are tried.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push(p.to_path_buf());
        return out;
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(v) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(v);
        if let (true, Some(d)) = (p.is_relative(), &exe_dir) {
            out.push(d.join(&p));
        }
        out.push(p);
    }
    if let Some(compiled) = option_env!("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(compiled));
    }
    if let Some(d) = &exe_dir {
        out.push(d.join(LIBRARY_FILE));
        out.push(d.join("..").join("lib").join(LIBRARY_FILE));
    }
    out.dedup();
    out
}

type Loaded = Result<(PathBuf, ort::environment::Environment), LibraryError>;
static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns the library path and the ORT environment.
///
/// The first call decides: ONNX Runtime cannot be unloaded or swapped within a process, so a
/// later call with another `explicit` path gets the first result.
pub(crate) fn load(explicit: Option<&Path>) -> Loaded {
    let res = LOADED.get_or_init(|| {
        let tried = candidates(explicit);
        let Some(path) = tried.iter().find(|p| p.is_file()).cloned() else {
            return Err(LibraryError::Missing { tried });
        };
        let invalid = |reason: String| LibraryError::Invalid {
            path: path.clone(),
            reason,
        };
        let builder = ort::init_from(&path).map_err(|e| invalid(e.to_string()))?;
        let env = builder
            .with_name("xfv")
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
        Ok((path, env))
    });
    res.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_is_the_only_candidate() {
        let c = candidates(Some(Path::new("/x/libonnxruntime.so")));
        assert_eq!(c, vec![PathBuf::from("/x/libonnxruntime.so")]);
    }

    #[test]
    fn default_candidates_end_beside_the_executable() {
        let c = candidates(None);
        let last = c.last().expect("some candidate");
        assert!(
            last.ends_with(Path::new("lib").join(LIBRARY_FILE)),
            "{last:?}"
        );
    }
}
