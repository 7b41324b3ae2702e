//! The bundled year, `fixtures/wujin-2018.jsonl` (see `fixtures/README.md`): it loads, its
//! scores are the ones worked out by hand from the rubric, a second import changes nothing, and
//! the ledger and its export verify.
//!
//! The expected figures below were worked out **without kaohe**: a separate script read the
//! fixture line by line and applied the rules of `shared/rubric-2018-clauses.md`, with every
//! clause's parameters typed in from that page (not read from `schema/rubric-2018.toml`):
//!
//! - fixed → the clause's points; per_unit → points × count (count default 1); range → the
//!   assessor's points × count; below → the clause's points (2.2.a: the assessor's 0.5–1) when
//!   value < threshold for the station's kind; at_least → points when value ≥ threshold;
//!   shortfall → points × ⌈gap / step⌉, gap = threshold − value (below) or value − threshold
//!   (above); missing → points × (required − done);
//! - per station and item: applied = min(raw, item points); bonus = min(Σ applied bonus, 10);
//!   total = 100 − Σ applied deductions + bonus;
//! - rank by total, best first; equal totals share the better place (1, 2, 2, 4).
//!
//! The working, per station (`item: clause contributions`; "chosen" = the assessor's points
//! within a range, ⌈⌉ = a partial step counts as a whole one):
//!
//! ```text
//! WJ01 湖塘 (town): 100 − 1.8 + 9 = 107.2
//!   1.1: 1.1.b 1
//!   2.1: 2.1.f 0.1×3
//!   3.4: 3.4.a 0.5×1
//!   B.1: B.1.a 2 + B.1.a 2 = 4, capped at 2
//!   B.2: B.2.a 1
//!   B.3: B.3.a 1.5 (its B.3.b 1 reversed first: the two exclude each other)
//!   B.4: B.4.a 1 + B.4.b 0.5 = 1.5
//!   B.5: B.5.a +1 (63 ≥ 50)
//!   B.7: B.7.a 1 + B.7.b 0.3 chosen = 1.3, capped at 1
//!   B.8: B.8.a 0.5 + 0.6 + 0.4 chosen = 1.5, capped at 1
//!   raw bonus 11.8 (above 10); after the item caps 9, so the total cap of 10 does not bite
//! WJ02 牛塘 (town): 100 − 8.5 + 2.3 = 93.8
//!   1.4: 1.4.a 2×(5−4)
//!   1.6: 1.6.c 1×⌈(98−96.5)/1⌉ = 1×2
//!   3.4: 3.4.a 0.5×1
//!   4.3: 4.3.b 1
//!   5.1: 5.1.b 1×2 + 5.1.b 1×1 = 3 (its max_count of 3 units, reached exactly)
//!   B.4: B.4.a 1;  B.5: B.5.a +1 (52 ≥ 50);  B.8: B.8.a 0.3 chosen
//! WJ03 洛阳 (town): 100 − 7.5 + 1.5 = 94
//!   1.3: 1.3.a 3 + 1.3.e 1 = 4, capped at 3
//!   2.2: 2.2.b 0.5×(2−1) + 2.2.a 0.5 chosen (86 < 100) = 1
//!   3.2: 3.2.d 0.5×3;  3.3: 3.3.a 1.5 chosen;  3.4: 3.4.a 0.5×1
//!   B.3: B.3.b 1;  B.7: B.7.b 0.5 chosen
//! WJ04 遥观 (town): 100 − 8.6 + 2.5 = 93.9
//!   1.2: 1.2.a 2×1
//!   1.7: 1.7.a 1×1 + 1.7.a 1×2 = 3, capped at 2
//!   2.1: 2.1.f 0.1×1;  3.1: 3.1.a 2×1;  4.1: 4.1.a 1.5 chosen;  5.3: 5.3.a 1 (42.6 < 50)
//!   B.2: B.2.a 1;  B.4: B.4.a 1 + B.4.b 0.5 = 1.5
//! WJ05 横林 (town): 100 − 6.3 + 2 = 95.7
//!   1.3: 1.3.d 1;  1.5: 1.5.a 1 (25 < 30);  2.1: 2.1.a 0.5 + 2.1.g 0.3 chosen = 0.8
//!   3.5: 3.5.i 0.5×1 + 3.5.a 1 (96.8 < 100) = 1.5
//!   3.6: 3.6.a 0.5×1 + 3.6.b 0.5×⌈(4.25−4)/0.1⌉ = 0.5×3 + 3.6.c 0.5×⌈(0.93−0.8)/0.1⌉ = 0.5×2
//!        = 3, capped at 2
//!   B.5: B.5.a +1 (57 ≥ 50);  B.7: B.7.a 1
//! WJ06 横山桥 (town): 100 − 8 + 0.4 = 92.4
//!   1.1: 1.1.c 1 (7.2 < 8) + 1.1.d 2 (14.5 < 16) + 1.1.a 1 (97.3 < 100) = 4
//!   3.4: 3.4.e 1
//!   3.7: 3.7.a 0.5×1 + 3.7.b 0.5×⌈(90−87.4)/1⌉ = 0.5×3 + 3.7.c 0.5×⌈(70−68.2)/1⌉ = 0.5×2
//!        = 3, capped at 2
//!   4.4: 4.4.b 1;  B.8: B.8.a 0.4 chosen
//! WJ07 雪堰 (town): 100 − 25 + 0 = 75
//!   1.6: 1.6.a 1 + 1.6.d 1×⌈(100−88)/5⌉ = 1×3 = 4 (exactly the item's points: not capped)
//!   3.1: 3.1.e 3×1 + 3.1.b 4 chosen + 3.1.g 0.5×⌈(98−95.5)/1⌉ = 0.5×3
//!        + 3.1.h 0.5×⌈(95−93.2)/1⌉ = 0.5×2 = 9.5, capped at 7
//!   3.2: 3.2.a 1 chosen + 3.2.e 2×1 = 3
//!   3.4: 3.4.a 0.5×1 + 3.4.b 1×1 + 3.4.d 1 + 3.4.f 0.5 chosen = 3, capped at 2
//!   4.2: 4.2.a 2×(4−2);  5.2: 5.2.a 1 + 5.2.d 2 + 5.2.c 2 (17 < 24) = 5
//! WJ08 前黄 (town): 100 − 11.3 + 3.5 = 92.2
//!   1.4: 1.4.a 2×(5−3) + 1.4.b 2 = 6;  2.2: 2.2.a 0.8 chosen (61 < 100)
//!   3.3: 3.3.b 1 + 3.3.c 0.5 chosen = 1.5;  4.3: 4.3.a 2 + 4.3.c 1 = 3
//!   B.1: B.1.a 2;  B.3: B.3.a 1.5  (B.5 not earned: 48 referrals < 50, so not recorded)
//! WJ09 礼嘉 (town): 100 − 7.2 + 2.7 = 95.5
//!   1.6: 1.6.a 1 + 1.6.c 1×⌈(98−94.6)/1⌉ = 1×4 = 5, capped at 4
//!   2.1: 2.1.f 0.1×2;  5.1: 5.1.a 1×1
//!   3.5: 3.5.f 0.5 + 3.5.b 1 (98.5 < 100) + 3.5.g 0.5 (95 < 100) = 2 (exactly: not capped)
//!   B.4: B.4.a 1 + B.4.b 0.5 = 1.5;  B.5: B.5.a +1 (50 ≥ 50);  B.7: B.7.b 0.2 chosen
//! WJ10 嘉泽 (town): no events, 100
//! WJ11 湟里 (town): 100 − 12.1 + 1 = 88.9
//!   1.1: 1.1.a 1 (98.6 < 100)
//!   2.1: 2.1.f 0.1×6 + 2.1.b 0.5 + 2.1.c 0.5 + 2.1.g 0.5 chosen + 2.1.d 0.5 + 2.1.e 0.5 = 3.1
//!   3.1: 3.1.f 4×1;  4.2: 4.2.a 2×(4−3);  5.2: 5.2.c 2 (22 < 24)
//!   B.8: B.8.a 1 chosen
//! WJ12 南夏墅街道 (subdistrict): 100 − 4 + 4.5 = 100.5
//!   1.1: 1.1.b 1;  2.2: 2.2.a 1 chosen (38 < 50, the subdistrict threshold)
//!   3.4: 3.4.a 0.5×2 + 3.4.c 1 = 2
//!   B.1: B.1.a 2;  B.3: B.3.a 1.5 (its B.3.b 1 reversed first)
//!   B.5: B.5.a +1 (23 ≥ 20, the subdistrict threshold; a town would need 50)
//! WJ13 西湖街道 (subdistrict): 100 − 6.5 + 2 = 95.5
//!   1.6: 1.6.d 1×⌈(100−92)/5⌉ = 1×2
//!   2.2: 2.2.b 0.5×(2−0) + 2.2.a 0.5 chosen (44 < 50) = 1.5
//!   5.2: 5.2.b 1;  5.3: 5.3.b 1 + 5.3.a 1 (31.5 < 50) = 2
//!   B.2: B.2.a 1;  B.5: B.5.a +1 (31 ≥ 20)
//! WJ14 高新区 (subdistrict): 100 − 10 + 2 = 92
//!   1.1: 1.1.c 1 (7.9 < 8);  1.5: 1.5.b 1;  1.6: 1.6.c 1×⌈(98−97.8)/1⌉ = 1×1
//!   3.1: 3.1.g 0.5×⌈(98−97.6)/1⌉ = 0.5×1;  3.2: 3.2.b 1 chosen + 3.2.c 0.5×2 = 2
//!   3.3: 3.3.a 2 chosen + 3.3.b 1 + 3.3.c 1 chosen + 3.3.c 0.5 chosen = 4.5, capped at 4
//!   4.1: 4.1.a 0.5 chosen;  B.4: B.4.a 1;  B.7: B.7.a 1
//! WJ15 潞城街道 (subdistrict): no events, 100
//! ```
//!
//! Figures are compared as decimals (`3.0` equals `3`); see
//! `fixture_item_figures_are_canonical_text` for the text form.

use crate::harness::{fixture_path, TestLedger};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

const FIXTURE: &str = "wujin-2018.jsonl";

/// Commands in the fixture: 15 stations, 101 deductions, 39 bonuses, 212 metric reports.
const COMMANDS: u64 = 369;

/// Per station: code, total, deducted (applied), awarded (applied), raw deducted, raw awarded,
/// rank. Worked out independently (see the module comment).
const EXPECTED: &[(&str, &str, &str, &str, &str, &str, u64)] = &[
    ("WJ01", "107.2", "1.8", "9", "1.8", "11.8", 1),
    ("WJ02", "93.8", "8.5", "2.3", "8.5", "2.3", 10),
    ("WJ03", "94", "7.5", "1.5", "8.5", "1.5", 8),
    ("WJ04", "93.9", "8.6", "2.5", "9.6", "2.5", 9),
    ("WJ05", "95.7", "6.3", "2", "7.3", "2", 5),
    ("WJ06", "92.4", "8", "0.4", "9", "0.4", 11),
    ("WJ07", "75", "25", "0", "28.5", "0", 15),
    ("WJ08", "92.2", "11.3", "3.5", "11.3", "3.5", 12),
    ("WJ09", "95.5", "7.2", "2.7", "8.2", "2.7", 6),
    ("WJ10", "100", "0", "0", "0", "0", 3),
    ("WJ11", "88.9", "12.1", "1", "12.1", "1", 14),
    ("WJ12", "100.5", "4", "4.5", "4", "4.5", 2),
    ("WJ13", "95.5", "6.5", "2", "6.5", "2", 6),
    ("WJ14", "92", "10", "2", "10.5", "2", 13),
    ("WJ15", "100", "0", "0", "0", "0", 3),
];

/// Every item whose cap bites: station, item, raw, applied. No other item is capped.
const CAPPED: &[(&str, &str, &str, &str)] = &[
    ("WJ01", "B.1", "4", "2"),
    ("WJ01", "B.7", "1.3", "1"),
    ("WJ01", "B.8", "1.5", "1"),
    ("WJ03", "1.3", "4", "3"),
    ("WJ04", "1.7", "3", "2"),
    ("WJ05", "3.6", "3", "2"),
    ("WJ06", "3.7", "3", "2"),
    ("WJ07", "3.1", "9.5", "7"),
    ("WJ07", "3.4", "3", "2"),
    ("WJ09", "1.6", "5", "4"),
    ("WJ14", "3.3", "4.5", "4"),
];

/// Items whose raw figure equals the item's points exactly: applied in full, not capped.
const AT_CAP: &[(&str, &str, &str)] = &[
    ("WJ01", "B.3", "1.5"),
    ("WJ07", "1.6", "4"),
    ("WJ09", "3.5", "2"),
    ("WJ12", "3.4", "2"),
    ("WJ12", "B.3", "1.5"),
    ("WJ13", "5.3", "2"),
];

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

/// A decimal field of a JSON object (kaohe writes every decimal as a string).
fn field(v: &Value, name: &str) -> Decimal {
    let s = v[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string in {v}"));
    dec(s)
}

fn fixture_ledger() -> (TestLedger, Value) {
    let l = TestLedger::new();
    let path = fixture_path(FIXTURE);
    let out = l.run(&["import", path.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.code, 0,
        "the fixture is refused: {}{}",
        out.stdout, out.stderr
    );
    let report = out.json();
    (l, report)
}

fn stations(scores: &Value) -> BTreeMap<String, Value> {
    scores["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| (s["station"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

fn item<'a>(station: &'a Value, code: &str) -> &'a Value {
    station["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["item"] == code)
        .unwrap_or_else(|| panic!("no item {code} in {}", station["station"]))
}

#[test]
fn fixture_scores_match_the_independent_computation() {
    let (l, report) = fixture_ledger();
    assert_eq!(report["commands"], COMMANDS);
    assert_eq!(report["appended"], COMMANDS);
    assert_eq!(report["unchanged"], 0);

    let scores = l.scores();
    let by_code = stations(&scores);
    assert_eq!(
        by_code.keys().map(String::as_str).collect::<Vec<_>>(),
        EXPECTED.iter().map(|e| e.0).collect::<Vec<_>>(),
        "the fixture registers WJ01..WJ15"
    );
    for &(code, total, deducted, awarded, raw_deducted, raw_awarded, rank) in EXPECTED {
        let s = &by_code[code];
        assert_eq!(field(s, "total"), dec(total), "{code} total");
        assert_eq!(field(s, "deducted"), dec(deducted), "{code} deducted");
        assert_eq!(field(s, "awarded"), dec(awarded), "{code} awarded");
        assert_eq!(
            field(s, "raw_deducted"),
            dec(raw_deducted),
            "{code} raw_deducted"
        );
        assert_eq!(
            field(s, "raw_awarded"),
            dec(raw_awarded),
            "{code} raw_awarded"
        );
        assert_eq!(s["rank"], rank, "{code} rank");
        // Bonus items sum to 10 with B.6 (a rank clause, never recorded by hand), so once the
        // items are capped no station can pass 10: the total cap never bites in this year.
        assert_eq!(
            field(s, "awarded_before_cap"),
            dec(awarded),
            "{code} awarded_before_cap"
        );
    }

    // The capped items, and only those.
    let mut capped = BTreeSet::new();
    for (code, s) in &by_code {
        for i in s["items"].as_array().expect("items") {
            if i["capped"] == true {
                capped.insert((code.clone(), i["item"].as_str().unwrap().to_string()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = CAPPED
        .iter()
        .map(|c| (c.0.to_string(), c.1.to_string()))
        .collect();
    assert_eq!(capped, expected, "the items whose cap bites");
    for &(code, code_item, raw, applied) in CAPPED {
        let i = item(&by_code[code], code_item);
        let (raw_name, applied_name) = if code_item.starts_with('B') {
            ("raw_awarded", "awarded")
        } else {
            ("raw_deducted", "deducted")
        };
        assert_eq!(field(i, raw_name), dec(raw), "{code} {code_item} raw");
        assert_eq!(
            field(i, applied_name),
            dec(applied),
            "{code} {code_item} applied"
        );
        assert_eq!(field(i, "max"), dec(applied), "{code} {code_item} max");
    }
    for &(code, code_item, points) in AT_CAP {
        let i = item(&by_code[code], code_item);
        assert_eq!(i["capped"], false, "{code} {code_item}");
        let (raw, applied) = match code_item.starts_with("B.") {
            true => ("raw_awarded", "awarded"),
            false => ("raw_deducted", "deducted"),
        };
        assert_eq!(field(i, raw), dec(points), "{code} {code_item}");
        assert_eq!(field(i, applied), dec(points), "{code} {code_item}");
    }

    // The two stations without events score the base, item by item.
    for code in ["WJ10", "WJ15"] {
        for i in by_code[code]["items"].as_array().expect("items") {
            assert_eq!(field(i, "raw_deducted"), Decimal::ZERO, "{code}");
            assert_eq!(field(i, "raw_awarded"), Decimal::ZERO, "{code}");
        }
    }
}

/// What the fixture is meant to exercise stays true if someone edits it: every recordable rule
/// kind, every department, metric reports, no rank clause.
#[test]
fn fixture_covers_every_rule_kind_and_department() {
    let l = TestLedger::new();
    let rubric: Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).expect("rubric json");
    let (mut kind_of, mut all_departments) = (BTreeMap::new(), BTreeSet::new());
    for c in rubric["categories"].as_array().unwrap() {
        for i in c["items"].as_array().unwrap() {
            for d in i["departments"].as_array().unwrap() {
                all_departments.insert(d.as_str().unwrap().to_string());
            }
            for cl in i["clauses"].as_array().unwrap() {
                kind_of.insert(
                    cl["clause"].as_str().unwrap().to_string(),
                    cl["kind"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    let text = std::fs::read_to_string(fixture_path(FIXTURE)).expect("fixture");
    let (mut kinds, mut departments, mut ops) = (BTreeSet::new(), BTreeSet::new(), BTreeMap::new());
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        let op = v["op"].as_str().unwrap().to_string();
        *ops.entry(op.clone()).or_insert(0u64) += 1;
        if let Some(by) = v["by"].as_str() {
            departments.insert(if by == "矫正科" { "社矫科" } else { by }.to_string());
        }
        if op == "record" {
            let clause = v["clause"].as_str().unwrap();
            kinds.insert(kind_of[clause].clone());
            assert_ne!(clause, "B.6.a", "rank clauses are not recorded by hand");
            assert!(v["id"].is_string(), "every record has an id: {line}");
        }
        if op == "metric" {
            assert!(v["id"].is_string(), "every metric report has an id: {line}");
        }
    }
    let all_kinds: BTreeSet<String> = [
        "fixed",
        "per_unit",
        "range",
        "below",
        "at_least",
        "shortfall",
        "missing",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(kinds, all_kinds);
    assert_eq!(departments, all_departments);
    assert_eq!(ops["station"], 15);
    assert_eq!(ops["record"], 140);
    assert_eq!(ops["metric"], 212);
    assert_eq!(ops["reverse"], 2);
    assert_eq!(ops.values().sum::<u64>(), COMMANDS);
}

#[test]
fn fixture_reimport_is_a_no_op_and_the_ledger_and_export_verify() {
    let (l, first) = fixture_ledger();
    let events = l.event_count();
    assert_eq!(
        events as u64,
        COMMANDS + 1,
        "the genesis and one event a line"
    );
    let scores = l.scores();

    let path = fixture_path(FIXTURE);
    let second = l.run(&["import", path.to_str().unwrap(), "--json"]);
    assert_eq!(second.code, 0, "second import: {}", second.stderr);
    let second = second.json();
    assert_eq!(second["commands"], COMMANDS);
    assert_eq!(second["appended"], 0);
    assert_eq!(second["unchanged"], COMMANDS);
    assert_eq!(second["head"], first["head"], "the head does not move");
    assert_eq!(l.event_count(), events);
    assert_eq!(l.scores(), scores);

    let verify: Value = serde_json::from_str(&l.ok(&["verify", "--json"])).expect("verify json");
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["events"], COMMANDS + 1);
    assert_eq!(verify["head"], first["head"]);

    let export = l.path("wujin-2018.export.jsonl");
    std::fs::write(&export, l.ok(&["export"])).expect("write export");
    let head = first["head"].as_str().unwrap();
    let out = l.ok(&[
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--head",
        head,
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).expect("verify --export json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["events"], COMMANDS + 1);
}

/// Regression: item-level figures were written uncanonicalised (`"3.0"` for 1.5 + 1 + 0.5 in
/// WJ05 3.6, WJ06 3.7, WJ07 3.4) while every other decimal kaohe writes is canonical text.
#[test]
fn fixture_item_figures_are_canonical_text() {
    let (l, _) = fixture_ledger();
    let scores = l.scores();
    let by_code = stations(&scores);
    for (code, code_item) in [("WJ05", "3.6"), ("WJ06", "3.7"), ("WJ07", "3.4")] {
        assert_eq!(
            item(&by_code[code], code_item)["raw_deducted"],
            "3",
            "{code} {code_item}"
        );
    }
    for s in by_code.values() {
        for i in s["items"].as_array().unwrap() {
            for name in ["max", "deducted", "awarded", "raw_deducted", "raw_awarded"] {
                let text = i[name].as_str().unwrap();
                assert_eq!(
                    text,
                    dec(text).normalize().to_string(),
                    "{} {} {name}",
                    s["station"],
                    i["item"]
                );
            }
        }
    }
}
