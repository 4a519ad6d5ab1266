//! Decoding: formats, pixel types, EXIF orientation, and every documented error.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba};
use xfv_preprocess::{DecodeLimits, Error, decode_image, decode_image_with};

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut buf), format)
        .expect("encode");
    buf
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// A grey ramp, so that every conversion has a known RGB answer.
fn ramp(x: u32, y: u32) -> u8 {
    ((x * 7 + y * 3) % 256) as u8
}

#[test]
fn grey_grey_alpha_rgba_and_16_bit_pngs_decode_to_the_same_rgb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (32, 24);
    let want = RgbImage::from_fn(w, h, |x, y| Rgb([ramp(x, y); 3]));
    let variants: Vec<(&str, DynamicImage)> = vec![
        ("rgb8", DynamicImage::ImageRgb8(want.clone())),
        (
            "l8",
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |x, y| Luma([ramp(x, y)]))),
        ),
        (
            "la8",
            DynamicImage::ImageLumaA8(ImageBuffer::from_fn(w, h, |x, y| {
                LumaA([ramp(x, y), (x * 8) as u8])
            })),
        ),
        (
            "rgba8",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| {
                Rgba([ramp(x, y), ramp(x, y), ramp(x, y), 17])
            })),
        ),
        (
            "l16",
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(w, h, |x, y| {
                Luma([u16::from(ramp(x, y)) * 257])
            })),
        ),
        (
            "rgb16",
            DynamicImage::ImageRgb16(ImageBuffer::from_fn(w, h, |x, y| {
                Rgb([u16::from(ramp(x, y)) * 257; 3])
            })),
        ),
    ];
    for (name, image) in variants {
        let path = write(
            dir.path(),
            &format!("{name}.png"),
            &encode(&image, ImageFormat::Png),
        );
        let got = decode_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn other_formats_decode_by_content_not_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want = RgbImage::from_fn(20, 20, |x, y| Rgb([ramp(x, y), 255 - ramp(x, y), 9]));
    let image = DynamicImage::ImageRgb8(want.clone());
    for format in [
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::Pnm,
        ImageFormat::WebP,
    ] {
        // A misleading extension: the content decides.
        let path = write(
            dir.path(),
            &format!("{format:?}.jpg"),
            &encode(&image, format),
        );
        let got = decode_image(&path).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(got, want, "{format:?}");
    }
}

/// An EXIF APP1 segment (big-endian TIFF) holding only the orientation tag.
fn exif_app1(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a".to_vec();
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 offset
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    seg.extend_from_slice(&payload);
    seg
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 64x32: left half red, right half blue.
    let stored = RgbImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let jpeg = encode(&DynamicImage::ImageRgb8(stored), ImageFormat::Jpeg);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut tagged = jpeg[..2].to_vec();
    tagged.extend_from_slice(&exif_app1(6)); // 6: rotate 90 degrees clockwise to view
    tagged.extend_from_slice(&jpeg[2..]);
    let path = write(dir.path(), "rotated.jpg", &tagged);
    let got = decode_image(&path).expect("decode");
    assert_eq!(got.dimensions(), (32, 64), "width and height swap");
    // The stored left (red) half is now on top.
    let red = |p: &Rgb<u8>| p.0[0] > 200 && p.0[2] < 60;
    let blue = |p: &Rgb<u8>| p.0[2] > 200 && p.0[0] < 60;
    assert!(red(got.get_pixel(16, 10)), "{:?}", got.get_pixel(16, 10));
    assert!(blue(got.get_pixel(16, 54)), "{:?}", got.get_pixel(16, 54));

    // Orientation 1 leaves it as stored.
    let mut upright = jpeg[..2].to_vec();
    upright.extend_from_slice(&exif_app1(1));
    upright.extend_from_slice(&jpeg[2..]);
    let path = write(dir.path(), "upright.jpg", &upright);
    assert_eq!(decode_image(&path).expect("decode").dimensions(), (64, 32));
}

#[test]
fn a_missing_file_is_unreadable_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope.jpg");
    let err = decode_image(&path).expect_err("missing");
    assert!(matches!(err, Error::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.jpg"), "{err}");
}

#[test]
fn a_text_file_is_not_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "notes.jpg", b"these are notes, not a picture\n");
    let err = decode_image(&path).expect_err("text");
    assert!(matches!(err, Error::NotAnImage { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.jpg"), "{err}");
}

#[test]
fn a_truncated_jpeg_is_reported_as_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let noise = RgbImage::from_fn(256, 256, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 3;
        Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    });
    let jpeg = encode(&DynamicImage::ImageRgb8(noise), ImageFormat::Jpeg);
    let whole = write(dir.path(), "whole.jpg", &jpeg);
    assert!(decode_image(&whole).is_ok());
    for (name, cut) in [("half.jpg", jpeg.len() / 2), ("most.jpg", jpeg.len() - 10)] {
        let path = write(dir.path(), name, &jpeg[..cut]);
        let err = decode_image(&path).expect_err(name);
        assert!(matches!(err, Error::Truncated { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn a_truncated_png_is_reported_as_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 64, |x, y| Rgb([ramp(x, y); 3])));
    let png = encode(&image, ImageFormat::Png);
    let path = write(dir.path(), "half.png", &png[..png.len() / 2]);
    let err = decode_image(&path).expect_err("truncated");
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
}

#[test]
fn a_one_pixel_image_is_too_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([1, 2, 3])));
    let path = write(dir.path(), "dot.png", &encode(&image, ImageFormat::Png));
    let err = decode_image(&path).expect_err("1x1");
    assert!(
        matches!(
            err,
            Error::TooSmall {
                width: 1,
                height: 1,
                min_px: 16,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("dot.png"), "{err}");
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut crc = 0xffff_ffffu32;
    for &b in &body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&(!crc).to_be_bytes());
    chunk
}

#[test]
fn a_huge_declared_size_fails_fast_without_allocating() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A valid PNG header declaring 100000 x 100000 RGB (30 GB decoded), then a few data bytes.
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
    png.extend_from_slice(&png_chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x00, 0x00]));
    png.extend_from_slice(&png_chunk(b"IEND", &[]));
    let path = write(dir.path(), "huge.png", &png);
    let start = Instant::now();
    let err = decode_image(&path).expect_err("huge");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            err,
            Error::TooLarge {
                width: Some(100_000),
                height: Some(100_000),
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("huge.png") && msg.contains("100000x100000"),
        "{msg}"
    );
}

#[test]
fn limits_are_configurable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 30, Rgb([5, 5, 5])));
    let path = write(dir.path(), "small.png", &encode(&image, ImageFormat::Png));
    let side = DecodeLimits {
        max_side_px: 32,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image_with(&path, &side),
        Err(Error::TooLarge { .. })
    ));
    let bytes = DecodeLimits {
        max_bytes: 1000,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        decode_image_with(&path, &bytes),
        Err(Error::TooLarge { .. })
    ));
    let tiny = DecodeLimits {
        min_side_px: 1,
        ..DecodeLimits::default()
    };
    assert_eq!(
        decode_image_with(&path, &tiny)
            .expect("decode")
            .dimensions(),
        (40, 30)
    );
}
