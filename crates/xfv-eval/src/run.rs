//! The evaluation driver: clean scores -> EER threshold -> each method's maps of the probes ->
//! deletion and insertion curves at the clean threshold.

use std::collections::HashMap;
use std::time::Instant;

use ndarray::{Array2, Array3, Array4, Axis, stack};
use serde::{Deserialize, Serialize};
use xfv_explain::corrrise::{CorrRise, CorrRiseOptions};
use xfv_explain::{ImageGradients, ImageInput, Method, Oracle, PairMethod, method_impl};

use crate::Error;
use crate::checkpoint::{Checkpoint, PairScores};
use crate::metrics::{EerPoint, accuracy, area_x100, auc, eer};
use crate::perturb::{Metric, perturb, ranking};

/// Which of a probe's two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapKind {
    /// `max(S, 0)`: evidence for "same person".
    Similarity,
    /// `max(-S, 0)`: evidence for "different".
    Dissimilarity,
}

impl MapKind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Similarity => "similarity",
            MapKind::Dissimilarity => "dissimilarity",
        }
    }
}

/// Which pairs each map kind is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PairSelection {
    /// Similarity maps on genuine pairs, dissimilarity maps on impostor pairs (default; the
    /// spec's inferred protocol).
    #[default]
    Labels,
    /// Similarity maps on pairs accepted at the clean threshold, dissimilarity maps on rejected
    /// ones.
    Decisions,
    /// Both kinds on every pair.
    All,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Methods, in table order.
    pub methods: Vec<Method>,
    /// Ratios P in percent (default 0, 10, ..., 100).
    pub ratios: Vec<f64>,
    /// Pair selection per map kind.
    pub selection: PairSelection,
    /// The map kinds to score (default both). A pair that the selection gives only kinds left
    /// out here is not explained at all: `[Dissimilarity]` with the `Labels` selection explains
    /// the impostor pairs only, while the genuine pairs still count for the clean EER threshold.
    pub maps: Vec<MapKind>,
    /// Threshold for the methods and the curves (default: the clean EER threshold).
    pub threshold: Option<f32>,
    /// CorrRISE's options.
    pub corrrise: CorrRiseOptions,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            methods: Method::ALL.to_vec(),
            ratios: (0..=10).map(|i| f64::from(i) * 10.0).collect(),
            selection: PairSelection::default(),
            maps: vec![MapKind::Similarity, MapKind::Dissimilarity],
            threshold: None,
            corrrise: CorrRiseOptions::default(),
        }
    }
}

/// A labelled pair of image indices: probe `a`, gallery `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPair {
    /// Probe (perturbed).
    pub a: usize,
    /// Gallery (fixed).
    pub b: usize,
    /// Same person.
    pub genuine: bool,
}

/// Verification on the clean images.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Pairs.
    pub pairs: usize,
    /// Genuine pairs.
    pub genuine: usize,
    /// Impostor pairs.
    pub impostor: usize,
    /// The EER operating point.
    pub eer: EerPoint,
    /// Accuracy at the threshold in use.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
    /// The threshold the curves and the methods use.
    pub threshold: f32,
}

/// One accuracy curve and its area.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// Method.
    pub method: Method,
    /// Map kind.
    pub map: MapKind,
    /// Deletion or insertion.
    pub metric: Metric,
    /// Pairs it was measured on.
    pub pairs: usize,
    /// P in percent.
    pub ratios: Vec<f64>,
    /// Accuracy at each P.
    pub accuracy: Vec<f64>,
    /// Normalised trapezoid area x 100 (%).
    pub area_x100: f64,
    /// Mean score of the perturbed probes against their galleries at each P: the continuous
    /// companion of the accuracy, which saturates when the clean scores lie far from the
    /// threshold. A faithful similarity map makes it fall fast under deletion and rise fast
    /// under insertion; a faithful dissimilarity map the opposite (deleting what differs makes
    /// the faces more alike).
    pub mean_score: Vec<f64>,
    /// Normalised trapezoid area of `mean_score` (in score units).
    pub mean_score_area: f64,
}

/// Time a method took to explain the pairs (maps only, not the curves).
#[derive(Debug, Clone, Serialize)]
pub struct MethodTiming {
    /// Method.
    pub method: Method,
    /// Pairs scored (those the selection gives a map kind in [`EvalOptions::maps`]).
    pub pairs: usize,
    /// Pairs explained by this run (the rest came from the checkpoint of an earlier run).
    pub pairs_explained: usize,
    /// Seconds in all, including the per-probe work done once per probe image (FGGB's gradients,
    /// CorrRISE's masked embeddings); pairs resumed from a checkpoint count with the time
    /// recorded by the run that explained them.
    pub total_s: f64,
    /// Milliseconds per pair.
    pub per_pair_ms: f64,
}

/// The evaluation's results.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Clean verification.
    pub verification: Verification,
    /// One curve per method x map kind x metric.
    pub curves: Vec<Curve>,
    /// Explanation time per method.
    pub timings: Vec<MethodTiming>,
}

fn oracle_fail(what: &'static str) -> impl Fn(xfv_explain::OracleError) -> Error {
    move |source| {
        Error::Explain(xfv_explain::Error::Oracle {
            method: what,
            source,
        })
    }
}

/// Normalised embeddings `[N, D]` of `tensors`, in the oracle's batches.
pub fn embed_all(oracle: &mut dyn Oracle, tensors: &[Array3<f32>]) -> Result<Array2<f32>, Error> {
    let mut rows = Vec::with_capacity(tensors.len());
    for chunk in tensors.chunks(oracle.batch_size().max(1)) {
        let views: Vec<_> = chunk.iter().map(|t| t.view()).collect();
        let batch = stack(Axis(0), &views).map_err(|_| Error::Shape {
            what: "image batch",
        })?;
        let e = oracle
            .embed(batch.view())
            .map_err(oracle_fail("embedding"))?;
        rows.extend(e.outer_iter().map(|r| r.to_owned()));
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    if views.is_empty() {
        return Ok(Array2::zeros((0, oracle.dim())));
    }
    stack(Axis(0), &views).map_err(|_| Error::Shape { what: "embeddings" })
}

fn kinds_for(p: &IndexPair, accepted: bool, sel: PairSelection) -> Vec<MapKind> {
    let same = match sel {
        PairSelection::Labels => p.genuine,
        PairSelection::Decisions => accepted,
        PairSelection::All => return vec![MapKind::Similarity, MapKind::Dissimilarity],
    };
    vec![if same {
        MapKind::Similarity
    } else {
        MapKind::Dissimilarity
    }]
}

/// Perturbed scores per ratio, and the pairs' labels.
type Scores = (Vec<Vec<f32>>, Vec<bool>);

/// Runs the evaluation over `pairs` of the model-input `tensors` (`[3, H, W]` each).
/// `progress` is told what is running. With a `checkpoint`, pairs it already holds are not
/// explained again and every newly finished pair is recorded in it at once (see
/// [`crate::checkpoint`]); the caller makes its fingerprint from everything the scores depend on.
pub fn evaluate(
    oracle: &mut dyn Oracle,
    tensors: &[Array3<f32>],
    pairs: &[IndexPair],
    options: &EvalOptions,
    mut checkpoint: Option<&mut Checkpoint>,
    progress: &mut dyn FnMut(&str),
) -> Result<Evaluation, Error> {
    if let Some(p) = pairs
        .iter()
        .find(|p| p.a >= tensors.len() || p.b >= tensors.len())
    {
        return Err(Error::LengthMismatch {
            what: "pair index vs images",
            expected: tensors.len(),
            got: p.a.max(p.b) + 1,
        });
    }
    progress("embedding the clean images");
    let e = embed_all(oracle, tensors)?;
    let scores: Vec<f32> = pairs.iter().map(|p| e.row(p.a).dot(&e.row(p.b))).collect();
    let labels: Vec<bool> = pairs.iter().map(|p| p.genuine).collect();
    let eer_point = eer(&scores, &labels)?;
    let theta = options.threshold.unwrap_or(eer_point.threshold);
    let verification = Verification {
        pairs: pairs.len(),
        genuine: labels.iter().filter(|l| **l).count(),
        impostor: labels.iter().filter(|l| !**l).count(),
        eer: eer_point,
        accuracy: accuracy(&scores, &labels, theta),
        auc: auc(&scores, &labels)?,
        threshold: theta,
    };
    let black = oracle.black();
    // The pairs scored, each with its selected map kinds (the same for every method), grouped by
    // probe, so a probe's per-image work (FGGB's gradients, CorrRISE's masked embeddings) is
    // done once and dropped when its last pair is done: only the probe's maps are ever needed
    // (the gallery is never perturbed).
    let mut order: Vec<(usize, Vec<MapKind>)> = (0..pairs.len())
        .filter_map(|pi| {
            let kinds: Vec<MapKind> = kinds_for(&pairs[pi], scores[pi] >= theta, options.selection)
                .into_iter()
                .filter(|k| options.maps.contains(k))
                .collect();
            (!kinds.is_empty()).then_some((pi, kinds))
        })
        .collect();
    order.sort_by_key(|(pi, _)| pairs[*pi].a);
    let mut curves = Vec::new();
    let mut timings = Vec::new();
    for &method in &options.methods {
        let corrrise = CorrRise::new(options.corrrise);
        let imp: Box<dyn PairMethod> = match method {
            Method::Corrrise => Box::new(corrrise.clone()),
            m => method_impl(m),
        };
        // (kind, metric) -> per ratio: scores; plus labels
        let mut acc: HashMap<(MapKind, Metric), Scores> = HashMap::new();
        let mut fggb: Option<(usize, ImageGradients)> = None;
        let mut masked: Option<(usize, Array2<f32>)> = None;
        let mut explain_s = 0.0;
        let mut explained = 0usize;
        for (done, (pi, kinds)) in order.iter().enumerate() {
            let (pi, kinds) = (*pi, kinds.as_slice());
            let p = &pairs[pi];
            progress(&format!(
                "{}: pair {}/{}",
                method.name(),
                done + 1,
                order.len()
            ));
            let resumed = checkpoint
                .as_deref()
                .and_then(|c| c.get(method.name(), pi))
                .filter(|(r, _)| r.iter().all(|s| s.scores.len() == options.ratios.len()))
                .filter(|(r, _)| kinds.iter().all(|k| r.iter().any(|s| s.map == *k)))
                .map(|(r, ms)| {
                    let kept = r.iter().filter(|s| kinds.contains(&s.map)).cloned();
                    (kept.collect::<Vec<_>>(), ms)
                });
            let entries = match resumed {
                Some((r, ms)) => {
                    explain_s += ms / 1e3;
                    r
                }
                None => {
                    let t0 = Instant::now();
                    if method == Method::Fggb && fggb.as_ref().is_none_or(|(i, _)| *i != p.a) {
                        drop(fggb.take()); // the previous probe's maps go before the next ones
                        let g = oracle
                            .fggb_maps(tensors[p.a].view())
                            .map_err(oracle_fail("fggb"))?;
                        fggb = Some((p.a, g));
                    }
                    if method == Method::Corrrise && masked.as_ref().is_none_or(|(i, _)| *i != p.a)
                    {
                        drop(masked.take());
                        let (_, h, w) = tensors[p.a].dim();
                        let m = corrrise.options.masks(h, w);
                        masked = Some((
                            p.a,
                            corrrise.masked_embeddings(oracle, &m, tensors[p.a].view())?,
                        ));
                    }
                    let probe = ImageInput::new(tensors[p.a].view(), e.row(p.a))
                        .with_fggb(fggb.as_ref().map(|(_, g)| g))
                        .with_masked_embeddings(masked.as_ref().map(|(_, m)| m));
                    let gallery = ImageInput::new(tensors[p.b].view(), e.row(p.b));
                    let maps = imp.explain_probe(oracle, probe, gallery, theta)?;
                    let took = t0.elapsed().as_secs_f64();
                    explain_s += took;
                    explained += 1;
                    let mut entries = Vec::new();
                    for &kind in kinds {
                        let map = match kind {
                            MapKind::Similarity => &maps.similarity,
                            MapKind::Dissimilarity => &maps.dissimilarity,
                        };
                        let rank = ranking(map.view());
                        for metric in Metric::ALL {
                            let imgs: Vec<Array3<f32>> = options
                                .ratios
                                .iter()
                                .map(|&r| perturb(tensors[p.a].view(), &rank, r, metric, black))
                                .collect();
                            let ep = embed_all(oracle, &imgs)?;
                            entries.push(PairScores {
                                map: kind,
                                metric,
                                scores: ep.dot(&e.row(p.b)).to_vec(),
                            });
                        }
                    }
                    if let Some(c) = checkpoint.as_deref_mut() {
                        c.record(method.name(), pi, &entries, took * 1e3)?;
                    }
                    entries
                }
            };
            for ps in entries {
                let entry = acc
                    .entry((ps.map, ps.metric))
                    .or_insert_with(|| (vec![Vec::new(); options.ratios.len()], Vec::new()));
                for (k, v) in ps.scores.iter().enumerate() {
                    entry.0[k].push(*v);
                }
                entry.1.push(p.genuine);
            }
        }
        timings.push(MethodTiming {
            method,
            pairs: order.len(),
            pairs_explained: explained,
            total_s: explain_s,
            per_pair_ms: explain_s * 1e3 / order.len().max(1) as f64,
        });
        let mut keys: Vec<_> = acc.keys().copied().collect();
        keys.sort();
        for key in keys {
            let (per_ratio, lab) = &acc[&key];
            let accs: Vec<f64> = per_ratio.iter().map(|s| accuracy(s, lab, theta)).collect();
            let means: Vec<f64> = per_ratio
                .iter()
                .map(|s| s.iter().map(|v| f64::from(*v)).sum::<f64>() / s.len().max(1) as f64)
                .collect();
            curves.push(Curve {
                method,
                map: key.0,
                metric: key.1,
                pairs: lab.len(),
                ratios: options.ratios.clone(),
                area_x100: area_x100(&options.ratios, &accs),
                accuracy: accs,
                mean_score_area: area_x100(&options.ratios, &means) / 100.0,
                mean_score: means,
            });
        }
    }
    Ok(Evaluation {
        verification,
        curves,
        timings,
    })
}

/// Stacks `[3, H, W]` tensors into `[N, 3, H, W]` (for callers building their own batches).
pub fn stack_images(tensors: &[Array3<f32>]) -> Result<Array4<f32>, Error> {
    let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
    stack(Axis(0), &views).map_err(|_| Error::Shape {
        what: "image batch",
    })
}
