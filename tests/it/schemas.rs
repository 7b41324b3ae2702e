//! The JSON Schemas in `schema/` describe what kaohe really reads and writes.

use crate::harness::{fixture_path, TestLedger};
use serde_json::Value;
use std::path::Path;

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("schema file");
    let value: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&value).expect("schema compiles")
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("line is JSON")
}

#[test]
fn every_fixture_line_fits_the_import_schema() {
    let v = schema("import.schema.json");
    let text = std::fs::read_to_string(fixture_path("wujin-2018.jsonl")).expect("fixture");
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value = parse(line);
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "line {}: {errors:?}", i + 1);
    }
}

#[test]
fn the_import_schema_refuses_what_kaohe_refuses() {
    let v = schema("import.schema.json");
    for bad in [
        r#"{"op":"record","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-06-15","value":"95"}"#,
        r#"{"op":"record","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-06-15","evidence":[]}"#,
        r#"{"op":"station","code":"WJ01","name":"x","kind":"city"}"#,
        r#"{"op":"station","code":"WJ01","name":"x","kind":"town","extra":1}"#,
        r#"{"op":"metric","station":"WJ01","metric":"m","by":"基层科","occurred":"2018-06-15","evidence":["x"]}"#,
        r#"{"op":"record","id":"auto-3","clause":"1.3.a","station":"WJ01","by":"基层科","occurred":"2018-06-15","evidence":["x"]}"#,
        r#"{"op":"delete","id":"D1"}"#,
    ] {
        assert!(!v.is_valid(&parse(bad)), "schema accepts {bad}");
        let l = TestLedger::with_stations();
        let out = l.import(bad);
        assert_eq!(out.code, 2, "kaohe accepts {bad}");
    }
}

#[test]
fn every_export_line_fits_the_export_schema() {
    let v = schema("export.schema.json");
    let l = TestLedger::new();
    let fixture = fixture_path("wujin-2018.jsonl");
    l.ok(&["import", fixture.to_str().unwrap()]);
    let export = l.ok(&["export"]);
    let mut types = std::collections::BTreeSet::new();
    for (i, line) in export.lines().enumerate() {
        let value = parse(line);
        types.insert(value["type"].as_str().unwrap_or_default().to_string());
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "export line {}: {errors:?}", i + 1);
    }
    assert_eq!(
        types.len(),
        4,
        "the fixture exercises every event type: {types:?}"
    );
}

#[test]
fn the_export_schema_refuses_a_line_without_its_hash() {
    let v = schema("export.schema.json");
    let l = TestLedger::with_stations();
    let export = l.ok(&["export"]);
    let mut line = parse(export.lines().nth(1).expect("a station line"));
    assert!(v.is_valid(&line));
    line.as_object_mut().expect("object").remove("hash");
    assert!(!v.is_valid(&line));
}

/// Runs `args` in `l` and asserts exit 0.
fn ok_in(l: &TestLedger, args: &[&str]) {
    l.ok(args);
}

/// A ledger rooted in a bureau key: the genesis, `root_key`, two stations, a
/// department key registered, a signed record, the key revoked, and the close (nothing ranked,
/// no gap: its `reason` is `null`).
fn signed_ledger() -> TestLedger {
    let l = TestLedger::rooted();
    let bureau = l.bureau_key();
    for (code, kind) in [("WJ01", "town"), ("WJ02", "subdistrict")] {
        ok_in(
            &l,
            &[
                "--key",
                &bureau,
                "station",
                "add",
                code,
                "--name",
                "司法所",
                "--kind",
                kind,
            ],
        );
    }
    let key = l.path("jc.key");
    let key = key.to_str().unwrap();
    ok_in(&l, &["key", "new", "--dept", "基层科", "--out", key]);
    ok_in(
        &l,
        &["--key", &bureau, "key", "register", &format!("{key}.pub")],
    );
    ok_in(
        &l,
        &[
            "--key",
            key,
            "record",
            "--id",
            "D1",
            "--clause",
            "1.3.a",
            "--station",
            "WJ01",
            "--by",
            "基层科",
            "--occurred",
            "2018-05-10",
            "--evidence",
            "通报",
        ],
    );
    ok_in(
        &l,
        &[
            "--key",
            &bureau,
            "key",
            "revoke",
            &format!("{key}.pub"),
            "--reason",
            "离职",
        ],
    );
    ok_in(&l, &["--key", &bureau, "close"]);
    l
}

/// An unsigned ledger with every other kind: records, reports, an appeal decided, a reversal,
/// rank bonuses and a close that accepts a gap with a reason.
fn unsigned_ledger() -> TestLedger {
    let l = TestLedger::with_stations();
    let line = |v: Value| v.to_string() + "\n";
    let mut batch = String::new();
    for (id, metric, value, station) in [
        ("M1", "mediations_per_mediator", "12", "WJ01"),
        ("M2", "mediations_per_fulltime_mediator", "20", "WJ01"),
        ("M3", "dispute_entry_rate", "90", "WJ02"),
    ] {
        batch += &line(
            serde_json::json!({"op": "metric", "id": id, "station": station,
            "metric": metric, "value": value, "by": "基层科", "occurred": "2018-12-20",
            "evidence": ["统计表"]}),
        );
    }
    for id in ["D1", "D2"] {
        batch += &line(
            serde_json::json!({"op": "record", "id": id, "clause": "1.3.a",
            "station": "WJ01", "by": "基层科", "occurred": "2018-05-10", "note": "说明",
            "evidence": ["通报"]}),
        );
    }
    batch += &line(
        serde_json::json!({"op": "appeal", "id": "A1", "against": "D1",
        "station": "WJ01", "grounds": "有误", "evidence": ["情况说明"]}),
    );
    batch += &line(
        serde_json::json!({"op": "decide", "appeal": "A1", "outcome": "partial",
        "points": "0.5", "by": "基层科", "reason": "部分属实", "evidence": ["复核意见书"]}),
    );
    batch += &line(
        serde_json::json!({"op": "reverse", "id": "X1", "target": "D2",
        "by": "基层科", "reason": "录入错误"}),
    );
    let out = l.import(&batch);
    assert_eq!(out.code, 0, "{}", out.stderr);
    ok_in(&l, &["close", "--accept-gaps", "--reason", "经研究同意"]);
    l
}

/// The export line of a legacy `signatures_required` at seq 1.
fn legacy_signatures_required_line() -> String {
    use kaohe::internals::events::{codec, event::*};
    let body = Body::V1(EventV1 {
        seq: 1,
        recorded_at_us: 1_546_329_600_000_000,
        kind: EventKind::SignaturesRequired,
    });
    let bytes = codec::encode(&body).expect("encodes");
    kaohe::ops::export::line(&body, &bytes, &[1; 32], &[2; 32])
}

/// Guards issue 13: `export.schema.json` lacked `period_closed`, `key_registered`,
/// `key_revoked` and `signatures_required`, so real export lines failed it. Every line of two
/// ledgers that between them hold every event kind kaohe writes (signed and unsigned, a close
/// with `"reason": null` and one with a reason) fits the schema.
#[test]
fn every_kind_of_export_line_fits_the_export_schema() {
    let v = schema("export.schema.json");
    let mut types = std::collections::BTreeSet::new();
    for l in [signed_ledger(), unsigned_ledger()] {
        let export = l.ok(&["export"]);
        for (i, line) in export.lines().enumerate() {
            let value = parse(line);
            types.insert(value["type"].as_str().unwrap_or_default().to_string());
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "export line {}: {errors:?}\n{line}",
                i + 1
            );
        }
    }
    // Ledgers made before the bureau key (issue 13) hold `signatures_required` at seq 1;
    // kaohe no longer writes it, but still exports and verifies such ledgers.
    let legacy = legacy_signatures_required_line();
    let errors: Vec<String> = v
        .iter_errors(&parse(&legacy))
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "legacy line: {errors:?}\n{legacy}");
    types.insert("signatures_required".into());
    let all: std::collections::BTreeSet<String> = v_types();
    assert_eq!(
        types, all,
        "the ledgers hold every event type of the schema"
    );
    assert_eq!(
        all.len(),
        12,
        "every EventKind has a type in the schema: {all:?}"
    );
}

/// The event types the export schema lists.
fn v_types() -> std::collections::BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/export.schema.json");
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}
