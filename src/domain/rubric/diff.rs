//! What changed between two rubrics, part by part: the header, the departments, the metrics,
//! and every category, item and clause by its code (`kaohe rubric diff A B`). Pure: it reads
//! two loaded rubrics and lists the differences in the order of the newer file, removals of
//! a part after the parts that remain.

use crate::domain::rubric::types::{Category, Clause, Item, Metric, Rubric, Unit};
use std::collections::BTreeMap;

/// The part of a rubric a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Rubric,
    Period,
    Assessor,
    Department,
    Metric,
    Category,
    Item,
    Clause,
    Consequence,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Rubric => "rubric",
            Scope::Period => "period",
            Scope::Assessor => "assessor",
            Scope::Consequence => "consequence",
            Scope::Department => "department",
            Scope::Metric => "metric",
            Scope::Category => "category",
            Scope::Item => "item",
            Scope::Clause => "clause",
        }
    }
}

/// What happened to a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The part is new; `summary` says what it is.
    Added { summary: String },
    /// The part is gone; `summary` says what it was.
    Removed { summary: String },
    /// One field of the part differs.
    Changed {
        field: &'static str,
        old: String,
        new: String,
    },
}

/// One difference: which part (`scope` and `code`, the code or name that identifies it) and
/// what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub scope: Scope,
    pub code: String,
    pub change: Change,
}

/// Every difference from `old` to `new`.
pub fn diff(old: &Rubric, new: &Rubric) -> Vec<Difference> {
    let mut out = Diffs(Vec::new());
    header(&mut out, old, new);
    sheets(&mut out, old, new);
    let dept = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.departments
            .iter()
            .map(|d| (d.name.clone(), vec![("aliases", d.aliases.join(", "))]))
            .collect()
    };
    out.parts(
        Scope::Department,
        &order(new.departments.iter().map(|d| d.name.clone())),
        &order(old.departments.iter().map(|d| d.name.clone())),
        &dept(old),
        &dept(new),
        |_| String::new(),
    );
    let metrics = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.metrics
            .iter()
            .map(|m| (m.name.clone(), metric_fields(m)))
            .collect()
    };
    out.parts(
        Scope::Metric,
        &order(new.metrics.iter().map(|m| m.name.clone())),
        &order(old.metrics.iter().map(|m| m.name.clone())),
        &metrics(old),
        &metrics(new),
        |fields| field(fields, "label"),
    );
    let categories = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.categories
            .iter()
            .map(|c| (c.code.clone(), category_fields(c)))
            .collect()
    };
    out.parts(
        Scope::Category,
        &order(new.categories.iter().map(|c| c.code.clone())),
        &order(old.categories.iter().map(|c| c.code.clone())),
        &categories(old),
        &categories(new),
        |fields| {
            format!(
                "{} ({} points)",
                field(fields, "name"),
                field(fields, "points")
            )
        },
    );
    let items = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.items()
            .map(|i| (i.code.clone(), item_fields(i)))
            .collect()
    };
    out.parts(
        Scope::Item,
        &order(new.items().map(|i| i.code.clone())),
        &order(old.items().map(|i| i.code.clone())),
        &items(old),
        &items(new),
        |fields| {
            format!(
                "{} ({} points)",
                field(fields, "name"),
                field(fields, "points")
            )
        },
    );
    let clauses = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.clauses()
            .map(|(i, c)| (c.code.clone(), clause_fields(i, c)))
            .collect()
    };
    out.parts(
        Scope::Clause,
        &order(new.clauses().map(|(_, c)| c.code.clone())),
        &order(old.clauses().map(|(_, c)| c.code.clone())),
        &clauses(old),
        &clauses(new),
        |fields| {
            format!(
                "{}: {}: {}",
                field(fields, "kind"),
                field(fields, "rule"),
                field(fields, "text")
            )
        },
    );
    consequences(&mut out, old, new);
    out.0
}

/// The periods and the assessors, by code. A single period or assessor (the whole year, every
/// department: what a file that states none has) changes nothing and is left out.
fn sheets(out: &mut Diffs, old: &Rubric, new: &Rubric) {
    fn several<T>(list: &[T]) -> &[T] {
        match list.len() {
            0 | 1 => &[],
            _ => list,
        }
    }
    let periods = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        several(&r.periods)
            .iter()
            .map(|p| {
                let f = vec![
                    ("name", p.name.clone()),
                    ("start", p.start.to_string()),
                    ("end", p.end.to_string()),
                    ("weight", p.weight.to_string()),
                ];
                (p.code.clone(), f)
            })
            .collect()
    };
    out.parts(
        Scope::Period,
        &order(several(&new.periods).iter().map(|p| p.code.clone())),
        &order(several(&old.periods).iter().map(|p| p.code.clone())),
        &periods(old),
        &periods(new),
        |f| {
            format!(
                "{} {} to {}, {}%",
                field(f, "name"),
                field(f, "start"),
                field(f, "end"),
                field(f, "weight")
            )
        },
    );
    let assessors = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        several(&r.assessors)
            .iter()
            .map(|a| {
                let f = vec![
                    ("name", a.name.clone()),
                    ("weight", a.weight.to_string()),
                    ("departments", a.departments.join(", ")),
                ];
                (a.code.clone(), f)
            })
            .collect()
    };
    out.parts(
        Scope::Assessor,
        &order(several(&new.assessors).iter().map(|a| a.code.clone())),
        &order(several(&old.assessors).iter().map(|a| a.code.clone())),
        &assessors(old),
        &assessors(new),
        |f| {
            format!(
                "{} {}%: {}",
                field(f, "name"),
                field(f, "weight"),
                field(f, "departments")
            )
        },
    );
}

/// The consequences table, row by row (a row is named by its place and label).
fn consequences(out: &mut Diffs, old: &Rubric, new: &Rubric) {
    let rows = |r: &Rubric| -> BTreeMap<String, Vec<(&'static str, String)>> {
        r.consequences
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("{} {}", i + 1, c.label),
                    vec![("rule", consequence_rule(&c.rule))],
                )
            })
            .collect()
    };
    let names = |r: &Rubric| {
        order(
            r.consequences
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} {}", i + 1, c.label)),
        )
    };
    out.parts(
        Scope::Consequence,
        &names(new),
        &names(old),
        &rows(old),
        &rows(new),
        |f| field(f, "rule"),
    );
}

fn consequence_rule(rule: &crate::domain::rubric::types::ConsequenceRule) -> String {
    use crate::domain::rubric::types::ConsequenceRule::*;
    match rule {
        Money { per_point, group } => match group {
            Some(g) => format!("money {per_point} per point ({})", g.as_str()),
            None => format!("money {per_point} per point"),
        },
        Below { below } => format!("below {below}"),
        Top { places } => format!("top {places}"),
        Last => "last".into(),
    }
}

struct Diffs(Vec<Difference>);

impl Diffs {
    fn push(&mut self, scope: Scope, code: &str, change: Change) {
        self.0.push(Difference {
            scope,
            code: code.to_string(),
            change,
        });
    }

    /// The parts of one scope: each part of `new` (in its order) added or changed field by
    /// field, then each part only `old` has, removed.
    fn parts(
        &mut self,
        scope: Scope,
        new_order: &[String],
        old_order: &[String],
        old: &BTreeMap<String, Vec<(&'static str, String)>>,
        new: &BTreeMap<String, Vec<(&'static str, String)>>,
        summary: impl Fn(&[(&'static str, String)]) -> String,
    ) {
        for code in new_order {
            let fresh = &new[code];
            match old.get(code) {
                None => self.push(
                    scope,
                    code,
                    Change::Added {
                        summary: summary(fresh),
                    },
                ),
                Some(before) => {
                    for ((field, a), (_, b)) in before.iter().zip(fresh) {
                        if a != b {
                            self.push(
                                scope,
                                code,
                                Change::Changed {
                                    field,
                                    old: a.clone(),
                                    new: b.clone(),
                                },
                            );
                        }
                    }
                }
            }
        }
        for code in old_order.iter().filter(|c| !new.contains_key(*c)) {
            self.push(
                scope,
                code,
                Change::Removed {
                    summary: summary(&old[code]),
                },
            );
        }
    }
}

/// Codes in file order, each once.
fn order(codes: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    codes.filter(|c| seen.insert(c.clone())).collect()
}

fn field(fields: &[(&'static str, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn header(out: &mut Diffs, old: &Rubric, new: &Rubric) {
    let fields = |r: &Rubric| -> Vec<(&'static str, String)> {
        vec![
            ("name", r.name.clone()),
            ("source", r.source.clone()),
            ("period_start", r.period_start.to_string()),
            ("period_end", r.period_end.to_string()),
            ("base_points", r.base_points.to_string()),
            ("bonus_cap", r.bonus_cap.to_string()),
            ("appeal_window_days", r.appeal_window_days.to_string()),
            ("format", r.format.to_string()),
        ]
    };
    for ((field, a), (_, b)) in fields(old).into_iter().zip(fields(new)) {
        if a != b {
            out.push(
                Scope::Rubric,
                "",
                Change::Changed {
                    field,
                    old: a,
                    new: b,
                },
            );
        }
    }
}

fn metric_fields(m: &Metric) -> Vec<(&'static str, String)> {
    let unit = match m.unit {
        Unit::Percent => "percent",
        Unit::Count => "count",
        Unit::PerPerson => "per_person",
        Unit::PerDay => "per_day",
    };
    let bound = |b: Option<rust_decimal::Decimal>| b.map(|d| d.to_string()).unwrap_or_default();
    vec![
        ("label", m.label.clone()),
        ("unit", unit.to_string()),
        ("min", bound(m.min)),
        ("max", bound(m.max)),
    ]
}

fn category_fields(c: &Category) -> Vec<(&'static str, String)> {
    vec![
        ("name", c.name.clone()),
        ("points", c.points.to_string()),
        ("bonus", c.bonus.to_string()),
    ]
}

fn item_fields(i: &Item) -> Vec<(&'static str, String)> {
    let category = i.code.split_once('.').map_or("", |(c, _)| c).to_string();
    let parts: Vec<String> = i
        .parts
        .iter()
        .map(|p| format!("{} {} {} floor {}", p.code, p.name, p.points, p.floor))
        .collect();
    vec![
        ("name", i.name.clone()),
        ("points", i.points.to_string()),
        ("category", category),
        ("departments", i.departments.join(", ")),
        ("standard", i.standard.clone()),
        ("deduction_text", i.deduction_text.clone()),
        ("capped", i.capped.to_string()),
        // Stated only for a weighted indicator (otherwise the item's points).
        (
            "full_marks",
            match i.weighted() {
                true => i.full_marks.to_string(),
                false => String::new(),
            },
        ),
        ("parts", parts.join("; ")),
    ]
}

fn clause_fields(item: &Item, c: &Clause) -> Vec<(&'static str, String)> {
    let grades = match &c.rule {
        crate::domain::rubric::types::Rule::Graded { grades, .. } => grades
            .iter()
            .map(|g| format!("{} {}–{} {}", g.grade, g.from, g.to, g.text))
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    let mut conditions = Vec::new();
    if c.once {
        conditions.push("once".to_string());
    }
    if !c.excludes.is_empty() {
        conditions.push(format!("excludes {}", c.excludes.join(", ")));
    }
    if !c.requires.is_empty() {
        conditions.push(format!("requires {}", c.requires.join(", ")));
    }
    if let Some(d) = c.deadline {
        conditions.push(format!("deadline {d}"));
    }
    if let Some(p) = c.part.and_then(|p| item.parts.get(p)) {
        conditions.push(format!("part {}", p.code));
    }
    if c.severe {
        conditions.push("severe".into());
    }
    conditions.push(format!("attribution {}", c.attribution.name()));
    vec![
        ("kind", c.rule.kind_name().to_string()),
        ("rule", c.rule.describe()),
        ("text", c.text.clone()),
        ("grades", grades),
        ("conditions", conditions.join("; ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rubric::load;

    const RUBRIC: &str = include_str!("../../../schema/rubric-2018.toml");

    #[test]
    fn a_rubric_does_not_differ_from_itself() {
        let r = load(RUBRIC).unwrap();
        assert_eq!(diff(&r, &r), Vec::new());
    }

    #[test]
    fn names_each_changed_field_and_each_added_or_removed_part() {
        let old = load(RUBRIC).unwrap();
        let text = RUBRIC
            .replace("录入不及时扣1分", "录入不及时扣2分")
            .replace("code = \"1.1.b\"", "code = \"1.1.e\"");
        let new = load(&text).unwrap();
        let d = diff(&old, &new);
        assert!(d.contains(&Difference {
            scope: Scope::Clause,
            code: "1.1.e".into(),
            change: Change::Added {
                summary: "fixed: 1: 录入不及时扣2分".into()
            },
        }));
        assert!(d
            .iter()
            .any(|x| x.code == "1.1.b" && matches!(x.change, Change::Removed { .. })));
        assert!(d.iter().any(|x| x.scope == Scope::Item && x.code == "1.1"));
        assert_eq!(d.len(), 3, "{d:?}");
    }
}
