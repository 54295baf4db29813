//! LcmPlan against diffusers 0.42.1's LCMScheduler (golden file written by
//! tests/golden/make_golden_lcm.py, on diffusers' own float32 alphas_cumprod).
//!
//! Timesteps must be equal. Measured maxima (relative L2, this file's cases): single steps 4.5e-7
//! (v_prediction with thresholding, step 2 of 4; tolerance 1e-5), whole 4- and 8-step loops 9.7e-7
//! (8 steps, epsilon with thresholding; tolerance 1e-4).
//!
//! Cases whose options say `ignored` ran diffusers with `timestep_spacing = "trailing"`,
//! `steps_offset = 1` and `set_alpha_to_one = false`, keys LCMScheduler never reads for these
//! results; the plan, which has no such keys, must match them all the same.

use diffusion_core::{
    BetaSchedule, LcmConfig, LcmPlan, NoiseSource, SampleClipping, ScheduleConfig, SliceNoise,
    noise_stream,
};
use serde::Deserialize;
use tests::{load, relative_l2, stand_in_model};

/// One step alone.
const STEP_TOLERANCE: f64 = 1e-5;
/// A whole run.
const LOOP_TOLERANCE: f64 = 1e-4;

/// A case's options, by diffusers' config keys.
#[derive(Deserialize, Debug)]
struct Options {
    steps: u32,
    original_inference_steps: u32,
    prediction_type: String,
    /// "none", "clip" (`clip_sample`) or "threshold" (`thresholding`).
    clipping: String,
    clip_sample_range: f32,
    dynamic_thresholding_ratio: f32,
    sample_max_value: f32,
    timestep_scaling: f64,
    betas: String,
    rescale_betas_zero_snr: bool,
    ignored: bool,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Case {
    Timesteps {
        num_train_timesteps: u32,
        original_inference_steps: u32,
        steps: u32,
        timesteps: Vec<u32>,
    },
    Step {
        options: Options,
        index: usize,
        timestep: u32,
        shape: Vec<usize>,
        sample: Vec<f32>,
        model_output: Vec<f32>,
        /// Empty on the last step, which draws none.
        noise: Vec<f32>,
        expected: Vec<f32>,
    },
    Loop {
        options: Options,
        seed: u64,
        shape: Vec<usize>,
        timesteps: Vec<u32>,
        #[serde(rename = "x_T")]
        x_t: Vec<f32>,
        diffusers: Vec<f32>,
    },
}

fn schedule(betas: &str, num_train_timesteps: u32, rescale: bool) -> ScheduleConfig<'static> {
    let beta_schedule = match betas {
        "scaled_linear" => BetaSchedule::ScaledLinear {
            beta_start: 0.00085,
            beta_end: 0.012,
        },
        "linear" => BetaSchedule::Linear {
            beta_start: 1e-4,
            beta_end: 0.02,
        },
        other => panic!("beta schedule {other}"),
    };
    ScheduleConfig {
        num_train_timesteps,
        beta_schedule,
        rescale_betas_zero_snr: rescale,
    }
}

fn plan(options: &Options) -> LcmPlan<8> {
    let clipping = match options.clipping.as_str() {
        "none" => SampleClipping::None,
        "clip" => SampleClipping::Range(options.clip_sample_range),
        "threshold" => SampleClipping::DynamicThreshold {
            ratio: options.dynamic_thresholding_ratio,
            max_value: options.sample_max_value,
        },
        other => panic!("clipping {other}"),
    };
    let config = LcmConfig {
        original_inference_steps: options.original_inference_steps,
        timestep_scaling: options.timestep_scaling,
        prediction_type: options.prediction_type.parse().unwrap(),
        clipping,
    };
    let schedule = schedule(&options.betas, 1000, options.rescale_betas_zero_snr);
    LcmPlan::new(&schedule, options.steps, &config).unwrap()
}

fn label(options: &Options) -> String {
    format!(
        "N={} K={} {} clipping={} scaling={} betas={} zero_snr={} ignored={}",
        options.steps,
        options.original_inference_steps,
        options.prediction_type,
        options.clipping,
        options.timestep_scaling,
        options.betas,
        options.rescale_betas_zero_snr,
        options.ignored
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
fn lcm_matches_diffusers() {
    let golden = load::<Case>("lcm.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    let (mut timestep_cases, mut steps, mut loops, mut ignored) = (0, 0, 0, 0);
    let (mut worst_step, mut worst_loop) = (Worst::default(), Worst::default());
    for case in &golden.cases {
        match case {
            Case::Timesteps {
                num_train_timesteps,
                original_inference_steps,
                steps,
                timesteps,
            } => {
                timestep_cases += 1;
                let config = LcmConfig {
                    original_inference_steps: *original_inference_steps,
                    ..LcmConfig::default()
                };
                let schedule = schedule("scaled_linear", *num_train_timesteps, false);
                let plan: LcmPlan<8> = LcmPlan::new(&schedule, *steps, &config).unwrap();
                let ours: Vec<u32> = plan.timesteps().collect();
                assert_eq!(
                    ours, *timesteps,
                    "T = {num_train_timesteps}, K = {original_inference_steps}, N = {steps}"
                );
            }
            Case::Step {
                options,
                index,
                timestep,
                shape,
                sample,
                model_output,
                noise,
                expected,
            } => {
                steps += 1;
                ignored += usize::from(options.ignored);
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.timesteps().nth(*index), Some(*timestep), "{label}");
                let batch = shape[0];
                let per_sample = sample.len() / batch;
                let mut sources: Vec<SliceNoise<'_>> = (0..batch)
                    .map(|i| {
                        SliceNoise::new(
                            noise
                                .get(i * per_sample..(i + 1) * per_sample)
                                .unwrap_or(&[]),
                        )
                    })
                    .collect();
                let mut x = sample.clone();
                let mut scratch = vec![0.0f32; per_sample];
                plan.step_batch(
                    *index,
                    batch,
                    &mut x,
                    model_output,
                    &mut sources,
                    &mut scratch,
                )
                .unwrap();
                let drawn: usize = sources.iter().map(SliceNoise::consumed).sum();
                assert_eq!(drawn, noise.len(), "{label} step {index}: noise drawn");
                let error = relative_l2(&x, expected);
                worst_step.record(error, || format!("{label} step {index}"));
                assert!(
                    error <= STEP_TOLERANCE,
                    "{label} step {index}: relative L2 {error:e}"
                );
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
                ignored += usize::from(options.ignored);
                let label = label(options);
                let plan = plan(options);
                assert_eq!(plan.timesteps().collect::<Vec<_>>(), *timesteps, "{label}");
                assert_eq!(plan.num_model_calls(), timesteps.len(), "{label}");
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
                let mut output = vec![0.0f32; x.len()];
                let mut scratch = vec![0.0f32; per_sample];
                for (index, timestep) in plan.timesteps().enumerate() {
                    stand_in_model(&x, timestep, &mut output);
                    plan.step_batch(index, batch, &mut x, &output, &mut streams, &mut scratch)
                        .unwrap();
                }
                let error = relative_l2(&x, diffusers);
                worst_loop.record(error, || label.clone());
                assert!(error <= LOOP_TOLERANCE, "{label}: relative L2 {error:e}");
            }
        }
    }
    eprintln!(
        "{timestep_cases} timestep arrays equal; {steps} steps: worst {:.2e} ({}); {loops} loops: \
         worst {:.2e} ({})",
        worst_step.error, worst_step.label, worst_loop.error, worst_loop.label
    );
    assert_eq!((timestep_cases, steps, loops), (46, 55, 26));
    assert!(ignored > 0);
}
