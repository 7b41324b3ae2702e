//! Views: tables for people (Chinese text aligned by display width) and JSON for machines.
//! Every decimal in JSON is a string.

use crate::domain::projection::StationScore;
use crate::domain::rubric::{Rubric, Rule};
use crate::events::event::{Body, EventKind};
use serde_json::{json, Value};
use unicode_width::UnicodeWidthStr;

/// A plain text table whose columns line up for CJK text.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    /// The column widths of the pages already given out ([`Table::page`]); `None` before the
    /// first.
    paged: Option<Vec<usize>>,
}

impl Table {
    pub fn new(header: &[&str], right: &[bool]) -> Self {
        assert_eq!(header.len(), right.len(), "one alignment per column");
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            right: right.to_vec(),
            paged: None,
        }
    }

    /// Rows held and not yet given out.
    pub fn held(&self) -> usize {
        self.rows.len()
    }

    /// The rows held so far, as text, and forgets them, so that a long table streams (`log`):
    /// the first page has the header and rule and is exactly what [`Table::render`] gives;
    /// later pages continue it, their columns never narrower than earlier ones.
    pub fn page(&mut self) -> String {
        let first = self.paged.is_none();
        let paged = self.paged.take();
        let widths = self.widths(paged);
        let rows = std::mem::take(&mut self.rows);
        let text = self.lines(&widths, first, &rows);
        self.paged = Some(widths);
        text
    }

    /// The widths of the columns: at least `from` (a page's), the header's and the rows'.
    fn widths(&self, from: Option<Vec<usize>>) -> Vec<usize> {
        let mut widths = from.unwrap_or_else(|| self.header.iter().map(|h| h.width()).collect());
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.width());
            }
        }
        widths
    }

    /// `rows` as lines, after the header and its rule when `header`.
    fn lines(&self, widths: &[usize], header: bool, rows: &[Vec<String>]) -> String {
        let mut out = String::new();
        if header {
            out.push_str(&self.line(widths, &self.header));
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&self.line(widths, &rule));
        }
        for r in rows {
            out.push_str(&self.line(widths, r));
        }
        out
    }

    /// One line of cells padded to `widths`, without trailing spaces.
    fn line(&self, widths: &[usize], cells: &[String]) -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - c.width());
            if i > 0 {
                s.push_str("  ");
            }
            if self.right[i] {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&pad);
                }
            }
        }
        let mut line = s.trim_end().to_string();
        line.push('\n');
        line
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        self.lines(&self.widths(None), true, &self.rows)
    }
}

/// The previous year a ledger follows, as `init --follows` and `report` print it:
/// `follows ledger ID (2018-01-01 to 2018-12-31), sealed at seq N with hash H`.
pub fn follows_text(p: &crate::events::event::Sealed) -> String {
    format!(
        "follows ledger {} ({} to {}), sealed at seq {} with hash {}",
        hex::encode(p.ledger_id),
        p.period_start,
        p.period_end,
        p.seq,
        hex::encode(p.hash)
    )
}

/// A station's consequences as one cell: `先进；考核奖励 1231.25`.
pub(crate) fn consequences_text(list: &[crate::domain::consequences::Outcome]) -> String {
    list.iter()
        .map(|o| match o.amount {
            Some(a) => format!("{} {a}", o.label),
            None => o.label.clone(),
        })
        .collect::<Vec<_>>()
        .join("；")
}

/// `score` as a table; with the final scores' consequences (by station code), a column of
/// them.
pub fn score_table(
    scores: &[StationScore],
    consequences: &crate::ops::actions::Consequences,
) -> String {
    let with_consequences = !consequences.is_empty();
    let mut header = vec![
        "名次",
        "站点",
        "名称",
        "类型",
        "总分",
        "扣分",
        "加分",
        "封顶说明",
    ];
    let mut right = vec![true, false, false, false, true, true, true, false];
    // A rubric of several sheets: a column per sheet after the total (its weight in the head).
    let sheet_heads: Vec<String> = scores
        .first()
        .map(|s| s.sheets.iter().map(sheet_label).collect())
        .unwrap_or_default();
    for (at, h) in sheet_heads.iter().enumerate() {
        header.insert(5 + at, h.as_str());
        right.insert(5 + at, true);
    }
    if with_consequences {
        header.push("考核结果");
        right.push(false);
    }
    let mut t = Table::new(&header, &right);
    for s in scores {
        let mut notes = Vec::new();
        for i in s.items.iter().filter(|i| i.capped()) {
            if i.bonus {
                notes.push(format!("{} 加分 {}→{}", i.item, i.raw_awarded, i.awarded));
            } else {
                notes.push(format!("{} 扣分 {}→{}", i.item, i.raw_deducted, i.deducted));
            }
        }
        if s.awarded != s.awarded_before_cap {
            notes.push(format!("加分合计 {}→{}", s.awarded_before_cap, s.awarded));
        }
        let mut row = vec![
            s.rank.to_string(),
            s.station.clone(),
            s.name.clone(),
            s.kind.label_zh().to_string(),
            s.total.to_string(),
        ];
        row.extend(s.sheets.iter().map(|x| x.total.to_string()));
        row.extend([
            s.deducted.to_string(),
            s.awarded.to_string(),
            notes.join("; "),
        ]);
        if with_consequences {
            let list = consequences.get(&s.station).map_or(&[][..], Vec::as_slice);
            row.push(consequences_text(list));
        }
        t.row(row);
    }
    if scores.is_empty() {
        return "no stations registered\n".into();
    }
    t.render()
}

/// A sheet's name in a table head: `上半年·区局 20%`.
pub(crate) fn sheet_label(s: &crate::domain::projection::SheetScore) -> String {
    let percent = crate::base::decimal::canonical(s.weight * rust_decimal::Decimal::from(100));
    format!("{}·{} {percent}%", s.period_name, s.assessor_name)
}

/// A decimal written as a JSON string, without an intermediate allocation.
fn text<S: serde::Serializer>(d: &rust_decimal::Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// `score --json`: `{"stations":[…]}`, streamed (40,000 stations × 36 items is a lot of JSON).
#[derive(serde::Serialize)]
pub struct ScoresJson<'a> {
    stations: Vec<StationJson<'a>>,
    view: Value,
    /// The closing event's seq when the view includes it: these are the final scores.
    closed_at_seq: Option<u64>,
}

#[derive(serde::Serialize)]
struct StationJson<'a> {
    station: &'a str,
    name: &'a str,
    kind: &'static str,
    #[serde(serialize_with = "text")]
    total: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    deducted: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    awarded: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    raw_deducted: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    raw_awarded: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    awarded_before_cap: &'a rust_decimal::Decimal,
    rank: u32,
    /// What the final scores mean for the station (empty before the close).
    consequences: Vec<ConsequenceJson<'a>>,
    /// Each sheet's part (an assessor's scoring of a sub-period) when the rubric combines
    /// several; empty otherwise. `total` is Σ weight × the sheets' totals.
    sheets: Vec<SheetJson<'a>>,
    items: Vec<ItemJson<'a>>,
}

#[derive(serde::Serialize)]
pub(crate) struct SheetJson<'a> {
    period: &'a str,
    period_name: &'a str,
    assessor: &'a str,
    assessor_name: &'a str,
    /// The sheet's weight as a fraction of the total (0.2 for 40 % × 50 %).
    #[serde(serialize_with = "text")]
    weight: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    total: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    deducted: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    awarded: &'a rust_decimal::Decimal,
}

/// A station's sheets for JSON.
pub(crate) fn sheets_json<'a>(s: &'a StationScore<'_>) -> Vec<SheetJson<'a>> {
    s.sheets
        .iter()
        .map(|x| SheetJson {
            period: x.period,
            period_name: x.period_name,
            assessor: x.assessor,
            assessor_name: x.assessor_name,
            weight: &x.weight,
            total: &x.total,
            deducted: &x.deducted,
            awarded: &x.awarded,
        })
        .collect()
}

#[derive(serde::Serialize)]
struct ConsequenceJson<'a> {
    label: &'a str,
    /// Money, to the fen, as a decimal string; null for the others.
    amount: Option<String>,
}

#[derive(serde::Serialize)]
struct ItemJson<'a> {
    item: &'a str,
    name: &'a str,
    #[serde(serialize_with = "text")]
    max: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    deducted: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    awarded: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    raw_deducted: &'a rust_decimal::Decimal,
    #[serde(serialize_with = "text")]
    raw_awarded: &'a rust_decimal::Decimal,
    capped: bool,
    /// The points the item counts for in the total (`max` is its own scale).
    #[serde(serialize_with = "text")]
    weight: &'a rust_decimal::Decimal,
    /// The applied figure as it counts in the total.
    #[serde(serialize_with = "text")]
    counts: &'a rust_decimal::Decimal,
}

/// `score --json`.
pub fn score_json<'a>(
    scores: &'a [StationScore<'_>],
    view: &crate::ledger::query::View,
    closed_at_seq: Option<u64>,
    consequences: &'a crate::ops::actions::Consequences,
) -> ScoresJson<'a> {
    let stations = scores
        .iter()
        .map(|s| StationJson {
            station: &s.station,
            name: &s.name,
            kind: s.kind.as_str(),
            total: &s.total,
            deducted: &s.deducted,
            awarded: &s.awarded,
            raw_deducted: &s.raw_deducted,
            raw_awarded: &s.raw_awarded,
            awarded_before_cap: &s.awarded_before_cap,
            rank: s.rank,
            consequences: consequences
                .get(&s.station)
                .into_iter()
                .flatten()
                .map(|o| ConsequenceJson {
                    label: &o.label,
                    amount: o.amount.map(|a| a.to_string()),
                })
                .collect(),
            sheets: sheets_json(s),
            items: s
                .items
                .iter()
                .map(|i| ItemJson {
                    item: i.item,
                    name: i.name,
                    max: &i.max,
                    deducted: &i.deducted,
                    awarded: &i.awarded,
                    raw_deducted: &i.raw_deducted,
                    raw_awarded: &i.raw_awarded,
                    capped: i.capped(),
                    weight: &i.weight,
                    counts: &i.counts,
                })
                .collect(),
        })
        .collect();
    ScoresJson {
        stations,
        view: view_json(view),
        closed_at_seq,
    }
}

/// The signed points of a recorded event: `-3` for a deduction, `+1` for a bonus.
pub fn signed_points(rubric: &Rubric, clause: &str, points: &rust_decimal::Decimal) -> String {
    match rubric.clause(clause) {
        Some((item, _)) if item.bonus => format!("+{points}"),
        _ => format!("-{points}"),
    }
}

/// The cells of a `log` row that depend on the event's kind (empty when it has none).
#[derive(Default)]
struct LogCells {
    station: String,
    what: String,
    points: String,
    occurred: String,
    by: String,
    id: String,
    evidence: String,
}

impl LogCells {
    /// Cells with only the "clause/what" column.
    fn what(what: String) -> Self {
        LogCells {
            what,
            ..LogCells::default()
        }
    }
}

/// One row of `log`.
pub fn log_row(rubric: &Rubric, body: &Body) -> Vec<String> {
    let e = body.v1();
    let c = log_cells(rubric, &e.kind);
    vec![
        e.seq.to_string(),
        body.recorded_at().to_string(),
        e.kind.type_name().to_string(),
        c.station,
        c.what,
        c.points,
        c.occurred,
        c.by,
        c.id,
        c.evidence,
    ]
}

/// The kind's cells of a `log` row; the station events' in [`station_log_cells`].
fn log_cells(rubric: &Rubric, kind: &EventKind) -> LogCells {
    match kind {
        EventKind::LedgerCreated(g) => {
            LogCells::what(format!("rubric {}", &hex::encode(g.rubric_hash)[..16]))
        }
        EventKind::LedgerFollows(f) => LogCells::what(format!(
            "rubric {}; follows {} to {}, sealed at seq {} (head {})",
            &hex::encode(f.created.rubric_hash)[..16],
            f.previous.period_start,
            f.previous.period_end,
            f.previous.seq,
            &hex::encode(f.previous.hash)[..16]
        )),
        EventKind::PeriodClosed(c) => LogCells {
            evidence: c.reason.clone().unwrap_or_default(),
            ..LogCells::what(format!(
                "period closed: {} stations, head {}",
                c.scores.len(),
                &hex::encode(c.head)[..16]
            ))
        },
        EventKind::KeyRegistered(k) => LogCells::what(format!(
            "key {} for {}",
            &hex::encode(k.public_key)[..16],
            k.actor
        )),
        EventKind::KeyRevoked(k) => LogCells::what(format!(
            "key {} revoked: {}",
            &hex::encode(k.public_key)[..16],
            k.reason
        )),
        EventKind::SignaturesRequired => LogCells::what("signatures required".into()),
        EventKind::RootKey(k) => LogCells::what(format!(
            "signatures required; root key {} of {}",
            &hex::encode(k.public_key)[..16],
            k.actor
        )),
        other => station_log_cells(rubric, other),
    }
}

/// The kind's cells of a `log` row for the events about one station.
fn station_log_cells(rubric: &Rubric, kind: &EventKind) -> LogCells {
    match kind {
        EventKind::StationRegistered(s) => LogCells {
            station: s.code.clone(),
            ..LogCells::what(format!("{} ({})", s.name, s.kind.label_zh()))
        },
        EventKind::PointsRecorded(p) => LogCells {
            station: p.station.clone(),
            what: p.clause.clone(),
            points: signed_points(rubric, &p.clause, &p.computed_points),
            occurred: p.occurred.to_string(),
            by: p.by.clone(),
            id: p.id.clone(),
            evidence: p.evidence.join("; "),
        },
        EventKind::MetricReported(m) => LogCells {
            station: m.station.clone(),
            what: format!("{} = {}", m.metric, m.value),
            points: String::new(),
            occurred: m.occurred.to_string(),
            by: m.by.clone(),
            id: m.id.clone(),
            evidence: m.evidence.join("; "),
        },
        EventKind::AppealFiled(a) => LogCells {
            station: a.station.clone(),
            what: format!("appeal against seq {}", a.against),
            by: a.station.clone(),
            id: a.id.clone(),
            evidence: a.evidence.join("; "),
            ..LogCells::default()
        },
        EventKind::AppealDecided(d) => LogCells {
            station: d.station.clone(),
            what: format!(
                "appeal {} {}{}",
                d.appeal,
                d.outcome.as_str(),
                d.outcome
                    .points()
                    .map(|p| format!(": {p} stand"))
                    .unwrap_or_default()
            ),
            by: d.by.clone(),
            evidence: d.evidence.join("; "),
            ..LogCells::default()
        },
        EventKind::RecordReversed(r) => LogCells {
            station: r.station.clone(),
            what: format!("reverses seq {}", r.target),
            by: r.by.clone(),
            id: r.id.clone(),
            evidence: r.evidence.join("; "),
            ..LogCells::default()
        },
        // The kinds about no station, in `log_cells` (listed so that a new kind is placed).
        EventKind::LedgerCreated(_)
        | EventKind::LedgerFollows(_)
        | EventKind::PeriodClosed(_)
        | EventKind::KeyRegistered(_)
        | EventKind::KeyRevoked(_)
        | EventKind::SignaturesRequired
        | EventKind::RootKey(_) => LogCells::default(),
    }
}

pub fn log_table() -> Table {
    Table::new(
        &[
            "seq",
            "recorded_at",
            "type",
            "station",
            "clause/what",
            "points",
            "occurred",
            "by",
            "id",
            "evidence",
        ],
        &[
            true, false, false, false, false, true, false, false, false, false,
        ],
    )
}

/// The rubric in force, for people.
pub fn rubric_text(r: &Rubric, rubric_hash: &str) -> String {
    let mut out = format!(
        "{} ({})\nperiod {} to {}; base {}, bonus cap {}; appeal window {} days\nrubric hash {rubric_hash}\n",
        r.name, r.source, r.period_start, r.period_end, r.base_points, r.bonus_cap, r.appeal_window_days
    );
    if r.has_sheets() {
        out.push_str("scored on several sheets (each scores the whole rubric), weighted:\n");
        for p in &r.periods {
            out.push_str(&format!(
                "  period {} {} {} to {}: {}%\n",
                p.code, p.name, p.start, p.end, p.weight
            ));
        }
        for a in &r.assessors {
            out.push_str(&format!(
                "  assessor {} {}: {}% ({})\n",
                a.code,
                a.name,
                a.weight,
                a.departments.join("、")
            ));
        }
    }
    for c in &r.categories {
        let sign = if c.bonus { "加分" } else { "扣分" };
        out.push_str(&format!(
            "\n{} {} ({} 分, {sign})\n",
            c.code, c.name, c.points
        ));
        for i in &c.items {
            let scale = match i.weighted() {
                true => format!(", scored out of {}", i.full_marks),
                false => String::new(),
            };
            let cap = if i.capped { "" } else { ", not capped" };
            out.push_str(&format!(
                "  {} {} ({} 分{scale}{cap}) — {}\n",
                i.code,
                i.name,
                i.points,
                i.departments.join("、")
            ));
            for p in &i.parts {
                out.push_str(&format!(
                    "    part {} {}: {} 分, floor {}\n",
                    p.code, p.name, p.points, p.floor
                ));
            }
            for cl in &i.clauses {
                out.push_str(&format!(
                    "    {:<6} {:<9} {}{}\n           {}\n",
                    cl.code,
                    cl.rule.kind_name(),
                    cl.rule.describe(),
                    clause_terms(i, cl),
                    cl.text
                ));
                if let Rule::Graded { grades, .. } = &cl.rule {
                    for g in grades {
                        out.push_str(&format!(
                            "           {} {}–{}: {}\n",
                            g.grade, g.from, g.to, g.text
                        ));
                    }
                }
            }
        }
    }
    out
}

/// A clause's conditions after its rule, for people: `; part 1.1.1; severe; counted by the
/// date discovered`.
fn clause_terms(item: &crate::domain::rubric::Item, c: &crate::domain::rubric::Clause) -> String {
    let mut out = String::new();
    if let Some(p) = c.part.and_then(|p| item.parts.get(p)) {
        out.push_str(&format!("; part {}", p.code));
    }
    if c.severe {
        out.push_str("; severe (passes the floor)");
    }
    if c.once {
        out.push_str("; once per station and sheet");
    }
    if !c.excludes.is_empty() {
        out.push_str(&format!("; excludes {}", c.excludes.join(", ")));
    }
    if !c.requires.is_empty() {
        out.push_str(&format!("; requires {}", c.requires.join(", ")));
    }
    if let Some(d) = c.deadline {
        out.push_str(&format!("; by {d}"));
    }
    if c.attribution != crate::domain::rubric::Attribution::Happened {
        out.push_str(&format!("; counted by {}", c.attribution.date_en()));
    }
    out
}

/// The rubric in force, for machines.
pub fn rubric_json(r: &Rubric, rubric_hash: &str) -> Value {
    let categories: Vec<Value> = r
        .categories
        .iter()
        .map(|c| {
            let items: Vec<Value> = c
                .items
                .iter()
                .map(|i| {
                    let clauses: Vec<Value> = i
                        .clauses
                        .iter()
                        .map(|cl| {
                            let grades: Vec<Value> = match &cl.rule {
                                Rule::Graded { grades, .. } => grades
                                    .iter()
                                    .map(|g| json!({"grade": g.grade, "from": g.from.to_string(), "to": g.to.to_string(), "text": g.text}))
                                    .collect(),
                                _ => Vec::new(),
                            };
                            json!({
                                "clause": cl.code,
                                "kind": cl.rule.kind_name(),
                                "rule": cl.rule.describe(),
                                "metrics": cl.rule.metrics(),
                                "text": cl.text,
                                "once": cl.once, "excludes": cl.excludes, "requires": cl.requires,
                                "deadline": cl.deadline.map(|d| d.to_string()),
                                "part": cl.part.and_then(|p| i.parts.get(p)).map(|p| p.code.clone()),
                                "severe": cl.severe,
                                "attribution": cl.attribution.name(),
                                "grades": grades,
                            })
                        })
                        .collect();
                    let parts: Vec<Value> = i
                        .parts
                        .iter()
                        .map(|p| json!({"part": p.code, "name": p.name, "points": p.points.to_string(), "floor": p.floor.to_string()}))
                        .collect();
                    json!({
                        "item": i.code, "name": i.name, "points": i.points.to_string(),
                        "full_marks": i.full_marks.to_string(), "capped": i.capped, "parts": parts,
                        "departments": i.departments, "standard": i.standard,
                        "deduction_text": i.deduction_text, "clauses": clauses,
                    })
                })
                .collect();
            json!({
                "category": c.code, "name": c.name, "points": c.points.to_string(),
                "bonus": c.bonus, "items": items,
            })
        })
        .collect();
    json!({
        "name": r.name, "source": r.source,
        "period_start": r.period_start.to_string(), "period_end": r.period_end.to_string(),
        "base_points": r.base_points.to_string(), "bonus_cap": r.bonus_cap.to_string(),
        "appeal_window_days": r.appeal_window_days, "rubric_hash": rubric_hash,
        "metrics": r.metrics.iter().map(|m| json!({"metric": m.name, "label": m.label})).collect::<Vec<_>>(),
        "periods": r.periods.iter().map(|p| json!({"period": p.code, "name": p.name, "start": p.start.to_string(), "end": p.end.to_string(), "weight": p.weight.to_string()})).collect::<Vec<_>>(),
        "assessors": r.assessors.iter().map(|a| json!({"assessor": a.code, "name": a.name, "weight": a.weight.to_string(), "departments": a.departments})).collect::<Vec<_>>(),
        "categories": categories,
    })
}

/// `explain` for people.
pub fn explain_text(x: &crate::ops::explain::Explanation<'_>, rubric: &Rubric) -> String {
    let s = &x.score;
    let mut out = format!(
        "{} {} ({})  total {} = {} − {} + {}   rank {} of {}\nview: {}\n",
        s.station,
        s.name,
        s.kind.label_zh(),
        s.total,
        rubric.base_points,
        s.deducted,
        s.awarded,
        s.rank,
        x.stations,
        x.view.describe()
    );
    if s.awarded != s.awarded_before_cap {
        out.push_str(&format!(
            "bonus: the items give {}, the total bonus cap of {} keeps {}\n",
            s.awarded_before_cap, rubric.bonus_cap, s.awarded
        ));
    }
    if !s.sheets.is_empty() {
        out.push_str("combined from the sheets (each scores the whole rubric; the figures above are weighted sums):\n");
        for x in &s.sheets {
            out.push_str(&format!(
                "  {} ({}) · {} ({}): weight {}  total {} = {} − {} + {}\n",
                x.period_name,
                x.period,
                x.assessor_name,
                x.assessor,
                x.weight,
                x.total,
                rubric.base_points,
                x.deducted,
                x.awarded
            ));
        }
        let terms: Vec<String> = s
            .sheets
            .iter()
            .map(|x| format!("{} × {}", x.weight, x.total))
            .collect();
        out.push_str(&format!("  total {} = {}\n", s.total, terms.join(" + ")));
    }
    let mut quiet = 0;
    // A single item (as `explain --item` shows) is shown even when nothing was recorded.
    let many = x.items.len() > 1;
    for it in &x.items {
        let events: usize = it.clauses.iter().map(|c| c.events.len()).sum();
        if events == 0 && many {
            quiet += 1;
            continue;
        }
        explain_item_text(&mut out, it, many);
    }
    if quiet > 0 {
        out.push_str(&format!("\n{quiet} other items: nothing recorded\n"));
    }
    if !x.metrics.is_empty() {
        out.push_str("\nreported metrics (the last recorded of each, in view):\n");
        for m in &x.metrics {
            let r = &m.report;
            out.push_str(&format!(
                "  {} = {}  occurred {} by {}  seq {} {}  evidence: {}\n",
                r.metric,
                r.value,
                r.occurred,
                r.by,
                m.seq,
                r.id,
                r.evidence.join("; ")
            ));
        }
    }
    out
}

/// One item in `explain`: its points and its clauses with their records (clauses with none
/// are left out when `many` items are shown).
fn explain_item_text(out: &mut String, it: &crate::ops::explain::ItemStory<'_>, many: bool) {
    let i = &it.score;
    let (what, applied, raw) = if i.bonus {
        ("awarded", i.awarded, i.raw_awarded)
    } else {
        ("deducted", i.deducted, i.raw_deducted)
    };
    let cap = if applied != raw && !it.item.parts.is_empty() {
        format!(
            " (raw {raw}; its sub-parts' points and floors, or the item cap of {}, bit)",
            i.max
        )
    } else if applied != raw {
        format!(" (raw {raw}; the item cap of {} bit)", i.max)
    } else if !it.item.capped && raw > i.max {
        format!(" (beyond the item's {}: not capped)", i.max)
    } else {
        String::new()
    };
    let weighted = match it.item.weighted() {
        true => format!(
            " (a weighted indicator: counts {} of {})",
            i.counts, i.weight
        ),
        false => String::new(),
    };
    out.push_str(&format!(
        "\n{} {} — max {}, {what} {applied}{cap}{weighted} — {}\n",
        i.item,
        i.name,
        i.max,
        it.item.departments.join("、")
    ));
    for c in &it.clauses {
        if c.events.is_empty() && many {
            continue;
        }
        out.push_str(&format!(
            "  {} {}: {}\n      rule: {}\n",
            c.clause.code,
            c.clause.rule.kind_name(),
            c.clause.text,
            c.clause.rule.describe()
        ));
        for e in &c.events {
            explain_event_text(out, e, i.bonus, c.clause.attribution);
        }
    }
}

/// One recorded deduction or bonus in `explain`, under an item with the cap `max`.
fn explain_event_text(
    out: &mut String,
    e: &crate::ops::explain::EventStory,
    bonus: bool,
    attribution: crate::domain::rubric::Attribution,
) {
    let p = &e.record;
    // The date that decides the period: when it happened, unless the clause says otherwise.
    let date = match attribution {
        crate::domain::rubric::Attribution::Happened => "occurred",
        crate::domain::rubric::Attribution::Result => "result occurred",
        crate::domain::rubric::Attribution::Discovered => "discovered",
    };
    let sign = if bonus { "+" } else { "-" };
    let limit = e.limited_by.as_deref().unwrap_or("a limit");
    let applied = if e.applied == e.standing {
        String::new()
    } else if e.applied.is_zero() {
        format!(" (applied 0: {limit} was already reached)")
    } else {
        format!(" (applied {sign}{}: {limit} was reached)", e.applied)
    };
    let stands = if e.standing.is_zero() {
        " (stands at 0)".to_string()
    } else if e.standing != p.computed_points {
        format!(" (stands at {sign}{})", e.standing)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "    seq {}  {}  {sign}{}{stands}{applied}  {}\n",
        e.seq, p.id, p.computed_points, e.working.text
    ));
    if let Some(note) = &p.inputs.note {
        out.push_str(&format!("        note: {note}\n"));
    }
    let sheet = e
        .sheet
        .as_deref()
        .map(|s| format!(", counts on {s}"))
        .unwrap_or_default();
    out.push_str(&format!(
        "        {date} {}{sheet}, recorded {}, assessed by {}\n        evidence: {}\n        hash {}\n",
        p.occurred,
        e.recorded_at,
        p.by,
        p.evidence.join("; "),
        hex::encode(e.hash)
    ));
    for d in &e.disputes {
        out.push_str(&dispute_text(d));
    }
}

/// One appeal, decision or reversal under its record in `explain`.
fn dispute_text(d: &crate::ops::appeals::DisputeStory) -> String {
    let change = format!("{} → {}", d.before, d.after);
    let head = match &d.kind {
        EventKind::AppealFiled(a) => format!(
            "appeal {} filed by {} (seq {}, {}): {}\n          evidence: {}",
            a.id,
            a.station,
            d.seq,
            d.recorded_at,
            a.grounds.replace('\n', " "),
            a.evidence.join("; ")
        ),
        EventKind::AppealDecided(x) => format!(
            "appeal {} decided {} by {} (seq {}, {}): {change}\n          reason: {}\n          evidence: {}",
            x.appeal,
            x.outcome.as_str(),
            x.by,
            d.seq,
            d.recorded_at,
            x.reason.replace('\n', " "),
            x.evidence.join("; ")
        ),
        EventKind::RecordReversed(r) => format!(
            "reversed as {} by {} (seq {}, {}): {change}\n          reason: {}\n          evidence: {}",
            r.id,
            r.by,
            d.seq,
            d.recorded_at,
            r.reason.replace('\n', " "),
            if r.evidence.is_empty() { "(none)".to_string() } else { r.evidence.join("; ") }
        ),
        other => other.type_name().to_string(),
    };
    format!("        ↳ {head}\n          hash {}\n", hex::encode(d.hash))
}

/// One appeal, decision or reversal in `explain --json`.
fn dispute_json(d: &crate::ops::appeals::DisputeStory) -> Value {
    let mut m = crate::ops::export::decoded_kind(&d.kind);
    m.insert("seq".into(), json!(d.seq));
    m.insert("hash".into(), json!(hex::encode(d.hash)));
    m.insert("recorded_at".into(), json!(d.recorded_at.to_string()));
    m.insert("type".into(), json!(d.kind.type_name()));
    m.insert("points_before".into(), json!(d.before.to_string()));
    m.insert("points_after".into(), json!(d.after.to_string()));
    Value::Object(m)
}

/// `explain --json` (shape: `schema/explain.schema.json`).
pub fn explain_json(x: &crate::ops::explain::Explanation<'_>) -> Value {
    let s = &x.score;
    let single = x.items.len() == 1;
    let items: Vec<Value> = x
        .items
        .iter()
        .map(|it| {
            let i = &it.score;
            let clauses: Vec<Value> = it
                .clauses
                .iter()
                .filter(|c| single || !c.events.is_empty())
                .map(|c| {
                    let events: Vec<Value> = c.events.iter().map(|e| event_story_json(e, i.bonus)).collect();
                    json!({
                        "clause": c.clause.code,
                        "kind": c.clause.rule.kind_name(),
                        "text": c.clause.text,
                        "rule": c.clause.rule.describe(),
                        "raw_points": c.raw.to_string(),
                        "events": events,
                    })
                })
                .collect();
            json!({
                "item": i.item, "name": i.name, "max": i.max.to_string(), "bonus": i.bonus,
                "departments": it.item.departments,
                "deducted": i.deducted.to_string(), "awarded": i.awarded.to_string(),
                "raw_deducted": i.raw_deducted.to_string(), "raw_awarded": i.raw_awarded.to_string(),
                "capped": i.capped(), "caps_at_max": it.item.capped,
                "weight": i.weight.to_string(), "counts": i.counts.to_string(),
                "clauses": clauses,
            })
        })
        .collect();
    let metrics: Vec<Value> = x
        .metrics
        .iter()
        .map(|m| {
            let r = &m.report;
            json!({
                "metric": r.metric, "value": r.value.to_string(), "occurred": r.occurred.to_string(),
                "by": r.by, "id": r.id, "seq": m.seq, "hash": hex::encode(m.hash),
                "recorded_at": m.recorded_at.to_string(), "evidence": r.evidence,
            })
        })
        .collect();
    json!({
        "station": s.station, "name": s.name, "kind": s.kind.as_str(),
        "total": s.total.to_string(), "deducted": s.deducted.to_string(),
        "awarded": s.awarded.to_string(), "raw_deducted": s.raw_deducted.to_string(),
        "raw_awarded": s.raw_awarded.to_string(),
        "awarded_before_cap": s.awarded_before_cap.to_string(),
        "rank": s.rank, "stations": x.stations,
        "sheets": serde_json::to_value(sheets_json(s)).unwrap_or_default(),
        "view": view_json(&x.view),
        "items": items,
        "metrics": metrics,
    })
}

/// The view a figure was computed in.
pub fn view_json(v: &crate::ledger::query::View) -> Value {
    json!({
        "as_of_seq": v.last_seq(),
        "known_at": v.query.known_at.map(|t| t.to_string()),
        "at": v.at.map(|d| d.to_string()),
    })
}

fn event_story_json(e: &crate::ops::explain::EventStory, bonus: bool) -> Value {
    let p = &e.record;
    let mut m = serde_json::Map::new();
    m.insert("seq".into(), json!(e.seq));
    m.insert("id".into(), json!(p.id));
    m.insert("hash".into(), json!(hex::encode(e.hash)));
    m.insert("recorded_at".into(), json!(e.recorded_at.to_string()));
    m.insert("occurred".into(), json!(p.occurred.to_string()));
    m.insert("by".into(), json!(p.by));
    let i = &p.inputs;
    let opt = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    m.insert("value".into(), json!(opt(i.value)));
    m.insert("count".into(), json!(i.count));
    m.insert("done".into(), json!(i.done));
    m.insert("points".into(), json!(opt(i.points)));
    m.insert("note".into(), json!(i.note));
    m.insert(
        "computed_points".into(),
        json!(p.computed_points.to_string()),
    );
    m.insert("standing_points".into(), json!(e.standing.to_string()));
    m.insert("applied_points".into(), json!(e.applied.to_string()));
    m.insert("limited_by".into(), json!(e.limited_by));
    m.insert("limited_by_zh".into(), json!(e.limited_by_zh));
    m.insert("sheet".into(), json!(e.sheet));
    m.insert(
        "direction".into(),
        json!(if bonus { "bonus" } else { "deduction" }),
    );
    let w = &e.working;
    m.insert("threshold".into(), json!(opt(w.threshold)));
    m.insert("gap".into(), json!(opt(w.gap)));
    m.insert("steps".into(), json!(opt(w.steps)));
    m.insert("required".into(), json!(w.required));
    m.insert("grade".into(), json!(w.grade));
    m.insert("working".into(), json!(w.text));
    m.insert("working_zh".into(), json!(w.text_zh));
    m.insert("evidence".into(), json!(p.evidence));
    m.insert(
        "history".into(),
        Value::Array(e.disputes.iter().map(dispute_json).collect()),
    );
    Value::Object(m)
}

/// `appeal list` as a table.
pub fn appeals_table(entries: &[crate::ops::appeals::AppealEntry]) -> String {
    if entries.is_empty() {
        return "no appeals\n".into();
    }
    let mut t = Table::new(
        &[
            "appeal",
            "seq",
            "station",
            "against",
            "clause",
            "filed",
            "status",
            "points",
            "decided by",
            "grounds",
        ],
        &[
            false, true, false, false, false, false, false, true, false, false,
        ],
    );
    for e in entries {
        let points = match &e.decision {
            Some(d) => format!("{} → {}", e.points_before, d.points_after),
            None => e.points_before.to_string(),
        };
        t.row(vec![
            e.appeal.id.clone(),
            e.seq.to_string(),
            e.appeal.station.clone(),
            format!("{} (seq {})", e.record.id, e.record_seq),
            e.record.clause.clone(),
            crate::domain::rules::local_day(e.filed_at).to_string(),
            e.status().to_string(),
            points,
            e.decision
                .as_ref()
                .map(|d| d.decided.by.clone())
                .unwrap_or_default(),
            one_line(&e.appeal.grounds, 40),
        ]);
    }
    t.render()
}

/// Text on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.replace('\n', " ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// `appeal list --json`.
pub fn appeals_json(rubric: &Rubric, entries: &[crate::ops::appeals::AppealEntry]) -> Value {
    let appeals: Vec<Value> = entries
        .iter()
        .map(|e| {
            let item = rubric
                .clause(&e.record.clause)
                .map(|(i, _)| i.code.clone())
                .unwrap_or_default();
            json!({
                "id": e.appeal.id,
                "seq": e.seq,
                "hash": hex::encode(e.hash),
                "station": e.appeal.station,
                "filed_at": e.filed_at.to_string(),
                "grounds": e.appeal.grounds,
                "evidence": e.appeal.evidence,
                "against": {
                    "id": e.record.id,
                    "seq": e.record_seq,
                    "clause": e.record.clause,
                    "item": item,
                    "by": e.record.by,
                    "occurred": e.record.occurred.to_string(),
                    "computed_points": e.record.computed_points.to_string(),
                },
                "status": e.status(),
                "points_before": e.points_before.to_string(),
                "points_after": e.decision.as_ref().map(|d| d.points_after.to_string()),
                "decision": e.decision.as_ref().map(|d| json!({
                    "seq": d.seq,
                    "hash": hex::encode(d.hash),
                    "decided_at": d.decided_at.to_string(),
                    "outcome": d.decided.outcome.as_str(),
                    "points": d.decided.outcome.points().map(|p| p.to_string()),
                    "by": d.decided.by,
                    "reason": d.decided.reason,
                    "evidence": d.decided.evidence,
                })),
            })
        })
        .collect();
    json!({ "appeals": appeals })
}

/// What `close` prints: the rank clauses' rankings, the bonuses, the accepted gaps, the final
/// ranking and the head that seals the period.
pub fn closed_text(rubric: &Rubric, closed: &crate::ops::close::Closed) -> String {
    let c = &closed.closing;
    let mut out = format!(
        "closed the period {} to {} at seq {}\n",
        rubric.period_start, rubric.period_end, c.seq
    );
    for r in &c.closed.rankings {
        out.push_str(&format!(
            "\n{} ranking ({} stations qualified):\n",
            r.clause, r.qualified
        ));
        let mut t = Table::new(
            &["名次", "站点", "数值", "加分"],
            &[true, false, true, true],
        );
        for e in &r.entries {
            t.row(vec![
                e.rank.to_string(),
                e.station.clone(),
                e.value.to_string(),
                format!("+{}", e.points),
            ]);
        }
        out.push_str(&t.render());
    }
    for (seq, b) in &closed.bonuses {
        out.push_str(&format!(
            "bonus {} at seq {seq}: {} {} +{}\n",
            b.id, b.station, b.clause, b.computed_points
        ));
    }
    if let Some(reason) = &c.closed.reason {
        out.push_str(&format!(
            "\naccepted gaps ({}): {reason}\n",
            c.closed.accepted_gaps.len()
        ));
        for g in &c.closed.accepted_gaps {
            out.push_str(&format!(
                "  {} {}: {} = {} (would deduct {})\n",
                g.station, g.clause, g.metric, g.value, g.points
            ));
        }
    }
    out.push_str("\nfinal ranking:\n");
    let mut t = Table::new(&["名次", "站点", "总分"], &[true, false, true]);
    for s in &c.closed.scores {
        t.row(vec![
            s.rank.to_string(),
            s.station.clone(),
            s.total.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nfinal head {}\npublish it: anyone can check a copy with `kaohe verify --head {}` (or `verify --export FILE --head {}`)\n",
        hex::encode(c.hash),
        hex::encode(c.hash),
        hex::encode(c.hash)
    ));
    out
}

/// `close --json`.
pub fn closed_json(closed: &crate::ops::close::Closed) -> Value {
    let c = &closed.closing;
    let mut m = crate::ops::export::decoded_kind(&EventKind::PeriodClosed(c.closed.clone()));
    m.insert("seq".into(), json!(c.seq));
    m.insert("hash".into(), json!(hex::encode(c.hash)));
    m.insert("recorded_at".into(), json!(c.recorded_at.to_string()));
    let bonuses: Vec<Value> = closed
        .bonuses
        .iter()
        .map(|(seq, b)| {
            json!({
                "seq": seq, "id": b.id, "station": b.station, "clause": b.clause,
                "points": b.computed_points.to_string(), "occurred": b.occurred.to_string(),
                "by": b.by, "evidence": b.evidence,
            })
        })
        .collect();
    m.insert("bonuses".into(), Value::Array(bonuses));
    Value::Object(m)
}

#[cfg(test)]
mod table_tests {
    use super::Table;

    fn table(rows: &[(&str, &str)]) -> Table {
        let mut t = Table::new(&["站点", "n"], &[false, true]);
        for (a, b) in rows {
            t.row(vec![a.to_string(), b.to_string()]);
        }
        t
    }

    /// A table given out in one page is exactly the rendered table (so `log` of a small
    /// ledger prints what it always did).
    #[test]
    fn one_page_is_the_rendered_table() {
        let rows = [("湖塘司法所", "1"), ("WJ2", "12345")];
        assert_eq!(table(&rows).page(), table(&rows).render());
        assert_eq!(table(&[]).page(), table(&[]).render());
    }

    /// Later pages carry no header, and their columns never get narrower.
    #[test]
    fn later_pages_continue_the_first() {
        let mut t = table(&[("长的站点名称", "1")]);
        let first = t.page();
        t.row(vec!["a".into(), "22".into()]);
        let second = t.page();
        assert_eq!(first.lines().count(), 3);
        assert_eq!(second, "a             22\n");
        assert_eq!(t.held(), 0);
    }
}
