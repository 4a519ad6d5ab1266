//! Property tests: the display pipeline always yields finite values in [0, 1] of the input's
//! shape, whatever the raw map holds; `.npy` round trips are bit-exact for any shape and value.

use ndarray::{Array2, ArrayD, IxDyn};
use proptest::prelude::*;
use xfv_report::{DisplayOptions, GaussianBlur, Normalise, read_npy_f32, write_npy_f32};

fn any_map() -> impl Strategy<Value = Array2<f32>> {
    (1usize..20, 1usize..20).prop_flat_map(|(h, w)| {
        proptest::collection::vec(
            prop_oneof![
                8 => -1e6f32..1e6f32,
                1 => Just(0.0f32),
                1 => Just(f32::NAN),
                1 => Just(f32::INFINITY),
            ],
            h * w,
        )
        .prop_map(move |v| Array2::from_shape_vec((h, w), v).expect("shape"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn display_maps_are_finite_unit_range_and_keep_shape(
        a in any_map(),
        kernel in prop_oneof![Just(1usize), Just(3), Just(25)],
        shared in any::<bool>(),
        blur in any::<bool>(),
    ) {
        let opts = DisplayOptions {
            blur: blur.then_some(GaussianBlur { kernel_px: kernel, sigma_px: 2.0 }),
            normalise: if shared { Normalise::SharedPerPair } else { Normalise::PerMap },
            ..DisplayOptions::default()
        };
        let b = a.mapv(|v| v * 0.5);
        let out = opts.display_maps(&[a.view(), b.view()]).expect("display");
        prop_assert_eq!(out.len(), 2);
        for m in &out {
            prop_assert_eq!(m.dim(), a.dim());
            prop_assert!(m.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        }
    }

    #[test]
    fn npy_round_trip_is_bit_exact(
        shape in proptest::collection::vec(1usize..6, 0..4),
        seed in any::<u32>(),
    ) {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n as u32)
            .map(|i| f32::from_bits(seed.wrapping_mul(2_654_435_761).wrapping_add(i.wrapping_mul(40_503))))
            .collect();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape");
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.npy");
        write_npy_f32(&p, a.view()).expect("write");
        let back = read_npy_f32(&p).expect("read");
        prop_assert_eq!(back.shape(), a.shape());
        prop_assert!(back.iter().zip(a.iter()).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
