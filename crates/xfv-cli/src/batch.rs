//! `xfv batch PAIRS -o OUT` and `xfv merge OUT1 OUT2 ... -o OUT`: glue over `xfv-batch`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use xfv_batch::{Batch, BatchOptions, Shard, Summary};

use crate::GlobalArgs;
use crate::explain::MethodArg;

#[derive(Args, Debug)]
pub(crate) struct BatchArgs {
    /// Pair list: CSV/TSV with header `a,b[,label]` (label 1 same, 0 different), or LFW pairs.txt
    pairs: PathBuf,
    /// Output folder: results.jsonl, pairs/<row>/, summary.json, run.json, index.html.
    /// Running the same command again resumes: recorded pairs are not redone
    #[arg(long, short)]
    out: PathBuf,
    /// Folder the list's paths are relative to (default: the list's folder)
    #[arg(long, value_name = "DIR")]
    images_root: Option<PathBuf>,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Explanation method
    #[arg(long, value_enum, default_value = "fggb")]
    method: MethodArg,
    /// Cosine threshold theta (default: the model card's)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// Embedding dimensions per gradient-graph run (memory grows with it; default 32)
    #[arg(long, value_name = "K")]
    chunk_rows: Option<usize>,
    /// Memory budget for per-image maps held at once, MB
    #[arg(long, value_name = "MB", default_value_t = 2048)]
    memory: u64,
    /// Take every N-th entry from offset I (0-based), e.g. a Slurm array task: 3/16
    #[arg(long, value_name = "I/N", default_value = "0/1")]
    shard: Shard,
    /// On-disk cache of per-image maps (f16), keyed by image bytes and gradient graph
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct MergeArgs {
    /// Output folders of `xfv batch --shard` runs over one list
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Merged output folder
    #[arg(long, short)]
    out: PathBuf,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(g: &GlobalArgs, args: &BatchArgs) -> anyhow::Result<()> {
    let builder = args
        .model
        .explainer(g)
        .threshold(args.threshold)
        .chunk_rows(args.chunk_rows)
        .method(args.method.into());
    let mut opts = BatchOptions::new(&args.out);
    opts.images_root = args.images_root.clone();
    opts.memory_bytes = args.memory.saturating_mul(1 << 20);
    opts.shard = args.shard;
    opts.cache_dir = args.cache.clone();
    let batch = Batch::open(builder, &args.pairs, opts)
        .with_context(|| format!("opening the batch {}", args.pairs.display()))?;
    let pb = indicatif::ProgressBar::new(batch.remaining() as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} pairs  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if batch.remaining() < batch.in_shard() {
        pb.println(format!(
            "resuming: {} of {} pairs already recorded",
            batch.in_shard() - batch.remaining(),
            batch.in_shard()
        ));
    }
    let summary = batch
        .run(|_| pb.inc(1))
        .with_context(|| format!("running the batch into {}", args.out.display()))?;
    pb.finish_and_clear();
    print_summary(&summary, &args.out, args.json)
}

pub(crate) fn merge(_g: &GlobalArgs, args: &MergeArgs) -> anyhow::Result<()> {
    let summary = xfv_batch::merge(&args.inputs, &args.out)
        .with_context(|| format!("merging into {}", args.out.display()))?;
    print_summary(&summary, &args.out, args.json)
}

fn print_summary(s: &Summary, out: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let mut o = std::io::stdout().lock();
    if json {
        writeln!(o, "{}", serde_json::to_string_pretty(s)?)?;
    } else {
        let acc = s.accuracy.map_or(String::new(), |a| {
            format!(", accuracy {:.1}% of {} labelled", a * 100.0, s.labelled)
        });
        writeln!(
            o,
            "{} pairs: {} accepted, {} rejected, {} failed{acc}",
            s.pairs, s.accepts, s.rejects, s.failures
        )?;
        let r = &s.run;
        writeln!(
            o,
            "this run: {} pairs in {:.1} s; {} images through the gradient graph, {} from the cache, {} failed",
            r.pairs_done, r.wall_s, r.gradient_passes, r.cache_hits, r.image_failures
        )?;
        writeln!(
            o,
            "stage time (summed): preprocess {:.1} s, gradients {:.1} s, combine {:.1} s, write {:.1} s",
            r.preprocess_ms / 1e3,
            r.gradients_ms / 1e3,
            r.combine_ms / 1e3,
            r.write_ms / 1e3
        )?;
        writeln!(o, "gallery: {}", out.join("index.html").display())?;
    }
    o.flush()?;
    Ok(())
}
