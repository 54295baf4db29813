//! The three configs of a plan as C structs, their defaults, and their conversion into the core's
//! types. Fields that name a choice are `uint32_t` holding a value of the matching enum (any other
//! value is `DC_STATUS_INVALID_ENUM_VALUE`, not undefined behaviour).

use diffusion_core::{
    BetaSchedule, DdpmDdimConfig, DdpmDdimRule, FinalAlphaCumprod, PredictionType, SampleClipping,
    ScheduleConfig, TimestepConfig, TimestepSpacing, VarianceType,
};

use crate::slices;
use crate::status::DcStatus;

/// `DcScheduleConfig::beta_schedule`: the β layout (diffusers `beta_schedule`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcBetaSchedule {
    /// `linear` from beta_start to beta_end.
    Linear = 0,
    /// `scaled_linear`: linear in √β.
    ScaledLinear = 1,
    /// `squaredcos_cap_v2` (beta_start/beta_end unused).
    SquaredCosCapV2 = 2,
    /// `sigmoid` from beta_start to beta_end.
    Sigmoid = 3,
    /// Caller-given betas (`trained_betas`, T of them).
    Trained = 4,
}

/// `DcTimestepConfig::spacing` (diffusers `timestep_spacing`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcTimestepSpacing {
    /// `linspace`.
    Linspace = 0,
    /// `leading` (+ steps_offset).
    Leading = 1,
    /// `trailing`.
    Trailing = 2,
}

/// `DcSamplerConfig::sampler`: the update rule.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcSampler {
    /// DDPM ancestral sampling (uses `variance_type`).
    Ddpm = 0,
    /// DDIM (uses `eta`, `use_clipped_model_output`).
    Ddim = 1,
}

/// `DcSamplerConfig::variance_type` (DDPM; diffusers `variance_type`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcVarianceType {
    /// `fixed_small`: σ² = β̃.
    FixedSmall = 0,
    /// `fixed_small_log`.
    FixedSmallLog = 1,
    /// `fixed_large`: σ² = β′.
    FixedLarge = 2,
    /// `learned`: the model outputs σ² in extra channels.
    Learned = 3,
    /// `learned_range`: the model outputs v ∈ [−1, 1] in extra channels.
    LearnedRange = 4,
}

/// `DcSamplerConfig::prediction_type` (diffusers `prediction_type`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcPredictionType {
    /// `epsilon`.
    Epsilon = 0,
    /// `v_prediction`.
    VPrediction = 1,
    /// `sample`.
    Sample = 2,
}

/// `DcSamplerConfig::clipping`: what happens to x̂₀.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcClipping {
    /// Used as predicted.
    None = 0,
    /// `clip_sample`: clamped to ±`clip_sample_range`.
    Range = 1,
    /// `thresholding` (`dynamic_thresholding_ratio`, `sample_max_value`); steps need a scratch
    /// array as long as one sample.
    DynamicThreshold = 2,
}

/// `DcSamplerConfig::final_alpha_cumprod`: ᾱ after the last step.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcFinalAlphaCumprod {
    /// 1 (diffusers `set_alpha_to_one = true`).
    One = 0,
    /// ᾱ₀ (`set_alpha_to_one = false`).
    First = 1,
}

/// The noise schedule (diffusers' scheduler config names). `dc_schedule_config_default` gives
/// diffusers' defaults: T = 1000, linear β from 1e-4 to 0.02.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcScheduleConfig {
    /// T (`num_train_timesteps`).
    pub num_train_timesteps: u32,
    /// A `DcBetaSchedule`.
    pub beta_schedule: u32,
    /// β at t = 0 (linear, scaled_linear, sigmoid).
    pub beta_start: f64,
    /// β at t = T − 1 (linear, scaled_linear, sigmoid).
    pub beta_end: f64,
    /// `DC_BETA_SCHEDULE_TRAINED`: T betas, read while the plan is built (not kept); else NULL.
    pub trained_betas: *const f32,
    /// Number of `trained_betas`.
    pub trained_betas_len: usize,
    /// `rescale_betas_zero_snr`.
    pub rescale_betas_zero_snr: bool,
}

/// The timesteps of a run. `dc_timestep_config_default` gives 50 `leading` steps, offset 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcTimestepConfig {
    /// N (`num_inference_steps`), 1 ≤ N ≤ min(T, `DC_PLAN_CAPACITY`).
    pub num_inference_steps: u32,
    /// A `DcTimestepSpacing`.
    pub spacing: u32,
    /// `steps_offset` (leading only).
    pub steps_offset: u32,
}

/// The update rule and what the model predicts. `dc_sampler_config_default` gives deterministic
/// DDIM (η = 0) on an ε-model, no clipping, final ᾱ = 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcSamplerConfig {
    /// A `DcSampler`.
    pub sampler: u32,
    /// DDPM: a `DcVarianceType`.
    pub variance_type: u32,
    /// DDIM: η ≥ 0 (0 deterministic, 1 DDPM's variance).
    pub eta: f32,
    /// DDIM: recompute ε̂ from the clipped x̂₀.
    pub use_clipped_model_output: bool,
    /// A `DcPredictionType`.
    pub prediction_type: u32,
    /// A `DcClipping`.
    pub clipping: u32,
    /// `DC_CLIPPING_RANGE`: r > 0.
    pub clip_sample_range: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the quantile, in (0, 1].
    pub dynamic_thresholding_ratio: f32,
    /// `DC_CLIPPING_DYNAMIC_THRESHOLD`: the largest threshold, ≥ 1.
    pub sample_max_value: f32,
    /// A `DcFinalAlphaCumprod`.
    pub final_alpha_cumprod: u32,
}

/// diffusers' schedule defaults: T = 1000, `linear` from 1e-4 to 0.02, no rescale.
#[unsafe(no_mangle)]
pub extern "C" fn dc_schedule_config_default() -> DcScheduleConfig {
    DcScheduleConfig {
        num_train_timesteps: 1000,
        beta_schedule: DcBetaSchedule::Linear as u32,
        beta_start: 1e-4,
        beta_end: 0.02,
        trained_betas: core::ptr::null(),
        trained_betas_len: 0,
        rescale_betas_zero_snr: false,
    }
}

/// 50 `leading` steps, steps_offset 0 (diffusers' DDIM defaults).
#[unsafe(no_mangle)]
pub extern "C" fn dc_timestep_config_default() -> DcTimestepConfig {
    DcTimestepConfig {
        num_inference_steps: 50,
        spacing: DcTimestepSpacing::Leading as u32,
        steps_offset: 0,
    }
}

/// Deterministic DDIM (η = 0) on an ε-model, no clipping, final ᾱ = 1 (DDPM fields: fixed_small;
/// thresholding fields: diffusers' 0.995 and 1.0).
#[unsafe(no_mangle)]
pub extern "C" fn dc_sampler_config_default() -> DcSamplerConfig {
    DcSamplerConfig {
        sampler: DcSampler::Ddim as u32,
        variance_type: DcVarianceType::FixedSmall as u32,
        eta: 0.0,
        use_clipped_model_output: false,
        prediction_type: DcPredictionType::Epsilon as u32,
        clipping: DcClipping::None as u32,
        clip_sample_range: 1.0,
        dynamic_thresholding_ratio: 0.995,
        sample_max_value: 1.0,
        final_alpha_cumprod: DcFinalAlphaCumprod::One as u32,
    }
}

impl DcScheduleConfig {
    /// The core's schedule.
    ///
    /// # Safety
    ///
    /// For `DC_BETA_SCHEDULE_TRAINED`, `trained_betas` must point to `trained_betas_len` floats
    /// that stay unchanged for `'a`.
    pub(crate) unsafe fn to_core<'a>(self) -> Result<ScheduleConfig<'a>, DcStatus> {
        let (beta_start, beta_end) = (self.beta_start, self.beta_end);
        let beta_schedule = match self.beta_schedule {
            0 => BetaSchedule::Linear {
                beta_start,
                beta_end,
            },
            1 => BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            },
            2 => BetaSchedule::SquaredCosCapV2,
            3 => BetaSchedule::Sigmoid {
                beta_start,
                beta_end,
            },
            4 => {
                if self.trained_betas.is_null() {
                    return Err(DcStatus::NullPointer);
                }
                // SAFETY: the caller's contract above.
                BetaSchedule::Trained(unsafe {
                    slices::shared(self.trained_betas, self.trained_betas_len)?
                })
            }
            _ => return Err(DcStatus::InvalidEnumValue),
        };
        Ok(ScheduleConfig {
            num_train_timesteps: self.num_train_timesteps,
            beta_schedule,
            rescale_betas_zero_snr: self.rescale_betas_zero_snr,
        })
    }
}

impl DcTimestepConfig {
    /// The core's timestep config.
    pub(crate) fn to_core(self) -> Result<TimestepConfig, DcStatus> {
        let spacing = match self.spacing {
            0 => TimestepSpacing::Linspace,
            1 => TimestepSpacing::Leading,
            2 => TimestepSpacing::Trailing,
            _ => return Err(DcStatus::InvalidEnumValue),
        };
        Ok(TimestepConfig {
            num_inference_steps: self.num_inference_steps,
            spacing,
            steps_offset: self.steps_offset,
        })
    }
}

impl DcSamplerConfig {
    /// The core's sampler config (values are validated by the core when the plan is built).
    pub(crate) fn to_core(self) -> Result<DdpmDdimConfig, DcStatus> {
        let sampler = match self.sampler {
            0 => DdpmDdimRule::Ddpm {
                variance_type: match self.variance_type {
                    0 => VarianceType::FixedSmall,
                    1 => VarianceType::FixedSmallLog,
                    2 => VarianceType::FixedLarge,
                    3 => VarianceType::Learned,
                    4 => VarianceType::LearnedRange,
                    _ => return Err(DcStatus::InvalidEnumValue),
                },
            },
            1 => DdpmDdimRule::Ddim {
                eta: self.eta,
                use_clipped_model_output: self.use_clipped_model_output,
            },
            _ => return Err(DcStatus::InvalidEnumValue),
        };
        let prediction_type = prediction_type(self.prediction_type)?;
        let clipping = clipping(
            self.clipping,
            self.clip_sample_range,
            self.dynamic_thresholding_ratio,
            self.sample_max_value,
        )?;
        let final_alpha_cumprod = match self.final_alpha_cumprod {
            0 => FinalAlphaCumprod::One,
            1 => FinalAlphaCumprod::First,
            _ => return Err(DcStatus::InvalidEnumValue),
        };
        Ok(DdpmDdimConfig {
            rule: sampler,
            prediction_type,
            clipping,
            final_alpha_cumprod,
        })
    }
}

/// A `DcPredictionType` value as the core's type.
pub(crate) fn prediction_type(value: u32) -> Result<PredictionType, DcStatus> {
    match value {
        0 => Ok(PredictionType::Epsilon),
        1 => Ok(PredictionType::VPrediction),
        2 => Ok(PredictionType::Sample),
        _ => Err(DcStatus::InvalidEnumValue),
    }
}

/// A `DcClipping` value and its parameters as the core's type.
pub(crate) fn clipping(
    value: u32,
    clip_sample_range: f32,
    dynamic_thresholding_ratio: f32,
    sample_max_value: f32,
) -> Result<SampleClipping, DcStatus> {
    match value {
        0 => Ok(SampleClipping::None),
        1 => Ok(SampleClipping::Range(clip_sample_range)),
        2 => Ok(SampleClipping::DynamicThreshold {
            ratio: dynamic_thresholding_ratio,
            max_value: sample_max_value,
        }),
        _ => Err(DcStatus::InvalidEnumValue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_cores() {
        // SAFETY: the default schedule has no trained betas.
        let schedule = unsafe { dc_schedule_config_default().to_core() };
        assert_eq!(schedule, Ok(ScheduleConfig::default()));
        assert_eq!(
            dc_sampler_config_default().to_core(),
            Ok(DdpmDdimConfig::default())
        );
        let timesteps = dc_timestep_config_default().to_core().unwrap();
        // diffusers' DDIM default (the core has no default spacing: it is per sampler).
        assert_eq!(timesteps.spacing, TimestepSpacing::Leading);
    }

    #[test]
    fn a_value_that_names_no_choice_is_an_error() {
        let mut sampler = dc_sampler_config_default();
        sampler.prediction_type = 3;
        assert_eq!(sampler.to_core(), Err(DcStatus::InvalidEnumValue));
        let timesteps = DcTimestepConfig {
            spacing: 7,
            ..dc_timestep_config_default()
        };
        assert_eq!(timesteps.to_core(), Err(DcStatus::InvalidEnumValue));
        let schedule = DcScheduleConfig {
            beta_schedule: 4,
            ..dc_schedule_config_default()
        };
        // SAFETY: NULL trained betas are refused before any read.
        assert_eq!(
            unsafe { schedule.to_core() }.err(),
            Some(DcStatus::NullPointer)
        );
    }
}
