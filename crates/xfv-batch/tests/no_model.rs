//! A batch whose rows are all bad needs no model: every row is recorded, the summary and the
//! gallery are written, and a torn last line is cut on the next run.

use std::io::Write;

use xfv::Explainer;
use xfv_batch::{Batch, BatchOptions, ErrorKind, Shard, Status};

#[test]
fn bad_rows_are_recorded_and_resume_cuts_a_torn_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let pairs = tmp.path().join("pairs.csv");
    std::fs::write(&pairs, "a,b,label\n\nx.jpg\nx.jpg,y.jpg,2\na,b,c,d\n").expect("pairs");
    let out = tmp.path().join("out");
    let run = |shard: Shard| {
        let mut opts = BatchOptions::new(&out);
        opts.shard = shard;
        let batch = Batch::open(Explainer::builder("no-such-model"), &pairs, opts).expect("open");
        batch.run(|_| {}).expect("run")
    };
    let s = run("1/2".parse().expect("shard"));
    assert_eq!((s.pairs, s.failures), (1, 1));
    let s = run(Shard::default());
    assert_eq!((s.pairs, s.failures, s.run.pairs_done), (3, 3, 2));
    let results = out.join("results.jsonl");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&results)
        .expect("open")
        .write_all(b"{\"schema\":1,\"ro")
        .expect("tear");
    let s = run(Shard::default());
    assert_eq!((s.pairs, s.run.pairs_done), (3, 0));
    let recs = xfv_batch::results::read_records(&results).expect("read");
    assert!(
        std::fs::read_to_string(&results)
            .expect("text")
            .ends_with('\n')
    );
    assert_eq!(recs.len(), 3);
    assert!(recs.values().all(|r| r.status == Status::Error));
    assert_eq!(
        recs[&1].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Label)
    );
    assert!(out.join("index.html").is_file() && out.join("summary.json").is_file());
    assert!("2/2".parse::<Shard>().is_err());
    // the same output folder with another list is refused, not mixed
    std::fs::write(&pairs, "a,b\nother,list\n").expect("pairs");
    let e = Batch::open(
        Explainer::builder("no-such-model"),
        &pairs,
        BatchOptions::new(&out),
    )
    .expect_err("other list");
    assert!(e.to_string().contains("run.json"), "{e}");
}
