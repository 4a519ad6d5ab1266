//! The pair panel: documented sizes, header colours, shape checks, robustness.

mod common;

use image::RgbImage;
use ndarray::{Array2, Array3};
use xfv_core::{Comparison, Decision, Verdict};
use xfv_report::{
    ACCEPT_RGB, DisplayOptions, Error, PanelFace, PanelInput, PanelLayout, REJECT_RGB, crop_view,
    render_panel, write_png_atomic,
};

struct Pair {
    crops: [Array3<u8>; 2],
    maps: [Array2<f32>; 4],
}

impl Pair {
    fn new(h: usize, w: usize) -> Self {
        Pair {
            crops: [
                common::synthetic_face(h, w, 0.0),
                common::synthetic_face(h, w, 4.0),
            ],
            maps: common::synthetic_maps(h, w),
        }
    }

    fn input(&self, score: f32) -> PanelInput<'_> {
        PanelInput {
            a: PanelFace {
                crop: self.crops[0].view(),
                name: "obama.jpg",
                similarity: self.maps[0].view(),
                dissimilarity: self.maps[1].view(),
            },
            b: PanelFace {
                crop: self.crops[1].view(),
                name: "obama2.jpg",
                similarity: self.maps[2].view(),
                dissimilarity: self.maps[3].view(),
            },
            model: "sface",
            method: "FGGB",
            verdict: Verdict::decide(Comparison::Cosine, score, 0.363),
        }
    }
}

fn count_colour(img: &RgbImage, y0: u32, y1: u32, rgb: [u8; 3]) -> usize {
    (y0..y1)
        .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0 == rgb)
        .count()
}

#[test]
fn panel_sizes_are_as_documented() {
    for (h, w, s, want) in [
        (112, 112, 2, (712, 648)),
        (150, 150, 2, (940, 800)),
        (112, 96, 1, (40 + 3 * 96, 200 + 2 * 112)),
        (20, 20, 3, (40 + 3 * 60, 200 + 2 * 60)),
    ] {
        let pair = Pair::new(h, w);
        let opts = DisplayOptions {
            upscale: s,
            ..DisplayOptions::default()
        };
        let img = render_panel(&pair.input(0.748), &opts).expect("render");
        assert_eq!(img.dimensions(), want, "{h}x{w} at {s}x");
        let layout = PanelLayout::new(h, w, s);
        assert_eq!((layout.width, layout.height), want);
        assert_eq!(layout.tile_width, w as u32 * s);
        assert!(layout.row_y[1] + layout.tile_height < layout.legend_y);
        assert!(layout.column_x[2] + layout.tile_width < layout.width);
    }
}

#[test]
fn accept_is_green_and_reject_is_red() {
    let pair = Pair::new(112, 112);
    let opts = DisplayOptions::default();
    let layout = PanelLayout::new(112, 112, 2);
    let header = (layout.header_y[1], layout.header_y[1] + 16);

    let accept_input = pair.input(0.748);
    assert_eq!(accept_input.verdict.decision, Decision::Accept);
    let accept = render_panel(&accept_input, &opts).expect("accept");
    let reject_input = pair.input(0.2);
    assert_eq!(reject_input.verdict.decision, Decision::Reject);
    let reject = render_panel(&reject_input, &opts).expect("reject");

    assert!(count_colour(&accept, header.0, header.1, ACCEPT_RGB) > 50);
    assert_eq!(count_colour(&accept, header.0, header.1, REJECT_RGB), 0);
    assert!(count_colour(&reject, header.0, header.1, REJECT_RGB) > 50);
    assert_eq!(count_colour(&reject, header.0, header.1, ACCEPT_RGB), 0);
    // only the header differs between the two (same maps, same faces)
    let below = layout.titles_y;
    for y in below..layout.height {
        for x in 0..layout.width {
            assert_eq!(accept.get_pixel(x, y), reject.get_pixel(x, y), "({x},{y})");
        }
    }
}

#[test]
fn tiles_show_the_face_and_the_hot_spots() {
    let pair = Pair::new(112, 112);
    let layout = PanelLayout::new(112, 112, 2);
    let img = render_panel(&pair.input(0.748), &DisplayOptions::default()).expect("render");
    // the face tile is the crop upscaled: a flat background pixel comes through unchanged
    let crop_px = pair.crops[0][[2, 2, 0]];
    let tile_px = img.get_pixel(layout.column_x[0] + 4, layout.row_y[0] + 4).0[0];
    assert!(crop_px.abs_diff(tile_px) <= 1, "{crop_px} vs {tile_px}");
    // the brightest overlay pixel of A's similarity tile sits near the strongest blob (left eye,
    // crop (50, 41) -> tile (100, 82)), not at the mouth
    let (mut best, mut at) = (0u32, (0, 0));
    for y in 0..layout.tile_height {
        for x in 0..layout.tile_width {
            let p = img.get_pixel(layout.column_x[1] + x, layout.row_y[0] + y).0;
            let v = u32::from(p[0]) + u32::from(p[1]);
            if v > best {
                (best, at) = (v, (y, x));
            }
        }
    }
    assert!(
        at.0.abs_diff(100) < 20 && at.1.abs_diff(82) < 20,
        "hot spot at {at:?}"
    );
}

#[test]
fn alpha_zero_shows_the_plain_face_in_every_column() {
    let pair = Pair::new(32, 32);
    let opts = DisplayOptions {
        alpha: 0.0,
        ..DisplayOptions::default()
    };
    let layout = PanelLayout::new(32, 32, 2);
    let img = render_panel(&pair.input(0.5), &opts).expect("render");
    for r in 0..2 {
        for y in 0..layout.tile_height {
            for x in 0..layout.tile_width {
                let face = img.get_pixel(layout.column_x[0] + x, layout.row_y[r] + y);
                for c in 1..3 {
                    assert_eq!(
                        face,
                        img.get_pixel(layout.column_x[c] + x, layout.row_y[r] + y)
                    );
                }
            }
        }
    }
}

#[test]
fn map_size_mismatch_is_an_error_naming_the_map() {
    let pair = Pair::new(112, 112);
    let small = Array2::<f32>::zeros((56, 56));
    let mut input = pair.input(0.748);
    input.b.dissimilarity = small.view();
    match render_panel(&input, &DisplayOptions::default()) {
        Err(Error::ShapeMismatch {
            what,
            expected,
            got,
        }) => {
            assert_eq!(what, "dissimilarity map of B");
            assert_eq!(expected, vec![112, 112]);
            assert_eq!(got, vec![56, 56]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    let other_crop = Array3::<u8>::zeros((150, 150, 3));
    let mut input = pair.input(0.748);
    input.b.crop = other_crop.view();
    let err = render_panel(&input, &DisplayOptions::default()).expect_err("crop sizes differ");
    assert!(err.to_string().contains("crop of B"), "{err}");
    let grey = Array3::<u8>::zeros((112, 112, 1));
    let mut input = pair.input(0.748);
    input.a.crop = grey.view();
    assert!(matches!(
        render_panel(&input, &DisplayOptions::default()),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn bad_options_are_errors() {
    let pair = Pair::new(16, 16);
    for opts in [
        DisplayOptions {
            alpha: 2.0,
            ..DisplayOptions::default()
        },
        DisplayOptions {
            upscale: 0,
            ..DisplayOptions::default()
        },
        DisplayOptions {
            blur: Some(xfv_report::GaussianBlur {
                kernel_px: 4,
                sigma_px: 1.0,
            }),
            ..DisplayOptions::default()
        },
    ] {
        assert!(matches!(
            render_panel(&pair.input(0.5), &opts),
            Err(Error::InvalidOption { .. })
        ));
    }
}

#[test]
fn odd_names_constant_maps_and_odd_scores_do_not_panic() {
    let pair = Pair::new(24, 24);
    let zeros = Array2::<f32>::zeros((24, 24));
    let mut input = pair.input(f32::NAN);
    input.a.name = "Zoë_李_🙂_with_a_name_much_longer_than_the_panel_is_wide_at_all.jpg";
    input.b.name = "";
    input.model = "ünïcode-model";
    input.a.similarity = zeros.view();
    input.b.dissimilarity = zeros.view();
    let img = render_panel(&input, &DisplayOptions::default()).expect("render");
    assert_eq!(img.dimensions(), (40 + 3 * 48, 200 + 2 * 48));
    input.verdict = Verdict::decide(Comparison::Euclidean, 0.9, 1.1);
    render_panel(&input, &DisplayOptions::default()).expect("euclidean");
}

#[test]
fn rendering_is_deterministic_and_survives_a_png_round_trip() {
    let pair = Pair::new(112, 112);
    let opts = DisplayOptions::default();
    let a = render_panel(&pair.input(0.748), &opts).expect("render");
    let b = render_panel(&pair.input(0.748), &opts).expect("render again");
    assert_eq!(a, b);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pair.png");
    write_png_atomic(&path, &a).expect("write");
    let back = image::open(&path).expect("decode").to_rgb8();
    assert_eq!(back, a);
    // crop_view reads an RgbImage as [H, W, 3] without copying
    let view = crop_view(&back).expect("view");
    assert_eq!(view.dim(), (648, 712, 3));
    assert_eq!(view[[5, 7, 1]], back.get_pixel(7, 5).0[1]);
}
