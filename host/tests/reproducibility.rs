//! Sample i depends only on (seed, i): repeated runs, batch sizes, shards and thread counts give
//! the same bytes; another seed gives other bytes. Checked on the tiny diffusers UNet (real
//! convolutions and attention) with DDPM, whose every step draws noise.

mod common;

use common::{fixture, sample};

fn base(model: &str) -> Vec<String> {
    [
        "--onnx",
        model,
        "--scheduler",
        "ddpm",
        "--steps",
        "10",
        "--timestep-spacing",
        "linspace",
    ]
    .map(String::from)
    .to_vec()
}

fn run(dir: &std::path::Path, name: &str, extra: &[&str]) -> Vec<u32> {
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let mut args = base(&model);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sample(dir, name, &args)
        .1
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

const PER_SAMPLE: usize = 3 * 16 * 16;

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), "a", &["--num-samples", "2", "--seed", "11"]);
    let again = run(dir.path(), "b", &["--num-samples", "2", "--seed", "11"]);
    let other = run(dir.path(), "c", &["--num-samples", "2", "--seed", "12"]);
    assert_eq!(first, again);
    assert_ne!(first[..PER_SAMPLE], other[..PER_SAMPLE]);
    assert_ne!(
        first[..PER_SAMPLE],
        first[PER_SAMPLE..],
        "two samples share their noise"
    );
    // The npy files themselves are byte-identical too.
    assert_eq!(
        std::fs::read(dir.path().join("a.npy")).unwrap(),
        std::fs::read(dir.path().join("b.npy")).unwrap()
    );
}

#[test]
fn sample_i_does_not_depend_on_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let eight = run(
        dir.path(),
        "b8",
        &["--num-samples", "8", "--batch", "8", "--seed", "4"],
    );
    for batch in ["1", "3"] {
        let other = run(
            dir.path(),
            &format!("b{batch}"),
            &["--num-samples", "8", "--batch", batch, "--seed", "4"],
        );
        assert_eq!(other, eight, "batch {batch} differs from batch 8");
    }
}

#[test]
fn shards_together_equal_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = run(dir.path(), "whole", &["--num-samples", "5", "--seed", "9"]);
    let mut union = run(
        dir.path(),
        "s0",
        &["--num-samples", "5", "--seed", "9", "--shard", "0/2"],
    );
    union.extend(run(
        dir.path(),
        "s1",
        &["--num-samples", "5", "--seed", "9", "--shard", "1/2"],
    ));
    assert_eq!(union.len(), whole.len());
    assert_eq!(union, whole);
}

/// Stated in the README: on the CPU provider the intra-op thread count does not change the bytes
/// (ONNX Runtime's CPU kernels split work by output, not by reduction).
#[test]
fn thread_count_does_not_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let one = run(
        dir.path(),
        "t1",
        &["--num-samples", "4", "--threads", "1", "--seed", "2"],
    );
    let two = run(
        dir.path(),
        "t2",
        &["--num-samples", "4", "--threads", "2", "--seed", "2"],
    );
    assert_eq!(one, two);
}

/// x_T.npy was written by the numpy twin of noise v1 (seed 7, 3 samples): starting from it with
/// the same seed must give the seeded run, since step noise comes from the stream either way.
#[test]
fn init_noise_reproduces_a_seeded_run_when_it_holds_the_same_x_t() {
    let dir = tempfile::tempdir().unwrap();
    let x_t = fixture("unet-tiny/reference/x_T.npy").display().to_string();
    let seeded = run(dir.path(), "seeded", &["--num-samples", "3", "--seed", "7"]);
    let from_file = run(
        dir.path(),
        "file",
        &["--num-samples", "3", "--seed", "7", "--init-noise", &x_t],
    );
    assert_eq!(
        seeded, from_file,
        "x_T from the file and step noise from the stream must match the seeded run"
    );
}

/// DPM-Solver++ 3M remembers two earlier outputs per sample: sample i is still the same at any
/// batch size (a short last batch gets its own history) and in any shard.
#[test]
fn dpm_solver_sample_i_does_not_depend_on_the_batch_or_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--scheduler",
            "dpm-solver",
            "--solver-order",
            "3",
            "--steps",
            "10",
            "--timestep-spacing",
            "trailing",
            "--num-samples",
            "5",
            "--seed",
            "9",
        ];
        args.extend_from_slice(extra);
        sample(dir.path(), name, &args)
            .1
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    let whole = run("whole", &["--batch", "5"]);
    for batch in ["1", "2"] {
        assert_eq!(
            run(&format!("b{batch}"), &["--batch", batch]),
            whole,
            "batch {batch}"
        );
    }
    let mut union = run("s0", &["--batch", "2", "--shard", "0/2"]);
    union.extend(run("s1", &["--batch", "2", "--shard", "1/2"]));
    assert_eq!(union, whole);
    assert_ne!(whole[..PER_SAMPLE], whole[PER_SAMPLE..2 * PER_SAMPLE]);
}

/// Euler ancestral draws every step's noise from each sample's stream, UniPC remembers earlier
/// outputs and its last corrected sample, Heun the start of its step: sample i is still the same at any batch size and in any
/// shard (and with x_T from a file holding the seed's own x_T, Euler's scaled x_T included).
#[test]
fn unipc_euler_and_heun_sample_i_does_not_depend_on_the_batch_or_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    for scheduler in [
        &["--scheduler", "euler-ancestral"][..],
        &["--scheduler", "unipc", "--solver-order", "3"],
        &["--scheduler", "euler", "--use-karras-sigmas", "true"],
        &["--scheduler", "heun", "--clip-sample", "true"],
    ] {
        let run = |name: &str, extra: &[&str]| {
            let mut args = vec![
                "--onnx",
                model.as_str(),
                "--steps",
                "10",
                "--timestep-spacing",
                "trailing",
                "--num-samples",
                "5",
                "--seed",
                "9",
            ];
            args.extend_from_slice(scheduler);
            args.extend_from_slice(extra);
            sample(dir.path(), name, &args)
                .1
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<u32>>()
        };
        let whole = run("whole", &["--batch", "5"]);
        for batch in ["1", "2"] {
            assert_eq!(
                run(&format!("b{batch}"), &["--batch", batch]),
                whole,
                "{scheduler:?}, batch {batch}"
            );
        }
        let mut union = run("s0", &["--batch", "2", "--shard", "0/2"]);
        union.extend(run("s1", &["--batch", "2", "--shard", "1/2"]));
        assert_eq!(union, whole, "{scheduler:?}");
        assert_ne!(whole[..PER_SAMPLE], whole[PER_SAMPLE..2 * PER_SAMPLE]);
    }
}

/// `--init-noise` holds standard-normal noise, which host multiplies by Euler's init_noise_sigma
/// (σ_max, about 157 here): a file with the seed's own x_T reproduces the seeded Euler ancestral
/// run, whose later steps draw from the same streams.
#[test]
fn init_noise_is_scaled_by_init_noise_sigma() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("unet-tiny/unet.onnx").display().to_string();
    let x_t = fixture("unet-tiny/reference/x_T.npy").display().to_string();
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--onnx",
            model.as_str(),
            "--scheduler",
            "euler-ancestral",
            "--steps",
            "10",
            "--num-samples",
            "3",
        ];
        args.extend_from_slice(extra);
        sample(dir.path(), name, &args)
            .1
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    // x_T.npy is noise v1 of seed 7, samples 0..3.
    let seeded = run("seeded", &["--seed", "7"]);
    assert_eq!(
        run("from_file", &["--seed", "7", "--init-noise", &x_t]),
        seeded
    );
}
