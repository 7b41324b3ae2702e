//! Appeals, decisions and reversals from the command line and in import files (issue 4).
//!
//! - Refusals (CLI and import): exit 2, the field named, `line N` for imports, and nothing
//!   written (the whole export is compared before and after).
//! - Idempotency of appeal ids, decisions and reversal ids.
//! - Both times, worked out by hand: scores in every `--as-of-seq` around each decision, at
//!   `--known-at` instants around them, and at `--at` days around each occurred date (a
//!   decision corrects the record from the start), with item caps.
//! - The appeal window through the injected clock (KAOHE_NOW), in local days (UTC+8).
//! - `explain` (text and JSON) and `appeal list` (table and JSON) telling the story.
//! - Reversal and re-recording on the bundled year, units of a `max_count` clause released.
//! - `verify` of the ledger and of its export; references by seq and by hash.

use crate::harness::{fixture_path, TestLedger, TEST_NOW};
use rust_decimal::Decimal;
use serde_json::Value;

/// The evidence records are made with.
const EV: &str = "常武司基〔2018〕12号";
/// The issue's appeal.
const GROUNDS: &str = "该对象系经批准外出";
const APPEAL_EV: &str = "外出审批表";
/// Grounds and evidence of the other appeals.
const OTHER_GROUNDS: &str = "扣分事实认定有误";
const OTHER_EV: &str = "情况说明";
const REASON: &str = "经核实，该对象外出经批准，扣分部分成立";
const DECISION_EV: &str = "复核意见书";
const REVERSE_REASON: &str = "录入错误：应记入其他司法所";
const REVERSE_EV: &str = "更正说明";

// Clock times of the hand-computed ledger (`disputed`). Local time is UTC+8.
/// init and stations
const T0: &str = "2018-06-01T02:00:00Z";
/// the six records
const T1: &str = "2018-06-10T02:00:00Z";
/// the four appeals
const T2: &str = "2018-06-12T02:00:00Z";
/// A1 decided
const T3: &str = "2018-06-15T02:00:00Z";
/// A2, A3, A4 decided
const T4: &str = "2018-06-16T02:00:00Z";
/// R1 reverses D2
const T5: &str = "2018-06-20T02:00:00Z";
/// later appeals in `appeal list`
const T6: &str = "2018-06-21T02:00:00Z";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A ledger created at `now` with WJ01 (town, seq 1) and WJ02 (subdistrict, seq 2); the clock
/// stays at `now`. (`TestLedger::with_stations` starts at 2019, after which no earlier
/// recorded time is possible.)
fn stations_at(now: &str) -> TestLedger {
    TestLedger::with_stations_at(now)
}

/// Runs a command with `--json` that must succeed; returns its outcome.
fn ok_json(l: &TestLedger, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = l.run(&a);
    assert_eq!(
        out.code, 0,
        "kaohe {a:?} failed: {}{}",
        out.stdout, out.stderr
    );
    out.json()
}

/// Runs a command that must append one event; returns its seq.
fn appended(l: &TestLedger, args: &[&str]) -> u64 {
    let v = ok_json(l, args);
    assert_eq!(v["status"], "appended", "kaohe {args:?}: {v}");
    v["seq"].as_u64().expect("seq")
}

/// Runs a command that must change nothing (same command again); returns its seq.
fn unchanged(l: &TestLedger, args: &[&str]) -> u64 {
    let before = l.ok(&["export"]);
    let v = ok_json(l, args);
    assert_eq!(v["status"], "unchanged", "kaohe {args:?}: {v}");
    assert_eq!(l.ok(&["export"]), before, "kaohe {args:?} wrote something");
    let text = l.ok(args);
    assert!(text.starts_with("unchanged"), "kaohe {args:?}: {text}");
    v["seq"].as_u64().expect("seq")
}

fn record_args<'a>(
    id: &'a str,
    clause: &'a str,
    station: &'a str,
    by: &'a str,
    occurred: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = vec![
        "record",
        "--id",
        id,
        "--clause",
        clause,
        "--station",
        station,
        "--by",
        by,
        "--occurred",
        occurred,
        "--evidence",
        EV,
    ];
    a.extend_from_slice(extra);
    a
}

/// Records (must be appended); returns the seq.
fn rec(
    l: &TestLedger,
    id: &str,
    clause: &str,
    station: &str,
    by: &str,
    occurred: &str,
    extra: &[&str],
) -> u64 {
    appended(l, &record_args(id, clause, station, by, occurred, extra))
}

fn appeal_args<'a>(id: &'a str, against: &'a str, station: &'a str) -> Vec<&'a str> {
    vec![
        "appeal",
        "file",
        "--id",
        id,
        "--against",
        against,
        "--station",
        station,
        "--grounds",
        OTHER_GROUNDS,
        "--evidence",
        OTHER_EV,
    ]
}

/// Files an appeal (must be appended); returns the seq.
fn file(l: &TestLedger, id: &str, against: &str, station: &str) -> u64 {
    appended(l, &appeal_args(id, against, station))
}

/// Files the issue's appeal (grounds 该对象系经批准外出, evidence 外出审批表).
fn file_issue_appeal(l: &TestLedger, id: &str, against: &str, station: &str) -> u64 {
    appended(
        l,
        &[
            "appeal",
            "file",
            "--id",
            id,
            "--against",
            against,
            "--station",
            station,
            "--grounds",
            GROUNDS,
            "--evidence",
            APPEAL_EV,
        ],
    )
}

fn decide_args<'a>(
    appeal: &'a str,
    outcome: &'a str,
    points: Option<&'a str>,
    by: &'a str,
) -> Vec<&'a str> {
    let mut a = vec![
        "appeal",
        "decide",
        appeal,
        "--outcome",
        outcome,
        "--by",
        by,
        "--reason",
        REASON,
        "--evidence",
        DECISION_EV,
    ];
    if let Some(p) = points {
        a.extend(["--points", p]);
    }
    a
}

/// Decides an appeal (must be appended); returns the seq.
fn decide(l: &TestLedger, appeal: &str, outcome: &str, points: Option<&str>, by: &str) -> u64 {
    appended(l, &decide_args(appeal, outcome, points, by))
}

fn reverse_args<'a>(id: &'a str, target: &'a str, by: &'a str) -> Vec<&'a str> {
    vec![
        "reverse",
        target,
        "--id",
        id,
        "--by",
        by,
        "--reason",
        REVERSE_REASON,
        "--evidence",
        REVERSE_EV,
    ]
}

fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

fn assert_field(err: &str, field: &str) {
    assert_contains(err, &format!("field `{field}`"));
}

/// Runs a command that must be refused: exit 2, the field named, nothing written (the export,
/// with every hash, is the same before and after). Returns stderr.
fn refused(l: &TestLedger, args: &[&str], field: &str) -> String {
    let before = l.ok(&["export"]);
    let out = l.run(args);
    assert_eq!(
        out.code, 2,
        "kaohe {args:?} should be refused: {}{}",
        out.stdout, out.stderr
    );
    assert_field(&out.stderr, field);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(l.ok(&["export"]), before, "kaohe {args:?} wrote something");
    out.stderr
}

/// Imports JSON Lines that must be refused at `line`, naming `field`, with nothing written.
fn import_refused(l: &TestLedger, jsonl: &str, line: usize, field: &str) -> String {
    let before = l.ok(&["export"]);
    let out = l.import(jsonl);
    assert_eq!(
        out.code, 2,
        "import should be refused:\n{jsonl}\n{}{}",
        out.stdout, out.stderr
    );
    assert_contains(&out.stderr, &format!("line {line}: field `{field}`"));
    assert_eq!(l.ok(&["export"]), before, "the import wrote something");
    out.stderr
}

/// Imports JSON Lines that must be accepted; returns `import --json`.
fn import_ok(l: &TestLedger, jsonl: &str) -> Value {
    let file = l.path("good.jsonl");
    std::fs::write(&file, jsonl).expect("write batch");
    ok_json(l, &["import", file.to_str().unwrap()])
}

/// `score --json` in a view.
fn scores_in(l: &TestLedger, view: &[&str]) -> Value {
    let mut a = vec!["score", "--json"];
    a.extend_from_slice(view);
    let out = l.run(&a);
    assert_eq!(out.code, 0, "kaohe {a:?} failed: {}", out.stderr);
    out.json()
}

/// Every station's total in a view, as `WJ01 95, WJ02 93`.
fn totals(l: &TestLedger, view: &[&str]) -> String {
    let v = scores_in(l, view);
    let mut all: Vec<(String, String)> = v["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| {
            (
                s["station"].as_str().unwrap().to_string(),
                s["total"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.sort();
    all.iter()
        .map(|(s, t)| format!("{s} {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn total(l: &TestLedger, station: &str) -> String {
    l.station_score(station)["total"]
        .as_str()
        .expect("total")
        .to_string()
}

/// One item of one station in a view: (deducted, raw_deducted, capped).
fn item_in(l: &TestLedger, view: &[&str], station: &str, item: &str) -> (String, String, bool) {
    let v = scores_in(l, view);
    let s = v["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == station)
        .unwrap_or_else(|| panic!("no {station}"));
    let i = s["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == item)
        .unwrap_or_else(|| panic!("no item {item}"));
    (
        i["deducted"].as_str().unwrap().to_string(),
        i["raw_deducted"].as_str().unwrap().to_string(),
        i["capped"].as_bool().unwrap(),
    )
}

fn item(deducted: &str, raw: &str, capped: bool) -> (String, String, bool) {
    (deducted.to_string(), raw.to_string(), capped)
}

/// `explain --json` of one station and item in a view; the events of one clause.
fn explained_events(
    l: &TestLedger,
    station: &str,
    item: &str,
    clause: &str,
    view: &[&str],
) -> Vec<Value> {
    let mut a = vec!["explain", "--station", station, "--item", item, "--json"];
    a.extend_from_slice(view);
    let v: Value = serde_json::from_str(&l.ok(&a)).expect("explain JSON");
    v["items"][0]["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clause"] == clause)
        .unwrap_or_else(|| panic!("no clause {clause}"))["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// `appeal list --json` with options: the appeals.
fn appeal_list(l: &TestLedger, options: &[&str]) -> Vec<Value> {
    let mut a = vec!["appeal", "list", "--json"];
    a.extend_from_slice(options);
    let v: Value = serde_json::from_str(&l.ok(&a)).expect("appeal list JSON");
    v["appeals"].as_array().expect("appeals").clone()
}

fn ids(appeals: &[Value]) -> Vec<&str> {
    appeals.iter().map(|a| a["id"].as_str().unwrap()).collect()
}

/// The hash of an event, from `show --json`.
fn hash_of(l: &TestLedger, key: &str) -> String {
    ok_json(l, &["show", key])["hash"]
        .as_str()
        .expect("hash")
        .to_string()
}

/// The ledger whose scores are worked out by hand below.
///
/// | seq | when | event |
/// |---|---|---|
/// | 1, 2 | T0 | WJ01 (town), WJ02 (subdistrict) |
/// | 3 | T1 | D1 WJ01 1.3.a fixed 3, occurred 05-10 (item 1.3, cap 3) |
/// | 4 | T1 | D2 WJ01 1.3.b fixed 1, occurred 05-20 (item 1.3: raw 4 → 3) |
/// | 5 | T1 | D3 WJ01 1.2.a 1 unit × 2 = 2, occurred 05-15 (item 1.2, cap 4) |
/// | 6 | T1 | D4 WJ02 3.1.c fixed 8, occurred 05-12 (item 3.1, cap 7: 8 → 7) |
/// | 7 | T1 | D5 WJ02 1.1.b fixed 1, occurred 05-25 |
/// | 8 | T1 | B1 WJ02 B.2.a bonus +1, occurred 05-15 |
/// | 9–12 | T2 | appeals A1 (D1), A2 (D3), A3 (D4, the issue's grounds), A4 (D5) |
/// | 13 | T3 | A1 partial: 1 point stands |
/// | 14 | T4 | A2 upheld (D3 removed) |
/// | 15 | T4 | A3 partial: 6 points stand |
/// | 16 | T4 | A4 rejected |
/// | 17 | T5 | R1 reverses D2 |
fn disputed() -> TestLedger {
    let mut l = stations_at(T0);
    l.now = T1.into();
    assert_eq!(
        rec(&l, "D1", "1.3.a", "WJ01", "基层科", "2018-05-10", &[]),
        3
    );
    assert_eq!(
        rec(&l, "D2", "1.3.b", "WJ01", "基层科", "2018-05-20", &[]),
        4
    );
    let d3 = rec(
        &l,
        "D3",
        "1.2.a",
        "WJ01",
        "基层科",
        "2018-05-15",
        &["--count", "1"],
    );
    assert_eq!(d3, 5);
    assert_eq!(
        rec(&l, "D4", "3.1.c", "WJ02", "社矫科", "2018-05-12", &[]),
        6
    );
    assert_eq!(
        rec(&l, "D5", "1.1.b", "WJ02", "基层科", "2018-05-25", &[]),
        7
    );
    assert_eq!(
        rec(&l, "B1", "B.2.a", "WJ02", "宣教科", "2018-05-15", &[]),
        8
    );
    l.now = T2.into();
    assert_eq!(file(&l, "A1", "D1", "WJ01"), 9);
    assert_eq!(file(&l, "A2", "D3", "WJ01"), 10);
    assert_eq!(file_issue_appeal(&l, "A3", "D4", "WJ02"), 11);
    assert_eq!(file(&l, "A4", "D5", "WJ02"), 12);
    l.now = T3.into();
    assert_eq!(decide(&l, "A1", "partial", Some("1"), "基层科"), 13);
    l.now = T4.into();
    assert_eq!(decide(&l, "A2", "upheld", None, "基层科"), 14);
    assert_eq!(decide(&l, "A3", "partial", Some("6"), "社矫科"), 15);
    assert_eq!(decide(&l, "A4", "rejected", None, "基层科"), 16);
    l.now = T5.into();
    assert_eq!(appended(&l, &reverse_args("R1", "D2", "基层科")), 17);
    l
}

/// A small ledger for refusals: D1 WJ01 1.3.a (seq 3), D2 WJ02 3.1.e 1 unit = 3 (seq 4),
/// B1 WJ01 bonus B.2.a (seq 5), M1 WJ01 metric (seq 6), open appeal A1 against D2 (seq 7).
fn small() -> TestLedger {
    let mut l = stations_at(T0);
    l.now = T1.into();
    rec(&l, "D1", "1.3.a", "WJ01", "基层科", "2018-05-10", &[]);
    rec(
        &l,
        "D2",
        "3.1.e",
        "WJ02",
        "社矫科",
        "2018-05-12",
        &["--count", "1"],
    );
    rec(&l, "B1", "B.2.a", "WJ01", "宣教科", "2018-05-15", &[]);
    appended(
        &l,
        &[
            "metric",
            "--id",
            "M1",
            "--station",
            "WJ01",
            "--metric",
            "dispute_entry_rate",
            "--value",
            "90",
            "--by",
            "基层科",
            "--occurred",
            "2018-05-31",
            "--evidence",
            EV,
        ],
    );
    l.now = T2.into();
    assert_eq!(file(&l, "A1", "D2", "WJ02"), 7);
    l
}

// ---------------------------------------------------------------------------------------------
// 1. Refusals from the command line.

/// An appeal against an event that is not there (by id, seq or hash) is refused.
#[test]
fn an_appeal_against_a_missing_event_is_refused() {
    let l = small();
    let no_hash = "f".repeat(64);
    for missing in ["D9", "99", no_hash.as_str()] {
        let err = refused(&l, &appeal_args("AX", missing, "WJ01"), "against");
        assert_contains(&err, "no event");
        assert_contains(&err, missing);
    }
}

/// An appeal against a bonus, a metric report or an appeal is refused, by id, seq or hash.
#[test]
fn an_appeal_against_a_bonus_or_a_metric_report_is_refused() {
    let l = small();
    let b1 = hash_of(&l, "B1");
    for bonus in ["B1", "5", b1.as_str()] {
        let err = refused(&l, &appeal_args("AX", bonus, "WJ01"), "against");
        assert_contains(&err, "bonus");
    }
    let m1 = hash_of(&l, "M1");
    for metric in ["M1", "6", m1.as_str()] {
        let err = refused(&l, &appeal_args("AX", metric, "WJ01"), "against");
        assert_contains(&err, "metric_reported");
    }
    // Nor can one appeal an appeal.
    refused(&l, &appeal_args("AX", "A1", "WJ02"), "against");
}

/// A station appeals only its own deductions; an unknown station is refused too.
#[test]
fn an_appeal_against_another_stations_deduction_is_refused() {
    let l = small();
    let err = refused(&l, &appeal_args("AX", "D1", "WJ02"), "station");
    assert_contains(&err, "D1 is a deduction of station WJ01, not of WJ02");
    let err = refused(&l, &appeal_args("AX", "D1", "WJ99"), "station");
    assert_contains(&err, "WJ99");
}

/// An appeal needs grounds and at least one evidence reference.
#[test]
fn an_appeal_needs_grounds_and_evidence() {
    let l = small();
    let base = [
        "appeal",
        "file",
        "--id",
        "AX",
        "--against",
        "D1",
        "--station",
        "WJ01",
    ];
    let mut no_evidence = base.to_vec();
    no_evidence.extend(["--grounds", OTHER_GROUNDS]);
    refused(&l, &no_evidence, "evidence");
    let mut empty_grounds = base.to_vec();
    empty_grounds.extend(["--grounds", "  ", "--evidence", OTHER_EV]);
    refused(&l, &empty_grounds, "grounds");
    let mut empty_evidence = base.to_vec();
    empty_evidence.extend(["--grounds", OTHER_GROUNDS, "--evidence", ""]);
    refused(&l, &empty_evidence, "evidence");
}

/// One open appeal per deduction; after a decision another, unless the deduction was removed.
#[test]
fn one_open_appeal_per_deduction() {
    let mut l = small();
    // A1 against D2 is open.
    let err = refused(&l, &appeal_args("A2", "D2", "WJ02"), "against");
    assert_contains(&err, "already under appeal A1 (seq 7)");
    // Without an id it is refused all the same.
    let mut no_id = appeal_args("A2", "D2", "WJ02");
    no_id.drain(2..4);
    refused(&l, &no_id, "against");

    l.now = T3.into();
    decide(&l, "A1", "rejected", None, "社矫科");
    assert_eq!(file(&l, "A2", "D2", "WJ02"), 9);
    refused(&l, &appeal_args("A3", "D2", "WJ02"), "against");
    decide(&l, "A2", "partial", Some("2"), "社矫科");
    assert_eq!(file(&l, "A3", "D2", "WJ02"), 11);
    decide(&l, "A3", "upheld", None, "社矫科");
    // Removed: nothing left to appeal.
    let err = refused(&l, &appeal_args("A4", "D2", "WJ02"), "against");
    assert_contains(&err, "appeal A3 (seq 11) was upheld");
    // WJ02 = 100 − 0 (D2 removed).
    assert_eq!(total(&l, "WJ02"), "100");
}

/// Only the department owning the deduction's item decides (an alias of it counts as it).
#[test]
fn a_decision_by_another_department_is_refused() {
    let l = small();
    let err = refused(&l, &decide_args("A1", "rejected", None, "基层科"), "by");
    assert_contains(&err, "基层科 does not own item 3.1 (owned by 社矫科)");
    refused(&l, &decide_args("A1", "rejected", None, "财务科"), "by");
    // 矫正科 is the rubric's alias of 社矫科.
    let v = ok_json(&l, &decide_args("A1", "rejected", None, "矫正科"));
    assert_eq!(v["status"], "appended");
    let list = appeal_list(&l, &[]);
    assert_eq!(list[0]["decision"]["by"], "社矫科");
}

/// `partial` needs points between 0 and the original; upheld and rejected take none.
#[test]
fn a_partial_decision_needs_points_within_the_original() {
    let l = small();
    // D2 computed 3.
    let err = refused(&l, &decide_args("A1", "partial", None, "社矫科"), "points");
    assert_contains(&err, "partial decision needs the points");
    let err = refused(
        &l,
        &decide_args("A1", "partial", Some("3.5"), "社矫科"),
        "points",
    );
    assert_contains(&err, "not between 0 and the original 3");
    refused(
        &l,
        &decide_args("A1", "partial", Some("-1"), "社矫科"),
        "points",
    );
    refused(
        &l,
        &decide_args("A1", "partial", Some("abc"), "社矫科"),
        "points",
    );
    for outcome in ["upheld", "rejected"] {
        let err = refused(
            &l,
            &decide_args("A1", outcome, Some("1"), "社矫科"),
            "points",
        );
        assert_contains(&err, &format!("{outcome} does not"));
    }
    refused(
        &l,
        &decide_args("A1", "dismissed", None, "社矫科"),
        "outcome",
    );
    // The original itself is within bounds.
    decide(&l, "A1", "partial", Some("3"), "社矫科");
}

/// A decision needs a reason and evidence, and names an appeal.
#[test]
fn a_decision_needs_a_reason_evidence_and_an_appeal() {
    let l = small();
    let mut no_evidence = decide_args("A1", "rejected", None, "社矫科");
    no_evidence.truncate(no_evidence.len() - 2);
    refused(&l, &no_evidence, "evidence");
    let mut empty_reason = decide_args("A1", "rejected", None, "社矫科");
    let at = empty_reason.iter().position(|a| *a == "--reason").unwrap();
    empty_reason[at + 1] = " ";
    refused(&l, &empty_reason, "reason");
    let err = refused(&l, &decide_args("D2", "rejected", None, "社矫科"), "appeal");
    assert_contains(&err, "not an appeal");
    refused(&l, &decide_args("A9", "rejected", None, "社矫科"), "appeal");
}

/// A decision is final: another outcome, or the same with another reason, is refused.
#[test]
fn a_second_different_decision_is_refused() {
    let l = small();
    decide(&l, "A1", "partial", Some("2"), "社矫科");
    let err = refused(&l, &decide_args("A1", "upheld", None, "社矫科"), "appeal");
    assert_contains(&err, "appeal A1 was already decided (partial, seq 8)");
    refused(&l, &decide_args("A1", "rejected", None, "社矫科"), "appeal");
    refused(
        &l,
        &decide_args("A1", "partial", Some("1"), "社矫科"),
        "appeal",
    );
    let mut other_reason = decide_args("A1", "partial", Some("2"), "社矫科");
    let at = other_reason.iter().position(|a| *a == "--reason").unwrap();
    other_reason[at + 1] = "另一理由";
    refused(&l, &other_reason, "appeal");
    // WJ02 = 100 − 2.
    assert_eq!(total(&l, "WJ02"), "98");
}

/// Reversal refused: other department, under appeal, removed, reversed, metric, missing.
#[test]
fn reversal_refusals_write_nothing() {
    let mut l = small();
    let err = refused(&l, &reverse_args("R1", "D1", "社矫科"), "by");
    assert_contains(&err, "does not own item 1.3");
    let err = refused(&l, &reverse_args("R1", "D2", "社矫科"), "target");
    assert_contains(&err, "already under appeal A1");
    let err = refused(&l, &reverse_args("R1", "M1", "基层科"), "target");
    assert_contains(&err, "metric_reported");
    refused(&l, &reverse_args("R1", "D9", "基层科"), "target");
    let mut empty_reason = reverse_args("R1", "D1", "基层科");
    empty_reason[7] = "";
    refused(&l, &empty_reason, "reason");

    l.now = T3.into();
    decide(&l, "A1", "upheld", None, "社矫科");
    let err = refused(&l, &reverse_args("R1", "D2", "社矫科"), "target");
    assert_contains(&err, "upheld");
    appended(&l, &reverse_args("R1", "D1", "基层科"));
    let err = refused(&l, &reverse_args("R2", "D1", "基层科"), "target");
    assert_contains(&err, "reversed by R1");
    // A reversed deduction cannot be appealed either.
    let err = refused(&l, &appeal_args("AX", "D1", "WJ01"), "against");
    assert_contains(&err, "reversed by R1");
}

// ---------------------------------------------------------------------------------------------
// 1. Refusals in import files.

/// Import refusals name line and field; a good line before a bad one is not written either.
#[test]
fn import_refusals_name_the_line_and_write_nothing() {
    let l = small();
    let good_appeal = r#"{"op":"appeal","id":"AX","against":"D1","station":"WJ01","grounds":"g","evidence":["e"]}"#;
    let cases: Vec<(String, usize, &str, &str)> = vec![
        (
            format!("{good_appeal}\n{}", r#"{"op":"appeal","id":"AY","against":"D9","station":"WJ01","grounds":"g","evidence":["e"]}"#),
            2,
            "against",
            "no event `D9`",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":"B1","station":"WJ01","grounds":"g","evidence":["e"]}"#.into(),
            1,
            "against",
            "bonus",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":6,"station":"WJ01","grounds":"g","evidence":["e"]}"#.into(),
            1,
            "against",
            "metric_reported",
        ),
        (
            format!("{good_appeal}\n{}", r#"{"op":"appeal","id":"AY","against":"D1","station":"WJ02","grounds":"g","evidence":["e"]}"#),
            2,
            "station",
            "not of WJ02",
        ),
        // Under appeal by the line before, and by the ledger.
        (
            format!("{good_appeal}\n{}", r#"{"op":"appeal","id":"AY","against":"D1","station":"WJ01","grounds":"g","evidence":["e"]}"#),
            2,
            "against",
            "already under appeal AX",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":"D2","station":"WJ02","grounds":"g","evidence":["e"]}"#.into(),
            1,
            "against",
            "already under appeal A1",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":"D1","station":"WJ01","evidence":["e"]}"#.into(),
            1,
            "grounds",
            "required",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":"D1","station":"WJ01","grounds":"g","evidence":[]}"#.into(),
            1,
            "evidence",
            "required",
        ),
        (
            r#"{"op":"decide","appeal":"A1","outcome":"rejected","by":"基层科","reason":"r","evidence":["x"]}"#.into(),
            1,
            "by",
            "does not own item 3.1",
        ),
        (
            r#"{"op":"decide","appeal":"A1","outcome":"partial","by":"社矫科","reason":"r","evidence":["x"]}"#.into(),
            1,
            "points",
            "needs the points",
        ),
        (
            r#"{"op":"decide","appeal":"A1","outcome":"partial","points":"4","by":"社矫科","reason":"r","evidence":["x"]}"#.into(),
            1,
            "points",
            "original 3",
        ),
        (
            r#"{"op":"decide","appeal":"A1","outcome":"upheld","points":"1","by":"社矫科","reason":"r","evidence":["x"]}"#.into(),
            1,
            "points",
            "only a partial decision takes points",
        ),
        (
            r#"{"op":"decide","appeal":"A1","outcome":"rejected","by":"社矫科","evidence":["x"]}"#.into(),
            1,
            "reason",
            "required",
        ),
        (
            format!(
                "{}\n{}",
                r#"{"op":"decide","appeal":"A1","outcome":"rejected","by":"社矫科","reason":"r","evidence":["x"]}"#,
                r#"{"op":"decide","appeal":"A1","outcome":"upheld","by":"社矫科","reason":"r","evidence":["x"]}"#
            ),
            2,
            "appeal",
            "already decided (rejected, by an earlier line of this import)",
        ),
        // A decision on the appeal filed by line 1, by a department that does not own 1.3.
        (
            format!("{good_appeal}\n{}", r#"{"op":"decide","appeal":"AX","outcome":"rejected","by":"公律科","reason":"r","evidence":["x"]}"#),
            2,
            "by",
            "公律科 does not own item 1.3",
        ),
        (
            format!("{good_appeal}\n{}", r#"{"op":"reverse","id":"R1","target":"D1","by":"基层科","reason":"r"}"#),
            2,
            "target",
            "already under appeal AX",
        ),
        (
            r#"{"op":"reverse","id":"R1","target":"M1","by":"基层科","reason":"r"}"#.into(),
            1,
            "target",
            "metric_reported",
        ),
        (
            r#"{"op":"appeal","id":"AY","against":"D1","station":"WJ01","grounds":"g","evidence":["e"],"points":"1"}"#.into(),
            1,
            "points",
            "is not a field of op `appeal`",
        ),
    ];
    for (jsonl, line, field, message) in &cases {
        let err = import_refused(&l, jsonl, *line, field);
        assert_contains(&err, message);
    }
    // The good line alone is accepted.
    assert_eq!(import_ok(&l, good_appeal)["appended"], 1);
}

// ---------------------------------------------------------------------------------------------
// 2. Idempotency.

/// Same appeal id and content, decision or reversal again: unchanged; other content refused.
#[test]
fn appeal_ids_and_decisions_are_idempotent() {
    let mut l = small();
    // A1 against D2 was filed at seq 7: the same command again is a no-op.
    assert_eq!(unchanged(&l, &appeal_args("A1", "D2", "WJ02")), 7);
    // The deduction named by seq or hash is the same content.
    assert_eq!(unchanged(&l, &appeal_args("A1", "4", "WJ02")), 7);
    let d2 = hash_of(&l, "D2");
    assert_eq!(unchanged(&l, &appeal_args("A1", &d2, "WJ02")), 7);

    // The same id with other grounds, evidence or deduction is refused.
    let mut other_grounds = appeal_args("A1", "D2", "WJ02");
    other_grounds[9] = "另一理由";
    let err = refused(&l, &other_grounds, "id");
    assert_contains(&err, "id `A1` is already used (seq 7)");
    let mut other_evidence = appeal_args("A1", "D2", "WJ02");
    other_evidence[11] = "另一证据";
    refused(&l, &other_evidence, "id");
    refused(&l, &appeal_args("A1", "D1", "WJ01"), "id");
    // An id names one event of any kind.
    refused(&l, &appeal_args("D1", "D1", "WJ01"), "id");
    refused(
        &l,
        &record_args("A1", "1.3.b", "WJ01", "基层科", "2018-05-10", &[]),
        "id",
    );

    l.now = T3.into();
    let seq = decide(&l, "A1", "partial", Some("1.5"), "社矫科");
    assert_eq!(
        unchanged(&l, &decide_args("A1", "partial", Some("1.5"), "社矫科")),
        seq
    );
    // The same points written otherwise, the appeal by seq, the department by its alias.
    assert_eq!(
        unchanged(&l, &decide_args("A1", "partial", Some("1.50"), "矫正科")),
        seq
    );
    assert_eq!(
        unchanged(&l, &decide_args("7", "部分成立", Some("1.5"), "社矫科")),
        seq
    );
    // Filing A1 again after the decision is still the same filing.
    assert_eq!(unchanged(&l, &appeal_args("A1", "D2", "WJ02")), 7);

    let r = appended(&l, &reverse_args("R1", "D1", "基层科"));
    assert_eq!(unchanged(&l, &reverse_args("R1", "D1", "基层科")), r);
    let mut other_reason = reverse_args("R1", "D1", "基层科");
    other_reason[7] = "另一理由";
    refused(&l, &other_reason, "id");

    // A file of appeal, decision and reversal lines imports once, then changes nothing.
    l.now = T4.into();
    let batch = format!(
        "{}\n{}\n{}\n",
        r#"{"op":"record","id":"D3","clause":"3.1.e","station":"WJ02","by":"社矫科","occurred":"2018-06-01","count":1,"evidence":["e"]}"#,
        r#"{"op":"appeal","id":"A2","against":"D3","station":"WJ02","grounds":"g","evidence":["e"]}"#,
        r#"{"op":"decide","appeal":"A2","outcome":"upheld","by":"社矫科","reason":"r","evidence":["x"]}"#,
    );
    let first = import_ok(&l, &batch);
    assert_eq!(
        (first["appended"].as_u64(), first["unchanged"].as_u64()),
        (Some(3), Some(0))
    );
    let before = l.ok(&["export"]);
    let again = import_ok(&l, &batch);
    assert_eq!(
        (again["appended"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(l.ok(&["export"]), before);
    // WJ02 = 100 − 1.5 (D2 partial) − 0 (D3 upheld).
    assert_eq!(total(&l, "WJ02"), "98.5");
}

// ---------------------------------------------------------------------------------------------
// 3. Both times, by hand.

/// Decisions and reversals count at every valid time once known, not before (totals by hand).
#[test]
fn decisions_correct_every_valid_time_from_when_they_are_known() {
    let l = disputed();

    // Head.
    // WJ01 = 100 − 1.3 [D1 1 (partial) + D2 0 (reversed) = 1] − 1.2 [D3 0 (upheld)] = 99
    // WJ02 = 100 − 3.1 [D4 6 (partial)] − 1.1 [D5 1 (rejected)] + B.2 [1] = 94
    assert_eq!(totals(&l, &[]), "WJ01 99, WJ02 94");

    // Transaction time, by seq.
    // ≤ 8, all recorded, nothing disputed:
    //   WJ01 = 100 − min(3 + 1, cap 3) − 2 = 95; WJ02 = 100 − min(8, cap 7) − 1 + 1 = 93.
    assert_eq!(totals(&l, &["--as-of-seq", "8"]), "WJ01 95, WJ02 93");
    // ≤ 12, appeals filed, none decided: a filing changes nothing.
    assert_eq!(totals(&l, &["--as-of-seq", "12"]), "WJ01 95, WJ02 93");
    // 13, A1 partial (D1 3 → 1): 1.3 raw 1 + 1 = 2, under the cap: WJ01 = 100 − 2 − 2 = 96.
    //   The reduction of 2 moves the total by 1 only: the cap had already cut 1.
    assert_eq!(totals(&l, &["--as-of-seq", "13"]), "WJ01 96, WJ02 93");
    // 14, A2 upheld (D3 removed): WJ01 = 100 − 2 − 0 = 98.
    assert_eq!(totals(&l, &["--as-of-seq", "14"]), "WJ01 98, WJ02 93");
    // 15, A3 partial (D4 8 → 6): WJ02 = 100 − 6 − 1 + 1 = 94, again +1 for a reduction of 2.
    assert_eq!(totals(&l, &["--as-of-seq", "15"]), "WJ01 98, WJ02 94");
    // 16, A4 rejected: nothing changes.
    assert_eq!(totals(&l, &["--as-of-seq", "16"]), "WJ01 98, WJ02 94");
    // 17, R1 reverses D2: WJ01 1.3 = 1: 99.
    assert_eq!(totals(&l, &["--as-of-seq", "17"]), "WJ01 99, WJ02 94");

    // The caps, item by item.
    assert_eq!(
        item_in(&l, &["--as-of-seq", "12"], "WJ01", "1.3"),
        item("3", "4", true)
    );
    assert_eq!(
        item_in(&l, &["--as-of-seq", "13"], "WJ01", "1.3"),
        item("2", "2", false)
    );
    assert_eq!(item_in(&l, &[], "WJ01", "1.3"), item("1", "1", false));
    assert_eq!(
        item_in(&l, &["--as-of-seq", "14"], "WJ01", "1.2"),
        item("0", "0", false)
    );
    assert_eq!(
        item_in(&l, &["--as-of-seq", "14"], "WJ02", "3.1"),
        item("7", "8", true)
    );
    assert_eq!(item_in(&l, &[], "WJ02", "3.1"), item("6", "6", false));
    assert_eq!(item_in(&l, &[], "WJ02", "1.1"), item("1", "1", false));

    // Transaction time, by instant (a view includes what was recorded at its instant).
    assert_eq!(totals(&l, &["--known-at", T2]), "WJ01 95, WJ02 93");
    assert_eq!(
        totals(&l, &["--known-at", "2018-06-15T01:59:59Z"]),
        "WJ01 95, WJ02 93"
    );
    assert_eq!(totals(&l, &["--known-at", T3]), "WJ01 96, WJ02 93");
    assert_eq!(
        totals(&l, &["--known-at", "2018-06-16T01:59:59Z"]),
        "WJ01 96, WJ02 93"
    );
    assert_eq!(totals(&l, &["--known-at", T4]), "WJ01 98, WJ02 94");
    assert_eq!(
        totals(&l, &["--known-at", "2018-06-20T01:59:59Z"]),
        "WJ01 98, WJ02 94"
    );
    assert_eq!(totals(&l, &["--known-at", T5]), "WJ01 99, WJ02 94");

    // Valid time at the head: every record at its corrected value from its occurred date on.
    // 05-09: nothing has occurred.
    assert_eq!(totals(&l, &["--at", "2018-05-09"]), "WJ01 100, WJ02 100");
    // 05-10: D1 counts 1, not 3, though A1 was decided in June: it was wrong from the start.
    assert_eq!(totals(&l, &["--at", "2018-05-10"]), "WJ01 99, WJ02 100");
    // 05-12: D4 counts 6: WJ02 = 100 − 6 = 94.
    assert_eq!(totals(&l, &["--at", "2018-05-12"]), "WJ01 99, WJ02 94");
    // 05-15: D3 (removed) counts 0; B1 +1: WJ02 95.
    assert_eq!(totals(&l, &["--at", "2018-05-15"]), "WJ01 99, WJ02 95");
    // 05-20: D2 (reversed) counts 0.
    assert_eq!(totals(&l, &["--at", "2018-05-20"]), "WJ01 99, WJ02 95");
    // 05-25: D5 (rejected) counts 1: WJ02 94.
    assert_eq!(totals(&l, &["--at", "2018-05-25"]), "WJ01 99, WJ02 94");
    assert_eq!(totals(&l, &["--at", "2018-12-31"]), "WJ01 99, WJ02 94");

    // Both times: before a decision was known, the record counts as first recorded at every
    // valid time.
    // ≤ 12 at 05-10: D1 3: WJ01 97.
    assert_eq!(
        totals(&l, &["--at", "2018-05-10", "--as-of-seq", "12"]),
        "WJ01 97, WJ02 100"
    );
    assert_eq!(
        totals(
            &l,
            &["--at", "2018-05-10", "--known-at", "2018-06-15T01:59:59Z"]
        ),
        "WJ01 97, WJ02 100"
    );
    assert_eq!(
        totals(&l, &["--at", "2018-05-10", "--known-at", T3]),
        "WJ01 99, WJ02 100"
    );
    // ≤ 13 at 05-15: WJ01 D1 1 + D3 2 (A2 not yet decided) = 97;
    //   WJ02 D4 8 → cap 7, B1 +1: 94.
    assert_eq!(
        totals(&l, &["--at", "2018-05-15", "--as-of-seq", "13"]),
        "WJ01 97, WJ02 94"
    );
    // ≤ 16 at 05-20: WJ01 D1 1 + D2 1 (not yet reversed) + D3 0 = 98; WJ02 100 − 6 + 1 = 95.
    assert_eq!(
        totals(&l, &["--at", "2018-05-20", "--as-of-seq", "16"]),
        "WJ01 98, WJ02 95"
    );
    // Known at T2 at 05-20: WJ01 min(3 + 1, 3) + 2 → 95; WJ02 7 − 1 → 94 (D5 not yet occurred).
    assert_eq!(
        totals(&l, &["--at", "2018-05-20", "--known-at", T2]),
        "WJ01 95, WJ02 94"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The appeal window.

/// Filing on the window's last local (UTC+8) day succeeds; the next day is refused with dates.
#[test]
fn the_appeal_window_closes_after_fifteen_local_days() {
    let mut l = stations_at("2018-06-01T00:00:00Z");
    // Recorded at 23:59:59 local on 06-01: the window runs to 06-16.
    l.now = "2018-06-01T15:59:59Z".into();
    rec(&l, "E1", "1.3.a", "WJ01", "基层科", "2018-05-01", &[]);
    rec(&l, "E2", "1.3.b", "WJ01", "基层科", "2018-05-01", &[]);
    // Recorded at 04:00 local on 06-02 (06-01 in UTC): the window runs to 06-17.
    l.now = "2018-06-01T20:00:00Z".into();
    rec(&l, "F1", "1.3.c", "WJ01", "基层科", "2018-05-01", &[]);
    rec(&l, "F2", "1.3.d", "WJ01", "基层科", "2018-05-01", &[]);

    // 06-16 23:59:59 local: E's last day.
    l.now = "2018-06-16T15:59:59Z".into();
    file(&l, "AE1", "E1", "WJ01");
    // 06-17 00:00 local.
    l.now = "2018-06-16T16:00:00Z".into();
    let err = refused(&l, &appeal_args("AE2", "E2", "WJ01"), "against");
    assert_contains(&err, "closed on 2018-06-16");
    assert_contains(&err, "recorded on 2018-06-01");
    assert_contains(&err, "15 days");
    assert_contains(&err, "today is 2018-06-17");
    // F's last day, though F was recorded on 06-01 in UTC.
    file(&l, "AF1", "F1", "WJ01");

    // 06-18 local: F's window is closed too.
    l.now = "2018-06-17T16:00:00Z".into();
    let err = refused(&l, &appeal_args("AF2", "F2", "WJ01"), "against");
    assert_contains(&err, "closed on 2018-06-17");
    assert_contains(&err, "recorded on 2018-06-02");
    assert_contains(&err, "today is 2018-06-18");
    // In an import too, with the line; the decision on line 1 (no window) is not written.
    let err = import_refused(
        &l,
        &format!(
            "{}\n{}",
            r#"{"op":"decide","appeal":"AF1","outcome":"rejected","by":"基层科","reason":"r","evidence":["x"]}"#,
            r#"{"op":"appeal","id":"AF2","against":"F2","station":"WJ01","grounds":"g","evidence":["e"]}"#
        ),
        2,
        "against",
    );
    assert_contains(&err, "closed on 2018-06-17");
    // Filing an existing appeal again after the window is the same filing, not a new one.
    unchanged(&l, &appeal_args("AE1", "E1", "WJ01"));
    // Decisions come after the window.
    decide(&l, "AF1", "rejected", None, "基层科");
    decide(&l, "AE1", "upheld", None, "基层科");
    // WJ01 = 100 − 1.3 [E1 0 + E2 1 + F1 1 + F2 1 = 3] = 97.
    assert_eq!(total(&l, "WJ01"), "97");
}

// ---------------------------------------------------------------------------------------------
// 5. explain.

/// `explain` (text, JSON) tells each dispute with points before/after; earlier views only the filing.
#[test]
fn explain_tells_the_story_of_a_disputed_deduction() {
    let l = disputed();

    // WJ02 3.1: D4 8, capped at 7, A3 partial → 6.
    let text = l.ok(&["explain", "--station", "WJ02", "--item", "3.1"]);
    assert_contains(&text, "seq 6  D4  -8 (stands at -6)  fixed 8");
    assert_contains(
        &text,
        &format!("↳ appeal A3 filed by WJ02 (seq 11, {T2}): {GROUNDS}"),
    );
    assert_contains(&text, &format!("evidence: {APPEAL_EV}"));
    assert_contains(
        &text,
        &format!("↳ appeal A3 decided partial by 社矫科 (seq 15, {T4}): 8 → 6"),
    );
    assert_contains(&text, &format!("reason: {REASON}"));
    assert_contains(&text, &format!("evidence: {DECISION_EV}"));
    assert_contains(&text, "deducted 6");

    let events = explained_events(&l, "WJ02", "3.1", "3.1.c", &[]);
    let d4 = &events[0];
    assert_eq!(d4["id"], "D4");
    assert_eq!(
        (
            &d4["computed_points"],
            &d4["standing_points"],
            &d4["applied_points"]
        ),
        (&Value::from("8"), &Value::from("6"), &Value::from("6"))
    );
    let history = d4["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{d4}");
    let (filed, decided) = (&history[0], &history[1]);
    assert_eq!(filed["type"], "appeal_filed");
    assert_eq!(filed["id"], "A3");
    assert_eq!(filed["seq"], 11);
    assert_eq!(filed["station"], "WJ02");
    assert_eq!(filed["grounds"], GROUNDS);
    assert_eq!(filed["evidence"], serde_json::json!([APPEAL_EV]));
    assert_eq!(
        (&filed["points_before"], &filed["points_after"]),
        (&Value::from("8"), &Value::from("8"))
    );
    assert_eq!(filed["recorded_at"], T2);
    assert_eq!(decided["type"], "appeal_decided");
    assert_eq!(decided["appeal"], "A3");
    assert_eq!(decided["seq"], 15);
    assert_eq!(decided["outcome"], "partial");
    assert_eq!(decided["points"], "6");
    assert_eq!(decided["by"], "社矫科");
    assert_eq!(decided["reason"], REASON);
    assert_eq!(decided["evidence"], serde_json::json!([DECISION_EV]));
    assert_eq!(
        (&decided["points_before"], &decided["points_after"]),
        (&Value::from("8"), &Value::from("6"))
    );
    assert_eq!(decided["recorded_at"], T4);
    let hash = &decided["hash"];
    assert_eq!(hash.as_str().unwrap(), hash_of(&l, "15"));

    // Before the decision (as of seq 12, or known at T3): only the filing; the deduction
    // stands as recorded, the cap keeps 7 of it.
    for view in [&["--as-of-seq", "12"][..], &["--known-at", T3][..]] {
        let events = explained_events(&l, "WJ02", "3.1", "3.1.c", view);
        let d4 = &events[0];
        assert_eq!(d4["standing_points"], d4["computed_points"], "{view:?}");
        assert_eq!(d4["standing_points"], "8");
        assert_eq!(d4["applied_points"], "7");
        let history = d4["history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "{view:?}: {d4}");
        assert_eq!(history[0]["type"], "appeal_filed");
        assert_eq!(history[0]["id"], "A3");
    }
    let mut args = vec!["explain", "--station", "WJ02", "--item", "3.1"];
    args.extend(["--as-of-seq", "12"]);
    let before = l.ok(&args);
    assert_contains(&before, "↳ appeal A3 filed by WJ02");
    assert!(!before.contains("decided"), "{before}");
    assert!(!before.contains("stands at"), "{before}");
    assert_contains(&before, "(applied -7: the item cap of 7 was reached)");

    // In a valid-time view before the decision was made (but known now), the history is there.
    let events = explained_events(&l, "WJ02", "3.1", "3.1.c", &["--at", "2018-05-12"]);
    assert_eq!(events[0]["standing_points"], "6");
    assert_eq!(events[0]["history"].as_array().unwrap().len(), 2);

    // WJ01: partial, upheld and reversed.
    let text = l.ok(&["explain", "--station", "WJ01"]);
    assert_contains(&text, "seq 3  D1  -3 (stands at -1)");
    assert_contains(&text, "↳ appeal A1 decided partial by 基层科 (seq 13");
    assert_contains(&text, "): 3 → 1");
    assert_contains(&text, "seq 5  D3  -2 (stands at ");
    assert_contains(&text, "↳ appeal A2 decided upheld by 基层科 (seq 14");
    assert_contains(&text, "): 2 → 0");
    assert_contains(&text, "seq 4  D2  -1 (stands at ");
    assert_contains(
        &text,
        &format!("↳ reversed as R1 by 基层科 (seq 17, {T5}): 1 → 0"),
    );
    assert_contains(&text, &format!("reason: {REVERSE_REASON}"));
    assert_contains(&text, &format!("evidence: {REVERSE_EV}"));
    let events = explained_events(&l, "WJ01", "1.3", "1.3.b", &[]);
    let r = &events[0]["history"][0];
    assert_eq!(r["type"], "record_reversed");
    assert_eq!(r["id"], "R1");
    assert_eq!(r["by"], "基层科");
    assert_eq!(r["reason"], REVERSE_REASON);
    assert_eq!(r["evidence"], serde_json::json!([REVERSE_EV]));
    assert_eq!(
        (&r["points_before"], &r["points_after"]),
        (&Value::from("1"), &Value::from("0"))
    );
    assert_eq!(events[0]["standing_points"], "0");
    assert_eq!(events[0]["applied_points"], "0");
}

// ---------------------------------------------------------------------------------------------
// 6. appeal list.

/// `appeal list` (table, JSON) shows status, points and decision; `--station`, `--pending` filter.
#[test]
fn appeal_list_shows_status_points_and_decisions() {
    let fresh = stations_at(T0);
    assert_eq!(fresh.ok(&["appeal", "list"]), "no appeals\n");
    assert_eq!(appeal_list(&fresh, &[]).len(), 0);

    let mut l = disputed();
    l.now = T6.into();
    // D5 was kept (rejected) and D1 reduced (partial): each may be appealed again; D3 was
    // removed and D2 reversed.
    assert_eq!(file(&l, "A5", "D5", "WJ02"), 18);
    assert_eq!(file(&l, "A6", "D1", "WJ01"), 19);
    refused(&l, &appeal_args("A7", "D3", "WJ01"), "against");
    refused(&l, &appeal_args("A7", "D2", "WJ01"), "against");

    let all = appeal_list(&l, &[]);
    assert_eq!(ids(&all), ["A1", "A2", "A3", "A4", "A5", "A6"]);
    let field = |k: &str| all.iter().map(|a| a[k].clone()).collect::<Vec<_>>();
    let s = |x: &str| Value::from(x);
    assert_eq!(
        field("status"),
        [
            s("partial"),
            s("upheld"),
            s("partial"),
            s("rejected"),
            s("pending"),
            s("pending")
        ]
    );
    // A6 was filed against D1 as it stood after A1: 1 point.
    assert_eq!(
        field("points_before"),
        [s("3"), s("2"), s("8"), s("1"), s("1"), s("1")]
    );
    assert_eq!(
        field("points_after"),
        [s("1"), s("0"), s("6"), s("1"), Value::Null, Value::Null]
    );
    let a3 = &all[2];
    assert_eq!(a3["seq"], 11);
    assert_eq!(a3["station"], "WJ02");
    assert_eq!(a3["grounds"], GROUNDS);
    assert_eq!(a3["evidence"], serde_json::json!([APPEAL_EV]));
    assert_eq!(a3["filed_at"], T2);
    assert_eq!(a3["against"]["id"], "D4");
    assert_eq!(a3["against"]["seq"], 6);
    assert_eq!(a3["against"]["clause"], "3.1.c");
    assert_eq!(a3["against"]["item"], "3.1");
    assert_eq!(a3["against"]["computed_points"], "8");
    let d = &a3["decision"];
    assert_eq!(d["seq"], 15);
    assert_eq!(d["outcome"], "partial");
    assert_eq!(d["points"], "6");
    assert_eq!(d["by"], "社矫科");
    assert_eq!(d["reason"], REASON);
    assert_eq!(d["evidence"], serde_json::json!([DECISION_EV]));
    assert_eq!(d["decided_at"], T4);
    assert_eq!(all[1]["decision"]["outcome"], "upheld");
    assert_eq!(all[1]["decision"]["points"], Value::Null);
    assert_eq!(all[4]["decision"], Value::Null);

    assert_eq!(
        ids(&appeal_list(&l, &["--station", "WJ01"])),
        ["A1", "A2", "A6"]
    );
    assert_eq!(ids(&appeal_list(&l, &["--pending"])), ["A5", "A6"]);
    assert_eq!(
        ids(&appeal_list(&l, &["--station", "WJ02", "--pending"])),
        ["A5"]
    );
    l.fails(&["appeal", "list", "--station", "WJ99"], 2);

    let table = l.ok(&["appeal", "list"]);
    let row = |id: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row {id} in:\n{table}"))
            .to_string()
    };
    for (id, parts) in [
        (
            "A1",
            &["D1 (seq 3)", "1.3.a", "partial", "3 → 1", "基层科"][..],
        ),
        ("A2", &["D3 (seq 5)", "upheld", "2 → 0"][..]),
        (
            "A3",
            &[
                "WJ02",
                "D4 (seq 6)",
                "2018-06-12",
                "partial",
                "8 → 6",
                "社矫科",
                GROUNDS,
            ][..],
        ),
        ("A4", &["rejected", "1 → 1"][..]),
        ("A5", &["D5 (seq 7)", "2018-06-21", "pending"][..]),
    ] {
        let r = row(id);
        for p in parts {
            assert_contains(&r, p);
        }
    }
    let pending = l.ok(&["appeal", "list", "--pending", "--station", "WJ01"]);
    assert_contains(&pending, "A6");
    assert!(!pending.contains("A5"), "{pending}");

    // A6 upheld: D1 removed. WJ01 = 100 − 1.3 [0 + 0] − 1.2 [0] = 100.
    decide(&l, "A6", "upheld", None, "基层科");
    let a6 = appeal_list(&l, &["--station", "WJ01"]).pop().unwrap();
    assert_eq!(
        (&a6["status"], &a6["points_before"], &a6["points_after"]),
        (&s("upheld"), &s("1"), &s("0"))
    );
    assert_eq!(ids(&appeal_list(&l, &["--pending"])), ["A5"]);
    assert_eq!(totals(&l, &[]), "WJ01 100, WJ02 94");
    // As of seq 19, D1 stood at 1 after A1: 99.
    assert_eq!(totals(&l, &["--as-of-seq", "19"]), "WJ01 99, WJ02 94");
}

// ---------------------------------------------------------------------------------------------
// 7. Reversal and re-recording, on the bundled year.

/// Reversed and recorded anew for the right station; reversal, upheld and a zero partial
/// release units, a partial that leaves points does not.
#[test]
fn a_reversed_deduction_is_recorded_anew_and_releases_its_units() {
    let l = TestLedger::new();
    let out = l.run(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // From fixtures/README.md.
    assert_eq!(total(&l, "WJ02"), "93.8");
    assert_eq!(total(&l, "WJ03"), "94");
    let head_seq = l.event_count() as u64 - 1;

    // WJ02 has 5.1.b (max 3 units, 政治处) D023 count 2 and D061 count 1: full.
    let more = |id: &'static str, station: &'static str, count: &'static str| {
        record_args(
            id,
            "5.1.b",
            station,
            "政治处",
            "2018-11-20",
            &["--count", count],
        )
    };
    let err = refused(&l, &more("X1", "WJ02", "1"), "count");
    assert_contains(&err, "3 already recorded");

    // D061 was WJ03's. Only 政治处 owns 5.1.
    refused(&l, &reverse_args("R1", "D061", "办公室"), "by");
    let r1 = appended(&l, &reverse_args("R1", "D061", "政治处"));
    assert_eq!(r1, head_seq + 1);
    let re = appended(&l, &more("D061-WJ03", "WJ03", "1"));
    // WJ02 = 93.8 + 1 = 94.8; WJ03 = 94 − 1 = 93.
    assert_eq!(total(&l, "WJ02"), "94.8");
    assert_eq!(total(&l, "WJ03"), "93");
    // Before the reversal, as the ledger stood: D061 counted for WJ02.
    let at_r1 = r1.to_string();
    let v = scores_in(&l, &["--as-of-seq", &(r1 - 1).to_string()]);
    let of = |v: &Value, s: &str| {
        v["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["station"] == s)
            .unwrap()["total"]
            .clone()
    };
    assert_eq!(of(&v, "WJ02"), "93.8");
    // From the reversal's seq on, it counts for nothing.
    let v = scores_in(&l, &["--as-of-seq", &at_r1]);
    assert_eq!(of(&v, "WJ02"), "94.8");
    assert_eq!(of(&v, "WJ03"), "94");
    assert_eq!(
        of(&scores_in(&l, &["--as-of-seq", &re.to_string()]), "WJ03"),
        "93"
    );
    // At every valid time, even the day D061 occurred, it counts for nothing now.
    let v = scores_in(&l, &["--at", "2018-11-20"]);
    let v_before = scores_in(
        &l,
        &["--at", "2018-11-20", "--as-of-seq", &(r1 - 1).to_string()],
    );
    let wj02_at = |v: &Value| -> Decimal { of(v, "WJ02").as_str().unwrap().parse().unwrap() };
    assert_eq!(
        wj02_at(&v) - wj02_at(&v_before),
        Decimal::ONE,
        "{v} / {v_before}"
    );

    // One unit of WJ02 is free again, no more.
    appended(&l, &more("X1", "WJ02", "1"));
    refused(&l, &more("X2", "WJ02", "1"), "count");
    assert_eq!(total(&l, "WJ02"), "93.8");

    // An upheld appeal releases D023's 2 units.
    file(&l, "A1", "D023", "WJ02");
    decide(&l, "A1", "upheld", None, "政治处");
    // 93.8 + 2 = 95.8.
    assert_eq!(total(&l, "WJ02"), "95.8");
    refused(&l, &more("X2", "WJ02", "3"), "count");
    appended(&l, &more("X2", "WJ02", "2"));
    assert_eq!(total(&l, "WJ02"), "93.8");

    // A partial decision that leaves points standing keeps the units counted.
    file(&l, "A2", "X2", "WJ02");
    decide(&l, "A2", "partial", Some("1"), "政治处");
    // 93.8 + 1 = 94.8.
    assert_eq!(total(&l, "WJ02"), "94.8");
    refused(&l, &more("X3", "WJ02", "1"), "count");
    // One that leaves nothing standing removes the record, like upheld: its units are free.
    file(&l, "A3", "X2", "WJ02");
    decide(&l, "A3", "partial", Some("0"), "政治处");
    assert_eq!(total(&l, "WJ02"), "95.8");
    appended(&l, &more("X3", "WJ02", "1"));

    // The reversed and the removed cannot be reversed again.
    refused(&l, &reverse_args("R2", "D061", "政治处"), "target");
    refused(&l, &reverse_args("R2", "D023", "政治处"), "target");
    l.ok(&["verify"]);
}

/// The issue's example on the bundled year: WJ02 appeals D008, 社矫科 upholds it.
#[test]
fn the_issue_example_on_the_bundled_year() {
    let l = TestLedger::new();
    assert_eq!(l.now, TEST_NOW);
    let out = l.run(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = l.ok(&[
        "appeal",
        "file",
        "--against",
        "D008",
        "--station",
        "WJ02",
        "--grounds",
        GROUNDS,
        "--evidence",
        APPEAL_EV,
        "--id",
        "A1",
    ]);
    assert_contains(&text, "appeal A1 by WJ02 against seq 23");
    // 3.4.a 1 unit × 0.5; only 社矫科 decides (3.4).
    refused(&l, &decide_args("A1", "upheld", None, "基层科"), "by");
    refused(
        &l,
        &decide_args("A1", "partial", Some("1"), "社矫科"),
        "points",
    );
    let text = l.ok(&decide_args("A1", "upheld", None, "社矫科"));
    assert_contains(
        &text,
        "decision on appeal A1 (against seq 23): upheld by 社矫科",
    );
    // WJ02 = 93.8 + 0.5.
    assert_eq!(total(&l, "WJ02"), "94.3");
    let list = appeal_list(&l, &["--station", "WJ02"]);
    assert_eq!(ids(&list), ["A1"]);
    assert_eq!(
        (&list[0]["points_before"], &list[0]["points_after"]),
        (&Value::from("0.5"), &Value::from("0"))
    );
    assert_eq!(appeal_list(&l, &["--station", "WJ01"]).len(), 0);
}

// ---------------------------------------------------------------------------------------------
// 8. verify.

/// `verify` passes with disputes in the ledger, its export and an export prefix.
#[test]
fn verify_passes_with_appeals_and_on_the_export() {
    let mut l = disputed();
    l.now = T6.into();
    file(&l, "A5", "D5", "WJ02");
    let text = l.ok(&["verify"]);
    assert_contains(&text, "ok: 19 events verified");
    let v = ok_json(&l, &["verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["events"], 19);

    let export = l.ok(&["export"]);
    assert_eq!(export.lines().count(), 19);
    let file = l.path("export.jsonl");
    std::fs::write(&file, &export).unwrap();
    let text = l.ok(&["verify", "--export", file.to_str().unwrap()]);
    assert_contains(&text, "ok: 19 events verified");
    let head = v["head"].as_str().unwrap();
    assert_contains(&text, head);
    l.ok(&[
        "verify",
        "--export",
        file.to_str().unwrap(),
        "--head",
        &hash_of(&l, "15"),
    ]);

    let prefix = l.ok(&["export", "--as-of-seq", "13"]);
    let file = l.path("prefix.jsonl");
    std::fs::write(&file, &prefix).unwrap();
    let text = l.ok(&["verify", "--export", file.to_str().unwrap()]);
    assert_contains(&text, "ok: 14 events verified");
}

// ---------------------------------------------------------------------------------------------
// 9. References by seq and by hash.

/// Appeals, decisions and reversals name events by seq or hash (from `show`/`log --json`).
#[test]
fn appeals_name_deductions_by_seq_and_by_hash() {
    let mut l = stations_at(T0);
    l.now = T1.into();
    let d1 = rec(
        &l,
        "D1",
        "3.1.e",
        "WJ02",
        "社矫科",
        "2018-05-12",
        &["--count", "1"],
    );
    let d2 = rec(&l, "D2", "1.3.a", "WJ02", "基层科", "2018-05-13", &[]);
    let d3 = rec(&l, "D3", "1.3.b", "WJ02", "基层科", "2018-05-14", &[]);
    let b1 = rec(&l, "B1", "B.2.a", "WJ02", "宣教科", "2018-05-15", &[]);
    assert_eq!((d1, d2, d3, b1), (3, 4, 5, 6));
    l.now = T2.into();

    // By seq.
    let v = ok_json(&l, &appeal_args("A1", "3", "WJ02"));
    assert_eq!(
        (&v["status"], &v["against"]),
        (&Value::from("appended"), &Value::from(3))
    );
    // By hash, from `show --json`, in capitals too.
    let h2 = hash_of(&l, "D2");
    let v = ok_json(&l, &appeal_args("A2", &h2.to_uppercase(), "WJ02"));
    assert_eq!(v["against"], 4);
    // By hash from `log --json`, in an import line; a seq as a JSON number.
    let log: Vec<Value> = l
        .ok(&["log", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let a1_hash = log.iter().find(|e| e["id"] == "A1").expect("A1 in the log")["hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(a1_hash, hash_of(&l, "7"));
    let decide_line = format!(
        r#"{{"op":"decide","appeal":"{a1_hash}","outcome":"partial","points":"1","by":"社矫科","reason":"r","evidence":["x"]}}"#
    );
    let batch = format!(
        "{decide_line}\n{}\n",
        r#"{"op":"appeal","id":"A3","against":5,"station":"WJ02","grounds":"g","evidence":["e"]}"#,
    );
    assert_eq!(import_ok(&l, &batch)["appended"], 2);
    let list = appeal_list(&l, &[]);
    assert_eq!(ids(&list), ["A1", "A2", "A3"]);
    assert_eq!(list[0]["points_after"], "1");
    assert_eq!(list[2]["against"]["id"], "D3");
    // Decide A2 by its seq.
    l.now = T3.into();
    let v = ok_json(&l, &decide_args("8", "rejected", None, "基层科"));
    assert_eq!(
        (&v["appeal"], &v["outcome"]),
        (&Value::from("A2"), &Value::from("rejected"))
    );
    // Reverse the bonus by its hash (a bonus may be reversed, not appealed).
    refused(&l, &appeal_args("AX", "B1", "WJ02"), "against");
    let hb = hash_of(&l, "B1");
    let v = ok_json(&l, &reverse_args("R1", &hb, "宣教科"));
    assert_eq!(v["target"], 6);
    // WJ02 = 100 − 3.1 [D1 1] − 1.3 [D2 3 + D3 1 → cap 3] + 0 = 96.
    assert_eq!(total(&l, "WJ02"), "96");
    // A metric report cannot be reversed or appealed, however named.
    appended(
        &l,
        &[
            "metric",
            "--id",
            "M1",
            "--station",
            "WJ02",
            "--metric",
            "dispute_entry_rate",
            "--value",
            "90",
            "--by",
            "基层科",
            "--occurred",
            "2018-05-31",
            "--evidence",
            EV,
        ],
    );
    let m = hash_of(&l, "M1");
    for key in ["M1", m.as_str()] {
        refused(&l, &appeal_args("AX", key, "WJ02"), "against");
        refused(&l, &reverse_args("RX", key, "基层科"), "target");
    }
    l.ok(&["verify"]);
}

// ---------------------------------------------------------------------------------------------
// Found while writing these tests.

/// Regression: the write path checked the appeal window against the clock, the audit against
/// the stored recorded time (never earlier than the head's); an appeal accepted with a clock
/// behind the head then failed `verify`. An appeal the write path accepts must verify.
#[test]
fn an_appeal_filed_with_a_clock_behind_the_head_still_verifies() {
    let mut l = stations_at(T0);
    // D1 recorded on 06-01 local: its window runs to 06-16.
    l.now = "2018-06-01T02:00:00Z".into();
    rec(&l, "D1", "1.3.a", "WJ01", "基层科", "2018-05-20", &[]);
    // Another writer, whose clock says 06-20, records something.
    l.now = "2018-06-20T02:00:00Z".into();
    rec(&l, "D2", "1.3.b", "WJ01", "基层科", "2018-05-20", &[]);
    // A writer whose clock says 06-10 files an appeal: within the window by its clock, but the
    // event is stored as recorded at 06-20 (recorded times never go back).
    l.now = "2018-06-10T02:00:00Z".into();
    let before = l.ok(&["export"]);
    let out = l.run(&appeal_args("A1", "D1", "WJ01"));
    match out.code {
        // Refusing it (the stored day is past the window) would be consistent.
        2 => assert_eq!(l.ok(&["export"]), before),
        // Accepting it must leave a ledger that verifies.
        0 => {
            let v = l.run(&["verify"]);
            assert_eq!(
                v.code, 0,
                "the appeal was accepted, then verify failed: {}{}",
                v.stdout, v.stderr
            );
        }
        code => panic!("exit {code}: {}", out.stderr),
    }
}
