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
