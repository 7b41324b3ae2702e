//! Issue 13, who may change who may sign: the bureau's key is the root of trust, and a
//! signature binds the history its signer saw.
//!
//! - Someone with write access to a ledger but no bureau key cannot register a key, revoke
//!   one, register a station or close the year (exit 2, field `key`, nothing written).
//! - Signed events moved into another history (one dropped, the rest moved up) are caught at
//!   the first one whose signed head the new chain does not hold there.
//! - A version 2 signature (no head) is refused in a ledger rooted in a bureau key.

use crate::keys::{
    body_of, export, export_lines, hash_of, key_new, ledger_id, put, record_args, refused,
    register, requiring, signed, KeyFiles,
};
use kaohe::internals::events::codec;
use kaohe::internals::events::event::{Body, Signed};
use kaohe::internals::events::sign::{self, KeyPair};

/// Guards the first finding of issue 13: with write access and no key at all, one could make a
/// key for a department, register it, sign deductions with it and revoke the real key, and
/// register stations, all with exit 0. Without a bureau key in force each is refused and the
/// ledger is unchanged.
#[test]
fn without_the_bureaus_key_nobody_changes_who_may_sign() {
    let l = requiring();
    let real = key_new(&l, &["--dept", "基层科"], "real.key");
    register(&l, &real.public);
    let before = export(&l);
    let forged = key_new(&l, &["--dept", "基层科"], "forged.key");
    let bureau_only: [&[&str]; 4] = [
        &["key", "register", &forged.public],
        &["key", "revoke", &real.hex, "--reason", "伪造"],
        &[
            "station",
            "add",
            "WJ09",
            "--name",
            "伪造所",
            "--kind",
            "town",
        ],
        &["close"],
    ];
    for args in bureau_only {
        // Unsigned, and signed by the department's real key: both refused.
        for key in [None, Some(&real)] {
            let mut a: Vec<&str> = match key {
                Some(k) => vec!["--key", &k.private],
                None => vec!["--key", &forged.private],
            };
            a.extend_from_slice(args);
            refused(&l, &a, "key");
        }
    }
    // The forged key signs nothing: it was never registered.
    let mut a = vec!["--key", forged.private.as_str()];
    a.extend(record_args("F1", "1.1.b", "WJ01", "基层科"));
    let e = refused(&l, &a, "key");
    assert!(e.contains("not registered"), "{e}");
    assert_eq!(export(&l), before, "nothing was written");
}

/// The ledger for the history tests: 基层科's key and three records it signed, R1..R3 at
/// seqs 5..=7.
fn three_records() -> (crate::harness::TestLedger, KeyFiles) {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    register(&l, &jc.public);
    for (id, clause, seq) in [("R1", "1.1.b", 5), ("R2", "1.3.a", 6), ("R3", "1.3.b", 7)] {
        let v = signed(&l, &jc, &record_args(id, clause, "WJ01", "基层科"));
        assert_eq!(v["seq"], seq);
    }
    (l, jc)
}

/// Guards the replay finding of issue 13: a signature covered the ledger and the kind only, so
/// the same signed events could be re-sequenced into a different history (R2 dropped, R3 moved
/// up to its seq) and `verify --export` passed. Now R3 binds the head its signer saw (R2), and
/// the rewritten chain is caught at R3's new place.
#[test]
fn signed_events_moved_into_another_history_are_caught() {
    let (l, _) = three_records();
    let mut lines = export_lines(&l);
    lines.remove(6);
    let mut moved = body_of(&lines[6]);
    moved.v1_mut().seq = 6;
    put(&mut lines, 6, &moved);
    let p = crate::keys::assert_forgery_at(&lines, 6, "R3 moved into R2's place");
    assert!(p.contains("signed head"), "{p}");
    // The history it was signed in still verifies.
    crate::keys::assert_verifies(&export_lines(&l), "the real history");
}

/// Guards that a ledger rooted in a bureau key takes version 3 signatures only: R3 re-signed by
/// its own key as version 2 (over the ledger and the kind, no head) is caught at its seq.
#[test]
fn a_version_2_signature_is_refused_in_a_rooted_ledger() {
    let (l, jc) = three_records();
    let mut lines = export_lines(&l);
    let id = ledger_id(&lines);
    let event = body_of(&lines[7]).v1().clone();
    let kind = codec::encode_kind(&event.kind).unwrap();
    let pair = KeyPair::from_file_text(&jc.text()).unwrap();
    let signature = pair.sign(&sign::message(&id, &kind));
    put(&mut lines, 7, &Body::V2(Signed { event, signature }));
    let p = crate::keys::assert_forgery_at(&lines, 7, "a version 2 signature");
    assert!(p.contains("version 3"), "{p}");
    // Unchanged, R3 binds R2's seq and hash.
    let after = body_of(&export_lines(&l)[7]).after().expect("version 3");
    assert_eq!((after.seq, after.hash), (6, hash_of(&export_lines(&l)[6])));
}

/// Guards that the bureau publishes the heads of a ledger rooted in its key: a checkpoint
/// signed by a department's key is refused (exit 2, nothing stored); the bureau's is stored.
#[test]
fn a_rooted_ledgers_checkpoints_are_the_bureaus() {
    let (l, jc) = three_records();
    let out = crate::keys::run(&l, &["--key", &jc.private, "checkpoint"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("bureau key"), "{}", out.stderr);
    let listed = crate::keys::ok(&l, &["checkpoint", "--list", "--json"]);
    assert!(!listed.contains("\"size\""), "nothing stored: {listed}");
    let bureau = KeyFiles::at(&l, "bureau.key");
    crate::keys::ok(&l, &["--key", &bureau.private, "checkpoint"]);
    let listed = crate::keys::ok(&l, &["checkpoint", "--list", "--json"]);
    assert!(listed.contains("\"size\":8"), "{listed}");
}
