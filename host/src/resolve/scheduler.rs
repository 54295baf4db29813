//! Flags and diffusers' `scheduler_config.json` → the chosen scheduler's settings and its core
//! configuration, validated, with no ONNX Runtime call and nothing written.
//!
//! Every key is looked up the same way, from its row of [`crate::scheduler::keys::KEYS`]: a flag,
//! else the config file, else diffusers' default for the chosen scheduler. A flag of a key the
//! scheduler's diffusers class does not have is refused (naming the schedulers that have it);
//! such a file key is ignored, as diffusers ignores it. Every value remembers where it came from,
//! so that an invalid one is reported as the flag that gave it, or as the file and key.
//!
//! diffusers writes its configs with Python's JSON extensions (`Infinity`, `-Infinity`, `NaN`),
//! which JSON5 includes, so the file is read as JSON5.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use diffusion_core::schedule::BetaScheduleName;
use diffusion_core::{
    BetaSchedule, PredictionType, SampleClipping, ScheduleConfig, SigmaSchedule, TimestepConfig,
    TimestepSpacing, VarianceType,
};

use crate::cli::scheduler_flags::SchedulerFlags;
use crate::resolve::key_lookup::{ConfigFile, Lookup, Source, Value};
use crate::resolve::sampler_plan::{Common, SamplerConfig, SamplingPlan};
use crate::scheduler::SchedulerKind;
use crate::scheduler::keys::KEYS;

/// The chosen scheduler, every key resolved and the core's configuration built and checked.
#[derive(Clone, Debug)]
pub struct SchedulerSettings {
    /// The update rule.
    pub scheduler: SchedulerKind,
    /// `num_inference_steps` (`--steps`).
    pub steps: u32,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    lookup: Lookup,
    rule: SamplerConfig,
    /// Where the β values came from (the flag or key to blame for a bad range or length).
    betas_source: Source,
    clipping_source: Source,
    sigma_range_source: Source,
}

/// The scheduler config to use: the flag's, else `scheduler_config.json` beside the model.
pub fn config_path(flag: Option<&Path>, model: &Path) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        let beside = model
            .parent()
            .unwrap_or(Path::new("."))
            .join("scheduler_config.json");
        beside.is_file().then_some(beside)
    })
}

/// The update rule: `--scheduler`, else the file's `_class_name` (one host runs, or an error
/// naming it), else DDIM.
fn scheduler_kind(flag: Option<SchedulerKind>, file: &ConfigFile) -> Result<SchedulerKind> {
    if let Some(kind) = flag {
        return Ok(kind);
    }
    let Some(class_name) = file.class_name() else {
        return Ok(SchedulerKind::Ddim);
    };
    SchedulerKind::from_class_name(class_name).ok_or_else(|| {
        let values: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.flag_value()).collect();
        let classes: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.class_name()).collect();
        anyhow!(
            "scheduler config {}: _class_name {class_name} is not supported (host runs {}); \
             pass --scheduler {} to sample with one of those instead",
            file.path()
                .map_or(String::new(), |p| p.display().to_string()),
            classes.join(", "),
            crate::scheduler::kind::join_names(&values, "or"),
        )
    })
}

/// Resolves the scheduler: `--scheduler` and the key flags over `config` (the file, if any)
/// over diffusers' defaults, and builds the core's configuration (the plan, built from it,
/// validates the rest).
pub fn resolve(
    scheduler: Option<SchedulerKind>,
    steps: u32,
    flags: &SchedulerFlags,
    config: Option<&Path>,
) -> Result<SchedulerSettings> {
    let file = match config {
        Some(path) => ConfigFile::read(path)?,
        None => ConfigFile::default(),
    };
    let scheduler = scheduler_kind(scheduler, &file)?;
    let lookup = Lookup::new(scheduler, flags, &file)?;
    let (clipping, clipping_source) = clipping(&lookup)?;
    let (sigma_schedule, (sigma_min, sigma_max, sigma_range_source)) =
        (sigma_schedule(&lookup)?, sigma_range(&lookup));
    let prediction_type: PredictionType = lookup.parse("prediction_type")?;
    // LCM's class has no variance_type: its step reads the prediction's channels only.
    let variance_type = match lookup.get("variance_type") {
        Some(_) => lookup.parse("variance_type")?,
        None => VarianceType::FixedSmall,
    };
    if scheduler != SchedulerKind::Ddpm
        && scheduler != SchedulerKind::Ddim
        && variance_type.needs_variance_channels()
    {
        let (text, source) = lookup.text("variance_type").expect("parsed above");
        bail!(
            "{source} {text:?}: {} does not support a learned variance (diffusers would drop \
             the model's variance channels); use --scheduler ddpm",
            scheduler.display_name()
        );
    }
    let common = Common {
        prediction_type,
        variance_type,
        clipping,
        sigma_schedule,
        sigma_min,
        sigma_max,
    };
    let rule = SamplerConfig::new(scheduler, &lookup, common)?;
    let betas_source = betas_source(&lookup);
    let settings = SchedulerSettings {
        scheduler,
        steps,
        config_file: file.path().map(Path::to_path_buf),
        lookup,
        rule,
        betas_source,
        clipping_source,
        sigma_range_source,
    };
    // Names are checked here; the values' ranges by the plan.
    settings.schedule()?;
    settings.timesteps()?;
    Ok(settings)
}

/// `use_karras_sigmas`, `use_exponential_sigmas`, `use_beta_sigmas`: the one set (at most one).
fn sigma_schedule(lookup: &Lookup) -> Result<SigmaSchedule> {
    let schedules = [
        ("use_karras_sigmas", SigmaSchedule::Karras),
        ("use_exponential_sigmas", SigmaSchedule::Exponential),
        ("use_beta_sigmas", SigmaSchedule::Beta),
    ];
    let mut set = schedules
        .iter()
        .filter_map(|&(name, schedule)| match lookup.bool(name) {
            Some((true, source)) => Some((source, schedule)),
            _ => None,
        });
    match (set.next(), set.next()) {
        (None, _) => Ok(SigmaSchedule::Interpolated),
        (Some((_, schedule)), None) => Ok(schedule),
        (Some((first, _)), Some((second, _))) => bail!(
            "{first} and {second} are both true: at most one of use_karras_sigmas, \
             use_exponential_sigmas and use_beta_sigmas may be set"
        ),
    }
}

/// `sigma_min`, `sigma_max` of a sigma schedule, and the source to blame for a bad range: the
/// value that is bad on its own, else the one from higher up.
fn sigma_range(lookup: &Lookup) -> (Option<f64>, Option<f64>, Source) {
    let (sigma_min, sigma_max) = (lookup.f64("sigma_min"), lookup.f64("sigma_max"));
    let (min_source, max_source) = (lookup.source("sigma_min"), lookup.source("sigma_max"));
    let bad = |sigma: &Option<(f64, Source)>| {
        sigma
            .as_ref()
            .is_some_and(|(s, _)| !(s.is_finite() && *s > 0.0))
    };
    let source = if bad(&sigma_min) {
        min_source
    } else if bad(&sigma_max) || max_source.rank() > min_source.rank() {
        max_source
    } else if min_source.rank() > 0 {
        min_source
    } else {
        max_source
    };
    (sigma_min.map(|(s, _)| s), sigma_max.map(|(s, _)| s), source)
}

/// Clipping of the predicted x₀ from `clip_sample` (with `clip_sample_range`) and
/// `thresholding` (with its ratio and maximum), each where the scheduler has it. When both are
/// on, the one from the higher source wins (flag over file); from the same source, thresholding
/// wins as in diffusers, except that two contradicting flags are an error. Returns the source to
/// blame if the core refuses the values.
fn clipping(lookup: &Lookup) -> Result<(SampleClipping, Source)> {
    let clip = lookup.bool("clip_sample");
    let threshold = lookup.bool("thresholding");
    let use_thresholding = match (&clip, &threshold) {
        (_, None | Some((false, _))) => false,
        (None | Some((false, _)), Some((true, _))) => true,
        (Some((true, clip_source)), Some((true, threshold_source))) => {
            match threshold_source.rank().cmp(&clip_source.rank()) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal if clip_source.rank() == 2 => bail!(
                    "--clip-sample true and --thresholding true contradict each other: pick one"
                ),
                std::cmp::Ordering::Equal => true,
            }
        }
    };
    if use_thresholding {
        let (ratio, ratio_source) = lookup.f32("dynamic_thresholding_ratio").expect("a row");
        let (max_value, max_source) = lookup.f32("sample_max_value").expect("a row");
        // Blame the value that breaks the rule (0 < ratio <= 1, finite max >= 1).
        let source = match ratio > 0.0 && ratio <= 1.0 {
            true => max_source,
            false => ratio_source,
        };
        return Ok((
            SampleClipping::DynamicThreshold { ratio, max_value },
            source,
        ));
    }
    match clip {
        Some((true, _)) => {
            let (range, source) = lookup.f32("clip_sample_range").expect("a row");
            Ok((SampleClipping::Range(range), source))
        }
        Some((false, source)) => Ok((SampleClipping::None, source)),
        None => Ok((SampleClipping::None, Source::Default("clip_sample"))),
    }
}

/// Where the β values came from: `trained_betas` when they are used, else the end of the range
/// that came from higher up.
fn betas_source(lookup: &Lookup) -> Source {
    let schedule_flag = matches!(lookup.source("beta_schedule"), Source::Flag(_));
    if let Some((Value::Floats(_), source)) = lookup.get("trained_betas")
        && !schedule_flag
    {
        return source.clone();
    }
    let (start, end) = (lookup.source("beta_start"), lookup.source("beta_end"));
    match end.rank() > start.rank() {
        true => end,
        false => start,
    }
}

impl SchedulerSettings {
    /// The schedule, borrowing trained betas.
    pub fn schedule(&self) -> Result<ScheduleConfig<'_>> {
        let lookup = &self.lookup;
        let trained = match lookup.get("trained_betas") {
            Some((Value::Floats(betas), _))
                if !matches!(lookup.source("beta_schedule"), Source::Flag(_)) =>
            {
                Some(betas.as_slice())
            }
            _ => None,
        };
        let beta_schedule = match trained {
            Some(betas) => BetaSchedule::Trained(betas),
            None => {
                let name: BetaScheduleName = lookup.parse("beta_schedule")?;
                let beta_start = lookup.f64("beta_start").map_or(0.0, |(b, _)| b);
                let beta_end = lookup.f64("beta_end").map_or(0.0, |(b, _)| b);
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
        };
        Ok(ScheduleConfig {
            num_train_timesteps: lookup.u32("num_train_timesteps")?.unwrap_or(1000),
            beta_schedule,
            rescale_betas_zero_snr: lookup.flag("rescale_betas_zero_snr"),
        })
    }

    /// Steps, spacing and offset (a scheduler without `timestep_spacing`, LCM, reads only the
    /// steps).
    pub fn timesteps(&self) -> Result<TimestepConfig> {
        Ok(TimestepConfig {
            num_inference_steps: self.steps,
            spacing: match self.lookup.get("timestep_spacing") {
                Some(_) => self.lookup.parse::<TimestepSpacing>("timestep_spacing")?,
                None => TimestepSpacing::Leading,
            },
            steps_offset: self.lookup.u32("steps_offset")?.unwrap_or(0),
        })
    }

    /// The settings under diffusers' key names, for the manifest: `_class_name`,
    /// `num_inference_steps` and every key the scheduler has (those of which only the default is
    /// supported excepted: they cannot change the bits).
    pub fn manifest_fields(&self) -> BTreeMap<String, serde_json::Value> {
        let mut fields = BTreeMap::new();
        fields.insert("_class_name".into(), self.scheduler.class_name().into());
        fields.insert("num_inference_steps".into(), self.steps.into());
        for key in KEYS.iter().filter(|key| !key.default_only) {
            if let Some((value, _)) = self.lookup.get(key.name) {
                fields.insert(key.name.into(), value.to_json());
            }
        }
        fields
    }

    /// Whether the model's output carries variance channels that the step uses (DDPM with a
    /// learned variance).
    pub fn learns_variance(&self) -> Option<VarianceType> {
        self.rule.learns_variance()
    }

    /// The name of the sampler, for the summary: "DDIM", "DPM-Solver++ 2M", "UniPC bh2 order 2",
    /// "Euler (Karras sigmas)"…
    pub fn sampler_name(&self) -> String {
        self.rule.name()
    }

    /// Builds the plan (boxed: up to [`crate::resolve::sampler_plan::MAX_STEPS`] entries), which validates every value
    /// (steps, betas, trained_betas length, η, clipping…).
    pub fn plan(&self) -> Result<Box<SamplingPlan>> {
        let plan = self
            .rule
            .plan(&self.schedule()?, &self.timesteps()?)
            .map_err(|error| self.blame(error))?;
        Ok(Box::new(plan))
    }

    /// A plan's error, prefixed with the flag or file key that gave the value at fault.
    fn blame(&self, error: diffusion_core::Error) -> anyhow::Error {
        use diffusion_core::Error;
        let multistep = matches!(
            self.scheduler,
            SchedulerKind::DpmSolver | SchedulerKind::Unipc
        );
        let steps = Source::Flag("--steps".into());
        if let Error::InvalidStepCount {
            steps: count,
            num_train_timesteps,
        } = error
            && multistep
            && count >= num_train_timesteps
            && self.lookup.text("timestep_spacing").map(|(name, _)| name) != Some("trailing")
        {
            return anyhow!(
                "{steps}: {} with linspace or leading spacing places N + 1 points among the \
                 {num_train_timesteps} training timesteps, so steps must be in \
                 1..={}, got {count} (or use --timestep-spacing trailing)",
                self.scheduler.display_name(),
                num_train_timesteps - 1
            );
        }
        let source = match error {
            Error::InvalidTrainTimesteps { .. } => Some(self.lookup.source("num_train_timesteps")),
            Error::InvalidBetaRange { .. }
            | Error::TrainedBetasLength { .. }
            | Error::InvalidTrainedBeta { .. } => Some(self.betas_source.clone()),
            Error::InvalidStepCount { .. } | Error::CapacityExceeded { .. } => Some(steps),
            Error::TimestepOutOfRange { .. } => Some(self.lookup.source("steps_offset")),
            Error::InvalidEta => Some(self.lookup.source("eta")),
            Error::InvalidClipRange | Error::InvalidThreshold => Some(self.clipping_source.clone()),
            Error::InvalidSolverOrder { .. } => Some(self.lookup.source("solver_order")),
            Error::InvalidSigmaRange { .. } => Some(self.sigma_range_source.clone()),
            _ => None,
        };
        match source {
            Some(source) => anyhow!("{source}: {error}"),
            None => {
                let file = self
                    .config_file
                    .as_ref()
                    .map_or("flags and defaults".into(), |p| p.display().to_string());
                anyhow!("invalid sampler configuration ({file}): {error}")
            }
        }
    }
}
