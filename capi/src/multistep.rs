//! Multistep solvers (DPM-Solver, DPM-Solver++, UniPC) in caller storage: a plan, and a history
//! that keeps the earlier outputs the solver combines in a float buffer the caller provides.

use core::mem::{align_of, size_of};
use core::ptr::addr_of_mut;

use diffusion_core::{
    DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan, DpmSolverType, FinalSigmasType,
    MultistepHistory, SigmaSchedule, UniPcConfig, UniPcPlan, UniPcSolverType,
};

use crate::config::{DcScheduleConfig, DcTimestepConfig, clipping, prediction_type};
use crate::plan::DC_PLAN_CAPACITY;
use crate::slices::{self, Span};
use crate::status::{DcStatus, status_of};

/// `DcDpmSolverConfig::algorithm_type` (diffusers `algorithm_type`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcDpmSolverAlgorithm {
    /// `dpmsolver++`: combines x̂₀ (diffusers' default).
    DpmSolverPlusPlus = 0,
    /// `dpmsolver`: combines ε̂.
    DpmSolver = 1,
}

/// `DcDpmSolverConfig::solver_type` (diffusers `solver_type`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcDpmSolverType {
    /// `midpoint`.
    Midpoint = 0,
    /// `heun`.
    Heun = 1,
}

/// `final_sigmas_type` of both solvers: σ after the last step.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcFinalSigmasType {
    /// `zero`: the last step lands on clean data.
    Zero = 0,
    /// `sigma_min`: σ at ᾱ₀.
    SigmaMin = 1,
}

/// `sigma_schedule` of both solvers: diffusers' `use_karras_sigmas`, `use_exponential_sigmas`,
/// `use_beta_sigmas` (none of them: `DC_SIGMA_SCHEDULE_INTERPOLATED`, the spacing's timesteps).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcSigmaSchedule {
    /// No `use_*_sigmas`: the sigmas at the spacing's timesteps.
    Interpolated = 0,
    /// `use_karras_sigmas`: ρ = 7 between the training σ_min and σ_max.
    Karras = 1,
    /// `use_exponential_sigmas`: evenly spaced in log σ.
    Exponential = 2,
    /// `use_beta_sigmas`: Beta(0.6, 0.6) quantiles.
    Beta = 3,
}

/// `DcUniPcConfig::solver_type` (diffusers `solver_type`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcUniPcSolverType {
    /// `bh1`.
    Bh1 = 0,
    /// `bh2` (diffusers' default).
    Bh2 = 1,
}

/// DPM-Solver by diffusers' names; `dc_dpm_solver_config_default` gives diffusers' defaults
/// (DPM-Solver++ 2M, midpoint, lower_order_final, final σ 0, ε-prediction, no thresholding).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcDpmSolverConfig {
    /// A `DcDpmSolverAlgorithm`.
    pub algorithm_type: u32,
    /// 1, 2 or 3.
    pub solver_order: u32,
    /// A `DcDpmSolverType`.
    pub solver_type: u32,
    /// With fewer than 15 steps, the last steps use lower orders.
    pub lower_order_final: bool,
    /// The last step is first order.
    pub euler_at_final: bool,
    /// A `DcFinalSigmasType`.
    pub final_sigmas_type: u32,
    /// A `DcPredictionType`.
    pub prediction_type: u32,
    /// A `DcClipping` (with the next three fields, as in `DcSamplerConfig`).
    pub clipping: u32,
    /// `DC_CLIPPING_RANGE`: r > 0.
    pub clip_sample_range: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the quantile, in (0, 1].
    pub dynamic_thresholding_ratio: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the largest threshold, ≥ 1.
    pub sample_max_value: f32,
    /// A `DcSigmaSchedule`.
    pub sigma_schedule: u32,
}

/// UniPC by diffusers' names; `dc_unipc_config_default` gives diffusers' defaults (order 2, bh2,
/// predict_x0, lower_order_final, every step corrected, final σ 0, ε-prediction).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcUniPcConfig {
    /// The predictor's order: 1, 2 or 3.
    pub solver_order: u32,
    /// A `DcUniPcSolverType`.
    pub solver_type: u32,
    /// Combine x̂₀ (true) or ε̂ (false).
    pub predict_x0: bool,
    /// Step i uses at most order N − i.
    pub lower_order_final: bool,
    /// Step indices whose result is not corrected (`disable_corrector`), read while the plan is
    /// built; NULL with length 0 for none.
    pub disable_corrector: *const usize,
    /// Number of `disable_corrector` entries.
    pub disable_corrector_len: usize,
    /// A `DcFinalSigmasType`.
    pub final_sigmas_type: u32,
    /// A `DcPredictionType`.
    pub prediction_type: u32,
    /// A `DcClipping` (used with predict_x0 only).
    pub clipping: u32,
    /// `DC_CLIPPING_RANGE`: r > 0.
    pub clip_sample_range: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the quantile, in (0, 1].
    pub dynamic_thresholding_ratio: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the largest threshold, ≥ 1.
    pub sample_max_value: f32,
    /// A `DcSigmaSchedule` (between the training sigmas of t = 0 and t = T − 1).
    pub sigma_schedule: u32,
}

/// diffusers' DPMSolverMultistepScheduler defaults.
#[unsafe(no_mangle)]
pub extern "C" fn dc_dpm_solver_config_default() -> DcDpmSolverConfig {
    DcDpmSolverConfig {
        algorithm_type: DcDpmSolverAlgorithm::DpmSolverPlusPlus as u32,
        solver_order: 2,
        solver_type: DcDpmSolverType::Midpoint as u32,
        lower_order_final: true,
        euler_at_final: false,
        final_sigmas_type: DcFinalSigmasType::Zero as u32,
        prediction_type: 0,
        clipping: 0,
        clip_sample_range: 1.0,
        dynamic_thresholding_ratio: 0.995,
        sample_max_value: 1.0,
        sigma_schedule: DcSigmaSchedule::Interpolated as u32,
    }
}

/// diffusers' UniPCMultistepScheduler defaults.
#[unsafe(no_mangle)]
pub extern "C" fn dc_unipc_config_default() -> DcUniPcConfig {
    DcUniPcConfig {
        solver_order: 2,
        solver_type: DcUniPcSolverType::Bh2 as u32,
        predict_x0: true,
        lower_order_final: true,
        disable_corrector: core::ptr::null(),
        disable_corrector_len: 0,
        final_sigmas_type: DcFinalSigmasType::Zero as u32,
        prediction_type: 0,
        clipping: 0,
        clip_sample_range: 1.0,
        dynamic_thresholding_ratio: 0.995,
        sample_max_value: 1.0,
        sigma_schedule: DcSigmaSchedule::Interpolated as u32,
    }
}

fn sigma_schedule(value: u32) -> Result<SigmaSchedule, DcStatus> {
    match value {
        0 => Ok(SigmaSchedule::Interpolated),
        1 => Ok(SigmaSchedule::Karras),
        2 => Ok(SigmaSchedule::Exponential),
        3 => Ok(SigmaSchedule::Beta),
        _ => Err(DcStatus::InvalidEnumValue),
    }
}

fn final_sigmas_type(value: u32) -> Result<FinalSigmasType, DcStatus> {
    match value {
        0 => Ok(FinalSigmasType::Zero),
        1 => Ok(FinalSigmasType::SigmaMin),
        _ => Err(DcStatus::InvalidEnumValue),
    }
}

/// An order as the core's `u8` (anything above 255 is refused by the core as 255 would be).
fn order(value: u32) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

impl DcDpmSolverConfig {
    fn to_core(self) -> Result<DpmSolverConfig, DcStatus> {
        Ok(DpmSolverConfig {
            algorithm_type: match self.algorithm_type {
                0 => DpmSolverAlgorithm::DpmSolverPlusPlus,
                1 => DpmSolverAlgorithm::DpmSolver,
                _ => return Err(DcStatus::InvalidEnumValue),
            },
            solver_order: order(self.solver_order),
            solver_type: match self.solver_type {
                0 => DpmSolverType::Midpoint,
                1 => DpmSolverType::Heun,
                _ => return Err(DcStatus::InvalidEnumValue),
            },
            lower_order_final: self.lower_order_final,
            euler_at_final: self.euler_at_final,
            final_sigmas_type: final_sigmas_type(self.final_sigmas_type)?,
            prediction_type: prediction_type(self.prediction_type)?,
            clipping: clipping(
                self.clipping,
                self.clip_sample_range,
                self.dynamic_thresholding_ratio,
                self.sample_max_value,
            )?,
            sigma_schedule: sigma_schedule(self.sigma_schedule)?,
        })
    }
}

impl DcUniPcConfig {
    /// # Safety
    ///
    /// `disable_corrector` must point to `disable_corrector_len` values, unchanged for `'a`.
    unsafe fn to_core<'a>(self) -> Result<UniPcConfig<'a>, DcStatus> {
        Ok(UniPcConfig {
            solver_order: order(self.solver_order),
            solver_type: match self.solver_type {
                0 => UniPcSolverType::Bh1,
                1 => UniPcSolverType::Bh2,
                _ => return Err(DcStatus::InvalidEnumValue),
            },
            predict_x0: self.predict_x0,
            lower_order_final: self.lower_order_final,
            // SAFETY: the caller's contract.
            disable_corrector: unsafe {
                slices::shared(self.disable_corrector, self.disable_corrector_len)?
            },
            final_sigmas_type: final_sigmas_type(self.final_sigmas_type)?,
            prediction_type: prediction_type(self.prediction_type)?,
            clipping: clipping(
                self.clipping,
                self.clip_sample_range,
                self.dynamic_thresholding_ratio,
                self.sample_max_value,
            )?,
            sigma_schedule: sigma_schedule(self.sigma_schedule)?,
            sigma_min: None,
            sigma_max: None,
        })
    }
}

/// `sizeof(DcMultistepPlan) / 8` (the largest target's plan).
pub const DC_MULTISTEP_PLAN_WORDS: usize = 906;

/// Storage for a DPM-Solver or UniPC run of at most `DC_PLAN_CAPACITY` steps, built by
/// `dc_multistep_plan_build_dpm_solver` or `dc_multistep_plan_build_unipc`. Opaque, no pointers
/// inside (copy it with `memcpy`); never built: `DC_STATUS_PLAN_NOT_BUILT`.
#[repr(C)]
pub struct DcMultistepPlan {
    opaque: [u64; DC_MULTISTEP_PLAN_WORDS],
}

/// The plan inside a `DcMultistepPlan`: C storage has one size, the larger plan's (no heap to
/// box the larger variant into).
#[allow(clippy::large_enum_variant)]
enum Solver {
    DpmSolver(DpmSolverPlan<DC_PLAN_CAPACITY>),
    UniPc(UniPcPlan<DC_PLAN_CAPACITY>),
}

#[repr(C)]
struct MultistepSlot {
    tag: u64,
    solver: Solver,
}

/// "dcMSTEP1": a built multistep plan.
const MULTISTEP_TAG: u64 = u64::from_le_bytes(*b"dcMSTEP1");

const _: () = assert!(size_of::<MultistepSlot>() <= size_of::<DcMultistepPlan>());
const _: () = assert!(align_of::<MultistepSlot>() <= align_of::<DcMultistepPlan>());

/// The built plan in `plan`'s storage, or why there is none.
///
/// # Safety
///
/// `plan`, when non-null and aligned, must point to a `DcMultistepPlan` nothing writes for `'a`.
unsafe fn built<'a>(plan: *const DcMultistepPlan) -> Result<&'a Solver, DcStatus> {
    slices::check(plan, 1)?;
    let slot = plan.cast::<MultistepSlot>();
    // SAFETY: non-null and aligned (checked); the tag is a plain u64 at the start.
    if unsafe { core::ptr::addr_of!((*slot).tag).read() } != MULTISTEP_TAG {
        return Err(DcStatus::PlanNotBuilt);
    }
    // SAFETY: only the build functions write the tag, after a valid solver.
    Ok(unsafe { &(*slot).solver })
}

/// Writes an empty `solver` and the tag into `plan`'s storage and returns the solver.
///
/// # Safety
///
/// `plan` must be non-null, aligned and writable for a `DcMultistepPlan`.
unsafe fn reset<'a>(plan: *mut DcMultistepPlan, solver: Solver) -> &'a mut Solver {
    let slot = plan.cast::<MultistepSlot>();
    // SAFETY: the caller's contract; the slot fits the storage (asserted above).
    unsafe {
        addr_of_mut!((*slot).tag).write(0);
        addr_of_mut!((*slot).solver).write(solver);
        addr_of_mut!((*slot).tag).write(MULTISTEP_TAG);
        &mut (*slot).solver
    }
}

/// Builds a DPM-Solver plan into `plan` (any storage). On error the plan is built but empty,
/// unless the error is about `plan` itself.
///
/// Errors: as `dc_plan_build`, and `INVALID_SOLVER_ORDER`.
///
/// # Safety
///
/// As `dc_plan_build`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_build_dpm_solver(
    plan: *mut DcMultistepPlan,
    schedule: *const DcScheduleConfig,
    timesteps: *const DcTimestepConfig,
    config: *const DcDpmSolverConfig,
) -> DcStatus {
    status_of((|| {
        for aligned in [
            slices::check(plan, 1),
            slices::check(schedule, 1),
            slices::check(timesteps, 1),
            slices::check(config, 1),
        ] {
            aligned?;
        }
        if plan.is_null() || schedule.is_null() || timesteps.is_null() || config.is_null() {
            return Err(DcStatus::NullPointer);
        }
        // SAFETY: checked non-null and aligned; writable by the caller's contract.
        let solver = unsafe { reset(plan, Solver::DpmSolver(DpmSolverPlan::empty())) };
        // SAFETY: checked non-null and aligned; readable by the caller's contract.
        let (schedule, timesteps, config) = unsafe { (*schedule, *timesteps, *config) };
        // SAFETY: trained betas as the caller's contract says; read only while building.
        let schedule = unsafe { schedule.to_core()? };
        let (timesteps, config) = (timesteps.to_core()?, config.to_core()?);
        if let Solver::DpmSolver(plan) = solver {
            plan.rebuild(&schedule, &timesteps, &config)?;
        }
        Ok(())
    })())
}

/// Builds a UniPC plan into `plan` (any storage). On error the plan is built but empty, unless
/// the error is about `plan` itself.
///
/// Errors: as `dc_plan_build`, and `INVALID_SOLVER_ORDER`.
///
/// # Safety
///
/// As `dc_plan_build`; `config->disable_corrector`, when not empty, must point to
/// `disable_corrector_len` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_build_unipc(
    plan: *mut DcMultistepPlan,
    schedule: *const DcScheduleConfig,
    timesteps: *const DcTimestepConfig,
    config: *const DcUniPcConfig,
) -> DcStatus {
    status_of((|| {
        for aligned in [
            slices::check(plan, 1),
            slices::check(schedule, 1),
            slices::check(timesteps, 1),
            slices::check(config, 1),
        ] {
            aligned?;
        }
        if plan.is_null() || schedule.is_null() || timesteps.is_null() || config.is_null() {
            return Err(DcStatus::NullPointer);
        }
        // SAFETY: checked non-null and aligned; writable by the caller's contract.
        let solver = unsafe { reset(plan, Solver::UniPc(UniPcPlan::empty())) };
        // SAFETY: checked non-null and aligned; readable by the caller's contract.
        let (schedule, timesteps, config) = unsafe { (*schedule, *timesteps, *config) };
        // SAFETY: the arrays as the caller's contract says; read only while building.
        let (schedule, config) = unsafe { (schedule.to_core()?, config.to_core()?) };
        let timesteps = timesteps.to_core()?;
        if let Solver::UniPc(plan) = solver {
            plan.rebuild(&schedule, &timesteps, &config)?;
        }
        Ok(())
    })())
}

impl Solver {
    fn len(&self) -> usize {
        match self {
            Solver::DpmSolver(plan) => plan.len(),
            Solver::UniPc(plan) => plan.len(),
        }
    }

    fn timestep(&self, index: usize) -> Option<u32> {
        match self {
            Solver::DpmSolver(plan) => plan.timesteps().nth(index),
            Solver::UniPc(plan) => plan.timesteps().nth(index),
        }
    }

    fn history_len(&self) -> usize {
        match self {
            Solver::DpmSolver(plan) => plan.history_len(),
            Solver::UniPc(plan) => plan.history_len(),
        }
    }
}

/// The number of steps of a built multistep plan; 0 for NULL or a plan that is not built.
///
/// # Safety
///
/// `plan` must be NULL or point to a readable `DcMultistepPlan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_len(plan: *const DcMultistepPlan) -> usize {
    // SAFETY: the caller's contract.
    unsafe { built(plan) }.map_or(0, Solver::len)
}

/// How many sample-sized buffers the solver remembers: a history over `values` floats needs
/// `dc_multistep_plan_history_len(plan) * values` of them. 0 for NULL or a plan not built.
///
/// # Safety
///
/// `plan` must be NULL or point to a readable `DcMultistepPlan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_history_len(plan: *const DcMultistepPlan) -> usize {
    // SAFETY: the caller's contract.
    unsafe { built(plan) }.map_or(0, Solver::history_len)
}

/// The training timestep of step `index`, into `*timestep`.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `PLAN_NOT_BUILT`, `STEP_INDEX_OUT_OF_RANGE`.
///
/// # Safety
///
/// `plan` must point to a readable `DcMultistepPlan`, `timestep` to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_timestep(
    plan: *const DcMultistepPlan,
    index: usize,
    timestep: *mut u32,
) -> DcStatus {
    status_of((|| {
        slices::check(timestep, 1)?;
        // SAFETY: the caller's contract.
        let solver = unsafe { built(plan)? };
        let value = solver
            .timestep(index)
            .ok_or(DcStatus::StepIndexOutOfRange)?;
        // SAFETY: checked non-null and aligned; writable by the caller's contract.
        unsafe { slices::exclusive(timestep, 1)? }.fill(value);
        Ok(())
    })())
}

/// `sizeof(DcMultistepHistory) / 8`.
pub const DC_MULTISTEP_HISTORY_WORDS: usize = 8;

/// A run's memory: the solver's earlier outputs in a float buffer the caller owns, and the step
/// that may run next. Made by `dc_multistep_history_init`; from then until the run ends the
/// buffer belongs to the history (do not read, write or free it). Steps run in order from 0; a
/// step out of order is `DC_STATUS_STEP_OUT_OF_ORDER`. Initialize it again to start a new run.
#[repr(C)]
pub struct DcMultistepHistory {
    opaque: [u64; DC_MULTISTEP_HISTORY_WORDS],
}

#[repr(C)]
struct HistorySlot {
    tag: u64,
    /// The buffer's span, for the overlap checks of each step.
    buffer: (usize, usize),
    history: MultistepHistory<'static>,
}

/// "dcHIST01": an initialized history.
const HISTORY_TAG: u64 = u64::from_le_bytes(*b"dcHIST01");

const _: () = assert!(size_of::<HistorySlot>() <= size_of::<DcMultistepHistory>());
const _: () = assert!(align_of::<HistorySlot>() <= align_of::<DcMultistepHistory>());

/// Makes `history` the memory of a run of `plan` over `values` floats (one sample, or a whole
/// batch) in `buffer`, which must hold exactly `dc_multistep_plan_history_len(plan) * values`
/// floats (NULL and 0 when that is 0). Its contents do not matter.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `ARRAY_TOO_LONG`, `PLAN_NOT_BUILT`,
/// `LENGTH_MISMATCH` (the buffer's length).
///
/// # Safety
///
/// `history` must point to writable storage of a `DcMultistepHistory`, `plan` to a readable
/// `DcMultistepPlan`, `buffer` to `buffer_len` writable floats that stay valid, and untouched
/// by anything else, as long as the history is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_history_init(
    history: *mut DcMultistepHistory,
    plan: *const DcMultistepPlan,
    buffer: *mut f32,
    buffer_len: usize,
    values: usize,
) -> DcStatus {
    status_of((|| {
        slices::check(history, 1)?;
        if history.is_null() {
            return Err(DcStatus::NullPointer);
        }
        // SAFETY: the caller's contract.
        let solver = unsafe { built(plan)? };
        slices::check(buffer, buffer_len)?;
        // SAFETY: checked; the buffer is the history's for as long as it is used (the
        // caller's contract), which the 'static lifetime stands for.
        let slice: &'static mut [f32] = unsafe { slices::exclusive(buffer, buffer_len)? };
        let made = match solver {
            Solver::DpmSolver(plan) => plan.history(slice, values),
            Solver::UniPc(plan) => plan.history(slice, values),
        }?;
        let slot = history.cast::<HistorySlot>();
        // SAFETY: non-null, aligned (checked), writable and large enough (asserted above).
        unsafe {
            slot.write(HistorySlot {
                tag: HISTORY_TAG,
                buffer: (buffer as usize, buffer_len),
                history: made,
            });
        }
        Ok(())
    })())
}

/// Step `index` of a multistep plan on `batch` samples laid out one after another (as
/// `dc_plan_step_batch`), with their model outputs and the run's `history` (made for
/// `samples_len` floats, having run steps 0 … index − 1). `scratch` for dynamic thresholding
/// only (one sample long), else NULL and 0. On error nothing changes.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `ARRAY_TOO_LONG`, `OVERLAPPING_ARRAYS` (also
/// with the history's buffer), `PLAN_NOT_BUILT` (plan or history), `STEP_INDEX_OUT_OF_RANGE`,
/// `STEP_OUT_OF_ORDER`, `LENGTH_MISMATCH`, `FOREIGN_HISTORY` (a history initialized with another
/// plan, or with this one before it was built again differently).
///
/// # Safety
///
/// Each pointer must point to as many valid elements as its length says; `samples`, `history`
/// and `scratch` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_multistep_plan_step_batch(
    plan: *const DcMultistepPlan,
    index: usize,
    batch: usize,
    samples: *mut f32,
    samples_len: usize,
    model_output: *const f32,
    model_output_len: usize,
    history: *mut DcMultistepHistory,
    scratch: *mut f32,
    scratch_len: usize,
) -> DcStatus {
    status_of((|| {
        // SAFETY: the caller's contract.
        let solver = unsafe { built(plan)? };
        slices::check(history, 1)?;
        slices::check(samples, samples_len)?;
        slices::check(model_output, model_output_len)?;
        slices::check(scratch, scratch_len)?;
        if history.is_null() || samples.is_null() || model_output.is_null() {
            return Err(DcStatus::NullPointer);
        }
        let slot = history.cast::<HistorySlot>();
        // SAFETY: non-null and aligned (checked); the tag is a plain u64 at the start.
        if unsafe { core::ptr::addr_of!((*slot).tag).read() } != HISTORY_TAG {
            return Err(DcStatus::PlanNotBuilt);
        }
        // SAFETY: tagged, so initialized by dc_multistep_history_init.
        let (buffer_start, buffer_len) = unsafe { (*slot).buffer };
        slices::disjoint(&[
            Span::of(samples, samples_len),
            Span::of(model_output, model_output_len),
            Span::of(scratch, scratch_len),
            Span::of(buffer_start as *const f32, buffer_len),
            Span::of(history, 1),
        ])?;
        // SAFETY: checked (non-null unless empty, aligned, not too long, disjoint from each
        // other and from the history's buffer); valid by the caller's contract.
        let (samples, model_output, scratch, history) = unsafe {
            (
                slices::exclusive(samples, samples_len)?,
                slices::shared(model_output, model_output_len)?,
                slices::exclusive(scratch, scratch_len)?,
                &mut (*slot).history,
            )
        };
        match solver {
            Solver::DpmSolver(plan) => {
                plan.step_batch(index, batch, samples, model_output, history, scratch)
            }
            Solver::UniPc(plan) => {
                plan.step_batch(index, batch, samples, model_output, history, scratch)
            }
        }?;
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{dc_schedule_config_default, dc_timestep_config_default};
    use diffusion_core::ScheduleConfig;

    #[test]
    fn the_storage_wastes_no_word_on_this_target() {
        let waste = size_of::<DcMultistepPlan>() - size_of::<MultistepSlot>();
        assert!(waste < 8, "{}", size_of::<MultistepSlot>());
        let waste = size_of::<DcMultistepHistory>() - size_of::<HistorySlot>();
        assert!(waste < 8, "{}", size_of::<HistorySlot>());
    }

    /// A C-style run of `plan` (built by `build`) vs the core's `reference` run, over 3 values.
    fn c_run_equals_the_cores(solver_config: &str) {
        let mut plan = std::boxed::Box::new(DcMultistepPlan {
            opaque: [0; DC_MULTISTEP_PLAN_WORDS],
        });
        let schedule = dc_schedule_config_default();
        let timesteps = DcTimestepConfig {
            num_inference_steps: 8,
            ..dc_timestep_config_default()
        };
        let core_timesteps = timesteps.to_core().unwrap();
        let mut history = DcMultistepHistory {
            opaque: [0; DC_MULTISTEP_HISTORY_WORDS],
        };
        let mut buffer = [0.0f32; 9];
        let (mut from_c, mut from_core) = ([0.7f32, -0.2, 1.1], [0.7f32, -0.2, 1.1]);
        let mut core_buffer = [0.0f32; 9];
        let status = match solver_config {
            "dpm" => unsafe {
                dc_multistep_plan_build_dpm_solver(
                    &mut *plan,
                    &schedule,
                    &timesteps,
                    &DcDpmSolverConfig {
                        solver_order: 3,
                        ..dc_dpm_solver_config_default()
                    },
                )
            },
            _ => unsafe {
                dc_multistep_plan_build_unipc(
                    &mut *plan,
                    &schedule,
                    &timesteps,
                    &dc_unipc_config_default(),
                )
            },
        };
        assert_eq!(status, DcStatus::Ok);
        // SAFETY: valid pointers throughout.
        unsafe {
            let len = dc_multistep_plan_history_len(&*plan) * 3;
            assert_eq!(
                dc_multistep_history_init(&mut history, &*plan, buffer.as_mut_ptr(), len + 1, 3),
                DcStatus::LengthMismatch
            );
            assert_eq!(
                dc_multistep_history_init(&mut history, &*plan, buffer.as_mut_ptr(), len, 3),
                DcStatus::Ok
            );
            let core_config = DpmSolverConfig {
                solver_order: 3,
                ..DpmSolverConfig::default()
            };
            let dpm: DpmSolverPlan<8> =
                DpmSolverPlan::new(&ScheduleConfig::default(), &core_timesteps, &core_config)
                    .unwrap();
            let unipc: UniPcPlan<8> = UniPcPlan::new(
                &ScheduleConfig::default(),
                &core_timesteps,
                &UniPcConfig::default(),
            )
            .unwrap();
            let mut core_history = if solver_config == "dpm" {
                dpm.history(&mut core_buffer[..len], 3).unwrap()
            } else {
                unipc.history(&mut core_buffer[..len], 3).unwrap()
            };
            for index in 0..8 {
                let epsilon = from_c.map(|x| 0.3 * x - 0.1);
                let step = |index, history: *mut DcMultistepHistory, sample: *mut f32| {
                    dc_multistep_plan_step_batch(
                        &*plan,
                        index,
                        1,
                        sample,
                        3,
                        epsilon.as_ptr(),
                        3,
                        history,
                        core::ptr::null_mut(),
                        0,
                    )
                };
                let later = step(index + 1, &mut history, from_c.as_mut_ptr());
                let expected = if index + 1 < 8 {
                    DcStatus::StepOutOfOrder
                } else {
                    DcStatus::StepIndexOutOfRange
                };
                assert_eq!(later, expected);
                assert_eq!(
                    step(index, core::ptr::null_mut(), from_c.as_mut_ptr()),
                    DcStatus::NullPointer
                );
                assert_eq!(
                    step(index, &mut history, buffer.as_mut_ptr()),
                    DcStatus::OverlappingArrays
                );
                assert_eq!(step(index, &mut history, from_c.as_mut_ptr()), DcStatus::Ok);
                let epsilon = from_core.map(|x| 0.3 * x - 0.1);
                if solver_config == "dpm" {
                    dpm.step(index, &mut from_core, &epsilon, &mut core_history, &mut [])
                } else {
                    unipc.step(index, &mut from_core, &epsilon, &mut core_history, &mut [])
                }
                .unwrap();
            }
        }
        assert_eq!(from_c.map(f32::to_bits), from_core.map(f32::to_bits));
    }

    #[test]
    fn dpm_solver_from_c_steps_as_the_core() {
        c_run_equals_the_cores("dpm");
    }

    #[test]
    fn unipc_from_c_steps_as_the_core() {
        c_run_equals_the_cores("unipc");
    }
}
