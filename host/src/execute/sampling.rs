//! The sampling loop, one generic function for every sampler ([`Scheduler`]): per batch, x_T
//! from noise v1 (or a file) times the plan's `init_noise_sigma`; then per model call the model
//! sees `input_scale·x` (Euler's and Heun's c_in; x itself for the others) at the call's
//! timestep, and one in-place core step moves x with the batch's [`StepMemory`] (the multistep
//! history, one noise stream per sample, scratch). Tensors, bindings, the history and x's own
//! buffer are made once per batch size; the step loop allocates no sample-sized buffer. Every
//! check of the job against the model was made by [`crate::bind`]; what is left here are the
//! model's own failures (an error, a wrong output shape, a NaN).

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use diffusion_core::{Guidance, InlinedStream, ModelTimestep, Scheduler, StepMemory, noise_stream};
use ort::session::Session;

use crate::bind::runtime::Provider;
use crate::bind::signature::Signature;
use crate::execute::batch_buffers::{BatchBuffers, bind_inputs};
use crate::execute::dispatch;
use crate::execute::job::{Job, Timing};
use crate::finite::first_non_finite;
use crate::interrupt;
use crate::with_scheduler;

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
    on_batch: impl FnMut(&[f32]) -> Result<()>,
    on_call: impl FnMut(u64),
) -> Result<Timing> {
    let model = Model {
        session,
        signature,
        provider,
    };
    with_scheduler!(job.plan, plan => Sampler::new(plan, job)?.run(model, on_batch, on_call))
}

/// The session and what it expects.
struct Model<'a> {
    session: &'a mut Session,
    signature: &'a Signature,
    provider: Provider,
}

/// One run of `plan` over the job's batches, and the buffers it reuses.
struct Sampler<'a, S> {
    plan: &'a S,
    job: &'a Job<'a>,
    timing: Timing,
    timesteps: Vec<ModelTimestep>,
    /// c_in of each call, when the model sees a scaled x (Euler, Heun).
    input_scales: Option<Vec<f32>>,
    /// The model's sample input holds x twice (a doubled guided call) or c_in·x, so x lives in
    /// a buffer of its own.
    own_x: bool,
    /// Copies of x in the model's input: 2 for a doubled guided call.
    replicas: usize,
    own_samples: Vec<f32>,
    scratch: Vec<f32>,
    /// history_len × batch × per_sample floats; each batch starts a new trajectory.
    history_buffer: Vec<f32>,
    /// With guidance over two calls, the unconditional call's output.
    unconditional_output: Vec<f32>,
    /// With guidance, the guided prediction.
    guided: Vec<f32>,
}

impl<'a, S: Scheduler> Sampler<'a, S> {
    fn new(plan: &'a S, job: &'a Job<'a>) -> Result<Self> {
        let calls = plan.num_model_calls();
        let timesteps = (0..calls)
            .map(|call| plan.model_timestep(call))
            .collect::<Result<Vec<_>, _>>()?;
        let scales = (0..calls)
            .map(|call| plan.input_scale(call))
            .collect::<Result<Vec<_>, _>>()?;
        let input_scales = scales.iter().any(|&scale| scale != 1.0).then_some(scales);
        let replicas = match (job.conditioning.guidance.is_some(), job.doubled) {
            (true, true) => 2,
            _ => 1,
        };
        Ok(Sampler {
            plan,
            job,
            timing: Timing::default(),
            timesteps,
            own_x: input_scales.is_some() || replicas == 2,
            input_scales,
            replicas,
            own_samples: Vec::new(),
            scratch: vec![0.0f32; plan.scratch_len(job.geometry.elements())],
            history_buffer: Vec::new(),
            unconditional_output: Vec::new(),
            guided: Vec::new(),
        })
    }

    fn run(
        mut self,
        mut model: Model<'_>,
        mut on_batch: impl FnMut(&[f32]) -> Result<()>,
        mut on_call: impl FnMut(u64),
    ) -> Result<Timing> {
        let job = self.job;
        let per_sample = job.geometry.elements();
        let total = job.samples.end - job.samples.start;
        let batches = total.div_ceil(job.batch as u64);
        let mut buffers: Option<BatchBuffers> = None;
        for batch_number in 0..batches {
            let first = batch_number * job.batch as u64;
            let real = (total - first).min(job.batch as u64) as usize;
            let size = if job.pad_last_batch { job.batch } else { real };
            let buffers = match buffers.take() {
                Some(existing) if existing.size == size => buffers.insert(existing),
                _ => buffers.insert(BatchBuffers::new(
                    model.session,
                    model.signature,
                    model.provider,
                    job,
                    size,
                )?),
            };
            let start = job.samples.start + first;
            let mut streams = self.begin_batch(buffers, start, size, first as usize, real)?;
            let values = size * per_sample;
            let history_len = self.plan.history_len() * values;
            let mut history_buffer = std::mem::take(&mut self.history_buffer);
            history_buffer.resize(history_len, 0.0);
            let mut scratch = std::mem::take(&mut self.scratch);
            {
                let history = self.plan.history(&mut history_buffer, values)?;
                let mut memory = StepMemory::new(history, &mut streams, &mut scratch);
                for call in 0..self.timesteps.len() {
                    self.model_call(&mut model, buffers, call, size, &mut memory)?;
                    let last_call = call + 1 == self.timesteps.len();
                    on_call(if last_call { real as u64 } else { 0 });
                    if !last_call || batch_number + 1 < batches {
                        interrupt::check(|| {
                            format!(
                                "while sampling (step {}/{} of batch {}/{batches})",
                                call + 1,
                                self.timesteps.len(),
                                batch_number + 1
                            )
                        })?;
                    }
                }
            }
            self.history_buffer = history_buffer;
            self.scratch = scratch;
            let (_, tensor) = buffers.sample.extract_tensor();
            let x = if self.own_x {
                &self.own_samples[..]
            } else {
                tensor
            };
            on_batch(&x[..real * per_sample])?;
            interrupt::batch_handed_to_outputs();
        }
        Ok(self.timing)
    }

    /// A batch's conditioning, noise streams and x_T: samples `start..start + size` (the last
    /// `size − real` are padding, discarded after), `first` the batch's offset in the job.
    fn begin_batch(
        &mut self,
        buffers: &mut BatchBuffers,
        start: u64,
        size: usize,
        first: usize,
        real: usize,
    ) -> Result<Vec<InlinedStream>> {
        let job = self.job;
        let per_sample = job.geometry.elements();
        // The conditioning of these samples (padding samples get the last one's).
        for call in &mut buffers.calls {
            for (tensor, input) in call.inputs.iter_mut().zip(&job.conditioning.inputs) {
                tensor.fill(input, &call.halves, start..start + size as u64);
            }
        }
        let mut streams: Vec<InlinedStream> = (start..start + size as u64)
            .map(|i| InlinedStream(noise_stream(job.seed, i)))
            .collect();
        if self.own_x {
            self.own_samples.resize(size * per_sample, 0.0);
        }
        let (_, tensor) = buffers.sample.extract_tensor_mut();
        let x = if self.own_x {
            &mut self.own_samples[..]
        } else {
            tensor
        };
        for (sample, stream) in x.chunks_mut(per_sample).zip(&mut streams) {
            // Always drawn, so that step noise is the same with or without --init-noise.
            dispatch::fill_standard_normal(stream, sample);
        }
        if let Some(init) = job.init_noise {
            // Padding samples keep their drawn x_T: they are discarded.
            let real_values = real * per_sample;
            x[..real_values]
                .copy_from_slice(&init[first * per_sample..first * per_sample + real_values]);
        }
        // x_T = init_noise_sigma·z, as diffusers' pipelines scale their latents.
        let init_noise_sigma = self.plan.init_noise_sigma();
        if init_noise_sigma != 1.0 {
            dispatch::scale(init_noise_sigma, x);
        }
        Ok(streams)
    }

    /// Model call `call` of the batch (one session run, or two with guidance on a fixed-batch
    /// model) and the core's step on its prediction.
    fn model_call(
        &mut self,
        model: &mut Model<'_>,
        buffers: &mut BatchBuffers,
        call: usize,
        size: usize,
        memory: &mut StepMemory<'_, InlinedStream>,
    ) -> Result<()> {
        let job = self.job;
        let calls = self.timesteps.len();
        let timestep = self.timesteps[call];
        let values = size * job.geometry.elements();
        if self.own_x {
            // The model sees c_in·x (Euler, Heun) or x, once per half of a doubled call.
            let (_, input) = buffers.sample.extract_tensor_mut();
            for replica in input.chunks_mut(values) {
                match &self.input_scales {
                    Some(scales) => dispatch::scale_into(scales[call], &self.own_samples, replica),
                    None => replica.copy_from_slice(&self.own_samples),
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
        } = buffers;
        let session_runs = call_buffers.len();
        let signature = model.signature;
        for (run_index, run) in call_buffers.iter_mut().enumerate() {
            if *rebind_inputs {
                bind_inputs(run, signature, job, sample, timestep_tensor)?;
            }
            let started = Instant::now();
            let outputs = model.session.run_binding(&run.binding).map_err(|error| {
                anyhow!(
                    "the model failed at step {}/{calls} (timestep {timestep}): {error}",
                    call + 1
                )
            })?;
            let (shape, prediction) = match &run.output {
                Some(output) => output.extract_tensor(),
                None => outputs
                    .get(&signature.output)
                    .ok_or_else(|| anyhow!("the model produced no output {}", signature.output))?
                    .try_extract_tensor::<f32>()?,
            };
            let model_done = Instant::now();
            self.timing.model += model_done - started;
            self.timing.model_calls += 1;
            self.check_output(&shape[..], prediction, size, call)?;
            // With two runs, the first (unconditional) output waits for the second.
            if run_index + 1 < session_runs {
                self.unconditional_output.clear();
                self.unconditional_output.extend_from_slice(prediction);
                self.timing.sampler += model_done.elapsed();
                continue;
            }
            let prediction = match &job.conditioning.guidance {
                None => prediction,
                Some(guidance) => {
                    self.guide(guidance, prediction, session_runs, size, call)?;
                    &self.guided[..]
                }
            };
            let (_, tensor) = sample.extract_tensor_mut();
            let x = if self.own_x {
                &mut self.own_samples[..]
            } else {
                tensor
            };
            dispatch::step_batch(self.plan, call, size, x, prediction, memory).map_err(
                |error| anyhow!("step {}/{calls} (timestep {timestep}): {error}", call + 1),
            )?;
            self.timing.sampler += model_done.elapsed();
        }
        Ok(())
    }

    /// The model's output has the batch's shape (twice the channels where the plan reads a
    /// learned variance) and is finite.
    fn check_output(
        &self,
        shape: &[i64],
        prediction: &[f32],
        size: usize,
        call: usize,
    ) -> Result<()> {
        let geometry = self.job.geometry;
        let expected = [
            (size * self.replicas) as i64,
            geometry.channels as i64,
            geometry.height as i64,
            geometry.width as i64,
        ];
        let doubled = [expected[0], 2 * expected[1], expected[2], expected[3]];
        let reads_variance = self.job.plan.reads_variance_channels();
        if shape != expected && (!reads_variance || shape != doubled) {
            let or_doubled = if reads_variance {
                " (or twice the channels)"
            } else {
                ""
            };
            bail!("the model's output has shape {shape:?}, expected {expected:?}{or_doubled}");
        }
        if let Some(position) = first_non_finite(prediction) {
            bail!(
                "the model output {} at step {}/{} (timestep {}), element {position}",
                prediction[position],
                call + 1,
                self.timesteps.len(),
                self.timesteps[call]
            );
        }
        Ok(())
    }

    /// The guided prediction into `self.guided`, from one doubled output or the two runs'.
    fn guide(
        &mut self,
        guidance: &Guidance,
        prediction: &[f32],
        session_runs: usize,
        size: usize,
        call: usize,
    ) -> Result<()> {
        let (unconditional, conditional) = match session_runs {
            1 => prediction.split_at(prediction.len() / 2),
            _ => (&self.unconditional_output[..], prediction),
        };
        self.guided.resize(conditional.len(), 0.0);
        guide_batch(
            guidance,
            self.job.geometry.elements(),
            conditional.len() / size,
            unconditional,
            conditional,
            &mut self.guided,
        )
        .map_err(|error| anyhow!("guidance at step {}: {error}", call + 1))?;
        if let Some(position) = first_non_finite(&self.guided) {
            bail!(
                "the guided prediction is {} at step {}/{} (timestep {}), element {position} (a \
                 constant prediction has no standard deviation to rescale)",
                self.guided[position],
                call + 1,
                self.timesteps.len(),
                self.timesteps[call]
            );
        }
        Ok(())
    }
}
