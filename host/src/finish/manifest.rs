//! The manifest that travels with each output (`X.npy.json` beside `--save-npy X.npy`,
//! `DIR/manifest_START-END.json` in `--out-dir DIR`): what the samples are, so that the parts of
//! a sharded job can be checked and merged (`host merge`), and a stray file can be traced.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::hex;

/// The format's name, first in every manifest; [`FORMAT_VERSION`] follows it.
pub const FORMAT: &str = "diffusion-host manifest";

/// The manifest format's version: 2 has the settings under diffusers' key names as JSON values
/// and `job_sha256`. Version 1 (`"format": "diffusion-host part v1"`) held Rust's debug text of
/// the settings and is refused.
pub const FORMAT_VERSION: u32 = 2;

/// A manifest is a few KB (more with 1000 trained betas); larger files are not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// What must be equal for parts to belong to one job: exactly the fields that change the bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobIdentity {
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// The scheduler under diffusers' key names: `_class_name`, `num_inference_steps`, and every
    /// key its class has ([`crate::scheduler::keys::KEYS`]), as JSON values.
    pub scheduler: BTreeMap<String, Value>,
    /// Classifier-free guidance and the extra model inputs (empty for a model without them):
    /// `guidance_scale`, `guidance_rescale`, and per input the SHA-256 of its values.
    pub conditioning: BTreeMap<String, Value>,
    /// Samples of the whole job.
    pub total_samples: u64,
    /// The seed.
    pub seed: u64,
    /// Noise spec version.
    pub noise: String,
    /// [C, H, W] of the samples written.
    pub sample_shape: [usize; 3],
    /// SHA-256 of `--init-noise`, if x_T came from a file.
    pub init_noise_sha256: Option<String>,
    /// The VAE decoder that turned the latents into the images written (`--vae-decoder`).
    pub vae_decoder: Option<DecoderIdentity>,
}

/// What decoded the latents ([`crate::bind::vae`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The job the samples belong to.
    pub job: JobIdentity,
    /// SHA-256 of the job's canonical form ([`JobIdentity::sha256`]): the job's identity.
    pub job_sha256: String,
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
    /// A manifest of `job` for the samples `samples`.
    pub fn new(job: &JobIdentity, samples: [u64; 2], provider: &str, model_file: &Path) -> Self {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            job: job.clone(),
            job_sha256: job.sha256(),
            samples,
            complete: true,
            host_version: env!("CARGO_PKG_VERSION").into(),
            provider: provider.into(),
            model_file: model_file.display().to_string(),
        }
    }

    /// Reads and checks a manifest file: its format and version, that `job_sha256` is its
    /// job's, and its range.
    pub fn read(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        if file.metadata()?.len() > MAX_MANIFEST_BYTES {
            bail!("{} is too large to be a manifest", path.display());
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let raw: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a host manifest", path.display()))?;
        check_format(&raw, path)?;
        let manifest: Manifest = serde_json::from_value(raw)
            .with_context(|| format!("{} is not a host manifest", path.display()))?;
        if manifest.job_sha256 != manifest.job.sha256() {
            bail!(
                "{}: job_sha256 is not the digest of its job (the file was edited)",
                path.display()
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

    /// The manifest as written (pretty JSON, keys in a fixed order, and a final newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        text.push('\n');
        text
    }
}

/// Refuses a file of another format or version in one line.
pub fn check_format(raw: &Value, path: &Path) -> Result<()> {
    let format = raw.get("format").and_then(Value::as_str);
    let version = raw.get("format_version").and_then(Value::as_u64);
    match (format, version) {
        (Some(FORMAT), Some(version)) if version == u64::from(FORMAT_VERSION) => Ok(()),
        (Some(FORMAT), Some(version)) => bail!(
            "{}: manifest format version {version}; this host reads version {FORMAT_VERSION}",
            path.display()
        ),
        (Some(other), _) => bail!(
            "{}: manifest format {other:?}, written by an older host; this host reads \
             {FORMAT:?} version {FORMAT_VERSION} (run that part again)",
            path.display()
        ),
        (None, _) => bail!("{} is not a host manifest (no format)", path.display()),
    }
}

/// `value` with every object's keys sorted (serde_json's own maps are sorted, but a canonical
/// form should not depend on a feature flag of the build).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map
                .iter()
                .map(|(key, value)| (key, canonical(value)))
                .collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

impl JobIdentity {
    /// The job as canonical JSON: compact, object keys sorted, numbers as serde_json writes them
    /// (the shortest digits that read back to the same f32 or f64).
    pub fn canonical_json(&self) -> String {
        let value = serde_json::to_value(self).expect("a job serializes");
        serde_json::to_string(&canonical(&value)).expect("a value serializes")
    }

    /// SHA-256 of [`Self::canonical_json`], as lowercase hex.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex(&Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// The first field in which `other` differs, by its dotted path, with both values:
    /// `seed: 0 vs 1`, `scheduler.solver_order: 2 vs 3`.
    pub fn difference(&self, other: &JobIdentity) -> Option<String> {
        let ours = serde_json::to_value(self).ok()?;
        let theirs = serde_json::to_value(other).ok()?;
        first_difference(&ours, &theirs, "")
    }
}

fn first_difference(ours: &Value, theirs: &Value, path: &str) -> Option<String> {
    if ours == theirs {
        return None;
    }
    if let (Value::Object(a), Value::Object(b)) = (ours, theirs) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let null = Value::Null;
            let (x, y) = (a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null));
            let inner = match path {
                "" => key.clone(),
                _ => format!("{path}.{key}"),
            };
            if let Some(difference) = first_difference(x, y, &inner) {
                return Some(difference);
            }
        }
    }
    Some(format!("{path}: {ours} vs {theirs}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobIdentity {
        JobIdentity {
            model_sha256: "ab".into(),
            scheduler: BTreeMap::from([
                ("_class_name".into(), "DDIMScheduler".into()),
                ("num_inference_steps".into(), 25.into()),
                ("clip_sample_range".into(), Value::from(1.5f32)),
            ]),
            conditioning: BTreeMap::new(),
            total_samples: 10,
            seed: 0,
            noise: "v1".into(),
            sample_shape: [3, 8, 8],
            init_noise_sha256: None,
            vae_decoder: None,
        }
    }

    #[test]
    fn differences_are_named_by_their_path() {
        assert_eq!(job().difference(&job()), None);
        let other = JobIdentity { seed: 7, ..job() };
        assert_eq!(job().difference(&other).unwrap(), "seed: 0 vs 7");
        let mut steps = job();
        steps
            .scheduler
            .insert("num_inference_steps".into(), 50.into());
        assert_eq!(
            job().difference(&steps).unwrap(),
            "scheduler.num_inference_steps: 25 vs 50"
        );
        let mut added = job();
        added.scheduler.insert("eta".into(), Value::from(0.5f32));
        assert_eq!(
            job().difference(&added).unwrap(),
            "scheduler.eta: null vs 0.5"
        );
    }

    #[test]
    fn the_identity_is_a_digest_of_the_canonical_json() {
        let text = job().canonical_json();
        assert!(
            text.starts_with(r#"{"conditioning":{},"init_noise_sha256":null,"model_sha256":"ab""#)
        );
        // f32 values keep their shortest f32 digits.
        assert!(text.contains(r#""clip_sample_range":1.5"#), "{text}");
        assert_eq!(job().sha256(), job().sha256());
        assert_ne!(job().sha256(), JobIdentity { seed: 1, ..job() }.sha256());
        assert_eq!(job().sha256().len(), 64);
    }

    #[test]
    fn older_formats_are_refused_in_one_line() {
        let path = Path::new("x.npy.json");
        let old = serde_json::json!({"format": "diffusion-host part v1"});
        let error = check_format(&old, path).unwrap_err().to_string();
        assert!(
            error.contains("\"diffusion-host part v1\", written by an older host"),
            "{error}"
        );
        assert!(!error.contains('\n'));
        let newer = serde_json::json!({"format": FORMAT, "format_version": 3});
        assert!(check_format(&newer, path).is_err());
        let current = serde_json::json!({"format": FORMAT, "format_version": 2});
        assert!(check_format(&current, path).is_ok());
    }
}
