//! A checked draft rubric's totals and two rubrics' differences, as text and JSON
//! (`kaohe rubric check`, `kaohe rubric diff`).

use crate::domain::rubric::diff::{Change, Difference};
use crate::ops::rubrics::Draft;
use serde_json::{json, Value};

/// The draft's totals: per category its points, its items' sum and its clauses, then the
/// totals against `base_points` and `bonus_cap`.
pub fn totals_text(d: &Draft) -> String {
    let r = &d.rubric;
    let mut out = format!(
        "{} ({})\nperiod {} to {}; base {}, bonus cap {}; appeal window {} days\n\n",
        r.name,
        r.source,
        r.period_start,
        r.period_end,
        r.base_points,
        r.bonus_cap,
        r.appeal_window_days
    );
    out.push_str("category  points  items  clauses  name\n");
    for c in &r.categories {
        let clauses: usize = c.items.iter().map(|i| i.clauses.len()).sum();
        let kind = if c.bonus { " (bonus)" } else { "" };
        out.push_str(&format!(
            "{:<9} {:>6}  {:>5}  {:>7}  {}{kind}\n",
            c.code,
            c.points,
            c.items.len(),
            clauses,
            c.name
        ));
    }
    let (items, clauses) = (r.items().count(), r.clauses().count());
    out.push_str(&format!(
        "\nvalid: {} categories, {items} items, {clauses} clauses, {} metrics, {} departments; deductions from {}, bonus up to {}\n",
        r.categories.len(),
        r.metrics.len(),
        r.departments.len(),
        r.base_points,
        r.bonus_cap
    ));
    if r.has_sheets() {
        let sheets: Vec<String> = (0..r.sheet_count())
            .map(|s| format!("{} {}", r.sheet_name(s), r.sheet_weight(s).normalize()))
            .collect();
        out.push_str(&format!(
            "scored on {} sheets (period × assessor, each on the whole rubric), weighted: {}\n",
            r.sheet_count(),
            sheets.join(", ")
        ));
    }
    out
}

/// [`totals_text`] for machines: `{"valid": true, "name", "period_start", "period_end",
/// "base_points", "bonus_cap", "categories": [{"code", "name", "points", "bonus", "items",
/// "clauses"}], "items", "clauses", "metrics", "departments"}`.
pub fn totals_json(d: &Draft) -> Value {
    let r = &d.rubric;
    let categories: Vec<Value> = r
        .categories
        .iter()
        .map(|c| {
            json!({"code": c.code, "name": c.name, "points": c.points.to_string(),
                   "bonus": c.bonus, "items": c.items.len(),
                   "clauses": c.items.iter().map(|i| i.clauses.len()).sum::<usize>()})
        })
        .collect();
    json!({
        "valid": true,
        "name": r.name,
        "period_start": r.period_start.to_string(),
        "period_end": r.period_end.to_string(),
        "base_points": r.base_points.to_string(),
        "bonus_cap": r.bonus_cap.to_string(),
        "categories": categories,
        "items": r.items().count(),
        "clauses": r.clauses().count(),
        "metrics": r.metrics.len(),
        "departments": r.departments.len(),
        "sheets": (0..r.sheet_count()).filter(|_| r.has_sheets()).map(|s| {
            let (p, a) = r.sheet_parts(s);
            json!({"period": r.periods[p].code, "assessor": r.assessors[a].code,
                   "weight": r.sheet_weight(s).normalize().to_string()})
        }).collect::<Vec<_>>(),
    })
}

/// A refused draft for machines: `{"valid": false, "errors": [...]}`.
pub fn errors_json(errors: &[String]) -> Value {
    json!({"valid": false, "errors": errors})
}

/// One line per difference: `clause 1.6.c: text: "old" → "new"`, `clause 1.7.b added: …`.
pub fn diff_text(diffs: &[Difference]) -> String {
    if diffs.is_empty() {
        return "no differences\n".into();
    }
    let mut out = String::new();
    for d in diffs {
        let part = match d.code.as_str() {
            "" => d.scope.name().to_string(),
            code => format!("{} {code}", d.scope.name()),
        };
        let with = |sign: char, summary: &str| match summary {
            "" => format!("{sign} {part}"),
            s => format!("{sign} {part}: {s}"),
        };
        let line = match &d.change {
            Change::Added { summary } => with('+', summary),
            Change::Removed { summary } => with('-', summary),
            Change::Changed { field, old, new } => {
                format!("~ {part}: {field}: {old:?} → {new:?}")
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("{} difference(s)\n", diffs.len()));
    out
}

/// [`diff_text`] for machines: `{"differences": [{"scope", "code", "change": "added" |
/// "removed" | "changed", "summary" | "field", "old", "new"}], "count"}`.
pub fn diff_json(diffs: &[Difference]) -> Value {
    let list: Vec<Value> = diffs
        .iter()
        .map(|d| {
            let mut v = json!({"scope": d.scope.name(), "code": d.code});
            match &d.change {
                Change::Added { summary } => {
                    v["change"] = json!("added");
                    v["summary"] = json!(summary);
                }
                Change::Removed { summary } => {
                    v["change"] = json!("removed");
                    v["summary"] = json!(summary);
                }
                Change::Changed { field, old, new } => {
                    v["change"] = json!("changed");
                    v["field"] = json!(field);
                    v["old"] = json!(old);
                    v["new"] = json!(new);
                }
            }
            v
        })
        .collect();
    json!({"differences": list, "count": diffs.len()})
}
