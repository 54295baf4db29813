//! Output files: a PNG grid, one PNG per sample, and `.npy` with the exact values. Each is written
//! to a temporary file beside its target and renamed into place only after the run succeeded, so a
//! failed run leaves nothing half-written. Targets are checked (and the temporary files created)
//! before sampling starts, so an unwritable path fails in a second, not after the run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use ndarray::ArrayView4;
use ndarray_npy::WriteNpyExt;
use tempfile::NamedTempFile;

use crate::sampling::Geometry;

/// Pixels between grid cells.
const GRID_GAP: usize = 2;

/// A temporary file waiting to become `target`.
struct Pending {
    target: PathBuf,
    file: NamedTempFile,
}

impl Pending {
    fn new(target: &Path, flag: &str) -> Result<Self> {
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".host-")
            .suffix(".partial")
            .tempfile_in(directory)
            .with_context(|| format!("cannot write {flag} {}", target.display()))?;
        Ok(Pending {
            target: target.to_path_buf(),
            file,
        })
    }

    fn write(
        mut self,
        contents: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
    ) -> Result<PathBuf> {
        {
            let mut writer = BufWriter::new(self.file.as_file());
            contents(&mut writer)?;
            writer.flush()?;
        }
        self.file.as_file_mut().sync_all()?;
        self.file
            .persist(&self.target)
            .with_context(|| format!("cannot rename into {}", self.target.display()))?;
        Ok(self.target)
    }
}

/// The outputs asked for, ready to be written.
pub struct Outputs {
    grid: Option<Pending>,
    npy: Option<Pending>,
    directory: Option<PathBuf>,
}

impl Outputs {
    /// Checks every target and reserves its temporary file.
    pub fn prepare(
        grid: Option<&Path>,
        directory: Option<&Path>,
        npy: Option<&Path>,
    ) -> Result<Self> {
        let grid = grid.map(|path| Pending::new(path, "--out")).transpose()?;
        let npy = npy
            .map(|path| Pending::new(path, "--save-npy"))
            .transpose()?;
        if let Some(directory) = directory {
            std::fs::create_dir_all(directory)
                .with_context(|| format!("cannot create --out-dir {}", directory.display()))?;
            // Proves the directory is writable now; the probe is removed on drop.
            Pending::new(&directory.join("probe"), "--out-dir")?;
        }
        Ok(Outputs {
            grid,
            npy,
            directory: directory.map(Path::to_path_buf),
        })
    }

    /// Whether any PNG is asked for (they need 1, 3 or 4 channels).
    pub fn wants_png(&self) -> bool {
        self.grid.is_some() || self.directory.is_some()
    }

    /// Writes everything; `samples` holds the samples of `indices` (global), NCHW.
    /// `png_scale` enlarges every pixel of the PNGs to a square of that side (nearest neighbour).
    pub fn write(
        self,
        samples: &[f32],
        geometry: Geometry,
        indices: Range<u64>,
        png_scale: usize,
    ) -> Result<Vec<PathBuf>> {
        let count = (indices.end - indices.start) as usize;
        let mut written = Vec::new();
        if let Some(npy) = self.npy {
            let shape = (count, geometry.channels, geometry.height, geometry.width);
            let array = ArrayView4::from_shape(shape, samples)?;
            written.push(npy.write(|writer| Ok(array.write_npy(writer)?))?);
        }
        let per_sample = geometry.elements();
        if let Some(grid) = self.grid {
            let (width, height, pixels) = grid_pixels(samples, geometry, count);
            written.push(grid.write(|writer| {
                encode_png(writer, &pixels, width, height, geometry.channels, png_scale)
            })?);
        }
        if let Some(directory) = self.directory {
            for (sample, index) in samples.chunks(per_sample).zip(indices) {
                let pending = Pending::new(
                    &directory.join(format!("sample_{index:06}.png")),
                    "--out-dir",
                )?;
                let pixels = to_pixels(sample, geometry);
                let (width, height) = (geometry.width, geometry.height);
                written.push(pending.write(|writer| {
                    encode_png(writer, &pixels, width, height, geometry.channels, png_scale)
                })?);
            }
        }
        Ok(written)
    }
}

/// Checks that PNG can represent `channels`.
pub fn check_png_channels(channels: usize) -> Result<()> {
    if !matches!(channels, 1 | 3 | 4) {
        bail!("PNG needs 1, 3 or 4 channels and the samples have {channels}; use --save-npy alone");
    }
    Ok(())
}

/// One value in [-1, 1] → one byte: round((v + 1)/2 · 255), clamped.
fn to_byte(value: f32) -> u8 {
    ((value + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
}

/// CHW floats → HWC bytes.
fn to_pixels(sample: &[f32], geometry: Geometry) -> Vec<u8> {
    let plane = geometry.height * geometry.width;
    let mut pixels = vec![0u8; sample.len()];
    for (channel, values) in sample.chunks(plane).enumerate() {
        for (position, &value) in values.iter().enumerate() {
            pixels[position * geometry.channels + channel] = to_byte(value);
        }
    }
    pixels
}

/// Samples tiled ⌈√n⌉ to a row with a black gap.
fn grid_pixels(samples: &[f32], geometry: Geometry, count: usize) -> (usize, usize, Vec<u8>) {
    let columns = (count as f64).sqrt().ceil().max(1.0) as usize;
    let rows = count.div_ceil(columns).max(1);
    let width = columns * geometry.width + (columns - 1) * GRID_GAP;
    let height = rows * geometry.height + (rows - 1) * GRID_GAP;
    let channels = geometry.channels;
    let mut pixels = vec![0u8; width * height * channels];
    for (number, sample) in samples.chunks(geometry.elements()).enumerate() {
        let (row, column) = (number / columns, number % columns);
        let (top, left) = (
            row * (geometry.height + GRID_GAP),
            column * (geometry.width + GRID_GAP),
        );
        let cell = to_pixels(sample, geometry);
        for y in 0..geometry.height {
            let source = &cell[y * geometry.width * channels..(y + 1) * geometry.width * channels];
            let start = ((top + y) * width + left) * channels;
            pixels[start..start + source.len()].copy_from_slice(source);
        }
    }
    (width, height, pixels)
}

fn encode_png(
    writer: impl Write,
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    scale: usize,
) -> Result<()> {
    let (pixels, width, height) = upscale(pixels, width, height, channels, scale);
    let color = match channels {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        _ => ExtendedColorType::Rgba8,
    };
    PngEncoder::new(writer).write_image(&pixels, width as u32, height as u32, color)?;
    Ok(())
}

/// Each pixel becomes a `scale`×`scale` square.
fn upscale(
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    scale: usize,
) -> (Vec<u8>, usize, usize) {
    let (big_width, big_height) = (width * scale, height * scale);
    let mut out = Vec::with_capacity(big_width * big_height * channels);
    for y in 0..big_height {
        let row = &pixels[(y / scale) * width * channels..(y / scale + 1) * width * channels];
        for pixel in row.chunks(channels) {
            for _ in 0..scale {
                out.extend_from_slice(pixel);
            }
        }
    }
    (out, big_width, big_height)
}

/// Reads `--init-noise`: a float32 `.npy` of rank 4.
pub fn read_init_noise(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    use ndarray_npy::ReadNpyExt;
    let file =
        File::open(path).with_context(|| format!("cannot read --init-noise {}", path.display()))?;
    let array = ndarray::Array4::<f32>::read_npy(file).with_context(|| {
        format!(
            "--init-noise {} is not a float32 .npy of rank 4",
            path.display()
        )
    })?;
    // Logical (C) order whatever the file's layout.
    Ok((array.shape().to_vec(), array.iter().copied().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_map_minus_one_to_zero_and_one_to_255() {
        assert_eq!(to_byte(-1.0), 0);
        assert_eq!(to_byte(1.0), 255);
        assert_eq!(to_byte(0.0), 128);
        assert_eq!(to_byte(-7.0), 0);
        assert_eq!(to_byte(3.0), 255);
    }

    #[test]
    fn upscale_repeats_pixels() {
        let (out, width, height) = upscale(&[1, 2, 3, 4], 2, 2, 1, 2);
        assert_eq!((width, height), (4, 4));
        assert_eq!(out, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    }

    #[test]
    fn grid_places_samples_row_by_row() {
        let geometry = Geometry {
            channels: 1,
            height: 1,
            width: 1,
        };
        let (width, height, pixels) = grid_pixels(&[-1.0, 1.0, 1.0], geometry, 3);
        assert_eq!((width, height), (4, 4));
        assert_eq!(pixels[0], 0);
        assert_eq!(pixels[3], 255);
        assert_eq!(pixels[3 * 4], 255);
    }
}
