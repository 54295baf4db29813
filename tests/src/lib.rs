//! Helpers shared by the cross-crate tests, benches and examples: loading the golden files
//! written by `tests/golden/make_golden.py`, comparing vectors, the plan the benches time, and
//! the exact Gaussian problem ([`gaussian`]).

pub mod gaussian;

use std::path::PathBuf;

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, ScheduleConfig, TimestepConfig, TimestepSpacing,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A golden file: the peer's version and its cases.
#[derive(Deserialize)]
pub struct Golden<T> {
    /// e.g. "diffusers 0.42.1, torch 2.15.0".
    pub peer: String,
    /// The cases.
    pub cases: Vec<T>,
}

/// Reads `tests/golden/<name>`.
pub fn load<T: DeserializeOwned>(name: &str) -> Golden<T> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// ‖got − expected‖₂ / ‖expected‖₂ in f64.
pub fn relative_l2(got: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(got.len(), expected.len(), "length mismatch");
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&g, &e) in got.iter().zip(expected) {
        diff += (g as f64 - e as f64).powi(2);
        norm += (e as f64).powi(2);
    }
    (diff / norm).sqrt()
}

/// The stand-in model of the golden loops: ε(x, t) = 0.5·sin(x + 0.01·t), in f32 like torch.
pub fn stand_in_model(x: &[f32], timestep: u32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        // std's sin: the model is outside the core, and its last-ULP error is far below 1e-5.
        *o = 0.5 * (v + 0.01 * timestep as f32).sin();
    }
}

/// The variance channel of the golden learned-variance loops, in f32 like torch:
/// v = cos(x − 0.01·t) ∈ [−1, 1] for `learned_range`, σ² = 0.01·(1.5 + v) for `learned`.
pub fn stand_in_variance(x: &[f32], timestep: u32, variance_type: &str, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        let range = (v - 0.01 * timestep as f32).cos();
        *o = if variance_type == "learned" {
            0.01 * (1.5 + range)
        } else {
            range
        };
    }
}

/// The plan the speed measurements time (`benches/step.rs`, `examples/instructions.rs`): 25
/// `leading` steps (offset 1) of the default schedule with `sampler` and otherwise default settings.
pub fn benchmark_plan(sampler: DdpmDdimRule) -> DdpmDdimPlan<25> {
    let timesteps = TimestepConfig {
        num_inference_steps: 25,
        spacing: TimestepSpacing::Leading,
        steps_offset: 1,
    };
    let config = DdpmDdimConfig {
        rule: sampler,
        ..DdpmDdimConfig::default()
    };
    DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config).expect("a valid plan")
}
