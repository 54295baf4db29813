//! The per-element update shared by every sampler, in one pass over the sample.
//!
//! ```text
//! x̂₀     = clip(w_x·x_t + w_m·m)
//! x_prev = p₀·x̂₀ + p_x·x_t + p_m·m + σ·z
//! ```
//!
//! DDPM and DDIM differ only in the weights, which a [`crate::DdpmDdimPlan`] computes once per step in f64
//! and stores in f32. Noise is drawn in chunks of [`NOISE_CHUNK`] values into a stack buffer so
//! that generation and update stay in cache together.

use crate::clipping::{SampleClipping, quantile};
use crate::error::{Error, SliceKind};
use crate::noise::{NoiseSource, ensure_noise};

/// min(max(x, low), high), keeping NaN (as torch.clamp does). Unlike `f32::clamp` it has no panic
/// path, whose message would link float formatting into firmware.
#[inline(always)]
fn clamp(x: f32, low: f32, high: f32) -> f32 {
    if x < low {
        low
    } else if x > high {
        high
    } else {
        x
    }
}

/// Values of noise drawn at a time (even, so chunked requests give the same values as one
/// request: noise v1 draws normals in pairs).
///
/// ```
/// use diffusion_core::{noise_stream, NoiseSource, NOISE_CHUNK};
///
/// let (mut whole, mut chunked) = ([0.0f32; 2 * NOISE_CHUNK], [0.0f32; 2 * NOISE_CHUNK]);
/// noise_stream(1, 0).fill_standard_normal(&mut whole);
/// let mut stream = noise_stream(1, 0);
/// for chunk in chunked.chunks_mut(NOISE_CHUNK) {
///     stream.fill_standard_normal(chunk);
/// }
/// assert_eq!(whole, chunked);
/// ```
pub const NOISE_CHUNK: usize = 64;

/// The precomputed weights of one step. Every sampler's update is, per element, with x = x_t and
/// m the model output:
///
/// ```text
/// x̂₀     = clip(w_x·x + w_m·m)
/// x_prev = p₀·x̂₀ + p_x·x + p_m·m + σ·z
/// ```
///
/// DDPM and DDIM differ only in the weights, which a [`crate::DdpmDdimPlan`] computes once per step in f64
/// and stores in f32. With learned variance, σ is per element (see [`VarianceSource`]). The
/// weights are the plan's internals (not public, so that their layout may change); what a caller
/// reads is the step's timestep, its ᾱ and ᾱ_prev, and whether it draws noise.
///
/// ```
/// use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
///
/// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
/// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
/// let step = plan.steps()[0]; // deterministic DDIM on an ε-model
/// assert_eq!(step.timestep, 901);
/// assert_eq!(step.alpha_cumprod_prev, plan.steps()[1].alpha_cumprod); // ᾱ at the next timestep
/// assert!(!step.adds_noise); // η = 0
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct StepCoefficients {
    /// The training timestep t the model is evaluated at.
    pub timestep: u32,
    /// ᾱ_t.
    pub alpha_cumprod: f32,
    /// ᾱ_prev: ᾱ at the next timestep of the plan, or the final ᾱ after the last step.
    pub alpha_cumprod_prev: f32,
    /// w_x: weight of x_t in x̂₀.
    pub(crate) original_from_sample: f32,
    /// w_m: weight of the model output in x̂₀.
    pub(crate) original_from_model: f32,
    /// p₀: weight of the clipped x̂₀ in x_prev.
    pub(crate) prev_from_original: f32,
    /// p_x: weight of x_t in x_prev.
    pub(crate) prev_from_sample: f32,
    /// p_m: weight of the model output in x_prev.
    pub(crate) prev_from_model: f32,
    /// σ: the noise scale when it is fixed ([`VarianceSource::Fixed`]).
    pub(crate) noise_std: f32,
    /// `learned_range`: ln β̃, the log variance at v = −1.
    pub(crate) log_variance_min: f32,
    /// `learned_range`: ln β′, the log variance at v = +1.
    pub(crate) log_variance_max: f32,
    /// Whether the step draws noise (false on the last step and for DDIM with η = 0).
    pub adds_noise: bool,
    /// Where σ comes from: the plan, or the model's variance channels.
    pub variance_source: VarianceSource,
}

/// Where a step's σ comes from (see [`crate::VarianceType`]).
///
/// ```
/// use diffusion_core::{DdpmDdimPlan, DdpmDdimRule, DdpmDdimConfig, ScheduleConfig, TimestepConfig, VarianceSource, VarianceType, TimestepSpacing};
///
/// let learned = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::Learned }, ..DdpmDdimConfig::default() };
/// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
/// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &learned)?;
/// assert_eq!(plan.steps()[0].variance_source, VarianceSource::Learned);
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VarianceSource {
    /// σ computed by the plan, the same for every element.
    #[default]
    Fixed,
    /// `learned`: σ = √v, v being the model's variance channel (σ² itself).
    Learned,
    /// `learned_range`: σ = exp(½·(f·ln β′ + (1 − f)·ln β̃)), f = (v + 1)/2.
    LearnedRange,
}

impl StepCoefficients {
    /// Whether the step reads the model's variance channels.
    ///
    /// ```
    /// use diffusion_core::StepCoefficients;
    ///
    /// assert!(!StepCoefficients::default().learned_variance());
    /// ```
    #[must_use]
    pub fn learned_variance(&self) -> bool {
        self.variance_source != VarianceSource::Fixed
    }
}

impl StepCoefficients {
    /// Applies the step to one sample in place. `model_output` holds the sample's prediction,
    /// followed by its variance channels when it is twice as long. `scratch` (dynamic
    /// thresholding only) must hold at least one sample.
    #[inline(always)]
    pub(crate) fn apply<N: NoiseSource + ?Sized>(
        &self,
        clipping: SampleClipping,
        sample: &mut [f32],
        model_output: &[f32],
        noise: &mut N,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        let count = sample.len();
        let (prediction, variance) = if model_output.len() == count {
            (model_output, None)
        } else if model_output.len() == 2 * count {
            let (prediction, variance) = model_output.split_at(count);
            (prediction, Some(variance))
        } else {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: if self.learned_variance() {
                    2 * count
                } else {
                    count
                },
                actual: model_output.len(),
            });
        };
        if self.adds_noise {
            ensure_noise(noise, count)?;
        }
        let variance = match (self.learned_variance(), variance) {
            (true, None) => return Err(Error::MissingVarianceChannels),
            (true, variance) => variance,
            (false, _) => None,
        };
        match clipping {
            SampleClipping::None => self.update(sample, prediction, variance, noise, |x| x),
            SampleClipping::Range(range) => self.update(sample, prediction, variance, noise, |x| {
                clamp(x, -range, range)
            }),
            SampleClipping::DynamicThreshold { ratio, max_value } => {
                let available = scratch.len();
                let scratch = scratch.get_mut(..count).ok_or(Error::LengthMismatch {
                    slice: SliceKind::Scratch,
                    expected: count,
                    actual: available,
                })?;
                for ((slot, &x), &m) in scratch.iter_mut().zip(sample.iter()).zip(prediction) {
                    *slot =
                        libm::fabsf(self.original_from_sample * x + self.original_from_model * m);
                }
                let threshold = clamp(quantile(scratch, ratio), 1.0, max_value);
                self.update(sample, prediction, variance, noise, |x| {
                    clamp(x, -threshold, threshold) / threshold
                })
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn update<N: NoiseSource + ?Sized>(
        &self,
        sample: &mut [f32],
        prediction: &[f32],
        variance: Option<&[f32]>,
        noise: &mut N,
        clip: impl Fn(f32) -> f32,
    ) {
        let mut z = [0.0f32; NOISE_CHUNK];
        let (w_x, w_m) = (self.original_from_sample, self.original_from_model);
        let (p_0, p_x, p_m) = (
            self.prev_from_original,
            self.prev_from_sample,
            self.prev_from_model,
        );
        let sigma = self.noise_std;
        let (log_min, log_max) = (self.log_variance_min, self.log_variance_max);
        for (chunk_index, (xs, ms)) in sample
            .chunks_mut(NOISE_CHUNK)
            .zip(prediction.chunks(NOISE_CHUNK))
            .enumerate()
        {
            let zs = &mut z[..xs.len()];
            if self.adds_noise {
                noise.fill_standard_normal(zs);
            }
            match variance {
                None => {
                    for ((x, &m), &z) in xs.iter_mut().zip(ms).zip(zs.iter()) {
                        let original = clip(w_x * *x + w_m * m);
                        *x = p_0 * original + p_x * *x + p_m * m + sigma * z;
                    }
                }
                Some(variance) => {
                    let start = chunk_index * NOISE_CHUNK;
                    let vs = &variance[start..start + xs.len()];
                    let learned_range = self.variance_source == VarianceSource::LearnedRange;
                    for (((x, &m), &z), &v) in xs.iter_mut().zip(ms).zip(zs.iter()).zip(vs) {
                        let original = clip(w_x * *x + w_m * m);
                        let mean = p_0 * original + p_x * *x + p_m * m;
                        *x = if !self.adds_noise {
                            mean
                        } else if learned_range {
                            let fraction = (v + 1.0) / 2.0;
                            let log_variance = fraction * log_max + (1.0 - fraction) * log_min;
                            mean + libm::expf(0.5 * log_variance) * z
                        } else {
                            mean + libm::sqrtf(v) * z
                        };
                    }
                }
            }
        }
    }
}
