//! The manifest that travels with each output (`X.npy.json` beside `--save-npy X.npy`,
//! `DIR/manifest_START-END.json` in `--out-dir DIR`): what the samples are, so that the parts of
//! a sharded job can be checked and merged (`host merge`), and a stray file can be traced.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The format's name and version, first in every manifest.
pub const FORMAT: &str = "diffusion-host part v1";

/// A manifest is a few KB (more with 1000 trained betas); larger files are not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What must be equal for parts to belong to one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobIdentity {
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// The resolved sampler, field by field (Rust's exact float formatting).
    pub sampler: BTreeMap<String, String>,
    /// Samples of the whole job.
    pub total_samples: u64,
    /// The seed.
    pub seed: u64,
    /// Noise spec version.
    pub noise: String,
    /// [C, H, W].
    pub sample_shape: [usize; 3],
    /// SHA-256 of `--init-noise`, if x_T came from a file.
    pub init_noise_sha256: Option<String>,
    /// The VAE decoder that turned the latents into the images written (`--vae-decoder`);
    /// `sample_shape` is then the images' shape. Absent in manifests written before it existed.
    #[serde(default)]
    pub vae_decoder: Option<DecoderIdentity>,
}

/// What decoded the latents ([`crate::vae`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderIdentity {
    /// SHA-256 of the decoder's ONNX file.
    pub sha256: String,
    /// The latents were divided by this.
    pub scaling_factor: f64,
    /// And this added.
    pub shift_factor: f64,
}

/// One output's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The job the samples belong to.
    pub job: JobIdentity,
    /// The global indices held: start..end.
    pub samples: [u64; 2],
    /// Whether every sample of the range is there.
    pub complete: bool,
    /// host's version.
    pub host_version: String,
    /// The execution provider (the last bits of a model's output may differ between providers).
    pub provider: String,
    /// The model file as named on the command line (for people; not compared).
    pub model_file: String,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn read(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        if file.metadata()?.len() > MAX_MANIFEST_BYTES {
            bail!("{} is too large to be a manifest", path.display());
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a host manifest", path.display()))?;
        if manifest.format != FORMAT {
            bail!(
                "{}: format {:?}, expected {FORMAT:?}",
                path.display(),
                manifest.format
            );
        }
        let [start, end] = manifest.samples;
        if start >= end || end > manifest.job.total_samples {
            bail!(
                "{}: sample range {start}..{end} of {}",
                path.display(),
                manifest.job.total_samples
            );
        }
        Ok(manifest)
    }

    /// The manifest as written (pretty JSON and a final newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        text.push('\n');
        text
    }
}

impl JobIdentity {
    /// The first field in which `other` differs, by name, with both values.
    pub fn difference(&self, other: &JobIdentity) -> Option<String> {
        let (ours, theirs) = (
            serde_json::to_value(self).ok()?,
            serde_json::to_value(other).ok()?,
        );
        let (ours, theirs) = (ours.as_object()?, theirs.as_object()?);
        for (key, value) in ours {
            let other_value = &theirs[key];
            if value == other_value {
                continue;
            }
            // For the sampler, name the field of the sampler that differs.
            if let (Some(a), Some(b)) = (value.as_object(), other_value.as_object())
                && let Some((field, x)) = a.iter().find(|(field, x)| b.get(*field) != Some(*x))
            {
                let y = b.get(field).unwrap_or(&serde_json::Value::Null);
                return Some(format!("{key}.{field}: {x} vs {y}"));
            }
            return Some(format!("{key}: {value} vs {other_value}"));
        }
        None
    }
}

/// The resolved sampler as (field, value) pairs: every value that decides the samples.
pub fn sampler_fields(
    resolved: &crate::resolve::scheduler::SchedulerSettings,
) -> BTreeMap<String, String> {
    resolved
        .manifest_fields()
        .into_iter()
        .map(|(key, value)| (key, value.to_string()))
        .collect()
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobIdentity {
        JobIdentity {
            model_sha256: "ab".into(),
            sampler: BTreeMap::from([
                ("scheduler".into(), "Ddim".into()),
                ("steps".into(), "25".into()),
            ]),
            total_samples: 10,
            seed: 0,
            noise: "v1".into(),
            sample_shape: [3, 8, 8],
            init_noise_sha256: None,
            vae_decoder: None,
        }
    }

    #[test]
    fn differences_are_named() {
        assert_eq!(job().difference(&job()), None);
        let other = JobIdentity { seed: 7, ..job() };
        assert_eq!(job().difference(&other).unwrap(), "seed: 0 vs 7");
        let mut steps = job();
        steps.sampler.insert("steps".into(), "50".into());
        assert_eq!(
            job().difference(&steps).unwrap(),
            r#"sampler.steps: "25" vs "50""#
        );
    }
}
