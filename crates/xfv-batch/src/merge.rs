//! `xfv merge`: joins shard outputs into one output folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::results::{Record, RunStats, Summary, read_records};
use crate::run::RunInfo;
use crate::{Error, gallery};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for e in std::fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        let src = e.path();
        let bytes = std::fs::read(&src).map_err(io(&src))?;
        xfv_report::write_bytes_atomic(&to.join(e.file_name()), &bytes)?;
    }
    Ok(())
}

/// Merges the outputs `inputs` (made from the same pair list and model) into `out`: the union of
/// their records (first one wins for a row present twice), in row order, the pair folders
/// copied, summed run statistics, a new `summary.json` and `index.html`.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Summary, Error> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut records: BTreeMap<usize, Record> = BTreeMap::new();
    let mut info: Option<RunInfo> = None;
    let mut run = RunStats::default();
    for dir in inputs {
        let this: RunInfo = read_json(&dir.join("run.json"))?;
        if let Some(first) = &info {
            for (key, expected, got) in [
                ("pairs_sha256", &first.pairs_sha256, &this.pairs_sha256),
                ("model", &first.model, &this.model),
            ] {
                if expected != got && !got.is_empty() && !expected.is_empty() {
                    return Err(Error::MergeMismatch {
                        path: dir.join("run.json"),
                        key,
                        expected: expected.clone(),
                        got: got.clone(),
                    });
                }
            }
        } else {
            info = Some(this);
        }
        if let Ok(s) = read_json::<Summary>(&dir.join("summary.json")) {
            let r = s.run;
            run.pairs_done += r.pairs_done;
            run.gradient_passes += r.gradient_passes;
            run.cache_hits += r.cache_hits;
            run.image_failures += r.image_failures;
            run.preprocess_ms += r.preprocess_ms;
            run.gradients_ms += r.gradients_ms;
            run.combine_ms += r.combine_ms;
            run.write_ms += r.write_ms;
            run.wall_s = run.wall_s.max(r.wall_s);
        }
        for (row, r) in read_records(&dir.join("results.jsonl"))? {
            if records.contains_key(&row) {
                tracing::warn!(row, dir = %dir.display(), "row in more than one input; keeping the first");
                continue;
            }
            if let Some(d) = &r.dir {
                let (src, dst) = (dir.join(d), out.join(d));
                if src != dst && src.is_dir() {
                    copy_dir(&src, &dst)?;
                }
            }
            records.insert(row, r);
        }
    }
    let mut lines = Vec::new();
    for r in records.values() {
        let mut l = serde_json::to_vec(r).map_err(|e| Error::Encode {
            path: out.join("results.jsonl"),
            reason: e.to_string(),
        })?;
        l.push(b'\n');
        lines.extend_from_slice(&l);
    }
    xfv_report::write_bytes_atomic(&out.join("results.jsonl"), &lines)?;
    let summary = Summary::of(records.values(), run);
    if let Some(mut i) = info {
        i.shard = None;
        xfv_report::write_json_atomic(&out.join("run.json"), &i)?;
    }
    xfv_report::write_json_atomic(&out.join("summary.json"), &summary)?;
    gallery::write(out, records.values(), &summary)?;
    Ok(summary)
}
