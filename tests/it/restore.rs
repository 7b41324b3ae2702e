//! `kaohe restore FILE --db NEW`: a ledger rebuilt from a verified export is the same ledger
//! (same stored bytes, hashes and head; same answers); an export that does not verify is
//! refused with nothing created; an existing target is never touched; and a damaged ledger's
//! message names its last verified seq and the restore command.

use crate::harness::{fixture_path, TestLedger};
use std::path::Path;

/// The fixture year in a ledger, and its export in a file beside it.
fn fixture() -> (TestLedger, std::path::PathBuf) {
    let l = TestLedger::new();
    let fixture = fixture_path("wujin-2018.jsonl");
    l.ok(&["import", fixture.to_str().unwrap()]);
    let export = l.path("export.jsonl");
    std::fs::write(&export, l.ok(&["export"])).unwrap();
    (l, export)
}

/// A runner for another ledger path in the same temp directory.
fn at(l: &TestLedger, name: &str) -> TestLedger {
    let other = TestLedger::empty();
    TestLedger {
        db: l.path(name),
        ..other
    }
}

/// The names in a directory (to show that nothing was left behind).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_restored_ledger_is_the_same_ledger() {
    let (l, export) = fixture();
    let r = at(&l, "restored");
    let out = r.ok(&["restore", export.to_str().unwrap()]);
    let head = l.ok(&["verify"]);
    let head = head.lines().nth(1).unwrap();
    assert!(out.contains(head), "{out}");
    assert!(out.contains("restored 370 events"), "{out}");
    assert!(!out.contains("evidence"), "{out}");
    assert_eq!(r.ok(&["verify"]), l.ok(&["verify"]));
    assert_eq!(r.ok(&["export"]), std::fs::read_to_string(&export).unwrap());
    for args in [
        &["score", "--json"][..],
        &["score", "--at", "2018-06-30"],
        &["score", "--as-of-seq", "200"],
        &["explain", "--station", "WJ07", "--json"],
        &["explain", "--station", "WJ01"],
        &["log", "--json"],
        &["appeal", "list", "--json"],
        &["station", "list"],
        &["rubric", "--toml"],
    ] {
        assert_eq!(r.ok(args), l.ok(args), "{args:?}");
    }
    // The restored ledger takes new commands like the original.
    let add = [
        "station",
        "add",
        "WJ99",
        "--name",
        "新司法所",
        "--kind",
        "town",
    ];
    assert_eq!(r.ok(&add), l.ok(&add));
    assert_eq!(r.ok(&["export"]), l.ok(&["export"]));
    // Nothing but the two ledgers and the export is left in the directory.
    let left = names(l.dir.path());
    assert!(left.iter().all(|n| !n.contains(".restore-")), "{left:?}");
}

#[test]
fn restore_reads_stdin_and_reports_json() {
    let (l, export) = fixture();
    let r = at(&l, "from-stdin");
    let text = std::fs::read_to_string(&export).unwrap();
    let out = r.run_with_stdin(&["restore", "-", "--json"], Some(&text));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["events"], 370);
    assert_eq!(v["evidence_events"], 0);
    assert_eq!(r.ok(&["export"]), text);
    r.ok(&["verify"]);
}

#[test]
fn an_export_that_does_not_verify_is_refused_and_nothing_is_created() {
    let (l, export) = fixture();
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // A changed figure in line 101's decoded fields (the body still says the old one).
    let mut v: serde_json::Value = serde_json::from_str(&lines[100]).unwrap();
    v["seq"] = serde_json::json!(1000);
    lines[100] = v.to_string();
    let bad = l.path("bad.jsonl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let before = names(l.dir.path());
    let r = at(&l, "restored");
    let err = r.fails(&["restore", bad.to_str().unwrap()], 1);
    assert!(err.contains("line 101"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert!(!r.db.exists());
    assert_eq!(names(l.dir.path()), before);

    // A cut chain: an event removed from the middle.
    let mut cut: Vec<&str> = text.lines().collect();
    cut.remove(50);
    std::fs::write(&bad, cut.join("\n") + "\n").unwrap();
    let err = r.fails(&["restore", bad.to_str().unwrap()], 1);
    assert!(err.contains("line 51"), "{err}");
    assert!(!r.db.exists());

    // A flipped body byte.
    let mut v: serde_json::Value = serde_json::from_str(text.lines().nth(7).unwrap()).unwrap();
    let mut body = v["body"].as_str().unwrap().to_string();
    let last = if body.ends_with('0') { "1" } else { "0" };
    body.replace_range(body.len() - 1.., last);
    v["body"] = serde_json::json!(body);
    let mut flipped: Vec<String> = text.lines().map(str::to_string).collect();
    flipped[7] = v.to_string();
    std::fs::write(&bad, flipped.join("\n") + "\n").unwrap();
    let err = r.fails(&["restore", bad.to_str().unwrap()], 1);
    assert!(err.contains("line 8"), "{err}");
    assert!(!r.db.exists());
    assert_eq!(names(l.dir.path()), before);
}

#[test]
fn empty_garbage_and_missing_files_are_refused() {
    let l = TestLedger::empty();
    let r = at(&l, "restored");
    let empty = l.path("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let err = r.fails(&["restore", empty.to_str().unwrap()], 1);
    assert!(err.contains("empty"), "{err}");
    let garbage = l.path("garbage.jsonl");
    std::fs::write(&garbage, b"\x00\xffnot json at all\n{}\n").unwrap();
    let err = r.fails(&["restore", garbage.to_str().unwrap()], 1);
    assert!(err.contains("line 1"), "{err}");
    let err = r.fails(&["restore", l.path("nope.jsonl").to_str().unwrap()], 2);
    assert!(err.contains("cannot read"), "{err}");
    assert!(!r.db.exists());
    let err = r.fails(&["restore", "-"], 1);
    assert!(err.contains("empty"), "{err}");
    assert!(!r.db.exists());
    assert_eq!(names(l.dir.path()), ["empty.jsonl", "garbage.jsonl"]);
}

#[test]
fn an_existing_target_is_never_touched() {
    let (l, export) = fixture();
    // The original ledger itself.
    let err = l.fails(&["restore", export.to_str().unwrap()], 2);
    assert!(err.contains("already exists"), "{err}");
    // An empty directory and a file.
    for (name, make) in [("dir", true), ("file", false)] {
        let r = at(&l, name);
        if make {
            std::fs::create_dir(&r.db).unwrap();
        } else {
            std::fs::write(&r.db, "x").unwrap();
        }
        let err = r.fails(&["restore", export.to_str().unwrap()], 2);
        assert!(err.contains("already exists"), "{err}");
    }
    assert!(std::fs::read_dir(l.path("dir")).unwrap().next().is_none());
    assert_eq!(std::fs::read_to_string(l.path("file")).unwrap(), "x");
    l.ok(&["verify"]);
}

#[test]
fn restore_says_that_evidence_files_are_not_in_an_export() {
    let l = TestLedger::with_stations();
    let file = l.path("scan.pdf");
    std::fs::write(&file, b"%PDF a scanned notice").unwrap();
    l.ok(&[
        "record",
        "--clause",
        "1.1.b",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence",
        "常武司基〔2018〕12号",
        "--evidence-file",
        file.to_str().unwrap(),
    ]);
    let export = l.path("e.jsonl");
    std::fs::write(&export, l.ok(&["export"])).unwrap();
    let r = at(&l, "restored");
    let out = r.ok(&["restore", export.to_str().unwrap()]);
    assert!(out.contains("1 events reference 1 evidence files"), "{out}");
    assert!(out.contains("verify --evidence"), "{out}");
    // Without the files, `verify --evidence` names the missing one; copied over, it passes.
    r.fails(&["verify", "--evidence"], 1);
    let from = l.db.join("evidence");
    let to = r.db.join("evidence");
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    r.ok(&["verify", "--evidence"]);
    let json = at(&l, "restored-json").ok(&["restore", export.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["evidence_events"], 1);
    assert_eq!(v["evidence_files"], 1);
    assert_eq!(v["evidence_restored"], false);
}

/// Flips one byte of a stored event's body (seq `seq` of block 0) in `events.seg`.
fn damage_event(db: &Path, seq: usize) {
    let path = db.join("events.seg");
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 0usize;
    for _ in 0..seq {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len + 32;
    }
    bytes[at + 6] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_damaged_ledger_names_its_last_verified_seq_and_how_to_restore() {
    let l = TestLedger::with_stations();
    damage_event(&l.db, 1);
    let err = l.fails(&["score"], 1);
    assert!(err.contains("ledger damaged at seq 1"), "{err}");
    assert!(
        err.contains("last full verification: never"),
        "never verified: {err}"
    );
    assert!(err.contains("kaohe restore ledger.jsonl --db NEW"), "{err}");

    let l = TestLedger::with_stations();
    let ok = l.ok(&["verify"]);
    let head = ok
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("head ")
        .to_string();
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "洛阳司法所",
        "--kind",
        "town",
    ]);
    damage_event(&l.db, 3);
    for args in [&["score"][..], &["export"], &["log"], &["verify"]] {
        let err = l.fails(args, 1);
        assert!(
            err.contains(&format!("last full verification: seq 2 (head {head})")),
            "{args:?}: {err}"
        );
        assert!(err.contains("kaohe restore"), "{args:?}: {err}");
        assert!(err.contains("export"), "{args:?}: {err}");
    }
}

#[test]
fn verify_records_the_last_full_verification() {
    let l = TestLedger::with_stations();
    l.ok(&["verify"]);
    let v = kaohe::internals::store::Store::read_last_verified(&l.db)
        .unwrap()
        .expect("recorded");
    assert_eq!(v.seq, 2);
    assert!(v.at_us.is_some());
    // A failed verification does not move it.
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "洛阳司法所",
        "--kind",
        "town",
    ]);
    damage_event(&l.db, 3);
    l.fails(&["verify"], 1);
    let v = kaohe::internals::store::Store::read_last_verified(&l.db)
        .unwrap()
        .expect("recorded");
    assert_eq!(v.seq, 2);
}

#[test]
fn a_restore_in_many_small_commits_is_the_same_ledger() {
    // Appeals, decisions, reversals and unit counts replace index entries that earlier commits
    // wrote; commits of 1, 7 and 64 events cross them everywhere.
    let (l, export) = fixture();
    for chunk in [1, 7, 64] {
        let r = at(&l, &format!("chunks-{chunk}"));
        let restored = kaohe::ops::restore::restore_in_chunks(
            kaohe::ops::restore::Source::File(&export),
            &r.db,
            chunk,
        )
        .unwrap();
        assert_eq!(restored.events, 370);
        r.ok(&["verify"]);
        assert_eq!(r.ok(&["export"]), std::fs::read_to_string(&export).unwrap());
        for args in [
            &["score", "--json"][..],
            &["explain", "--station", "WJ07", "--json"],
            &["appeal", "list", "--json"],
        ] {
            assert_eq!(r.ok(args), l.ok(args), "{args:?}");
        }
    }
}
