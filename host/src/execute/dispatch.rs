//! The core's step and noise compiled twice — for the x86_64 baseline (SSE2) and for AVX2 — and
//! the better one picked at run time.
//!
//! diffusion-core is portable, safe code whose loops the compiler vectorizes for whatever the
//! build targets, and the default x86_64 target has only 4-wide SSE2. Here the same generic
//! functions are instantiated inside `#[target_feature(enable = "avx2")]` functions, so LLVM
//! inlines them there and vectorizes 8 wide (the core marks every plan's step and its
//! [`Scheduler::step_batch`] `#[inline(always)]`, and its `InlinedStream` noise source inlines
//! noise v1 too); one generic [`step_batch`] serves every sampler. The bits do not change: every operation of
//! the step and of noise v1 is an exact-rounded f32 operation, Rust never fuses a·b + c into an
//! FMA (and FMA is not enabled here), and the tests below compare the paths bit for bit.

use diffusion_core::{Error, InlinedStream, NoiseSource, Scheduler, StepMemory};

/// The instruction set the sampler runs on this CPU: "AVX2" or "SSE2" (x86_64), "portable"
/// elsewhere.
pub fn instruction_set() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            "AVX2"
        } else {
            "SSE2"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable"
    }
}

/// [`Scheduler::step_batch`] of any plan, on the widest vectors this CPU has.
pub fn step_batch<S: Scheduler>(
    plan: &S,
    call: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    memory: &mut StepMemory<'_, InlinedStream>,
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::step_batch(plan, call, batch, samples, model_output, memory) };
    }
    plan.step_batch(call, batch, samples, model_output, memory)
}

/// `out[i] = scale·x[i]`: the model input of a sigma-space step, exactly as
/// [`Scheduler::scale_model_input`] computes it (one f32 product per element).
pub fn scale_into(scale: f32, x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { avx2::scale_into(scale, x, out) };
        return;
    }
    portable_scale_into(scale, x, out);
}

/// `x[i] *= scale` (x_T times `init_noise_sigma`).
pub fn scale(scale: f32, x: &mut [f32]) {
    for value in x {
        *value *= scale;
    }
}

#[inline(always)]
fn portable_scale_into(scale: f32, x: &[f32], out: &mut [f32]) {
    for (out, &x) in out.iter_mut().zip(x) {
        *out = scale * x;
    }
}

/// Noise v1 ([`NoiseSource::fill_standard_normal`]) on the widest vectors this CPU has.
pub fn fill_standard_normal(stream: &mut InlinedStream, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { avx2::fill_standard_normal(stream, out) };
        return;
    }
    stream.fill_standard_normal(out);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::InlinedStream;
    use diffusion_core::{Error, NoiseSource, Scheduler, StepMemory};

    #[target_feature(enable = "avx2")]
    pub(super) fn step_batch<S: Scheduler>(
        plan: &S,
        call: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        memory: &mut StepMemory<'_, InlinedStream>,
    ) -> Result<(), Error> {
        plan.step_batch(call, batch, samples, model_output, memory)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn scale_into(scale: f32, x: &[f32], out: &mut [f32]) {
        super::portable_scale_into(scale, x, out);
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn fill_standard_normal(stream: &mut InlinedStream, out: &mut [f32]) {
        stream.fill_standard_normal(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffusion_core::{
        DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig,
        DpmSolverPlan, DpmSolverType, EulerConfig, EulerPlan, EulerVariant, FinalSigmasType,
        HeunConfig, HeunPlan, NoiseStream, PredictionType, SampleClipping, ScheduleConfig,
        SigmaSchedule, TimestepConfig, TimestepSpacing, UniPcConfig, UniPcPlan, UniPcSolverType,
        VarianceType, noise_stream,
    };

    /// How a run draws noise, scales the model input and steps.
    #[derive(Clone, Copy, Debug)]
    enum Path {
        /// The core as compiled in its own crate: `NoiseStream`, `scale_model_input`, `step_batch`.
        Core,
        /// host's fallback on CPUs without AVX2: `InlinedStream` and the portable loops,
        /// compiled here.
        Fallback,
        /// What host runs: [`fill_standard_normal`], [`scale_into`], [`step_batch`] (AVX2 where
        /// available).
        Dispatched,
    }

    const BATCH: usize = 3;
    const PER_SAMPLE: usize = 3 * 17 * 19;

    fn timesteps(spacing: TimestepSpacing) -> TimestepConfig {
        TimestepConfig {
            num_inference_steps: 10,
            spacing,
            steps_offset: 1,
        }
    }

    /// A whole run of `plan` on one path: x_T, every model input and the final samples, as bits.
    fn run<S: Scheduler>(plan: &S, learned: bool, path: Path) -> Vec<u32> {
        let mut streams: Vec<NoiseStream> = (0..BATCH as u64).map(|i| noise_stream(8, i)).collect();
        let mut wrapped: Vec<InlinedStream> = (0..BATCH as u64)
            .map(|i| InlinedStream(noise_stream(8, i)))
            .collect();
        let mut samples = vec![0.0f32; BATCH * PER_SAMPLE];
        for ((sample, stream), wrapped) in samples
            .chunks_mut(PER_SAMPLE)
            .zip(&mut streams)
            .zip(&mut wrapped)
        {
            match path {
                Path::Core => stream.fill_standard_normal(sample),
                Path::Fallback => wrapped.fill_standard_normal(sample),
                Path::Dispatched => fill_standard_normal(wrapped, sample),
            }
        }
        scale(plan.init_noise_sigma(), &mut samples);
        let mut bits: Vec<u32> = samples.iter().map(|v| v.to_bits()).collect();
        let mut buffer = vec![f32::NAN; plan.history_len() * samples.len()];
        let mut other_buffer = buffer.clone();
        let mut scratch = vec![0.0f32; plan.scratch_len(PER_SAMPLE)];
        let mut other_scratch = scratch.clone();
        let history = plan.history(&mut buffer, samples.len()).unwrap();
        let other_history = plan.history(&mut other_buffer, samples.len()).unwrap();
        let mut core_memory = StepMemory::new(history, &mut streams, &mut scratch);
        let mut memory = StepMemory::new(other_history, &mut wrapped, &mut other_scratch);
        let channels = if learned { 2 } else { 1 };
        let mut prediction = vec![0.0f32; channels * samples.len()];
        let mut input = vec![0.0f32; samples.len()];
        for call in 0..plan.num_model_calls() {
            let input_scale = plan.input_scale(call).unwrap();
            match path {
                Path::Core => plan.scale_model_input(call, &samples, &mut input).unwrap(),
                Path::Fallback => portable_scale_into(input_scale, &samples, &mut input),
                Path::Dispatched => scale_into(input_scale, &samples, &mut input),
            }
            bits.extend(input.iter().map(|v| v.to_bits()));
            noise_stream(100 + call as u64, 0).fill_standard_normal(&mut prediction);
            let samples = &mut samples;
            match path {
                Path::Core => plan.step_batch(call, BATCH, samples, &prediction, &mut core_memory),
                Path::Fallback => plan.step_batch(call, BATCH, samples, &prediction, &mut memory),
                Path::Dispatched => {
                    step_batch(plan, call, BATCH, samples, &prediction, &mut memory)
                }
            }
            .unwrap();
        }
        assert!(samples.iter().all(|v| v.is_finite()));
        bits.extend(samples.iter().map(|v| v.to_bits()));
        bits
    }

    fn check<S: Scheduler + std::fmt::Debug>(plan: &S, learned: bool) {
        let core = run(plan, learned, Path::Core);
        for path in [Path::Fallback, Path::Dispatched] {
            assert_eq!(run(plan, learned, path), core, "{path:?}, {plan:?}");
        }
    }

    fn dynamic(ratio: f32, max_value: f32) -> SampleClipping {
        SampleClipping::DynamicThreshold { ratio, max_value }
    }

    /// Every DDPM/DDIM path: noise or not, the clipping kinds, learned variance (`expf`).
    #[test]
    fn ddpm_ddim_dispatched_is_portable_bits() {
        let ddpm = |variance_type| DdpmDdimRule::Ddpm { variance_type };
        let ddim = |eta| DdpmDdimRule::Ddim {
            eta,
            use_clipped_model_output: false,
        };
        let config = |rule, clipping, prediction_type| DdpmDdimConfig {
            rule,
            clipping,
            prediction_type,
            ..DdpmDdimConfig::default()
        };
        for (config, learned) in [
            (
                config(ddim(0.0), SampleClipping::None, PredictionType::Epsilon),
                false,
            ),
            (
                config(
                    ddim(1.0),
                    SampleClipping::Range(1.0),
                    PredictionType::VPrediction,
                ),
                false,
            ),
            (
                config(
                    ddpm(VarianceType::FixedSmall),
                    dynamic(0.995, 1.5),
                    PredictionType::Epsilon,
                ),
                false,
            ),
            (
                config(
                    ddpm(VarianceType::FixedLarge),
                    SampleClipping::None,
                    PredictionType::Sample,
                ),
                false,
            ),
            (
                config(
                    ddpm(VarianceType::LearnedRange),
                    SampleClipping::None,
                    PredictionType::Epsilon,
                ),
                true,
            ),
        ] {
            let schedule = ScheduleConfig::default();
            let plan: DdpmDdimPlan<10> =
                DdpmDdimPlan::new(&schedule, &timesteps(TimestepSpacing::Trailing), &config)
                    .unwrap();
            check(&plan, learned);
        }
    }

    /// Every DPM-Solver path: the algorithms (SDE noise too), orders 1 to 3, both second-order
    /// forms, both final sigmas, the prediction types and the clipping kinds.
    #[test]
    fn dpm_solver_dispatched_is_portable_bits() {
        let config =
            |algorithm_type, solver_order, solver_type, final_sigmas_type| DpmSolverConfig {
                algorithm_type,
                solver_order,
                solver_type,
                final_sigmas_type,
                ..DpmSolverConfig::default()
            };
        let plus_plus = DpmSolverAlgorithm::DpmSolverPlusPlus;
        let (midpoint, heun) = (DpmSolverType::Midpoint, DpmSolverType::Heun);
        let (zero, sigma_min) = (FinalSigmasType::Zero, FinalSigmasType::SigmaMin);
        for config in [
            DpmSolverConfig::default(),
            config(plus_plus, 1, midpoint, zero),
            DpmSolverConfig {
                prediction_type: PredictionType::VPrediction,
                clipping: dynamic(0.995, 1.5),
                ..config(plus_plus, 3, heun, sigma_min)
            },
            DpmSolverConfig {
                prediction_type: PredictionType::Sample,
                clipping: SampleClipping::Range(1.0),
                ..config(DpmSolverAlgorithm::DpmSolver, 2, heun, sigma_min)
            },
            DpmSolverConfig {
                clipping: dynamic(0.9, 2.0),
                ..config(DpmSolverAlgorithm::DpmSolver, 3, midpoint, zero)
            },
            DpmSolverConfig {
                sigma_schedule: SigmaSchedule::Karras,
                ..config(DpmSolverAlgorithm::SdeDpmSolverPlusPlus, 2, midpoint, zero)
            },
        ] {
            let plan: DpmSolverPlan<10> = DpmSolverPlan::new(
                &ScheduleConfig::default(),
                &timesteps(TimestepSpacing::Trailing),
                &config,
            )
            .unwrap();
            check(&plan, false);
        }
    }

    /// Every UniPC path: orders 1 to 3 (ring lengths 1 to 3), bh1 and bh2, with and without the
    /// corrector (and the last sample), noise prediction, both final sigmas, the prediction types
    /// and thresholding.
    #[test]
    fn unipc_dispatched_is_portable_bits() {
        for config in [
            UniPcConfig::default(),
            UniPcConfig {
                solver_order: 1,
                ..UniPcConfig::default()
            },
            UniPcConfig {
                solver_order: 3,
                solver_type: UniPcSolverType::Bh1,
                final_sigmas_type: FinalSigmasType::SigmaMin,
                prediction_type: PredictionType::VPrediction,
                clipping: dynamic(0.995, 1.5),
                ..UniPcConfig::default()
            },
            UniPcConfig {
                solver_order: 3,
                predict_x0: false,
                lower_order_final: false,
                disable_corrector: &[0, 1, 2, 3, 4, 5, 6, 7, 8],
                prediction_type: PredictionType::Sample,
                ..UniPcConfig::default()
            },
            UniPcConfig {
                solver_order: 2,
                solver_type: UniPcSolverType::Bh1,
                disable_corrector: &[3],
                clipping: SampleClipping::Range(1.0),
                ..UniPcConfig::default()
            },
        ] {
            let plan: UniPcPlan<10> = UniPcPlan::new(
                &ScheduleConfig::default(),
                &timesteps(TimestepSpacing::Trailing),
                &config,
            )
            .unwrap();
            check(&plan, false);
        }
    }

    /// Euler and Euler ancestral (noise at every step but the last), Heun, the sigma schedules,
    /// final sigmas and prediction types; the model input scaling of every call too.
    #[test]
    fn euler_and_heun_dispatched_is_portable_bits() {
        let ancestral = EulerVariant::Ancestral;
        for config in [
            EulerConfig::default(),
            EulerConfig {
                variant: ancestral,
                ..EulerConfig::default()
            },
            EulerConfig {
                sigma_schedule: SigmaSchedule::Karras,
                prediction_type: PredictionType::VPrediction,
                final_sigmas_type: FinalSigmasType::SigmaMin,
                ..EulerConfig::default()
            },
            EulerConfig {
                variant: ancestral,
                sigma_schedule: SigmaSchedule::Exponential,
                prediction_type: PredictionType::Sample,
                ..EulerConfig::default()
            },
            EulerConfig {
                sigma_schedule: SigmaSchedule::Beta,
                sigma_min: Some(0.05),
                sigma_max: Some(80.0),
                ..EulerConfig::default()
            },
        ] {
            let plan: EulerPlan<10> = EulerPlan::new(
                &ScheduleConfig::default(),
                &timesteps(TimestepSpacing::Leading),
                &config,
            )
            .unwrap();
            check(&plan, false);
        }
        for config in [
            HeunConfig::default(),
            HeunConfig {
                sigma_schedule: SigmaSchedule::Karras,
                prediction_type: PredictionType::VPrediction,
                clip_sample: Some(1.0),
            },
        ] {
            let plan: HeunPlan<10> = HeunPlan::new(
                &ScheduleConfig::default(),
                &timesteps(TimestepSpacing::Trailing),
                &config,
            )
            .unwrap();
            check(&plan, false);
        }
    }
}
