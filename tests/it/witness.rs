//! Witnesses (`schema/PROOFS.md`, "Witnesses"): `kaohe witness` cosigns a ledger's checkpoints
//! only along one history (the first it sees, then consistency proofs from its last), refuses
//! forks and rollbacks with its state untouched, keeps its state out of links; the offline
//! checks (`verify-receipt`, `verify-consistency`, `verify --export --checkpoint`) require a
//! quorum of valid cosignatures and name the witnesses missing.

use crate::harness::TestLedger;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write(l: &TestLedger, name: &str, text: &str) -> PathBuf {
    let p = l.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A key file made by `key new` with these flags (e.g. `["--witness", "w1.example"]`), and its
/// `.pub`.
fn make_key(l: &TestLedger, name: &str, who: &[&str]) -> (PathBuf, PathBuf) {
    let key = l.path(name);
    let mut args = vec!["key", "new"];
    args.extend_from_slice(who);
    args.extend_from_slice(&["--out", s(&key)]);
    l.ok(&args);
    let public = PathBuf::from(format!("{}.pub", key.display()));
    (key, public)
}

/// A witness's machine: keys and a state directory, with no ledger (its `--db` never exists).
struct Witness {
    home: TestLedger,
    key: PathBuf,
    public: PathBuf,
    state: PathBuf,
}

impl Witness {
    fn new(name: &str) -> Witness {
        let home = TestLedger::empty();
        let (key, public) = make_key(&home, "witness.key", &["--witness", name]);
        let state = home.path("state");
        Witness {
            home,
            key,
            public,
            state,
        }
    }

    /// Runs `kaohe witness` on a text (written to a file) with the log's key.
    fn run(&self, input: &str, log_key: &Path) -> crate::harness::Output {
        let file = write(&self.home, "input", input);
        let out = self.home.run(&[
            "--key",
            s(&self.key),
            "witness",
            "--state",
            s(&self.state),
            "--log-key",
            s(log_key),
            s(&file),
        ]);
        assert!(!self.home.db.exists(), "the witness opened --db");
        out
    }

    /// Cosigns, asserting success; returns the cosigned note.
    fn cosign(&self, input: &str, log_key: &Path) -> String {
        let out = self.run(input, log_key);
        assert_eq!(out.code, 0, "witness failed: {}{}", out.stdout, out.stderr);
        out.stdout
    }

    /// Every file of the state directory and its bytes.
    fn state(&self) -> Vec<(String, Vec<u8>)> {
        let Ok(dir) = std::fs::read_dir(&self.state) else {
            return Vec::new();
        };
        let mut all: Vec<(String, Vec<u8>)> = dir
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap_or_default())
            })
            .collect();
        all.sort();
        all
    }

    /// Runs `kaohe witness` expecting a refusal with `code`; the state must not change.
    fn refuses(&self, input: &str, log_key: &Path, code: i32) -> String {
        let before = self.state();
        let out = self.run(input, log_key);
        assert_eq!(out.code, code, "{}{}", out.stdout, out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert_eq!(self.state(), before, "a refusal changed the witness state");
        out.stderr
    }
}

fn add_station(l: &TestLedger, code: &str) {
    l.ok(&[
        "station",
        "add",
        code,
        "--name",
        "某司法所",
        "--kind",
        "town",
    ]);
}

fn checkpoint(l: &TestLedger, key: &Path) -> String {
    l.ok(&["--key", s(key), "checkpoint"])
}

fn consistency(l: &TestLedger, old: &str, new: &str) -> String {
    l.ok(&["consistency", old, new])
}

/// The note's signature lines.
fn signature_lines(note: &str) -> Vec<&str> {
    note.split("\n\n").nth(1).unwrap().lines().collect()
}

/// Guards the witness's normal path: the first checkpoint it sees is cosigned, then only a
/// consistency proof from it to a larger one; the cosigned note keeps the log's signature
/// byte for byte and verifies everywhere a note is read (receipt --checkpoint, checkpoint
/// --add, verify-receipt, verify-consistency, verify --export --checkpoint).
#[test]
fn a_witness_cosigns_the_first_checkpoint_then_a_consistent_larger_one() {
    let l = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&l, "log.key", &["--bureau", "市局"]);
    let w = Witness::new("w1.example");
    let cp3 = checkpoint(&l, &log_key);
    let cosigned3 = w.cosign(&cp3, &log_pub);
    assert!(
        cosigned3.starts_with(&cp3),
        "the log's note is kept: {cosigned3}"
    );
    let lines = signature_lines(&cosigned3);
    assert_eq!(lines.len(), 2, "{cosigned3}");
    // key ID (4) + timestamp (8) + signature (64) = 76 bytes: 104 base64 characters.
    let cosig = lines[1].strip_prefix("\u{2014} w1.example ").unwrap();
    assert_eq!(cosig.len(), 104, "{cosig}");
    let state = w.state();
    assert_eq!(state.len(), 1, "one file per ledger: {state:?}");
    assert!(state[0].0.starts_with("kaohe-") && state[0].0.ends_with(".checkpoint"));
    assert_eq!(
        state[0].1,
        cosigned3.as_bytes(),
        "the state is the cosigned note"
    );
    // The same checkpoint again is cosigned again (a retry).
    assert_eq!(w.cosign(&cp3, &log_pub), cosigned3);

    // A larger checkpoint alone is refused: the witness needs the proof.
    add_station(&l, "WJ03");
    let cp4 = checkpoint(&l, &log_key);
    let err = w.refuses(&cp4, &log_pub, 1);
    assert!(
        err.contains("the witness has not seen checkpoint 4 extend its last cosigned checkpoint 3"),
        "{err}"
    );
    let c34 = consistency(&l, "3", "4");
    let out = w.home.run(&[
        "--key",
        s(&w.key),
        "witness",
        "--state",
        s(&w.state),
        "--log-key",
        s(&log_pub),
        s(&write(&w.home, "c34", &c34)),
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(
        (v["size"].as_u64(), v["previous_size"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(v["witness"], "w1.example");
    assert_eq!(v["timestamp"], 1_547_107_200u64, "KAOHE_NOW fixes the time");
    let cosigned4 = v["note"].as_str().unwrap().to_string();
    assert!(cosigned4.starts_with(&cp4));
    assert_eq!(w.state()[0].1, cosigned4.as_bytes());

    // The cosigned note is a checkpoint everywhere: a receipt against it, and stored.
    let note_file = write(&l, "cp4.cosigned", &cosigned4);
    let receipt = l.ok(&["receipt", "--seq", "2", "--checkpoint", s(&note_file)]);
    let r: Value = serde_json::from_str(&receipt).unwrap();
    assert_eq!(r["checkpoint"], Value::String(cosigned4.clone()));
    let added = l.ok(&["checkpoint", "--add", s(&note_file)]);
    assert_eq!(added, cosigned4);
    // Re-signing at the same size keeps the stored cosignatures.
    assert_eq!(checkpoint(&l, &log_key), cosigned4);
    let stored_receipt = l.ok(&["receipt", "--seq", "3"]);
    let receipt_file = write(&l, "receipt.json", &stored_receipt);
    let out = l.run(&[
        "verify-receipt",
        s(&receipt_file),
        "--pubkey",
        s(&log_pub),
        "--witness",
        s(&w.public),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "cosigned by 1 of 1 witnesses (quorum 1): `w1.example` at 2019-01-10T08:00:00Z"
        ),
        "{}",
        out.stdout
    );
    // verify-consistency requires the quorum on the new checkpoint.
    let c34 = write(&l, "c34.json", &consistency(&l, "3", "4"));
    let verify_c = |extra: &[&str]| {
        let mut args = vec!["verify-consistency", s(&c34), "--pubkey", s(&log_pub)];
        args.extend_from_slice(extra);
        l.run(&args)
    };
    assert_eq!(verify_c(&["--witness", s(&w.public)]).code, 0);
    let other = Witness::new("w2.example");
    let out = verify_c(&["--witness", s(&w.public), "--witness", s(&other.public)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("`w2.example`"), "{}", out.stderr);

    // verify --export --checkpoint: the export's root at the note's size, and the witnesses.
    let export = write(&l, "export.jsonl", &l.ok(&["export"]));
    let verify_x = |export: &Path, note: &Path, extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--export",
            s(export),
            "--checkpoint",
            s(note),
            "--pubkey",
            s(&log_pub),
        ];
        args.extend_from_slice(extra);
        w.home.run(&args)
    };
    let out = verify_x(&export, &note_file, &["--witness", s(&w.public), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["checkpoint"]["size"], 4);
    assert_eq!(v["witnesses"]["cosigned"][0]["name"], "w1.example");
    // A checkpoint of the first 3 events of a longer export verifies too.
    let cp3_file = write(&l, "cp3.cosigned", &cosigned3);
    assert_eq!(verify_x(&export, &cp3_file, &[]).code, 0);
    // An export shorter than the checkpoint does not.
    let short = write(&l, "short.jsonl", &l.ok(&["export", "--as-of-seq", "2"]));
    let out = verify_x(&short, &note_file, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("the export holds 3 events"),
        "{}",
        out.stderr
    );
    // --witness without --checkpoint is a usage error.
    let out = w
        .home
        .run(&["verify", "--export", s(&export), "--witness", s(&w.public)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Guards what a witness is for: two histories of one ledger (same ledger id, so the same
/// origin) cannot both be cosigned. After it cosigned one, the other's checkpoint of the same
/// size, a consistency proof from the shared past to it, a smaller checkpoint (a rollback), a
/// tampered proof and a checkpoint with a bad log signature are all refused with exit 1, and
/// its state file is left byte for byte as it was.
#[test]
fn a_witness_refuses_a_fork_and_keeps_its_state() {
    let a = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&a, "log.key", &["--bureau", "市局"]);
    let w = Witness::new("w1.example");
    let cp3 = checkpoint(&a, &log_key);
    w.cosign(&cp3, &log_pub);
    // The fork: the same export restored elsewhere, then each takes a different event.
    let export = write(&a, "export.jsonl", &a.ok(&["export"]));
    let b = TestLedger::empty();
    b.ok(&["restore", s(&export)]);
    checkpoint(&b, &log_key);
    add_station(&a, "WJ03");
    add_station(&b, "WJ99");
    let cp4a = checkpoint(&a, &log_key);
    let cp4b = checkpoint(&b, &log_key);
    assert_eq!(cp4a.lines().next(), cp4b.lines().next(), "one origin");
    assert_ne!(cp4a, cp4b);
    let c34a = consistency(&a, "3", "4");
    let c34b = consistency(&b, "3", "4");
    // Before the witness moves on, B's proof from the shared checkpoint would do.
    w.cosign(&c34a, &log_pub);
    let state = w.state();

    let err = w.refuses(&c34b, &log_pub, 1);
    assert!(
        err.contains("the witness has not seen checkpoint 4 extend its last cosigned checkpoint 4"),
        "{err}"
    );
    assert!(
        err.contains("consistency proof starts from checkpoint 3"),
        "{err}"
    );
    let err = w.refuses(&cp4b, &log_pub, 1);
    assert!(err.contains("a fork"), "{err}");
    let err = w.refuses(&cp3, &log_pub, 1);
    assert!(err.contains("rollback"), "{err}");

    // B grows on: its proof from its own 4 does not start from the witness's 4.
    add_station(&b, "WJ98");
    checkpoint(&b, &log_key);
    let err = w.refuses(&consistency(&b, "4", "5"), &log_pub, 1);
    assert!(
        err.contains("not from the last one the witness cosigned"),
        "{err}"
    );

    // A's proof with a hash flipped, or its old note's root changed, does not verify.
    add_station(&a, "WJ04");
    checkpoint(&a, &log_key);
    let c45a = consistency(&a, "4", "5");
    let mut v: Value = serde_json::from_str(&c45a).unwrap();
    let p = v["proof"][0].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if p.starts_with('0') { "1" } else { "0" }, &p[1..]);
    v["proof"][0] = Value::String(flipped);
    let err = w.refuses(&v.to_string(), &log_pub, 1);
    assert!(err.contains("does not show"), "{err}");
    let mut v: Value = serde_json::from_str(&c45a).unwrap();
    let old = v["old"].as_str().unwrap().to_string();
    let root = old.lines().nth(2).unwrap();
    let other_root = cp4b.lines().nth(2).unwrap();
    v["old"] = Value::String(old.replacen(root, other_root, 1));
    let err = w.refuses(&v.to_string(), &log_pub, 1);
    assert!(err.contains("signature does not verify"), "{err}");
    // Another key's checkpoint: not the log's signature.
    let (_, stranger) = make_key(&a, "stranger.key", &["--bureau", "别人"]);
    let err = w.refuses(&c45a, &stranger, 1);
    assert!(err.contains("is not signed by key"), "{err}");
    assert_eq!(w.state(), state);
    // The real proof still goes through.
    w.cosign(&c45a, &log_pub);
}

/// Guards the offline quorum check: verify-receipt with --witness passes only when enough of
/// the given witnesses cosigned validly, names the missing ones, and treats a wrong key, a
/// flipped cosignature byte or a changed key ID as no (or a bad) cosignature (exit 1); usage
/// errors (a quorum above the witnesses given, a key that is not a witness's) exit 2.
#[test]
fn verify_receipt_needs_a_quorum_of_witnesses() {
    let l = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&l, "log.key", &["--bureau", "市局"]);
    let (w1, w2, w3) = (
        Witness::new("w1.example"),
        Witness::new("w2.example"),
        Witness::new("w3.example"),
    );
    let cp = checkpoint(&l, &log_key);
    let once = w1.cosign(&cp, &log_pub);
    let twice = w2.cosign(&once, &log_pub);
    assert_eq!(signature_lines(&twice).len(), 3, "{twice}");
    l.ok(&["checkpoint", "--add", s(&write(&l, "cp", &twice))]);
    let receipt = l.ok(&["receipt", "--seq", "1"]);
    let check = |receipt: &str, extra: &[&str]| {
        let file = write(&l, "receipt-under-test.json", receipt);
        let mut args = vec!["verify-receipt", s(&file), "--pubkey", s(&log_pub)];
        args.extend_from_slice(extra);
        l.run(&args)
    };
    let (p1, p2, p3) = (s(&w1.public), s(&w2.public), s(&w3.public));

    let out = check(&receipt, &["--witness", p1, "--witness", p2, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    let names: Vec<&str> = v["witnesses"]["cosigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w1.example", "w2.example"]);
    assert_eq!(v["witnesses"]["quorum"], 2);
    // The private key file names the witness as well.
    assert_eq!(check(&receipt, &["--witness", s(&w1.key)]).code, 0);
    // A third witness that did not cosign: missing, and named.
    let out = check(
        &receipt,
        &["--witness", p1, "--witness", p2, "--witness", p3],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("2 of the 3 witnesses"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`w3.example`"), "{}", out.stderr);
    assert!(!out.stderr.contains("`w1.example`"), "{}", out.stderr);
    // … unless the quorum is 2.
    let out = check(
        &receipt,
        &[
            "--witness",
            p1,
            "--witness",
            p2,
            "--witness",
            p3,
            "--quorum",
            "2",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("not cosigned by: `w3.example`"),
        "{}",
        out.stdout
    );
    // A wrong key for a witness's name: no valid cosignature from it.
    let impostor = TestLedger::empty();
    let (_, fake_w1) = make_key(&impostor, "w1.key", &["--witness", "w1.example"]);
    let out = check(&receipt, &["--witness", s(&fake_w1)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no cosignature from `w1.example`"),
        "{}",
        out.stderr
    );

    // A cosignature's byte flipped: its signature (or timestamp) no longer verifies.
    let r: Value = serde_json::from_str(&receipt).unwrap();
    let note = r["checkpoint"].as_str().unwrap();
    let w1_line = signature_lines(note)[1].to_string();
    assert!(w1_line.starts_with("\u{2014} w1.example "), "{w1_line}");
    let tampered = |at_from_end: usize| {
        let mut b = w1_line.clone().into_bytes();
        let at = b.len() - at_from_end;
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        let line = String::from_utf8(b).unwrap();
        let mut v = r.clone();
        v["checkpoint"] = Value::String(note.replacen(&w1_line, &line, 1));
        v.to_string()
    };
    for (what, at) in [("the signature", 20), ("the timestamp", 100 - 16)] {
        let out = check(&tampered(at), &["--witness", p1]);
        assert_eq!(out.code, 1, "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains("does not verify"),
            "{what}: {}",
            out.stderr
        );
    }
    // The key ID changed: the line is no longer the witness's.
    let out = check(&tampered(104), &["--witness", p1]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no cosignature from `w1.example`"),
        "{}",
        out.stderr
    );
    // Without --witness the log's signature alone is checked, as before.
    assert_eq!(check(&tampered(20), &[]).code, 0);

    // Usage: a quorum larger than the witnesses, zero, a key that is no witness's.
    assert_eq!(check(&receipt, &["--witness", p1, "--quorum", "2"]).code, 2);
    assert_eq!(check(&receipt, &["--witness", p1, "--quorum", "0"]).code, 2);
    let out = check(&receipt, &["--witness", s(&log_pub)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not a witness's"), "{}", out.stderr);
}

/// Guards the witness's state against links: a link at the state file (to anything, here a
/// file the witness must not touch) is refused, never read or written through, and nothing
/// is cosigned.
#[test]
fn a_witness_state_file_is_not_followed_through_a_symlink() {
    let l = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&l, "log.key", &["--bureau", "市局"]);
    let w = Witness::new("w1.example");
    let cp = checkpoint(&l, &log_key);
    w.cosign(&cp, &log_pub);
    let (name, bytes) = w.state().remove(0);
    let path = w.state.join(&name);
    let elsewhere = w.home.path("elsewhere");
    std::fs::write(&elsewhere, &bytes).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let err = w.refuses(&cp, &log_pub, 2);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read(&elsewhere).unwrap(),
        bytes,
        "the link's target was touched"
    );
    // A dangling link too: the witness does not take it for "no state yet".
    std::fs::remove_file(&elsewhere).unwrap();
    let err = w.refuses(&cp, &log_pub, 2);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!elsewhere.exists(), "a file was created through the link");
}

/// Guards the exit codes of bad input: what is not a checkpoint note or consistency file, a
/// missing file, a key that is not a witness's, an unreadable log key: exit 2, nothing written.
#[test]
fn bad_input_to_a_witness_exits_2_and_writes_nothing() {
    let l = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&l, "log.key", &["--bureau", "市局"]);
    let w = Witness::new("w1.example");
    let cp = checkpoint(&l, &log_key);
    for (what, input) in [
        ("empty", String::new()),
        ("not a note", "hello\n".to_string()),
        ("no blank line", cp.replacen("\n\n", "\n", 1)),
        ("an extension line", cp.replacen("=\n\n", "=\nextra\n\n", 1)),
        (
            "JSON that is no consistency file",
            "{\"format\": 1}".to_string(),
        ),
        ("a receipt", l.ok(&["receipt", "--seq", "1"])),
    ] {
        let err = w.refuses(&input, &log_pub, 2);
        assert!(!err.is_empty(), "{what}");
    }
    assert!(w.state().is_empty());
    // A department's key cannot witness.
    let (dept, _) = make_key(&w.home, "dept.key", &["--dept", "基层科"]);
    let file = write(&w.home, "cp", &cp);
    let run = |key: &Path, log: &str, input: &str| {
        w.home.run(&[
            "--key",
            s(key),
            "witness",
            "--state",
            s(&w.state),
            "--log-key",
            log,
            input,
        ])
    };
    let out = run(&dept, s(&log_pub), s(&file));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not a witness's"), "{}", out.stderr);
    assert_eq!(run(&w.key, "nope", s(&file)).code, 2);
    assert_eq!(run(&w.key, s(&log_pub), s(&w.home.path("missing"))).code, 2);
    assert!(w.state().is_empty());
    // stdin works.
    let out = w.home.run_with_stdin(
        &[
            "--key",
            s(&w.key),
            "witness",
            "--state",
            s(&w.state),
            "--log-key",
            s(&log_pub),
            "-",
        ],
        Some(&cp),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(&cp));
}

/// Guards `checkpoint --add`: it stores only a copy of a checkpoint the ledger holds at that
/// size, carrying the stored note's text and log signature byte for byte; another history's
/// checkpoint (exit 1), a note that dropped or changed the log's signature (exit 1), another
/// ledger's or a size with no stored checkpoint (exit 2) are refused and the stored note is
/// unchanged. Cosignatures from several witnesses are merged, each line once.
#[test]
fn checkpoint_add_takes_only_a_copy_of_a_stored_checkpoint() {
    let l = TestLedger::with_stations();
    let (log_key, log_pub) = make_key(&l, "log.key", &["--bureau", "市局"]);
    let (w1, w2) = (Witness::new("w1.example"), Witness::new("w2.example"));
    let cp = checkpoint(&l, &log_key);
    let by1 = w1.cosign(&cp, &log_pub);
    let by2 = w2.cosign(&cp, &log_pub);
    let add = |note: &str| l.run(&["checkpoint", "--add", s(&write(&l, "add", note))]);
    assert_eq!(add(&by1).code, 0);
    let out = add(&by2);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let merged = out.stdout;
    assert_eq!(signature_lines(&merged).len(), 3, "{merged}");
    assert_eq!(&merged[..by1.len()], by1, "stored lines first");
    assert_eq!(
        add(&by1).stdout,
        merged,
        "a line already stored is not added twice"
    );
    let stored = || l.ok(&["checkpoint", "--list", "--json"]);
    let before = stored();

    // Another history's checkpoint of the same size and origin.
    let export = write(&l, "export.jsonl", &l.ok(&["export", "--as-of-seq", "1"]));
    let b = TestLedger::empty();
    b.ok(&["restore", s(&export)]);
    add_station(&b, "WJ99");
    let forked = checkpoint(&b, &log_key);
    let out = add(&forked);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // The log's signature dropped, or made by another key.
    let log_line = signature_lines(&cp)[0];
    let out = add(&by1.replacen(&format!("{log_line}\n"), "", 1));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("does not carry the stored checkpoint's signature"),
        "{}",
        out.stderr
    );
    let (other_key, _) = make_key(&l, "other.key", &["--bureau", "别人"]);
    let other = TestLedger::empty();
    other.ok(&["restore", s(&write(&l, "all.jsonl", &l.ok(&["export"])))]);
    assert_eq!(add(&checkpoint(&other, &other_key)).code, 1);
    // A size with no stored checkpoint, another ledger, not a note.
    add_station(&other, "WJ03");
    let out = add(&checkpoint(&other, &log_key));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no checkpoint of size 4"),
        "{}",
        out.stderr
    );
    let c = TestLedger::with_stations();
    assert_eq!(add(&checkpoint(&c, &log_key)).code, 2);
    assert_eq!(add("nothing\n").code, 2);
    assert_eq!(stored(), before, "the stored cosigned note is unchanged");
}
