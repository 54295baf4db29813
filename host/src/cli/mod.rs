//! The command line: raw flags only (no I/O). [`crate::resolve`] resolves them into a job.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

pub mod device;
pub mod image_format;
pub mod png_scale;
pub mod scheduler_flags;
pub mod shard;

use crate::cli::device::DeviceId;
use crate::cli::png_scale::PngScale;
use crate::cli::shard::ShardSpec;
use crate::scheduler::SchedulerKind;
use scheduler_flags::SchedulerFlags;

/// `--sample-size H` or `H,W`: both positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSize {
    /// H.
    pub height: usize,
    /// W.
    pub width: usize,
}

impl std::str::FromStr for SampleSize {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let side = |part: &str| match part.trim().parse::<usize>() {
            Ok(side) if side > 0 => Ok(side),
            _ => Err(format!(
                "{part:?} is not a positive integer (expected H or H,W)"
            )),
        };
        match text.split(',').collect::<Vec<_>>()[..] {
            [h] => side(h).map(|h| SampleSize {
                height: h,
                width: h,
            }),
            [h, w] => Ok(SampleSize {
                height: side(h)?,
                width: side(w)?,
            }),
            _ => Err(format!("{text:?}: expected H or H,W")),
        }
    }
}

/// A count of at least 1 (`--num-samples`, `--batch`, `--threads`).
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError> + PartialOrd + From<u8>,
{
    match text.parse::<T>() {
        Ok(count) if count >= T::from(1) => Ok(count),
        Ok(_) => Err("must be at least 1".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// `--input NAME=FILE.npy`: a model input and the file that holds its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedFile {
    /// The model input's name.
    pub name: String,
    /// The `.npy` file.
    pub path: PathBuf,
}

impl std::str::FromStr for NamedFile {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(NamedFile {
                name: name.to_string(),
                path: PathBuf::from(path),
            }),
            _ => Err(format!("{text:?}: expected NAME=FILE.npy")),
        }
    }
}

/// Sample a diffusers-style ONNX U-Net with DDPM, DDIM, DPM-Solver, UniPC, Euler or Euler
/// ancestral or Heun, through ONNX Runtime.
///
/// Scheduler options use diffusers' names. They come from `scheduler_config.json` (given with
/// --scheduler-config, or found next to the model), and flags override the file.
#[derive(Parser, Debug, Clone)]
#[command(name = "host", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The exported U-Net (ONNX): a float32 rank-4 sample input and a timestep input; or a
    /// diffusers ONNX pipeline folder (model_index.json, unet/model.onnx, and its vae_decoder/
    /// and scheduler/ if it has them).
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,

    /// Number of denoising steps (diffusers `num_inference_steps`), 1 ..= num_train_timesteps.
    #[arg(long, default_value_t = 25)]
    pub steps: u32,

    /// Update rule [default: from the config's `_class_name`, else ddim].
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedulerKind>,

    /// Seed of the noise (noise v1: sample i of seed s is the same at any batch size or shard).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Total number of samples of the job (all shards together) [default: N of --init-noise, else 1].
    #[arg(long, value_name = "N", value_parser = at_least_one::<u64>)]
    pub num_samples: Option<u64>,

    /// Samples per model call [default: the model's fixed batch, else min(num-samples, 16)].
    #[arg(long, value_name = "B", value_parser = at_least_one::<usize>)]
    pub batch: Option<usize>,

    /// Run only shard K of N (0-based): samples K·S/N ..< (K+1)·S/N of the S samples. auto: K
    /// and N from a Slurm job array or a Kubernetes Indexed Job (N from auto/N or
    /// HOST_SHARD_COUNT there).
    #[arg(long, value_name = "K/N|auto[/N]")]
    pub shard: Option<ShardSpec>,

    /// diffusers scheduler_config.json [default: the one next to the model, if any].
    #[arg(long, value_name = "FILE")]
    pub scheduler_config: Option<PathBuf>,

    /// The scheduler's keys (rows of [`crate::scheduler::keys::KEYS`]).
    #[command(flatten)]
    pub scheduler_keys: SchedulerFlags,

    /// Start from this x_T instead of drawing it: float32 .npy of shape [num-samples, C, H, W],
    /// standard normal; it is multiplied by the scheduler's init_noise_sigma (1 for DDPM, DDIM,
    /// DPM-Solver and UniPC; sigma_max, or sqrt(sigma_max² + 1) with leading spacing, for Euler and
    /// Heun).
    #[arg(long, value_name = "FILE.npy")]
    pub init_noise: Option<PathBuf>,

    /// A model input besides the sample and the timestep (repeatable): a .npy whose first
    /// dimension is 1 (the same for every sample) or --num-samples (one row per sample), the rest
    /// and the dtype as the model's (float32 encoder_hidden_states [N, L, D], int64 class_labels
    /// [N], ...).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub inputs: Vec<NamedFile>,

    /// Classifier-free guidance: the unconditional value of a conditioned input (repeatable; the
    /// empty prompt's embeddings, ...), shaped as for --input. Inputs without one are the same in
    /// both halves.
    #[arg(long = "uncond-input", value_name = "NAME=FILE.npy")]
    pub uncond_inputs: Vec<NamedFile>,

    /// Classifier-free guidance scale s: eps_u + s·(eps_c − eps_u); 1 is the conditional model
    /// alone (one call per step) [default: the model's guidance.json with a class label, else 1].
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub guidance_scale: Option<f64>,

    /// diffusers' guidance_rescale φ in [0, 1]: mix in the guided prediction rescaled to the
    /// conditional one's standard deviation.
    #[arg(
        long,
        value_name = "PHI",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub guidance_rescale: f64,

    /// Class label of every sample, for a model with a class_labels input (the null label and the
    /// guidance scale come from guidance.json next to the model).
    #[arg(
        long,
        value_name = "K",
        allow_negative_numbers = true,
        conflicts_with = "class_labels"
    )]
    pub class_label: Option<i64>,

    /// Class labels, one per sample: an integer .npy of shape [num-samples] (or [1]).
    #[arg(long, value_name = "FILE.npy")]
    pub class_labels: Option<PathBuf>,

    /// Write an image grid of the samples: .png, .jpg/.jpeg or .webp [default: samples.png when
    /// no output is named].
    #[arg(long, value_name = "FILE.png")]
    pub out: Option<PathBuf>,

    /// Write one PNG per sample (sample_000000.png, numbered by global index).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Enlarge each image pixel to an N×N square (1..=64); auto: until a sample is at least
    /// 64 pixels on its shorter side (8×8 digits become 64×64).
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub png_scale: PngScale,

    /// Keep progress after every batch (in FILE.npy.partial and DIR/.host-resume-*/) and, when
    /// started again with the same command, continue from the last completed batch.
    #[arg(long)]
    pub resume: bool,

    /// Write the exact float32 samples, shape [samples, C, H, W].
    #[arg(long, value_name = "FILE.npy")]
    pub save_npy: Option<PathBuf>,

    /// A latent model's VAE decoder (ONNX, e.g. vae_decoder/model.onnx): the samples are decoded
    /// from x / scaling-factor into images before they are written (--out, --out-dir, --save-npy).
    #[arg(long, value_name = "FILE.onnx")]
    pub vae_decoder: Option<PathBuf>,

    /// The latents are divided by this before decoding [default: scaling_factor of the
    /// config.json beside the decoder; no default without one].
    #[arg(long, value_name = "F")]
    pub vae_scaling_factor: Option<f64>,

    /// With --vae-decoder, also write the latents, float32 [samples, C, H, W].
    #[arg(long, value_name = "FILE.npy")]
    pub save_latents: Option<PathBuf>,

    /// Execution provider: auto tries TensorRT, then CUDA, then CPU, and says which runs.
    #[arg(long, value_enum, default_value_t = ExecutionProviderKind::Auto)]
    pub ep: ExecutionProviderKind,

    /// GPU index for CUDA and TensorRT; auto: 0 when CUDA_VISIBLE_DEVICES names one GPU, else
    /// the local rank (SLURM_LOCALID, LOCAL_RANK).
    #[arg(long, default_value = "0", value_name = "N|auto")]
    pub device_id: DeviceId,

    /// Intra-op threads of the CPU provider [default: ONNX Runtime's choice].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub threads: Option<usize>,

    /// TensorRT engine cache directory.
    #[arg(long, value_name = "DIR")]
    pub trt_cache: Option<PathBuf>,

    /// Let TensorRT use fp16 kernels.
    #[arg(long)]
    pub trt_fp16: bool,

    /// Spatial size, H or H,W, when the model's is dynamic (without it: --init-noise's, else
    /// sample_size of the U-Net's diffusers config.json beside it).
    #[arg(long, value_name = "H[,W]")]
    pub sample_size: Option<SampleSize>,

    /// Channels of a sample, when the model's count is dynamic (without it: --init-noise's,
    /// else in_channels of the U-Net's diffusers config.json beside it, else the VAE decoder's
    /// latent_channels). Stable Diffusion 1.x/2.x/XL U-Nets take 4.
    #[arg(long, value_name = "C", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub sample_channels: Option<u32>,

    /// Without a terminal, print a progress line at most every this many seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub progress_interval: f64,

    /// ONNX Runtime library [default: $ORT_DYLIB_PATH, next to the executable, .ort/ of this
    /// project, the onnxruntime package of python3].
    #[arg(long, value_name = "FILE")]
    pub ort_library: Option<PathBuf>,
}

/// `host merge`: check the parts of a sharded job and assemble them.
#[derive(Parser, Debug, Clone)]
#[command(name = "host merge", bin_name = "host merge", version, after_help = MERGE_AFTER_HELP)]
pub struct MergeCli {
    /// Write the merged samples here (the parts are .npy files written with --save-npy, each
    /// with its manifest PART.npy.json beside it).
    #[arg(long, value_name = "ALL.npy")]
    pub save_npy: Option<PathBuf>,

    /// PNG folders: without parts, check that the manifests the shards wrote into this
    /// --out-dir cover the job exactly once; with part folders, check those and copy them here.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// The parts, in any order: .npy files (with --save-npy) or --out-dir folders (with --out-dir).
    #[arg(value_name = "PART")]
    pub parts: Vec<PathBuf>,
}

const MERGE_AFTER_HELP: &str = "\
Examples:
  host merge --save-npy x0.npy parts/x0_*.npy
  host merge --out-dir samples/                     (the shards wrote into samples/)
  host merge --out-dir samples/ parts/pngs_*        (the shards wrote into folders of their own)";

const AFTER_HELP: &str = "\
Examples:
  host --onnx models/digits/unet.onnx --steps 25 --num-samples 64 --out grid.png
  host --onnx unet.onnx --scheduler ddpm --steps 1000 --save-npy x0.npy --seed 7
  host --onnx unet.onnx --num-samples 10000 --shard 3/8 --out-dir samples/
  host --onnx pipeline/ --steps 25 --out grid.png   (a diffusers ONNX pipeline folder: U-Net and VAE decoder)
  host --onnx cond/unet.onnx --class-label 3 --num-samples 16      (guidance.json beside it)
  host --onnx sd/unet.onnx --input encoder_hidden_states=prompt.npy \
       --uncond-input encoder_hidden_states=empty.npy --guidance-scale 7.5
  host merge --save-npy x0.npy parts/x0_*.npy      (host merge --help)";

/// Where the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutionProviderKind {
    /// TensorRT, else CUDA, else CPU.
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA (an error if it cannot start).
    Cuda,
    /// TensorRT with CUDA for unsupported nodes (an error if it cannot start).
    Tensorrt,
}
