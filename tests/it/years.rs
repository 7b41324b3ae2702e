//! Years in sequence ("Any year, any bureau"): `kaohe init --rubric rubric-2019.toml --follows
//! 2018.ledger` starts a year whose genesis (`ledger_follows`) holds the previous year's sealed
//! head, so that an auditor can walk the years back with `verify --follows PREV`.
//!
//! - 2018 closed, 2019 initialised after it: its genesis shows 2018's id, period and closing
//!   event (seq and hash) in `show 0`, `export` and `log`; `verify --follows` and
//!   `verify --export --follows-export` pass; a third year follows the second.
//! - Nothing is written in the previous ledger: its files are byte for byte the same after
//!   `init --follows` and `verify --follows`.
//! - Refusals (exit 2, nothing created, the message names `--follows`): a previous year not
//!   closed, an overlapping period, no ledger at all, a ledger that does not verify.
//! - Forgeries: a genesis naming the wrong hash, seq or ledger, or following nothing, is caught
//!   by `verify --follows` (exit 1); a following genesis elsewhere than seq 0, or one whose
//!   period overlaps the year it names, by `verify --export` (the audit).
//! - `--follows` combines with `--require-signatures --bureau-key`.
//! - What people read names the previous year: the report (and `report`'s summary), the
//!   bureau's and the auditor's pages.

use crate::harness::{rubric_path, Output, TestLedger, TEST_NOW};
use kaohe::internals::events::chain::{self, GENESIS_PREV};
use kaohe::internals::events::codec;
use kaohe::internals::events::event::{Body, EventKind, EventV1, LedgerFollows, Sealed};
use kaohe::internals::ledger::Ledger;
use kaohe::internals::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The bundled 2018 rubric moved to `year`: its period, its name and every `deadline` inside
/// the period (the file has one, B.4.a's 11月底).
pub(crate) fn rubric_text(year: u32) -> String {
    let text = std::fs::read_to_string(rubric_path()).expect("the 2018 rubric");
    let moves = [
        (
            "period_start = \"2018-01-01\"".to_string(),
            format!("period_start = \"{year}-01-01\""),
        ),
        (
            "period_end = \"2018-12-31\"".to_string(),
            format!("period_end = \"{year}-12-31\""),
        ),
        (
            "name = \"2018年度基层司法行政绩效考核细则\"".to_string(),
            format!("name = \"{year}年度基层司法行政绩效考核细则\""),
        ),
        (
            "deadline = \"2018-11-30\"".to_string(),
            format!("deadline = \"{year}-11-30\""),
        ),
    ];
    let mut out = text.clone();
    for (from, to) in &moves {
        assert_eq!(text.matches(from.as_str()).count(), 1, "{from}");
        out = out.replace(from.as_str(), to);
    }
    // No date of the period is left behind (outside comments and the rubric's source).
    for line in out.lines().filter(|l| l.starts_with("deadline =")) {
        assert!(line.contains(&format!("\"{year}-")), "{line}");
    }
    out
}

/// Writes the rubric of `year` into `l`'s temp directory.
pub(crate) fn rubric_file(l: &TestLedger, year: u32) -> String {
    let path = l.path(&format!("rubric-{year}.toml"));
    std::fs::write(&path, rubric_text(year)).expect("write rubric");
    path.to_str().expect("a UTF-8 path").to_string()
}

fn db(l: &TestLedger) -> &str {
    l.db.to_str().expect("a UTF-8 path")
}

/// A 2018 ledger with two stations and a deduction, closed (the test clock is after the
/// period).
pub(crate) fn closed_2018() -> TestLedger {
    let l = TestLedger::with_stations();
    l.ok(&[
        "record",
        "--id",
        "D1",
        "--clause",
        "1.3.a",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-05-10",
        "--evidence",
        "常武司基〔2018〕61号",
    ]);
    l.ok(&["close"]);
    l
}

/// A ledger of `year`, initialised after `previous` with `extra` flags.
fn init_following(
    previous: &TestLedger,
    year: u32,
    now: &str,
    extra: &[&str],
) -> (TestLedger, Output) {
    let mut l = TestLedger::empty();
    l.now = now.to_string();
    let rubric = rubric_file(&l, year);
    let mut args = vec!["init", "--rubric", &rubric, "--follows", db(previous)];
    args.extend_from_slice(extra);
    let out = l.run(&args);
    (l, out)
}

/// 2019 after a closed 2018: (2018, 2019).
pub(crate) fn two_years() -> (TestLedger, TestLedger) {
    let y2018 = closed_2018();
    let (y2019, out) = init_following(&y2018, 2019, TEST_NOW, &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    (y2018, y2019)
}

/// The export of `l`, line by line.
fn export_lines(l: &TestLedger) -> Vec<String> {
    l.ok(&["export"]).lines().map(str::to_string).collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("an export line is JSON")
}

/// The sealed head of a closed ledger as its export shows it: genesis id and period, and the
/// last (closing) line's seq and hash.
fn sealed_of(l: &TestLedger) -> Value {
    let lines = export_lines(l);
    let (first, last) = (parse(&lines[0]), parse(lines.last().expect("a line")));
    assert_eq!(last["type"], "period_closed", "{last}");
    json!({
        "ledger_id": first["ledger_id"],
        "period_start": first["period_start"],
        "period_end": first["period_end"],
        "seq": last["seq"],
        "hash": last["hash"],
    })
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                out.insert(
                    path.strip_prefix(root).expect("inside").to_path_buf(),
                    bytes,
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

fn body_of(line: &str) -> Body {
    let v = parse(line);
    codec::decode(&hex::decode(v["body"].as_str().expect("body")).expect("hex")).expect("decodes")
}

/// Re-links the export from line `from` on, as a forger who rewrites bodies would: each line is
/// written again for its body (`export::line`) after the previous line's hash.
fn rechain(lines: &mut [String], from: usize) {
    let mut prev = match from {
        0 => GENESIS_PREV,
        n => chain::parse_hash(parse(&lines[n - 1])["hash"].as_str().expect("hash")).expect("hash"),
    };
    for line in lines.iter_mut().skip(from) {
        let body = body_of(line);
        let bytes = codec::encode(&body).expect("encodes");
        let hash = chain::link(&prev, &bytes);
        *line = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
        prev = hash;
    }
}

/// Replaces line `i`'s event kind, keeping its seq and recorded time, and re-links the rest.
fn replace_kind(lines: &mut [String], i: usize, kind: EventKind) {
    let old = body_of(&lines[i]);
    let body = Body::V1(EventV1 {
        seq: old.seq(),
        recorded_at_us: old.v1().recorded_at_us,
        kind,
    });
    let bytes = codec::encode(&body).expect("encodes");
    let mut v = parse(&lines[i]);
    v["body"] = json!(hex::encode(bytes));
    lines[i] = v.to_string();
    rechain(lines, i);
}

fn write_export(l: &TestLedger, name: &str, lines: &[String]) -> String {
    let path = l.path(name);
    std::fs::write(
        &path,
        lines.iter().map(|s| format!("{s}\n")).collect::<String>(),
    )
    .expect("write export");
    path.to_str().expect("a UTF-8 path").to_string()
}

/// The following genesis of a 2019 export.
fn follows_of(lines: &[String]) -> LedgerFollows {
    match body_of(&lines[0]).kind() {
        EventKind::LedgerFollows(f) => f.clone(),
        other => panic!("not a following genesis: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The years in sequence.

#[test]
fn a_year_follows_the_closed_year_before_and_the_walk_back_verifies() {
    let y2018 = closed_2018();
    let before = snapshot(&y2018.db);
    let (y2019, out) = init_following(&y2018, 2019, TEST_NOW, &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let sealed = sealed_of(&y2018);
    assert_contains(
        &out.stdout,
        &format!(
            "follows ledger {} (2018-01-01 to 2018-12-31), sealed at seq {} with hash {}",
            sealed["ledger_id"].as_str().unwrap(),
            sealed["seq"],
            sealed["hash"].as_str().unwrap()
        ),
    );

    // The genesis holds the previous head: show 0, the export line, the log.
    let shown: Value = serde_json::from_str(&y2019.ok(&["show", "0", "--json"])).unwrap();
    assert_eq!(shown["type"], "ledger_follows");
    assert_eq!(shown["period_start"], "2019-01-01");
    assert_eq!(shown["period_end"], "2019-12-31");
    assert_eq!(shown["previous"], sealed);
    assert_ne!(shown["ledger_id"], sealed["ledger_id"]);
    let text = y2019.ok(&["show", "0"]);
    assert_contains(&text, "ledger_follows");
    assert_contains(&text, sealed["hash"].as_str().unwrap());
    assert_contains(&text, "previous.seq");

    let lines = export_lines(&y2019);
    assert_eq!(lines.len(), 1);
    // The export line ends with the `previous` object, compact, its members in order.
    let tail = format!(
        ",\"previous\":{{\"ledger_id\":\"{}\",\"period_start\":\"2018-01-01\",\"period_end\":\"2018-12-31\",\"seq\":{},\"hash\":\"{}\"}}}}",
        sealed["ledger_id"].as_str().unwrap(),
        sealed["seq"],
        sealed["hash"].as_str().unwrap()
    );
    assert!(lines[0].ends_with(&tail), "{}", lines[0]);
    let log = y2019.ok(&["log"]);
    assert_contains(&log, "ledger_follows");
    assert_contains(&log, "follows 2018-01-01 to 2018-12-31");

    // verify --follows: the usual verify, then the genesis against 2018.
    let v: Value =
        serde_json::from_str(&y2019.ok(&["verify", "--follows", db(&y2018), "--json"])).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["follows"], sealed);
    let text = y2019.ok(&["verify", "--follows", db(&y2018)]);
    assert_contains(&text, "ok: 1 events verified");
    assert_contains(&text, "follows ledger");

    // The exports walk back the same way.
    let e2018 = write_export(&y2019, "2018.jsonl", &export_lines(&y2018));
    let e2019 = write_export(&y2019, "2019.jsonl", &lines);
    y2019.ok(&["verify", "--export", &e2019]);
    let v: Value = serde_json::from_str(&y2019.ok(&[
        "verify",
        "--export",
        &e2019,
        "--follows-export",
        &e2018,
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["follows"], sealed);

    // Nothing was written in the previous ledger, by init or by verify.
    assert_eq!(
        snapshot(&y2018.db),
        before,
        "init --follows / verify --follows wrote in the previous ledger"
    );
}

/// The following year is an ordinary ledger: stations, records, scores, a restore from its
/// export, its close; and a third year follows it.
#[test]
fn a_following_year_works_as_any_ledger_and_is_followed_in_turn() {
    let (y2018, y2019) = two_years();
    y2019.ok(&[
        "station",
        "add",
        "WJ01",
        "--name",
        "湖塘司法所",
        "--kind",
        "town",
    ]);
    y2019.ok(&[
        "record",
        "--id",
        "D19",
        "--clause",
        "1.3.a",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2019-01-05",
        "--evidence",
        "常武司基〔2019〕1号",
    ]);
    assert_eq!(y2019.station_score("WJ01")["total"], "97");
    y2019.ok(&["verify", "--follows", db(&y2018)]);

    // A restore of the export keeps the genesis, so it still follows 2018.
    let export = write_export(&y2019, "2019.jsonl", &export_lines(&y2019));
    let mut restored = TestLedger::empty();
    restored.now = TEST_NOW.into();
    restored.ok(&["restore", &export]);
    restored.ok(&["verify", "--follows", db(&y2018)]);

    // 2019 closes (at its year's end), and 2020 follows it.
    let mut y2019 = y2019;
    y2019.now = "2020-01-10T08:00:00Z".into();
    y2019.ok(&["close"]);
    let (y2020, out) = init_following(&y2019, 2020, "2020-01-10T08:00:00Z", &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v: Value =
        serde_json::from_str(&y2020.ok(&["verify", "--follows", db(&y2019), "--json"])).unwrap();
    assert_eq!(v["follows"], sealed_of(&y2019));
    // Each year names only the one before it.
    let out = y2020.run(&["verify", "--follows", db(&y2018)]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "follows ledger");
}

#[test]
fn follows_combines_with_a_bureau_key() {
    let y2018 = closed_2018();
    let mut y2019 = TestLedger::empty();
    y2019.now = TEST_NOW.into();
    let key = y2019.bureau_key();
    y2019.ok(&["key", "new", "--bureau", "武进区司法局", "--out", &key]);
    let rubric = rubric_file(&y2019, 2019);
    let public = format!("{key}.pub");
    y2019.ok(&[
        "init",
        "--rubric",
        &rubric,
        "--follows",
        db(&y2018),
        "--require-signatures",
        "--bureau-key",
        &public,
    ]);
    let types: Vec<Value> = export_lines(&y2019)
        .iter()
        .map(|l| parse(l)["type"].clone())
        .collect();
    assert_eq!(types, [json!("ledger_follows"), json!("root_key")]);
    // A station registered with the bureau's key: the ledger is rooted in it.
    y2019.ok(&[
        "--key",
        &key,
        "station",
        "add",
        "WJ01",
        "--name",
        "湖塘司法所",
        "--kind",
        "town",
    ]);
    let refused = y2019.run(&[
        "station",
        "add",
        "WJ02",
        "--name",
        "南夏墅",
        "--kind",
        "town",
    ]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    let v: Value =
        serde_json::from_str(&y2019.ok(&["verify", "--follows", db(&y2018), "--json"])).unwrap();
    assert_eq!(v["follows"], sealed_of(&y2018));
}

// ---------------------------------------------------------------------------------------------
// 2. Refusals: exit 2, nothing created, the message names --follows.

/// `init --follows PREV` refused: exit 2, the message names `--follows`, no ledger created,
/// the previous ledger (when there is one) unchanged. Returns stderr.
fn init_refused(previous: &Path, year: u32) -> String {
    let before = previous.is_dir().then(|| snapshot(previous));
    let l = TestLedger::empty();
    let rubric = rubric_file(&l, year);
    let prev = previous.to_str().expect("a UTF-8 path");
    let out = l.run(&["init", "--rubric", &rubric, "--follows", prev]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, &format!("--follows {prev}"));
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(!l.db.exists(), "a ledger was created: {}", out.stderr);
    if let Some(before) = before {
        assert_eq!(snapshot(previous), before, "the previous ledger changed");
    }
    out.stderr
}

#[test]
fn a_previous_year_not_closed_is_refused() {
    let open = TestLedger::with_stations();
    let err = init_refused(&open.db, 2019);
    assert_contains(&err, "its period 2018-01-01 to 2018-12-31 is not closed");
}

#[test]
fn an_overlapping_period_is_refused() {
    let y2018 = closed_2018();
    // The same year again, and a year before it.
    for year in [2018, 2017] {
        let err = init_refused(&y2018.db, year);
        assert_contains(
            &err,
            &format!(
                "the previous year's period 2018-01-01 to 2018-12-31 does not end before this period starts on {year}-01-01"
            ),
        );
    }
}

#[test]
fn what_is_not_a_ledger_is_refused() {
    let l = TestLedger::empty();
    let missing = l.path("no-such-ledger");
    assert_contains(&init_refused(&missing, 2019), "not a ledger kaohe can read");
    let plain = l.path("plain-directory");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("notes.txt"), "2018").unwrap();
    assert_contains(&init_refused(&plain, 2019), "is not a kaohe ledger");
    let file = l.path("rubric.toml");
    std::fs::write(&file, rubric_text(2018)).unwrap();
    assert_contains(&init_refused(&file, 2019), "not a ledger kaohe can read");
}

/// A closed ledger whose index was edited (which only the full verification finds) is not
/// followed: `init --follows` verifies it as `verify` does.
#[test]
fn a_previous_year_that_does_not_verify_is_refused() {
    let y2018 = closed_2018();
    {
        let store = Store::open(&y2018.db).expect("open the store");
        store.tamper_id(b"D1", None).expect("tamper");
    }
    let verify = y2018.run(&["verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    let err = init_refused(&y2018.db, 2019);
    assert_contains(&err, "it does not verify");
}

/// The library's refusal carries the Chinese beside the English, naming the same dates.
#[test]
fn the_refusal_says_it_in_chinese_too() {
    let open = TestLedger::with_stations();
    let l = TestLedger::empty();
    let now: jiff::Timestamp = TEST_NOW.parse().unwrap();
    let got = kaohe::ops::actions::init(&l.db, &rubric_text(2019), now, None, Some(&open.db));
    match got {
        Err(kaohe::ops::actions::ActionError::Input(en, zh)) => {
            for part in ["--follows", "2018-01-01", "2018-12-31"] {
                assert_contains(&en, part);
                assert_contains(&zh, part);
            }
            assert_contains(&zh, "尚未结算");
        }
        other => panic!("not refused as input: {other:?}"),
    }
    assert!(!l.db.exists());
}

// ---------------------------------------------------------------------------------------------
// 3. Forgeries.

/// A 2019 ledger made through the library with a genesis that names `previous` as it likes
/// (the library trusts its caller to have read it: `ops::years` does).
fn forged_2019(previous: Sealed) -> TestLedger {
    let l = TestLedger::empty();
    let now: jiff::Timestamp = TEST_NOW.parse().unwrap();
    Ledger::init_with(&l.db, &rubric_text(2019), now, None, Some(previous)).expect("init");
    l
}

/// 2018's real sealed head.
fn real_sealed(y2018: &TestLedger) -> Sealed {
    let lines = export_lines(y2018);
    let first = body_of(&lines[0]);
    let g = first.kind().genesis().expect("a genesis");
    let last = parse(lines.last().unwrap());
    Sealed {
        ledger_id: g.ledger_id,
        period_start: g.period_start,
        period_end: g.period_end,
        seq: last["seq"].as_u64().unwrap(),
        hash: chain::parse_hash(last["hash"].as_str().unwrap()).unwrap(),
    }
}

#[test]
fn a_forged_genesis_is_caught_by_verify_follows() {
    let y2018 = closed_2018();
    let real = real_sealed(&y2018);
    // The real head verifies (the library path is the CLI's).
    forged_2019(real).ok(&["verify", "--follows", db(&y2018)]);
    let wrong_hash = Sealed {
        hash: [0x42; 32],
        ..real
    };
    let wrong_seq = Sealed {
        seq: real.seq - 1,
        ..real
    };
    let wrong_ledger = Sealed {
        ledger_id: [7; 16],
        ..real
    };
    for (forged, what) in [
        (wrong_hash, "but ledger"),
        (wrong_seq, "but ledger"),
        (wrong_ledger, "the previous ledger given is"),
    ] {
        let l = forged_2019(forged);
        // The ledger alone verifies: only the walk back finds it.
        l.ok(&["verify"]);
        let out = l.run(&["verify", "--follows", db(&y2018)]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        assert_contains(&out.stderr, "verification failed at seq 0");
        assert_contains(&out.stderr, what);
        let json = l.run(&["verify", "--follows", db(&y2018), "--json"]);
        assert_eq!(json.code, 1);
        assert_eq!(json.json()["ok"], false);
    }
    // A year that follows nothing does not follow 2018.
    let plain = TestLedger::new();
    let out = plain.run(&["verify", "--follows", db(&y2018)]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "follows no previous year");
    // And a previous "ledger" that is none is bad input.
    let l = forged_2019(real);
    let none = l.path("none");
    let out = l.run(&["verify", "--follows", none.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, &format!("--follows {}", none.display()));
}

#[test]
fn a_forged_genesis_in_an_export_is_caught_by_follows_export() {
    let (y2018, y2019) = two_years();
    let e2018 = write_export(&y2019, "2018.jsonl", &export_lines(&y2018));
    let mut lines = export_lines(&y2019);
    let mut f = follows_of(&lines);
    f.previous.hash = [0x42; 32];
    replace_kind(&mut lines, 0, EventKind::LedgerFollows(f));
    let forged = write_export(&y2019, "forged.jsonl", &lines);
    // The export alone verifies; against 2018's it does not.
    y2019.ok(&["verify", "--export", &forged]);
    let out = y2019.run(&["verify", "--export", &forged, "--follows-export", &e2018]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "verification failed at seq 0 (line 1)");
    assert_contains(&out.stderr, "sealed head");
    // 2018's export cut before its close is not a closed year.
    let mut cut = export_lines(&y2018);
    cut.pop();
    let cut = write_export(&y2019, "cut.jsonl", &cut);
    let e2019 = write_export(&y2019, "2019.jsonl", &export_lines(&y2019));
    let out = y2019.run(&["verify", "--export", &e2019, "--follows-export", &cut]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "is not closed");
}

/// The audit: a following genesis stands only at seq 0, and its period follows the year it
/// names; a forged export re-chained so that every hash links is still caught.
#[test]
fn the_audit_takes_a_following_genesis_only_at_seq_0_and_after_its_year() {
    let (_y2018, y2019) = two_years();
    y2019.ok(&[
        "station",
        "add",
        "WJ01",
        "--name",
        "湖塘司法所",
        "--kind",
        "town",
    ]);
    let lines = export_lines(&y2019);
    let f = follows_of(&lines);

    // A second genesis at seq 1.
    let mut second = lines.clone();
    replace_kind(&mut second, 1, EventKind::LedgerFollows(f.clone()));
    let file = write_export(&y2019, "second.jsonl", &second);
    let out = y2019.run(&["verify", "--export", &file]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "at seq 1");
    assert_contains(&out.stderr, "only the first event is the genesis");

    // A previous year that ends after this one starts.
    let mut overlap = lines.clone();
    let mut g = f.clone();
    g.previous.period_end = "2019-01-01".parse().unwrap();
    replace_kind(&mut overlap, 0, EventKind::LedgerFollows(g));
    let file = write_export(&y2019, "overlap.jsonl", &overlap);
    let out = y2019.run(&["verify", "--export", &file]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "at seq 0");
    assert_contains(&out.stderr, "field `follows`");
    assert_contains(
        &out.stderr,
        "does not end before this period starts on 2019-01-01",
    );

    // A ledger that follows itself.
    let mut itself = lines.clone();
    let mut g = f.clone();
    g.previous.ledger_id = g.created.ledger_id;
    replace_kind(&mut itself, 0, EventKind::LedgerFollows(g));
    let file = write_export(&y2019, "itself.jsonl", &itself);
    let out = y2019.run(&["verify", "--export", &file]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "cannot follow itself");

    // The untouched export, re-chained, is the same file and verifies.
    let mut same = lines.clone();
    rechain(&mut same, 0);
    assert_eq!(same, lines);
}

// ---------------------------------------------------------------------------------------------
// 4. What people read names the previous year.

/// Guards the previous year on what people read: the report (its header, and how to check the
/// walk back; `kaohe report`'s summary says it in English) and the bureau's and the auditor's pages name the sealed head the genesis
/// follows — its ledger id, period, closing seq and hash; a year that follows none says
/// nothing of a previous year.
#[test]
fn the_report_and_the_pages_name_the_previous_year() {
    let y2018 = closed_2018();
    let sealed = sealed_of(&y2018);
    let (id, seq, hash) = (
        sealed["ledger_id"].as_str().unwrap(),
        sealed["seq"].as_u64().unwrap(),
        sealed["hash"].as_str().unwrap(),
    );
    let mut y2019 = TestLedger::empty();
    y2019.now = TEST_NOW.into();
    let key = y2019.bureau_key();
    y2019.ok(&["key", "new", "--bureau", "武进区司法局", "--out", &key]);
    let rubric = rubric_file(&y2019, 2019);
    y2019.ok(&[
        "init",
        "--rubric",
        &rubric,
        "--follows",
        db(&y2018),
        "--require-signatures",
        "--bureau-key",
        &format!("{key}.pub"),
    ]);

    // The report's header, and how to verify.
    let report = y2019.path("report.html");
    let said = y2019.ok(&["report", "--out", report.to_str().unwrap()]);
    assert_contains(
        &said,
        &format!(
            "follows ledger {id} (2018-01-01 to 2018-12-31), sealed at seq {seq} with hash {hash}"
        ),
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert_contains(
        &html,
        &format!(
            "<tr><th>上一年度</th><td id=\"previous-year\">账本 <span class=\"hash\">{id}</span>，2018-01-01 至 2018-12-31，于第 {seq} 号事件封账，链头 <span class=\"hash\">{hash}</span></td></tr>"
        ),
    );
    assert_contains(&html, "verify --follows 上一年度账本目录");
    let first = y2018.path("report.html");
    let said = y2018.ok(&["report", "--out", first.to_str().unwrap()]);
    assert!(!said.contains("follows"), "{said}");
    let html = std::fs::read_to_string(&first).unwrap();
    assert!(!html.contains("上一年度"), "2018 follows no year");

    // The bureau's page (its year end) and the auditor's (the chain).
    let server = crate::serve::Server::start(&y2019);
    let bureau = crate::serve::Client::sign_in(&server, &key);
    for page in ["/bureau", "/audit"] {
        let r = bureau.get(page);
        assert_eq!(r.status, 200, "{page}: {}", r.text);
        let shown = r
            .text
            .split("id=\"previous-year\">")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_else(|| panic!("{page} names no previous year: {}", r.text));
        assert_eq!(
            shown,
            format!("上一年度：台账 <span class=\"hash\">{id}</span>，2018-01-01 至 2018-12-31，于第 {seq} 号事件封账，链头 <span class=\"hash\">{hash}</span>"),
            "{page}"
        );
    }
    // What it looks like, when a browser is at hand.
    if let Some(tools) = crate::webdriver::tools() {
        let b = crate::webdriver::Browser::start(&tools, &y2019.path("profile"), 1280, 900);
        crate::pages::sign_in(&b, &server, &key, "/bureau");
        assert!(b.text("#previous-year").contains(hash));
        crate::pages::snap_at(&b, "bureau-previous-year", Some("#year-end"));
        crate::pages::clean(&b, &server, "bureau of a following year");
    }
    assert_eq!(server.stop(), 0);
}
