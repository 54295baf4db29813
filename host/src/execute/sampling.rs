//! The sampling loop: per batch, x_T from noise v1 (or a file) times the plan's
//! `init_noise_sigma`, then for each step one model call and one in-place core step (DDPM/DDIM's
//! [`DdpmDdimPlan`]; DPM-Solver's [`DpmSolverPlan`] or UniPC's [`UniPcPlan`] with the batch's history of
//! earlier outputs; Euler's [`EulerPlan`], whose model sees c_in·x while the core steps x, kept in
//! a buffer of its own). Tensors, the I/O binding, the history and x's own buffer are created
//! once per batch size; the step loop allocates no sample-sized buffer.

use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use diffusion_core::{
    DdpmDdimPlan, DpmSolverPlan, EulerPlan, Guidance, HeunPlan, InlinedStream, MultistepHistory,
    UniPcPlan, noise_stream,
};
use half::f16;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use crate::bind::guidance::Conditioning;
use crate::bind::model_inputs::{Half, InputTensor};
use crate::bind::runtime::Provider;
use crate::bind::signature::{Signature, TimestepShape, TimestepType};
use crate::execute::dispatch;
use crate::execute::finite::first_non_finite;
use crate::execute::interrupt;
use crate::geometry::Geometry;

/// The largest plan the host builds (T is at most this many steps in practice).
pub const MAX_STEPS: usize = 4096;

/// The realized steps of a run, by update rule. Made once per run and boxed
/// ([`crate::resolve::scheduler::SchedulerSettings::plan`]), so the variants' sizes (UniPC's weights are the largest)
/// do not matter.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SamplingPlan {
    /// DDPM or DDIM: each step needs x_t, the model output and noise.
    Plan(DdpmDdimPlan<MAX_STEPS>),
    /// DPM-Solver(++) multistep: each step needs x_t, the model output and the history of the
    /// earlier steps' outputs; no noise.
    DpmSolver(DpmSolverPlan<MAX_STEPS>),
    /// UniPC multistep: as DPM-Solver, with the last corrected sample in the history too.
    UniPc(UniPcPlan<MAX_STEPS>),
    /// Euler or Euler ancestral: the model sees c_in·x at a possibly fractional timestep; each
    /// step needs x, the model output and (ancestral) noise.
    Euler(EulerPlan<MAX_STEPS>),
    /// Heun: as Euler, with two model evaluations per step but the last (2N − 1 in all) and the
    /// step's starting x remembered in a one-buffer history.
    Heun(HeunPlan<MAX_STEPS>),
}

/// The timestep the model sees at a step: `float` for a float32/float16 timestep input (possibly
/// fractional), `integer` for an int64/int32 one (the float truncated toward zero, as diffusers'
/// ONNX pipelines feed it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelTimestep {
    /// For float models.
    pub float: f32,
    /// For integer models.
    pub integer: i64,
}

impl ModelTimestep {
    fn whole(timestep: u32) -> Self {
        ModelTimestep {
            float: timestep as f32,
            integer: timestep as i64,
        }
    }
}

impl std::fmt::Display for ModelTimestep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.float == self.integer as f32 {
            write!(f, "{}", self.integer)
        } else {
            write!(f, "{}", self.float)
        }
    }
}

impl SamplingPlan {
    /// Number of steps (model calls per batch).
    pub fn len(&self) -> usize {
        match self {
            Self::Plan(plan) => plan.len(),
            Self::DpmSolver(plan) => plan.len(),
            Self::UniPc(plan) => plan.len(),
            Self::Euler(plan) => plan.len(),
            Self::Heun(plan) => plan.num_model_calls(),
        }
    }

    /// Denoising steps (`--steps`): the model calls per sample but for Heun, which makes 2N − 1.
    pub fn num_inference_steps(&self) -> usize {
        match self {
            Self::Heun(plan) => plan.num_inference_steps(),
            _ => self.len(),
        }
    }

    /// Whether the plan has no steps (never true for a plan that was built).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The timestep the model sees at each step, in order.
    pub fn timesteps(&self) -> Vec<ModelTimestep> {
        match self {
            Self::Plan(plan) => plan.timesteps().map(ModelTimestep::whole).collect(),
            Self::DpmSolver(plan) => plan.timesteps().map(ModelTimestep::whole).collect(),
            Self::UniPc(plan) => plan.timesteps().map(ModelTimestep::whole).collect(),
            Self::Euler(plan) => plan
                .timesteps()
                .zip(plan.integer_timesteps())
                .map(|(float, integer)| ModelTimestep { float, integer })
                .collect(),
            Self::Heun(plan) => plan
                .timesteps()
                .zip(plan.integer_timesteps())
                .map(|(float, integer)| ModelTimestep { float, integer })
                .collect(),
        }
    }

    /// The factor the model's input is x times at each step (Euler's c_in), when it is not x
    /// itself.
    pub fn input_scales(&self) -> Option<Vec<f32>> {
        match self {
            Self::Euler(plan) => Some(plan.input_scales().collect()),
            Self::Heun(plan) => Some(plan.input_scales().collect()),
            _ => None,
        }
    }

    /// diffusers' `init_noise_sigma`: x_T is standard normal noise times this.
    pub fn init_noise_sigma(&self) -> f32 {
        match self {
            Self::Euler(plan) => plan.init_noise_sigma(),
            Self::Heun(plan) => plan.init_noise_sigma(),
            _ => 1.0,
        }
    }

    /// Sample-sized buffers of history a run needs (0 for DDPM/DDIM and Euler).
    pub fn history_len(&self) -> usize {
        match self {
            Self::Plan(_) | Self::Euler(_) => 0,
            Self::DpmSolver(plan) => plan.history_len(),
            Self::UniPc(plan) => plan.history_len(),
            Self::Heun(plan) => plan.history_len(),
        }
    }
}

/// One batch's stepper: the plan, and for a multistep solver this batch's history.
enum Stepper<'p, 'h> {
    Plan(&'p DdpmDdimPlan<MAX_STEPS>),
    DpmSolver(&'p DpmSolverPlan<MAX_STEPS>, MultistepHistory<'h>),
    UniPc(&'p UniPcPlan<MAX_STEPS>, MultistepHistory<'h>),
    Euler(&'p EulerPlan<MAX_STEPS>),
    Heun(&'p HeunPlan<MAX_STEPS>, MultistepHistory<'h>),
}

/// What to sample.
pub struct Job<'a> {
    /// The realized steps.
    pub plan: &'a SamplingPlan,
    /// Noise seed.
    pub seed: u64,
    /// Global indices of the samples this process computes.
    pub samples: Range<u64>,
    /// Samples per model call.
    pub batch: usize,
    /// Whether a short last batch is padded to `batch` with the next sample indices (discarded
    /// after), so that the model always sees one shape: a fixed-batch model, or TensorRT, whose
    /// engine would be rebuilt for a new shape. Sample i depends only on (seed, i), so the kept
    /// samples are the same either way.
    pub pad_last_batch: bool,
    /// x_T for `samples`, sample after sample, instead of drawing it.
    pub init_noise: Option<&'a [f32]>,
    /// Per-sample shape.
    pub geometry: Geometry,
    /// The model's inputs besides the sample and the timestep, and classifier-free guidance.
    pub conditioning: &'a Conditioning,
    /// With guidance: both halves in one model call of twice the batch (a model whose batch is
    /// dynamic), rather than two calls.
    pub doubled: bool,
}

/// Where the time went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// Inside the model call (including input/output copies of the provider).
    pub model: Duration,
    /// Output check, core step and noise.
    pub sampler: Duration,
    /// Model calls made.
    pub model_calls: u64,
}

/// The timestep tensor in the model's element type.
enum TimestepTensor {
    Int64(Tensor<i64>),
    Int32(Tensor<i32>),
    Float32(Tensor<f32>),
    Float16(Tensor<f16>),
}

impl TimestepTensor {
    fn new(kind: TimestepType, shape: TimestepShape, batch: usize) -> Result<Self> {
        let dims: Vec<i64> = match shape {
            TimestepShape::Scalar => vec![],
            TimestepShape::One => vec![1],
            TimestepShape::Batch => vec![batch as i64],
        };
        let count = dims.iter().product::<i64>() as usize;
        let tensor = match kind {
            TimestepType::Int64 => Self::Int64(Tensor::from_array((dims, vec![0i64; count]))?),
            TimestepType::Int32 => Self::Int32(Tensor::from_array((dims, vec![0i32; count]))?),
            TimestepType::Float32 => Self::Float32(Tensor::from_array((dims, vec![0f32; count]))?),
            TimestepType::Float16 => {
                Self::Float16(Tensor::from_array((dims, vec![f16::ZERO; count]))?)
            }
        };
        Ok(tensor)
    }

    fn set(&mut self, timestep: ModelTimestep) {
        match self {
            Self::Int64(t) => t.extract_tensor_mut().1.fill(timestep.integer),
            // Timesteps are below 2^31 (T is at most MAX_TRAIN_TIMESTEPS).
            Self::Int32(t) => t.extract_tensor_mut().1.fill(timestep.integer as i32),
            Self::Float32(t) => t.extract_tensor_mut().1.fill(timestep.float),
            // Whole timesteps are exact up to 2048; others round as any float16 model sees them.
            Self::Float16(t) => t.extract_tensor_mut().1.fill(f16::from_f32(timestep.float)),
        }
    }

    fn bind(&self, binding: &mut IoBinding, name: &str) -> ort::Result<()> {
        match self {
            Self::Int64(t) => binding.bind_input(name, t),
            Self::Int32(t) => binding.bind_input(name, t),
            Self::Float32(t) => binding.bind_input(name, t),
            Self::Float16(t) => binding.bind_input(name, t),
        }
    }
}

/// One model call of a step: which halves of a guided batch it computes, its inputs besides the
/// sample and the timestep, its output and its binding.
struct Call {
    halves: Vec<Half>,
    inputs: Vec<InputTensor>,
    /// The prediction, preallocated and bound when the output's shape is static.
    output: Option<Tensor<f32>>,
    binding: IoBinding,
}

/// The tensors and bindings for one batch size.
struct BatchBuffers {
    size: usize,
    /// The model's sample input: the batch, twice over for a doubled guided call.
    sample: Tensor<f32>,
    timestep: TimestepTensor,
    /// One call per step; with guidance, one call of both halves (doubled) or one per half.
    calls: Vec<Call>,
    /// On a GPU, binding an input is what copies it to the device, so inputs are bound before
    /// every call; on the CPU the bound tensors are read in place and are bound once.
    rebind_inputs: bool,
}

impl BatchBuffers {
    fn new(
        session: &Session,
        signature: &Signature,
        provider: Provider,
        job: &Job<'_>,
        size: usize,
    ) -> Result<Self> {
        let geometry = job.geometry;
        let guided = job.conditioning.guidance.is_some();
        let halves_per_call: Vec<Vec<Half>> = match (guided, job.doubled) {
            (false, _) => vec![vec![Half::Conditional]],
            (true, true) => vec![vec![Half::Unconditional, Half::Conditional]],
            (true, false) => vec![vec![Half::Unconditional], vec![Half::Conditional]],
        };
        let rows = size * halves_per_call[0].len();
        let shape = [rows, geometry.channels, geometry.height, geometry.width];
        // On a GPU, x_t and the prediction live in pinned host memory: each step copies x_t in and
        // the prediction out, nothing else.
        let (input_allocator, output_allocator, output_memory) = if provider.is_gpu() {
            let pinned = |memory_type| {
                MemoryInfo::new(
                    AllocationDevice::CUDA_PINNED,
                    0,
                    AllocatorType::Device,
                    memory_type,
                )
            };
            (
                Allocator::new(session, pinned(MemoryType::CPUInput)?)?,
                Allocator::new(session, pinned(MemoryType::CPUOutput)?)?,
                pinned(MemoryType::CPUOutput)?,
            )
        } else {
            let cpu = || {
                MemoryInfo::new(
                    AllocationDevice::CPU,
                    0,
                    AllocatorType::Device,
                    MemoryType::Default,
                )
            };
            (Allocator::default(), Allocator::default(), cpu()?)
        };
        let sample = Tensor::<f32>::new(&input_allocator, shape)?;
        let timestep =
            TimestepTensor::new(signature.timestep_type, signature.timestep_shape, rows)?;
        let rebind_inputs = provider.is_gpu();
        let mut calls = Vec::new();
        for halves in halves_per_call {
            let inputs = job
                .conditioning
                .inputs
                .iter()
                .map(|input| InputTensor::new(input, rows))
                .collect::<Result<Vec<_>>>()?;
            let mut binding = session.create_binding()?;
            let output = match signature.output_channels {
                Some(channels) => {
                    let mut output = Tensor::<f32>::new(
                        &output_allocator,
                        [rows, channels, geometry.height, geometry.width],
                    )?;
                    binding.bind_output(&signature.output, &mut output)?;
                    Some(output)
                }
                None => {
                    binding.bind_output_to_device(&signature.output, &output_memory)?;
                    None
                }
            };
            let mut call = Call {
                halves,
                inputs,
                output,
                binding,
            };
            if !rebind_inputs {
                bind_inputs(&mut call, signature, job, &sample, &timestep)?;
            }
            calls.push(call);
        }
        Ok(BatchBuffers {
            size,
            sample,
            timestep,
            calls,
            rebind_inputs,
        })
    }
}

/// Binds a call's inputs: the sample, the timestep and the conditioning.
fn bind_inputs(
    call: &mut Call,
    signature: &Signature,
    job: &Job<'_>,
    sample: &Tensor<f32>,
    timestep: &TimestepTensor,
) -> Result<()> {
    call.binding.bind_input(&signature.sample_input, sample)?;
    timestep.bind(&mut call.binding, &signature.timestep_input)?;
    for (tensor, input) in call.inputs.iter().zip(&job.conditioning.inputs) {
        tensor.bind(&mut call.binding, &input.name)?;
    }
    Ok(())
}

/// The guided prediction of each sample of a batch: the first `guided_values` of each sample's
/// `per_output` values (the prediction's channels) combined by the core, the rest (a learned
/// variance's channels) the conditional call's, as diffusers' DeepFloyd IF pipeline keeps them.
fn guide_batch(
    guidance: &Guidance,
    guided_values: usize,
    per_output: usize,
    unconditional: &[f32],
    conditional: &[f32],
    guided: &mut [f32],
) -> Result<(), diffusion_core::Error> {
    for ((out, u), c) in guided
        .chunks_mut(per_output)
        .zip(unconditional.chunks(per_output))
        .zip(conditional.chunks(per_output))
    {
        guidance.combine(
            &u[..guided_values],
            &c[..guided_values],
            &mut out[..guided_values],
        )?;
        out[guided_values..].copy_from_slice(&c[guided_values..]);
    }
    Ok(())
}

/// Runs the job, handing each finished batch's samples (NCHW, in order) to `on_batch`, and
/// returns the timing. `on_call` is told after each step of a batch (one model call, or two with
/// guidance on a fixed-batch model) how many samples it finished (the batch's real ones at its
/// last step).
pub fn run(
    session: &mut Session,
    signature: &Signature,
    provider: Provider,
    job: &Job<'_>,
    mut on_batch: impl FnMut(&[f32]) -> Result<()>,
    mut on_call: impl FnMut(u64),
) -> Result<Timing> {
    let per_sample = job.geometry.elements();
    let total = job.samples.end - job.samples.start;
    let mut timing = Timing::default();
    let mut scratch = vec![0.0f32; per_sample];
    let mut buffers: Option<BatchBuffers> = None;
    let steps = job.plan.len();
    let timesteps = job.plan.timesteps();
    // A multistep solver's earlier outputs: history_len × batch × per_sample floats, made once per
    // batch size like the tensors; each batch starts a new trajectory, so a new history.
    let mut history_buffer: Vec<f32> = Vec::new();
    // Euler's x, when the model's input tensor holds c_in·x, or a doubled guided call's, whose
    // input holds x twice: made once per batch size too.
    let input_scales = job.plan.input_scales();
    let init_noise_sigma = job.plan.init_noise_sigma();
    let guidance = job.conditioning.guidance;
    let replicas = match (guidance.is_some(), job.doubled) {
        (true, true) => 2,
        _ => 1,
    };
    let own_x = input_scales.is_some() || replicas == 2;
    let mut own_samples: Vec<f32> = Vec::new();
    // With guidance: the unconditional call's output (two calls) and the guided prediction.
    let mut unconditional_output: Vec<f32> = Vec::new();
    let mut guided: Vec<f32> = Vec::new();
    // Only DDPM/DDIM's plan reads variance channels.
    let multistep = !matches!(job.plan, SamplingPlan::Plan(_));
    if let (true, Some(channels)) = (multistep, signature.output_channels)
        && channels != job.geometry.channels
    {
        let name = match job.plan {
            SamplingPlan::UniPc(_) => "UniPC",
            SamplingPlan::Euler(_) => "Euler",
            SamplingPlan::Heun(_) => "Heun",
            _ => "DPM-Solver",
        };
        bail!(
            "the model outputs {channels} channels for samples of {}: {name} takes a \
             prediction of the sample's channels only (a learned variance needs --scheduler ddpm)",
            job.geometry.channels
        );
    }
    let batches = total.div_ceil(job.batch as u64);
    for batch_number in 0..batches {
        let first = batch_number * job.batch as u64;
        let real = (total - first).min(job.batch as u64) as usize;
        let size = if job.pad_last_batch { job.batch } else { real };
        // Tensors are made once per batch size (all batches but a shorter last one share them).
        let buffers = match buffers.take() {
            Some(existing) if existing.size == size => buffers.insert(existing),
            _ => buffers.insert(BatchBuffers::new(session, signature, provider, job, size)?),
        };
        let values = size * per_sample;
        if history_buffer.len() != job.plan.history_len() * values {
            history_buffer = vec![0.0f32; job.plan.history_len() * values];
        }
        if own_x && own_samples.len() != values {
            own_samples = vec![0.0f32; values];
        }
        let mut stepper = match job.plan {
            SamplingPlan::Plan(plan) => Stepper::Plan(plan),
            SamplingPlan::DpmSolver(plan) => {
                Stepper::DpmSolver(plan, plan.history(&mut history_buffer, values)?)
            }
            SamplingPlan::UniPc(plan) => {
                Stepper::UniPc(plan, plan.history(&mut history_buffer, values)?)
            }
            SamplingPlan::Euler(plan) => Stepper::Euler(plan),
            SamplingPlan::Heun(plan) => {
                Stepper::Heun(plan, plan.history(&mut history_buffer, values)?)
            }
        };
        let start = job.samples.start + first;
        // The conditioning of these samples (padding samples get the last one's).
        for call in &mut buffers.calls {
            for (tensor, input) in call.inputs.iter_mut().zip(&job.conditioning.inputs) {
                tensor.fill(input, &call.halves, start..start + size as u64);
            }
        }
        let mut streams: Vec<InlinedStream> = (start..start + size as u64)
            .map(|i| InlinedStream(noise_stream(job.seed, i)))
            .collect();
        let (first, real_values) = (first as usize, real * per_sample);
        {
            let (_, tensor) = buffers.sample.extract_tensor_mut();
            let x = if own_x { &mut own_samples[..] } else { tensor };
            for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
                // Always drawn, so that step noise is the same with or without --init-noise.
                dispatch::fill_standard_normal(stream, sample);
            }
            if let Some(init) = job.init_noise {
                // Padding samples keep their drawn x_T: they are discarded.
                x[..real_values]
                    .copy_from_slice(&init[first * per_sample..first * per_sample + real_values]);
            }
            // x_T = init_noise_sigma·z, as diffusers' pipelines scale their latents.
            if init_noise_sigma != 1.0 {
                dispatch::scale(init_noise_sigma, x);
            }
        }
        let rows = size * replicas;
        let expected = [
            rows as i64,
            job.geometry.channels as i64,
            job.geometry.height as i64,
            job.geometry.width as i64,
        ];
        let doubled = [expected[0], 2 * expected[1], expected[2], expected[3]];
        let calls = buffers.calls.len();
        for (index, &timestep) in timesteps.iter().enumerate() {
            if own_x {
                // The model sees c_in·x (Euler) or x, once per half of a doubled call.
                let (_, input) = buffers.sample.extract_tensor_mut();
                for replica in input.chunks_mut(values) {
                    match &input_scales {
                        Some(scales) => dispatch::scale_into(scales[index], &own_samples, replica),
                        None => replica.copy_from_slice(&own_samples),
                    }
                }
            }
            buffers.timestep.set(timestep);
            let BatchBuffers {
                sample,
                timestep: timestep_tensor,
                calls: call_buffers,
                rebind_inputs,
                ..
            } = &mut *buffers;
            for (call_index, call) in call_buffers.iter_mut().enumerate() {
                if *rebind_inputs {
                    bind_inputs(call, signature, job, sample, timestep_tensor)?;
                }
                let started = Instant::now();
                let outputs = session.run_binding(&call.binding).map_err(|error| {
                    anyhow!(
                        "the model failed at step {}/{steps} (timestep {timestep}): {error}",
                        index + 1
                    )
                })?;
                let (shape, prediction) = match &call.output {
                    Some(output) => output.extract_tensor(),
                    None => outputs
                        .get(&signature.output)
                        .ok_or_else(|| {
                            anyhow!("the model produced no output {}", signature.output)
                        })?
                        .try_extract_tensor::<f32>()?,
                };
                let model_done = Instant::now();
                timing.model += model_done - started;
                timing.model_calls += 1;
                if shape[..] != expected && (multistep || shape[..] != doubled) {
                    let or_doubled = if multistep {
                        ""
                    } else {
                        " (or twice the channels)"
                    };
                    bail!(
                        "the model's output has shape {shape}, expected {expected:?}{or_doubled}"
                    );
                }
                if let Some(position) = first_non_finite(prediction) {
                    bail!(
                        "the model output {} at step {}/{steps} (timestep {timestep}), element {position}",
                        prediction[position],
                        index + 1
                    );
                }
                // With two calls, the first (unconditional) output waits for the second.
                if call_index + 1 < calls {
                    unconditional_output.clear();
                    unconditional_output.extend_from_slice(prediction);
                    timing.sampler += model_done.elapsed();
                    continue;
                }
                let prediction = match &guidance {
                    None => prediction,
                    Some(guidance) => {
                        let (unconditional, conditional) = match calls {
                            1 => prediction.split_at(prediction.len() / 2),
                            _ => (&unconditional_output[..], prediction),
                        };
                        guided.resize(conditional.len(), 0.0);
                        guide_batch(
                            guidance,
                            per_sample,
                            conditional.len() / size,
                            unconditional,
                            conditional,
                            &mut guided,
                        )
                        .map_err(|error| anyhow!("guidance at step {}: {error}", index + 1))?;
                        if let Some(position) = first_non_finite(&guided) {
                            bail!(
                                "the guided prediction is {} at step {}/{steps} (timestep {timestep}), \
                                 element {position} (a constant prediction has no standard deviation \
                                 to rescale)",
                                guided[position],
                                index + 1
                            );
                        }
                        &guided[..]
                    }
                };
                let (_, tensor) = sample.extract_tensor_mut();
                let x = if own_x { &mut own_samples[..] } else { tensor };
                match &mut stepper {
                    Stepper::Plan(plan) => dispatch::step_batch(
                        plan,
                        index,
                        size,
                        x,
                        prediction,
                        &mut streams,
                        &mut scratch,
                    ),
                    Stepper::DpmSolver(plan, history) => dispatch::dpm_solver_step_batch(
                        plan,
                        index,
                        size,
                        x,
                        prediction,
                        history,
                        &mut scratch,
                        &mut streams,
                    ),
                    Stepper::UniPc(plan, history) => dispatch::unipc_step_batch(
                        plan,
                        index,
                        size,
                        x,
                        prediction,
                        history,
                        &mut scratch,
                    ),
                    Stepper::Euler(plan) => {
                        dispatch::euler_step_batch(plan, index, size, x, prediction, &mut streams)
                    }
                    Stepper::Heun(plan, history) => {
                        dispatch::heun_step_batch(plan, index, size, x, prediction, history)
                    }
                }
                .map_err(|error| {
                    anyhow!("step {}/{steps} (timestep {timestep}): {error}", index + 1)
                })?;
                timing.sampler += model_done.elapsed();
            }
            let last_step = index + 1 == steps;
            on_call(if last_step { real as u64 } else { 0 });
            if !last_step || batch_number + 1 < batches {
                interrupt::check(|| {
                    format!(
                        "while sampling (step {}/{steps} of batch {}/{batches})",
                        index + 1,
                        batch_number + 1
                    )
                })?;
            }
        }
        let (_, tensor) = buffers.sample.extract_tensor();
        let x = if own_x { &own_samples[..] } else { tensor };
        on_batch(&x[..real_values])?;
        interrupt::batch_handed_to_outputs();
    }
    Ok(timing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffusion_core::{EulerConfig, ScheduleConfig, TimestepConfig, TimestepSpacing};

    /// A float model gets Euler's fractional timestep, an integer model the truncated one; the
    /// model sees c_in·x; x_T is scaled by σ_max; DDIM's timesteps are whole for both.
    #[test]
    fn euler_timesteps_input_scales_and_init_noise_sigma() {
        let timesteps = TimestepConfig {
            num_inference_steps: 25,
            spacing: TimestepSpacing::Linspace,
            steps_offset: 0,
        };
        let schedule = ScheduleConfig::default();
        let euler = EulerPlan::new(&schedule, &timesteps, &EulerConfig::default()).unwrap();
        let plan = SamplingPlan::Euler(euler.clone());
        let second = plan.timesteps()[1];
        assert_eq!(
            second,
            ModelTimestep {
                float: 957.375,
                integer: 957
            }
        );
        assert_eq!(second.to_string(), "957.375");
        assert_eq!(plan.timesteps()[0].to_string(), "999");
        assert!(
            plan.input_scales()
                .unwrap()
                .iter()
                .eq(euler.input_scales().collect::<Vec<_>>().iter())
        );
        assert_eq!(plan.init_noise_sigma(), euler.init_noise_sigma());
        assert!(plan.init_noise_sigma() > 100.0);
        let ddim = DdpmDdimPlan::new(&schedule, &timesteps, &Default::default()).unwrap();
        let plan = SamplingPlan::Plan(ddim);
        assert!(plan.input_scales().is_none());
        assert_eq!(plan.init_noise_sigma(), 1.0);
        assert!(
            plan.timesteps()
                .iter()
                .all(|t| t.float == t.integer as f32 && t.float.fract() == 0.0)
        );
    }
}
