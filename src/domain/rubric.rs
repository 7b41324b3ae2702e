//! The rubric: loading and validating a rubric file, and computing a clause's points.
//!
//! The file format is `schema/RUBRIC.md`. Loading parses into raw TOML structs, then checks
//! every rule and builds the typed [`Rubric`]; a broken file gets an error naming the clause,
//! item or category. The rubric knows nothing of storage.

use crate::base::decimal::{self, canonical};
use crate::events::event::{Inputs, StationKind};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why a rubric file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RubricError {
    #[error("rubric file is not valid: {0}")]
    Toml(String),
    #[error("rubric {place}: {message}")]
    Invalid { place: String, message: String },
}

fn invalid(place: impl Into<String>, message: impl Into<String>) -> RubricError {
    RubricError::Invalid {
        place: place.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The typed rubric.

#[derive(Debug, Clone)]
pub struct Rubric {
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
    /// item code → (category index, item index)
    item_index: BTreeMap<String, (usize, usize)>,
    /// clause code → (category index, item index, clause index)
    clause_index: BTreeMap<String, (usize, usize, usize)>,
    /// item code → its place among all items, in rubric order
    item_position: BTreeMap<String, usize>,
    /// department name or alias → canonical name
    department_index: BTreeMap<String, String>,
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
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub code: String,
    pub text: String,
    pub rule: Rule,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub from: u32,
    pub to: u32,
    pub points: Decimal,
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
                let dir = match direction {
                    Direction::Below => "below",
                    Direction::Above => "above",
                };
                let r = match rounding {
                    Rounding::Ceil => "ceil",
                    Rounding::Floor => "floor",
                    Rounding::Exact => "exact",
                };
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
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Computing points.

/// Why a clause refuses the inputs it was given. `field()` names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("clause {clause} is a rank clause: its points are computed at year end and cannot be recorded by hand")]
    RankIsComputed { clause: String },
    #[error("clause {clause} ({kind}) needs `{field}`")]
    MissingInput {
        clause: String,
        kind: &'static str,
        field: &'static str,
    },
    #[error("clause {clause} ({kind}) does not take `{field}`")]
    NotApplicable {
        clause: String,
        kind: &'static str,
        field: &'static str,
    },
    #[error("`{field}` must be at least 1 (clause {clause})")]
    CountZero { clause: String, field: &'static str },
    #[error(
        "clause {clause}: points {given} disagree with the rubric, which gives {expected}{hint}"
    )]
    PointsDisagree {
        clause: String,
        given: Decimal,
        expected: Decimal,
        /// What `points` means for this kind.
        hint: &'static str,
    },
    #[error("clause {clause}: {metric} {value} misses {threshold} by {gap}, less than one step of {step}, and this clause counts whole steps only; nothing to deduct")]
    LessThanAStep {
        clause: String,
        metric: String,
        value: Decimal,
        threshold: Decimal,
        gap: Decimal,
        step: Decimal,
    },
    #[error("clause {clause} ({kind}) gives its points once per event; record one event per occurrence instead of count {count}")]
    OncePerEvent {
        clause: String,
        kind: &'static str,
        count: u32,
    },
    #[error("clause {clause}: points {given} are outside the range {min}–{max}")]
    PointsOutOfRange {
        clause: String,
        given: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("clause {clause}: the standard is met for a {kind} station ({metric} {value} against threshold {threshold}); nothing to deduct")]
    StandardMet {
        clause: String,
        metric: String,
        value: Decimal,
        threshold: Decimal,
        kind: &'static str,
    },
    #[error("clause {clause}: the bonus is not earned by a {kind} station ({metric} {value} is below {threshold})")]
    NotEarned {
        clause: String,
        metric: String,
        value: Decimal,
        threshold: Decimal,
        kind: &'static str,
    },
    #[error("clause {clause}: done {done} meets the required {required}; nothing to deduct")]
    NothingMissing {
        clause: String,
        done: u32,
        required: u32,
    },
    #[error("clause {clause}: value {value} is outside the bounds of {metric} ({bounds})")]
    ValueOutOfBounds {
        clause: String,
        metric: String,
        value: Decimal,
        bounds: String,
    },
    #[error("clause {clause} allows at most {max_count} units per station; {already} already recorded, {count} more would exceed it")]
    CountAboveMax {
        clause: String,
        count: u32,
        already: u32,
        max_count: u32,
    },
}

impl RuleError {
    /// The input field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            RuleError::RankIsComputed { .. } => "clause",
            RuleError::MissingInput { field, .. }
            | RuleError::NotApplicable { field, .. }
            | RuleError::CountZero { field, .. } => field,
            RuleError::OncePerEvent { .. } => "count",
            RuleError::PointsDisagree { .. } | RuleError::PointsOutOfRange { .. } => "points",
            RuleError::StandardMet { .. }
            | RuleError::LessThanAStep { .. }
            | RuleError::NotEarned { .. }
            | RuleError::ValueOutOfBounds { .. } => "value",
            RuleError::NothingMissing { .. } => "done",
            RuleError::CountAboveMax { .. } => "count",
        }
    }
}

/// What a clause's computation needs besides the inputs.
pub struct Context {
    pub station_kind: StationKind,
    /// Units already recorded for this station under this clause (for `max_count`).
    pub prior_count: u32,
}

impl Rubric {
    /// Computes the points a clause gives for the inputs, or why it refuses them.
    pub fn compute(
        &self,
        clause: &Clause,
        ctx: &Context,
        inputs: &Inputs,
    ) -> Result<Decimal, RuleError> {
        let c = Check {
            rubric: self,
            clause,
            inputs,
        };
        let points = match &clause.rule {
            Rule::Rank { .. } => {
                return Err(RuleError::RankIsComputed {
                    clause: clause.code.clone(),
                })
            }
            Rule::Fixed { points } => {
                c.only(&["points", "count", "note"])?;
                c.count_is_one()?;
                c.points_agree(*points)?;
                *points
            }
            Rule::PerUnit { points, max_count } => {
                c.only(&["points", "count", "note"])?;
                let count = c.count()?;
                if let Some(max) = max_count {
                    if ctx.prior_count.saturating_add(count) > *max {
                        return Err(RuleError::CountAboveMax {
                            clause: clause.code.clone(),
                            count,
                            already: ctx.prior_count,
                            max_count: *max,
                        });
                    }
                }
                c.points_agree(*points)?;
                *points * Decimal::from(count)
            }
            Rule::Range { min, max } => {
                c.only(&["points", "count", "note"])?;
                let count = c.count()?;
                c.chosen_points(*min, *max)? * Decimal::from(count)
            }
            Rule::Below {
                metric,
                threshold,
                amount,
            } => {
                c.only(&["value", "points", "note"])?;
                let value = c.value(metric)?;
                let t = threshold.for_kind(ctx.station_kind);
                if value >= t {
                    return Err(c.standard_met(metric, value, t, ctx));
                }
                match amount {
                    Amount::Fixed(p) => {
                        c.points_agree(*p)?;
                        *p
                    }
                    Amount::Range { min, max } => c.chosen_points(*min, *max)?,
                }
            }
            Rule::AtLeast {
                metric,
                threshold,
                points,
            } => {
                c.only(&["value", "points", "note"])?;
                let value = c.value(metric)?;
                let t = threshold.for_kind(ctx.station_kind);
                if value < t {
                    return Err(RuleError::NotEarned {
                        clause: clause.code.clone(),
                        metric: metric.clone(),
                        value,
                        threshold: t,
                        kind: ctx.station_kind.as_str(),
                    });
                }
                c.points_agree(*points)?;
                *points
            }
            Rule::Shortfall {
                metric,
                threshold,
                step,
                points,
                direction,
                rounding,
            } => {
                c.only(&["value", "points", "note"])?;
                let value = c.value(metric)?;
                let t = threshold.for_kind(ctx.station_kind);
                let (gap, steps) = shortfall_steps(*direction, *rounding, t, value, *step);
                if gap <= Decimal::ZERO {
                    return Err(c.standard_met(metric, value, t, ctx));
                }
                if steps <= Decimal::ZERO {
                    return Err(RuleError::LessThanAStep {
                        clause: clause.code.clone(),
                        metric: metric.clone(),
                        value,
                        threshold: t,
                        gap,
                        step: *step,
                    });
                }
                let total = canonical(steps * *points);
                c.points_agree(total)?;
                total
            }
            Rule::Missing { required, points } => {
                c.only(&["done", "points", "note"])?;
                let done = inputs.done.ok_or_else(|| c.missing("done"))?;
                if done >= *required {
                    return Err(RuleError::NothingMissing {
                        clause: clause.code.clone(),
                        done,
                        required: *required,
                    });
                }
                let total = canonical(*points * Decimal::from(required - done));
                c.points_agree(total)?;
                total
            }
        };
        // Figures are kept to MAX_DECIMAL_PLACES (only `exact` rounding of a shortfall can
        // produce more), half away from zero.
        let points = points.round_dp_with_strategy(
            crate::base::limits::MAX_DECIMAL_PLACES,
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        );
        Ok(canonical(points))
    }
}

impl Rubric {
    /// When a station's figure fails a deduction clause's standard (`below`, `shortfall`): the
    /// points it would deduct (the least, for a range). `None` when the standard is met, or the
    /// clause does not measure a figure.
    pub fn shortfall_points(
        &self,
        clause: &Clause,
        kind: StationKind,
        value: Decimal,
    ) -> Option<Decimal> {
        match &clause.rule {
            Rule::Below {
                threshold, amount, ..
            } => (value < threshold.for_kind(kind)).then_some(match amount {
                Amount::Fixed(p) => *p,
                Amount::Range { min, .. } => *min,
            }),
            Rule::Shortfall {
                threshold,
                step,
                points,
                direction,
                rounding,
                ..
            } => {
                let (gap, steps) = shortfall_steps(
                    *direction,
                    *rounding,
                    threshold.for_kind(kind),
                    value,
                    *step,
                );
                (gap > Decimal::ZERO && steps > Decimal::ZERO).then(|| {
                    canonical((steps * *points).round_dp_with_strategy(
                        crate::base::limits::MAX_DECIMAL_PLACES,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    ))
                })
            }
            _ => None,
        }
    }
}

/// How far a value misses a shortfall threshold, and the steps counted from it after the
/// clause's rounding (both canonical; the gap is ≤ 0 when the standard is met).
fn shortfall_steps(
    direction: Direction,
    rounding: Rounding,
    threshold: Decimal,
    value: Decimal,
    step: Decimal,
) -> (Decimal, Decimal) {
    let gap = match direction {
        Direction::Below => threshold - value,
        Direction::Above => value - threshold,
    };
    let steps = match rounding {
        Rounding::Ceil => (gap / step).ceil(),
        Rounding::Floor => (gap / step).floor(),
        Rounding::Exact => gap / step,
    };
    (canonical(gap), canonical(steps))
}

/// The checks shared by the rule kinds.
struct Check<'a> {
    rubric: &'a Rubric,
    clause: &'a Clause,
    inputs: &'a Inputs,
}

impl Check<'_> {
    fn kind(&self) -> &'static str {
        self.clause.rule.kind_name()
    }

    fn missing(&self, field: &'static str) -> RuleError {
        RuleError::MissingInput {
            clause: self.clause.code.clone(),
            kind: self.kind(),
            field,
        }
    }

    /// Refuses inputs the kind does not take (a silently ignored figure is a wrong score).
    fn only(&self, allowed: &[&str]) -> Result<(), RuleError> {
        let i = self.inputs;
        let given = [
            ("value", i.value.is_some()),
            ("count", i.count.is_some()),
            ("done", i.done.is_some()),
            ("points", i.points.is_some()),
            ("note", i.note.is_some()),
        ];
        for (field, present) in given {
            if present && !allowed.contains(&field) {
                return Err(RuleError::NotApplicable {
                    clause: self.clause.code.clone(),
                    kind: self.kind(),
                    field,
                });
            }
        }
        Ok(())
    }

    fn count(&self) -> Result<u32, RuleError> {
        match self.inputs.count {
            None => Ok(1),
            Some(0) => Err(RuleError::CountZero {
                clause: self.clause.code.clone(),
                field: "count",
            }),
            Some(n) => Ok(n),
        }
    }

    fn count_is_one(&self) -> Result<(), RuleError> {
        match self.count()? {
            1 => Ok(()),
            count => Err(RuleError::OncePerEvent {
                clause: self.clause.code.clone(),
                kind: self.kind(),
                count,
            }),
        }
    }

    fn points_agree(&self, expected: Decimal) -> Result<(), RuleError> {
        match self.inputs.points {
            Some(given) if canonical(given) != canonical(expected) => {
                Err(RuleError::PointsDisagree {
                    clause: self.clause.code.clone(),
                    given,
                    expected: canonical(expected),
                    hint: match self.clause.rule {
                        Rule::PerUnit { .. } => {
                            " per unit (`points` is per unit; `count` multiplies it)"
                        }
                        Rule::Fixed { .. } => "",
                        _ => " in all (`points` is the whole figure the clause gives)",
                    },
                })
            }
            _ => Ok(()),
        }
    }

    /// The assessor's choice within a range, which needs a written justification.
    fn chosen_points(&self, min: Decimal, max: Decimal) -> Result<Decimal, RuleError> {
        let given = self.inputs.points.ok_or_else(|| self.missing("points"))?;
        if given < min || given > max {
            return Err(RuleError::PointsOutOfRange {
                clause: self.clause.code.clone(),
                given,
                min,
                max,
            });
        }
        let has_note = self
            .inputs
            .note
            .as_deref()
            .is_some_and(|n| !n.trim().is_empty());
        if !has_note {
            return Err(self.missing("note"));
        }
        Ok(given)
    }

    fn value(&self, metric: &str) -> Result<Decimal, RuleError> {
        let value = self.inputs.value.ok_or_else(|| self.missing("value"))?;
        if let Some(m) = self.rubric.metric(metric) {
            m.check_bounds(value)
                .map_err(|bounds| RuleError::ValueOutOfBounds {
                    clause: self.clause.code.clone(),
                    metric: metric.to_string(),
                    value,
                    bounds,
                })?;
        }
        Ok(value)
    }

    fn standard_met(&self, metric: &str, value: Decimal, t: Decimal, ctx: &Context) -> RuleError {
        RuleError::StandardMet {
            clause: self.clause.code.clone(),
            metric: metric.to_string(),
            value,
            threshold: t,
            kind: ctx.station_kind.as_str(),
        }
    }
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
    /// One line: the arithmetic from inputs to points.
    pub text: String,
}

impl Rule {
    /// Shows how `points` follow from the inputs under this rule (inputs already accepted).
    pub fn working(&self, kind: StationKind, inputs: &Inputs, points: Decimal) -> Working {
        let value = inputs.value.unwrap_or_default();
        let count = inputs.count.unwrap_or(1);
        let mut w = Working::default();
        w.text = match self {
            Rule::Fixed { points } => format!("fixed {points}"),
            Rule::PerUnit { points: p, .. } => {
                w.units = Some(count);
                format!("{count} × {p} = {points}")
            }
            Rule::Range { min, max } => {
                w.units = Some(count);
                let chosen = inputs.points.unwrap_or_default();
                format!("chosen {chosen} (range {min}–{max}) × {count} = {points}")
            }
            Rule::Below {
                metric,
                threshold,
                amount,
            } => {
                let t = threshold.for_kind(kind);
                w.threshold = Some(t);
                let figure = match amount {
                    Amount::Fixed(_) => points.to_string(),
                    Amount::Range { min, max } => format!("chosen {points} (range {min}–{max})"),
                };
                format!("{metric} {value} < {t} ({}) → {figure}", kind.as_str())
            }
            Rule::AtLeast {
                metric, threshold, ..
            } => {
                let t = threshold.for_kind(kind);
                w.threshold = Some(t);
                format!("{metric} {value} ≥ {t} ({}) → {points}", kind.as_str())
            }
            Rule::Shortfall {
                metric,
                threshold,
                step,
                points: per_step,
                direction,
                rounding,
            } => {
                let t = threshold.for_kind(kind);
                let (gap, steps) = shortfall_steps(*direction, *rounding, t, value, *step);
                let (op, round) = match rounding {
                    Rounding::Ceil => ("⌈", "⌉"),
                    Rounding::Floor => ("⌊", "⌋"),
                    Rounding::Exact => ("", ""),
                };
                w.threshold = Some(t);
                w.gap = Some(gap);
                w.steps = Some(steps);
                let rel = match direction {
                    Direction::Below => "below",
                    Direction::Above => "above",
                };
                format!(
                    "{metric} {value} is {gap} {rel} {t}: {op}{gap} / {step}{round} = {steps} steps × {per_step} = {points}"
                )
            }
            Rule::Missing {
                required,
                points: per,
            } => {
                let done = inputs.done.unwrap_or_default();
                w.required = Some(*required);
                format!(
                    "done {done} of {required}: {} missing × {per} = {points}",
                    required.saturating_sub(done)
                )
            }
            Rule::Rank { .. } => format!("rank bonus {points}"),
        };
        w
    }
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

    /// Departments (canonical) that own an item whose clauses read the metric.
    pub fn metric_departments(&self, metric: &str) -> BTreeSet<&str> {
        self.clauses()
            .filter(|(_, c)| c.rule.metrics().contains(&metric))
            .flat_map(|(i, _)| i.departments.iter().map(String::as_str))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    rubric: RawHeader,
    #[serde(default)]
    department: Vec<RawDepartment>,
    #[serde(default)]
    metric: Vec<RawMetric>,
    #[serde(default)]
    category: Vec<RawCategory>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    source: String,
    period_start: String,
    period_end: String,
    base_points: String,
    bonus_cap: String,
    appeal_window_days: u32,
    #[serde(default)]
    appeal_window_note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: String,
    label: String,
    unit: String,
    min: Option<String>,
    max: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    code: String,
    name: String,
    points: String,
    #[serde(default)]
    bonus: bool,
    #[serde(default)]
    item: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    code: String,
    name: String,
    points: String,
    departments: Vec<String>,
    #[serde(default)]
    standard: String,
    #[serde(default)]
    deduction_text: String,
    #[serde(default)]
    clause: Vec<RawClause>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClause {
    code: String,
    kind: String,
    text: String,
    points: Option<String>,
    max_count: Option<u32>,
    min: Option<String>,
    max: Option<String>,
    metric: Option<String>,
    threshold: Option<String>,
    threshold_town: Option<String>,
    threshold_subdistrict: Option<String>,
    step: Option<String>,
    direction: Option<String>,
    rounding: Option<String>,
    required: Option<u32>,
    ties: Option<String>,
    qualify: Option<Vec<RawQualifier>>,
    bands: Option<Vec<RawBand>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQualifier {
    metric: String,
    at_least: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    from: u32,
    to: u32,
    points: String,
}

/// Parses and validates a rubric file.
pub fn load(text: &str) -> Result<Rubric, RubricError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let near = e
            .span()
            .and_then(|span| nearest_code(text, span.start))
            .map(|code| format!("near {code}: "))
            .unwrap_or_default();
        RubricError::Toml(format!("{near}{e}"))
    })?;
    build(raw)
}

/// The code (`code = "1.6.c"`) of the table that encloses byte `at`, to name the clause, item
/// or category a syntax or type error is in.
fn nearest_code(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at.min(text.len()))?;
    let table = before.rfind("\n[").map_or(0, |i| i + 1);
    let code_in = |part: &str| {
        part.lines().find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("code")?
                .trim()
                .strip_prefix('=')?
                .trim();
            Some(v.trim_matches('"').to_string())
        })
    };
    let kind = if text[table..].starts_with("[[category.item.clause]]") {
        "clause"
    } else if text[table..].starts_with("[[category.item]]") {
        "item"
    } else if text[table..].starts_with("[[category]]") {
        "category"
    } else {
        return None;
    };
    // The table's own code may come after the error, so read the whole table.
    let end = text[table + 1..]
        .find("\n[")
        .map_or(text.len(), |i| table + 1 + i);
    code_in(&text[table..end]).map(|c| format!("{kind} {c}"))
}

fn dec(place: &str, field: &str, text: &str) -> Result<Decimal, RubricError> {
    decimal::parse(text).map_err(|e| invalid(place, format!("`{field}`: {e}")))
}

fn positive(place: &str, field: &str, text: &str) -> Result<Decimal, RubricError> {
    let d = dec(place, field, text)?;
    if d <= Decimal::ZERO {
        return Err(invalid(
            place,
            format!("`{field}` must be positive, not {d}"),
        ));
    }
    Ok(d)
}

fn date(place: &str, field: &str, text: &str) -> Result<Date, RubricError> {
    crate::events::event::date_text::parse_date(text).ok_or_else(|| {
        invalid(
            place,
            format!("`{field}` is not a date YYYY-MM-DD: `{text}`"),
        )
    })
}

fn build(raw: RawFile) -> Result<Rubric, RubricError> {
    let h = &raw.rubric;
    let period_start = date("[rubric]", "period_start", &h.period_start)?;
    let period_end = date("[rubric]", "period_end", &h.period_end)?;
    if period_start > period_end {
        return Err(invalid("[rubric]", "period_start is after period_end"));
    }
    let base_points = positive("[rubric]", "base_points", &h.base_points)?;
    let bonus_cap = dec("[rubric]", "bonus_cap", &h.bonus_cap)?;
    if bonus_cap < Decimal::ZERO {
        return Err(invalid("[rubric]", "bonus_cap must not be negative"));
    }

    let departments = build_departments(&raw.department)?;
    let mut department_index = BTreeMap::new();
    for d in &departments {
        for n in std::iter::once(&d.name).chain(d.aliases.iter()) {
            if department_index.insert(n.clone(), d.name.clone()).is_some() {
                return Err(invalid(format!("department {n}"), "declared twice"));
            }
        }
    }
    let metrics = build_metrics(&raw.metric)?;

    let mut rubric = Rubric {
        name: h.name.clone(),
        source: h.source.clone(),
        period_start,
        period_end,
        base_points,
        bonus_cap,
        appeal_window_days: h.appeal_window_days,
        appeal_window_note: h.appeal_window_note.clone(),
        departments,
        metrics,
        categories: Vec::new(),
        item_index: BTreeMap::new(),
        clause_index: BTreeMap::new(),
        item_position: BTreeMap::new(),
        department_index,
    };
    for rc in &raw.category {
        let category = build_category(&rubric, rc)?;
        rubric.categories.push(category);
    }
    index_and_check(&mut rubric)?;
    Ok(rubric)
}

fn build_departments(raw: &[RawDepartment]) -> Result<Vec<Department>, RubricError> {
    if raw.is_empty() {
        return Err(invalid("[[department]]", "no departments declared"));
    }
    raw.iter()
        .map(|d| {
            if d.name.trim().is_empty() {
                return Err(invalid("[[department]]", "a department has an empty name"));
            }
            Ok(Department {
                name: d.name.clone(),
                aliases: d.aliases.clone(),
            })
        })
        .collect()
}

fn build_metrics(raw: &[RawMetric]) -> Result<Vec<Metric>, RubricError> {
    let mut seen = BTreeSet::new();
    raw.iter()
        .map(|m| {
            let place = format!("metric {}", m.name);
            let ok_name = !m.name.is_empty()
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok_name {
                return Err(invalid(&place, "a metric name is [a-z0-9_]+"));
            }
            if !seen.insert(m.name.clone()) {
                return Err(invalid(&place, "declared twice"));
            }
            let unit = match m.unit.as_str() {
                "percent" => Unit::Percent,
                "count" => Unit::Count,
                "per_person" => Unit::PerPerson,
                "per_day" => Unit::PerDay,
                other => return Err(invalid(&place, format!("unknown unit `{other}`"))),
            };
            let min = m
                .min
                .as_deref()
                .map(|t| dec(&place, "min", t))
                .transpose()?;
            let max = m
                .max
                .as_deref()
                .map(|t| dec(&place, "max", t))
                .transpose()?;
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    return Err(invalid(&place, "min is above max"));
                }
            }
            Ok(Metric {
                name: m.name.clone(),
                label: m.label.clone(),
                unit,
                min,
                max,
            })
        })
        .collect()
}

fn build_category(rubric: &Rubric, rc: &RawCategory) -> Result<Category, RubricError> {
    let place = format!("category {}", rc.code);
    let points = positive(&place, "points", &rc.points)?;
    let mut items = Vec::new();
    for ri in &rc.item {
        let iplace = format!("item {}", ri.code);
        if ri.code.split_once('.').map(|(c, _)| c) != Some(rc.code.as_str()) {
            return Err(invalid(
                &iplace,
                format!("is not inside category {}", rc.code),
            ));
        }
        if ri.departments.is_empty() {
            return Err(invalid(&iplace, "has no department"));
        }
        let mut departments = Vec::new();
        for d in &ri.departments {
            let canonical = rubric
                .department(d)
                .ok_or_else(|| invalid(&iplace, format!("department `{d}` is not declared")))?;
            departments.push(canonical.to_string());
        }
        if ri.clause.is_empty() {
            return Err(invalid(&iplace, "has no clause"));
        }
        let mut clauses = Vec::new();
        for raw in &ri.clause {
            if raw.code.rsplit_once('.').map(|(i, _)| i) != Some(ri.code.as_str()) {
                return Err(invalid(
                    format!("clause {}", raw.code),
                    format!("is not inside item {}", ri.code),
                ));
            }
            clauses.push(build_clause(rubric, rc.bonus, raw)?);
        }
        items.push(Item {
            code: ri.code.clone(),
            name: ri.name.clone(),
            points: positive(&iplace, "points", &ri.points)?,
            departments,
            standard: ri.standard.clone(),
            deduction_text: ri.deduction_text.clone(),
            bonus: rc.bonus,
            clauses,
        });
    }
    if items.is_empty() {
        return Err(invalid(&place, "has no item"));
    }
    let sum: Decimal = items.iter().map(|i| i.points).sum();
    if sum != points {
        return Err(invalid(
            &place,
            format!("items sum to {sum}, but the category has {points} points"),
        ));
    }
    Ok(Category {
        code: rc.code.clone(),
        name: rc.name.clone(),
        points,
        bonus: rc.bonus,
        items,
    })
}

/// The fields a raw clause carries, by name, for the "no others" check.
fn present_fields(r: &RawClause) -> Vec<&'static str> {
    let fields = [
        ("points", r.points.is_some()),
        ("max_count", r.max_count.is_some()),
        ("min", r.min.is_some()),
        ("max", r.max.is_some()),
        ("metric", r.metric.is_some()),
        ("threshold", r.threshold.is_some()),
        ("threshold_town", r.threshold_town.is_some()),
        ("threshold_subdistrict", r.threshold_subdistrict.is_some()),
        ("step", r.step.is_some()),
        ("direction", r.direction.is_some()),
        ("rounding", r.rounding.is_some()),
        ("required", r.required.is_some()),
        ("ties", r.ties.is_some()),
        ("qualify", r.qualify.is_some()),
        ("bands", r.bands.is_some()),
    ];
    fields.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect()
}

fn build_clause(rubric: &Rubric, bonus: bool, r: &RawClause) -> Result<Clause, RubricError> {
    let place = format!("clause {}", r.code);
    let p = place.as_str();
    let need = |field: &str, v: &Option<String>| -> Result<Decimal, RubricError> {
        let t = v
            .as_deref()
            .ok_or_else(|| invalid(p, format!("kind {} needs `{field}`", r.kind)))?;
        positive(p, field, t)
    };
    let metric = || -> Result<String, RubricError> {
        let m = r
            .metric
            .clone()
            .ok_or_else(|| invalid(p, format!("kind {} needs `metric`", r.kind)))?;
        if rubric.metric(&m).is_none() {
            return Err(invalid(p, format!("metric `{m}` is not declared")));
        }
        Ok(m)
    };
    let threshold = |metric: &str| -> Result<Threshold, RubricError> {
        let t = match (&r.threshold, &r.threshold_town, &r.threshold_subdistrict) {
            (Some(t), None, None) => Threshold::All(dec(p, "threshold", t)?),
            (None, Some(t), Some(s)) => Threshold::ByKind {
                town: dec(p, "threshold_town", t)?,
                subdistrict: dec(p, "threshold_subdistrict", s)?,
            },
            _ => return Err(invalid(
                p,
                "needs either `threshold`, or both `threshold_town` and `threshold_subdistrict`",
            )),
        };
        if let Some(m) = rubric.metric(metric) {
            for v in [
                t.for_kind(StationKind::Town),
                t.for_kind(StationKind::Subdistrict),
            ] {
                m.check_bounds(v).map_err(|b| {
                    invalid(p, format!("threshold {v} is outside {metric}'s bounds {b}"))
                })?;
            }
        }
        Ok(t)
    };
    let range = || -> Result<(Decimal, Decimal), RubricError> {
        let (min, max) = (need("min", &r.min)?, need("max", &r.max)?);
        if min > max {
            return Err(invalid(p, format!("min {min} is above max {max}")));
        }
        Ok((min, max))
    };
    let th_fields: &[&str] = if r.threshold.is_some() {
        &["threshold"]
    } else {
        &["threshold_town", "threshold_subdistrict"]
    };
    let (rule, allowed): (Rule, Vec<&str>) = match r.kind.as_str() {
        "fixed" => (
            Rule::Fixed {
                points: need("points", &r.points)?,
            },
            vec!["points"],
        ),
        "per_unit" => {
            if r.max_count == Some(0) {
                return Err(invalid(p, "max_count must be at least 1"));
            }
            (
                Rule::PerUnit {
                    points: need("points", &r.points)?,
                    max_count: r.max_count,
                },
                vec!["points", "max_count"],
            )
        }
        "range" => {
            let (min, max) = range()?;
            (Rule::Range { min, max }, vec!["min", "max"])
        }
        "below" => {
            let m = metric()?;
            let threshold = threshold(&m)?;
            let (amount, mut f) = if r.points.is_some() {
                (Amount::Fixed(need("points", &r.points)?), vec!["points"])
            } else {
                let (min, max) = range()?;
                (Amount::Range { min, max }, vec!["min", "max"])
            };
            f.push("metric");
            f.extend_from_slice(th_fields);
            (
                Rule::Below {
                    metric: m,
                    threshold,
                    amount,
                },
                f,
            )
        }
        "at_least" => {
            let m = metric()?;
            let threshold = threshold(&m)?;
            let mut f = vec!["metric", "points"];
            f.extend_from_slice(th_fields);
            (
                Rule::AtLeast {
                    metric: m,
                    threshold,
                    points: need("points", &r.points)?,
                },
                f,
            )
        }
        "shortfall" => {
            let m = metric()?;
            let threshold = threshold(&m)?;
            let direction = match r.direction.as_deref() {
                Some("below") => Direction::Below,
                Some("above") => Direction::Above,
                other => {
                    return Err(invalid(
                        p,
                        format!(
                            "`direction` must be below or above, not `{}`",
                            other.unwrap_or("")
                        ),
                    ))
                }
            };
            let rounding = match r.rounding.as_deref() {
                Some("ceil") => Rounding::Ceil,
                Some("floor") => Rounding::Floor,
                Some("exact") => Rounding::Exact,
                other => {
                    return Err(invalid(
                        p,
                        format!(
                            "`rounding` must be ceil, floor or exact, not `{}`",
                            other.unwrap_or("")
                        ),
                    ))
                }
            };
            let mut f = vec!["metric", "step", "points", "direction", "rounding"];
            f.extend_from_slice(th_fields);
            (
                Rule::Shortfall {
                    metric: m,
                    threshold,
                    step: need("step", &r.step)?,
                    points: need("points", &r.points)?,
                    direction,
                    rounding,
                },
                f,
            )
        }
        "missing" => {
            let required = r
                .required
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid(p, "kind missing needs `required` ≥ 1"))?;
            (
                Rule::Missing {
                    required,
                    points: need("points", &r.points)?,
                },
                vec!["required", "points"],
            )
        }
        "rank" => (
            build_rank(rubric, r, p)?,
            vec!["metric", "ties", "qualify", "bands"],
        ),
        other => return Err(invalid(p, format!("unknown kind `{other}`"))),
    };
    for f in present_fields(r) {
        if !allowed.contains(&f) {
            return Err(invalid(p, format!("kind {} does not take `{f}`", r.kind)));
        }
    }
    let bonus_only = matches!(rule, Rule::Rank { .. } | Rule::AtLeast { .. });
    let deduction_only = matches!(
        rule,
        Rule::Below { .. } | Rule::Shortfall { .. } | Rule::Missing { .. }
    );
    if bonus_only && !bonus {
        return Err(invalid(
            p,
            format!("kind {} belongs in the bonus category", r.kind),
        ));
    }
    if deduction_only && bonus {
        return Err(invalid(p, format!("kind {} cannot give a bonus", r.kind)));
    }
    if r.text.trim().is_empty() {
        return Err(invalid(p, "has no text (the seed's wording)"));
    }
    Ok(Clause {
        code: r.code.clone(),
        text: r.text.clone(),
        rule,
    })
}

fn build_rank(rubric: &Rubric, r: &RawClause, p: &str) -> Result<Rule, RubricError> {
    let metric = r
        .metric
        .clone()
        .ok_or_else(|| invalid(p, "kind rank needs `metric`"))?;
    let declared = |m: &str| {
        rubric
            .metric(m)
            .map(|_| ())
            .ok_or_else(|| invalid(p, format!("metric `{m}` is not declared")))
    };
    declared(&metric)?;
    if r.ties.as_deref() != Some("share_better") {
        return Err(invalid(p, "kind rank needs `ties = \"share_better\"`"));
    }
    let mut qualify = Vec::new();
    for q in r.qualify.as_deref().unwrap_or_default() {
        declared(&q.metric)?;
        qualify.push(Qualifier {
            metric: q.metric.clone(),
            at_least: dec(p, "qualify.at_least", &q.at_least)?,
        });
    }
    let raw_bands = r
        .bands
        .as_deref()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| invalid(p, "kind rank needs `bands`"))?;
    let mut bands: Vec<Band> = Vec::new();
    for b in raw_bands {
        let after = bands.last().map_or(0, |l| l.to);
        if b.from == 0 || b.from > b.to || b.from <= after {
            return Err(invalid(
                p,
                "bands must be ordered, start at 1 or later, and not overlap",
            ));
        }
        bands.push(Band {
            from: b.from,
            to: b.to,
            points: positive(p, "bands.points", &b.points)?,
        });
    }
    Ok(Rule::Rank {
        metric,
        qualify,
        bands,
    })
}

fn index_and_check(rubric: &mut Rubric) -> Result<(), RubricError> {
    let mut codes = BTreeSet::new();
    let (mut base, mut bonus) = (Decimal::ZERO, Decimal::ZERO);
    for (ci, c) in rubric.categories.iter().enumerate() {
        if !codes.insert(c.code.clone()) {
            return Err(invalid(format!("category {}", c.code), "code used twice"));
        }
        if c.bonus {
            bonus += c.points;
        } else {
            base += c.points;
        }
        for (ii, item) in c.items.iter().enumerate() {
            if !codes.insert(item.code.clone()) {
                return Err(invalid(format!("item {}", item.code), "code used twice"));
            }
            rubric.item_index.insert(item.code.clone(), (ci, ii));
            let position = rubric.item_position.len();
            rubric.item_position.insert(item.code.clone(), position);
            for (ki, clause) in item.clauses.iter().enumerate() {
                if !codes.insert(clause.code.clone()) {
                    return Err(invalid(
                        format!("clause {}", clause.code),
                        "code used twice",
                    ));
                }
                rubric
                    .clause_index
                    .insert(clause.code.clone(), (ci, ii, ki));
            }
        }
    }
    if base != rubric.base_points {
        return Err(invalid(
            "categories",
            format!(
                "non-bonus categories sum to {base}, not base_points {}",
                rubric.base_points
            ),
        ));
    }
    if bonus != rubric.bonus_cap {
        return Err(invalid(
            "categories",
            format!(
                "bonus categories sum to {bonus}, not bonus_cap {}",
                rubric.bonus_cap
            ),
        ));
    }
    let used: BTreeSet<&str> = rubric
        .clauses()
        .flat_map(|(_, c)| c.rule.metrics())
        .collect();
    if let Some(m) = rubric
        .metrics
        .iter()
        .find(|m| !used.contains(m.name.as_str()))
    {
        return Err(invalid(
            format!("metric {}", m.name),
            "is declared but no clause uses it",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TINY: &str = r#"
[rubric]
name = "t"
source = "s"
period_start = "2018-01-01"
period_end = "2018-12-31"
base_points = "10"
bonus_cap = "1"
appeal_window_days = 15

[[department]]
name = "A"

[[metric]]
name = "rate"
label = "r"
unit = "percent"
min = "0"
max = "100"

[[category]]
code = "1"
name = "c1"
points = "10"

[[category.item]]
code = "1.1"
name = "i"
points = "10"
departments = ["A"]

[[category.item.clause]]
code = "1.1.a"
kind = "shortfall"
text = "x"
metric = "rate"
threshold = "98"
step = "1"
points = "1"
direction = "below"
rounding = "ceil"

[[category]]
code = "B"
name = "b"
points = "1"
bonus = true

[[category.item]]
code = "B.1"
name = "bi"
points = "1"
departments = ["A"]

[[category.item.clause]]
code = "B.1.a"
kind = "fixed"
text = "y"
points = "1"
"#;

    #[test]
    fn tiny_loads_and_computes() {
        let r = load(TINY).unwrap();
        let (_, c) = r.clause("1.1.a").unwrap();
        let ctx = Context {
            station_kind: StationKind::Town,
            prior_count: 0,
        };
        let inputs = Inputs {
            value: Some(decimal::parse("95.5").unwrap()),
            ..Inputs::default()
        };
        assert_eq!(r.compute(c, &ctx, &inputs).unwrap().to_string(), "3");
    }

    #[test]
    fn broken_sum_names_the_category() {
        let bad = TINY.replace(
            "points = \"10\"\ndepartments",
            "points = \"9\"\ndepartments",
        );
        let err = load(&bad).unwrap_err().to_string();
        assert!(err.contains("category 1"), "{err}");
    }

    #[test]
    fn stray_field_names_the_clause() {
        let bad = TINY.replace("points = \"1\"\n\"#", "points = \"1\"\nstep = \"1\"\n\"#");
        let bad = if bad == TINY {
            TINY.replace(
                "code = \"B.1.a\"\nkind = \"fixed\"",
                "code = \"B.1.a\"\nkind = \"fixed\"\nstep = \"1\"",
            )
        } else {
            bad
        };
        let err = load(&bad).unwrap_err().to_string();
        assert!(err.contains("clause B.1.a"), "{err}");
    }
}
