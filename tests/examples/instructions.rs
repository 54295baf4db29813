//! A fixed amount of core work for instruction counting: `scripts/profile-core` runs it under
//! valgrind's callgrind (instruction counts do not change with a noisy machine's load) and divides
//! by the number of elements.
//!
//! `instructions <normals|ddim0|ddim1|ddpm|ddim-run|dpm2m-run|unipc-run> <elements> <repeats> [avx2]`;
//! the script runs it with two repeat counts and divides the difference, which removes start-up
//! and set-up. A `-run` workload repeats a whole 10-step run (DDIM η = 0, DPM-Solver++ 2M, UniPC
//! bh2 order 2 with its corrector; diffusers' defaults, leading spacing), so its count per
//! element is that of 10 steps.

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverConfig, DpmSolverPlan, InlinedStream,
    MultistepHistory, NoiseSource, ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig,
    UniPcPlan, VarianceType, noise_stream,
};
use tests::benchmark_plan;

/// The three 10-step plans of the `-run` workloads.
struct Runs {
    ddim: DdpmDdimPlan<10>,
    dpm_solver: DpmSolverPlan<10>,
    unipc: UniPcPlan<10>,
}

impl Runs {
    fn new() -> Self {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Leading,
            steps_offset: 0,
        };
        let schedule = ScheduleConfig::default();
        Runs {
            ddim: DdpmDdimPlan::new(&schedule, &timesteps, &DdpmDdimConfig::default())
                .expect("valid"),
            dpm_solver: DpmSolverPlan::new(&schedule, &timesteps, &DpmSolverConfig::default())
                .expect("valid"),
            unipc: UniPcPlan::new(&schedule, &timesteps, &UniPcConfig::default()).expect("valid"),
        }
    }

    /// The history length of `workload`'s plan (UniPC's for the workloads without one, which
    /// get a history they never use).
    fn history_len(&self, workload: &str) -> usize {
        match workload {
            "dpm2m-run" => self.dpm_solver.history_len(),
            _ => self.unipc.history_len(),
        }
    }

    #[inline(always)]
    fn run(
        &self,
        workload: &str,
        x: &mut [f32],
        model_output: &[f32],
        rng: &mut InlinedStream,
        history: &mut MultistepHistory<'_>,
    ) {
        history.reset();
        for index in 0..10 {
            match workload {
                "dpm2m-run" => self
                    .dpm_solver
                    .step(index, x, model_output, history, &mut []),
                "unipc-run" => self.unipc.step(index, x, model_output, history, &mut []),
                _ => self.ddim.step(index, x, model_output, rng, &mut []),
            }
            .expect("valid step");
        }
    }
}

fn plan(workload: &str) -> DdpmDdimPlan<25> {
    benchmark_plan(match workload {
        "ddim1" => DdpmDdimRule::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        },
        "ddpm" => DdpmDdimRule::Ddpm {
            variance_type: VarianceType::FixedSmall,
        },
        _ => DdpmDdimRule::Ddim {
            eta: 0.0,
            use_clipped_model_output: false,
        },
    })
}

#[inline(always)]
fn work(
    workload: &str,
    plan: &DdpmDdimPlan<25>,
    runs: &Runs,
    x: &mut [f32],
    model_output: &[f32],
    rng: &mut InlinedStream,
    history: &mut MultistepHistory<'_>,
) {
    match workload {
        "normals" => rng.fill_standard_normal(x),
        "ddim-run" | "dpm2m-run" | "unipc-run" => runs.run(workload, x, model_output, rng, history),
        _ => plan
            .step(10, x, model_output, rng, &mut [])
            .expect("valid step"),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn work_avx2(
    workload: &str,
    plan: &DdpmDdimPlan<25>,
    runs: &Runs,
    x: &mut [f32],
    model_output: &[f32],
    rng: &mut InlinedStream,
    history: &mut MultistepHistory<'_>,
) {
    work(workload, plan, runs, x, model_output, rng, history)
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instructions <normals|ddim0|ddim1|ddpm|ddim-run|dpm2m-run|unipc-run> <elements> <repeats> [avx2]";
    let (workload, elements, repeats) = match &arguments[..] {
        [workload, elements, repeats, ..] => (
            workload.as_str(),
            elements.parse::<usize>().expect(usage),
            repeats.parse::<usize>().expect(usage),
        ),
        _ => panic!("{usage}"),
    };
    let avx2 = arguments.get(3).is_some_and(|flag| flag == "avx2");
    let plan = plan(workload);
    let mut x = vec![0.0f32; elements];
    let mut model_output = vec![0.0f32; elements];
    noise_stream(2, 0).fill_standard_normal(&mut model_output);
    let mut rng = InlinedStream(noise_stream(3, 0));
    let runs = Runs::new();
    let mut buffer = vec![0.0f32; runs.history_len(workload) * elements];
    let mut history = match workload {
        "dpm2m-run" => runs.dpm_solver.history(&mut buffer, elements),
        _ => runs.unipc.history(&mut buffer, elements),
    }
    .expect("a sized history");
    for _ in 0..repeats {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "this CPU has no AVX2"
            );
            // SAFETY: AVX2 is present (asserted just above).
            unsafe {
                work_avx2(
                    workload,
                    &plan,
                    &runs,
                    &mut x,
                    &model_output,
                    &mut rng,
                    &mut history,
                )
            };
            continue;
        }
        work(
            workload,
            &plan,
            &runs,
            &mut x,
            &model_output,
            &mut rng,
            &mut history,
        );
    }
    println!("{}", x.iter().map(|v| v.to_bits() as u64).sum::<u64>());
}
