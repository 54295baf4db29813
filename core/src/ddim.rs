//! DDIM (Song et al. 2021): the non-Markovian update with stochasticity η.
//!
//! With a = ᾱ_t, a′ = ᾱ_prev (the next timestep of the plan, or the final ᾱ after the last),
//!
//! ```text
//! σ = η·√((1 − a′)/(1 − a))·√(1 − a/a′)
//! x_prev = √a′·x̂₀ + √(1 − a′ − σ²)·ε̂ + σ·z
//! ```
//!
//! η = 0 is deterministic; η = 1 matches DDPM's `fixed_small` variance. ε̂ comes from the model
//! output before clipping, as in diffusers, unless `use_clipped_model_output` asks for
//! ε̂ = (x_t − √a·x̂₀)/√(1 − a) from the clipped x̂₀.
//!
//! The last step of a plan is the η = 0 step: σ = 0, so it draws no noise and its direction
//! term is √(1 − a′)·ε̂. That is not the mean of the η step, whose direction term is
//! √(1 − a′ − σ²)·ε̂. When the final ᾱ is 1 (`set_alpha_to_one`) the two agree, since σ = 0
//! there anyway, and so does diffusers. With ᾱ_0 (`set_alpha_to_one = false`) and η > 0,
//! diffusers' last step adds σ·z and shrinks the direction term; ours returns a sample without
//! fresh noise, which is what a sampler's last step is for. The golden tests check both cases.
//! With η = 1, σ is DDPM's `fixed_small` σ (the unit test `eta_one_is_ddpm_sigma`).

use crate::error::Error;
use crate::prediction::PredictionType;
use crate::step::StepCoefficients;

/// The DDIM step from ᾱ_t = `alpha_cumprod` to ᾱ_prev = `alpha_cumprod_prev`.
pub(crate) fn coefficients(
    prediction_type: PredictionType,
    eta: f64,
    use_clipped_model_output: bool,
    alpha_cumprod: f64,
    alpha_cumprod_prev: f64,
    is_last: bool,
) -> Result<StepCoefficients, Error> {
    let (a, a_prev) = (alpha_cumprod, alpha_cumprod_prev);
    let sigma = if is_last || eta == 0.0 {
        0.0
    } else {
        eta * libm::sqrt(crate::ddpm::posterior_variance(a, a_prev))
    };
    let direction_squared = 1.0 - a_prev - sigma * sigma;
    // Rounding can leave −1e-17 where the exact value is 0 (η = 1, a′ → 1).
    if direction_squared < -1e-9 {
        return Err(Error::InvalidEta);
    }
    let direction = libm::sqrt(if direction_squared > 0.0 {
        direction_squared
    } else {
        0.0
    });
    let original = prediction_type.original_sample(a);
    let sqrt_a_prev = libm::sqrt(a_prev);
    let (prev_from_original, prev_from_sample, prev_from_model) = if use_clipped_model_output {
        let (sqrt_a, sqrt_b) = (libm::sqrt(a), libm::sqrt(1.0 - a));
        (
            sqrt_a_prev - direction * sqrt_a / sqrt_b,
            direction / sqrt_b,
            0.0,
        )
    } else {
        let epsilon = prediction_type.epsilon(a);
        (
            sqrt_a_prev,
            direction * epsilon.from_sample,
            direction * epsilon.from_model,
        )
    };
    Ok(StepCoefficients {
        original_from_sample: original.from_sample as f32,
        original_from_model: original.from_model as f32,
        prev_from_original: prev_from_original as f32,
        prev_from_sample: prev_from_sample as f32,
        prev_from_model: prev_from_model as f32,
        noise_std: sigma as f32,
        adds_noise: !is_last && eta > 0.0,
        ..StepCoefficients::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::{
        DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, ScheduleConfig, TimestepConfig,
        TimestepSpacing, VarianceType,
    };

    #[test]
    fn eta_one_is_ddpm_sigma() {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Leading,
            steps_offset: 1,
        };
        let plan = |rule| {
            DdpmDdimPlan::<10>::new(
                &ScheduleConfig::default(),
                &timesteps,
                &DdpmDdimConfig {
                    rule,
                    ..DdpmDdimConfig::default()
                },
            )
            .unwrap()
        };
        let ddim = plan(DdpmDdimRule::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        });
        let ddpm = plan(DdpmDdimRule::Ddpm {
            variance_type: VarianceType::FixedSmall,
        });
        assert_eq!(ddim.steps()[0].noise_std, ddpm.steps()[0].noise_std);
    }
}
