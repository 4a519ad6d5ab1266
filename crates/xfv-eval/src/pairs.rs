//! Pair sets: a CSV `a,b,label` (header required; `label` is 1/0, true/false or
//! same/different; paths relative to an images root) or LFW's `pairs.txt` (a header line with
//! the fold counts, then `name i j` for a genuine pair and `name1 i name2 j` for an impostor;
//! files `<name>/<name>_<iiii>.jpg`). The same CSV format as `xfv batch`'s pairs files.

use std::path::{Path, PathBuf};

use crate::Error;

/// One labelled pair: probe `a`, gallery `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Probe image (perturbed by the evaluation).
    pub a: PathBuf,
    /// Gallery image (kept as is).
    pub b: PathBuf,
    /// True for a genuine (same person) pair.
    pub genuine: bool,
}

fn bad(path: &Path, line: usize, reason: impl Into<String>) -> Error {
    Error::PairsFile {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Reads a pairs file (CSV or LFW `pairs.txt`, told apart by the first line), paths joined to
/// `images_root`.
pub fn read_pairs(path: &Path, images_root: &Path) -> Result<Vec<Pair>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let first = text.lines().next().unwrap_or("").trim();
    if first.split(',').map(str::trim).collect::<Vec<_>>() == ["a", "b", "label"] {
        parse_csv(path, &text, images_root)
    } else {
        parse_lfw(path, &text, images_root)
    }
}

fn parse_csv(path: &Path, text: &str, root: &Path) -> Result<Vec<Pair>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 {
            return Err(bad(
                path,
                i + 1,
                format!("expected 3 fields a,b,label, got {}", f.len()),
            ));
        }
        let genuine = match f[2].to_ascii_lowercase().as_str() {
            "1" | "true" | "same" | "genuine" => true,
            "0" | "false" | "different" | "impostor" => false,
            v => {
                return Err(bad(
                    path,
                    i + 1,
                    format!("label `{v}` is not 1/0, true/false or same/different"),
                ));
            }
        };
        out.push(Pair {
            a: root.join(f[0]),
            b: root.join(f[1]),
            genuine,
        });
    }
    Ok(out)
}

fn lfw_file(root: &Path, name: &str, idx: &str) -> Result<PathBuf, String> {
    let n: u32 = idx
        .parse()
        .map_err(|_| format!("`{idx}` is not an image number"))?;
    Ok(root.join(name).join(format!("{name}_{n:04}.jpg")))
}

fn parse_lfw(path: &Path, text: &str, root: &Path) -> Result<Vec<Pair>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let pair = match f.as_slice() {
            [] => continue,
            // header: "10 300" (folds, pairs per kind) or "6000"
            _ if i == 0 && f.iter().all(|v| v.parse::<u32>().is_ok()) => continue,
            [name, i1, i2] => (lfw_file(root, name, i1), lfw_file(root, name, i2), true),
            [n1, i1, n2, i2] => (lfw_file(root, n1, i1), lfw_file(root, n2, i2), false),
            _ => {
                return Err(bad(
                    path,
                    i + 1,
                    "neither `a,b,label` CSV nor LFW pairs.txt (`name i j` / `name1 i name2 j`)",
                ));
            }
        };
        let (a, b, genuine) = pair;
        out.push(Pair {
            a: a.map_err(|r| bad(path, i + 1, r))?,
            b: b.map_err(|r| bad(path, i + 1, r))?,
            genuine,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_lfw() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: "tmp".into(),
            source,
        })?;
        let csv = dir.path().join("p.csv");
        std::fs::write(
            &csv,
            "a,b,label\ns1/1.pgm,s1/2.pgm,1\ns1/1.pgm,s2/1.pgm,0\n",
        )
        .map_err(|source| Error::Io {
            path: csv.clone(),
            source,
        })?;
        let p = read_pairs(&csv, Path::new("/r"))?;
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].a, Path::new("/r/s1/1.pgm"));
        assert!(p[0].genuine && !p[1].genuine);
        let lfw = dir.path().join("pairs.txt");
        std::fs::write(
            &lfw,
            "10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n",
        )
        .map_err(|source| Error::Io {
            path: lfw.clone(),
            source,
        })?;
        let p = read_pairs(&lfw, Path::new("/lfw"))?;
        assert_eq!(p[0].b, Path::new("/lfw/Abel_Pacheco/Abel_Pacheco_0004.jpg"));
        assert!(p[0].genuine && !p[1].genuine);
        Ok(())
    }
}
