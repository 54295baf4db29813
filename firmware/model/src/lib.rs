//! The firmware's denoiser and sampling runs, `no_std` and allocation-free, compiled unchanged
//! for the Cortex-M4F firmware and for its host twin (`examples/host_twin.rs`), which must print
//! the same bits.
//!
//! The model (trained by `train.py` on a ring of 8 Gaussians): ε̂(x, t) =
//! W₃·relu(W₂·relu(W₁·[x, y, emb(t)] + b₁) + b₂) + b₃ with emb(t) = (sin t·f_k, cos t·f_k),
//! f_k = 10000^(−k/8), k = 0..7. Plain f32 arithmetic and `libm` only, so the bits are the same
//! on every target.
//!
//! The model is unconditional. For classifier-free guidance toward one mode k of the ring,
//! [`predict_mode_epsilon`] supplies the conditional prediction ε_c exactly (the data given k is
//! one Gaussian, whose optimal denoiser is analytic), the MLP the unconditional ε_u, and the
//! core's [`Guidance`] combines them ([`sample_guided`], the run `ddim_guided`).

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod weights;

use diffusion_core::{
    DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig, DpmSolverPlan,
    DpmSolverType, Error, FinalAlphaCumprod, FinalSigmasType, Guidance, MultistepHistory,
    NoiseSource, NoiseStream, PredictionType, SampleClipping, ScheduleConfig, SigmaSchedule,
    SliceKind, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan, UniPcSolverType,
    VarianceType, noise_stream,
};

/// Hidden width.
const HIDDEN: usize = 64;
/// Frequencies of the time embedding.
const FREQUENCIES: usize = 8;
/// Values per point.
pub const DIMENSIONS: usize = 2;
/// Points sampled by the firmware.
pub const POINTS: usize = 64;
/// Seed of the firmware's runs.
pub const SEED: u64 = 2024;
/// The largest DDPM/DDIM plan of [`RUNS`].
pub const PLAN_CAPACITY: usize = 100;
/// The largest multistep plan of [`RUNS`].
pub const MULTISTEP_CAPACITY: usize = 10;
/// Sample-sized buffers the multistep runs remember: 1 for DPM-Solver++ 2M (the previous x̂₀),
/// 3 for UniPC bh2 with its corrector (x̂₀ of the two previous steps and the last corrected
/// sample); see [`DpmSolverPlan::history_len`] and [`UniPcPlan::history_len`].
pub const DPM_SOLVER_HISTORY_BUFFERS: usize = 1;
/// See [`DPM_SOLVER_HISTORY_BUFFERS`].
pub const UNIPC_HISTORY_BUFFERS: usize = 3;

/// emb(t) = (sin t·f_k …, cos t·f_k …).
fn embedding(timestep: u32) -> [f32; 2 * FREQUENCIES] {
    let mut out = [0.0f32; 2 * FREQUENCIES];
    for k in 0..FREQUENCIES {
        let frequency = libm::powf(10000.0, -(k as f32) / FREQUENCIES as f32);
        let angle = timestep as f32 * frequency;
        out[k] = libm::sinf(angle);
        out[FREQUENCIES + k] = libm::cosf(angle);
    }
    out
}

/// ε̂ for every point of `points` (x, y pairs) at `timestep`, into `out` (same length).
/// Never inlined, so that the model is the same code in every firmware build (the flash
/// measurement compares builds with and without the core).
#[inline(never)]
pub fn predict_epsilon(points: &[f32], timestep: u32, out: &mut [f32]) {
    // The time part of layer 1 is shared by all points: b₁ + W₁[:, 2..]·emb(t), once per call.
    let emb = embedding(timestep);
    let mut time_bias = weights::B1;
    for (bias, row) in time_bias.iter_mut().zip(weights::W1.iter()) {
        for (&w, &e) in row[DIMENSIONS..].iter().zip(emb.iter()) {
            *bias += w * e;
        }
    }
    for (point, epsilon) in points
        .chunks_exact(DIMENSIONS)
        .zip(out.chunks_exact_mut(DIMENSIONS))
    {
        let mut first = [0.0f32; HIDDEN];
        for ((h, row), &bias) in first
            .iter_mut()
            .zip(weights::W1.iter())
            .zip(time_bias.iter())
        {
            *h = (bias + row[0] * point[0] + row[1] * point[1]).max(0.0);
        }
        let mut second = [0.0f32; HIDDEN];
        for ((h, row), &bias) in second
            .iter_mut()
            .zip(weights::W2.iter())
            .zip(weights::B2.iter())
        {
            let mut sum = bias;
            for (&w, &x) in row.iter().zip(first.iter()) {
                sum += w * x;
            }
            *h = sum.max(0.0);
        }
        for ((e, row), &bias) in epsilon
            .iter_mut()
            .zip(weights::W3.iter())
            .zip(weights::B3.iter())
        {
            let mut sum = bias;
            for (&w, &x) in row.iter().zip(second.iter()) {
                sum += w * x;
            }
            *e = sum;
        }
    }
}

/// Modes of the training data (`train.py`): 8 Gaussians on a ring.
pub const MODES: usize = 8;
/// Standard deviation s of each mode (isotropic).
pub const MODE_STD: f32 = 0.1;

/// The centres of the modes, μ_k = 2·(cos θ_k, sin θ_k) with θ_k = 2πk/8, each coordinate the
/// f32 nearest to its exact value (0, ±2 or ±√2): constants, so no trigonometry at run time and
/// no rounding of cos(π/2) to a tiny nonzero value.
const MODE_CENTERS: [[f32; DIMENSIONS]; MODES] = {
    use core::f32::consts::SQRT_2;
    [
        [2.0, 0.0],
        [SQRT_2, SQRT_2],
        [0.0, 2.0],
        [-SQRT_2, SQRT_2],
        [-2.0, 0.0],
        [-SQRT_2, -SQRT_2],
        [0.0, -2.0],
        [SQRT_2, -SQRT_2],
    ]
};

/// The centre μ_k of mode k (k taken modulo 8), as `train.py` places the modes:
/// μ_k = 2·(cos 2πk/8, sin 2πk/8), rounded to f32.
#[must_use]
pub fn mode_center(mode: usize) -> [f32; DIMENSIONS] {
    MODE_CENTERS[mode % MODES]
}

/// The conditional prediction for mode k: the exact posterior mean of ε for data
/// x₀ ~ N(μ_k, s²I) (s = [`MODE_STD`]), for every point of `points` (x, y pairs), into `out`.
///
/// With x_t = a·x₀ + b·ε, a = √ᾱ_t, b = √(1 − ᾱ_t), x_t is N(a·μ_k, (a²s² + b²)I) and
/// Cov(ε, x_t) = b·I, so
///
/// ```text
/// ε_c(x_t, t, k) = E[ε | x_t, k] = b·(x_t − a·μ_k) / (a²s² + b²)
/// ```
///
/// the optimal ε-model of that Gaussian (the MLP would learn it, trained on mode k alone).
/// `alpha_cumprod` is ᾱ_t of the step (`plan.steps()[i].alpha_cumprod`). Plain f32 arithmetic
/// and `libm::sqrtf`: w = b/(a²s² + b²) and a·μ_k once per call, then w·(x − a·μ_k) per value.
#[inline(never)]
pub fn predict_mode_epsilon(points: &[f32], alpha_cumprod: f32, mode: usize, out: &mut [f32]) {
    let a = libm::sqrtf(alpha_cumprod);
    let b = libm::sqrtf(1.0 - alpha_cumprod);
    let weight = b / (a * a * (MODE_STD * MODE_STD) + b * b);
    let center = mode_center(mode);
    let shifted_center = [a * center[0], a * center[1]];
    // An index loop, not `chunks_exact(..).zip(..)` as in `predict_epsilon`: a second user of
    // that iterator makes LTO stop inlining its constructor into the MLP (measured: ~140 more
    // instructions per point-step in every run).
    let values = points.len().min(out.len()) / DIMENSIONS * DIMENSIONS;
    let (points, out) = (&points[..values], &mut out[..values]);
    for index in 0..values {
        out[index] = weight * (points[index] - shifted_center[index % DIMENSIONS]);
    }
}

/// Classifier-free guidance toward one mode: ε̂ = ε_u + s·(ε_c − ε_u), then diffusers'
/// `rescale_noise_cfg` with factor φ, per point (σ over its 2 values), by the core's
/// [`Guidance`]; ε_u is the MLP ([`predict_epsilon`]), ε_c [`predict_mode_epsilon`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModeGuidance {
    /// The mode k guided toward (taken modulo 8).
    pub mode: usize,
    /// The guidance scale s.
    pub scale: f64,
    /// The rescale factor φ in [0, 1] (0: no rescale).
    pub rescale: f64,
}

/// How a run updates the points.
#[derive(Clone, Copy, Debug)]
pub enum Solver {
    /// DDPM or DDIM, through a [`DdpmDdimPlan`].
    Plan(DdpmDdimRule),
    /// DPM-Solver multistep, through a [`DpmSolverPlan`].
    DpmSolver(DpmSolverConfig),
    /// UniPC multistep, through a [`UniPcPlan`].
    UniPc(UniPcConfig<'static>),
    /// DDPM or DDIM through a [`DdpmDdimPlan`], on the guided prediction ([`sample_guided`]).
    GuidedPlan(DdpmDdimRule, ModeGuidance),
}

/// One sampling run of the firmware.
pub struct Run {
    /// Printed name.
    pub name: &'static str,
    /// Update rule.
    pub solver: Solver,
    /// Steps (model evaluations).
    pub steps: u32,
}

/// DPM-Solver++ 2M as diffusers' `DPMSolverMultistepScheduler` defaults to: order 2, midpoint,
/// `lower_order_final`, final sigma 0 (`DpmSolverConfig::default()`, spelled out for a `const`).
pub const DPM_SOLVER_2M: DpmSolverConfig = DpmSolverConfig {
    algorithm_type: DpmSolverAlgorithm::DpmSolverPlusPlus,
    solver_order: 2,
    solver_type: DpmSolverType::Midpoint,
    lower_order_final: true,
    euler_at_final: false,
    final_sigmas_type: FinalSigmasType::Zero,
    prediction_type: PredictionType::Epsilon,
    clipping: SampleClipping::None,
    sigma_schedule: SigmaSchedule::Interpolated,
};

/// UniPC bh2, order 2, with the corrector, as diffusers' `UniPCMultistepScheduler` defaults to
/// (`UniPcConfig::default()`, spelled out for a `const`).
pub const UNIPC_BH2: UniPcConfig<'static> = UniPcConfig {
    solver_order: 2,
    solver_type: UniPcSolverType::Bh2,
    predict_x0: true,
    lower_order_final: true,
    disable_corrector: &[],
    final_sigmas_type: FinalSigmasType::Zero,
    prediction_type: PredictionType::Epsilon,
    clipping: SampleClipping::None,
    sigma_schedule: SigmaSchedule::Interpolated,
    sigma_min: None,
    sigma_max: None,
};

/// The guided run's guidance: toward mode 2 (μ = (0, 2)), s = 3, φ = 0.7. The rescale is there
/// so that its every operation is in the bits the firmware and its twin compare; over a point's
/// 2 values σ is ill-conditioned, and it throws a few points off (docs/firmware.md).
pub const GUIDED_TO_MODE_2: ModeGuidance = ModeGuidance {
    mode: 2,
    scale: 3.0,
    rescale: 0.7,
};

/// DDIM η = 0, DDIM η = 1, DDPM, DPM-Solver++ 2M, UniPC bh2 and DDIM η = 0 guided toward mode 2,
/// as the firmware runs them.
pub const RUNS: [Run; 6] = [
    Run {
        name: "ddim_eta0",
        solver: Solver::Plan(DdpmDdimRule::Ddim {
            eta: 0.0,
            use_clipped_model_output: false,
        }),
        steps: 25,
    },
    Run {
        name: "ddim_eta1",
        solver: Solver::Plan(DdpmDdimRule::Ddim {
            eta: 1.0,
            use_clipped_model_output: false,
        }),
        steps: 25,
    },
    Run {
        name: "ddpm",
        solver: Solver::Plan(DdpmDdimRule::Ddpm {
            variance_type: VarianceType::FixedSmall,
        }),
        steps: 100,
    },
    Run {
        name: "dpm_solver_2m",
        solver: Solver::DpmSolver(DPM_SOLVER_2M),
        steps: 10,
    },
    Run {
        name: "unipc_bh2",
        solver: Solver::UniPc(UNIPC_BH2),
        steps: 10,
    },
    Run {
        name: "ddim_guided",
        solver: Solver::GuidedPlan(
            DdpmDdimRule::Ddim {
                eta: 0.0,
                use_clipped_model_output: false,
            },
            GUIDED_TO_MODE_2,
        ),
        steps: 25,
    },
];

/// The schedule the model was trained with: linear 1e-4 → 0.02, T = 1000.
pub fn schedule() -> ScheduleConfig<'static> {
    ScheduleConfig::default()
}

/// `steps` timesteps, `trailing` (999, …), for every run.
fn timesteps(steps: u32) -> TimestepConfig {
    TimestepConfig {
        num_inference_steps: steps,
        spacing: TimestepSpacing::Trailing,
        steps_offset: 0,
    }
}

/// Builds a DDPM/DDIM plan of `steps` steps into `plan` (in place: no plan-sized temporary on the
/// stack).
#[inline(never)]
pub fn build_plan<const N: usize>(
    sampler: DdpmDdimRule,
    steps: u32,
    plan: &mut DdpmDdimPlan<N>,
) -> Result<(), Error> {
    let config = DdpmDdimConfig {
        rule: sampler,
        prediction_type: PredictionType::Epsilon,
        clipping: SampleClipping::None,
        final_alpha_cumprod: FinalAlphaCumprod::One,
    };
    plan.rebuild(&schedule(), &timesteps(steps), &config)
}

/// Builds a DPM-Solver plan of `steps` steps into `plan`, in place.
#[inline(never)]
pub fn build_dpm_solver_plan<const N: usize>(
    config: &DpmSolverConfig,
    steps: u32,
    plan: &mut DpmSolverPlan<N>,
) -> Result<(), Error> {
    plan.rebuild(&schedule(), &timesteps(steps), config)
}

/// Builds a UniPC plan of `steps` steps into `plan`, in place.
#[inline(never)]
pub fn build_unipc_plan<const N: usize>(
    config: &UniPcConfig<'_>,
    steps: u32,
    plan: &mut UniPcPlan<N>,
) -> Result<(), Error> {
    plan.rebuild(&schedule(), &timesteps(steps), config)
}

/// x_T for points `first..first + points.len()/2` of `seed`, point i from its own stream, which
/// stays in `streams` (one per point) for the steps' noise. Always inlined, so that each sampler
/// compiles as it did before it was shared (the flash shares are measured per sampler).
#[inline(always)]
fn draw_streams<const P: usize>(
    seed: u64,
    first: u64,
    points: &mut [f32],
    streams: &mut heapless::Vec<NoiseStream, P>,
) -> Result<(), Error> {
    streams.clear();
    for (index, point) in points.chunks_exact_mut(DIMENSIONS).enumerate() {
        let mut stream = noise_stream(seed, first + index as u64);
        stream.fill_standard_normal(point);
        streams.push(stream).map_err(|_| Error::CapacityExceeded {
            needed: index + 1,
            capacity: P,
        })?;
    }
    Ok(())
}

/// Draws x_T for points `first..first + points.len()/2` of `seed` and runs `plan` on them.
/// `streams` receives one generator per point; `epsilon` is scratch of the same length as `points`.
#[inline(never)]
pub fn sample<const N: usize, const P: usize>(
    plan: &DdpmDdimPlan<N>,
    seed: u64,
    first: u64,
    points: &mut [f32],
    streams: &mut heapless::Vec<NoiseStream, P>,
    epsilon: &mut [f32],
) -> Result<(), Error> {
    draw_streams(seed, first, points, streams)?;
    for (index, timestep) in plan.timesteps().enumerate() {
        predict_epsilon(points, timestep, epsilon);
        plan.step_batch(
            index,
            points.len() / DIMENSIONS,
            points,
            epsilon,
            streams,
            &mut [],
        )?;
    }
    Ok(())
}

/// The three predictions of a guided step, each as long as the points: ε_u, ε_c and ε̂.
pub struct GuidanceScratch<'a> {
    /// ε_u, the MLP's prediction.
    pub unconditional: &'a mut [f32],
    /// ε_c, [`predict_mode_epsilon`].
    pub conditional: &'a mut [f32],
    /// ε̂, what the plan steps with.
    pub guided: &'a mut [f32],
}

/// [`sample`] with classifier-free guidance: the same x_T (points `first..first + points.len()/2`
/// of `seed`), and at step i, with t and ᾱ_t from `plan.steps()[i]`:
///
/// ```text
/// ε̂ = ε_u(x_t, t) + s·(ε_c(x_t, t, k) − ε_u(x_t, t)),  rescaled per point with φ
/// ```
///
/// ([`ModeGuidance`]), before the plan's step. `streams` receives one generator per point.
///
/// # Errors
///
/// [`Error::InvalidGuidance`] for a non-finite s or φ outside [0, 1]; [`Error::LengthMismatch`]
/// when a scratch slice is not as long as `points`; the plan's errors.
#[inline(never)]
pub fn sample_guided<const N: usize, const P: usize>(
    plan: &DdpmDdimPlan<N>,
    guidance: &ModeGuidance,
    seed: u64,
    first: u64,
    points: &mut [f32],
    streams: &mut heapless::Vec<NoiseStream, P>,
    mut scratch: GuidanceScratch<'_>,
) -> Result<(), Error> {
    let combine = Guidance::new(guidance.scale, guidance.rescale)?;
    for (slice, actual) in [
        (SliceKind::Unconditional, scratch.unconditional.len()),
        (SliceKind::ModelOutput, scratch.conditional.len()),
        (SliceKind::Guided, scratch.guided.len()),
    ] {
        if actual != points.len() {
            return Err(Error::LengthMismatch {
                slice,
                expected: points.len(),
                actual,
            });
        }
    }
    draw_streams(seed, first, points, streams)?;
    for (index, step) in plan.steps().iter().enumerate() {
        predict_epsilon(points, step.timestep, scratch.unconditional);
        predict_mode_epsilon(
            points,
            step.alpha_cumprod,
            guidance.mode,
            scratch.conditional,
        );
        guided_step(plan, index, &combine, points, streams, &mut scratch)?;
    }
    Ok(())
}

/// ε̂ from ε_u and ε_c, then step `index` of `plan` with it. Never inlined: the step's noise
/// buffer then stays off the stack while the model runs.
#[inline(never)]
fn guided_step<const N: usize>(
    plan: &DdpmDdimPlan<N>,
    index: usize,
    combine: &Guidance,
    points: &mut [f32],
    streams: &mut [NoiseStream],
    scratch: &mut GuidanceScratch<'_>,
) -> Result<(), Error> {
    let GuidanceScratch {
        unconditional,
        conditional,
        guided,
    } = scratch;
    combine.combine_batch(DIMENSIONS, unconditional, conditional, guided)?;
    let batch = points.len() / DIMENSIONS;
    plan.step_batch(index, batch, points, guided, streams, &mut [])
}

/// x_T for points `first..first + points.len()/2` of `seed`: point i from its own stream, as
/// [`sample`] draws it. Never inlined: the noise generator's buffer then stays off the stack
/// while the model runs.
#[inline(never)]
fn initial_noise(seed: u64, first: u64, points: &mut [f32]) {
    for (index, point) in points.chunks_exact_mut(DIMENSIONS).enumerate() {
        noise_stream(seed, first + index as u64).fill_standard_normal(point);
    }
}

/// What [`sample_multistep`] uses of a multistep plan: [`DpmSolverPlan`] and [`UniPcPlan`] have
/// the same methods, which this trait forwards to.
pub trait MultistepPlan {
    /// The plan's `timesteps()`.
    fn timesteps(&self) -> impl Iterator<Item = u32>;
    /// The plan's `history_len()`: sample-sized buffers it remembers.
    fn history_len(&self) -> usize;
    /// The plan's `history(buffer, values)`.
    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error>;
    /// The plan's `step_batch(index, batch, samples, model_output, history, &mut [])`.
    fn step_batch(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error>;
}

impl<const N: usize> MultistepPlan for DpmSolverPlan<N> {
    fn timesteps(&self) -> impl Iterator<Item = u32> {
        DpmSolverPlan::timesteps(self)
    }
    fn history_len(&self) -> usize {
        DpmSolverPlan::history_len(self)
    }
    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        DpmSolverPlan::history(self, buffer, values)
    }
    fn step_batch(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error> {
        DpmSolverPlan::step_batch(self, index, batch, samples, model_output, history, &mut [])
    }
}

impl<const N: usize> MultistepPlan for UniPcPlan<N> {
    fn timesteps(&self) -> impl Iterator<Item = u32> {
        UniPcPlan::timesteps(self)
    }
    fn history_len(&self) -> usize {
        UniPcPlan::history_len(self)
    }
    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error> {
        UniPcPlan::history(self, buffer, values)
    }
    fn step_batch(
        &self,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error> {
        UniPcPlan::step_batch(self, index, batch, samples, model_output, history, &mut [])
    }
}

/// Draws x_T for points `first..first + points.len()/2` of `seed` (the same x_T as [`sample`])
/// and runs the multistep `plan` on them. `epsilon` is scratch of the same length as `points`;
/// the solver's memory is the first `plan.history_len() · points.len()` floats of `history`
/// (its contents do not matter).
#[inline(never)]
pub fn sample_multistep<P: MultistepPlan>(
    plan: &P,
    seed: u64,
    first: u64,
    points: &mut [f32],
    epsilon: &mut [f32],
    history: &mut [f32],
) -> Result<(), Error> {
    let values = points.len();
    let needed = plan.history_len().saturating_mul(values);
    let available = history.len();
    let buffer = history.get_mut(..needed).ok_or(Error::LengthMismatch {
        slice: SliceKind::History,
        expected: needed,
        actual: available,
    })?;
    let mut history = plan.history(buffer, values)?;
    initial_noise(seed, first, points);
    for (index, timestep) in plan.timesteps().enumerate() {
        predict_epsilon(points, timestep, epsilon);
        plan.step_batch(index, values / DIMENSIONS, points, epsilon, &mut history)?;
    }
    Ok(())
}

/// FNV-1a (64-bit) over the f32 bits of `values`, little-endian.
pub fn hash(values: &[f32]) -> u64 {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for value in values {
        for byte in value.to_bits().to_le_bytes() {
            state = (state ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    state
}

/// The line both the firmware and the host twin print for a run:
/// `<name> hash=<FNV-1a of all bits> first=<bits of the first 4 values>`.
pub fn report_line<'a>(name: &'a str, points: &'a [f32]) -> ReportLine<'a> {
    ReportLine { name, points }
}

/// See [`report_line`].
pub struct ReportLine<'a> {
    name: &'a str,
    points: &'a [f32],
}

impl core::fmt::Display for ReportLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} hash={:016x} first=", self.name, hash(self.points))?;
        for (position, value) in self.points.iter().take(4).enumerate() {
            let separator = if position == 0 { "" } else { "," };
            write!(f, "{separator}{:08x}", value.to_bits())?;
        }
        Ok(())
    }
}
