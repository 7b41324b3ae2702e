//! Fuzzing in CI (issue 7), the short run:
//!
//! - every committed seed (`fuzz/seeds/<target>/`) and every case the fuzzers found
//!   (`tests/fuzz-cases/<target>/`) goes through its `kaohe::fuzzing` target, whose assertions
//!   are the invariants the fuzzers check;
//! - each target also runs over a few thousand inputs proptest makes by mutating the seeds
//!   (and over random bytes);
//! - the `kaohe` binary, fed hostile input through every command that reads outside input,
//!   never panics (exit 101): every error is a message on stderr and exit 2 (or 1 where a
//!   check found a problem).
//!
//! The long runs (10 minutes or more per target, `cargo +nightly fuzz run`) are outside CI:
//! `fuzz/README.md`.

use crate::harness::{rubric_path, TestLedger, TEST_NOW};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("import_line", kaohe::fuzzing::import_line),
    ("event_decode", kaohe::fuzzing::event_decode),
    ("rubric_load", kaohe::fuzzing::rubric_load),
    ("receipt_verify", kaohe::fuzzing::receipt_verify),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of a directory (not `README.md`), sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

fn seeds(target: &str) -> Vec<PathBuf> {
    files(&root().join("fuzz/seeds").join(target))
}

fn found_cases(target: &str) -> Vec<PathBuf> {
    files(&root().join("tests/fuzz-cases").join(target))
}

/// Runs one input through a target, naming the file when an invariant breaks.
fn replay(target: &str, f: Target, file: &Path) {
    let data = match std::fs::read(file) {
        Ok(data) => data,
        // A running fuzzer replaces corpus files as it reduces them.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("cannot read {}: {e}", file.display()),
    };
    if std::panic::catch_unwind(|| f(&data)).is_err() {
        panic!("fuzz target {target} fails on {}", file.display());
    }
}

// ---------------------------------------------------------------------------------------------
// The committed seeds and found cases.

/// Guards every regression case in `tests/fuzz-cases/` (each directory's README says what
/// each file found) and the seeds the fuzzers start from.
#[test]
fn every_seed_and_found_case_passes_its_target() {
    let dirs: Vec<String> = std::fs::read_dir(root().join("tests/fuzz-cases"))
        .map(|d| {
            d.map(|e| e.expect("entry").path())
                .filter(|p| p.is_dir())
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for d in &dirs {
        assert!(
            TARGETS.iter().any(|(t, _)| t == d),
            "tests/fuzz-cases/{d} names no fuzz target"
        );
    }
    // After a long run, `KAOHE_FUZZ_CORPUS=1` also replays the local (uncommitted) corpora.
    let corpus = std::env::var_os("KAOHE_FUZZ_CORPUS").is_some();
    for (target, f) in TARGETS {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} is empty");
        let local = if corpus {
            files(&root().join("fuzz/corpus").join(target))
        } else {
            Vec::new()
        };
        for file in seeds.iter().chain(&found_cases(target)).chain(&local) {
            replay(target, f, file);
        }
    }
}

/// The seeds are real data, not noise: each is accepted by its reader (so the fuzzers start
/// inside the accepted language, and the receipt oracle's constants match the seed ledger).
#[test]
fn the_seeds_are_accepted_by_their_readers() {
    for file in seeds("import_line") {
        let data = std::fs::read(&file).unwrap();
        let commands = kaohe::ops::import::read(data.as_slice(), |_| {})
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!commands.is_empty(), "{}", file.display());
    }
    for file in seeds("event_decode") {
        kaohe::internals::events::codec::decode(&std::fs::read(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    for file in seeds("rubric_load") {
        kaohe::internals::domain::rubric::load(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let key = kaohe::internals::events::chain::parse_hash(kaohe::fuzzing::SEED_PUBLIC_KEY).unwrap();
    let mut verified = 0;
    for file in seeds("receipt_verify") {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let ok = if name.starts_with("receipt") {
            kaohe::ops::proofs::verify_receipt(&text, &key).is_ok()
        } else if name.starts_with("consistency") {
            kaohe::ops::proofs::verify_consistency(&text, &key).is_ok()
        } else {
            kaohe::ops::proofs::verify_checkpoint(&text, &key).is_ok()
        };
        assert!(ok, "{name} does not verify against the seed key");
        verified += 1;
    }
    assert!(verified >= 3);
}

// ---------------------------------------------------------------------------------------------
// Mutated seeds (a small fuzzer in proptest).

/// Bytes that matter to the readers: JSON and TOML syntax, number forms, odd characters.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xae",
    b"\xff",
    b"\x00",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"-1e-999",
    b"0.0000001",
    b"99999999999999999999999999999",
    b"18446744073709551616",
    b"4294967296",
    b"\"\"",
    b"[]",
    b"{}",
    b"=",
    b"[[category.item.clause]]\n",
    b"\"9999-12-31\"",
    b"\"2018-02-30\"",
    b"0000000000000000000000000000000000000000000000000000000000000000",
    b"AAAA",
    b"\xe2\x80\x94 ",
];

#[derive(Debug, Clone)]
enum Edit {
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Remove(Index, usize),
    /// Copies a piece of the input to another place.
    Copy(Index, Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Token(i, t)),
        2 => (any::<Index>(), 1usize..32).prop_map(|(i, n)| Edit::Remove(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1usize..64).prop_map(|(a, b, n)| Edit::Copy(a, b, n)),
    ]
}

fn apply(data: &mut Vec<u8>, e: &Edit) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match e {
        Edit::Set(i, b) if !data.is_empty() => {
            let n = i.index(data.len());
            data[n] = *b;
        }
        Edit::Set(..) => {}
        Edit::Insert(i, v) => {
            let n = at(i, data.len());
            data.splice(n..n, v.iter().copied());
        }
        Edit::Token(i, t) => {
            let n = at(i, data.len());
            let token = TOKENS[t.index(TOKENS.len())];
            data.splice(n..n, token.iter().copied());
        }
        Edit::Remove(i, len) => {
            let n = at(i, data.len());
            let end = (n + len).min(data.len());
            data.drain(n..end);
        }
        Edit::Copy(from, to, len) if !data.is_empty() => {
            let a = from.index(data.len());
            let piece: Vec<u8> = data[a..(a + len).min(data.len())].to_vec();
            let n = at(to, data.len());
            data.splice(n..n, piece);
        }
        Edit::Copy(..) => {}
    }
}

fn seed_bytes(target: &str) -> &'static [Vec<u8>] {
    static ALL: OnceLock<Vec<(String, Vec<Vec<u8>>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        TARGETS
            .iter()
            .map(|(t, _)| {
                let mut data: Vec<Vec<u8>> = seeds(t)
                    .iter()
                    .chain(found_cases(t).iter())
                    .map(|p| std::fs::read(p).unwrap())
                    .collect();
                if *t == "rubric_load" {
                    // Mutating the 2018 rubric is slow in a debug build (every clause
                    // computes a spread of inputs): mutate the small seeds.
                    data.retain(|d| d.len() < 8 * 1024);
                }
                (t.to_string(), data)
            })
            .collect()
    });
    &all.iter().find(|(t, _)| t == target).expect("target").1
}

/// A seed of the target with up to `max_edits` edits, or random bytes.
fn input(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seed_bytes(target);
    prop_oneof![
        6 => (any::<Index>(), prop::collection::vec(edit(), 1..6)).prop_map(move |(s, edits)| {
            let mut data = seeds[s.index(seeds.len())].clone();
            for e in &edits {
                apply(&mut data, e);
            }
            data
        }),
        1 => prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn cases(n: u32) -> Config {
    Config {
        cases: n,
        // A failure names its input; shrinking a mutated seed rarely helps.
        max_shrink_iters: 256,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Mutated import lines and files keep the import parser's invariants.
    #[test]
    fn prop_import_line_target_holds(data in input("import_line")) {
        kaohe::fuzzing::import_line(&data);
    }

    /// Mutated event bodies keep the codec's invariants (decode → encode is the identity).
    #[test]
    fn prop_event_decode_target_holds(data in input("event_decode")) {
        kaohe::fuzzing::event_decode(&data);
    }

    /// Mutated receipts, consistency files and checkpoints are never accepted for what the
    /// seed key did not sign.
    #[test]
    fn prop_receipt_verify_target_holds(data in input("receipt_verify")) {
        kaohe::fuzzing::receipt_verify(&data);
    }
}

proptest! {
    #![proptest_config(cases(400))]

    /// Mutated rubrics that load re-load identically and compute canonical points.
    #[test]
    fn prop_rubric_load_target_holds(data in input("rubric_load")) {
        kaohe::fuzzing::rubric_load(&data);
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI never panics.

/// Runs `kaohe` with any arguments (not only UTF-8) and optional stdin.
fn run_os(l: &TestLedger, args: &[OsString], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaohe"));
    cmd.arg("--db")
        .arg(&l.db)
        .args(args)
        .env("KAOHE_NOW", &l.now)
        .env_remove("KAOHE_DB")
        .env_remove("KAOHE_KEY")
        .env_remove("RUST_BACKTRACE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kaohe runs");
    let feed = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin");
        let bytes = bytes.to_vec();
        // kaohe may stop reading early (a refused line): a closed pipe is fine.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        })
    });
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    // An input that never ends must not make kaohe run forever.
    let what = format!("kaohe {args:?}");
    let status =
        crate::harness::wait_or_fail(&mut child, std::time::Duration::from_secs(120), &what);
    if let Some(f) = feed {
        let _ = f.join();
    }
    (
        status.code().unwrap_or(-1),
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr"),
    )
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Runs and checks: no panic, an exit code in `allowed`, and a message on stderr for any
/// failure.
fn hostile(l: &TestLedger, args: &[OsString], stdin: Option<&[u8]>, allowed: &[i32]) -> i32 {
    let (code, _, stderr) = run_os(l, args, stdin);
    let shown: Vec<String> = args
        .iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.chars().count() > 80 {
                format!("{}…", s.chars().take(80).collect::<String>())
            } else {
                s.into_owned()
            }
        })
        .collect();
    assert!(
        code != 101 && !stderr.contains("panicked"),
        "kaohe {shown:?} panicked: {stderr}"
    );
    assert!(
        allowed.contains(&code),
        "kaohe {shown:?} exited {code}, expected one of {allowed:?}: {stderr}"
    );
    if code != 0 {
        assert!(
            !stderr.trim().is_empty(),
            "kaohe {shown:?} exited {code} with no message"
        );
    }
    code
}

/// Runs `f` over `items` on a few threads, each with its own state from `make` (its own
/// ledger: runs on one ledger would find it in use), then `finish`es each state. A kaohe run
/// mostly waits on its store, so this keeps the module fast.
fn parallel<T: Sync, S>(
    items: &[T],
    make: impl Fn() -> S + Sync,
    f: impl Fn(&S, &T) + Sync,
    finish: impl Fn(S) + Sync,
) {
    const THREADS: usize = 4;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (make, f, finish) = (&make, &f, &finish);
            scope.spawn(move || {
                let state = make();
                for item in items.iter().skip(t).step_by(THREADS) {
                    f(&state, item);
                }
                finish(state);
            });
        }
    });
}

/// Bad input: exit 2 with a message.
fn refused(l: &TestLedger, args: &[&str]) {
    hostile(l, &os(args), None, &[2]);
}

fn write(l: &TestLedger, name: &str, bytes: &[u8]) -> String {
    let p = l.path(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

/// Import files that are not import files: each is refused (exit 2) with a message, and the
/// ledger is unchanged.
#[test]
fn cli_import_of_hostile_files_is_refused_not_a_panic() {
    let l = TestLedger::with_stations();
    let before = l.ok(&["export"]);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        "{{\"op\":\"station\",\"code\":{}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let long_line = format!(
        "{{\"op\":\"station\",\"code\":\"WJ09\",\"name\":\"{}\",\"kind\":\"town\"}}\n",
        "长".repeat(30_000)
    );
    let mut binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    binary.extend_from_slice(b"\n");
    let record = |extra: &str| {
        format!(
            "{{\"op\":\"record\",\"clause\":\"2.1.f\",\"station\":\"WJ01\",\"by\":\"公律科\",\"occurred\":\"2018-03-14\",\"evidence\":[\"e\"]{extra}}}\n"
        )
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", binary),
        ("not-utf8", b"{\"op\":\"station\",\"code\":\"\xff\xfe\"}\n".to_vec()),
        ("nul", b"\0\0\0\n".to_vec()),
        ("deep-array", deep.into_bytes()),
        ("deep-object", deep_obj.into_bytes()),
        ("long-line", long_line.into_bytes()),
        ("null", b"null\n".to_vec()),
        ("array", b"[{\"op\":\"station\"}]\n".to_vec()),
        ("empty-object", b"{}\n".to_vec()),
        ("duplicate-key", b"{\"op\":\"station\",\"op\":\"record\"}\n".to_vec()),
        ("lone-surrogate", b"{\"op\":\"station\",\"code\":\"\\ud800\",\"name\":\"n\",\"kind\":\"town\"}\n".to_vec()),
        ("nul-escape", b"{\"op\":\"station\",\"code\":\"WJ\\u0000\",\"name\":\"n\",\"kind\":\"town\"}\n".to_vec()),
        ("huge-count", record(",\"count\":99999999999999999999999999999999").into_bytes()),
        ("negative-count", record(",\"count\":-1").into_bytes()),
        ("float-count", record(",\"count\":1.5").into_bytes()),
        ("exp-count", record(",\"count\":1e3").into_bytes()),
        ("huge-value", record(",\"value\":1e999999999").into_bytes()),
        ("tiny-value", record(",\"value\":1e-999999999").into_bytes()),
        ("huge-points", record(",\"points\":\"79228162514264337593543950336\"").into_bytes()),
        ("nan-points", record(",\"points\":\"NaN\"").into_bytes()),
        ("neg-zero", record(",\"points\":\"-0\",\"count\":1").into_bytes()),
        ("long-decimal", record(&format!(",\"value\":0.{}1", "0".repeat(5000))).into_bytes()),
        ("long-integer", record(&format!(",\"value\":{}", "9".repeat(5000))).into_bytes()),
        ("bad-date", b"{\"op\":\"metric\",\"station\":\"WJ01\",\"metric\":\"dispute_entry_rate\",\"value\":\"1\",\"by\":\"\xe5\x9f\xba\xe5\xb1\x82\xe7\xa7\x91\",\"occurred\":\"2018-02-30\",\"evidence\":[\"e\"]}\n".to_vec()),
        ("far-date", b"{\"op\":\"metric\",\"station\":\"WJ01\",\"metric\":\"dispute_entry_rate\",\"value\":\"1\",\"by\":\"\xe5\x9f\xba\xe5\xb1\x82\xe7\xa7\x91\",\"occurred\":\"-9999-01-01\",\"evidence\":[\"e\"]}\n".to_vec()),
        ("appeal-huge-seq", b"{\"op\":\"appeal\",\"against\":18446744073709551616,\"station\":\"WJ01\",\"grounds\":\"g\",\"evidence\":[\"e\"]}\n".to_vec()),
        ("appeal-max-seq", b"{\"op\":\"appeal\",\"against\":\"18446744073709551615\",\"station\":\"WJ01\",\"grounds\":\"g\",\"evidence\":[\"e\"]}\n".to_vec()),
        ("reverse-neg-seq", b"{\"op\":\"reverse\",\"target\":-1,\"by\":\"x\",\"reason\":\"r\"}\n".to_vec()),
        ("key-not-a-point", b"{\"op\":\"key_register\",\"actor_kind\":\"department\",\"actor\":\"x\",\"public_key\":\"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"}\n".to_vec()),
    ];
    parallel(
        &cases,
        || {
            let l = TestLedger::with_stations();
            let before = l.ok(&["export"]);
            (l, before)
        },
        |(l, _), (name, bytes)| {
            let file = write(l, &format!("{name}.jsonl"), bytes);
            hostile(l, &os(&["import", &file]), None, &[2]);
            // Some through stdin too.
            if name.len() % 3 == 0 {
                hostile(l, &os(&["import", "-"]), Some(bytes), &[2]);
            }
        },
        |(l, before)| {
            assert_eq!(
                l.ok(&["export"]),
                before,
                "a refused import wrote something"
            )
        },
    );
    // Imports with no command are no change, not an error.
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("bom-only", b"\xef\xbb\xbf"),
        ("cr-only", b"\r\r\r"),
        ("blank-lines", b"\n \n\t\r\n"),
    ] {
        let file = write(&l, &format!("{name}.jsonl"), bytes);
        hostile(&l, &os(&["import", &file]), None, &[0]);
    }
    refused(&l, &["import", "/nonexistent/file.jsonl"]);
    refused(&l, &["import", l.dir.path().to_str().unwrap()]);
    assert_eq!(
        l.ok(&["export"]),
        before,
        "a refused import wrote something"
    );
}

/// Export, receipt, consistency and tally files that are garbage or damaged: exit 2 (or 1
/// when the file reads but a check fails), always with a message.
#[test]
fn cli_verifiers_given_hostile_files_fail_with_a_message() {
    let l = TestLedger::with_stations();
    let export = l.ok(&["export"]);
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("binary", (0..=255u8).cycle().take(5000).collect()),
        ("not-utf8", b"\xff\xfe\xfd\n".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"1e999999".to_vec()),
        ("deep", "[".repeat(200_000).into_bytes()),
        ("object", b"{}".to_vec()),
        ("long-line", "x".repeat(40 * 1024 * 1024 / 16).into_bytes()),
        (
            "export-then-junk",
            format!("{export}\x00\x01junk\n").into_bytes(),
        ),
        (
            "export-odd-hex",
            export
                .replacen("\"body\":\"", "\"body\":\"0", 1)
                .into_bytes(),
        ),
        (
            "export-huge-seq",
            export
                .replacen("\"seq\":0", "\"seq\":18446744073709551616", 1)
                .into_bytes(),
        ),
        ("export-crlf", export.replace('\n', "\r\n").into_bytes()),
    ];
    parallel(
        &garbage,
        TestLedger::with_stations,
        |l, (name, bytes)| {
            let file = write(l, name, bytes);
            // Windows line endings are still the export; everything else is not.
            let verdict: &[i32] = if *name == "export-crlf" {
                &[0]
            } else {
                &[1, 2]
            };
            hostile(l, &os(&["verify", "--export", &file]), None, verdict);
            hostile(
                l,
                &os(&["verify", "--export", &file, "--json"]),
                None,
                verdict,
            );
            hostile(
                l,
                &os(&["verify", "--export", &file, "--head", "zz"]),
                None,
                &[1, 2],
            );
            for cmd in ["verify-receipt", "verify-consistency"] {
                hostile(l, &os(&[cmd, &file, "--pubkey", &file]), None, &[1, 2]);
            }
            hostile(l, &os(&["reconcile", "--tallies", &file]), None, &[1, 2]);
        },
        drop,
    );

    // A real receipt and consistency file, then damaged in the ways a reader would not expect.
    let key = l.path("ck.key");
    l.ok(&[
        "key",
        "new",
        "--dept",
        "基层科",
        "--out",
        key.to_str().unwrap(),
    ]);
    let public = format!("{}.pub", key.display());
    l.ok(&["--key", key.to_str().unwrap(), "checkpoint"]);
    l.ok(&["station", "add", "WJ03", "--name", "三", "--kind", "town"]);
    l.ok(&["--key", key.to_str().unwrap(), "checkpoint"]);
    let receipt = l.ok(&["receipt", "--seq", "1"]);
    let consistency = l.ok(&["consistency", "3", "4"]);
    let mut damaged: Vec<(String, String)> = Vec::new();
    for (field, value) in [
        ("leaf_index", "18446744073709551616"),
        ("leaf_index", "-1"),
        ("leaf_index", "1.0"),
        ("tree_size", "18446744073709551615"),
        ("tree_size", "0"),
        ("inclusion", "[]"),
        ("inclusion", &format!("[{}]", vec!["\"00\""; 200].join(","))),
        ("checkpoint", "\"\""),
        ("event", "{}"),
        ("format", "1"),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&receipt).unwrap();
        v[field] = serde_json::from_str(value).unwrap_or(serde_json::Value::Null);
        damaged.push((format!("receipt-{field}"), v.to_string()));
    }
    for (field, value) in [
        ("old", "\"\""),
        ("new", "\"kaohe/00\\n18446744073709551615\\nAAAA\\n\\n\""),
        ("proof", "[]"),
        ("proof", &format!("[{}]", vec!["\"00\""; 200].join(","))),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&consistency).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        damaged.push((format!("consistency-{field}"), v.to_string()));
    }
    for (name, text) in &damaged {
        let file = write(&l, name, text.as_bytes());
        let cmd = if name.starts_with("receipt") {
            "verify-receipt"
        } else {
            "verify-consistency"
        };
        hostile(&l, &os(&[cmd, &file, "--pubkey", &public]), None, &[1, 2]);
        hostile(
            &l,
            &os(&[cmd, &file, "--pubkey", &public, "--json"]),
            None,
            &[1, 2],
        );
    }
    for pubkey in ["", "zz", "/nonexistent", &"f".repeat(64), &"0".repeat(64)] {
        let file = write(&l, "receipt.json", receipt.as_bytes());
        hostile(
            &l,
            &os(&["verify-receipt", &file, "--pubkey", pubkey]),
            None,
            &[1, 2],
        );
    }
    let note = write(
        &l,
        "bad.note",
        b"kaohe/00\n1\nAAAA\n\n\xe2\x80\x94 x AAAA\n",
    );
    hostile(&l, &os(&["consistency", &note, &note]), None, &[1, 2]);
    hostile(
        &l,
        &os(&["receipt", "--seq", "1", "--checkpoint", &note]),
        None,
        &[1, 2],
    );

    // Tallies: odd CSV.
    let tallies: Vec<(&str, &str)> = vec![
        ("no-header", "WJ01,3.1,1,0\n"),
        (
            "unbalanced-quote",
            "station,item,deducted,awarded\n\"WJ01,3.1,1,0\n",
        ),
        (
            "huge",
            "station,item,deducted,awarded\nWJ01,3.1,99999999999999999999999999999999,0\n",
        ),
        (
            "exponent",
            "station,item,deducted,awarded\nWJ01,3.1,1e9,0\n",
        ),
        (
            "columns",
            "station,item,deducted,awarded\nWJ01,3.1,1,0,5,6\n",
        ),
        ("unknown", "station,item,deducted,awarded\nWJ99,9.9,1,0\n"),
        ("nul", "station,item,deducted,awarded\nWJ01\0,3.1,1,0\n"),
    ];
    for (name, text) in tallies {
        let file = write(&l, &format!("{name}.csv"), text.as_bytes());
        hostile(&l, &os(&["reconcile", "--tallies", &file]), None, &[1, 2]);
        hostile(
            &l,
            &os(&["reconcile", "--tallies", "-"]),
            Some(text.as_bytes()),
            &[1, 2],
        );
    }
}

/// Rubric files for `init` that are not rubrics: exit 2 with a message, and no ledger.
#[test]
fn cli_init_with_hostile_rubrics_is_refused() {
    let good = std::fs::read_to_string(rubric_path()).unwrap();
    let small = std::fs::read_to_string(root().join("fuzz/seeds/rubric_load/every_kind.toml"))
        .expect("small rubric seed");
    let rubrics: Vec<(&str, String)> = vec![
        (
            "huge-points",
            small.replace(
                "points = \"2\"",
                "points = \"79228162514264337593543950335\"",
            ),
        ),
        (
            "tiny-step",
            small.replace("step = \"1\"", "step = \"0.0000000000000000000000000001\""),
        ),
        ("zero-step", small.replace("step = \"1\"", "step = \"0\"")),
        (
            "huge-required",
            small.replace("required = 5", "required = 4294967296"),
        ),
        (
            "huge-window",
            small.replace(
                "appeal_window_days = 15",
                "appeal_window_days = 99999999999999999999",
            ),
        ),
        ("bad-period", small.replace("2018-12-31", "2018-02-30")),
        ("reversed-period", small.replace("2018-12-31", "2017-12-31")),
        ("far-period", small.replace("2018-12-31", "9999-12-31")),
        (
            "band-reversed",
            small.replace("from = 4, to = 6", "from = 6, to = 4"),
        ),
        (
            "band-huge",
            small.replace("from = 4, to = 6", "from = 4, to = 4294967295"),
        ),
        (
            "duplicate-clause",
            small.replace("code = \"1.1.b\"", "code = \"1.1.a\""),
        ),
        (
            "not-utf8",
            "[rubric]\nname = \"\u{fffd}\"\n".replace('\u{fffd}', "\u{0}"),
        ),
        ("huge-rubric", good.repeat(30)),
        ("deep", format!("x = {}", "[".repeat(100_000))),
    ];
    for (name, text) in rubrics {
        let l = TestLedger::empty();
        let file = write(&l, &format!("{name}.toml"), text.as_bytes());
        // A period that ends in 9999, a band to place 4294967295: odd but valid.
        let allowed: &[i32] = if matches!(name, "far-period" | "band-huge") {
            &[0, 2]
        } else {
            &[2]
        };
        hostile(&l, &os(&["init", "--rubric", &file]), None, allowed);
    }
    let l = TestLedger::empty();
    let bin = write(
        &l,
        "binary.toml",
        &(0..=255u8).cycle().take(4096).collect::<Vec<_>>(),
    );
    hostile(&l, &os(&["init", "--rubric", &bin]), None, &[2]);
    refused(&l, &["init", "--rubric", "/nonexistent.toml"]);
    refused(&l, &["init", "--rubric", ""]);
}

/// Flag values a user should not give: huge numbers, bad dates, empty strings, control
/// characters and arguments that are not UTF-8.
#[test]
fn cli_weird_flag_values_are_refused_not_a_panic() {
    let mut l = TestLedger::with_stations();
    let huge = "18446744073709551616";
    let max = "18446744073709551615";
    let record = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "record",
            "--clause",
            "2.1.f",
            "--station",
            "WJ01",
            "--by",
            "公律科",
            "--occurred",
            "2018-03-14",
            "--evidence",
            "e",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut cases: Vec<Vec<String>> = Vec::new();
    for extra in [
        &["--count", huge][..],
        &["--count", "-1"],
        &["--count", ""],
        &["--count", "99999"],
        &["--value", "1e999999999"],
        &["--value", "NaN"],
        &["--value", ""],
        &["--points", "79228162514264337593543950336"],
        &["--points", "-0"],
        &["--done", max],
        &["--id", ""],
        &["--id", "a\u{1}b"],
        &["--id", &"x".repeat(100_000)],
        &["--note", "\u{202e}"],
        &["--evidence", ""],
        &["--evidence-file", "/nonexistent"],
        &["--evidence-file", "/"],
        &["--evidence-file", ""],
    ] {
        cases.push(record(extra));
    }
    for occurred in [
        "",
        "2018-02-30",
        "-009999-01-01",
        "99999-01-01",
        "2018-1-1",
        "today",
    ] {
        let mut r = record(&[]);
        r[8] = occurred.to_string();
        cases.push(r);
    }
    let view_flags: Vec<Vec<&str>> = vec![
        vec!["--as-of-seq", huge],
        vec!["--as-of-seq", max],
        vec!["--as-of-seq", "-1"],
        vec!["--as-of-seq", ""],
        vec!["--known-at", ""],
        vec!["--known-at", "9999-99-99"],
        vec!["--known-at", "-009999-01-01T00:00:00Z"],
        vec!["--known-at", "9999-12-31T23:59:59.999999999Z"],
        vec!["--known-at", "1970-01-01T00:00:00+25:00"],
        vec!["--at", ""],
        vec!["--at", "0000-01-01"],
        vec!["--at", "9999-12-31"],
        vec!["--at", "2018-13-01"],
        vec!["--at", "-009999-01-01"],
    ];
    for flags in &view_flags {
        for cmd in [
            &["score"][..],
            &["score", "--json"],
            &["explain", "--station", "WJ01"],
            &["log"],
            &["export", "--scores"],
        ] {
            let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            v.extend(flags.iter().map(|s| s.to_string()));
            cases.push(v);
        }
    }
    for args in [
        &["export", "--as-of-seq", huge][..],
        &["export", "--known-at", "x"],
        &["show", "--seq", huge],
        &["show", "--seq", max],
        &["show", ""],
        &["show", "--hash", "zz"],
        &["show", "--hash", ""],
        &["receipt", "--seq", max],
        &["receipt", "--seq", huge],
        &["receipt", ""],
        &["consistency", "0", max],
        &["consistency", huge, "1"],
        &["consistency", "", ""],
        &["explain", "--station", ""],
        &["explain", "--station", "WJ01", "--item", "\u{7}"],
        &["log", "--station", "\u{1}"],
        &["station", "add", "", "--name", "", "--kind", "town"],
        &["station", "add", "WJ09", "--name", "n", "--kind", "city"],
        &[
            "appeal",
            "file",
            "--against",
            max,
            "--station",
            "WJ01",
            "--grounds",
            "g",
            "--evidence",
            "e",
        ],
        &[
            "appeal",
            "decide",
            "",
            "--outcome",
            "partial",
            "--points",
            "1e9",
            "--by",
            "x",
            "--reason",
            "r",
            "--evidence",
            "e",
        ],
        &["reverse", huge, "--by", "公律科", "--reason", "r"],
        &["evidence", "get", "zz", "--out", "/nonexistent/x"],
        &["evidence", "get", &"0".repeat(64), "--out", ""],
        &["key", "new", "--dept", "", "--out", "/nonexistent/dir/k"],
        &["key", "register", "/nonexistent"],
        &["key", "revoke", "zz", "--reason", "r"],
        &["verify", "--head", "zz"],
        &["verify", "--head", ""],
        &["report", "--out", "/nonexistent/dir/r.html"],
        &["report", "--out", ""],
        &["rubric", "--json", "--toml"],
        &["close", "--accept-gaps"],
        &["--key", "/nonexistent", "checkpoint"],
        &["--key", "", "record"],
        &["no-such-command"],
        &[],
    ] {
        cases.push(args.iter().map(|s| s.to_string()).collect());
    }
    parallel(
        &cases,
        TestLedger::with_stations,
        |l, args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            hostile(l, &os(&args), None, &[0, 1, 2]);
        },
        drop,
    );

    // Arguments that are not UTF-8.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"WJ\xff\xfe".to_vec());
        let argsets: Vec<Vec<OsString>> = vec![
            vec![
                "station".into(),
                "add".into(),
                bad(),
                "--name".into(),
                bad(),
                "--kind".into(),
                "town".into(),
            ],
            vec!["explain".into(), "--station".into(), bad()],
            vec!["score".into(), "--at".into(), bad()],
            vec!["import".into(), bad()],
            vec!["verify".into(), "--export".into(), bad()],
            vec!["record".into(), "--clause".into(), bad()],
            vec![bad()],
        ];
        for args in &argsets {
            hostile(&l, args, None, &[1, 2]);
        }
        // A ledger path that is not UTF-8.
        let mut odd = TestLedger::empty();
        odd.db = odd.dir.path().join(OsString::from_vec(b"l\xff".to_vec()));
        hostile(
            &odd,
            &[
                "init".into(),
                "--rubric".into(),
                rubric_path().into_os_string(),
            ],
            None,
            &[0, 2],
        );
        hostile(&odd, &os(&["score"]), None, &[0, 2]);
    }

    // A clock that is not a time.
    for now in [
        "",
        "yesterday",
        "-009999-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        l.now = now.to_string();
        hostile(
            &l,
            &os(&record(&[]).iter().map(String::as_str).collect::<Vec<_>>()),
            None,
            &[0, 1, 2],
        );
        hostile(&l, &os(&["score"]), None, &[0, 1, 2]);
    }
    l.now = TEST_NOW.to_string();
    l.ok(&["verify"]);
}

/// Inputs that never end (`/dev/zero` as a file: its size says 0) are cut at their limits,
/// not read until memory runs out. Guards `read_limited` in `src/cli.rs`, which trusted the
/// size a path reports and then read the whole file (every rubric, receipt, consistency,
/// checkpoint and key file).
#[cfg(unix)]
#[test]
fn cli_endless_input_files_are_cut_at_their_limits() {
    let zero = "/dev/zero";
    if !Path::new(zero).exists() {
        return;
    }
    let fresh = TestLedger::empty();
    hostile(&fresh, &os(&["init", "--rubric", zero]), None, &[2]);
    let l = TestLedger::with_stations();
    let key = l.path("ck.key");
    l.ok(&[
        "key",
        "new",
        "--dept",
        "基层科",
        "--out",
        key.to_str().unwrap(),
    ]);
    let public = format!("{}.pub", key.display());
    let key = key.to_str().unwrap();
    l.ok(&["--key", key, "checkpoint"]);
    let receipt = write(&l, "r.json", l.ok(&["receipt", "--seq", "1"]).as_bytes());
    for args in [
        &["verify-receipt", zero, "--pubkey", &public][..],
        &["verify-receipt", &receipt, "--pubkey", zero],
        &["verify-consistency", zero, "--pubkey", &public],
        &["key", "register", zero],
        &["--key", zero, "checkpoint"],
        &["consistency", zero, "3"],
        &["receipt", "--seq", "1", "--checkpoint", zero],
        &["import", zero],
        &["reconcile", "--tallies", zero],
        &[
            "record",
            "--clause",
            "1.1.b",
            "--station",
            "WJ01",
            "--by",
            "基层科",
            "--occurred",
            "2018-06-01",
            "--evidence-file",
            zero,
        ],
    ] {
        hostile(&l, &os(args), None, &[2]);
    }
    hostile(&l, &os(&["verify", "--export", zero]), None, &[1, 2]);
}
