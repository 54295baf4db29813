//! DPM-Solver and DPM-Solver++ multistep (Lu et al. 2022a, 2022b), as diffusers 0.42.1's
//! `DPMSolverMultistepScheduler` computes them.
//!
//! # The solver
//!
//! For a point with ᾱ, write α = √ᾱ, σ = √(1 − ᾱ) and λ = ln α − ln σ (half the log-SNR).
//! Step i goes from point s₀ (the step's timestep) to point t (the next timestep, or the final
//! sigma after the last step) with h = λ_t − λ_s₀. It converts the model output into
//! x̂₀ (`dpmsolver++`) or ε̂ (`dpmsolver`) — the value diffusers' `convert_model_output` returns and
//! keeps in `model_outputs` — and combines it with the converted outputs m₁, m₂ of the one or two
//! steps before (points s₁, s₂, with h₀ = λ_s₀ − λ_s₁, h₁ = λ_s₁ − λ_s₂, r₀ = h₀/h, r₁ = h₁/h):
//!
//! ```text
//! D₀ = m₀
//! order 2:  D₁ = (m₀ − m₁)/r₀
//! order 3:  D₁₀ = (m₀ − m₁)/r₀,  D₁₁ = (m₁ − m₂)/r₁
//!           D₁ = D₁₀ + r₀/(r₀ + r₁)·(D₁₀ − D₁₁),  D₂ = (D₁₀ − D₁₁)/(r₀ + r₁)
//!
//! dpmsolver++:  x_t = (σ_t/σ_s₀)·x − α_t·(e^{−h} − 1)·D₀ + k₁·D₁ + k₂·D₂
//!     midpoint (order 2): k₁ = −½·α_t·(e^{−h} − 1)
//!     heun (order 2), and order 3: k₁ = α_t·((e^{−h} − 1)/h + 1)
//!     order 3: k₂ = −α_t·((e^{−h} − 1 + h)/h² − ½)
//! dpmsolver:    x_t = (α_t/α_s₀)·x − σ_t·(e^{h} − 1)·D₀ + k₁·D₁ + k₂·D₂
//!     midpoint (order 2): k₁ = −½·σ_t·(e^{h} − 1)
//!     heun (order 2), and order 3: k₁ = −σ_t·((e^{h} − 1)/h − 1)
//!     order 3: k₂ = −σ_t·((e^{h} − 1 − h)/h² − ½)
//! ```
//!
//! (diffusers' `dpm_solver_first_order_update`, `multistep_dpm_solver_second_order_update`,
//! `multistep_dpm_solver_third_order_update`). The plan expands the D's, so that each step is one
//! fixed linear combination of x, the current converted output and the remembered ones, with
//! weights computed in f64 (`expm1` where diffusers writes e^{±h} − 1) and stored in f32; see
//! [`crate::multistep`].
//!
//! # Which order a step uses
//!
//! As diffusers' `step`: with N steps and `solver_order` k, step i uses order 1 when k = 1, at
//! i = 0, or at the last step when `euler_at_final`, or `lower_order_final` with N < 15, or
//! `final_sigmas_type = zero`; otherwise order 2 when k = 2, at i = 1, or at step N − 2 when
//! `lower_order_final` with N < 15; otherwise order 3. A plan remembers
//! (the highest order it uses) − 1 outputs: [`DpmSolverPlan::history_len`] buffers.
//!
//! # Timesteps and sigmas
//!
//! diffusers' `DPMSolverMultistepScheduler.set_timesteps` spaces its timesteps differently from
//! `DDIMScheduler` for two of the three spacings:
//!
//! - `linspace`: round(linspace(0, T − 1, N + 1)), reversed, without its last element (0). That
//!   is the first N elements of the core's `linspace` array for N + 1 steps.
//! - `leading`: k·⌊T/(N + 1)⌋ + `steps_offset` for k = N … 1: the first N elements of the core's
//!   `leading` array for N + 1 steps.
//! - `trailing`: as DDIM, round(T − k·T/N) − 1 for k = 0 … N − 1. For the N where diffusers'
//!   `numpy.arange` makes N + 1 elements (T = 1000: N = 61, 103, 121, …) diffusers runs an extra
//!   step at timestep −1 (whose sigma `numpy.interp` clamps to σ at t = 0); the core runs the N
//!   steps asked for, as it does for DDIM (see [`crate::TimestepSpacing::Trailing`]).
//!
//! Because linspace and leading take N + 1 points, N must be below T for them.
//!
//! diffusers' sigma of timestep t is √((1 − ᾱ_t)/ᾱ_t), and its array has one more element after
//! the N of the timesteps (`final_sigmas_type`): 0 (`zero`: the last step lands on x̂₀) or the
//! sigma of t = 0 (`sigma_min`). [`DpmSolverPlan::sigmas`] returns that array. With
//! `rescale_betas_zero_snr`, diffusers replaces ᾱ_{T−1} = 0 by 2⁻²⁴ so that the first sigma is
//! finite; so does the plan.
//!
//! # Karras, exponential and beta sigmas
//!
//! With `use_karras_sigmas`, `use_exponential_sigmas` or `use_beta_sigmas`
//! ([`DpmSolverConfig::sigma_schedule`]) diffusers ignores the spacing: the N sigmas run from
//! σ_max (the training sigma of t = T − 1) to σ_min (that of t = 0) by the schedule's rule (see
//! [`SigmaSchedule`]), each step's α_t = 1/√(σ² + 1) and σ_t = σ·α_t come from that sigma, and the
//! model sees the timestep the sigma maps back to (`_sigma_to_t`), rounded to the nearest integer
//! for Karras (truncated for `squaredcos_cap_v2`, where diffusers does not round) and truncated
//! for exponential and beta sigmas. Low sigmas can share a timestep. The final sigma is 0 or
//! the sigma of t = 0 (`sigma_min`), which equals the last step's own sigma: with
//! `final_sigmas_type = sigma_min` the last step has h ≈ 0 and does nothing. diffusers computes
//! that step's second- and third-order weights as 0/0 (NaN for `heun` and order 3, when the last
//! step is not first order); the plan takes the limit h → 0 of every order, the identity.
//!
//! # SDE-DPM-Solver++
//!
//! `algorithm_type = sde-dpmsolver++` (orders 1 and 2) adds fresh noise z at every step, from the
//! caller's [`NoiseSource`] of each sample ([`DpmSolverPlan::step_batch_with_noise`]; noise v1
//! from [`crate::noise_stream`] reproduces diffusers fed the same `variance_noise`):
//!
//! ```text
//! x_t = (σ_t/σ_s₀)·e^{−h}·x + α_t·(1 − e^{−2h})·D₀ + k₁·D₁ + σ_t·√(1 − e^{−2h})·z
//!     midpoint: k₁ = ½·α_t·(1 − e^{−2h});   heun: k₁ = α_t·((1 − e^{−2h})/(−2h) + 1)
//! ```
//!
//! A step to σ_t = 0 has no noise and draws none.
//!
//! # Where the core differs from diffusers
//!
//! - `dpmsolver` with `final_sigmas_type = zero`: diffusers refuses it (its formula gives
//!   0·∞ at σ_t = 0). The plan takes the limit σ_t → 0 of the first-order step,
//!   x_t = (x − σ_s₀·ε̂)/α_s₀ = x̂₀, which is what the `dpmsolver++` step gives there too.
//! - [`SampleClipping::Range`] (`clip_sample`) is not a `DPMSolverMultistepScheduler` option; the
//!   plan accepts it and clamps x̂₀ as DDIM does. Dynamic thresholding (`thresholding`) is
//!   diffusers': x̂₀ is thresholded before it is remembered (`dpmsolver++`), or ε̂ is recomputed
//!   from the thresholded x̂₀ (`dpmsolver`).
//! - Not supported: `sde-dpmsolver` (deprecated in diffusers), Lu lambdas and flow sigmas,
//!   `lambda_min_clipped` other than −∞, custom timesteps, and models with variance channels
//!   (diffusers keeps their first 3 channels, whatever the sample has).
//!
//! ```
//! use diffusion_core::{DpmSolverConfig, DpmSolverPlan, ScheduleConfig, TimestepConfig,
//!     TimestepSpacing};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
//! // DPM-Solver++ 2M, diffusers' defaults.
//! let plan: DpmSolverPlan<10> =
//!     DpmSolverPlan::new(&ScheduleConfig::default(), &timesteps, &DpmSolverConfig::default())?;
//! assert_eq!(plan.timesteps().next(), Some(999));
//! assert_eq!(plan.history_len(), 1); // one remembered x̂₀
//!
//! let mut x = [0.5f32; 16]; // x_T
//! let mut buffer = [0.0f32; 16]; // history_len() · 16 floats
//! let mut history = plan.history(&mut buffer, x.len())?;
//! for i in 0..plan.len() {
//!     let epsilon = [0.0f32; 16]; // the model's prediction at plan.timesteps().nth(i)
//!     plan.step(i, &mut x, &epsilon, &mut history, &mut [])?;
//! }
//! // With ε̂ = 0 every x̂₀ is x/α, and each step maps x to x·α_t/α_s: the run ends at x_T/α_999,
//! // and 1/α = √(σ² + 1) for diffusers' sigma σ.
//! let first_sigma = plan.sigmas().next().unwrap();
//! let expected = 0.5 * (first_sigma * first_sigma + 1.0).sqrt();
//! assert!((x[0] / expected - 1.0).abs() < 1e-5);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use heapless::Vec;

use crate::clipping::SampleClipping;
use crate::error::{Error, NameKind, SliceKind};
use crate::final_sigmas::FinalSigmasType;
use crate::multistep::{
    FINGERPRINT_START, Memory, MultistepHistory, MultistepPoint, MultistepWeights, Slots,
    TimestepRounding, fill_points, fill_sigma_points, fingerprint,
};
use crate::noise::{NoiseSource, SliceNoise, ensure_noise};
use crate::noise_level::{Level, Point, sigma_of};
use crate::prediction::PredictionType;
use crate::schedule::{BetaSchedule, ScheduleConfig};
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory, check_call};
use crate::sigmas::SigmaSchedule;
use crate::step::NOISE_CHUNK;
use crate::timesteps::TimestepConfig;

/// What the solver integrates (diffusers `algorithm_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpmSolverAlgorithm {
    /// `dpmsolver++` (Lu et al. 2022b): the data prediction x̂₀.
    #[default]
    DpmSolverPlusPlus,
    /// `dpmsolver` (Lu et al. 2022a): the noise prediction ε̂.
    DpmSolver,
    /// `sde-dpmsolver++` (Lu et al. 2022b, SDE-DPM-Solver++ orders 1 and 2): the data prediction
    /// x̂₀, and fresh noise at every step (noise v1, from a caller's [`NoiseSource`]).
    SdeDpmSolverPlusPlus,
}

impl FromStr for DpmSolverAlgorithm {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "dpmsolver++" => Ok(DpmSolverAlgorithm::DpmSolverPlusPlus),
            "dpmsolver" => Ok(DpmSolverAlgorithm::DpmSolver),
            "sde-dpmsolver++" => Ok(DpmSolverAlgorithm::SdeDpmSolverPlusPlus),
            _ => Err(Error::UnknownName(NameKind::DpmSolverAlgorithm)),
        }
    }
}

/// The second-order step's form (diffusers `solver_type`); order 3 has one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpmSolverType {
    /// `midpoint`: k₁ = ½·(the D₀ weight).
    #[default]
    Midpoint,
    /// `heun`: k₁ = α_t·((e^{−h} − 1)/h + 1) (`dpmsolver++`), −σ_t·((e^{h} − 1)/h − 1) (`dpmsolver`).
    Heun,
}

impl FromStr for DpmSolverType {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "midpoint" => Ok(DpmSolverType::Midpoint),
            "heun" => Ok(DpmSolverType::Heun),
            _ => Err(Error::UnknownName(NameKind::DpmSolverType)),
        }
    }
}

/// Everything about a DPM-Solver run that is not the schedule or the timesteps, by diffusers'
/// names. The default is diffusers': DPM-Solver++ 2M, midpoint, `lower_order_final`, final sigma
/// 0, ε-prediction, no thresholding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DpmSolverConfig {
    /// `algorithm_type`.
    pub algorithm_type: DpmSolverAlgorithm,
    /// `solver_order`: 1, 2 or 3.
    pub solver_order: u8,
    /// `solver_type`.
    pub solver_type: DpmSolverType,
    /// `lower_order_final`: with fewer than 15 steps, the last step is first order and the one
    /// before it at most second order.
    pub lower_order_final: bool,
    /// `euler_at_final`: the last step is first order.
    pub euler_at_final: bool,
    /// `final_sigmas_type`.
    pub final_sigmas_type: FinalSigmasType,
    /// `prediction_type`.
    pub prediction_type: PredictionType,
    /// `thresholding` (with `dynamic_thresholding_ratio`, `sample_max_value`), or a clamp of x̂₀
    /// (not a diffusers option for this scheduler).
    pub clipping: SampleClipping,
    /// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`: the run's sigmas
    /// between the training sigmas of t = 0 and t = T − 1 (the spacing is then unused).
    pub sigma_schedule: SigmaSchedule,
}

impl Default for DpmSolverConfig {
    fn default() -> Self {
        DpmSolverConfig {
            algorithm_type: DpmSolverAlgorithm::DpmSolverPlusPlus,
            solver_order: 2,
            solver_type: DpmSolverType::Midpoint,
            lower_order_final: true,
            euler_at_final: false,
            final_sigmas_type: FinalSigmasType::Zero,
            prediction_type: PredictionType::Epsilon,
            clipping: SampleClipping::None,
            sigma_schedule: SigmaSchedule::Interpolated,
        }
    }
}

impl DpmSolverConfig {
    /// Checks the order (1 to 3; 1 or 2 for `sde-dpmsolver++`, which diffusers has no third
    /// order of) and the clipping parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let highest = match self.algorithm_type {
            DpmSolverAlgorithm::SdeDpmSolverPlusPlus => 2,
            _ => 3,
        };
        if !(1..=highest).contains(&self.solver_order) {
            return Err(Error::InvalidSolverOrder {
                order: self.solver_order,
            });
        }
        self.clipping.validate()
    }

    /// The order diffusers' `step` uses at step `index` of `count` (see the module docs).
    fn order_at(&self, index: usize, count: usize) -> u8 {
        let few_steps = self.lower_order_final && count < 15;
        let lower_order_final = index + 1 == count
            && (self.euler_at_final
                || few_steps
                || self.final_sigmas_type == FinalSigmasType::Zero);
        let lower_order_second = index + 2 == count && few_steps;
        if self.solver_order == 1 || index < 1 || lower_order_final {
            1
        } else if self.solver_order == 2 || index < 2 || lower_order_second {
            2
        } else {
            3
        }
    }
}

/// One step's data: public only through the plan's accessors.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct DpmSolverStep {
    timestep: u32,
    /// ᾱ as the step uses it (2⁻²⁴ for a zero-SNR ᾱ_{T−1}), or its sigma.
    level: Level,
    order: u8,
    weights: MultistepWeights,
    /// The scale of the step's fresh noise (`sde-dpmsolver++`; 0 otherwise).
    noise_std: f32,
}

impl MultistepPoint for DpmSolverStep {
    fn at(timestep: u32) -> Self {
        DpmSolverStep {
            timestep,
            ..DpmSolverStep::default()
        }
    }

    fn timestep(&self) -> u32 {
        self.timestep
    }

    fn set_timestep(&mut self, timestep: u32) {
        self.timestep = timestep;
    }

    fn set_level(&mut self, level: Level) {
        self.level = level;
    }
}

/// A realized DPM-Solver run of at most `CAPACITY` steps: its timesteps, the order of each step
/// and every weight, computed once (O(T) time, O(steps) memory, like [`crate::DdpmDdimPlan`]).
#[derive(Clone, Debug)]
pub struct DpmSolverPlan<const CAPACITY: usize> {
    steps: Vec<DpmSolverStep, CAPACITY>,
    final_sigma: f32,
    history_len: usize,
    clipping: SampleClipping,
    stochastic: bool,
    /// The fingerprint of the weights, which the plan's histories carry.
    fingerprint: u32,
}

impl<const CAPACITY: usize> DpmSolverPlan<CAPACITY> {
    /// A plan with no steps, as a constant (for a `static`, filled by [`Self::rebuild`]).
    // Always inlined: the C interface writes an empty plan into its storage, and a call (taken
    // at opt-level "s" since the plan has its fingerprint) put two plan-sized copies on the
    // stack (11.6 KB and 15 KB instead of 0.6 and 0.9 KB).
    #[inline(always)]
    pub const fn empty() -> Self {
        DpmSolverPlan {
            steps: Vec::new(),
            final_sigma: 0.0,
            history_len: 0,
            clipping: SampleClipping::None,
            stochastic: false,
            fingerprint: 0,
        }
    }

    /// Validates the three configs and computes every step.
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &DpmSolverConfig,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, timesteps, config)?;
        Ok(plan)
    }

    /// [`Self::new`] in place. On error the plan is left empty.
    #[inline(always)]
    pub fn rebuild(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &DpmSolverConfig,
    ) -> Result<(), Error> {
        self.steps.clear();
        self.history_len = 0;
        let result = self.fill(schedule, timesteps, config);
        if result.is_err() {
            self.steps.clear();
            self.history_len = 0;
            self.fingerprint = 0;
        }
        result
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &DpmSolverConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let first_alpha_cumprod = match config.sigma_schedule {
            SigmaSchedule::Interpolated => fill_points(schedule, timesteps, &mut self.steps)?,
            sigma_schedule => {
                // diffusers rounds Karras (and Lu) timesteps except for squaredcos_cap_v2, and
                // casts the others as they are.
                let rounding = match (sigma_schedule, schedule.beta_schedule) {
                    (SigmaSchedule::Karras, BetaSchedule::SquaredCosCapV2) => {
                        TimestepRounding::TowardZero
                    }
                    (SigmaSchedule::Karras, _) => TimestepRounding::Nearest,
                    _ => TimestepRounding::TowardZero,
                };
                fill_sigma_points(
                    schedule,
                    timesteps.num_inference_steps,
                    sigma_schedule,
                    (None, None),
                    rounding,
                    &mut self.steps,
                )?
            }
        };
        let count = self.steps.len();
        let steps = &mut self.steps;
        let final_point = match (config.final_sigmas_type, config.sigma_schedule) {
            (FinalSigmasType::Zero, _) => Point::new(1.0),
            (FinalSigmasType::SigmaMin, SigmaSchedule::Interpolated) => {
                Point::new(first_alpha_cumprod as f64)
            }
            // As the steps' sigmas: diffusers' f32 sigma, equal to the last Karras sigma.
            (FinalSigmasType::SigmaMin, _) => Level::Sigma(sigma_of(first_alpha_cumprod)).point(),
        };
        self.final_sigma = match config.final_sigmas_type {
            FinalSigmasType::Zero => 0.0,
            FinalSigmasType::SigmaMin => sigma_of(first_alpha_cumprod),
        };

        let mut highest_order = 1;
        let mut plan_fingerprint = FINGERPRINT_START;
        for index in 0..count {
            let point = |i: usize| steps.get(i).map(|s| s.level.point());
            let (Some(current), Some(entry)) = (point(index), steps.get(index).copied()) else {
                break;
            };
            let next = point(index + 1).unwrap_or(final_point);
            let order = config.order_at(index, count);
            let earlier = [
                index.checked_sub(1).and_then(point),
                index.checked_sub(2).and_then(point),
            ];
            let weights = weights(config, order, current, next, earlier, entry.level);
            if !weights.is_finite() {
                return Err(Error::DegenerateSchedule {
                    timestep: entry.timestep,
                });
            }
            highest_order = highest_order.max(order);
            let step_weights = weights.to_f32();
            plan_fingerprint = fingerprint(plan_fingerprint, step_weights.words());
            if let Some(step) = steps.get_mut(index) {
                step.order = order;
                step.weights = step_weights;
                step.noise_std = weights.noise as f32;
            }
        }
        self.fingerprint = plan_fingerprint;
        self.history_len = highest_order as usize - 1;
        self.clipping = config.clipping;
        self.stochastic = config.algorithm_type == DpmSolverAlgorithm::SdeDpmSolverPlusPlus;
        Ok(())
    }

    /// Number of steps (model evaluations).
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The timestep of every step, in the order they run (descending): diffusers' `timesteps`.
    pub fn timesteps(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.steps.iter().map(|step| step.timestep)
    }

    /// diffusers' `sigmas`: √((1 − ᾱ_t)/ᾱ_t) of every step, then the final sigma (N + 1 values).
    pub fn sigmas(&self) -> impl Iterator<Item = f32> + '_ {
        self.steps
            .iter()
            .map(|step| step.level.sigma())
            .chain(core::iter::once(self.final_sigma).filter(|_| !self.steps.is_empty()))
    }

    /// The order (1, 2 or 3) each step uses, in order.
    pub fn orders(&self) -> impl ExactSizeIterator<Item = u8> + '_ {
        self.steps.iter().map(|step| step.order)
    }

    /// How many sample-sized buffers the solver remembers: (the highest order it uses) − 1.
    /// A [`MultistepHistory`] for `values` floats needs `history_len() · values` of them.
    pub fn history_len(&self) -> usize {
        self.history_len
    }

    /// The memory of a run over `values` floats (one sample, or a whole batch for
    /// [`Self::step_batch`]) in `buffer`, which must hold exactly `history_len() · values`
    /// floats. Its contents do not matter; the history expects step 0 first.
    pub fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(buffer, self.history_len, values, self.fingerprint)
    }

    /// Step `index` on one sample, in place: x at this step's timestep → x at the next one.
    /// `model_output` is the model's output for this sample at this step's timestep;
    /// `history` is this run's memory (made by [`Self::history`] for `sample.len()` floats) and
    /// must have run steps 0 … index − 1; `scratch` is needed only for dynamic thresholding (at
    /// least as long as the sample) and may be empty otherwise. On error nothing is modified.
    #[inline(always)]
    pub fn step(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        self.step_batch(index, 1, sample, model_output, history, scratch)
    }

    /// Step `index` on a batch of `batch` samples laid out sample after sample (NCHW), with
    /// their `batch` model outputs and one history for the whole batch (made for
    /// `samples.len()` floats). Each sample is thresholded on its own; otherwise the step is
    /// element-wise, so sample i's result never depends on the batch.
    /// A `sde-dpmsolver++` plan needs noise: [`Self::step_batch_with_noise`].
    #[inline(always)]
    pub fn step_batch(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let no_noise: &mut [SliceNoise<'_>] = &mut [];
        self.step_batch_with_noise(
            index,
            batch,
            samples,
            model_output,
            history,
            scratch,
            no_noise,
        )
    }

    /// Whether the plan draws fresh noise at its steps (`sde-dpmsolver++`).
    pub fn is_stochastic(&self) -> bool {
        self.stochastic
    }

    /// [`Self::step`] for a `sde-dpmsolver++` plan: `noise` gives the step's standard normal
    /// noise (as many values as the sample; a step to σ = 0 draws none). Other plans ignore it.
    #[inline(always)]
    pub fn step_with_noise<N: NoiseSource>(
        &self,
        index: usize,
        sample: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
        noise: &mut N,
    ) -> Result<(), Error> {
        self.step_batch_with_noise(
            index,
            1,
            sample,
            model_output,
            history,
            scratch,
            core::slice::from_mut(noise),
        )
    }

    /// [`Self::step_batch`] with exactly `batch` noise sources (source i for sample i, so that
    /// sample i never depends on the batch) for a `sde-dpmsolver++` plan; other plans ignore
    /// `noise` (an empty slice will do). The step is x_t = (σ_t/σ_s·e^{−h})·x +
    /// α_t·(1 − e^{−2h})·D₀ + k₁·D₁ + σ_t·√(1 − e^{−2h})·z, with k₁ = ½·α_t·(1 − e^{−2h})
    /// (`midpoint`) or α_t·((1 − e^{−2h})/(−2h) + 1) (`heun`), as diffusers'.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn step_batch_with_noise<N: NoiseSource>(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
        noise: &mut [N],
    ) -> Result<(), Error> {
        let step = self.steps.get(index).ok_or(Error::StepIndexOutOfRange {
            index,
            steps: self.steps.len(),
        })?;
        if self.stochastic && noise.len() != batch {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Noise,
                expected: batch,
                actual: noise.len(),
            });
        }
        history.check(index, self.history_len, samples.len(), self.fingerprint)?;
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
        if matches!(self.clipping, SampleClipping::DynamicThreshold { .. })
            && scratch.len() < per_sample
        {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Scratch,
                expected: per_sample,
                actual: scratch.len(),
            });
        }
        if self.stochastic && step.noise_std > 0.0 {
            for source in noise.iter() {
                ensure_noise(source, per_sample)?;
            }
        }
        let buffers = self.history_len;
        let (memory, write, read) = match (buffers, step.order) {
            (0, _) => (Memory::None, 0, 0),
            (1, 1) => (Memory::WriteOnly, 0, 0),
            (1, _) => (Memory::PreviousInWriteSlot, 0, 0),
            (_, order) => {
                let write = index % 2;
                let memory = match order {
                    1 => Memory::WriteOnly,
                    2 => Memory::PreviousInOtherSlot,
                    _ => Memory::Both,
                };
                (memory, write, 1 - write)
            }
        };
        if per_sample > 0 {
            for (sample_index, (sample, output)) in samples
                .chunks_mut(per_sample)
                .zip(model_output.chunks(per_sample))
                .enumerate()
            {
                let (write_slot, read_slot) = if memory == Memory::None {
                    (&mut [][..], &[][..])
                } else {
                    history.slots(write, read, sample_index * per_sample, per_sample)
                };
                let slots = Slots {
                    memory,
                    write: write_slot,
                    read: read_slot,
                };
                step.weights
                    .apply(self.clipping, sample, output, slots, scratch)?;
                if self.stochastic
                    && step.noise_std > 0.0
                    && let Some(source) = noise.get_mut(sample_index)
                {
                    add_noise(sample, step.noise_std, source);
                }
            }
        }
        history.advance(index);
        Ok(())
    }
}

/// DPM-Solver: one model call per step, whole timesteps, the model sees x itself; the history
/// holds the earlier converted outputs; SDE-DPM-Solver++ draws noise.
impl<const CAPACITY: usize> Scheduler for DpmSolverPlan<CAPACITY> {
    fn num_inference_steps(&self) -> usize {
        self.steps.len()
    }

    fn num_model_calls(&self) -> usize {
        self.steps.len()
    }

    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error> {
        let step = self.steps.get(call).ok_or(Error::StepIndexOutOfRange {
            index: call,
            steps: self.steps.len(),
        })?;
        Ok(ModelTimestep::whole(step.timestep))
    }

    fn input_scale(&self, call: usize) -> Result<f32, Error> {
        check_call(call, self.steps.len())?;
        Ok(1.0)
    }

    fn init_noise_sigma(&self) -> f32 {
        1.0
    }

    fn history_len(&self) -> usize {
        self.history_len
    }

    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(buffer, self.history_len, values, self.fingerprint)
    }

    fn draws_noise(&self) -> bool {
        self.stochastic
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
        self.step_batch_with_noise(
            call,
            batch,
            samples,
            model_output,
            &mut memory.history,
            memory.scratch,
            memory.noise,
        )
    }
}

/// x += scale·z with z from `noise`, drawn [`NOISE_CHUNK`] values at a time.
fn add_noise<N: NoiseSource>(sample: &mut [f32], scale: f32, noise: &mut N) {
    let mut z = [0.0f32; NOISE_CHUNK];
    for xs in sample.chunks_mut(NOISE_CHUNK) {
        let zs = &mut z[..xs.len()];
        noise.fill_standard_normal(zs);
        for (x, &z) in xs.iter_mut().zip(zs.iter()) {
            *x += scale * z;
        }
    }
}

/// [`MultistepWeights`] in f64, before rounding.
#[derive(Clone, Copy, Debug, Default)]
struct Weights {
    original: [f64; 2],
    converted: [f64; 3],
    next_from_sample: f64,
    /// Weights of m₀, m₁, m₂.
    next_from_outputs: [f64; 3],
    /// The scale of fresh noise (`sde-dpmsolver++`).
    noise: f64,
}

impl Weights {
    fn is_finite(&self) -> bool {
        self.original
            .iter()
            .chain(&self.converted)
            .chain(&self.next_from_outputs)
            .chain([&self.next_from_sample, &self.noise])
            .all(|w| w.is_finite())
    }

    fn to_f32(self) -> MultistepWeights {
        MultistepWeights {
            original_from_sample: self.original[0] as f32,
            original_from_model: self.original[1] as f32,
            converted_from_sample: self.converted[0] as f32,
            converted_from_model: self.converted[1] as f32,
            converted_from_original: self.converted[2] as f32,
            next_from_sample: self.next_from_sample as f32,
            next_from_current: self.next_from_outputs[0] as f32,
            next_from_previous: self.next_from_outputs[1] as f32,
            next_from_second_previous: self.next_from_outputs[2] as f32,
        }
    }
}

/// The weights of one step of `order` from `current` to `next`, with the points of the one or
/// two steps before it; `level` is the current step's (for the output conversion).
fn weights(
    config: &DpmSolverConfig,
    order: u8,
    current: Point,
    next: Point,
    earlier: [Option<Point>; 2],
    level: Level,
) -> Weights {
    let a = level.alpha_cumprod();
    let original = config.prediction_type.original_sample(a);
    let sde = config.algorithm_type == DpmSolverAlgorithm::SdeDpmSolverPlusPlus;
    let plus_plus = sde || config.algorithm_type == DpmSolverAlgorithm::DpmSolverPlusPlus;
    let clipped = config.clipping != SampleClipping::None;
    let converted = match (plus_plus, clipped) {
        (true, false) => [original.from_sample, original.from_model, 0.0],
        (true, true) => [0.0, 0.0, 1.0],
        (false, false) => {
            let epsilon = config.prediction_type.epsilon(a);
            [epsilon.from_sample, epsilon.from_model, 0.0]
        }
        // ε̂ = (x − α·clip(x̂₀))/σ, as diffusers recomputes it after thresholding.
        (false, true) => [1.0 / current.sigma, 0.0, -current.alpha / current.sigma],
    };

    let h = next.lambda - current.lambda;
    if h == 0.0 {
        // A step to its own sigma (a sigma schedule's last step with final sigma `sigma_min`):
        // the identity, the limit of every order as h → 0 (diffusers: 0/0 beyond order 1).
        return Weights {
            original: [original.from_sample, original.from_model],
            converted,
            next_from_sample: 1.0,
            ..Weights::default()
        };
    }
    let mut noise = 0.0;
    let (next_from_sample, base, first_difference, second_difference) = if sde {
        // e = e^{−2h} − 1; at σ_t = 0, h = +∞, e = −1 and there is no noise.
        let e = libm::expm1(-2.0 * h);
        noise = next.sigma * libm::sqrt(-e);
        let first = next.alpha * (e / (2.0 * h) + 1.0);
        (
            next.sigma / current.sigma * libm::exp(-h),
            -next.alpha * e,
            first,
            f64::NAN,
        )
    } else if plus_plus {
        // e = e^{−h} − 1; at σ_t = 0, h = +∞ and e = −1.
        let e = libm::expm1(-h);
        let first = next.alpha * (e / h + 1.0);
        let second = -next.alpha * ((e + h) / (h * h) - 0.5);
        (next.sigma / current.sigma, -next.alpha * e, first, second)
    } else {
        let e = libm::expm1(h);
        // σ_t·(e^{h} − 1) = α_t·σ_s₀/α_s₀ − σ_t, finite at σ_t = 0 where e^{h} is not.
        let base = if next.sigma == 0.0 {
            -(next.alpha * current.sigma / current.alpha - next.sigma)
        } else {
            -next.sigma * e
        };
        let first = -next.sigma * (e / h - 1.0);
        let second = -next.sigma * ((e - h) / (h * h) - 0.5);
        (next.alpha / current.alpha, base, first, second)
    };

    let mut outputs = [base, 0.0, 0.0];
    let ratio = |earlier: Option<Point>, later: Point| {
        earlier.map_or(f64::NAN, |point| (later.lambda - point.lambda) / h)
    };
    match order {
        1 => {}
        2 => {
            let r0 = ratio(earlier[0], current);
            let k1 = match config.solver_type {
                DpmSolverType::Midpoint => 0.5 * base,
                DpmSolverType::Heun => first_difference,
            };
            // D₁ = (m₀ − m₁)/r₀.
            outputs[0] += k1 / r0;
            outputs[1] -= k1 / r0;
        }
        _ => {
            let r0 = ratio(earlier[0], current);
            let r1 = earlier[0].map_or(f64::NAN, |previous| ratio(earlier[1], previous));
            // D₁₀ = (m₀ − m₁)/r₀, D₁₁ = (m₁ − m₂)/r₁, as weights of (m₀, m₁, m₂).
            let d10 = [1.0 / r0, -1.0 / r0, 0.0];
            let d11 = [0.0, 1.0 / r1, -1.0 / r1];
            for k in 0..3 {
                let difference = d10[k] - d11[k];
                let d1 = d10[k] + r0 / (r0 + r1) * difference;
                let d2 = difference / (r0 + r1);
                outputs[k] += first_difference * d1 + second_difference * d2;
            }
        }
    }
    Weights {
        original: [original.from_sample, original.from_model],
        converted,
        next_from_sample,
        next_from_outputs: outputs,
        noise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timesteps::TimestepSpacing;

    fn timesteps(steps: u32, spacing: TimestepSpacing) -> TimestepConfig {
        TimestepConfig {
            num_inference_steps: steps,
            spacing,
            steps_offset: 0,
        }
    }

    fn plan(steps: u32, config: &DpmSolverConfig) -> DpmSolverPlan<32> {
        let timesteps = timesteps(steps, TimestepSpacing::Trailing);
        DpmSolverPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap()
    }

    #[test]
    fn timesteps_take_n_of_n_plus_one_points_for_linspace_and_leading() {
        let schedule = ScheduleConfig::default();
        let config = DpmSolverConfig::default();
        let collect = |spacing, offset| {
            let timesteps = TimestepConfig {
                steps_offset: offset,
                ..timesteps(10, spacing)
            };
            let plan: DpmSolverPlan<10> =
                DpmSolverPlan::new(&schedule, &timesteps, &config).unwrap();
            plan.timesteps().collect::<heapless::Vec<u32, 10>>()
        };
        // numpy.linspace(0, 999, 11).round()[::-1][:-1]
        assert_eq!(
            collect(TimestepSpacing::Linspace, 0)[..],
            [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
        );
        assert_eq!(
            collect(TimestepSpacing::Leading, 1)[..],
            [901, 811, 721, 631, 541, 451, 361, 271, 181, 91]
        );
        assert_eq!(
            collect(TimestepSpacing::Trailing, 0)[..],
            [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
        );
        // N + 1 points must fit in T for linspace and leading; the error names N.
        let all = timesteps(1000, TimestepSpacing::Linspace);
        assert_eq!(
            DpmSolverPlan::<1000>::new(&schedule, &all, &config).err(),
            Some(Error::InvalidStepCount {
                steps: 1000,
                num_train_timesteps: 1000
            })
        );
        let none = timesteps(0, TimestepSpacing::Trailing);
        assert!(matches!(
            DpmSolverPlan::<10>::new(&schedule, &none, &config),
            Err(Error::InvalidStepCount { steps: 0, .. })
        ));
    }

    #[test]
    fn orders_and_history_length() {
        let third = DpmSolverConfig {
            solver_order: 3,
            ..DpmSolverConfig::default()
        };
        let plan = plan(10, &third);
        assert!(plan.orders().eq([1, 2, 3, 3, 3, 3, 3, 3, 2, 1]));
        assert_eq!(plan.history_len(), 2);
        assert_eq!(plan.sigmas().count(), 11);
        assert_eq!(plan.sigmas().last(), Some(0.0));
        // Three steps never reach order 3: one buffer is enough.
        let short = self::plan(3, &third);
        assert!(short.orders().eq([1, 2, 1]));
        assert_eq!(short.history_len(), 1);
        let first = self::plan(
            10,
            &DpmSolverConfig {
                solver_order: 1,
                ..DpmSolverConfig::default()
            },
        );
        assert_eq!(first.history_len(), 0);
        for order in [0, 4] {
            let config = DpmSolverConfig {
                solver_order: order,
                ..DpmSolverConfig::default()
            };
            let timesteps = timesteps(10, TimestepSpacing::Trailing);
            assert_eq!(
                DpmSolverPlan::<10>::new(&ScheduleConfig::default(), &timesteps, &config).err(),
                Some(Error::InvalidSolverOrder { order })
            );
        }
        let mut capacity: DpmSolverPlan<5> = DpmSolverPlan::empty();
        assert_eq!(
            capacity.rebuild(
                &ScheduleConfig::default(),
                &timesteps(10, TimestepSpacing::Trailing),
                &third
            ),
            Err(Error::CapacityExceeded {
                needed: 10,
                capacity: 5
            })
        );
        assert!(capacity.is_empty() && capacity.history_len() == 0);
    }

    #[test]
    fn a_history_of_another_plan_is_refused() {
        let plan = plan(10, &DpmSolverConfig::default());
        let others = [
            self::plan(
                10,
                &DpmSolverConfig {
                    algorithm_type: DpmSolverAlgorithm::DpmSolver,
                    ..DpmSolverConfig::default()
                },
            ),
            self::plan(
                10,
                &DpmSolverConfig {
                    prediction_type: PredictionType::VPrediction,
                    ..DpmSolverConfig::default()
                },
            ),
        ];
        for other in others {
            assert_eq!(
                (other.len(), other.history_len()),
                (plan.len(), plan.history_len())
            );
            let mut buffer = [0.5f32; 8];
            let mut history = other.history(&mut buffer, 8).unwrap();
            let mut x = [0.25f32; 8];
            assert_eq!(
                plan.step(0, &mut x, &[0.1; 8], &mut history, &mut []),
                Err(Error::ForeignHistory)
            );
            assert_eq!(x, [0.25; 8], "a refused step must not touch the sample");
            assert_eq!(history.next_step(), 0);
            assert_eq!(buffer, [0.5; 8], "nor the history");
        }
    }

    #[test]
    fn history_size_and_step_order_are_checked() {
        let plan = plan(10, &DpmSolverConfig::default());
        let mut wrong = [0.0f32; 7];
        assert_eq!(
            plan.history(&mut wrong, 8).err(),
            Some(Error::LengthMismatch {
                slice: SliceKind::History,
                expected: 8,
                actual: 7
            })
        );
        let mut buffer = [f32::NAN; 8];
        let mut history = plan.history(&mut buffer, 8).unwrap();
        let mut x = [0.25f32; 8];
        let epsilon = [0.1f32; 8];
        let refused = [
            (
                plan.step(1, &mut x, &epsilon, &mut history, &mut []),
                Error::StepOutOfOrder {
                    index: 1,
                    expected: 0,
                },
            ),
            (
                plan.step(10, &mut x, &epsilon, &mut history, &mut []),
                Error::StepIndexOutOfRange {
                    index: 10,
                    steps: 10,
                },
            ),
            (
                plan.step(0, &mut x[..7], &epsilon[..7], &mut history, &mut []),
                Error::LengthMismatch {
                    slice: SliceKind::Samples,
                    expected: 8,
                    actual: 7,
                },
            ),
            (
                plan.step(0, &mut x, &epsilon[..7], &mut history, &mut []),
                Error::LengthMismatch {
                    slice: SliceKind::ModelOutput,
                    expected: 8,
                    actual: 7,
                },
            ),
            (
                plan.step_batch(0, 3, &mut x, &epsilon, &mut history, &mut []),
                Error::LengthMismatch {
                    slice: SliceKind::Samples,
                    expected: 9,
                    actual: 8,
                },
            ),
        ];
        for (result, error) in refused {
            assert_eq!(result, Err(error));
        }
        assert_eq!(x, [0.25; 8], "a refused step must not touch the sample");
        assert_eq!(history.next_step(), 0);
        // A history made for another order.
        let third = self::plan(
            10,
            &DpmSolverConfig {
                solver_order: 3,
                ..DpmSolverConfig::default()
            },
        );
        assert!(matches!(
            third.step(0, &mut x, &epsilon, &mut history, &mut []),
            Err(Error::LengthMismatch {
                slice: SliceKind::History,
                ..
            })
        ));
        // In order, from a NaN-filled buffer: never read before written.
        for index in 0..plan.len() {
            plan.step(index, &mut x, &epsilon, &mut history, &mut [])
                .unwrap();
        }
        assert!(x.iter().all(|v| v.is_finite()));
        assert_eq!(
            plan.step(0, &mut x, &epsilon, &mut history, &mut []),
            Err(Error::StepOutOfOrder {
                index: 0,
                expected: 10
            })
        );
        history.reset();
        let mut again = [0.25f32; 8];
        for index in 0..plan.len() {
            plan.step(index, &mut again, &epsilon, &mut history, &mut [])
                .unwrap();
        }
        assert_eq!(again, x, "a reset history reruns the same run");
    }

    #[test]
    fn batch_samples_are_independent() {
        let config = DpmSolverConfig {
            solver_order: 3,
            clipping: SampleClipping::DynamicThreshold {
                ratio: 0.9,
                max_value: 1.5,
            },
            ..DpmSolverConfig::default()
        };
        let plan = plan(10, &config);
        let model = |x: &[f32], t: u32, out: &mut [f32]| {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = 0.5 * libm::sinf(v + 0.01 * t as f32);
            }
        };
        let run = |batch: usize, x: &mut [f32]| {
            let mut buffer = [0.0f32; 2 * 12];
            let mut history = plan.history(&mut buffer[..2 * x.len()], x.len()).unwrap();
            let mut output = [0.0f32; 12];
            let mut scratch = [0.0f32; 6];
            for (index, timestep) in plan.timesteps().enumerate() {
                model(x, timestep, &mut output[..x.len()]);
                plan.step_batch(
                    index,
                    batch,
                    x,
                    &output[..x.len()],
                    &mut history,
                    &mut scratch,
                )
                .unwrap();
            }
        };
        let mut pair: [f32; 12] = core::array::from_fn(|i| i as f32 / 3.0 - 2.0);
        let mut second: [f32; 6] = core::array::from_fn(|i| pair[6 + i]);
        run(2, &mut pair);
        run(1, &mut second);
        assert_eq!(pair[6..], second);
    }

    #[test]
    fn dpmsolver_final_step_to_zero_is_the_limit() {
        // diffusers refuses dpmsolver with final sigma 0 (0·∞ in its formula); its limit is x̂₀.
        let config = DpmSolverConfig {
            algorithm_type: DpmSolverAlgorithm::DpmSolver,
            solver_order: 1,
            ..DpmSolverConfig::default()
        };
        let plan = plan(1, &config);
        let mut x = [0.5f32, -1.0, 2.0];
        let epsilon = [0.3f32, 0.1, -0.7];
        let mut history = plan.history(&mut [], 3).unwrap();
        plan.step(0, &mut x, &epsilon, &mut history, &mut [])
            .unwrap();
        let alpha_cumprod = {
            let mut table = [0.0f32; 1000];
            crate::fill_alphas_cumprod(&ScheduleConfig::default(), &mut table).unwrap();
            table[999] as f64
        };
        for ((&got, x_t), e) in x.iter().zip([0.5f64, -1.0, 2.0]).zip([0.3f64, 0.1, -0.7]) {
            let original = (x_t - libm::sqrt(1.0 - alpha_cumprod) * e) / libm::sqrt(alpha_cumprod);
            assert!(
                ((got as f64) / original - 1.0).abs() < 1e-6,
                "{got} vs {original}"
            );
        }
    }

    #[test]
    #[cfg(feature = "sigma-schedules")]
    fn sigma_schedules_map_back_to_diffusers_timesteps() {
        // DPMSolverMultistepScheduler(use_*_sigmas=True).set_timesteps(10).timesteps, 0.42.1.
        let cases: [(SigmaSchedule, BetaSchedule<'_>, [u32; 10]); 4] = [
            (
                SigmaSchedule::Karras,
                ScheduleConfig::default().beta_schedule,
                [999, 937, 864, 775, 663, 511, 301, 102, 18, 0],
            ),
            (
                SigmaSchedule::Exponential,
                ScheduleConfig::default().beta_schedule,
                [999, 886, 757, 602, 409, 202, 72, 21, 4, 0],
            ),
            (
                SigmaSchedule::Beta,
                ScheduleConfig::default().beta_schedule,
                [999, 994, 983, 966, 942, 909, 862, 785, 629, 0],
            ),
            // Not rounded for the cosine schedule: truncated, and repeated.
            (
                SigmaSchedule::Karras,
                BetaSchedule::SquaredCosCapV2,
                [998, 998, 998, 998, 997, 995, 983, 894, 259, 0],
            ),
        ];
        for (sigma_schedule, beta_schedule, expected) in cases {
            let schedule = ScheduleConfig {
                beta_schedule,
                ..ScheduleConfig::default()
            };
            let config = DpmSolverConfig {
                sigma_schedule,
                ..DpmSolverConfig::default()
            };
            // The spacing is unused.
            for spacing in [TimestepSpacing::Linspace, TimestepSpacing::Trailing] {
                let plan: DpmSolverPlan<10> =
                    DpmSolverPlan::new(&schedule, &timesteps(10, spacing), &config).unwrap();
                assert!(plan.timesteps().eq(expected), "{sigma_schedule:?}");
            }
        }
    }

    #[test]
    #[cfg(feature = "sigma-schedules")]
    fn last_step_to_its_own_sigma_is_the_identity() {
        // Karras sigmas end at σ_min, the final sigma of `sigma_min`: the last step has h ≈ 0,
        // where diffusers' order-3 and heun weights are 0/0.
        for solver_type in [DpmSolverType::Midpoint, DpmSolverType::Heun] {
            let config = DpmSolverConfig {
                solver_order: 3,
                solver_type,
                lower_order_final: false,
                final_sigmas_type: FinalSigmasType::SigmaMin,
                sigma_schedule: SigmaSchedule::Karras,
                ..DpmSolverConfig::default()
            };
            let plan = plan(25, &config);
            assert_eq!(plan.orders().last(), Some(3));
            let mut buffer = [0.0f32; 2 * 4];
            let mut history = plan.history(&mut buffer, 4).unwrap();
            let mut x = [0.5f32, -1.0, 2.0, 0.25];
            for index in 0..plan.len() {
                let epsilon: [f32; 4] = core::array::from_fn(|k| libm::sinf(x[k] + index as f32));
                let before = x;
                plan.step(index, &mut x, &epsilon, &mut history, &mut [])
                    .unwrap();
                if index + 1 == plan.len() {
                    for (after, before) in x.iter().zip(before) {
                        assert!((after - before).abs() <= 1e-5 * before.abs(), "{x:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn sde_step_is_the_formula_with_the_given_noise() {
        let config = DpmSolverConfig {
            algorithm_type: DpmSolverAlgorithm::SdeDpmSolverPlusPlus,
            solver_order: 1,
            final_sigmas_type: FinalSigmasType::SigmaMin,
            ..DpmSolverConfig::default()
        };
        let plan = plan(4, &config);
        assert!(plan.is_stochastic());
        let mut history = plan.history(&mut [], 3).unwrap();
        let mut x = [0.5f32, -1.0, 2.0];
        let epsilon = [0.3f32, 0.1, -0.7];
        let z = [1.5f32, -0.25, 0.75];
        // Without noise: refused, nothing touched.
        assert_eq!(
            plan.step(0, &mut x, &epsilon, &mut history, &mut []),
            Err(Error::LengthMismatch {
                slice: SliceKind::Noise,
                expected: 1,
                actual: 0
            })
        );
        let mut noise = SliceNoise::new(&z);
        plan.step_with_noise(0, &mut x, &epsilon, &mut history, &mut [], &mut noise)
            .unwrap();
        assert_eq!(noise.consumed(), 3);
        // x_t = σ_t/σ_s·e^{−h}·x + α_t·(1 − e^{−2h})·x̂₀ + σ_t·√(1 − e^{−2h})·z, in f64.
        let mut table = [0.0f32; 1000];
        crate::fill_alphas_cumprod(&ScheduleConfig::default(), &mut table).unwrap();
        let (s, t) = (table[999] as f64, table[749] as f64);
        let lambda = |a: f64| 0.5 * libm::log(a / (1.0 - a));
        let h = lambda(t) - lambda(s);
        for k in 0..3 {
            let original =
                (([0.5, -1.0, 2.0][k]) - libm::sqrt(1.0 - s) * epsilon[k] as f64) / libm::sqrt(s);
            let expected = libm::sqrt((1.0 - t) / (1.0 - s)) * libm::exp(-h) * [0.5, -1.0, 2.0][k]
                + libm::sqrt(t) * (1.0 - libm::exp(-2.0 * h)) * original
                + libm::sqrt(1.0 - t) * libm::sqrt(1.0 - libm::exp(-2.0 * h)) * z[k] as f64;
            assert!(
                (x[k] as f64 - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                "{k}: {} vs {expected}",
                x[k]
            );
        }
        // No third order (diffusers has none for the SDE).
        let third = DpmSolverConfig {
            solver_order: 3,
            ..config
        };
        assert_eq!(
            DpmSolverPlan::<8>::new(
                &ScheduleConfig::default(),
                &timesteps(4, TimestepSpacing::Trailing),
                &third
            )
            .err(),
            Some(Error::InvalidSolverOrder { order: 3 })
        );
    }

    #[test]
    fn sde_batch_samples_use_their_own_noise() {
        let config = DpmSolverConfig {
            algorithm_type: DpmSolverAlgorithm::SdeDpmSolverPlusPlus,
            solver_type: DpmSolverType::Heun,
            ..DpmSolverConfig::default()
        };
        let plan = plan(10, &config);
        let run = |x: &mut [f32], streams: &mut [crate::NoiseStream]| {
            let mut buffer = [0.0f32; 8];
            let mut history = plan.history(&mut buffer[..x.len()], x.len()).unwrap();
            for index in 0..plan.len() {
                let output: [f32; 8] = core::array::from_fn(|k| 0.1 * (k % 4) as f32);
                let batch = streams.len();
                plan.step_batch_with_noise(
                    index,
                    batch,
                    x,
                    &output[..x.len()],
                    &mut history,
                    &mut [],
                    streams,
                )
                .unwrap();
            }
        };
        let mut pair = [0.5f32; 8];
        let mut alone = [0.5f32; 4];
        run(
            &mut pair,
            &mut [crate::noise_stream(9, 0), crate::noise_stream(9, 1)],
        );
        run(&mut alone, &mut [crate::noise_stream(9, 1)]);
        assert_eq!(pair[4..], alone);
        assert!(pair.iter().all(|v| v.is_finite()));
        assert_ne!(pair[..4], pair[4..], "each sample has its own noise");
    }

    #[test]
    fn names_parse_as_diffusers_writes_them() {
        assert_eq!(
            "dpmsolver++".parse(),
            Ok(DpmSolverAlgorithm::DpmSolverPlusPlus)
        );
        assert_eq!("dpmsolver".parse(), Ok(DpmSolverAlgorithm::DpmSolver));
        assert_eq!(
            "sde-dpmsolver".parse::<DpmSolverAlgorithm>(),
            Err(Error::UnknownName(NameKind::DpmSolverAlgorithm))
        );
        assert_eq!("heun".parse(), Ok(DpmSolverType::Heun));
        assert_eq!("sigma_min".parse(), Ok(FinalSigmasType::SigmaMin));
        assert!("karras".parse::<FinalSigmasType>().is_err());
    }
}
