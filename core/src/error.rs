//! The one error type of the crate: every invalid caller input maps to a variant that says which
//! input was wrong, so nothing in the crate panics on caller data.

use core::fmt;

/// Which kind of name failed to parse (see [`Error::UnknownName`]).
///
/// ```
/// use diffusion_core::{Error, NameKind, TimestepSpacing};
///
/// let error = "uniform".parse::<TimestepSpacing>().unwrap_err();
/// assert_eq!(error, Error::UnknownName(NameKind::TimestepSpacing));
/// assert_eq!(error.to_string(), "unknown timestep spacing (expected one of: linspace, leading, trailing)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A beta schedule (`linear`, `scaled_linear`, `squaredcos_cap_v2`, `sigmoid`).
    BetaSchedule,
    /// A timestep spacing (`linspace`, `leading`, `trailing`).
    TimestepSpacing,
    /// A prediction type (`epsilon`, `v_prediction`, `sample`).
    PredictionType,
    /// A DDPM variance type (`fixed_small`, `fixed_small_log`, `fixed_large`, `learned`,
    /// `learned_range`).
    VarianceType,
    /// A DPM-Solver algorithm (`dpmsolver++`, `dpmsolver`).
    DpmSolverAlgorithm,
    /// A DPM-Solver second-order form (`midpoint`, `heun`).
    DpmSolverType,
    /// A final sigma (`zero`, `sigma_min`).
    FinalSigmasType,
    /// A UniPC solver type (`bh1`, `bh2`).
    UniPcSolverType,
    /// A timestep type (`discrete`, `continuous`).
    TimestepType,
}

/// Which slice had the wrong length (see [`Error::LengthMismatch`]).
///
/// ```
/// use diffusion_core::{Error, SliceKind};
///
/// let error = Error::LengthMismatch { slice: SliceKind::ModelOutput, expected: 64, actual: 48 };
/// assert_eq!(error.to_string(), "model_output has length 48, expected 64");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SliceKind {
    /// The sample (or the batch of samples) a step updates in place.
    Samples,
    /// The model's output for a step.
    ModelOutput,
    /// The noise sources of a batch (one per sample).
    Noise,
    /// The scratch slice of dynamic thresholding.
    Scratch,
    /// The output of [`crate::fill_alphas_cumprod`].
    AlphasCumprod,
    /// The output of [`crate::TimestepConfig::fill_timesteps`].
    Timesteps,
    /// The buffers of a multistep solver's [`crate::MultistepHistory`].
    History,
    /// The output of [`crate::EulerPlan::scale_model_input`].
    ModelInput,
    /// The unconditional prediction of [`crate::Guidance::combine`].
    Unconditional,
    /// The output of [`crate::Guidance::combine`].
    Guided,
}

impl SliceKind {
    /// The slice's name as the API calls it, e.g. `"model_output"`.
    ///
    /// ```
    /// use diffusion_core::SliceKind;
    ///
    /// assert_eq!(SliceKind::Noise.name(), "noise");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            SliceKind::Samples => "samples",
            SliceKind::ModelOutput => "model_output",
            SliceKind::Noise => "noise",
            SliceKind::Scratch => "scratch",
            SliceKind::AlphasCumprod => "alphas_cumprod",
            SliceKind::Timesteps => "timesteps",
            SliceKind::History => "history",
            SliceKind::ModelInput => "model_input",
            SliceKind::Unconditional => "unconditional",
            SliceKind::Guided => "guided",
        }
    }
}

/// Every way a caller can ask the core for something it cannot do.
///
/// ```
/// use diffusion_core::{Error, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};
///
/// let timesteps = TimestepConfig { num_inference_steps: 0, spacing: TimestepSpacing::Leading, steps_offset: 0 };
/// let error = DdpmDdimPlan::<10>::new(&ScheduleConfig::default(), &timesteps, &DdpmDdimConfig::default()).unwrap_err();
/// assert_eq!(error, Error::InvalidStepCount { steps: 0, num_train_timesteps: 1000 });
/// assert_eq!(error.to_string(), "number of inference steps must be in 1..=1000, got 0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// `num_train_timesteps` (T) is 0 (or 1 with the zero-SNR rescale) or above [`crate::MAX_TRAIN_TIMESTEPS`].
    InvalidTrainTimesteps {
        /// The rejected T.
        num_train_timesteps: u32,
    },
    /// `beta_start`/`beta_end` are not finite, not in (0, 1), or `beta_start > beta_end`.
    InvalidBetaRange {
        /// The rejected β₀.
        beta_start: f64,
        /// The rejected β_end.
        beta_end: f64,
    },
    /// Caller-given betas: wrong count (must equal T).
    TrainedBetasLength {
        /// T.
        expected: usize,
        /// Number of betas given.
        actual: usize,
    },
    /// Caller-given betas: entry `index` is not finite or not in (0, 1).
    InvalidTrainedBeta {
        /// Position of the bad beta.
        index: usize,
    },
    /// The schedule degenerates at `timestep`: ᾱ rounds to 0 or 1 in f32, so the step would divide
    /// by zero (for example a zero-terminal-SNR schedule with `epsilon` prediction); or, with
    /// `rescale_betas_zero_snr`, √ᾱ_0 = √ᾱ_{T−1} (betas so small that 1 − β is 1 in f64), where
    /// the rescale would divide by zero (reported at `timestep` T − 1).
    DegenerateSchedule {
        /// The training timestep where the coefficients stop being finite.
        timestep: u32,
    },
    /// `num_inference_steps` is 0 or greater than T.
    InvalidStepCount {
        /// The rejected step count.
        steps: u32,
        /// T.
        num_train_timesteps: u32,
    },
    /// A planned timestep (e.g. `leading` + `steps_offset`) falls outside `0..T`.
    TimestepOutOfRange {
        /// The out-of-range timestep.
        timestep: u64,
        /// T.
        num_train_timesteps: u32,
    },
    /// η is negative, NaN or infinite, or so large that √(1 − ᾱ_prev − σ²) is imaginary.
    InvalidEta,
    /// `clip_sample_range` is not finite and positive.
    InvalidClipRange,
    /// Dynamic thresholding: ratio not in (0, 1] or max value not finite and ≥ 1.
    InvalidThreshold,
    /// A slice has the wrong length.
    LengthMismatch {
        /// Which slice.
        slice: SliceKind,
        /// The length required (for a batch whose samples slice is not a multiple of the batch
        /// size: the next multiple).
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// More steps than the plan's fixed capacity.
    CapacityExceeded {
        /// Steps asked for.
        needed: usize,
        /// Capacity of the plan type.
        capacity: usize,
    },
    /// Step index past the end of the plan.
    StepIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of steps in the plan.
        steps: usize,
    },
    /// `learned` and `learned_range` variance need the model output to carry 2× channels
    /// (the prediction, then the variance).
    MissingVarianceChannels,
    /// A name did not parse.
    UnknownName(NameKind),
    /// A multistep solver's `solver_order` is not 1, 2 or 3.
    InvalidSolverOrder {
        /// The rejected order.
        order: u8,
    },
    /// A multistep step ran out of order: its history expected another step index (a new or
    /// reset history expects 0).
    StepOutOfOrder {
        /// The index asked for.
        index: usize,
        /// The index the history expected.
        expected: usize,
    },
    /// `sigma_min`/`sigma_max` of a sigma schedule: not finite and > 0, or `sigma_min > sigma_max`
    /// (a value not given is reported as its default from the schedule, or NaN).
    InvalidSigmaRange {
        /// The smallest sigma asked for.
        sigma_min: f64,
        /// The largest sigma asked for.
        sigma_max: f64,
    },
    /// A Karras, exponential or beta sigma schedule was asked of a core built without its
    /// `sigma-schedules` feature (a default feature).
    SigmaScheduleDisabled,
    /// Classifier-free guidance: the scale is not finite, or the rescale factor φ is not in
    /// [0, 1].
    InvalidGuidance {
        /// The guidance scale asked for.
        scale: f32,
        /// The guidance rescale asked for.
        rescale: f32,
    },
    /// A finite noise source (such as [`crate::SliceNoise`]) holds fewer values than the step
    /// draws from it. Checked before any sample is touched.
    NoiseExhausted {
        /// Values the step draws from the source.
        needed: usize,
        /// Values the source has left.
        available: usize,
    },
    /// A multistep step was given a [`crate::MultistepHistory`] made by another plan (one whose
    /// weights differ, even if it has as many steps). Checked before anything is modified.
    ForeignHistory,
}

/// [`Error::name`]'s names, in the order of the variants, separated by one space.
const NAMES: &str = "InvalidTrainTimesteps InvalidBetaRange TrainedBetasLength InvalidTrainedBeta DegenerateSchedule InvalidStepCount TimestepOutOfRange InvalidEta InvalidClipRange InvalidThreshold LengthMismatch CapacityExceeded StepIndexOutOfRange MissingVarianceChannels UnknownName InvalidSolverOrder StepOutOfOrder InvalidSigmaRange SigmaScheduleDisabled InvalidGuidance NoiseExhausted ForeignHistory";

impl Error {
    /// The variant's name, e.g. `"InvalidStepCount"`: a report that needs no float formatting,
    /// which costs about 10 KiB of flash on a microcontroller.
    ///
    /// ```
    /// use diffusion_core::Error;
    ///
    /// assert_eq!(Error::InvalidEta.name(), "InvalidEta");
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        // One string scanned at run time instead of a `match` to string literals: the match
        // compiles to two tables of a pointer and a length per variant (8 B each on a 32-bit
        // target), this to one short loop; the order is the variants' (the test `names` checks it).
        let index = match self {
            Error::InvalidTrainTimesteps { .. } => 0,
            Error::InvalidBetaRange { .. } => 1,
            Error::TrainedBetasLength { .. } => 2,
            Error::InvalidTrainedBeta { .. } => 3,
            Error::DegenerateSchedule { .. } => 4,
            Error::InvalidStepCount { .. } => 5,
            Error::TimestepOutOfRange { .. } => 6,
            Error::InvalidEta => 7,
            Error::InvalidClipRange => 8,
            Error::InvalidThreshold => 9,
            Error::LengthMismatch { .. } => 10,
            Error::CapacityExceeded { .. } => 11,
            Error::StepIndexOutOfRange { .. } => 12,
            Error::MissingVarianceChannels => 13,
            Error::UnknownName(_) => 14,
            Error::InvalidSolverOrder { .. } => 15,
            Error::StepOutOfOrder { .. } => 16,
            Error::InvalidSigmaRange { .. } => 17,
            Error::SigmaScheduleDisabled => 18,
            Error::InvalidGuidance { .. } => 19,
            Error::NoiseExhausted { .. } => 20,
            Error::ForeignHistory => 21,
        };
        let (mut start, mut seen) = (0, 0);
        for (end, &byte) in NAMES.as_bytes().iter().enumerate() {
            if byte == b' ' {
                if seen == index {
                    return NAMES.get(start..end).unwrap_or("");
                }
                seen += 1;
                start = end + 1;
            }
        }
        NAMES.get(start..).unwrap_or("")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::InvalidTrainTimesteps {
                num_train_timesteps,
            } => write!(
                f,
                "num_train_timesteps must be in 1..={} (at least 2 with rescale_betas_zero_snr), got {num_train_timesteps}",
                crate::MAX_TRAIN_TIMESTEPS
            ),
            Error::InvalidBetaRange {
                beta_start,
                beta_end,
            } => write!(
                f,
                "beta range must satisfy 0 < beta_start <= beta_end < 1, got {beta_start}..{beta_end}"
            ),
            Error::TrainedBetasLength { expected, actual } => {
                write!(
                    f,
                    "trained_betas must have num_train_timesteps = {expected} entries, got {actual}"
                )
            }
            Error::InvalidTrainedBeta { index } => {
                write!(f, "trained_betas[{index}] is not a finite value in (0, 1)")
            }
            Error::DegenerateSchedule { timestep } => write!(
                f,
                "the schedule degenerates at timestep {timestep} (alpha_cumprod is 0 or 1 in f32, \
                 or equal at both ends under rescale_betas_zero_snr; zero-terminal-SNR schedules \
                 need v_prediction or sample prediction)"
            ),
            Error::InvalidStepCount {
                steps,
                num_train_timesteps,
            } => write!(
                f,
                "number of inference steps must be in 1..={num_train_timesteps}, got {steps}"
            ),
            Error::TimestepOutOfRange {
                timestep,
                num_train_timesteps,
            } => write!(
                f,
                "planned timestep {timestep} is outside 0..{num_train_timesteps} (check steps_offset)"
            ),
            Error::InvalidEta => write!(
                f,
                "eta must be finite, >= 0, and small enough that 1 - alpha_prev - sigma^2 >= 0"
            ),
            Error::InvalidClipRange => write!(f, "clip_sample_range must be finite and > 0"),
            Error::InvalidThreshold => write!(
                f,
                "dynamic thresholding needs 0 < dynamic_thresholding_ratio <= 1 and finite sample_max_value >= 1"
            ),
            Error::LengthMismatch {
                slice,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "{} has length {actual}, expected {expected}",
                    slice.name()
                )
            }
            Error::CapacityExceeded { needed, capacity } => {
                write!(f, "{needed} steps exceed the plan's capacity of {capacity}")
            }
            Error::StepIndexOutOfRange { index, steps } => {
                write!(
                    f,
                    "step index {index} is out of range for a {steps}-step plan"
                )
            }
            Error::MissingVarianceChannels => write!(
                f,
                "variance_type learned and learned_range need a model output with twice the sample's channels"
            ),
            Error::UnknownName(kind) => {
                let (what, allowed) = match kind {
                    NameKind::BetaSchedule => (
                        "beta schedule",
                        "linear, scaled_linear, squaredcos_cap_v2, sigmoid",
                    ),
                    NameKind::TimestepSpacing => {
                        ("timestep spacing", "linspace, leading, trailing")
                    }
                    NameKind::PredictionType => {
                        ("prediction type", "epsilon, v_prediction, sample")
                    }
                    NameKind::VarianceType => (
                        "variance type",
                        "fixed_small, fixed_small_log, fixed_large, learned, learned_range",
                    ),
                    NameKind::DpmSolverAlgorithm => ("algorithm type", "dpmsolver++, dpmsolver"),
                    NameKind::DpmSolverType => ("solver type", "midpoint, heun"),
                    NameKind::FinalSigmasType => ("final sigmas type", "zero, sigma_min"),
                    NameKind::UniPcSolverType => ("UniPC solver type", "bh1, bh2"),
                    NameKind::TimestepType => ("timestep type", "discrete, continuous"),
                };
                write!(f, "unknown {what} (expected one of: {allowed})")
            }
            Error::InvalidSolverOrder { order } => {
                write!(f, "solver_order must be 1, 2 or 3, got {order}")
            }
            Error::StepOutOfOrder { index, expected } => write!(
                f,
                "step {index} ran out of order: the solver's history expects step {expected}"
            ),
            Error::InvalidSigmaRange {
                sigma_min,
                sigma_max,
            } => write!(
                f,
                "sigma_min and sigma_max must be finite, > 0 and sigma_min <= sigma_max, got {sigma_min}..{sigma_max}"
            ),
            Error::SigmaScheduleDisabled => write!(
                f,
                "Karras, exponential and beta sigmas need the core's `sigma-schedules` feature"
            ),
            Error::InvalidGuidance { scale, rescale } => write!(
                f,
                "guidance needs a finite guidance_scale and 0 <= guidance_rescale <= 1, got {scale} and {rescale}"
            ),
            Error::NoiseExhausted { needed, available } => write!(
                f,
                "the noise source has {available} values left, the step draws {needed}"
            ),
            Error::ForeignHistory => write!(
                f,
                "the multistep history was made by another plan (make it with this plan's history())"
            ),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// One value of every variant.
    const ALL: [Error; 22] = [
        Error::InvalidTrainTimesteps {
            num_train_timesteps: 0,
        },
        Error::InvalidBetaRange {
            beta_start: 0.0,
            beta_end: 0.0,
        },
        Error::TrainedBetasLength {
            expected: 0,
            actual: 0,
        },
        Error::InvalidTrainedBeta { index: 0 },
        Error::DegenerateSchedule { timestep: 0 },
        Error::InvalidStepCount {
            steps: 0,
            num_train_timesteps: 0,
        },
        Error::TimestepOutOfRange {
            timestep: 0,
            num_train_timesteps: 0,
        },
        Error::InvalidEta,
        Error::InvalidClipRange,
        Error::InvalidThreshold,
        Error::LengthMismatch {
            slice: SliceKind::Samples,
            expected: 0,
            actual: 0,
        },
        Error::CapacityExceeded {
            needed: 0,
            capacity: 0,
        },
        Error::StepIndexOutOfRange { index: 0, steps: 0 },
        Error::MissingVarianceChannels,
        Error::UnknownName(NameKind::BetaSchedule),
        Error::InvalidSolverOrder { order: 0 },
        Error::StepOutOfOrder {
            index: 0,
            expected: 0,
        },
        Error::InvalidSigmaRange {
            sigma_min: 0.0,
            sigma_max: 0.0,
        },
        Error::SigmaScheduleDisabled,
        Error::InvalidGuidance {
            scale: 0.0,
            rescale: 0.0,
        },
        Error::NoiseExhausted {
            needed: 0,
            available: 0,
        },
        Error::ForeignHistory,
    ];

    #[test]
    fn names() {
        // `name` is the variant's name as `Debug` writes it; NAMES has one name per variant.
        for error in ALL {
            let mut debug = heapless::String::<128>::new();
            write!(debug, "{error:?}").unwrap();
            let variant = debug.split([' ', '(']).next().unwrap();
            assert_eq!(error.name(), variant);
        }
        assert_eq!(NAMES.split(' ').count(), ALL.len());
    }
}
