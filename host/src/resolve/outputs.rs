//! The outputs asked for, checked without touching the file system beyond looking: which
//! targets, their names (an image format, `.npy`), that none is a directory and that each one's
//! directory exists, and the `--resume` combinations. The files themselves are created by
//! [`crate::finish::output::Outputs::prepare`] once the model is bound.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::cli::Cli;
use crate::cli::image_format::ImageFormat;

/// Where the samples go.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputTargets {
    /// The image grid (`--out`, or `samples.png` when no output is named).
    pub grid: Option<(PathBuf, ImageFormat)>,
    /// `--out-dir`.
    pub out_dir: Option<PathBuf>,
    /// `--save-npy`.
    pub npy: Option<PathBuf>,
    /// `--save-latents`.
    pub latents: Option<PathBuf>,
    /// `--resume`.
    pub resume: bool,
}

/// `target` is not a directory and its directory exists.
fn check_target(target: &Path, flag: &str) -> Result<()> {
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if target.is_dir() {
        bail!(
            "cannot write {flag} {}: it is a directory",
            target.display()
        );
    }
    if !directory.is_dir() {
        bail!(
            "cannot write {flag} {}: no directory {}",
            target.display(),
            directory.display()
        );
    }
    Ok(())
}

/// `path` ends in `.npy`.
fn check_npy(path: &Path, flag: &str) -> Result<()> {
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        bail!("{flag} {}: the file name must end in .npy", path.display());
    }
    check_target(path, flag)
}

impl OutputTargets {
    /// The targets of `flags`, checked.
    pub fn resolve(flags: &Cli) -> Result<Self> {
        // samples.png when no output is named (--resume instead asks for a place for its
        // progress).
        let no_output_named =
            flags.out.is_none() && flags.out_dir.is_none() && flags.save_npy.is_none();
        let default_grid =
            (no_output_named && !flags.resume).then(|| Path::new("samples.png").to_path_buf());
        let grid = flags.out.clone().or(default_grid);
        if flags.resume && grid.is_some() {
            bail!(
                "--resume keeps progress in --save-npy and --out-dir only; drop --out (a grid can \
                 be made from the .npy afterwards)"
            );
        }
        if flags.resume && flags.save_npy.is_none() && flags.out_dir.is_none() {
            bail!("--resume needs --save-npy or --out-dir to keep its progress in");
        }
        let grid = grid
            .map(|path| -> Result<_> {
                if path.is_dir() {
                    bail!("cannot write --out {}: it is a directory", path.display());
                }
                let format = ImageFormat::of(&path)?;
                check_target(&path, "--out")?;
                Ok((path, format))
            })
            .transpose()?;
        if let Some(npy) = &flags.save_npy {
            check_npy(npy, "--save-npy")?;
        }
        if let Some(latents) = &flags.save_latents {
            check_npy(latents, "--save-latents")?;
        }
        if let Some(directory) = &flags.out_dir
            && directory.exists()
            && !directory.is_dir()
        {
            bail!(
                "cannot create --out-dir {}: it exists and is not a directory",
                directory.display()
            );
        }
        Ok(OutputTargets {
            grid,
            out_dir: flags.out_dir.clone(),
            npy: flags.save_npy.clone(),
            latents: flags.save_latents.clone(),
            resume: flags.resume,
        })
    }

    /// Checks that the image outputs can hold samples of `channels`.
    pub fn check_channels(&self, channels: usize) -> Result<()> {
        if let Some((_, format)) = &self.grid {
            format.check_channels(channels)?;
        }
        if self.out_dir.is_some() {
            ImageFormat::Png.check_channels(channels)?;
        }
        Ok(())
    }

    /// Whether any output carries a manifest (so that the model's hash is needed).
    pub fn wants_manifest(&self) -> bool {
        self.npy.is_some() || self.out_dir.is_some()
    }
}
