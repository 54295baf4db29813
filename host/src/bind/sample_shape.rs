//! The shape of one sample: the model's where fixed, else the flags', `--init-noise`'s, the
//! U-Net's diffusers config's or the VAE decoder's config's, each contradiction a refusal.

use anyhow::{Result, bail};

use crate::bind::signature::Signature;
use crate::bind::unet_config::UnetConfig;
use crate::cli::SampleSize;
use crate::geometry::Geometry;
use crate::resolve::init_noise::InitNoise;

/// The sample's C, H, W: the model's where fixed; where dynamic, from `--init-noise` (C, H, W)
/// or `--sample-size` (H, W), else from the U-Net's diffusers config (`in_channels`,
/// `sample_size`; see [`unet_config`]), else C from the VAE decoder's config (`latent_channels`).
/// Flags and `--init-noise` win over the config's `sample_size` (a default, not a property of the
/// weights); contradictions of a fixed side or of `in_channels` are errors.
pub fn geometry(
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
