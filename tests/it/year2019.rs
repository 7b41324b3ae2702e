//! The made-up 2019 rubric (`schema/rubric-2019.toml`) and its fixture year
//! (`fixtures/wujin-2019.jsonl`): weighted indicators, sub-parts with a floor and a severe
//! clause, graded bands, two half-years × two assessors, attribution dates and consequences.
//! Every figure here is worked out by hand in `fixtures/README.md` (*wujin-2019.jsonl*).

use crate::harness::{fixture_path, TestLedger};
use serde_json::Value;

const NOW_2020: &str = "2020-01-10T08:00:00Z";

fn rubric_2019() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema/rubric-2019.toml")
        .to_str()
        .expect("a UTF-8 path")
        .to_string()
}

/// A ledger of the 2019 rubric with the fixture year imported.
fn year_2019() -> TestLedger {
    let mut l = TestLedger::empty();
    l.now = NOW_2020.to_string();
    l.ok(&["init", "--rubric", &rubric_2019()]);
    let out = l.ok(&["import", fixture_path("wujin-2019.jsonl").to_str().unwrap()]);
    assert!(out.contains("48 events appended"), "{out}");
    l
}

fn station<'a>(scores: &'a Value, code: &str) -> &'a Value {
    scores["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["station"] == code)
        .unwrap_or_else(|| panic!("{code} in {scores}"))
}

/// (station, total, rank, the four sheets' totals H1·区局, H1·镇街, H2·区局, H2·镇街), as
/// worked out by hand in fixtures/README.md.
const EXPECTED: [(&str, &str, u64, [&str; 4]); 15] = [
    ("WJ13", "101.5", 1, ["100", "100", "100", "105"]),
    ("WJ09", "101", 2, ["100", "102", "100", "102"]),
    ("WJ05", "100.6", 3, ["103", "100", "100", "100"]),
    ("WJ04", "100", 4, ["100", "100", "100", "100"]),
    ("WJ06", "100", 4, ["100", "100", "100", "100"]),
    ("WJ08", "100", 4, ["100", "100", "100", "100"]),
    ("WJ10", "100", 4, ["100", "100", "100", "100"]),
    ("WJ11", "100", 4, ["100", "100", "100", "100"]),
    ("WJ14", "100", 4, ["100", "100", "100", "100"]),
    ("WJ15", "100", 4, ["100", "100", "100", "100"]),
    ("WJ03", "98.8", 11, ["100", "100", "100", "96"]),
    ("WJ01", "96.09", 12, ["96.25", "97.4", "91.2", "100"]),
    ("WJ12", "95.34", 13, ["69.2", "100", "103", "102"]),
    ("WJ02", "92.45", 14, ["90", "100", "98", "83.5"]),
    ("WJ07", "48.2", 15, ["50", "50", "44", "50"]),
];

/// Guards the combined score: each station's total, rank and four sheets are the figures
/// worked out by hand, in `score --json` (the tally) and in an as-of view (the replay).
#[test]
fn the_2019_fixture_scores_as_worked_out_by_hand() {
    let l = year_2019();
    let tally = l.run(&["score", "--json"]).json();
    let replay = l.run(&["score", "--json", "--known-at", NOW_2020]).json();
    for scores in [&tally, &replay] {
        for (code, total, rank, sheets) in EXPECTED {
            let s = station(scores, code);
            assert_eq!(s["total"], total, "{code}");
            assert_eq!(s["rank"], rank, "{code}");
            let got: Vec<&str> = s["sheets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["total"].as_str().unwrap())
                .collect();
            assert_eq!(got, sheets, "{code}");
        }
    }
    let wj01 = station(&tally, "WJ01");
    let weights: Vec<&str> = wj01["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["weight"].as_str().unwrap())
        .collect();
    assert_eq!(weights, ["0.2", "0.2", "0.3", "0.3"]);
    assert_eq!(wj01["deducted"], "4.81");
    assert_eq!(wj01["awarded"], "0.9");
    l.ok(&["verify"]);
}

/// Guards the sub-part floor and the severe clause: WJ01's ten missing committees (50) stop at
/// the floor (40 of 60), WJ02's severe finding takes the whole sub-part, and explain names the
/// limit that bit and the sheet each record counts on.
#[test]
fn floors_severe_cases_and_sheets_are_explained() {
    let l = year_2019();
    let x = l.run(&["explain", "--station", "WJ01", "--json"]).json();
    let item = x["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "1.1")
        .unwrap();
    let events = item["clauses"][0]["events"].as_array().unwrap();
    assert_eq!(events[1]["computed_points"], "50");
    assert_eq!(events[1]["applied_points"], "40");
    assert_eq!(events[1]["limited_by"], "sub-part 1.1.1's floor of 20");
    assert_eq!(events[1]["sheet"], "下半年·区局");
    assert_eq!(x["sheets"].as_array().unwrap().len(), 4);
    let text = l.ok(&["explain", "--station", "WJ02"]).to_string();
    assert!(
        text.contains("total 92.45 = 0.2 × 90 + 0.2 × 100 + 0.3 × 98 + 0.3 × 83.5"),
        "{text}"
    );
    // Attribution: the date that decides the sheet is named for what it is.
    assert!(
        text.contains("discovered 2019-07-02, counts on 下半年·区局"),
        "{text}"
    );
    assert!(
        text.contains("result occurred 2019-05-20, counts on 上半年·区局"),
        "{text}"
    );
    let graded = l
        .ok(&["explain", "--station", "WJ01", "--item", "1.2"])
        .to_string();
    assert!(
        graded.contains("grade B (85–94: 工作基本规范): scored 88 of 100 → 12"),
        "{graded}"
    );
}

/// Guards the consequences of a combined score: after the close, money per point by station
/// kind, the top three, the threshold and the last place.
#[test]
fn the_2019_consequences_follow_the_combined_totals() {
    let l = year_2019();
    l.ok(&["close"]);
    let scores = l.run(&["score", "--json"]).json();
    let labels = |code: &str| -> Vec<(String, Option<String>)> {
        station(&scores, code)["consequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["label"].as_str().unwrap().to_string(),
                    c["amount"].as_str().map(str::to_string),
                )
            })
            .collect()
    };
    assert_eq!(
        labels("WJ13"),
        [
            ("考核奖励".to_string(), Some("12180".to_string())),
            ("先进".to_string(), None)
        ]
    );
    assert_eq!(
        labels("WJ01"),
        [("考核奖励".to_string(), Some("9609".to_string()))]
    );
    assert_eq!(
        labels("WJ07"),
        [
            ("考核奖励".to_string(), Some("4820".to_string())),
            ("取消补助".to_string(), None),
            ("取消一切评优资格".to_string(), None)
        ]
    );
    l.ok(&["verify"]);
}

fn record(
    l: &TestLedger,
    id: &str,
    clause: &str,
    station: &str,
    by: &str,
    on: &str,
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
        on,
        "--evidence",
        "检查记录",
    ];
    args.extend_from_slice(extra);
    l.run(&args)
}

/// Guards the rules of the new shapes on the write path: a graded score must lie in a grade and
/// below full marks; a graded clause counts once per station and sheet (another sheet is
/// another assessment); an exclusion holds within a sheet only.
#[test]
fn graded_once_per_sheet_and_exclusions_per_sheet() {
    let l = year_2019();
    let out = record(
        &l,
        "X1",
        "1.2.a",
        "WJ04",
        "基层科",
        "2019-05-01",
        &["--value", "94.5"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("lies in no grade"), "{}", out.stderr);
    let out = record(
        &l,
        "X2",
        "1.2.a",
        "WJ04",
        "基层科",
        "2019-05-01",
        &["--value", "100"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nothing to deduct"), "{}", out.stderr);
    // WJ01 was graded 88 by 基层科 in H2: a second grade on that sheet is refused, naming it.
    let out = record(
        &l,
        "X3",
        "1.2.a",
        "WJ01",
        "基层科",
        "2019-12-30",
        &["--value", "90"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("G031"), "{}", out.stderr);
    assert!(
        out.stderr.contains("(counted on the sheet 下半年·区局)"),
        "{}",
        out.stderr
    );
    // The same clause on the township's sheet of H2 is its own assessment.
    let ok = record(
        &l,
        "X4",
        "1.2.a",
        "WJ01",
        "镇街考核办",
        "2019-12-30",
        &["--value", "90"],
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    // WJ12 has B.1.a on H2·镇街 (G021): B.1.b there is excluded, on H1·镇街 it is not.
    let out = record(&l, "X5", "B.1.b", "WJ12", "镇街考核办", "2019-10-01", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("G021"), "{}", out.stderr);
    let ok = record(&l, "X6", "B.1.b", "WJ12", "镇街考核办", "2019-03-01", &[]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let s = l.run(&["score", "--json"]).json();
    // WJ01's H2·镇街 sheet loses 10 × 15/100 = 1.5: 100 → 98.5; total 96.09 − 0.3 × 1.5.
    assert_eq!(station(&s, "WJ01")["total"], "95.64");
    l.ok(&["verify"]);
}

/// Guards the checks of the new shapes in a rubric file: each names its part and field.
#[test]
fn a_broken_2019_draft_names_every_fault() {
    let text = std::fs::read_to_string(rubric_2019()).unwrap();
    let broken = text
        .replace("weight = \"60\"", "weight = \"50\"")
        .replace("floor = \"20\"", "floor = \"60\"")
        .replace(
            "{ grade = \"B\", from = \"85\", to = \"94\"",
            "{ grade = \"B\", from = \"85\", to = \"96\"",
        )
        .replace("part = \"1.1.2\"", "part = \"1.1.9\"");
    let l = TestLedger::empty();
    let file = l.path("draft.toml");
    std::fs::write(&file, broken).unwrap();
    let out = l.run(&["rubric", "check", file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    let needle = "periods: weights sum to 90, not 100";
    assert!(all.contains(needle), "{needle} in {all}");
    // The periods stop the build; with them fixed, the items' faults are all listed.
    let text2 = std::fs::read_to_string(&file).unwrap().replace(
        "weight = \"50\"\n\n# Two assessing",
        "weight = \"60\"\n\n# Two assessing",
    );
    std::fs::write(&file, text2).unwrap();
    let out = l.run(&["rubric", "check", file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    for needle in [
        "part 1.1.1: `floor`: 60 must be at least 0 and below the part's points 60",
        "clause 1.2.a: `grades.B`: overlaps grade A (95–100)",
    ] {
        assert!(all.contains(needle), "{needle} in {all}");
    }
}

/// Guards `rubric diff` over the new shapes: periods, assessors and sub-parts are named, and a
/// one-sheet rubric's implicit period and assessor are not reported as removed.
#[test]
fn the_diff_from_2018_names_the_new_shapes() {
    let l = TestLedger::empty();
    let old = crate::harness::rubric_path();
    let out = l.ok(&["rubric", "diff", old.to_str().unwrap(), &rubric_2019()]);
    for needle in [
        "+ period H1: 上半年 2019-01-01 to 2019-06-30, 40%",
        "+ assessor township: 镇街 50%: 镇街考核办",
        "~ item 1.1: parts: \"\" → \"1.1.1 组织网络 60 floor 20; 1.1.2 台账规范 40 floor 0\"",
        "~ item 1.2: full_marks: \"\" → \"100\"",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
    assert!(!out.contains("- period"), "{out}");
    assert!(!out.contains("- assessor"), "{out}");
}

/// Regression (found exploring): a department of one assessor reversed, or decided the appeal
/// of, a record another assessor made, changing that assessor's sheet.
#[test]
fn only_the_records_own_assessor_reverses_or_decides_it() {
    let l = year_2019();
    // G031 was recorded by 基层科 (区局); 镇街考核办 also assesses item 1.2.
    let out = l.run(&["reverse", "G031", "--by", "镇街考核办", "--reason", "复核"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("the record was made for 区局 (bureau)"),
        "{}",
        out.stderr
    );
    let appeal = [
        "appeal",
        "file",
        "--against",
        "G031",
        "--station",
        "WJ01",
        "--grounds",
        "评定偏低",
        "--evidence",
        "自评表",
        "--id",
        "AP1",
    ];
    l.ok(&appeal);
    let out = l.run(&[
        "appeal",
        "decide",
        "AP1",
        "--outcome",
        "upheld",
        "--by",
        "镇街考核办",
        "--reason",
        "r",
        "--evidence",
        "e",
    ]);
    assert_eq!(out.code, 2, "{out:?}");
    l.ok(&[
        "appeal",
        "decide",
        "AP1",
        "--outcome",
        "upheld",
        "--by",
        "基层科",
        "--reason",
        "r",
        "--evidence",
        "e",
    ]);
    l.ok(&["verify"]);
}

/// Regression (found exploring): drafts that could never be recorded, or that contradict the
/// language, passed `rubric check`. Each is refused naming its part and field.
#[test]
fn contradictory_2019_drafts_are_refused() {
    let text = std::fs::read_to_string(rubric_2019()).unwrap();
    let cases: [(&str, String); 6] = [
        (
            "item 1.1: `capped`: an item with sub-parts stops at its full marks",
            text.replacen("capped = true", "capped = false", 1),
        ),
        (
            "clause 1.2.a: `once`: a graded clause",
            text.replace("kind = \"graded\"\npoints = \"100\"\ntext = \"调解工作质量分档评定\"", "kind = \"graded\"\nonce = false\npoints = \"100\"\ntext = \"调解工作质量分档评定\""),
        ),
        (
            "`excludes`: `3.1.a` is a deduction and this clause a bonus",
            text.replace("excludes = [\"B.1.b\"]", "excludes = [\"B.1.b\", \"3.1.a\"]"),
        ),
        (
            "`requires`: B.1.a → B.1.b → B.1.a requires itself",
            text.replace("excludes = [\"B.1.b\"]", "requires = [\"B.1.b\"]")
                .replace("text = \"工作创新获省级表彰的，加3分\"", "text = \"工作创新获省级表彰的，加3分\"\nrequires = [\"B.1.a\"]"),
        ),
        (
            "period H2: `name`: `上半年` names another period too",
            text.replace("name = \"下半年\"", "name = \"上半年\""),
        ),
        (
            "part 台账: is not inside item 1.1",
            text.replace("code = \"1.1.2\"", "code = \"台账\"").replace("part = \"1.1.2\"", "part = \"台账\""),
        ),
    ];
    let l = TestLedger::empty();
    for (needle, draft) in cases {
        let file = l.path("draft.toml");
        std::fs::write(&file, draft).unwrap();
        let out = l.run(&["rubric", "check", file.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{needle}: {out:?}");
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(needle), "{needle} in {all}");
    }
}

/// Regression (found exploring): a table missing a field was named by the table before it
/// ("near clause 2.1.a" for a clause 2.1.b without `text`).
#[test]
fn a_missing_field_names_its_own_table() {
    let text = std::fs::read_to_string(rubric_2019()).unwrap().replacen(
        "text = \"矫正对象重新犯罪的，扣10分\"\n",
        "",
        1,
    );
    let l = TestLedger::empty();
    let file = l.path("draft.toml");
    std::fs::write(&file, text).unwrap();
    let out = l.run(&["rubric", "check", file.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("near clause 2.1.b"), "{all}");
    assert!(all.contains("missing field `text`"), "{all}");
}
