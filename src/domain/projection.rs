//! Projections: pure folds over events. A score is never stored; it is always rebuilt.
//!
//! Score = base − applied deductions + applied bonus, where the applied deductions of an item
//! never exceed its points, the applied bonus of an item never exceeds its points, and the total
//! bonus never exceeds the rubric's bonus cap. The raw figures stay beside the applied ones.

use crate::base::decimal::canonical as c;
use crate::domain::rubric::{ItemFigures, Rubric, SheetFigures};
use crate::events::event::{Body, EventKind, StationKind, StationRegistered};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// An event that cannot be scored: the ledger is damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event at seq {seq} cannot be scored: {message}")]
pub struct ProjectionError {
    pub seq: u64,
    pub message: String,
}

/// One item of one station's score. Codes and names borrow from the rubric. The figures are on
/// the item's own scale (`max`, its full marks); `counts` is what they count for in the total
/// (the same figure unless the item is a weighted indicator: `weight × applied / max`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemScore<'r> {
    pub item: &'r str,
    pub name: &'r str,
    pub max: Decimal,
    /// The points the item counts for in the total (the rubric's `points`).
    pub weight: Decimal,
    pub bonus: bool,
    pub deducted: Decimal,
    pub awarded: Decimal,
    pub raw_deducted: Decimal,
    pub raw_awarded: Decimal,
    /// The applied deduction (or, for a bonus item, award) as it counts in the total.
    pub counts: Decimal,
    /// Events that contributed.
    pub events: u32,
}

impl ItemScore<'_> {
    /// True when the item's cap cut the raw figure.
    pub fn capped(&self) -> bool {
        self.deducted != self.raw_deducted || self.awarded != self.raw_awarded
    }
}

/// One station's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationScore<'r> {
    pub station: String,
    pub name: String,
    pub kind: StationKind,
    pub total: Decimal,
    pub deducted: Decimal,
    pub awarded: Decimal,
    pub raw_deducted: Decimal,
    pub raw_awarded: Decimal,
    /// Bonus of the items after their own caps, before the total bonus cap.
    pub awarded_before_cap: Decimal,
    /// Place by total; equal totals share the better place.
    pub rank: u32,
    pub items: Vec<ItemScore<'r>>,
    /// Each sheet's part of the score (one assessor's scoring of one sub-period), when the
    /// rubric combines several; empty otherwise. The station's figures above are their
    /// weighted sums.
    pub sheets: Vec<SheetScore<'r>>,
}

/// One sheet's part of a station's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetScore<'r> {
    pub period: &'r str,
    pub period_name: &'r str,
    pub assessor: &'r str,
    pub assessor_name: &'r str,
    /// The sheet's weight in the score, as a fraction (0.2 for 40 % × 50 %).
    pub weight: Decimal,
    pub total: Decimal,
    pub deducted: Decimal,
    pub awarded: Decimal,
}

#[derive(Debug, Clone)]
struct StationState {
    code: String,
    name: String,
    kind: StationKind,
    /// Raw findings by slot (`Rubric::record_slot`): a bonus item's awards or any other
    /// item's deductions, and the events that contributed.
    points: Vec<Decimal>,
    events: Vec<u32>,
}

/// The score fold: feed it events in seq order, then read the scores.
#[derive(Debug, Clone)]
pub struct Scores<'r> {
    rubric: &'r Rubric,
    stations: Vec<StationState>,
    /// station code → index in `stations`
    by_code: BTreeMap<String, usize>,
    /// Every record folded in: seq → (station, slot, points that stand), so that an
    /// appeal's decision or a reversal can correct it.
    records: std::collections::HashMap<u64, (usize, usize, Decimal)>,
}

impl<'r> Scores<'r> {
    pub fn new(rubric: &'r Rubric) -> Self {
        Scores {
            rubric,
            stations: Vec::new(),
            by_code: BTreeMap::new(),
            records: std::collections::HashMap::new(),
        }
    }

    /// Registers a station (idempotent by code); returns its index for [`Scores::add`].
    pub fn register(&mut self, s: &StationRegistered) -> usize {
        if let Some(i) = self.by_code.get(&s.code) {
            return *i;
        }
        let i = self.stations.len();
        self.stations.push(StationState {
            code: s.code.clone(),
            name: s.name.clone(),
            kind: s.kind,
            points: vec![Decimal::ZERO; self.rubric.slot_count()],
            events: vec![0; self.rubric.slot_count()],
        });
        self.by_code.insert(s.code.clone(), i);
        i
    }

    /// Adds a record's points (or, from the tally, the sum of `events` records' points) to
    /// a slot of a station (`Rubric::record_slot`).
    pub fn add(&mut self, station: usize, slot: usize, points: Decimal, events: u32) {
        let st = &mut self.stations[station];
        st.points[slot] += points;
        st.events[slot] += events;
    }

    /// Corrects the points of an item by `delta` (an appeal's decision or a reversal), without
    /// counting an event.
    fn adjust(&mut self, station: usize, position: usize, delta: Decimal) {
        self.add(station, position, delta, 0);
    }

    /// Folds one event in. An event the write path could never have produced (a clause the
    /// rubric lacks, an unregistered station) is damage, reported rather than scored.
    pub fn apply(&mut self, body: &Body) -> Result<(), ProjectionError> {
        let damaged = |message: String| ProjectionError {
            seq: body.seq(),
            message,
        };
        match body.kind() {
            EventKind::StationRegistered(s) => {
                self.register(s);
            }
            EventKind::PointsRecorded(p) => {
                let rubric = self.rubric;
                rubric
                    .clause(&p.clause)
                    .ok_or_else(|| damaged(format!("clause {} is not in the rubric", p.clause)))?;
                let station = *self
                    .by_code
                    .get(&p.station)
                    .ok_or_else(|| damaged(format!("station {} is not registered", p.station)))?;
                let position = rubric
                    .record_slot(&p.clause, &p.by, p.occurred)
                    .ok_or_else(|| {
                        damaged(format!(
                            "the record by {} on {} counts on no sheet",
                            p.by, p.occurred
                        ))
                    })?;
                self.add(station, position, p.computed_points, 1);
                self.records
                    .insert(body.seq(), (station, position, p.computed_points));
            }
            EventKind::AppealFiled(_)
            | EventKind::AppealDecided(_)
            | EventKind::RecordReversed(_) => {
                // A correction of a record out of view (by its occurred date) changes nothing
                // in view; that it names a real record is the audit's to check.
                let target = body.kind().dispute_target().unwrap_or(u64::MAX);
                if let Some((station, position, points)) = self.records.get_mut(&target) {
                    let after = crate::domain::dispute::points_after(body.kind(), *points);
                    let delta = after - *points;
                    *points = after;
                    let (station, position) = (*station, *position);
                    self.adjust(station, position, delta);
                }
            }
            EventKind::LedgerCreated(_)
            | EventKind::LedgerFollows(_)
            | EventKind::MetricReported(_)
            | EventKind::PeriodClosed(_)
            | EventKind::KeyRegistered(_)
            | EventKind::KeyRevoked(_)
            | EventKind::SignaturesRequired
            | EventKind::RootKey(_) => {}
        }
        Ok(())
    }

    /// The scores, ranked by total (best first; ties by station code).
    pub fn finish(&self) -> Vec<StationScore<'r>> {
        let mut out: Vec<StationScore> = self
            .stations
            .iter()
            .map(|st| self.station_score(st))
            .collect();
        rank(&mut out);
        out
    }

    fn station_score(&self, st: &StationState) -> StationScore<'r> {
        let rubric: &'r Rubric = self.rubric;
        let n = rubric.slots_per_sheet();
        let figures: Vec<SheetFigures> = (0..rubric.sheet_count())
            .map(|s| rubric.sheet_figures(&st.points[s * n..(s + 1) * n]))
            .collect();
        let mut events = vec![0u32; rubric.items().count()];
        for (slot, n) in st.events.iter().enumerate() {
            if let Some(position) = rubric.slot_item(slot) {
                events[position] += n;
            }
        }
        let zero = Decimal::ZERO;
        let (mut raw_deducted, mut raw_awarded) = (zero, zero);
        let mut items = Vec::with_capacity(events.len());
        for (position, item) in rubric.items().enumerate() {
            let f = |pick: fn(&ItemFigures) -> Decimal| {
                rubric.combine(|s| pick(&figures[s].items[position]))
            };
            let (raw, applied, counts) = (f(|x| x.raw), f(|x| x.applied), f(|x| x.counts));
            let side = |b: bool| if b { applied } else { zero };
            let raw_side = |b: bool| if b { raw } else { zero };
            match item.bonus {
                true => raw_awarded += raw,
                false => raw_deducted += raw,
            }
            items.push(ItemScore {
                item: &item.code,
                name: &item.name,
                max: item.full_marks,
                weight: item.points,
                bonus: item.bonus,
                deducted: side(!item.bonus),
                awarded: side(item.bonus),
                raw_deducted: raw_side(!item.bonus),
                raw_awarded: raw_side(item.bonus),
                counts,
                events: events[position],
            });
        }
        let sheets = match rubric.has_sheets() {
            false => Vec::new(),
            true => figures
                .iter()
                .enumerate()
                .map(|(s, f)| {
                    let (p, a) = rubric.sheet_parts(s);
                    let (period, assessor) = (&rubric.periods[p], &rubric.assessors[a]);
                    SheetScore {
                        period: &period.code,
                        period_name: &period.name,
                        assessor: &assessor.code,
                        assessor_name: &assessor.name,
                        weight: c(rubric.sheet_weight(s)),
                        total: f.total,
                        deducted: f.deducted,
                        awarded: f.awarded,
                    }
                })
                .collect(),
        };
        // The total and the bonus are the sheets' weighted sums; the deduction is what makes
        // total = base − deducted + awarded hold exactly (each weighted sum is rounded to 6
        // places on its own, so Σ weight × deducted could differ from it by 0.000001).
        let total = rubric.combine(|s| figures[s].total);
        let awarded = rubric.combine(|s| figures[s].awarded);
        StationScore {
            station: st.code.clone(),
            name: st.name.clone(),
            kind: st.kind,
            total,
            deducted: c(rubric.base_points + awarded - total),
            awarded,
            raw_deducted: c(raw_deducted),
            raw_awarded: c(raw_awarded),
            awarded_before_cap: rubric.combine(|s| figures[s].awarded_before_cap),
            rank: 0,
            items,
            sheets,
        }
    }
}

/// Sorts by total, best first (ties by code), and gives each its place: equal totals share
/// the better place (1, 2, 2, 4).
pub fn rank(scores: &mut [StationScore]) {
    scores.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.station.cmp(&b.station))
    });
    let mut place = 0u32;
    let mut last: Option<Decimal> = None;
    for (i, s) in scores.iter_mut().enumerate() {
        if last != Some(s.total) {
            place = i as u32 + 1;
            last = Some(s.total);
        }
        s.rank = place;
    }
}
