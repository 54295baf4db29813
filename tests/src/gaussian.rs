//! The exact Gaussian problem of issue 11: data N(μ, s²) = N(0.3, 0.5²) has the exact
//! ε-predictor ε̂(x, t) = √(1 − ᾱ_t)·(x − √ᾱ_t·μ)/(ᾱ_t·s² + 1 − ᾱ_t), and its probability-flow
//! map from the first point of a run to data is closed form,
//! x₀ = μ + s·(x_{t₀} − √ᾱ_{t₀}·μ)/√(ᾱ_{t₀}·s² + 1 − ᾱ_{t₀}),
//! so a deterministic sampler's distance to that map is its discretisation error alone.
//! Schedule: linear betas 1e-4…0.02, T = 1000 (the core's default), `trailing` spacing; x_T from
//! noise v1 (seed 0, stream 0). Each function returns the relative L2 error of a whole run.

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DpmSolverConfig, DpmSolverPlan, EulerConfig, EulerPlan,
    HeunConfig, HeunPlan, NoiseSource, ScheduleConfig, SigmaSchedule, TimestepConfig,
    TimestepSpacing, UniPcConfig, UniPcPlan, fill_alphas_cumprod, noise_stream,
};

/// μ.
pub const MEAN: f64 = 0.3;
/// s.
pub const STD: f64 = 0.5;
/// Largest number of steps a run here takes.
const CAPACITY: usize = 200;

/// ε̂ of x at ᾱ, into `out`.
pub fn exact_epsilon(x: &[f32], alpha_cumprod: f64, out: &mut [f32]) {
    let scale = (1.0 - alpha_cumprod).sqrt() / (alpha_cumprod * STD * STD + 1.0 - alpha_cumprod);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (scale * (v as f64 - alpha_cumprod.sqrt() * MEAN)) as f32;
    }
}

/// The probability-flow map of `x_t` at ᾱ to data.
pub fn exact_map(x_t: &[f32], alpha_cumprod: f64) -> Vec<f32> {
    let scale = STD / (alpha_cumprod * STD * STD + 1.0 - alpha_cumprod).sqrt();
    x_t.iter()
        .map(|&v| (MEAN + scale * (v as f64 - alpha_cumprod.sqrt() * MEAN)) as f32)
        .collect()
}

fn trailing(steps: u32) -> TimestepConfig {
    TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Trailing,
        steps_offset: 0,
    }
}

/// The problem: the schedule and `samples` values of x_T.
pub struct Problem {
    alphas_cumprod: Vec<f32>,
    x_t: Vec<f32>,
}

impl Problem {
    /// x_T of `samples` values.
    pub fn new(samples: usize) -> Problem {
        let mut alphas_cumprod = vec![0.0f32; 1000];
        fill_alphas_cumprod(&ScheduleConfig::default(), &mut alphas_cumprod).unwrap();
        let mut x_t = vec![0.0f32; samples];
        noise_stream(0, 0).fill_standard_normal(&mut x_t);
        Problem {
            alphas_cumprod,
            x_t,
        }
    }

    fn alpha_cumprod(&self, timestep: u32) -> f64 {
        self.alphas_cumprod[timestep as usize] as f64
    }

    fn error(&self, first_timestep: u32, x: &[f32]) -> f64 {
        let exact = exact_map(&self.x_t, self.alpha_cumprod(first_timestep));
        crate::relative_l2(x, &exact)
    }

    /// DDIM, η = 0 (`steps` model calls).
    pub fn ddim(&self, steps: u32) -> f64 {
        let plan: DdpmDdimPlan<CAPACITY> = DdpmDdimPlan::new(
            &ScheduleConfig::default(),
            &trailing(steps),
            &DdpmDdimConfig::default(),
        )
        .unwrap();
        let mut x = self.x_t.clone();
        let mut epsilon = vec![0.0f32; x.len()];
        let mut unused_noise = noise_stream(0, 1);
        for (index, timestep) in plan.timesteps().enumerate() {
            exact_epsilon(&x, self.alpha_cumprod(timestep), &mut epsilon);
            plan.step(index, &mut x, &epsilon, &mut unused_noise, &mut [])
                .unwrap();
        }
        self.error(plan.timesteps().next().unwrap(), &x)
    }

    /// DPM-Solver multistep with `config` (`steps` model calls).
    pub fn dpm_solver(&self, steps: u32, config: &DpmSolverConfig) -> f64 {
        let plan: DpmSolverPlan<CAPACITY> =
            DpmSolverPlan::new(&ScheduleConfig::default(), &trailing(steps), config).unwrap();
        let mut x = self.x_t.clone();
        let mut buffer = vec![0.0f32; plan.history_len() * x.len()];
        let mut history = plan.history(&mut buffer, x.len()).unwrap();
        let mut epsilon = vec![0.0f32; x.len()];
        for (index, timestep) in plan.timesteps().enumerate() {
            exact_epsilon(&x, self.alpha_cumprod(timestep), &mut epsilon);
            plan.step(index, &mut x, &epsilon, &mut history, &mut [])
                .unwrap();
        }
        self.error(plan.timesteps().next().unwrap(), &x)
    }

    /// UniPC with `config` (`steps` model calls).
    pub fn unipc(&self, steps: u32, config: &UniPcConfig<'_>) -> f64 {
        let plan: UniPcPlan<CAPACITY> =
            UniPcPlan::new(&ScheduleConfig::default(), &trailing(steps), config).unwrap();
        let mut x = self.x_t.clone();
        let mut buffer = vec![0.0f32; plan.history_len() * x.len()];
        let mut history = plan.history(&mut buffer, x.len()).unwrap();
        let mut epsilon = vec![0.0f32; x.len()];
        for (index, timestep) in plan.timesteps().enumerate() {
            exact_epsilon(&x, self.alpha_cumprod(timestep), &mut epsilon);
            plan.step(index, &mut x, &epsilon, &mut history, &mut [])
                .unwrap();
        }
        self.error(plan.timesteps().next().unwrap(), &x)
    }

    /// Euler with `sigma_schedule` (`steps` model calls). In σ-space: x_T·`init_noise_sigma`,
    /// the model sees x/√(σ²+1) at ᾱ = 1/(σ²+1).
    pub fn euler(&self, steps: u32, sigma_schedule: SigmaSchedule) -> f64 {
        let config = EulerConfig {
            sigma_schedule,
            ..EulerConfig::default()
        };
        let plan: EulerPlan<CAPACITY> =
            EulerPlan::new(&ScheduleConfig::default(), &trailing(steps), &config).unwrap();
        let mut x: Vec<f32> = self
            .x_t
            .iter()
            .map(|v| v * plan.init_noise_sigma())
            .collect();
        let sigmas: Vec<f32> = plan.sigmas().collect();
        let alpha_cumprod = |index: usize| 1.0 / ((sigmas[index] as f64).powi(2) + 1.0);
        let mut model_input = vec![0.0f32; x.len()];
        plan.scale_model_input(0, &x, &mut model_input).unwrap();
        let exact = exact_map(&model_input, alpha_cumprod(0));
        let mut epsilon = vec![0.0f32; x.len()];
        let mut unused_noise = noise_stream(0, 1);
        for index in 0..plan.len() {
            plan.scale_model_input(index, &x, &mut model_input).unwrap();
            exact_epsilon(&model_input, alpha_cumprod(index), &mut epsilon);
            plan.step(index, &mut x, &epsilon, &mut unused_noise)
                .unwrap();
        }
        crate::relative_l2(&x, &exact)
    }

    /// Heun with `steps` steps (2·steps − 1 model calls).
    pub fn heun(&self, steps: u32) -> f64 {
        let plan: HeunPlan<CAPACITY> = HeunPlan::new(
            &ScheduleConfig::default(),
            &trailing(steps),
            &HeunConfig::default(),
        )
        .unwrap();
        let mut x: Vec<f32> = self
            .x_t
            .iter()
            .map(|v| v * plan.init_noise_sigma())
            .collect();
        let sigmas: Vec<f32> = plan.sigmas().collect();
        let alpha_cumprod = |index: usize| 1.0 / ((sigmas[index] as f64).powi(2) + 1.0);
        let mut model_input = vec![0.0f32; x.len()];
        plan.scale_model_input(0, &x, &mut model_input).unwrap();
        let exact = exact_map(&model_input, alpha_cumprod(0));
        let mut buffer = vec![0.0f32; plan.history_len() * x.len()];
        let mut history = plan.history(&mut buffer, x.len()).unwrap();
        let mut epsilon = vec![0.0f32; x.len()];
        for index in 0..plan.num_model_calls() {
            plan.scale_model_input(index, &x, &mut model_input).unwrap();
            exact_epsilon(&model_input, alpha_cumprod(index), &mut epsilon);
            plan.step(index, &mut x, &epsilon, &mut history).unwrap();
        }
        crate::relative_l2(&x, &exact)
    }
}
