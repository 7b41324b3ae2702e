//! A leftover of an interrupted snapshot is never reported as damage (issue 13). sled rewrites
//! its snapshot whenever a ledger is opened, even by a read-only command; a kill or Ctrl-C in
//! that moment leaves a partial `snap.*.generating` file, which sled then read as damaged data:
//! every command said the store was damaged and sent the user to a backup.

use crate::harness::{fixture_path, TestLedger};

/// A partial snapshot file, as a killed process leaves it: the first bytes of the real
/// snapshot under a newer name.
fn leave_a_partial_snapshot(l: &TestLedger) -> String {
    let snap = std::fs::read_dir(&l.db)
        .expect("ledger dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snap."))
        })
        .expect("sled keeps a snapshot");
    let bytes = std::fs::read(&snap).expect("read");
    let name = "snap.00000000FFFFFFFF.generating".to_string();
    std::fs::write(l.db.join(&name), &bytes[..bytes.len().min(100)]).expect("write");
    name
}

#[test]
fn a_partial_snapshot_left_by_a_kill_is_not_damage() {
    let l = TestLedger::new();
    l.ok(&[
        "import",
        fixture_path("wujin-2018.jsonl").to_str().expect("path"),
    ]);
    let before = l.ok(&["score", "--json"]);
    let name = leave_a_partial_snapshot(&l);
    // Readers neither read the leftover (they copy sled's files without it) nor remove it:
    // they write nothing in the ledger.
    assert_eq!(l.ok(&["score", "--json"]), before);
    l.ok(&["log"]);
    assert!(l.db.join(&name).exists(), "a reader removed the leftover");
    l.ok(&["verify"]);
    l.ok(&[
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
        "通报",
        "--id",
        "AFTER",
    ]);
    // A writer, which holds the ledger alone, removes it.
    assert!(
        !l.db.join(&name).exists(),
        "the leftover stays after a write"
    );
    l.ok(&["verify"]);
}

/// The modification time of the newest of sled's snapshots in the ledger directory.
fn newest_snapshot_time(l: &TestLedger) -> std::time::SystemTime {
    std::fs::read_dir(&l.db)
        .expect("ledger dir")
        .map(|e| e.expect("entry"))
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("snap.") && !name.ends_with(".generating")
        })
        .map(|e| e.metadata().and_then(|m| m.modified()).expect("mtime"))
        .max()
        .expect("sled keeps a snapshot")
}

/// Guards the snapshot a writer has sled write when it closes after many events: sled 0.34
/// writes one only as it opens, and every later opening (each reader's copy, each `record`)
/// replayed the whole import's index writes from the snapshot written before it began.
#[test]
fn a_big_import_leaves_a_snapshot_written_after_its_commit() {
    let l = TestLedger::with_stations();
    let lines: String = (0..1_500)
        .map(|i| {
            let line = serde_json::json!({
                "op": "record", "id": format!("R{i:05}"), "clause": "1.3.a",
                "station": if i % 2 == 0 { "WJ01" } else { "WJ02" },
                "by": "基层科", "occurred": "2018-06-01", "evidence": ["通报"],
            });
            format!("{line}\n")
        })
        .collect();
    let out = l.import(&lines);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let committed = std::fs::metadata(l.db.join("events.seg"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert!(
        newest_snapshot_time(&l) >= committed,
        "the newest snapshot is older than the import's commit"
    );
    // The ledger reads and verifies as before, every record in it.
    assert!(l.ok(&["verify"]).contains("1503 events"), "verify");
}
