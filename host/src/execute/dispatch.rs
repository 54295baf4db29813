//! The core's step and noise compiled twice — for the x86_64 baseline (SSE2) and for AVX2 — and
//! the better one picked at run time.
//!
//! diffusion-core is portable, safe code whose loops the compiler vectorizes for whatever the
//! build targets, and the default x86_64 target has only 4-wide SSE2. Here the same generic
//! functions are instantiated inside `#[target_feature(enable = "avx2")]` functions, so LLVM
//! inlines them there and vectorizes 8 wide (the core marks its steps, DDPM/DDIM's and
//! DPM-Solver's, `#[inline(always)]`, and its `InlinedStream` noise source inlines noise v1 too). The bits do not change: every operation of
//! the step and of noise v1 is an exact-rounded f32 operation, Rust never fuses a·b + c into an
//! FMA (and FMA is not enabled here), and the tests below compare the paths bit for bit.

use diffusion_core::{
    DdpmDdimPlan, DpmSolverPlan, Error, EulerPlan, HeunPlan, InlinedStream, MultistepHistory,
    NoiseSource, UniPcPlan,
};

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

/// [`DdpmDdimPlan::step_batch`] on the widest vectors this CPU has.
pub fn step_batch<const CAP: usize>(
    plan: &DdpmDdimPlan<CAP>,
    index: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    noise: &mut [InlinedStream],
    scratch: &mut [f32],
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe {
            avx2::step_batch(plan, index, batch, samples, model_output, noise, scratch)
        };
    }
    plan.step_batch(index, batch, samples, model_output, noise, scratch)
}

/// [`DpmSolverPlan::step_batch_with_noise`] on the widest vectors this CPU has (`noise`: one
/// stream per sample for `sde-dpmsolver++`, ignored otherwise).
#[allow(clippy::too_many_arguments)]
pub fn dpm_solver_step_batch<const CAP: usize>(
    plan: &DpmSolverPlan<CAP>,
    index: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    history: &mut MultistepHistory<'_>,
    scratch: &mut [f32],
    noise: &mut [InlinedStream],
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe {
            avx2::dpm_solver_step_batch(
                plan,
                index,
                batch,
                samples,
                model_output,
                history,
                scratch,
                noise,
            )
        };
    }
    plan.step_batch_with_noise(index, batch, samples, model_output, history, scratch, noise)
}

/// [`UniPcPlan::step_batch`] on the widest vectors this CPU has.
pub fn unipc_step_batch<const CAP: usize>(
    plan: &UniPcPlan<CAP>,
    index: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    history: &mut MultistepHistory<'_>,
    scratch: &mut [f32],
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe {
            avx2::unipc_step_batch(plan, index, batch, samples, model_output, history, scratch)
        };
    }
    plan.step_batch(index, batch, samples, model_output, history, scratch)
}

/// [`EulerPlan::step_batch`] on the widest vectors this CPU has.
pub fn euler_step_batch<const CAP: usize>(
    plan: &EulerPlan<CAP>,
    index: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    noise: &mut [InlinedStream],
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::euler_step_batch(plan, index, batch, samples, model_output, noise) };
    }
    plan.step_batch(index, batch, samples, model_output, noise)
}

/// [`HeunPlan::step_batch`] (one model evaluation) on the widest vectors this CPU has.
pub fn heun_step_batch<const CAP: usize>(
    plan: &HeunPlan<CAP>,
    index: usize,
    batch: usize,
    samples: &mut [f32],
    model_output: &[f32],
    history: &mut MultistepHistory<'_>,
) -> Result<(), Error> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe {
            avx2::heun_step_batch(plan, index, batch, samples, model_output, history)
        };
    }
    plan.step_batch(index, batch, samples, model_output, history)
}

/// `out[i] = scale·x[i]`: the model input of a sigma-space step, exactly as
/// [`EulerPlan::scale_model_input`] computes it (one f32 product per element).
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
    use diffusion_core::{
        DdpmDdimPlan, DpmSolverPlan, Error, EulerPlan, HeunPlan, MultistepHistory, NoiseSource,
        UniPcPlan,
    };

    #[target_feature(enable = "avx2")]
    pub(super) fn heun_step_batch<const CAP: usize>(
        plan: &HeunPlan<CAP>,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
    ) -> Result<(), Error> {
        plan.step_batch(index, batch, samples, model_output, history)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn unipc_step_batch<const CAP: usize>(
        plan: &UniPcPlan<CAP>,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        plan.step_batch(index, batch, samples, model_output, history, scratch)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn euler_step_batch<const CAP: usize>(
        plan: &EulerPlan<CAP>,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        noise: &mut [InlinedStream],
    ) -> Result<(), Error> {
        plan.step_batch(index, batch, samples, model_output, noise)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn scale_into(scale: f32, x: &[f32], out: &mut [f32]) {
        super::portable_scale_into(scale, x, out);
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn step_batch<const CAP: usize>(
        plan: &DdpmDdimPlan<CAP>,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        noise: &mut [InlinedStream],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        plan.step_batch(index, batch, samples, model_output, noise, scratch)
    }

    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dpm_solver_step_batch<const CAP: usize>(
        plan: &DpmSolverPlan<CAP>,
        index: usize,
        batch: usize,
        samples: &mut [f32],
        model_output: &[f32],
        history: &mut MultistepHistory<'_>,
        scratch: &mut [f32],
        noise: &mut [InlinedStream],
    ) -> Result<(), Error> {
        plan.step_batch_with_noise(index, batch, samples, model_output, history, scratch, noise)
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
        DdpmDdimConfig, DdpmDdimRule, DpmSolverAlgorithm, DpmSolverConfig, DpmSolverType,
        EulerConfig, EulerVariant, FinalSigmasType, HeunConfig, Pcg32, PredictionType,
        SampleClipping, ScheduleConfig, SigmaSchedule, TimestepConfig, TimestepSpacing,
        UniPcConfig, UniPcSolverType, VarianceType, noise_stream,
    };

    /// Every sampler path of the core: noise or not, clipping kinds, learned variance (`expf`).
    fn configs() -> Vec<(DdpmDdimConfig, bool)> {
        let ddpm = |variance_type| DdpmDdimRule::Ddpm { variance_type };
        let ddim = |eta| DdpmDdimRule::Ddim {
            eta,
            use_clipped_model_output: false,
        };
        let config = |sampler, clipping, prediction_type| DdpmDdimConfig {
            rule: sampler,
            clipping,
            prediction_type,
            ..DdpmDdimConfig::default()
        };
        let dynamic = SampleClipping::DynamicThreshold {
            ratio: 0.995,
            max_value: 1.5,
        };
        vec![
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
                    dynamic,
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
        ]
    }

    /// How a run draws noise and steps.
    #[derive(Clone, Copy, Debug)]
    enum Path {
        /// The core as compiled in its own crate: `Pcg32` and `DdpmDdimPlan::step_batch`.
        Core,
        /// host's fallback on CPUs without AVX2: `InlinedStream` and `DdpmDdimPlan::step_batch`, compiled
        /// here.
        Fallback,
        /// What host runs: [`fill_standard_normal`] and [`step_batch`] (AVX2 where available).
        Dispatched,
    }

    fn run(config: &DdpmDdimConfig, learned: bool, path: Path) -> Vec<u32> {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        let plan: DdpmDdimPlan<10> =
            DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap();
        let (batch, per_sample) = (3, 3 * 17 * 19);
        let mut streams: Vec<Pcg32> = (0..batch as u64).map(|i| noise_stream(8, i)).collect();
        let mut wrapped: Vec<InlinedStream> = (0..batch as u64)
            .map(|i| InlinedStream(noise_stream(8, i)))
            .collect();
        let mut samples = vec![0.0f32; batch * per_sample];
        for ((sample, stream), wrapped) in samples
            .chunks_mut(per_sample)
            .zip(&mut streams)
            .zip(&mut wrapped)
        {
            match path {
                Path::Core => stream.fill_standard_normal(sample),
                Path::Fallback => wrapped.fill_standard_normal(sample),
                Path::Dispatched => fill_standard_normal(wrapped, sample),
            }
        }
        let channels = if learned { 2 } else { 1 };
        let mut prediction = vec![0.0f32; channels * samples.len()];
        let mut scratch = vec![0.0f32; per_sample];
        for index in 0..plan.len() {
            noise_stream(100 + index as u64, 0).fill_standard_normal(&mut prediction);
            let (samples, scratch) = (&mut samples, &mut scratch);
            match path {
                Path::Core => {
                    plan.step_batch(index, batch, samples, &prediction, &mut streams, scratch)
                }
                Path::Fallback => {
                    plan.step_batch(index, batch, samples, &prediction, &mut wrapped, scratch)
                }
                Path::Dispatched => step_batch(
                    &plan,
                    index,
                    batch,
                    samples,
                    &prediction,
                    &mut wrapped,
                    scratch,
                ),
            }
            .unwrap();
        }
        samples.iter().map(|v| v.to_bits()).collect()
    }

    /// Every DPM-Solver path: both algorithms, orders 1 to 3 (so every way a step uses the
    /// history: none, write only, one slot, two slots), both second-order forms, both final
    /// sigmas, the three prediction types and the three clipping kinds.
    fn dpm_solver_configs() -> Vec<DpmSolverConfig> {
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
        vec![
            DpmSolverConfig::default(),
            config(plus_plus, 1, midpoint, zero),
            DpmSolverConfig {
                prediction_type: PredictionType::VPrediction,
                clipping: SampleClipping::DynamicThreshold {
                    ratio: 0.995,
                    max_value: 1.5,
                },
                ..config(plus_plus, 3, heun, sigma_min)
            },
            DpmSolverConfig {
                prediction_type: PredictionType::Sample,
                clipping: SampleClipping::Range(1.0),
                ..config(DpmSolverAlgorithm::DpmSolver, 2, heun, sigma_min)
            },
            DpmSolverConfig {
                clipping: SampleClipping::DynamicThreshold {
                    ratio: 0.9,
                    max_value: 2.0,
                },
                ..config(DpmSolverAlgorithm::DpmSolver, 3, midpoint, zero)
            },
        ]
    }

    fn run_dpm_solver(config: &DpmSolverConfig, path: Path) -> Vec<u32> {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        let plan: DpmSolverPlan<10> =
            DpmSolverPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap();
        let (batch, per_sample) = (3, 3 * 17 * 19);
        let mut samples = vec![0.0f32; batch * per_sample];
        for (i, sample) in samples.chunks_mut(per_sample).enumerate() {
            let mut stream = noise_stream(8, i as u64);
            let mut wrapped = InlinedStream(noise_stream(8, i as u64));
            match path {
                Path::Core => stream.fill_standard_normal(sample),
                Path::Fallback => wrapped.fill_standard_normal(sample),
                Path::Dispatched => fill_standard_normal(&mut wrapped, sample),
            }
        }
        let mut buffer = vec![f32::NAN; plan.history_len() * samples.len()];
        let mut history = plan.history(&mut buffer, samples.len()).unwrap();
        let mut prediction = vec![0.0f32; samples.len()];
        let mut scratch = vec![0.0f32; per_sample];
        for index in 0..plan.len() {
            noise_stream(100 + index as u64, 0).fill_standard_normal(&mut prediction);
            let (samples, scratch) = (&mut samples, &mut scratch);
            match path {
                Path::Core | Path::Fallback => {
                    plan.step_batch(index, batch, samples, &prediction, &mut history, scratch)
                }
                Path::Dispatched => dpm_solver_step_batch(
                    &plan,
                    index,
                    batch,
                    samples,
                    &prediction,
                    &mut history,
                    scratch,
                    &mut [],
                ),
            }
            .unwrap();
        }
        assert!(samples.iter().all(|v| v.is_finite()), "{config:?}");
        samples.iter().map(|v| v.to_bits()).collect()
    }

    /// Every UniPC path: orders 1 to 3 (ring lengths 1 to 3), bh1 and bh2, with and without the
    /// corrector (and the last sample), noise prediction, both final sigmas, the prediction types
    /// and thresholding.
    fn unipc_configs() -> Vec<UniPcConfig<'static>> {
        let threshold = SampleClipping::DynamicThreshold {
            ratio: 0.995,
            max_value: 1.5,
        };
        vec![
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
                clipping: threshold,
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
        ]
    }

    fn run_unipc(config: &UniPcConfig<'_>, path: Path) -> Vec<u32> {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        let plan: UniPcPlan<10> =
            UniPcPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap();
        let (batch, per_sample) = (3, 3 * 17 * 19);
        let mut samples = vec![0.0f32; batch * per_sample];
        for (i, sample) in samples.chunks_mut(per_sample).enumerate() {
            noise_stream(8, i as u64).fill_standard_normal(sample);
        }
        let mut buffer = vec![f32::NAN; plan.history_len() * samples.len()];
        let mut history = plan.history(&mut buffer, samples.len()).unwrap();
        let mut prediction = vec![0.0f32; samples.len()];
        let mut scratch = vec![0.0f32; per_sample];
        for index in 0..plan.len() {
            noise_stream(100 + index as u64, 0).fill_standard_normal(&mut prediction);
            let (samples, scratch) = (&mut samples, &mut scratch);
            match path {
                Path::Core | Path::Fallback => {
                    plan.step_batch(index, batch, samples, &prediction, &mut history, scratch)
                }
                Path::Dispatched => unipc_step_batch(
                    &plan,
                    index,
                    batch,
                    samples,
                    &prediction,
                    &mut history,
                    scratch,
                ),
            }
            .unwrap();
        }
        assert!(samples.iter().all(|v| v.is_finite()), "{config:?}");
        samples.iter().map(|v| v.to_bits()).collect()
    }

    /// Euler and Euler ancestral (noise at every step but the last), the sigma schedules, final
    /// sigmas and prediction types; the model input scaling of every step too.
    fn euler_configs() -> Vec<EulerConfig> {
        let ancestral = EulerVariant::Ancestral;
        vec![
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
        ]
    }

    fn run_euler(config: &EulerConfig, path: Path) -> Vec<u32> {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Leading,
            steps_offset: 1,
        };
        let plan: EulerPlan<10> =
            EulerPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap();
        let (batch, per_sample) = (3, 3 * 17 * 19);
        let mut streams: Vec<Pcg32> = (0..batch as u64).map(|i| noise_stream(8, i)).collect();
        let mut wrapped: Vec<InlinedStream> = (0..batch as u64)
            .map(|i| InlinedStream(noise_stream(8, i)))
            .collect();
        let mut samples = vec![0.0f32; batch * per_sample];
        for ((sample, stream), wrapped) in samples
            .chunks_mut(per_sample)
            .zip(&mut streams)
            .zip(&mut wrapped)
        {
            match path {
                Path::Core => stream.fill_standard_normal(sample),
                Path::Fallback => wrapped.fill_standard_normal(sample),
                Path::Dispatched => fill_standard_normal(wrapped, sample),
            }
        }
        let sigma = plan.init_noise_sigma();
        scale(sigma, &mut samples);
        let mut input = vec![0.0f32; samples.len()];
        let mut prediction = vec![0.0f32; samples.len()];
        let mut inputs = Vec::new();
        for (index, input_scale) in plan.input_scales().enumerate() {
            match path {
                Path::Core => plan.scale_model_input(index, &samples, &mut input).unwrap(),
                Path::Fallback => portable_scale_into(input_scale, &samples, &mut input),
                Path::Dispatched => scale_into(input_scale, &samples, &mut input),
            }
            inputs.extend(input.iter().map(|v| v.to_bits()));
            noise_stream(100 + index as u64, 0).fill_standard_normal(&mut prediction);
            let samples = &mut samples;
            match path {
                Path::Core => plan.step_batch(index, batch, samples, &prediction, &mut streams),
                Path::Fallback => plan.step_batch(index, batch, samples, &prediction, &mut wrapped),
                Path::Dispatched => {
                    euler_step_batch(&plan, index, batch, samples, &prediction, &mut wrapped)
                }
            }
            .unwrap();
        }
        assert!(samples.iter().all(|v| v.is_finite()), "{config:?}");
        inputs.extend(samples.iter().map(|v| v.to_bits()));
        inputs
    }

    fn run_heun(config: &HeunConfig, path: Path) -> Vec<u32> {
        let timesteps = TimestepConfig {
            num_inference_steps: 10,
            spacing: TimestepSpacing::Trailing,
            steps_offset: 0,
        };
        let plan: HeunPlan<10> =
            HeunPlan::new(&ScheduleConfig::default(), &timesteps, config).unwrap();
        let (batch, per_sample) = (3, 3 * 17 * 19);
        let mut samples = vec![0.0f32; batch * per_sample];
        for (i, sample) in samples.chunks_mut(per_sample).enumerate() {
            noise_stream(8, i as u64).fill_standard_normal(sample);
        }
        scale(plan.init_noise_sigma(), &mut samples);
        let mut buffer = vec![f32::NAN; plan.history_len() * samples.len()];
        let mut history = plan.history(&mut buffer, samples.len()).unwrap();
        let mut input = vec![0.0f32; samples.len()];
        let mut prediction = vec![0.0f32; samples.len()];
        let mut bits = Vec::new();
        for (index, input_scale) in plan.input_scales().enumerate() {
            match path {
                Path::Core => plan.scale_model_input(index, &samples, &mut input).unwrap(),
                Path::Fallback => portable_scale_into(input_scale, &samples, &mut input),
                Path::Dispatched => scale_into(input_scale, &samples, &mut input),
            }
            bits.extend(input.iter().map(|v| v.to_bits()));
            noise_stream(100 + index as u64, 0).fill_standard_normal(&mut prediction);
            let samples = &mut samples;
            match path {
                Path::Core | Path::Fallback => {
                    plan.step_batch(index, batch, samples, &prediction, &mut history)
                }
                Path::Dispatched => {
                    heun_step_batch(&plan, index, batch, samples, &prediction, &mut history)
                }
            }
            .unwrap();
        }
        assert!(samples.iter().all(|v| v.is_finite()), "{config:?}");
        bits.extend(samples.iter().map(|v| v.to_bits()));
        bits
    }

    #[test]
    fn the_dispatched_path_gives_the_portable_bits() {
        eprintln!("instruction set: {}", instruction_set());
        for (config, learned) in configs() {
            let core = run(&config, learned, Path::Core);
            for path in [Path::Fallback, Path::Dispatched] {
                assert_eq!(run(&config, learned, path), core, "{path:?}, {config:?}");
            }
        }
        for config in dpm_solver_configs() {
            let core = run_dpm_solver(&config, Path::Core);
            for path in [Path::Fallback, Path::Dispatched] {
                assert_eq!(run_dpm_solver(&config, path), core, "{path:?}, {config:?}");
            }
        }
        for config in unipc_configs() {
            let core = run_unipc(&config, Path::Core);
            assert_eq!(
                run_unipc(&config, Path::Dispatched),
                core,
                "dispatched, {config:?}"
            );
        }
        for config in [
            HeunConfig::default(),
            HeunConfig {
                sigma_schedule: SigmaSchedule::Karras,
                prediction_type: PredictionType::VPrediction,
                clip_sample: Some(1.0),
            },
            HeunConfig {
                sigma_schedule: SigmaSchedule::Exponential,
                prediction_type: PredictionType::Sample,
                clip_sample: None,
            },
        ] {
            let core = run_heun(&config, Path::Core);
            for path in [Path::Fallback, Path::Dispatched] {
                assert_eq!(run_heun(&config, path), core, "{path:?}, {config:?}");
            }
        }
        for config in euler_configs() {
            let core = run_euler(&config, Path::Core);
            for path in [Path::Fallback, Path::Dispatched] {
                assert_eq!(run_euler(&config, path), core, "{path:?}, {config:?}");
            }
        }
    }
}
