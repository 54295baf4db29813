//! `Guidance` against diffusers 0.42.1's StableDiffusionPipeline guidance and `rescale_noise_cfg`
//! in float32 torch (golden file written by tests/golden/make_golden_guidance.py): the same bits.
//! The predictions are noise v1 streams, drawn here as the script drew them.

use diffusion_core::{Guidance, NoiseSource, noise_stream};
use serde::Deserialize;
use tests::load;

#[derive(Deserialize)]
struct Case {
    shape: Vec<usize>,
    scale: f64,
    rescale: f64,
    unconditional_seed: u64,
    conditional_seed: u64,
    expected_bits: Vec<u32>,
}

/// Sample i of the batch from stream (seed, i).
fn draw(seed: u64, batch: usize, per_sample: usize) -> Vec<f32> {
    let mut values = vec![0.0f32; batch * per_sample];
    for (i, sample) in values.chunks_mut(per_sample).enumerate() {
        noise_stream(seed, i as u64).fill_standard_normal(sample);
    }
    values
}

#[test]
fn guidance_gives_diffusers_bits() {
    let golden = load::<Case>("guidance.json");
    assert!(golden.peer.starts_with("diffusers 0.42.1"));
    assert_eq!(golden.cases.len(), 6);
    for case in &golden.cases {
        let (batch, per_sample) = (case.shape[0], case.shape[1..].iter().product::<usize>());
        let unconditional = draw(case.unconditional_seed, batch, per_sample);
        let conditional = draw(case.conditional_seed, batch, per_sample);
        let mut guided = vec![0.0f32; batch * per_sample];
        Guidance::new(case.scale, case.rescale)
            .unwrap()
            .combine_batch(per_sample, &unconditional, &conditional, &mut guided)
            .unwrap();
        let bits: Vec<u32> = guided.iter().map(|v| v.to_bits()).collect();
        let differing = bits
            .iter()
            .zip(&case.expected_bits)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing,
            0,
            "{:?} s={} phi={}: {differing} of {} elements differ",
            case.shape,
            case.scale,
            case.rescale,
            bits.len()
        );
    }
}
