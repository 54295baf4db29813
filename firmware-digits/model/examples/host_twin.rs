//! The digits firmware's runs on the host: prints the same `digit` lines as the firmware under
//! QEMU, for digits 0 .. N of each run (seed `SEED`).
//!
//! ```sh
//! cargo run --release --manifest-path firmware-digits/model/Cargo.toml --example host_twin          # N = CHECK_DIGITS
//! cargo run --release --manifest-path firmware-digits/model/Cargo.toml --example host_twin -- --grid # N = GRID_DIGITS
//! ```

use digits_denoiser::{CHECK_DIGITS, GRID_DIGITS, PIXELS, PLAN_CAPACITY, Plans, RUNS, SEED};

fn main() {
    let digits = match std::env::args().nth(1).as_deref() {
        None => CHECK_DIGITS,
        Some("--grid") => GRID_DIGITS,
        Some(other) => {
            eprintln!("host_twin: unknown argument {other:?} (expected nothing or --grid)");
            std::process::exit(2);
        }
    };
    let mut plans: Box<Plans<PLAN_CAPACITY>> = Box::new(Plans::empty());
    for run in &RUNS {
        plans.build(run).expect("the firmware's plans are valid");
        for index in 0..digits {
            let mut x = [0.0f32; PIXELS];
            let mut epsilon = [0.0f32; PIXELS];
            let mut history = [0.0f32; PIXELS];
            digits_denoiser::sample_digit(
                run,
                &plans,
                SEED,
                index,
                &mut x,
                &mut epsilon,
                &mut history,
            )
            .expect("sampling with a valid plan");
            println!("{}", digits_denoiser::digit_line(run, index, &x));
        }
    }
}
