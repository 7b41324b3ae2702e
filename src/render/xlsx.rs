//! The scores as an Excel workbook (`export --scores --format xlsx`; `schema/scores-csv.md`,
//! "The workbook"). The only module that knows rust_xlsxwriter.
//!
//! The first sheet, 总分与排名, has one row per station in rank order: 排名, 司法所代码, 司法所,
//! 类型, 总分 and each category's score. Then one sheet per category of the rubric, in rubric
//! order, with the figure of each of its items per station and the category's sums. Headers are
//! in Chinese, from the rubric's own titles. Figures are numbers when the number a spreadsheet
//! stores is exactly the decimal (every score is: they have a few decimal places), else text
//! with the decimal's exact digits, so that no figure is ever rounded on the way. A text cell is
//! stored as text, which a spreadsheet never runs as a formula.
//!
//! No clock is read: the same scores give the same bytes.

use crate::domain::projection::StationScore;
use crate::domain::rubric::{Category, Rubric};
use rust_decimal::Decimal;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet};
use unicode_width::UnicodeWidthStr;

/// The totals sheet's name.
pub const TOTALS_SHEET: &str = "总分与排名";

/// The columns every sheet starts with, one row per station.
pub const STATION_COLUMNS: [&str; 4] = ["排名", "司法所代码", "司法所", "类型"];

/// The totals sheet's column after the station's: the total.
pub const TOTAL_COLUMN: &str = "总分";

/// The most characters a sheet's name may have (Excel's rule).
const MAX_SHEET_NAME_CHARS: usize = 31;
/// Characters a sheet's name may not hold (Excel's rule).
const SHEET_NAME_FORBIDDEN: [char; 7] = ['[', ']', ':', '*', '?', '/', '\\'];
/// Significant digits a spreadsheet keeps of a number: a figure with more is written as text.
const MAX_NUMBER_DIGITS: usize = 15;
/// Column widths, in characters of the default font (a Chinese character counts two).
const MIN_COLUMN_WIDTH: usize = 6;
const MAX_COLUMN_WIDTH: usize = 48;
/// A header wraps past this width, so that a long item title does not widen its column of
/// short figures beyond reason.
const HEADER_WRAP_WIDTH: usize = 16;
/// The height of one line of the header, in points.
const LINE_HEIGHT: f64 = 15.0;
/// The document's creation time: fixed, so the same scores give the same bytes (the zip
/// archive's own times are this epoch too).
const CREATED: (u16, u8, u8) = (1980, 1, 1);

/// Why the workbook could not be made (the writer refused a value; not expected).
#[derive(Debug, thiserror::Error)]
#[error("cannot make the workbook: {0}")]
pub struct WorkbookError(String);

fn err(e: rust_xlsxwriter::XlsxError) -> WorkbookError {
    WorkbookError(e.to_string())
}

/// One cell to write.
enum Value<'a> {
    Text(&'a str),
    Figure(Decimal),
    Count(u32),
}

/// One sheet: its name, its header and its rows.
struct Grid<'a> {
    name: String,
    header: Vec<String>,
    rows: Vec<Vec<Value<'a>>>,
}

/// A category's score for a station: for a deduction category its points less what its items
/// deducted (after the item caps); for a bonus category what its items awarded (after the item
/// caps; the total bonus cap applies to the total alone). Also the sum of its items' applied
/// figures.
pub fn category_score(category: &Category, score: &StationScore<'_>) -> (Decimal, Decimal) {
    let items = score
        .items
        .iter()
        .filter(|i| category.items.iter().any(|c| c.code == i.item));
    let canonical = crate::base::decimal::canonical;
    // What each item counts for in the total: a weighted indicator's own-scale figure scaled
    // to its points (the same figure for any other item).
    let counted: Decimal = items.map(|i| i.counts).sum();
    match category.bonus {
        true => (canonical(counted), canonical(counted)),
        false => (canonical(category.points - counted), canonical(counted)),
    }
}

/// A category's title: `1 预防化解矛盾纠纷体系`.
fn title(code: &str, name: &str) -> String {
    format!("{code} {name}")
}

/// The workbook of `scores` (stations in rank order, as [`crate::ledger::tally::scores`] gives
/// them) under `rubric`, as the bytes of an `.xlsx` file. `about` (the view) is written in the
/// document's properties.
pub fn workbook(
    scores: &[StationScore<'_>],
    rubric: &Rubric,
    about: &str,
) -> Result<Vec<u8>, WorkbookError> {
    let mut grids = vec![totals(scores, rubric)];
    grids.extend(rubric.categories.iter().map(|c| category(scores, c)));
    let mut names: Vec<String> = Vec::new();
    for grid in &mut grids {
        grid.name = sheet_name(&grid.name, &names);
        names.push(grid.name.clone());
    }
    let mut book = Workbook::new();
    let created = ExcelDateTime::from_ymd(CREATED.0, CREATED.1, CREATED.2).map_err(err)?;
    book.set_properties(
        &DocProperties::new()
            .set_title(&rubric.name)
            .set_subject(format!("{} 考核得分", rubric.name))
            .set_comment(about)
            .set_creation_datetime(&created),
    );
    for grid in &grids {
        write_grid(book.add_worksheet(), grid)?;
    }
    book.save_to_buffer().map_err(err)
}

fn station_cells<'a>(s: &'a StationScore<'_>) -> Vec<Value<'a>> {
    vec![
        Value::Count(s.rank),
        Value::Text(&s.station),
        Value::Text(&s.name),
        Value::Text(s.kind.label_zh()),
    ]
}

/// The totals sheet: the station, its total, each category's score.
fn totals<'a>(scores: &'a [StationScore<'_>], rubric: &Rubric) -> Grid<'a> {
    let mut header: Vec<String> = STATION_COLUMNS.iter().map(|h| h.to_string()).collect();
    header.push(TOTAL_COLUMN.into());
    // A rubric of several sheets: each sheet's total after the combined one.
    if let Some(first) = scores.first() {
        header.extend(
            first
                .sheets
                .iter()
                .map(|x| crate::render::view::sheet_label(x)),
        );
    }
    header.extend(
        rubric
            .categories
            .iter()
            .map(|c| format!("{}（{}分）", title(&c.code, &c.name), c.points)),
    );
    let rows = scores
        .iter()
        .map(|s| {
            let mut row = station_cells(s);
            row.push(Value::Figure(s.total));
            row.extend(s.sheets.iter().map(|x| Value::Figure(x.total)));
            row.extend(
                rubric
                    .categories
                    .iter()
                    .map(|c| Value::Figure(category_score(c, s).0)),
            );
            row
        })
        .collect();
    Grid {
        name: TOTALS_SHEET.into(),
        header,
        rows,
    }
}

/// A category's sheet: the station, each item's applied figure, the category's sums.
fn category<'a>(scores: &'a [StationScore<'_>], category: &Category) -> Grid<'a> {
    let mut header: Vec<String> = STATION_COLUMNS.iter().map(|h| h.to_string()).collect();
    let what = if category.bonus { "加分" } else { "扣分" };
    header.extend(
        category
            .items
            .iter()
            .map(|i| format!("{}（{what}，{}分）", title(&i.code, &i.name), i.points)),
    );
    header.push(format!("{what}合计"));
    if !category.bonus {
        header.push(format!("得分（{}分）", category.points));
    }
    let rows = scores
        .iter()
        .map(|s| {
            let mut row = station_cells(s);
            for item in &category.items {
                let figure = s
                    .items
                    .iter()
                    .find(|i| i.item == item.code)
                    .map_or(Decimal::ZERO, |i| i.counts);
                row.push(Value::Figure(figure));
            }
            let (score, sum) = category_score(category, s);
            row.push(Value::Figure(sum));
            if !category.bonus {
                row.push(Value::Figure(score));
            }
            row
        })
        .collect();
    Grid {
        name: title(&category.code, &category.name),
        header,
        rows,
    }
}

/// A sheet name Excel takes, unlike (ignoring case) every name in `taken`: the forbidden
/// characters replaced by `_`, no `'` at either end, at most 31 characters, `~2`, `~3`… added
/// when taken.
fn sheet_name(wanted: &str, taken: &[String]) -> String {
    let clean: String = wanted
        .chars()
        .map(|c| {
            if SHEET_NAME_FORBIDDEN.contains(&c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let clean = clean.trim_matches(['\'', ' ']);
    let clean = if clean.is_empty() { "类别" } else { clean };
    let free = |name: &str| {
        !name.eq_ignore_ascii_case("history")
            && !taken
                .iter()
                .any(|t| t.to_lowercase() == name.to_lowercase())
    };
    let cut = |name: &str, room: usize| -> String {
        name.chars()
            .take(room)
            .collect::<String>()
            .trim_end_matches(['\'', ' '])
            .to_string()
    };
    let first = cut(clean, MAX_SHEET_NAME_CHARS);
    if free(&first) {
        return first;
    }
    (2..)
        .map(|n| {
            let suffix = format!("~{n}");
            let room = MAX_SHEET_NAME_CHARS - suffix.chars().count();
            format!("{}{suffix}", cut(clean, room))
        })
        .find(|name| free(name))
        .unwrap_or_default()
}

/// The number a spreadsheet stores for `d` when it is exactly `d` (the shortest decimal of the
/// binary number has the same digits, and a spreadsheet keeps them all), else `None`.
pub fn exact_number(d: Decimal) -> Option<f64> {
    let d = crate::base::decimal::canonical(d);
    let text = d.to_string();
    if d.mantissa().unsigned_abs().to_string().len() > MAX_NUMBER_DIGITS {
        return None;
    }
    let number: f64 = text.parse().ok()?;
    (number.is_finite() && number.to_string() == text).then_some(number)
}

/// The width a value takes, in characters of the default font.
fn width_of(value: &Value<'_>) -> usize {
    match value {
        Value::Text(t) => t.width(),
        Value::Figure(d) => d.to_string().len(),
        Value::Count(n) => n.to_string().len(),
    }
}

fn write_grid(sheet: &mut Worksheet, grid: &Grid<'_>) -> Result<(), WorkbookError> {
    sheet.set_name(&grid.name).map_err(err)?;
    let header_format = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_border_bottom(FormatBorder::Thin);
    let mut header_lines = 1;
    for (col, head) in grid.header.iter().enumerate() {
        let col = u16::try_from(col).map_err(|_| WorkbookError("too many columns".into()))?;
        let content = grid
            .rows
            .iter()
            .filter_map(|r| r.get(usize::from(col)))
            .map(width_of)
            .max()
            .unwrap_or(0);
        let width = content
            .max(head.width().min(HEADER_WRAP_WIDTH))
            .clamp(MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH);
        header_lines = header_lines.max(head.width().div_ceil(width));
        sheet
            .set_column_width(col, (width + 2) as f64)
            .map_err(err)?;
        sheet
            .write_string_with_format(0, col, head, &header_format)
            .map_err(err)?;
    }
    sheet
        .set_row_height(0, LINE_HEIGHT * header_lines as f64)
        .map_err(err)?;
    for (r, row) in grid.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| WorkbookError("too many rows".into()))?;
        for (col, value) in row.iter().enumerate() {
            let col = u16::try_from(col).map_err(|_| WorkbookError("too many columns".into()))?;
            match value {
                Value::Text(t) => sheet.write_string(r, col, *t),
                Value::Count(n) => sheet.write_number(r, col, *n),
                Value::Figure(d) => match exact_number(*d) {
                    Some(n) => sheet.write_number(r, col, n),
                    None => sheet.write_string(r, col, d.to_string()),
                },
            }
            .map_err(err)?;
        }
    }
    let last_row = u32::try_from(grid.rows.len()).unwrap_or(u32::MAX);
    let last_col = u16::try_from(grid.header.len().saturating_sub(1)).unwrap_or(u16::MAX);
    sheet.autofilter(0, 0, last_row, last_col).map_err(err)?;
    // The header row, and the rank, code and name of each station, stay in view.
    let frozen = u16::try_from(STATION_COLUMNS.len() - 1).unwrap_or(0);
    sheet.set_freeze_panes(1, frozen).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// Guards "never lose precision silently": a figure is a number only when the number is
    /// exactly the decimal.
    #[test]
    fn a_figure_is_a_number_only_when_it_is_exact() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(exact_number(d("1.5")), Some(1.5));
        assert_eq!(exact_number(d("0.25")), Some(0.25));
        assert_eq!(exact_number(d("107.20")), Some(107.2));
        assert_eq!(exact_number(d("-3")), Some(-3.0));
        assert_eq!(exact_number(d("0.1")), Some(0.1));
        assert_eq!(exact_number(d("0")), Some(0.0));
        assert_eq!(exact_number(d("123456789012345")), Some(123456789012345.0));
        assert_eq!(exact_number(d("1234567890123456")), None, "16 digits");
        assert_eq!(exact_number(d("0.1234567890123456")), None);
    }

    #[test]
    fn sheet_names_are_ones_excel_takes() {
        assert_eq!(
            sheet_name("1 预防化解矛盾纠纷体系", &[]),
            "1 预防化解矛盾纠纷体系"
        );
        assert_eq!(sheet_name("a/b:c?", &[]), "a_b_c_");
        assert_eq!(sheet_name("'x'", &[]), "x");
        assert_eq!(sheet_name("", &[]), "类别");
        let long = "一".repeat(40);
        assert_eq!(sheet_name(&long, &[]).chars().count(), 31);
        let taken = vec!["Ab".to_string()];
        assert_eq!(sheet_name("aB", &taken), "aB~2");
        let taken = vec![sheet_name(&long, &[])];
        let second = sheet_name(&long, &taken);
        assert!(second.ends_with("~2") && second.chars().count() == 31);
        assert_eq!(sheet_name("History", &[]), "History~2");
    }
}
