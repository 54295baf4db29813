//! Heun's second-order method in sigma space (Karras et al. 2022, Algorithm 1 without churn), as
//! diffusers 0.42.1's `HeunDiscreteScheduler` computes it. **It calls the model twice per step**
//! (once on the last): N steps ([`HeunPlan::num_inference_steps`]) are 2N − 1 model evaluations
//! ([`HeunPlan::num_model_calls`]).
//!
//! # The sampler
//!
//! On the N + 1 sigmas σ₀ > … > σ_{N−1} > 0 = σ_N of an Euler plan ([`crate::EulerPlan`]; the
//! final sigma is always 0) and x = x_t/√ᾱ, with x̂₀(x, m, σ) = clip(c_skip(σ)·x + c_out(σ)·m) as
//! in [`crate::euler`], step k from σ = σ_k to σ′ = σ_{k+1} is
//!
//! ```text
//! evaluation 2k (first stage):    d₁ = (x − x̂₀(x, m₁, σ))/σ,    x̃ = x + d₁·(σ′ − σ)
//! evaluation 2k + 1 (second):     d₂ = (x̃ − x̂₀(x̃, m₂, σ′))/σ′,  x′ = x + ½·(d₁ + d₂)·(σ′ − σ)
//! ```
//!
//! m₁ the model's output for x at σ, m₂ for x̃ at σ′. The last step (σ′ = 0) has only its first
//! stage, which lands on x̂₀. The model sees, at evaluation e, the sigma and timestep of point
//! k = ⌈e/2⌉ (diffusers' interleaved arrays: σ₀, σ₁, σ₁, σ₂, σ₂, …) and the input c_in·x with
//! c_in = 1/√(σ_k² + 1).
//!
//! The second stage uses d₁·(σ′ − σ) = x̃ − x, so that it needs only x (one sample-sized buffer,
//! a [`MultistepHistory`] of [`HeunPlan::history_len`] = 1):
//!
//! ```text
//! x′ = ½·x + (½ + k)·x̃ − k·x̂₀(x̃, m₂, σ′),   k = (σ′ − σ)/(2σ′)
//! ```
//!
//! Each stage is one fixed linear combination of x (or x̃), the model output, x̂₀ when clipping,
//! and the remembered x, with weights computed in f64 and stored in f32. The second stage must
//! get the first stage's output unchanged (diffusers keeps d₁ instead, and would tolerate an x̃
//! edited in between).
//!
//! diffusers' `HeunDiscreteScheduler` defaults to other betas than the Euler schedulers
//! (`linear` from 0.00085 to 0.012), which is the [`ScheduleConfig`]'s business. It has no
//! `final_sigmas_type`, `timestep_type`,
//! `sigma_min`/`sigma_max` or zero-SNR rescale: the plan uses the Euler plan's defaults for them
//! (with the rescale, ᾱ_{T−1} = 2⁻²⁴ as the Euler schedulers set it).
//!
//! ```
//! use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
//! let plan: HeunPlan<10> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
//! assert_eq!(plan.num_model_calls(), 19); // model evaluations: 2N − 1
//! assert_eq!(plan.num_inference_steps(), 10);
//! assert!(plan.timesteps().take(3).eq([999.0, 888.0, 888.0]));
//!
//! let mut x = [0.5f32; 4];
//! for value in &mut x {
//!     *value *= plan.init_noise_sigma();
//! }
//! let mut buffer = [0.0f32; 4]; // history_len() · 4
//! let mut history = plan.history(&mut buffer, x.len())?;
//! let mut model_input = [0.0f32; 4];
//! for (index, timestep) in plan.timesteps().enumerate() {
//!     plan.scale_model_input(index, &x, &mut model_input)?;
//!     let epsilon = [0.0f32; 4]; // the model's output for model_input at timestep
//!     plan.step(index, &mut x, &epsilon, &mut history)?;
//! }
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use heapless::Vec;

use crate::error::{Error, SliceKind};
use crate::euler::{EulerConfig, EulerPlan};
use crate::multistep::{FINGERPRINT_START, MultistepHistory, fingerprint};
use crate::noise::NoiseSource;
use crate::prediction::PredictionType;
use crate::schedule::ScheduleConfig;
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory, check_call};
use crate::sigmas::SigmaSchedule;
use crate::timesteps::TimestepConfig;

/// Everything about a Heun run that is not the schedule or the timesteps, by diffusers' names
/// (`HeunDiscreteScheduler`'s defaults).
///
/// ```
/// use diffusion_core::{HeunConfig, SigmaSchedule};
///
/// let karras = HeunConfig { sigma_schedule: SigmaSchedule::Karras, clip_sample: Some(1.0), ..HeunConfig::default() };
/// assert_eq!(karras.validate(), Ok(()));
/// assert!(HeunConfig { clip_sample: Some(0.0), ..karras }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct HeunConfig {
    /// `use_karras_sigmas` / `use_exponential_sigmas` / `use_beta_sigmas`.
    pub sigma_schedule: SigmaSchedule,
    /// `prediction_type`.
    pub prediction_type: PredictionType,
    /// `clip_sample` with `clip_sample_range`: x̂₀ clamped to ±range (None: no clipping).
    pub clip_sample: Option<f32>,
}

impl HeunConfig {
    /// Checks the clip range: finite and > 0.
    ///
    /// ```
    /// use diffusion_core::{Error, HeunConfig};
    ///
    /// let nan = HeunConfig { clip_sample: Some(f32::NAN), ..HeunConfig::default() };
    /// assert_eq!(nan.validate(), Err(Error::InvalidClipRange));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClipRange`].
    pub fn validate(&self) -> Result<(), Error> {
        match self.clip_sample {
            Some(range) if !(range.is_finite() && range > 0.0) => Err(Error::InvalidClipRange),
            _ => Ok(()),
        }
    }
}

/// One stage's weights: x_out = p₀·clip(w_x·x + w_m·m) + p_x·x + p_m·m + p_s·x_saved.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct StageWeights {
    original_from_sample: f32,
    original_from_model: f32,
    next_from_original: f32,
    next_from_sample: f32,
    next_from_model: f32,
    next_from_saved: f32,
}

impl StageWeights {
    /// The weights' bits, for the plan's fingerprint (all of them: Heun is not for firmware).
    fn words(&self) -> [u32; 6] {
        [
            self.original_from_sample,
            self.original_from_model,
            self.next_from_original,
            self.next_from_sample,
            self.next_from_model,
            self.next_from_saved,
        ]
        .map(f32::to_bits)
    }
}

/// Step k's two stages: the first from σ_k, and the second that ends step k − 1 at σ_k
/// (unused for k = 0).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct HeunStep {
    first: StageWeights,
    second: StageWeights,
}

/// A realized Heun run of at most `CAPACITY` steps (2·`CAPACITY` − 1 model evaluations): the
/// Euler plan's sigmas and timesteps, interleaved as diffusers does, and both stages' weights.
///
/// ```
/// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
///
/// let timesteps = TimestepConfig { num_inference_steps: 3, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
/// let plan: HeunPlan<3> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
/// assert!(plan.timesteps().eq([999.0, 666.0, 666.0, 332.0, 332.0]));
/// assert_eq!(plan.sigmas().count(), 6); // σ₀, σ₁, σ₁, σ₂, σ₂, 0
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct HeunPlan<const CAPACITY: usize> {
    points: EulerPlan<CAPACITY>,
    steps: Vec<HeunStep, CAPACITY>,
    clip_sample: Option<f32>,
    /// The fingerprint of the weights, which the plan's histories carry.
    fingerprint: u32,
}

impl<const CAPACITY: usize> HeunPlan<CAPACITY> {
    /// A plan with no steps, as a constant (for a `static`, filled by [`Self::rebuild`]).
    ///
    /// ```
    /// use diffusion_core::HeunPlan;
    ///
    /// static PLAN: HeunPlan<10> = HeunPlan::empty();
    /// assert!(PLAN.is_empty());
    /// ```
    pub const fn empty() -> Self {
        HeunPlan {
            points: EulerPlan::empty(),
            steps: Vec::new(),
            clip_sample: None,
            fingerprint: 0,
        }
    }

    /// Validates the three configs and computes every stage.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<25> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert_eq!(plan.num_model_calls(), 49);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`EulerPlan::new`] (for the sigmas), and [`Error::InvalidClipRange`].
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &HeunConfig,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, timesteps, config)?;
        Ok(plan)
    }

    /// [`Self::new`] in place. On error the plan is left empty.
    ///
    /// ```
    /// use diffusion_core::{Error, HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let mut plan: HeunPlan<4> = HeunPlan::empty();
    /// let timesteps = TimestepConfig { num_inference_steps: 5, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let error = plan.rebuild(&ScheduleConfig::default(), &timesteps, &HeunConfig::default());
    /// assert_eq!(error, Err(Error::CapacityExceeded { needed: 5, capacity: 4 }));
    /// assert!(plan.is_empty());
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`Self::new`].
    #[inline(always)]
    pub fn rebuild(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &HeunConfig,
    ) -> Result<(), Error> {
        self.steps.clear();
        let result = self.fill(schedule, timesteps, config);
        if result.is_err() {
            self.steps.clear();
            self.points = EulerPlan::empty();
        }
        self.fingerprint = self.steps.iter().fold(FINGERPRINT_START, |hash, step| {
            fingerprint(fingerprint(hash, step.first.words()), step.second.words())
        });
        result
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &HeunConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let euler = EulerConfig {
            sigma_schedule: config.sigma_schedule,
            prediction_type: config.prediction_type,
            ..EulerConfig::default()
        };
        self.points.rebuild(schedule, timesteps, &euler)?;
        self.clip_sample = config.clip_sample;
        let clip = config.clip_sample.is_some();
        let mut sigmas = self.points.sigmas().map(|sigma| sigma as f64);
        let mut sigma = sigmas.next().unwrap_or(0.0);
        let mut previous: Option<f64> = None;
        for (next, timestep) in sigmas.zip(self.points.integer_timesteps()) {
            let first = first_stage(config.prediction_type, clip, sigma, next);
            let second = previous.map_or(StageWeights::default(), |before| {
                second_stage(config.prediction_type, clip, before, sigma)
            });
            if !(first.is_finite() && second.is_finite()) {
                return Err(Error::DegenerateSchedule {
                    timestep: timestep.clamp(0, u32::MAX as i64) as u32,
                });
            }
            self.steps
                .push(HeunStep { first, second })
                .map_err(|_| Error::CapacityExceeded {
                    needed: CAPACITY + 1,
                    capacity: CAPACITY,
                })?;
            previous = Some(sigma);
            sigma = next;
        }
        Ok(())
    }

    /// Number of model evaluations, 2N − 1: every step calls the model twice, the last once.
    ///
    /// ```
    /// use diffusion_core::HeunPlan;
    ///
    /// assert_eq!(HeunPlan::<4>::empty().num_model_calls(), 0);
    /// ```
    pub fn num_model_calls(&self) -> usize {
        (2 * self.steps.len()).saturating_sub(1)
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    ///
    /// ```
    /// use diffusion_core::HeunPlan;
    ///
    /// assert!(HeunPlan::<4>::empty().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// N, the number of steps (diffusers' `num_inference_steps`).
    ///
    /// ```
    /// use diffusion_core::HeunPlan;
    ///
    /// assert_eq!(HeunPlan::<4>::empty().num_inference_steps(), 0);
    /// ```
    pub fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    /// The point (0 … N − 1) whose sigma and timestep evaluation `index` uses: ⌈index/2⌉.
    fn point(index: usize) -> usize {
        index.div_ceil(2)
    }

    /// The timestep of every evaluation (2N − 1, diffusers' `timesteps`: t₀, t₁, t₁, t₂, t₂, …),
    /// f32 and fractional as [`EulerPlan::timesteps`].
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 2, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: HeunPlan<2> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert!(plan.timesteps().eq([501.0, 1.0, 1.0]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn timesteps(&self) -> impl Iterator<Item = f32> + '_ {
        (0..self.num_model_calls())
            .filter_map(|index| self.points.timesteps().nth(Self::point(index)))
    }

    /// What an integer-timestep model gets at each evaluation: [`Self::timesteps`] truncated
    /// toward zero (see [`EulerPlan::integer_timesteps`]).
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: HeunPlan<25> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert!(plan.integer_timesteps().take(3).eq([999, 957, 957])); // 957.375
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn integer_timesteps(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.num_model_calls())
            .filter_map(|index| self.points.integer_timesteps().nth(Self::point(index)))
    }

    /// diffusers' `sigmas`: σ₀, then σ₁ … σ_{N−1} twice each, then 0 (2N values). Evaluation e
    /// sees sigma e.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 1, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<1> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert_eq!(plan.sigmas().count(), 2);
    /// assert_eq!(plan.sigmas().last(), Some(0.0));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn sigmas(&self) -> impl Iterator<Item = f32> + '_ {
        let count = if self.steps.is_empty() {
            0
        } else {
            self.num_model_calls() + 1
        };
        (0..count).filter_map(|index| self.points.sigmas().nth(Self::point(index)))
    }

    /// c_in = 1/√(σ² + 1) of each evaluation's sigma (diffusers' `scale_model_input`).
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<4> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// let scales: Vec<f32> = plan.input_scales().collect();
    /// assert_eq!(scales.len(), 7);
    /// assert_eq!(scales[1], scales[2]); // both evaluations at σ₁
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn input_scales(&self) -> impl Iterator<Item = f32> + '_ {
        (0..self.num_model_calls())
            .filter_map(|index| self.points.input_scales().nth(Self::point(index)))
    }

    /// diffusers' `init_noise_sigma` (the same rule as [`EulerPlan::init_noise_sigma`]).
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// let plan: HeunPlan<4> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert_eq!(Some(plan.init_noise_sigma()), plan.sigmas().next());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn init_noise_sigma(&self) -> f32 {
        self.points.init_noise_sigma()
    }

    /// How many sample-sized buffers the run remembers: 1 (x between the two stages of a step),
    /// 0 for a one-step plan. A [`MultistepHistory`] for `values` floats needs
    /// `history_len() · values` of them.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<4> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert_eq!(plan.history_len(), 1);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn history_len(&self) -> usize {
        usize::from(self.steps.len() > 1)
    }

    /// The memory of a run over `values` floats (one sample, or a whole batch for
    /// [`Self::step_batch`]) in `buffer`, which must hold exactly `history_len() · values` floats.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<4> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// assert!(plan.history(&mut [0.0; 3], 4).is_err());
    /// assert_eq!(plan.history(&mut [0.0; 4], 4)?.next_step(), 0);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] naming [`SliceKind::History`].
    pub fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(buffer, self.history_len(), values, self.fingerprint)
    }

    /// Writes the model's input for evaluation `index`: c_in·sample.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<4> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// let mut input = [0.0f32; 1];
    /// plan.scale_model_input(2, &[2.0], &mut input)?;
    /// assert_eq!(input[0], 2.0 * plan.input_scales().nth(2).unwrap());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`EulerPlan::scale_model_input`].
    pub fn scale_model_input(
        &self,
        index: usize,
        sample: &[f32],
        model_input: &mut [f32],
    ) -> Result<(), Error> {
        if index >= self.num_model_calls() {
            return Err(Error::StepIndexOutOfRange {
                index,
                steps: self.num_model_calls(),
            });
        }
        self.points
            .scale_model_input(Self::point(index), sample, model_input)
    }

    /// Evaluation `index` on one sample, in place: the first stage (even `index`) moves x to x̃
    /// and remembers x, the second (odd) moves x̃ to the step's end. `model_output` is the model's
    /// output for [`Self::scale_model_input`]'s input at this evaluation's timestep; `history`
    /// must have run evaluations 0 … index − 1. On error nothing is modified.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 2, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<2> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// let mut buffer = [0.0f32; 1];
    /// let mut history = plan.history(&mut buffer, 1)?;
    /// let mut x = [3.0f32];
    /// assert!(plan.step(1, &mut x, &[0.0], &mut history).is_err()); // evaluation 0 first
    /// for index in 0..plan.num_model_calls() {
    ///     plan.step(index, &mut x, &[0.0], &mut history)?;
    /// }
    /// assert_eq!(x, [3.0]); // ε̂ = 0: nothing moves
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`]; [`Error::StepOutOfOrder`]; [`Error::LengthMismatch`] for a
    /// model output not as long as the sample or a history made for another size;
    /// [`Error::ForeignHistory`] for a history made by another plan.
    #[inline(always)]
    pub fn step(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error> {
        self.step_batch(index, 1, sample, model_output, history)
    }

    /// Evaluation `index` on a batch of `batch` samples laid out sample after sample (NCHW),
    /// with their model outputs and one history for the whole batch (made for `samples.len()`
    /// floats). Element-wise, so sample i's result never depends on the batch.
    ///
    /// ```
    /// use diffusion_core::{HeunConfig, HeunPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 3, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: HeunPlan<3> = HeunPlan::new(&ScheduleConfig::default(), &timesteps, &HeunConfig::default())?;
    /// let mut buffer = [0.0f32; 4];
    /// let mut history = plan.history(&mut buffer, 4)?;
    /// let mut pair = [1.0f32, 2.0, 3.0, 4.0];
    /// let (mut alone_buffer, mut alone) = ([0.0f32; 2], [3.0f32, 4.0]);
    /// let mut alone_history = plan.history(&mut alone_buffer, 2)?;
    /// for index in 0..plan.num_model_calls() {
    ///     plan.step_batch(index, 2, &mut pair, &[0.1; 4], &mut history)?;
    ///     plan.step(index, &mut alone, &[0.1; 2], &mut alone_history)?;
    /// }
    /// assert_eq!(pair[2..], alone);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`Self::step`], and [`Error::LengthMismatch`] naming the samples when they are not
    /// a multiple of `batch`.
    #[inline(always)]
    pub fn step_batch(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error> {
        let evaluations = self.num_model_calls();
        if index >= evaluations {
            return Err(Error::StepIndexOutOfRange {
                index,
                steps: evaluations,
            });
        }
        history.check(index, self.history_len(), samples.len(), self.fingerprint)?;
        let per_sample = samples.len().checked_div(batch).unwrap_or(0);
        if per_sample * batch != samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: (per_sample + 1) * batch,
                actual: samples.len(),
            });
        }
        if model_output.len() != samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: samples.len(),
                actual: model_output.len(),
            });
        }
        let point = Self::point(index);
        let Some(step) = self.steps.get(point) else {
            return Err(Error::StepIndexOutOfRange {
                index,
                steps: evaluations,
            });
        };
        let first = index % 2 == 0;
        let weights = if first { step.first } else { step.second };
        let values = samples.len();
        let (slot, _) = if self.history_len() == 0 {
            (&mut [][..], &[][..])
        } else {
            history.slots(0, 0, 0, values)
        };
        let range = self.clip_sample.unwrap_or(f32::INFINITY);
        let clip = |v: f32| {
            if v < -range {
                -range
            } else if v > range {
                range
            } else {
                v
            }
        };
        if first {
            apply_first(&weights, clip, samples, model_output, slot);
        } else {
            apply_second(&weights, clip, samples, model_output, slot);
        }
        history.advance(index);
        Ok(())
    }
}

/// Heun: two model calls per step but the last (2N − 1), each at its point's fractional timestep
/// with c_in·x; the history remembers x between a step's two calls; no noise.
impl<const CAPACITY: usize> Scheduler for HeunPlan<CAPACITY> {
    fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    fn num_model_calls(&self) -> usize {
        HeunPlan::num_model_calls(self)
    }

    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error> {
        check_call(call, HeunPlan::num_model_calls(self))?;
        self.points.model_timestep_at(Self::point(call))
    }

    fn input_scale(&self, call: usize) -> Result<f32, Error> {
        check_call(call, HeunPlan::num_model_calls(self))?;
        self.points.input_scale_at(Self::point(call))
    }

    fn init_noise_sigma(&self) -> f32 {
        self.points.init_noise_sigma()
    }

    fn history_len(&self) -> usize {
        HeunPlan::history_len(self)
    }

    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(
            buffer,
            HeunPlan::history_len(self),
            values,
            self.fingerprint,
        )
    }

    fn draws_noise(&self) -> bool {
        false
    }

    fn scratch_len(&self, sample_len: usize) -> usize {
        let _ = sample_len;
        0
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
        HeunPlan::step_batch(
            self,
            call,
            batch,
            samples,
            model_output,
            &mut memory.history,
        )
    }
}

/// First stage, per element: remember x, then x̃ = p₀·clip(w_x·x + w_m·m) + p_x·x + p_m·m.
#[inline(always)]
fn apply_first(
    weights: &StageWeights,
    clip: impl Fn(f32) -> f32,
    sample: &mut [f32],
    model_output: &[f32],
    slot: &mut [f32],
) {
    let w = weights;
    let (w_x, w_m) = (w.original_from_sample, w.original_from_model);
    let (p_0, p_x, p_m) = (w.next_from_original, w.next_from_sample, w.next_from_model);
    if slot.is_empty() {
        for (x, &m) in sample.iter_mut().zip(model_output) {
            let original = clip(w_x * *x + w_m * m);
            *x = p_0 * original + p_x * *x + p_m * m;
        }
    } else {
        for ((x, &m), saved) in sample.iter_mut().zip(model_output).zip(slot.iter_mut()) {
            *saved = *x;
            let original = clip(w_x * *x + w_m * m);
            *x = p_0 * original + p_x * *x + p_m * m;
        }
    }
}

/// Second stage, per element: x′ = p₀·clip(w_x·x̃ + w_m·m) + p_x·x̃ + p_m·m + p_s·x.
#[inline(always)]
fn apply_second(
    weights: &StageWeights,
    clip: impl Fn(f32) -> f32,
    sample: &mut [f32],
    model_output: &[f32],
    slot: &[f32],
) {
    let w = weights;
    let (w_x, w_m) = (w.original_from_sample, w.original_from_model);
    let (p_0, p_x, p_m, p_s) = (
        w.next_from_original,
        w.next_from_sample,
        w.next_from_model,
        w.next_from_saved,
    );
    for ((x, &m), &saved) in sample.iter_mut().zip(model_output).zip(slot) {
        let original = clip(w_x * *x + w_m * m);
        *x = p_0 * original + p_x * *x + p_m * m + p_s * saved;
    }
}

/// (c_skip, c_out) of x̂₀ = c_skip·x + c_out·m at σ (see [`crate::euler`]).
fn preconditioning(prediction_type: PredictionType, sigma: f64) -> (f64, f64) {
    match prediction_type {
        PredictionType::Epsilon => (1.0, -sigma),
        PredictionType::VPrediction => {
            let squared = sigma * sigma + 1.0;
            (1.0 / squared, -sigma / libm::sqrt(squared))
        }
        PredictionType::Sample => (0.0, 1.0),
    }
}

/// x̃ = x + (x − x̂₀)/σ·(σ′ − σ), with x̂₀ at σ.
fn first_stage(prediction_type: PredictionType, clip: bool, sigma: f64, next: f64) -> StageWeights {
    let (skip, out) = preconditioning(prediction_type, sigma);
    let ratio = (next - sigma) / sigma;
    stage(clip, skip, out, 1.0 + ratio, -ratio, 0.0)
}

/// x′ = ½·x + (½ + k)·x̃ − k·x̂₀(x̃, σ′), k = (σ′ − σ)/(2σ′), x̂₀ at σ′.
fn second_stage(
    prediction_type: PredictionType,
    clip: bool,
    sigma: f64,
    next: f64,
) -> StageWeights {
    let (skip, out) = preconditioning(prediction_type, next);
    let k = (next - sigma) / (2.0 * next);
    stage(clip, skip, out, 0.5 + k, -k, 0.5)
}

/// x_out = a·x + b·x̂₀ + s·x_saved with x̂₀ = c_skip·x + c_out·m: kept as x̂₀ when clipping,
/// expanded into x and m otherwise.
fn stage(clip: bool, skip: f64, out: f64, a: f64, b: f64, saved: f64) -> StageWeights {
    let (original, sample, model) = if clip {
        (b, a, 0.0)
    } else {
        (0.0, a + b * skip, b * out)
    };
    StageWeights {
        original_from_sample: if clip { skip as f32 } else { 0.0 },
        original_from_model: if clip { out as f32 } else { 0.0 },
        next_from_original: original as f32,
        next_from_sample: sample as f32,
        next_from_model: model as f32,
        next_from_saved: saved as f32,
    }
}

impl StageWeights {
    fn is_finite(&self) -> bool {
        [
            self.original_from_sample,
            self.original_from_model,
            self.next_from_original,
            self.next_from_sample,
            self.next_from_model,
            self.next_from_saved,
        ]
        .iter()
        .all(|w| w.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timesteps::TimestepSpacing;

    #[test]
    fn two_stages_are_heuns_method() {
        // One step from σ to σ′ on x, against the formula in f64.
        let (sigma, next, x, m1, m2) = (2.0f64, 0.5f64, 1.3f64, 0.4f64, -0.2f64);
        for prediction_type in [
            PredictionType::Epsilon,
            PredictionType::VPrediction,
            PredictionType::Sample,
        ] {
            let original = |x: f64, m: f64, s: f64| {
                let (skip, out) = preconditioning(prediction_type, s);
                skip * x + out * m
            };
            let d1 = (x - original(x, m1, sigma)) / sigma;
            let predicted = x + d1 * (next - sigma);
            let d2 = (predicted - original(predicted, m2, next)) / next;
            let expected = x + 0.5 * (d1 + d2) * (next - sigma);
            for clip in [false, true] {
                let first = first_stage(prediction_type, clip, sigma, next);
                let second = second_stage(prediction_type, clip, sigma, next);
                let run = |w: &StageWeights, x: f64, m: f64, saved: f64| {
                    let o = w.original_from_sample as f64 * x + w.original_from_model as f64 * m;
                    w.next_from_original as f64 * o
                        + w.next_from_sample as f64 * x
                        + w.next_from_model as f64 * m
                        + w.next_from_saved as f64 * saved
                };
                let tilde = run(&first, x, m1, 0.0);
                assert!((tilde - predicted).abs() < 1e-6, "{prediction_type:?}");
                let end = run(&second, tilde, m2, x);
                assert!(
                    (end - expected).abs() < 1e-6,
                    "{prediction_type:?} {end} {expected}"
                );
            }
        }
    }

    #[test]
    fn clipping_and_order_are_checked() {
        let schedule = ScheduleConfig::default();
        let timesteps = TimestepConfig {
            num_inference_steps: 3,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        let bad = HeunConfig {
            clip_sample: Some(-1.0),
            ..HeunConfig::default()
        };
        assert_eq!(
            HeunPlan::<3>::new(&schedule, &timesteps, &bad).err(),
            Some(Error::InvalidClipRange)
        );
        let plan: HeunPlan<3> =
            HeunPlan::new(&schedule, &timesteps, &HeunConfig::default()).unwrap();
        let mut buffer = [0.0f32; 2];
        let mut history = plan.history(&mut buffer, 2).unwrap();
        let mut x = [1.0f32, -1.0];
        assert_eq!(
            plan.step(5, &mut x, &[0.0; 2], &mut history),
            Err(Error::StepIndexOutOfRange { index: 5, steps: 5 })
        );
        assert_eq!(
            plan.step(0, &mut x, &[0.0; 1], &mut history),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(x, [1.0, -1.0]);
        // With clipping, x̂₀ = ±1 whatever the model says: a single step lands there.
        let clipped = HeunConfig {
            clip_sample: Some(1.0),
            ..HeunConfig::default()
        };
        let one = TimestepConfig {
            num_inference_steps: 1,
            ..timesteps
        };
        let plan: HeunPlan<1> = HeunPlan::new(&schedule, &one, &clipped).unwrap();
        let mut history = plan.history(&mut [], 2).unwrap();
        let mut x = [50.0f32, -50.0];
        plan.step(0, &mut x, &[-100.0, 100.0], &mut history)
            .unwrap();
        assert_eq!(x, [1.0, -1.0]);
    }
}
