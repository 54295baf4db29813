//! The schedulers host runs and the keys of their diffusers configs, as data: no I/O, no
//! ONNX Runtime; [`crate::cli`] makes flags of it and [`crate::resolve`] looks values up in it.

pub mod keys;
pub mod kind;

pub use kind::SchedulerKind;
