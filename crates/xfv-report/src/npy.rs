//! Raw maps as NumPy `.npy` files, so Python users get the numbers the pictures were made from.
//!
//! Written format: NumPy format version 1.0, `descr` `'<f4'` (little-endian float32), C order.
//! The header is the magic `\x93NUMPY`, version bytes `1 0`, a little-endian `u16` header length,
//! and an ASCII Python dict literal padded with spaces and ended by `\n` so that the data starts
//! at a multiple of 64 bytes (the format's alignment rule). Non-standard-layout views (sliced,
//! transposed) are written in logical C order.
//!
//! The reader accepts versions 1.0, 2.0 and 3.0, `<f4` in C or Fortran order.

use std::path::Path;

use ndarray::{ArrayD, ArrayView, Dimension, IxDyn, ShapeBuilder};

use crate::atomic::write_bytes_atomic;
use crate::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Data offset alignment required by the format.
const ALIGN: usize = 64;

/// Writes `array` (any dimension: `ArrayView2`, `ArrayViewD`, ...) to `path` as a NumPy 1.0
/// `<f4` C-order `.npy` file, atomically.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("similarity_a.npy");
/// let map = ndarray::Array2::<f32>::from_shape_fn((4, 3), |(y, x)| (y * 3 + x) as f32);
/// xfv_report::write_npy_f32(&path, map.view())?;
/// let back = xfv_report::read_npy_f32(&path)?;
/// assert_eq!(back, map.into_dyn());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_npy_f32<D: Dimension>(path: &Path, array: ArrayView<'_, f32, D>) -> Result<()> {
    let header = npy_header(array.shape());
    let mut bytes = Vec::with_capacity(header.len() + array.len() * 4);
    bytes.extend_from_slice(&header);
    // `iter` walks in logical (row-major) order whatever the memory layout.
    for v in array.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_bytes_atomic(path, &bytes)
}

/// The magic, version and padded header dict for a C-order `<f4` array of `shape`.
fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // magic(6) + version(2) + len(2) + dict + '\n' must be a multiple of ALIGN
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The dict of a float32 array stays far below u16::MAX bytes for any realistic rank.
    let len = u16::try_from(dict.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Reads a `.npy` file holding little-endian float32 data into an array of its stored shape.
pub fn read_npy_f32(path: &Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy_f32(&bytes).map_err(|reason| Error::Npy {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse_npy_f32(bytes: &[u8]) -> std::result::Result<ArrayD<f32>, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let b = bytes.get(8..12).ok_or("truncated header length")?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(n).map_err(|_| "header too long")?, 12)
        }
        _ => return Err(format!("unsupported format version {major}.{minor}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("no 'descr' in header")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    if descr != "<f4" {
        return Err(format!(
            "dtype {descr} is not supported (only '<f4', little-endian float32)"
        ));
    }
    let fortran = match dict_value(header, "fortran_order").ok_or("no 'fortran_order'")? {
        "False" => false,
        "True" => true,
        other => return Err(format!("bad fortran_order {other}")),
    };
    let shape_text = dict_value(header, "shape").ok_or("no 'shape' in header")?;
    let shape = parse_shape(shape_text)?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    let data = &bytes[start + header_len..];
    let need = count.checked_mul(4).ok_or("shape overflows")?;
    if data.len() != need {
        return Err(format!(
            "expected {need} data bytes for shape {shape:?}, found {}",
            data.len()
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let dim = IxDyn(&shape);
    let array = if fortran {
        ArrayD::from_shape_vec(dim.f(), values)
    } else {
        ArrayD::from_shape_vec(dim, values)
    };
    array.map_err(|e| e.to_string())
}

/// The raw text of `key`'s value in a Python dict literal such as NumPy writes: a quoted string,
/// a bare word, or a parenthesised tuple.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let at = quoted
        .iter()
        .find_map(|q| header.find(q.as_str()).map(|i| i + q.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = match rest.chars().next()? {
        '(' => rest.find(')')? + 1,
        q @ ('\'' | '"') => rest[1..].find(q)? + 2,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

fn parse_shape(text: &str) -> std::result::Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("shape {text} is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?} in shape {text}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3, ShapeBuilder, s};

    use super::*;

    #[test]
    fn header_is_padded_to_64_bytes_and_ends_with_newline() {
        for shape in [
            &[][..],
            &[5],
            &[112, 112],
            &[2, 150, 150],
            &[1, 2, 3, 4, 5, 6, 7],
        ] {
            let h = npy_header(shape);
            assert_eq!(h.len() % 64, 0, "{shape:?}");
            assert_eq!(h.last(), Some(&b'\n'));
            let len = usize::from(u16::from_le_bytes([h[8], h[9]]));
            assert_eq!(len + 10, h.len());
        }
        let h = npy_header(&[112, 112]);
        let text = std::str::from_utf8(&h[10..]).expect("ascii");
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (112, 112), }")
        );
        assert!(String::from_utf8_lossy(&npy_header(&[5])).contains("'shape': (5,)"));
    }

    #[test]
    fn round_trip_2d_3d_and_non_contiguous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.npy");
        let a = Array2::from_shape_fn((5, 7), |(y, x)| y as f32 * 0.5 - x as f32 * 1e-3);
        write_npy_f32(&p, a.view()).expect("write");
        assert_eq!(read_npy_f32(&p).expect("read"), a.clone().into_dyn());

        let t = a.t();
        write_npy_f32(&p, t).expect("write transposed");
        assert_eq!(read_npy_f32(&p).expect("read"), t.to_owned().into_dyn());

        let c = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 100 + j * 10 + k) as f32);
        let sl = c.slice(s![.., ..;2, 1..]);
        write_npy_f32(&p, sl.into_dyn()).expect("write sliced dyn");
        assert_eq!(read_npy_f32(&p).expect("read"), sl.to_owned().into_dyn());
    }

    /// A version-1.0 file with a hand-written header dict.
    fn npy_bytes(dict: &str, values: &[f32]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header = dict.to_owned();
        while (10 + header.len() + 1) % 64 > 0 {
            header.push(' ');
        }
        header.push('\n');
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn reads_fortran_order_and_rejects_other_dtypes() {
        let values = [0f32, 3., 1., 4., 2., 5.];
        let bytes = npy_bytes(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &values,
        );
        let a = parse_npy_f32(&bytes).expect("parse");
        let want = Array2::from_shape_vec((2, 3).f(), values.to_vec())
            .expect("shape")
            .into_dyn();
        assert_eq!(a, want);
        assert_eq!(a[[0, 1]], 1.0);

        let f8 = npy_bytes(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
            &values,
        );
        let err = parse_npy_f32(&f8).expect_err("f8 is not f4");
        assert!(err.contains("<f8"), "{err}");
        assert!(
            parse_npy_f32(&bytes[..bytes.len() - 1]).is_err(),
            "truncated data"
        );
        assert!(parse_npy_f32(&bytes[..20]).is_err(), "truncated header");
        assert!(parse_npy_f32(b"not numpy at all").is_err());
    }
}
