//! What guidance toward mode 2 does to the firmware's points, by guidance scale s and rescale φ:
//! over 64 seeds (64 points each, DDIM η = 0, 25 steps), the share of points within 0.5 of μ_2
//! and beyond 1.0 of it; for the firmware's seed, the spread of the points near μ_2. The figures
//! in docs/firmware.md ("Guidance on the board").
//! `cargo run --release --manifest-path firmware/model/Cargo.toml --example guidance_sweep`

use diffusion_core::DdpmDdimPlan;
use tiny_denoiser::{
    DIMENSIONS, GUIDED_TO_MODE_2, GuidanceScratch, ModeGuidance, PLAN_CAPACITY, POINTS, RUNS, SEED,
    Solver, build_plan, mode_center, sample_guided,
};

const SEEDS: u64 = 64;

/// Distance of each point from μ_k.
fn distances(points: &[f32], mode: usize) -> Vec<f64> {
    let center = mode_center(mode);
    points
        .chunks_exact(DIMENSIONS)
        .map(|p| ((p[0] - center[0]) as f64).hypot((p[1] - center[1]) as f64))
        .collect()
}

/// Root mean square deviation per coordinate of the points within 0.5 of μ_k from their mean.
fn spread(points: &[f32], mode: usize) -> f64 {
    let near: Vec<&[f32]> = points
        .chunks_exact(DIMENSIONS)
        .zip(distances(points, mode))
        .filter(|&(_, distance)| distance < 0.5)
        .map(|(point, _)| point)
        .collect();
    let count = near.len() as f64;
    let mean = |axis: usize| near.iter().map(|p| p[axis] as f64).sum::<f64>() / count;
    let (mean_x, mean_y) = (mean(0), mean(1));
    let squares: f64 = near
        .iter()
        .map(|p| (p[0] as f64 - mean_x).powi(2) + (p[1] as f64 - mean_y).powi(2))
        .sum();
    (squares / count / DIMENSIONS as f64).sqrt()
}

fn main() {
    let Solver::GuidedPlan(sampler, _) = RUNS[5].solver else {
        panic!("run 5 is the guided run");
    };
    let mut plan: Box<DdpmDdimPlan<PLAN_CAPACITY>> = Box::new(DdpmDdimPlan::empty());
    build_plan(sampler, RUNS[5].steps, &mut plan).expect("the guided run's plan");
    let mode = GUIDED_TO_MODE_2.mode;
    let mut streams = heapless::Vec::<_, POINTS>::new();
    println!("s    φ    | within 0.5 of μ_2 | beyond 1.0 | spread near μ_2 (seed {SEED})");
    for rescale in [0.0, 0.3, 0.7] {
        for scale in [1.0, 3.0] {
            let guidance = ModeGuidance {
                mode,
                scale,
                rescale,
            };
            let mut run = |seed: u64| {
                let mut points = [0.0f32; POINTS * DIMENSIONS];
                let (mut unconditional, mut conditional, mut guided) = (points, points, points);
                let scratch = GuidanceScratch {
                    unconditional: &mut unconditional,
                    conditional: &mut conditional,
                    guided: &mut guided,
                };
                sample_guided(
                    &plan,
                    &guidance,
                    seed,
                    0,
                    &mut points,
                    &mut streams,
                    scratch,
                )
                .expect("guided sampling");
                points
            };
            let (mut within, mut beyond) = (0usize, 0usize);
            for seed in 0..SEEDS {
                let distances = distances(&run(seed), mode);
                within += distances.iter().filter(|&&d| d < 0.5).count();
                beyond += distances.iter().filter(|&&d| d > 1.0).count();
            }
            let total = (SEEDS as usize * POINTS) as f64;
            println!(
                "{scale:<4} {rescale:<4} | {:>16.2}% | {:>9.2}% | {:.4}",
                100.0 * within as f64 / total,
                100.0 * beyond as f64 / total,
                spread(&run(SEED), mode)
            );
        }
    }
}
