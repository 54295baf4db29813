//! `--resume`: a run stopped after a batch and started again with the same command continues
//! after its last committed batch and ends with the bytes of an uninterrupted run.
//!
//! Where a run stops is exact: the test-only switch `DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES=K`
//! (`host::interrupt`) makes host raise SIGINT at itself right after the K-th batch was handed to
//! the outputs. Two tests send a real signal (SIGINT, SIGKILL) from outside at whatever moment it
//! lands; they assert only what holds wherever it lands.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{cpu_runtime, fixture, host};

/// The test-only switch of `host::interrupt`.
const STOP_AFTER_BATCHES: &str = "DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES";
/// The stopped runs: 16 samples in 4 batches of 4, 20 DDPM steps.
const SAMPLES: u64 = 16;
const STEPS: u64 = 20;
const BATCH: u64 = 4;
/// Floats per sample of the Gaussian fixture (3×32×32).
const PER_SAMPLE: usize = 3 * 32 * 32;

fn args(steps: u64, samples: u64) -> Vec<String> {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    [
        "--onnx",
        &model,
        "--scheduler",
        "ddpm",
        "--steps",
        &steps.to_string(),
        "--num-samples",
        &samples.to_string(),
        "--batch",
        &BATCH.to_string(),
        "--progress-interval",
        "100000",
    ]
    .map(String::from)
    .to_vec()
}

const OUTPUTS: [&str; 4] = ["--save-npy", "x.npy", "--out-dir", "pngs"];

/// The resumable command of the stopped runs, in `dir`.
fn resumable(dir: &Path) -> assert_cmd::Command {
    let mut command = host();
    command
        .current_dir(dir)
        .env_remove(STOP_AFTER_BATCHES)
        .args(args(STEPS, SAMPLES))
        .args(OUTPUTS)
        .arg("--resume");
    command
}

/// Runs the resumable command with the switch at `batches`; expects the interrupt's exit code 130
/// and returns stderr.
fn stop_after(dir: &Path, batches: u64) -> String {
    let output = resumable(dir)
        .env(STOP_AFTER_BATCHES, batches.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    stderr
}

/// Runs the resumable command to its end; returns stderr.
fn resume(dir: &Path) -> String {
    let output = resumable(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// Samples done according to the state beside x.npy (0 without one).
fn committed(dir: &Path) -> u64 {
    committed_in(&dir.join("x.npy.partial.json"))
}

/// Samples done according to the resume state `path` (0 without one).
fn committed_in(path: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["done"].as_u64().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The error line of a stopped run's stderr (the others are progress lines).
fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("progress:") && !l.starts_with("resuming:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0]
}

/// One uninterrupted run of `steps` × `samples` in a folder of its own: its .npy and PNG folder.
struct Uninterrupted {
    _dir: tempfile::TempDir,
    npy: Vec<u8>,
    pngs: PathBuf,
}

fn uninterrupted(steps: u64, samples: u64) -> Uninterrupted {
    let dir = tempfile::tempdir().unwrap();
    host()
        .current_dir(dir.path())
        .args(args(steps, samples))
        .args(["--save-npy", "single.npy", "--out-dir", "single"])
        .assert()
        .success();
    Uninterrupted {
        npy: std::fs::read(dir.path().join("single.npy")).unwrap(),
        pngs: dir.path().join("single"),
        _dir: dir,
    }
}

/// The finished resumable run in `dir` left exactly x.npy, its manifest and the PNG folder (its
/// PNGs and manifest, no progress, no staging folder), and they equal an uninterrupted run's,
/// byte for byte.
fn assert_finished_as_uninterrupted(dir: &Path, steps: u64, samples: u64) {
    assert_eq!(names(dir), ["pngs", "x.npy", "x.npy.json"]);
    let single = uninterrupted(steps, samples);
    assert!(std::fs::read(dir.join("x.npy")).unwrap() == single.npy);
    let pngs = names(&dir.join("pngs"));
    assert_eq!(pngs, names(&single.pngs));
    assert_eq!(
        pngs[0],
        format!("manifest_000000-{samples:06}.json"),
        "{pngs:?}"
    );
    assert_eq!(pngs.len() as u64, samples + 1, "{pngs:?}");
    for name in &pngs[1..] {
        assert!(
            std::fs::read(dir.join("pngs").join(name)).unwrap()
                == std::fs::read(single.pngs.join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn stopped_after_batch_2_of_4_exactly_samples_0_to_8_are_kept_and_resume_finishes_them() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stderr = stop_after(dir, 2);
    assert_eq!(
        error_line(&stderr),
        "error: interrupted by SIGINT while sampling (step 1/20 of batch 3/4); no output was written"
    );
    // The progress: the state says 8, the .npy holds its header and samples 0..8 (those of an
    // uninterrupted run, bit for bit), the staging folder their 8 PNGs.
    assert_eq!(committed(dir), 8);
    assert_eq!(names(dir), ["pngs", "x.npy.partial", "x.npy.partial.json"]);
    let single = uninterrupted(STEPS, SAMPLES);
    let partial = std::fs::read(dir.join("x.npy.partial")).unwrap();
    let header = single.npy.len() - SAMPLES as usize * PER_SAMPLE * 4;
    assert_eq!(partial.len(), header + 8 * PER_SAMPLE * 4);
    assert!(partial[..] == single.npy[..partial.len()]);
    let staging = names(&dir.join("pngs"));
    assert_eq!(staging.len(), 1, "{staging:?}");
    let staging = dir.join("pngs").join(&staging[0]);
    let mut expected: Vec<String> = (0..8).map(|i| format!("sample_{i:06}.png")).collect();
    expected.push("state.json".into());
    assert_eq!(names(&staging), expected);
    assert_eq!(committed_in(&staging.join("state.json")), 8);
    for name in &expected[..8] {
        assert!(
            std::fs::read(staging.join(name)).unwrap()
                == std::fs::read(single.pngs.join(name)).unwrap(),
            "{name}"
        );
    }
    // The same command again continues after sample 8, not earlier.
    let stderr = resume(dir);
    assert!(
        stderr.contains("resuming: samples 0..8 are done, 8 to go"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sampling 8 samples in 40 model calls"),
        "{stderr}"
    );
    assert_finished_as_uninterrupted(dir, STEPS, SAMPLES);
}

#[test]
fn a_resumed_run_stopped_again_resumes_from_its_own_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stderr = stop_after(dir, 1);
    assert_eq!(
        error_line(&stderr),
        "error: interrupted by SIGINT while sampling (step 1/20 of batch 2/4); no output was written"
    );
    assert_eq!(committed(dir), 4);
    // The resumed run numbers its own 3 batches, and stops after the second of them.
    let stderr = stop_after(dir, 2);
    assert!(
        stderr.contains("resuming: samples 0..4 are done, 12 to go"),
        "{stderr}"
    );
    assert_eq!(
        error_line(&stderr),
        "error: interrupted by SIGINT while sampling (step 1/20 of batch 3/3); no output was written"
    );
    assert_eq!(committed(dir), 12);
    let stderr = resume(dir);
    assert!(
        stderr.contains("resuming: samples 0..12 are done, 4 to go"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sampling 4 samples in 20 model calls"),
        "{stderr}"
    );
    assert_finished_as_uninterrupted(dir, STEPS, SAMPLES);
}

/// Stopped after its last batch, while it writes the outputs: everything is committed and the
/// resumed run has nothing left to sample.
#[test]
fn stopped_after_the_last_batch_the_resume_only_writes_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stderr = stop_after(dir, 4);
    assert_eq!(
        error_line(&stderr),
        "error: interrupted by SIGINT while writing the outputs; no output was written"
    );
    assert_eq!(committed(dir), 16);
    assert_eq!(names(dir), ["pngs", "x.npy.partial", "x.npy.partial.json"]);
    let stderr = resume(dir);
    assert!(
        stderr.contains("resuming: samples 0..16 are done, 0 to go"),
        "{stderr}"
    );
    assert_finished_as_uninterrupted(dir, STEPS, SAMPLES);
}

#[test]
fn a_resume_with_other_settings_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    stop_after(dir, 1);
    assert_eq!(committed(dir), 4);
    let output = resumable(dir).args(["--seed", "7"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("it is another job (seed: 0 vs 7, saved vs now)"),
        "{stderr}"
    );
    assert!(stderr.contains("to start over"), "{stderr}");
    // The progress is still there for the right command.
    assert_eq!(committed(dir), 4);
}

/// Starts a resumable run of 64 samples × 200 steps (16 batches), waits until it has committed
/// a batch, sends it `signal` with kill(1) and waits for it. Where the signal lands (between
/// steps, inside a write of the .npy, a PNG or the state, or after the end) varies from run to
/// run; returns the exit status.
fn signal_a_resumable_run(dir: &Path, signal: &str) -> std::process::ExitStatus {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("host"))
        .current_dir(dir)
        .env("ORT_DYLIB_PATH", cpu_runtime())
        .env_remove(STOP_AFTER_BATCHES)
        .args(args(200, 64))
        .args(OUTPUTS)
        .arg("--resume")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Waits for an event, not for a time: the limit only ends a run that never commits.
    let started = std::time::Instant::now();
    while committed(dir) == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no commit");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Not yet waited for, so the id is still this child's (a zombie at worst).
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

/// Wherever a real SIGINT or SIGKILL lands, the run ends finished or resumable at a batch
/// boundary, and the same command finishes it with the bytes of an uninterrupted run.
fn a_real_signal_leaves_a_resumable_run(
    signal: &str,
    signalled_exit: fn(std::process::ExitStatus) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let status = signal_a_resumable_run(dir, signal);
    if status.success() {
        // It finished before the signal.
        assert_finished_as_uninterrupted(dir, 200, 64);
        return;
    }
    assert!(signalled_exit(status), "{status:?}");
    let done = committed(dir);
    assert!(done.is_multiple_of(BATCH) && done <= 64, "{done}");
    let stderr = String::from_utf8_lossy(
        &host()
            .current_dir(dir)
            .args(args(200, 64))
            .args(OUTPUTS)
            .arg("--resume")
            .assert()
            .success()
            .get_output()
            .stderr,
    )
    .to_string();
    // Each output keeps its own state (the .npy's is committed first); the resumed run starts
    // after the batches that all of them committed, so never after the .npy's.
    if let Some(line) = stderr.lines().find(|l| l.starts_with("resuming: ")) {
        let resumed: u64 = line["resuming: samples 0..".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            resumed.is_multiple_of(BATCH) && resumed > 0 && resumed <= done,
            "{line} (the .npy's state said {done})"
        );
    }
    assert_finished_as_uninterrupted(dir, 200, 64);
}

#[test]
fn a_real_sigint_leaves_a_resumable_run() {
    a_real_signal_leaves_a_resumable_run("INT", |status| status.code() == Some(130));
}

#[test]
fn a_real_sigkill_leaves_a_resumable_run() {
    a_real_signal_leaves_a_resumable_run("KILL", |status| status.signal() == Some(9));
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
