//! Image files to RGB8: format sniffing, bounded decode, EXIF orientation, grey/alpha/16-bit
//! conversion.

use std::io::{Cursor, Read};
use std::path::Path;

use image::error::{ImageFormatHint, UnsupportedErrorKind};
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use crate::Error;

/// Bounds on what [`decode_image_with`] accepts.
///
/// The upper bounds are checked against the file's header before any pixel buffer is allocated,
/// so a file that declares an absurd size fails fast with [`Error::TooLarge`] instead of
/// exhausting memory. The lower bound keeps inputs the detector cannot use (a 1x1 image) from
/// travelling further as a meaningless crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width and height in pixels (default 16384).
    pub max_side_px: u32,
    /// Largest accepted decoded size in bytes, in the file's own pixel format (default 1 GiB).
    /// Also handed to the decoders as their allocation limit.
    pub max_bytes: u64,
    /// Smallest accepted width and height in pixels (default 16).
    pub min_side_px: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_side_px: 16_384,
            max_bytes: 1 << 30,
            min_side_px: 16,
        }
    }
}

/// Decodes an image file to RGB8 with [`DecodeLimits::default`]. See [`decode_image_with`].
pub fn decode_image(path: &Path) -> Result<RgbImage, Error> {
    decode_image_with(path, &DecodeLimits::default())
}

/// Decodes an image file to RGB8, upright.
///
/// - The format is recognised from the content, not the file name (JPEG, PNG, WebP, BMP, TIFF,
///   PNM, GIF; the first frame of an animation).
/// - The EXIF orientation, when present, is applied, so the result is the image as a viewer
///   shows it; sizes and coordinates downstream refer to this upright image.
/// - Grey becomes three equal channels, 16-bit samples are scaled to 8 bits, and alpha is
///   dropped (transparent pixels keep their stored colour; nothing is composited).
///
/// Errors name the file: [`Error::Unreadable`], [`Error::NotAnImage`], [`Error::Truncated`],
/// [`Error::Decode`], [`Error::TooLarge`], [`Error::TooSmall`].
pub fn decode_image_with(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, Error> {
    let bytes = read_bounded(path, limits)?;
    let reader = ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|source| Error::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let Some(format) = reader.format() else {
        return Err(Error::NotAnImage {
            path: path.to_path_buf(),
            reason: "unrecognised content".into(),
        });
    };
    // The JPEG decoder fills a cut-off scan with grey instead of failing; a missing
    // end-of-image marker is how such a file shows itself.
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(&bytes) {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            reason: "JPEG data ends before its end-of-image marker".into(),
        });
    }
    let mut reader = reader;
    // Only the allocation bound goes to the decoder: the side bound is checked here, after the
    // header is read, so that the error can report the declared size.
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_bytes);
    reader.limits(image_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| classify(path, e, limits, None))?;
    let (width, height) = decoder.dimensions();
    let too_large = || Error::TooLarge {
        path: path.to_path_buf(),
        width: Some(width),
        height: Some(height),
        max_side_px: limits.max_side_px,
        max_bytes: limits.max_bytes,
    };
    if width > limits.max_side_px || height > limits.max_side_px {
        return Err(too_large());
    }
    if decoder.total_bytes() > limits.max_bytes {
        return Err(too_large());
    }
    if width < limits.min_side_px || height < limits.min_side_px {
        return Err(Error::TooSmall {
            path: path.to_path_buf(),
            width,
            height,
            min_px: limits.min_side_px,
        });
    }
    let orientation = match decoder.orientation() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable EXIF orientation, assuming upright");
            image::metadata::Orientation::NoTransforms
        }
    };
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| classify(path, e, limits, Some((width, height))))?;
    image.apply_orientation(orientation);
    tracing::debug!(path = %path.display(), ?format, width, height, ?orientation, "decoded");
    Ok(image.into_rgb8())
}

/// Maps the `image` crate's error to one naming the file and the kind of problem.
fn classify(path: &Path, e: ImageError, limits: &DecodeLimits, size: Option<(u32, u32)>) -> Error {
    let path = path.to_path_buf();
    match e {
        ImageError::Limits(_) => Error::TooLarge {
            path,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            max_side_px: limits.max_side_px,
            max_bytes: limits.max_bytes,
        },
        ImageError::IoError(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::Truncated {
                path,
                reason: source.to_string(),
            }
        }
        ImageError::IoError(source) => Error::Unreadable { path, source },
        ImageError::Unsupported(u)
            if matches!(
                u.kind(),
                UnsupportedErrorKind::Format(ImageFormatHint::Unknown)
            ) =>
        {
            Error::NotAnImage {
                path,
                reason: u.to_string(),
            }
        }
        ImageError::Decoding(d) if looks_truncated(&d.to_string()) => Error::Truncated {
            path,
            reason: d.to_string(),
        },
        other => Error::Decode {
            path,
            reason: other.to_string(),
        },
    }
}

/// Decoders report running out of data in their own words; these are the ones they use.
fn looks_truncated(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "eof",
        "end of file",
        "unexpected end",
        "truncated",
        "no more bytes",
        "not enough data",
        "not enough bytes",
        "exhausted",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// Reads the whole file, refusing files larger than `limits.max_bytes` (compressed data is
/// never larger than that for an image the limits accept).
fn read_bounded(path: &Path, limits: &DecodeLimits) -> Result<Vec<u8>, Error> {
    let unreadable = |source| Error::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            width: None,
            height: None,
            max_side_px: limits.max_side_px,
            max_bytes: limits.max_bytes,
        });
    }
    Ok(bytes)
}

/// True when a JPEG stream reaches an end-of-image marker (`FF D9`) after its first scan.
///
/// Walks the marker segments from the start (skipping APPn segments by their length, so an EXIF
/// thumbnail's own end marker is not mistaken for the image's) up to the first start-of-scan,
/// then looks for `FF D9` in the rest. Entropy-coded data never contains `FF D9` (a data `FF` is
/// stuffed as `FF 00`), so finding it means the scan data was not cut off.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD9 {
            return true;
        }
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if marker == 0xDA {
            let scan = bytes.get(i + 2 + len..).unwrap_or(&[]);
            return scan.windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_end_marker_is_found_after_the_scan_only() {
        // SOI, APP1 holding a thumbnail's FFD9, SOS, data, EOI.
        let app1 = [0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        let sos = [0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02];
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend_from_slice(&app1);
        jpeg.extend_from_slice(&sos);
        jpeg.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34]);
        assert!(!jpeg_has_end_marker(&jpeg));
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        assert!(jpeg_has_end_marker(&jpeg));
        assert!(!jpeg_has_end_marker(&[0xFF, 0xD8, 0x00]));
    }

    #[test]
    fn truncation_words_are_recognised() {
        assert!(looks_truncated(
            "I/O errors Not enough bytes, expected 162 but found 89"
        ));
        assert!(looks_truncated("unexpected EOF"));
        assert!(!looks_truncated("invalid Huffman table"));
    }
}
