//! Readers share a ledger and write nothing in it (issue 13). sled rewrote its snapshot
//! whenever a ledger was opened, even by a read-only command, and locked it exclusively: a
//! kill in that moment left a leftover that read as damage, and `kaohe log | less` held up
//! every other command. Read-only commands now open a private copy of sled's files.

use crate::harness::{fixture_path, TestLedger};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};

/// Every file under the ledger directory: (length, modification time, content hash).
fn snapshot(dir: &std::path::Path) -> BTreeMap<String, (u64, std::time::SystemTime, String)> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            let bytes = std::fs::read(e.path()).expect("read");
            let name = e.path().strip_prefix(dir).unwrap().display().to_string();
            let hash = blake3::hash(&bytes).to_hex().to_string();
            all.insert(name, (meta.len(), meta.modified().expect("mtime"), hash));
        }
    }
    all
}

fn fixture_ledger() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&[
        "import",
        fixture_path("wujin-2018.jsonl").to_str().expect("path"),
    ]);
    l
}

/// Guards "read-only commands must not write": each leaves every file of the ledger
/// directory as it was (names, lengths, times and bytes), including sled's snapshot, which
/// sled used to rewrite on every open.
#[test]
fn read_only_commands_write_nothing_in_the_ledger() {
    let l = fixture_ledger();
    let report = l.path("report.html");
    let backup = l.path("backup.khb");
    let commands: Vec<Vec<&str>> = vec![
        vec!["score"],
        vec!["score", "--json", "--at", "2018-06-30"],
        vec!["explain", "--station", "WJ01"],
        vec!["log"],
        vec!["log", "--station", "WJ02", "--json"],
        vec!["export"],
        vec!["export", "--scores"],
        vec!["show", "--seq", "3"],
        vec!["station", "list"],
        vec!["key", "list"],
        vec!["appeal", "list"],
        vec!["rubric"],
        vec!["evidence", "list"],
        vec!["checkpoint", "--list"],
        vec!["report", "--out", report.to_str().unwrap()],
        vec!["backup", "--out", backup.to_str().unwrap()],
    ];
    let before = snapshot(&l.db);
    for args in commands {
        l.ok(&args);
        let after = snapshot(&l.db);
        assert_eq!(after, before, "kaohe {args:?} changed the ledger directory");
    }
}

/// Guards "readers share the ledger": while one reader streams a long export into a pipe
/// nobody reads yet (it holds its copy, blocked on the pipe), another reader answers, and a
/// writer records (the reader had let go of the ledger once open), with no wait allowed.
/// The stream, read afterwards, shows the ledger as it stood when the reader opened it.
#[test]
fn readers_run_beside_each_other_and_beside_a_writer() {
    let l = fixture_ledger();
    let events_before = l.event_count();
    let mut reader = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(["--db", l.db.to_str().unwrap(), "export"])
        .env("KAOHE_NOW", &l.now)
        .env_remove("KAOHE_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kaohe runs");
    let mut stdout = reader.stdout.take().expect("stdout");
    // The export is larger than a pipe holds: wait for its first bytes, then the reader is
    // blocked writing, with the ledger open.
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the reader started");
    let score = l.run(&["--wait", "0", "score", "--json"]);
    assert_eq!(score.code, 0, "{}{}", score.stdout, score.stderr);
    let record = l.run(&[
        "--wait",
        "0",
        "record",
        "--clause",
        "1.1.b",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-15",
        "--evidence",
        "通报",
        "--id",
        "WHILE-READING",
    ]);
    assert_eq!(record.code, 0, "{}{}", record.stdout, record.stderr);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read the rest");
    let status = reader.wait().expect("the reader ends");
    assert!(status.success(), "the reader failed");
    let lines = rest.lines().count();
    assert_eq!(
        lines, events_before,
        "the reader shows the ledger as it opened it"
    );
    assert_eq!(l.event_count(), events_before + 1);
    assert!(
        rest.len() > 200_000,
        "the export outgrew the pipe: {}",
        rest.len()
    );
}

/// Guards that a writer still has the ledger alone: while one holds it, a reader waits
/// (`--wait 0`: busy, exit 3), and nothing is written by the reader meanwhile.
#[test]
fn a_reader_waits_for_a_writer() {
    let l = fixture_ledger();
    let held = kaohe::internals::store::Store::open(&l.db).expect("open");
    let out = l.run(&["--wait", "0", "log"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    drop(held);
    l.ok(&["--wait", "30", "log"]);
}

/// Guards the places readers copy sled's files to (memory, `/dev/shm`, where the system has
/// it; the temporary directory): a copy older than a minute whose reader was killed (its
/// process gone, or its lock free) is removed by the next reader, in either place; a reader
/// removes its own copy when it ends.
#[test]
fn copies_of_killed_readers_are_removed() {
    let l = fixture_ledger();
    let mut bases = vec![std::env::temp_dir()];
    let memory = std::path::Path::new("/dev/shm");
    if memory.is_dir() && std::env::var_os("TMPDIR").is_none() {
        bases.push(memory.to_path_buf());
    }
    // Above Linux's largest pid (4194304): no process has it.
    let orphans: Vec<_> = bases
        .iter()
        .map(|b| b.join("kaohe-read-4194305-0"))
        .collect();
    for orphan in &orphans {
        std::fs::create_dir_all(orphan.join("blobs")).expect("make an orphan");
    }
    // A copy's owner keeps its `held` file locked, which tells across process namespaces
    // (containers sharing `/dev/shm`) what a pid cannot: a copy named after a live process
    // (this one) whose lock is free is an orphan; a copy named after no process here whose
    // lock is held has an owner (in another namespace) and stays.
    let base = bases.last().expect("a base");
    let unlocked = base.join(format!("kaohe-read-{}-999999", std::process::id()));
    std::fs::create_dir_all(&unlocked).expect("make a copy");
    std::fs::write(unlocked.join("held"), "").expect("held");
    let owned = base.join("kaohe-read-4194306-0");
    std::fs::create_dir_all(&owned).expect("make a copy");
    let held = std::fs::File::create(owned.join("held")).expect("held");
    held.lock().expect("lock");
    // Only copies older than a minute are judged: a younger one may be between its creation
    // and its lock. This one, named after no process and without a lock, stays.
    let young = base.join("kaohe-read-4194307-0");
    std::fs::create_dir_all(&young).expect("make a copy");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for copy in orphans.iter().chain([&unlocked, &owned]) {
        std::fs::File::open(copy)
            .and_then(|d| d.set_modified(an_hour_ago))
            .expect("age the copy");
    }
    l.ok(&["score"]);
    for orphan in orphans.iter().chain([&unlocked]) {
        assert!(
            !orphan.exists(),
            "the orphaned copy {} stays",
            orphan.display()
        );
    }
    assert!(
        owned.exists(),
        "a copy whose owner holds its lock was removed"
    );
    assert!(young.exists(), "a copy younger than a minute was removed");
    drop(held);
    for copy in [&owned, &young] {
        std::fs::remove_dir_all(copy).expect("clean up");
    }
}

/// A reader told where temporary files go (`TMPDIR`) copies sled's files there, not into
/// memory: it removes its copy when it ends, and where `TMPDIR` is not a directory it says
/// it cannot make its copy there.
#[test]
fn a_reader_copies_into_the_temporary_directory_it_is_given() {
    let l = fixture_ledger();
    let tmp = tempfile::tempdir().expect("tempdir");
    let score = |tmpdir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args(["--db", l.db.to_str().expect("utf-8"), "score"])
            .env("KAOHE_NOW", crate::harness::TEST_NOW)
            .env("TMPDIR", tmpdir)
            .output()
            .expect("kaohe runs")
    };
    let out = score(tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("read").collect();
    assert!(left.is_empty(), "the reader left {left:?}");
    let not_a_dir = tmp.path().join("a-file");
    std::fs::write(&not_a_dir, "").expect("write");
    let out = score(&not_a_dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a-file"), "{stderr}");
}
