//! One rulebook: what the write path refuses, the audit refuses in the same words. Each case
//! asks the command line for a record that breaks a rule (refused, exit 2), then forges the
//! same record into the chain (the last event of an export, re-encoded and re-linked so that
//! every hash holds) and asks `verify --export`, which must fail at that event with the rule's
//! own message. Guards the promise of `domain::rules`: the two paths cannot drift apart again
//! (before it, the audit said "unknown clause" where the write path said "unknown clause `X`",
//! and "does not assess" without naming who does).

use crate::harness::{Output, TestLedger};
use kaohe::internals::events::event::{Body, EventKind, PointsRecorded};
use kaohe::internals::events::{chain, codec};
use serde_json::Value;

/// A ledger (clock at `now`) with WJ01 and WJ02 and one 1.6.c record by 基层科 at WJ01, and
/// its export.
fn ledger_with_a_record(now: &str) -> (TestLedger, Vec<String>) {
    let l = TestLedger::with_stations_at(now);
    let mut first = record_args("1.6.c", "基层科", "2018-06-15");
    *first.last_mut().expect("the id") = "R1";
    l.ok(&first);
    let lines = l.ok(&["export"]).lines().map(str::to_string).collect();
    (l, lines)
}

fn record_args<'a>(clause: &'a str, by: &'a str, occurred: &'a str) -> Vec<&'a str> {
    vec![
        "record",
        "--clause",
        clause,
        "--station",
        "WJ01",
        "--by",
        by,
        "--occurred",
        occurred,
        "--value",
        "95",
        "--evidence",
        "通报",
        "--id",
        "R2",
    ]
}

/// The rule's message in a refusal: what follows "field `F`: ".
fn rule_message(stderr: &str) -> String {
    let at = stderr
        .find("`: ")
        .unwrap_or_else(|| panic!("not a field refusal: {stderr}"));
    stderr[at + 3..].trim().to_string()
}

/// The export with its last record edited and re-chained, checked by `verify --export`.
fn verify_forged(
    l: &TestLedger,
    lines: &[String],
    edit: impl FnOnce(&mut PointsRecorded),
) -> Output {
    let mut lines = lines.to_vec();
    let last = lines.len() - 1;
    let v: Value = serde_json::from_str(&lines[last]).expect("export line");
    let prev = chain::parse_hash(v["prev_hash"].as_str().expect("prev_hash")).expect("hash");
    let bytes = hex::decode(v["body"].as_str().expect("body")).expect("hex");
    let mut body = codec::decode(&bytes).expect("decodes");
    let Body::V1(e) = &mut body else {
        panic!("an unsigned event")
    };
    let EventKind::PointsRecorded(p) = &mut e.kind else {
        panic!("the last event is the record")
    };
    edit(p);
    let bytes = codec::encode(&body).expect("encodes");
    let hash = chain::link(&prev, &bytes);
    lines[last] = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
    let file = l.path("forged.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write export");
    l.run(&["verify", "--export", file.to_str().expect("utf-8 path")])
}

/// The write path's refusal of `args`, and the audit's verdict on the forged event: the same
/// rule message, at the forged event's seq.
fn same_words(
    l: &TestLedger,
    lines: &[String],
    args: &[&str],
    edit: impl FnOnce(&mut PointsRecorded),
) {
    let message = rule_message(&l.fails(args, 2));
    let out = verify_forged(l, lines, edit);
    assert_eq!(out.code, 1, "the forgery verifies: {}", out.stdout);
    let seq = lines.len() - 1;
    assert!(
        out.stderr.contains(&format!("at seq {seq}")),
        "not blamed on seq {seq}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&message),
        "the audit's words differ from the write path's\n write path: {message}\n audit:      {}",
        out.stderr
    );
}

#[test]
fn an_occurred_date_outside_the_period_is_refused_in_the_same_words() {
    let (l, lines) = ledger_with_a_record(crate::harness::TEST_NOW);
    same_words(
        &l,
        &lines,
        &record_args("1.6.c", "基层科", "2017-06-15"),
        |p| p.occurred = jiff::civil::date(2017, 6, 15),
    );
}

#[test]
fn an_occurred_date_in_the_future_is_refused_in_the_same_words() {
    let (l, lines) = ledger_with_a_record("2018-06-20T08:00:00Z");
    same_words(
        &l,
        &lines,
        &record_args("1.6.c", "基层科", "2018-07-01"),
        |p| p.occurred = jiff::civil::date(2018, 7, 1),
    );
}

#[test]
fn a_department_that_does_not_assess_the_item_is_refused_in_the_same_words() {
    let (l, lines) = ledger_with_a_record(crate::harness::TEST_NOW);
    same_words(
        &l,
        &lines,
        &record_args("1.6.c", "社矫科", "2018-06-15"),
        |p| p.by = "社矫科".into(),
    );
}

#[test]
fn an_unknown_department_is_refused_in_the_same_words() {
    let (l, lines) = ledger_with_a_record(crate::harness::TEST_NOW);
    same_words(
        &l,
        &lines,
        &record_args("1.6.c", "财务科", "2018-06-15"),
        |p| p.by = "财务科".into(),
    );
}

#[test]
fn an_unknown_clause_is_refused_in_the_same_words() {
    let (l, lines) = ledger_with_a_record(crate::harness::TEST_NOW);
    same_words(
        &l,
        &lines,
        &record_args("1.6.z", "基层科", "2018-06-15"),
        |p| p.clause = "1.6.z".into(),
    );
}
