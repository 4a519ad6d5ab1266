//! `xfv bench` smoke test (issue 7): a real model on aligned crops for one iteration; the JSON has
//! every promised field with sane values, the table is printed, `--compare` prints ratios.

mod common;

use common::{stderr, stdout, xfv};
use xfv_testutil::{data_dir, models_dir, real_models};

#[test]
fn issue7_bench_single_pair_json_fields_and_compare() {
    let Some([a, b, _]) = real_models([
        data_dir().join("obama/obama.jpg"),
        data_dir().join("obama/obama2.jpg"),
        models_dir().join("sface.grad.onnx"),
    ]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let saved = tmp.path().join("run1.json");
    let (a, b, saved_s) = (
        a.to_str().expect("utf8"),
        b.to_str().expect("utf8"),
        saved.to_str().expect("utf8"),
    );
    // One piece (128 rows) and small sgemm: the shortest real run.
    let common_args = [
        "bench",
        a,
        b,
        "--aligned",
        "--model",
        "sface",
        "--warmup",
        "0",
        "-n",
        "1",
        "--chunk-rows",
        "128",
        "--sgemm-n",
        "256",
        "--threads",
        "2",
    ];
    let mut args = common_args.to_vec();
    args.extend(["--json", "--json-out", saved_s]);
    let o = xfv(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json on stdout");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    assert_eq!(r, on_disk);
    assert_eq!(r["schema"], 1);
    assert_eq!(r["workload"], "single");
    assert_eq!(r["model"], "sface");
    assert_eq!(r["dim"], 128);
    assert_eq!(r["ep"], "cpu");
    assert_eq!(r["ep_fell_back"], false);
    assert_eq!(r["threads"], 2);
    assert_eq!(r["chunk_rows"], 128);
    assert_eq!(
        (r["images"].as_u64(), r["pairs"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["iterations"], 1);
    let num = |k: &str| {
        r.pointer(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(-1.0)
    };
    assert!(num("/pairs_per_s") > 0.0);
    assert!(num("/latency_ms/p50") > 0.0 && num("/latency_ms/p95") >= num("/latency_ms/p50"));
    for stage in ["preprocess_ms", "gradients_ms", "combine_ms"] {
        assert!(num(&format!("/stages_ms/{stage}")) >= 0.0, "{stage}");
    }
    // 2 images x 128 rows x 1.148 GFLOP per row (from the graph's metadata)
    let gflop = num("/gradient_gflop");
    assert!((280.0..310.0).contains(&gflop), "gradient_gflop {gflop}");
    assert!(num("/gradient_gflop_per_s") > 0.0);
    assert!(num("/sgemm/gflop_per_s") > 0.0);
    assert_eq!(r["sgemm"]["n"], 256);
    assert!(num("/gradient_pct_of_sgemm") > 0.0);
    assert!(num("/peak_rss_mb") > 50.0);
    assert!(r["load_avg"].as_array().is_some_and(|l| l.len() == 3));
    assert!(r["cpu"].as_str().is_some_and(|c| !c.is_empty()));

    let mut args = common_args.to_vec();
    args.extend(["--compare", saved_s]);
    let o = xfv(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "pairs/s",
        "gradient % of ceiling",
        "compared with",
        "now/old",
        "gradients_ms",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn issue7_bench_bad_compare_file_and_too_few_images() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "{\"not\": \"a report\"}").expect("write");
    let o = xfv(&[
        "bench",
        "a.png",
        "b.png",
        "--compare",
        bad.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not an `xfv bench` JSON report"),
        "{}",
        stderr(&o)
    );
    let o = xfv(&["bench", "a.png"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = xfv(&["bench", "a.png", "b.png", "--workload", "2:N"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
