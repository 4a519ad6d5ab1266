//! Dev-only helpers for xfv's tests: where the repository's models, photos and fixtures are, and
//! one rule for tests that need the real (fetched and converted) models.
//!
//! Real-model tests call [`real_models`]: when the setup has not run they are skipped with a
//! message, unless `XFV_REQUIRE_REAL=1` (set by `scripts/test`, which runs the setup first), in
//! which case a missing file fails the test instead of hiding it.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use xfv_core::{EmbeddingSpec, InputSpec, ModelManifest};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `models/` (cards, converted models).
pub fn models_dir() -> PathBuf {
    repo().join("models")
}

/// `data/` (photos fetched by the setup).
pub fn data_dir() -> PathBuf {
    repo().join("data")
}

/// `tests/fixtures/` (tiny committed ONNX models).
pub fn fixtures_dir() -> PathBuf {
    repo().join("tests").join("fixtures")
}

/// `tests/reference/` (small committed reference outputs).
pub fn reference_dir() -> PathBuf {
    repo().join("tests").join("reference")
}

/// True when the real models and photos must be present (`XFV_REQUIRE_REAL=1`).
pub fn real_required() -> bool {
    std::env::var("XFV_REQUIRE_REAL").is_ok_and(|v| v == "1")
}

/// Returns `paths` if all exist. Otherwise panics when [`real_required`], or returns `None` after
/// printing why the test is skipped.
pub fn real_models<const N: usize>(paths: [PathBuf; N]) -> Option<[PathBuf; N]> {
    let missing: Vec<_> = paths.iter().filter(|p| !p.exists()).collect();
    if missing.is_empty() {
        return Some(paths);
    }
    let msg = format!("missing {missing:?}: run scripts/setup first");
    assert!(!real_required(), "{msg} (XFV_REQUIRE_REAL=1)");
    eprintln!("skipped: {msg}");
    None
}

/// Maximum absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The manifest of a fixture model, read from its card `tests/fixtures/<name>.toml` (written by
/// `scripts/xfv_tools/fixtures.py`). Fixture cards have no source, converted file or alignment
/// table, so the template is all zeros: fixtures are only ever used as aligned crops.
pub fn fixture_manifest(name: &str) -> ModelManifest {
    #[derive(serde::Deserialize)]
    struct FixtureCard {
        name: String,
        input: InputSpec,
        embedding: EmbeddingSpec,
    }
    let path = fixtures_dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture card {}: {e}", path.display()));
    let card: FixtureCard =
        toml::from_str(&text).unwrap_or_else(|e| panic!("fixture card {}: {e}", path.display()));
    ModelManifest {
        name: card.name,
        input: card.input,
        embedding: card.embedding,
        template_px: [[0.0; 2]; 5],
    }
}
