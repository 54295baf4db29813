//! Conditional models and classifier-free guidance against diffusers 0.42.1
//! (tests/fixtures/make_cond.py): a tiny cross-attention UNet2DConditionModel with
//! encoder_hidden_states shared by every sample or one per sample, guided with
//! StableDiffusionPipeline's loop (scale 7.5, rescale 0.7) under DDIM and DPM-Solver++, and a tiny
//! class-conditional UNet2DModel with a fixed batch (two calls per step) guided against its null
//! label from guidance.json. Same x_T, same result within 1e-4 relative L2; and a sample's
//! conditioning follows it through batches and shards as its noise does.

mod common;

use common::{fixture, host, read_npy, relative_l2, sample};

/// Relative L2 bound against diffusers.
const TOLERANCE: f64 = 1e-4;

fn path(relative: &str) -> String {
    fixture(relative).display().to_string()
}

/// (reference, flags besides the model, --steps 10, --num-samples 3 and x_T); PROMPT, PROMPTS and
/// NEGATIVE stand for the reference embeddings, DPM for the DPM-Solver config.
const CROSS_CASES: &[(&str, &[&str])] = &[
    (
        "ddim_shared_g7.5_r0.7",
        &[
            "--input",
            "PROMPT",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
            "--guidance-rescale",
            "0.7",
        ],
    ),
    (
        "ddim_per_sample_g7.5_r0.7",
        &[
            "--input",
            "PROMPTS",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
            "--guidance-rescale",
            "0.7",
        ],
    ),
    (
        "ddim_per_sample_g7.5",
        &[
            "--input",
            "PROMPTS",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
        ],
    ),
    (
        "ddim_v_prediction_per_sample_g7.5_r0.7",
        &[
            "--input",
            "PROMPTS",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
            "--guidance-rescale",
            "0.7",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    // Scale 1: the conditional model alone, no unconditional input needed.
    ("ddim_per_sample_g1", &["--input", "PROMPTS"]),
    (
        "dpm_shared_g7.5_r0.7",
        &[
            "--input",
            "PROMPT",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
            "--guidance-rescale",
            "0.7",
            "--scheduler-config",
            "DPM",
        ],
    ),
    (
        "dpm_per_sample_g7.5_r0.7",
        &[
            "--input",
            "PROMPTS",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            "7.5",
            "--guidance-rescale",
            "0.7",
            "--scheduler-config",
            "DPM",
        ],
    ),
];

fn cross_args(flags: &[&str]) -> Vec<String> {
    let reference = "unet-cross-attention/reference";
    let mut args: Vec<String> = [
        "--onnx",
        &path("unet-cross-attention/unet.onnx"),
        "--steps",
        "10",
        "--num-samples",
        "3",
        "--init-noise",
        &path(&format!("{reference}/x_T.npy")),
    ]
    .map(String::from)
    .to_vec();
    args.extend(flags.iter().map(|&flag| match flag {
        "PROMPT" | "PROMPTS" | "NEGATIVE" => format!(
            "encoder_hidden_states={}",
            path(&format!("{reference}/{}.npy", flag.to_lowercase()))
        ),
        "DPM" => path("unet-cross-attention/dpm_solver/scheduler_config.json"),
        other => other.to_string(),
    }));
    args
}

fn check(name: &str, reference: &str, ours: &[f32], shape: &[usize]) {
    let (expected_shape, expected) = read_npy(&fixture(reference));
    assert_eq!(shape, expected_shape, "{name}");
    let error = relative_l2(ours, &expected);
    eprintln!("{name}: relative L2 vs diffusers {error:.2e}");
    assert!(error <= TOLERANCE, "{name}: relative L2 {error:e}");
}

#[test]
fn cross_attention_guidance_matches_diffusers() {
    let dir = tempfile::tempdir().unwrap();
    for (name, flags) in CROSS_CASES {
        let args = cross_args(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (shape, ours) = sample(dir.path(), name, &args);
        check(
            name,
            &format!("unet-cross-attention/reference/{name}.npy"),
            &ours,
            &shape,
        );
    }
}

/// (reference, flags besides the model, --steps 10, --num-samples 3 and x_T): the null label and
/// the default scale 3 come from the model's guidance.json.
const CLASS_CASES: &[(&str, &[&str])] = &[
    ("labels_g3", &["--class-labels", "LABELS"]),
    ("label5_g3", &["--class-label", "5"]),
    (
        "labels_g5_r0.5",
        &[
            "--class-labels",
            "LABELS",
            "--guidance-scale",
            "5",
            "--guidance-rescale",
            "0.5",
        ],
    ),
];

#[test]
fn class_conditional_guidance_matches_diffusers() {
    let dir = tempfile::tempdir().unwrap();
    let labels = path("unet-class/reference/labels.npy");
    for (name, flags) in CLASS_CASES {
        let mut args = vec![
            "--onnx".to_string(),
            path("unet-class/unet.onnx"),
            "--steps".into(),
            "10".into(),
            "--num-samples".into(),
            "3".into(),
            "--init-noise".into(),
            path("unet-class/reference/x_T.npy"),
        ];
        args.extend(flags.iter().map(|&flag| match flag {
            "LABELS" => labels.clone(),
            other => other.to_string(),
        }));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (shape, ours) = sample(dir.path(), name, &args);
        check(
            name,
            &format!("unet-class/reference/{name}.npy"),
            &ours,
            &shape,
        );
    }
}

/// Per-sample embeddings are sliced like the noise: sample i is the same, bit for bit, at batch 3,
/// at batch 2 (a short last batch), and in shards; and it differs from a run where every sample
/// gets the first embedding.
#[test]
fn per_sample_inputs_follow_the_sample_through_batches_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--input",
        "PROMPTS",
        "--uncond-input",
        "NEGATIVE",
        "--guidance-scale",
        "7.5",
        "--guidance-rescale",
        "0.7",
    ];
    let run = |name: &str, extra: &[&str]| {
        let mut args = cross_args(&flags);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sample(dir.path(), name, &args).1
    };
    let whole = run("whole", &["--batch", "3"]);
    let per_sample = whole.len() / 3;
    assert_eq!(run("batch2", &["--batch", "2"]), whole);
    assert_eq!(run("batch1", &["--batch", "1"]), whole);
    let mut union = run("shard0", &["--shard", "0/2"]);
    union.extend(run("shard1", &["--shard", "1/2"]));
    assert_eq!(union, whole);
    let shared_flags = [
        "--input",
        "PROMPT",
        "--uncond-input",
        "NEGATIVE",
        "--guidance-scale",
        "7.5",
        "--guidance-rescale",
        "0.7",
    ];
    let mut args = cross_args(&shared_flags);
    args.extend(["--batch", "3"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, shared) = sample(dir.path(), "shared", &args);
    assert_ne!(
        shared[per_sample..2 * per_sample],
        whole[per_sample..2 * per_sample]
    );
}

/// A fixed-batch model (3) with 4 samples: the last batch is padded, its padding sample gets the
/// last sample's label, and samples 0..3 are those of the 3-sample run; sample 3 with label 0 is
/// sample 3 of a run where every sample has label 0.
#[test]
fn a_padded_fixed_batch_keeps_each_samples_label() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels4.npy");
    write_labels(&labels, &[3, 7, 0, 0]);
    let model = path("unet-class/unet.onnx");
    let base = ["--onnx", &model, "--steps", "5", "--seed", "11"];
    let four = sample(
        dir.path(),
        "four",
        &[
            &base[..],
            &[
                "--num-samples",
                "4",
                "--class-labels",
                labels.to_str().unwrap(),
            ],
        ]
        .concat(),
    )
    .1;
    let three_labels = dir.path().join("labels3.npy");
    write_labels(&three_labels, &[3, 7, 0]);
    let three = sample(
        dir.path(),
        "three",
        &[
            &base[..],
            &[
                "--num-samples",
                "3",
                "--class-labels",
                three_labels.to_str().unwrap(),
            ],
        ]
        .concat(),
    )
    .1;
    assert_eq!(four[..three.len()], three[..]);
    let zeros = sample(
        dir.path(),
        "zeros",
        &[&base[..], &["--num-samples", "4", "--class-label", "0"]].concat(),
    )
    .1;
    let per_sample = three.len() / 3;
    assert_eq!(four[3 * per_sample..], zeros[3 * per_sample..]);
    assert_ne!(four[..per_sample], zeros[..per_sample]);
}

/// An int64 .npy of shape [n].
fn write_labels(path: &std::path::Path, labels: &[i64]) {
    ndarray_npy::write_npy(path, &ndarray::arr1(labels)).unwrap();
}

/// Scale 0 without a rescale is the unconditional prediction: one call per step with the
/// unconditional inputs, the same samples as running the unconditional inputs alone; with a
/// rescale (σ(ε_c) enters) or any other scale, both halves are computed.
#[test]
fn scale_zero_makes_one_call_with_the_unconditional_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, flags: &[&str]| {
        let args = cross_args(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sample(dir.path(), name, &args).1
    };
    let guided = |scale: &'static str, rescale: &'static str| {
        [
            "--input",
            "PROMPTS",
            "--uncond-input",
            "NEGATIVE",
            "--guidance-scale",
            scale,
            "--guidance-rescale",
            rescale,
        ]
    };
    let unconditional_alone = run("negative", &["--input", "NEGATIVE"]);
    assert_eq!(run("s0", &guided("0", "0")), unconditional_alone);
    assert_ne!(run("s0_r0.7", &guided("0", "0.7")), unconditional_alone);

    // The fixed-batch class model: guidance takes two calls of the batch per step, s = 0 one.
    let calls = |scale: &str| {
        let output = host()
            .args(["--onnx", &path("unet-class/unet.onnx"), "--steps", "5"])
            .args(["--num-samples", "3", "--class-label", "4"])
            .args(["--guidance-scale", scale, "--save-npy"])
            .arg(dir.path().join(format!("class_s{scale}.npy")))
            .assert()
            .success();
        let output = output.get_output();
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout)
    };
    let (unguided, guided) = (calls("0"), calls("3"));
    assert!(unguided.contains("in 5 model calls"), "{unguided}");
    assert!(
        unguided
            .contains("guidance scale 0 (the unconditional inputs, one call per step), 5 steps, "),
        "{unguided}"
    );
    assert!(guided.contains("in 10 model calls"), "{guided}");
    assert!(
        guided.contains("(two calls per step), 5 steps (10 model calls)"),
        "{guided}"
    );
}
