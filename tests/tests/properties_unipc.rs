//! UniPcPlan over random configurations (proptest): it is built or refused with a named error,
//! never a panic, and a whole run on finite inputs, from a NaN-filled history, stays finite
//! (final sigma 0 with bh1 and predict_x0 = false included, where diffusers returns NaN).

mod common;

use diffusion_core::{
    BetaSchedule, Error, FinalSigmasType, PredictionType, SampleClipping, ScheduleConfig,
    TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan, UniPcSolverType,
};
use proptest::prelude::*;

/// The seed of CI's runs (`PROPTEST_RNG_SEED` overrides it), as `properties.rs`.
const SEED: u64 = 0x5EED_C0DE;
/// Cases in CI's runs (`PROPTEST_CASES` overrides it).
const CASES: u32 = 300;

/// proptest's configuration ([`common::proptest_config`]).
fn config() -> ProptestConfig {
    common::proptest_config(SEED, CASES)
}

fn beta_schedule(kind: usize, start: f64, extra: f64) -> BetaSchedule<'static> {
    let end = start + extra;
    match kind {
        0 => BetaSchedule::Linear {
            beta_start: start,
            beta_end: end,
        },
        1 => BetaSchedule::ScaledLinear {
            beta_start: start,
            beta_end: end,
        },
        2 => BetaSchedule::SquaredCosCapV2,
        _ => BetaSchedule::Sigmoid {
            beta_start: start,
            beta_end: end,
        },
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plans_are_built_or_refused_and_runs_stay_finite(
        t in 1u32..=4096,
        kind in 0usize..4,
        start in 1e-5f64..0.05,
        extra in 0.0f64..0.05,
        rescale in any::<bool>(),
        steps_fraction in 0.0f64..=1.0,
        spacing in 0usize..3,
        offset in 0u32..3,
        predict_x0 in any::<bool>(),
        solver_order in 0u8..5,
        bh1 in any::<bool>(),
        lower_order_final in any::<bool>(),
        disable_corrector in proptest::collection::vec(0usize..45, 0..6),
        sigma_min in any::<bool>(),
        prediction in 0usize..3,
        clipping in 0usize..3,
        values in proptest::collection::vec(-3.0f32..3.0, 2 * 8),
    ) {
        let t = if rescale { t.max(2) } else { t };
        let schedule = ScheduleConfig {
            num_train_timesteps: t,
            beta_schedule: beta_schedule(kind, start, extra),
            rescale_betas_zero_snr: rescale,
        };
        let steps = ((t as f64 * steps_fraction) as u32).clamp(1, t.min(40));
        let spacing =
            [TimestepSpacing::Linspace, TimestepSpacing::Leading, TimestepSpacing::Trailing][spacing];
        let timesteps = TimestepConfig { num_inference_steps: steps, spacing, steps_offset: offset };
        let config = UniPcConfig {
            solver_order,
            solver_type: if bh1 { UniPcSolverType::Bh1 } else { UniPcSolverType::Bh2 },
            predict_x0,
            lower_order_final,
            disable_corrector: &disable_corrector,
            final_sigmas_type: if sigma_min { FinalSigmasType::SigmaMin } else { FinalSigmasType::Zero },
            prediction_type:
                [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample][prediction],
            clipping: [
                SampleClipping::None,
                SampleClipping::Range(1.0),
                SampleClipping::DynamicThreshold { ratio: 0.995, max_value: 1.5 },
            ][clipping],
            ..UniPcConfig::default()
        };
        let plan = match UniPcPlan::<40>::new(&schedule, &timesteps, &config) {
            Ok(plan) => plan,
            Err(Error::InvalidSolverOrder { order }) => {
                prop_assert!(!(1..=3).contains(&order));
                return Ok(());
            }
            // linspace and leading take N + 1 points.
            Err(Error::InvalidStepCount { steps: refused, .. }) => {
                prop_assert!(refused == steps && steps >= t && spacing != TimestepSpacing::Trailing);
                return Ok(());
            }
            Err(Error::TimestepOutOfRange { .. }) => {
                prop_assert!(spacing == TimestepSpacing::Leading && offset > 0);
                return Ok(());
            }
            // ᾱ = 0 or 1 in f32, λ not increasing (zero SNR's 2⁻²⁴ above a near-subnormal ᾱ),
            // or a singular system.
            Err(Error::DegenerateSchedule { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        };
        prop_assert!((1..=3).contains(&solver_order));
        prop_assert_eq!(plan.len(), steps as usize);
        // The outputs UniC-p reads (p of them) and the last sample.
        prop_assert!(plan.history_len() <= solver_order as usize + 1);
        prop_assert!(plan.orders().all(|order| (1..=solver_order).contains(&order)));
        let (x, model) = values.split_at(8);
        let mut x = x.to_vec();
        let mut buffer = vec![f32::NAN; plan.history_len() * 8];
        let mut history = plan.history(&mut buffer, 8).unwrap();
        let mut output = [0.0f32; 8];
        let mut scratch = [0.0f32; 8];
        for (index, timestep) in plan.timesteps().enumerate() {
            for ((o, &v), &m) in output.iter_mut().zip(&x).zip(model) {
                *o = 0.5 * (v + m + 0.01 * timestep as f32).sin();
            }
            plan.step(index, &mut x, &output, &mut history, &mut scratch).unwrap();
        }
        prop_assert!(x.iter().all(|v| v.is_finite()), "{:?}", x);
    }
}

/// Found by the property above (before the plan checked h > 0): with zero SNR, ᾱ_{T−1} = 2⁻²⁴
/// but ᾱ of the next step is about 7e-45 (near f32's subnormal range), so λ falls by 42 from step
/// 0 to step 1 and the run overflowed to ±∞. The plan refuses it by name.
#[test]
fn a_zero_snr_schedule_whose_lambda_falls_is_refused() {
    let schedule = ScheduleConfig {
        num_train_timesteps: 1623,
        beta_schedule: BetaSchedule::Linear {
            beta_start: 0.042620169485206874,
            beta_end: 0.042620169485206874 + 0.03975153056783214,
        },
        rescale_betas_zero_snr: true,
    };
    let timesteps = TimestepConfig {
        num_inference_steps: 40,
        spacing: TimestepSpacing::Linspace,
        steps_offset: 0,
    };
    let config = UniPcConfig {
        solver_order: 1,
        lower_order_final: false,
        ..UniPcConfig::default()
    };
    assert_eq!(
        UniPcPlan::<40>::new(&schedule, &timesteps, &config).err(),
        Some(Error::DegenerateSchedule { timestep: 1622 })
    );
}
