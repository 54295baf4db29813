//! # diffusion-core
//!
//! Diffusion-model sampling, `#![no_std]` and without allocation: noise schedules, timestep
//! plans, the update step of each sampler over caller-provided `f32` slices, classifier-free
//! guidance, and a portable Gaussian noise generator. The same code gives the same bits on a
//! server and on a Cortex-M4F.
//!
//! ## Samplers
//!
//! Each sampler is one plan type, built once from a [`ScheduleConfig`], a [`TimestepConfig`] and
//! its own config, holding every per-step weight (computed in f64, stored in f32):
//!
//! | plan | diffusers' scheduler | model calls | memory between steps |
//! |---|---|---|---|
//! | [`DdpmDdimPlan`] | `DDPMScheduler`, `DDIMScheduler` | N | none |
//! | [`DpmSolverPlan`] | `DPMSolverMultistepScheduler` (DPM-Solver(++), SDE) | N | a [`MultistepHistory`] |
//! | [`UniPcPlan`] | `UniPCMultistepScheduler` | N | a [`MultistepHistory`] |
//! | [`EulerPlan`] | `EulerDiscreteScheduler`, `EulerAncestralDiscreteScheduler` | N | none |
//! | [`HeunPlan`] | `HeunDiscreteScheduler` | 2N − 1 | a [`MultistepHistory`] |
//! | [`LcmPlan`] | `LCMScheduler` | N | none |
//!
//! diffusers' default timestep spacing differs between samplers (`leading` for DDPM, DDIM and
//! LCM, `linspace` for the others), so [`TimestepSpacing`] has no default: every caller names
//! one.
//!
//! ## One loop for every sampler: [`Scheduler`]
//!
//! Every plan implements the [`Scheduler`] trait, the documented way to run any of them: the
//! number of model calls, the [`ModelTimestep`] and the input scaling of each call,
//! `init_noise_sigma`, the sizes of what a step needs (history, noise, scratch), and a batch step
//! over caller slices with one [`StepMemory`]. A program written against it runs every sampler,
//! and links only the ones it names (it is used through generics, not `dyn`).
//!
//! ```
//! use diffusion_core::{
//!     noise_stream, DdpmDdimConfig, DdpmDdimPlan, Error, LcmConfig, LcmPlan, ModelTimestep,
//!     NoiseSource, ScheduleConfig, Scheduler, StepMemory, TimestepConfig, TimestepSpacing,
//!     UniPcConfig, UniPcPlan,
//! };
//!
//! /// Samples one 4-value x from seed 7 with any plan; `model` stands for the denoiser.
//! fn sample<S: Scheduler>(plan: &S, model: impl Fn(ModelTimestep, &[f32]) -> [f32; 4]) -> Result<[f32; 4], Error> {
//!     let mut stream = noise_stream(7, 0); // sample 0 of seed 7
//!     let mut x = [0.0f32; 4];
//!     stream.fill_standard_normal(&mut x); // x_T
//!     x.iter_mut().for_each(|v| *v *= plan.init_noise_sigma());
//!     let mut buffers = [0.0f32; 3 * 4]; // history_len() ≤ 3 sample-sized buffers
//!     let history = plan.history(&mut buffers[..plan.history_len() * 4], 4)?;
//!     let mut memory = StepMemory::new(history, core::slice::from_mut(&mut stream), &mut []);
//!     let mut input = [0.0f32; 4];
//!     for call in 0..plan.num_model_calls() {
//!         plan.scale_model_input(call, &x, &mut input)?;
//!         let output = model(plan.model_timestep(call)?, &input);
//!         plan.step_batch(call, 1, &mut x, &output, &mut memory)?;
//!     }
//!     Ok(x)
//! }
//!
//! let schedule = ScheduleConfig::default();
//! let linspace = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
//! let unipc: UniPcPlan<10> = UniPcPlan::new(&schedule, &linspace, &UniPcConfig::default())?;
//! let ddim: DdpmDdimPlan<10> = DdpmDdimPlan::new(&schedule, &linspace, &DdpmDdimConfig::default())?;
//! let lcm: LcmPlan<4> = LcmPlan::new(&schedule, 4, &LcmConfig::default())?; // LCM's own timesteps
//! let zero = |_: ModelTimestep, _: &[f32]| [0.0f32; 4]; // ε̂ = 0
//! for x in [sample(&unipc, zero)?, sample(&ddim, zero)?, sample(&lcm, zero)?] {
//!     assert!(x.iter().all(|v| v.is_finite()));
//! }
//! assert_eq!(ddim.model_timestep(0)?.integer(), 999);
//! # Ok::<(), diffusion_core::Error>(())
//! ```
//!
//! **One timestep type for the model.** What the model is fed is a [`ModelTimestep`]: whole for
//! DDPM, DDIM, DPM-Solver, UniPC and LCM, fractional for Euler and Heun, with its float and
//! integer feeds (diffusers' ONNX `int64` cast) decided in one place. The plans' own iterators
//! (`timesteps()`, `sigmas()`) keep their natural types (`u32` training timesteps, `f32`
//! interpolated ones), for callers that know their sampler and for the golden tests.
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
//! ## A plan's own methods
//!
//! [`TimestepConfig`] realizes the timesteps (`linspace`, `leading`, `trailing`); the step after
//! element k is element k + 1. [`DdpmDdimPlan::new`] combines schedule, timesteps and a
//! [`DdpmDdimConfig`] (DDPM or DDIM, prediction type, clipping, final ᾱ) into per-step weights;
//! [`DdpmDdimPlan::step`] applies step i to one sample in place, [`DdpmDdimPlan::step_batch`] to a
//! batch. Each plan keeps such methods for callers that know their sampler (firmware); they give
//! the same bits as the trait, which forwards to them.
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
//! [`noise_stream`] gives sample i of seed s its own [`NoiseStream`] (a PCG32 generator, kept
//! private so that the API does not depend on a `rand_pcg` version; [`InlinedStream`] is the
//! same stream with its code inlined into the caller, for callers compiled for AVX2);
//! [`NoiseSource`] turns it into standard normals. A finite source ([`SliceNoise`]) that runs out
//! is [`Error::NoiseExhausted`]. The algorithm is specified as "noise v1" in [`noise`], seeding
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
//! ([`Error::LengthMismatch`] names the slice, [`Error::UnknownName`] the kind of name,
//! [`Error::ForeignHistory`] a multistep history made by another plan), and [`Error::name`]
//! gives a report that needs no float formatting.
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
