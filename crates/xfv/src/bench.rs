//! Benchmark runs (`xfv bench`): a named workload run with warm-up and repeated iterations, timed
//! per stage, next to this machine's matrix-multiply ceiling measured in the same run.
//!
//! Workloads (images as given, in order):
//! - [`Workload::Single`]: one pair, images 0 and 1; both images share one gradient-graph batch, as
//!   `xfv explain` does. Latency = one pair.
//! - [`Workload::OneToN`]: image 0 (probe) against each of the others (gallery): N pairs.
//! - [`Workload::Batch`]: every unordered pair of the images. Per-image cache: the gradient graph
//!   runs once per image ([`Explainer::image_gradients`]), FGGB's combination once per pair.
//!
//! Every iteration starts from the files (decode, detect/align, gradients, combine); no state is
//! kept between iterations. Latency = one iteration (the whole workload).
//!
//! GFLOP/s of the gradient graph counts `images x D x xfv.backward_gflop_per_row` (2 x the MACs of
//! the Conv/Gemm layers per cotangent row, written by the export) over the gradient stage's time.
//! The ceiling is an `n x n x n` sgemm (`2 n^3` FLOPs) with ndarray's `general_mat_mul`
//! (matrixmultiply kernels), split by rows over the same number of threads as ONNX Runtime's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};
use xfv_explain::ImageGradients;
use xfv_preprocess::AlignedFace;

use crate::{Error, Explainer};

/// A named workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Workload {
    /// One pair: images 0 and 1.
    #[serde(rename = "single")]
    Single,
    /// Image 0 against each of the others.
    #[serde(rename = "1:N")]
    OneToN,
    /// Every unordered pair of the images, gradients cached per image.
    #[serde(rename = "batch")]
    Batch,
}

impl Workload {
    /// The name on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Single => "single",
            Workload::OneToN => "1:N",
            Workload::Batch => "batch",
        }
    }

    /// The pairs (indices into the image list) of this workload over `n` images.
    pub fn pairs(self, n: usize) -> Vec<(usize, usize)> {
        match self {
            Workload::Single if n >= 2 => vec![(0, 1)],
            Workload::Single => Vec::new(),
            Workload::OneToN => (1..n).map(|j| (0, j)).collect(),
            Workload::Batch => (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .collect(),
        }
    }

    /// The images a workload uses (single uses the first two only).
    fn images_used(self, n: usize) -> usize {
        match self {
            Workload::Single => n.min(2),
            _ => n,
        }
    }
}

impl std::str::FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "single" => Ok(Workload::Single),
            "1:N" | "1:n" | "one-to-n" => Ok(Workload::OneToN),
            "batch" => Ok(Workload::Batch),
            other => Err(format!(
                "unknown workload `{other}`; one of: single, 1:N, batch"
            )),
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The workload.
    pub workload: Workload,
    /// Image files (at least 2).
    pub images: Vec<PathBuf>,
    /// Untimed iterations first (session warm-up, arena growth).
    pub warmup: usize,
    /// Timed iterations (at least 1).
    pub iterations: usize,
    /// Size of the ceiling sgemm (`n x n` times `n x n`); 0 skips it.
    pub sgemm_n: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            workload: Workload::Single,
            images: Vec::new(),
            warmup: 1,
            iterations: 5,
            sgemm_n: 2048,
        }
    }
}

/// Summary statistics of a series of milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Median.
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Minimum.
    pub min: f64,
    /// Mean.
    pub mean: f64,
}

impl Stats {
    /// Statistics of `xs` (all zero when empty).
    pub fn of(xs: &[f64]) -> Stats {
        if xs.is_empty() {
            return Stats::default();
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Stats {
            p50: rank(0.5),
            p95: rank(0.95),
            min: v[0],
            mean: v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// Median milliseconds per stage over the timed iterations (whole workload per iteration).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StageMedians {
    /// Decode + detect/align + tensor, all images.
    pub preprocess_ms: f64,
    /// Gradient graph, all images.
    pub gradients_ms: f64,
    /// FGGB combination, all pairs.
    pub combine_ms: f64,
}

/// The ceiling measurement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SgemmCeiling {
    /// Matrix size n (`n x n x n`, `2 n^3` FLOPs).
    pub n: usize,
    /// Threads it ran on.
    pub threads: usize,
    /// Best of the repetitions, GFLOP/s.
    pub gflop_per_s: f64,
    /// Which kernel.
    pub kernel: String,
}

/// One benchmark run's results: the JSON `xfv bench` prints. Schema version 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    /// Schema version.
    pub schema: u32,
    /// xfv version.
    pub xfv_version: String,
    /// Workload name.
    pub workload: Workload,
    /// Model name.
    pub model: String,
    /// Gradient graph file.
    pub graph: PathBuf,
    /// Embedding dimension D (gradient rows per image).
    pub dim: usize,
    /// Crop size `[H, W]`.
    pub crop_px: [usize; 2],
    /// Execution provider that ran the gradient graph.
    pub ep: String,
    /// True when that provider was a fallback.
    pub ep_fell_back: bool,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
    /// Cotangent rows per gradient-graph run.
    pub chunk_rows: usize,
    /// Images per gradient-graph run.
    pub images_per_run: usize,
    /// Images in the workload.
    pub images: usize,
    /// Pairs per iteration.
    pub pairs: usize,
    /// Untimed iterations.
    pub warmup: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Pairs per second (pairs / median iteration time).
    pub pairs_per_s: f64,
    /// Milliseconds per iteration (the whole workload; one pair for `single`).
    pub latency_ms: Stats,
    /// Median milliseconds per stage.
    pub stages_ms: StageMedians,
    /// GFLOP of gradient-graph work per iteration (`None` when the graph lacks
    /// `xfv.backward_gflop_per_row`: exported before it existed).
    pub gradient_gflop: Option<f64>,
    /// Achieved GFLOP/s of the gradient stage (median time).
    pub gradient_gflop_per_s: Option<f64>,
    /// The machine's sgemm ceiling measured in this run (`None` with `sgemm_n = 0`).
    pub sgemm: Option<SgemmCeiling>,
    /// `gradient_gflop_per_s` as a percentage of the ceiling.
    pub gradient_pct_of_sgemm: Option<f64>,
    /// Peak resident memory of the process (VmHWM), MB; `None` where /proc is absent.
    pub peak_rss_mb: Option<f64>,
    /// Load average (1, 5, 15 min) at the end of the run; `None` where /proc is absent.
    pub load_avg: Option<[f64; 3]>,
    /// CPU model name and logical CPUs.
    pub cpu: String,
}

/// One iteration's stage times (ms).
struct IterTimes {
    preprocess: f64,
    gradients: f64,
    combine: f64,
    total: f64,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the workload on `explainer`: warm-up, timed iterations, the sgemm ceiling.
pub fn run_bench(explainer: &mut Explainer, opts: &BenchOptions) -> Result<BenchReport, Error> {
    let n_images = opts.workload.images_used(opts.images.len());
    let pairs = opts.workload.pairs(n_images);
    if pairs.is_empty() {
        return Err(Error::Bench {
            reason: format!(
                "workload `{}` needs at least 2 images, got {}",
                opts.workload,
                opts.images.len()
            ),
        });
    }
    let images = &opts.images[..n_images];
    for _ in 0..opts.warmup {
        iteration(explainer, images, &pairs)?;
    }
    let mut times = Vec::with_capacity(opts.iterations.max(1));
    for _ in 0..opts.iterations.max(1) {
        times.push(iteration(explainer, images, &pairs)?);
    }
    let sgemm = (opts.sgemm_n > 0).then(|| {
        let threads = explainer.gradient_info().intra_threads;
        SgemmCeiling {
            n: opts.sgemm_n,
            threads,
            gflop_per_s: sgemm_gflops(opts.sgemm_n, threads, 3),
            kernel: "ndarray general_mat_mul (matrixmultiply), rows split over threads".into(),
        }
    });
    let col = |f: fn(&IterTimes) -> f64| times.iter().map(f).collect::<Vec<_>>();
    let latency = Stats::of(&col(|t| t.total));
    let stages = StageMedians {
        preprocess_ms: Stats::of(&col(|t| t.preprocess)).p50,
        gradients_ms: Stats::of(&col(|t| t.gradients)).p50,
        combine_ms: Stats::of(&col(|t| t.combine)).p50,
    };
    let grad = explainer.gradient_model();
    let dim = grad.metadata().dim;
    let crop_px = [
        grad.metadata().height_px as usize,
        grad.metadata().width_px as usize,
    ];
    let per_row = grad
        .metadata_value("xfv.backward_gflop_per_row")
        .and_then(|v| v.parse::<f64>().ok());
    let gradient_gflop = per_row.map(|g| g * dim as f64 * n_images as f64);
    let gradient_gflop_per_s = gradient_gflop
        .filter(|_| stages.gradients_ms > 0.0)
        .map(|g| g / (stages.gradients_ms / 1e3));
    let gradient_pct_of_sgemm = match (gradient_gflop_per_s, &sgemm) {
        (Some(g), Some(s)) if s.gflop_per_s > 0.0 => Some(100.0 * g / s.gflop_per_s),
        _ => None,
    };
    let info = explainer.gradient_info();
    Ok(BenchReport {
        schema: 1,
        xfv_version: env!("CARGO_PKG_VERSION").into(),
        workload: opts.workload,
        model: explainer.card().name.clone(),
        graph: info.path.clone(),
        dim,
        crop_px,
        ep: info.ep.to_string(),
        ep_fell_back: info.fell_back,
        threads: info.intra_threads,
        chunk_rows: grad.chunk_rows(),
        images_per_run: grad.images_per_run(),
        images: n_images,
        pairs: pairs.len(),
        warmup: opts.warmup,
        iterations: times.len(),
        pairs_per_s: if latency.p50 > 0.0 {
            pairs.len() as f64 / (latency.p50 / 1e3)
        } else {
            0.0
        },
        latency_ms: latency,
        stages_ms: stages,
        gradient_gflop,
        gradient_gflop_per_s,
        sgemm,
        gradient_pct_of_sgemm,
        peak_rss_mb: peak_rss_mb(),
        load_avg: load_avg(),
        cpu: cpu_description(),
    })
}

/// One pass over the workload from the files.
fn iteration(
    explainer: &mut Explainer,
    images: &[PathBuf],
    pairs: &[(usize, usize)],
) -> Result<IterTimes, Error> {
    let t0 = Instant::now();
    let faces = images
        .iter()
        .map(|p| explainer.prepare(p))
        .collect::<Result<Vec<AlignedFace>, _>>()?;
    let t1 = Instant::now();
    // all images at once: the gradient model runs them in groups of its images_per_run
    let refs: Vec<&AlignedFace> = faces.iter().collect();
    let grads: Vec<ImageGradients> = explainer.image_gradients(&refs)?;
    let t2 = Instant::now();
    for &(a, b) in pairs {
        let ex = explainer.combine(&grads[a], &grads[b]);
        std::hint::black_box(&ex);
    }
    let t3 = Instant::now();
    Ok(IterTimes {
        preprocess: ms(t1 - t0),
        gradients: ms(t2 - t1),
        combine: ms(t3 - t2),
        total: ms(t3 - t0),
    })
}

/// GFLOP/s of an `n x n x n` single-precision matrix product (best of `reps`), the rows of the
/// output split over `threads` scoped threads, each running ndarray's `general_mat_mul`.
pub fn sgemm_gflops(n: usize, threads: usize, reps: usize) -> f64 {
    let n = n.max(1);
    let a = Array2::<f32>::from_shape_fn((n, n), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let b = a.t().to_owned();
    let mut c = Array2::<f32>::zeros((n, n));
    let threads = threads.clamp(1, n);
    let rows = n.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) + 1 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for (a_blk, mut c_blk) in a
                .axis_chunks_iter(Axis(0), rows)
                .zip(c.axis_chunks_iter_mut(Axis(0), rows))
            {
                let b = &b;
                s.spawn(move || {
                    ndarray::linalg::general_mat_mul(1.0, &a_blk, b, 0.0, &mut c_blk);
                });
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// Peak resident set size of this process (VmHWM in /proc/self/status), MB.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// The 1, 5 and 15 minute load averages (/proc/loadavg).
pub fn load_avg() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let v: Vec<f64> = s
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    <[f64; 3]>::try_from(v).ok()
}

/// CPU model (from /proc/cpuinfo) and the number of logical CPUs.
pub fn cpu_description() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cpus} logical CPUs")
}

/// One compared figure: `ratio = new / old`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// Field name.
    pub field: &'static str,
    /// The earlier run's value.
    pub old: f64,
    /// This run's value.
    pub new: f64,
    /// `new / old`.
    pub ratio: f64,
    /// True when larger is better (throughputs), false for times and memory.
    pub higher_is_better: bool,
}

/// A compared field: its name, how to read it from a report, and whether larger is better.
type Field = (&'static str, fn(&BenchReport) -> Option<f64>, bool);

/// Figures of two runs side by side (fields absent in either run are left out).
pub fn compare(new: &BenchReport, old: &BenchReport) -> Vec<Comparison> {
    let fields: [Field; 10] = [
        ("pairs_per_s", |r| Some(r.pairs_per_s), true),
        ("latency_ms.p50", |r| Some(r.latency_ms.p50), false),
        ("latency_ms.p95", |r| Some(r.latency_ms.p95), false),
        (
            "stages_ms.preprocess_ms",
            |r| Some(r.stages_ms.preprocess_ms),
            false,
        ),
        (
            "stages_ms.gradients_ms",
            |r| Some(r.stages_ms.gradients_ms),
            false,
        ),
        (
            "stages_ms.combine_ms",
            |r| Some(r.stages_ms.combine_ms),
            false,
        ),
        ("gradient_gflop_per_s", |r| r.gradient_gflop_per_s, true),
        (
            "sgemm.gflop_per_s",
            |r| r.sgemm.as_ref().map(|s| s.gflop_per_s),
            true,
        ),
        ("gradient_pct_of_sgemm", |r| r.gradient_pct_of_sgemm, true),
        ("peak_rss_mb", |r| r.peak_rss_mb, false),
    ];
    fields
        .iter()
        .filter_map(|(field, get, higher)| {
            let (n, o) = (get(new)?, get(old)?);
            Some(Comparison {
                field,
                old: o,
                new: n,
                ratio: if o != 0.0 { n / o } else { f64::NAN },
                higher_is_better: *higher,
            })
        })
        .collect()
}

/// Reads a saved [`BenchReport`] (the JSON `xfv bench --json` wrote).
pub fn read_report(path: &Path) -> Result<BenchReport, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Bench {
        reason: format!("{} is not an `xfv bench` JSON report: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_each_workload() {
        assert_eq!(Workload::Single.pairs(3), vec![(0, 1)]);
        assert_eq!(Workload::OneToN.pairs(3), vec![(0, 1), (0, 2)]);
        assert_eq!(Workload::Batch.pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert!(Workload::Batch.pairs(1).is_empty());
        assert_eq!("1:N".parse::<Workload>(), Ok(Workload::OneToN));
        assert!("x".parse::<Workload>().is_err());
    }

    #[test]
    fn stats_nearest_rank() {
        let s = Stats::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.p50, s.p95, s.min, s.mean), (3.0, 5.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[]), Stats::default());
    }

    #[test]
    fn sgemm_counts_flops() {
        let g = sgemm_gflops(64, 2, 1);
        assert!(g.is_finite() && g > 0.0);
    }

    #[test]
    fn proc_readers() {
        if Path::new("/proc/self/status").exists() {
            assert!(peak_rss_mb().is_some_and(|m| m > 0.0));
            assert!(load_avg().is_some());
        }
        assert!(!cpu_description().is_empty());
    }
}
