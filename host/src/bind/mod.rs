//! *Bind*: open the sessions, read their signatures and check every shape, channel, input and
//! batch rule against the job, before any output exists. What it returns is everything the loop
//! needs; the loop itself checks nothing that could have been checked here.

pub mod guidance;
pub mod model_inputs;
pub mod runtime;
pub mod sample_shape;
pub mod signature;
pub mod unet_config;
pub mod vae;

use anyhow::{Result, bail};

use crate::geometry::Geometry;
use crate::interrupt;
use crate::resolve::Job;
use crate::resolve::scheduler::SchedulerSettings;
use guidance::Conditioning;
use runtime::OpenSession;
use signature::Signature;

/// Default batch when the model's is dynamic.
const DEFAULT_BATCH: u64 = 16;

/// The job bound to its models.
pub struct Bound {
    /// The U-Net's session and provider.
    pub unet: OpenSession,
    /// What the U-Net expects.
    pub signature: Signature,
    /// One sample's shape (the U-Net's).
    pub geometry: Geometry,
    /// The VAE decoder, for a latent model.
    pub decoder: Option<vae::Decoder>,
    /// The shape of what is written: the samples, or the decoded images.
    pub written_geometry: Geometry,
    /// Samples per model call.
    pub batch: usize,
    /// The extra inputs' values and the guidance.
    pub conditioning: Conditioning,
    /// A guided step's halves in one call of twice the batch.
    pub doubled: bool,
    /// A short last batch is padded to the batch (a fixed-batch model, or a provider that
    /// prefers one shape).
    pub pad_last_batch: bool,
}

/// Opens the models of `job` and checks the job against them.
pub fn bind(job: &Job<'_>) -> Result<Bound> {
    let flags = job.flags;
    let library = runtime::locate_library(flags.ort_library.as_deref())?;
    let environment = runtime::init(&library)?;
    let options = runtime::SessionOptions {
        threads: flags.threads,
        device_id: job.device_id,
        trt_cache: flags.trt_cache.clone(),
        trt_fp16: flags.trt_fp16,
    };
    let unet = runtime::open(&environment, &job.model, flags.ep, &options, &library)?;
    if let Some(note) = unet.note() {
        eprintln!("note: {note}");
    }
    interrupt::check(|| "while loading the model".into())?;
    let signature = signature::read(&unet.session)?;
    // A sample with a dynamic C, H or W (as diffusers' and optimum's exporters write U-Nets)
    // takes what the flags leave open from the U-Net's diffusers config beside it.
    let unet_config = match signature.sample_dims[1..].contains(&None) {
        true => unet_config::read_beside(&job.model)?,
        false => None,
    };
    let geometry = sample_shape::geometry(
        &signature,
        flags.sample_size,
        flags.sample_channels.map(|c| c as usize),
        job.init_noise.as_ref(),
        unet_config.as_ref(),
        job.decoder.as_ref().and_then(|spec| spec.latent_channels),
    )?;
    let decoder = match &job.decoder {
        Some(spec) => {
            let decoder = runtime::open(&environment, &spec.path, flags.ep, &options, &library)?;
            Some(vae::Decoder::new(decoder.session, spec.clone(), geometry)?)
        }
        None => None,
    };
    let written_geometry = decoder.as_ref().map_or(geometry, |d| d.image_geometry());
    job.outputs.check_channels(written_geometry.channels)?;
    check_variance_channels(&job.scheduler, &signature, geometry)?;
    check_prediction_channels(job, &signature, geometry)?;
    let batch = batch_size(&signature, flags.batch, job.samples.end - job.samples.start)?;
    let conditioning = guidance::resolve(flags, &signature, &job.model, job.num_samples)?;
    let doubled = guided_batch_is_doubled(&signature, batch)?;
    if let Some(noise) = &job.init_noise {
        noise.check(
            job.num_samples,
            geometry.channels,
            geometry.height,
            geometry.width,
        )?;
    }
    let pad_last_batch = signature.sample_dims[0].is_some() || unet.provider.prefers_one_shape();
    Ok(Bound {
        unet,
        signature,
        geometry,
        decoder,
        written_geometry,
        batch,
        conditioning,
        doubled,
        pad_last_batch,
    })
}

/// A model that outputs more channels than the sample has must be read by a plan that takes
/// variance channels (DDPM/DDIM's).
fn check_prediction_channels(
    job: &Job<'_>,
    signature: &Signature,
    geometry: Geometry,
) -> Result<()> {
    if let Some(channels) = signature.output_channels
        && channels != geometry.channels
        && !job.plan.reads_variance_channels()
    {
        bail!(
            "the model outputs {channels} channels for samples of {}: {} takes a prediction of \
             the sample's channels only (a learned variance needs --scheduler ddpm)",
            geometry.channels,
            job.scheduler.scheduler.display_name()
        );
    }
    Ok(())
}

/// The batch: the model's fixed one, or `--batch`, or min(samples, 16).
fn batch_size(signature: &Signature, requested: Option<usize>, samples: u64) -> Result<usize> {
    match (signature.sample_dims[0], requested) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            bail!("--batch {asked} contradicts the model's fixed batch size {fixed}")
        }
        (Some(fixed), _) => Ok(fixed),
        (None, Some(asked)) => Ok(asked),
        (None, None) => Ok(samples.min(DEFAULT_BATCH) as usize),
    }
}

/// Whether a guided step's two halves go through one model call of twice the batch: when every
/// batched input of the model (the sample, a `[B]` timestep, the conditioning) has a dynamic
/// batch. Otherwise each half is a call of its own. A conditioning input with a fixed batch must
/// have the sample's.
fn guided_batch_is_doubled(signature: &Signature, batch: usize) -> Result<bool> {
    let mut dynamic = signature.sample_dims[0].is_none();
    for input in &signature.extra_inputs {
        match input.dims.first().copied().flatten() {
            None => {}
            Some(fixed) if fixed == batch => dynamic = false,
            Some(fixed) => bail!(
                "the model's input {} has a fixed batch of {fixed}, but samples go through it {batch} at a time",
                input.description
            ),
        }
    }
    Ok(dynamic)
}

/// `learned` and `learned_range` need the model to output variance channels.
fn check_variance_channels(
    resolved: &SchedulerSettings,
    signature: &Signature,
    geometry: Geometry,
) -> Result<()> {
    use diffusion_core::VarianceType;
    if let Some(variance_type) = resolved.learns_variance()
        && signature.output_channels == Some(geometry.channels)
    {
        let name = match variance_type {
            VarianceType::Learned => "learned",
            _ => "learned_range",
        };
        bail!(
            "variance_type {name} needs a model that outputs 2x{} channels; this one outputs {}",
            geometry.channels,
            geometry.channels
        );
    }
    Ok(())
}
