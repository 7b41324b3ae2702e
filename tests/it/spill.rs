//! Big imports spill (issue 17): a batch writes its events, tally rows and postings past the
//! committed lengths as it goes (`Store::spill`, every few MB), so that an import's memory is a
//! buffer, not the import. What it spilled is an interrupted commit's tail until the commit:
//! a refused or killed import leaves the ledger as it was, and the next commit cuts the tail.
//! Lines that refer back to an event already spilled (a dispute of an early record, an id
//! repeated) read it from the file.

use crate::harness::TestLedger;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Records enough to spill several times (a spill is 2 MB of events, rows and postings, some
/// 10,000 records).
const RECORDS: usize = 40_000;

/// One record line; station WJ01 or WJ02 by parity, fixed 3-point clause 1.3.a.
fn record(i: usize) -> String {
    let station = if i.is_multiple_of(2) { "WJ01" } else { "WJ02" };
    let line = serde_json::json!({
        "op": "record", "id": format!("R{i:06}"), "clause": "1.3.a", "station": station,
        "by": "基层科", "occurred": "2018-06-01", "evidence": [format!("证据{i}")],
    });
    format!("{line}\n")
}

/// The big import: every record, then (after many spills) lines that reach back to the
/// first: the first record's line again (unchanged), an appeal against it and its decision.
fn big_import() -> String {
    let mut out: String = (0..RECORDS).map(record).collect();
    out.push_str(&record(0));
    for line in [
        serde_json::json!({"op": "appeal", "id": "A1", "against": "R000000", "station": "WJ01",
            "grounds": "已整改", "evidence": ["申诉书"]}),
        serde_json::json!({"op": "decide", "appeal": "A1", "by": "基层科",
            "outcome": "upheld", "reason": "核实", "evidence": ["复核意见"]}),
    ] {
        out.push_str(&format!("{line}\n"));
    }
    out
}

fn events_len(l: &TestLedger) -> u64 {
    std::fs::metadata(l.db.join("events.seg")).unwrap().len()
}

fn head(l: &TestLedger) -> serde_json::Value {
    let v = l.run(&["verify", "--json"]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    v.json()
}

/// Guards the spilled import against the one held in memory: the same lines imported at once
/// (spilling) and in small imports (never spilling) give the same scores, explain and log,
/// and verify; the lines that reach back to spilled events are read from the file.
#[test]
fn a_big_import_spills_and_gives_the_ledger_small_imports_give() {
    let text = big_import();
    let big = TestLedger::with_stations();
    let out = big.import(&text);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 unchanged"), "{}", out.stdout);
    let small = TestLedger::with_stations();
    let lines: Vec<&str> = text.lines().collect();
    for chunk in lines.chunks(5_000) {
        let out = small.import(&format!("{}\n", chunk.join("\n")));
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    assert_eq!(head(&big)["events"], head(&small)["events"]);
    assert_same_views(
        (&big, &small),
        &[
            &["score", "--json"][..],
            &["explain", "--station", "WJ01", "--json"],
            &["appeal", "list", "--json"],
        ],
    );
}

/// Asserts that two ledgers answer each of `views` the same, hashes aside (each ledger has
/// its own id in its genesis, so its hashes differ; everything else agrees).
fn assert_same_views((a, b): (&TestLedger, &TestLedger), views: &[&[&str]]) {
    let without_hashes = |l: &TestLedger, args: &[&str]| {
        let mut v: serde_json::Value = serde_json::from_str(&l.ok(args)).expect("json");
        drop_hashes(&mut v);
        v
    };
    for args in views {
        let same = without_hashes(a, args) == without_hashes(b, args);
        assert!(same, "{args:?} differs between the two ledgers");
    }
}

fn drop_hashes(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !k.contains("hash"));
            m.values_mut().for_each(drop_hashes);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_hashes),
        _ => {}
    }
}

/// A big import refused at its last line leaves the ledger as it was (its spilled bytes are
/// past the committed lengths, never read), and the next commit cuts them.
#[test]
fn a_refused_big_import_leaves_the_ledger_as_it_was() {
    let l = TestLedger::with_stations();
    let before = head(&l);
    let committed = events_len(&l);
    let mut text: String = (0..RECORDS).map(record).collect();
    text.push_str("{\"op\": \"record\", \"clause\": \"9.9.z\"}\n");
    let out = l.import(&text);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("line {}", RECORDS + 1)),
        "{}",
        out.stderr
    );
    assert!(
        events_len(&l) > committed,
        "the import spilled before it was refused"
    );
    assert_eq!(head(&l), before);
    let out = l.import(&record(0));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let after = head(&l);
    assert_eq!(after["events"], before["events"].as_u64().unwrap() + 1);
    assert!(
        events_len(&l) < committed + 1000,
        "the next commit cut the spilled tail"
    );
    // The refused import's spills set the offsets of blocks past the head; the import that
    // writes those blocks again sets them again, and every event reads back and verifies.
    let again: String = (1..RECORDS).map(record).collect();
    let out = l.import(&again);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        head(&l)["events"],
        before["events"].as_u64().unwrap() + RECORDS as u64
    );
    let shown = l.ok(&["explain", "--station", "WJ02", "--json"]);
    assert!(shown.contains("R039999"), "the last block reads back");
}

/// A big import killed after it spilled (SIGKILL once `events.seg` has grown past what was
/// committed) leaves a ledger that opens and verifies as it was, and takes the import again.
#[test]
fn a_big_import_killed_after_spilling_leaves_the_ledger_as_it_was() {
    let l = TestLedger::with_stations();
    let before = head(&l);
    let committed = events_len(&l);
    let file = l.path("big.jsonl");
    std::fs::write(&file, big_import()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .arg("--db")
        .arg(&l.db)
        .args(["import", file.to_str().unwrap()])
        .env("KAOHE_NOW", &l.now)
        .env_remove("KAOHE_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kaohe runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed = false;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if events_len(&l) > committed + (1 << 20) {
            child.kill().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the import ended ({status}) before it was seen spilling"
    );
    assert_eq!(
        head(&l),
        before,
        "nothing of the killed import is committed"
    );
    let out = l.run(&["import", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let after = head(&l);
    assert_eq!(
        after["events"],
        before["events"].as_u64().unwrap() + RECORDS as u64 + 2
    );
}

/// `kaohe --db L import FILE` with the id index writing a run per `ids_per_run` ids (a test
/// build's `KAOHE_TEST_IDS_PER_RUN`), as a million-id import does.
fn import_with_runs_of(l: &TestLedger, text: &str, ids_per_run: usize) -> crate::harness::Output {
    let file = l.path("runs.jsonl");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .arg("--db")
        .arg(&l.db)
        .args(["import", file.to_str().unwrap()])
        .env("KAOHE_NOW", crate::harness::TEST_NOW)
        .env("KAOHE_TEST_IDS_PER_RUN", ids_per_run.to_string())
        .output()
        .unwrap();
    crate::harness::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Guards the ids an import writes as runs while it goes (past the committed end of
/// `ids.seg`): a later line of the same import finds an id already in a spilled run (the
/// first record again: unchanged; another record under its id: refused, naming the id), the
/// committed runs answer the next import and `explain`, and the ledger verifies.
#[test]
fn ids_written_as_runs_during_an_import_are_found_by_later_lines_and_imports() {
    let l = TestLedger::with_stations();
    let out = import_with_runs_of(&l, &big_import(), 5_000);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 unchanged"), "{}", out.stdout);
    let ids_bytes = std::fs::metadata(l.db.join("ids.seg")).unwrap().len();
    assert!(
        ids_bytes > 8 * 5_000 * 16,
        "the import wrote its ids as runs"
    );
    head(&l);
    let again = import_with_runs_of(&l, &format!("{}{}", record(17), record(39_999)), 5_000);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("2 unchanged"), "{}", again.stdout);
    let other = record(12_345).replace("证据12345", "另一份证据");
    let refused = l.import(&other);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("R012345"), "{}", refused.stderr);
    let shown = l.ok(&["explain", "--station", "WJ02", "--json"]);
    assert!(shown.contains("R039999"), "explain finds the last record");
}

/// Guards the runs of `ids.seg` against damage: a changed byte in a run's entries is found by
/// `verify` (exit 1) and a cut file is refused when the ledger is opened, naming the file.
#[test]
fn a_damaged_or_cut_ids_file_is_found() {
    let l = TestLedger::with_stations();
    let text: String = (0..5_000).map(record).collect();
    let out = l.import(&text);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    head(&l);
    let path = l.db.join("ids.seg");
    let good = std::fs::read(&path).unwrap();
    assert!(good.len() >= 5_000 * 16, "one run of the import's ids");
    for at in [16 * 2_500 + 3, 16 * 4_000 + 9] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let v = l.run(&["verify", "--json"]);
        assert_eq!(v.code, 1, "byte {at}: {}{}", v.stdout, v.stderr);
        assert_eq!(v.json()["ok"], false);
    }
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    let out = l.run(&["score"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("ids file"), "{}", out.stderr);
    std::fs::write(&path, &good).unwrap();
    head(&l);
}

/// Stations enough that an import touching them all passes `WARM_UP_AFTER_STATIONS` (1,024)
/// lookups and reads every station's registration, sums, postings head and unit counts in
/// one scan each.
const MANY_STATIONS: usize = 1_300;

fn station_line(i: usize) -> String {
    let line = serde_json::json!({"op": "station", "code": format!("S{i:04}"),
        "name": format!("第{i}司法所"), "kind": "town"});
    format!("{line}\n")
}

/// A record line of station `i`: `clause` by `by`, id `{prefix}{i}`.
fn station_record(i: usize, prefix: &str, clause: &str, by: &str) -> String {
    let line = serde_json::json!({"op": "record", "id": format!("{prefix}{i}"),
        "clause": clause, "station": format!("S{i:04}"), "by": by, "occurred": "2018-06-01",
        "count": 1, "evidence": [format!("证据{prefix}{i}")]});
    format!("{line}\n")
}

/// Guards the warm-up (a batch that has looked up many stations reads their state in one
/// scan each): an import touching every station of a ledger (a second unit of a counted
/// clause, another record, an appeal of a record in the ledger) gives the ledger that
/// imports of a few hundred lines give, which never warm up.
#[test]
fn an_import_that_reads_every_station_at_once_gives_the_ledger_small_imports_give() {
    let first: String = (0..MANY_STATIONS)
        .map(station_line)
        .chain((0..MANY_STATIONS).map(|i| station_record(i, "F", "5.1.b", "政治处")))
        .chain((0..MANY_STATIONS).map(|i| station_record(i, "G", "1.2.a", "基层科")))
        .collect();
    let second: Vec<String> = (0..MANY_STATIONS)
        .flat_map(|i| {
            let mut lines = vec![
                station_record(i, "H", "5.1.b", "政治处"),
                station_record(i, "K", "1.2.a", "基层科"),
            ];
            if i % 10 == 0 {
                let appeal = serde_json::json!({"op": "appeal", "id": format!("A{i}"),
                    "against": format!("G{i}"), "station": format!("S{i:04}"),
                    "grounds": "已整改", "evidence": ["申诉书"]});
                lines.push(format!("{appeal}\n"));
            }
            lines
        })
        .collect();
    let (big, small) = (TestLedger::new(), TestLedger::new());
    for l in [&big, &small] {
        let out = l.import(&first);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    let out = big.import(&second.concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for chunk in second.chunks(300) {
        let out = small.import(&chunk.concat());
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    assert_eq!(head(&big)["events"], head(&small)["events"]);
    assert_same_views(
        (&big, &small),
        &[
            &["score", "--json"][..],
            &["explain", "--station", "S0000", "--json"],
            &["explain", "--station", "S1299", "--json"],
            &["appeal", "list", "--json"],
        ],
    );
    // A third unit of the counted clause is counted from the units read in the warm-up:
    // the same outcome, line for line, as where each station's count is looked up alone.
    let third: Vec<String> = (0..MANY_STATIONS)
        .map(|i| station_record(i, "T", "5.1.b", "政治处"))
        .collect();
    let at_once = big.import(&third.concat());
    let alone = small.import(&third[..1].concat());
    assert_eq!(
        at_once.code, alone.code,
        "{}{}",
        at_once.stderr, alone.stderr
    );
    let first_line = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first_line(&at_once.stderr), first_line(&alone.stderr));
}

/// Guards a writer's copy of the ids sled holds (read once after 64 lookups in one batch,
/// `IdBuffer::sled_ids`): ids committed in small imports, held in sled, are found by an
/// import's lookups before and after the copy is made (the first record's line again:
/// unchanged; another record under an id: refused, naming it), and the ledger verifies.
#[test]
fn ids_held_in_sled_are_found_by_every_lookup_of_a_long_import() {
    let l = TestLedger::with_stations();
    for chunk in 0..4 {
        let lines: String = (chunk * 50..chunk * 50 + 50).map(record).collect();
        let out = l.import(&lines);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    assert_eq!(
        std::fs::metadata(l.db.join("ids.seg")).map_or(0, |m| m.len()),
        0,
        "small imports keep their ids in sled"
    );
    // Early lines repeat held ids (unchanged), then new ones; late lines repeat held ids again.
    let mut lines: String = (0..10).map(record).collect();
    lines.extend((1_000..1_200).map(record));
    lines.extend((190..200).map(record));
    let out = l.import(&lines);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("20 unchanged"), "{}", out.stdout);
    for late in [5, 150, 199] {
        let mut lines: String = (2_000..2_100).map(record).collect();
        lines.push_str(&record(late).replace(&format!("证据{late}"), "另一份证据"));
        let refused = l.import(&lines);
        assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
        assert!(
            refused.stderr.contains(&format!("R{late:06}")),
            "{}",
            refused.stderr
        );
    }
    head(&l);
}
