//! Stage 1: image file -> aligned crop (decode, YuNet detection, alignment), and the aligned-crop
//! path (decode + resize only). Throughput: images.

use criterion::{BenchmarkId, Criterion, Throughput};
use xfv::Explainer;
use xfv::prelude::*;

pub fn bench(c: &mut Criterion) {
    let root = crate::repo();
    let image = root.join("data/obama/obama.jpg");
    if !image.is_file() || !root.join("models/yunet.onnx").is_file() {
        eprintln!("cpu_preprocess: skipped (run scripts/setup for the models and photos)");
        return;
    }
    let mut group = c.benchmark_group("cpu_preprocess");
    group.throughput(Throughput::Elements(1));
    for (name, mode) in [("detect", Mode::Detect), ("aligned", Mode::Aligned)] {
        let built = Explainer::builder("sface")
            .models_dir(root.join("models"))
            .mode(mode)
            .runtime(RuntimeOptions {
                library: None,
                intra_threads: crate::threads(),
            })
            .build();
        let mut ex = match built {
            Ok(ex) => ex,
            Err(e) => {
                eprintln!("cpu_preprocess/{name}: skipped ({e})");
                continue;
            }
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| ex.prepare(&image).map(|f| f.crop.width()))
        });
    }
    group.finish();
}
