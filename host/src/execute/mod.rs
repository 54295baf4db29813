//! *Execute*: the sampling loop. It only computes: every check that needs the model was made
//! by [`crate::bind`].

pub mod batch_buffers;
pub mod dispatch;
pub mod job;
pub mod progress;
pub mod sampling;
