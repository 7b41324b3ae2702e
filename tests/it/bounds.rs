//! The smaller promises of issue 13: a clock far from the ledger's time is refused, a ledger
//! holds at most `MAX_STATIONS` stations, and the messages for too-large counts, impossible
//! dates and too-precise figures are the same wherever the input comes from; every `record`
//! flag has help text. (CSV formula injection is in `reconcile.rs`; the closing event at
//! `MAX_STATIONS` is built in `events::codec`'s tests.)

use crate::harness::{rubric_path, TestLedger};
use kaohe::limits::{MAX_COUNT, MAX_STATIONS};

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// `record` arguments for clause 1.3.a (fixed points) of WJ01, occurred on 2018-06-01.
fn record_args(id: &str) -> Vec<&str> {
    vec![
        "record",
        "--id",
        id,
        "--clause",
        "1.3.a",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence",
        "E",
    ]
}

/// The recorded time of the last event, from the export.
fn last_recorded_at(l: &TestLedger) -> String {
    let export = l.ok(&["export"]);
    let last: serde_json::Value =
        serde_json::from_str(export.lines().last().expect("an event")).expect("JSON");
    last["recorded_at"]
        .as_str()
        .expect("recorded_at")
        .to_string()
}

/// Regression: a clock behind the ledger's last event was silently raised to its time, however
/// far behind (a clock reset to 2000 stamped the head's time into every later event). Within a
/// day it still is; more than a day behind is refused, naming both times, with nothing written.
#[test]
fn a_clock_more_than_a_day_behind_the_head_is_refused() {
    let mut l = TestLedger::with_stations_at("2018-06-20T08:00:00Z");
    // 23 hours behind: stored at the head's time, as before.
    l.now = "2018-06-19T09:00:00Z".into();
    l.ok(&record_args("D1"));
    assert_eq!(last_recorded_at(&l), "2018-06-20T08:00:00Z");

    for clock in ["2018-06-19T07:59:59Z", "2000-01-01T00:00:00Z"] {
        l.now = clock.into();
        let before = l.ok(&["export"]);
        let err = l.fails(&record_args("D2"), 2);
        assert_contains(&err, &format!("the clock says {clock}"));
        assert_contains(
            &err,
            "before the ledger's last event (2018-06-20T08:00:00Z)",
        );
        assert_contains(&err, "more than 1 day behind is refused");
        assert_eq!(l.ok(&["export"]), before, "nothing written");
    }
}

/// Regression: a clock far ahead (a year typed wrong, a dead clock battery) was stamped into
/// the event and, since recorded times never go back, into every later one. A clock more than
/// 366 days past both the last event and the period's end is refused; a ledger idle for
/// months is not.
#[test]
fn a_clock_far_past_the_head_and_the_period_is_refused() {
    let mut l = TestLedger::with_stations_at("2018-03-01T08:00:00Z");
    // More than 366 days past both the last event and the period's end (local midnight after
    // 2018-12-31, 2018-12-31T16:00Z).
    for clock in ["2020-01-02T08:00:00Z", "2081-06-01T00:00:00Z"] {
        l.now = clock.into();
        let before = l.ok(&["export"]);
        let err = l.fails(&record_args("D2"), 2);
        assert_contains(&err, &format!("the clock says {clock}"));
        assert_contains(&err, "after the ledger's last event (2018-03-01T08:00:00Z)");
        assert_contains(&err, "more than 366 days past both is refused");
        assert_eq!(l.ok(&["export"]), before, "nothing written");
        // The close stamps the clock too.
        assert_contains(&l.fails(&["close"], 2), &format!("the clock says {clock}"));
    }
    // Idle for most of a year and more, but within 366 days of the period's end: accepted.
    l.now = "2019-12-31T08:00:00Z".into();
    l.ok(&record_args("D1"));
    // The last event moves the bound on.
    l.now = "2020-01-02T08:00:00Z".into();
    l.ok(&record_args("D2"));
    l.now = "2021-01-04T08:00:00Z".into();
    assert_contains(&l.fails(&record_args("D3"), 2), "366 days");
}

/// Regression: nothing bounded the stations of a ledger, and at 1,000,000 the closing event
/// was too big to encode, so the year could never be closed. One more than `MAX_STATIONS` is
/// refused naming the line, with nothing written.
#[test]
fn more_than_max_stations_are_refused() {
    let l = TestLedger::new();
    let lines: String = (0..=MAX_STATIONS)
        .map(|n| {
            format!(r#"{{"op":"station","code":"S{n:06}","name":"所{n}","kind":"town"}}"#) + "\n"
        })
        .collect();
    let out = l.import(&lines);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_contains(
        &out.stderr,
        &format!("line {}: field `code`", MAX_STATIONS + 1),
    );
    assert_contains(
        &out.stderr,
        &format!("more than {MAX_STATIONS} stations in one ledger"),
    );
    assert_eq!(l.event_count(), 1, "nothing written");
}

/// A count above its bound says "more than N", on the command line and in an import.
#[test]
fn a_too_large_count_is_more_than_the_bound() {
    let l = TestLedger::with_stations();
    let too_many = (MAX_COUNT + 1).to_string();
    let mut args = record_args("C1");
    args[4] = "1.2.a";
    args.extend(["--count", &too_many]);
    let err = l.fails(&args, 2);
    assert_contains(
        &err,
        &format!("field `count`: {too_many} is more than {MAX_COUNT}"),
    );
    let out = l.import(&format!(
        r#"{{"op":"record","clause":"1.2.a","station":"WJ01","by":"基层科","occurred":"2018-06-01","evidence":["E"],"count":{too_many}}}"#
    ));
    assert_eq!(out.code, 2);
    assert_contains(
        &out.stderr,
        &format!("line 1: field `count`: {too_many} is more than {MAX_COUNT}"),
    );
}

/// A date written YYYY-MM-DD that the calendar does not have is "no such day" (flags, import
/// lines, `--at`, the rubric); other text is "not a date YYYY-MM-DD".
#[test]
fn a_day_the_calendar_lacks_is_no_such_day() {
    let l = TestLedger::with_stations();
    let mut args = record_args("N1");
    args[10] = "2018-02-29";
    assert_contains(
        &l.fails(&args, 2),
        "field `occurred`: `2018-02-29`: no such day",
    );
    args[10] = "2018-13-01";
    assert_contains(&l.fails(&args, 2), "`2018-13-01`: no such day");
    args[10] = "2018/02/28";
    assert_contains(&l.fails(&args, 2), "`2018/02/28` is not a date YYYY-MM-DD");
    let out = l.import(
        r#"{"op":"record","clause":"1.3.a","station":"WJ01","by":"基层科","occurred":"2018-02-29","evidence":["E"]}"#,
    );
    assert_contains(
        &out.stderr,
        "line 1: field `occurred`: `2018-02-29`: no such day",
    );
    assert_contains(
        &l.fails(&["score", "--at", "2018-02-29"], 2),
        "--at `2018-02-29`: no such day",
    );

    let rubric = std::fs::read_to_string(rubric_path()).unwrap().replacen(
        "period_end = \"2018-12-31\"",
        "period_end = \"2018-02-29\"",
        1,
    );
    assert!(
        rubric.contains("2018-02-29"),
        "the rubric names its period end"
    );
    let file = l.path("bad-rubric.toml");
    std::fs::write(&file, rubric).unwrap();
    let fresh = TestLedger::empty();
    let err = fresh.fails(&["init", "--rubric", file.to_str().unwrap()], 2);
    assert_contains(&err, "`2018-02-29`: no such day");
}

/// A figure with too many places has one message, whether given as a flag, a JSON string or
/// a JSON number (in exponent form too, or with more digits than a decimal holds): it names
/// the figure as given.
#[test]
fn a_too_precise_figure_has_one_message_everywhere() {
    let l = TestLedger::with_stations();
    let record = |value: &str| {
        format!(
            r#"{{"op":"record","clause":"1.1.a","station":"WJ01","by":"基层科","occurred":"2018-06-01","evidence":["E"],"value":{value}}}"#
        )
    };
    for (given, shown) in [
        ("1.1234567", "1.1234567"),
        ("\"1.1234567\"", "1.1234567"),
        // (serde_json spells the exponent with its sign)
        ("1.1234567e0", "1.1234567e+0"),
        ("1e-30", "1e-30"),
        (
            "0.12345678901234567890123456789012",
            "0.12345678901234567890123456789012",
        ),
    ] {
        let out = l.import(&record(given));
        assert_eq!(out.code, 2, "{given}");
        assert_contains(
            &out.stderr,
            &format!("line 1: field `value`: `{shown}` has more than 6 decimal places"),
        );
    }
    for given in ["1.1234567", "0.12345678901234567890123456789012"] {
        let mut args = record_args("P1");
        args[4] = "1.1.a";
        args.extend(["--value", given]);
        assert_contains(
            &l.fails(&args, 2),
            &format!("field `value`: `{given}` has more than 6 decimal places"),
        );
    }
}

/// Every flag of `record` says what it is for in `record --help`.
#[test]
fn every_record_flag_has_help() {
    let l = TestLedger::empty();
    let help = l.ok(&["record", "--help"]);
    let flags: Vec<&str> = help
        .lines()
        .filter(|line| line.trim_start().starts_with("--") || line.trim_start().starts_with("-h"))
        .collect();
    assert!(flags.len() >= 15, "{help}");
    for line in flags {
        let t = line.trim_start();
        let flag = t.split_whitespace().next().unwrap_or_default();
        let rest = t[flag.len()..].trim_start();
        // `--clause <CLAUSE>  text`: what is left after the value name is the help.
        let after = if rest.starts_with('<') {
            rest.split_once('>').map_or("", |(_, h)| h)
        } else {
            rest
        };
        assert!(!after.trim().is_empty(), "`{flag}` has no help: {line:?}");
    }
}
