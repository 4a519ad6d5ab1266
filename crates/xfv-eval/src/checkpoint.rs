//! Resuming an evaluation: every finished pair's perturbed scores go to an append-only JSON-lines
//! file (`OUT/checkpoint.jsonl`) as soon as they exist, so a run that is stopped - by the user, a
//! crash or the end of a session - loses at most the pair in flight, and the next run with the
//! same inputs picks up where it stopped. A full ORL run with CorrRISE takes hours on a laptop.
//!
//! Format: the first line is the run's fingerprint (everything the scores depend on: model, pairs,
//! threshold, ratios, selection, method options); each further line is one pair of one method:
//! `{"method":"fggb","pair":12,"explain_ms":850.0,"scores":[{"map":"similarity","metric":"deletion","scores":[..]},..]}`
//! with `pair` the 0-based index into the evaluated pairs and one score per ratio. A torn last
//! line (the process died mid-write) is ignored. A file with another fingerprint is never
//! overwritten or mixed in: it is an error naming the file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::perturb::Metric;
use crate::run::MapKind;

/// The perturbed scores of one pair under one map kind and one metric, one per ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairScores {
    /// Map kind.
    pub map: MapKind,
    /// Deletion or insertion.
    pub metric: Metric,
    /// Score against the gallery at each ratio.
    pub scores: Vec<f32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    method: String,
    pair: usize,
    /// Time the method took to explain this pair, in the run that did it.
    explain_ms: f64,
    scores: Vec<PairScores>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    xfv_eval_checkpoint: u32,
    fingerprint: serde_json::Value,
}

/// An open checkpoint file: what earlier runs finished, and the handle new pairs are appended to.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    file: File,
    done: HashMap<(String, usize), (Vec<PairScores>, f64)>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Checkpoint {
    /// Opens `path` for a run with `fingerprint`: reads what an earlier run with the same
    /// fingerprint finished, or starts the file. Another run's file is
    /// [`Error::CheckpointMismatch`].
    pub fn open(path: &Path, fingerprint: serde_json::Value) -> Result<Self, Error> {
        let mut done = HashMap::new();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(path)(e)),
        };
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            match serde_json::from_str::<Header>(first) {
                Ok(h) if h.fingerprint == fingerprint => {}
                _ => {
                    return Err(Error::CheckpointMismatch {
                        path: path.to_path_buf(),
                    });
                }
            }
            for line in lines {
                // a torn last line (killed mid-write) does not parse: that pair is redone
                if let Ok(r) = serde_json::from_str::<Record>(line) {
                    done.insert((r.method, r.pair), (r.scores, r.explain_ms));
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        if text.is_empty() {
            let header = Header {
                xfv_eval_checkpoint: 1,
                fingerprint,
            };
            let line = serde_json::to_string(&header).map_err(|e| Error::Json {
                reason: e.to_string(),
            })?;
            writeln!(file, "{line}").map_err(io(path))?;
        } else if !text.ends_with('\n') {
            // end the torn line so the next record starts on its own
            writeln!(file).map_err(io(path))?;
        }
        file.flush().map_err(io(path))?;
        Ok(Checkpoint {
            path: path.to_path_buf(),
            file,
            done,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pairs finished by earlier runs.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no pair is finished yet.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// The scores an earlier run recorded for `pair` under `method`, and the milliseconds the
    /// explanation took then.
    pub fn get(&self, method: &str, pair: usize) -> Option<(&[PairScores], f64)> {
        self.done
            .get(&(method.to_string(), pair))
            .map(|(s, ms)| (s.as_slice(), *ms))
    }

    /// Records a finished pair and its explanation time (one line, flushed before returning).
    pub fn record(
        &mut self,
        method: &str,
        pair: usize,
        scores: &[PairScores],
        explain_ms: f64,
    ) -> Result<(), Error> {
        let r = Record {
            method: method.to_string(),
            pair,
            explain_ms,
            scores: scores.to_vec(),
        };
        let line = serde_json::to_string(&r).map_err(|e| Error::Json {
            reason: e.to_string(),
        })?;
        writeln!(self.file, "{line}").map_err(io(&self.path))?;
        self.file.flush().map_err(io(&self.path))?;
        self.done.insert((r.method, pair), (r.scores, explain_ms));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: f32) -> Vec<PairScores> {
        vec![PairScores {
            map: MapKind::Similarity,
            metric: Metric::Deletion,
            scores: vec![v, v / 2.0],
        }]
    }

    #[test]
    fn resumes_what_was_recorded_and_ignores_a_torn_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("checkpoint.jsonl");
        let fp = serde_json::json!({"model": "m", "threshold": 0.5});
        {
            let mut c = Checkpoint::open(&path, fp.clone()).expect("new");
            assert!(c.is_empty());
            c.record("fggb", 3, &scores(0.8), 12.0).expect("record");
            c.record("xssab", 3, &scores(0.6), 5.0).expect("record");
        }
        // a run killed mid-write leaves half a line
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        write!(f, "{{\"method\":\"fggb\",\"pair\":4,\"sco").expect("write");
        drop(f);
        let mut c = Checkpoint::open(&path, fp.clone()).expect("resume");
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("fggb", 3), Some((scores(0.8).as_slice(), 12.0)));
        assert_eq!(c.get("fggb", 4), None);
        // the redone pair lands on a line of its own, readable by the next resume
        c.record("fggb", 4, &scores(0.7), 9.0).expect("record");
        drop(c);
        let c = Checkpoint::open(&path, fp.clone()).expect("resume again");
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("fggb", 4), Some((scores(0.7).as_slice(), 9.0)));
        // another run's inputs: refused, and the file is left as it was
        let before = std::fs::read(&path).expect("read");
        let e =
            Checkpoint::open(&path, serde_json::json!({"model": "other"})).expect_err("mismatch");
        assert!(e.to_string().contains("checkpoint.jsonl"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
