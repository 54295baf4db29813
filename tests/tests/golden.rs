//! diffusion-core against diffusers 0.42.1 (golden files written by tests/golden/make_golden.py).

use diffusion_core::{
    BetaSchedule, DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, FinalAlphaCumprod, NoiseSource,
    PredictionType, SampleClipping, ScheduleConfig, SliceNoise, TimestepConfig, TimestepSpacing,
    VarianceType, fill_alphas_cumprod, noise_stream,
};
use serde::Deserialize;
use tests::{load, relative_l2, stand_in_model, stand_in_variance};

const TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct ScheduleCase {
    schedule: String,
    num_train_timesteps: u32,
    rescale_betas_zero_snr: bool,
    beta_start: f64,
    beta_end: f64,
    diffusers: Vec<f32>,
    reference_f64: Vec<f64>,
}

#[test]
fn alphas_cumprod_match_diffusers_and_the_f64_reference() {
    let golden = load::<ScheduleCase>("schedules.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    for case in golden.cases {
        let config = ScheduleConfig {
            num_train_timesteps: case.num_train_timesteps,
            beta_schedule: BetaSchedule::from_name(&case.schedule, case.beta_start, case.beta_end)
                .unwrap(),
            rescale_betas_zero_snr: case.rescale_betas_zero_snr,
        };
        let mut ours = vec![0.0f32; case.num_train_timesteps as usize];
        fill_alphas_cumprod(&config, &mut ours).unwrap();
        let label = format!(
            "{} T={} rescale={}",
            case.schedule, case.num_train_timesteps, case.rescale_betas_zero_snr
        );
        let error = relative_l2(&ours, &case.diffusers);
        assert!(
            error <= TOLERANCE,
            "{label}: relative L2 vs diffusers {error:e}"
        );
        // Element by element against float64: every value is the reference rounded to f32
        // (0 ULP). diffusers' f32 product drifts by up to 3.8e-5 relative (scaled_linear with
        // the zero-SNR rescale near t = T - 2), hence the looser check above.
        for (t, (&got, &reference)) in ours.iter().zip(&case.reference_f64).enumerate() {
            assert_eq!(
                got.to_bits(),
                (reference as f32).to_bits(),
                "{label}: alpha_cumprod[{t}] = {got:e}, f64 reference {reference:e}"
            );
        }
    }
}

#[test]
fn known_values() {
    let cosine = ScheduleConfig {
        beta_schedule: BetaSchedule::SquaredCosCapV2,
        ..ScheduleConfig::default()
    };
    let mut table = vec![0.0f32; 1000];
    fill_alphas_cumprod(&cosine, &mut table).unwrap();
    // Float division: about 2.4e-9. Integer division (the bug) gives about 1e-3.
    assert!((table[999] / 2.4e-9 - 1.0).abs() < 0.05, "{:e}", table[999]);
}

#[derive(Deserialize)]
struct TimestepCase {
    num_train_timesteps: u32,
    spacing: String,
    steps_offset: u32,
    steps: u32,
    ddim: Vec<i64>,
    ddpm: Vec<i64>,
    ddim_stride_prev: Vec<i64>,
}

#[test]
fn timestep_arrays_match_diffusers() {
    let mut stride_disagreements = Vec::new();
    let mut extra_minus_one = Vec::new();
    for case in load::<TimestepCase>("timesteps.json").cases {
        let config = TimestepConfig {
            num_inference_steps: case.steps,
            spacing: case.spacing.parse().unwrap(),
            steps_offset: case.steps_offset,
        };
        let ours: Vec<i64> = config
            .timesteps(case.num_train_timesteps)
            .unwrap()
            .map(i64::from)
            .collect();
        let label = format!(
            "{} T={} N={} offset={}",
            case.spacing, case.num_train_timesteps, case.steps, case.steps_offset
        );
        assert_eq!(case.ddim, case.ddpm, "{label}: DDIM and DDPM differ");
        let mut diffusers = case.ddim.clone();
        if diffusers.len() == ours.len() + 1 {
            // trailing: numpy.arange(T, 0, -T/N) made N + 1 elements and the extra one is -1.
            // The core realizes the N timesteps asked for; running diffusers' extra step would
            // evaluate the model at t = -1, with alphas_cumprod[-1] (Python: the noisiest, ᾱ_{T-1}).
            assert_eq!(case.spacing, "trailing", "{label}");
            assert_eq!(diffusers.pop(), Some(-1), "{label}");
            extra_minus_one.push((case.num_train_timesteps, case.steps));
        }
        assert_eq!(ours, diffusers, "{label}");
        // Our previous timestep is the next array element; count where diffusers' DDIM stride
        // formula t - T//N says otherwise.
        let differs = (0..ours.len()).any(|k| {
            let next = ours.get(k + 1).map_or(-1, |&t| t);
            let stride = case.ddim_stride_prev[k];
            !(stride == next || (next == -1 && stride < 0))
        });
        if differs {
            stride_disagreements.push(label);
        }
    }
    // The documented cases (core/src/timesteps.rs): linspace, and trailing when T % N != 0.
    assert!(stride_disagreements.contains(&"linspace T=1000 N=10 offset=0".to_string()));
    assert!(stride_disagreements.contains(&"trailing T=1000 N=13 offset=0".to_string()));
    assert!(
        !stride_disagreements
            .iter()
            .any(|l| l.starts_with("leading")),
        "{stride_disagreements:?}"
    );
    assert!(!stride_disagreements.contains(&"trailing T=1000 N=25 offset=0".to_string()));
    // Every N <= 250 where diffusers' trailing array gains a -1 (12 for T = 1000, 9 for 777).
    assert!(extra_minus_one.contains(&(1000, 61)), "{extra_minus_one:?}");
    assert_eq!(extra_minus_one.len(), 21, "{extra_minus_one:?}");
}

/// The options of a golden case, by diffusers' names.
struct Options<'a> {
    sampler: &'a str,
    variance_type: &'a str,
    eta: f32,
    use_clipped_model_output: bool,
    set_alpha_to_one: bool,
    prediction_type: &'a str,
    clipping: &'a str,
}

fn sampler_config(options: Options<'_>) -> DdpmDdimConfig {
    let Options {
        sampler,
        variance_type,
        eta,
        use_clipped_model_output,
        set_alpha_to_one,
        prediction_type,
        clipping,
    } = options;
    DdpmDdimConfig {
        rule: match sampler {
            "ddpm" => DdpmDdimRule::Ddpm {
                variance_type: variance_type.parse::<VarianceType>().unwrap(),
            },
            _ => DdpmDdimRule::Ddim {
                eta,
                use_clipped_model_output,
            },
        },
        prediction_type: prediction_type.parse::<PredictionType>().unwrap(),
        clipping: match clipping {
            "none" => SampleClipping::None,
            "clip" => SampleClipping::Range(1.0),
            _ => SampleClipping::DynamicThreshold {
                ratio: 0.9,
                max_value: 1.5,
            },
        },
        final_alpha_cumprod: if set_alpha_to_one {
            FinalAlphaCumprod::One
        } else {
            FinalAlphaCumprod::First
        },
    }
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
struct StepCase {
    sampler: String,
    variance_type: String,
    eta: f32,
    #[serde(default)]
    use_clipped_model_output: bool,
    #[serde(default = "default_true")]
    set_alpha_to_one: bool,
    prediction_type: String,
    clipping: String,
    steps: u32,
    spacing: String,
    steps_offset: u32,
    index: usize,
    timestep: u32,
    shape: Vec<usize>,
    sample: Vec<f32>,
    model_output: Vec<f32>,
    noise: Vec<f32>,
    expected: Vec<f32>,
    /// The last step with η > 0: diffusers' result with that η (ours is the η = 0 step).
    diffusers_eta: Option<Vec<f32>>,
}

impl StepCase {
    fn options(&self) -> Options<'_> {
        Options {
            sampler: &self.sampler,
            variance_type: &self.variance_type,
            eta: self.eta,
            use_clipped_model_output: self.use_clipped_model_output,
            set_alpha_to_one: self.set_alpha_to_one,
            prediction_type: &self.prediction_type,
            clipping: &self.clipping,
        }
    }
}

#[test]
fn single_steps_match_diffusers() {
    let cases = load::<StepCase>("steps.json").cases;
    assert_eq!(cases.len(), 176);
    let count = |test: &dyn Fn(&StepCase) -> bool| cases.iter().filter(|c| test(c)).count();
    assert_eq!(count(&|c| c.use_clipped_model_output), 24);
    assert_eq!(count(&|c| !c.set_alpha_to_one), 4);
    assert_eq!(count(&|c| c.variance_type == "learned"), 18);
    assert_eq!(count(&|c| c.variance_type == "fixed_small_log"), 18);
    for case in &cases {
        let config = sampler_config(case.options());
        let timesteps = TimestepConfig {
            num_inference_steps: case.steps,
            spacing: case.spacing.parse().unwrap(),
            steps_offset: case.steps_offset,
        };
        let plan: DdpmDdimPlan<50> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config).unwrap();
        assert_eq!(plan.steps()[case.index].timestep, case.timestep);
        let batch = case.shape[0];
        let per_sample = case.sample.len() / batch;
        let mut sample = case.sample.clone();
        // diffusers' noise tensor is NCHW, so each sample's noise is its own contiguous slice.
        let mut noise: Vec<SliceNoise> =
            case.noise.chunks(per_sample).map(SliceNoise::new).collect();
        let mut scratch = vec![0.0f32; per_sample];
        plan.step_batch(
            case.index,
            batch,
            &mut sample,
            &case.model_output,
            &mut noise,
            &mut scratch,
        )
        .unwrap();
        let label = format!(
            "{} {} eta={} clipped_eps={} alpha_to_one={} {} {} t={}",
            case.sampler,
            case.variance_type,
            case.eta,
            case.use_clipped_model_output,
            case.set_alpha_to_one,
            case.prediction_type,
            case.clipping,
            case.timestep
        );
        let error = relative_l2(&sample, &case.expected);
        assert!(error <= TOLERANCE, "{label}: relative L2 {error:e}");
        if let Some(with_eta) = &case.diffusers_eta {
            // The last step is the η = 0 step: identical to diffusers' η step when the final ᾱ
            // is 1 (σ = 0 there), different when it is ᾱ_0 (diffusers adds σ·z).
            let gap = relative_l2(&sample, with_eta);
            if case.set_alpha_to_one {
                assert!(gap <= TOLERANCE, "{label}: gap {gap:e}");
            } else {
                assert!(gap > 1e-3, "{label}: gap {gap:e}");
            }
        }
    }
}

#[derive(Deserialize)]
struct LoopCase {
    sampler: String,
    eta: f32,
    #[serde(default)]
    use_clipped_model_output: bool,
    #[serde(default = "default_true")]
    set_alpha_to_one: bool,
    variance_type: String,
    prediction_type: String,
    spacing: String,
    steps_offset: u32,
    steps: u32,
    clipping: String,
    rescale_betas_zero_snr: bool,
    seed: u64,
    shape: Vec<usize>,
    timesteps: Vec<u32>,
    /// diffusers' own array: `timesteps` plus, for some trailing N, a final -1.
    diffusers_timesteps: Vec<i64>,
    #[serde(rename = "x_T")]
    x_t: Vec<f32>,
    diffusers: Vec<f32>,
    array_following: Option<Vec<f32>>,
}

/// Runs a golden loop with noise v1 drawn by the core itself: x_T, then every noisy step.
fn run_loop(case: &LoopCase) -> Vec<f32> {
    let schedule = ScheduleConfig {
        rescale_betas_zero_snr: case.rescale_betas_zero_snr,
        ..ScheduleConfig::default()
    };
    let timesteps = TimestepConfig {
        num_inference_steps: case.steps,
        spacing: case.spacing.parse::<TimestepSpacing>().unwrap(),
        steps_offset: case.steps_offset,
    };
    let config = sampler_config(Options {
        sampler: &case.sampler,
        variance_type: &case.variance_type,
        eta: case.eta,
        use_clipped_model_output: case.use_clipped_model_output,
        set_alpha_to_one: case.set_alpha_to_one,
        prediction_type: &case.prediction_type,
        clipping: &case.clipping,
    });
    let plan: DdpmDdimPlan<64> = DdpmDdimPlan::new(&schedule, &timesteps, &config).unwrap();
    assert_eq!(plan.timesteps().collect::<Vec<_>>(), case.timesteps);
    let batch = case.shape[0];
    let per_sample = case.x_t.len() / batch;
    let mut streams: Vec<_> = (0..batch as u64)
        .map(|i| noise_stream(case.seed, i))
        .collect();
    let mut x = vec![0.0f32; case.x_t.len()];
    for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
        stream.fill_standard_normal(sample);
    }
    // numpy draws the same x_T within 1e-6 (noise v1).
    let drift = x
        .iter()
        .zip(&case.x_t)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        drift <= 1e-6,
        "x_T differs from the numpy reference by {drift:e}"
    );
    let learned = case.variance_type.starts_with("learned");
    // With learned variance each sample's output is its ε then its variance (NCHW, 2C channels).
    let per_output = if learned { 2 * per_sample } else { per_sample };
    let mut output = vec![0.0f32; batch * per_output];
    let mut scratch = vec![0.0f32; per_sample];
    for (index, timestep) in plan.timesteps().enumerate() {
        for (sample, out) in x.chunks(per_sample).zip(output.chunks_mut(per_output)) {
            let (epsilon, variance) = out.split_at_mut(per_sample);
            stand_in_model(sample, timestep, epsilon);
            if learned {
                stand_in_variance(sample, timestep, &case.variance_type, variance);
            }
        }
        plan.step_batch(index, batch, &mut x, &output, &mut streams, &mut scratch)
            .unwrap();
    }
    x
}

#[test]
fn whole_loops_match_diffusers() {
    let cases = load::<LoopCase>("loops.json").cases;
    assert_eq!(cases.len(), 28);
    for case in cases {
        let n = case.steps as usize;
        assert_eq!(
            case.timesteps[..],
            case.diffusers_timesteps[..n]
                .iter()
                .map(|&t| t as u32)
                .collect::<Vec<_>>()[..]
        );
        if case.diffusers_timesteps.len() > n {
            // trailing N = 61: diffusers' array ends in an extra -1 (see timestep_arrays_match_
            // diffusers); the golden loop runs the N real steps, as the core does.
            assert_eq!(case.diffusers_timesteps[n..], [-1]);
        }
        let label = format!(
            "{} eta={} clipped_eps={} alpha_to_one={} {} {} {} offset={} N={} clip={} zero_snr={}",
            case.sampler,
            case.eta,
            case.use_clipped_model_output,
            case.set_alpha_to_one,
            case.variance_type,
            case.prediction_type,
            case.spacing,
            case.steps_offset,
            case.steps,
            case.clipping,
            case.rescale_betas_zero_snr
        );
        let ours = run_loop(&case);
        match &case.array_following {
            None => {
                let error = relative_l2(&ours, &case.diffusers);
                assert!(
                    error <= TOLERANCE,
                    "{label}: relative L2 vs diffusers {error:e}"
                );
            }
            Some(reference) => {
                // diffusers' DDIM takes ᾱ_prev at t − T//N, a timestep this plan never visits.
                // We follow the array, and match a reference that does (float64).
                let error = relative_l2(&ours, reference);
                assert!(
                    error <= TOLERANCE,
                    "{label}: relative L2 vs array-following reference {error:e}"
                );
                let gap = relative_l2(&ours, &case.diffusers);
                eprintln!(
                    "{label}: diffusers' stride formula moves the result by {gap:.3e} (relative L2)"
                );
                assert!(
                    gap > 1e-3,
                    "{label}: expected diffusers' stride formula to differ, gap {gap:e}"
                );
            }
        }
    }
}
