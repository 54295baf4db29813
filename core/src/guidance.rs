//! Classifier-free guidance (Ho & Salimans 2022) over caller-provided slices, as diffusers'
//! StableDiffusionPipeline computes it:
//!
//! ```text
//! ε̂ = ε_u + s·(ε_c − ε_u)
//! ```
//!
//! where ε_u is the model's output for the unconditional input (the empty prompt, the null class
//! label) and ε_c for the conditional one, both at the same x_t and timestep. Whatever the model
//! predicts (ε, v or x0), the pipelines guide its output this way before the scheduler's step,
//! and so does the caller of this module. With a rescale factor φ > 0, diffusers'
//! `rescale_noise_cfg` (Lin et al. 2023, §3.4) follows, per sample:
//!
//! ```text
//! ε̂ ← φ·(ε̂·σ(ε_c)/σ(ε̂)) + (1 − φ)·ε̂
//! ```
//!
//! with σ the unbiased standard deviation over all the sample's elements (`torch.std` over every
//! dimension but the batch). Each elementwise operation is one f32 operation, rounded as torch
//! rounds it (s, φ and 1 − φ, computed in f64 as Python does, are rounded to f32 as torch rounds a
//! Python scalar multiplying a float32 tensor); σ is accumulated in f64 (two passes: mean, then
//! squared deviations) and rounded to f32, as torch's CPU kernel accumulates it in double. The
//! workspace's `tests/golden/guidance.json` holds diffusers' own results; this module matches them
//! bit for bit there.
//!
//! s = 1 is the conditional prediction itself (a caller needs only the conditional model call);
//! s = 0 without a rescale is the unconditional one (a caller needs only the unconditional call,
//! [`Guidance::needs_conditional`]). diffusers' pipelines skip guidance for every s ≤ 1; here the
//! formula holds for every finite s, so s < 1 interpolates toward the unconditional model.
//!
//! ```
//! use diffusion_core::Guidance;
//!
//! let guidance = Guidance::new(7.5, 0.0)?;
//! let (unconditional, conditional) = ([0.0f32, 1.0], [1.0f32, 1.0]);
//! let mut guided = [0.0f32; 2];
//! guidance.combine(&unconditional, &conditional, &mut guided)?;
//! assert_eq!(guided, [7.5, 1.0]);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use crate::error::{Error, SliceKind};

/// A guidance scale s and rescale factor φ, validated and rounded as diffusers applies them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guidance {
    /// s, rounded to f32.
    scale: f32,
    /// φ, rounded to f32.
    rescale: f32,
    /// 1 − φ, computed in f64 and rounded to f32.
    keep: f32,
}

impl Guidance {
    /// Guidance with scale s (any finite value) and rescale φ in [0, 1] (0: no rescale).
    ///
    /// ```
    /// use diffusion_core::{Error, Guidance};
    ///
    /// assert!(Guidance::new(3.0, 0.7).is_ok());
    /// assert!(matches!(Guidance::new(f64::NAN, 0.0), Err(Error::InvalidGuidance { .. })));
    /// assert_eq!(
    ///     Guidance::new(7.5, 1.5),
    ///     Err(Error::InvalidGuidance { scale: 7.5, rescale: 1.5 })
    /// );
    /// ```
    pub fn new(scale: f64, rescale: f64) -> Result<Self, Error> {
        let (scale_f32, rescale_f32) = (scale as f32, rescale as f32);
        if !scale_f32.is_finite() || !(0.0..=1.0).contains(&rescale) {
            return Err(Error::InvalidGuidance {
                scale: scale_f32,
                rescale: rescale_f32,
            });
        }
        Ok(Guidance {
            scale: scale_f32,
            rescale: rescale_f32,
            keep: (1.0 - rescale) as f32,
        })
    }

    /// s.
    #[must_use]
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// φ.
    #[must_use]
    pub fn rescale(&self) -> f32 {
        self.rescale
    }

    /// Whether the unconditional prediction is needed: s ≠ 1. At s = 1 the guided prediction is
    /// the conditional one, and the rescale (σ(ε̂) = σ(ε_c)) leaves it as it is.
    #[must_use]
    pub fn needs_unconditional(&self) -> bool {
        self.scale != 1.0
    }

    /// Whether the conditional prediction is needed: not at s = 0 without a rescale, where the
    /// guided prediction is the unconditional one (ε_u + 0·(ε_c − ε_u) = ε_u up to the sign of a
    /// zero). With a rescale it is needed at every s: σ(ε_c) scales the result.
    ///
    /// ```
    /// use diffusion_core::Guidance;
    ///
    /// assert!(!Guidance::new(0.0, 0.0)?.needs_conditional());
    /// assert!(Guidance::new(0.0, 0.7)?.needs_conditional());
    /// assert!(Guidance::new(7.5, 0.0)?.needs_conditional());
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    #[must_use]
    pub fn needs_conditional(&self) -> bool {
        self.scale != 0.0 || self.rescale > 0.0
    }

    /// Guides one sample: `guided = ε_u + s·(ε_c − ε_u)`, then the rescale when φ > 0. At s = 1,
    /// `guided` is a copy of `conditional`. The three slices have one length; one element (whose
    /// unbiased σ is undefined) gives NaN with a rescale, as in diffusers.
    pub fn combine(
        &self,
        unconditional: &[f32],
        conditional: &[f32],
        guided: &mut [f32],
    ) -> Result<(), Error> {
        check_length(SliceKind::Unconditional, guided.len(), unconditional.len())?;
        check_length(SliceKind::ModelOutput, guided.len(), conditional.len())?;
        if !self.needs_unconditional() {
            guided.copy_from_slice(conditional);
            return Ok(());
        }
        let scale = self.scale;
        for ((out, &u), &c) in guided.iter_mut().zip(unconditional).zip(conditional) {
            *out = u + scale * (c - u);
        }
        if self.rescale > 0.0 {
            let ratio = standard_deviation(conditional) / standard_deviation(guided);
            let (rescale, keep) = (self.rescale, self.keep);
            for out in guided.iter_mut() {
                let value = *out;
                *out = rescale * (value * ratio) + keep * value;
            }
        }
        Ok(())
    }

    /// Guides a batch of samples of `per_sample` elements each, laid out one after another in
    /// each slice ([`Guidance::combine`] per sample: σ is per sample).
    pub fn combine_batch(
        &self,
        per_sample: usize,
        unconditional: &[f32],
        conditional: &[f32],
        guided: &mut [f32],
    ) -> Result<(), Error> {
        check_length(SliceKind::Unconditional, guided.len(), unconditional.len())?;
        check_length(SliceKind::ModelOutput, guided.len(), conditional.len())?;
        if per_sample == 0 || guided.len() % per_sample != 0 {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Guided,
                expected: match per_sample {
                    0 => 0,
                    _ => guided.len().div_ceil(per_sample) * per_sample,
                },
                actual: guided.len(),
            });
        }
        for ((out, u), c) in guided
            .chunks_mut(per_sample)
            .zip(unconditional.chunks(per_sample))
            .zip(conditional.chunks(per_sample))
        {
            self.combine(u, c, out)?;
        }
        Ok(())
    }
}

fn check_length(slice: SliceKind, expected: usize, actual: usize) -> Result<(), Error> {
    match expected == actual {
        true => Ok(()),
        false => Err(Error::LengthMismatch {
            slice,
            expected,
            actual,
        }),
    }
}

/// The unbiased standard deviation √(Σ(x − x̄)²/(n − 1)), x̄ = Σx/n, accumulated in f64 and
/// rounded to f32 (`torch.std`'s default correction). NaN for fewer than two values. Internal:
/// the guidance rescale.
#[must_use]
pub(crate) fn standard_deviation(values: &[f32]) -> f32 {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let squares: f64 = values
        .iter()
        .map(|&v| {
            let deviation = v as f64 - mean;
            deviation * deviation
        })
        .sum();
    libm::sqrt(squares / (n - 1.0)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_zero_without_rescale_is_the_unconditional_prediction() {
        let unconditional = [0.25f32, -1.0, 3.0, 0.5, -0.0, 1.0e-30];
        let conditional = [1.0f32, 2.0, -0.5, 0.125, 4.0, -7.0];
        let mut guided = [f32::NAN; 6];
        let guidance = Guidance::new(0.0, 0.0).unwrap();
        assert!(!guidance.needs_conditional());
        guidance
            .combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        // Equal as numbers (−0 + 0 is +0: only a zero's sign may differ).
        assert_eq!(guided, unconditional);
        // With a rescale, σ(ε_c) enters: the conditional call is needed.
        let rescaled = Guidance::new(0.0, 0.5).unwrap();
        assert!(rescaled.needs_conditional());
        rescaled
            .combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        assert_ne!(guided, unconditional);
    }

    #[test]
    fn the_combine_is_the_formula_and_scale_one_is_the_conditional_prediction() {
        let unconditional = [0.25f32, -1.0, 3.0, 0.5];
        let conditional = [1.0f32, 2.0, -0.5, 0.125];
        let mut guided = [0.0f32; 4];
        let guidance = Guidance::new(7.5, 0.0).unwrap();
        guidance
            .combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        for j in 0..4 {
            let u = unconditional[j];
            assert_eq!(guided[j], u + 7.5 * (conditional[j] - u));
        }
        let one = Guidance::new(1.0, 0.7).unwrap();
        assert!(!one.needs_unconditional());
        one.combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        assert_eq!(guided, conditional);
        let zero = Guidance::new(0.0, 0.0).unwrap();
        zero.combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        assert_eq!(guided, unconditional);
    }

    #[test]
    fn a_full_rescale_gives_the_conditional_standard_deviation() {
        let unconditional = [0.1f32, -0.4, 0.9, 0.3, -0.2, 0.0];
        let conditional = [0.5f32, -0.1, 0.2, 0.8, -0.6, 0.4];
        let mut guided = [0.0f32; 6];
        Guidance::new(5.0, 1.0)
            .unwrap()
            .combine(&unconditional, &conditional, &mut guided)
            .unwrap();
        let (got, want) = (
            standard_deviation(&guided),
            standard_deviation(&conditional),
        );
        assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
        // φ = 0.5 lands halfway between the guided and the fully rescaled prediction.
        let mut half = [0.0f32; 6];
        let mut plain = [0.0f32; 6];
        Guidance::new(5.0, 0.5)
            .unwrap()
            .combine(&unconditional, &conditional, &mut half)
            .unwrap();
        Guidance::new(5.0, 0.0)
            .unwrap()
            .combine(&unconditional, &conditional, &mut plain)
            .unwrap();
        for j in 0..6 {
            let expected = 0.5 * (guided[j] + plain[j]);
            assert!((half[j] - expected).abs() <= 1e-5 * plain[j].abs().max(1.0));
        }
    }

    #[test]
    fn the_standard_deviation_is_unbiased() {
        assert_eq!(standard_deviation(&[1.0, 3.0]), libm::sqrtf(2.0));
        assert!(standard_deviation(&[1.0]).is_nan());
    }

    #[test]
    fn batches_are_guided_per_sample() {
        let unconditional = [0.1f32, -0.4, 0.9, 3.0, -2.0, 0.0];
        let conditional = [0.5f32, -0.1, 0.2, 8.0, -6.0, 4.0];
        let guidance = Guidance::new(3.0, 0.7).unwrap();
        let mut batch = [0.0f32; 6];
        guidance
            .combine_batch(3, &unconditional, &conditional, &mut batch)
            .unwrap();
        for k in 0..2 {
            let mut one = [0.0f32; 3];
            let range = 3 * k..3 * k + 3;
            guidance
                .combine(
                    &unconditional[range.clone()],
                    &conditional[range.clone()],
                    &mut one,
                )
                .unwrap();
            assert_eq!(one, batch[range]);
        }
    }

    #[test]
    fn bad_scales_and_lengths_are_errors() {
        for (scale, rescale) in [
            (f64::NAN, 0.0),
            (f64::INFINITY, 0.0),
            (7.5, -0.1),
            (7.5, 1.1),
            (7.5, f64::NAN),
            (1e39, 0.0),
        ] {
            assert!(
                matches!(
                    Guidance::new(scale, rescale),
                    Err(Error::InvalidGuidance { .. })
                ),
                "{scale} {rescale}"
            );
        }
        let guidance = Guidance::new(2.0, 0.0).unwrap();
        let mut guided = [0.0f32; 4];
        assert_eq!(
            guidance.combine(&[0.0; 3], &[0.0; 4], &mut guided),
            Err(Error::LengthMismatch {
                slice: SliceKind::Unconditional,
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            guidance.combine(&[0.0; 4], &[0.0; 5], &mut guided),
            Err(Error::LengthMismatch {
                slice: SliceKind::ModelOutput,
                expected: 4,
                actual: 5
            })
        );
        assert_eq!(
            guidance.combine_batch(3, &[0.0; 4], &[0.0; 4], &mut guided),
            Err(Error::LengthMismatch {
                slice: SliceKind::Guided,
                expected: 6,
                actual: 4
            })
        );
        assert!(
            guidance
                .combine_batch(0, &[0.0; 4], &[0.0; 4], &mut guided)
                .is_err()
        );
    }
}
