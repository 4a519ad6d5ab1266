//! The model options every pipeline subcommand shares, and the one place they become a facade
//! builder.

use clap::Args;
use xfv::prelude::*;
use xfv::{Explainer, ExplainerBuilder, Verifier, VerifierBuilder};

use crate::{GlobalArgs, runtime_options};

#[derive(Args, Debug, Clone)]
pub(crate) struct ModelArgs {
    /// Model: sface, mobilefacenet, dlib, a card (.toml) or an .onnx with its .toml beside it
    #[arg(long, short, default_value = "sface")]
    pub(crate) model: String,
    /// Execution provider: cpu, cuda, tensorrt, a fallback list (tensorrt,cuda,cpu) or auto
    #[arg(long, default_value = "cpu")]
    pub(crate) ep: EpRequest,
    /// Inputs are already aligned face crops: skip detection, only resize
    #[arg(long)]
    pub(crate) aligned: bool,
    /// Gradient graph arithmetic: fp32, or fp16 (<name>.grad.fp16.onnx from `scripts/setup --fp16`:
    /// the backward sweep in fp16 with a scaled cotangent; for GPUs with fast fp16)
    #[arg(long, value_enum, default_value = "fp32")]
    pub(crate) precision: PrecisionArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrecisionArg {
    Fp32,
    Fp16,
}

impl ModelArgs {
    fn mode(&self) -> Mode {
        if self.aligned {
            Mode::Aligned
        } else {
            Mode::Detect
        }
    }

    /// An explainer builder with the model, provider (GPU options applied), mode, models folder
    /// and runtime options set.
    pub(crate) fn explainer(&self, g: &GlobalArgs) -> ExplainerBuilder {
        let b = Explainer::builder(self.model.as_str())
            .ep(g.ep(&self.ep))
            .mode(self.mode())
            .precision(match self.precision {
                PrecisionArg::Fp32 => GraphPrecision::Fp32,
                PrecisionArg::Fp16 => GraphPrecision::Fp16,
            })
            .runtime(runtime_options(g));
        match &g.models_dir {
            Some(dir) => b.models_dir(dir),
            None => b,
        }
    }

    /// A verifier builder, set up as [`ModelArgs::explainer`].
    pub(crate) fn verifier(&self, g: &GlobalArgs) -> VerifierBuilder {
        let b = Verifier::builder(self.model.as_str())
            .ep(g.ep(&self.ep))
            .mode(self.mode())
            .runtime(runtime_options(g));
        match &g.models_dir {
            Some(dir) => b.models_dir(dir),
            None => b,
        }
    }
}
