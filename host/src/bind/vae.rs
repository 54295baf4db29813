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

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use ort::session::Session;
use ort::value::{Outlet, Tensor, TensorElementType, ValueType};

use crate::finite::first_non_finite;
use crate::geometry::Geometry;
use crate::resolve::decoder::DecoderSpec;

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
                crate::resolve::decoder::config_path(&spec.path).display(),
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
    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// What the summary says about the decoder.
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
}
