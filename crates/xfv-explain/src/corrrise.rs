//! CorrRISE - correlation-based randomised input sampling (Y. Lu, Z. Xu, T. Ebrahimi, "Towards
//! Visual Saliency Explanations of Face Verification", WACV 2024; shared/spec/fggb.md, "Peers").
//! A black-box method: forward passes only.
//!
//! `N` random binary masks (default 500) are shared by all pairs; each has 3 black square
//! patches of 30x30 at a 112x112 crop (side scaled with the crop: `round(30 * min(H, W) / 112)`),
//! placed fully inside the image. For image A: mask A, embed it, score it against the unmasked B
//! (`s_i = <e(A * m_i), e_B>`). Per pixel p, the map is the Spearman correlation between
//! "p kept" (`m_i[p]`, 0/1) and `s_i` over the N masks - Pearson on ranks, ties averaged; a
//! pixel never (or always) masked has no defined correlation and gets 0 (NaN -> 0). Because a
//! binary variable's average ranks are an affine function of it, this equals the Pearson
//! correlation of `m_i[p]` with the ranks of `s_i`, which is how it is computed.
//!
//! Sign convention: positive correlation (keeping p raises the score) = similarity, negative =
//! dissimilarity; the signed map is the correlation itself, in `[-1, 1]`, shape `[H, W]`. No
//! blur. Cost: `N` forward passes per image, `2N` per pair, in batches of the oracle's size; the
//! masked embeddings of an image do not depend on the pair, so an evaluation computes them once
//! per probe ([`CorrRise::masked_embeddings`]).
//!
//! Masks come from SplitMix64 (documented in [`SplitMix64`]) so any other implementation can
//! regenerate them from the seed: for mask i in 0..N, for patch j in 0..3: `y = next() % (H - side
//! + 1)`, then `x = next() % (W - side + 1)`.

use ndarray::{Array1, Array2, Array3, ArrayView3, Axis, s};

use crate::method::{ImageInput, Oracle, PairMethod, oracle_err};
use crate::{Error, ImageMaps, Method, PairExplanation};

/// CorrRISE's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrRiseOptions {
    /// Number of masks N (default 500).
    pub masks: usize,
    /// Black patches per mask (default 3).
    pub patches: usize,
    /// Patch side at a 112-pixel crop (default 30); scaled with the crop.
    pub patch_px_at_112: usize,
    /// PRNG seed (default 0).
    pub seed: u64,
}

impl Default for CorrRiseOptions {
    fn default() -> Self {
        CorrRiseOptions {
            masks: 500,
            patches: 3,
            patch_px_at_112: 30,
            seed: 0,
        }
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): `state += 0x9E3779B97F4A7C15; z = state;
/// z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
/// return z ^ (z >> 31)` (wrapping arithmetic on u64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The CorrRISE method.
#[derive(Debug, Clone, Default)]
pub struct CorrRise {
    /// Its options.
    pub options: CorrRiseOptions,
}

impl CorrRiseOptions {
    /// Patch side for an `h x w` crop: `max(1, round(30 * min(h, w) / 112))`, at most `min(h, w)`.
    pub fn patch_side(&self, h: usize, w: usize) -> usize {
        let m = h.min(w);
        ((self.patch_px_at_112 * m) as f64 / 112.0)
            .round()
            .clamp(1.0, m as f64) as usize
    }

    /// The masks `[N, H, W]`, 1 = pixel kept, 0 = under a black patch.
    pub fn masks(&self, h: usize, w: usize) -> Array3<u8> {
        let side = self.patch_side(h, w);
        let mut rng = SplitMix64::new(self.seed);
        let mut m = Array3::<u8>::ones((self.masks, h, w));
        for i in 0..self.masks {
            for _ in 0..self.patches {
                let y = (rng.next_u64() % (h - side + 1) as u64) as usize;
                let x = (rng.next_u64() % (w - side + 1) as u64) as usize;
                m.slice_mut(s![i, y..y + side, x..x + side]).fill(0);
            }
        }
        m
    }
}

/// Ranks 1..n with ties given their average rank.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j + 1) as f64 / 2.0; // mean of ranks i+1..=j
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Per-pixel Spearman correlation `[H, W]` between the masks `[N, H, W]` and the scores `[N]`;
/// undefined correlations (constant pixel or constant scores) are 0.
pub fn spearman_map(masks: &Array3<u8>, scores: &[f64]) -> Array2<f32> {
    let (n, h, w) = masks.dim();
    let ranks = average_ranks(scores);
    let mean = ranks.iter().sum::<f64>() / n.max(1) as f64;
    let rc: Vec<f64> = ranks.iter().map(|r| r - mean).collect();
    let ss_r: f64 = rc.iter().map(|v| v * v).sum();
    let mut num = Array2::<f64>::zeros((h, w));
    let mut kept = Array2::<f64>::zeros((h, w));
    for (i, m) in masks.axis_iter(Axis(0)).enumerate() {
        ndarray::Zip::from(&mut num)
            .and(&mut kept)
            .and(&m)
            .for_each(|a, k, &v| {
                if v != 0 {
                    *a += rc[i];
                    *k += 1.0;
                }
            });
    }
    let nf = n as f64;
    ndarray::Zip::from(&num).and(&kept).map_collect(|&a, &k| {
        // sum_i (m_i - mean m)(r_i - mean r) = sum_i m_i rc_i, since sum_i rc_i = 0
        let ss_m = k - k * k / nf;
        let c = a / (ss_m * ss_r).sqrt();
        if c.is_finite() { c as f32 } else { 0.0 }
    })
}

impl CorrRise {
    /// CorrRISE with `options`.
    pub fn new(options: CorrRiseOptions) -> Self {
        CorrRise { options }
    }

    /// The embeddings `[N, D]` of image `x` (`[3, H, W]`) under each of the `N` masks, in the
    /// oracle's batches: the image's whole cost, independent of the pair it is in (so a caller
    /// explaining one probe against many galleries computes it once and passes it in
    /// [`ImageInput::masked_embeddings`]).
    pub fn masked_embeddings(
        &self,
        oracle: &mut dyn Oracle,
        masks: &Array3<u8>,
        x: ArrayView3<'_, f32>,
    ) -> Result<Array2<f32>, Error> {
        let (c, h, w) = x.dim();
        let black = oracle.black();
        let n = masks.shape()[0];
        let bs = oracle.batch_size().max(1);
        let mut rows = Vec::with_capacity(n.div_ceil(bs));
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + bs).min(n);
            let mut batch = ndarray::Array4::<f32>::zeros((i1 - i0, c, h, w));
            for (bi, mut img) in batch.axis_iter_mut(Axis(0)).enumerate() {
                let m = masks.index_axis(Axis(0), i0 + bi);
                for ch in 0..c {
                    let fill = black[ch.min(2)];
                    ndarray::Zip::from(img.index_axis_mut(Axis(0), ch))
                        .and(x.index_axis(Axis(0), ch))
                        .and(&m)
                        .for_each(|o, &v, &k| *o = if k != 0 { v } else { fill });
                }
            }
            let e = oracle
                .embed(batch.view())
                .map_err(oracle_err(Method::Corrrise))?;
            if e.nrows() != i1 - i0 || e.ncols() != oracle.dim() {
                return Err(Error::ShapeMismatch {
                    what: "CorrRISE embeddings",
                    expected: vec![i1 - i0, oracle.dim()],
                    got: e.shape().to_vec(),
                });
            }
            rows.push(e);
            i0 = i1;
        }
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        ndarray::concatenate(Axis(0), &views).map_err(|_| Error::ShapeMismatch {
            what: "CorrRISE embeddings",
            expected: vec![n, oracle.dim()],
            got: vec![],
        })
    }

    /// The masked scores `[N]` of image `x` against `other`'s embedding
    /// (`s_i = <e(x * m_i), e_other>`), reusing `x.masked_embeddings` when given.
    pub fn masked_scores(
        &self,
        oracle: &mut dyn Oracle,
        masks: &Array3<u8>,
        x: &ImageInput<'_>,
        other: &ImageInput<'_>,
    ) -> Result<Vec<f64>, Error> {
        let n = masks.shape()[0];
        let owned;
        let e = match x.masked_embeddings {
            Some(e) => e,
            None => {
                owned = self.masked_embeddings(oracle, masks, x.tensor)?;
                &owned
            }
        };
        if e.dim() != (n, other.embedding.len()) {
            return Err(Error::ShapeMismatch {
                what: "CorrRISE masked embeddings",
                expected: vec![n, other.embedding.len()],
                got: e.shape().to_vec(),
            });
        }
        Ok(e.dot(&other.embedding)
            .iter()
            .map(|v| f64::from(*v))
            .collect())
    }
}

impl PairMethod for CorrRise {
    fn method(&self) -> Method {
        Method::Corrrise
    }

    fn explain(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        threshold: f32,
    ) -> Result<PairExplanation, Error> {
        let (_, h, w) = a.tensor.dim();
        let masks = self.options.masks(h, w);
        let sa = self.masked_scores(oracle, &masks, &a, &b)?;
        let sb = self.masked_scores(oracle, &masks, &b, &a)?;
        let (ma, mb) = rayon::join(|| spearman_map(&masks, &sa), || spearman_map(&masks, &sb));
        Ok(PairExplanation {
            method: Method::Corrrise,
            score: a.embedding.dot(&b.embedding),
            threshold,
            weights: Array1::zeros(0),
            a: ImageMaps::from_signed(ma),
            b: ImageMaps::from_signed(mb),
        })
    }

    fn explain_probe(
        &self,
        oracle: &mut dyn Oracle,
        a: ImageInput<'_>,
        b: ImageInput<'_>,
        _threshold: f32,
    ) -> Result<ImageMaps, Error> {
        let (_, h, w) = a.tensor.dim();
        let masks = self.options.masks(h, w);
        let sa = self.masked_scores(oracle, &masks, &a, &b)?;
        Ok(ImageMaps::from_signed(spearman_map(&masks, &sa)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_published_sequence() {
        // first outputs for seed 0 (reference values of the SplitMix64 paper's C code)
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn masks_have_patches_inside() {
        let o = CorrRiseOptions::default();
        let m = o.masks(112, 112);
        assert_eq!(m.dim(), (500, 112, 112));
        for mi in m.axis_iter(Axis(0)) {
            let black = mi.iter().filter(|v| **v == 0).count();
            assert!((900..=2700).contains(&black), "{black}");
        }
        assert_eq!(o.patch_side(8, 8), 2);
    }

    #[test]
    fn a_pixel_that_lowers_the_score_when_masked_correlates_positively() {
        // score = 1 when pixel (0,0) kept, else 0; other pixels random
        let o = CorrRiseOptions {
            masks: 200,
            patches: 1,
            patch_px_at_112: 56,
            seed: 7,
        };
        let m = o.masks(4, 4);
        let scores: Vec<f64> = m
            .axis_iter(Axis(0))
            .map(|mi| f64::from(mi[[0, 0]]))
            .collect();
        let c = spearman_map(&m, &scores);
        assert!((c[[0, 0]] - 1.0).abs() < 1e-6);
    }
}
