//! `xfv`: explainable face verification. Glue only: clap arguments -> the `xfv` facade.
//!
//! Exit codes: 0 success, 1 an error (the message names the file and the problem), 2 bad usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use xfv::prelude::*;
use xfv::{Explainer, Verifier, VerifyReport};

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
    /// Threads for ONNX Runtime (default: all cores)
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Folder with model cards and converted models (default: XFV_MODELS, ./models, or the checkout's models/)
    #[arg(long, global = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Are two photos the same person? Prints the score, the threshold and Accept/Reject.
    Verify(VerifyArgs),
    /// Explain the decision for two photos: similarity and dissimilarity maps of both faces
    /// (a panel PNG, the raw maps as .npy, a JSON record).
    Explain(ExplainArgs),
}

/// The explanation methods the CLI offers.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum MethodArg {
    /// Feature-Guided Gradient Backpropagation (Lu, Xu & Ebrahimi, FG 2024)
    Fggb,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Fggb => Method::Fggb,
        }
    }
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// First image
    a: PathBuf,
    /// Second image
    b: PathBuf,
    /// Output folder (created): panel.png, a_crop.png, b_crop.png, *_similarity.npy,
    /// *_dissimilarity.npy, *_signed.npy, record.json
    #[arg(long, short)]
    out: PathBuf,
    /// Model: sface, mobilefacenet, dlib, a card (.toml) or an .onnx with its .toml beside it
    #[arg(long, short, default_value = "sface")]
    model: String,
    /// Explanation method
    #[arg(long, value_enum, default_value = "fggb")]
    method: MethodArg,
    /// Execution provider: cpu, cuda, tensorrt, a fallback list (tensorrt,cuda,cpu) or auto
    #[arg(long, default_value = "cpu")]
    ep: EpRequest,
    /// Cosine threshold theta (default: the model card's; for euclidean cards 1 - t^2/2)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// Inputs are already aligned face crops: skip detection, only resize
    #[arg(long)]
    aligned: bool,
    /// Embedding dimensions per gradient-graph run (memory grows with it; default 32)
    #[arg(long, value_name = "K")]
    chunk_rows: Option<usize>,
    /// Print the JSON record to stdout
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// First image
    a: PathBuf,
    /// Second image
    b: PathBuf,
    /// Model: sface, mobilefacenet, dlib, a card (.toml) or an .onnx with its .toml beside it
    #[arg(long, short, default_value = "sface")]
    model: String,
    /// Execution provider: cpu, cuda, tensorrt, a fallback list (tensorrt,cuda,cpu) or auto
    #[arg(long, default_value = "cpu")]
    ep: EpRequest,
    /// Decision threshold (default: the model card's)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// Inputs are already aligned face crops: skip detection, only resize
    #[arg(long)]
    aligned: bool,
    /// Print the full report as JSON
    #[arg(long)]
    json: bool,
}

fn runtime_options(g: &GlobalArgs) -> RuntimeOptions {
    let mut o = RuntimeOptions {
        library: g.ort_lib.clone(),
        ..RuntimeOptions::default()
    };
    if let Some(n) = g.threads {
        o.intra_threads = n;
    }
    o
}

fn verify(g: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<()> {
    let mut builder = Verifier::builder(args.model.as_str())
        .ep(args.ep.clone())
        .mode(if args.aligned {
            Mode::Aligned
        } else {
            Mode::Detect
        })
        .threshold(args.threshold)
        .runtime(runtime_options(g));
    if let Some(dir) = &g.models_dir {
        builder = builder.models_dir(dir);
    }
    let mut verifier = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model))?;
    let report = verifier.verify(&args.a, &args.b)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_report(&mut out, args, &report)?;
    }
    out.flush()?;
    Ok(())
}

/// A spinner on stderr for the slow stages; invisible when stderr is not a terminal.
fn spinner(msg: &'static str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn explain(g: &GlobalArgs, args: &ExplainArgs) -> anyhow::Result<()> {
    let pb = spinner("loading the model and its gradient graph");
    let mut builder = Explainer::builder(args.model.as_str())
        .ep(args.ep.clone())
        .mode(if args.aligned {
            Mode::Aligned
        } else {
            Mode::Detect
        })
        .threshold(args.threshold)
        .chunk_rows(args.chunk_rows)
        .method(args.method.into())
        .runtime(runtime_options(g));
    if let Some(dir) = &g.models_dir {
        builder = builder.models_dir(dir);
    }
    let mut explainer = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model))?;
    pb.set_message("detecting and aligning the faces");
    let t = std::time::Instant::now();
    let fa = explainer.prepare(&args.a)?;
    let fb = explainer.prepare(&args.b)?;
    let preprocess_ms = t.elapsed().as_secs_f64() * 1e3;
    pb.set_message(format!(
        "gradients of {} embedding dimensions, two images",
        explainer.card().embedding.as_ref().map_or(0, |e| e.dim)
    ));
    let t = std::time::Instant::now();
    let grads = explainer.image_gradients(&[&fa, &fb])?;
    let grad_ms = t.elapsed().as_secs_f64() * 1e3;
    pb.set_message("combining and writing");
    let t = std::time::Instant::now();
    let explanation = explainer.combine(&grads[0], &grads[1]);
    let combine_ms = t.elapsed().as_secs_f64() * 1e3;
    let verdict = Verdict::decide(Comparison::Cosine, explanation.score, explainer.threshold());
    let outcome = xfv::ExplainOutcome {
        faces: [fa, fb],
        explanation,
        verdict,
        timings: xfv::ExplainTimings {
            preprocess_ms,
            gradients_ms: grad_ms,
            combine_ms,
            write_ms: 0.0,
        },
    };
    let record = explainer
        .write(&outcome, &args.out, &DisplayOptions::default())
        .with_context(|| format!("writing into {}", args.out.display()))?;
    pb.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&record)?)?;
    } else {
        let v = &record.verdict;
        writeln!(out, "{} vs {}", args.a.display(), args.b.display())?;
        writeln!(
            out,
            "  model {} ({}) on {}: cosine {:.4} (accept if >= {:.4}) -> {}",
            record.model,
            record.method.display_name(),
            record.ep,
            v.score,
            v.threshold,
            v.decision
        )?;
        writeln!(
            out,
            "  wrote {} (panel), 6 raw maps (.npy) and record.json",
            args.out.join(&record.files.panel).display()
        )?;
        writeln!(
            out,
            "  time: preprocess {:.0} ms, gradients {:.0} ms, combine {:.1} ms, write {:.0} ms",
            record.timings.preprocess_ms,
            record.timings.gradients_ms,
            record.timings.combine_ms,
            record.timings.write_ms
        )?;
    }
    out.flush()?;
    Ok(())
}

fn print_report(out: &mut impl Write, args: &VerifyArgs, r: &VerifyReport) -> std::io::Result<()> {
    let v = &r.verdict;
    let found = |n: usize| {
        if args.aligned {
            "aligned input".to_string()
        } else {
            format!("{n} face{} found", if n == 1 { "" } else { "s" })
        }
    };
    writeln!(out, "{} vs {}", args.a.display(), args.b.display())?;
    writeln!(
        out,
        "  {}: {}; {}: {}",
        args.a.file_name().unwrap_or_default().to_string_lossy(),
        found(r.a.faces_found),
        args.b.file_name().unwrap_or_default().to_string_lossy(),
        found(r.b.faces_found)
    )?;
    let rule = match v.comparison {
        Comparison::Cosine => ">=",
        Comparison::Euclidean => "<=",
    };
    writeln!(
        out,
        "  model {} on {}{}: {} {:.4} (accept if {rule} {:.4}) -> {}",
        r.model,
        r.ep,
        if r.ep_fell_back { " (fallback)" } else { "" },
        v.comparison,
        v.score,
        v.threshold,
        v.decision
    )
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
    let res = match &cli.command {
        Command::Verify(args) => verify(&cli.global, args),
        Command::Explain(args) => explain(&cli.global, args),
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
