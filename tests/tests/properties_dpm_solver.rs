//! DpmSolverPlan over random configurations (proptest): it is built or refused with a named
//! error, never a panic, and a whole run on finite inputs stays finite.

mod common;

use diffusion_core::{
    BetaSchedule, DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan, DpmSolverType, Error,
    FinalSigmasType, PredictionType, SampleClipping, ScheduleConfig, TimestepConfig,
    TimestepSpacing,
};
use proptest::prelude::*;

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
    #![proptest_config(common::proptest_config(0x5EED_D935, 300))]

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
        algorithm in 0usize..2,
        solver_order in 0u8..5,
        heun in any::<bool>(),
        lower_order_final in any::<bool>(),
        euler_at_final in any::<bool>(),
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
        let config = DpmSolverConfig {
            algorithm_type: if algorithm == 0 {
                DpmSolverAlgorithm::DpmSolverPlusPlus
            } else {
                DpmSolverAlgorithm::DpmSolver
            },
            solver_order,
            solver_type: if heun { DpmSolverType::Heun } else { DpmSolverType::Midpoint },
            lower_order_final,
            euler_at_final,
            final_sigmas_type: if sigma_min { FinalSigmasType::SigmaMin } else { FinalSigmasType::Zero },
            prediction_type:
                [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample][prediction],
            clipping: [
                SampleClipping::None,
                SampleClipping::Range(1.0),
                SampleClipping::DynamicThreshold { ratio: 0.995, max_value: 1.5 },
            ][clipping],
            ..DpmSolverConfig::default()
        };
        let plan = match DpmSolverPlan::<40>::new(&schedule, &timesteps, &config) {
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
            // ᾱ = 0 or 1 in f32, or two steps with the same λ.
            Err(Error::DegenerateSchedule { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        };
        prop_assert!((1..=3).contains(&solver_order));
        prop_assert_eq!(plan.len(), steps as usize);
        prop_assert!(plan.history_len() < solver_order as usize);
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
