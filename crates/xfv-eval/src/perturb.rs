//! Deletion and insertion perturbations of a probe image by a map (shared/spec/fggb.md, "The
//! evaluation"): rank the pixels by the map (highest first; equal values in raster order, so the
//! ranking is deterministic); at ratio P, deletion sets the top-P% pixels to black and keeps the
//! rest, insertion keeps only the top-P% pixels on a black image. Black is 0 in `[0, 1]` image
//! space, i.e. the model-input value the oracle reports ([`xfv_explain::Oracle::black`]).

use ndarray::{Array3, ArrayView2, ArrayView3};
use serde::{Deserialize, Serialize};

/// Which perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Top-P% pixels removed (lower area = more faithful map).
    Deletion,
    /// Only the top-P% pixels kept (higher area = more faithful map).
    Insertion,
}

impl Metric {
    /// Both, in table order.
    pub const ALL: [Metric; 2] = [Metric::Deletion, Metric::Insertion];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Deletion => "deletion",
            Metric::Insertion => "insertion",
        }
    }
}

/// Pixel indices (`y * W + x`) ordered from the highest map value to the lowest; equal values
/// keep raster order.
pub fn ranking(map: ArrayView2<'_, f32>) -> Vec<usize> {
    let flat: Vec<f32> = map.iter().copied().collect();
    let mut idx: Vec<usize> = (0..flat.len()).collect();
    idx.sort_by(|&a, &b| flat[b].total_cmp(&flat[a]).then(a.cmp(&b)));
    idx
}

/// How many pixels the top `percent`% of `n` is (rounded to nearest).
pub fn top_count(n: usize, percent: f64) -> usize {
    ((n as f64 * percent / 100.0).round() as usize).min(n)
}

/// The probe `[3, H, W]` perturbed at `percent` with the pixel `ranking`.
pub fn perturb(
    x: ArrayView3<'_, f32>,
    ranking: &[usize],
    percent: f64,
    metric: Metric,
    black: [f32; 3],
) -> Array3<f32> {
    let (c, h, w) = x.dim();
    let top = &ranking[..top_count(h * w, percent).min(ranking.len())];
    match metric {
        Metric::Deletion => {
            let mut out = x.to_owned();
            for &p in top {
                for ch in 0..c {
                    out[[ch, p / w, p % w]] = black[ch.min(2)];
                }
            }
            out
        }
        Metric::Insertion => {
            let mut out = Array3::from_shape_fn((c, h, w), |(ch, _, _)| black[ch.min(2)]);
            for &p in top {
                for ch in 0..c {
                    out[[ch, p / w, p % w]] = x[[ch, p / w, p % w]];
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ranking_is_descending_with_raster_ties() {
        let m = array![[0.5f32, 1.0], [0.5, -1.0]];
        assert_eq!(ranking(m.view()), vec![1, 0, 2, 3]);
    }

    #[test]
    fn deletion_and_insertion_are_complements() {
        let x = Array3::from_shape_fn((3, 2, 2), |(c, y, x)| (c * 4 + y * 2 + x) as f32 + 1.0);
        let r = vec![3, 0, 1, 2];
        let black = [-1.0; 3];
        let d = perturb(x.view(), &r, 50.0, Metric::Deletion, black);
        let i = perturb(x.view(), &r, 50.0, Metric::Insertion, black);
        for c in 0..3 {
            assert_eq!(d[[c, 1, 1]], -1.0);
            assert_eq!(d[[c, 0, 0]], -1.0);
            assert_eq!(d[[c, 0, 1]], x[[c, 0, 1]]);
            assert_eq!(i[[c, 1, 1]], x[[c, 1, 1]]);
            assert_eq!(i[[c, 0, 1]], -1.0);
        }
        assert_eq!(perturb(x.view(), &r, 0.0, Metric::Deletion, black), x);
        assert!(
            perturb(x.view(), &r, 100.0, Metric::Deletion, black)
                .iter()
                .all(|v| *v == -1.0)
        );
        assert_eq!(perturb(x.view(), &r, 100.0, Metric::Insertion, black), x);
    }
}
