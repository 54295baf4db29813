//! `--onnx DIR`: a diffusers ONNX pipeline folder, read as diffusers' `OnnxStableDiffusionPipeline`
//! lays it out: `model_index.json` names the parts, each in a folder of its own:
//!
//! ```text
//! DIR/model_index.json
//! DIR/unet/model.onnx                     the U-Net (required)
//! DIR/vae_decoder/model.onnx              the VAE decoder, when model_index.json lists vae_decoder
//! DIR/vae_decoder/config.json             its AutoencoderKL config (scaling_factor), optional
//! DIR/scheduler/scheduler_config.json     when model_index.json lists scheduler
//! ```
//!
//! The folder only fills in what the flags leave open: `--scheduler-config` and `--vae-decoder`
//! win over the folder's (which is then not looked for). A part whose file is there is used
//! (optimum's exports keep the original pipeline's index, which names `vae`, not
//! `vae_decoder`); a part that `model_index.json` lists but the folder lacks is an error naming
//! the missing file, never a run without it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A `model_index.json` is well under a KB; larger files are not one.
const MAX_INDEX_BYTES: u64 = 1 << 20;

/// The parts of a pipeline folder that host runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineFolder {
    /// `unet/model.onnx`.
    pub unet: PathBuf,
    /// `vae_decoder/model.onnx`, when the pipeline has one.
    pub vae_decoder: Option<PathBuf>,
    /// `scheduler/scheduler_config.json`, when the pipeline has one.
    pub scheduler_config: Option<PathBuf>,
}

/// Whether `model_index.json` lists `part`: a key whose value is not `[null, null]` (diffusers'
/// mark of an absent optional part).
fn lists(index: &serde_json::Map<String, serde_json::Value>, part: &str) -> bool {
    match index.get(part) {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Array(items)) => items.iter().any(|item| !item.is_null()),
        Some(_) => true,
    }
}

/// Reads the pipeline folder `directory`; every refusal names the folder and what it lacks.
/// The decoder and the scheduler config are looked for only where `want_decoder` and
/// `want_scheduler` say (not when a flag gives them).
pub fn read(directory: &Path, want_decoder: bool, want_scheduler: bool) -> Result<PipelineFolder> {
    let shown = directory.display();
    let index_path = directory.join("model_index.json");
    if !index_path.is_file() {
        bail!(
            "cannot read model {shown}: not a file, and not a diffusers ONNX pipeline folder \
             (no model_index.json; the folder holds unet/model.onnx, ...)"
        );
    }
    let file = std::fs::File::open(&index_path)
        .with_context(|| format!("cannot read {}", index_path.display()))?;
    if file.metadata()?.len() > MAX_INDEX_BYTES {
        bail!(
            "{} is too large to be a model_index.json",
            index_path.display()
        );
    }
    let index: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not JSON", index_path.display()))?;
    let Some(index) = index.as_object() else {
        bail!("{} is not a JSON object", index_path.display());
    };
    // A part is used when its file is there (optimum's exports keep the original pipeline's
    // index, which names `vae`, not `vae_decoder`); one the index lists must be there.
    let part = |name: &str, file: &str| -> Result<Option<PathBuf>> {
        let path = directory.join(name).join(file);
        if path.is_file() {
            return Ok(Some(path));
        }
        if lists(index, name) {
            bail!(
                "pipeline folder {shown}: model_index.json lists {name} but {} is missing",
                path.display()
            );
        }
        Ok(None)
    };
    let Some(unet) = part("unet", "model.onnx")? else {
        bail!("pipeline folder {shown} has no unet/model.onnx");
    };
    let vae_decoder = match want_decoder {
        true => part("vae_decoder", "model.onnx")?,
        false => None,
    };
    if want_decoder && vae_decoder.is_none() && lists(index, "vae") {
        bail!(
            "pipeline folder {shown} has a PyTorch vae, not an ONNX vae_decoder: export the \
             pipeline to ONNX (diffusers' or optimum's exporter), or give --vae-decoder"
        );
    }
    let scheduler_config = match want_scheduler {
        true => part("scheduler", "scheduler_config.json")?,
        false => None,
    };
    Ok(PipelineFolder {
        unet,
        vae_decoder,
        scheduler_config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(index: &str, files: &[&str]) -> tempfile::TempDir {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("model_index.json"), index).unwrap();
        for file in files {
            let path = directory.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        directory
    }

    const FULL: &str = r#"{"_class_name": "OnnxStableDiffusionPipeline",
        "unet": ["diffusers", "OnnxRuntimeModel"], "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
        "scheduler": ["diffusers", "DDIMScheduler"], "safety_checker": [null, null]}"#;

    #[test]
    fn reads_the_listed_parts() {
        let directory = folder(
            FULL,
            &[
                "unet/model.onnx",
                "vae_decoder/model.onnx",
                "scheduler/scheduler_config.json",
            ],
        );
        let read = read(directory.path(), true, true).unwrap();
        assert_eq!(read.unet, directory.path().join("unet/model.onnx"));
        assert_eq!(
            read.vae_decoder,
            Some(directory.path().join("vae_decoder/model.onnx"))
        );
        assert_eq!(
            read.scheduler_config,
            Some(directory.path().join("scheduler/scheduler_config.json"))
        );
    }

    #[test]
    fn unlisted_parts_are_absent_and_listed_missing_ones_are_errors() {
        let pixel = folder(
            r#"{"unet": ["diffusers", "OnnxRuntimeModel"]}"#,
            &["unet/model.onnx"],
        );
        let read = read(pixel.path(), true, true).unwrap();
        assert_eq!((read.vae_decoder, read.scheduler_config), (None, None));

        let no_decoder = folder(
            FULL,
            &["unet/model.onnx", "scheduler/scheduler_config.json"],
        );
        let error = super::read(no_decoder.path(), true, true)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lists vae_decoder but")
                && error.contains("vae_decoder/model.onnx is missing"),
            "{error}"
        );
        let no_unet = folder(FULL, &["vae_decoder/model.onnx"]);
        let error = super::read(no_unet.path(), true, true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unet/model.onnx is missing"), "{error}");
        let pytorch = folder(
            r#"{"unet": ["diffusers", "UNet2DModel"], "vae": ["diffusers", "AutoencoderKL"]}"#,
            &["unet/model.onnx"],
        );
        let error = super::read(pytorch.path(), true, true)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an ONNX vae_decoder"), "{error}");
        // With --vae-decoder given, the folder's decoder is not looked for.
        let read = super::read(pytorch.path(), false, true).unwrap();
        assert_eq!(read.vae_decoder, None);
        assert!(super::read(no_decoder.path(), false, true).is_ok());
        // A part's file is used where the index does not list it (optimum keeps `vae`).
        let optimum = folder(
            r#"{"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}"#,
            &["unet/model.onnx", "vae_decoder/model.onnx"],
        );
        let read = super::read(optimum.path(), true, true).unwrap();
        assert_eq!(
            read.vae_decoder,
            Some(optimum.path().join("vae_decoder/model.onnx"))
        );
        let empty = tempfile::tempdir().unwrap();
        let error = super::read(empty.path(), true, true)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not a file, and not a diffusers ONNX pipeline folder"),
            "{error}"
        );
    }
}
