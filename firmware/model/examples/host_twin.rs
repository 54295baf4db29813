//! The firmware's runs on the host: prints the same lines as the firmware under QEMU.
//! `cargo run --release --manifest-path firmware/model/Cargo.toml --example host_twin`

use diffusion_core::Plan;
use tiny_denoiser::{DIMENSIONS, PLAN_CAPACITY, POINTS, RUNS, SEED, build_plan, sample};

fn main() {
    let mut plan: Box<Plan<PLAN_CAPACITY>> = Box::new(Plan::empty());
    let mut streams = heapless::Vec::<_, POINTS>::new();
    for run in &RUNS {
        let mut points = [0.0f32; POINTS * DIMENSIONS];
        let mut epsilon = [0.0f32; POINTS * DIMENSIONS];
        build_plan(run, run.steps, &mut plan).expect("plan");
        sample(&plan, SEED, 0, &mut points, &mut streams, &mut epsilon).expect("sample");
        println!("{}", tiny_denoiser::report_line(run.name, &points));
    }
}
