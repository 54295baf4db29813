//! Noise v1: the numpy reference (bit for bit), the word-at-a-time path against the lanes,
//! determinism, moments, and independence from the batch size.

use diffusion_core::noise::fill_standard_normal_sequential;
use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, InlinedStream, NoiseSource, NoiseStream,
    ScheduleConfig, TimestepConfig, TimestepSpacing, VarianceType, noise_stream,
};
use serde::Deserialize;
use tests::{load, stand_in_model};

fn next_words(rng: &mut NoiseStream, count: usize) -> Vec<u32> {
    (0..count).map(|_| rng.next_u32()).collect()
}

#[derive(Deserialize)]
struct NoiseCase {
    seed: String,
    sample_index: String,
    u32: Vec<u32>,
    normals: Vec<f32>,
}

#[test]
fn numpy_reference_reproduces_the_stream() {
    let mut exact = 0usize;
    let mut total = 0usize;
    let mut worst = 0.0f32;
    for case in load::<NoiseCase>("noise.json").cases {
        let (seed, index) = (
            case.seed.parse().unwrap(),
            case.sample_index.parse().unwrap(),
        );
        assert_eq!(
            next_words(&mut noise_stream(seed, index), 8),
            case.u32,
            "seed {seed} sample {index}"
        );
        let mut ours = vec![0.0f32; case.normals.len()];
        noise_stream(seed, index).fill_standard_normal(&mut ours);
        for (&a, &b) in ours.iter().zip(&case.normals) {
            worst = worst.max((a - b).abs());
            exact += (a.to_bits() == b.to_bits()) as usize;
            total += 1;
        }
    }
    // The spec uses only exact-rounded f32 operations, so numpy must agree to the bit.
    assert_eq!(
        exact, total,
        "{exact}/{total} bit-identical, max |diff| {worst:e}"
    );
}

/// The word-at-a-time path that Cortex-M runs (checked there only under QEMU, by
/// `scripts/firmware-check.sh`) against the path this host takes (eight lanes from eight words
/// up): the same values and the same generator state afterwards, for every length 0…200 (every
/// remainder of a lane group and of a 64-value block), from several streams, also when the
/// stream is partway through.
#[test]
fn the_sequential_path_equals_the_lanes_path() {
    for (seed, index, skipped) in [(0u64, 0u64, 0usize), (42, 7, 3), (u64::MAX, u64::MAX, 13)] {
        for n in 0..=200usize {
            let mut start = noise_stream(seed, index);
            for _ in 0..skipped {
                start.next_u32();
            }
            let (mut sequential, mut lanes, mut inlined) =
                (start.clone(), start.clone(), InlinedStream(start));
            let (mut a, mut b, mut c) = ([0.0f32; 200], [0.0f32; 200], [0.0f32; 200]);
            fill_standard_normal_sequential(&mut sequential, &mut a[..n]);
            lanes.fill_standard_normal(&mut b[..n]);
            inlined.fill_standard_normal(&mut c[..n]);
            let case = format!("seed {seed}, sample {index}, {skipped} words skipped, n = {n}");
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "{case}");
            assert_eq!(a.map(f32::to_bits), c.map(f32::to_bits), "{case} (inlined)");
            assert_eq!(sequential, lanes, "{case}");
            assert_eq!(sequential, inlined.0, "{case} (inlined)");
            assert_eq!(sequential.next_u32(), lanes.next_u32(), "{case}");
        }
    }
}

#[test]
fn same_state_same_bits() {
    let generator = noise_stream(99, 5);
    let mut first = vec![0.0f32; 4097];
    let mut second = vec![0.0f32; 4097];
    generator.clone().fill_standard_normal(&mut first);
    generator.clone().fill_standard_normal(&mut second);
    assert_eq!(
        first.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        second.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn moments_are_standard_normal() {
    let mut values = vec![0.0f32; 1 << 20];
    noise_stream(3, 0).fill_standard_normal(&mut values);
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let kurtosis = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(4))
        .sum::<f64>()
        / n
        / var.powi(2);
    let beyond_two = values.iter().filter(|v| v.abs() > 2.0).count() as f64 / n;
    assert!(mean.abs() < 5.0 * (1.0 / n).sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 0.01, "variance {var}");
    assert!((kurtosis - 3.0).abs() < 0.05, "kurtosis {kurtosis}");
    assert!(
        (beyond_two - 0.0455).abs() < 0.002,
        "P(|z| > 2) = {beyond_two}"
    );
}

/// A 10-step DDPM run of `batch` samples (3×4×4 each) with the stand-in model.
fn ddpm_run(seed: u64, batch: usize) -> Vec<Vec<u32>> {
    let per_sample = 48;
    let timesteps = TimestepConfig {
        num_inference_steps: 10,
        spacing: TimestepSpacing::Leading,
        steps_offset: 1,
    };
    let config = DdpmDdimConfig {
        rule: DdpmDdimRule::Ddpm {
            variance_type: VarianceType::FixedSmall,
        },
        ..DdpmDdimConfig::default()
    };
    let plan: DdpmDdimPlan<10> =
        DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config).unwrap();
    let mut streams: Vec<_> = (0..batch as u64).map(|i| noise_stream(seed, i)).collect();
    let mut x = vec![0.0f32; batch * per_sample];
    for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
        stream.fill_standard_normal(sample);
    }
    let mut output = vec![0.0f32; x.len()];
    for (index, timestep) in plan.timesteps().enumerate() {
        stand_in_model(&x, timestep, &mut output);
        plan.step_batch(index, batch, &mut x, &output, &mut streams, &mut [])
            .unwrap();
    }
    x.chunks(per_sample)
        .map(|s| s.iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn sample_i_is_independent_of_batch_size() {
    let eight = ddpm_run(11, 8);
    let three = ddpm_run(11, 3);
    let one = ddpm_run(11, 1);
    assert_eq!(three[..], eight[..3]);
    assert_eq!(one[..], eight[..1]);
    assert_ne!(eight[0], eight[1], "samples share noise");
    assert_ne!(ddpm_run(12, 1)[0], one[0], "seed has no effect");
}
