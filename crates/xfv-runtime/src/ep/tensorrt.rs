//! TensorRT options as typed values, and the one function that turns them into ONNX Runtime's
//! provider-option strings ([`TensorRtOptions::ort_options`]).
//!
//! TensorRT builds an engine per input-shape range. Without optimisation profiles it builds for
//! the first shapes it sees and rebuilds whenever a run falls outside them (minutes for a large
//! gradient graph), so every dynamic axis gets an explicit `min/opt/max` range here: the image
//! batch N of `x` and the cotangent rows K of `cotangent`. H, W and D come from the graph.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A `min <= opt <= max` range of one dynamic axis (TensorRT optimisation profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimRange {
    /// Smallest size a run may use.
    pub min: u32,
    /// The size TensorRT tunes its kernels for.
    pub opt: u32,
    /// Largest size a run may use (engine memory is sized for it).
    pub max: u32,
}

impl DimRange {
    /// A checked range: `1 <= min <= opt <= max`.
    pub fn new(min: u32, opt: u32, max: u32) -> Result<Self, String> {
        if min == 0 || min > opt || opt > max {
            return Err(format!(
                "range {min}:{opt}:{max} must satisfy 1 <= min <= opt <= max"
            ));
        }
        Ok(DimRange { min, opt, max })
    }

    /// Exactly one size.
    pub fn fixed(n: u32) -> Self {
        DimRange {
            min: n,
            opt: n,
            max: n,
        }
    }

    /// Whether `n` lies in the range.
    pub fn contains(&self, n: u32) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

impl fmt::Display for DimRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.min, self.opt, self.max)
    }
}

impl FromStr for DimRange {
    type Err = String;

    /// `MIN:OPT:MAX`, or one number for a fixed size.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Result<Vec<u32>, _> = s.trim().split(':').map(|p| p.trim().parse()).collect();
        match parts.map_err(|_| format!("`{s}`: expected MIN:OPT:MAX or N (positive integers)"))?[..]
        {
            [n] => DimRange::new(n, n, n),
            [min, opt, max] => DimRange::new(min, opt, max),
            _ => Err(format!("`{s}`: expected MIN:OPT:MAX or N")),
        }
    }
}

/// One axis of a graph input in an optimisation profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileDim {
    /// A size fixed by the graph (H, W, D, channels).
    Fixed(u32),
    /// The image batch N ([`TensorRtOptions::batch`]).
    Batch,
    /// The cotangent rows K ([`TensorRtOptions::rows`]).
    Rows,
    /// A dynamic axis held at one size (the detector's batch: always 1 image).
    Pinned(u32),
}

/// A graph input with its dynamic axes marked, to build profiles from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInput {
    /// Input name.
    pub name: String,
    /// Its axes.
    pub dims: Vec<ProfileDim>,
}

impl ProfileInput {
    /// The inputs of a gradient graph: `x [N,3,H,W]` and `cotangent [K,D]`.
    pub fn gradient_graph(height: u32, width: u32, dim: u32) -> Vec<ProfileInput> {
        vec![
            ProfileInput {
                name: "x".into(),
                dims: vec![
                    ProfileDim::Batch,
                    ProfileDim::Fixed(3),
                    ProfileDim::Fixed(height),
                    ProfileDim::Fixed(width),
                ],
            },
            ProfileInput {
                name: "cotangent".into(),
                dims: vec![ProfileDim::Rows, ProfileDim::Fixed(dim)],
            },
        ]
    }

    /// Profiles for a graph's declared inputs (`-1` = dynamic): a dynamic first axis is the
    /// cotangent rows K for an input named `cotangent`, else the image batch N - or exactly 1
    /// when `single_image` (the detector, which always runs one image). Any other dynamic axis
    /// has no range to give TensorRT and is an error naming the input.
    pub fn from_declared(
        inputs: &[(String, Vec<i64>)],
        single_image: bool,
    ) -> Result<Vec<ProfileInput>, String> {
        inputs
            .iter()
            .map(|(name, shape)| {
                let dims = shape
                    .iter()
                    .enumerate()
                    .map(|(axis, &d)| match (axis, u32::try_from(d)) {
                        (_, Ok(n)) if n > 0 => Ok(ProfileDim::Fixed(n)),
                        (0, _) if name == "cotangent" => Ok(ProfileDim::Rows),
                        (0, _) if single_image => Ok(ProfileDim::Pinned(1)),
                        (0, _) => Ok(ProfileDim::Batch),
                        _ => Err(format!(
                            "input `{name}` {shape:?} has a dynamic axis {axis}; TensorRT profiles need it fixed (re-export the graph with a static size)"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ProfileInput {
                    name: name.clone(),
                    dims,
                })
            })
            .collect()
    }

    /// An image input `name [N,3,H,W]` (recognition models).
    pub fn image(name: &str, height: u32, width: u32) -> ProfileInput {
        ProfileInput {
            name: name.into(),
            dims: vec![
                ProfileDim::Batch,
                ProfileDim::Fixed(3),
                ProfileDim::Fixed(height),
                ProfileDim::Fixed(width),
            ],
        }
    }
}

/// Precision TensorRT may build kernels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrtPrecision {
    /// fp32 (tf32 where the GPU has it).
    #[default]
    Fp32,
    /// TensorRT may choose fp16 kernels for any layer (`trt_fp16_enable`). For the gradient graph,
    /// prefer an fp16 graph from `xfv-export --fp16`, which keeps the reduction in fp32 and scales
    /// the cotangent; this flag gives TensorRT a free hand and is looser.
    Fp16,
}

/// TensorRT execution-provider options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRtOptions {
    /// GPU index.
    pub device_id: i32,
    /// Builder precision.
    pub precision: TrtPrecision,
    /// Where built engines (and the timing cache) are kept between runs. Without it every
    /// process start rebuilds the engine; with it the first run on a device builds it once.
    pub engine_cache: Option<PathBuf>,
    /// Image batch N of `x` (default 1:1:16).
    pub batch: DimRange,
    /// Cotangent rows K per run (default 1:32:128; the runtime's chunk size must lie inside).
    pub rows: DimRange,
    /// Builder workspace limit in bytes (`None`: TensorRT's default, the whole device memory).
    pub workspace_bytes: Option<u64>,
}

impl Default for TensorRtOptions {
    fn default() -> Self {
        TensorRtOptions {
            device_id: 0,
            precision: TrtPrecision::Fp32,
            engine_cache: None,
            batch: DimRange {
                min: 1,
                opt: 1,
                max: 16,
            },
            rows: DimRange {
                min: 1,
                opt: 32,
                max: 128,
            },
            workspace_bytes: None,
        }
    }
}

impl TensorRtOptions {
    /// ONNX Runtime's TensorRT provider options (key, value) for a graph with these inputs.
    /// The only place the option strings are made. Profiles are emitted only when at least one
    /// input has a dynamic axis; an empty `inputs` leaves profiles to TensorRT (shapes of the
    /// first run).
    pub fn ort_options(&self, inputs: &[ProfileInput]) -> Vec<(&'static str, String)> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let mut out = vec![
            ("device_id", self.device_id.to_string()),
            (
                "trt_fp16_enable",
                flag(self.precision == TrtPrecision::Fp16),
            ),
        ];
        if let Some(bytes) = self.workspace_bytes {
            out.push(("trt_max_workspace_size", bytes.to_string()));
        }
        if let Some(dir) = &self.engine_cache {
            let dir = dir.display().to_string();
            out.push(("trt_engine_cache_enable", flag(true)));
            out.push(("trt_engine_cache_path", dir.clone()));
            out.push(("trt_timing_cache_enable", flag(true)));
            out.push(("trt_timing_cache_path", dir));
        }
        let dynamic = inputs
            .iter()
            .any(|i| i.dims.iter().any(|d| !matches!(d, ProfileDim::Fixed(_))));
        if dynamic {
            let shapes = |pick: fn(&DimRange) -> u32| -> String {
                inputs
                    .iter()
                    .map(|i| {
                        let dims: Vec<String> = i
                            .dims
                            .iter()
                            .map(|d| match d {
                                ProfileDim::Fixed(n) | ProfileDim::Pinned(n) => n.to_string(),
                                ProfileDim::Batch => pick(&self.batch).to_string(),
                                ProfileDim::Rows => pick(&self.rows).to_string(),
                            })
                            .collect();
                        format!("{}:{}", i.name, dims.join("x"))
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.push(("trt_profile_min_shapes", shapes(|r| r.min)));
            out.push(("trt_profile_opt_shapes", shapes(|r| r.opt)));
            out.push(("trt_profile_max_shapes", shapes(|r| r.max)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(opts: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
        opts.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn profiles_come_from_n_and_k_ranges_and_the_graph_sizes() {
        let o = TensorRtOptions {
            device_id: 1,
            precision: TrtPrecision::Fp16,
            engine_cache: Some(PathBuf::from("/var/cache/xfv-trt")),
            batch: DimRange::new(1, 4, 16).expect("batch"),
            rows: DimRange::new(1, 32, 128).expect("rows"),
            workspace_bytes: Some(2 << 30),
        };
        let opts = o.ort_options(&ProfileInput::gradient_graph(112, 96, 512));
        assert_eq!(get(&opts, "device_id"), Some("1"));
        assert_eq!(get(&opts, "trt_fp16_enable"), Some("1"));
        assert_eq!(get(&opts, "trt_max_workspace_size"), Some("2147483648"));
        assert_eq!(get(&opts, "trt_engine_cache_enable"), Some("1"));
        assert_eq!(
            get(&opts, "trt_engine_cache_path"),
            Some("/var/cache/xfv-trt")
        );
        assert_eq!(
            get(&opts, "trt_timing_cache_path"),
            Some("/var/cache/xfv-trt")
        );
        assert_eq!(
            get(&opts, "trt_profile_min_shapes"),
            Some("x:1x3x112x96,cotangent:1x512")
        );
        assert_eq!(
            get(&opts, "trt_profile_opt_shapes"),
            Some("x:4x3x112x96,cotangent:32x512")
        );
        assert_eq!(
            get(&opts, "trt_profile_max_shapes"),
            Some("x:16x3x112x96,cotangent:128x512")
        );
    }

    #[test]
    fn defaults_and_static_graphs_emit_no_optional_keys() {
        let o = TensorRtOptions::default();
        let opts = o.ort_options(&[]);
        assert_eq!(get(&opts, "trt_fp16_enable"), Some("0"));
        assert_eq!(get(&opts, "device_id"), Some("0"));
        for key in [
            "trt_engine_cache_enable",
            "trt_max_workspace_size",
            "trt_profile_min_shapes",
        ] {
            assert_eq!(get(&opts, key), None, "{key}");
        }
        // an image model: only the batch is dynamic
        let opts = o.ort_options(&[ProfileInput::image("data", 150, 150)]);
        assert_eq!(
            get(&opts, "trt_profile_min_shapes"),
            Some("data:1x3x150x150")
        );
        assert_eq!(
            get(&opts, "trt_profile_max_shapes"),
            Some("data:16x3x150x150")
        );
    }

    #[test]
    fn profiles_from_declared_inputs_mark_the_dynamic_axes() {
        let grad = vec![
            ("x".to_string(), vec![-1, 3, 112, 96]),
            ("cotangent".to_string(), vec![-1, 512]),
        ];
        assert_eq!(
            ProfileInput::from_declared(&grad, false),
            Ok(ProfileInput::gradient_graph(112, 96, 512))
        );
        let rec = vec![("data".to_string(), vec![-1, 3, 150, 150])];
        assert_eq!(
            ProfileInput::from_declared(&rec, false),
            Ok(vec![ProfileInput::image("data", 150, 150)])
        );
        // the detector: one image, so N is pinned to 1 and TensorRT builds one shape
        let det = vec![("input".to_string(), vec![-1, 3, 640, 640])];
        let p = ProfileInput::from_declared(&det, true).expect("detector");
        let opts = TensorRtOptions::default().ort_options(&p);
        for key in [
            "trt_profile_min_shapes",
            "trt_profile_opt_shapes",
            "trt_profile_max_shapes",
        ] {
            assert_eq!(get(&opts, key), Some("input:1x3x640x640"), "{key}");
        }
        // a dynamic spatial axis has no range: a clear error naming the input
        let bad = vec![("input".to_string(), vec![1, 3, -1, -1])];
        let e = ProfileInput::from_declared(&bad, false).expect_err("dynamic H");
        assert!(e.contains("`input`") && e.contains("axis 2"), "{e}");
    }

    #[test]
    fn ranges_parse_and_are_checked() {
        assert_eq!("1:8:32".parse::<DimRange>(), DimRange::new(1, 8, 32));
        assert_eq!("4".parse::<DimRange>(), Ok(DimRange::fixed(4)));
        assert!("0:1:2".parse::<DimRange>().is_err());
        assert!("8:4:16".parse::<DimRange>().is_err());
        assert!("1:2".parse::<DimRange>().is_err());
        assert!("a:b:c".parse::<DimRange>().is_err());
        assert!(DimRange::new(1, 32, 128).expect("ok").contains(128));
        assert_eq!(DimRange::fixed(3).to_string(), "3:3:3");
    }
}
