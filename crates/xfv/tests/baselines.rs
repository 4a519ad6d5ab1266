//! The baselines through the facade's `ModelOracle` (ONNX Runtime) on the tinyconv fixture
//! (scripts/xfv_tools/fixtures.py `tinyconv_model`) against independent numpy references made by
//! `python -m xfv_tools.baseline_reference` (tests/fixtures/tinyconv_3x8x8_d4.baselines.json):
//! the similarity gradient and xSSAB's two VJPs against float64 finite differences, CorrRISE
//! against a direct numpy computation with the same SplitMix64 masks. The plain VJPs come from
//! the fixture's `reduce = none` graph (reduced to abs-mean on the CPU by the oracle).

use ndarray::{Array1, Array3, Axis, stack};
use xfv::{ExtraSessions, ModelOracle};
use xfv_core::ModelManifest;
use xfv_explain::corrrise::{CorrRise, CorrRiseOptions};
use xfv_explain::{ImageInput, Method, Oracle, PairMethod, fggb, method_impl, xssab};
use xfv_runtime::{EpRequest, GradientModel, Runtime, RuntimeOptions};
use xfv_testutil::{fixtures_dir, real_models, repo};

const NAME: &str = "tinyconv_3x8x8_d4";

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

fn manifest() -> ModelManifest {
    xfv_testutil::fixture_manifest(NAME)
}

struct Setup {
    fggb: GradientModel,
    extra: ExtraSessions,
    reference: serde_json::Value,
    xa: Array3<f32>,
    xb: Array3<f32>,
}

fn setup() -> Option<Setup> {
    let rt = runtime()?;
    let dir = fixtures_dir();
    let fggb = GradientModel::load(
        &rt,
        &dir.join(format!("{NAME}.fggb.onnx")),
        &manifest(),
        &EpRequest::cpu(),
    )
    .expect("fggb graph");
    let extra = ExtraSessions::new(
        rt,
        EpRequest::cpu(),
        manifest(),
        dir.join(format!("{NAME}.grad.onnx")),
        dir.join(format!("{NAME}.onnx")),
    );
    let text =
        std::fs::read_to_string(dir.join(format!("{NAME}.baselines.json"))).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run python -m xfv_tools.baseline_reference)",
                dir.display()
            )
        });
    let reference: serde_json::Value = serde_json::from_str(&text).expect("json");
    let arr = |k: &str| {
        Array3::from_shape_vec(
            (3, 8, 8),
            floats(&reference, k)
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        )
        .expect("shape")
    };
    let (xa, xb) = (arr("x_a"), arr("x_b"));
    Some(Setup {
        fggb,
        extra,
        reference,
        xa,
        xb,
    })
}

fn floats(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// max |got - want| <= rel * max |want| (+ a floor for maps near zero).
fn assert_close(got: &[f32], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-6);
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((f64::from(*g) - w).abs()));
    assert!(
        err <= rel * scale,
        "{what}: max abs error {err:.3e} > {rel} x {scale:.3e}"
    );
}

fn embeddings(
    oracle: &mut ModelOracle<'_>,
    xa: &Array3<f32>,
    xb: &Array3<f32>,
) -> ndarray::Array2<f32> {
    let batch = stack(Axis(0), &[xa.view(), xb.view()]).expect("stack");
    oracle.embed(batch.view()).expect("embed")
}

#[test]
fn similarity_gradient_matches_finite_differences() {
    let Some(mut s) = setup() else { return };
    let theta = s.reference["threshold"].as_f64().expect("theta") as f32;
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    let e = embeddings(&mut oracle, &s.xa, &s.xb);
    let ia = ImageInput::new(s.xa.view(), e.row(0));
    let ib = ImageInput::new(s.xb.view(), e.row(1));
    let ex = method_impl(Method::SimilarityGradient)
        .explain(&mut oracle, ia, ib, theta)
        .expect("explain");
    assert_eq!(ex.method, Method::SimilarityGradient);
    assert_eq!(ex.a.signed.dim(), (8, 8));
    let mag = |m: &ndarray::Array2<f32>| m.iter().map(|v| v.abs()).collect::<Vec<_>>();
    assert_close(
        &mag(&ex.a.signed),
        &floats(&s.reference, "similarity_gradient_a"),
        2e-3,
        "A",
    );
    assert_close(
        &mag(&ex.b.signed),
        &floats(&s.reference, "similarity_gradient_b"),
        2e-3,
        "B",
    );
    // sign: accepted pairs put the magnitude into the similarity map
    let accepted = ex.score >= theta;
    assert_eq!(ex.a.dissimilarity.sum() == 0.0, accepted);
}

#[test]
fn xssab_vjps_match_finite_differences() {
    let Some(mut s) = setup() else { return };
    let theta = s.reference["threshold"].as_f64().expect("theta") as f32;
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    let e = embeddings(&mut oracle, &s.xa, &s.xb);
    let (ia, ib) = (
        ImageInput::new(s.xa.view(), e.row(0)),
        ImageInput::new(s.xb.view(), e.row(1)),
    );
    for (name, x, other) in [("a", &ia, &ib), ("b", &ib, &ia)] {
        let m = xssab::partial_maps(&mut oracle, x, other, theta).expect("VJPs");
        let flat = |k: usize| m.index_axis(Axis(0), k).iter().copied().collect::<Vec<_>>();
        assert_close(
            &flat(0),
            &floats(&s.reference, &format!("xssab_pos_{name}")),
            2e-3,
            "pos",
        );
        assert_close(
            &flat(1),
            &floats(&s.reference, &format!("xssab_neg_{name}")),
            2e-3,
            "neg",
        );
    }
    let ex = method_impl(Method::Xssab)
        .explain(&mut oracle, ia, ib, theta)
        .expect("explain");
    let want: Vec<f64> = floats(&s.reference, "xssab_pos_a")
        .iter()
        .zip(floats(&s.reference, "xssab_neg_a"))
        .map(|(p, n)| p - n)
        .collect();
    assert_close(
        &ex.a.signed.iter().copied().collect::<Vec<_>>(),
        &want,
        2e-3,
        "combined",
    );
    // the two cotangents split e_B: they sum to it
    let c = xssab::cotangents(e.row(0), e.row(1), theta);
    let sum: Array1<f32> = &c.row(0) + &c.row(1);
    assert_eq!(sum, e.row(1).to_owned());
}

#[test]
fn corrrise_matches_numpy_with_the_same_masks() {
    let Some(mut s) = setup() else { return };
    let theta = s.reference["threshold"].as_f64().expect("theta") as f32;
    let cfg = &s.reference["corrrise"];
    let opts = CorrRiseOptions {
        masks: cfg["masks"].as_u64().expect("masks") as usize,
        patches: cfg["patches"].as_u64().expect("patches") as usize,
        patch_px_at_112: 30,
        seed: cfg["seed"].as_u64().expect("seed"),
    };
    assert_eq!(
        opts.patch_side(8, 8) as u64,
        cfg["patch_side"].as_u64().expect("side")
    );
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    let e = embeddings(&mut oracle, &s.xa, &s.xb);
    let ia = ImageInput::new(s.xa.view(), e.row(0));
    let ib = ImageInput::new(s.xb.view(), e.row(1));
    let cr = CorrRise::new(opts);
    let masks = opts.masks(8, 8);
    let scores = cr
        .masked_scores(&mut oracle, &masks, &ia, &ib)
        .expect("scores");
    let want = floats(&s.reference, "corrrise_scores_a");
    let err = scores
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    assert!(err < 1e-5, "masked scores differ by {err}");
    let ex = cr.explain(&mut oracle, ia, ib, theta).expect("explain");
    assert_close(
        &ex.a.signed.iter().copied().collect::<Vec<_>>(),
        &floats(&s.reference, "corrrise_a"),
        1e-4,
        "A",
    );
    assert_close(
        &ex.b.signed.iter().copied().collect::<Vec<_>>(),
        &floats(&s.reference, "corrrise_b"),
        1e-4,
        "B",
    );
    // deterministic
    let again = cr.explain(&mut oracle, ia, ib, theta).expect("explain");
    assert_eq!(ex, again);
}

#[test]
fn fggb_through_the_trait_equals_the_cached_path() {
    let Some(mut s) = setup() else { return };
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    let ga = oracle.fggb_maps(s.xa.view()).expect("maps");
    let gb = oracle.fggb_maps(s.xb.view()).expect("maps");
    let ia = ImageInput::new(s.xa.view(), ga.embedding().view());
    let ib = ImageInput::new(s.xb.view(), gb.embedding().view());
    let via_trait = method_impl(Method::Fggb)
        .explain(&mut oracle, ia, ib, 0.3)
        .expect("explain");
    assert_eq!(via_trait, fggb::explain_pair(&ga, &gb, 0.3));
    // forward through the gradient graph with K = 0 rows equals the inference model
    let e1 = embeddings(&mut oracle, &s.xa, &s.xb);
    s.extra.set_forward(xfv::ForwardPath::GradientGraph);
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    let e2 = embeddings(&mut oracle, &s.xa, &s.xb);
    let d = (&e1 - &e2).mapv(f32::abs).fold(0.0f32, |m, v| m.max(*v));
    assert!(d < 1e-5, "{d}");
}

#[test]
fn the_probe_alone_equals_the_pairs_a_maps_for_every_method() {
    let Some(mut s) = setup() else { return };
    let theta = s.reference["threshold"].as_f64().expect("theta") as f32;
    let mut oracle = ModelOracle::new(&mut s.fggb, &mut s.extra);
    // FGGB's embeddings from its own graph, so the probe path and the pair path use the same e_B
    let ga = oracle.fggb_maps(s.xa.view()).expect("maps a");
    let gb = oracle.fggb_maps(s.xb.view()).expect("maps b");
    let small = CorrRise::new(CorrRiseOptions {
        masks: 40,
        ..CorrRiseOptions::default()
    });
    let methods: Vec<Box<dyn PairMethod>> = vec![
        method_impl(Method::Fggb),
        method_impl(Method::Xssab),
        method_impl(Method::SimilarityGradient),
        Box::new(small.clone()),
    ];
    for m in &methods {
        let ia = ImageInput::new(s.xa.view(), ga.embedding().view());
        let ib = ImageInput::new(s.xb.view(), gb.embedding().view());
        let pair = m.explain(&mut oracle, ia, ib, theta).expect("pair");
        let probe = m.explain_probe(&mut oracle, ia, ib, theta).expect("probe");
        assert_eq!(pair.a, probe, "{}", m.method());
        // with A's per-image work handed in (FGGB's maps; CorrRISE's masked embeddings)
        let masked = small
            .masked_embeddings(&mut oracle, &small.options.masks(8, 8), s.xa.view())
            .expect("masked");
        let cached = ia
            .with_fggb(Some(&ga))
            .with_masked_embeddings(Some(&masked));
        let again = m
            .explain_probe(&mut oracle, cached, ib, theta)
            .expect("cached");
        assert_eq!(probe, again, "{} with cached per-image work", m.method());
    }
    // a cache made with other masks is refused, not silently used
    let wrong = ndarray::Array2::<f32>::zeros((7, ga.dim()));
    let ia =
        ImageInput::new(s.xa.view(), ga.embedding().view()).with_masked_embeddings(Some(&wrong));
    let ib = ImageInput::new(s.xb.view(), gb.embedding().view());
    assert!(small.explain_probe(&mut oracle, ia, ib, theta).is_err());
}
