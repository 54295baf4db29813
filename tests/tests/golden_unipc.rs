//! UniPcPlan against diffusers 0.42.1's UniPCMultistepScheduler (golden file written by
//! tests/golden/make_golden_unipc.py).
//!
//! Where diffusers' last step to σ = 0 is NaN (`bh1`, or `predict_x0 = false`), the golden case
//! holds diffusers run with a final sigma of 1e-10 instead (`final_sigma`), and the core's plan,
//! with its exact final sigma 0 and the limit of the step there, must agree with it.

use diffusion_core::{
    NoiseSource, SampleClipping, ScheduleConfig, SigmaSchedule, TimestepConfig, UniPcConfig,
    UniPcPlan, noise_stream,
};
use serde::Deserialize;
use tests::{load, relative_l2, stand_in_model};

/// One step, alone (its memory comes from the earlier steps).
const STEP_TOLERANCE: f64 = 1e-5;
/// A whole run.
const LOOP_TOLERANCE: f64 = 1e-4;

/// A case's options, by diffusers' config keys.
#[derive(Deserialize, Debug)]
struct Options {
    solver_order: u8,
    solver_type: String,
    predict_x0: bool,
    lower_order_final: bool,
    disable_corrector: Vec<usize>,
    final_sigmas_type: String,
    prediction_type: String,
    spacing: String,
    steps_offset: u32,
    thresholding: bool,
    rescale_betas_zero_snr: bool,
    steps: u32,
    /// "interpolated", or use_karras_sigmas & co. by their schedule's name.
    schedule: String,
    sigma_min: Option<f64>,
    sigma_max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Case {
    Sequence {
        options: Options,
        final_sigma: Option<f32>,
        shape: Vec<usize>,
        timesteps: Vec<u32>,
        orders: Vec<u8>,
        correctors: Vec<bool>,
        samples: Vec<Vec<f32>>,
        model_outputs: Vec<Vec<f32>>,
        expected: Vec<Vec<f32>>,
    },
    Loop {
        options: Options,
        final_sigma: Option<f32>,
        seed: u64,
        shape: Vec<usize>,
        timesteps: Vec<u32>,
        sigmas: Vec<f32>,
        orders: Vec<u8>,
        correctors: Vec<bool>,
        #[serde(rename = "x_T")]
        x_t: Vec<f32>,
        diffusers: Vec<f32>,
    },
}

fn plan(options: &Options) -> UniPcPlan<32> {
    let schedule = ScheduleConfig {
        rescale_betas_zero_snr: options.rescale_betas_zero_snr,
        ..ScheduleConfig::default()
    };
    let timesteps = TimestepConfig {
        num_inference_steps: options.steps,
        spacing: options.spacing.parse().unwrap(),
        steps_offset: options.steps_offset,
    };
    let config = UniPcConfig {
        solver_order: options.solver_order,
        solver_type: options.solver_type.parse().unwrap(),
        predict_x0: options.predict_x0,
        lower_order_final: options.lower_order_final,
        disable_corrector: &options.disable_corrector,
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
        sigma_min: options.sigma_min,
        sigma_max: options.sigma_max,
    };
    UniPcPlan::new(&schedule, &timesteps, &config).unwrap()
}

fn label(options: &Options, final_sigma: Option<f32>) -> String {
    format!(
        "UniPC order={} {} predict_x0={} {} offset={} {} final={}{} lower_order_final={} \
         disable_corrector={:?} thresholding={} zero_snr={} N={} sigmas={} {:?}…{:?}",
        options.solver_order,
        options.solver_type,
        options.predict_x0,
        options.spacing,
        options.steps_offset,
        options.prediction_type,
        options.final_sigmas_type,
        final_sigma.map_or(String::new(), |s| format!(" (diffusers at {s:e})")),
        options.lower_order_final,
        options.disable_corrector,
        options.thresholding,
        options.rescale_betas_zero_snr,
        options.steps,
        options.schedule,
        options.sigma_min,
        options.sigma_max
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
fn unipc_matches_diffusers() {
    let golden = load::<Case>("unipc.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    let (mut sequences, mut loops, mut limits) = (0, 0, 0);
    let (mut worst_step, mut worst_loop) = (Worst::default(), Worst::default());
    let (mut worst_limit, mut worst_sigma) = (Worst::default(), Worst::default());
    for case in &golden.cases {
        match case {
            Case::Sequence {
                options,
                final_sigma,
                shape,
                timesteps,
                orders,
                correctors,
                samples,
                model_outputs,
                expected,
            } => {
                sequences += 1;
                let label = label(options, *final_sigma);
                let plan = plan(options);
                assert_eq!(plan.timesteps().collect::<Vec<_>>(), *timesteps, "{label}");
                assert_eq!(plan.orders().collect::<Vec<_>>(), *orders, "{label}");
                assert_eq!(
                    plan.correctors().collect::<Vec<_>>(),
                    *correctors,
                    "{label}"
                );
                let batch = shape[0];
                let values = samples[0].len();
                let mut buffer = vec![f32::NAN; plan.history_len() * values];
                let mut history = plan.history(&mut buffer, values).unwrap();
                let mut scratch = vec![0.0f32; values / batch];
                for (index, ((sample, output), expected)) in
                    samples.iter().zip(model_outputs).zip(expected).enumerate()
                {
                    let mut x = sample.clone();
                    plan.step_batch(index, batch, &mut x, output, &mut history, &mut scratch)
                        .unwrap();
                    let error = relative_l2(&x, expected);
                    worst_step.record(error, || format!("{label} step {index}"));
                    assert!(
                        error <= STEP_TOLERANCE,
                        "{label} step {index} (order {}): relative L2 {error:e}",
                        orders[index]
                    );
                    if final_sigma.is_some() && index + 1 == plan.len() {
                        limits += 1;
                        worst_limit.record(error, || label.clone());
                    }
                }
            }
            Case::Loop {
                options,
                final_sigma,
                seed,
                shape,
                timesteps,
                sigmas,
                orders,
                correctors,
                x_t,
                diffusers,
            } => {
                loops += 1;
                let label = label(options, *final_sigma);
                let plan = plan(options);
                assert_eq!(plan.timesteps().collect::<Vec<_>>(), *timesteps, "{label}");
                assert_eq!(plan.orders().collect::<Vec<_>>(), *orders, "{label}");
                assert_eq!(
                    plan.correctors().collect::<Vec<_>>(),
                    *correctors,
                    "{label}"
                );
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
                for (sample_index, sample) in x.chunks_mut(per_sample).enumerate() {
                    noise_stream(*seed, sample_index as u64).fill_standard_normal(sample);
                }
                assert!(relative_l2(&x, x_t) <= 1e-6, "{label}: x_T");
                let mut buffer = vec![f32::NAN; plan.history_len() * x.len()];
                let mut history = plan.history(&mut buffer, x.len()).unwrap();
                let mut output = vec![0.0f32; x.len()];
                let mut scratch = vec![0.0f32; per_sample];
                for (index, timestep) in plan.timesteps().enumerate() {
                    stand_in_model(&x, timestep, &mut output);
                    plan.step_batch(index, batch, &mut x, &output, &mut history, &mut scratch)
                        .unwrap();
                }
                let error = relative_l2(&x, diffusers);
                worst_loop.record(error, || label.clone());
                if final_sigma.is_some() {
                    limits += 1;
                    worst_limit.record(error, || label.clone());
                }
                assert!(error <= LOOP_TOLERANCE, "{label}: relative L2 {error:e}");
            }
        }
    }
    eprintln!(
        "{sequences} step sequences: worst single step {:.2e} ({}); {loops} loops: worst {:.2e} \
         ({}); {limits} runs ending at sigma 0 where diffusers is NaN, against diffusers at \
         sigma 1e-10: worst {:.2e} ({}); worst sigma {:.2e} ({})",
        worst_step.error,
        worst_step.label,
        worst_loop.error,
        worst_loop.label,
        worst_limit.error,
        worst_limit.label,
        worst_sigma.error,
        worst_sigma.label
    );
    assert_eq!((sequences, loops), (130, 752));
}
