//! Each sampler's part of host, in one file: its core configuration from the scheduler keys
//! ([`SamplerConfig::new`]), its plan, its name in the summary, and the one place that turns the
//! plan into the core's [`Scheduler`] trait: [`with_scheduler!`](crate::with_scheduler) expands one
//! `match`, and everything downstream (the sampling loop, the summary) is generic over
//! `S: Scheduler`. A new sampler is a variant here and an arm of the macro.

use anyhow::{Result, anyhow, bail};
use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan,
    DpmSolverType, EulerConfig, EulerPlan, EulerVariant, FinalAlphaCumprod, FinalSigmasType,
    HeunConfig, HeunPlan, LcmConfig, LcmPlan, ModelTimestep, PredictionType, SampleClipping,
    ScheduleConfig, Scheduler, SigmaSchedule, TimestepConfig, TimestepType, UniPcConfig, UniPcPlan,
    UniPcSolverType, VarianceType,
};

use crate::resolve::key_lookup::{Lookup, Value};
use crate::scheduler::SchedulerKind;

/// The largest plan the host builds (T is at most this many steps in practice).
pub const MAX_STEPS: usize = 4096;

/// The realized steps of a run, by update rule. Made once per run and boxed, so the variants'
/// sizes (UniPC's weights are the largest) do not matter.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SamplingPlan {
    /// DDPM or DDIM.
    DdpmDdim(DdpmDdimPlan<MAX_STEPS>),
    /// DPM-Solver(++) multistep.
    DpmSolver(DpmSolverPlan<MAX_STEPS>),
    /// UniPC multistep.
    UniPc(UniPcPlan<MAX_STEPS>),
    /// Euler or Euler ancestral.
    Euler(EulerPlan<MAX_STEPS>),
    /// Heun (two model calls per step but the last).
    Heun(HeunPlan<MAX_STEPS>),
    /// LCM.
    Lcm(LcmPlan<MAX_STEPS>),
}

/// `with_scheduler!(plan, p => expression)`: evaluates the expression with `p` bound to the
/// plan as its concrete type, so that generic code over [`Scheduler`] is instantiated once per
/// sampler.
#[macro_export]
macro_rules! with_scheduler {
    ($plan:expr, $p:ident => $body:expr) => {
        match $plan {
            $crate::resolve::sampler_plan::SamplingPlan::DdpmDdim($p) => $body,
            $crate::resolve::sampler_plan::SamplingPlan::DpmSolver($p) => $body,
            $crate::resolve::sampler_plan::SamplingPlan::UniPc($p) => $body,
            $crate::resolve::sampler_plan::SamplingPlan::Euler($p) => $body,
            $crate::resolve::sampler_plan::SamplingPlan::Heun($p) => $body,
            $crate::resolve::sampler_plan::SamplingPlan::Lcm($p) => $body,
        }
    };
}

impl SamplingPlan {
    /// Model calls per sample (N, or 2N − 1 for Heun).
    pub fn num_model_calls(&self) -> usize {
        with_scheduler!(self, plan => plan.num_model_calls())
    }

    /// Denoising steps (`--steps`).
    pub fn num_inference_steps(&self) -> usize {
        with_scheduler!(self, plan => plan.num_inference_steps())
    }

    /// The timestep the model sees at each call, in order.
    pub fn timesteps(&self) -> Vec<ModelTimestep> {
        with_scheduler!(self, plan => (0..plan.num_model_calls())
            .filter_map(|call| plan.model_timestep(call).ok())
            .collect())
    }

    /// diffusers' `init_noise_sigma`: x_T is standard normal noise times this.
    pub fn init_noise_sigma(&self) -> f32 {
        with_scheduler!(self, plan => plan.init_noise_sigma())
    }

    /// Whether the step reads variance channels after the prediction's (DDPM/DDIM's plan, for
    /// a learned variance; every other sampler takes a prediction of the sample's channels
    /// only).
    pub fn reads_variance_channels(&self) -> bool {
        matches!(self, SamplingPlan::DdpmDdim(_))
    }
}

/// The core's configuration of the chosen update rule, from the key lookup.
#[derive(Clone, Debug)]
pub enum SamplerConfig {
    /// DDPM or DDIM.
    DdpmDdim(DdpmDdimConfig),
    /// DPM-Solver.
    DpmSolver(DpmSolverConfig),
    /// UniPC.
    UniPc(UniPcSettings),
    /// Euler and Euler ancestral.
    Euler(EulerConfig),
    /// Heun.
    Heun(HeunConfig),
    /// LCM.
    Lcm(LcmConfig),
}

/// UniPC's configuration, owning `disable_corrector` ([`UniPcConfig`] borrows it).
#[derive(Clone, Debug, PartialEq)]
pub struct UniPcSettings {
    config: UniPcConfig<'static>,
    disable_corrector: Vec<usize>,
}

impl UniPcSettings {
    fn config(&self) -> UniPcConfig<'_> {
        UniPcConfig {
            disable_corrector: &self.disable_corrector,
            ..self.config
        }
    }
}

/// What every sampler's configuration takes from the common keys.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    /// `prediction_type`.
    pub prediction_type: PredictionType,
    /// `variance_type`.
    pub variance_type: VarianceType,
    /// `clip_sample` / `thresholding`, resolved.
    pub clipping: SampleClipping,
    /// `use_karras_sigmas` / `use_exponential_sigmas` / `use_beta_sigmas`.
    pub sigma_schedule: SigmaSchedule,
    /// `sigma_min`.
    pub sigma_min: Option<f64>,
    /// `sigma_max`.
    pub sigma_max: Option<f64>,
}

impl SamplerConfig {
    /// `scheduler`'s configuration from its keys.
    pub(crate) fn new(scheduler: SchedulerKind, lookup: &Lookup, common: Common) -> Result<Self> {
        let Common {
            prediction_type,
            variance_type,
            clipping,
            sigma_schedule,
            sigma_min,
            sigma_max,
        } = common;
        let final_sigmas_type = || lookup.parse::<FinalSigmasType>("final_sigmas_type");
        let config = match scheduler {
            SchedulerKind::Ddim | SchedulerKind::Ddpm => SamplerConfig::DdpmDdim(DdpmDdimConfig {
                rule: match scheduler {
                    SchedulerKind::Ddpm => DdpmDdimRule::Ddpm { variance_type },
                    _ => DdpmDdimRule::Ddim {
                        eta: lookup.f32("eta").map_or(0.0, |(eta, _)| eta),
                        use_clipped_model_output: false,
                    },
                },
                prediction_type,
                clipping,
                final_alpha_cumprod: match lookup.flag("set_alpha_to_one") {
                    true => FinalAlphaCumprod::One,
                    false => FinalAlphaCumprod::First,
                },
            }),
            SchedulerKind::DpmSolver => SamplerConfig::DpmSolver(DpmSolverConfig {
                algorithm_type: dpm_solver_algorithm(lookup)?,
                solver_order: solver_order(lookup)?,
                solver_type: match lookup.text("solver_type") {
                    // diffusers runs DEIS's and UniPC's solver types as midpoint.
                    Some(("logrho" | "bh1" | "bh2", _)) => DpmSolverType::Midpoint,
                    _ => lookup.parse("solver_type")?,
                },
                lower_order_final: lookup.flag("lower_order_final"),
                euler_at_final: lookup.flag("euler_at_final"),
                final_sigmas_type: final_sigmas_type()?,
                prediction_type,
                clipping,
                sigma_schedule,
            }),
            SchedulerKind::Unipc => SamplerConfig::UniPc(UniPcSettings {
                config: UniPcConfig {
                    solver_order: solver_order(lookup)?,
                    solver_type: lookup.parse::<UniPcSolverType>("solver_type")?,
                    predict_x0: lookup.flag("predict_x0"),
                    lower_order_final: lookup.flag("lower_order_final"),
                    disable_corrector: &[],
                    final_sigmas_type: final_sigmas_type()?,
                    prediction_type,
                    clipping,
                    sigma_schedule,
                    sigma_min,
                    sigma_max,
                },
                disable_corrector: match lookup.get("disable_corrector") {
                    Some((Value::Indices(indices), _)) => indices.clone(),
                    _ => Vec::new(),
                },
            }),
            SchedulerKind::Euler => SamplerConfig::Euler(EulerConfig {
                variant: EulerVariant::Euler,
                sigma_schedule,
                sigma_min,
                sigma_max,
                final_sigmas_type: final_sigmas_type()?,
                timestep_type: lookup.parse::<TimestepType>("timestep_type")?,
                prediction_type,
            }),
            SchedulerKind::EulerAncestral => SamplerConfig::Euler(EulerConfig {
                variant: EulerVariant::Ancestral,
                prediction_type,
                ..EulerConfig::default()
            }),
            SchedulerKind::Heun => SamplerConfig::Heun(HeunConfig {
                sigma_schedule,
                prediction_type,
                clip_sample: match clipping {
                    SampleClipping::Range(range) => Some(range),
                    _ => None,
                },
            }),
            SchedulerKind::Lcm => SamplerConfig::Lcm(LcmConfig {
                original_inference_steps: lookup.u32("original_inference_steps")?.unwrap_or(50),
                timestep_scaling: lookup.f64("timestep_scaling").map_or(10.0, |(s, _)| s),
                prediction_type,
                clipping,
            }),
        };
        Ok(config)
    }

    /// The plan of this configuration.
    pub fn plan(
        &self,
        schedule: &ScheduleConfig<'_>,
        timesteps: &TimestepConfig,
    ) -> Result<SamplingPlan, diffusion_core::Error> {
        match self {
            SamplerConfig::DdpmDdim(config) => {
                DdpmDdimPlan::new(schedule, timesteps, config).map(SamplingPlan::DdpmDdim)
            }
            SamplerConfig::DpmSolver(config) => {
                DpmSolverPlan::new(schedule, timesteps, config).map(SamplingPlan::DpmSolver)
            }
            SamplerConfig::UniPc(settings) => {
                UniPcPlan::new(schedule, timesteps, &settings.config()).map(SamplingPlan::UniPc)
            }
            SamplerConfig::Euler(config) => {
                EulerPlan::new(schedule, timesteps, config).map(SamplingPlan::Euler)
            }
            SamplerConfig::Heun(config) => {
                HeunPlan::new(schedule, timesteps, config).map(SamplingPlan::Heun)
            }
            SamplerConfig::Lcm(config) => {
                LcmPlan::new(schedule, timesteps.num_inference_steps, config).map(SamplingPlan::Lcm)
            }
        }
    }

    /// The name of the sampler, for the summary: "DDIM", "DDPM", "DPM-Solver++ 2M", "UniPC bh2
    /// order 2", "Euler (Karras sigmas)"…
    pub fn name(&self) -> String {
        match self {
            SamplerConfig::DdpmDdim(config) => match config.rule {
                DdpmDdimRule::Ddpm { .. } => "DDPM".into(),
                _ => "DDIM".into(),
            },
            SamplerConfig::Lcm(config) => format!(
                "LCM (original_inference_steps {})",
                config.original_inference_steps
            ),
            SamplerConfig::UniPc(settings) => {
                let config = settings.config;
                let solver_type = match config.solver_type {
                    UniPcSolverType::Bh1 => "bh1",
                    _ => "bh2",
                };
                let prediction = match config.predict_x0 {
                    true => "",
                    false => ", noise prediction",
                };
                format!(
                    "UniPC {solver_type} order {}{prediction}{}",
                    config.solver_order,
                    sigma_schedule_suffix(config.sigma_schedule)
                )
            }
            SamplerConfig::Heun(config) => {
                format!("Heun{}", sigma_schedule_suffix(config.sigma_schedule))
            }
            SamplerConfig::Euler(config) => {
                let name = match config.variant {
                    EulerVariant::Ancestral => "Euler ancestral",
                    _ => "Euler",
                };
                format!("{name}{}", sigma_schedule_suffix(config.sigma_schedule))
            }
            SamplerConfig::DpmSolver(config) => {
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
        }
    }

    /// Whether the model's output carries variance channels that the step uses (DDPM with a
    /// learned variance).
    pub fn learns_variance(&self) -> Option<VarianceType> {
        match self {
            SamplerConfig::DdpmDdim(DdpmDdimConfig {
                rule: DdpmDdimRule::Ddpm { variance_type },
                ..
            }) if variance_type.needs_variance_channels() => Some(*variance_type),
            _ => None,
        }
    }
}

/// DPM-Solver's `algorithm_type`: diffusers runs a DEIS config as dpmsolver++, and has
/// deprecated sde-dpmsolver.
fn dpm_solver_algorithm(lookup: &Lookup) -> Result<DpmSolverAlgorithm> {
    match lookup.text("algorithm_type") {
        Some(("deis", _)) => Ok(DpmSolverAlgorithm::DpmSolverPlusPlus),
        Some((name @ "sde-dpmsolver", source)) => bail!(
            "{source} {name:?}: not supported (deprecated in diffusers); use sde-dpmsolver++, \
             dpmsolver++ or dpmsolver"
        ),
        _ => lookup.parse("algorithm_type"),
    }
}

/// `solver_order` of DPM-Solver and UniPC: 1, 2 or 3.
fn solver_order(lookup: &Lookup) -> Result<u8> {
    let (order, source) = lookup
        .integer("solver_order")
        .ok_or_else(|| anyhow!("solver_order: no value for this scheduler"))?;
    match u8::try_from(order) {
        Ok(order @ 1..=3) => Ok(order),
        _ => bail!("{source}: solver_order must be 1, 2 or 3, got {order}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use diffusion_core::{EulerConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};

    /// A float model gets Euler's fractional timestep, an integer model the truncated one;
    /// x_T is scaled by σ_max; DDIM's timesteps are whole.
    #[test]
    fn euler_timesteps_and_init_noise_sigma() {
        let timesteps = TimestepConfig {
            num_inference_steps: 25,
            spacing: TimestepSpacing::Linspace,
            steps_offset: 0,
        };
        let schedule = ScheduleConfig::default();
        let euler = EulerPlan::new(&schedule, &timesteps, &EulerConfig::default()).unwrap();
        let plan = SamplingPlan::Euler(euler.clone());
        let second = plan.timesteps()[1];
        assert_eq!((second.float(), second.integer()), (957.375, 957));
        assert_eq!(second.to_string(), "957.375");
        assert_eq!(plan.timesteps()[0].to_string(), "999");
        assert_eq!(plan.init_noise_sigma(), euler.init_noise_sigma());
        assert!(plan.init_noise_sigma() > 100.0);
        assert!(!plan.reads_variance_channels());
        let ddim = DdpmDdimPlan::new(&schedule, &timesteps, &Default::default()).unwrap();
        let plan = SamplingPlan::DdpmDdim(ddim);
        assert_eq!(plan.init_noise_sigma(), 1.0);
        assert!(plan.timesteps().iter().all(|t| t.is_whole()));
        assert!(plan.reads_variance_channels());
    }
}
