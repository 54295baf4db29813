//! `--init-noise FILE.npy`: x_T given as a float32 array [N, C, H, W]. The file is checked before
//! anything sample-sized is allocated: the header's shape must match the bytes the file holds
//! (a damaged or hostile header cannot make host allocate more than the file's size), and the
//! shape must fit the job.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ndarray::{ArrayView4, s};
use ndarray_npy::{ViewNpyError, ViewNpyExt};

/// An `--init-noise` file, read and checked against its own header.
pub struct InitNoise {
    path: PathBuf,
    /// The file's bytes, in 4-byte words so that the data is aligned for f32.
    words: Vec<u32>,
    length: usize,
}

impl InitNoise {
    /// Reads the file (its size bounds the allocation) and checks that its header describes
    /// exactly the float32 data it holds.
    pub fn read(path: &Path) -> Result<Self> {
        let describe = || format!("--init-noise {}", path.display());
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", describe()))?;
        let length = usize::try_from(file.metadata().with_context(describe)?.len())
            .context("file too large")
            .with_context(describe)?;
        let mut words = vec![0u32; length.div_ceil(4)];
        file.read_exact(&mut bytemuck::cast_slice_mut(&mut words)[..length])
            .with_context(|| format!("cannot read {}", describe()))?;
        let noise = InitNoise {
            path: path.to_path_buf(),
            words,
            length,
        };
        noise.view()?;
        Ok(noise)
    }

    fn view(&self) -> Result<ArrayView4<'_, f32>> {
        let bytes = &bytemuck::cast_slice(&self.words)[..self.length];
        ArrayView4::<f32>::view_npy(bytes).map_err(|error| {
            let why = match error {
                ViewNpyError::MissingBytes(missing) => {
                    format!("its header describes {missing} more bytes than the file holds")
                }
                ViewNpyError::ExtraBytes(extra) => {
                    format!("it holds {extra} bytes more than its header describes")
                }
                ViewNpyError::WrongNdim(_, ndim) => {
                    format!("it has rank {ndim}, expected 4 [N, C, H, W]")
                }
                ViewNpyError::WrongDescriptor(descriptor) => {
                    format!("its dtype is {descriptor}, expected float32 ('<f4')")
                }
                ViewNpyError::NonNativeEndian => "it is big-endian; expected '<f4'".to_string(),
                other => format!("it is not a valid .npy file ({other})"),
            };
            anyhow::anyhow!("--init-noise {}: {why}", self.path.display())
        })
    }

    /// The array's shape [N, C, H, W].
    pub fn shape(&self) -> [usize; 4] {
        let view = self.view().expect("checked when read");
        let shape = view.shape();
        [shape[0], shape[1], shape[2], shape[3]]
    }

    /// Samples `samples` (global indices) in logical C order, whatever the file's layout.
    pub fn samples(&self, samples: Range<u64>) -> Vec<f32> {
        let view = self.view().expect("checked when read");
        let rows = view.slice(s![samples.start as usize..samples.end as usize, .., .., ..]);
        rows.iter().copied().collect()
    }

    /// Checks the shape against the job: N samples of C×H×W.
    pub fn check(
        &self,
        num_samples: u64,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<()> {
        let shape = self.shape();
        let expected = [num_samples as usize, channels, height, width];
        if num_samples > usize::MAX as u64 || shape != expected {
            bail!(
                "--init-noise {} has shape {shape:?}, expected [num-samples, C, H, W] = {expected:?}",
                self.path.display()
            );
        }
        Ok(())
    }
}
