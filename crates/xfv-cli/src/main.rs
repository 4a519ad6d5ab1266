//! `xfv`: explainable face verification. Glue only: clap arguments -> the `xfv` facade.
//!
//! Exit codes: 0 success, 1 an error (the message names the file and the problem), 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use xfv::prelude::*;

mod batch;
mod bench;
mod embed;
mod eval;
mod explain;
mod gpu;
mod model_args;
mod verify;

#[derive(Parser, Debug)]
#[command(name = "xfv", version, about = "Explainable face verification", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Args, Debug)]
struct GlobalArgs {
    /// ONNX Runtime library to load (default: found as the README describes; `scripts/setup` installs it)
    #[arg(long, global = true, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Threads for ONNX Runtime and for post-processing (default: all cores)
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Folder with model cards and converted models (default: XFV_MODELS, ./models, or the checkout's models/)
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    gpu: gpu::GpuArgs,
}

impl GlobalArgs {
    /// The subcommand's `--ep` with the GPU options applied.
    pub(crate) fn ep(&self, ep: &EpRequest) -> EpRequest {
        self.gpu.apply(ep)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Are two photos the same person? Prints the score, the threshold and Accept/Reject.
    Verify(verify::VerifyArgs),
    /// Explain the decision for two photos: similarity and dissimilarity maps of both faces
    /// (a panel PNG, the raw maps as .npy, a JSON record).
    Explain(explain::ExplainArgs),
    /// Embed images: OUT/embeddings.npy ([N, D] float32, NaN rows for images that failed) and
    /// OUT/embeddings.json (model, comparison, per image its detection or its error).
    Embed(embed::EmbedArgs),
    /// Deletion and insertion curves of each method's maps over a labelled pair set: CSV, JSON, PNG plots.
    Eval(eval::EvalArgs),
    /// Explain a list of pairs (CSV/TSV `a,b[,label]` or LFW pairs.txt): each image through the
    /// gradient graph once, resumable results.jsonl, a gallery page (OUT/index.html).
    Batch(batch::BatchArgs),
    /// Join the output folders of `xfv batch --shard` runs into one.
    Merge(batch::MergeArgs),
    /// Benchmark a workload (single pair, 1:N, batch): pairs/s, latency, stages, GFLOP/s
    /// against this machine's sgemm, peak memory; JSON and a table.
    Bench(bench::BenchArgs),
}

pub(crate) fn runtime_options(g: &GlobalArgs) -> RuntimeOptions {
    RuntimeOptions {
        library: g.ort_lib.clone(),
        intra_threads: g.threads.unwrap_or_else(default_threads),
    }
}

/// All available cores.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A spinner on stderr for the slow stages; invisible when stderr is not a terminal.
pub(crate) fn spinner(msg: &'static str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XFV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    // One thread budget for both pools: ONNX Runtime's intra-op threads (runtime_options) and
    // rayon's post-processing pool, so together they do not oversubscribe the cores.
    let threads = cli.global.threads.unwrap_or_else(default_threads);
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        tracing::warn!(error = %e, "rayon pool already set up");
    }
    let res = match &cli.command {
        Command::Verify(args) => verify::run(&cli.global, args),
        Command::Explain(args) => explain::run(&cli.global, args),
        Command::Embed(args) => embed::run(&cli.global, args),
        Command::Eval(args) => eval::run(&cli.global, args),
        Command::Batch(args) => batch::run(&cli.global, args),
        Command::Merge(args) => batch::merge(&cli.global, args),
        Command::Bench(args) => bench::run(&cli.global, args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xfv: error: {}", error_message(&e));
            ExitCode::from(1)
        }
    }
}

/// A closed stdout (`xfv ... | head`) ends the program quietly, as in other Unix tools.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, leaving out a cause whose text the message already
/// holds (library errors often quote their source).
fn error_message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}
