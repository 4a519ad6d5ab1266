//! The pipeline: decode/align | gradient graph | combination + files, as three stages joined by
//! bounded channels, with the results appended by the calling thread.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use rayon::iter::{ParallelBridge, ParallelIterator};
use serde::{Deserialize, Serialize};
use xfv::{ExplainOutcome, ExplainTimings, ExplainerBuilder, PairWriter, Preparer};
use xfv_core::{Comparison, Verdict};
use xfv_explain::ImageGradients;
use xfv_preprocess::AlignedFace;
use xfv_report::DisplayOptions;

use crate::cache::DiskCache;
use crate::pairs::{EntryKind, Pair, PairList};
use crate::results::{
    ErrorKind, PairTimings, Record, RecordError, ResultsLog, RunStats, SCHEMA, Status, Summary,
};
use crate::schedule::{Step, plan};
use crate::{Error, Shard, gallery};

/// Pair jobs waiting for the combination stage (each holds two images' maps alive).
const PAIR_QUEUE: usize = 8;
/// Prepared images waiting for the gradient graph.
const IMAGE_QUEUE: usize = 2;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Output folder: `results.jsonl`, `summary.json`, `run.json`, `index.html`, `pairs/`.
    pub out: PathBuf,
    /// Folder the list's paths are relative to (default: the list's folder).
    pub images_root: Option<PathBuf>,
    /// Budget for the per-image maps held in memory, bytes.
    pub memory_bytes: u64,
    /// Which share of the list this run does.
    pub shard: Shard,
    /// Optional on-disk cache of per-image maps.
    pub cache_dir: Option<PathBuf>,
    /// Panel display options.
    pub display: DisplayOptions,
}

impl BatchOptions {
    /// Defaults: 2 GiB of maps, the whole list, no disk cache.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        BatchOptions {
            out: out.into(),
            images_root: None,
            memory_bytes: 2048 << 20,
            shard: Shard::default(),
            cache_dir: None,
            display: DisplayOptions::default(),
        }
    }
}

/// `run.json`: what a batch output was made from (checked by merge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The pair list.
    pub pairs: String,
    /// Its sha256.
    pub pairs_sha256: String,
    /// Entries in the list.
    pub entries: usize,
    /// Shard `I/N` (absent after a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Model name.
    pub model: String,
    /// Cosine threshold (absent when the run loaded no model: only bad rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
}

/// A batch ready to run: list parsed, earlier results read.
#[derive(Debug)]
pub struct Batch {
    builder: ExplainerBuilder,
    list: PairList,
    list_path: PathBuf,
    opts: BatchOptions,
    log: ResultsLog,
    records: BTreeMap<usize, Record>,
    todo: Vec<usize>,
    in_shard: usize,
}

enum Loaded {
    Face(AlignedFace, f64, Option<PathBuf>),
    Cached(Box<(AlignedFace, ImageGradients)>, f64),
    Failed(RecordError),
}

struct Held {
    face: AlignedFace,
    grads: ImageGradients,
    preprocess_ms: f64,
    gradients_ms: f64,
}

type Slot = Arc<Result<Held, RecordError>>;

struct PairJob {
    row: usize,
    line: usize,
    pair: Pair,
    a: Slot,
    b: Slot,
}

impl Batch {
    /// Parses the list, creates the output folder and reads `results.jsonl` (cutting a torn
    /// last line); pairs already recorded are not done again.
    pub fn open(
        builder: ExplainerBuilder,
        pairs: &Path,
        opts: BatchOptions,
    ) -> Result<Batch, Error> {
        let list = PairList::read(pairs)?;
        std::fs::create_dir_all(&opts.out).map_err(|source| Error::Io {
            path: opts.out.clone(),
            source,
        })?;
        // resuming into an output made from another list would take its rows for ours
        let run_json = opts.out.join("run.json");
        if let Ok(bytes) = std::fs::read(&run_json)
            && let Ok(prev) = serde_json::from_slice::<RunInfo>(&bytes)
        {
            let sha = xfv::sha256_file(pairs)?;
            if prev.pairs_sha256 != sha {
                return Err(Error::MergeMismatch {
                    path: run_json,
                    key: "pairs_sha256",
                    expected: sha,
                    got: prev.pairs_sha256,
                });
            }
        }
        let (log, records) = ResultsLog::open(&opts.out.join("results.jsonl"))?;
        let shard = opts.shard;
        let mine: Vec<usize> = list
            .entries
            .iter()
            .filter(|e| shard.contains(e.row))
            .map(|e| e.row)
            .collect();
        let todo = mine
            .iter()
            .copied()
            .filter(|r| !records.contains_key(r))
            .collect();
        Ok(Batch {
            builder,
            list,
            list_path: pairs.to_path_buf(),
            in_shard: mine.len(),
            opts,
            log,
            records,
            todo,
        })
    }

    /// Entries of the list in this shard.
    pub fn in_shard(&self) -> usize {
        self.in_shard
    }

    /// Entries still to do.
    pub fn remaining(&self) -> usize {
        self.todo.len()
    }

    /// Runs the remaining pairs, calling `on_record` after each record is safely on disk, then
    /// writes `summary.json` and `index.html`.
    pub fn run(mut self, mut on_record: impl FnMut(&Record)) -> Result<Summary, Error> {
        let t_start = Instant::now();
        let mut stats = RunStats::default();
        // bad rows first: they need no model
        let mut pairs_todo = Vec::new();
        for &row in &self.todo {
            let e = &self.list.entries[row];
            match &e.kind {
                EntryKind::Pair(p) => pairs_todo.push((e.row, e.line, p.clone())),
                EntryKind::Bad { reason, text } => {
                    let kind = match reason {
                        crate::pairs::BadRow::Columns { .. } => ErrorKind::Columns,
                        crate::pairs::BadRow::Label { .. } => ErrorKind::Label,
                        crate::pairs::BadRow::Duplicate { .. } => ErrorKind::Duplicate,
                    };
                    let r = error_record(
                        e.row,
                        e.line,
                        text.clone(),
                        String::new(),
                        None,
                        RecordError {
                            kind,
                            message: format!(
                                "{} line {}: {reason}",
                                self.list_path.display(),
                                e.line
                            ),
                            file: None,
                        },
                    );
                    self.log.append(&r)?;
                    on_record(&r);
                    stats.pairs_done += 1;
                    self.records.insert(r.row, r);
                }
            }
        }
        let explainer_info = if pairs_todo.is_empty() {
            None
        } else {
            Some(self.run_pairs(pairs_todo, &mut stats, &mut on_record)?)
        };
        stats.wall_s = t_start.elapsed().as_secs_f64();
        let summary = Summary::of(self.records.values(), stats);
        let info = RunInfo {
            pairs: self.list_path.display().to_string(),
            pairs_sha256: xfv::sha256_file(&self.list_path)?,
            entries: self.list.entries.len(),
            shard: Some(self.opts.shard.to_string()),
            model: explainer_info
                .as_ref()
                .map_or(String::new(), |(m, _)| m.clone()),
            threshold: explainer_info.map(|(_, t)| t),
        };
        let out = &self.opts.out;
        // a resumed run that had nothing left keeps the earlier run.json
        if info.threshold.is_some() || !out.join("run.json").exists() {
            xfv_report::write_json_atomic(&out.join("run.json"), &info)?;
        }
        xfv_report::write_json_atomic(&out.join("summary.json"), &summary)?;
        gallery::write(out, self.records.values(), &summary)?;
        Ok(summary)
    }

    fn run_pairs(
        &mut self,
        pairs: Vec<(usize, usize, Pair)>,
        stats: &mut RunStats,
        on_record: &mut impl FnMut(&Record),
    ) -> Result<(String, f32), Error> {
        let mut explainer = self.builder.clone().build()?;
        // the per-image cache is FGGB's structure (per-image maps, cheap pair combination); the
        // other methods need both images at once and are not batched here
        if explainer.method() != xfv_explain::Method::Fggb {
            return Err(Error::MethodNotBatched {
                method: explainer.method().name(),
            });
        }
        let mut preparer = self.builder.build_preparer()?;
        let writer = explainer.pair_writer();
        let card = explainer.card().clone();
        let manifest = card.manifest()?;
        let (h, w) = (
            manifest.input.height_px as u64,
            manifest.input.width_px as u64,
        );
        let dim = card.embedding.as_ref().map_or(512, |e| e.dim) as u64;
        let per_image = dim * h * w * 4 + h * w * 3 + dim * 4 + 1024;
        let capacity = (self.opts.memory_bytes / per_image)
            .saturating_sub(2 * PAIR_QUEUE as u64 + IMAGE_QUEUE as u64)
            .max(2) as usize;
        let cache = match &self.opts.cache_dir {
            Some(dir) => {
                let graph = xfv::gradient_graph_path(&card);
                let salt = format!(
                    "graph:{} mode:{:?}",
                    xfv::sha256_file(&graph)?,
                    preparer.mode()
                );
                Some(DiskCache::open(dir, salt)?)
            }
            None => None,
        };
        let root = match &self.opts.images_root {
            Some(r) => r.clone(),
            None => self
                .list_path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        };
        let mut ids: HashMap<PathBuf, usize> = HashMap::new();
        let mut files: Vec<PathBuf> = Vec::new();
        let mut id = |p: &Path| {
            let full = root.join(p);
            *ids.entry(full.clone()).or_insert_with(|| {
                files.push(full);
                files.len() - 1
            })
        };
        let image_pairs: Vec<(usize, usize)> =
            pairs.iter().map(|(_, _, p)| (id(&p.a), id(&p.b))).collect();
        let steps = plan(&image_pairs, capacity);
        tracing::info!(
            images = files.len(),
            pairs = pairs.len(),
            capacity,
            "batch plan"
        );
        let loads: Vec<usize> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Load(i) => Some(*i),
                _ => None,
            })
            .collect();
        let out = self.opts.out.clone();
        let display = self.opts.display;
        let (tx_img, rx_img) = sync_channel::<Loaded>(IMAGE_QUEUE);
        let (tx_job, rx_job) = sync_channel::<PairJob>(PAIR_QUEUE);
        let (tx_rec, rx_rec) = sync_channel::<Record>(PAIR_QUEUE);
        let mut append_err = None;
        let (pre_ms, (grad_ms, passes, hits, failures)) = std::thread::scope(|s| {
            let files = &files;
            let cache_ref = cache.as_ref();
            let decode =
                s.spawn(move || decode_stage(&mut preparer, files, &loads, cache_ref, tx_img));
            let pairs = &pairs;
            let steps = &steps;
            let image_pairs = &image_pairs;
            let infer = s.spawn(move || {
                infer_stage(
                    &mut explainer,
                    Work {
                        steps,
                        pairs,
                        image_pairs,
                        files,
                    },
                    cache_ref,
                    rx_img,
                    tx_job,
                )
            });
            let writer_ref = &writer;
            let out_ref = &out;
            let display_ref = &display;
            s.spawn(move || combine_stage(writer_ref, out_ref, display_ref, rx_job, tx_rec));
            for r in rx_rec {
                stats.combine_ms += r.timings.as_ref().map_or(0.0, |t| t.combine_ms);
                stats.write_ms += r.timings.as_ref().map_or(0.0, |t| t.write_ms);
                if let Err(e) = self.log.append(&r) {
                    append_err = Some(e);
                    break; // dropping the receiver stops the stages
                }
                stats.pairs_done += 1;
                on_record(&r);
                self.records.insert(r.row, r);
            }
            (
                decode.join().unwrap_or(0.0),
                infer.join().unwrap_or((0.0, 0, 0, 0)),
            )
        });
        if let Some(e) = append_err {
            return Err(e);
        }
        stats.preprocess_ms += pre_ms;
        stats.gradients_ms += grad_ms;
        stats.gradient_passes += passes;
        stats.cache_hits += hits;
        stats.image_failures += failures;
        Ok((card.name.clone(), writer.threshold()))
    }
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn error_record(
    row: usize,
    line: usize,
    a: String,
    b: String,
    label: Option<bool>,
    error: RecordError,
) -> Record {
    Record {
        schema: SCHEMA,
        row,
        line,
        a,
        b,
        label: label.map(u8::from),
        status: Status::Error,
        score: None,
        threshold: None,
        decision: None,
        correct: None,
        dir: None,
        error: Some(error),
        timings: None,
    }
}

/// Stage 1: files -> aligned crops (or cached maps). Returns milliseconds spent.
fn decode_stage(
    preparer: &mut Preparer,
    files: &[PathBuf],
    loads: &[usize],
    cache: Option<&DiskCache>,
    tx: SyncSender<Loaded>,
) -> f64 {
    let mut total = 0.0;
    for &img in loads {
        let path = &files[img];
        let t0 = Instant::now();
        let fail = |e: &dyn std::fmt::Display| {
            Loaded::Failed(RecordError {
                kind: ErrorKind::Image,
                message: e.to_string(),
                file: Some(lossy(path)),
            })
        };
        let loaded = match cache {
            Some(c) => match std::fs::read(path) {
                Err(e) => fail(&format!("cannot read {}: {e}", path.display())),
                Ok(bytes) => {
                    let entry = c.entry_path(&bytes);
                    match c.load(&entry, path) {
                        Some(hit) => Loaded::Cached(Box::new(hit), ms(t0)),
                        None => match preparer.prepare(path) {
                            Ok(face) => Loaded::Face(face, ms(t0), Some(entry)),
                            Err(e) => fail(&e),
                        },
                    }
                }
            },
            None => match preparer.prepare(path) {
                Ok(face) => Loaded::Face(face, ms(t0), None),
                Err(e) => fail(&e),
            },
        };
        total += ms(t0);
        if tx.send(loaded).is_err() {
            break;
        }
    }
    total
}

/// What the inference stage walks: the plan, the pairs, their image ids, the image files.
struct Work<'a> {
    steps: &'a [Step],
    pairs: &'a [(usize, usize, Pair)],
    image_pairs: &'a [(usize, usize)],
    files: &'a [PathBuf],
}

/// Stage 2: owns the gradient session; walks the plan, holds images, emits pair jobs.
/// Returns (ms, gradient passes, cache hits, image failures).
fn infer_stage(
    explainer: &mut xfv::Explainer,
    work: Work<'_>,
    cache: Option<&DiskCache>,
    rx: Receiver<Loaded>,
    tx: SyncSender<PairJob>,
) -> (f64, usize, usize, usize) {
    let Work {
        steps,
        pairs,
        image_pairs,
        files,
    } = work;
    let (mut total, mut passes, mut hits, mut failures) = (0.0, 0, 0, 0);
    let mut held: HashMap<usize, Slot> = HashMap::new();
    for step in steps {
        match *step {
            Step::Load(img) => {
                let Ok(loaded) = rx.recv() else {
                    break;
                };
                let slot = match loaded {
                    Loaded::Failed(e) => Err(e),
                    Loaded::Cached(hit, pre) => {
                        hits += 1;
                        let (face, grads) = *hit;
                        Ok(Held {
                            face,
                            grads,
                            preprocess_ms: pre,
                            gradients_ms: 0.0,
                        })
                    }
                    Loaded::Face(face, pre, entry) => {
                        let t0 = Instant::now();
                        passes += 1;
                        let r = explainer.image_gradients(&[&face]);
                        let g_ms = ms(t0);
                        total += g_ms;
                        match r.map(|mut v| v.pop()) {
                            Ok(Some(grads)) => {
                                if let (Some(c), Some(entry)) = (cache, entry)
                                    && let Err(e) = c.store(&entry, &face, &grads)
                                {
                                    tracing::warn!(error = %e, "could not write the cache entry");
                                }
                                Ok(Held {
                                    face,
                                    grads,
                                    preprocess_ms: pre,
                                    gradients_ms: g_ms,
                                })
                            }
                            Ok(None) => Err(RecordError {
                                kind: ErrorKind::Gradients,
                                message: "no gradients returned".into(),
                                file: Some(lossy(&files[img])),
                            }),
                            Err(e) => Err(RecordError {
                                kind: ErrorKind::Gradients,
                                message: format!("{}: {e}", files[img].display()),
                                file: Some(lossy(&files[img])),
                            }),
                        }
                    }
                };
                if slot.is_err() {
                    failures += 1;
                }
                held.insert(img, Arc::new(slot));
            }
            Step::Evict(img) => {
                held.remove(&img);
            }
            Step::Pair(i) => {
                let (row, line, pair) = &pairs[i];
                let (ia, ib) = image_pairs[i];
                let (ia, ib) = (held.get(&ia).cloned(), held.get(&ib).cloned());
                let (Some(a), Some(b)) = (ia, ib) else {
                    continue;
                };
                let job = PairJob {
                    row: *row,
                    line: *line,
                    pair: pair.clone(),
                    a,
                    b,
                };
                if tx.send(job).is_err() {
                    break;
                }
            }
        }
    }
    (total, passes, hits, failures)
}

/// Stage 3: combination + panel + files, in parallel (rayon).
fn combine_stage(
    writer: &PairWriter,
    out: &Path,
    display: &DisplayOptions,
    rx: Receiver<PairJob>,
    tx: SyncSender<Record>,
) {
    rx.into_iter().par_bridge().for_each_with(tx, |tx, job| {
        let rec = explain_job(writer, out, display, job);
        let _ = tx.send(rec);
    });
}

fn explain_job(writer: &PairWriter, out: &Path, display: &DisplayOptions, job: PairJob) -> Record {
    let (a_text, b_text) = (lossy(&job.pair.a), lossy(&job.pair.b));
    let (ha, hb) = match (&*job.a, &*job.b) {
        (Ok(ha), Ok(hb)) => (ha, hb),
        (Err(e), _) | (_, Err(e)) => {
            return error_record(job.row, job.line, a_text, b_text, job.pair.label, e.clone());
        }
    };
    let t0 = Instant::now();
    let explanation = writer.combine(&ha.grads, &hb.grads);
    let combine_ms = ms(t0);
    let verdict = Verdict::decide(Comparison::Cosine, explanation.score, writer.threshold());
    let outcome = ExplainOutcome {
        faces: [ha.face.clone(), hb.face.clone()],
        explanation,
        verdict,
        timings: ExplainTimings {
            preprocess_ms: ha.preprocess_ms + hb.preprocess_ms,
            gradients_ms: ha.gradients_ms + hb.gradients_ms,
            combine_ms,
            write_ms: 0.0,
        },
    };
    let dir_rel = format!("pairs/{:06}", job.row);
    match writer.write(&outcome, &out.join(&dir_rel), display) {
        Ok(written) => {
            let accept = verdict.decision == xfv_core::Decision::Accept;
            Record {
                schema: SCHEMA,
                row: job.row,
                line: job.line,
                a: a_text,
                b: b_text,
                label: job.pair.label.map(u8::from),
                status: Status::Ok,
                score: Some(verdict.score),
                threshold: Some(verdict.threshold),
                decision: Some(verdict.decision),
                correct: job.pair.label.map(|l| l == accept),
                dir: Some(dir_rel),
                error: None,
                timings: Some(PairTimings {
                    combine_ms,
                    write_ms: written.timings.write_ms,
                }),
            }
        }
        Err(e) => error_record(
            job.row,
            job.line,
            a_text,
            b_text,
            job.pair.label,
            RecordError {
                kind: ErrorKind::Write,
                message: e.to_string(),
                file: None,
            },
        ),
    }
}

fn ms(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}
