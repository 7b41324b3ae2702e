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
