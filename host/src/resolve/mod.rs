//! *Resolve*: the parsed flags and the files they name → one [`Job`]. Pure: no ONNX Runtime
//! call and nothing written; every refusal that needs no model is made here, before the model
//! loads. The parsed flags are never changed: a pipeline folder's parts become the job's paths.

pub mod decoder;
pub mod init_noise;
pub mod key_lookup;
pub mod outputs;
pub mod pipeline_folder;
pub mod sampler_plan;
pub mod scheduler;

use std::ops::Range;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::cli::Cli;
use crate::cli::shard::Shard;
use decoder::DecoderSpec;
use init_noise::InitNoise;
use outputs::OutputTargets;
use sampler_plan::SamplingPlan;
use scheduler::SchedulerSettings;

/// What to run, from the flags and files alone.
pub struct Job<'a> {
    /// The parsed flags, as given.
    pub flags: &'a Cli,
    /// The U-Net's ONNX file (`--onnx`, or `unet/model.onnx` of a pipeline folder).
    pub model: PathBuf,
    /// The scheduler, every key resolved.
    pub scheduler: SchedulerSettings,
    /// Its realized plan.
    pub plan: Box<SamplingPlan>,
    /// The VAE decoder of a latent model.
    pub decoder: Option<DecoderSpec>,
    /// x_T from `--init-noise`, header checked.
    pub init_noise: Option<InitNoise>,
    /// Samples of the whole job (all shards).
    pub num_samples: u64,
    /// The global indices this process computes (its shard).
    pub samples: Range<u64>,
    /// The GPU index for CUDA and TensorRT.
    pub device_id: i32,
    /// Where the samples go.
    pub outputs: OutputTargets,
}

/// Resolves `flags` (and the files they name) into a job.
pub fn resolve(flags: &Cli) -> Result<Job<'_>> {
    let folder = match flags.onnx.is_dir() {
        true => Some(pipeline_folder::read(
            &flags.onnx,
            flags.vae_decoder.is_none(),
            flags.scheduler_config.is_none(),
        )?),
        false => None,
    };
    let model = folder
        .as_ref()
        .map_or_else(|| flags.onnx.clone(), |folder| folder.unet.clone());
    let file = std::fs::File::open(&model)
        .with_context(|| format!("cannot read model {}", model.display()))?;
    if !file.metadata()?.is_file() {
        bail!("cannot read model {}: not a file", model.display());
    }
    let scheduler_config = flags
        .scheduler_config
        .clone()
        .or_else(|| folder.as_ref().and_then(|f| f.scheduler_config.clone()));
    let config = scheduler::config_path(scheduler_config.as_deref(), &model);
    let scheduler = scheduler::resolve(
        flags.scheduler,
        flags.steps,
        &flags.scheduler_keys,
        config.as_deref(),
    )?;
    let decoder_path = flags
        .vae_decoder
        .clone()
        .or_else(|| folder.as_ref().and_then(|f| f.vae_decoder.clone()));
    let decoder = decoder::resolve(flags, decoder_path.as_deref())?;
    let plan = scheduler.plan()?;
    if !(flags.progress_interval.is_finite() && flags.progress_interval >= 0.0) {
        bail!("--progress-interval must be a number of seconds >= 0");
    }
    let init_noise = flags
        .init_noise
        .as_deref()
        .map(InitNoise::read)
        .transpose()?;
    let num_samples = match (flags.num_samples, &init_noise) {
        (Some(n), _) => n,
        (None, Some(noise)) => noise.shape()[0] as u64,
        (None, None) => 1,
    };
    if num_samples == 0 {
        bail!("--init-noise holds no samples");
    }
    let variable = |name: &str| std::env::var(name).ok();
    let shard = match flags.shard {
        Some(spec) => spec.resolve(variable).map_err(anyhow::Error::msg)?,
        None => Shard::ALL,
    };
    let device_id = flags
        .device_id
        .resolve(variable)
        .map_err(anyhow::Error::msg)?;
    let samples = shard.samples(num_samples);
    if samples.is_empty() {
        bail!(
            "--shard {}/{} of {num_samples} samples holds no samples",
            shard.index,
            shard.count,
        );
    }
    let outputs = OutputTargets::resolve(flags)?;
    Ok(Job {
        flags,
        model,
        scheduler,
        plan,
        decoder,
        init_noise,
        num_samples,
        samples,
        device_id,
        outputs,
    })
}
