//! Sigma schedules of the sigma-space samplers (Euler, Euler ancestral), as diffusers 0.42.1's
//! `EulerDiscreteScheduler.set_timesteps` computes them.
//!
//! diffusers' sigma of training timestep t is σ_t = √((1 − ᾱ_t)/ᾱ_t) (x_t/√ᾱ_t = x₀ + σ_t·ε).
//! A run of N steps first takes the timesteps of its spacing (`linspace` unrounded, so fractional)
//! and their sigmas by linear interpolation between training timesteps (`numpy.interp`,
//! `interpolation_type = "linear"`). That is [`SigmaSchedule::Interpolated`]. The other schedules
//! keep only the first and last of those sigmas, σ_max and σ_min (or the config's `sigma_max`,
//! `sigma_min`), space N sigmas between them by their own rule, and map each sigma back to a
//! fractional timestep (diffusers' `_sigma_to_t`): with L_i = ln σ_i (stored in f32, as diffusers
//! keeps it), i the last training timestep with L_i ≤ ln σ (clamped to 0 … T − 2),
//!
//! ```text
//! w = clamp((L_i − ln σ)/(L_i − L_{i+1}), 0, 1),   t = (1 − w)·i + w·(i + 1)
//! ```
//!
//! so a sigma below σ_0 maps to t = 0 and one above σ_{T−1} to T − 1.
//!
//! ```
//! use diffusion_core::SigmaSchedule;
//!
//! // Karras et al. (2022), ρ = 7: the first and last sigmas are the range's ends.
//! let (min, max) = (0.1, 80.0);
//! assert_eq!(SigmaSchedule::Karras.sigma(0, 10, min, max), Some(80.0));
//! let last = SigmaSchedule::Karras.sigma(9, 10, min, max).unwrap();
//! assert!((last - 0.1).abs() < 1e-15);
//! assert_eq!(SigmaSchedule::Interpolated.sigma(0, 10, min, max), None);
//! ```

use crate::error::Error;
use crate::schedule::ScheduleConfig;

/// How the N sigmas of a run are chosen (diffusers `use_karras_sigmas`, `use_exponential_sigmas`,
/// `use_beta_sigmas`, at most one of which may be set; none set is [`Self::Interpolated`]).
///
/// ```
/// use diffusion_core::{EulerConfig, SigmaSchedule};
///
/// // use_karras_sigmas = True
/// let config = EulerConfig { sigma_schedule: SigmaSchedule::Karras, ..EulerConfig::default() };
/// assert_eq!(EulerConfig::default().sigma_schedule, SigmaSchedule::Interpolated);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SigmaSchedule {
    /// The sigmas at the spacing's timesteps, linearly interpolated between training timesteps
    /// (`interpolation_type = "linear"`, no `use_*_sigmas`); the timesteps are the spacing's.
    #[default]
    Interpolated,
    /// `use_karras_sigmas`: σ_k = (σ_max^{1/ρ} + r_k·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ with ρ = 7 and
    /// r = linspace(0, 1, N) (Karras et al. 2022, eq. 5).
    Karras,
    /// `use_exponential_sigmas`: σ_k = exp(linspace(ln σ_max, ln σ_min, N)_k), evenly spaced in
    /// log sigma.
    Exponential,
    /// `use_beta_sigmas`: σ_k = σ_min + F⁻¹(1 − linspace(0, 1, N)_k)·(σ_max − σ_min), F⁻¹ the
    /// quantile function of the Beta(0.6, 0.6) distribution (Lee et al. 2024; diffusers calls
    /// `scipy.stats.beta.ppf`), which puts more steps at both ends.
    Beta,
}

impl SigmaSchedule {
    /// Sigma `index` of `count` between `sigma_min` and `sigma_max` (descending), in f64 as
    /// diffusers computes it; `None` for [`Self::Interpolated`], whose sigmas come from the
    /// timesteps instead.
    ///
    /// ```
    /// use diffusion_core::SigmaSchedule;
    ///
    /// let exponential = SigmaSchedule::Exponential.sigma(1, 3, 1.0, 100.0).unwrap();
    /// assert!((exponential - 10.0).abs() < 1e-12); // the geometric middle
    /// let beta = SigmaSchedule::Beta.sigma(1, 3, 1.0, 100.0).unwrap();
    /// assert!((beta - 50.5).abs() < 1e-9); // Beta(0.6, 0.6) is symmetric: its median is ½
    /// ```
    #[must_use]
    pub fn sigma(self, index: usize, count: usize, sigma_min: f64, sigma_max: f64) -> Option<f64> {
        let ramp = numpy_linspace(0.0, 1.0, count, index);
        match self {
            SigmaSchedule::Interpolated => None,
            SigmaSchedule::Karras => {
                let inverse_rho = 1.0 / KARRAS_RHO;
                let max_inv_rho = libm::pow(sigma_max, inverse_rho);
                let min_inv_rho = libm::pow(sigma_min, inverse_rho);
                Some(libm::pow(
                    max_inv_rho + ramp * (min_inv_rho - max_inv_rho),
                    KARRAS_RHO,
                ))
            }
            SigmaSchedule::Exponential => Some(libm::exp(numpy_linspace(
                libm::log(sigma_max),
                libm::log(sigma_min),
                count,
                index,
            ))),
            SigmaSchedule::Beta => {
                let quantile = beta_quantile(1.0 - ramp, BETA_SHAPE, BETA_SHAPE);
                Some(sigma_min + quantile * (sigma_max - sigma_min))
            }
        }
    }
}

/// ρ of the Karras schedule (diffusers' fixed value, "the value used in the paper").
const KARRAS_RHO: f64 = 7.0;
/// α = β of the Beta-distribution schedule (diffusers' `_convert_to_beta` defaults).
const BETA_SHAPE: f64 = 0.6;

/// Element `index` of `numpy.linspace(start, stop, count)`: index·step + start with
/// step = (stop − start)/(count − 1), the last element exactly `stop`, and `start` alone for a
/// count of 1.
pub(crate) fn numpy_linspace(start: f64, stop: f64, count: usize, index: usize) -> f64 {
    if count <= 1 {
        return start;
    }
    if index + 1 == count {
        return stop;
    }
    let divisions = (count - 1) as f64;
    let step = (stop - start) / divisions;
    if step == 0.0 {
        // numpy: y / div · delta when the step underflows to 0.
        return index as f64 / divisions * (stop - start) + start;
    }
    index as f64 * step + start
}

/// `numpy.interp` between two neighbouring training sigmas: `lower` at ⌊t⌋, `upper` at ⌊t⌋ + 1,
/// `fraction` = t − ⌊t⌋; exactly `lower` at an integer t (as numpy).
pub(crate) fn interpolate(lower: f32, upper: f32, fraction: f64) -> f64 {
    let lower = lower as f64;
    if fraction == 0.0 {
        lower
    } else {
        (upper as f64 - lower) * fraction + lower
    }
}

/// diffusers' `_sigma_to_t` once the bracketing training timestep `low` (0 … T − 2) is known:
/// `log_low`, `log_high` are L_low and L_{low+1} (f32, as diffusers' `log_sigmas`).
pub(crate) fn fractional_timestep(log_sigma: f64, low: u32, log_low: f32, log_high: f32) -> f64 {
    let (log_low, log_high) = (log_low as f64, log_high as f64);
    let mut weight = (log_low - log_sigma) / (log_low - log_high);
    // numpy.clip keeps NaN (equal neighbours); so does this, and unlike `f64::clamp` it has no
    // panic path to link into firmware.
    #[allow(clippy::manual_clamp)]
    if weight < 0.0 {
        weight = 0.0;
    } else if weight > 1.0 {
        weight = 1.0;
    }
    (1.0 - weight) * low as f64 + weight * (low + 1) as f64
}

/// ln σ as diffusers' `_sigma_to_t` takes it: `np.log(np.maximum(sigma, 1e-10))`.
pub(crate) fn log_sigma(sigma: f64) -> f64 {
    libm::log(if sigma > 1e-10 { sigma } else { 1e-10 })
}

/// σ_t = √((1 − ᾱ_t)/ᾱ_t) of every training timestep, ascending, in f32 (from the f32 ᾱ in f64);
/// with `rescale_betas_zero_snr`, ᾱ_{T−1} = 2⁻²⁴ as diffusers sets it.
pub(crate) fn training_sigmas<'s>(
    schedule: &'s ScheduleConfig<'s>,
) -> Result<impl Iterator<Item = (u32, f32)> + 's, Error> {
    let last = schedule.num_train_timesteps - 1;
    let rescale = schedule.rescale_betas_zero_snr;
    Ok(schedule.alphas_cumprod()?.map(move |(t, alpha_cumprod)| {
        let mut alpha_cumprod = alpha_cumprod as f32;
        if rescale && t == last {
            alpha_cumprod = libm::ldexpf(1.0, -24);
        }
        let a = alpha_cumprod as f64;
        (t, libm::sqrt((1.0 - a) / a) as f32)
    }))
}

/// diffusers' `_sigma_to_t` for the `count` sigmas of a run, descending, given by `target(index)`
/// (in f64, before they are stored as f32): calls `set(index, t)` with each fractional timestep,
/// in one ascending pass over the training sigmas (the run visited from its end), T ≥ 2.
///
/// diffusers brackets ln σ between the last training timestep i with L_i ≤ ln σ and i + 1,
/// clamped to 0 … T − 2. L is non-decreasing except perhaps at T − 1 (a zero-SNR ᾱ_{T−1} set to
/// 2⁻²⁴ can be above ᾱ_{T−2}). So a sigma with ln σ ≥ L_{T−1} brackets between T − 2 and T − 1;
/// any other, taken in ascending order against ascending t, brackets between t − 1 and t for the
/// first t with ln σ < L_t (0 and 1 below L_0).
pub(crate) fn sigmas_to_timesteps(
    schedule: &ScheduleConfig<'_>,
    count: usize,
    target: impl Fn(usize) -> f64,
    mut set: impl FnMut(usize, f64),
) -> Result<(), Error> {
    let train_timesteps = schedule.num_train_timesteps;
    if train_timesteps < 2 {
        return Err(Error::InvalidTrainTimesteps {
            num_train_timesteps: train_timesteps,
        });
    }
    let end_log = training_sigmas(schedule)?
        .last()
        .map_or(0.0, |(_, sigma)| libm::log(sigma as f64) as f32);
    let last_low = train_timesteps - 2;
    let mut pending = (0..count).rev();
    let with_log = |index: usize| (index, log_sigma(target(index)));
    let mut head = pending.next().map(with_log);
    let mut previous_log = 0.0f32;
    let mut lows = [0.0f32; 2];
    for (t, sigma) in training_sigmas(schedule)? {
        let log = libm::log(sigma as f64) as f32;
        if t == last_low {
            lows[0] = log;
        } else if t == last_low + 1 {
            lows[1] = log;
        }
        while let Some((index, log_target)) = head {
            if t == 0 || log_target >= log as f64 || log_target >= end_log as f64 {
                break;
            }
            set(
                index,
                fractional_timestep(log_target, t - 1, previous_log, log),
            );
            head = pending.next().map(with_log);
        }
        previous_log = log;
    }
    while let Some((index, log_target)) = head {
        set(
            index,
            fractional_timestep(log_target, last_low, lows[0], lows[1]),
        );
        head = pending.next().map(with_log);
    }
    Ok(())
}

/// The quantile function (inverse CDF) of Beta(a, b) at p, by bisection of the regularized
/// incomplete beta function to the last bit of f64 (the endpoints exact).
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (mut low, mut high) = (0.0f64, 1.0f64);
    for _ in 0..1100 {
        let middle = 0.5 * (low + high);
        if middle <= low || middle >= high {
            break;
        }
        if regularized_incomplete_beta(middle, a, b) < p {
            low = middle;
        } else {
            high = middle;
        }
    }
    0.5 * (low + high)
}

/// I_x(a, b), by the continued fraction of Numerical Recipes (§6.4), on the side of
/// x = (a + 1)/(a + b + 2) where it converges fast.
fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let log_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b)
        + a * libm::log(x)
        + b * libm::log1p(-x);
    let front = libm::exp(log_front);
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of I_x(a, b) (modified Lentz).
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if libm::fabs(v) < TINY { TINY } else { v };
    let (sum, plus, minus) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - sum * x / plus);
    let mut h = d;
    for m in 1..=1000 {
        let m = m as f64;
        let twice = 2.0 * m;
        let even = m * (b - m) * x / ((minus + twice) * (a + twice));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (sum + m) * x / ((a + twice) * (plus + twice));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if libm::fabs(delta - 1.0) < 1e-16 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_quantile_matches_scipy() {
        // scipy.stats.beta.ppf(p, 0.6, 0.6) (scipy 1.17.1).
        let scipy = [
            (0.1, 0.039_584_405_588_780_85),
            (0.25, 0.175_680_378_652_694_98),
            (0.5, 0.5),
            (0.9, 0.960_415_594_411_219_2),
            (1e-6, 1.855_882_462_405_304_3e-10),
            (0.999_999, 0.999_999_999_814_411_8),
        ];
        for (p, expected) in scipy {
            let got = beta_quantile(p, 0.6, 0.6);
            assert!(
                (got - expected).abs() <= 1e-14 * expected,
                "{p}: {got} vs {expected}"
            );
        }
        assert_eq!(beta_quantile(0.0, 0.6, 0.6), 0.0);
        assert_eq!(beta_quantile(1.0, 0.6, 0.6), 1.0);
    }

    #[test]
    fn linspace_is_numpys() {
        assert_eq!(numpy_linspace(0.0, 999.0, 1, 0), 0.0);
        assert_eq!(numpy_linspace(0.0, 999.0, 25, 24), 999.0);
        assert_eq!(numpy_linspace(0.0, 999.0, 25, 1) as f32, 41.625);
        assert_eq!(numpy_linspace(2.0, 2.0, 3, 1), 2.0);
    }
}
