//! DDPM/DDIM plans in caller storage, and their steps over C arrays.

use core::mem::{align_of, size_of};
use core::ptr::addr_of_mut;

use diffusion_core::{DdpmDdimPlan, NoiseSource};

use crate::config::{DcSamplerConfig, DcScheduleConfig, DcTimestepConfig};
use crate::noise::{DcNoiseStream, as_generators};
use crate::slices::{self, Span};
use crate::status::{DcStatus, status_of};

/// The most steps a `DcPlan` holds. A plan stores 48 bytes per step, so the capacity sets
/// `sizeof(DcPlan)` (about 4.8 KB); DDPM over all 1000 training timesteps needs a Rust caller
/// with a larger `DdpmDdimPlan`.
pub const DC_PLAN_CAPACITY: usize = 100;

/// `sizeof(DcPlan) / 8`: the plan's storage in 64-bit words (the size of the largest target's
/// plan; a 32-bit target uses a few bytes less of it).
pub const DC_PLAN_WORDS: usize = 604;

/// Storage for a realized DDPM or DDIM run of at most `DC_PLAN_CAPACITY` steps: per step, its
/// timestep and weights. Opaque: declare one (a `static` on a microcontroller), build it with
/// `dc_plan_build`, then pass it to the step functions. Its contents hold no pointers, so a built
/// plan may be copied with `memcpy`. Using one that was never built is
/// `DC_STATUS_PLAN_NOT_BUILT` (for storage that starts zeroed, such as a `static`; garbage
/// storage could, with odds of 2⁻⁶⁴, look built).
#[repr(C)]
pub struct DcPlan {
    opaque: [u64; DC_PLAN_WORDS],
}

/// What `DcPlan`'s storage holds: a tag that says it was built, then the core's plan.
#[repr(C)]
struct PlanSlot {
    tag: u64,
    plan: DdpmDdimPlan<DC_PLAN_CAPACITY>,
}

/// "dcPLAN v1" in ASCII: a built plan.
const PLAN_TAG: u64 = u64::from_le_bytes(*b"dcPLANv1");

const _: () = assert!(size_of::<PlanSlot>() <= size_of::<DcPlan>());
const _: () = assert!(align_of::<PlanSlot>() <= align_of::<DcPlan>());

/// The built plan in `plan`'s storage, or why there is none.
///
/// # Safety
///
/// `plan`, when non-null and aligned, must point to a `DcPlan` that nothing writes for `'a`.
unsafe fn built<'a>(plan: *const DcPlan) -> Result<&'a DdpmDdimPlan<DC_PLAN_CAPACITY>, DcStatus> {
    slices::check(plan, 1)?;
    let slot = plan.cast::<PlanSlot>();
    // SAFETY: non-null and aligned (checked); the tag is a plain u64 at the start of the storage.
    let tag = unsafe { core::ptr::addr_of!((*slot).tag).read() };
    if tag != PLAN_TAG {
        return Err(DcStatus::PlanNotBuilt);
    }
    // SAFETY: only `dc_plan_build` writes the tag, after writing a valid plan.
    Ok(unsafe { &(*slot).plan })
}

/// Builds the plan for `schedule`, `timesteps` and `sampler` into `plan` (any storage: it need
/// not be zeroed or built before). On error the plan is left built but empty (its steps return
/// `DC_STATUS_STEP_INDEX_OUT_OF_RANGE`), unless the error is about `plan` itself.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `INVALID_ENUM_VALUE`, and the core's:
/// `INVALID_TRAIN_TIMESTEPS`, `INVALID_BETA_RANGE`, `TRAINED_BETAS_LENGTH`,
/// `INVALID_TRAINED_BETA`, `INVALID_STEP_COUNT`, `TIMESTEP_OUT_OF_RANGE`, `INVALID_ETA`,
/// `INVALID_CLIP_RANGE`, `INVALID_THRESHOLD`, `CAPACITY_EXCEEDED` (more than
/// `DC_PLAN_CAPACITY` steps), `DEGENERATE_SCHEDULE`.
///
/// # Safety
///
/// `plan` must point to writable storage of a `DcPlan`; the configs to readable structs (and
/// `schedule->trained_betas`, when used, to `trained_betas_len` floats).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_plan_build(
    plan: *mut DcPlan,
    schedule: *const DcScheduleConfig,
    timesteps: *const DcTimestepConfig,
    sampler: *const DcSamplerConfig,
) -> DcStatus {
    status_of((|| {
        slices::check(plan, 1)?;
        slices::check(schedule, 1)?;
        slices::check(timesteps, 1)?;
        slices::check(sampler, 1)?;
        if schedule.is_null() || timesteps.is_null() || sampler.is_null() {
            return Err(DcStatus::NullPointer);
        }
        let slot = plan.cast::<PlanSlot>();
        // SAFETY: `plan` is non-null, aligned and writable for a DcPlan, which holds a PlanSlot
        // (asserted above). The plan is written before the tag that marks it valid.
        let plan = unsafe {
            addr_of_mut!((*slot).tag).write(0);
            addr_of_mut!((*slot).plan).write(DdpmDdimPlan::empty());
            addr_of_mut!((*slot).tag).write(PLAN_TAG);
            &mut (*slot).plan
        };
        // SAFETY: non-null and aligned (checked), readable by the caller's contract.
        let (schedule, timesteps, sampler) = unsafe { (*schedule, *timesteps, *sampler) };
        // SAFETY: trained betas as the caller's contract says; read only during `rebuild`.
        let schedule = unsafe { schedule.to_core()? };
        let (timesteps, sampler) = (timesteps.to_core()?, sampler.to_core()?);
        plan.rebuild(&schedule, &timesteps, &sampler)?;
        Ok(())
    })())
}

/// The number of steps of a built plan; 0 for NULL or a plan that is not built.
///
/// # Safety
///
/// `plan` must be NULL or point to a readable `DcPlan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_plan_len(plan: *const DcPlan) -> usize {
    // SAFETY: the caller's contract.
    unsafe { built(plan) }.map_or(0, |plan| plan.len())
}

/// The training timestep at which the model is evaluated for step `index`, into `*timestep`.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `PLAN_NOT_BUILT`, `STEP_INDEX_OUT_OF_RANGE`.
///
/// # Safety
///
/// `plan` must point to a readable `DcPlan`, `timestep` to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_plan_timestep(
    plan: *const DcPlan,
    index: usize,
    timestep: *mut u32,
) -> DcStatus {
    status_of((|| {
        slices::check(timestep, 1)?;
        // SAFETY: the caller's contract.
        let plan = unsafe { built(plan)? };
        let steps = plan.steps();
        let step = steps.get(index).ok_or(DcStatus::StepIndexOutOfRange)?;
        // SAFETY: checked non-null and aligned; writable by the caller's contract.
        let timestep = unsafe { slices::exclusive(timestep, 1)? };
        timestep.fill(step.timestep);
        Ok(())
    })())
}

/// Noise for steps that draw none: lets `noise` be NULL for DDIM η = 0 and for last steps.
struct NoNoise;

impl NoiseSource for NoNoise {
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        // Never called: only steps that draw no noise get this source.
        out.fill(0.0);
    }
}

/// Whether step `index` of `plan` draws noise (false past the end: the core reports that).
fn draws_noise(plan: &DdpmDdimPlan<DC_PLAN_CAPACITY>, index: usize) -> bool {
    plan.steps().get(index).is_some_and(|step| step.adds_noise)
}

/// Step `index` on one sample, in place: `sample[0 .. sample_len]` goes from the step's timestep
/// to the next. `model_output` is the model's output for this sample at `dc_plan_timestep(index)`
/// (`sample_len` floats, or twice that with variance channels); `noise` is this sample's stream
/// (may be NULL when the step draws no noise: DDIM η = 0, or the last step); `scratch` is needed
/// only for dynamic thresholding (≥ `sample_len` floats), else NULL and 0. On error the sample is
/// unchanged.
///
/// Errors: `NULL_POINTER`, `MISALIGNED_POINTER`, `ARRAY_TOO_LONG`, `OVERLAPPING_ARRAYS`,
/// `PLAN_NOT_BUILT`, `STEP_INDEX_OUT_OF_RANGE`, `LENGTH_MISMATCH`, `MISSING_VARIANCE_CHANNELS`.
///
/// # Safety
///
/// Each pointer must be NULL where allowed or point to as many valid elements as its length
/// says (`noise`: one stream); `sample`, `noise` and `scratch` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_plan_step(
    plan: *const DcPlan,
    index: usize,
    sample: *mut f32,
    sample_len: usize,
    model_output: *const f32,
    model_output_len: usize,
    noise: *mut DcNoiseStream,
    scratch: *mut f32,
    scratch_len: usize,
) -> DcStatus {
    let noise_len = usize::from(!noise.is_null());
    // SAFETY: the caller's contract is step_batch's with a batch of one.
    unsafe {
        dc_plan_step_batch(
            plan,
            index,
            1,
            sample,
            sample_len,
            model_output,
            model_output_len,
            noise,
            noise_len,
            scratch,
            scratch_len,
        )
    }
}

/// Step `index` on `batch` samples laid out one after another in `samples[0 .. samples_len]`
/// (`samples_len` a multiple of `batch`), with their model outputs in the same layout (each
/// followed by its variance channels when the step learns its variance) and `noise[0 .. batch]`,
/// stream i for sample i, so sample i's result does not depend on the batch. `noise` may be NULL
/// with `noise_len` 0 when the step draws no noise. `scratch` as in `dc_plan_step` (one sample
/// long). Counts and lengths are checked before any sample changes.
///
/// Errors: as `dc_plan_step`; `LENGTH_MISMATCH` also when `noise_len` ≠ `batch`.
///
/// # Safety
///
/// Each pointer must be NULL where allowed or point to as many valid elements as its length
/// says; `samples`, `noise` and `scratch` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_plan_step_batch(
    plan: *const DcPlan,
    index: usize,
    batch: usize,
    samples: *mut f32,
    samples_len: usize,
    model_output: *const f32,
    model_output_len: usize,
    noise: *mut DcNoiseStream,
    noise_len: usize,
    scratch: *mut f32,
    scratch_len: usize,
) -> DcStatus {
    status_of((|| {
        // SAFETY: the caller's contract.
        let plan = unsafe { built(plan)? };
        slices::check(samples, samples_len)?;
        slices::check(model_output, model_output_len)?;
        slices::check(noise, noise_len)?;
        slices::check(scratch, scratch_len)?;
        if samples.is_null() || model_output.is_null() {
            return Err(DcStatus::NullPointer);
        }
        slices::disjoint(&[
            Span::of(samples, samples_len),
            Span::of(model_output, model_output_len),
            Span::of(noise, noise_len),
            Span::of(scratch, scratch_len),
        ])?;
        // SAFETY: checked (non-null unless empty, aligned, not too long, disjoint); valid by
        // the caller's contract.
        let (samples, model_output, scratch) = unsafe {
            (
                slices::exclusive(samples, samples_len)?,
                slices::shared(model_output, model_output_len)?,
                slices::exclusive(scratch, scratch_len)?,
            )
        };
        if noise.is_null() {
            if draws_noise(plan, index) {
                return Err(DcStatus::NullPointer);
            }
            // Zero-sized sources: any non-null aligned pointer makes a valid slice of them.
            // SAFETY: a slice of a zero-sized type reads no memory.
            let none = unsafe {
                core::slice::from_raw_parts_mut(
                    core::ptr::NonNull::<NoNoise>::dangling().as_ptr(),
                    batch,
                )
            };
            return Ok(plan.step_batch(index, batch, samples, model_output, none, scratch)?);
        }
        // SAFETY: checked above; exclusive by the caller's contract.
        let noise = as_generators(unsafe { slices::exclusive(noise, noise_len)? });
        Ok(plan.step_batch(index, batch, samples, model_output, noise, scratch)?)
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        dc_sampler_config_default, dc_schedule_config_default, dc_timestep_config_default,
    };
    use crate::noise::dc_noise_stream;
    use diffusion_core::{DdpmDdimConfig, ScheduleConfig, noise_stream};

    #[test]
    fn the_storage_wastes_no_word_on_this_target() {
        assert!(
            size_of::<DcPlan>() - size_of::<PlanSlot>() < 8,
            "{}",
            size_of::<PlanSlot>()
        );
    }

    #[test]
    fn a_c_plan_steps_as_the_cores_plan() {
        let mut storage = std::boxed::Box::new(DcPlan {
            opaque: [0; DC_PLAN_WORDS],
        });
        let (schedule, mut timesteps) =
            (dc_schedule_config_default(), dc_timestep_config_default());
        timesteps.num_inference_steps = 10;
        let mut sampler = dc_sampler_config_default();
        sampler.eta = 1.0;
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(dc_plan_len(&*storage), 0);
            assert_eq!(
                dc_plan_build(&mut *storage, &schedule, &timesteps, &sampler),
                DcStatus::Ok
            );
            assert_eq!(dc_plan_len(&*storage), 10);
        }
        let core_sampler = DdpmDdimConfig {
            rule: sampler.to_core().unwrap().rule,
            ..DdpmDdimConfig::default()
        };
        let core: DdpmDdimPlan<10> = DdpmDdimPlan::new(
            &ScheduleConfig::default(),
            &timesteps.to_core().unwrap(),
            &core_sampler,
        )
        .unwrap();

        let (mut from_c, mut from_core) = ([0.25f32, -0.5, 1.0], [0.25f32, -0.5, 1.0]);
        let (mut stream, mut generator) = (dc_noise_stream(9, 4), noise_stream(9, 4));
        for index in 0..10 {
            let epsilon = from_c.map(|x| 0.1 * x);
            // SAFETY: valid pointers and lengths.
            let status = unsafe {
                dc_plan_step(
                    &*storage,
                    index,
                    from_c.as_mut_ptr(),
                    3,
                    epsilon.as_ptr(),
                    3,
                    &mut stream,
                    core::ptr::null_mut(),
                    0,
                )
            };
            assert_eq!(status, DcStatus::Ok);
            let epsilon = from_core.map(|x| 0.1 * x);
            core.step(index, &mut from_core, &epsilon, &mut generator, &mut [])
                .unwrap();
        }
        assert_eq!(from_c.map(f32::to_bits), from_core.map(f32::to_bits));

        let (sample, epsilon) = (from_c.as_mut_ptr(), [0.0f32; 3]);
        let zeroed = std::boxed::Box::new(DcPlan {
            opaque: [0; DC_PLAN_WORDS],
        });
        let step = |plan: &DcPlan, index, noise: *mut DcNoiseStream, len| {
            // SAFETY: valid pointers; the errors are caught before any access.
            unsafe {
                dc_plan_step(
                    plan,
                    index,
                    sample,
                    len,
                    epsilon.as_ptr(),
                    3,
                    noise,
                    core::ptr::null_mut(),
                    0,
                )
            }
        };
        let (built, null) = (&*storage, core::ptr::null_mut());
        assert_eq!(
            step(built, 10, &mut stream, 3),
            DcStatus::StepIndexOutOfRange
        );
        assert_eq!(step(built, 0, null, 3), DcStatus::NullPointer); // η = 1 draws noise
        assert_eq!(step(built, 9, null, 3), DcStatus::Ok); // the last step does not
        assert_eq!(step(built, 0, &mut stream, 2), DcStatus::LengthMismatch);
        assert_eq!(step(&zeroed, 0, &mut stream, 3), DcStatus::PlanNotBuilt);
    }
}
