//! Rubric format 2 (issue 16): caps stated per item, clauses judged on a year-end figure
//! counted once per station and period, clauses that exclude or require another, deadlines.
//! Each is one rule the write path and the audit both apply; the format-1 files (the ledgers
//! made before it) keep their old behaviour.

use crate::harness::{rubric_path, TestLedger};
use crate::keys::{assert_forgery_at, assert_verifies, edit_body, export_lines};
use kaohe::internals::events::event::EventKind;

const EV: &str = "常武司基〔2018〕12号";

fn rubric_text() -> String {
    std::fs::read_to_string(rubric_path()).expect("the 2018 rubric")
}

/// A ledger with WJ01 (town) and WJ02 (subdistrict) under the rubric `text`.
fn ledger_with(text: &str) -> TestLedger {
    let l = TestLedger::empty();
    let file = l.path("rubric.toml");
    std::fs::write(&file, text).expect("write rubric");
    l.ok(&["init", "--rubric", file.to_str().unwrap()]);
    for (code, kind) in [("WJ01", "town"), ("WJ02", "subdistrict")] {
        l.ok(&["station", "add", code, "--name", code, "--kind", kind]);
    }
    l
}

fn record(
    l: &TestLedger,
    id: &str,
    clause: &str,
    station: &str,
    by: &str,
    extra: &[&str],
) -> crate::harness::Output {
    let mut args = vec![
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
        "2018-06-15",
        "--evidence",
        EV,
    ];
    args.extend_from_slice(extra);
    l.run(&args)
}

/// Guards `once`: a second record of a year-end clause for the same station is refused with a
/// pointer to the first, until the first is reversed; another station is not affected.
#[test]
fn a_year_end_clause_counts_once_per_station() {
    let l = TestLedger::with_stations();
    let first = record(&l, "S1", "1.6.c", "WJ01", "基层科", &["--value", "96.5"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let again = record(&l, "S2", "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("clause 1.6.c counts once per station and period"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("S1, seq"),
        "the pointer to the first: {}",
        again.stderr
    );
    assert!(
        again.stderr.contains("reverse that record"),
        "{}",
        again.stderr
    );
    let other = record(&l, "S3", "1.6.c", "WJ02", "基层科", &["--value", "95"]);
    assert_eq!(other.code, 0, "another station: {}", other.stderr);
    l.ok(&[
        "reverse",
        "S1",
        "--by",
        "基层科",
        "--reason",
        "数值报错",
        "--evidence",
        EV,
    ]);
    let corrected = record(&l, "S2", "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    assert_eq!(
        corrected.code, 0,
        "after the reversal: {}",
        corrected.stderr
    );
    l.ok(&["verify"]);
    // In one import, the second line names the first line.
    let batch = format!(
        "{{\"op\":\"record\",\"id\":\"T1\",\"clause\":\"1.1.a\",\"station\":\"WJ02\",\"by\":\"基层科\",\"occurred\":\"2018-06-15\",\"value\":\"90\",\"evidence\":[\"{EV}\"]}}\n{{\"op\":\"record\",\"id\":\"T2\",\"clause\":\"1.1.a\",\"station\":\"WJ02\",\"by\":\"基层科\",\"occurred\":\"2018-06-16\",\"value\":\"91\",\"evidence\":[\"{EV}\"]}}\n"
    );
    let out = l.import(&batch);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    assert!(
        out.stderr.contains("an earlier line of this import"),
        "{}",
        out.stderr
    );
}

/// Guards `excludes` (both ways), `requires` and `deadline` as the 2018 file states them
/// for B.3, B.4.
#[test]
fn alternatives_dependencies_and_deadlines_are_refused_with_their_reason() {
    let l = TestLedger::with_stations();
    assert_eq!(record(&l, "A1", "B.3.b", "WJ01", "办公室", &[]).code, 0);
    let both = record(&l, "A2", "B.3.a", "WJ01", "办公室", &[]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(
        both.stderr
            .contains("clauses B.3.a and B.3.b exclude each other"),
        "{}",
        both.stderr
    );
    assert!(both.stderr.contains("A1, seq"), "{}", both.stderr);
    assert_eq!(record(&l, "A3", "B.3.a", "WJ02", "办公室", &[]).code, 0);
    let reverse = record(&l, "A4", "B.3.b", "WJ02", "办公室", &[]);
    assert_eq!(
        reverse.code, 2,
        "the exclusion holds both ways: {}",
        reverse.stderr
    );

    let orphan = record(&l, "D1", "B.4.b", "WJ01", "办公室", &[]);
    assert_eq!(orphan.code, 2, "{}", orphan.stderr);
    assert!(
        orphan
            .stderr
            .contains("clause B.4.b requires a standing record under B.4.a"),
        "{}",
        orphan.stderr
    );
    let late = l.run(&[
        "record",
        "--id",
        "D2",
        "--clause",
        "B.4.a",
        "--station",
        "WJ01",
        "--by",
        "办公室",
        "--occurred",
        "2018-12-05",
        "--evidence",
        EV,
    ]);
    assert_eq!(late.code, 2, "{}", late.stderr);
    assert!(
        late.stderr.contains("on or before 2018-11-30"),
        "{}",
        late.stderr
    );
    assert_eq!(record(&l, "D3", "B.4.a", "WJ01", "办公室", &[]).code, 0);
    assert_eq!(record(&l, "D4", "B.4.b", "WJ01", "办公室", &[]).code, 0);
    // Regression (found exploring): reversing the required record left B.4.b standing without
    // it. The last standing B.4.a cannot be reversed while B.4.b stands; after B.4.b, it can.
    let out = l.run(&["reverse", "D3", "--by", "办公室", "--reason", "误录"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("last standing record under B.4.a, which B.4.b requires"),
        "{}",
        out.stderr
    );
    l.ok(&["reverse", "D4", "--by", "办公室", "--reason", "误录"]);
    l.ok(&["reverse", "D3", "--by", "办公室", "--reason", "误录"]);
    l.ok(&["verify"]);
}

/// Guards the audit: an export forged so that a station holds a second record of a
/// once-only clause (or a record its clause's dependency does not allow) is caught at its seq.
#[test]
fn the_audit_applies_the_same_conditions() {
    let l = TestLedger::with_stations();
    assert_eq!(
        record(&l, "S1", "1.6.c", "WJ01", "基层科", &["--value", "96.5"]).code,
        0
    );
    assert_eq!(
        record(&l, "S2", "1.6.c", "WJ02", "基层科", &["--value", "96.5"]).code,
        0
    );
    assert_eq!(record(&l, "B1", "B.4.a", "WJ02", "办公室", &[]).code, 0);
    assert_eq!(record(&l, "B2", "B.4.b", "WJ02", "办公室", &[]).code, 0);
    let lines = export_lines(&l);
    assert_verifies(&lines, "untouched");
    let n = lines.len();
    let at = |id: &str| {
        lines
            .iter()
            .position(|x| x.contains(&format!("\"id\":\"{id}\"")))
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let mut twice = lines.clone();
    let i = at("S2");
    edit_body(&mut twice, i, |b| {
        if let EventKind::PointsRecorded(p) = &mut b.v1_mut().kind {
            p.station = "WJ01".into();
        }
    });
    let problem = assert_forgery_at(&twice, i as u64, "a second 1.6.c for WJ01");
    assert!(problem.contains("counts once"), "{problem}");
    let mut orphan = lines.clone();
    let i = at("B2");
    edit_body(&mut orphan, i, |b| {
        if let EventKind::PointsRecorded(p) = &mut b.v1_mut().kind {
            p.station = "WJ01".into();
        }
    });
    let problem = assert_forgery_at(&orphan, i as u64, "a B.4.b without B.4.a");
    assert!(problem.contains("requires"), "{problem}");
    assert_eq!(n, lines.len());
}

/// Guards the stated caps: the 2018 file caps every item (an 8-point finding in the 7-point
/// item 3.1 deducts 7); the same file with `capped = false` on 3.1 deducts 8, and explain
/// says so.
#[test]
fn an_item_that_is_not_capped_counts_every_deduction_in_full() {
    let capped = TestLedger::with_stations();
    assert_eq!(
        record(&capped, "C1", "3.1.c", "WJ01", "社矫科", &[]).code,
        0
    );
    assert_eq!(capped.item_score("WJ01", "3.1")["deducted"], "7");
    let x = capped.ok(&["explain", "--station", "WJ01", "--item", "3.1"]);
    assert!(x.contains("the item cap of 7 bit"), "{x}");

    let text = rubric_text();
    let start = text.find("code = \"3.1\"").expect("item 3.1");
    let at = start
        + text[start..]
            .find("capped = true")
            .expect("its capped line");
    let open = format!(
        "{}capped = false{}",
        &text[..at],
        &text[at + "capped = true".len()..]
    );
    let l = ledger_with(&open);
    assert_eq!(record(&l, "C1", "3.1.c", "WJ01", "社矫科", &[]).code, 0);
    let item = l.item_score("WJ01", "3.1");
    assert_eq!(item["deducted"], "8", "{item}");
    assert_eq!(l.station_score("WJ01")["total"], "92");
    let x = l.ok(&["explain", "--station", "WJ01", "--item", "3.1"]);
    assert!(x.contains("beyond the item's 7: not capped"), "{x}");
    let j = l
        .run(&["explain", "--station", "WJ01", "--item", "3.1", "--json"])
        .json();
    assert_eq!(j["items"][0]["caps_at_max"], false, "{j}");
    l.ok(&["verify"]);
}

/// Guards the formats: a format-1 file (no `format`, no `capped`: the ledgers made before
/// format 2) still loads, caps every item and takes a second year-end record; a format-2 file
/// must state `capped` for every item; an unknown format is refused.
#[test]
fn format_1_files_keep_their_behaviour_and_format_2_states_its_caps() {
    let text = rubric_text();
    let l = ledger_with(&crate::harness::rubric_2018_format1());
    assert_eq!(
        record(&l, "S1", "1.6.c", "WJ01", "基层科", &["--value", "96.5"]).code,
        0
    );
    let again = record(&l, "S2", "1.6.c", "WJ01", "基层科", &["--value", "95"]);
    assert_eq!(
        again.code, 0,
        "format 1 counts every record: {}",
        again.stderr
    );
    assert_eq!(record(&l, "C1", "3.1.c", "WJ01", "社矫科", &[]).code, 0);
    assert_eq!(
        l.item_score("WJ01", "3.1")["deducted"],
        "7",
        "format 1 caps"
    );
    l.ok(&["verify"]);

    let unstated = text.replacen("capped = true\n", "", 1);
    let e = TestLedger::empty();
    let file = e.path("r.toml");
    std::fs::write(&file, &unstated).unwrap();
    let err = e.fails(&["init", "--rubric", file.to_str().unwrap()], 2);
    assert!(err.contains("item 1.1: `capped`"), "{err}");
    std::fs::write(&file, text.replacen("format = 2", "format = 9", 1)).unwrap();
    let err = e.fails(&["init", "--rubric", file.to_str().unwrap()], 2);
    assert!(err.contains("`format`: 9"), "{err}");
    std::fs::write(
        &file,
        text.replacen("requires = [\"B.4.a\"]", "requires = [\"B.4.z\"]", 1),
    )
    .unwrap();
    let err = e.fails(&["rubric", "check", file.to_str().unwrap()], 1);
    assert!(
        err.contains("clause B.4.b: `requires`: clause `B.4.z` is not in the rubric"),
        "{err}"
    );
}

/// Guards weighted indicators: an item scored on its own full marks (`full_marks = "100"`,
/// counting for its 6 points) deducts on its own scale and counts `6 × deducted / 100` in the
/// total, the same through the tally (score, rank) and the replay (explain), capped at its
/// full marks.
#[test]
fn a_weighted_indicator_counts_its_share_of_its_points() {
    let text = rubric_text().replacen(
        "points = \"6\"\ndepartments = [\"基层科\"]",
        "points = \"6\"\nfull_marks = \"100\"\ndepartments = [\"基层科\"]",
        1,
    );
    assert!(text.contains("full_marks = \"100\""), "item 1.1 found");
    let l = ledger_with(&text);
    assert_eq!(record(&l, "W1", "1.1.b", "WJ01", "基层科", &[]).code, 0);
    let item = l.item_score("WJ01", "1.1");
    assert_eq!(item["max"], "100", "{item}");
    assert_eq!(item["weight"], "6", "{item}");
    assert_eq!(item["deducted"], "1", "{item}");
    assert_eq!(item["counts"], "0.06", "{item}");
    let s = l.station_score("WJ01");
    assert_eq!(s["total"], "99.94", "{s}");
    assert_eq!(s["deducted"], "0.06", "{s}");
    let x = l.run(&["explain", "--station", "WJ01", "--json"]).json();
    assert_eq!(x["total"], "99.94", "{x}");
    let text = l.ok(&["explain", "--station", "WJ01", "--item", "1.1"]);
    assert!(text.contains("counts 0.06 of 6"), "{text}");
    // WJ02 has nothing: WJ01 ranks second.
    assert_eq!(s["rank"], 2, "{s}");
    l.ok(&["verify"]);
}

/// Guards the consequences table: evaluated on the final scores (after the close) and shown
/// in `score` (text and JSON) and the report; nothing before the close.
#[test]
fn the_consequences_of_the_final_scores_are_shown_after_the_close() {
    let text = format!(
        "{}\n[[consequence]]\nkind = \"money\"\nlabel = \"考核奖励\"\nper_point = \"10\"\ngroup = \"town\"\n\n[[consequence]]\nkind = \"below\"\nbelow = \"99.5\"\nlabel = \"取消补助\"\n\n[[consequence]]\nkind = \"top\"\nplaces = 1\nlabel = \"先进\"\n\n[[consequence]]\nkind = \"last\"\nlabel = \"取消评优资格\"\n",
        rubric_text()
    );
    let l = ledger_with(&text);
    assert_eq!(record(&l, "K1", "1.1.b", "WJ01", "基层科", &[]).code, 0);
    let before = l.scores();
    assert_eq!(before["stations"][0]["consequences"], serde_json::json!([]));
    l.ok(&["close"]);
    let after = l.scores();
    let of = |code: &str| {
        after["stations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["station"] == code)
            .unwrap()["consequences"]
            .clone()
    };
    assert_eq!(
        of("WJ02"),
        serde_json::json!([{"label": "先进", "amount": null}]),
        "a subdistrict, first: no town money"
    );
    assert_eq!(
        of("WJ01"),
        serde_json::json!([
            {"label": "考核奖励", "amount": "990"},
            {"label": "取消补助", "amount": null},
            {"label": "取消评优资格", "amount": null},
        ])
    );
    let table = l.ok(&["score"]);
    assert!(table.contains("考核结果"), "{table}");
    assert!(
        table.contains("考核奖励 990；取消补助；取消评优资格"),
        "{table}"
    );
    let report = l.path("report.html");
    l.ok(&["report", "--out", report.to_str().unwrap()]);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<th>考核结果</th>"), "the report's column");
    assert!(html.contains("考核奖励 990"), "the report's figures");
}

/// Guards the table's validation: each kind takes its fields only.
#[test]
fn a_consequence_is_refused_with_its_place_and_field() {
    let e = TestLedger::empty();
    let file = e.path("r.toml");
    for (row, words) in [
        (
            "kind = \"money\"\nlabel = \"奖\"",
            "kind money needs `per_point`",
        ),
        (
            "kind = \"top\"\nlabel = \"先进\"\nplaces = 0",
            "`places` of at least 1",
        ),
        (
            "kind = \"last\"\nlabel = \"x\"\nbelow = \"60\"",
            "kind last does not take `below`",
        ),
        (
            "kind = \"money\"\nlabel = \"x\"\nper_point = \"1\"\ngroup = \"city\"",
            "`group`: `city`",
        ),
        (
            "kind = \"rank\"\nlabel = \"x\"",
            "`kind`: unknown kind `rank`",
        ),
    ] {
        std::fs::write(
            &file,
            format!("{}\n[[consequence]]\n{row}\n", rubric_text()),
        )
        .unwrap();
        let err = e.fails(&["rubric", "check", file.to_str().unwrap()], 1);
        assert!(err.contains("consequence 1"), "{err}");
        assert!(err.contains(words), "{words}: {err}");
    }
}
