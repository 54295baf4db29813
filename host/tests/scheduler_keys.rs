//! The scheduler keys are one table (`host::scheduler::keys::KEYS`): `--help`, the refusals and
//! the README's table must say what it says.

mod common;

use common::{fixture, host};
use host::scheduler::SchedulerKind;
use host::scheduler::keys::{KEYS, ValueType, markdown_table};

const TABLE_BEGIN: &str = "<!-- scheduler-keys: generated from host/src/scheduler/keys.rs -->\n";
const TABLE_END: &str = "<!-- /scheduler-keys -->";

#[test]
fn help_gives_every_flag_its_schedulers_and_defaults_from_the_table() {
    let output = host().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for key in KEYS {
        let Some(flag) = key.flag() else {
            assert!(
                !help.contains(&format!("--{}", key.name.replace('_', "-"))),
                "{}: a file-only key has no flag",
                key.name
            );
            continue;
        };
        let line = format!("      {flag} ");
        assert!(help.contains(&line), "--help lacks {line:?}");
        let value = format!("<{}>", key.value_name);
        assert!(help.contains(&value), "--help lacks {value:?}");
        assert!(
            help.contains(&key.help_text()),
            "--help lacks {:?}",
            key.help_text()
        );
    }
    // The three claims issue 19 found wrong.
    assert!(help.contains("Karras et al.'s sigmas (rho = 7) between sigma-min and sigma-max (DPM-Solver, UniPC, Euler and Heun)"));
    assert!(help.contains("the smallest sigma of Karras, exponential and beta sigmas [default: the schedule's] (UniPC and Euler)"));
    assert!(
        help.contains("clamp the predicted x0 to ±clip-sample-range (DDIM, DDPM, Heun and LCM)")
    );
}

/// A value of the key's type that parses.
fn some_value(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Bool => "true",
        ValueType::Integer => "1",
        ValueType::Float32 | ValueType::Float64 => "0.5",
        ValueType::Indices => "0",
        _ => "x",
    }
}

#[test]
fn every_flag_of_a_key_a_scheduler_lacks_is_refused_as_the_table_says() {
    let model = fixture("gaussian/unet.onnx").display().to_string();
    let mut checked = 0;
    for key in KEYS {
        let Some(flag) = key.flag() else { continue };
        for scheduler in SchedulerKind::ALL {
            if key.applies_to(scheduler) {
                continue;
            }
            let output = host()
                .args(["--onnx", &model, "--scheduler", scheduler.flag_value()])
                .args([flag.as_str(), some_value(key.value_type)])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{flag} {scheduler:?}: {stderr}"
            );
            assert_eq!(stderr, format!("error: {}\n", key.refusal(scheduler)));
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

/// With `HOST_WRITE_README_TABLE=1` the test writes the table into README.md instead.
#[test]
fn the_readme_table_is_the_key_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(TABLE_BEGIN)
        .expect("README has the table's markers")
        + TABLE_BEGIN.len();
    let end = readme[start..].find(TABLE_END).expect("the end marker") + start;
    if std::env::var_os("HOST_WRITE_README_TABLE").is_some() {
        let written = format!("{}{}{}", &readme[..start], markdown_table(), &readme[end..]);
        std::fs::write(path, written).unwrap();
        return;
    }
    assert_eq!(
        readme[start..end],
        markdown_table(),
        "README.md's scheduler key table is not the table's: replace it with \
         host::scheduler::keys::markdown_table() (HOST_WRITE_README_TABLE=1 cargo test -p host \
         --test scheduler_keys writes it)"
    );
}
