//! *Execute*: the sampling loop. It only computes: every check that needs the model was made
//! by [`crate::bind`].

pub mod batch_buffers;
pub mod dispatch;
pub mod finite;
pub mod interrupt;
pub mod progress;
pub mod sampling;
