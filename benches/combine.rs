//! Stage 3: FGGB's pair combination (weights, D-term weighted sum of the per-dimension maps, split)
//! on synthetic per-image maps, D in {128, 192, 512}, 112x112. Throughput: pairs.

use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{Array1, Array3};
use xfv_explain::{ImageGradients, fggb};

fn gradients(d: usize, seed: usize) -> Option<ImageGradients> {
    let e = Array1::from_shape_fn(d, |k| (((k + seed) % 7) as f32 - 3.0) / (d as f32).sqrt());
    let maps = Array3::from_shape_fn((d, 112, 112), |(k, i, j)| {
        (((k * 13 + i * 5 + j + seed) % 97) as f32) / 97.0 / 112.0
    });
    ImageGradients::new(e, maps).ok()
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_fggb_combine");
    group.throughput(Throughput::Elements(1));
    for d in [128usize, 192, 512] {
        let (Some(a), Some(b)) = (gradients(d, 0), gradients(d, 3)) else {
            continue;
        };
        group.bench_with_input(BenchmarkId::from_parameter(d), &d, |bch, _| {
            bch.iter(|| fggb::explain_pair(&a, &b, 0.363).score)
        });
    }
    group.finish();
}
