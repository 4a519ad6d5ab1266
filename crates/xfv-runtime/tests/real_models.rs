//! The runtime on the real converted models (made by `scripts/setup`): shapes checked at load,
//! embeddings equal to Python onnxruntime's on the same input, batch rows equal single rows.
//! Reference: tests/reference/embeddings_pattern.json, made by
//! `python -m xfv_tools.reference_embeddings` (scripts/xfv_tools/reference_embeddings.py).

use ndarray::Array4;
use xfv_core::ModelCard;
use xfv_runtime::{EmbeddingModel, EpRequest, Error, Runtime, RuntimeOptions};
use xfv_testutil::{max_abs_diff, models_dir, real_models, reference_dir};

/// Same closed-form pattern as reference_embeddings.pattern(), scaled by the card.
fn pattern(card: &ModelCard, n: usize) -> Array4<f32> {
    let (h, w) = (card.input.height_px as usize, card.input.width_px as usize);
    Array4::from_shape_fn((n, 3, h, w), |(i, c, y, x)| {
        let p = ((31 * i + 17 * c + 3 * y + 5 * x) % 256) as f32;
        (p - card.input.mean[c]) / card.input.std[c]
    })
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        intra_threads: 2,
        ..RuntimeOptions::default()
    })
    .expect("ONNX Runtime loads (run scripts/setup)")
}

#[test]
fn embeddings_match_python_onnxruntime() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reference_dir().join("embeddings_pattern.json"))
            .expect("reference"),
    )
    .expect("json");
    for name in ["sface", "mobilefacenet", "dlib"] {
        let card = ModelCard::from_path(&models_dir().join(format!("{name}.toml"))).expect("card");
        let Some([path]) = real_models([card.model_path()]) else {
            return;
        };
        let rec = &reference["models"][name];
        assert_eq!(
            rec["sha256"].as_str(),
            Some(card.converted.sha256.as_str()),
            "{name}: the reference was recorded on another conversion; rerun python -m xfv_tools.reference_embeddings"
        );
        let mut model = EmbeddingModel::load(
            &runtime(),
            &path,
            &card.manifest().expect("manifest"),
            &EpRequest::cpu(),
        )
        .expect("load");
        assert_eq!(model.info().ep.name(), "cpu");
        let x = pattern(&card, 2);
        let got = model.embed(x.view()).expect("embed");
        let want: Vec<f32> = rec["embedding"]
            .as_array()
            .expect("rows")
            .iter()
            .flat_map(|r| {
                r.as_array()
                    .expect("row")
                    .iter()
                    .map(|v| v.as_f64().expect("num") as f32)
            })
            .collect();
        let got_flat: Vec<f32> = got.values.iter().copied().collect();
        let diff = max_abs_diff(&got_flat, &want);
        assert!(
            diff < 1e-5,
            "{name}: Rust vs Python onnxruntime max abs diff {diff}"
        );

        // a batch of two equals the two rows run alone
        for i in 0..2 {
            let one = x.slice(ndarray::s![i..i + 1, .., .., ..]).to_owned();
            let e = model.embed(one.view()).expect("embed one");
            let row: Vec<f32> = got.values.row(i).to_vec();
            let d = max_abs_diff(&e.values.row(0).to_vec(), &row);
            assert!(
                d < 1e-5,
                "{name}: batch row {i} differs from single run by {d}"
            );
        }
    }
}

#[test]
fn wrong_shapes_are_errors_naming_the_file() {
    let card = ModelCard::from_path(&models_dir().join("sface.toml")).expect("card");
    let Some([path]) = real_models([card.model_path()]) else {
        return;
    };
    let rt = runtime();
    let mut manifest = card.manifest().expect("manifest");
    manifest.embedding.dim = 192;
    let err = EmbeddingModel::load(&rt, &path, &manifest, &EpRequest::cpu()).expect_err("dim 192");
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("sface.onnx"), "{err}");

    let manifest = card.manifest().expect("manifest");
    let mut model = EmbeddingModel::load(&rt, &path, &manifest, &EpRequest::cpu()).expect("load");
    let wrong = Array4::<f32>::zeros((1, 3, 100, 112));
    let err = model.embed(wrong.view()).expect_err("100x112");
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
}

#[test]
fn a_missing_model_file_says_how_to_get_it() {
    let card = ModelCard::from_path(&models_dir().join("sface.toml")).expect("card");
    let Some([_]) = real_models([xfv_testutil::repo().join(".xfv/lib/libonnxruntime.so.1.31.1")])
    else {
        return;
    };
    let err = EmbeddingModel::load(
        &runtime(),
        std::path::Path::new("/nonexistent/sface.onnx"),
        &card.manifest().expect("manifest"),
        &EpRequest::cpu(),
    )
    .expect_err("missing");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/sface.onnx") && msg.contains("scripts/setup"),
        "{msg}"
    );
}

#[test]
fn requested_gpu_provider_without_support_is_an_error_not_a_cpu_run() {
    let card = ModelCard::from_path(&models_dir().join("sface.toml")).expect("card");
    let Some([path]) = real_models([card.model_path()]) else {
        return;
    };
    let req: EpRequest = "cuda".parse().expect("parse");
    let res = EmbeddingModel::load(&runtime(), &path, &card.manifest().expect("manifest"), &req);
    match res {
        // a build with CUDA on a machine with a GPU may start it; then it must really be CUDA
        Ok(m) => assert_eq!(m.info().ep.name(), "cuda"),
        Err(e) => assert!(
            matches!(e, Error::EpNotCompiled { .. } | Error::EpUnavailable { .. }),
            "{e}"
        ),
    }
    // `cuda,cpu` may fall back, and says so
    let req: EpRequest = "cuda,cpu".parse().expect("parse");
    let m = EmbeddingModel::load(&runtime(), &path, &card.manifest().expect("manifest"), &req)
        .expect("fallback");
    if m.info().ep.name() == "cpu" {
        assert!(m.info().fell_back);
    }
}
