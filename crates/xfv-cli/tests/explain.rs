//! `xfv explain` as a user runs it: the files it writes and their content, and bad input.

mod common;

use std::path::PathBuf;

use common::{stderr, xfv};
use xfv_testutil::{data_dir, models_dir, real_models};

fn obama(name: &str) -> PathBuf {
    data_dir().join("obama").join(name)
}

/// Issue 4: obama vs obama2 is explained and accepted; every promised file is there and readable.
#[test]
fn issue4_explain_writes_panel_maps_crops_and_record() {
    let Some([a, b, _]) = real_models([
        obama("obama.jpg"),
        obama("obama2.jpg"),
        models_dir().join("sface.grad.onnx"),
    ]) else {
        return;
    };
    let out = tempfile::tempdir().expect("tmp");
    let dir = out.path().join("pair");
    let o = xfv(&[
        "explain",
        a.to_str().expect("utf8"),
        b.to_str().expect("utf8"),
        "-o",
        dir.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json on stdout");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).expect("record"))
            .expect("record json");
    assert_eq!(rec, on_disk);
    assert_eq!(rec["verdict"]["decision"], "accept");
    assert_eq!(rec["method"], "fggb");
    assert_eq!(rec["ep"], "cpu");
    assert_eq!(rec["a"]["faces_found"], 1);
    assert!(rec["a"]["detection"]["landmarks_px"].is_array());
    for key in ["preprocess_ms", "gradients_ms", "combine_ms", "write_ms"] {
        assert!(rec["timings"][key].as_f64().expect(key) >= 0.0);
    }
    let panel = image::open(dir.join("panel.png")).expect("panel decodes");
    assert_eq!(
        (panel.width(), panel.height()),
        (712, 648),
        "documented panel size for 112x112"
    );
    for crop in ["a_crop.png", "b_crop.png"] {
        let c = image::open(dir.join(crop)).expect("crop decodes");
        assert_eq!((c.width(), c.height()), (112, 112));
    }
    for m in [
        "a_similarity",
        "a_dissimilarity",
        "b_similarity",
        "b_dissimilarity",
        "a_signed",
        "b_signed",
    ] {
        let arr = xfv_report::read_npy_f32(&dir.join(format!("{m}.npy"))).expect("npy");
        assert_eq!(arr.shape(), &[112, 112], "{m}");
        assert!(arr.iter().all(|v| v.is_finite()), "{m}");
    }
    // no temp files left behind
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn no_face_tiny_and_missing_images_are_clear_errors() {
    let Some([_]) = real_models([models_dir().join("sface.grad.onnx")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save(&blank)
        .expect("save");
    let tiny = dir.path().join("tiny.png");
    image::RgbImage::from_pixel(1, 1, image::Rgb([9, 9, 9]))
        .save(&tiny)
        .expect("save");
    let out = dir.path().join("out");
    let (b, t, o) = (
        blank.to_str().expect("utf8"),
        tiny.to_str().expect("utf8"),
        out.to_str().expect("utf8"),
    );
    let run = |x: &str, y: &str| xfv(&["explain", x, y, "-o", o]);

    let r = run(b, b);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stderr(&r).contains("blank.png") && stderr(&r).contains("--aligned"),
        "{}",
        stderr(&r)
    );

    let r = run(t, b);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stderr(&r).contains("tiny.png") && stderr(&r).contains("1x1"),
        "{}",
        stderr(&r)
    );

    let r = run("/nonexistent/a.jpg", b);
    assert_eq!(r.status.code(), Some(1));
    assert!(stderr(&r).contains("/nonexistent/a.jpg"), "{}", stderr(&r));
    assert!(!out.exists(), "nothing is written for a failed pair");
}

#[test]
fn missing_gradient_graph_says_how_to_make_it() {
    let Some([a]) = real_models([obama("obama.jpg")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["sface.toml", "yunet.toml"] {
        std::fs::copy(models_dir().join(f), dir.path().join(f)).expect("copy");
    }
    let a = a.to_str().expect("utf8");
    let o = xfv(&[
        "explain",
        a,
        a,
        "-o",
        dir.path().join("out").to_str().expect("utf8"),
        "--models-dir",
        dir.path().to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("sface.grad.onnx") && err.contains("scripts/setup"),
        "{err}"
    );
}
