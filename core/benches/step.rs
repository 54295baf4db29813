//! Throughput of the core over 1 M elements, beside a plain copy measured in the same run.
//!
//! `cargo bench -p diffusion-core --bench step`
//!
//! Bytes per element: a step reads x_t and the model output and writes x_prev (12 bytes); the copy
//! reads and writes one f32 (8 bytes). Compare GB/s: step ÷ copy is the share of memory speed.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffusion_core::{
    NoiseSource, Plan, Sampler, SamplerConfig, ScheduleConfig, TimestepConfig, TimestepSpacing,
    VarianceType, noise_stream,
};
use rand::RngExt;
use rand_distr::StandardNormal;

const ELEMENTS: usize = 1 << 20;

fn plan(sampler: Sampler) -> Plan<25> {
    let timesteps = TimestepConfig {
        num_inference_steps: 25,
        spacing: TimestepSpacing::Leading,
        steps_offset: 1,
    };
    let config = SamplerConfig {
        sampler,
        ..SamplerConfig::default()
    };
    Plan::new(&ScheduleConfig::default(), &timesteps, &config).unwrap()
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
            Sampler::Ddim {
                eta: 0.0,
                use_clipped_model_output: false,
            },
        ),
        (
            "DDIM eta=1",
            Sampler::Ddim {
                eta: 1.0,
                use_clipped_model_output: false,
            },
        ),
        (
            "DDPM fixed_small",
            Sampler::Ddpm {
                variance_type: VarianceType::FixedSmall,
            },
        ),
    ];
    for (name, sampler) in samplers {
        let plan = plan(sampler);
        let mut rng = noise_stream(3, 0);
        group.bench_function(name, |b| {
            b.iter(|| {
                plan.step(10, &mut x, black_box(&model_output), &mut rng, &mut [])
                    .unwrap()
            })
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
    // The ceiling of one sample's stream: its u32 words come from one sequential LCG (one word
    // per normal), whatever the arithmetic after it costs.
    let mut words = vec![0u32; ELEMENTS];
    let mut rng = noise_stream(4, 0);
    group.bench_function("Pcg32 words alone (the stream's ceiling)", |b| {
        b.iter(|| {
            for word in words.iter_mut() {
                *word = rand::Rng::next_u32(&mut rng);
            }
            black_box(&words);
        })
    });
    let mut rng = noise_stream(4, 0);
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

criterion_group!(benches, step_throughput, normal_generation);
criterion_main!(benches);
