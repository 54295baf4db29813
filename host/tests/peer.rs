//! host against diffusers 0.42.1 on a small randomly initialised UNet2DModel (exported and run by
//! tests/fixtures/make_unet.py): same x_T, or the same noise v1 stream, same result within 1e-4.

mod common;

use common::{fixture, read_npy, relative_l2, sample};

/// (reference file, extra host flags)
const CASES: &[(&str, &[&str])] = &[
    ("ddim_leading_epsilon", &["--init-noise", "X_T"]),
    (
        "ddim_trailing_epsilon",
        &["--init-noise", "X_T", "--timestep-spacing", "trailing"],
    ),
    (
        "ddim_leading_v_prediction",
        &["--init-noise", "X_T", "--prediction-type", "v_prediction"],
    ),
    (
        "ddim_trailing_v_prediction",
        &[
            "--init-noise",
            "X_T",
            "--prediction-type",
            "v_prediction",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    // No x_T given: host draws it and every step's noise from noise v1, as the script did in numpy.
    ("ddim_eta1_leading_epsilon", &["--seed", "7", "--eta", "1"]),
    (
        "ddpm_linspace_epsilon",
        &[
            "--seed",
            "7",
            "--scheduler",
            "ddpm",
            "--timestep-spacing",
            "linspace",
        ],
    ),
];

#[test]
fn host_matches_diffusers_sampling_loops() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let x_t = fixture("unet-tiny/reference/x_T.npy").display().to_string();
    for (name, flags) in CASES {
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--steps",
            "10",
            "--num-samples",
            "3",
        ];
        args.extend(
            flags
                .iter()
                .map(|&flag| if flag == "X_T" { x_t.as_str() } else { flag }),
        );
        let (shape, ours) = sample(dir.path(), name, &args);
        let (expected_shape, expected) =
            read_npy(&fixture(&format!("unet-tiny/reference/{name}.npy")));
        assert_eq!(shape, expected_shape, "{name}");
        let error = relative_l2(&ours, &expected);
        eprintln!("{name}: relative L2 vs diffusers {error:.2e}");
        assert!(error <= 1e-4, "{name}: relative L2 {error:e}");
    }
}
