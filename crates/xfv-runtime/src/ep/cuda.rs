//! CUDA options as typed values, turned into ONNX Runtime's provider-option strings in one place.

use serde::{Deserialize, Serialize};

/// CUDA execution-provider options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CudaOptions {
    /// GPU index.
    pub device_id: i32,
    /// Cap on the memory arena in bytes (`gpu_mem_limit`; `None`: no cap).
    pub memory_limit_bytes: Option<u64>,
    /// Search all cuDNN convolution algorithms on the first run (`cudnn_conv_algo_search =
    /// EXHAUSTIVE`, ORT's default) instead of cuDNN's heuristic (`HEURISTIC`: faster start).
    pub heuristic_conv_search: bool,
}

impl CudaOptions {
    /// ONNX Runtime's CUDA provider options (key, value).
    pub fn ort_options(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("device_id", self.device_id.to_string())];
        if let Some(bytes) = self.memory_limit_bytes {
            out.push(("gpu_mem_limit", bytes.to_string()));
        }
        if self.heuristic_conv_search {
            out.push(("cudnn_conv_algo_search", "HEURISTIC".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_options_map_to_ort_keys() {
        let o = CudaOptions {
            device_id: 2,
            memory_limit_bytes: Some(1 << 30),
            heuristic_conv_search: true,
        };
        assert_eq!(
            o.ort_options(),
            vec![
                ("device_id", "2".to_string()),
                ("gpu_mem_limit", "1073741824".to_string()),
                ("cudnn_conv_algo_search", "HEURISTIC".to_string()),
            ]
        );
        assert_eq!(
            CudaOptions::default().ort_options(),
            vec![("device_id", "0".to_string())]
        );
    }
}
