//! `--resume`: a run killed at any moment (SIGKILL) and started again with the same command
//! continues after its last committed batch and ends with the bytes of an uninterrupted run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cpu_runtime, fixture, host};

fn args() -> Vec<String> {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    [
        "--onnx",
        &model,
        "--scheduler",
        "ddpm",
        "--steps",
        "200",
        "--num-samples",
        "600",
        "--batch",
        "4",
        "--progress-interval",
        "100000",
    ]
    .map(String::from)
    .to_vec()
}

const OUTPUTS: [&str; 4] = ["--save-npy", "x.npy", "--out-dir", "pngs"];

/// Samples done according to the state beside x.npy (0 without one).
fn committed(dir: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(dir.join("x.npy.partial.json")) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["done"].as_u64().unwrap()
}

/// Starts the resumable run and SIGKILLs it: after `delay`, or once more than `after` samples
/// are committed and then `delay` more. Returns whether it was still running when killed.
fn start_and_kill(dir: &Path, after: Option<u64>, delay: Duration) -> bool {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("host"))
        .current_dir(dir)
        .env("ORT_DYLIB_PATH", cpu_runtime())
        .args(args())
        .args(OUTPUTS)
        .arg("--resume")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if let Some(after) = after {
        let started = std::time::Instant::now();
        while committed(dir) <= after && started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap_or(()); // SIGKILL
    child.wait().unwrap();
    running
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Kill while loading, then three times after new batches were committed, at varying
    // moments within the next batch (some land inside a write of the .npy, a PNG or the state).
    assert!(start_and_kill(dir, None, Duration::from_millis(150)));
    let mut last = committed(dir);
    for delay in [0, 7, 23] {
        let killed = start_and_kill(dir, Some(last), Duration::from_millis(delay));
        assert!(killed, "finished before the kill");
        let now = committed(dir);
        assert!(now > last, "no progress between kills: {now} after {last}");
        last = now;
    }
    assert!(last > 0, "no batch was committed before the kills");
    assert!(last < 600);
    // The same command again: it continues after the last committed batch, not earlier.
    let output = host()
        .current_dir(dir)
        .args(args())
        .args(OUTPUTS)
        .args(["--resume"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "resuming: samples 0..{last} are done, {} to go",
            600 - last
        )),
        "{stderr}"
    );
    let remaining_calls = (600 - last).div_ceil(4) * 200;
    assert!(
        stderr.contains(&format!(
            "sampling {} samples in {remaining_calls} model calls",
            600 - last
        )),
        "{stderr}"
    );
    // Nothing of the progress is left; the outputs equal one uninterrupted run's.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["pngs", "x.npy", "x.npy.json"]);
    let pngs = std::fs::read_dir(dir.join("pngs")).unwrap().count();
    assert_eq!(pngs, 601, "600 PNGs and a manifest, no staging folder");
    host()
        .current_dir(dir)
        .args(args())
        .args(["--save-npy", "single.npy"])
        .assert()
        .success();
    let resumed = std::fs::read(dir.join("x.npy")).unwrap();
    assert!(resumed == std::fs::read(dir.join("single.npy")).unwrap());
}

#[test]
fn a_resume_with_other_settings_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    assert!(start_and_kill(dir, Some(0), Duration::ZERO));
    assert!(committed(dir) > 0);
    let output = host()
        .current_dir(dir)
        .args(args())
        .args(OUTPUTS)
        .args(["--resume", "--seed", "7"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("it is another job (seed: 0 vs 7, saved vs now)"),
        "{stderr}"
    );
    assert!(stderr.contains("to start over"), "{stderr}");
    // The progress is still there for the right command.
    assert!(committed(dir) > 0);
}

#[test]
fn resume_needs_a_place_for_its_progress() {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    for (extra, message) in [
        (
            &["--save-npy", "/tmp/unused.npy", "--out", "/tmp/g.png"][..],
            "drop --out",
        ),
        (&[][..], "--resume needs --save-npy or --out-dir"),
    ] {
        let output = host()
            .args(["--onnx", &model, "--resume"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains(message));
    }
}
