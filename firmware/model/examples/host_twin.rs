//! The firmware's runs on the host: prints the same lines as the firmware under QEMU.
//! `cargo run --release --manifest-path firmware/model/Cargo.toml --example host_twin`

use diffusion_core::{DdpmDdimPlan, DpmSolverPlan, UniPcPlan};
use tiny_denoiser::{
    DIMENSIONS, GuidanceScratch, MULTISTEP_CAPACITY, PLAN_CAPACITY, POINTS, RUNS, SEED, Solver,
    UNIPC_HISTORY_BUFFERS, build_dpm_solver_plan, build_plan, build_unipc_plan, sample,
    sample_guided, sample_multistep,
};

fn main() {
    let mut plan: Box<DdpmDdimPlan<PLAN_CAPACITY>> = Box::new(DdpmDdimPlan::empty());
    let mut dpm_solver = DpmSolverPlan::<MULTISTEP_CAPACITY>::empty();
    let mut unipc = UniPcPlan::<MULTISTEP_CAPACITY>::empty();
    let mut history = vec![0.0f32; UNIPC_HISTORY_BUFFERS * POINTS * DIMENSIONS];
    let mut streams = heapless::Vec::<_, POINTS>::new();
    for run in &RUNS {
        let mut points = [0.0f32; POINTS * DIMENSIONS];
        let mut epsilon = [0.0f32; POINTS * DIMENSIONS];
        let result = match run.solver {
            Solver::Plan(sampler) => build_plan(sampler, run.steps, &mut plan)
                .and_then(|()| sample(&plan, SEED, 0, &mut points, &mut streams, &mut epsilon)),
            Solver::DpmSolver(config) => build_dpm_solver_plan(&config, run.steps, &mut dpm_solver)
                .and_then(|()| {
                    let (points, epsilon) = (&mut points, &mut epsilon);
                    sample_multistep(&dpm_solver, SEED, 0, points, epsilon, &mut history)
                }),
            Solver::UniPc(config) => {
                build_unipc_plan(&config, run.steps, &mut unipc).and_then(|()| {
                    let (points, epsilon) = (&mut points, &mut epsilon);
                    sample_multistep(&unipc, SEED, 0, points, epsilon, &mut history)
                })
            }
            Solver::GuidedPlan(sampler, guidance) => build_plan(sampler, run.steps, &mut plan)
                .and_then(|()| {
                    let mut conditional = [0.0f32; POINTS * DIMENSIONS];
                    let mut guided = [0.0f32; POINTS * DIMENSIONS];
                    let scratch = GuidanceScratch {
                        unconditional: &mut epsilon,
                        conditional: &mut conditional,
                        guided: &mut guided,
                    };
                    sample_guided(
                        &plan,
                        &guidance,
                        SEED,
                        0,
                        &mut points,
                        &mut streams,
                        scratch,
                    )
                }),
        };
        result.unwrap_or_else(|error| panic!("{}: {error}", run.name));
        println!("{}", tiny_denoiser::report_line(run.name, &points));
    }
}
