//! `reconcile --tallies FILE` (the ledger against a department's own tally) and
//! `export --scores` (the scores per station and item as CSV), on the bundled Wujin year. The
//! workbooks (`--format xlsx`, a tally in `.xlsx`) are tested in `xlsx.rs`.
//! Figures worked out by hand are in `fixtures/README.md` (the "Caps" and "Scores" tables).

use crate::harness::{fixture_path, TestLedger};
use serde_json::json;

const HEADER: &str = "station,item,deducted,awarded";

/// A ledger holding the bundled year (seq n is the fixture's line n).
fn wujin() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l
}

/// Writes a tally file into the ledger's temp dir; returns its path.
fn tally(l: &TestLedger, name: &str, text: &str) -> String {
    let path = l.path(name);
    std::fs::write(&path, text).expect("write tally");
    path.to_str().unwrap().to_string()
}

/// Figures worked out by hand (fixtures/README.md): WJ07 3.1 raw 9.5 → 7, WJ01 B.1 raw 4 → 2,
/// WJ03 1.3 raw 4 → 3, WJ10 has no events.
const AGREEING: &str = "station,item,deducted,awarded\n\
    WJ07,3.1,7,0\n\
    WJ01,B.1,0,2\n\
    WJ03,1.3,3,\n\
    WJ10,1.1,,\n";

#[test]
fn a_tally_that_agrees_exits_0() {
    let l = wujin();
    let file = tally(&l, "dept.csv", AGREEING);
    let out = l.ok(&["reconcile", "--tallies", &file]);
    assert!(out.contains("4 rows, all agree"), "{out}");
    assert!(out.contains("agree with the ledger"), "{out}");
    let out = l.ok(&["reconcile", "--tallies", &file, "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        json!({"mismatches": []})
    );
}

#[test]
fn differing_rows_are_listed_with_both_figures_and_exit_1() {
    let l = wujin();
    let events = l.event_count();
    // The raw figures instead of the applied ones, and one figure written as 2.50.
    let file = tally(
        &l,
        "dept.csv",
        "station,item,deducted,awarded\n\
         WJ07,3.1,9.5,0\n\
         WJ01,B.1,0,4\n\
         WJ03,1.3,3.0,0\n\
         WJ01,B.3,,2.50\n",
    );
    let out = l.run(&["reconcile", "--tallies", &file, "--json"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.json(),
        json!({"mismatches": [
            {"station": "WJ07", "item": "3.1", "ledger_deducted": "7", "tally_deducted": "9.5",
             "ledger_awarded": "0", "tally_awarded": "0", "line": 2},
            {"station": "WJ01", "item": "B.1", "ledger_deducted": "0", "tally_deducted": "0",
             "ledger_awarded": "2", "tally_awarded": "4", "line": 3},
            {"station": "WJ01", "item": "B.3", "ledger_deducted": "0", "tally_deducted": "0",
             "ledger_awarded": "1.5", "tally_awarded": "2.5", "line": 5},
        ]})
    );
    assert!(out.stderr.contains("3 of 4 rows"), "{}", out.stderr);

    let out = l.run(&["reconcile", "--tallies", &file]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("3 of 4 rows"), "{}", out.stdout);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec!["2", "WJ07", "3.1", "7", "9.5", "0", "0"]),
        "{}",
        out.stdout
    );
    assert!(
        rows.contains(&vec!["3", "WJ01", "B.1", "0", "0", "2", "4"]),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("WJ03"), "{}", out.stdout);
    assert_eq!(l.event_count(), events, "reconcile writes nothing");
}

/// Runs reconcile on `text` and asserts exit 2 with every `expected` part in the message.
fn refused(l: &TestLedger, text: &str, expected: &[&str]) {
    let file = tally(l, "bad.csv", text);
    let err = l.fails(&["reconcile", "--tallies", &file], 2);
    assert!(err.contains("bad.csv"), "{err}");
    for part in expected {
        assert!(err.contains(part), "`{part}` not in: {err}");
    }
}

#[test]
fn malformed_files_exit_2_naming_the_line_and_column() {
    let l = wujin();
    refused(&l, "", &["empty", HEADER]);
    refused(
        &l,
        "station,item,deduct,awarded\nWJ07,3.1,7,0\n",
        &["line 1", "header", "column 3 is `deduct`"],
    );
    refused(
        &l,
        "station,name,item,deducted,awarded\n",
        &["line 1", "keep only"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,7,0\nWJ07,3.1,7\n"),
        &["line 3", "3 fields"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,7,0\nWJ01,1.1,1,5,0\n"),
        &["line 3", "5 fields"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,seven,0\n"),
        &["line 2", "column `deducted`", "`seven` is not a number"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,7,1e3\n"),
        &["line 2", "column `awarded`"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,-7,0\n"),
        &["line 2", "column `deducted`", "negative"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,7,0\n\nWJ99,3.1,0,0\n"),
        &["line 4", "column `station`", "unknown station `WJ99`"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,9.9,0,0\n"),
        &["line 2", "column `item`", "unknown item `9.9`"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1.e,3,0\n"),
        &["line 2", "column `item`", "clause of item `3.1`"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,3.1,7,0\nWJ01,B.1,0,2\nWJ07,3.1,7,0\n"),
        &["line 4", "listed twice", "first on line 2"],
    );
    refused(
        &l,
        &format!("{HEADER}\nWJ07,\"3.1,7,0\n"),
        &["line 2", "column `item`", "quoted field"],
    );
    let long = format!(
        "{HEADER}\nWJ07,3.1,7,0\nWJ01,B.1,0,{}\n",
        "0".repeat(kaohe::internals::base::limits::MAX_TALLY_LINE_BYTES)
    );
    refused(&l, &long, &["line 3", "longer than"]);
}

#[test]
fn a_bom_crlf_spaces_and_quotes_are_accepted() {
    let l = wujin();
    let file = tally(
        &l,
        "excel.csv",
        "\u{feff}\"station\", item ,deducted,\"awarded\"\r\n\
         \"WJ07\",\"3.1\",\"7.00\",\"0\"\r\n\
         \u{20}WJ01 , \"B.1\" ,, 2 \r\n\
         \r\n",
    );
    let out = l.ok(&["reconcile", "--tallies", &file]);
    assert!(out.contains("2 rows, all agree"), "{out}");
    // The line numbers count the header and blank lines.
    let file = tally(
        &l,
        "excel.csv",
        "\u{feff}station,item,deducted,awarded\r\n\r\n\"WJ07\",\"3.1\",\"6\",\"0\"\r\n",
    );
    let out = l.run(&["reconcile", "--tallies", &file, "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.json()["mismatches"][0]["line"], 3);
}

#[test]
fn the_time_flags_reconcile_against_that_view() {
    let mut l = wujin();
    // WJ07 3.1: D007 (3, occurred 2018-03-21, seq 22), D028 (4, 2018-06-26), then the year-end
    // coverage and success rates; 9.5 capped at 7 at the head.
    let march = tally(&l, "march.csv", &format!("{HEADER}\nWJ07,3.1,3,0\n"));
    l.fails(&["reconcile", "--tallies", &march], 1);
    l.ok(&["reconcile", "--tallies", &march, "--at", "2018-03-31"]);
    l.fails(&["reconcile", "--tallies", &march, "--at", "2018-03-20"], 1);
    l.ok(&["reconcile", "--tallies", &march, "--as-of-seq", "22"]);
    let nothing = tally(&l, "nothing.csv", &format!("{HEADER}\nWJ07,3.1,0,0\n"));
    l.ok(&["reconcile", "--tallies", &nothing, "--as-of-seq", "21"]);
    let out = l.run(&["reconcile", "--tallies", &march, "--as-of-seq", "21"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("view: as of seq 21"), "{}", out.stdout);

    // A later commit: WJ10 (no events in the fixture) loses 0.5 in item 3.4.
    l.now = "2019-01-11T08:00:00Z".into();
    l.ok(&[
        "record",
        "--clause",
        "3.4.a",
        "--station",
        "WJ10",
        "--by",
        "社矫科",
        "--occurred",
        "2018-12-20",
        "--count",
        "1",
        "--evidence",
        "通报",
        "--id",
        "LATE1",
    ]);
    let zero = tally(&l, "zero.csv", &format!("{HEADER}\nWJ10,3.4,0,0\n"));
    l.fails(&["reconcile", "--tallies", &zero], 1);
    l.ok(&[
        "reconcile",
        "--tallies",
        &zero,
        "--known-at",
        "2019-01-10T12:00:00Z",
    ]);

    // A station not yet registered in the view is unknown there.
    let err = l.fails(&["reconcile", "--tallies", &zero, "--as-of-seq", "5"], 2);
    assert!(err.contains("registered after this view"), "{err}");
}

/// The rows of `export --scores` CSV text, split by the library's RFC 4180 reader after the
/// UTF-8 byte-order mark the file starts with (for Excel, `schema/scores-csv.md`).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("the CSV starts with a byte-order mark: {text:.40}"));
    assert!(
        text.ends_with('\n') && !text.contains('\r'),
        "\\n line ends"
    );
    text.lines()
        .map(|l| kaohe::internals::base::csv::split(l).expect("a CSV record"))
        .collect()
}

#[test]
fn export_scores_is_one_csv_row_per_station_and_item_in_rank_order() {
    let l = wujin();
    let out = l.ok(&["export", "--scores"]);
    assert_eq!(out, l.ok(&["export", "--scores", "--format", "csv"]));
    let rows = csv_rows(&out);
    assert_eq!(
        rows[0].join(","),
        "station,name,kind,rank,total,item,item_name,max,deducted,awarded,\
         raw_deducted,raw_awarded,capped"
    );
    let items = l.station_score("WJ01")["items"].as_array().unwrap().len();
    assert_eq!(items, 31);
    assert_eq!(rows.len(), 1 + 15 * items);
    assert!(rows.iter().all(|r| r.len() == 13));
    // Rank order, then rubric order: WJ01 first (107.2), WJ07 last (75).
    assert_eq!(rows[1][..6].join(","), "WJ01,湖塘司法所,town,1,107.2,1.1");
    assert_eq!(rows[items][5], "B.8");
    assert_eq!(
        rows[rows.len() - 1][..5].join(","),
        "WJ07,雪堰司法所,town,15,75"
    );
    let wj07_31 = rows
        .iter()
        .find(|r| r[0] == "WJ07" && r[5] == "3.1")
        .expect("WJ07 3.1");
    assert_eq!(
        wj07_31.join(","),
        "WJ07,雪堰司法所,town,15,75,3.1,社区矫正执法管理,7,7,0,9.5,0,true"
    );
    let wj01_b1 = rows
        .iter()
        .find(|r| r[0] == "WJ01" && r[5] == "B.1")
        .expect("WJ01 B.1");
    assert_eq!(wj01_b1[7..].join(","), "2,0,2,0,4,true");
    // Equal totals share the better place: WJ10 and WJ15 (100, no events) are both third.
    for code in ["WJ10", "WJ15"] {
        let r = rows.iter().find(|r| r[0] == code).unwrap();
        assert_eq!(r[3..5].join(","), "3,100");
    }

    // --format json is `score --json`.
    let json = l.ok(&["export", "--scores", "--format", "json"]);
    assert_eq!(json, l.ok(&["score", "--json"]));
}

#[test]
fn export_scores_quotes_names_and_takes_the_time_flags() {
    let l = TestLedger::with_stations();
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "洛阳,\"南\"司法所",
        "--kind",
        "town",
    ]);
    let out = l.ok(&["export", "--scores"]);
    assert!(
        out.contains("\nWJ03,\"洛阳,\"\"南\"\"司法所\",town,1,100,1.1,"),
        "{out}"
    );
    let rows = csv_rows(&out);
    assert_eq!(rows[rows.len() - 1][1], "洛阳,\"南\"司法所");

    let l = wujin();
    let at = l.ok(&["export", "--scores", "--at", "2018-03-31"]);
    let row = csv_rows(&at)
        .into_iter()
        .find(|r| r[0] == "WJ07" && r[5] == "3.1")
        .unwrap();
    assert_eq!(row[8..].join(","), "3,0,3,0,false");
    let early = l.ok(&["export", "--scores", "--as-of-seq", "3"]);
    assert_eq!(
        csv_rows(&early).len(),
        1 + 3 * 31,
        "three stations registered"
    );
    assert!(early.lines().skip(1).all(|r| r.contains(",100,")));
}

#[test]
fn export_refuses_formats_that_do_not_fit() {
    let l = TestLedger::with_stations();
    let err = l.fails(&["export", "--format", "csv"], 2);
    assert!(err.contains("--scores"), "{err}");
    l.fails(&["export", "--format", "json"], 2);
    l.fails(&["export", "--scores", "--format", "jsonl"], 2);
    l.fails(&["export", "--scores", "--format", "xml"], 2);
    l.fails(&["export", "--at", "2018-06-30"], 2);
    assert_eq!(
        l.ok(&["export", "--format", "jsonl"]),
        l.ok(&["export"]),
        "jsonl is the events"
    );
}

#[test]
fn a_department_keeps_its_items_of_the_scores_export_and_reconcile_agrees() {
    let l = wujin();
    // The items 社矫科 owns, from the rubric.
    let rubric: serde_json::Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).unwrap();
    let owned: Vec<String> = rubric["categories"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["items"].as_array().unwrap())
        .filter(|i| {
            i["departments"]
                .as_array()
                .unwrap()
                .contains(&json!("社矫科"))
        })
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect();
    assert!(owned.contains(&"3.1".to_string()), "{owned:?}");

    // Take export --scores, keep station,item,deducted,awarded for those items.
    let rows = csv_rows(&l.ok(&["export", "--scores"]));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let keep = [col("station"), col("item"), col("deducted"), col("awarded")];
    let mut kept = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i == 0 || owned.contains(&r[col("item")]) {
            let cells: Vec<&str> = keep.iter().map(|&k| r[k].as_str()).collect();
            kaohe::internals::base::csv::write_record(&mut kept, &cells).unwrap();
        }
    }
    let text = String::from_utf8(kept).unwrap();
    assert!(
        text.starts_with("station,item,deducted,awarded\n"),
        "{text}"
    );
    let n = text.lines().count() - 1;
    assert_eq!(n, 15 * owned.len());
    let file = tally(&l, "社矫科.csv", &text);
    let out = l.ok(&["reconcile", "--tallies", &file]);
    assert!(out.contains(&format!("{n} rows, all agree")), "{out}");
    l.ok(&["reconcile", "--tallies", &file, "--json"]);

    // The same at a past date: the export and the reconciliation share the view.
    let rows = csv_rows(&l.ok(&["export", "--scores", "--at", "2018-06-30"]));
    let mut kept = Vec::new();
    for r in &rows {
        let cells: Vec<&str> = keep.iter().map(|&k| r[k].as_str()).collect();
        kaohe::internals::base::csv::write_record(&mut kept, &cells).unwrap();
    }
    let text = String::from_utf8(kept).unwrap();
    let file = tally(&l, "june.csv", &text);
    l.ok(&["reconcile", "--tallies", &file, "--at", "2018-06-30"]);
    l.fails(&["reconcile", "--tallies", &file], 1);
}

/// Guards against CSV formula injection: station codes and names a spreadsheet would run as a
/// formula (`=HYPERLINK(…)`, `@SUM(1)`, `-WJ9`) are written with a `'` before them, the
/// figures are not, and a department's tally kept from that export still reconciles.
#[test]
fn export_scores_neutralises_formulas_and_reconcile_reads_them_back() {
    let l = TestLedger::with_stations();
    let hyperlink = r#"=HYPERLINK("http://example.com/x","点此")"#;
    let lines = [
        json!({"op": "station", "code": "-WJ9", "name": hyperlink, "kind": "town"}),
        json!({"op": "station", "code": "WJ08", "name": "@SUM(1)", "kind": "town"}),
        json!({"op": "station", "code": "WJ07", "name": "+1-2", "kind": "subdistrict"}),
    ];
    let text: String = lines.iter().map(|j| format!("{j}\n")).collect();
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    l.ok(&[
        "record",
        "--clause",
        "1.3.a",
        "--station=-WJ9",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence",
        "E",
    ]);

    let csv = l.ok(&["export", "--scores"]);
    let rows = csv_rows(&csv);
    let row = |code: &str| {
        rows.iter()
            .find(|r| r[0] == code && r[5] == "1.3")
            .unwrap_or_else(|| panic!("no row {code}: {csv}"))
            .clone()
    };
    let r = row("'-WJ9");
    assert_eq!(r[1], format!("'{hyperlink}"));
    // The figures are written as they are.
    let score = l.item_score("-WJ9", "1.3");
    assert_eq!(r[8], score["deducted"].as_str().unwrap());
    assert_eq!(r[4], l.station_score("-WJ9")["total"].as_str().unwrap());
    assert_eq!(row("WJ08")[1], "'@SUM(1)");
    assert_eq!(row("WJ07")[1], "'+1-2");
    assert_eq!(row("WJ01")[1], "湖塘司法所");
    assert!(
        !csv.lines().any(|line| line.split(',').any(|c| {
            let c = c.trim_start_matches('"');
            c.starts_with(['=', '+', '@']) || (c.starts_with('-') && c.parse::<f64>().is_err())
        })),
        "no cell starts a formula: {csv}"
    );

    // A department keeps station,item,deducted,awarded as the export wrote them (a
    // spreadsheet saves the `'` back): the neutralised code reads back as `-WJ9`.
    let mut tally = String::from("station,item,deducted,awarded\n");
    for r in &rows[1..] {
        let cells = [&r[0], &r[5], &r[8], &r[9]];
        let fields: Vec<String> = cells
            .iter()
            .map(|c| kaohe::internals::base::csv::field(c).into_owned())
            .collect();
        tally.push_str(&fields.join(","));
        tally.push('\n');
    }
    assert!(tally.contains("\n'-WJ9,1.3,"), "{tally}");
    let file = self::tally(&l, "dept.csv", &tally);
    let out = l.ok(&["reconcile", "--tallies", &file]);
    assert!(out.contains("all agree"), "{out}");
}
