//! The firmware's denoiser and sampling runs, `no_std` and allocation-free, compiled unchanged
//! for the Cortex-M4F firmware and for its host twin (`examples/host_twin.rs`), which must print
//! the same bits.
//!
//! The model (trained by `train.py` on a ring of 8 Gaussians): ε̂(x, t) =
//! W₃·relu(W₂·relu(W₁·[x, y, emb(t)] + b₁) + b₂) + b₃ with emb(t) = (sin t·f_k, cos t·f_k),
//! f_k = 10000^(−k/8), k = 0..7. Plain f32 arithmetic and `libm` only, so the bits are the same
//! on every target.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod weights;

use diffusion_core::{
    Error, FinalAlphaCumprod, Pcg32, Plan, PredictionType, SampleClipping, Sampler, SamplerConfig,
    ScheduleConfig, TimestepConfig, TimestepSpacing, VarianceType, noise_stream,
};

/// Hidden width.
const HIDDEN: usize = 64;
/// Frequencies of the time embedding.
const FREQUENCIES: usize = 8;
/// Values per point.
pub const DIMENSIONS: usize = 2;
/// Points sampled by the firmware.
pub const POINTS: usize = 64;
/// Seed of the firmware's runs.
pub const SEED: u64 = 2024;
/// The largest plan of [`RUNS`].
pub const PLAN_CAPACITY: usize = 100;

/// emb(t) = (sin t·f_k …, cos t·f_k …).
fn embedding(timestep: u32) -> [f32; 2 * FREQUENCIES] {
    let mut out = [0.0f32; 2 * FREQUENCIES];
    for k in 0..FREQUENCIES {
        let frequency = libm::powf(10000.0, -(k as f32) / FREQUENCIES as f32);
        let angle = timestep as f32 * frequency;
        out[k] = libm::sinf(angle);
        out[FREQUENCIES + k] = libm::cosf(angle);
    }
    out
}

/// ε̂ for every point of `points` (x, y pairs) at `timestep`, into `out` (same length).
pub fn predict_epsilon(points: &[f32], timestep: u32, out: &mut [f32]) {
    // The time part of layer 1 is shared by all points: b₁ + W₁[:, 2..]·emb(t), once per call.
    let emb = embedding(timestep);
    let mut time_bias = weights::B1;
    for (bias, row) in time_bias.iter_mut().zip(weights::W1.iter()) {
        for (&w, &e) in row[DIMENSIONS..].iter().zip(emb.iter()) {
            *bias += w * e;
        }
    }
    for (point, epsilon) in points
        .chunks_exact(DIMENSIONS)
        .zip(out.chunks_exact_mut(DIMENSIONS))
    {
        let mut first = [0.0f32; HIDDEN];
        for ((h, row), &bias) in first
            .iter_mut()
            .zip(weights::W1.iter())
            .zip(time_bias.iter())
        {
            *h = (bias + row[0] * point[0] + row[1] * point[1]).max(0.0);
        }
        let mut second = [0.0f32; HIDDEN];
        for ((h, row), &bias) in second
            .iter_mut()
            .zip(weights::W2.iter())
            .zip(weights::B2.iter())
        {
            let mut sum = bias;
            for (&w, &x) in row.iter().zip(first.iter()) {
                sum += w * x;
            }
            *h = sum.max(0.0);
        }
        for ((e, row), &bias) in epsilon
            .iter_mut()
            .zip(weights::W3.iter())
            .zip(weights::B3.iter())
        {
            let mut sum = bias;
            for (&w, &x) in row.iter().zip(second.iter()) {
                sum += w * x;
            }
            *e = sum;
        }
    }
}

/// One sampling run of the firmware.
pub struct Run {
    /// Printed name.
    pub name: &'static str,
    /// Update rule.
    pub sampler: Sampler,
    /// Steps.
    pub steps: u32,
}

/// DDIM η = 0, DDIM η = 1 and DDPM, as the firmware runs them.
pub const RUNS: [Run; 3] = [
    Run {
        name: "ddim_eta0",
        sampler: Sampler::Ddim {
            eta: 0.0,
            use_clipped_model_output: false,
        },
        steps: 25,
    },
    Run {
        name: "ddim_eta1",
        sampler: Sampler::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        },
        steps: 25,
    },
    Run {
        name: "ddpm",
        sampler: Sampler::Ddpm {
            variance_type: VarianceType::FixedSmall,
        },
        steps: 100,
    },
];

/// The schedule the model was trained with: linear 1e-4 → 0.02, T = 1000.
pub fn schedule() -> ScheduleConfig<'static> {
    ScheduleConfig::default()
}

/// Builds `run`'s plan into `plan` (in place: no plan-sized temporary on the stack).
pub fn build_plan<const N: usize>(run: &Run, steps: u32, plan: &mut Plan<N>) -> Result<(), Error> {
    let timesteps = TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Trailing,
        steps_offset: 0,
    };
    let config = SamplerConfig {
        sampler: run.sampler,
        prediction_type: PredictionType::Epsilon,
        clipping: SampleClipping::None,
        final_alpha_cumprod: FinalAlphaCumprod::One,
    };
    plan.rebuild(&schedule(), &timesteps, &config)
}

/// Draws x_T for points `first..first + points.len()/2` of `seed` and runs `plan` on them.
/// `streams` receives one generator per point; `epsilon` is scratch of the same length as `points`.
pub fn sample<const N: usize, const P: usize>(
    plan: &Plan<N>,
    seed: u64,
    first: u64,
    points: &mut [f32],
    streams: &mut heapless::Vec<Pcg32, P>,
    epsilon: &mut [f32],
) -> Result<(), Error> {
    use diffusion_core::NoiseSource;
    streams.clear();
    for (index, point) in points.chunks_exact_mut(DIMENSIONS).enumerate() {
        let mut stream = noise_stream(seed, first + index as u64);
        stream.fill_standard_normal(point);
        streams.push(stream).map_err(|_| Error::CapacityExceeded {
            needed: index + 1,
            capacity: P,
        })?;
    }
    for (index, timestep) in plan.timesteps().enumerate() {
        predict_epsilon(points, timestep, epsilon);
        plan.step_batch(
            index,
            points.len() / DIMENSIONS,
            points,
            epsilon,
            streams,
            &mut [],
        )?;
    }
    Ok(())
}

/// FNV-1a (64-bit) over the f32 bits of `values`, little-endian.
pub fn hash(values: &[f32]) -> u64 {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for value in values {
        for byte in value.to_bits().to_le_bytes() {
            state = (state ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    state
}

/// The line both the firmware and the host twin print for a run:
/// `<name> hash=<FNV-1a of all bits> first=<bits of the first 4 values>`.
pub fn report_line<'a>(name: &'a str, points: &'a [f32]) -> ReportLine<'a> {
    ReportLine { name, points }
}

/// See [`report_line`].
pub struct ReportLine<'a> {
    name: &'a str,
    points: &'a [f32],
}

impl core::fmt::Display for ReportLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} hash={:016x} first=", self.name, hash(self.points))?;
        for (position, value) in self.points.iter().take(4).enumerate() {
            let separator = if position == 0 { "" } else { "," };
            write!(f, "{separator}{:08x}", value.to_bits())?;
        }
        Ok(())
    }
}
