//! Properties of rubric format 2 (issue 16), checked on generated inputs (proptest):
//!
//! - a small random format-2 rubric (a few categories and a bonus one; items `capped` or not,
//!   some weighted by `full_marks`, some split into sub-parts with floors; `fixed`,
//!   `per_unit`, `missing` and `graded` clauses with random `once`, `excludes`, `requires`,
//!   `deadline`, `max_count`, `part`, `severe` and `attribution`; sometimes 1–3 `[[period]]`
//!   tables and 1–2 `[[assessor]]` tables, which make up to six sheets) loads, and `kaohe
//!   rubric check` accepts it;
//! - a random sequence of commands against it (records with occurred dates and departments
//!   that land on every sheet, graded scores in a grade, in a gap or at the full score,
//!   reversals of earlier records, appeals and their decisions, commands sent again) is
//!   accepted or refused exactly as a naive model written here says, for the reason it gives
//!   (the model reads the rules from `schema/RUBRIC.md` and `README.md`, not from kaohe's
//!   rubric or rule code; the counted clauses count per station and sheet), in a batch as one
//!   by one;
//! - the scores match the model's plain decimal sums, each sheet scored on its own (sub-part
//!   floors, severe findings, item caps, weights, the bonus cap) and combined by weight to 6
//!   places (per station: total, deducted, awarded, raw figures, bonus before its cap, rank,
//!   each sheet's total, deducted and awarded; per item: its scale, weight, applied and raw
//!   figures, what it counts for, whether a limit cut): through the replay (the projection
//!   fold) at every prefix of the chain, `kaohe score --json` (the tally) at the head, at an
//!   `--as-of-seq` cut and at an `--at` day, and `kaohe explain --json` of every station (and
//!   of one at the cut), whose records each name their sheet and apply, sheet by sheet, what
//!   the model's item figure there is; `kaohe verify` passes, and again after the open
//!   appeals are decided and `kaohe close` seals the period, whose final scores are the
//!   model's.
//!
//! Case counts are kept modest so that the suite stays fast (the command-line properties run
//! the binary a dozen or so times per case). The `sheets` properties draw rubrics that mostly
//! state periods and assessors, and more records.

use crate::props::{cli, open_ledger};
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

/// A graded clause's full score as a share of its item's scale.
const GRADED_SHARES: &[&str] = &["0.5", "1", "2", "0.3"];
/// Grade templates: (grade, from, to) as shares of the clause's full score (kept to 2
/// places), with gaps between them; the first reaches the full score.
const GRADES: &[&[(&str, &str, &str)]] = &[
    &[("A", "0.9", "1"), ("B", "0.6", "0.8"), ("C", "0", "0.5")],
    &[("合格", "0.5", "1")],
    &[("甲", "0.75", "0.95"), ("乙", "0.25", "0.7")],
];
/// How an item's full marks split into sub-parts (shares; the last takes the rest).
const PART_SPLITS: &[&[&str]] = &[
    &["1"],
    &["0.5", "0.5"],
    &["0.4"],
    &["0.2", "0.3"],
    &["0.25", "0.25"],
];
/// A sub-part's floor as a share of its points (`None`: not stated, 0).
const FLOORS: &[Option<&str>] = &[None, Some("0"), Some("0.25"), Some("0.5"), Some("0.9")];
/// The periods' weights (percent), by number of periods.
const PERIOD_WEIGHTS: &[&[&str]] = &[
    &["100"],
    &["40", "60"],
    &["50", "50"],
    &["12.5", "87.5"],
    &["33.3", "66.7"],
    &["20", "30", "50"],
    &["33.33", "33.33", "33.34"],
    &["10", "45", "45"],
];
/// The assessors' weights (percent), by number of assessors.
const ASSESSOR_WEIGHTS: &[&[&str]] = &[
    &["100"],
    &["50", "50"],
    &["30", "70"],
    &["37.5", "62.5"],
    &["66.67", "33.33"],
];
const ATTRIBUTIONS: [&str; 3] = ["happened", "result", "discovered"];

#[derive(Debug, Clone)]
struct ClauseSpec {
    /// 0 fixed, 1 per_unit, 2 missing, 3 graded (fixed in the bonus category, where missing
    /// and graded are refused).
    kind: u8,
    share: usize,
    max_count: Option<u32>,
    required: u32,
    once: Option<bool>,
    excludes: Vec<Index>,
    requires: Option<Index>,
    deadline: Option<u16>,
    /// graded: its full score (`GRADED_SHARES`) and its grades (`GRADES`).
    graded: (usize, usize),
    /// In an item with sub-parts: which one, and whether it passes the floor.
    part: (Index, bool),
    /// `attribution` (an index into `ATTRIBUTIONS`), when stated.
    attribution: Option<usize>,
}

#[derive(Debug, Clone)]
struct ItemSpec {
    points: usize,
    full_marks: Option<usize>,
    capped: bool,
    /// Which departments assess it (a bit per department, never 0).
    departments: u8,
    clauses: Vec<ClauseSpec>,
    /// Sub-parts (outside the bonus category): a split (`PART_SPLITS`) and each part's floor
    /// (`FLOORS`, cycled).
    parts: Option<(usize, Vec<usize>)>,
}

#[derive(Debug, Clone)]
struct RubricSpec {
    /// The non-bonus categories, each a list of items.
    categories: Vec<Vec<ItemSpec>>,
    /// The bonus category's items.
    bonus: Vec<ItemSpec>,
    /// `[[period]]`: the weights (`PERIOD_WEIGHTS`) and where the periods are cut (days of
    /// the period); `None`: not stated.
    periods: Option<(usize, Vec<Index>)>,
    /// `[[assessor]]`: the weights (`ASSESSOR_WEIGHTS`) and which departments record for the
    /// first of two (a bit per department); `None`: not stated.
    assessors: Option<(usize, u8)>,
}

fn clause_spec() -> impl Strategy<Value = ClauseSpec> {
    (
        (
            prop_oneof![3 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8), 3 => Just(3u8)],
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
        ),
        (
            (0..GRADED_SHARES.len(), 0..GRADES.len()),
            (any::<Index>(), prop::bool::weighted(0.3)),
            prop_oneof![2 => Just(None), 1 => (0..ATTRIBUTIONS.len()).prop_map(Some)],
        ),
    )
        .prop_map(
            |(
                (kind, share, max_count, required, once, excludes, requires, deadline),
                (graded, part, attribution),
            )| ClauseSpec {
                kind,
                share,
                max_count,
                required,
                once,
                excludes,
                requires,
                deadline,
                graded,
                part,
                attribution,
            },
        )
}

/// An item; `every` weighs items that every department assesses (so that their records reach
/// every assessor's sheets) against items of a random set of departments.
fn item_spec(every: u32) -> impl Strategy<Value = ItemSpec> {
    (
        0..ITEM_POINTS.len(),
        prop_oneof![1 => Just(None), 1 => (0..FULL_MARKS.len()).prop_map(Some)],
        any::<bool>(),
        prop_oneof![4 => 1u8..8, every => Just(7u8)],
        prop::collection::vec(clause_spec(), 1..4),
        prop_oneof![
            2 => Just(None),
            1 => (0..PART_SPLITS.len(), prop::collection::vec(0..FLOORS.len(), 1..4)).prop_map(Some),
        ],
    )
        .prop_map(
            |(points, full_marks, capped, departments, clauses, parts)| ItemSpec {
                points,
                full_marks,
                capped,
                departments,
                clauses,
                parts,
            },
        )
}

/// `[[period]]` tables (as often as `stated` against 1), or none.
fn periods_spec(stated: u32) -> impl Strategy<Value = Option<(usize, Vec<Index>)>> {
    prop_oneof![
        1 => Just(None),
        stated => (0..PERIOD_WEIGHTS.len(), prop::collection::vec(any::<Index>(), 2)).prop_map(Some),
    ]
}

/// `[[assessor]]` tables (as often as `stated` against 1), or none.
fn assessors_spec(stated: u32) -> impl Strategy<Value = Option<(usize, u8)>> {
    prop_oneof![
        1 => Just(None),
        stated => (0..ASSESSOR_WEIGHTS.len(), 1u8..7).prop_map(Some),
    ]
}

/// A rubric's shape; `stated` weighs `[[period]]` and `[[assessor]]` tables against none (a
/// stated table may still make one period or one assessor, of weight 100), and items of
/// every department against items of a random set.
fn rubric_spec_with(stated: u32) -> impl Strategy<Value = RubricSpec> {
    (
        prop::collection::vec(prop::collection::vec(item_spec(stated), 1..3), 1..4),
        prop::collection::vec(item_spec(stated), 1..3),
        periods_spec(stated),
        assessors_spec(stated),
    )
        .prop_map(|(categories, bonus, periods, assessors)| RubricSpec {
            categories,
            bonus,
            periods,
            assessors,
        })
}

fn rubric_spec() -> impl Strategy<Value = RubricSpec> {
    rubric_spec_with(1)
}

// ---------------------------------------------------------------------------------------------
// The rubric as the model reads it.

/// One grade of a graded clause: its name and the scores it spans.
type MGrade = (String, Decimal, Decimal);

#[derive(Debug, Clone)]
enum Kind {
    Fixed(Decimal),
    /// points per unit, at most this many units per station and sheet
    PerUnit(Decimal, Option<u32>),
    /// points × (required − done)
    Missing(u32, Decimal),
    /// full score − the score given, which lies in a grade and below the full score
    Graded(Decimal, Vec<MGrade>),
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
    /// The item's sub-part it deducts from (an index into `MItem::parts`), and whether it
    /// passes the part's floor.
    part: Option<usize>,
    severe: bool,
    /// As stated (it only names the date; the occurred date decides the sheet either way).
    attribution: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct MPart {
    code: String,
    points: Decimal,
    /// As stated (absent: 0).
    floor: Option<Decimal>,
}

#[derive(Debug, Clone)]
struct MItem {
    code: String,
    bonus: bool,
    points: Decimal,
    full_marks: Option<Decimal>,
    capped: bool,
    departments: Vec<&'static str>,
    parts: Vec<MPart>,
}

/// A sub-period: `[start, end]` and its weight in percent.
#[derive(Debug, Clone)]
struct MPeriod {
    code: String,
    name: String,
    start: Date,
    end: Date,
    weight: Decimal,
}

/// An assessing body, its weight in percent and the departments that record for it.
#[derive(Debug, Clone)]
struct MAssessor {
    code: String,
    name: String,
    weight: Decimal,
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
    /// As stated (none: the whole period is one).
    periods: Vec<MPeriod>,
    /// As stated (none: every department records for one body).
    assessors: Vec<MAssessor>,
}

/// The period and assessor kaohe names when the rubric states none (`score --json`'s
/// `sheets` shows them when the other list makes several sheets).
const WHOLE_YEAR: (&str, &str) = ("year", "全年");
const EVERY_DEPARTMENT: (&str, &str) = ("all", "考核单位");

impl MRubric {
    /// The scale an item's figures are on: its full marks, or its points.
    fn scale(&self, item: usize) -> Decimal {
        let i = &self.items[item];
        i.full_marks.unwrap_or(i.points)
    }

    /// Format 2: a clause judged on a year-end figure (here `missing` and `graded`) counts
    /// once unless it says otherwise; any other counts once only when it says so.
    fn once(&self, clause: usize) -> bool {
        let c = &self.clauses[clause];
        c.once
            .unwrap_or(matches!(c.kind, Kind::Missing(..) | Kind::Graded(..)))
    }

    fn period_count(&self) -> usize {
        self.periods.len().max(1)
    }

    fn assessor_count(&self) -> usize {
        self.assessors.len().max(1)
    }

    /// Sheets: one per (period, assessor), period by period.
    fn sheet_count(&self) -> usize {
        self.period_count() * self.assessor_count()
    }

    /// The sheet a record by `by` (a department or its alias) that occurred on `date` counts
    /// on.
    fn sheet_of(&self, by: &str, date: Date) -> usize {
        let by = if by == ALIAS { DEPARTMENTS[0] } else { by };
        let p = self
            .periods
            .iter()
            .position(|p| p.start <= date && date <= p.end)
            .unwrap_or(0);
        let a = self
            .assessors
            .iter()
            .position(|a| a.departments.contains(&by))
            .unwrap_or(0);
        p * self.assessor_count() + a
    }

    /// A sheet's weight as a fraction: period weight × assessor weight / 10 000.
    fn sheet_weight(&self, sheet: usize) -> Decimal {
        let (p, a) = (sheet / self.assessor_count(), sheet % self.assessor_count());
        let pw = self.periods.get(p).map_or(dec("100"), |p| p.weight);
        let aw = self.assessors.get(a).map_or(dec("100"), |a| a.weight);
        (pw * aw / dec("10000")).normalize()
    }

    /// A sheet's (period code, period name, assessor code, assessor name).
    fn sheet_names(&self, sheet: usize) -> (String, String, String, String) {
        let (p, a) = (sheet / self.assessor_count(), sheet % self.assessor_count());
        let (pc, pn) = self
            .periods
            .get(p)
            .map_or((WHOLE_YEAR.0.to_string(), WHOLE_YEAR.1.to_string()), |p| {
                (p.code.clone(), p.name.clone())
            });
        let (ac, an) = self.assessors.get(a).map_or(
            (
                EVERY_DEPARTMENT.0.to_string(),
                EVERY_DEPARTMENT.1.to_string(),
            ),
            |a| (a.code.clone(), a.name.clone()),
        );
        (pc, pn, ac, an)
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
        for p in &self.periods {
            t.push_str(&format!(
                "[[period]]\ncode = \"{}\"\nname = \"{}\"\nstart = \"{}\"\nend = \"{}\"\nweight = \"{}\"\n\n",
                p.code, p.name, p.start, p.end, p.weight
            ));
        }
        for a in &self.assessors {
            let depts: Vec<String> = a.departments.iter().map(|d| format!("\"{d}\"")).collect();
            t.push_str(&format!(
                "[[assessor]]\ncode = \"{}\"\nname = \"{}\"\nweight = \"{}\"\ndepartments = [{}]\n\n",
                a.code,
                a.name,
                a.weight,
                depts.join(", ")
            ));
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
                for part in &item.parts {
                    t.push_str(&format!(
                        "[[category.item.part]]\ncode = \"{}\"\nname = \"部分{}\"\npoints = \"{}\"\n",
                        part.code, part.code, part.points
                    ));
                    if let Some(f) = part.floor {
                        t.push_str(&format!("floor = \"{f}\"\n"));
                    }
                    t.push('\n');
                }
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
                        Kind::Graded(p, grades) => {
                            let grades: Vec<String> = grades
                                .iter()
                                .map(|(g, from, to)| {
                                    format!("{{ grade = \"{g}\", from = \"{from}\", to = \"{to}\", text = \"档次{g}\" }}")
                                })
                                .collect();
                            t.push_str(&format!(
                                "kind = \"graded\"\npoints = \"{p}\"\ngrades = [{}]\n",
                                grades.join(", ")
                            ));
                        }
                    }
                    if let Some(part) = c.part {
                        t.push_str(&format!("part = \"{}\"\n", item.parts[part].code));
                    }
                    if c.severe {
                        t.push_str("severe = true\n");
                    }
                    if let Some(a) = c.attribution {
                        t.push_str(&format!("attribution = \"{a}\"\n"));
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
        periods: Vec::new(),
        assessors: Vec::new(),
    };
    if let Some((w, cuts)) = &spec.periods {
        let weights = PERIOD_WEIGHTS[*w];
        // Where each period after the first starts (days of the period, rising).
        let starts: Vec<u16> = match weights.len() {
            1 => vec![],
            2 => vec![1 + cuts[0].index(usize::from(PERIOD_DAYS) - 1) as u16],
            _ => {
                let a = 1 + cuts[0].index(usize::from(PERIOD_DAYS) - 2) as u16;
                let b = a + 1 + cuts[1].index(usize::from(PERIOD_DAYS - 1 - a)) as u16;
                vec![a, b]
            }
        };
        for (k, weight) in weights.iter().enumerate() {
            let start = if k == 0 { 0 } else { starts[k - 1] };
            let end = starts.get(k).map_or(PERIOD_DAYS - 1, |next| next - 1);
            r.periods.push(MPeriod {
                code: ["H1", "h_2", "Q-3"][k].to_string(),
                name: format!("第{}期", k + 1),
                start: day(start),
                end: day(end),
                weight: dec(weight),
            });
        }
    }
    if let Some((w, first)) = spec.assessors {
        let weights = ASSESSOR_WEIGHTS[w];
        for (k, weight) in weights.iter().enumerate() {
            let departments: Vec<&'static str> = match weights.len() {
                1 => DEPARTMENTS.to_vec(),
                _ => (0..3)
                    .filter(|b| (first & (1 << b) != 0) == (k == 0))
                    .map(|b| DEPARTMENTS[b])
                    .collect(),
            };
            r.assessors.push(MAssessor {
                code: ["district", "town_2"][k].to_string(),
                name: ["区局", "镇街"][k].to_string(),
                weight: dec(weight),
                departments,
            });
        }
    }
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
            let scale = full_marks.unwrap_or(points);
            let round2 = |x: Decimal| x.round_dp(2).normalize();
            // Sub-parts: the split's shares of the scale, and the rest as the last.
            let mut parts: Vec<MPart> = Vec::new();
            if let (Some((split, floors)), false) = (&is.parts, bonus) {
                let mut sizes: Vec<Decimal> = PART_SPLITS[*split]
                    .iter()
                    .map(|x| round2(scale * dec(x)))
                    .collect();
                let rest = scale - sizes.iter().copied().sum::<Decimal>();
                if rest > Decimal::ZERO {
                    sizes.push(rest.normalize());
                }
                for (k, size) in sizes.into_iter().enumerate() {
                    let floor = FLOORS[floors[k % floors.len()]].map(|f| round2(size * dec(f)));
                    parts.push(MPart {
                        code: format!("{item_code}.{}", k + 1),
                        points: size,
                        floor,
                    });
                }
            }
            r.items.push(MItem {
                code: item_code.clone(),
                bonus,
                points,
                full_marks,
                // An item with sub-parts stops at its full marks: the loader wants it capped.
                capped: is.capped || !parts.is_empty(),
                departments,
                parts: parts.clone(),
            });
            cat.items.push(index);
            cat.points += points;
            for (m, cs) in is.clauses.iter().enumerate() {
                let p = match SHARES.get(cs.share) {
                    Some(share) => round2(scale * dec(share)),
                    None => dec(POINTS[cs.share - SHARES.len()]),
                };
                let kind = match (cs.kind, bonus) {
                    (1, _) => Kind::PerUnit(p, cs.max_count),
                    (2, false) => Kind::Missing(cs.required, p),
                    (3, false) => {
                        let full = round2(scale * dec(GRADED_SHARES[cs.graded.0]));
                        let grades = GRADES[cs.graded.1]
                            .iter()
                            .map(|(g, from, to)| {
                                (
                                    g.to_string(),
                                    round2(full * dec(from)),
                                    round2(full * dec(to)),
                                )
                            })
                            .collect();
                        Kind::Graded(full, grades)
                    }
                    _ => Kind::Fixed(p),
                };
                let part = (!parts.is_empty()).then(|| cs.part.0.index(parts.len()));
                let graded = matches!(kind, Kind::Graded(..));
                pending.push((r.clauses.len(), cs));
                r.clauses.push(MClause {
                    code: format!("{item_code}.{}", (b'a' + m as u8) as char),
                    item: index,
                    kind,
                    // A graded clause places a station in one grade per sheet: the loader
                    // refuses `once = false` for it.
                    once: match cs.once {
                        Some(false) if graded => None,
                        once => once,
                    },
                    excludes: Vec::new(),
                    requires: Vec::new(),
                    deadline: cs.deadline.map(day),
                    part,
                    severe: part.is_some() && cs.part.1,
                    attribution: cs.attribution.map(|a| ATTRIBUTIONS[a]),
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
    op_with(10)
}

/// A step, records weighing `records` against 9 for the others.
fn op_with(records: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        records => (any::<Index>(), any::<Index>(), any::<u32>(), 0..PERIOD_DAYS, any::<bool>())
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
        /// The sheet it counts on (its department's assessor, its date's period).
        sheet: usize,
        /// Its computed points, and the units it counts under its clause.
        points: Decimal,
        units: u32,
        /// Why its clause refuses its inputs (a graded score outside every grade, or the full
        /// score), if it does.
        invalid: Vec<String>,
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
        by: &'static str,
    },
    Reverse {
        id: String,
        record: usize,
        by: &'static str,
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
    sheet: usize,
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

    /// The units of `station`'s records under `clause` on `sheet` that still stand (records
    /// count per station and sheet).
    fn standing(&self, station: usize, clause: usize, sheet: usize) -> u32 {
        self.records
            .iter()
            .filter(|r| {
                r.station == station && r.clause == clause && r.sheet == sheet && !r.removed
            })
            .map(|r| r.units)
            .sum()
    }

    /// Why record `r` may not stop counting: it is its station's last standing record under a
    /// clause that another clause, with standing records, requires.
    fn orphans(&self, r: usize) -> Vec<String> {
        let rec = &self.records[r];
        let rubric = self.rubric;
        if self.standing(rec.station, rec.clause, rec.sheet) > rec.units {
            return Vec::new();
        }
        rubric
            .clauses
            .iter()
            .enumerate()
            .filter(|(d, c)| {
                c.requires.contains(&rec.clause) && self.standing(rec.station, *d, rec.sheet) > 0
            })
            .map(|(_, c)| format!("which {} requires", c.code))
            .collect()
    }

    /// Why `by` may not reverse record `r` or decide its appeal: with several assessors, it
    /// records for another than the record's.
    fn other_assessor(&self, r: usize, by: &str) -> Vec<String> {
        let rubric = self.rubric;
        let n = rubric.assessor_count();
        let rec = &self.records[r];
        match n > 1 && rubric.sheet_of(by, rec.occurred) % n != rec.sheet % n {
            true => vec!["decide or reverse it".into()],
            false => Vec::new(),
        }
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
                sheet,
                points,
                units,
                invalid,
            } => {
                if let Some(seq) = self.ids.get(id) {
                    return Expect::Unchanged(*seq);
                }
                let c = &rubric.clauses[*clause];
                let mut why: Vec<String> = invalid.clone();
                if let Some(d) = c.deadline.filter(|d| occurred > d) {
                    why.push(format!(
                        "clause {} counts what occurred on or before {d}",
                        c.code
                    ));
                }
                let standing = self.standing(*station, *clause, *sheet);
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
                    if self.standing(*station, o, *sheet) > 0 {
                        why.push(format!(
                            "clauses {} and {} exclude each other",
                            c.code, rubric.clauses[o].code
                        ));
                    }
                }
                for &o in &c.requires {
                    if self.standing(*station, o, *sheet) == 0 {
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
                    sheet: *sheet,
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
                by,
            } => {
                let a = &self.appeals[*appeal];
                let other = self.other_assessor(a.record, by);
                if !other.is_empty() {
                    return Expect::Refused(other);
                }
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
            Intent::Reverse { id, record, by } => {
                if let Some(seq) = self.ids.get(id) {
                    return Expect::Unchanged(*seq);
                }
                let mut why = self.closed(*record);
                why.extend(self.other_assessor(*record, by));
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
                let mut invalid: Vec<String> = Vec::new();
                let (points, units) = match &c.kind {
                    &Kind::Fixed(p) => {
                        if a % 3 == 0 {
                            inputs.count = Some(1);
                        }
                        if *give_points {
                            inputs.points = Some(p);
                        }
                        (p, 1)
                    }
                    &Kind::PerUnit(p, _) => {
                        let count = 1 + a % 3;
                        if count > 1 || a % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        if *give_points {
                            inputs.points = Some(p);
                        }
                        (p * Decimal::from(count), count)
                    }
                    Kind::Graded(full, grades) => {
                        // A score at a grade's edge or middle, or one the clause refuses: in a
                        // gap between grades, above every grade, or the full score.
                        let mut scores: Vec<Decimal> = grades
                            .iter()
                            .flat_map(|(_, from, to)| {
                                [*from, *to, ((*from + *to) / dec("2")).round_dp(2)]
                            })
                            .collect();
                        scores.extend([
                            *full,
                            (*full * dec("0.55")).round_dp(2),
                            (*full * dec("0.85")).round_dp(2),
                            *full + Decimal::ONE,
                        ]);
                        let value = scores[*a as usize % scores.len()].normalize();
                        inputs.value = Some(value);
                        if !grades
                            .iter()
                            .any(|(_, from, to)| *from <= value && value <= *to)
                        {
                            invalid
                                .push(format!("clause {}: score {value} lies in no grade", c.code));
                        }
                        if value >= *full {
                            invalid.push(format!(
                                "clause {}: score {value} is the full {full}; nothing to deduct",
                                c.code
                            ));
                        }
                        let deducts = (*full - value).normalize();
                        if *give_points && invalid.is_empty() {
                            inputs.points = Some(deducts);
                        }
                        (deducts, 1)
                    }
                    &Kind::Missing(required, p) => {
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
                let sheet = rubric.sheet_of(by, occurred);
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
                    sheet,
                    points: points.normalize(),
                    units,
                    invalid,
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
                let by = item.departments[n % item.departments.len()];
                let command = Command::Reverse(ReverseCmd {
                    id: Some(id.clone()),
                    target: rec.id.clone(),
                    by: by.into(),
                    reason: format!("录错{n}"),
                    evidence,
                });
                push(
                    &mut model,
                    &mut out,
                    command,
                    Intent::Reverse { id, record: r, by },
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
                    by: item.departments[0],
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
    /// Each sheet's part, period by period (empty for a rubric of one sheet).
    sheets: Vec<SheetFig>,
}

/// One sheet of a station's score.
#[derive(Debug, Clone, PartialEq)]
struct SheetFig {
    period: String,
    period_name: String,
    assessor: String,
    assessor_name: String,
    /// Its weight in the total, as a fraction.
    weight: Decimal,
    total: Decimal,
    deducted: Decimal,
    awarded: Decimal,
}

/// `x` to 6 places, half away from zero, in whole numbers.
fn round6(x: Decimal) -> Decimal {
    let Some(extra) = x.scale().checked_sub(6).filter(|e| *e > 0) else {
        return x.normalize();
    };
    let (m, den) = (x.mantissa(), 10i128.pow(extra));
    let (q, r) = (m.abs() / den, m.abs() % den);
    let q = if 2 * r >= den { q + 1 } else { q };
    Decimal::from_i128_with_scale(m.signum() * q, 6).normalize()
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
    let (stations, sheets_of, records) = naive_sheets(model, n, at);
    let sheets = rubric.sheet_count();
    // Σ weight × figure over the sheets, to 6 places; one sheet's figure as it is.
    let combine = |figure: &dyn Fn(usize) -> Decimal| -> Decimal {
        match sheets {
            1 => figure(0),
            _ => round6(
                (0..sheets)
                    .map(|s| rubric.sheet_weight(s) * figure(s))
                    .sum(),
            ),
        }
    };
    let mut out = BTreeMap::new();
    let mut events = BTreeMap::new();
    for s in stations {
        let per_sheet = &sheets_of[&s];
        // The total and the bonus are weighted sums; the deduction is what makes total =
        // base − deducted + awarded exact (schema/RUBRIC.md, *Periods and assessors*).
        let total = combine(&|k| per_sheet[k].total);
        let awarded = combine(&|k| per_sheet[k].awarded);
        let mut f = Fig {
            kind: model.kinds[s],
            total,
            deducted: (model.rubric.base - total + awarded).normalize(),
            awarded,
            raw_deducted: zero,
            raw_awarded: zero,
            awarded_before_cap: combine(&|k| per_sheet[k].before_cap),
            rank: 0,
            items: BTreeMap::new(),
            sheets: Vec::new(),
        };
        for (i, item) in rubric.items.iter().enumerate() {
            let raw = combine(&|k| per_sheet[k].items[i].0);
            let applied = combine(&|k| per_sheet[k].items[i].1);
            let fig = ItemFig {
                max: rubric.scale(i),
                weight: item.points,
                deducted: if item.bonus { zero } else { applied },
                awarded: if item.bonus { applied } else { zero },
                raw_deducted: if item.bonus { zero } else { raw },
                raw_awarded: if item.bonus { raw } else { zero },
                counts: combine(&|k| per_sheet[k].items[i].2),
                cut: applied != raw,
            };
            match item.bonus {
                true => f.raw_awarded += raw,
                false => f.raw_deducted += raw,
            }
            if let Some(count) = records.get(&(s, i)) {
                events.insert((station_code(s), item.code.clone()), *count);
            }
            f.items.insert(item.code.clone(), fig);
        }
        if sheets > 1 {
            f.sheets = per_sheet
                .iter()
                .enumerate()
                .map(|(k, x)| {
                    let (period, period_name, assessor, assessor_name) = rubric.sheet_names(k);
                    SheetFig {
                        period,
                        period_name,
                        assessor,
                        assessor_name,
                        weight: rubric.sheet_weight(k),
                        total: x.total,
                        deducted: x.deducted,
                        awarded: x.awarded,
                    }
                })
                .collect();
        }
        out.insert(station_code(s), f);
    }
    // Equal totals share the better place: 1 + the number of stations strictly ahead.
    let totals: Vec<Decimal> = out.values().map(|f| f.total).collect();
    for f in out.values_mut() {
        f.rank = 1 + totals.iter().filter(|t| **t > f.total).count() as u32;
    }
    (out, events)
}

/// Each station's sheets, each scored on its own as a rubric of one sheet would be, after the
/// first `n` effects (of the records that occurred on or before `at`); the stations in the
/// order they were registered; and (station, item) → its records.
#[allow(clippy::type_complexity)]
fn naive_sheets(
    model: &Model,
    n: usize,
    at: Option<Date>,
) -> (
    Vec<usize>,
    BTreeMap<usize, Vec<NaiveSheet>>,
    BTreeMap<(usize, usize), u32>,
) {
    let rubric = model.rubric;
    let zero = Decimal::ZERO;
    let mut stations: Vec<usize> = Vec::new();
    // (station, sheet, clause) → the points standing; (station, item) → its records
    let mut points: BTreeMap<(usize, usize, usize), Decimal> = BTreeMap::new();
    let mut records: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    let mut stands: BTreeMap<usize, Decimal> = BTreeMap::new();
    for e in &model.effects[..n] {
        match *e {
            Effect::Station(s) => stations.push(s),
            Effect::Record(r) if at.is_some_and(|d| model.records[r].occurred > d) => {}
            Effect::Stands(r, _) if at.is_some_and(|d| model.records[r].occurred > d) => {}
            Effect::Record(r) => {
                let rec = &model.records[r];
                let item = rubric.clauses[rec.clause].item;
                *points
                    .entry((rec.station, rec.sheet, rec.clause))
                    .or_default() += rec.original;
                *records.entry((rec.station, item)).or_default() += 1;
                stands.insert(r, rec.original);
            }
            Effect::Stands(r, now) => {
                let rec = &model.records[r];
                let before = stands.insert(r, now).expect("a record before its dispute");
                *points
                    .get_mut(&(rec.station, rec.sheet, rec.clause))
                    .expect("its clause") += now - before;
            }
            Effect::Nothing => {}
        }
    }
    let sheets = rubric.sheet_count();
    let mut out = BTreeMap::new();
    for &s in &stations {
        // Each sheet scored on its own, as a rubric of one sheet would be.
        let per_sheet: Vec<NaiveSheet> = (0..sheets)
            .map(|sheet| {
                let of = |item: usize, pick: &dyn Fn(&MClause) -> bool| -> Decimal {
                    rubric
                        .clauses
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.item == item && pick(c))
                        .filter_map(|(k, _)| points.get(&(s, sheet, k)))
                        .sum()
                };
                let items: Vec<(Decimal, Decimal, Decimal)> = rubric
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let raw = of(i, &|_| true);
                        // Each sub-part keeps its floor against ordinary findings; severe
                        // ones pass it, down to nothing.
                        let found = match item.parts.is_empty() {
                            true => raw,
                            false => item
                                .parts
                                .iter()
                                .enumerate()
                                .map(|(k, part)| {
                                    let floor = part.floor.unwrap_or(zero);
                                    let ordinary = of(i, &|c| c.part == Some(k) && !c.severe);
                                    let severe = of(i, &|c| c.part == Some(k) && c.severe);
                                    let ordinary = ordinary.min(part.points - floor);
                                    (ordinary + severe).min(part.points)
                                })
                                .sum(),
                        };
                        let scale = rubric.scale(i);
                        let applied = if item.capped && found > scale {
                            scale
                        } else {
                            found
                        };
                        let counts = match item.full_marks {
                            Some(fm) => share(applied, item.points, fm),
                            None => applied,
                        };
                        (raw, applied, counts)
                    })
                    .collect();
                let (mut deducted, mut before_cap) = (zero, zero);
                for (item, x) in rubric.items.iter().zip(&items) {
                    match item.bonus {
                        true => before_cap += x.2,
                        false => deducted += x.2,
                    }
                }
                let awarded = before_cap.min(rubric.bonus_cap);
                NaiveSheet {
                    items,
                    deducted,
                    before_cap,
                    awarded,
                    total: rubric.base - deducted + awarded,
                }
            })
            .collect();
        out.insert(s, per_sheet);
    }
    (stations, out, records)
}

/// One sheet of one station in the model: per item (raw, applied, counts), and the sums.
struct NaiveSheet {
    items: Vec<(Decimal, Decimal, Decimal)>,
    deducted: Decimal,
    before_cap: Decimal,
    awarded: Decimal,
    total: Decimal,
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
                sheets: s
                    .sheets
                    .iter()
                    .map(|x| SheetFig {
                        period: x.period.to_string(),
                        period_name: x.period_name.to_string(),
                        assessor: x.assessor.to_string(),
                        assessor_name: x.assessor_name.to_string(),
                        weight: x.weight,
                        total: x.total,
                        deducted: x.deducted,
                        awarded: x.awarded,
                    })
                    .collect(),
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
        sheets: s["sheets"]
            .as_array()
            .expect("sheets")
            .iter()
            .map(|x| {
                let text = |k: &str| x[k].as_str().expect(k).to_string();
                SheetFig {
                    period: text("period"),
                    period_name: text("period_name"),
                    assessor: text("assessor"),
                    assessor_name: text("assessor_name"),
                    weight: json_dec(&x["weight"], "sheet weight"),
                    total: json_dec(&x["total"], "sheet total"),
                    deducted: json_dec(&x["deducted"], "sheet deducted"),
                    awarded: json_dec(&x["awarded"], "sheet awarded"),
                }
            })
            .collect(),
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

proptest! {
    #![proptest_config(Config::with_cases(64))]

    /// The same on rubrics that mostly state periods and assessors (several sheets, each
    /// scored on its own and combined by weight), with more records, so that each sheet gets
    /// some and the counted clauses (`once`, `max_count`, `excludes`, `requires`) meet again
    /// on other sheets.
    #[test]
    fn prop_sheets_outcomes_and_replayed_scores_match_the_naive_model(
        spec in rubric_spec_with(6),
        kinds in prop::collection::vec(station_kind(), 2..4),
        ops in prop::collection::vec(op_with(30), 8..64),
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

fn cli_json(db: &Path, args: &[&str]) -> Value {
    let out = cli(db, args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    out.json()
}

/// The record of the model with this id.
fn record_by_id<'m>(model: &'m Model, id: &str) -> Option<&'m MRecord> {
    model.records.iter().find(|r| r.id == id)
}

/// The command-line case: `kaohe rubric check` accepts the generated rubric; after the
/// commands, `score --json` (the tally) at the head, at a cut and at a day, and `explain
/// --json` of every station (the replay), equal the model and each other, sheets included;
/// each record in `explain --json` names its sheet, and what it applies on that sheet sums to
/// the model's item figure there; `verify` passes; then the open appeals are decided
/// (rejected), the period is closed, `verify` still passes and `score --json` gives the same
/// final scores.
fn cli_case(
    spec: &RubricSpec,
    kinds: &[StationKind],
    ops: &[Op],
    chunks: &[usize],
    cut: Index,
    close: bool,
) -> Result<(), TestCaseError> {
    let rubric = build(spec);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rubric.toml");
    std::fs::write(&file, rubric.toml()).unwrap();
    let db = dir.path().join("ledger");
    let check = cli(&db, &["rubric", "check", file.to_str().unwrap()]);
    prop_assert_eq!(
        check.code,
        0,
        "rubric check: {}{}\n{}",
        check.stdout,
        check.stderr,
        rubric.toml()
    );

    let model = run_case(dir.path(), &rubric, kinds, ops, chunks)?;
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
    prop_assert_eq!(
        &json_scores(&score),
        &at_cut,
        "score --json --as-of-seq {}",
        n
    );

    // Valid time: only what occurred on or before a day, as corrected since.
    let at = day(cut.index(usize::from(PERIOD_DAYS)) as u16);
    let (on_day, _) = naive_at(&model, model.effects.len(), Some(at));
    let score = cli_json(&db, &["score", "--json", "--at", &at.to_string()]);
    prop_assert_eq!(&json_scores(&score), &on_day, "score --json --at {}", at);
    if let Some((code, fig)) = at_cut.iter().next() {
        let x = cli_json(
            &db,
            &[
                "explain",
                "--json",
                "--station",
                code,
                "--as-of-seq",
                &n.to_string(),
            ],
        );
        prop_assert_eq!(
            &json_fig(&x),
            fig,
            "explain --json --station {} --as-of-seq {}",
            code,
            n
        );
    }

    // The replay, one station at a time: the same figures, the rubric's caps, and each
    // record on its sheet.
    let (_, sheets_of, _) = naive_sheets(&model, model.effects.len(), None);
    let zero = Decimal::ZERO;
    for (code, fig) in &head {
        let x = cli_json(&db, &["explain", "--json", "--station", code]);
        prop_assert_eq!(&json_fig(&x), fig, "explain --json --station {}", code);
        prop_assert_eq!(&json_fig(&x), &tally[code], "explain and score of {}", code);
        let station: usize = code[1..].parse().expect("a station code");
        let per_sheet = &sheets_of[&station];
        for i in x["items"].as_array().unwrap() {
            let position = rubric
                .items
                .iter()
                .position(|m| i["item"] == m.code.as_str())
                .expect("an item of the rubric");
            let item = &rubric.items[position];
            prop_assert_eq!(
                &i["caps_at_max"],
                &serde_json::json!(item.capped),
                "item {}",
                item.code
            );
            let mut applied_on = vec![zero; rubric.sheet_count()];
            for c in i["clauses"].as_array().expect("clauses") {
                for e in c["events"].as_array().expect("events") {
                    let id = e["id"].as_str().expect("an id");
                    let Some(rec) = record_by_id(&model, id) else {
                        return Err(TestCaseError::fail(format!(
                            "explain shows {id}, which the model never accepted"
                        )));
                    };
                    let sheet = (rubric.sheet_count() > 1).then(|| {
                        let (_, period, _, assessor) = rubric.sheet_names(rec.sheet);
                        format!("{period}·{assessor}")
                    });
                    prop_assert_eq!(
                        &e["sheet"],
                        &serde_json::json!(sheet),
                        "the sheet of {}",
                        id
                    );
                    let standing = json_dec(&e["standing_points"], "standing_points");
                    let applied = json_dec(&e["applied_points"], "applied_points");
                    prop_assert_eq!(standing, rec.points, "the points of {} that stand", id);
                    prop_assert!(applied <= standing, "{} applies more than stands", id);
                    prop_assert_eq!(
                        e["limited_by"].is_null(),
                        applied == standing,
                        "{}: applied {} of {}, limited by {}",
                        id,
                        applied,
                        standing,
                        e["limited_by"]
                    );
                    applied_on[rec.sheet] += applied;
                }
            }
            for (k, applied) in applied_on.iter().enumerate() {
                prop_assert_eq!(
                    *applied,
                    per_sheet[k].items[position].1,
                    "{}: what the records of item {} apply on sheet {}",
                    code,
                    item.code,
                    k
                );
            }
        }
    }

    let out = cli(&db, &["verify"]);
    prop_assert_eq!(out.code, 0, "verify: {}{}", out.stdout, out.stderr);
    if !close {
        return Ok(());
    }

    // The close: every appeal decided first (rejected: the scores stay), then sealed.
    let lines: Vec<String> = model
        .appeals
        .iter()
        .filter(|a| a.decided.is_none())
        .map(|a| {
            let rec = &model.records[a.record];
            let item = &rubric.items[rubric.clauses[rec.clause].item];
            // A department of the record's own assessor (one made the record).
            let n = rubric.assessor_count();
            let by = item
                .departments
                .iter()
                .find(|d| rubric.sheet_of(d, rec.occurred) % n == rec.sheet % n)
                .expect("the record's own assessor assesses its item");
            serde_json::json!({
                "op": "decide", "appeal": a.id, "outcome": "rejected", "by": by,
                "reason": "维持原扣分", "evidence": ["复核意见"],
            })
            .to_string()
        })
        .collect();
    if !lines.is_empty() {
        let decisions = dir.path().join("decisions.jsonl");
        std::fs::write(&decisions, lines.join("\n") + "\n").unwrap();
        let out = cli(&db, &["import", decisions.to_str().unwrap()]);
        prop_assert_eq!(
            out.code,
            0,
            "import the decisions: {}{}",
            out.stdout,
            out.stderr
        );
    }
    let out = cli(&db, &["close"]);
    prop_assert_eq!(out.code, 0, "close: {}{}", out.stdout, out.stderr);
    let out = cli(&db, &["verify"]);
    prop_assert_eq!(
        out.code,
        0,
        "verify after the close: {}{}",
        out.stdout,
        out.stderr
    );
    let score = cli_json(&db, &["score", "--json"]);
    prop_assert_eq!(&json_scores(&score), &head, "score --json after the close");
    Ok(())
}

proptest! {
    #![proptest_config(Config::with_cases(12))]

    /// [`cli_case`]: `rubric check`, `score --json` (head, cut, day) and `explain --json`
    /// equal the model, `verify` passes.
    #[test]
    fn prop_cli_format2_score_explain_and_verify_match_the_naive_model(
        spec in rubric_spec(),
        kinds in prop::collection::vec(station_kind(), 2..4),
        ops in prop::collection::vec(op(), 1..40),
        chunks in prop::collection::vec(1usize..8, 1..5),
        cut in any::<Index>(),
    ) {
        cli_case(&spec, &kinds, &ops, &chunks, cut, false)?;
    }
}

proptest! {
    #![proptest_config(Config::with_cases(8))]

    /// [`cli_case`] on rubrics that mostly state periods and assessors (several sheets), with
    /// more records, so that each sheet gets some: every station's `sheets` in `score --json`
    /// and `explain --json`, each record's sheet; and the close, after which `verify` passes
    /// and the final scores are the model's.
    #[test]
    fn prop_cli_sheets_score_explain_close_and_verify_match_the_naive_model(
        spec in rubric_spec_with(6),
        kinds in prop::collection::vec(station_kind(), 2..4),
        ops in prop::collection::vec(op_with(30), 8..56),
        chunks in prop::collection::vec(1usize..8, 1..5),
        cut in any::<Index>(),
    ) {
        cli_case(&spec, &kinds, &ops, &chunks, cut, true)?;
    }
}
