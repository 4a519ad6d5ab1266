//! `xfv`: explainable face verification. Glue only: clap arguments -> the `xfv` facade.
//!
//! Exit codes: 0 success, 1 an error (the message names the file and the problem), 2 bad usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use xfv::prelude::*;
use xfv::{Verifier, VerifyReport};

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
