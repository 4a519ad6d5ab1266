//! Issue 5: `xfv batch` / `xfv merge` as a user runs them, on the real SFace model over ORL
//! crops (`--aligned`, 3 images, so each test pays for few gradient passes), and the gallery in
//! a real headless chromium.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, xfv};
use serde_json::Value;
use xfv_testutil::{data_dir, models_dir, real_models, real_required};

const A: &str = "orl/s1/1.pgm";
const B: &str = "orl/s1/2.pgm";
const C: &str = "orl/s2/1.pgm";

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn real() -> bool {
    real_models([
        models_dir().join("sface.grad.onnx"),
        data_dir().join(A),
        data_dir().join(C),
    ])
    .is_some()
}

/// results.jsonl: every line complete JSON, file ends with a newline; records by row.
fn records(out: &Path) -> BTreeMap<u64, Value> {
    let text = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
    let mut by_row = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("every line is a record");
        let row = v["row"].as_u64().expect("row");
        assert!(by_row.insert(row, v).is_none(), "row {row} recorded twice");
    }
    by_row
}

fn summary(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("summary json")
}

fn batch(pairs: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "batch",
        s(pairs),
        "-o",
        s(out),
        "--images-root",
        "data",
        "--aligned",
        "--json",
    ];
    args.extend_from_slice(extra);
    xfv(&args)
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|c| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    });
    if found.is_none() {
        assert!(
            !real_required(),
            "chromium missing (scripts/test installs it)"
        );
        eprintln!("skipped: no chromium");
    }
    found
}

/// The DOM of `page` after its script ran, in headless chromium (no network, no GPU).
fn dump_dom(browser: &Path, page: &Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("file://{}{fragment}", s(page));
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", s(profile.path())),
            "--dump-dom",
            &url,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "chromium: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `<html ...>` start tag: where the injected file name would have set `data-pwned`.
fn html_tag(dom: &str) -> &str {
    let start = dom.find("<html").expect("html element");
    &dom[start..start + dom[start..].find('>').expect("tag end")]
}

fn visible_rows(dom: &str) -> usize {
    dom.split("<tr class=\"pair")
        .skip(1)
        .filter(|r| !r[..r.find('>').unwrap_or(0)].contains("hidden"))
        .count()
}

/// Issue 5: bad rows (missing file, wrong columns, blank lines, duplicate, non-UTF-8 path,
/// HTML in a file name) become error records, not a failed batch; 3 distinct images cost 3
/// gradient passes; a rerun redoes nothing; a second batch over the same images reads all of
/// them from the disk cache (0 passes); the gallery loads in chromium with one row per record,
/// its filter works and `<script>`-named files do not run.
#[test]
fn issue5_batch_bad_rows_image_cache_resume_and_gallery() {
    if !real() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let pairs = tmp.path().join("pairs.csv");
    let mut f = std::fs::File::create(&pairs).expect("pairs");
    f.write_all(
        format!(
            "a,b,label\n{A},{B},1\n\n{A},{C},0\n   \n{B},{C},0\n{A},{B},1\nonly-one-column\n\
             orl/missing.pgm,{A},0\n<script>.jpg,{A},0\n\
             <img src=x onerror=document.documentElement.setAttribute('data-pwned','1')>.jpg,{B},0\n"
        )
        .as_bytes(),
    )
    .expect("write");
    f.write_all(b"orl/\xff\xfenot-utf8.pgm,orl/s1/1.pgm,1\n")
        .expect("write");
    drop(f);
    let out = tmp.path().join("out");
    let cache = tmp.path().join("cache");
    let sm = summary(&batch(&pairs, &out, &["--cache", s(&cache)]));
    assert_eq!(sm["pairs"], 9, "{sm}");
    assert_eq!(sm["ok"], 3);
    assert_eq!(sm["failures"], 6);
    assert_eq!(
        sm["run"]["gradient_passes"], 3,
        "one pass per distinct image"
    );
    assert_eq!(sm["accuracy"], 1.0);
    let recs = records(&out);
    assert_eq!(recs.len(), 9);
    let kind = |row: u64| {
        recs[&row]["error"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(recs[&0]["decision"], "accept");
    assert_eq!(kind(3), "duplicate");
    assert_eq!(kind(4), "columns");
    assert_eq!(kind(5), "image");
    assert_eq!(kind(8), "image");
    assert!(recs[&8]["a"].as_str().expect("a").contains('\u{fffd}'));
    for row in 0..3 {
        let dir = out.join(recs[&row]["dir"].as_str().expect("dir"));
        assert!(dir.join("panel.png").is_file() && dir.join("record.json").is_file());
    }

    // rerun: nothing left, nothing duplicated
    let again = summary(&batch(&pairs, &out, &["--cache", s(&cache)]));
    assert_eq!(again["run"]["pairs_done"], 0);
    assert_eq!(records(&out).len(), 9);

    // same images, new output: all from the disk cache, scores within f16 precision
    let out2 = tmp.path().join("out2");
    let cached = summary(&batch(&pairs, &out2, &["--cache", s(&cache)]));
    assert_eq!(cached["run"]["gradient_passes"], 0);
    assert_eq!(cached["run"]["cache_hits"], 3);
    let recs2 = records(&out2);
    for row in 0..3 {
        let (x, y) = (&recs[&row]["score"], &recs2[&row]["score"]);
        assert!(
            (x.as_f64().expect("s") - y.as_f64().expect("s")).abs() < 1e-6,
            "{x} {y}"
        );
        assert!(recs2[&row]["decision"] == recs[&row]["decision"]);
    }

    let Some(browser) = chromium() else { return };
    let page = out.join("index.html");
    let html = std::fs::read_to_string(&page).expect("index.html");
    assert!(!html.contains("<script>.jpg") && html.contains("&lt;script&gt;.jpg"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
    let dom = dump_dom(&browser, &page, "");
    assert!(dom.contains("data-ready=\"1\""), "the page's script ran");
    assert!(
        !html_tag(&dom).contains("data-pwned"),
        "an injected file name ran"
    );
    assert!(
        dom.contains("&lt;img src=x onerror="),
        "the name is shown as text"
    );
    assert_eq!(visible_rows(&dom), 9);
    let errors = dump_dom(&browser, &page, "#filter=error");
    assert_eq!(visible_rows(&errors), 6);
    assert!(errors.contains("data-shown=\"6\""));
    let rejects = dump_dom(&browser, &page, "#filter=reject&sort=desc");
    assert_eq!(visible_rows(&rejects), 2);
    assert!(!html_tag(&rejects).contains("data-pwned"));
}

fn without_timings(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("timings");
        o.remove("score");
    }
    v
}

/// Issue 5: the batch killed at a random point and run again ends with every pair exactly once
/// and no torn line; `--shard 0/2` + `--shard 1/2` merged equal the single run.
#[test]
fn issue5_kill_resume_then_shards_merge_to_the_same_result() {
    if !real() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let pairs = tmp.path().join("pairs.tsv");
    let rows = [
        (A, B, 1),
        (A, C, 0),
        (B, C, 0),
        (B, A, 1),
        (C, A, 0),
        (C, B, 0),
    ];
    let mut text = String::from("a\tb\tlabel\n");
    for (a, b, l) in rows {
        text.push_str(&format!("{a}\t{b}\t{l}\n"));
    }
    std::fs::write(&pairs, text).expect("pairs");
    let out = tmp.path().join("full");
    let cache = tmp.path().join("cache");
    // a random point: after 0..=3 records (0: during the gradient passes)
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let kill_after = (nanos % 4) as usize;
    let mut child = Command::new(env!("CARGO_BIN_EXE_xfv"))
        .args([
            "batch",
            s(&pairs),
            "-o",
            s(&out),
            "--images-root",
            "data",
            "--aligned",
            "--cache",
            s(&cache),
        ])
        .current_dir(xfv_testutil::repo())
        .env_remove("XFV_MODELS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let t0 = Instant::now();
    loop {
        let n = std::fs::read(out.join("results.jsonl"))
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
        let waited = if kill_after == 0 {
            t0.elapsed() > Duration::from_millis(1500 + u64::from(nanos % 3000))
        } else {
            n >= kill_after
        };
        if waited
            || child.try_wait().expect("wait").is_some()
            || t0.elapsed() > Duration::from_secs(600)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("killed after {kill_after} records");
    let before = if out.join("results.jsonl").exists() {
        records(&out).len()
    } else {
        0
    };
    // simulate the worst moment too: a torn line at the end
    if out.join("results.jsonl").exists() {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(out.join("results.jsonl"))
            .expect("open");
        f.write_all(br#"{"schema":1,"row":5,"li"#).expect("tear");
    }
    let sm = summary(&batch(&pairs, &out, &["--cache", s(&cache)]));
    assert_eq!(sm["pairs"], 6);
    assert_eq!(sm["run"]["pairs_done"].as_u64(), Some(6 - before as u64));
    let full = records(&out);
    assert_eq!(
        full.keys().copied().collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );

    let (s0, s1, merged) = (
        tmp.path().join("s0"),
        tmp.path().join("s1"),
        tmp.path().join("merged"),
    );
    let a = summary(&batch(
        &pairs,
        &s0,
        &["--cache", s(&cache), "--shard", "0/2"],
    ));
    let b = summary(&batch(
        &pairs,
        &s1,
        &["--cache", s(&cache), "--shard", "1/2"],
    ));
    assert_eq!(
        (a["pairs"].as_u64(), b["pairs"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        records(&s0).keys().copied().collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    let m = xfv(&["merge", s(&s0), s(&s1), "-o", s(&merged), "--json"]);
    let ms = summary(&m);
    assert_eq!(ms["pairs"], sm["pairs"]);
    assert_eq!(ms["accepts"], sm["accepts"]);
    assert_eq!(ms["accuracy"], sm["accuracy"]);
    let mrecs = records(&merged);
    assert_eq!(mrecs.len(), 6);
    for (row, r) in &full {
        let got = &mrecs[row];
        let (x, y) = (
            r["score"].as_f64().expect("score"),
            got["score"].as_f64().expect("score"),
        );
        assert!((x - y).abs() < 2e-3, "row {row}: {x} vs {y} (f16 cache)");
        assert_eq!(
            without_timings(r.clone()),
            without_timings(got.clone()),
            "row {row}"
        );
        assert!(
            merged
                .join(got["dir"].as_str().expect("dir"))
                .join("panel.png")
                .is_file()
        );
    }
    assert!(merged.join("index.html").is_file());
}

/// `xfv merge` refuses outputs of different pair lists.
#[test]
fn merge_refuses_different_lists() {
    let tmp = tempfile::tempdir().expect("tmp");
    for (name, sha) in [("x", "aaa"), ("y", "bbb")] {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(
            d.join("run.json"),
            format!(r#"{{"pairs":"p","pairs_sha256":"{sha}","entries":1,"model":"sface","threshold":0.3}}"#),
        )
        .expect("run.json");
        std::fs::write(d.join("results.jsonl"), "").expect("results");
    }
    let o = xfv(&[
        "merge",
        s(&tmp.path().join("x")),
        s(&tmp.path().join("y")),
        "-o",
        s(&tmp.path().join("m")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("pairs_sha256"), "{}", stderr(&o));
}
