//! host against diffusers 0.42.1 on a small randomly initialised UNet2DModel (exported and run by
//! tests/fixtures/make_unet.py): same x_T, or the same noise v1 stream, same result within 1e-4.
//! DDIM and DDPM run with the DDIM config beside the model; DPM-Solver with the config diffusers'
//! `DPMSolverMultistepScheduler.save_config` wrote (its `_class_name` selects the sampler).

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

/// (reference file, host flags besides the model, the DPM-Solver config, x_T and 3 samples): the
/// keys make_unet.py's DPM_CASES set over that config, as flags.
const DPM_SOLVER_CASES: &[(&str, &[&str])] = &[
    (
        "dpm_2m_leading_epsilon",
        &["--steps", "10", "--timestep-spacing", "leading"],
    ),
    (
        "dpm_2m_leading_v_prediction",
        &[
            "--steps",
            "10",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "dpm_2m_trailing_epsilon",
        &["--steps", "10", "--timestep-spacing", "trailing"],
    ),
    (
        "dpm_2m_trailing_v_prediction",
        &[
            "--steps",
            "10",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "dpm_3m_leading_epsilon",
        &[
            "--steps",
            "10",
            "--solver-order",
            "3",
            "--timestep-spacing",
            "leading",
        ],
    ),
    (
        "dpm_3m_leading_v_prediction",
        &[
            "--steps",
            "10",
            "--solver-order",
            "3",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "dpm_3m_trailing_epsilon",
        &[
            "--steps",
            "10",
            "--solver-order",
            "3",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "dpm_3m_trailing_v_prediction",
        &[
            "--steps",
            "10",
            "--solver-order",
            "3",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    // The config as saved: DPM-Solver++ 2M, linspace.
    (
        "dpm_2m_linspace_v_prediction",
        &["--steps", "10", "--prediction-type", "v_prediction"],
    ),
    (
        "dpmsolver_3m_heun_sigma_min_trailing_epsilon",
        &[
            "--steps",
            "20",
            "--algorithm-type",
            "dpmsolver",
            "--solver-order",
            "3",
            "--solver-type",
            "heun",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "dpm_2m_thresholding_trailing_epsilon",
        &[
            "--steps",
            "10",
            "--thresholding",
            "true",
            "--sample-max-value",
            "1.5",
            "--timestep-spacing",
            "trailing",
        ],
    ),
];

#[test]
fn host_matches_diffusers_dpm_solver() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let config = fixture("unet-tiny/dpm_solver/scheduler_config.json")
        .display()
        .to_string();
    let x_t = fixture("unet-tiny/reference/x_T.npy").display().to_string();
    for (name, flags) in DPM_SOLVER_CASES {
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--scheduler-config",
            config.as_str(),
            "--init-noise",
            x_t.as_str(),
            "--num-samples",
            "3",
        ];
        args.extend_from_slice(flags);
        let (shape, ours) = sample(dir.path(), name, &args);
        let (expected_shape, expected) =
            read_npy(&fixture(&format!("unet-tiny/reference/{name}.npy")));
        assert_eq!(shape, expected_shape, "{name}");
        let error = relative_l2(&ours, &expected);
        eprintln!("{name}: relative L2 vs diffusers {error:.2e}");
        assert!(error <= 1e-4, "{name}: relative L2 {error:e}");
    }
}
