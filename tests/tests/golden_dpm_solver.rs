//! DpmSolverPlan against diffusers 0.42.1's DPMSolverMultistepScheduler (golden file written by
//! tests/golden/make_golden_dpm.py).

use diffusion_core::{
    DpmSolverConfig, DpmSolverPlan, NoiseSource, SampleClipping, ScheduleConfig, SigmaSchedule,
    SliceNoise, TimestepConfig, noise_stream,
};
use serde::Deserialize;
use tests::{load, relative_l2, stand_in_model};

/// One step, alone (its memory comes from the earlier steps' exact inputs).
const STEP_TOLERANCE: f64 = 1e-5;
/// A whole run.
const LOOP_TOLERANCE: f64 = 1e-4;

/// A case's options, by diffusers' config keys.
#[derive(Deserialize, Debug)]
struct Options {
    algorithm_type: String,
    solver_order: u8,
    solver_type: String,
    lower_order_final: bool,
    euler_at_final: bool,
    final_sigmas_type: String,
    prediction_type: String,
    spacing: String,
    steps_offset: u32,
    thresholding: bool,
    rescale_betas_zero_snr: bool,
    steps: u32,
    /// "interpolated", or use_karras_sigmas & co. by their schedule's name.
    schedule: String,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Case {
    Sequence {
        options: Options,
        shape: Vec<usize>,
        timesteps: Vec<u32>,
        orders: Vec<u8>,
        samples: Vec<Vec<f32>>,
        model_outputs: Vec<Vec<f32>>,
        expected: Vec<Vec<f32>>,
        /// Each step's noise (sde-dpmsolver++), else empty.
        #[serde(default)]
        noises: Vec<Vec<f32>>,
    },
    Loop {
        options: Options,
        seed: u64,
        shape: Vec<usize>,
        timesteps: Vec<u32>,
        sigmas: Vec<f32>,
        orders: Vec<u8>,
        #[serde(rename = "x_T")]
        x_t: Vec<f32>,
        diffusers: Vec<f32>,
    },
}

fn plan(options: &Options) -> DpmSolverPlan<32> {
    let schedule = ScheduleConfig {
        rescale_betas_zero_snr: options.rescale_betas_zero_snr,
        ..ScheduleConfig::default()
    };
    let timesteps = TimestepConfig {
        num_inference_steps: options.steps,
        spacing: options.spacing.parse().unwrap(),
        steps_offset: options.steps_offset,
    };
    let config = DpmSolverConfig {
        algorithm_type: options.algorithm_type.parse().unwrap(),
        solver_order: options.solver_order,
        solver_type: options.solver_type.parse().unwrap(),
        lower_order_final: options.lower_order_final,
        euler_at_final: options.euler_at_final,
        final_sigmas_type: options.final_sigmas_type.parse().unwrap(),
        prediction_type: options.prediction_type.parse().unwrap(),
        clipping: if options.thresholding {
            SampleClipping::DynamicThreshold {
                ratio: 0.9,
                max_value: 1.5,
            }
        } else {
            SampleClipping::None
        },
        sigma_schedule: match options.schedule.as_str() {
            "interpolated" => SigmaSchedule::Interpolated,
            "karras" => SigmaSchedule::Karras,
            "exponential" => SigmaSchedule::Exponential,
            "beta" => SigmaSchedule::Beta,
            other => panic!("unknown schedule {other}"),
        },
    };
    DpmSolverPlan::new(&schedule, &timesteps, &config).unwrap()
}

fn label(options: &Options) -> String {
    format!(
        "{} order={} {} {} offset={} {} final={} lower_order_final={} euler_at_final={} \
         thresholding={} zero_snr={} N={} sigmas={}",
        options.algorithm_type,
        options.solver_order,
        options.solver_type,
        options.spacing,
        options.steps_offset,
        options.prediction_type,
        options.final_sigmas_type,
        options.lower_order_final,
        options.euler_at_final,
        options.thresholding,
        options.rescale_betas_zero_snr,
        options.steps,
        options.schedule
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

#[test]
fn dpm_solver_matches_diffusers() {
    let golden = load::<Case>("dpm_solver.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    let (mut sequences, mut loops) = (0, 0);
    let (mut worst_step, mut worst_loop) = (Worst::default(), Worst::default());
    let mut worst_sigma = Worst::default();
    for case in &golden.cases {
        match case {
            Case::Sequence {
                options,
                shape,
                timesteps,
                orders,
                samples,
                model_outputs,
                expected,
                noises,
            } => {
                sequences += 1;
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.timesteps().collect::<Vec<_>>(), *timesteps, "{label}");
                assert_eq!(plan.orders().collect::<Vec<_>>(), *orders, "{label}");
                let batch = shape[0];
                let values = samples[0].len();
                let mut buffer = vec![f32::NAN; plan.history_len() * values];
                let mut history = plan.history(&mut buffer, values).unwrap();
                let mut scratch = vec![0.0f32; values / batch];
                for (index, ((sample, output), expected)) in
                    samples.iter().zip(model_outputs).zip(expected).enumerate()
                {
                    let mut x = sample.clone();
                    let step_noise = noises.get(index).map_or(&[][..], |n| &n[..]);
                    assert_eq!(plan.is_stochastic(), !step_noise.is_empty(), "{label}");
                    let mut sources: Vec<SliceNoise<'_>> = step_noise
                        .chunks(values / batch)
                        .map(SliceNoise::new)
                        .collect();
                    plan.step_batch_with_noise(
                        index,
                        batch,
                        &mut x,
                        output,
                        &mut history,
                        &mut scratch,
                        &mut sources,
                    )
                    .unwrap();
                    let error = relative_l2(&x, expected);
                    worst_step.record(error, || format!("{label} step {index}"));
                    assert!(
                        error <= STEP_TOLERANCE,
                        "{label} step {index} (order {}): relative L2 {error:e}",
                        orders[index]
                    );
                }
            }
            Case::Loop {
                options,
                seed,
                shape,
                timesteps,
                sigmas,
                orders,
                x_t,
                diffusers,
            } => {
                loops += 1;
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.timesteps().collect::<Vec<_>>(), *timesteps, "{label}");
                assert_eq!(plan.orders().collect::<Vec<_>>(), *orders, "{label}");
                // diffusers' sigmas come from its f32 cumprod, ours from the exact ᾱ.
                let ours: Vec<f32> = plan.sigmas().collect();
                assert_eq!(ours.len(), sigmas.len(), "{label}");
                for (k, (&got, &expected)) in ours.iter().zip(sigmas).enumerate() {
                    let error = ((got - expected) / expected.max(f32::MIN_POSITIVE)).abs();
                    worst_sigma.record(error as f64, || format!("{label} sigma {k}"));
                    assert!(
                        error <= 1e-5 || got == expected,
                        "{label}: sigma {k} = {got:e}, diffusers {expected:e}"
                    );
                }
                let batch = shape[0];
                let per_sample = x_t.len() / batch;
                let mut x = vec![0.0f32; x_t.len()];
                // x_T, then (sde-dpmsolver++) each step's noise, from the stream of each sample.
                let mut streams: Vec<_> =
                    (0..batch).map(|i| noise_stream(*seed, i as u64)).collect();
                for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
                    stream.fill_standard_normal(sample);
                }
                assert!(relative_l2(&x, x_t) <= 1e-6, "{label}: x_T");
                let mut buffer = vec![0.0f32; plan.history_len() * x.len()];
                let mut history = plan.history(&mut buffer, x.len()).unwrap();
                let mut output = vec![0.0f32; x.len()];
                let mut scratch = vec![0.0f32; per_sample];
                for (index, timestep) in plan.timesteps().enumerate() {
                    stand_in_model(&x, timestep, &mut output);
                    plan.step_batch_with_noise(
                        index,
                        batch,
                        &mut x,
                        &output,
                        &mut history,
                        &mut scratch,
                        &mut streams,
                    )
                    .unwrap();
                }
                let error = relative_l2(&x, diffusers);
                worst_loop.record(error, || label.clone());
                assert!(error <= LOOP_TOLERANCE, "{label}: relative L2 {error:e}");
            }
        }
    }
    eprintln!(
        "{sequences} step sequences: worst single step {:.2e} ({}); {loops} loops: worst {:.2e} \
         ({}); worst sigma {:.2e} ({})",
        worst_step.error,
        worst_step.label,
        worst_loop.error,
        worst_loop.label,
        worst_sigma.error,
        worst_sigma.label
    );
    assert_eq!((sequences, loops), (228, 768));
}
