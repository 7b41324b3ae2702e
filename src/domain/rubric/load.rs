//! Loading a rubric file: parse into raw TOML structs, then check every rule and build the
//! typed [`Rubric`]; a broken file gets an error naming the clause, item or category.

use crate::base::decimal;
use crate::domain::rubric::sheets::{item_slot_count, MAX_SHEETS, MAX_SHEET_SLOTS};
use crate::domain::rubric::types::{
    Amount, Assessor, Attribution, Band, Category, Clause, Consequence, ConsequenceRule,
    Department, Direction, Grade, Item, Metric, Part, Period, Qualifier, Rounding, Rubric, Rule,
    Threshold, Unit, FORMAT_FIRST, FORMAT_STATED,
};
use crate::events::event::StationKind;
use jiff::civil::Date;
use rust_decimal::Decimal;
use rustc_hash::{FxHashMap, FxHashSet};
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
    #[serde(default)]
    consequence: Vec<RawConsequence>,
    #[serde(default)]
    period: Vec<RawPeriod>,
    #[serde(default)]
    assessor: Vec<RawAssessor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriod {
    code: String,
    name: String,
    start: String,
    end: String,
    weight: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssessor {
    code: String,
    name: String,
    weight: String,
    departments: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    code: String,
    name: String,
    points: String,
    floor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrade {
    grade: String,
    from: String,
    to: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsequence {
    kind: String,
    label: String,
    per_point: Option<String>,
    group: Option<String>,
    below: Option<String>,
    places: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    /// 1 (or absent) or 2 (`schema/RUBRIC.md`, *Formats*).
    format: Option<u32>,
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
    /// Whether deductions stop at the item's points: stated in format 2, true in format 1.
    capped: Option<bool>,
    /// The item's own scale (a weighted indicator), when it differs from `points`.
    full_marks: Option<String>,
    /// Sub-parts (base-then-deduct), summing to the full marks.
    #[serde(default)]
    part: Vec<RawPart>,
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
    grades: Option<Vec<RawGrade>>,
    // The conditions any kind may state.
    part: Option<String>,
    severe: Option<bool>,
    attribution: Option<String>,
    once: Option<bool>,
    excludes: Option<Vec<String>>,
    requires: Option<Vec<String>>,
    deadline: Option<String>,
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

/// Parses and validates a rubric file; the first error found when it is refused.
pub fn load(text: &str) -> Result<Rubric, RubricError> {
    check(text).map_err(|mut errors| {
        // `check` never refuses with an empty list (asserted there).
        errors.swap_remove(0)
    })
}

/// Parses and validates a rubric file, finding every error it can: a clause, item or
/// category that is refused is left out and the others are still checked (a total is not
/// checked where a part of it was refused). The errors in file order, never empty.
pub fn check(text: &str) -> Result<Rubric, Vec<RubricError>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let near = e
            .span()
            .and_then(|span| nearest_code(text, span.start))
            .map(|code| format!("near {code}: "))
            .unwrap_or_default();
        vec![RubricError::Toml(format!("{near}{e}"))]
    })?;
    let mut errors = Vec::new();
    match build(raw, &mut errors) {
        Ok(rubric) if errors.is_empty() => Ok(rubric),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    }
}

/// The code (`code = "1.6.c"`) of the table that encloses byte `at`, to name the clause, item
/// or category a syntax or type error is in.
fn nearest_code(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at.min(text.len()))?;
    // An error about a whole table (a missing field) points at its header: that table.
    let table = match text.get(at..).is_some_and(|t| t.starts_with('[')) {
        true => at,
        false => before.rfind("\n[").map_or(0, |i| i + 1),
    };
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
    use crate::events::event::date_text::{parse_date, why_not_a_date};
    parse_date(text).ok_or_else(|| invalid(place, format!("`{field}`: {}", why_not_a_date(text))))
}

/// Builds the rubric; an error of a clause, item or category goes to `errors` and the rest is
/// still built; an error that stops the build (the header, the departments, the metrics) is
/// returned.
fn build(raw: RawFile, errors: &mut Vec<RubricError>) -> Result<Rubric, RubricError> {
    let h = &raw.rubric;
    let format = match h.format {
        None | Some(FORMAT_FIRST) => FORMAT_FIRST,
        Some(FORMAT_STATED) => FORMAT_STATED,
        Some(other) => {
            return Err(invalid(
                "[rubric]",
                format!("`format`: {other} is not a format this kaohe reads ({FORMAT_FIRST} or {FORMAT_STATED})"),
            ))
        }
    };
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
    let mut department_index = FxHashMap::default();
    for d in &departments {
        for n in std::iter::once(&d.name).chain(d.aliases.iter()) {
            if department_index.insert(n.clone(), d.name.clone()).is_some() {
                return Err(invalid(format!("department {n}"), "declared twice"));
            }
        }
    }
    let metrics = build_metrics(&raw.metric)?;

    let mut rubric = Rubric {
        format,
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
        item_index: FxHashMap::default(),
        clause_index: FxHashMap::default(),
        item_position: FxHashMap::default(),
        department_index,
        counted: FxHashSet::default(),
        metric_owners: FxHashMap::default(),
        consequences: build_consequences(&raw.consequence)?,
        periods: Vec::new(),
        assessors: Vec::new(),
        item_slots: Vec::new(),
        slots_per_sheet: 0,
        item_places: Vec::new(),
    };
    rubric.periods = build_periods(&raw.period, period_start, period_end)?;
    rubric.assessors = build_assessors(&rubric, &raw.assessor)?;
    let mut whole = true;
    for rc in &raw.category {
        let before = errors.len();
        match build_category(&rubric, rc, errors) {
            Ok(category) if errors.len() == before => rubric.categories.push(category),
            Ok(_) => whole = false,
            Err(e) => {
                errors.push(e);
                whole = false;
            }
        }
    }
    index(&mut rubric)?;
    layout(&mut rubric)?;
    conditions(&mut rubric, errors);
    rubric.metric_owners = rubric.gather_metric_owners();
    if whole {
        check_totals(&rubric)?;
    }
    Ok(rubric)
}

/// The conditions between clauses: every clause an `excludes` or `requires` names exists and
/// is another; an exclusion holds both ways; and the counted clauses are gathered.
fn conditions(rubric: &mut Rubric, errors: &mut Vec<RubricError>) {
    let mut pairs = Vec::new();
    for (own, c) in rubric.clauses() {
        let place = format!("clause {}", c.code);
        for (field, list) in [("excludes", &c.excludes), ("requires", &c.requires)] {
            for other in list {
                if other == &c.code {
                    errors.push(invalid(
                        &place,
                        format!("`{field}`: names the clause itself"),
                    ));
                } else if let Some((item, _)) = rubric.clause(other) {
                    if item.bonus != own.bonus {
                        errors.push(invalid(
                            &place,
                            format!("`{field}`: `{other}` is a {} and this clause a {}: a bonus and a deduction neither exclude nor require each other", side(item.bonus), side(own.bonus)),
                        ));
                    } else if field == "excludes" {
                        pairs.push((other.clone(), c.code.clone()));
                    }
                } else {
                    errors.push(invalid(
                        &place,
                        format!("`{field}`: clause `{other}` is not in the rubric"),
                    ));
                }
            }
        }
    }
    for (target, excluder) in pairs {
        if let Some(&(ci, ii, ki)) = rubric.clause_index.get(&target) {
            let list = &mut rubric.categories[ci].items[ii].clauses[ki].excludes;
            if !list.contains(&excluder) {
                list.push(excluder);
            }
        }
    }
    // After the exclusions are made mutual: a clause that both excludes and requires another
    // could never be recorded, nor could one that requires itself through others.
    for (_, c) in rubric.clauses() {
        if let Some(both) = c.excludes.iter().find(|x| c.requires.contains(x)) {
            errors.push(invalid(
                format!("clause {}", c.code),
                format!(
                    "`excludes` and `requires` both name `{both}` (an exclusion holds both ways)"
                ),
            ));
        }
        if let Some(cycle) = requires_cycle(rubric, &c.code) {
            errors.push(invalid(
                format!("clause {}", c.code),
                format!(
                    "`requires`: {} requires itself (no record could ever be the first)",
                    cycle.join(" → ")
                ),
            ));
        }
    }
    // After the exclusions are made mutual: each side counts the other's records.
    let mut counted = FxHashSet::default();
    for (_, c) in rubric.clauses() {
        let limited = matches!(
            c.rule,
            Rule::PerUnit {
                max_count: Some(_),
                ..
            }
        );
        // A clause that requires another is counted too, so that the one it requires cannot
        // be removed from under its standing records (`rules::still_required`).
        if limited || c.once || !c.requires.is_empty() {
            counted.insert(c.code.clone());
        }
        counted.extend(c.excludes.iter().cloned());
        counted.extend(c.requires.iter().cloned());
    }
    rubric.counted = counted;
}

fn side(bonus: bool) -> &'static str {
    match bonus {
        true => "bonus",
        false => "deduction",
    }
}

/// The path by which `start` requires itself (`A → B → A`), if it does.
fn requires_cycle(rubric: &Rubric, start: &str) -> Option<Vec<String>> {
    fn walk(rubric: &Rubric, start: &str, at: &str, path: &mut Vec<String>) -> bool {
        let Some((_, c)) = rubric.clause(at) else {
            return false;
        };
        for next in &c.requires {
            if next == start {
                path.push(next.clone());
                return true;
            }
            // Invariant: a path of more clauses than the rubric has repeats one; stop there.
            if path.contains(next) || path.len() > rubric.clause_index.len() {
                continue;
            }
            path.push(next.clone());
            if walk(rubric, start, next, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(rubric, start, start, &mut path).then_some(path)
}

/// The consequences table: each row's kind with exactly the fields it takes.
fn build_consequences(raw: &[RawConsequence]) -> Result<Vec<Consequence>, RubricError> {
    raw.iter()
        .enumerate()
        .map(|(i, c)| {
            let place = format!("consequence {}", i + 1);
            if c.label.trim().is_empty() {
                return Err(invalid(&place, "`label`: is empty"));
            }
            let given = [
                ("per_point", c.per_point.is_some()),
                ("group", c.group.is_some()),
                ("below", c.below.is_some()),
                ("places", c.places.is_some()),
            ];
            let (rule, takes): (ConsequenceRule, &[&str]) = match c.kind.as_str() {
                "money" => {
                    let per_point = c
                        .per_point
                        .as_deref()
                        .ok_or_else(|| invalid(&place, "kind money needs `per_point`"))?;
                    let group = match c.group.as_deref() {
                        None => None,
                        Some(g) => Some(StationKind::parse(g).ok_or_else(|| {
                            invalid(&place, format!("`group`: `{g}` is not town or subdistrict"))
                        })?),
                    };
                    let per_point = positive(&place, "per_point", per_point)?;
                    (
                        ConsequenceRule::Money { per_point, group },
                        &["per_point", "group"],
                    )
                }
                "below" => {
                    let below = c
                        .below
                        .as_deref()
                        .ok_or_else(|| invalid(&place, "kind below needs `below`"))?;
                    let below = dec(&place, "below", below)?;
                    (ConsequenceRule::Below { below }, &["below"])
                }
                "top" => match c.places {
                    Some(places) if places > 0 => (ConsequenceRule::Top { places }, &["places"]),
                    _ => return Err(invalid(&place, "kind top needs `places` of at least 1")),
                },
                "last" => (ConsequenceRule::Last, &[]),
                other => {
                    return Err(invalid(
                        &place,
                        format!("`kind`: unknown kind `{other}` (money, below, top or last)"),
                    ))
                }
            };
            if let Some((f, _)) = given.iter().find(|(f, g)| *g && !takes.contains(f)) {
                return Err(invalid(
                    &place,
                    format!("kind {} does not take `{f}`", c.kind),
                ));
            }
            Ok(Consequence {
                label: c.label.clone(),
                rule,
            })
        })
        .collect()
}

/// A period's or assessor's code: 1 to 16 ASCII letters, digits, '-' or '_'.
fn plain_code(place: &str, code: &str) -> Result<(), RubricError> {
    let fine = (1..=16).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    match fine {
        true => Ok(()),
        false => Err(invalid(
            place,
            format!("`code`: `{code}` must be 1 to 16 ASCII letters, digits, '-' or '_'"),
        )),
    }
}

/// A weight in percent: positive, at most 100.
fn percent(place: &str, text: &str) -> Result<Decimal, RubricError> {
    let w = positive(place, "weight", text)?;
    if w > Decimal::from(100) {
        return Err(invalid(
            place,
            format!("`weight`: {w} is more than 100 (percent)"),
        ));
    }
    Ok(w)
}

/// The weights of a list sum to 100 (percent).
fn hundred(place: &str, weights: impl Iterator<Item = Decimal>) -> Result<(), RubricError> {
    let sum: Decimal = weights.sum();
    match sum == Decimal::from(100) {
        true => Ok(()),
        false => Err(invalid(place, format!("weights sum to {sum}, not 100"))),
    }
}

/// The sub-periods, in order, tiling the period without gap or overlap; one for the whole
/// period when none is stated.
fn build_periods(raw: &[RawPeriod], start: Date, end: Date) -> Result<Vec<Period>, RubricError> {
    if raw.is_empty() {
        return Ok(vec![Period {
            code: "year".into(),
            name: "全年".into(),
            start,
            end,
            weight: Decimal::from(100),
        }]);
    }
    let mut out: Vec<Period> = Vec::new();
    for r in raw {
        let place = format!("period {}", r.code);
        plain_code(&place, &r.code)?;
        if out.iter().any(|p| p.code.eq_ignore_ascii_case(&r.code)) {
            return Err(invalid(
                &place,
                "code used twice (codes differing only in case are the same)",
            ));
        }
        if out.iter().any(|p| p.name == r.name) {
            return Err(invalid(
                &place,
                format!("`name`: `{}` names another period too", r.name),
            ));
        }
        let (s, e) = (
            date(&place, "start", &r.start)?,
            date(&place, "end", &r.end)?,
        );
        let expected = match out.last() {
            None => start,
            Some(prev) => prev
                .end
                .tomorrow()
                .map_err(|e| invalid(&place, e.to_string()))?,
        };
        if s != expected {
            return Err(invalid(
                &place,
                format!("`start`: {s} should be {expected} (the periods follow each other from period_start, without gap or overlap)"),
            ));
        }
        if e < s {
            return Err(invalid(
                &place,
                format!("`end`: {e} is before its start {s}"),
            ));
        }
        out.push(Period {
            code: r.code.clone(),
            name: r.name.clone(),
            start: s,
            end: e,
            weight: percent(&place, &r.weight)?,
        });
    }
    let last = out.last().map(|p| p.end);
    if last != Some(end) {
        return Err(invalid(
            "periods",
            format!(
                "the last period ends {}, not period_end {end}",
                last.map(|d| d.to_string()).unwrap_or_default()
            ),
        ));
    }
    hundred("periods", out.iter().map(|p| p.weight))?;
    Ok(out)
}

/// The assessing bodies, each with its departments (every department in exactly one); one
/// for every department when none is stated.
fn build_assessors(rubric: &Rubric, raw: &[RawAssessor]) -> Result<Vec<Assessor>, RubricError> {
    let all: Vec<String> = rubric.departments.iter().map(|d| d.name.clone()).collect();
    if raw.is_empty() {
        return Ok(vec![Assessor {
            code: "all".into(),
            name: "考核单位".into(),
            weight: Decimal::from(100),
            departments: all,
        }]);
    }
    let mut out: Vec<Assessor> = Vec::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for r in raw {
        let place = format!("assessor {}", r.code);
        plain_code(&place, &r.code)?;
        if out.iter().any(|a| a.code.eq_ignore_ascii_case(&r.code)) {
            return Err(invalid(
                &place,
                "code used twice (codes differing only in case are the same)",
            ));
        }
        if out.iter().any(|a| a.name == r.name) {
            return Err(invalid(
                &place,
                format!("`name`: `{}` names another assessor too", r.name),
            ));
        }
        let mut departments = Vec::new();
        for d in &r.departments {
            let canonical = rubric
                .department(d)
                .ok_or_else(|| invalid(&place, format!("`departments`: `{d}` is not declared")))?;
            if let Some(other) = owner.insert(canonical.to_string(), r.code.clone()) {
                return Err(invalid(
                    &place,
                    format!("`departments`: `{d}` already records for assessor {other}"),
                ));
            }
            departments.push(canonical.to_string());
        }
        if departments.is_empty() {
            return Err(invalid(&place, "`departments`: has none"));
        }
        out.push(Assessor {
            code: r.code.clone(),
            name: r.name.clone(),
            weight: percent(&place, &r.weight)?,
            departments,
        });
    }
    if let Some(d) = all.iter().find(|d| !owner.contains_key(*d)) {
        return Err(invalid(
            format!("department {d}"),
            "records for no assessor (with assessors stated, every department belongs to one)",
        ));
    }
    hundred("assessors", out.iter().map(|a| a.weight))?;
    Ok(out)
}

/// The slots of a sheet (`domain::rubric::sheets`), within the limits; a rank clause needs a
/// single sheet (its places are computed once, at the close).
fn layout(rubric: &mut Rubric) -> Result<(), RubricError> {
    let mut next = 0usize;
    let mut firsts = Vec::new();
    for item in rubric.items() {
        firsts.push(next);
        next += item_slot_count(item);
    }
    if next > MAX_SHEET_SLOTS {
        return Err(invalid(
            "items",
            format!("{next} items and sub-part findings are more than {MAX_SHEET_SLOTS}"),
        ));
    }
    let sheets = rubric.periods.len() * rubric.assessors.len();
    if sheets > MAX_SHEETS {
        return Err(invalid(
            "periods",
            format!(
                "{} periods × {} assessors make {sheets} sheets, more than {MAX_SHEETS}",
                rubric.periods.len(),
                rubric.assessors.len()
            ),
        ));
    }
    if sheets > 1 {
        if let Some((_, c)) = rubric
            .clauses()
            .find(|(_, c)| matches!(c.rule, Rule::Rank { .. }))
        {
            return Err(invalid(
                format!("clause {}", c.code),
                "a rank clause cannot be used with several periods or assessors (its places are computed once, at the close)",
            ));
        }
    }
    rubric.item_slots = firsts;
    rubric.slots_per_sheet = next;
    rubric.item_places = rubric
        .categories
        .iter()
        .enumerate()
        .flat_map(|(c, cat)| (0..cat.items.len()).map(move |i| (c, i)))
        .collect();
    Ok(())
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

/// A category; its items' errors go to `errors` (and then its sum is not checked).
fn build_category(
    rubric: &Rubric,
    rc: &RawCategory,
    errors: &mut Vec<RubricError>,
) -> Result<Category, RubricError> {
    let place = format!("category {}", rc.code);
    let points = positive(&place, "points", &rc.points)?;
    let before = errors.len();
    let mut items = Vec::new();
    for ri in &rc.item {
        match build_item(rubric, rc, ri, errors) {
            Ok(item) => items.push(item),
            Err(e) => errors.push(e),
        }
    }
    if rc.item.is_empty() {
        return Err(invalid(&place, "has no item"));
    }
    if errors.len() > before {
        return Ok(Category {
            code: rc.code.clone(),
            name: rc.name.clone(),
            points,
            bonus: rc.bonus,
            items,
        });
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

/// An item; its clauses' errors go to `errors`.
fn build_item(
    rubric: &Rubric,
    rc: &RawCategory,
    ri: &RawItem,
    errors: &mut Vec<RubricError>,
) -> Result<Item, RubricError> {
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
    let departments = ri
        .departments
        .iter()
        .map(|d| {
            let canonical = rubric
                .department(d)
                .ok_or_else(|| invalid(&iplace, format!("department `{d}` is not declared")))?;
            Ok(canonical.to_string())
        })
        .collect::<Result<Vec<_>, RubricError>>()?;
    if ri.clause.is_empty() {
        return Err(invalid(&iplace, "has no clause"));
    }
    let points = positive(&iplace, "points", &ri.points)?;
    let full_marks = match &ri.full_marks {
        Some(t) => positive(&iplace, "full_marks", t)?,
        None => points,
    };
    let capped = match (rubric.format, ri.capped) {
        (_, Some(c)) => c,
        (FORMAT_FIRST, None) => true,
        (_, None) => {
            return Err(invalid(
                &iplace,
                "`capped`: format 2 states for every item whether deductions stop at its points (capped = true, 扣完为止) or not",
            ))
        }
    };
    let parts = build_parts(&iplace, rc.bonus, full_marks, &ri.part)?;
    if !parts.is_empty() && !capped {
        return Err(invalid(
            &iplace,
            "`capped`: an item with sub-parts stops at its full marks (each sub-part stops at its points); state capped = true",
        ));
    }
    let mut clauses = Vec::new();
    for raw in &ri.clause {
        if raw.code.rsplit_once('.').map(|(i, _)| i) != Some(ri.code.as_str()) {
            errors.push(invalid(
                format!("clause {}", raw.code),
                format!("is not inside item {}", ri.code),
            ));
            continue;
        }
        match build_clause(rubric, rc.bonus, raw).and_then(|c| in_part(c, raw, &parts)) {
            Ok(c) => clauses.push(c),
            Err(e) => errors.push(e),
        }
    }
    Ok(Item {
        code: ri.code.clone(),
        name: ri.name.clone(),
        points,
        departments,
        standard: ri.standard.clone(),
        deduction_text: ri.deduction_text.clone(),
        bonus: rc.bonus,
        capped,
        full_marks,
        parts,
        clauses,
    })
}

/// An item's sub-parts: codes unique, points positive and summing to the item's full marks,
/// each floor below its points; none in the bonus category.
fn build_parts(
    iplace: &str,
    bonus: bool,
    full_marks: Decimal,
    raw: &[RawPart],
) -> Result<Vec<Part>, RubricError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if bonus {
        return Err(invalid(iplace, "`part`: a bonus item has no sub-parts"));
    }
    let mut out: Vec<Part> = Vec::new();
    for r in raw {
        let place = format!("{iplace} part {}", r.code);
        let item = iplace.trim_start_matches("item ");
        if r.code
            .strip_prefix(item)
            .and_then(|s| s.strip_prefix('.'))
            .is_none_or(str::is_empty)
        {
            return Err(invalid(
                &place,
                format!("is not inside item {item} (its code is `{item}.<n>`)"),
            ));
        }
        if out.iter().any(|p| p.code == r.code) {
            return Err(invalid(&place, "code used twice"));
        }
        let points = positive(&place, "points", &r.points)?;
        let floor = match &r.floor {
            None => Decimal::ZERO,
            Some(t) => dec(&place, "floor", t)?,
        };
        if floor < Decimal::ZERO || floor >= points {
            return Err(invalid(
                &place,
                format!("`floor`: {floor} must be at least 0 and below the part's points {points}"),
            ));
        }
        out.push(Part {
            code: r.code.clone(),
            name: r.name.clone(),
            points,
            floor,
        });
    }
    let sum: Decimal = out.iter().map(|p| p.points).sum();
    if sum != full_marks {
        return Err(invalid(
            iplace,
            format!("sub-parts sum to {sum}, not the item's full marks {full_marks}"),
        ));
    }
    Ok(out)
}

/// Places a clause in its item's sub-part: named when the item has sub-parts, not otherwise;
/// `severe` only for a clause in a sub-part.
fn in_part(mut c: Clause, raw: &RawClause, parts: &[Part]) -> Result<Clause, RubricError> {
    let place = format!("clause {}", c.code);
    c.part =
        match (&raw.part, parts.is_empty()) {
            (None, true) => None,
            (Some(p), true) => {
                return Err(invalid(
                    &place,
                    format!("`part`: its item has no sub-part `{p}`"),
                ))
            }
            (None, false) => {
                return Err(invalid(
                    &place,
                    "`part`: its item has sub-parts; name the one it deducts from",
                ))
            }
            (Some(p), false) => Some(parts.iter().position(|x| &x.code == p).ok_or_else(|| {
                invalid(&place, format!("`part`: its item has no sub-part `{p}`"))
            })?),
        };
    c.severe = raw.severe.unwrap_or(false);
    if c.severe && c.part.is_none() {
        return Err(invalid(
            &place,
            "`severe`: only a clause in a sub-part passes a floor",
        ));
    }
    Ok(c)
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
        ("grades", r.grades.is_some()),
    ];
    fields.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect()
}

/// Builds a clause: its kind's builder makes the rule, then the checks every kind shares (no
/// field the kind does not take, bonus kinds only in the bonus category and deduction kinds
/// only outside it, a text).
fn build_clause(rubric: &Rubric, bonus: bool, r: &RawClause) -> Result<Clause, RubricError> {
    let c = RawRule {
        rubric,
        raw: r,
        place: format!("clause {}", r.code),
    };
    let (rule, allowed) = match r.kind.as_str() {
        "fixed" => build_fixed(&c)?,
        "per_unit" => build_per_unit(&c)?,
        "range" => build_range(&c)?,
        "below" => build_below(&c)?,
        "at_least" => build_at_least(&c)?,
        "shortfall" => build_shortfall(&c)?,
        "missing" => build_missing(&c)?,
        "rank" => build_rank(&c)?,
        "graded" => build_graded(&c)?,
        other => {
            return Err(c.invalid(format!(
                "`kind`: unknown kind `{other}` (fixed, per_unit, range, below, at_least, shortfall, missing, rank or graded)"
            )))
        }
    };
    if let Some(f) = present_fields(r).into_iter().find(|f| !allowed.contains(f)) {
        return Err(c.invalid(format!("kind {} does not take `{f}`", r.kind)));
    }
    let bonus_only = matches!(rule, Rule::Rank { .. } | Rule::AtLeast { .. });
    let deduction_only = matches!(
        rule,
        Rule::Below { .. } | Rule::Shortfall { .. } | Rule::Missing { .. } | Rule::Graded { .. }
    );
    if bonus_only && !bonus {
        return Err(c.invalid(format!("kind {} belongs in the bonus category", r.kind)));
    }
    if deduction_only && bonus {
        return Err(c.invalid(format!("kind {} cannot give a bonus", r.kind)));
    }
    if r.text.trim().is_empty() {
        return Err(c.invalid("has no text (the seed's wording)"));
    }
    // Judged on a year-end figure: once per station and period from format 2 on.
    let year_end = matches!(
        rule,
        Rule::Below { .. }
            | Rule::AtLeast { .. }
            | Rule::Shortfall { .. }
            | Rule::Missing { .. }
            | Rule::Graded { .. }
    );
    if matches!(rule, Rule::Graded { .. }) && r.once == Some(false) {
        return Err(c.invalid(
            "`once`: a graded clause places a station in one grade per period and assessor; it cannot say once = false",
        ));
    }
    let attribution = match r.attribution.as_deref() {
        None | Some("happened") => Attribution::Happened,
        Some("result") => Attribution::Result,
        Some("discovered") => Attribution::Discovered,
        Some(other) => {
            return Err(c.invalid(format!(
                "`attribution`: `{other}` is not happened, result or discovered"
            )))
        }
    };
    let deadline = r
        .deadline
        .as_deref()
        .map(|d| date(&c.place, "deadline", d))
        .transpose()?;
    if let Some(d) = deadline {
        if d < rubric.period_start || d > rubric.period_end {
            return Err(c.invalid(format!(
                "`deadline`: {d} is outside the period {} to {}",
                rubric.period_start, rubric.period_end
            )));
        }
    }
    Ok(Clause {
        code: r.code.clone(),
        text: r.text.clone(),
        once: r.once.unwrap_or(year_end && rubric.format >= FORMAT_STATED),
        excludes: r.excludes.clone().unwrap_or_default(),
        requires: r.requires.clone().unwrap_or_default(),
        deadline,
        rule,
        part: None,
        severe: false,
        attribution,
    })
}

/// What a kind's builder makes: the rule, and the fields that kind takes (any other field the
/// clause carries is refused).
type Built = (Rule, Vec<&'static str>);

/// A raw clause on its way to a rule: the readers its kinds share. Every error names the clause.
struct RawRule<'a> {
    rubric: &'a Rubric,
    raw: &'a RawClause,
    /// `clause <code>`.
    place: String,
}

impl RawRule<'_> {
    fn invalid(&self, message: impl Into<String>) -> RubricError {
        invalid(&self.place, message)
    }

    /// A positive figure the kind needs.
    fn need(&self, field: &str, text: Option<&str>) -> Result<Decimal, RubricError> {
        let kind = &self.raw.kind;
        let t = text.ok_or_else(|| self.invalid(format!("kind {kind} needs `{field}`")))?;
        positive(&self.place, field, t)
    }

    /// The declared metric the kind measures.
    fn metric(&self) -> Result<String, RubricError> {
        let kind = &self.raw.kind;
        let m = self
            .raw
            .metric
            .clone()
            .ok_or_else(|| self.invalid(format!("kind {kind} needs `metric`")))?;
        self.declared(&m)?;
        Ok(m)
    }

    fn declared(&self, metric: &str) -> Result<(), RubricError> {
        match self.rubric.metric(metric) {
            Some(_) => Ok(()),
            None => Err(self.invalid(format!("metric `{metric}` is not declared"))),
        }
    }

    /// One threshold, or one per station kind; each within the metric's bounds.
    fn threshold(&self, metric: &str) -> Result<Threshold, RubricError> {
        let (p, r) = (self.place.as_str(), self.raw);
        let t = match (&r.threshold, &r.threshold_town, &r.threshold_subdistrict) {
            (Some(t), None, None) => Threshold::All(dec(p, "threshold", t)?),
            (None, Some(t), Some(s)) => Threshold::ByKind {
                town: dec(p, "threshold_town", t)?,
                subdistrict: dec(p, "threshold_subdistrict", s)?,
            },
            _ => return Err(self.invalid(
                "needs either `threshold`, or both `threshold_town` and `threshold_subdistrict`",
            )),
        };
        if let Some(m) = self.rubric.metric(metric) {
            for v in [
                t.for_kind(StationKind::Town),
                t.for_kind(StationKind::Subdistrict),
            ] {
                m.check_bounds(v).map_err(|b| {
                    self.invalid(format!("threshold {v} is outside {metric}'s bounds {b}"))
                })?;
            }
        }
        Ok(t)
    }

    /// The threshold fields the clause carries (the kinds with a threshold take them).
    fn threshold_fields(&self) -> &'static [&'static str] {
        if self.raw.threshold.is_some() {
            &["threshold"]
        } else {
            &["threshold_town", "threshold_subdistrict"]
        }
    }

    /// `min` and `max`, both positive, in order.
    fn range(&self) -> Result<(Decimal, Decimal), RubricError> {
        let min = self.need("min", self.raw.min.as_deref())?;
        let max = self.need("max", self.raw.max.as_deref())?;
        if min > max {
            return Err(self.invalid(format!("min {min} is above max {max}")));
        }
        Ok((min, max))
    }

    fn direction(&self) -> Result<Direction, RubricError> {
        match self.raw.direction.as_deref() {
            Some("below") => Ok(Direction::Below),
            Some("above") => Ok(Direction::Above),
            other => Err(self.invalid(format!(
                "`direction` must be below or above, not `{}`",
                other.unwrap_or("")
            ))),
        }
    }

    fn rounding(&self) -> Result<Rounding, RubricError> {
        match self.raw.rounding.as_deref() {
            Some("ceil") => Ok(Rounding::Ceil),
            Some("floor") => Ok(Rounding::Floor),
            Some("exact") => Ok(Rounding::Exact),
            other => Err(self.invalid(format!(
                "`rounding` must be ceil, floor or exact, not `{}`",
                other.unwrap_or("")
            ))),
        }
    }
}

// The builders, one per kind. Each reads its fields in a fixed order, so a clause with several
// faults is always refused for the same one.

fn build_fixed(c: &RawRule) -> Result<Built, RubricError> {
    let points = c.need("points", c.raw.points.as_deref())?;
    Ok((Rule::Fixed { points }, vec!["points"]))
}

fn build_per_unit(c: &RawRule) -> Result<Built, RubricError> {
    if c.raw.max_count == Some(0) {
        return Err(c.invalid("max_count must be at least 1"));
    }
    let rule = Rule::PerUnit {
        points: c.need("points", c.raw.points.as_deref())?,
        max_count: c.raw.max_count,
    };
    Ok((rule, vec!["points", "max_count"]))
}

fn build_range(c: &RawRule) -> Result<Built, RubricError> {
    let (min, max) = c.range()?;
    Ok((Rule::Range { min, max }, vec!["min", "max"]))
}

/// `below`: fixed `points`, or a range `min`–`max` for the assessor to choose from.
fn build_below(c: &RawRule) -> Result<Built, RubricError> {
    let metric = c.metric()?;
    let threshold = c.threshold(&metric)?;
    let (amount, mut fields) = match c.raw.points.as_deref() {
        Some(points) => (
            Amount::Fixed(c.need("points", Some(points))?),
            vec!["points"],
        ),
        None => {
            let (min, max) = c.range()?;
            (Amount::Range { min, max }, vec!["min", "max"])
        }
    };
    fields.push("metric");
    fields.extend_from_slice(c.threshold_fields());
    let rule = Rule::Below {
        metric,
        threshold,
        amount,
    };
    Ok((rule, fields))
}

fn build_at_least(c: &RawRule) -> Result<Built, RubricError> {
    let metric = c.metric()?;
    let threshold = c.threshold(&metric)?;
    let points = c.need("points", c.raw.points.as_deref())?;
    let mut fields = vec!["metric", "points"];
    fields.extend_from_slice(c.threshold_fields());
    let rule = Rule::AtLeast {
        metric,
        threshold,
        points,
    };
    Ok((rule, fields))
}

fn build_shortfall(c: &RawRule) -> Result<Built, RubricError> {
    let metric = c.metric()?;
    let threshold = c.threshold(&metric)?;
    let direction = c.direction()?;
    let rounding = c.rounding()?;
    let step = c.need("step", c.raw.step.as_deref())?;
    let points = c.need("points", c.raw.points.as_deref())?;
    let mut fields = vec!["metric", "step", "points", "direction", "rounding"];
    fields.extend_from_slice(c.threshold_fields());
    let rule = Rule::Shortfall {
        metric,
        threshold,
        step,
        points,
        direction,
        rounding,
    };
    Ok((rule, fields))
}

fn build_missing(c: &RawRule) -> Result<Built, RubricError> {
    let required = c
        .raw
        .required
        .filter(|n| *n >= 1)
        .ok_or_else(|| c.invalid("kind missing needs `required` ≥ 1"))?;
    let rule = Rule::Missing {
        required,
        points: c.need("points", c.raw.points.as_deref())?,
    };
    Ok((rule, vec!["required", "points"]))
}

/// `rank`: ties share the better place; bands ordered, from 1 up, not overlapping.
fn build_rank(c: &RawRule) -> Result<Built, RubricError> {
    let metric = c.metric()?;
    if c.raw.ties.as_deref() != Some("share_better") {
        return Err(c.invalid("kind rank needs `ties = \"share_better\"`"));
    }
    let mut qualify = Vec::new();
    for q in c.raw.qualify.as_deref().unwrap_or_default() {
        c.declared(&q.metric)?;
        qualify.push(Qualifier {
            metric: q.metric.clone(),
            at_least: dec(&c.place, "qualify.at_least", &q.at_least)?,
        });
    }
    let raw_bands = c
        .raw
        .bands
        .as_deref()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| c.invalid("kind rank needs `bands`"))?;
    let mut bands: Vec<Band> = Vec::new();
    for b in raw_bands {
        let after = bands.last().map_or(0, |l| l.to);
        if b.from == 0 || b.from > b.to || b.from <= after {
            return Err(c.invalid("bands must be ordered, start at 1 or later, and not overlap"));
        }
        bands.push(Band {
            from: b.from,
            to: b.to,
            points: positive(&c.place, "bands.points", &b.points)?,
        });
    }
    let rule = Rule::Rank {
        metric,
        qualify,
        bands,
    };
    Ok((rule, vec!["metric", "ties", "qualify", "bands"]))
}

/// `graded`: the clause's full score and its grades, each a range of scores within it, not
/// overlapping, with a description.
fn build_graded(c: &RawRule) -> Result<Built, RubricError> {
    let points = c.need("points", c.raw.points.as_deref())?;
    let raw = c
        .raw
        .grades
        .as_deref()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| c.invalid("kind graded needs `grades`"))?;
    let mut grades: Vec<Grade> = Vec::new();
    for g in raw {
        let field = format!("grades.{}", g.grade);
        let from = dec(&c.place, &field, &g.from)?;
        let to = dec(&c.place, &field, &g.to)?;
        if g.grade.trim().is_empty() || g.text.trim().is_empty() {
            return Err(c.invalid("`grades`: every grade needs a `grade` and a `text`"));
        }
        if from < Decimal::ZERO || from > to || to > points {
            return Err(c.invalid(format!(
                "`{field}`: {from}–{to} must run upwards within 0–{points}"
            )));
        }
        if let Some(o) = grades
            .iter()
            .find(|o| o.grade == g.grade || (from <= o.to && o.from <= to))
        {
            return Err(c.invalid(format!(
                "`{field}`: overlaps grade {} ({}–{}) or repeats its name",
                o.grade, o.from, o.to
            )));
        }
        grades.push(Grade {
            grade: g.grade.clone(),
            from,
            to,
            text: g.text.clone(),
        });
    }
    Ok((Rule::Graded { points, grades }, vec!["points", "grades"]))
}

/// Fills the rubric's indexes by code, refusing a code used twice (categories, items and
/// clauses share one namespace).
fn index(rubric: &mut Rubric) -> Result<(), RubricError> {
    let mut codes = BTreeSet::new();
    for (ci, c) in rubric.categories.iter().enumerate() {
        if !codes.insert(c.code.clone()) {
            return Err(invalid(format!("category {}", c.code), "code used twice"));
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
    Ok(())
}

/// The categories add up to the header's totals, and every declared metric is used.
fn check_totals(rubric: &Rubric) -> Result<(), RubricError> {
    let sum = |bonus: bool| -> Decimal {
        rubric
            .categories
            .iter()
            .filter(|c| c.bonus == bonus)
            .map(|c| c.points)
            .sum()
    };
    let (base, bonus) = (sum(false), sum(true));
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
    use crate::domain::rubric::types::Context;
    use crate::events::event::Inputs;

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
