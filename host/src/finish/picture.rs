//! Samples as pictures: floats in [−1, 1] to bytes, a grid of samples, enlarged pixels, and the
//! image formats `--out` writes (PNG, JPEG, WebP, by the file's extension).

use std::io::Write;

use anyhow::Result;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};

pub use crate::cli::image_format::ImageFormat;
use crate::geometry::Geometry;

/// Pixels between grid cells.
const GRID_GAP: usize = 2;

/// One value in [-1, 1] → one byte: round((v + 1)/2 · 255), clamped.
fn to_byte(value: f32) -> u8 {
    ((value + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8
}

/// CHW floats → HWC bytes.
pub fn to_pixels(sample: &[f32], geometry: Geometry) -> Vec<u8> {
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
pub fn grid_pixels(samples: &[f32], geometry: Geometry, count: usize) -> (usize, usize, Vec<u8>) {
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

pub fn encode(
    writer: impl Write,
    format: ImageFormat,
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
    let (width, height) = (width as u32, height as u32);
    match format {
        ImageFormat::Png => PngEncoder::new(writer).write_image(&pixels, width, height, color)?,
        ImageFormat::Jpeg => {
            JpegEncoder::new_with_quality(writer, 95).write_image(&pixels, width, height, color)?
        }
        ImageFormat::WebP => {
            WebPEncoder::new_lossless(writer).write_image(&pixels, width, height, color)?
        }
    }
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
