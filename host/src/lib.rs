//! The `host` program: sample a diffusers-style ONNX U-Net through ONNX Runtime with
//! `diffusion-core`. `main` maps [`run`] of the parsed flags to an exit code.

pub mod bind;
pub mod cli;
pub mod digest;
pub mod execute;
pub mod finish;
pub mod geometry;
pub mod merge;
pub mod resolve;
pub mod scheduler;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use bind::{guidance, runtime, signature, unet_config, vae};
use cli::shard;
use cli::{Cli, SampleSize};
use execute::{dispatch, interrupt, progress, sampling};
use finish::{manifest, output, summary};
use geometry::Geometry;
use init_noise::InitNoise;
use manifest::{JobIdentity, Manifest};
use output::Outputs;
use progress::Progress;
use resolve::{init_noise, pipeline_folder};
use sampling::Job;
use shard::Shard;
use signature::Signature;
use unet_config::UnetConfig;

/// Default batch when the model's is dynamic.
const DEFAULT_BATCH: u64 = 16;

/// The whole run: check every input and output, load, sample, write, report.
pub fn run(mut cli: Cli) -> Result<()> {
    let started = Instant::now();
    interrupt::install()?;
    pipeline_folder::apply(&mut cli)?;
    // Everything that needs no model first, so bad flags and files fail fast.
    let model = std::fs::File::open(&cli.onnx)
        .with_context(|| format!("cannot read model {}", cli.onnx.display()))?;
    if !model.metadata()?.is_file() {
        bail!("cannot read model {}: not a file", cli.onnx.display());
    }
    let config = resolve::scheduler::config_path(cli.scheduler_config.as_deref(), &cli.onnx);
    let resolved = resolve::scheduler::resolve(
        cli.scheduler,
        cli.steps,
        &cli.scheduler_keys,
        config.as_deref(),
    )?;
    let decoder_spec = vae::resolve(&cli)?;
    let plan = resolved.plan()?;
    if !(cli.progress_interval.is_finite() && cli.progress_interval >= 0.0) {
        bail!("--progress-interval must be a number of seconds >= 0");
    }
    let init_noise = cli.init_noise.as_deref().map(InitNoise::read).transpose()?;
    let num_samples = match (cli.num_samples, &init_noise) {
        (Some(n), _) => n,
        (None, Some(noise)) => noise.shape()[0] as u64,
        (None, None) => 1,
    };
    if num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    let variable = |name: &str| std::env::var(name).ok();
    let shard = match cli.shard {
        Some(spec) => spec.resolve(variable).map_err(anyhow::Error::msg)?,
        None => Shard::ALL,
    };
    let device_id = cli
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
    if cli.batch == Some(0) {
        bail!("--batch must be at least 1");
    }
    // samples.png when no output is named (--resume instead asks for a place for its progress).
    let no_output_named = cli.out.is_none() && cli.out_dir.is_none() && cli.save_npy.is_none();
    let default_grid =
        (no_output_named && !cli.resume).then(|| Path::new("samples.png").to_path_buf());
    let grid_path = cli.out.clone().or(default_grid);
    let outputs = Outputs::prepare(
        grid_path.as_deref(),
        cli.out_dir.as_deref(),
        cli.save_npy.as_deref(),
        samples.clone(),
        cli.resume,
    )?
    .with_latents(cli.save_latents.as_deref())?;

    let library = runtime::locate_library(cli.ort_library.as_deref())?;
    let environment = runtime::init(&library)?;
    let options = runtime::SessionOptions {
        threads: cli.threads,
        device_id,
        trt_cache: cli.trt_cache.clone(),
        trt_fp16: cli.trt_fp16,
    };
    let mut open = runtime::open(&environment, &cli.onnx, cli.ep, &options, &library)?;
    if let Some(note) = open.note() {
        eprintln!("note: {note}");
    }
    interrupt::check(|| "while loading the model".into())?;
    let signature = signature::read(&open.session)?;
    // A sample with a dynamic C, H or W (as diffusers' and optimum's exporters write U-Nets)
    // takes what the flags leave open from the U-Net's diffusers config beside it.
    let unet_config = match signature.sample_dims[1..].contains(&None) {
        true => unet_config::read_beside(&cli.onnx)?,
        false => None,
    };
    let geometry = geometry(
        &signature,
        cli.sample_size,
        cli.sample_channels.map(|c| c as usize),
        init_noise.as_ref(),
        unet_config.as_ref(),
        decoder_spec.as_ref().and_then(|spec| spec.latent_channels),
    )?;
    let mut decoder = match decoder_spec {
        Some(spec) => {
            let decoder = runtime::open(&environment, &spec.path, cli.ep, &options, &library)?;
            Some(vae::Decoder::new(decoder.session, spec, geometry)?)
        }
        None => None,
    };
    // What is written: the samples, or a latent model's decoded images.
    let written_geometry = decoder.as_ref().map_or(geometry, |d| d.image_geometry());
    outputs.check_channels(written_geometry.channels)?;
    check_variance_channels(&resolved, &signature, geometry)?;
    if let Some(channels) = signature.output_channels
        && channels != geometry.channels
        && !plan.reads_variance_channels()
    {
        bail!(
            "the model outputs {channels} channels for samples of {}: {} takes a prediction of \
             the sample's channels only (a learned variance needs --scheduler ddpm)",
            geometry.channels,
            resolved.scheduler.display_name()
        );
    }
    let batch = batch_size(&signature, cli.batch, samples.end - samples.start)?;
    let conditioning = guidance::resolve(&cli, &signature, &cli.onnx, num_samples)?;
    let doubled = guided_batch_is_doubled(&signature, batch)?;
    if let Some(noise) = &init_noise {
        noise.check(
            num_samples,
            geometry.channels,
            geometry.height,
            geometry.width,
        )?;
    }
    // What the manifests say the samples are (hashing the model only when one is written).
    let identity = match outputs.wants_manifest() {
        true => Some(JobIdentity {
            model_sha256: crate::digest::sha256_file(&cli.onnx)?,
            scheduler: resolved.manifest_fields(),
            conditioning: conditioning.identity_fields(),
            total_samples: num_samples,
            seed: cli.seed,
            noise: "v1".into(),
            sample_shape: [
                written_geometry.channels,
                written_geometry.height,
                written_geometry.width,
            ],
            init_noise_sha256: cli
                .init_noise
                .as_deref()
                .map(crate::digest::sha256_file)
                .transpose()?,
            vae_decoder: match (&decoder, &cli.vae_decoder) {
                (Some(decoder), Some(path)) => {
                    Some(decoder.identity(crate::digest::sha256_file(path)?))
                }
                _ => None,
            },
        }),
        false => None,
    };
    let mut stream = outputs.begin(
        written_geometry,
        samples.clone(),
        cli.png_scale,
        identity.as_ref(),
    )?;
    stream.begin_latents(geometry)?;
    // With --resume, what is left after the last committed batch.
    let remaining = samples.start + stream.done()..samples.end;
    if stream.done() > 0 {
        eprintln!(
            "resuming: samples {}..{} are done, {} to go",
            samples.start,
            remaining.start,
            remaining.end - remaining.start
        );
    }
    let init_values = init_noise.map(|noise| noise.samples(remaining.clone()));
    let job = Job {
        plan: &plan,
        seed: cli.seed,
        samples: remaining.clone(),
        batch,
        pad_last_batch: signature.sample_dims[0].is_some()
            || open.provider == runtime::Provider::TensorRt,
        init_noise: init_values.as_deref(),
        geometry,
        conditioning: &conditioning,
        doubled,
    };
    let sample_count = remaining.end - remaining.start;
    let calls_per_step = conditioning.calls_per_step(doubled);
    let model_calls = sample_count
        .div_ceil(batch as u64)
        .saturating_mul(plan.num_model_calls() as u64)
        .saturating_mul(calls_per_step);
    let mut progress = Progress::new(
        model_calls,
        sample_count,
        Duration::from_secs_f64(cli.progress_interval),
    );
    let sampling_started = Instant::now();
    let sampled = sampling::run(
        &mut open.session,
        &signature,
        open.provider,
        &job,
        |values| match &mut decoder {
            Some(decoder) => {
                stream.accept_latents(values)?;
                stream.accept(decoder.decode(values)?)
            }
            None => stream.accept(values),
        },
        |done| progress.step_done(calls_per_step, done),
    );
    progress.finish();
    let timing = sampled?;
    let sampling_time = sampling_started.elapsed();
    let manifest = match &identity {
        Some(job) => Some(Manifest::new(
            job,
            [samples.start, samples.end],
            open.provider.name(),
            &cli.onnx,
        )),
        None => None,
    };
    let mut written = stream.finish(manifest.as_ref())?;
    if let Some(decoder) = &decoder {
        written.insert(0, decoder.describe());
    }

    let report = summary::Summary {
        provider: open.provider,
        instruction_set: dispatch::instruction_set(),
        scheduler: match &conditioning.guidance {
            Some(guidance) => format!(
                "{}, guidance scale {} rescale {} ({} per step)",
                resolved.sampler_name(),
                guidance.scale(),
                guidance.rescale(),
                match doubled {
                    true => "one call of twice the batch",
                    false => "two calls",
                }
            ),
            None if conditioning.unconditional_only => format!(
                "{}, guidance scale 0 (the unconditional inputs, one call per step)",
                resolved.sampler_name()
            ),
            None => resolved.sampler_name(),
        },
        steps: plan.num_inference_steps(),
        calls_per_sample: plan.num_model_calls() * calls_per_step as usize,
        seed: cli.seed,
        samples: samples.clone(),
        total_samples: num_samples,
        batch,
        geometry,
        timing,
        sampling_time,
        total_time: started.elapsed(),
        written,
    };
    print!("{report}");
    Ok(())
}

/// The sample's C, H, W: the model's where fixed; where dynamic, from `--init-noise` (C, H, W)
/// or `--sample-size` (H, W), else from the U-Net's diffusers config (`in_channels`,
/// `sample_size`; see [`unet_config`]), else C from the VAE decoder's config (`latent_channels`).
/// Flags and `--init-noise` win over the config's `sample_size` (a default, not a property of the
/// weights); contradictions of a fixed side or of `in_channels` are errors.
fn geometry(
    signature: &Signature,
    sample_size: Option<SampleSize>,
    sample_channels: Option<usize>,
    init_noise: Option<&InitNoise>,
    unet_config: Option<&UnetConfig>,
    latent_channels: Option<usize>,
) -> Result<Geometry> {
    let [_, model_channels, model_height, model_width] = signature.sample_dims;
    let from_file = init_noise.map(|noise| {
        let [_, c, h, w] = noise.shape();
        (c, h, w)
    });
    let config_shown = unet_config.map(|config| config.path.display().to_string());
    let in_channels = unet_config.and_then(|config| config.in_channels);
    let from_file_channels = from_file.map(|(c, _, _)| c).filter(|&c| c > 0);
    let (channels, channels_source) = match (model_channels, from_file_channels, sample_channels) {
        (Some(c), _, Some(asked)) if asked != c => {
            bail!("--sample-channels {asked} contradicts the model's fixed channel count {c}")
        }
        (Some(c), _, _) => (c, "the model's sample input has"),
        (None, Some(c), Some(asked)) if asked != c => {
            bail!(
                "--sample-channels {asked} contradicts --init-noise's x_T, which has {c} channels"
            )
        }
        (None, Some(c), _) => (c, "--init-noise's x_T has"),
        (None, None, Some(asked)) => (asked, "--sample-channels gives"),
        (None, None, None) => match (in_channels, latent_channels) {
            (Some(c), _) => (c, "its config gives"),
            (None, Some(c)) => (c, "the VAE decoder's config gives"),
            (None, None) => bail!(
                "the model's sample input {} has a dynamic channel count: pass --sample-channels C \
                 (Stable Diffusion 1.x/2.x/XL U-Nets take 4), or give x_T with --init-noise (its \
                 shape [N, C, H, W] sets C), or put the U-Net's diffusers config.json \
                 (in_channels) beside it, or use a --vae-decoder whose config.json gives \
                 latent_channels",
                signature.sample_input
            ),
        },
    };
    if let (Some(configured), Some(shown)) = (in_channels, &config_shown)
        && configured != channels
    {
        bail!("{shown} says in_channels {configured}, but {channels_source} {channels} channels");
    }
    let (height, width, size_source) = match ((model_height, model_width), sample_size) {
        ((Some(h), Some(w)), None) => (h, w, "the model"),
        ((Some(h), Some(w)), Some(size)) if (h, w) == (size.height, size.width) => {
            (h, w, "the model")
        }
        ((Some(h), Some(w)), Some(size)) => bail!(
            "--sample-size {},{} contradicts the model's fixed spatial size {h}x{w}",
            size.height,
            size.width
        ),
        (_, Some(size)) => (size.height, size.width, "--sample-size"),
        (_, None) => match (from_file, unet_config.and_then(|c| c.sample_size)) {
            (Some((_, h, w)), _) if h > 0 && w > 0 => (h, w, "--init-noise"),
            // The config's size is a default: it fills only the sides the model leaves open.
            (_, Some((h, w))) => (
                model_height.unwrap_or(h),
                model_width.unwrap_or(w),
                "config",
            ),
            _ => bail!(
                "the model's spatial size is dynamic: pass --sample-size H[,W] (or give x_T \
                 with --init-noise, or put the U-Net's diffusers config.json, with \
                 sample_size, beside it)"
            ),
        },
    };
    let size_source = match (size_source, &config_shown) {
        ("config", Some(shown)) => format!("{shown} (sample_size)"),
        (source, _) => source.to_string(),
    };
    for (fixed, side, name) in [
        (model_height, height, "height"),
        (model_width, width, "width"),
    ] {
        if let Some(fixed) = fixed
            && fixed != side
        {
            bail!("{size_source} gives a {name} of {side}, but the model's is fixed at {fixed}");
        }
    }
    let geometry = Geometry {
        channels,
        height,
        width,
    };
    match geometry
        .channels
        .checked_mul(height)
        .and_then(|n| n.checked_mul(width))
    {
        Some(0) => bail!("samples of {channels}x{height}x{width} hold no values"),
        Some(n) if n <= (1 << 31) => {}
        _ => bail!("samples of {channels}x{height}x{width} values are too large"),
    }
    Ok(geometry)
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
    resolved: &resolve::scheduler::SchedulerSettings,
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
