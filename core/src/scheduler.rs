//! The one interface every plan implements ([`Scheduler`]), so that a caller writes one sampling
//! loop for DDPM, DDIM, DPM-Solver, UniPC, Euler, Heun and LCM.
//!
//! The name is diffusers': its `*Scheduler` classes are what our plans are, and a diffusers user
//! looks for that word. A trait rather than one enum over the plans: an enum would hold the
//! largest plan in every variant (a firmware that runs DDIM would carry UniPC's step size, and
//! link every sampler's code), while a trait costs nothing for the samplers a program does not
//! name. Its step is generic over the noise source, so the trait is used through generics
//! (`fn run<S: Scheduler>(plan: &S, …)`), not as `dyn Scheduler`.
//!
//! A run is a sequence of **model calls** `0 … num_model_calls() − 1`. Before call c the model
//! sees `input_scale(c)·x` at `model_timestep(c)`; after it, `step_batch(c, …)` moves x. Most
//! samplers make one call per step (N calls); Heun makes two per step but the last (2N − 1).
//! What a step needs besides x and the model's output (the multistep history, one noise source per
//! sample, scratch for dynamic thresholding) is one caller-owned [`StepMemory`], sized from
//! [`Scheduler::history_len`], [`Scheduler::draws_noise`] and [`Scheduler::scratch_len`].
//!
//! The trait forwards to each plan's own methods (`step_batch` and friends), which stay for
//! callers that know their sampler (the firmware); the values are the same bits either way.
//!
//! ```
//! use diffusion_core::{
//!     noise_stream, ModelTimestep, NoiseSource, DdpmDdimPlan, DdpmDdimConfig, ScheduleConfig,
//!     Scheduler, StepMemory, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan,
//! };
//!
//! /// One loop for every sampler: `denoise` stands for the model.
//! fn run<S: Scheduler>(
//!     plan: &S,
//!     seed: u64,
//!     x: &mut [f32],
//!     denoise: impl Fn(ModelTimestep, &[f32], &mut [f32]),
//! ) -> Result<(), diffusion_core::Error> {
//!     let mut stream = noise_stream(seed, 0);
//!     stream.fill_standard_normal(x);
//!     let sigma = plan.init_noise_sigma();
//!     x.iter_mut().for_each(|v| *v *= sigma);
//!     let (mut input, mut output) = ([0.0f32; 4], [0.0f32; 4]);
//!     let mut buffer = [0.0f32; 3 * 4]; // history_len() ≤ 3 buffers of the batch's size
//!     let history = plan.history(&mut buffer[..plan.history_len() * x.len()], x.len())?;
//!     let mut scratch = [0.0f32; 4];
//!     let scratch = &mut scratch[..plan.scratch_len(x.len())];
//!     let mut memory = StepMemory::new(history, core::slice::from_mut(&mut stream), scratch);
//!     for call in 0..plan.num_model_calls() {
//!         plan.scale_model_input(call, x, &mut input)?;
//!         denoise(plan.model_timestep(call)?, &input, &mut output);
//!         plan.step_batch(call, 1, x, &output, &mut memory)?;
//!     }
//!     Ok(())
//! }
//!
//! let schedule = ScheduleConfig::default();
//! let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Linspace, steps_offset: 0 };
//! let ddim: DdpmDdimPlan<10> = DdpmDdimPlan::new(&schedule, &timesteps, &DdpmDdimConfig::default())?;
//! let unipc: UniPcPlan<10> = UniPcPlan::new(&schedule, &timesteps, &UniPcConfig::default())?;
//! let model = |_t: ModelTimestep, _x: &[f32], epsilon: &mut [f32]| epsilon.fill(0.0);
//! let (mut a, mut b) = ([0.0f32; 4], [0.0f32; 4]);
//! run(&ddim, 7, &mut a, model)?;
//! run(&unipc, 7, &mut b, model)?;
//! // With ε̂ = 0 both samplers land on the same x̂₀ = x_T/√ᾱ_999.
//! for (a, b) in a.iter().zip(&b) {
//!     assert!((a - b).abs() <= 1e-3 * a.abs());
//! }
//! assert_eq!(ddim.model_timestep(1)?.integer(), 888);
//! # Ok::<(), diffusion_core::Error>(())
//! ```

use core::fmt;

use crate::error::{Error, SliceKind};
use crate::multistep::MultistepHistory;
use crate::noise::NoiseSource;

/// The timestep the model sees at one call: whole for DDPM, DDIM, DPM-Solver and UniPC (a
/// training timestep), possibly fractional for Euler and Heun (diffusers' interpolated
/// `timesteps`). One value, with the two feeds a model's timestep input can take decided here:
/// [`Self::float`] for a float32/float16 input, [`Self::integer`] for an int64/int32 one (the
/// float truncated toward zero, as diffusers' ONNX pipelines feed it:
/// `np.array([t], dtype=np.int64)`).
///
/// ```
/// use diffusion_core::ModelTimestep;
///
/// let whole = ModelTimestep::whole(961);
/// assert_eq!((whole.float(), whole.integer()), (961.0, 961));
/// let fractional = ModelTimestep::fractional(957.375);
/// assert_eq!((fractional.float(), fractional.integer()), (957.375, 957));
/// assert_eq!(ModelTimestep::fractional(-1.15).integer(), -1); // toward zero
/// assert_eq!((whole.to_string(), fractional.to_string()), ("961".into(), "957.375".into()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelTimestep {
    /// Exact for whole timesteps: they are below [`crate::MAX_TRAIN_TIMESTEPS`] = 2²⁰ < 2²⁴.
    value: f32,
}

impl ModelTimestep {
    /// A training timestep t (DDPM, DDIM, DPM-Solver, UniPC).
    #[must_use]
    pub const fn whole(timestep: u32) -> Self {
        ModelTimestep {
            value: timestep as f32,
        }
    }

    /// A float timestep (Euler and Heun: an interpolated timestep, or ¼·ln σ for `continuous`).
    #[must_use]
    pub const fn fractional(timestep: f32) -> Self {
        ModelTimestep { value: timestep }
    }

    /// What a model with a float timestep input gets.
    #[must_use]
    pub const fn float(self) -> f32 {
        self.value
    }

    /// What a model with an integer timestep input gets: [`Self::float`] truncated toward zero
    /// (saturating), diffusers' ONNX pipelines' `np.int64` cast.
    #[must_use]
    pub const fn integer(self) -> i64 {
        self.value as i64
    }

    /// Whether the timestep is a whole number (its two feeds are the same number).
    #[must_use]
    pub fn is_whole(self) -> bool {
        self.value == self.integer() as f32
    }
}

impl fmt::Display for ModelTimestep {
    /// The integer when the timestep is whole (`961`), the float otherwise (`957.375`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.integer())
        } else {
            write!(f, "{}", self.value)
        }
    }
}

/// What a batch step needs besides the samples and the model output, owned by the caller and
/// kept across the calls of one run:
///
/// - `history`: the plan's memory ([`Scheduler::history`], made for the whole batch's length;
///   an empty one for plans whose `history_len()` is 0);
/// - `noise`: one source per sample of the batch, source i for sample i (so sample i never
///   depends on the batch). DDPM/DDIM's and Euler's plans check that there are `batch` of them
///   even when they draw none; DPM-Solver checks only when it draws (SDE-DPM-Solver++); UniPC
///   and Heun never read it.
/// - `scratch`: [`Scheduler::scratch_len`] floats for dynamic thresholding (empty otherwise).
#[derive(Debug)]
pub struct StepMemory<'a, N> {
    /// The multistep history (see [`MultistepHistory`]).
    pub history: MultistepHistory<'a>,
    /// One noise source per sample of the batch.
    pub noise: &'a mut [N],
    /// Scratch for dynamic thresholding, reused sample by sample.
    pub scratch: &'a mut [f32],
}

impl<'a, N> StepMemory<'a, N> {
    /// Bundles a run's history, noise sources and scratch.
    ///
    /// ```
    /// use diffusion_core::{noise_stream, DdpmDdimPlan, Scheduler, StepMemory};
    ///
    /// let plan = DdpmDdimPlan::<10>::empty();
    /// let history = plan.history(&mut [], 8)?;
    /// let mut streams = [noise_stream(1, 0), noise_stream(1, 1)];
    /// let memory = StepMemory::new(history, &mut streams, &mut []);
    /// assert_eq!(memory.noise.len(), 2);
    /// # Ok::<(), diffusion_core::Error>(())
    /// ```
    pub fn new(history: MultistepHistory<'a>, noise: &'a mut [N], scratch: &'a mut [f32]) -> Self {
        StepMemory {
            history,
            noise,
            scratch,
        }
    }
}

/// A realized sampling run, as one interface: what the model is fed at each call, and the step
/// that follows it (see the [module docs](self) for the loop).
///
/// Implemented by [`crate::DdpmDdimPlan`] (DDPM, DDIM), [`crate::DpmSolverPlan`], [`crate::UniPcPlan`],
/// [`crate::EulerPlan`] and [`crate::HeunPlan`].
pub trait Scheduler {
    /// N, the number of denoising steps (diffusers' `num_inference_steps`).
    fn num_inference_steps(&self) -> usize;

    /// How many times the model is called per sample: N, or 2N − 1 for Heun. Calls are numbered
    /// `0 … num_model_calls() − 1`.
    fn num_model_calls(&self) -> usize;

    /// The timestep the model sees at `call`.
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`] for `call` ≥ [`Self::num_model_calls`].
    fn model_timestep(&self, call: usize) -> Result<ModelTimestep, Error>;

    /// c_in at `call`: the model's input is c_in·x (1/√(σ² + 1) for Euler and Heun, diffusers'
    /// `scale_model_input`; 1.0 where the model sees x itself).
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`] for `call` ≥ [`Self::num_model_calls`].
    fn input_scale(&self, call: usize) -> Result<f32, Error>;

    /// diffusers' `init_noise_sigma`: x_T is standard normal noise times this (1.0 but for Euler
    /// and Heun).
    fn init_noise_sigma(&self) -> f32;

    /// How many buffers of the batch's size the run remembers (0 for DDPM, DDIM and Euler).
    fn history_len(&self) -> usize;

    /// The history of a run over `values` floats (one sample, or the whole batch) in `buffer`,
    /// which must hold exactly `history_len() · values` floats.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] ([`SliceKind::History`]) when `buffer` has another length.
    fn history<'a>(
        &self,
        buffer: &'a mut [f32],
        values: usize,
    ) -> Result<MultistepHistory<'a>, Error>;

    /// Whether some step draws noise from [`StepMemory::noise`] (DDPM, DDIM with η > 0, Euler
    /// ancestral, SDE-DPM-Solver++).
    fn draws_noise(&self) -> bool;

    /// Floats of [`StepMemory::scratch`] a step needs for samples of `sample_len` floats:
    /// `sample_len` under dynamic thresholding (reused sample by sample), else 0.
    fn scratch_len(&self, sample_len: usize) -> usize;

    /// Writes the model's input at `call`: `model_input = input_scale(call)·samples` (for the
    /// samplers whose scale is 1.0, a copy).
    ///
    /// # Errors
    ///
    /// [`Error::StepIndexOutOfRange`]; [`Error::LengthMismatch`] ([`SliceKind::ModelInput`])
    /// when `model_input` is not as long as `samples`.
    fn scale_model_input(
        &self,
        call: usize,
        samples: &[f32],
        model_input: &mut [f32],
    ) -> Result<(), Error> {
        let scale = self.input_scale(call)?;
        if model_input.len() != samples.len() {
            return Err(Error::LengthMismatch {
                slice: SliceKind::ModelInput,
                expected: samples.len(),
                actual: model_input.len(),
            });
        }
        for (out, &x) in model_input.iter_mut().zip(samples) {
            *out = scale * x;
        }
        Ok(())
    }

    /// Call `call`'s step on a batch of `batch` samples laid out sample after sample (NCHW), in
    /// place: `model_output` is the model's output for the batch at this call (DDPM with learned
    /// variance: twice as long), `memory` the run's history, noise sources and scratch. The same
    /// bits as the plan's own `step_batch`, to which it forwards.
    ///
    /// # Errors
    ///
    /// Those of the plan's own batch step: [`Error::StepIndexOutOfRange`],
    /// [`Error::StepOutOfOrder`], [`Error::LengthMismatch`] naming the slice,
    /// [`Error::ForeignHistory`], [`Error::MissingVarianceChannels`].
    fn step_batch<N: NoiseSource>(
        &self,
        call: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        memory: &mut StepMemory<'_, N>,
    ) -> Result<(), Error>;
}

/// `Err(StepIndexOutOfRange)` unless `call` < `calls`.
#[inline(always)]
pub(crate) fn check_call(call: usize, calls: usize) -> Result<(), Error> {
    if call < calls {
        Ok(())
    } else {
        Err(Error::StepIndexOutOfRange {
            index: call,
            steps: calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::noise_stream;
    use crate::schedule::ScheduleConfig;
    use crate::timesteps::{TimestepConfig, TimestepSpacing};
    use crate::{
        DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig,
        DpmSolverPlan, EulerConfig, EulerPlan, EulerVariant, HeunConfig, HeunPlan, UniPcConfig,
        UniPcPlan, VarianceType,
    };

    const VALUES: usize = 6;
    const BATCH: usize = 2;

    /// A deterministic stand-in for the model: depends on the call and the input.
    fn model(call: usize, input: &[f32], output: &mut [f32]) {
        for (k, (out, &x)) in output.iter_mut().zip(input).enumerate() {
            *out = 0.3 * x + 0.01 * (call as f32) - 0.02 * (k as f32);
        }
    }

    /// The whole run through the trait.
    fn through_trait<S: Scheduler>(plan: &S) -> [f32; BATCH * VALUES] {
        let mut x = [0.0f32; BATCH * VALUES];
        let mut streams = [noise_stream(5, 0), noise_stream(5, 1)];
        for (sample, stream) in x.chunks_mut(VALUES).zip(&mut streams) {
            stream.fill_standard_normal(sample);
        }
        let sigma = plan.init_noise_sigma();
        x.iter_mut().for_each(|v| *v *= sigma);
        let mut buffer = [0.0f32; 3 * BATCH * VALUES];
        let history = plan
            .history(&mut buffer[..plan.history_len() * x.len()], x.len())
            .unwrap();
        let mut scratch = [0.0f32; VALUES];
        let mut memory = StepMemory::new(
            history,
            &mut streams,
            &mut scratch[..plan.scratch_len(VALUES)],
        );
        let (mut input, mut output) = ([0.0f32; BATCH * VALUES], [0.0f32; BATCH * VALUES]);
        for call in 0..plan.num_model_calls() {
            plan.scale_model_input(call, &x, &mut input).unwrap();
            model(call, &input, &mut output);
            plan.step_batch(call, BATCH, &mut x, &output, &mut memory)
                .unwrap();
        }
        assert_eq!(
            plan.model_timestep(plan.num_model_calls()),
            Err(Error::StepIndexOutOfRange {
                index: plan.num_model_calls(),
                steps: plan.num_model_calls()
            })
        );
        x
    }

    fn x_t(init_noise_sigma: f32) -> ([f32; BATCH * VALUES], [crate::NoiseStream; BATCH]) {
        let mut x = [0.0f32; BATCH * VALUES];
        let mut streams = [noise_stream(5, 0), noise_stream(5, 1)];
        for (sample, stream) in x.chunks_mut(VALUES).zip(&mut streams) {
            stream.fill_standard_normal(sample);
        }
        x.iter_mut().for_each(|v| *v *= init_noise_sigma);
        (x, streams)
    }

    fn timesteps() -> TimestepConfig {
        TimestepConfig {
            num_inference_steps: 5,
            spacing: TimestepSpacing::Linspace,
            steps_offset: 0,
        }
    }

    fn bits(x: &[f32]) -> impl Iterator<Item = u32> + '_ {
        x.iter().map(|v| v.to_bits())
    }

    #[test]
    fn ddpm_through_the_trait_is_bit_identical() {
        let config = DdpmDdimConfig {
            rule: DdpmDdimRule::Ddpm {
                variance_type: VarianceType::FixedSmall,
            },
            ..DdpmDdimConfig::default()
        };
        let plan: DdpmDdimPlan<5> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps(), &config).unwrap();
        assert!(plan.draws_noise());
        let (mut x, mut streams) = x_t(1.0);
        let mut output = [0.0f32; BATCH * VALUES];
        for (i, t) in plan.timesteps().enumerate() {
            assert_eq!(plan.model_timestep(i), Ok(ModelTimestep::whole(t)));
            model(i, &x, &mut output);
            plan.step_batch(i, BATCH, &mut x, &output, &mut streams, &mut [])
                .unwrap();
        }
        assert!(bits(&through_trait(&plan)).eq(bits(&x)));
    }

    #[test]
    fn sde_dpm_solver_through_the_trait_is_bit_identical() {
        let config = DpmSolverConfig {
            algorithm_type: DpmSolverAlgorithm::SdeDpmSolverPlusPlus,
            ..DpmSolverConfig::default()
        };
        let plan: DpmSolverPlan<5> =
            DpmSolverPlan::new(&ScheduleConfig::default(), &timesteps(), &config).unwrap();
        assert!(plan.draws_noise());
        let (mut x, mut streams) = x_t(1.0);
        let mut buffer = [0.0f32; 3 * BATCH * VALUES];
        let len = DpmSolverPlan::history_len(&plan) * x.len();
        let mut history = DpmSolverPlan::history(&plan, &mut buffer[..len], x.len()).unwrap();
        let mut output = [0.0f32; BATCH * VALUES];
        for i in 0..plan.len() {
            model(i, &x, &mut output);
            plan.step_batch_with_noise(
                i,
                BATCH,
                &mut x,
                &output,
                &mut history,
                &mut [],
                &mut streams,
            )
            .unwrap();
        }
        assert!(bits(&through_trait(&plan)).eq(bits(&x)));
    }

    #[test]
    fn unipc_through_the_trait_is_bit_identical() {
        let plan: UniPcPlan<5> = UniPcPlan::new(
            &ScheduleConfig::default(),
            &timesteps(),
            &UniPcConfig::default(),
        )
        .unwrap();
        assert!(!plan.draws_noise());
        let (mut x, _) = x_t(1.0);
        let mut buffer = [0.0f32; 3 * BATCH * VALUES];
        let len = UniPcPlan::history_len(&plan) * x.len();
        let mut history = UniPcPlan::history(&plan, &mut buffer[..len], x.len()).unwrap();
        let mut output = [0.0f32; BATCH * VALUES];
        for i in 0..plan.len() {
            model(i, &x, &mut output);
            UniPcPlan::step_batch(&plan, i, BATCH, &mut x, &output, &mut history, &mut []).unwrap();
        }
        assert!(bits(&through_trait(&plan)).eq(bits(&x)));
    }

    #[test]
    fn euler_ancestral_through_the_trait_is_bit_identical() {
        let config = EulerConfig {
            variant: EulerVariant::Ancestral,
            ..EulerConfig::default()
        };
        let plan: EulerPlan<5> =
            EulerPlan::new(&ScheduleConfig::default(), &timesteps(), &config).unwrap();
        assert!(plan.draws_noise());
        let (mut x, mut streams) = x_t(plan.init_noise_sigma());
        let (mut input, mut output) = ([0.0f32; BATCH * VALUES], [0.0f32; BATCH * VALUES]);
        for (i, (t, integer)) in plan.timesteps().zip(plan.integer_timesteps()).enumerate() {
            let timestep = plan.model_timestep(i).unwrap();
            assert_eq!(
                (timestep.float().to_bits(), timestep.integer()),
                (t.to_bits(), integer)
            );
            EulerPlan::scale_model_input(&plan, i, &x, &mut input).unwrap();
            model(i, &input, &mut output);
            EulerPlan::step_batch(&plan, i, BATCH, &mut x, &output, &mut streams).unwrap();
        }
        assert!(bits(&through_trait(&plan)).eq(bits(&x)));
    }

    #[test]
    fn heun_through_the_trait_is_bit_identical() {
        let config = HeunConfig::default();
        let plan: HeunPlan<5> =
            HeunPlan::new(&ScheduleConfig::default(), &timesteps(), &config).unwrap();
        assert_eq!((plan.num_inference_steps(), plan.num_model_calls()), (5, 9));
        let (mut x, _) = x_t(plan.init_noise_sigma());
        let mut buffer = [0.0f32; BATCH * VALUES];
        let mut history = HeunPlan::history(&plan, &mut buffer, x.len()).unwrap();
        let (mut input, mut output) = ([0.0f32; BATCH * VALUES], [0.0f32; BATCH * VALUES]);
        let timesteps = plan.timesteps().zip(plan.integer_timesteps());
        for (i, ((t, integer), scale)) in timesteps.zip(plan.input_scales()).enumerate() {
            let timestep = plan.model_timestep(i).unwrap();
            assert_eq!(
                (timestep.float().to_bits(), timestep.integer()),
                (t.to_bits(), integer)
            );
            assert_eq!(plan.input_scale(i), Ok(scale));
            HeunPlan::scale_model_input(&plan, i, &x, &mut input).unwrap();
            model(i, &input, &mut output);
            HeunPlan::step_batch(&plan, i, BATCH, &mut x, &output, &mut history).unwrap();
        }
        assert!(bits(&through_trait(&plan)).eq(bits(&x)));
    }
}
