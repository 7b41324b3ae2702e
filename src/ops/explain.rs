//! Explain: from a station's total down to each item, each clause and each event — the rule
//! in the seed's words, the inputs and the arithmetic, raw and applied points, where a cap bit,
//! who recorded it, when, and the evidence. A fold over the same events as the score.

use crate::domain::projection::{ItemScore, Scores, StationScore};
use crate::domain::rubric::{Clause, Item, Working};
use crate::events::event::{Body, EventKind, Hash, MetricReported, PointsRecorded, StationKind};
use crate::ledger::query::View;
use crate::ledger::{Ledger, LedgerError};
use crate::ops::appeals::{stories, DisputeStory};
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One recorded deduction or bonus, with where it stands in the chain.
#[derive(Debug, Clone)]
pub struct EventStory {
    pub seq: u64,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub record: PointsRecorded,
    pub working: Working,
    /// The points that stand in view after appeals and reversals (`computed_points` when
    /// there were none).
    pub standing: Decimal,
    /// The part of `standing` that counts after the item's cap and its sub-part's floor and
    /// points (events count in seq order, on their sheet, until a limit is reached).
    pub applied: Decimal,
    /// The limit that kept `applied` below `standing`, for people (`the item cap of 7`).
    pub limited_by: Option<String>,
    /// The same limit in Chinese, for the pages and the report (`分项 1.1.1 组织网络最低保留 20 分`).
    pub limited_by_zh: Option<String>,
    /// The sheet it counts on (`上半年·区局`), in a rubric of several sheets.
    pub sheet: Option<String>,
    /// Its appeals, decisions and reversals in view, oldest first.
    pub disputes: Vec<DisputeStory>,
}

#[derive(Debug, Clone)]
pub struct ClauseStory<'r> {
    pub clause: &'r Clause,
    pub raw: Decimal,
    pub events: Vec<EventStory>,
}

#[derive(Debug, Clone)]
pub struct ItemStory<'r> {
    pub item: &'r Item,
    pub score: ItemScore<'r>,
    pub clauses: Vec<ClauseStory<'r>>,
}

/// A metric report of the station (the latest per metric in view).
#[derive(Debug, Clone)]
pub struct MetricStory {
    pub seq: u64,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub report: MetricReported,
}

#[derive(Debug, Clone)]
pub struct Explanation<'r> {
    pub score: StationScore<'r>,
    /// Stations ranked in this view.
    pub stations: usize,
    pub items: Vec<ItemStory<'r>>,
    pub metrics: Vec<MetricStory>,
    pub view: View,
}

fn refused(field: &str, message: String, zh: String) -> LedgerError {
    LedgerError::Refused {
        line: None,
        field: field.into(),
        message,
        zh,
    }
}

/// Explains one station's score in a view, optionally one item only.
pub fn explain<'r>(
    ledger: &'r Ledger,
    view: &View,
    station: &str,
    item: Option<&str>,
) -> Result<Explanation<'r>, LedgerError> {
    let rubric = ledger.rubric();
    if let Some(code) = item {
        if rubric.item(code).is_none() {
            return Err(refused(
                "item",
                format!("unknown item `{code}`"),
                format!("考核细则中没有项目“{code}”"),
            ));
        }
    }
    let (reg_seq, ordinal) = registered(ledger, view, station)?;
    // At the head, the station's postings and every station's aggregate answer without a
    // scan; in any other view, one pass over the tally.
    let at_head = view.end == ledger.head().next_seq && view.at.is_none();
    let (ranked, seqs) = if at_head {
        (None, crate::ledger::tally::postings(ledger, ordinal)?)
    } else {
        let (score, stations, seqs) = crate::ledger::tally::one_station(ledger, view, ordinal)?;
        (Some((score, stations)), seqs)
    };
    let mut own = Scores::new(rubric);
    let gathered = gather(ledger, station, reg_seq, seqs, |body| {
        own.apply(body)?;
        Ok(true)
    })?;
    let (score, stations) = match ranked {
        Some(ranked) => ranked,
        None => {
            let mut score = own
                .finish()
                .pop()
                .ok_or_else(|| unknown_station(view, station))?;
            let (rank, stations) = crate::ledger::tally::head_rank(ledger, score.total)?;
            score.rank = rank;
            (score, stations)
        }
    };
    Ok(gathered.explanation(rubric, view, score, stations, item))
}

/// One station's story when its score and rank in the view are already known (`report` ranks
/// every station once with [`crate::ledger::tally::scores`]): its events come from its postings, cut
/// to the view, so a story costs the station's own events — where [`explain`] per station
/// would rank (at the head) or scan the tally (in any other view) once per station. Gives what
/// [`explain`] gives in the same view (tested in `report`).
pub fn explain_scored<'r>(
    ledger: &'r Ledger,
    view: &View,
    score: StationScore<'r>,
    stations: usize,
) -> Result<Explanation<'r>, LedgerError> {
    let station = score.station.clone();
    let (reg_seq, ordinal) = registered(ledger, view, &station)?;
    let seqs = crate::ledger::tally::postings(ledger, ordinal)?
        .into_iter()
        .filter(|s| *s < view.end);
    let gathered = gather(ledger, &station, reg_seq, seqs, |body| {
        Ok(view.includes(body))
    })?;
    Ok(gathered.explanation(ledger.rubric(), view, score, stations, None))
}

fn unknown_station(view: &View, station: &str) -> LedgerError {
    refused(
        "station",
        format!(
            "unknown station `{station}` (in this view, up to seq {})",
            view.last_seq()
        ),
        format!(
            "没有司法所“{station}”（在截至第 {} 号事件的视图中）",
            view.last_seq()
        ),
    )
}

/// A station's registration seq and ordinal, when it is registered in the view.
fn registered(ledger: &Ledger, view: &View, station: &str) -> Result<(u64, u32), LedgerError> {
    let (reg_seq, ordinal) = ledger
        .station_ordinal(station)?
        .ok_or_else(|| unknown_station(view, station))?;
    if reg_seq >= view.end {
        return Err(unknown_station(view, station));
    }
    Ok((reg_seq, ordinal))
}

/// What a station's events tell, gathered from its registration and `seqs`.
struct Gathered {
    kind: StationKind,
    records: Vec<(u64, Hash, Timestamp, PointsRecorded)>,
    disputes: Disputes,
    metrics: BTreeMap<String, MetricStory>,
}

/// Reads the registration and each of `seqs` (checked), keeping the events `keep` accepts.
fn gather(
    ledger: &Ledger,
    station: &str,
    reg_seq: u64,
    seqs: impl IntoIterator<Item = u64>,
    mut keep: impl FnMut(&Body) -> Result<bool, LedgerError>,
) -> Result<Gathered, LedgerError> {
    let mut kind: Option<StationKind> = None;
    let mut records = Vec::new();
    let mut disputes: Disputes = BTreeMap::new();
    let mut metrics: BTreeMap<String, MetricStory> = BTreeMap::new();
    for seq in std::iter::once(reg_seq).chain(seqs) {
        ledger.replay(seq, seq + 1, |e| {
            if keep(e.body)? {
                collect(
                    e.body,
                    station,
                    &mut kind,
                    &mut records,
                    &mut disputes,
                    &mut metrics,
                    e.hash,
                );
            }
            Ok(true)
        })?;
    }
    let kind = kind.ok_or_else(|| LedgerError::Damaged {
        seq: reg_seq,
        message: format!("the station index points at an event that does not register {station}"),
    })?;
    Ok(Gathered {
        kind,
        records,
        disputes,
        metrics,
    })
}

impl Gathered {
    fn explanation<'r>(
        self,
        rubric: &'r crate::domain::rubric::Rubric,
        view: &View,
        score: StationScore<'r>,
        stations: usize,
        item: Option<&str>,
    ) -> Explanation<'r> {
        let items = score
            .items
            .iter()
            .filter(|i| item.is_none_or(|code| i.item == code))
            .filter_map(|i| {
                let it = rubric.item(i.item)?;
                Some(item_story(
                    rubric,
                    it,
                    i.clone(),
                    self.kind,
                    &self.records,
                    &self.disputes,
                ))
            })
            .collect();
        Explanation {
            score,
            stations,
            items,
            metrics: self.metrics.into_values().collect(),
            view: *view,
        }
    }
}

/// A record's dispute events in view: record seq → (seq, hash, recorded at, event).
type Disputes = BTreeMap<u64, Vec<(u64, Hash, Timestamp, EventKind)>>;

fn collect(
    body: &Body,
    station: &str,
    kind: &mut Option<StationKind>,
    records: &mut Vec<(u64, Hash, Timestamp, PointsRecorded)>,
    disputes: &mut Disputes,
    metrics: &mut BTreeMap<String, MetricStory>,
    hash: &Hash,
) {
    if let Some(target) = body.kind().dispute_target() {
        if body.kind().station() == Some(station) {
            disputes.entry(target).or_default().push((
                body.seq(),
                *hash,
                body.recorded_at(),
                body.kind().clone(),
            ));
        }
        return;
    }
    match body.kind() {
        EventKind::StationRegistered(s) if s.code == station => *kind = Some(s.kind),
        EventKind::PointsRecorded(p) if p.station == station => {
            records.push((body.seq(), *hash, body.recorded_at(), p.clone()))
        }
        EventKind::MetricReported(m) if m.station == station => {
            metrics.insert(
                m.metric.clone(),
                MetricStory {
                    seq: body.seq(),
                    hash: *hash,
                    recorded_at: body.recorded_at(),
                    report: m.clone(),
                },
            );
        }
        _ => {}
    }
}

/// What already counts on one sheet of an item, for the next event's room.
#[derive(Default, Clone)]
struct Used {
    item: Decimal,
    /// Per sub-part: (ordinary findings, all findings).
    parts: Vec<(Decimal, Decimal)>,
}

impl Used {
    /// How much of `standing` counts, and the limit that bit (in English and in Chinese):
    /// the item's cap, then the sub-part's points and (for an ordinary finding) its floor.
    fn apply(
        &mut self,
        item: &Item,
        clause: &Clause,
        standing: Decimal,
    ) -> (Decimal, Option<(String, String)>) {
        let mut applied = standing;
        let mut limit = None;
        let mut cut = |room: Decimal, why: (String, String), applied: &mut Decimal| {
            let room = room.max(Decimal::ZERO);
            if room < *applied {
                *applied = room;
                limit = Some(why);
            }
        };
        if let Some(room) = item.room(self.item) {
            cut(
                room,
                (
                    format!("the item cap of {}", item.full_marks),
                    format!("项目上限 {} 分", item.full_marks),
                ),
                &mut applied,
            );
        }
        if let Some((i, part)) = clause.part.and_then(|i| Some((i, item.parts.get(i)?))) {
            self.parts.resize(item.parts.len(), Default::default());
            let (ordinary, all) = self.parts[i];
            cut(
                part.points - all,
                (
                    format!("sub-part {}'s {} points", part.code, part.points),
                    format!("分项 {} {}满分 {} 分", part.code, part.name, part.points),
                ),
                &mut applied,
            );
            if !clause.severe {
                let why = (
                    format!("sub-part {}'s floor of {}", part.code, part.floor),
                    format!("分项 {} {}最低保留 {} 分", part.code, part.name, part.floor),
                );
                cut(part.points - part.floor - ordinary, why, &mut applied);
                self.parts[i].0 += applied;
            }
            self.parts[i].1 += applied;
        }
        self.item += applied;
        (applied, limit)
    }
}

fn item_story<'r>(
    rubric: &'r crate::domain::rubric::Rubric,
    item: &'r Item,
    score: ItemScore<'r>,
    kind: StationKind,
    records: &[(u64, Hash, Timestamp, PointsRecorded)],
    disputes: &Disputes,
) -> ItemStory<'r> {
    // Applied points: events count in seq order, each on its sheet, until the item's cap or
    // its sub-part's points or floor is reached (an item that is not capped counts every
    // event in full, within its sub-parts' limits).
    let mut used: Vec<Used> = vec![Used::default(); rubric.sheet_count()];
    let mut clauses: Vec<ClauseStory<'r>> = item
        .clauses
        .iter()
        .map(|clause| ClauseStory {
            clause,
            raw: Decimal::ZERO,
            events: Vec::new(),
        })
        .collect();
    for (seq, hash, at, p) in records {
        let Some(c) = clauses.iter_mut().find(|c| c.clause.code == p.clause) else {
            continue;
        };
        let history = stories(
            p.computed_points,
            disputes.get(seq).into_iter().flatten().cloned(),
        );
        let standing = history.last().map_or(p.computed_points, |d| d.after);
        let sheet = rubric.sheet_of(&p.by, p.occurred).unwrap_or(0);
        let (applied, limit) = match used.get_mut(sheet) {
            Some(u) => u.apply(item, c.clause, standing),
            None => (standing, None),
        };
        let (limited_by, limited_by_zh) = limit.unzip();
        c.raw += standing;
        c.events.push(EventStory {
            seq: *seq,
            hash: *hash,
            recorded_at: *at,
            working: c.clause.rule.working(kind, &p.inputs, p.computed_points),
            record: p.clone(),
            standing,
            applied: crate::base::decimal::canonical(applied),
            limited_by,
            limited_by_zh,
            sheet: rubric.has_sheets().then(|| rubric.sheet_name(sheet)),
            disputes: history,
        });
    }
    for c in &mut clauses {
        c.raw = crate::base::decimal::canonical(c.raw);
    }
    ItemStory {
        item,
        score,
        clauses,
    }
}
