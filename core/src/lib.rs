//! # diffusion-core
//!
//! DDPM and DDIM sampling for diffusion models, `#![no_std]` and without allocation: noise
//! schedules, timestep plans, the update step over caller-provided `f32` slices, and a portable
//! Gaussian noise generator. The same code gives the same bits on a server and on a Cortex-M4F.
//!
//! ## Guarantees
//!
//! - **No heap, no panics on caller input.** Storage is either the caller's slices or a
//!   [`Plan`] whose capacity is a type parameter; every invalid input is an [`Error`].
//! - **Portable bits.** Transcendentals come from `libm` on every target and the crate never
//!   fuses a multiply and an add, so results do not depend on the platform's math library or FMA.
//! - **Numerics checked against diffusers** (0.42.1) by golden vectors in the workspace's
//!   `tests/`: schedules, timestep arrays, single steps and whole loops.
//!
//! ## Schedules
//!
//! [`ScheduleConfig`] describes β_t ([`BetaSchedule`]: `linear`, `scaled_linear`,
//! `squaredcos_cap_v2`, `sigmoid`, caller-given) and an optional zero-terminal-SNR rescale;
//! ᾱ_t = ∏_{s≤t}(1 − β_s) is computed in f64 and stored as f32 ([`fill_alphas_cumprod`]).
//!
//! ## Plans and steps
//!
//! [`TimestepConfig`] realizes the timesteps (`linspace`, `leading`, `trailing`); the step after
//! element k is element k + 1. [`Plan::new`] combines schedule, timesteps and a
//! [`SamplerConfig`] (DDPM or DDIM, prediction type, clipping, final ᾱ) into per-step weights;
//! [`Plan::step`] applies step i in place.
//!
//! ```
//! use diffusion_core::{noise_stream, NoiseSource, Plan, SamplerConfig, ScheduleConfig,
//!     TimestepConfig, TimestepSpacing};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Leading, steps_offset: 1 };
//! let plan: Plan<25> = Plan::new(&ScheduleConfig::default(), &timesteps, &SamplerConfig::default())?;
//! assert_eq!(plan.timesteps().next(), Some(961));
//!
//! let mut rng = noise_stream(42, 0); // seed 42, sample 0
//! let mut x = [0.0f32; 16];
//! rng.fill_standard_normal(&mut x); // x_T
//! for i in 0..plan.len() {
//!     let epsilon = [0.0f32; 16]; // the model's prediction at plan.steps()[i].timestep
//!     plan.step(i, &mut x, &epsilon, &mut rng, &mut [])?;
//! }
//! # Ok::<(), diffusion_core::Error>(())
//! ```
//!
//! ## Noise
//!
//! [`noise_stream`] gives sample i of seed s its own [`rand_pcg::Pcg32`]; [`NoiseSource`] turns
//! it into standard normals. The algorithm is specified as "noise v1" in [`noise`], with test
//! vectors and a numpy reference implementation, so Python can feed identical noise to diffusers.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clipping;
pub mod ddim;
pub mod ddpm;
pub mod dpm_solver;
mod error;
pub mod multistep;
pub mod noise;
mod pcg_lanes;
mod plan;
mod prediction;
pub mod schedule;
mod step;
pub mod timesteps;

pub use clipping::SampleClipping;
pub use ddpm::VarianceType;
pub use dpm_solver::{
    DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan, DpmSolverType, FinalSigmasType,
};
pub use error::{Error, NameKind, SliceKind};
pub use multistep::MultistepHistory;
pub use noise::{InlinedStream, NoiseSource, SliceNoise, noise_stream};
pub use plan::{FinalAlphaCumprod, Plan, Sampler, SamplerConfig};
pub use prediction::PredictionType;
pub use rand_pcg::Pcg32;
pub use schedule::{
    AlphasCumprod, BetaSchedule, MAX_TRAIN_TIMESTEPS, ScheduleConfig, fill_alphas_cumprod,
};
pub use step::{NOISE_CHUNK, StepCoefficients, VarianceSource};
pub use timesteps::{TimestepConfig, TimestepSpacing};
