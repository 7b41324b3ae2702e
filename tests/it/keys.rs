//! Signed events (issue 6): `kaohe key new/register/revoke/list`, `--key` / `KAOHE_KEY`, and
//! `init --require-signatures --bureau-key` (issue 13: the bureau's key is the root of trust and
//! signs keys, stations and the close; signatures bind the head their signer saw).
//!
//! - The whole flow from the command line on a ledger that requires signatures: keys for a
//!   department and a station, every actor's kind of event signed by its actor's key, `log`,
//!   `export`, `verify` (ledger and export), `key list`, and a close (never signed).
//! - Refusals: exit 2, the field named, nothing written (the whole export is compared before
//!   and after).
//! - Without `--require-signatures` unsigned events still work and signed ones are checked.
//! - Forgeries in an export, re-chained so that every hash links, caught by
//!   `kaohe verify --export` at the forged seq.
//! - The private key file's mode.

use crate::harness::{rubric_path, Output, TestLedger};
use kaohe::internals::events::chain::{self, GENESIS_PREV};
use kaohe::internals::events::codec;
use kaohe::internals::events::event::{
    Actor, After, Body, EventKind, EventV1, KeyRegistered, Signature, SignedAfter,
};
use kaohe::internals::events::sign::{self, KeyPair};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The evidence events are recorded with.
const EV: &str = "常武司基〔2018〕61号";
const GROUNDS: &str = "扣分事实认定有误";
const REASON: &str = "经复核，扣分依据充分";
const REVERSE_REASON: &str = "录入错误：应记入其他司法所";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The bureau's commands: signed by a bureau key in a ledger rooted in one.
fn is_bureau_command(args: &[&str]) -> bool {
    matches!(
        args,
        ["station", "add", ..] | ["key", "register", ..] | ["key", "revoke", ..] | ["close", ..]
    )
}

/// Runs `kaohe --db <ledger> args…` at the ledger's clock, in the ledger's temp directory, with
/// `KAOHE_DB` and `KAOHE_KEY` cleared and then `env` set. In a ledger rooted in a bureau key
/// ([`requiring`] leaves it at `bureau.key`), the bureau's commands are signed with it unless
/// the test gives a key.
fn run_env(l: &TestLedger, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaohe"));
    cmd.current_dir(l.dir.path()).arg("--db").arg(&l.db);
    let bureau = l.path("bureau.key");
    let keyed = args.contains(&"--key") || env.iter().any(|(k, _)| *k == "KAOHE_KEY");
    if bureau.exists() && is_bureau_command(args) && !keyed {
        cmd.arg("--key").arg(&bureau);
    }
    cmd.args(args)
        .env("KAOHE_NOW", &l.now)
        .env_remove("KAOHE_DB")
        .env_remove("KAOHE_KEY")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kaohe runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) fn run(l: &TestLedger, args: &[&str]) -> Output {
    run_env(l, args, &[])
}

/// Runs and asserts exit 0; returns stdout.
#[track_caller]
pub(crate) fn ok(l: &TestLedger, args: &[&str]) -> String {
    let out = run(l, args);
    assert_eq!(
        out.code, 0,
        "kaohe {args:?} failed: {}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// Runs with `--json` and `env`, asserts exit 0; returns the outcome.
#[track_caller]
fn ok_json_env(l: &TestLedger, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run_env(l, &a, env);
    assert_eq!(
        out.code, 0,
        "kaohe {a:?} {env:?} failed: {}{}",
        out.stdout, out.stderr
    );
    out.json()
}

#[track_caller]
pub(crate) fn ok_json(l: &TestLedger, args: &[&str]) -> Value {
    ok_json_env(l, args, &[])
}

/// `--key FILE args…` with `--json`; must be appended; returns the outcome.
#[track_caller]
pub(crate) fn signed(l: &TestLedger, key: &KeyFiles, args: &[&str]) -> Value {
    let v = ok_json(l, &keyed(&key.private, args));
    assert_eq!(v["status"], "appended", "{args:?}: {v}");
    v
}

/// An unsigned command with `--json`; must be appended; returns the outcome.
#[track_caller]
fn unsigned(l: &TestLedger, args: &[&str]) -> Value {
    let v = ok_json(l, args);
    assert_eq!(v["status"], "appended", "{args:?}: {v}");
    v
}

/// `--key FILE` followed by `args`.
pub(crate) fn keyed<'a>(key: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--key", key];
    a.extend_from_slice(args);
    a
}

pub(crate) fn export(l: &TestLedger) -> String {
    ok(l, &["export"])
}

pub(crate) fn export_lines(l: &TestLedger) -> Vec<String> {
    export(l).lines().map(str::to_string).collect()
}

#[track_caller]
fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "`{part}` not in:\n{text}");
}

/// Runs `args` with `env`, which must be refused with exit 2 and a message containing
/// `needle`, writing nothing; returns stderr.
#[track_caller]
pub(crate) fn refused_env(
    l: &TestLedger,
    args: &[&str],
    env: &[(&str, &str)],
    needle: &str,
) -> String {
    let before = export(l);
    let out = run_env(l, args, env);
    assert_eq!(
        out.code, 2,
        "kaohe {args:?} {env:?} should exit 2: {}{}",
        out.stdout, out.stderr
    );
    assert_contains(&out.stderr, needle);
    assert_eq!(export(l), before, "kaohe {args:?}: something was written");
    out.stderr
}

/// [`refused_env`] naming ``field `field` ``.
#[track_caller]
pub(crate) fn refused(l: &TestLedger, args: &[&str], field: &str) -> String {
    refused_env(l, args, &[], &format!("field `{field}`"))
}

/// A key pair made by `kaohe key new`.
pub(crate) struct KeyFiles {
    pub(crate) private: String,
    pub(crate) public: String,
    pub(crate) hex: String,
}

impl KeyFiles {
    pub(crate) fn text(&self) -> String {
        std::fs::read_to_string(&self.private).expect("key file")
    }
    fn pair(&self) -> KeyPair {
        KeyPair::from_file_text(&self.text()).expect("a key file")
    }
}

impl KeyFiles {
    /// The key files at `<dir>/<name>` and `….pub`.
    pub(crate) fn at(l: &TestLedger, name: &str) -> KeyFiles {
        let private = l.path(name).to_str().unwrap().to_string();
        let public = format!("{private}.pub");
        let (_, key) =
            sign::read_public(&std::fs::read_to_string(&public).expect(".pub")).expect("a key");
        KeyFiles {
            private,
            public,
            hex: hex::encode(key),
        }
    }
}

/// `kaohe key new <who…> --out <dir>/<name>`.
#[track_caller]
pub(crate) fn key_new(l: &TestLedger, who: &[&str], name: &str) -> KeyFiles {
    let private = l.path(name);
    let mut args = vec!["key", "new"];
    args.extend_from_slice(who);
    let p = private.to_str().unwrap().to_string();
    args.extend(["--out", &p]);
    let stdout = ok(l, &args);
    let public = format!("{p}.pub");
    let (_, key) = kaohe::internals::events::sign::read_public(
        &std::fs::read_to_string(&public).expect(".pub"),
    )
    .expect("a public key file");
    let hex = hex::encode(key);
    assert_contains(&stdout, &format!("public key {hex}"));
    KeyFiles {
        private: p,
        public,
        hex,
    }
}

/// `kaohe key register FILE --json`; returns the outcome.
#[track_caller]
pub(crate) fn register(l: &TestLedger, file: &str) -> Value {
    ok_json(l, &["key", "register", file])
}

pub(crate) fn record_args<'a>(
    id: &'a str,
    clause: &'a str,
    station: &'a str,
    by: &'a str,
) -> Vec<&'a str> {
    vec![
        "record",
        "--id",
        id,
        "--clause",
        clause,
        "--station",
        station,
        "--by",
        by,
        "--occurred",
        "2018-06-01",
        "--evidence",
        EV,
    ]
}

fn metric_args<'a>(id: &'a str, station: &'a str, by: &'a str) -> Vec<&'a str> {
    vec![
        "metric",
        "--id",
        id,
        "--station",
        station,
        "--metric",
        "dispute_entry_rate",
        "--value",
        "100",
        "--by",
        by,
        "--occurred",
        "2018-06-01",
        "--evidence",
        EV,
    ]
}

pub(crate) fn appeal_args<'a>(id: &'a str, against: &'a str, station: &'a str) -> Vec<&'a str> {
    vec![
        "appeal",
        "file",
        "--id",
        id,
        "--against",
        against,
        "--station",
        station,
        "--grounds",
        GROUNDS,
        "--evidence",
        EV,
    ]
}

pub(crate) fn decide_args<'a>(appeal: &'a str, by: &'a str) -> Vec<&'a str> {
    vec![
        "appeal",
        "decide",
        appeal,
        "--outcome",
        "rejected",
        "--by",
        by,
        "--reason",
        REASON,
        "--evidence",
        EV,
    ]
}

fn reverse_args<'a>(id: &'a str, target: &'a str, by: &'a str) -> Vec<&'a str> {
    vec![
        "reverse",
        target,
        "--id",
        id,
        "--by",
        by,
        "--reason",
        REVERSE_REASON,
        "--evidence",
        EV,
    ]
}

/// A ledger with `init --require-signatures --bureau-key` (the root key at seq 1, its files at
/// `bureau.key`) and WJ01 (town, seq 2) and WJ02 (subdistrict, seq 3).
pub(crate) fn requiring() -> TestLedger {
    let l = TestLedger::empty();
    init_rooted(&l);
    add_stations(&l);
    l
}

/// `key new --bureau 武进区司法局 --out bureau.key` and `init --require-signatures
/// --bureau-key bureau.key.pub`; returns the bureau's key files.
fn init_rooted(l: &TestLedger) -> KeyFiles {
    let bureau = key_new(l, &["--bureau", "武进区司法局"], "bureau.key");
    let out = ok(
        l,
        &[
            "init",
            "--rubric",
            rubric_path().to_str().unwrap(),
            "--require-signatures",
            "--bureau-key",
            &bureau.public,
        ],
    );
    assert_contains(&out, "created ledger");
    bureau
}

fn add_stations(l: &TestLedger) {
    ok(
        l,
        &[
            "station",
            "add",
            "WJ01",
            "--name",
            "湖塘司法所",
            "--kind",
            "town",
        ],
    );
    ok(
        l,
        &[
            "station",
            "add",
            "WJ02",
            "--name",
            "南夏墅街道司法所",
            "--kind",
            "subdistrict",
        ],
    );
}

pub(crate) fn body_of(line: &str) -> Body {
    let v: Value = serde_json::from_str(line).unwrap();
    codec::decode(&hex::decode(v["body"].as_str().unwrap()).unwrap()).unwrap()
}

pub(crate) fn hash_of(line: &str) -> [u8; 32] {
    let v: Value = serde_json::from_str(line).unwrap();
    chain::parse_hash(v["hash"].as_str().unwrap()).unwrap()
}

pub(crate) fn ledger_id(lines: &[String]) -> [u8; 16] {
    match body_of(&lines[0]).kind() {
        EventKind::LedgerCreated(g) => g.ledger_id,
        other => panic!("not the genesis: {other:?}"),
    }
}

/// The signature of a body that must be signed.
#[track_caller]
pub(crate) fn signature_of(body: &Body) -> &Signature {
    body.signature()
        .unwrap_or_else(|| panic!("seq {} is not signed", body.seq()))
}

// ---------------------------------------------------------------------------------------------
// 1. The whole flow.

/// Guards the flow end to end: keys made and registered, every actor's kind signed by
/// its actor's key (`--key` and `KAOHE_KEY`), what log/export/verify/key list show, and an
/// unsigned close of a ledger that requires signatures.
#[test]
fn the_signed_flow_from_the_command_line_verifies() {
    let l = TestLedger::empty();
    let bureau = init_rooted(&l);
    let jc = key_new(&l, &["--dept", "基层科"], "jiceng.key");
    // Station registration is the bureau's: a key the ledger does not know cannot sign it
    // (nor a department's: below).
    refused_env(
        &l,
        &[
            "station",
            "add",
            "WJ01",
            "--name",
            "湖塘司法所",
            "--kind",
            "town",
        ],
        &[("KAOHE_KEY", &jc.private)],
        "not registered",
    );
    ok_json_env(
        &l,
        &[
            "station",
            "add",
            "WJ01",
            "--name",
            "湖塘司法所",
            "--kind",
            "town",
        ],
        &[("KAOHE_KEY", &bureau.private)],
    );
    ok(
        &l,
        &[
            "station",
            "add",
            "WJ02",
            "--name",
            "南夏墅街道司法所",
            "--kind",
            "subdistrict",
        ],
    );
    let st = key_new(&l, &["--station", "WJ02"], "wj02.key");

    // Register from the .pub and from the private file; again is unchanged.
    let r = register(&l, &jc.public);
    assert_eq!(
        r,
        json!({"status": "appended", "seq": 4, "type": "key_registered"})
    );
    let r = register(&l, &st.private);
    assert_eq!(
        r,
        json!({"status": "appended", "seq": 5, "type": "key_registered", "station": "WJ02"})
    );
    for file in [&jc.private, &jc.public] {
        let again = register(&l, file);
        assert_eq!(again["status"], "unchanged", "{again}");
        assert_eq!(again["seq"], 4, "{again}");
    }
    // Registering keys is the bureau's too: a department's key registers nothing.
    let more = key_new(&l, &["--dept", "公律科"], "gonglv.key");
    refused_env(
        &l,
        &["key", "register", &more.public],
        &[("KAOHE_KEY", &jc.private)],
        "signed by the bureau",
    );

    // A record signed with --key, one with KAOHE_KEY, one through import with KAOHE_KEY.
    let r1 = signed(&l, &jc, &record_args("R1", "1.1.b", "WJ02", "基层科"));
    assert_eq!(r1["seq"], 6);
    let r2 = ok_json_env(
        &l,
        &record_args("R2", "1.3.a", "WJ02", "基层科"),
        &[("KAOHE_KEY", &jc.private)],
    );
    assert_eq!(
        (r2["status"].as_str(), r2["seq"].as_u64()),
        (Some("appended"), Some(7))
    );
    let batch = l.path("batch.jsonl");
    std::fs::write(
        &batch,
        format!(
            "{}\n",
            json!({"op": "record", "id": "R3", "clause": "1.3.b", "station": "WJ01",
                   "by": "基层科", "occurred": "2018-06-02", "evidence": [EV]})
        ),
    )
    .unwrap();
    let imported = run_env(
        &l,
        &["import", batch.to_str().unwrap()],
        &[("KAOHE_KEY", &jc.private)],
    );
    assert_eq!(imported.code, 0, "{}{}", imported.stdout, imported.stderr);
    // A metric report, an appeal signed by the station, a decision and a reversal signed by
    // the department.
    assert_eq!(
        signed(&l, &jc, &metric_args("M1", "WJ02", "基层科"))["seq"],
        9
    );
    assert_eq!(signed(&l, &st, &appeal_args("A1", "R1", "WJ02"))["seq"], 10);
    assert_eq!(signed(&l, &jc, &decide_args("A1", "基层科"))["seq"], 11);
    assert_eq!(
        signed(&l, &jc, &reverse_args("V1", "R2", "基层科"))["seq"],
        12
    );

    // log --json and export show the events, in order.
    let types = [
        "ledger_created",
        "root_key",
        "station_registered",
        "station_registered",
        "key_registered",
        "key_registered",
        "points_recorded",
        "points_recorded",
        "points_recorded",
        "metric_reported",
        "appeal_filed",
        "appeal_decided",
        "record_reversed",
    ];
    let log: Vec<Value> = ok(&l, &["log", "--json"])
        .lines()
        .map(|s| serde_json::from_str(s).unwrap())
        .collect();
    let logged: Vec<&str> = log.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(logged, types);
    assert_eq!(log[4]["actor_kind"], "department");
    assert_eq!(log[4]["actor"], "基层科");
    assert_eq!(log[4]["public_key"], jc.hex.as_str());
    assert_eq!(log[5]["actor_kind"], "station");
    assert_eq!(log[5]["actor"], "WJ02");
    assert_eq!(log[5]["public_key"], st.hex.as_str());
    let lines = export_lines(&l);
    let exported: Vec<String> = lines
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(s).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(exported, types);

    // Actor events are signed by their actor's key, the bureau's by the bureau's key, over
    // this ledger and the head the signer saw (the event before the command's); the genesis
    // and the root key are not.
    let id = ledger_id(&lines);
    for (seq, line) in lines.iter().enumerate() {
        let body = body_of(line);
        let expected = match seq {
            2..=5 => Some(&bureau),
            6..=9 | 11 | 12 => Some(&jc),
            10 => Some(&st),
            _ => None,
        };
        match expected {
            Some(key) => {
                let sig = signature_of(&body);
                assert_eq!(hex::encode(sig.public_key), key.hex, "seq {seq}");
                let after = body.after().expect("a version 3 signature");
                assert_eq!(
                    after.seq,
                    seq as u64 - 1,
                    "seq {seq}: one command, one event"
                );
                assert_eq!(after.hash, hash_of(&lines[seq - 1]), "seq {seq}");
                let kind = codec::encode_kind(body.kind()).unwrap();
                let message = sign::message_after(&id, &after, &kind);
                assert!(sign::verify(sig, &message), "seq {seq}");
                let other_ledger = sign::message_after(&[0; 16], &after, &kind);
                assert!(!sign::verify(sig, &other_ledger), "seq {seq}");
            }
            None => assert!(matches!(body, Body::V1(_)), "seq {seq} is signed"),
        }
    }

    // verify and verify --export pass.
    let v = ok_json(&l, &["verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let file = l.path("export.jsonl");
    std::fs::write(&file, export(&l)).unwrap();
    let v = ok_json(&l, &["verify", "--export", file.to_str().unwrap()]);
    assert_eq!(
        (v["ok"].clone(), v["events"].clone()),
        (json!(true), json!(13))
    );

    // key list --json, before and after a revocation by hex.
    let list = ok_json(&l, &["key", "list"]);
    assert_eq!(
        list,
        json!({"keys": [
            {"public_key": bureau.hex, "actor": "bureau 武进区司法局", "registered_seq": 1, "revoked_seq": null},
            {"public_key": jc.hex, "actor": "department 基层科", "registered_seq": 4, "revoked_seq": null},
            {"public_key": st.hex, "actor": "station WJ02", "registered_seq": 5, "revoked_seq": null},
        ]})
    );
    let text = ok(&l, &["key", "list"]);
    assert_contains(&text, &jc.hex);
    assert_contains(&text, "department 基层科");
    let revoked = ok_json(&l, &["key", "revoke", &st.hex, "--reason", "所长调任"]);
    assert_eq!(
        revoked,
        json!({"status": "appended", "seq": 13, "type": "key_revoked"})
    );
    let list = ok_json(&l, &["key", "list"]);
    assert_eq!(list["keys"][2]["revoked_seq"], 13, "{list}");
    assert_eq!(list["keys"][1]["revoked_seq"], Value::Null, "{list}");

    // The close is the bureau's: a department's key cannot sign it; the bureau's key signs
    // the closing event (the rank bonuses before it are computed, unsigned); the closed
    // ledger and its export verify.
    refused_env(
        &l,
        &["close"],
        &[("KAOHE_KEY", &jc.private)],
        "signed by the bureau",
    );
    let closed = run(&l, &["close", "--json"]);
    assert_eq!(closed.code, 0, "{}{}", closed.stdout, closed.stderr);
    let lines = export_lines(&l);
    let last = body_of(lines.last().unwrap());
    assert!(matches!(last.kind(), EventKind::PeriodClosed(_)));
    assert_eq!(hex::encode(signature_of(&last).public_key), bureau.hex);
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
    std::fs::write(&file, export(&l)).unwrap();
    let v = ok_json(&l, &["verify", "--export", file.to_str().unwrap()]);
    assert_eq!(v["events"], lines.len() as u64, "{v}");
}

/// Guards the canonicalisation of a key's department: a key made for the alias 矫正科 is
/// registered for 社矫科, signs records given either name, and a registration under the
/// canonical name is the same registration.
#[test]
fn a_key_made_for_an_alias_serves_the_canonical_department() {
    let l = requiring();
    let sj = key_new(&l, &["--dept", "矫正科"], "shejiao.key");
    let r = register(&l, &sj.public);
    assert_eq!(r["status"], "appended");
    let list = ok_json(&l, &["key", "list"]);
    assert_eq!(list["keys"][1]["actor"], "department 社矫科", "{list}");
    // The same key under the canonical name is the same registration.
    let canonical = l.path("canonical.pub");
    std::fs::write(
        &canonical,
        std::fs::read_to_string(&sj.public)
            .unwrap()
            .replace("矫正科", "社矫科"),
    )
    .unwrap();
    let again = register(&l, canonical.to_str().unwrap());
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["seq"], r["seq"], "{again}");
    signed(&l, &sj, &record_args("S1", "3.1.c", "WJ01", "社矫科"));
    signed(&l, &sj, &record_args("S2", "3.1.d", "WJ01", "矫正科"));
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
}

// ---------------------------------------------------------------------------------------------
// 2. Refusals.

/// Guards that a ledger requiring signatures refuses every unsigned actor event (record,
/// metric, appeal, decision, reversal, and an import line), writing nothing.
#[test]
fn a_requiring_ledger_refuses_each_unsigned_kind() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let st = key_new(&l, &["--station", "WJ01"], "st.key");
    register(&l, &jc.public);
    register(&l, &st.public);

    let e = refused(&l, &record_args("R1", "1.1.b", "WJ01", "基层科"), "key");
    assert_contains(&e, "requires signatures");
    assert_contains(&e, "department 基层科");
    refused(&l, &metric_args("M1", "WJ01", "基层科"), "key");
    signed(&l, &jc, &record_args("R1", "1.1.b", "WJ01", "基层科"));
    signed(&l, &jc, &record_args("R2", "1.3.a", "WJ01", "基层科"));
    let e = refused(&l, &appeal_args("A1", "R1", "WJ01"), "key");
    assert_contains(&e, "station WJ01");
    signed(&l, &st, &appeal_args("A1", "R1", "WJ01"));
    refused(&l, &decide_args("A1", "基层科"), "key");
    refused(&l, &reverse_args("V1", "R2", "基层科"), "key");
    let batch = l.path("batch.jsonl");
    std::fs::write(
        &batch,
        format!(
            "{}\n",
            json!({"op": "record", "id": "R3", "clause": "1.3.b", "station": "WJ01",
                   "by": "基层科", "occurred": "2018-06-02", "evidence": [EV]})
        ),
    )
    .unwrap();
    let e = refused(&l, &["import", batch.to_str().unwrap()], "key");
    assert_contains(&e, "line 1");
    // Signed, each of them goes in.
    signed(&l, &jc, &decide_args("A1", "基层科"));
    signed(&l, &jc, &reverse_args("V1", "R2", "基层科"));
    signed(&l, &jc, &metric_args("M1", "WJ01", "基层科"));
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
}

/// Guards who may sign: a key not registered, a key revoked at an earlier seq, another
/// department's key, a department's key on an appeal, another station's key on an appeal, and
/// a station's key on a record are all refused with field `key`, writing nothing.
#[test]
fn only_the_actors_key_in_force_can_sign() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let gl = key_new(&l, &["--dept", "公律科"], "gl.key");
    let st1 = key_new(&l, &["--station", "WJ01"], "st1.key");
    let st2 = key_new(&l, &["--station", "WJ02"], "st2.key");
    let loose = key_new(&l, &["--dept", "基层科"], "loose.key");
    let old = key_new(&l, &["--dept", "基层科"], "old.key");
    for k in [&jc, &gl, &st1, &st2, &old] {
        register(&l, &k.public);
    }
    signed(&l, &old, &record_args("R0", "1.3.c", "WJ01", "基层科"));
    let revoked = ok_json(&l, &["key", "revoke", &old.private, "--reason", "科长调任"]);
    let revoked_seq = revoked["seq"].as_u64().unwrap();

    let record = record_args("R1", "1.1.b", "WJ01", "基层科");
    let e = refused(&l, &keyed(&loose.private, &record), "key");
    assert_contains(&e, "not registered");
    let e = refused(&l, &keyed(&old.private, &record), "key");
    assert_contains(&e, &format!("was revoked (seq {revoked_seq})"));
    let e = refused(&l, &keyed(&gl.private, &record), "key");
    assert_contains(&e, "公律科");
    let e = refused(&l, &keyed(&st1.private, &record), "key");
    assert_contains(&e, "station WJ01");
    // Through KAOHE_KEY as well.
    refused_env(&l, &record, &[("KAOHE_KEY", &gl.private)], "field `key`");

    signed(&l, &jc, &record);
    let appeal = appeal_args("A1", "R1", "WJ01");
    let e = refused(&l, &keyed(&jc.private, &appeal), "key");
    assert_contains(&e, "station WJ01");
    refused(&l, &keyed(&st2.private, &appeal), "key");
    refused(&l, &keyed(&old.private, &appeal), "key");
    signed(&l, &st1, &appeal);
    // A station's key cannot decide its own appeal, another department's cannot either.
    refused(
        &l,
        &keyed(&st1.private, &decide_args("A1", "基层科")),
        "key",
    );
    refused(&l, &keyed(&gl.private, &decide_args("A1", "基层科")), "key");
    refused(
        &l,
        &keyed(&old.private, &reverse_args("V1", "R0", "基层科")),
        "key",
    );
    signed(&l, &jc, &decide_args("A1", "基层科"));
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
}

/// Guards keys within one import batch, and the last bureau key: a bureau key registered by
/// an earlier line lets a later line revoke the signer's own key (a key may sign its own
/// revocation); a line after that revocation, signed by the revoked key, is refused (field
/// `key`, `line 3`), writing nothing; the last bureau key in force cannot be revoked.
#[test]
fn an_import_batch_sees_its_own_registrations_and_revocations() {
    let l = requiring();
    let first = KeyFiles::at(&l, "bureau.key");
    let second = key_new(&l, &["--bureau", "武进区司法局"], "bureau2.key");
    let e = refused(
        &l,
        &["key", "revoke", &first.hex, "--reason", "轮换"],
        "public_key",
    );
    assert_contains(&e, "last bureau key");
    let register = json!({"op": "key_register", "actor_kind": "bureau", "actor": "武进区司法局",
                          "public_key": second.hex});
    let revoke = json!({"op": "key_revoke", "public_key": first.hex, "reason": "轮换"});
    let station = json!({"op": "station", "code": "WJ03", "name": "牛塘司法所", "kind": "town"});
    let batch = l.path("batch.jsonl");
    std::fs::write(&batch, format!("{register}\n{revoke}\n{station}\n")).unwrap();
    let e = refused(
        &l,
        &keyed(&first.private, &["import", batch.to_str().unwrap()]),
        "key",
    );
    assert_contains(&e, "line 3");
    assert_contains(&e, "revoked");
    std::fs::write(&batch, format!("{register}\n{revoke}\n")).unwrap();
    let out = run(
        &l,
        &keyed(&first.private, &["import", batch.to_str().unwrap()]),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let add = [
        "station",
        "add",
        "WJ03",
        "--name",
        "牛塘司法所",
        "--kind",
        "town",
    ];
    refused(&l, &keyed(&first.private, &add), "key");
    signed(&l, &second, &add);
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
}

/// Guards the key file given to `--key` / `KAOHE_KEY`: a public key file, bad hex, a public line
/// that does not belong to the secret, a missing secret and a missing file are refused (exit 2,
/// naming `--key`), writing nothing.
#[test]
fn damaged_and_public_key_files_cannot_sign() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let other = key_new(&l, &["--dept", "基层科"], "other.key");
    register(&l, &jc.public);
    let text = jc.text();
    let secret_line = text.lines().find(|s| s.starts_with("secret:")).unwrap();
    let public_line = text.lines().find(|s| s.starts_with("public:")).unwrap();
    let other_public = other
        .text()
        .lines()
        .find(|s| s.starts_with("public:"))
        .unwrap()
        .to_string();
    let mut bad_hex = secret_line.to_string();
    bad_hex.replace_range(bad_hex.len() - 2.., "zz");
    let damaged = [
        ("bad-hex.key", text.replace(secret_line, &bad_hex), "secret"),
        (
            "short.key",
            text.replace(secret_line, &secret_line[..secret_line.len() - 2]),
            "secret",
        ),
        (
            "mismatch.key",
            text.replace(public_line, &other_public),
            "does not belong",
        ),
        (
            "no-secret.key",
            text.replace(&format!("{secret_line}\n"), ""),
            "secret",
        ),
    ];
    let record = record_args("R1", "1.1.b", "WJ01", "基层科");
    for (name, content, why) in &damaged {
        let path = l.path(name);
        std::fs::write(&path, content).unwrap();
        let p = path.to_str().unwrap();
        let e = refused_env(&l, &keyed(p, &record), &[], "--key");
        assert_contains(&e, why);
        refused_env(&l, &record, &[("KAOHE_KEY", p)], "--key");
    }
    let e = refused_env(&l, &keyed(&jc.public, &record), &[], "--key");
    assert_contains(&e, "public key file cannot sign");
    refused_env(&l, &record, &[("KAOHE_KEY", &jc.public)], "--key");
    let missing = l.path("missing.key");
    refused_env(
        &l,
        &keyed(missing.to_str().unwrap(), &record),
        &[],
        "key file",
    );
    // The intact file signs.
    signed(&l, &jc, &record);
}

/// Guards that `key new` never overwrites: onto an existing private file it fails and leaves
/// the file as it was.
#[test]
fn key_new_refuses_an_existing_file() {
    let l = TestLedger::empty();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let before = (jc.text(), std::fs::read_to_string(&jc.public).unwrap());
    for who in [["--dept", "基层科"], ["--station", "WJ01"]] {
        let mut args = vec!["key", "new"];
        args.extend(who);
        args.extend(["--out", &jc.private]);
        let out = run(&l, &args);
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert_contains(&out.stderr, "jc.key");
        let after = (jc.text(), std::fs::read_to_string(&jc.public).unwrap());
        assert_eq!(after, before);
    }
}

/// Guards that a refused `key new` writes nothing: when only FILE.pub exists, no private FILE
/// is left behind (it would not match the .pub next to it).
#[test]
fn key_new_onto_an_existing_public_file_writes_nothing() {
    let l = TestLedger::empty();
    let private = l.path("taken.key");
    let public = l.path("taken.key.pub");
    std::fs::write(&public, "kept\n").unwrap();
    let out = run(
        &l,
        &[
            "key",
            "new",
            "--dept",
            "基层科",
            "--out",
            private.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(std::fs::read_to_string(&public).unwrap(), "kept\n");
    assert!(!private.exists(), "a private key file was left behind");
}

/// Guards key registration: an unknown department, an unregistered station, a key already
/// registered for another actor, a damaged or non-Ed25519 public key file are refused, writing
/// nothing.
#[test]
fn key_registration_refusals() {
    let l = requiring();
    let nobody = key_new(&l, &["--dept", "不存在科"], "nobody.key");
    let e = refused(&l, &["key", "register", &nobody.public], "actor");
    assert_contains(&e, "不存在科");
    let ghost = key_new(&l, &["--station", "WJ09"], "ghost.key");
    let e = refused(&l, &["key", "register", &ghost.private], "actor");
    assert_contains(&e, "WJ09");

    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let r = register(&l, &jc.public);
    let seq = r["seq"].as_u64().unwrap();
    // The same key for another department, and for a station.
    let pub_text = std::fs::read_to_string(&jc.public).unwrap();
    for (name, actor) in [
        ("as-gl.pub", "department 公律科"),
        ("as-station.pub", "station WJ01"),
    ] {
        let path = l.path(name);
        std::fs::write(&path, pub_text.replace("department 基层科", actor)).unwrap();
        let e = refused(
            &l,
            &["key", "register", path.to_str().unwrap()],
            "public_key",
        );
        assert_contains(&e, &format!("seq {seq}"));
    }
    // Damaged files.
    let mut not_a_point = None;
    for b in 0..=255u8 {
        if !kaohe::internals::events::sign::is_public_key(&[b; 32]) {
            not_a_point = Some([b; 32]);
            break;
        }
    }
    let not_a_point = not_a_point.expect("some 32 equal bytes are not an Ed25519 key");
    for (name, content) in [
        (
            "bad-point.pub",
            kaohe::internals::events::sign::public_text(
                &Actor::Department("基层科".into()),
                &not_a_point,
            ),
        ),
        ("bad-hex.pub", pub_text.replace(&jc.hex, &"zz".repeat(32))),
        (
            "bad-tag.pub",
            pub_text.replace("kaohe-public-key v1", "kaohe-key v9"),
        ),
        ("empty.pub", String::new()),
    ] {
        let path = l.path(name);
        std::fs::write(&path, content).unwrap();
        let before = export(&l);
        let out = run(&l, &["key", "register", path.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{name}: {}{}", out.stdout, out.stderr);
        assert_contains(&out.stderr, name);
        assert_eq!(export(&l), before, "{name}");
    }
}

/// Guards key revocation: a second revocation, an unknown key (by hex and by file), and a
/// revocation without a reason are refused, writing nothing; the first revocation is by file.
#[test]
fn key_revocation_refusals() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let stranger = key_new(&l, &["--dept", "基层科"], "stranger.key");
    register(&l, &jc.public);
    let first = ok_json(&l, &["key", "revoke", &jc.public, "--reason", "遗失"]);
    let seq = first["seq"].as_u64().unwrap();
    assert_eq!(first["type"], "key_revoked");
    for which in [&jc.hex, &jc.private, &jc.public] {
        let e = refused(
            &l,
            &["key", "revoke", which, "--reason", "再次"],
            "public_key",
        );
        assert_contains(&e, &format!("already revoked (seq {seq})"));
    }
    for which in [&stranger.hex, &stranger.public] {
        let e = refused(
            &l,
            &["key", "revoke", which, "--reason", "遗失"],
            "public_key",
        );
        assert_contains(&e, "not registered");
    }
    // A revoked key cannot come back: registering it again writes nothing (kaohe answers
    // `unchanged`) and it still cannot sign.
    let before = export(&l);
    let again = register(&l, &jc.public);
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(export(&l), before);
    let e = refused(
        &l,
        &keyed(&jc.private, &record_args("R1", "1.1.b", "WJ01", "基层科")),
        "key",
    );
    assert_contains(&e, "revoked");
    // Nor can it come back for another actor.
    let as_gl = l.path("as-gl.pub");
    std::fs::write(
        &as_gl,
        std::fs::read_to_string(&jc.public)
            .unwrap()
            .replace("基层科", "公律科"),
    )
    .unwrap();
    refused(
        &l,
        &["key", "register", as_gl.to_str().unwrap()],
        "public_key",
    );
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
}

/// Guards that a revocation needs a reason (an empty one is refused, writing nothing).
#[test]
fn a_revocation_needs_a_reason() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    register(&l, &jc.public);
    let before = export(&l);
    let out = run(&l, &["key", "revoke", &jc.hex, "--reason", "  "]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(export(&l), before);
}

// ---------------------------------------------------------------------------------------------
// 3. Without --require-signatures.

/// Guards optional signing: without `--require-signatures` unsigned events are accepted, signed
/// ones are signed and checked (a bad key is still refused, a forged signature still caught).
#[test]
fn signatures_are_optional_but_checked_without_require_signatures() {
    let l = TestLedger::with_stations();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let st = key_new(&l, &["--station", "WJ01"], "st.key");
    let loose = key_new(&l, &["--dept", "基层科"], "loose.key");
    let gl = key_new(&l, &["--dept", "公律科"], "gl.key");
    // Unsigned: every kind.
    let u1 = unsigned(&l, &record_args("U1", "1.1.b", "WJ01", "基层科"));
    unsigned(&l, &record_args("U2", "1.3.a", "WJ01", "基层科"));
    unsigned(&l, &metric_args("UM", "WJ01", "基层科"));
    unsigned(&l, &appeal_args("UA", "U1", "WJ01"));
    unsigned(&l, &decide_args("UA", "基层科"));
    unsigned(&l, &reverse_args("UV", "U2", "基层科"));
    // Signed.
    register(&l, &jc.public);
    register(&l, &st.public);
    register(&l, &gl.public);
    let s1 = signed(&l, &jc, &record_args("S1", "1.1.b", "WJ02", "基层科"));
    signed(&l, &jc, &metric_args("SM", "WJ02", "基层科"));
    let s2 = signed(&l, &jc, &record_args("S2", "1.3.b", "WJ01", "基层科"));
    let sa = signed(&l, &st, &appeal_args("SA", "S2", "WJ01"));
    // A key given must be good, even where none is required.
    let record = record_args("S3", "1.3.c", "WJ01", "基层科");
    refused(&l, &keyed(&loose.private, &record), "key");
    refused(&l, &keyed(&gl.private, &record), "key");
    refused(
        &l,
        &keyed(&jc.private, &appeal_args("SB", "S1", "WJ02")),
        "key",
    );
    refused_env(&l, &keyed(&jc.public, &record), &[], "--key");

    let lines = export_lines(&l);
    for (seq, line) in lines.iter().enumerate().take(9).skip(3) {
        assert!(matches!(body_of(line), Body::V1(_)), "seq {seq}");
    }
    assert_eq!(u1["seq"], 3);
    for (v, key) in [(&s1, &jc), (&s2, &jc), (&sa, &st)] {
        let seq = v["seq"].as_u64().unwrap() as usize;
        let body = body_of(&lines[seq]);
        assert_eq!(hex::encode(signature_of(&body).public_key), key.hex);
    }
    assert_eq!(ok_json(&l, &["verify"])["ok"], true);
    assert_verifies(&lines, "the optional-signature ledger");
    // A forged signature is caught here too.
    let seq = s2["seq"].as_u64().unwrap();
    let mut forged = lines.clone();
    edit_body(&mut forged, seq as usize, |b| {
        signed_mut(b).signature.r[3] ^= 0x10
    });
    assert_contains(
        &assert_forgery_at(&forged, seq, "a flipped signature byte"),
        "does not verify",
    );
    // signatures_required anywhere but seq 1 is a forgery.
    let mut late = lines.clone();
    insert(&mut late, 3, EventKind::SignaturesRequired);
    assert_contains(
        &assert_forgery_at(&late, 3, "signatures required at seq 3"),
        "seq 1",
    );
    let mut end = lines.clone();
    let n = end.len();
    insert(&mut end, n, EventKind::SignaturesRequired);
    assert_forgery_at(&end, n as u64, "signatures required at the end");
}

// ---------------------------------------------------------------------------------------------
// 4. Forgeries in an export.

/// Re-encodes every line from `from` on, with seq = its place, each linked to the line before.
pub(crate) fn rechain(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 {
        GENESIS_PREV
    } else {
        hash_of(&lines[from - 1])
    };
    for (i, line) in lines.iter_mut().enumerate().skip(from) {
        let mut body = body_of(line);
        body.v1_mut().seq = i as u64;
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        *line = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
        prev = hash;
    }
}

/// Puts `body` at line `i` and re-chains from it.
pub(crate) fn put(lines: &mut [String], i: usize, body: &Body) {
    // Placeholder hashes: `rechain` re-links the line from its body.
    lines[i] = kaohe::ops::export::line(body, &codec::encode(body).unwrap(), &[0; 32], &[0; 32]);
    rechain(lines, i);
}

/// Edits the body of line `i` and re-chains from it.
pub(crate) fn edit_body(lines: &mut [String], i: usize, f: impl FnOnce(&mut Body)) {
    let mut body = body_of(&lines[i]);
    f(&mut body);
    put(lines, i, &body);
}

/// Inserts an unsigned event at line `i` (recorded when the line before it was) and re-chains.
fn insert(lines: &mut Vec<String>, i: usize, kind: EventKind) {
    let at = body_of(&lines[i - 1]).v1().recorded_at_us;
    let body = Body::V1(EventV1 {
        seq: i as u64,
        recorded_at_us: at,
        kind,
    });
    lines.insert(i, String::new());
    put(lines, i, &body);
}

pub(crate) fn signed_mut(body: &mut Body) -> &mut SignedAfter {
    match body {
        Body::V3(s) => s,
        other => panic!("seq {} is not signed (version 3)", other.seq()),
    }
}

/// Signs line `i`'s event with `key` (a private key file's text) after the line before it, in
/// place of any signature, and re-chains.
pub(crate) fn resign(lines: &mut [String], i: usize, key: &str) {
    let id = ledger_id(lines);
    let pair = KeyPair::from_file_text(key).unwrap();
    let event = body_of(&lines[i]).v1().clone();
    let after = After {
        seq: i as u64 - 1,
        hash: hash_of(&lines[i - 1]),
    };
    let kind = codec::encode_kind(&event.kind).unwrap();
    let signature = pair.sign(&sign::message_after(&id, &after, &kind));
    put(
        lines,
        i,
        &Body::V3(SignedAfter {
            event,
            after,
            signature,
        }),
    );
}

pub(crate) fn run_verify_export(lines: &[String]) -> Output {
    let l = TestLedger::empty();
    let file = l.path("export.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&file, text).expect("write export");
    run(
        &l,
        &["verify", "--export", file.to_str().unwrap(), "--json"],
    )
}

/// `verify --export` fails (exit 1) naming `seq` as the first bad one; returns the problem.
#[track_caller]
pub(crate) fn assert_forgery_at(lines: &[String], seq: u64, what: &str) -> String {
    let out = run_verify_export(lines);
    assert_eq!(
        out.code, 1,
        "{what}: verify should fail: {}{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["ok"], false, "{what}: {v}");
    assert_eq!(v["first_bad_seq"], seq, "{what}: {v}");
    assert_contains(&out.stderr, &format!("seq {seq}"));
    v["problem"].as_str().unwrap_or_default().to_string()
}

#[track_caller]
pub(crate) fn assert_verifies(lines: &[String], what: &str) {
    let out = run_verify_export(lines);
    assert_eq!(out.code, 0, "{what}: {}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["events"], lines.len() as u64, "{what}");
}

/// A signed ledger's export and the key files that made it (see [`base`]).
struct Base {
    lines: Vec<String>,
    /// The bureau's key (the root key, seq 1).
    bureau: String,
    /// 基层科's first key (registered at seq 4, revoked at seq 9).
    jc: String,
    /// 基层科's second key (registered at seq 10).
    jc2: String,
    /// 公律科's key (seq 5).
    gl: String,
    /// WJ01's key (seq 6).
    st: String,
}

/// The seqs of [`base`].
const R1: usize = 7;
const R2: usize = 8;
const REVOKED: usize = 9;
const JC2_REGISTERED: usize = 10;
const R3: usize = 11;
const M1: usize = 12;
const A1: usize = 13;

/// A ledger requiring signatures, with a key rotation: 0 genesis, 1 signatures_required,
/// 2–3 stations, 4 基层科 key jc, 5 公律科 key, 6 WJ01 key, 7–8 records signed by jc, 9 jc
/// revoked, 10 基层科 key jc2, 11 a record and 12 a metric signed by jc2, 13 WJ01's appeal of
/// seq 11 signed by WJ01's key.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let l = requiring();
        let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
        let gl = key_new(&l, &["--dept", "公律科"], "gl.key");
        let st = key_new(&l, &["--station", "WJ01"], "st.key");
        let jc2 = key_new(&l, &["--dept", "基层科"], "jc2.key");
        for (k, seq) in [(&jc, 4), (&gl, 5), (&st, 6)] {
            assert_eq!(register(&l, &k.public)["seq"], seq);
        }
        assert_eq!(
            signed(&l, &jc, &record_args("R1", "1.1.b", "WJ01", "基层科"))["seq"],
            R1
        );
        assert_eq!(
            signed(&l, &jc, &record_args("R2", "1.3.a", "WJ02", "基层科"))["seq"],
            R2
        );
        let v = ok_json(&l, &["key", "revoke", &jc.hex, "--reason", "遗失"]);
        assert_eq!(v["seq"], REVOKED);
        assert_eq!(register(&l, &jc2.public)["seq"], JC2_REGISTERED);
        assert_eq!(
            signed(&l, &jc2, &record_args("R3", "1.3.b", "WJ01", "基层科"))["seq"],
            R3
        );
        assert_eq!(
            signed(&l, &jc2, &metric_args("M1", "WJ01", "基层科"))["seq"],
            M1
        );
        assert_eq!(signed(&l, &st, &appeal_args("A1", "R3", "WJ01"))["seq"], A1);
        Base {
            lines: export_lines(&l),
            bureau: KeyFiles::at(&l, "bureau.key").text(),
            jc: jc.text(),
            jc2: jc2.text(),
            gl: gl.text(),
            st: st.text(),
        }
    })
}

/// Guards the forgery helpers: the untouched export verifies, and re-chaining it (and re-signing
/// an event with its own key) changes nothing that verify sees.
#[test]
fn the_untouched_signed_export_verifies_and_rechaining_changes_nothing() {
    let b = base();
    assert_verifies(&b.lines, "untouched");
    let mut lines = b.lines.clone();
    rechain(&mut lines, 0);
    assert_eq!(lines, b.lines);
    // Ed25519 is deterministic: re-signing with the right key gives the same line.
    resign(&mut lines, R3, &b.jc2);
    resign(&mut lines, A1, &b.st);
    assert_eq!(lines, b.lines);
}

/// Guards signature checking: a flipped byte of a signature (R or S half) or of its public
/// key, re-chained, is caught at its seq.
#[test]
fn a_flipped_signature_byte_is_caught_at_its_seq() {
    let b = base();
    let mut lines = b.lines.clone();
    edit_body(&mut lines, R3, |body| signed_mut(body).signature.s[0] ^= 1);
    let p = assert_forgery_at(&lines, R3 as u64, "a flipped S byte");
    assert_contains(&p, "does not verify");
    let mut lines = b.lines.clone();
    edit_body(&mut lines, A1, |body| {
        signed_mut(body).signature.r[31] ^= 0x80
    });
    assert_forgery_at(&lines, A1 as u64, "a flipped R byte");
    let mut lines = b.lines.clone();
    edit_body(&mut lines, R1, |body| {
        signed_mut(body).signature.public_key[0] ^= 1
    });
    assert_forgery_at(&lines, R1 as u64, "a flipped public key byte");
}

/// Guards that a signature covers the content: a record or metric changed after signing,
/// re-chained with its signature left, is caught at its seq.
#[test]
fn content_changed_after_signing_is_caught_at_its_seq() {
    let b = base();
    let mut lines = b.lines.clone();
    edit_body(&mut lines, R2, |body| match &mut body.v1_mut().kind {
        EventKind::PointsRecorded(p) => p.evidence = vec!["伪造的证据".into()],
        other => panic!("not a record: {other:?}"),
    });
    let p = assert_forgery_at(&lines, R2 as u64, "changed evidence");
    assert_contains(&p, "does not verify");
    let mut lines = b.lines.clone();
    edit_body(&mut lines, M1, |body| match &mut body.v1_mut().kind {
        EventKind::MetricReported(m) => m.occurred = "2018-06-02".parse().unwrap(),
        other => panic!("not a metric: {other:?}"),
    });
    assert_forgery_at(&lines, M1 as u64, "changed occurred");
    // The signature is over this ledger: one made for another ledger id does not verify.
    let mut lines = b.lines.clone();
    let pair = KeyPair::from_file_text(&b.jc2).unwrap();
    edit_body(&mut lines, R3, |body| {
        let kind = codec::encode_kind(body.kind()).unwrap();
        let after = body.after().expect("signed after a head");
        signed_mut(body).signature = pair.sign(&sign::message_after(&[7; 16], &after, &kind));
    });
    assert_forgery_at(&lines, R3 as u64, "signed for another ledger");
}

/// Guards "the key in force when recorded": an event signed by a key registered only later is
/// caught at its seq.
#[test]
fn a_signature_by_a_key_registered_later_is_caught_at_its_seq() {
    let b = base();
    let mut lines = b.lines.clone();
    resign(&mut lines, R1, &b.jc2);
    let p = assert_forgery_at(&lines, R1 as u64, "signed by a later key");
    assert_contains(&p, "never registered");
}

/// Guards revocation: an event after its key's revocation, signed by that key, is caught at its
/// seq.
#[test]
fn a_signature_by_a_revoked_key_is_caught_at_its_seq() {
    let b = base();
    let mut lines = b.lines.clone();
    resign(&mut lines, R3, &b.jc);
    let p = assert_forgery_at(&lines, R3 as u64, "signed by a revoked key");
    assert_contains(&p, "not in force");
    let mut lines = b.lines.clone();
    resign(&mut lines, M1, &b.jc);
    assert_forgery_at(&lines, M1 as u64, "a metric signed by a revoked key");
}

/// Guards the actor match: an event signed by another actor's registered key (another
/// department on a record, a department on a station's appeal, a station on a record) is
/// caught at its seq.
#[test]
fn a_signature_by_another_actors_key_is_caught_at_its_seq() {
    let b = base();
    let mut lines = b.lines.clone();
    resign(&mut lines, R3, &b.gl);
    let p = assert_forgery_at(&lines, R3 as u64, "signed by 公律科");
    assert_contains(&p, "公律科");
    let mut lines = b.lines.clone();
    resign(&mut lines, A1, &b.jc2);
    let p = assert_forgery_at(&lines, A1 as u64, "an appeal signed by the department");
    assert_contains(&p, "station WJ01");
    let mut lines = b.lines.clone();
    resign(&mut lines, R1, &b.st);
    assert_forgery_at(&lines, R1 as u64, "a record signed by the station");
}

/// Guards who signs the bureau's kinds and that the genesis and the root key are not signed:
/// a station registration, a key registration or a revocation signed by a department's key,
/// and a signed root key, are caught at their seqs.
#[test]
fn the_bureaus_kinds_signed_by_another_key_are_caught_at_their_seqs() {
    let b = base();
    let mut lines = b.lines.clone();
    resign(&mut lines, JC2_REGISTERED, &b.gl);
    let p = assert_forgery_at(
        &lines,
        JC2_REGISTERED as u64,
        "a key registration by 公律科",
    );
    assert_contains(&p, "signed by the bureau");
    let mut lines = b.lines.clone();
    resign(&mut lines, REVOKED, &b.gl);
    assert_forgery_at(&lines, REVOKED as u64, "a revocation by 公律科");
    let mut lines = b.lines.clone();
    resign(&mut lines, 3, &b.jc);
    assert_forgery_at(
        &lines,
        3,
        "a station registration by a key not yet registered",
    );
    let mut lines = b.lines.clone();
    resign(&mut lines, 1, &b.bureau);
    let p = assert_forgery_at(&lines, 1, "a signed root key");
    assert_contains(&p, "no one signs");
}

/// Guards required signatures: a signed record replaced by its unsigned body (re-chained) in a
/// ledger that requires signatures is caught at its seq.
#[test]
fn an_unsigned_record_in_a_requiring_ledger_is_caught_at_its_seq() {
    let b = base();
    for seq in [R2, M1, A1] {
        let mut lines = b.lines.clone();
        let event = body_of(&lines[seq]).v1().clone();
        put(&mut lines, seq, &Body::V1(event));
        let p = assert_forgery_at(&lines, seq as u64, "an unsigned event");
        assert_contains(&p, "not signed");
    }
}

/// Guards that the root key (and the legacy `signatures_required`) stand only at seq 1: moved
/// to seq 2, or added later, each is caught at its seq.
#[test]
fn the_root_key_elsewhere_than_seq_1_is_caught() {
    let b = base();
    // Swapped with the first station registration, which is then signed before any key.
    let mut lines = b.lines.clone();
    lines.swap(1, 2);
    rechain(&mut lines, 1);
    assert_forgery_at(&lines, 1, "root_key at seq 2");
    let n = b.lines.len();
    let root = match body_of(&b.lines[1]).kind() {
        EventKind::RootKey(k) => k.clone(),
        other => panic!("seq 1 is {other:?}"),
    };
    for kind in [EventKind::RootKey(root), EventKind::SignaturesRequired] {
        let mut lines = b.lines.clone();
        insert(&mut lines, n, kind.clone());
        let p = assert_forgery_at(&lines, n as u64, &format!("{kind:?} at the end"));
        assert_contains(&p, "seq 1");
    }
}

/// Guards that a key serves one registration: the same key registered again (same actor or
/// another) is caught at the second registration.
#[test]
fn a_second_registration_of_a_key_is_caught_at_its_seq() {
    let b = base();
    let jc2 = KeyPair::from_file_text(&b.jc2).unwrap().public_key();
    let jc = KeyPair::from_file_text(&b.jc).unwrap().public_key();
    let n = b.lines.len();
    for (key, actor) in [
        (jc2, Actor::Department("基层科".into())),
        (jc2, Actor::Department("公律科".into())),
        // A revoked key registered again, to bring it back.
        (jc, Actor::Department("基层科".into())),
    ] {
        let mut lines = b.lines.clone();
        insert(
            &mut lines,
            n,
            EventKind::KeyRegistered(KeyRegistered {
                actor: actor.clone(),
                public_key: key,
            }),
        );
        resign(&mut lines, n, &b.bureau);
        let p = assert_forgery_at(
            &lines,
            n as u64,
            &format!("a second registration for {actor}"),
        );
        assert_contains(&p, "second time");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Key file permissions.

/// Guards the private key file's mode (0600) and that the .pub is not executable or
/// world-writable.
#[test]
fn the_private_key_file_is_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let l = TestLedger::empty();
    for (who, name) in [
        (["--dept", "基层科"], "d.key"),
        (["--station", "WJ01"], "s.key"),
    ] {
        let k = key_new(&l, &who, name);
        let mode = std::fs::metadata(&k.private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}: {mode:o}");
        let pub_mode = std::fs::metadata(&k.public).unwrap().permissions().mode() & 0o777;
        assert_eq!(pub_mode & 0o133, 0, "{name}.pub: {pub_mode:o}");
        let text = k.text();
        assert!(text.starts_with("kaohe-key v1\n"), "{text}");
        assert_contains(&text, "secret: ");
        let public = std::fs::read_to_string(&k.public).unwrap();
        assert!(!public.contains("secret"), "{public}");
        assert_eq!(hex::encode(k.pair().public_key()), k.hex);
    }
}

/// Registers `jc` (a 基层科 key) and imports `n` records signed with it, ids `prefix0…`,
/// alternating between WJ01 and WJ02; gives the seq of the first record.
fn signed_run(l: &TestLedger, jc: &KeyFiles, prefix: &str, n: usize) -> usize {
    let first = register(l, &jc.public)["seq"].as_u64().expect("a seq") as usize + 1;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let station = ["WJ01", "WJ02"][i % 2];
            json!({
                "op": "record", "id": format!("{prefix}{i}"), "clause": "1.7.a",
                "station": station, "by": "基层科",
                "occurred": "2018-06-01", "count": 1, "evidence": [EV],
            })
            .to_string()
        })
        .collect();
    let file = l.path("signed.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the import");
    ok(
        l,
        &keyed(&jc.private, &["import", file.to_str().expect("utf-8")]),
    );
    first
}

/// A ledger that requires signatures, holding `n` records signed by 基层科 ([`signed_run`]),
/// with the lines of its export (checked to end with those records) and the first record's seq.
fn signed_export(prefix: &str, n: usize) -> (TestLedger, usize, Vec<String>) {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    let first = signed_run(&l, &jc, prefix, n);
    let lines = export_lines(&l);
    assert_eq!(lines.len(), first + n);
    (l, first, lines)
}

/// Guards the signatures `verify` checks ahead of the audit (`Preparer`: on the reader's
/// thread, a long run split across two): on a run of signed events long enough to be split,
/// they find exactly what the audit finds checking each event itself. Nothing on the untouched
/// chain; a forged signature at its own seq, with the audit's words, in either half of the run
/// (and the first of two, when both halves hold one).
#[test]
fn signatures_checked_ahead_on_two_threads_find_what_the_audit_finds() {
    use kaohe::internals::domain::audit::{Audit, Preparer};
    const SIGNED: usize = 48;
    let (l, first, untouched) = signed_export("S", SIGNED);

    // The first fault (seq, words) of the audit on `lines`, each event checked as `check` does
    // and as `verify` does with what the preparer made of the whole run at once.
    let faults = |lines: &[String]| {
        let bodies: Vec<Body> = lines.iter().map(|line| body_of(line)).collect();
        let mut prepared = Vec::new();
        Preparer::default().prepare(0, &bodies, &mut prepared);
        assert_eq!(prepared.len(), bodies.len());
        let (mut itself, mut ahead) = (Audit::new(), Audit::new());
        let (mut found_itself, mut found_ahead) = (None, None);
        let mut prev = GENESIS_PREV;
        for ((seq, body), p) in (0u64..).zip(&bodies).zip(prepared) {
            if found_itself.is_none() {
                found_itself = itself.check(seq, body, &prev).err();
            }
            if found_ahead.is_none() {
                found_ahead = ahead.check_prepared(seq, body, &prev, p).err();
            }
            prev = hash_of(&lines[seq as usize]);
        }
        let pair =
            |f: Option<kaohe::internals::domain::audit::Fault>| f.map(|f| (f.seq, f.message));
        let (a, b) = (pair(found_itself), pair(found_ahead));
        assert_eq!(a, b, "checked ahead and in place differ");
        a
    };
    assert_eq!(faults(&untouched), None, "the untouched chain");
    let early = first + 3;
    let late = first + SIGNED - 5;
    for (forged, want) in [
        (&[early][..], early),
        (&[late][..], late),
        (&[late, early][..], early),
    ] {
        let mut lines = untouched.clone();
        for &seq in forged {
            edit_body(&mut lines, seq, |body| signed_mut(body).signature.s[0] ^= 1);
        }
        let (seq, words) = faults(&lines).expect("a forgery is found");
        assert_eq!(seq, want as u64, "{forged:?}");
        assert_contains(&words, "does not verify");
    }
    // And `verify` of the stored ledger, whose run is split, finds nothing.
    ok(&l, &["verify"]);
}

/// Guards the audit of a stored ledger, which keeps only the last `STORE_RECENT_HASHES` hashes
/// (8 here, through the test hook): the head an older signature follows is read from the
/// store, so a long signed import verifies, and a forged head there is still found.
#[test]
fn signatures_following_an_old_head_are_checked_against_the_stored_hash() {
    let l = requiring();
    let jc = key_new(&l, &["--dept", "基层科"], "jc.key");
    signed_run(&l, &jc, "O", 40);
    let small = [("KAOHE_TEST_RECENT_HASHES", "8")];
    let out = run_env(&l, &["verify"], &small);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let exported = export_lines(&l);
    let last = exported.len() - 1;
    let after = signed_mut(&mut body_of(&exported[last])).after.seq;
    assert!(
        last as u64 - after > 8,
        "the last record follows an old head"
    );
    crate::disputes::rechain_store(&l.db, last as u64, |body| {
        signed_mut(body).after.hash[0] ^= 1
    });
    let out = run_env(&l, &["verify"], &small);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_contains(&said, "with a hash this chain does not have there");
    assert_contains(&said, &format!("seq {last}"));
}

/// Guards `verify --export` checking lines ahead on worker threads, a batch of lines each in
/// turn: whichever batch or worker holds them, the first fault of the file is the one reported,
/// at its seq, in the words of the check that finds it.
#[test]
fn an_export_checked_in_batches_reports_its_first_fault() {
    const SIGNED: usize = 700;
    let (_l, first, untouched) = signed_export("B", SIGNED);
    assert_verifies(&untouched, "the untouched export");

    let forge = |lines: &mut Vec<String>, i: usize| {
        edit_body(lines, i, |body| signed_mut(body).signature.s[0] ^= 1)
    };
    let respace = |lines: &mut Vec<String>, i: usize| {
        lines[i] = lines[i].replacen("{\"seq\"", "{ \"seq\"", 1);
    };
    let rebody = |lines: &mut Vec<String>, i: usize| {
        // The first digit of the body changed, the hashes left as they were.
        let at = lines[i].find("\",\"body\":\"").expect("a body") + 10;
        let digit = lines[i].as_bytes()[at];
        let other = if digit == b'0' { "1" } else { "0" };
        lines[i].replace_range(at..at + 1, other);
    };
    type Edits<'a> = &'a [(&'a dyn Fn(&mut Vec<String>, usize), usize)];
    let cases: [(&str, Edits, usize, &str); 5] = [
        (
            "two forgeries in different batches",
            &[(&forge, first + 600), (&forge, first + 300)],
            first + 300,
            "does not verify",
        ),
        (
            "a forgery after a respaced line",
            &[(&forge, first + 650), (&respace, first + 520)],
            first + 520,
            "not the canonical line",
        ),
        (
            "a changed body before a forgery",
            &[(&forge, first + 450), (&rebody, first + 280)],
            first + 280,
            "hash does not match",
        ),
        (
            "a forgery in the last line",
            &[(&forge, first + SIGNED - 1)],
            first + SIGNED - 1,
            "does not verify",
        ),
        (
            "a forgery in the first batch after the genesis",
            &[(&forge, first)],
            first,
            "does not verify",
        ),
    ];
    for (what, edits, want, words) in cases {
        let mut lines = untouched.clone();
        for (edit, i) in edits {
            edit(&mut lines, *i);
        }
        let problem = assert_forgery_at(&lines, want as u64, what);
        assert_contains(&problem, words);
    }
    // A line removed: the next one no longer links.
    let mut lines = untouched.clone();
    lines.remove(first + 400);
    let problem = assert_forgery_at(&lines, (first + 400) as u64, "a removed line");
    assert_contains(&problem, "does not link");
}
