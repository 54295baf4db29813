//! The realized plan of a run, whichever update rule it is, and the one place that turns it into
//! the core's [`Scheduler`] trait: [`with_scheduler!`](crate::with_scheduler) expands one
//! `match`, and everything downstream (the sampling loop, the summary) is generic over
//! `S: Scheduler`. A new sampler is a variant here and an arm of the macro.

use diffusion_core::{
    DdpmDdimPlan, DpmSolverPlan, EulerPlan, HeunPlan, ModelTimestep, Scheduler, UniPcPlan,
};

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
