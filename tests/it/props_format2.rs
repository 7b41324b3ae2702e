//! Properties of rubric format 2 (issue 16), checked on generated inputs (proptest):
//!
//! - a small random format-2 rubric (a few categories and a bonus one; items `capped` or not,
//!   some weighted by `full_marks`; `fixed`, `per_unit` and `missing` clauses with random
//!   `once`, `excludes`, `requires`, `deadline` and `max_count`) loads, and `kaohe rubric
//!   check` accepts it;
//! - a random sequence of commands against it (records with occurred dates, reversals of
//!   earlier records, appeals and their decisions, commands sent again) is accepted or refused
//!   exactly as a naive model written here says, for the reason it gives (the model reads the
//!   rules from `schema/RUBRIC.md` and `README.md`, not from kaohe's rubric or rule code), in a
//!   batch as one by one;
//! - the scores match the model's plain decimal sums (per station: total, deducted, awarded,
//!   raw figures, bonus before its cap, rank; per item: its scale, weight, applied and raw
//!   figures, what it counts for, whether its cap cut): through the replay (the projection
//!   fold) at every prefix of the chain, `kaohe score --json` (the tally) at the head, at an
//!   `--as-of-seq` cut and at an `--at` day, and `kaohe explain --json` of every station (and
//!   of one at the cut); `kaohe verify` passes.
//!
//! Case counts are kept modest so that the suite stays fast (the command-line property runs
//! the binary eight or so times per case).

use crate::harness::{Output, TestLedger};
use crate::props::open_ledger;
use jiff::civil::Date;
use kaohe::internals::domain::command::{
    AppealCmd, Command, DecideCmd, OutcomeCmd, RecordCmd, ReverseCmd, StationCmd,
};
use kaohe::internals::domain::projection::{Scores, StationScore};
use kaohe::internals::events::event::{Inputs, StationKind};
use kaohe::internals::ledger::{Ledger, LedgerError, Numbered, Outcome};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

fn now() -> jiff::Timestamp {
    crate::harness::TEST_NOW.parse().expect("test clock")
}

const PERIOD_START: (i16, i8, i8) = (2018, 1, 1);
const PERIOD_DAYS: u16 = 365;

/// Day `n` of the period (0 is its first day).
fn day(n: u16) -> Date {
    let (y, m, d) = PERIOD_START;
    Date::new(y, m, d).unwrap() + jiff::Span::new().days(i64::from(n))
}

// ---------------------------------------------------------------------------------------------
// Strategies for a rubric: a shape of picks, turned into a rubric by `build`.

/// An item's points (what it weighs in its category).
const ITEM_POINTS: &[&str] = &["1", "2", "2.5", "3", "4"];
/// An item's own scale, when it states one (`full_marks`).
/// (16 and 32 with small odd points make weighted figures that end in a half at the 7th place.)
const FULL_MARKS: &[&str] = &["10", "100", "3", "7.5", "1.5", "2", "16", "32"];
/// A clause's points as a share of its item's scale (kept to 2 places)…
const SHARES: &[&str] = &["0.1", "0.25", "0.3", "0.5", "0.7", "1", "1.5"];
/// … or as they are.
const POINTS: &[&str] = &["0.01", "0.03", "0.05", "0.5", "1", "3"];
const DEPARTMENTS: [&str; 3] = ["甲科", "乙科", "丙科"];
/// An alias of the first department (`by` may use it).
const ALIAS: &str = "甲股";

#[derive(Debug, Clone)]
struct ClauseSpec {
    /// 0 fixed, 1 per_unit, 2 missing (fixed in the bonus category, where missing is refused).
    kind: u8,
    share: usize,
    max_count: Option<u32>,
    required: u32,
    once: Option<bool>,
    excludes: Vec<Index>,
    requires: Option<Index>,
    deadline: Option<u16>,
}

#[derive(Debug, Clone)]
struct ItemSpec {
    points: usize,
    full_marks: Option<usize>,
    capped: bool,
    /// Which departments assess it (a bit per department, never 0).
    departments: u8,
    clauses: Vec<ClauseSpec>,
}

#[derive(Debug, Clone)]
struct RubricSpec {
    /// The non-bonus categories, each a list of items.
    categories: Vec<Vec<ItemSpec>>,
    /// The bonus category's items.
    bonus: Vec<ItemSpec>,
}

fn clause_spec() -> impl Strategy<Value = ClauseSpec> {
    (
        0u8..3,
        0..SHARES.len() + POINTS.len(),
        prop_oneof![2 => Just(None), 1 => (1u32..5).prop_map(Some)],
        1u32..5,
        prop_oneof![2 => Just(None), 1 => Just(Some(true)), 1 => Just(Some(false))],
        prop_oneof![
            6 => Just(Vec::new()),
            3 => any::<Index>().prop_map(|i| vec![i]),
            1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| vec![a, b]),
        ],
        prop_oneof![3 => Just(None), 1 => any::<Index>().prop_map(Some)],
        prop_oneof![7 => Just(None), 3 => (0..PERIOD_DAYS).prop_map(Some)],
    )
        .prop_map(
            |(kind, share, max_count, required, once, excludes, requires, deadline)| ClauseSpec {
                kind,
                share,
                max_count,
                required,
                once,
                excludes,
                requires,
                deadline,
            },
        )
}

fn item_spec() -> impl Strategy<Value = ItemSpec> {
    (
        0..ITEM_POINTS.len(),
        prop_oneof![1 => Just(None), 1 => (0..FULL_MARKS.len()).prop_map(Some)],
        any::<bool>(),
        1u8..8,
        prop::collection::vec(clause_spec(), 1..4),
    )
        .prop_map(
            |(points, full_marks, capped, departments, clauses)| ItemSpec {
                points,
                full_marks,
                capped,
                departments,
                clauses,
            },
        )
}

fn rubric_spec() -> impl Strategy<Value = RubricSpec> {
    (
        prop::collection::vec(prop::collection::vec(item_spec(), 1..3), 1..4),
        prop::collection::vec(item_spec(), 1..3),
    )
        .prop_map(|(categories, bonus)| RubricSpec { categories, bonus })
}

// ---------------------------------------------------------------------------------------------
// The rubric as the model reads it.

#[derive(Debug, Clone)]
enum Kind {
    Fixed(Decimal),
    /// points per unit, at most this many units per station
    PerUnit(Decimal, Option<u32>),
    /// points × (required − done)
    Missing(u32, Decimal),
}

#[derive(Debug, Clone)]
struct MClause {
    code: String,
    item: usize,
    kind: Kind,
    /// As the file states it (absent: the format's default for the kind).
    once: Option<bool>,
    /// As the file states them (indexes into the clauses).
    excludes: Vec<usize>,
    requires: Vec<usize>,
    deadline: Option<Date>,
}

#[derive(Debug, Clone)]
struct MItem {
    code: String,
    bonus: bool,
    points: Decimal,
    full_marks: Option<Decimal>,
    capped: bool,
    departments: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct MCategory {
    code: String,
    bonus: bool,
    points: Decimal,
    items: Vec<usize>,
}

#[derive(Debug, Clone)]
struct MRubric {
    categories: Vec<MCategory>,
    items: Vec<MItem>,
    clauses: Vec<MClause>,
    base: Decimal,
    bonus_cap: Decimal,
}

impl MRubric {
    /// The scale an item's figures are on: its full marks, or its points.
    fn scale(&self, item: usize) -> Decimal {
        let i = &self.items[item];
        i.full_marks.unwrap_or(i.points)
    }

    /// Format 2: a clause judged on a year-end figure (here `missing`) counts once unless it
    /// says otherwise; any other counts once only when it says so.
    fn once(&self, clause: usize) -> bool {
        let c = &self.clauses[clause];
        c.once.unwrap_or(matches!(c.kind, Kind::Missing(..)))
    }

    /// Whether `from` requires `to`, directly or through others.
    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(c) = stack.pop() {
            if c == to {
                return true;
            }
            if seen.insert(c) {
                stack.extend(self.clauses[c].requires.iter().copied());
            }
        }
        false
    }

    /// The clauses that exclude `clause` either way (it needs saying on one side only).
    fn excluded_by(&self, clause: usize) -> BTreeSet<usize> {
        let mut out: BTreeSet<usize> = self.clauses[clause].excludes.iter().copied().collect();
        for (k, c) in self.clauses.iter().enumerate() {
            if c.excludes.contains(&clause) {
                out.insert(k);
            }
        }
        out
    }

    fn toml(&self) -> String {
        let mut t = String::new();
        t.push_str(&format!(
            "[rubric]\nformat = 2\nname = \"随机细则\"\nsource = \"属性测试\"\nperiod_start = \"{}\"\nperiod_end = \"{}\"\nbase_points = \"{}\"\nbonus_cap = \"{}\"\nappeal_window_days = 15\n\n",
            day(0),
            day(PERIOD_DAYS - 1),
            self.base,
            self.bonus_cap
        ));
        for (k, d) in DEPARTMENTS.iter().enumerate() {
            t.push_str(&format!("[[department]]\nname = \"{d}\"\n"));
            if k == 0 {
                t.push_str(&format!("aliases = [\"{ALIAS}\"]\n"));
            }
            t.push('\n');
        }
        for c in &self.categories {
            t.push_str(&format!(
                "[[category]]\ncode = \"{}\"\nname = \"类别{}\"\npoints = \"{}\"\nbonus = {}\n\n",
                c.code, c.code, c.points, c.bonus
            ));
            for &i in &c.items {
                let item = &self.items[i];
                let depts: Vec<String> = item
                    .departments
                    .iter()
                    .map(|d| format!("\"{d}\""))
                    .collect();
                t.push_str(&format!(
                    "[[category.item]]\ncode = \"{}\"\nname = \"项目{}\"\npoints = \"{}\"\n",
                    item.code, item.code, item.points
                ));
                if let Some(f) = item.full_marks {
                    t.push_str(&format!("full_marks = \"{f}\"\n"));
                }
                t.push_str(&format!(
                    "capped = {}\ndepartments = [{}]\n\n",
                    item.capped,
                    depts.join(", ")
                ));
                for c in self.clauses.iter().filter(|c| c.item == i) {
                    t.push_str(&format!(
                        "[[category.item.clause]]\ncode = \"{}\"\ntext = \"条款{}\"\n",
                        c.code, c.code
                    ));
                    match &c.kind {
                        Kind::Fixed(p) => {
                            t.push_str(&format!("kind = \"fixed\"\npoints = \"{p}\"\n"))
                        }
                        Kind::PerUnit(p, max) => {
                            t.push_str(&format!("kind = \"per_unit\"\npoints = \"{p}\"\n"));
                            if let Some(m) = max {
                                t.push_str(&format!("max_count = {m}\n"));
                            }
                        }
                        Kind::Missing(required, p) => t.push_str(&format!(
                            "kind = \"missing\"\nrequired = {required}\npoints = \"{p}\"\n"
                        )),
                    }
                    if let Some(o) = c.once {
                        t.push_str(&format!("once = {o}\n"));
                    }
                    let codes = |list: &[usize]| -> String {
                        list.iter()
                            .map(|k| format!("\"{}\"", self.clauses[*k].code))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    if !c.excludes.is_empty() {
                        t.push_str(&format!("excludes = [{}]\n", codes(&c.excludes)));
                    }
                    if !c.requires.is_empty() {
                        t.push_str(&format!("requires = [{}]\n", codes(&c.requires)));
                    }
                    if let Some(d) = c.deadline {
                        t.push_str(&format!("deadline = \"{d}\"\n"));
                    }
                    t.push('\n');
                }
            }
        }
        t
    }
}

/// Turns a shape into a valid rubric: codes nested by place, sums that add up, conditions that
/// name other clauses (never themselves; never the same one both excluded and required).
fn build(spec: &RubricSpec) -> MRubric {
    let mut r = MRubric {
        categories: Vec::new(),
        items: Vec::new(),
        clauses: Vec::new(),
        base: Decimal::ZERO,
        bonus_cap: Decimal::ZERO,
    };
    // The conditions are resolved once every clause has its place.
    let mut pending: Vec<(usize, &ClauseSpec)> = Vec::new();
    let cats = spec
        .categories
        .iter()
        .enumerate()
        .map(|(k, items)| ((k + 1).to_string(), false, items))
        .chain(std::iter::once(("B".to_string(), true, &spec.bonus)));
    for (code, bonus, items) in cats {
        let mut cat = MCategory {
            code: code.clone(),
            bonus,
            points: Decimal::ZERO,
            items: Vec::new(),
        };
        for (n, is) in items.iter().enumerate() {
            let item_code = format!("{code}.{}", n + 1);
            let points = dec(ITEM_POINTS[is.points]);
            let full_marks = is.full_marks.map(|f| dec(FULL_MARKS[f]));
            let departments: Vec<&str> = (0..3)
                .filter(|b| is.departments & (1 << b) != 0)
                .map(|b| DEPARTMENTS[b])
                .collect();
            let index = r.items.len();
            r.items.push(MItem {
                code: item_code.clone(),
                bonus,
                points,
                full_marks,
                capped: is.capped,
                departments,
            });
            cat.items.push(index);
            cat.points += points;
            let scale = full_marks.unwrap_or(points);
            for (m, cs) in is.clauses.iter().enumerate() {
                let p = match SHARES.get(cs.share) {
                    Some(share) => (scale * dec(share)).round_dp(2).normalize(),
                    None => dec(POINTS[cs.share - SHARES.len()]),
                };
                let kind = match (cs.kind, bonus) {
                    (1, _) => Kind::PerUnit(p, cs.max_count),
                    (2, false) => Kind::Missing(cs.required, p),
                    _ => Kind::Fixed(p),
                };
                pending.push((r.clauses.len(), cs));
                r.clauses.push(MClause {
                    code: format!("{item_code}.{}", (b'a' + m as u8) as char),
                    item: index,
                    kind,
                    once: cs.once,
                    excludes: Vec::new(),
                    requires: Vec::new(),
                    deadline: cs.deadline.map(day),
                });
            }
        }
        match bonus {
            true => r.bonus_cap += cat.points,
            false => r.base += cat.points,
        }
        r.categories.push(cat);
    }
    let n = r.clauses.len();
    // Another clause than `k`, picked by `i`.
    let other = |k: usize, i: &Index| {
        let o = i.index(n - 1);
        if o >= k {
            o + 1
        } else {
            o
        }
    };
    if n > 1 {
        for (k, cs) in pending {
            let mut excludes: Vec<usize> = Vec::new();
            for i in &cs.excludes {
                let o = other(k, i);
                if !excludes.contains(&o) {
                    excludes.push(o);
                }
            }
            // A bonus and a deduction neither exclude nor require each other.
            let side = |c: usize| r.items[r.clauses[c].item].bonus;
            excludes.retain(|o| side(*o) == side(k));
            let requires: Vec<usize> = cs
                .requires
                .iter()
                .map(|i| other(k, i))
                .filter(|o| !excludes.contains(o) && side(*o) == side(k))
                .collect();
            r.clauses[k].excludes = excludes;
            r.clauses[k].requires = requires;
        }
        // A requirement that is also an exclusion (either way), or that closes a cycle of
        // requirements, is refused by the loader: drop it.
        for k in 0..n {
            let wanted = std::mem::take(&mut r.clauses[k].requires);
            for o in wanted {
                let excluded = r.excluded_by(k).contains(&o);
                if !excluded && !r.reaches(o, k) {
                    r.clauses[k].requires.push(o);
                }
            }
        }
    }
    for c in &mut r.categories {
        c.points = c.points.normalize();
    }
    r.base = r.base.normalize();
    r.bonus_cap = r.bonus_cap.normalize();
    r
}

// ---------------------------------------------------------------------------------------------
// Commands, and the naive model of which are accepted.

/// One generated step. Targets are picked among the records (or appeals) the model accepted
/// so far; a step with nothing to pick is skipped.
#[derive(Debug, Clone)]
enum Op {
    Record {
        station: Index,
        clause: Index,
        a: u32,
        day: u16,
        give_points: bool,
    },
    Reverse(Index),
    Appeal(Index),
    Decide {
        appeal: Index,
        /// 0 upheld, 1 partial, 2 rejected
        outcome: u8,
        /// partial: the original × quarters / 4 stands (5 quarters: more than the original)
        quarters: u8,
    },
    /// Send an earlier command again.
    Repeat(Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (any::<Index>(), any::<Index>(), any::<u32>(), 0..PERIOD_DAYS, any::<bool>())
            .prop_map(|(station, clause, a, day, give_points)| Op::Record { station, clause, a, day, give_points }),
        2 => any::<Index>().prop_map(Op::Reverse),
        3 => any::<Index>().prop_map(Op::Appeal),
        3 => (any::<Index>(), 0u8..3, 0u8..6).prop_map(|(appeal, outcome, quarters)| Op::Decide { appeal, outcome, quarters }),
        1 => any::<Index>().prop_map(Op::Repeat),
    ]
}

fn station_kind() -> impl Strategy<Value = StationKind> {
    prop_oneof![Just(StationKind::Town), Just(StationKind::Subdistrict)]
}

fn station_code(s: usize) -> String {
    format!("S{s}")
}

/// What a command means to the model.
#[derive(Debug, Clone)]
enum Intent {
    Station(usize),
    Record {
        id: String,
        station: usize,
        clause: usize,
        occurred: Date,
        /// Its computed points, and the units it counts under its clause.
        points: Decimal,
        units: u32,
    },
    /// An appeal against the model's record `record`.
    Appeal {
        id: String,
        record: usize,
    },
    /// A decision of the model's appeal `appeal`, made by step `step`.
    Decide {
        appeal: usize,
        outcome: u8,
        points: Option<Decimal>,
        step: usize,
    },
    Reverse {
        id: String,
        record: usize,
    },
}

/// What a command is expected to do.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Appended(u64),
    Unchanged(u64),
    /// Refused, for one of these reasons (words its message holds).
    Refused(Vec<String>),
}

#[derive(Debug, Clone)]
struct Planned {
    command: Command,
    intent: Intent,
    expect: Expect,
}

/// What an appended event does to the scores.
#[derive(Debug, Clone)]
enum Effect {
    Station(usize),
    /// The model's record `0` is recorded.
    Record(usize),
    /// The model's record `0` now stands at these points (a decision or a reversal).
    Stands(usize, Decimal),
    /// No change to any score (an appeal filed).
    Nothing,
}

#[derive(Debug, Clone)]
struct MRecord {
    id: String,
    occurred: Date,
    station: usize,
    clause: usize,
    original: Decimal,
    points: Decimal,
    units: u32,
    reversed: bool,
    /// Reversed, upheld, or decided partial with 0 standing: it counts for nothing.
    removed: bool,
    open_appeal: bool,
}

#[derive(Debug, Clone)]
struct MAppeal {
    id: String,
    record: usize,
    /// The step whose decision decided it, and the decision's seq.
    decided: Option<(usize, u64)>,
}

/// The naive model: accepted ids, records and appeals, and the effects of the events so far.
struct Model<'r> {
    rubric: &'r MRubric,
    kinds: Vec<StationKind>,
    effects: Vec<Effect>,
    records: Vec<MRecord>,
    appeals: Vec<MAppeal>,
    /// Ids the ledger holds → their seqs.
    ids: BTreeMap<String, u64>,
}

impl Model<'_> {
    fn next_seq(&self) -> u64 {
        1 + self.effects.len() as u64
    }

    fn append(&mut self, effect: Effect) -> Expect {
        let seq = self.next_seq();
        self.effects.push(effect);
        Expect::Appended(seq)
    }

    /// The units of `station`'s records under `clause` that still stand.
    fn standing(&self, station: usize, clause: usize) -> u32 {
        self.records
            .iter()
            .filter(|r| r.station == station && r.clause == clause && !r.removed)
            .map(|r| r.units)
            .sum()
    }

    /// Why record `r` may not stop counting: it is its station's last standing record under a
    /// clause that another clause, with standing records, requires.
    fn orphans(&self, r: usize) -> Vec<String> {
        let rec = &self.records[r];
        let rubric = self.rubric;
        if self.standing(rec.station, rec.clause) > rec.units {
            return Vec::new();
        }
        rubric
            .clauses
            .iter()
            .enumerate()
            .filter(|(d, c)| c.requires.contains(&rec.clause) && self.standing(rec.station, *d) > 0)
            .map(|(_, c)| format!("which {} requires", c.code))
            .collect()
    }

    /// Why the model's record `r` can be neither appealed nor reversed now.
    fn closed(&self, r: usize) -> Vec<String> {
        let rec = &self.records[r];
        let mut why = Vec::new();
        if rec.reversed {
            why.push("it was reversed by".into());
        } else if rec.removed {
            why.push("and removed it".into());
        }
        if rec.open_appeal {
            why.push("already under appeal".into());
        }
        why
    }

    fn evaluate(&mut self, intent: &Intent) -> Expect {
        let rubric = self.rubric;
        match intent {
            Intent::Station(s) => match self.ids.get(&station_code(*s)) {
                Some(seq) => Expect::Unchanged(*seq),
                None => {
                    let e = self.append(Effect::Station(*s));
                    self.ids.insert(station_code(*s), self.next_seq() - 1);
                    e
                }
            },
            Intent::Record {
                id,
                station,
                clause,
                occurred,
                points,
                units,
            } => {
                if let Some(seq) = self.ids.get(id) {
                    return Expect::Unchanged(*seq);
                }
                let c = &rubric.clauses[*clause];
                let mut why: Vec<String> = Vec::new();
                if let Some(d) = c.deadline.filter(|d| occurred > d) {
                    why.push(format!(
                        "clause {} counts what occurred on or before {d}",
                        c.code
                    ));
                }
                let standing = self.standing(*station, *clause);
                if let Kind::PerUnit(_, Some(max)) = c.kind {
                    if standing + units > max {
                        why.push(format!("clause {} allows at most {max} units", c.code));
                    }
                }
                if rubric.once(*clause) && standing > 0 {
                    why.push(format!(
                        "clause {} counts once per station and period",
                        c.code
                    ));
                }
                for o in rubric.excluded_by(*clause) {
                    if self.standing(*station, o) > 0 {
                        why.push(format!(
                            "clauses {} and {} exclude each other",
                            c.code, rubric.clauses[o].code
                        ));
                    }
                }
                for &o in &c.requires {
                    if self.standing(*station, o) == 0 {
                        why.push(format!(
                            "clause {} requires a standing record under {}",
                            c.code, rubric.clauses[o].code
                        ));
                    }
                }
                if !why.is_empty() {
                    return Expect::Refused(why);
                }
                let r = self.records.len();
                let seq = self.next_seq();
                self.records.push(MRecord {
                    id: id.clone(),
                    occurred: *occurred,
                    station: *station,
                    clause: *clause,
                    original: *points,
                    points: *points,
                    units: *units,
                    reversed: false,
                    removed: false,
                    open_appeal: false,
                });
                self.ids.insert(id.clone(), seq);
                self.append(Effect::Record(r))
            }
            Intent::Appeal { id, record } => {
                if let Some(seq) = self.ids.get(id) {
                    return Expect::Unchanged(*seq);
                }
                let rec = &self.records[*record];
                let mut why = self.closed(*record);
                if rubric.items[rubric.clauses[rec.clause].item].bonus {
                    why.push("only deductions can be appealed".into());
                }
                if !why.is_empty() {
                    return Expect::Refused(why);
                }
                self.records[*record].open_appeal = true;
                self.appeals.push(MAppeal {
                    id: id.clone(),
                    record: *record,
                    decided: None,
                });
                let e = self.append(Effect::Nothing);
                self.ids.insert(id.clone(), self.next_seq() - 1);
                e
            }
            Intent::Decide {
                appeal,
                outcome,
                points,
                step,
            } => {
                let a = &self.appeals[*appeal];
                if let Some((by_step, seq)) = a.decided {
                    return match by_step == *step {
                        true => Expect::Unchanged(seq),
                        false => Expect::Refused(vec!["already decided".into()]),
                    };
                }
                let r = a.record;
                let rec = &self.records[r];
                let stands = match (outcome, points) {
                    (0, _) => Decimal::ZERO,
                    (1, Some(p)) if *p > rec.original => {
                        return Expect::Refused(vec!["not between 0 and the original".into()])
                    }
                    (1, Some(p)) => *p,
                    _ => rec.points,
                };
                if *outcome != 2 && stands.is_zero() {
                    let why = self.orphans(r);
                    if !why.is_empty() {
                        return Expect::Refused(why);
                    }
                }
                let seq = self.next_seq();
                self.appeals[*appeal].decided = Some((*step, seq));
                let rec = &mut self.records[r];
                rec.open_appeal = false;
                rec.points = stands;
                if *outcome != 2 && stands.is_zero() {
                    rec.removed = true;
                }
                self.append(Effect::Stands(r, stands))
            }
            Intent::Reverse { id, record } => {
                if let Some(seq) = self.ids.get(id) {
                    return Expect::Unchanged(*seq);
                }
                let mut why = self.closed(*record);
                if why.is_empty() {
                    why = self.orphans(*record);
                }
                if !why.is_empty() {
                    return Expect::Refused(why);
                }
                let rec = &mut self.records[*record];
                rec.reversed = true;
                rec.removed = true;
                rec.points = Decimal::ZERO;
                let e = self.append(Effect::Stands(*record, Decimal::ZERO));
                self.ids.insert(id.clone(), self.next_seq() - 1);
                e
            }
        }
    }
}

/// Turns generated steps into commands, each with what the model expects of it. Every station
/// is registered first.
fn plan<'r>(rubric: &'r MRubric, kinds: &[StationKind], ops: &[Op]) -> (Vec<Planned>, Model<'r>) {
    let mut model = Model {
        rubric,
        kinds: kinds.to_vec(),
        effects: Vec::new(),
        records: Vec::new(),
        appeals: Vec::new(),
        ids: BTreeMap::new(),
    };
    let mut out: Vec<Planned> = Vec::new();
    let push = |model: &mut Model, out: &mut Vec<Planned>, command: Command, intent: Intent| {
        let expect = model.evaluate(&intent);
        out.push(Planned {
            command,
            intent,
            expect,
        });
    };
    for (s, kind) in kinds.iter().enumerate() {
        let command = Command::Station(StationCmd {
            code: station_code(s),
            name: format!("站{s}"),
            kind: *kind,
        });
        push(&mut model, &mut out, command, Intent::Station(s));
    }
    for (n, op) in ops.iter().enumerate() {
        let evidence = vec![format!("证据{n}")];
        match op {
            Op::Record {
                station,
                clause,
                a,
                day: d,
                give_points,
            } => {
                let station = station.index(kinds.len());
                let k = clause.index(rubric.clauses.len());
                let c = &rubric.clauses[k];
                let item = &rubric.items[c.item];
                let mut inputs = Inputs::default();
                let (points, units) = match c.kind {
                    Kind::Fixed(p) => {
                        if a % 3 == 0 {
                            inputs.count = Some(1);
                        }
                        if *give_points {
                            inputs.points = Some(p);
                        }
                        (p, 1)
                    }
                    Kind::PerUnit(p, _) => {
                        let count = 1 + a % 3;
                        if count > 1 || a % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        if *give_points {
                            inputs.points = Some(p);
                        }
                        (p * Decimal::from(count), count)
                    }
                    Kind::Missing(required, p) => {
                        let done = a % required;
                        inputs.done = Some(done);
                        let total = p * Decimal::from(required - done);
                        if *give_points {
                            inputs.points = Some(total.normalize());
                        }
                        (total, 1)
                    }
                };
                let by = item.departments[(*a as usize / 7) % item.departments.len()];
                let by = if by == DEPARTMENTS[0] && a % 5 == 0 {
                    ALIAS
                } else {
                    by
                };
                let id = format!("R{n}");
                let occurred = day(*d);
                let command = Command::Record(RecordCmd {
                    id: Some(id.clone()),
                    clause: c.code.clone(),
                    station: station_code(station),
                    by: by.into(),
                    occurred,
                    inputs,
                    evidence,
                });
                let intent = Intent::Record {
                    id,
                    station,
                    clause: k,
                    occurred,
                    points: points.normalize(),
                    units,
                };
                push(&mut model, &mut out, command, intent);
            }
            Op::Reverse(target) => {
                if model.records.is_empty() {
                    continue;
                }
                let r = target.index(model.records.len());
                let rec = &model.records[r];
                let item = &rubric.items[rubric.clauses[rec.clause].item];
                let id = format!("V{n}");
                let command = Command::Reverse(ReverseCmd {
                    id: Some(id.clone()),
                    target: rec.id.clone(),
                    by: item.departments[n % item.departments.len()].into(),
                    reason: format!("录错{n}"),
                    evidence,
                });
                push(
                    &mut model,
                    &mut out,
                    command,
                    Intent::Reverse { id, record: r },
                );
            }
            Op::Appeal(target) => {
                if model.records.is_empty() {
                    continue;
                }
                let r = target.index(model.records.len());
                let rec = &model.records[r];
                let id = format!("A{n}");
                let command = Command::Appeal(AppealCmd {
                    id: Some(id.clone()),
                    against: rec.id.clone(),
                    station: station_code(rec.station),
                    grounds: format!("申诉理由{n}"),
                    evidence,
                });
                push(
                    &mut model,
                    &mut out,
                    command,
                    Intent::Appeal { id, record: r },
                );
            }
            Op::Decide {
                appeal,
                outcome,
                quarters,
            } => {
                if model.appeals.is_empty() {
                    continue;
                }
                let a = appeal.index(model.appeals.len());
                let appeal_id = model.appeals[a].id.clone();
                let rec = &model.records[model.appeals[a].record];
                let item = &rubric.items[rubric.clauses[rec.clause].item];
                let points = (*outcome == 1).then(|| {
                    (rec.original * Decimal::from(*quarters) / Decimal::from(4)).normalize()
                });
                let command = Command::Decide(DecideCmd {
                    appeal: appeal_id,
                    outcome: match outcome {
                        0 => OutcomeCmd::Upheld,
                        1 => OutcomeCmd::Partial,
                        _ => OutcomeCmd::Rejected,
                    },
                    points,
                    by: item.departments[0].into(),
                    reason: format!("复核意见{n}"),
                    evidence,
                });
                let intent = Intent::Decide {
                    appeal: a,
                    outcome: *outcome,
                    points,
                    step: n,
                };
                push(&mut model, &mut out, command, intent);
            }
            Op::Repeat(k) => {
                let earlier: Vec<&Planned> = out
                    .iter()
                    .filter(|p| !matches!(p.intent, Intent::Station(_)))
                    .collect();
                if earlier.is_empty() {
                    continue;
                }
                let p = earlier[k.index(earlier.len())];
                let (command, intent) = (p.command.clone(), p.intent.clone());
                push(&mut model, &mut out, command, intent);
            }
        }
    }
    (out, model)
}

// ---------------------------------------------------------------------------------------------
// The naive scores.

/// One item's figures (on its own scale, and what it counts for in the total).
#[derive(Debug, Clone, PartialEq)]
struct ItemFig {
    max: Decimal,
    weight: Decimal,
    deducted: Decimal,
    awarded: Decimal,
    raw_deducted: Decimal,
    raw_awarded: Decimal,
    counts: Decimal,
    /// The item's cap cut the raw figure.
    cut: bool,
}

/// One station's figures, in a form the model and each of kaohe's outputs are brought to.
#[derive(Debug, Clone, PartialEq)]
struct Fig {
    kind: StationKind,
    total: Decimal,
    deducted: Decimal,
    awarded: Decimal,
    raw_deducted: Decimal,
    raw_awarded: Decimal,
    awarded_before_cap: Decimal,
    rank: u32,
    /// Every item of the rubric, by code.
    items: BTreeMap<String, ItemFig>,
}

/// `applied × points / full_marks` to 6 places, half away from zero, in whole numbers.
fn share(applied: Decimal, points: Decimal, full_marks: Decimal) -> Decimal {
    let p10 = |e: u32| 10i128.pow(e);
    let num = applied.mantissa() * points.mantissa() * p10(full_marks.scale() + 6);
    let den = full_marks.mantissa() * p10(applied.scale() + points.scale());
    let (q, r) = (num.abs() / den, num.abs() % den);
    let q = if 2 * r >= den { q + 1 } else { q };
    Decimal::from_i128_with_scale(num.signum() * q, 6).normalize()
}

/// The scores of the first `n` effects: station → figures; and (station, item) → the number
/// of records under the item.
#[allow(clippy::type_complexity)]
fn naive(model: &Model, n: usize) -> (BTreeMap<String, Fig>, BTreeMap<(String, String), u32>) {
    naive_at(model, n, None)
}

/// [`naive`], counting only the records that occurred on or before `at` (a decision or
/// reversal corrects its record whenever it was made).
#[allow(clippy::type_complexity)]
fn naive_at(
    model: &Model,
    n: usize,
    at: Option<Date>,
) -> (BTreeMap<String, Fig>, BTreeMap<(String, String), u32>) {
    let rubric = model.rubric;
    let zero = Decimal::ZERO;
    let mut stations: Vec<usize> = Vec::new();
    // (station, item) → (raw points, records)
    let mut raw: BTreeMap<(usize, usize), (Decimal, u32)> = BTreeMap::new();
    let mut stands: BTreeMap<usize, Decimal> = BTreeMap::new();
    for e in &model.effects[..n] {
        match *e {
            Effect::Station(s) => stations.push(s),
            Effect::Record(r) if at.is_some_and(|d| model.records[r].occurred > d) => {}
            Effect::Stands(r, _) if at.is_some_and(|d| model.records[r].occurred > d) => {}
            Effect::Record(r) => {
                let rec = &model.records[r];
                let item = rubric.clauses[rec.clause].item;
                let x = raw.entry((rec.station, item)).or_insert((zero, 0));
                x.0 += rec.original;
                x.1 += 1;
                stands.insert(r, rec.original);
            }
            Effect::Stands(r, points) => {
                let rec = &model.records[r];
                let item = rubric.clauses[rec.clause].item;
                let before = stands
                    .insert(r, points)
                    .expect("a record before its dispute");
                raw.get_mut(&(rec.station, item)).expect("its item").0 += points - before;
            }
            Effect::Nothing => {}
        }
    }
    let mut out = BTreeMap::new();
    let mut events = BTreeMap::new();
    for s in stations {
        let mut f = Fig {
            kind: model.kinds[s],
            total: zero,
            deducted: zero,
            awarded: zero,
            raw_deducted: zero,
            raw_awarded: zero,
            awarded_before_cap: zero,
            rank: 0,
            items: BTreeMap::new(),
        };
        for (i, item) in rubric.items.iter().enumerate() {
            let (r, count) = raw.get(&(s, i)).copied().unwrap_or((zero, 0));
            let scale = rubric.scale(i);
            let applied = if item.capped && r > scale { scale } else { r };
            let counts = match item.full_marks {
                Some(fm) => share(applied, item.points, fm),
                None => applied,
            };
            let fig = ItemFig {
                max: scale,
                weight: item.points,
                deducted: if item.bonus { zero } else { applied },
                awarded: if item.bonus { applied } else { zero },
                raw_deducted: if item.bonus { zero } else { r },
                raw_awarded: if item.bonus { r } else { zero },
                counts,
                cut: applied != r,
            };
            if item.bonus {
                f.awarded_before_cap += counts;
                f.raw_awarded += r;
            } else {
                f.deducted += counts;
                f.raw_deducted += r;
            }
            if count > 0 {
                events.insert((station_code(s), item.code.clone()), count);
            }
            f.items.insert(item.code.clone(), fig);
        }
        f.awarded = if f.awarded_before_cap > rubric.bonus_cap {
            rubric.bonus_cap
        } else {
            f.awarded_before_cap
        };
        f.total = rubric.base - f.deducted + f.awarded;
        out.insert(station_code(s), f);
    }
    // Equal totals share the better place: 1 + the number of stations strictly ahead.
    let totals: Vec<Decimal> = out.values().map(|f| f.total).collect();
    for f in out.values_mut() {
        f.rank = 1 + totals.iter().filter(|t| **t > f.total).count() as u32;
    }
    (out, events)
}

/// kaohe's replayed scores in the model's form.
#[allow(clippy::type_complexity)]
fn figures(scores: &[StationScore]) -> (BTreeMap<String, Fig>, BTreeMap<(String, String), u32>) {
    let mut events = BTreeMap::new();
    let figs = scores
        .iter()
        .map(|s| {
            let items = s
                .items
                .iter()
                .map(|i| {
                    if i.events > 0 {
                        events.insert((s.station.clone(), i.item.to_string()), i.events);
                    }
                    let fig = ItemFig {
                        max: i.max,
                        weight: i.weight,
                        deducted: i.deducted,
                        awarded: i.awarded,
                        raw_deducted: i.raw_deducted,
                        raw_awarded: i.raw_awarded,
                        counts: i.counts,
                        cut: i.capped(),
                    };
                    (i.item.to_string(), fig)
                })
                .collect();
            let f = Fig {
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
        .collect();
    (figs, events)
}

/// A decimal of kaohe's JSON: a string in canonical form.
fn json_dec(v: &Value, what: &str) -> Decimal {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let d = dec(s);
    assert_eq!(s, d.normalize().to_string(), "{what} is not canonical");
    d
}

fn json_kind(v: &Value) -> StationKind {
    match v.as_str() {
        Some("town") => StationKind::Town,
        Some("subdistrict") => StationKind::Subdistrict,
        other => panic!("a station kind: {other:?}"),
    }
}

/// One station of `score --json` or `explain --json` in the model's form.
fn json_fig(s: &Value) -> Fig {
    let d = |k: &str| json_dec(&s[k], k);
    let items = s["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let d = |k: &str| json_dec(&i[k], k);
            let fig = ItemFig {
                max: d("max"),
                weight: d("weight"),
                deducted: d("deducted"),
                awarded: d("awarded"),
                raw_deducted: d("raw_deducted"),
                raw_awarded: d("raw_awarded"),
                counts: d("counts"),
                cut: i["capped"].as_bool().expect("capped"),
            };
            (i["item"].as_str().expect("item").to_string(), fig)
        })
        .collect();
    Fig {
        kind: json_kind(&s["kind"]),
        total: d("total"),
        deducted: d("deducted"),
        awarded: d("awarded"),
        raw_deducted: d("raw_deducted"),
        raw_awarded: d("raw_awarded"),
        awarded_before_cap: d("awarded_before_cap"),
        rank: u32::try_from(s["rank"].as_u64().expect("rank")).unwrap(),
        items,
    }
}

/// `score --json` in the model's form.
fn json_scores(v: &Value) -> BTreeMap<String, Fig> {
    v["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| {
            (
                s["station"].as_str().expect("code").to_string(),
                json_fig(s),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running it.

/// Scores of events [0, to), read back through the checked replay.
fn scores_upto(ledger: &Ledger, to: u64) -> Vec<StationScore<'_>> {
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay(0, to, |e| {
            fold.apply(e.body).expect("a valid event scores");
            Ok(true)
        })
        .expect("replay");
    fold.finish()
}

/// A new ledger under `dir` with the rubric `text`.
fn new_ledger(dir: &Path, text: &str) -> Ledger {
    let path = dir.join("ledger");
    if let Err(e) = Ledger::init(&path, text, now()) {
        panic!("the generated rubric is refused: {e}\n{text}");
    }
    open_ledger(&path)
}

/// Checks that a refusal is one the model expects: the line it names (in a batch) and one of
/// the reasons.
fn check_refusal(
    err: LedgerError,
    line: Option<usize>,
    planned: &Planned,
) -> Result<(), TestCaseError> {
    let Expect::Refused(why) = &planned.expect else {
        return Err(TestCaseError::fail(format!(
            "{:?} refused ({err}), the model expects {:?}",
            planned.command, planned.expect
        )));
    };
    match &err {
        LedgerError::Refused {
            line: l, message, ..
        } => {
            prop_assert_eq!(*l, line, "the line of {}", err);
            prop_assert!(
                why.iter().any(|w| message.contains(w.as_str())),
                "{:?} refused for another reason: {}; the model says {:?}",
                planned.command,
                message,
                why
            );
        }
        other => prop_assert!(false, "{:?}: not a refusal: {}", planned.command, other),
    }
    Ok(())
}

fn check_outcome(o: &Outcome, planned: &Planned) -> Result<(), TestCaseError> {
    let got = match *o {
        Outcome::Appended { seq } => Expect::Appended(seq),
        Outcome::Unchanged { seq } => Expect::Unchanged(seq),
    };
    prop_assert_eq!(
        &got,
        &planned.expect,
        "{:?} (intent {:?})",
        planned.command,
        planned.intent
    );
    Ok(())
}

fn numbered(chunk: &[Planned]) -> Vec<Numbered> {
    chunk
        .iter()
        .enumerate()
        .map(|(i, p)| Numbered {
            line: Some(i + 1),
            command: p.command.clone(),
        })
        .collect()
}

/// Applies the planned commands in chunks of the given sizes (cycled). A chunk the model
/// accepts whole is one batch; a chunk with a refused command is refused whole, at that
/// command's line, and then each of its commands is applied alone.
fn apply_all(
    ledger: &mut Ledger,
    planned: &[Planned],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let mut at = 0;
    for size in chunks.iter().cycle() {
        if at >= planned.len() {
            break;
        }
        let chunk = &planned[at..(at + size).min(planned.len())];
        at += size;
        let refused = chunk
            .iter()
            .position(|p| matches!(p.expect, Expect::Refused(_)));
        match (ledger.apply(&numbered(chunk), now()), refused) {
            (Ok(outcomes), None) => {
                prop_assert_eq!(outcomes.len(), chunk.len());
                for (o, p) in outcomes.iter().zip(chunk) {
                    check_outcome(o, p)?;
                }
            }
            (Ok(outcomes), Some(k)) => prop_assert!(
                false,
                "the batch is accepted ({:?}), the model refuses line {}: {:?}",
                outcomes,
                k + 1,
                chunk[k]
            ),
            (Err(e), None) => {
                // Which command: apply them one by one for the message.
                let mut found = format!("{e}");
                for p in chunk {
                    match ledger.apply(&numbered(std::slice::from_ref(p)), now()) {
                        Ok(o) => check_outcome(&o[0], p)?,
                        Err(e) => {
                            found = format!(
                                "{:?} refused: {e}; the model expects {:?}",
                                p.command, p.expect
                            );
                            break;
                        }
                    }
                }
                prop_assert!(
                    false,
                    "the batch is refused, the model accepts it: {}",
                    found
                );
            }
            (Err(e), Some(k)) => {
                check_refusal(e, Some(k + 1), &chunk[k])?;
                for p in chunk {
                    let one = std::slice::from_ref(p);
                    match ledger.apply(&numbered(one), now()) {
                        Ok(o) => check_outcome(&o[0], p)?,
                        Err(e) => check_refusal(e, Some(1), p)?,
                    }
                }
            }
        }
    }
    Ok(())
}

/// Builds the ledger of a generated case in `dir`, checks every outcome, and checks the
/// replayed scores against the model at every prefix. Returns the model (the ledger closed).
fn run_case<'r>(
    dir: &Path,
    rubric: &'r MRubric,
    kinds: &[StationKind],
    ops: &[Op],
    chunks: &[usize],
) -> Result<Model<'r>, TestCaseError> {
    let (planned, model) = plan(rubric, kinds, ops);
    let mut ledger = new_ledger(dir, &rubric.toml());
    apply_all(&mut ledger, &planned, chunks)?;
    let end = ledger.head().next_seq;
    prop_assert_eq!(end, model.next_seq(), "the events appended");

    // The replay at every prefix: events [0, n) are the genesis and the first n − 1 effects.
    for n in 0..=end {
        let model_n = naive(&model, n.saturating_sub(1) as usize);
        let kaohe_n = figures(&scores_upto(&ledger, n));
        prop_assert_eq!(&kaohe_n.0, &model_n.0, "prefix {}: scores", n);
        prop_assert_eq!(&kaohe_n.1, &model_n.1, "prefix {}: records per item", n);
    }
    Ok(model)
}

proptest! {
    #![proptest_config(Config::with_cases(96))]

    /// Every command is accepted or refused (for the reason) as the naive model says, in
    /// batches and alone; the replayed scores equal the model's at every prefix of the chain.
    #[test]
    fn prop_format2_outcomes_and_replayed_scores_match_the_naive_model(
        spec in rubric_spec(),
        kinds in prop::collection::vec(station_kind(), 2..4),
        ops in prop::collection::vec(op(), 1..48),
        chunks in prop::collection::vec(1usize..8, 1..5),
    ) {
        let rubric = build(&spec);
        let dir = tempfile::tempdir().unwrap();
        run_case(dir.path(), &rubric, &kinds, &ops, &chunks)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Through the command line: `rubric check`, `score --json` (the tally), `explain --json` (the
// replay), `verify`.

/// Runs `kaohe --db <db> args…` at the test clock, retrying while a ledger this process just
/// closed is still locked by sled's background threads.
fn cli(db: &Path, args: &[&str]) -> Output {
    let l = TestLedger {
        dir: tempfile::tempdir().unwrap(),
        db: db.to_path_buf(),
        now: crate::harness::TEST_NOW.to_string(),
    };
    for _ in 0..400 {
        let out = l.run(args);
        if !(out.code == 3 && out.stderr.contains("in use")) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} stays in use", db.display())
}

fn cli_json(db: &Path, args: &[&str]) -> Value {
    let out = cli(db, args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    out.json()
}

proptest! {
    #![proptest_config(Config::with_cases(12))]

    /// `kaohe rubric check` accepts the generated rubric; after the commands, `score --json`
    /// (the tally) at the head and at a cut, and `explain --json` of every station (the
    /// replay), equal the model and each other; `verify` passes.
    #[test]
    fn prop_cli_format2_score_explain_and_verify_match_the_naive_model(
        spec in rubric_spec(),
        kinds in prop::collection::vec(station_kind(), 2..4),
        ops in prop::collection::vec(op(), 1..40),
        chunks in prop::collection::vec(1usize..8, 1..5),
        cut in any::<Index>(),
    ) {
        let rubric = build(&spec);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rubric.toml");
        std::fs::write(&file, rubric.toml()).unwrap();
        let db = dir.path().join("ledger");
        let check = cli(&db, &["rubric", "check", file.to_str().unwrap()]);
        prop_assert_eq!(check.code, 0, "rubric check: {}{}\n{}", check.stdout, check.stderr, rubric.toml());

        let model = run_case(dir.path(), &rubric, &kinds, &ops, &chunks)?;
        let end = model.next_seq();

        // The tally at the head.
        let (head, _) = naive(&model, model.effects.len());
        let score = cli_json(&db, &["score", "--json"]);
        prop_assert_eq!(&score["view"]["as_of_seq"], &serde_json::json!(end - 1));
        let tally = json_scores(&score);
        prop_assert_eq!(&tally, &head, "score --json at the head");

        // The tally at a cut: events [0, n] are the genesis and the first n effects.
        let n = cut.index(end as usize);
        let (at_cut, _) = naive(&model, n);
        let score = cli_json(&db, &["score", "--json", "--as-of-seq", &n.to_string()]);
        prop_assert_eq!(&json_scores(&score), &at_cut, "score --json --as-of-seq {}", n);

        // Valid time: only what occurred on or before a day, as corrected since.
        let at = day(cut.index(usize::from(PERIOD_DAYS)) as u16);
        let (on_day, _) = naive_at(&model, model.effects.len(), Some(at));
        let score = cli_json(&db, &["score", "--json", "--at", &at.to_string()]);
        prop_assert_eq!(&json_scores(&score), &on_day, "score --json --at {}", at);
        if let Some((code, fig)) = at_cut.iter().next() {
            let x = cli_json(&db, &["explain", "--json", "--station", code, "--as-of-seq", &n.to_string()]);
            prop_assert_eq!(&json_fig(&x), fig, "explain --json --station {} --as-of-seq {}", code, n);
        }

        // The replay, one station at a time: the same figures, and the rubric's caps.
        for (code, fig) in &head {
            let x = cli_json(&db, &["explain", "--json", "--station", code]);
            prop_assert_eq!(&json_fig(&x), fig, "explain --json --station {}", code);
            prop_assert_eq!(&json_fig(&x), &tally[code], "explain and score of {}", code);
            for i in x["items"].as_array().unwrap() {
                let item = rubric.items.iter().find(|m| i["item"] == m.code.as_str()).expect("an item of the rubric");
                prop_assert_eq!(&i["caps_at_max"], &serde_json::json!(item.capped), "item {}", item.code);
            }
        }

        let out = cli(&db, &["verify"]);
        prop_assert_eq!(out.code, 0, "verify: {}{}", out.stdout, out.stderr);
    }
}
