//! `xfv verify A B`: score, threshold and decision for a pair.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use xfv::VerifyReport;
use xfv::prelude::*;

use crate::GlobalArgs;

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// First image
    a: PathBuf,
    /// Second image
    b: PathBuf,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Decision threshold (default: the model card's)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// Print the full report as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(g: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<()> {
    let builder = args.model.verifier(g).threshold(args.threshold);
    let mut verifier = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model.model))?;
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
        if args.model.aligned {
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
