//! The fp16 gradient graphs (`scripts/setup --fp16`: `<name>.grad.fp16.onnx`) through the facade
//! on the CPU, against the fp32 graphs: every per-dimension map and the pair's FGGB maps agree with
//! cosine >= 0.999 (issue 8), on the real models and a real face.

use xfv::prelude::*;
use xfv::{Explainer, gradient_graph_path_for, resolve_card};
use xfv_testutil::{data_dir, models_dir, real_models};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na * nb)
    }
}

fn explainer(model: &str, precision: GraphPrecision) -> Explainer {
    Explainer::builder(model)
        .precision(precision)
        .build()
        .unwrap_or_else(|e| panic!("{model} {precision:?}: {e}"))
}

#[test]
fn fp16_graphs_match_fp32_per_map_on_the_real_models() {
    for model in ["sface", "mobilefacenet", "dlib"] {
        let card = resolve_card(model, &models_dir()).expect("card");
        let Some([a, b, _, _]) = real_models([
            data_dir().join("obama/obama.jpg"),
            data_dir().join("obama/obama2.jpg"),
            gradient_graph_path_for(&card, GraphPrecision::Fp32),
            gradient_graph_path_for(&card, GraphPrecision::Fp16),
        ]) else {
            return;
        };
        let mut e32 = explainer(model, GraphPrecision::Fp32);
        let mut e16 = explainer(model, GraphPrecision::Fp16);
        let (fa, fb) = (e32.prepare(&a).expect("a"), e32.prepare(&b).expect("b"));
        let g32 = e32.image_gradients(&[&fa, &fb]).expect("fp32");
        let g16 = e16.image_gradients(&[&fa, &fb]).expect("fp16");
        let mut worst = 1.0f64;
        for (x, y) in g32.iter().zip(&g16) {
            for (m32, m16) in x.maps().outer_iter().zip(y.maps().outer_iter()) {
                let c = cosine(
                    m32.as_slice().expect("contiguous"),
                    m16.as_slice().expect("contiguous"),
                );
                worst = worst.min(c);
            }
        }
        assert!(worst >= 0.999, "{model}: worst per-map cosine {worst}");
        let p32 = e32.combine(&g32[0], &g32[1]);
        let p16 = e16.combine(&g16[0], &g16[1]);
        for (s32, s16) in [
            (&p32.a.signed, &p16.a.signed),
            (&p32.b.signed, &p16.b.signed),
        ] {
            let c = cosine(
                s32.as_slice().expect("contiguous"),
                s16.as_slice().expect("contiguous"),
            );
            assert!(c >= 0.999, "{model}: signed FGGB map cosine {c}");
        }
        assert!(
            (p32.score - p16.score).abs() < 1e-4,
            "{model}: scores {} vs {}",
            p32.score,
            p16.score
        );
    }
}

#[test]
fn an_fp32_graph_under_the_fp16_name_is_refused() {
    let Some([card, model, graph]) = real_models([
        models_dir().join("sface.toml"),
        models_dir().join("sface.onnx"),
        models_dir().join("sface.grad.onnx"),
    ]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    for (src, name) in [
        (&card, "sface.toml"),
        (&model, "sface.onnx"),
        (&graph, "sface.grad.onnx"),
        (&graph, "sface.grad.fp16.onnx"),
    ] {
        std::os::unix::fs::symlink(src, dir.path().join(name)).expect("link");
    }
    let e = Explainer::builder("sface")
        .models_dir(dir.path())
        .mode(Mode::Aligned)
        .precision(GraphPrecision::Fp16)
        .build()
        .expect_err("an fp32 graph is not fp16");
    let msg = e.to_string();
    assert!(
        msg.contains("sface.grad.fp16.onnx") && msg.contains("xfv.precision"),
        "{msg}"
    );
}
