//! Two times, `explain` and `show` (issue 3).
//!
//! - Properties, through the library: a ledger built from random valid commands applied in
//!   batches at increasing clock times. The scores in every view equal a naive model over the
//!   events that view keeps: every seq (`as_of_seq`), several days (`at`), every batch's time
//!   and the moments between batches (`known_at`), and the two times combined. The view's
//!   replay agrees with a plain replay of the prefix.
//! - The command line: `--at` counts that day, `--known-at` that instant, `--as-of-seq` that
//!   seq; combined options; stations registered after the cut; refusals (exit 2, naming the
//!   option); `log` and `export` in a view, and an `export --as-of-seq` prefix that `verify
//!   --export` accepts.
//! - `explain` text and JSON on a small crafted ledger (every rule kind's working, item caps
//!   biting in seq order, the view), and `explain --json` against `schema/explain.schema.json`.
//! - `show` by id, seq and hash.
//!
//! Case counts are kept modest so that the suite stays fast.

use crate::harness::{fixture_path, TestLedger, TEST_NOW};
use jiff::civil::Date;
use jiff::Timestamp;
use kaohe::internals::base::decimal::canonical;
use kaohe::internals::domain::command::{Command, MetricCmd, RecordCmd, StationCmd};
use kaohe::internals::domain::projection::{Scores, StationScore};
use kaohe::internals::events::event::{Inputs, StationKind};
use kaohe::internals::ledger::query::{Query, View};
use kaohe::internals::ledger::{Ledger, LedgerError, Numbered, Outcome};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

fn ts(s: &str) -> Timestamp {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` is not a timestamp: {e}"))
}

fn day(s: &str) -> Date {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` is not a date: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The naive model: a few clauses of the 2018 rubric, typed in from its text.

#[derive(Debug, Clone, Copy)]
enum Rule {
    Fixed(&'static str),
    /// points per unit
    PerUnit(&'static str),
    /// the assessor's points per unit, within min–max
    Range(&'static str, &'static str),
    /// points × ⌈(threshold − value) / step⌉
    Shortfall {
        threshold: &'static str,
        step: &'static str,
        points: &'static str,
    },
    /// points × (required − done)
    Missing(u32, &'static str),
    /// a value below the threshold for the station's kind (town, subdistrict) gives points
    Below(&'static str, &'static str, &'static str),
    /// a value at least the threshold for the station's kind (town, subdistrict) earns points
    AtLeast(&'static str, &'static str, &'static str),
}

#[derive(Debug)]
struct Clause {
    code: &'static str,
    item: &'static str,
    /// The item's points (its cap).
    max: &'static str,
    by: &'static str,
    rule: Rule,
}

const fn clause(
    code: &'static str,
    item: &'static str,
    max: &'static str,
    by: &'static str,
    rule: Rule,
) -> Clause {
    Clause {
        code,
        item,
        max,
        by,
        rule,
    }
}

static CLAUSES: &[Clause] = &[
    clause(
        "1.1.a",
        "1.1",
        "6",
        "基层科",
        Rule::Below("100", "100", "1"),
    ),
    clause("1.2.a", "1.2", "4", "基层科", Rule::PerUnit("2")),
    clause("1.3.a", "1.3", "3", "基层科", Rule::Fixed("3")),
    clause("1.4.a", "1.4", "8", "基层科", Rule::Missing(5, "2")),
    clause(
        "1.6.c",
        "1.6",
        "4",
        "基层科",
        Rule::Shortfall {
            threshold: "98",
            step: "1",
            points: "1",
        },
    ),
    clause(
        "1.6.d",
        "1.6",
        "4",
        "基层科",
        Rule::Shortfall {
            threshold: "100",
            step: "5",
            points: "1",
        },
    ),
    clause("2.1.f", "2.1", "6", "公律科", Rule::PerUnit("0.1")),
    clause("3.1.b", "3.1", "7", "矫正科", Rule::Range("2", "8")),
    clause("3.1.c", "3.1", "7", "社矫科", Rule::Fixed("8")),
    clause("3.2.a", "3.2", "6", "社矫科", Rule::Range("0.5", "2")),
    clause("B.1.a", "B.1", "2", "宣教科", Rule::Fixed("2")),
    clause("B.2.a", "B.2", "1", "宣教科", Rule::Fixed("1")),
    clause("B.3.a", "B.3", "1.5", "办公室", Rule::Fixed("1.5")),
    clause("B.3.b", "B.3", "1.5", "办公室", Rule::Fixed("1")),
    clause("B.4.a", "B.4", "1.5", "基层科", Rule::Fixed("1")),
    clause(
        "B.5.a",
        "B.5",
        "1",
        "法援科",
        Rule::AtLeast("50", "20", "1"),
    ),
    clause("B.7.a", "B.7", "1", "社矫科", Rule::Fixed("1")),
    clause("B.7.b", "B.7", "1", "社矫科", Rule::Range("0.1", "1")),
    clause("B.8.a", "B.8", "1", "社矫科", Rule::Range("0.1", "1")),
];

const BASE: &str = "100";
const BONUS_CAP: &str = "10";
const STATIONS: usize = 3;
const STATION_NAMES: [&str; STATIONS] = ["湖塘司法所", "南夏墅街道司法所", "雪堰司法所"];

fn station_code(s: usize) -> String {
    format!("S{s}")
}

/// What an appended event does.
#[derive(Debug, Clone)]
enum Effect {
    Station {
        code: String,
        name: String,
        kind: StationKind,
    },
    Points {
        station: String,
        clause: &'static Clause,
        points: Decimal,
        occurred: Date,
    },
    Metric {
        occurred: Date,
    },
}

impl Effect {
    /// The valid time of the event, if it has one (registrations have none).
    fn occurred(&self) -> Option<Date> {
        match self {
            Effect::Station { .. } => None,
            Effect::Points { occurred, .. } | Effect::Metric { occurred } => Some(*occurred),
        }
    }
}

/// An appended event as the test knows it.
#[derive(Debug, Clone)]
struct Ev {
    seq: u64,
    effect: Effect,
}

/// Does a view (prefix `[0, end)`, optional day) keep this event?
fn kept(ev: &Ev, end: u64, at: Option<Date>) -> bool {
    ev.seq < end
        && match (at, ev.effect.occurred()) {
            (Some(d), Some(o)) => o <= d,
            _ => true,
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
    /// item → (applied deducted, applied awarded, raw deducted, raw awarded, events), for the
    /// items that have events.
    items: BTreeMap<String, (Decimal, Decimal, Decimal, Decimal, u32)>,
}

/// The naive model: per station, per item raw sums; applied = min(raw, item points); bonus
/// total at most 10; total = 100 − deductions + bonus; equal totals share the better place.
fn naive<'a>(events: impl IntoIterator<Item = &'a Ev>) -> BTreeMap<String, Figures> {
    let zero = Decimal::ZERO;
    let mut stations: BTreeMap<String, (String, StationKind)> = BTreeMap::new();
    type Raw = BTreeMap<&'static str, (Decimal, Decimal, u32, Decimal)>;
    let mut raw: BTreeMap<String, Raw> = BTreeMap::new();
    for e in events {
        match &e.effect {
            Effect::Station { code, name, kind } => {
                stations.insert(code.clone(), (name.clone(), *kind));
            }
            Effect::Points {
                station,
                clause,
                points,
                ..
            } => {
                let r = raw
                    .entry(station.clone())
                    .or_default()
                    .entry(clause.item)
                    .or_insert((zero, zero, 0, dec(clause.max)));
                if clause.item.starts_with('B') {
                    r.1 += points;
                } else {
                    r.0 += points;
                }
                r.2 += 1;
            }
            Effect::Metric { .. } => {}
        }
    }
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    for (code, (name, kind)) in stations {
        let mut f = Figures {
            name,
            kind,
            total: zero,
            deducted: zero,
            awarded: zero,
            raw_deducted: zero,
            raw_awarded: zero,
            awarded_before_cap: zero,
            rank: 0,
            items: BTreeMap::new(),
        };
        for (item, (d, a, n, cap)) in raw.remove(&code).unwrap_or_default() {
            let (ad, aa) = (d.min(cap), a.min(cap));
            f.deducted += ad;
            f.awarded_before_cap += aa;
            f.raw_deducted += d;
            f.raw_awarded += a;
            f.items.insert(
                item.to_string(),
                (canonical(ad), canonical(aa), canonical(d), canonical(a), n),
            );
        }
        f.awarded = f.awarded_before_cap.min(dec(BONUS_CAP));
        f.total = dec(BASE) - f.deducted + f.awarded;
        for d in [
            &mut f.total,
            &mut f.deducted,
            &mut f.awarded,
            &mut f.raw_deducted,
            &mut f.raw_awarded,
            &mut f.awarded_before_cap,
        ] {
            *d = canonical(*d);
        }
        out.insert(code, f);
    }
    let totals: Vec<Decimal> = out.values().map(|f| f.total).collect();
    for f in out.values_mut() {
        f.rank = 1 + totals.iter().filter(|t| **t > f.total).count() as u32;
    }
    out
}

/// kaohe's scores in the model's form; items without events must be all zero.
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
                        "{} item {} has figures without events",
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
// Generated commands.

#[derive(Debug, Clone)]
enum Op {
    /// Register a station (again: unchanged, nothing appended).
    Register(usize),
    Record {
        station: usize,
        clause: usize,
        a: u32,
        b: u32,
        day: i64,
    },
    Metric {
        station: usize,
        a: u32,
        day: i64,
    },
}

/// A day of 2018 (0 = 2018-01-01), often one of a few so that days repeat.
fn day_of_2018() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0i64..365,
        1 => prop::sample::select(vec![0i64, 180, 181, 364]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..STATIONS).prop_map(Op::Register),
        8 => (0..STATIONS, 0..CLAUSES.len(), any::<u32>(), any::<u32>(), day_of_2018())
            .prop_map(|(station, clause, a, b, day)| Op::Record { station, clause, a, b, day }),
        2 => (0..STATIONS, any::<u32>(), day_of_2018())
            .prop_map(|(station, a, day)| Op::Metric { station, a, day }),
    ]
}

fn station_kind() -> impl Strategy<Value = StationKind> {
    prop_oneof![Just(StationKind::Town), Just(StationKind::Subdistrict)]
}

/// Microseconds between batches: sometimes a hair, sometimes hours.
fn gap_us() -> impl Strategy<Value = i64> {
    prop_oneof![2i64..1_000, 1_000_000i64..86_400_000_000]
}

fn date_of(day: i64) -> Date {
    Date::new(2018, 1, 1)
        .unwrap()
        .checked_add(jiff::Span::new().days(day))
        .unwrap()
}

/// `n / 10^scale` as a decimal.
fn scaled(n: u64, scale: u32) -> Decimal {
    canonical(Decimal::from_i128_with_scale(i128::from(n), scale))
}

/// A figure in [0, limit) with two decimals.
fn below(limit: Decimal, a: u32) -> Decimal {
    let hundredths = (limit * Decimal::from(100)).trunc();
    let h = u64::try_from(hundredths.mantissa() / 10i128.pow(hundredths.scale())).unwrap();
    scaled(u64::from(a) % h, 2)
}

/// An assessor's choice in [min, max], in steps of 0.1.
fn choose(min: &str, max: &str, b: u32) -> Decimal {
    let (min, max) = (dec(min), dec(max));
    let steps = ((max - min) * Decimal::from(10)).trunc();
    let steps = u32::try_from(steps.mantissa() / 10i128.pow(steps.scale())).unwrap();
    canonical(min + scaled(u64::from(b % (steps + 1)), 1))
}

/// A command and what it is expected to do (`None`: nothing appended).
#[derive(Debug, Clone)]
struct Planned {
    command: Command,
    effect: Option<Effect>,
}

/// Turns generated steps into commands a valid ledger accepts, with their expected effects.
/// Records and metrics for a station not yet registered register it first.
fn plan(ops: &[Op], kinds: &[StationKind]) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    let mut registered = BTreeSet::new();
    let register = |s: usize, out: &mut Vec<Planned>, registered: &mut BTreeSet<usize>| {
        let first = registered.insert(s);
        let (code, name, kind) = (station_code(s), STATION_NAMES[s].to_string(), kinds[s]);
        out.push(Planned {
            command: Command::Station(StationCmd {
                code: code.clone(),
                name: name.clone(),
                kind,
            }),
            effect: first.then_some(Effect::Station { code, name, kind }),
        });
    };
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Register(s) => register(s, &mut out, &mut registered),
            Op::Metric { station, a, day } => {
                if !registered.contains(&station) {
                    register(station, &mut out, &mut registered);
                }
                let occurred = date_of(day);
                out.push(Planned {
                    command: Command::Metric(MetricCmd {
                        id: (a % 2 == 0).then(|| format!("M{n}")),
                        station: station_code(station),
                        metric: "dispute_entry_rate".into(),
                        value: scaled(u64::from(a) % 10_001, 2),
                        by: "基层科".into(),
                        occurred,
                        evidence: vec![format!("统计表{n}")],
                    }),
                    effect: Some(Effect::Metric { occurred }),
                });
            }
            Op::Record {
                station,
                clause,
                a,
                b,
                day,
            } => {
                let c: &'static Clause = &CLAUSES[clause];
                let kind = kinds[station];
                let by_kind = |town: &str, sub: &str| match kind {
                    StationKind::Town => dec(town),
                    StationKind::Subdistrict => dec(sub),
                };
                let mut inputs = Inputs::default();
                let points = match c.rule {
                    Rule::Fixed(p) => dec(p),
                    Rule::PerUnit(p) => {
                        let count = 1 + a % 4;
                        if count > 1 || b % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        dec(p) * Decimal::from(count)
                    }
                    Rule::Range(min, max) => {
                        let count = 1 + a % 3;
                        if count > 1 || b % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        let chosen = choose(min, max, b);
                        inputs.points = Some(chosen);
                        inputs.note = Some(format!("理由 {n}"));
                        chosen * Decimal::from(count)
                    }
                    Rule::Shortfall {
                        threshold,
                        step,
                        points,
                    } => {
                        let (t, step, p) = (dec(threshold), dec(step), dec(points));
                        let value = below(t, a);
                        inputs.value = Some(value);
                        p * ((t - value) / step).ceil()
                    }
                    Rule::Missing(required, p) => {
                        let done = a % required;
                        inputs.done = Some(done);
                        dec(p) * Decimal::from(required - done)
                    }
                    Rule::Below(town, sub, p) => {
                        inputs.value = Some(below(by_kind(town, sub), a));
                        dec(p)
                    }
                    Rule::AtLeast(town, sub, p) => {
                        inputs.value = Some(by_kind(town, sub) + Decimal::from(a % 200));
                        dec(p)
                    }
                };
                if !registered.contains(&station) {
                    register(station, &mut out, &mut registered);
                }
                let occurred = date_of(day);
                out.push(Planned {
                    command: Command::Record(RecordCmd {
                        id: (b % 3 != 0).then(|| format!("R{n}")),
                        clause: c.code.into(),
                        station: station_code(station),
                        by: c.by.into(),
                        occurred,
                        inputs,
                        evidence: vec![format!("证据{n}")],
                    }),
                    effect: Some(Effect::Points {
                        station: station_code(station),
                        clause: c,
                        points: canonical(points),
                        occurred,
                    }),
                });
            }
        }
    }
    out
}

/// A batch as applied: its clock time and one past its last seq (the head after it).
#[derive(Debug, Clone, Copy)]
struct Applied {
    at: Timestamp,
    end: u64,
}

fn rubric_text() -> String {
    // The generators know nothing of format 2's conditions (tests/it/conditions.rs).
    crate::harness::rubric_2018_format1()
}

/// Applies the planned commands in batches of the given sizes (cycled), each at its clock time
/// (the previous batch's plus its gap). Returns the appended events and the batches.
fn apply_in_batches(
    ledger: &mut Ledger,
    planned: &[Planned],
    batches: &[(usize, i64)],
    t0: Timestamp,
) -> (Vec<Ev>, Vec<Applied>) {
    let mut evs = Vec::new();
    let mut applied = Vec::new();
    let mut at = 0;
    let mut clock = t0.as_microsecond();
    for (size, gap) in batches.iter().cycle() {
        if at >= planned.len() {
            break;
        }
        clock += gap;
        let now = Timestamp::from_microsecond(clock).unwrap();
        let chunk = &planned[at..(at + size).min(planned.len())];
        let commands: Vec<Numbered> = chunk
            .iter()
            .map(|p| Numbered {
                line: None,
                command: p.command.clone(),
            })
            .collect();
        let outcomes = ledger
            .apply(&commands, now)
            .unwrap_or_else(|e| panic!("refused {commands:?}: {e}"));
        assert_eq!(outcomes.len(), chunk.len());
        for (p, o) in chunk.iter().zip(&outcomes) {
            match (o, &p.effect) {
                (Outcome::Appended { seq, .. }, Some(effect)) => {
                    assert_eq!(*seq, 1 + evs.len() as u64, "seqs without gaps");
                    evs.push(Ev {
                        seq: *seq,
                        effect: effect.clone(),
                    });
                }
                (Outcome::Unchanged { .. }, None) => {}
                (o, e) => panic!("{:?}: outcome {o:?}, expected effect {e:?}", p.command),
            }
        }
        applied.push(Applied {
            at: now,
            end: ledger.head().next_seq,
        });
        at += size;
    }
    assert_eq!(ledger.head().next_seq, 1 + evs.len() as u64);
    (evs, applied)
}

/// The view of a query and the scores in it (the path `score` takes).
fn scores_in<'l>(ledger: &'l Ledger, q: &Query) -> (View, Vec<StationScore<'l>>) {
    let view = ledger.view(q).unwrap_or_else(|e| panic!("view {q:?}: {e}"));
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay_view(&view, |e| {
            fold.apply(e.body)?;
            Ok(true)
        })
        .expect("replay the view");
    (view, fold.finish())
}

/// Scores of events [0, to) by a plain checked replay.
fn scores_upto(ledger: &Ledger, to: u64) -> Vec<StationScore<'_>> {
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay(0, to, |e| {
            fold.apply(e.body)?;
            Ok(true)
        })
        .expect("replay");
    fold.finish()
}

/// The field a refused query names.
fn refused_field(r: Result<View, LedgerError>) -> String {
    match r {
        Err(LedgerError::Refused { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn seq_query(n: u64) -> Query {
    Query {
        as_of_seq: Some(n),
        ..Query::default()
    }
}

fn known_query(t: Timestamp) -> Query {
    Query {
        known_at: Some(t),
        ..Query::default()
    }
}

fn at_query(d: Date) -> Query {
    Query {
        at: Some(d),
        ..Query::default()
    }
}

fn nanos(t: Timestamp, delta: i128) -> Timestamp {
    Timestamp::from_nanosecond(t.as_nanosecond() + delta).unwrap()
}

proptest! {
    #![proptest_config(Config::with_cases(24))]

    /// In every view the scores equal the naive model over the events the view keeps:
    /// (a) every seq; (b) several days; (c) every batch's clock time, the moments between
    /// batches, and before the ledger existed; (d) both times combined.
    #[test]
    fn prop_scores_in_every_view_match_the_naive_model(
        ops in prop::collection::vec(op(), 1..36),
        kinds in prop::collection::vec(station_kind(), STATIONS),
        batches in prop::collection::vec((1usize..8, gap_us()), 1..6),
        days in prop::collection::vec(0i64..365, 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let planned = plan(&ops, &kinds);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let t0 = ts(TEST_NOW);
        Ledger::init(&path, &rubric_text(), t0).expect("init");
        let mut ledger = crate::props::open_ledger(&path);
        let (evs, applied) = apply_in_batches(&mut ledger, &planned, &batches, t0);
        let end = ledger.head().next_seq;

        // (a) every seq: events with seq ≤ n, and the same as a plain replay of the prefix
        for n in 0..end {
            let (view, scores) = scores_in(&ledger, &seq_query(n));
            prop_assert_eq!(view.end, n + 1);
            prop_assert_eq!(view.last_seq(), n);
            prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| e.seq <= n)), "seq {}", n);
            prop_assert_eq!(&scores, &scores_upto(&ledger, n + 1), "seq {} against replay", n);
        }
        prop_assert_eq!(refused_field(ledger.view(&seq_query(end))), "as-of-seq");

        // (b) days: a few random ones, the days events occurred on and the days before them,
        // and the edges of the period
        let mut dates: BTreeSet<Date> = days.iter().map(|d| date_of(*d)).collect();
        for e in evs.iter().filter_map(|e| e.effect.occurred()).take(4) {
            dates.insert(e);
            dates.insert(e.yesterday().unwrap());
        }
        dates.insert(day("2017-12-31"));
        dates.insert(day("2018-01-01"));
        dates.insert(day("2018-12-31"));
        for d in &dates {
            let (view, scores) = scores_in(&ledger, &at_query(*d));
            prop_assert_eq!(view.end, end, "--at keeps the whole chain");
            prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| kept(e, end, Some(*d)))), "at {}", d);
        }

        // (c) known_at: each batch's time is the prefix up to its last event; a moment between
        // two batches is the earlier one; the genesis alone at the creation time
        let (view, scores) = scores_in(&ledger, &known_query(t0));
        prop_assert_eq!(view.end, 1);
        prop_assert!(scores.is_empty());
        prop_assert_eq!(refused_field(ledger.view(&known_query(nanos(t0, -1)))), "known-at");
        prop_assert_eq!(refused_field(ledger.view(&known_query(nanos(t0, -1_000)))), "known-at");
        for (k, b) in applied.iter().enumerate() {
            let (view, scores) = scores_in(&ledger, &known_query(b.at));
            prop_assert_eq!(view.end, b.end, "batch {} at {}", k, b.at);
            prop_assert_eq!(&scores, &scores_in(&ledger, &seq_query(b.end - 1)).1);
            prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| e.seq < b.end)));
            // a nanosecond later is the same microsecond
            prop_assert_eq!(ledger.view(&known_query(nanos(b.at, 1))).unwrap().end, b.end);
            let prev_end = if k == 0 { 1 } else { applied[k - 1].end };
            // a nanosecond earlier misses this batch
            prop_assert_eq!(ledger.view(&known_query(nanos(b.at, -1))).unwrap().end, prev_end);
            if let Some(next) = applied.get(k + 1) {
                let between = Timestamp::from_microsecond(
                    (b.at.as_microsecond() + next.at.as_microsecond()) / 2,
                ).unwrap();
                for t in [between, nanos(next.at, -1)] {
                    let (view, scores) = scores_in(&ledger, &known_query(t));
                    prop_assert_eq!(view.end, b.end, "between batches {} and {}: {}", k, k + 1, t);
                    prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| e.seq < b.end)));
                }
            }
        }

        // (d) both times: the naive filter on both; and --as-of-seq with --known-at is the
        // smaller prefix
        for b in &applied {
            for d in &dates {
                let q = Query { known_at: Some(b.at), at: Some(*d), as_of_seq: None };
                let (view, scores) = scores_in(&ledger, &q);
                prop_assert_eq!(view.end, b.end);
                prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| kept(e, b.end, Some(*d)))), "known at {} and at {}", b.at, d);
            }
            let n = cut.index(end as usize) as u64;
            let q = Query { known_at: Some(b.at), at: None, as_of_seq: Some(n) };
            let (view, scores) = scores_in(&ledger, &q);
            let expected_end = (n + 1).min(b.end);
            prop_assert_eq!(view.end, expected_end);
            prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| e.seq < expected_end)));
            let d = *dates.iter().nth(cut.index(dates.len())).unwrap();
            let q = Query { known_at: Some(b.at), at: Some(d), as_of_seq: Some(n) };
            let (view, scores) = scores_in(&ledger, &q);
            prop_assert_eq!(view.end, expected_end);
            prop_assert_eq!(view.at, Some(d));
            prop_assert_eq!(figures(&scores), naive(evs.iter().filter(|e| kept(e, expected_end, Some(d)))));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The command line: helpers.

/// The clock of the first day after the year: init and stations.
const T0: &str = TEST_NOW;
/// A later clock, with microseconds.
const T1: &str = "2019-01-11T09:30:00.123456Z";
/// A later clock again.
const T2: &str = "2019-01-12T10:00:00Z";

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// Records (must succeed); returns the seq.
fn rec(
    l: &TestLedger,
    id: &str,
    clause: &str,
    station: &str,
    by: &str,
    occurred: &str,
    extra: &[&str],
) -> u64 {
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
        occurred,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = l.run(&args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    let v = out.json();
    assert_eq!(v["status"], "appended", "{v}");
    v["seq"].as_u64().expect("seq")
}

/// `score --json` with extra options.
fn scores_with(l: &TestLedger, opts: &[&str]) -> Value {
    let mut args = vec!["score", "--json"];
    args.extend_from_slice(opts);
    let out = l.run(&args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    out.json()
}

/// station → total in a `score --json`.
fn totals(v: &Value) -> BTreeMap<String, String> {
    v["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| {
            (
                s["station"].as_str().unwrap().to_string(),
                s["total"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn total_of(v: &Value, station: &str) -> String {
    totals(v)
        .remove(station)
        .unwrap_or_else(|| panic!("no {station} in {v}"))
}

fn view_of(v: &Value) -> (u64, Value, Value) {
    let view = &v["view"];
    (
        view["as_of_seq"].as_u64().expect("as_of_seq"),
        view["known_at"].clone(),
        view["at"].clone(),
    )
}

/// The seqs of `log --json` with options.
fn log_seqs(l: &TestLedger, opts: &[&str]) -> Vec<u64> {
    let mut args = vec!["log", "--json"];
    args.extend_from_slice(opts);
    l.ok(&args)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("log line is JSON");
            v["seq"].as_u64().expect("seq")
        })
        .collect()
}

fn export_lines(l: &TestLedger, opts: &[&str]) -> Vec<Value> {
    let mut args = vec!["export"];
    args.extend_from_slice(opts);
    l.ok(&args)
        .lines()
        .map(|line| serde_json::from_str(line).expect("export line is JSON"))
        .collect()
}

/// The hash of one seq, from `export`.
fn export_hash(l: &TestLedger, seq: u64) -> String {
    export_lines(l, &[])[seq as usize]["hash"]
        .as_str()
        .expect("hash")
        .to_string()
}

/// WJ01 and WJ02 registered at T0 (seq 1, 2); then
/// seq 3 A: WJ01 1.3.a (−3), occurred 2018-06-01, recorded at T1;
/// seq 4 B: WJ01 1.2.a (−2), occurred 2018-05-01 (earlier, recorded later), recorded at T2;
/// seq 5 C: WJ01 B.2.a (+1), occurred 2018-07-01, recorded at T2.
fn three_times() -> TestLedger {
    let mut l = TestLedger::with_stations();
    l.now = T1.into();
    assert_eq!(
        rec(
            &l,
            "A",
            "1.3.a",
            "WJ01",
            "基层科",
            "2018-06-01",
            &["--evidence", "EA"]
        ),
        3
    );
    l.now = T2.into();
    assert_eq!(
        rec(
            &l,
            "B",
            "1.2.a",
            "WJ01",
            "基层科",
            "2018-05-01",
            &["--evidence", "EB"]
        ),
        4
    );
    assert_eq!(
        rec(
            &l,
            "C",
            "B.2.a",
            "WJ01",
            "宣教科",
            "2018-07-01",
            &["--evidence", "EC"]
        ),
        5
    );
    l
}

// ---------------------------------------------------------------------------------------------
// The command line: the two times.

#[test]
fn at_counts_what_occurred_on_that_day() {
    let l = TestLedger::with_stations();
    let seq = rec(
        &l,
        "A",
        "1.3.a",
        "WJ01",
        "基层科",
        "2018-06-15",
        &["--evidence", "E"],
    );
    assert_eq!(seq, 3);

    let on = scores_with(&l, &["--at", "2018-06-15"]);
    assert_eq!(total_of(&on, "WJ01"), "97");
    assert_eq!(view_of(&on), (3, Value::Null, Value::from("2018-06-15")));

    let before = scores_with(&l, &["--at", "2018-06-14"]);
    assert_eq!(total_of(&before, "WJ01"), "100");
    // The stations are there all the same: a registration has no occurred date.
    assert_eq!(totals(&before).len(), 2);
    assert_eq!(view_of(&before).0, 3, "--at does not cut the chain");

    let text = l.ok(&["score", "--at", "2018-06-15"]);
    assert_contains(&text, "view: as of seq 3, occurred on or before 2018-06-15");
    // Without options the table is as before, with no view line.
    assert!(!l.ok(&["score"]).contains("view:"));
    assert_eq!(view_of(&l.scores()), (3, Value::Null, Value::Null));
}

#[test]
fn known_at_counts_what_was_recorded_at_that_instant() {
    let mut l = TestLedger::with_stations();
    l.now = T1.into();
    assert_eq!(
        rec(
            &l,
            "A",
            "1.3.a",
            "WJ01",
            "基层科",
            "2018-06-01",
            &["--evidence", "E"]
        ),
        3
    );
    l.now = T2.into();
    assert_eq!(
        rec(
            &l,
            "B",
            "1.2.a",
            "WJ02",
            "基层科",
            "2018-06-01",
            &["--evidence", "E"]
        ),
        4
    );

    let at_t1 = scores_with(&l, &["--known-at", T1]);
    assert_eq!(total_of(&at_t1, "WJ01"), "97");
    assert_eq!(total_of(&at_t1, "WJ02"), "100");
    assert_eq!(view_of(&at_t1), (3, Value::from(T1), Value::Null));

    for (t, seq) in [
        // a microsecond before T1: not yet
        ("2019-01-11T09:30:00.123455Z", 2),
        // the same instant written with an offset
        ("2019-01-11T17:30:00.123456+08:00", 3),
        // within the same microsecond
        ("2019-01-11T09:30:00.1234569Z", 3),
        ("2019-01-12T09:59:59.999999Z", 3),
        (T2, 4),
        ("2030-01-01T00:00:00Z", 4),
        // the creation instant: the genesis and the two stations
        (T0, 2),
    ] {
        let v = scores_with(&l, &["--known-at", t]);
        assert_eq!(view_of(&v).0, seq, "--known-at {t}");
    }
    let before = scores_with(&l, &["--known-at", "2019-01-11T09:30:00.123455Z"]);
    assert_eq!(total_of(&before, "WJ01"), "100");
    let text = l.ok(&["score", "--known-at", T1]);
    assert_contains(
        &text,
        &format!("view: as of seq 3, known at {T1}, every occurred date"),
    );
}

#[test]
fn as_of_seq_counts_that_seq() {
    let l = TestLedger::with_stations();
    assert_eq!(
        rec(
            &l,
            "A",
            "1.3.a",
            "WJ01",
            "基层科",
            "2018-06-01",
            &["--evidence", "E"]
        ),
        3
    );
    assert_eq!(
        total_of(&scores_with(&l, &["--as-of-seq", "3"]), "WJ01"),
        "97"
    );
    assert_eq!(
        total_of(&scores_with(&l, &["--as-of-seq", "2"]), "WJ01"),
        "100"
    );
    assert_eq!(view_of(&scores_with(&l, &["--as-of-seq", "2"])).0, 2);
    // Seq 1: WJ01 only; seq 0: the genesis, no station.
    assert_eq!(totals(&scores_with(&l, &["--as-of-seq", "1"])).len(), 1);
    let none = scores_with(&l, &["--as-of-seq", "0"]);
    assert_eq!(none["stations"], serde_json::json!([]));
    assert_contains(
        &l.ok(&["score", "--as-of-seq", "0"]),
        "no stations registered",
    );
}

#[test]
fn the_two_times_combine() {
    let l = three_times();
    let cases: &[(&[&str], u64, &str)] = &[
        (&[], 5, "96"),
        (&["--known-at", T1], 3, "97"),
        (&["--at", "2018-06-15"], 5, "95"),
        (&["--at", "2018-06-15", "--known-at", T1], 3, "97"),
        (&["--at", "2018-05-15", "--known-at", T2], 5, "98"),
        (&["--at", "2018-05-15", "--known-at", T1], 3, "100"),
        (&["--at", "2018-07-01", "--as-of-seq", "4"], 4, "95"),
        (&["--at", "2018-06-30"], 5, "95"),
        (&["--as-of-seq", "5", "--known-at", T1], 3, "97"),
        (&["--as-of-seq", "3", "--known-at", T2], 3, "97"),
        (
            &["--as-of-seq", "4", "--known-at", T2, "--at", "2018-05-01"],
            4,
            "98",
        ),
    ];
    for (opts, seq, total) in cases {
        let v = scores_with(&l, opts);
        assert_eq!(view_of(&v).0, *seq, "{opts:?}");
        assert_eq!(total_of(&v, "WJ01"), *total, "{opts:?}");
    }
    let v = scores_with(&l, &["--at", "2018-06-15", "--known-at", T1]);
    assert_eq!(view_of(&v), (3, Value::from(T1), Value::from("2018-06-15")));
    let text = l.ok(&["score", "--at", "2018-06-15", "--known-at", T1]);
    assert_contains(
        &text,
        &format!("view: as of seq 3, known at {T1}, occurred on or before 2018-06-15"),
    );
}

#[test]
fn stations_registered_after_the_cut_do_not_appear() {
    let mut l = TestLedger::with_stations();
    l.now = T1.into();
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "雪堰司法所",
        "--kind",
        "town",
    ]);
    assert_eq!(
        rec(
            &l,
            "A",
            "1.3.a",
            "WJ03",
            "基层科",
            "2018-06-01",
            &["--evidence", "E"]
        ),
        4
    );

    let two: BTreeSet<String> = ["WJ01", "WJ02"].iter().map(|s| s.to_string()).collect();
    for opts in [&["--known-at", T0][..], &["--as-of-seq", "2"][..]] {
        let v = scores_with(&l, opts);
        assert_eq!(
            totals(&v).into_keys().collect::<BTreeSet<_>>(),
            two,
            "{opts:?}"
        );
        assert!(!l.ok(&["score", opts[0], opts[1]]).contains("WJ03"));
    }
    // Registered, but nothing recorded yet at seq 3.
    assert_eq!(
        total_of(&scores_with(&l, &["--as-of-seq", "3"]), "WJ03"),
        "100"
    );
    // --at cuts by occurred date only: the registration stays.
    assert_eq!(
        total_of(&scores_with(&l, &["--at", "2018-01-01"]), "WJ03"),
        "100"
    );
    assert_eq!(total_of(&scores_with(&l, &[]), "WJ03"), "97");

    let err = l.fails(&["explain", "--station", "WJ03", "--as-of-seq", "2"], 2);
    assert_contains(&err, "field `station`");
    assert_contains(&err, "WJ03");
    assert_contains(&err, "seq 2");
    let err = l.fails(&["explain", "--station", "WJ03", "--known-at", T0], 2);
    assert_contains(&err, "field `station`");
    assert_eq!(log_seqs(&l, &["--as-of-seq", "2"]), vec![0, 1, 2]);
    assert_eq!(
        log_seqs(&l, &["--station", "WJ03", "--as-of-seq", "2"]),
        Vec::<u64>::new()
    );
}

#[test]
fn bad_times_are_refused_with_exit_2() {
    let l = three_times();
    for cmd in [
        &["score"][..],
        &["score", "--json"][..],
        &["explain", "--station", "WJ01"][..],
        &["log"][..],
    ] {
        let run = |opts: &[&str]| -> String {
            let mut args = cmd.to_vec();
            args.extend_from_slice(opts);
            let out = l.run(&args);
            assert_eq!(
                out.code, 2,
                "kaohe {args:?} should exit 2: {}{}",
                out.stdout, out.stderr
            );
            assert!(
                out.stdout.is_empty(),
                "kaohe {args:?} printed: {}",
                out.stdout
            );
            out.stderr
        };
        for bad in ["2018-13-01", "2018-02-30", "2018/06/30", "yesterday", ""] {
            let err = run(&["--at", bad]);
            assert_contains(&err, &format!("--at `{bad}`"));
            assert_contains(&err, "YYYY-MM-DD");
        }
        for bad in [
            "yesterday",
            "2019-01-10",
            "2019-01-10 08:00:00",
            "1547107200",
        ] {
            let err = run(&["--known-at", bad]);
            assert_contains(&err, &format!("--known-at `{bad}`"));
            assert_contains(&err, "RFC 3339");
        }
        for beyond in ["6", "99"] {
            let err = run(&["--as-of-seq", beyond]);
            assert_contains(&err, "field `as-of-seq`");
            assert_contains(
                &err,
                &format!("seq {beyond} does not exist yet: the last seq is 5"),
            );
        }
        let err = run(&["--known-at", "2019-01-10T07:59:59.999999Z"]);
        assert_contains(&err, "field `known-at`");
        assert_contains(&err, &format!("the ledger was created at {T0}"));
        // clap refuses these before kaohe sees them
        run(&["--as-of-seq", "-1"]);
        run(&["--as-of-seq", "three"]);
    }
    for opts in [
        &["--as-of-seq", "6"][..],
        &["--known-at", "yesterday"][..],
        &["--known-at", "2019-01-01T00:00:00Z"][..],
    ] {
        let mut args = vec!["export"];
        args.extend_from_slice(opts);
        let out = l.run(&args);
        assert_eq!(out.code, 2, "kaohe {args:?}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "kaohe {args:?} printed: {}",
            out.stdout
        );
    }
}

#[test]
fn log_shows_the_events_in_view() {
    let l = three_times();
    assert_eq!(log_seqs(&l, &[]), vec![0, 1, 2, 3, 4, 5]);
    // --at keeps the genesis and the registrations, and the records that occurred by then
    assert_eq!(log_seqs(&l, &["--at", "2018-05-15"]), vec![0, 1, 2, 4]);
    assert_eq!(log_seqs(&l, &["--at", "2018-05-01"]), vec![0, 1, 2, 4]);
    assert_eq!(log_seqs(&l, &["--at", "2018-04-30"]), vec![0, 1, 2]);
    assert_eq!(log_seqs(&l, &["--as-of-seq", "3"]), vec![0, 1, 2, 3]);
    assert_eq!(log_seqs(&l, &["--known-at", T1]), vec![0, 1, 2, 3]);
    assert_eq!(
        log_seqs(
            &l,
            &["--station", "WJ01", "--known-at", T2, "--at", "2018-06-30"]
        ),
        vec![1, 3, 4]
    );
    // The text table holds the same rows.
    let text = l.ok(&["log", "--at", "2018-05-15"]);
    assert_eq!(text.lines().count(), 2 + 4, "{text}");
    assert!(!text.contains("1.3.a"), "{text}");
    assert_contains(&text, "1.2.a");
    // log --json carries each event's hash, the one export has.
    let log = l.ok(&["log", "--json", "--as-of-seq", "4"]);
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["hash"].as_str().unwrap(), export_hash(&l, 4));
}

#[test]
fn export_as_of_seq_is_a_prefix_that_verifies() {
    let l = three_times();
    let full = export_lines(&l, &[]);
    assert_eq!(full.len(), 6);
    for n in 0..=5u64 {
        let text = l.ok(&["export", "--as-of-seq", &n.to_string()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, n + 1, "export --as-of-seq {n}");
        for (i, line) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v, full[i], "line {i} of export --as-of-seq {n}");
        }
        let head = full[n as usize]["hash"].as_str().unwrap();
        let last: Value = serde_json::from_str(lines[n as usize]).unwrap();
        assert_eq!(last["hash"].as_str().unwrap(), head);

        let file = l.path(&format!("prefix-{n}.jsonl"));
        std::fs::write(&file, &text).unwrap();
        let file = file.to_str().unwrap();
        let out = l.ok(&["verify", "--export", file]);
        assert_contains(&out, &format!("ok: {} events verified", n + 1));
        assert_contains(&out, &format!("head {head}"));
        l.ok(&["verify", "--export", file, "--head", head]);
    }
    assert_eq!(
        l.ok(&["export", "--known-at", T1]),
        l.ok(&["export", "--as-of-seq", "3"])
    );
    assert_eq!(l.ok(&["export", "--known-at", T2]), l.ok(&["export"]));

    // --at makes no sense for an export (a chain cannot skip events): clap refuses it.
    let err = l.fails(&["export", "--at", "2018-06-30"], 2);
    assert_contains(&err, "--at");
}

/// The log table shows recorded times to the second; the ledger keeps microseconds. A user who
/// copies a recorded time from `log` into `--known-at` expects that event in view ("includes
/// what was recorded at that instant"), and it is not: the view ends before it.
#[test]
fn the_recorded_time_log_shows_brings_that_event_into_view() {
    let l = three_times();
    let text = l.ok(&["log"]);
    let row = text
        .lines()
        .find(|line| line.trim_start().starts_with("3 "))
        .expect("the row of seq 3");
    let shown = row.split_whitespace().nth(1).expect("recorded_at column");
    let v = scores_with(&l, &["--known-at", shown]);
    assert!(
        view_of(&v).0 >= 3,
        "log shows seq 3 recorded at {shown}, but --known-at {shown} ends at seq {}",
        view_of(&v).0
    );
}

// ---------------------------------------------------------------------------------------------
// explain.

/// A small ledger for explain:
///
/// - T0: WJ01 town (seq 1), WJ02 subdistrict (seq 2), WJ03 town (seq 3, never anything else);
/// - T1: item 3.1 (max 7) of WJ01: X1 3.1.b range 5 (seq 4), X2 3.1.c fixed 8 (seq 5, only 2
///   of it counts), X3 3.1.a per unit 2 × 2 (seq 6, nothing counts);
/// - T2: X4 1.6.c shortfall 95 (seq 7, 3), X5 1.4.a missing done 3 (seq 8, 4), X6/X7 2.2.a
///   below by kind (seq 9 WJ01 0.5, seq 10 WJ02 1), X8/X9 B.5.a at least by kind (seq 11
///   WJ01, seq 12 WJ02), X10/X11 B.1.a twice (seq 13, 14: the second counts 0), M1 a metric
///   (seq 15).
///
/// WJ01: deducted 7 + 3 + 4 + 0.5 = 14.5 (raw 24.5), awarded 2 + 1 = 3 (raw 5): 88.5, rank 3.
/// WJ02: 100 − 1 + 1 = 100; WJ03: 100; both rank 1.
fn crafted() -> TestLedger {
    let mut l = TestLedger::with_stations();
    l.ok(&[
        "station",
        "add",
        "WJ03",
        "--name",
        "雪堰司法所",
        "--kind",
        "town",
    ]);
    l.now = T1.into();
    let seqs = [
        rec(
            &l,
            "X1",
            "3.1.b",
            "WJ01",
            "矫正科",
            "2018-03-01",
            &[
                "--points",
                "5",
                "--count",
                "1",
                "--note",
                "逾期入矫",
                "--evidence",
                "常武司矫〔2018〕5号",
                "--evidence",
                "检查记录",
            ],
        ),
        rec(
            &l,
            "X2",
            "3.1.c",
            "WJ01",
            "社矫科",
            "2018-04-01",
            &["--evidence", "E2"],
        ),
        rec(
            &l,
            "X3",
            "3.1.a",
            "WJ01",
            "社矫科",
            "2018-05-01",
            &["--count", "2", "--evidence", "E3"],
        ),
    ];
    assert_eq!(seqs, [4, 5, 6]);
    l.now = T2.into();
    let seqs = [
        rec(
            &l,
            "X4",
            "1.6.c",
            "WJ01",
            "基层科",
            "2018-06-01",
            &["--value", "95", "--evidence", "E4"],
        ),
        rec(
            &l,
            "X5",
            "1.4.a",
            "WJ01",
            "基层科",
            "2018-07-01",
            &["--done", "3", "--evidence", "E5"],
        ),
        rec(
            &l,
            "X6",
            "2.2.a",
            "WJ01",
            "法援科",
            "2018-08-01",
            &[
                "--value",
                "80",
                "--points",
                "0.5",
                "--note",
                "少录",
                "--evidence",
                "E6",
            ],
        ),
        rec(
            &l,
            "X7",
            "2.2.a",
            "WJ02",
            "法援科",
            "2018-08-01",
            &[
                "--value",
                "40",
                "--points",
                "1",
                "--note",
                "少录",
                "--evidence",
                "E7",
            ],
        ),
        rec(
            &l,
            "X8",
            "B.5.a",
            "WJ01",
            "法援科",
            "2018-12-01",
            &["--value", "63", "--evidence", "E8"],
        ),
        rec(
            &l,
            "X9",
            "B.5.a",
            "WJ02",
            "法援科",
            "2018-12-01",
            &["--value", "25", "--evidence", "E9"],
        ),
        rec(
            &l,
            "X10",
            "B.1.a",
            "WJ01",
            "宣教科",
            "2018-09-01",
            &["--evidence", "E10"],
        ),
        rec(
            &l,
            "X11",
            "B.1.a",
            "WJ01",
            "宣教科",
            "2018-10-01",
            &["--evidence", "E11"],
        ),
    ];
    assert_eq!(seqs, [7, 8, 9, 10, 11, 12, 13, 14]);
    l.ok(&[
        "metric",
        "--id",
        "M1",
        "--station",
        "WJ01",
        "--metric",
        "legal_aid_referrals",
        "--value",
        "63",
        "--by",
        "法援科",
        "--occurred",
        "2018-12-01",
        "--evidence",
        "统计表",
    ]);
    assert_eq!(l.event_count(), 16);
    l
}

fn explain_json(l: &TestLedger, station: &str, opts: &[&str]) -> Value {
    let mut args = vec!["explain", "--station", station, "--json"];
    args.extend_from_slice(opts);
    let out = l.run(&args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    out.json()
}

fn explain_text(l: &TestLedger, station: &str, opts: &[&str]) -> String {
    let mut args = vec!["explain", "--station", station];
    args.extend_from_slice(opts);
    l.ok(&args)
}

/// The number of items in the rubric.
fn rubric_items(l: &TestLedger) -> usize {
    let v: Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).unwrap();
    v["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["items"].as_array().unwrap().len())
        .sum()
}

fn item<'v>(x: &'v Value, code: &str) -> &'v Value {
    x["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["item"] == code)
        .unwrap_or_else(|| panic!("no item {code} in {x}"))
}

/// Every event of an explain JSON, by id.
fn events(x: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for i in x["items"].as_array().unwrap() {
        for c in i["clauses"].as_array().unwrap() {
            for e in c["events"].as_array().unwrap() {
                out.insert(e["id"].as_str().unwrap().to_string(), e.clone());
            }
        }
    }
    out
}

fn sum(values: impl IntoIterator<Item = Value>) -> Decimal {
    values
        .into_iter()
        .map(|v| dec(v.as_str().expect("a decimal string")))
        .sum()
}

/// The figures of an explain JSON add up: per clause, raw_points is the sum of the events'
/// standing points (computed, less what a decision or reversal took away); per item, the raw
/// figure is the sum of standing points and the applied
/// figure the sum of applied points; per station, the item figures add up to the station's,
/// and the total is 100 − deducted + awarded.
fn assert_adds_up(x: &Value) {
    let (mut deducted, mut raw_deducted, mut before_cap, mut raw_awarded) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for i in x["items"].as_array().unwrap() {
        let bonus = i["bonus"].as_bool().unwrap();
        let (mut computed, mut applied) = (Decimal::ZERO, Decimal::ZERO);
        let mut last_seq = 0;
        for c in i["clauses"].as_array().unwrap() {
            let evs = c["events"].as_array().unwrap();
            assert_eq!(
                dec(c["raw_points"].as_str().unwrap()),
                sum(evs.iter().map(|e| e["standing_points"].clone())),
                "clause {}",
                c["clause"]
            );
            for e in evs {
                computed += dec(e["standing_points"].as_str().unwrap());
                applied += dec(e["applied_points"].as_str().unwrap());
                assert_eq!(e["direction"], if bonus { "bonus" } else { "deduction" });
                assert!(
                    dec(e["applied_points"].as_str().unwrap())
                        <= dec(e["computed_points"].as_str().unwrap())
                );
                last_seq = last_seq.max(e["seq"].as_u64().unwrap());
            }
        }
        let (raw, got) = if bonus {
            ("raw_awarded", "awarded")
        } else {
            ("raw_deducted", "deducted")
        };
        if x["items"].as_array().unwrap().len() > 1 || !i["clauses"].as_array().unwrap().is_empty()
        {
            assert_eq!(
                dec(i[raw].as_str().unwrap()),
                computed,
                "item {}",
                i["item"]
            );
            assert_eq!(dec(i[got].as_str().unwrap()), applied, "item {}", i["item"]);
        }
        assert_eq!(
            i["capped"].as_bool().unwrap(),
            i[raw] != i[got],
            "item {}",
            i["item"]
        );
        if bonus {
            before_cap += dec(i["awarded"].as_str().unwrap());
            raw_awarded += dec(i["raw_awarded"].as_str().unwrap());
        } else {
            deducted += dec(i["deducted"].as_str().unwrap());
            raw_deducted += dec(i["raw_deducted"].as_str().unwrap());
        }
    }
    if x["items"].as_array().unwrap().len() > 1 {
        assert_eq!(dec(x["deducted"].as_str().unwrap()), deducted);
        assert_eq!(dec(x["raw_deducted"].as_str().unwrap()), raw_deducted);
        assert_eq!(dec(x["awarded_before_cap"].as_str().unwrap()), before_cap);
        assert_eq!(dec(x["raw_awarded"].as_str().unwrap()), raw_awarded);
    }
    let awarded = dec(x["awarded"].as_str().unwrap());
    assert_eq!(
        awarded,
        dec(x["awarded_before_cap"].as_str().unwrap()).min(dec(BONUS_CAP))
    );
    assert_eq!(
        dec(x["total"].as_str().unwrap()),
        dec(BASE) - dec(x["deducted"].as_str().unwrap()) + awarded
    );
}

#[test]
fn explain_text_goes_from_the_total_to_each_event() {
    let l = crafted();
    let t = explain_text(&l, "WJ01", &[]);
    for needle in [
        "WJ01 湖塘司法所 (镇)  total 88.5 = 100 − 14.5 + 3   rank 3 of 3\n",
        "view: as of seq 15, every occurred date\n",
        // an item whose cap bit, with its events in seq order
        "\n3.1 社区矫正执法管理 — max 7, deducted 7 (raw 17; the item cap of 7 bit) — 社矫科\n",
        "  3.1.b range: 有逾期入解矫",
        "      rule: 2–8 per unit, with a note\n",
        "    seq 4  X1  -5  chosen 5 (range 2–8) × 1 = 5\n",
        "        note: 逾期入矫\n",
        // the alias 矫正科 is recorded as its department
        &format!("        occurred 2018-03-01, recorded {T1}, assessed by 社矫科\n"),
        "        evidence: 常武司矫〔2018〕5号; 检查记录\n",
        &format!("        hash {}\n", export_hash(&l, 4)),
        "    seq 5  X2  -8 (applied -2: the item cap of 7 was reached)  fixed 8\n",
        "    seq 6  X3  -4 (applied 0: the item cap of 7 was already reached)  2 × 2 = 4\n",
        // every rule kind's working
        "    seq 7  X4  -3  agreement_fulfilment_rate 95 is 3 below 98: ⌈3 / 1⌉ = 3 steps × 1 = 3\n",
        "      rule: agreement_fulfilment_rate below 98: 1 per step of 1 (ceil)\n",
        "    seq 8  X5  -4  done 3 of 5: 2 missing × 2 = 4\n",
        "    seq 9  X6  -0.5  legal_consultations_entered 80 < 100 (town) → chosen 0.5 (range 0.5–1)\n",
        "    seq 11  X8  +1  legal_aid_referrals 63 ≥ 50 (town) → 1\n",
        // a bonus item's cap
        "\nB.1 法治宣传教育 — max 2, awarded 2 (raw 4; the item cap of 2 bit) — 宣教科\n",
        "    seq 13  X10  +2  fixed 2\n",
        "    seq 14  X11  +2 (applied 0: the item cap of 2 was already reached)  fixed 2\n",
        &format!("        occurred 2018-10-01, recorded {T2}, assessed by 宣教科\n"),
        // the items with nothing recorded are only counted
        &format!("\n{} other items: nothing recorded\n", rubric_items(&l) - 6),
        "\nreported metrics (the last recorded of each, in view):\n",
        "  legal_aid_referrals = 63  occurred 2018-12-01 by 法援科  seq 15 M1  evidence: 统计表\n",
    ] {
        assert_contains(&t, needle);
    }
    // items in rubric order; quiet items and clauses without events are left out
    let at = |s: &str| t.find(s).unwrap_or_else(|| panic!("{s} in {t}"));
    assert!(at("\n1.4 ") < at("\n1.6 "));
    assert!(at("\n1.6 ") < at("\n2.2 "));
    assert!(at("\n2.2 ") < at("\n3.1 "));
    assert!(at("\n3.1 ") < at("\nB.1 "));
    assert!(at("\nB.1 ") < at("\nB.5 "));
    assert!(at("  3.1.a ") < at("  3.1.b ") && at("  3.1.b ") < at("  3.1.c "));
    assert!(!t.contains("\n1.1 "), "{t}");
    assert!(!t.contains("3.1.d"), "{t}");
    assert!(!t.contains("1.6.d"), "{t}");

    // The thresholds of the station's kind.
    let t = explain_text(&l, "WJ02", &[]);
    assert_contains(
        &t,
        "WJ02 南夏墅街道司法所 (街道)  total 100 = 100 − 1 + 1   rank 1 of 3\n",
    );
    assert_contains(
        &t,
        "    seq 10  X7  -1  legal_consultations_entered 40 < 50 (subdistrict) → chosen 1 (range 0.5–1)\n",
    );
    assert_contains(
        &t,
        "    seq 12  X9  +1  legal_aid_referrals 25 ≥ 20 (subdistrict) → 1\n",
    );
    assert!(!t.contains("reported metrics"), "{t}");
}

#[test]
fn explain_json_holds_the_rule_the_inputs_and_the_chain() {
    let l = crafted();
    let x = explain_json(&l, "WJ01", &[]);
    assert_adds_up(&x);
    for (k, v) in [
        ("station", "WJ01"),
        ("name", "湖塘司法所"),
        ("kind", "town"),
        ("total", "88.5"),
        ("deducted", "14.5"),
        ("awarded", "3"),
        ("raw_deducted", "24.5"),
        ("raw_awarded", "5"),
        ("awarded_before_cap", "3"),
    ] {
        assert_eq!(x[k], v, "{k}");
    }
    assert_eq!(x["rank"], 3);
    assert_eq!(x["stations"], 3);
    assert_eq!(
        x["view"],
        serde_json::json!({"as_of_seq": 15, "known_at": null, "at": null})
    );
    // every item, in rubric order; only the clauses with events
    let items = x["items"].as_array().unwrap();
    assert_eq!(items.len(), rubric_items(&l));
    let with_events: Vec<&str> = items
        .iter()
        .filter(|i| !i["clauses"].as_array().unwrap().is_empty())
        .map(|i| i["item"].as_str().unwrap())
        .collect();
    assert_eq!(with_events, ["1.4", "1.6", "2.2", "3.1", "B.1", "B.5"]);

    let i31 = item(&x, "3.1");
    assert_eq!(i31["max"], "7");
    assert_eq!(i31["bonus"], false);
    assert_eq!(i31["departments"], serde_json::json!(["社矫科"]));
    assert_eq!(i31["raw_deducted"], "17");
    assert_eq!(i31["deducted"], "7");
    assert_eq!(i31["awarded"], "0");
    assert_eq!(i31["capped"], true);
    let clauses: Vec<(&str, &str, &str)> = i31["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["clause"].as_str().unwrap(),
                c["kind"].as_str().unwrap(),
                c["raw_points"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        clauses,
        [
            ("3.1.a", "per_unit", "4"),
            ("3.1.b", "range", "5"),
            ("3.1.c", "fixed", "8")
        ]
    );
    assert_eq!(i31["clauses"][0]["rule"], "2 per unit");
    assert_eq!(
        i31["clauses"][0]["text"],
        "未落实合议、公示等制度的，扣2分/件"
    );

    let ev = events(&x);
    assert_eq!(
        ev.keys().collect::<Vec<_>>(),
        ["X1", "X10", "X11", "X2", "X3", "X4", "X5", "X6", "X8"]
    );
    // the cap bites in seq order: X1 (seq 4) 5, X2 (seq 5) 2 of 8, X3 (seq 6) 0 of 4
    for (id, computed, applied) in [
        ("X1", "5", "5"),
        ("X2", "8", "2"),
        ("X3", "4", "0"),
        ("X10", "2", "2"),
        ("X11", "2", "0"),
        ("X4", "3", "3"),
    ] {
        assert_eq!(ev[id]["computed_points"], computed, "{id}");
        assert_eq!(ev[id]["applied_points"], applied, "{id}");
    }
    let x1 = &ev["X1"];
    let full = export_lines(&l, &[]);
    for (k, v) in [
        ("seq", Value::from(4)),
        ("hash", full[4]["hash"].clone()),
        ("recorded_at", Value::from(T1)),
        ("occurred", Value::from("2018-03-01")),
        ("by", Value::from("社矫科")),
        ("value", Value::Null),
        ("count", Value::from(1)),
        ("done", Value::Null),
        ("points", Value::from("5")),
        ("note", Value::from("逾期入矫")),
        ("direction", Value::from("deduction")),
        ("threshold", Value::Null),
        ("gap", Value::Null),
        ("steps", Value::Null),
        ("required", Value::Null),
        ("working", Value::from("chosen 5 (range 2–8) × 1 = 5")),
        (
            "evidence",
            serde_json::json!(["常武司矫〔2018〕5号", "检查记录"]),
        ),
    ] {
        assert_eq!(x1[k], v, "X1 {k}");
    }
    // every event's id, seq, hash and recorded_at are the chain's
    for e in ev.values() {
        let seq = e["seq"].as_u64().unwrap() as usize;
        assert_eq!(e["hash"], full[seq]["hash"], "{e}");
        assert_eq!(e["id"], full[seq]["id"], "{e}");
        assert_eq!(e["recorded_at"], full[seq]["recorded_at"], "{e}");
        assert_eq!(e["occurred"], full[seq]["occurred"], "{e}");
        assert_eq!(e["evidence"], full[seq]["evidence"], "{e}");
    }
    let x3 = &ev["X3"];
    assert_eq!(x3["count"], 2);
    assert_eq!(x3["points"], Value::Null);
    assert_eq!(x3["working"], "2 × 2 = 4");
    let x4 = &ev["X4"];
    assert_eq!(x4["value"], "95");
    assert_eq!(x4["threshold"], "98");
    assert_eq!(x4["gap"], "3");
    assert_eq!(x4["steps"], "3");
    assert_eq!(x4["required"], Value::Null);
    assert_eq!(
        x4["working"],
        "agreement_fulfilment_rate 95 is 3 below 98: ⌈3 / 1⌉ = 3 steps × 1 = 3"
    );
    let x5 = &ev["X5"];
    assert_eq!(x5["done"], 3);
    assert_eq!(x5["required"], 5);
    assert_eq!(x5["threshold"], Value::Null);
    assert_eq!(x5["working"], "done 3 of 5: 2 missing × 2 = 4");
    let x6 = &ev["X6"];
    assert_eq!(x6["value"], "80");
    assert_eq!(x6["threshold"], "100");
    assert_eq!(x6["points"], "0.5");
    assert_eq!(x6["gap"], Value::Null);
    let x8 = &ev["X8"];
    assert_eq!(x8["direction"], "bonus");
    assert_eq!(x8["threshold"], "50");
    assert_eq!(x8["working"], "legal_aid_referrals 63 ≥ 50 (town) → 1");
    let b1 = item(&x, "B.1");
    assert_eq!(
        (&b1["raw_awarded"], &b1["awarded"], &b1["capped"]),
        (&Value::from("4"), &Value::from("2"), &Value::from(true))
    );

    assert_eq!(
        x["metrics"],
        serde_json::json!([{
            "metric": "legal_aid_referrals", "value": "63", "occurred": "2018-12-01",
            "by": "法援科", "id": "M1", "seq": 15, "hash": full[15]["hash"],
            "recorded_at": T2, "evidence": ["统计表"],
        }])
    );

    // the subdistrict's thresholds
    let x = explain_json(&l, "WJ02", &[]);
    assert_adds_up(&x);
    assert_eq!(
        (x["total"].as_str(), x["rank"].as_u64()),
        (Some("100"), Some(1))
    );
    let ev = events(&x);
    assert_eq!(ev["X7"]["threshold"], "50");
    assert_eq!(ev["X9"]["threshold"], "20");
    assert_eq!(
        ev["X9"]["working"],
        "legal_aid_referrals 25 ≥ 20 (subdistrict) → 1"
    );
    assert_eq!(x["metrics"], serde_json::json!([]));

    // explain agrees with score
    let s = l.station_score("WJ01");
    let x = explain_json(&l, "WJ01", &[]);
    for k in [
        "total",
        "deducted",
        "awarded",
        "raw_deducted",
        "raw_awarded",
        "awarded_before_cap",
        "rank",
    ] {
        assert_eq!(x[k], s[k], "{k}");
    }
}

#[test]
fn explain_item_shows_that_item_with_all_its_clauses() {
    let l = crafted();
    let x = explain_json(&l, "WJ01", &["--item", "3.1"]);
    assert_adds_up(&x);
    let items = x["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["item"], "3.1");
    let codes: Vec<&str> = items[0]["clauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clause"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["3.1.a", "3.1.b", "3.1.c", "3.1.d", "3.1.e", "3.1.f", "3.1.g", "3.1.h"]
    );
    let d = &items[0]["clauses"][3];
    assert_eq!(d["events"], serde_json::json!([]));
    assert_eq!(d["raw_points"], "0");
    // the station's figures stay whole
    assert_eq!(x["total"], "88.5");
    assert_eq!(x["deducted"], "14.5");

    let t = explain_text(&l, "WJ01", &["--item", "3.1"]);
    assert_contains(&t, "total 88.5 = 100 − 14.5 + 3");
    assert_contains(
        &t,
        "  3.1.d fixed: 社工受到刑事责任追究的，减半扣分\n      rule: 4\n",
    );
    assert_contains(&t, "  3.1.h shortfall:");
    assert_contains(
        &t,
        "    seq 5  X2  -8 (applied -2: the item cap of 7 was reached)  fixed 8\n",
    );
    assert!(!t.contains("\n1.6 "), "{t}");
    assert!(!t.contains("other items"), "{t}");

    // an item without events, for a station without events
    let x = explain_json(&l, "WJ03", &["--item", "1.6"]);
    let clauses = x["items"][0]["clauses"].as_array().unwrap();
    assert_eq!(clauses.len(), 4);
    assert!(clauses.iter().all(|c| c["events"] == serde_json::json!([])));
    let t = explain_text(&l, "WJ03", &["--item", "1.6"]);
    assert_contains(&t, "\n1.6 规范化建设 — max 4, deducted 0 — 基层科\n");
    assert_contains(&t, "  1.6.d shortfall: 参训率每低五个百分点扣1分\n");
    // a bonus item
    let x = explain_json(&l, "WJ01", &["--item", "B.1"]);
    assert_eq!(x["items"][0]["clauses"].as_array().unwrap().len(), 1);
    assert_eq!(x["items"][0]["capped"], true);
}

#[test]
fn explain_follows_the_view() {
    let l = crafted();
    // seq 4: only X1 of item 3.1
    let x = explain_json(&l, "WJ01", &["--as-of-seq", "4"]);
    assert_adds_up(&x);
    assert_eq!(x["total"], "95");
    assert_eq!(x["view"]["as_of_seq"], 4);
    let i31 = item(&x, "3.1");
    assert_eq!(
        (&i31["deducted"], &i31["capped"]),
        (&Value::from("5"), &Value::from(false))
    );
    assert_eq!(events(&x).keys().collect::<Vec<_>>(), ["X1"]);
    assert_eq!(x["metrics"], serde_json::json!([]));
    assert_contains(
        &explain_text(&l, "WJ01", &["--as-of-seq", "4"]),
        "total 95 = 100 − 5 + 0   rank 3 of 3\nview: as of seq 4, every occurred date\n",
    );

    // seq 5: the cap bites at X2
    let x = explain_json(&l, "WJ01", &["--as-of-seq", "5"]);
    assert_adds_up(&x);
    assert_eq!(x["total"], "93");
    assert_eq!(events(&x)["X2"]["applied_points"], "2");

    // --at by occurred date: X1 (03-01) and X2 (04-01), the same
    let x = explain_json(&l, "WJ01", &["--at", "2018-04-01"]);
    assert_adds_up(&x);
    assert_eq!(x["total"], "93");
    assert_eq!(
        x["view"],
        serde_json::json!({"as_of_seq": 15, "known_at": null, "at": "2018-04-01"})
    );
    assert_eq!(events(&x).keys().collect::<Vec<_>>(), ["X1", "X2"]);
    let t = explain_text(&l, "WJ01", &["--at", "2018-04-01"]);
    assert_contains(&t, "view: as of seq 15, occurred on or before 2018-04-01\n");
    assert!(
        !t.contains("reported metrics"),
        "the metric occurred later: {t}"
    );

    // --known-at T1: the three events of item 3.1
    let x = explain_json(&l, "WJ01", &["--known-at", T1]);
    assert_adds_up(&x);
    assert_eq!(x["total"], "93");
    assert_eq!(
        x["view"],
        serde_json::json!({"as_of_seq": 6, "known_at": T1, "at": null})
    );
    assert_eq!(events(&x).keys().collect::<Vec<_>>(), ["X1", "X2", "X3"]);
    assert_contains(
        &explain_text(&l, "WJ01", &["--known-at", T1]),
        &format!("view: as of seq 6, known at {T1}, every occurred date\n"),
    );

    // both
    let x = explain_json(&l, "WJ01", &["--known-at", T1, "--at", "2018-03-31"]);
    assert_eq!(x["total"], "95");
    assert_eq!(events(&x).keys().collect::<Vec<_>>(), ["X1"]);
    // rank and the number of stations are those of the view
    let x = explain_json(&l, "WJ01", &["--as-of-seq", "4"]);
    assert_eq!(
        (x["rank"].as_u64(), x["stations"].as_u64()),
        (Some(3), Some(3))
    );
    let x = explain_json(&l, "WJ02", &["--as-of-seq", "2"]);
    assert_eq!(
        (x["rank"].as_u64(), x["stations"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn explain_refuses_an_unknown_station_or_item() {
    let l = crafted();
    for (args, field, named) in [
        (&["explain", "--station", "NOPE"][..], "station", "NOPE"),
        (
            &["explain", "--station", "NOPE", "--json"][..],
            "station",
            "NOPE",
        ),
        (
            &["explain", "--station", "WJ01", "--item", "9.9"][..],
            "item",
            "9.9",
        ),
        (
            &["explain", "--station", "WJ01", "--item", "3.1.a"][..],
            "item",
            "3.1.a",
        ),
        (
            &["explain", "--station", "NOPE", "--item", "9.9"][..],
            "item",
            "9.9",
        ),
    ] {
        let out = l.run(args);
        assert_eq!(out.code, 2, "kaohe {args:?}: {}", out.stdout);
        assert!(out.stdout.is_empty());
        assert_contains(&out.stderr, &format!("field `{field}`"));
        assert_contains(&out.stderr, &format!("`{named}`"));
    }
    // --station is required
    l.fails(&["explain"], 2);
}

#[test]
fn a_station_without_events_explains_to_100() {
    let l = crafted();
    let n = rubric_items(&l);
    let t = explain_text(&l, "WJ03", &[]);
    assert_contains(
        &t,
        "WJ03 雪堰司法所 (镇)  total 100 = 100 − 0 + 0   rank 1 of 3\n",
    );
    assert_contains(&t, &format!("\n{n} other items: nothing recorded\n"));
    assert!(!t.contains("\n    seq "), "no events: {t}");
    let x = explain_json(&l, "WJ03", &[]);
    assert_adds_up(&x);
    for k in [
        "total",
        "deducted",
        "awarded",
        "raw_deducted",
        "raw_awarded",
    ] {
        assert_eq!(x[k], if k == "total" { "100" } else { "0" }, "{k}");
    }
    let items = x["items"].as_array().unwrap();
    assert_eq!(items.len(), n);
    assert!(items
        .iter()
        .all(|i| i["clauses"] == serde_json::json!([]) && i["capped"] == false));
    assert_eq!(x["metrics"], serde_json::json!([]));
}

/// The latest report of a metric is the last recorded one (the definition year-end ranking
/// uses), among the reports in view: a mid-year figure filed after the year-end one is the
/// latest, and `--at` before the year-end date leaves the year-end figure out of view.
#[test]
fn explain_shows_the_metric_recorded_last_in_view() {
    let l = TestLedger::with_stations();
    let metric = |id: &str, value: &str, occurred: &str| {
        l.ok(&[
            "metric",
            "--id",
            id,
            "--station",
            "WJ01",
            "--metric",
            "legal_aid_referrals",
            "--value",
            value,
            "--by",
            "法援科",
            "--occurred",
            occurred,
            "--evidence",
            "统计表",
        ]);
    };
    metric("YEAR", "63", "2018-12-20");
    metric("HALF", "20", "2018-06-30");
    for opts in [
        &[][..],
        &["--at", "2018-12-31"][..],
        &["--at", "2018-07-01"][..],
    ] {
        let x = explain_json(&l, "WJ01", opts);
        assert_eq!(x["metrics"][0]["id"], "HALF", "{opts:?}: {}", x["metrics"]);
    }
    // Known before the mid-year figure was filed, the year-end figure was the latest.
    let x = explain_json(&l, "WJ01", &["--as-of-seq", "3"]);
    assert_eq!(x["metrics"][0]["id"], "YEAR");
}

// ---------------------------------------------------------------------------------------------
// The explain schema.

fn explain_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/explain.schema.json");
    let text = std::fs::read_to_string(&path).expect("schema file");
    let value: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&value).expect("schema compiles")
}

fn assert_fits(v: &jsonschema::Validator, x: &Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(x).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

#[test]
fn explain_json_fits_its_schema() {
    let v = explain_schema();
    let l = TestLedger::new();
    let fixture = fixture_path("wujin-2018.jsonl");
    l.ok(&["import", fixture.to_str().unwrap()]);
    let scores = l.scores();
    let mut kinds = BTreeSet::new();
    for s in scores["stations"].as_array().unwrap() {
        let code = s["station"].as_str().unwrap();
        let x = explain_json(&l, code, &[]);
        assert_fits(&v, &x, code);
        assert_adds_up(&x);
        for k in ["total", "deducted", "awarded", "rank"] {
            assert_eq!(x[k], s[k], "{code} {k}");
        }
        for i in x["items"].as_array().unwrap() {
            for c in i["clauses"].as_array().unwrap() {
                kinds.insert(c["kind"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(
        kinds.len() >= 6,
        "the fixture exercises most rule kinds: {kinds:?}"
    );
    for (code, opts) in [
        ("WJ01", &["--item", "3.1"][..]),
        ("WJ01", &["--item", "B.1"][..]),
        ("WJ10", &["--item", "1.6"][..]),
        ("WJ01", &["--at", "2018-06-30"][..]),
        ("WJ12", &["--at", "2018-06-30", "--known-at", TEST_NOW][..]),
        ("WJ03", &["--as-of-seq", "100"][..]),
    ] {
        let x = explain_json(&l, code, opts);
        assert_fits(&v, &x, &format!("{code} {opts:?}"));
        assert_adds_up(&x);
    }
    // the crafted ledger: microseconds in recorded_at, every input kind
    let c = crafted();
    for code in ["WJ01", "WJ02", "WJ03"] {
        assert_fits(&v, &explain_json(&c, code, &[]), code);
    }
    assert_fits(
        &v,
        &explain_json(&c, "WJ01", &["--known-at", T1]),
        "known-at",
    );
}

#[test]
fn the_explain_schema_refuses_what_explain_never_prints() {
    let v = explain_schema();
    let l = crafted();
    let x = explain_json(&l, "WJ01", &[]);
    assert!(v.is_valid(&x));
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut y = x.clone();
        f(&mut y);
        y
    };
    let broken = [
        (
            "no items",
            edit(&|y| {
                y.as_object_mut().unwrap().remove("items");
            }),
        ),
        (
            "a number for a decimal",
            edit(&|y| y["total"] = serde_json::json!(88.5)),
        ),
        (
            "a non-canonical decimal",
            edit(&|y| y["total"] = Value::from("88.50")),
        ),
        ("an unknown field", edit(&|y| y["extra"] = Value::from(1))),
        (
            "no view",
            edit(&|y| {
                y.as_object_mut().unwrap().remove("view");
            }),
        ),
        (
            "a view without known_at",
            edit(&|y| {
                y["view"].as_object_mut().unwrap().remove("known_at");
            }),
        ),
        (
            "an absent (not null) input",
            edit(&|y| {
                let e = &mut y["items"][3]["clauses"][0]["events"][0];
                e.as_object_mut().unwrap().remove("value");
            }),
        ),
        (
            "an event without applied_points",
            edit(&|y| {
                let e = &mut y["items"][3]["clauses"][0]["events"][0];
                e.as_object_mut().unwrap().remove("applied_points");
            }),
        ),
        (
            "a short hash",
            edit(&|y| {
                y["items"][3]["clauses"][0]["events"][0]["hash"] = Value::from("abc");
            }),
        ),
        (
            "no evidence",
            edit(&|y| {
                y["items"][3]["clauses"][0]["events"][0]["evidence"] = serde_json::json!([]);
            }),
        ),
        (
            "an unknown kind",
            edit(&|y| y["kind"] = Value::from("city")),
        ),
    ];
    // the edits above reach a real event
    assert_eq!(x["items"][3]["item"], "1.4");
    assert_eq!(x["items"][3]["clauses"][0]["events"][0]["id"], "X5");
    for (what, y) in broken {
        assert!(!v.is_valid(&y), "the schema accepts {what}");
    }
}

// ---------------------------------------------------------------------------------------------
// show.

fn show_json(l: &TestLedger, key: &str) -> Value {
    let out = l.run(&["show", key, "--json"]);
    assert_eq!(out.code, 0, "kaohe show {key} failed: {}", out.stderr);
    out.json()
}

#[test]
fn show_finds_one_event_by_id_seq_or_hash() {
    let l = crafted();
    let full = export_lines(&l, &[]);
    let hash = full[5]["hash"].as_str().unwrap().to_string();
    let by_id = show_json(&l, "X2");
    for key in [
        "5".to_string(),
        hash.clone(),
        hash.to_ascii_uppercase(),
        format!(" {hash} "),
    ] {
        assert_eq!(show_json(&l, &key), by_id, "show {key:?}");
    }
    // the export line, plus where it stands in the chain
    let mut expected = full[5].as_object().unwrap().clone();
    expected.insert("last_seq".into(), Value::from(15));
    expected.insert("next_hash".into(), full[6]["hash"].clone());
    assert_eq!(by_id, Value::Object(expected));
    assert_eq!(by_id["prev_hash"], full[4]["hash"]);

    let text = l.ok(&["show", "X2"]);
    assert_eq!(text, l.ok(&["show", "5"]));
    assert_eq!(text, l.ok(&["show", &hash]));
    assert_contains(&text, "event seq 5 of 0–15\n");
    assert_contains(&text, "X2");
    assert_contains(&text, &format!("recorded_at      {T1}"));
    assert_contains(&text, &format!("hash             {hash}"));
    assert_contains(
        &text,
        &format!("next_hash        {}", full[6]["hash"].as_str().unwrap()),
    );
    assert!(!text.contains("this is the head"));

    // the head has no next hash
    let head = show_json(&l, "15");
    assert_eq!(head["next_hash"], Value::Null);
    assert_eq!(head["last_seq"], 15);
    assert_eq!(head["id"], "M1");
    assert_contains(&l.ok(&["show", "M1"]), "(this is the head)");
    // the genesis
    let genesis = show_json(&l, "0");
    assert_eq!(genesis["type"], "ledger_created");
    assert_eq!(genesis["next_hash"], full[1]["hash"]);
    // a station by seq
    assert_eq!(show_json(&l, "3")["code"], "WJ03");

    for key in [
        "NOPE",
        "16",
        "99999999999999999999",
        &"f".repeat(64),
        &hash[..63],
        "",
    ] {
        let out = l.run(&["show", key]);
        assert_eq!(out.code, 2, "show {key:?}: {}", out.stdout);
        assert!(out.stdout.is_empty());
        assert_contains(&out.stderr, &format!("no event `{key}`"));
        assert_contains(&out.stderr, "0–15");
    }
}
