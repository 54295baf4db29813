//! The diffusers `config.json` beside the U-Net file (`unet/config.json` of a pipeline folder):
//! where a model's sample shape comes from when its ONNX file leaves it open.
//!
//! diffusers' ONNX converter (scripts/convert_stable_diffusion_checkpoint_to_onnx.py) and
//! optimum's exporter (`UNetOnnxConfig`) export every axis of the U-Net's `sample` as dynamic
//! (`{0: batch, 1: channels, 2: height, 3: width}`), so the model does not say C, H or W.
//! optimum writes each part's diffusers config beside it (`subcomponent.save_config(output /
//! model_name)` in `onnx_export_from_model`), and the U-Net's gives
//!
//! ```text
//! C    = in_channels
//! H, W = sample_size          (an int: H = W = sample_size; or [H, W])
//! ```
//!
//! diffusers' converter writes no such file: its `OnnxStableDiffusionPipeline` hard-codes the
//! latents' shape instead, `latents_shape = (batch_size * num_images_per_prompt, 4, height // 8,
//! width // 8)` with `height = width = 512` by default, i.e. 4x64x64 (diffusers 0.42.1,
//! pipelines/stable_diffusion/pipeline_onnx_stable_diffusion.py). host does not guess that
//! shape: without a config, flags give it (see `geometry` in lib.rs).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// A U-Net config is a few KB; larger files are not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What a U-Net's diffusers config says of its sample's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnetConfig {
    /// The config file, for messages.
    pub path: PathBuf,
    /// C (`in_channels`).
    pub in_channels: Option<usize>,
    /// (H, W) (`sample_size`).
    pub sample_size: Option<(usize, usize)>,
}

/// `sample_size` as diffusers writes it: one side for a square sample, or [H, W].
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum SampleSizeField {
    Square(usize),
    Sides([usize; 2]),
}

/// The fields of a diffusers U-Net `config.json` that the sample's shape depends on.
#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(rename = "_class_name")]
    class_name: Option<String>,
    in_channels: Option<usize>,
    sample_size: Option<SampleSizeField>,
}

/// The config beside the U-Net file `model` (`config.json` in its folder), or `None` when there
/// is none or it is another model's (its `_class_name` names no `UNet…`, e.g. the
/// `AutoencoderKL` config of a decoder kept in the same folder, whose `in_channels` are the
/// image's).
pub fn read_beside(model: &Path) -> Result<Option<UnetConfig>> {
    let path = model.parent().unwrap_or(Path::new(".")).join("config.json");
    if !path.is_file() {
        return Ok(None);
    }
    read(&path)
}

/// Reads the U-Net config `path` (`None` for another model's config); a zero channel count or
/// side is refused.
pub fn read(path: &Path) -> Result<Option<UnetConfig>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    if file.metadata()?.len() > MAX_CONFIG_BYTES {
        bail!("{} is too large to be a U-Net config", path.display());
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(file), &mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // diffusers writes Python's Infinity/NaN where a value is one; json5 reads them.
    let file: ConfigFile =
        json5::from_str(&text).map_err(|error| anyhow!("{}: {error}", path.display()))?;
    if file
        .class_name
        .as_deref()
        .is_some_and(|name| !name.starts_with("UNet"))
    {
        return Ok(None);
    }
    let sample_size = file.sample_size.map(|size| match size {
        SampleSizeField::Square(side) => (side, side),
        SampleSizeField::Sides([height, width]) => (height, width),
    });
    if file.in_channels == Some(0) {
        bail!("{}: in_channels 0 is not a channel count", path.display());
    }
    if let Some((height, width)) = sample_size
        && (height == 0 || width == 0)
    {
        bail!(
            "{}: sample_size {height}x{width} is not a size",
            path.display()
        );
    }
    Ok(Some(UnetConfig {
        path: path.to_path_buf(),
        in_channels: file.in_channels,
        sample_size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (directory, path)
    }

    #[test]
    fn reads_channels_and_square_or_rectangular_sizes() {
        let (_dir, path) = config(
            r#"{"_class_name": "UNet2DConditionModel", "in_channels": 4, "sample_size": 64,
                "norm_eps": 1e-05, "upcast_attention": false, "addition_embed_type": null}"#,
        );
        let read = read(&path).unwrap().unwrap();
        assert_eq!(read.in_channels, Some(4));
        assert_eq!(read.sample_size, Some((64, 64)));
        let (_dir, path) = config(r#"{"in_channels": 9, "sample_size": [96, 128]}"#);
        let read = super::read(&path).unwrap().unwrap();
        assert_eq!(read.sample_size, Some((96, 128)));
        let (_dir, path) = config(r#"{"in_channels": 4, "sample_size": null}"#);
        assert_eq!(super::read(&path).unwrap().unwrap().sample_size, None);
        let (_dir, path) = config(r#"{"_class_name": "UNet2DModel"}"#);
        let read = super::read(&path).unwrap().unwrap();
        assert_eq!((read.in_channels, read.sample_size), (None, None));
    }

    /// A VAE's config beside the U-Net (a flat folder) is not the U-Net's: its in_channels are
    /// the image's 3 and its sample_size the image's.
    #[test]
    fn another_models_config_is_not_the_unets() {
        let (dir, path) = config(
            r#"{"_class_name": "AutoencoderKL", "in_channels": 3, "sample_size": 512, "latent_channels": 4}"#,
        );
        assert_eq!(read(&path).unwrap(), None);
        assert_eq!(read_beside(&dir.path().join("unet.onnx")).unwrap(), None);
    }

    #[test]
    fn refuses_zero_and_malformed_values_and_finds_no_file_as_none() {
        for (text, expected) in [
            (r#"{"in_channels": 0}"#, "in_channels 0"),
            (r#"{"sample_size": [0, 8]}"#, "sample_size 0x8"),
            (r#"{"sample_size": [8, 8, 8]}"#, "config.json"),
            (r#"{"in_channels": "four"}"#, "config.json"),
            ("not json", "config.json"),
        ] {
            let (_dir, path) = config(text);
            let error = read(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(read_beside(&empty.path().join("model.onnx")).unwrap(), None);
    }
}
