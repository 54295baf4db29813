//! The image formats `--out` writes, named by the file's extension.

use std::path::Path;

use anyhow::{Result, bail};

/// The image formats of `--out`, named by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// Quality 95; no alpha channel.
    Jpeg,
    /// Lossless.
    WebP,
}

impl ImageFormat {
    /// The format of `--out PATH`, by its extension.
    pub fn of(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(ImageFormat::Png),
            Some("jpg" | "jpeg") => Ok(ImageFormat::Jpeg),
            Some("webp") => Ok(ImageFormat::WebP),
            _ => bail!(
                "--out {}: unknown image format; name a .png, .jpg, .jpeg or .webp file",
                path.display()
            ),
        }
    }

    /// Whether images of `channels` can be written in this format.
    pub fn check_channels(self, channels: usize) -> Result<()> {
        match (self, channels) {
            (ImageFormat::Jpeg, 4) => {
                bail!(
                    "JPEG has no alpha channel and the samples have 4 channels; use .png or .webp"
                )
            }
            (_, 1 | 3 | 4) => Ok(()),
            _ => bail!(
                "images need 1, 3 or 4 channels and the samples have {channels}; use --save-npy alone"
            ),
        }
    }
}
