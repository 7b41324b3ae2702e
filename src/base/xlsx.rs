//! The first worksheet of an Excel workbook (`.xlsx`) as rows of text cells, for the files
//! people exchange with kaohe (`reconcile --tallies`). The only module that knows calamine (the
//! reader) and zip (the archive under it).
//!
//! A workbook is a zip archive of XML parts. Before calamine reads it, the archive's directory
//! is checked against bounds: the number of parts, and the sizes they unpack to, which the zip
//! reader then holds each part to (a part that unpacks to more than it declares is an error), so
//! no small file can unpack to exhaust memory. The shared-string table's declared count is
//! checked too (calamine reserves room for that many strings before it reads one). The sheet is
//! then read cell by cell, at most `max_cells` cells that hold a value.
//!
//! A cell's text: a text cell as it is; a number as the shortest decimal that reads back as the
//! same binary number (what the workbook's XML holds for any number a person typed: `1.5`, `7`,
//! `0.25`); a date, a truth value or a formula's error is given with its [`Kind`], so that the
//! caller can say what is wrong with it. A formula gives the value the workbook stored for it.

use calamine::{DataRef, Reader, SheetType, Xlsx};
use std::io::{Cursor, Read};

/// The first bytes of a zip archive (and so of every `.xlsx` workbook).
pub const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// The first bytes of an OLE compound file: an Excel 97–2003 `.xls` workbook, or an `.xlsx`
/// saved with a password (which is encrypted inside such a file).
pub const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// How much a read may take.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most parts (files) in the archive.
    pub parts: usize,
    /// Most bytes all parts together may unpack to.
    pub unpacked_bytes: u64,
    /// Most cells with a value in the sheet (and most strings the shared-string table may
    /// declare).
    pub cells: usize,
}

/// Why a workbook's first sheet cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XlsxError {
    #[error("not an Excel workbook (.xlsx): {0}")]
    NotAWorkbook(String),
    #[error("the workbook has {found} parts; the limit is {limit}")]
    TooManyParts { found: usize, limit: usize },
    #[error("the workbook unpacks to more than {limit} bytes")]
    TooLargeUnpacked { limit: u64 },
    #[error("the workbook declares {found} shared strings; the limit is {limit}")]
    TooManyStrings { found: u64, limit: usize },
    #[error("the workbook has no worksheet")]
    NoSheet,
    #[error("sheet `{sheet}`: more than {limit} cells hold a value")]
    TooManyCells { sheet: String, limit: usize },
    #[error("sheet `{sheet}`: {message}")]
    Sheet { sheet: String, message: String },
}

/// What a cell held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (its text as it is).
    Text,
    /// A number (its shortest decimal text: `1.5`, `7`).
    Number,
    /// A date or time (its text: the workbook's date serial, or the ISO text it stored).
    Date,
    /// `TRUE` or `FALSE`.
    Bool,
    /// A formula's error (`#DIV/0!`, `#N/A`…).
    Error,
}

/// One cell that holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Its column, from 0 (`A`).
    pub column: u32,
    pub kind: Kind,
    pub text: String,
}

/// One row that holds at least one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The sheet's row number, from 1 (as a spreadsheet shows it).
    pub number: usize,
    /// Its cells that hold a value, by column.
    pub cells: Vec<Cell>,
}

/// The rows of the first worksheet that hold a value, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Row>,
}

/// A column's letters: 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_letters(column: u32) -> String {
    let mut n = u64::from(column) + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        // rem < 26, so the byte is an ASCII capital.
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the first worksheet of a workbook held in `bytes`, within `bounds`.
pub fn first_sheet(bytes: &[u8], bounds: Bounds) -> Result<Sheet, XlsxError> {
    check_archive(bytes, bounds)?;
    let mut book =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    let name = book
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .ok_or(XlsxError::NoSheet)?;
    let sheet_err = |message: String| XlsxError::Sheet {
        sheet: name.clone(),
        message,
    };
    let mut reader = book
        .worksheet_cells_reader(&name)
        .map_err(|e| sheet_err(e.to_string()))?;
    let mut cells: Vec<(u32, Cell)> = Vec::new();
    while let Some(cell) = reader.next_cell().map_err(|e| sheet_err(e.to_string()))? {
        let Some((kind, text)) = cell_text(cell.get_value()) else {
            continue;
        };
        if cells.len() >= bounds.cells {
            return Err(XlsxError::TooManyCells {
                sheet: name,
                limit: bounds.cells,
            });
        }
        let (row, column) = cell.get_position();
        cells.push((row, Cell { column, kind, text }));
    }
    drop(reader);
    // A workbook writes its cells in order; one that does not is put in order.
    cells.sort_by_key(|(row, cell)| (*row, cell.column));
    let mut rows: Vec<Row> = Vec::new();
    for (row, cell) in cells {
        let number = row as usize + 1;
        match rows.last_mut() {
            Some(last) if last.number == number => {
                // A cell given twice keeps its last value, as a spreadsheet would show it.
                match last.cells.last_mut() {
                    Some(prev) if prev.column == cell.column => *prev = cell,
                    _ => last.cells.push(cell),
                }
            }
            _ => rows.push(Row {
                number,
                cells: vec![cell],
            }),
        }
    }
    Ok(Sheet { name, rows })
}

/// A cell's kind and text; `None` for an empty cell.
fn cell_text(value: &DataRef<'_>) -> Option<(Kind, String)> {
    Some(match value {
        DataRef::Empty => return None,
        DataRef::String(s) => (Kind::Text, s.clone()),
        DataRef::SharedString(s) => (Kind::Text, (*s).to_string()),
        DataRef::Int(i) => (Kind::Number, i.to_string()),
        // Rust writes the shortest decimal that reads back as the same f64, never with an
        // exponent: what the workbook's XML holds for a number a person typed.
        DataRef::Float(f) => (Kind::Number, f.to_string()),
        DataRef::Bool(b) => (Kind::Bool, if *b { "TRUE" } else { "FALSE" }.to_string()),
        DataRef::DateTime(d) => (Kind::Date, d.as_f64().to_string()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => (Kind::Date, s.clone()),
        DataRef::Error(e) => (Kind::Error, e.to_string()),
    })
}

/// Checks the archive's directory against `bounds` before anything is unpacked.
fn check_archive(bytes: &[u8], bounds: Bounds) -> Result<(), XlsxError> {
    if !bytes.starts_with(&ZIP_MAGIC) {
        let why = if bytes.starts_with(&OLE_MAGIC) {
            "an Excel 97–2003 (.xls) or password-protected workbook; save it as an Excel \
             workbook (.xlsx) without a password, or as CSV UTF-8"
        } else {
            "it is not a zip archive"
        };
        return Err(XlsxError::NotAWorkbook(why.into()));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| XlsxError::NotAWorkbook(format!("a damaged zip archive ({e})")))?;
    if zip.len() > bounds.parts {
        return Err(XlsxError::TooManyParts {
            found: zip.len(),
            limit: bounds.parts,
        });
    }
    let mut unpacked: u64 = 0;
    let mut shared_strings = Vec::new();
    for i in 0..zip.len() {
        let part = zip
            .by_index_raw(i)
            .map_err(|e| XlsxError::NotAWorkbook(format!("a damaged zip archive ({e})")))?;
        unpacked = unpacked.saturating_add(part.size());
        if unpacked > bounds.unpacked_bytes {
            return Err(XlsxError::TooLargeUnpacked {
                limit: bounds.unpacked_bytes,
            });
        }
        if part
            .name()
            .is_ok_and(|n| n.to_ascii_lowercase().ends_with("sharedstrings.xml"))
        {
            shared_strings.push(i);
        }
    }
    for i in shared_strings {
        let part = zip
            .by_index(i)
            .map_err(|e| XlsxError::NotAWorkbook(format!("a damaged zip archive ({e})")))?;
        if let Some(found) = declared_count(part) {
            if found > bounds.cells as u64 {
                return Err(XlsxError::TooManyStrings {
                    found,
                    limit: bounds.cells,
                });
            }
        }
    }
    Ok(())
}

/// The `uniqueCount` that a shared-string table declares on its `sst` element, read as
/// calamine reads it (the same XML reader and settings, the first `sst` start tag, the
/// attribute's raw value), so that what is checked here is what calamine reserves room for.
/// Digits after an optional `+`; a count too large for any integer is `u64::MAX`. `None` when
/// there is none, or the part cannot be read (calamine then says why).
fn declared_count(part: impl Read) -> Option<u64> {
    let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(part));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Start(e)) if e.local_name().as_ref() == "sst" => {
                return raw_attr(e.attributes_raw(), "uniqueCount").and_then(count_of);
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// An attribute's raw value, found as calamine finds it: the first attribute whose key is
/// exactly `name`; `None` at the first malformed attribute (where calamine stops too).
fn raw_attr<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = raw;
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return None;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim_ascii_end();
        let after = rest[eq + 1..].trim_ascii_start();
        let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let value_and_rest = &after[1..];
        let end = value_and_rest.find(quote).unwrap_or(value_and_rest.len());
        if key == name {
            return Some(&value_and_rest[..end]);
        }
        rest = value_and_rest.get(end + 1..).unwrap_or("");
    }
}

/// A count's value: the digits after an optional `+` (more than any integer holds is
/// `u64::MAX`); `None` without digits.
fn count_of(value: &str) -> Option<u64> {
    let digits: &str = value.strip_prefix('+').unwrap_or(value);
    let digits = &digits[..digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len())];
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_count_like_a_spreadsheet() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(3), "D");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(16_383), "XFD");
    }

    /// Guards the check that keeps calamine from reserving room for a count a small file
    /// declares: the count is found as calamine finds it, past comments and decoys.
    #[test]
    fn finds_the_declared_count_of_shared_strings() {
        let count = |xml: &str| declared_count(xml.as_bytes());
        assert_eq!(
            count(r#"<?xml version="1.0"?><sst xmlns="x" count="4" uniqueCount = '3'>"#),
            Some(3)
        );
        assert_eq!(
            count(r#"<x:sst uniqueCount="99999999999999999999999"/>"#),
            Some(u64::MAX)
        );
        assert_eq!(count(r#"<sst uniqueCount="+007">"#), Some(7));
        assert_eq!(count(r#"<sst count="4">"#), None);
        assert_eq!(count(r#"<sst uniqueCount="x">"#), None);
        assert_eq!(
            count(r#"<!-- <sst uniqueCount="1"> --><sst uniqueCount="500">"#),
            Some(500)
        );
        assert_eq!(
            count(r#"<sst a=">" uniqueCount="9" uniqueCount="1">"#),
            Some(9)
        );
    }

    #[test]
    fn refuses_what_is_not_a_workbook() {
        let bounds = Bounds {
            parts: 10,
            unpacked_bytes: 1 << 20,
            cells: 100,
        };
        let e = first_sheet(b"station,item\n", bounds).unwrap_err();
        assert!(e.to_string().contains("not a zip archive"), "{e}");
        let e = first_sheet(&OLE_MAGIC, bounds).unwrap_err();
        assert!(e.to_string().contains(".xls"), "{e}");
        let e = first_sheet(b"PK\x03\x04 and then nothing", bounds).unwrap_err();
        assert!(e.to_string().contains("damaged zip"), "{e}");
    }
}
