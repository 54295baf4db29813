//! # diffusion-core-c
//!
//! The C interface to [`diffusion_core`]: DDPM/DDIM and multistep (DPM-Solver, UniPC) plans, their steps over `float` arrays, noise
//! v1 streams, and the core's bit-identical `libm` functions, as a static library for the host and
//! for `thumbv7em-none-eabihf`. The header `include/diffusion_core.h` is generated from this crate
//! by cbindgen (`scripts/capi-check.sh` fails when it drifts).
//!
//! ## Guarantees
//!
//! - **Nothing allocates.** Every object lives in storage the caller provides: `DcPlan` and
//!   `DcNoiseStream` are plain structs of the right size and alignment, so C can keep them in a
//!   `static`, on the stack or in its own allocator's memory, and copy them with `memcpy`.
//! - **No undefined behaviour on bad arguments, no panic across the boundary.** A null pointer,
//!   a misaligned or overlapping array, a length that does not fit the plan, an out-of-range step
//!   or enum value, a plan that was never built: each returns a [`DcStatus`] that
//!   [`dc_error_name`] names. What the C side cannot be checked on is its side of the contract:
//!   a pointer must point to as many valid elements as the length next to it says.
//! - **The same bits as the Rust core**, on the host and on a Cortex-M4F: these functions are the
//!   core's, called through a thin layer that only checks and converts arguments.
//!
//! ## Objects
//!
//! - [`DcPlan`]: a realized DDPM or DDIM run of at most [`DC_PLAN_CAPACITY`] steps
//!   ([`dc_plan_build`], [`dc_plan_len`], [`dc_plan_timestep`], [`dc_plan_step`],
//!   [`dc_plan_step_batch`]).
//! - [`DcMultistepPlan`] and [`DcMultistepHistory`]: DPM-Solver(++) and UniPC runs
//!   ([`dc_multistep_plan_build_dpm_solver`], [`dc_multistep_plan_build_unipc`],
//!   [`dc_multistep_history_init`] over a float buffer of the caller's,
//!   [`dc_multistep_plan_step_batch`]).
//! - [`DcNoiseStream`]: sample i of seed s's noise v1 generator ([`dc_noise_stream`],
//!   [`dc_noise_fill_standard_normal`]).
//! - Classifier-free guidance between a model's unconditional and conditional outputs
//!   ([`dc_guidance_combine_batch`]).

#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The host's static library links std for its panic and unwinding machinery (no panic reaches
// it: every extern "C" function aborts rather than unwind). Bare-metal targets get the handler
// below, which nothing reaches either (scripts/capi-check.sh checks that it is the handler the C
// firmware links).
#[cfg(not(target_os = "none"))]
extern crate std;

mod config;
mod guidance;
mod math;
mod multistep;
mod noise;
mod plan;
mod slices;
mod status;

pub use config::{
    DcBetaSchedule, DcClipping, DcFinalAlphaCumprod, DcPredictionType, DcSampler, DcSamplerConfig,
    DcScheduleConfig, DcTimestepConfig, DcTimestepSpacing, DcVarianceType,
    dc_sampler_config_default, dc_schedule_config_default, dc_timestep_config_default,
};
pub use guidance::dc_guidance_combine_batch;
pub use math::{dc_cosf, dc_expf, dc_logf, dc_powf, dc_sinf};
pub use multistep::{
    DC_MULTISTEP_HISTORY_WORDS, DC_MULTISTEP_PLAN_WORDS, DcDpmSolverAlgorithm, DcDpmSolverConfig,
    DcDpmSolverType, DcFinalSigmasType, DcMultistepHistory, DcMultistepPlan, DcSigmaSchedule,
    DcUniPcConfig, DcUniPcSolverType, dc_dpm_solver_config_default, dc_multistep_history_init,
    dc_multistep_plan_build_dpm_solver, dc_multistep_plan_build_unipc,
    dc_multistep_plan_history_len, dc_multistep_plan_len, dc_multistep_plan_step_batch,
    dc_multistep_plan_timestep, dc_unipc_config_default,
};
pub use noise::{
    DC_NOISE_SPEC_VERSION, DcNoiseStream, dc_noise_fill_standard_normal, dc_noise_stream,
};
pub use plan::{
    DC_PLAN_CAPACITY, DC_PLAN_WORDS, DcPlan, dc_plan_build, dc_plan_len, dc_plan_step,
    dc_plan_step_batch, dc_plan_timestep,
};
pub use status::{DcStatus, dc_error_name};

/// Unreachable: no function of this crate or of the core panics on any input (the core keeps a
/// few panic paths the optimizer cannot prove dead, such as bounds checks inside slice
/// selection). Should one ever be reached, it becomes an undefined-instruction fault (the C
/// program's HardFault handler), never an unwind into C.
#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    #[cfg(target_arch = "arm")]
    // SAFETY: `udf` only raises the undefined-instruction exception.
    unsafe {
        core::arch::asm!("udf #0", options(noreturn))
    }
    #[cfg(not(target_arch = "arm"))]
    loop {
        core::hint::spin_loop();
    }
}
