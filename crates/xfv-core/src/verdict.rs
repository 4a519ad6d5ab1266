//! Scores and decisions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Comparison;

/// The verification decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Same person.
    Accept,
    /// Not the same person.
    Reject,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Accept => "Accept",
            Decision::Reject => "Reject",
        })
    }
}

/// A score, the threshold it was held against, and the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// How the score was computed.
    pub comparison: Comparison,
    /// Cosine similarity or euclidean distance.
    pub score: f32,
    /// Threshold used.
    pub threshold: f32,
    /// Accept or Reject.
    pub decision: Decision,
}

impl Verdict {
    /// Decides: cosine accepts iff `score >= threshold`; euclidean accepts iff
    /// `score <= threshold`.
    pub fn decide(comparison: Comparison, score: f32, threshold: f32) -> Self {
        let accept = match comparison {
            Comparison::Cosine => score >= threshold,
            Comparison::Euclidean => score <= threshold,
        };
        Verdict {
            comparison,
            score,
            threshold,
            decision: if accept {
                Decision::Accept
            } else {
                Decision::Reject
            },
        }
    }

    /// Compares two raw embeddings with `comparison` and decides.
    pub fn from_embeddings(comparison: Comparison, a: &[f32], b: &[f32], threshold: f32) -> Self {
        let score = match comparison {
            Comparison::Cosine => cosine(a, b),
            Comparison::Euclidean => euclidean(a, b),
        };
        Self::decide(comparison, score, threshold)
    }
}

/// Cosine similarity of two vectors (0 when either is zero). Accumulates in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let denom = (aa * bb).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (ab / denom) as f32
    }
}

/// Euclidean distance of two vectors. Accumulates in f64.
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum::<f64>()
        .sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_symmetric_and_scale_free() {
        let a = [1.0, 2.0, 3.0];
        let b = [-2.0, 0.5, 4.0];
        let s = cosine(&a, &b);
        assert_eq!(s, cosine(&b, &a));
        let a2: Vec<f32> = a.iter().map(|x| x * 7.0).collect();
        assert!((cosine(&a2, &b) - s).abs() < 1e-6);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0; 3], &b), 0.0);
    }

    #[test]
    fn euclidean_known_value() {
        assert!((euclidean(&[0.0, 0.0], &[3.0, 4.0]) - 5.0).abs() < 1e-6);
    }

    #[test]
    fn threshold_direction_follows_comparison() {
        // at the threshold itself both accept
        assert_eq!(
            Verdict::decide(Comparison::Cosine, 0.5, 0.5).decision,
            Decision::Accept
        );
        assert_eq!(
            Verdict::decide(Comparison::Euclidean, 0.5, 0.5).decision,
            Decision::Accept
        );
        assert_eq!(
            Verdict::decide(Comparison::Cosine, 0.4, 0.5).decision,
            Decision::Reject
        );
        assert_eq!(
            Verdict::decide(Comparison::Euclidean, 0.6, 0.5).decision,
            Decision::Reject
        );
    }
}
