//! Reconciliation: checks the ledger against what a department tallied by hand.
//!
//! The department's tally is a CSV file (RFC 4180, see [`crate::base::csv`]) or an Excel
//! workbook (`.xlsx`, its first worksheet, see [`crate::base::xlsx`]) with the header
//! `station,item,deducted,awarded` (or the same columns in Chinese, `司法所,项目,扣分,加分`) and
//! one row per station and item it tallied. Each row is compared with the item's applied figures
//! in a view (after the item caps, as `score --json` shows them); the rows whose figures differ
//! are the mismatches. Items and stations the file does not list are not checked. Nothing is
//! written.
//!
//! A station or item cell that `export --scores` neutralised against formula injection (a `'`
//! before `=`, `+`, `-`, `@`…) is read as the text it stands for.
//!
//! The file is read whole before anything is compared, and a malformed file (a bad header or
//! figure, a row listed twice, an unknown station or item, a limit passed) is an error that
//! names its line (a CSV file) or row (a workbook, with the cell: `C5`) and column. The two
//! kinds are read by the same rules: blank rows are skipped, blanks around a cell ignored, an
//! empty figure is 0.

use crate::base::csv::{self, SplitError};
use crate::base::limits::{
    MAX_TALLY_BYTES, MAX_TALLY_LINE_BYTES, MAX_TALLY_ROWS, MAX_TALLY_XLSX_CELLS,
    MAX_TALLY_XLSX_PARTS, MAX_TALLY_XLSX_UNPACKED_BYTES,
};
use crate::base::lines::{Line, Lines};
use crate::base::xlsx::{self, Kind, XlsxError};
use crate::domain::projection::StationScore;
use crate::domain::rubric::Rubric;
use crate::ledger::query::View;
use crate::ledger::{Ledger, LedgerError};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::io::{BufRead, Read};

/// The columns of a tally file, in order.
pub const HEADER: [&str; 4] = ["station", "item", "deducted", "awarded"];

/// The same columns in Chinese (司法所 station, 项目 item, 扣分 deducted, 加分 awarded), accepted
/// as the header too.
pub const HEADER_ZH: [&str; 4] = ["司法所", "项目", "扣分", "加分"];

/// Where a row is in a tally file: a CSV file's line, or a workbook sheet's row (both from 1,
/// counting the header and blank ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    Line(usize),
    Row(usize),
}

impl At {
    /// The line's or row's number.
    pub fn number(self) -> usize {
        match self {
            At::Line(n) | At::Row(n) => n,
        }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Line(n) => write!(f, "line {n}"),
            At::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// A column named for a message: ``column `deducted` `` (in a workbook with its cell:
/// ``column `deducted` (cell C5)``), or `field 5` past the four columns. `field` counts from 1.
fn column_text(at: &At, field: &usize) -> String {
    let name = HEADER
        .get(field.wrapping_sub(1))
        .map_or_else(|| format!("field {field}"), |c| format!("column `{c}`"));
    match at {
        At::Line(_) => name,
        At::Row(row) => {
            let column = u32::try_from(field.saturating_sub(1)).unwrap_or(u32::MAX);
            format!("{name} (cell {}{row})", xlsx::column_letters(column))
        }
    }
}

/// One row of a tally file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    pub at: At,
    pub station: String,
    pub item: String,
    /// Canonical; an empty cell is 0.
    pub deducted: Decimal,
    /// Canonical; an empty cell is 0.
    pub awarded: Decimal,
    /// The item cell was a workbook's number (`1.1`), not text: what was typed there may have
    /// been `1.10`, which a spreadsheet keeps as the same number.
    pub item_was_number: bool,
}

/// A row whose figures differ from the ledger's applied figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub at: At,
    pub station: String,
    pub item: String,
    pub ledger_deducted: Decimal,
    pub tally_deducted: Decimal,
    pub ledger_awarded: Decimal,
    pub tally_awarded: Decimal,
}

/// Why a tally file cannot be reconciled. Every variant about a row names its line or row.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot read the tally: {0}")]
    Io(String),
    #[error("the file is empty: it needs the header `station,item,deducted,awarded` (or `司法所,项目,扣分,加分`)")]
    Empty,
    #[error("{at}: the header must be `station,item,deducted,awarded` (or `司法所,项目,扣分,加分`): {message}")]
    Header { at: At, message: String },
    #[error("{at}: longer than {limit} bytes")]
    LineTooLong { at: At, limit: usize },
    #[error("line {line}: not UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: the file is larger than {limit} bytes")]
    FileTooLarge { line: usize, limit: u64 },
    /// A workbook larger than the bound (it is read whole before it is unpacked).
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{at}: more than {limit} rows in one file")]
    TooManyRows { at: At, limit: usize },
    #[error("{at}: {found} fields; a row has 4 (station,item,deducted,awarded)")]
    FieldCount { at: At, found: usize },
    /// A cell that is not what its column takes (a bad figure, an empty station, a quote, a
    /// date). `field` counts from 1.
    #[error("{at}, {}: {message}", column_text(.at, .field))]
    Cell {
        at: At,
        field: usize,
        message: String,
    },
    #[error("{at}: station `{station}` item `{item}` is listed twice (first on {first})")]
    Duplicate {
        at: At,
        first: At,
        station: String,
        item: String,
    },
    #[error("{at}, {}: unknown station `{station}`{hint}", column_text(.at, &1))]
    UnknownStation {
        at: At,
        station: String,
        hint: String,
    },
    #[error("{at}, {}: unknown item `{item}`{hint}", column_text(.at, &2))]
    UnknownItem { at: At, item: String, hint: String },
    /// A workbook that cannot be read (not a workbook, a bound passed).
    #[error(transparent)]
    Xlsx(#[from] XlsxError),
    /// Reading the ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl At {
    /// The place in Chinese: 第 n 行.
    fn zh(&self) -> String {
        match self {
            At::Line(n) | At::Row(n) => format!("第 {n} 行"),
        }
    }
}

/// [`column_text`] in Chinese.
fn column_zh(at: &At, field: usize) -> String {
    let name = match field {
        1 => "“司法所”列".to_string(),
        2 => "“项目”列".to_string(),
        3 => "“扣分”列".to_string(),
        4 => "“加分”列".to_string(),
        n => format!("第 {n} 列"),
    };
    match at {
        At::Line(_) => name,
        At::Row(row) => {
            let column = u32::try_from(field.saturating_sub(1)).unwrap_or(u32::MAX);
            format!("{name}（单元格 {}{row}）", xlsx::column_letters(column))
        }
    }
}

impl ReconcileError {
    /// The error in Chinese, saying what `Display` says (a cell's detail is the parser's, in
    /// English, after the Chinese).
    pub fn zh(&self) -> String {
        use ReconcileError::*;
        const HEADER_ZH: &str =
            "表头应为“司法所,项目,扣分,加分”（或 station,item,deducted,awarded）";
        match self {
            Io(m) => format!("无法读取对账文件：{m}"),
            Empty => format!("文件是空的：{HEADER_ZH}"),
            Header { at, message } => format!("{}：{HEADER_ZH}：{message}", at.zh()),
            LineTooLong { at, limit } => format!("{}：超过 {limit} 字节", at.zh()),
            NotUtf8 { line } => format!("第 {line} 行：不是 UTF-8 编码的文字"),
            FileTooLarge { line, limit } => format!("第 {line} 行：文件超过 {limit} 字节"),
            TooLarge { limit } => format!("文件超过 {limit} 字节"),
            TooManyRows { at, limit } => format!("{}：一个文件超过 {limit} 行", at.zh()),
            FieldCount { at, found } => format!(
                "{}：有 {found} 列；每行应为 4 列（司法所,项目,扣分,加分）",
                at.zh()
            ),
            Cell { at, field, message } => {
                format!("{}，{}：{message}", at.zh(), column_zh(at, *field))
            }
            Duplicate {
                at,
                first,
                station,
                item,
            } => format!(
                "{}：司法所“{station}”的项目“{item}”重复出现（首次在{}）",
                at.zh(),
                first.zh()
            ),
            UnknownStation { at, station, hint } => format!(
                "{}，{}：没有司法所“{station}”{hint}",
                at.zh(),
                column_zh(at, 1)
            ),
            UnknownItem { at, item, hint } => format!(
                "{}，{}：考核细则中没有项目“{item}”{hint}",
                at.zh(),
                column_zh(at, 2)
            ),
            Xlsx(e) => format!("无法读取 Excel 文件：{e}"),
            Ledger(e) => format!("读取台账出错：{e}"),
        }
    }

    /// The file's line or row the error is about, if it is about one.
    pub fn at(&self) -> Option<At> {
        use ReconcileError::*;
        match self {
            Io(_) | Empty | TooLarge { .. } | Xlsx(_) | Ledger(_) => None,
            NotUtf8 { line } | FileTooLarge { line, .. } => Some(At::Line(*line)),
            Header { at, .. }
            | LineTooLong { at, .. }
            | TooManyRows { at, .. }
            | FieldCount { at, .. }
            | Cell { at, .. }
            | Duplicate { at, .. }
            | UnknownStation { at, .. }
            | UnknownItem { at, .. } => Some(*at),
        }
    }

    /// The number of the file's line or row the error is about, if it is about one.
    pub fn line(&self) -> Option<usize> {
        self.at().map(At::number)
    }
}

/// The bounds a read applies (the named limits, or smaller ones in tests).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub bytes: u64,
    /// Bytes of one line (a CSV file), or of the text of one row's cells (a workbook).
    pub line_bytes: usize,
    pub rows: usize,
    /// A workbook's bounds before its rows are read: parts, unpacked bytes, cells.
    pub xlsx: xlsx::Bounds,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            bytes: MAX_TALLY_BYTES,
            line_bytes: MAX_TALLY_LINE_BYTES,
            rows: MAX_TALLY_ROWS,
            xlsx: xlsx::Bounds {
                parts: MAX_TALLY_XLSX_PARTS,
                unpacked_bytes: MAX_TALLY_XLSX_UNPACKED_BYTES,
                cells: MAX_TALLY_XLSX_CELLS,
            },
        }
    }
}

/// Reads a tally file within the named limits: a workbook when it starts with a zip archive's
/// magic bytes (`PK\x03\x04`) or `named_xlsx` (its name ends in `.xlsx`), else CSV.
pub fn read_any(input: impl Read, named_xlsx: bool) -> Result<Vec<TallyRow>, ReconcileError> {
    read_any_bounded(input, named_xlsx, Bounds::default())
}

/// [`read_any`] within `bounds`.
pub fn read_any_bounded(
    mut input: impl Read,
    named_xlsx: bool,
    bounds: Bounds,
) -> Result<Vec<TallyRow>, ReconcileError> {
    let io = |e: std::io::Error| ReconcileError::Io(e.to_string());
    let mut head = Vec::with_capacity(xlsx::ZIP_MAGIC.len());
    (&mut input)
        .take(xlsx::ZIP_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    let rest = std::io::Cursor::new(head).chain(input);
    if named_xlsx || rest.get_ref().0.get_ref().starts_with(&xlsx::ZIP_MAGIC) {
        let mut bytes = Vec::new();
        rest.take(bounds.bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        read_xlsx_bounded(&bytes, bounds)
    } else {
        read_bounded(std::io::BufReader::new(rest), bounds)
    }
}

/// Reads a CSV tally file within the named limits. Blank lines are skipped (line numbers count
/// them); a UTF-8 byte-order mark and CRLF line ends are accepted.
pub fn read(input: impl BufRead) -> Result<Vec<TallyRow>, ReconcileError> {
    read_bounded(input, Bounds::default())
}

/// [`read`] within `bounds`.
pub fn read_bounded(input: impl BufRead, bounds: Bounds) -> Result<Vec<TallyRow>, ReconcileError> {
    let mut lines = Lines::new(input, bounds.line_bytes);
    let mut rows = Collector::new(bounds);
    while let Some((n, line)) = lines
        .next_line()
        .map_err(|e| ReconcileError::Io(e.to_string()))?
    {
        let at = At::Line(n);
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
                    at,
                    limit: bounds.line_bytes,
                })
            }
            Line::NotUtf8 => return Err(ReconcileError::NotUtf8 { line: n }),
        };
        if text.trim().is_empty() {
            continue;
        }
        let fields = csv::split(&text).map_err(|e: SplitError| {
            if rows.header_seen {
                ReconcileError::Cell {
                    at,
                    field: e.field(),
                    message: e.to_string(),
                }
            } else {
                ReconcileError::Header {
                    at,
                    message: e.to_string(),
                }
            }
        })?;
        rows.take(at, fields, false)?;
    }
    rows.finish()
}

/// Reads a workbook's first worksheet as a tally within the named limits.
pub fn read_xlsx(bytes: &[u8]) -> Result<Vec<TallyRow>, ReconcileError> {
    read_xlsx_bounded(bytes, Bounds::default())
}

/// [`read_xlsx`] within `bounds`. The rows are those of the sheet that hold a value; their
/// cells run from column A, so a row's fields are its cells A, B, C, D (an empty cell is an
/// empty field), and a value further right is a fifth field.
pub fn read_xlsx_bounded(bytes: &[u8], bounds: Bounds) -> Result<Vec<TallyRow>, ReconcileError> {
    if bytes.len() as u64 > bounds.bytes {
        return Err(ReconcileError::TooLarge {
            limit: bounds.bytes,
        });
    }
    let sheet = xlsx::first_sheet(bytes, bounds.xlsx)?;
    let mut rows = Collector::new(bounds);
    for row in sheet.rows {
        let at = At::Row(row.number);
        let text_bytes: usize = row.cells.iter().map(|c| c.text.len()).sum();
        if text_bytes > bounds.line_bytes {
            return Err(ReconcileError::LineTooLong {
                at,
                limit: bounds.line_bytes,
            });
        }
        let width = row.cells.last().map_or(0, |c| c.column as usize + 1);
        if rows.header_seen && width > HEADER.len() {
            return Err(ReconcileError::FieldCount { at, found: width });
        }
        // Cells left empty at the row's end are empty fields, as a CSV file's `WJ07,3.1,7,`.
        let mut fields = vec![String::new(); width.max(HEADER.len())];
        let mut item_was_number = false;
        for cell in row.cells {
            let field = cell.column as usize + 1;
            let wrong = match cell.kind {
                Kind::Text => None,
                Kind::Number => {
                    item_was_number |= field == 2;
                    None
                }
                Kind::Date => Some(
                    "holds a date or time, not text or a figure (a spreadsheet takes an item \
                     such as 3.1 for a date: format the column as text and type it again)"
                        .to_string(),
                ),
                Kind::Bool => Some(format!("holds `{}`, not text or a figure", cell.text)),
                Kind::Error => Some(format!("holds the formula error `{}`", cell.text)),
            };
            if let Some(message) = wrong {
                return Err(if rows.header_seen {
                    ReconcileError::Cell { at, field, message }
                } else {
                    ReconcileError::Header {
                        at,
                        message: format!("{}: {message}", column_text(&at, &field)),
                    }
                });
            }
            if let Some(slot) = fields.get_mut(field - 1) {
                // Blanks around a cell's text are not part of it, as in a CSV file.
                *slot = cell.text.trim_matches([' ', '\t']).to_string();
            }
        }
        rows.take(at, fields, item_was_number)?;
    }
    rows.finish()
}

/// The rows of a tally as they are read, the same for a CSV file and a workbook: the header
/// first, then rows, each station and item once.
struct Collector {
    bounds: Bounds,
    header_seen: bool,
    rows: Vec<TallyRow>,
    first: HashMap<(String, String), At>,
}

impl Collector {
    fn new(bounds: Bounds) -> Self {
        Collector {
            bounds,
            header_seen: false,
            rows: Vec::new(),
            first: HashMap::new(),
        }
    }

    /// Takes the fields of a row that is not blank.
    fn take(
        &mut self,
        at: At,
        fields: Vec<String>,
        item_was_number: bool,
    ) -> Result<(), ReconcileError> {
        // A row of empty cells (`,,,`, as spreadsheets write a blank row) is blank.
        if fields.iter().all(String::is_empty) {
            return Ok(());
        }
        if !self.header_seen {
            check_header(at, &fields)?;
            self.header_seen = true;
            return Ok(());
        }
        if self.rows.len() >= self.bounds.rows {
            return Err(ReconcileError::TooManyRows {
                at,
                limit: self.bounds.rows,
            });
        }
        let mut row = parse_row(at, fields)?;
        row.item_was_number = item_was_number;
        let key = (row.station.clone(), row.item.clone());
        if let Some(first) = self.first.insert(key, at) {
            return Err(ReconcileError::Duplicate {
                at,
                first,
                station: row.station,
                item: row.item,
            });
        }
        self.rows.push(row);
        Ok(())
    }

    fn finish(self) -> Result<Vec<TallyRow>, ReconcileError> {
        if !self.header_seen {
            return Err(ReconcileError::Empty);
        }
        Ok(self.rows)
    }
}

fn check_header(at: At, fields: &[String]) -> Result<(), ReconcileError> {
    let header = |message: String| ReconcileError::Header { at, message };
    if fields == HEADER || fields == HEADER_ZH {
        return Ok(());
    }
    // The Chinese names when the first column is in Chinese, else the English ones.
    let expected = if fields.first().is_some_and(|f| f == HEADER_ZH[0]) {
        HEADER_ZH
    } else {
        HEADER
    };
    let found = fields.join(",");
    if fields.len() > expected.len() && expected.iter().all(|c| fields.iter().any(|f| f == c)) {
        return Err(header(format!(
            "found {} columns `{found}`; keep only {}, in that order",
            fields.len(),
            expected.join(",")
        )));
    }
    let differs = fields
        .iter()
        .zip(expected)
        .position(|(f, h)| f != h)
        .map(|i| {
            format!(
                " (column {} is `{}`, expected `{}`)",
                i + 1,
                fields[i],
                expected[i]
            )
        })
        .unwrap_or_default();
    Err(header(format!("found `{found}`{differs}")))
}

fn parse_row(at: At, fields: Vec<String>) -> Result<TallyRow, ReconcileError> {
    let [station, item, deducted, awarded]: [String; 4] = fields
        .try_into()
        .map_err(|f: Vec<String>| ReconcileError::FieldCount { at, found: f.len() })?;
    let cell = |field: usize, message: String| ReconcileError::Cell { at, field, message };
    // A cell kaohe's own export neutralised (`'=1.1`) reads back as the text it was.
    let (station, item) = (
        csv::restore(&station).to_string(),
        csv::restore(&item).to_string(),
    );
    for (field, value) in [(1, &station), (2, &item)] {
        if value.is_empty() {
            return Err(cell(field, "is empty".into()));
        }
    }
    let figure = |field: usize, value: &str| -> Result<Decimal, ReconcileError> {
        if value.is_empty() {
            return Ok(Decimal::ZERO);
        }
        let d = crate::base::decimal::parse(value).map_err(|e| cell(field, e.to_string()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(cell(
                field,
                format!("`{value}` is negative; give the points deducted or awarded as a positive figure"),
            ));
        }
        Ok(crate::base::decimal::canonical(d))
    };
    Ok(TallyRow {
        at,
        deducted: figure(3, &deducted)?,
        awarded: figure(4, &awarded)?,
        station,
        item,
        item_was_number: false,
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
                at: row.at,
                station: row.station.clone(),
                hint,
            });
        };
        if row.item_was_number {
            number_item_is_plain(row, rubric)?;
        }
        let Some(item) = rubric
            .item_position(&row.item)
            .and_then(|p| station.items.get(p))
        else {
            return Err(ReconcileError::UnknownItem {
                at: row.at,
                item: row.item.clone(),
                hint: item_hint(rubric, &row.item),
            });
        };
        if item.deducted != row.deducted || item.awarded != row.awarded {
            mismatches.push(Mismatch {
                at: row.at,
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

/// Refuses an item a workbook holds as a number when another item of the rubric is the same
/// number written otherwise (`1.1` and `1.10`): which was typed cannot be told.
fn number_item_is_plain(row: &TallyRow, rubric: &Rubric) -> Result<(), ReconcileError> {
    let value = |code: &str| {
        crate::base::decimal::parse(code)
            .ok()
            .map(|d| d.normalize())
    };
    let Some(number) = value(&row.item) else {
        return Ok(());
    };
    let alike: Vec<&str> = rubric
        .items()
        .filter(|i| i.code != row.item && value(&i.code) == Some(number))
        .map(|i| i.code.as_str())
        .collect();
    if alike.is_empty() {
        return Ok(());
    }
    Err(ReconcileError::Cell {
        at: row.at,
        field: 2,
        message: format!(
            "the item is the number {} in the workbook, which is also item `{}` written \
             otherwise: format the column as text and type the items again",
            row.item,
            alike.join("`, `")
        ),
    })
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
        Err(ReconcileError::UnknownStation { at, station, hint })
            if hint.is_empty() && ledger.find_station(&station)?.is_some() =>
        {
            Err(ReconcileError::UnknownStation {
                at,
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
        assert_eq!(
            (r[0].at, r[0].deducted.to_string()),
            (At::Line(2), "1.5".into())
        );
        assert_eq!(r[0].awarded, Decimal::ZERO);
        assert_eq!(r[1].awarded.to_string(), "2");
    }

    #[test]
    fn accepts_bom_crlf_spaces_quotes_and_blank_lines() {
        let text =
            "\u{feff} station , item ,\"deducted\",awarded\r\n\r\n\"WJ01\", \"1.1\" ,\"1\",0\r\n";
        let r = rows(text).unwrap();
        assert_eq!((r[0].at, r[0].station.as_str()), (At::Line(3), "WJ01"));
    }

    #[test]
    fn names_the_line_and_column_of_a_bad_cell() {
        let e = rows("station,item,deducted,awarded\nWJ01,1.1,1,5,0\n").unwrap_err();
        assert!(
            matches!(
                e,
                ReconcileError::FieldCount {
                    at: At::Line(2),
                    found: 5
                }
            ),
            "{e}"
        );
        let e = rows("station,item,deducted,awarded\nWJ01,1.1,x,0\n").unwrap_err();
        assert!(
            matches!(
                &e,
                ReconcileError::Cell {
                    at: At::Line(2),
                    field: 3,
                    ..
                }
            ),
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

    /// Guards the Chinese header and the rows of empty cells spreadsheets write for a blank
    /// row: both read as the CSV path reads the English header and a blank line.
    #[test]
    fn accepts_the_chinese_header_and_rows_of_empty_cells() {
        let r = rows(",,,\n司法所,项目,扣分,加分\n,,,\nWJ01,1.1,1,\n").unwrap();
        assert_eq!((r[0].at, r[0].station.as_str()), (At::Line(4), "WJ01"));
        let e = rows("司法所,项目,加分,扣分\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("column 3 is `加分`, expected `扣分`"),
            "{e}"
        );
        let e = rows("司法所,名称,项目,扣分,加分\n").unwrap_err();
        assert!(
            e.to_string().contains("keep only 司法所,项目,扣分,加分"),
            "{e}"
        );
    }

    /// Guards an item a workbook holds as a number: `1.1` may have been typed `1.10`, so it is
    /// refused where the rubric has both; where it has one, the number is that item.
    #[test]
    fn a_number_item_that_two_items_share_is_refused() {
        let text = include_str!("../../schema/rubric-2018.toml")
            .replace("code = \"1.7\"", "code = \"1.10\"")
            .replace("code = \"1.7.", "code = \"1.10.");
        let rubric = crate::domain::rubric::load(&text).expect("a rubric with item 1.10");
        let row = |item: &str, number: bool| TallyRow {
            at: At::Row(2),
            station: "WJ01".into(),
            item: item.into(),
            deducted: Decimal::ZERO,
            awarded: Decimal::ZERO,
            item_was_number: number,
        };
        let e = number_item_is_plain(&row("1.1", true), &rubric).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("row 2, column `item` (cell B2): the item is the number 1.1"),
            "{e}"
        );
        assert!(e.to_string().contains("`1.10`"), "{e}");
        number_item_is_plain(&row("1.2", true), &rubric).unwrap();
        number_item_is_plain(&row("B.1", true), &rubric).unwrap();
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
            matches!(
                e,
                ReconcileError::TooManyRows {
                    at: At::Line(3),
                    limit: 1
                }
            ),
            "{e}"
        );
        let short = Bounds {
            line_bytes: 20,
            ..Bounds::default()
        };
        let e = read_bounded(text.as_bytes(), short).unwrap_err();
        assert!(
            matches!(
                e,
                ReconcileError::LineTooLong {
                    at: At::Line(1),
                    limit: 20
                }
            ),
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
