//! Atomic file writers: a reader never sees a half-written file.
//!
//! Each writer encodes fully in memory first (so an encoding error leaves nothing on disk), then
//! writes a hidden temporary file in the *same directory* as the target (a rename is only atomic
//! within one file system), `fsync`s it, and renames it over the target. On Unix the directory
//! is synced too, so the rename itself survives a crash. On any error the temporary file is
//! removed (tempfile's drop guard) and the error names the final path.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{ImageEncoder, RgbImage};
use serde::Serialize;

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
///
/// An existing file at `path` is replaced; the folder must exist.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = parent_dir(path);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "xfv".to_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{stem}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(&dir);
    tracing::debug!(path = %path.display(), bytes = bytes.len(), "wrote file atomically");
    Ok(())
}

/// Encodes `image` as PNG and writes it to `path` atomically.
pub fn write_png_atomic(path: &Path, image: &RgbImage) -> Result<()> {
    let bytes = encode_png(image).map_err(|reason| Error::Encode {
        path: path.to_path_buf(),
        reason,
    })?;
    write_bytes_atomic(path, &bytes)
}

/// Serialises `value` as pretty-printed JSON (with a final newline) and writes it to `path`
/// atomically. Accepts a `serde_json::Value` or any `Serialize` type.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_bytes_atomic(path, &bytes)
}

/// PNG bytes of an RGB8 image.
pub(crate) fn encode_png(image: &RgbImage) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The folder a path lives in; `.` for a bare file name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Best effort: make the rename durable. Failure is logged, not returned - the data itself is
/// already synced and in place.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "could not sync directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_leaves_only_the_complete_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("record.json");
        // replace an existing, longer file: the result must be exactly the new content
        std::fs::write(&path, vec![b'x'; 10_000]).expect("seed");
        let value = serde_json::json!({"score": 0.748, "decision": "accept"});
        write_json_atomic(&path, &value).expect("write json");
        assert_eq!(names_in(dir.path()), vec!["record.json".to_owned()]);
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("parse");
        assert_eq!(back, value);

        let png = dir.path().join("panel.png");
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        write_png_atomic(&png, &img).expect("write png");
        assert_eq!(
            names_in(dir.path()),
            vec!["panel.png".to_owned(), "record.json".to_owned()]
        );
        let decoded = image::open(&png).expect("decode").to_rgb8();
        assert_eq!(decoded, img);
    }

    #[test]
    fn failed_write_names_the_path_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-folder").join("x.json");
        let err = write_json_atomic(&path, &1).expect_err("folder does not exist");
        assert!(matches!(&err, Error::Io { path: p, .. } if p == &path));
        assert!(err.to_string().contains("missing-folder"), "{err}");
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn zero_sized_png_is_an_encode_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.png");
        match write_png_atomic(&path, &RgbImage::new(0, 0)) {
            Err(Error::Encode { path: p, .. }) => assert_eq!(p, path),
            Ok(()) => {
                // some png versions accept 0x0; then the file must at least be complete
                assert_eq!(names_in(dir.path()), vec!["empty.png".to_owned()]);
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        assert!(names_in(dir.path()).len() <= 1);
    }
}
