//! `--png-scale`: how much each image pixel is enlarged.

use std::str::FromStr;

use crate::geometry::Geometry;

/// `--png-scale auto` enlarges samples until their shorter side is at least this many pixels.
const AUTO_SCALE_MIN_SIDE: usize = 64;

/// How PNG pixels are enlarged: `auto`, or each pixel to an N×N square.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PngScale {
    /// The smallest N that makes a sample's shorter side at least 64 pixels.
    Auto,
    /// N (1 keeps the model's pixels).
    Factor(u16),
}

impl FromStr for PngScale {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(PngScale::Auto),
            _ => match text.parse::<u16>() {
                Ok(factor @ 1..=64) => Ok(PngScale::Factor(factor)),
                _ => Err(format!("{text:?} is not auto or an integer in 1..=64")),
            },
        }
    }
}

impl PngScale {
    /// The factor for samples of `geometry`.
    pub fn factor(self, geometry: Geometry) -> usize {
        match self {
            PngScale::Factor(factor) => factor as usize,
            PngScale::Auto => {
                let side = geometry.height.min(geometry.width).max(1);
                AUTO_SCALE_MIN_SIDE.div_ceil(side).max(1)
            }
        }
    }
}
