//! The return code of every fallible function, and its name.

use core::ffi::c_char;

use diffusion_core::Error;

/// What a function returns: `DC_STATUS_OK` (0) or the reason it did nothing. The core's errors
/// keep the core's names (`dc_error_name` gives them); the first six are the C layer's own.
///
/// Passed as a fixed-width `int32_t`, so its size does not depend on the compiler's enum size
/// (arm-none-eabi-gcc uses short enums).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcStatus {
    /// Success.
    Ok = 0,
    /// A required pointer is NULL (an array pointer may be NULL only with length 0).
    NullPointer = 1,
    /// A pointer is not aligned for its type.
    MisalignedPointer = 2,
    /// An array's length in bytes exceeds `PTRDIFF_MAX`.
    ArrayTooLong = 3,
    /// Two arrays that a call reads and writes overlap.
    OverlappingArrays = 4,
    /// The `DcPlan` was never built by `dc_plan_build`.
    PlanNotBuilt = 5,
    /// A config field that names a choice (`DcTimestepSpacing`, …) holds no such choice.
    InvalidEnumValue = 6,
    /// T is 0 (1 with the zero-SNR rescale) or too large.
    InvalidTrainTimesteps = 10,
    /// β range not 0 < beta_start ≤ beta_end < 1.
    InvalidBetaRange = 11,
    /// Trained betas: their count is not T.
    TrainedBetasLength = 12,
    /// Trained betas: one is not a finite value in (0, 1).
    InvalidTrainedBeta = 13,
    /// ᾱ rounds to 0 or 1 where a step divides by it.
    DegenerateSchedule = 14,
    /// The number of inference steps is 0 or above T.
    InvalidStepCount = 15,
    /// A planned timestep falls outside 0..T (check steps_offset).
    TimestepOutOfRange = 16,
    /// η is negative, not finite, or too large.
    InvalidEta = 17,
    /// clip_sample_range is not finite and > 0.
    InvalidClipRange = 18,
    /// Dynamic thresholding parameters out of range.
    InvalidThreshold = 19,
    /// An array has the wrong length for the plan or the batch.
    LengthMismatch = 20,
    /// More steps than `DC_PLAN_CAPACITY`.
    CapacityExceeded = 21,
    /// The step index is not below the plan's length.
    StepIndexOutOfRange = 22,
    /// Learned variance needs a model output twice as long as the sample.
    MissingVarianceChannels = 23,
    /// A name did not parse.
    UnknownName = 24,
    /// A multistep solver's order is not 1, 2 or 3.
    InvalidSolverOrder = 25,
    /// A multistep step ran out of order.
    StepOutOfOrder = 26,
    /// A sigma range is not finite, positive and ordered.
    InvalidSigmaRange = 27,
    /// A guidance scale is not finite or a guidance rescale not in [0, 1].
    InvalidGuidance = 28,
    /// A Karras, exponential or beta sigma schedule from a library built without them.
    SigmaScheduleDisabled = 29,
    /// A finite noise source holds fewer values than the step draws.
    NoiseExhausted = 30,
    /// A core error this library has no code of its own for (the core's errors may grow).
    OtherCoreError = 31,
    /// A multistep step was given a history made by another plan (initialize the history with
    /// this plan).
    ForeignHistory = 32,
}

impl DcStatus {
    /// Every status, for the name table and the tests.
    pub(crate) const ALL: [DcStatus; 30] = [
        DcStatus::Ok,
        DcStatus::NullPointer,
        DcStatus::MisalignedPointer,
        DcStatus::ArrayTooLong,
        DcStatus::OverlappingArrays,
        DcStatus::PlanNotBuilt,
        DcStatus::InvalidEnumValue,
        DcStatus::InvalidTrainTimesteps,
        DcStatus::InvalidBetaRange,
        DcStatus::TrainedBetasLength,
        DcStatus::InvalidTrainedBeta,
        DcStatus::DegenerateSchedule,
        DcStatus::InvalidStepCount,
        DcStatus::TimestepOutOfRange,
        DcStatus::InvalidEta,
        DcStatus::InvalidClipRange,
        DcStatus::InvalidThreshold,
        DcStatus::LengthMismatch,
        DcStatus::CapacityExceeded,
        DcStatus::StepIndexOutOfRange,
        DcStatus::MissingVarianceChannels,
        DcStatus::UnknownName,
        DcStatus::InvalidSolverOrder,
        DcStatus::StepOutOfOrder,
        DcStatus::InvalidSigmaRange,
        DcStatus::InvalidGuidance,
        DcStatus::SigmaScheduleDisabled,
        DcStatus::NoiseExhausted,
        DcStatus::OtherCoreError,
        DcStatus::ForeignHistory,
    ];

    /// The name, NUL-terminated for C; the core's own name for the core's errors.
    pub(crate) fn name(self) -> &'static core::ffi::CStr {
        match self {
            DcStatus::Ok => c"Ok",
            DcStatus::NullPointer => c"NullPointer",
            DcStatus::MisalignedPointer => c"MisalignedPointer",
            DcStatus::ArrayTooLong => c"ArrayTooLong",
            DcStatus::OverlappingArrays => c"OverlappingArrays",
            DcStatus::PlanNotBuilt => c"PlanNotBuilt",
            DcStatus::InvalidEnumValue => c"InvalidEnumValue",
            DcStatus::InvalidTrainTimesteps => c"InvalidTrainTimesteps",
            DcStatus::InvalidBetaRange => c"InvalidBetaRange",
            DcStatus::TrainedBetasLength => c"TrainedBetasLength",
            DcStatus::InvalidTrainedBeta => c"InvalidTrainedBeta",
            DcStatus::DegenerateSchedule => c"DegenerateSchedule",
            DcStatus::InvalidStepCount => c"InvalidStepCount",
            DcStatus::TimestepOutOfRange => c"TimestepOutOfRange",
            DcStatus::InvalidEta => c"InvalidEta",
            DcStatus::InvalidClipRange => c"InvalidClipRange",
            DcStatus::InvalidThreshold => c"InvalidThreshold",
            DcStatus::LengthMismatch => c"LengthMismatch",
            DcStatus::CapacityExceeded => c"CapacityExceeded",
            DcStatus::StepIndexOutOfRange => c"StepIndexOutOfRange",
            DcStatus::MissingVarianceChannels => c"MissingVarianceChannels",
            DcStatus::UnknownName => c"UnknownName",
            DcStatus::InvalidSolverOrder => c"InvalidSolverOrder",
            DcStatus::StepOutOfOrder => c"StepOutOfOrder",
            DcStatus::InvalidSigmaRange => c"InvalidSigmaRange",
            DcStatus::InvalidGuidance => c"InvalidGuidance",
            DcStatus::SigmaScheduleDisabled => c"SigmaScheduleDisabled",
            DcStatus::NoiseExhausted => c"NoiseExhausted",
            DcStatus::OtherCoreError => c"OtherCoreError",
            DcStatus::ForeignHistory => c"ForeignHistory",
        }
    }
}

impl From<Error> for DcStatus {
    fn from(error: Error) -> DcStatus {
        match error {
            Error::InvalidTrainTimesteps { .. } => DcStatus::InvalidTrainTimesteps,
            Error::InvalidBetaRange { .. } => DcStatus::InvalidBetaRange,
            Error::TrainedBetasLength { .. } => DcStatus::TrainedBetasLength,
            Error::InvalidTrainedBeta { .. } => DcStatus::InvalidTrainedBeta,
            Error::DegenerateSchedule { .. } => DcStatus::DegenerateSchedule,
            Error::InvalidStepCount { .. } => DcStatus::InvalidStepCount,
            Error::TimestepOutOfRange { .. } => DcStatus::TimestepOutOfRange,
            Error::InvalidEta => DcStatus::InvalidEta,
            Error::InvalidClipRange => DcStatus::InvalidClipRange,
            Error::InvalidThreshold => DcStatus::InvalidThreshold,
            Error::LengthMismatch { .. } => DcStatus::LengthMismatch,
            Error::CapacityExceeded { .. } => DcStatus::CapacityExceeded,
            Error::StepIndexOutOfRange { .. } => DcStatus::StepIndexOutOfRange,
            Error::MissingVarianceChannels => DcStatus::MissingVarianceChannels,
            Error::UnknownName(_) => DcStatus::UnknownName,
            Error::InvalidSolverOrder { .. } => DcStatus::InvalidSolverOrder,
            Error::StepOutOfOrder { .. } => DcStatus::StepOutOfOrder,
            Error::InvalidSigmaRange { .. } => DcStatus::InvalidSigmaRange,
            Error::InvalidGuidance { .. } => DcStatus::InvalidGuidance,
            Error::SigmaScheduleDisabled => DcStatus::SigmaScheduleDisabled,
            Error::NoiseExhausted { .. } => DcStatus::NoiseExhausted,
            Error::ForeignHistory => DcStatus::ForeignHistory,
            _ => DcStatus::OtherCoreError,
        }
    }
}

/// `Ok(())` → `DC_STATUS_OK`, an error → its status.
pub(crate) fn status_of(result: Result<(), DcStatus>) -> DcStatus {
    match result {
        Ok(()) => DcStatus::Ok,
        Err(status) => status,
    }
}

/// The name of a status code, e.g. `"InvalidStepCount"` for `DC_STATUS_INVALID_STEP_COUNT`: a
/// static NUL-terminated string, never NULL. A code that is no `DcStatus` gives
/// `"UnknownStatus"`. The code is a plain integer so that any value is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn dc_error_name(code: i32) -> *const c_char {
    DcStatus::ALL
        .iter()
        .find(|status| **status as i32 == code)
        .map_or(c"UnknownStatus", |status| status.name())
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffusion_core::{NameKind, SliceKind};

    #[test]
    fn core_errors_keep_the_cores_names() {
        let errors = [
            Error::InvalidEta,
            Error::UnknownName(NameKind::BetaSchedule),
            Error::LengthMismatch {
                slice: SliceKind::Noise,
                expected: 1,
                actual: 2,
            },
            Error::StepIndexOutOfRange { index: 3, steps: 3 },
            Error::InvalidSigmaRange {
                sigma_min: 1.0,
                sigma_max: 0.0,
            },
            Error::InvalidGuidance {
                scale: f32::NAN,
                rescale: 0.0,
            },
            Error::SigmaScheduleDisabled,
            Error::NoiseExhausted {
                needed: 2,
                available: 0,
            },
            Error::ForeignHistory,
        ];
        for error in errors {
            let name = DcStatus::from(error).name().to_str().unwrap();
            assert_eq!(name, error.name());
        }
    }

    #[test]
    fn every_code_has_one_name_and_unknown_codes_are_named_too() {
        let mut names: std::vec::Vec<_> = DcStatus::ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DcStatus::ALL.len());
        // SAFETY: dc_error_name returns a static NUL-terminated string.
        let name = |code| unsafe { core::ffi::CStr::from_ptr(dc_error_name(code)) };
        assert_eq!(name(22).to_str(), Ok("StepIndexOutOfRange"));
        assert_eq!(name(0).to_str(), Ok("Ok"));
        for code in [-1, 7, 9, 33, i32::MAX, i32::MIN] {
            assert_eq!(name(code).to_str(), Ok("UnknownStatus"));
        }
    }
}
