//! The tally (a compact cache of what scores need) gives exactly the scores a replay of the
//! events gives, in every view; and verify notices when it disagrees with the events.

use crate::harness::{fixture_path, rubric_path, TestLedger};
use kaohe::internals::domain::projection::Scores;
use kaohe::internals::ledger::query::{Query, View};
use kaohe::internals::ledger::Ledger;
use kaohe::ops::import;
use proptest::prelude::*;
use std::io::BufReader;

/// The plain truth: replay the view's events through the score fold.
fn replayed(ledger: &Ledger, view: &View) -> String {
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay_view(view, |e| {
            fold.apply(e.body)?;
            Ok(true)
        })
        .expect("replay");
    format!("{:?}", fold.finish())
}

fn tallied(ledger: &Ledger, view: &View) -> String {
    format!(
        "{:?}",
        kaohe::internals::ledger::tally::scores(ledger, view).expect("tally")
    )
}

fn fixture_ledger(dir: &std::path::Path) -> Ledger {
    let db = dir.join("ledger");
    let rubric = std::fs::read_to_string(rubric_path()).expect("rubric");
    // Created just before the first commit (2018-12-28T12:26:40Z, after every occurred date).
    let created = jiff::Timestamp::from_second(1_545_999_000).expect("time");
    Ledger::init(&db, &rubric, created).expect("init");
    let mut ledger = Ledger::open(&db).expect("open");
    let file = std::fs::File::open(fixture_path("wujin-2018.jsonl")).expect("fixture");
    let commands = import::read(BufReader::new(file), |_| {}).expect("read");
    // Several commits at different times, so that known-at cuts fall between them.
    for (i, chunk) in commands.chunks(50).enumerate() {
        let now = jiff::Timestamp::from_second(1_546_000_000 + 3600 * i as i64).expect("time");
        ledger.apply(chunk, now).expect("apply");
    }
    ledger
}

#[test]
fn the_tally_scores_every_seq_of_the_fixture_like_a_replay() {
    let dir = tempfile::tempdir().expect("dir");
    let ledger = fixture_ledger(dir.path());
    for n in 0..ledger.head().next_seq {
        let view = ledger
            .view(&Query {
                as_of_seq: Some(n),
                ..Query::default()
            })
            .expect("view");
        assert_eq!(
            tallied(&ledger, &view),
            replayed(&ledger, &view),
            "as of seq {n}"
        );
    }
}

#[test]
fn the_tally_scores_every_month_end_of_the_fixture_like_a_replay() {
    let dir = tempfile::tempdir().expect("dir");
    let ledger = fixture_ledger(dir.path());
    for month in 1..=12i8 {
        let at = jiff::civil::date(2018, month, 1).last_of_month();
        for as_of_seq in [None, Some(120), Some(300)] {
            let view = ledger
                .view(&Query {
                    at: Some(at),
                    as_of_seq,
                    known_at: None,
                })
                .expect("view");
            assert_eq!(
                tallied(&ledger, &view),
                replayed(&ledger, &view),
                "at {at}, as of {as_of_seq:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any combination of the two times, on the fixture.
    #[test]
    fn the_tally_agrees_with_a_replay_in_any_view(
        seq in 0u64..368,
        day in 0i64..400,
        hours in 0i64..12,
        use_at in any::<bool>(),
        use_known in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("dir");
        let ledger = fixture_ledger(dir.path());
        let at = jiff::civil::date(2018, 1, 1)
            .checked_add(jiff::Span::new().days(day))
            .expect("date");
        let known = jiff::Timestamp::from_second(1_546_000_000 + 3600 * hours).expect("time");
        let q = Query {
            as_of_seq: Some(seq),
            known_at: use_known.then_some(known),
            at: use_at.then_some(at),
        };
        let view = ledger.view(&q).expect("view");
        prop_assert_eq!(tallied(&ledger, &view), replayed(&ledger, &view));
    }
}

/// The tally is written in the same commit as the events and checked by verify.
#[test]
fn verify_reports_a_tally_row_that_disagrees_with_its_event() {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l.ok(&["verify"]);
    {
        let store = kaohe::internals::store::Store::open(&l.db).expect("store");
        store
            .tamper_log(kaohe::internals::store::Log::Tally, 0, |v| {
                // The last byte of the first row's points: another figure.
                v[41] ^= 1;
            })
            .expect("tamper");
    }
    let out = l.run(&["verify", "--json"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("Tally"), "{}", out.stderr);
}

/// The head records how long the tally logs are, so a cut tally is caught when the ledger is
/// opened (a score from it would silently miss records).
#[test]
fn a_cut_tally_is_refused_on_open() {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    {
        let store = kaohe::internals::store::Store::open(&l.db).expect("store");
        store
            .tamper_log(kaohe::internals::store::Log::Tally, 0, |v| {
                v.truncate(v.len() - kaohe::internals::domain::rows::ROW_BYTES - 2);
            })
            .expect("tamper");
    }
    for args in [&["score"][..], &["explain", "--station", "WJ01"]] {
        let out = l.run(args);
        assert_eq!(out.code, 1, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("Tally log"), "{}", out.stderr);
    }
    assert_eq!(l.run(&["verify"]).code, 1);
}

/// The fixture year, and one more commit: a record for `station` (so that the indices the
/// import wrote are updated, not only created).
fn fixture_and_a_record(station: &str) -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l.ok(&[
        "record",
        "--clause",
        "1.3.b",
        "--station",
        station,
        "--by",
        "基层科",
        "--occurred",
        "2018-12-30",
        "--evidence",
        "补充检查记录",
    ]);
    l
}

/// At the head, explain ranks from the per-station aggregates and finds the station's events
/// through its postings; any other view scans the tally. Both must tell the same story:
/// `--at 2018-12-31` (every fixture event occurred in 2018) takes the scanning road.
#[test]
fn explain_at_the_head_agrees_with_the_scanning_road_for_every_station() {
    // One more commit, so that aggregates are updated, not only created.
    let l = fixture_and_a_record("WJ03");
    for n in 1..=15 {
        let station = format!("WJ{n:02}");
        let explain = |extra: &[&str]| {
            let mut args = vec!["explain", "--station", station.as_str(), "--json"];
            args.extend_from_slice(extra);
            let mut v: serde_json::Value = serde_json::from_str(&l.ok(&args)).unwrap();
            v.as_object_mut().unwrap().remove("view");
            v
        };
        assert_eq!(explain(&[]), explain(&["--at", "2018-12-31"]), "{station}");
    }
    l.ok(&["verify"]);
}

/// The aggregates are checked by verify like every other index.
#[test]
fn verify_reports_a_changed_aggregate() {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    {
        let store = kaohe::internals::store::Store::open(&l.db).expect("store");
        let key = kaohe::internals::domain::rows::aggregate_key(0);
        let mut agg = kaohe::internals::domain::rows::Aggregate::decode(
            &store
                .index_get(kaohe::internals::store::Index::Aggregate, &key)
                .unwrap()
                .expect("WJ01 has an aggregate"),
        )
        .unwrap();
        agg.add(0, rust_decimal::Decimal::ONE);
        store
            .tamper_index(
                kaohe::internals::store::Index::Aggregate,
                &key,
                Some(&agg.encode()),
            )
            .unwrap();
    }
    let out = l.run(&["verify"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("Aggregate"), "{}", out.stderr);
}

/// A tally row whose points could not be a computed figure (more than six places, or too
/// large) is damage: score reports it instead of panicking on the fixed-point sum.
#[test]
fn score_refuses_a_tally_row_with_impossible_points() {
    for (what, edit) in [
        ("scale 20", (26 + 2, 20u8)),
        ("a huge mantissa", (26 + 15, 0xffu8)),
    ] {
        let l = TestLedger::new();
        l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
        {
            let store = kaohe::internals::store::Store::open(&l.db).expect("store");
            store
                .tamper_log(kaohe::internals::store::Log::Tally, 0, |v| {
                    // The first entry: 2 length bytes, then the row; points at row bytes 26..42.
                    v[2 + edit.0] = edit.1;
                })
                .expect("tamper");
        }
        // A view cut by date reads the rows (the head's reads the aggregates).
        let out = l.run(&["score", "--at", "2018-12-31"]);
        assert_eq!(out.code, 1, "{what}: {}{}", out.stdout, out.stderr);
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
    }
}

/// An aggregate whose sums could not be computed figures (a sum beyond any total) or that
/// names a slot outside the rubric is damage: the head's score, which reads the aggregates,
/// reports it instead of printing or panicking.
#[test]
fn score_refuses_an_impossible_aggregate() {
    use kaohe::internals::store::Index;
    type Edit = fn(&mut Vec<u8>);
    let cases: [(&str, Edit); 3] = [
        ("a huge sum", |v| {
            v[2..18].copy_from_slice(&i128::MAX.to_le_bytes())
        }),
        ("a slot outside the rubric", |v| {
            v[..2].copy_from_slice(&0x7fffu16.to_le_bytes())
        }),
        ("a cut entry", |v| v.truncate(21)),
    ];
    for (what, edit) in cases {
        let l = TestLedger::new();
        l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
        {
            let store = kaohe::internals::store::Store::open(&l.db).expect("store");
            let key = kaohe::internals::domain::rows::aggregate_key(0);
            let mut v = store
                .index_get(Index::Aggregate, &key)
                .unwrap()
                .expect("WJ01 has an aggregate");
            edit(&mut v);
            store
                .tamper_index(Index::Aggregate, &key, Some(&v))
                .expect("tamper");
        }
        let out = l.run(&["score"]);
        assert_eq!(out.code, 1, "{what}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("aggregate") && !out.stderr.contains("panicked"),
            "{what}: {}",
            out.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Postings: each station's tally rows chained back through `postings.seg` (issue 17: the
// per-event index out of sled). Explain at the head reads a station's events through them.

/// The fixture's ledger with its postings (`seq`, `prev`) as stored, and its tally rows' seqs.
/// Read from the file's bytes as `schema/EVENTS.md` lays them out (not through the store's
/// decoder), up to the committed length, writing nothing.
fn fixture_postings(l: &TestLedger) -> Vec<(u64, u64)> {
    let rows = {
        let store = kaohe::internals::store::Store::open(&l.db).expect("store");
        store.head().unwrap().expect("a head").tally_rows as usize
    };
    let bytes = std::fs::read(l.db.join(kaohe::internals::store::POSTINGS_FILE)).unwrap();
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
    bytes[..rows * 16]
        .chunks_exact(16)
        .map(|p| (word(&p[..8]), word(&p[8..])))
        .collect()
}

fn imported_fixture() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l
}

/// Guards the chains' shape against a naive model: posting `n` holds the seq of tally row `n`,
/// and each names the last earlier posting of the same station (the station whose log the
/// explain of every station lists), so that following a station's chain from its head gives
/// exactly its rows, in order.
#[test]
fn postings_chain_each_stations_rows() {
    let l = imported_fixture();
    let postings = fixture_postings(&l);
    let store = kaohe::internals::store::Store::open(&l.db).expect("store");
    let mut rows = Vec::new();
    store
        .for_each_log_entry(kaohe::internals::store::Log::Tally, 0, |_, e| {
            rows.push(kaohe::internals::domain::rows::Row::decode(e).expect("a row"));
            Ok(true)
        })
        .unwrap();
    drop(store);
    assert_eq!(postings.len(), rows.len(), "one posting per tally row");
    let mut last: std::collections::HashMap<u32, u64> = Default::default();
    for (n, (row, posting)) in rows.iter().zip(&postings).enumerate() {
        assert_eq!(posting.0, row.seq, "posting {n} holds its row's seq");
        let want = last.insert(row.station, n as u64).unwrap_or(u64::MAX);
        assert_eq!(
            posting.1, want,
            "posting {n} names its station's posting before it"
        );
    }
    l.ok(&["verify"]);
}

/// A damaged chain is refused where it is read (explain at the head) and named by verify:
/// a posting that points forward (which could loop), one whose seq was changed, and a head
/// whose count is wrong. Never a hang or a panic.
#[test]
fn damaged_postings_are_refused_and_named() {
    type Damage = fn(&TestLedger, &[(u64, u64)]);
    let cases: [(&str, Damage); 3] = [
        ("a posting pointing forward", |l, p| {
            let n = p.iter().rposition(|x| x.1 != u64::MAX).unwrap();
            let store = kaohe::internals::store::Store::open(&l.db).unwrap();
            store
                .tamper_postings(|v| {
                    v[n * 16 + 8..n * 16 + 16].copy_from_slice(&(n as u64).to_le_bytes())
                })
                .unwrap();
        }),
        ("a posting's seq changed", |l, p| {
            let n = p.len() - 1;
            let store = kaohe::internals::store::Store::open(&l.db).unwrap();
            store.tamper_postings(|v| v[n * 16] ^= 0x01).unwrap();
        }),
        ("a head's count changed", |l, _| {
            use kaohe::internals::store::Index;
            let store = kaohe::internals::store::Store::open(&l.db).unwrap();
            let key = kaohe::internals::domain::rows::postings_key(0);
            let mut v = store.index_get(Index::Postings, &key).unwrap().unwrap();
            v[15] ^= 0x01;
            store.tamper_index(Index::Postings, &key, Some(&v)).unwrap();
        }),
    ];
    for (what, damage) in cases {
        let l = imported_fixture();
        let postings = fixture_postings(&l);
        damage(&l, &postings);
        let out = l.run(&["verify"]);
        assert_eq!(out.code, 1, "{what}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("Postings"), "{what}: {}", out.stderr);
        // Explain reads the chains of the stations it shows; every station is asked for, so
        // the damaged one is among them.
        let refused = (1..=15).any(|n| {
            let out = l.run(&["explain", "--station", &format!("WJ{n:02}")]);
            assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
            out.code != 0
        });
        assert!(refused, "{what}: no explain refused the damaged chain");
    }
}

/// `postings.seg` shorter than the head says is found when the ledger is opened.
#[test]
fn a_cut_postings_file_is_refused_on_open() {
    let l = imported_fixture();
    let file = l.db.join(kaohe::internals::store::POSTINGS_FILE);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    for args in [&["score"][..], &["explain", "--station", "WJ01"]] {
        let out = l.run(args);
        assert_ne!(out.code, 0, "{}", out.stdout);
        assert!(out.stderr.contains("postings file"), "{}", out.stderr);
    }
}

/// A ledger of the store format before postings left sled (`kaohe-store-v4`, which kept a sled
/// entry per event) is refused by every command with the way to migrate it: export it with
/// the kaohe that wrote it, restore the export with this one. Nothing is written to it.
#[test]
fn an_older_store_format_is_refused_with_the_way_to_migrate() {
    let l = imported_fixture();
    let export = l.ok(&["export"]);
    {
        let store = kaohe::internals::store::Store::open(&l.db).expect("store");
        store.tamper_format(b"kaohe-store-v4").unwrap();
    }
    let before = std::fs::read(l.db.join("events.seg")).unwrap();
    for args in [
        &["score"][..],
        &["verify"],
        &["export"],
        &[
            "record",
            "--clause",
            "1.3.a",
            "--station",
            "WJ01",
            "--by",
            "基层科",
            "--occurred",
            "2018-06-01",
            "--evidence",
            "x",
        ],
    ] {
        let out = l.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("kaohe-store-v4")
                && out.stderr.contains("kaohe restore FILE --db NEW"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read(l.db.join("events.seg")).unwrap(), before);
    // The export an older kaohe made restores into this format, and scores the same.
    let file = l.path("export.jsonl");
    std::fs::write(&file, export).unwrap();
    let restored = TestLedger::empty();
    let db = restored.db.to_str().unwrap().to_string();
    restored.ok(&["restore", file.to_str().unwrap(), "--db", &db]);
    restored.ok(&["verify"]);
    assert_eq!(
        restored.ok(&["score", "--json"]),
        imported_fixture().ok(&["score", "--json"])
    );
}

/// The rank index (how many stations stand at each total, and in each band of a point) is
/// what explain ranks from at the head; verify compares it with the totals the events imply.
/// Guards against a station moved to another total (the value and its band kept in step, so
/// the index is consistent with itself but not with the events), a value's count changed
/// without its band, and a band's count changed alone.
#[test]
fn verify_reports_a_changed_rank_count() {
    for (at_value, in_band) in [(true, true), (true, false), (false, true)] {
        let l = TestLedger::new();
        l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
        let x: serde_json::Value =
            serde_json::from_str(&l.ok(&["explain", "--station", "WJ01", "--json"])).unwrap();
        let total: rust_decimal::Decimal = x["total"].as_str().unwrap().parse().unwrap();
        let value = (total * rust_decimal::Decimal::from(1_000_000))
            .normalize()
            .to_string()
            .parse::<i128>()
            .unwrap();
        {
            let store = kaohe::internals::store::Store::open(&l.db).expect("store");
            store.tamper_rank(value, -1, (at_value, in_band)).unwrap();
            store
                .tamper_rank(value - 3_000_000, 1, (at_value, in_band))
                .unwrap();
        }
        let out = l.run(&["verify"]);
        assert_eq!(
            out.code, 1,
            "{at_value} {in_band}: {}{}",
            out.stdout, out.stderr
        );
        assert!(out.stderr.contains("rank index"), "{}", out.stderr);
    }
}

/// A restore rebuilds the rank index the write path keeps: after appeals decided, reversals
/// and later records, the restored ledger's explain gives every station the rank the
/// original's does, and both verify.
#[test]
fn a_restored_ledger_ranks_as_the_original_does() {
    let l = fixture_and_a_record("WJ07");
    let file = l.path("export.jsonl");
    std::fs::write(&file, l.ok(&["export"])).unwrap();
    let r = TestLedger::empty();
    r.ok(&["restore", file.to_str().unwrap()]);
    let rank = |ledger: &TestLedger, station: &str| {
        let x: serde_json::Value =
            serde_json::from_str(&ledger.ok(&["explain", "--station", station, "--json"])).unwrap();
        (x["rank"].clone(), x["total"].clone())
    };
    for n in 1..=15 {
        let station = format!("WJ{n:02}");
        assert_eq!(rank(&l, &station), rank(&r, &station), "{station}");
    }
    l.ok(&["verify"]);
    r.ok(&["verify"]);
}
