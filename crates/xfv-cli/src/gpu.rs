//! GPU execution-provider options shared by every subcommand (`--ep` picks the provider; these
//! shape it). They only matter when the list asks for `cuda` or `tensorrt`.

use std::path::PathBuf;

use clap::Args;
use xfv::prelude::{CudaOptions, DimRange, EpRequest, TensorRtOptions, TrtPrecision};

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct GpuArgs {
    /// TensorRT: allow fp16 kernels
    #[arg(long, global = true)]
    trt_fp16: bool,
    /// TensorRT: keep built engines (and timings) here; the first run on a device builds them once
    #[arg(long, global = true, value_name = "DIR")]
    trt_engine_cache: Option<PathBuf>,
    /// TensorRT: optimisation profile of the image batch N, MIN:OPT:MAX (default 1:1:16)
    #[arg(long, global = true, value_name = "MIN:OPT:MAX")]
    trt_batch: Option<DimRange>,
    /// TensorRT: optimisation profile of the cotangent rows K, MIN:OPT:MAX (default 1:32:128)
    #[arg(long, global = true, value_name = "MIN:OPT:MAX")]
    trt_rows: Option<DimRange>,
    /// TensorRT: builder workspace limit in MiB (default: TensorRT's)
    #[arg(long, global = true, value_name = "MIB")]
    trt_workspace_mib: Option<u64>,
    /// CUDA: memory arena limit in MiB (default: no limit)
    #[arg(long, global = true, value_name = "MIB")]
    cuda_mem_limit_mib: Option<u64>,
}

impl GpuArgs {
    /// `ep` with these options given to each of its CUDA and TensorRT targets.
    pub(crate) fn apply(&self, ep: &EpRequest) -> EpRequest {
        let defaults = TensorRtOptions::default();
        let trt = TensorRtOptions {
            precision: if self.trt_fp16 {
                TrtPrecision::Fp16
            } else {
                TrtPrecision::Fp32
            },
            engine_cache: self.trt_engine_cache.clone(),
            batch: self.trt_batch.unwrap_or(defaults.batch),
            rows: self.trt_rows.unwrap_or(defaults.rows),
            workspace_bytes: self.trt_workspace_mib.map(|m| m << 20),
            ..defaults
        };
        let cuda = CudaOptions {
            memory_limit_bytes: self.cuda_mem_limit_mib.map(|m| m << 20),
            ..CudaOptions::default()
        };
        ep.clone()
            .with_tensorrt_options(&trt)
            .with_cuda_options(&cuda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfv::prelude::ExecutionTarget;

    #[test]
    fn gpu_flags_reach_every_gpu_target_and_keep_device_ids() {
        let args = GpuArgs {
            trt_fp16: true,
            trt_engine_cache: Some(PathBuf::from("/cache")),
            trt_rows: Some("1:16:64".parse().expect("range")),
            trt_workspace_mib: Some(2),
            cuda_mem_limit_mib: Some(3),
            ..GpuArgs::default()
        };
        let req: EpRequest = "tensorrt:1,cuda:2,cpu".parse().expect("list");
        let out = args.apply(&req);
        let ExecutionTarget::TensorRt(t) = &out.targets[0] else {
            panic!("tensorrt first: {out:?}");
        };
        assert_eq!(t.device_id, 1);
        assert_eq!(t.precision, TrtPrecision::Fp16);
        assert_eq!(
            t.engine_cache.as_deref(),
            Some(std::path::Path::new("/cache"))
        );
        assert_eq!((t.rows.min, t.rows.opt, t.rows.max), (1, 16, 64));
        assert_eq!(t.batch, TensorRtOptions::default().batch);
        assert_eq!(t.workspace_bytes, Some(2 << 20));
        let ExecutionTarget::Cuda(c) = &out.targets[1] else {
            panic!("cuda second: {out:?}");
        };
        assert_eq!(c.device_id, 2);
        assert_eq!(c.memory_limit_bytes, Some(3 << 20));
        assert_eq!(out.targets[2], ExecutionTarget::Cpu);
    }

    #[test]
    fn cpu_requests_are_unchanged() {
        let req: EpRequest = "cpu".parse().expect("cpu");
        assert_eq!(GpuArgs::default().apply(&req), req);
    }
}
