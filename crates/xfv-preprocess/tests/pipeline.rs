//! The whole path through a synthetic detector backend: letterbox input, head decoding, the
//! largest face, alignment to the model's template, tensors and batches.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use image::{Rgb, RgbImage};
use ndarray::{Array3, Array4, ArrayD, ArrayView4};
use xfv_core::{ColourOrder, ModelCard, ModelManifest};
use xfv_preprocess::{
    AlignedFace, DetectorBackend, Error, FaceDetector, Mode, Preprocessor, apply_affine,
    into_aligned_batch,
};

const YUNET: &str = include_str!("../../../models/yunet.toml");
const SFACE: &str = include_str!("../../../models/sface.toml");

type BackendResult = Result<HashMap<String, ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>>;

/// Returns fixed heads and keeps the last input it was given.
struct FakeYunet {
    heads: HashMap<String, ArrayD<f32>>,
    seen: Arc<Mutex<Option<Array4<f32>>>>,
}

impl DetectorBackend for FakeYunet {
    fn infer(&mut self, input: ArrayView4<'_, f32>) -> BackendResult {
        *self.seen.lock().expect("lock") = Some(input.to_owned());
        Ok(self.heads.clone())
    }
}

struct FailingBackend;

impl DetectorBackend for FailingBackend {
    fn infer(&mut self, _input: ArrayView4<'_, f32>) -> BackendResult {
        Err("session exploded".into())
    }
}

fn empty_heads() -> HashMap<String, ArrayD<f32>> {
    let mut out = HashMap::new();
    for s in [8usize, 16, 32] {
        let n = (640 / s) * (640 / s);
        for (name, c) in [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)] {
            out.insert(
                format!("{name}_{s}"),
                Array3::<f32>::zeros((1, n, c)).into_dyn(),
            );
        }
    }
    out
}

/// Encodes a face into the stride-8 heads at the anchor nearest its box centre, all given in
/// letterbox pixels.
fn put_face(
    heads: &mut HashMap<String, ArrayD<f32>>,
    score: f32,
    centre: [f32; 2],
    size: [f32; 2],
    landmarks: [[f32; 2]; 5],
) {
    let s = 8.0f32;
    let (col, row) = ((centre[0] / s).floor(), (centre[1] / s).floor());
    let i = row as usize * 80 + col as usize;
    let mut put = |name: &str, values: &[f32]| {
        let t = heads.get_mut(&format!("{name}_8")).expect("head");
        for (k, v) in values.iter().enumerate() {
            t[[0, i, k]] = *v;
        }
    };
    put("cls", &[score * score]);
    put("obj", &[1.0]);
    put(
        "bbox",
        &[
            centre[0] / s - col,
            centre[1] / s - row,
            (size[0] / s).ln(),
            (size[1] / s).ln(),
        ],
    );
    let kps: Vec<f32> = landmarks
        .iter()
        .flat_map(|[x, y]| [x / s - col, y / s - row])
        .collect();
    put("kps", &kps);
}

fn sface() -> ModelManifest {
    ModelCard::from_toml(SFACE)
        .expect("card")
        .manifest()
        .expect("manifest")
}

fn yunet_card() -> ModelCard {
    ModelCard::from_toml(YUNET).expect("yunet card")
}

/// A smooth colourful 1280x960 image.
fn scene() -> RgbImage {
    RgbImage::from_fn(1280, 960, |x, y| {
        Rgb([(x / 5) as u8, (y / 4) as u8, ((x + y) / 9) as u8])
    })
}

/// The letterbox (scale 0.5) position of an image point: `x_lb = (x + 0.5) * 0.5 - 0.5`.
fn to_letterbox(p: [f32; 2]) -> [f32; 2] {
    p.map(|v| (v + 0.5) * 0.5 - 0.5)
}

#[test]
fn the_yunet_card_drives_the_detector() {
    let card = yunet_card();
    let spec = card.detector.clone().expect("[detector]");
    assert_eq!(spec.strides, vec![8, 16, 32]);
    assert_eq!(card.input.colour_order, ColourOrder::Bgr);
    let seen = Arc::new(Mutex::new(None));
    let backend = FakeYunet {
        heads: empty_heads(),
        seen: Arc::clone(&seen),
    };
    let mut detector = FaceDetector::new(&card, backend).expect("detector");
    let image = RgbImage::from_pixel(320, 160, Rgb([200, 100, 50]));
    assert!(detector.detect(&image).expect("detect").is_empty());
    let input = seen.lock().expect("lock").take().expect("input");
    assert_eq!(input.shape(), &[1, 3, 640, 640]);
    // Scaled x2 to 640x320, BGR, 0..255, black below.
    assert_eq!(input[[0, 0, 10, 10]], 50.0);
    assert_eq!(input[[0, 2, 319, 639]], 200.0);
    assert_eq!(input[[0, 2, 320, 0]], 0.0);
}

#[test]
fn detection_and_alignment_land_on_the_template() {
    let manifest = sface();
    // The face in image pixels: the template scaled x3, turned 0.2 rad, moved to (500, 300).
    let (sin, cos) = 0.2f32.sin_cos();
    let image_to_template_inv = [
        [3.0 * cos, -3.0 * sin, 500.0],
        [3.0 * sin, 3.0 * cos, 300.0],
    ];
    let landmarks = manifest
        .template_px
        .map(|p| apply_affine(&image_to_template_inv, p));
    let mut heads = empty_heads();
    // A big face (the one to take) and a small one with a higher score elsewhere.
    put_face(
        &mut heads,
        0.8,
        to_letterbox([600.0, 450.0]),
        [100.0, 120.0], // 200 x 240 image pixels
        landmarks.map(to_letterbox),
    );
    put_face(
        &mut heads,
        0.95,
        to_letterbox([100.0, 100.0]),
        [15.0, 15.0],
        [to_letterbox([100.0, 100.0]); 5],
    );
    let backend = FakeYunet {
        heads,
        seen: Arc::default(),
    };
    let detector = FaceDetector::new(&yunet_card(), backend).expect("detector");
    let mut pre = Preprocessor::builder(manifest.clone())
        .detector(detector)
        .build();
    let image = scene();
    let face = pre
        .prepare_image(&image, Path::new("scene.png"), Mode::Detect)
        .expect("prepare");

    assert_eq!(face.crop.dimensions(), (112, 112));
    assert_eq!(face.origin.faces_found, 2);
    assert_eq!(face.origin.image_size_px, [1280, 960]);
    let det = face.origin.detection.as_ref().expect("detection");
    assert!(
        (det.score - 0.8).abs() < 1e-5,
        "the largest face, not the best-scored"
    );
    // The box maps back to image pixels.
    let [x, y, w, h] = det.bbox_px;
    assert!(
        (x + w / 2.0 - 600.0).abs() < 0.1 && (y + h / 2.0 - 450.0).abs() < 0.1,
        "{:?}",
        det.bbox_px
    );
    assert!(
        (w - 200.0).abs() < 0.1 && (h - 240.0).abs() < 0.1,
        "{:?}",
        det.bbox_px
    );
    for (got, want) in det.landmarks_px.iter().zip(&landmarks) {
        assert!(
            (got[0] - want[0]).abs() < 0.01 && (got[1] - want[1]).abs() < 0.01,
            "{got:?} vs {want:?}"
        );
    }
    // crop_to_image takes each template point to its landmark.
    let m = face.origin.crop_to_image.expect("transform");
    for (t, l) in manifest.template_px.iter().zip(&landmarks) {
        let p = apply_affine(&m, *t);
        assert!(
            (p[0] - l[0]).abs() < 0.02 && (p[1] - l[1]).abs() < 0.02,
            "{p:?} vs {l:?}"
        );
    }
    // And the crop's pixels are the image's there (the scene is smooth, so bilinear ~ exact).
    for (u, v) in [(0u32, 0u32), (56, 56), (111, 30)] {
        let [ix, iy] = apply_affine(&m, [u as f32, v as f32]);
        let want = image.get_pixel(ix.round() as u32, iy.round() as u32);
        let got = face.crop.get_pixel(u, v);
        for c in 0..3 {
            assert!(
                (i16::from(got.0[c]) - i16::from(want.0[c])).abs() <= 1,
                "({u},{v}) {got:?} {want:?}"
            );
        }
    }
}

#[test]
fn no_face_names_the_file_and_hints_at_aligned() {
    let backend = FakeYunet {
        heads: empty_heads(),
        seen: Arc::default(),
    };
    let detector = FaceDetector::new(&yunet_card(), backend).expect("detector");
    let mut pre = Preprocessor::builder(sface()).detector(detector).build();
    let err = pre
        .prepare_image(&scene(), Path::new("empty-room.jpg"), Mode::Detect)
        .expect_err("no face");
    assert!(matches!(err, Error::NoFace { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("empty-room.jpg") && msg.contains("--aligned"),
        "{msg}"
    );
}

#[test]
fn backend_failures_and_missing_detectors_name_the_file() {
    let detector = FaceDetector::new(&yunet_card(), FailingBackend).expect("detector");
    let mut pre = Preprocessor::builder(sface()).detector(detector).build();
    let err = pre
        .prepare_image(&scene(), Path::new("a.jpg"), Mode::Detect)
        .expect_err("backend");
    assert!(matches!(err, Error::Detector { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("a.jpg") && msg.contains("session exploded"),
        "{msg}"
    );

    let mut pre = Preprocessor::builder(sface()).build();
    let err = pre
        .prepare_image(&scene(), Path::new("b.jpg"), Mode::Detect)
        .expect_err("no detector");
    assert!(matches!(err, Error::NoDetector { .. }), "{err:?}");
}

#[test]
fn a_recognition_card_is_not_a_detector() {
    let card = ModelCard::from_toml(SFACE).expect("card");
    let err = FaceDetector::new(&card, FailingBackend).expect_err("wrong kind");
    assert!(matches!(err, Error::Card { .. }), "{err:?}");
}

#[test]
fn aligned_mode_resizes_without_detection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crop.png");
    RgbImage::from_pixel(224, 224, Rgb([10, 20, 30]))
        .save(&path)
        .expect("save");
    let mut pre = Preprocessor::builder(sface()).build();
    let face = pre.prepare(&path, Mode::Aligned).expect("prepare");
    assert_eq!(face.crop.dimensions(), (112, 112));
    assert!(face.crop.pixels().all(|p| p.0 == [10, 20, 30]));
    assert_eq!(face.origin.faces_found, 0);
    assert!(face.origin.detection.is_none() && face.origin.crop_to_image.is_none());
    assert_eq!(face.origin.path, path);
}

fn manifest_with(order: ColourOrder, mean: [f32; 3], std: [f32; 3]) -> ModelManifest {
    let mut m = sface();
    m.input.width_px = 4;
    m.input.height_px = 2;
    m.input.colour_order = order;
    m.input.mean = mean;
    m.input.std = std;
    m
}

fn face(crop: RgbImage, name: &str) -> AlignedFace {
    AlignedFace {
        crop,
        origin: xfv_core::CropOrigin {
            path: name.into(),
            image_size_px: [4, 2],
            detection: None,
            faces_found: 0,
            crop_to_image: None,
        },
    }
}

#[test]
fn tensors_follow_colour_order_mean_and_std() {
    let crop = RgbImage::from_fn(4, 2, |x, y| Rgb([10 * x as u8, 100 + y as u8, 250]));
    let f = face(crop, "a");
    let rgb = manifest_with(ColourOrder::Rgb, [0.0; 3], [1.0; 3]);
    let t = f.to_tensor(&rgb).expect("tensor");
    assert_eq!(t.shape(), &[3, 2, 4]);
    assert_eq!(t[[0, 1, 3]], 30.0);
    assert_eq!(t[[1, 1, 3]], 101.0);
    assert_eq!(t[[2, 0, 0]], 250.0);

    let bgr = manifest_with(ColourOrder::Bgr, [1.0, 2.0, 3.0], [2.0, 4.0, 8.0]);
    let t = f.to_tensor(&bgr).expect("tensor");
    assert_eq!(
        t[[0, 1, 3]],
        (250.0 - 1.0) / 2.0,
        "blue first, with channel 0's mean/std"
    );
    assert_eq!(t[[1, 1, 3]], (101.0 - 2.0) / 4.0);
    assert_eq!(t[[2, 1, 3]], (30.0 - 3.0) / 8.0, "red last");
}

#[test]
fn a_crop_of_the_wrong_size_is_a_shape_mismatch() {
    let f = face(RgbImage::new(5, 2), "wrong");
    let err = f
        .to_tensor(&manifest_with(ColourOrder::Rgb, [0.0; 3], [1.0; 3]))
        .expect_err("size");
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
}

#[test]
fn batches_stack_faces_in_order() {
    let m = manifest_with(ColourOrder::Rgb, [0.0; 3], [1.0; 3]);
    let a = face(RgbImage::from_pixel(4, 2, Rgb([1, 2, 3])), "a");
    let b = face(RgbImage::from_pixel(4, 2, Rgb([7, 8, 9])), "b");
    let batch = into_aligned_batch(vec![a, b], &m).expect("batch");
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.tensor.shape(), &[2, 3, 2, 4]);
    assert_eq!(batch.rgb8.shape(), &[2, 2, 4, 3]);
    assert_eq!(batch.tensor[[1, 2, 1, 1]], 9.0);
    assert_eq!(batch.rgb8[[0, 1, 3, 1]], 2);
    assert_eq!(batch.origins[1].path, Path::new("b"));
    assert!(into_aligned_batch(vec![], &m).expect("empty").is_empty());
}

#[test]
fn prepare_batch_runs_files_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<_> = [[255u8, 0, 0], [0, 255, 0]]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.path().join(format!("{i}.png"));
            RgbImage::from_pixel(30, 40, Rgb(*c))
                .save(&p)
                .expect("save");
            p
        })
        .collect();
    let mut pre = Preprocessor::builder(sface()).build();
    let batch = pre.prepare_batch(&paths, Mode::Aligned).expect("batch");
    assert_eq!(batch.tensor.shape(), &[2, 3, 112, 112]);
    assert_eq!(batch.tensor[[0, 0, 50, 50]], 255.0);
    assert_eq!(batch.tensor[[1, 1, 50, 50]], 255.0);
    assert_eq!(batch.origins[1].path, paths[1]);

    let missing = [dir.path().join("0.png"), dir.path().join("gone.png")];
    let err = pre
        .prepare_batch(&missing, Mode::Aligned)
        .expect_err("missing");
    assert!(err.to_string().contains("gone.png"), "{err}");
}
