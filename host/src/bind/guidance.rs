//! Resolves the model's conditioning and classifier-free guidance, once, before the first model
//! call: `--input`, `--uncond-input`, `--class-label(s)`, `--guidance-scale`, `--guidance-rescale`
//! and the `guidance.json` next to the model become the values of every input besides the sample
//! and the timestep, each checked against the model, and a [`diffusion_core::Guidance`].
//!
//! `guidance.json` (this project's file, shipped with a class-conditional model):
//! `{"null_class_label": 10, "guidance_scale": 3.0, "num_class_labels": 10}` — the unconditional
//! label, the recommended scale, and the number of real labels (0 ..= num_class_labels − 1). With a
//! class label given, the null label is the unconditional input and the scale is the default.
//!
//! The guided batch follows diffusers' StableDiffusionPipeline: the unconditional half first
//! (`torch.cat([negative_prompt_embeds, prompt_embeds])`), then the conditional one; the model's
//! output splits the same way (`noise_pred.chunk(2)` is `(uncond, text)`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use diffusion_core::Guidance;
use serde::Deserialize;

use crate::bind::model_inputs::{InputArray, ModelInput, Values, model_element};
use crate::bind::signature::{ExtraInput, Signature};
use crate::cli::Cli;

/// The name of the class-label input of diffusers' class-conditional `UNet2DModel`.
pub const CLASS_LABELS: &str = "class_labels";

/// The file next to the model that gives its null label and recommended guidance.
pub const GUIDANCE_FILE: &str = "guidance.json";

/// `guidance.json`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct GuidanceFile {
    /// The class label the model was trained with as "no class" (labels dropped for guidance).
    pub null_class_label: Option<i64>,
    /// The recommended guidance scale.
    pub guidance_scale: Option<f64>,
    /// The number of real class labels: 0 ..= num_class_labels − 1.
    pub num_class_labels: Option<i64>,
}

impl GuidanceFile {
    /// Reads `guidance.json`; errors name the file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: GuidanceFile = json5::from_str(&text).map_err(|error| {
            anyhow!(
                "malformed {}: {}",
                path.display(),
                error.to_string().replace('\n', " ")
            )
        })?;
        if file.num_class_labels.is_some_and(|n| n < 1) {
            bail!("{}: num_class_labels must be at least 1", path.display());
        }
        if file.null_class_label.is_some_and(|k| k < 0) {
            bail!("{}: null_class_label must be >= 0", path.display());
        }
        Ok(file)
    }
}

/// The run's conditioning: the values of every extra model input, and the guidance when both
/// predictions are needed (s ≠ 1, and s ≠ 0 or a rescale: at s = 1 the inputs are the conditional
/// values, at s = 0 without a rescale the unconditional ones, one model call per step).
#[derive(Clone, Debug, Default)]
pub struct Conditioning {
    /// One per extra model input, in the model's order.
    pub inputs: Vec<ModelInput>,
    /// `Some` when each step needs both the unconditional and the conditional prediction.
    pub guidance: Option<Guidance>,
    /// Guidance scale 0 without a rescale: the inputs are the unconditional values.
    pub unconditional_only: bool,
}

impl Conditioning {
    /// The manifest's `conditioning` (empty for a model without extra inputs): the guidance
    /// scale and rescale in effect (1 and 0 without guidance, 0 when only the unconditional
    /// inputs run), and per input the SHA-256 of its values and shapes, so that parts or a
    /// resumed run with other inputs are not taken for the same job.
    pub fn identity_fields(&self) -> BTreeMap<String, serde_json::Value> {
        use sha2::{Digest, Sha256};
        let mut fields = BTreeMap::new();
        if self.inputs.is_empty() {
            return fields;
        }
        let (scale, rescale) = match (&self.guidance, self.unconditional_only) {
            (Some(guidance), _) => (guidance.scale(), guidance.rescale()),
            (None, true) => (0.0, 0.0),
            (None, false) => (1.0, 0.0),
        };
        fields.insert("guidance_scale".into(), scale.into());
        fields.insert("guidance_rescale".into(), rescale.into());
        let mut digests = serde_json::Map::new();
        for input in &self.inputs {
            let mut hash = Sha256::new();
            for array in std::iter::once(&input.conditional).chain(&input.unconditional) {
                hash.update(format!("{:?}", array.shape));
                match &array.values {
                    Values::Int64(v) => v.iter().for_each(|x| hash.update(x.to_le_bytes())),
                    Values::Int32(v) => v.iter().for_each(|x| hash.update(x.to_le_bytes())),
                    Values::Float32(v) => v.iter().for_each(|x| hash.update(x.to_le_bytes())),
                }
            }
            digests.insert(
                input.name.clone(),
                crate::digest::hex(&hash.finalize()).into(),
            );
        }
        fields.insert("inputs_sha256".into(), digests.into());
        fields
    }

    /// Model calls per step and batch: 2 when guided with a fixed-batch model, else 1.
    pub fn calls_per_step(&self, doubled_batch: bool) -> u64 {
        match (&self.guidance, doubled_batch) {
            (Some(_), false) => 2,
            _ => 1,
        }
    }
}

/// The values given for one input, before they are checked.
struct Given {
    conditional: Option<InputArray>,
    unconditional: Option<InputArray>,
}

/// Resolves the conditioning of `signature` for a job of `num_samples` samples; `model` is the
/// U-Net's file (its folder may hold `guidance.json`).
pub fn resolve(
    cli: &Cli,
    signature: &Signature,
    model: &Path,
    num_samples: u64,
) -> Result<Conditioning> {
    let config_path: PathBuf = model.parent().unwrap_or(Path::new(".")).join(GUIDANCE_FILE);
    let config = match config_path.is_file() {
        true => GuidanceFile::read(&config_path)?,
        false => GuidanceFile::default(),
    };
    let mut given = given_values(cli, signature, &config, &config_path)?;
    let has_unconditional = given.values().any(|slot| slot.unconditional.is_some());
    let guidance = guidance(cli, &config, has_unconditional)?;
    let mut inputs = Vec::new();
    for input in &signature.extra_inputs {
        let Some(slot) = given.remove(&input.name) else {
            let how = match input.name == CLASS_LABELS {
                true => "--class-label K or --class-labels FILE.npy".to_string(),
                false => format!("--input {}=FILE.npy", input.name),
            };
            bail!(
                "the model requires input {} besides the sample and the timestep: give it with {how}",
                input.description
            );
        };
        let labels = (input.name == CLASS_LABELS).then_some((&config, config_path.as_path()));
        inputs.push(model_input(input, slot, &guidance, labels, num_samples)?);
    }
    Ok(Conditioning {
        inputs,
        guidance: (guidance.needs_unconditional() && guidance.needs_conditional())
            .then_some(guidance),
        unconditional_only: has_unconditional && !guidance.needs_conditional(),
    })
}

/// The guidance: `--guidance-scale` (else the file's recommended scale when there are
/// unconditional values, else 1) and `--guidance-rescale`.
fn guidance(cli: &Cli, config: &GuidanceFile, has_unconditional: bool) -> Result<Guidance> {
    let scale = match (cli.guidance_scale, config.guidance_scale) {
        (Some(scale), _) => scale,
        (None, Some(recommended)) if has_unconditional => recommended,
        (None, _) if !cli.uncond_inputs.is_empty() => {
            bail!("--uncond-input needs --guidance-scale S (the scale of classifier-free guidance)")
        }
        (None, _) => 1.0,
    };
    let guidance = Guidance::new(scale, cli.guidance_rescale).map_err(|_| {
        anyhow!(
            "--guidance-scale {scale} --guidance-rescale {}: the scale must be finite and the rescale in [0, 1]",
            cli.guidance_rescale
        )
    })?;
    if guidance.needs_unconditional() && !has_unconditional {
        bail!(
            "--guidance-scale {scale} needs the unconditional inputs: --uncond-input NAME=FILE.npy \
             (or, for a class-conditional model, null_class_label in {GUIDANCE_FILE} next to it)"
        );
    }
    Ok(guidance)
}

/// The model input `input` from its given values, checked against the model and the job; for
/// the class labels, `labels` is `guidance.json` and its path.
fn model_input(
    input: &ExtraInput,
    slot: Given,
    guidance: &Guidance,
    labels: Option<(&GuidanceFile, &Path)>,
    num_samples: u64,
) -> Result<ModelInput> {
    let element = model_element(input)?;
    let mut conditional = slot
        .conditional
        .expect("every slot has a conditional value")
        .converted_to(element);
    conditional.check(input, num_samples)?;
    let mut unconditional = match guidance.needs_unconditional() {
        true => slot.unconditional.map(|u| u.converted_to(element)),
        false => None,
    };
    if let Some(unconditional) = &unconditional {
        unconditional.check(input, num_samples)?;
        // A dynamic dimension (a prompt's sequence length) may differ between the files, but
        // both halves of a guided batch are one tensor: their rows must have one shape.
        if unconditional.shape[1..] != conditional.shape[1..] {
            bail!(
                "{}: shape {:?} differs from {} {:?} after the first dimension (both halves of a guided batch need rows of one shape)",
                unconditional.source,
                unconditional.shape,
                conditional.source,
                conditional.shape
            );
        }
    }
    if let Some((config, config_path)) = labels {
        check_class_labels(&conditional, config, config_path, None)?;
        if let Some(unconditional) = &unconditional {
            check_class_labels(unconditional, config, config_path, config.null_class_label)?;
        }
    }
    // s = 0 without a rescale: the guided prediction is the unconditional one, so the one
    // call per step sees the unconditional values (the conditional ones where it has none).
    if !guidance.needs_conditional()
        && let Some(values) = unconditional.take()
    {
        conditional = values;
    }
    Ok(ModelInput {
        name: input.name.clone(),
        element,
        row_shape: conditional.shape[1..].to_vec(),
        conditional,
        unconditional,
    })
}

/// The values the flags give for each input (`--input`, `--class-label(s)`,
/// `--uncond-input`), and the null class label of `guidance.json` as the class labels'
/// unconditional value unless one is given.
fn given_values(
    cli: &Cli,
    signature: &Signature,
    config: &GuidanceFile,
    config_path: &Path,
) -> Result<BTreeMap<String, Given>> {
    let find = |flag: &str, name: &str| -> Result<&ExtraInput> {
        if name == signature.sample_input || name == signature.timestep_input {
            bail!(
                "{flag} {name}: that is the model's sample or timestep input, which host feeds itself"
            );
        }
        signature
            .extra_inputs
            .iter()
            .find(|input| input.name == name)
            .ok_or_else(|| {
                anyhow!(
                    "{flag} {name}: the model has no input {name} (inputs: {})",
                    signature.all_inputs
                )
            })
    };
    let mut given: BTreeMap<String, Given> = BTreeMap::new();
    for file in &cli.inputs {
        let input = find("--input", &file.name)?;
        let source = format!("--input {}={}", file.name, file.path.display());
        let array = InputArray::read(source, &file.path)?;
        let slot = given.entry(input.name.clone()).or_insert(Given {
            conditional: None,
            unconditional: None,
        });
        if slot.conditional.replace(array).is_some() {
            bail!("--input {} is given twice", file.name);
        }
    }
    if cli.class_label.is_some() || cli.class_labels.is_some() {
        let flag = match cli.class_label {
            Some(_) => "--class-label",
            None => "--class-labels",
        };
        let input = signature
            .extra_inputs
            .iter()
            .find(|input| input.name == CLASS_LABELS)
            .ok_or_else(|| {
                anyhow!(
                    "{flag}: the model has no {CLASS_LABELS} input (inputs: {})",
                    signature.all_inputs
                )
            })?;
        let array = match (cli.class_label, &cli.class_labels) {
            (Some(label), _) => InputArray {
                source: format!("--class-label {label}"),
                shape: vec![1; input.dims.len().max(1)],
                values: Values::Int64(vec![label]),
            },
            (None, Some(path)) => {
                InputArray::read(format!("--class-labels {}", path.display()), path)?
            }
            (None, None) => unreachable!("one of them is given"),
        };
        if array.values.integers().is_none() {
            bail!(
                "{}: class labels must be integers (int64 or int32)",
                array.source
            );
        }
        let slot = given.entry(input.name.clone()).or_insert(Given {
            conditional: None,
            unconditional: None,
        });
        if slot.conditional.is_some() {
            bail!("{flag} and --input {CLASS_LABELS} both give the class labels");
        }
        slot.conditional = Some(array);
    }
    for file in &cli.uncond_inputs {
        let input = find("--uncond-input", &file.name)?;
        let source = format!("--uncond-input {}={}", file.name, file.path.display());
        let array = InputArray::read(source, &file.path)?;
        let slot = given.get_mut(&input.name).ok_or_else(|| {
            anyhow!(
                "--uncond-input {}: the input has no conditional value (give --input {}=FILE.npy)",
                file.name,
                file.name
            )
        })?;
        if slot.unconditional.replace(array).is_some() {
            bail!("--uncond-input {} is given twice", file.name);
        }
    }
    // The null label is the class labels' unconditional value, unless given.
    if let (Some(slot), Some(null)) = (given.get_mut(CLASS_LABELS), config.null_class_label)
        && slot.unconditional.is_none()
    {
        let rank = slot.conditional.as_ref().map_or(1, |c| c.shape.len());
        slot.unconditional = Some(InputArray {
            source: format!("{} null_class_label {null}", config_path.display()),
            shape: vec![1; rank],
            values: Values::Int64(vec![null]),
        });
    }
    Ok(given)
}

/// Class labels are 0 ..= num_class_labels − 1 (when `guidance.json` says how many), else >= 0;
/// `null`, the null label, is allowed too (in the unconditional values).
fn check_class_labels(
    array: &InputArray,
    config: &GuidanceFile,
    path: &Path,
    null: Option<i64>,
) -> Result<()> {
    let labels = array.values.integers().unwrap_or_default();
    let out_of_range =
        |k: i64| k < 0 || (config.num_class_labels.is_some_and(|n| k >= n) && Some(k) != null);
    if let Some(&label) = labels.iter().find(|&&k| out_of_range(k)) {
        let or_null = match null {
            Some(null) => format!(", or the null label {null}"),
            None => String::new(),
        };
        let range = match config.num_class_labels {
            Some(n) => format!(
                "the model's {} says num_class_labels {n} (labels 0..={}{or_null})",
                path.display(),
                n - 1
            ),
            None => "labels are >= 0".to_string(),
        };
        bail!(
            "{}: class label {label} is out of range: {range}",
            array.source
        );
    }
    Ok(())
}
