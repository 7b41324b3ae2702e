//! Reading an import file: JSON Lines, one command per line, every line parsed before anything
//! is checked against the ledger. Blank lines are skipped; line numbers count them.

use crate::command::{self, field_error};
use crate::ledger::{LedgerError, Numbered};
use crate::limits::{MAX_IMPORT_BYTES, MAX_IMPORT_COMMANDS, MAX_LINE_BYTES};
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
    mut input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Numbered>, LedgerError> {
    let mut commands = Vec::new();
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    let mut n = 0usize;
    loop {
        buf.clear();
        n += 1;
        // Read at most one byte past the limit, so a huge line cannot exhaust memory.
        let mut limited = std::io::Read::take(&mut input, MAX_LINE_BYTES as u64 + 2);
        let read = limited
            .read_until(b'\n', &mut buf)
            .map_err(|e| LedgerError::Io(format!("cannot read the import: {e}")))?;
        if read == 0 {
            break;
        }
        total += read as u64;
        if total > MAX_IMPORT_BYTES {
            return Err(refused(
                n,
                "line",
                format!("the import is larger than {MAX_IMPORT_BYTES} bytes"),
            ));
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        } else if buf.len() > MAX_LINE_BYTES {
            return Err(refused(
                n,
                "line",
                format!("longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(refused(
                n,
                "line",
                format!("longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let text = std::str::from_utf8(&buf).map_err(|_| refused(n, "line", "not UTF-8"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
        let command = command::parse_line(text).map_err(|e| LedgerError::Refused {
            line: Some(n),
            field: e.field,
            message: e.message,
        })?;
        commands.push(Numbered {
            line: Some(n),
            command,
        });
        if n.is_multiple_of(4096) {
            progress(total);
        }
    }
    progress(total);
    Ok(commands)
}
