//! The shipped model (models/digits): a few samples at few steps have the right shape, stay in
//! [-1, 1], look like digits on a dark background, and are reproducible.

mod common;

use std::path::Path;

use common::sample;

#[test]
fn shipped_model_samples_are_digit_like_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/digits/unet.onnx");
    let model = model.display().to_string();
    let args = [
        "--onnx",
        model.as_str(),
        "--steps",
        "10",
        "--num-samples",
        "8",
        "--seed",
        "3",
    ];
    let (shape, first) = sample(dir.path(), "first", &args);
    let (_, second) = sample(dir.path(), "second", &args);
    assert_eq!(shape, [8, 1, 8, 8]);
    assert_eq!(
        first.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        second.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert!(
        first.iter().all(|v| (-1.0..=1.0).contains(v)),
        "clip_sample keeps samples in [-1, 1]"
    );
    // Digits are strokes on a blank background: in the training data 52% of pixels are below
    // -0.75 and 25% above 0.25. Noise or a blank image would fail one of these.
    let background = first.iter().filter(|&&v| v < -0.75).count() as f64 / first.len() as f64;
    let ink = first.iter().filter(|&&v| v > 0.25).count() as f64 / first.len() as f64;
    assert!(
        (0.3..0.7).contains(&background),
        "background share {background}"
    );
    assert!((0.1..0.4).contains(&ink), "ink share {ink}");
}
