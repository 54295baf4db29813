//! A fixed amount of core work for instruction counting: `scripts/profile-core` runs it under
//! valgrind's callgrind (instruction counts do not change with a noisy machine's load) and divides
//! by the number of elements.
//!
//! `instructions <normals|ddim0|ddim1|ddpm> <elements> <repeats> [avx2]`; the script runs it with
//! two repeat counts and divides the difference, which removes start-up and set-up.

use diffusion_core::{InlinedStream, NoiseSource, Plan, Sampler, VarianceType, noise_stream};
use tests::benchmark_plan;

fn plan(workload: &str) -> Plan<25> {
    benchmark_plan(match workload {
        "ddim1" => Sampler::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        },
        "ddpm" => Sampler::Ddpm {
            variance_type: VarianceType::FixedSmall,
        },
        _ => Sampler::Ddim {
            eta: 0.0,
            use_clipped_model_output: false,
        },
    })
}

#[inline(always)]
fn work(
    workload: &str,
    plan: &Plan<25>,
    x: &mut [f32],
    model_output: &[f32],
    rng: &mut InlinedStream,
) {
    match workload {
        "normals" => rng.fill_standard_normal(x),
        _ => plan
            .step(10, x, model_output, rng, &mut [])
            .expect("valid step"),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn work_avx2(
    workload: &str,
    plan: &Plan<25>,
    x: &mut [f32],
    model_output: &[f32],
    rng: &mut InlinedStream,
) {
    work(workload, plan, x, model_output, rng)
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instructions <normals|ddim0|ddim1|ddpm> <elements> <repeats> [avx2]";
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
    for _ in 0..repeats {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "this CPU has no AVX2"
            );
            // SAFETY: AVX2 is present (asserted just above).
            unsafe { work_avx2(workload, &plan, &mut x, &model_output, &mut rng) };
            continue;
        }
        work(workload, &plan, &mut x, &model_output, &mut rng);
    }
    println!("{}", x.iter().map(|v| v.to_bits() as u64).sum::<u64>());
}
