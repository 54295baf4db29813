//! Resolves flags and diffusers' `scheduler_config.json` into validated core configurations.
//!
//! Precedence: a flag, else the config file, else diffusers' default for the same field. Every
//! value remembers where it came from, so that an invalid one is reported as the flag that gave
//! it, or as the file and key.
//!
//! diffusers writes its configs with Python's JSON extensions (`Infinity`, `-Infinity`, `NaN`),
//! which JSON5 includes, so the file is read as JSON5.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use diffusion_core::schedule::BetaScheduleName;
use diffusion_core::{
    BetaSchedule, DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig,
    DpmSolverPlan, DpmSolverType, EulerConfig, EulerPlan, EulerVariant, FinalAlphaCumprod,
    FinalSigmasType, HeunConfig, HeunPlan, PredictionType, SampleClipping, ScheduleConfig,
    SigmaSchedule, TimestepConfig, TimestepSpacing, TimestepType, UniPcConfig, UniPcPlan,
    UniPcSolverType, VarianceType,
};
use serde::Deserialize;

use crate::cli::{Cli, SchedulerKind};
use crate::sampling::SamplingPlan;

/// The largest config file read: a scheduler_config.json is a few KB (with 1000 trained betas
/// about 25 KB); anything far larger is not one, and is refused before it is read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The `_class_name`s whose update rule host runs, and the rule each names.
const SUPPORTED_CLASSES: [(&str, SchedulerKind); 7] = [
    ("DDIMScheduler", SchedulerKind::Ddim),
    ("DDPMScheduler", SchedulerKind::Ddpm),
    ("DPMSolverMultistepScheduler", SchedulerKind::DpmSolver),
    ("UniPCMultistepScheduler", SchedulerKind::Unipc),
    ("EulerDiscreteScheduler", SchedulerKind::Euler),
    (
        "EulerAncestralDiscreteScheduler",
        SchedulerKind::EulerAncestral,
    ),
    ("HeunDiscreteScheduler", SchedulerKind::Heun),
];

impl SchedulerKind {
    /// diffusers' class of this update rule.
    pub fn class_name(self) -> &'static str {
        SUPPORTED_CLASSES
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("?", |(name, _)| name)
    }

    /// The `--scheduler` value.
    pub fn flag_value(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "ddim",
            SchedulerKind::Ddpm => "ddpm",
            SchedulerKind::DpmSolver => "dpm-solver",
            SchedulerKind::Unipc => "unipc",
            SchedulerKind::Euler => "euler",
            SchedulerKind::EulerAncestral => "euler-ancestral",
            SchedulerKind::Heun => "heun",
        }
    }

    /// The short name in messages: "DPM-Solver", "UniPC", "Euler ancestral"…
    pub fn display_name(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "DDIM",
            SchedulerKind::Ddpm => "DDPM",
            SchedulerKind::DpmSolver => "DPM-Solver",
            SchedulerKind::Unipc => "UniPC",
            SchedulerKind::Euler => "Euler",
            SchedulerKind::EulerAncestral => "Euler ancestral",
            SchedulerKind::Heun => "Heun",
        }
    }

    /// DDIM and DDPM: `Plan` and its config keys (clip_sample, set_alpha_to_one, eta…).
    fn is_classic(self) -> bool {
        matches!(self, SchedulerKind::Ddim | SchedulerKind::Ddpm)
    }
}

/// The largest plan the host builds (T is at most this many steps in practice).
pub const MAX_STEPS: usize = 4096;

/// The fields of diffusers' DDIM, DDPM, DPMSolverMultistep, UniPCMultistep, EulerDiscrete and
/// EulerAncestralDiscrete `scheduler_config.json` that sampling depends on (or that select something host does not run, which is refused).
/// Other keys are ignored; a missing key takes diffusers' default for the scheduler.
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
    // DPMSolverMultistepScheduler.
    algorithm_type: Option<String>,
    solver_order: Option<u32>,
    solver_type: Option<String>,
    lower_order_final: Option<bool>,
    euler_at_final: Option<bool>,
    final_sigmas_type: Option<String>,
    use_karras_sigmas: Option<bool>,
    use_exponential_sigmas: Option<bool>,
    use_beta_sigmas: Option<bool>,
    use_lu_lambdas: Option<bool>,
    use_flow_sigmas: Option<bool>,
    use_dynamic_shifting: Option<bool>,
    lambda_min_clipped: Option<f64>,
    // UniPCMultistepScheduler.
    predict_x0: Option<bool>,
    disable_corrector: Option<Vec<usize>>,
    solver_p: Option<serde_json::Value>,
    // EulerDiscreteScheduler.
    interpolation_type: Option<String>,
    sigma_min: Option<f64>,
    sigma_max: Option<f64>,
    timestep_type: Option<String>,
}

impl SchedulerConfigFile {
    /// Reads and parses a config file; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let cannot_read = || format!("cannot read scheduler config {}", path.display());
        let size = std::fs::metadata(path).with_context(cannot_read)?.len();
        if size > MAX_CONFIG_BYTES {
            bail!(
                "scheduler config {} is {size} bytes; a scheduler_config.json is a few KB",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path).with_context(cannot_read)?;
        json5::from_str(&text).map_err(|error| {
            let message = error.to_string().replace('\n', " ");
            anyhow::anyhow!("malformed scheduler config {}: {message}", path.display())
        })
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
    /// DDIM, DDPM or DPM-Solver.
    pub scheduler: SchedulerKind,
    /// T.
    pub num_train_timesteps: u32,
    /// β_t.
    pub betas: Betas,
    /// Zero-terminal-SNR rescale.
    pub rescale_betas_zero_snr: bool,
    /// Steps and spacing.
    pub timesteps: TimestepConfig,
    /// DDIM and DDPM: update rule, prediction type, clipping, final ᾱ. With DPM-Solver only its
    /// prediction type and clipping mean anything (the rest is the default); see `dpm_solver`.
    pub sampler: DdpmDdimConfig,
    /// DPM-Solver's configuration, when that is the scheduler.
    pub dpm_solver: Option<DpmSolverConfig>,
    /// UniPC's configuration, when that is the scheduler.
    pub unipc: Option<UniPcSettings>,
    /// Euler's or Euler ancestral's configuration, when that is the scheduler.
    pub euler: Option<EulerConfig>,
    /// Heun's configuration, when that is the scheduler.
    pub heun: Option<HeunConfig>,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
    /// Where each value that the plan validates came from.
    pub sources: Sources,
}

/// UniPC's configuration, owning `disable_corrector` ([`UniPcConfig`] borrows it).
#[derive(Clone, Debug, PartialEq)]
pub struct UniPcSettings {
    /// `solver_order`.
    pub solver_order: u8,
    /// `solver_type`.
    pub solver_type: UniPcSolverType,
    /// `predict_x0`.
    pub predict_x0: bool,
    /// `lower_order_final`.
    pub lower_order_final: bool,
    /// `disable_corrector`.
    pub disable_corrector: Vec<usize>,
    /// `final_sigmas_type`.
    pub final_sigmas_type: FinalSigmasType,
    /// `prediction_type`.
    pub prediction_type: PredictionType,
    /// `thresholding`.
    pub clipping: SampleClipping,
    /// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`.
    pub sigma_schedule: SigmaSchedule,
    /// `sigma_min` of those schedules.
    pub sigma_min: Option<f64>,
    /// `sigma_max` of those schedules.
    pub sigma_max: Option<f64>,
}

impl UniPcSettings {
    /// The core's config, borrowing `disable_corrector`.
    pub fn config(&self) -> UniPcConfig<'_> {
        UniPcConfig {
            solver_order: self.solver_order,
            solver_type: self.solver_type,
            predict_x0: self.predict_x0,
            lower_order_final: self.lower_order_final,
            disable_corrector: &self.disable_corrector,
            final_sigmas_type: self.final_sigmas_type,
            prediction_type: self.prediction_type,
            clipping: self.clipping,
            sigma_schedule: self.sigma_schedule,
            sigma_min: self.sigma_min,
            sigma_max: self.sigma_max,
        }
    }
}

/// Where a value came from: the flag that gave it, the config file's key, or diffusers' default.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A command-line flag, e.g. `--steps`.
    Flag(&'static str),
    /// A key of the config file.
    File(PathBuf, &'static str),
    /// diffusers' default for this key.
    Default(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "{flag}"),
            Source::File(path, key) => write!(f, "{}: {key}", path.display()),
            Source::Default(key) => write!(f, "{key} (diffusers' default)"),
        }
    }
}

/// The sources of the values [`DdpmDdimPlan::new`] can refuse.
#[derive(Clone, Debug)]
pub struct Sources {
    num_train_timesteps: Source,
    betas: Source,
    steps: Source,
    steps_offset: Source,
    eta: Source,
    clipping: Source,
    solver_order: Source,
    sigma_range: Source,
}

/// `flag`, else the file's `key`, else `default`; with where it came from.
fn layered<T>(
    flag: Option<T>,
    flag_name: &'static str,
    file: Option<T>,
    (path, key): (&Option<PathBuf>, &'static str),
    default: T,
) -> (T, Source) {
    match (flag, file, path) {
        (Some(value), _, _) => (value, Source::Flag(flag_name)),
        (None, Some(value), Some(path)) => (value, Source::File(path.clone(), key)),
        _ => (default, Source::Default(key)),
    }
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
    pub fn plan(&self) -> Result<Box<SamplingPlan>> {
        let schedule = self.schedule();
        if let Some(config) = &self.heun {
            let plan = HeunPlan::new(&schedule, &self.timesteps, config).map(SamplingPlan::Heun);
            return Ok(Box::new(plan.map_err(|error| self.blame(error))?));
        }
        let plan =
            match (&self.dpm_solver, &self.unipc, &self.euler) {
                (Some(config), _, _) => DpmSolverPlan::new(&schedule, &self.timesteps, config)
                    .map(SamplingPlan::DpmSolver),
                (_, Some(settings), _) => {
                    UniPcPlan::new(&schedule, &self.timesteps, &settings.config())
                        .map(SamplingPlan::UniPc)
                }
                (_, _, Some(config)) => {
                    EulerPlan::new(&schedule, &self.timesteps, config).map(SamplingPlan::Euler)
                }
                _ => DdpmDdimPlan::new(&schedule, &self.timesteps, &self.sampler)
                    .map(SamplingPlan::Plan),
            };
        Ok(Box::new(plan.map_err(|error| self.blame(error))?))
    }

    /// The name of the sampler, for the summary: "DDIM", "DDPM", "DPM-Solver++ 2M", "UniPC bh2
    /// order 2", "Euler (Karras sigmas)"…
    pub fn sampler_name(&self) -> String {
        if let Some(settings) = &self.unipc {
            let solver_type = match settings.solver_type {
                UniPcSolverType::Bh1 => "bh1",
                _ => "bh2",
            };
            let prediction = if settings.predict_x0 {
                ""
            } else {
                ", noise prediction"
            };
            return format!(
                "UniPC {solver_type} order {}{prediction}{}",
                settings.solver_order,
                sigma_schedule_suffix(settings.sigma_schedule)
            );
        }
        if let Some(config) = &self.heun {
            return format!("Heun{}", sigma_schedule_suffix(config.sigma_schedule));
        }
        if let Some(config) = &self.euler {
            let name = match config.variant {
                EulerVariant::Ancestral => "Euler ancestral",
                _ => "Euler",
            };
            return format!("{name}{}", sigma_schedule_suffix(config.sigma_schedule));
        }
        let Some(config) = &self.dpm_solver else {
            return match self.scheduler {
                SchedulerKind::Ddpm => "DDPM",
                _ => "DDIM",
            }
            .to_string();
        };
        let algorithm = match config.algorithm_type {
            DpmSolverAlgorithm::DpmSolverPlusPlus => "DPM-Solver++",
            DpmSolverAlgorithm::SdeDpmSolverPlusPlus => "SDE-DPM-Solver++",
            _ => "DPM-Solver",
        };
        let name = match (config.solver_order, config.solver_type) {
            (1, _) => format!("{algorithm} (first order)"),
            (order, DpmSolverType::Heun) => format!("{algorithm} {order}M heun"),
            (order, _) => format!("{algorithm} {order}M"),
        };
        format!("{name}{}", sigma_schedule_suffix(config.sigma_schedule))
    }

    /// A plan's error, prefixed with the flag or file key that gave the value at fault.
    fn blame(&self, error: diffusion_core::Error) -> anyhow::Error {
        use diffusion_core::Error;
        let sources = &self.sources;
        if let Error::InvalidStepCount {
            steps,
            num_train_timesteps,
        } = error
            && (self.dpm_solver.is_some() || self.unipc.is_some())
            && steps >= num_train_timesteps
            && self.timesteps.spacing != TimestepSpacing::Trailing
        {
            return anyhow::anyhow!(
                "{}: {} with linspace or leading spacing places N + 1 points among the \
                 {num_train_timesteps} training timesteps, so steps must be in \
                 1..={}, got {steps} (or use --timestep-spacing trailing)",
                sources.steps,
                if self.unipc.is_some() {
                    "UniPC"
                } else {
                    "DPM-Solver"
                },
                num_train_timesteps - 1
            );
        }
        let source = match error {
            Error::InvalidTrainTimesteps { .. } => Some(&sources.num_train_timesteps),
            Error::InvalidBetaRange { .. }
            | Error::TrainedBetasLength { .. }
            | Error::InvalidTrainedBeta { .. } => Some(&sources.betas),
            Error::InvalidStepCount { .. } | Error::CapacityExceeded { .. } => Some(&sources.steps),
            Error::TimestepOutOfRange { .. } => Some(&sources.steps_offset),
            Error::InvalidEta => Some(&sources.eta),
            Error::InvalidClipRange | Error::InvalidThreshold => Some(&sources.clipping),
            Error::InvalidSolverOrder { .. } => Some(&sources.solver_order),
            Error::InvalidSigmaRange { .. } => Some(&sources.sigma_range),
            _ => None,
        };
        match source {
            Some(source) => anyhow::anyhow!("{source}: {error}"),
            None => {
                let file = self
                    .config_file
                    .as_ref()
                    .map_or("flags and defaults".into(), |p| p.display().to_string());
                anyhow::anyhow!("invalid sampler configuration ({file}): {error}")
            }
        }
    }
}

/// " (Karras sigmas)" and the like, for the sampler's name.
fn sigma_schedule_suffix(schedule: SigmaSchedule) -> &'static str {
    match schedule {
        SigmaSchedule::Karras => " (Karras sigmas)",
        SigmaSchedule::Exponential => " (exponential sigmas)",
        SigmaSchedule::Beta => " (beta sigmas)",
        _ => "",
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
    source: &Source,
    value: &str,
) -> Result<T> {
    value
        .parse::<T>()
        .map_err(|error| anyhow::anyhow!("{source} {value:?}: {error}"))
}

/// The update rule: `--scheduler`, else the file's `_class_name` (one host runs, or an error
/// naming it), else DDIM.
fn scheduler_kind(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> Result<SchedulerKind> {
    if let Some(kind) = cli.scheduler {
        return Ok(kind);
    }
    let Some(class_name) = file.class_name.as_deref() else {
        return Ok(SchedulerKind::Ddim);
    };
    match SUPPORTED_CLASSES
        .iter()
        .find(|(name, _)| *name == class_name)
    {
        Some(&(_, kind)) => Ok(kind),
        None => bail!(
            "scheduler config {}: _class_name {class_name} is not supported (host runs {}); \
             pass --scheduler ddim, ddpm, dpm-solver, unipc, euler, euler-ancestral or heun to \
             sample with one of those instead",
            path.as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            SUPPORTED_CLASSES.map(|(name, _)| name).join(", ")
        ),
    }
}

/// Merges flags over the config file over diffusers' defaults. [`Resolved::plan`] validates.
pub fn resolve(cli: &Cli) -> Result<Resolved> {
    let config_file = config_path(cli);
    let file = match &config_file {
        Some(path) => SchedulerConfigFile::read(path)?,
        None => SchedulerConfigFile::default(),
    };
    let key = |name: &'static str| (&config_file, name);
    let scheduler = scheduler_kind(cli, &file, &config_file)?;
    let dpm_solver = scheduler == SchedulerKind::DpmSolver;
    refuse_foreign_flags(cli, scheduler)?;
    let (num_train_timesteps, num_train_timesteps_source) = layered(
        cli.num_train_timesteps,
        "--num-train-timesteps",
        file.num_train_timesteps,
        key("num_train_timesteps"),
        1000,
    );
    // diffusers' HeunDiscreteScheduler has other default betas ("sensible defaults").
    let heun = scheduler == SchedulerKind::Heun;
    let (beta_start, beta_start_source) = layered(
        cli.beta_start,
        "--beta-start",
        file.beta_start,
        key("beta_start"),
        if heun { 0.00085 } else { 0.0001 },
    );
    let (beta_end, beta_end_source) = layered(
        cli.beta_end,
        "--beta-end",
        file.beta_end,
        key("beta_end"),
        if heun { 0.012 } else { 0.02 },
    );
    // trained_betas only come from the file; a --beta-schedule flag replaces them.
    let (betas, betas_source) = match (&cli.beta_schedule, &file.trained_betas, &config_file) {
        (None, Some(trained), Some(path)) => (
            Betas::Trained(trained.clone()),
            Source::File(path.clone(), "trained_betas"),
        ),
        _ => {
            let (name, source) = layered(
                cli.beta_schedule.clone(),
                "--beta-schedule",
                file.beta_schedule.clone(),
                key("beta_schedule"),
                "linear".to_string(),
            );
            let betas = Betas::Named {
                name: parse_name(&source, &name)?,
                beta_start,
                beta_end,
            };
            // A bad range is reported as the flag or key of whichever end came from higher up.
            let range_source = match (&beta_start_source, &beta_end_source) {
                (Source::Flag(_), _) => beta_start_source,
                (_, Source::Flag(_)) => beta_end_source,
                (Source::File(..), _) => beta_start_source,
                _ => beta_end_source,
            };
            (betas, range_source)
        }
    };
    // diffusers' DPMSolverMultistep, UniPCMultistep and Euler(Ancestral)Discrete schedulers
    // default to linspace, DDIM and DDPM to leading.
    let (spacing, source) = layered(
        cli.timestep_spacing.clone(),
        "--timestep-spacing",
        file.timestep_spacing.clone(),
        key("timestep_spacing"),
        if scheduler.is_classic() {
            "leading"
        } else {
            "linspace"
        }
        .to_string(),
    );
    let spacing: TimestepSpacing = parse_name(&source, &spacing)?;
    let (prediction_type, source) = layered(
        cli.prediction_type.clone(),
        "--prediction-type",
        file.prediction_type.clone(),
        key("prediction_type"),
        "epsilon".to_string(),
    );
    let prediction_type: PredictionType = parse_name(&source, &prediction_type)?;
    let (variance_name, source) = layered(
        cli.variance_type.clone(),
        "--variance-type",
        file.variance_type.clone(),
        key("variance_type"),
        "fixed_small".to_string(),
    );
    let variance_type: VarianceType = parse_name(&source, &variance_name)?;
    if !scheduler.is_classic() && variance_type.needs_variance_channels() {
        bail!(
            "{source} {variance_name:?}: {} does not support a learned variance \
             (diffusers would drop the model's variance channels); use --scheduler ddpm",
            scheduler.display_name()
        );
    }
    let (clipping, clipping_source) = match scheduler {
        SchedulerKind::Ddim | SchedulerKind::Ddpm => clipping(cli, &file, &config_file)?,
        SchedulerKind::DpmSolver | SchedulerKind::Unipc => {
            dpm_solver_clipping(cli, &file, &config_file, scheduler)?
        }
        SchedulerKind::Euler | SchedulerKind::EulerAncestral => euler_clipping(cli, scheduler)?,
        SchedulerKind::Heun => heun_clipping(cli, &file, &config_file)?,
    };
    match scheduler {
        SchedulerKind::Ddpm if cli.eta != 0.0 => {
            bail!("--eta applies to DDIM only; DDPM's noise is set by --variance-type")
        }
        SchedulerKind::DpmSolver if cli.eta != 0.0 => {
            bail!(
                "--eta applies to DDIM only; DPM-Solver (dpmsolver++, dpmsolver) is deterministic"
            )
        }
        SchedulerKind::Unipc | SchedulerKind::Euler | SchedulerKind::Heun if cli.eta != 0.0 => {
            bail!(
                "--eta applies to DDIM only; {} is deterministic (--scheduler euler-ancestral \
                 adds noise at every step)",
                scheduler.class_name()
            )
        }
        SchedulerKind::EulerAncestral if cli.eta != 0.0 => {
            bail!(
                "--eta applies to DDIM only; EulerAncestralDiscreteScheduler always adds its \
                 ancestral noise"
            )
        }
        SchedulerKind::DpmSolver if cli.set_alpha_to_one.is_some() => bail!(
            "--set-alpha-to-one applies to DDIM and DDPM only; DPM-Solver's last step is set by \
             --final-sigmas-type"
        ),
        SchedulerKind::Unipc | SchedulerKind::Euler if cli.set_alpha_to_one.is_some() => bail!(
            "--set-alpha-to-one applies to DDIM and DDPM only; {}'s last step is set by \
             --final-sigmas-type",
            scheduler.class_name()
        ),
        SchedulerKind::EulerAncestral | SchedulerKind::Heun if cli.set_alpha_to_one.is_some() => {
            bail!(
                "--set-alpha-to-one applies to DDIM and DDPM only; {} always ends at sigma 0",
                scheduler.class_name()
            )
        }
        _ => {}
    }
    // diffusers' DDPM always steps to ᾱ = 1 after the last timestep; only an explicit flag changes that.
    let set_alpha_to_one = match scheduler {
        SchedulerKind::Ddim => cli
            .set_alpha_to_one
            .or(file.set_alpha_to_one)
            .unwrap_or(true),
        _ => cli.set_alpha_to_one.unwrap_or(true),
    };
    let sampler = DdpmDdimConfig {
        rule: match scheduler {
            SchedulerKind::Ddpm => DdpmDdimRule::Ddpm { variance_type },
            _ => DdpmDdimRule::Ddim {
                eta: cli.eta,
                use_clipped_model_output: false,
            },
        },
        prediction_type,
        clipping,
        final_alpha_cumprod: if set_alpha_to_one {
            FinalAlphaCumprod::One
        } else {
            FinalAlphaCumprod::First
        },
    };
    let (steps_offset, steps_offset_source) = layered(
        cli.steps_offset,
        "--steps-offset",
        file.steps_offset,
        key("steps_offset"),
        0,
    );
    let timesteps = TimestepConfig {
        num_inference_steps: cli.steps,
        spacing,
        steps_offset,
    };
    let (rescale_betas_zero_snr, _) = layered(
        cli.rescale_betas_zero_snr,
        "--rescale-betas-zero-snr",
        file.rescale_betas_zero_snr,
        key("rescale_betas_zero_snr"),
        false,
    );
    let (dpm_solver, solver_order_source) = if dpm_solver {
        let (config, source) =
            dpm_solver_config(cli, &file, &config_file, prediction_type, clipping)?;
        (Some(config), source)
    } else {
        (None, Source::Default("solver_order"))
    };
    let (unipc, solver_order_source, unipc_range_source) = if scheduler == SchedulerKind::Unipc {
        let (settings, source, range_source) =
            unipc_config(cli, &file, &config_file, prediction_type, clipping)?;
        (Some(settings), source, Some(range_source))
    } else {
        (None, solver_order_source, None)
    };
    let (euler, sigma_range_source) = match scheduler {
        SchedulerKind::Euler | SchedulerKind::EulerAncestral => {
            let (config, source) =
                euler_config(cli, &file, &config_file, scheduler, prediction_type)?;
            (Some(config), source)
        }
        _ => (
            None,
            unipc_range_source.unwrap_or(Source::Default("sigma_min")),
        ),
    };
    let heun = if heun {
        let (sigma_schedule, _) = sigma_schedule(cli, &file, &config_file)?;
        Some(HeunConfig {
            sigma_schedule,
            prediction_type,
            clip_sample: match clipping {
                SampleClipping::Range(range) => Some(range),
                _ => None,
            },
        })
    } else {
        None
    };
    Ok(Resolved {
        scheduler,
        num_train_timesteps,
        betas,
        rescale_betas_zero_snr,
        timesteps,
        sampler,
        dpm_solver,
        unipc,
        euler,
        heun,
        config_file,
        sources: Sources {
            num_train_timesteps: num_train_timesteps_source,
            betas: betas_source,
            steps: Source::Flag("--steps"),
            steps_offset: steps_offset_source,
            eta: Source::Flag("--eta"),
            clipping: clipping_source,
            solver_order: solver_order_source,
            sigma_range: sigma_range_source,
        },
    })
}

/// Flags of keys the chosen scheduler's diffusers class does not have: refused rather than
/// ignored, naming the schedulers they apply to.
fn refuse_foreign_flags(cli: &Cli, scheduler: SchedulerKind) -> Result<()> {
    use SchedulerKind::{DpmSolver, Euler, Heun, Unipc};
    let given: [(bool, &str, &[SchedulerKind]); 14] = [
        (
            cli.algorithm_type.is_some(),
            "--algorithm-type",
            &[DpmSolver],
        ),
        (
            cli.solver_order.is_some(),
            "--solver-order",
            &[DpmSolver, Unipc],
        ),
        (
            cli.solver_type.is_some(),
            "--solver-type",
            &[DpmSolver, Unipc],
        ),
        (
            cli.lower_order_final.is_some(),
            "--lower-order-final",
            &[DpmSolver, Unipc],
        ),
        (
            cli.euler_at_final.is_some(),
            "--euler-at-final",
            &[DpmSolver],
        ),
        (
            cli.final_sigmas_type.is_some(),
            "--final-sigmas-type",
            &[DpmSolver, Unipc, Euler],
        ),
        (cli.predict_x0.is_some(), "--predict-x0", &[Unipc]),
        (
            cli.disable_corrector.is_some(),
            "--disable-corrector",
            &[Unipc],
        ),
        (
            cli.use_karras_sigmas.is_some(),
            "--use-karras-sigmas",
            &[DpmSolver, Unipc, Euler, Heun],
        ),
        (
            cli.use_exponential_sigmas.is_some(),
            "--use-exponential-sigmas",
            &[DpmSolver, Unipc, Euler, Heun],
        ),
        (
            cli.use_beta_sigmas.is_some(),
            "--use-beta-sigmas",
            &[DpmSolver, Unipc, Euler, Heun],
        ),
        (cli.sigma_min.is_some(), "--sigma-min", &[Unipc, Euler]),
        (cli.sigma_max.is_some(), "--sigma-max", &[Unipc, Euler]),
        (cli.timestep_type.is_some(), "--timestep-type", &[Euler]),
    ];
    match given
        .iter()
        .find(|(given, _, applies)| *given && !applies.contains(&scheduler))
    {
        Some((_, flag, applies)) => {
            let list = |name: fn(SchedulerKind) -> &'static str, last: &str| {
                let names: Vec<&str> = applies.iter().map(|&kind| name(kind)).collect();
                match names.split_last() {
                    Some((final_name, rest)) if !rest.is_empty() => {
                        format!("{} {last} {final_name}", rest.join(", "))
                    }
                    _ => names.concat(),
                }
            };
            bail!(
                "{flag} applies to {} only (--scheduler {})",
                list(SchedulerKind::display_name, "and"),
                list(SchedulerKind::flag_value, "or")
            )
        }
        None => Ok(()),
    }
}

/// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`: each a flag over the file
/// over false; the one set (at most one), with its source.
fn sigma_schedule(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> Result<(SigmaSchedule, Option<Source>)> {
    let key = |name: &'static str| (path, name);
    let layers = [
        (
            layered(
                cli.use_karras_sigmas,
                "--use-karras-sigmas",
                file.use_karras_sigmas,
                key("use_karras_sigmas"),
                false,
            ),
            SigmaSchedule::Karras,
        ),
        (
            layered(
                cli.use_exponential_sigmas,
                "--use-exponential-sigmas",
                file.use_exponential_sigmas,
                key("use_exponential_sigmas"),
                false,
            ),
            SigmaSchedule::Exponential,
        ),
        (
            layered(
                cli.use_beta_sigmas,
                "--use-beta-sigmas",
                file.use_beta_sigmas,
                key("use_beta_sigmas"),
                false,
            ),
            SigmaSchedule::Beta,
        ),
    ];
    let mut set = layers.into_iter().filter(|((on, _), _)| *on);
    match (set.next(), set.next()) {
        (None, _) => Ok((SigmaSchedule::Interpolated, None)),
        (Some(((_, source), schedule)), None) => Ok((schedule, Some(source))),
        (Some(((_, first), _)), Some(((_, second), _))) => bail!(
            "{first} and {second} are both true: at most one of use_karras_sigmas, \
             use_exponential_sigmas and use_beta_sigmas may be set"
        ),
    }
}

/// `solver_order` of DPM-Solver and UniPC (flag > file > 2; 1, 2 or 3), with its source.
fn solver_order(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> Result<(u8, Source)> {
    let (order, source) = layered(
        cli.solver_order,
        "--solver-order",
        file.solver_order,
        (path, "solver_order"),
        2,
    );
    match u8::try_from(order) {
        Ok(order @ 1..=3) => Ok((order, source)),
        _ => bail!("{source}: solver_order must be 1, 2 or 3, got {order}"),
    }
}

/// Keys with no flag: only a file can set them.
fn file_key(path: &Option<PathBuf>, name: &'static str) -> Source {
    path.as_ref()
        .map_or(Source::Default(name), |p| Source::File(p.clone(), name))
}

/// UniPCMultistepScheduler's own keys, flag over file over diffusers' default; what the core
/// does not implement is refused by the file key (or flag) that asks for it. Returns the settings
/// and where `solver_order` and the sigma range came from.
fn unipc_config(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
    prediction_type: PredictionType,
    clipping: SampleClipping,
) -> Result<(UniPcSettings, Source, Source)> {
    let key = |name: &'static str| (path, name);
    let (sigma_schedule, _) = sigma_schedule(cli, file, path)?;
    let (sigma_min, sigma_max, sigma_range_source) = sigma_range(cli, file, path);
    for (value, name) in [
        (file.use_flow_sigmas, "use_flow_sigmas"),
        (file.use_dynamic_shifting, "use_dynamic_shifting"),
    ] {
        if value == Some(true) {
            bail!(
                "{} true: not supported (host's UniPC takes the schedule's own sigmas or \
                 Karras, exponential or beta sigmas); set it to false",
                file_key(path, name)
            );
        }
    }
    if let Some(solver_p) = &file.solver_p
        && !solver_p.is_null()
    {
        bail!(
            "{}: not supported (only null, diffusers' default: UniPC's own predictor)",
            file_key(path, "solver_p")
        );
    }
    let (solver_order, order_source) = solver_order(cli, file, path)?;
    let (name, source) = layered(
        cli.solver_type.clone(),
        "--solver-type",
        file.solver_type.clone(),
        key("solver_type"),
        "bh2".to_string(),
    );
    let solver_type: UniPcSolverType = parse_name(&source, &name)?;
    let (predict_x0, _) = layered(
        cli.predict_x0,
        "--predict-x0",
        file.predict_x0,
        key("predict_x0"),
        true,
    );
    let (lower_order_final, _) = layered(
        cli.lower_order_final,
        "--lower-order-final",
        file.lower_order_final,
        key("lower_order_final"),
        true,
    );
    let (disable_corrector, _) = layered(
        cli.disable_corrector.clone(),
        "--disable-corrector",
        file.disable_corrector.clone(),
        key("disable_corrector"),
        Vec::new(),
    );
    let (name, source) = layered(
        cli.final_sigmas_type.clone(),
        "--final-sigmas-type",
        file.final_sigmas_type.clone(),
        key("final_sigmas_type"),
        "zero".to_string(),
    );
    let final_sigmas_type: FinalSigmasType = parse_name(&source, &name)?;
    let settings = UniPcSettings {
        solver_order,
        solver_type,
        predict_x0,
        lower_order_final,
        disable_corrector,
        final_sigmas_type,
        prediction_type,
        clipping,
        sigma_schedule,
        sigma_min,
        sigma_max,
    };
    Ok((settings, order_source, sigma_range_source))
}

/// `sigma_min`, `sigma_max` of a sigma schedule (flag over file over none), and the source to
/// blame for a bad range: the value that is bad on its own, else the one from higher up.
fn sigma_range(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> (Option<f64>, Option<f64>, Source) {
    let key = |name: &'static str| (path, name);
    let (sigma_min, min_source) = layered(
        cli.sigma_min.map(Some),
        "--sigma-min",
        file.sigma_min.map(Some),
        key("sigma_min"),
        None,
    );
    let (sigma_max, max_source) = layered(
        cli.sigma_max.map(Some),
        "--sigma-max",
        file.sigma_max.map(Some),
        key("sigma_max"),
        None,
    );
    let bad = |sigma: Option<f64>| sigma.is_some_and(|s| !(s.is_finite() && s > 0.0));
    let source = match (&min_source, &max_source) {
        _ if bad(sigma_min) => min_source,
        _ if bad(sigma_max) => max_source,
        (Source::Flag(_), _) | (Source::File(..), Source::Default(_)) => min_source,
        _ => max_source,
    };
    (sigma_min, sigma_max, source)
}

/// EulerDiscreteScheduler's own keys (EulerAncestralDiscreteScheduler has none of them: its
/// file's are ignored as diffusers ignores them, and the flags are refused before this), flag
/// over file over diffusers' default. Returns the config and the source to blame for a bad
/// sigma range.
fn euler_config(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
    scheduler: SchedulerKind,
    prediction_type: PredictionType,
) -> Result<(EulerConfig, Source)> {
    if scheduler == SchedulerKind::EulerAncestral {
        let config = EulerConfig {
            variant: EulerVariant::Ancestral,
            prediction_type,
            ..EulerConfig::default()
        };
        return Ok((config, Source::Default("sigma_min")));
    }
    let key = |name: &'static str| (path, name);
    if let Some(interpolation) = &file.interpolation_type
        && interpolation != "linear"
    {
        bail!(
            "{} {interpolation:?}: not supported (only \"linear\", diffusers' default)",
            file_key(path, "interpolation_type")
        );
    }
    let (sigma_schedule, _) = sigma_schedule(cli, file, path)?;
    let (sigma_min, sigma_max, sigma_range_source) = sigma_range(cli, file, path);
    let (name, source) = layered(
        cli.timestep_type.clone(),
        "--timestep-type",
        file.timestep_type.clone(),
        key("timestep_type"),
        "discrete".to_string(),
    );
    let timestep_type: TimestepType = parse_name(&source, &name)?;
    let (name, source) = layered(
        cli.final_sigmas_type.clone(),
        "--final-sigmas-type",
        file.final_sigmas_type.clone(),
        key("final_sigmas_type"),
        "zero".to_string(),
    );
    let final_sigmas_type: FinalSigmasType = parse_name(&source, &name)?;
    let config = EulerConfig {
        variant: EulerVariant::Euler,
        sigma_schedule,
        sigma_min,
        sigma_max,
        final_sigmas_type,
        timestep_type,
        prediction_type,
    };
    Ok((config, sigma_range_source))
}

/// Heun's clipping: `clip_sample` (default false, as diffusers' HeunDiscreteScheduler) with
/// `clip_sample_range`; it has no thresholding (such file keys are ignored, the flags refused).
fn heun_clipping(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> Result<(SampleClipping, Source)> {
    if let Some(flag) = [
        (cli.thresholding.is_some(), "--thresholding"),
        (
            cli.dynamic_thresholding_ratio.is_some(),
            "--dynamic-thresholding-ratio",
        ),
        (cli.sample_max_value.is_some(), "--sample-max-value"),
    ]
    .iter()
    .find_map(|&(given, flag)| given.then_some(flag))
    {
        bail!(
            "{flag} applies to DDIM, DDPM, DPM-Solver and UniPC only; HeunDiscreteScheduler has \
             no thresholding (use --clip-sample)"
        );
    }
    let key = |name: &'static str| (path, name);
    let (clip_sample, clip_source) = layered(
        cli.clip_sample,
        "--clip-sample",
        file.clip_sample,
        key("clip_sample"),
        false,
    );
    if !clip_sample {
        return Ok((SampleClipping::None, clip_source));
    }
    let (range, source) = layered(
        cli.clip_sample_range,
        "--clip-sample-range",
        file.clip_sample_range,
        key("clip_sample_range"),
        1.0,
    );
    Ok((SampleClipping::Range(range), source))
}

/// Euler's clipping: none (neither Euler class has clip_sample or thresholding; such file keys
/// are ignored as diffusers ignores them, the flags are refused).
fn euler_clipping(cli: &Cli, scheduler: SchedulerKind) -> Result<(SampleClipping, Source)> {
    if let Some(flag) = [
        (cli.clip_sample.is_some(), "--clip-sample"),
        (cli.clip_sample_range.is_some(), "--clip-sample-range"),
        (cli.thresholding.is_some(), "--thresholding"),
        (
            cli.dynamic_thresholding_ratio.is_some(),
            "--dynamic-thresholding-ratio",
        ),
        (cli.sample_max_value.is_some(), "--sample-max-value"),
    ]
    .iter()
    .find_map(|&(given, flag)| given.then_some(flag))
    {
        bail!(
            "{flag} applies to DDIM, DDPM, DPM-Solver and UniPC only; {} has no clipping",
            scheduler.class_name()
        );
    }
    Ok((SampleClipping::None, Source::Default("clip_sample")))
}

/// DPMSolverMultistepScheduler's own keys, flag over file over diffusers' default; what the core
/// does not implement is refused by the file key (or flag) that asks for it. Returns the config
/// and where `solver_order` came from.
fn dpm_solver_config(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
    prediction_type: PredictionType,
    clipping: SampleClipping,
) -> Result<(DpmSolverConfig, Source)> {
    let key = |name: &'static str| (path, name);
    // Keys with no flag: only a file can set them, and only their default is supported.
    let file_key = |name: &'static str| {
        path.as_ref()
            .map_or(Source::Default(name), |p| Source::File(p.clone(), name))
    };
    let (sigma_schedule, _) = sigma_schedule(cli, file, path)?;
    let sigma_schedules = [
        (file.use_lu_lambdas, "use_lu_lambdas"),
        (file.use_flow_sigmas, "use_flow_sigmas"),
        (file.use_dynamic_shifting, "use_dynamic_shifting"),
    ];
    if let Some((_, name)) = sigma_schedules
        .iter()
        .find(|(value, _)| *value == Some(true))
    {
        bail!(
            "{} true: not supported (host's DPM-Solver takes the schedule's own sigmas or \
             Karras, exponential or beta sigmas); set it to false",
            file_key(name)
        );
    }
    if let Some(lambda) = file.lambda_min_clipped
        && lambda != f64::NEG_INFINITY
    {
        bail!(
            "{} {lambda}: not supported (only -Infinity, diffusers' default: no clipping of lambda)",
            file_key("lambda_min_clipped")
        );
    }
    let (algorithm, source) = layered(
        cli.algorithm_type.clone(),
        "--algorithm-type",
        file.algorithm_type.clone(),
        key("algorithm_type"),
        "dpmsolver++".to_string(),
    );
    let algorithm_type = match algorithm.as_str() {
        // diffusers runs a DEIS config's algorithm as dpmsolver++.
        "deis" => DpmSolverAlgorithm::DpmSolverPlusPlus,
        "sde-dpmsolver" => bail!(
            "{source} {algorithm:?}: not supported (deprecated in diffusers); use \
             sde-dpmsolver++, dpmsolver++ or dpmsolver"
        ),
        name => parse_name(&source, name)?,
    };
    let (solver_order, order_source) = solver_order(cli, file, path)?;
    let (name, source) = layered(
        cli.solver_type.clone(),
        "--solver-type",
        file.solver_type.clone(),
        key("solver_type"),
        "midpoint".to_string(),
    );
    let solver_type = match name.as_str() {
        // diffusers runs DEIS's and UniPC's solver types as midpoint.
        "logrho" | "bh1" | "bh2" => DpmSolverType::Midpoint,
        name => parse_name(&source, name)?,
    };
    let (lower_order_final, _) = layered(
        cli.lower_order_final,
        "--lower-order-final",
        file.lower_order_final,
        key("lower_order_final"),
        true,
    );
    let (euler_at_final, _) = layered(
        cli.euler_at_final,
        "--euler-at-final",
        file.euler_at_final,
        key("euler_at_final"),
        false,
    );
    let (name, source) = layered(
        cli.final_sigmas_type.clone(),
        "--final-sigmas-type",
        file.final_sigmas_type.clone(),
        key("final_sigmas_type"),
        "zero".to_string(),
    );
    let final_sigmas_type: FinalSigmasType = parse_name(&source, &name)?;
    let config = DpmSolverConfig {
        algorithm_type,
        solver_order,
        solver_type,
        lower_order_final,
        euler_at_final,
        final_sigmas_type,
        prediction_type,
        clipping,
        sigma_schedule,
    };
    Ok((config, order_source))
}

/// DPM-Solver's clipping: diffusers' `thresholding` only. Its config has no `clip_sample` (a file
/// key of that name is ignored, as diffusers ignores it); the clip flags are refused.
fn dpm_solver_clipping(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
    scheduler: SchedulerKind,
) -> Result<(SampleClipping, Source)> {
    if let Some(flag) = [
        (cli.clip_sample.is_some(), "--clip-sample"),
        (cli.clip_sample_range.is_some(), "--clip-sample-range"),
    ]
    .iter()
    .find_map(|&(given, flag)| given.then_some(flag))
    {
        bail!(
            "{flag} applies to DDIM and DDPM only; {} has no clip_sample (use --thresholding)",
            scheduler.class_name()
        );
    }
    let (thresholding, source) = layered(
        cli.thresholding,
        "--thresholding",
        file.thresholding,
        (path, "thresholding"),
        false,
    );
    if thresholding {
        Ok(dynamic_threshold(cli, file, path))
    } else {
        Ok((SampleClipping::None, source))
    }
}

/// `clip_sample` and `thresholding`, each a flag over the file over the default (false / true).
/// When both end up on, the one from the higher source wins (flag over file); from the same
/// source, thresholding wins as in diffusers, except that two contradicting flags are an error.
fn clipping(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> Result<(SampleClipping, Source)> {
    let key = |name: &'static str| (path, name);
    let (clip_sample, clip_source) = layered(
        cli.clip_sample,
        "--clip-sample",
        file.clip_sample,
        key("clip_sample"),
        true,
    );
    let (thresholding, thresholding_source) = layered(
        cli.thresholding,
        "--thresholding",
        file.thresholding,
        key("thresholding"),
        false,
    );
    let rank = |source: &Source| match source {
        Source::Flag(_) => 2,
        Source::File(..) => 1,
        Source::Default(_) => 0,
    };
    let use_thresholding = match (clip_sample, thresholding) {
        (_, false) => false,
        (false, true) => true,
        (true, true) => match rank(&thresholding_source).cmp(&rank(&clip_source)) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal if rank(&clip_source) == 2 => {
                bail!("--clip-sample true and --thresholding true contradict each other: pick one")
            }
            std::cmp::Ordering::Equal => true,
        },
    };
    if use_thresholding {
        Ok(dynamic_threshold(cli, file, path))
    } else if clip_sample {
        let (range, source) = layered(
            cli.clip_sample_range,
            "--clip-sample-range",
            file.clip_sample_range,
            key("clip_sample_range"),
            1.0,
        );
        Ok((SampleClipping::Range(range), source))
    } else {
        Ok((SampleClipping::None, clip_source))
    }
}

/// Dynamic thresholding with its ratio and maximum, each a flag over the file over the default;
/// the source returned is the one to blame if the core refuses them.
fn dynamic_threshold(
    cli: &Cli,
    file: &SchedulerConfigFile,
    path: &Option<PathBuf>,
) -> (SampleClipping, Source) {
    let key = |name: &'static str| (path, name);
    let (ratio, ratio_source) = layered(
        cli.dynamic_thresholding_ratio,
        "--dynamic-thresholding-ratio",
        file.dynamic_thresholding_ratio,
        key("dynamic_thresholding_ratio"),
        0.995,
    );
    let (max_value, max_source) = layered(
        cli.sample_max_value,
        "--sample-max-value",
        file.sample_max_value,
        key("sample_max_value"),
        1.0,
    );
    // Blame the value that breaks the rule (0 < ratio <= 1, finite max >= 1).
    let source = if ratio > 0.0 && ratio <= 1.0 {
        max_source
    } else {
        ratio_source
    };
    (
        SampleClipping::DynamicThreshold { ratio, max_value },
        source,
    )
}
