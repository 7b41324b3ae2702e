//! Backups that keep everything (issue 13): `kaohe backup --out FILE` holds the export, every
//! evidence file and every stored checkpoint in one file closed by a BLAKE3 hash, and
//! `kaohe restore FILE` takes it back whole. Before it, a restore from an export lost the
//! evidence files and checkpoints.

use crate::harness::TestLedger;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A ledger with two evidence files (one on a record, one on an appeal's decision would need
/// more set-up: two files on one record do), a checkpoint, and a record after it.
fn ledger_with_everything() -> TestLedger {
    let l = TestLedger::with_stations();
    let a = l.path("inspection.pdf");
    let b = l.path("photo.jpg");
    std::fs::write(&a, b"%PDF inspection report\n").expect("write");
    std::fs::write(&b, [0u8, 255, 10, 13, 0, 10]).expect("write");
    l.ok(&[
        "record",
        "--id",
        "R1",
        "--clause",
        "1.1.b",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence-file",
        s(&a),
        "--evidence-file",
        s(&b),
    ]);
    let key = l.path("bureau.key");
    l.ok(&["key", "new", "--dept", "基层科", "--out", s(&key)]);
    l.ok(&["--key", s(&key), "checkpoint"]);
    l.ok(&[
        "record",
        "--id",
        "R2",
        "--clause",
        "1.1.b",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-02",
        "--evidence",
        "通报",
    ]);
    l
}

fn backup(l: &TestLedger) -> PathBuf {
    let file = l.path("year.backup");
    l.ok(&["backup", "--out", s(&file)]);
    file
}

/// Restores `file` into a new ledger named `name` beside `l`'s; gives that ledger (its clock
/// and dir are `l`'s) and what restore printed.
fn restore(l: &TestLedger, file: &Path, name: &str) -> (TestLedger, crate::harness::Output) {
    let other = TestLedger::empty();
    let r = TestLedger {
        db: l.path(name),
        now: l.now.clone(),
        ..other
    };
    let out = r.run(&["restore", s(file), "--json"]);
    (r, out)
}

#[test]
fn a_backup_restores_the_events_the_evidence_files_and_the_checkpoints() {
    let l = ledger_with_everything();
    let file = backup(&l);
    let (r, out) = restore(&l, &file, "restored");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(v["evidence_restored"], true);
    assert_eq!(v["evidence_files"], 2);
    assert_eq!(v["checkpoints"], 1);
    let both = |args: &[&str]| (l.ok(args), r.ok(args));
    for args in [
        &["export"][..],
        &["evidence", "list", "--json"],
        &["checkpoint", "--list", "--json"],
        &["score", "--json"],
    ] {
        let (mine, theirs) = both(args);
        assert_eq!(mine, theirs, "{args:?} differs after the restore");
    }
    r.ok(&["verify", "--evidence"]);
}

#[test]
fn a_damaged_backup_is_refused_and_nothing_is_created() {
    let l = ledger_with_everything();
    let file = backup(&l);
    let bytes = std::fs::read(&file).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let in_evidence = text
        .find("%PDF")
        .expect("the evidence file is in the backup");
    let in_export = text
        .find("\"WJ02\"")
        .expect("an export line is in the backup");
    let in_end = bytes.len() - 3;
    for (what, at, code) in [
        ("an evidence file's byte", in_evidence, 1),
        ("an export line's byte", in_export, 1),
        ("the closing hash", in_end, 1),
    ] {
        let mut forged = bytes.clone();
        forged[at] ^= 0x01;
        let bad = l.path("forged.backup");
        std::fs::write(&bad, &forged).expect("write");
        let (db, out) = restore(&l, &bad, "never");
        assert_eq!(out.code, code, "{what}: {}{}", out.stdout, out.stderr);
        assert!(
            !db.db.exists(),
            "{what}: a ledger was left at {}",
            db.db.display()
        );
    }
    let cut = l.path("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 80]).expect("write");
    let (r, out) = restore(&l, &cut, "never");
    assert_ne!(out.code, 0, "a cut backup restored: {}", out.stdout);
    assert!(!r.db.exists());
}

#[test]
fn a_backup_never_overwrites_a_file() {
    let l = ledger_with_everything();
    let file = backup(&l);
    let before = std::fs::read(&file).expect("read");
    let err = l.fails(&["backup", "--out", s(&file)], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), before);
}
