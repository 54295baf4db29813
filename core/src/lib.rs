//! # diffusion-core
//!
//! DDPM and DDIM sampling for diffusion models, `#![no_std]` and without allocation: noise
//! schedules, timestep plans, the update step over caller-provided `f32` slices, and a portable
//! Gaussian noise generator. The same code gives the same bits on a server and on a Cortex-M4F.
//!
//! ## Guarantees
//!
//! - **No heap, no panics on caller input.** Storage is either the caller's slices or a
//!   [`DdpmDdimPlan`] whose capacity is a type parameter; every invalid input is an [`Error`] that names
//!   what was wrong.
//! - **Portable bits.** Transcendentals come from `libm` on every target and the crate never
//!   fuses a multiply and an add, so results do not depend on the platform's math library or FMA.
//! - **Numerics checked against diffusers** (0.42.1) by golden vectors in the workspace's
//!   `tests/`: schedules, timestep arrays, single steps and whole loops.
//!
//! ## Schedules
//!
//! [`ScheduleConfig`] describes β (a [`BetaSchedule`]: `linear`, `scaled_linear`,
//! `squaredcos_cap_v2`, `sigmoid`, caller-given) over T training timesteps and an optional
//! zero-terminal-SNR rescale; `ᾱ_t = ∏_{s ≤ t} (1 − β_s)` is computed in f64 and stored as f32
//! ([`fill_alphas_cumprod`], or streamed by [`ScheduleConfig::alphas_cumprod`]).
//!
//! ```
//! use diffusion_core::{fill_alphas_cumprod, ScheduleConfig};
//!
//! let mut alphas_cumprod = [0.0f32; 1000];
//! fill_alphas_cumprod(&ScheduleConfig::default(), &mut alphas_cumprod)?;
//! assert_eq!(alphas_cumprod[0], 0.9999); // 1 − β_0, β_0 = 1e-4
//! # Ok::<(), diffusion_core::Error>(())
//! ```
//!
//! ## Plans and steps
//!
//! [`TimestepConfig`] realizes the timesteps (`linspace`, `leading`, `trailing`); the step after
//! element k is element k + 1. [`DdpmDdimPlan::new`] combines schedule, timesteps and a
//! [`DdpmDdimConfig`] (DDPM or DDIM, prediction type, clipping, final ᾱ) into per-step weights;
//! [`DdpmDdimPlan::step`] applies step i to one sample in place, [`DdpmDdimPlan::step_batch`] to a batch.
//!
//! ```
//! use diffusion_core::{noise_stream, NoiseSource, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig,
//!     TimestepConfig, TimestepSpacing};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Leading, steps_offset: 1 };
//! let plan: DdpmDdimPlan<25> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
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
//! [`noise_stream`] gives sample i of seed s its own [`NoiseStream`]; [`NoiseSource`] turns
//! it into standard normals. The algorithm is specified as "noise v1" in [`noise`], seeding
//! included, with test vectors and a numpy reference implementation, so Python can feed identical
//! noise to diffusers.
//!
//! ```
//! use diffusion_core::{noise_stream, NoiseSource};
//!
//! let mut normals = [0.0f32; 2];
//! noise_stream(0, 0).fill_standard_normal(&mut normals);
//! assert_eq!(normals.map(f32::to_bits), [0xBF39_E2C8, 0x3E4C_CDF1]); // noise v1 test vector
//! ```
//!
//! ## Errors
//!
//! Every fallible function returns [`Error`]; its variants say which input was wrong
//! ([`Error::LengthMismatch`] names the slice, [`Error::UnknownName`] the kind of name), and
//! [`Error::name`] gives a report that needs no float formatting.
//!
//! ## Firmware
//!
//! Two choices decide the core's cost on a microcontroller:
//!
//! - **Build the plan in place.** A [`DdpmDdimPlan`] holds 48 bytes per step; [`DdpmDdimPlan::new`]
//!   returns it by value, so a `DdpmDdimPlan<100>` passes through the stack. Keep the plan in a `static`
//!   initialised with the constant [`DdpmDdimPlan::empty`] and fill it with [`DdpmDdimPlan::rebuild`].
//! - **Enable LTO** (`lto = true`, `codegen-units = 1`, `opt-level = "s"`). `rebuild` is always
//!   inlined, so with a constant schedule the optimizer keeps only the β layout in use (the cosine
//!   schedule alone brings about 8 KiB of f64 `cos`), and only the sampler paths the firmware
//!   reaches.
//!
//! Measured on the workspace's example firmware (Cortex-M4F, 64 points, three 25- to 100-step
//! runs, `scripts/firmware-check.sh`): the core adds 8.3 KB of flash and the stack peaks at
//! 1.6 KB with `rebuild` and LTO; 15.2 KB and 15.9 KB with `DdpmDdimPlan::new` and no LTO.
//!
//! ```
//! use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
//!
//! // Firmware keeps it in .bss:
//! // static STATE: Mutex<RefCell<DdpmDdimPlan<100>>> = Mutex::new(RefCell::new(DdpmDdimPlan::empty()));
//! let mut plan: DdpmDdimPlan<100> = DdpmDdimPlan::empty();
//! let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
//! plan.rebuild(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
//! assert_eq!(plan.len(), 25);
//! # assert_eq!(core::mem::size_of::<diffusion_core::StepCoefficients>(), 48);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clipping;
pub mod ddim;
pub mod ddpm;
mod ddpm_ddim_plan;
pub mod dpm_solver;
mod error;
pub mod euler;
pub mod final_sigmas;
pub mod guidance;
pub mod heun;
pub mod lcm;
pub mod multistep;
pub mod noise;
mod noise_level;
mod pcg_lanes;
mod prediction;
pub mod schedule;
pub mod scheduler;
pub mod sigmas;
mod step;
pub mod timesteps;
pub mod unipc;

pub use clipping::SampleClipping;
pub use ddpm::VarianceType;
pub use ddpm_ddim_plan::{DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, FinalAlphaCumprod};
pub use dpm_solver::{DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan, DpmSolverType};
pub use error::{Error, NameKind, SliceKind};
pub use euler::{EulerConfig, EulerPlan, EulerVariant, TimestepType};
pub use final_sigmas::FinalSigmasType;
pub use guidance::Guidance;
pub use heun::{HeunConfig, HeunPlan};
pub use lcm::{LcmConfig, LcmPlan};
pub use multistep::MultistepHistory;
pub use noise::{InlinedStream, NoiseSource, NoiseStream, SliceNoise, noise_stream};
pub use prediction::PredictionType;
pub use schedule::{
    AlphasCumprod, BetaSchedule, MAX_TRAIN_TIMESTEPS, ScheduleConfig, fill_alphas_cumprod,
};
pub use scheduler::{ModelTimestep, Scheduler, StepMemory};
pub use sigmas::SigmaSchedule;
pub use step::{NOISE_CHUNK, StepCoefficients, VarianceSource};
pub use timesteps::{TimestepConfig, TimestepSpacing};
pub use unipc::{UniPcConfig, UniPcPlan, UniPcSolverType};

#[cfg(all(test, not(feature = "sigma-schedules")))]
mod sigma_feature_tests;
