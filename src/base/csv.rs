//! CSV (RFC 4180) for the files people exchange with kaohe: reading one record from one line
//! (`reconcile --tallies`) and writing records (`export --scores`).
//!
//! Writing: a file starts with the UTF-8 byte-order mark ([`BOM`], [`write_bom`]), so that a
//! spreadsheet reads its Chinese text as UTF-8; fields separated by `,`, records ended by `\n`,
//! UTF-8; a field that holds a comma, a double quote, a line break or surrounding spaces is
//! enclosed in double quotes, with each quote doubled. Reading accepts what spreadsheet programs write: quoted or bare fields, spaces
//! around a field (outside its quotes) ignored. A quoted field may not span lines (no field
//! kaohe reads holds a line break), so every record is one line.
//!
//! Formula injection: a spreadsheet takes a cell that starts with `=`, `+`, `-` or `@` (or a
//! tab or carriage return before one) for a formula, so a station named `=HYPERLINK(…)` would
//! run when the file is opened. Every text cell kaohe writes that starts with one of those
//! characters is written with a `'` before it ([`neutralise`]), which spreadsheets show as
//! text; figures are written as they are, so `-1.5` stays a number. [`restore`] undoes it
//! when kaohe reads a cell back.
//!
//! Why not the `csv` crate: its reader is lenient by design and never refuses a line (`a,"b`
//! reads as `a`,`b`; `b"c` keeps its quote), so it cannot name the field of a broken quote as
//! `reconcile --tallies` does; it takes a quote after a space as text (` "B.1"` reads as `"B.1"`,
//! quotes and all), where spreadsheet programs write such fields; and its writer leaves a field
//! with a space or tab at either end bare, which `schema/scores-csv.md` quotes so that a reader
//! that drops those blanks (this one, spreadsheets) keeps them. Each would take a wrapper about
//! as long as this file. The tests use the crate as a second opinion on what is written here.

use std::borrow::Cow;
use std::io::Write;

/// Why a line is not a CSV record. `field` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("field {field}: a quoted field does not end on its line (a closing `\"` is missing)")]
    Unterminated { field: usize },
    #[error("field {field}: text after the closing quote (a quote inside a quoted field is written `\"\"`)")]
    AfterQuote { field: usize },
    #[error("field {field}: a `\"` inside an unquoted field (enclose the field in quotes and double the quote)")]
    StrayQuote { field: usize },
}

impl SplitError {
    /// The field (from 1) the error is in.
    pub fn field(&self) -> usize {
        match self {
            SplitError::Unterminated { field }
            | SplitError::AfterQuote { field }
            | SplitError::StrayQuote { field } => *field,
        }
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits one record (a line without its line ending) into its fields: `a, "b,c" ,"d""e"` is
/// `a`, `b,c`, `d"e`. Spaces and tabs around a field, outside its quotes, are not part of it.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let field = fields.len() + 1;
        while chars.next_if(|c| is_blank(*c)).is_some() {}
        let mut text = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(SplitError::Unterminated { field }),
                    Some('"') if chars.next_if_eq(&'"').is_some() => text.push('"'),
                    Some('"') => break,
                    Some(c) => text.push(c),
                }
            }
            while chars.next_if(|c| is_blank(*c)).is_some() {}
            match chars.next() {
                None => {
                    fields.push(text);
                    return Ok(fields);
                }
                Some(',') => fields.push(text),
                Some(_) => return Err(SplitError::AfterQuote { field }),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(text.trim_end_matches(is_blank).to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(SplitError::StrayQuote { field }),
                    Some(c) => text.push(c),
                }
            }
            fields.push(text.trim_end_matches(is_blank).to_string());
        }
    }
}

/// A field as written: quoted when it must be (a comma, a quote, a line break, or spaces that
/// a reader would drop at either end).
pub fn field(text: &str) -> Cow<'_, str> {
    let must_quote = text.contains([',', '"', '\n', '\r'])
        || text.starts_with(is_blank)
        || text.ends_with(is_blank);
    if must_quote {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

/// The characters that make a spreadsheet take a cell for a formula (OWASP's list).
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when `text`, after any `'`s it starts with, starts a formula.
fn formula_like(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A text cell made safe to open in a spreadsheet: a `'` is put before text that starts with
/// one of [`FORMULA_STARTS`] (`=SUM(1)` is written `'=SUM(1)`), and before text that already
/// starts with `'`s followed by one of them, so that [`restore`] gives back exactly the text.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if formula_like(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text of a cell [`neutralise`] wrote: one leading `'` taken off when what follows
/// the `'`s starts a formula; any other text unchanged.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

/// One cell of a record to write.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text (a code, a name, an id): neutralised against formula injection.
    Text(&'a str),
    /// A figure kaohe computed (`-1.5`, `7`, `true`): written as it is, so that it stays a
    /// number.
    Figure(&'a str),
}

/// The UTF-8 byte-order mark (U+FEFF, bytes EF BB BF) that starts every CSV file kaohe writes:
/// without it Excel reads a CSV file in the computer's legacy code page (GBK on a Chinese
/// Windows) and shows its Chinese text garbled. Readers take it off ([`crate::base::lines`]).
pub const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Writes the byte-order mark a CSV file starts with, before its first record.
pub fn write_bom(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(BOM)
}

/// Writes one record of cells and its `\n`.
pub fn write_cells(out: &mut impl Write, cells: &[Cell<'_>]) -> std::io::Result<()> {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let text = match c {
            Cell::Text(t) => neutralise(t),
            Cell::Figure(f) => Cow::Borrowed(*f),
        };
        out.write_all(field(&text).as_bytes())?;
    }
    out.write_all(b"\n")
}

/// Writes one record of text cells (each neutralised) and its `\n`.
pub fn write_record<S: AsRef<str>>(out: &mut impl Write, fields: &[S]) -> std::io::Result<()> {
    let cells: Vec<Cell<'_>> = fields.iter().map(|f| Cell::Text(f.as_ref())).collect();
    write_cells(out, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_bare_and_quoted_fields() {
        assert_eq!(split("a,b,,d").unwrap(), ["a", "b", "", "d"]);
        assert_eq!(split(" a , b ").unwrap(), ["a", "b"]);
        assert_eq!(
            split(r#""a,b" , "say ""hi""","""#).unwrap(),
            ["a,b", r#"say "hi""#, ""]
        );
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("a,").unwrap(), ["a", ""]);
        assert_eq!(split(r#"" x ""#).unwrap(), [" x "]);
    }

    #[test]
    fn refuses_broken_quotes() {
        assert_eq!(split(r#"a,"b"#), Err(SplitError::Unterminated { field: 2 }));
        assert_eq!(split(r#""b"x,c"#), Err(SplitError::AfterQuote { field: 1 }));
        assert_eq!(split(r#"a,b"c"#), Err(SplitError::StrayQuote { field: 2 }));
    }

    #[test]
    fn the_byte_order_mark_is_utf8_for_u_feff() {
        assert_eq!(BOM, "\u{feff}".as_bytes());
        let mut out = Vec::new();
        write_bom(&mut out).unwrap();
        assert_eq!(out, [0xEF, 0xBB, 0xBF]);
    }

    #[test]
    fn written_fields_read_back() {
        for text in ["plain", "a,b", r#"say "hi""#, " padded ", "湖塘司法所", ""] {
            let mut out = Vec::new();
            write_record(&mut out, &[text, "x"]).unwrap();
            let line = String::from_utf8(out).unwrap();
            let line = line.strip_suffix('\n').unwrap();
            assert_eq!(split(line).unwrap(), [text, "x"], "{line}");
        }
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field(r#"a"b"#), r#""a""b""#);
        assert_eq!(field("ab"), "ab");
    }

    /// Guards against formula injection: text that a spreadsheet would run is written with a
    /// `'` before it and read back as it was; figures are left alone.
    #[test]
    fn text_that_starts_a_formula_is_neutralised_and_restored() {
        for (text, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("@SUM(1)", "'@SUM(1)"),
            ("+1", "'+1"),
            ("-WJ", "'-WJ"),
            ("\tx", "'\tx"),
            ("'=x", "''=x"),
            ("'x", "'x"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(text), written, "{text:?}");
            assert_eq!(restore(&neutralise(text)), text, "{text:?}");
        }
        let mut out = Vec::new();
        write_cells(
            &mut out,
            &[Cell::Text("-1.5"), Cell::Figure("-1.5"), Cell::Figure("7")],
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "'-1.5,-1.5,7\n");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// The `csv` crate, a widely used RFC 4180 reader, reads back exactly the fields written
        /// here (neutralised), whatever they hold, and [`restore`] gives back the text. (Two fields at least: a record of one empty field is an
        /// empty line, which that reader skips.)
        #[test]
        fn the_csv_crate_reads_back_what_is_written(
            fields in proptest::collection::vec("[a-z ,\"\t\r\n湖é=+@'-]{0,6}", 2..6)
        ) {
            let mut out = Vec::new();
            write_record(&mut out, &fields).unwrap();
            let read: Vec<Vec<String>> = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(out.as_slice())
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect();
            let written: Vec<String> = fields.iter().map(|f| neutralise(f).into_owned()).collect();
            proptest::prop_assert_eq!(&read, &vec![written], "{:?}", String::from_utf8_lossy(&out));
            let restored: Vec<&str> = read[0].iter().map(|c| restore(c)).collect();
            proptest::prop_assert_eq!(restored, fields);
        }
    }
}
