//! Properties over random valid configurations (proptest).

use diffusion_core::{
    BetaSchedule, Error, FinalAlphaCumprod, Plan, PredictionType, SampleClipping, Sampler,
    SamplerConfig, ScheduleConfig, SliceNoise, TimestepConfig, TimestepSpacing, VarianceType,
};
use proptest::prelude::*;

fn beta_range() -> impl Strategy<Value = (f64, f64)> {
    (1e-5f64..0.05, 0.0f64..0.05).prop_map(|(start, extra)| (start, start + extra))
}

/// Schedules whose ᾱ stays representable: T up to 4096 and β ≤ 0.1.
fn schedule() -> impl Strategy<Value = (u32, BetaSchedule<'static>, Vec<f32>)> {
    (1u32..=4096, 0usize..5, beta_range(), any::<u64>()).prop_map(
        |(t, kind, (start, end), salt)| {
            // Trained betas are drawn here (a Vec) and attached by the caller, who owns them.
            let trained: Vec<f32> = (0..t as u64)
                .map(|i| {
                    1e-4 + 0.05
                        * ((i.wrapping_mul(0x9E37_79B9).wrapping_add(salt) % 1000) as f32 / 1000.0)
                })
                .collect();
            let schedule = match kind {
                0 => BetaSchedule::Linear {
                    beta_start: start,
                    beta_end: end,
                },
                1 => BetaSchedule::ScaledLinear {
                    beta_start: start,
                    beta_end: end,
                },
                2 => BetaSchedule::SquaredCosCapV2,
                3 => BetaSchedule::Sigmoid {
                    beta_start: start,
                    beta_end: end,
                },
                _ => BetaSchedule::Trained(&[]),
            };
            (t, schedule, trained)
        },
    )
}

fn with_trained<'a>(
    t: u32,
    schedule: BetaSchedule<'a>,
    trained: &'a [f32],
    rescale: bool,
) -> ScheduleConfig<'a> {
    let beta_schedule = match schedule {
        BetaSchedule::Trained(_) => BetaSchedule::Trained(trained),
        other => other,
    };
    ScheduleConfig {
        num_train_timesteps: t,
        beta_schedule,
        rescale_betas_zero_snr: rescale,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn alphas_cumprod_strictly_decrease_within_unit_interval((t, schedule, trained) in schedule()) {
        let config = with_trained(t, schedule, &trained, false);
        let mut previous = f64::INFINITY;
        for (step, value) in config.alphas_cumprod().unwrap() {
            prop_assert!(value > 0.0 && value <= 1.0, "alpha_cumprod[{step}] = {value:e}");
            prop_assert!(value < previous, "not decreasing at {step}");
            previous = value;
        }
    }

    #[test]
    fn zero_snr_rescale_decreases_to_zero((t, schedule, trained) in schedule()) {
        let config = with_trained(t.max(2), schedule, &trained, true);
        let trained_len_ok = !matches!(schedule, BetaSchedule::Trained(_)) || t >= 2;
        prop_assume!(trained_len_ok);
        let values: Vec<f64> = config.alphas_cumprod().unwrap().map(|(_, v)| v).collect();
        prop_assert_eq!(*values.last().unwrap(), 0.0);
        prop_assert!(values.windows(2).all(|w| w[1] < w[0] && w[0] <= 1.0));
    }

    #[test]
    fn plans_strictly_decrease_within_range(
        t in 1u32..=4096, steps_fraction in 0.0f64..=1.0, spacing in 0usize..3, offset in 0u32..3,
    ) {
        let steps = ((t as f64 * steps_fraction) as u32).clamp(1, t);
        let spacing = [TimestepSpacing::Linspace, TimestepSpacing::Leading, TimestepSpacing::Trailing][spacing];
        let config = TimestepConfig { num_inference_steps: steps, spacing, steps_offset: offset };
        match config.timesteps(t) {
            Ok(timesteps) => {
                let timesteps: Vec<u32> = timesteps.collect();
                prop_assert_eq!(timesteps.len(), steps as usize);
                prop_assert!(timesteps.iter().all(|&x| x < t));
                prop_assert!(timesteps.windows(2).all(|w| w[1] < w[0]), "{:?}", timesteps);
            }
            // Only `leading` with an offset can leave the range.
            Err(error) => {
                prop_assert!(spacing == TimestepSpacing::Leading && offset > 0, "{error}");
                prop_assert!(matches!(error, Error::TimestepOutOfRange { .. }), "{}", error);
            }
        }
    }

    #[test]
    fn a_step_on_finite_inputs_is_finite(
        (t, schedule, trained) in schedule(),
        rescale in any::<bool>(),
        steps_fraction in 0.0f64..=1.0,
        spacing in 0usize..3,
        sampler in 0usize..5,
        eta in 0.0f32..=1.0,
        prediction in 0usize..3,
        clipping in 0usize..3,
        final_one in any::<bool>(),
        index_fraction in 0.0f64..1.0,
        values in proptest::collection::vec(-10.0f32..10.0, 3 * 24),
    ) {
        let t = if rescale { t.max(2) } else { t };
        let config = with_trained(t, schedule, &trained, rescale);
        let steps = ((t as f64 * steps_fraction) as u32).clamp(1, t.min(64));
        let spacing = [TimestepSpacing::Linspace, TimestepSpacing::Leading, TimestepSpacing::Trailing][spacing];
        let timesteps = TimestepConfig { num_inference_steps: steps, spacing, steps_offset: 0 };
        let sampler_config = SamplerConfig {
            sampler: match sampler {
                0 => Sampler::Ddpm { variance_type: VarianceType::FixedSmall },
                1 => Sampler::Ddpm { variance_type: VarianceType::FixedLarge },
                2 => Sampler::Ddpm { variance_type: VarianceType::LearnedRange },
                3 => Sampler::Ddim { eta, use_clipped_model_output: false },
                _ => Sampler::Ddim { eta, use_clipped_model_output: true },
            },
            prediction_type: [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample][prediction],
            clipping: [
                SampleClipping::None,
                SampleClipping::Range(1.0),
                SampleClipping::DynamicThreshold { ratio: 0.995, max_value: 1.5 },
            ][clipping],
            final_alpha_cumprod: if final_one { FinalAlphaCumprod::One } else { FinalAlphaCumprod::First },
        };
        let plan = match Plan::<64>::new(&config, &timesteps, &sampler_config) {
            Ok(plan) => plan,
            // The one principled refusal: ᾱ = 0 or 1 in f32 (zero SNR with ε, or ᾱ underflow).
            Err(Error::DegenerateSchedule { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        };
        let index = ((plan.len() as f64) * index_fraction) as usize;
        let (sample, rest) = values.split_at(24);
        let mut sample = sample.to_vec();
        let model_output = &rest[..48]; // prediction then variance channels (in [-1, 1] after tanh below)
        let model_output: Vec<f32> = model_output.iter().enumerate()
            .map(|(i, &v)| if i < 24 { v } else { v.tanh() }).collect();
        let noise = vec![1.5f32; 24];
        let mut scratch = vec![0.0f32; 24];
        plan.step(index, &mut sample, &model_output, &mut SliceNoise::new(&noise), &mut scratch).unwrap();
        prop_assert!(sample.iter().all(|v| v.is_finite()), "{:?} at step {index}: {:?}", plan.steps()[index], sample);
    }
}
