//! Every bad input: a one-line message, a non-zero exit (1, or 2 for a usage error), no panic, and
//! no output file (not even a temporary one).

mod common;

use std::path::Path;

use common::{fixture, host};

/// Runs host in a fresh directory that is also the output directory, with `--out grid.png` and
/// `--save-npy x.npy` unless `args` name their own; returns stderr.
fn fails(args: &[&str], expected: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = host();
    command.current_dir(dir.path()).args(args);
    for (flag, default) in [("--out", "grid.png"), ("--save-npy", "x.npy")] {
        if !args.contains(&flag) {
            command.args([flag, default]);
        }
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let code = output.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "{args:?}: exit {code:?}, stderr {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    // Without a terminal, host logs plain progress lines; the error itself is one line.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("progress:"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: expected one line, got {stderr:?}"
    );
    assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: {stderr:?} lacks {expected:?}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
    stderr
}

fn gaussian() -> String {
    fixture("gaussian/unet.onnx").display().to_string()
}

#[test]
fn missing_or_unreadable_model() {
    fails(
        &["--onnx", "/nonexistent/unet.onnx"],
        "cannot read model /nonexistent/unet.onnx",
    );
    let dir = fixture("gaussian");
    fails(&["--onnx", &dir.display().to_string()], "not a file");
}

#[test]
fn not_an_onnx_file() {
    let config = fixture("gaussian/scheduler_config.json")
        .display()
        .to_string();
    fails(&["--onnx", &config], "cannot load model");
}

#[test]
fn model_without_rank4_float_input() {
    fails(
        &[
            "--onnx",
            &fixture("bad-rank2/unet.onnx").display().to_string(),
        ],
        "no rank-4 float32 input",
    );
}

#[test]
fn model_with_an_extra_required_input() {
    fails(
        &[
            "--onnx",
            &fixture("bad-extra-input/unet.onnx").display().to_string(),
        ],
        "class_labels",
    );
}

#[test]
fn step_counts_out_of_range() {
    // Blamed on the flag, not on the config file beside the model.
    let stderr = fails(
        &["--onnx", &gaussian(), "--steps", "0"],
        "error: --steps: number of inference steps must be in 1..=1000, got 0",
    );
    assert!(!stderr.contains("scheduler_config.json"), "{stderr}");
    fails(&["--onnx", &gaussian(), "--steps", "1001"], "got 1001");
}

#[test]
fn negative_or_nan_eta() {
    fails(
        &["--onnx", &gaussian(), "--eta", "-0.5"],
        "error: --eta: eta must be finite, >= 0",
    );
    fails(
        &["--onnx", &gaussian(), "--eta", "NaN"],
        "error: --eta: eta must be finite, >= 0",
    );
    fails(
        &["--onnx", &gaussian(), "--eta", "2"],
        "error: --eta: eta must be finite, >= 0, and small enough",
    );
}

#[test]
fn unknown_names() {
    fails(
        &["--onnx", &gaussian(), "--beta-schedule", "cosine"],
        "--beta-schedule \"cosine\": unknown beta schedule",
    );
    fails(
        &["--onnx", &gaussian(), "--timestep-spacing", "uniform"],
        "unknown timestep spacing",
    );
    fails(
        &["--onnx", &gaussian(), "--prediction-type", "eps"],
        "unknown prediction type",
    );
    fails(
        &["--onnx", &gaussian(), "--scheduler", "pndm"],
        "invalid value 'pndm'",
    );
}

fn with_config(contents: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scheduler_config.json");
    std::fs::write(&config, contents).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--scheduler-config",
            &config.display().to_string(),
        ],
        expected,
    );
}

/// One `#[test]` per row `name: CONTENTS => EXPECTED;`: the Gaussian fixture with a
/// `--scheduler-config` file holding CONTENTS fails with EXPECTED in its message ([`with_config`]).
macro_rules! config_refused {
    ($($(#[$meta:meta])* $name:ident: $contents:expr => $expected:expr;)*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                let contents: &str = &$contents;
                let expected: &str = &$expected;
                with_config(contents, expected);
            }
        )*
    };
}

/// One `#[test]` per row `name: [FLAGS] => EXPECTED;`: `--onnx` the Gaussian fixture, then FLAGS,
/// fails with EXPECTED in its message ([`fails`]).
macro_rules! flags_refused {
    ($($(#[$meta:meta])* $name:ident: [$($arg:expr),* $(,)?] => $expected:expr;)*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                let expected: &str = &$expected;
                fails(&["--onnx", &gaussian(), $($arg),*], expected);
            }
        )*
    };
}

/// A model whose output carries variance channels, run with `--scheduler scheduler`: refused
/// because the sampler `name` takes a prediction of the sample's channels only.
fn learned_variance_refused(scheduler: &str, name: &str) {
    let learned = fixture("gaussian-learned-variance/unet.onnx")
        .display()
        .to_string();
    fails(
        &["--onnx", &learned, "--scheduler", scheduler],
        &format!("{name} takes a prediction of the sample's channels only"),
    );
}

/// Malformed or contradictory scheduler configurations, one test per case.
mod malformed_or_contradictory_scheduler_config {
    use super::*;

    config_refused! {
        truncated_json: "{ \"num_train_timesteps\": 1000," => "malformed scheduler config";
        a_string_for_a_number: "{ \"num_train_timesteps\": \"many\" }" => "malformed scheduler config";
        a_descending_beta_range: "{ \"beta_start\": 0.02, \"beta_end\": 0.0001 }" => "beta range must satisfy";
        trained_betas_of_another_length:
            "{ \"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2] }" => "trained_betas must have";
        a_negative_clip_sample_range:
            "{ \"clip_sample_range\": -1 }"
            => "scheduler_config.json: clip_sample_range: clip_sample_range must be finite";
        an_unsupported_class_name:
            "{ \"_class_name\": \"PNDMScheduler\" }"
            => "_class_name PNDMScheduler is not supported (host runs DDIMScheduler, DDPMScheduler, \
                DPMSolverMultistepScheduler, UniPCMultistepScheduler, EulerDiscreteScheduler, \
                EulerAncestralDiscreteScheduler, HeunDiscreteScheduler, LCMScheduler)";
        an_unknown_timestep_spacing: "{ \"timestep_spacing\": \"karras\" }" => "timestep_spacing \"karras\"";
    }

    flags_refused! {
        clip_sample_and_thresholding:
            ["--clip-sample", "true", "--thresholding", "true"]
            => "--clip-sample true and --thresholding true contradict each other";
    }

    #[test]
    fn a_missing_file() {
        let missing = Path::new("/nonexistent/scheduler_config.json")
            .display()
            .to_string();
        fails(
            &["--onnx", &gaussian(), "--scheduler-config", &missing],
            "cannot read scheduler config",
        );
    }
}

/// What DPM-Solver does not support, refused by the file key or the flag that asks for it; and
/// flags that belong to another scheduler. One test per case.
mod dpm_solver_refusals {
    use super::*;

    /// A DPMSolverMultistepScheduler config with `keys` added.
    fn dpm(keys: &str) -> String {
        format!("{{ \"_class_name\": \"DPMSolverMultistepScheduler\", \"steps_offset\": 1{keys} }}")
    }

    config_refused! {
        use_lu_lambdas:
            dpm(", \"use_lu_lambdas\": true")
            => "scheduler_config.json: use_lu_lambdas true: not supported";
        use_flow_sigmas:
            dpm(", \"use_flow_sigmas\": true")
            => "scheduler_config.json: use_flow_sigmas true: not supported";
        use_dynamic_shifting:
            dpm(", \"use_dynamic_shifting\": true")
            => "scheduler_config.json: use_dynamic_shifting true: not supported";
        sde_dpmsolver_in_the_file:
            dpm(", \"algorithm_type\": \"sde-dpmsolver\"")
            => "scheduler_config.json: algorithm_type \"sde-dpmsolver\": not supported";
        lambda_min_clipped:
            dpm(", \"lambda_min_clipped\": -5.1")
            => "scheduler_config.json: lambda_min_clipped -5.1: not supported (only -Infinity";
        learned_range_in_the_file:
            dpm(", \"variance_type\": \"learned_range\"")
            => "scheduler_config.json: variance_type \"learned_range\": DPM-Solver does not \
                support a learned variance";
        solver_order_4_in_the_file:
            dpm(", \"solver_order\": 4")
            => "scheduler_config.json: solver_order: solver_order must be 1, 2 or 3, got 4";
        flow_prediction:
            dpm(", \"prediction_type\": \"flow_prediction\"")
            => "prediction_type \"flow_prediction\": unknown prediction type";
        thresholding_with_a_ratio_of_0:
            dpm(", \"thresholding\": true, \"dynamic_thresholding_ratio\": 0")
            => "scheduler_config.json: dynamic_thresholding_ratio: dynamic thresholding needs";
    }

    flags_refused! {
        sde_dpmsolver_by_flag:
            ["--scheduler", "dpm-solver", "--algorithm-type", "sde-dpmsolver"]
            => "error: --algorithm-type \"sde-dpmsolver\": not supported";
        /// diffusers has no third-order SDE-DPM-Solver++.
        third_order_sde_dpmsolver_plus_plus:
            ["--scheduler", "dpm-solver", "--algorithm-type", "sde-dpmsolver++", "--solver-order", "3"]
            => "error: --solver-order: ";
        solver_order_0:
            ["--scheduler", "dpm-solver", "--solver-order", "0"]
            => "error: --solver-order: solver_order must be 1, 2 or 3, got 0";
        an_unknown_solver_type:
            ["--scheduler", "dpm-solver", "--solver-type", "bh3"]
            => "error: --solver-type \"bh3\": unknown solver type";
        an_unknown_final_sigmas_type:
            ["--scheduler", "dpm-solver", "--final-sigmas-type", "karras"]
            => "error: --final-sigmas-type \"karras\": unknown final sigmas type";
        a_learned_variance_by_flag:
            ["--scheduler", "dpm-solver", "--variance-type", "learned"]
            => "error: --variance-type \"learned\": DPM-Solver does not support a learned variance";
        eta:
            ["--scheduler", "dpm-solver", "--eta", "1"]
            => "error: --eta applies to DDIM only";
        clip_sample:
            ["--scheduler", "dpm-solver", "--clip-sample", "true"]
            => "error: --clip-sample applies to DDIM, DDPM, Heun and LCM only (--scheduler ddim, \
                ddpm, heun or lcm); DPMSolverMultistepScheduler has no clip_sample; DPM-Solver and \
                UniPC clamp with --thresholding instead";
        set_alpha_to_one:
            ["--scheduler", "dpm-solver", "--set-alpha-to-one", "false"]
            => "error: --set-alpha-to-one applies to DDIM and DDPM only";
        /// The fixture's config spaces timesteps as leading: N + 1 points must fit in T.
        steps_1000_with_leading_spacing:
            ["--scheduler", "dpm-solver", "--steps", "1000"]
            => "error: --steps: DPM-Solver with linspace or leading spacing places N + 1 points";
        /// One sigma schedule at a time.
        karras_and_beta_sigmas:
            ["--scheduler", "dpm-solver", "--use-karras-sigmas", "true", "--use-beta-sigmas", "true"]
            => "error: --use-karras-sigmas and --use-beta-sigmas are both true";
        /// DPMSolverMultistepScheduler has no sigma_min/sigma_max.
        sigma_min:
            ["--scheduler", "dpm-solver", "--use-karras-sigmas", "true", "--sigma-min", "0.1"]
            => "error: --sigma-min applies to UniPC and Euler only";
    }

    // DPM-Solver's flags on the fixture's own scheduler (DDIM).
    flags_refused! {
        algorithm_type_without_dpm_solver:
            ["--algorithm-type", "dpmsolver++"]
            => "error: --algorithm-type applies to DPM-Solver only (--scheduler dpm-solver)";
        solver_order_without_dpm_solver:
            ["--solver-order", "2"]
            => "error: --solver-order applies to DPM-Solver and UniPC only (--scheduler \
                dpm-solver or unipc)";
        solver_type_without_dpm_solver:
            ["--solver-type", "midpoint"]
            => "error: --solver-type applies to DPM-Solver and UniPC only (--scheduler \
                dpm-solver or unipc)";
        lower_order_final_without_dpm_solver:
            ["--lower-order-final", "true"]
            => "error: --lower-order-final applies to DPM-Solver and UniPC only (--scheduler \
                dpm-solver or unipc)";
        euler_at_final_without_dpm_solver:
            ["--euler-at-final", "true"]
            => "error: --euler-at-final applies to DPM-Solver only (--scheduler dpm-solver)";
        final_sigmas_type_without_dpm_solver:
            ["--final-sigmas-type", "zero"]
            => "error: --final-sigmas-type applies to DPM-Solver, UniPC and Euler only \
                (--scheduler dpm-solver, unipc or euler)";
    }

    /// A model whose output carries variance channels.
    #[test]
    fn a_learned_variance_model() {
        learned_variance_refused("dpm-solver", "DPM-Solver");
    }
}

/// What UniPC, Euler, Euler ancestral and Heun do not support, refused by the file key or the
/// flag that asks for it, in one line. One test per case.
mod unipc_and_euler_refusals {
    use super::*;

    /// A config of the class `name` with `keys` added.
    fn class(name: &str, keys: &str) -> String {
        format!("{{ \"_class_name\": \"{name}\", \"steps_offset\": 1{keys} }}")
    }

    fn unipc(keys: &str) -> String {
        class("UniPCMultistepScheduler", keys)
    }

    fn euler(keys: &str) -> String {
        class("EulerDiscreteScheduler", keys)
    }

    config_refused! {
        unipc_use_flow_sigmas:
            unipc(", \"use_flow_sigmas\": true")
            => "scheduler_config.json: use_flow_sigmas true: not supported";
        unipc_use_dynamic_shifting:
            unipc(", \"use_dynamic_shifting\": true")
            => "scheduler_config.json: use_dynamic_shifting true: not supported";
        unipc_solver_p:
            unipc(", \"solver_p\": {\"_class_name\": \"DPMSolverMultistepScheduler\"}")
            => "scheduler_config.json: solver_p {\"_class_name\":\"DPMSolverMultistepScheduler\"}: \
                not supported (only null";
        unipc_solver_order_4_in_the_file:
            unipc(", \"solver_order\": 4")
            => "scheduler_config.json: solver_order: solver_order must be 1, 2 or 3, got 4";
        unipc_unknown_solver_type_in_the_file:
            unipc(", \"solver_type\": \"bh3\"")
            => "scheduler_config.json: solver_type \"bh3\": unknown";
        unipc_unknown_final_sigmas_type_in_the_file:
            unipc(", \"final_sigmas_type\": \"karras\"")
            => "scheduler_config.json: final_sigmas_type \"karras\": unknown final sigmas type";
        unipc_flow_prediction:
            unipc(", \"prediction_type\": \"flow_prediction\"")
            => "prediction_type \"flow_prediction\": unknown prediction type";
        unipc_learned_range_in_the_file:
            unipc(", \"variance_type\": \"learned_range\"")
            => "scheduler_config.json: variance_type \"learned_range\": UniPC does not support a \
                learned variance";
        euler_log_linear_interpolation:
            euler(", \"interpolation_type\": \"log_linear\"")
            => "scheduler_config.json: interpolation_type \"log_linear\": not supported (only \
                \"linear\"";
        euler_karras_and_beta_sigmas_in_the_file:
            euler(", \"use_karras_sigmas\": true, \"use_beta_sigmas\": true")
            => "use_beta_sigmas are both true: at most one of use_karras_sigmas";
        euler_negative_sigma_min_in_the_file:
            euler(", \"sigma_min\": -1")
            => "scheduler_config.json: sigma_min: ";
        euler_unknown_timestep_type_in_the_file:
            euler(", \"timestep_type\": \"edm\"")
            => "scheduler_config.json: timestep_type \"edm\": unknown";
        heun_exponential_and_karras_sigmas_in_the_file:
            class(
                "HeunDiscreteScheduler",
                ", \"use_exponential_sigmas\": true, \"use_karras_sigmas\": true",
            )
            => "use_exponential_sigmas are both true";
    }

    flags_refused! {
        unipc_sigma_min_0:
            ["--scheduler", "unipc", "--use-karras-sigmas", "true", "--sigma-min", "0"]
            => "error: --sigma-min: ";
        unipc_sigma_min_above_sigma_max:
            [
                "--scheduler", "unipc", "--use-karras-sigmas", "true", "--sigma-min", "10",
                "--sigma-max", "1",
            ]
            => "error: --sigma-min: ";
        unipc_unknown_solver_type:
            ["--scheduler", "unipc", "--solver-type", "midpoint2"]
            => "error: --solver-type \"midpoint2\": unknown";
        unipc_eta:
            ["--scheduler", "unipc", "--eta", "1"]
            => "error: --eta applies to DDIM only (--scheduler ddim); UniPCMultistepScheduler has no \
                eta; DDPM's noise is set by --variance-type, Euler ancestral and SDE-DPM-Solver++ \
                add their own, the others are deterministic";
        unipc_clip_sample:
            ["--scheduler", "unipc", "--clip-sample", "true"]
            => "error: --clip-sample applies to DDIM, DDPM, Heun and LCM only (--scheduler ddim, \
                ddpm, heun or lcm); UniPCMultistepScheduler has no clip_sample";
        /// Issue 19: this said "applies to DDIM, DDPM, DPM-Solver and UniPC only".
        euler_clip_sample:
            ["--scheduler", "euler", "--clip-sample", "true"]
            => "error: --clip-sample applies to DDIM, DDPM, Heun and LCM only (--scheduler ddim, \
                ddpm, heun or lcm); EulerDiscreteScheduler has no clip_sample";
        /// LCM's timesteps come from its own grid.
        lcm_timestep_spacing:
            ["--scheduler", "lcm", "--timestep-spacing", "trailing"]
            => "error: --timestep-spacing applies to DDIM, DDPM, DPM-Solver, UniPC, Euler, Euler \
                ancestral and Heun only";
        unipc_set_alpha_to_one:
            ["--scheduler", "unipc", "--set-alpha-to-one", "true"]
            => "error: --set-alpha-to-one applies to DDIM and DDPM only";
        heun_sigma_max:
            ["--scheduler", "heun", "--sigma-max", "80"]
            => "error: --sigma-max applies to UniPC and Euler only (--scheduler unipc or euler)";
        unipc_steps_1000_with_leading_spacing:
            ["--scheduler", "unipc", "--steps", "1000", "--timestep-spacing", "leading"]
            => "error: --steps: UniPC with linspace or leading spacing places N + 1 points";
        euler_predict_x0:
            ["--scheduler", "euler", "--predict-x0", "false"]
            => "error: --predict-x0 applies to UniPC only (--scheduler unipc)";
        euler_disable_corrector:
            ["--scheduler", "euler", "--disable-corrector", "0,1"]
            => "error: --disable-corrector applies to UniPC only (--scheduler unipc)";
        euler_karras_and_exponential_sigmas:
            [
                "--scheduler", "euler", "--use-karras-sigmas", "true",
                "--use-exponential-sigmas", "true",
            ]
            => "error: --use-karras-sigmas and --use-exponential-sigmas are both true";
        euler_sigma_min_0:
            ["--scheduler", "euler", "--sigma-min", "0"]
            => "error: --sigma-min: ";
        euler_sigma_min_above_sigma_max:
            ["--scheduler", "euler", "--sigma-min", "10", "--sigma-max", "1"]
            => "error: --sigma-min: ";
        euler_unknown_timestep_type:
            ["--scheduler", "euler", "--timestep-type", "edm"]
            => "error: --timestep-type \"edm\": unknown";
        euler_thresholding:
            ["--scheduler", "euler", "--thresholding", "true"]
            => "error: --thresholding applies to DDIM, DDPM, DPM-Solver, UniPC and LCM only \
                (--scheduler ddim, ddpm, dpm-solver, unipc or lcm); EulerDiscreteScheduler has no \
                thresholding";
        euler_solver_order:
            ["--scheduler", "euler", "--solver-order", "2"]
            => "error: --solver-order applies to DPM-Solver and UniPC only";
        euler_ancestral_use_karras_sigmas:
            ["--scheduler", "euler-ancestral", "--use-karras-sigmas", "true"]
            => "error: --use-karras-sigmas applies to DPM-Solver, UniPC, Euler and Heun only";
        euler_ancestral_final_sigmas_type:
            ["--scheduler", "euler-ancestral", "--final-sigmas-type", "sigma_min"]
            => "error: --final-sigmas-type applies to DPM-Solver, UniPC and Euler only";
        euler_ancestral_eta:
            ["--scheduler", "euler-ancestral", "--eta", "0.5"]
            => "error: --eta applies to DDIM only (--scheduler ddim); EulerAncestralDiscreteScheduler \
                has no eta";
        euler_learned_variance:
            ["--scheduler", "euler", "--variance-type", "learned"]
            => "error: --variance-type \"learned\": Euler does not support a learned variance";
        heun_thresholding:
            ["--scheduler", "heun", "--thresholding", "true"]
            => "error: --thresholding applies to DDIM, DDPM, DPM-Solver, UniPC and LCM only \
                (--scheduler ddim, ddpm, dpm-solver, unipc or lcm); HeunDiscreteScheduler has no \
                thresholding";
        heun_final_sigmas_type:
            ["--scheduler", "heun", "--final-sigmas-type", "zero"]
            => "error: --final-sigmas-type applies to DPM-Solver, UniPC and Euler only";
        heun_clip_sample_range_0:
            ["--scheduler", "heun", "--clip-sample", "true", "--clip-sample-range", "0"]
            => "error: --clip-sample-range: ";
        heun_eta:
            ["--scheduler", "heun", "--eta", "1"]
            => "error: --eta applies to DDIM only (--scheduler ddim); HeunDiscreteScheduler has no eta";
    }

    #[test]
    fn unipc_with_a_learned_variance_model() {
        learned_variance_refused("unipc", "UniPC");
    }

    #[test]
    fn euler_ancestral_with_a_learned_variance_model() {
        learned_variance_refused("euler-ancestral", "Euler ancestral");
    }

    #[test]
    fn heun_with_a_learned_variance_model() {
        learned_variance_refused("heun", "Heun");
    }
}

#[test]
fn init_noise_of_wrong_shape_or_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_shape = dir.path().join("wrong_shape.npy");
    ndarray_npy::write_npy(&wrong_shape, &ndarray::Array4::<f32>::zeros((1, 3, 16, 16))).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &wrong_shape.display().to_string(),
        ],
        "has shape [1, 3, 16, 16], expected [num-samples, C, H, W] = [1, 3, 32, 32]",
    );
    let wrong_dtype = dir.path().join("wrong_dtype.npy");
    ndarray_npy::write_npy(&wrong_dtype, &ndarray::Array4::<f64>::zeros((1, 3, 32, 32))).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &wrong_dtype.display().to_string(),
        ],
        "its dtype is '<f8', expected float32",
    );
}

/// A header that claims 10¹² samples over a 256-byte body: refused from the header and the file
/// size, before anything of the claimed size is allocated (it aborted the process before).
#[test]
fn init_noise_whose_header_lies_about_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.npy");
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 3, 32, 32), }"
            .to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 256]);
    std::fs::write(&path, bytes).unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &path.display().to_string(),
        ],
        "its header describes",
    );
    let truncated = dir.path().join("truncated.npy");
    std::fs::write(&truncated, b"\x93NUMPY").unwrap();
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--init-noise",
            &truncated.display().to_string(),
        ],
        "is not a valid .npy file",
    );
}

#[test]
fn sample_counts_that_cannot_be_written() {
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--num-samples",
            "18446744073709551615",
        ],
        "are too large for one file",
    );
    fails(
        &["--onnx", &gaussian(), "--num-samples", "1000000000000"],
        "samples need 12288000000000000 bytes and its file system has",
    );
}

#[test]
fn usage_errors_keep_what_clap_names() {
    let stderr = fails(&["--steps", "10"], "--onnx <FILE>");
    assert!(
        stderr.contains("required arguments were not provided"),
        "{stderr}"
    );
    let stderr = fails(
        &["--onnx", &gaussian(), "--scheduler", "ddmi"],
        "[possible values: ddim, ddpm, dpm-solver, unipc, euler, euler-ancestral, heun, lcm]",
    );
    assert!(
        stderr.contains("a similar value exists: 'ddim'"),
        "{stderr}"
    );
    fails(
        &["--onnx", &gaussian(), "--sample-size", "8,12,99"],
        "expected H or H,W",
    );
    fails(
        &["--onnx", &gaussian(), "--sample-size", "0"],
        "not a positive integer",
    );
    fails(
        &["--onnx", &gaussian(), "--png-scale", "0"],
        "is not auto or an integer in 1..=64",
    );
}

#[test]
fn output_targets_are_checked_before_the_model_loads() {
    // `fails` gives every run --out grid.png and --save-npy x.npy in an empty directory, and
    // checks that nothing is left there; a directory as --out is found before sampling.
    let dir = tempfile::tempdir().unwrap();
    let output = host()
        .current_dir(dir.path())
        .args(["--onnx", &gaussian(), "--save-npy", "x.npy", "--out", "."])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr, "error: cannot write --out .: it is a directory\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    fails(
        &["--onnx", &gaussian(), "--out", "x.gif"],
        "--out x.gif: unknown image format",
    );
    fails(
        &["--onnx", &gaussian(), "--save-npy", "x.png"],
        "the file name must end in .npy",
    );
    // An unreadable model is found after the outputs, but leaves nothing behind either.
    fails(
        &[
            "--onnx",
            &fixture("gaussian/scheduler_config.json")
                .display()
                .to_string(),
        ],
        "cannot load model",
    );
}

#[test]
fn unwritable_output_path() {
    let output = host()
        .args(["--onnx", &gaussian(), "--out", "/nonexistent/dir/grid.png"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "error: cannot write --out /nonexistent/dir/grid.png: no directory /nonexistent/dir\n"
    );
}

/// Counts that must be at least 1 are refused by the flag parser, naming the flag.
#[test]
fn zero_counts_are_usage_errors() {
    for flag in ["--num-samples", "--batch", "--threads"] {
        let stderr = fails(&["--onnx", &gaussian(), flag, "0"], flag);
        assert!(stderr.contains("invalid value '0'"), "{stderr}");
    }
}

#[test]
fn shard_out_of_range() {
    fails(
        &["--onnx", &gaussian(), "--shard", "2/2"],
        "shard 2/2 is out of range",
    );
    fails(&["--onnx", &gaussian(), "--shard", "1/0"], "out of range");
    fails(
        &[
            "--onnx",
            &gaussian(),
            "--num-samples",
            "1",
            "--shard",
            "0/2",
        ],
        "holds no samples",
    );
}

#[test]
fn model_that_outputs_nan() {
    let stderr = fails(
        &[
            "--onnx",
            &fixture("bad-nan/unet.onnx").display().to_string(),
            "--steps",
            "10",
        ],
        "NaN",
    );
    // leading + offset 1, 10 steps: 901, 801, …, 501 are finite; step 6 is timestep 401.
    assert!(stderr.contains("step 6/10 (timestep 401)"), "{stderr}");
}

#[test]
fn named_gpu_provider_that_cannot_start_is_an_error() {
    // This machine's ONNX Runtime is the CPU build: the message names the missing provider library.
    for (ep, library) in [
        ("cuda", "libonnxruntime_providers_cuda.so"),
        ("tensorrt", "libonnxruntime_providers_tensorrt.so"),
    ] {
        let stderr = fails(
            &["--onnx", &gaussian(), "--ep", ep],
            "execution provider unavailable",
        );
        assert!(stderr.contains(library), "{stderr}");
    }
}

#[test]
fn missing_runtime_says_how_to_get_it() {
    let output = host()
        .args([
            "--onnx",
            &gaussian(),
            "--save-npy",
            "/tmp/never.npy",
            "--ort-library",
            "/nonexistent/libonnxruntime.so.1.31.1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("--ort-library /nonexistent/libonnxruntime.so.1.31.1: no such file"),
        "{stderr}"
    );
}

/// Conditioning and guidance: a file of the wrong dtype or shape for the model's input, an input
/// the model lacks, a required input with no value, a guidance scale without an unconditional
/// input, an unconditional input without a scale, a rescale outside [0, 1], class labels on a
/// model without them, a class label out of the range the model's guidance.json gives (in the
/// conditional or the unconditional values). One test per case.
mod conditioning_and_guidance_refusals {
    use super::*;

    /// The models and the `--input` values of the cases (files of their own in `_dir`).
    struct Inputs {
        _dir: tempfile::TempDir,
        cross: String,
        class: String,
        floats: String,
        wrong_null: String,
        e_labels: String,
        e_double: String,
        e_narrow: String,
        e_prompts: String,
        e_prompt: String,
        e_negative: String,
        input_prompt: String,
        input_sample: String,
    }

    impl Inputs {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let cross = fixture("unet-cross-attention/unet.onnx")
                .display()
                .to_string();
            let class = fixture("unet-class/unet.onnx").display().to_string();
            let reference = |name: &str| {
                fixture(&format!("unet-cross-attention/reference/{name}.npy"))
                    .display()
                    .to_string()
            };
            let ehs = |file: &str| format!("encoder_hidden_states={file}");
            let (prompt, prompts, negative) = (
                reference("prompt"),
                reference("prompts"),
                reference("negative"),
            );
            let labels = fixture("unet-class/reference/labels.npy")
                .display()
                .to_string();
            let narrow = dir.path().join("narrow.npy");
            ndarray_npy::write_npy(&narrow, &ndarray::Array3::<f32>::zeros((1, 5, 8))).unwrap();
            let narrow = narrow.display().to_string();
            let double = dir.path().join("double.npy");
            ndarray_npy::write_npy(&double, &ndarray::Array3::<f64>::zeros((1, 5, 16))).unwrap();
            let double = double.display().to_string();
            let floats = dir.path().join("floats.npy");
            ndarray_npy::write_npy(&floats, &ndarray::arr1(&[1.0f32, 2.0, 3.0])).unwrap();
            let floats = floats.display().to_string();
            let wrong_null = dir.path().join("wrong_null.npy");
            ndarray_npy::write_npy(&wrong_null, &ndarray::arr1(&[42i64])).unwrap();
            let wrong_null = format!("class_labels={}", wrong_null.display());
            Inputs {
                _dir: dir,
                cross,
                class,
                floats,
                wrong_null,
                e_labels: ehs(&labels),
                e_double: ehs(&double),
                e_narrow: ehs(&narrow),
                e_prompts: ehs(&prompts),
                e_prompt: ehs(&prompt),
                e_negative: ehs(&negative),
                input_prompt: format!("prompt={prompt}"),
                input_sample: format!("sample={labels}"),
            }
        }
    }

    /// One `#[test]` per row `name(inputs): [ARGS] => EXPECTED;`: host with ARGS (which may name
    /// the fields of `inputs`, an [`Inputs`]) fails with EXPECTED in its message.
    macro_rules! refused {
        ($($name:ident($inputs:ident): [$($arg:expr),* $(,)?] => $expected:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    let $inputs = Inputs::new();
                    fails(&[$($arg),*], $expected);
                }
            )*
        };
    }

    refused! {
        an_int64_file_for_a_float_input(i): ["--onnx", &i.cross, "--input", &i.e_labels]
            => "dtype int64, but the model's input is encoder_hidden_states (f32[B,5,16])";
        a_float64_file(i): ["--onnx", &i.cross, "--input", &i.e_double]
            => "dtype <f8 is not one host feeds";
        a_narrower_file(i): ["--onnx", &i.cross, "--input", &i.e_narrow]
            => "shape [1, 5, 8] differs from the model's input encoder_hidden_states (f32[B,5,16]) in dimension 2";
        more_rows_than_samples(i):
            ["--onnx", &i.cross, "--num-samples", "2", "--input", &i.e_prompts]
            => "first dimension 3: expected 1 (shared by every sample) or --num-samples 2";
        an_input_the_model_lacks(i):
            ["--onnx", &i.cross, "--input", &i.e_prompt, "--input", &i.input_prompt]
            => "--input prompt: the model has no input prompt (inputs: sample";
        a_required_input_with_no_value(i): ["--onnx", &i.cross]
            => "the model requires input encoder_hidden_states (f32[B,5,16]) besides the sample and the timestep: give it with --input encoder_hidden_states=FILE.npy";
        a_scale_without_unconditional_inputs(i):
            ["--onnx", &i.cross, "--input", &i.e_prompt, "--guidance-scale", "7.5"]
            => "--guidance-scale 7.5 needs the unconditional inputs: --uncond-input NAME=FILE.npy";
        unconditional_inputs_without_a_scale(i):
            ["--onnx", &i.cross, "--input", &i.e_prompt, "--uncond-input", &i.e_negative]
            => "--uncond-input needs --guidance-scale S";
        a_rescale_above_1(i):
            [
                "--onnx", &i.cross, "--input", &i.e_prompt, "--uncond-input", &i.e_negative,
                "--guidance-scale", "7.5", "--guidance-rescale", "1.5",
            ]
            => "the scale must be finite and the rescale in [0, 1]";
        a_class_label_for_a_model_without_them(i):
            ["--onnx", &i.cross, "--input", &i.e_prompt, "--class-label", "3"]
            => "--class-label: the model has no class_labels input";
        a_class_label_above_the_range(i): ["--onnx", &i.class, "--class-label", "10"]
            => "--class-label 10: class label 10 is out of range: the model's";
        a_negative_class_label(i): ["--onnx", &i.class, "--class-label", "-1"]
            => "class label -1 is out of range";
        float_class_labels(i): ["--onnx", &i.class, "--class-labels", &i.floats]
            => "class labels must be integers";
        an_unconditional_class_label_out_of_range(i):
            ["--onnx", &i.class, "--class-label", "3", "--uncond-input", &i.wrong_null]
            => "class label 42 is out of range: the model's";
        the_sample_as_an_input(i): ["--onnx", &i.class, "--input", &i.input_sample]
            => "--input sample: that is the model's sample or timestep input";
    }
}

/// The conditional latent pipeline folder exports every axis of the U-Net's sample as dynamic,
/// as diffusers' converter does; its unet/config.json gives C, H, W. Without that file (and
/// without the decoder's, which gives C too) and without flags, the run is refused, naming every
/// way to give the shape; an `--init-noise` contradicting either config's channel count is refused.
#[test]
fn a_dynamic_sample_shape_with_no_config_or_flag_to_give_it() {
    let noise_dir = tempfile::tempdir().unwrap();
    let prompt = fixture("cond-latent-tiny/reference/prompt.npy");
    let input = format!("encoder_hidden_states={}", prompt.display());
    let no_unet_config = common::fixture_copy("cond-latent-tiny", &["unet/config.json"]);
    let no_config = common::fixture_copy(
        "cond-latent-tiny",
        &["unet/config.json", "vae_decoder/config.json"],
    );
    let shown = |dir: &tempfile::TempDir| dir.path().display().to_string();
    // The decoder's latent_channels gives C; nothing gives H, W.
    fails(
        &["--onnx", &shown(&no_unet_config), "--input", &input],
        "the model's spatial size is dynamic: pass --sample-size H[,W] (or give x_T with \
         --init-noise, or put the U-Net's diffusers config.json, with sample_size, beside it)",
    );
    let stderr = fails(
        &[
            "--onnx",
            &shown(&no_config),
            "--input",
            &input,
            "--vae-scaling-factor",
            "0.4",
            "--sample-size",
            "8",
        ],
        "the model's sample input sample has a dynamic channel count: pass --sample-channels C",
    );
    assert!(
        stderr.contains("give x_T with --init-noise")
            && stderr.contains("config.json (in_channels) beside it")
            && stderr.contains("--vae-decoder whose config.json gives latent_channels"),
        "{stderr}"
    );
    let three_channels = noise_dir.path().join("x_T.npy");
    common::write_npy(&three_channels, &[1, 3, 8, 8], &[0.5; 3 * 64]);
    let three_channels = three_channels.display().to_string();
    fails(
        &[
            "--onnx",
            &fixture("cond-latent-tiny").display().to_string(),
            "--input",
            &input,
            "--init-noise",
            &three_channels,
        ],
        "unet/config.json says in_channels 4, but --init-noise's x_T has 3 channels",
    );
    fails(
        &[
            "--onnx",
            &shown(&no_unet_config),
            "--input",
            &input,
            "--init-noise",
            &three_channels,
        ],
        "vae_decoder/config.json says latent_channels 4; the U-Net's samples have 3",
    );
}

/// The U-Net's encoder_hidden_states has a dynamic sequence axis (as diffusers' converter exports
/// it): unconditional rows of 3 tokens against conditional rows of 5 cannot share a guided batch.
#[test]
fn unconditional_rows_of_another_sequence_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, negative) = common::read_npy(&fixture("cond-latent-tiny/reference/negative.npy"));
    let short = dir.path().join("negative3.npy");
    common::write_npy(&short, &[1, 3, 16], &negative[..3 * 16]);
    let prompt = fixture("cond-latent-tiny/reference/prompt.npy");
    fails(
        &[
            "--onnx",
            &fixture("cond-latent-tiny").display().to_string(),
            "--input",
            &format!("encoder_hidden_states={}", prompt.display()),
            "--uncond-input",
            &format!("encoder_hidden_states={}", short.display()),
            "--guidance-scale",
            "7.5",
        ],
        "shape [1, 3, 16] differs from --input encoder_hidden_states=",
    );
}
