//! Pair lists: CSV or TSV with a header `a,b[,label]`, or LFW's `pairs.txt`.
//!
//! Rows are read as bytes, so a path that is not UTF-8 stays the file it names (on Unix). A row
//! that cannot be a pair (wrong number of columns, a bad label, a repeat of an earlier pair) is
//! kept as an [`EntryKind::Bad`] entry: it gets its own error record instead of stopping the batch.
//! Blank lines are skipped and counted. Fields are split on the delimiter without quoting rules:
//! use TSV for paths that contain commas.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::Error;

/// Which layout a pair list has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairFormat {
    /// Comma-separated, header `a,b[,label]`.
    Csv,
    /// Tab-separated, header `a<TAB>b[<TAB>label]`.
    Tsv,
    /// LFW `pairs.txt`: a count line, then `name n1 n2` (same person) or
    /// `name1 n1 name2 n2` (different); files are `name/name_%04d.jpg`.
    Lfw,
}

/// One pair of image files, paths as written in the list (relative to the images root).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pair {
    /// First image.
    pub a: PathBuf,
    /// Second image.
    pub b: PathBuf,
    /// `Some(true)`: same person (label 1), `Some(false)`: different (0), `None`: unlabelled.
    pub label: Option<bool>,
}

/// Why a row is not a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRow {
    /// Not the number of columns the header (or LFW) asks for.
    Columns {
        /// Allowed counts.
        expected: &'static str,
        /// Count found.
        got: usize,
    },
    /// The label is not 0/1.
    Label {
        /// What was there.
        got: String,
    },
    /// The same `(a, b)` as an earlier row (explained once, there).
    Duplicate {
        /// Line of the first occurrence.
        first_line: usize,
    },
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRow::Columns { expected, got } => {
                write!(f, "expected {expected} columns, got {got}")
            }
            BadRow::Label { got } => write!(f, "label must be 0 or 1, got `{got}`"),
            BadRow::Duplicate { first_line } => {
                write!(f, "duplicate of the pair on line {first_line}")
            }
        }
    }
}

/// A pair, or a row that could not be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A pair to explain.
    Pair(Pair),
    /// A bad row, recorded as an error.
    Bad {
        /// What is wrong.
        reason: BadRow,
        /// The row's text (lossy UTF-8).
        text: String,
    },
}

/// One non-blank data row of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 0-based position among the entries: the pair's id in records, shards and outputs.
    pub row: usize,
    /// 1-based line in the file.
    pub line: usize,
    /// The pair or why not.
    pub kind: EntryKind,
}

/// A parsed pair list.
#[derive(Debug, Clone)]
pub struct PairList {
    /// Layout detected.
    pub format: PairFormat,
    /// Data rows in file order.
    pub entries: Vec<Entry>,
    /// Blank lines skipped.
    pub blank_lines: usize,
}

impl PairList {
    /// Reads and parses a list file (see [`PairList::parse`]).
    pub fn read(path: &Path) -> Result<PairList, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        PairList::parse(&bytes, path)
    }

    /// Parses a list; `path` is only named in errors. Only a missing or unknown header is an
    /// error; bad rows become [`EntryKind::Bad`] entries.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<PairList, Error> {
        // a final newline ends the last line; it does not start a blank one
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let mut lines = body
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l));
        let mut blank_lines = 0;
        let header = loop {
            match lines.next() {
                Some((_, l)) if is_blank(l) => blank_lines += 1,
                Some((_, l)) => break l,
                None => {
                    return Err(Error::PairsHeader {
                        path: path.to_path_buf(),
                        got: String::new(),
                    });
                }
            }
        };
        let header_text = String::from_utf8_lossy(header).trim().to_owned();
        let format = if is_lfw_count(&header_text) {
            PairFormat::Lfw
        } else {
            let delim = if header.contains(&b'\t') { "\t" } else { "," };
            let cols: Vec<String> = header_text
                .split(delim)
                .map(|c| c.trim().to_ascii_lowercase())
                .collect();
            if !(cols == ["a", "b"] || cols == ["a", "b", "label"]) {
                return Err(Error::PairsHeader {
                    path: path.to_path_buf(),
                    got: header_text,
                });
            }
            if delim == "\t" {
                PairFormat::Tsv
            } else {
                PairFormat::Csv
            }
        };
        let mut entries = Vec::new();
        let mut seen: HashMap<(PathBuf, PathBuf), usize> = HashMap::new();
        for (line, l) in lines {
            if is_blank(l) {
                blank_lines += 1;
                continue;
            }
            let parsed = match format {
                PairFormat::Csv => delimited(l, b','),
                PairFormat::Tsv => delimited(l, b'\t'),
                PairFormat::Lfw => lfw(l),
            };
            let kind = match parsed {
                Ok(pair) => match seen.get(&(pair.a.clone(), pair.b.clone())) {
                    Some(first) => EntryKind::Bad {
                        reason: BadRow::Duplicate { first_line: *first },
                        text: lossy(l),
                    },
                    None => {
                        seen.insert((pair.a.clone(), pair.b.clone()), line);
                        EntryKind::Pair(pair)
                    }
                },
                Err(reason) => EntryKind::Bad {
                    reason,
                    text: lossy(l),
                },
            };
            entries.push(Entry {
                row: entries.len(),
                line,
                kind,
            });
        }
        Ok(PairList {
            format,
            entries,
            blank_lines,
        })
    }
}

fn is_blank(l: &[u8]) -> bool {
    l.iter().all(u8::is_ascii_whitespace)
}

fn lossy(l: &[u8]) -> String {
    String::from_utf8_lossy(l).into_owned()
}

/// LFW's first line: `300` or `10 300`.
fn is_lfw_count(h: &str) -> bool {
    let parts: Vec<&str> = h.split_whitespace().collect();
    (1..=2).contains(&parts.len()) && parts.iter().all(|p| p.parse::<u32>().is_ok())
}

fn delimited(l: &[u8], delim: u8) -> Result<Pair, BadRow> {
    let cols: Vec<&[u8]> = l.split(|b| *b == delim).collect();
    if !(2..=3).contains(&cols.len()) || cols[..2].iter().any(|c| is_blank(c)) {
        return Err(BadRow::Columns {
            expected: "2 or 3 (a, b[, label])",
            got: cols.iter().filter(|c| !is_blank(c)).count(),
        });
    }
    let label = match cols.get(2).map(|c| lossy(c).trim().to_owned()) {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) if s == "1" => Some(true),
        Some(s) if s == "0" => Some(false),
        Some(got) => return Err(BadRow::Label { got }),
    };
    Ok(Pair {
        a: path_from_bytes(trim(cols[0])),
        b: path_from_bytes(trim(cols[1])),
        label,
    })
}

fn lfw(l: &[u8]) -> Result<Pair, BadRow> {
    let text = lossy(l);
    let f: Vec<&str> = text.split_whitespace().collect();
    let file = |name: &str, n: &str| -> Result<PathBuf, BadRow> {
        let n: u32 = n.parse().map_err(|_| BadRow::Columns {
            expected: "3 (name n1 n2) or 4 (name1 n1 name2 n2)",
            got: f.len(),
        })?;
        Ok(PathBuf::from(name).join(format!("{name}_{n:04}.jpg")))
    };
    match f.as_slice() {
        [name, n1, n2] => Ok(Pair {
            a: file(name, n1)?,
            b: file(name, n2)?,
            label: Some(true),
        }),
        [name1, n1, name2, n2] => Ok(Pair {
            a: file(name1, n1)?,
            b: file(name2, n2)?,
            label: Some(false),
        }),
        _ => Err(BadRow::Columns {
            expected: "3 (name n1 n2) or 4 (name1 n1 name2 n2)",
            got: f.len(),
        }),
    }
}

/// Leading/trailing spaces around a CSV field are not part of the path.
fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| *c != b' ').unwrap_or(b.len());
    let end = b.iter().rposition(|c| *c != b' ').map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

#[cfg(unix)]
fn path_from_bytes(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn path_from_bytes(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> PairList {
        PairList::parse(s, Path::new("p.csv")).expect("parse")
    }

    #[test]
    fn csv_tsv_lfw_and_bad_rows() {
        let l = parse(b"a,b,label\nx.jpg,y.jpg,1\n\n  \nx.jpg,y.jpg,0\nonly\nx.jpg,z.jpg,maybe\nq.jpg,r.jpg\r\n");
        assert_eq!(l.format, PairFormat::Csv);
        assert_eq!(l.blank_lines, 2);
        assert_eq!(l.entries.len(), 5);
        assert!(matches!(&l.entries[0].kind, EntryKind::Pair(p) if p.label == Some(true)));
        assert!(matches!(
            &l.entries[1].kind,
            EntryKind::Bad {
                reason: BadRow::Duplicate { first_line: 2 },
                ..
            }
        ));
        assert!(matches!(
            &l.entries[2].kind,
            EntryKind::Bad {
                reason: BadRow::Columns { got: 1, .. },
                ..
            }
        ));
        assert!(matches!(
            &l.entries[3].kind,
            EntryKind::Bad {
                reason: BadRow::Label { .. },
                ..
            }
        ));
        assert!(
            matches!(&l.entries[4].kind, EntryKind::Pair(p) if p.b == Path::new("r.jpg") && p.label.is_none())
        );
        assert_eq!((l.entries[4].row, l.entries[4].line), (4, 8));

        let t = parse(b"a\tb\nx, y.jpg\tz.jpg\n");
        assert_eq!(t.format, PairFormat::Tsv);
        assert!(matches!(&t.entries[0].kind, EntryKind::Pair(p) if p.a == Path::new("x, y.jpg")));

        let f = parse(b"10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\nbad\n");
        assert_eq!(f.format, PairFormat::Lfw);
        assert!(matches!(&f.entries[0].kind, EntryKind::Pair(p)
            if p.a == Path::new("Abel_Pacheco/Abel_Pacheco_0001.jpg") && p.label == Some(true)));
        assert!(matches!(&f.entries[1].kind, EntryKind::Pair(p) if p.label == Some(false)));
        assert!(matches!(&f.entries[2].kind, EntryKind::Bad { .. }));
    }

    #[test]
    fn unknown_header_is_an_error_naming_the_file() {
        let e = PairList::parse(b"left,right\n", Path::new("p.csv")).expect_err("header");
        assert!(e.to_string().contains("p.csv"), "{e}");
        assert!(PairList::parse(b"\n\n", Path::new("p.csv")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_survive() {
        let l = parse(b"a,b\n\xff\xfe.jpg,b.jpg\n");
        let EntryKind::Pair(p) = &l.entries[0].kind else {
            panic!("pair expected")
        };
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(p.a.as_os_str().as_bytes(), b"\xff\xfe.jpg");
    }
}
