//! Stage 4: the panel (blur, colour maps, overlays, layout) and its PNG encoding, on synthetic crops
//! and maps (112x112). Throughput: pairs.

use criterion::{BenchmarkId, Criterion, Throughput};
use image::RgbImage;
use ndarray::Array2;
use xfv::prelude::*;
use xfv_report::{DisplayOptions, PanelFace, PanelInput, crop_view, render_panel};

pub fn bench(c: &mut Criterion) {
    let crop = RgbImage::from_fn(112, 112, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 2) as u8, 128])
    });
    let map = Array2::<f32>::from_shape_fn((112, 112), |(i, j)| ((i * j) % 113) as f32 / 113.0);
    let Ok(view) = crop_view(&crop) else {
        return;
    };
    let verdict = Verdict::decide(Comparison::Cosine, 0.7, 0.363);
    let input = PanelInput {
        a: PanelFace {
            crop: view,
            name: "a.jpg",
            similarity: map.view(),
            dissimilarity: map.view(),
        },
        b: PanelFace {
            crop: view,
            name: "b.jpg",
            similarity: map.view(),
            dissimilarity: map.view(),
        },
        model: "sface",
        method: "FGGB",
        verdict,
    };
    let display = DisplayOptions::default();
    let mut group = c.benchmark_group("cpu_report");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::from_parameter("panel"), |b| {
        b.iter(|| render_panel(&input, &display).map(|p| p.width()))
    });
    if let Ok(panel) = render_panel(&input, &display) {
        group.bench_function(BenchmarkId::from_parameter("png_encode"), |b| {
            b.iter(|| {
                let mut buf = std::io::Cursor::new(Vec::with_capacity(1 << 20));
                panel
                    .write_to(&mut buf, image::ImageFormat::Png)
                    .map(|()| buf.into_inner().len())
            })
        });
    }
    group.finish();
}
