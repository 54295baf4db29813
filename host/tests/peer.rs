//! host against diffusers 0.42.1 on a small randomly initialised UNet2DModel (exported and run by
//! tests/fixtures/make_unet.py): same x_T, or the same noise v1 stream, same result within 1e-4.
//! DDIM and DDPM run with the DDIM config beside the model; DPM-Solver, UniPC, Euler, Euler
//! ancestral and Heun with the config diffusers' `save_config` wrote for their class (its `_class_name`
//! selects the sampler); LCM with `LCMScheduler`'s saved defaults. The model's timestep input is int64, so the Euler cases check what an
//! integer model gets for a fractional timestep: the truncated one, as diffusers' ONNX pipelines
//! feed it (the script passes `int(t)`).

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
    (
        "dpm_2m_karras_epsilon",
        &["--steps", "10", "--use-karras-sigmas", "true"],
    ),
    (
        "dpm_3m_heun_karras_v_prediction",
        &[
            "--steps",
            "10",
            "--use-karras-sigmas",
            "true",
            "--solver-order",
            "3",
            "--solver-type",
            "heun",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "dpm_2m_exponential_sigma_min_epsilon",
        &[
            "--steps",
            "10",
            "--use-exponential-sigmas",
            "true",
            "--final-sigmas-type",
            "sigma_min",
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

/// UniPC, Euler, Euler ancestral and Heun (make_unet.py's SOLVER_CASES): (reference file, directory of
/// the class's saved config, host flags besides the model, the config and 3 samples; X_T is the
/// committed x_T). Euler ancestral draws x_T and its step noise from noise v1 (--seed 7), as the
/// script does. No beta sigmas: diffusers needs scipy for them, which the pinned peer lacks. No
/// Karras or exponential sigmas with trailing spacing: their last sigma is that of t = 99, which
/// diffusers maps back to 98.99999 and the core to 99.00001, so this int64 model gets 98 from
/// diffusers and 99 from host at the last step (relative L2 3e-3; see the README).
const SOLVER_CASES: &[(&str, &str, &[&str])] = &[
    (
        "unipc_bh2_2_leading_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "unipc_bh2_2_leading_v_prediction",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "unipc_bh2_2_trailing_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "unipc_bh2_2_trailing_v_prediction",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "unipc_bh1_3_leading_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--solver-type",
            "bh1",
            "--solver-order",
            "3",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "unipc_bh1_3_leading_v_prediction",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--solver-type",
            "bh1",
            "--solver-order",
            "3",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "unipc_bh1_3_trailing_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--solver-type",
            "bh1",
            "--solver-order",
            "3",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "unipc_bh1_3_trailing_v_prediction",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--solver-type",
            "bh1",
            "--solver-order",
            "3",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "unipc_bh2_2_linspace_epsilon",
        "unipc",
        &["--steps", "10", "--init-noise", "X_T"],
    ),
    (
        "unipc_bh2_2_noise_prediction_disable_corrector_trailing_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--predict-x0",
            "false",
            "--disable-corrector",
            "0,1",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "unipc_bh2_3_thresholding_trailing_epsilon",
        "unipc",
        &[
            "--steps",
            "20",
            "--init-noise",
            "X_T",
            "--solver-order",
            "3",
            "--thresholding",
            "true",
            "--sample-max-value",
            "1.5",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "unipc_bh2_2_karras_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
        ],
    ),
    (
        "unipc_bh1_3_karras_sigma_min_v_prediction",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
            "--solver-type",
            "bh1",
            "--solver-order",
            "3",
            "--final-sigmas-type",
            "sigma_min",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "unipc_bh2_2_karras_range_epsilon",
        "unipc",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
            "--sigma-min",
            "0.05",
            "--sigma-max",
            "80",
        ],
    ),
    (
        "euler_leading_epsilon",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "euler_leading_v_prediction",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "euler_trailing_epsilon",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "euler_trailing_v_prediction",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "euler_linspace_epsilon",
        "euler",
        &["--steps", "10", "--init-noise", "X_T"],
    ),
    (
        "euler_karras_linspace_epsilon",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
        ],
    ),
    (
        "euler_karras_linspace_v_prediction",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "euler_exponential_sigma_min_leading_epsilon",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-exponential-sigmas",
            "true",
            "--final-sigmas-type",
            "sigma_min",
            "--timestep-spacing",
            "leading",
        ],
    ),
    (
        "euler_karras_range_trailing_epsilon",
        "euler",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
            "--sigma-min",
            "0.05",
            "--sigma-max",
            "80.0",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "sde_dpm_2m_trailing_epsilon",
        "dpm_solver",
        &[
            "--steps",
            "10",
            "--seed",
            "7",
            "--algorithm-type",
            "sde-dpmsolver++",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "sde_dpm_2m_heun_karras_v_prediction",
        "dpm_solver",
        &[
            "--steps",
            "10",
            "--seed",
            "7",
            "--algorithm-type",
            "sde-dpmsolver++",
            "--solver-type",
            "heun",
            "--use-karras-sigmas",
            "true",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "euler_ancestral_linspace_epsilon",
        "euler_ancestral",
        &[
            "--steps",
            "10",
            "--seed",
            "7",
            "--timestep-spacing",
            "linspace",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "euler_ancestral_leading_epsilon",
        "euler_ancestral",
        &[
            "--steps",
            "10",
            "--seed",
            "7",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "epsilon",
        ],
    ),
    (
        "euler_ancestral_trailing_v_prediction",
        "euler_ancestral",
        &[
            "--steps",
            "10",
            "--seed",
            "7",
            "--timestep-spacing",
            "trailing",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "heun_linspace_epsilon",
        "heun",
        &["--steps", "10", "--init-noise", "X_T"],
    ),
    (
        "heun_leading_v_prediction",
        "heun",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "leading",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "heun_trailing_epsilon",
        "heun",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--timestep-spacing",
            "trailing",
        ],
    ),
    (
        "heun_karras_linspace_v_prediction",
        "heun",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--use-karras-sigmas",
            "true",
            "--prediction-type",
            "v_prediction",
        ],
    ),
    (
        "heun_clip_sample_trailing_epsilon",
        "heun",
        &[
            "--steps",
            "10",
            "--init-noise",
            "X_T",
            "--clip-sample",
            "true",
            "--clip-sample-range",
            "1.5",
            "--timestep-spacing",
            "trailing",
        ],
    ),
];

#[test]
fn host_matches_diffusers_unipc_euler_and_heun() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let x_t = fixture("unet-tiny/reference/x_T.npy").display().to_string();
    let mut failures = Vec::new();
    for (name, directory, flags) in SOLVER_CASES {
        let config = fixture(&format!("unet-tiny/{directory}/scheduler_config.json"))
            .display()
            .to_string();
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--scheduler-config",
            config.as_str(),
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
        if error.is_nan() || error > 1e-4 {
            failures.push(format!("{name}: relative L2 {error:e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// (reference file, host flags besides the model, `--scheduler lcm`, the LCM config, `--seed 7`
/// and 3 samples): make_unet.py's LCM_CASES, whose keys over LCMScheduler's saved defaults
/// (scaled_linear betas, original_inference_steps 50, timestep_scaling 10) are flags here.
const LCM_CASES: &[(&str, &[&str])] = &[
    ("lcm_4_epsilon", &["--steps", "4"]),
    ("lcm_8_epsilon", &["--steps", "8"]),
    (
        "lcm_4_original_20_scaling_0p1_epsilon",
        &[
            "--steps",
            "4",
            "--original-inference-steps",
            "20",
            "--timestep-scaling",
            "0.1",
        ],
    ),
];

/// LCM (diffusers' `LCMScheduler`, the core's `LcmPlan`) against make_unet.py's LCM_CASES, at the
/// tolerance of the other peer cases (relative L2 ≤ 1e-4).
///
/// Expects host to run `host --onnx unet-tiny/unet.onnx --scheduler lcm --scheduler-config
/// unet-tiny/lcm/scheduler_config.json --num-samples 3 --seed 7 --steps N`, with the LCM keys
/// `--original-inference-steps K` and `--timestep-scaling S` as flags (diffusers' names), the
/// schedule (scaled_linear, 0.00085 to 0.012) from the config file, x_T and the noise of every step
/// but the last drawn from noise v1 (x_T is then x_T.npy), and the model given x_t itself at the
/// integer timestep.
#[test]
fn host_matches_diffusers_lcm() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let config = fixture("unet-tiny/lcm/scheduler_config.json")
        .display()
        .to_string();
    let mut failures = Vec::new();
    for (name, flags) in LCM_CASES {
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--scheduler",
            "lcm",
            "--scheduler-config",
            config.as_str(),
            "--num-samples",
            "3",
            "--seed",
            "7",
        ];
        args.extend_from_slice(flags);
        let (shape, ours) = sample(dir.path(), name, &args);
        let (expected_shape, expected) =
            read_npy(&fixture(&format!("unet-tiny/reference/{name}.npy")));
        assert_eq!(shape, expected_shape, "{name}");
        let error = relative_l2(&ours, &expected);
        eprintln!("{name}: relative L2 vs diffusers {error:.2e}");
        if error.is_nan() || error > 1e-4 {
            failures.push(format!("{name}: relative L2 {error:e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
