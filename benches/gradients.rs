//! Stage 2: the gradient graph (SFace, reduce = fggb) on one 112x112 image with K cotangent rows
//! in one run, K in {8, 32, 128}. Throughput: cotangent rows (one row = one backward pass).

use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{Array2, Array4};
use xfv_runtime::{EpRequest, GradientModel, Runtime, RuntimeOptions};

pub fn bench(c: &mut Criterion) {
    let graph = crate::repo().join("models/sface.grad.onnx");
    if !graph.is_file() {
        eprintln!(
            "cpu_gradients: skipped ({} absent; run scripts/setup)",
            graph.display()
        );
        return;
    }
    let opened = Runtime::new(RuntimeOptions {
        library: None,
        intra_threads: crate::threads(),
    })
    .and_then(|rt| GradientModel::load_unchecked(&rt, &graph, &EpRequest::cpu()));
    let mut model = match opened {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cpu_gradients: skipped ({e})");
            return;
        }
    };
    let (h, w, d) = {
        let m = model.metadata();
        (m.height_px as usize, m.width_px as usize, m.dim)
    };
    let x = Array4::<f32>::from_shape_fn((1, 3, h, w), |(_, c, i, j)| {
        ((c * 31 + i * 7 + j * 3) % 255) as f32
    });
    let mut group = c.benchmark_group("cpu_gradients");
    for k in [8usize, 32, 128].into_iter().filter(|k| *k <= d) {
        let cot = Array2::<f32>::from_shape_fn((k, d), |(r, col)| f32::from(u8::from(r == col)));
        group.throughput(Throughput::Elements(k as u64));
        group.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, _| {
            b.iter(|| model.vjp(x.view(), cot.view()).map(|(e, _)| e.len()))
        });
    }
    group.finish();
}
