//! Noise schedules: β_t for t = 0..T and the cumulative product ᾱ_t = ∏_{s≤t} (1 − β_s).
//!
//! Everything is computed in f64 and only the values a caller keeps are rounded to f32. Rounding β
//! to f32 first and accumulating the product in f32 (as diffusers does) drifts from the exact
//! values by up to 3.8e-5 relative (`scaled_linear` with the zero-SNR rescale, near t = T − 2;
//! 1.3e-5 at the cosine schedule's last ᾱ). Every f32 ᾱ here is a float64 reference rounded to
//! f32: 0 ULP apart in the golden tests, for every schedule at T = 1000 and T = 777.
//!
//! The schedule is streamed ([`AlphasCumprod`] is an iterator), so building a 25-step plan keeps
//! 25 values, never a table of T: that is what lets an edge build carry only what its plan uses.
//! [`fill_alphas_cumprod`] writes the whole table where a caller wants it.
//!
//! ```
//! use diffusion_core::{fill_alphas_cumprod, BetaSchedule, ScheduleConfig};
//!
//! // Stable Diffusion's schedule, rescaled to zero terminal SNR.
//! let config = ScheduleConfig {
//!     num_train_timesteps: 1000,
//!     beta_schedule: BetaSchedule::from_name("scaled_linear", 0.00085, 0.012)?,
//!     rescale_betas_zero_snr: true,
//! };
//! let mut alphas_cumprod = [0.0f32; 1000];
//! fill_alphas_cumprod(&config, &mut alphas_cumprod)?;
//! assert_eq!((alphas_cumprod[0], alphas_cumprod[999]), (0.99915, 0.0));
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::str::FromStr;

use crate::error::{Error, NameKind, SliceKind};

/// The largest `num_train_timesteps` accepted. Plans stream the schedule in O(T), so this only
/// bounds the time a plan takes to build.
///
/// ```
/// use diffusion_core::{Error, ScheduleConfig, MAX_TRAIN_TIMESTEPS};
///
/// let too_long = ScheduleConfig { num_train_timesteps: MAX_TRAIN_TIMESTEPS + 1, ..ScheduleConfig::default() };
/// assert_eq!(too_long.validate(), Err(Error::InvalidTrainTimesteps { num_train_timesteps: (1 << 20) + 1 }));
/// ```
pub const MAX_TRAIN_TIMESTEPS: u32 = 1 << 20;

/// How β_t is laid out over the T training timesteps (diffusers' `beta_schedule`).
///
/// ```
/// use diffusion_core::{BetaSchedule, ScheduleConfig};
///
/// let config = ScheduleConfig {
///     beta_schedule: BetaSchedule::ScaledLinear { beta_start: 0.00085, beta_end: 0.012 }, // Stable Diffusion
///     ..ScheduleConfig::default()
/// };
/// assert!((config.beta(999) - 0.012).abs() < 1e-12);
///
/// let betas = [0.1f32, 0.2, 0.3];
/// let trained = ScheduleConfig { num_train_timesteps: 3, beta_schedule: BetaSchedule::Trained(&betas), ..config };
/// assert_eq!(trained.beta(1), 0.2f32 as f64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum BetaSchedule<'a> {
    /// `linear`: β_t = β₀ + (β₁ − β₀)·t/(T − 1) (Ho et al. 2020).
    Linear {
        /// β at t = 0 (diffusers `beta_start`).
        beta_start: f64,
        /// β at t = T − 1 (diffusers `beta_end`).
        beta_end: f64,
    },
    /// `scaled_linear`: β_t = (√β₀ + (√β₁ − √β₀)·t/(T − 1))² (latent diffusion).
    ScaledLinear {
        /// β at t = 0.
        beta_start: f64,
        /// β at t = T − 1.
        beta_end: f64,
    },
    /// `squaredcos_cap_v2`: ᾱ(u) = cos²((u + 0.008)/1.008 · π/2),
    /// β_t = min(1 − ᾱ((t+1)/T)/ᾱ(t/T), 0.999) (Nichol & Dhariwal 2021). Float division
    /// throughout: ᾱ_999 ≈ 2.4e-9 at T = 1000.
    SquaredCosCapV2,
    /// `sigmoid`: β_t = σ(−6 + 12·t/(T − 1))·(β₁ − β₀) + β₀ (GeoDiff).
    Sigmoid {
        /// Lower end of the sigmoid.
        beta_start: f64,
        /// Upper end of the sigmoid.
        beta_end: f64,
    },
    /// Caller-given betas (diffusers `trained_betas`), one per training timestep, each in (0, 1).
    Trained(&'a [f32]),
}

/// The parameters of a noise schedule.
///
/// ```
/// use diffusion_core::{BetaSchedule, ScheduleConfig};
///
/// let config = ScheduleConfig {
///     num_train_timesteps: 1000,
///     beta_schedule: BetaSchedule::SquaredCosCapV2,
///     rescale_betas_zero_snr: false,
/// };
/// let (t, last) = config.alphas_cumprod()?.last().unwrap();
/// assert_eq!(t, 999);
/// assert!(last > 2.0e-9 && last < 3.0e-9); // float division: not 1e-3
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleConfig<'a> {
    /// T, the number of training timesteps (diffusers `num_train_timesteps`), in
    /// 1..=[`MAX_TRAIN_TIMESTEPS`] (at least 2 with the zero-SNR rescale).
    pub num_train_timesteps: u32,
    /// The β layout.
    pub beta_schedule: BetaSchedule<'a>,
    /// Rescale to zero terminal SNR (Lin et al. 2023, Alg. 1; diffusers `rescale_betas_zero_snr`):
    /// `√ᾱ'_t = (√ᾱ_t − √ᾱ_{T−1}) · √ᾱ_0 / (√ᾱ_0 − √ᾱ_{T−1})`, so `ᾱ'_{T−1} = 0` and
    /// `ᾱ'_0 = ᾱ_0`. Undefined when `√ᾱ_0 = √ᾱ_{T−1}` (T = 1, or betas below f64 resolution),
    /// which validation refuses.
    pub rescale_betas_zero_snr: bool,
}

impl Default for ScheduleConfig<'_> {
    /// diffusers' defaults: T = 1000, `linear` from 1e-4 to 0.02, no rescale.
    fn default() -> Self {
        ScheduleConfig {
            num_train_timesteps: 1000,
            beta_schedule: BetaSchedule::Linear {
                beta_start: 1e-4,
                beta_end: 0.02,
            },
            rescale_betas_zero_snr: false,
        }
    }
}

impl<'a> BetaSchedule<'a> {
    /// Builds a schedule from its diffusers name; `beta_start`/`beta_end` are used by the names
    /// that take them. Caller-given betas have no name: use [`BetaSchedule::Trained`].
    ///
    /// ```
    /// use diffusion_core::{BetaSchedule, Error, NameKind};
    ///
    /// assert_eq!(
    ///     BetaSchedule::from_name("linear", 1e-4, 0.02),
    ///     Ok(BetaSchedule::Linear { beta_start: 1e-4, beta_end: 0.02 })
    /// );
    /// assert_eq!(BetaSchedule::from_name("cosine", 0.0, 0.0), Err(Error::UnknownName(NameKind::BetaSchedule)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownName`] for a name other than `linear`, `scaled_linear`, `squaredcos_cap_v2`
    /// and `sigmoid`. The range is checked later, by [`ScheduleConfig::validate`].
    pub fn from_name(name: &str, beta_start: f64, beta_end: f64) -> Result<Self, Error> {
        match BetaScheduleName::from_str(name)? {
            BetaScheduleName::Linear => Ok(BetaSchedule::Linear {
                beta_start,
                beta_end,
            }),
            BetaScheduleName::ScaledLinear => Ok(BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            }),
            BetaScheduleName::SquaredCosCapV2 => Ok(BetaSchedule::SquaredCosCapV2),
            BetaScheduleName::Sigmoid => Ok(BetaSchedule::Sigmoid {
                beta_start,
                beta_end,
            }),
        }
    }
}

/// The names diffusers gives its parametric schedules.
///
/// ```
/// use diffusion_core::schedule::BetaScheduleName;
///
/// assert_eq!("squaredcos_cap_v2".parse(), Ok(BetaScheduleName::SquaredCosCapV2));
/// assert!("cosine".parse::<BetaScheduleName>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BetaScheduleName {
    /// `linear`
    Linear,
    /// `scaled_linear`
    ScaledLinear,
    /// `squaredcos_cap_v2`
    SquaredCosCapV2,
    /// `sigmoid`
    Sigmoid,
}

impl FromStr for BetaScheduleName {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "linear" => Ok(BetaScheduleName::Linear),
            "scaled_linear" => Ok(BetaScheduleName::ScaledLinear),
            "squaredcos_cap_v2" => Ok(BetaScheduleName::SquaredCosCapV2),
            "sigmoid" => Ok(BetaScheduleName::Sigmoid),
            _ => Err(Error::UnknownName(NameKind::BetaSchedule)),
        }
    }
}

impl ScheduleConfig<'_> {
    /// Checks every parameter; a config that passes yields finite β in (0, 1) for every t and,
    /// with the zero-SNR rescale, a finite ᾱ for every t (an O(T) pass over the schedule).
    ///
    /// ```
    /// use diffusion_core::{BetaSchedule, Error, ScheduleConfig};
    ///
    /// assert_eq!(ScheduleConfig::default().validate(), Ok(()));
    /// let reversed = ScheduleConfig {
    ///     beta_schedule: BetaSchedule::Linear { beta_start: 0.02, beta_end: 1e-4 },
    ///     ..ScheduleConfig::default()
    /// };
    /// assert_eq!(reversed.validate(), Err(Error::InvalidBetaRange { beta_start: 0.02, beta_end: 1e-4 }));
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTrainTimesteps`]: T is 0, above [`MAX_TRAIN_TIMESTEPS`], or 1 with the
    ///   zero-SNR rescale.
    /// - [`Error::InvalidBetaRange`]: not `0 < beta_start <= beta_end < 1`, or not finite.
    /// - [`Error::TrainedBetasLength`], [`Error::InvalidTrainedBeta`]: caller-given betas that are not
    ///   T values in (0, 1).
    /// - [`Error::DegenerateSchedule`]: the zero-SNR rescale with `√ᾱ_0 = √ᾱ_{T−1}`.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_parameters()?;
        self.zero_snr_rescale().map(|_| ())
    }

    /// The O(1) part of [`Self::validate`]: everything but the rescale's endpoints.
    fn validate_parameters(&self) -> Result<(), Error> {
        let t = self.num_train_timesteps;
        // The rescale maps √ᾱ_0 to itself and √ᾱ_{T−1} to 0: with T = 1 they are one value.
        let minimum = if self.rescale_betas_zero_snr { 2 } else { 1 };
        if t < minimum || t > MAX_TRAIN_TIMESTEPS {
            return Err(Error::InvalidTrainTimesteps {
                num_train_timesteps: t,
            });
        }
        match self.beta_schedule {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            }
            | BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            }
            | BetaSchedule::Sigmoid {
                beta_start,
                beta_end,
            } => {
                let valid = beta_start.is_finite()
                    && beta_end.is_finite()
                    && beta_start > 0.0
                    && beta_start <= beta_end
                    && beta_end < 1.0;
                if !valid {
                    return Err(Error::InvalidBetaRange {
                        beta_start,
                        beta_end,
                    });
                }
            }
            BetaSchedule::SquaredCosCapV2 => {}
            BetaSchedule::Trained(betas) => {
                if betas.len() != t as usize {
                    return Err(Error::TrainedBetasLength {
                        expected: t as usize,
                        actual: betas.len(),
                    });
                }
                if let Some(index) = betas.iter().position(|&b| !(b > 0.0 && b < 1.0)) {
                    return Err(Error::InvalidTrainedBeta { index });
                }
            }
        }
        Ok(())
    }

    /// β_t in f64, before any zero-SNR rescale. `t` must be below T (callers iterate `0..T`).
    ///
    /// ```
    /// use diffusion_core::ScheduleConfig;
    ///
    /// let linear = ScheduleConfig::default(); // 1e-4 to 0.02 over 1000 timesteps
    /// assert_eq!(linear.beta(0), 1e-4);
    /// assert!((linear.beta(999) - 0.02).abs() < 1e-15);
    /// ```
    #[must_use]
    #[inline(always)]
    pub fn beta(&self, t: u32) -> f64 {
        let steps = self.num_train_timesteps;
        // Position along the schedule, 0 at t = 0 and 1 at t = T − 1 (numpy's linspace endpoints).
        let fraction = if steps > 1 {
            t as f64 / (steps - 1) as f64
        } else {
            0.0
        };
        match self.beta_schedule {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => beta_start + (beta_end - beta_start) * fraction,
            BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            } => {
                let (low, high) = (libm::sqrt(beta_start), libm::sqrt(beta_end));
                let root = low + (high - low) * fraction;
                root * root
            }
            BetaSchedule::SquaredCosCapV2 => {
                let steps = steps as f64;
                let ratio =
                    cosine_alpha_bar((t as f64 + 1.0) / steps) / cosine_alpha_bar(t as f64 / steps);
                let beta = 1.0 - ratio;
                if beta < 0.999 { beta } else { 0.999 }
            }
            BetaSchedule::Sigmoid {
                beta_start,
                beta_end,
            } => {
                let x = -6.0 + 12.0 * fraction;
                let sigmoid = 1.0 / (1.0 + libm::exp(-x));
                sigmoid * (beta_end - beta_start) + beta_start
            }
            BetaSchedule::Trained(betas) => betas.get(t as usize).map_or(f64::NAN, |&b| b as f64),
        }
    }

    /// Streams ᾱ_t in f64 for t = 0..T (rescaled when asked). Validates first.
    ///
    /// ```
    /// use diffusion_core::ScheduleConfig;
    ///
    /// let zero_snr = ScheduleConfig { rescale_betas_zero_snr: true, ..ScheduleConfig::default() };
    /// let mut alphas_cumprod = zero_snr.alphas_cumprod()?;
    /// assert!((alphas_cumprod.next().unwrap().1 - 0.9999).abs() < 1e-15); // ᾱ_0 is kept
    /// assert_eq!(alphas_cumprod.last(), Some((999, 0.0))); // zero terminal SNR
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`ScheduleConfig::validate`].
    #[inline(always)]
    pub fn alphas_cumprod(&self) -> Result<AlphasCumprod<'_>, Error> {
        self.validate_parameters()?;
        let rescale = self.zero_snr_rescale()?;
        Ok(AlphasCumprod {
            config: self,
            next_t: 0,
            product: 1.0,
            rescale,
        })
    }

    /// The rescale's constants, after one pass over the schedule. √ᾱ_0 = √ᾱ_{T−1} (betas so
    /// small that 1 − β rounds to 1 in f64) would divide by zero and make every ᾱ NaN.
    #[inline(always)]
    fn zero_snr_rescale(&self) -> Result<Option<ZeroSnrRescale>, Error> {
        if !self.rescale_betas_zero_snr {
            return Ok(None);
        }
        let mut first = 0.0;
        let mut product = 1.0;
        for t in 0..self.num_train_timesteps {
            product *= 1.0 - self.beta(t);
            if t == 0 {
                first = product;
            }
        }
        let (sqrt_first, sqrt_last) = (libm::sqrt(first), libm::sqrt(product));
        let scale = sqrt_first / (sqrt_first - sqrt_last);
        if !(sqrt_first > sqrt_last && scale.is_finite()) {
            return Err(Error::DegenerateSchedule {
                timestep: self.num_train_timesteps.saturating_sub(1),
            });
        }
        Ok(Some(ZeroSnrRescale { sqrt_last, scale }))
    }
}

/// ᾱ(u) = cos²((u + 0.008)/1.008 · π/2), the continuous-time cosine schedule.
fn cosine_alpha_bar(u: f64) -> f64 {
    let c = libm::cos((u + 0.008) / 1.008 * core::f64::consts::FRAC_PI_2);
    c * c
}

#[derive(Clone, Copy, Debug)]
struct ZeroSnrRescale {
    sqrt_last: f64,
    scale: f64,
}

/// Iterator over (t, ᾱ_t) in f64 for t = 0..T; see [`ScheduleConfig::alphas_cumprod`].
///
/// ```
/// use diffusion_core::ScheduleConfig;
///
/// let config = ScheduleConfig::default();
/// let mut alphas_cumprod = config.alphas_cumprod()?;
/// assert_eq!(alphas_cumprod.len(), 1000);
/// assert_eq!(alphas_cumprod.next(), Some((0, 1.0 - 1e-4)));
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Clone, Debug)]
pub struct AlphasCumprod<'c> {
    config: &'c ScheduleConfig<'c>,
    next_t: u32,
    product: f64,
    rescale: Option<ZeroSnrRescale>,
}

impl Iterator for AlphasCumprod<'_> {
    type Item = (u32, f64);

    #[inline(always)]
    fn next(&mut self) -> Option<(u32, f64)> {
        let t = self.next_t;
        if t >= self.config.num_train_timesteps {
            return None;
        }
        self.next_t += 1;
        self.product *= 1.0 - self.config.beta(t);
        let alpha_cumprod = match self.rescale {
            None => self.product,
            Some(ZeroSnrRescale { sqrt_last, scale }) => {
                let root = (libm::sqrt(self.product) - sqrt_last) * scale;
                root * root
            }
        };
        Some((t, alpha_cumprod))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.config.num_train_timesteps - self.next_t) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for AlphasCumprod<'_> {}

/// Writes ᾱ_t (rounded to f32) for t = 0..T into `out`, whose length must be T
/// (diffusers `scheduler.alphas_cumprod`).
///
/// ```
/// use diffusion_core::{fill_alphas_cumprod, BetaSchedule, ScheduleConfig};
///
/// let config = ScheduleConfig {
///     num_train_timesteps: 4,
///     beta_schedule: BetaSchedule::Trained(&[0.5; 4]),
///     ..ScheduleConfig::default()
/// };
/// let mut alphas_cumprod = [0.0f32; 4];
/// fill_alphas_cumprod(&config, &mut alphas_cumprod)?;
/// assert_eq!(alphas_cumprod, [0.5, 0.25, 0.125, 0.0625]);
/// # Ok::<(), diffusion_core::Error>(())
/// ```
///
/// # Errors
///
/// Those of [`ScheduleConfig::validate`], and [`Error::LengthMismatch`] (naming
/// [`SliceKind::AlphasCumprod`]) when `out.len()` is not T.
pub fn fill_alphas_cumprod(config: &ScheduleConfig<'_>, out: &mut [f32]) -> Result<(), Error> {
    let expected = config.num_train_timesteps as usize;
    config.validate_parameters()?;
    if out.len() != expected {
        return Err(Error::LengthMismatch {
            slice: SliceKind::AlphasCumprod,
            expected,
            actual: out.len(),
        });
    }
    for ((_, alpha_cumprod), slot) in config.alphas_cumprod()?.zip(out.iter_mut()) {
        *slot = alpha_cumprod as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_alpha_cumprod(config: &ScheduleConfig<'_>) -> f64 {
        config.alphas_cumprod().unwrap().last().unwrap().1
    }

    #[test]
    fn cosine_uses_float_division() {
        let config = ScheduleConfig {
            beta_schedule: BetaSchedule::SquaredCosCapV2,
            ..ScheduleConfig::default()
        };
        let last = last_alpha_cumprod(&config);
        // Integer division (t/T = 0) would give ᾱ_999 ≈ 1e-3; the real value is about 2.4e-9.
        assert!(
            last > 2.0e-9 && last < 3.0e-9,
            "alpha_cumprod[999] = {last:e}"
        );
    }

    #[test]
    fn zero_snr_rescale_pins_both_ends() {
        let plain = ScheduleConfig::default();
        let rescaled = ScheduleConfig {
            rescale_betas_zero_snr: true,
            ..plain
        };
        let first_plain = plain.alphas_cumprod().unwrap().next().unwrap().1;
        let first_rescaled = rescaled.alphas_cumprod().unwrap().next().unwrap().1;
        assert!((first_plain - first_rescaled).abs() < 1e-15);
        assert_eq!(last_alpha_cumprod(&rescaled), 0.0);
    }

    #[test]
    fn linear_betas_hit_both_ends() {
        let config = ScheduleConfig::default();
        assert_eq!(config.beta(0), 1e-4);
        assert!((config.beta(999) - 0.02).abs() < 1e-18);
    }

    #[test]
    fn single_timestep_schedule_uses_beta_start() {
        let config = ScheduleConfig {
            num_train_timesteps: 1,
            ..ScheduleConfig::default()
        };
        assert_eq!(config.beta(0), 1e-4);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        let bad = [
            ScheduleConfig {
                num_train_timesteps: 0,
                ..ScheduleConfig::default()
            },
            ScheduleConfig {
                beta_schedule: BetaSchedule::Linear {
                    beta_start: 0.02,
                    beta_end: 1e-4,
                },
                ..ScheduleConfig::default()
            },
            ScheduleConfig {
                beta_schedule: BetaSchedule::ScaledLinear {
                    beta_start: f64::NAN,
                    beta_end: 0.1,
                },
                ..ScheduleConfig::default()
            },
            ScheduleConfig {
                beta_schedule: BetaSchedule::Sigmoid {
                    beta_start: 0.1,
                    beta_end: 1.0,
                },
                ..ScheduleConfig::default()
            },
            ScheduleConfig {
                num_train_timesteps: 2,
                beta_schedule: BetaSchedule::Trained(&[0.1]),
                rescale_betas_zero_snr: false,
            },
            ScheduleConfig {
                num_train_timesteps: 2,
                beta_schedule: BetaSchedule::Trained(&[0.1, 0.0]),
                rescale_betas_zero_snr: false,
            },
        ];
        for config in bad {
            assert!(config.alphas_cumprod().is_err(), "{config:?} accepted");
        }
        let mut short = [0.0f32; 3];
        assert_eq!(
            fill_alphas_cumprod(&ScheduleConfig::default(), &mut short),
            Err(Error::LengthMismatch {
                slice: SliceKind::AlphasCumprod,
                expected: 1000,
                actual: 3
            })
        );
    }

    #[test]
    fn zero_snr_rescale_refuses_equal_endpoints() {
        // √ᾱ_0 = √ᾱ_{T−1} made the rescale 0/0: Ok with NaN everywhere.
        let one_step = ScheduleConfig {
            num_train_timesteps: 1,
            rescale_betas_zero_snr: true,
            ..ScheduleConfig::default()
        };
        let expected = Error::InvalidTrainTimesteps {
            num_train_timesteps: 1,
        };
        assert_eq!(one_step.validate(), Err(expected));
        assert_eq!(one_step.alphas_cumprod().err(), Some(expected));
        assert_eq!(fill_alphas_cumprod(&one_step, &mut [0.0]), Err(expected));
        // 1 − 1e-20 is 1 in f64: the product never moves.
        let tiny = ScheduleConfig {
            num_train_timesteps: 10,
            beta_schedule: BetaSchedule::Linear {
                beta_start: 1e-20,
                beta_end: 1e-20,
            },
            rescale_betas_zero_snr: true,
        };
        let expected = Error::DegenerateSchedule { timestep: 9 };
        assert_eq!(tiny.validate(), Err(expected));
        assert_eq!(tiny.alphas_cumprod().err(), Some(expected));
        assert_eq!(fill_alphas_cumprod(&tiny, &mut [0.0; 10]), Err(expected));
        let trained = ScheduleConfig {
            num_train_timesteps: 3,
            beta_schedule: BetaSchedule::Trained(&[1e-30; 3]),
            rescale_betas_zero_snr: true,
        };
        assert_eq!(
            trained.validate(),
            Err(Error::DegenerateSchedule { timestep: 2 })
        );
        // Without the rescale the same betas are valid (the plan refuses ᾱ = 1 later).
        let plain = ScheduleConfig {
            rescale_betas_zero_snr: false,
            ..tiny
        };
        assert!(plain.alphas_cumprod().unwrap().all(|(_, a)| a == 1.0));
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            BetaSchedule::from_name("scaled_linear", 0.1, 0.2),
            Ok(BetaSchedule::ScaledLinear {
                beta_start: 0.1,
                beta_end: 0.2
            })
        );
        assert_eq!(
            BetaSchedule::from_name("cosine", 0.1, 0.2),
            Err(Error::UnknownName(NameKind::BetaSchedule))
        );
    }
}
