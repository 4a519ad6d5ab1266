//! `xfv eval PAIRS -o OUT`: deletion and insertion curves of each method's maps over a labelled
//! pair set (docs/evaluation.md); writes results.csv, results.json and one PNG plot per map kind
//! x metric.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use xfv::ForwardPath;
use xfv::prelude::*;
use xfv_eval::{EvalOptions, IndexPair, PairSelection};

use crate::explain::MethodArg;
use crate::{GlobalArgs, spinner};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum SelectionArg {
    /// Similarity maps on genuine pairs, dissimilarity maps on impostor pairs
    Labels,
    /// Similarity maps on accepted pairs, dissimilarity maps on rejected pairs (clean threshold)
    Decisions,
    /// Both map kinds on every pair
    All,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapArg {
    /// Evidence for "same person"
    Similarity,
    /// Evidence for "different"
    Dissimilarity,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ForwardArg {
    /// The inference model (<name>.onnx)
    Inference,
    /// The FGGB gradient graph with one zero cotangent row
    GradientGraph,
}

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Pairs file: CSV with header `a,b,label` or LFW pairs.txt
    pairs: PathBuf,
    /// Folder the pairs file's paths are relative to (default: the pairs file's folder)
    #[arg(long, value_name = "DIR")]
    images_root: Option<PathBuf>,
    /// Output folder (created): results.csv, results.json, <metric>_<map>.png
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Methods to evaluate (comma-separated)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fggb,xssab,similarity-gradient,corrrise"
    )]
    method: Vec<MethodArg>,
    /// Which pairs each map kind is scored on
    #[arg(long, value_enum, default_value = "labels")]
    selection: SelectionArg,
    /// Map kinds to score (comma-separated). `--maps dissimilarity` with the default selection
    /// explains only the impostor pairs; the genuine pairs still set the clean EER threshold
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "similarity,dissimilarity"
    )]
    maps: Vec<MapArg>,
    /// Use only the first N genuine and the first N impostor pairs of the file
    #[arg(long, value_name = "N")]
    max_pairs_per_kind: Option<usize>,
    /// Threshold for the methods and the curves (default: the clean EER threshold of the pair set)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// CorrRISE masks
    #[arg(long, default_value_t = 500)]
    corrrise_masks: usize,
    /// CorrRISE mask seed
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images per forward batch
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// How forward passes run
    #[arg(long, value_enum, default_value = "inference")]
    forward: ForwardArg,
    /// Title for the plots (default: model and pairs file name)
    #[arg(long)]
    title: Option<String>,
    /// Do not keep OUT/checkpoint.jsonl (by default every finished pair is recorded there and a
    /// rerun with the same inputs resumes from it)
    #[arg(long)]
    no_checkpoint: bool,
}

/// What the perturbed scores depend on, besides the method: a rerun resumes only when all of it
/// is equal (the checkpoint's first line).
fn fingerprint(
    args: &EvalArgs,
    explainer: &xfv::Explainer,
    pairs: &[&xfv_eval::Pair],
    idx: &[IndexPair],
) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (p, i) in pairs.iter().zip(idx) {
        h.update(format!(
            "{}\t{}\t{}\t{}\t{}\n",
            p.a.display(),
            p.b.display(),
            p.genuine,
            i.a,
            i.b
        ));
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "model": explainer.card().name,
        "converted_sha256": explainer.card().converted.sha256,
        "pairs_sha256": digest,
        "pairs": idx.len(),
        "threshold": args.threshold,
        "selection": format!("{:?}", args.selection).to_lowercase(),
        "corrrise": {"masks": args.corrrise_masks, "seed": args.seed},
        "forward": format!("{:?}", args.forward),
        "aligned": args.model.aligned,
    })
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn run(g: &GlobalArgs, args: &EvalArgs) -> anyhow::Result<()> {
    let t_all = std::time::Instant::now();
    let load_start = load_avg();
    let root = args
        .images_root
        .clone()
        .unwrap_or_else(|| args.pairs.parent().map(PathBuf::from).unwrap_or_default());
    let mut pairs = xfv_eval::read_pairs(&args.pairs, &root)?;
    if let Some(n) = args.max_pairs_per_kind {
        let (mut g_n, mut i_n) = (0, 0);
        pairs.retain(|p| {
            let c = if p.genuine { &mut g_n } else { &mut i_n };
            *c += 1;
            *c <= n
        });
    }
    let pb = spinner("loading the model");
    let builder = args.model.explainer(g);
    let mut explainer = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model.model))?;
    explainer.extra_sessions_mut().set_batch_size(args.batch);
    explainer
        .extra_sessions_mut()
        .set_forward(match args.forward {
            ForwardArg::Inference => ForwardPath::InferenceModel,
            ForwardArg::GradientGraph => ForwardPath::GradientGraph,
        });
    // each distinct image once
    let mut index: HashMap<PathBuf, Option<usize>> = HashMap::new();
    let mut tensors = Vec::new();
    let mut failed = Vec::new();
    for (k, p) in pairs.iter().enumerate() {
        for path in [&p.a, &p.b] {
            if index.contains_key(path) {
                continue;
            }
            pb.set_message(format!("preparing images (pair {}/{})", k + 1, pairs.len()));
            let slot = match explainer.prepare(path).and_then(|f| explainer.tensor(&f)) {
                Ok(t) => {
                    tensors.push(t);
                    Some(tensors.len() - 1)
                }
                Err(e) => {
                    tracing::warn!(image = %path.display(), error = %e, "skipped");
                    failed.push(format!("{}: {e}", path.display()));
                    None
                }
            };
            index.insert(path.clone(), slot);
        }
    }
    // the pairs whose images all loaded, in file order, with their image slots
    let (used, idx): (Vec<&xfv_eval::Pair>, Vec<IndexPair>) = pairs
        .iter()
        .filter_map(|p| {
            let slots = IndexPair {
                a: index.get(&p.a).copied().flatten()?,
                b: index.get(&p.b).copied().flatten()?,
                genuine: p.genuine,
            };
            Some((p, slots))
        })
        .unzip();
    let options = EvalOptions {
        methods: args.method.iter().map(|m| Method::from(*m)).collect(),
        selection: match args.selection {
            SelectionArg::Labels => PairSelection::Labels,
            SelectionArg::Decisions => PairSelection::Decisions,
            SelectionArg::All => PairSelection::All,
        },
        maps: args
            .maps
            .iter()
            .map(|m| match m {
                MapArg::Similarity => xfv_eval::MapKind::Similarity,
                MapArg::Dissimilarity => xfv_eval::MapKind::Dissimilarity,
            })
            .collect(),
        threshold: args.threshold,
        corrrise: xfv_explain_options(args),
        ..EvalOptions::default()
    };
    let mut checkpoint = if args.no_checkpoint {
        None
    } else {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        let fp = fingerprint(args, &explainer, &used, &idx);
        let cp = xfv_eval::Checkpoint::open(&args.out.join("checkpoint.jsonl"), fp)?;
        if !cp.is_empty() {
            pb.println(format!(
                "resuming: {} method x pair results from {}",
                cp.len(),
                cp.path().display()
            ));
        }
        Some(cp)
    };
    let ev = {
        let mut oracle = explainer.oracle();
        xfv_eval::evaluate(
            &mut oracle,
            &tensors,
            &idx,
            &options,
            checkpoint.as_mut(),
            &mut |m: &str| pb.set_message(m.to_string()),
        )?
    };
    pb.finish_and_clear();
    let title = args.title.clone().unwrap_or_else(|| {
        format!(
            "{} on {}",
            explainer.card().name,
            args.pairs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    });
    let wall_s = t_all.elapsed().as_secs_f64();
    let extra = serde_json::json!({
        "model": explainer.card().name,
        "pairs_file": args.pairs,
        "images_root": root,
        "pairs_in_file_used": pairs.len(),
        "pairs_evaluated": idx.len(),
        "images": tensors.len(),
        "images_failed": failed,
        "selection": format!("{:?}", args.selection).to_lowercase(),
        "maps": args.maps.iter().map(|m| format!("{m:?}").to_lowercase()).collect::<Vec<_>>(),
        "corrrise": {"masks": args.corrrise_masks, "seed": args.seed},
        "forward": format!("{:?}", args.forward),
        "threads": g.threads,
        "load_avg_start": load_start,
        "load_avg_end": load_avg(),
        "wall_s": wall_s,
    });
    let files = xfv_eval::output::write_all(&ev, &args.out, &title, extra)
        .with_context(|| format!("writing into {}", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    let v = &ev.verification;
    writeln!(
        out,
        "{}: {} pairs ({} genuine, {} impostor; {} images, {} failed) - EER {:.2} % at {:.4}, accuracy {:.2} %, AUC {:.4}",
        explainer.card().name,
        v.pairs,
        v.genuine,
        v.impostor,
        tensors.len(),
        failed.len(),
        v.eer.eer * 100.0,
        v.eer.threshold,
        v.accuracy * 100.0,
        v.auc
    )?;
    writeln!(
        out,
        "{:<20} {:<14} {:<10} {:>6} {:>9} {:>11}",
        "method", "map", "metric", "pairs", "area (%)", "score area"
    )?;
    for c in &ev.curves {
        writeln!(
            out,
            "{:<20} {:<14} {:<10} {:>6} {:>9.2} {:>11.3}",
            c.method.name(),
            c.map.name(),
            c.metric.name(),
            c.pairs,
            c.area_x100,
            c.mean_score_area
        )?;
    }
    for t in &ev.timings {
        let resumed = t.pairs - t.pairs_explained;
        let how = if resumed == 0 {
            String::new()
        } else {
            format!(
                " ({resumed} of {} pairs resumed from the checkpoint)",
                t.pairs
            )
        };
        writeln!(
            out,
            "time {:<20} {:>9.0} ms/pair{how}",
            t.method.name(),
            t.per_pair_ms,
        )?;
    }
    writeln!(
        out,
        "wall {wall_s:.1} s; wrote {} files into {}",
        files.len(),
        args.out.display()
    )?;
    out.flush()?;
    Ok(())
}

fn xfv_explain_options(args: &EvalArgs) -> xfv::CorrRiseOptions {
    xfv::CorrRiseOptions {
        masks: args.corrrise_masks,
        seed: args.seed,
        ..Default::default()
    }
}
