//! Computing a clause's points from the inputs (or saying which input it refuses and why), and
//! the arithmetic shown to people.

use crate::base::decimal::canonical;
use crate::domain::rubric::types::{
    Amount, Clause, Context, Direction, Grade, Rounding, Rubric, Rule, Threshold, Working,
};
use crate::events::event::{Inputs, StationKind};
use rust_decimal::Decimal;

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
    #[error("clause {clause}: score {value} lies in no grade ({grades})")]
    NotInAGrade {
        clause: String,
        value: Decimal,
        grades: String,
    },
    #[error("clause {clause}: score {value} is the full {points}; nothing to deduct")]
    FullScore {
        clause: String,
        value: Decimal,
        points: Decimal,
    },
    #[error("clause {clause} allows at most {max_count} units per station; {already} already recorded, {count} more would make more than {max_count}")]
    CountAboveMax {
        clause: String,
        count: u32,
        already: u32,
        max_count: u32,
    },
}

/// An input field as the pages name it.
pub fn field_zh(field: &str) -> &str {
    match field {
        "value" => "数值",
        "count" => "件数",
        "done" => "已完成数",
        "points" => "分值",
        "note" => "说明",
        "clause" => "条款",
        other => other,
    }
}

/// A rule kind as the pages name it.
pub fn kind_zh(kind: &str) -> &str {
    match kind {
        "fixed" => "固定分值",
        "per_unit" => "按件计分",
        "range" => "幅度内酌定",
        "below" => "低于标准",
        "at_least" => "达到标准",
        "shortfall" => "按差额计分",
        "missing" => "按缺项计分",
        "rank" => "按名次",
        "graded" => "分档评定",
        "town" => "镇",
        "subdistrict" => "街道",
        other => other,
    }
}

impl RuleError {
    /// The message in Chinese, saying what the English one (`Display`) says.
    pub fn zh(&self) -> String {
        use RuleError::*;
        match self {
            RankIsComputed { clause } => {
                format!("条款 {clause} 按名次计分：分值在年终自动计算，不能手工记录")
            }
            MissingInput {
                clause,
                kind,
                field,
            } => format!(
                "条款 {clause}（{}）需要填写“{}”",
                kind_zh(kind),
                field_zh(field)
            ),
            NotApplicable {
                clause,
                kind,
                field,
            } => format!(
                "条款 {clause}（{}）不填“{}”",
                kind_zh(kind),
                field_zh(field)
            ),
            CountZero { clause, field } => {
                format!("“{}”至少为 1（条款 {clause}）", field_zh(field))
            }
            PointsDisagree {
                clause,
                given,
                expected,
                hint,
            } => {
                let per = match *hint {
                    "" => "",
                    h if h.starts_with(" per unit") => "（每件分值；件数另乘）",
                    _ => "（合计分值）",
                };
                format!("条款 {clause}：所填分值 {given} 与考核细则不符，细则规定为 {expected}{per}")
            }
            LessThanAStep {
                clause,
                metric,
                value,
                threshold,
                gap,
                step,
            } => format!(
                "条款 {clause}：{metric} 为 {value}，与标准 {threshold} 相差 {gap}，不足一个计分单位 {step}，本条款只按整单位计分；无需扣分"
            ),
            OncePerEvent {
                clause,
                kind,
                count,
            } => format!(
                "条款 {clause}（{}）每个事件计一次分；请每次情形各记录一条，而不是填件数 {count}",
                kind_zh(kind)
            ),
            PointsOutOfRange {
                clause,
                given,
                min,
                max,
            } => format!("条款 {clause}：分值 {given} 不在 {min}–{max} 的幅度内"),
            StandardMet {
                clause,
                metric,
                value,
                threshold,
                kind,
            } => format!(
                "条款 {clause}：{}司法所已达标准（{metric} 为 {value}，标准 {threshold}）；无需扣分",
                kind_zh(kind)
            ),
            NotEarned {
                clause,
                metric,
                value,
                threshold,
                kind,
            } => format!(
                "条款 {clause}：{}司法所未达到加分条件（{metric} 为 {value}，低于 {threshold}）",
                kind_zh(kind)
            ),
            NothingMissing {
                clause,
                done,
                required,
            } => format!("条款 {clause}：已完成 {done}，达到要求的 {required}；无需扣分"),
            ValueOutOfBounds {
                clause,
                metric,
                value,
                bounds,
            } => format!("条款 {clause}：数值 {value} 超出指标 {metric} 的取值范围（{bounds}）"),
            NotInAGrade {
                clause,
                value,
                grades,
            } => format!("条款 {clause}：得分 {value} 不在任何档次内（{grades}）"),
            FullScore {
                clause,
                value,
                points,
            } => format!("条款 {clause}：得分 {value} 为满分 {points}；无需扣分"),
            CountAboveMax {
                clause,
                count,
                already,
                max_count,
            } => format!(
                "条款 {clause} 每个司法所最多计 {max_count} 件；已记录 {already} 件，再记 {count} 件将超过 {max_count} 件"
            ),
        }
    }

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
            | RuleError::ValueOutOfBounds { .. }
            | RuleError::NotInAGrade { .. }
            | RuleError::FullScore { .. } => "value",
            RuleError::NothingMissing { .. } => "done",
            RuleError::CountAboveMax { .. } => "count",
        }
    }
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
            ctx,
            inputs,
        };
        let points = match &clause.rule {
            Rule::Rank { .. } => {
                return Err(RuleError::RankIsComputed {
                    clause: clause.code.clone(),
                })
            }
            Rule::Fixed { points } => c.fixed(*points)?,
            Rule::PerUnit { points, max_count } => c.per_unit(*points, *max_count)?,
            Rule::Range { min, max } => c.range(*min, *max)?,
            Rule::Below {
                metric,
                threshold,
                amount,
            } => c.below(metric, threshold, amount)?,
            Rule::AtLeast {
                metric,
                threshold,
                points,
            } => c.at_least(metric, threshold, *points)?,
            Rule::Shortfall {
                metric,
                threshold,
                step,
                points,
                direction,
                rounding,
            } => c.shortfall(metric, threshold, *step, *points, *direction, *rounding)?,
            Rule::Missing { required, points } => c.missing_done(*required, *points)?,
            Rule::Graded { points, grades } => c.graded(*points, grades)?,
        };
        Ok(kept(points))
    }

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
                (gap > Decimal::ZERO && steps > Decimal::ZERO).then(|| kept(steps * *points))
            }
            _ => None,
        }
    }
}

/// A figure as it is kept: to MAX_DECIMAL_PLACES (only `exact` rounding of a shortfall can
/// produce more), half away from zero, canonical.
fn kept(points: Decimal) -> Decimal {
    canonical(points.round_dp_with_strategy(
        crate::base::limits::MAX_DECIMAL_PLACES,
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    ))
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

/// One clause checking one set of inputs: a method per rule kind, and the checks they share.
struct Check<'a> {
    rubric: &'a Rubric,
    clause: &'a Clause,
    ctx: &'a Context,
    inputs: &'a Inputs,
}

/// The rule kinds (`rank` is computed at year end, never from inputs).
impl Check<'_> {
    fn fixed(&self, points: Decimal) -> Result<Decimal, RuleError> {
        self.only(&["points", "count", "note"])?;
        self.count_is_one()?;
        self.points_agree(points)?;
        Ok(points)
    }

    fn per_unit(&self, points: Decimal, max_count: Option<u32>) -> Result<Decimal, RuleError> {
        self.only(&["points", "count", "note"])?;
        let count = self.count()?;
        let already = self.ctx.prior_count;
        if let Some(max) = max_count {
            if already.saturating_add(count) > max {
                return Err(RuleError::CountAboveMax {
                    clause: self.clause.code.clone(),
                    count,
                    already,
                    max_count: max,
                });
            }
        }
        self.points_agree(points)?;
        Ok(points * Decimal::from(count))
    }

    fn range(&self, min: Decimal, max: Decimal) -> Result<Decimal, RuleError> {
        self.only(&["points", "count", "note"])?;
        let count = self.count()?;
        Ok(self.chosen_points(min, max)? * Decimal::from(count))
    }

    fn below(
        &self,
        metric: &str,
        threshold: &Threshold,
        amount: &Amount,
    ) -> Result<Decimal, RuleError> {
        self.only(&["value", "points", "note"])?;
        let value = self.value(metric)?;
        let t = threshold.for_kind(self.ctx.station_kind);
        if value >= t {
            return Err(self.standard_met(metric, value, t));
        }
        match amount {
            Amount::Fixed(p) => {
                self.points_agree(*p)?;
                Ok(*p)
            }
            Amount::Range { min, max } => self.chosen_points(*min, *max),
        }
    }

    fn at_least(
        &self,
        metric: &str,
        threshold: &Threshold,
        points: Decimal,
    ) -> Result<Decimal, RuleError> {
        self.only(&["value", "points", "note"])?;
        let value = self.value(metric)?;
        let t = threshold.for_kind(self.ctx.station_kind);
        if value < t {
            return Err(RuleError::NotEarned {
                clause: self.clause.code.clone(),
                metric: metric.to_string(),
                value,
                threshold: t,
                kind: self.ctx.station_kind.as_str(),
            });
        }
        self.points_agree(points)?;
        Ok(points)
    }

    fn shortfall(
        &self,
        metric: &str,
        threshold: &Threshold,
        step: Decimal,
        points: Decimal,
        direction: Direction,
        rounding: Rounding,
    ) -> Result<Decimal, RuleError> {
        self.only(&["value", "points", "note"])?;
        let value = self.value(metric)?;
        let t = threshold.for_kind(self.ctx.station_kind);
        let (gap, steps) = shortfall_steps(direction, rounding, t, value, step);
        if gap <= Decimal::ZERO {
            return Err(self.standard_met(metric, value, t));
        }
        if steps <= Decimal::ZERO {
            return Err(RuleError::LessThanAStep {
                clause: self.clause.code.clone(),
                metric: metric.to_string(),
                value,
                threshold: t,
                gap,
                step,
            });
        }
        let total = canonical(steps * points);
        self.points_agree(total)?;
        Ok(total)
    }

    /// The `graded` kind: the score given (`value`) must lie in a grade; the deduction is what
    /// it falls short of the clause's full score.
    fn graded(&self, points: Decimal, grades: &[Grade]) -> Result<Decimal, RuleError> {
        self.only(&["value", "points", "note"])?;
        let value = canonical(self.inputs.value.ok_or_else(|| self.missing("value"))?);
        if grade_of(grades, value).is_none() {
            return Err(RuleError::NotInAGrade {
                clause: self.clause.code.clone(),
                value,
                grades: grades
                    .iter()
                    .map(|g| format!("{} {}–{}", g.grade, g.from, g.to))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if value >= points {
            return Err(RuleError::FullScore {
                clause: self.clause.code.clone(),
                value,
                points,
            });
        }
        let total = canonical(points - value);
        self.points_agree(total)?;
        Ok(total)
    }

    /// The `missing` kind: points for each required thing not done.
    fn missing_done(&self, required: u32, points: Decimal) -> Result<Decimal, RuleError> {
        self.only(&["done", "points", "note"])?;
        let done = self.inputs.done.ok_or_else(|| self.missing("done"))?;
        if done >= required {
            return Err(RuleError::NothingMissing {
                clause: self.clause.code.clone(),
                done,
                required,
            });
        }
        let total = canonical(points * Decimal::from(required - done));
        self.points_agree(total)?;
        Ok(total)
    }
}

/// The checks the kinds share.
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

    fn standard_met(&self, metric: &str, value: Decimal, t: Decimal) -> RuleError {
        RuleError::StandardMet {
            clause: self.clause.code.clone(),
            metric: metric.to_string(),
            value,
            threshold: t,
            kind: self.ctx.station_kind.as_str(),
        }
    }
}

impl Rule {
    /// Shows how `points` follow from the inputs under this rule (inputs already accepted).
    pub fn working(&self, kind: StationKind, inputs: &Inputs, points: Decimal) -> Working {
        let value = inputs.value.unwrap_or_default();
        let count = inputs.count.unwrap_or(1);
        let mut w = Working {
            text_zh: self.working_zh(kind, inputs, points),
            ..Working::default()
        };
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
                (w.threshold, w.gap, w.steps) = (Some(t), Some(gap), Some(steps));
                let (op, round) = brackets(*rounding);
                let rel = direction.name();
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
            Rule::Graded {
                points: full,
                grades,
            } => match grade_of(grades, value) {
                Some(g) => {
                    w.grade = Some(g.grade.clone());
                    format!(
                        "grade {} ({}–{}: {}): scored {value} of {full} → {points}",
                        g.grade, g.from, g.to, g.text
                    )
                }
                None => format!("scored {value} of {full} → {points}"),
            },
        };
        w
    }
}

impl Rule {
    /// [`Rule::working`]'s arithmetic in Chinese (the figure measured is 数值; the clause's
    /// text says what it measures).
    fn working_zh(&self, kind: StationKind, inputs: &Inputs, points: Decimal) -> String {
        let value = inputs.value.unwrap_or_default();
        let count = inputs.count.unwrap_or(1);
        let k = kind.zh();
        match self {
            Rule::Fixed { points } => format!("固定 {points} 分"),
            Rule::PerUnit { points: p, .. } => format!("{count} 件 × {p} 分 = {points} 分"),
            Rule::Range { min, max } => {
                let chosen = inputs.points.unwrap_or_default();
                format!("酌定每件 {chosen} 分（幅度 {min}–{max}）× {count} 件 = {points} 分")
            }
            Rule::Below {
                threshold, amount, ..
            } => {
                let t = threshold.for_kind(kind);
                let figure = match amount {
                    Amount::Fixed(_) => format!("{points} 分"),
                    Amount::Range { min, max } => format!("酌定 {points} 分（幅度 {min}–{max}）"),
                };
                format!("数值 {value} 低于{k}标准 {t} → {figure}")
            }
            Rule::AtLeast { threshold, .. } => {
                let t = threshold.for_kind(kind);
                format!("数值 {value} 达到{k}标准 {t} → {points} 分")
            }
            Rule::Shortfall {
                threshold,
                step,
                points: per_step,
                direction,
                rounding,
                ..
            } => {
                let t = threshold.for_kind(kind);
                let (gap, steps) = shortfall_steps(*direction, *rounding, t, value, *step);
                let (op, round) = brackets(*rounding);
                let rel = match direction {
                    Direction::Below => "低于",
                    Direction::Above => "高于",
                };
                let how = match rounding {
                    Rounding::Ceil => "不足一个单位按一个计",
                    Rounding::Floor => "不足一个单位不计",
                    Rounding::Exact => "按比例计",
                };
                format!(
                    "数值 {value} {rel}{k}标准 {t} 达 {gap}：{op}{gap} / {step}{round} = {steps} 个单位（{how}）× {per_step} 分 = {points} 分"
                )
            }
            Rule::Missing {
                required,
                points: per,
            } => {
                let done = inputs.done.unwrap_or_default();
                format!(
                    "应完成 {required}，已完成 {done}：缺 {} × {per} 分 = {points} 分",
                    required.saturating_sub(done)
                )
            }
            Rule::Rank { .. } => format!("名次加分 {points} 分"),
            Rule::Graded {
                points: full,
                grades,
            } => match grade_of(grades, value) {
                Some(g) => format!(
                    "评定 {} 档（{}–{} 分，{}）：得 {value} 分，满分 {full} → 扣 {points} 分",
                    g.grade, g.from, g.to, g.text
                ),
                None => format!("得 {value} 分，满分 {full} → 扣 {points} 分"),
            },
        }
    }
}

/// The grade a score lies in.
pub(crate) fn grade_of(grades: &[Grade], value: Decimal) -> Option<&Grade> {
    grades.iter().find(|g| g.from <= value && value <= g.to)
}

/// The brackets around a step count in the working: ⌈ ⌉ for ceil, ⌊ ⌋ for floor, none for exact.
fn brackets(rounding: Rounding) -> (&'static str, &'static str) {
    match rounding {
        Rounding::Ceil => ("⌈", "⌉"),
        Rounding::Floor => ("⌊", "⌋"),
        Rounding::Exact => ("", ""),
    }
}
