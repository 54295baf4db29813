//! The C firmware's runs (firmware-c/) computed by the Rust core directly, with the Rust model:
//! the reference `scripts/capi-check.sh` holds the C firmware's lines to, for every run (the
//! Rust firmware prints the DDPM/DDIM ones too).
//! `cargo run -p diffusion-core-c --example firmware_twin`

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverConfig, DpmSolverPlan, Error,
    FinalAlphaCumprod, MultistepHistory, NoiseSource, NoiseStream, PredictionType, SampleClipping,
    ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan, VarianceType,
    noise_stream,
};
use tiny_denoiser::{DIMENSIONS, POINTS, SEED, predict_epsilon, report_line};

const VALUES: usize = POINTS * DIMENSIONS;

fn trailing(steps: u32) -> TimestepConfig {
    TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Trailing,
        steps_offset: 0,
    }
}

/// x_T: point i from stream (SEED, i); returns the streams.
fn initial_noise(points: &mut [f32]) -> Vec<NoiseStream> {
    points
        .chunks_exact_mut(DIMENSIONS)
        .enumerate()
        .map(|(index, point)| {
            let mut stream = noise_stream(SEED, index as u64);
            stream.fill_standard_normal(point);
            stream
        })
        .collect()
}

fn run_plan(sampler: DdpmDdimRule, steps: u32) -> Result<Vec<f32>, Error> {
    let config = DdpmDdimConfig {
        rule: sampler,
        prediction_type: PredictionType::Epsilon,
        clipping: SampleClipping::None,
        final_alpha_cumprod: FinalAlphaCumprod::One,
    };
    let plan: Box<DdpmDdimPlan<100>> = Box::new(DdpmDdimPlan::new(
        &ScheduleConfig::default(),
        &trailing(steps),
        &config,
    )?);
    let (mut points, mut epsilon) = (vec![0.0f32; VALUES], vec![0.0f32; VALUES]);
    let mut streams = initial_noise(&mut points);
    for (index, timestep) in plan.timesteps().enumerate() {
        predict_epsilon(&points, timestep, &mut epsilon);
        plan.step_batch(index, POINTS, &mut points, &epsilon, &mut streams, &mut [])?;
    }
    Ok(points)
}

/// One multistep run: `step(index, points, epsilon, history)` steps the batch.
fn run_multistep(
    timesteps: Vec<u32>,
    history_len: usize,
    history: impl FnOnce(&mut [f32]) -> Result<MultistepHistory<'_>, Error>,
    step: impl Fn(usize, &mut [f32], &[f32], &mut MultistepHistory<'_>) -> Result<(), Error>,
) -> Result<Vec<f32>, Error> {
    let (mut points, mut epsilon) = (vec![0.0f32; VALUES], vec![0.0f32; VALUES]);
    let mut buffer = vec![0.0f32; history_len * VALUES];
    let mut history = history(&mut buffer)?;
    initial_noise(&mut points);
    for (index, timestep) in timesteps.into_iter().enumerate() {
        predict_epsilon(&points, timestep, &mut epsilon);
        step(index, &mut points, &epsilon, &mut history)?;
    }
    Ok(points)
}

fn main() -> Result<(), Error> {
    let ddim = |eta| DdpmDdimRule::Ddim {
        eta,
        use_clipped_model_output: false,
    };
    let ddpm = DdpmDdimRule::Ddpm {
        variance_type: VarianceType::FixedSmall,
    };
    let schedule = ScheduleConfig::default();
    let dpm: DpmSolverPlan<10> =
        DpmSolverPlan::new(&schedule, &trailing(10), &DpmSolverConfig::default())?;
    let unipc: UniPcPlan<10> = UniPcPlan::new(&schedule, &trailing(10), &UniPcConfig::default())?;
    let runs = [
        ("ddim_eta0", run_plan(ddim(0.0), 25)?),
        ("ddim_eta1", run_plan(ddim(1.0), 25)?),
        ("ddpm", run_plan(ddpm, 100)?),
        (
            "dpm_solver_2m",
            run_multistep(
                dpm.timesteps().collect(),
                dpm.history_len(),
                |buffer| dpm.history(buffer, VALUES),
                |i, x, e, h| dpm.step_batch(i, POINTS, x, e, h, &mut []),
            )?,
        ),
        (
            "unipc_bh2",
            run_multistep(
                unipc.timesteps().collect(),
                unipc.history_len(),
                |buffer| unipc.history(buffer, VALUES),
                |i, x, e, h| unipc.step_batch(i, POINTS, x, e, h, &mut []),
            )?,
        ),
    ];
    for (name, points) in &runs {
        println!("{}", report_line(name, points));
    }
    Ok(())
}
