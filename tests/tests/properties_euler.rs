//! EulerPlan and HeunPlan over random configurations (proptest): it is built or refused with a named error,
//! never a panic; a built plan has N finite timesteps and N + 1 sigmas, the N of the steps
//! non-increasing (except under the zero-SNR rescale, where diffusers' σ_{T−1} with ᾱ_{T−1} = 2⁻²⁴
//! can be below σ_{T−2}), and a whole run on finite inputs stays finite.

mod common;

use diffusion_core::{
    BetaSchedule, Error, EulerConfig, EulerPlan, EulerVariant, FinalSigmasType, HeunConfig,
    HeunPlan, PredictionType, ScheduleConfig, SigmaSchedule, TimestepConfig, TimestepSpacing,
    TimestepType, noise_stream,
};
use proptest::prelude::*;

/// proptest's configuration ([`common::proptest_config`]).
fn config() -> ProptestConfig {
    common::proptest_config(0x000E_17E4, 300)
}

/// Found by the property below: with the zero-SNR rescale and large betas, ᾱ_{T−2} is below the
/// 2⁻²⁴ that ᾱ_{T−1} is set to, so σ_{T−1} < σ_{T−2} and a trailing run's first step goes up in
/// sigma, as in diffusers. The plan is built and runs finite.
#[test]
fn zero_snr_sigmas_may_rise_at_the_start() {
    let schedule = ScheduleConfig {
        num_train_timesteps: 884,
        beta_schedule: BetaSchedule::Linear {
            beta_start: 0.008_419_710_387_908_286,
            beta_end: 0.008_419_710_387_908_286 + 0.016_943_102_326_778_27,
        },
        rescale_betas_zero_snr: true,
    };
    let timesteps = TimestepConfig {
        num_inference_steps: 40,
        spacing: TimestepSpacing::Trailing,
        steps_offset: 0,
    };
    let plan: EulerPlan<40> =
        EulerPlan::new(&schedule, &timesteps, &EulerConfig::default()).unwrap();
    let sigmas: Vec<f32> = plan.sigmas().collect();
    assert!((sigmas[0] - 4096.0).abs() < 1e-3); // √((1 − 2⁻²⁴)/2⁻²⁴)
    assert!(sigmas[1] > sigmas[0], "{sigmas:?}");
    let mut x = [0.5f32; 4];
    let mut stream = noise_stream(0, 0);
    for index in 0..plan.len() {
        plan.step(index, &mut x, &[0.1; 4], &mut stream).unwrap();
    }
    assert!(x.iter().all(|v| v.is_finite()));
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
        ancestral in any::<bool>(),
        sigma_schedule in 0usize..4,
        sigma_min in proptest::option::of(1e-3f64..5.0),
        sigma_max in proptest::option::of(1.0f64..500.0),
        final_sigma_min in any::<bool>(),
        continuous in any::<bool>(),
        prediction in 0usize..3,
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
        let sigma_schedule = [
            SigmaSchedule::Interpolated,
            SigmaSchedule::Karras,
            SigmaSchedule::Exponential,
            SigmaSchedule::Beta,
        ][sigma_schedule];
        let config = EulerConfig {
            variant: if ancestral { EulerVariant::Ancestral } else { EulerVariant::Euler },
            sigma_schedule,
            sigma_min,
            sigma_max,
            final_sigmas_type: if final_sigma_min { FinalSigmasType::SigmaMin } else { FinalSigmasType::Zero },
            timestep_type: if continuous { TimestepType::Continuous } else { TimestepType::Discrete },
            prediction_type:
                [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample][prediction],
        };
        let plan = match EulerPlan::<40>::new(&schedule, &timesteps, &config) {
            Ok(plan) => plan,
            Err(Error::InvalidTrainTimesteps { num_train_timesteps }) => {
                prop_assert_eq!(num_train_timesteps, 1);
                return Ok(());
            }
            Err(Error::TimestepOutOfRange { .. }) => {
                prop_assert!(spacing == TimestepSpacing::Leading && offset > 0);
                return Ok(());
            }
            Err(Error::InvalidSigmaRange { .. }) => {
                prop_assert!(sigma_min.is_some() || sigma_max.is_some());
                return Ok(());
            }
            // A step sigma of 0 (ᾱ = 1 in f32), or ancestral sigmas that grow.
            Err(Error::DegenerateSchedule { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        };
        prop_assert_eq!(plan.len(), steps as usize);
        prop_assert!(plan.timesteps().all(f32::is_finite));
        let sigmas: Vec<f32> = plan.sigmas().collect();
        prop_assert_eq!(sigmas.len(), steps as usize + 1);
        prop_assert!(sigmas.iter().all(|s| s.is_finite() && *s >= 0.0));
        if !rescale {
            for pair in sigmas[..steps as usize].windows(2) {
                prop_assert!(pair[0] >= pair[1], "{:?}", sigmas);
            }
        }
        prop_assert!(plan.init_noise_sigma() >= sigmas[0]);
        let (x, model) = values.split_at(8);
        let mut x = x.to_vec();
        let mut model_input = [0.0f32; 8];
        let mut output = [0.0f32; 8];
        let mut stream = noise_stream(1, 0);
        for (index, timestep) in plan.timesteps().enumerate() {
            plan.scale_model_input(index, &x, &mut model_input).unwrap();
            for ((o, &v), &m) in output.iter_mut().zip(&model_input).zip(model) {
                *o = 0.5 * (v + m + 0.01 * timestep).sin();
            }
            plan.step(index, &mut x, &output, &mut stream).unwrap();
        }
        prop_assert!(x.iter().all(|v| v.is_finite()), "{:?}", x);
    }

    #[test]
    fn heun_plans_are_built_or_refused_and_runs_stay_finite(
        t in 1u32..=4096,
        kind in 0usize..4,
        start in 1e-5f64..0.05,
        extra in 0.0f64..0.05,
        rescale in any::<bool>(),
        steps_fraction in 0.0f64..=1.0,
        spacing in 0usize..3,
        offset in 0u32..3,
        sigma_schedule in 0usize..4,
        clip in proptest::option::of(-1.0f32..3.0),
        prediction in 0usize..3,
        values in proptest::collection::vec(-3.0f32..3.0, 2 * 8),
    ) {
        let t = if rescale { t.max(2) } else { t };
        let schedule = ScheduleConfig {
            num_train_timesteps: t,
            beta_schedule: beta_schedule(kind, start, extra),
            rescale_betas_zero_snr: rescale,
        };
        let steps = ((t as f64 * steps_fraction) as u32).clamp(1, t.min(20));
        let spacing =
            [TimestepSpacing::Linspace, TimestepSpacing::Leading, TimestepSpacing::Trailing][spacing];
        let timesteps = TimestepConfig { num_inference_steps: steps, spacing, steps_offset: offset };
        let config = HeunConfig {
            sigma_schedule: [
                SigmaSchedule::Interpolated,
                SigmaSchedule::Karras,
                SigmaSchedule::Exponential,
                SigmaSchedule::Beta,
            ][sigma_schedule],
            prediction_type:
                [PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample][prediction],
            clip_sample: clip,
        };
        let plan = match HeunPlan::<20>::new(&schedule, &timesteps, &config) {
            Ok(plan) => plan,
            Err(Error::InvalidClipRange) => {
                prop_assert!(clip.is_some_and(|range| range <= 0.0));
                return Ok(());
            }
            Err(Error::InvalidTrainTimesteps { num_train_timesteps }) => {
                prop_assert_eq!(num_train_timesteps, 1);
                return Ok(());
            }
            Err(Error::TimestepOutOfRange { .. }) => {
                prop_assert!(spacing == TimestepSpacing::Leading && offset > 0);
                return Ok(());
            }
            Err(Error::DegenerateSchedule { .. }) => return Ok(()),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        };
        prop_assert_eq!(plan.num_model_calls(), 2 * steps as usize - 1);
        prop_assert_eq!(plan.timesteps().count(), plan.num_model_calls());
        prop_assert_eq!(plan.sigmas().count(), plan.num_model_calls() + 1);
        let (x, model) = values.split_at(8);
        let mut x = x.to_vec();
        let mut buffer = vec![f32::NAN; plan.history_len() * 8];
        let mut history = plan.history(&mut buffer, 8).unwrap();
        let mut model_input = [0.0f32; 8];
        let mut output = [0.0f32; 8];
        for (index, timestep) in plan.timesteps().enumerate() {
            plan.scale_model_input(index, &x, &mut model_input).unwrap();
            for ((o, &v), &m) in output.iter_mut().zip(&model_input).zip(model) {
                *o = 0.5 * (v + m + 0.01 * timestep).sin();
            }
            plan.step(index, &mut x, &output, &mut history).unwrap();
        }
        prop_assert!(x.iter().all(|v| v.is_finite()), "{:?}", x);
    }
}
