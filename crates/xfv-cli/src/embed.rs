//! `xfv embed IMAGES... -o OUT`: each image's embedding, for galleries, 1:N search, mining hard
//! pairs (`xfv_tools.hardpairs`) or any analysis of one's own. Writes, atomically:
//! - `OUT/embeddings.npy`: `[N, D]` float32, one row per input in input order, as the model
//!   outputs it (not normalised); the row of an image that could not be used is NaN;
//! - `OUT/embeddings.json`: the model, its comparison rule and threshold, the execution provider,
//!   and per image its path and either its detection or its error.
//!
//! A bad image is recorded and the others go on; the command fails only when none could be used.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ndarray::Array2;

use crate::GlobalArgs;

#[derive(Args, Debug)]
pub(crate) struct EmbedArgs {
    /// Image files
    images: Vec<PathBuf>,
    /// A file that lists images, one path a line (blank lines and `#` comments skipped), after
    /// any given as arguments
    #[arg(long, value_name = "FILE")]
    list: Option<PathBuf>,
    /// Folder the list's relative paths are taken from (default: the list file's folder)
    #[arg(long, value_name = "DIR")]
    images_root: Option<PathBuf>,
    /// Output folder (created): embeddings.npy, embeddings.json
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Images per model run
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
}

/// The list file's paths, relative ones joined to `root`.
fn read_list(list: &Path, root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let f = std::fs::File::open(list)
        .with_context(|| format!("cannot read image list {}", list.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line
            .with_context(|| format!("cannot read image list {} line {}", list.display(), n + 1))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let p = PathBuf::from(line);
        out.push(if p.is_absolute() { p } else { root.join(p) });
    }
    Ok(out)
}

pub(crate) fn run(g: &GlobalArgs, args: &EmbedArgs) -> anyhow::Result<()> {
    let mut paths = args.images.clone();
    if let Some(list) = &args.list {
        let root = args
            .images_root
            .clone()
            .unwrap_or_else(|| list.parent().map(PathBuf::from).unwrap_or_default());
        paths.extend(read_list(list, &root)?);
    }
    anyhow::ensure!(
        !paths.is_empty(),
        "no images: give image files or --list FILE"
    );
    let mut verifier = args
        .model
        .verifier(g)
        .build()
        .with_context(|| format!("loading model `{}`", args.model.model))?;
    let t0 = std::time::Instant::now();
    let results = verifier.embed_files(&paths, args.batch as usize)?;
    let elapsed_s = t0.elapsed().as_secs_f64();
    let dim = results
        .iter()
        .find_map(|r| r.as_ref().ok().map(|e| e.embedding.len()))
        .unwrap_or(0);
    let mut values = Array2::<f32>::from_elem((paths.len(), dim), f32::NAN);
    let mut images = Vec::with_capacity(paths.len());
    let mut failed = 0usize;
    for (k, (path, r)) in paths.iter().zip(&results).enumerate() {
        match r {
            Ok(e) => {
                values
                    .row_mut(k)
                    .iter_mut()
                    .zip(&e.embedding)
                    .for_each(|(d, s)| *d = *s);
                images.push(serde_json::json!({
                    "path": path, "ok": true,
                    "faces_found": e.origin.faces_found,
                    "detection": e.origin.detection,
                }));
            }
            Err(err) => {
                failed += 1;
                tracing::warn!(image = %path.display(), error = %err, "skipped");
                images
                    .push(serde_json::json!({"path": path, "ok": false, "error": err.to_string()}));
            }
        }
    }
    anyhow::ensure!(
        failed < paths.len(),
        "none of the {} images could be embedded; the first: {}",
        paths.len(),
        images[0]["error"].as_str().unwrap_or_default()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let npy = args.out.join("embeddings.npy");
    xfv_report::write_npy_f32(&npy, values.view())?;
    let card = verifier.card();
    let (ep, fell_back) = verifier.ep();
    let record = serde_json::json!({
        "model": card.name,
        "converted_sha256": card.converted.sha256,
        "comparison": card.embedding.as_ref().map(|e| e.comparison),
        "threshold": verifier.threshold(),
        "dim": dim,
        "ep": ep,
        "ep_fell_back": fell_back,
        "aligned": args.model.aligned,
        "embedded": paths.len() - failed,
        "failed": failed,
        "seconds": elapsed_s,
        "embeddings": "embeddings.npy",
        "images": images,
    });
    let json = args.out.join("embeddings.json");
    xfv_report::write_json_atomic(&json, &record)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} of {} images embedded with {} ({dim}-d) in {elapsed_s:.1} s{} -> {}, {}",
        paths.len() - failed,
        paths.len(),
        card.name,
        if failed > 0 {
            format!("; {failed} failed (errors in embeddings.json)")
        } else {
            String::new()
        },
        npy.display(),
        json.display()
    )?;
    out.flush()?;
    Ok(())
}
