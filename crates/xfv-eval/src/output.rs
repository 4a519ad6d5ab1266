//! The results as files: `results.csv` (one row per method x map kind x metric),
//! `results.json` (everything, curves included) and two PNG plots per map kind x metric
//! (`<metric>_<map>.png`: accuracy; `score_<metric>_<map>.png`: mean score), each written
//! atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::perturb::Metric;
use crate::run::{Evaluation, MapKind};
use crate::{Error, plot};

/// The CSV table: `method,map,metric,pairs,area_x100,acc_p0,...,acc_p100,mean_score_area,
/// score_p0,...,score_p100`.
pub fn csv(ev: &Evaluation) -> String {
    let mut s = String::from("method,map,metric,pairs,area_x100");
    if let Some(c) = ev.curves.first() {
        for r in &c.ratios {
            let _ = write!(s, ",acc_p{r}");
        }
        s.push_str(",mean_score_area");
        for r in &c.ratios {
            let _ = write!(s, ",score_p{r}");
        }
    }
    s.push('\n');
    for c in &ev.curves {
        let _ = write!(
            s,
            "{},{},{},{},{:.2}",
            c.method.name(),
            c.map.name(),
            c.metric.name(),
            c.pairs,
            c.area_x100
        );
        for a in &c.accuracy {
            let _ = write!(s, ",{a:.4}");
        }
        let _ = write!(s, ",{:.4}", c.mean_score_area);
        for m in &c.mean_score {
            let _ = write!(s, ",{m:.4}");
        }
        s.push('\n');
    }
    s
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    Ok(xfv_report::write_bytes_atomic(path, bytes)?)
}

/// Writes `results.csv`, `results.json` (with `extra` merged in at the top level, e.g. the
/// model and the pair set) and the plots into `dir`; returns the files written.
pub fn write_all(
    ev: &Evaluation,
    dir: &Path,
    title: &str,
    extra: serde_json::Value,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let p = dir.join("results.csv");
    write(&p, csv(ev).as_bytes())?;
    written.push(p);
    let mut json = serde_json::to_value(ev).map_err(|e| Error::Json {
        reason: e.to_string(),
    })?;
    if let (Some(o), serde_json::Value::Object(x)) = (json.as_object_mut(), extra) {
        for (k, v) in x {
            o.insert(k, v);
        }
    }
    let p = dir.join("results.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Json {
        reason: e.to_string(),
    })?;
    write(&p, text.as_bytes())?;
    written.push(p);
    for kind in [MapKind::Similarity, MapKind::Dissimilarity] {
        for metric in Metric::ALL {
            let curves: Vec<_> = ev
                .curves
                .iter()
                .filter(|c| c.map == kind && c.metric == metric)
                .collect();
            if curves.is_empty() {
                continue;
            }
            for (series, prefix) in [
                (plot::Series::Accuracy, ""),
                (plot::Series::MeanScore, "score_"),
            ] {
                let img = plot::curve_plot(
                    &format!("{title}: {} of {} maps", metric.name(), kind.name()),
                    &curves,
                    series,
                );
                let p = dir.join(format!("{prefix}{}_{}.png", metric.name(), kind.name()));
                xfv_report::write_png_atomic(&p, &img)?;
                written.push(p);
            }
        }
    }
    Ok(written)
}
