//! What both facade builders ([`VerifierBuilder`](crate::VerifierBuilder) and
//! [`ExplainerBuilder`](crate::ExplainerBuilder)) are told before they load anything: which model,
//! from where, on which execution provider, in which input mode, against which threshold, with
//! which ONNX Runtime. One struct and one set of setters (`model_choice_setters!`) serve both.

use std::path::PathBuf;

use xfv_preprocess::Mode;
use xfv_runtime::{EpRequest, RuntimeOptions};

use crate::default_models_dir;

/// The shared builder state.
#[derive(Debug, Clone)]
pub(crate) struct ModelChoice {
    pub(crate) model: String,
    pub(crate) models_dir: Option<PathBuf>,
    pub(crate) ep: EpRequest,
    pub(crate) mode: Mode,
    pub(crate) threshold: Option<f32>,
    pub(crate) runtime: RuntimeOptions,
}

impl ModelChoice {
    /// A model name (`sface`), a card (`x.toml`) or an ONNX file with its card beside it; CPU,
    /// detect mode, the card's threshold, the default runtime.
    pub(crate) fn new(model: String) -> Self {
        ModelChoice {
            model,
            models_dir: None,
            ep: EpRequest::cpu(),
            mode: Mode::Detect,
            threshold: None,
            runtime: RuntimeOptions::default(),
        }
    }

    /// The models folder in use.
    pub(crate) fn dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(default_models_dir)
    }
}

/// The setters of [`ModelChoice`] for a builder with a `choice: ModelChoice` field.
macro_rules! model_choice_setters {
    () => {
        /// Where model cards and models are (default: [`default_models_dir`](crate::default_models_dir)).
        pub fn models_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
            self.choice.models_dir = Some(dir.into());
            self
        }

        /// Execution provider(s), for every session the builder opens (model and detector).
        pub fn ep(mut self, ep: xfv_runtime::EpRequest) -> Self {
            self.choice.ep = ep;
            self
        }

        /// Detect and align (default), or take inputs as aligned crops.
        pub fn mode(mut self, mode: xfv_preprocess::Mode) -> Self {
            self.choice.mode = mode;
            self
        }

        /// Overrides the card's threshold (the explainer: the cosine threshold theta; see
        /// [`cosine_threshold`](crate::cosine_threshold)).
        pub fn threshold(mut self, threshold: Option<f32>) -> Self {
            self.choice.threshold = threshold;
            self
        }

        /// ONNX Runtime library and threads.
        pub fn runtime(mut self, options: xfv_runtime::RuntimeOptions) -> Self {
            self.choice.runtime = options;
            self
        }
    };
}
pub(crate) use model_choice_setters;
