//! Reconciliation: checks the ledger against what a department tallied by hand.
//!
//! The department's tally is a CSV file (RFC 4180, see [`crate::base::csv`]) with the header
//! `station,item,deducted,awarded` and one row per station and item it tallied. Each row is
//! compared with the item's applied figures in a view (after the item caps, as `score --json`
//! shows them); the rows whose figures differ are the mismatches. Items and stations the file
//! does not list are not checked. Nothing is written.
//!
//! A station or item cell that `export --scores` neutralised against formula injection (a `'`
//! before `=`, `+`, `-`, `@`…) is read as the text it stands for.
//!
//! The file is read whole before anything is compared, and a malformed file (a bad header or
//! figure, a row listed twice, an unknown station or item, a limit passed) is an error that
//! names its line and column.

use crate::base::csv::{self, SplitError};
use crate::base::limits::{MAX_TALLY_BYTES, MAX_TALLY_LINE_BYTES, MAX_TALLY_ROWS};
use crate::base::lines::{Line, Lines};
use crate::domain::projection::StationScore;
use crate::domain::rubric::Rubric;
use crate::ledger::query::View;
use crate::ledger::{Ledger, LedgerError};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::io::BufRead;

/// The columns of a tally file, in order.
pub const HEADER: [&str; 4] = ["station", "item", "deducted", "awarded"];

/// One row of a tally file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    /// The file's line number (from 1).
    pub line: usize,
    pub station: String,
    pub item: String,
    /// Canonical; an empty cell is 0.
    pub deducted: Decimal,
    /// Canonical; an empty cell is 0.
    pub awarded: Decimal,
}

/// A row whose figures differ from the ledger's applied figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub line: usize,
    pub station: String,
    pub item: String,
    pub ledger_deducted: Decimal,
    pub tally_deducted: Decimal,
    pub ledger_awarded: Decimal,
    pub tally_awarded: Decimal,
}

/// Why a tally file cannot be reconciled. Every variant about the file names its line.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot read the tally: {0}")]
    Io(String),
    #[error("the file is empty: it needs the header `station,item,deducted,awarded`")]
    Empty,
    #[error("line {line}: the header must be `station,item,deducted,awarded`: {message}")]
    Header { line: usize, message: String },
    #[error("line {line}: longer than {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    #[error("line {line}: not UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: the file is larger than {limit} bytes")]
    FileTooLarge { line: usize, limit: u64 },
    #[error("line {line}: more than {limit} rows in one file")]
    TooManyRows { line: usize, limit: usize },
    #[error("line {line}: {found} fields; a row has 4 (station,item,deducted,awarded)")]
    FieldCount { line: usize, found: usize },
    /// A cell that is not what its column takes (a bad figure, an empty station, a quote).
    #[error("line {line}, column `{column}`: {message}")]
    Cell {
        line: usize,
        column: String,
        message: String,
    },
    #[error(
        "line {line}: station `{station}` item `{item}` is listed twice (first on line {first})"
    )]
    Duplicate {
        line: usize,
        first: usize,
        station: String,
        item: String,
    },
    #[error("line {line}, column `station`: unknown station `{station}`{hint}")]
    UnknownStation {
        line: usize,
        station: String,
        hint: String,
    },
    #[error("line {line}, column `item`: unknown item `{item}`{hint}")]
    UnknownItem {
        line: usize,
        item: String,
        hint: String,
    },
    /// Reading the ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl ReconcileError {
    /// The file's line the error is about, if it is about one.
    pub fn line(&self) -> Option<usize> {
        use ReconcileError::*;
        match self {
            Io(_) | Empty | Ledger(_) => None,
            Header { line, .. }
            | LineTooLong { line, .. }
            | NotUtf8 { line }
            | FileTooLarge { line, .. }
            | TooManyRows { line, .. }
            | FieldCount { line, .. }
            | Cell { line, .. }
            | Duplicate { line, .. }
            | UnknownStation { line, .. }
            | UnknownItem { line, .. } => Some(*line),
        }
    }
}

/// The bounds a read applies (the named limits, or smaller ones in tests).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub bytes: u64,
    pub line_bytes: usize,
    pub rows: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            bytes: MAX_TALLY_BYTES,
            line_bytes: MAX_TALLY_LINE_BYTES,
            rows: MAX_TALLY_ROWS,
        }
    }
}

/// Reads a tally file within the named limits. Blank lines are skipped (line numbers count
/// them); a UTF-8 byte-order mark and CRLF line ends are accepted.
pub fn read(input: impl BufRead) -> Result<Vec<TallyRow>, ReconcileError> {
    read_bounded(input, Bounds::default())
}

/// [`read`] within `bounds`.
pub fn read_bounded(input: impl BufRead, bounds: Bounds) -> Result<Vec<TallyRow>, ReconcileError> {
    let mut lines = Lines::new(input, bounds.line_bytes);
    let mut header_seen = false;
    let mut rows: Vec<TallyRow> = Vec::new();
    let mut first_line: HashMap<(String, String), usize> = HashMap::new();
    while let Some((n, line)) = lines
        .next_line()
        .map_err(|e| ReconcileError::Io(e.to_string()))?
    {
        if lines.bytes_read() > bounds.bytes {
            return Err(ReconcileError::FileTooLarge {
                line: n,
                limit: bounds.bytes,
            });
        }
        let text = match line {
            Line::Text(t) => t,
            Line::TooLong => {
                return Err(ReconcileError::LineTooLong {
                    line: n,
                    limit: bounds.line_bytes,
                })
            }
            Line::NotUtf8 => return Err(ReconcileError::NotUtf8 { line: n }),
        };
        if text.trim().is_empty() {
            continue;
        }
        if !header_seen {
            check_header(n, &text)?;
            header_seen = true;
            continue;
        }
        if rows.len() >= bounds.rows {
            return Err(ReconcileError::TooManyRows {
                line: n,
                limit: bounds.rows,
            });
        }
        let row = parse_row(n, &text)?;
        let key = (row.station.clone(), row.item.clone());
        if let Some(first) = first_line.insert(key, n) {
            return Err(ReconcileError::Duplicate {
                line: n,
                first,
                station: row.station,
                item: row.item,
            });
        }
        rows.push(row);
    }
    if !header_seen {
        return Err(ReconcileError::Empty);
    }
    Ok(rows)
}

/// The name of a field's column (`field` from 1), for messages.
fn column_name(field: usize) -> String {
    HEADER
        .get(field.wrapping_sub(1))
        .map_or_else(|| format!("field {field}"), |c| c.to_string())
}

fn check_header(line: usize, text: &str) -> Result<(), ReconcileError> {
    let header = |message: String| ReconcileError::Header { line, message };
    let fields = csv::split(text).map_err(|e| header(e.to_string()))?;
    if fields == HEADER {
        return Ok(());
    }
    let found = fields.join(",");
    if fields.len() > HEADER.len() && HEADER.iter().all(|c| fields.contains(&c.to_string())) {
        return Err(header(format!(
            "found {} columns `{found}`; keep only station,item,deducted,awarded, in that order",
            fields.len()
        )));
    }
    let differs = fields
        .iter()
        .zip(HEADER)
        .position(|(f, h)| f != h)
        .map(|i| {
            format!(
                " (column {} is `{}`, expected `{}`)",
                i + 1,
                fields[i],
                HEADER[i]
            )
        })
        .unwrap_or_default();
    Err(header(format!("found `{found}`{differs}")))
}

fn parse_row(line: usize, text: &str) -> Result<TallyRow, ReconcileError> {
    let fields = csv::split(text).map_err(|e: SplitError| ReconcileError::Cell {
        line,
        column: column_name(e.field()),
        message: e.to_string(),
    })?;
    let [station, item, deducted, awarded]: [String; 4] =
        fields
            .try_into()
            .map_err(|f: Vec<String>| ReconcileError::FieldCount {
                line,
                found: f.len(),
            })?;
    let cell = |column: &str, message: String| ReconcileError::Cell {
        line,
        column: column.into(),
        message,
    };
    // A cell kaohe's own export neutralised (`'=1.1`) reads back as the text it was.
    let (station, item) = (
        csv::restore(&station).to_string(),
        csv::restore(&item).to_string(),
    );
    for (column, value) in [("station", &station), ("item", &item)] {
        if value.is_empty() {
            return Err(cell(column, "is empty".into()));
        }
    }
    let figure = |column: &str, value: &str| -> Result<Decimal, ReconcileError> {
        if value.is_empty() {
            return Ok(Decimal::ZERO);
        }
        let d = crate::base::decimal::parse(value).map_err(|e| cell(column, e.to_string()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(cell(
                column,
                format!("`{value}` is negative; give the points deducted or awarded as a positive figure"),
            ));
        }
        Ok(crate::base::decimal::canonical(d))
    };
    Ok(TallyRow {
        line,
        deducted: figure("deducted", &deducted)?,
        awarded: figure("awarded", &awarded)?,
        station,
        item,
    })
}

/// Compares rows with scores (of one view, under `rubric`), in the file's order. An unknown
/// station or item is an error naming its line.
pub fn compare(
    rows: &[TallyRow],
    scores: &[StationScore<'_>],
    rubric: &Rubric,
) -> Result<Vec<Mismatch>, ReconcileError> {
    let by_code: HashMap<&str, &StationScore> =
        scores.iter().map(|s| (s.station.as_str(), s)).collect();
    let mut mismatches = Vec::new();
    for row in rows {
        let Some(station) = by_code.get(row.station.as_str()) else {
            let hint = scores
                .iter()
                .find(|s| s.station.eq_ignore_ascii_case(&row.station))
                .map(|s| format!(" (did you mean `{}`?)", s.station))
                .unwrap_or_default();
            return Err(ReconcileError::UnknownStation {
                line: row.line,
                station: row.station.clone(),
                hint,
            });
        };
        let Some(item) = rubric
            .item_position(&row.item)
            .and_then(|p| station.items.get(p))
        else {
            return Err(ReconcileError::UnknownItem {
                line: row.line,
                item: row.item.clone(),
                hint: item_hint(rubric, &row.item),
            });
        };
        if item.deducted != row.deducted || item.awarded != row.awarded {
            mismatches.push(Mismatch {
                line: row.line,
                station: row.station.clone(),
                item: row.item.clone(),
                ledger_deducted: item.deducted,
                tally_deducted: row.deducted,
                ledger_awarded: item.awarded,
                tally_awarded: row.awarded,
            });
        }
    }
    Ok(mismatches)
}

fn item_hint(rubric: &Rubric, code: &str) -> String {
    if let Some((item, _)) = rubric.clause(code) {
        return format!(
            " (`{code}` is a clause of item `{}`; the tally is per item)",
            item.code
        );
    }
    rubric
        .items()
        .find(|i| i.code.eq_ignore_ascii_case(code))
        .map(|i| format!(" (did you mean `{}`?)", i.code))
        .unwrap_or_else(|| " (the rubric's items are listed by `kaohe rubric`)".into())
}

/// Reconciles rows against the ledger as it stands in `view`.
pub fn reconcile(
    ledger: &Ledger,
    view: &View,
    rows: &[TallyRow],
) -> Result<Vec<Mismatch>, ReconcileError> {
    let scores = crate::ledger::tally::scores(ledger, view)?;
    match compare(rows, &scores, ledger.rubric()) {
        Err(ReconcileError::UnknownStation {
            line,
            station,
            hint,
        }) if hint.is_empty() && ledger.find_station(&station)?.is_some() => {
            Err(ReconcileError::UnknownStation {
                line,
                hint: format!(" (it is registered after this view: {})", view.describe()),
                station,
            })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<TallyRow>, ReconcileError> {
        read(text.as_bytes())
    }

    #[test]
    fn reads_rows_with_empty_cells_as_zero() {
        let r = rows("station,item,deducted,awarded\nWJ01,1.1,1.50,\nWJ01,B.1,,2\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].line, r[0].deducted.to_string()), (2, "1.5".into()));
        assert_eq!(r[0].awarded, Decimal::ZERO);
        assert_eq!(r[1].awarded.to_string(), "2");
    }

    #[test]
    fn accepts_bom_crlf_spaces_quotes_and_blank_lines() {
        let text =
            "\u{feff} station , item ,\"deducted\",awarded\r\n\r\n\"WJ01\", \"1.1\" ,\"1\",0\r\n";
        let r = rows(text).unwrap();
        assert_eq!((r[0].line, r[0].station.as_str()), (3, "WJ01"));
    }

    #[test]
    fn names_the_line_and_column_of_a_bad_cell() {
        let e = rows("station,item,deducted,awarded\nWJ01,1.1,1,5,0\n").unwrap_err();
        assert!(
            matches!(e, ReconcileError::FieldCount { line: 2, found: 5 }),
            "{e}"
        );
        let e = rows("station,item,deducted,awarded\nWJ01,1.1,x,0\n").unwrap_err();
        assert!(
            matches!(&e, ReconcileError::Cell { line: 2, column, .. } if column == "deducted"),
            "{e}"
        );
        let e = rows("station,item,deducted,awarded\nWJ01,1.1,0,-1\n").unwrap_err();
        assert!(e.to_string().contains("column `awarded`"), "{e}");
        let e = rows("station,item,deducted,awarded\nWJ01,\"1.1,0,1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2, column `item`"), "{e}");
    }

    #[test]
    fn refuses_bad_headers_and_duplicates() {
        assert!(matches!(rows("\n\n"), Err(ReconcileError::Empty)));
        let e = rows("station,item,awarded,deducted\n").unwrap_err();
        assert!(e.to_string().contains("column 3 is `awarded`"), "{e}");
        let e = rows("station,name,item,deducted,awarded\n").unwrap_err();
        assert!(e.to_string().contains("keep only"), "{e}");
        let e =
            rows("station,item,deducted,awarded\nA,1.1,1,0\nB,1.1,1,0\nA,1.1,2,0\n").unwrap_err();
        assert_eq!(e.line(), Some(4));
        assert!(e.to_string().contains("first on line 2"), "{e}");
    }

    #[test]
    fn bounds_rows_lines_and_bytes() {
        let text = "station,item,deducted,awarded\nA,1.1,1,0\nB,1.1,1,0\n";
        let small = Bounds {
            rows: 1,
            ..Bounds::default()
        };
        let e = read_bounded(text.as_bytes(), small).unwrap_err();
        assert!(
            matches!(e, ReconcileError::TooManyRows { line: 3, limit: 1 }),
            "{e}"
        );
        let short = Bounds {
            line_bytes: 20,
            ..Bounds::default()
        };
        let e = read_bounded(text.as_bytes(), short).unwrap_err();
        assert!(
            matches!(e, ReconcileError::LineTooLong { line: 1, limit: 20 }),
            "{e}"
        );
        let tiny = Bounds {
            bytes: 40,
            ..Bounds::default()
        };
        let e = read_bounded(text.as_bytes(), tiny).unwrap_err();
        assert!(
            matches!(e, ReconcileError::FileTooLarge { line: 3, limit: 40 }),
            "{e}"
        );
    }
}
