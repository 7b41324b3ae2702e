//! Reading text lines with a bound on their length, so that no input can exhaust memory.

use std::io::BufRead;

/// One line as read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line's text, without its line ending (LF, or CR LF); the first line's without a
    /// UTF-8 byte-order mark (one anywhere else is part of its line).
    Text(String),
    /// The line is longer than the bound; the rest of the input is not read.
    TooLong,
    /// The line is not UTF-8.
    NotUtf8,
}

/// Reads lines of at most `max_bytes` bytes, numbered from 1, counting bytes read.
pub struct Lines<R> {
    input: R,
    max_bytes: usize,
    buf: Vec<u8>,
    number: usize,
    bytes_read: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(input: R, max_bytes: usize) -> Self {
        Lines {
            input,
            max_bytes,
            buf: Vec::new(),
            number: 0,
            bytes_read: 0,
            done: false,
        }
    }

    /// The input being read.
    pub fn get_ref(&self) -> &R {
        &self.input
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line and its number, `Ok(None)` at the end of the input.
    pub fn next_line(&mut self) -> std::io::Result<Option<(usize, Line)>> {
        if self.done {
            return Ok(None);
        }
        self.buf.clear();
        // Read at most two bytes past the bound (room for "\r\n"), so a huge line stops early.
        let mut limited = std::io::Read::take(&mut self.input, self.max_bytes as u64 + 2);
        let read = limited.read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            self.done = true;
            return Ok(None);
        }
        self.number += 1;
        self.bytes_read += read as u64;
        let ended = self.buf.last() == Some(&b'\n');
        if ended {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > self.max_bytes {
            self.done = true;
            return Ok(Some((self.number, Line::TooLong)));
        }
        let line = match std::str::from_utf8(&self.buf) {
            Ok(text) if self.number == 1 => {
                Line::Text(text.strip_prefix('\u{feff}').unwrap_or(text).to_string())
            }
            Ok(text) => Line::Text(text.to_string()),
            Err(_) => Line::NotUtf8,
        };
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_bounds_lines() {
        let mut l = Lines::new("a\r\nbb\n\nccccc\nd".as_bytes(), 4);
        assert_eq!(l.next_line().unwrap(), Some((1, Line::Text("a".into()))));
        assert_eq!(l.next_line().unwrap(), Some((2, Line::Text("bb".into()))));
        assert_eq!(l.next_line().unwrap(), Some((3, Line::Text(String::new()))));
        assert_eq!(l.next_line().unwrap(), Some((4, Line::TooLong)));
        assert_eq!(l.next_line().unwrap(), None);
    }

    #[test]
    fn only_the_first_line_may_begin_with_a_byte_order_mark() {
        let mut l = Lines::new("\u{feff}a\n\u{feff}b\n".as_bytes(), 10);
        assert_eq!(l.next_line().unwrap(), Some((1, Line::Text("a".into()))));
        assert_eq!(
            l.next_line().unwrap(),
            Some((2, Line::Text("\u{feff}b".into())))
        );
    }

    #[test]
    fn a_last_line_without_newline_counts() {
        let mut l = Lines::new("x\ny".as_bytes(), 10);
        l.next_line().unwrap();
        assert_eq!(l.next_line().unwrap(), Some((2, Line::Text("y".into()))));
        assert_eq!(l.bytes_read(), 3);
    }
}
