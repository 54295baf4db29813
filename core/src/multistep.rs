//! The state and the per-element pass of multistep solvers (DPM-Solver; UniPC, whose history also
//! keeps the last sample for its corrector, has its own pass in [`crate::unipc`]).
//!
//! A multistep solver of order k combines the model's current output with the converted outputs
//! of the k − 1 steps before it. Those earlier outputs are the solver's memory; here they live in
//! a [`MultistepHistory`], a caller-provided slice of `history_len · values` floats (one
//! sample-sized buffer per remembered output), together with the index of the next step, so that a
//! step run out of order or against a history of the wrong size is an [`Error`] rather than a
//! silently wrong sample.
//!
//! Step i of a plan remembering L outputs writes its converted output into buffer i mod L, after
//! reading there the output of step i − L (a ring: no copying between steps). With u the current
//! converted output and h₁, h₂ the outputs of steps i − 1 and i − 2, the pass is, per element,
//!
//! ```text
//! x̂₀      = clip(w_x·x + w_m·m)                       (only when clipping)
//! u       = u_x·x + u_m·m  or  u_x·x + u₀·x̂₀          (without / with clipping)
//! x_next  = a·x + c₀·u + c₁·h₁ + c₂·h₂
//! ```
//!
//! with every weight precomputed in f64 and stored in f32, and plain f32 arithmetic (no fused
//! multiply-add) so that every target gets the same bits.

use crate::clipping::{SampleClipping, quantile};
use crate::error::{Error, SliceKind};
use crate::noise_level::Level;
use crate::schedule::ScheduleConfig;
use crate::sigmas::{SigmaSchedule, sigmas_to_timesteps, training_sigmas};
use crate::timesteps::{TimestepConfig, TimestepSpacing};
use heapless::Vec;

/// A step of a multistep plan, as [`fill_points`] fills it: its timestep and level.
pub(crate) trait MultistepPoint: Default {
    /// The step at `timestep`, its level still to be set.
    fn at(timestep: u32) -> Self;
    /// Its timestep.
    fn timestep(&self) -> u32;
    /// Sets its timestep.
    fn set_timestep(&mut self, timestep: u32);
    /// Sets its level.
    fn set_level(&mut self, level: Level);
}

/// Fills `steps` with the timesteps of a DPM-Solver or UniPC run as diffusers builds them (for
/// `linspace` and `leading` the first N of N + 1 points of the core's array; `trailing` as is) and
/// ᾱ at each, in one ascending pass over the schedule (a zero-terminal-SNR ᾱ_{T−1} becomes 2⁻²⁴,
/// diffusers' "close to 0 without being 0 so first sigma is not inf"). Returns ᾱ₀.
#[inline(always)]
pub(crate) fn fill_points<S: MultistepPoint, const CAPACITY: usize>(
    schedule: &ScheduleConfig<'_>,
    timesteps: &TimestepConfig,
    steps: &mut Vec<S, CAPACITY>,
) -> Result<f32, Error> {
    let train_timesteps = schedule.num_train_timesteps;
    let alphas_cumprod = schedule.alphas_cumprod()?;
    let count = timesteps.num_inference_steps;
    let realized = match timesteps.spacing {
        TimestepSpacing::Trailing => *timesteps,
        _ => TimestepConfig {
            num_inference_steps: count.saturating_add(1),
            ..*timesteps
        },
    };
    let invalid_count = Error::InvalidStepCount {
        steps: count,
        num_train_timesteps: train_timesteps,
    };
    if count == 0 {
        return Err(invalid_count);
    }
    let planned = realized
        .timesteps(train_timesteps)
        .map_err(|error| match error {
            Error::InvalidStepCount { .. } => invalid_count,
            other => other,
        })?;
    let count = count as usize;
    if count > CAPACITY {
        return Err(Error::CapacityExceeded {
            needed: count,
            capacity: CAPACITY,
        });
    }
    for timestep in planned.take(count) {
        steps
            .push(S::at(timestep))
            .map_err(|_| Error::CapacityExceeded {
                needed: CAPACITY + 1,
                capacity: CAPACITY,
            })?;
    }
    // One ascending pass over ᾱ fills the descending plan from its end.
    let mut first_alpha_cumprod = 1.0f32;
    let mut pending = steps.iter_mut().rev().peekable();
    for (t, alpha_cumprod) in alphas_cumprod {
        let mut alpha_cumprod = alpha_cumprod as f32;
        if schedule.rescale_betas_zero_snr && t + 1 == train_timesteps {
            alpha_cumprod = libm::ldexpf(1.0, -24);
        }
        if t == 0 {
            first_alpha_cumprod = alpha_cumprod;
        }
        if let Some(step) = pending.next_if(|step| step.timestep() == t) {
            step.set_level(Level::AlphaCumprod(alpha_cumprod));
        }
    }
    Ok(first_alpha_cumprod)
}

/// How a sigma schedule's fractional timesteps become the integer timesteps a multistep plan
/// gives the model (diffusers casts them to int64 after the optional `round()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimestepRounding {
    /// `numpy.round` (half to even), then the cast.
    Nearest,
    /// The cast alone: toward zero.
    TowardZero,
}

/// Fills `steps` with the `count` sigmas of `sigma_schedule` between `sigma_min` and `sigma_max`
/// (each defaulting to the training sigma at t = 0 and t = T − 1, as diffusers'
/// `_convert_to_karras` and friends take them from the flipped training sigmas), each at the
/// training timestep diffusers maps it back to (`_sigma_to_t`, then `rounding`). Returns ᾱ₀.
#[inline(always)]
pub(crate) fn fill_sigma_points<S: MultistepPoint, const CAPACITY: usize>(
    schedule: &ScheduleConfig<'_>,
    count: u32,
    sigma_schedule: SigmaSchedule,
    range: (Option<f64>, Option<f64>),
    rounding: TimestepRounding,
    steps: &mut Vec<S, CAPACITY>,
) -> Result<f32, Error> {
    if !cfg!(feature = "sigma-schedules") {
        return Err(Error::SigmaScheduleDisabled);
    }
    let train_timesteps = schedule.num_train_timesteps;
    let mut first_alpha_cumprod = 1.0f32;
    let (mut sigma_zero, mut sigma_last) = (0.0f32, 0.0f32);
    for (t, alpha_cumprod) in schedule.alphas_cumprod()? {
        if t == 0 {
            first_alpha_cumprod = alpha_cumprod as f32;
        }
    }
    for (t, sigma) in training_sigmas(schedule)? {
        if t == 0 {
            sigma_zero = sigma;
        }
        sigma_last = sigma;
    }
    if count == 0 {
        return Err(Error::InvalidStepCount {
            steps: count,
            num_train_timesteps: train_timesteps,
        });
    }
    let count = count as usize;
    if count > CAPACITY {
        return Err(Error::CapacityExceeded {
            needed: count,
            capacity: CAPACITY,
        });
    }
    let sigma_min = range.0.unwrap_or(sigma_zero as f64);
    let sigma_max = range.1.unwrap_or(sigma_last as f64);
    let valid = |sigma: f64| sigma.is_finite() && sigma > 0.0;
    if !(valid(sigma_min) && valid(sigma_max) && sigma_min <= sigma_max) {
        return Err(Error::InvalidSigmaRange {
            sigma_min,
            sigma_max,
        });
    }
    let target = |index: usize| {
        sigma_schedule
            .sigma(index, count, sigma_min, sigma_max)
            .unwrap_or(f64::NAN)
    };
    for index in 0..count {
        let mut step = S::at(0);
        step.set_level(Level::Sigma(target(index) as f32));
        steps.push(step).map_err(|_| Error::CapacityExceeded {
            needed: count,
            capacity: CAPACITY,
        })?;
    }
    let mut degenerate = None;
    sigmas_to_timesteps(schedule, count, target, |index, timestep| {
        let timestep = match rounding {
            TimestepRounding::Nearest => libm::rint(timestep),
            TimestepRounding::TowardZero => libm::trunc(timestep),
        };
        if !(timestep >= 0.0 && timestep < train_timesteps as f64) {
            degenerate = Some(index);
        }
        if let Some(step) = steps.get_mut(index) {
            step.set_timestep(timestep as u32);
        }
    })?;
    if let Some(index) = degenerate {
        return Err(Error::DegenerateSchedule {
            timestep: steps.get(index).map_or(0, |step| step.timestep()),
        });
    }
    Ok(first_alpha_cumprod)
}

/// Where a plan's fingerprint starts: FNV-1a's 32-bit offset basis.
pub(crate) const FINGERPRINT_START: u32 = 0x811C_9DC5;

/// Identifies a plan for the histories it makes: FNV-1a (32-bit) over words of its per-step
/// weights, continued from `hash` (which starts at [`FINGERPRINT_START`]), step by step as the
/// plan computes them, so that it costs no pass of its own. Plans whose fingerprinted weights are
/// the same are the same plan as far as a history is concerned; two that differ there differ
/// here, but for a 2⁻³² chance of collision.
#[inline(always)]
pub(crate) fn fingerprint<const N: usize>(hash: u32, words: [u32; N]) -> u32 {
    let mut hash = hash;
    for word in words {
        hash = (hash ^ word).wrapping_mul(0x0100_0193);
    }
    hash
}

/// A multistep solver's memory: earlier converted model outputs in a caller-provided slice, and
/// the index of the step that may run next.
///
/// Made by a plan (e.g. [`crate::DpmSolverPlan::history`]), which checks the slice's length:
/// `history_len · values` floats, `values` being the length of the sample (or of the whole batch)
/// the steps will update. A new history expects step 0; [`MultistepHistory::reset`] starts a run
/// over with the same slice. Its contents before a run do not matter: no step reads a buffer that
/// an earlier step of the same run has not written.
///
/// A history knows the plan that made it (a fingerprint of the plan's weights): a step of another
/// plan is [`Error::ForeignHistory`], even when both plans have the same length.
#[derive(Debug)]
pub struct MultistepHistory<'a> {
    buffer: &'a mut [f32],
    /// At most 3; a `u32` so that it and `plan` share one word on 64-bit targets.
    buffers: u32,
    /// The fingerprint of the plan that made the history.
    plan: u32,
    values: usize,
    next_step: usize,
}

impl<'a> MultistepHistory<'a> {
    /// Checks that `buffer` holds exactly `buffers` buffers of `values` floats each; the history
    /// belongs to the plan with fingerprint `plan`.
    pub(crate) fn new(
        buffer: &'a mut [f32],
        buffers: usize,
        values: usize,
        plan: u32,
    ) -> Result<Self, Error> {
        let expected = buffers.checked_mul(values).ok_or(Error::LengthMismatch {
            slice: SliceKind::History,
            expected: usize::MAX,
            actual: buffer.len(),
        })?;
        if buffer.len() != expected {
            return Err(Error::LengthMismatch {
                slice: SliceKind::History,
                expected,
                actual: buffer.len(),
            });
        }
        Ok(MultistepHistory {
            buffer,
            // A plan remembers at most 3 buffers.
            buffers: buffers as u32,
            plan,
            values,
            next_step: 0,
        })
    }

    /// The index of the step this history expects next (0 for a new or reset history).
    pub fn next_step(&self) -> usize {
        self.next_step
    }

    /// The number of floats per buffer: the length of the sample or batch it serves.
    pub fn values(&self) -> usize {
        self.values
    }

    /// Starts a new run: the next step must be step 0. The buffers keep their values, which the
    /// new run overwrites before it reads them.
    pub fn reset(&mut self) {
        self.next_step = 0;
    }

    /// Checks that step `index` of the plan with fingerprint `plan`, remembering `buffers`
    /// outputs, may run on `values` floats: the size this history was made for, the plan that
    /// made it, and the order of steps.
    pub(crate) fn check(
        &self,
        index: usize,
        buffers: usize,
        values: usize,
        plan: u32,
    ) -> Result<(), Error> {
        if self.buffers as usize != buffers {
            return Err(Error::LengthMismatch {
                slice: SliceKind::History,
                expected: buffers.saturating_mul(self.values),
                actual: self.buffer.len(),
            });
        }
        if self.values != values {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: self.values,
                actual: values,
            });
        }
        if self.plan != plan {
            return Err(Error::ForeignHistory);
        }
        if index != self.next_step {
            return Err(Error::StepOutOfOrder {
                index,
                expected: self.next_step,
            });
        }
        Ok(())
    }

    /// The whole slice, for a solver that lays out its own buffers (UniPC's outputs and last
    /// sample).
    pub(crate) fn buffer_mut(&mut self) -> &mut [f32] {
        self.buffer
    }

    /// Records that step `index` ran.
    pub(crate) fn advance(&mut self, index: usize) {
        self.next_step = index + 1;
    }

    /// Buffer `slot` restricted to `range` (for one sample of a batch), as the two roles a step
    /// needs: the slot it writes (and may read first) and another slot it only reads.
    pub(crate) fn slots(
        &mut self,
        write: usize,
        read: usize,
        start: usize,
        count: usize,
    ) -> (&mut [f32], &[f32]) {
        let values = self.values;
        let Some((low, high)) = self.buffer.split_at_mut_checked(write.max(read) * values) else {
            return (&mut [], &[]);
        };
        let (write_part, read_part): (&mut [f32], &[f32]) = if write < read {
            (&mut low[write * values..], high)
        } else if write > read {
            (high, &low[read * values..])
        } else {
            (high, &[])
        };
        // In range for a checked history; empty (never a panic) otherwise.
        let write_slice = write_part.get_mut(start..start + count).unwrap_or_default();
        let read_slice = read_part.get(start..start + count).unwrap_or_default();
        (write_slice, read_slice)
    }
}

/// min(max(x, low), high), keeping NaN, without `f32::clamp`'s panic path (see `step.rs`).
#[inline(always)]
fn clamp(x: f32, low: f32, high: f32) -> f32 {
    if x < low {
        low
    } else if x > high {
        high
    } else {
        x
    }
}

/// The weights of one multistep step (see the module docs). Not public: a plan's internals.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub(crate) struct MultistepWeights {
    /// w_x, w_m: x̂₀ from the sample and the model output (read only when clipping).
    pub original_from_sample: f32,
    pub original_from_model: f32,
    /// u_x, u_m, u₀: the converted output from x, m and the clipped x̂₀.
    pub converted_from_sample: f32,
    pub converted_from_model: f32,
    pub converted_from_original: f32,
    /// a, c₀, c₁, c₂.
    pub next_from_sample: f32,
    pub next_from_current: f32,
    pub next_from_previous: f32,
    pub next_from_second_previous: f32,
}

/// Where a step finds the outputs it combines, given the ring of `buffers` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Memory {
    /// Nothing remembered (a plan of order 1).
    None,
    /// First order: only write the current output into the write slot.
    WriteOnly,
    /// Second order, one slot: read h₁ from the write slot, then overwrite it.
    PreviousInWriteSlot,
    /// Second order, two slots: h₁ from the other slot.
    PreviousInOtherSlot,
    /// Third order, two slots: h₂ from the write slot (then overwritten), h₁ from the other.
    Both,
}

/// One sample's part of the history slots a step uses, and how it uses them.
pub(crate) struct Slots<'s> {
    pub memory: Memory,
    /// The slot the step writes (and reads first where `memory` says so).
    pub write: &'s mut [f32],
    /// The other slot, read only.
    pub read: &'s [f32],
}

impl MultistepWeights {
    /// What the plan's [`fingerprint`] reads of a step: c₀, which depends on the step's λ and h,
    /// its order, the algorithm and the solver type, and u_m, which says what the history's
    /// buffers hold (x̂₀ or ε̂, from which prediction type). Two words, not nine: each word costs
    /// flash in a firmware's plan building.
    #[inline(always)]
    pub(crate) fn words(&self) -> [u32; 2] {
        [
            self.next_from_current.to_bits(),
            self.converted_from_model.to_bits(),
        ]
    }

    /// Applies the step to one sample (`sample`, `model_output` and the slots all of its
    /// length), computing x̂₀'s threshold in `scratch` for dynamic thresholding.
    #[inline(always)]
    pub(crate) fn apply(
        &self,
        clipping: SampleClipping,
        sample: &mut [f32],
        model_output: &[f32],
        slots: Slots<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let (w_x, w_m) = (self.original_from_sample, self.original_from_model);
        let (u_x, u_m, u_0) = (
            self.converted_from_sample,
            self.converted_from_model,
            self.converted_from_original,
        );
        match clipping {
            SampleClipping::None => {
                self.combine(slots, sample, model_output, |x, m| u_x * x + u_m * m);
            }
            SampleClipping::Range(range) => {
                self.combine(slots, sample, model_output, |x, m| {
                    u_x * x + u_0 * clamp(w_x * x + w_m * m, -range, range)
                });
            }
            SampleClipping::DynamicThreshold { ratio, max_value } => {
                let count = sample.len();
                let available = scratch.len();
                let scratch = scratch.get_mut(..count).ok_or(Error::LengthMismatch {
                    slice: SliceKind::Scratch,
                    expected: count,
                    actual: available,
                })?;
                for ((slot, &x), &m) in scratch.iter_mut().zip(sample.iter()).zip(model_output) {
                    *slot = libm::fabsf(w_x * x + w_m * m);
                }
                let threshold = clamp(quantile(scratch, ratio), 1.0, max_value);
                self.combine(slots, sample, model_output, |x, m| {
                    u_x * x + u_0 * (clamp(w_x * x + w_m * m, -threshold, threshold) / threshold)
                });
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn combine(
        &self,
        slots: Slots<'_>,
        sample: &mut [f32],
        model_output: &[f32],
        convert: impl Fn(f32, f32) -> f32,
    ) {
        let Slots {
            memory,
            write: write_slot,
            read: read_slot,
        } = slots;
        let a = self.next_from_sample;
        let c_0 = self.next_from_current;
        let c_1 = self.next_from_previous;
        let c_2 = self.next_from_second_previous;
        let pairs = sample.iter_mut().zip(model_output);
        match memory {
            Memory::None => {
                for (x, &m) in pairs {
                    let current = convert(*x, m);
                    *x = a * *x + c_0 * current;
                }
            }
            Memory::WriteOnly => {
                for ((x, &m), slot) in pairs.zip(write_slot.iter_mut()) {
                    let current = convert(*x, m);
                    *x = a * *x + c_0 * current;
                    *slot = current;
                }
            }
            Memory::PreviousInWriteSlot => {
                for ((x, &m), slot) in pairs.zip(write_slot.iter_mut()) {
                    let current = convert(*x, m);
                    *x = a * *x + c_0 * current + c_1 * *slot;
                    *slot = current;
                }
            }
            Memory::PreviousInOtherSlot => {
                for (((x, &m), slot), &previous) in pairs.zip(write_slot.iter_mut()).zip(read_slot)
                {
                    let current = convert(*x, m);
                    *x = a * *x + c_0 * current + c_1 * previous;
                    *slot = current;
                }
            }
            Memory::Both => {
                for (((x, &m), slot), &previous) in pairs.zip(write_slot.iter_mut()).zip(read_slot)
                {
                    let current = convert(*x, m);
                    *x = a * *x + c_0 * current + c_1 * previous + c_2 * *slot;
                    *slot = current;
                }
            }
        }
    }
}
