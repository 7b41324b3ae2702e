//! The `kaohe` binary: parse, call the library, map the outcome to an exit code
//! (0 ok, 1 a check found a problem, 2 bad input or usage).

mod cli;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // Help and version go to stdout (exit 0), usage errors to stderr (exit 2); a
            // closed pipe on either is not worth a panic.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(cli::EXIT_BAD_INPUT));
        }
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<cli::Exit>()
                .map_or(cli::EXIT_BAD_INPUT, |x| x.code);
            // stderr may be closed too; the exit code still tells.
            let _ = writeln!(std::io::stderr().lock(), "kaohe: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// A closed pipe (`kaohe export | head`) ends the output; it is not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}
