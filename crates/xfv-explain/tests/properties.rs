//! FGGB properties on random problems: the optimised combination equals a naive reference
//! written straight from the paper's equations; maps are finite, non-negative, of the map size;
//! similarity and dissimilarity are never both positive at a pixel; swapping A and B swaps the map
//! sets; the weights sum to score - theta; the cached per-image path equals recomputing per pair.

use ndarray::{Array1, Array2, Array3};
use proptest::prelude::*;
use xfv_explain::{ImageGradients, fggb};

#[derive(Debug, Clone)]
struct Problem {
    d: usize,
    h: usize,
    w: usize,
    ea: Vec<f32>,
    eb: Vec<f32>,
    ma: Vec<f32>,
    mb: Vec<f32>,
    theta: f32,
}

fn unit(v: Vec<f32>) -> Array1<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    Array1::from(v.into_iter().map(|x| x / n).collect::<Vec<_>>())
}

impl Problem {
    fn image(&self, e: &[f32], m: &[f32]) -> ImageGradients {
        ImageGradients::new(
            unit(e.to_vec()),
            Array3::from_shape_vec((self.d, self.h, self.w), m.to_vec()).expect("shape"),
        )
        .expect("image")
    }

    /// Naive reference: S_A[y,x] = sum_k (eA_k eB_k - theta/D) * gnA_k[y,x], in f64.
    fn reference(&self) -> (Array2<f64>, Array2<f64>) {
        let ea = unit(self.ea.clone());
        let eb = unit(self.eb.clone());
        let mut sa = Array2::<f64>::zeros((self.h, self.w));
        let mut sb = Array2::<f64>::zeros((self.h, self.w));
        for k in 0..self.d {
            let wk = f64::from(ea[k]) * f64::from(eb[k]) - f64::from(self.theta) / self.d as f64;
            for y in 0..self.h {
                for x in 0..self.w {
                    let i = (k * self.h + y) * self.w + x;
                    sa[[y, x]] += wk * f64::from(self.ma[i]);
                    sb[[y, x]] += wk * f64::from(self.mb[i]);
                }
            }
        }
        (sa, sb)
    }
}

fn problem() -> impl Strategy<Value = Problem> {
    (1usize..24, 1usize..9, 1usize..9, -1.0f32..1.0).prop_flat_map(|(d, h, w, theta)| {
        let n = d * h * w;
        (
            prop::collection::vec(-1.0f32..1.0, d),
            prop::collection::vec(-1.0f32..1.0, d),
            prop::collection::vec(0.0f32..1.0, n),
            prop::collection::vec(0.0f32..1.0, n),
        )
            .prop_map(move |(ea, eb, ma, mb)| Problem {
                d,
                h,
                w,
                ea,
                eb,
                ma,
                mb,
                theta,
            })
    })
}

proptest! {
    #[test]
    fn fggb_matches_the_naive_reference_and_keeps_its_invariants(p in problem()) {
        let a = p.image(&p.ea, &p.ma);
        let b = p.image(&p.eb, &p.mb);
        let ex = fggb::explain_pair(&a, &b, p.theta);
        let (ra, rb) = p.reference();
        for (got, want) in [(&ex.a.signed, &ra), (&ex.b.signed, &rb)] {
            prop_assert_eq!(got.dim(), (p.h, p.w));
            for (g, r) in got.iter().zip(want.iter()) {
                prop_assert!((f64::from(*g) - r).abs() <= 1e-5 * (1.0 + r.abs()), "{} vs {}", g, r);
            }
        }
        for m in [&ex.a, &ex.b] {
            for ((s, d), signed) in m.similarity.iter().zip(m.dissimilarity.iter()).zip(m.signed.iter()) {
                prop_assert!(s.is_finite() && d.is_finite());
                prop_assert!(*s >= 0.0 && *d >= 0.0);
                prop_assert!(!(*s > 0.0 && *d > 0.0), "both positive at one pixel");
                prop_assert!((s - d - signed).abs() <= 1e-6);
            }
        }
        // sum of weights = score - theta
        prop_assert!((ex.weights.sum() - (ex.score - p.theta)).abs() < 1e-5);
        // score is the cosine
        let cos = unit(p.ea.clone()).dot(&unit(p.eb.clone()));
        prop_assert!((ex.score - cos).abs() < 1e-6);
    }

    #[test]
    fn swapping_a_and_b_swaps_the_map_sets(p in problem()) {
        let a = p.image(&p.ea, &p.ma);
        let b = p.image(&p.eb, &p.mb);
        let ab = fggb::explain_pair(&a, &b, p.theta);
        let ba = fggb::explain_pair(&b, &a, p.theta);
        prop_assert_eq!(&ab.a.signed, &ba.b.signed);
        prop_assert_eq!(&ab.b.signed, &ba.a.signed);
        prop_assert_eq!(ab.score, ba.score);
    }

    #[test]
    fn cached_per_image_gradients_give_the_same_maps_as_per_pair(p in problem()) {
        // one image in two pairs: the cached ImageGradients of A serve both
        let a = p.image(&p.ea, &p.ma);
        let b = p.image(&p.eb, &p.mb);
        let c = p.image(&p.eb, &p.ma);
        let cached_ab = fggb::explain_pair(&a, &b, p.theta);
        let cached_ac = fggb::explain_pair(&a, &c, p.theta);
        let fresh_ab = fggb::explain_pair(&p.image(&p.ea, &p.ma), &p.image(&p.eb, &p.mb), p.theta);
        let fresh_ac = fggb::explain_pair(&p.image(&p.ea, &p.ma), &p.image(&p.eb, &p.ma), p.theta);
        prop_assert_eq!(cached_ab, fresh_ab);
        prop_assert_eq!(cached_ac, fresh_ac);
    }
}

#[test]
fn accepted_pair_with_uniform_maps_is_all_similarity() {
    // identical embeddings, cosine 1 > theta: every weight positive, so only similarity
    let e = unit(vec![1.0, 2.0, 3.0]);
    let maps = Array3::from_elem((3, 2, 2), 0.5);
    let a = ImageGradients::new(e.clone(), maps.clone()).expect("a");
    let ex = fggb::explain_pair(&a, &a, 0.3);
    assert!(ex.a.dissimilarity.iter().all(|v| *v == 0.0));
    assert!(ex.a.similarity.iter().all(|v| *v > 0.0));
}

#[test]
fn mismatched_maps_are_rejected() {
    let err = ImageGradients::new(Array1::zeros(4), Array3::zeros((3, 2, 2))).expect_err("D");
    assert!(err.to_string().contains("[4, 2, 2]"), "{err}");
}
