//! Throughput of the core over 1 M elements, beside a plain copy measured in the same run.
//!
//! `cargo bench -p tests --bench step` (it lives in the tests crate so that the core depends on
//! nothing but its four crates, not even for a baseline).
//!
//! Bytes per element: a step reads x_t and the model output and writes x_prev (12 bytes); the copy
//! reads and writes one f32 (8 bytes). Compare GB/s: step ÷ copy is the share of memory speed.
//!
//! Rows marked "(AVX2)" run the same code compiled inside `#[target_feature(enable = "avx2")]`
//! functions, as `host` does when the CPU has AVX2 (same bits; the default x86_64 target has only
//! SSE2). They are skipped on CPUs without AVX2.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverConfig, DpmSolverPlan, InlinedStream,
    MultistepHistory, NoiseSource, ScheduleConfig, TimestepConfig, TimestepSpacing, UniPcConfig,
    UniPcPlan, VarianceType, noise_stream,
};
use rand::RngExt;
use rand_distr::StandardNormal;
use tests::benchmark_plan;

const ELEMENTS: usize = 1 << 20;

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The step and the noise compiled for AVX2 (call only when [`has_avx2`]).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    #[target_feature(enable = "avx2")]
    pub fn step(
        plan: &DdpmDdimPlan<25>,
        x: &mut [f32],
        model_output: &[f32],
        rng: &mut InlinedStream,
    ) {
        plan.step(10, x, model_output, rng, &mut []).unwrap()
    }

    #[target_feature(enable = "avx2")]
    pub fn ddim_run(
        plan: &DdpmDdimPlan<10>,
        x: &mut [f32],
        model_output: &[f32],
        rng: &mut InlinedStream,
    ) {
        super::ddim_run(plan, x, model_output, rng)
    }

    #[target_feature(enable = "avx2")]
    pub fn dpm_solver_run(
        plan: &DpmSolverPlan<10>,
        x: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) {
        super::dpm_solver_run(plan, x, model_output, history)
    }

    #[target_feature(enable = "avx2")]
    pub fn unipc_run(
        plan: &UniPcPlan<10>,
        x: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) {
        super::unipc_run(plan, x, model_output, history)
    }

    #[target_feature(enable = "avx2")]
    pub fn normals(rng: &mut InlinedStream, out: &mut [f32]) {
        rng.fill_standard_normal(out)
    }
}

fn step_throughput(c: &mut Criterion) {
    let mut x = vec![0.0f32; ELEMENTS];
    let mut model_output = vec![0.0f32; ELEMENTS];
    noise_stream(1, 0).fill_standard_normal(&mut x);
    noise_stream(2, 0).fill_standard_normal(&mut model_output);
    let source = x.clone();

    let mut group = c.benchmark_group("1M elements");
    group.throughput(Throughput::Bytes((ELEMENTS * 8) as u64));
    group.bench_function("copy (baseline)", |b| {
        b.iter(|| x.copy_from_slice(black_box(&source)))
    });
    group.throughput(Throughput::Bytes((ELEMENTS * 12) as u64));
    let samplers = [
        (
            "DDIM eta=0",
            DdpmDdimRule::Ddim {
                eta: 0.0,
                use_clipped_model_output: false,
            },
        ),
        (
            "DDIM eta=1",
            DdpmDdimRule::Ddim {
                eta: 1.0,
                use_clipped_model_output: false,
            },
        ),
        (
            "DDPM fixed_small",
            DdpmDdimRule::Ddpm {
                variance_type: VarianceType::FixedSmall,
            },
        ),
    ];
    for (name, sampler) in samplers {
        let plan = benchmark_plan(sampler);
        let mut rng = noise_stream(3, 0);
        group.bench_function(name, |b| {
            b.iter(|| {
                plan.step(10, &mut x, black_box(&model_output), &mut rng, &mut [])
                    .unwrap()
            })
        });
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            let mut rng = InlinedStream(noise_stream(3, 0));
            group.bench_function(format!("{name} (AVX2)"), |b| {
                // SAFETY: the CPU has AVX2 (checked above).
                b.iter(|| unsafe { avx2::step(&plan, &mut x, black_box(&model_output), &mut rng) })
            });
        }
    }
    // DPM-Solver++ 2M: one iteration is steps 0 (first order, writes x̂₀ to the history) and 1
    // (second order, reads it and rewrites it). Counted as two 12-byte steps, so that its GB/s
    // compares with DDIM's per step; the history's extra traffic shows as a lower rate.
    let dpm_solver: DpmSolverPlan<25> = DpmSolverPlan::new(
        &ScheduleConfig::default(),
        &TimestepConfig {
            num_inference_steps: 25,
            spacing: TimestepSpacing::Leading,
            steps_offset: 1,
        },
        &DpmSolverConfig::default(),
    )
    .expect("a valid plan");
    let mut buffer = vec![0.0f32; dpm_solver.history_len() * ELEMENTS];
    let mut history = dpm_solver
        .history(&mut buffer, ELEMENTS)
        .expect("a sized history");
    group.throughput(Throughput::Bytes((ELEMENTS * 24) as u64));
    group.bench_function("DPM-Solver++ 2M, steps 0 and 1", |b| {
        b.iter(|| {
            history.reset();
            for index in 0..2 {
                dpm_solver
                    .step(
                        index,
                        &mut x,
                        black_box(&model_output),
                        &mut history,
                        &mut [],
                    )
                    .unwrap();
            }
        })
    });
    // UniPC bh2, order 2 (diffusers' default), steps 0 and 1: the corrector reads the last sample
    // kept in the history as well. Counted like DPM-Solver's.
    let unipc: UniPcPlan<25> = UniPcPlan::new(
        &ScheduleConfig::default(),
        &TimestepConfig {
            num_inference_steps: 25,
            spacing: TimestepSpacing::Leading,
            steps_offset: 1,
        },
        &UniPcConfig::default(),
    )
    .expect("a valid plan");
    let mut unipc_buffer = vec![0.0f32; unipc.history_len() * ELEMENTS];
    let mut unipc_history = unipc
        .history(&mut unipc_buffer, ELEMENTS)
        .expect("a sized history");
    group.bench_function("UniPC bh2 order 2, steps 0 and 1", |b| {
        b.iter(|| {
            unipc_history.reset();
            for index in 0..2 {
                unipc
                    .step(
                        index,
                        &mut x,
                        black_box(&model_output),
                        &mut unipc_history,
                        &mut [],
                    )
                    .unwrap();
            }
        })
    });
    group.finish();
}

/// The 10 steps of a DDIM run, each on the same model output.
#[inline(always)]
fn ddim_run<N: NoiseSource>(
    plan: &DdpmDdimPlan<10>,
    x: &mut [f32],
    model_output: &[f32],
    rng: &mut N,
) {
    for index in 0..plan.len() {
        plan.step(index, x, black_box(model_output), rng, &mut [])
            .unwrap();
    }
}

/// The 10 steps of a DPM-Solver run from a reset history.
#[inline(always)]
fn dpm_solver_run(
    plan: &DpmSolverPlan<10>,
    x: &mut [f32],
    model_output: &[f32],
    history: &mut MultistepHistory<'_>,
) {
    history.reset();
    for index in 0..plan.len() {
        plan.step(index, x, black_box(model_output), history, &mut [])
            .unwrap();
    }
}

/// The 10 steps of a UniPC run from a reset history.
#[inline(always)]
fn unipc_run(
    plan: &UniPcPlan<10>,
    x: &mut [f32],
    model_output: &[f32],
    history: &mut MultistepHistory<'_>,
) {
    history.reset();
    for index in 0..plan.len() {
        plan.step(index, x, black_box(model_output), history, &mut [])
            .unwrap();
    }
}

/// Whole 10-step runs on one 3×32×32 sample (3 072 floats: every buffer stays in L1/L2, so this
/// is the arithmetic, as at batch 1 in host), DDIM η = 0 beside DPM-Solver++ 2M and UniPC bh2
/// order 2 with its corrector (diffusers' defaults, `lower_order_final`). One iteration is a run
/// from x_T (set up untimed); divide by 10 for the mean step, which is what host's summary
/// reports as "sampler µs/step".
fn multistep_runs(c: &mut Criterion) {
    const VALUES: usize = 3 * 32 * 32;
    let mut source = vec![0.0f32; VALUES];
    let mut model_output = vec![0.0f32; VALUES];
    noise_stream(1, 0).fill_standard_normal(&mut source);
    noise_stream(2, 0).fill_standard_normal(&mut model_output);
    let timesteps = TimestepConfig {
        num_inference_steps: 10,
        spacing: TimestepSpacing::Leading,
        steps_offset: 0,
    };
    let ddim: DdpmDdimPlan<10> = DdpmDdimPlan::new(
        &ScheduleConfig::default(),
        &timesteps,
        &DdpmDdimConfig::default(),
    )
    .expect("a valid plan");
    let dpm_solver: DpmSolverPlan<10> = DpmSolverPlan::new(
        &ScheduleConfig::default(),
        &timesteps,
        &DpmSolverConfig::default(),
    )
    .expect("a valid plan");
    let unipc: UniPcPlan<10> = UniPcPlan::new(
        &ScheduleConfig::default(),
        &timesteps,
        &UniPcConfig::default(),
    )
    .expect("a valid plan");
    let mut dpm_buffer = vec![0.0f32; dpm_solver.history_len() * VALUES];
    let mut dpm_history = dpm_solver.history(&mut dpm_buffer, VALUES).unwrap();
    let mut unipc_buffer = vec![0.0f32; unipc.history_len() * VALUES];
    let mut unipc_history = unipc.history(&mut unipc_buffer, VALUES).unwrap();
    let input = || source.clone();
    let size = BatchSize::SmallInput;

    let mut group = c.benchmark_group("3x32x32, 10-step run");
    let mut rng = noise_stream(3, 0);
    group.bench_function("DDIM eta=0", |b| {
        b.iter_batched_ref(input, |x| ddim_run(&ddim, x, &model_output, &mut rng), size)
    });
    group.bench_function("DPM-Solver++ 2M", |b| {
        b.iter_batched_ref(
            input,
            |x| dpm_solver_run(&dpm_solver, x, &model_output, &mut dpm_history),
            size,
        )
    });
    group.bench_function("UniPC bh2 order 2", |b| {
        b.iter_batched_ref(
            input,
            |x| unipc_run(&unipc, x, &model_output, &mut unipc_history),
            size,
        )
    });
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        let mut rng = InlinedStream(noise_stream(3, 0));
        // SAFETY (all three): the CPU has AVX2 (checked above).
        group.bench_function("DDIM eta=0 (AVX2)", |b| {
            b.iter_batched_ref(
                input,
                |x| unsafe { avx2::ddim_run(&ddim, x, &model_output, &mut rng) },
                size,
            )
        });
        group.bench_function("DPM-Solver++ 2M (AVX2)", |b| {
            b.iter_batched_ref(
                input,
                |x| unsafe {
                    avx2::dpm_solver_run(&dpm_solver, x, &model_output, &mut dpm_history)
                },
                size,
            )
        });
        group.bench_function("UniPC bh2 order 2 (AVX2)", |b| {
            b.iter_batched_ref(
                input,
                |x| unsafe { avx2::unipc_run(&unipc, x, &model_output, &mut unipc_history) },
                size,
            )
        });
    }
    group.finish();
}

fn normal_generation(c: &mut Criterion) {
    let mut out = vec![0.0f32; ELEMENTS];
    let mut group = c.benchmark_group("1M normals");
    group.throughput(Throughput::Elements(ELEMENTS as u64));
    let mut rng = noise_stream(4, 0);
    group.bench_function("noise v1 (Box-Muller in plain f32)", |b| {
        b.iter(|| rng.fill_standard_normal(black_box(&mut out)))
    });
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        let mut rng = InlinedStream(noise_stream(4, 0));
        group.bench_function("noise v1 (AVX2)", |b| {
            // SAFETY: the CPU has AVX2 (checked above).
            b.iter(|| unsafe { avx2::normals(&mut rng, black_box(&mut out)) })
        });
    }
    // One sequential PCG32 stream, a word at a time (noise v1 draws them eight lanes at a time).
    let mut words = vec![0u32; ELEMENTS];
    let mut rng = noise_stream(4, 0);
    group.bench_function("Pcg32 words, one at a time", |b| {
        b.iter(|| {
            for word in words.iter_mut() {
                *word = rng.next_u32();
            }
            black_box(&words);
        })
    });
    // rand_distr needs a rand_core generator: the same PCG32 as noise v1's, from rand_pcg.
    let mut rng = rand_pcg::Pcg32::new(4, 0);
    group.bench_function("rand_distr StandardNormal (baseline)", |b| {
        b.iter(|| {
            for value in out.iter_mut() {
                *value = rng.sample(StandardNormal);
            }
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, step_throughput, multistep_runs, normal_generation);
criterion_main!(benches);
