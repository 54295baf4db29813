//! A realized sampling run: the timesteps it visits and the weights of every step, computed once.

use heapless::Vec;

use crate::clipping::SampleClipping;
use crate::error::{Error, SliceKind};
use crate::multistep::MultistepHistory;
use crate::noise::{NoiseSource, ensure_noise};
use crate::prediction::PredictionType;
use crate::schedule::ScheduleConfig;
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory, check_call};
use crate::step::StepCoefficients;
use crate::timesteps::TimestepConfig;
use crate::{ddim, ddpm};

/// Which update rule a plan uses.
///
/// ```
/// use diffusion_core::{DdpmDdimRule, DdpmDdimConfig, VarianceType};
///
/// let ddpm = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::FixedSmall }, ..DdpmDdimConfig::default() };
/// let ddim = DdpmDdimConfig { rule: DdpmDdimRule::Ddim { eta: 0.0, use_clipped_model_output: false }, ..ddpm };
/// assert_eq!(ddim, DdpmDdimConfig::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum DdpmDdimRule {
    /// DDPM ancestral sampling (see [`crate::ddpm`]).
    Ddpm {
        /// σ² choice.
        variance_type: ddpm::VarianceType,
    },
    /// DDIM (see [`crate::ddim`]).
    Ddim {
        /// η ≥ 0: 0 is deterministic, 1 has DDPM's variance.
        eta: f32,
        /// Recompute ε̂ from the clipped x̂₀ (diffusers `use_clipped_model_output`).
        use_clipped_model_output: bool,
    },
}

/// The ᾱ used after the last planned timestep.
///
/// ```
/// use diffusion_core::{FinalAlphaCumprod, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
///
/// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
/// let last_prev = |final_alpha_cumprod| -> Result<f32, diffusion_core::Error> {
///     let config = DdpmDdimConfig { final_alpha_cumprod, ..DdpmDdimConfig::default() };
///     let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
///     Ok(plan.steps()[9].alpha_cumprod_prev)
/// };
/// assert_eq!(last_prev(FinalAlphaCumprod::One)?, 1.0);
/// assert_eq!(last_prev(FinalAlphaCumprod::First)?, 0.9999); // ᾱ_0
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FinalAlphaCumprod {
    /// 1.0: the last step lands on clean data (diffusers `set_alpha_to_one = true`, and what its
    /// DDPM always does).
    #[default]
    One,
    /// ᾱ_0 (diffusers `set_alpha_to_one = false`).
    First,
}

/// Everything about a step that is not the schedule or the timesteps.
///
/// ```
/// use diffusion_core::{FinalAlphaCumprod, PredictionType, SampleClipping, DdpmDdimRule, DdpmDdimConfig};
///
/// // diffusers' DDIMScheduler as Stable Diffusion 2 configures it.
/// let config = DdpmDdimConfig {
///     rule: DdpmDdimRule::Ddim { eta: 0.0, use_clipped_model_output: false },
///     prediction_type: PredictionType::VPrediction,
///     clipping: SampleClipping::None,
///     final_alpha_cumprod: FinalAlphaCumprod::First, // set_alpha_to_one = false
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DdpmDdimConfig {
    /// The update rule.
    pub rule: DdpmDdimRule,
    /// What the model outputs.
    pub prediction_type: PredictionType,
    /// Clipping of x̂₀.
    pub clipping: SampleClipping,
    /// ᾱ after the last step.
    pub final_alpha_cumprod: FinalAlphaCumprod,
}

impl Default for DdpmDdimConfig {
    /// Deterministic DDIM (η = 0) on an ε-model, no clipping, final ᾱ = 1.
    fn default() -> Self {
        DdpmDdimConfig {
            rule: DdpmDdimRule::Ddim {
                eta: 0.0,
                use_clipped_model_output: false,
            },
            prediction_type: PredictionType::Epsilon,
            clipping: SampleClipping::None,
            final_alpha_cumprod: FinalAlphaCumprod::One,
        }
    }
}

/// A realized run of at most `CAPACITY` steps: per step, its timestep, ᾱ_t, ᾱ_prev and update
/// weights. Building it streams the schedule once (O(T) time) and keeps O(steps) memory, so a
/// `DdpmDdimPlan<25>` on a microcontroller holds 25 entries whatever T is.
///
/// ```
/// use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
///
/// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
/// let plan: DdpmDdimPlan<8> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
/// assert!(plan.timesteps().eq([999, 749, 499, 249]));
/// let step = plan.steps()[1];
/// assert_eq!((step.timestep, step.alpha_cumprod_prev), (749, plan.steps()[2].alpha_cumprod));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DdpmDdimPlan<const CAPACITY: usize> {
    steps: Vec<StepCoefficients, CAPACITY>,
    clipping: SampleClipping,
}

impl<const CAPACITY: usize> DdpmDdimPlan<CAPACITY> {
    /// A plan with no steps, as a constant: firmware can keep one in a `static` and fill it with
    /// [`DdpmDdimPlan::rebuild`], so the plan never passes through the stack.
    ///
    /// ```
    /// use diffusion_core::DdpmDdimPlan;
    ///
    /// static EMPTY: DdpmDdimPlan<25> = DdpmDdimPlan::empty();
    /// assert!(EMPTY.is_empty());
    /// ```
    #[must_use]
    pub const fn empty() -> Self {
        DdpmDdimPlan {
            steps: Vec::new(),
            clipping: SampleClipping::None,
        }
    }

    /// Validates the three configs and computes every step.
    ///
    /// ```
    /// use diffusion_core::{Error, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 50, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan = DdpmDdimPlan::<25>::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default());
    /// assert_eq!(plan.err(), Some(Error::CapacityExceeded { needed: 50, capacity: 25 }));
    /// ```
    ///
    /// # Errors
    ///
    /// - Those of [`ScheduleConfig::validate`] and [`TimestepConfig::validate`].
    /// - [`Error::InvalidEta`]: DDIM's η is negative or not finite.
    /// - [`Error::InvalidClipRange`], [`Error::InvalidThreshold`]: bad [`SampleClipping`] parameters.
    /// - [`Error::CapacityExceeded`]: more than `CAPACITY` steps.
    /// - [`Error::DegenerateSchedule`]: a step's weights are not finite (ᾱ is 0 or 1 in f32 where
    ///   the prediction type divides by it, e.g. `epsilon` on a zero-terminal-SNR schedule).
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        sampler: &DdpmDdimConfig,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, timesteps, sampler)?;
        Ok(plan)
    }

    /// [`DdpmDdimPlan::new`] in place. On error the plan is left empty.
    ///
    /// Inlined so that a caller with a constant schedule (firmware) links only the β layout it
    /// uses: the cosine schedule alone brings ~8 KiB of f64 `cos` to a Cortex-M4F.
    ///
    /// ```
    /// use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let mut plan: DdpmDdimPlan<50> = DdpmDdimPlan::empty();
    /// for steps in [10, 50] {
    ///     let timesteps = TimestepConfig { num_inference_steps: steps, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    ///     plan.rebuild(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
    ///     assert_eq!(plan.len(), steps as usize);
    /// }
    /// let too_many = TimestepConfig { num_inference_steps: 51, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// assert!(plan.rebuild(&ScheduleConfig::default(), &too_many, &DdpmDdimConfig::default()).is_err());
    /// assert!(plan.is_empty());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - Those of [`ScheduleConfig::validate`] and [`TimestepConfig::validate`].
    /// - [`Error::InvalidEta`]: DDIM's η is negative or not finite.
    /// - [`Error::InvalidClipRange`], [`Error::InvalidThreshold`]: bad [`SampleClipping`] parameters.
    /// - [`Error::CapacityExceeded`]: more than `CAPACITY` steps.
    /// - [`Error::DegenerateSchedule`]: a step's weights are not finite (ᾱ is 0 or 1 in f32 where
    ///   the prediction type divides by it, e.g. `epsilon` on a zero-terminal-SNR schedule).
    #[inline(always)]
    pub fn rebuild(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        sampler: &DdpmDdimConfig,
    ) -> Result<(), Error> {
        self.steps.clear();
        let result = self.fill(schedule, timesteps, sampler);
        if result.is_err() {
            self.steps.clear();
        }
        result
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        sampler: &DdpmDdimConfig,
    ) -> Result<(), Error> {
        let train_timesteps = schedule.num_train_timesteps;
        // Validates the schedule (one O(T) pass with the zero-SNR rescale) before the rest.
        let alphas_cumprod = schedule.alphas_cumprod()?;
        sampler.clipping.validate()?;
        if let DdpmDdimRule::Ddim { eta, .. } = sampler.rule {
            if !(eta.is_finite() && eta >= 0.0) {
                return Err(Error::InvalidEta);
            }
        }
        let planned = timesteps.timesteps(train_timesteps)?;
        if planned.len() > CAPACITY {
            return Err(Error::CapacityExceeded {
                needed: planned.len(),
                capacity: CAPACITY,
            });
        }
        let steps = &mut self.steps;
        for timestep in planned {
            // Capacity was checked above; a failed push cannot happen, but is not a panic either.
            let entry = StepCoefficients {
                timestep,
                ..StepCoefficients::default()
            };
            steps.push(entry).map_err(|_| Error::CapacityExceeded {
                needed: CAPACITY + 1,
                capacity: CAPACITY,
            })?;
        }

        // One ascending pass over ᾱ fills the descending plan from its end.
        let mut first_alpha_cumprod = 1.0f32;
        let mut pending = steps.iter_mut().rev().peekable();
        for (t, alpha_cumprod) in alphas_cumprod {
            if t == 0 {
                first_alpha_cumprod = alpha_cumprod as f32;
            }
            if let Some(step) = pending.next_if(|step| step.timestep == t) {
                step.alpha_cumprod = alpha_cumprod as f32;
            }
        }
        let final_alpha_cumprod = match sampler.final_alpha_cumprod {
            FinalAlphaCumprod::One => 1.0,
            FinalAlphaCumprod::First => first_alpha_cumprod,
        };

        let count = steps.len();
        for index in 0..count {
            let alpha_cumprod_prev = steps
                .get(index + 1)
                .map_or(final_alpha_cumprod, |next| next.alpha_cumprod);
            let Some(step) = steps.get_mut(index) else {
                break;
            };
            // The weights come from the stored f32 ᾱ (as diffusers' do), computed in f64.
            let (a, a_prev) = (step.alpha_cumprod as f64, alpha_cumprod_prev as f64);
            let is_last = index + 1 == count;
            let mut computed = match sampler.rule {
                DdpmDdimRule::Ddpm { variance_type } => {
                    ddpm::coefficients(sampler.prediction_type, variance_type, a, a_prev, is_last)
                }
                DdpmDdimRule::Ddim {
                    eta,
                    use_clipped_model_output,
                } => ddim::coefficients(
                    sampler.prediction_type,
                    eta as f64,
                    use_clipped_model_output,
                    a,
                    a_prev,
                    is_last,
                )?,
            };
            computed.timestep = step.timestep;
            computed.alpha_cumprod = step.alpha_cumprod;
            computed.alpha_cumprod_prev = alpha_cumprod_prev;
            if !computed.is_finite() {
                return Err(Error::DegenerateSchedule {
                    timestep: step.timestep,
                });
            }
            *step = computed;
        }
        self.clipping = sampler.clipping;
        Ok(())
    }

    /// Number of steps (model evaluations).
    ///
    /// ```
    /// # use diffusion_core::{TimestepSpacing, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig};
    /// let timesteps = TimestepConfig { num_inference_steps: 20, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: DdpmDdimPlan<25> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
    /// assert_eq!(plan.len(), 20);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    ///
    /// ```
    /// # use diffusion_core::DdpmDdimPlan;
    /// assert!(DdpmDdimPlan::<25>::empty().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The timestep of every step, in the order they run (descending).
    ///
    /// ```
    /// # use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
    /// let timesteps = TimestepConfig { num_inference_steps: 3, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: DdpmDdimPlan<3> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
    /// assert!(plan.timesteps().eq([999, 500, 0])); // 499.5 rounds to even
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn timesteps(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.steps.iter().map(|step| step.timestep)
    }

    /// The weights of every step, in order.
    ///
    /// ```
    /// # use diffusion_core::{TimestepSpacing, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig};
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
    /// // Deterministic DDIM: no step draws noise.
    /// assert!(plan.steps().iter().all(|step| !step.adds_noise));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn steps(&self) -> &[StepCoefficients] {
        &self.steps
    }

    /// Step `index` on one sample, in place: x_t → x_prev. `model_output` is the model's output
    /// for this sample at this step's timestep (twice as long when it carries variance
    /// channels); `noise` supplies z; `scratch` is needed only for dynamic thresholding (at
    /// least as long as the sample) and may be empty otherwise.
    // Always inlined (with `apply`): a caller compiled for wider vectors, such as host's AVX2
    // path, then gets the whole step vectorized its way.
    ///
    /// ```
    /// use diffusion_core::{DdpmDdimPlan, DdpmDdimRule, DdpmDdimConfig, ScheduleConfig, SliceNoise, TimestepConfig, VarianceType, TimestepSpacing};
    ///
    /// let ddpm = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::FixedSmall }, ..DdpmDdimConfig::default() };
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &ddpm)?;
    /// let mut x = [0.5f32, -0.5];
    /// let epsilon = [0.1f32, 0.2];
    /// let mut noise = SliceNoise::new(&[1.0, -1.0]); // given noise, e.g. to reproduce diffusers
    /// plan.step(0, &mut x, &epsilon, &mut noise, &mut [])?;
    /// assert_eq!(noise.consumed(), 2);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::StepIndexOutOfRange`]: `index` ≥ [`DdpmDdimPlan::len`].
    /// - [`Error::LengthMismatch`]: `model_output` ([`SliceKind::ModelOutput`]) is neither as long
    ///   as the sample nor twice as long, or, for dynamic thresholding, `scratch`
    ///   ([`SliceKind::Scratch`]) is shorter than the sample.
    /// - [`Error::MissingVarianceChannels`]: the step learns its variance and `model_output` has no
    ///   variance channels.
    ///
    /// On error the sample is left unchanged.
    #[inline(always)]
    pub fn step<N: NoiseSource + ?Sized>(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        noise: &mut N,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.coefficients(index)?
            .apply(self.clipping, sample, model_output, noise, scratch)
    }

    /// Step `index` on a batch of `batch` samples laid out sample after sample (NCHW):
    /// `samples` holds the B = `batch` samples, `model_output` their B predictions (each followed
    /// by its variance channels when the step learns its variance: NCHW with 2C channels, as a
    /// diffusers model outputs them), and `noise` exactly B sources, source i for sample i, so
    /// sample i's noise never depends on B.
    ///
    /// The batch size is an argument, not inferred from `noise`: a short `noise` slice would
    /// otherwise make a batch of 4 look like 2 samples twice as long, sharing streams.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, noise_stream, NoiseSource, DdpmDdimPlan, DdpmDdimRule, DdpmDdimConfig, ScheduleConfig,
    ///     TimestepConfig, VarianceType};
    ///
    /// let ddpm = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::FixedSmall }, ..DdpmDdimConfig::default() };
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &ddpm)?;
    ///
    /// // Samples 2 and 3 of seed 7 as a batch of two (sample_len = 4)...
    /// let (seed, sample_len) = (7, 4);
    /// let mut streams = [noise_stream(seed, 2), noise_stream(seed, 3)];
    /// let mut batch = [0.0f32; 8];
    /// for (sample, stream) in batch.chunks_mut(sample_len).zip(&mut streams) {
    ///     stream.fill_standard_normal(sample);
    /// }
    /// let epsilon = [0.1f32; 8];
    /// for index in 0..plan.len() {
    ///     plan.step_batch(index, 2, &mut batch, &epsilon, &mut streams, &mut [])?;
    /// }
    /// // ...equal sample 3 run alone: noise depends on (seed, sample index), not on the batch.
    /// let mut alone = [0.0f32; 4];
    /// let mut stream = noise_stream(seed, 3);
    /// stream.fill_standard_normal(&mut alone);
    /// for index in 0..plan.len() {
    ///     plan.step(index, &mut alone, &epsilon[..4], &mut stream, &mut [])?;
    /// }
    /// assert_eq!(alone, batch[4..]);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::StepIndexOutOfRange`]: `index` ≥ [`DdpmDdimPlan::len`], whatever the batch size.
    /// - [`Error::LengthMismatch`] naming the slice: `noise` does not hold `batch` sources
    ///   ([`SliceKind::Noise`]), `samples` is not a multiple of `batch` long ([`SliceKind::Samples`],
    ///   `expected` is the next multiple), `model_output` is neither as long as `samples` nor twice as
    ///   long ([`SliceKind::ModelOutput`]), or `scratch` is too short ([`SliceKind::Scratch`]).
    /// - [`Error::MissingVarianceChannels`]: the step learns its variance and `model_output` is only
    ///   as long as `samples`.
    ///
    /// Counts are checked before any sample is touched.
    #[inline(always)]
    pub fn step_batch<N: NoiseSource>(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        noise: &mut [N],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let step = self.coefficients(index)?;
        if noise.len() != batch {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Noise,
                expected: batch,
                actual: noise.len(),
            });
        }
        let per_sample = samples.len().checked_div(batch).unwrap_or(0);
        if per_sample * batch != samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: (per_sample + 1) * batch,
                actual: samples.len(),
            });
        }
        // Variance channels are used by a step that learns its variance and ignored otherwise;
        // a learned-variance step without them is `MissingVarianceChannels` (from `apply`).
        if model_output.len() != samples.len() && model_output.len() != 2 * samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: samples.len() * if step.learned_variance() { 2 } else { 1 },
                actual: model_output.len(),
            });
        }
        if per_sample == 0 {
            return Ok(());
        }
        if step.adds_noise {
            for source in noise.iter() {
                ensure_noise(source, per_sample)?;
            }
        }
        let per_output = model_output.len() / batch;
        for ((sample, output), source) in samples
            .chunks_mut(per_sample)
            .zip(model_output.chunks(per_output))
            .zip(noise.iter_mut())
        {
            step.apply(self.clipping, sample, output, source, scratch)?;
        }
        Ok(())
    }

    /// The weights of step `index`, or the error that names the index.
    #[inline(always)]
    fn coefficients(&self, index: usize) -> Result<&StepCoefficients, Error> {
        self.steps.get(index).ok_or(Error::StepIndexOutOfRange {
            index,
            steps: self.steps.len(),
        })
    }
}

/// DDPM and DDIM: one model call per step, whole timesteps, the model sees x itself, no history.
impl<const CAPACITY: usize> Scheduler for DdpmDdimPlan<CAPACITY> {
    fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    fn num_model_calls(&self) -> usize {
        self.steps.len()
    }

    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error> {
        Ok(ModelTimestep::whole(self.coefficients(call)?.timestep))
    }

    fn input_scale(&self, call: usize) -> Result<f32, Error> {
        check_call(call, self.steps.len())?;
        Ok(1.0)
    }

    fn init_noise_sigma(&self) -> f32 {
        1.0
    }

    fn history_len(&self) -> usize {
        0
    }

    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(buffer, 0, values, 0)
    }

    fn draws_noise(&self) -> bool {
        self.steps.iter().any(|step| step.adds_noise)
    }

    fn scratch_len(&self, sample_len: usize) -> usize {
        if matches!(self.clipping, SampleClipping::DynamicThreshold { .. }) {
            sample_len
        } else {
            0
        }
    }

    #[inline(always)]
    fn step_batch<N: NoiseSource>(
        &self,
        call: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        memory: &mut StepMemory<'_, N>,
    ) -> Result<(), Error> {
        DdpmDdimPlan::step_batch(
            self,
            call,
            batch,
            samples,
            model_output,
            memory.noise,
            memory.scratch,
        )
    }
}

impl StepCoefficients {
    fn is_finite(&self) -> bool {
        [
            self.original_from_sample,
            self.original_from_model,
            self.prev_from_original,
            self.prev_from_sample,
            self.prev_from_model,
            self.noise_std,
            self.log_variance_min,
            self.log_variance_max,
        ]
        .iter()
        .all(|value| value.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timesteps::TimestepSpacing;

    fn timesteps(steps: u32) -> TimestepConfig {
        TimestepConfig {
            num_inference_steps: steps,
            spacing: TimestepSpacing::Leading,
            steps_offset: 1,
        }
    }

    #[test]
    fn rebuild_replaces_the_plan_and_empties_it_on_error() {
        let schedule = ScheduleConfig::default();
        let mut plan: DdpmDdimPlan<50> = DdpmDdimPlan::empty();
        assert!(plan.is_empty());
        plan.rebuild(&schedule, &timesteps(10), &DdpmDdimConfig::default())
            .unwrap();
        assert_eq!(plan.len(), 10);
        assert_eq!(plan.timesteps().next(), Some(901));
        let bad = DdpmDdimConfig {
            rule: DdpmDdimRule::Ddim {
                eta: -1.0,
                use_clipped_model_output: false,
            },
            ..DdpmDdimConfig::default()
        };
        assert_eq!(
            plan.rebuild(&schedule, &timesteps(10), &bad),
            Err(Error::InvalidEta)
        );
        assert!(plan.is_empty());
        assert_eq!(
            plan.rebuild(&schedule, &timesteps(51), &DdpmDdimConfig::default()),
            Err(Error::CapacityExceeded {
                needed: 51,
                capacity: 50
            })
        );
        assert!(
            plan.step(
                0,
                &mut [0.0],
                &[0.0],
                &mut crate::SliceNoise::new(&[]),
                &mut []
            )
            .is_err()
        );
    }

    #[test]
    fn last_step_adds_no_noise_and_lands_on_the_final_alpha() {
        let ddpm = DdpmDdimConfig {
            rule: DdpmDdimRule::Ddpm {
                variance_type: crate::VarianceType::FixedSmall,
            },
            ..DdpmDdimConfig::default()
        };
        let plan: DdpmDdimPlan<10> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps(10), &ddpm).unwrap();
        let last = plan.steps()[9];
        assert_eq!(
            (last.timestep, last.alpha_cumprod_prev, last.adds_noise),
            (1, 1.0, false)
        );
        assert!(
            plan.steps()[..9]
                .iter()
                .all(|step| step.adds_noise && step.noise_std > 0.0)
        );
        let first_alpha = DdpmDdimConfig {
            final_alpha_cumprod: FinalAlphaCumprod::First,
            ..ddpm
        };
        let plan: DdpmDdimPlan<10> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps(10), &first_alpha).unwrap();
        assert_eq!(plan.steps()[9].alpha_cumprod_prev, 0.9999);
    }

    #[test]
    fn step_batch_checks_every_count_and_the_index() {
        let learned = DdpmDdimConfig {
            rule: DdpmDdimRule::Ddpm {
                variance_type: crate::VarianceType::LearnedRange,
            },
            ..DdpmDdimConfig::default()
        };
        let plan: DdpmDdimPlan<10> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps(10), &learned).unwrap();
        let mut streams = [crate::noise_stream(1, 0), crate::noise_stream(1, 1)];
        let mut samples = [0.5f32; 8];
        let outputs: [f32; 16] = core::array::from_fn(|i| i as f32 / 16.0 - 0.5);
        // A batch of 4 with 1 or 2 streams used to run as 1 or 2 longer samples.
        for sources in [1, 2] {
            assert_eq!(
                plan.step_batch(
                    0,
                    4,
                    &mut samples,
                    &outputs,
                    &mut streams[..sources],
                    &mut []
                ),
                Err(Error::LengthMismatch {
                    slice: SliceKind::Noise,
                    expected: 4,
                    actual: sources
                })
            );
        }
        assert_eq!(
            plan.step_batch(
                0,
                2,
                &mut samples[..7],
                &outputs[..14],
                &mut streams,
                &mut []
            ),
            Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: 8,
                actual: 7
            })
        );
        assert_eq!(
            plan.step_batch(0, 2, &mut samples, &outputs[..12], &mut streams, &mut []),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: 16,
                actual: 12
            })
        );
        assert_eq!(
            plan.step_batch(0, 2, &mut samples, &outputs[..8], &mut streams, &mut []),
            Err(Error::MissingVarianceChannels)
        );
        // An empty batch used to be Ok whatever the index.
        let no_streams: &mut [crate::NoiseStream] = &mut [];
        assert_eq!(
            plan.step_batch(10, 0, &mut [], &[], no_streams, &mut []),
            Err(Error::StepIndexOutOfRange {
                index: 10,
                steps: 10
            })
        );
        assert_eq!(
            plan.step_batch(9, 0, &mut [], &[], no_streams, &mut []),
            Ok(())
        );
        assert_eq!(
            plan.step_batch(9, 0, &mut samples, &[], no_streams, &mut []),
            Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: 0,
                actual: 8
            })
        );
        assert_eq!(
            samples, [0.5; 8],
            "a refused step must not touch the samples"
        );
        plan.step_batch(0, 2, &mut samples, &outputs, &mut streams, &mut [])
            .unwrap();
        // Sample i's result depends only on its own stream and slices.
        let mut alone = [0.5f32; 4];
        plan.step(
            0,
            &mut alone,
            &outputs[8..],
            &mut crate::noise_stream(1, 1),
            &mut [],
        )
        .unwrap();
        assert_eq!(alone, samples[4..]);
    }
}
