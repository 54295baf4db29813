//! scheduler_config.json as diffusers writes it, and precedence: flag > file > diffusers' default.

mod common;

use std::path::Path;

use common::{fixture, host, sample};

/// The gaussian fixture's own config with `extra` keys merged in (a JSON5 fragment).
fn config(dir: &Path, name: &str, extra: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "{{ \"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 1000, \
             \"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"beta_end\": 0.02, \
             \"timestep_spacing\": \"leading\", \"steps_offset\": 1{extra} }}"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn run(dir: &Path, name: &str, config: &str, flags: &[&str]) -> Vec<u32> {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    let mut args = vec!["--onnx", &model, "--scheduler-config", config];
    args.extend(["--steps", "10", "--num-samples", "2"]);
    args.extend(flags);
    let (_, values) = sample(dir, name, &args);
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn python_json_extensions_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let plain = config(dir.path(), "plain.json", "");
    // What DPMSolverMultistepScheduler and others save: -Infinity, Infinity, NaN.
    let python = config(
        dir.path(),
        "python.json",
        ", \"lambda_min_clipped\": -Infinity, \"upper\": Infinity, \"unset\": NaN",
    );
    assert_eq!(
        run(dir.path(), "plain", &plain, &[]),
        run(dir.path(), "python", &python, &[])
    );
}

#[test]
fn an_unsupported_class_is_refused_unless_a_scheduler_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pndm.json");
    std::fs::write(
        &path,
        "{ \"_class_name\": \"PNDMScheduler\", \"steps_offset\": 1 }",
    )
    .unwrap();
    let model = fixture("gaussian/unet.onnx").display().to_string();
    let output = host()
        .args(["--onnx", &model, "--scheduler-config"])
        .arg(&path)
        .args(["--save-npy", "/tmp/unused.npy"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("_class_name PNDMScheduler is not supported"),
        "{stderr}"
    );
    let path = path.display().to_string();
    run(dir.path(), "as_ddim", &path, &["--scheduler", "ddim"]);
}

#[test]
fn flags_beat_the_file_and_the_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // sample_max_value 2 lets the dynamic threshold exceed 1, so thresholding and a clamp to ±1
    // give different samples.
    let thresholding = config(
        dir.path(),
        "thresholding.json",
        ", \"thresholding\": true, \"sample_max_value\": 2.0, \"dynamic_thresholding_ratio\": 0.99, \
         \"clip_sample\": false",
    );
    let clipping = config(
        dir.path(),
        "clipping.json",
        ", \"clip_sample\": true, \"clip_sample_range\": 1.0",
    );
    let nothing = config(dir.path(), "nothing.json", ", \"clip_sample\": false");
    let by_file = run(dir.path(), "by_file", &thresholding, &[]);
    let clipped = run(dir.path(), "clipped", &clipping, &[]);
    let unclipped = run(dir.path(), "unclipped", &nothing, &[]);
    assert!(by_file != clipped);
    assert!(by_file != unclipped);
    // --clip-sample true beats the file's thresholding (it was silently overridden before).
    let flag = run(
        dir.path(),
        "flag",
        &thresholding,
        &["--clip-sample", "true"],
    );
    assert!(flag == clipped);
    // --thresholding false turns the file's off; --thresholding true with the file's values on.
    let off = run(
        dir.path(),
        "off",
        &thresholding,
        &["--thresholding", "false"],
    );
    assert!(off == unclipped);
    let on = run(
        dir.path(),
        "on",
        &nothing,
        &[
            "--thresholding",
            "true",
            "--sample-max-value",
            "2",
            "--dynamic-thresholding-ratio",
            "0.99",
        ],
    );
    assert!(on == by_file);
}

/// `_class_name: DPMSolverMultistepScheduler` selects DPM-Solver with its keys (a DDIM file with
/// `--scheduler dpm-solver`, or its alias, gives the same samples); flags beat its keys; its
/// spacing defaults to diffusers' linspace.
#[test]
fn the_dpm_solver_class_selects_dpm_solver_with_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ddim = config(dir.path(), "ddim.json", "");
    let dpm_file = |name: &str, keys: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "{{ \"_class_name\": \"DPMSolverMultistepScheduler\", \"num_train_timesteps\": 1000, \
                 \"beta_schedule\": \"linear\", \"beta_start\": 0.0001, \"beta_end\": 0.02, \
                 \"steps_offset\": 1, \"lambda_min_clipped\": -Infinity, \"variance_type\": null, \
                 \"use_karras_sigmas\": false, \"flow_shift\": 1.0{keys} }}"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let third = dpm_file(
        "third.json",
        ", \"timestep_spacing\": \"leading\", \"solver_order\": 3",
    );
    let by_class = run(dir.path(), "by_class", &third, &[]);
    let by_flag = run(
        dir.path(),
        "by_flag",
        &ddim,
        &["--scheduler", "dpm-solver", "--solver-order", "3"],
    );
    let by_alias = run(
        dir.path(),
        "by_alias",
        &ddim,
        &["--scheduler", "dpmsolver++", "--solver-order", "3"],
    );
    assert!(by_class == by_flag && by_flag == by_alias);
    assert!(by_class != run(dir.path(), "ddim", &ddim, &[]));
    // --solver-order 2 beats the file's 3 and gives diffusers' default order.
    let second = run(dir.path(), "second", &third, &["--solver-order", "2"]);
    assert!(second != by_class);
    assert!(second == run(dir.path(), "default", &ddim, &["--scheduler", "dpm-solver"]));
    // Without timestep_spacing, DPM-Solver's default is linspace (DDIM's is leading).
    let unspaced = dpm_file("unspaced.json", "");
    let linspace = dpm_file("linspace.json", ", \"timestep_spacing\": \"linspace\"");
    let default_spacing = run(dir.path(), "unspaced", &unspaced, &[]);
    assert!(default_spacing == run(dir.path(), "linspace", &linspace, &[]));
    assert!(default_spacing != second);
}

/// A diffusers-saved config of each new class (Heun included) (tests/fixtures/unet-tiny/<class>/) selects its
/// sampler with its keys: the same samples as `--scheduler` with a DDIM file and the class's
/// defaults as flags; flags beat its keys.
#[test]
fn the_unipc_and_euler_classes_select_their_samplers() {
    let dir = tempfile::tempdir().unwrap();
    let ddim = config(dir.path(), "ddim.json", "");
    let saved = |directory: &str| {
        fixture(&format!("unet-tiny/{directory}/scheduler_config.json"))
            .display()
            .to_string()
    };
    let linspace = ["--timestep-spacing", "linspace"];
    for (directory, scheduler) in [
        ("unipc", "unipc"),
        ("euler", "euler"),
        ("euler_ancestral", "euler-ancestral"),
        ("heun", "heun"),
    ] {
        let by_class = run(dir.path(), directory, &saved(directory), &[]);
        let mut flags = vec!["--scheduler", scheduler];
        flags.extend(linspace);
        let by_flag = run(dir.path(), scheduler, &ddim, &flags);
        assert!(by_class == by_flag, "{directory}");
        assert!(
            by_class != run(dir.path(), "ddim", &ddim, &[]),
            "{directory}"
        );
    }
    // Flags beat the saved keys: bh1 order 3 by flags equals a file that says so.
    let bh1 = dir.path().join("bh1.json");
    let text = std::fs::read_to_string(saved("unipc"))
        .unwrap()
        .replace("\"solver_order\": 2", "\"solver_order\": 3")
        .replace("\"solver_type\": \"bh2\"", "\"solver_type\": \"bh1\"")
        .replace(
            "\"final_sigmas_type\": \"zero\"",
            "\"final_sigmas_type\": \"sigma_min\"",
        );
    std::fs::write(&bh1, text).unwrap();
    let bh1 = bh1.display().to_string();
    let from_file = run(dir.path(), "bh1_file", &bh1, &[]);
    let from_flags = run(
        dir.path(),
        "bh1_flags",
        &saved("unipc"),
        &[
            "--solver-order",
            "3",
            "--solver-type",
            "bh1",
            "--final-sigmas-type",
            "sigma_min",
        ],
    );
    assert!(from_file == from_flags);
    assert!(from_file != run(dir.path(), "unipc_default", &saved("unipc"), &[]));
    let back = run(
        dir.path(),
        "bh2_back",
        &bh1,
        &[
            "--solver-order",
            "2",
            "--solver-type",
            "bh2",
            "--final-sigmas-type",
            "zero",
        ],
    );
    assert!(back == run(dir.path(), "unipc_again", &saved("unipc"), &[]));
    // Euler: --use-karras-sigmas true over the file's false.
    let karras = run(
        dir.path(),
        "karras",
        &saved("euler"),
        &["--use-karras-sigmas", "true"],
    );
    assert!(karras != run(dir.path(), "euler_again", &saved("euler"), &[]));
    // HeunDiscreteScheduler's default betas are 0.00085 ... 0.012, not DDIM's.
    let bare = dir.path().join("heun_bare.json");
    std::fs::write(&bare, "{ \"_class_name\": \"HeunDiscreteScheduler\" }").unwrap();
    let bare = bare.display().to_string();
    let heun_defaults = run(dir.path(), "heun_bare", &bare, &[]);
    let explicit = run(
        dir.path(),
        "heun_explicit",
        &bare,
        &["--beta-start", "0.00085", "--beta-end", "0.012"],
    );
    assert!(heun_defaults == explicit);
    assert!(
        heun_defaults
            != run(
                dir.path(),
                "heun_ddim_betas",
                &bare,
                &["--beta-start", "0.0001", "--beta-end", "0.02"]
            )
    );
}
