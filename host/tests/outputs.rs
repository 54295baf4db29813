//! Outputs: formats by extension, the umask's permissions, all-or-nothing writes, one line for
//! per-sample files, progress without a terminal, and clean interrupts (exit 130 / 143, nothing
//! left behind).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{cpu_runtime, fixture, host};

fn gaussian() -> String {
    fixture("gaussian/unet.onnx").display().to_string()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn image_format_follows_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    for (name, magic) in [
        ("grid.png", &b"\x89PNG"[..]),
        ("grid.jpg", &b"\xff\xd8\xff"[..]),
        ("grid.JPEG", &b"\xff\xd8\xff"[..]),
        ("grid.webp", &b"RIFF"[..]),
    ] {
        host()
            .current_dir(dir.path())
            .args(["--onnx", &gaussian(), "--steps", "2", "--num-samples", "2"])
            .args(["--out", name])
            .assert()
            .success();
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert!(bytes.starts_with(magic), "{name}");
        let image = image::open(dir.path().join(name)).unwrap();
        // Two 32×32 samples side by side, enlarged 2× by --png-scale auto.
        assert_eq!((image.width(), image.height()), (132, 64), "{name}");
    }
}

/// Run through `sh -c 'umask U; exec host …'`.
fn host_with_umask(umask: &str, dir: &Path, args: &[&str]) {
    let status = Command::new("sh")
        .current_dir(dir)
        .env("ORT_DYLIB_PATH", cpu_runtime())
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("host"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn outputs_honour_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = ["--out", "g.png", "--save-npy", "x.npy", "--out-dir", "each"];
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let mut args = vec!["--onnx", gaussian_leak(), "--steps", "2"];
    args.extend(outputs);
    host_with_umask("022", dir.path(), &args);
    for name in ["g.png", "x.npy", "each/sample_000000.png"] {
        assert_eq!(mode(name), 0o644, "{name} under umask 022");
    }
    assert_eq!(mode("each"), 0o755);
    host_with_umask("077", dir.path(), &args);
    for name in ["g.png", "x.npy"] {
        assert_eq!(mode(name), 0o600, "{name} under umask 077");
    }
}

/// The model path as a `&'static str` for argument lists.
fn gaussian_leak() -> &'static str {
    Box::leak(gaussian().into_boxed_str())
}

#[test]
fn per_sample_files_are_reported_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args([
            "--onnx",
            &gaussian(),
            "--steps",
            "2",
            "--num-samples",
            "300",
        ])
        .args(["--out-dir", "each", "--save-npy", "x.npy"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wrote: Vec<&str> = stdout.lines().filter(|l| l.starts_with("wrote")).collect();
    assert_eq!(wrote, ["wrote x.npy", "wrote 300 PNGs to each"]);
    let files = names(&dir.path().join("each"));
    assert_eq!(files.len(), 301, "300 PNGs and their manifest");
    assert_eq!(files[0], "manifest_000000-000300.json");
    assert_eq!(files[300], "sample_000299.png");
}

#[test]
fn a_failed_run_writes_none_of_its_outputs() {
    // The model fails at step 6 of 10: neither the .npy nor the grid nor the (new) --out-dir
    // may remain, and no temporary file either.
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args([
            "--onnx",
            &fixture("bad-nan/unet.onnx").display().to_string(),
        ])
        .args(["--steps", "10", "--out", "g.png", "--save-npy", "x.npy"])
        .args(["--out-dir", "each"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn progress_lines_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args(["--onnx", &gaussian(), "--steps", "3", "--num-samples", "4"])
        .args(["--batch", "2", "--save-npy", "x.npy"])
        .args(["--progress-interval", "0"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], "progress: sampling 4 samples in 6 model calls");
    // One line after each model call but the last; samples count when their batch finishes.
    assert_eq!(lines.len(), 6, "{stderr}");
    assert!(
        lines[3].starts_with("progress: 2/4 samples, 3/6 model calls (50.0%), "),
        "{stderr}"
    );
    assert!(lines[5].contains("ETA"), "{stderr}");
    // The default interval (30 s) prints only the first line in a short run.
    let output = host()
        .current_dir(dir.path())
        .args(["--onnx", &gaussian(), "--steps", "3", "--save-npy", "y.npy"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "progress: sampling 1 samples in 3 model calls\n"
    );
}

#[test]
fn a_cpu_run_says_nothing_about_gpu_providers() {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args(["--onnx", &gaussian(), "--steps", "2", "--ep", "auto"])
        .args(["--progress-interval", "1000"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("note"), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("provider CPU"));
}

/// Starts a long DDPM run, waits until it samples (its first progress line), sends `signal`, and checks the exit code, the
/// one error line and that no file is left (not even the --out-dir host created).
fn interrupt_with(signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("host"))
        .current_dir(dir.path())
        .env("ORT_DYLIB_PATH", cpu_runtime())
        .args([
            "--onnx",
            &gaussian(),
            "--scheduler",
            "ddpm",
            "--steps",
            "500",
        ])
        .args([
            "--num-samples",
            "2000",
            "--out",
            "g.png",
            "--save-npy",
            "x.npy",
        ])
        .args(["--out-dir", "each"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("progress: sampling"), "{first}");
    // Temporaries exist while it samples; the signal lands at some step of the first batches
    // (the run is far too long to end first), and the assertions hold at any of them.
    assert!(names(dir.path()).iter().any(|n| n.ends_with(".partial")));
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(code), "{rest}");
    let lines: Vec<&str> = rest
        .lines()
        .filter(|l| !l.starts_with("progress:"))
        .collect();
    assert_eq!(lines.len(), 1, "{rest}");
    assert!(
        lines[0].starts_with(&format!(
            "error: interrupted by SIG{signal} while sampling (step "
        )),
        "{rest}"
    );
    assert!(lines[0].ends_with("; no output was written"), "{rest}");
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn ctrl_c_stops_cleanly_with_130() {
    interrupt_with("INT", 130);
}

#[test]
fn sigterm_stops_cleanly_with_143() {
    interrupt_with("TERM", 143);
}

/// The test-only switch of `host::interrupt` raises SIGINT right after batch `batches` of 4 was
/// handed to the outputs: the run stops where a Ctrl-C at that moment would, with 130 and one
/// line, and removes every output it had begun (samples of finished batches included).
fn stop_after(batches: &str, moment: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .env("DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES", batches)
        .args(["--onnx", &gaussian(), "--steps", "10"])
        .args(["--num-samples", "8", "--batch", "2"])
        .args(["--out", "g.png", "--save-npy", "x.npy", "--out-dir", "each"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("progress:"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "error: interrupted by SIGINT {moment}; no output was written"
        )]
    );
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn stopped_after_batch_1_of_4_nothing_is_left() {
    stop_after("1", "while sampling (step 1/10 of batch 2/4)");
}

#[test]
fn stopped_after_the_last_batch_nothing_is_left() {
    stop_after("4", "while writing the outputs");
}

#[test]
fn the_grid_of_a_large_run_shows_its_first_256_samples() {
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args([
            "--onnx",
            &fixture("gaussian-fixed-batch/unet.onnx")
                .display()
                .to_string(),
        ])
        .args([
            "--steps",
            "2",
            "--num-samples",
            "300",
            "--out",
            "g.png",
            "--png-scale",
            "1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("wrote g.png (the first 256 of 300 samples)"),
        "{stdout}"
    );
    // 256 8×8 samples: 16 columns and rows with 2-pixel gaps.
    let image = image::open(dir.path().join("g.png")).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (16 * 8 + 15 * 2, 16 * 8 + 15 * 2)
    );
}
