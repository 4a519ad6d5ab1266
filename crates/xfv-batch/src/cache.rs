//! The optional on-disk cache of per-image results: `<dir>/<key>.xfvc`, where the key is the
//! sha256 of the image file's bytes, the gradient graph's sha256 and the preprocessing mode.
//! Maps are stored as f16 (half the size; about 3 significant digits, far below what a panel
//! shows), the embedding as f32, with the aligned crop and its origin so that a cached image
//! needs neither decoding nor the detector.
//!
//! File layout (little-endian): `XFVC1\n`, u32 header length, JSON header
//! `{dim, height, width, origin}`, `dim` f32 embedding, `dim*height*width` f16 maps,
//! `height*width*3` RGB8 crop. Written atomically; an unreadable entry is a miss.

use std::path::{Path, PathBuf};

use half::f16;
use ndarray::{Array1, Array3};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xfv_core::CropOrigin;
use xfv_explain::ImageGradients;
use xfv_preprocess::AlignedFace;

use crate::Error;

const MAGIC: &[u8] = b"XFVC1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    dim: usize,
    height: usize,
    width: usize,
    origin: CropOrigin,
}

/// A disk cache folder.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    salt: String,
}

impl DiskCache {
    /// Opens (creates) `dir`; `salt` identifies what the maps depend on besides the image
    /// (gradient graph checksum, mode).
    pub fn open(dir: &Path, salt: String) -> Result<DiskCache, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            salt,
        })
    }

    /// The entry file for an image's bytes.
    pub fn entry_path(&self, image_bytes: &[u8]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(image_bytes);
        h.update(b"\0");
        h.update(self.salt.as_bytes());
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.xfvc"))
    }

    /// Reads an entry; `None` when absent or unreadable. `path` becomes the origin's file.
    pub fn load(&self, entry: &Path, path: &Path) -> Option<(AlignedFace, ImageGradients)> {
        let bytes = std::fs::read(entry).ok()?;
        match decode(&bytes, path) {
            Some(v) => Some(v),
            None => {
                tracing::warn!(entry = %entry.display(), "unreadable cache entry; recomputing");
                None
            }
        }
    }

    /// Writes an entry atomically.
    pub fn store(
        &self,
        entry: &Path,
        face: &AlignedFace,
        grads: &ImageGradients,
    ) -> Result<(), Error> {
        let (height, width) = grads.map_size();
        let header = serde_json::to_vec(&Header {
            dim: grads.dim(),
            height,
            width,
            origin: face.origin.clone(),
        })
        .map_err(|e| Error::Encode {
            path: entry.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + grads.maps().len() * 2);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for v in grads.embedding() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in grads.maps() {
            out.extend_from_slice(&f16::from_f32(*v).to_le_bytes());
        }
        out.extend_from_slice(face.crop.as_raw());
        Ok(xfv_report::write_bytes_atomic(entry, &out)?)
    }
}

fn decode(bytes: &[u8], path: &Path) -> Option<(AlignedFace, ImageGradients)> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let header: Header = serde_json::from_slice(rest.get(4..4 + len)?).ok()?;
    let mut at = 4 + len;
    let (d, h, w) = (header.dim, header.height, header.width);
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = rest.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    let emb: Vec<f32> = take(&mut at, d * 4)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let maps: Vec<f32> = take(&mut at, d * h * w * 2)?
        .chunks_exact(2)
        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    let crop = take(&mut at, h * w * 3)?.to_vec();
    if at != rest.len() {
        return None;
    }
    let grads = ImageGradients::new(
        Array1::from(emb),
        Array3::from_shape_vec((d, h, w), maps).ok()?,
    )
    .ok()?;
    let crop = image::RgbImage::from_raw(w as u32, h as u32, crop)?;
    let mut origin = header.origin;
    origin.path = path.to_path_buf();
    Some((AlignedFace { crop, origin }, grads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_f16_close_and_corruption_is_a_miss() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = DiskCache::open(dir.path(), "graph:abc mode:aligned".into()).expect("open");
        let grads = ImageGradients::new(
            Array1::from(vec![0.6, 0.8]),
            Array3::from_shape_fn((2, 3, 4), |(k, y, x)| (k * 12 + y * 4 + x) as f32 * 0.013),
        )
        .expect("grads");
        let face = AlignedFace {
            crop: image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8, y as u8, 7])),
            origin: CropOrigin {
                path: "a.jpg".into(),
                image_size_px: [4, 3],
                detection: None,
                faces_found: 0,
                crop_to_image: None,
            },
        };
        let entry = cache.entry_path(b"image bytes");
        assert_ne!(entry, cache.entry_path(b"other bytes"));
        assert!(cache.load(&entry, Path::new("a.jpg")).is_none());
        cache.store(&entry, &face, &grads).expect("store");
        let (f2, g2) = cache.load(&entry, Path::new("b.jpg")).expect("hit");
        assert_eq!(f2.crop, face.crop);
        assert_eq!(f2.origin.path, Path::new("b.jpg"));
        assert_eq!(g2.embedding(), grads.embedding());
        for (x, y) in g2.maps().iter().zip(grads.maps()) {
            assert!((x - y).abs() <= y.abs() * 1e-3 + 1e-6, "{x} vs {y}");
        }
        let mut bytes = std::fs::read(&entry).expect("read");
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&entry, bytes).expect("write");
        assert!(cache.load(&entry, Path::new("a.jpg")).is_none());
    }
}
