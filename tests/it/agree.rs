//! `score` and `explain` agree, and neither sums an edited index as if it were the truth
//! (issue 13). Regression tests for two forgeries that gave a wrong table with exit 0:
//! - two stations swapped in the station log (an entry's place decides which station a tally
//!   row counts for): `score` ranked them wrongly while `explain` was right;
//! - after the close, a tally edited so that its checksums still held: `score` printed the
//!   forged table as final.

use crate::harness::{fixture_path, TestLedger};
use kaohe::internals::store::{Log, Store};

/// The fixture year, imported (and closed when `close`), with `verify` passing.
fn fixture_ledger(close: bool) -> TestLedger {
    let l = TestLedger::new();
    l.ok(&[
        "import",
        fixture_path("wujin-2018.jsonl").to_str().expect("path"),
    ]);
    if close {
        l.ok(&["close", "--accept-gaps", "--reason", "测试"]);
    }
    l.ok(&["verify"]);
    l
}

/// Swaps the first two entries of the station log (length-prefixed entries in one block).
fn swap_first_two_stations(l: &TestLedger) {
    let store = Store::open(&l.db).expect("store");
    store
        .tamper_log(Log::Stations, 0, |v| {
            let len = |at: usize| usize::from(u16::from_le_bytes([v[at], v[at + 1]])) + 2;
            let (a, b) = (len(0), len(len(0)));
            let first = v[..a].to_vec();
            let second = v[a..a + b].to_vec();
            v.splice(..a + b, second.into_iter().chain(first));
        })
        .expect("tamper");
}

#[test]
fn a_swapped_station_log_is_reported_not_summed() {
    let l = fixture_ledger(false);
    let before = l.ok(&["explain", "--station", "WJ01", "--json"]);
    swap_first_two_stations(&l);
    for args in [
        &["score"][..],
        &["score", "--json"],
        &["score", "--at", "2018-06-30"],
    ] {
        let out = l.run(args);
        assert_eq!(
            out.code, 1,
            "{args:?} summed an edited station log: {}",
            out.stdout
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed a table: {}",
            out.stdout
        );
        assert!(
            out.stderr.contains("station log"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("WJ01") && out.stderr.contains("WJ02"),
            "{args:?} does not name the stations: {}",
            out.stderr
        );
    }
    // explain reads the station's own events; it was right before and stays right.
    assert_eq!(l.ok(&["explain", "--station", "WJ01", "--json"]), before);
    let out = l.run(&["verify"]);
    assert_eq!(
        out.code, 1,
        "verify passed an edited station log: {}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("entry 0 holds WJ02 where the events register WJ01"),
        "verify does not name the swapped stations: {}",
        out.stderr
    );
}

#[test]
fn after_the_close_a_forged_tally_is_never_printed_as_final() {
    let l = fixture_ledger(true);
    let honest = l.ok(&["score", "--json"]);
    {
        let store = Store::open(&l.db).expect("store");
        // Move the first station's records to the second station (an entry is a 2-byte
        // length and a 42-byte row; row bytes 20..24 hold the station's ordinal, 24..26 the
        // item, below 0x8000 for a record); the tamper hook fixes the row checksums, as a
        // forger who knows the format would.
        store
            .tamper_log(Log::Tally, 0, |v| {
                for entry in v.chunks_exact_mut(44) {
                    let row = &mut entry[2..];
                    let ordinal = u32::from_le_bytes([row[20], row[21], row[22], row[23]]);
                    let item = u16::from_le_bytes([row[24], row[25]]);
                    if ordinal == 0 && item < 0x8000 {
                        row[20..24].copy_from_slice(&1u32.to_le_bytes());
                    }
                }
            })
            .expect("tamper");
    }
    // A view cut at the period's end reads the rows (the final scores, all the same).
    let out = l.run(&["score", "--at", "2018-12-31"]);
    assert_eq!(out.code, 1, "a forged final table: {}", out.stdout);
    assert!(out.stderr.contains("closing event"), "{}", out.stderr);
    assert!(
        out.stderr.contains("WJ"),
        "names no station: {}",
        out.stderr
    );
    // The view at the head reads each station's aggregate, which the edit did not reach.
    assert_eq!(l.ok(&["score", "--json"]), honest);
    // verify names the stations whose rows were moved.
    let v = l.run(&["verify"]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("the rows of WJ01, WJ02 differ"),
        "verify does not name the stations: {}",
        v.stderr
    );
    // Only the forged ledger is refused: the honest table was printed before the edit.
    assert!(!honest.contains("\"closed_at_seq\":null"), "{honest}");
    // The same forgery in the aggregates: WJ01's sums given to WJ02 and WJ02's to WJ01.
    {
        let store = Store::open(&l.db).expect("store");
        let aggregate = kaohe::internals::store::Index::Aggregate;
        let key = kaohe::internals::domain::rows::aggregate_key;
        let (a, b) = (
            store
                .index_get(aggregate, &key(0))
                .unwrap()
                .expect("WJ01's sums"),
            store
                .index_get(aggregate, &key(1))
                .unwrap()
                .expect("WJ02's sums"),
        );
        store
            .tamper_index(aggregate, &key(0), Some(&b))
            .expect("tamper");
        store
            .tamper_index(aggregate, &key(1), Some(&a))
            .expect("tamper");
    }
    let out = l.run(&["score"]);
    assert_eq!(out.code, 1, "a forged final table: {}", out.stdout);
    assert!(out.stderr.contains("closing event"), "{}", out.stderr);
    assert!(out.stderr.contains("WJ01"), "{}", out.stderr);
}
