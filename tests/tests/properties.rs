//! Properties over random valid configurations (proptest).
//!
//! Reproducible by default: every run draws the same cases from a fixed seed, so CI fails on a
//! change of the code, never on a lucky draw. A deep local run raises the count (and may move the
//! seed): `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=7 cargo test --release -p tests --test
//! properties`. A failure prints its minimal case; nothing is written into the source tree (add
//! the case as a `#[test]` below, as `a_step_on_trained_betas_of_the_smallest_t` was).

mod common;

use diffusion_core::{
    BetaSchedule, DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, Error, FinalAlphaCumprod,
    PredictionType, SampleClipping, ScheduleConfig, SliceNoise, TimestepConfig, TimestepSpacing,
    VarianceType,
};
use proptest::prelude::*;

/// The seed of CI's runs (`PROPTEST_RNG_SEED` overrides it).
const SEED: u64 = 0x5EED_D1FF;
/// Cases per property in CI's runs (`PROPTEST_CASES` overrides it).
const CASES: u32 = 200;

/// proptest's configuration ([`common::proptest_config`]).
fn config() -> ProptestConfig {
    common::proptest_config(SEED, CASES)
}

fn beta_range() -> impl Strategy<Value = (f64, f64)> {
    (1e-5f64..0.05, 0.0f64..0.05).prop_map(|(start, extra)| (start, start + extra))
}

/// A schedule config's parts: T, the schedule kind, and the betas a `Trained` schedule uses.
type ScheduleParts = (u32, BetaSchedule<'static>, Vec<f32>);

/// Schedules whose ᾱ stays representable: T in `min_t..=4096` (a quarter of the cases at most
/// 8, where the edge cases are) and β ≤ 0.1. The trained betas always number T (a `Trained`
/// schedule with another count is an error, not a property).
fn schedule(min_t: u32) -> impl Strategy<Value = ScheduleParts> {
    let t = prop_oneof![1 => min_t..=8, 3 => min_t..=4096];
    (t, 0usize..5, beta_range(), any::<u64>()).prop_map(|(t, kind, (start, end), salt)| {
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
    })
}

/// Whether to rescale to zero terminal SNR, with a schedule it applies to: T ≥ 2, since the
/// rescale maps ᾱ₀ to itself and ᾱ_{T−1} to 0, which for T = 1 is the same element.
fn rescale_and_schedule() -> impl Strategy<Value = (bool, ScheduleParts)> {
    any::<bool>().prop_flat_map(|rescale| (Just(rescale), schedule(if rescale { 2 } else { 1 })))
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

/// One step of a random valid configuration, from random finite inputs.
#[derive(Clone, Debug)]
struct StepCase {
    rescale: bool,
    schedule: ScheduleParts,
    steps_fraction: f64,
    spacing: usize,
    sampler: usize,
    eta: f32,
    prediction: usize,
    clipping: usize,
    final_one: bool,
    index_fraction: f64,
    /// The sample (24 values), then the model output (24 prediction and 24 variance channels).
    values: Vec<f32>,
}

fn step_case() -> impl Strategy<Value = StepCase> {
    (
        rescale_and_schedule(),
        0.0f64..=1.0,
        0usize..3,
        0usize..5,
        0.0f32..=1.0,
        0usize..3,
        0usize..3,
        any::<bool>(),
        0.0f64..1.0,
        proptest::collection::vec(-10.0f32..10.0, 3 * 24),
    )
        .prop_map(
            |(
                (rescale, schedule),
                steps_fraction,
                spacing,
                sampler,
                eta,
                prediction,
                clipping,
                final_one,
                index_fraction,
                values,
            )| StepCase {
                rescale,
                schedule,
                steps_fraction,
                spacing,
                sampler,
                eta,
                prediction,
                clipping,
                final_one,
                index_fraction,
                values,
            },
        )
}

/// The step of `case` gives a finite sample, or the plan is refused as degenerate.
fn check_step_is_finite(case: &StepCase) -> Result<(), TestCaseError> {
    let (t, schedule, ref trained) = case.schedule;
    let config = with_trained(t, schedule, trained, case.rescale);
    let steps = ((t as f64 * case.steps_fraction) as u32).clamp(1, t.min(64));
    let spacing = [
        TimestepSpacing::Linspace,
        TimestepSpacing::Leading,
        TimestepSpacing::Trailing,
    ][case.spacing];
    let timesteps = TimestepConfig {
        num_inference_steps: steps,
        spacing,
        steps_offset: 0,
    };
    let eta = case.eta;
    let sampler_config = DdpmDdimConfig {
        rule: match case.sampler {
            0 => DdpmDdimRule::Ddpm {
                variance_type: VarianceType::FixedSmall,
            },
            1 => DdpmDdimRule::Ddpm {
                variance_type: VarianceType::FixedLarge,
            },
            2 => DdpmDdimRule::Ddpm {
                variance_type: VarianceType::LearnedRange,
            },
            3 => DdpmDdimRule::Ddim {
                eta,
                use_clipped_model_output: false,
            },
            _ => DdpmDdimRule::Ddim {
                eta,
                use_clipped_model_output: true,
            },
        },
        prediction_type: [
            PredictionType::Epsilon,
            PredictionType::VPrediction,
            PredictionType::Sample,
        ][case.prediction],
        clipping: [
            SampleClipping::None,
            SampleClipping::Range(1.0),
            SampleClipping::DynamicThreshold {
                ratio: 0.995,
                max_value: 1.5,
            },
        ][case.clipping],
        final_alpha_cumprod: if case.final_one {
            FinalAlphaCumprod::One
        } else {
            FinalAlphaCumprod::First
        },
    };
    let plan = match DdpmDdimPlan::<64>::new(&config, &timesteps, &sampler_config) {
        Ok(plan) => plan,
        // The one principled refusal: ᾱ = 0 or 1 in f32 (zero SNR with ε, or ᾱ underflow).
        Err(Error::DegenerateSchedule { .. }) => return Ok(()),
        Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
    };
    let index = ((plan.len() as f64) * case.index_fraction) as usize;
    let (sample, rest) = case.values.split_at(24);
    let mut sample = sample.to_vec();
    // Prediction, then variance channels (in [-1, 1] after tanh).
    let model_output: Vec<f32> = rest[..48]
        .iter()
        .enumerate()
        .map(|(i, &v)| if i < 24 { v } else { v.tanh() })
        .collect();
    let noise = vec![1.5f32; 24];
    let mut scratch = vec![0.0f32; 24];
    plan.step(
        index,
        &mut sample,
        &model_output,
        &mut SliceNoise::new(&noise),
        &mut scratch,
    )
    .unwrap();
    prop_assert!(
        sample.iter().all(|v| v.is_finite()),
        "{:?} at step {index}: {:?}",
        plan.steps()[index],
        sample
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_schedules_are_valid((rescale, (t, schedule, trained)) in rescale_and_schedule()) {
        prop_assert_eq!(trained.len(), t as usize);
        prop_assert!(!rescale || t >= 2);
        prop_assert!(with_trained(t, schedule, &trained, rescale).alphas_cumprod().is_ok());
    }

    #[test]
    fn alphas_cumprod_strictly_decrease_within_unit_interval((t, schedule, trained) in schedule(1)) {
        let config = with_trained(t, schedule, &trained, false);
        let mut previous = f64::INFINITY;
        for (step, value) in config.alphas_cumprod().unwrap() {
            prop_assert!(value > 0.0 && value <= 1.0, "alpha_cumprod[{step}] = {value:e}");
            prop_assert!(value < previous, "not decreasing at {step}");
            previous = value;
        }
    }

    #[test]
    fn zero_snr_rescale_decreases_to_zero((t, schedule, trained) in schedule(2)) {
        let config = with_trained(t, schedule, &trained, true);
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
    fn a_step_on_finite_inputs_is_finite(case in step_case()) {
        check_step_is_finite(&case)?;
    }
}

/// The case proptest found about once in 100 random runs before the generator gave rescaled
/// schedules T ≥ 2 with T trained betas (it built T = 2 from one beta): trained betas at the
/// smallest T, with and without the rescale, every sampler.
#[test]
fn a_step_on_trained_betas_of_the_smallest_t() {
    for (rescale, t) in [(false, 1), (true, 2)] {
        for sampler in 0..5 {
            let case = StepCase {
                rescale,
                schedule: (t, BetaSchedule::Trained(&[]), vec![0.02; t as usize]),
                steps_fraction: 1.0,
                spacing: 0,
                sampler,
                eta: 1.0,
                prediction: 1,
                clipping: 0,
                final_one: false,
                index_fraction: 0.0,
                values: vec![1.0; 3 * 24],
            };
            check_step_is_finite(&case).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        }
    }
}
