//! Latent models: host against diffusers 0.42.1 on a tiny random UNet2DModel (4-channel 8x8
//! latents) and AutoencoderKL (latents → 3x16x16 images), written as a diffusers ONNX pipeline
//! folder by tests/fixtures/make_latent.py with diffusers' own results: the sampling loop, then
//! `vae.decode(x₀ / scaling_factor)`. The fixture's scaling factor is 0.3, not diffusers' default,
//! and decoding with 0.18215 instead moves the images 3e-1 (relative L2), so a host that ignored
//! the config would fail here.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, host, read_npy, relative_l2};

fn latent(relative: &str) -> String {
    fixture(&format!("latent-tiny/{relative}"))
        .display()
        .to_string()
}

/// Runs host with `args` plus `--save-npy` and `--save-latents` into `dir`; returns (images,
/// latents) as (shape, values).
fn decode(dir: &Path, name: &str, args: &[&str]) -> [(Vec<usize>, Vec<f32>); 2] {
    let images = dir.join(format!("{name}.npy"));
    let latents = dir.join(format!("{name}_latents.npy"));
    host()
        .args(["--steps", "10", "--num-samples", "3", "--seed", "7"])
        .args(args)
        .arg("--save-npy")
        .arg(&images)
        .arg("--save-latents")
        .arg(&latents)
        .assert()
        .success();
    [read_npy(&images), read_npy(&latents)]
}

/// Both outputs within 1e-4 of diffusers' (case `reference`).
fn check(name: &str, reference: &str, outputs: [(Vec<usize>, Vec<f32>); 2]) {
    common::check_decoded(name, "latent-tiny", reference, outputs);
}

#[test]
fn pipeline_folder_and_explicit_decoder_match_diffusers() {
    let dir = tempfile::tempdir().unwrap();
    let folder = latent("");
    let dpm_config = latent("dpm_solver/scheduler_config.json");
    // The folder: its U-Net, decoder, decoder config and DDIM scheduler config.
    let outputs = decode(dir.path(), "folder_ddim", &["--onnx", &folder]);
    check("folder, DDIM", "ddim", outputs);
    // An explicit flag wins over the folder's part; batches of 2 and 1 decode separately.
    let outputs = decode(
        dir.path(),
        "folder_dpm",
        &[
            "--onnx",
            &folder,
            "--scheduler-config",
            &dpm_config,
            "--batch",
            "2",
        ],
    );
    check(
        "folder, DPM-Solver++ (batches 2 + 1)",
        "dpm_solver",
        outputs,
    );
    // The same with each part named.
    let (unet, decoder) = (latent("unet/model.onnx"), latent("vae_decoder/model.onnx"));
    for (name, reference, config) in [
        (
            "explicit_ddim",
            "ddim",
            latent("scheduler/scheduler_config.json"),
        ),
        ("explicit_dpm", "dpm_solver", dpm_config.clone()),
    ] {
        let outputs = decode(
            dir.path(),
            name,
            &[
                "--onnx",
                &unet,
                "--vae-decoder",
                &decoder,
                "--scheduler-config",
                &config,
            ],
        );
        check(name, reference, outputs);
    }
}

/// The decoder in a folder of its own, without its config.json.
fn bare_decoder(dir: &Path) -> PathBuf {
    let path = dir.join("decoder.onnx");
    std::fs::copy(latent("vae_decoder/model.onnx"), &path).unwrap();
    path
}

#[test]
fn the_scaling_factor_comes_from_the_flag_or_the_config_and_is_never_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let decoder = bare_decoder(dir.path());
    let decoder = decoder.to_str().unwrap();
    let (unet, config) = (
        latent("unet/model.onnx"),
        latent("scheduler/scheduler_config.json"),
    );
    let base = [
        "--onnx",
        &unet,
        "--scheduler-config",
        &config,
        "--vae-decoder",
        decoder,
    ];
    let output = dir.path().join("x.npy");
    let run = host()
        .args(base)
        .args(["--steps", "10", "--num-samples", "3", "--seed", "7"])
        .arg("--save-npy")
        .arg(&output)
        .assert()
        .failure()
        .code(1);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no scaling factor for --vae-decoder")
            && stderr.contains("--vae-scaling-factor"),
        "{stderr}"
    );
    assert!(!output.exists());
    // The flag gives the config's factor: diffusers' result.
    let outputs = decode(
        dir.path(),
        "flag",
        &[&base[..], &["--vae-scaling-factor", "0.3"]].concat(),
    );
    check("--vae-scaling-factor 0.3", "ddim", outputs);
    // The flag wins over the config, and matters.
    let outputs = decode(
        dir.path(),
        "wrong",
        &["--onnx", &latent(""), "--vae-scaling-factor", "0.18215"],
    );
    let (_, expected) = read_npy(&fixture("latent-tiny/reference/ddim.npy"));
    let error = relative_l2(&outputs[0].1, &expected);
    assert!(error > 0.1, "decoding with 0.18215 is {error:e} from 0.3's");
}

/// host with `args` fails with one line containing `expected`, and writes nothing into `dir`.
fn refuses(dir: &Path, args: &[&str], expected: &str) {
    let before: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let run = host()
        .current_dir(dir)
        .args(args)
        .args(["--steps", "2", "--save-npy", "x.npy"])
        .assert()
        .failure()
        .code(1);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    let after: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "{args:?} left files behind");
}

#[test]
fn bad_latent_inputs_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let decoder = latent("vae_decoder/model.onnx");
    let pixel_unet = fixture("unet-tiny/unet.onnx").display().to_string();
    let unet = latent("unet/model.onnx");
    // A 4-channel-latent decoder after a 3-channel U-Net.
    refuses(
        dir.path(),
        &["--onnx", &pixel_unet, "--vae-decoder", &decoder],
        "takes latents of 4 channels; the U-Net's samples have 3",
    );
    refuses(
        dir.path(),
        &["--onnx", &unet, "--vae-scaling-factor", "0.3"],
        "--vae-scaling-factor needs --vae-decoder",
    );
    refuses(
        dir.path(),
        &["--onnx", &unet, "--save-latents", "l.npy"],
        "--save-latents needs --vae-decoder",
    );
    refuses(
        dir.path(),
        &["--onnx", &latent(""), "--vae-scaling-factor", "0"],
        "must be a positive number",
    );
    refuses(
        dir.path(),
        &["--onnx", &latent(""), "--save-latents", "l.npy", "--resume"],
        "--save-latents cannot be resumed",
    );
    refuses(
        dir.path(),
        &["--onnx", &latent(""), "--save-latents", "l.png"],
        "--save-latents l.png: the file name must end in .npy",
    );
    refuses(
        dir.path(),
        &["--onnx", &unet, "--vae-decoder", "missing.onnx"],
        "cannot read --vae-decoder missing.onnx",
    );
    // A folder that lists a part it lacks, and a folder that is no pipeline.
    let broken = tempfile::tempdir().unwrap();
    for file in [
        "model_index.json",
        "unet/model.onnx",
        "scheduler/scheduler_config.json",
    ] {
        let target = broken.path().join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(latent(file), target).unwrap();
    }
    refuses(
        dir.path(),
        &["--onnx", broken.path().to_str().unwrap()],
        "model_index.json lists vae_decoder but",
    );
    let empty = tempfile::tempdir().unwrap();
    refuses(
        dir.path(),
        &["--onnx", empty.path().to_str().unwrap()],
        "not a file, and not a diffusers ONNX pipeline folder (no model_index.json",
    );
}

#[test]
fn pictures_manifests_and_shards_hold_the_decoded_images() {
    let dir = tempfile::tempdir().unwrap();
    let folder = latent("");
    let pngs = dir.path().join("pngs");
    let parts: Vec<PathBuf> = (0..2)
        .map(|k| dir.path().join(format!("part{k}.npy")))
        .collect();
    for (k, part) in parts.iter().enumerate() {
        host()
            .args([
                "--onnx",
                &folder,
                "--steps",
                "10",
                "--num-samples",
                "3",
                "--seed",
                "7",
            ])
            .args(["--shard", &format!("{k}/2"), "--png-scale", "1"])
            .arg("--save-npy")
            .arg(part)
            .arg("--out-dir")
            .arg(&pngs)
            .assert()
            .success();
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("part0.npy.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["job"]["sample_shape"],
        serde_json::json!([3, 16, 16])
    );
    let decoder = &manifest["job"]["vae_decoder"];
    assert_eq!(decoder["scaling_factor"], serde_json::json!(0.3));
    assert_eq!(decoder["sha256"].as_str().unwrap().len(), 64);
    let all = dir.path().join("all.npy");
    host()
        .arg("merge")
        .arg("--save-npy")
        .arg(&all)
        .args(&parts)
        .assert()
        .success();
    let (shape, merged) = read_npy(&all);
    let (_, expected) = read_npy(&fixture("latent-tiny/reference/ddim.npy"));
    assert_eq!(shape, [3, 3, 16, 16]);
    let error = relative_l2(&merged, &expected);
    assert!(error <= 1e-4, "merged shards: relative L2 {error:e}");
    // Each PNG is its decoded image, (x/2 + 0.5).clamp(0, 1) in bytes.
    for index in 0..3 {
        let png = image::open(pngs.join(format!("sample_{index:06}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(png.dimensions(), (16, 16));
        let image = &merged[index * 768..(index + 1) * 768];
        for (position, pixel) in png.pixels().enumerate() {
            for channel in 0..3 {
                let value = image[channel * 256 + position];
                let byte = ((value + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
                assert_eq!(pixel[channel], byte, "sample {index}, pixel {position}");
            }
        }
    }
}

/// Samples committed according to the resume state beside `npy` (0 without one).
fn committed(npy: &Path) -> u64 {
    let mut state = npy.as_os_str().to_owned();
    state.push(".partial.json");
    let Ok(text) = std::fs::read_to_string(state) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["done"].as_u64().unwrap()
}

/// Stopped after its first batch of one sample (the test-only switch of `host::interrupt` raises
/// SIGINT there), a latent run keeps exactly sample 0 and resumes only with the same decoder.
#[test]
fn a_stopped_latent_run_resumes_only_with_the_same_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("x.npy");
    let folder = latent("");
    let args = [
        "--onnx",
        &folder,
        "--steps",
        "10",
        "--num-samples",
        "3",
        "--seed",
        "7",
        "--batch",
        "1",
        "--resume",
        "--save-npy",
        npy.to_str().unwrap(),
    ];
    let stopped = host()
        .args(args)
        .env("DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES", "1")
        .assert()
        .code(130);
    let stderr = String::from_utf8_lossy(&stopped.get_output().stderr).to_string();
    assert!(
        stderr.contains(
            "error: interrupted by SIGINT while sampling (step 1/10 of batch 2/3); no output was \
             written"
        ),
        "{stderr}"
    );
    let done = committed(&npy);
    assert_eq!(done, 1);
    // Another scaling factor is another job.
    let run = host()
        .args(args)
        .args(["--vae-scaling-factor", "0.5"])
        .assert()
        .failure()
        .code(1);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    assert!(
        stderr.contains("it is another job (vae_decoder.scaling_factor: 0.3 vs 0.5"),
        "{stderr}"
    );
    assert_eq!(committed(&npy), done);
    // The same command finishes the job with diffusers' images.
    let run = host().args(args).assert().success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    assert!(
        stderr.contains("resuming: samples 0..1 are done, 2 to go"),
        "{stderr}"
    );
    let (shape, images) = read_npy(&npy);
    let (_, expected) = read_npy(&fixture("latent-tiny/reference/ddim.npy"));
    assert_eq!(shape, [3, 3, 16, 16]);
    let error = relative_l2(&images, &expected);
    assert!(error <= 1e-4, "resumed after {done}: relative L2 {error:e}");
    // ... and the bytes of an uninterrupted run.
    let single = dir.path().join("single.npy");
    let mut uninterrupted = args;
    *uninterrupted.last_mut().unwrap() = single.to_str().unwrap();
    host().args(uninterrupted).assert().success();
    assert!(std::fs::read(&npy).unwrap() == std::fs::read(&single).unwrap());
}
