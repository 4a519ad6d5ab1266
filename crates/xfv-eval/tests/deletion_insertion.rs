//! Deletion and insertion on a tiny analytic "model" with known curves: the embedding is
//! `[1, 0]` while pixel (0, 0) is not black and `[0, 1]` once it is, and every VJP map puts its
//! largest value on pixel (0, 0). So the similarity-gradient map ranks (0, 0) first on every
//! probe: deleting 10 % of the pixels (2 of 16) flips every decision, inserting them restores it.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayView4, Axis};
use xfv_eval::{Checkpoint, EvalOptions, IndexPair, MapKind, Metric, evaluate};
use xfv_explain::{ImageGradients, Method, Oracle, OracleError};

const BLACK: f32 = -1.0;

struct Switch;

impl Oracle for Switch {
    fn dim(&self) -> usize {
        2
    }
    fn black(&self) -> [f32; 3] {
        [BLACK; 3]
    }
    fn embed(&mut self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, OracleError> {
        let mut e = Array2::zeros((x.shape()[0], 2));
        for (i, img) in x.axis_iter(Axis(0)).enumerate() {
            // a gallery image is marked by pixel (1, 1) = 0.5: it embeds as [0, 1]
            let gallery_b = img[[0, 1, 1]] == 0.5;
            let on = img[[0, 0, 0]] != BLACK;
            e[[i, if on && !gallery_b { 0 } else { 1 }]] = 1.0;
        }
        Ok(e)
    }
    fn vjp_absmean(
        &mut self,
        x: ArrayView3<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<Array3<f32>, OracleError> {
        let (_, h, w) = x.dim();
        Ok(Array3::from_shape_fn(
            (cotangent.nrows(), h, w),
            |(_, y, x)| {
                if (y, x) == (0, 0) { 1.0 } else { 0.1 }
            },
        ))
    }
    fn fggb_maps(&mut self, _x: ArrayView3<'_, f32>) -> Result<ImageGradients, OracleError> {
        Err("not used".into())
    }
}

#[test]
fn curves_flip_at_the_first_ratio() {
    let probe = Array3::<f32>::from_elem((3, 4, 4), 0.2);
    let mut gallery_b = Array3::<f32>::from_elem((3, 4, 4), 0.2);
    gallery_b[[0, 1, 1]] = 0.5;
    let tensors = vec![probe.clone(), probe.clone(), gallery_b];
    // genuine: probe vs probe copy (score 1); impostor: probe vs gallery_b (score 0)
    let pairs = [
        IndexPair {
            a: 0,
            b: 1,
            genuine: true,
        },
        IndexPair {
            a: 1,
            b: 0,
            genuine: true,
        },
        IndexPair {
            a: 0,
            b: 2,
            genuine: false,
        },
        IndexPair {
            a: 1,
            b: 2,
            genuine: false,
        },
    ];
    let options = EvalOptions {
        methods: vec![Method::SimilarityGradient],
        ..EvalOptions::default()
    };
    let ev =
        evaluate(&mut Switch, &tensors, &pairs, &options, None, &mut |_| {}).expect("evaluate");
    assert_eq!(ev.verification.eer.threshold, 1.0);
    assert_eq!(ev.verification.accuracy, 1.0);
    assert_eq!(ev.verification.auc, 1.0);
    assert_eq!(ev.curves.len(), 4);
    for c in &ev.curves {
        assert_eq!(c.pairs, 2);
        let want: Vec<f64> = match c.metric {
            Metric::Deletion => (0..=10).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
            Metric::Insertion => (0..=10).map(|i| if i == 0 { 0.0 } else { 1.0 }).collect(),
        };
        assert_eq!(c.accuracy, want, "{:?} {:?}", c.map, c.metric);
        let area = if c.metric == Metric::Deletion {
            5.0
        } else {
            95.0
        };
        assert!((c.area_x100 - area).abs() < 1e-9);
        // mean scores: deleting pixel (0, 0) turns the probe into [0, 1], which scores 0 against
        // the genuine gallery [1, 0] and 1 against the impostor gallery [0, 1]
        let flipped = match (c.map, c.metric) {
            (MapKind::Similarity, Metric::Deletion)
            | (MapKind::Dissimilarity, Metric::Insertion) => 0.0,
            _ => 1.0,
        };
        let want: Vec<f64> = (0..=10)
            .map(|i| if i == 0 { 1.0 - flipped } else { flipped })
            .collect();
        assert_eq!(c.mean_score, want, "{:?} {:?}", c.map, c.metric);
        let area = if flipped == 0.0 { 0.05 } else { 0.95 };
        assert!(
            (c.mean_score_area - area).abs() < 1e-9,
            "{}",
            c.mean_score_area
        );
    }
    assert!(ev.curves.iter().any(|c| c.map == MapKind::Dissimilarity));
    // table and plots
    let dir = tempfile::tempdir().expect("tmp");
    let files = xfv_eval::output::write_all(
        &ev,
        dir.path(),
        "switch",
        serde_json::json!({"model": "switch"}),
    )
    .expect("write");
    assert_eq!(files.len(), 2 + 2 * 4);
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).expect("csv");
    assert!(csv.starts_with("method,map,metric,pairs,area_x100,acc_p0,"));
    assert!(csv.contains("similarity-gradient,similarity,deletion,2,5.00,1.0000,0.0000"));
    let img = image::open(dir.path().join("deletion_similarity.png")).expect("png");
    assert_eq!((img.width(), img.height()), (800, 480));
    assert!(dir.path().join("score_deletion_dissimilarity.png").exists());
    let header = csv.lines().next().expect("header");
    assert!(header.ends_with(",mean_score_area,score_p0,score_p10,score_p20,score_p30,score_p40,score_p50,score_p60,score_p70,score_p80,score_p90,score_p100"), "{header}");
}

/// An oracle that counts VJPs and can be told to fail them.
struct Counting {
    inner: Switch,
    vjps: usize,
    fail_after: Option<usize>,
}

impl Oracle for Counting {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn black(&self) -> [f32; 3] {
        self.inner.black()
    }
    fn embed(&mut self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, OracleError> {
        self.inner.embed(x)
    }
    fn vjp_absmean(
        &mut self,
        x: ArrayView3<'_, f32>,
        cotangent: ArrayView2<'_, f32>,
    ) -> Result<Array3<f32>, OracleError> {
        if self.fail_after.is_some_and(|n| self.vjps >= n) {
            return Err("stopped".into());
        }
        self.vjps += 1;
        self.inner.vjp_absmean(x, cotangent)
    }
    fn fggb_maps(&mut self, x: ArrayView3<'_, f32>) -> Result<ImageGradients, OracleError> {
        self.inner.fggb_maps(x)
    }
}

/// The probe, a copy of it, and the impostor gallery (marked at pixel (1, 1)).
fn switch_images() -> Vec<Array3<f32>> {
    let probe = Array3::<f32>::from_elem((3, 4, 4), 0.2);
    let mut gallery_b = Array3::<f32>::from_elem((3, 4, 4), 0.2);
    gallery_b[[0, 1, 1]] = 0.5;
    vec![probe.clone(), probe, gallery_b]
}

fn pair(a: usize, b: usize, genuine: bool) -> IndexPair {
    IndexPair { a, b, genuine }
}

#[test]
fn a_stopped_run_resumes_from_its_checkpoint_with_the_same_curves() {
    let tensors = switch_images();
    let pairs = [
        pair(0, 1, true),
        pair(1, 0, true),
        pair(0, 2, false),
        pair(1, 2, false),
    ];
    let options = EvalOptions {
        methods: vec![Method::SimilarityGradient, Method::Xssab],
        ..EvalOptions::default()
    };
    let whole = evaluate(&mut Switch, &tensors, &pairs, &options, None, &mut |_| {})
        .expect("uninterrupted");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("checkpoint.jsonl");
    let fp = serde_json::json!({"test": 1});
    // the first run dies after three pairs
    let mut oracle = Counting {
        inner: Switch,
        vjps: 0,
        fail_after: Some(3),
    };
    let mut cp = Checkpoint::open(&path, fp.clone()).expect("checkpoint");
    assert!(
        evaluate(
            &mut oracle,
            &tensors,
            &pairs,
            &options,
            Some(&mut cp),
            &mut |_| {}
        )
        .is_err()
    );
    drop(cp);
    // the second run explains only the five pairs the first did not finish
    let mut oracle = Counting {
        inner: Switch,
        vjps: 0,
        fail_after: None,
    };
    let mut cp = Checkpoint::open(&path, fp).expect("reopen");
    assert_eq!(cp.len(), 3);
    let resumed = evaluate(
        &mut oracle,
        &tensors,
        &pairs,
        &options,
        Some(&mut cp),
        &mut |_| {},
    )
    .expect("resumed");
    // similarity gradient: 1 VJP per probe; xSSAB: 1 run of 2 rows per probe
    assert_eq!(oracle.vjps, 1 + 4);
    assert_eq!(resumed.timings[0].pairs_explained, 1);
    assert_eq!(resumed.timings[1].pairs_explained, 4);
    assert_eq!(resumed.curves.len(), whole.curves.len());
    for (a, b) in resumed.curves.iter().zip(&whole.curves) {
        assert_eq!((a.method, a.map, a.metric), (b.method, b.map, b.metric));
        assert_eq!(a.accuracy, b.accuracy);
        assert_eq!(a.pairs, b.pairs);
    }
}

/// `maps: [Dissimilarity]` scores only the impostor pairs (labels selection): the genuine pairs
/// are never explained but still set the clean threshold, and the dissimilarity curves equal
/// those of a run over both kinds.
#[test]
fn maps_filter_explains_only_the_pairs_of_the_kinds_asked_for() {
    let tensors = switch_images();
    let pairs = [
        pair(0, 1, true),
        pair(1, 0, true),
        pair(0, 2, false),
        pair(1, 2, false),
        pair(2, 0, false),
    ];
    let both = EvalOptions {
        methods: vec![Method::SimilarityGradient],
        ..EvalOptions::default()
    };
    let whole = evaluate(&mut Switch, &tensors, &pairs, &both, None, &mut |_| {}).expect("both");
    let only = EvalOptions {
        maps: vec![MapKind::Dissimilarity],
        ..both.clone()
    };
    let mut oracle = Counting {
        inner: Switch,
        vjps: 0,
        fail_after: None,
    };
    let ev = evaluate(&mut oracle, &tensors, &pairs, &only, None, &mut |_| {}).expect("only");
    assert_eq!(
        oracle.vjps, 3,
        "one VJP per impostor pair, none for the genuine ones"
    );
    assert_eq!(ev.verification.genuine, 2);
    assert_eq!(ev.verification.threshold, whole.verification.threshold);
    assert_eq!(ev.timings[0].pairs, 3);
    assert!(ev.curves.iter().all(|c| c.map == MapKind::Dissimilarity));
    assert_eq!(ev.curves.len(), 2);
    for c in &ev.curves {
        let w = whole
            .curves
            .iter()
            .find(|w| w.map == c.map && w.metric == c.metric)
            .expect("same curve in the whole run");
        assert_eq!((c.pairs, &c.accuracy), (w.pairs, &w.accuracy));
    }
}
