//! Execution providers as a typed choice.
//!
//! A requested provider either starts or is an error: registration always uses
//! `error_on_failure()`, so ONNX Runtime never falls back to the CPU behind the user's back.
//! Fallback happens only when asked for, by listing several targets (`tensorrt,cuda,cpu`) or with
//! `auto`; the provider that really ran is reported.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where a session runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ep", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ExecutionTarget {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda {
        /// GPU index.
        device_id: i32,
    },
    /// NVIDIA TensorRT.
    #[serde(rename = "tensorrt")]
    TensorRt {
        /// GPU index.
        device_id: i32,
        /// Allow fp16 kernels.
        fp16: bool,
        /// Where built engines are cached between runs.
        engine_cache: Option<PathBuf>,
    },
}

impl ExecutionTarget {
    /// The provider's short name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutionTarget::Cpu => "cpu",
            ExecutionTarget::Cuda { .. } => "cuda",
            ExecutionTarget::TensorRt { .. } => "tensorrt",
        }
    }

    /// Whether this build can register the provider at all (Cargo features `cuda`/`tensorrt`).
    pub fn is_compiled(&self) -> bool {
        match self {
            ExecutionTarget::Cpu => true,
            ExecutionTarget::Cuda { .. } => cfg!(feature = "cuda"),
            ExecutionTarget::TensorRt { .. } => cfg!(feature = "tensorrt"),
        }
    }

    /// The ort registration for this target, or `EpNotCompiled`.
    pub(crate) fn dispatch(&self) -> Result<Option<ort::ep::ExecutionProviderDispatch>, Error> {
        match self {
            ExecutionTarget::Cpu => Ok(None),
            #[cfg(feature = "cuda")]
            ExecutionTarget::Cuda { device_id } => Ok(Some(
                ort::ep::CUDA::default()
                    .with_device_id(*device_id)
                    .build()
                    .error_on_failure(),
            )),
            #[cfg(feature = "tensorrt")]
            ExecutionTarget::TensorRt {
                device_id,
                fp16,
                engine_cache,
            } => {
                let mut trt = ort::ep::TensorRT::default()
                    .with_device_id(*device_id)
                    .with_fp16(*fp16);
                if let Some(dir) = engine_cache {
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(dir.display().to_string());
                }
                Ok(Some(trt.build().error_on_failure()))
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
            ExecutionTarget::Cuda { device_id } => write!(f, "cuda:{device_id}"),
            ExecutionTarget::TensorRt {
                device_id, fp16, ..
            } => write!(
                f,
                "tensorrt:{device_id}{}",
                if *fp16 { " (fp16)" } else { "" }
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
            targets.push(ExecutionTarget::TensorRt {
                device_id: 0,
                fp16: false,
                engine_cache: None,
            });
        }
        if cfg!(feature = "cuda") {
            targets.push(ExecutionTarget::Cuda { device_id: 0 });
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
                "cuda" => ExecutionTarget::Cuda { device_id: device },
                "tensorrt" | "trt" => ExecutionTarget::TensorRt {
                    device_id: device,
                    fp16: false,
                    engine_cache: None,
                },
                "" => return Err("empty execution provider in the list".into()),
                other => {
                    return Err(format!(
                        "unknown execution provider `{other}` (expected cpu, cuda, tensorrt, a list such as tensorrt,cuda,cpu, or auto)"
                    ));
                }
            };
            if targets.contains(&t) {
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
        assert_eq!(r.targets, vec![ExecutionTarget::Cuda { device_id: 1 }]);

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
        let cuda = ExecutionTarget::Cuda { device_id: 0 };
        if !cfg!(feature = "cuda") {
            assert!(!cuda.is_compiled());
            let Err(err) = cuda.dispatch() else {
                panic!("cuda is not compiled in, yet dispatch succeeded");
            };
            assert!(matches!(err, Error::EpNotCompiled { ep: "cuda" }), "{err}");
            assert!(err.to_string().contains("--features cuda"), "{err}");
        }
        assert!(matches!(ExecutionTarget::Cpu.dispatch(), Ok(None)));
    }
}
