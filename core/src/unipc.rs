//! UniPC multistep (Zhao et al. 2023), as diffusers 0.42.1's `UniPCMultistepScheduler` computes
//! it: a predictor (UniP) of order p and, before it, a corrector (UniC) of the previous step's
//! result that uses the model output just computed.
//!
//! # The solver
//!
//! For a point with ᾱ, write α = √ᾱ, σ = √(1 − ᾱ) and λ = ln α − ln σ. Step i converts the model
//! output at x_i into m_i: x̂₀ (`predict_x0`, the default) or ε̂ — diffusers'
//! `convert_model_output`. With `predict_x0`, write K_t = α_t, A_{t,s} = σ_t/σ_s and ĥ = −h;
//! otherwise K_t = σ_t, A_{t,s} = α_t/α_s and ĥ = h. For a step from point s₀ to point t,
//! h = λ_t − λ_s₀, E = e^ĥ − 1 (diffusers' `h_phi_1`), B(h) = ĥ (`bh1`) or E (`bh2`), and
//!
//! ```text
//! b_k = k!·ĥ·φ_{k+1}(ĥ)/B(h),  φ₁(ĥ) = E/ĥ,  φ_{k+1}(ĥ) = (φ_k(ĥ) − 1/k!)/ĥ    (k = 1, 2, 3)
//! r_k = (λ_{s_k} − λ_s₀)/h,    D_k = (m_{s_k} − m_s₀)/r_k      (s_k: the k-th earlier point)
//! ```
//!
//! **Predictor** (UniP-p, diffusers' `multistep_uni_p_bh_update`), from point i to point i + 1:
//!
//! ```text
//! x_{i+1} = A·x_i − K·E·m_i − K·B(h)·Σ_{k<p} ρ_k·D_k
//! p = 2: ρ₁ = ½;   p = 3: [1 1; r₁ r₂]·ρ = [b₁; b₂]
//! ```
//!
//! **Corrector** (UniC-p, `multistep_uni_c_bh_update`), at the start of step i when the corrector
//! is on: it redoes step i − 1 (order p = that step's order, from the corrected x_{i−1}) with the
//! new output m_i as one more difference, and replaces x_i (the model still saw the predicted x_i):
//!
//! ```text
//! x_i^c = A·x_{i−1}^c − K·E·m_{i−1} − K·B(h)·(Σ_{k<p} ρ_k·D_k + ρ_p·(m_i − m_{i−1}))
//! p = 1: ρ₁ = ½;   p = 2, 3: R·ρ = b with R_{jk} = r_k^{j−1} (r_p = 1), j, k = 1 … p
//! ```
//!
//! The plan expands the differences, so that each step is, per element, two fixed linear
//! combinations: x^c = a_c·x_{i−1}^c + c₀·m_i + Σ c_k·m_{i−k} (or x^c = x_i without the
//! corrector), then x_{i+1} = a·x^c + p₀·m_i + Σ p_k·m_{i−k}, with every weight computed in f64
//! (`expm1` where diffusers writes e^x − 1, the small systems solved in f64) and stored in f32.
//!
//! # Orders and the corrector
//!
//! As diffusers' `step`: step i uses order min(`solver_order`, i + 1), and with
//! `lower_order_final` also at most N − i. The corrector runs at step i ≥ 1 unless i − 1 is in
//! `disable_corrector` (an index k there leaves step k's result uncorrected). The history keeps
//! the converted outputs the steps read (up to `solver_order` of them) and, when any corrector
//! runs, the last corrected sample: [`UniPcPlan::history_len`] buffers.
//!
//! # Timesteps and sigmas
//!
//! As [`crate::DpmSolverPlan`]: `linspace` and `leading` take the first N of N + 1 points,
//! `trailing` is DDIM's; diffusers' sigma of t is √((1 − ᾱ_t)/ᾱ_t), and one more sigma follows the
//! N steps (`final_sigmas_type`: 0 or the sigma of t = 0). With `rescale_betas_zero_snr`,
//! ᾱ_{T−1} = 2⁻²⁴ as diffusers sets it.
//!
//! Karras, exponential and beta sigmas ([`UniPcConfig::sigma_schedule`]) are as for
//! [`crate::DpmSolverPlan`], between [`UniPcConfig::sigma_min`] and [`UniPcConfig::sigma_max`]
//! (default: the training sigmas of t = 0 and t = T − 1), with two differences from DPM-Solver as
//! diffusers writes them: Karras timesteps are always rounded, and the final sigma of
//! `final_sigmas_type = sigma_min` is the schedule's own last sigma, so the last step goes from
//! that sigma to itself (h = 0) and is the identity at order 1 (`lower_order_final`).
//!
//! # The last step to σ = 0, where diffusers returns NaN
//!
//! With `final_sigmas_type = zero` the last predictor lands on σ_t = 0, α_t = 1, λ_t = +∞.
//!
//! - **`bh1`, order 1** (diffusers' default `lower_order_final`): diffusers evaluates
//!   x_t = A·x − α_t·E·m₀ − α_t·B(h)·0 with B(h) = ĥ = −∞, and −∞·0 is NaN for every element. For
//!   every σ_t > 0 the last term is exactly 0 (a first-order step has no differences), so its
//!   limit is 0, and with A = σ_t/σ_s → 0 and E = e^{−h} − 1 → −1 the limit of the step is
//!   **x_t = m₀ = x̂₀**, the same value `bh2` gives (order 1 does not depend on B). The plan
//!   computes the step that way; the golden test checks it against diffusers run with a final
//!   sigma of 1e-10 instead of 0, which converges to it.
//! - **`predict_x0 = false`, order 1**: diffusers computes σ_t·(e^h − 1) = 0·∞ = NaN (both
//!   `bh1` and `bh2`). Its limit is α_t·σ_s/α_s − σ_t = σ_s/α_s, so the step is
//!   x_t = (x − σ_s·ε̂)/α_s = x̂₀ again, which the plan uses.
//! - **Order 2 or 3** (`lower_order_final = false`): r_k = (λ_{s_k} − λ_s₀)/h → 0, so each D_k grows
//!   like h and the update has no limit (diffusers returns ±∞, or fails to solve a singular system
//!   at order 3). The plan takes the last step at **order 1** whenever the final sigma is 0, as
//!   diffusers' DPM-Solver does; [`UniPcPlan::orders`] reports it.
//!
//! # Other differences from diffusers
//!
//! - Thresholding (`thresholding`) applies to x̂₀ before it is remembered, as in diffusers; with
//!   `predict_x0 = false` diffusers ignores it, and so does the plan. [`SampleClipping::Range`]
//!   (`clip_sample`, not a `UniPCMultistepScheduler` option) clamps x̂₀ likewise.
//! - Not supported: `solver_p`, flow sigmas, dynamic shifting, custom sigmas, `flow_prediction`.
//! - `trailing` for the N where diffusers' `numpy.arange` makes N + 1 timesteps (T = 1000: N = 61,
//!   103, …): the plan runs the N steps asked for (see [`crate::DpmSolverPlan`]).
//!
//! ```
//! use diffusion_core::{ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
//! // UniPC bh2, order 2, with the corrector: diffusers' defaults.
//! let plan: UniPcPlan<10> =
//!     UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
//! assert!(plan.orders().eq([1, 2, 2, 2, 2, 2, 2, 2, 2, 1]));
//! assert_eq!(plan.history_len(), 3); // two remembered x̂₀ and the last sample
//!
//! let mut x = [0.5f32; 16]; // x_T
//! let mut buffer = [0.0f32; 3 * 16]; // history_len() · 16 floats
//! let mut history = plan.history(&mut buffer, x.len())?;
//! for i in 0..plan.len() {
//!     let epsilon = [0.0f32; 16]; // the model's prediction at plan.timesteps().nth(i)
//!     plan.step(i, &mut x, &epsilon, &mut history, &mut [])?;
//! }
//! // With ε̂ = 0 every x̂₀ is x/α, every step maps x to x·α_t/α_s exactly (all differences of
//! // x̂₀ vanish), so the run ends at x_T/α_999 = x_T·√(σ² + 1) for diffusers' first sigma σ.
//! let first_sigma = plan.sigmas().next().unwrap();
//! let expected = 0.5 * (first_sigma * first_sigma + 1.0).sqrt();
//! assert!((x[0] / expected - 1.0).abs() < 1e-5);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use heapless::Vec;

use crate::clipping::{SampleClipping, quantile};
use crate::error::{Error, NameKind, SliceKind};
use crate::final_sigmas::FinalSigmasType;
use crate::multistep::{
    FINGERPRINT_START, MultistepHistory, MultistepPoint, TimestepRounding, fill_points,
    fill_sigma_points, fingerprint,
};
use crate::noise::NoiseSource;
use crate::noise_level::{Level, Point, sigma_of};
use crate::prediction::PredictionType;
use crate::schedule::ScheduleConfig;
use crate::scheduler::{ModelTimestep, Scheduler, StepMemory, check_call};
use crate::sigmas::SigmaSchedule;
use crate::timesteps::TimestepConfig;

/// The form of B(h) in UniPC's weights (diffusers `solver_type`).
///
/// ```
/// use diffusion_core::UniPcSolverType;
///
/// assert_eq!("bh1".parse(), Ok(UniPcSolverType::Bh1));
/// // diffusers' __init__ replaces DPM-Solver's names by bh2.
/// assert_eq!("midpoint".parse(), Ok(UniPcSolverType::Bh2));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UniPcSolverType {
    /// `bh1`: B(h) = ĥ (recommended by the paper for unconditional sampling at few steps).
    Bh1,
    /// `bh2`: B(h) = e^ĥ − 1.
    #[default]
    Bh2,
}

impl FromStr for UniPcSolverType {
    type Err = Error;
    /// `bh1`, `bh2`; `midpoint`, `heun` and `logrho` read as `bh2`, as diffusers' constructor
    /// rewrites them.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownName`] with [`NameKind::UniPcSolverType`] for any other name.
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "bh1" => Ok(UniPcSolverType::Bh1),
            "bh2" | "midpoint" | "heun" | "logrho" => Ok(UniPcSolverType::Bh2),
            _ => Err(Error::UnknownName(NameKind::UniPcSolverType)),
        }
    }
}

/// Everything about a UniPC run that is not the schedule or the timesteps, by diffusers' names.
/// The default is diffusers': order 2, `bh2`, x̂₀ prediction, the corrector at every step,
/// `lower_order_final`, final sigma 0, ε-prediction, no thresholding.
///
/// ```
/// use diffusion_core::{UniPcConfig, UniPcSolverType};
///
/// // UniPC-3 bh1 without correcting the results of steps 0 and 1.
/// let config = UniPcConfig {
///     solver_order: 3,
///     solver_type: UniPcSolverType::Bh1,
///     disable_corrector: &[0, 1],
///     ..UniPcConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniPcConfig<'a> {
    /// `solver_order` p: 1, 2 or 3 (the predictor's order; the corrector adds one).
    pub solver_order: u8,
    /// `solver_type`.
    pub solver_type: UniPcSolverType,
    /// `predict_x0`: the solver combines x̂₀ (true) or ε̂ (false).
    pub predict_x0: bool,
    /// `lower_order_final`: step i uses at most order N − i.
    pub lower_order_final: bool,
    /// `disable_corrector`: step indices k whose result is not corrected (the corrector would
    /// run at the start of step k + 1). Indices ≥ N are ignored, as in diffusers.
    pub disable_corrector: &'a [usize],
    /// `final_sigmas_type`.
    pub final_sigmas_type: FinalSigmasType,
    /// `prediction_type`.
    pub prediction_type: PredictionType,
    /// `thresholding` (with `dynamic_thresholding_ratio`, `sample_max_value`), or a clamp of x̂₀
    /// (not a diffusers option for this scheduler). Used only with `predict_x0`.
    pub clipping: SampleClipping,
    /// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`: the run's sigmas
    /// between `sigma_min` and `sigma_max` (the spacing is then unused).
    pub sigma_schedule: SigmaSchedule,
    /// `sigma_min` of those schedules (default: the training sigma of t = 0).
    pub sigma_min: Option<f64>,
    /// `sigma_max` of those schedules (default: the training sigma of t = T − 1).
    pub sigma_max: Option<f64>,
}

impl Default for UniPcConfig<'_> {
    fn default() -> Self {
        UniPcConfig {
            solver_order: 2,
            solver_type: UniPcSolverType::Bh2,
            predict_x0: true,
            lower_order_final: true,
            disable_corrector: &[],
            final_sigmas_type: FinalSigmasType::Zero,
            prediction_type: PredictionType::Epsilon,
            clipping: SampleClipping::None,
            sigma_schedule: SigmaSchedule::Interpolated,
            sigma_min: None,
            sigma_max: None,
        }
    }
}

impl UniPcConfig<'_> {
    /// Checks the order and the clipping parameters.
    ///
    /// ```
    /// use diffusion_core::{Error, UniPcConfig};
    ///
    /// let config = UniPcConfig { solver_order: 4, ..UniPcConfig::default() };
    /// assert_eq!(config.validate(), Err(Error::InvalidSolverOrder { order: 4 }));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSolverOrder`] for an order outside 1..=3; [`Error::InvalidClipRange`] or
    /// [`Error::InvalidThreshold`] for bad clipping parameters.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=3).contains(&self.solver_order) {
            return Err(Error::InvalidSolverOrder {
                order: self.solver_order,
            });
        }
        self.clipping.validate()
    }

    /// The predictor's order at step `index` of `count` (see the module docs).
    fn order_at(&self, index: usize, count: usize) -> u8 {
        // The last step to σ = 0 has a limit only at order 1.
        if index + 1 == count && self.final_sigmas_type == FinalSigmasType::Zero {
            return 1;
        }
        let mut order = (self.solver_order as usize).min(index + 1);
        if self.lower_order_final {
            order = order.min(count - index);
        }
        order as u8
    }

    /// Whether step `index` starts by correcting the result of step `index − 1`.
    fn corrects_at(&self, index: usize) -> bool {
        index >= 1 && !self.disable_corrector.contains(&(index - 1))
    }
}

/// The f32 weights of one step (see the module docs). Not public: a plan's internals.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct UniPcWeights {
    /// w_x, w_m: x̂₀ = w_x·x + w_m·m (read only when clipping).
    original_from_sample: f32,
    original_from_model: f32,
    /// m_i = u_x·x + u_m·m without clipping.
    converted_from_sample: f32,
    converted_from_model: f32,
    /// a_c, c₀, c₁ … c₃: the corrector.
    corrected_from_last: f32,
    corrected_from_current: f32,
    corrected_from_earlier: [f32; 3],
    /// a, p₀, p₁ … p₃ (p₃ is always 0): the predictor.
    next_from_corrected: f32,
    next_from_current: f32,
    next_from_earlier: [f32; 3],
}

/// One step's data: public only through the plan's accessors.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
struct UniPcStep {
    timestep: u32,
    /// ᾱ as the step uses it (2⁻²⁴ for a zero-SNR ᾱ_{T−1}), or its sigma.
    level: Level,
    order: u8,
    corrects: bool,
    /// How many earlier outputs the step reads (m_{i−1} … m_{i−lags}).
    lags: u8,
    weights: UniPcWeights,
}

impl UniPcWeights {
    /// What the plan's fingerprint reads of a step: the predictor's p₀, which depends on the
    /// step's λ and h, its order, `solver_type` and `predict_x0`, i.e. on what the history's
    /// buffers hold and where. One word, not fourteen: each word costs flash in a firmware's
    /// plan building (a second one, u_m, took UniPC's share over 14 KiB).
    #[inline(always)]
    fn words(&self) -> [u32; 1] {
        [self.next_from_current.to_bits()]
    }
}

impl MultistepPoint for UniPcStep {
    fn at(timestep: u32) -> Self {
        UniPcStep {
            timestep,
            ..UniPcStep::default()
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

/// A realized UniPC run of at most `CAPACITY` steps: its timesteps, the order of each step,
/// where the corrector runs, and every weight, computed once (O(T) time, O(steps) memory).
///
/// ```
/// use diffusion_core::{ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan};
///
/// let timesteps = TimestepConfig { num_inference_steps: 6, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
/// let config = UniPcConfig { solver_order: 3, disable_corrector: &[4], ..UniPcConfig::default() };
/// let plan: UniPcPlan<8> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
/// // diffusers' default spacing: round(linspace(0, 999, 7)), reversed, without its last 0.
/// assert!(plan.timesteps().eq([999, 832, 666, 500, 333, 166]));
/// assert!(plan.orders().eq([1, 2, 3, 3, 2, 1]));
/// assert!(plan.correctors().eq([false, true, true, true, true, false]));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct UniPcPlan<const CAPACITY: usize> {
    steps: Vec<UniPcStep, CAPACITY>,
    final_sigma: f32,
    /// Remembered converted outputs (the ring's length).
    outputs: usize,
    /// Whether the last corrected sample is kept (some step corrects).
    keeps_last: bool,
    /// The clipping in effect (none without `predict_x0`).
    clipping: SampleClipping,
    /// The fingerprint of the weights, which the plan's histories carry.
    fingerprint: u32,
}

impl<const CAPACITY: usize> UniPcPlan<CAPACITY> {
    /// A plan with no steps, as a constant (for a `static`, filled by [`Self::rebuild`]).
    ///
    /// ```
    /// use diffusion_core::UniPcPlan;
    ///
    /// static PLAN: UniPcPlan<25> = UniPcPlan::empty();
    /// assert!(PLAN.is_empty());
    /// ```
    // Always inlined: the C interface writes an empty plan into its storage, and a call (taken
    // at opt-level "s" since the plan has its fingerprint) put two plan-sized copies on the
    // stack (11.6 KB and 15 KB instead of 0.6 and 0.9 KB).
    #[inline(always)]
    pub const fn empty() -> Self {
        UniPcPlan {
            steps: Vec::new(),
            final_sigma: 0.0,
            outputs: 0,
            keeps_last: false,
            clipping: SampleClipping::None,
            fingerprint: 0,
        }
    }

    /// Validates the three configs and computes every step.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, Error, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 20, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let error = UniPcPlan::<10>::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default());
    /// assert_eq!(error.err(), Some(Error::CapacityExceeded { needed: 20, capacity: 10 }));
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`ScheduleConfig::alphas_cumprod`] and [`UniPcConfig::validate`];
    /// [`Error::InvalidStepCount`] for N = 0, or N ≥ T with `linspace` or `leading` (which take
    /// N + 1 points); [`Error::TimestepOutOfRange`] for a `steps_offset` past T;
    /// [`Error::CapacityExceeded`] for N > `CAPACITY`; [`Error::DegenerateSchedule`] where λ does
    /// not increase from a step to the next or a weight is not finite in f64.
    pub fn new(
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &UniPcConfig<'_>,
    ) -> Result<Self, Error> {
        let mut plan = Self::empty();
        plan.rebuild(schedule, timesteps, config)?;
        Ok(plan)
    }

    /// [`Self::new`] in place. On error the plan is left empty.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let mut plan: UniPcPlan<10> = UniPcPlan::empty();
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// plan.rebuild(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
    /// assert_eq!(plan.len(), 10);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Self::new`].
    #[inline(always)]
    pub fn rebuild(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &UniPcConfig<'_>,
    ) -> Result<(), Error> {
        self.clear();
        let result = self.fill(schedule, timesteps, config);
        if result.is_err() {
            self.clear();
        }
        result
    }

    /// Empties the plan in place (not through a temporary, which would put `CAPACITY` steps on
    /// the stack).
    fn clear(&mut self) {
        self.steps.clear();
        self.outputs = 0;
        self.keeps_last = false;
        self.fingerprint = 0;
    }

    #[inline(always)]
    fn fill(
        &mut self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
        config: &UniPcConfig<'_>,
    ) -> Result<(), Error> {
        config.validate()?;
        let (final_point, final_sigma) = match config.sigma_schedule {
            SigmaSchedule::Interpolated => {
                let first_alpha_cumprod = fill_points(schedule, timesteps, &mut self.steps)?;
                match config.final_sigmas_type {
                    FinalSigmasType::Zero => (Point::new(1.0), 0.0),
                    FinalSigmasType::SigmaMin => (
                        Point::new(first_alpha_cumprod as f64),
                        sigma_of(first_alpha_cumprod),
                    ),
                }
            }
            sigma_schedule => {
                // diffusers rounds Karras timesteps and casts the others as they are.
                let rounding = match sigma_schedule {
                    SigmaSchedule::Karras => TimestepRounding::Nearest,
                    _ => TimestepRounding::TowardZero,
                };
                fill_sigma_points(
                    schedule,
                    timesteps.num_inference_steps,
                    sigma_schedule,
                    (config.sigma_min, config.sigma_max),
                    rounding,
                    &mut self.steps,
                )?;
                // diffusers' sigma_min final sigma is then the schedule's last sigma: the last
                // step goes nowhere (h = 0).
                let last = self
                    .steps
                    .last()
                    .map_or(Level::Sigma(0.0), |step| step.level);
                match config.final_sigmas_type {
                    FinalSigmasType::Zero => (Point::new(1.0), 0.0),
                    FinalSigmasType::SigmaMin => (last.point(), last.sigma()),
                }
            }
        };
        self.final_sigma = final_sigma;
        let count = self.steps.len();
        let steps = &mut self.steps;

        let mut outputs = 0;
        let mut keeps_last = false;
        let mut plan_fingerprint = FINGERPRINT_START;
        for index in 0..count {
            let point = |i: usize| steps.get(i).map(|s| s.level.point());
            let (Some(current), Some(entry)) = (point(index), steps.get(index).copied()) else {
                break;
            };
            let next = point(index + 1).unwrap_or(final_point);
            // λ must increase along the run (h > 0). It does for every schedule whose ᾱ falls
            // with t; not where ᾱ_{T−1} = 2⁻²⁴ (zero SNR) exceeds the ᾱ of a later step, which
            // only an f32 ᾱ near the subnormal range gives, and where every weight is garbage.
            // A sigma schedule's last step to its own last sigma (final sigma `sigma_min`) has
            // h = 0: its first-order step is the identity, as in diffusers.
            let last_to_itself = index + 1 == count && next.lambda == current.lambda;
            if next.lambda.partial_cmp(&current.lambda) != Some(core::cmp::Ordering::Greater)
                && !last_to_itself
            {
                return Err(Error::DegenerateSchedule {
                    timestep: entry.timestep,
                });
            }
            let order = config.order_at(index, count);
            let corrects = config.corrects_at(index);
            // The corrector redoes step index − 1 at that step's order.
            let corrector_order = if corrects {
                config.order_at(index - 1, count)
            } else {
                0
            };
            let earlier: [Option<Point>; 4] =
                core::array::from_fn(|k| index.checked_sub(k + 1).and_then(point));
            let weights = weights(
                config,
                entry.level,
                Predictor {
                    order,
                    current,
                    next,
                    earlier: [earlier[0], earlier[1]],
                },
                Corrector {
                    order: corrector_order,
                    earlier,
                    current,
                },
            );
            if !weights.is_finite() {
                return Err(Error::DegenerateSchedule {
                    timestep: entry.timestep,
                });
            }
            let lags = corrector_order.max(order - 1);
            outputs = outputs.max(lags as usize);
            keeps_last |= corrects;
            let weights = weights.to_f32();
            plan_fingerprint = fingerprint(plan_fingerprint, weights.words());
            if let Some(step) = steps.get_mut(index) {
                step.order = order;
                step.corrects = corrects;
                step.lags = lags;
                step.weights = weights;
            }
        }
        self.fingerprint = plan_fingerprint;
        self.outputs = outputs;
        self.keeps_last = keeps_last;
        self.clipping = if config.predict_x0 {
            config.clipping
        } else {
            SampleClipping::None
        };
        Ok(())
    }

    /// Number of steps (model evaluations).
    ///
    /// ```
    /// use diffusion_core::UniPcPlan;
    ///
    /// assert_eq!(UniPcPlan::<4>::empty().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    ///
    /// ```
    /// use diffusion_core::UniPcPlan;
    ///
    /// assert!(UniPcPlan::<4>::empty().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The timestep of every step, in the order they run (descending): diffusers' `timesteps`.
    ///
    /// ```
    /// use diffusion_core::{ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// let plan: UniPcPlan<4> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
    /// assert!(plan.timesteps().eq([801, 601, 401, 201])); // k·⌊1000/5⌋ + 1, k = 4 … 1
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn timesteps(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.steps.iter().map(|step| step.timestep)
    }

    /// diffusers' `sigmas`: √((1 − ᾱ_t)/ᾱ_t) of every step, then the final sigma (N + 1 values).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, FinalSigmasType, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let config = UniPcConfig { final_sigmas_type: FinalSigmasType::SigmaMin, ..UniPcConfig::default() };
    /// let plan: UniPcPlan<4> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
    /// let last = plan.sigmas().last().unwrap() as f64;
    /// let first_alpha_cumprod = 0.9999f32 as f64; // ᾱ₀ = 1 − β₀ in f32
    /// assert!((last - ((1.0 - first_alpha_cumprod) / first_alpha_cumprod).sqrt()).abs() < 1e-9);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn sigmas(&self) -> impl Iterator<Item = f32> + '_ {
        self.steps
            .iter()
            .map(|step| step.level.sigma())
            .chain(core::iter::once(self.final_sigma).filter(|_| !self.steps.is_empty()))
    }

    /// The predictor's order (1, 2 or 3) at each step, in order: min(`solver_order`, i + 1),
    /// at most N − i with `lower_order_final`, and 1 for the last step to σ = 0.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 5, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let config = UniPcConfig { solver_order: 3, lower_order_final: false, ..UniPcConfig::default() };
    /// let plan: UniPcPlan<5> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
    /// assert!(plan.orders().eq([1, 2, 3, 3, 1])); // the last step lands on σ = 0
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn orders(&self) -> impl ExactSizeIterator<Item = u8> + '_ {
        self.steps.iter().map(|step| step.order)
    }

    /// Whether each step starts with the corrector (never step 0; not step k + 1 for k in
    /// `disable_corrector`).
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 3, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let config = UniPcConfig { disable_corrector: &[0, 7], ..UniPcConfig::default() };
    /// let plan: UniPcPlan<3> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
    /// assert!(plan.correctors().eq([false, false, true]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn correctors(&self) -> impl ExactSizeIterator<Item = bool> + '_ {
        self.steps.iter().map(|step| step.corrects)
    }

    /// How many sample-sized buffers the run remembers: the converted outputs its steps read
    /// (at most `solver_order`), plus the last corrected sample when any corrector runs. A
    /// [`MultistepHistory`] for `values` floats needs `history_len() · values` of them.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let schedule = ScheduleConfig::default();
    /// let plain: UniPcPlan<10> = UniPcPlan::new(&schedule, &timesteps, &UniPcConfig::default())?;
    /// assert_eq!(plain.history_len(), 3); // m_{i−1}, m_{i−2} for UniC-2, and x_{i−1}
    /// let all = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    /// let uncorrected = UniPcConfig { disable_corrector: &all, ..UniPcConfig::default() };
    /// let predictor: UniPcPlan<10> = UniPcPlan::new(&schedule, &timesteps, &uncorrected)?;
    /// assert_eq!(predictor.history_len(), 1); // m_{i−1} only, as DPM-Solver++ 2M
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn history_len(&self) -> usize {
        self.outputs + self.keeps_last as usize
    }

    /// The memory of a run over `values` floats (one sample, or a whole batch for
    /// [`Self::step_batch`]) in `buffer`, which must hold exactly `history_len() · values`
    /// floats. Its contents do not matter; the history expects step 0 first.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, Error, ScheduleConfig, SliceKind, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: UniPcPlan<10> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
    /// let mut buffer = [0.0f32; 2 * 8];
    /// assert_eq!(
    ///     plan.history(&mut buffer, 8).err(),
    ///     Some(Error::LengthMismatch { slice: SliceKind::History, expected: 24, actual: 16 })
    /// );
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] ([`SliceKind::History`]) when `buffer` has another length.
    pub fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(buffer, self.history_len(), values, self.fingerprint)
    }

    /// Step `index` on one sample, in place: x at this step's timestep (the predicted one, which
    /// the model saw) → x at the next one. `model_output` is the model's output for this sample
    /// at this step's timestep; `history` is this run's memory (made by [`Self::history`] for
    /// `sample.len()` floats) and must have run steps 0 … index − 1; `scratch` is needed only for
    /// dynamic thresholding (at least as long as the sample) and may be empty otherwise. On
    /// error nothing is modified.
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, Error, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: UniPcPlan<10> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
    /// let (mut x, epsilon, mut buffer) = ([1.0f32; 4], [0.1f32; 4], [0.0f32; 12]);
    /// let mut history = plan.history(&mut buffer, 4)?;
    /// plan.step(0, &mut x, &epsilon, &mut history, &mut [])?;
    /// assert_eq!(
    ///     plan.step(2, &mut x, &epsilon, &mut history, &mut []),
    ///     Err(Error::StepOutOfOrder { index: 2, expected: 1 })
    /// );
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Self::step_batch`] with a batch of one.
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
    ///
    /// ```
    /// use diffusion_core::{TimestepSpacing, ScheduleConfig, TimestepConfig, UniPcConfig, UniPcPlan};
    ///
    /// let timesteps = TimestepConfig { num_inference_steps: 5, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// let plan: UniPcPlan<5> = UniPcPlan::new(&ScheduleConfig::default(), &timesteps, &UniPcConfig::default())?;
    /// let mut pair = [0.3f32, -0.2, 0.3, -0.2]; // two samples of two values
    /// let mut buffer = [0.0f32; 3 * 4];
    /// let mut history = plan.history(&mut buffer, 4)?;
    /// for i in 0..plan.len() {
    ///     plan.step_batch(i, 2, &mut pair, &[0.1, 0.2, 0.1, 0.2], &mut history, &mut [])?;
    /// }
    /// assert_eq!(pair[..2], pair[2..]);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`] for `index` ≥ N; [`Error::StepOutOfOrder`] when `history`
    /// expects another step; [`Error::ForeignHistory`] for a history made by another plan;
    /// [`Error::LengthMismatch`] for a history made for another history length
    /// ([`SliceKind::History`]) or size ([`SliceKind::Samples`]), samples not a multiple of
    /// `batch`, a model output of another length, or a scratch shorter than a sample under
    /// dynamic thresholding.
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
        let step = self.steps.get(index).ok_or(Error::StepIndexOutOfRange {
            index,
            steps: self.steps.len(),
        })?;
        let values = samples.len();
        history.check(index, self.history_len(), values, self.fingerprint)?;
        let per_sample = values.checked_div(batch).unwrap_or(0);
        if per_sample * batch != values {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Samples,
                expected: (per_sample + 1) * batch,
                actual: values,
            });
        }
        if model_output.len() != values {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: values,
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
        // The ring: step i writes m_i into buffer i mod L, where m_{i−L} was, so buffer
        // (i + p) mod L holds m_{i−L+p}; the last corrected sample follows the L buffers. Step 0
        // zeroes them all, so that a zero weight never meets a value this run did not write.
        let ring = self.outputs;
        let memory = history.buffer_mut();
        if index == 0 {
            memory.fill(0.0);
        }
        // In range for a checked history (no panic path either way).
        let (outputs, last) = memory
            .split_at_mut_checked(ring * values)
            .unwrap_or_default();
        // Position p: buffer (i + p) mod L, holding m_{i−L+p}; position 0 receives m_i. So buffer
        // k goes to position (k − i) mod L (placed directly: `rotate_left` links a memmove,
        // 1.6 KB of a Cortex-M4 firmware).
        let shift = index % ring.max(1);
        let mut slots: [&mut [f32]; 3] = [&mut [], &mut [], &mut []];
        for (k, buffer) in outputs.chunks_exact_mut(values.max(1)).enumerate() {
            if let Some(slot) = slots.get_mut((k + ring - shift) % ring.max(1)) {
                *slot = buffer;
            }
        }
        let [oldest, older, newest] = &mut slots;
        let kernel = step.kernel(ring, self.keeps_last);
        if per_sample > 0 {
            for (sample_index, (sample, output)) in samples
                .chunks_mut(per_sample)
                .zip(model_output.chunks(per_sample))
                .enumerate()
            {
                let range = sample_index * per_sample..(sample_index + 1) * per_sample;
                let memory = Memory {
                    ring: [
                        oldest.get_mut(range.clone()).unwrap_or_default(),
                        older.get_mut(range.clone()).unwrap_or_default(),
                        newest.get_mut(range.clone()).unwrap_or_default(),
                    ],
                    last: last.get_mut(range).unwrap_or_default(),
                };
                kernel.apply(self.clipping, sample, output, memory, scratch)?;
            }
        }
        history.advance(index);
        Ok(())
    }
}

/// UniPC: one model call per step, whole timesteps, the model sees x itself; the history holds
/// the earlier converted outputs and the last corrected sample; no noise.
impl<const CAPACITY: usize> Scheduler for UniPcPlan<CAPACITY> {
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
        UniPcPlan::history_len(self)
    }

    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        MultistepHistory::new(
            buffer,
            UniPcPlan::history_len(self),
            values,
            self.fingerprint,
        )
    }

    fn draws_noise(&self) -> bool {
        false
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
        UniPcPlan::step_batch(
            self,
            call,
            batch,
            samples,
            model_output,
            &mut memory.history,
            memory.scratch,
        )
    }
}

/// One sample's part of the history, as a step sees it: the ring's buffers by position (0: the
/// one it overwrites with m_i, which holds m_{i−L}; p: m_{i−L+p}) and the last corrected sample.
struct Memory<'s> {
    ring: [&'s mut [f32]; 3],
    last: &'s mut [f32],
}

/// A step's f32 weights by ring position, ready for the per-element pass:
///
/// ```text
/// u   = convert(x, m)                                   (x̂₀ or ε̂, clipped with predict_x0)
/// x^c = g·x + a_c·x^c_prev + c₀·u + Σ_p c_p·h_p          (g = 1, the rest 0, without corrector)
/// x   ← a·x^c + p₀·u + Σ_p p_p·h_p;   h_0 ← u;   x^c_prev ← x^c
/// ```
///
/// h_p being ring position p. Weights of positions a step does not read are 0, and every position
/// holds a finite value (0 before it is first written).
#[derive(Clone, Copy, Debug)]
struct Kernel {
    ring: usize,
    keeps_last: bool,
    original: [f32; 2],
    converted: [f32; 2],
    uncorrected: f32,
    corrected_from_last: f32,
    corrected_from_current: f32,
    corrected: [f32; 3],
    next_from_corrected: f32,
    next_from_current: f32,
    next: [f32; 3],
}

impl UniPcStep {
    /// This step's weights by ring position, for a ring of `ring` buffers (and the last sample
    /// when `keeps_last`).
    fn kernel(&self, ring: usize, keeps_last: bool) -> Kernel {
        let w = &self.weights;
        // Position p holds m_{i−(ring−p)}: lag ring − p.
        let by_position = |lags: [f32; 3]| -> [f32; 3] {
            core::array::from_fn(|p| {
                ring.checked_sub(p + 1)
                    .and_then(|lag| lags.get(lag).copied())
                    .unwrap_or(0.0)
            })
        };
        Kernel {
            ring,
            keeps_last,
            original: [w.original_from_sample, w.original_from_model],
            converted: [w.converted_from_sample, w.converted_from_model],
            uncorrected: if self.corrects { 0.0 } else { 1.0 },
            corrected_from_last: w.corrected_from_last,
            corrected_from_current: w.corrected_from_current,
            corrected: by_position(w.corrected_from_earlier),
            next_from_corrected: w.next_from_corrected,
            next_from_current: w.next_from_current,
            next: by_position(w.next_from_earlier),
        }
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

impl Kernel {
    /// Applies the step to one sample (`sample`, `model_output` and `memory` of its length),
    /// computing x̂₀'s threshold in `scratch` for dynamic thresholding.
    #[inline(always)]
    fn apply(
        &self,
        clipping: SampleClipping,
        sample: &mut [f32],
        model_output: &[f32],
        memory: Memory<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let count = sample.len();
        let [w_x, w_m] = self.original;
        let [u_x, u_m] = self.converted;
        match clipping {
            SampleClipping::None => {
                self.pass(sample, model_output, memory, |x, m| u_x * x + u_m * m)
            }
            SampleClipping::Range(range) => self.pass(sample, model_output, memory, |x, m| {
                clamp(w_x * x + w_m * m, -range, range)
            }),
            SampleClipping::DynamicThreshold { ratio, max_value } => {
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
                self.pass(sample, model_output, memory, |x, m| {
                    clamp(w_x * x + w_m * m, -threshold, threshold) / threshold
                })
            }
        }
    }

    /// The per-element pass: on 32-bit targets (microcontrollers) [`Self::pass_any`], one loop
    /// for every ring length, because the eight specialised loops of [`Self::pass_with`] cost
    /// 2.3 KB of a Cortex-M4F firmware's flash; elsewhere the specialised loop. Both do the same
    /// operations in the same order: the same bits.
    #[cfg(target_pointer_width = "32")]
    #[inline(always)]
    fn pass(
        &self,
        sample: &mut [f32],
        model_output: &[f32],
        memory: Memory<'_>,
        convert: impl Fn(f32, f32) -> f32,
    ) -> Result<(), Error> {
        self.pass_any(sample, model_output, memory, convert)
    }

    /// See the 32-bit version.
    #[cfg(not(target_pointer_width = "32"))]
    #[inline(always)]
    fn pass(
        &self,
        sample: &mut [f32],
        model_output: &[f32],
        memory: Memory<'_>,
        convert: impl Fn(f32, f32) -> f32,
    ) -> Result<(), Error> {
        match (self.ring, self.keeps_last) {
            (0, false) => self.pass_with::<0, false>(sample, model_output, memory, convert),
            (0, true) => self.pass_with::<0, true>(sample, model_output, memory, convert),
            (1, false) => self.pass_with::<1, false>(sample, model_output, memory, convert),
            (1, true) => self.pass_with::<1, true>(sample, model_output, memory, convert),
            (2, false) => self.pass_with::<2, false>(sample, model_output, memory, convert),
            (2, true) => self.pass_with::<2, true>(sample, model_output, memory, convert),
            (_, false) => self.pass_with::<3, false>(sample, model_output, memory, convert),
            (_, true) => self.pass_with::<3, true>(sample, model_output, memory, convert),
        }
    }

    /// [`Self::pass_with`] with the ring's length and the last sample as values, not types.
    #[cfg(any(test, target_pointer_width = "32"))]
    #[inline(always)]
    fn pass_any(
        &self,
        sample: &mut [f32],
        model_output: &[f32],
        memory: Memory<'_>,
        convert: impl Fn(f32, f32) -> f32,
    ) -> Result<(), Error> {
        let count = sample.len();
        let (ring, keeps_last) = (self.ring.min(3), self.keeps_last);
        let Memory {
            ring: [h_0, h_1, h_2],
            last,
        } = memory;
        let short = |buffer: &[f32], used: bool| used && buffer.len() < count;
        if model_output.len() < count
            || short(h_0, ring >= 1)
            || short(h_1, ring >= 2)
            || short(h_2, ring >= 3)
            || short(last, keeps_last)
        {
            return Err(Error::LengthMismatch {
                slice: SliceKind::History,
                expected: count,
                actual: h_0.len().min(last.len()),
            });
        }
        let (g, a_c, c_0, c) = (
            self.uncorrected,
            self.corrected_from_last,
            self.corrected_from_current,
            self.corrected,
        );
        let (a, p_0, p) = (self.next_from_corrected, self.next_from_current, self.next);
        let value = |buffer: &[f32], j: usize| buffer.get(j).copied().unwrap_or(0.0);
        for (j, (x, &m)) in sample.iter_mut().zip(model_output).enumerate() {
            let current = convert(*x, m);
            let h = [value(h_0, j), value(h_1, j), value(h_2, j)];
            let corrected = if keeps_last {
                let mut sum = g * *x + a_c * value(last, j) + c_0 * current;
                for (weight, value) in c.iter().zip(h).take(ring) {
                    sum += weight * value;
                }
                sum
            } else {
                *x
            };
            let mut next = a * corrected + p_0 * current;
            for (weight, value) in p.iter().zip(h).take(ring) {
                next += weight * value;
            }
            if let Some(slot) = h_0.get_mut(j).filter(|_| ring >= 1) {
                *slot = current;
            }
            if let Some(slot) = last.get_mut(j).filter(|_| keeps_last) {
                *slot = corrected;
            }
            *x = next;
        }
        Ok(())
    }

    /// The per-element pass over a ring of `RING` buffers, with (`LAST`) or without the last
    /// corrected sample (see [`Kernel`]).
    #[cfg(any(test, not(target_pointer_width = "32")))]
    #[inline(always)]
    fn pass_with<const RING: usize, const LAST: bool>(
        &self,
        sample: &mut [f32],
        model_output: &[f32],
        memory: Memory<'_>,
        convert: impl Fn(f32, f32) -> f32,
    ) -> Result<(), Error> {
        let count = sample.len();
        let Memory {
            ring: [h_0, h_1, h_2],
            last,
        } = memory;
        // Always true for a checked history; also what lets the compiler drop bounds checks.
        let short = |buffer: &[f32], used: bool| used && buffer.len() < count;
        if model_output.len() < count
            || short(h_0, RING >= 1)
            || short(h_1, RING >= 2)
            || short(h_2, RING >= 3)
            || short(last, LAST)
        {
            return Err(Error::LengthMismatch {
                slice: SliceKind::History,
                expected: count,
                actual: h_0.len().min(last.len()),
            });
        }
        let (g, a_c, c_0, c) = (
            self.uncorrected,
            self.corrected_from_last,
            self.corrected_from_current,
            self.corrected,
        );
        let (a, p_0, p) = (self.next_from_corrected, self.next_from_current, self.next);
        for j in 0..count {
            let x = sample[j];
            let current = convert(x, model_output[j]);
            let h = [
                if RING >= 1 { h_0[j] } else { 0.0 },
                if RING >= 2 { h_1[j] } else { 0.0 },
                if RING >= 3 { h_2[j] } else { 0.0 },
            ];
            let corrected = if LAST {
                let mut sum = g * x + a_c * last[j] + c_0 * current;
                for (weight, value) in c.iter().zip(h).take(RING) {
                    sum += weight * value;
                }
                sum
            } else {
                x
            };
            let mut next = a * corrected + p_0 * current;
            for (weight, value) in p.iter().zip(h).take(RING) {
                next += weight * value;
            }
            if RING >= 1 {
                h_0[j] = current;
            }
            if LAST {
                last[j] = corrected;
            }
            sample[j] = next;
        }
        Ok(())
    }
}

/// The predictor's inputs: its order, its points, and the points of the two steps before it.
struct Predictor {
    order: u8,
    current: Point,
    next: Point,
    earlier: [Option<Point>; 2],
}

/// The corrector's inputs: the order of the step it redoes (0: no corrector), the points of the
/// steps before the current one (the first is where that step started), and the current point.
struct Corrector {
    order: u8,
    earlier: [Option<Point>; 4],
    current: Point,
}

/// [`UniPcWeights`] in f64, before rounding.
#[derive(Clone, Copy, Debug, Default)]
struct Weights {
    original: [f64; 2],
    converted: [f64; 2],
    corrected_from_last: f64,
    /// Weights of m_i, m_{i−1}, m_{i−2}, m_{i−3}.
    corrected: [f64; 4],
    next_from_corrected: f64,
    /// Weights of m_i, m_{i−1}, m_{i−2}, m_{i−3}.
    next: [f64; 4],
}

impl Weights {
    fn is_finite(&self) -> bool {
        self.original
            .iter()
            .chain(&self.converted)
            .chain(&self.corrected)
            .chain(&self.next)
            .chain([self.corrected_from_last, self.next_from_corrected].iter())
            .all(|w| w.is_finite())
    }

    fn to_f32(self) -> UniPcWeights {
        UniPcWeights {
            original_from_sample: self.original[0] as f32,
            original_from_model: self.original[1] as f32,
            converted_from_sample: self.converted[0] as f32,
            converted_from_model: self.converted[1] as f32,
            corrected_from_last: self.corrected_from_last as f32,
            corrected_from_current: self.corrected[0] as f32,
            corrected_from_earlier: [
                self.corrected[1] as f32,
                self.corrected[2] as f32,
                self.corrected[3] as f32,
            ],
            next_from_corrected: self.next_from_corrected as f32,
            next_from_current: self.next[0] as f32,
            next_from_earlier: [
                self.next[1] as f32,
                self.next[2] as f32,
                self.next[3] as f32,
            ],
        }
    }
}

/// One UniPC update from `start` to `end` as weights: x_end = from_sample·x + Σ terms[k]·m_k,
/// where m_0 is the output at `start` (diffusers' m0) and m_k (k ≥ 1) the outputs at `earlier`
/// points; with `with_next`, `order` counts the next output m_t as one more difference (the
/// corrector). Returns (from_sample, weights of m_0, m_1, m_2, and of the next output).
fn update(
    config: &UniPcConfig<'_>,
    order: u8,
    start: Point,
    end: Point,
    earlier: &[Option<Point>],
    with_next: bool,
) -> (f64, [f64; 3], f64) {
    let h = end.lambda - start.lambda;
    let (from_sample, scale, hh) = if config.predict_x0 {
        (end.sigma / start.sigma, end.alpha, -h)
    } else {
        (end.alpha / start.alpha, end.sigma, h)
    };
    let h_phi_1 = libm::expm1(hh);
    // K·E; without predict_x0 and at σ_end = 0 it is 0·∞, whose limit is α_t·σ_s/α_s − σ_t.
    let base = if !config.predict_x0 && end.sigma == 0.0 {
        end.alpha * start.sigma / start.alpha - end.sigma
    } else {
        scale * h_phi_1
    };
    let mut outputs = [-base, 0.0, 0.0];
    let mut next_output = 0.0;
    // The differences: D_k = (m_k − m_0)/r_k for the earlier points, (m_t − m_0) for the next.
    let differences = order as usize - if with_next { 0 } else { 1 };
    if differences == 0 {
        // A first-order predictor: B(h) multiplies nothing (diffusers' bh1 NaN at σ = 0).
        return (from_sample, outputs, next_output);
    }
    let b_h = match config.solver_type {
        UniPcSolverType::Bh1 => hh,
        UniPcSolverType::Bh2 => h_phi_1,
    };
    // r_k for the earlier points used, and r = 1 for the next output.
    let mut r = [1.0f64; 3];
    let earlier_used = if with_next {
        differences - 1
    } else {
        differences
    }
    .min(2); // order ≤ 3; lets the compiler drop the bounds checks below
    for (k, slot) in r.iter_mut().enumerate().take(earlier_used) {
        *slot = earlier
            .get(k)
            .copied()
            .flatten()
            .map_or(f64::NAN, |point| (point.lambda - start.lambda) / h);
    }
    // b_k = k!·ĥ·φ_{k+1}(ĥ)/B(h) by diffusers' recursion on ĥ·φ_{k+1} (`h_phi_k`).
    let mut b = [0.0f64; 3];
    let mut h_phi_k = h_phi_1 / hh - 1.0;
    let mut factorial = 1.0;
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = h_phi_k * factorial / b_h;
        factorial *= (i + 2) as f64;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }
    let mut rho = [0.0f64; 3];
    match (with_next, order) {
        // diffusers' simplified versions: UniP-2 and UniC-1 use ρ = ½.
        (false, 2) | (true, 1) => rho[0] = 0.5,
        (false, _) => {
            // [1 1; r₁ r₂]·ρ = [b₁; b₂].
            let matrix = [[1.0, 1.0, 0.0], [r[0], r[1], 0.0], [0.0, 0.0, 1.0]];
            rho = solve(matrix, [b[0], b[1], 0.0], 2);
        }
        (true, _) => {
            // R_{jk} = r_k^{j−1}, k = 1 … order, with r_order = 1 (the next output).
            let n = (order as usize).min(3);
            let mut matrix = [[0.0, 0.0, 1.0]; 3];
            matrix[0] = [1.0; 3];
            for k in 0..n {
                let r_k = if k + 1 == n { 1.0 } else { r[k] };
                matrix[1][k] = r_k;
                matrix[2][k] = r_k * r_k;
            }
            if n == 2 {
                matrix[2] = [0.0, 0.0, 1.0];
            }
            rho = solve(matrix, b, n);
        }
    }
    // −K·B(h)·(Σ ρ_k·(m_k − m_0)/r_k [+ ρ_last·(m_t − m_0)]).
    let factor = -scale * b_h;
    for k in 0..earlier_used {
        let weight = factor * rho[k] / r[k];
        outputs[k + 1] += weight;
        outputs[0] -= weight;
    }
    if with_next {
        let weight = factor * rho[earlier_used];
        next_output += weight;
        outputs[0] -= weight;
    }
    (from_sample, outputs, next_output)
}

/// Solves the leading `n`×`n` block of `matrix`·ρ = `b` (n ≤ 3) by Gaussian elimination with
/// partial pivoting, in f64 (diffusers: `torch.linalg.solve`). A singular block gives non-finite
/// values, which the plan reports as a degenerate schedule.
fn solve(mut matrix: [[f64; 3]; 3], mut b: [f64; 3], n: usize) -> [f64; 3] {
    // n ≤ 3 and the pivot ≤ 2 always; saying so lets the compiler drop every bounds check, and
    // with them a panic path the core never takes.
    let n = n.min(3);
    for column in 0..n {
        let pivot = (column..n)
            .max_by(|&i, &j| {
                libm::fabs(matrix[i.min(2)][column])
                    .total_cmp(&libm::fabs(matrix[j.min(2)][column]))
            })
            .unwrap_or(column)
            .min(2);
        // Rows exchanged entry by entry (swapping whole rows links a memmove on a Cortex-M4).
        let (upper, lower) = matrix.split_at_mut(pivot);
        if let (Some(row), Some(pivot_row)) = (upper.get_mut(column), lower.first_mut()) {
            for (entry, pivot_entry) in row.iter_mut().zip(pivot_row) {
                core::mem::swap(entry, pivot_entry);
            }
        }
        b.swap(column, pivot);
        let pivot_row = matrix[column];
        for row in column + 1..n {
            let factor = matrix[row][column] / pivot_row[column];
            let entries = matrix[row].iter_mut().zip(pivot_row).take(n).skip(column);
            for (entry, pivot_entry) in entries {
                *entry -= factor * pivot_entry;
            }
            b[row] -= factor * b[column];
        }
    }
    let mut x = [0.0f64; 3];
    for (row, (entries, &b_row)) in matrix.iter().zip(&b).enumerate().take(n).rev() {
        let mut sum = b_row;
        let solved = entries.get(row + 1..n).unwrap_or_default();
        for (&entry, &x_k) in solved.iter().zip(x.get(row + 1..).unwrap_or_default()) {
            sum -= entry * x_k;
        }
        if let (Some(slot), Some(&diagonal)) = (x.get_mut(row), entries.get(row)) {
            *slot = sum / diagonal;
        }
    }
    x
}

/// Every weight of one step: the conversion of the model output, the corrector (if any) and the
/// predictor; `level` is the current step's (for the conversion).
fn weights(
    config: &UniPcConfig<'_>,
    level: Level,
    predictor: Predictor,
    corrector: Corrector,
) -> Weights {
    let a = level.alpha_cumprod();
    let original = config.prediction_type.original_sample(a);
    let converted = if config.predict_x0 {
        original
    } else {
        config.prediction_type.epsilon(a)
    };
    let mut weights = Weights {
        original: [original.from_sample, original.from_model],
        converted: [converted.from_sample, converted.from_model],
        ..Weights::default()
    };
    if corrector.order > 0 {
        // From the previous point (the first earlier one) to the current one; its earlier
        // outputs are m_{i−2}, m_{i−3}, and the next output is the current m_i.
        let start = corrector.earlier[0].unwrap_or(Point {
            alpha: f64::NAN,
            sigma: f64::NAN,
            lambda: f64::NAN,
        });
        let (from_last, outputs, current) = update(
            config,
            corrector.order,
            start,
            corrector.current,
            &corrector.earlier[1..],
            true,
        );
        weights.corrected_from_last = from_last;
        weights.corrected = [current, outputs[0], outputs[1], outputs[2]];
    }
    let (from_corrected, outputs, _) = update(
        config,
        predictor.order,
        predictor.current,
        predictor.next,
        &predictor.earlier,
        false,
    );
    weights.next_from_corrected = from_corrected;
    weights.next = [outputs[0], outputs[1], outputs[2], 0.0];
    weights
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

    fn plan(steps: u32, config: &UniPcConfig<'_>) -> UniPcPlan<32> {
        let timesteps = timesteps(steps, TimestepSpacing::Trailing);
        UniPcPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap()
    }

    #[test]
    fn a_history_of_another_plan_is_refused() {
        let bh2 = plan(6, &UniPcConfig::default());
        let others = [
            UniPcPlan::<32>::new(
                &ScheduleConfig::default(),
                &timesteps(6, TimestepSpacing::Linspace),
                &UniPcConfig::default(),
            )
            .unwrap(),
            plan(
                6,
                &UniPcConfig {
                    solver_type: UniPcSolverType::Bh1,
                    ..UniPcConfig::default()
                },
            ),
        ];
        for other in others {
            // The same length and the same history size: only the fingerprint tells them apart.
            assert_eq!(
                (other.len(), other.history_len()),
                (bh2.len(), bh2.history_len())
            );
            let mut buffer = [0.5f32; 3 * 4];
            let mut history = other.history(&mut buffer, 4).unwrap();
            let mut x = [0.25f32; 4];
            assert_eq!(
                bh2.step(0, &mut x, &[0.1; 4], &mut history, &mut []),
                Err(Error::ForeignHistory)
            );
            assert_eq!(x, [0.25; 4]);
            assert_eq!(history.next_step(), 0);
            other
                .step(0, &mut x, &[0.1; 4], &mut history, &mut [])
                .unwrap();
            assert_eq!(
                bh2.step(1, &mut x, &[0.1; 4], &mut history, &mut []),
                Err(Error::ForeignHistory)
            );
            assert_eq!(history.next_step(), 1);
        }
        // A plan built again with the same inputs is the same plan.
        let mut buffer = [0.0f32; 3 * 4];
        let mut history = plan(6, &UniPcConfig::default())
            .history(&mut buffer, 4)
            .unwrap();
        assert!(
            bh2.step(0, &mut [0.25; 4], &[0.1; 4], &mut history, &mut [])
                .is_ok()
        );
    }

    /// The single pass of 32-bit targets gives the bits of the specialised passes, for every
    /// ring length, with and without the last sample, with and without clamping.
    #[test]
    fn pass_any_matches_the_specialised_passes() {
        let mut state = 12345u32;
        let mut random = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        };
        // Signed zeros and tiny values, where a changed order of operations shows.
        let mut sample = [
            1.5f32, -0.0, 0.0, -2.25, 3.0e-3, 7.0, -1.0e-30, 0.5, 0.0, -0.0,
        ];
        let count = sample.len();
        for value in sample.iter_mut().skip(2).step_by(3) {
            *value = random();
        }
        let model_output: [f32; 10] =
            core::array::from_fn(|j| if j % 4 == 1 { -0.0 } else { random() });
        for ring in 0..=3 {
            for keeps_last in [false, true] {
                for corrects in [false, true] {
                    let kernel = Kernel {
                        ring,
                        keeps_last,
                        original: [random(), random()],
                        converted: [random(), random()],
                        uncorrected: if corrects { 0.0 } else { 1.0 },
                        corrected_from_last: random(),
                        corrected_from_current: random(),
                        corrected: core::array::from_fn(|_| random()),
                        next_from_corrected: random(),
                        next_from_current: random(),
                        next: core::array::from_fn(|_| random()),
                    };
                    let history: [[f32; 10]; 4] =
                        core::array::from_fn(|_| core::array::from_fn(|_| random()));
                    let [u_x, u_m] = kernel.converted;
                    let [w_x, w_m] = kernel.original;
                    for clamped in [false, true] {
                        let convert = |x: f32, m: f32| {
                            if clamped {
                                clamp(w_x * x + w_m * m, -0.5, 0.5)
                            } else {
                                u_x * x + u_m * m
                            }
                        };
                        let run = |any: bool| {
                            let (mut x, mut h) = (sample, history);
                            let [h_0, h_1, h_2, last] = &mut h;
                            let length = |used: bool| if used { count } else { 0 };
                            let memory = Memory {
                                ring: [
                                    &mut h_0[..length(ring >= 1)],
                                    &mut h_1[..length(ring >= 2)],
                                    &mut h_2[..length(ring >= 3)],
                                ],
                                last: &mut last[..length(keeps_last)],
                            };
                            let result = if any {
                                kernel.pass_any(&mut x, &model_output, memory, convert)
                            } else {
                                kernel.pass(&mut x, &model_output, memory, convert)
                            };
                            result.unwrap();
                            (x.map(f32::to_bits), h.map(|b| b.map(f32::to_bits)))
                        };
                        assert_eq!(run(true), run(false), "ring {ring}, last {keeps_last}");
                    }
                }
            }
        }
    }

    #[test]
    fn solve_small_systems() {
        let matrix = [[1.0, 1.0, 1.0], [-1.0, -2.0, 1.0], [1.0, 4.0, 1.0]];
        let x = solve(matrix, [3.0, -2.0, 6.0], 3);
        for (got, expected) in x.iter().zip([1.0, 1.0, 1.0]) {
            assert!((got - expected).abs() < 1e-12, "{x:?}");
        }
        let x = solve(
            [[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0; 3]],
            [3.0, 4.0, 0.0],
            2,
        );
        assert_eq!(x, [2.0, 3.0, 0.0]);
    }

    #[test]
    fn orders_correctors_and_history_length() {
        let third = UniPcConfig {
            solver_order: 3,
            ..UniPcConfig::default()
        };
        let plan = plan(10, &third);
        assert!(plan.orders().eq([1, 2, 3, 3, 3, 3, 3, 3, 2, 1]));
        assert!(plan.correctors().skip(1).all(|c| c));
        // UniC-3 reads m_{i−1}, m_{i−2}, m_{i−3}; and the last sample.
        assert_eq!(plan.history_len(), 4);
        let no_lower = self::plan(
            6,
            &UniPcConfig {
                lower_order_final: false,
                final_sigmas_type: FinalSigmasType::SigmaMin,
                ..third
            },
        );
        assert!(no_lower.orders().eq([1, 2, 3, 3, 3, 3]));
        let first = self::plan(
            10,
            &UniPcConfig {
                solver_order: 1,
                ..UniPcConfig::default()
            },
        );
        assert_eq!(first.history_len(), 2, "UniC-1 reads m_{{i−1}}");
        let none = self::plan(
            3,
            &UniPcConfig {
                solver_order: 1,
                disable_corrector: &[0, 1],
                ..UniPcConfig::default()
            },
        );
        assert_eq!(none.history_len(), 0);
        for order in [0, 4] {
            let config = UniPcConfig {
                solver_order: order,
                ..UniPcConfig::default()
            };
            let timesteps = timesteps(10, TimestepSpacing::Trailing);
            assert_eq!(
                UniPcPlan::<10>::new(&ScheduleConfig::default(), &timesteps, &config).err(),
                Some(Error::InvalidSolverOrder { order })
            );
        }
        let mut capacity: UniPcPlan<5> = UniPcPlan::empty();
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
    fn history_size_and_step_order_are_checked() {
        let plan = plan(10, &UniPcConfig::default());
        let mut buffer = [f32::NAN; 24];
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
        // A history made for another plan.
        let third = self::plan(
            10,
            &UniPcConfig {
                solver_order: 3,
                ..UniPcConfig::default()
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
        for predict_x0 in [true, false] {
            let config = UniPcConfig {
                solver_order: 3,
                predict_x0,
                disable_corrector: &[3],
                clipping: SampleClipping::DynamicThreshold {
                    ratio: 0.9,
                    max_value: 1.5,
                },
                ..UniPcConfig::default()
            };
            let plan = plan(10, &config);
            let model = |x: &[f32], t: u32, out: &mut [f32]| {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = 0.5 * libm::sinf(v + 0.01 * t as f32);
                }
            };
            let run = |batch: usize, x: &mut [f32]| {
                let mut buffer = [f32::NAN; 4 * 12];
                let len = plan.history_len() * x.len();
                let mut history = plan.history(&mut buffer[..len], x.len()).unwrap();
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
            assert!(pair.iter().all(|v| v.is_finite()));
        }
    }

    /// ᾱ of training timestep `t` of the default schedule, in f64 from its f32 value.
    fn alpha_cumprod(t: usize) -> f64 {
        let mut table = [0.0f32; 1000];
        crate::fill_alphas_cumprod(&ScheduleConfig::default(), &mut table).unwrap();
        table[t] as f64
    }

    #[test]
    fn last_step_to_zero_is_the_limit_x0() {
        // diffusers: NaN for bh1 (−∞·0) and for predict_x0 = false (0·∞); ±∞ at order ≥ 2.
        // The limit of every first-order form is x̂₀; orders 2 and 3 have none and fall to 1.
        let x_t = [0.5f64, -1.0, 2.0];
        let epsilon = [0.3f64, 0.1, -0.7];
        for (solver_type, predict_x0, solver_order, lower_order_final) in [
            (UniPcSolverType::Bh1, true, 2, true),
            (UniPcSolverType::Bh1, false, 2, true),
            (UniPcSolverType::Bh2, false, 1, true),
            (UniPcSolverType::Bh1, true, 3, false),
            (UniPcSolverType::Bh2, true, 2, false),
        ] {
            let config = UniPcConfig {
                solver_type,
                predict_x0,
                solver_order,
                lower_order_final,
                disable_corrector: &[0],
                ..UniPcConfig::default()
            };
            // Two steps: 999, then 499 straight to σ = 0 (its corrector disabled, so the last
            // step sees the sample as given).
            let plan = plan(2, &config);
            assert_eq!(plan.orders().last(), Some(1));
            let mut buffer = [0.0f32; 3 * 3];
            let mut history = plan
                .history(&mut buffer[..plan.history_len() * 3], 3)
                .unwrap();
            let mut x = [1.0f32, 1.0, 1.0];
            plan.step(0, &mut x, &[0.0; 3], &mut history, &mut [])
                .unwrap();
            let mut x = x_t.map(|v| v as f32);
            plan.step(1, &mut x, &epsilon.map(|v| v as f32), &mut history, &mut [])
                .unwrap();
            let a = alpha_cumprod(499);
            for ((&got, x_t), e) in x.iter().zip(x_t).zip(epsilon) {
                let original = (x_t - libm::sqrt(1.0 - a) * e) / libm::sqrt(a);
                assert!(
                    ((got as f64) / original - 1.0).abs() < 1e-6,
                    "{solver_type:?} predict_x0={predict_x0}: {got} vs {original}"
                );
            }
        }
    }

    #[test]
    fn names_parse_as_diffusers_writes_them() {
        assert_eq!("bh1".parse(), Ok(UniPcSolverType::Bh1));
        assert_eq!("bh2".parse(), Ok(UniPcSolverType::Bh2));
        for alias in ["midpoint", "heun", "logrho"] {
            assert_eq!(alias.parse(), Ok(UniPcSolverType::Bh2));
        }
        assert_eq!(
            "bh3".parse::<UniPcSolverType>(),
            Err(Error::UnknownName(NameKind::UniPcSolverType))
        );
    }
}
