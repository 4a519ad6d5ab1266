//! Property tests: alignment geometry, letterbox mapping and NMS invariants.

use image::{Rgb, RgbImage};
use proptest::prelude::*;
use xfv_core::{ColourOrder, Detection, InputSpec};
use xfv_preprocess::{
    Letterbox, apply_affine, invert_affine, iou, nms, similarity_transform, warp_affine,
};

fn similarity(scale: f32, angle: f32, t: [f32; 2]) -> [[f32; 3]; 2] {
    let (s, c) = angle.sin_cos();
    [[scale * c, -scale * s, t[0]], [scale * s, scale * c, t[1]]]
}

/// Five points that are not all at one place.
fn points() -> impl Strategy<Value = [[f32; 2]; 5]> {
    prop::array::uniform5(prop::array::uniform2(-200.0f32..200.0)).prop_filter("spread out", |p| {
        let (mx, my) = (
            p.iter().map(|q| q[0]).sum::<f32>() / 5.0,
            p.iter().map(|q| q[1]).sum::<f32>() / 5.0,
        );
        p.iter()
            .map(|q| (q[0] - mx).powi(2) + (q[1] - my).powi(2))
            .sum::<f32>()
            > 100.0
    })
}

proptest! {
    #[test]
    fn a_random_similarity_is_recovered(
        src in points(),
        scale in 0.05f32..20.0,
        angle in -3.1f32..3.1,
        tx in -500.0f32..500.0,
        ty in -500.0f32..500.0,
    ) {
        let truth = similarity(scale, angle, [tx, ty]);
        let dst = src.map(|p| apply_affine(&truth, p));
        let m = similarity_transform(&src, &dst).expect("non-degenerate");
        for (s, d) in src.iter().zip(&dst) {
            let q = apply_affine(&m, *s);
            let tol = 1e-3 * (1.0 + d[0].abs().max(d[1].abs()));
            prop_assert!((q[0] - d[0]).abs() < tol && (q[1] - d[1]).abs() < tol, "{:?} vs {:?}", q, d);
        }
        prop_assert!((m[0][0] - m[1][1]).abs() < 1e-3 * scale && (m[0][1] + m[1][0]).abs() < 1e-3 * scale);
    }

    #[test]
    fn the_fit_is_no_worse_than_the_truth_under_noise(
        src in points(),
        scale in 0.5f32..4.0,
        angle in -3.1f32..3.1,
        noise in prop::array::uniform5(prop::array::uniform2(-2.0f32..2.0)),
    ) {
        let truth = similarity(scale, angle, [3.0, -7.0]);
        let mut dst = src.map(|p| apply_affine(&truth, p));
        for (d, n) in dst.iter_mut().zip(&noise) {
            d[0] += n[0];
            d[1] += n[1];
        }
        let sse = |m: &[[f32; 3]; 2]| -> f32 {
            src.iter().zip(&dst).map(|(s, d)| {
                let q = apply_affine(m, *s);
                (q[0] - d[0]).powi(2) + (q[1] - d[1]).powi(2)
            }).sum()
        };
        let m = similarity_transform(&src, &dst).expect("non-degenerate");
        prop_assert!(sse(&m) <= sse(&truth) * (1.0 + 1e-3) + 1e-3);
    }

    #[test]
    fn warping_with_an_integer_shift_and_its_inverse_restores_the_interior(
        dx in -5i32..5, dy in -5i32..5,
    ) {
        let image = RgbImage::from_fn(30, 20, |x, y| Rgb([(x * 8) as u8, (y * 12) as u8, 77]));
        let m = [[1.0, 0.0, dx as f32], [0.0, 1.0, dy as f32]];
        let there = warp_affine(&image, &m, 30, 20);
        let back = warp_affine(&there, &invert_affine(&m).expect("invertible"), 30, 20);
        for y in 5..15u32 {
            for x in 5..25u32 {
                prop_assert_eq!(back.get_pixel(x, y), image.get_pixel(x, y));
            }
        }
    }

    #[test]
    fn nms_output_is_sorted_and_free_of_overlaps(
        boxes in prop::collection::vec((0.0f32..100.0, 0.0f32..100.0, 1.0f32..50.0, 1.0f32..50.0, 0.0f32..1.0), 0..40),
        threshold in 0.1f32..0.9,
    ) {
        let dets: Vec<Detection> = boxes.iter().map(|&(x, y, w, h, s)| Detection {
            bbox_px: [x, y, w, h], score: s, landmarks_px: [[0.0; 2]; 5],
        }).collect();
        let best = dets.iter().map(|d| d.score).fold(f32::NEG_INFINITY, f32::max);
        let kept = nms(dets.clone(), threshold);
        prop_assert!(kept.windows(2).all(|w| w[0].score >= w[1].score));
        for (i, a) in kept.iter().enumerate() {
            for b in &kept[i + 1..] {
                prop_assert!(iou(&a.bbox_px, &b.bbox_px) <= threshold);
            }
        }
        // Every dropped box overlaps a kept one with a score at least its own.
        for d in &dets {
            if !kept.contains(d) {
                prop_assert!(kept.iter().any(|k| k.score >= d.score && iou(&k.bbox_px, &d.bbox_px) > threshold));
            }
        }
        if !dets.is_empty() {
            prop_assert_eq!(kept[0].score, best);
        }
    }
}

proptest! {
    // Each case resizes an image of up to 2000 px a side: a few dozen cases suffice.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn letterbox_fits_and_maps_its_own_corners_back(w in 16u32..2000, h in 16u32..2000) {
        let input = InputSpec {
            width_px: 64,
            height_px: 48,
            colour_order: ColourOrder::Bgr,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let lb = Letterbox::new(&RgbImage::new(w, h), &input);
        prop_assert_eq!(lb.tensor.shape(), &[1, 3, 48, 64]);
        prop_assert!(lb.scale_x * w as f32 <= 64.0 + 1e-3 && lb.scale_y * h as f32 <= 48.0 + 1e-3);
        // The letterbox area's outer edges map onto the image's.
        let d = lb.to_image(&Detection {
            bbox_px: [-0.5, -0.5, lb.scale_x * w as f32, lb.scale_y * h as f32],
            score: 1.0,
            landmarks_px: [[-0.5, -0.5]; 5],
        });
        prop_assert!((d.bbox_px[0] + 0.5).abs() < 1e-3 && (d.bbox_px[1] + 0.5).abs() < 1e-3);
        prop_assert!((d.bbox_px[2] - w as f32).abs() < 1e-2 && (d.bbox_px[3] - h as f32).abs() < 1e-2);
    }
}
