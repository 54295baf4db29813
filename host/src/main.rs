//! `host --onnx unet.onnx --steps 25`: see `host --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match host::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line, exit code 2.
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let text = error.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    match host::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the context chain joined, and any newline from ONNX Runtime flattened.
            let message = format!("{error:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
