//! `xfv bench IMAGES... --workload single|1:N|batch`: timed runs of a workload, JSON + a table.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use xfv::{BenchOptions, BenchReport, Workload};

use crate::GlobalArgs;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Image files: `single` uses the first two, `1:N` the first against the others, `batch`
    /// every pair of them
    #[arg(required = true, num_args = 2..)]
    images: Vec<PathBuf>,
    /// Workload: single, 1:N or batch
    #[arg(long, short, default_value = "single")]
    workload: Workload,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Untimed warm-up iterations
    #[arg(long, default_value_t = 1, value_name = "N")]
    warmup: usize,
    /// Timed iterations
    #[arg(long, short = 'n', default_value_t = 5, value_name = "N")]
    iterations: usize,
    /// Embedding dimensions per gradient-graph run (default 32)
    #[arg(long, value_name = "K")]
    chunk_rows: Option<usize>,
    /// Images per gradient-graph run (default 1; 2: a pair's two images in one run)
    #[arg(long, value_name = "N")]
    images_per_run: Option<usize>,
    /// Size n of the ceiling sgemm (n x n x n); 0 skips it
    #[arg(long, default_value_t = 2048, value_name = "N")]
    sgemm_n: usize,
    /// Write the JSON report to this file too
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Print only the JSON report (no table)
    #[arg(long)]
    json: bool,
    /// An earlier run's JSON report: print this run's figures as ratios against it
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
}

pub(crate) fn run(g: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<()> {
    let baseline = args
        .compare
        .as_deref()
        .map(xfv::read_report)
        .transpose()
        .context("reading the --compare report")?;
    let builder = args
        .model
        .explainer(g)
        .chunk_rows(args.chunk_rows)
        .images_per_run(args.images_per_run);
    let mut explainer = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model.model))?;
    let opts = BenchOptions {
        workload: args.workload,
        images: args.images.clone(),
        warmup: args.warmup,
        iterations: args.iterations,
        sgemm_n: args.sgemm_n,
    };
    let report = xfv::run_bench(&mut explainer, &opts)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "{json}")?;
        table(&mut out, &report)?;
        if let Some(old) = &baseline {
            compare_table(&mut out, &report, old, args.compare.as_deref())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

fn table(out: &mut impl Write, r: &BenchReport) -> std::io::Result<()> {
    let rows: Vec<(&str, String)> = vec![
        (
            "workload",
            format!("{} ({} images, {} pairs)", r.workload, r.images, r.pairs),
        ),
        (
            "model",
            format!(
                "{} (D = {}, {}x{})",
                r.model, r.dim, r.crop_px[0], r.crop_px[1]
            ),
        ),
        (
            "EP / threads",
            format!(
                "{}{} / {}",
                r.ep,
                if r.ep_fell_back { " (fallback)" } else { "" },
                r.threads
            ),
        ),
        (
            "chunk rows / images per run",
            format!("{} / {}", r.chunk_rows, r.images_per_run),
        ),
        (
            "iterations",
            format!("{} (+{} warm-up)", r.iterations, r.warmup),
        ),
        ("pairs/s", format!("{:.3}", r.pairs_per_s)),
        (
            "latency p50 / p95 ms",
            format!("{:.1} / {:.1}", r.latency_ms.p50, r.latency_ms.p95),
        ),
        (
            "stages ms (median)",
            format!(
                "preprocess {:.1}, gradients {:.1}, combine {:.2}",
                r.stages_ms.preprocess_ms, r.stages_ms.gradients_ms, r.stages_ms.combine_ms
            ),
        ),
        (
            "gradient GFLOP / GFLOP/s",
            format!(
                "{} / {}",
                opt(r.gradient_gflop, 1),
                opt(r.gradient_gflop_per_s, 1)
            ),
        ),
        (
            "sgemm ceiling GFLOP/s",
            r.sgemm.as_ref().map_or_else(
                || "-".into(),
                |s| format!("{:.1} (n = {}, {} threads)", s.gflop_per_s, s.n, s.threads),
            ),
        ),
        ("gradient % of ceiling", opt(r.gradient_pct_of_sgemm, 1)),
        ("peak memory MB (VmHWM)", opt(r.peak_rss_mb, 0)),
        (
            "load average",
            r.load_avg.map_or_else(
                || "-".into(),
                |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]),
            ),
        ),
        ("cpu", r.cpu.clone()),
    ];
    writeln!(out)?;
    for (k, v) in rows {
        writeln!(out, "{k:<30} {v}")?;
    }
    Ok(())
}

fn compare_table(
    out: &mut impl Write,
    new: &BenchReport,
    old: &BenchReport,
    path: Option<&std::path::Path>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "\ncompared with {} ({} {}, load {}):",
        path.map_or_else(String::new, |p| p.display().to_string()),
        old.model,
        old.workload,
        old.load_avg
            .map_or_else(|| "-".into(), |l| format!("{:.2}", l[0]))
    )?;
    writeln!(
        out,
        "{:<26} {:>12} {:>12} {:>8}  better?",
        "figure", "earlier", "now", "now/old"
    )?;
    for c in xfv::compare_bench(new, old) {
        let better = if c.ratio.is_nan() || (c.ratio - 1.0).abs() < 1e-9 {
            "same"
        } else if (c.ratio > 1.0) == c.higher_is_better {
            "yes"
        } else {
            "no"
        };
        writeln!(
            out,
            "{:<26} {:>12.3} {:>12.3} {:>8.3}  {better}",
            c.field, c.old, c.new, c.ratio
        )?;
    }
    Ok(())
}
