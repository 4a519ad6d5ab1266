//! Face detection with YuNet behind a [`DetectorBackend`]: letterbox, inference, head
//! decoding, non-maximum suppression, mapping back to image pixels.
//!
//! The decoding follows YuNet's (2023mar) output heads as OpenCV's `FaceDetectorYN` reads them:
//! for each stride `s`, anchor `i` sits at `row = i / cols`, `col = i % cols` of the stride's
//! grid (`cols = ceil(width / s)`), and
//!
//! ```text
//! score = sqrt(clamp(cls, 0, 1) * clamp(obj, 0, 1))
//! cx = (col + dx) * s      cy = (row + dy) * s      w = exp(dw) * s      h = exp(dh) * s
//! landmark j = ((col + kx_j) * s, (row + ky_j) * s)
//! ```
//!
//! Strides, the score threshold and the NMS IoU come from the detector card's [`DetectorSpec`];
//! the input size, colour order and scaling from its [`InputSpec`].

use std::collections::HashMap;

use image::RgbImage;
use image::imageops::{self, FilterType};
use ndarray::{Array4, ArrayD, ArrayView2, ArrayView4, Ix2, s};
use xfv_core::{Detection, DetectorSpec, InputSpec, ModelCard, ModelKind};

use crate::Error;
use crate::tensor::write_chw;

/// Runs a face detector network. xfv-runtime implements it on an ONNX Runtime session; tests
/// implement it with synthetic outputs.
pub trait DetectorBackend {
    /// Runs the detector on one `[1, 3, H, W]` f32 tensor (layout, colour order and scaling as
    /// its card's [`InputSpec`]) and returns its named outputs.
    fn infer(
        &mut self,
        input: ArrayView4<'_, f32>,
    ) -> Result<HashMap<String, ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>>;
}

impl<B: DetectorBackend + ?Sized> DetectorBackend for Box<B> {
    fn infer(
        &mut self,
        input: ArrayView4<'_, f32>,
    ) -> Result<HashMap<String, ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        (**self).infer(input)
    }
}

impl<B: DetectorBackend + ?Sized> DetectorBackend for &mut B {
    fn infer(
        &mut self,
        input: ArrayView4<'_, f32>,
    ) -> Result<HashMap<String, ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        (**self).infer(input)
    }
}

/// An image scaled to fit the detector's input, padded at the bottom and right.
#[derive(Debug, Clone)]
pub struct Letterbox {
    /// The detector input `[1, 3, H, W]`, in the card's colour order and scaling; padding is
    /// pixel value 0 before scaling.
    pub tensor: Array4<f32>,
    /// Horizontal scale from image to letterbox pixels (resized width / image width).
    pub scale_x: f32,
    /// Vertical scale from image to letterbox pixels (resized height / image height).
    pub scale_y: f32,
}

impl Letterbox {
    /// Scales `image` to fit `input`'s size (keeping its aspect ratio, up or down, bilinear),
    /// pads bottom/right with black and converts to the input tensor.
    pub fn new(image: &RgbImage, input: &InputSpec) -> Self {
        let (w, h) = image.dimensions();
        let (tw, th) = (input.width_px, input.height_px);
        let scale = (f64::from(tw) / f64::from(w.max(1))).min(f64::from(th) / f64::from(h.max(1)));
        let new_w = ((f64::from(w) * scale).round() as u32).clamp(1, tw);
        let new_h = ((f64::from(h) * scale).round() as u32).clamp(1, th);
        let mut tensor = Array4::<f32>::zeros((1, 3, th as usize, tw as usize));
        for c in 0..3 {
            let pad = (0.0 - input.mean[c]) / input.std[c];
            tensor.slice_mut(s![0, c, .., ..]).fill(pad);
        }
        let resized;
        let source = if (new_w, new_h) == (w, h) {
            image
        } else {
            resized = imageops::resize(image, new_w, new_h, FilterType::Triangle);
            &resized
        };
        write_chw(
            source,
            input,
            tensor.slice_mut(s![0, .., ..new_h as usize, ..new_w as usize]),
        );
        Self {
            tensor,
            scale_x: new_w as f32 / w.max(1) as f32,
            scale_y: new_h as f32 / h.max(1) as f32,
        }
    }

    /// Maps a detection from letterbox pixels back to image pixels.
    ///
    /// Pixel coordinates follow the convention that pixel `(x, y)` has its centre at `(x, y)`;
    /// since resizing maps pixel edges onto edges, a point maps as
    /// `x_image = (x_letterbox + 0.5) / scale_x - 0.5` and sizes divide by the scale.
    pub fn to_image(&self, d: &Detection) -> Detection {
        let px = |x: f32| (x + 0.5) / self.scale_x - 0.5;
        let py = |y: f32| (y + 0.5) / self.scale_y - 0.5;
        let [x, y, w, h] = d.bbox_px;
        Detection {
            bbox_px: [px(x), py(y), w / self.scale_x, h / self.scale_y],
            score: d.score,
            landmarks_px: d.landmarks_px.map(|[lx, ly]| [px(lx), py(ly)]),
        }
    }
}

/// YuNet behind a backend, configured by its model card.
pub struct FaceDetector {
    name: String,
    input: InputSpec,
    spec: DetectorSpec,
    backend: Box<dyn DetectorBackend + Send>,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("name", &self.name)
            .field("input", &self.input)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// A detector from its card (`kind = "detector"` with a `[detector]` table) and a backend
    /// that runs the card's network.
    pub fn new(
        card: &ModelCard,
        backend: impl DetectorBackend + Send + 'static,
    ) -> Result<Self, Error> {
        let bad = |reason: String| Error::Card {
            name: card.name.clone(),
            reason,
        };
        if card.kind != ModelKind::Detector {
            return Err(bad(format!("is a {:?} card, not a detector", card.kind)));
        }
        let spec = card
            .detector
            .clone()
            .ok_or_else(|| bad("a detector card needs a [detector] table".into()))?;
        if spec.strides.is_empty() || spec.strides.contains(&0) {
            return Err(bad(format!(
                "detector.strides must be positive, got {:?}",
                spec.strides
            )));
        }
        if !(0.0..=1.0).contains(&spec.score_threshold) {
            return Err(bad(format!(
                "detector.score_threshold must be in 0..=1, got {}",
                spec.score_threshold
            )));
        }
        if !(spec.nms_iou > 0.0 && spec.nms_iou <= 1.0) {
            return Err(bad(format!(
                "detector.nms_iou must be in (0, 1], got {}",
                spec.nms_iou
            )));
        }
        Ok(Self {
            name: card.name.clone(),
            input: card.input.clone(),
            spec,
            backend: Box::new(backend),
        })
    }

    /// The detector's input tensor facts.
    pub fn input(&self) -> &InputSpec {
        &self.input
    }

    /// The detector's decoding facts.
    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// All faces in `image` above the score threshold after NMS, in image pixels, best score
    /// first. Boxes are not clipped to the image. Errors: [`Error::Backend`] when the backend
    /// fails, [`Error::MissingOutput`] / [`Error::ShapeMismatch`] for malformed outputs.
    pub fn detect(&mut self, image: &RgbImage) -> Result<Vec<Detection>, Error> {
        let letterbox = Letterbox::new(image, &self.input);
        let outputs = self
            .backend
            .infer(letterbox.tensor.view())
            .map_err(|source| Error::Backend { source })?;
        let found = decode_heads(&outputs, &self.spec, &self.input)?;
        tracing::debug!(detector = %self.name, faces = found.len(), "detected");
        Ok(found.iter().map(|d| letterbox.to_image(d)).collect())
    }
}

/// Decodes YuNet's heads into detections in letterbox (input tensor) pixels, keeps those with
/// `score >= spec.score_threshold`, and applies [`nms`] with `spec.nms_iou`; best score first.
pub fn decode_heads(
    outputs: &HashMap<String, ArrayD<f32>>,
    spec: &DetectorSpec,
    input: &InputSpec,
) -> Result<Vec<Detection>, Error> {
    let mut found = Vec::new();
    for &stride in &spec.strides {
        let cols = input.width_px.div_ceil(stride) as usize;
        let rows = input.height_px.div_ceil(stride) as usize;
        let n = rows * cols;
        let cls = head(outputs, &format!("cls_{stride}"), n, 1)?;
        let obj = head(outputs, &format!("obj_{stride}"), n, 1)?;
        let bbox = head(outputs, &format!("bbox_{stride}"), n, 4)?;
        let kps = head(outputs, &format!("kps_{stride}"), n, 10)?;
        let s = stride as f32;
        for i in 0..n {
            let score = (cls[[i, 0]].clamp(0.0, 1.0) * obj[[i, 0]].clamp(0.0, 1.0)).sqrt();
            // NaN scores (from NaN heads) are dropped too.
            if score.is_nan() || score < spec.score_threshold {
                continue;
            }
            let (row, col) = ((i / cols) as f32, (i % cols) as f32);
            let cx = (col + bbox[[i, 0]]) * s;
            let cy = (row + bbox[[i, 1]]) * s;
            let w = bbox[[i, 2]].exp() * s;
            let h = bbox[[i, 3]].exp() * s;
            let landmarks_px = std::array::from_fn(|j| {
                [(col + kps[[i, 2 * j]]) * s, (row + kps[[i, 2 * j + 1]]) * s]
            });
            found.push(Detection {
                bbox_px: [cx - w / 2.0, cy - h / 2.0, w, h],
                score,
                landmarks_px,
            });
        }
    }
    Ok(nms(found, spec.nms_iou))
}

/// One head as an `[anchors, channels]` view; accepts `[1, anchors, channels]` too.
fn head<'a>(
    outputs: &'a HashMap<String, ArrayD<f32>>,
    name: &str,
    anchors: usize,
    channels: usize,
) -> Result<ArrayView2<'a, f32>, Error> {
    let t = outputs.get(name).ok_or_else(|| {
        let mut available: Vec<String> = outputs.keys().cloned().collect();
        available.sort();
        Error::MissingOutput {
            name: name.to_string(),
            available,
        }
    })?;
    let mismatch = || Error::ShapeMismatch {
        tensor: format!("detector output {name}"),
        expected: vec![1, anchors, channels],
        got: t.shape().to_vec(),
    };
    let view = match t.shape() {
        [1, a, c] if *a == anchors && *c == channels => {
            t.view().index_axis_move(ndarray::Axis(0), 0)
        }
        [a, c] if *a == anchors && *c == channels => t.view(),
        _ => return Err(mismatch()),
    };
    view.into_dimensionality::<Ix2>().map_err(|_| mismatch())
}

/// Greedy non-maximum suppression: visits detections by descending score and drops any whose
/// box overlaps an already kept one with IoU above `iou_threshold`. Returns the kept ones, best
/// score first.
pub fn nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for d in detections {
        if kept
            .iter()
            .all(|k| iou(&k.bbox_px, &d.bbox_px) <= iou_threshold)
        {
            kept.push(d);
        }
    }
    kept
}

/// Intersection over union of two `[x, y, w, h]` boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn yunet_input() -> InputSpec {
        InputSpec {
            width_px: 640,
            height_px: 640,
            colour_order: xfv_core::ColourOrder::Bgr,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    fn yunet_spec() -> DetectorSpec {
        DetectorSpec {
            strides: vec![8, 16, 32],
            score_threshold: 0.6,
            nms_iou: 0.3,
        }
    }

    /// Heads with zero scores everywhere, shaped `[1, anchors, c]`.
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

    fn set_anchor(
        heads: &mut HashMap<String, ArrayD<f32>>,
        stride: usize,
        row: usize,
        col: usize,
        cls_obj: [f32; 2],
        bbox: [f32; 4],
        kps: [f32; 10],
    ) {
        let i = row * (640 / stride) + col;
        let mut put = |name: &str, values: &[f32]| {
            let t = heads.get_mut(&format!("{name}_{stride}")).expect("head");
            for (k, v) in values.iter().enumerate() {
                t[[0, i, k]] = *v;
            }
        };
        put("cls", &cls_obj[..1]);
        put("obj", &cls_obj[1..]);
        put("bbox", &bbox);
        put("kps", &kps);
    }

    #[test]
    fn decodes_a_known_box_and_landmarks() {
        let mut heads = empty_heads();
        let kps = [0.1, 0.2, 1.5, 0.3, 0.8, 1.0, 0.2, 1.7, 1.4, 1.6];
        set_anchor(
            &mut heads,
            16,
            10,
            20,
            [0.81, 1.0],
            [0.5, 0.25, 5f32.ln(), 6f32.ln()],
            kps,
        );
        let found = decode_heads(&heads, &yunet_spec(), &yunet_input()).expect("decode");
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert!((d.score - 0.9).abs() < 1e-6);
        let want_box = [328.0 - 40.0, 164.0 - 48.0, 80.0, 96.0];
        for (got, want) in d.bbox_px.iter().zip(want_box) {
            assert!((got - want).abs() < 1e-3, "{:?}", d.bbox_px);
        }
        for j in 0..5 {
            let want = [(20.0 + kps[2 * j]) * 16.0, (10.0 + kps[2 * j + 1]) * 16.0];
            assert!((d.landmarks_px[j][0] - want[0]).abs() < 1e-4);
            assert!((d.landmarks_px[j][1] - want[1]).abs() < 1e-4);
        }
    }

    #[test]
    fn scores_below_threshold_and_out_of_range_heads_are_handled() {
        let mut heads = empty_heads();
        // sqrt(0.5 * 0.5) = 0.5 < 0.6: dropped.
        set_anchor(&mut heads, 8, 1, 1, [0.5, 0.5], [0.0; 4], [0.0; 10]);
        // cls above 1 is clamped: sqrt(1 * 0.49) = 0.7: kept.
        set_anchor(&mut heads, 32, 3, 3, [1.7, 0.49], [0.0; 4], [0.0; 10]);
        let found = decode_heads(&heads, &yunet_spec(), &yunet_input()).expect("decode");
        assert_eq!(found.len(), 1);
        assert!((found[0].score - 0.7).abs() < 1e-6);
    }

    #[test]
    fn a_batchless_head_is_accepted_and_a_wrong_shape_is_named() {
        let mut heads = empty_heads();
        let t = heads.remove("kps_8").expect("kps_8");
        heads.insert("kps_8".into(), t.index_axis_move(ndarray::Axis(0), 0));
        assert!(decode_heads(&heads, &yunet_spec(), &yunet_input()).is_ok());

        heads.insert("obj_16".into(), ArrayD::zeros(vec![1, 1600, 2]));
        let err = decode_heads(&heads, &yunet_spec(), &yunet_input()).expect_err("shape");
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
        assert!(err.to_string().contains("obj_16"), "{err}");

        heads.remove("obj_16");
        let err = decode_heads(&heads, &yunet_spec(), &yunet_input()).expect_err("missing");
        assert!(
            matches!(err, Error::MissingOutput { ref name, .. } if name == "obj_16"),
            "{err}"
        );
    }

    fn det(bbox_px: [f32; 4], score: f32) -> Detection {
        Detection {
            bbox_px,
            score,
            landmarks_px: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let dets = vec![
            det([0.0, 0.0, 10.0, 10.0], 0.7),
            det([1.0, 1.0, 10.0, 10.0], 0.9),
            det([50.0, 50.0, 10.0, 10.0], 0.65),
            // IoU with the best = 25 / 175 < 0.3: kept.
            det([6.0, 6.0, 10.0, 10.0], 0.8),
        ];
        let kept = nms(dets, 0.3);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.8, 0.65]);
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 2.0, 2.0]), 2.0 / 6.0);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[5.0, 5.0, 1.0, 1.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn letterbox_scales_pads_and_maps_back() {
        let image = RgbImage::from_pixel(1280, 960, image::Rgb([10, 20, 30]));
        let lb = Letterbox::new(&image, &yunet_input());
        assert_eq!(lb.tensor.shape(), &[1, 3, 640, 640]);
        assert_eq!((lb.scale_x, lb.scale_y), (0.5, 0.5));
        // BGR, raw 0..255; padding below row 480 is zero.
        assert_eq!(lb.tensor[[0, 0, 100, 100]], 30.0);
        assert_eq!(lb.tensor[[0, 2, 100, 100]], 10.0);
        assert_eq!(lb.tensor[[0, 0, 479, 639]], 30.0);
        assert_eq!(lb.tensor[[0, 1, 480, 0]], 0.0);
        let d = lb.to_image(&Detection {
            bbox_px: [100.0, 50.0, 40.0, 60.0],
            score: 0.9,
            landmarks_px: [[110.0, 70.0]; 5],
        });
        assert_eq!(d.bbox_px, [200.5, 100.5, 80.0, 120.0]);
        assert_eq!(d.landmarks_px[0], [220.5, 140.5]);
    }

    #[test]
    fn letterbox_upscales_small_images() {
        let image = RgbImage::from_pixel(100, 320, image::Rgb([1, 2, 3]));
        let lb = Letterbox::new(&image, &yunet_input());
        assert_eq!((lb.scale_x, lb.scale_y), (2.0, 2.0));
        assert_eq!(lb.tensor[[0, 0, 639, 199]], 3.0);
        assert_eq!(lb.tensor[[0, 0, 639, 200]], 0.0);
    }
}
