//! Regressions found by exploratory testing from the command line; each test says what it
//! guards.

use crate::harness::{rubric_path, TestLedger};

fn record(l: &TestLedger, extra: &[&str]) -> crate::harness::Output {
    let mut args = vec![
        "record",
        "--clause",
        "1.3.b",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
    ];
    args.extend_from_slice(extra);
    l.run(&args)
}

/// Invisible characters (zero-width, bidi controls) could satisfy "evidence required" with
/// nothing a reader can see, or make two ids look the same.
#[test]
fn invisible_characters_are_refused_in_evidence_ids_notes_and_names() {
    let l = TestLedger::with_stations();
    for (field, extra) in [
        ("evidence", vec!["--evidence", "\u{200b}"]),
        ("id", vec!["--evidence", "x", "--id", "A\u{200b}B"]),
        ("evidence", vec!["--evidence", "ok\u{202e}kO"]),
        (
            "note",
            vec!["--evidence", "x", "--note", "\u{200b}\u{200b}"],
        ),
    ] {
        let out = record(&l, &extra);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stdout);
        assert!(
            out.stderr.contains(&format!("field `{field}`")),
            "{}",
            out.stderr
        );
    }
    let out = l.run(&[
        "station", "add", "WJ09", "--name", "\u{feff}", "--kind", "town",
    ]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(l.event_count(), 3, "nothing written");
}

/// `show 5` once printed the event whose id is "5", silently, when seq 5 is another event.
#[test]
fn show_refuses_a_key_that_is_both_an_id_and_another_events_seq() {
    let l = TestLedger::with_stations();
    assert_eq!(record(&l, &["--evidence", "x", "--id", "1"]).code, 0);
    let out = l.run(&["show", "1"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("ambiguous"), "{}", out.stderr);
    let by_seq: serde_json::Value =
        serde_json::from_str(&l.ok(&["show", "--seq", "1", "--json"])).unwrap();
    assert_eq!(by_seq["type"], "station_registered");
    let hash = by_seq["hash"].as_str().unwrap().to_string();
    let by_hash: serde_json::Value =
        serde_json::from_str(&l.ok(&["show", "--hash", &hash, "--json"])).unwrap();
    assert_eq!(by_hash["seq"], 1);
}

/// Re-importing a file without ids records its lines again; the import says so.
#[test]
fn an_import_with_lines_without_ids_says_a_reimport_would_repeat_them() {
    let l = TestLedger::with_stations();
    let out = l.import(
        r#"{"op":"record","clause":"1.3.b","station":"WJ01","by":"基层科","occurred":"2018-06-01","evidence":["x"]}"#,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("imported 1 command: 1 event appended (seq 3)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("1 line was without an id"),
        "{}",
        out.stdout
    );
}

/// A refusal inside an import cited a seq that was never written.
#[test]
fn a_conflict_within_one_import_names_the_earlier_line_not_a_seq() {
    let l = TestLedger::with_stations();
    let out = l.import(concat!(
        r#"{"op":"station","code":"WJ03","name":"洛阳司法所","kind":"town"}"#,
        "\n",
        r#"{"op":"station","code":"WJ03","name":"别的名字","kind":"town"}"#,
    ));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    assert!(
        out.stderr.contains("by an earlier line of this import"),
        "{}",
        out.stderr
    );
}

/// A whole-figure `points` that disagrees says what `points` means for that kind.
#[test]
fn a_disagreeing_points_says_whether_it_is_per_unit_or_the_whole_figure() {
    let l = TestLedger::with_stations();
    let out = l.run(&[
        "record",
        "--clause",
        "3.6.b",
        "--station",
        "WJ01",
        "--by",
        "社矫科",
        "--occurred",
        "2018-12-01",
        "--value",
        "4.2",
        "--points",
        "0.5",
        "--evidence",
        "x",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("the whole figure"), "{}", out.stderr);
}

/// A type error deep in a rubric file names the clause it is in, not only a line number.
#[test]
fn a_rubric_type_error_names_the_clause_it_is_in() {
    let text = std::fs::read_to_string(rubric_path()).unwrap();
    let broken = text.replacen(
        "code = \"1.2.a\"\n",
        "code = \"1.2.a\"\ncolour = \"red\"\n",
        1,
    );
    assert_ne!(broken, text);
    let l = TestLedger::empty();
    let file = l.path("broken.toml");
    std::fs::write(&file, broken).unwrap();
    let err = l.fails(&["init", "--rubric", file.to_str().unwrap()], 2);
    assert!(err.contains("clause 1.2.a"), "{err}");
    assert!(!l.db.exists(), "no ledger is created");
}

/// `score --json | head -c 10` printed "Broken pipe" and exited 2; a closed pipe ends the
/// output quietly.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let l = TestLedger::with_stations();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(["--db", l.db.to_str().unwrap(), "export"])
        .env("KAOHE_NOW", &l.now)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code() == Some(0),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
