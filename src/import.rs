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
pub fn read(
    input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Numbered>, LedgerError> {
    let mut commands = Vec::new();
    let mut lines = Lines::new(input, MAX_LINE_BYTES);
    while let Some((n, line)) = lines
        .next_line()
        .map_err(|e| LedgerError::Io(format!("cannot read the import: {e}")))?
    {
        if lines.bytes_read() > MAX_IMPORT_BYTES {
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
        if commands.len() >= MAX_IMPORT_COMMANDS {
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
        commands.push(Numbered {
            line: Some(n),
            command,
        });
        if n.is_multiple_of(4096) {
            progress(lines.bytes_read());
        }
    }
    progress(lines.bytes_read());
    Ok(commands)
}
