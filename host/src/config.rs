//! Resolves flags and diffusers' `scheduler_config.json` into validated core configurations.
//!
//! Precedence: a flag, else the config file, else diffusers' default for the same field.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use diffusion_core::schedule::BetaScheduleName;
use diffusion_core::{
    BetaSchedule, FinalAlphaCumprod, Plan, PredictionType, SampleClipping, Sampler, SamplerConfig,
    ScheduleConfig, TimestepConfig, TimestepSpacing, VarianceType,
};
use serde::Deserialize;

use crate::cli::{Cli, SchedulerKind};

/// The largest plan the host builds (T is at most this many steps in practice).
pub const MAX_STEPS: usize = 4096;

/// The fields of diffusers' DDIM/DDPM `scheduler_config.json` that sampling depends on.
/// Other keys are ignored; a missing key takes diffusers' default.
#[derive(Debug, Default, Deserialize)]
pub struct SchedulerConfigFile {
    #[serde(rename = "_class_name")]
    class_name: Option<String>,
    num_train_timesteps: Option<u32>,
    beta_start: Option<f64>,
    beta_end: Option<f64>,
    beta_schedule: Option<String>,
    trained_betas: Option<Vec<f32>>,
    variance_type: Option<String>,
    clip_sample: Option<bool>,
    clip_sample_range: Option<f32>,
    prediction_type: Option<String>,
    thresholding: Option<bool>,
    dynamic_thresholding_ratio: Option<f32>,
    sample_max_value: Option<f32>,
    timestep_spacing: Option<String>,
    steps_offset: Option<u32>,
    rescale_betas_zero_snr: Option<bool>,
    set_alpha_to_one: Option<bool>,
}

impl SchedulerConfigFile {
    /// Reads and parses a config file; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scheduler config {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("malformed scheduler config {}", path.display()))
    }
}

/// The β layout, owning caller-given betas.
#[derive(Clone, Debug, PartialEq)]
pub enum Betas {
    /// A named parametric schedule.
    Named {
        /// Which.
        name: BetaScheduleName,
        /// β₀.
        beta_start: f64,
        /// β_end.
        beta_end: f64,
    },
    /// `trained_betas` from the config.
    Trained(Vec<f32>),
}

/// Everything the sampler needs, validated.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// DDIM or DDPM.
    pub scheduler: SchedulerKind,
    /// T.
    pub num_train_timesteps: u32,
    /// β_t.
    pub betas: Betas,
    /// Zero-terminal-SNR rescale.
    pub rescale_betas_zero_snr: bool,
    /// Steps and spacing.
    pub timesteps: TimestepConfig,
    /// Update rule, prediction type, clipping, final ᾱ.
    pub sampler: SamplerConfig,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
}

impl Resolved {
    /// The schedule, borrowing trained betas.
    pub fn schedule(&self) -> ScheduleConfig<'_> {
        let beta_schedule = match &self.betas {
            Betas::Named {
                name,
                beta_start,
                beta_end,
            } => {
                let (beta_start, beta_end) = (*beta_start, *beta_end);
                match name {
                    BetaScheduleName::Linear => BetaSchedule::Linear {
                        beta_start,
                        beta_end,
                    },
                    BetaScheduleName::ScaledLinear => BetaSchedule::ScaledLinear {
                        beta_start,
                        beta_end,
                    },
                    BetaScheduleName::SquaredCosCapV2 => BetaSchedule::SquaredCosCapV2,
                    BetaScheduleName::Sigmoid => BetaSchedule::Sigmoid {
                        beta_start,
                        beta_end,
                    },
                }
            }
            Betas::Trained(betas) => BetaSchedule::Trained(betas),
        };
        ScheduleConfig {
            num_train_timesteps: self.num_train_timesteps,
            beta_schedule,
            rescale_betas_zero_snr: self.rescale_betas_zero_snr,
        }
    }

    /// Builds the plan (boxed: up to [`MAX_STEPS`] entries), which validates every value
    /// (steps, betas, trained_betas length, η, clipping…).
    pub fn plan(&self) -> Result<Box<Plan<MAX_STEPS>>> {
        let plan =
            Plan::new(&self.schedule(), &self.timesteps, &self.sampler).map_err(|error| {
                let source = self
                    .config_file
                    .as_ref()
                    .map_or("defaults".into(), |p| p.display().to_string());
                anyhow::anyhow!("invalid sampler configuration ({source}): {error}")
            })?;
        Ok(Box::new(plan))
    }
}

/// The scheduler config to use: the flag's, else `scheduler_config.json` beside the model.
pub fn config_path(cli: &Cli) -> Option<PathBuf> {
    cli.scheduler_config.clone().or_else(|| {
        let beside = cli
            .onnx
            .parent()
            .unwrap_or(Path::new("."))
            .join("scheduler_config.json");
        beside.is_file().then_some(beside)
    })
}

fn parse_name<T: std::str::FromStr<Err = diffusion_core::Error>>(
    flag: &str,
    value: &str,
) -> Result<T> {
    value
        .parse::<T>()
        .map_err(|error| anyhow::anyhow!("{flag} {value:?}: {error}"))
}

/// Merges flags over the config file over diffusers' defaults. [`Resolved::plan`] validates.
pub fn resolve(cli: &Cli) -> Result<Resolved> {
    let config_file = config_path(cli);
    let file = match &config_file {
        Some(path) => SchedulerConfigFile::read(path)?,
        None => SchedulerConfigFile::default(),
    };
    let from = |source: &Option<PathBuf>| {
        source
            .as_ref()
            .map_or("defaults".to_string(), |p| p.display().to_string())
    };
    let scheduler = cli.scheduler.unwrap_or(match file.class_name.as_deref() {
        Some("DDPMScheduler") => SchedulerKind::Ddpm,
        _ => SchedulerKind::Ddim,
    });
    let num_train_timesteps = cli
        .num_train_timesteps
        .or(file.num_train_timesteps)
        .unwrap_or(1000);
    let beta_start = cli.beta_start.or(file.beta_start).unwrap_or(0.0001);
    let beta_end = cli.beta_end.or(file.beta_end).unwrap_or(0.02);
    let betas = match (&cli.beta_schedule, &file.trained_betas) {
        (None, Some(trained)) => Betas::Trained(trained.clone()),
        (flag, _) => {
            let name = flag
                .as_deref()
                .or(file.beta_schedule.as_deref())
                .unwrap_or("linear");
            let flag = if flag.is_some() {
                "--beta-schedule"
            } else {
                "beta_schedule"
            };
            Betas::Named {
                name: parse_name(flag, name)?,
                beta_start,
                beta_end,
            }
        }
    };
    let spacing: TimestepSpacing = match (&cli.timestep_spacing, &file.timestep_spacing) {
        (Some(flag), _) => parse_name("--timestep-spacing", flag)?,
        (None, Some(value)) => parse_name("timestep_spacing", value)?,
        (None, None) => TimestepSpacing::Leading,
    };
    let prediction_type: PredictionType = match (&cli.prediction_type, &file.prediction_type) {
        (Some(flag), _) => parse_name("--prediction-type", flag)?,
        (None, Some(value)) => parse_name("prediction_type", value)?,
        (None, None) => PredictionType::Epsilon,
    };
    let variance_type: VarianceType = match (&cli.variance_type, &file.variance_type) {
        (Some(flag), _) => parse_name("--variance-type", flag)?,
        (None, Some(value)) => parse_name("variance_type", value)?,
        (None, None) => VarianceType::FixedSmall,
    };
    let clip_sample = cli.clip_sample.or(file.clip_sample).unwrap_or(true);
    let thresholding = file.thresholding.unwrap_or(false);
    if thresholding && clip_sample && cli.clip_sample.is_none() {
        bail!(
            "contradictory scheduler config {}: thresholding and clip_sample are both true \
             (diffusers silently ignores clip_sample); pass --clip-sample false to use thresholding",
            from(&config_file)
        );
    }
    let clipping = if thresholding {
        SampleClipping::DynamicThreshold {
            ratio: file.dynamic_thresholding_ratio.unwrap_or(0.995),
            max_value: file.sample_max_value.unwrap_or(1.0),
        }
    } else if clip_sample {
        SampleClipping::Range(
            cli.clip_sample_range
                .or(file.clip_sample_range)
                .unwrap_or(1.0),
        )
    } else {
        SampleClipping::None
    };
    if !(cli.eta.is_finite() && cli.eta >= 0.0) {
        bail!("--eta must be a finite number >= 0, got {}", cli.eta);
    }
    if scheduler == SchedulerKind::Ddpm && cli.eta != 0.0 {
        bail!("--eta applies to DDIM only; DDPM's noise is set by --variance-type");
    }
    // diffusers' DDPM always steps to ᾱ = 1 after the last timestep; only an explicit flag changes that.
    let set_alpha_to_one = match scheduler {
        SchedulerKind::Ddim => cli
            .set_alpha_to_one
            .or(file.set_alpha_to_one)
            .unwrap_or(true),
        SchedulerKind::Ddpm => cli.set_alpha_to_one.unwrap_or(true),
    };
    let sampler = SamplerConfig {
        sampler: match scheduler {
            SchedulerKind::Ddim => Sampler::Ddim {
                eta: cli.eta,
                use_clipped_model_output: false,
            },
            SchedulerKind::Ddpm => Sampler::Ddpm { variance_type },
        },
        prediction_type,
        clipping,
        final_alpha_cumprod: if set_alpha_to_one {
            FinalAlphaCumprod::One
        } else {
            FinalAlphaCumprod::First
        },
    };
    let timesteps = TimestepConfig {
        num_inference_steps: cli.steps,
        spacing,
        steps_offset: cli.steps_offset.or(file.steps_offset).unwrap_or(0),
    };
    Ok(Resolved {
        scheduler,
        num_train_timesteps,
        betas,
        rescale_betas_zero_snr: cli
            .rescale_betas_zero_snr
            .or(file.rescale_betas_zero_snr)
            .unwrap_or(false),
        timesteps,
        sampler,
        config_file,
    })
}
