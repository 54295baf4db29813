//! The VAE decoder of a latent model (`--vae-decoder`): the U-Net samples latents, and each
//! finished batch is decoded into images before it is written, as diffusers' pipelines do:
//!
//! ```text
//! image = decoder(x₀ / scaling_factor + shift_factor)
//! ```
//!
//! (`vae.decode(latents / vae.config.scaling_factor)`; `shift_factor` is 0 unless the decoder's
//! config sets it, as SD3's does.) The decoder's output is in [−1, 1], diffusers' convention;
//! `--save-npy` holds it as it is, and pictures map it to pixels as (x/2 + 0.5).clamp(0, 1), as
//! diffusers' `VaeImageProcessor.postprocess` does.
//!
//! The scaling factor is `--vae-scaling-factor`, else `scaling_factor` of the diffusers config
//! (`config.json`) beside the decoder; with neither, host refuses to run rather than guess
//! (diffusers' default 0.18215 is Stable Diffusion 1/2's; SDXL's is 0.13025, and a wrong factor
//! gives a plausible-looking but wrong image).
//!
//! The config's `latent_channels`, where it gives one, must be the U-Net's sample channels, and
//! gives them when neither the U-Net nor its own config does (see `geometry` in lib.rs).
//!
//! The decoder runs once per finished batch (its tensors made per call, not per step), on the
//! execution provider the U-Net runs on; a decoder with a fixed batch gets the latents in chunks
//! of that batch, the last padded with zeros (discarded).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ort::session::Session;
use ort::value::{Outlet, Tensor, TensorElementType, ValueType};

use crate::cli::Cli;
use crate::execute::finite::first_non_finite;
use crate::finish::manifest::DecoderIdentity;
use crate::geometry::Geometry;

/// A VAE config is a few KB; larger files are not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The decoder and how latents are scaled for it, resolved from the flags and its config.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderSpec {
    /// The decoder's ONNX file.
    pub path: PathBuf,
    /// The latents are divided by this before decoding (diffusers `vae.config.scaling_factor`).
    /// (f64 as written in the config or flag; the latents are divided by it in f32.)
    pub scaling_factor: f64,
    /// Added after the division (diffusers `vae.config.shift_factor`; 0 when absent or null).
    pub shift_factor: f64,
    /// The latents' channel count its config gives (`latent_channels`), if it gives one.
    pub latent_channels: Option<usize>,
    /// Where the scaling factor came from, for the summary.
    pub source: String,
}

/// The fields of a diffusers VAE `config.json` that decoding depends on.
#[derive(Debug, Default, serde::Deserialize)]
struct VaeConfigFile {
    scaling_factor: Option<f64>,
    shift_factor: Option<f64>,
    latent_channels: Option<usize>,
}

/// `config.json` beside `decoder`.
pub fn config_path(decoder: &Path) -> PathBuf {
    decoder
        .parent()
        .unwrap_or(Path::new("."))
        .join("config.json")
}

/// The decoder spec of `--vae-decoder`, or `None` without one (then the latent-only flags are
/// refused).
pub fn resolve(cli: &Cli) -> Result<Option<DecoderSpec>> {
    let Some(path) = &cli.vae_decoder else {
        if cli.vae_scaling_factor.is_some() {
            bail!("--vae-scaling-factor needs --vae-decoder");
        }
        if cli.save_latents.is_some() {
            bail!(
                "--save-latents needs --vae-decoder (without a decoder, --save-npy holds the samples the U-Net made)"
            );
        }
        return Ok(None);
    };
    if !path.is_file() {
        bail!("cannot read --vae-decoder {}: not a file", path.display());
    }
    if cli.resume && cli.save_latents.is_some() {
        bail!(
            "--save-latents cannot be resumed; drop it or --resume (--save-npy and --out-dir hold the decoded images)"
        );
    }
    let config = config_path(path);
    let file = match config.is_file() {
        true => read_config(&config)?,
        false => VaeConfigFile::default(),
    };
    let shift_factor = file.shift_factor.unwrap_or(0.0);
    if !(shift_factor as f32).is_finite() {
        bail!(
            "{}: shift_factor {shift_factor} is not finite",
            config.display()
        );
    }
    let (scaling_factor, source) = match (cli.vae_scaling_factor, file.scaling_factor) {
        (Some(factor), _) => (factor, "--vae-scaling-factor".to_string()),
        (None, Some(factor)) => (factor, config.display().to_string()),
        (None, None) => bail!(
            "no scaling factor for --vae-decoder {}: pass --vae-scaling-factor (0.18215 for \
             Stable Diffusion 1.x/2.x, 0.13025 for SDXL) or put its diffusers config.json \
             (with scaling_factor) beside it",
            path.display()
        ),
    };
    if !(scaling_factor > 0.0 && (scaling_factor as f32).is_normal()) {
        bail!("{source}: the VAE scaling factor must be a positive number, not {scaling_factor}");
    }
    if file.latent_channels == Some(0) {
        bail!(
            "{}: latent_channels 0 is not a channel count",
            config.display()
        );
    }
    Ok(Some(DecoderSpec {
        path: path.clone(),
        scaling_factor,
        shift_factor,
        latent_channels: file.latent_channels,
        source,
    }))
}

fn read_config(path: &Path) -> Result<VaeConfigFile> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    if file.metadata()?.len() > MAX_CONFIG_BYTES {
        bail!("{} is too large to be a VAE config", path.display());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(file), &mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // diffusers writes Python's Infinity/NaN where a value is one; json5 reads them.
    json5::from_str(&text).map_err(|error| anyhow!("{}: {error}", path.display()))
}

/// The float tensor shape of an outlet, `None` per dynamic dimension, or `None` for another type.
fn float_dims(outlet: &Outlet) -> Option<Vec<Option<usize>>> {
    match outlet.dtype() {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape,
            ..
        } => Some(shape.iter().map(|&d| usize::try_from(d).ok()).collect()),
        _ => None,
    }
}

/// An open decoder, checked against the latents it will get.
pub struct Decoder {
    session: Session,
    spec: DecoderSpec,
    input: String,
    output: String,
    /// The decoder's fixed batch, if its input has one.
    fixed_batch: Option<usize>,
    latent: Geometry,
    image: Geometry,
    /// The decoded images of the last batch.
    images: Vec<f32>,
    /// Time spent decoding.
    pub time: Duration,
    /// Latents decoded.
    pub decoded: u64,
}

impl Decoder {
    /// Checks the decoder's signature against latents of `latent`, and decodes one batch of
    /// zeros to learn the images' shape, so that a decoder that cannot take these latents fails
    /// here, before anything is sampled or written.
    pub fn new(session: Session, spec: DecoderSpec, latent: Geometry) -> Result<Self> {
        let shown = spec.path.display().to_string();
        let inputs = session.inputs();
        let [input] = inputs else {
            bail!(
                "the VAE decoder {shown} has {} inputs; a decoder takes one, the latents",
                inputs.len()
            );
        };
        let Some(dims) = float_dims(input).filter(|dims| dims.len() == 4) else {
            bail!(
                "the VAE decoder {shown}'s input {} is not a rank-4 float32 tensor",
                input.name()
            );
        };
        if let Some(channels) = dims[1]
            && channels != latent.channels
        {
            bail!(
                "the VAE decoder {shown} takes latents of {channels} channels; the U-Net's samples have {}",
                latent.channels
            );
        }
        if let Some(channels) = spec.latent_channels
            && channels != latent.channels
        {
            bail!(
                "the VAE decoder {shown}'s config {} says latent_channels {channels}; the U-Net's samples have {}",
                config_path(&spec.path).display(),
                latent.channels
            );
        }
        for (axis, side, name) in [(2, latent.height, "height"), (3, latent.width, "width")] {
            if let Some(fixed) = dims[axis]
                && fixed != side
            {
                bail!(
                    "the VAE decoder {shown} takes latents of {name} {fixed}; the U-Net's samples have {side}"
                );
            }
        }
        let outputs = session.outputs();
        let output = outputs
            .iter()
            .find(|output| output.name() == "sample")
            .or_else(|| outputs.first())
            .ok_or_else(|| anyhow!("the VAE decoder {shown} has no output"))?;
        if float_dims(output).is_none_or(|dims| dims.len() != 4) {
            bail!(
                "the VAE decoder {shown}'s output {} is not a rank-4 float32 tensor",
                output.name()
            );
        }
        let mut decoder = Decoder {
            input: input.name().to_string(),
            output: output.name().to_string(),
            fixed_batch: dims[0],
            session,
            spec,
            latent,
            image: latent,
            images: Vec::new(),
            time: Duration::ZERO,
            decoded: 0,
        };
        decoder.image = decoder.probe()?;
        Ok(decoder)
    }

    /// The shape of the images a sample decodes to (from one decoder call on zeros).
    fn probe(&mut self) -> Result<Geometry> {
        let batch = self.fixed_batch.unwrap_or(1);
        let zeros = vec![0.0f32; batch * self.latent.elements()];
        let (shape, _) = self.run(&zeros, batch)?;
        let [n, channels, height, width] = shape[..] else {
            bail!(
                "the VAE decoder {} gave an output of shape {shape:?}, not [B, C, H, W]",
                self.spec.path.display()
            );
        };
        if n != batch || channels == 0 || height == 0 || width == 0 {
            bail!(
                "the VAE decoder {} gave an output of shape {shape:?} for {batch} latents",
                self.spec.path.display()
            );
        }
        Ok(Geometry {
            channels,
            height,
            width,
        })
    }

    /// One decoder call on `batch` latents (already scaled), appending to nothing: returns the
    /// output's shape and values.
    fn run(&mut self, latents: &[f32], batch: usize) -> Result<(Vec<usize>, Vec<f32>)> {
        let Geometry {
            channels,
            height,
            width,
        } = self.latent;
        let shape = [batch, channels, height, width];
        let tensor = Tensor::from_array((shape, latents.to_vec()))?;
        let shown = self.spec.path.display().to_string();
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|error| {
                anyhow!("the VAE decoder {shown} failed on latents of shape {shape:?}: {error}")
            })?;
        let (shape, values) = outputs
            .get(&self.output)
            .ok_or_else(|| anyhow!("the VAE decoder {shown} produced no output {}", self.output))?
            .try_extract_tensor::<f32>()?;
        let shape = shape.iter().map(|&d| d.max(0) as usize).collect();
        Ok((shape, values.to_vec()))
    }

    /// The shape of one decoded image.
    pub fn image_geometry(&self) -> Geometry {
        self.image
    }

    /// What was decoded, and how, for the summary.
    pub fn describe(&self) -> String {
        let Geometry {
            channels: c,
            height: h,
            width: w,
        } = self.image;
        let shift = match self.spec.shift_factor {
            0.0 => String::new(),
            shift => format!(" + {shift}"),
        };
        format!(
            "decoded {} latents into {c}x{h}x{w} images with {} (x / {}{shift}, scaling factor from {}) in {:.1} ms",
            self.decoded,
            self.spec.path.display(),
            self.spec.scaling_factor,
            self.spec.source,
            self.time.as_secs_f64() * 1e3
        )
    }

    /// The images of `latents` (NCHW, whole samples): x / scaling_factor + shift_factor through
    /// the decoder, checked for NaN/∞.
    pub fn decode(&mut self, latents: &[f32]) -> Result<&[f32]> {
        let started = Instant::now();
        let per_latent = self.latent.elements();
        let count = latents.len() / per_latent;
        let chunk = self.fixed_batch.unwrap_or(count.max(1));
        let (scale, shift) = (
            self.spec.scaling_factor as f32,
            self.spec.shift_factor as f32,
        );
        self.images.clear();
        for part in latents.chunks(chunk * per_latent) {
            let real = part.len() / per_latent;
            let mut input = vec![0.0f32; chunk * per_latent];
            // Division, as diffusers divides (x · (1/s) differs in the last bit).
            for (scaled, &value) in input.iter_mut().zip(part) {
                *scaled = value / scale + shift;
            }
            let (shape, values) = self.run(&input, chunk)?;
            let expected = [
                chunk,
                self.image.channels,
                self.image.height,
                self.image.width,
            ];
            if shape[..] != expected {
                bail!(
                    "the VAE decoder {} gave an output of shape {shape:?}, expected {expected:?}",
                    self.spec.path.display()
                );
            }
            let kept = &values[..real * self.image.elements()];
            if let Some(position) = first_non_finite(kept) {
                bail!(
                    "the VAE decoder {} output {} (element {position} of the batch's images)",
                    self.spec.path.display(),
                    kept[position]
                );
            }
            self.images.extend_from_slice(kept);
        }
        self.decoded += count as u64;
        self.time += started.elapsed();
        Ok(&self.images)
    }

    /// What the manifests say about the decoder (`model_sha256` is its file's hash).
    pub fn identity(&self, sha256: String) -> DecoderIdentity {
        DecoderIdentity {
            sha256,
            scaling_factor: self.spec.scaling_factor,
            shift_factor: self.spec.shift_factor,
        }
    }
}
