//! The typed rubric: its header, departments, metrics, categories, items and clauses, the rule
//! kinds with their parameters, what a computation needs ([`Context`]) and shows
//! ([`Working`]), and the lookups by code.

use crate::events::event::StationKind;
use jiff::civil::Date;
use rust_decimal::Decimal;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeSet;

/// The rubric file format this text states (`[rubric] format`; a file without one is format 1,
/// the first files' shape).
pub const FORMAT_FIRST: u32 = 1;
/// Format 2: every item states whether deductions stop at its points (`capped`), and the
/// clauses judged on a year-end figure count once per station and period unless they say
/// otherwise (`once`).
pub const FORMAT_STATED: u32 = 2;

#[derive(Debug, Clone)]
pub struct Rubric {
    /// [`FORMAT_FIRST`] or [`FORMAT_STATED`].
    pub format: u32,
    pub name: String,
    pub source: String,
    pub period_start: Date,
    pub period_end: Date,
    pub base_points: Decimal,
    pub bonus_cap: Decimal,
    pub appeal_window_days: u32,
    pub appeal_window_note: String,
    pub departments: Vec<Department>,
    pub metrics: Vec<Metric>,
    pub categories: Vec<Category>,
    // The lookups by code are hash maps (they are only ever looked up, never listed): the
    // write path and the audit look a record's clause, item and department up per event.
    /// item code → (category index, item index)
    pub(super) item_index: FxHashMap<String, (usize, usize)>,
    /// clause code → (category index, item index, clause index)
    pub(super) clause_index: FxHashMap<String, (usize, usize, usize)>,
    /// item code → its place among all items, in rubric order
    pub(super) item_position: FxHashMap<String, usize>,
    /// department name or alias → canonical name
    pub(super) department_index: FxHashMap<String, String>,
    /// The clauses whose standing records are counted per station (`Rubric::counted`).
    pub(super) counted: FxHashSet<String>,
    /// metric → the departments (canonical, sorted, each once) that own an item whose clauses
    /// read it (`Rubric::metric_departments`), gathered once when the rubric is loaded.
    pub(super) metric_owners: FxHashMap<String, Vec<String>>,
    /// What the final scores mean for each station (`domain::consequences`).
    pub consequences: Vec<Consequence>,
    /// The sub-periods, tiling the period in order (one, the whole period, unless stated).
    pub periods: Vec<Period>,
    /// The assessing bodies (one, every department, unless stated).
    pub assessors: Vec<Assessor>,
    /// Per item position: its first slot within a sheet (`domain::rubric::sheets`).
    pub(super) item_slots: Vec<usize>,
    /// Slots per sheet: one per item, two per sub-part of an item that has them.
    pub(super) slots_per_sheet: usize,
    /// Per item position: (category index, item index), for [`Rubric::item_at`].
    pub(super) item_places: Vec<(usize, usize)>,
}

/// A sub-period with its weight in the year's score (上半年 40 %).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub code: String,
    pub name: String,
    pub start: Date,
    pub end: Date,
    /// Percent; the periods' weights sum to 100.
    pub weight: Decimal,
}

/// An assessing body with its weight in the score (区局 50 %, 镇 50 %) and the departments that
/// record for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessor {
    pub code: String,
    pub name: String,
    /// Percent; the assessors' weights sum to 100.
    pub weight: Decimal,
    /// Canonical department names; every department belongs to exactly one assessor.
    pub departments: Vec<String>,
}

/// A sub-part of an item (base-then-deduct): awarded its points when the work is done, then
/// reduced by its clauses' findings down to its floor; a severe clause passes the floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub code: String,
    pub name: String,
    pub points: Decimal,
    /// Ordinary findings leave at least this much of the part (zero: down to nothing).
    pub floor: Decimal,
}

/// Which date of a case decides the period a record counts in; the record's `occurred` date
/// holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// When it happened (the default).
    Happened,
    /// When its result occurred (a case closed, a sentence took effect).
    Result,
    /// When it was discovered (an inspection found it).
    Discovered,
}

impl Attribution {
    pub fn name(self) -> &'static str {
        match self {
            Attribution::Happened => "happened",
            Attribution::Result => "result",
            Attribution::Discovered => "discovered",
        }
    }

    /// What the record's date is called on the pages.
    pub fn date_zh(self) -> &'static str {
        match self {
            Attribution::Happened => "发生日期",
            Attribution::Result => "结果发生日期",
            Attribution::Discovered => "发现日期",
        }
    }

    /// What the record's date is called in English.
    pub fn date_en(self) -> &'static str {
        match self {
            Attribution::Happened => "the date it happened",
            Attribution::Result => "the date its result occurred",
            Attribution::Discovered => "the date it was discovered",
        }
    }
}

/// One row of the rubric's consequences table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consequence {
    pub label: String,
    pub rule: ConsequenceRule,
}

/// When a consequence applies to a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsequenceRule {
    /// Money per point of the total, for every station or one kind of station.
    Money {
        per_point: Decimal,
        group: Option<StationKind>,
    },
    /// A total below this.
    Below { below: Decimal },
    /// A place among the first `places` (equal totals share the better place).
    Top { places: u32 },
    /// The last place (not when every station shares the first).
    Last,
}

#[derive(Debug, Clone)]
pub struct Department {
    pub name: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Count,
    PerPerson,
    PerDay,
}

#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub label: String,
    pub unit: Unit,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub points: Decimal,
    pub bonus: bool,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub code: String,
    pub name: String,
    pub points: Decimal,
    pub departments: Vec<String>,
    pub standard: String,
    pub deduction_text: String,
    pub bonus: bool,
    /// Deductions (or a bonus item's awards) stop at the item's full marks (扣完为止); when
    /// false they count in full, beyond them.
    pub capped: bool,
    /// The item's own scale: its clauses deduct (or award) on it, and it counts towards the
    /// total as `points × score / full_marks` (a weighted indicator). Equal to `points` unless
    /// the rubric states `full_marks`.
    pub full_marks: Decimal,
    /// Sub-parts (base-then-deduct), summing to the full marks; every clause names one when
    /// there are any.
    pub parts: Vec<Part>,
    pub clauses: Vec<Clause>,
}

impl Item {
    /// The points an item's standing total counts for on its own scale: at most its full
    /// marks when capped.
    pub fn applied(&self, raw: Decimal) -> Decimal {
        match self.capped {
            true => raw.min(self.full_marks),
            false => raw,
        }
    }

    /// How much more may count under the item when `used` already does (`None`: no limit).
    pub fn room(&self, used: Decimal) -> Option<Decimal> {
        self.capped
            .then(|| (self.full_marks - used).max(Decimal::ZERO))
    }

    /// Whether the item is scored on a scale of its own (its full marks differ from the points
    /// it counts for in the total).
    pub fn weighted(&self) -> bool {
        self.full_marks != self.points
    }

    /// What `applied` points on the item's own scale count for in the total: `applied ×
    /// points / full_marks`, kept to 6 places (half away from zero, as computed points are).
    pub fn counts(&self, applied: Decimal) -> Decimal {
        if !self.weighted() {
            return applied;
        }
        let weighted = applied * self.points / self.full_marks;
        crate::base::decimal::canonical(
            weighted
                .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
        )
    }
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub code: String,
    pub text: String,
    pub rule: Rule,
    /// Counts once per station and period: a second standing record is refused.
    pub once: bool,
    /// Clauses that exclude this one for a station (symmetric: each lists the other).
    pub excludes: Vec<String>,
    /// Clauses a station must have a standing record under before this one.
    pub requires: Vec<String>,
    /// The last day an occurred date may fall on.
    pub deadline: Option<Date>,
    /// The item's sub-part the clause deducts from (an index into `Item::parts`).
    pub part: Option<usize>,
    /// A severe case: its deductions pass the sub-part's floor.
    pub severe: bool,
    /// Which date of a case the record's occurred date holds.
    pub attribution: Attribution,
}

impl Clause {
    /// Whether records under this clause are counted per station (for `max_count`, `once`,
    /// or because another clause excludes or requires it: see `Rubric::counted`).
    pub fn has_conditions(&self) -> bool {
        self.once || !self.excludes.is_empty() || !self.requires.is_empty()
    }
}

/// A threshold, the same for every station kind or one per kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Threshold {
    All(Decimal),
    ByKind { town: Decimal, subdistrict: Decimal },
}

impl Threshold {
    pub fn for_kind(&self, kind: StationKind) -> Decimal {
        match (self, kind) {
            (Threshold::All(t), _) => *t,
            (Threshold::ByKind { town, .. }, StationKind::Town) => *town,
            (Threshold::ByKind { subdistrict, .. }, StationKind::Subdistrict) => *subdistrict,
        }
    }
}

/// The points of a threshold clause: fixed, or the assessor's choice within a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    Fixed(Decimal),
    Range { min: Decimal, max: Decimal },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Below,
    Above,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Ceil,
    Floor,
    Exact,
}

impl Direction {
    /// The name the rubric file gives it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Direction::Below => "below",
            Direction::Above => "above",
        }
    }
}

impl Rounding {
    /// The name the rubric file gives it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Rounding::Ceil => "ceil",
            Rounding::Floor => "floor",
            Rounding::Exact => "exact",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub from: u32,
    pub to: u32,
    pub points: Decimal,
}

/// One grade of a graded clause: the assessor places the station in it and gives a score
/// within `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    pub grade: String,
    pub from: Decimal,
    pub to: Decimal,
    /// The grade's description (its wording in the rubric).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualifier {
    pub metric: String,
    pub at_least: Decimal,
}

/// A clause's rule kind with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Fixed {
        points: Decimal,
    },
    PerUnit {
        points: Decimal,
        max_count: Option<u32>,
    },
    Range {
        min: Decimal,
        max: Decimal,
    },
    Below {
        metric: String,
        threshold: Threshold,
        amount: Amount,
    },
    AtLeast {
        metric: String,
        threshold: Threshold,
        points: Decimal,
    },
    Shortfall {
        metric: String,
        threshold: Threshold,
        step: Decimal,
        points: Decimal,
        direction: Direction,
        rounding: Rounding,
    },
    Missing {
        required: u32,
        points: Decimal,
    },
    Rank {
        metric: String,
        qualify: Vec<Qualifier>,
        bands: Vec<Band>,
    },
    /// The assessor places the station in a grade and scores it within the grade, out of
    /// `points`; the deduction is `points − score`.
    Graded {
        points: Decimal,
        grades: Vec<Grade>,
    },
}

impl Rule {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Rule::Fixed { .. } => "fixed",
            Rule::PerUnit { .. } => "per_unit",
            Rule::Range { .. } => "range",
            Rule::Below { .. } => "below",
            Rule::AtLeast { .. } => "at_least",
            Rule::Shortfall { .. } => "shortfall",
            Rule::Missing { .. } => "missing",
            Rule::Rank { .. } => "rank",
            Rule::Graded { .. } => "graded",
        }
    }

    /// The metric the rule measures, if any.
    pub fn metric(&self) -> Option<&str> {
        match self {
            Rule::Below { metric, .. }
            | Rule::AtLeast { metric, .. }
            | Rule::Shortfall { metric, .. }
            | Rule::Rank { metric, .. } => Some(metric),
            _ => None,
        }
    }

    /// Every metric the rule reads (a rank's qualifiers too).
    pub fn metrics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.metric().into_iter().collect();
        if let Rule::Rank { qualify, .. } = self {
            out.extend(qualify.iter().map(|q| q.metric.as_str()));
        }
        out
    }

    /// A one-line statement of the parameters, for people.
    pub fn describe(&self) -> String {
        fn th(t: &Threshold) -> String {
            match t {
                Threshold::All(v) => v.to_string(),
                Threshold::ByKind { town, subdistrict } => {
                    format!("{town} (town) / {subdistrict} (subdistrict)")
                }
            }
        }
        match self {
            Rule::Fixed { points } => format!("{points}"),
            Rule::PerUnit { points, max_count } => match max_count {
                Some(m) => format!("{points} per unit, at most {m} units"),
                None => format!("{points} per unit"),
            },
            Rule::Range { min, max } => format!("{min}–{max} per unit, with a note"),
            Rule::Below {
                metric,
                threshold,
                amount,
            } => match amount {
                Amount::Fixed(p) => format!("{metric} < {} → {p}", th(threshold)),
                Amount::Range { min, max } => {
                    format!("{metric} < {} → {min}–{max}, with a note", th(threshold))
                }
            },
            Rule::AtLeast {
                metric,
                threshold,
                points,
            } => format!("{metric} ≥ {} → {points}", th(threshold)),
            Rule::Shortfall {
                metric,
                threshold,
                step,
                points,
                direction,
                rounding,
            } => {
                let (dir, r) = (direction.name(), rounding.name());
                format!(
                    "{metric} {dir} {}: {points} per step of {step} ({r})",
                    th(threshold)
                )
            }
            Rule::Missing { required, points } => {
                format!("{required} required, {points} per missing")
            }
            Rule::Rank { metric, bands, .. } => {
                let b: Vec<String> = bands
                    .iter()
                    .map(|b| format!("{}–{}: {}", b.from, b.to, b.points))
                    .collect();
                format!("rank by {metric}: {}", b.join(", "))
            }
            Rule::Graded { points, grades } => {
                let g: Vec<String> = grades
                    .iter()
                    .map(|g| format!("{} {}–{}", g.grade, g.from, g.to))
                    .collect();
                format!("graded out of {points}: {}", g.join(", "))
            }
        }
    }
}

/// What a clause's computation needs besides the inputs.
pub struct Context {
    pub station_kind: StationKind,
    /// Units already recorded for this station under this clause (for `max_count`).
    pub prior_count: u32,
}

/// How a recorded figure follows from its inputs, for people and for `explain --json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Working {
    /// The threshold that applied to the station's kind.
    pub threshold: Option<Decimal>,
    /// How far the value missed the threshold (shortfall clauses).
    pub gap: Option<Decimal>,
    /// Steps counted from the gap, after the clause's rounding.
    pub steps: Option<Decimal>,
    /// Units (per-unit and range clauses).
    pub units: Option<u32>,
    /// Required count (missing clauses).
    pub required: Option<u32>,
    /// The grade the score lies in (graded clauses).
    pub grade: Option<String>,
    /// One line: the arithmetic from inputs to points.
    pub text: String,
    /// [`Working::text`] in Chinese, for the pages.
    pub text_zh: String,
}

impl Metric {
    /// `Err(bounds text)` when the value lies outside the metric's bounds.
    pub fn check_bounds(&self, value: Decimal) -> Result<(), String> {
        let low = self.min.is_some_and(|m| value < m);
        let high = self.max.is_some_and(|m| value > m);
        if low || high {
            let lo = self.min.map(|m| m.to_string()).unwrap_or("−∞".into());
            let hi = self.max.map(|m| m.to_string()).unwrap_or("∞".into());
            return Err(format!("{lo}..{hi}"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Lookups.

impl Rubric {
    pub fn item(&self, code: &str) -> Option<&Item> {
        let (c, i) = *self.item_index.get(code)?;
        Some(&self.categories[c].items[i])
    }

    /// The clause and the item it belongs to.
    pub fn clause(&self, code: &str) -> Option<(&Item, &Clause)> {
        let (c, i, k) = *self.clause_index.get(code)?;
        let item = &self.categories[c].items[i];
        Some((item, &item.clauses[k]))
    }

    /// The item at a position (rubric order), in O(1).
    pub fn item_at(&self, position: usize) -> Option<&Item> {
        let &(c, i) = self.item_places.get(position)?;
        self.categories.get(c)?.items.get(i)
    }

    /// An item's place among all items, in rubric order (the order of [`Rubric::items`]).
    pub fn item_position(&self, code: &str) -> Option<usize> {
        self.item_position.get(code).copied()
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The canonical name of a department or alias.
    pub fn department(&self, name: &str) -> Option<&str> {
        self.department_index.get(name.trim()).map(String::as_str)
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.categories.iter().flat_map(|c| c.items.iter())
    }

    pub fn clauses(&self) -> impl Iterator<Item = (&Item, &Clause)> {
        self.items()
            .flat_map(|i| i.clauses.iter().map(move |c| (i, c)))
    }

    /// Whether a station's standing records under `code` are counted (the write path and the
    /// audit keep the count): a clause with a `max_count`, one that counts `once`, and every
    /// clause another excludes or requires.
    pub fn counted(&self, code: &str) -> bool {
        self.counted.contains(code)
    }

    /// The clauses that require `code`.
    pub fn required_by<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Clause> + 'a {
        self.clauses()
            .map(|(_, c)| c)
            .filter(move |c| c.requires.iter().any(|r| r == code))
    }

    /// Departments (canonical) that own an item whose clauses read the metric.
    pub fn metric_departments(&self, metric: &str) -> BTreeSet<&str> {
        self.metric_owners
            .get(metric)
            .map(|owners| owners.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `by` is one of [`Rubric::metric_departments`] of the metric (without building
    /// the set).
    pub fn metric_reported_by(&self, metric: &str, by: &str) -> bool {
        self.metric_owners
            .get(metric)
            .is_some_and(|owners| owners.iter().any(|d| d == by))
    }

    /// The table behind [`Rubric::metric_departments`], from the items and clauses.
    pub(super) fn gather_metric_owners(&self) -> FxHashMap<String, Vec<String>> {
        let mut owners: FxHashMap<String, BTreeSet<&str>> = FxHashMap::default();
        for (item, clause) in self.clauses() {
            for metric in clause.rule.metrics() {
                let set = owners.entry(metric.to_string()).or_default();
                set.extend(item.departments.iter().map(String::as_str));
            }
        }
        owners
            .into_iter()
            .map(|(m, set)| (m, set.into_iter().map(String::from).collect()))
            .collect()
    }
}
