//! Helpers for the host's command-line tests: the binary, fixtures, and `.npy` files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// The CPU build of ONNX Runtime that `scripts/fetch-ort.sh` puts in `.ort/`.
pub fn cpu_runtime() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ort/onnxruntime/capi/libonnxruntime.so.1.31.1")
}

/// `host`, built by cargo for these tests, on the CPU build of ONNX Runtime whatever else is
/// installed (host prefers a fetched GPU build, whose providers would change what `--ep auto`
/// does and says).
pub fn host() -> Command {
    let mut command = Command::cargo_bin("host").expect("host binary");
    command.env("ORT_DYLIB_PATH", cpu_runtime());
    command
}

/// `tests/fixtures/<relative>` of the workspace.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(relative)
}

/// A float32 `.npy` as (shape, values in C order).
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let array = ArrayD::<f32>::read_npy(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (array.shape().to_vec(), array.iter().copied().collect())
}

/// ‖a − b‖ / ‖b‖.
pub fn relative_l2(got: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(got.len(), expected.len());
    let diff: f64 = got
        .iter()
        .zip(expected)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    let norm: f64 = expected.iter().map(|&b| (b as f64).powi(2)).sum();
    (diff / norm).sqrt()
}

/// Mean and standard deviation.
pub fn moments(values: &[f32]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let variance = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, variance.sqrt())
}

/// Runs host with `args` (plus `--save-npy <dir>/<name>.npy`), expects success, returns the samples.
pub fn sample(dir: &Path, name: &str, args: &[&str]) -> (Vec<usize>, Vec<f32>) {
    let path = dir.join(format!("{name}.npy"));
    host()
        .args(args)
        .arg("--save-npy")
        .arg(&path)
        .assert()
        .success();
    read_npy(&path)
}

/// A copy of the fixture folder `tests/fixtures/<relative>` in a temporary folder, without the
/// files `drop` (relative to it).
pub fn fixture_copy(relative: &str, drop: &[&str]) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            match entry.file_type().unwrap().is_dir() {
                true => copy(&entry.path(), &target),
                false => {
                    std::fs::copy(entry.path(), &target).unwrap();
                }
            }
        }
    }
    let directory = tempfile::tempdir().unwrap();
    copy(&fixture(relative), directory.path());
    for file in drop {
        std::fs::remove_file(directory.path().join(file)).unwrap();
    }
    directory
}

/// Writes a float32 `.npy` of `shape` holding `values` (C order).
pub fn write_npy(path: &Path, shape: &[usize], values: &[f32]) {
    let array = ArrayD::from_shape_vec(shape.to_vec(), values.to_vec()).unwrap();
    ndarray_npy::write_npy(path, &array).unwrap();
}

/// A latent pipeline's two outputs, (images, latents) as (shape, values), within 1e-4 relative L2
/// of diffusers' `<fixture>/reference/<reference>.npy` and `<reference>_latents.npy`; the images
/// are 3 samples of 3x16x16 (the latent fixtures' decoder). Prints both errors under `name`.
pub fn check_decoded(
    name: &str,
    fixture_dir: &str,
    reference: &str,
    outputs: [(Vec<usize>, Vec<f32>); 2],
) {
    let [(image_shape, images), (latent_shape, latents)] = outputs;
    let (expected_shape, expected) = read_npy(&fixture(&format!(
        "{fixture_dir}/reference/{reference}.npy"
    )));
    assert_eq!(image_shape, expected_shape, "{name}");
    assert_eq!(image_shape, [3, 3, 16, 16], "{name}");
    let image_error = relative_l2(&images, &expected);
    let (expected_shape, expected) = read_npy(&fixture(&format!(
        "{fixture_dir}/reference/{reference}_latents.npy"
    )));
    assert_eq!(latent_shape, expected_shape, "{name}");
    let latent_error = relative_l2(&latents, &expected);
    eprintln!(
        "{name}: relative L2 vs diffusers: images {image_error:.2e}, latents {latent_error:.2e}"
    );
    assert!(
        image_error <= 1e-4,
        "{name}: images, relative L2 {image_error:e}"
    );
    assert!(
        latent_error <= 1e-4,
        "{name}: latents, relative L2 {latent_error:e}"
    );
}
