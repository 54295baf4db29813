//! `--vae-decoder` (or a pipeline folder's `vae_decoder/`): the decoder's file and how latents
//! are scaled for it, from the flags and the diffusers `config.json` beside it (see
//! [`crate::bind::vae`] for the decoding itself).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::Cli;

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
pub fn resolve(cli: &Cli, decoder: Option<&Path>) -> Result<Option<DecoderSpec>> {
    let Some(path) = decoder else {
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
        path: path.to_path_buf(),
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
