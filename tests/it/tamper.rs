//! Tamper detection: every change to an export or to the stored ledger is caught, and the first
//! bad seq is named.
//!
//! Exports are checked with `kaohe verify --export FILE` (no ledger needed). The store is
//! tampered through the library's test hooks (`Store::tamper_block`, `Store::tamper_index`),
//! with the store closed before kaohe runs again (sled holds a lock), and then checked with
//! `kaohe verify`; the other commands must refuse a damaged ledger with a message, never panic.
//!
//! The ledgers used here hold more than 256 events, so that block 1 is covered as well as
//! block 0: seq 0 the genesis, 1–2 the stations WJ01 and WJ02, then one event per generated
//! import line (seq = 3 + line index).

use crate::harness::{Output, TestLedger};
use kaohe::internals::base::limits::EVENTS_PER_BLOCK;
use kaohe::internals::events::chain::{self, GENESIS_PREV};
use kaohe::internals::events::codec;
use kaohe::internals::events::event::{Body, EventKind, Hash};
use kaohe::internals::store::{Index, Store};
use serde_json::Value;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The ledger under attack.

/// Import lines after the two stations. 300 lines → 303 events: block 0 full, block 1 has 47.
const RECORDS: usize = 300;
const EVENTS: u64 = 3 + RECORDS as u64;
const LAST: u64 = EVENTS - 1;

/// The seq of the event written for import line `i`.
fn seq_of(i: usize) -> u64 {
    3 + i as u64
}

/// The generated import: mostly per-unit deductions (1.2.a), a fixed 3-point clause (1.3.a)
/// on every line `i % 10 == 3`, a metric report on every line `i % 50 == 7`, and two units of
/// the counted clause 5.1.b for each station (so that the unit-count index is populated).
fn batch() -> String {
    let mut out = String::new();
    for i in 0..RECORDS {
        let station = if i % 2 == 0 { "WJ01" } else { "WJ02" };
        let day = format!("2018-{:02}-{:02}", 1 + i % 12, 1 + i % 28);
        let line = if i % 50 == 7 {
            serde_json::json!({
                "op": "metric", "id": format!("M{i:04}"), "station": station,
                "metric": "dispute_entry_rate", "value": format!("9{}.5", i % 10),
                "by": "基层科", "occurred": day, "evidence": [format!("统计表{i}")],
            })
        } else if (20..24).contains(&i) {
            serde_json::json!({
                "op": "record", "id": format!("R{i:04}"), "clause": "5.1.b", "station": station,
                "by": "政治处", "occurred": day, "evidence": [format!("证据{i}")],
            })
        } else if i % 10 == 3 {
            serde_json::json!({
                "op": "record", "id": format!("R{i:04}"), "clause": "1.3.a", "station": station,
                "by": "基层科", "occurred": day, "evidence": [format!("证据{i}")],
            })
        } else {
            serde_json::json!({
                "op": "record", "id": format!("R{i:04}"), "clause": "1.2.a", "station": station,
                "by": "基层科", "occurred": day, "count": 1, "evidence": [format!("证据{i}")],
            })
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// A ledger of [`EVENTS`] events; returns it with its head hash.
fn big_ledger() -> (TestLedger, String) {
    let l = TestLedger::with_stations();
    let out = l.import(&batch());
    assert_eq!(out.code, 0, "import: {}{}", out.stdout, out.stderr);
    let head = head_of(&l);
    (l, head)
}

fn head_of(l: &TestLedger) -> String {
    let v: Value = serde_json::from_str(&l.ok(&["verify", "--json"])).expect("verify json");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["events"], EVENTS);
    v["head"].as_str().expect("head").to_string()
}

// ---------------------------------------------------------------------------------------------
// Exports.

struct Export {
    lines: Vec<String>,
    head: String,
}

/// The export of a [`big_ledger`], made once; the ledger itself is gone (none is needed).
fn export() -> &'static Export {
    static EXPORT: OnceLock<Export> = OnceLock::new();
    EXPORT.get_or_init(|| {
        let (l, head) = big_ledger();
        let lines: Vec<String> = l.ok(&["export"]).lines().map(str::to_string).collect();
        assert_eq!(lines.len() as u64, EVENTS);
        Export { lines, head }
    })
}

fn lines() -> Vec<String> {
    export().lines.clone()
}

/// The index of the first export line whose JSON satisfies `pred`.
fn find_line(lines: &[String], pred: impl Fn(&Value) -> bool) -> usize {
    lines
        .iter()
        .position(|l| pred(&serde_json::from_str(l).expect("export line is JSON")))
        .expect("a matching line")
}

/// Edits one decoded field of line `i`, leaving everything else as it is.
fn edit_field(lines: &mut [String], i: usize, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let mut v: Value = serde_json::from_str(&lines[i]).unwrap();
    f(v.as_object_mut().unwrap());
    lines[i] = v.to_string();
}

fn run_verify_export_bytes(bytes: &[u8], head: Option<&str>) -> Output {
    let l = TestLedger::empty();
    let file = l.path("export.jsonl");
    std::fs::write(&file, bytes).expect("write export");
    let mut args = vec!["verify", "--export", file.to_str().unwrap(), "--json"];
    if let Some(h) = head {
        args.extend(["--head", h]);
    }
    l.run(&args)
}

fn run_verify_export(lines: &[String], head: Option<&str>) -> Output {
    let mut text = lines.join("\n");
    if !lines.is_empty() {
        text.push('\n');
    }
    run_verify_export_bytes(text.as_bytes(), head)
}

/// Verification fails with exit 1 and names `seq` as the first bad one (JSON and message).
fn assert_bad_at(out: &Output, seq: u64) {
    assert_eq!(
        out.code, 1,
        "verify should fail: {}{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad_seq"], seq, "{v}");
    assert!(
        out.stderr.contains(&format!("seq {seq}")),
        "the message names seq {seq}: {}",
        out.stderr
    );
}

fn assert_export_bad_at(lines: &[String], seq: u64) {
    assert_bad_at(&run_verify_export(lines, None), seq);
    // The original head changes nothing: the problem is found before the end.
    assert_bad_at(&run_verify_export(lines, Some(&export().head)), seq);
}

fn assert_ok(out: &Output) -> Value {
    assert_eq!(
        out.code, 0,
        "verify should pass: {}{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    v
}

#[test]
fn untouched_export_verifies_with_and_without_its_head() {
    let v = assert_ok(&run_verify_export(&lines(), None));
    assert_eq!(v["events"], EVENTS);
    assert_eq!(v["head"], export().head.as_str());
    let v = assert_ok(&run_verify_export(&lines(), Some(&export().head)));
    assert_eq!(v["expected_head_at"], LAST);
    // An older head (one published after seq 100) is found at its place.
    let older = serde_json::from_str::<Value>(&export().lines[100]).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let v = assert_ok(&run_verify_export(&lines(), Some(&older)));
    assert_eq!(v["expected_head_at"], 100);
}

#[test]
fn export_with_a_wrong_head_fails() {
    let wrong = "00".repeat(32);
    assert_bad_at(&run_verify_export(&lines(), Some(&wrong)), EVENTS);
}

#[test]
fn export_edited_computed_points_is_caught_at_its_seq() {
    let mut lines = lines();
    let i = find_line(&lines, |v| v["clause"] == "1.3.a");
    assert_eq!(
        serde_json::from_str::<Value>(&lines[i]).unwrap()["computed_points"],
        "3"
    );
    edit_field(&mut lines, i, |m| {
        m.insert("computed_points".into(), "1".into());
    });
    assert_export_bad_at(&lines, i as u64);
}

#[test]
fn export_edited_evidence_text_is_caught_at_its_seq() {
    let mut lines = lines();
    let i = 150;
    edit_field(&mut lines, i, |m| {
        let e = m["evidence"][0].as_str().unwrap().replace("证据", "证椐");
        m["evidence"][0] = e.into();
    });
    assert_export_bad_at(&lines, i as u64);
}

#[test]
fn export_edited_station_is_caught_at_its_seq() {
    let mut lines = lines();
    let i = find_line(&lines, |v| {
        v["station"] == "WJ01" && v["type"] == "points_recorded"
    });
    edit_field(&mut lines, i, |m| {
        m.insert("station".into(), "WJ02".into());
    });
    assert_export_bad_at(&lines, i as u64);
}

#[test]
fn export_edited_metric_value_is_caught_at_its_seq() {
    let mut lines = lines();
    let i = find_line(&lines, |v| v["type"] == "metric_reported");
    edit_field(&mut lines, i, |m| {
        m.insert("value".into(), "100".into());
    });
    assert_export_bad_at(&lines, i as u64);
}

#[test]
fn export_edited_genesis_rubric_text_is_caught_at_seq_0() {
    let mut lines = lines();
    edit_field(&mut lines, 0, |m| {
        let r = m["rubric"]
            .as_str()
            .unwrap()
            .replace("bonus_cap = \"10\"", "bonus_cap = \"20\"");
        m.insert("rubric".into(), r.into());
    });
    assert_export_bad_at(&lines, 0);
}

#[test]
fn export_edited_seq_or_recorded_at_field_is_caught() {
    let mut lines = lines();
    edit_field(&mut lines, 40, |m| {
        m.insert("seq".into(), 41.into());
    });
    assert_export_bad_at(&lines, 40);

    let mut lines = self::lines();
    edit_field(&mut lines, 41, |m| {
        m.insert("recorded_at".into(), "2019-01-09T08:00:00Z".into());
    });
    assert_export_bad_at(&lines, 41);
}

#[test]
fn export_line_with_an_added_or_removed_field_is_caught() {
    let mut lines = lines();
    edit_field(&mut lines, 42, |m| {
        m.insert("approved".into(), true.into());
    });
    assert_export_bad_at(&lines, 42);

    let mut lines = self::lines();
    edit_field(&mut lines, 43, |m| {
        m.remove("evidence");
    });
    assert_export_bad_at(&lines, 43);
}

#[test]
fn export_changed_body_hex_digit_is_caught_at_its_seq() {
    let mut lines = lines();
    let i = 77;
    edit_field(&mut lines, i, |m| {
        let mut hex = m["body"].as_str().unwrap().to_string();
        let at = hex.len() / 2;
        let c = hex.as_bytes()[at];
        let new = if c == b'0' { "1" } else { "0" };
        hex.replace_range(at..at + 1, new);
        m.insert("body".into(), hex.into());
    });
    assert_export_bad_at(&lines, i as u64);
}

#[test]
fn export_single_bit_flip_in_body_is_caught_at_its_seq() {
    // One bit in each of several places: the seq, the kind tag, a string, the last byte.
    for (i, byte) in [(5usize, 1usize), (100, 10), (200, 20), (250, usize::MAX)] {
        for bit in [0u8, 7] {
            let mut lines = lines();
            edit_field(&mut lines, i, |m| {
                let mut body = hex::decode(m["body"].as_str().unwrap()).unwrap();
                let at = byte.min(body.len() - 1);
                body[at] ^= 1 << bit;
                m.insert("body".into(), hex::encode(body).into());
            });
            assert_export_bad_at(&lines, i as u64);
        }
    }
}

#[test]
fn export_deleted_middle_line_is_caught_at_its_seq() {
    let mut lines = lines();
    lines.remove(120);
    assert_export_bad_at(&lines, 120);
}

#[test]
fn export_deleted_genesis_line_is_caught_at_seq_0() {
    let mut lines = lines();
    lines.remove(0);
    assert_export_bad_at(&lines, 0);
}

#[test]
fn export_inserted_copied_line_is_caught_after_the_original() {
    let mut lines = lines();
    let copy = lines[60].clone();
    lines.insert(61, copy);
    assert_export_bad_at(&lines, 61);

    // A copy placed elsewhere (here: of an earlier line, at the end) is caught too.
    let mut lines = self::lines();
    let copy = lines[10].clone();
    lines.push(copy);
    assert_export_bad_at(&lines, EVENTS);
}

#[test]
fn export_swapped_lines_are_caught_at_the_first() {
    let mut lines = lines();
    lines.swap(90, 91);
    assert_export_bad_at(&lines, 90);

    let mut lines = self::lines();
    lines.swap(30, 250);
    assert_export_bad_at(&lines, 30);
}

#[test]
fn export_reordered_lines_are_caught_at_the_first_moved() {
    let mut lines = lines();
    lines[200..220].reverse();
    assert_export_bad_at(&lines, 200);

    // A line moved to the end.
    let mut lines = self::lines();
    let moved = lines.remove(150);
    lines.push(moved);
    assert_export_bad_at(&lines, 150);

    // Sorted by something other than seq (the evidence text).
    let mut lines = self::lines();
    let genesis = lines.remove(0);
    lines.sort();
    lines.insert(0, genesis);
    let first = (0..lines.len())
        .find(|&i| lines[i] != export().lines[i])
        .expect("sorting changed the order");
    assert_export_bad_at(&lines, first as u64);
}

#[test]
fn export_changed_prev_hash_is_caught_at_its_seq() {
    let mut lines = lines();
    edit_field(&mut lines, 33, |m| {
        m.insert("prev_hash".into(), "ab".repeat(32).into());
    });
    assert_export_bad_at(&lines, 33);
}

#[test]
fn export_changed_hash_is_caught_at_its_seq() {
    for i in [0usize, 34, LAST as usize] {
        let mut lines = lines();
        edit_field(&mut lines, i, |m| {
            let mut h = hex::decode(m["hash"].as_str().unwrap()).unwrap();
            h[31] ^= 1;
            m.insert("hash".into(), hex::encode(h).into());
        });
        assert_export_bad_at(&lines, i as u64);
    }
    // A hash that is not 64 hex digits.
    let mut lines = lines();
    edit_field(&mut lines, 35, |m| {
        m.insert("hash".into(), "xyz".into());
    });
    assert_export_bad_at(&lines, 35);
}

/// A chain alone cannot show that its end was cut off: only the head published earlier can.
#[test]
fn export_truncated_at_the_end_passes_without_head_but_fails_with_the_original_head() {
    for keep in [LAST as usize, 200, 1] {
        let lines: Vec<String> = lines().into_iter().take(keep).collect();
        let v = assert_ok(&run_verify_export(&lines, None));
        assert_eq!(v["events"], keep as u64);
        // The first missing event is the first bad one.
        assert_bad_at(
            &run_verify_export(&lines, Some(&export().head)),
            keep as u64,
        );
    }
}

/// Re-encodes the event of line `i` after `edit`, and re-chains it and every later line, as a
/// forger without any key can: every hash links again.
fn rechain_export(lines: &mut [String], i: usize, edit: impl FnOnce(&mut Body)) {
    let first: Value = serde_json::from_str(&lines[i]).unwrap();
    let mut prev = chain::parse_hash(first["prev_hash"].as_str().unwrap()).unwrap();
    let mut edit = Some(edit);
    for line in lines.iter_mut().skip(i) {
        let v: Value = serde_json::from_str(line).unwrap();
        let mut body = codec::decode(&hex::decode(v["body"].as_str().unwrap()).unwrap()).unwrap();
        if let Some(edit) = edit.take() {
            edit(&mut body);
        }
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        *line = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
        prev = hash;
    }
}

/// A forger who re-chains every line after a change makes the export consistent as a chain.
/// A change the rubric would refuse (points the rubric does not give) is still caught at its
/// seq, because export verification recomputes every record from the genesis rubric.
#[test]
fn export_rechained_forged_points_are_caught_at_their_seq() {
    let mut lines = lines();
    let i = find_line(&lines, |v| v["clause"] == "1.3.a");
    rechain_export(&mut lines, i, |b| record_mut(b).computed_points = 1.into());
    assert_bad_at(&run_verify_export(&lines, None), i as u64);
    assert_bad_at(&run_verify_export(&lines, Some(&export().head)), i as u64);
}

/// A re-chained change the rubric allows (other evidence) is consistent in every way; only a
/// head published earlier tells, whether it is the last head or one from after the change.
#[test]
fn export_rechained_forgery_is_caught_by_the_original_head() {
    let mut lines = lines();
    let i = find_line(&lines, |v| v["clause"] == "1.3.a");
    rechain_export(&mut lines, i, |b| {
        record_mut(b).evidence = vec!["伪造的证据".into()]
    });
    assert_ne!(lines, export().lines);
    assert_eq!(
        run_verify_export(&lines, None).code,
        0,
        "consistent without a head"
    );
    assert_bad_at(&run_verify_export(&lines, Some(&export().head)), EVENTS);
    let earlier_head = serde_json::from_str::<Value>(&export().lines[i + 5]).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_bad_at(&run_verify_export(&lines, Some(&earlier_head)), EVENTS);
}

/// What export verification does check beyond the chain, on re-chained forgeries (no head
/// needed): the body's seq is its place, only the first event is a genesis, recorded times do
/// not go back.
#[test]
fn export_rechained_event_out_of_place_is_caught_at_its_seq() {
    let i = 150;
    let cases: [Forgery; 4] = [
        ("seq one ahead", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.seq += 1;
        }),
        ("seq of an earlier event", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.seq = 3;
        }),
        ("recorded an hour before the event ahead of it", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.recorded_at_us -= 3_600_000_000;
        }),
        ("a second genesis", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.kind = EventKind::LedgerCreated(kaohe::internals::events::event::LedgerCreated {
                ledger_id: [7; 16],
                rubric_toml: "x".into(),
                rubric_hash: chain::plain(b"x"),
                period_start: "2018-01-01".parse().unwrap(),
                period_end: "2018-12-31".parse().unwrap(),
            });
        }),
    ];
    for (what, forge) in cases {
        let mut lines = lines();
        rechain_export(&mut lines, i, forge);
        let out = run_verify_export(&lines, None);
        assert_eq!(out.code, 1, "{what}: {}", out.stdout);
        assert_bad_at(&out, i as u64);
    }
}

/// A published head vouches for the chain up to it, not for what follows: events appended
/// later (here a forged one, correctly chained) verify with the old head, as the ledger's own
/// growth must. Only a newer head can vouch for them.
#[test]
fn export_appended_event_is_beyond_an_older_head() {
    let mut lines = lines();
    let last: Value = serde_json::from_str(&lines[LAST as usize]).unwrap();
    let prev = chain::parse_hash(last["hash"].as_str().unwrap()).unwrap();
    let mut body = codec::decode(&hex::decode(last["body"].as_str().unwrap()).unwrap()).unwrap();
    let Body::V1(e) = &mut body else {
        unreachable!("an unsigned event")
    };
    e.seq = EVENTS;
    if let EventKind::PointsRecorded(p) = &mut e.kind {
        p.id = "FORGED".into();
    }
    let bytes = codec::encode(&body).unwrap();
    let hash = chain::link(&prev, &bytes);
    lines.push(kaohe::ops::export::line(&body, &bytes, &prev, &hash));
    assert_ok(&run_verify_export(&lines, None));
    let v = assert_ok(&run_verify_export(&lines, Some(&export().head)));
    assert_eq!(v["expected_head_at"], LAST, "{v}");
    assert_eq!(v["events"], EVENTS + 1);
}

#[test]
fn empty_export_fails_at_seq_0() {
    assert_bad_at(&run_verify_export_bytes(b"", None), 0);
    assert_bad_at(&run_verify_export_bytes(b"", Some(&export().head)), 0);
    assert_bad_at(&run_verify_export_bytes(b"\n", None), 0);
}

#[test]
fn export_non_json_line_is_caught_at_its_seq() {
    for (i, junk) in [
        (0usize, "not json"),
        (70, "{\"seq\":70"),
        (71, "[]"),
        (72, "null"),
        (73, ""),
        (LAST as usize, "# a comment"),
    ] {
        let mut lines = lines();
        lines[i] = junk.to_string();
        assert_export_bad_at(&lines, i as u64);
    }
}

/// A byte that is not UTF-8 is a changed line like any other: exit 1, naming its seq.
#[test]
fn export_non_utf8_byte_is_caught_at_its_seq() {
    let mut text = lines().join("\n").into_bytes();
    text.push(b'\n');
    // A byte inside line 80's evidence text (a multi-byte character).
    let start: usize = export().lines[..80].iter().map(|l| l.len() + 1).sum();
    let at = start + export().lines[80].find("证据").unwrap();
    text[at] = 0xff;
    assert_bad_at(&run_verify_export_bytes(&text, None), 80);
}

/// A line with a key twice (a forged value first, the true one last): a JSON reader that keeps
/// the last value sees the true event, one that keeps the first (several do) sees the forgery.
/// Such a line must be refused, not verified by the last value.
#[test]
fn export_duplicated_key_with_a_forged_value_is_caught() {
    let mut lines = lines();
    let i = find_line(&lines, |v| v["clause"] == "1.3.a");
    lines[i] = lines[i].replacen("{", "{\"computed_points\":\"1\",", 1);
    assert!(lines[i].matches("computed_points").count() == 2);
    assert_export_bad_at(&lines, i as u64);
}

// ---------------------------------------------------------------------------------------------
// The store.

/// Opens the store (kaohe must not be running), hands it to `f`, and closes it again.
fn with_store<R>(l: &TestLedger, f: impl FnOnce(&Store) -> R) -> R {
    let store = Store::open(&l.db).expect("store opens");
    let r = f(&store);
    drop(store);
    wait_unlocked(&l.db);
    r
}

/// Waits until sled's lock on the store is released. A dropped `sled::Db` can keep its file
/// (and so its lock) open for a moment in background threads; kaohe run right after would find
/// the ledger "in use". The lock is an exclusive `flock` on `<db>/db`.
fn wait_unlocked(db: &std::path::Path) {
    let file = std::fs::File::open(db.join("db")).expect("the sled file");
    for _ in 0..2000 {
        if file.try_lock().is_ok() {
            file.unlock().expect("unlock");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the store at {} stays locked", db.display());
}

/// (offset of the frame, body length) of each frame of a block.
fn frames(block: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let len = u32::from_le_bytes(block[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, len));
        at += 4 + len + 32;
    }
    assert_eq!(at, block.len(), "block parses into whole frames");
    out
}

fn block_of(seq: u64) -> (u64, usize) {
    (seq / EVENTS_PER_BLOCK, (seq % EVENTS_PER_BLOCK) as usize)
}

/// Changes the stored frame of `seq` with `f(frame bytes, body length)`.
fn tamper_frame(l: &TestLedger, seq: u64, f: impl FnOnce(&mut Vec<u8>, usize, usize)) {
    let (block, j) = block_of(seq);
    with_store(l, |s| {
        s.tamper_block(block, |v| {
            let (at, len) = frames(v)[j];
            f(v, at, len);
        })
        .expect("tamper");
    });
}

fn verify(l: &TestLedger) -> Output {
    l.run(&["verify", "--json"])
}

/// A command on a damaged ledger: refused with a message (exit 1 or 2), never a panic.
fn assert_refused_without_panic(out: &Output, what: &str) {
    assert!(
        out.code == 1 || out.code == 2,
        "{what} should refuse a damaged ledger (exit 1 or 2), got {}: {}{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.starts_with("kaohe: ") && !out.stderr.contains("panicked"),
        "{what}: {}",
        out.stderr
    );
}

fn assert_no_panic(out: &Output, what: &str) {
    assert!(
        [0, 1, 2].contains(&out.code) && !out.stderr.contains("panicked"),
        "{what} exited {}: {}",
        out.code,
        out.stderr
    );
}

/// `verify` names `seq`, and the commands that read events refuse the ledger. `score` reads
/// no events: it checks the links since the last full verification, which [`big_ledger`]
/// made before the damage (`score_checks_the_links_since_the_last_verification`), and does
/// not panic.
fn assert_store_bad_at(l: &TestLedger, seq: u64) {
    assert_bad_at(&verify(l), seq);
    for args in [&["score"][..], &["score", "--json"]] {
        assert_no_panic(&l.run(args), &args.join(" "));
    }
    for args in [&["export"][..], &["log", "--json"], &["station", "list"]] {
        assert_refused_without_panic(&l.run(args), &args.join(" "));
    }
}

/// `score` reads the tally, not the events; it checks the links of the events the last full
/// verification did not cover, so that it stays O(events since then) at any size (issue 17),
/// and the whole chain when no verification was recorded or the chain no longer holds the
/// verified hash. Guards both sides: damage after the verified seq is refused by score, damage
/// before it is found by verify (and by every command that reads the events).
#[test]
fn score_checks_the_links_since_the_last_verification() {
    let (l, _) = big_ledger();
    let verified = LAST;
    // More events after the verification (head_of verified the whole ledger).
    let more: String = (0..20)
        .map(|i| {
            let line = serde_json::json!({
                "op": "record", "id": format!("after-{i:04}"), "clause": "1.3.a",
                "station": "WJ01", "by": "基层科", "occurred": "2018-06-01",
                "evidence": [format!("证据M{i}")],
            });
            format!("{line}\n")
        })
        .collect();
    let out = l.import(&more);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = verified + 10;
    tamper_frame(&l, after, |v, at, len| v[at + 4 + len / 2] ^= 0x10);
    for args in [
        &["score"][..],
        &["score", "--json"],
        &["score", "--at", "2018-06-30"],
    ] {
        let out = l.run(args);
        assert_refused_without_panic(&out, &args.join(" "));
        assert!(
            out.stderr.contains(&format!("seq {after}")),
            "{}",
            out.stderr
        );
    }
    assert_bad_at(&verify(&l), after);

    // Before the verified seq: score answers from the tally; verify finds the damage.
    let (l, _) = big_ledger();
    let before = seq_of(3);
    tamper_frame(&l, before, |v, at, len| v[at + 4 + len / 2] ^= 0x10);
    assert_eq!(l.run(&["score"]).code, 0);
    assert_bad_at(&verify(&l), before);

    // A recorded verification whose hash the chain does not hold (as after a rewrite from
    // there on): score checks every link and finds the damage before it.
    let (l, _) = big_ledger();
    tamper_frame(&l, before, |v, at, len| v[at + 4 + len / 2] ^= 0x10);
    with_store(&l, |s| s.put_verified(LAST, &[7u8; 32], None).expect("put"));
    let out = l.run(&["score"]);
    assert_refused_without_panic(&out, "score");
    assert!(
        out.stderr.contains(&format!("seq {before}")),
        "{}",
        out.stderr
    );
}

#[test]
fn never_tampered_ledger_verifies() {
    let (l, head) = big_ledger();
    let v = assert_ok(&verify(&l));
    assert_eq!(v["events"], EVENTS);
    assert_eq!(v["head"], head.as_str());
    assert_ok(&l.run(&["verify", "--json", "--head", &head]));
    // Opening and closing the store through the library changes nothing.
    with_store(&l, |s| {
        assert_eq!(s.head().unwrap().unwrap().next_seq, EVENTS)
    });
    assert_ok(&verify(&l));
    // A head other than the ledger's is a finding.
    assert_bad_at(
        &l.run(&["verify", "--json", "--head", &"11".repeat(32)]),
        EVENTS,
    );
}

#[test]
fn store_bit_flip_in_a_body_in_block_0_is_caught_at_its_seq() {
    let (l, _) = big_ledger();
    let seq = seq_of(3);
    tamper_frame(&l, seq, |v, at, len| v[at + 4 + len / 2] ^= 0x10);
    assert_store_bad_at(&l, seq);
}

#[test]
fn store_bit_flip_in_a_body_in_block_1_is_caught_at_its_seq() {
    let (l, _) = big_ledger();
    let seq = seq_of(263);
    assert!(seq >= EVENTS_PER_BLOCK);
    tamper_frame(&l, seq, |v, at, _| v[at + 4 + 1] ^= 0x01);
    assert_store_bad_at(&l, seq);
}

#[test]
fn store_bit_flip_in_the_genesis_is_caught_at_seq_0() {
    let (l, _) = big_ledger();
    // Inside the rubric text.
    tamper_frame(&l, 0, |v, at, len| v[at + 4 + len - 200] ^= 0x02);
    assert_store_bad_at(&l, 0);
}

#[test]
fn store_bit_flip_in_the_last_event_is_caught_at_its_seq() {
    let (l, _) = big_ledger();
    tamper_frame(&l, LAST, |v, at, len| v[at + 4 + len - 1] ^= 0x80);
    assert_store_bad_at(&l, LAST);
}

#[test]
fn store_changed_hash_is_caught_at_its_seq() {
    for seq in [100, seq_of(280), LAST] {
        let (l, _) = big_ledger();
        tamper_frame(&l, seq, |v, at, len| v[at + 4 + len + 5] ^= 0x04);
        assert_store_bad_at(&l, seq);
    }
}

#[test]
fn store_changed_body_length_is_caught_at_its_seq() {
    let (l, _) = big_ledger();
    let seq = 77;
    tamper_frame(&l, seq, |v, at, _| v[at] ^= 0x01);
    assert_store_bad_at(&l, seq);
}

#[test]
fn store_removed_frame_in_the_middle_of_a_block_is_caught_at_its_seq() {
    for seq in [50, seq_of(270)] {
        let (l, _) = big_ledger();
        tamper_frame(&l, seq, |v, at, len| {
            v.drain(at..at + 4 + len + 32);
        });
        assert_store_bad_at(&l, seq);
    }
}

#[test]
fn store_duplicated_frame_is_caught_after_the_original() {
    let (l, _) = big_ledger();
    let seq = seq_of(270);
    tamper_frame(&l, seq, |v, at, len| {
        let frame = v[at..at + 4 + len + 32].to_vec();
        v.splice(at..at, frame);
    });
    assert_store_bad_at(&l, seq + 1);
}

/// Frames removed from the end of the last block, at a frame boundary: the head says more.
#[test]
fn store_last_block_truncated_at_a_frame_boundary_is_caught_at_the_first_missing_seq() {
    let (l, _) = big_ledger();
    let first_gone = LAST - 9;
    tamper_frame(&l, first_gone, |v, at, _| v.truncate(at));
    assert_store_bad_at(&l, first_gone);
}

/// Block 0 cut inside a frame: the frames before it verify, the cut one is named.
#[test]
fn store_block_0_truncated_inside_a_frame_is_caught_at_that_seq() {
    let (l, _) = big_ledger();
    let seq = 200;
    tamper_frame(&l, seq, |v, at, len| v.truncate(at + 4 + len / 2));
    assert_store_bad_at(&l, seq);
}

/// The last block cut inside a frame: the frames before the cut verify, the cut one is named
/// (not seq 0, although the cut is found while counting the stored frames, before any is read).
#[test]
fn store_last_block_truncated_inside_a_frame_is_caught_at_that_seq() {
    let (l, _) = big_ledger();
    let seq = LAST - 3;
    tamper_frame(&l, seq, |v, at, len| v.truncate(at + 4 + len / 2));
    assert_store_bad_at(&l, seq);
}

#[test]
fn store_emptied_block_0_is_caught_at_seq_0() {
    let (l, _) = big_ledger();
    with_store(&l, |s| s.tamper_block(0, |v| v.clear()).unwrap());
    assert_store_bad_at(&l, 0);
}

#[test]
fn store_emptied_last_block_is_caught_at_its_first_seq() {
    let (l, _) = big_ledger();
    with_store(&l, |s| s.tamper_block(1, |v| v.clear()).unwrap());
    assert_store_bad_at(&l, EVENTS_PER_BLOCK);
}

/// A whole extra frame behind the head, correctly chained: the head says fewer events.
#[test]
fn store_frame_appended_behind_the_head_is_caught_at_its_seq() {
    let (l, _) = big_ledger();
    with_store(&l, |s| {
        let mut last = None;
        s.for_each_frame(LAST, EVENTS, |f| {
            last = Some((f.body.to_vec(), *f.hash));
            Ok(true)
        })
        .unwrap();
        let (body, prev) = last.unwrap();
        let mut body = codec::decode(&body).unwrap();
        let Body::V1(e) = &mut body else {
            unreachable!("an unsigned event")
        };
        e.seq = EVENTS;
        if let EventKind::PointsRecorded(p) = &mut e.kind {
            p.id = "FORGED".into();
        }
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        s.tamper_block(EVENTS / EVENTS_PER_BLOCK, |v| {
            v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            v.extend_from_slice(&bytes);
            v.extend_from_slice(&hash);
        })
        .unwrap();
    });
    assert_bad_at(&verify(&l), EVENTS);
}

/// Re-encodes the event at `seq` after `edit`, and re-chains every later frame, so that every
/// stored hash links. The head record (`H`) is left alone. Returns the new last hash.
fn rechain(s: &Store, seq: u64, edit: impl FnOnce(&mut Body)) -> Hash {
    let next = s.head().unwrap().unwrap().next_seq;
    let mut frames: Vec<(Vec<u8>, Hash)> = Vec::new();
    s.for_each_frame(0, next, |f| {
        frames.push((f.body.to_vec(), *f.hash));
        Ok(true)
    })
    .unwrap();
    let seq = seq as usize;
    let mut body = codec::decode(&frames[seq].0).unwrap();
    edit(&mut body);
    frames[seq].0 = codec::encode(&body).unwrap();
    let mut prev = if seq == 0 {
        GENESIS_PREV
    } else {
        frames[seq - 1].1
    };
    for f in &mut frames[seq..] {
        f.1 = chain::link(&prev, &f.0);
        prev = f.1;
    }
    let per = EVENTS_PER_BLOCK as usize;
    for (b, chunk) in frames.chunks(per).enumerate().skip(seq / per) {
        let mut bytes = Vec::new();
        for (body, hash) in chunk {
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(hash);
        }
        s.tamper_block(b as u64, |v| *v = bytes).unwrap();
    }
    prev
}

fn record_mut(body: &mut Body) -> &mut kaohe::internals::events::event::PointsRecorded {
    let Body::V1(e) = body else {
        unreachable!("an unsigned event")
    };
    match &mut e.kind {
        EventKind::PointsRecorded(p) => p,
        other => panic!("not a record: {other:?}"),
    }
}

/// Rewrites the head record directly in sled (no hook exists for it): the last step of a
/// forger who owns the disk.
fn rewrite_head(l: &TestLedger, hash: &Hash) {
    let db = sled::Config::new().path(&l.db).open().expect("sled opens");
    let mut h = db.get(b"H").unwrap().expect("head").to_vec();
    h[8..40].copy_from_slice(hash);
    db.insert(b"H", h).unwrap();
    db.flush().unwrap();
    drop(db);
    wait_unlocked(&l.db);
}

/// The head record changed on its own: the last event no longer ends where the head says.
#[test]
fn store_changed_head_hash_is_caught_at_the_last_seq() {
    let (l, _) = big_ledger();
    rewrite_head(&l, &[0x5a; 32]);
    assert_store_bad_at(&l, LAST);
}

/// A forged figure, re-chained so that every hash links: verify recomputes the points from the
/// rubric and names the forged event, not just the end of the chain.
#[test]
fn store_rechained_forged_computed_points_is_caught_at_its_seq() {
    for i in [3usize, 263] {
        let (l, _) = big_ledger();
        let seq = seq_of(i);
        with_store(&l, |s| {
            rechain(s, seq, |b| {
                let p = record_mut(b);
                assert_eq!(p.clause, "1.3.a");
                p.computed_points = 1.into();
            })
        });
        assert_bad_at(&verify(&l), seq);
    }
}

/// A forged evidence text that still chains is not recomputable: the stored head catches it at
/// the end of the chain; a forger who rewrites the head too is caught only by a head published
/// earlier (`verify --head`).
#[test]
fn store_rechained_forgery_is_caught_by_the_head() {
    let (l, head) = big_ledger();
    let seq = seq_of(100);
    let new_head = with_store(&l, |s| {
        rechain(s, seq, |b| record_mut(b).evidence = vec!["伪造".into()])
    });
    assert_bad_at(&verify(&l), LAST);

    rewrite_head(&l, &new_head);
    assert_ok(&verify(&l));
    assert_bad_at(&l.run(&["verify", "--json", "--head", &head]), EVENTS);
}

/// A named change to an event body.
type Forgery = (&'static str, fn(&mut Body));

/// Forgeries that only a store rewritten from the forged event on, head included, can hold: a
/// record for a clause the rubric does not have, and one for a station never registered.
fn unreplayable_forgeries() -> [Forgery; 2] {
    [
        ("unknown clause", |b| record_mut(b).clause = "9.9.z".into()),
        ("unregistered station", |b| {
            record_mut(b).station = "XX99".into()
        }),
    ]
}

/// Verify names the forged event.
#[test]
fn store_rechained_unreplayable_event_is_caught_by_verify_at_its_seq() {
    for (what, forge) in unreplayable_forgeries() {
        let (l, _) = big_ledger();
        let seq = seq_of(100);
        let new_head = with_store(&l, |s| rechain(s, seq, forge));
        rewrite_head(&l, &new_head);
        let out = verify(&l);
        assert!(
            out.stderr.contains(&format!("seq {seq}")),
            "{what}: {}",
            out.stderr
        );
        assert_bad_at(&out, seq);
    }
}

/// Scores never panic on such a store. `score` reads the tally (a cache written with the
/// events) after checking the chain's links, which a consistent re-chaining keeps intact; the
/// disagreement between the forged events and the tally is `verify`'s to report.
#[test]
fn store_rechained_unreplayable_event_does_not_panic_score() {
    for (what, forge) in unreplayable_forgeries() {
        let (l, _) = big_ledger();
        let seq = seq_of(100);
        let new_head = with_store(&l, |s| rechain(s, seq, forge));
        rewrite_head(&l, &new_head);
        for args in [&["score"][..], &["score", "--json"]] {
            assert_no_panic(&l.run(args), &format!("{what}: {}", args.join(" ")));
        }
        assert_eq!(verify(&l).code, 1, "{what}: verify reports the forgery");
    }
}

/// The other readers do not fold scores and do not panic either.
#[test]
fn store_rechained_unreplayable_event_does_not_panic_log_or_export() {
    for (what, forge) in unreplayable_forgeries() {
        let (l, _) = big_ledger();
        let seq = seq_of(100);
        let new_head = with_store(&l, |s| rechain(s, seq, forge));
        rewrite_head(&l, &new_head);
        for args in [
            &["log"][..],
            &["log", "--json"],
            &["export"],
            &["station", "list"],
        ] {
            assert_no_panic(&l.run(args), &format!("{what}: {}", args.join(" ")));
        }
    }
}

fn metric_mut(body: &mut Body) -> &mut kaohe::internals::events::event::MetricReported {
    let Body::V1(e) = body else {
        unreachable!("an unsigned event")
    };
    match &mut e.kind {
        EventKind::MetricReported(m) => m,
        other => panic!("not a metric report: {other:?}"),
    }
}

/// Rewrites the store from event `seq` on (head included) with `forge` applied to it, and
/// returns the seq verify names, if it names one.
fn first_bad_after_full_rewrite(seq: u64, forge: fn(&mut Body)) -> Option<u64> {
    let (l, _) = big_ledger();
    let new_head = with_store(&l, |s| rechain(s, seq, forge));
    rewrite_head(&l, &new_head);
    let out = verify(&l);
    let v = out.json();
    (out.code == 1).then(|| v["first_bad_seq"].as_u64().expect("first_bad_seq"))
}

/// Events out of place in a store rewritten consistently (every hash links, the head matches):
/// a body whose seq is not its place, a recorded time going back, a second genesis.
#[test]
fn store_rewritten_event_out_of_place_is_caught_at_its_seq() {
    let cases: [Forgery; 3] = [
        ("seq one ahead", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.seq += 1;
        }),
        ("recorded an hour before the event ahead of it", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.recorded_at_us -= 3_600_000_000;
        }),
        ("a second genesis", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            e.kind = EventKind::LedgerCreated(kaohe::internals::events::event::LedgerCreated {
                ledger_id: [7; 16],
                rubric_toml: "x".into(),
                rubric_hash: chain::plain(b"x"),
                period_start: "2018-01-01".parse().unwrap(),
                period_end: "2018-12-31".parse().unwrap(),
            });
        }),
    ];
    let seq = seq_of(200);
    for (what, forge) in cases {
        assert_eq!(
            first_bad_after_full_rewrite(seq, forge),
            Some(seq),
            "{what}"
        );
    }
}

/// Forged records the write path refuses, in a store rewritten consistently (every hash links,
/// the head matches): verify recomputes records from the rubric and names them.
#[test]
fn store_rewritten_record_the_rubric_refuses_is_caught_at_its_seq() {
    let cases: [Forgery; 4] = [
        ("computed_points", |b| {
            record_mut(b).computed_points = 5.into()
        }),
        ("department not assessing the item", |b| {
            record_mut(b).by = "公律科".into()
        }),
        ("input the clause does not take", |b| {
            record_mut(b).inputs.done = Some(1)
        }),
        ("count zero", |b| record_mut(b).inputs.count = Some(0)),
    ];
    let seq = seq_of(100);
    for (what, forge) in cases {
        assert_eq!(
            first_bad_after_full_rewrite(seq, forge),
            Some(seq),
            "{what}"
        );
    }
}

/// The same for what the write path checks besides the points: a metric report's metric, bounds
/// and department, and an event's occurred date (inside the rubric's period, not after the
/// recording day). Regression: verify once checked none of these.
#[test]
fn store_rewritten_event_the_write_path_refuses_is_caught_at_its_seq() {
    let metric = seq_of(7);
    let record = seq_of(100);
    let cases: [(u64, Forgery); 5] = [
        (
            metric,
            ("unknown metric", |b| {
                metric_mut(b).metric = "no_such_metric".into()
            }),
        ),
        (
            metric,
            ("value above the metric's max of 100", |b| {
                metric_mut(b).value = 150.into()
            }),
        ),
        (
            metric,
            ("department not reporting the metric", |b| {
                metric_mut(b).by = "公律科".into()
            }),
        ),
        (
            record,
            ("occurred before the period", |b| {
                record_mut(b).occurred = "2017-05-01".parse().unwrap()
            }),
        ),
        (
            record,
            ("occurred after the recording day", |b| {
                record_mut(b).occurred = "2019-06-01".parse().unwrap()
            }),
        ),
    ];
    let mut missed = Vec::new();
    for (seq, (what, forge)) in cases {
        if first_bad_after_full_rewrite(seq, forge) != Some(seq) {
            missed.push(what);
        }
    }
    assert!(missed.is_empty(), "verify passes forged events: {missed:?}");
}

// ---- indices

fn seq_bytes(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

#[test]
fn store_removed_id_index_entry_is_caught_at_the_event_holding_the_id() {
    let (l, _) = big_ledger();
    with_store(&l, |s| s.tamper_id(b"R0100", None).unwrap());
    assert_bad_at(&verify(&l), seq_of(100));
    assert_no_panic(&l.run(&["score"]), "score");
}

#[test]
fn store_redirected_id_index_entry_is_caught_at_the_event_holding_the_id() {
    for target in [seq_of(101), 0, EVENTS + 5] {
        let (l, _) = big_ledger();
        with_store(&l, |s| s.tamper_id(b"R0260", Some(target)).unwrap());
        assert_bad_at(&verify(&l), seq_of(260));
        assert_no_panic(&l.run(&["score"]), "score");
        // Looking the id up through the write path must not panic either.
        let out = l.import(
            r#"{"op":"record","id":"R0260","clause":"1.2.a","station":"WJ01","by":"基层科","occurred":"2018-06-01","count":1,"evidence":["x"]}"#,
        );
        assert_no_panic(&out, "import");
    }
}

#[test]
fn store_extra_id_index_entry_is_caught() {
    let (l, _) = big_ledger();
    with_store(&l, |s| s.tamper_id(b"GHOST", Some(5)).unwrap());
    let out = verify(&l);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["ok"], false);
}

#[test]
fn store_removed_station_index_entry_is_caught_at_its_registration() {
    let (l, _) = big_ledger();
    with_store(&l, |s| {
        s.tamper_index(Index::Station, b"WJ02", None).unwrap()
    });
    assert_bad_at(&verify(&l), 2);
    assert_no_panic(&l.run(&["score"]), "score");
    assert_no_panic(&l.run(&["log", "--station", "WJ02"]), "log --station");
}

#[test]
fn store_redirected_station_index_entry_is_caught_at_its_registration() {
    let (l, _) = big_ledger();
    with_store(&l, |s| {
        s.tamper_index(Index::Station, b"WJ01", Some(&seq_bytes(2)))
            .unwrap()
    });
    assert_bad_at(&verify(&l), 1);
    assert_no_panic(&l.run(&["score"]), "score");
}

#[test]
fn store_changed_unit_count_is_caught() {
    let (l, _) = big_ledger();
    let mut key = b"WJ01".to_vec();
    key.push(0);
    key.extend_from_slice(b"5.1.b");
    with_store(&l, |s| {
        assert_eq!(
            s.index_get(Index::UnitCount, &key).unwrap(),
            Some(2u32.to_be_bytes().to_vec())
        );
        s.tamper_index(Index::UnitCount, &key, Some(&0u32.to_be_bytes()))
            .unwrap()
    });
    let out = verify(&l);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["ok"], false);
}

// The write path trusts the indices (they are caches that `verify` checks in full against the
// events): a consistent change to an index through the store's own API cannot be told from a
// real entry without scanning the events, so index damage is caught by `verify`, above, not
// by a write.

/// An interrupted commit leaves bytes past the committed lengths of `events.seg` and
/// `tally.seg` (written and perhaps synced, but the head never moved): they are not part of the
/// ledger. It opens and verifies as before, and the next commit cuts the tail and writes over
/// it. Guards the store's commit order (files first, then the head).
#[test]
fn an_interrupted_commits_tail_is_ignored_and_cut() {
    use std::io::Write;
    let (l, head) = big_ledger();
    let before = std::fs::metadata(l.db.join(kaohe::internals::store::EVENTS_FILE))
        .unwrap()
        .len();
    for (file, junk) in [
        (kaohe::internals::store::EVENTS_FILE, vec![0xab; 5000]),
        (
            kaohe::internals::store::TALLY_FILE,
            vec![0x2a, 0x00, 0x01, 0x02],
        ),
    ] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(l.db.join(file))
            .unwrap();
        f.write_all(&junk).unwrap();
    }
    assert_eq!(head_of(&l), head);
    l.ok(&["score"]);
    l.ok(&[
        "record",
        "--clause",
        "1.3.a",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-01",
        "--evidence",
        "after the crash",
        "--id",
        "AFTER",
    ]);
    let v = assert_ok(&verify(&l));
    assert_eq!(v["events"], EVENTS + 1, "{v}");
    let after = std::fs::metadata(l.db.join(kaohe::internals::store::EVENTS_FILE))
        .unwrap()
        .len();
    assert!(
        after < before + 5000,
        "the tail was cut before the new frame was written ({before} → {after} bytes)"
    );
}

/// A file cut below its committed length has lost committed events: every command refuses the
/// ledger, naming the damage, and verify fails.
#[test]
fn a_cut_events_file_is_refused_on_open() {
    let (l, _) = big_ledger();
    let path = l.db.join(kaohe::internals::store::EVENTS_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    for args in [&["score"][..], &["log"], &["verify", "--json"]] {
        let out = l.run(args);
        assert_refused_without_panic(&out, args[0]);
    }
    let out = l.run(&["verify", "--json"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
}
