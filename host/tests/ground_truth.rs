//! Ground truth without a peer: the exact optimal denoiser of Gaussian data N(μ, s²)
//! (tests/fixtures/make_gaussian.py: μ = 0.5, s = 0.5, linear schedule, T = 1000).

mod common;

use common::{fixture, moments, relative_l2, sample};
use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, ScheduleConfig, TimestepConfig, TimestepSpacing,
};

const MU: f64 = 0.5;
const S: f64 = 0.5;
/// 20 samples of 3×32×32: 61 440 values.
const SAMPLES: &str = "20";

fn gaussian() -> String {
    fixture("gaussian/unet.onnx").display().to_string()
}

#[test]
fn ddpm_with_1000_steps_recovers_the_data_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--onnx",
        &gaussian(),
        "--scheduler",
        "ddpm",
        "--steps",
        "1000",
        "--steps-offset",
        "0",
        "--num-samples",
        SAMPLES,
        "--seed",
        "3",
    ];
    let (_, values) = sample(dir.path(), "ddpm", &args);
    assert!(values.len() >= 50_000);
    let (mean, std) = moments(&values);
    eprintln!("DDPM 1000 steps: mean {mean:.4} (μ = {MU}), std {std:.4} (s = {S})");
    assert!((mean / MU - 1.0).abs() <= 0.02, "mean {mean}");
    assert!((std / S - 1.0).abs() <= 0.02, "std {std}");
}

/// DDIM η = 0 with the exact denoiser is a per-element affine map x_T ↦ A·x_T + B. Each step:
/// ε̂ = √(1−a)(x − √a·μ)/(a·s² + 1 − a), x̂₀ = (x − √(1−a)·ε̂)/√a, x ← √a′·x̂₀ + √(1−a′)·ε̂,
/// evaluated here in f64 with the plan's ᾱ.
fn ddim_reference(steps: u32, x_t: &[f32]) -> Vec<f32> {
    let timesteps = TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Leading,
        steps_offset: 1,
    };
    let plan: DdpmDdimPlan<1000> = DdpmDdimPlan::new(
        &ScheduleConfig::default(),
        &timesteps,
        &DdpmDdimConfig::default(),
    )
    .unwrap();
    x_t.iter()
        .map(|&x| {
            let mut x = x as f64;
            for step in plan.steps() {
                let (a, a_prev) = (step.alpha_cumprod as f64, step.alpha_cumprod_prev as f64);
                let epsilon = (1.0 - a).sqrt() * (x - a.sqrt() * MU) / (a * S * S + 1.0 - a);
                let original = (x - (1.0 - a).sqrt() * epsilon) / a.sqrt();
                x = a_prev.sqrt() * original + (1.0 - a_prev).sqrt() * epsilon;
            }
            x as f32
        })
        .collect()
}

#[test]
fn ddim_follows_the_exact_ode_discretization_and_its_error_shrinks_with_steps() {
    let dir = tempfile::tempdir().unwrap();
    // x_T as host draws it: a 1-step DDIM run to ᾱ = … is not x_T, so draw it with the core.
    let mut x_t = vec![0.0f32; 20 * 3 * 32 * 32];
    for (index, chunk) in x_t.chunks_mut(3 * 32 * 32).enumerate() {
        use diffusion_core::NoiseSource;
        diffusion_core::noise_stream(5, index as u64).fill_standard_normal(chunk);
    }
    let mut std_errors = Vec::new();
    for steps in [10u32, 25, 50, 100] {
        let steps_text = steps.to_string();
        let args = [
            "--onnx",
            &gaussian(),
            "--steps",
            &steps_text,
            "--num-samples",
            SAMPLES,
            "--seed",
            "5",
        ];
        let (_, values) = sample(dir.path(), &format!("ddim{steps}"), &args);
        let reference = ddim_reference(steps, &x_t);
        let error = relative_l2(&values, &reference);
        let (mean, std) = moments(&values);
        eprintln!(
            "DDIM eta=0 {steps:>3} steps: mean {mean:.4} ({:+.2}%), std {std:.4} ({:+.2}%), vs f64 reference {error:.1e}",
            100.0 * (mean / MU - 1.0),
            100.0 * (std / S - 1.0)
        );
        assert!(
            error <= 1e-5,
            "{steps} steps: host differs from the exact discretization by {error:e}"
        );
        assert!(
            (mean / MU - 1.0).abs() <= 0.02,
            "{steps} steps: mean {mean}"
        );
        std_errors.push((std / S - 1.0).abs());
    }
    // The DDIM discretization itself shrinks the spread at few steps (the f64 reference agrees):
    // the error must fall as steps grow, and be within 3% from 100 steps.
    assert!(std_errors.windows(2).all(|w| w[1] < w[0]), "{std_errors:?}");
    assert!(std_errors[3] <= 0.03, "{std_errors:?}");
}
