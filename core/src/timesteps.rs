//! Timestep plans: which training timesteps an N-step run visits, in descending order, as
//! diffusers' `set_timesteps` realizes them (numpy's float64 arithmetic and round-half-to-even
//! reproduced exactly).
//!
//! The timestep *after* element k is element k + 1 of this array — never `t − T/N`, which is what
//! diffusers' `DDIMScheduler.step` uses. The stride formula agrees with the array only for
//! `leading`; for `linspace` (e.g. 10 steps: 999, 888, 777, … where the stride says 999 → 900) and
//! for `trailing` when T % N ≠ 0 (13 steps: 999, 922, 845, … where the stride says 999 → 923) it
//! pairs a timestep with an ᾱ_prev the run never visits. We follow the array, as diffusers' own
//! `DDPMScheduler.previous_timestep` does.
//!
//! ```
//! use diffusion_core::{DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
//!
//! let timesteps = TimestepConfig { num_inference_steps: 13, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
//! let plan: DdpmDdimPlan<13> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default())?;
//! let mut alphas_cumprod = [0.0f32; 1000];
//! diffusion_core::fill_alphas_cumprod(&ScheduleConfig::default(), &mut alphas_cumprod)?;
//! let first = plan.steps()[0];
//! assert_eq!(first.timestep, 999);
//! assert_eq!(first.alpha_cumprod_prev, alphas_cumprod[922]); // the next element, not 999 − 76
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use crate::error::{Error, NameKind, SliceKind};
use crate::schedule::MAX_TRAIN_TIMESTEPS;

/// How N inference timesteps are spread over 0..T (diffusers `timestep_spacing`).
///
/// ```
/// use diffusion_core::{TimestepConfig, TimestepSpacing};
///
/// let ten = |spacing: &str, steps_offset| -> Result<Vec<u32>, diffusion_core::Error> {
///     let config = TimestepConfig { num_inference_steps: 10, spacing: spacing.parse()?, steps_offset };
///     Ok(config.timesteps(1000)?.collect())
/// };
/// assert_eq!(ten("linspace", 0)?, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
/// assert_eq!(ten("leading", 1)?, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
/// assert_eq!(ten("trailing", 0)?, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestepSpacing {
    /// `linspace`: round(linspace(0, T − 1, N)), reversed. Includes both T − 1 and 0. diffusers'
    /// default for DPM-Solver, UniPC, Euler and Heun.
    Linspace,
    /// `leading`: k·⌊T/N⌋ + `steps_offset` for k = N − 1 … 0 (DDIM paper). diffusers' default
    /// for DDPM, DDIM and LCM.
    Leading,
    /// `trailing`: round(T − k·T/N) − 1 for k = 0 … N − 1 (Lin et al. 2023): starts at T − 1.
    ///
    /// Exactly N elements. diffusers builds this array with `numpy.arange(T, 0, −T/N)`, whose
    /// length is computed in float64 and comes out N + 1 for some N (T = 1000: N = 61, 103, 121,
    /// …), the extra element rounding to timestep −1. Running that element would evaluate the
    /// model at t = −1 with `alphas_cumprod[-1]`, which Python reads as ᾱ_{T−1}, the noisiest
    /// value: a broken last step. The core stops after the N timesteps asked for, which equal
    /// diffusers' first N (golden-tested for every such N ≤ 250 at T = 1000 and 777).
    Trailing,
}

impl FromStr for TimestepSpacing {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "linspace" => Ok(TimestepSpacing::Linspace),
            "leading" => Ok(TimestepSpacing::Leading),
            "trailing" => Ok(TimestepSpacing::Trailing),
            _ => Err(Error::UnknownName(NameKind::TimestepSpacing)),
        }
    }
}

/// The inference-time part of a plan: how many steps and where they fall.
///
/// ```
/// use diffusion_core::{TimestepConfig, TimestepSpacing};
///
/// // diffusers' DDIMScheduler defaults with steps_offset = 1 (Stable Diffusion's config).
/// let config = TimestepConfig { num_inference_steps: 50, spacing: TimestepSpacing::Leading, steps_offset: 1 };
/// let mut timesteps = config.timesteps(1000)?;
/// assert_eq!(timesteps.len(), 50);
/// assert_eq!((timesteps.next(), timesteps.last()), (Some(981), Some(1)));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestepConfig {
    /// N, the number of model evaluations (diffusers `num_inference_steps`), 1 ≤ N ≤ T.
    pub num_inference_steps: u32,
    /// The spacing rule.
    pub spacing: TimestepSpacing,
    /// Added to every `leading` timestep (diffusers `steps_offset`; ignored by the other spacings,
    /// as in diffusers).
    pub steps_offset: u32,
}

impl TimestepConfig {
    /// Checks T against [`MAX_TRAIN_TIMESTEPS`], N against T, and that every timestep lands in
    /// 0..T.
    ///
    /// ```
    /// use diffusion_core::{Error, TimestepConfig, TimestepSpacing};
    ///
    /// let config = TimestepConfig { num_inference_steps: 1000, spacing: TimestepSpacing::Leading, steps_offset: 1 };
    /// // 999 + 1 is not a training timestep of T = 1000.
    /// assert_eq!(config.validate(1000), Err(Error::TimestepOutOfRange { timestep: 1000, num_train_timesteps: 1000 }));
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTrainTimesteps`]: T is 0 or above [`MAX_TRAIN_TIMESTEPS`].
    /// - [`Error::InvalidStepCount`]: N is 0 or above T.
    /// - [`Error::TimestepOutOfRange`]: `leading` + `steps_offset` reaches T.
    pub fn validate(&self, num_train_timesteps: u32) -> Result<(), Error> {
        // Checked here as well as in `ScheduleConfig`: this type is usable on its own, and the
        // float arithmetic below is exact enough only for T up to the bound.
        if num_train_timesteps == 0 || num_train_timesteps > MAX_TRAIN_TIMESTEPS {
            return Err(Error::InvalidTrainTimesteps {
                num_train_timesteps,
            });
        }
        let steps = self.num_inference_steps;
        if steps == 0 || steps > num_train_timesteps {
            return Err(Error::InvalidStepCount {
                steps,
                num_train_timesteps,
            });
        }
        // The largest timestep is element 0 for every spacing.
        let first = self.raw_timestep(num_train_timesteps, 0);
        if first >= num_train_timesteps as u64 {
            return Err(Error::TimestepOutOfRange {
                timestep: first,
                num_train_timesteps,
            });
        }
        Ok(())
    }

    /// Element `index` (0 = first, largest) of the descending timestep array.
    ///
    /// Validates on every call; a loop over a validated config can use [`Self::timesteps`].
    ///
    /// ```
    /// use diffusion_core::{Error, TimestepConfig, TimestepSpacing};
    ///
    /// let config = TimestepConfig { num_inference_steps: 13, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// assert_eq!(config.timestep(1000, 1), Ok(922)); // not 999 − 1000/13 = 923
    /// assert_eq!(config.timestep(1000, 13), Err(Error::StepIndexOutOfRange { index: 13, steps: 13 }));
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`TimestepConfig::validate`], and [`Error::StepIndexOutOfRange`] when `index` ≥ N.
    pub fn timestep(&self, num_train_timesteps: u32, index: u32) -> Result<u32, Error> {
        self.validate(num_train_timesteps)?;
        if index >= self.num_inference_steps {
            return Err(Error::StepIndexOutOfRange {
                index: index as usize,
                steps: self.num_inference_steps as usize,
            });
        }
        Ok(self.raw_timestep(num_train_timesteps, index) as u32)
    }

    /// The descending timestep array, element by element.
    ///
    /// ```
    /// use diffusion_core::{TimestepConfig, TimestepSpacing};
    ///
    /// let config = TimestepConfig { num_inference_steps: 7, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
    /// // numpy.linspace(0, 999, 7) rounds its halves to even: 166.5 → 166, 499.5 → 500, 832.5 → 832.
    /// assert!(config.timesteps(1000)?.eq([999, 832, 666, 500, 333, 166, 0]));
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`TimestepConfig::validate`].
    pub fn timesteps(
        &self,
        num_train_timesteps: u32,
    ) -> Result<impl ExactSizeIterator<Item = u32> + '_, Error> {
        self.validate(num_train_timesteps)?;
        Ok((0..self.num_inference_steps)
            .map(move |index| self.raw_timestep(num_train_timesteps, index) as u32))
    }

    /// Writes the descending timestep array into `out` (length N).
    ///
    /// ```
    /// use diffusion_core::{Error, SliceKind, TimestepConfig, TimestepSpacing};
    ///
    /// let config = TimestepConfig { num_inference_steps: 4, spacing: TimestepSpacing::Trailing, steps_offset: 0 };
    /// let mut timesteps = [0u32; 4];
    /// config.fill_timesteps(1000, &mut timesteps)?;
    /// assert_eq!(timesteps, [999, 749, 499, 249]);
    /// assert_eq!(
    ///     config.fill_timesteps(1000, &mut [0; 3]),
    ///     Err(Error::LengthMismatch { slice: SliceKind::Timesteps, expected: 4, actual: 3 })
    /// );
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`TimestepConfig::validate`], and [`Error::LengthMismatch`] (naming
    /// [`SliceKind::Timesteps`]) when `out.len()` is not N.
    pub fn fill_timesteps(&self, num_train_timesteps: u32, out: &mut [u32]) -> Result<(), Error> {
        let expected = self.num_inference_steps as usize;
        let timesteps = self.timesteps(num_train_timesteps)?;
        if out.len() != expected {
            return Err(Error::LengthMismatch {
                slice: SliceKind::Timesteps,
                expected,
                actual: out.len(),
            });
        }
        for (slot, timestep) in out.iter_mut().zip(timesteps) {
            *slot = timestep;
        }
        Ok(())
    }

    /// Element `index` of a validated config (`index` < N ≤ T ≤ [`MAX_TRAIN_TIMESTEPS`]); u64 so
    /// that `leading` + offset cannot overflow. Saturating arithmetic keeps even unvalidated input
    /// free of overflow panics.
    fn raw_timestep(&self, num_train_timesteps: u32, index: u32) -> u64 {
        let steps = self.num_inference_steps;
        let train = num_train_timesteps as f64;
        // Position in the ascending array that diffusers reverses.
        let ascending = steps.saturating_sub(1).saturating_sub(index);
        match self.spacing {
            TimestepSpacing::Linspace => {
                // numpy.linspace(0, T − 1, N): y = i·((T − 1)/(N − 1)), last element = T − 1 exactly.
                if steps <= 1 {
                    0
                } else if ascending == steps - 1 {
                    (num_train_timesteps as u64).saturating_sub(1)
                } else {
                    let step = (train - 1.0) / (steps - 1) as f64;
                    libm::rint(ascending as f64 * step) as u64
                }
            }
            TimestepSpacing::Leading => {
                let ratio = num_train_timesteps.checked_div(steps).unwrap_or(0) as u64;
                ascending as u64 * ratio + self.steps_offset as u64
            }
            TimestepSpacing::Trailing => {
                // numpy.arange(T, 0, −T/N): element 1 is T − r, later elements T + k·δ with the
                // rounded δ = (T − r) − T, exactly as numpy fills a float64 range.
                let ratio = train / steps as f64;
                let second = train - ratio;
                let value = match index {
                    0 => train,
                    1 => second,
                    k => train + k as f64 * (second - train),
                };
                // For T ≤ MAX_TRAIN_TIMESTEPS the last value is T/N ≥ 1 up to 2⁻¹² of rounding;
                // a float-to-int cast saturates, and so does the subtraction.
                (libm::rint(value) as u64).saturating_sub(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(spacing: TimestepSpacing, steps: u32, offset: u32) -> heapless::Vec<u32, 64> {
        let config = TimestepConfig {
            num_inference_steps: steps,
            spacing,
            steps_offset: offset,
        };
        config.timesteps(1000).unwrap().collect()
    }

    #[test]
    fn diffusers_examples() {
        assert_eq!(
            collect(TimestepSpacing::Leading, 10, 1)[..],
            [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]
        );
        assert_eq!(
            collect(TimestepSpacing::Linspace, 10, 0)[..],
            [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
        );
        assert_eq!(
            collect(TimestepSpacing::Trailing, 10, 0)[..],
            [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
        );
        // linspace(0, 999, 7) = 0, 166.5, 333, 499.5, 666, 832.5, 999: halves round to even.
        assert_eq!(
            collect(TimestepSpacing::Linspace, 7, 0)[..],
            [999, 832, 666, 500, 333, 166, 0]
        );
        assert_eq!(collect(TimestepSpacing::Linspace, 1, 0)[..], [0]);
    }

    #[test]
    fn invalid_counts_and_offsets() {
        let config = TimestepConfig {
            num_inference_steps: 0,
            spacing: TimestepSpacing::Leading,
            steps_offset: 0,
        };
        assert_eq!(
            config.validate(1000),
            Err(Error::InvalidStepCount {
                steps: 0,
                num_train_timesteps: 1000
            })
        );
        let config = TimestepConfig {
            num_inference_steps: 1001,
            ..config
        };
        assert!(matches!(
            config.validate(1000),
            Err(Error::InvalidStepCount { .. })
        ));
        let config = TimestepConfig {
            num_inference_steps: 1000,
            steps_offset: 1,
            ..config
        };
        assert_eq!(
            config.validate(1000),
            Err(Error::TimestepOutOfRange {
                timestep: 1000,
                num_train_timesteps: 1000
            })
        );
        assert_eq!(
            "uniform".parse::<TimestepSpacing>(),
            Err(Error::UnknownName(NameKind::TimestepSpacing))
        );
    }

    #[test]
    fn train_timesteps_are_bounded_here_too() {
        // Found by fuzzing: trailing, T = u32::MAX, N = 238 844 264 subtracted with overflow.
        let config = TimestepConfig {
            num_inference_steps: 238_844_264,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        for train in [0, MAX_TRAIN_TIMESTEPS + 1, u32::MAX] {
            let expected = Error::InvalidTrainTimesteps {
                num_train_timesteps: train,
            };
            assert_eq!(config.validate(train), Err(expected));
            assert_eq!(config.timestep(train, 0), Err(expected));
            assert!(config.timesteps(train).is_err());
        }
    }

    #[test]
    fn every_spacing_stays_in_range_up_to_the_bound() {
        let train = MAX_TRAIN_TIMESTEPS;
        for spacing in [
            TimestepSpacing::Linspace,
            TimestepSpacing::Leading,
            TimestepSpacing::Trailing,
        ] {
            for steps in [
                1,
                2,
                3,
                7,
                61,
                999,
                4093,
                65_537,
                train / 3,
                train - 1,
                train,
            ] {
                let config = TimestepConfig {
                    num_inference_steps: steps,
                    spacing,
                    steps_offset: 0,
                };
                let mut previous = u32::MAX;
                for timestep in config.timesteps(train).unwrap() {
                    assert!(
                        timestep < train && timestep < previous,
                        "{spacing:?} N={steps}: {timestep} after {previous}"
                    );
                    previous = timestep;
                }
            }
        }
    }
}
