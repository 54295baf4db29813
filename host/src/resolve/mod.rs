//! *Resolve*: flags and files → one job description. Pure: no ONNX Runtime call, nothing
//! written.

pub mod init_noise;
pub mod pipeline_folder;
pub mod sampler_plan;
pub mod scheduler;
