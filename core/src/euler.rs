//! Euler and Euler ancestral sampling in sigma space (Karras et al. 2022, Algorithm 1 without
//! churn; k-diffusion's `sample_euler_ancestral`), as diffusers 0.42.1's
//! `EulerDiscreteScheduler` and `EulerAncestralDiscreteScheduler` compute them.
//!
//! # The sampler
//!
//! These samplers work on x = x_t/√ᾱ_t = x₀ + σ·ε with σ = √((1 − ᾱ)/ᾱ) (see [`crate::sigmas`]
//! for the N + 1 sigmas σ₀ > … > σ_{N−1}, then the final sigma). Step i goes from σ = σ_i to
//! σ′ = σ_{i+1}:
//!
//! ```text
//! model input  = c_in·x,  c_in = 1/√(σ² + 1)          (scale_model_input; = x_t in DDPM terms)
//! x̂₀           = c_skip·x + c_out·m                    (m the model output)
//!     epsilon:      c_skip = 1,            c_out = −σ
//!     v_prediction: c_skip = 1/(σ² + 1),   c_out = −σ/√(σ² + 1)
//!     sample:       c_skip = 0,            c_out = 1
//! d            = (x − x̂₀)/σ
//! Euler:       x′ = x + d·(σ′ − σ)
//! ancestral:   σ_up = √(σ′²·(σ² − σ′²)/σ²),  σ_down = √(σ′² − σ_up²)
//!              x′ = x + d·(σ_down − σ) + σ_up·z,  z ~ N(0, 1) from the sample's noise stream
//! ```
//!
//! The plan expands this into x′ = p_x·x + p_m·m (+ σ_up·z), weights computed once per step in
//! f64 from the f32 sigmas diffusers stores and kept in f32: the same per-element pass as DDPM and
//! DDIM. The run starts from x_T = `init_noise_sigma`·z and the model sees c_in·x at
//! `timesteps()[i]` (see [`EulerPlan::timesteps`] for fractional timesteps and integer models).
//!
//! # Where the core differs from diffusers
//!
//! - The sigmas come from the core's ᾱ (f64 arithmetic, stored in f32), diffusers' from its f32
//!   cumprod, which differs by an ulp or two; where 1 − ᾱ is small (the first training timesteps)
//!   diffusers' f32 `1 − ᾱ` magnifies that to about 1e-4 relative in σ. The core's values are the
//!   accurate ones.
//! - `trailing` with an N where diffusers' `numpy.arange` makes N + 1 timesteps: the core runs the
//!   N asked for (see [`crate::TimestepSpacing::Trailing`]).
//! - A `leading` timestep + `steps_offset` at or above T is refused (diffusers clamps its sigma).
//! - Euler ancestral in diffusers has no `use_*_sigmas`, `final_sigmas_type` or `timestep_type`
//!   and refuses `sample` prediction; the plan accepts them all (the update above is defined for
//!   any decreasing sigmas and any x̂₀).
//! - When the first two timesteps are equal (sigmas above σ_{T−1} map to T − 1), a diffusers
//!   pipeline starts at the second sigma (`index_for_timestep` takes the second match, its rule for
//!   image-to-image); the plan runs every sigma.
//! - Not supported: `interpolation_type = "log_linear"` (diffusers' gives N + 1 ascending sigmas
//!   for N timesteps), custom `timesteps`/`sigmas`, and `s_churn`/`s_tmin`/`s_tmax`/`s_noise`
//!   (arguments of `step`, not of the config; their defaults, no churn, are what the plan runs).
//!
//! ```
//! use diffusion_core::{noise_stream, EulerConfig, EulerPlan, NoiseSource, ScheduleConfig,
//!     TimestepConfig, TimestepSpacing};
//!
//! // EulerDiscreteScheduler's defaults: linspace spacing, interpolated sigmas, final sigma 0.
//! let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
//! let plan: EulerPlan<25> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
//! assert_eq!(plan.timesteps().nth(1), Some(957.375)); // linspace(0, 999, 25), not rounded
//!
//! let mut rng = noise_stream(42, 0);
//! let mut x = [0.0f32; 16];
//! rng.fill_standard_normal(&mut x);
//! for value in &mut x {
//!     *value *= plan.init_noise_sigma(); // x_T
//! }
//! let mut model_input = [0.0f32; 16];
//! for i in 0..plan.len() {
//!     plan.scale_model_input(i, &x, &mut model_input)?;
//!     let epsilon = [0.0f32; 16]; // the model's output for model_input at plan.timesteps().nth(i)
//!     plan.step(i, &mut x, &epsilon, &mut rng)?;
//! }
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use heapless::Vec;

use crate::clipping::SampleClipping;
use crate::error::{Error, NameKind, SliceKind};
use crate::final_sigmas::FinalSigmasType;
use crate::multistep::MultistepHistory;
use crate::noise::{NoiseSource, ensure_noise};
use crate::prediction::PredictionType;
use crate::schedule::ScheduleConfig;
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory};
use crate::sigmas::{
    SigmaSchedule, interpolate, numpy_linspace, sigmas_to_timesteps, training_sigmas,
};
use crate::step::StepCoefficients;
use crate::timesteps::{TimestepConfig, TimestepSpacing};

/// Which of diffusers' two Euler schedulers.
///
/// ```
/// use diffusion_core::{EulerConfig, EulerVariant};
///
/// let ancestral = EulerConfig { variant: EulerVariant::Ancestral, ..EulerConfig::default() };
/// # let _ = ancestral;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EulerVariant {
    /// `EulerDiscreteScheduler`: x′ = x + d·(σ′ − σ), deterministic.
    #[default]
    Euler,
    /// `EulerAncestralDiscreteScheduler`: x′ = x + d·(σ_down − σ) + σ_up·z.
    Ancestral,
}

/// What the model is given as its timestep (diffusers `timestep_type`).
///
/// ```
/// use diffusion_core::TimestepType;
///
/// assert_eq!("continuous".parse(), Ok(TimestepType::Continuous));
/// assert!("edm".parse::<TimestepType>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimestepType {
    /// `discrete`: the (possibly fractional) training timestep.
    #[default]
    Discrete,
    /// `continuous`: with `v_prediction` only (as diffusers), the EDM noise conditioning
    /// c_noise = ¼·ln σ; with the other prediction types the same as `discrete`.
    Continuous,
}

impl FromStr for TimestepType {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "discrete" => Ok(TimestepType::Discrete),
            "continuous" => Ok(TimestepType::Continuous),
            _ => Err(Error::UnknownName(NameKind::TimestepType)),
        }
    }
}

/// Everything about an Euler run that is not the schedule or the timesteps, by diffusers' names.
/// The default is `EulerDiscreteScheduler`'s (its default spacing, `linspace`, is the
/// [`TimestepConfig`]'s business).
///
/// ```
/// use diffusion_core::{EulerConfig, FinalSigmasType, SigmaSchedule};
///
/// let config = EulerConfig::default();
/// assert_eq!(config.sigma_schedule, SigmaSchedule::Interpolated);
/// assert_eq!(config.final_sigmas_type, FinalSigmasType::Zero);
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EulerConfig {
    /// Euler or Euler ancestral.
    pub variant: EulerVariant,
    /// `use_karras_sigmas` / `use_exponential_sigmas` / `use_beta_sigmas`.
    pub sigma_schedule: SigmaSchedule,
    /// `sigma_min`: the smallest sigma of a Karras, exponential or beta schedule (default: the
    /// sigma of the spacing's last timestep). Ignored by [`SigmaSchedule::Interpolated`].
    pub sigma_min: Option<f64>,
    /// `sigma_max`: the largest sigma of those schedules (default: the sigma of the spacing's
    /// first timestep).
    pub sigma_max: Option<f64>,
    /// `final_sigmas_type`: the sigma after the last step, 0 or σ of training timestep 0.
    pub final_sigmas_type: FinalSigmasType,
    /// `timestep_type`.
    pub timestep_type: TimestepType,
    /// `prediction_type`.
    pub prediction_type: PredictionType,
}

impl Default for EulerConfig {
    fn default() -> Self {
        EulerConfig {
            variant: EulerVariant::Euler,
            sigma_schedule: SigmaSchedule::Interpolated,
            sigma_min: None,
            sigma_max: None,
            final_sigmas_type: FinalSigmasType::Zero,
            timestep_type: TimestepType::Discrete,
            prediction_type: PredictionType::Epsilon,
        }
    }
}

impl EulerConfig {
    /// Checks `sigma_min` and `sigma_max`: each finite and > 0, and `sigma_min ≤ sigma_max` when
    /// both are given.
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, Error};
    ///
    /// let config = EulerConfig { sigma_min: Some(0.0), ..EulerConfig::default() };
    /// assert!(matches!(config.validate(), Err(Error::InvalidSigmaRange { .. })));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSigmaRange`] naming both values (NaN for one not given).
    pub fn validate(&self) -> Result<(), Error> {
        let valid = |sigma: Option<f64>| sigma.is_none_or(|s| s.is_finite() && s > 0.0);
        let ordered = match (self.sigma_min, self.sigma_max) {
            (Some(min), Some(max)) => min <= max,
            _ => true,
        };
        if valid(self.sigma_min) && valid(self.sigma_max) && ordered {
            Ok(())
        } else {
            Err(self.sigma_range_error(f64::NAN, f64::NAN))
        }
    }

    fn sigma_range_error(&self, min: f64, max: f64) -> Error {
        Error::InvalidSigmaRange {
            sigma_min: self.sigma_min.unwrap_or(min),
            sigma_max: self.sigma_max.unwrap_or(max),
        }
    }

    /// Whether the model sees c_noise = ¼·ln σ (diffusers: `continuous` and `v_prediction`).
    fn continuous_timesteps(&self) -> bool {
        self.timestep_type == TimestepType::Continuous
            && self.prediction_type == PredictionType::VPrediction
    }
}

/// One step's data: public only through the plan's accessors.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct EulerStep {
    /// The timestep the model sees.
    timestep: f32,
    sigma: f32,
    /// c_in = 1/√(σ² + 1).
    input_scale: f32,
    /// x′ = p_x·x + p_m·m + σ_up·z (the x̂₀ weights unused: no clipping).
    coefficients: StepCoefficients,
}

/// A realized Euler or Euler-ancestral run of at most `CAPACITY` steps: its sigmas, the
/// timestep and input scale of each step, and every weight, computed once (O(T) time, two
/// passes over the schedule; O(steps) memory).
///
/// ```
/// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, SigmaSchedule, TimestepConfig,
///     TimestepSpacing};
///
/// let karras = EulerConfig { sigma_schedule: SigmaSchedule::Karras, ..EulerConfig::default() };
/// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
/// let plan: EulerPlan<10> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &karras)?;
/// assert_eq!(plan.sigmas().count(), 11);
/// assert_eq!(plan.timesteps().next(), Some(999.0));
/// let second = plan.timesteps().nth(1).unwrap();
/// assert!((second - 936.922).abs() < 1e-3); // diffusers: 936.9222
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EulerPlan<const CAPACITY: usize> {
    steps: Vec<EulerStep, CAPACITY>,
    final_sigma: f32,
    init_noise_sigma: f32,
}

impl<const CAPACITY: usize> EulerPlan<CAPACITY> {
    /// A plan with no steps, as a constant (for a `static`, filled by [`Self::rebuild`]).
    ///
    /// ```
    /// use diffusion_core::EulerPlan;
    ///
    /// static PLAN: EulerPlan<10> = EulerPlan::empty();
    /// assert!(PLAN.is_empty());
    /// ```
    pub const fn empty() -> Self {
        EulerPlan {
            steps: Vec::new(),
            final_sigma: 0.0,
            init_noise_sigma: 1.0,
        }
    }

    /// Validates the three configs and computes every step.
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: EulerPlan<10> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// assert!(plan.timesteps().eq([901.0, 801.0, 701.0, 601.0, 501.0, 401.0, 301.0, 201.0, 101.0, 1.0]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`ScheduleConfig::alphas_cumprod`] and [`TimestepConfig::validate`];
    /// [`Error::InvalidTrainTimesteps`] for T < 2; [`Error::CapacityExceeded`] for N above
    /// `CAPACITY`; [`Error::InvalidSigmaRange`] for a bad `sigma_min`/`sigma_max` (also when one
    /// of them lies on the wrong side of the other's default); [`Error::DegenerateSchedule`] when a
    /// step's weights or timestep are not finite (a sigma of 0 before the last step, sigmas that
    /// grow under Euler ancestral, or a training sigma of 0, ᾱ = 1 in f32, in the way of a
    /// timestep mapped back from a sigma).
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &EulerConfig,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, timesteps, config)?;
        Ok(plan)
    }

    /// [`Self::new`] in place. On error the plan is left empty.
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, Error, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let mut plan: EulerPlan<5> = EulerPlan::empty();
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// let error = plan.rebuild(&ScheduleConfig::default(), &timesteps, &EulerConfig::default());
    /// assert_eq!(error, Err(Error::CapacityExceeded { needed: 10, capacity: 5 }));
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
        config: &EulerConfig,
    ) -> Result<(), Error> {
        self.steps.clear();
        let result = self.fill(schedule, timesteps, config);
        if result.is_err() {
            self.steps.clear();
            self.final_sigma = 0.0;
            self.init_noise_sigma = 1.0;
        }
        result
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &EulerConfig,
    ) -> Result<(), Error> {
        let train_timesteps = schedule.num_train_timesteps;
        // Validates the schedule first (T, betas), as the other plans do.
        let _validated = schedule.alphas_cumprod()?;
        if train_timesteps < 2 {
            return Err(Error::InvalidTrainTimesteps {
                num_train_timesteps: train_timesteps,
            });
        }
        config.validate()?;
        timesteps.validate(train_timesteps)?;
        let count = timesteps.num_inference_steps as usize;
        if count > CAPACITY {
            return Err(Error::CapacityExceeded {
                needed: count,
                capacity: CAPACITY,
            });
        }

        // The spacing's timesteps: linspace unrounded (numpy.linspace in f64, stored as f32).
        let mut integers = timesteps.timesteps(train_timesteps)?;
        for index in 0..count {
            let integer = integers.next().unwrap_or(0);
            let timestep = match timesteps.spacing {
                TimestepSpacing::Linspace => {
                    numpy_linspace(0.0, (train_timesteps - 1) as f64, count, count - 1 - index)
                        as f32
                }
                _ => integer as f32,
            };
            let step = EulerStep {
                timestep,
                ..EulerStep::default()
            };
            self.steps.push(step).map_err(|_| Error::CapacityExceeded {
                needed: count,
                capacity: CAPACITY,
            })?;
        }

        // Pass 1: the training sigmas at the spacing's timesteps (numpy.interp), the steps visited
        // in ascending order (from the plan's end), and σ of training timestep 0.
        let mut sigma_zero = 0.0f32;
        let mut interpolated_first = 0.0f64;
        let mut interpolated_last = 0.0f64;
        {
            let mut pending = self.steps.iter_mut().enumerate().rev().peekable();
            let mut previous = 0.0f32;
            for (t, sigma) in training_sigmas(schedule)? {
                if t == 0 {
                    sigma_zero = sigma;
                }
                while let Some((index, step)) = pending.next_if(|(_, step)| {
                    let floor = libm::floor(step.timestep as f64);
                    (floor == t as f64 && floor == step.timestep as f64) || floor + 1.0 == t as f64
                }) {
                    let timestep = step.timestep as f64;
                    let floor = libm::floor(timestep);
                    let value = if floor == t as f64 {
                        sigma as f64
                    } else {
                        interpolate(previous, sigma, timestep - floor)
                    };
                    step.sigma = value as f32;
                    if index == 0 {
                        interpolated_first = value;
                    }
                    if index + 1 == count {
                        interpolated_last = value;
                    }
                }
                previous = sigma;
            }
        }

        // Pass 2 (Karras, exponential, beta): the schedule's sigmas, and the fractional timestep
        // of each (diffusers' _sigma_to_t, from the f64 sigma before it is stored as f32).
        if config.sigma_schedule != SigmaSchedule::Interpolated {
            if !cfg!(feature = "sigma-schedules") {
                return Err(Error::SigmaScheduleDisabled);
            }
            // diffusers' trailing array has an extra timestep −1 for some N (see
            // `TimestepSpacing::Trailing`); numpy.interp clamps its sigma to σ_0, and that
            // becomes the range's default low end.
            if timesteps.spacing == TimestepSpacing::Trailing
                && trailing_has_extra_timestep(train_timesteps, count)
            {
                interpolated_last = sigma_zero as f64;
            }
            let sigma_min = config.sigma_min.unwrap_or(interpolated_last);
            let sigma_max = config.sigma_max.unwrap_or(interpolated_first);
            if sigma_min
                .partial_cmp(&sigma_max)
                .is_none_or(|order| order.is_gt())
            {
                return Err(config.sigma_range_error(sigma_min, sigma_max));
            }
            let target = |index: usize| {
                config
                    .sigma_schedule
                    .sigma(index, count, sigma_min, sigma_max)
                    .unwrap_or(f64::NAN)
            };
            for (index, step) in self.steps.iter_mut().enumerate() {
                step.sigma = target(index) as f32;
            }
            let steps = &mut self.steps;
            sigmas_to_timesteps(schedule, count, target, |index, value| {
                if let Some(step) = steps.get_mut(index) {
                    step.timestep = value as f32;
                }
            })?;
        }

        self.final_sigma = match config.final_sigmas_type {
            FinalSigmasType::Zero => 0.0,
            FinalSigmasType::SigmaMin => sigma_zero,
        };
        let largest = self
            .steps
            .iter()
            .map(|step| step.sigma)
            .fold(self.final_sigma, |a, b| if b > a { b } else { a });
        // diffusers' init_noise_sigma, in its f32 arithmetic: σ_max for linspace and trailing,
        // √(σ_max² + 1) for leading.
        self.init_noise_sigma = match timesteps.spacing {
            TimestepSpacing::Leading => libm::sqrtf(largest * largest + 1.0),
            _ => largest,
        };

        let continuous = config.continuous_timesteps();
        let final_sigma = self.final_sigma;
        for index in 0..count {
            let next = self
                .steps
                .get(index + 1)
                .map_or(final_sigma, |step| step.sigma);
            let Some(step) = self.steps.get_mut(index) else {
                break;
            };
            let sigma = step.sigma as f64;
            if continuous {
                step.timestep = (libm::log(sigma) as f32) * 0.25;
            }
            step.input_scale = (1.0 / libm::sqrt(sigma * sigma + 1.0)) as f32;
            let weights = weights(config, sigma, next as f64);
            let coefficients = StepCoefficients {
                timestep: integer_timestep(step.timestep).clamp(0, u32::MAX as i64) as u32,
                prev_from_sample: weights.from_sample as f32,
                prev_from_model: weights.from_model as f32,
                noise_std: weights.noise as f32,
                adds_noise: weights.noise > 0.0,
                ..StepCoefficients::default()
            };
            let finite = step.timestep.is_finite()
                && weights.from_sample.is_finite()
                && weights.from_model.is_finite()
                && weights.noise.is_finite()
                && step.input_scale.is_finite()
                && sigma > 0.0;
            if !finite {
                return Err(Error::DegenerateSchedule {
                    timestep: coefficients.timestep,
                });
            }
            step.coefficients = coefficients;
        }
        Ok(())
    }

    /// Number of steps (model evaluations).
    ///
    /// ```
    /// use diffusion_core::EulerPlan;
    ///
    /// assert_eq!(EulerPlan::<4>::empty().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    ///
    /// ```
    /// use diffusion_core::EulerPlan;
    ///
    /// assert!(EulerPlan::<4>::empty().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The timestep the model is evaluated at in each step (diffusers' `timesteps`, f32):
    /// the spacing's timesteps (fractional for `linspace`), a fractional timestep for Karras,
    /// exponential and beta sigmas, or ¼·ln σ for `continuous` with `v_prediction`.
    ///
    /// A model that takes a float timestep gets this value. A model with an integer timestep
    /// input gets it truncated toward zero, as diffusers' ONNX pipelines do
    /// (`np.array([t], dtype=np.int64)`): see [`Self::integer_timesteps`].
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: EulerPlan<4> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// assert!(plan.timesteps().eq([999.0, 666.0, 333.0, 0.0]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn timesteps(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.steps.iter().map(|step| step.timestep)
    }

    /// The timestep an integer-timestep model gets at each step: [`Self::timesteps`] truncated
    /// toward zero (what diffusers' ONNX Stable Diffusion pipelines feed: `np.array([t],
    /// dtype=np.int64)` of the float timestep). 957.375 → 957; a `continuous` ¼·ln σ of −1.15 → −1.
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 25, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: EulerPlan<25> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// assert_eq!(plan.timesteps().nth(1), Some(957.375));
    /// assert_eq!(plan.integer_timesteps().nth(1), Some(957));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn integer_timesteps(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        self.steps
            .iter()
            .map(|step| integer_timestep(step.timestep))
    }

    /// diffusers' `sigmas`: the sigma of every step, then the final sigma (N + 1 values, f32).
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 2, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// let plan: EulerPlan<2> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// let sigmas: Vec<f32> = plan.sigmas().collect();
    /// assert_eq!(sigmas.len(), 3);
    /// assert!((sigmas[0] - 157.4073).abs() < 1e-3 && sigmas[2] == 0.0); // σ at t = 999, then 0
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn sigmas(&self) -> impl Iterator<Item = f32> + '_ {
        self.steps
            .iter()
            .map(|step| step.sigma)
            .chain(core::iter::once(self.final_sigma).filter(|_| !self.steps.is_empty()))
    }

    /// c_in = 1/√(σ² + 1) of each step: the model's input is c_in·x (diffusers'
    /// `scale_model_input`, which divides by √(σ² + 1)).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 5, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: EulerPlan<5> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// for (scale, sigma) in plan.input_scales().zip(plan.sigmas()) {
    ///     assert!((scale * (sigma * sigma + 1.0).sqrt() - 1.0).abs() < 1e-6);
    /// }
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn input_scales(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.steps.iter().map(|step| step.input_scale)
    }

    /// diffusers' `init_noise_sigma`, by which standard-normal noise is multiplied to give x_T:
    /// σ_max (the largest of [`Self::sigmas`]) for `linspace` and `trailing`, √(σ_max² + 1) for
    /// `leading` (diffusers' rule, computed in f32 as diffusers does).
    ///
    /// ```
    /// use diffusion_core::{EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig, TimestepSpacing};
    ///
    /// let config = |spacing| TimestepConfig { num_inference_steps: 10, spacing, steps_offset: 1 };
    /// let (schedule, euler) = (ScheduleConfig::default(), EulerConfig::default());
    /// let trailing: EulerPlan<10> = EulerPlan::new(&schedule, &config(TimestepSpacing::Trailing), &euler)?;
    /// assert_eq!(trailing.init_noise_sigma(), trailing.sigmas().next().unwrap());
    /// let leading: EulerPlan<10> = EulerPlan::new(&schedule, &config(TimestepSpacing::Leading), &euler)?;
    /// let sigma_max = leading.sigmas().next().unwrap();
    /// assert_eq!(leading.init_noise_sigma(), (sigma_max * sigma_max + 1.0).sqrt());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn init_noise_sigma(&self) -> f32 {
        self.init_noise_sigma
    }

    /// Writes the model's input for step `index`: `model_input = c_in·sample` (diffusers'
    /// `scale_model_input`).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 5, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: EulerPlan<5> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// let mut input = [0.0f32; 2];
    /// plan.scale_model_input(0, &[1.0, -2.0], &mut input)?;
    /// let scale = plan.input_scales().next().unwrap();
    /// assert_eq!(input, [scale, -2.0 * scale]);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`]; [`Error::LengthMismatch`] (naming
    /// [`SliceKind::ModelInput`]) when `model_input` is not as long as `sample`.
    pub fn scale_model_input(
        &self,
        index: usize,
        sample: &[f32],
        model_input: &mut [f32],
    ) -> Result<(), Error> {
        let step = self.step_data(index)?;
        if model_input.len() != sample.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelInput,
                expected: sample.len(),
                actual: model_input.len(),
            });
        }
        let scale = step.input_scale;
        for (out, &x) in model_input.iter_mut().zip(sample) {
            *out = scale * x;
        }
        Ok(())
    }

    /// Step `index` on one sample, in place: x at σ_index → x at σ_{index+1}. `model_output` is
    /// the model's output for [`Self::scale_model_input`]'s input at this step's timestep;
    /// `noise` is the sample's stream (drawn from by Euler ancestral only, and not on a step
    /// whose σ_up is 0, such as the last one with a final sigma of 0).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, noise_stream, EulerConfig, EulerPlan, ScheduleConfig, TimestepConfig};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 1, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: EulerPlan<1> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &EulerConfig::default())?;
    /// // One step to σ = 0 lands on x̂₀ = x − σ·ε̂.
    /// let sigma = plan.sigmas().next().unwrap();
    /// let mut x = [2.0f32];
    /// plan.step(0, &mut x, &[0.01], &mut noise_stream(0, 0))?;
    /// assert!((x[0] - (2.0 - sigma * 0.01)).abs() < 1e-5);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`]; [`Error::LengthMismatch`] when `model_output` is not as
    /// long as `sample`. On error nothing is modified.
    #[inline(always)]
    pub fn step<N: NoiseSource + ?Sized>(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        noise: &mut N,
    ) -> Result<(), Error> {
        let step = self.step_data(index)?;
        if model_output.len() != sample.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: sample.len(),
                actual: model_output.len(),
            });
        }
        step.coefficients
            .apply(SampleClipping::None, sample, model_output, noise, &mut [])
    }

    /// Step `index` on a batch of `batch` samples laid out sample after sample (NCHW), with
    /// their `batch` model outputs and exactly `batch` noise sources (source i for sample i, so
    /// sample i never depends on the batch).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, noise_stream, EulerConfig, EulerPlan, EulerVariant, ScheduleConfig,
    ///     TimestepConfig};
    ///
    /// let ancestral = EulerConfig { variant: EulerVariant::Ancestral, ..EulerConfig::default() };
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 1 };
    /// let plan: EulerPlan<10> = EulerPlan::new(&ScheduleConfig::default(), &timesteps, &ancestral)?;
    /// let mut pair = [0.5f32; 8];
    /// let mut streams = [noise_stream(3, 0), noise_stream(3, 1)];
    /// let mut alone = [0.5f32; 4];
    /// let mut stream = noise_stream(3, 1);
    /// for index in 0..plan.len() {
    ///     plan.step_batch(index, 2, &mut pair, &[0.1; 8], &mut streams)?;
    ///     plan.step(index, &mut alone, &[0.1; 4], &mut stream)?;
    /// }
    /// assert_eq!(pair[4..], alone);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`]; [`Error::LengthMismatch`] naming the noise sources (not
    /// `batch` of them), the samples (not a multiple of `batch`) or the model output (not as long
    /// as the samples). On error nothing is modified.
    #[inline(always)]
    pub fn step_batch<N: NoiseSource>(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        noise: &mut [N],
    ) -> Result<(), Error> {
        let step = self.step_data(index)?;
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
        if step.coefficients.adds_noise {
            for source in noise.iter() {
                ensure_noise(source, per_sample)?;
            }
        }
        for ((sample, output), source) in samples
            .chunks_mut(per_sample)
            .zip(model_output.chunks(per_sample))
            .zip(noise.iter_mut())
        {
            step.coefficients
                .apply(SampleClipping::None, sample, output, source, &mut [])?;
        }
        Ok(())
    }

    /// The model timestep of step `index`.
    pub(crate) fn model_timestep_at(&self, index: usize) -> Result<ModelTimestep, Error> {
        Ok(ModelTimestep::fractional(self.step_data(index)?.timestep))
    }

    /// c_in of step `index`.
    pub(crate) fn input_scale_at(&self, index: usize) -> Result<f32, Error> {
        Ok(self.step_data(index)?.input_scale)
    }

    fn step_data(&self, index: usize) -> Result<&EulerStep, Error> {
        self.steps.get(index).ok_or(Error::StepIndexOutOfRange {
            index,
            steps: self.steps.len(),
        })
    }
}

/// Euler and Euler ancestral: one model call per step at a fractional timestep, the model sees
/// c_in·x, no history; the ancestral variant draws noise.
impl<const CAPACITY: usize> Scheduler for EulerPlan<CAPACITY> {
    fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    fn num_model_calls(&self) -> usize {
        self.steps.len()
    }

    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error> {
        Ok(ModelTimestep::fractional(self.step_data(call)?.timestep))
    }

    fn input_scale(&self, call: usize) -> Result<f32, Error> {
        Ok(self.step_data(call)?.input_scale)
    }

    fn init_noise_sigma(&self) -> f32 {
        self.init_noise_sigma
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
        self.steps.iter().any(|step| step.coefficients.adds_noise)
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
        EulerPlan::step_batch(self, call, batch, samples, model_output, memory.noise)
    }
}

/// Whether `numpy.arange(T, 0, −T/N)` has N + 1 elements: its length is ⌈T/(T/N)⌉ in f64.
fn trailing_has_extra_timestep(train_timesteps: u32, count: usize) -> bool {
    let train = train_timesteps as f64;
    libm::ceil(train / (train / count as f64)) > count as f64
}

/// A float timestep as an integer-timestep model gets it: truncated toward zero (saturating).
fn integer_timestep(timestep: f32) -> i64 {
    timestep as i64
}

/// x′ = from_sample·x + from_model·m + noise·z, in f64.
struct Weights {
    from_sample: f64,
    from_model: f64,
    noise: f64,
}

/// The weights of a step from σ to `next` (see the module docs).
fn weights(config: &EulerConfig, sigma: f64, next: f64) -> Weights {
    let (skip, out) = match config.prediction_type {
        PredictionType::Epsilon => (1.0, -sigma),
        PredictionType::VPrediction => {
            let squared = sigma * sigma + 1.0;
            (1.0 / squared, -sigma / libm::sqrt(squared))
        }
        PredictionType::Sample => (0.0, 1.0),
    };
    let (dt, noise) = match config.variant {
        EulerVariant::Euler => (next - sigma, 0.0),
        EulerVariant::Ancestral => {
            let up = libm::sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
            let down = libm::sqrt(next * next - up * up);
            (down - sigma, up)
        }
    };
    // d = (x − x̂₀)/σ = ((1 − c_skip)·x − c_out·m)/σ;  x′ = x + d·dt.
    Weights {
        from_sample: 1.0 + dt * (1.0 - skip) / sigma,
        from_model: -dt * out / sigma,
        noise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timesteps(steps: u32, spacing: TimestepSpacing) -> TimestepConfig {
        TimestepConfig {
            num_inference_steps: steps,
            spacing,
            steps_offset: if spacing == TimestepSpacing::Leading {
                1
            } else {
                0
            },
        }
    }

    #[test]
    #[cfg(feature = "sigma-schedules")]
    fn refusals_name_the_input() {
        let schedule = ScheduleConfig::default();
        let config = EulerConfig::default();
        let ten = timesteps(10, TimestepSpacing::Trailing);
        assert_eq!(
            EulerPlan::<10>::new(&schedule, &timesteps(0, TimestepSpacing::Linspace), &config)
                .err(),
            Some(Error::InvalidStepCount {
                steps: 0,
                num_train_timesteps: 1000
            })
        );
        let inverted = EulerConfig {
            sigma_schedule: SigmaSchedule::Karras,
            sigma_min: Some(200.0),
            ..config
        };
        assert!(matches!(
            EulerPlan::<10>::new(&schedule, &ten, &inverted),
            Err(Error::InvalidSigmaRange { .. })
        ));
        let nan = EulerConfig {
            sigma_max: Some(f64::NAN),
            ..config
        };
        assert!(matches!(
            EulerPlan::<10>::new(&schedule, &ten, &nan),
            Err(Error::InvalidSigmaRange { .. })
        ));
        let tiny = ScheduleConfig {
            num_train_timesteps: 1,
            ..ScheduleConfig::default()
        };
        assert_eq!(
            EulerPlan::<1>::new(&tiny, &timesteps(1, TimestepSpacing::Linspace), &config).err(),
            Some(Error::InvalidTrainTimesteps {
                num_train_timesteps: 1
            })
        );
        // Ancestral steps to a larger sigma have no real σ_up.
        let growing = EulerConfig {
            variant: EulerVariant::Ancestral,
            sigma_schedule: SigmaSchedule::Karras,
            sigma_min: Some(0.001),
            final_sigmas_type: FinalSigmasType::SigmaMin,
            ..config
        };
        assert!(matches!(
            EulerPlan::<10>::new(&schedule, &ten, &growing),
            Err(Error::DegenerateSchedule { .. })
        ));
        let plan: EulerPlan<10> = EulerPlan::new(&schedule, &ten, &config).unwrap();
        let mut x = [1.0f32; 4];
        assert_eq!(
            plan.step(10, &mut x, &[0.0; 4], &mut crate::noise_stream(0, 0)),
            Err(Error::StepIndexOutOfRange {
                index: 10,
                steps: 10
            })
        );
        assert_eq!(
            plan.step(0, &mut x, &[0.0; 3], &mut crate::noise_stream(0, 0)),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            plan.scale_model_input(0, &x, &mut [0.0; 5]),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelInput,
                expected: 4,
                actual: 5
            })
        );
        assert_eq!(x, [1.0; 4]);
    }

    #[test]
    fn weights_are_the_update_expanded() {
        // x′ = x + (x − x̂₀)/σ·dt for each prediction type, against the formula in f64.
        let (sigma, next, x, m) = (3.0f64, 1.5f64, 0.7f64, -0.4f64);
        for prediction_type in [
            PredictionType::Epsilon,
            PredictionType::VPrediction,
            PredictionType::Sample,
        ] {
            let original = match prediction_type {
                PredictionType::Epsilon => x - sigma * m,
                PredictionType::VPrediction => {
                    m * (-sigma / libm::sqrt(sigma * sigma + 1.0)) + x / (sigma * sigma + 1.0)
                }
                PredictionType::Sample => m,
            };
            let config = EulerConfig {
                prediction_type,
                ..EulerConfig::default()
            };
            let w = weights(&config, sigma, next);
            let expected = x + (x - original) / sigma * (next - sigma);
            assert!((w.from_sample * x + w.from_model * m - expected).abs() < 1e-12);
            let ancestral = weights(
                &EulerConfig {
                    variant: EulerVariant::Ancestral,
                    ..config
                },
                sigma,
                next,
            );
            let up = libm::sqrt(next * next * (sigma * sigma - next * next)) / sigma;
            let down = libm::sqrt(next * next - up * up);
            let expected = x + (x - original) / sigma * (down - sigma);
            assert!(
                (ancestral.from_sample * x + ancestral.from_model * m - expected).abs() < 1e-12
            );
            assert!((ancestral.noise - up).abs() < 1e-12);
            // σ_down² + σ_up² = σ′².
            assert!((down * down + up * up - next * next).abs() < 1e-12);
        }
    }

    #[test]
    fn ancestral_draws_no_noise_on_a_last_step_to_zero() {
        let config = EulerConfig {
            variant: EulerVariant::Ancestral,
            ..EulerConfig::default()
        };
        let plan: EulerPlan<3> = EulerPlan::new(
            &ScheduleConfig::default(),
            &timesteps(3, TimestepSpacing::Trailing),
            &config,
        )
        .unwrap();
        let adds: heapless::Vec<bool, 3> = plan
            .steps
            .iter()
            .map(|step| step.coefficients.adds_noise)
            .collect();
        assert_eq!(adds[..], [true, true, false]);
    }

    #[test]
    fn names_parse_as_diffusers_writes_them() {
        assert_eq!("discrete".parse(), Ok(TimestepType::Discrete));
        assert_eq!(
            "Continuous".parse::<TimestepType>(),
            Err(Error::UnknownName(NameKind::TimestepType))
        );
    }
}
