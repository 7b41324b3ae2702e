//! Exploratory tests of the newest features (appeals, reversals, close, reconcile, the scores
//! export and the report), written while using kaohe as a new user would.
//!
//! Tests marked `#[ignore = "BUG: …"]` reproduce a problem found while exploring; they fail
//! today and pass once it is fixed (run them with `cargo test --test it explore:: -- --ignored`).
//! The others pin behaviours checked by hand that the other files do not obviously cover.

use crate::harness::{Output, TestLedger, TEST_NOW};
use serde_json::Value;

/// A clock inside the period: deductions recorded then can still be appealed.
const JULY: &str = "2018-07-01T08:00:00Z";

/// Stations WJ01 (town) and WJ02 (subdistrict), created at `JULY`, and `lines` imported.
fn ledger_with(lines: &str) -> TestLedger {
    let l = TestLedger::with_stations_at(JULY);
    if !lines.is_empty() {
        let out = l.import(lines);
        assert_eq!(out.code, 0, "import failed: {}{}", out.stdout, out.stderr);
    }
    l
}

/// WJ01 has D1 (3.1.e, two absconders: 6 points), appealed by A1 (pending).
const D1_APPEALED: &str = concat!(
    r#"{"op":"record","id":"D1","clause":"3.1.e","station":"WJ01","by":"社矫科","occurred":"2018-06-15","count":2,"evidence":["E1"]}"#,
    "\n",
    r#"{"op":"appeal","id":"A1","against":"D1","station":"WJ01","grounds":"该对象系经批准外出","evidence":["外出审批表"]}"#,
    "\n",
);

fn decide(outcome: &str, points: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = ["appeal", "decide", "A1", "--outcome", outcome]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(p) = points {
        a.extend(["--points".to_string(), p.to_string()]);
    }
    a.extend(
        [
            "--by",
            "社矫科",
            "--reason",
            "复核",
            "--evidence",
            "复核意见书",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a
}

fn run(l: &TestLedger, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    l.run(&args)
}

fn no_panic(out: &Output) {
    assert!(!out.stderr.contains("panicked"), "panic: {}", out.stderr);
}

/// The total of one station in `score --json` with extra view flags.
fn total_in(l: &TestLedger, view: &[&str], station: &str) -> String {
    let mut args = vec!["score", "--json"];
    args.extend_from_slice(view);
    let v: Value = serde_json::from_str(&l.ok(&args)).unwrap();
    v["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == station)
        .unwrap()["total"]
        .as_str()
        .unwrap()
        .to_string()
}

// ------------------------------------------------------------------------------------------
// Bugs found while exploring (ignored so the suite stays green).
// ------------------------------------------------------------------------------------------

/// Guards against `report --out` overwriting a file of the ledger itself. Today
/// `kaohe report --out LEDGER/events.seg` (or `LEDGER/conf`) succeeds, replaces the ledger's
/// event log with HTML, and every later command (even `verify`) reports a damaged store:
/// the whole year is lost from a typo in a path. kaohe holds the ledger open while it
/// writes, so it can refuse (exit 2) a path inside the ledger directory.
#[test]
fn report_out_inside_the_ledger_is_refused_and_the_ledger_survives() {
    let l = ledger_with(D1_APPEALED);
    let head_before = l.ok(&["verify"]);
    for name in ["events.seg", "conf"] {
        let target = l.db.join(name);
        let out = l.run(&["report", "--out", target.to_str().unwrap()]);
        no_panic(&out);
        assert_eq!(
            out.code, 2,
            "report --out {name} inside the ledger should be refused: {}{}",
            out.stdout, out.stderr
        );
        assert!(out.stderr.contains("ledger"), "{}", out.stderr);
        assert_eq!(l.ok(&["verify"]), head_before, "the ledger is intact");
    }
}

/// Guards the "final scores" label of `score` after the close. The closing event holds the
/// final scores of the whole period; a view with `--at` before the period's end leaves out
/// everything that occurred later (the rank bonuses are dated 2018-12-31), yet `score --at
/// 2018-06-30` prints "final scores: the period was closed at seq N, rank bonuses included"
/// above mid-year figures, and `score --json` sets `closed_at_seq` ("these are the final
/// scores"). The report gets this right ("本报告的视图不是整个账本").
#[test]
fn a_mid_year_view_of_a_closed_year_is_not_labelled_final() {
    let mut l = ledger_with(concat!(
        r#"{"op":"record","id":"D1","clause":"1.3.b","station":"WJ01","by":"基层科","occurred":"2018-06-15","evidence":["E1"]}"#,
        "\n"
    ));
    l.now = "2018-12-20T08:00:00Z".into();
    l.ok(&[
        "record",
        "--clause",
        "1.3.c",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-10",
        "--evidence",
        "E2",
        "--id",
        "D2",
    ]);
    l.now = TEST_NOW.into();
    l.ok(&["close"]);
    // The final scores and the mid-year view differ.
    assert_eq!(total_in(&l, &[], "WJ01"), "98");
    assert_eq!(total_in(&l, &["--at", "2018-06-30"], "WJ01"), "99");
    assert!(l.ok(&["score"]).contains("final scores"));

    let text = l.ok(&["score", "--at", "2018-06-30"]);
    assert!(
        !text.contains("final scores"),
        "a mid-year view is not the final scores:\n{text}"
    );
    let v: Value = serde_json::from_str(&l.ok(&["score", "--json", "--at", "2018-06-30"])).unwrap();
    assert_eq!(v["closed_at_seq"], Value::Null, "closed_at_seq: {v}");
}

/// Regression: `close --json` printed nothing on stdout when the close was refused (the
/// gaps or pending appeals only as text on stderr), unlike `verify --json` and
/// `reconcile --json`, so a script could not read what stops the close.
#[test]
fn a_refused_close_json_lists_the_gaps_as_json() {
    let mut l = ledger_with(concat!(
        r#"{"op":"metric","id":"M1","station":"WJ01","metric":"dispute_entry_rate","value":"90","by":"基层科","occurred":"2018-06-01","evidence":["统计表"]}"#,
        "\n"
    ));
    l.now = TEST_NOW.into();
    let out = l.run(&["close", "--json"]);
    no_panic(&out);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("close --json printed no JSON ({e}): {:?}", out.stdout));
    let text = v.to_string();
    assert!(text.contains("WJ01") && text.contains("1.1.a"), "{text}");
}

/// Guards a partial decision of 0 points. It is accepted and the deduction then counts 0,
/// but unlike `upheld` the record is not removed: its units still fill the clause's
/// maximum (5.1.b: at most 3 units), so the department cannot record a real one, and the
/// station may appeal a 0-point deduction again. Either refuse `partial --points 0` (use
/// `upheld`) or treat it as a removal.
#[test]
fn a_partial_decision_of_zero_is_refused_or_releases_the_units() {
    let l = ledger_with(concat!(
        r#"{"op":"record","id":"D1","clause":"5.1.b","station":"WJ01","by":"政治处","occurred":"2018-06-10","count":3,"evidence":["E1"]}"#,
        "\n",
        r#"{"op":"appeal","id":"A1","against":"D1","station":"WJ01","grounds":"均已落实","evidence":["会议记录"]}"#,
        "\n",
    ));
    let out = l.run(&[
        "appeal",
        "decide",
        "A1",
        "--outcome",
        "partial",
        "--points",
        "0",
        "--by",
        "政治处",
        "--reason",
        "全部不成立",
        "--evidence",
        "复核意见书",
    ]);
    no_panic(&out);
    if out.code == 2 {
        assert!(out.stderr.contains("points"), "{}", out.stderr);
        return;
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(total_in(&l, &[], "WJ01"), "100");
    let rec = l.run(&[
        "record",
        "--clause",
        "5.1.b",
        "--station",
        "WJ01",
        "--by",
        "政治处",
        "--occurred",
        "2018-06-20",
        "--count",
        "1",
        "--evidence",
        "E2",
    ]);
    assert_eq!(
        rec.code, 0,
        "a deduction that stands at 0 still holds its units: {}",
        rec.stderr
    );
}

/// Guards the message for an unknown outcome. `appeal decide` also accepts the Chinese
/// 成立 / 部分成立 / 不成立 / 驳回 (src/command.rs), but neither the README, `--help` nor the
/// error says so: `--outcome 维持` answers "is not upheld, partial or rejected", while
/// `--outcome 驳回` silently works.
#[test]
fn an_unknown_outcome_names_the_chinese_words_too() {
    let l = ledger_with(D1_APPEALED);
    let out = run(&l, &decide("维持", None));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("outcome"), "{}", out.stderr);
    assert!(
        out.stderr.contains("成立") && out.stderr.contains("驳回"),
        "the error should list the accepted Chinese words: {}",
        out.stderr
    );
}

/// Guards the report's figures of a removed deduction: an upheld appeal shows
/// "申诉/更正后现行 −0；计入 −0", a negative zero (the CSV export and the JSON write `0`).
#[test]
fn the_report_writes_no_negative_zero() {
    let l = ledger_with(D1_APPEALED);
    let out = run(&l, &decide("upheld", None));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = l.path("r.html");
    l.ok(&["report", "--out", file.to_str().unwrap()]);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("申诉成立"), "the decision is in the report");
    assert!(
        !html.contains("−0；") && !html.contains("−0<"),
        "negative zero in the report"
    );
}

/// Guards the wording of refusals that name an event's type: "`A1` is seq 4, a
/// appeal_filed, not a recorded deduction or bonus" (a → an; or a human word).
#[test]
fn a_refusal_naming_an_appeal_reads_well() {
    let l = ledger_with(D1_APPEALED);
    let err = l.fails(&["reverse", "A1", "--by", "社矫科", "--reason", "录错"], 2);
    assert!(err.contains("target"), "{err}");
    assert!(!err.contains("a appeal_filed"), "{err}");
}

/// Guards a consistent hint for a station code typed in lower case. `reconcile` answers
/// "unknown station `wj07` (did you mean `WJ07`?)"; `appeal file`, `appeal list`, `explain`
/// and `report --station` only say "unknown station `wj01`".
#[test]
#[ignore = "BUG: cosmetic: only reconcile suggests the station code for a lower-case typo"]
fn a_lower_case_station_gets_the_same_hint_everywhere() {
    let l = ledger_with(D1_APPEALED);
    let cases: [&[&str]; 3] = [
        &[
            "appeal",
            "file",
            "--against",
            "D1",
            "--station",
            "wj01",
            "--grounds",
            "g",
            "--evidence",
            "x",
        ],
        &["appeal", "list", "--station", "wj01"],
        &["explain", "--station", "wj01"],
    ];
    for args in cases {
        let err = l.fails(args, 2);
        assert!(err.contains("did you mean `WJ01`"), "{args:?}: {err}");
    }
}

// ------------------------------------------------------------------------------------------
// Behaviours verified by hand.
// ------------------------------------------------------------------------------------------

/// `--points` of a partial decision takes the decimal forms a clerk types (`+1`, `.5`, `5.`,
/// `1.50`, ` 1`, `-0`) and stores them canonically; an exponent, hex or an empty value is
/// refused with exit 2 naming `points`, and writes nothing.
#[test]
fn partial_points_accept_plain_decimal_forms_and_refuse_exponents() {
    for (typed, stored) in [
        ("+1", "1"),
        (".5", "0.5"),
        ("5.", "5"),
        ("1.50", "1.5"),
        (" 1", "1"),
        ("-0", "0"),
        ("00001", "1"),
    ] {
        let l = ledger_with(D1_APPEALED);
        let out = run(&l, &decide("partial", Some(typed)));
        assert_eq!(out.code, 0, "{typed:?}: {}", out.stderr);
        assert_eq!(out.json()["points"], stored, "{typed:?}");
    }
    let l = ledger_with(D1_APPEALED);
    let before = l.event_count();
    for typed in ["1e0", "0x1", "NaN", "", "1,5", "０.5", "1.0000001"] {
        let out = run(&l, &decide("partial", Some(typed)));
        no_panic(&out);
        assert_eq!(out.code, 2, "{typed:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("field `points`"),
            "{typed:?}: {}",
            out.stderr
        );
    }
    assert_eq!(l.event_count(), before, "nothing written");
}

/// In an import, `points` may be a JSON number, with an exponent too (`15e-1` is 1.5); the
/// decision stores the canonical decimal.
#[test]
fn import_decision_points_may_be_a_json_number() {
    let l = ledger_with(D1_APPEALED);
    let out = l.import(concat!(
        r#"{"op":"decide","appeal":"A1","outcome":"部分成立","points":15e-1,"by":"矫正科","reason":"部分属实","evidence":["复核意见书"]}"#,
        "\n"
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&l.ok(&["appeal", "list", "--json"])).unwrap();
    let a = &v["appeals"][0];
    assert_eq!(a["status"], "partial");
    assert_eq!(a["points_after"], "1.5");
    assert_eq!(
        a["decision"]["by"], "社矫科",
        "the alias is stored as the department"
    );
    assert_eq!(total_in(&l, &[], "WJ01"), "98.5");
}

/// Starts `n` `record` commands at once on one fresh ledger; returns each one's exit code,
/// stderr and seq (when it succeeded), and the ledger.
fn concurrent_records(n: usize) -> (Vec<(i32, String, Option<u64>)>, TestLedger) {
    let l = ledger_with("");
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let db = l.db.clone();
            let now = l.now.clone();
            std::thread::spawn(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
                    .arg("--db")
                    .arg(&db)
                    .args([
                        "record",
                        "--clause",
                        "1.3.b",
                        "--station",
                        "WJ02",
                        "--by",
                        "基层科",
                        "--occurred",
                        "2018-06-15",
                        "--evidence",
                        &format!("e{i}"),
                        "--id",
                        &format!("C{i}"),
                        "--json",
                    ])
                    .env("KAOHE_NOW", &now)
                    .env_remove("KAOHE_DB")
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let results = handles
        .into_iter()
        .map(|h| {
            let out = h.join().unwrap();
            let seq = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|v| v["seq"].as_u64());
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                seq,
            )
        })
        .collect();
    (results, l)
}

/// Two `record` commands started at once on one ledger both land, each at its own seq,
/// and the chain verifies.
#[test]
fn two_concurrent_records_both_land() {
    let (results, l) = concurrent_records(2);
    let mut seqs: Vec<u64> = results
        .iter()
        .map(|(code, stderr, seq)| {
            assert_eq!(*code, 0, "{stderr}");
            seq.unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, [3, 4]);
    l.ok(&["verify"]);
    assert_eq!(l.event_count(), 5);
}

/// Guards commands run in parallel on one ledger (a script looping over stations with
/// `&`, two clerks at once). A command once waited only about half a second for the ledger's
/// lock, then gave up with "the ledger at … is in use by another kaohe process" and exit 2:
/// 8 records at once lost some of them. It now waits `--wait SECONDS` (5 by default) and a
/// busy ledger exits 3 (`busy.rs`).
#[test]
fn eight_concurrent_records_all_land() {
    let (results, l) = concurrent_records(8);
    let mut seqs: Vec<u64> = results
        .iter()
        .map(|(code, stderr, seq)| {
            assert_eq!(*code, 0, "{stderr}");
            seq.unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, (3..11).collect::<Vec<u64>>());
    l.ok(&["verify"]);
}

/// Three `close` commands started at once seal the period once: one succeeds, the others
/// exit 2 ("already closed"), and the ledger verifies with one closing event.
#[test]
fn concurrent_closes_seal_once() {
    let mut l = ledger_with(concat!(
        r#"{"op":"record","id":"D1","clause":"1.3.b","station":"WJ01","by":"基层科","occurred":"2018-06-15","evidence":["E1"]}"#,
        "\n"
    ));
    l.now = TEST_NOW.into();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let db = l.db.clone();
            let now = l.now.clone();
            std::thread::spawn(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
                    .arg("--db")
                    .arg(&db)
                    .arg("close")
                    .env("KAOHE_NOW", &now)
                    .env_remove("KAOHE_DB")
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let mut codes: Vec<i32> = handles
        .into_iter()
        .map(|h| h.join().unwrap().status.code().unwrap())
        .collect();
    codes.sort();
    assert_eq!(codes, [0, 2, 2]);
    l.ok(&["verify"]);
    let closing = l
        .ok(&["export"])
        .lines()
        .filter(|line| line.contains("\"period_closed\""))
        .count();
    assert_eq!(closing, 1);
}

/// A deduction removed by an upheld appeal does not reopen the gap of its standard (the
/// owner decided the station was right), while a partial one keeps the gap closed: the
/// year closes without `--accept-gaps`, and the final score counts what stands.
#[test]
fn decided_deductions_close_their_gaps() {
    let mut l = TestLedger::with_stations_at("2018-12-20T08:00:00Z");
    let out = l.import(concat!(
        r#"{"op":"metric","id":"M1","station":"WJ01","metric":"dispute_entry_rate","value":"90","by":"基层科","occurred":"2018-12-10","evidence":["表"]}"#, "\n",
        r#"{"op":"record","id":"D1","clause":"1.1.a","station":"WJ01","by":"基层科","occurred":"2018-12-10","value":"90","evidence":["E1"]}"#, "\n",
        r#"{"op":"appeal","id":"A1","against":"D1","station":"WJ01","grounds":"统计有误","evidence":["X"]}"#, "\n",
        r#"{"op":"decide","appeal":"A1","outcome":"upheld","by":"基层科","reason":"属实","evidence":["y"]}"#, "\n",
        r#"{"op":"metric","id":"M2","station":"WJ01","metric":"agreement_fulfilment_rate","value":"95","by":"基层科","occurred":"2018-12-10","evidence":["表"]}"#, "\n",
        r#"{"op":"record","id":"D2","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-12-10","value":"95","evidence":["E1"]}"#, "\n",
        r#"{"op":"appeal","id":"A2","against":"D2","station":"WJ01","grounds":"统计有误","evidence":["X"]}"#, "\n",
        r#"{"op":"decide","appeal":"A2","outcome":"partial","points":"1","by":"基层科","reason":"部分","evidence":["y"]}"#, "\n",
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    l.now = TEST_NOW.into();
    let v: Value = serde_json::from_str(&l.ok(&["close", "--json"])).unwrap();
    assert_eq!(v["accepted_gaps"], serde_json::json!([]));
    // 1.6.c computed 3 (95 is 3 below 98), 1 stands; 1.1.a removed.
    assert_eq!(total_in(&l, &[], "WJ01"), "99");
}

/// The new commands end quietly on a closed pipe (`… | head`), like `export`.
#[test]
fn a_closed_pipe_ends_the_new_commands_quietly() {
    let l = ledger_with(D1_APPEALED);
    let tally = l.path("t.csv");
    std::fs::write(&tally, "station,item,deducted,awarded\nWJ01,3.1,6,0\n").unwrap();
    let cases: [&[&str]; 6] = [
        &["appeal", "list"],
        &["appeal", "list", "--json"],
        &["export", "--scores"],
        &["export", "--scores", "--format", "json"],
        &["explain", "--station", "WJ01", "--json"],
        &["reconcile", "--tallies", tally.to_str().unwrap()],
    ];
    for args in cases {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .arg("--db")
            .arg(&l.db)
            .args(args)
            .env("KAOHE_NOW", &l.now)
            .env_remove("KAOHE_DB")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        // reconcile's tally agrees (D1 stands at 6 while A1 is pending): exit 0.
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// `report --out` into a directory that does not exist is refused (exit 2) and creates
/// nothing: neither the directory nor a `.tmp` file.
#[test]
fn a_report_into_a_missing_directory_is_refused() {
    let l = ledger_with(D1_APPEALED);
    let dir = l.path("no-such-dir");
    let out = l.run(&["report", "--out", dir.join("r.html").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(!dir.exists());
}

/// `reconcile --tallies -` reads stdin; a figure written with trailing zeros agrees, and a
/// differing row is listed in JSON with the line, exit 1.
#[test]
fn reconcile_reads_stdin_and_lists_json_mismatches() {
    let l = ledger_with(D1_APPEALED);
    let agree = l.run_with_stdin(
        &["reconcile", "--tallies", "-"],
        Some("station,item,deducted,awarded\r\nWJ01,3.1,6.000,\r\n"),
    );
    assert_eq!(agree.code, 0, "{}", agree.stderr);
    let differ = l.run_with_stdin(
        &["reconcile", "--tallies", "-", "--json"],
        Some("station,item,deducted,awarded\nWJ02,3.1,,\nWJ01,3.1,7,0\n"),
    );
    assert_eq!(differ.code, 1, "{}", differ.stderr);
    let v = differ.json();
    assert_eq!(
        v["mismatches"],
        serde_json::json!([{
            "station": "WJ01", "item": "3.1", "ledger_deducted": "6", "tally_deducted": "7",
            "ledger_awarded": "0", "tally_awarded": "0", "line": 3
        }])
    );
}
