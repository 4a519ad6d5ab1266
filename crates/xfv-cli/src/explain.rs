//! `xfv explain A B -o OUT`: a pair's maps (FGGB or a baseline) as a panel, raw maps and a
//! record.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use xfv::prelude::*;

use crate::{GlobalArgs, spinner};

/// The explanation methods the CLI offers.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum MethodArg {
    /// Feature-Guided Gradient Backpropagation (Lu, Xu & Ebrahimi, FG 2024)
    Fggb,
    /// xSSAB: similarity score argument backpropagation (Huber et al., WACV 2024)
    Xssab,
    /// Gradient of the similarity score, mean over RGB of |d s / d x|
    SimilarityGradient,
    /// CorrRISE: 500 random masks, Spearman correlation per pixel (Lu, Xu & Ebrahimi, WACV 2024)
    Corrrise,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Fggb => Method::Fggb,
            MethodArg::Xssab => Method::Xssab,
            MethodArg::SimilarityGradient => Method::SimilarityGradient,
            MethodArg::Corrrise => Method::Corrrise,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    /// First image
    a: PathBuf,
    /// Second image
    b: PathBuf,
    /// Output folder (created): panel.png, a_crop.png, b_crop.png, *_similarity.npy,
    /// *_dissimilarity.npy, *_signed.npy, record.json
    #[arg(long, short)]
    out: PathBuf,
    #[command(flatten)]
    model: crate::model_args::ModelArgs,
    /// Explanation method
    #[arg(long, value_enum, default_value = "fggb")]
    method: MethodArg,
    /// Cosine threshold theta (default: the model card's; for euclidean cards 1 - t^2/2)
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// Embedding dimensions per gradient-graph run (memory grows with it; default 32)
    #[arg(long, value_name = "K")]
    chunk_rows: Option<usize>,
    /// Print the JSON record to stdout
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(g: &GlobalArgs, args: &ExplainArgs) -> anyhow::Result<()> {
    let pb = spinner("loading the model and its gradient graph");
    let builder = args
        .model
        .explainer(g)
        .threshold(args.threshold)
        .chunk_rows(args.chunk_rows)
        .method(args.method.into());
    let mut explainer = builder
        .build()
        .with_context(|| format!("loading model `{}`", args.model.model))?;
    pb.set_message("detecting and aligning the faces");
    let t = std::time::Instant::now();
    let fa = explainer.prepare(&args.a)?;
    let fb = explainer.prepare(&args.b)?;
    let preprocess_ms = t.elapsed().as_secs_f64() * 1e3;
    let (explanation, grad_ms, combine_ms) = if explainer.method() == Method::Fggb {
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
        (explanation, grad_ms, t.elapsed().as_secs_f64() * 1e3)
    } else {
        pb.set_message("explaining (model passes)");
        let t = std::time::Instant::now();
        let explanation = explainer.explain_faces(&fa, &fb, None)?;
        (explanation, t.elapsed().as_secs_f64() * 1e3, 0.0)
    };
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
