//! `host --onnx unet.onnx --steps 25`: see `host --help`.

use std::process::ExitCode;

use clap::Parser;

/// clap's usage error on one line, keeping everything it names (the missing flags, the allowed
/// values, its "did you mean"): its own lines joined, without the usage block and the pointer
/// to --help.
fn usage_error_line(error: &clap::Error, help: &str) -> String {
    let text = error.render().to_string();
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .take_while(|line| !line.starts_with("Usage:"))
        .filter(|line| !line.starts_with("For more information"))
        .collect();
    format!("{} (see {help})", kept.join(" "))
}

fn main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|first| first == "merge")
    {
        let cli = match host::cli::MergeCli::try_parse_from(std::env::args_os().skip(1)) {
            Ok(cli) => cli,
            Err(error) if !error.use_stderr() => error.exit(),
            Err(error) => {
                eprintln!("{}", usage_error_line(&error, "host merge --help"));
                return ExitCode::from(2);
            }
        };
        return exit_code(host::merge::run(cli));
    }
    let cli = match host::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full.
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            eprintln!("{}", usage_error_line(&error, "host --help"));
            return ExitCode::from(2);
        }
    };
    exit_code(host::run(cli))
}

/// 0, or the error on one line and 1 (128 + the signal when interrupted).
fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the context chain joined, and any newline from ONNX Runtime flattened.
            let message = format!("{error:#}").replace('\n', " ");
            eprintln!("error: {message}");
            match error.downcast_ref::<host::interrupt::Interrupted>() {
                Some(interrupted) => ExitCode::from(interrupted.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}
