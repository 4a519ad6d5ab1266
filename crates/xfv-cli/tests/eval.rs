//! `xfv eval` as a user runs it, on real ORL photos with the real SFace model (skipped without
//! the setup's files unless XFV_REQUIRE_REAL=1): the files it writes, `--maps`, resuming from the
//! checkpoint, and a bad pairs file.

mod common;

use std::path::Path;

use common::{stderr, stdout, xfv};
use xfv_testutil::{data_dir, real_models};

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

/// Two genuine and two impostor ORL pairs, two cheap methods: results.csv/json and the accuracy
/// and mean-score plots; `--maps dissimilarity` explains only the impostors; a second run of the
/// same command explains nothing and gives the same curves.
#[test]
fn eval_writes_tables_and_plots_filters_map_kinds_and_resumes() {
    let orl = data_dir().join("orl");
    let Some([_]) = real_models([orl.join("s1").join("1.pgm")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let pairs = dir.path().join("pairs.csv");
    std::fs::write(
        &pairs,
        "a,b,label\norl/s1/1.pgm,orl/s1/2.pgm,1\norl/s2/1.pgm,orl/s2/3.pgm,1\n\
         orl/s1/1.pgm,orl/s2/1.pgm,0\norl/s3/1.pgm,orl/s4/1.pgm,0\n",
    )
    .expect("write");
    let root = data_dir();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "--threads",
            "2",
            "eval",
            pairs.to_str().expect("utf8"),
            "--images-root",
            root.to_str().expect("utf8"),
            "-o",
            out.to_str().expect("utf8"),
            "--method",
            "similarity-gradient,xssab",
        ];
        args.extend_from_slice(extra);
        let o = xfv(&args);
        assert!(o.status.success(), "xfv eval failed: {}", stderr(&o));
        o
    };
    let out = dir.path().join("all");
    let first = run(&out, &[]);
    assert!(
        stdout(&first).contains("4 pairs (2 genuine, 2 impostor"),
        "{}",
        stdout(&first)
    );
    let r = read_json(&out.join("results.json"));
    let curves = r["curves"].as_array().expect("curves");
    assert_eq!(
        curves.len(),
        2 * 2 * 2,
        "2 methods x 2 map kinds x 2 metrics"
    );
    for c in curves {
        assert_eq!(c["pairs"], 2);
        assert_eq!(c["accuracy"].as_array().expect("acc").len(), 11);
        let m = c["mean_score"].as_array().expect("mean score");
        assert_eq!(m.len(), 11);
        // P = 0 is the clean probe: genuine scores high, impostor scores low
        let clean = m[0].as_f64().expect("num");
        if c["map"] == "similarity" && c["metric"] == "deletion" {
            assert!(clean > 0.5, "{c}");
        }
        if c["map"] == "dissimilarity" && c["metric"] == "deletion" {
            assert!(clean < 0.4, "{c}");
        }
    }
    for f in [
        "results.csv",
        "deletion_similarity.png",
        "insertion_dissimilarity.png",
        "score_deletion_dissimilarity.png",
        "checkpoint.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 8);

    // the same command again: everything from the checkpoint, the same curves
    let again = run(&out, &[]);
    assert!(
        stdout(&again).contains("(4 of 4 pairs resumed from the checkpoint)"),
        "{}",
        stdout(&again)
    );
    let r2 = read_json(&out.join("results.json"));
    assert_eq!(r["curves"], r2["curves"]);

    // only the dissimilarity maps: the impostor pairs alone are explained, the clean threshold
    // (set by all pairs) is the same
    let out_d = dir.path().join("dissimilarity");
    run(&out_d, &["--maps", "dissimilarity"]);
    let d = read_json(&out_d.join("results.json"));
    assert_eq!(
        d["verification"]["threshold"],
        r["verification"]["threshold"]
    );
    let dc = d["curves"].as_array().expect("curves");
    assert_eq!(dc.len(), 2 * 2);
    assert!(dc.iter().all(|c| c["map"] == "dissimilarity"));
    assert!(
        d["timings"]
            .as_array()
            .expect("t")
            .iter()
            .all(|t| t["pairs"] == 2)
    );
    for c in dc {
        let whole = curves
            .iter()
            .find(|w| {
                w["method"] == c["method"] && w["map"] == c["map"] && w["metric"] == c["metric"]
            })
            .expect("same curve");
        assert_eq!(whole["accuracy"], c["accuracy"]);
    }
    assert!(!out_d.join("deletion_similarity.png").exists());
}

/// A pairs file with a bad row is an error naming the file and the line.
#[test]
fn eval_bad_pairs_file_names_file_and_line() {
    let Some([_]) = real_models([data_dir().join("orl").join("s1").join("1.pgm")]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let pairs = dir.path().join("bad.csv");
    std::fs::write(&pairs, "a,b,label\norl/s1/1.pgm,orl/s1/2.pgm,maybe\n").expect("write");
    let o = xfv(&[
        "eval",
        pairs.to_str().expect("utf8"),
        "-o",
        dir.path().join("o").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("bad.csv:2"), "{err}");
}
