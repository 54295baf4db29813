//! Latent consistency model sampling (Luo et al. 2023, "Latent Consistency Models"; multistep
//! consistency sampling of Song et al. 2023, Algorithm 1), as diffusers 0.42.1's `LCMScheduler`
//! computes it.
//!
//! # The timesteps
//!
//! A consistency model is distilled on a coarse grid of K = `original_inference_steps` training
//! timesteps, k = ⌊T/K⌋ apart (the "skipping step" of the paper): (K − j)·k − 1 for j = 0 … K − 1,
//! descending from K·k − 1. An N-step run (1 ≤ N ≤ K) takes N of them at evenly spaced indices:
//!
//! ```text
//! j_i = ⌊i·(K/N)⌋   (numpy.linspace(0, K, N, endpoint=False) in float64, floored)
//! t_i = (K − j_i)·k − 1,   i = 0 … N − 1
//! ```
//!
//! diffusers' `timestep_spacing` and `steps_offset` play no part (its `set_timesteps` never reads
//! them), so this plan has neither.
//!
//! # The step
//!
//! With a = ᾱ_t, a′ = ᾱ at the next planned timestep, x = x_t and m the model output:
//!
//! ```text
//! x̂₀       = clip(w_x·x + w_m·m)              (prediction type, then clip_sample / thresholding)
//! c_skip   = σ_d²/(s² + σ_d²),  c_out = s/√(s² + σ_d²),  s = t·timestep_scaling,  σ_d = 0.5
//! denoised = c_out·x̂₀ + c_skip·x               (the consistency function's boundary condition)
//! x_prev   = √a′·denoised + √(1 − a′)·z        (z ~ N(0, 1), every step but the last)
//! x_0      = denoised                          (the last step: no noise)
//! ```
//!
//! The last step is the same formula with a′ = 1, so the plan writes every step as the core's one
//! per-element pass (see [`crate::StepCoefficients`]) with p₀ = √a′·c_out, p_x = √a′·c_skip,
//! p_m = 0 and σ = √(1 − a′), a′ = 1 after the last step: weights computed once in f64 from the
//! f32 ᾱ and stored in f32. Clipping applies to x̂₀ before c_out, as in diffusers. The model sees
//! x_t itself (`scale_model_input` is the identity) at the integer timestep t_i, and the run starts
//! from x_T = z (`init_noise_sigma` = 1).
//!
//! # Where the core differs from diffusers
//!
//! - `set_alpha_to_one` is not a key: diffusers' final ᾱ is read only for a previous timestep
//!   below 0, which `LCMScheduler` never has (its last step returns `denoised`).
//! - c_skip and c_out are computed in f64 from the integer timestep and rounded once; diffusers
//!   computes them in float32 from its `LongTensor` timestep (an ulp or so apart).
//! - Not supported: custom `timesteps`, and `strength` below 1 (image-to-image's partial schedule).
//! - `epsilon` prediction on a zero-terminal-SNR schedule (ᾱ_{T−1} = 0 at t = T − 1, the first
//!   timestep of every run with K dividing T) is [`Error::DegenerateSchedule`]; diffusers divides
//!   by √ᾱ = 0 and returns infinities. A `timestep_scaling` that is not finite is refused the same way
//!   (its c_skip/c_out are not finite); diffusers accepts every float.
//! - The plan accepts the `sigmoid` beta schedule, which diffusers' `LCMScheduler` lacks.
//!
//! ```
//! use diffusion_core::{noise_stream, BetaSchedule, LcmConfig, LcmPlan, NoiseSource, ScheduleConfig};
//!
//! // LCMScheduler's defaults: scaled_linear betas from 0.00085 to 0.012, K = 50.
//! let schedule = ScheduleConfig {
//!     beta_schedule: BetaSchedule::ScaledLinear { beta_start: 0.00085, beta_end: 0.012 },
//!     ..ScheduleConfig::default()
//! };
//! let plan: LcmPlan<8> = LcmPlan::new(&schedule, 4, &LcmConfig::default())?;
//! assert!(plan.timesteps().eq([999, 759, 499, 259]));
//!
//! let mut rng = noise_stream(42, 0); // seed 42, sample 0
//! let mut x = [0.0f32; 16];
//! rng.fill_standard_normal(&mut x); // x_T (init_noise_sigma = 1)
//! for (i, timestep) in plan.timesteps().enumerate() {
//!     let epsilon = [0.0f32; 16]; // the model's output for x at timestep
//!     plan.step(i, &mut x, &epsilon, &mut rng, &mut [])?;
//! }
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use heapless::Vec;

use crate::clipping::SampleClipping;
use crate::error::{Error, SliceKind};
use crate::multistep::MultistepHistory;
use crate::noise::NoiseSource;
use crate::prediction::PredictionType;
use crate::schedule::ScheduleConfig;
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory, check_call};
use crate::step::StepCoefficients;

/// σ_d, the data standard deviation of the consistency boundary condition (diffusers hard-codes
/// `sigma_data = 0.5`).
const SIGMA_DATA: f64 = 0.5;

/// Everything about an LCM run that is not the schedule or N, by diffusers' names. The default is
/// `LCMScheduler`'s (its default betas, `scaled_linear` from 0.00085 to 0.012, are the
/// [`ScheduleConfig`]'s business).
///
/// ```
/// use diffusion_core::{LcmConfig, PredictionType, SampleClipping};
///
/// let config = LcmConfig::default();
/// assert_eq!((config.original_inference_steps, config.timestep_scaling), (50, 10.0));
/// assert_eq!((config.prediction_type, config.clipping), (PredictionType::Epsilon, SampleClipping::None));
/// assert_eq!(config.validate(1000), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LcmConfig {
    /// `original_inference_steps`: K, the size of the distillation grid the N timesteps are taken
    /// from (timesteps (K − j)·⌊T/K⌋ − 1), 1 ≤ N ≤ K ≤ T. diffusers' default: 50.
    pub original_inference_steps: u32,
    /// `timestep_scaling`: s = t·timestep_scaling in c_skip = σ_d²/(s² + σ_d²) and
    /// c_out = s/√(s² + σ_d²), σ_d = 0.5. diffusers' default: 10.0.
    pub timestep_scaling: f64,
    /// `prediction_type`: how x̂₀ follows from the model output. diffusers' default: `epsilon`.
    pub prediction_type: PredictionType,
    /// `clip_sample` + `clip_sample_range`, or `thresholding` + `dynamic_thresholding_ratio` +
    /// `sample_max_value` (thresholding wins when both are set, as in diffusers), applied to x̂₀
    /// before c_out. diffusers' default: neither (`clip_sample = false`, `thresholding = false`;
    /// range 1.0, ratio 0.995, max value 1.0 when enabled).
    pub clipping: SampleClipping,
}

impl Default for LcmConfig {
    fn default() -> Self {
        LcmConfig {
            original_inference_steps: 50,
            timestep_scaling: 10.0,
            prediction_type: PredictionType::Epsilon,
            clipping: SampleClipping::None,
        }
    }
}

impl LcmConfig {
    /// Checks K = `original_inference_steps` against T and the clipping parameters.
    ///
    /// ```
    /// use diffusion_core::{Error, LcmConfig};
    ///
    /// let config = LcmConfig { original_inference_steps: 2000, ..LcmConfig::default() };
    /// assert_eq!(config.validate(1000), Err(Error::InvalidStepCount { steps: 2000, num_train_timesteps: 1000 }));
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidStepCount`] with `steps` = K: K is 0 or above T (diffusers refuses both).
    /// - [`Error::InvalidClipRange`], [`Error::InvalidThreshold`]: bad [`SampleClipping`]
    ///   parameters.
    pub fn validate(&self, num_train_timesteps: u32) -> Result<(), Error> {
        let original = self.original_inference_steps;
        if original == 0 || original > num_train_timesteps {
            return Err(Error::InvalidStepCount {
                steps: original,
                num_train_timesteps,
            });
        }
        self.clipping.validate()
    }
}

/// A realized LCM run of at most `CAPACITY` steps: per step its timestep, ᾱ_t, ᾱ_prev and update
/// weights, computed once (one pass over the schedule, O(T) time; O(N) memory).
///
/// ```
/// use diffusion_core::{LcmConfig, LcmPlan, ScheduleConfig};
///
/// let config = LcmConfig { original_inference_steps: 20, ..LcmConfig::default() };
/// let plan: LcmPlan<8> = LcmPlan::new(&ScheduleConfig::default(), 8, &config)?;
/// assert!(plan.timesteps().eq([999, 899, 749, 649, 499, 399, 249, 149]));
/// assert_eq!((plan.num_model_calls(), plan.init_noise_sigma()), (8, 1.0));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LcmPlan<const CAPACITY: usize> {
    steps: Vec<StepCoefficients, CAPACITY>,
    clipping: SampleClipping,
}

impl<const CAPACITY: usize> LcmPlan<CAPACITY> {
    /// A plan with no steps, as a constant (for a `static`, filled by [`Self::rebuild`]).
    ///
    /// ```
    /// use diffusion_core::LcmPlan;
    ///
    /// static PLAN: LcmPlan<8> = LcmPlan::empty();
    /// assert_eq!(PLAN.num_inference_steps(), 0);
    /// ```
    #[must_use]
    pub const fn empty() -> Self {
        LcmPlan {
            steps: Vec::new(),
            clipping: SampleClipping::None,
        }
    }

    /// Validates the schedule, N = `num_inference_steps` and the config, and computes every step.
    ///
    /// ```
    /// use diffusion_core::{Error, LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// // N cannot exceed K = original_inference_steps.
    /// let plan = LcmPlan::<64>::new(&ScheduleConfig::default(), 51, &LcmConfig::default());
    /// assert_eq!(plan.err(), Some(Error::InvalidStepCount { steps: 51, num_train_timesteps: 50 }));
    /// ```
    ///
    /// # Errors
    ///
    /// - Those of [`ScheduleConfig::validate`] and [`LcmConfig::validate`].
    /// - [`Error::InvalidStepCount`]: N is 0 or above K (then `num_train_timesteps` holds K), or
    ///   above T (then it holds T).
    /// - [`Error::CapacityExceeded`]: N above `CAPACITY`.
    /// - [`Error::DegenerateSchedule`]: a step's weights are not finite: ᾱ_t is 0 in f32 where
    ///   the prediction type divides by it (`epsilon` at t = T − 1 of a zero-terminal-SNR
    ///   schedule), or `timestep_scaling` is not finite.
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        num_inference_steps: u32,
        config: &LcmConfig,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, num_inference_steps, config)?;
        Ok(plan)
    }

    /// [`Self::new`] in place. On error the plan is left empty.
    ///
    /// Inlined, as the other plans' `rebuild`, so that a caller with a constant schedule
    /// (firmware) links only the β layout it uses.
    ///
    /// ```
    /// use diffusion_core::{Error, LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// let mut plan: LcmPlan<4> = LcmPlan::empty();
    /// plan.rebuild(&ScheduleConfig::default(), 4, &LcmConfig::default())?;
    /// assert_eq!(plan.num_inference_steps(), 4);
    /// let error = plan.rebuild(&ScheduleConfig::default(), 8, &LcmConfig::default());
    /// assert_eq!(error, Err(Error::CapacityExceeded { needed: 8, capacity: 4 }));
    /// assert_eq!(plan.num_inference_steps(), 0);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`Self::new`].
    #[inline(always)]
    pub fn rebuild(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        num_inference_steps: u32,
        config: &LcmConfig,
    ) -> Result<(), Error> {
        self.steps.clear();
        self.clipping = SampleClipping::None;
        let result = self.fill(schedule, num_inference_steps, config);
        if result.is_err() {
            self.steps.clear();
            self.clipping = SampleClipping::None;
        }
        result
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        num_inference_steps: u32,
        config: &LcmConfig,
    ) -> Result<(), Error> {
        let train_timesteps = schedule.num_train_timesteps;
        // Validates the schedule (one O(T) pass with the zero-SNR rescale) before the rest.
        let alphas_cumprod = schedule.alphas_cumprod()?;
        config.validate(train_timesteps)?;
        let original = config.original_inference_steps;
        let count = num_inference_steps;
        // diffusers checks N against T, then against K (K ≤ T here, so the first only names T).
        if count > train_timesteps {
            return Err(Error::InvalidStepCount {
                steps: count,
                num_train_timesteps: train_timesteps,
            });
        }
        if count == 0 || count > original {
            return Err(Error::InvalidStepCount {
                steps: count,
                num_train_timesteps: original,
            });
        }
        if count as usize > CAPACITY {
            return Err(Error::CapacityExceeded {
                needed: count as usize,
                capacity: CAPACITY,
            });
        }

        let steps = &mut self.steps;
        let skipping_step = train_timesteps / original;
        // numpy.linspace(0, K, N, endpoint=False): i·(K/N) in float64.
        let stride = original as f64 / count as f64;
        for index in 0..count {
            let position = libm::floor(index as f64 * stride) as u32;
            let timestep = original
                .saturating_sub(position)
                .saturating_mul(skipping_step)
                .saturating_sub(1);
            let entry = StepCoefficients {
                timestep,
                ..StepCoefficients::default()
            };
            // Capacity was checked above; a failed push cannot happen, but is not a panic either.
            steps.push(entry).map_err(|_| Error::CapacityExceeded {
                needed: CAPACITY + 1,
                capacity: CAPACITY,
            })?;
        }

        // One ascending pass over ᾱ fills the descending (strictly: K/N ≥ 1) plan from its end.
        let mut pending = steps.iter_mut().rev().peekable();
        for (t, alpha_cumprod) in alphas_cumprod {
            if let Some(step) = pending.next_if(|step| step.timestep == t) {
                step.alpha_cumprod = alpha_cumprod as f32;
            }
        }

        let total = steps.len();
        for index in 0..total {
            // After the last step a′ = 1: x_prev = √1·denoised + √0·z = denoised.
            let alpha_cumprod_prev = steps.get(index + 1).map_or(1.0, |next| next.alpha_cumprod);
            let Some(step) = steps.get_mut(index) else {
                break;
            };
            let is_last = index + 1 == total;
            let computed = coefficients(
                config,
                step.timestep,
                step.alpha_cumprod,
                alpha_cumprod_prev,
                is_last,
            );
            if !finite(&computed) {
                return Err(Error::DegenerateSchedule {
                    timestep: step.timestep,
                });
            }
            *step = computed;
        }
        self.clipping = config.clipping;
        Ok(())
    }

    /// N, the number of steps (diffusers' `num_inference_steps`).
    ///
    /// ```
    /// use diffusion_core::{LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// let plan: LcmPlan<8> = LcmPlan::new(&ScheduleConfig::default(), 2, &LcmConfig::default())?;
    /// assert_eq!(plan.num_inference_steps(), 2);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    /// The number of model evaluations of a run: N, one per step.
    ///
    /// ```
    /// use diffusion_core::{LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// let plan: LcmPlan<8> = LcmPlan::new(&ScheduleConfig::default(), 4, &LcmConfig::default())?;
    /// assert_eq!(plan.num_model_calls(), plan.num_inference_steps());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn num_model_calls(&self) -> usize {
        self.steps.len()
    }

    /// The timestep of every step, in the order they run (descending): what the model is given.
    ///
    /// ```
    /// use diffusion_core::{LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// // K = 7: k = ⌊1000/7⌋ = 142, grid 993, 851, …, 141; N = 3 takes indices 0, 2, 4.
    /// let config = LcmConfig { original_inference_steps: 7, ..LcmConfig::default() };
    /// let plan: LcmPlan<8> = LcmPlan::new(&ScheduleConfig::default(), 3, &config)?;
    /// assert!(plan.timesteps().eq([993, 709, 425]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn timesteps(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.steps.iter().map(|step| step.timestep)
    }

    /// The scale of x_T = `init_noise_sigma`·z: 1, as diffusers' `LCMScheduler`.
    ///
    /// ```
    /// use diffusion_core::LcmPlan;
    ///
    /// assert_eq!(LcmPlan::<4>::empty().init_noise_sigma(), 1.0);
    /// ```
    #[must_use]
    pub fn init_noise_sigma(&self) -> f32 {
        1.0
    }

    /// Whether any step draws noise: every step but the last does, so a run of N ≥ 2 steps.
    ///
    /// ```
    /// use diffusion_core::{LcmConfig, LcmPlan, ScheduleConfig};
    ///
    /// let plan = |steps| LcmPlan::<4>::new(&ScheduleConfig::default(), steps, &LcmConfig::default());
    /// assert!(!plan(1)?.draws_noise()); // one-step sampling is deterministic
    /// assert!(plan(2)?.draws_noise());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn draws_noise(&self) -> bool {
        self.steps.iter().any(|step| step.adds_noise)
    }

    /// Step `index` on one sample, in place: x_t → x_prev (x₀ on the last step). `model_output`
    /// is the model's output for this sample at this step's timestep, as long as the sample;
    /// `noise` supplies z (as many values as the sample has, on every step but the last);
    /// `scratch` is needed only for dynamic thresholding (at least as long as the sample) and may
    /// be empty otherwise.
    ///
    /// ```
    /// use diffusion_core::{LcmConfig, LcmPlan, PredictionType, ScheduleConfig, SliceNoise};
    ///
    /// let config = LcmConfig { prediction_type: PredictionType::Sample, ..LcmConfig::default() };
    /// let plan: LcmPlan<4> = LcmPlan::new(&ScheduleConfig::default(), 4, &config)?;
    /// let mut x = [0.5f32, -0.5];
    /// let mut noise = SliceNoise::new(&[1.0, -1.0]); // given noise, e.g. to reproduce diffusers
    /// plan.step(0, &mut x, &[0.1, 0.2], &mut noise, &mut [])?;
    /// assert_eq!(noise.consumed(), 2);
    /// plan.step(3, &mut x, &[0.1, 0.2], &mut noise, &mut [])?; // the last step draws nothing
    /// assert_eq!(noise.consumed(), 2);
    /// // t = 259: c_out ≈ 1 − 1.9e-8, c_skip ≈ 3.7e-8, so x₀ ≈ the predicted sample.
    /// assert!((x[0] - 0.1).abs() < 1e-6 && (x[1] - 0.2).abs() < 1e-6);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::StepIndexOutOfRange`]: `index` ≥ N.
    /// - [`Error::LengthMismatch`]: `model_output` ([`SliceKind::ModelOutput`]) is not as long as
    ///   the sample, or, for dynamic thresholding, `scratch` ([`SliceKind::Scratch`]) is shorter
    ///   than the sample.
    ///
    /// On error the sample is left unchanged.
    // Always inlined (with `apply`): a caller compiled for wider vectors, such as host's AVX2
    // path, then gets the whole step vectorized its way.
    #[inline(always)]
    pub fn step<N: NoiseSource + ?Sized>(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        noise: &mut N,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let step = self.coefficients(index)?;
        if model_output.len() != sample.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: sample.len(),
                actual: model_output.len(),
            });
        }
        step.apply(self.clipping, sample, model_output, noise, scratch)
    }

    /// Step `index` on a batch of `batch` samples laid out sample after sample (NCHW): `samples`
    /// holds the B = `batch` samples, `model_output` their B predictions, and `noise` exactly B
    /// sources, source i for sample i, so sample i's noise never depends on B.
    ///
    /// ```
    /// use diffusion_core::{noise_stream, LcmConfig, LcmPlan, NoiseSource, ScheduleConfig};
    ///
    /// let plan: LcmPlan<4> = LcmPlan::new(&ScheduleConfig::default(), 4, &LcmConfig::default())?;
    /// // Samples 2 and 3 of seed 7 as a batch of two (4 values each)...
    /// let mut streams = [noise_stream(7, 2), noise_stream(7, 3)];
    /// let mut batch = [0.0f32; 8];
    /// for (sample, stream) in batch.chunks_mut(4).zip(&mut streams) {
    ///     stream.fill_standard_normal(sample);
    /// }
    /// for index in 0..plan.num_inference_steps() {
    ///     plan.step_batch(index, 2, &mut batch, &[0.1; 8], &mut streams, &mut [])?;
    /// }
    /// // ...equal sample 3 run alone.
    /// let mut stream = noise_stream(7, 3);
    /// let mut alone = [0.0f32; 4];
    /// stream.fill_standard_normal(&mut alone);
    /// for index in 0..plan.num_inference_steps() {
    ///     plan.step(index, &mut alone, &[0.1; 4], &mut stream, &mut [])?;
    /// }
    /// assert_eq!(alone, batch[4..]);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::StepIndexOutOfRange`]: `index` ≥ N, whatever the batch size.
    /// - [`Error::LengthMismatch`] naming the slice: `noise` does not hold `batch` sources
    ///   ([`SliceKind::Noise`]), `samples` is not a multiple of `batch` long ([`SliceKind::Samples`],
    ///   `expected` is the next multiple), `model_output` is not as long as `samples`
    ///   ([`SliceKind::ModelOutput`]), or `scratch` is too short ([`SliceKind::Scratch`]).
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
        if model_output.len() != samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: samples.len(),
                actual: model_output.len(),
            });
        }
        if per_sample == 0 {
            return Ok(());
        }
        // A short scratch fails on the first sample, before it is touched (`apply`).
        for ((sample, output), source) in samples
            .chunks_mut(per_sample)
            .zip(model_output.chunks(per_sample))
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

/// (c_skip, c_out) at `timestep`: with s = t·`timestep_scaling`, h = √(s² + σ_d²) (`hypot`, which
/// cannot overflow), c_skip = (σ_d/h)² = σ_d²/(s² + σ_d²) and c_out = s/h. Not finite for a
/// `timestep_scaling` that is not.
fn boundary_scalings(timestep: u32, timestep_scaling: f64) -> (f64, f64) {
    let scaled = timestep as f64 * timestep_scaling;
    let norm = libm::hypot(scaled, SIGMA_DATA);
    let ratio = SIGMA_DATA / norm;
    (ratio * ratio, scaled / norm)
}

/// The weights of the step at ᾱ_t = `alpha_cumprod` to ᾱ_prev = `alpha_cumprod_prev` (1 after
/// the last step), computed in f64 from the stored f32 ᾱ (as diffusers' are).
fn coefficients(
    config: &LcmConfig,
    timestep: u32,
    alpha_cumprod: f32,
    alpha_cumprod_prev: f32,
    is_last: bool,
) -> StepCoefficients {
    let original = config.prediction_type.original_sample(alpha_cumprod as f64);
    let (skip, out) = boundary_scalings(timestep, config.timestep_scaling);
    let a_prev = alpha_cumprod_prev as f64;
    let (scale, noise_std) = if is_last {
        (1.0, 0.0)
    } else {
        (libm::sqrt(a_prev), libm::sqrt(1.0 - a_prev))
    };
    StepCoefficients {
        timestep,
        alpha_cumprod,
        alpha_cumprod_prev,
        original_from_sample: original.from_sample as f32,
        original_from_model: original.from_model as f32,
        prev_from_original: (scale * out) as f32,
        prev_from_sample: (scale * skip) as f32,
        prev_from_model: 0.0,
        noise_std: noise_std as f32,
        adds_noise: !is_last,
        ..StepCoefficients::default()
    }
}

/// Whether every weight the per-element pass reads is finite.
fn finite(step: &StepCoefficients) -> bool {
    [
        step.original_from_sample,
        step.original_from_model,
        step.prev_from_original,
        step.prev_from_sample,
        step.noise_std,
    ]
    .iter()
    .all(|value| value.is_finite())
}

impl<const CAPACITY: usize> Scheduler for LcmPlan<CAPACITY> {
    fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    fn num_model_calls(&self) -> usize {
        self.steps.len()
    }

    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error> {
        check_call(call, self.steps.len())?;
        Ok(ModelTimestep::whole(self.steps[call].timestep))
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
        LcmPlan::draws_noise(self)
    }

    fn scratch_len(&self, sample_len: usize) -> usize {
        match self.clipping {
            SampleClipping::DynamicThreshold { .. } => sample_len,
            _ => 0,
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
        LcmPlan::step_batch(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::SliceNoise;
    use crate::schedule::BetaSchedule;

    /// LCMScheduler's default betas.
    fn scaled_linear() -> ScheduleConfig<'static> {
        ScheduleConfig {
            beta_schedule: BetaSchedule::ScaledLinear {
                beta_start: 0.00085,
                beta_end: 0.012,
            },
            ..ScheduleConfig::default()
        }
    }

    fn config(original_inference_steps: u32) -> LcmConfig {
        LcmConfig {
            original_inference_steps,
            ..LcmConfig::default()
        }
    }

    #[test]
    fn timesteps_match_diffusers() {
        // (T, K, N, LCMScheduler.set_timesteps(N, original_inference_steps=K) in diffusers 0.42.1)
        let table: &[(u32, u32, u32, &[u32])] = &[
            (1000, 50, 1, &[999]),
            (1000, 50, 2, &[999, 499]),
            (1000, 50, 3, &[999, 679, 339]),
            (1000, 50, 4, &[999, 759, 499, 259]),
            (1000, 50, 7, &[999, 859, 719, 579, 439, 299, 159]),
            (1000, 50, 8, &[999, 879, 759, 639, 499, 379, 259, 139]),
            (1000, 20, 3, &[999, 699, 349]),
            (1000, 20, 8, &[999, 899, 749, 649, 499, 399, 249, 149]),
            (1000, 1000, 3, &[999, 666, 333]),
            (1000, 1000, 7, &[999, 857, 714, 571, 428, 285, 142]),
            (1000, 7, 4, &[993, 851, 567, 283]),
            (1000, 7, 7, &[993, 851, 709, 567, 425, 283, 141]),
            (1, 1, 1, &[0]),
        ];
        for &(train, original, steps, expected) in table {
            let schedule = ScheduleConfig {
                num_train_timesteps: train,
                ..scaled_linear()
            };
            let plan: LcmPlan<8> = LcmPlan::new(&schedule, steps, &config(original)).unwrap();
            assert!(
                plan.timesteps().eq(expected.iter().copied()),
                "T = {train}, K = {original}, N = {steps}"
            );
        }
    }

    #[test]
    fn boundary_scalings_match_the_formula() {
        // (t, c_skip, c_out) from σ_d²/(s² + σ_d²) and s/√(s² + σ_d²), s = 10·t, in f64.
        let table = [
            (999, 2.5050075037374525e-09, 0.9999999987474963),
            (499, 1.004012021999791e-08, 0.99999999497994),
            (19, 6.92515979806234e-06, 0.9999965374141062),
            (0, 1.0, 0.0),
        ];
        for (timestep, skip, out) in table {
            let (got_skip, got_out) = boundary_scalings(timestep, 10.0);
            assert!((got_skip - skip).abs() <= 1e-15 * skip, "t = {timestep}");
            assert!((got_out - out).abs() <= 1e-15, "t = {timestep}");
        }
        assert_eq!(boundary_scalings(999, 1e300), (0.0, 1.0));
        assert!(boundary_scalings(999, f64::NAN).0.is_nan());
    }

    #[test]
    fn a_step_is_the_consistency_update() {
        // denoised = c_out·x̂₀ + c_skip·x, x_prev = √a′·denoised + √(1 − a′)·z, against f64.
        let (x, m, z) = (0.7f32, -0.4f32, 1.3f32);
        for prediction_type in [
            PredictionType::Epsilon,
            PredictionType::VPrediction,
            PredictionType::Sample,
        ] {
            let config = LcmConfig {
                prediction_type,
                timestep_scaling: 0.01, // c_skip and c_out both far from 0 and 1
                ..LcmConfig::default()
            };
            let plan: LcmPlan<4> = LcmPlan::new(&scaled_linear(), 4, &config).unwrap();
            for index in 0..4 {
                let step = plan.steps[index];
                let (a, a_prev) = (step.alpha_cumprod as f64, step.alpha_cumprod_prev as f64);
                let original = match prediction_type {
                    PredictionType::Epsilon => (x as f64 - (1.0 - a).sqrt() * m as f64) / a.sqrt(),
                    PredictionType::VPrediction => {
                        a.sqrt() * x as f64 - (1.0 - a).sqrt() * m as f64
                    }
                    PredictionType::Sample => m as f64,
                };
                let s = step.timestep as f64 * 0.01;
                let (skip, out) = (0.25 / (s * s + 0.25), s / (s * s + 0.25).sqrt());
                let denoised = out * original + skip * x as f64;
                let last = index == 3;
                let expected = if last {
                    denoised
                } else {
                    a_prev.sqrt() * denoised + (1.0 - a_prev).sqrt() * z as f64
                };
                let mut sample = [x];
                let values = [z];
                let mut noise = SliceNoise::new(&values);
                plan.step(index, &mut sample, &[m], &mut noise, &mut [])
                    .unwrap();
                assert_eq!(noise.consumed(), if last { 0 } else { 1 });
                let error = (sample[0] as f64 - expected).abs();
                assert!(
                    error <= 1e-6 * expected.abs().max(1.0),
                    "{prediction_type:?} step {index}: {} vs {expected}",
                    sample[0]
                );
            }
            assert_eq!(plan.steps[3].alpha_cumprod_prev, 1.0);
        }
    }

    #[test]
    fn clipping_bounds_the_prediction_before_c_out() {
        let config = LcmConfig {
            prediction_type: PredictionType::Sample,
            clipping: SampleClipping::Range(1.0),
            timestep_scaling: 0.01,
            ..LcmConfig::default()
        };
        let plan: LcmPlan<2> = LcmPlan::new(&scaled_linear(), 2, &config).unwrap();
        let last = plan.steps[1];
        let mut x = [0.3f32];
        plan.step(1, &mut x, &[3.0], &mut SliceNoise::new(&[]), &mut [])
            .unwrap();
        let expected = last.prev_from_original * 1.0 + last.prev_from_sample * 0.3;
        assert_eq!(x, [expected]);
        // Dynamic thresholding needs scratch as long as the sample, checked before any change.
        let threshold = LcmConfig {
            clipping: SampleClipping::DynamicThreshold {
                ratio: 0.9,
                max_value: 1.5,
            },
            ..config
        };
        let plan: LcmPlan<2> = LcmPlan::new(&scaled_linear(), 2, &threshold).unwrap();
        let mut pair = [0.3f32, 0.4];
        let no_streams = &mut [SliceNoise::new(&[]), SliceNoise::new(&[])];
        assert_eq!(
            plan.step_batch(1, 2, &mut pair, &[3.0, 3.0], no_streams, &mut []),
            Err(Error::LengthMismatch {
                slice: SliceKind::Scratch,
                expected: 1,
                actual: 0
            })
        );
        assert_eq!(pair, [0.3, 0.4]);
        plan.step_batch(1, 2, &mut pair, &[3.0, -0.5], no_streams, &mut [0.0])
            .unwrap();
        // One value per sample: its own quantile s = min(|x̂₀|, 1.5) (at least 1).
        let last = plan.steps[1];
        let expected = [
            last.prev_from_original * (1.5 / 1.5) + last.prev_from_sample * 0.3,
            last.prev_from_original * (-0.5 / 1.0) + last.prev_from_sample * 0.4,
        ];
        assert_eq!(pair, expected);
    }

    #[test]
    fn refusals_name_the_input() {
        let schedule = scaled_linear();
        let cases: &[(u32, LcmConfig, Error)] = &[
            (
                0,
                LcmConfig::default(),
                Error::InvalidStepCount {
                    steps: 0,
                    num_train_timesteps: 50,
                },
            ),
            (
                51,
                LcmConfig::default(),
                Error::InvalidStepCount {
                    steps: 51,
                    num_train_timesteps: 50,
                },
            ),
            (
                1001,
                config(1000),
                Error::InvalidStepCount {
                    steps: 1001,
                    num_train_timesteps: 1000,
                },
            ),
            (
                1,
                config(0),
                Error::InvalidStepCount {
                    steps: 0,
                    num_train_timesteps: 1000,
                },
            ),
            (
                1,
                config(1001),
                Error::InvalidStepCount {
                    steps: 1001,
                    num_train_timesteps: 1000,
                },
            ),
            (
                9,
                LcmConfig::default(),
                Error::CapacityExceeded {
                    needed: 9,
                    capacity: 8,
                },
            ),
            (
                4,
                LcmConfig {
                    clipping: SampleClipping::Range(-1.0),
                    ..LcmConfig::default()
                },
                Error::InvalidClipRange,
            ),
            (
                4,
                LcmConfig {
                    timestep_scaling: f64::INFINITY,
                    ..LcmConfig::default()
                },
                Error::DegenerateSchedule { timestep: 999 },
            ),
            (
                4,
                LcmConfig {
                    timestep_scaling: f64::NAN,
                    ..LcmConfig::default()
                },
                Error::DegenerateSchedule { timestep: 999 },
            ),
        ];
        for (steps, config, error) in cases {
            assert_eq!(
                LcmPlan::<8>::new(&schedule, *steps, config).err(),
                Some(*error),
                "N = {steps}, {config:?}"
            );
        }
        // Zero terminal SNR: ᾱ_999 = 0, where ε-prediction divides by √ᾱ; v-prediction does not.
        let zero_snr = ScheduleConfig {
            rescale_betas_zero_snr: true,
            ..schedule
        };
        assert_eq!(
            LcmPlan::<8>::new(&zero_snr, 4, &LcmConfig::default()).err(),
            Some(Error::DegenerateSchedule { timestep: 999 })
        );
        let v_prediction = LcmConfig {
            prediction_type: PredictionType::VPrediction,
            ..LcmConfig::default()
        };
        assert!(LcmPlan::<8>::new(&zero_snr, 4, &v_prediction).is_ok());
        // A finite scaling of any size (diffusers accepts every float) has finite weights.
        for timestep_scaling in [0.0, -10.0, 1e300] {
            let config = LcmConfig {
                timestep_scaling,
                ..LcmConfig::default()
            };
            assert!(LcmPlan::<8>::new(&schedule, 4, &config).is_ok());
        }
    }

    #[test]
    fn rebuild_replaces_the_plan_and_empties_it_on_error() {
        let mut plan: LcmPlan<8> = LcmPlan::empty();
        plan.rebuild(&scaled_linear(), 8, &config(20)).unwrap();
        assert_eq!(plan.num_inference_steps(), 8);
        assert!(plan.draws_noise());
        assert!(plan.rebuild(&scaled_linear(), 21, &config(20)).is_err());
        assert_eq!(plan.num_inference_steps(), 0);
        assert!(!plan.draws_noise());
        assert_eq!(
            plan.step(0, &mut [0.0], &[0.0], &mut SliceNoise::new(&[]), &mut []),
            Err(Error::StepIndexOutOfRange { index: 0, steps: 0 })
        );
    }

    #[test]
    fn step_batch_checks_every_count_and_the_index() {
        let plan: LcmPlan<4> = LcmPlan::new(&scaled_linear(), 4, &LcmConfig::default()).unwrap();
        let mut streams = [crate::noise_stream(1, 0), crate::noise_stream(1, 1)];
        let mut samples = [0.5f32; 8];
        let outputs: [f32; 8] = core::array::from_fn(|i| i as f32 / 8.0 - 0.5);
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
                &outputs[..7],
                &mut streams,
                &mut []
            ),
            Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: 8,
                actual: 7
            })
        );
        // No variance channels: a model output twice as long is refused, not split.
        let doubled = [0.0f32; 16];
        for output in [&outputs[..6], &doubled[..]] {
            assert_eq!(
                plan.step_batch(0, 2, &mut samples, output, &mut streams, &mut []),
                Err(Error::LengthMismatch {
                    slice: SliceKind::ModelOutput,
                    expected: 8,
                    actual: output.len()
                })
            );
        }
        assert_eq!(
            plan.step(
                0,
                &mut samples[..4],
                &doubled[..8],
                &mut streams[0],
                &mut []
            ),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: 4,
                actual: 8
            })
        );
        let no_streams: &mut [crate::NoiseStream] = &mut [];
        assert_eq!(
            plan.step_batch(4, 0, &mut [], &[], no_streams, &mut []),
            Err(Error::StepIndexOutOfRange { index: 4, steps: 4 })
        );
        assert_eq!(
            plan.step_batch(3, 0, &mut [], &[], no_streams, &mut []),
            Ok(())
        );
        assert_eq!(
            plan.step_batch(3, 0, &mut samples, &[], no_streams, &mut []),
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
        let mut alone = [0.5f32; 4];
        plan.step(
            0,
            &mut alone,
            &outputs[4..],
            &mut crate::noise_stream(1, 1),
            &mut [],
        )
        .unwrap();
        assert_eq!(alone, samples[4..]);
    }
}
