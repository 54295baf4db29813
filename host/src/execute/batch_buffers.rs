//! The tensors and I/O bindings of one batch size: the model's sample input, its timestep in
//! the model's element type, and per model call of a step its extra inputs and its output.
//! Made once per batch size (all batches but a shorter last one share them); on a GPU x_t and
//! the prediction live in pinned host memory.

use anyhow::Result;
use diffusion_core::ModelTimestep;
use half::f16;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::Tensor;

use crate::bind::model_inputs::{Half, InputTensor};
use crate::bind::runtime::Provider;
use crate::bind::signature::{Signature, TimestepShape, TimestepType};
use crate::execute::job::Job;

/// The timestep tensor in the model's element type.
pub enum TimestepTensor {
    Int64(Tensor<i64>),
    Int32(Tensor<i32>),
    Float32(Tensor<f32>),
    Float16(Tensor<f16>),
}

impl TimestepTensor {
    pub fn new(kind: TimestepType, shape: TimestepShape, batch: usize) -> Result<Self> {
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

    pub fn set(&mut self, timestep: ModelTimestep) {
        match self {
            Self::Int64(t) => t.extract_tensor_mut().1.fill(timestep.integer()),
            // Timesteps are below 2^31 (T is at most MAX_TRAIN_TIMESTEPS).
            Self::Int32(t) => t.extract_tensor_mut().1.fill(timestep.integer() as i32),
            Self::Float32(t) => t.extract_tensor_mut().1.fill(timestep.float()),
            // Whole timesteps are exact up to 2048; others round as any float16 model sees them.
            Self::Float16(t) => t
                .extract_tensor_mut()
                .1
                .fill(f16::from_f32(timestep.float())),
        }
    }

    pub fn bind(&self, binding: &mut IoBinding, name: &str) -> ort::Result<()> {
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
pub struct Call {
    pub halves: Vec<Half>,
    pub inputs: Vec<InputTensor>,
    /// The prediction, preallocated and bound when the output's shape is static.
    pub output: Option<Tensor<f32>>,
    pub binding: IoBinding,
}

/// The tensors and bindings for one batch size.
pub struct BatchBuffers {
    pub size: usize,
    /// The model's sample input: the batch, twice over for a doubled guided call.
    pub sample: Tensor<f32>,
    pub timestep: TimestepTensor,
    /// One call per step; with guidance, one call of both halves (doubled) or one per half.
    pub calls: Vec<Call>,
    /// On a GPU, binding an input is what copies it to the device, so inputs are bound before
    /// every call; on the CPU the bound tensors are read in place and are bound once.
    pub rebind_inputs: bool,
}

impl BatchBuffers {
    pub fn new(
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
pub fn bind_inputs(
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
