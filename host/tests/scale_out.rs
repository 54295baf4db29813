//! Large jobs: shards from a (simulated) Slurm job array or Kubernetes Indexed Job, each part
//! with its manifest, merged by `host merge` into exactly the bytes of one process.

mod common;

use std::path::Path;
use std::process::Command;

use common::{cpu_runtime, fixture, host};

const TOTAL: &str = "11";

fn base() -> Vec<String> {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    [
        "--onnx",
        &model,
        "--steps",
        "4",
        "--num-samples",
        TOTAL,
        "--batch",
        "2",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the shards concurrently, as a job array does, each with its own environment.
fn run_array(dir: &Path, environments: &[Vec<(&str, String)>]) {
    let children: Vec<_> = environments
        .iter()
        .enumerate()
        .map(|(task, variables)| {
            let mut command = Command::new(assert_cmd::cargo::cargo_bin("host"));
            command
                .current_dir(dir)
                .env("ORT_DYLIB_PATH", cpu_runtime())
                .args(base())
                .args(["--shard", "auto", "--out-dir", "pngs", "--save-npy"])
                .arg(format!("x0_{task}.npy"))
                .envs(variables.iter().map(|(k, v)| (*k, v.as_str())));
            command
        })
        .map(|mut command| command.spawn().unwrap())
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn merge(dir: &Path, args: &[&str]) -> std::process::Output {
    host()
        .current_dir(dir)
        .arg("merge")
        .args(args)
        .output()
        .unwrap()
}

fn single_run(dir: &Path) -> Vec<u8> {
    host()
        .current_dir(dir)
        .args(base())
        .args(["--save-npy", "single.npy"])
        .assert()
        .success();
    std::fs::read(dir.join("single.npy")).unwrap()
}

#[test]
fn a_slurm_array_merges_into_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let tasks: Vec<Vec<(&str, String)>> = (0..3)
        .map(|id| {
            vec![
                ("SLURM_ARRAY_TASK_ID", format!("{}", 10 + id)),
                ("SLURM_ARRAY_TASK_MIN", "10".into()),
                ("SLURM_ARRAY_TASK_MAX", "12".into()),
                ("SLURM_ARRAY_TASK_COUNT", "3".into()),
            ]
        })
        .collect();
    run_array(dir.path(), &tasks);
    // Parts in any order.
    let output = merge(
        dir.path(),
        &["--save-npy", "x0.npy", "x0_2.npy", "x0_0.npy", "x0_1.npy"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "merged 3 parts into x0.npy (11 samples)\n"
    );
    let merged = std::fs::read(dir.path().join("x0.npy")).unwrap();
    assert!(
        merged == single_run(dir.path()),
        "merged bytes differ from the single run"
    );
    let output = merge(dir.path(), &["--out-dir", "pngs"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pngs = std::fs::read_dir(dir.path().join("pngs")).unwrap().count();
    assert_eq!(pngs, 11 + 3, "11 PNGs and 3 manifests");
}

#[test]
fn a_kubernetes_indexed_job_merges_into_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let pods: Vec<Vec<(&str, String)>> = (0..2)
        .map(|index| {
            vec![
                ("JOB_COMPLETION_INDEX", format!("{index}")),
                ("HOST_SHARD_COUNT", "2".into()),
            ]
        })
        .collect();
    run_array(dir.path(), &pods);
    let output = merge(
        dir.path(),
        &["--save-npy", "x0.npy", "x0_0.npy", "x0_1.npy"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged = std::fs::read(dir.path().join("x0.npy")).unwrap();
    assert!(merged == single_run(dir.path()));
}

/// Runs one shard by hand, with extra flags.
fn shard(dir: &Path, shard: &str, name: &str, extra: &[&str]) {
    host()
        .current_dir(dir)
        .args(base())
        .args(["--shard", shard, "--save-npy", name])
        .args(extra)
        .assert()
        .success();
}

fn merge_fails(dir: &Path, parts: &[&str], expected: &str) {
    let mut args = vec!["--save-npy", "x0.npy"];
    args.extend(parts);
    let output = merge(dir, &args);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!dir.join("x0.npy").exists() && !dir.join("x0.npy.json").exists());
}

#[test]
fn missing_overlapping_and_foreign_parts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    shard(dir, "0/3", "a.npy", &[]);
    shard(dir, "1/3", "b.npy", &[]);
    shard(dir, "2/3", "c.npy", &[]);
    shard(dir, "1/2", "half.npy", &[]);
    shard(dir, "2/3", "seed7.npy", &["--seed", "7"]);
    shard(dir, "2/3", "eta.npy", &["--eta", "0.5"]);
    // 11 samples in 3 shards: 0..3, 3..7, 7..11; shard 1/2 is 5..11.
    merge_fails(
        dir,
        &["a.npy", "c.npy"],
        "samples 3..7 of 11 are in no part",
    );
    merge_fails(
        dir,
        &["a.npy", "b.npy"],
        "samples 7..11 of 11 are in no part",
    );
    merge_fails(
        dir,
        &["a.npy", "b.npy", "half.npy"],
        "b.npy and half.npy overlap on samples 5..7",
    );
    merge_fails(dir, &["a.npy", "b.npy", "seed7.npy"], "(seed: 0 vs 7)");
    merge_fails(
        dir,
        &["a.npy", "b.npy", "eta.npy"],
        "(scheduler.eta: 0.0 vs 0.5)",
    );
    std::fs::remove_file(dir.join("c.npy.json")).unwrap();
    merge_fails(
        dir,
        &["a.npy", "b.npy", "c.npy"],
        "cannot read manifest c.npy.json",
    );
}

/// Two runs that differ only in the seed write manifests that differ in exactly one field of the
/// job (and its digest); a manifest of the older format is refused in one line.
#[test]
fn manifests_are_plain_json_that_differ_only_where_the_job_does() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    shard(dir, "0/3", "a.npy", &[]);
    shard(dir, "0/3", "b.npy", &["--seed", "1"]);
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let (a, b) = (read("a.npy.json"), read("b.npy.json"));
    assert_eq!(a["format"], "diffusion-host manifest");
    assert_eq!(a["format_version"], 2);
    assert_eq!(a["job"]["scheduler"]["_class_name"], "DDIMScheduler");
    assert_eq!(a["job"]["scheduler"]["num_inference_steps"], 4);
    assert!(a["job"]["scheduler"]["clip_sample"].is_boolean());
    let mut changed = Vec::new();
    for (key, value) in a["job"].as_object().unwrap() {
        if b["job"][key] != *value {
            changed.push(format!("{key}: {value} vs {}", b["job"][key]));
        }
    }
    assert_eq!(changed, ["seed: 0 vs 1"]);
    let top: Vec<&String> = a
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| a[key.as_str()] != b[key.as_str()])
        .collect();
    assert_eq!(top, ["job", "job_sha256"]);
    // A part written by an older host (format 1) cannot be merged.
    let mut old = a.clone();
    old["format"] = "diffusion-host part v1".into();
    std::fs::write(dir.join("a.npy.json"), old.to_string()).unwrap();
    merge_fails(
        dir,
        &["a.npy"],
        "a.npy.json: manifest format \"diffusion-host part v1\", written by an older host",
    );
    // An edited job no longer matches its digest.
    let mut edited = a.clone();
    edited["job"]["seed"] = 5.into();
    std::fs::write(dir.join("a.npy.json"), edited.to_string()).unwrap();
    merge_fails(dir, &["a.npy"], "job_sha256 is not the digest of its job");
}

#[test]
fn shard_auto_outside_a_job_array_is_an_error() {
    let output = host()
        .args(base())
        .args(["--shard", "auto", "--save-npy", "/tmp/unused.npy"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --shard auto: not in a job array (neither SLURM_ARRAY_TASK_ID nor \
         JOB_COMPLETION_INDEX is set); pass --shard K/N\n"
    );
}

#[test]
fn png_folders_of_separate_shards_merge_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    for k in 0..3 {
        let folder = format!("pngs_{k}");
        shard(
            dir,
            &format!("{k}/3"),
            &format!("x{k}.npy"),
            &["--out-dir", &folder],
        );
    }
    let output = merge(dir, &["--out-dir", "all", "pngs_2", "pngs_0", "pngs_1"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    host()
        .current_dir(dir)
        .args(base())
        .args(["--out-dir", "single"])
        .assert()
        .success();
    for index in 0..11 {
        let name = format!("sample_{index:06}.png");
        let merged = std::fs::read(dir.join("all").join(&name)).unwrap();
        assert!(
            merged == std::fs::read(dir.join("single").join(&name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.join("all")).unwrap().count(), 11 + 3);
    assert!(merge(dir, &["--out-dir", "all"]).status.success());
    // A folder missing one of its PNGs is refused before anything is copied.
    std::fs::remove_file(dir.join("pngs_1/sample_000004.png")).unwrap();
    let output = merge(dir, &["--out-dir", "again", "pngs_0", "pngs_1", "pngs_2"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("sample_000004.png is missing"));
    assert!(!dir.join("again").exists());
}
