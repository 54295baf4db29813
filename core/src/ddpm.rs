//! DDPM (Ho et al. 2020): ancestral sampling from the posterior q(x_prev | x_t, x̂₀).
//!
//! With a = ᾱ_t, a′ = ᾱ_prev (the next timestep of the plan, or the final ᾱ after the last),
//! the respaced β′ = 1 − a/a′ (equal to β_t when the plan visits every timestep), and
//!
//! ```text
//! μ = √a′·β′/(1 − a)·x̂₀ + √(a/a′)·(1 − a′)/(1 − a)·x_t
//! β̃ = max((1 − a′)/(1 − a)·β′, 1e-20)
//! x_prev = μ + σ·z
//! ```
//!
//! σ² is β̃ (`fixed_small`, and `fixed_small_log`, which diffusers computes as exp(½·ln β̃)),
//! β′ (`fixed_large`), the model's variance channel v itself (`learned`), or, for
//! `learned_range`, exp(f·ln β′ + (1 − f)·ln β̃) with f = (v + 1)/2 (Nichol & Dhariwal 2021).
//! The last step of a plan adds no noise, whatever its timestep (diffusers tests `t > 0`, which
//! adds noise to the final output of `leading` + offset and `trailing` plans).
//!
//! diffusers' sixth name, `fixed_large_log`, is not supported: its DDPM step takes the square
//! root of ln β′ < 0, so every noisy step returns NaN.
//!
//! ```
//! use diffusion_core::{TimestepSpacing, DdpmDdimPlan, DdpmDdimRule, DdpmDdimConfig, ScheduleConfig, TimestepConfig, VarianceType};
//!
//! let ddpm = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::FixedSmall }, ..DdpmDdimConfig::default() };
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
//! let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &ddpm)?;
//! let last = plan.steps()[9];
//! assert_eq!((last.timestep, last.adds_noise), (1, false)); // t = 1 > 0, and still no noise
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use crate::error::{Error, NameKind};
use crate::prediction::PredictionType;
use crate::step::{StepCoefficients, VarianceSource};

/// The variance of the reverse step (diffusers `variance_type`).
///
/// ```
/// use diffusion_core::{DdpmDdimRule, DdpmDdimConfig, VarianceType};
///
/// let variance_type: VarianceType = "learned_range".parse()?; // a scheduler_config.json value
/// assert!(variance_type.needs_variance_channels());
/// let config = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type }, ..DdpmDdimConfig::default() };
/// # let _ = config;
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VarianceType {
    /// `fixed_small`: σ² = β̃, the posterior variance (diffusers' default).
    #[default]
    FixedSmall,
    /// `fixed_small_log`: σ = exp(½·ln β̃), which is `fixed_small` in exact arithmetic; the core
    /// computes both in f64, so they give the same bits (diffusers' f32 differs by an ULP or so).
    FixedSmallLog,
    /// `fixed_large`: σ² = β′.
    FixedLarge,
    /// `learned`: the model outputs σ² itself per element, in extra channels: σ = √v
    /// (a negative v gives NaN, as in diffusers).
    Learned,
    /// `learned_range`: the model outputs v ∈ [−1, 1] per element in extra channels;
    /// σ² = exp(f·ln β′ + (1 − f)·ln β̃), f = (v + 1)/2.
    LearnedRange,
}

impl VarianceType {
    /// Whether the model's output must carry variance channels (`learned`, `learned_range`):
    /// per sample, the prediction's C channels followed by C variance channels (NCHW with 2C
    /// channels, as diffusers splits it).
    ///
    /// ```
    /// use diffusion_core::VarianceType;
    ///
    /// assert!(VarianceType::Learned.needs_variance_channels());
    /// assert!(!VarianceType::FixedSmallLog.needs_variance_channels());
    /// ```
    #[must_use]
    pub fn needs_variance_channels(self) -> bool {
        matches!(self, VarianceType::Learned | VarianceType::LearnedRange)
    }
}

impl FromStr for VarianceType {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "fixed_small" => Ok(VarianceType::FixedSmall),
            "fixed_small_log" => Ok(VarianceType::FixedSmallLog),
            "fixed_large" => Ok(VarianceType::FixedLarge),
            "learned" => Ok(VarianceType::Learned),
            "learned_range" => Ok(VarianceType::LearnedRange),
            _ => Err(Error::UnknownName(NameKind::VarianceType)),
        }
    }
}

/// The posterior variance β̃ = (1 − ᾱ_prev)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_prev), unclamped
/// (diffusers `DDIMScheduler._get_variance`; DDPM clamps it at 1e-20). Internal: the plans'
/// weights.
#[must_use]
pub(crate) fn posterior_variance(alpha_cumprod: f64, alpha_cumprod_prev: f64) -> f64 {
    (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod) * (1.0 - alpha_cumprod / alpha_cumprod_prev)
}

/// The DDPM step from ᾱ_t = `alpha_cumprod` to ᾱ_prev = `alpha_cumprod_prev`.
pub(crate) fn coefficients(
    prediction_type: PredictionType,
    variance_type: VarianceType,
    alpha_cumprod: f64,
    alpha_cumprod_prev: f64,
    is_last: bool,
) -> StepCoefficients {
    let (a, a_prev) = (alpha_cumprod, alpha_cumprod_prev);
    let beta_prod = 1.0 - a;
    let current_alpha = a / a_prev;
    let current_beta = 1.0 - current_alpha;
    let small = {
        let variance = posterior_variance(a, a_prev);
        if variance > 1e-20 { variance } else { 1e-20 }
    };
    let original = prediction_type.original_sample(a);
    let (noise_std, log_variance_min, log_variance_max) = match (is_last, variance_type) {
        (true, _) => (0.0, 0.0, 0.0),
        (false, VarianceType::FixedSmall | VarianceType::FixedSmallLog) => {
            (libm::sqrt(small), 0.0, 0.0)
        }
        (false, VarianceType::FixedLarge) => (libm::sqrt(current_beta), 0.0, 0.0),
        (false, VarianceType::Learned) => (0.0, 0.0, 0.0),
        (false, VarianceType::LearnedRange) => (0.0, libm::log(small), libm::log(current_beta)),
    };
    let variance_source = match variance_type {
        VarianceType::Learned => VarianceSource::Learned,
        VarianceType::LearnedRange => VarianceSource::LearnedRange,
        _ => VarianceSource::Fixed,
    };
    StepCoefficients {
        original_from_sample: original.from_sample as f32,
        original_from_model: original.from_model as f32,
        prev_from_original: (libm::sqrt(a_prev) * current_beta / beta_prod) as f32,
        prev_from_sample: (libm::sqrt(current_alpha) * (1.0 - a_prev) / beta_prod) as f32,
        prev_from_model: 0.0,
        noise_std: noise_std as f32,
        log_variance_min: log_variance_min as f32,
        log_variance_max: log_variance_max as f32,
        adds_noise: !is_last,
        variance_source,
        ..StepCoefficients::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleConfig;

    fn alphas_cumprod() -> [f64; 1000] {
        let mut table = [0.0; 1000];
        for (t, value) in ScheduleConfig::default().alphas_cumprod().unwrap() {
            table[t as usize] = value;
        }
        table
    }

    #[test]
    fn posterior_variance_matches_diffusers_known_values() {
        // diffusers tests/schedulers/test_scheduler_ddim.py::test_variance (linear, T = 1000).
        let table = alphas_cumprod();
        let cases = [
            ((420, 400), 0.14771),
            ((980, 960), 0.32460),
            ((487, 486), 0.00979),
            ((999, 998), 0.02),
        ];
        for ((t, prev), expected) in cases {
            let got = posterior_variance(table[t], table[prev]);
            assert!(
                (got - expected).abs() < 1e-5,
                "({t} -> {prev}): {got} != {expected}"
            );
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!("learned_range".parse(), Ok(VarianceType::LearnedRange));
        assert_eq!("learned".parse(), Ok(VarianceType::Learned));
        assert_eq!("fixed_small_log".parse(), Ok(VarianceType::FixedSmallLog));
        assert_eq!(
            "fixed_large_log".parse::<VarianceType>(),
            Err(Error::UnknownName(NameKind::VarianceType))
        );
    }
}
