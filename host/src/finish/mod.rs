//! *Finish*: the outputs (streamed per batch into temporaries, committed at the end, manifests
//! last) and the summary.

pub mod manifest;
pub mod output;
pub mod picture;
pub mod resume;
pub mod summary;

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::bind::Bound;
use crate::digest::sha256_file;
use crate::execute::dispatch;
use crate::execute::job::Timing;
use crate::resolve::Job;
use manifest::{DecoderIdentity, JobIdentity, Manifest};
use output::{Outputs, Stream};

/// What the manifests say the samples are, when an output carries one (hashing the model only
/// then).
pub fn identity(job: &Job<'_>, bound: &Bound) -> Result<Option<JobIdentity>> {
    if !job.outputs.wants_manifest() {
        return Ok(None);
    }
    let written = bound.written_geometry;
    Ok(Some(JobIdentity {
        model_sha256: sha256_file(&job.model)?,
        scheduler: job.scheduler.manifest_fields(),
        conditioning: bound.conditioning.identity_fields(),
        total_samples: job.num_samples,
        seed: job.flags.seed,
        noise: "v1".into(),
        sample_shape: [written.channels, written.height, written.width],
        init_noise_sha256: job
            .flags
            .init_noise
            .as_deref()
            .map(sha256_file)
            .transpose()?,
        vae_decoder: match &bound.decoder {
            Some(decoder) => Some(DecoderIdentity {
                sha256: sha256_file(&decoder.spec().path)?,
                scaling_factor: decoder.spec().scaling_factor,
                shift_factor: decoder.spec().shift_factor,
            }),
            None => None,
        },
    }))
}

/// Creates the outputs' temporaries (after the model is bound: a refused run writes nothing)
/// and starts the stream; with `--resume`, the stream continues after the last committed batch.
pub fn open_outputs(
    job: &Job<'_>,
    bound: &Bound,
    identity: Option<&JobIdentity>,
) -> Result<Stream> {
    let targets = &job.outputs;
    let outputs = Outputs::prepare(
        targets.grid.as_ref().map(|(path, _)| path.as_path()),
        targets.out_dir.as_deref(),
        targets.npy.as_deref(),
        job.samples.clone(),
        targets.resume,
    )?
    .with_latents(targets.latents.as_deref())?;
    let mut stream = outputs.begin(
        bound.written_geometry,
        job.samples.clone(),
        job.flags.png_scale,
        identity,
    )?;
    stream.begin_latents(bound.geometry)?;
    Ok(stream)
}

/// How the sampling went, for the summary.
pub struct Sampled {
    /// Model and sampler time.
    pub timing: Timing,
    /// Wall time of the loop.
    pub sampling_time: Duration,
    /// When the run started.
    pub started: Instant,
}

/// Commits the outputs (manifests last) and prints the summary.
pub fn commit(
    job: &Job<'_>,
    bound: &Bound,
    stream: Stream,
    identity: Option<&JobIdentity>,
    sampled: Sampled,
) -> Result<()> {
    let samples = &job.samples;
    let manifest = identity.map(|job_identity| {
        Manifest::new(
            job_identity,
            [samples.start, samples.end],
            bound.unet.provider.name(),
            &job.model,
        )
    });
    let mut written = stream.finish(manifest.as_ref())?;
    if let Some(decoder) = &bound.decoder {
        written.insert(0, decoder.describe());
    }
    let calls_per_step = bound.conditioning.calls_per_step(bound.doubled);
    let report = summary::Summary {
        provider: bound.unet.provider,
        instruction_set: dispatch::instruction_set(),
        scheduler: scheduler_description(job, bound),
        steps: job.plan.num_inference_steps(),
        calls_per_sample: job.plan.num_model_calls() * calls_per_step as usize,
        seed: job.flags.seed,
        samples: samples.clone(),
        total_samples: job.num_samples,
        batch: bound.batch,
        geometry: bound.geometry,
        timing: sampled.timing,
        sampling_time: sampled.sampling_time,
        total_time: sampled.started.elapsed(),
        written,
    };
    print!("{report}");
    Ok(())
}

/// The sampler's name, with the guidance when there is one.
fn scheduler_description(job: &Job<'_>, bound: &Bound) -> String {
    let name = job.scheduler.sampler_name();
    match &bound.conditioning.guidance {
        Some(guidance) => format!(
            "{name}, guidance scale {} rescale {} ({} per step)",
            guidance.scale(),
            guidance.rescale(),
            match bound.doubled {
                true => "one call of twice the batch",
                false => "two calls",
            }
        ),
        None if bound.conditioning.unconditional_only => {
            format!("{name}, guidance scale 0 (the unconditional inputs, one call per step)")
        }
        None => name,
    }
}
