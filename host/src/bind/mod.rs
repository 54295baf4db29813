//! *Bind*: open the sessions, read their signatures and check every shape, channel, input and
//! batch rule against the job, before any output exists.

pub mod guidance;
pub mod model_inputs;
pub mod runtime;
pub mod signature;
pub mod unet_config;
pub mod vae;
