//! EulerPlan and HeunPlan against diffusers 0.42.1's EulerDiscreteScheduler,
//! EulerAncestralDiscreteScheduler and HeunDiscreteScheduler (golden file written by
//! tests/golden/make_golden_euler.py).

use diffusion_core::{
    BetaSchedule, EulerConfig, EulerPlan, EulerVariant, HeunConfig, HeunPlan, NoiseSource,
    ScheduleConfig, SigmaSchedule, SliceNoise, TimestepConfig, noise_stream,
};
use serde::Deserialize;
use tests::{load, relative_l2};

/// Timesteps, input scales and init_noise_sigma, relative.
const PLAN_TOLERANCE: f64 = 1e-6;
/// One step, alone. The closest case is Heun's second stage from σ = 7.42 to σ′ = 0.0100 (beta
/// sigmas), 9.5e-6: there diffusers' f32 (x̃ − x̂₀)/σ′ cancels, and its result is itself 9.46e-6
/// from the same formula in f64.
const STEP_TOLERANCE: f64 = 1e-5;
/// A whole run.
const LOOP_TOLERANCE: f64 = 1e-4;

/// A case's options, by diffusers' config keys.
#[derive(Deserialize, Debug)]
struct Options {
    variant: String,
    schedule: String,
    spacing: String,
    steps_offset: u32,
    steps: u32,
    final_sigmas_type: String,
    prediction_type: String,
    timestep_type: String,
    betas: String,
    rescale_betas_zero_snr: bool,
    sigma_min: Option<f64>,
    sigma_max: Option<f64>,
    /// HeunDiscreteScheduler's `clip_sample_range` when `clip_sample` is set.
    #[serde(default)]
    clip_sample: Option<f32>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Case {
    Plan {
        options: Options,
        timesteps: Vec<f32>,
        onnx_int64_timesteps: Vec<i64>,
        sigmas: Vec<f32>,
        init_noise_sigma: f32,
        input_scales: Vec<f32>,
        diffusers_steps: usize,
    },
    Sequence {
        options: Options,
        shape: Vec<usize>,
        timesteps: Vec<f32>,
        sigmas: Vec<f32>,
        samples: Vec<Vec<f32>>,
        model_outputs: Vec<Vec<f32>>,
        noises: Vec<Vec<f32>>,
        expected: Vec<Vec<f32>>,
    },
    Loop {
        options: Options,
        seed: u64,
        shape: Vec<usize>,
        timesteps: Vec<f32>,
        #[serde(rename = "x_T")]
        x_t: Vec<f32>,
        diffusers: Vec<f32>,
    },
    /// As `Plan`, per model evaluation (2N − 1; sigmas 2N).
    #[serde(rename = "heun_plan")]
    HeunPlan {
        options: Options,
        timesteps: Vec<f32>,
        onnx_int64_timesteps: Vec<i64>,
        sigmas: Vec<f32>,
        init_noise_sigma: f32,
        input_scales: Vec<f32>,
    },
    #[serde(rename = "heun_loop")]
    HeunLoop {
        options: Options,
        seed: u64,
        shape: Vec<usize>,
        #[serde(rename = "x_T")]
        x_t: Vec<f32>,
        diffusers: Vec<f32>,
    },
    /// Every evaluation alone; a second stage's sample is diffusers' first-stage output.
    #[serde(rename = "heun_sequence")]
    HeunSequence {
        options: Options,
        shape: Vec<usize>,
        samples: Vec<Vec<f32>>,
        model_outputs: Vec<Vec<f32>>,
        expected: Vec<Vec<f32>>,
    },
}

fn heun_plan(options: &Options) -> HeunPlan<32> {
    let timesteps = TimestepConfig {
        num_inference_steps: options.steps,
        spacing: options.spacing.parse().unwrap(),
        steps_offset: options.steps_offset,
    };
    let config = HeunConfig {
        sigma_schedule: sigma_schedule(options),
        prediction_type: options.prediction_type.parse().unwrap(),
        clip_sample: options.clip_sample,
    };
    HeunPlan::new(&schedule(options), &timesteps, &config).unwrap()
}

fn sigma_schedule(options: &Options) -> SigmaSchedule {
    match options.schedule.as_str() {
        "interpolated" => SigmaSchedule::Interpolated,
        "karras" => SigmaSchedule::Karras,
        "exponential" => SigmaSchedule::Exponential,
        _ => SigmaSchedule::Beta,
    }
}

/// Checks a plan's arrays against diffusers': every value within [`close`].
fn check_arrays(label: &str, arrays: [(&str, Vec<f32>, &[f32], &mut Worst); 4]) {
    for (name, ours, expected, worst) in arrays {
        assert_eq!(ours.len(), expected.len(), "{label}: {name}s");
        for (k, (&got, &expected)) in ours.iter().zip(expected).enumerate() {
            let error = (got as f64 - expected as f64).abs() / (expected as f64).abs().max(1.0);
            worst.record(error, || {
                format!("{label} {name} {k}: {got:e} vs {expected:e}")
            });
            assert!(
                close(got, expected),
                "{label}: {name} {k} = {got:e}, diffusers {expected:e}"
            );
        }
    }
}

fn schedule(options: &Options) -> ScheduleConfig<'static> {
    let beta_schedule = match options.betas.as_str() {
        "linear" => BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        "scaled_linear" => BetaSchedule::ScaledLinear {
            beta_start: 0.00085,
            beta_end: 0.012,
        },
        "squaredcos_cap_v2" => BetaSchedule::SquaredCosCapV2,
        other => panic!("beta schedule {other}"),
    };
    ScheduleConfig {
        num_train_timesteps: 1000,
        beta_schedule,
        rescale_betas_zero_snr: options.rescale_betas_zero_snr,
    }
}

fn plan(options: &Options) -> EulerPlan<64> {
    let timesteps = TimestepConfig {
        num_inference_steps: options.steps,
        spacing: options.spacing.parse().unwrap(),
        steps_offset: options.steps_offset,
    };
    let config = EulerConfig {
        variant: match options.variant.as_str() {
            "euler" => EulerVariant::Euler,
            _ => EulerVariant::Ancestral,
        },
        sigma_schedule: sigma_schedule(options),
        sigma_min: options.sigma_min,
        sigma_max: options.sigma_max,
        final_sigmas_type: options.final_sigmas_type.parse().unwrap(),
        timestep_type: options.timestep_type.parse().unwrap(),
        prediction_type: options.prediction_type.parse().unwrap(),
    };
    EulerPlan::new(&schedule(options), &timesteps, &config).unwrap()
}

fn label(options: &Options) -> String {
    format!(
        "{} {} {} offset={} N={} final={} {} {} betas={} zero_snr={} sigma_min={:?} sigma_max={:?} \
         clip={:?}",
        options.variant,
        options.schedule,
        options.spacing,
        options.steps_offset,
        options.steps,
        options.final_sigmas_type,
        options.prediction_type,
        options.timestep_type,
        options.betas,
        options.rescale_betas_zero_snr,
        options.sigma_min,
        options.sigma_max,
        options.clip_sample
    )
}

/// The largest error seen, and where.
#[derive(Default)]
struct Worst {
    error: f64,
    label: String,
}

impl Worst {
    fn record(&mut self, error: f64, label: impl FnOnce() -> String) {
        if error > self.error {
            self.error = error;
            self.label = label();
        }
    }
}

/// |got − expected| ≤ 1e-6·max(|expected|, 1): relative, and absolute near 0 (a continuous
/// timestep ¼·ln σ crosses 0 at σ = 1).
fn close(got: f32, expected: f32) -> bool {
    (got as f64 - expected as f64).abs() <= PLAN_TOLERANCE * (expected as f64).abs().max(1.0)
}

/// The golden loops' stand-in model on the scaled input, in f32 like torch: 0.5·sin(x_in + 0.01·t).
fn stand_in_model(x_in: &[f32], timestep: f32, out: &mut [f32]) {
    let shift = (0.01 * timestep as f64) as f32;
    for (o, &v) in out.iter_mut().zip(x_in) {
        *o = 0.5 * (v + shift).sin();
    }
}

#[test]
fn euler_matches_diffusers() {
    let golden = load::<Case>("euler.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    let (mut plans, mut sequences, mut loops) = (0, 0, 0);
    let (mut heun_plans, mut heun_sequences, mut heun_loops) = (0, 0, 0);
    let mut worst_sigma = Worst::default();
    let mut worst_timestep = Worst::default();
    let mut worst_scale = Worst::default();
    let mut worst_init = Worst::default();
    let mut worst_step = Worst::default();
    let mut worst_loop = Worst::default();
    let (mut fractional, mut negative) = (0, 0);
    for case in &golden.cases {
        match case {
            Case::Plan {
                options,
                timesteps,
                onnx_int64_timesteps,
                sigmas,
                init_noise_sigma,
                input_scales,
                diffusers_steps,
            } => {
                plans += 1;
                let label = label(options);
                let plan = plan(options);
                let ours: Vec<f32> = plan.sigmas().collect();
                assert_eq!(ours.len(), sigmas.len(), "{label}");
                assert!(*diffusers_steps >= plan.len(), "{label}");
                check_arrays(
                    &label,
                    [
                        ("sigma", ours, sigmas, &mut worst_sigma),
                        (
                            "timestep",
                            plan.timesteps().collect(),
                            timesteps,
                            &mut worst_timestep,
                        ),
                        (
                            "input scale",
                            plan.input_scales().collect(),
                            input_scales,
                            &mut worst_scale,
                        ),
                        (
                            "init_noise_sigma",
                            vec![plan.init_noise_sigma()],
                            &[*init_noise_sigma],
                            &mut worst_init,
                        ),
                    ],
                );
                fractional += plan.timesteps().filter(|t| t.fract() != 0.0).count();
                // An integer-timestep model gets what diffusers' ONNX pipelines feed it.
                let integers: Vec<i64> = plan.integer_timesteps().collect();
                assert_eq!(
                    integers, *onnx_int64_timesteps,
                    "{label}: integer timesteps"
                );
                negative += integers.iter().filter(|&&t| t < 0).count();
            }
            Case::Sequence {
                options,
                shape,
                timesteps,
                sigmas,
                samples,
                model_outputs,
                noises,
                expected,
            } => {
                sequences += 1;
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.len(), timesteps.len(), "{label}");
                assert_eq!(plan.sigmas().count(), sigmas.len(), "{label}");
                let batch = shape[0];
                let per_sample = samples[0].len() / batch;
                for (index, ((sample, output), expected)) in
                    samples.iter().zip(model_outputs).zip(expected).enumerate()
                {
                    let mut x = sample.clone();
                    let noise = &noises[index];
                    let mut sources: Vec<SliceNoise<'_>> = (0..batch)
                        .map(|i| {
                            SliceNoise::new(
                                noise
                                    .get(i * per_sample..(i + 1) * per_sample)
                                    .unwrap_or(&[]),
                            )
                        })
                        .collect();
                    plan.step_batch(index, batch, &mut x, output, &mut sources)
                        .unwrap();
                    let error = relative_l2(&x, expected);
                    worst_step.record(error, || format!("{label} step {index}"));
                    assert!(
                        error <= STEP_TOLERANCE,
                        "{label} step {index}: relative L2 {error:e}"
                    );
                }
            }
            Case::Loop {
                options,
                seed,
                shape,
                timesteps,
                x_t,
                diffusers,
            } => {
                loops += 1;
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.len(), timesteps.len(), "{label}");
                let batch = shape[0];
                let per_sample = x_t.len() / batch;
                let mut streams: Vec<_> =
                    (0..batch).map(|i| noise_stream(*seed, i as u64)).collect();
                let mut x = vec![0.0f32; x_t.len()];
                for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
                    stream.fill_standard_normal(sample);
                }
                assert!(relative_l2(&x, x_t) <= 1e-6, "{label}: x_T");
                for value in &mut x {
                    *value *= plan.init_noise_sigma();
                }
                let mut model_input = vec![0.0f32; x.len()];
                let mut output = vec![0.0f32; x.len()];
                for (index, timestep) in plan.timesteps().enumerate() {
                    plan.scale_model_input(index, &x, &mut model_input).unwrap();
                    stand_in_model(&model_input, timestep, &mut output);
                    plan.step_batch(index, batch, &mut x, &output, &mut streams)
                        .unwrap();
                }
                let error = relative_l2(&x, diffusers);
                worst_loop.record(error, || label.clone());
                assert!(error <= LOOP_TOLERANCE, "{label}: relative L2 {error:e}");
            }
            Case::HeunPlan {
                options,
                timesteps,
                onnx_int64_timesteps,
                sigmas,
                init_noise_sigma,
                input_scales,
            } => {
                heun_plans += 1;
                let label = label(options);
                let plan = heun_plan(options);
                assert_eq!(
                    plan.num_model_calls(),
                    2 * options.steps as usize - 1,
                    "{label}"
                );
                check_arrays(
                    &label,
                    [
                        ("sigma", plan.sigmas().collect(), sigmas, &mut worst_sigma),
                        (
                            "timestep",
                            plan.timesteps().collect(),
                            timesteps,
                            &mut worst_timestep,
                        ),
                        (
                            "input scale",
                            plan.input_scales().collect(),
                            input_scales,
                            &mut worst_scale,
                        ),
                        (
                            "init_noise_sigma",
                            vec![plan.init_noise_sigma()],
                            &[*init_noise_sigma],
                            &mut worst_init,
                        ),
                    ],
                );
                let integers: Vec<i64> = plan.integer_timesteps().collect();
                assert_eq!(
                    integers, *onnx_int64_timesteps,
                    "{label}: integer timesteps"
                );
            }
            Case::HeunSequence {
                options,
                shape,
                samples,
                model_outputs,
                expected,
            } => {
                heun_sequences += 1;
                let label = label(options);
                let plan = heun_plan(options);
                assert_eq!(plan.num_model_calls(), samples.len(), "{label}");
                let values = samples[0].len();
                let mut buffer = vec![f32::NAN; plan.history_len() * values];
                let mut history = plan.history(&mut buffer, values).unwrap();
                for (index, ((sample, output), expected)) in
                    samples.iter().zip(model_outputs).zip(expected).enumerate()
                {
                    let mut x = sample.clone();
                    plan.step_batch(index, shape[0], &mut x, output, &mut history)
                        .unwrap();
                    let error = relative_l2(&x, expected);
                    worst_step.record(error, || format!("{label} evaluation {index}"));
                    assert!(
                        error <= STEP_TOLERANCE,
                        "{label} evaluation {index}: relative L2 {error:e}"
                    );
                }
            }
            Case::HeunLoop {
                options,
                seed,
                shape,
                x_t,
                diffusers,
            } => {
                heun_loops += 1;
                let label = label(options);
                let plan = heun_plan(options);
                let batch = shape[0];
                let per_sample = x_t.len() / batch;
                let mut x = vec![0.0f32; x_t.len()];
                for (index, sample) in x.chunks_mut(per_sample).enumerate() {
                    noise_stream(*seed, index as u64).fill_standard_normal(sample);
                }
                assert!(relative_l2(&x, x_t) <= 1e-6, "{label}: x_T");
                for value in &mut x {
                    *value *= plan.init_noise_sigma();
                }
                let mut buffer = vec![0.0f32; plan.history_len() * x.len()];
                let mut history = plan.history(&mut buffer, x.len()).unwrap();
                let mut model_input = vec![0.0f32; x.len()];
                let mut output = vec![0.0f32; x.len()];
                for (index, timestep) in plan.timesteps().enumerate() {
                    plan.scale_model_input(index, &x, &mut model_input).unwrap();
                    stand_in_model(&model_input, timestep, &mut output);
                    plan.step_batch(index, batch, &mut x, &output, &mut history)
                        .unwrap();
                }
                let error = relative_l2(&x, diffusers);
                worst_loop.record(error, || label.clone());
                assert!(error <= LOOP_TOLERANCE, "{label}: relative L2 {error:e}");
            }
        }
    }
    eprintln!(
        "{plans} plans ({fractional} fractional timesteps, {negative} negative): worst relative \
         error of sigmas {:.2e} ({}), timesteps {:.2e} ({}), input scales {:.2e} ({}), \
         init_noise_sigma {:.2e} ({}); {sequences} step sequences: worst {:.2e} ({}); {loops} loops: \
         worst {:.2e} ({})",
        worst_sigma.error,
        worst_sigma.label,
        worst_timestep.error,
        worst_timestep.label,
        worst_scale.error,
        worst_scale.label,
        worst_init.error,
        worst_init.label,
        worst_step.error,
        worst_step.label,
        worst_loop.error,
        worst_loop.label
    );
    eprintln!("Heun: {heun_plans} plans, {heun_sequences} sequences, {heun_loops} loops");
    assert_eq!((plans, sequences, loops), (199, 40, 288));
    assert_eq!((heun_plans, heun_sequences, heun_loops), (124, 12, 124));
    assert!(fractional > 2000 && negative > 0);
}
