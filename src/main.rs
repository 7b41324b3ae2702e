//! The `kaohe` binary: parse, call the library, map the outcome to an exit code
//! (0 ok, 1 a check found a problem, 2 bad input or usage).

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`kaohe export | head`) is not an error worth a message.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let code = e
                .downcast_ref::<cli::Exit>()
                .map_or(cli::EXIT_BAD_INPUT, |x| x.code);
            eprintln!("kaohe: {e:#}");
            ExitCode::from(code)
        }
    }
}
