//! `results.jsonl`: one [`Record`] per pair, appended whole (one `write` of the full line, then
//! `fsync`), so a killed run leaves at most one torn last line, which [`ResultsLog::open`] cuts
//! off before resuming.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xfv_core::Decision;

use crate::Error;

/// The record schema version written by this crate.
pub const SCHEMA: u32 = 1;

/// Outcome of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Explained; `score`, `threshold`, `decision`, `dir` are set.
    Ok,
    /// Not explained; `error` says why.
    Error,
}

/// What went wrong with a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The row has the wrong number of columns.
    Columns,
    /// The label is not 0/1.
    Label,
    /// The row repeats an earlier pair.
    Duplicate,
    /// An image could not be read, decoded, or has no face.
    Image,
    /// The gradient graph failed on an image.
    Gradients,
    /// Writing the pair's files failed.
    Write,
}

/// Why a pair has no explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordError {
    /// Category.
    pub kind: ErrorKind,
    /// Human-readable message (names the file).
    pub message: String,
    /// The image file at fault, when one is (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Milliseconds spent on a pair itself (its images' shared costs are in `record.json` and in
/// the summary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairTimings {
    /// Combination of the two images' maps.
    pub combine_ms: f64,
    /// Panel rendering, PNG/NPY encoding and writing.
    pub write_ms: f64,
}

/// One line of `results.jsonl`. See the crate docs for the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Schema version ([`SCHEMA`]).
    pub schema: u32,
    /// 0-based entry number in the pair list (blank lines and the header not counted): the
    /// pair's id across runs, shards and merges.
    pub row: usize,
    /// 1-based line in the pair list.
    pub line: usize,
    /// First image as written in the list (lossy UTF-8); for a bad row, the row's text.
    pub a: String,
    /// Second image as written in the list (empty for a bad row).
    pub b: String,
    /// 1 same person, 0 different, absent when unlabelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u8>,
    /// `ok` or `error`.
    pub status: Status,
    /// Cosine similarity of the two embeddings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// Cosine threshold held against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    /// `accept` or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Decision agrees with the label (absent without label or decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// The pair's folder, relative to the output folder (`pairs/000012`): `panel.png`, crops,
    /// raw `.npy` maps, `record.json` as `xfv explain` writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Why the pair failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    /// Time spent on this pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<PairTimings>,
}

impl Record {
    /// Whether the pair was accepted.
    pub fn accepted(&self) -> bool {
        self.decision == Some(Decision::Accept)
    }
}

/// An open `results.jsonl`, for appending.
#[derive(Debug)]
pub struct ResultsLog {
    file: std::fs::File,
    path: PathBuf,
}

impl ResultsLog {
    /// Opens (creates) the log and returns the records already in it, by row. A torn last line
    /// (no final newline, or not a record) is cut off; an unreadable line elsewhere is skipped
    /// with a warning (its pair is done again).
    pub fn open(path: &Path) -> Result<(ResultsLog, BTreeMap<usize, Record>), Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let existing = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let (records, good_len) = parse_log(&existing, path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if good_len < existing.len() {
            tracing::warn!(path = %path.display(), bytes = existing.len() - good_len, "cutting a torn last line");
            file.set_len(good_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            ResultsLog {
                file,
                path: path.to_path_buf(),
            },
            records,
        ))
    }

    /// Appends one record as one whole line (a single write) and syncs it to disk.
    pub fn append(&mut self, record: &Record) -> Result<(), Error> {
        let mut line = serde_json::to_vec(record).map_err(|e| Error::Encode {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// Records of a log's bytes, and the length of its intact prefix.
fn parse_log(bytes: &[u8], path: &Path) -> (BTreeMap<usize, Record>, usize) {
    let mut records = BTreeMap::new();
    let mut at = 0;
    let mut good = 0;
    while at < bytes.len() {
        let Some(nl) = bytes[at..].iter().position(|b| *b == b'\n') else {
            break; // no newline: torn
        };
        let line = &bytes[at..at + nl];
        at += nl + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            good = at;
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => {
                records.entry(r.row).or_insert(r);
                good = at;
            }
            Err(e) if at >= bytes.len() => {
                tracing::warn!(path = %path.display(), error = %e, "torn last line");
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable line");
                good = at;
            }
        }
    }
    (records, good)
}

/// Reads all records of a finished log (read-only; a torn last line is ignored).
pub fn read_records(path: &Path) -> Result<BTreeMap<usize, Record>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_log(&bytes, path).0)
}

/// Totals over a set of records plus this run's stage times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Records (pairs and bad rows).
    pub pairs: usize,
    /// Explained pairs.
    pub ok: usize,
    /// Accepted pairs.
    pub accepts: usize,
    /// Rejected pairs.
    pub rejects: usize,
    /// Pairs with an error record.
    pub failures: usize,
    /// Explained pairs with a label.
    pub labelled: usize,
    /// Of those, decided as labelled.
    pub correct: usize,
    /// `correct / labelled`, when labels exist.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// This run (sums over the shards after a merge).
    #[serde(default)]
    pub run: RunStats,
}

/// Work done by a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Pairs explained or recorded by this run.
    pub pairs_done: usize,
    /// Images sent through the gradient graph (M distinct images -> M when they fit in memory).
    pub gradient_passes: usize,
    /// Images read from the disk cache instead.
    pub cache_hits: usize,
    /// Images that failed (decode, no face, gradients).
    pub image_failures: usize,
    /// Decode + detect + align, summed over images.
    pub preprocess_ms: f64,
    /// Gradient graph, summed over images.
    pub gradients_ms: f64,
    /// Combination, summed over pairs.
    pub combine_ms: f64,
    /// Panel + files, summed over pairs.
    pub write_ms: f64,
    /// Wall-clock time of the run.
    pub wall_s: f64,
}

impl Summary {
    /// Totals over `records`, with `run` as given.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>, run: RunStats) -> Summary {
        let mut s = Summary {
            run,
            ..Summary::default()
        };
        for r in records {
            s.pairs += 1;
            match r.status {
                Status::Ok => {
                    s.ok += 1;
                    if r.accepted() {
                        s.accepts += 1;
                    } else {
                        s.rejects += 1;
                    }
                    if let Some(c) = r.correct {
                        s.labelled += 1;
                        s.correct += usize::from(c);
                    }
                }
                Status::Error => s.failures += 1,
            }
        }
        s.accuracy = (s.labelled > 0).then(|| s.correct as f64 / s.labelled as f64);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(row: usize) -> Record {
        Record {
            schema: SCHEMA,
            row,
            line: row + 2,
            a: "a.jpg".into(),
            b: "<script>.jpg".into(),
            label: Some(1),
            status: Status::Ok,
            score: Some(0.5),
            threshold: Some(0.36),
            decision: Some(Decision::Accept),
            correct: Some(true),
            dir: Some(format!("pairs/{row:06}")),
            error: None,
            timings: None,
        }
    }

    #[test]
    fn torn_last_line_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("results.jsonl");
        {
            let (mut log, old) = ResultsLog::open(&path).expect("open");
            assert!(old.is_empty());
            log.append(&rec(0)).expect("append");
            log.append(&rec(1)).expect("append");
        }
        let mut bytes = std::fs::read(&path).expect("read");
        let full = bytes.len();
        bytes.extend_from_slice(br#"{"schema":1,"row":2,"li"#);
        std::fs::write(&path, &bytes).expect("write");
        let (mut log, old) = ResultsLog::open(&path).expect("reopen");
        assert_eq!(old.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(std::fs::metadata(&path).expect("meta").len() as usize, full);
        log.append(&rec(2)).expect("append");
        let back = read_records(&path).expect("read");
        assert_eq!(back.len(), 3);
        assert_eq!(back[&2], rec(2));
        let s = Summary::of(back.values(), RunStats::default());
        assert_eq!((s.pairs, s.accepts, s.accuracy), (3, 3, Some(1.0)));
    }
}
