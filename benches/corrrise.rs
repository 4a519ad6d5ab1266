//! CorrRISE's model-free work (Lu, Xu & Ebrahimi, WACV 2024): drawing the 500 random masks and the
//! per-pixel Spearman correlation between "pixel kept" and the masked scores (112x112; the masked
//! embeddings themselves are the model's forward passes, not timed here). Throughput: masks.

use criterion::{BenchmarkId, Criterion, Throughput};
use xfv_explain::corrrise::{CorrRiseOptions, spearman_map};

pub fn bench(c: &mut Criterion) {
    let opts = CorrRiseOptions::default();
    let n = opts.masks;
    let masks = opts.masks(112, 112);
    let scores: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
    let mut group = c.benchmark_group("cpu_corrrise");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("masks", n), |b| {
        b.iter(|| opts.masks(112, 112).len())
    });
    group.bench_function(BenchmarkId::new("spearman", n), |b| {
        b.iter(|| spearman_map(&masks, &scores).len())
    });
    group.finish();
}
