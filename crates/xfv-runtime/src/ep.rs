//! Execution providers as a typed choice.
//!
//! A requested provider either starts or is an error: registration always uses
//! `error_on_failure()`, so ONNX Runtime never falls back to the CPU behind the user's back.
//! Fallback happens only when asked for, by listing several targets (`tensorrt,cuda,cpu`) or with
//! `auto`; the provider that really ran is reported.

mod cuda;
mod tensorrt;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use cuda::CudaOptions;
pub use tensorrt::{DimRange, ProfileDim, ProfileInput, TensorRtOptions, TrtPrecision};

use crate::Error;

/// Where a session runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ep", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ExecutionTarget {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda(CudaOptions),
    /// NVIDIA TensorRT (needs TensorRT 10 on the machine; see the README's deployment section).
    #[serde(rename = "tensorrt")]
    TensorRt(TensorRtOptions),
}

impl ExecutionTarget {
    /// CUDA on GPU `device_id` with default options.
    pub fn cuda(device_id: i32) -> Self {
        ExecutionTarget::Cuda(CudaOptions {
            device_id,
            ..CudaOptions::default()
        })
    }

    /// TensorRT on GPU `device_id` with default options.
    pub fn tensorrt(device_id: i32) -> Self {
        ExecutionTarget::TensorRt(TensorRtOptions {
            device_id,
            ..TensorRtOptions::default()
        })
    }

    /// The provider's short name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutionTarget::Cpu => "cpu",
            ExecutionTarget::Cuda(_) => "cuda",
            ExecutionTarget::TensorRt(_) => "tensorrt",
        }
    }

    /// Whether this build can register the provider at all (Cargo features `cuda`/`tensorrt`).
    pub fn is_compiled(&self) -> bool {
        match self {
            ExecutionTarget::Cpu => true,
            ExecutionTarget::Cuda(_) => cfg!(feature = "cuda"),
            ExecutionTarget::TensorRt(_) => cfg!(feature = "tensorrt"),
        }
    }

    /// The ort registration for this target, or `EpNotCompiled`. `profile` names the graph's
    /// inputs and their dynamic axes (TensorRT optimisation profiles; ignored by other providers).
    pub(crate) fn dispatch(
        &self,
        profile: &[ProfileInput],
    ) -> Result<Option<ort::ep::ExecutionProviderDispatch>, Error> {
        #[cfg(any(feature = "cuda", feature = "tensorrt"))]
        use ort::ep::ArbitrarilyConfigurableExecutionProvider as _;
        let _ = profile;
        match self {
            ExecutionTarget::Cpu => Ok(None),
            #[cfg(feature = "cuda")]
            ExecutionTarget::Cuda(o) => {
                let mut ep = ort::ep::CUDA::default();
                for (k, v) in o.ort_options() {
                    ep = ep.with_arbitrary_config(k, v);
                }
                Ok(Some(ep.build().error_on_failure()))
            }
            #[cfg(feature = "tensorrt")]
            ExecutionTarget::TensorRt(o) => {
                let mut ep = ort::ep::TensorRT::default();
                for (k, v) in o.ort_options(profile) {
                    ep = ep.with_arbitrary_config(k, v);
                }
                Ok(Some(ep.build().error_on_failure()))
            }
            #[allow(unreachable_patterns)]
            other => Err(Error::EpNotCompiled { ep: other.name() }),
        }
    }
}

impl fmt::Display for ExecutionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutionTarget::Cpu => f.write_str("cpu"),
            ExecutionTarget::Cuda(o) => write!(f, "cuda:{}", o.device_id),
            ExecutionTarget::TensorRt(o) => write!(
                f,
                "tensorrt:{}{}",
                o.device_id,
                if o.precision == TrtPrecision::Fp16 {
                    " (fp16)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// What the user asked for: one target (strict), or an ordered list to try (fallback allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpRequest {
    /// Targets in order of preference; never empty.
    pub targets: Vec<ExecutionTarget>,
    /// True for `auto`: the list was chosen by xfv, not by the user.
    pub auto: bool,
}

impl EpRequest {
    /// CPU only.
    pub fn cpu() -> Self {
        EpRequest {
            targets: vec![ExecutionTarget::Cpu],
            auto: false,
        }
    }

    /// `auto`: every provider compiled into this build, fastest first, ending with the CPU.
    pub fn auto() -> Self {
        let mut targets = Vec::new();
        if cfg!(feature = "tensorrt") {
            targets.push(ExecutionTarget::tensorrt(0));
        }
        if cfg!(feature = "cuda") {
            targets.push(ExecutionTarget::cuda(0));
        }
        targets.push(ExecutionTarget::Cpu);
        EpRequest {
            targets,
            auto: true,
        }
    }

    /// True when more than one target may be tried.
    pub fn allows_fallback(&self) -> bool {
        self.targets.len() > 1
    }

    /// Gives every TensorRT target in the list these options, keeping each target's device id
    /// (`tensorrt:1`).
    #[must_use]
    pub fn with_tensorrt_options(mut self, options: &TensorRtOptions) -> Self {
        for t in &mut self.targets {
            if let ExecutionTarget::TensorRt(o) = t {
                *o = TensorRtOptions {
                    device_id: o.device_id,
                    ..options.clone()
                };
            }
        }
        self
    }

    /// Gives every CUDA target in the list these options, keeping each target's device id.
    #[must_use]
    pub fn with_cuda_options(mut self, options: &CudaOptions) -> Self {
        for t in &mut self.targets {
            if let ExecutionTarget::Cuda(o) = t {
                *o = CudaOptions {
                    device_id: o.device_id,
                    ..options.clone()
                };
            }
        }
        self
    }
}

impl FromStr for EpRequest {
    type Err = String;

    /// `cpu`, `cuda`, `cuda:1`, `tensorrt`, `tensorrt:0`, a comma-separated fallback list such as
    /// `tensorrt,cuda,cpu`, or `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("auto") {
            return Ok(EpRequest::auto());
        }
        let mut targets = Vec::new();
        for part in s.split(',') {
            let part = part.trim().to_ascii_lowercase();
            let (name, device) = match part.split_once(':') {
                Some((n, d)) => (
                    n.to_string(),
                    d.parse::<i32>()
                        .map_err(|_| format!("`{part}`: the device id must be an integer"))?,
                ),
                None => (part.clone(), 0),
            };
            let t = match name.as_str() {
                "cpu" => ExecutionTarget::Cpu,
                "cuda" => ExecutionTarget::cuda(device),
                "tensorrt" | "trt" => ExecutionTarget::tensorrt(device),
                "" => return Err("empty execution provider in the list".into()),
                other => {
                    return Err(format!(
                        "unknown execution provider `{other}` (expected cpu, cuda, tensorrt, a list such as tensorrt,cuda,cpu, or auto)"
                    ));
                }
            };
            if targets
                .iter()
                .any(|o: &ExecutionTarget| o.name() == t.name())
            {
                return Err(format!("`{}` is listed twice", t.name()));
            }
            targets.push(t);
        }
        Ok(EpRequest {
            targets,
            auto: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_lists_and_auto() {
        let r: EpRequest = "cpu".parse().expect("cpu");
        assert_eq!(r.targets, vec![ExecutionTarget::Cpu]);
        assert!(!r.allows_fallback());

        let r: EpRequest = "cuda:1".parse().expect("cuda:1");
        assert_eq!(r.targets, vec![ExecutionTarget::cuda(1)]);

        let r: EpRequest = "tensorrt, cuda ,cpu".parse().expect("list");
        assert_eq!(r.targets.len(), 3);
        assert!(r.allows_fallback());
        assert_eq!(r.targets[2], ExecutionTarget::Cpu);

        let r: EpRequest = "auto".parse().expect("auto");
        assert!(r.auto);
        assert_eq!(r.targets.last(), Some(&ExecutionTarget::Cpu));
    }

    #[test]
    fn rejects_unknown_and_duplicate_providers() {
        let e = "npu".parse::<EpRequest>().expect_err("npu");
        assert!(e.contains("npu"), "{e}");
        assert!("cpu,cpu".parse::<EpRequest>().is_err());
        assert!("cuda:x".parse::<EpRequest>().is_err());
        assert!("cpu,".parse::<EpRequest>().is_err());
    }

    #[test]
    fn providers_not_compiled_in_say_so() {
        let cuda = ExecutionTarget::cuda(0);
        if !cfg!(feature = "cuda") {
            assert!(!cuda.is_compiled());
            let Err(err) = cuda.dispatch(&[]) else {
                panic!("cuda is not compiled in, yet dispatch succeeded");
            };
            assert!(matches!(err, Error::EpNotCompiled { ep: "cuda" }), "{err}");
            assert!(err.to_string().contains("not compiled into"), "{err}");
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
        let trt = ExecutionTarget::tensorrt(0);
        if !cfg!(feature = "tensorrt") {
            assert!(!trt.is_compiled());
            let profile = ProfileInput::gradient_graph(112, 112, 128);
            let Err(err) = trt.dispatch(&profile) else {
                panic!("tensorrt is not compiled in, yet dispatch succeeded");
            };
            assert!(
                matches!(err, Error::EpNotCompiled { ep: "tensorrt" }),
                "{err}"
            );
        } else {
            // compiled in: registration is built (it only fails when a session starts)
            assert!(matches!(trt.dispatch(&[]), Ok(Some(_))));
        }
        assert!(matches!(ExecutionTarget::Cpu.dispatch(&[]), Ok(None)));
    }

    #[test]
    fn auto_lists_compiled_providers_and_ends_with_cpu() {
        let r = EpRequest::auto();
        assert!(r.auto);
        assert_eq!(r.targets.last(), Some(&ExecutionTarget::Cpu));
        assert!(r.targets.iter().all(ExecutionTarget::is_compiled));
        let n_gpu = usize::from(cfg!(feature = "cuda")) + usize::from(cfg!(feature = "tensorrt"));
        assert_eq!(r.targets.len(), n_gpu + 1);
    }

    #[test]
    fn tensorrt_options_apply_to_every_tensorrt_target_keeping_the_device() {
        let o = TensorRtOptions {
            precision: TrtPrecision::Fp16,
            engine_cache: Some("cache".into()),
            rows: DimRange::new(1, 16, 64).expect("rows"),
            ..TensorRtOptions::default()
        };
        let r: EpRequest = "tensorrt:1,cuda:1,cpu".parse().expect("list");
        let r = r.with_tensorrt_options(&o).with_cuda_options(&CudaOptions {
            heuristic_conv_search: true,
            ..CudaOptions::default()
        });
        let ExecutionTarget::TensorRt(t) = &r.targets[0] else {
            panic!("not tensorrt: {:?}", r.targets[0]);
        };
        assert_eq!(t.device_id, 1);
        assert_eq!(t.precision, TrtPrecision::Fp16);
        assert_eq!(t.rows.opt, 16);
        assert_eq!(r.targets[0].to_string(), "tensorrt:1 (fp16)");
        let ExecutionTarget::Cuda(c) = &r.targets[1] else {
            panic!("not cuda");
        };
        assert_eq!((c.device_id, c.heuristic_conv_search), (1, true));
        // serialised for records as {"ep": "tensorrt", ...}
        let json = serde_json::to_value(&r.targets[0]).expect("json");
        assert_eq!(json["ep"], "tensorrt");
        assert_eq!(json["precision"], "fp16");
    }
}
