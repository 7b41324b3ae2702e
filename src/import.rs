//! Reading an import file: JSON Lines, one command per line, every line parsed before anything
//! is checked against the ledger. Blank lines are skipped; line numbers count them.

use crate::command::{self, field_error};
use crate::ledger::{LedgerError, Numbered};
use crate::limits::{MAX_IMPORT_BYTES, MAX_IMPORT_COMMANDS, MAX_LINE_BYTES};
use crate::lines::{Line, Lines};
use std::io::BufRead;

fn refused(line: usize, field: &str, message: impl Into<String>) -> LedgerError {
    let e = field_error(field, message);
    LedgerError::Refused {
        line: Some(line),
        field: e.field,
        message: e.message,
    }
}

/// Parses every line of `input`. `progress` is told the bytes read so far.
pub fn read(input: impl BufRead, progress: impl FnMut(u64)) -> Result<Vec<Numbered>, LedgerError> {
    Commands::new(input, progress).collect()
}

/// The commands of an import, parsed one line at a time, so that a big import is never held
/// in memory whole. Yields the first error and then stops.
pub struct Commands<R, P> {
    lines: Lines<R>,
    progress: P,
    commands: usize,
    done: bool,
}

impl<R: BufRead, P: FnMut(u64)> Commands<R, P> {
    /// `progress` is told the bytes read so far, now and then and at the end.
    pub fn new(input: R, progress: P) -> Self {
        Commands {
            lines: Lines::new(input, MAX_LINE_BYTES),
            progress,
            commands: 0,
            done: false,
        }
    }

    fn next_command(&mut self) -> Result<Option<Numbered>, LedgerError> {
        while let Some((n, line)) = self
            .lines
            .next_line()
            .map_err(|e| LedgerError::Io(format!("cannot read the import: {e}")))?
        {
            if self.lines.bytes_read() > MAX_IMPORT_BYTES {
                return Err(refused(
                    n,
                    "line",
                    format!("the import is larger than {MAX_IMPORT_BYTES} bytes"),
                ));
            }
            let text = match line {
                Line::Text(t) => t,
                Line::TooLong => {
                    return Err(refused(
                        n,
                        "line",
                        format!("longer than {MAX_LINE_BYTES} bytes"),
                    ))
                }
                Line::NotUtf8 => return Err(refused(n, "line", "not UTF-8")),
            };
            if text.trim().is_empty() {
                continue;
            }
            if self.commands >= MAX_IMPORT_COMMANDS {
                return Err(refused(
                    n,
                    "line",
                    format!("more than {MAX_IMPORT_COMMANDS} commands in one import"),
                ));
            }
            let command = command::parse_line(&text).map_err(|e| LedgerError::Refused {
                line: Some(n),
                field: e.field,
                message: e.message,
            })?;
            self.commands += 1;
            if n.is_multiple_of(4096) {
                (self.progress)(self.lines.bytes_read());
            }
            return Ok(Some(Numbered {
                line: Some(n),
                command,
            }));
        }
        (self.progress)(self.lines.bytes_read());
        Ok(None)
    }
}

impl<R: BufRead, P: FnMut(u64)> Iterator for Commands<R, P> {
    type Item = Result<Numbered, LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_command().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}
