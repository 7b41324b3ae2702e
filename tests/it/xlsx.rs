//! Spreadsheets as people use them (issue 15): `export --scores --format xlsx --out FILE` (a
//! workbook of totals and ranks and one sheet per category), the byte-order mark that starts
//! every CSV file kaohe writes, and `reconcile --tallies` reading a department's `.xlsx`. The
//! workbooks kaohe writes are read back with calamine; the tallies a department would make are
//! written here with rust_xlsxwriter, as a spreadsheet program would save them.

use crate::harness::{fixture_path, TestLedger};
use calamine::{Data, Reader, Xlsx};
use rust_decimal::Decimal;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{json, Value};
use std::io::{Cursor, Read};
use std::str::FromStr;

/// A ledger holding the bundled year.
fn wujin() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l
}

/// `export --scores --format xlsx --out FILE` with `extra` flags: the workbook's bytes.
fn export_workbook(l: &TestLedger, name: &str, extra: &[&str]) -> Vec<u8> {
    let file = l.path(name);
    let path = file.to_str().unwrap();
    let mut args = vec!["export", "--scores", "--format", "xlsx", "--out", path];
    args.extend(extra);
    let out = l.ok(&args);
    assert!(out.starts_with(&format!("wrote {path}: ")), "{out}");
    assert!(
        !l.path(&format!("{name}.tmp")).exists(),
        "no temporary file is left"
    );
    std::fs::read(&file).unwrap()
}

/// The names of a workbook's sheets, in order, and each sheet's cells, as calamine reads them.
fn read_workbook(bytes: &[u8]) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes.to_vec())).expect("calamine opens the workbook");
    book.sheet_names()
        .into_iter()
        .map(|name| {
            let range = book.worksheet_range(&name).expect("a sheet");
            let rows = range.rows().map(|r| r.to_vec()).collect();
            (name, rows)
        })
        .collect()
}

/// A number cell's value as the canonical decimal text (`107.2`, `3`); any other cell fails.
fn number(cell: &Data) -> String {
    match cell {
        Data::Float(f) => Decimal::from_str(&f.to_string())
            .unwrap()
            .normalize()
            .to_string(),
        Data::Int(i) => i.to_string(),
        other => panic!("not a number cell: {other:?}"),
    }
}

/// A text cell's text; any other cell fails.
fn text(cell: &Data) -> &str {
    match cell {
        Data::String(s) => s,
        other => panic!("not a text cell: {other:?}"),
    }
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

/// What `rubric --json` says: (code, name, points, bonus, [(item, name, points)]) per category.
type Category = (String, String, String, bool, Vec<(String, String, String)>);

fn categories(l: &TestLedger) -> Vec<Category> {
    let rubric: Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    rubric["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let items = c["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (s(&i["item"]), s(&i["name"]), s(&i["points"])))
                .collect();
            (
                s(&c["category"]),
                s(&c["name"]),
                s(&c["points"]),
                c["bonus"].as_bool().unwrap(),
                items,
            )
        })
        .collect()
}

/// A category's score from `score --json`'s items: its points less what its items deducted, or
/// for the bonus category what its items awarded.
fn category_score(category: &Category, station: &Value) -> Decimal {
    let (_, _, points, bonus, items) = category;
    let mine = station["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| items.iter().any(|(code, _, _)| i["item"] == code.as_str()));
    if *bonus {
        mine.map(|i| dec(&i["awarded"])).sum()
    } else {
        Decimal::from_str(points).unwrap() - mine.map(|i| dec(&i["deducted"])).sum::<Decimal>()
    }
}

/// Guards the totals sheet: it is exactly `score --json` (stations in rank order, their ranks,
/// codes, names, kinds and totals), numbers as numbers, with each category's score beside the
/// total; the categories add up to the total (the bundled year's bonus stays under its cap).
#[test]
fn the_totals_sheet_equals_score_json() {
    let l = wujin();
    let bytes = export_workbook(&l, "scores.xlsx", &[]);
    let book = read_workbook(&bytes);
    let (name, rows) = &book[0];
    assert_eq!(name, "总分与排名");
    let cats = categories(&l);
    let mut header = vec!["排名", "司法所代码", "司法所", "类型", "总分"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    header.extend(
        cats.iter()
            .map(|(code, name, points, _, _)| format!("{code} {name}（{points}分）")),
    );
    let found: Vec<&str> = rows[0].iter().map(text).collect();
    assert_eq!(found, header);

    let scores = l.scores();
    let stations = scores["stations"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + stations.len());
    assert_eq!(stations.len(), 15);
    for (row, s) in rows[1..].iter().zip(stations) {
        assert_eq!(number(&row[0]), s["rank"].to_string(), "{row:?}");
        assert_eq!(text(&row[1]), s["station"].as_str().unwrap());
        assert_eq!(text(&row[2]), s["name"].as_str().unwrap());
        let kind = if s["kind"] == "town" { "镇" } else { "街道" };
        assert_eq!(text(&row[3]), kind);
        assert_eq!(number(&row[4]), s["total"].as_str().unwrap(), "{row:?}");
        let mut sum = Decimal::ZERO;
        for (i, c) in cats.iter().enumerate() {
            let score = category_score(c, s);
            assert_eq!(
                number(&row[5 + i]),
                score.normalize().to_string(),
                "{row:?}"
            );
            sum += score;
        }
        assert_eq!(sum, dec(&s["total"]), "{row:?}");
    }
    // By hand (fixtures/README.md): WJ01 first with 107.2, WJ07 last with 75.
    assert_eq!(text(&rows[1][1]), "WJ01");
    assert_eq!(number(&rows[1][4]), "107.2");
    assert_eq!(text(&rows[15][1]), "WJ07");
    assert_eq!(number(&rows[15][4]), "75");
}

/// Guards the category sheets: one per category of the rubric, in its order, named by its
/// code and title, with a column per item (its applied figure: deducted, or awarded for a bonus
/// item, after the item cap) and the category's sums, in the totals sheet's station order.
#[test]
fn a_sheet_per_category_holds_its_items_figures() {
    let l = wujin();
    let bytes = export_workbook(&l, "scores.xlsx", &[]);
    let book = read_workbook(&bytes);
    let cats = categories(&l);
    assert_eq!(book.len(), 1 + cats.len());
    let scores = l.scores();
    let stations = scores["stations"].as_array().unwrap();
    for ((name, rows), c) in book[1..].iter().zip(&cats) {
        let (code, title, points, bonus, items) = c;
        assert_eq!(name, &format!("{code} {title}"));
        let what = if *bonus { "加分" } else { "扣分" };
        let mut header: Vec<String> = ["排名", "司法所代码", "司法所", "类型"]
            .map(String::from)
            .to_vec();
        header.extend(
            items
                .iter()
                .map(|(i, n, p)| format!("{i} {n}（{what}，{p}分）")),
        );
        header.push(format!("{what}合计"));
        if !bonus {
            header.push(format!("得分（{points}分）"));
        }
        let found: Vec<&str> = rows[0].iter().map(text).collect();
        assert_eq!(found, header, "{name}");
        assert_eq!(rows.len(), 1 + stations.len());
        for (row, s) in rows[1..].iter().zip(stations) {
            assert_eq!(text(&row[1]), s["station"].as_str().unwrap());
            let mut sum = Decimal::ZERO;
            for (k, (item, _, _)) in items.iter().enumerate() {
                let figure = s["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["item"] == item.as_str())
                    .map(|i| dec(&i[if *bonus { "awarded" } else { "deducted" }]))
                    .unwrap();
                assert_eq!(number(&row[4 + k]), figure.normalize().to_string());
                sum += figure;
            }
            assert_eq!(number(&row[4 + items.len()]), sum.normalize().to_string());
            if !bonus {
                let score = category_score(c, s).normalize().to_string();
                assert_eq!(number(&row[5 + items.len()]), score);
            }
        }
    }
    // By hand: WJ07's 3.1 is capped at 7 (raw 9.5); WJ01's B.1 at 2 (raw 4).
    let cell = |sheet: &str, station: &str, item: &str| {
        let (_, rows) = book.iter().find(|(n, _)| n.starts_with(sheet)).unwrap();
        let col = rows[0]
            .iter()
            .position(|h| text(h).starts_with(&format!("{item} ")))
            .unwrap();
        let row = rows.iter().find(|r| r[1] == Data::String(station.into()));
        number(&row.unwrap()[col])
    };
    assert_eq!(cell("3 ", "WJ07", "3.1"), "7");
    assert_eq!(cell("B ", "WJ01", "B.1"), "2");
}

/// The XML of one part of a zip archive.
fn part(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Guards how the workbook reads on screen: every sheet keeps its header row (and the
/// stations' rank, code and name) in view, sets its column widths, and the same ledger gives
/// the same bytes (no clock is read); a view's flags change the figures.
#[test]
fn every_sheet_freezes_its_header_and_sets_its_widths() {
    let l = wujin();
    let bytes = export_workbook(&l, "a.xlsx", &[]);
    for n in 1..=7 {
        let xml = part(&bytes, &format!("xl/worksheets/sheet{n}.xml"));
        assert!(
            xml.contains(r#"<pane xSplit="3" ySplit="1" topLeftCell="D2" activePane="bottomRight" state="frozen"/>"#),
            "sheet {n}: {xml:.600}"
        );
        assert!(xml.contains("customWidth=\"1\""), "sheet {n}");
        assert!(xml.contains("<autoFilter "), "sheet {n}");
    }
    assert_eq!(export_workbook(&l, "b.xlsx", &[]), bytes, "same bytes");
    let june = export_workbook(&l, "june.xlsx", &["--at", "2018-06-30"]);
    assert_ne!(june, bytes);
    let scores: Value =
        serde_json::from_str(&l.ok(&["score", "--json", "--at", "2018-06-30"])).unwrap();
    let (_, rows) = &read_workbook(&june)[0];
    for (row, s) in rows[1..].iter().zip(scores["stations"].as_array().unwrap()) {
        assert_eq!(text(&row[1]), s["station"].as_str().unwrap());
        assert_eq!(number(&row[4]), s["total"].as_str().unwrap());
    }
}

/// Guards the byte-order mark: `export --scores` CSV (to stdout and with --out) starts with
/// EF BB BF, so that Excel shows its Chinese text, and still parses, with kaohe's reader and
/// the `csv` crate, to the same records.
#[test]
fn the_scores_csv_starts_with_a_byte_order_mark_and_still_parses() {
    let l = wujin();
    let file = l.path("scores.csv");
    let out = l.ok(&["export", "--scores", "--out", file.to_str().unwrap()]);
    assert!(out.contains("wrote"), "{out}");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        l.ok(&["export", "--scores"])
    );
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(
        text.starts_with("station,name,kind,rank,total,"),
        "{text:.60}"
    );
    assert_eq!(
        text.matches('\u{feff}').count(),
        0,
        "one mark, at the start"
    );
    let ours: Vec<Vec<String>> = text
        .lines()
        .map(|line| kaohe::internals::base::csv::split(line).unwrap())
        .collect();
    let theirs: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(ours, theirs, "the csv crate takes the mark off too");
    assert_eq!(ours.len(), 1 + 15 * 31);
    assert_eq!(ours[1][..5].join(","), "WJ01,湖塘司法所,town,1,107.2");
    // A file written with the mark reconciles as it is (kaohe's reader takes it off).
    let mut tally = String::from("\u{feff}station,item,deducted,awarded\n");
    for r in &ours[1..] {
        tally.push_str(&format!("{},{},{},{}\n", r[0], r[5], r[8], r[9]));
    }
    let file = l.path("tally.csv");
    std::fs::write(&file, tally).unwrap();
    let out = l.ok(&["reconcile", "--tallies", file.to_str().unwrap()]);
    assert!(out.contains("465 rows, all agree"), "{out}");
}

/// Guards that a workbook is only ever written to a file: `--format xlsx` without `--out` (or
/// with `--out -`) exits 2 saying why and writes nothing to stdout; `--out` needs `--scores`.
#[test]
fn xlsx_without_out_exits_2() {
    let l = wujin();
    for args in [
        &["export", "--scores", "--format", "xlsx"][..],
        &["export", "--scores", "--format", "xlsx", "--out", "-"],
    ] {
        let out = l.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(out.stderr.contains("--out"), "{}", out.stderr);
        assert!(out.stderr.contains("binary"), "{}", out.stderr);
    }
    let file = l.path("x.xlsx");
    l.fails(&["export", "--out", file.to_str().unwrap()], 2);
    l.fails(&["export", "--format", "xlsx"], 2);
    assert!(!file.exists());
    // Not into the ledger's directory, nor over a directory.
    let inside = l.db.join("x.xlsx");
    let err = l.fails(
        &[
            "export",
            "--scores",
            "--format",
            "xlsx",
            "--out",
            inside.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("inside the ledger directory"), "{err}");
    let dir = l.path("");
    l.fails(
        &[
            "export",
            "--scores",
            "--format",
            "xlsx",
            "--out",
            dir.to_str().unwrap(),
        ],
        2,
    );
}

/// One cell of a tally workbook made here.
#[derive(Clone, Copy)]
enum C<'a> {
    T(&'a str),
    N(f64),
    Date,
    Empty,
}

/// A tally workbook as a department's spreadsheet program would save it: `rows` from A1 down
/// (`None` leaves a row blank), in a first sheet; a second sheet kaohe must not read.
fn tally_workbook(rows: &[Option<Vec<C<'_>>>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("社矫科").unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (r, row) in rows.iter().enumerate() {
        let Some(row) = row else { continue };
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                C::T(t) => {
                    sheet.write_string(r, c, *t).unwrap();
                }
                C::N(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
                C::Date => {
                    let d = ExcelDateTime::from_ymd(2018, 3, 1).unwrap();
                    sheet.write_datetime_with_format(r, c, &d, &date).unwrap();
                }
                C::Empty => {}
            }
        }
    }
    let other = book.add_worksheet();
    other.write_string(0, 0, "not a tally").unwrap();
    book.save_to_buffer().unwrap()
}

fn header() -> Option<Vec<C<'static>>> {
    Some(vec![
        C::T("station"),
        C::T("item"),
        C::T("deducted"),
        C::T("awarded"),
    ])
}

/// Guards "same semantics as the CSV path": the same tally as a CSV file and as a workbook
/// (figures typed as numbers, or as text; an empty cell is 0; `2.50` as text) finds the same
/// mismatches, with the workbook's row numbers where the CSV file has its line numbers; with
/// the Chinese header too, by name, and from stdin by its first bytes.
#[test]
fn reconcile_from_xlsx_finds_the_same_mismatches_as_csv() {
    let l = wujin();
    let csv_text = "station,item,deducted,awarded\n\
                    WJ07,3.1,9.5,0\n\
                    WJ01,B.1,0,4\n\
                    WJ03,1.3,3.0,0\n\
                    WJ01,B.3,,2.50\n";
    let csv_file = l.path("dept.csv");
    std::fs::write(&csv_file, csv_text).unwrap();
    let from_csv = l.run(&[
        "reconcile",
        "--tallies",
        csv_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(from_csv.code, 1, "{}", from_csv.stderr);
    assert_eq!(from_csv.json()["mismatches"].as_array().unwrap().len(), 3);

    let rows = vec![
        header(),
        Some(vec![C::T("WJ07"), C::T("3.1"), C::N(9.5), C::N(0.0)]),
        Some(vec![C::T("WJ01"), C::T("B.1"), C::N(0.0), C::N(4.0)]),
        Some(vec![C::T("WJ03"), C::N(1.3), C::T("3.0"), C::N(0.0)]),
        Some(vec![C::T("WJ01"), C::T("B.3"), C::Empty, C::T("2.50")]),
    ];
    let xlsx = tally_workbook(&rows);
    let file = l.path("dept.xlsx");
    std::fs::write(&file, &xlsx).unwrap();
    let from_xlsx = l.run(&["reconcile", "--tallies", file.to_str().unwrap(), "--json"]);
    assert_eq!(from_xlsx.code, 1, "{}", from_xlsx.stderr);
    assert_eq!(from_xlsx.json(), from_csv.json());
    assert!(
        from_xlsx.stderr.contains("3 of 4 rows"),
        "{}",
        from_xlsx.stderr
    );

    // The table names the sheet's rows.
    let out = l.run(&["reconcile", "--tallies", file.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.lines().any(|line| line.starts_with("row ")),
        "{}",
        out.stdout
    );

    // A workbook by its first bytes: under another name, and on stdin.
    let renamed = l.path("dept.dat");
    std::fs::write(&renamed, &xlsx).unwrap();
    let out = l.run(&[
        "reconcile",
        "--tallies",
        renamed.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.json(), from_csv.json());
    let out = l.run_with_input(&["reconcile", "--tallies", "-", "--json"], Some(&xlsx));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.json(), from_csv.json());

    // The Chinese header, a blank row (the numbers move with it) and blanks around a code.
    let mut zh = rows.clone();
    zh[0] = Some(vec![
        C::T("司法所"),
        C::T("项目"),
        C::T("扣分"),
        C::T("加分"),
    ]);
    zh[1] = Some(vec![C::T(" WJ07 "), C::T("3.1"), C::N(7.0), C::Empty]);
    zh.insert(1, None);
    let file = l.path("社矫科.xlsx");
    std::fs::write(&file, tally_workbook(&zh)).unwrap();
    let out = l.run(&["reconcile", "--tallies", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<Value> = out.json()["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!([m["station"], m["item"], m["line"]]))
        .collect();
    assert_eq!(
        lines,
        [json!(["WJ01", "B.1", 4]), json!(["WJ01", "B.3", 6])],
        "WJ07 3.1 at 7 agrees"
    );
    // The same Chinese header in a CSV file.
    let file = l.path("社矫科.csv");
    std::fs::write(&file, "司法所,项目,扣分,加分\nWJ07,3.1,7,0\n").unwrap();
    l.ok(&["reconcile", "--tallies", file.to_str().unwrap()]);

    // A workbook of the export's own figures agrees, row for row.
    let mut agreeing = vec![header()];
    let scores = l.scores();
    let pairs: Vec<(String, String, f64)> = scores["stations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["items"].as_array().unwrap().iter().map(|i| {
                (
                    s["station"].as_str().unwrap().to_string(),
                    i["item"].as_str().unwrap().to_string(),
                    i["deducted"].as_str().unwrap().parse::<f64>().unwrap()
                        + i["awarded"].as_str().unwrap().parse::<f64>().unwrap(),
                )
            })
        })
        .collect();
    for (station, item, figure) in &pairs {
        let bonus = item.starts_with("B.");
        let (d, a) = if bonus {
            (0.0, *figure)
        } else {
            (*figure, 0.0)
        };
        agreeing.push(Some(vec![C::T(station), C::T(item), C::N(d), C::N(a)]));
    }
    let file = l.path("all.xlsx");
    std::fs::write(&file, tally_workbook(&agreeing)).unwrap();
    let out = l.ok(&["reconcile", "--tallies", file.to_str().unwrap()]);
    assert!(
        out.contains(&format!("{} rows, all agree", pairs.len())),
        "{out}"
    );
}

/// Runs reconcile on a workbook and asserts exit 2 with every `expected` part in the message.
fn refused_xlsx(l: &TestLedger, name: &str, bytes: &[u8], expected: &[&str]) {
    let file = l.path(name);
    std::fs::write(&file, bytes).unwrap();
    let out = l.run(&["reconcile", "--tallies", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{name}: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(name), "{}", out.stderr);
    for part in expected {
        assert!(out.stderr.contains(part), "`{part}` not in: {}", out.stderr);
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// Guards the workbook's error messages: a file that is not a workbook, a missing or wrong
/// header, a bad figure, a date, a formula error, a row too wide, a row listed twice, an
/// unknown station: each exits 2 naming the row and the column (and the cell).
#[test]
fn a_bad_xlsx_exits_2_naming_the_row_and_column() {
    let l = wujin();
    let row = |cells: Vec<C<'static>>| Some(cells);
    refused_xlsx(
        &l,
        "text.xlsx",
        b"station,item,deducted,awarded\nWJ07,3.1,7,0\n",
        &["not an Excel workbook", "not a zip archive"],
    );
    refused_xlsx(
        &l,
        "old.xlsx",
        &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0],
        &[".xls"],
    );
    refused_xlsx(
        &l,
        "cut.xlsx",
        b"PK\x03\x04\x14\x00",
        &["not an Excel workbook"],
    );
    refused_xlsx(
        &l,
        "empty.xlsx",
        &tally_workbook(&[]),
        &["empty", "station,item,deducted,awarded"],
    );
    refused_xlsx(
        &l,
        "noheader.xlsx",
        &tally_workbook(&[row(vec![C::T("WJ07"), C::T("3.1"), C::N(7.0), C::N(0.0)])]),
        &["row 1", "header", "column 1 is `WJ07`"],
    );
    refused_xlsx(
        &l,
        "short.xlsx",
        &tally_workbook(&[row(vec![C::T("station"), C::T("item"), C::T("deducted")])]),
        &["row 1", "header"],
    );
    refused_xlsx(
        &l,
        "seven.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::T("3.1"), C::N(7.0), C::N(0.0)]),
            row(vec![C::T("WJ01"), C::T("B.1"), C::T("seven"), C::N(0.0)]),
        ]),
        &[
            "row 3, column `deducted` (cell C3)",
            "`seven` is not a number",
        ],
    );
    refused_xlsx(
        &l,
        "negative.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::T("3.1"), C::N(0.0), C::N(-1.0)]),
        ]),
        &["row 2, column `awarded` (cell D2)", "negative"],
    );
    refused_xlsx(
        &l,
        "places.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::T("3.1"), C::N(0.1 + 0.2), C::N(0.0)]),
        ]),
        &["row 2, column `deducted` (cell C2)", "0.30000000000000004"],
    );
    refused_xlsx(
        &l,
        "date.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::Date, C::N(7.0), C::N(0.0)]),
        ]),
        &[
            "row 2, column `item` (cell B2)",
            "date",
            "format the column as text",
        ],
    );
    refused_xlsx(
        &l,
        "wide.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![
                C::T("WJ07"),
                C::T("3.1"),
                C::N(7.0),
                C::N(0.0),
                C::Empty,
                C::T("备注"),
            ]),
        ]),
        &["row 2", "6 fields"],
    );
    refused_xlsx(
        &l,
        "twice.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::T("3.1"), C::N(7.0), C::N(0.0)]),
            None,
            row(vec![C::T("WJ07"), C::T("3.1"), C::N(7.0), C::N(0.0)]),
        ]),
        &["row 4", "listed twice", "first on row 2"],
    );
    refused_xlsx(
        &l,
        "unknown.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ99"), C::T("3.1"), C::N(7.0), C::N(0.0)]),
        ]),
        &[
            "row 2, column `station` (cell A2)",
            "unknown station `WJ99`",
        ],
    );
    refused_xlsx(
        &l,
        "clause.xlsx",
        &tally_workbook(&[
            header(),
            row(vec![C::T("WJ07"), C::T("3.1.e"), C::N(3.0), C::N(0.0)]),
        ]),
        &["row 2, column `item` (cell B2)", "clause of item `3.1`"],
    );
}

/// Guards the bounds a small hostile workbook could otherwise pass: a shared-string table that
/// declares billions of strings (calamine would reserve room for them before reading one) is
/// refused with exit 2, never an abort.
#[test]
fn a_workbook_that_declares_too_many_strings_is_refused() {
    let l = wujin();
    let good = tally_workbook(&[header()]);
    let mut zip = zip::ZipArchive::new(Cursor::new(good.clone())).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if name == "xl/sharedStrings.xml" {
            let text = String::from_utf8(data).unwrap();
            let at = text.find("uniqueCount=\"").unwrap() + "uniqueCount=\"".len();
            let end = at + text[at..].find('"').unwrap();
            data = format!("{}999999999999{}", &text[..at], &text[end..]).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut out, &data).unwrap();
    }
    let bytes = out.finish().unwrap().into_inner();
    refused_xlsx(
        &l,
        "strings.xlsx",
        &bytes,
        &["declares 999999999999 shared strings", "the limit is"],
    );
}

/// Guards every bound of a workbook read, each with a small limit: the file's size, the parts
/// of its archive, the bytes they unpack to, the cells with a value, a row's text and the rows.
#[test]
fn the_workbook_reader_holds_to_its_bounds() {
    use kaohe::internals::base::xlsx::{self, XlsxError};
    use kaohe::ops::reconcile::{read_xlsx_bounded, At, Bounds, ReconcileError};
    let bytes = tally_workbook(&[
        header(),
        Some(vec![C::T("WJ07"), C::T("3.1"), C::N(7.0), C::N(0.0)]),
        Some(vec![C::T("WJ01"), C::T("B.1"), C::N(0.0), C::N(2.0)]),
    ]);
    let all = Bounds::default();
    assert_eq!(read_xlsx_bounded(&bytes, all).unwrap().len(), 2);
    let with = |f: &dyn Fn(&mut Bounds)| {
        let mut b = Bounds::default();
        f(&mut b);
        read_xlsx_bounded(&bytes, b).unwrap_err()
    };
    let e = with(&|b| b.bytes = 100);
    assert!(matches!(e, ReconcileError::TooLarge { limit: 100 }), "{e}");
    let e = with(&|b| b.xlsx.parts = 3);
    assert!(
        matches!(
            e,
            ReconcileError::Xlsx(XlsxError::TooManyParts { limit: 3, .. })
        ),
        "{e}"
    );
    let e = with(&|b| b.xlsx.unpacked_bytes = 1000);
    assert!(
        matches!(
            e,
            ReconcileError::Xlsx(XlsxError::TooLargeUnpacked { limit: 1000 })
        ),
        "{e}"
    );
    let e = with(&|b| b.xlsx.cells = 9);
    assert!(e.to_string().contains("more than 9 cells"), "{e}");
    let e = with(&|b| b.xlsx.cells = 3);
    assert!(
        matches!(
            e,
            ReconcileError::Xlsx(XlsxError::TooManyStrings { limit: 3, .. })
        ),
        "{e}"
    );
    let e = with(&|b| b.line_bytes = 10);
    assert!(
        matches!(
            e,
            ReconcileError::LineTooLong {
                at: At::Row(1),
                limit: 10
            }
        ),
        "{e}"
    );
    let e = with(&|b| b.rows = 1);
    assert!(
        matches!(
            e,
            ReconcileError::TooManyRows {
                at: At::Row(3),
                limit: 1
            }
        ),
        "{e}"
    );
    // The first sheet only, with its cells' kinds.
    let sheet = xlsx::first_sheet(&bytes, all.xlsx).unwrap();
    assert_eq!(sheet.name, "社矫科");
    assert_eq!(sheet.rows.len(), 3);
    assert_eq!(sheet.rows[1].cells[2].kind, xlsx::Kind::Number);
    assert_eq!(sheet.rows[1].cells[2].text, "7");
}

/// Regression (found exploring): the workbook's category figures added weighted indicators on
/// their own 100-point scales, and it showed no sheet. With the 2019 rubric the totals sheet
/// has a column per sheet and WJ01's category 1 scores 40 − 4.41 (fixtures/README.md).
#[test]
fn a_workbook_of_several_sheets_counts_weighted_indicators_in_their_weight() {
    let mut l = TestLedger::empty();
    l.now = "2020-01-10T08:00:00Z".into();
    let rubric = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rubric-2019.toml");
    l.ok(&["init", "--rubric", rubric.to_str().unwrap()]);
    l.ok(&["import", fixture_path("wujin-2019.jsonl").to_str().unwrap()]);
    let bytes = export_workbook(&l, "2019.xlsx", &[]);
    let book = read_workbook(&bytes);
    let (_, rows) = &book[0];
    let header: Vec<&str> = rows[0].iter().map(text).collect();
    let at = |h: &str| {
        header
            .iter()
            .position(|x| x.contains(h))
            .unwrap_or_else(|| panic!("{h} in {header:?}"))
    };
    let wj01 = rows
        .iter()
        .find(|r| matches!(&r[1], Data::String(s) if s == "WJ01"))
        .expect("WJ01's row");
    assert_eq!(number(&wj01[at("下半年·区局 30%")]), "91.2");
    assert_eq!(number(&wj01[at("1 人民调解")]), "35.59");
}
