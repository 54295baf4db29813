//! Where a step sits on the noise schedule, in the variables the multistep solvers (DPM-Solver,
//! UniPC) work in: α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), λ_t = ln α_t − ln σ_t ([`Point`], f64), and the
//! f32 value a plan stores for it ([`Level`]: ᾱ of a training timestep, or a sigma). Shared by
//! `dpm_solver`, `unipc` and `multistep`, which is why it has a file of its own: none of them
//! imports another for it.

/// Where a step of a multistep plan sits on the noise schedule, in the form diffusers keeps it
/// there: ᾱ of a training timestep (from the f32 table), or a sigma of a Karras, exponential or
/// beta schedule (diffusers' f32 `sigmas`, whose α_t = 1/√(σ² + 1) and σ_t = σ·α_t).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Level {
    /// ᾱ at a training timestep.
    AlphaCumprod(f32),
    /// σ = √((1 − ᾱ)/ᾱ) of a sigma schedule.
    Sigma(f32),
}

impl Default for Level {
    fn default() -> Self {
        Level::AlphaCumprod(1.0)
    }
}

/// Whether a step can hold [`Level::Sigma`]: only [`fill_sigma_points`] makes one, and without
/// the `sigma-schedules` feature it refuses every sigma schedule first. The `Level` methods'
/// `Sigma` arms are guarded by this constant so that a core built without the feature links none
/// of their code (a Cortex-M4F firmware's flash); the unguarded arm is then never reached.
const SIGMA_LEVELS: bool = cfg!(feature = "sigma-schedules");

impl Level {
    /// α, σ and λ in f64.
    pub(crate) fn point(self) -> Point {
        match self {
            Level::Sigma(sigma) if SIGMA_LEVELS => Point::from_sigma(sigma as f64),
            Level::AlphaCumprod(alpha_cumprod) | Level::Sigma(alpha_cumprod) => {
                Point::new(alpha_cumprod as f64)
            }
        }
    }

    /// ᾱ in f64, for the conversion of the model output: 1/(σ² + 1) for a sigma.
    pub(crate) fn alpha_cumprod(self) -> f64 {
        match self {
            Level::Sigma(sigma) if SIGMA_LEVELS => {
                let sigma = sigma as f64;
                1.0 / (sigma * sigma + 1.0)
            }
            Level::AlphaCumprod(alpha_cumprod) | Level::Sigma(alpha_cumprod) => {
                alpha_cumprod as f64
            }
        }
    }

    /// diffusers' sigma √((1 − ᾱ)/ᾱ), f32.
    pub(crate) fn sigma(self) -> f32 {
        match self {
            Level::Sigma(sigma) if SIGMA_LEVELS => sigma,
            Level::AlphaCumprod(alpha_cumprod) | Level::Sigma(alpha_cumprod) => {
                sigma_of(alpha_cumprod)
            }
        }
    }
}

/// A point of the noise schedule in the solver's variables, in f64.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    pub(crate) alpha: f64,
    pub(crate) sigma: f64,
    pub(crate) lambda: f64,
}

impl Point {
    /// α = √ᾱ, σ = √(1 − ᾱ), λ = ln α − ln σ (+∞ at σ = 0).
    pub(crate) fn new(alpha_cumprod: f64) -> Point {
        let alpha = libm::sqrt(alpha_cumprod);
        let sigma = libm::sqrt(1.0 - alpha_cumprod);
        let lambda = if sigma == 0.0 {
            f64::INFINITY
        } else {
            libm::log(alpha) - libm::log(sigma)
        };
        Point {
            alpha,
            sigma,
            lambda,
        }
    }

    /// The point of diffusers' sigma s (`_sigma_to_alpha_sigma_t`): α = 1/√(s² + 1), σ = s·α,
    /// λ = ln α − ln σ (+∞ at s = 0).
    pub(crate) fn from_sigma(sigma: f64) -> Point {
        let alpha = 1.0 / libm::sqrt(sigma * sigma + 1.0);
        let sigma = sigma * alpha;
        let lambda = if sigma == 0.0 {
            f64::INFINITY
        } else {
            libm::log(alpha) - libm::log(sigma)
        };
        Point {
            alpha,
            sigma,
            lambda,
        }
    }
}

/// diffusers' sigma √((1 − ᾱ)/ᾱ), from the f32 ᾱ in f64.
pub(crate) fn sigma_of(alpha_cumprod: f32) -> f32 {
    let a = alpha_cumprod as f64;
    libm::sqrt((1.0 - a) / a) as f32
}
