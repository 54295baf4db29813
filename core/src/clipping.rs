//! Clipping of the predicted x̂₀ before it is used (diffusers `clip_sample`, `thresholding`).
//!
//! ```
//! use diffusion_core::{DdpmDdimPlan, PredictionType, SampleClipping, DdpmDdimConfig, ScheduleConfig, SliceNoise, TimestepConfig, TimestepSpacing};
//!
//! // An x̂₀-model predicting 3.0, clipped to 1.0, at the last step (which lands on x̂₀).
//! let config = DdpmDdimConfig {
//!     prediction_type: PredictionType::Sample,
//!     clipping: SampleClipping::Range(1.0),
//!     ..DdpmDdimConfig::default()
//! };
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
//! let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &config)?;
//! let mut x = [0.3f32];
//! plan.step(9, &mut x, &[3.0], &mut SliceNoise::new(&[]), &mut [])?;
//! assert_eq!(x, [1.0]);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use crate::error::Error;

/// How x̂₀ is bounded before the update.
///
/// ```
/// use diffusion_core::{SampleClipping, DdpmDdimConfig};
///
/// // diffusers: clip_sample = true, clip_sample_range = 1.0
/// let clipped = DdpmDdimConfig { clipping: SampleClipping::Range(1.0), ..DdpmDdimConfig::default() };
/// // diffusers: thresholding = true, dynamic_thresholding_ratio = 0.995, sample_max_value = 1.5
/// let thresholded = SampleClipping::DynamicThreshold { ratio: 0.995, max_value: 1.5 };
/// assert_eq!(thresholded.validate(), Ok(()));
/// # let _ = clipped;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum SampleClipping {
    /// Use x̂₀ as predicted.
    #[default]
    None,
    /// `clip_sample`: x̂₀ ← clamp(x̂₀, −r, r) with r = `clip_sample_range`.
    Range(f32),
    /// Dynamic thresholding (Saharia et al. 2022; diffusers `thresholding`): per sample,
    /// s = clamp(quantile(|x̂₀|, ratio), 1, max_value) and x̂₀ ← clamp(x̂₀, −s, s)/s.
    /// Needs a scratch slice as long as one sample.
    DynamicThreshold {
        /// `dynamic_thresholding_ratio`, in (0, 1] (diffusers default 0.995).
        ratio: f32,
        /// `sample_max_value`, ≥ 1.
        max_value: f32,
    },
}

impl SampleClipping {
    /// Checks the parameters.
    ///
    /// ```
    /// use diffusion_core::{Error, SampleClipping};
    ///
    /// assert_eq!(SampleClipping::Range(0.0).validate(), Err(Error::InvalidClipRange));
    /// assert_eq!(
    ///     SampleClipping::DynamicThreshold { ratio: 0.9, max_value: 0.5 }.validate(),
    ///     Err(Error::InvalidThreshold)
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidClipRange`] for a range that is not finite and positive;
    /// [`Error::InvalidThreshold`] for a ratio outside (0, 1] or a max value that is not finite and
    /// ≥ 1.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            SampleClipping::None => Ok(()),
            SampleClipping::Range(range) if range.is_finite() && range > 0.0 => Ok(()),
            SampleClipping::Range(_) => Err(Error::InvalidClipRange),
            SampleClipping::DynamicThreshold { ratio, max_value }
                if ratio > 0.0 && ratio <= 1.0 && max_value.is_finite() && max_value >= 1.0 =>
            {
                Ok(())
            }
            SampleClipping::DynamicThreshold { .. } => Err(Error::InvalidThreshold),
        }
    }
}

/// The `q`-quantile of `values` with linear interpolation between order statistics (numpy's and
/// torch's default): position p = q·(n − 1), result = v₍⌊p⌋₎ + (p − ⌊p⌋)·(v₍⌈p⌉₎ − v₍⌊p⌋₎).
/// Reorders `values` (selection, no allocation). Returns 0 for an empty slice. Internal: the
/// dynamic thresholding of [`SampleClipping::DynamicThreshold`].
#[must_use]
pub(crate) fn quantile(values: &mut [f32], q: f32) -> f32 {
    let count = values.len();
    if count == 0 {
        return 0.0;
    }
    let position = q * (count - 1) as f32;
    let lower_index = (libm::floorf(position) as usize).min(count - 1);
    let weight = position - lower_index as f32;
    let (_, &mut lower, above) = values.select_nth_unstable_by(lower_index, f32::total_cmp);
    if weight == 0.0 || above.is_empty() {
        return lower;
    }
    let upper = above.iter().copied().fold(f32::INFINITY, f32::min);
    // torch.lerp's two-sided form, exact at both ends.
    if weight < 0.5 {
        lower + weight * (upper - lower)
    } else {
        upper - (upper - lower) * (1.0 - weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], q) for q = 0, 0.5, 0.995, 1 → 1, 2.5, 3.985, 4.
        let cases = [(0.0, 1.0), (0.5, 2.5), (0.995, 3.985), (1.0, 4.0)];
        for (q, expected) in cases {
            let mut values = [4.0, 1.0, 3.0, 2.0];
            let got = quantile(&mut values, q);
            assert!(
                (got - expected).abs() < 1e-6,
                "q = {q}: {got} != {expected}"
            );
        }
    }

    #[test]
    fn validation() {
        assert!(SampleClipping::Range(0.0).validate().is_err());
        assert!(SampleClipping::Range(f32::INFINITY).validate().is_err());
        assert!(
            SampleClipping::DynamicThreshold {
                ratio: 1.5,
                max_value: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(
            SampleClipping::DynamicThreshold {
                ratio: 0.9,
                max_value: 0.5
            }
            .validate()
            .is_err()
        );
        assert!(
            SampleClipping::DynamicThreshold {
                ratio: 0.995,
                max_value: 1.0
            }
            .validate()
            .is_ok()
        );
    }
}
