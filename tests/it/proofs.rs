//! Checkpoints, receipts and consistency proofs from the command line (`schema/PROOFS.md`):
//! the flow, a receipt that outlives thousands more events, and every forgery a verifier must
//! refuse (exit 1), malformed files (exit 2).

use crate::harness::TestLedger;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A key file for checkpoints (any key signs checkpoints) and its `.pub`.
fn make_key(l: &TestLedger, name: &str) -> (PathBuf, PathBuf) {
    let key = l.path(name);
    l.ok(&[
        "key",
        "new",
        "--dept",
        "基层科",
        "--out",
        key.to_str().unwrap(),
    ]);
    let public = PathBuf::from(format!("{}.pub", key.display()));
    (key, public)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Registers `n` more stations in one import (one event each).
fn add_stations(l: &TestLedger, from: usize, n: usize) {
    let lines: String = (from..from + n)
        .map(|i| {
            format!(
                "{{\"op\":\"station\",\"code\":\"S{i:05}\",\"name\":\"所{i:05}\",\"kind\":\"town\"}}\n"
            )
        })
        .collect();
    let out = l.import(&lines);
    assert_eq!(out.code, 0, "import failed: {}", out.stderr);
}

fn checkpoint(l: &TestLedger, key: &Path) -> String {
    l.ok(&["--key", s(key), "checkpoint"])
}

/// Writes `text` to a file in the ledger's temp dir and returns its path.
fn write(l: &TestLedger, name: &str, text: &str) -> PathBuf {
    let p = l.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `verify-receipt` on a receipt text and returns the exit code and stderr.
fn verify_receipt(l: &TestLedger, receipt: &str, public: &Path) -> (i32, String) {
    let file = write(l, "receipt-under-test.json", receipt);
    let out = l.run(&["verify-receipt", s(&file), "--pubkey", s(public)]);
    (out.code, out.stderr)
}

fn verify_consistency(l: &TestLedger, text: &str, public: &Path) -> (i32, String) {
    let file = write(l, "consistency-under-test.json", text);
    let out = l.run(&["verify-consistency", s(&file), "--pubkey", s(public)]);
    (out.code, out.stderr)
}

/// The same hex string with the digit at `at` changed.
fn flip_hex(h: &str, at: usize) -> String {
    let mut b = h.as_bytes().to_vec();
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(b).unwrap()
}

/// The same base64 text with the character at `at` changed.
fn flip_b64(t: &str, at: usize) -> String {
    let mut b = t.as_bytes().to_vec();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// A note's lines: origin, size, root, "", signature.
fn note_lines(note: &str) -> Vec<String> {
    note.trim_end_matches('\n')
        .split('\n')
        .map(str::to_string)
        .collect()
}

fn join_note(lines: &[String]) -> String {
    format!("{}\n", lines.join("\n"))
}

#[test]
fn checkpoint_receipt_and_offline_verification() {
    let l = TestLedger::with_stations();
    let (key, public) = make_key(&l, "cp.key");
    // No key: a checkpoint cannot be signed.
    let err = l.fails(&["checkpoint"], 2);
    assert!(err.contains("--key"), "{err}");
    // No checkpoint yet: no receipt.
    let err = l.fails(&["receipt", "--seq", "1"], 2);
    assert!(err.contains("kaohe --key FILE checkpoint"), "{err}");

    let note = checkpoint(&l, &key);
    let lines = note_lines(&note);
    assert_eq!(lines.len(), 5, "{note}");
    let shown = l.ok(&["show", "--seq", "0", "--json"]);
    let ledger_id = serde_json::from_str::<Value>(&shown).unwrap()["ledger_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lines[0], format!("kaohe/{ledger_id}"));
    assert_eq!(lines[1], "3", "genesis and two stations");
    assert_eq!(lines[2].len(), 44, "32 bytes in base64");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with(&format!("\u{2014} kaohe/{ledger_id} ")));
    // Stored: listed, and the same checkpoint in JSON.
    let listed: Value = serde_json::from_str(&l.ok(&["checkpoint", "--list", "--json"])).unwrap();
    assert_eq!(listed[0]["size"], 3);
    assert_eq!(listed[0]["note"], json!(note));
    // Checkpointing again at the same size signs the same bytes (Ed25519 is deterministic).
    let again: Value =
        serde_json::from_str(&l.ok(&["--key", s(&key), "checkpoint", "--json"])).unwrap();
    assert_eq!(again["note"], json!(note));

    for args in [
        vec!["receipt", "--seq", "1"],
        vec!["receipt", "1"],
        vec!["receipt", "0"],
        vec!["receipt", "--seq", "2"],
    ] {
        let receipt = l.ok(&args);
        let r: Value = serde_json::from_str(&receipt).unwrap();
        assert_eq!(r["format"], "kaohe-receipt-v1");
        assert_eq!(r["tree_size"], 3);
        assert_eq!(r["checkpoint"], json!(note));
        assert_eq!(r["leaf_index"], r["event"]["seq"]);
        // Offline: a ledger path that does not exist.
        let offline = TestLedger::empty();
        let file = write(&l, "receipt.json", &receipt);
        let out = offline.run(&["verify-receipt", s(&file), "--pubkey", s(&public)]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert!(out.stdout.starts_with("ok: event seq"), "{}", out.stdout);
        // The private key file does as well.
        assert_eq!(
            offline
                .run(&["verify-receipt", s(&file), "--pubkey", s(&key), "--json"])
                .code,
            0
        );
    }
    let out = l.run(&[
        "verify-receipt",
        s(&write(&l, "r.json", &l.ok(&["receipt", "2"]))),
        "--pubkey",
        s(&public),
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["seq"], 2);
    assert_eq!(v["type"], "station_registered");
    let hex_public = v["public_key"].as_str().unwrap().to_string();
    assert_eq!(
        l.run(&[
            "verify-receipt",
            s(&l.path("r.json")),
            "--pubkey",
            &hex_public
        ])
        .code,
        0
    );

    // An event after the latest checkpoint is not covered.
    add_stations(&l, 0, 1);
    let err = l.fails(&["receipt", "--seq", "3"], 2);
    assert!(err.contains("checkpoint"), "{err}");
    let err = l.fails(&["receipt", "--seq", "99"], 2);
    assert!(err.contains("no event"), "{err}");
}

#[test]
fn a_receipt_still_verifies_after_thousands_more_events() {
    let l = TestLedger::with_stations();
    let (key, public) = make_key(&l, "cp.key");
    let old_note = checkpoint(&l, &key);
    let old_receipt = l.ok(&["receipt", "--seq", "2"]);
    assert_eq!(verify_receipt(&l, &old_receipt, &public).0, 0);

    add_stations(&l, 0, 2000);
    let new_note = checkpoint(&l, &key);
    assert_eq!(note_lines(&new_note)[1], "2003");

    // The old receipt still verifies on its own…
    assert_eq!(verify_receipt(&l, &old_receipt, &public).0, 0);
    // …and the new checkpoint provably extends the one it carries.
    let by_size = l.ok(&["consistency", "3", "2003"]);
    let old_file = write(&l, "old.cp", &old_note);
    let new_file = write(&l, "new.cp", &new_note);
    let by_file = l.ok(&["consistency", s(&old_file), s(&new_file)]);
    assert_eq!(by_size, by_file);
    let c: Value = serde_json::from_str(&by_size).unwrap();
    assert_eq!(c["format"], "kaohe-consistency-v1");
    let r: Value = serde_json::from_str(&old_receipt).unwrap();
    assert_eq!(
        c["old"], r["checkpoint"],
        "the receipt's checkpoint is the old one"
    );
    assert_eq!(c["new"], json!(new_note));
    let (code, err) = verify_consistency(&l, &by_size, &public);
    assert_eq!(code, 0, "{err}");
    // A receipt for the same event against the new checkpoint proves the same event hash.
    let new_receipt = l.ok(&["receipt", "--seq", "2"]);
    let n: Value = serde_json::from_str(&new_receipt).unwrap();
    assert_eq!(n["event"], r["event"]);
    assert_eq!(n["tree_size"], 2003);
    assert_eq!(verify_receipt(&l, &new_receipt, &public).0, 0);
    // The old checkpoint can still be asked for explicitly.
    assert_eq!(
        l.ok(&["receipt", "--seq", "2", "--checkpoint", s(&old_file)]),
        old_receipt
    );
    // A checkpoint to itself is consistent with an empty proof.
    let same: Value = serde_json::from_str(&l.ok(&["consistency", "3", "3"])).unwrap();
    assert_eq!(same["proof"], json!([]));
    assert_eq!(verify_consistency(&l, &same.to_string(), &public).0, 0);

    // Forged consistency files are refused.
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = c.clone();
        f(&mut v);
        v.to_string()
    };
    let other = TestLedger::with_stations();
    add_stations(&other, 0, 2000);
    let other_note = checkpoint(&other, &key);
    let (_, other_public) = make_key(&l, "other.key");
    let proof_len = c["proof"].as_array().unwrap().len();
    assert!(proof_len >= 2, "{c}");
    let forged: Vec<(&str, String, &PathBuf)> = vec![
        (
            "old and new swapped",
            with(&|v| {
                let old = v["old"].take();
                v["old"] = v["new"].take();
                v["new"] = old;
            }),
            &public,
        ),
        (
            "a proof element altered",
            with(&|v| {
                let p = v["proof"][0].as_str().unwrap().to_string();
                v["proof"][0] = json!(flip_hex(&p, 10));
            }),
            &public,
        ),
        (
            "the proof's last element altered",
            with(&|v| {
                let p = v["proof"][proof_len - 1].as_str().unwrap().to_string();
                v["proof"][proof_len - 1] = json!(flip_hex(&p, 63));
            }),
            &public,
        ),
        (
            "the proof truncated",
            with(&|v| {
                v["proof"].as_array_mut().unwrap().pop();
            }),
            &public,
        ),
        (
            "an element added",
            with(&|v| {
                let first = v["proof"][0].clone();
                v["proof"].as_array_mut().unwrap().push(first);
            }),
            &public,
        ),
        (
            "two elements swapped",
            with(&|v| v["proof"].as_array_mut().unwrap().swap(0, 1)),
            &public,
        ),
        ("an empty proof", with(&|v| v["proof"] = json!([])), &public),
        (
            "the new checkpoint of another ledger",
            with(&|v| v["new"] = json!(other_note)),
            &public,
        ),
        ("another key", by_size.clone(), &other_public),
        (
            "the new checkpoint's size altered",
            with(&|v| {
                let note = v["new"]
                    .as_str()
                    .unwrap()
                    .replacen("\n2003\n", "\n2004\n", 1);
                v["new"] = json!(note);
            }),
            &public,
        ),
    ];
    for (what, text, key) in forged {
        let (code, err) = verify_consistency(&l, &text, key);
        assert_eq!(code, 1, "{what} must fail the check: {err}");
        assert!(err.contains("does not verify"), "{what}: {err}");
    }
    // Not a consistency file at all: exit 2.
    for (what, text) in [
        ("truncated", by_size[..by_size.len() / 2].to_string()),
        ("not JSON", "hello".to_string()),
        ("an unknown field", with(&|v| v["extra"] = json!(1))),
        (
            "a field missing",
            with(&|v| {
                v.as_object_mut().unwrap().remove("proof");
            }),
        ),
        (
            "another format",
            with(&|v| v["format"] = json!("kaohe-receipt-v1")),
        ),
    ] {
        assert_eq!(verify_consistency(&l, &text, &public).0, 2, "{what}");
    }
    // The ledger refuses to prove OLD from a larger NEW, or another ledger's checkpoint.
    l.fails(&["consistency", "2003", "3"], 2);
    l.fails(&["consistency", "3", "5"], 2);
    let other_file = write(&l, "other.cp", &other_note);
    let err = l.fails(&["consistency", "3", s(&other_file)], 2);
    assert!(err.contains("not of this one"), "{err}");
}

#[test]
fn every_tampered_receipt_is_refused() {
    let l = TestLedger::with_stations();
    add_stations(&l, 0, 10);
    let (key, public) = make_key(&l, "cp.key");
    let note = checkpoint(&l, &key);
    assert_eq!(note_lines(&note)[1], "13");
    let receipt = l.ok(&["receipt", "--seq", "5"]);
    let r: Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(verify_receipt(&l, &receipt, &public).0, 0);
    let proof_len = r["inclusion"].as_array().unwrap().len();
    assert_eq!(proof_len, 4, "leaf 5 of 13: {r}");

    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = r.clone();
        f(&mut v);
        v.to_string()
    };
    let event_field = |name: &'static str, at: usize| {
        with(&move |v| {
            let h = v["event"][name].as_str().unwrap().to_string();
            v["event"][name] = json!(flip_hex(&h, at));
        })
    };
    let note_line = |line: usize, f: &dyn Fn(&str) -> String| {
        with(&|v| {
            let mut lines = note_lines(v["checkpoint"].as_str().unwrap());
            lines[line] = f(&lines[line]);
            v["checkpoint"] = json!(join_note(&lines));
        })
    };
    // Another ledger of the same size, checkpointed with the same key.
    let other = TestLedger::with_stations();
    add_stations(&other, 100, 10);
    let other_note = checkpoint(&other, &key);
    let (_, other_public) = make_key(&l, "other.key");
    let body_len = r["event"]["body"].as_str().unwrap().len();

    let forged: Vec<(&str, String, &PathBuf)> = vec![
        (
            "a body byte flipped",
            event_field("body", body_len / 2),
            &public,
        ),
        (
            "the body's last byte flipped",
            event_field("body", body_len - 1),
            &public,
        ),
        ("the hash flipped", event_field("hash", 7), &public),
        ("prev_hash flipped", event_field("prev_hash", 40), &public),
        (
            "a decoded field changed",
            with(&|v| v["event"]["code"] = json!("S99999")),
            &public,
        ),
        (
            "a decoded field added",
            with(&|v| v["event"]["extra"] = json!("x")),
            &public,
        ),
        (
            "a decoded field removed",
            with(&|v| {
                v["event"].as_object_mut().unwrap().remove("name");
            }),
            &public,
        ),
        (
            "the event's seq changed",
            with(&|v| v["event"]["seq"] = json!(6)),
            &public,
        ),
        (
            "the first proof element flipped",
            with(&|v| {
                let p = v["inclusion"][0].as_str().unwrap().to_string();
                v["inclusion"][0] = json!(flip_hex(&p, 0));
            }),
            &public,
        ),
        (
            "the last proof element flipped",
            with(&|v| {
                let p = v["inclusion"][proof_len - 1].as_str().unwrap().to_string();
                v["inclusion"][proof_len - 1] = json!(flip_hex(&p, 33));
            }),
            &public,
        ),
        (
            "siblings swapped",
            with(&|v| v["inclusion"].as_array_mut().unwrap().swap(0, 1)),
            &public,
        ),
        (
            "upper siblings swapped",
            with(&|v| v["inclusion"].as_array_mut().unwrap().swap(2, 3)),
            &public,
        ),
        (
            "the proof truncated",
            with(&|v| {
                v["inclusion"].as_array_mut().unwrap().pop();
            }),
            &public,
        ),
        (
            "the proof's first element dropped",
            with(&|v| {
                v["inclusion"].as_array_mut().unwrap().remove(0);
            }),
            &public,
        ),
        (
            "an element added",
            with(&|v| {
                v["inclusion"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("00".repeat(32)));
            }),
            &public,
        ),
        (
            "an empty proof",
            with(&|v| v["inclusion"] = json!([])),
            &public,
        ),
        (
            "a proof element in upper case",
            with(&|v| {
                let p = v["inclusion"][0].as_str().unwrap().to_ascii_uppercase();
                v["inclusion"][0] = json!(p);
            }),
            &public,
        ),
        (
            "leaf_index + 1",
            with(&|v| v["leaf_index"] = json!(6)),
            &public,
        ),
        (
            "leaf_index - 1",
            with(&|v| v["leaf_index"] = json!(4)),
            &public,
        ),
        (
            "tree_size + 1",
            with(&|v| v["tree_size"] = json!(14)),
            &public,
        ),
        (
            "tree_size - 1",
            with(&|v| v["tree_size"] = json!(12)),
            &public,
        ),
        (
            "the checkpoint's size altered",
            note_line(1, &|_| "14".into()),
            &public,
        ),
        (
            "the checkpoint's size altered with tree_size",
            with(&|v| {
                let mut lines = note_lines(v["checkpoint"].as_str().unwrap());
                lines[1] = "14".into();
                v["checkpoint"] = json!(join_note(&lines));
                v["tree_size"] = json!(14);
            }),
            &public,
        ),
        (
            "the checkpoint's size with a leading zero",
            note_line(1, &|_| "013".into()),
            &public,
        ),
        (
            "the checkpoint's root altered",
            note_line(2, &|t| flip_b64(t, 5)),
            &public,
        ),
        (
            "the checkpoint's origin altered",
            note_line(0, &|t| flip_hex(t, 10)),
            &public,
        ),
        (
            "the checkpoint's origin and key name altered",
            with(&|v| {
                let n = v["checkpoint"].as_str().unwrap();
                let origin = note_lines(n)[0].clone();
                v["checkpoint"] = json!(n.replace(&origin, &flip_hex(&origin, 10)));
            }),
            &public,
        ),
        (
            "the checkpoint's signature altered",
            note_line(4, &|t| {
                let at = t.len() - 10;
                flip_b64(t, at)
            }),
            &public,
        ),
        (
            "the checkpoint's key hash altered",
            note_line(4, &|t| {
                let at = t.rfind(' ').unwrap() + 2;
                flip_b64(t, at)
            }),
            &public,
        ),
        (
            "the checkpoint's signature removed",
            with(&|v| {
                let n = v["checkpoint"].as_str().unwrap();
                let cut = n.rfind("\u{2014}").unwrap();
                v["checkpoint"] = json!(n[..cut].to_string());
            }),
            &public,
        ),
        (
            "an extension line in the checkpoint",
            with(&|v| {
                let n = v["checkpoint"].as_str().unwrap();
                v["checkpoint"] = json!(n.replacen("=\n\n", "=\nextra\n\n", 1));
            }),
            &public,
        ),
        ("another key", receipt.clone(), &other_public),
        (
            "another ledger's checkpoint",
            with(&|v| v["checkpoint"] = json!(other_note)),
            &public,
        ),
    ];
    for (what, text, key) in forged {
        assert!(
            text != receipt || key != &public,
            "{what}: the forgery changed nothing"
        );
        let (code, err) = verify_receipt(&l, &text, key);
        assert_eq!(code, 1, "{what} must fail the check: {err}");
        assert!(err.contains("the receipt does not verify"), "{what}: {err}");
    }

    // Not a receipt at all: exit 2.
    for (what, text) in [
        ("truncated", receipt[..receipt.len() - 20].to_string()),
        ("cut in half", receipt[..receipt.len() / 2].to_string()),
        ("empty", String::new()),
        ("not JSON", "receipt".to_string()),
        ("an array", "[]".to_string()),
        ("an unknown field", with(&|v| v["note"] = json!("x"))),
        (
            "a field missing",
            with(&|v| {
                v.as_object_mut().unwrap().remove("inclusion");
            }),
        ),
        (
            "another format",
            with(&|v| v["format"] = json!("kaohe-receipt-v2")),
        ),
        (
            "leaf_index as text",
            with(&|v| v["leaf_index"] = json!("5")),
        ),
        (
            "a negative tree_size",
            with(&|v| v["tree_size"] = json!(-13)),
        ),
        (
            "inclusion not a list",
            with(&|v| v["inclusion"] = json!("00")),
        ),
        ("event not an object", with(&|v| v["event"] = json!([]))),
        (
            "a field twice",
            receipt.replacen(
                "\"leaf_index\": 5,",
                "\"leaf_index\": 5, \"leaf_index\": 5,",
                1,
            ),
        ),
    ] {
        let (code, err) = verify_receipt(&l, &text, &public);
        assert_eq!(code, 2, "{what}: {err}");
    }
    // An unreadable key or file: exit 2.
    let file = write(&l, "good.json", &receipt);
    assert_eq!(
        l.run(&["verify-receipt", s(&file), "--pubkey", "nope"])
            .code,
        2
    );
    assert_eq!(
        l.run(&[
            "verify-receipt",
            s(&l.path("missing.json")),
            "--pubkey",
            s(&public)
        ])
        .code,
        2
    );
    // The ledger will not issue a receipt against another ledger's checkpoint.
    let other_file = write(&l, "other.cp", &other_note);
    let err = l.fails(
        &["receipt", "--seq", "5", "--checkpoint", s(&other_file)],
        2,
    );
    assert!(err.contains("not of this one"), "{err}");
    // Nor against a forged checkpoint of its own origin (the root is not its root).
    let forged_note = join_note(&{
        let mut lines = note_lines(&note);
        lines[2] = flip_b64(&lines[2], 3);
        lines
    });
    let forged_file = write(&l, "forged.cp", &forged_note);
    l.fails(
        &["receipt", "--seq", "5", "--checkpoint", s(&forged_file)],
        1,
    );
}

/// `count` metric reports for WJ01 (the ledger of [`TestLedger::with_stations`]), ids from
/// `first`.
fn metric_lines(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| {
            format!(
                "{{\"op\":\"metric\",\"id\":\"M{i}\",\"station\":\"WJ01\",\"metric\":\"positioning_coverage_rate\",\"value\":\"99\",\"by\":\"社矫科\",\"occurred\":\"2018-04-04\",\"evidence\":[\"统计表\"]}}\n"
            )
        })
        .collect()
}

/// Guards the kept subtree roots (issue 17): with ledgers past several tiles of 256 events,
/// receipts and consistency files made from the roots a checkpoint kept verify offline for
/// leaves in every tile and at the edges; and a damaged kept root is refused (by the proof's
/// own check and by the next checkpoint), never passed on in a receipt.
#[test]
fn proofs_from_kept_subtree_roots_verify_and_a_damaged_root_is_refused() {
    let l = TestLedger::with_stations();
    let (key, public) = make_key(&l, "cp.key");
    l.import(&metric_lines(0, 700)); // seqs 3..=702: 703 events
    let old = checkpoint(&l, &key);
    l.import(&metric_lines(700, 300)); // 1003 events
    let new = checkpoint(&l, &key);
    for seq in [
        "0", "1", "255", "256", "511", "512", "700", "702", "768", "1002",
    ] {
        let receipt = l.ok(&["receipt", "--seq", seq]);
        let (code, err) = verify_receipt(&l, &receipt, &public);
        assert_eq!(code, 0, "seq {seq}: {err}");
    }
    let old_file = write(&l, "old.note", &old);
    let new_file = write(&l, "new.note", &new);
    let consistency = l.ok(&["consistency", s(&old_file), s(&new_file)]);
    let (code, err) = verify_consistency(&l, &consistency, &public);
    assert_eq!(code, 0, "{err}");

    // Damage the kept root of leaves 256..512 (the sibling of seq 100's path at level 8).
    {
        let ledger = kaohe::internals::ledger::Ledger::open(&l.db).unwrap();
        let stored = ledger.store().checkpoint(1003).unwrap().unwrap();
        ledger
            .store()
            .put_checkpoint_with(1003, &stored, &[(8, 1, [7u8; 32])])
            .unwrap();
    }
    let out = l.run(&["receipt", "--seq", "100"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("does not lead to the checkpoint's root"),
        "{}",
        out.stderr
    );
    // A leaf whose proof does not pass through the damaged root is still served.
    let receipt = l.ok(&["receipt", "--seq", "300"]);
    assert_eq!(verify_receipt(&l, &receipt, &public).0, 0);
    let out = l.run(&["--key", s(&key), "checkpoint"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("the kept root of leaves 256..512 differs"),
        "{}",
        out.stderr
    );
}
