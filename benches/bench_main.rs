//! criterion benches of xfv's stages, one module per stage. Owned by the facade crate
//! (`crates/xfv/Cargo.toml`, `[[bench]] name = "bench_main"`).
//!
//! ```text
//! cargo bench -p xfv --bench bench_main                      # all stages
//! cargo bench -p xfv --bench bench_main -- cpu_gradients     # one group
//! cargo bench -p xfv --bench bench_main --no-run             # compile only
//! cargo bench -p xfv --bench bench_main -- --save-baseline before   # then critcmp / --baseline
//! ```
//!
//! Names: `<ep>_<stage>/<parameter>` (`cpu_gradients/32`); throughput in elements (images,
//! cotangent rows, pairs or masks, as each group says). Sessions are built outside the timed
//! loop. Stages that need the setup's real models (preprocess, gradients) are skipped with a note
//! when the files are absent; the others run on synthetic data.

use criterion::{Criterion, criterion_group, criterion_main};

mod combine;
mod corrrise;
mod gradients;
mod png;
mod preprocess;

/// Repository root (benches run with the package folder as working directory).
fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| std::path::PathBuf::from("."))
}

/// ORT intra-op threads for the benches: XFV_BENCH_THREADS or all cores.
fn threads() -> usize {
    std::env::var("XFV_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(5))
}

criterion_group! {
    name = stages;
    config = quick();
    targets = preprocess::bench, gradients::bench, combine::bench, png::bench, corrrise::bench
}
criterion_main!(stages);
