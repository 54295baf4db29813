//! The `host` program: sample a diffusers-style ONNX U-Net through ONNX Runtime with
//! `diffusion-core`. `main` maps [`run`] of the parsed flags to an exit code.
//!
//! A run is four stages, each a module folder, each using only the ones before it:
//! [`resolve`] (flags and files → a job; pure), [`bind`] (open the models, check the job against
//! them; nothing written), [`execute`] (the sampling loop; it only computes), [`finish`] (the
//! outputs, committed at the end, manifests last; the summary). [`cli`] parses the flags,
//! [`scheduler`] holds the schedulers' key table they are made from, [`geometry`] and
//! [`digest`], [`finite`] and [`interrupt`] are shared leaves; [`merge`] is the `host merge` subcommand.

pub mod bind;
pub mod cli;
pub mod digest;
pub mod execute;
pub mod finish;
pub mod finite;
pub mod geometry;
pub mod interrupt;
pub mod merge;
pub mod resolve;
pub mod scheduler;

use std::time::{Duration, Instant};

use anyhow::Result;

use cli::Cli;
use execute::progress::Progress;
use execute::sampling;

/// The whole run: resolve, bind, sample, finish.
pub fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    interrupt::install()?;
    let job = resolve::resolve(&cli)?;
    let mut bound = bind::bind(&job)?;
    let identity = finish::identity(&job, &bound)?;
    let mut stream = finish::open_outputs(&job, &bound, identity.as_ref())?;
    // With --resume, what is left after the last committed batch.
    let samples = &job.samples;
    let remaining = samples.start + stream.done()..samples.end;
    if stream.done() > 0 {
        eprintln!(
            "resuming: samples {}..{} are done, {} to go",
            samples.start,
            remaining.start,
            remaining.end - remaining.start
        );
    }
    let init_values = job
        .init_noise
        .as_ref()
        .map(|noise| noise.samples(remaining.clone()));
    let bind::Bound {
        unet,
        signature,
        decoder,
        conditioning,
        batch,
        pad_last_batch,
        geometry,
        doubled,
        ..
    } = &mut bound;
    let (batch, doubled) = (*batch, *doubled);
    let loop_job = execute::job::Job {
        plan: &job.plan,
        seed: cli.seed,
        samples: remaining.clone(),
        batch,
        pad_last_batch: *pad_last_batch,
        init_noise: init_values.as_deref(),
        geometry: *geometry,
        conditioning,
        doubled,
    };
    let sample_count = remaining.end - remaining.start;
    let calls_per_step = conditioning.calls_per_step(doubled);
    let model_calls = sample_count
        .div_ceil(batch as u64)
        .saturating_mul(job.plan.num_model_calls() as u64)
        .saturating_mul(calls_per_step);
    let mut progress = Progress::new(
        model_calls,
        sample_count,
        Duration::from_secs_f64(cli.progress_interval),
    );
    let sampling_started = Instant::now();
    let timing = sampling::run(
        &mut unet.session,
        signature,
        unet.provider,
        &loop_job,
        |values| match decoder {
            Some(decoder) => {
                stream.accept_latents(values)?;
                stream.accept(decoder.decode(values)?)
            }
            None => stream.accept(values),
        },
        |done| progress.step_done(calls_per_step, done),
    );
    progress.finish();
    let sampled = finish::Sampled {
        timing: timing?,
        sampling_time: sampling_started.elapsed(),
        started,
    };
    finish::commit(&job, &bound, stream, identity.as_ref(), sampled)
}
