//! The `xfv` binary, run as a user runs it, on the real models and photos that `scripts/setup`
//! fetched (skipped without them unless XFV_REQUIRE_REAL=1), and on bad input of every kind.

mod common;

use std::path::{Path, PathBuf};

use common::{stderr, stdout, xfv};
use xfv_testutil::{data_dir, models_dir, real_models};

fn photo(name: &str) -> PathBuf {
    data_dir().join("obama").join(name)
}

fn verify_json(model: &str, a: &Path, b: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "verify",
        a.to_str().expect("utf8"),
        b.to_str().expect("utf8"),
        "--model",
        model,
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = xfv(&args);
    assert!(o.status.success(), "xfv failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("json report")
}

/// Issue 2: obama vs obama2 is accepted and obama vs biden rejected, with every model.
#[test]
fn issue2_obama_pairs_accept_and_reject_with_each_model() {
    let Some([obama, obama2, biden]) =
        real_models([photo("obama.jpg"), photo("obama2.jpg"), photo("biden.jpg")])
    else {
        return;
    };
    for model in ["sface", "mobilefacenet", "dlib"] {
        let same = verify_json(model, &obama, &obama2, &[]);
        assert_eq!(same["verdict"]["decision"], "accept", "{model}: {same}");
        let diff = verify_json(model, &obama, &biden, &[]);
        assert_eq!(diff["verdict"]["decision"], "reject", "{model}: {diff}");
        assert_eq!(same["ep"], "cpu");
        assert_eq!(same["a"]["faces_found"], 1, "{model}");
        // the detected face sits inside the image
        let bbox: Vec<f64> = same["a"]["detection"]["bbox_px"]
            .as_array()
            .expect("bbox")
            .iter()
            .map(|v| v.as_f64().expect("num"))
            .collect();
        let size = same["a"]["image_size_px"].as_array().expect("size");
        assert!(bbox[0] >= 0.0 && bbox[0] + bbox[2] <= size[0].as_f64().expect("w") + 1.0);
    }
    // SFace's documented range for the real Obama pairs (cosine 0.72..0.77)
    let s = verify_json("sface", &obama, &obama2, &[]);
    let score = s["verdict"]["score"].as_f64().expect("score");
    assert!(
        (0.70..0.80).contains(&score),
        "sface obama/obama2 cosine {score}"
    );
}

#[test]
fn human_output_names_score_threshold_and_decision() {
    let Some([obama, biden]) = real_models([photo("obama.jpg"), photo("biden.jpg")]) else {
        return;
    };
    let o = xfv(&[
        "verify",
        obama.to_str().expect("utf8"),
        biden.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("cosine") && out.contains("0.3630") && out.contains("Reject"),
        "{out}"
    );
}

#[test]
fn threshold_flag_overrides_the_card() {
    let Some([obama, biden]) = real_models([photo("obama.jpg"), photo("biden.jpg")]) else {
        return;
    };
    let r = verify_json("sface", &obama, &biden, &["--threshold", "-1"]);
    assert_eq!(r["verdict"]["decision"], "accept");
    assert_eq!(r["verdict"]["threshold"], -1.0);
}

#[test]
fn aligned_mode_skips_detection() {
    let hanks = data_dir().join("insightface").join("Tom_Hanks_54745.png");
    let Some([hanks]) = real_models([hanks]) else {
        return;
    };
    let r = verify_json("sface", &hanks, &hanks, &["--aligned"]);
    assert_eq!(r["a"]["faces_found"], 0);
    assert!(r["a"]["detection"].is_null());
    let score = r["verdict"]["score"].as_f64().expect("score");
    assert!((score - 1.0).abs() < 1e-5, "same crop twice: {score}");
}

fn expect_error(args: &[&str], needles: &[&str]) {
    let o = xfv(args);
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {}", stderr(&o));
    let err = stderr(&o);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_images_are_clear_errors_naming_the_file() {
    let Some([obama]) = real_models([photo("obama.jpg")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a picture").expect("write");
    let truncated = dir.path().join("cut.jpg");
    let bytes = std::fs::read(&obama).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    let obama = obama.to_str().expect("utf8");

    let t = text.to_str().expect("utf8");
    expect_error(&["verify", t, obama], &["notes.jpg", "not an image"]);
    let c = truncated.to_str().expect("utf8");
    expect_error(&["verify", c, obama], &["cut.jpg", "truncated"]);
    expect_error(
        &["verify", obama, "/nonexistent/x.jpg"],
        &["/nonexistent/x.jpg"],
    );
}

#[test]
fn missing_or_wrong_library_says_how_to_fix_it() {
    let Some([obama]) = real_models([photo("obama.jpg")]) else {
        return;
    };
    let obama = obama.to_str().expect("utf8");
    expect_error(
        &[
            "verify",
            obama,
            obama,
            "--ort-lib",
            "/nonexistent/libonnxruntime.so",
        ],
        &[
            "not found",
            "/nonexistent/libonnxruntime.so",
            "scripts/setup",
        ],
    );
    let dir = tempfile::tempdir().expect("tmp");
    let fake = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&fake, "not a library").expect("write");
    expect_error(
        &[
            "verify",
            obama,
            obama,
            "--ort-lib",
            fake.to_str().expect("utf8"),
        ],
        &["cannot be used", "scripts/setup"],
    );
}

#[test]
fn missing_model_wrong_checksum_and_unknown_model_are_clear_errors() {
    let Some([obama, _]) = real_models([photo("obama.jpg"), models_dir().join("sface.onnx")])
    else {
        return;
    };
    let obama = obama.to_str().expect("utf8");
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["sface.toml", "yunet.toml"] {
        std::fs::copy(models_dir().join(f), dir.path().join(f)).expect("copy card");
    }
    let d = dir.path().to_str().expect("utf8");
    // card present, model file absent
    expect_error(
        &["verify", obama, obama, "--models-dir", d],
        &["sface.onnx", "does not exist", "scripts/setup"],
    );
    // model file corrupted
    std::fs::write(dir.path().join("sface.onnx"), "garbage").expect("write");
    expect_error(
        &["verify", obama, obama, "--models-dir", d],
        &["sface.onnx", "sha256", "scripts/setup"],
    );
    expect_error(
        &["verify", obama, obama, "--model", "nosuchmodel"],
        &["nosuchmodel", "sface"],
    );
}

#[test]
fn gpu_provider_not_compiled_in_is_an_error_not_a_cpu_run() {
    let Some([obama]) = real_models([photo("obama.jpg")]) else {
        return;
    };
    if cfg!(feature = "cuda") {
        return;
    }
    let obama = obama.to_str().expect("utf8");
    expect_error(
        &["verify", obama, obama, "--ep", "cuda"],
        &["cuda", "not compiled"],
    );
    // asking for a fallback list is allowed, and the report says what ran
    let r = verify_json(
        "sface",
        Path::new(obama),
        Path::new(obama),
        &["--ep", "cuda,cpu"],
    );
    assert_eq!(r["ep"], "cpu");
    assert_eq!(r["ep_fell_back"], true);
}

#[test]
fn unknown_provider_is_a_usage_error() {
    let o = xfv(&["verify", "a.jpg", "b.jpg", "--ep", "npu"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("npu"));
}

/// `xfv embed`: one row per input in order, a failed image recorded (NaN row, its error named in
/// embeddings.json) while the others go on, rows whose cosine is `xfv verify`'s score; a list
/// file's relative paths are taken from its folder; no usable image at all is an error.
#[test]
fn embed_writes_one_row_per_image_and_records_failures() {
    let Some([obama, obama2]) = real_models([photo("obama.jpg"), photo("obama2.jpg")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a picture").expect("write");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "# the bad one, relative to the list\n\nnotes.jpg\n").expect("write");
    let out = dir.path().join("emb");
    let o = xfv(&[
        "embed",
        obama.to_str().expect("utf8"),
        obama2.to_str().expect("utf8"),
        "--list",
        list.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
        "--model",
        "mobilefacenet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("2 of 3 images embedded"),
        "{}",
        stdout(&o)
    );
    let e = xfv_report::read_npy_f32(&out.join("embeddings.npy")).expect("npy");
    assert_eq!(e.shape(), &[3, 192]);
    assert!(e.index_axis(ndarray::Axis(0), 2).iter().all(|v| v.is_nan()));
    let row =
        |k: usize| -> Vec<f32> { e.index_axis(ndarray::Axis(0), k).iter().copied().collect() };
    let (a, b) = (row(0), row(1));
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    let cos = dot(&a, &b) / (dot(&a, &a).sqrt() * dot(&b, &b).sqrt());
    let v = verify_json("mobilefacenet", &obama, &obama2, &[]);
    let score = v["verdict"]["score"].as_f64().expect("score") as f32;
    assert!(
        (cos - score).abs() < 1e-5,
        "embed cosine {cos} vs verify {score}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("embeddings.json")).expect("json"))
            .expect("parse");
    assert_eq!(
        (j["model"].as_str(), j["dim"].as_u64()),
        (Some("mobilefacenet"), Some(192))
    );
    assert_eq!(
        (j["embedded"].as_u64(), j["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(j["images"][0]["faces_found"], 1);
    assert_eq!(j["images"][2]["ok"], false);
    assert!(
        j["images"][2]["path"]
            .as_str()
            .expect("path")
            .ends_with("notes.jpg")
            && j["images"][2]["error"]
                .as_str()
                .expect("error")
                .contains("not an image"),
        "{j}"
    );
    let t = text.to_str().expect("utf8");
    let o2 = dir.path().join("none");
    expect_error(
        &["embed", t, "-o", o2.to_str().expect("utf8")],
        &["none of the 1 images", "notes.jpg", "not an image"],
    );
    assert!(!o2.exists(), "nothing written when no image could be used");
}
