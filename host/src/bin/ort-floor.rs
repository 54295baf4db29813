//! The floor of a sampling run: the same ONNX Runtime session called `--steps` times on the same
//! inputs, doing nothing else. `scripts/bench-peer` reports host wall time ÷ this.
//!
//! `ort-floor --onnx unet.onnx --steps 25 --batch 16 --threads 2 [--sample-size H]`

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use host::bind::runtime;
use host::bind::signature::{self, TimestepShape, TimestepType};
use host::cli::ExecutionProviderKind;
use ort::value::{DynValue, Tensor};

/// Flags.
#[derive(Parser)]
struct Args {
    /// The model.
    #[arg(long)]
    onnx: std::path::PathBuf,
    /// Model calls.
    #[arg(long, default_value_t = 25)]
    steps: u32,
    /// Samples per call.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Intra-op threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Spatial size when the model's is dynamic.
    #[arg(long)]
    sample_size: Option<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let library = runtime::locate_library(None)?;
    let environment = runtime::init(&library)?;
    let options = runtime::SessionOptions {
        threads: args.threads,
        ..Default::default()
    };
    let mut open = runtime::open(
        &environment,
        &args.onnx,
        ExecutionProviderKind::Cpu,
        &options,
        &library,
    )?;
    let signature = signature::read(&open.session)?;
    let [_, channels, height, width] = signature.sample_dims;
    let (Some(channels), Some(height), Some(width)) = (
        channels,
        height.or(args.sample_size),
        width.or(args.sample_size),
    ) else {
        bail!("dynamic spatial size: pass --sample-size")
    };
    let shape = [args.batch, channels, height, width];
    let sample = Tensor::from_array((shape, vec![0.5f32; shape.iter().product()]))?;
    let dims: Vec<i64> = match signature.timestep_shape {
        TimestepShape::Scalar => vec![],
        TimestepShape::One => vec![1],
        TimestepShape::Batch => vec![args.batch as i64],
    };
    let elements = dims.iter().product::<i64>() as usize;
    let timestep: DynValue = match signature.timestep_type {
        TimestepType::Int64 => Tensor::from_array((dims, vec![500i64; elements]))?.into_dyn(),
        TimestepType::Int32 => Tensor::from_array((dims, vec![500i32; elements]))?.into_dyn(),
        TimestepType::Float32 => Tensor::from_array((dims, vec![500f32; elements]))?.into_dyn(),
        TimestepType::Float16 => {
            Tensor::from_array((dims, vec![half::f16::from_f32(500.0); elements]))?.into_dyn()
        }
    };
    let started = Instant::now();
    for _ in 0..args.steps {
        let outputs = open.session.run(ort::inputs![
            signature.sample_input.as_str() => &sample,
            signature.timestep_input.as_str() => &timestep,
        ])?;
        std::hint::black_box(&outputs);
    }
    let elapsed = started.elapsed();
    println!(
        "floor: {} calls, {:.4} ms per call",
        args.steps,
        elapsed.as_secs_f64() * 1e3 / args.steps as f64
    );
    Ok(())
}
