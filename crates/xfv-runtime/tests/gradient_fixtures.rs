//! Gradient graphs through `ort`: the tiny fixtures made by `python -m xfv_tools.fixtures`
//! (scripts/xfv_tools/fixtures.py: `linear_model`, `tinyconv_model`, exported with reduce none
//! and fggb). Their `*.expected.json` hold float64 reference Jacobians (closed form for the
//! linear model) and what Python onnxruntime gave; the Rust session must agree.

use ndarray::{Array2, Array4, ArrayD, IxDyn};
use xfv_core::{ColourOrder, ModelManifest};
use xfv_runtime::{Binding, EpRequest, Error, GradientModel, Reduce, Runtime, RuntimeOptions};
use xfv_testutil::{fixtures_dir, real_models, repo};

fn runtime() -> Option<Runtime> {
    real_models([repo().join(".xfv/lib/libonnxruntime.so.1.31.1")])?;
    Some(
        Runtime::new(RuntimeOptions {
            intra_threads: 2,
            ..RuntimeOptions::default()
        })
        .expect("ONNX Runtime"),
    )
}

struct Expected {
    x: Array4<f32>,
    cotangent: Array2<f32>,
    embedding: ArrayD<f64>,
    jacobian: ArrayD<f64>,
    jacobian_fggb: ArrayD<f64>,
}

fn array(v: &serde_json::Value, key: &str) -> ArrayD<f64> {
    let shape: Vec<usize> = v[format!("{key}_shape")]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let data: Vec<f64> = v[key]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d.as_f64().expect("num"))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("array")
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(fixtures_dir().join(format!("{name}.expected.json")))
        .expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let x = array(&v, "x").mapv(|f| f as f32);
    let c = array(&v, "cotangent").mapv(|f| f as f32);
    Expected {
        x: x.into_dimensionality().expect("x 4-d"),
        cotangent: c.into_dimensionality().expect("cotangent 2-d"),
        embedding: array(&v, "embedding"),
        jacobian: array(&v, "jacobian"),
        jacobian_fggb: array(&v, "jacobian_fggb"),
    }
}

fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f64>, rel: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    let worst = got
        .iter()
        .zip(want.iter())
        .map(|(g, w)| (f64::from(*g) - w).abs())
        .fold(0f64, f64::max);
    assert!(
        worst <= rel * scale,
        "{what}: max abs diff {worst:e} > {rel:e} x {scale:e}"
    );
}

#[test]
fn fixture_jacobians_match_the_float64_reference() {
    let Some(rt) = runtime() else { return };
    for name in ["linear_3x8x8_d4", "tinyconv_3x8x8_d4"] {
        let e = expected(name);
        let path = fixtures_dir().join(format!("{name}.grad.onnx"));
        let mut g = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu()).expect("load");
        assert_eq!(g.metadata().reduce, Reduce::None);
        assert_eq!(g.metadata().dim, 4);
        let (emb, jac) = g.vjp(e.x.view(), e.cotangent.view()).expect("run");
        assert_close(&emb.into_dyn(), &e.embedding, 1e-5, name);
        assert_close(&jac, &e.jacobian, 1e-5, name);

        // the fggb form: per-dimension maps for the identity cotangent rows
        let path = fixtures_dir().join(format!("{name}.fggb.onnx"));
        let mut g =
            GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu()).expect("load fggb");
        assert_eq!(g.metadata().reduce, Reduce::Fggb);
        let (_, jac) = g.vjp(e.x.view(), e.cotangent.view()).expect("run fggb");
        assert_close(&jac, &e.jacobian_fggb, 1e-5, name);
    }
}

#[test]
fn chunked_cotangents_are_bit_identical_to_one_run() {
    let Some(rt) = runtime() else { return };
    let e = expected("tinyconv_3x8x8_d4");
    let path = fixtures_dir().join("tinyconv_3x8x8_d4.fggb.onnx");
    let mut whole = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu())
        .expect("load")
        .with_chunk_rows(4);
    let mut ones = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu())
        .expect("load")
        .with_chunk_rows(1);
    let mut threes = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu())
        .expect("load")
        .with_chunk_rows(3);
    let a = whole.gradients(e.x.view()).expect("whole");
    let b = ones.gradients(e.x.view()).expect("ones");
    let c = threes.gradients(e.x.view()).expect("threes");
    assert_eq!(a.maps, b.maps);
    assert_eq!(a.maps, c.maps);
    assert_eq!(a.embeddings, b.embeddings);
    // repeated runs are deterministic on CPU
    let again = whole.gradients(e.x.view()).expect("again");
    assert_eq!(a.maps, again.maps);
}

#[test]
fn io_binding_gives_the_plain_runs_results() {
    let Some(rt) = runtime() else { return };
    let e = expected("tinyconv_3x8x8_d4");
    let path = fixtures_dir().join("tinyconv_3x8x8_d4.fggb.onnx");
    let open = |b: Binding| {
        GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu())
            .expect("load")
            .with_chunk_rows(3) // two chunks, the last one short: the binding is reused
            .with_binding(b)
    };
    let (mut plain, mut bound, mut auto) = (
        open(Binding::Plain),
        open(Binding::Bound),
        open(Binding::Auto),
    );
    assert!(!plain.uses_binding() && bound.uses_binding());
    assert!(!auto.uses_binding(), "auto binds on GPU providers only");
    let a = plain.gradients(e.x.view()).expect("plain");
    let b = bound.gradients(e.x.view()).expect("bound");
    let c = auto.gradients(e.x.view()).expect("auto");
    assert_eq!(a.maps, b.maps);
    assert_eq!(a.embeddings, b.embeddings);
    assert_eq!(a.maps, c.maps);
    // the binding is per call: a second image batch through the same session is not stale
    let x2 = e.x.mapv(|v| v * 0.5 + 0.1);
    let a2 = plain.gradients(x2.view()).expect("plain 2");
    let b2 = bound.gradients(x2.view()).expect("bound 2");
    assert_eq!(a2.maps, b2.maps);
    assert_ne!(a.maps, b2.maps);
}

fn fixture_manifest() -> ModelManifest {
    xfv_testutil::fixture_manifest("linear_3x8x8_d4")
}

#[test]
fn graph_metadata_is_checked_against_the_card() {
    let Some(rt) = runtime() else { return };
    let path = fixtures_dir().join("linear_3x8x8_d4.fggb.onnx");
    let ok = GradientModel::load(&rt, &path, &fixture_manifest(), &EpRequest::cpu());
    assert!(ok.is_ok(), "{:?}", ok.err());

    let mut bgr = fixture_manifest();
    bgr.input.colour_order = ColourOrder::Bgr;
    let err = GradientModel::load(&rt, &path, &bgr, &EpRequest::cpu()).expect_err("bgr");
    assert!(
        matches!(&err, Error::ManifestMismatch { key, .. } if key == "xfv.colour_order"),
        "{err}"
    );
    assert!(
        err.to_string().contains("linear_3x8x8_d4.fggb.onnx"),
        "{err}"
    );

    let mut other_mean = fixture_manifest();
    other_mean.input.mean = [0.0; 3];
    let err = GradientModel::load(&rt, &path, &other_mean, &EpRequest::cpu()).expect_err("mean");
    assert!(
        matches!(&err, Error::ManifestMismatch { key, .. } if key == "xfv.mean"),
        "{err}"
    );
}

#[test]
fn an_inference_graph_is_not_a_gradient_graph() {
    let Some(rt) = runtime() else { return };
    let path = fixtures_dir().join("linear_3x8x8_d4.onnx");
    let err = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu()).expect_err("plain");
    assert!(
        err.to_string().contains("xfv-export") || err.to_string().contains("gradient graph"),
        "{err}"
    );
}

#[test]
fn a_full_jacobian_graph_cannot_give_per_dimension_maps() {
    let Some(rt) = runtime() else { return };
    let e = expected("linear_3x8x8_d4");
    let path = fixtures_dir().join("linear_3x8x8_d4.grad.onnx");
    let mut g = GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu()).expect("load");
    let err = g.gradients(e.x.view()).expect_err("reduce none");
    assert!(err.to_string().contains("--reduce fggb"), "{err}");
}

#[test]
fn images_per_run_splits_the_batch_without_changing_the_maps() {
    let Some(rt) = runtime() else { return };
    let e = expected("tinyconv_3x8x8_d4");
    let path = fixtures_dir().join("tinyconv_3x8x8_d4.fggb.onnx");
    // three images: the given one and two variations
    let x = ndarray::concatenate(
        ndarray::Axis(0),
        &[
            e.x.view(),
            e.x.mapv(|v| v * 0.5 + 0.1).view(),
            e.x.mapv(|v| 1.0 - v).view(),
        ],
    )
    .expect("batch");
    let open = |n: usize| {
        GradientModel::load_unchecked(&rt, &path, &EpRequest::cpu())
            .expect("load")
            .with_images_per_run(n)
    };
    let (mut one, mut two, mut all) = (open(1), open(2), open(8));
    assert_eq!(one.images_per_run(), 1);
    let a = one.gradients(x.view()).expect("one");
    let b = two.gradients(x.view()).expect("two");
    let c = all.gradients(x.view()).expect("all");
    assert_eq!(a.maps.dim(), (3, 4, 8, 8));
    assert_eq!(a.embeddings.dim(), (3, 4));
    for (got, what) in [(&b, "two per run"), (&c, "all in one run")] {
        let d = (&a.maps - &got.maps)
            .mapv(f32::abs)
            .fold(0.0f32, |m, v| m.max(*v));
        let de = (&a.embeddings - &got.embeddings)
            .mapv(f32::abs)
            .fold(0.0f32, |m, v| m.max(*v));
        assert!(d < 1e-6 && de < 1e-6, "{what}: maps {d}, embeddings {de}");
    }
}
