//! Verification metrics on score lists: the EER threshold (shared/spec/fggb.md, "The
//! evaluation"), AUC, accuracy at a threshold, and the normalised trapezoid area of a curve.
//! Convention everywhere: `score >= threshold` counts as "same person"; `label = true` is a
//! genuine pair.

use serde::Serialize;

use crate::Error;

/// The equal-error operating point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EerPoint {
    /// The chosen threshold (one of the observed scores).
    pub threshold: f32,
    /// False-match rate at it: impostors with `score >= threshold`.
    pub fmr: f64,
    /// False-non-match rate at it: genuines with `score < threshold`.
    pub fnmr: f64,
    /// `(fmr + fnmr) / 2`.
    pub eer: f64,
}

fn counts(labels: &[bool]) -> Result<(usize, usize), Error> {
    let g = labels.iter().filter(|l| **l).count();
    let i = labels.len() - g;
    if g == 0 || i == 0 {
        return Err(Error::OneClass {
            genuine: g,
            impostor: i,
        });
    }
    Ok((g, i))
}

fn check_len(scores: &[f32], labels: &[bool]) -> Result<(), Error> {
    if scores.len() != labels.len() {
        return Err(Error::LengthMismatch {
            what: "scores vs labels",
            expected: labels.len(),
            got: scores.len(),
        });
    }
    Ok(())
}

/// The EER threshold: every observed score is a candidate, swept in descending order; the first
/// candidate where `|FMR - FNMR|` is smallest wins (ties in score are one candidate, since
/// `score >= t` treats them together).
pub fn eer(scores: &[f32], labels: &[bool]) -> Result<EerPoint, Error> {
    check_len(scores, labels)?;
    let (ng, ni) = counts(labels)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut accepted_g, mut accepted_i) = (0usize, 0usize);
    let mut best: Option<(f64, EerPoint)> = None;
    let mut k = 0;
    while k < order.len() {
        let t = scores[order[k]];
        // accept every score >= t: take the whole run of equal scores
        while k < order.len() && scores[order[k]] == t {
            if labels[order[k]] {
                accepted_g += 1;
            } else {
                accepted_i += 1;
            }
            k += 1;
        }
        let fmr = accepted_i as f64 / ni as f64;
        let fnmr = (ng - accepted_g) as f64 / ng as f64;
        let gap = (fmr - fnmr).abs();
        if best.as_ref().is_none_or(|(g, _)| gap < *g) {
            best = Some((
                gap,
                EerPoint {
                    threshold: t,
                    fmr,
                    fnmr,
                    eer: (fmr + fnmr) / 2.0,
                },
            ));
        }
    }
    best.map(|(_, p)| p).ok_or(Error::OneClass {
        genuine: ng,
        impostor: ni,
    })
}

/// Area under the ROC curve: the probability that a random genuine pair scores above a random
/// impostor pair, ties counting one half (Mann-Whitney U / (n_g n_i)).
pub fn auc(scores: &[f32], labels: &[bool]) -> Result<f64, Error> {
    check_len(scores, labels)?;
    let (ng, ni) = counts(labels)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // average ranks (1-based), ties averaged
    let mut rank_sum_g = 0.0f64;
    let mut k = 0;
    while k < order.len() {
        let mut j = k + 1;
        while j < order.len() && scores[order[j]] == scores[order[k]] {
            j += 1;
        }
        let r = (k + j + 1) as f64 / 2.0;
        rank_sum_g += r * order[k..j].iter().filter(|&&i| labels[i]).count() as f64;
        k = j;
    }
    let u = rank_sum_g - (ng * (ng + 1)) as f64 / 2.0;
    Ok(u / (ng as f64 * ni as f64))
}

/// Fraction of pairs decided correctly at `threshold` (`score >= threshold` = genuine).
pub fn accuracy(scores: &[f32], labels: &[bool], threshold: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    let ok = scores
        .iter()
        .zip(labels)
        .filter(|(s, l)| (**s >= threshold) == **l)
        .count();
    ok as f64 / scores.len() as f64
}

/// Trapezoid area under `y(x)`, divided by the x range, times 100 (so a curve of accuracies in
/// `[0, 1]` gives a percentage).
pub fn area_x100(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 || x.len() != y.len() {
        return f64::NAN;
    }
    let range = x[x.len() - 1] - x[0];
    let area: f64 = x
        .windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum();
    area / range * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores() {
        let s = [0.9, 0.8, 0.3, 0.2];
        let l = [true, true, false, false];
        let p = eer(&s, &l).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.threshold, 0.8);
        assert_eq!((p.fmr, p.fnmr, p.eer), (0.0, 0.0, 0.0));
        assert_eq!(auc(&s, &l).ok(), Some(1.0));
        assert_eq!(accuracy(&s, &l, p.threshold), 1.0);
    }

    #[test]
    fn overlapping_scores_first_minimum_in_descending_sweep() {
        // descending: 0.9 g, 0.7 i, 0.6 g, 0.4 i
        // t=0.9: fmr 0, fnmr .5 (gap .5); t=0.7: fmr .5, fnmr .5 (gap 0) <- first minimum;
        // t=0.6: fmr .5, fnmr 0 (gap .5); t=0.4: fmr 1, fnmr 0
        let s = [0.9, 0.7, 0.6, 0.4];
        let l = [true, false, true, false];
        let p = eer(&s, &l).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.threshold, 0.7);
        assert_eq!(p.eer, 0.5);
        // pairs (g, i) with g > i: (0.9,0.7) (0.9,0.4) (0.6,0.4) = 3 of 4
        assert_eq!(auc(&s, &l).ok(), Some(0.75));
    }

    #[test]
    fn ties_across_classes() {
        // a genuine and an impostor tie at 0.5: the tied pair counts one half for AUC
        let s = [0.8, 0.5, 0.5, 0.1];
        let l = [true, true, false, false];
        // pairs: (0.8,0.5)=1 (0.8,0.1)=1 (0.5g,0.5i)=0.5 (0.5g,0.1)=1 -> 3.5/4
        assert_eq!(auc(&s, &l).ok(), Some(0.875));
        // t=0.8: fmr 0, fnmr .5 (gap .5); t=0.5 (both tied accepted): fmr .5, fnmr 0 (gap .5,
        // not smaller: the first minimum stays at 0.8); t=0.1: fmr 1.
        let p = eer(&s, &l).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.threshold, 0.8);
        assert_eq!(p.eer, 0.25);
        // all tied: AUC one half
        assert_eq!(auc(&[0.3, 0.3], &[true, false]).ok(), Some(0.5));
    }

    #[test]
    fn one_class_is_an_error() {
        assert!(eer(&[0.1, 0.2], &[true, true]).is_err());
        assert!(auc(&[0.1], &[false]).is_err());
    }

    #[test]
    fn area_of_constant_and_linear_curves() {
        let x: Vec<f64> = (0..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!((area_x100(&x, &[1.0; 11]) - 100.0).abs() < 1e-12);
        let y: Vec<f64> = (0..=10).map(|i| 1.0 - f64::from(i) / 10.0).collect();
        assert!((area_x100(&x, &y) - 50.0).abs() < 1e-12);
    }
}
