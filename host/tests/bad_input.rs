//! Every bad input: a one-line message, a non-zero exit (1, or 2 for a usage error), no panic, and
//! no output file (not even a temporary one).

mod common;

use std::path::Path;

use common::{fixture, host};

/// Runs host in a fresh directory that is also the output directory; returns stderr.
fn fails(args: &[&str], expected: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args(args)
        .args(["--out", "grid.png", "--save-npy", "x.npy"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let code = output.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "{args:?}: exit {code:?}, stderr {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected one line, got {stderr:?}"
    );
    assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: {stderr:?} lacks {expected:?}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
    stderr
}

fn gaussian() -> String {
    fixture("gaussian/unet.onnx").display().to_string()
}

#[test]
fn missing_or_unreadable_model() {
    fails(
        &["--onnx", "/nonexistent/unet.onnx"],
        "cannot read model /nonexistent/unet.onnx",
    );
    let dir = fixture("gaussian");
    fails(&["--onnx", &dir.display().to_string()], "not a file");
}

#[test]
fn not_an_onnx_file() {
    let config = fixture("gaussian/scheduler_config.json")
        .display()
        .to_string();
    fails(&["--onnx", &config], "cannot load model");
}

#[test]
fn model_without_rank4_float_input() {
    fails(
        &[
            "--onnx",
            &fixture("bad-rank2/unet.onnx").display().to_string(),
        ],
        "no rank-4 float32 input",
    );
}

#[test]
fn model_with_an_extra_required_input() {
    fails(
        &[
            "--onnx",
            &fixture("bad-extra-input/unet.onnx").display().to_string(),
        ],
        "class_labels",
    );
}

#[test]
fn step_counts_out_of_range() {
    fails(
        &["--onnx", &gaussian(), "--steps", "0"],
        "number of inference steps must be in 1..=1000, got 0",
    );
    fails(&["--onnx", &gaussian(), "--steps", "1001"], "got 1001");
}

#[test]
fn negative_or_nan_eta() {
    fails(
        &["--onnx", &gaussian(), "--eta", "-0.5"],
        "--eta must be a finite number >= 0",
    );
    fails(
        &["--onnx", &gaussian(), "--eta", "NaN"],
        "--eta must be a finite number >= 0",
    );
}

#[test]
fn unknown_names() {
    fails(
        &["--onnx", &gaussian(), "--beta-schedule", "cosine"],
        "--beta-schedule \"cosine\": unknown beta schedule",
    );
    fails(
        &["--onnx", &gaussian(), "--timestep-spacing", "uniform"],
        "unknown timestep spacing",
    );
    fails(
        &["--onnx", &gaussian(), "--prediction-type", "eps"],
        "unknown prediction type",
    );
    fails(
        &["--onnx", &gaussian(), "--scheduler", "euler"],
        "invalid value 'euler'",
    );
}

fn with_config(contents: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scheduler_config.json");
    std::fs::write(&config, contents).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--scheduler-config",
            &config.display().to_string(),
        ],
        expected,
    );
}

#[test]
fn malformed_or_contradictory_scheduler_config() {
    with_config(
        "{ \"num_train_timesteps\": 1000,",
        "malformed scheduler config",
    );
    with_config(
        "{ \"num_train_timesteps\": \"many\" }",
        "malformed scheduler config",
    );
    with_config(
        "{ \"beta_start\": 0.02, \"beta_end\": 0.0001 }",
        "beta range must satisfy",
    );
    with_config(
        "{ \"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2] }",
        "trained_betas must have",
    );
    with_config(
        "{ \"thresholding\": true, \"clip_sample\": true }",
        "contradictory scheduler config",
    );
    with_config(
        "{ \"timestep_spacing\": \"karras\" }",
        "timestep_spacing \"karras\"",
    );
    let missing = Path::new("/nonexistent/scheduler_config.json")
        .display()
        .to_string();
    fails(
        &["--onnx", &gaussian(), "--scheduler-config", &missing],
        "cannot read scheduler config",
    );
}

#[test]
fn init_noise_of_wrong_shape_or_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_shape = dir.path().join("wrong_shape.npy");
    ndarray_npy::write_npy(&wrong_shape, &ndarray::Array4::<f32>::zeros((1, 3, 16, 16))).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &wrong_shape.display().to_string(),
        ],
        "--init-noise has shape [1, 3, 16, 16], expected [num-samples, C, H, W] = [1, 3, 32, 32]",
    );
    let wrong_dtype = dir.path().join("wrong_dtype.npy");
    ndarray_npy::write_npy(&wrong_dtype, &ndarray::Array4::<f64>::zeros((1, 3, 32, 32))).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &wrong_dtype.display().to_string(),
        ],
        "is not a float32 .npy",
    );
}

#[test]
fn unwritable_output_path() {
    let output = host()
        .args(["--onnx", &gaussian(), "--out", "/nonexistent/dir/grid.png"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot write --out /nonexistent/dir/grid.png"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn shard_out_of_range() {
    fails(
        &["--onnx", &gaussian(), "--shard", "2/2"],
        "shard 2/2 is out of range",
    );
    fails(&["--onnx", &gaussian(), "--shard", "1/0"], "out of range");
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--num-samples",
            "1",
            "--shard",
            "0/2",
        ],
        "holds no samples",
    );
}

#[test]
fn model_that_outputs_nan() {
    let stderr = fails(
        &[
            "--onnx",
            &fixture("bad-nan/unet.onnx").display().to_string(),
            "--steps",
            "10",
        ],
        "NaN",
    );
    // leading + offset 1, 10 steps: 901, 801, …, 501 are finite; step 6 is timestep 401.
    assert!(stderr.contains("step 6/10 (timestep 401)"), "{stderr}");
}

#[test]
fn named_gpu_provider_that_cannot_start_is_an_error() {
    // This machine's ONNX Runtime is the CPU build: the message names the missing provider library.
    for (ep, library) in [
        ("cuda", "libonnxruntime_providers_cuda.so"),
        ("tensorrt", "libonnxruntime_providers_tensorrt.so"),
    ] {
        let stderr = fails(
            &["--onnx", &gaussian(), "--ep", ep],
            "execution provider unavailable",
        );
        assert!(stderr.contains(library), "{stderr}");
    }
}

#[test]
fn missing_runtime_says_how_to_get_it() {
    let output = host()
        .args([
            "--onnx",
            &gaussian(),
            "--save-npy",
            "/tmp/never.npy",
            "--ort-library",
            "/nonexistent/libonnxruntime.so.1.31.1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("--ort-library /nonexistent/libonnxruntime.so.1.31.1: no such file"),
        "{stderr}"
    );
}
