//! Reading an import file: JSON Lines, one command per line, every line parsed before anything
//! is checked against the ledger. Blank lines are skipped; line numbers count them.

use crate::base::limits::{MAX_IMPORT_BYTES, MAX_IMPORT_COMMANDS, MAX_LINE_BYTES};
use crate::base::lines::{Line, Lines};
use crate::domain::command::{self, field_error};
use crate::ledger::{LedgerError, Numbered};
use std::io::BufRead;

fn refused(
    line: usize,
    field: &str,
    message: impl Into<String>,
    zh: impl Into<String>,
) -> LedgerError {
    let e = field_error(field, message, zh);
    LedgerError::Refused {
        line: Some(line),
        field: e.field,
        message: e.message,
        zh: e.zh,
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
                    format!("导入文件超过 {MAX_IMPORT_BYTES} 字节"),
                ));
            }
            let text = match line {
                Line::Text(t) => t,
                Line::TooLong => {
                    return Err(refused(
                        n,
                        "line",
                        format!("longer than {MAX_LINE_BYTES} bytes"),
                        format!("一行超过 {MAX_LINE_BYTES} 字节"),
                    ))
                }
                Line::NotUtf8 => {
                    return Err(refused(n, "line", "not UTF-8", "不是 UTF-8 编码的文字"))
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            if self.commands >= MAX_IMPORT_COMMANDS {
                return Err(refused(
                    n,
                    "line",
                    format!("more than {MAX_IMPORT_COMMANDS} commands in one import"),
                    format!("一次导入超过 {MAX_IMPORT_COMMANDS} 条命令"),
                ));
            }
            let command = command::parse_line(&text).map_err(|e| LedgerError::Refused {
                line: Some(n),
                field: e.field,
                message: e.message,
                zh: e.zh,
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

/// Commands handed from the parsing thread at a time.
const PARSE_AHEAD_BATCH: usize = 256;
/// Batches parsed ahead of the checks (bounds the memory a fast parser can run ahead with).
const PARSE_AHEAD_BATCHES: usize = 16;

/// Runs `f` over the commands of `input` while another thread parses them: parsing and
/// checking overlap on two cores. Same commands, order and first error as [`Commands`]; when
/// `f` stops early the parser stops too.
///
/// `f` also gets a place to put each command it is done with: they go back to the parsing
/// thread in batches and are freed there, where they were allocated (freed by the checking
/// thread, glibc's `free` of another thread's memory was a few percent of an import's
/// bound). A batch the parser cannot take at once is freed where it is.
pub fn with_parsed_ahead<R, P, T>(
    input: R,
    progress: P,
    f: impl FnOnce(
        &mut dyn Iterator<Item = Result<Numbered, LedgerError>>,
        &mut dyn FnMut(Numbered),
    ) -> T,
) -> T
where
    R: BufRead + Send,
    P: FnMut(u64) + Send,
{
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<Vec<Result<Numbered, LedgerError>>>(PARSE_AHEAD_BATCHES);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Vec<Numbered>>(PARSE_AHEAD_BATCHES);
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut batch = Vec::with_capacity(PARSE_AHEAD_BATCH);
            for c in Commands::new(input, progress) {
                batch.push(c);
                if batch.len() == PARSE_AHEAD_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(PARSE_AHEAD_BATCH));
                    if tx.send(full).is_err() {
                        return; // the checks stopped
                    }
                    // What the checks are done with is freed here (never waited for).
                    while let Ok(done) = done_rx.try_recv() {
                        drop(done);
                    }
                }
            }
            let _ = tx.send(batch);
        });
        let mut commands = rx.into_iter().flatten();
        let mut done = Vec::with_capacity(PARSE_AHEAD_BATCH);
        let mut hand_back = |c: Numbered| {
            done.push(c);
            if done.len() == PARSE_AHEAD_BATCH {
                let full = std::mem::replace(&mut done, Vec::with_capacity(PARSE_AHEAD_BATCH));
                // A full channel (the parser is waiting to send) or a parser that has ended:
                // the batch is freed here instead.
                let _ = done_tx.try_send(full);
            }
        };
        let out = f(&mut commands, &mut hand_back);
        // Dropping the receiver ends a parser still running ahead before the scope joins it.
        drop(commands);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Station lines, one per line number from 1.
    fn station_lines(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!("{{\"op\":\"station\",\"code\":\"S{i:05}\",\"name\":\"第{i}司法所\",\"kind\":\"town\"}}\n")
            })
            .collect()
    }

    /// Guards the hand-back of checked commands (`with_parsed_ahead`): every command comes
    /// through once, in order, whether the checks hand each one back or keep some; and a call
    /// whose checks stop early while the parser runs ahead returns (a hand-back that waited
    /// for the parser could deadlock with a parser waiting to send).
    #[test]
    fn parsed_ahead_commands_come_in_order_and_an_early_stop_returns() {
        let text = station_lines(5 * PARSE_AHEAD_BATCH + 7);
        let seen = with_parsed_ahead(
            text.as_bytes(),
            |_| {},
            |commands, done| {
                let mut lines = Vec::new();
                let mut kept = Vec::new();
                for c in commands {
                    let c = c.expect("a station line parses");
                    lines.push(c.line);
                    match lines.len() % 3 {
                        0 => kept.push(c),
                        _ => done(c),
                    }
                }
                (lines, kept.len())
            },
        );
        let want: Vec<Option<usize>> = (1..=5 * PARSE_AHEAD_BATCH + 7).map(Some).collect();
        assert_eq!(seen.0, want);
        assert_eq!(seen.1, (5 * PARSE_AHEAD_BATCH + 7) / 3);

        let text = station_lines(PARSE_AHEAD_BATCH * (PARSE_AHEAD_BATCHES + 4));
        let taken = with_parsed_ahead(
            text.as_bytes(),
            |_| {},
            |commands, done| {
                // Wait until the parser is blocked on a full channel, then stop.
                std::thread::sleep(std::time::Duration::from_millis(50));
                let mut n = 0;
                for c in commands.take(3 * PARSE_AHEAD_BATCH + 1) {
                    done(c.expect("a station line parses"));
                    n += 1;
                }
                n
            },
        );
        assert_eq!(taken, 3 * PARSE_AHEAD_BATCH + 1);
    }
}
