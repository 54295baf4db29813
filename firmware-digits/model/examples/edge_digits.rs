//! Writes N digits of the firmware's host twin as a float32 .npy [N, 1, 8, 8] in [−1, 1]: digit
//! i is `sample_digit` with `noise_stream(seed, i)`, bit for bit what the firmware prints for the
//! same seed, index, solver and steps. `scripts/edge-digits` runs this.
//!
//! ```sh
//! edge_digits N OUT.npy [--seed S] [--solver dpm-solver++|ddim] [--steps K]
//! ```
//! Defaults: seed 0, DPM-Solver++ 2M, 10 steps (DDIM: 20).

use std::io::Write;
use std::process::ExitCode;

use digits_denoiser::{PIXELS, Plans, Run, Solver};

/// At most this many digits (256 B each, held in memory until the file is written).
const MAX_DIGITS: u64 = 1 << 22;
/// At most this many steps (the training T).
const MAX_STEPS: usize = 1000;

struct Arguments {
    count: u64,
    out: std::path::PathBuf,
    seed: u64,
    run: Run,
}

const USAGE: &str =
    "usage: edge-digits N OUT.npy [--seed S] [--solver dpm-solver++|ddim] [--steps K]";

fn parse() -> Result<Arguments, String> {
    let mut positional = Vec::new();
    let mut seed = 0u64;
    let mut solver = Solver::DpmSolverPlusPlus;
    let mut steps = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value; {USAGE}"));
        match arg.as_str() {
            "--seed" => {
                let text = value("--seed")?;
                seed = text
                    .parse()
                    .map_err(|_| format!("--seed {text:?}: expected an integer 0 .. 2^64 - 1"))?;
            }
            "--solver" => {
                solver = match value("--solver")?.as_str() {
                    "dpm-solver++" => Solver::DpmSolverPlusPlus,
                    "ddim" => Solver::Ddim,
                    other => {
                        return Err(format!("--solver {other:?}: expected dpm-solver++ or ddim"));
                    }
                }
            }
            "--steps" => {
                let text = value("--steps")?;
                let parsed: u32 = text
                    .parse()
                    .map_err(|_| format!("--steps {text:?}: expected 1 .. {MAX_STEPS}"))?;
                if parsed == 0 || parsed as usize > MAX_STEPS {
                    return Err(format!("--steps {parsed}: expected 1 .. {MAX_STEPS}"));
                }
                steps = Some(parsed);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}; {USAGE}"));
            }
            _ => positional.push(arg),
        }
    }
    let [count, out] = <[String; 2]>::try_from(positional).map_err(|_| USAGE.to_string())?;
    let count: u64 = count
        .parse()
        .ok()
        .filter(|&n| n > 0 && n <= MAX_DIGITS)
        .ok_or(format!(
            "N {count:?}: expected an integer 1 .. {MAX_DIGITS}"
        ))?;
    if !out.ends_with(".npy") {
        return Err(format!("OUT {out:?}: expected a path ending in .npy"));
    }
    let (name, default_steps) = match solver {
        Solver::DpmSolverPlusPlus => ("dpm-solver++", 10),
        Solver::Ddim => ("ddim", 20),
    };
    let run = Run {
        name,
        solver,
        steps: steps.unwrap_or(default_steps),
    };
    Ok(Arguments {
        count,
        out: out.into(),
        seed,
        run,
    })
}

/// The .npy (format 1.0) header for float32 [count, 1, 8, 8], padded to 64 bytes' alignment.
fn npy_header(count: u64) -> Vec<u8> {
    let dictionary =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({count}, 1, 8, 8), }}");
    let mut header = dictionary.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out
}

fn run(arguments: &Arguments) -> Result<(), String> {
    let mut plans: Box<Plans<MAX_STEPS>> = Box::new(Plans::empty());
    plans.build(&arguments.run).map_err(|error| {
        format!(
            "{} with {} steps: {error}",
            arguments.run.name, arguments.run.steps
        )
    })?;
    let mut bytes = npy_header(arguments.count);
    for index in 0..arguments.count {
        let mut x = [0.0f32; PIXELS];
        let mut epsilon = [0.0f32; PIXELS];
        let mut history = [0.0f32; PIXELS];
        digits_denoiser::sample_digit(
            &arguments.run,
            &plans,
            arguments.seed,
            index,
            &mut x,
            &mut epsilon,
            &mut history,
        )
        .map_err(|error| format!("digit {index}: {error}"))?;
        for value in x {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    // Written next to OUT and renamed: a failed run leaves no half-written file.
    let temporary = arguments.out.with_extension("npy.partial");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &arguments.out)
    };
    write().map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: {error}", arguments.out.display())
    })
}

fn main() -> ExitCode {
    let result = parse().and_then(|arguments| run(&arguments));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("edge-digits: {message}");
            ExitCode::FAILURE
        }
    }
}
