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
        5,
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

/// A ledger rooted in a bureau key, where every kind someone signs is signed: the genesis,
/// `root_key`, two stations, a department's and a station's key registered, signed records, a
/// signed report, a signed appeal (the station's key) and decision, a signed reversal, the
/// department's key revoked, and the close (nothing ranked, no gap: no `reason`); the bureau's
/// events signed by its key.
pub(crate) fn signed_ledger() -> TestLedger {
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
    let station_key = l.path("wj01.key");
    let station_key = station_key.to_str().unwrap();
    ok_in(
        &l,
        &["key", "new", "--station", "WJ01", "--out", station_key],
    );
    ok_in(
        &l,
        &[
            "--key",
            &bureau,
            "key",
            "register",
            &format!("{station_key}.pub"),
        ],
    );
    let signed = |key: &str, line: Value| {
        let file = l.path("signed.jsonl");
        std::fs::write(&file, format!("{line}\n")).unwrap();
        ok_in(&l, &["--key", key, "import", file.to_str().unwrap()]);
    };
    for id in ["D1", "D2"] {
        signed(
            key,
            serde_json::json!({"op": "record", "id": id, "clause": "1.3.a", "station": "WJ01",
                "by": "基层科", "occurred": "2018-05-10", "evidence": ["通报"]}),
        );
    }
    signed(
        key,
        serde_json::json!({"op": "metric", "id": "M1", "station": "WJ01",
            "metric": "dispute_entry_rate", "value": "100", "by": "基层科",
            "occurred": "2018-12-20", "evidence": ["统计表"]}),
    );
    signed(
        station_key,
        serde_json::json!({"op": "appeal", "id": "A1", "against": "D1", "station": "WJ01",
            "grounds": "有误", "evidence": ["情况说明"]}),
    );
    signed(
        key,
        serde_json::json!({"op": "decide", "appeal": "A1", "outcome": "upheld", "by": "基层科",
            "reason": "属实", "evidence": ["复核意见书"]}),
    );
    signed(
        key,
        serde_json::json!({"op": "reverse", "id": "X1", "target": "D2", "by": "基层科",
            "reason": "录入错误"}),
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
pub(crate) fn unsigned_ledger() -> TestLedger {
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
/// with `"reason": null` and one with a reason), and of a year that follows another
/// (`ledger_follows`), fits the schema.
#[test]
fn every_kind_of_export_line_fits_the_export_schema() {
    let v = schema("export.schema.json");
    let mut types = std::collections::BTreeSet::new();
    let mut signed = std::collections::BTreeSet::new();
    for l in [signed_ledger(), unsigned_ledger()] {
        let export = l.ok(&["export"]);
        for (i, line) in export.lines().enumerate() {
            let value = parse(line);
            types.insert(value["type"].as_str().unwrap_or_default().to_string());
            if value["body"].as_str().unwrap_or_default().starts_with("02") {
                signed.insert(value["type"].as_str().unwrap_or_default().to_string());
            }
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
    // A year that follows a closed one starts with `ledger_follows` (tests/it/years.rs).
    let (_previous, following) = crate::years::two_years();
    for line in following.ok(&["export"]).lines() {
        let value = parse(line);
        types.insert(value["type"].as_str().unwrap_or_default().to_string());
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "following line: {errors:?}\n{line}");
    }
    let all: std::collections::BTreeSet<String> = v_types();
    assert_eq!(
        types, all,
        "the ledgers hold every event type of the schema"
    );
    assert_eq!(
        all.len(),
        13,
        "every EventKind has a type in the schema: {all:?}"
    );
    let signable = [
        "appeal_decided",
        "appeal_filed",
        "key_registered",
        "key_revoked",
        "metric_reported",
        "period_closed",
        "points_recorded",
        "record_reversed",
        "station_registered",
    ];
    assert_eq!(
        signed,
        signable.iter().map(|t| t.to_string()).collect(),
        "every kind someone signs appears signed"
    );
}

/// The closing line of `l`'s export.
fn closing_line(l: &TestLedger) -> Value {
    let export = l.ok(&["export"]);
    let value = parse(export.lines().last().expect("a line"));
    assert_eq!(value["type"], "period_closed");
    value
}

/// Guards what export.schema.json states besides the members: a close's `reason` is a string
/// exactly when gaps were accepted, absent otherwise (or `null`, in older exports); a
/// `recorded_at`, a decimal and a date have their one spelling.
#[test]
fn the_export_schema_states_the_reason_and_the_value_forms() {
    let v = schema("export.schema.json");
    let without = closing_line(&signed_ledger());
    let with = closing_line(&unsigned_ledger());
    assert!(v.is_valid(&without) && v.is_valid(&with));
    assert!(without.get("reason").is_none() && with["reason"].is_string());
    let edited = |line: &Value, key: &str, value: Option<Value>| {
        let mut line = line.clone();
        let m = line.as_object_mut().expect("object");
        match value {
            Some(value) => m.insert(key.into(), value),
            None => m.remove(key),
        };
        line
    };
    assert!(v.is_valid(&edited(&without, "reason", Some(Value::Null))));
    assert!(!v.is_valid(&edited(&without, "reason", Some("理由".into()))));
    assert!(!v.is_valid(&edited(&with, "reason", None)));
    assert!(!v.is_valid(&edited(&with, "reason", Some(Value::Null))));
    for (key, bad) in [
        ("recorded_at", "2019-01-10T08:00:00.000Z"),
        ("recorded_at", "2019-01-10T08:00:00+00:00"),
        ("recorded_at", "2019-01-10T08:00:00.5000Z"),
    ] {
        assert!(!v.is_valid(&edited(&with, key, Some(bad.into()))), "{bad}");
    }
    let scores = |total: &str| {
        let mut line = with.clone();
        line["scores"][0]["total"] = total.into();
        line
    };
    for good in ["100", "-3", "0", "0.5", "99.000001"] {
        assert!(v.is_valid(&scores(good)), "{good}");
    }
    for bad in ["1.50", "-0", "01", "+1", "1e2", ".5", "1.", "0.0000001"] {
        assert!(!v.is_valid(&scores(bad)), "{bad}");
    }
    let genesis = parse(
        signed_ledger()
            .ok(&["export"])
            .lines()
            .next()
            .expect("genesis"),
    );
    assert!(v.is_valid(&genesis));
    for bad in ["2018-13-01", "2018-1-01", "2018-00-10", "2018-01-32"] {
        assert!(
            !v.is_valid(&edited(&genesis, "period_end", Some(bad.into()))),
            "{bad}"
        );
    }
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
