//! The `host` program: sample a diffusers-style ONNX U-Net through ONNX Runtime with
//! `diffusion-core`. `main` maps [`run`] of the parsed flags to an exit code.

pub mod cli;
pub mod config;
pub mod dispatch;
pub mod finite;
pub mod output;
pub mod runtime;
pub mod sampling;
pub mod shard;
pub mod signature;
pub mod summary;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use cli::Cli;
use output::Outputs;
use sampling::{Geometry, Job};
use shard::Shard;
use signature::Signature;

/// Default batch when the model's is dynamic.
const DEFAULT_BATCH: u64 = 16;

/// The whole run: validate, load, sample, write, report.
pub fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    // Everything that needs no model first, so bad flags fail fast.
    let model = std::fs::File::open(&cli.onnx)
        .with_context(|| format!("cannot read model {}", cli.onnx.display()))?;
    if !model.metadata()?.is_file() {
        bail!("cannot read model {}: not a file", cli.onnx.display());
    }
    let resolved = config::resolve(&cli)?;
    let plan = resolved.plan()?;
    if cli.num_samples == 0 {
        bail!("--num-samples must be at least 1");
    }
    let shard = cli.shard.unwrap_or(Shard::ALL);
    let samples = shard.samples(cli.num_samples);
    if samples.is_empty() {
        bail!(
            "--shard {}/{} of {} samples holds no samples",
            shard.index,
            shard.count,
            cli.num_samples
        );
    }
    if cli.batch == Some(0) {
        bail!("--batch must be at least 1");
    }
    let default_grid = (cli.out.is_none() && cli.out_dir.is_none() && cli.save_npy.is_none())
        .then(|| Path::new("samples.png").to_path_buf());
    let grid_path = cli.out.clone().or(default_grid);
    let outputs = Outputs::prepare(
        grid_path.as_deref(),
        cli.out_dir.as_deref(),
        cli.save_npy.as_deref(),
    )?;
    let init_noise = cli
        .init_noise
        .as_deref()
        .map(output::read_init_noise)
        .transpose()?;

    let library = runtime::locate_library(cli.ort_library.as_deref())?;
    let environment = runtime::init(&library)?;
    let options = runtime::SessionOptions {
        threads: cli.threads,
        device_id: cli.device_id,
        trt_cache: cli.trt_cache.clone(),
        trt_fp16: cli.trt_fp16,
    };
    let mut open = runtime::open(&environment, &cli.onnx, cli.ep, &options, &library)?;
    if !open.skipped.is_empty() {
        eprintln!(
            "note: running on {}; skipped {}",
            open.provider.name(),
            open.skipped.join("; ")
        );
    }
    let signature = signature::read(&open.session)?;
    let geometry = geometry(&signature, cli.sample_size.as_deref())?;
    if outputs.wants_png() {
        output::check_png_channels(geometry.channels)?;
    }
    check_variance_channels(&resolved, &signature, geometry)?;
    let batch = batch_size(&signature, cli.batch, samples.end - samples.start)?;
    let init_slice = match &init_noise {
        Some((shape, values)) => {
            sampling::check_init_noise(shape, cli.num_samples, geometry)?;
            let per_sample = geometry.elements();
            Some(&values[samples.start as usize * per_sample..samples.end as usize * per_sample])
        }
        None => None,
    };
    let job = Job {
        plan: &plan,
        seed: cli.seed,
        samples: samples.clone(),
        batch,
        init_noise: init_slice,
        geometry,
    };

    let model_calls = (samples.end - samples.start).div_ceil(batch as u64) * plan.len() as u64;
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(model_calls)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} model calls ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let sampling_started = Instant::now();
    let (values, timing) =
        sampling::run(&mut open.session, &signature, open.provider, &job, || {
            progress.inc(1)
        })?;
    let sampling_time = sampling_started.elapsed();
    progress.finish_and_clear();
    let written = outputs.write(&values, geometry, samples.clone(), cli.png_scale as usize)?;

    let report = summary::Summary {
        provider: open.provider,
        instruction_set: dispatch::instruction_set(),
        scheduler: resolved.scheduler,
        steps: plan.len(),
        seed: cli.seed,
        samples: samples.clone(),
        total_samples: cli.num_samples,
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

/// The sample's C, H, W from the model, with `--sample-size` where the model's is dynamic.
fn geometry(signature: &Signature, sample_size: Option<&[usize]>) -> Result<Geometry> {
    let [_, channels, height, width] = signature.sample_dims;
    let channels = channels.unwrap_or(0);
    let requested = sample_size.map(|size| (size[0], *size.get(1).unwrap_or(&size[0])));
    let (height, width) = match ((height, width), requested) {
        ((Some(h), Some(w)), None) => (h, w),
        ((Some(h), Some(w)), Some((rh, rw))) if (h, w) == (rh, rw) => (h, w),
        ((Some(h), Some(w)), Some((rh, rw))) => {
            bail!("--sample-size {rh},{rw} contradicts the model's fixed spatial size {h}x{w}")
        }
        (_, Some((rh, rw))) if rh > 0 && rw > 0 => (rh, rw),
        (_, Some(_)) => bail!("--sample-size must be positive"),
        (_, None) => bail!("the model's spatial size is dynamic: pass --sample-size H[,W]"),
    };
    Ok(Geometry {
        channels,
        height,
        width,
    })
}

/// The batch: the model's fixed one, or `--batch`, or min(samples, 16).
fn batch_size(signature: &Signature, requested: Option<usize>, samples: u64) -> Result<usize> {
    match (signature.sample_dims[0], requested) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            bail!("--batch {asked} contradicts the model's fixed batch size {fixed}")
        }
        (Some(fixed), _) => {
            if samples % fixed as u64 != 0 {
                bail!(
                    "the model's fixed batch size {fixed} does not divide the {samples} samples of this run"
                );
            }
            Ok(fixed)
        }
        (None, Some(asked)) => Ok(asked),
        (None, None) => Ok(samples.min(DEFAULT_BATCH) as usize),
    }
}

/// `learned_range` needs the model to output variance channels.
fn check_variance_channels(
    resolved: &config::Resolved,
    signature: &Signature,
    geometry: Geometry,
) -> Result<()> {
    use diffusion_core::{Sampler, VarianceType};
    let learned = matches!(
        resolved.sampler.sampler,
        Sampler::Ddpm {
            variance_type: VarianceType::LearnedRange
        }
    );
    if learned && signature.output_channels == Some(geometry.channels) {
        bail!(
            "variance_type learned_range needs a model that outputs 2x{} channels; this one outputs {}",
            geometry.channels,
            geometry.channels
        );
    }
    Ok(())
}
