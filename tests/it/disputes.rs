//! Disputes under property tests and tampering: the tally, aggregates and explain agree with a
//! replay in every view, and verify catches forged appeals, decisions and reversals.
//!
//! - Random ledgers (stations, deductions, bonuses, then appeals, decisions of all three
//!   outcomes, re-appeals and reversals, in several commits with an advancing clock) are scored
//!   at every seq and in random valid-time and known-at views: the tally, the replay fold and
//!   a naive model written here agree; `explain` tells the same story, event by event; the
//!   write path refuses what the rules forbid; `verify` passes on the store and on its export.
//! - Forged disputes, re-chained into an export so that every hash links, are caught by
//!   `export::verify` at their seq.
//! - Damage to the `Dispute` index, to dispute rows of the tally, to an aggregate or to a
//!   posting of a dispute is caught by `verify::ledger`.

use jiff::civil::Date;
use jiff::Timestamp;
use kaohe::internals::domain::command::parse_line;
use kaohe::internals::domain::projection::{Scores, StationScore};
use kaohe::internals::events::chain;
use kaohe::internals::events::codec;
use kaohe::internals::events::event::*;
use kaohe::internals::ledger::query::{Query, View};
use kaohe::internals::ledger::{Ledger, LedgerError, Numbered, Outcome};
use kaohe::internals::store::{Index, Log, Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` is not a timestamp: {e}"))
}

fn rubric_2018() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    // The generators know nothing of format 2's conditions (tests/it/conditions.rs).
    TEXT.get_or_init(crate::harness::rubric_2018_format1)
}

/// The local day (UTC+8) of a moment, worked out here rather than with kaohe's helper.
fn local_day(t: Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

fn day_after(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).expect("date")
}

/// Days from `a` to `b` (b ≥ a).
fn days_between(a: Date, b: Date) -> i64 {
    i64::from((b - a).get_days())
}

/// The 2018 rubric's appeal window, from its text.
const WINDOW_DAYS: i64 = 15;
const BASE: &str = "100";
const BONUS_CAP: &str = "10";

// ---------------------------------------------------------------------------------------------
// The clauses used, typed in from the 2018 rubric's text (not from kaohe's rubric code).

#[derive(Debug, Clone, Copy)]
enum Rule {
    Fixed(&'static str),
    /// points per unit, at most this many units per station
    PerUnit(&'static str, Option<u32>),
    /// the assessor's points per unit, within min–max, with a note
    Range(&'static str, &'static str),
}

struct Clause {
    code: &'static str,
    item: &'static str,
    /// The department that records it (an alias is fine).
    by: &'static str,
    rule: Rule,
}

const CLAUSES: &[Clause] = &[
    Clause {
        code: "1.3.a",
        item: "1.3",
        by: "基层科",
        rule: Rule::Fixed("3"),
    },
    Clause {
        code: "1.3.b",
        item: "1.3",
        by: "基层科",
        rule: Rule::Fixed("1"),
    },
    Clause {
        code: "2.1.a",
        item: "2.1",
        by: "公律科",
        rule: Rule::Fixed("0.5"),
    },
    Clause {
        code: "3.1.c",
        item: "3.1",
        by: "社矫科",
        rule: Rule::Fixed("8"),
    },
    Clause {
        code: "B.1.a",
        item: "B.1",
        by: "宣教科",
        rule: Rule::Fixed("2"),
    },
    Clause {
        code: "B.3.a",
        item: "B.3",
        by: "办公室",
        rule: Rule::Fixed("1.5"),
    },
    Clause {
        code: "B.4.b",
        item: "B.4",
        by: "基层科",
        rule: Rule::Fixed("0.5"),
    },
    Clause {
        code: "1.2.a",
        item: "1.2",
        by: "基层科",
        rule: Rule::PerUnit("2", None),
    },
    Clause {
        code: "2.1.f",
        item: "2.1",
        by: "公律科",
        rule: Rule::PerUnit("0.1", None),
    },
    Clause {
        code: "5.1.b",
        item: "5.1",
        by: "政治处",
        rule: Rule::PerUnit("1", Some(3)),
    },
    Clause {
        code: "3.1.b",
        item: "3.1",
        by: "矫正科",
        rule: Rule::Range("2", "8"),
    },
    Clause {
        code: "3.2.a",
        item: "3.2",
        by: "社矫科",
        rule: Rule::Range("0.5", "2"),
    },
    Clause {
        code: "B.7.b",
        item: "B.7",
        by: "社矫科",
        rule: Rule::Range("0.1", "1"),
    },
    Clause {
        code: "B.8.a",
        item: "B.8",
        by: "社矫科",
        rule: Rule::Range("0.1", "1"),
    },
];

/// The items of the clauses above: points, and the departments that own them (may decide
/// their appeals and reverse their records; 矫正科 is an alias of 社矫科).
const ITEMS: &[(&str, &str, &[&str])] = &[
    ("1.2", "4", &["基层科"]),
    ("1.3", "3", &["基层科"]),
    ("2.1", "6", &["公律科"]),
    ("3.1", "7", &["社矫科", "矫正科"]),
    ("3.2", "6", &["社矫科", "矫正科"]),
    ("5.1", "7", &["政治处"]),
    ("B.1", "2", &["宣教科"]),
    ("B.3", "1.5", &["办公室"]),
    ("B.4", "1.5", &["办公室", "基层科"]),
    ("B.7", "1", &["社矫科", "矫正科"]),
    ("B.8", "1", &["社矫科", "矫正科"]),
];

const DEPARTMENTS: &[&str] = &[
    "基层科",
    "公律科",
    "法援科",
    "社矫科",
    "宣教科",
    "政治处",
    "办公室",
];

fn item_facts(item: &str) -> (Decimal, &'static [&'static str]) {
    let (_, points, owners) = ITEMS
        .iter()
        .find(|(i, _, _)| *i == item)
        .unwrap_or_else(|| panic!("item {item}"));
    (dec(points), owners)
}

fn owner(item: &str, choice: u32) -> &'static str {
    let (_, owners) = item_facts(item);
    owners[choice as usize % owners.len()]
}

fn non_owner(item: &str, choice: u32) -> &'static str {
    let (_, owners) = item_facts(item);
    let others: Vec<&str> = DEPARTMENTS
        .iter()
        .copied()
        .filter(|d| !owners.contains(d))
        .collect();
    others[choice as usize % others.len()]
}

const STATIONS: usize = 3;
const STATION_NAMES: [&str; STATIONS] = ["湖塘司法所", "南夏墅街道司法所", "牛塘司法所"];

fn station_code(s: usize) -> String {
    format!("S{s}")
}

/// `n / 10^scale` as a canonical decimal.
fn scaled(n: u64, scale: u32) -> Decimal {
    kaohe::internals::base::decimal::canonical(Decimal::from_i128_with_scale(i128::from(n), scale))
}

/// A decimal's value in hundredths (figures here have at most two places).
fn hundredths(d: Decimal) -> u64 {
    let h = (d * Decimal::from(100)).trunc();
    u64::try_from(h.mantissa() / 10i128.pow(h.scale())).expect("non-negative")
}

/// An assessor's choice in [min, max], in steps of 0.1.
fn choose(min: &str, max: &str, b: u32) -> Decimal {
    let (min, max) = (dec(min), dec(max));
    let steps = hundredths(max - min) / 10;
    kaohe::internals::base::decimal::canonical(min + scaled(u64::from(b) % (steps + 1), 1))
}

// ---------------------------------------------------------------------------------------------
// The model: what each event does, and the naive scores of any view.

#[derive(Debug, Clone)]
enum Effect {
    Genesis,
    Station {
        code: String,
        name: String,
        kind: StationKind,
    },
    Record {
        station: String,
        item: &'static str,
        bonus: bool,
        points: Decimal,
        occurred: Date,
    },
    /// An appeal, decision or reversal: the points that stand for `target` after it.
    Dispute {
        target: u64,
        after: Decimal,
    },
}

#[derive(Debug, Clone)]
struct ModelEvent {
    recorded_us: i64,
    effect: Effect,
}

#[derive(Debug, Default, Clone)]
struct Model {
    /// By seq.
    events: Vec<ModelEvent>,
}

impl Model {
    /// One past the last seq of a query's view.
    fn end(&self, q: &Query) -> u64 {
        let mut end = self.events.len() as u64;
        if let Some(n) = q.as_of_seq {
            end = end.min(n + 1);
        }
        if let Some(t) = q.known_at {
            let known = self
                .events
                .iter()
                .filter(|e| e.recorded_us <= t.as_microsecond())
                .count() as u64;
            end = end.min(known);
        }
        end
    }

    /// The points that stand for the record at `seq`, with the events before `end`.
    fn standing(&self, seq: u64, end: u64) -> Decimal {
        let Effect::Record { points, .. } = &self.events[seq as usize].effect else {
            panic!("seq {seq} is not a record");
        };
        let mut p = *points;
        for e in &self.events[seq as usize + 1..end as usize] {
            if let Effect::Dispute { target, after } = &e.effect {
                if *target == seq {
                    p = *after;
                }
            }
        }
        p
    }

    /// The number of dispute events of the record at `seq` before `end`.
    fn disputes(&self, seq: u64, end: u64) -> usize {
        self.events[..end as usize]
            .iter()
            .filter(|e| matches!(e.effect, Effect::Dispute { target, .. } if target == seq))
            .count()
    }

    /// The records in view: (seq, station, item, bonus, standing points).
    fn records(&self, end: u64, at: Option<Date>) -> Vec<(u64, &str, &'static str, bool, Decimal)> {
        self.events[..end as usize]
            .iter()
            .enumerate()
            .filter_map(|(seq, e)| match &e.effect {
                Effect::Record {
                    station,
                    item,
                    bonus,
                    occurred,
                    ..
                } if at.is_none_or(|d| *occurred <= d) => Some((
                    seq as u64,
                    station.as_str(),
                    *item,
                    *bonus,
                    self.standing(seq as u64, end),
                )),
                _ => None,
            })
            .collect()
    }

    /// The naive scores of a view.
    fn scores(&self, end: u64, at: Option<Date>) -> BTreeMap<String, Figures> {
        let zero = Decimal::ZERO;
        let mut out: BTreeMap<String, Figures> = BTreeMap::new();
        for e in &self.events[..end as usize] {
            if let Effect::Station { code, name, kind } = &e.effect {
                out.insert(
                    code.clone(),
                    Figures {
                        name: name.clone(),
                        kind: *kind,
                        total: zero,
                        deducted: zero,
                        awarded: zero,
                        raw_deducted: zero,
                        raw_awarded: zero,
                        awarded_before_cap: zero,
                        rank: 0,
                        items: BTreeMap::new(),
                    },
                );
            }
        }
        let mut raw: BTreeMap<(String, &str), (Decimal, Decimal, u32)> = BTreeMap::new();
        for (_, station, item, bonus, points) in self.records(end, at) {
            let r = raw.entry((station.to_string(), item)).or_default();
            if bonus {
                r.1 += points;
            } else {
                r.0 += points;
            }
            r.2 += 1;
        }
        for ((station, item), (d, a, n)) in raw {
            let f = out
                .get_mut(&station)
                .expect("records name registered stations");
            let (cap, _) = item_facts(item);
            let (ad, aa) = (d.min(cap), a.min(cap));
            f.deducted += ad;
            f.awarded_before_cap += aa;
            f.raw_deducted += d;
            f.raw_awarded += a;
            f.items.insert(item.to_string(), (ad, aa, d, a, n));
        }
        for f in out.values_mut() {
            f.awarded = f.awarded_before_cap.min(dec(BONUS_CAP));
            f.total = dec(BASE) - f.deducted + f.awarded;
        }
        let totals: Vec<Decimal> = out.values().map(|f| f.total).collect();
        for f in out.values_mut() {
            f.rank = 1 + totals.iter().filter(|t| **t > f.total).count() as u32;
        }
        out
    }
}

/// One station's figures, in a form both the model and kaohe's scores are brought to.
#[derive(Debug, PartialEq)]
struct Figures {
    name: String,
    kind: StationKind,
    total: Decimal,
    deducted: Decimal,
    awarded: Decimal,
    raw_deducted: Decimal,
    raw_awarded: Decimal,
    awarded_before_cap: Decimal,
    rank: u32,
    /// item → (applied deducted, applied awarded, raw deducted, raw awarded, records), for
    /// the items with records in view.
    items: BTreeMap<String, (Decimal, Decimal, Decimal, Decimal, u32)>,
}

/// kaohe's scores in the model's form; items without records must be all zero.
fn figures(scores: &[StationScore]) -> BTreeMap<String, Figures> {
    scores
        .iter()
        .map(|s| {
            let mut items = BTreeMap::new();
            for i in &s.items {
                if i.events == 0 {
                    assert!(
                        i.deducted.is_zero()
                            && i.awarded.is_zero()
                            && i.raw_deducted.is_zero()
                            && i.raw_awarded.is_zero(),
                        "{} item {} has figures without records",
                        s.station,
                        i.item
                    );
                    continue;
                }
                items.insert(
                    i.item.to_string(),
                    (
                        i.deducted,
                        i.awarded,
                        i.raw_deducted,
                        i.raw_awarded,
                        i.events,
                    ),
                );
            }
            let f = Figures {
                name: s.name.clone(),
                kind: s.kind,
                total: s.total,
                deducted: s.deducted,
                awarded: s.awarded,
                raw_deducted: s.raw_deducted,
                raw_awarded: s.raw_awarded,
                awarded_before_cap: s.awarded_before_cap,
                rank: s.rank,
                items,
            };
            (s.station.clone(), f)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generated steps and the plan they become.

#[derive(Debug, Clone)]
enum Op {
    Record {
        station: usize,
        clause: usize,
        a: u32,
        b: u32,
        day: u32,
        id: bool,
    },
    Appeal {
        pick: usize,
        by_seq: bool,
        id: bool,
    },
    Decide {
        pick: usize,
        /// 0 upheld, 1 partial, 2 rejected
        outcome: u8,
        frac: u32,
        by_seq: bool,
        dept: u32,
    },
    Reverse {
        pick: usize,
        by_seq: bool,
        id: bool,
        dept: u32,
    },
    /// The clock moves on by this many hours; a new commit starts.
    Tick(u32),
    /// An earlier command with an id (or a decision) sent again: nothing appended.
    Repeat(usize),
    /// A command the write path must refuse, sent alone after the commit so far.
    Refuse {
        pick: usize,
        what: u8,
        c: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..STATIONS, 0..CLAUSES.len(), any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>())
            .prop_map(|(station, clause, a, b, day, id)| Op::Record { station, clause, a, b, day, id }),
        4 => (any::<usize>(), any::<bool>(), any::<bool>())
            .prop_map(|(pick, by_seq, id)| Op::Appeal { pick, by_seq, id }),
        4 => (any::<usize>(), 0u8..3, any::<u32>(), any::<bool>(), any::<u32>())
            .prop_map(|(pick, outcome, frac, by_seq, dept)| Op::Decide { pick, outcome, frac, by_seq, dept }),
        1 => (any::<usize>(), any::<bool>(), any::<bool>(), any::<u32>())
            .prop_map(|(pick, by_seq, id, dept)| Op::Reverse { pick, by_seq, id, dept }),
        2 => prop_oneof![0u32..=6, 0u32..=300].prop_map(Op::Tick),
        1 => any::<usize>().prop_map(Op::Repeat),
        1 => (any::<usize>(), 0u8..10, any::<u32>()).prop_map(|(pick, what, c)| Op::Refuse { pick, what, c }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Appended(u64),
    Unchanged(u64),
}

#[derive(Debug, Clone)]
enum Step {
    Commit {
        now: Timestamp,
        lines: Vec<(String, Expect)>,
    },
    Refuse {
        now: Timestamp,
        line: String,
        field: &'static str,
    },
}

/// A record as the planner follows it.
#[derive(Debug, Clone)]
struct Rec {
    seq: u64,
    /// How commands name it: its id, or its seq.
    reference: String,
    station: usize,
    clause: usize,
    bonus: bool,
    original: Decimal,
    standing: Decimal,
    recorded: Timestamp,
    /// Units counted towards the clause's maximum.
    units: u32,
    /// The open appeal's seq and how to name it.
    open: Option<(u64, String)>,
    /// Decided appeals: seq, name.
    decided: Vec<(u64, String)>,
    removed: bool,
}

impl Rec {
    fn item(&self) -> &'static str {
        CLAUSES[self.clause].item
    }
}

const START: &str = "2018-03-01T01:00:00Z";
/// The clock is not moved past this (records must occur inside 2018).
const LATEST: &str = "2018-12-20T00:00:00Z";

struct Planner {
    now: Timestamp,
    model: Model,
    recs: Vec<Rec>,
    /// (station, clause) → units of a counted clause.
    units: BTreeMap<(usize, usize), u32>,
    /// Lines that may be sent again, with the seq they were appended as.
    repeatable: Vec<(String, u64)>,
    steps: Vec<Step>,
    batch: Vec<(String, Expect)>,
    /// Every commit's clock.
    clocks: Vec<Timestamp>,
}

impl Planner {
    fn new(kinds: &[StationKind]) -> Planner {
        let now = ts(START);
        let mut p = Planner {
            now,
            model: Model::default(),
            recs: Vec::new(),
            units: BTreeMap::new(),
            repeatable: Vec::new(),
            steps: Vec::new(),
            batch: Vec::new(),
            clocks: Vec::new(),
        };
        p.model.events.push(ModelEvent {
            recorded_us: now.as_microsecond(),
            effect: Effect::Genesis,
        });
        for (s, kind) in kinds.iter().enumerate() {
            let line = json!({
                "op": "station", "code": station_code(s), "name": STATION_NAMES[s],
                "kind": kind.as_str(),
            })
            .to_string();
            let seq = p.append(
                line.clone(),
                Effect::Station {
                    code: station_code(s),
                    name: STATION_NAMES[s].into(),
                    kind: *kind,
                },
            );
            p.repeatable.push((line, seq));
        }
        p
    }

    fn next_seq(&self) -> u64 {
        self.model.events.len() as u64
    }

    fn append(&mut self, line: String, effect: Effect) -> u64 {
        let seq = self.next_seq();
        self.model.events.push(ModelEvent {
            recorded_us: self.now.as_microsecond(),
            effect,
        });
        self.batch.push((line, Expect::Appended(seq)));
        seq
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.clocks.push(self.now);
            self.steps.push(Step::Commit {
                now: self.now,
                lines: std::mem::take(&mut self.batch),
            });
        }
    }

    fn in_window(&self, r: &Rec) -> bool {
        local_day(self.now) <= day_after(local_day(r.recorded), WINDOW_DAYS)
    }

    /// A record removed by an upheld (or zero partial) decision or a reversal releases its
    /// counted units.
    fn remove(&mut self, i: usize) {
        let r = &mut self.recs[i];
        r.removed = true;
        r.standing = Decimal::ZERO;
        if r.units > 0 {
            let n = self.units.get_mut(&(r.station, r.clause)).expect("counted");
            *n -= r.units;
        }
    }

    fn pick(&self, pick: usize, ok: impl Fn(&Rec) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.recs.len())
            .filter(|&i| ok(&self.recs[i]))
            .collect();
        (!candidates.is_empty()).then(|| candidates[pick % candidates.len()])
    }

    fn record(&mut self, station: usize, clause: usize, a: u32, b: u32, day: u32, id: bool) {
        let c = &CLAUSES[clause];
        let today = local_day(self.now);
        let first = Date::new(2018, 1, 1).unwrap();
        let occurred = day_after(first, i64::from(day) % (days_between(first, today) + 1));
        let n = self.next_seq();
        let mut line = json!({
            "op": "record", "clause": c.code, "station": station_code(station), "by": c.by,
            "occurred": occurred.to_string(), "evidence": [format!("检查记录{n}")],
        });
        let o = line.as_object_mut().unwrap();
        let mut units = 0;
        let points = match c.rule {
            Rule::Fixed(p) => {
                if a.is_multiple_of(3) {
                    o.insert("count".into(), json!(1));
                }
                if b.is_multiple_of(3) {
                    o.insert("points".into(), json!(p));
                }
                dec(p)
            }
            Rule::PerUnit(p, max) => {
                let mut count = 1 + a % 4;
                if let Some(max) = max {
                    let used = self.units.get(&(station, clause)).copied().unwrap_or(0);
                    if used >= max {
                        return;
                    }
                    count = count.min(max - used);
                    *self.units.entry((station, clause)).or_default() += count;
                    units = count;
                }
                if count > 1 || b.is_multiple_of(2) {
                    o.insert("count".into(), json!(count));
                }
                if b.is_multiple_of(3) {
                    o.insert("points".into(), json!(p));
                }
                dec(p) * Decimal::from(count)
            }
            Rule::Range(min, max) => {
                let count = 1 + a % 3;
                if count > 1 || b.is_multiple_of(2) {
                    o.insert("count".into(), json!(count));
                }
                let chosen = choose(min, max, b);
                o.insert("points".into(), json!(chosen.to_string()));
                o.insert("note".into(), json!(format!("视情扣分 {n}")));
                chosen * Decimal::from(count)
            }
        };
        let points = kaohe::internals::base::decimal::canonical(points);
        let reference = if id {
            let id = format!("D{n}");
            o.insert("id".into(), json!(id));
            id
        } else {
            n.to_string()
        };
        let line = line.to_string();
        let bonus = c.item.starts_with('B');
        let seq = self.append(
            line.clone(),
            Effect::Record {
                station: station_code(station),
                item: c.item,
                bonus,
                points,
                occurred,
            },
        );
        if id {
            self.repeatable.push((line, seq));
        }
        self.recs.push(Rec {
            seq,
            reference,
            station,
            clause,
            bonus,
            original: points,
            standing: points,
            recorded: self.now,
            units,
            open: None,
            decided: Vec::new(),
            removed: false,
        });
    }

    fn appeal_line(&self, r: &Rec, by_seq: bool, id: Option<String>, station: usize) -> String {
        let mut line = json!({
            "op": "appeal",
            "against": if by_seq { json!(r.seq) } else { json!(r.reference) },
            "station": station_code(station),
            "grounds": "扣分事实认定有误",
            "evidence": ["情况说明"],
        });
        if let Some(id) = id {
            line.as_object_mut().unwrap().insert("id".into(), json!(id));
        }
        line.to_string()
    }

    fn appeal(&mut self, pick: usize, by_seq: bool, id: bool) {
        let Some(i) = self.pick(pick, |r| {
            !r.bonus && !r.removed && r.open.is_none() && self.in_window(r)
        }) else {
            return;
        };
        let n = self.next_seq();
        let id = id.then(|| format!("A{n}"));
        let r = self.recs[i].clone();
        let line = self.appeal_line(&r, by_seq, id.clone(), r.station);
        let seq = self.append(
            line.clone(),
            Effect::Dispute {
                target: r.seq,
                after: r.standing,
            },
        );
        if id.is_some() {
            self.repeatable.push((line, seq));
        }
        self.recs[i].open = Some((seq, id.unwrap_or_else(|| seq.to_string())));
    }

    fn decide_line(
        appeal: Value,
        outcome: &str,
        points: Option<Decimal>,
        by: &str,
        reason: &str,
    ) -> String {
        let mut line = json!({
            "op": "decide", "appeal": appeal, "outcome": outcome, "by": by,
            "reason": reason, "evidence": ["复核意见书"],
        });
        if let Some(p) = points {
            line.as_object_mut()
                .unwrap()
                .insert("points".into(), json!(p.to_string()));
        }
        line.to_string()
    }

    fn decide(&mut self, pick: usize, outcome: u8, frac: u32, by_seq: bool, dept: u32) {
        let Some(i) = self.pick(pick, |r| r.open.is_some()) else {
            return;
        };
        let r = self.recs[i].clone();
        let (aseq, aname) = r.open.clone().expect("open");
        let appeal = if by_seq { json!(aseq) } else { json!(aname) };
        let by = owner(r.item(), dept);
        let (word, points, after) = match outcome {
            0 => ("upheld", None, Decimal::ZERO),
            1 => {
                let p = scaled(u64::from(frac) % (hundredths(r.original) + 1), 2);
                ("partial", Some(p), p)
            }
            _ => ("rejected", None, r.standing),
        };
        let line = Self::decide_line(appeal, word, points, by, "经复核");
        let seq = self.append(
            line.clone(),
            Effect::Dispute {
                target: r.seq,
                after,
            },
        );
        self.repeatable.push((line, seq));
        let rec = &mut self.recs[i];
        rec.open = None;
        rec.decided.push((aseq, aname));
        rec.standing = after;
        // Upheld, or partial with nothing left standing, removes the record.
        if outcome == 0 || after.is_zero() {
            self.remove(i);
        }
    }

    fn reverse_line(r: &Rec, by_seq: bool, id: Option<String>, by: &str, evidence: bool) -> String {
        let mut line = json!({
            "op": "reverse",
            "target": if by_seq { json!(r.seq.to_string()) } else { json!(r.reference) },
            "by": by, "reason": "录入错误",
        });
        let o = line.as_object_mut().unwrap();
        if let Some(id) = id {
            o.insert("id".into(), json!(id));
        }
        if evidence {
            o.insert("evidence".into(), json!(["更正说明"]));
        }
        line.to_string()
    }

    fn reverse(&mut self, pick: usize, by_seq: bool, id: bool, dept: u32) {
        let Some(i) = self.pick(pick, |r| !r.removed && r.open.is_none()) else {
            return;
        };
        let n = self.next_seq();
        let id = id.then(|| format!("R{n}"));
        let r = self.recs[i].clone();
        let line = Self::reverse_line(
            &r,
            by_seq,
            id.clone(),
            owner(r.item(), dept),
            dept.is_multiple_of(2),
        );
        let seq = self.append(
            line.clone(),
            Effect::Dispute {
                target: r.seq,
                after: Decimal::ZERO,
            },
        );
        if id.is_some() {
            self.repeatable.push((line, seq));
        }
        self.remove(i);
    }

    fn tick(&mut self, hours: u32) {
        self.flush();
        let later = self
            .now
            .checked_add(jiff::SignedDuration::from_hours(i64::from(hours)))
            .expect("time");
        if later <= ts(LATEST) {
            self.now = later;
        }
    }

    fn repeat(&mut self, pick: usize) {
        let (line, seq) = self.repeatable[pick % self.repeatable.len()].clone();
        self.batch.push((line, Expect::Unchanged(seq)));
    }

    /// A command the rules forbid, and the field the refusal must name.
    fn refuse(&mut self, pick: usize, what: u8, c: u32) {
        self.flush();
        let found: Option<(String, &'static str)> = match what {
            // an appeal after the window
            0 => self
                .pick(pick, |r| {
                    !r.bonus && !r.removed && r.open.is_none() && !self.in_window(r)
                })
                .map(|i| {
                    let r = &self.recs[i];
                    (
                        self.appeal_line(r, c.is_multiple_of(2), None, r.station),
                        "against",
                    )
                }),
            // an appeal against a bonus
            1 => self
                .pick(pick, |r| r.bonus && !r.removed && self.in_window(r))
                .map(|i| {
                    let r = &self.recs[i];
                    (
                        self.appeal_line(r, c.is_multiple_of(2), None, r.station),
                        "against",
                    )
                }),
            // an appeal against another station's deduction
            2 => self
                .pick(pick, |r| {
                    !r.bonus && !r.removed && r.open.is_none() && self.in_window(r)
                })
                .map(|i| {
                    let r = &self.recs[i];
                    let other = (r.station + 1 + c as usize % (STATIONS - 1)) % STATIONS;
                    (
                        self.appeal_line(r, c.is_multiple_of(2), None, other),
                        "station",
                    )
                }),
            // a second decision of a decided appeal
            3 => self.pick(pick, |r| !r.decided.is_empty()).map(|i| {
                let r = &self.recs[i];
                let (aseq, _) = &r.decided[c as usize % r.decided.len()];
                let line = Self::decide_line(
                    json!(aseq),
                    "rejected",
                    None,
                    owner(r.item(), c),
                    "再次复核",
                );
                (line, "appeal")
            }),
            // partial points outside 0..=original
            4 => self.pick(pick, |r| r.open.is_some()).map(|i| {
                let r = &self.recs[i];
                let (aseq, _) = r.open.as_ref().expect("open");
                let points = match c % 2 {
                    0 => r.original + dec("0.01"),
                    _ => dec("-0.5"),
                };
                let line = Self::decide_line(
                    json!(aseq),
                    "partial",
                    Some(points),
                    owner(r.item(), c),
                    "部分成立",
                );
                (line, "points")
            }),
            // a reversal of a record that counts for nothing already
            5 => self.pick(pick, |r| r.removed).map(|i| {
                let r = &self.recs[i];
                (
                    Self::reverse_line(r, c.is_multiple_of(2), None, owner(r.item(), c), true),
                    "target",
                )
            }),
            // a decision by a department that does not own the item
            6 => self.pick(pick, |r| r.open.is_some()).map(|i| {
                let r = &self.recs[i];
                let (aseq, _) = r.open.as_ref().expect("open");
                let line = Self::decide_line(
                    json!(aseq),
                    "upheld",
                    None,
                    non_owner(r.item(), c),
                    "越权复核",
                );
                (line, "by")
            }),
            // a second appeal while one is open
            7 => self.pick(pick, |r| r.open.is_some()).map(|i| {
                let r = &self.recs[i];
                (
                    self.appeal_line(r, c.is_multiple_of(2), None, r.station),
                    "against",
                )
            }),
            // a reversal while an appeal is open
            8 => self.pick(pick, |r| r.open.is_some()).map(|i| {
                let r = &self.recs[i];
                (
                    Self::reverse_line(r, c.is_multiple_of(2), None, owner(r.item(), c), true),
                    "target",
                )
            }),
            // a reversal by a department that does not own the item
            _ => self
                .pick(pick, |r| !r.removed && r.open.is_none())
                .map(|i| {
                    let r = &self.recs[i];
                    (
                        Self::reverse_line(
                            r,
                            c.is_multiple_of(2),
                            None,
                            non_owner(r.item(), c),
                            true,
                        ),
                        "by",
                    )
                }),
        };
        if let Some((line, field)) = found {
            self.steps.push(Step::Refuse {
                now: self.now,
                line,
                field,
            });
        }
    }
}

fn plan(ops: &[Op], kinds: &[StationKind]) -> Planner {
    let mut p = Planner::new(kinds);
    for op in ops {
        match *op {
            Op::Record {
                station,
                clause,
                a,
                b,
                day,
                id,
            } => p.record(station, clause, a, b, day, id),
            Op::Appeal { pick, by_seq, id } => p.appeal(pick, by_seq, id),
            Op::Decide {
                pick,
                outcome,
                frac,
                by_seq,
                dept,
            } => p.decide(pick, outcome, frac, by_seq, dept),
            Op::Reverse {
                pick,
                by_seq,
                id,
                dept,
            } => p.reverse(pick, by_seq, id, dept),
            Op::Tick(hours) => p.tick(hours),
            Op::Repeat(pick) => p.repeat(pick),
            Op::Refuse { pick, what, c } => p.refuse(pick, what, c),
        }
    }
    p.flush();
    p
}

// ---------------------------------------------------------------------------------------------
// Running a plan.

fn numbered(lines: &[&str]) -> Vec<Numbered> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| Numbered {
            line: Some(i + 1),
            command: parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}")),
        })
        .collect()
}

/// Applies the plan's steps to a new ledger at `path`, checking every outcome and refusal.
fn run_plan(path: &Path, steps: &[Step]) -> Ledger {
    Ledger::init(path, rubric_2018(), ts(START)).expect("init");
    let mut ledger = crate::props::open_ledger(path);
    for step in steps {
        match step {
            Step::Commit { now, lines } => {
                let text: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
                let outcomes = ledger
                    .apply(&numbered(&text), *now)
                    .unwrap_or_else(|e| panic!("refused at {now}: {e}\n{}", text.join("\n")));
                for ((line, want), got) in lines.iter().zip(&outcomes) {
                    let ok = match (want, got) {
                        (Expect::Appended(a), Outcome::Appended { seq }) => a == seq,
                        (Expect::Unchanged(a), Outcome::Unchanged { seq }) => a == seq,
                        _ => false,
                    };
                    assert!(ok, "{line}: expected {want:?}, got {got:?}");
                }
            }
            Step::Refuse { now, line, field } => {
                let before = ledger.head();
                match ledger.apply(&numbered(&[line.as_str()]), *now) {
                    Err(LedgerError::Refused {
                        field: f, message, ..
                    }) => {
                        assert_eq!(&f, field, "{line}: refused for {message}")
                    }
                    other => panic!("{line} should be refused on `{field}`: {other:?}"),
                }
                assert_eq!(ledger.head(), before, "a refusal writes nothing");
            }
        }
    }
    ledger
}

fn replayed<'r>(ledger: &'r Ledger, view: &View) -> Vec<StationScore<'r>> {
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay_view(view, |e| {
            fold.apply(e.body)?;
            Ok(true)
        })
        .expect("replay");
    fold.finish()
}

/// The tally, the replay and the model agree in the view of `q`.
fn check_view(ledger: &Ledger, model: &Model, q: &Query) -> Result<(), TestCaseError> {
    let view = ledger.view(q).expect("view");
    let end = model.end(q);
    prop_assert_eq!(view.end, end, "{:?}", q);
    let tallied = kaohe::internals::ledger::tally::scores(ledger, &view).expect("tally");
    let replayed = replayed(ledger, &view);
    prop_assert_eq!(
        format!("{tallied:?}"),
        format!("{replayed:?}"),
        "tally and replay in {:?}",
        q
    );
    prop_assert_eq!(
        figures(&replayed),
        model.scores(end, q.at),
        "model in {:?}",
        q
    );
    Ok(())
}

/// Explain for every station in the view of `q` agrees with the tally's score and with the
/// model, event by event.
fn check_explain(ledger: &Ledger, model: &Model, q: &Query) -> Result<(), TestCaseError> {
    let view = ledger.view(q).expect("view");
    let end = model.end(q);
    let scores = kaohe::internals::ledger::tally::scores(ledger, &view).expect("tally");
    let naive = model.scores(end, q.at);
    let records = model.records(end, q.at);
    for s in &scores {
        let x = kaohe::ops::explain::explain(ledger, &view, &s.station, None).expect("explain");
        prop_assert_eq!(
            format!("{:?}", x.score),
            format!("{s:?}"),
            "explain's score in {:?}",
            q
        );
        prop_assert_eq!(x.score.total, naive[&s.station].total);
        prop_assert_eq!(x.stations, scores.len());
        let mut seen = BTreeSet::new();
        for item in &x.items {
            let mut room = item_points_or_zero(item.item.code.as_str());
            let mut applied_sum = Decimal::ZERO;
            let mut stories: Vec<&kaohe::ops::explain::EventStory> =
                item.clauses.iter().flat_map(|c| c.events.iter()).collect();
            stories.sort_by_key(|e| e.seq);
            for e in stories {
                let standing = model.standing(e.seq, end);
                prop_assert_eq!(e.standing, standing, "standing of seq {} in {:?}", e.seq, q);
                let applied = standing.min(room);
                room -= applied;
                applied_sum += e.applied;
                prop_assert_eq!(e.applied, applied, "applied of seq {} in {:?}", e.seq, q);
                prop_assert_eq!(
                    e.disputes.len(),
                    model.disputes(e.seq, end),
                    "disputes of seq {}",
                    e.seq
                );
                if let Some(last) = e.disputes.last() {
                    prop_assert_eq!(last.after, standing);
                }
                seen.insert(e.seq);
            }
            let applied_item = if item.item.bonus {
                item.score.awarded
            } else {
                item.score.deducted
            };
            prop_assert_eq!(
                applied_sum,
                applied_item,
                "item {} in {:?}",
                item.item.code,
                q
            );
        }
        let want: BTreeSet<u64> = records
            .iter()
            .filter(|r| r.1 == s.station)
            .map(|r| r.0)
            .collect();
        prop_assert_eq!(seen, want, "{}'s records in {:?}", s.station, q);
    }
    Ok(())
}

/// An item's points; zero for items the generator never records (their stories are empty).
fn item_points_or_zero(item: &str) -> Decimal {
    ITEMS
        .iter()
        .find(|(i, _, _)| *i == item)
        .map_or(Decimal::ZERO, |(_, p, _)| dec(p))
}

fn export_lines(ledger: &Ledger) -> Vec<String> {
    let mut lines = Vec::new();
    ledger
        .replay_all(|e| {
            lines.push(kaohe::ops::export::line(
                e.body,
                e.bytes,
                e.prev_hash,
                e.hash,
            ));
            Ok(true)
        })
        .expect("replay");
    lines
}

fn verify_export(lines: &[String], head: Option<&Hash>) -> kaohe::ops::export::ExportReport {
    let mut text = lines.join("\n");
    text.push('\n');
    kaohe::ops::export::verify(std::io::Cursor::new(text.into_bytes()), head).expect("export reads")
}

/// `verify::ledger` on a ledger this process has just closed (sled may hold its lock a moment).
fn verify_store(path: &Path) -> kaohe::ops::verify::Report {
    for _ in 0..2000 {
        match kaohe::ops::verify::ledger(path, None) {
            Err(LedgerError::Store(StoreError::InUse(_))) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            other => return other.expect("verify runs"),
        }
    }
    panic!("{} stays in use", path.display())
}

fn station_kind() -> impl Strategy<Value = StationKind> {
    prop_oneof![Just(StationKind::Town), Just(StationKind::Subdistrict)]
}

proptest! {
    #![proptest_config(Config::with_cases(24))]

    /// Scores of every seq and of random valid-time and known-at views: tally = replay = model;
    /// explain agrees; verify passes on the store and on its export.
    #[test]
    fn prop_disputed_scores_agree_in_every_view(
        ops in prop::collection::vec(op(), 1..70),
        kinds in prop::collection::vec(station_kind(), STATIONS),
        at_days in prop::collection::vec(any::<u32>(), 3),
        cuts in prop::collection::vec(any::<u64>(), 3),
        known in prop::collection::vec(any::<u32>(), 3),
    ) {
        let planner = plan(&ops, &kinds);
        let model = &planner.model;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let ledger = run_plan(&path, &planner.steps);
        let end = ledger.head().next_seq;
        prop_assert_eq!(end, model.events.len() as u64);

        // every seq
        for n in 0..end {
            check_view(&ledger, model, &Query { as_of_seq: Some(n), ..Query::default() })?;
        }
        // valid-time views, alone and with a transaction-time cut
        let first = Date::new(2018, 1, 1).unwrap();
        let span = days_between(first, local_day(planner.now)) + 2;
        let ats: Vec<Date> = at_days
            .iter()
            .map(|d| day_after(first, i64::from(*d) % span))
            .collect();
        for (i, at) in ats.iter().enumerate() {
            check_view(&ledger, model, &Query { at: Some(*at), ..Query::default() })?;
            let cut = cuts[i] % end;
            check_view(&ledger, model, &Query { at: Some(*at), as_of_seq: Some(cut), known_at: None })?;
        }
        // known-at: every commit's clock, a moment before it, and random moments
        let start = ts(START);
        let mut instants: Vec<Timestamp> = Vec::new();
        for c in &planner.clocks {
            instants.push(*c);
            if *c > start {
                instants.push(c.checked_sub(jiff::SignedDuration::from_micros(1)).unwrap());
            }
        }
        let range = (planner.now.as_second() - start.as_second() + 7200) as u32;
        for k in &known {
            instants.push(Timestamp::from_second(start.as_second() + i64::from(k % range)).unwrap());
        }
        for (i, t) in instants.iter().enumerate() {
            let at = (i % 2 == 1).then(|| ats[i % ats.len()]);
            check_view(&ledger, model, &Query { known_at: Some(*t), at, as_of_seq: None })?;
        }

        // explain at the head and in past views
        check_explain(&ledger, model, &Query::default())?;
        check_explain(&ledger, model, &Query { as_of_seq: Some(cuts[0] % end), ..Query::default() })?;
        check_explain(&ledger, model, &Query { at: Some(ats[0]), ..Query::default() })?;
        let mid = planner.clocks[planner.clocks.len() / 2];
        check_explain(&ledger, model, &Query { known_at: Some(mid), at: Some(ats[1]), as_of_seq: None })?;

        // verify: the store, and its export against its head
        let lines = export_lines(&ledger);
        let head = ledger.head().hash;
        drop(ledger);
        let report = verify_store(&path);
        prop_assert_eq!(report.problem, None);
        prop_assert_eq!(report.events, end);
        let report = verify_export(&lines, Some(&head));
        prop_assert_eq!(report.problem, None);
        prop_assert_eq!(report.events, end);
        prop_assert_eq!(report.expected_head_at, Some(end - 1));
    }
}

/// The generator reaches what it is meant to: over a fixed set of seeds, every outcome, a
/// re-appeal after a rejection and after a partial decision, reversals, released units, late
/// appeals refused, and a good share of events in the disputes.
#[test]
fn the_generator_covers_every_kind_of_dispute() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (
        prop::collection::vec(op(), 1..70),
        prop::collection::vec(station_kind(), STATIONS),
    );
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for _ in 0..24 {
        let (ops, kinds) = strategy.new_tree(&mut runner).unwrap().current();
        let p = plan(&ops, &kinds);
        for step in &p.steps {
            match step {
                Step::Commit { lines, .. } => {
                    for (line, want) in lines {
                        let v: Value = serde_json::from_str(line).unwrap();
                        if matches!(want, Expect::Unchanged(_)) {
                            seen.insert("repeat");
                        }
                        match (v["op"].as_str().unwrap(), v["outcome"].as_str()) {
                            ("decide", Some("upheld")) => seen.insert("upheld"),
                            ("decide", Some("partial")) => seen.insert("partial"),
                            ("decide", Some("rejected")) => seen.insert("rejected"),
                            ("reverse", _) => seen.insert("reverse"),
                            _ => false,
                        };
                    }
                }
                Step::Refuse { field, .. } => {
                    seen.insert(*field);
                }
            }
        }
        for r in &p.recs {
            if r.decided.len() >= 2 || (r.decided.len() == 1 && r.open.is_some()) {
                seen.insert("re-appeal");
            }
            if r.removed && r.units > 0 {
                seen.insert("units released");
            }
        }
    }
    for want in [
        "upheld",
        "partial",
        "rejected",
        "reverse",
        "repeat",
        "re-appeal",
        "units released",
        "against",
        "station",
        "appeal",
        "points",
        "target",
        "by",
    ] {
        assert!(
            seen.contains(want),
            "never generated: {want} (saw {seen:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A fixed ledger with disputes, for forgeries and store damage.
//
// seq  0 genesis (2018-06-01T02:00Z)
//      1–3 stations WJ01 (town), WJ02 (subdistrict), WJ03 (town)
//      at 2018-06-10T15:30Z (local 06-10 23:30):
//      4 D1 WJ01 1.3.a 3 · 5 D2 WJ01 3.2.a 1.5 · 6 D3 WJ02 1.2.a ×2 = 4 · 7 B1 WJ01 B.1.a +2
//      8 D4 WJ02 1.3.b 1 · 9 D5 WJ01 2.1.a 0.5 · 10 M1 metric WJ01 · 11 D6 WJ03 5.1.b ×2 = 2
//      at 2018-06-12T02:00Z: 12 A1 → D1 · 13 A2 → D2 · 14 A3 → D3 · 15 A5 → D6
//      at 2018-06-14T02:00Z: 16 A1 partial 1 · 17 A2 rejected (by the alias 矫正科)
//      18 A3 upheld · 19 R1 reverses D4 · 20 A5 upheld (releases D6's two units)
//      at 2018-06-15T02:00Z: 21 A4 → D1 again (open) · 22 D7 WJ03 5.1.b ×3 (fits only
//      because D6's units were released)

const D1: u64 = 4;
const D2: u64 = 5;
const D3: u64 = 6;
const B1: u64 = 7;
const D4: u64 = 8;
const D5: u64 = 9;
const M1: u64 = 10;
const D6: u64 = 11;
const A1: u64 = 12;
const A2: u64 = 13;
const A3: u64 = 14;
const A1_DECIDED: u64 = 16;
const A2_DECIDED: u64 = 17;
const A3_DECIDED: u64 = 18;
const R1: u64 = 19;
const A4: u64 = 21;
const LAST: u64 = 22;
/// When the last commit was recorded.
const T4: &str = "2018-06-15T02:00:00Z";

fn scenario_commits() -> Vec<(&'static str, Vec<String>)> {
    let rec = |id: &str, clause: &str, station: &str, by: &str, extra: Value| {
        let mut v = json!({
            "op": "record", "id": id, "clause": clause, "station": station, "by": by,
            "occurred": "2018-06-05", "evidence": [format!("检查记录{id}")],
        });
        for (k, x) in extra.as_object().unwrap() {
            v.as_object_mut().unwrap().insert(k.clone(), x.clone());
        }
        v.to_string()
    };
    let appeal = |id: &str, against: &str, station: &str| {
        json!({"op": "appeal", "id": id, "against": against, "station": station,
               "grounds": "扣分事实认定有误", "evidence": ["情况说明"]})
        .to_string()
    };
    let decide = |appeal: &str, outcome: &str, points: Option<&str>, by: &str| {
        let mut v = json!({"op": "decide", "appeal": appeal, "outcome": outcome, "by": by,
                           "reason": "经复核", "evidence": ["复核意见书"]});
        if let Some(p) = points {
            v.as_object_mut().unwrap().insert("points".into(), json!(p));
        }
        v.to_string()
    };
    let station = |code: &str, kind: &str| {
        json!({"op": "station", "code": code, "name": format!("{code}司法所"), "kind": kind})
            .to_string()
    };
    vec![
        (
            "2018-06-01T02:00:00Z",
            vec![
                station("WJ01", "town"),
                station("WJ02", "subdistrict"),
                station("WJ03", "town"),
            ],
        ),
        (
            "2018-06-10T15:30:00Z",
            vec![
                rec("D1", "1.3.a", "WJ01", "基层科", json!({})),
                rec(
                    "D2",
                    "3.2.a",
                    "WJ01",
                    "社矫科",
                    json!({"points": "1.5", "note": "未按时报到"}),
                ),
                rec("D3", "1.2.a", "WJ02", "基层科", json!({"count": 2})),
                rec("B1", "B.1.a", "WJ01", "宣教科", json!({})),
                rec("D4", "1.3.b", "WJ02", "基层科", json!({})),
                rec("D5", "2.1.a", "WJ01", "公律科", json!({})),
                json!({"op": "metric", "id": "M1", "station": "WJ01",
                       "metric": "dispute_entry_rate", "value": "95", "by": "基层科",
                       "occurred": "2018-06-05", "evidence": ["统计表"]})
                .to_string(),
                rec("D6", "5.1.b", "WJ03", "政治处", json!({"count": 2})),
            ],
        ),
        (
            "2018-06-12T02:00:00Z",
            vec![
                appeal("A1", "D1", "WJ01"),
                appeal("A2", "D2", "WJ01"),
                appeal("A3", "D3", "WJ02"),
                appeal("A5", "D6", "WJ03"),
            ],
        ),
        (
            "2018-06-14T02:00:00Z",
            vec![
                decide("A1", "partial", Some("1"), "基层科"),
                decide("A2", "rejected", None, "矫正科"),
                decide("A3", "upheld", None, "基层科"),
                json!({"op": "reverse", "id": "R1", "target": "D4", "by": "基层科",
                       "reason": "录入错误：应记入其他司法所", "evidence": ["更正说明"]})
                .to_string(),
                decide("A5", "upheld", None, "政治处"),
            ],
        ),
        (
            T4,
            vec![
                appeal("A4", "D1", "WJ01"),
                rec("D7", "5.1.b", "WJ03", "政治处", json!({"count": 3})),
            ],
        ),
    ]
}

/// Builds the fixed ledger at `path` and returns it open.
fn scenario_at(path: &Path) -> Ledger {
    Ledger::init(path, rubric_2018(), ts("2018-06-01T02:00:00Z")).expect("init");
    let mut ledger = crate::props::open_ledger(path);
    for (now, lines) in scenario_commits() {
        let text: Vec<&str> = lines.iter().map(String::as_str).collect();
        ledger
            .apply(&numbered(&text), ts(now))
            .unwrap_or_else(|e| panic!("{now}: {e}"));
    }
    assert_eq!(ledger.head().next_seq, LAST + 1);
    ledger
}

struct ScenarioExport {
    lines: Vec<String>,
    head: Hash,
}

fn scenario_export() -> &'static ScenarioExport {
    static EXPORT: OnceLock<ScenarioExport> = OnceLock::new();
    EXPORT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ledger = scenario_at(&dir.path().join("ledger"));
        ScenarioExport {
            lines: export_lines(&ledger),
            head: ledger.head().hash,
        }
    })
}

fn body_of(line: &str) -> Body {
    let v: Value = serde_json::from_str(line).unwrap();
    codec::decode(&hex::decode(v["body"].as_str().unwrap()).unwrap()).unwrap()
}

/// The fixed ledger's events are where the comments above say, and score as worked out by
/// hand; the tally agrees with a replay at every seq; verify passes on the store and export.
#[test]
fn the_fixed_disputed_ledger_is_as_described() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = scenario_at(&path);
    let kind_at = |seq: u64| ledger.event(seq).unwrap().unwrap().kind().clone();
    for (seq, want) in [
        (D1, "points_recorded"),
        (B1, "points_recorded"),
        (M1, "metric_reported"),
        (D6, "points_recorded"),
        (A1, "appeal_filed"),
        (A3, "appeal_filed"),
        (A1_DECIDED, "appeal_decided"),
        (A3_DECIDED, "appeal_decided"),
        (R1, "record_reversed"),
        (A4, "appeal_filed"),
        (LAST, "points_recorded"),
    ] {
        assert_eq!(kind_at(seq).type_name(), want, "seq {seq}");
    }
    let EventKind::AppealDecided(d) = kind_at(A2_DECIDED) else {
        panic!()
    };
    assert_eq!(d.by, "社矫科", "the alias is stored by its canonical name");
    for n in 0..=LAST {
        let view = ledger
            .view(&Query {
                as_of_seq: Some(n),
                ..Query::default()
            })
            .unwrap();
        assert_eq!(
            format!(
                "{:?}",
                kaohe::internals::ledger::tally::scores(&ledger, &view).unwrap()
            ),
            format!("{:?}", replayed(&ledger, &view)),
            "as of seq {n}"
        );
    }
    let scores = kaohe::internals::ledger::tally::scores(&ledger, &View::all(&ledger)).unwrap();
    let total = |code: &str| scores.iter().find(|s| s.station == code).unwrap().total;
    // WJ01: D1 3 → 1 (partial), D2 1.5 (rejected), D5 0.5, B1 +2: 100 − 3 + 2.
    assert_eq!(total("WJ01"), dec("99"));
    // WJ02: D3 upheld, D4 reversed.
    assert_eq!(total("WJ02"), dec("100"));
    // WJ03: D6 upheld, D7 3.
    assert_eq!(total("WJ03"), dec("97"));
    // Before the decisions (as of A5's filing), every record counts as recorded.
    let before = ledger
        .view(&Query {
            as_of_seq: Some(15),
            ..Query::default()
        })
        .unwrap();
    let scores = kaohe::internals::ledger::tally::scores(&ledger, &before).unwrap();
    let total = |code: &str| scores.iter().find(|s| s.station == code).unwrap().total;
    assert_eq!(total("WJ01"), dec("97"));
    assert_eq!(total("WJ02"), dec("95"));
    assert_eq!(total("WJ03"), dec("98"));
    let lines = export_lines(&ledger);
    let head = ledger.head().hash;
    drop(ledger);
    assert_eq!(verify_store(&path).problem, None);
    assert_eq!(verify_export(&lines, Some(&head)).problem, None);
}

// ---------------------------------------------------------------------------------------------
// Forgeries in an export, re-chained so that every hash links.

/// Re-encodes the event of line `i` after `edit`, and re-chains it and every later line.
fn rechain_export(lines: &mut [String], i: usize, edit: impl FnOnce(&mut Body)) {
    let first: Value = serde_json::from_str(&lines[i]).unwrap();
    let mut prev = chain::parse_hash(first["prev_hash"].as_str().unwrap()).unwrap();
    let mut edit = Some(edit);
    for line in lines.iter_mut().skip(i) {
        let mut body = body_of(line);
        if let Some(edit) = edit.take() {
            edit(&mut body);
        }
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        *line = kaohe::ops::export::line(&body, &bytes, &prev, &hash);
        prev = hash;
    }
}

/// Appends events (chained to the last line) recorded at `at`.
fn append_export(lines: &mut Vec<String>, at: &str, kinds: Vec<EventKind>) {
    for kind in kinds {
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        let prev = chain::parse_hash(last["hash"].as_str().unwrap()).unwrap();
        let body = Body::V1(EventV1 {
            seq: lines.len() as u64,
            recorded_at_us: ts(at).as_microsecond(),
            kind,
        });
        let bytes = codec::encode(&body).unwrap();
        let hash = chain::link(&prev, &bytes);
        lines.push(kaohe::ops::export::line(&body, &bytes, &prev, &hash));
    }
}

/// `export::verify` names `seq` as the first bad event, with and without the original head.
fn assert_forgery_at(lines: &[String], seq: u64, what: &str) {
    for head in [None, Some(&scenario_export().head)] {
        let report = verify_export(lines, head);
        let p = report
            .problem
            .unwrap_or_else(|| panic!("{what}: export verifies (head {head:?})"));
        assert_eq!(p.seq, seq, "{what}: {}", p.message);
        assert_eq!(p.line, seq as usize + 1, "{what}");
    }
}

fn assert_verifies(lines: &[String], what: &str) {
    let report = verify_export(lines, Some(&scenario_export().head));
    assert_eq!(report.problem, None, "{what}");
    assert_eq!(report.events, lines.len() as u64, "{what}");
}

fn decided_mut(body: &mut Body) -> &mut AppealDecided {
    let Body::V1(e) = body else {
        unreachable!("an unsigned event")
    };
    match &mut e.kind {
        EventKind::AppealDecided(d) => d,
        other => panic!("not a decision: {other:?}"),
    }
}

fn filed(id: &str, against: u64, station: &str) -> EventKind {
    EventKind::AppealFiled(AppealFiled {
        id: id.into(),
        against,
        station: station.into(),
        grounds: "扣分事实认定有误".into(),
        evidence: vec!["情况说明".into()],
    })
}

fn decided(
    appeal: &str,
    appeal_seq: u64,
    against: u64,
    station: &str,
    outcome: AppealOutcome,
    by: &str,
) -> EventKind {
    EventKind::AppealDecided(AppealDecided {
        appeal: appeal.into(),
        appeal_seq,
        against,
        station: station.into(),
        outcome,
        by: by.into(),
        reason: "经复核".into(),
        evidence: vec!["复核意见书".into()],
    })
}

fn reversed(id: &str, target: u64, station: &str, by: &str) -> EventKind {
    EventKind::RecordReversed(RecordReversed {
        id: id.into(),
        target,
        station: station.into(),
        by: by.into(),
        reason: "录入错误".into(),
        evidence: vec!["更正说明".into()],
    })
}

#[test]
fn untouched_scenario_export_and_valid_appended_disputes_verify() {
    assert_verifies(&scenario_export().lines, "untouched");
    let cases: Vec<(&str, &str, Vec<EventKind>)> = vec![
        (
            "A4 decided by the owner",
            T4,
            vec![decided(
                "A4",
                A4,
                D1,
                "WJ01",
                AppealOutcome::Upheld,
                "基层科",
            )],
        ),
        (
            "an appeal of D5 on the last day of its window (local time)",
            "2018-06-25T15:59:59Z",
            vec![filed("A9", D5, "WJ01")],
        ),
        (
            "D5 reversed by its owner",
            T4,
            vec![reversed("R9", D5, "WJ01", "公律科")],
        ),
        (
            "a bonus reversed by its owner",
            T4,
            vec![reversed("R9", B1, "WJ01", "宣教科")],
        ),
        (
            "D2 appealed again after its rejection, then decided partially to its original",
            T4,
            vec![
                filed("A9", D2, "WJ01"),
                decided(
                    "A9",
                    LAST + 1,
                    D2,
                    "WJ01",
                    AppealOutcome::Partial(dec("1.5")),
                    "社矫科",
                ),
            ],
        ),
        (
            "a record reversed after a partial and a rejected decision",
            T4,
            vec![
                decided("A4", A4, D1, "WJ01", AppealOutcome::Rejected, "基层科"),
                reversed("R9", D1, "WJ01", "基层科"),
            ],
        ),
    ];
    for (what, at, kinds) in cases {
        let mut lines = scenario_export().lines.clone();
        append_export(&mut lines, at, kinds);
        assert_verifies(&lines, what);
    }
}

/// Decisions rewritten in place and re-chained: caught at their seq.
#[test]
fn forged_decisions_are_caught_at_their_seq() {
    type Edit = fn(&mut Body);
    let cases: [(u64, &str, Edit); 10] = [
        (
            A1_DECIDED,
            "decided by a department that does not own the item",
            |b| decided_mut(b).by = "公律科".into(),
        ),
        (A2_DECIDED, "decided by an unknown department", |b| {
            decided_mut(b).by = "财务科".into()
        }),
        (A1_DECIDED, "partial points above the original", |b| {
            decided_mut(b).outcome = AppealOutcome::Partial(dec("3.5"))
        }),
        (A1_DECIDED, "negative partial points", |b| {
            decided_mut(b).outcome = AppealOutcome::Partial(dec("-1"))
        }),
        (A2_DECIDED, "a second decision of A1", |b| {
            let d = decided_mut(b);
            d.appeal = "A1".into();
            d.appeal_seq = A1;
            d.against = D1;
            d.station = "WJ01".into();
            d.by = "基层科".into();
        }),
        (A1_DECIDED, "appeal_seq of another record's appeal", |b| {
            decided_mut(b).appeal_seq = A2
        }),
        (A1_DECIDED, "against another record", |b| {
            decided_mut(b).against = D2
        }),
        (A1_DECIDED, "the appeal named by another appeal's id", |b| {
            decided_mut(b).appeal = "A2".into()
        }),
        (A1_DECIDED, "appeal_seq naming the record itself", |b| {
            decided_mut(b).appeal_seq = D1
        }),
        (A3_DECIDED, "for another station", |b| {
            decided_mut(b).station = "WJ01".into()
        }),
    ];
    for (seq, what, edit) in cases {
        let mut lines = scenario_export().lines.clone();
        rechain_export(&mut lines, seq as usize, edit);
        assert_forgery_at(&lines, seq, what);
    }
}

/// Appeals, decisions and reversals the rules forbid, appended and chained: caught at their
/// seq.
#[test]
fn forged_appended_disputes_are_caught_at_their_seq() {
    let next = LAST + 1;
    let cases: Vec<(&str, &str, EventKind)> = vec![
        (
            "a second decision of A1",
            T4,
            decided("A1", A1, D1, "WJ01", AppealOutcome::Rejected, "基层科"),
        ),
        (
            "a decision of an appeal that does not exist",
            T4,
            decided("A9", 999, D5, "WJ01", AppealOutcome::Upheld, "公律科"),
        ),
        ("an appeal against a bonus", T4, filed("A9", B1, "WJ01")),
        (
            "an appeal against another station's record",
            T4,
            filed("A9", D5, "WJ02"),
        ),
        (
            "an appeal by an unregistered station",
            T4,
            filed("A9", D5, "WJ99"),
        ),
        (
            "an appeal the first local day after the window",
            "2018-06-25T16:00:00Z",
            filed("A9", D5, "WJ01"),
        ),
        (
            "an appeal a month after the window",
            "2018-07-30T02:00:00Z",
            filed("A9", D5, "WJ01"),
        ),
        (
            "an appeal while another is open",
            T4,
            filed("A9", D1, "WJ01"),
        ),
        (
            "an appeal of an upheld (removed) record",
            T4,
            filed("A9", D3, "WJ02"),
        ),
        (
            "an appeal of a reversed record",
            T4,
            filed("A9", D4, "WJ02"),
        ),
        ("an appeal naming the genesis", T4, filed("A9", 0, "WJ01")),
        (
            "an appeal naming a station registration",
            T4,
            filed("A9", 1, "WJ01"),
        ),
        (
            "an appeal naming a metric report",
            T4,
            filed("A9", M1, "WJ01"),
        ),
        ("an appeal naming an appeal", T4, filed("A9", A1, "WJ01")),
        (
            "an appeal naming a decision",
            T4,
            filed("A9", A1_DECIDED, "WJ01"),
        ),
        ("an appeal naming itself", T4, filed("A9", next, "WJ01")),
        (
            "an appeal naming a seq past the end",
            T4,
            filed("A9", 999, "WJ01"),
        ),
        ("an appeal reusing an id", T4, filed("A1", D5, "WJ01")),
        (
            "an appeal without evidence",
            T4,
            EventKind::AppealFiled(AppealFiled {
                id: "A9".into(),
                against: D5,
                station: "WJ01".into(),
                grounds: "扣分事实认定有误".into(),
                evidence: vec![],
            }),
        ),
        (
            "a reversal of an already reversed record",
            T4,
            reversed("R9", D4, "WJ02", "基层科"),
        ),
        (
            "a reversal of an upheld (removed) record",
            T4,
            reversed("R9", D3, "WJ02", "基层科"),
        ),
        (
            "a reversal while an appeal is open",
            T4,
            reversed("R9", D1, "WJ01", "基层科"),
        ),
        (
            "a reversal by a department that does not own the item",
            T4,
            reversed("R9", D5, "WJ01", "基层科"),
        ),
        (
            "a reversal naming another station",
            T4,
            reversed("R9", D5, "WJ02", "公律科"),
        ),
        (
            "a reversal naming a metric report",
            T4,
            reversed("R9", M1, "WJ01", "基层科"),
        ),
        (
            "a decision naming a seq past the end as its appeal",
            T4,
            decided("A4", A4 + 100, D1, "WJ01", AppealOutcome::Upheld, "基层科"),
        ),
    ];
    for (what, at, kind) in cases {
        let mut lines = scenario_export().lines.clone();
        append_export(&mut lines, at, vec![kind]);
        assert_forgery_at(&lines, next, what);
    }
    // A second decision right after a first one that verifies.
    let mut lines = scenario_export().lines.clone();
    append_export(
        &mut lines,
        T4,
        vec![
            decided("A4", A4, D1, "WJ01", AppealOutcome::Upheld, "基层科"),
            decided("A4", A4, D1, "WJ01", AppealOutcome::Upheld, "基层科"),
        ],
    );
    assert_forgery_at(&lines, next + 1, "the same decision twice");
}

/// Appeals rewritten in place: caught at their seq, not at the decisions that follow.
#[test]
fn forged_filings_in_place_are_caught_at_their_seq() {
    type Edit = fn(&mut Body);
    let cases: [(u64, &str, Edit); 4] = [
        (A1, "against a bonus", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            let EventKind::AppealFiled(a) = &mut e.kind else {
                panic!()
            };
            a.against = B1;
        }),
        (A3, "by another station", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            let EventKind::AppealFiled(a) = &mut e.kind else {
                panic!()
            };
            a.station = "WJ01".into();
        }),
        (A2, "against a metric report", |b| {
            let Body::V1(e) = b else {
                unreachable!("an unsigned event")
            };
            let EventKind::AppealFiled(a) = &mut e.kind else {
                panic!()
            };
            a.against = M1;
        }),
        (
            R1,
            "a reversal retargeted at another station's record",
            |b| {
                let Body::V1(e) = b else {
                    unreachable!("an unsigned event")
                };
                let EventKind::RecordReversed(r) = &mut e.kind else {
                    panic!()
                };
                r.target = D5;
            },
        ),
    ];
    for (seq, what, edit) in cases {
        let mut lines = scenario_export().lines.clone();
        rechain_export(&mut lines, seq as usize, edit);
        assert_forgery_at(&lines, seq, what);
    }
}

// ---------------------------------------------------------------------------------------------
// Store damage to what disputes derive.

/// Opens the store of a closed ledger (sled may hold its lock a moment), hands it to `f`.
fn with_store<R>(path: &Path, f: impl FnOnce(&Store) -> R) -> R {
    for _ in 0..2000 {
        match Store::open(path) {
            Err(StoreError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(5)),
            other => {
                let store = other.expect("store opens");
                let r = f(&store);
                drop(store);
                return r;
            }
        }
    }
    panic!("{} stays in use", path.display())
}

/// A fresh copy of the fixed ledger, closed; its path.
fn closed_scenario(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("ledger");
    drop(scenario_at(&path));
    path
}

fn assert_store_damage(path: &Path, name: &str, what: &str) {
    let report = verify_store(path);
    let p = report
        .problem
        .unwrap_or_else(|| panic!("{what}: verify passes a damaged store"));
    assert!(
        p.message.contains(name),
        "{what}: the message names the {name}: {}",
        p.message
    );
}

fn seqs_value(seqs: &[u64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_be_bytes()).collect()
}

#[test]
fn damage_to_the_dispute_index_is_caught_by_verify() {
    type Damage = fn(&Store);
    let cases: [(&str, Damage); 7] = [
        ("D1's entry removed", |s| {
            s.tamper_index(Index::Dispute, &D1.to_be_bytes(), None)
                .unwrap()
        }),
        ("D1's last dispute dropped", |s| {
            s.tamper_index(
                Index::Dispute,
                &D1.to_be_bytes(),
                Some(&seqs_value(&[A1, A1_DECIDED])),
            )
            .unwrap()
        }),
        ("D1's disputes out of order", |s| {
            s.tamper_index(
                Index::Dispute,
                &D1.to_be_bytes(),
                Some(&seqs_value(&[A1_DECIDED, A1, A4])),
            )
            .unwrap()
        }),
        ("an entry for an undisputed record", |s| {
            s.tamper_index(Index::Dispute, &D5.to_be_bytes(), Some(&seqs_value(&[A4])))
                .unwrap()
        }),
        ("D2's list moved to D5", |s| {
            let v = s
                .index_get(Index::Dispute, &D2.to_be_bytes())
                .unwrap()
                .unwrap();
            s.tamper_index(Index::Dispute, &D2.to_be_bytes(), None)
                .unwrap();
            s.tamper_index(Index::Dispute, &D5.to_be_bytes(), Some(&v))
                .unwrap();
        }),
        ("a malformed entry", |s| {
            s.tamper_index(
                Index::Dispute,
                &D4.to_be_bytes(),
                Some(&[0, 0, 0, 0, 0, 0, 19]),
            )
            .unwrap()
        }),
        ("R1 listed under D3 too", |s| {
            s.tamper_index(
                Index::Dispute,
                &D3.to_be_bytes(),
                Some(&seqs_value(&[A3, A3_DECIDED, R1])),
            )
            .unwrap()
        }),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = closed_scenario(&dir);
        with_store(&path, |s| {
            assert_eq!(
                s.index_get(Index::Dispute, &D1.to_be_bytes()).unwrap(),
                Some(seqs_value(&[A1, A1_DECIDED, A4])),
                "the index as written"
            );
            damage(s)
        });
        assert_store_damage(&path, "Dispute", what);
    }
}

/// The tally row of each dispute event: (entry number, row).
fn dispute_rows(s: &Store) -> Vec<(u64, kaohe::internals::domain::rows::Row)> {
    let mut rows = Vec::new();
    s.for_each_log_entry(Log::Tally, 0, |n, e| {
        let row = kaohe::internals::domain::rows::Row::decode(e).expect("row");
        if row.dispute_item().is_some() {
            rows.push((n, row));
        }
        Ok(true)
    })
    .unwrap();
    rows
}

/// Replaces tally entry `n` (block 0) with `row`.
fn rewrite_row(s: &Store, n: u64, row: &kaohe::internals::domain::rows::Row) {
    let at = n as usize * (2 + kaohe::internals::domain::rows::ROW_BYTES) + 2;
    s.tamper_log(Log::Tally, 0, |v| {
        v[at..at + kaohe::internals::domain::rows::ROW_BYTES].copy_from_slice(&row.encode())
    })
    .unwrap();
}

#[test]
fn damage_to_a_dispute_row_of_the_tally_is_caught_by_verify() {
    type Damage = fn(&mut kaohe::internals::domain::rows::Row);
    let cases: [(u64, &str, Damage); 6] = [
        (A3_DECIDED, "an upheld decision's change undone", |r| {
            r.points = Decimal::ZERO
        }),
        (A1_DECIDED, "a partial decision's change altered", |r| {
            r.points = dec("-1")
        }),
        (A1, "a filing given a change", |r| r.points = dec("-3")),
        (R1, "a reversal moved to another item", |r| r.item += 1),
        (R1, "a reversal turned into a record row", |r| {
            r.item -= kaohe::internals::domain::rows::DISPUTE_ROW_BASE
        }),
        (A3_DECIDED, "a decision's occurred date moved", |r| {
            r.occurred = 20180701
        }),
    ];
    for (seq, what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = closed_scenario(&dir);
        with_store(&path, |s| {
            let rows = dispute_rows(s);
            assert_eq!(
                rows.iter().map(|(_, r)| r.seq).collect::<Vec<_>>(),
                vec![12, 13, 14, 15, 16, 17, 18, 19, 20, 21],
                "every dispute event has a row"
            );
            let (n, mut row) = *rows.iter().find(|(_, r)| r.seq == seq).unwrap();
            damage(&mut row);
            rewrite_row(s, n, &row);
        });
        assert_store_damage(&path, "Tally", what);
    }
}

/// The damage matters: a tally row whose change is undone makes the fast path score WJ02 as if
/// its appeal had failed (which is why verify must catch it). A view that cuts by occurred date
/// reads the rows; the view of the whole ledger at its head reads each station's aggregate,
/// which the damage does not reach.
#[test]
fn a_damaged_dispute_row_changes_the_tally_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    with_store(&path, |s| {
        let (n, mut row) = *dispute_rows(s)
            .iter()
            .find(|(_, r)| r.seq == A3_DECIDED)
            .unwrap();
        assert_eq!(row.points, dec("-4"));
        row.points = Decimal::ZERO;
        rewrite_row(s, n, &row);
    });
    let ledger = crate::props::open_ledger(&path);
    let view = View {
        at: Some(ledger.genesis().period_end),
        ..View::all(&ledger)
    };
    let tallied = kaohe::internals::ledger::tally::scores(&ledger, &view).unwrap();
    let wj02 = tallied.iter().find(|s| s.station == "WJ02").unwrap();
    assert_eq!(wj02.total, dec("96"));
    assert_ne!(
        format!("{tallied:?}"),
        format!("{:?}", replayed(&ledger, &view))
    );
    let head = View::all(&ledger);
    let from_aggregates = kaohe::internals::ledger::tally::scores(&ledger, &head).unwrap();
    assert_eq!(
        format!("{from_aggregates:?}"),
        format!("{:?}", replayed(&ledger, &head))
    );
    drop(ledger);
    assert_store_damage(&path, "Tally", "undone change");
}

#[test]
fn damage_to_what_a_dispute_adjusts_is_caught_by_verify() {
    // WJ02's aggregate without A3's upheld decision.
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    with_store(&path, |s| {
        let key = kaohe::internals::domain::rows::aggregate_key(1);
        let mut agg = kaohe::internals::domain::rows::Aggregate::decode(
            &s.index_get(Index::Aggregate, &key).unwrap().unwrap(),
        )
        .unwrap();
        let position = kaohe::internals::domain::rubric::load(rubric_2018())
            .unwrap()
            .item_position("1.2")
            .unwrap() as u16;
        agg.adjust(position, dec("4"));
        s.tamper_index(Index::Aggregate, &key, Some(&agg.encode()))
            .unwrap();
    });
    assert_store_damage(&path, "Aggregate", "an aggregate without a decision");

    // WJ02's chain of postings cut at R1 (a reversal, posted under WJ02): R1's posting names
    // no posting before it.
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    with_store(&path, |s| {
        s.tamper_postings(|v| {
            let postings: Vec<(u64, u64)> = v
                .chunks_exact(16)
                .map(|p| {
                    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
                    (word(&p[..8]), word(&p[8..]))
                })
                .collect();
            let r1 = postings
                .iter()
                .position(|p| p.0 == R1)
                .expect("R1 is posted");
            assert_ne!(postings[r1].1, u64::MAX, "WJ02 has postings before R1");
            v[r1 * 16 + 8..r1 * 16 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        })
        .unwrap();
    });
    assert_store_damage(
        &path,
        "Postings",
        "a dispute's posting cut out of its chain",
    );

    // The unit count of 5.1.b at WJ03 as if A5's upheld decision had released nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    with_store(&path, |s| {
        let key = kaohe::internals::domain::rules::unit_key("WJ03", "5.1.b", 0);
        assert_eq!(
            s.index_get(Index::UnitCount, &key).unwrap(),
            Some(3u32.to_be_bytes().to_vec())
        );
        s.tamper_index(Index::UnitCount, &key, Some(&5u32.to_be_bytes()))
            .unwrap();
    });
    assert_store_damage(&path, "unit-count", "a unit count without the release");
}

/// Re-encodes the stored event at `seq` after `edit` and re-chains every later frame and the
/// head record, as a forger who owns the disk can.
pub(crate) fn rechain_store(path: &Path, seq: u64, edit: impl FnOnce(&mut Body)) {
    let per = kaohe::internals::base::limits::EVENTS_PER_BLOCK as usize;
    let last = with_store(path, |s| {
        let next = s.head().unwrap().unwrap().next_seq;
        let mut frames: Vec<(Vec<u8>, Hash)> = Vec::new();
        s.for_each_frame(0, next, |f| {
            frames.push((f.body.to_vec(), *f.hash));
            Ok(true)
        })
        .unwrap();
        let seq = seq as usize;
        let mut body = codec::decode(&frames[seq].0).unwrap();
        edit(&mut body);
        frames[seq].0 = codec::encode(&body).unwrap();
        let mut prev = frames[seq - 1].1;
        for f in &mut frames[seq..] {
            f.1 = chain::link(&prev, &f.0);
            prev = f.1;
        }
        for (b, chunk) in frames.chunks(per).enumerate().skip(seq / per) {
            let mut bytes = Vec::new();
            for (body, hash) in chunk {
                bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
                bytes.extend_from_slice(body);
                bytes.extend_from_slice(hash);
            }
            s.tamper_block(b as u64, |v| *v = bytes).unwrap();
        }
        prev
    });
    let db = sled::Config::new().path(path).open().expect("sled opens");
    let mut h = db.get(b"H").unwrap().expect("head").to_vec();
    h[8..40].copy_from_slice(&last);
    db.insert(b"H", h).unwrap();
    db.flush().unwrap();
}

/// Forged decisions in a store rewritten from the forged event on (head included): verify
/// recomputes the disputes and names the forged event.
#[test]
fn store_rewritten_forged_decisions_are_caught_at_their_seq() {
    type Edit = fn(&mut Body);
    let cases: [(u64, &str, Edit); 3] = [
        (
            A1_DECIDED,
            "decided by a department that does not own the item",
            |b| decided_mut(b).by = "公律科".into(),
        ),
        (A1_DECIDED, "partial points above the original", |b| {
            decided_mut(b).outcome = AppealOutcome::Partial(dec("3.5"))
        }),
        (A2_DECIDED, "a second decision of A1", |b| {
            let d = decided_mut(b);
            d.appeal = "A1".into();
            d.appeal_seq = A1;
            d.against = D1;
            d.station = "WJ01".into();
            d.by = "基层科".into();
        }),
    ];
    for (seq, what, edit) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = closed_scenario(&dir);
        rechain_store(&path, seq, edit);
        let p = verify_store(&path)
            .problem
            .unwrap_or_else(|| panic!("{what}: verify passes"));
        assert_eq!(p.seq, seq, "{what}: {}", p.message);
    }
    // An outcome changed within the rules (upheld → rejected) is a valid event: what gives it
    // away is the derived data written with the true one (aggregates, tally, unit counts).
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    rechain_store(&path, A3_DECIDED, |b| {
        decided_mut(b).outcome = AppealOutcome::Rejected
    });
    let p = verify_store(&path)
        .problem
        .expect("verify reports the rewrite");
    assert!(p.message.contains("Aggregate"), "{}", p.message);
}

/// Regression (fixed in fc9af47): the write path judged the appeal window by the clock, the
/// audit by the stored time, which is later when the clock is behind the head (recorded times
/// never go back); an appeal the write path accepted then failed verification.
#[test]
fn the_appeal_window_is_judged_by_the_stored_day_when_the_clock_is_behind_the_head() {
    let appeal = r#"{"op":"appeal","id":"A9","against":"D5","station":"WJ01","grounds":"扣分事实认定有误","evidence":["情况说明"]}"#;
    let station = r#"{"op":"station","code":"WJ04","name":"WJ04司法所","kind":"town"}"#;
    // The clock is 14 hours behind the head: within the day a clock may be behind
    // (`MAX_CLOCK_BEHIND_SECS`; it was 5½ days before that bound existed).
    for (head_at, clock, accepted) in [
        // the stored day (local 06-26) is past D5's window (06-25); the clock's (06-25) is not
        ("2018-06-25T16:00:00Z", "2018-06-25T02:00:00Z", false),
        // the stored day is the window's last (local 06-25)
        ("2018-06-25T15:59:59Z", "2018-06-25T02:00:00Z", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let mut ledger = scenario_at(&path);
        ledger.apply(&numbered(&[station]), ts(head_at)).unwrap();
        let before = ledger.head();
        match ledger.apply(&numbered(&[appeal]), ts(clock)) {
            Ok(o) => {
                assert!(accepted, "accepted: {o:?}");
                assert_eq!(ledger.head().recorded_at_us, before.recorded_at_us);
            }
            Err(LedgerError::Refused { field, .. }) => {
                assert!(!accepted, "refused");
                assert_eq!(field, "against");
                assert_eq!(ledger.head(), before);
            }
            Err(e) => panic!("{e}"),
        }
        let lines = export_lines(&ledger);
        drop(ledger);
        assert_eq!(verify_store(&path).problem, None, "{head_at}");
        assert_eq!(verify_export(&lines, None).problem, None, "{head_at}");
    }
}

/// The write path never stores partial points with more than six decimal places (user figures
/// are refused beyond six), and the derived data (aggregates, tally sums) count in millionths.
/// A forged decision with seven places is an event the write path would refuse: the export's
/// audit must name it. Regression: the audit checked only 0 ≤ p ≤ original.
#[test]
fn forged_partial_with_seven_decimal_places_is_caught_in_an_export() {
    let mut lines = scenario_export().lines.clone();
    rechain_export(&mut lines, A1_DECIDED as usize, |b| {
        decided_mut(b).outcome = AppealOutcome::Partial(dec("1.1234567"))
    });
    assert_forgery_at(&lines, A1_DECIDED, "partial points with seven places");
}

/// The same forgery in a store rewritten from it on: verify must report it, not panic.
/// Regression: verify panicked in `Aggregate::adjust` on it.
#[test]
fn forged_partial_with_seven_decimal_places_in_a_store_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = closed_scenario(&dir);
    rechain_store(&path, A1_DECIDED, |b| {
        decided_mut(b).outcome = AppealOutcome::Partial(dec("1.1234567"))
    });
    let report = std::panic::catch_unwind(|| verify_store(&path))
        .unwrap_or_else(|_| panic!("verify panicked on a forged store"));
    let p = report.problem.expect("verify reports the forgery");
    assert_eq!(p.seq, A1_DECIDED, "{}", p.message);
}
