//! A conditional latent pipeline: host against diffusers 0.42.1 on a tiny random
//! UNet2DConditionModel (cross-attention, 4-channel 8x8 latents) followed by a tiny random
//! AutoencoderKL decoder (latents → 3x16x16 images, scaling_factor 0.4 from the folder's
//! vae_decoder/config.json), written as a diffusers ONNX pipeline folder by
//! tests/fixtures/make_cond_latent.py with diffusers' own results: StableDiffusionPipeline's guided
//! loop (scale 7.5, rescale 0.7) under DDIM and DPM-Solver++, prompt embeddings shared by every
//! sample or one per sample, then `vae.decode(x₀ / scaling_factor)`. The generator prints how far
//! the images move when a host gets one part wrong: 0.2 (no rescale) to 0.76 (no guidance), 0.54
//! (diffusers' default scaling factor) relative L2, so the 1e-4 bound catches each.

mod common;

use std::path::Path;

use common::{fixture, host, read_npy, relative_l2};

/// Relative L2 bound against diffusers, for the decoded images and the latents.
const TOLERANCE: f64 = 1e-4;

fn folder(relative: &str) -> String {
    fixture(&format!("cond-latent-tiny/{relative}"))
        .display()
        .to_string()
}

/// (reference, scheduler config in the folder, prompt embeddings, samples per model call): every
/// case runs 10 steps, 3 samples, seed 7, guidance 7.5 and rescale 0.7 against the empty prompt.
/// Batches of 2 (2 + 1) and 1 take each sample's embedding row by its global index, and its
/// decoded image out of a batch of its own.
const CASES: &[(&str, &str, &str, Option<&str>)] = &[
    ("ddim_shared", "scheduler", "prompt", None),
    ("ddim_per_sample", "scheduler", "prompts", Some("2")),
    ("dpm_shared", "dpm_solver", "prompt", None),
    ("dpm_per_sample", "dpm_solver", "prompts", Some("1")),
];

/// Runs host on the pipeline folder with `args` plus `--save-npy` and `--save-latents` into
/// `dir`; returns (images, latents) as (shape, values).
fn run(dir: &Path, name: &str, args: &[String]) -> [(Vec<usize>, Vec<f32>); 2] {
    let images = dir.join(format!("{name}.npy"));
    let latents = dir.join(format!("{name}_latents.npy"));
    host()
        .args(["--onnx", &folder("")])
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

/// The guidance flags of a case: `prompt` embeddings against the empty prompt's, scale 7.5,
/// rescale 0.7.
fn guidance(prompt: &str) -> Vec<String> {
    let input = |file: &str| {
        format!(
            "encoder_hidden_states={}",
            folder(&format!("reference/{file}.npy"))
        )
    };
    vec![
        "--input".into(),
        input(prompt),
        "--uncond-input".into(),
        input("negative"),
        "--guidance-scale".into(),
        "7.5".into(),
        "--guidance-rescale".into(),
        "0.7".into(),
    ]
}

#[test]
fn guided_latent_pipeline_matches_diffusers() {
    let dir = tempfile::tempdir().unwrap();
    for &(name, scheduler, prompt, batch) in CASES {
        let mut args = guidance(prompt);
        // DDIM is the folder's own scheduler; DPM-Solver++ is given by flag.
        if scheduler != "scheduler" {
            args.push("--scheduler-config".into());
            args.push(folder(&format!("{scheduler}/scheduler_config.json")));
        }
        if let Some(batch) = batch {
            args.push("--batch".into());
            args.push(batch.into());
        }
        let label = format!("{name} (batch {})", batch.unwrap_or("3"));
        common::check_decoded(
            &label,
            "cond-latent-tiny",
            name,
            run(dir.path(), name, &args),
        );
    }
}

/// Shards of a guided latent job with one prompt per sample: each shard takes its samples'
/// embedding rows by global index and decodes them, and the merged parts are diffusers' images.
#[test]
fn shards_of_a_guided_latent_job_merge_into_diffusers_images() {
    let dir = tempfile::tempdir().unwrap();
    let parts: Vec<_> = (0..2)
        .map(|k| {
            let mut args = guidance("prompts");
            args.push("--shard".into());
            args.push(format!("{k}/2"));
            run(dir.path(), &format!("part{k}"), &args);
            dir.path().join(format!("part{k}.npy"))
        })
        .collect();
    let merged = dir.path().join("merged.npy");
    host()
        .arg("merge")
        .arg("--save-npy")
        .arg(&merged)
        .args(&parts)
        .assert()
        .success();
    let (shape, images) = read_npy(&merged);
    let (_, expected) = read_npy(&fixture("cond-latent-tiny/reference/ddim_per_sample.npy"));
    assert_eq!(shape, [3, 3, 16, 16]);
    let error = relative_l2(&images, &expected);
    eprintln!("ddim_per_sample (shards 0/2 + 1/2, merged): relative L2 vs diffusers {error:.2e}");
    assert!(error <= TOLERANCE, "merged shards: relative L2 {error:e}");
}

/// Runs host on the pipeline folder `onnx` with the guidance flags of `prompt` against
/// `negative` (files of reference/ or elsewhere) and `args`; returns the decoded images.
fn run_folder(
    dir: &Path,
    name: &str,
    onnx: &Path,
    [prompt, negative]: [&Path; 2],
    args: &[&str],
) -> (Vec<usize>, Vec<f32>) {
    let images = dir.join(format!("{name}.npy"));
    host()
        .arg("--onnx")
        .arg(onnx)
        .args(["--steps", "10", "--num-samples", "3"])
        .arg("--input")
        .arg(format!("encoder_hidden_states={}", prompt.display()))
        .arg("--uncond-input")
        .arg(format!("encoder_hidden_states={}", negative.display()))
        .args(["--guidance-scale", "7.5", "--guidance-rescale", "0.7"])
        .args(args)
        .arg("--save-npy")
        .arg(&images)
        .assert()
        .success();
    read_npy(&images)
}

/// The folder's U-Net has a dynamic C, H, W (as diffusers' converter exports it) and
/// unet/config.json gives them (the test above). Without that file, `--sample-size 8` and
/// `--init-noise` (the generator's x_T, which host draws with --seed 7) give them; without the
/// decoder's config too, `--sample-channels 4` with `--sample-size 8`, `--vae-scaling-factor 0.4`
/// and `--seed 7`. The images are still diffusers'.
#[test]
fn flags_give_the_sample_shape_a_folder_without_unet_config_leaves_open() {
    let dir = tempfile::tempdir().unwrap();
    let stripped = common::fixture_copy("cond-latent-tiny", &["unet/config.json"]);
    let x_t = fixture("cond-latent-tiny/reference/x_T.npy")
        .display()
        .to_string();
    let (prompt, negative) = (
        fixture("cond-latent-tiny/reference/prompt.npy"),
        fixture("cond-latent-tiny/reference/negative.npy"),
    );
    let (shape, images) = run_folder(
        dir.path(),
        "flags",
        stripped.path(),
        [prompt.as_path(), negative.as_path()],
        // A seed other than x_T's: the images are x_T's only if --init-noise is used.
        &["--sample-size", "8", "--init-noise", &x_t, "--seed", "8"],
    );
    let (expected_shape, expected) =
        read_npy(&fixture("cond-latent-tiny/reference/ddim_shared.npy"));
    assert_eq!(shape, expected_shape);
    let error = relative_l2(&images, &expected);
    eprintln!(
        "ddim_shared without unet/config.json (--sample-size, --init-noise): relative L2 vs diffusers {error:.2e}"
    );
    assert!(error <= TOLERANCE, "relative L2 {error:e}");
    // A folder with no config at all (as diffusers' own converter writes it): --sample-channels,
    // --sample-size and --vae-scaling-factor, and noise v1 of the reference's seed.
    let bare = common::fixture_copy(
        "cond-latent-tiny",
        &["unet/config.json", "vae_decoder/config.json"],
    );
    let (shape, images) = run_folder(
        dir.path(),
        "channels",
        bare.path(),
        [prompt.as_path(), negative.as_path()],
        &[
            "--sample-size",
            "8",
            "--sample-channels",
            "4",
            "--vae-scaling-factor",
            "0.4",
            "--seed",
            "7",
        ],
    );
    assert_eq!(shape, expected_shape);
    let error = relative_l2(&images, &expected);
    eprintln!(
        "ddim_shared without any config.json (--sample-size, --sample-channels, --vae-scaling-factor, --seed 7): relative L2 vs diffusers {error:.2e}"
    );
    assert!(error <= TOLERANCE, "relative L2 {error:e}");
    // One flat folder holding the U-Net, the decoder and the decoder's config.json: that config
    // (an AutoencoderKL's, in_channels 3, the image's) is not taken for the U-Net's; C comes from
    // its latent_channels, the factor from its scaling_factor, the size from --sample-size.
    let flat = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("unet/model.onnx", "unet.onnx"),
        ("vae_decoder/model.onnx", "vae.onnx"),
        ("vae_decoder/config.json", "config.json"),
        ("scheduler/scheduler_config.json", "scheduler_config.json"),
    ] {
        std::fs::copy(
            fixture(&format!("cond-latent-tiny/{from}")),
            flat.path().join(to),
        )
        .unwrap();
    }
    let vae = flat.path().join("vae.onnx").display().to_string();
    let (_, images) = run_folder(
        dir.path(),
        "flat",
        &flat.path().join("unet.onnx"),
        [prompt.as_path(), negative.as_path()],
        &["--vae-decoder", &vae, "--sample-size", "8", "--seed", "7"],
    );
    let error = relative_l2(&images, &expected);
    eprintln!("ddim_shared from a flat folder: relative L2 vs diffusers {error:.2e}");
    assert!(error <= TOLERANCE, "relative L2 {error:e}");
}

/// A dynamic sequence length end to end: prompt and empty-prompt embeddings cut to 3 of their 5
/// tokens go through the U-Net, guided, and give other images than the 5-token ones.
#[test]
fn a_shorter_prompt_runs_through_the_dynamic_sequence_axis() {
    let dir = tempfile::tempdir().unwrap();
    let cut = |name: &str| {
        let (_, values) = read_npy(&fixture(&format!("cond-latent-tiny/reference/{name}.npy")));
        let path = dir.path().join(format!("{name}3.npy"));
        common::write_npy(&path, &[1, 3, 16], &values[..3 * 16]);
        path
    };
    let (prompt, negative) = (cut("prompt"), cut("negative"));
    let (shape, images) = run_folder(
        dir.path(),
        "short",
        &fixture("cond-latent-tiny"),
        [prompt.as_path(), negative.as_path()],
        &["--seed", "7"],
    );
    assert_eq!(shape, [3, 3, 16, 16]);
    assert!(images.iter().all(|v| v.is_finite()));
    let (_, five_tokens) = read_npy(&fixture("cond-latent-tiny/reference/ddim_shared.npy"));
    let distance = relative_l2(&images, &five_tokens);
    eprintln!("3-token prompts: relative L2 {distance:.2e} from the 5-token images");
    assert!(
        distance > 1e-2,
        "3 tokens gave the 5-token images ({distance:e})"
    );
}
