//! The shipped class-conditional model (models/digits-cond): asked for digit K with nothing but
//! `--class-label K` (the null label and the guidance scale come from its guidance.json), host
//! draws samples that lie nearest to K's mean training image (tests/fixtures/digit-means.npy,
//! written by make_digit_means.py; a crude classifier: 90.0% on held-out real digits). The
//! model card (models/digits-cond/README.md) measures the same with the project's classifier.

mod common;

use std::path::Path;

use common::{fixture, host, read_npy, sample};

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/digits-cond/unet.onnx")
        .display()
        .to_string()
}

/// The digit whose mean training image is nearest to each sample.
fn nearest_digits(samples: &[f32]) -> Vec<usize> {
    let (shape, means) = read_npy(&fixture("digit-means.npy"));
    assert_eq!(shape, [10, 64]);
    samples
        .chunks(64)
        .map(|image| {
            let distance = |mean: &[f32]| -> f32 {
                image.iter().zip(mean).map(|(a, b)| (a - b) * (a - b)).sum()
            };
            (0..10)
                .min_by(|&a, &b| {
                    distance(&means[a * 64..][..64]).total_cmp(&distance(&means[b * 64..][..64]))
                })
                .unwrap()
        })
        .collect()
}

#[test]
fn each_asked_digit_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.npy");
    let asked: Vec<i64> = (0..10).flat_map(|k| [k; 5]).collect();
    ndarray_npy::write_npy(&labels, &ndarray::arr1(&asked)).unwrap();
    let (shape, samples) = sample(
        dir.path(),
        "digits",
        &[
            "--onnx",
            &model(),
            "--class-labels",
            labels.to_str().unwrap(),
            "--num-samples",
            "50",
        ],
    );
    assert_eq!(shape, [50, 1, 8, 8]);
    let nearest = nearest_digits(&samples);
    let hits = |k: usize| (0..5).filter(|i| nearest[5 * k + i] == k).count();
    let total: usize = (0..10).map(hits).sum();
    eprintln!("nearest to the asked digit's mean: {total} of 50");
    assert!(total >= 45, "{total} of 50 nearest to the asked digit");
    assert!((0..10).all(|k| hits(k) >= 3), "{nearest:?}");
}

/// `--class-label K` alone uses guidance.json's scale; at scale 0 the same label gives the
/// unconditional model (the null label), whose samples are every kind of digit.
#[test]
fn one_label_needs_no_other_flag_and_guidance_is_what_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    let seven = dir.path().join("seven.npy");
    host()
        .args([
            "--onnx",
            &model(),
            "--class-label",
            "7",
            "--num-samples",
            "16",
        ])
        .arg("--save-npy")
        .arg(&seven)
        .assert()
        .success();
    let manifest = std::fs::read_to_string(dir.path().join("seven.npy.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["job"]["conditioning"]["guidance_scale"], 1.5,
        "{manifest}"
    );
    let sevens = nearest_digits(&read_npy(&seven).1);
    let share = sevens.iter().filter(|&&k| k == 7).count();
    eprintln!("--class-label 7: {share} of 16 nearest to the mean 7");
    assert!(share >= 14, "{sevens:?}");
    let (_, unconditional) = sample(
        dir.path(),
        "unconditional",
        &[
            "--onnx",
            &model(),
            "--class-label",
            "7",
            "--num-samples",
            "16",
            "--guidance-scale",
            "0",
        ],
    );
    let unconditional = nearest_digits(&unconditional);
    let share = unconditional.iter().filter(|&&k| k == 7).count();
    eprintln!("--guidance-scale 0: {share} of 16 nearest to the mean 7");
    assert!(share <= 6, "{unconditional:?}");
}
