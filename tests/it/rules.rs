//! The rules as a new user meets them from the command line: creating a ledger, registering
//! stations, recording deductions and bonuses under every rule kind, reporting metrics,
//! importing batches, reading scores, logs and the rubric, and every refusal in between.
//!
//! Every refusal is checked for exit 2, a message naming the field, and an unchanged ledger.

use crate::harness::{rubric_path, Output, TestLedger, TEST_NOW};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

/// The evidence reference the tests cite.
const EV: &str = "常武司基〔2018〕12号";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Arguments written as one line (none of them holds a space).
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `record` arguments with a date inside 2018 and one evidence reference.
fn record_args<'a>(
    clause: &'a str,
    station: &'a str,
    by: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "record",
        "--clause",
        clause,
        "--station",
        station,
        "--by",
        by,
        "--occurred",
        "2018-06-15",
        "--evidence",
        EV,
    ];
    args.extend_from_slice(extra);
    args
}

/// The same arguments with another `--occurred` date.
fn on<'a>(date: &'a str, mut args: Vec<&'a str>) -> Vec<&'a str> {
    let at = args
        .iter()
        .position(|a| *a == "--occurred")
        .expect("--occurred");
    args[at + 1] = date;
    args
}

/// Records (must succeed) and returns the `record --json` outcome.
fn record(l: &TestLedger, clause: &str, station: &str, by: &str, extra: &[&str]) -> Value {
    let mut args = record_args(clause, station, by, extra);
    args.push("--json");
    let out = l.run(&args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    out.json()
}

/// The points the ledger computed for a record that must succeed.
fn computed(l: &TestLedger, clause: &str, station: &str, by: &str, extra: &[&str]) -> String {
    let v = record(l, clause, station, by, extra);
    v["computed_points"]
        .as_str()
        .unwrap_or_else(|| panic!("computed_points is not a string: {v}"))
        .to_string()
}

/// Runs a command that must be refused: exit 2, nothing written. Returns stderr.
fn refused(l: &TestLedger, args: &[&str]) -> String {
    let before = l.event_count();
    let stderr = l.fails(args, 2);
    assert_eq!(
        l.event_count(),
        before,
        "a refused command wrote events: {args:?}"
    );
    stderr
}

/// A `record` that must be refused; the message must name `field`. Returns stderr.
fn record_refused(
    l: &TestLedger,
    clause: &str,
    station: &str,
    by: &str,
    extra: &[&str],
    field: &str,
) -> String {
    let err = refused(l, &record_args(clause, station, by, extra));
    assert_names_field(&err, field);
    err
}

fn assert_names_field(stderr: &str, field: &str) {
    let needle = format!("field `{field}`");
    assert!(
        stderr.contains(&needle),
        "the message should name {needle}: {stderr}"
    );
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}

/// `metric` arguments with a date inside 2018 and one evidence reference.
fn metric_args<'a>(station: &'a str, metric: &'a str, value: &'a str, by: &'a str) -> Vec<&'a str> {
    vec![
        "metric",
        "--station",
        station,
        "--metric",
        metric,
        "--value",
        value,
        "--by",
        by,
        "--occurred",
        "2018-12-20",
        "--evidence",
        "年度统计表",
    ]
}

/// JSON Lines from JSON values.
fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|v| format!("{v}\n")).collect()
}

/// An import that must be refused: exit 2, nothing written. Returns stderr.
fn import_refused(l: &TestLedger, text: &str) -> String {
    let before = l.event_count();
    let out = l.import(text);
    assert_eq!(out.code, 2, "import should be refused: {}", out.stdout);
    assert_eq!(l.event_count(), before, "a refused import wrote events");
    out.stderr
}

fn station_line(code: &str, name: &str, kind: &str) -> Value {
    json!({"op": "station", "code": code, "name": name, "kind": kind})
}

/// An import record line for 1.6.c at WJ01 with the given id and value.
fn with_station(mut line: Value, station: &str) -> Value {
    line["station"] = json!(station);
    line
}

fn fulfilment_line(id: &str, value: Value) -> Value {
    json!({"op": "record", "id": id, "clause": "1.6.c", "station": "WJ01", "by": "基层科",
           "occurred": "2018-06-15", "value": value, "evidence": [EV]})
}

/// Runs kaohe in `cwd` without `--db`, with `KAOHE_DB` set or removed.
fn kaohe_in(cwd: &Path, kaohe_db: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaohe"));
    cmd.current_dir(cwd)
        .args(args)
        .env("KAOHE_NOW", TEST_NOW)
        .stdin(Stdio::null());
    match kaohe_db {
        Some(db) => cmd.env("KAOHE_DB", db),
        None => cmd.env_remove("KAOHE_DB"),
    };
    let out = cmd.output().expect("kaohe runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Display width as a terminal shows it: CJK and full-width forms take two columns.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// The byte span of the `n`th (0-based) whitespace-separated token of a line.
fn token_span(line: &str, n: usize) -> (usize, usize) {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    *spans
        .get(n)
        .unwrap_or_else(|| panic!("no token {n} in {line:?}"))
}

/// The display column where the `n`th token of a line ends.
fn column_end(line: &str, n: usize) -> usize {
    display_width(&line[..token_span(line, n).1])
}

/// The display column where the `n`th token of a line starts.
fn column_start(line: &str, n: usize) -> usize {
    display_width(&line[..token_span(line, n).0])
}

/// Replaces the first occurrence of `from` (which must be present) in the 2018 rubric.
fn rubric_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(rubric_path()).expect("read rubric");
    assert!(text.contains(from), "the rubric no longer holds {from:?}");
    text.replacen(from, to, 1)
}

/// `init` with a broken rubric: exit 2, no ledger created. Returns stderr.
fn init_refused(rubric_text: &str) -> String {
    let l = TestLedger::empty();
    let file = l.path("broken.toml");
    std::fs::write(&file, rubric_text).expect("write rubric");
    let err = l.fails(&["init", "--rubric", file.to_str().unwrap()], 2);
    assert!(
        !l.db.exists(),
        "a refused rubric must not leave a ledger behind"
    );
    err
}

// ---------------------------------------------------------------------------------------------
// The ledger's location: --db, its default, KAOHE_DB.

#[test]
fn db_defaults_to_kaohe_ledger_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rubric = rubric_path();
    let out = kaohe_in(
        dir.path(),
        None,
        &["init", "--rubric", rubric.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.path().join("kaohe-ledger").is_dir());
    let out = kaohe_in(
        dir.path(),
        None,
        &words("station add WJ01 --name 湖塘司法所 --kind town"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = kaohe_in(dir.path(), None, &["score", "--json"]);
    assert_eq!(out.json()["stations"][0]["station"], "WJ01");
}

#[test]
fn db_comes_from_kaohe_db_when_no_flag_is_given() {
    let cwd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let db = elsewhere.path().join("wujin.ledger");
    let rubric = rubric_path();
    let out = kaohe_in(
        cwd.path(),
        Some(&db),
        &["init", "--rubric", rubric.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(db.is_dir(), "KAOHE_DB should name the ledger");
    assert!(!cwd.path().join("kaohe-ledger").exists());
    let out = kaohe_in(
        cwd.path(),
        Some(&db),
        &words("station add WJ02 --name 南夏墅街道司法所 --kind subdistrict"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = kaohe_in(cwd.path(), Some(&db), &["score", "--json"]);
    assert_eq!(out.json()["stations"][0]["station"], "WJ02");
}

#[test]
fn db_flag_wins_over_kaohe_db() {
    let l = TestLedger::with_stations();
    let cwd = tempfile::tempdir().unwrap();
    let decoy = cwd.path().join("decoy");
    let db = l.db.to_str().unwrap();
    let out = kaohe_in(cwd.path(), Some(&decoy), &["--db", db, "score", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["stations"].as_array().unwrap().len(), 2);
    assert!(!decoy.exists());
}

// ---------------------------------------------------------------------------------------------
// Rubric validation on init.

#[test]
fn init_creates_a_ledger_with_only_the_genesis() {
    let l = TestLedger::new();
    assert!(l.db.is_dir());
    assert_eq!(l.event_count(), 1);
}

#[test]
fn rubric_with_a_bad_category_sum_is_refused_naming_the_category() {
    let bad = rubric_with(
        "name = \"公共法律服务体系\"\npoints = \"10\"",
        "name = \"公共法律服务体系\"\npoints = \"11\"",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "category 2");
}

#[test]
fn rubric_whose_items_do_not_fill_the_category_is_refused_naming_the_category() {
    // Item 1.3 gives 2 points instead of 3: category 1 sums to 29.
    let bad = rubric_with(
        "name = \"矛盾纠纷排查\"\npoints = \"3\"",
        "name = \"矛盾纠纷排查\"\npoints = \"2\"",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "category 1");
    assert_contains(&err, "29");
}

#[test]
fn rubric_with_a_duplicate_clause_code_is_refused_naming_the_clause() {
    let bad = rubric_with("code = \"1.3.b\"", "code = \"1.3.a\"");
    let err = init_refused(&bad);
    assert_contains(&err, "clause 1.3.a");
    assert_contains(&err, "twice");
}

#[test]
fn rubric_with_a_field_foreign_to_the_kind_is_refused_naming_the_clause() {
    let bad = rubric_with(
        "code = \"1.1.b\"\nkind = \"fixed\"",
        "code = \"1.1.b\"\nkind = \"fixed\"\nstep = \"1\"",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "clause 1.1.b");
    assert_contains(&err, "step");
}

#[test]
fn rubric_with_an_undeclared_metric_is_refused_naming_the_clause() {
    let bad = rubric_with(
        "metric = \"dispute_entry_rate\"\nthreshold",
        "metric = \"dispute_entry_ratio\"\nthreshold",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "clause 1.1.a");
    assert_contains(&err, "dispute_entry_ratio");
}

#[test]
fn rubric_with_an_unused_metric_is_refused_naming_the_metric() {
    let bad = rubric_with(
        "[[metric]]\nname = \"dispute_entry_rate\"",
        "[[metric]]\nname = \"spare_rate\"\nlabel = \"x\"\nunit = \"percent\"\n\n[[metric]]\nname = \"dispute_entry_rate\"",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "metric spare_rate");
}

#[test]
fn rubric_with_an_undeclared_department_is_refused_naming_the_item() {
    let bad = rubric_with("departments = [\"公律科\"]", "departments = [\"财务科\"]");
    let err = init_refused(&bad);
    assert_contains(&err, "item 2.1");
    assert_contains(&err, "财务科");
}

#[test]
fn rubric_with_a_bonus_kind_outside_the_bonus_category_is_refused() {
    // 1.1.a becomes an at_least clause in a deduction category.
    let bad = rubric_with(
        "code = \"1.1.a\"\nkind = \"below\"",
        "code = \"1.1.a\"\nkind = \"at_least\"",
    );
    let err = init_refused(&bad);
    assert_contains(&err, "clause 1.1.a");
    assert_contains(&err, "bonus");
}

#[test]
fn rubric_that_is_not_toml_is_refused() {
    let err = init_refused("[rubric\nname = ");
    assert_contains(&err, "TOML");
}

#[test]
fn init_with_a_missing_rubric_file_is_refused() {
    let l = TestLedger::empty();
    let missing = l.path("nothere.toml");
    let err = l.fails(&["init", "--rubric", missing.to_str().unwrap()], 2);
    assert_contains(&err, "nothere.toml");
    assert!(!l.db.exists());
}

#[test]
fn init_refuses_a_directory_that_holds_other_files() {
    let l = TestLedger::empty();
    std::fs::create_dir(&l.db).unwrap();
    std::fs::write(l.db.join("notes.txt"), "keep me").unwrap();
    let err = l.fails(&["init", "--rubric", rubric_path().to_str().unwrap()], 2);
    assert_contains(&err, "not a kaohe ledger");
    let names: Vec<_> = std::fs::read_dir(&l.db)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("notes.txt")]);
}

#[test]
fn init_on_an_existing_ledger_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(&l, &["init", "--rubric", rubric_path().to_str().unwrap()]);
    assert_contains(&err, "already holds a ledger");
    assert_eq!(l.station_score("WJ01")["total"], "100");
}

// ---------------------------------------------------------------------------------------------
// Stations.

#[test]
fn station_registration_with_the_same_name_and_kind_is_unchanged() {
    let l = TestLedger::with_stations();
    let before = l.event_count();
    let out = l.ok(&words("station add WJ01 --name 湖塘司法所 --kind town"));
    assert_contains(&out, "unchanged");
    // The Chinese kind names the same kind.
    let out = l.ok(&words(
        "station add WJ01 --name 湖塘司法所 --kind 镇 --json",
    ));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "unchanged"
    );
    assert_eq!(l.event_count(), before);
}

#[test]
fn station_registration_with_another_name_or_kind_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &words("station add WJ01 --name 湖塘镇司法所 --kind town"),
    );
    assert_names_field(&err, "code");
    assert_contains(&err, "already registered");
    let err = refused(
        &l,
        &words("station add WJ01 --name 湖塘司法所 --kind subdistrict"),
    );
    assert_names_field(&err, "code");
}

#[test]
fn station_kind_must_be_town_or_subdistrict() {
    let l = TestLedger::new();
    let err = refused(&l, &words("station add WJ05 --name 某村 --kind village"));
    assert_names_field(&err, "kind");
}

// ---------------------------------------------------------------------------------------------
// Rule kinds: fixed.

#[test]
fn fixed_clause_computes_its_points() {
    let l = TestLedger::with_stations();
    assert_eq!(computed(&l, "1.1.b", "WJ01", "基层科", &[]), "1");
    assert_eq!(computed(&l, "2.1.a", "WJ01", "公律科", &[]), "0.5");
}

#[test]
fn fixed_clause_accepts_points_that_agree_however_written() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.1.b", "WJ01", "基层科", &["--points", "1.0"]),
        "1"
    );
}

#[test]
fn fixed_clause_refuses_points_that_disagree() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "1.1.b", "WJ01", "基层科", &["--points", "2"], "points");
    assert_contains(&err, "gives 1");
}

#[test]
fn fixed_clause_refuses_a_count_above_one() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.1.b", "WJ01", "基层科", &["--count", "2"], "count");
}

// Rule kinds: per_unit.

#[test]
fn per_unit_clause_multiplies_points_by_count() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.2.a", "WJ01", "基层科", &["--count", "3"]),
        "6"
    );
    assert_eq!(computed(&l, "3.4.a", "WJ01", "社矫科", &[]), "0.5");
    assert_eq!(
        computed(
            &l,
            "1.2.a",
            "WJ02",
            "基层科",
            &["--points", "2", "--count", "2"]
        ),
        "4"
    );
}

#[test]
fn per_unit_clause_refuses_points_other_than_its_unit() {
    let l = TestLedger::with_stations();
    record_refused(
        &l,
        "1.2.a",
        "WJ01",
        "基层科",
        &["--points", "3", "--count", "2"],
        "points",
    );
}

#[test]
fn per_unit_max_count_holds_across_records_for_a_station() {
    // 5.1.b: at most 3 units per station in total.
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "5.1.b", "WJ01", "政治处", &["--count", "2"]),
        "2"
    );
    let err = record_refused(&l, "5.1.b", "WJ01", "政治处", &["--count", "2"], "count");
    assert_contains(&err, "at most 3");
    assert_eq!(computed(&l, "5.1.b", "WJ01", "政治处", &[]), "1");
    record_refused(&l, "5.1.b", "WJ01", "政治处", &[], "count");
    // Another station has its own allowance.
    assert_eq!(
        computed(&l, "5.1.b", "WJ02", "政治处", &["--count", "3"]),
        "3"
    );
}

#[test]
fn per_unit_max_count_refuses_a_single_record_above_it() {
    let l = TestLedger::with_stations();
    record_refused(&l, "5.1.b", "WJ01", "政治处", &["--count", "4"], "count");
}

#[test]
fn per_unit_without_max_count_has_no_limit() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "5.1.a", "WJ01", "政治处", &["--count", "5"]),
        "5"
    );
    assert_eq!(
        computed(&l, "5.1.a", "WJ01", "政治处", &["--count", "5"]),
        "5"
    );
}

// Rule kinds: range.

#[test]
fn range_clause_takes_the_chosen_points_times_count() {
    let l = TestLedger::with_stations();
    let extra = ["--points", "3", "--count", "2", "--note", "逾期入矫两人次"];
    assert_eq!(computed(&l, "3.1.b", "WJ01", "社矫科", &extra), "6");
    let extra = ["--points", "0.5", "--note", "矫正小组成员不足6人"];
    assert_eq!(computed(&l, "3.2.a", "WJ01", "社矫科", &extra), "0.5");
}

#[test]
fn range_clause_accepts_both_ends_of_the_range() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(
            &l,
            "3.1.b",
            "WJ01",
            "社矫科",
            &["--points", "2", "--note", "轻"]
        ),
        "2"
    );
    assert_eq!(
        computed(
            &l,
            "3.1.b",
            "WJ02",
            "社矫科",
            &["--points", "8", "--note", "重"]
        ),
        "8"
    );
}

#[test]
fn range_clause_refuses_points_outside_the_range() {
    let l = TestLedger::with_stations();
    let err = record_refused(
        &l,
        "3.1.b",
        "WJ01",
        "社矫科",
        &["--points", "9", "--note", "x"],
        "points",
    );
    assert_contains(&err, "2–8");
    record_refused(
        &l,
        "3.1.b",
        "WJ01",
        "社矫科",
        &["--points", "1.5", "--note", "x"],
        "points",
    );
}

#[test]
fn range_clause_needs_points_and_a_note() {
    let l = TestLedger::with_stations();
    record_refused(&l, "3.1.b", "WJ01", "社矫科", &["--note", "x"], "points");
    record_refused(&l, "3.1.b", "WJ01", "社矫科", &["--points", "3"], "note");
    record_refused(
        &l,
        "3.1.b",
        "WJ01",
        "社矫科",
        &["--points", "3", "--note", "  "],
        "note",
    );
}

// Rule kinds: below (thresholds by station kind).

#[test]
fn below_clause_deducts_when_under_the_threshold() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.1.a", "WJ01", "基层科", &["--value", "99"]),
        "1"
    );
    assert_eq!(
        computed(&l, "5.2.c", "WJ01", "政治处", &["--value", "20"]),
        "2"
    );
}

#[test]
fn below_clause_refuses_a_value_that_meets_the_standard() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "1.1.a", "WJ01", "基层科", &["--value", "100"], "value");
    assert_contains(&err, "standard is met");
}

#[test]
fn below_clause_needs_a_value() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.1.a", "WJ01", "基层科", &[], "value");
}

#[test]
fn below_clause_uses_the_town_threshold_for_a_town() {
    // 2.2.a: town 100, subdistrict 50; the assessor chooses 0.5–1 and writes a note.
    let l = TestLedger::with_stations();
    let extra = ["--value", "99", "--points", "0.5", "--note", "咨询录入99件"];
    assert_eq!(computed(&l, "2.2.a", "WJ01", "法援科", &extra), "0.5");
    let extra = ["--value", "100", "--points", "0.5", "--note", "x"];
    record_refused(&l, "2.2.a", "WJ01", "法援科", &extra, "value");
}

#[test]
fn below_clause_uses_the_subdistrict_threshold_for_a_subdistrict() {
    let l = TestLedger::with_stations();
    // 60 would fall short in a town, but meets the subdistrict's 50.
    let extra = ["--value", "60", "--points", "1", "--note", "x"];
    let err = record_refused(&l, "2.2.a", "WJ02", "法援科", &extra, "value");
    assert_contains(&err, "subdistrict");
    let extra = ["--value", "49", "--points", "1", "--note", "咨询录入49件"];
    assert_eq!(computed(&l, "2.2.a", "WJ02", "法援科", &extra), "1");
}

#[test]
fn below_clause_with_a_range_needs_points_in_range_and_a_note() {
    let l = TestLedger::with_stations();
    record_refused(&l, "2.2.a", "WJ01", "法援科", &["--value", "80"], "points");
    let extra = ["--value", "80", "--points", "1.5", "--note", "x"];
    record_refused(&l, "2.2.a", "WJ01", "法援科", &extra, "points");
    record_refused(
        &l,
        "2.2.a",
        "WJ01",
        "法援科",
        &["--value", "80", "--points", "1"],
        "note",
    );
}

#[test]
fn threshold_clause_refuses_a_value_outside_the_metric_bounds() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.1.a", "WJ01", "基层科", &["--value", "101"], "value");
    record_refused(&l, "1.6.c", "WJ01", "基层科", &["--value", "-1"], "value");
}

#[test]
fn threshold_clause_refuses_inputs_it_does_not_take() {
    let l = TestLedger::with_stations();
    let err = record_refused(
        &l,
        "1.1.a",
        "WJ01",
        "基层科",
        &["--value", "90", "--count", "2"],
        "count",
    );
    assert_contains(&err, "does not take");
    record_refused(
        &l,
        "1.4.a",
        "WJ01",
        "基层科",
        &["--done", "3", "--value", "3"],
        "value",
    );
}

// Rule kinds: at_least (bonus).

#[test]
fn at_least_bonus_is_awarded_from_the_threshold_of_the_station_kind() {
    // B.5.a: town ≥ 50, subdistrict ≥ 20.
    let l = TestLedger::with_stations();
    let v = record(&l, "B.5.a", "WJ01", "法援科", &["--value", "50"]);
    assert_eq!(v["computed_points"], "1");
    assert_eq!(v["direction"], "bonus");
    assert_eq!(
        computed(&l, "B.5.a", "WJ02", "法援科", &["--value", "20"]),
        "1"
    );
}

#[test]
fn at_least_bonus_is_refused_when_not_earned() {
    let l = TestLedger::with_stations();
    // 30 would earn it in a subdistrict but not in a town.
    let err = record_refused(&l, "B.5.a", "WJ01", "法援科", &["--value", "30"], "value");
    assert_contains(&err, "not earned");
    record_refused(&l, "B.5.a", "WJ02", "法援科", &["--value", "19"], "value");
}

#[test]
fn at_least_bonus_needs_a_value() {
    let l = TestLedger::with_stations();
    record_refused(&l, "B.5.a", "WJ01", "法援科", &[], "value");
}

// Rule kinds: shortfall.

#[test]
fn shortfall_counts_a_partial_step_as_whole_when_rounding_up() {
    // 1.6.c: 98, step 1, 1 per step, ceil.
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]),
        "3"
    );
    assert_eq!(
        computed(&l, "1.6.c", "WJ02", "基层科", &["--value", "97.5"]),
        "1"
    );
}

#[test]
fn shortfall_with_a_wider_step() {
    // 1.6.d: 100, step 5: 93 is 7 short, two steps.
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.6.d", "WJ01", "基层科", &["--value", "93"]),
        "2"
    );
    assert_eq!(
        computed(&l, "1.6.d", "WJ02", "基层科", &["--value", "95"]),
        "1"
    );
}

#[test]
fn shortfall_above_a_ceiling() {
    // 3.6.b: above 4, step 0.1, 0.5 per step: 4.25 is 2.5 steps, rounded up to 3.
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "3.6.b", "WJ01", "社矫科", &["--value", "4.25"]),
        "1.5"
    );
    record_refused(&l, "3.6.b", "WJ01", "社矫科", &["--value", "4"], "value");
    record_refused(&l, "3.6.b", "WJ01", "社矫科", &["--value", "3"], "value");
}

#[test]
fn shortfall_refuses_a_value_that_meets_the_standard() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "1.6.c", "WJ01", "基层科", &["--value", "98"], "value");
    assert_contains(&err, "standard is met");
    record_refused(&l, "1.6.c", "WJ01", "基层科", &["--value", "99.5"], "value");
    record_refused(&l, "1.6.c", "WJ01", "基层科", &[], "value");
}

#[test]
fn shortfall_checks_given_points_against_the_computed_figure() {
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(
            &l,
            "1.6.c",
            "WJ01",
            "基层科",
            &["--value", "95", "--points", "3"]
        ),
        "3"
    );
    record_refused(
        &l,
        "1.6.c",
        "WJ01",
        "基层科",
        &["--value", "95", "--points", "2"],
        "points",
    );
}

// Rule kinds: missing.

#[test]
fn missing_deducts_per_missing_unit() {
    // 1.4.a: required 5, 2 per missing.
    let l = TestLedger::with_stations();
    assert_eq!(
        computed(&l, "1.4.a", "WJ01", "基层科", &["--done", "3"]),
        "4"
    );
    assert_eq!(
        computed(&l, "4.2.a", "WJ01", "宣教科", &["--done", "0"]),
        "8"
    );
}

#[test]
fn missing_needs_done_and_refuses_when_nothing_is_missing() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.4.a", "WJ01", "基层科", &[], "done");
    let err = record_refused(&l, "1.4.a", "WJ01", "基层科", &["--done", "5"], "done");
    assert_contains(&err, "nothing to deduct");
    record_refused(&l, "1.4.a", "WJ01", "基层科", &["--done", "three"], "done");
}

// Rule kinds: rank.

#[test]
fn rank_clause_cannot_be_recorded_by_hand() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "B.6.a", "WJ01", "基层科", &[], "clause");
    assert_contains(&err, "rank");
}

// ---------------------------------------------------------------------------------------------
// Refusals common to every record.

#[test]
fn unknown_clause_is_refused() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "9.9.z", "WJ01", "基层科", &[], "clause");
    assert_contains(&err, "9.9.z");
}

#[test]
fn unknown_station_is_refused() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "1.1.b", "WJ99", "基层科", &[], "station");
    assert_contains(&err, "WJ99");
}

#[test]
fn a_department_that_does_not_own_the_item_is_refused() {
    let l = TestLedger::with_stations();
    let err = record_refused(&l, "1.6.c", "WJ01", "公律科", &["--value", "95"], "by");
    assert_contains(&err, "基层科");
}

#[test]
fn an_undeclared_department_is_refused() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.1.b", "WJ01", "财务科", &[], "by");
}

#[test]
fn a_department_alias_records_under_the_canonical_name() {
    let l = TestLedger::with_stations();
    record(&l, "3.1.c", "WJ01", "矫正科", &["--id", "ALIAS1"]);
    let log = l.ok(&["log", "--json", "--station", "WJ01"]);
    let ev: Value = log
        .lines()
        .map(|x| serde_json::from_str::<Value>(x).unwrap())
        .find(|v| v["id"] == "ALIAS1")
        .expect("the record is in the log");
    assert_eq!(ev["by"], "社矫科");
}

#[test]
fn a_record_without_evidence_is_refused() {
    let l = TestLedger::with_stations();
    let mut args = record_args("1.1.b", "WJ01", "基层科", &[]);
    args.truncate(args.len() - 2); // drop `--evidence REF`
    assert_names_field(&refused(&l, &args), "evidence");
    args.extend_from_slice(&["--evidence", "  "]);
    assert_names_field(&refused(&l, &args), "evidence");
}

#[test]
fn an_occurred_date_outside_2018_is_refused() {
    let l = TestLedger::with_stations();
    for date in ["2017-12-31", "2019-01-01"] {
        let args = on(date, record_args("1.1.b", "WJ01", "基层科", &[]));
        let err = refused(&l, &args);
        assert_names_field(&err, "occurred");
        assert_contains(&err, "2018-01-01 to 2018-12-31");
    }
}

#[test]
fn an_occurred_date_that_is_not_a_date_is_refused() {
    let l = TestLedger::with_stations();
    let args = on("2018/06/15", record_args("1.1.b", "WJ01", "基层科", &[]));
    assert_names_field(&refused(&l, &args), "occurred");
}

#[test]
fn an_occurred_date_in_the_future_is_refused() {
    // A ledger kept during the year: today is 2018-06-01 (UTC+8 decides the local date).
    let mut l = TestLedger::empty();
    l.now = "2018-06-01T00:00:00Z".into();
    l.ok(&["init", "--rubric", rubric_path().to_str().unwrap()]);
    l.ok(&words("station add WJ01 --name 湖塘司法所 --kind town"));
    let err = record_refused(&l, "1.1.b", "WJ01", "基层科", &[], "occurred");
    assert_contains(&err, "future");
    l.ok(&on(
        "2018-06-01",
        record_args("1.1.b", "WJ01", "基层科", &[]),
    ));
}

#[test]
fn the_current_day_is_the_day_in_china() {
    // 2018-06-14T16:00Z is already 2018-06-15 in UTC+8; a second earlier it is not.
    let mut l = TestLedger::empty();
    l.now = "2018-06-14T15:59:59Z".into();
    l.ok(&["init", "--rubric", rubric_path().to_str().unwrap()]);
    l.ok(&words("station add WJ01 --name 湖塘司法所 --kind town"));
    record_refused(&l, "1.1.b", "WJ01", "基层科", &[], "occurred");
    l.now = "2018-06-14T16:00:00Z".into();
    assert_eq!(computed(&l, "1.1.b", "WJ01", "基层科", &[]), "1");
}

#[test]
fn a_count_of_zero_is_refused() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.2.a", "WJ01", "基层科", &["--count", "0"], "count");
    let extra = ["--count", "0", "--points", "3", "--note", "x"];
    record_refused(&l, "3.1.b", "WJ01", "社矫科", &extra, "count");
}

#[test]
fn a_value_that_is_not_a_number_is_refused() {
    let l = TestLedger::with_stations();
    for bad in ["abc", "1e2", "95%", "9,5", ""] {
        let err = record_refused(&l, "1.6.c", "WJ01", "基层科", &["--value", bad], "value");
        assert!(!err.contains("panicked"), "{err}");
    }
    record_refused(&l, "1.2.a", "WJ01", "基层科", &["--count", "two"], "count");
    record_refused(&l, "1.2.a", "WJ01", "基层科", &["--count", "-1"], "count");
}

// ---------------------------------------------------------------------------------------------
// Ids: assigned, idempotent, never reused for other content.

#[test]
fn the_ledger_assigns_and_prints_an_id_when_none_is_given() {
    let l = TestLedger::with_stations();
    let v = record(&l, "1.1.b", "WJ01", "基层科", &[]);
    let id = v["id"].as_str().expect("an id");
    assert!(id.starts_with("auto-"), "{id}");
    let text = l.ok(&record_args("1.1.b", "WJ02", "基层科", &[]));
    assert_contains(&text, "auto-");
}

#[test]
fn the_same_id_with_the_same_content_is_unchanged() {
    let l = TestLedger::with_stations();
    let first = record(&l, "1.2.a", "WJ01", "基层科", &["--id", "D1"]);
    assert_eq!(first["status"], "appended");
    let before = l.event_count();
    let again = record(&l, "1.2.a", "WJ01", "基层科", &["--id", "D1"]);
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["seq"], first["seq"]);
    let text = l.ok(&record_args("1.2.a", "WJ01", "基层科", &["--id", "D1"]));
    assert_contains(&text, "unchanged");
    assert_eq!(l.event_count(), before);
    assert_eq!(l.item_score("WJ01", "1.2")["deducted"], "2");
}

#[test]
fn the_same_id_with_other_content_is_refused() {
    let l = TestLedger::with_stations();
    record(
        &l,
        "1.6.c",
        "WJ01",
        "基层科",
        &["--id", "D1", "--value", "95"],
    );
    let err = record_refused(
        &l,
        "1.6.c",
        "WJ01",
        "基层科",
        &["--id", "D1", "--value", "96"],
        "id",
    );
    assert_contains(&err, "D1");
    // An id names one event of any type.
    let mut args = metric_args("WJ01", "agreement_fulfilment_rate", "95", "基层科");
    args.extend_from_slice(&["--id", "D1"]);
    assert_names_field(&refused(&l, &args), "id");
}

#[test]
fn an_id_in_the_ledgers_own_namespace_is_refused() {
    let l = TestLedger::with_stations();
    record_refused(&l, "1.1.b", "WJ01", "基层科", &["--id", "auto-99"], "id");
}

#[test]
fn a_metric_repeated_with_the_same_id_and_an_equal_value_is_unchanged() {
    let l = TestLedger::with_stations();
    let mut args = metric_args("WJ01", "agreement_fulfilment_rate", "95", "基层科");
    args.extend_from_slice(&["--id", "M1"]);
    l.ok(&args);
    let before = l.event_count();
    let mut args = metric_args("WJ01", "agreement_fulfilment_rate", "95.0", "基层科");
    args.extend_from_slice(&["--id", "M1"]);
    assert_contains(&l.ok(&args), "unchanged");
    assert_eq!(l.event_count(), before);
    let mut args = metric_args("WJ01", "agreement_fulfilment_rate", "96", "基层科");
    args.extend_from_slice(&["--id", "M1"]);
    assert_names_field(&refused(&l, &args), "id");
}

// ---------------------------------------------------------------------------------------------
// Computed points beside the inputs.

#[test]
fn computed_points_stand_apart_from_the_input_points_in_log_and_export() {
    let l = TestLedger::with_stations();
    let extra = [
        "--id",
        "R1",
        "--points",
        "1.5",
        "--count",
        "2",
        "--note",
        "风险评估不规范",
    ];
    let v = record(&l, "3.2.b", "WJ01", "社矫科", &extra);
    assert_eq!(v["computed_points"], "3");
    let find = |text: &str| -> Value {
        text.lines()
            .map(|x| serde_json::from_str::<Value>(x).unwrap())
            .find(|v| v["id"] == "R1")
            .expect("R1 is listed")
    };
    for ev in [find(&l.ok(&["log", "--json"])), find(&l.ok(&["export"]))] {
        assert_eq!(ev["points"], "1.5");
        assert_eq!(ev["count"], 2);
        assert_eq!(ev["computed_points"], "3");
        assert_eq!(ev["note"], "风险评估不规范");
    }
}

#[test]
fn computed_points_are_shown_for_a_record_given_only_a_value() {
    let l = TestLedger::with_stations();
    record(
        &l,
        "1.6.c",
        "WJ01",
        "基层科",
        &["--id", "D1", "--value", "95"],
    );
    let line = l
        .ok(&["export"])
        .lines()
        .map(|x| serde_json::from_str::<Value>(x).unwrap())
        .find(|v| v["id"] == "D1")
        .unwrap();
    assert_eq!(line["value"], "95");
    assert_eq!(line["computed_points"], "3");
    assert!(
        line.get("points").is_none(),
        "no input points were given: {line}"
    );
}

// ---------------------------------------------------------------------------------------------
// Metrics.

#[test]
fn a_metric_is_reported_by_a_department_owning_an_item_that_uses_it() {
    let l = TestLedger::with_stations();
    let before = l.event_count();
    let mut args = metric_args("WJ01", "mediations_per_mediator", "12.5", "基层科");
    args.push("--json");
    let v: Value = serde_json::from_str(&l.ok(&args)).unwrap();
    assert_eq!(v["status"], "appended");
    assert_eq!(v["type"], "metric_reported");
    assert_eq!(l.event_count(), before + 1);
}

#[test]
fn a_metric_from_a_department_that_does_not_use_it_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &metric_args("WJ01", "mediations_per_mediator", "12.5", "公律科"),
    );
    assert_names_field(&err, "by");
    assert_contains(&err, "基层科");
}

#[test]
fn an_unknown_metric_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &metric_args("WJ01", "happiness_index", "12.5", "基层科"),
    );
    assert_names_field(&err, "metric");
    assert_contains(&err, "happiness_index");
}

#[test]
fn a_metric_value_outside_its_bounds_or_not_a_number_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &metric_args("WJ01", "agreement_fulfilment_rate", "101", "基层科"),
    );
    assert_names_field(&err, "value");
    let err = refused(
        &l,
        &metric_args("WJ01", "agreement_fulfilment_rate", "abc", "基层科"),
    );
    assert_names_field(&err, "value");
}

#[test]
fn a_metric_for_an_unknown_station_or_outside_the_period_is_refused() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &metric_args("WJ99", "agreement_fulfilment_rate", "95", "基层科"),
    );
    assert_names_field(&err, "station");
    let args = metric_args("WJ01", "agreement_fulfilment_rate", "95", "基层科");
    assert_names_field(&refused(&l, &on("2019-02-01", args)), "occurred");
}

#[test]
fn metrics_do_not_change_the_score() {
    let l = TestLedger::with_stations();
    l.ok(&metric_args(
        "WJ01",
        "agreement_fulfilment_rate",
        "90",
        "基层科",
    ));
    assert_eq!(l.station_score("WJ01")["total"], "100");
}

// ---------------------------------------------------------------------------------------------
// Import: JSON Lines, all or nothing.

#[test]
fn import_applies_every_line_and_reports_it() {
    let l = TestLedger::new();
    let text = jsonl(&[
        station_line("WJ01", "湖塘司法所", "town"),
        fulfilment_line("D1", json!("95")),
        json!({"op": "metric", "id": "M1", "station": "WJ01", "metric": "mediations_per_mediator",
               "value": 12.5, "by": "基层科", "occurred": "2018-12-20", "evidence": ["年度统计表"]}),
    ]);
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "3 events appended");
    assert_eq!(l.event_count(), 4);
    assert_eq!(l.station_score("WJ01")["total"], "97");
}

#[test]
fn import_takes_decimals_as_json_strings_or_numbers() {
    let l = TestLedger::with_stations();
    let text = jsonl(&[
        fulfilment_line("S", json!("97.5")),
        // Another station: 1.6.c counts once per station and period.
        with_station(fulfilment_line("N", json!(97.5)), "WJ02"),
        json!({"op": "record", "clause": "1.2.a", "station": "WJ02", "by": "基层科",
               "occurred": "2018-06-15", "count": "2", "evidence": [EV]}),
    ]);
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log = l.ok(&["log", "--json"]);
    let events: Vec<Value> = log
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    for id in ["S", "N"] {
        let e = events.iter().find(|e| e["id"] == id).unwrap();
        assert_eq!(e["value"], "97.5");
        assert_eq!(e["computed_points"], "1");
    }
    assert_eq!(l.item_score("WJ02", "1.2")["deducted"], "4");
}

#[test]
fn import_from_stdin() {
    let l = TestLedger::with_stations();
    let text = jsonl(&[fulfilment_line("D1", json!(95))]);
    let out = l.run_with_stdin(&["import", "-"], Some(&text));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(l.station_score("WJ01")["total"], "97");
}

#[test]
fn import_refuses_a_bad_line_naming_it_and_writes_nothing() {
    let l = TestLedger::with_stations();
    let text = jsonl(&[
        fulfilment_line("D1", json!("95")),
        json!({"op": "record", "clause": "1.2.a", "station": "WJ01", "by": "基层科",
               "occurred": "2018-06-15", "evidence": [EV]}),
        fulfilment_line("D2", json!("abc")),
        json!({"op": "record", "clause": "1.1.b", "station": "WJ01", "by": "基层科",
               "occurred": "2018-06-15", "evidence": [EV]}),
    ]);
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 3");
    assert_names_field(&err, "value");
    assert_eq!(l.station_score("WJ01")["total"], "100");
}

#[test]
fn import_refuses_a_rule_breach_on_the_last_line_and_writes_nothing() {
    let l = TestLedger::with_stations();
    let text = jsonl(&[
        fulfilment_line("D1", json!("95")),
        fulfilment_line("D2", json!("98")),
    ]);
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 2");
    assert_names_field(&err, "value");
}

#[test]
fn import_line_numbers_count_blank_lines() {
    let l = TestLedger::with_stations();
    let text = format!(
        "{}\n\n{}\n",
        fulfilment_line("D1", json!("95")),
        json!({"op": "record", "clause": "9.9.z", "station": "WJ01", "by": "基层科",
               "occurred": "2018-06-15", "evidence": [EV]})
    );
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 3");
    assert_names_field(&err, "clause");
}

#[test]
fn import_sees_a_station_registered_on_an_earlier_line() {
    let l = TestLedger::new();
    let text = jsonl(&[
        station_line("WJ01", "湖塘司法所", "town"),
        fulfilment_line("D1", json!("95")),
    ]);
    assert_eq!(l.import(&text).code, 0);
    assert_eq!(l.item_score("WJ01", "1.6")["deducted"], "3");
}

#[test]
fn import_refuses_a_record_before_its_station_is_registered() {
    let l = TestLedger::new();
    let text = jsonl(&[
        fulfilment_line("D1", json!("95")),
        station_line("WJ01", "湖塘司法所", "town"),
    ]);
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 1");
    assert_names_field(&err, "station");
}

#[test]
fn import_refuses_an_id_reused_with_other_content_on_a_later_line() {
    let l = TestLedger::new();
    let text = jsonl(&[
        station_line("WJ01", "湖塘司法所", "town"),
        fulfilment_line("D1", json!("95")),
        fulfilment_line("D1", json!("96")),
    ]);
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 3");
    assert_names_field(&err, "id");
    assert_eq!(l.event_count(), 1, "not even the station was written");
}

#[test]
fn import_refuses_a_station_registered_twice_differently_in_one_file() {
    let l = TestLedger::new();
    let text = jsonl(&[
        station_line("WJ01", "湖塘司法所", "town"),
        station_line("WJ01", "湖塘司法所", "subdistrict"),
    ]);
    let err = import_refused(&l, &text);
    assert_contains(&err, "line 2");
    assert_names_field(&err, "code");
}

#[test]
fn import_repeating_a_line_is_unchanged_within_and_across_files() {
    let l = TestLedger::new();
    let text = jsonl(&[
        station_line("WJ01", "湖塘司法所", "town"),
        fulfilment_line("D1", json!("95")),
        fulfilment_line("D1", json!("95.0")),
    ]);
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "2 events appended");
    assert_contains(&out.stdout, "1 unchanged");
    let out = l.run_with_stdin(&["import", "-", "--json"], Some(&text));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["appended"], 0);
    assert_eq!(v["unchanged"], 3);
    assert_eq!(l.event_count(), 3);
    assert_eq!(l.station_score("WJ01")["total"], "97");
}

#[test]
fn import_counts_max_count_units_across_lines() {
    let l = TestLedger::with_stations();
    let unit = |count: u32| {
        json!({"op": "record", "clause": "5.1.b", "station": "WJ01", "by": "政治处",
               "occurred": "2018-06-15", "count": count, "evidence": [EV]})
    };
    let err = import_refused(&l, &jsonl(&[unit(2), unit(2)]));
    assert_contains(&err, "line 2");
    assert_names_field(&err, "count");
    assert_eq!(l.import(&jsonl(&[unit(2), unit(1)])).code, 0);
    assert_eq!(l.item_score("WJ01", "5.1")["deducted"], "3");
}

#[test]
fn import_refuses_lines_that_are_not_commands() {
    let l = TestLedger::with_stations();
    let err = import_refused(&l, "not json\n");
    assert_contains(&err, "line 1");
    let err = import_refused(&l, &jsonl(&[json!({"op": "delete", "id": "D1"})]));
    assert_names_field(&err, "op");
    let mut line = fulfilment_line("D1", json!("95"));
    line["colour"] = json!("red");
    let err = import_refused(&l, &jsonl(&[line]));
    assert_names_field(&err, "colour");
    let err = import_refused(&l, &jsonl(&[fulfilment_line("D1", json!(true))]));
    assert_names_field(&err, "value");
}

#[test]
fn import_refuses_an_unknown_metric_or_a_department_that_does_not_report_it() {
    let l = TestLedger::with_stations();
    let metric = |name: &str, by: &str| {
        json!({"op": "metric", "station": "WJ01", "metric": name, "value": "12", "by": by,
               "occurred": "2018-12-20", "evidence": ["年度统计表"]})
    };
    let err = import_refused(
        &l,
        &jsonl(&[
            metric("mediations_per_mediator", "基层科"),
            metric("nope", "基层科"),
        ]),
    );
    assert_contains(&err, "line 2");
    assert_names_field(&err, "metric");
    let err = import_refused(&l, &jsonl(&[metric("mediations_per_mediator", "公律科")]));
    assert_contains(&err, "line 1");
    assert_names_field(&err, "by");
}

#[test]
fn import_accepts_a_byte_order_mark_and_crlf_line_ends() {
    // What a spreadsheet on Windows saves.
    let l = TestLedger::new();
    let text = format!(
        "\u{feff}{}\r\n{}\r\n",
        station_line("WJ01", "湖塘司法所", "town"),
        fulfilment_line("D1", json!("95"))
    );
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(l.station_score("WJ01")["total"], "97");
}

#[test]
fn import_refuses_a_file_that_is_not_utf8() {
    // 湖塘 in GBK, as an older Chinese editor might save it.
    let l = TestLedger::new();
    let file = l.path("gbk.jsonl");
    let mut bytes = br#"{"op":"station","code":"WJ01","name":""#.to_vec();
    bytes.extend_from_slice(&[0xBA, 0xFE, 0xCC, 0xC1]);
    bytes.extend_from_slice(b"\",\"kind\":\"town\"}\n");
    std::fs::write(&file, bytes).unwrap();
    let err = refused(&l, &["import", file.to_str().unwrap()]);
    assert_contains(&err, "line 1");
    assert_contains(&err, "UTF-8");
}

#[test]
fn import_of_a_missing_file_is_refused() {
    let l = TestLedger::with_stations();
    let missing = l.path("nothere.jsonl");
    refused(&l, &["import", missing.to_str().unwrap()]);
}

// ---------------------------------------------------------------------------------------------
// Score.

#[test]
fn score_starts_every_station_at_100() {
    let l = TestLedger::with_stations();
    for code in ["WJ01", "WJ02"] {
        let s = l.station_score(code);
        assert_eq!(s["total"], "100");
        assert_eq!(s["deducted"], "0");
        assert_eq!(s["awarded"], "0");
    }
}

#[test]
fn score_subtracts_deductions_and_adds_bonus() {
    let l = TestLedger::with_stations();
    computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    computed(&l, "2.1.a", "WJ01", "公律科", &[]);
    computed(&l, "B.1.a", "WJ01", "宣教科", &[]);
    let s = l.station_score("WJ01");
    assert_eq!(s["deducted"], "3.5");
    assert_eq!(s["awarded"], "2");
    assert_eq!(s["total"], "98.5");
    assert_eq!(l.item_score("WJ01", "1.6")["deducted"], "3");
    assert_eq!(l.item_score("WJ01", "B.1")["awarded"], "2");
    assert_eq!(l.station_score("WJ02")["total"], "100");
}

#[test]
fn score_caps_deductions_at_the_items_points_and_shows_the_raw_figure() {
    let l = TestLedger::with_stations();
    computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    computed(&l, "1.6.d", "WJ01", "基层科", &["--value", "93"]);
    computed(&l, "1.6.a", "WJ01", "基层科", &[]);
    let item = l.item_score("WJ01", "1.6");
    assert_eq!(item["max"], "4");
    assert_eq!(item["raw_deducted"], "6");
    assert_eq!(item["deducted"], "4");
    assert_eq!(l.station_score("WJ01")["total"], "96");
    let table = l.ok(&["score"]);
    assert_contains(&table, "1.6 扣分 6→4");
}

#[test]
fn score_caps_bonus_at_the_items_points_and_shows_the_raw_figure() {
    let l = TestLedger::with_stations();
    // Two villages created: B.1.a twice, 4 points in an item of 2.
    computed(&l, "B.1.a", "WJ01", "宣教科", &[]);
    computed(&l, "B.1.a", "WJ01", "宣教科", &[]);
    let item = l.item_score("WJ01", "B.1");
    assert_eq!(item["raw_awarded"], "4");
    assert_eq!(item["awarded"], "2");
    assert_eq!(l.station_score("WJ01")["total"], "102");
}

#[test]
fn score_total_bonus_never_exceeds_the_cap() {
    // Every bonus that can be recorded by hand, twice over (B.5.a once: it is judged on a
    // year-end figure). B.6 is ranked, so 9 is the most.
    let l = TestLedger::with_stations();
    for round in 0..2 {
        computed(&l, "B.1.a", "WJ01", "宣教科", &[]);
        computed(&l, "B.2.a", "WJ01", "宣教科", &[]);
        computed(&l, "B.3.a", "WJ01", "办公室", &[]);
        computed(&l, "B.4.a", "WJ01", "办公室", &[]);
        computed(&l, "B.4.b", "WJ01", "基层科", &[]);
        if round == 0 {
            computed(&l, "B.5.a", "WJ01", "法援科", &["--value", "80"]);
        }
        computed(&l, "B.7.a", "WJ01", "社矫科", &[]);
        computed(
            &l,
            "B.8.a",
            "WJ01",
            "社矫科",
            &["--points", "1", "--note", "承接省厅试点"],
        );
    }
    let s = l.station_score("WJ01");
    assert_eq!(s["raw_awarded"], "17");
    assert_eq!(s["awarded"], "9");
    assert_eq!(s["total"], "109");
}

#[test]
fn score_json_has_the_documented_shape_with_decimals_as_strings() {
    let l = TestLedger::with_stations();
    computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    let v = l.scores();
    let stations = v["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 2);
    for s in stations {
        for key in ["station", "name", "kind", "total", "deducted", "awarded"] {
            assert!(s[key].is_string(), "{key} should be a string: {s}");
        }
        assert!(s["rank"].is_u64(), "rank is a place: {s}");
        let items = s["items"].as_array().expect("items");
        assert_eq!(items.len(), 31, "one entry per rubric item");
        for i in items {
            for key in [
                "item",
                "name",
                "max",
                "deducted",
                "awarded",
                "raw_deducted",
                "raw_awarded",
            ] {
                assert!(i[key].is_string(), "{key} should be a string: {i}");
            }
        }
    }
    let wj01 = l.station_score("WJ01");
    assert_eq!(wj01["name"], "湖塘司法所");
    assert_eq!(wj01["kind"], "town");
    assert_eq!(wj01["total"], "97");
    assert_eq!(l.station_score("WJ02")["kind"], "subdistrict");
}

#[test]
fn score_ranks_equal_totals_at_the_better_place() {
    let l = TestLedger::with_stations();
    l.ok(&words("station add WJ03 --name 礼嘉镇司法所 --kind town"));
    l.ok(&words("station add WJ04 --name 洛阳镇司法所 --kind town"));
    computed(&l, "1.1.b", "WJ02", "基层科", &[]);
    computed(&l, "1.1.b", "WJ03", "基层科", &[]);
    computed(&l, "1.6.c", "WJ04", "基层科", &["--value", "95"]);
    let v = l.scores();
    let order: Vec<(String, String, u64)> = v["stations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["station"].as_str().unwrap().to_string(),
                s["total"].as_str().unwrap().to_string(),
                s["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("WJ01", "100", 1),
        ("WJ02", "99", 2),
        ("WJ03", "99", 2),
        ("WJ04", "97", 4),
    ];
    let expect: Vec<(String, String, u64)> = expect
        .iter()
        .map(|(c, t, r)| (c.to_string(), t.to_string(), *r))
        .collect();
    assert_eq!(order, expect);
}

#[test]
fn score_table_aligns_columns_by_display_width() {
    let l = TestLedger::with_stations();
    l.ok(&["station", "add", "WJ03", "--name", "礼嘉", "--kind", "town"]);
    l.ok(&words("station add WJ10 --name Xixiashu司法所 --kind 街道"));
    computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    computed(&l, "1.6.d", "WJ01", "基层科", &["--value", "80"]);
    computed(&l, "2.1.a", "WJ03", "公律科", &[]);
    computed(&l, "B.1.a", "WJ10", "宣教科", &[]);
    let table = l.ok(&["score"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines.len(),
        2 + 4,
        "header, rule and one row per station:\n{table}"
    );
    let rows: Vec<&str> = std::iter::once(lines[0])
        .chain(lines[2..].iter().copied())
        .collect();
    for col in [4, 5, 6] {
        // 总分, 扣分, 加分 are right-aligned: they end in the same column on every row.
        let ends: Vec<usize> = rows.iter().map(|r| column_end(r, col)).collect();
        assert!(
            ends.windows(2).all(|w| w[0] == w[1]),
            "column {col} ends at {ends:?}:\n{table}"
        );
    }
    for col in [1, 2, 3] {
        // 站点, 名称, 类型 are left-aligned: they start in the same column on every row.
        let starts: Vec<usize> = rows.iter().map(|r| column_start(r, col)).collect();
        assert!(
            starts.windows(2).all(|w| w[0] == w[1]),
            "column {col} starts at {starts:?}:\n{table}"
        );
    }
    assert_contains(&table, "南夏墅街道司法所");
    assert_contains(&table, "96");
}

#[test]
fn score_with_no_stations_says_so() {
    let l = TestLedger::new();
    assert_contains(&l.ok(&["score"]), "no stations");
    assert_eq!(l.scores()["stations"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Log and rubric.

#[test]
fn log_for_a_station_shows_only_its_events() {
    let l = TestLedger::with_stations();
    computed(
        &l,
        "1.6.c",
        "WJ01",
        "基层科",
        &["--value", "95", "--id", "A1"],
    );
    computed(
        &l,
        "1.6.c",
        "WJ02",
        "基层科",
        &["--value", "95", "--id", "B1"],
    );
    l.ok(&metric_args(
        "WJ02",
        "agreement_fulfilment_rate",
        "95",
        "基层科",
    ));
    let lines: Vec<Value> = l
        .ok(&["log", "--station", "WJ01", "--json"])
        .lines()
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the registration and one record: {lines:?}");
    assert_eq!(lines[0]["type"], "station_registered");
    assert_eq!(lines[0]["code"], "WJ01");
    assert_eq!(lines[1]["id"], "A1");
    assert_eq!(lines[1]["station"], "WJ01");
    let table = l.ok(&["log", "--station", "WJ01"]);
    assert!(!table.contains("WJ02"), "{table}");
    assert!(!table.contains("B1"), "{table}");
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for r in rows {
        assert_eq!(&r[token_span(r, 3).0..token_span(r, 3).1], "WJ01", "{r}");
    }
}

#[test]
fn log_shows_every_event_oldest_first() {
    let l = TestLedger::with_stations();
    computed(&l, "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    let seqs: Vec<u64> = l
        .ok(&["log", "--json"])
        .lines()
        .map(|x| {
            serde_json::from_str::<Value>(x).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3]);
    let table = l.ok(&["log"]);
    assert_contains(&table, "-3");
    assert_contains(&table, EV);
}

#[test]
fn log_for_an_unknown_station_is_refused() {
    let l = TestLedger::with_stations();
    let err = l.fails(&["log", "--station", "WJ99"], 2);
    assert_contains(&err, "WJ99");
}

#[test]
fn rubric_shows_the_rubric_in_force() {
    let l = TestLedger::new();
    let text = l.ok(&["rubric"]);
    assert_contains(&text, "2018年度基层司法行政绩效考核细则");
    assert_contains(&text, "常武司字〔2018〕48号");
    for code in ["1.6.c", "2.2.a", "5.1.b", "B.5.a", "B.6.a"] {
        assert_contains(&text, code);
    }
    let v: Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).unwrap();
    assert_eq!(v["base_points"], "100");
    assert_eq!(v["bonus_cap"], "10");
    assert_eq!(v["categories"].as_array().unwrap().len(), 6);
}

#[test]
fn rubric_toml_is_the_file_byte_for_byte() {
    let l = TestLedger::new();
    let stored = l.ok(&["rubric", "--toml"]);
    let file = std::fs::read_to_string(rubric_path()).unwrap();
    assert_eq!(stored, file);
}

// ---------------------------------------------------------------------------------------------
// Exit codes and usage.

#[test]
fn an_unknown_subcommand_exits_2() {
    let l = TestLedger::new();
    l.fails(&["frobnicate"], 2);
}

#[test]
fn a_missing_required_flag_exits_2_naming_it() {
    let l = TestLedger::with_stations();
    let err = refused(
        &l,
        &words("record --station WJ01 --by 基层科 --occurred 2018-06-15"),
    );
    assert_contains(&err, "--clause");
    let err = l.fails(&["init"], 2);
    assert_contains(&err, "--rubric");
}

#[test]
fn a_command_on_a_path_without_a_ledger_exits_2() {
    let l = TestLedger::empty();
    for args in [
        &["score"][..],
        &["log"],
        &["rubric"],
        &["station", "add", "WJ01", "--name", "x", "--kind", "town"],
    ] {
        let err = l.fails(args, 2);
        assert_contains(&err, "no ledger");
    }
    assert!(!l.db.exists(), "reading must not create a ledger");
}

#[test]
fn a_check_that_finds_a_problem_exits_1() {
    let l = TestLedger::with_stations();
    let wrong = "0".repeat(64);
    let err = l.fails(&["verify", "--head", &wrong], 1);
    assert_contains(&err, "verification failed");
    l.ok(&["verify"]);
}

/// A ledger another process holds is busy: exit 3 since issue 13 (it was exit 2, the code for
/// bad input), after `--wait` (5 s by default).
#[test]
fn a_second_process_gets_an_in_use_error() {
    let l = TestLedger::with_stations();
    let before = l.event_count();
    {
        let _held =
            kaohe::internals::ledger::Ledger::open(&l.db).expect("the test opens the ledger");
        let err = l.fails(&["score"], 3);
        assert_contains(&err, "in use");
        let err = l.fails(&record_args("1.1.b", "WJ01", "基层科", &[]), 3);
        assert_contains(&err, "in use");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(l.event_count(), before);
    assert_eq!(l.station_score("WJ01")["total"], "100");
}
