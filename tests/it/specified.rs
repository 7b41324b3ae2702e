//! The documents are the specification (issue 13): every rule the writers enforce on a field,
//! the audit enforces on the stored event in the same words (`schema/EVENTS.md`, "Rules every
//! event obeys"); a `blake3:` reference names a file the ledger holds; hex is lower case in
//! every file kaohe checks byte for byte, and either case where a person types a hash to look
//! something up.

use crate::harness::{Output, TestLedger};
use kaohe::internals::events::event::{Body, EventKind};
use kaohe::internals::events::{chain, codec};
use serde_json::{json, Value};

/// The export of `l` with its last event edited and re-chained (every hash holds), checked by
/// `verify --export`.
fn verify_forged(l: &TestLedger, edit: impl FnOnce(&mut EventKind)) -> (Output, u64) {
    let mut lines: Vec<String> = l.ok(&["export"]).lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    let v: Value = serde_json::from_str(&lines[last]).expect("export line");
    let prev = chain::parse_hash(v["prev_hash"].as_str().expect("prev_hash")).expect("hash");
    let bytes = hex::decode(v["body"].as_str().expect("body")).expect("hex");
    let mut body = codec::decode(&bytes).expect("decodes");
    let Body::V1(e) = &mut body else {
        panic!("an unsigned event")
    };
    edit(&mut e.kind);
    let bytes = codec::encode(&body).expect("encodes");
    let hash = chain::link(&prev, &bytes);
    lines[last] = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
    let file = l.path("forged.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write export");
    let out = l.run(&["verify", "--export", file.to_str().expect("utf-8 path")]);
    (out, last as u64)
}

/// What follows "field `F`: " in a refusal, with the field: the rule's own words.
fn rule_words(stderr: &str) -> String {
    let at = stderr
        .find("field `")
        .unwrap_or_else(|| panic!("not a field refusal: {stderr}"));
    stderr[at..].trim().to_string()
}

/// The write path refuses `line` (an import line, exit 2, nothing written) and the audit
/// refuses the last event edited by `edit`, at its seq, with the same field and words.
#[track_caller]
fn same_words(l: &TestLedger, line: &Value, edit: impl FnOnce(&mut EventKind)) {
    let before = l.ok(&["export"]);
    let out = l.import(&format!("{line}\n"));
    assert_eq!(out.code, 2, "the write path accepts {line}: {}", out.stdout);
    assert_eq!(
        l.ok(&["export"]),
        before,
        "a refused import wrote something"
    );
    let words = rule_words(&out.stderr);
    let (out, seq) = verify_forged(l, edit);
    assert_eq!(out.code, 1, "the forgery verifies: {}", out.stdout);
    assert!(
        out.stderr.contains(&format!("at seq {seq}")),
        "not blamed on seq {seq}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&words),
        "the audit's words differ from the write path's\n write path: {words}\n audit:      {}",
        out.stderr
    );
}

fn record_line(id: &str) -> Value {
    json!({"op": "record", "id": id, "clause": "1.6.c", "station": "WJ01", "by": "基层科",
        "occurred": "2018-06-15", "value": "95", "evidence": ["通报"]})
}

fn metric_line(id: &str) -> Value {
    json!({"op": "metric", "id": id, "station": "WJ01", "metric": "dispute_entry_rate",
        "value": "100", "by": "基层科", "occurred": "2018-06-15", "evidence": ["统计表"]})
}

/// A ledger with WJ01 and WJ02 whose last event is `line`.
fn ledger_ending_with(line: &Value) -> TestLedger {
    let l = TestLedger::with_stations();
    let out = l.import(&format!("{line}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    l
}

fn with(mut line: Value, field: &str, value: Value) -> Value {
    line[field] = value;
    line
}

fn points(kind: &mut EventKind) -> &mut kaohe::internals::events::event::PointsRecorded {
    match kind {
        EventKind::PointsRecorded(p) => p,
        other => panic!("the last event is a {}", other.type_name()),
    }
}

/// Guards issue 13: `verify` accepted a record with no evidence reference, which the write
/// path refuses.
#[test]
fn a_record_without_evidence_is_refused_by_both_paths() {
    let l = ledger_ending_with(&record_line("R1"));
    same_words(&l, &with(record_line("R2"), "evidence", json!([])), |k| {
        points(k).evidence.clear()
    });
}

/// Guards issue 13: `verify` accepted a metric report with no evidence reference.
#[test]
fn a_report_without_evidence_is_refused_by_both_paths() {
    let l = ledger_ending_with(&metric_line("M1"));
    same_words(&l, &with(metric_line("M2"), "evidence", json!([])), |k| {
        let EventKind::MetricReported(m) = k else {
            panic!("the last event is the report")
        };
        m.evidence.clear();
    });
}

/// Guards issue 13: `verify` accepted an evidence reference over 256 characters; also every
/// other evidence rule (too many, empty, invisible characters, a malformed `blake3:`).
#[test]
fn every_evidence_rule_is_enforced_by_both_paths() {
    let long = "证".repeat(257);
    let many: Vec<String> = (0..33).map(|i| format!("E{i}")).collect();
    let upper = format!("blake3:{}", "AB".repeat(32));
    let cases: Vec<Vec<String>> = vec![
        vec![long.clone()],
        many.clone(),
        vec!["通报".into(), "a\u{200B}b".into()],
        vec!["x\u{7}y".into()],
        vec![upper.clone()],
        vec!["blake3:1234".into()],
    ];
    for refs in cases {
        let l = ledger_ending_with(&record_line("R1"));
        let line = with(record_line("R2"), "evidence", json!(refs));
        same_words(&l, &line, |k| points(k).evidence = refs.clone());
    }
    // An entry that is empty or padded (the parser trims; a forged one is refused as such).
    let l = ledger_ending_with(&record_line("R1"));
    same_words(
        &l,
        &with(record_line("R2"), "evidence", json!(["  "])),
        |k| points(k).evidence = vec![String::new()],
    );
    let (out, _) = verify_forged(&l, |k| points(k).evidence = vec![" 通报".into()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("field `evidence`: entry 1 begins or ends with white space"),
        "{}",
        out.stderr
    );
}

/// Guards issue 13: the audit did not bound a record's id and note, a station's code and name,
/// an appeal's grounds; now each is refused in the parser's words.
#[test]
fn every_text_rule_is_enforced_by_both_paths() {
    let long_note = "注".repeat(2001);
    let l = ledger_ending_with(&record_line("R1"));
    same_words(
        &l,
        &with(record_line("R2"), "note", json!(long_note)),
        |k| points(k).inputs.note = Some(long_note.clone()),
    );
    same_words(
        &l,
        &with(record_line("R2"), "note", json!("a\u{202E}b")),
        |k| points(k).inputs.note = Some("a\u{202E}b".into()),
    );
    same_words(&l, &record_line("R 2"), |k| points(k).id = "R 2".into());
    same_words(&l, &record_line(&"R".repeat(65)), |k| {
        points(k).id = "R".repeat(65)
    });
    // An id in the ledger's own form must be the event's own seq.
    same_words(&l, &record_line("auto-1"), |k| {
        points(k).id = "auto-1".into()
    });
    let (out, _) = verify_forged(&l, |k| points(k).id = "auto-3".into());
    assert_eq!(
        out.code, 0,
        "auto-<its seq> is the ledger's id: {}",
        out.stderr
    );

    let s = TestLedger::with_stations();
    let station = json!({"op": "station", "code": "WJ03", "name": "所", "kind": "town"});
    same_words(
        &s,
        &with(station.clone(), "name", json!("所".repeat(65))),
        |k| {
            let EventKind::StationRegistered(r) = k else {
                panic!("the last event is a station")
            };
            r.name = "所".repeat(65);
        },
    );
    same_words(&s, &with(station, "code", json!("WJ 03")), |k| {
        let EventKind::StationRegistered(r) = k else {
            panic!("the last event is a station")
        };
        r.code = "WJ 03".into();
    });

    let a = ledger_ending_with(&record_line("D1"));
    let appeal = json!({"op": "appeal", "id": "A1", "against": "D1", "station": "WJ01",
        "grounds": "有误", "evidence": ["说明"]});
    a.import(&format!("{appeal}\n"));
    let long = "由".repeat(2001);
    same_words(&a, &with(appeal, "grounds", json!(long)), |k| {
        let EventKind::AppealFiled(x) = k else {
            panic!("the last event is the appeal")
        };
        x.grounds = long.clone();
    });
}

/// Guards issue 13: the audit did not bound a record's figures and counts as the parser does
/// (decimal places, size, `count`, `done`) nor a report's value; now it does, in the same words.
#[test]
fn every_figure_rule_is_enforced_by_both_paths() {
    let l = ledger_ending_with(&record_line("R1"));
    let precise = rust_decimal::Decimal::new(951_234_567, 7);
    same_words(
        &l,
        &with(record_line("R2"), "value", json!("95.1234567")),
        |k| points(k).inputs.value = Some(precise),
    );
    let huge = rust_decimal::Decimal::from(2_000_000_000i64);
    same_words(
        &l,
        &with(record_line("R2"), "value", json!("2000000000")),
        |k| points(k).inputs.value = Some(huge),
    );
    same_words(&l, &with(record_line("R2"), "done", json!(10_001)), |k| {
        points(k).inputs.done = Some(10_001)
    });
    let c = TestLedger::with_stations();
    let counted = json!({"op": "record", "id": "C1", "clause": "1.3.a", "station": "WJ01",
        "by": "基层科", "occurred": "2018-05-10", "evidence": ["通报"]});
    assert_eq!(c.import(&format!("{counted}\n")).code, 0);
    same_words(
        &c,
        &with(with(counted, "id", json!("C2")), "count", json!(10_001)),
        |k| points(k).inputs.count = Some(10_001),
    );
    let m = ledger_ending_with(&metric_line("M1"));
    same_words(
        &m,
        &with(metric_line("M2"), "value", json!("100.0000001")),
        |k| {
            let EventKind::MetricReported(x) = k else {
                panic!("the last event is the report")
            };
            x.value = rust_decimal::Decimal::new(1_000_000_001, 7);
        },
    );
}

/// Guards issue 13: a typed `blake3:` reference to a file the ledger does not hold was
/// accepted and then failed `verify --evidence` forever. Now the write path refuses it (exit 2,
/// nothing written) from flags and from an import line; a reference to a file stored earlier
/// (by `--evidence-file`) is accepted.
#[test]
fn a_reference_to_a_file_not_stored_is_refused() {
    let l = TestLedger::with_stations();
    let missing = hex::encode(chain::file_hash(b"never stored"));
    let reference = format!("blake3:{missing} 照片.png");
    let before = l.ok(&["export"]);
    let err = l.fails(
        &[
            "record",
            "--clause",
            "1.6.c",
            "--station",
            "WJ01",
            "--by",
            "基层科",
            "--occurred",
            "2018-06-15",
            "--value",
            "95",
            "--evidence",
            &reference,
        ],
        2,
    );
    assert!(
        err.contains(&format!(
            "entry 1 names the file blake3:{missing}, which this ledger does not hold"
        )),
        "{err}"
    );
    let out = l.import(&format!(
        "{}\n",
        with(record_line("R1"), "evidence", json!(["通报", reference]))
    ));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("entry 2 names the file"),
        "{}",
        out.stderr
    );
    assert_eq!(
        l.ok(&["export"]),
        before,
        "a refused command wrote something"
    );

    // A file attached once may be referenced again by hash.
    let file = l.path("photo.png");
    std::fs::write(&file, b"a photo").expect("write");
    l.ok(&[
        "record",
        "--id",
        "R1",
        "--clause",
        "1.6.c",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-15",
        "--value",
        "95",
        "--evidence-file",
        file.to_str().expect("utf-8"),
    ]);
    let stored = hex::encode(chain::file_hash(b"a photo"));
    let line = with(
        metric_line("M1"),
        "evidence",
        json!([format!("blake3:{stored}")]),
    );
    let out = l.import(&format!("{line}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    l.ok(&["verify", "--evidence"]);
}

/// Guards issue 13: the close's reason was not bounded; it now obeys the same text rule as
/// every reason, on the write path (exit 2, nothing written) and in the audit.
#[test]
fn a_close_reason_obeys_the_text_rule() {
    let l = TestLedger::with_stations();
    // A gap: WJ02's dispute_entry_rate 90 < 100 with no 1.1.a deduction.
    let gap = with(metric_line("M1"), "value", json!("90"));
    let out = l.import(&format!("{}\n", with(gap, "station", json!("WJ02"))));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = l.ok(&["export"]);
    let long = "因".repeat(2001);
    let out = l.run(&["close", "--accept-gaps", "--reason", &long]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let words = "field `reason`: longer than 2000 characters";
    assert!(out.stderr.contains(words), "{}", out.stderr);
    assert_eq!(l.ok(&["export"]), before, "a refused close wrote something");
    l.ok(&["close", "--accept-gaps", "--reason", "经研究同意"]);
    let (out, seq) = verify_forged(&l, |k| {
        let EventKind::PeriodClosed(c) = k else {
            panic!("the last event is the close")
        };
        c.reason = Some(long.clone());
    });
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("at seq {seq}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(words), "{}", out.stderr);
}

/// Issue 13: hex is lower case in what kaohe checks byte for byte. An export line or a receipt
/// whose hashes or body are spelled in upper case is refused with a message saying so; a hash a
/// person types (`--head`, `show --hash`) is taken in either case.
#[test]
fn hex_is_lower_case_in_files_and_either_case_when_typed() {
    let l = TestLedger::with_stations();
    let export = l.ok(&["export"]);
    let head = {
        let last: Value = serde_json::from_str(export.lines().last().expect("a line")).unwrap();
        last["hash"].as_str().expect("hash").to_string()
    };
    // Typed by a person: either case.
    let file = l.path("e.jsonl");
    std::fs::write(&file, &export).expect("write");
    let path = file.to_str().expect("utf-8");
    l.ok(&["verify", "--export", path, "--head", &head.to_uppercase()]);
    l.ok(&["verify", "--head", &head.to_uppercase()]);
    let shown = l.ok(&["show", "--hash", &head.to_uppercase(), "--json"]);
    assert!(
        shown.contains("\"seq\":2") || shown.contains("\"seq\": 2"),
        "{shown}"
    );

    // In a file: lower case only, for the body and for each hash.
    for field in ["body", "hash", "prev_hash"] {
        let mut lines: Vec<String> = export.lines().map(str::to_string).collect();
        let mut v: Value = serde_json::from_str(&lines[1]).unwrap();
        let upper = v[field].as_str().unwrap().to_uppercase();
        v[field] = json!(upper);
        lines[1] = v.to_string();
        std::fs::write(&file, lines.join("\n") + "\n").expect("write");
        let out = l.run(&["verify", "--export", path]);
        assert_eq!(out.code, 1, "{field}: {}", out.stdout);
        assert!(
            out.stderr.contains("lower-case hex"),
            "{field}: {}",
            out.stderr
        );
    }

    // A receipt: its event's body and hashes are lower case only.
    let key = l.path("cp.key");
    l.ok(&[
        "key",
        "new",
        "--dept",
        "基层科",
        "--out",
        key.to_str().unwrap(),
    ]);
    l.ok(&["--key", key.to_str().unwrap(), "checkpoint"]);
    let receipt: Value = serde_json::from_str(&l.ok(&["receipt", "--seq", "1"])).unwrap();
    let public = format!("{}.pub", key.display());
    let run = |r: &Value| {
        let f = l.path("r.json");
        std::fs::write(&f, r.to_string()).expect("write");
        l.run(&["verify-receipt", f.to_str().unwrap(), "--pubkey", &public])
    };
    assert_eq!(run(&receipt).code, 0);
    for field in ["body", "hash", "prev_hash"] {
        let mut r = receipt.clone();
        let upper = r["event"][field].as_str().unwrap().to_uppercase();
        r["event"][field] = json!(upper);
        let out = run(&r);
        assert_ne!(out.code, 0, "{field}: an upper-case receipt verifies");
        assert!(
            out.stderr.contains("lower-case hex"),
            "{field}: {}",
            out.stderr
        );
    }

    // A key file written by kaohe, spelled in upper case, is refused.
    let text = std::fs::read_to_string(&public).expect("pub");
    let upper: String = text
        .lines()
        .map(|line| match line.split_once(": ") {
            Some(("public", v)) => format!("public: {}\n", v.to_uppercase()),
            _ => format!("{line}\n"),
        })
        .collect();
    let f = l.path("upper.pub");
    std::fs::write(&f, upper).expect("write");
    let out = l.run(&["key", "register", f.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("lower-case hex"), "{}", out.stderr);
}

/// Guards issue 13: a command built in code (the library's callers, the coming server) skips
/// the parser; the write path still checks the event's fields by the audit's rules, so it
/// cannot store what `verify` refuses (a line break in a station name, a note too long).
#[test]
fn the_write_path_checks_commands_built_in_code() {
    use kaohe::internals::domain::command::{Command, RecordCmd, StationCmd};
    use kaohe::internals::events::event::{Inputs, StationKind};
    use kaohe::internals::ledger::{Ledger, LedgerError, Numbered};
    let l = TestLedger::with_stations();
    let mut ledger = crate::props::open_ledger(&l.db);
    let now: jiff::Timestamp = l.now.parse().expect("time");
    let station = Command::Station(StationCmd {
        code: "WJ09".into(),
        name: "站\n二".into(),
        kind: StationKind::Town,
    });
    let record = Command::Record(RecordCmd {
        id: Some("R1".into()),
        clause: "1.6.c".into(),
        station: "WJ01".into(),
        by: "基层科".into(),
        occurred: jiff::civil::date(2018, 6, 15),
        inputs: Inputs {
            value: Some(95.into()),
            note: Some("注".repeat(2001)),
            ..Inputs::default()
        },
        evidence: vec!["通报".into()],
    });
    for (command, words) in [
        (station, "contains control or invisible characters"),
        (record, "longer than 2000 characters"),
    ] {
        let numbered = [Numbered {
            line: None,
            command,
        }];
        match ledger.apply(&numbered, now) {
            Err(LedgerError::Refused { message, .. }) => {
                assert!(message.contains(words), "{message}")
            }
            other => panic!("not refused: {other:?}"),
        }
    }
    drop::<Ledger>(ledger);
    l.ok(&["verify"]);
}
