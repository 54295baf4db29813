//! What the model predicts, and how x̂₀ and ε̂ follow from it (diffusers `prediction_type`).
//!
//! With a = ᾱ_t, b = 1 − ᾱ_t, x = x_t and m the model output, all three types give x̂₀ and ε̂ as
//! linear combinations of x and m, so a step precomputes the weights once and does two
//! multiply-adds per element.

use core::str::FromStr;

use crate::error::{Error, NameKind};

/// The model's output convention.
///
/// ```
/// use diffusion_core::{PredictionType, DdpmDdimConfig};
///
/// let prediction_type: PredictionType = "v_prediction".parse()?;
/// let config = DdpmDdimConfig { prediction_type, ..DdpmDdimConfig::default() };
/// assert_eq!(config.prediction_type, PredictionType::VPrediction);
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PredictionType {
    /// `epsilon`: m = ε. x̂₀ = (x − √b·m)/√a, ε̂ = m.
    #[default]
    Epsilon,
    /// `v_prediction` (Salimans & Ho 2022): m = √a·ε − √b·x₀. x̂₀ = √a·x − √b·m, ε̂ = √a·m + √b·x.
    VPrediction,
    /// `sample`: m = x₀. x̂₀ = m, ε̂ = (x − √a·m)/√b.
    Sample,
}

impl FromStr for PredictionType {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "epsilon" => Ok(PredictionType::Epsilon),
            "v_prediction" => Ok(PredictionType::VPrediction),
            "sample" => Ok(PredictionType::Sample),
            _ => Err(Error::UnknownName(NameKind::PredictionType)),
        }
    }
}

/// Weights (w_x, w_m) of a value w_x·x + w_m·m.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Linear {
    pub from_sample: f64,
    pub from_model: f64,
}

impl PredictionType {
    /// x̂₀ as a combination of x_t and the model output, at ᾱ_t = `alpha_cumprod`.
    pub(crate) fn original_sample(self, alpha_cumprod: f64) -> Linear {
        let (sqrt_a, sqrt_b) = (libm::sqrt(alpha_cumprod), libm::sqrt(1.0 - alpha_cumprod));
        match self {
            PredictionType::Epsilon => Linear {
                from_sample: 1.0 / sqrt_a,
                from_model: -sqrt_b / sqrt_a,
            },
            PredictionType::VPrediction => Linear {
                from_sample: sqrt_a,
                from_model: -sqrt_b,
            },
            PredictionType::Sample => Linear {
                from_sample: 0.0,
                from_model: 1.0,
            },
        }
    }

    /// ε̂ as a combination of x_t and the model output (from the unclipped x̂₀, as diffusers).
    pub(crate) fn epsilon(self, alpha_cumprod: f64) -> Linear {
        let (sqrt_a, sqrt_b) = (libm::sqrt(alpha_cumprod), libm::sqrt(1.0 - alpha_cumprod));
        match self {
            PredictionType::Epsilon => Linear {
                from_sample: 0.0,
                from_model: 1.0,
            },
            PredictionType::VPrediction => Linear {
                from_sample: sqrt_b,
                from_model: sqrt_a,
            },
            PredictionType::Sample => Linear {
                from_sample: 1.0 / sqrt_b,
                from_model: -sqrt_a / sqrt_b,
            },
        }
    }
}
