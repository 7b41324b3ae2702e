//! The report (`kaohe report`): one HTML file with no external resources that a person opens
//! in a browser or prints — the ranking, a chart of the score distribution and of each
//! category's losses (inline SVG), every station's breakdown down to each deduction and bonus
//! with its clause wording, arithmetic, evidence, appeal history and hash, and the closing hash
//! with how to verify it. Labels are Chinese; every text from the ledger is escaped.
//!
//! Cost: one pass over the tally ranks every station ([`crate::ledger::tally::scores`]); each
//! station's story then reads only its own events ([`explain::explain_scored`]). The output is
//! written as it is built, so memory holds the scores and one station's story at a time. The
//! same ledger state and view always give the same bytes (no clock is read).

use crate::domain::projection::StationScore;
use crate::domain::rubric::Rubric;
use crate::events::event::{AppealOutcome, EventKind, Hash};
use crate::ledger::query::View;
use crate::ledger::{Ledger, LedgerError};
use crate::ops::appeals::DisputeStory;
use crate::ops::explain::{self, EventStory, Explanation, ItemStory};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::io;

/// What to include.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these stations get a detailed section (every station when empty). The ranking
    /// table and the charts always cover every station in view.
    pub stations: Vec<String>,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Stations in view (rows of the ranking table).
    pub stations: usize,
    /// Stations with a detailed section.
    pub sections: usize,
    /// Recorded deductions and bonuses shown in the sections.
    pub events: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write the report: {0}")]
    Io(#[from] io::Error),
}

/// The report as one string (for a few stations; [`write`] streams any number).
pub fn render(ledger: &Ledger, view: &View, opts: &Options) -> Result<String, LedgerError> {
    let mut out = Vec::new();
    write(ledger, view, opts, &mut out).map_err(|e| match e {
        ReportError::Ledger(e) => e,
        ReportError::Io(e) => LedgerError::Io(e.to_string()),
    })?;
    String::from_utf8(out).map_err(|_| LedgerError::Io("the report is not UTF-8".into()))
}

/// Writes the report to `out` as it is built.
pub fn write(
    ledger: &Ledger,
    view: &View,
    opts: &Options,
    out: &mut dyn io::Write,
) -> Result<Summary, ReportError> {
    let rubric = ledger.rubric();
    let scores = crate::ledger::tally::scores(ledger, view)?;
    // Sections in registration order; the ranking table in rank order.
    let order = registration_order(ledger, view, &scores)?;
    let anchor: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(n, (_, i))| (scores[*i].station.as_str(), n))
        .collect();
    let wanted = wanted_stations(opts, view, &anchor)?;
    let closing = crate::ops::close::closing(ledger)?;
    let mut w = Counting { out, bytes: 0 };
    let mut h = String::with_capacity(1 << 16);
    head(&mut h, ledger, view, &scores, closing.is_some());
    // The consequences of the final scores (the rubric's table), in the final view only.
    let consequences = match ledger.final_at(view) {
        Some(_) => crate::domain::consequences::evaluate(&rubric.consequences, &scores),
        None => Vec::new(),
    };
    ranking(
        &mut h,
        rubric,
        &scores,
        &anchor,
        wanted.as_ref(),
        &consequences,
    );
    w.put(&mut h)?;
    charts(&mut h, rubric, &scores);
    w.put(&mut h)?;
    let (mut sections, mut events) = (0, 0);
    let _ = writeln!(h, "<h2 id=\"detail\" class=\"screen-only\">各站详情</h2>");
    for (n, (_, i)) in order.iter().enumerate() {
        let s = &scores[*i];
        if wanted
            .as_ref()
            .is_some_and(|w| !w.contains(s.station.as_str()))
        {
            continue;
        }
        let x = explain::explain_scored(ledger, view, s.clone(), scores.len())?;
        events += station(&mut h, rubric, &x, n);
        sections += 1;
        w.put(&mut h)?;
    }
    if sections == 0 {
        h.push_str("<p>本视图中没有站点。</p>\n");
    }
    verification(&mut h, ledger, view, &scores, closing.as_ref())?;
    w.put(&mut h)?;
    w.out.flush()?;
    Ok(Summary {
        stations: scores.len(),
        sections,
        events,
        bytes: w.bytes,
    })
}

/// The stations' (registration ordinal, index in `scores`), in registration order.
fn registration_order(
    ledger: &Ledger,
    view: &View,
    scores: &[StationScore],
) -> Result<Vec<(u32, usize)>, LedgerError> {
    let mut order: Vec<(u32, usize)> = Vec::with_capacity(scores.len());
    for (i, s) in scores.iter().enumerate() {
        let (_, ordinal) =
            ledger
                .station_ordinal(&s.station)?
                .ok_or_else(|| LedgerError::Damaged {
                    seq: view.last_seq(),
                    message: format!("station {} has a score but no registration", s.station),
                })?;
        order.push((ordinal, i));
    }
    order.sort_unstable();
    Ok(order)
}

/// The stations asked for (`None`: every station), refusing one not in view.
fn wanted_stations<'a>(
    opts: &'a Options,
    view: &View,
    anchor: &HashMap<&str, usize>,
) -> Result<Option<BTreeSet<&'a str>>, LedgerError> {
    if opts.stations.is_empty() {
        return Ok(None);
    }
    let mut set = BTreeSet::new();
    for code in &opts.stations {
        if !anchor.contains_key(code.as_str()) {
            return Err(LedgerError::Refused {
                line: None,
                field: "station".into(),
                message: format!(
                    "unknown station `{code}` (in this view, up to seq {})",
                    view.last_seq()
                ),
                zh: format!(
                    "没有司法所“{code}”（在截至第 {} 号事件的视图中）",
                    view.last_seq()
                ),
            });
        }
        set.insert(code.as_str());
    }
    Ok(Some(set))
}

/// The output with a byte count.
struct Counting<'a> {
    out: &'a mut dyn io::Write,
    bytes: u64,
}

impl Counting<'_> {
    /// Writes and empties the buffer.
    fn put(&mut self, h: &mut String) -> io::Result<()> {
        self.out.write_all(h.as_bytes())?;
        self.bytes += h.len() as u64;
        h.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Escaping.

/// Text escaped for HTML content and attribute values (`&`, `<`, `>`, `"`, `'`).
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// [`Esc`] as a string.
pub fn escape(text: &str) -> String {
    Esc(text).to_string()
}

fn hex(h: &Hash) -> String {
    hex::encode(h)
}

// ---------------------------------------------------------------------------------------------
// The page.

const STYLE: &str = r#"
:root { --ink: #1b1b1b; --muted: #5f6368; --line: #c9c9c9; --soft: #f3f3f1; --neg: #a8321e; --pos: #1d6b3c; --accent: #27457a; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "Heiti SC", sans-serif; color: var(--ink); background: #fff; margin: 0 auto; max-width: 1120px; padding: 24px 28px 48px; font-size: 14px; line-height: 1.55; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 2px solid var(--accent); padding-bottom: 3px; }
h3 { font-size: 15.5px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 12px 0 4px; }
p { margin: 6px 0; }
.sub { color: var(--muted); margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; vertical-align: top; text-align: left; }
thead th { background: var(--soft); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.cat td { background: #eef1f6; font-weight: bold; }
tr.bonus-cat td { background: #edf5ef; }
tr.quiet td { color: var(--muted); font-style: italic; }
.meta th { width: 11em; background: var(--soft); font-weight: normal; color: var(--muted); }
.hash, code { font-family: "DejaVu Sans Mono", "Noto Sans Mono", Consolas, "Courier New", monospace; font-size: 12px; word-break: break-all; }
code { background: var(--soft); padding: 0 3px; }
pre { background: var(--soft); padding: 8px 10px; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
.neg { color: var(--neg); }
.pos { color: var(--pos); }
.muted { color: var(--muted); }
.tag { display: inline-block; border: 1px solid var(--line); border-radius: 3px; padding: 0 5px; font-size: 12px; color: var(--muted); }
.tag.warn { border-color: #c77700; color: #8a5200; }
nav.toc { background: var(--soft); padding: 6px 10px; margin: 10px 0; }
nav.toc a { margin-right: 14px; }
a { color: var(--accent); }
.charts { display: grid; grid-template-columns: 1fr; gap: 10px; }
figure { margin: 6px 0 14px; }
figcaption { color: var(--muted); font-size: 12.5px; }
svg { max-width: 100%; height: auto; }
svg text { font-family: inherit; fill: var(--ink); }
svg .axis { stroke: #444; stroke-width: 1; }
svg .grid { stroke: #ddd; stroke-width: 1; }
svg .bar { fill: #4a6fa5; }
svg .loss { fill: #b8533f; }
section.station { margin-top: 34px; border-top: 3px double var(--accent); padding-top: 6px; }
section.station > h2 { border: none; margin-top: 6px; }
.score-line { font-size: 15px; }
.ev { border: 1px solid #dedede; border-left: 4px solid var(--neg); margin: 8px 0 10px; padding: 6px 9px; break-inside: avoid; }
.ev.bonus { border-left-color: var(--pos); }
.ev-h { font-weight: bold; margin-bottom: 4px; }
.ev table { margin: 4px 0; font-size: 13px; }
.ev table th { width: 5.5em; background: var(--soft); font-weight: normal; color: var(--muted); white-space: nowrap; }
.ev ul { margin: 0; padding-left: 18px; }
ol.disputes { margin: 4px 0 2px; padding-left: 22px; }
ol.disputes li { margin: 3px 0 6px; }
.clause-text { font-weight: normal; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 6px; }
@page { size: A4; margin: 16mm 13mm 16mm 13mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc, .screen-only { display: none; }
  h1 { font-size: 18pt; }
  h2 { font-size: 14pt; }
  section.station, section.closing { break-before: page; margin-top: 0; border-top: none; }
  tr, .ev, figure { break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3, h4 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  .hash, code { font-size: 8pt; }
}
"#;

fn view_zh(view: &View) -> String {
    let mut parts = vec![format!("截至 seq {}", view.last_seq())];
    if let Some(t) = view.query.known_at {
        parts.push(format!("账本在 {t} 时所知"));
    }
    match view.at {
        Some(d) => parts.push(format!("仅计发生日期在 {d} 及以前的记录")),
        None => parts.push("全部发生日期".into()),
    }
    parts.join("；")
}

fn head(h: &mut String, ledger: &Ledger, view: &View, scores: &[StationScore], closed: bool) {
    let r = ledger.rubric();
    let g = ledger.genesis();
    let title = format!("{}·考核结果报告", r.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"kaohe {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n<header>\n<h1>{}</h1>\n<p class=\"sub\">依据 {}；考核期间 {} 至 {}；基础分 {}，加分上限 {}</p>\n",
        env!("CARGO_PKG_VERSION"),
        Esc(&title),
        Esc(&title),
        Esc(&r.source),
        r.period_start,
        r.period_end,
        r.base_points,
        r.bonus_cap,
    );
    let status = if closed {
        "已封账（见文末“封账与验证”）"
    } else {
        "尚未封账：分数仍可能因新的记录、申诉或更正而变化"
    };
    let _ = write!(
        h,
        "<table class=\"meta\">\n<tr><th>视图</th><td>{}</td></tr>\n\
         <tr><th>站点数</th><td>{}</td></tr>\n<tr><th>事件数（视图内）</th><td>{}</td></tr>\n\
         <tr><th>封账状态</th><td>{status}</td></tr>\n\
         <tr><th>账本编号</th><td class=\"hash\">{}</td></tr>\n\
         <tr><th>规则哈希</th><td class=\"hash\">{}</td></tr>\n",
        Esc(&view_zh(view)),
        scores.len(),
        view.end,
        hex::encode(g.ledger_id),
        hex(&g.rubric_hash),
    );
    if let Some(p) = ledger.follows() {
        let _ = writeln!(
            h,
            "<tr><th>上一年度</th><td id=\"previous-year\">{}</td></tr>",
            previous_year(p)
        );
    }
    h.push_str(
        "</table>\n</header>\n\
         <nav class=\"toc\"><a href=\"#ranking\">排名</a><a href=\"#charts\">分布图</a>\
         <a href=\"#detail\">各站详情</a><a href=\"#verify\">封账与验证</a></nav>\n",
    );
}

/// The previous year a ledger follows (its genesis, `init --follows`), in a line: its ledger
/// id, period, and the closing event (seq and hash) that sealed it.
fn previous_year(p: &crate::events::event::Sealed) -> String {
    format!(
        "账本 <span class=\"hash\">{}</span>，{} 至 {}，于第 {} 号事件封账，链头 <span class=\"hash\">{}</span>",
        hex::encode(p.ledger_id),
        p.period_start,
        p.period_end,
        p.seq,
        hex(&p.hash),
    )
}

/// Where the caps cut, as in `score`'s table.
fn cap_notes(s: &StationScore) -> String {
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
    notes.join("；")
}

/// The ranking table; with the final scores' `consequences` (one list per station, aligned
/// with `scores`), a column of them; in a rubric of several sheets, a line on the weights and a
/// column per sheet after the total.
fn ranking(
    h: &mut String,
    rubric: &Rubric,
    scores: &[StationScore],
    anchor: &HashMap<&str, usize>,
    wanted: Option<&BTreeSet<&str>>,
    consequences: &[Vec<crate::domain::consequences::Outcome>],
) {
    let extra = match consequences.is_empty() {
        true => "",
        false => "<th>考核结果</th>",
    };
    let sheet_heads: String = (0..rubric.sheet_count())
        .filter(|_| rubric.has_sheets())
        .map(|i| {
            format!(
                "<th class=\"n\">{}<br>{}%</th>",
                Esc(&rubric.sheet_name(i)),
                percent(rubric.sheet_weight(i))
            )
        })
        .collect();
    h.push_str("<h2 id=\"ranking\">排名</h2>\n");
    if rubric.has_sheets() {
        weights_line(h, rubric);
    }
    let _ = write!(
        h,
        "<table class=\"ranking\">\n<thead><tr><th class=\"n\">名次</th>\
         <th>站点</th><th>名称</th><th>类型</th><th class=\"n\">总分</th>{sheet_heads}<th class=\"n\">扣分</th>\
         <th class=\"n\">加分</th><th>封顶说明</th>{extra}</tr></thead>\n<tbody>\n"
    );
    for (i, s) in scores.iter().enumerate() {
        let linked = wanted.is_none_or(|w| w.contains(s.station.as_str()));
        let code = match (linked, anchor.get(s.station.as_str())) {
            (true, Some(n)) => format!("<a href=\"#s{n}\">{}</a>", Esc(&s.station)),
            _ => Esc(&s.station).to_string(),
        };
        let outcome = match consequences.get(i) {
            Some(list) => format!(
                "<td>{}</td>",
                Esc(&crate::render::view::consequences_text(list))
            ),
            None => String::new(),
        };
        let sheets: String = s
            .sheets
            .iter()
            .map(|x| format!("<td class=\"n\">{}</td>", x.total))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{code}</td><td>{}</td><td>{}</td><td class=\"n\"><b>{}</b></td>{sheets}\
             <td class=\"n neg\">{}</td><td class=\"n pos\">{}</td><td>{}</td>{outcome}</tr>",
            s.rank,
            Esc(&s.name),
            s.kind.label_zh(),
            s.total,
            minus(s.deducted),
            plus(s.awarded),
            Esc(&cap_notes(s)),
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// A weight in percent (`20`) from a fraction (`0.2`).
fn percent(weight: Decimal) -> Decimal {
    crate::base::decimal::canonical(weight * Decimal::ONE_HUNDRED)
}

/// Each sheet's name with its weight (`上半年·区局 20%`), in the order of a station's sheets;
/// none for a rubric of one sheet.
fn sheet_labels(rubric: &Rubric) -> Vec<String> {
    match rubric.has_sheets() {
        true => (0..rubric.sheet_count())
            .map(|i| {
                format!(
                    "{} {}%",
                    rubric.sheet_name(i),
                    percent(rubric.sheet_weight(i))
                )
            })
            .collect(),
        false => Vec::new(),
    }
}

/// How the sheets make the total, in a line: who scores which sub-period, and each sheet's
/// weight.
fn weights_line(h: &mut String, rubric: &Rubric) {
    let periods: Vec<String> = rubric
        .periods
        .iter()
        .map(|p| format!("{} {}%", p.name, p.weight))
        .collect();
    let assessors: Vec<String> = rubric
        .assessors
        .iter()
        .map(|a| format!("{} {}%", a.name, a.weight))
        .collect();
    let sheets = sheet_labels(rubric);
    let _ = writeln!(
        h,
        "<p class=\"weights\">总分为各评分表得分的加权和：每个考核主体（{}）对每个时段（{}）\
         按全部细则各评一次分，每个“时段·考核主体”为一张评分表，权重为两者之积：{}。\
         扣分、加分及各项目的数值同样按权重合计。</p>",
        Esc(&assessors.join("、")),
        Esc(&periods.join("、")),
        Esc(&sheets.join("，")),
    );
}

fn minus(d: Decimal) -> String {
    if d.is_zero() {
        "0".into()
    } else {
        format!("−{d}")
    }
}

fn plus(d: Decimal) -> String {
    if d.is_zero() {
        "0".into()
    } else {
        format!("+{d}")
    }
}

// ---------------------------------------------------------------------------------------------
// Charts (inline SVG, drawn by hand; floats only for coordinates).

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Bins of total scores: a round width giving at most 24 bins, the lower edge a multiple of it.
fn bins(totals: &[Decimal]) -> (Decimal, Decimal, Vec<usize>) {
    let (Some(min), Some(max)) = (totals.iter().min(), totals.iter().max()) else {
        return (Decimal::ZERO, Decimal::ONE, Vec::new());
    };
    let widths = ["0.5", "1", "2", "5", "10", "20", "50", "100"];
    let mut pick = (Decimal::ZERO, Decimal::ONE, 1usize);
    for text in widths {
        let width: Decimal = text.parse().unwrap_or(Decimal::ONE);
        let lo = (*min / width).floor() * width;
        let n = ((*max - lo) / width)
            .floor()
            .to_usize()
            .unwrap_or(usize::MAX)
            + 1;
        pick = (lo, width, n);
        if n <= 24 {
            break;
        }
    }
    let (lo, width, n) = pick;
    let n = n.clamp(1, 200);
    let mut counts = vec![0usize; n];
    for t in totals {
        let i = ((*t - lo) / width)
            .floor()
            .to_usize()
            .unwrap_or(0)
            .min(n - 1);
        counts[i] += 1;
    }
    (lo, width, counts)
}

/// A round step for an axis from 0 to `max` with about `ticks` ticks.
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    (step * mag).max(if max >= 1.0 { 1.0 } else { 0.0 })
}

fn num(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// A chart's geometry (SVG units): the plot area's left edge and width, and the whole
/// height with the top and bottom margins around the plot area (of height `ph`).
#[derive(Clone, Copy)]
struct Frame {
    left: f64,
    pw: f64,
    ht: f64,
    top: f64,
    bottom: f64,
    ph: f64,
}

fn histogram(h: &mut String, scores: &[StationScore]) {
    let totals: Vec<Decimal> = scores.iter().map(|s| s.total).collect();
    let (lo, width, counts) = bins(&totals);
    let (w, ht) = (760.0, 300.0);
    let (left, right, top, bottom) = (58.0, 16.0, 22.0, 56.0);
    let (pw, ph) = (w - left - right, ht - top - bottom);
    let frame = Frame {
        left,
        pw,
        ht,
        top,
        bottom,
        ph,
    };
    let peak = counts.iter().copied().max().unwrap_or(0) as f64;
    let step = nice_step(peak.max(1.0), 5.0).max(1.0);
    let ymax = ((peak.max(1.0) / step).ceil() * step).max(1.0);
    let _ = writeln!(
        h,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {ht}\" width=\"{w}\" height=\"{ht}\" role=\"img\" \
         aria-label=\"总分分布直方图\"><title>总分分布：各分数段的站点数</title>"
    );
    histogram_grid(h, frame, ymax, step);
    histogram_bars(h, frame, &counts, (lo, width), ymax);
    let end = lo + width * Decimal::from(counts.len());
    histogram_axes(h, frame, end);
    let _ = writeln!(
        h,
        "<figcaption>每段 {width} 分，含下界不含上界（最后一段含上界）。</figcaption>"
    );
}

/// The histogram's horizontal grid lines with their counts, every `step` up to `ymax`.
fn histogram_grid(h: &mut String, frame: Frame, ymax: f64, step: f64) {
    let Frame {
        left, pw, top, ph, ..
    } = frame;
    let mut y = 0.0;
    while y <= ymax + 1e-9 {
        let py = top + ph - y / ymax * ph;
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6.0,
            py + 4.0,
            num(y)
        );
        y += step;
    }
}

/// The histogram's bars (bins of `width` from `lo`) and the lower edges under them.
fn histogram_bars(
    h: &mut String,
    frame: Frame,
    counts: &[usize],
    (lo, width): (Decimal, Decimal),
    ymax: f64,
) {
    let Frame {
        left, pw, top, ph, ..
    } = frame;
    let n = counts.len().max(1) as f64;
    let bw = pw / n;
    let every = (counts.len() / 12).max(1);
    for (i, c) in counts.iter().enumerate() {
        let x = left + i as f64 * bw;
        let bh = *c as f64 / ymax * ph;
        let from = lo + width * Decimal::from(i);
        let to = from + width;
        if *c > 0 {
            let _ = writeln!(
                h,
                "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\">\
                 <title>{from}–{to} 分：{c} 个站点</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{c}</text>",
                x + 1.0,
                top + ph - bh,
                (bw - 2.0).max(1.0),
                x + bw / 2.0,
                top + ph - bh - 4.0
            );
        }
        if i % every == 0 {
            let _ = writeln!(
                h,
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{from}</text>",
                top + ph + 15.0
            );
        }
    }
}

/// The histogram's last edge (`end`), axes and axis titles; closes the SVG.
fn histogram_axes(h: &mut String, frame: Frame, end: Decimal) {
    let Frame {
        left,
        pw,
        ht,
        top,
        ph,
        ..
    } = frame;
    let _ = write!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{end}</text>\n\
         <line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\"/>\
         <line class=\"axis\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">总分（分）</text>\n\
         <text x=\"16\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 16 {:.1})\">站点数</text>\n</svg>\n",
        left + pw,
        top + ph + 15.0,
        top + ph,
        top + ph,
        left + pw,
        top + ph,
        left + pw / 2.0,
        ht - 14.0,
        top + ph / 2.0,
        top + ph / 2.0,
    );
}

/// Each category's applied deductions (or, for a bonus category, applied item bonus) summed
/// over the stations.
fn category_sums(rubric: &Rubric, scores: &[StationScore]) -> Vec<Decimal> {
    let category_of: Vec<usize> = rubric
        .categories
        .iter()
        .enumerate()
        .flat_map(|(c, cat)| std::iter::repeat_n(c, cat.items.len()))
        .collect();
    let mut sums = vec![Decimal::ZERO; rubric.categories.len()];
    for s in scores {
        for (position, i) in s.items.iter().enumerate() {
            // What the item counts for in the total (a weighted indicator's own-scale figure
            // scaled to its weight; the same figure for any other item).
            if let Some(c) = category_of.get(position) {
                sums[*c] += i.counts;
            }
        }
    }
    sums.into_iter()
        .map(crate::base::decimal::canonical)
        .collect()
}

fn losses(h: &mut String, rubric: &Rubric, scores: &[StationScore], sums: &[Decimal]) {
    let cats: Vec<(usize, &crate::domain::rubric::Category)> = rubric
        .categories
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.bonus)
        .collect();
    let n = scores.len().max(1);
    let labels: Vec<String> = cats
        .iter()
        .map(|(_, c)| format!("{} {}（{} 分）", c.code, c.name, c.points))
        .collect();
    let widest = widest_label(&labels);
    let (row, pw) = (34.0, 400.0);
    let (left, right, top, bottom) = ((widest + 16.0).clamp(100.0, 480.0), 150.0, 14.0, 50.0);
    let w = left + pw + right;
    let ht = top + bottom + row * cats.len() as f64;
    let frame = Frame {
        left,
        pw,
        ht,
        top,
        bottom,
        ph: ht - top - bottom,
    };
    let peak = cats.iter().map(|(i, _)| f(sums[*i])).fold(0.0, f64::max);
    let step = nice_step(peak.max(1.0), 5.0);
    let xmax = ((peak.max(1.0) / step).ceil() * step).max(1.0);
    let _ = writeln!(
        h,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {ht}\" width=\"{w}\" height=\"{ht}\" role=\"img\" \
         aria-label=\"各类别扣分合计条形图\"><title>各类别扣分合计（全部站点，封顶后计入的扣分）</title>"
    );
    losses_grid(h, frame, xmax, step);
    for (k, (i, c)) in cats.iter().enumerate() {
        let y = top + k as f64 * row;
        let sum = sums[*i];
        let bw = f(sum) / xmax * pw;
        let avg = crate::base::decimal::canonical((sum / Decimal::from(n)).round_dp(2));
        let _ = writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12.5\" text-anchor=\"end\">{}</text>\
             <rect class=\"loss\" x=\"{left}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\">\
             <title>{} {}：扣分合计 {sum}，站均 {avg}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{sum}（站均 {avg}）</text>",
            left - 8.0,
            y + row / 2.0 + 4.0,
            Esc(&labels[k]),
            y + 6.0,
            row - 12.0,
            Esc(&c.code),
            Esc(&c.name),
            left + bw + 6.0,
            y + row / 2.0 + 4.0,
        );
    }
    losses_axes(h, frame);
}

/// Room for the longest label at 12.5 px: a CJK character is about one em, others half.
fn widest_label(labels: &[String]) -> f64 {
    labels
        .iter()
        .map(|l| {
            l.chars()
                .map(|c| if c.is_ascii() { 7.0 } else { 12.5 })
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

/// The loss chart's vertical grid lines with their points, every `step` up to `xmax`.
fn losses_grid(h: &mut String, frame: Frame, xmax: f64, step: f64) {
    let Frame {
        left,
        pw,
        ht,
        top,
        bottom,
        ..
    } = frame;
    let mut x = 0.0;
    while x <= xmax + 1e-9 {
        let px = left + x / xmax * pw;
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            ht - bottom,
            ht - bottom + 15.0,
            num(x)
        );
        x += step;
    }
}

/// The loss chart's axes and axis titles; closes the SVG.
fn losses_axes(h: &mut String, frame: Frame) {
    let Frame {
        left,
        pw,
        ht,
        top,
        bottom,
        ..
    } = frame;
    let base = ht - bottom;
    let _ = write!(
        h,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base:.1}\"/>\
         <line class=\"axis\" x1=\"{left}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">扣分合计（分）</text>\n\
         <text x=\"14\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">类别</text>\n</svg>\n",
        left + pw,
        left + pw / 2.0,
        ht - 12.0,
        top + (base - top) / 2.0,
        top + (base - top) / 2.0,
    );
}

fn charts(h: &mut String, rubric: &Rubric, scores: &[StationScore]) {
    h.push_str(
        "<h2 id=\"charts\">分布图</h2>\n<div class=\"charts\">\n<figure>\n<h3>总分分布</h3>\n",
    );
    let mut totals: Vec<Decimal> = scores.iter().map(|s| s.total).collect();
    totals.sort_unstable();
    if let (Some(min), Some(max)) = (totals.first(), totals.last()) {
        let n = Decimal::from(totals.len());
        let sum: Decimal = totals.iter().sum();
        let mid = totals.len() / 2;
        let median = if totals.len() % 2 == 1 {
            totals[mid]
        } else {
            (totals[mid - 1] + totals[mid]) / Decimal::TWO
        };
        let _ = writeln!(
            h,
            "<p>{} 个站点：平均 {}，中位数 {}，最高 {max}，最低 {min}。</p>",
            totals.len(),
            crate::base::decimal::canonical((sum / n).round_dp(2)),
            crate::base::decimal::canonical(median),
        );
    }
    histogram(h, scores);
    h.push_str("</figure>\n<figure>\n<h3>各类别扣分合计</h3>\n");
    let sums = category_sums(rubric, scores);
    losses(h, rubric, scores, &sums);
    let bonus: Vec<String> = rubric
        .categories
        .iter()
        .zip(&sums)
        .filter(|(c, _)| c.bonus)
        .map(|(c, s)| format!("{} {}：各项加分合计 {s}", c.code, c.name))
        .collect();
    let _ = writeln!(
        h,
        "<figcaption>每个类别在全部站点计入的扣分（各项目封顶之后）之和。{}</figcaption>\n</figure>\n</div>",
        Esc(&if bonus.is_empty() {
            String::new()
        } else {
            format!(
                "{}（各项目封顶之后，未计加分总上限 {}）。",
                bonus.join("；"),
                rubric.bonus_cap
            )
        })
    );
}

// ---------------------------------------------------------------------------------------------
// One station.

/// Writes a station's section; returns how many records it shows.
fn station(h: &mut String, rubric: &Rubric, x: &Explanation, n: usize) -> usize {
    let s = &x.score;
    let _ = write!(
        h,
        "<section class=\"station\" id=\"s{n}\">\n<h2>{} {}（{}）</h2>\n\
         <p class=\"score-line\">总分 <b>{}</b> = 基础分 {} <span class=\"neg\">− 扣分 {}</span> \
         <span class=\"pos\">+ 加分 {}</span>；名次 <b>{}</b> / {}</p>\n",
        Esc(&s.station),
        Esc(&s.name),
        s.kind.label_zh(),
        s.total,
        rubric.base_points,
        s.deducted,
        s.awarded,
        s.rank,
        x.stations,
    );
    if s.awarded != s.awarded_before_cap {
        let _ = writeln!(
            h,
            "<p>加分：各项目合计 {}，加分总上限 {} 保留 {}。</p>",
            s.awarded_before_cap, rubric.bonus_cap, s.awarded
        );
    }
    if s.raw_deducted != s.deducted {
        let _ = writeln!(
            h,
            "<p>扣分：记录合计 {}，各项目封顶后计入 {}。</p>",
            s.raw_deducted, s.deducted
        );
    }
    if !s.sheets.is_empty() {
        sheets(h, s);
    }
    breakdown(h, rubric, x);
    let shown = records(h, x);
    if !x.metrics.is_empty() {
        metrics(h, rubric, x);
    }
    h.push_str("</section>\n");
    shown
}

/// A station's sheets (each scores the whole rubric) and the weighted sum that is its total.
fn sheets(h: &mut String, s: &StationScore) {
    h.push_str(
        "<h3>各评分表得分</h3>\n<table class=\"sheets\">\n<thead><tr><th>评分表（时段·考核主体）</th>\
         <th class=\"n\">权重</th><th class=\"n\">扣分</th><th class=\"n\">加分</th>\
         <th class=\"n\">得分</th><th class=\"n\">加权得分</th></tr></thead>\n<tbody>\n",
    );
    for x in &s.sheets {
        let _ = writeln!(
            h,
            "<tr><td>{}·{}</td><td class=\"n\">{}%</td><td class=\"n neg\">{}</td><td class=\"n pos\">{}</td>\
             <td class=\"n\"><b>{}</b></td><td class=\"n\">{}</td></tr>",
            Esc(x.period_name),
            Esc(x.assessor_name),
            percent(x.weight),
            minus(x.deducted),
            plus(x.awarded),
            x.total,
            crate::base::decimal::canonical(x.weight * x.total),
        );
    }
    let terms: Vec<String> = s
        .sheets
        .iter()
        .map(|x| format!("{} × {}", x.weight, x.total))
        .collect();
    let _ = writeln!(
        h,
        "</tbody>\n</table>\n<p class=\"weighted-sum\">总分 <b>{}</b> = {}（各评分表得分 × 权重之和，保留 6 位小数）。\
         下列扣分、加分为各评分表的原始记录，每条记录计入其所在的评分表；分类得分中的数值为加权合计。</p>",
        s.total,
        terms.join(" + "),
    );
}

/// A station's recorded deductions and bonuses, item by item; returns how many it shows.
fn records(h: &mut String, x: &Explanation) -> usize {
    let mut shown = 0;
    let any = x
        .items
        .iter()
        .any(|it| it.clauses.iter().any(|c| !c.events.is_empty()));
    if any {
        h.push_str("<h3>扣分与加分明细</h3>\n");
    } else {
        h.push_str("<p class=\"muted\">本视图内没有扣分或加分记录。</p>\n");
    }
    for it in &x.items {
        if it.clauses.iter().all(|c| c.events.is_empty()) {
            continue;
        }
        let i = &it.score;
        let (what, applied, raw) = if i.bonus {
            ("加分", i.awarded, i.raw_awarded)
        } else {
            ("扣分", i.deducted, i.raw_deducted)
        };
        let cap = if applied != raw && !it.item.parts.is_empty() {
            format!(
                "（记录合计 {raw}，按分项保底、分项满分和项目上限 {} 计入）",
                i.max
            )
        } else if applied != raw {
            format!("（记录合计 {raw}，项目上限 {} 封顶）", i.max)
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<h4>{} {} — 分值 {}，{what} {applied}{} — 考评部门：{}</h4>",
            Esc(i.item),
            Esc(i.name),
            i.max,
            Esc(&cap),
            Esc(&it.item.departments.join("、")),
        );
        for c in &it.clauses {
            for e in &c.events {
                event(h, i.bonus, i.max, c.clause, e);
                shown += 1;
            }
        }
    }
    shown
}

/// The table of a station's reported metrics (the last report of each in view).
fn metrics(h: &mut String, rubric: &Rubric, x: &Explanation) {
    h.push_str(
        "<h3>上报指标</h3>\n<table>\n<thead><tr><th>指标</th><th class=\"n\">数值</th>\
         <th>发生日期</th><th>上报部门</th><th>编号</th><th class=\"n\">seq</th><th>证据</th><th>哈希</th></tr></thead>\n<tbody>\n",
    );
    for m in &x.metrics {
        let r = &m.report;
        let label = rubric
            .metric(&r.metric)
            .map(|d| format!("{}（{}）", d.label, r.metric))
            .unwrap_or_else(|| r.metric.clone());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td>{}</td><td class=\"hash\">{}</td></tr>",
            Esc(&label),
            r.value,
            r.occurred,
            Esc(&r.by),
            Esc(&r.id),
            m.seq,
            Esc(&r.evidence.join("；")),
            hex(&m.hash),
        );
    }
    h.push_str("</tbody>\n</table>\n<p class=\"muted\">每项指标为视图内最后一次上报。</p>\n");
}

/// The category → item table of a station.
fn breakdown(h: &mut String, rubric: &Rubric, x: &Explanation) {
    h.push_str(
        "<h3>分类得分</h3>\n<table class=\"breakdown\">\n<thead><tr><th>类别 / 项目</th><th class=\"n\">分值</th>\
         <th class=\"n\">扣分</th><th class=\"n\">加分</th><th class=\"n\">记录合计</th><th class=\"n\">记录数</th>\
         <th>封顶</th><th>考评部门</th></tr></thead>\n<tbody>\n",
    );
    let mut position = 0;
    for cat in &rubric.categories {
        let items =
            &x.items[position.min(x.items.len())..(position + cat.items.len()).min(x.items.len())];
        position += cat.items.len();
        category_row(h, cat, items);
        let mut quiet = 0;
        for it in items {
            let events: usize = it.clauses.iter().map(|c| c.events.len()).sum();
            if events == 0 {
                quiet += 1;
                continue;
            }
            item_row(h, it, events);
        }
        if quiet > 0 && quiet < items.len() {
            let _ = writeln!(
                h,
                "<tr class=\"quiet\"><td colspan=\"8\">&nbsp;&nbsp;其余 {quiet} 个项目无记录</td></tr>"
            );
        } else if quiet > 0 {
            let _ = writeln!(
                h,
                "<tr class=\"quiet\"><td colspan=\"8\">&nbsp;&nbsp;{quiet} 个项目均无记录</td></tr>"
            );
        }
    }
    h.push_str("</tbody>\n</table>\n");
}

/// A category's row of the breakdown: its items' points summed.
fn category_row(h: &mut String, cat: &crate::domain::rubric::Category, items: &[ItemStory]) {
    let (mut applied, mut raw, mut count) = (Decimal::ZERO, Decimal::ZERO, 0u32);
    for it in items {
        let i = &it.score;
        // In the category's points: what each item counts for in the total.
        applied += i.counts;
        raw += if i.bonus {
            i.raw_awarded
        } else {
            i.raw_deducted
        };
        count += it
            .clauses
            .iter()
            .map(|c| c.events.len() as u32)
            .sum::<u32>();
    }
    let (applied, raw) = (
        crate::base::decimal::canonical(applied),
        crate::base::decimal::canonical(raw),
    );
    let (ded, awd) = if cat.bonus {
        (String::new(), plus(applied))
    } else {
        (minus(applied), String::new())
    };
    let _ = writeln!(
        h,
        "<tr class=\"cat{}\"><td>{} {}</td><td class=\"n\">{}</td><td class=\"n neg\">{ded}</td>\
         <td class=\"n pos\">{awd}</td><td class=\"n\">{raw}</td><td class=\"n\">{count}</td><td></td><td></td></tr>",
        if cat.bonus { " bonus-cat" } else { "" },
        Esc(&cat.code),
        Esc(&cat.name),
        cat.points,
    );
}

/// An item's row of the breakdown (an item with `events` records).
fn item_row(h: &mut String, it: &ItemStory, events: usize) {
    let i = &it.score;
    let (ded, awd, raw) = if i.bonus {
        (String::new(), plus(i.awarded), i.raw_awarded)
    } else {
        (minus(i.deducted), String::new(), i.raw_deducted)
    };
    let cap = if i.capped() {
        format!(
            "上限 {} 封顶：{raw}→{}",
            i.max,
            if i.bonus { i.awarded } else { i.deducted }
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        h,
        "<tr><td>&nbsp;&nbsp;{} {}</td><td class=\"n\">{}</td><td class=\"n neg\">{ded}</td>\
         <td class=\"n pos\">{awd}</td><td class=\"n\">{raw}</td><td class=\"n\">{events}</td><td>{}</td><td>{}</td></tr>",
        Esc(i.item),
        Esc(i.name),
        i.max,
        Esc(&cap),
        Esc(&it.item.departments.join("、")),
    );
}

/// One recorded deduction or bonus with its history.
fn event(
    h: &mut String,
    bonus: bool,
    max: Decimal,
    clause: &crate::domain::rubric::Clause,
    e: &EventStory,
) {
    let p = &e.record;
    let sign = if bonus { "+" } else { "−" };
    let class = if bonus { "ev bonus" } else { "ev" };
    let what = if bonus { "加分" } else { "扣分" };
    let _ = write!(
        h,
        "<div class=\"{class}\">\n<div class=\"ev-h\"><span class=\"{}\">{what} {sign}{}</span> 条款 {} \
         <span class=\"clause-text\">{}</span></div>\n<table>\n",
        if bonus { "pos" } else { "neg" },
        p.computed_points,
        Esc(&clause.code),
        Esc(&clause.text),
    );
    let _ = writeln!(
        h,
        "<tr><th>规则</th><td colspan=\"3\">{}（{}）</td></tr>\n\
         <tr><th>计算过程</th><td colspan=\"3\"><code>{}</code></td></tr>",
        Esc(&clause.rule.describe()),
        clause.rule.kind_name(),
        Esc(&e.working.text),
    );
    // In a sub-part, the limit that bit is named as explain names it (its floor or points, or
    // the item's cap); elsewhere the item's cap, as one-sheet reports always said.
    let limit = e.limited_by_zh.as_deref().filter(|_| clause.part.is_some());
    let points = points_text(e, sign, max, limit);
    let _ = writeln!(
        h,
        "<tr><th>分值</th><td>{}</td><th>考评部门</th><td>{}</td></tr>\n\
         <tr><th>发生日期</th><td>{}</td><th>记录时间</th><td>{}（UTC）</td></tr>\n\
         <tr><th>编号</th><td>{}（seq {}）</td><th>哈希</th><td class=\"hash\">{}</td></tr>",
        Esc(&points),
        Esc(&p.by),
        p.occurred,
        e.recorded_at,
        Esc(&p.id),
        e.seq,
        hex(&e.hash),
    );
    if let Some(sheet) = &e.sheet {
        let _ = writeln!(
            h,
            "<tr><th>评分表</th><td colspan=\"3\">计入{}</td></tr>",
            Esc(sheet)
        );
    }
    if let Some(note) = &p.inputs.note {
        let _ = writeln!(
            h,
            "<tr><th>说明</th><td colspan=\"3\">{}</td></tr>",
            Esc(note)
        );
    }
    h.push_str("<tr><th>证据</th><td colspan=\"3\">");
    evidence(h, &p.evidence);
    h.push_str("</td></tr>\n");
    if !e.disputes.is_empty() {
        disputes(h, &e.disputes);
    }
    h.push_str("</table>\n</div>\n");
}

/// A record's points as computed, as they stand and as they count: `计算 -2；现行 -2；计入 -2`,
/// with the limit that kept what counts below what stands: `limit` when given (a sub-part's
/// floor or points), else the item's cap of `max`; each with its `sign`.
fn points_text(e: &EventStory, sign: &str, max: Decimal, limit: Option<&str>) -> String {
    let p = &e.record;
    // A figure with its sign; zero has none.
    let signed = |d: rust_decimal::Decimal| match d.is_zero() {
        true => "0".to_string(),
        false => format!("{sign}{d}"),
    };
    let mut points = format!("计算 {}", signed(p.computed_points));
    if e.standing != p.computed_points {
        points.push_str(&format!("；申诉/更正后现行 {}", signed(e.standing)));
    } else {
        points.push_str(&format!("；现行 {}", signed(e.standing)));
    }
    match limit {
        _ if e.applied == e.standing => points.push_str(&format!("；计入 {}", signed(e.applied))),
        Some(limit) => points.push_str(&format!("；计入 {}（受限于{limit}）", signed(e.applied))),
        None if e.applied.is_zero() => points.push_str(&format!("；计入 0（项目上限 {max} 已满）")),
        None => points.push_str(&format!("；计入 {sign}{}（达到项目上限 {max}）", e.applied)),
    }
    points
}

/// The row of a record's appeals, decisions and reversals, oldest first.
fn disputes(h: &mut String, list: &[DisputeStory]) {
    h.push_str("<tr><th>申诉与复核</th><td colspan=\"3\"><ol class=\"disputes\">\n");
    for (k, d) in list.iter().enumerate() {
        let decided_later = list[k + 1..].iter().any(
            |later| matches!(&later.kind, EventKind::AppealDecided(x) if x.appeal_seq == d.seq),
        );
        dispute(h, d, decided_later);
    }
    h.push_str("</ol></td></tr>\n");
}

fn evidence(h: &mut String, list: &[String]) {
    match list {
        [] => h.push_str("<span class=\"muted\">（无）</span>"),
        [one] => {
            let _ = write!(h, "{}", Esc(one));
        }
        many => {
            h.push_str("<ul>");
            for e in many {
                let _ = write!(h, "<li>{}</li>", Esc(e));
            }
            h.push_str("</ul>");
        }
    }
}

/// Evidence on one line (under an appeal, decision or reversal).
fn evidence_inline(h: &mut String, list: &[String]) {
    if list.is_empty() {
        h.push_str("<span class=\"muted\">（无）</span>");
    }
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            h.push('；');
        }
        let _ = write!(h, "{}", Esc(e));
    }
}

fn outcome_zh(o: &AppealOutcome) -> String {
    match o {
        AppealOutcome::Upheld => "申诉成立（撤销扣分）".into(),
        AppealOutcome::Partial(p) => format!("部分成立（整条扣分改为 {p} 分）"),
        AppealOutcome::Rejected => "驳回（维持原扣分）".into(),
    }
}

/// One appeal, decision or reversal under its record.
fn dispute(h: &mut String, d: &DisputeStory, decided_later: bool) {
    let change = format!("分值 {} → {}", d.before, d.after);
    let place = format!("seq {}，{}（UTC）", d.seq, d.recorded_at);
    h.push_str("<li>");
    match &d.kind {
        EventKind::AppealFiled(a) => {
            let _ = write!(
                h,
                "<b>申诉</b> {}（{}）{}<br>申诉理由：{}<br>证据：",
                Esc(&a.id),
                Esc(&place),
                if decided_later {
                    ""
                } else {
                    " <span class=\"tag warn\">待复核</span>"
                },
                Esc(&a.grounds),
            );
            evidence_inline(h, &a.evidence);
        }
        EventKind::AppealDecided(x) => {
            let _ = write!(
                h,
                "<b>复核</b> 申诉 {}：{}，复核部门 {}（{}）<br>{}<br>复核理由：{}<br>证据：",
                Esc(&x.appeal),
                Esc(&outcome_zh(&x.outcome)),
                Esc(&x.by),
                Esc(&place),
                Esc(&change),
                Esc(&x.reason),
            );
            evidence_inline(h, &x.evidence);
        }
        EventKind::RecordReversed(r) => {
            let _ = write!(
                h,
                "<b>撤回更正</b> {}：{} 撤回此记录（{}）<br>{}<br>理由：{}<br>证据：",
                Esc(&r.id),
                Esc(&r.by),
                Esc(&place),
                Esc(&change),
                Esc(&r.reason),
            );
            evidence_inline(h, &r.evidence);
        }
        other => {
            let _ = write!(h, "{}（{}）", other.type_name(), Esc(&place));
        }
    }
    let _ = writeln!(
        h,
        "<br>哈希 <span class=\"hash\">{}</span></li>",
        hex(&d.hash)
    );
}

// ---------------------------------------------------------------------------------------------
// Closing and verification.

fn verification(
    h: &mut String,
    ledger: &Ledger,
    view: &View,
    scores: &[StationScore],
    closing: Option<&crate::ops::close::Closing>,
) -> Result<(), LedgerError> {
    let head = ledger.head();
    let last = head.next_seq.saturating_sub(1);
    h.push_str("<section class=\"closing\" id=\"verify\">\n<h2>封账与验证</h2>\n");
    let publish = match closing {
        Some(c) => {
            closed_table(h, c);
            // The sealed scores against the ones this report shows (in the whole view only).
            if view.end == head.next_seq && view.at.is_none() {
                sealed_against_shown(h, scores, c);
            } else {
                h.push_str("<p>本报告的视图不是整个账本，排名表是该视图中的分数；封账事件所记为最终得分。</p>\n");
            }
            hex(&c.hash)
        }
        None => {
            let _ = write!(
                h,
                "<p><b>本考核期尚未封账</b>（尚未执行 <code>kaohe close</code>）：以下是生成本报告时账本的当前链头。\
                 此后的记录、申诉、复核或更正都会延长链条，链头随之改变。</p>\n\
                 <table class=\"meta\">\n<tr><th>当前链头 seq</th><td>{last}</td></tr>\n\
                 <tr><th>当前链头哈希</th><td class=\"hash\"><b>{}</b></td></tr>\n</table>\n",
                hex(&head.hash),
            );
            hex(&head.hash)
        }
    };
    let cut = view_cut(h, ledger, view, head.next_seq)?;
    how_to_verify(h, &publish, cut.as_ref(), ledger.follows());
    Ok(())
}

/// The closing event's table: seq, hashes, time, accepted gaps and rank bonuses.
fn closed_table(h: &mut String, c: &crate::ops::close::Closing) {
    let _ = write!(
        h,
        "<p>本考核期已封账：封账事件是链上最后一个事件，其哈希即账本的最终链头。</p>\n\
         <table class=\"meta\">\n<tr><th>封账事件 seq</th><td>{}</td></tr>\n\
         <tr><th>最终链头哈希</th><td class=\"hash\"><b>{}</b></td></tr>\n\
         <tr><th>封账时所封链头</th><td class=\"hash\">{}</td></tr>\n\
         <tr><th>封账时间</th><td>{}（UTC）</td></tr>\n\
         <tr><th>最终得分</th><td>{} 个站点</td></tr>\n",
        c.seq,
        hex(&c.hash),
        hex(&c.closed.head),
        c.recorded_at,
        c.closed.scores.len(),
    );
    if !c.closed.accepted_gaps.is_empty() {
        let gaps: Vec<String> = c
            .closed
            .accepted_gaps
            .iter()
            .map(|g| {
                format!(
                    "{} {} {} = {}（应扣 {}）",
                    g.station, g.clause, g.metric, g.value, g.points
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<tr><th>认可的未扣分缺口</th><td>{}<br>理由：{}</td></tr>",
            Esc(&gaps.join("；")),
            Esc(c.closed.reason.as_deref().unwrap_or("（无）")),
        );
    }
    for r in &c.closed.rankings {
        let entries: Vec<String> = r
            .entries
            .iter()
            .map(|e| format!("{}. {} {}（+{}）", e.rank, e.station, e.value, e.points))
            .collect();
        let _ = writeln!(
            h,
            "<tr><th>排名加分 {}</th><td>{} 个站点参加排名：{}</td></tr>",
            Esc(&r.clause),
            r.qualified,
            Esc(&entries.join("；")),
        );
    }
    h.push_str("</table>\n");
}

/// Whether the closing event's final scores and ranks are the ones the ranking table shows.
fn sealed_against_shown(h: &mut String, scores: &[StationScore], c: &crate::ops::close::Closing) {
    let shown: HashMap<&str, (Decimal, u32)> = scores
        .iter()
        .map(|s| (s.station.as_str(), (s.total, s.rank)))
        .collect();
    let differ: Vec<String> = c
        .closed
        .scores
        .iter()
        .filter(|f| shown.get(f.station.as_str()) != Some(&(f.total, f.rank)))
        .take(20)
        .map(|f| format!("{} 封账 {}（第 {} 名）", f.station, f.total, f.rank))
        .collect();
    if differ.is_empty() && c.closed.scores.len() == scores.len() {
        h.push_str("<p>封账事件所记的每个站点最终得分与名次，与本报告的排名表一致。</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<p class=\"neg\">封账事件所记的最终得分与本报告不一致：{}</p>",
            Esc(&differ.join("；"))
        );
    }
}

/// When the view ends before the ledger's head (`next_seq`): the last event in view and its
/// hash, written and returned.
fn view_cut(
    h: &mut String,
    ledger: &Ledger,
    view: &View,
    next_seq: u64,
) -> Result<Option<(u64, String)>, LedgerError> {
    if view.end >= next_seq {
        return Ok(None);
    }
    let seq = view.last_seq();
    let mut hash = [0u8; 32];
    ledger.replay(seq, seq + 1, |e| {
        hash = *e.hash;
        Ok(false)
    })?;
    let _ = writeln!(
        h,
        "<p>本报告的视图截至 seq {seq}，该事件的哈希为 <span class=\"hash\"><b>{}</b></span>。</p>",
        hex(&hash)
    );
    Ok(Some((seq, hex(&hash))))
}

/// How to verify the `publish`ed head (and the view's `cut`, if any); closes the section and
/// the page.
fn how_to_verify(
    h: &mut String,
    publish: &str,
    cut: Option<&(u64, String)>,
    previous: Option<&crate::events::event::Sealed>,
) {
    let _ = write!(
        h,
        "<h3>如何验证</h3>\n<ol>\n\
         <li>在保存账本的机器上检查整条链与全部索引，并确认链中包含上述哈希：\
         <pre>kaohe --db 账本目录 verify --head {publish}</pre></li>\n\
         <li>只凭导出文件验证（不依赖账本目录）：\
         <pre>{}</pre></li>\n",
        Esc(&format!(
            "kaohe --db 账本目录 export > x.jsonl && kaohe verify --export x.jsonl --head {publish}"
        )),
    );
    if let Some((seq, hash)) = cut {
        let _ = writeln!(
            h,
            "<li>验证本报告视图所依据的前缀：<pre>{}</pre></li>",
            Esc(&format!(
                "kaohe --db 账本目录 export --as-of-seq {seq} > x.jsonl && kaohe verify --export x.jsonl --head {hash}"
            )),
        );
    }
    if let Some(p) = previous {
        let _ = writeln!(
            h,
            "<li>本账本接续上一年度（{}）。核对创世事件所记即上一年度账本的封账链头，且上一年度账本验证无误：\
             <pre>kaohe --db 账本目录 verify --follows 上一年度账本目录</pre></li>",
            previous_year(p),
        );
    }
    h.push_str(
        "<li>任一事件可按哈希查看原文：<code>kaohe show --hash 哈希</code>；任一站点的说明：\
         <code>kaohe explain --station 站点</code>。</li>\n</ol>\n\
         <p class=\"muted\">每个事件的哈希是 BLAKE3（derive-key “kaohe event v1”）对前一事件哈希与本事件存储字节的计算结果，\
         逐个相连成链（格式见 schema/EVENTS.md）；改动任何一个事件都会改变它之后的全部哈希，验证即告失败。\
         验证通过且链中包含公布的哈希，即证明本报告所列的记录在该哈希之前未被改动。</p>\n</section>\n",
    );
    let _ = writeln!(
        h,
        "<footer>由 kaohe {} 根据账本事件生成；同一账本状态与视图生成的报告逐字节相同。</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(escape("湖塘司法所"), "湖塘司法所");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn bins_cover_every_total() {
        let t: Vec<Decimal> = ["95.5", "100", "88", "103.2", "100"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (lo, width, counts) = bins(&t);
        assert_eq!(counts.iter().sum::<usize>(), 5);
        assert!(lo <= Decimal::from(88));
        assert!(lo + width * Decimal::from(counts.len()) > "103.2".parse::<Decimal>().unwrap());
        assert!(counts.len() <= 24);
        let (_, _, one) = bins(&[Decimal::from(100)]);
        assert_eq!(one, vec![1]);
        let (_, _, none) = bins(&[]);
        assert!(none.is_empty());
    }
}
