//! *Resolve*: flags and files → one job description. Pure: no ONNX Runtime call, nothing
//! written.

pub mod scheduler;
