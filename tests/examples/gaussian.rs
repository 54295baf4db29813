//! Samples one-dimensional Gaussian data N(μ, s²) with the exact optimal denoiser and prints what
//! DDPM and DDIM recover. For x_t = √ᾱ·x₀ + √(1 − ᾱ)·ε with x₀ ~ N(μ, s²), the optimal ε-prediction
//! is E[ε | x_t] = √(1 − ᾱ)·(x_t − √ᾱ·μ)/(ᾱ·s² + 1 − ᾱ).
//!
//! `cargo run --release -p tests --example gaussian`

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, NoiseSource, ScheduleConfig, TimestepConfig,
    TimestepSpacing, VarianceType, noise_stream,
};

const MEAN: f64 = 0.5;
const STD: f64 = 0.2;
const VALUES: usize = 50_000;

fn optimal_epsilon(x: f32, alpha_cumprod: f32) -> f32 {
    let (x, a) = (x as f64, alpha_cumprod as f64);
    ((1.0 - a).sqrt() * (x - a.sqrt() * MEAN) / (a * STD * STD + 1.0 - a)) as f32
}

fn sample(name: &str, sampler: DdpmDdimRule, steps: u32) -> Result<(), diffusion_core::Error> {
    let timesteps = TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Leading,
        steps_offset: 0,
    };
    let config = DdpmDdimConfig {
        rule: sampler,
        ..DdpmDdimConfig::default()
    };
    let plan: DdpmDdimPlan<1000> =
        DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
    let mut rng = noise_stream(0, 0);
    let mut x = vec![0.0f32; VALUES];
    rng.fill_standard_normal(&mut x);
    let mut epsilon = vec![0.0f32; VALUES];
    for (index, step) in plan.steps().iter().enumerate() {
        for (e, &value) in epsilon.iter_mut().zip(&x) {
            *e = optimal_epsilon(value, step.alpha_cumprod);
        }
        plan.step(index, &mut x, &epsilon, &mut rng, &mut [])?;
    }
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / VALUES as f64;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / VALUES as f64;
    println!(
        "{name:<16} {steps:>4} steps: mean {mean:.4} (target {MEAN}), std {:.4} (target {STD})",
        var.sqrt()
    );
    Ok(())
}

fn main() -> Result<(), diffusion_core::Error> {
    println!("N({MEAN}, {STD}²) data, {VALUES} values, exact optimal denoiser:");
    sample(
        "DDPM",
        DdpmDdimRule::Ddpm {
            variance_type: VarianceType::FixedSmall,
        },
        1000,
    )?;
    for steps in [10, 25, 50, 100] {
        sample(
            "DDIM eta=0",
            DdpmDdimRule::Ddim {
                eta: 0.0,
                use_clipped_model_output: false,
            },
            steps,
        )?;
    }
    sample(
        "DDIM eta=1",
        DdpmDdimRule::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        },
        50,
    )?;
    Ok(())
}
