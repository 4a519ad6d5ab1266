//! Finding a model by name or path, and checking that its file is the one its card describes.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use xfv_core::ModelCard;

use crate::Error;

/// The names of the models the setup fetches and converts.
pub const KNOWN_MODELS: [&str; 3] = ["sface", "mobilefacenet", "dlib"];

/// The folder holding model cards and converted models: `XFV_MODELS` if set, else `models/` in
/// the working directory if it holds cards, else the checkout this binary was built from.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XFV_MODELS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("models");
    if local.join("sface.toml").is_file() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// Resolves `--model`: a known name (`sface`), a card file (`x.toml`), or a converted ONNX file
/// with its card beside it (`x.onnx` + `x.toml`).
pub fn resolve_card(model: &str, models_dir: &Path) -> Result<ModelCard, Error> {
    let as_path = Path::new(model);
    let card_path = if model.ends_with(".toml") {
        as_path.to_path_buf()
    } else if model.ends_with(".onnx") {
        let card = as_path.with_extension("toml");
        if !card.is_file() {
            return Err(Error::CardMissing {
                model: model.to_string(),
                looked_at: card,
            });
        }
        card
    } else {
        models_dir.join(format!("{model}.toml"))
    };
    if !card_path.is_file() {
        return Err(Error::CardMissing {
            model: model.to_string(),
            looked_at: card_path,
        });
    }
    Ok(ModelCard::from_path(&card_path)?)
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The card's converted model file, after checking it exists and has the card's sha256.
pub fn checked_model_file(card: &ModelCard) -> Result<PathBuf, Error> {
    let path = card.model_path();
    if !path.is_file() {
        return Err(Error::ModelMissing { path });
    }
    let got = sha256_file(&path)?;
    if got != card.converted.sha256 {
        return Err(Error::ModelChecksum {
            path,
            expected: card.converted.sha256.clone(),
            got,
        });
    }
    Ok(path)
}
