//! Closing the period (issue 5): `kaohe close`.
//!
//! - The bundled year closes; its B.6.a ranking, bonus events and final scores are the ones
//!   worked out by hand from the fixture's latest reports; as-of views still show the year
//!   before the close; the ledger and its export verify.
//! - Ranking rules on crafted reports: shared places (1, 2, 3, 3, 5, 6, 6, 8), both band edges,
//!   the qualifiers, stations without reports, and "latest = last recorded".
//! - Refusals: pending appeals and gaps (exit 1), a bad `--accept-gaps` (exit 2), a second
//!   close and every write after the close (exit 2, "closed at seq N"), each with nothing
//!   written (the whole export is compared before and after).
//! - Gaps: a deduction under the clause closes the gap, its reversal reopens it; accepted gaps
//!   and their reason are kept by the closing event.
//! - Forgeries in an export of a closed ledger, re-chained so that every hash links, are caught
//!   by `kaohe verify --export` at the forged seq.

use crate::harness::{fixture_path, Output, TestLedger, TEST_NOW};
use kaohe::internals::events::chain::{self, GENESIS_PREV};
use kaohe::internals::events::codec;
use kaohe::internals::events::event::{
    Body, EventKind, EventV1, Gap, Inputs, MetricReported, PeriodClosed, PointsRecorded,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::OnceLock;

/// The evidence crafted events are recorded with.
const EV: &str = "常武司基〔2018〕61号";
/// The reason gaps are accepted with.
const GAP_REASON: &str = "年终统计口径调整，经局务会研究同意按现有记录结算";

// ---------------------------------------------------------------------------------------------
// Helpers.

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

/// A decimal field of a JSON object (kaohe writes decimals as strings).
fn field(v: &Value, name: &str) -> Decimal {
    dec(v[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string in {v}")))
}

fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

/// The export, line by line, decoded.
fn export_json(l: &TestLedger) -> Vec<Value> {
    l.ok(&["export"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("export line is JSON"))
        .collect()
}

/// The head hash from `verify --json` (which must pass).
fn verified_head(l: &TestLedger) -> String {
    let v: Value = serde_json::from_str(&l.ok(&["verify", "--json"])).expect("verify JSON");
    assert_eq!(v["ok"], true, "{v}");
    v["head"].as_str().expect("head").to_string()
}

/// `score --json` in a view: station → its entry.
fn scores_in(l: &TestLedger, view: &[&str]) -> BTreeMap<String, Value> {
    let mut a = vec!["score", "--json"];
    a.extend_from_slice(view);
    let v: Value = serde_json::from_str(&l.ok(&a)).expect("score JSON");
    v["stations"]
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

/// Runs `close` with `args` that must be refused with `code`; nothing may be written. Returns
/// stderr.
fn close_refused(l: &TestLedger, args: &[&str], code: i32) -> String {
    let before = l.ok(&["export"]);
    let mut a = vec!["close"];
    a.extend_from_slice(args);
    let out = l.run(&a);
    assert_eq!(
        out.code, code,
        "kaohe {a:?} should exit {code}: {}{}",
        out.stdout, out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(l.ok(&["export"]), before, "kaohe {a:?} wrote something");
    out.stderr
}

/// `close --json` (with `args`), which must succeed.
fn close_json(l: &TestLedger, args: &[&str]) -> Value {
    let mut a = vec!["close", "--json"];
    a.extend_from_slice(args);
    let out = l.run(&a);
    assert_eq!(
        out.code, 0,
        "kaohe {a:?} failed: {}{}",
        out.stdout, out.stderr
    );
    out.json()
}

/// The bundled year, imported at the ledger's clock.
fn fixture_ledger() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    l
}

/// A metric import line.
fn metric_line(id: &str, station: &str, metric: &str, value: &str, occurred: &str) -> String {
    json!({
        "op": "metric", "id": id, "station": station, "metric": metric, "value": value,
        "by": "基层科", "occurred": occurred, "evidence": [EV],
    })
    .to_string()
}

/// The two mediation figures B.6.a ranks by and qualifies on, as import lines.
fn mediation_lines(station: &str, per_mediator: &str, per_fulltime: &str) -> String {
    format!(
        "{}\n{}\n",
        metric_line(
            &format!("MPM-{station}"),
            station,
            "mediations_per_mediator",
            per_mediator,
            "2018-12-20"
        ),
        metric_line(
            &format!("MPF-{station}"),
            station,
            "mediations_per_fulltime_mediator",
            per_fulltime,
            "2018-12-20"
        ),
    )
}

fn import_ok(l: &TestLedger, jsonl: &str) {
    let out = l.import(jsonl);
    assert_eq!(
        out.code, 0,
        "import refused:\n{jsonl}\n{}{}",
        out.stdout, out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 1. The bundled year.

/// The fixture's B.6.a ranking, worked out by hand from its metric lines.
///
/// Each station's latest (last recorded) reports are its year-end lines (2018-12-20, after the
/// half-year ones of 2018-07-06); (per mediator, per full-time mediator), qualifying when
/// ≥ 8 and ≥ 16:
///
/// ```text
/// WJ01 12.6 24.3 ✓   WJ02  9.8 19.5 ✓   WJ03 10.4 21   ✓   WJ04 11.2 22.8 ✓
/// WJ05 10.9 20.6 ✓   WJ06  7.2 14.5 ✗   WJ07  8.3 16.4 ✓   WJ08  9.1 17.9 ✓
/// WJ09  8.6 16   ✓ (16 exactly)          WJ10 no reports ✗  WJ11  8.9 18.2 ✓
/// WJ12 13.5 25.1 ✓   WJ13 11.8 23.4 ✓   WJ14  7.9 17   ✗ (7.9 < 8)   WJ15 no reports ✗
/// ```
///
/// 11 qualify; by per-mediator figure: WJ12 13.5, WJ01 12.6, WJ13 11.8 (places 1–3, +1),
/// WJ04 11.2, WJ05 10.9, WJ03 10.4 (places 4–6, +0.5); then WJ02 9.8 (7th, nothing), WJ08 9.1,
/// WJ11 8.9, WJ09 8.6, WJ07 8.3.
const FIXTURE_RANKING: &[(&str, &str, u32, &str)] = &[
    ("WJ12", "13.5", 1, "1"),
    ("WJ01", "12.6", 2, "1"),
    ("WJ13", "11.8", 3, "1"),
    ("WJ04", "11.2", 4, "0.5"),
    ("WJ05", "10.9", 5, "0.5"),
    ("WJ03", "10.4", 6, "0.5"),
];
const FIXTURE_QUALIFIED: u64 = 11;
/// The fixture's 369 lines after the genesis: seqs 1–369; the close appends 370–376.
const FIXTURE_LAST: u64 = 369;
const FIXTURE_CLOSE: u64 = 376;

/// The fixture's latest mediation reports, read from the file itself (last line wins), give
/// the ranking written out above: a check of the hand computation against the data.
#[test]
fn the_hand_ranking_follows_from_the_fixtures_latest_reports() {
    let text = std::fs::read_to_string(fixture_path("wujin-2018.jsonl")).expect("fixture");
    let mut latest: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["op"] == "metric" && v["metric"].as_str().unwrap().starts_with("mediations_per_") {
            latest.insert(
                (
                    v["station"].as_str().unwrap().into(),
                    v["metric"].as_str().unwrap().into(),
                ),
                field(&v, "value"),
            );
        }
    }
    let get = |s: &str, m: &str| latest.get(&(s.to_string(), m.to_string())).copied();
    let mut qualified: Vec<(Decimal, String)> = (1..=15)
        .map(|n| format!("WJ{n:02}"))
        .filter(|s| {
            get(s, "mediations_per_mediator").is_some_and(|v| v >= dec("8"))
                && get(s, "mediations_per_fulltime_mediator").is_some_and(|v| v >= dec("16"))
        })
        .map(|s| (get(&s, "mediations_per_mediator").unwrap(), s))
        .collect();
    qualified.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(qualified.len() as u64, FIXTURE_QUALIFIED);
    let top: Vec<(String, Decimal)> = qualified[..6]
        .iter()
        .map(|(v, s)| (s.clone(), *v))
        .collect();
    let want: Vec<(String, Decimal)> = FIXTURE_RANKING
        .iter()
        .map(|(s, v, _, _)| (s.to_string(), dec(v)))
        .collect();
    assert_eq!(top, want);
    // No tie at the 6th place: the 7th figure is lower.
    assert!(qualified[6].0 < qualified[5].0);
}

/// Closing the bundled year: the ranking, the six bonus events (points, date, department,
/// evidence, ids), the closing event and `close --json`/text output are as worked out by hand.
#[test]
fn the_bundled_year_closes_with_the_hand_ranking_and_its_bonus_events() {
    let l = fixture_ledger();
    let head_before = verified_head(&l);
    let v = close_json(&l, &[]);

    // close --json: the closing event's fields, its place, and the bonuses.
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "accepted_gaps",
            "bonuses",
            "hash",
            "head",
            "rankings",
            "recorded_at",
            "scores",
            "seq"
        ],
        "no gap accepted: no `reason` (an absent field is left out, schema/EVENTS.md)"
    );
    assert_eq!(v["seq"], FIXTURE_CLOSE);
    assert_eq!(
        v["head"],
        head_before.as_str(),
        "the head before the bonuses"
    );
    assert_eq!(v["recorded_at"], TEST_NOW);
    assert_eq!(v["accepted_gaps"], json!([]));
    assert!(v.get("reason").is_none());
    let rankings = v["rankings"].as_array().unwrap();
    assert_eq!(rankings.len(), 1, "B.6.a is the rubric's only rank clause");
    assert_eq!(rankings[0]["clause"], "B.6.a");
    assert_eq!(rankings[0]["qualified"], FIXTURE_QUALIFIED);
    let entries: Vec<(String, String, u64, String)> = rankings[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["station"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
                e["rank"].as_u64().unwrap(),
                e["points"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64, String)> = FIXTURE_RANKING
        .iter()
        .map(|(s, v, r, p)| (s.to_string(), v.to_string(), u64::from(*r), p.to_string()))
        .collect();
    assert_eq!(entries, want);

    let evidence: Vec<String> =
        std::iter::once("B.6.a 排名 by mediations_per_mediator: 11 stations qualified".to_string())
            .chain(
                FIXTURE_RANKING
                    .iter()
                    .map(|(s, v, r, p)| format!("{r}. {s} {v} (+{p})")),
            )
            .collect();
    let bonuses = v["bonuses"].as_array().unwrap();
    assert_eq!(bonuses.len(), FIXTURE_RANKING.len());
    for (i, (b, (station, _, _, points))) in bonuses.iter().zip(FIXTURE_RANKING).enumerate() {
        let seq = FIXTURE_LAST + 1 + i as u64;
        assert_eq!(
            b,
            &json!({
                "seq": seq, "id": format!("auto-{seq}"), "station": station, "clause": "B.6.a",
                "points": points, "occurred": "2018-12-31", "by": "基层科", "evidence": evidence,
            })
        );
    }

    // The stored events: the bonuses right before the closing event, which is last.
    let events = export_json(&l);
    assert_eq!(events.len() as u64, FIXTURE_CLOSE + 1);
    assert_eq!(events[FIXTURE_LAST as usize]["hash"], head_before.as_str());
    for (i, (station, value, rank, points)) in FIXTURE_RANKING.iter().enumerate() {
        let seq = FIXTURE_LAST + 1 + i as u64;
        let e = &events[seq as usize];
        assert_eq!(e["type"], "points_recorded");
        assert_eq!(e["id"], format!("auto-{seq}"));
        assert_eq!(e["station"], *station);
        assert_eq!(e["clause"], "B.6.a");
        assert_eq!(e["value"], *value, "inputs value = the figure");
        assert_eq!(e["count"], *rank, "inputs count = the place");
        assert_eq!(e["note"], format!("第{rank}名（11个站点达标）"));
        assert_eq!(e["computed_points"], *points);
        assert_eq!(e["occurred"], "2018-12-31");
        assert_eq!(e["by"], "基层科");
        assert_eq!(e["evidence"], json!(evidence));
        assert_eq!(e["recorded_at"], TEST_NOW);
    }
    let closing = &events[FIXTURE_CLOSE as usize];
    assert_eq!(closing["type"], "period_closed");
    assert_eq!(closing["hash"], v["hash"]);
    for k in ["head", "scores", "rankings", "accepted_gaps", "reason"] {
        assert_eq!(closing[k], v[k], "{k}");
    }
    // The final scores, best first, with the rank bonuses in.
    let scores: Vec<(String, String, u64)> = closing["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["station"].as_str().unwrap().into(),
                s["total"].as_str().unwrap().into(),
                s["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    let want_scores: Vec<(String, String, u64)> = [
        ("WJ01", "108.2", 1),
        ("WJ12", "101.5", 2),
        ("WJ10", "100", 3),
        ("WJ15", "100", 3),
        ("WJ13", "96.5", 5),
        ("WJ05", "96.2", 6),
        ("WJ09", "95.5", 7),
        ("WJ03", "94.5", 8),
        ("WJ04", "94.4", 9),
        ("WJ02", "93.8", 10),
        ("WJ06", "92.4", 11),
        ("WJ08", "92.2", 12),
        ("WJ14", "92", 13),
        ("WJ11", "88.9", 14),
        ("WJ07", "75", 15),
    ]
    .iter()
    .map(|(s, t, r)| (s.to_string(), t.to_string(), *r))
    .collect();
    assert_eq!(scores, want_scores);

    // The final head is the closing event's hash.
    assert_eq!(verified_head(&l), v["hash"].as_str().unwrap());
}

/// The text output of `close` prints the ranking, the bonuses and the final head.
#[test]
fn close_prints_the_ranking_and_the_final_head() {
    let l = fixture_ledger();
    let text = l.ok(&["close"]);
    assert_contains(
        &text,
        "closed the period 2018-01-01 to 2018-12-31 at seq 376",
    );
    assert_contains(&text, "B.6.a ranking (11 stations qualified)");
    for (i, (station, _, _, points)) in FIXTURE_RANKING.iter().enumerate() {
        let seq = FIXTURE_LAST + 1 + i as u64;
        assert_contains(
            &text,
            &format!("bonus auto-{seq} at seq {seq}: {station} B.6.a +{points}"),
        );
    }
    assert!(!text.contains("WJ02 B.6.a"), "7th place earns nothing");
    assert_contains(&text, &format!("final head {}", verified_head(&l)));
}

/// After the close, `score` is the score before plus the rank bonuses through the item cap of
/// B.6 and the bonus cap; the as-of views (`--as-of-seq`, `--known-at`, `--at`) still give the
/// year before the close.
#[test]
fn scores_after_the_close_add_the_rank_bonuses_and_views_before_it_still_work() {
    let mut l = fixture_ledger();
    let before = scores_in(&l, &[]);
    // Close on a later day, so that `--known-at` can tell the close from the import.
    l.now = "2019-01-15T02:00:00Z".into();
    l.ok(&["close"]);
    let after = scores_in(&l, &[]);

    let bonus: BTreeMap<&str, Decimal> = FIXTURE_RANKING
        .iter()
        .map(|(s, _, _, p)| (*s, dec(p)))
        .collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (code, b) in &before {
        let a = &after[code];
        let extra = bonus.get(code.as_str()).copied().unwrap_or_default();
        // B.6 is 1 point at most and none was recorded before: the bonus goes in whole.
        assert_eq!(field(item(b, "B.6"), "awarded"), Decimal::ZERO, "{code}");
        assert_eq!(field(item(a, "B.6"), "awarded"), extra, "{code} B.6");
        assert_eq!(
            field(item(a, "B.6"), "raw_awarded"),
            extra,
            "{code} B.6 raw"
        );
        assert_eq!(item(a, "B.6")["capped"], false, "{code}");
        assert_eq!(field(item(a, "B.6"), "max"), dec("1"));
        let awarded = (field(b, "awarded") + extra).min(dec("10"));
        assert_eq!(field(a, "awarded"), awarded, "{code} awarded");
        assert_eq!(
            field(a, "raw_awarded"),
            field(b, "raw_awarded") + extra,
            "{code} raw_awarded"
        );
        assert_eq!(
            field(a, "deducted"),
            field(b, "deducted"),
            "{code} deducted"
        );
        assert_eq!(
            field(a, "total"),
            dec("100") - field(a, "deducted") + awarded,
            "{code} total"
        );
    }
    // Worked by hand (fixture README's scores plus the bonuses):
    // WJ01 100 − 1.8 + min(9 + 1, 10) = 108.2: its bonus reaches the cap of 10 exactly
    // (raw 11.8 + 1 = 12.8).
    let wj01 = &after["WJ01"];
    assert_eq!(field(wj01, "total"), dec("108.2"));
    assert_eq!(field(wj01, "awarded"), dec("10"));
    assert_eq!(field(wj01, "awarded_before_cap"), dec("10"));
    assert_eq!(field(wj01, "raw_awarded"), dec("12.8"));
    // WJ12 100 − 4 + 4.5 + 1 = 101.5; WJ13 95.5 + 1 = 96.5; WJ04 93.9 + 0.5 = 94.4;
    // WJ05 95.7 + 0.5 = 96.2; WJ03 94 + 0.5 = 94.5; WJ02 (7th) stays 93.8.
    for (code, total, rank) in [
        ("WJ12", "101.5", 2),
        ("WJ13", "96.5", 5),
        ("WJ05", "96.2", 6),
        ("WJ09", "95.5", 7),
        ("WJ03", "94.5", 8),
        ("WJ04", "94.4", 9),
        ("WJ02", "93.8", 10),
    ] {
        assert_eq!(field(&after[code], "total"), dec(total), "{code}");
        assert_eq!(after[code]["rank"], rank, "{code}");
    }

    // The views before the close see the year as it was.
    let pre = FIXTURE_LAST.to_string();
    for view in [
        vec!["--as-of-seq", pre.as_str()],
        vec!["--known-at", "2019-01-12T00:00:00Z"],
        vec!["--at", "2018-12-30"],
    ] {
        assert_eq!(scores_in(&l, &view), before, "view {view:?}");
    }
    // Halfway through the bonuses: the first three (WJ12, WJ01, WJ13) only.
    let mid = scores_in(&l, &["--as-of-seq", "372"]);
    assert_eq!(field(&mid["WJ13"], "total"), dec("96.5"));
    assert_eq!(field(&mid["WJ04"], "total"), dec("93.9"));
    // On the period's last day, the bonuses count.
    assert_eq!(scores_in(&l, &["--at", "2018-12-31"]), after);
    assert_eq!(
        scores_in(&l, &["--known-at", "2019-01-15T02:00:00Z"]),
        after
    );
}

/// The closed bundled year verifies, as a ledger and as an export (with its final head).
#[test]
fn the_closed_bundled_year_and_its_export_verify() {
    let l = fixture_ledger();
    l.ok(&["close"]);
    let head = verified_head(&l);
    let v: Value = serde_json::from_str(&l.ok(&["verify", "--json"])).unwrap();
    assert_eq!(v["events"], FIXTURE_CLOSE + 1);
    let file = l.path("closed.jsonl");
    std::fs::write(&file, l.ok(&["export"])).unwrap();
    let out = l.run(&[
        "verify",
        "--export",
        file.to_str().unwrap(),
        "--head",
        &head,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["events"], FIXTURE_CLOSE + 1);
    assert_eq!(v["expected_head_at"], FIXTURE_CLOSE);
    // The head published before the close is in the chain, at the last event before it.
    let before = export_json(&l)[FIXTURE_LAST as usize]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let out = l.run(&[
        "verify",
        "--export",
        file.to_str().unwrap(),
        "--head",
        &before,
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["expected_head_at"], FIXTURE_LAST);
}

// ---------------------------------------------------------------------------------------------
// 2. Ranking rules on crafted reports.

/// A ledger for the ranking rules (all towns; figures (per mediator, per full-time mediator)):
///
/// | station | reports (in recorded order) | latest | qualifies | place |
/// |---|---|---|---|---|
/// | WJ01 | 20, 20 | 20 | ✓ | 1 (+1) |
/// | WJ02 | 10 (occurred 12-20), then 19.5 (occurred 06-30); 20 | 19.5 | ✓ | 2 (+1) |
/// | WJ03 | 18, 20 | 18 | ✓ | 3 (+1) |
/// | WJ04 | 18, 20 | 18 | ✓ | 3 (+1, shares the better place) |
/// | WJ05 | 17, 20 | 17 | ✓ | 5 (+0.5) |
/// | WJ06 | 16, 20 | 16 | ✓ | 6 (+0.5) |
/// | WJ07 | 16, 20 | 16 | ✓ | 6 (+0.5, across the band edge) |
/// | WJ08 | 15, 16 (exactly) | 15 | ✓ | 8 (nothing) |
/// | WJ09 | 50 (occurred 12-20), then 8 (exactly; occurred 06-30); 20 | 8 | ✓ | 9 |
/// | WJ10 | 30, 15 | — | ✗ full-time below 16 (1.1.d deduction recorded) | — |
/// | WJ11 | 40, no full-time report | — | ✗ | — |
/// | WJ12 | no per-mediator report, 30 | — | ✗ | — |
/// | WJ13 | no reports | — | ✗ | — |
///
/// Nine qualify; the places earning points are 1–7.
fn ranked_ledger() -> TestLedger {
    let l = TestLedger::new();
    let mut batch = String::new();
    for n in 1..=13 {
        batch.push_str(
            &json!({"op": "station", "code": format!("WJ{n:02}"), "name": format!("司法所{n}"),
                "kind": "town"})
            .to_string(),
        );
        batch.push('\n');
    }
    for (station, mpm, mpf) in [
        ("WJ01", "20", "20"),
        ("WJ03", "18", "20"),
        ("WJ04", "18", "20"),
        ("WJ05", "17", "20"),
        ("WJ06", "16", "20"),
        ("WJ07", "16", "20"),
        ("WJ08", "15", "16"),
        ("WJ10", "30", "15"),
    ] {
        batch.push_str(&mediation_lines(station, mpm, mpf));
    }
    // Latest = last recorded: the later line wins although it occurred earlier.
    for (station, first, then) in [("WJ02", "10", "19.5"), ("WJ09", "50", "8")] {
        batch.push_str(&mediation_lines(station, first, "20"));
        batch.push_str(&metric_line(
            &format!("MPM2-{station}"),
            station,
            "mediations_per_mediator",
            then,
            "2018-06-30",
        ));
        batch.push('\n');
    }
    batch.push_str(&metric_line(
        "MPM-WJ11",
        "WJ11",
        "mediations_per_mediator",
        "40",
        "2018-12-20",
    ));
    batch.push('\n');
    batch.push_str(&metric_line(
        "MPF-WJ12",
        "WJ12",
        "mediations_per_fulltime_mediator",
        "30",
        "2018-12-20",
    ));
    batch.push('\n');
    // WJ10 fails 1.1.d (15 < 16): its deduction is recorded, so there is no gap.
    batch.push_str(
        &json!({"op": "record", "id": "D-WJ10", "clause": "1.1.d", "station": "WJ10",
            "by": "基层科", "occurred": "2018-12-27", "value": "15", "evidence": [EV]})
        .to_string(),
    );
    batch.push('\n');
    import_ok(&l, &batch);
    l
}

/// The expected ranking of [`ranked_ledger`]: (station, value, place, points).
const CRAFTED_RANKING: &[(&str, &str, u32, &str)] = &[
    ("WJ01", "20", 1, "1"),
    ("WJ02", "19.5", 2, "1"),
    ("WJ03", "18", 3, "1"),
    ("WJ04", "18", 3, "1"),
    ("WJ05", "17", 5, "0.5"),
    ("WJ06", "16", 6, "0.5"),
    ("WJ07", "16", 6, "0.5"),
];

/// Equal figures share the better place at both band edges (3, 3 → next is 5th; 6, 6 → the
/// next is 8th and earns nothing), and each place gets its band's points.
#[test]
fn ties_share_the_better_place_at_both_band_edges() {
    let l = ranked_ledger();
    let v = close_json(&l, &[]);
    let r = &v["rankings"][0];
    assert_eq!(r["clause"], "B.6.a");
    assert_eq!(r["qualified"], 9, "WJ01–WJ09 qualify");
    let want: Vec<Value> = CRAFTED_RANKING
        .iter()
        .map(|(s, v, rank, p)| json!({"station": s, "value": v, "rank": rank, "points": p}))
        .collect();
    assert_eq!(
        r["entries"],
        json!(want),
        "WJ08 (8th) earns nothing and is left out"
    );
    let bonuses: Vec<(String, String)> = v["bonuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["station"].as_str().unwrap().into(),
                b["points"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = CRAFTED_RANKING
        .iter()
        .map(|(s, _, _, p)| (s.to_string(), p.to_string()))
        .collect();
    assert_eq!(bonuses, want);
    // The stored bonuses: value = the figure, count = the shared place.
    let events = export_json(&l);
    let stored: Vec<(String, String, u64)> = events
        .iter()
        .filter(|e| e["clause"] == "B.6.a")
        .map(|e| {
            (
                e["station"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = CRAFTED_RANKING
        .iter()
        .map(|(s, v, r, _)| (s.to_string(), v.to_string(), u64::from(*r)))
        .collect();
    assert_eq!(stored, want);
    let note = |station: &str| {
        events
            .iter()
            .find(|e| e["clause"] == "B.6.a" && e["station"] == station)
            .unwrap()["note"]
            .clone()
    };
    assert_eq!(note("WJ04"), "第3名（9个站点达标）");
    assert_eq!(note("WJ07"), "第6名（9个站点达标）");

    // Scores: 100 + the bonus; WJ10 100 − 2 (1.1.d).
    let scores = scores_in(&l, &[]);
    for (station, _, _, p) in CRAFTED_RANKING {
        assert_eq!(
            field(&scores[*station], "total"),
            dec("100") + dec(p),
            "{station}"
        );
    }
    for station in ["WJ08", "WJ09", "WJ11", "WJ12", "WJ13"] {
        assert_eq!(field(&scores[station], "total"), dec("100"), "{station}");
    }
    assert_eq!(field(&scores["WJ10"], "total"), dec("98"));
    verified_head(&l);
}

/// A station failing one qualifier is excluded even with the best figure; so is one without a
/// report of either figure; the latest figure is the last recorded, not the last occurred.
#[test]
fn qualifiers_missing_reports_and_the_last_recorded_figure_decide_who_is_ranked() {
    let l = ranked_ledger();
    let v = close_json(&l, &[]);
    let ranked: Vec<&str> = v["rankings"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["station"].as_str().unwrap())
        .collect();
    // WJ10 (30, but 15 full-time), WJ11 (40, no full-time report), WJ12 (no per-mediator
    // report), WJ13 (nothing) are out; they would otherwise be the best.
    for out in ["WJ10", "WJ11", "WJ12", "WJ13"] {
        assert!(!ranked.contains(&out), "{out} is ranked: {ranked:?}");
    }
    // WJ02's last recorded figure 19.5 (occurred 06-30) beats its 10 (occurred 12-20): 2nd.
    let wj02 = &v["rankings"][0]["entries"][1];
    assert_eq!(wj02["station"], "WJ02");
    assert_eq!(wj02["value"], "19.5");
    assert_eq!(wj02["rank"], 2);
    // WJ09's last recorded 8 (exactly the qualifier) replaces its 50: 9th, no bonus, but it
    // still qualifies (9 in all).
    assert!(!ranked.contains(&"WJ09"));
    assert_eq!(v["rankings"][0]["qualified"], 9);
    assert!(v["accepted_gaps"].as_array().unwrap().is_empty());
}

/// With no station qualifying, close appends only the closing event (an empty ranking) and the
/// ledger verifies.
#[test]
fn a_close_with_nobody_qualifying_awards_nothing() {
    let l = TestLedger::with_stations();
    let before = l.event_count() as u64;
    let v = close_json(&l, &[]);
    assert_eq!(
        v["seq"], before,
        "the closing event is the only one appended"
    );
    assert_eq!(v["bonuses"], json!([]));
    assert_eq!(
        v["rankings"],
        json!([{"clause": "B.6.a", "entries": [], "qualified": 0}])
    );
    assert_eq!(
        v["scores"],
        json!([
            {"station": "WJ01", "total": "100", "rank": 1},
            {"station": "WJ02", "total": "100", "rank": 1},
        ])
    );
    verified_head(&l);
}

// ---------------------------------------------------------------------------------------------
// 3. Refusals.

/// A small ledger: WJ01 (town) and WJ02 (subdistrict), D1 (WJ01 1.3.a), WJ01 qualifying for
/// B.6.a.
fn small() -> TestLedger {
    let l = TestLedger::with_stations();
    let mut batch = mediation_lines("WJ01", "12", "20");
    batch.push_str(
        &json!({"op": "record", "id": "D1", "clause": "1.3.a", "station": "WJ01",
            "by": "基层科", "occurred": "2018-05-10", "evidence": [EV]})
        .to_string(),
    );
    batch.push('\n');
    import_ok(&l, &batch);
    l
}

fn appeal(l: &TestLedger, id: &str, against: &str, station: &str) {
    l.ok(&[
        "appeal",
        "file",
        "--id",
        id,
        "--against",
        against,
        "--station",
        station,
        "--grounds",
        "扣分事实认定有误",
        "--evidence",
        "情况说明",
    ]);
}

fn decide(l: &TestLedger, id: &str) {
    l.ok(&[
        "appeal",
        "decide",
        id,
        "--outcome",
        "rejected",
        "--by",
        "基层科",
        "--reason",
        "经复核，扣分成立",
        "--evidence",
        "复核意见书",
    ]);
}

/// Close is refused (exit 1) while an appeal is pending; the message lists every pending
/// appeal; once decided, close goes through.
#[test]
fn close_is_refused_while_an_appeal_is_pending() {
    let l = small();
    l.ok(&[
        "record",
        "--id",
        "D2",
        "--clause",
        "1.3.b",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-10",
        "--evidence",
        EV,
    ]);
    // seq: 1, 2 stations; 3, 4 metrics; 5 D1; 6 D2; 7 A1; 8 A2.
    appeal(&l, "A1", "D1", "WJ01");
    appeal(&l, "A2", "D2", "WJ01");
    let err = close_refused(&l, &[], 1);
    assert_contains(&err, "2 appeal(s) are pending");
    assert_contains(&err, "A1 (seq 7) by WJ01 against D1");
    assert_contains(&err, "A2 (seq 8) by WJ01 against D2");
    // Accepting gaps does not help with appeals.
    close_refused(&l, &["--accept-gaps", "--reason", GAP_REASON], 1);
    decide(&l, "A1");
    let err = close_refused(&l, &["--json"], 1);
    assert!(!err.contains("A1 ("), "{err}");
    assert_contains(&err, "A2 (seq 8) by WJ01 against D2");
    decide(&l, "A2");
    // 9, 10 the decisions; 11 WJ01's bonus; 12 the closing event.
    let v = close_json(&l, &[]);
    assert_eq!(v["seq"], 12);
    assert_eq!(v["bonuses"][0]["station"], "WJ01");
    verified_head(&l);
}

/// `--accept-gaps` without `--reason`, with an empty or blank reason, and `--reason` alone are
/// refused (exit 2), with gaps and without.
#[test]
fn accept_gaps_needs_a_reason() {
    let l = small();
    for args in [
        &["--accept-gaps"][..],
        &["--accept-gaps", "--reason", ""],
        &["--accept-gaps", "--reason", "   "],
        &["--accept-gaps", "--reason", "\t\n"],
        &["--reason", GAP_REASON],
    ] {
        close_refused(&l, args, 2);
    }
    // With a gap (WJ02 dispute_entry_rate 90 < 100, no 1.1.a deduction) all the same.
    l.ok(&[
        "metric",
        "--station",
        "WJ02",
        "--metric",
        "dispute_entry_rate",
        "--value",
        "90",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-20",
        "--evidence",
        EV,
    ]);
    for args in [
        &["--accept-gaps"][..],
        &["--accept-gaps", "--reason", ""],
        &["--accept-gaps", "--reason", "  "],
        &["--reason", GAP_REASON],
    ] {
        close_refused(&l, args, 2);
    }
    let err = close_refused(&l, &["--accept-gaps", "--reason", " "], 2);
    assert_contains(&err, "field `reason`");
}

/// Every write after the close is refused (exit 2, "closed at seq N") with nothing written:
/// record, metric, station add (new or repeated), appeal file, appeal decide, reverse, a second
/// close, and an import of any kind of line.
#[test]
fn everything_after_the_close_is_refused() {
    let l = small();
    appeal(&l, "A1", "D1", "WJ01");
    decide(&l, "A1");
    // seq 6 A1, 7 its decision, 8 WJ01's bonus, 9 the closing event.
    let v = close_json(&l, &[]);
    assert_eq!(v["seq"], 9);
    let closed = "closed at seq 9";
    let before = l.ok(&["export"]);

    let refused = |args: &[&str]| {
        let out = l.run(args);
        assert_eq!(
            out.code, 2,
            "kaohe {args:?} should be refused: {}{}",
            out.stdout, out.stderr
        );
        assert_contains(&out.stderr, closed);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(l.ok(&["export"]), before, "kaohe {args:?} wrote something");
    };
    let record = |id: &'static str, occurred: &'static str| {
        vec![
            "record",
            "--id",
            id,
            "--clause",
            "1.3.a",
            "--station",
            "WJ01",
            "--by",
            "基层科",
            "--occurred",
            occurred,
            "--evidence",
            EV,
        ]
    };
    refused(&record("D9", "2018-06-01"));
    // Even the exact repeat of a record made before the close.
    refused(&record("D1", "2018-05-10"));
    refused(&[
        "record",
        "--clause",
        "B.6.a",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-31",
        "--evidence",
        EV,
    ]);
    refused(&[
        "metric",
        "--station",
        "WJ02",
        "--metric",
        "mediations_per_mediator",
        "--value",
        "30",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-20",
        "--evidence",
        EV,
    ]);
    refused(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "洛阳司法所",
        "--kind",
        "town",
    ]);
    refused(&[
        "station",
        "add",
        "WJ01",
        "--name",
        "湖塘司法所",
        "--kind",
        "town",
    ]);
    refused(&[
        "appeal",
        "file",
        "--id",
        "A2",
        "--against",
        "D1",
        "--station",
        "WJ01",
        "--grounds",
        "扣分事实认定有误",
        "--evidence",
        "情况说明",
    ]);
    refused(&[
        "appeal",
        "decide",
        "A1",
        "--outcome",
        "upheld",
        "--by",
        "基层科",
        "--reason",
        "经复核",
        "--evidence",
        "复核意见书",
    ]);
    refused(&[
        "reverse",
        "D1",
        "--by",
        "基层科",
        "--reason",
        "录入错误",
        "--evidence",
        "更正说明",
    ]);
    refused(&["close"]);
    refused(&["close", "--json"]);
    refused(&["close", "--accept-gaps", "--reason", GAP_REASON]);

    for line in [
        json!({"op": "station", "code": "WJ03", "name": "洛阳司法所", "kind": "town"}),
        json!({"op": "station", "code": "WJ01", "name": "湖塘司法所", "kind": "town"}),
        json!({"op": "record", "id": "D9", "clause": "1.3.b", "station": "WJ02",
            "by": "基层科", "occurred": "2018-06-01", "evidence": [EV]}),
        json!({"op": "record", "id": "D1", "clause": "1.3.a", "station": "WJ01",
            "by": "基层科", "occurred": "2018-05-10", "evidence": [EV]}),
        json!({"op": "metric", "id": "M9", "station": "WJ02", "metric": "dispute_entry_rate",
            "value": "99", "by": "基层科", "occurred": "2018-12-20", "evidence": [EV]}),
        json!({"op": "appeal", "id": "A2", "against": "D1", "station": "WJ01",
            "grounds": "扣分事实认定有误", "evidence": ["情况说明"]}),
        json!({"op": "decide", "appeal": "A1", "outcome": "upheld", "by": "基层科",
            "reason": "经复核", "evidence": ["复核意见书"]}),
        json!({"op": "reverse", "id": "R1", "target": "D1", "by": "基层科",
            "reason": "录入错误", "evidence": ["更正说明"]}),
    ] {
        let out = l.import(&format!("{line}\n"));
        assert_eq!(
            out.code, 2,
            "import of {line} should be refused: {}{}",
            out.stdout, out.stderr
        );
        assert_contains(&out.stderr, "line 1");
        assert_contains(&out.stderr, closed);
        assert_eq!(
            l.ok(&["export"]),
            before,
            "import of {line} wrote something"
        );
    }
    // The reads still work, and the ledger verifies.
    l.ok(&["score"]);
    l.ok(&["log"]);
    l.ok(&["explain", "--station", "WJ01"]);
    l.ok(&["appeal", "list"]);
    verified_head(&l);
}

// ---------------------------------------------------------------------------------------------
// 4. Gaps.

fn metric(l: &TestLedger, station: &str, metric: &str, value: &str) {
    l.ok(&[
        "metric",
        "--station",
        station,
        "--metric",
        metric,
        "--value",
        value,
        "--by",
        if metric == "legal_consultations_entered" {
            "法援科"
        } else {
            "基层科"
        },
        "--occurred",
        "2018-12-20",
        "--evidence",
        EV,
    ]);
}

/// A ledger with two gaps: WJ01 (town) agreement_fulfilment_rate 96.5 < 98 (1.6.c would
/// deduct ⌈1.5⌉ × 1 = 2) and WJ02 (subdistrict) dispute_entry_rate 90 < 100 (1.1.a, 1).
/// Standards met or measured per kind make no gap: WJ02 legal_consultations_entered 60 ≥ 50
/// (subdistrict); WJ01's purchased_staff_ratio 20 is followed by a later-recorded 35.
fn gapped() -> TestLedger {
    let l = TestLedger::with_stations();
    metric(&l, "WJ01", "agreement_fulfilment_rate", "96.5");
    metric(&l, "WJ02", "dispute_entry_rate", "90");
    metric(&l, "WJ02", "legal_consultations_entered", "60");
    metric(&l, "WJ01", "purchased_staff_ratio", "20");
    l.ok(&[
        "metric",
        "--station",
        "WJ01",
        "--metric",
        "purchased_staff_ratio",
        "--value",
        "35",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-30",
        "--evidence",
        EV,
    ]);
    l
}

const GAP_WJ01: &str = "WJ01 1.6.c: agreement_fulfilment_rate = 96.5 (would deduct 2)";
const GAP_WJ02: &str = "WJ02 1.1.a: dispute_entry_rate = 90 (would deduct 1)";

fn gap_json(station: &str, clause: &str, metric: &str, value: &str, points: &str) -> Value {
    json!({"station": station, "clause": clause, "metric": metric, "value": value,
        "points": points})
}

/// Close is refused (exit 1) while a standard is failed with no deduction; the message lists
/// station, clause, metric, value and points; a standard met (per kind, by the last recorded
/// figure) is no gap.
#[test]
fn close_is_refused_with_the_list_of_gaps() {
    let l = gapped();
    let err = close_refused(&l, &[], 1);
    assert_contains(&err, "2 standard(s) are failed");
    assert_contains(&err, GAP_WJ01);
    assert_contains(&err, GAP_WJ02);
    assert!(
        !err.contains("2.2.a"),
        "subdistrict threshold 50 is met: {err}"
    );
    assert!(
        !err.contains("1.5.a"),
        "the last recorded 35 meets 30: {err}"
    );
    let err = close_refused(&l, &["--json"], 1);
    assert_contains(&err, GAP_WJ02);

    // A town at 60 fails 2.2.a (town threshold 100): it would deduct the range's least, 0.5.
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "洛阳司法所",
        "--kind",
        "town",
    ]);
    metric(&l, "WJ03", "legal_consultations_entered", "60");
    let err = close_refused(&l, &[], 1);
    assert_contains(&err, "3 standard(s) are failed");
    assert_contains(
        &err,
        "WJ03 2.2.a: legal_consultations_entered = 60 (would deduct 0.5)",
    );
}

/// A deduction recorded under the clause closes a gap; reversing it opens the gap again; a
/// later report that meets the standard closes it too.
#[test]
fn a_recorded_deduction_closes_a_gap_and_its_reversal_reopens_it() {
    let l = gapped();
    l.ok(&[
        "record",
        "--id",
        "D-1.6.c",
        "--clause",
        "1.6.c",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-27",
        "--value",
        "96.5",
        "--evidence",
        EV,
    ]);
    let err = close_refused(&l, &[], 1);
    assert_contains(&err, "1 standard(s) are failed");
    assert!(!err.contains("WJ01"), "{err}");
    assert_contains(&err, GAP_WJ02);
    l.ok(&[
        "record",
        "--id",
        "D-1.1.a",
        "--clause",
        "1.1.a",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-12-27",
        "--value",
        "90",
        "--evidence",
        EV,
    ]);
    l.ok(&[
        "reverse",
        "D-1.6.c",
        "--by",
        "基层科",
        "--reason",
        "录入错误：应记入其他司法所",
        "--evidence",
        "更正说明",
    ]);
    // The reversed record does not count: WJ01's gap is back, WJ02's is closed.
    let err = close_refused(&l, &[], 1);
    assert_contains(&err, "1 standard(s) are failed");
    assert_contains(&err, GAP_WJ01);
    assert!(!err.contains("WJ02"), "{err}");
    // A later report meeting the standard leaves nothing to deduct.
    metric(&l, "WJ01", "agreement_fulfilment_rate", "98");
    let v = close_json(&l, &[]);
    assert_eq!(v["accepted_gaps"], json!([]));
    assert_eq!(v["reason"], Value::Null);
    // WJ02 100 − 1 (1.1.a).
    assert_eq!(field(&scores_in(&l, &[])["WJ02"], "total"), dec("99"));
    verified_head(&l);
}

/// `--accept-gaps --reason` closes despite gaps; the closing event (in `export`, `log --json`
/// and `close --json`) keeps the gaps and the reason; the gaps deduct nothing.
#[test]
fn accepted_gaps_and_their_reason_are_kept_by_the_closing_event() {
    let l = gapped();
    let v = close_json(&l, &["--accept-gaps", "--reason", GAP_REASON]);
    let gaps = json!([
        gap_json("WJ01", "1.6.c", "agreement_fulfilment_rate", "96.5", "2"),
        gap_json("WJ02", "1.1.a", "dispute_entry_rate", "90", "1"),
    ]);
    assert_eq!(v["accepted_gaps"], gaps);
    assert_eq!(v["reason"], GAP_REASON);
    let seq = v["seq"].as_u64().unwrap();
    let events = export_json(&l);
    assert_eq!(events.len() as u64, seq + 1, "the closing event is last");
    let closing = &events[seq as usize];
    assert_eq!(closing["type"], "period_closed");
    assert_eq!(closing["accepted_gaps"], gaps);
    assert_eq!(closing["reason"], GAP_REASON);
    let logged: Vec<Value> = l
        .ok(&["log", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("log line is JSON"))
        .collect();
    let closing = logged
        .iter()
        .find(|e| e["type"] == "period_closed")
        .expect("the closing event in the log");
    assert_eq!(closing["accepted_gaps"], gaps);
    assert_eq!(closing["reason"], GAP_REASON);
    // Accepted gaps deduct nothing.
    let scores = scores_in(&l, &[]);
    assert_eq!(field(&scores["WJ01"], "total"), dec("100"));
    assert_eq!(field(&scores["WJ02"], "total"), dec("100"));
    // The text output tells the gaps and the reason.
    let text = {
        let l2 = gapped();
        l2.ok(&["close", "--accept-gaps", "--reason", GAP_REASON])
    };
    assert_contains(&text, &format!("accepted gaps (2): {GAP_REASON}"));
    assert_contains(&text, GAP_WJ01);
    verified_head(&l);
}

/// With no gaps, `--accept-gaps --reason` closes with no accepted gaps and no reason.
#[test]
fn accept_gaps_without_gaps_keeps_no_reason() {
    let l = small();
    let v = close_json(&l, &["--accept-gaps", "--reason", GAP_REASON]);
    assert_eq!(v["accepted_gaps"], json!([]));
    assert_eq!(v["reason"], Value::Null);
    let events = export_json(&l);
    let closing = events.last().unwrap();
    assert_eq!(closing["accepted_gaps"], json!([]));
    assert_eq!(closing["reason"], Value::Null);
    verified_head(&l);
}

// ---------------------------------------------------------------------------------------------
// 5. Forgeries in an export, re-chained so that every hash links.

fn body_of(line: &str) -> Body {
    let v: Value = serde_json::from_str(line).unwrap();
    codec::decode(&hex::decode(v["body"].as_str().unwrap()).unwrap()).unwrap()
}

fn hash_of(line: &str) -> [u8; 32] {
    let v: Value = serde_json::from_str(line).unwrap();
    chain::parse_hash(v["hash"].as_str().unwrap()).unwrap()
}

/// Re-encodes every line from `from` on, with seq = its place, each linked to the line before.
fn rechain(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 {
        GENESIS_PREV
    } else {
        hash_of(&lines[from - 1])
    };
    for (i, line) in lines.iter_mut().enumerate().skip(from) {
        let mut body = body_of(line);
        let Body::V1(e) = &mut body else {
            unreachable!("an unsigned event")
        };
        e.seq = i as u64;
        // A careful forger renumbers the ids the ledger assigned (`auto-<seq>`) too: the audit
        // refuses one that is not its event's seq.
        if let EventKind::PointsRecorded(p) = &mut e.kind {
            if p.id.starts_with("auto-") {
                p.id = format!("auto-{i}");
            }
        }
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        *line = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
        prev = hash;
    }
}

/// Edits the event of line `i` and re-chains from it.
fn edit(lines: &mut [String], i: usize, f: impl FnOnce(&mut EventKind)) {
    let mut body = body_of(&lines[i]);
    let Body::V1(e) = &mut body else {
        unreachable!("an unsigned event")
    };
    f(&mut e.kind);
    // Placeholder hashes: `rechain` re-links the line from its body.
    lines[i] = kaohe::ops::export::line(&body, &codec::encode(&body).unwrap(), &[0; 32], &[0; 32]);
    rechain(lines, i);
}

/// Inserts an event at line `i` (recorded when the line before it was) and re-chains.
fn insert(lines: &mut Vec<String>, i: usize, kind: EventKind) {
    let at = body_of(&lines[i - 1]).v1().recorded_at_us;
    let body = Body::V1(EventV1 {
        seq: i as u64,
        recorded_at_us: at,
        kind,
    });
    lines.insert(
        i,
        kaohe::ops::export::line(&body, &codec::encode(&body).unwrap(), &[0; 32], &[0; 32]),
    );
    rechain(lines, i);
}

fn points_mut(kind: &mut EventKind) -> &mut PointsRecorded {
    match kind {
        EventKind::PointsRecorded(p) => p,
        other => panic!("not a record: {other:?}"),
    }
}

fn closed_mut(kind: &mut EventKind) -> &mut PeriodClosed {
    match kind {
        EventKind::PeriodClosed(c) => c,
        other => panic!("not the closing event: {other:?}"),
    }
}

fn run_verify_export(lines: &[String]) -> Output {
    let l = TestLedger::empty();
    let file = l.path("export.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&file, text).expect("write export");
    l.run(&["verify", "--export", file.to_str().unwrap(), "--json"])
}

/// `verify --export` fails (exit 1) naming `seq` as the first bad one.
#[track_caller]
fn assert_forgery_at(lines: &[String], seq: u64, what: &str) -> String {
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
fn assert_verifies(lines: &[String], what: &str) {
    let out = run_verify_export(lines);
    assert_eq!(out.code, 0, "{what}: {}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["events"], lines.len() as u64, "{what}");
}

/// The exports of the bundled year closed (made once).
struct Exports {
    /// Before the close (seqs 0–369).
    open: Vec<String>,
    /// After it (bonuses 370–375, closing event 376).
    closed: Vec<String>,
}

fn exports() -> &'static Exports {
    static EXPORTS: OnceLock<Exports> = OnceLock::new();
    EXPORTS.get_or_init(|| {
        let l = fixture_ledger();
        let open: Vec<String> = l.ok(&["export"]).lines().map(str::to_string).collect();
        l.ok(&["close"]);
        let closed: Vec<String> = l.ok(&["export"]).lines().map(str::to_string).collect();
        assert_eq!(open.len() as u64, FIXTURE_LAST + 1);
        assert_eq!(closed.len() as u64, FIXTURE_CLOSE + 1);
        assert_eq!(closed[..open.len()], open[..]);
        Exports { open, closed }
    })
}

fn closed_lines() -> Vec<String> {
    exports().closed.clone()
}

/// The line of the bonus for `station`.
fn bonus_line(lines: &[String], station: &str) -> usize {
    lines
        .iter()
        .position(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["clause"] == "B.6.a" && v["station"] == station
        })
        .unwrap_or_else(|| panic!("no bonus for {station}"))
}

/// A rank bonus as close would write it for (station, value, place, points).
fn rank_bonus(id: &str, station: &str, value: &str, rank: u32, points: &str) -> EventKind {
    EventKind::PointsRecorded(PointsRecorded {
        id: id.into(),
        station: station.into(),
        clause: "B.6.a".into(),
        inputs: Inputs {
            value: Some(dec(value)),
            count: Some(rank),
            note: Some(format!("第{rank}名")),
            ..Inputs::default()
        },
        computed_points: dec(points),
        occurred: "2018-12-31".parse().unwrap(),
        by: "基层科".into(),
        evidence: vec![EV.into()],
    })
}

/// The untouched export verifies; the re-chaining helper itself changes nothing.
#[test]
fn the_untouched_closed_export_verifies_and_rechaining_changes_nothing() {
    let mut lines = closed_lines();
    assert_verifies(&lines, "untouched");
    rechain(&mut lines, 1);
    assert_eq!(lines, closed_lines());
}

/// A rank bonus with other points, figure, place, date or department is caught at its seq.
#[test]
fn a_rank_bonus_other_than_the_ranking_gives_is_caught_at_its_seq() {
    let i = bonus_line(&closed_lines(), "WJ04");
    assert_eq!(i, 373);
    type Edit = Box<dyn Fn(&mut PointsRecorded)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("points 0.5 → 1", Box::new(|p| p.computed_points = dec("1"))),
        (
            "points 0.5 → 0.4",
            Box::new(|p| p.computed_points = dec("0.4")),
        ),
        (
            "value 11.2 → 11.3",
            Box::new(|p| p.inputs.value = Some(dec("11.3"))),
        ),
        ("no value", Box::new(|p| p.inputs.value = None)),
        ("place 4 → 3", Box::new(|p| p.inputs.count = Some(3))),
        (
            "dated 2018-12-30",
            Box::new(|p| p.occurred = "2018-12-30".parse().unwrap()),
        ),
        ("by 公律科", Box::new(|p| p.by = "公律科".into())),
    ];
    for (what, f) in cases {
        let mut lines = closed_lines();
        edit(&mut lines, i, |k| f(points_mut(k)));
        assert_forgery_at(&lines, i as u64, what);
    }
}

/// A rank bonus for a station the ranking does not entitle (7th place, not qualified, or a
/// second bonus for a ranked one) is caught at its seq.
#[test]
fn a_rank_bonus_for_a_station_not_entitled_is_caught_at_its_seq() {
    // WJ03's bonus (6th) given to WJ02 (7th) instead.
    let mut lines = closed_lines();
    let i = bonus_line(&lines, "WJ03");
    edit(&mut lines, i, |k| {
        let p = points_mut(k);
        p.station = "WJ02".into();
        p.inputs.value = Some(dec("9.8"));
    });
    let problem = assert_forgery_at(&lines, i as u64, "WJ03's bonus to WJ02");
    assert_contains(&problem, "WJ02");
    // An extra bonus before the closing event: WJ02 7th, WJ14 (7.9 per mediator, not
    // qualified), WJ10 (no reports), WJ12 again.
    for (what, kind) in [
        ("WJ02 7th", rank_bonus("X1", "WJ02", "9.8", 7, "0.5")),
        (
            "WJ14 unqualified",
            rank_bonus("X1", "WJ14", "7.9", 7, "0.5"),
        ),
        ("WJ10 no reports", rank_bonus("X1", "WJ10", "0", 7, "0.5")),
        ("WJ12 twice", rank_bonus("X1", "WJ12", "13.5", 1, "1")),
    ] {
        let mut lines = closed_lines();
        insert(&mut lines, FIXTURE_CLOSE as usize, kind);
        assert_forgery_at(&lines, FIXTURE_CLOSE, what);
    }
}

/// A bonus the ranking gives but missing before the closing event (one dropped, or all) is
/// caught at the closing event.
#[test]
fn a_missing_rank_bonus_is_caught_at_the_closing_event() {
    for station in ["WJ12", "WJ13", "WJ03"] {
        let mut lines = closed_lines();
        let i = bonus_line(&lines, station);
        lines.remove(i);
        rechain(&mut lines, i);
        let problem = assert_forgery_at(&lines, FIXTURE_CLOSE - 1, &format!("{station} dropped"));
        assert_contains(&problem, "rank bonuses");
    }
    let mut lines = closed_lines();
    lines.drain(370..376);
    rechain(&mut lines, 370);
    assert_eq!(lines.len(), 371);
    assert_forgery_at(&lines, 370, "every bonus dropped");
}

/// A closing event with a changed final score, ranking or head is caught at its seq.
#[test]
fn a_changed_closing_event_is_caught_at_its_seq() {
    let last = FIXTURE_CLOSE as usize;
    type Edit = Box<dyn Fn(&mut PeriodClosed)>;
    let head_after_bonuses = hash_of(&closed_lines()[last - 1]);
    let cases: Vec<(&str, Edit)> = vec![
        (
            "WJ01's total 108.2 → 107.2 (without its bonus)",
            Box::new(|c| c.scores[0].total = dec("107.2")),
        ),
        (
            "WJ07's total 75 → 76",
            Box::new(|c| c.scores[14].total = dec("76")),
        ),
        ("WJ12's rank 2 → 1", Box::new(|c| c.scores[1].rank = 1)),
        (
            "a station's score dropped",
            Box::new(|c| {
                c.scores.pop();
            }),
        ),
        (
            "WJ03's figure in the ranking",
            Box::new(|c| c.rankings[0].entries[5].value = dec("10.5")),
        ),
        (
            "WJ04's place in the ranking",
            Box::new(|c| c.rankings[0].entries[3].rank = 3),
        ),
        (
            "WJ04's points in the ranking",
            Box::new(|c| c.rankings[0].entries[3].points = dec("1")),
        ),
        (
            "qualified 11 → 12",
            Box::new(|c| c.rankings[0].qualified = 12),
        ),
        (
            "the 6th place dropped from the ranking",
            Box::new(|c| {
                c.rankings[0].entries.pop();
            }),
        ),
        ("no ranking", Box::new(|c| c.rankings.clear())),
        (
            "head = the head after the bonuses",
            Box::new(move |c| c.head = head_after_bonuses),
        ),
        ("head zeroed", Box::new(|c| c.head = [0; 32])),
        (
            "an accepted gap that is none",
            Box::new(|c| {
                c.accepted_gaps.push(Gap {
                    station: "WJ01".into(),
                    clause: "1.1.a".into(),
                    metric: "dispute_entry_rate".into(),
                    value: dec("99"),
                    points: dec("1"),
                });
                c.reason = Some(GAP_REASON.into());
            }),
        ),
        (
            "a reason without gaps",
            Box::new(|c| c.reason = Some(GAP_REASON.into())),
        ),
    ];
    for (what, f) in cases {
        let mut lines = closed_lines();
        edit(&mut lines, last, |k| f(closed_mut(k)));
        assert_forgery_at(&lines, FIXTURE_CLOSE, what);
    }
}

/// On a close with accepted gaps, a dropped, changed or unexplained gap in the closing event is
/// caught at its seq.
#[test]
fn a_changed_accepted_gap_is_caught_at_the_closing_event() {
    let l = gapped();
    l.ok(&["close", "--accept-gaps", "--reason", GAP_REASON]);
    let lines: Vec<String> = l.ok(&["export"]).lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    assert_verifies(&lines, "untouched");
    type Edit = Box<dyn Fn(&mut PeriodClosed)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "WJ02's gap dropped",
            Box::new(|c| {
                c.accepted_gaps.pop();
            }),
        ),
        (
            "WJ01's gap dropped",
            Box::new(|c| {
                c.accepted_gaps.remove(0);
            }),
        ),
        ("every gap dropped", Box::new(|c| c.accepted_gaps.clear())),
        (
            "gaps dropped with the reason",
            Box::new(|c| {
                c.accepted_gaps.clear();
                c.reason = None;
            }),
        ),
        ("no reason", Box::new(|c| c.reason = None)),
        ("a blank reason", Box::new(|c| c.reason = Some("  ".into()))),
        (
            "WJ01's value 96.5 → 97.5",
            Box::new(|c| c.accepted_gaps[0].value = dec("97.5")),
        ),
        (
            "WJ01's points 2 → 1",
            Box::new(|c| c.accepted_gaps[0].points = dec("1")),
        ),
        (
            "the gaps in another order",
            Box::new(|c| c.accepted_gaps.swap(0, 1)),
        ),
    ];
    for (what, f) in cases {
        let mut lines = lines.clone();
        edit(&mut lines, last, |k| f(closed_mut(k)));
        assert_forgery_at(&lines, last as u64, what);
    }
    // Another reason is the bureau's word: it is not checked against anything.
    let mut other = lines.clone();
    edit(&mut other, last, |k| {
        closed_mut(k).reason = Some("另一理由".into())
    });
    assert_verifies(&other, "another reason");
}

/// Any event after the closing event is caught at its seq.
#[test]
fn an_event_after_the_closing_event_is_caught_at_its_seq() {
    let after = FIXTURE_CLOSE as usize + 1;
    let metric = EventKind::MetricReported(MetricReported {
        id: "M-late".into(),
        station: "WJ01".into(),
        metric: "dispute_entry_rate".into(),
        value: dec("100"),
        occurred: "2018-12-28".parse().unwrap(),
        by: "基层科".into(),
        evidence: vec![EV.into()],
    });
    let record = EventKind::PointsRecorded(PointsRecorded {
        id: "D-late".into(),
        station: "WJ10".into(),
        clause: "1.3.a".into(),
        inputs: Inputs::default(),
        computed_points: dec("3"),
        occurred: "2018-12-28".parse().unwrap(),
        by: "基层科".into(),
        evidence: vec![EV.into()],
    });
    let second_close = body_of(&closed_lines()[FIXTURE_CLOSE as usize])
        .kind()
        .clone();
    for (what, kind) in [
        ("a metric report", metric),
        ("a record", record),
        ("a second closing event", second_close),
        ("a rank bonus", rank_bonus("X1", "WJ12", "13.5", 1, "1")),
    ] {
        let mut lines = closed_lines();
        insert_at_end(&mut lines, kind);
        assert_eq!(lines.len(), after + 1);
        let problem = assert_forgery_at(&lines, after as u64, what);
        assert_contains(&problem, &format!("closed at seq {FIXTURE_CLOSE}"));
    }
}

/// Appends an event after the last line.
fn insert_at_end(lines: &mut Vec<String>, kind: EventKind) {
    let end = lines.len();
    insert(lines, end, kind);
}

/// A B.6.a record in the middle of the year that the ranking at that point does not give is
/// caught at its seq.
#[test]
fn a_manual_rank_bonus_in_the_year_is_caught_at_its_seq() {
    let open = &exports().open;
    // Early in the year nobody has reported: nobody is entitled.
    for i in [20usize, 200] {
        let mut lines = open.clone();
        insert(&mut lines, i, rank_bonus("B6X", "WJ12", "13.5", 1, "1"));
        assert_forgery_at(&lines, i as u64, &format!("B.6.a at seq {i}"));
    }
    // Dated in the middle of the year, after every report.
    let mut lines = open.clone();
    let i = FIXTURE_LAST as usize;
    insert(&mut lines, i, {
        let mut k = rank_bonus("B6X", "WJ12", "13.5", 1, "1");
        points_mut(&mut k).occurred = "2018-07-01".parse().unwrap();
        k
    });
    assert_forgery_at(&lines, i as u64, "B.6.a dated mid-year");
}

/// Every mediation report of the fixture comes before its last line (seq 369).
fn reports_before_last_line(open: &[String]) {
    let last_report = open
        .iter()
        .rposition(|l| l.contains("\"metric_reported\""))
        .unwrap();
    assert!(last_report < FIXTURE_LAST as usize, "{last_report}");
}

/// A B.6.a record exactly as the ranking of the latest reports gives it, but followed by an
/// ordinary event instead of the rest of a close, is itself the forged event.
/// Regression: the audit blamed the ordinary event after the bonus.
#[test]
fn a_manual_rank_bonus_matching_the_ranking_is_caught_at_its_own_seq() {
    let open = &exports().open;
    reports_before_last_line(open);
    let mut lines = open.clone();
    let i = FIXTURE_LAST as usize;
    insert(&mut lines, i, rank_bonus("B6X", "WJ12", "13.5", 1, "1"));
    // The bonus is at seq 369, the fixture's last record D101 follows at 370.
    assert_forgery_at(
        &lines,
        i as u64,
        "a matching B.6.a before an ordinary record",
    );
}

/// A B.6.a record exactly as the ranking gives it at the end of an export with no closing
/// event after it is not part of a close, and is caught.
/// Regression: nothing checked at the end that a close had finished.
#[test]
fn a_rank_bonus_without_a_closing_event_is_caught() {
    let mut lines = exports().open.clone();
    insert_at_end(&mut lines, rank_bonus("B6X", "WJ12", "13.5", 1, "1"));
    assert_forgery_at(&lines, FIXTURE_LAST + 1, "a dangling B.6.a");
    // So is a close cut off before its closing event.
    let mut lines = closed_lines();
    lines.pop();
    assert_forgery_at(
        &lines,
        FIXTURE_LAST + 1,
        "a close without its closing event",
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Closing before the period ends.

/// Closing before the period's last day either is refused with nothing written, or leaves a
/// ledger that verifies: close must never write what verify rejects.
/// Regression: close wrote bonuses dated in the future; it is now refused before the last day.
#[test]
fn a_close_before_the_period_ends_never_writes_an_unverifiable_ledger() {
    let l = TestLedger::with_stations_at("2018-12-20T02:00:00Z");
    import_ok(&l, &mediation_lines("WJ01", "12", "20"));
    let before = l.ok(&["export"]);
    let out = l.run(&["close", "--json"]);
    if out.code == 0 {
        verified_head(&l);
        let file = l.path("closed.jsonl");
        std::fs::write(&file, l.ok(&["export"])).unwrap();
        l.ok(&["verify", "--export", file.to_str().unwrap()]);
    } else {
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert_eq!(l.ok(&["export"]), before, "a refused close wrote something");
    }
}
