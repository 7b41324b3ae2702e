//! The tally: a compact, derived copy of what scores need, so that questions about 40,000
//! stations and a million events are answered by scanning fixed 42-byte rows instead of
//! decoding every event. It is a cache of the events: written in the same commit, checked row
//! by row by `verify`, and tested to give exactly the scores a replay gives.
//!
//! Row (little endian): seq u64 | recorded_at_us i64 | occurred u32 (yyyymmdd) |
//! station ordinal u32 | item position u16 | computed points (rust_decimal's 16-byte form).
//!
//! Station entry: registration seq u64 | kind u8 | code length u8 | code | name.

use crate::domain::projection::{Scores, StationScore};
use crate::domain::rubric::Rubric;
use crate::events::event::{Body, EventKind};
use crate::ledger::query::View;
use crate::ledger::{Ledger, LedgerError};
use crate::store::{Log, StoreError};
use rust_decimal::Decimal;

use crate::domain::rows::*;

fn corrupt(what: &str) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt(format!(
        "the tally's {what} is malformed"
    )))
}

/// Every station's score in a view, from the tally, after checking the chain's links since
/// the last full verification ([`Ledger::check_links_since_verified`]). Gives exactly what a
/// replay of the view through [`Scores`] gives (tested), without decoding events: a view of
/// the whole ledger at its head from each station's aggregate (O(stations)), any other from
/// the tally rows in view.
///
/// A view that shows the final scores (it includes the closing event and the whole period)
/// is checked against the closing event, which seals every station's total and rank in the
/// chain: a tally that disagrees is damage, never printed as final.
pub fn scores<'r>(ledger: &'r Ledger, view: &View) -> Result<Vec<StationScore<'r>>, LedgerError> {
    ledger.check_links_since_verified(view.end)?;
    let scores = scores_unchecked(ledger, view)?;
    if let Some(seq) = ledger.final_at(view) {
        check_sealed(ledger, seq, &scores)?;
    }
    Ok(scores)
}

/// The stations whose total or rank differs from the final scores sealed at `seq`.
fn check_sealed(ledger: &Ledger, seq: u64, scores: &[StationScore<'_>]) -> Result<(), LedgerError> {
    let mut sealed = None;
    ledger.replay(seq, seq + 1, |e| {
        if let EventKind::PeriodClosed(c) = e.body.kind() {
            sealed = Some(c.scores.clone());
        }
        Ok(false)
    })?;
    let sealed = sealed.ok_or_else(|| LedgerError::Damaged {
        seq,
        message: "the head says the period was closed here, but this is no closing event".into(),
    })?;
    let by_station: std::collections::HashMap<&str, (Decimal, u32)> = sealed
        .iter()
        .map(|f| (f.station.as_str(), (f.total, f.rank)))
        .collect();
    let differ: Vec<String> = scores
        .iter()
        .filter_map(|s| match by_station.get(s.station.as_str()) {
            Some(&(total, rank)) if total == s.total && rank == s.rank => None,
            Some(&(total, rank)) => Some(format!(
                "{} (the tally gives {} at place {}, the closing event {} at place {})",
                s.station, s.total, s.rank, total, rank
            )),
            None => Some(format!("{} (not in the closing event)", s.station)),
        })
        .collect();
    if differ.is_empty() && scores.len() == sealed.len() {
        return Ok(());
    }
    Err(LedgerError::Damaged {
        seq,
        message: format!(
            "the tally disagrees with the final scores sealed in the closing event for {}: the tally was damaged or edited",
            if differ.is_empty() { "the number of stations".to_string() } else { differ.join(", ") }
        ),
    })
}

/// A per (station, item) sum in integer units of 10^-FIXED_SCALE (every computed figure has at
/// most that many places; a row that does not is damage).
#[derive(Clone, Copy, Default)]
struct Sum {
    fixed: i128,
    events: u32,
}

impl Sum {
    /// Adds a figure; `None` when it cannot be a computed figure (damage).
    fn add(&mut self, d: Decimal) -> Option<()> {
        self.fixed = self.fixed.checked_add(fixed(d)?)?;
        self.events += 1;
        Some(())
    }

    /// Adds a correction to earlier figures (not an event of its own).
    fn adjust(&mut self, d: Decimal) -> Option<()> {
        self.fixed = self.fixed.checked_add(fixed(d)?)?;
        Some(())
    }

    fn total(&self) -> Option<Decimal> {
        from_fixed(self.fixed)
    }
}

/// What one pass over the tally gathers for a view.
struct Scan {
    /// Station entries by ordinal; `None` for stations registered after the view.
    stations: Vec<Option<StationEntry>>,
    /// Sums by `ordinal * n_slots + slot` (`Rubric::record_slot`).
    sums: Vec<Sum>,
    n_slots: usize,
    /// The seqs of the watched station's rows in view (records and metric reports).
    watched: Vec<u64>,
}

fn scan(ledger: &Ledger, view: &View, watch: Option<u32>) -> Result<Scan, LedgerError> {
    if watch.is_none() && at_head(ledger, view) {
        return head_scan(ledger);
    }
    let store = ledger.store();
    let stations: Vec<Option<StationEntry>> = checked_stations(ledger)?
        .into_iter()
        .map(|entry| (entry.seq < view.end).then_some(entry))
        .collect();
    let n_slots = ledger.rubric().slot_count();
    let mut sums: Vec<Sum> = vec![Sum::default(); stations.len() * n_slots];
    let mut watched = Vec::new();
    let at = view.at.map(day_number);
    let mut bad = None;
    store.for_each_log_entry(Log::Tally, 0, |_, e| {
        let Some(row) = Row::decode(e) else {
            bad = Some(corrupt("row"));
            return Ok(false);
        };
        if row.seq >= view.end {
            return Ok(false);
        }
        if at.is_some_and(|d| row.occurred > d) {
            return Ok(true);
        }
        let in_view = stations
            .get(row.station as usize)
            .is_some_and(Option::is_some);
        if !in_view {
            bad = Some(corrupt("row's station"));
            return Ok(false);
        }
        if watch == Some(row.station) {
            watched.push(row.seq);
        }
        if row.is_metric() {
            return Ok(true);
        }
        let (item, dispute) = match row.dispute_item() {
            Some(item) => (usize::from(item), true),
            None => (usize::from(row.item), false),
        };
        if item >= n_slots {
            bad = Some(corrupt("row's item"));
            return Ok(false);
        }
        let sum = &mut sums[row.station as usize * n_slots + item];
        let added = match dispute {
            true => sum.adjust(row.points),
            false => sum.add(row.points),
        };
        if added.is_none() {
            bad = Some(corrupt("row's points"));
            return Ok(false);
        }
        Ok(true)
    })?;
    match bad {
        Some(e) => Err(e),
        None => Ok(Scan {
            stations,
            sums,
            n_slots,
            watched,
        }),
    }
}

/// True when a view holds every event and every occurred date: its sums are the stations'
/// aggregates.
fn at_head(ledger: &Ledger, view: &View) -> bool {
    view.end == ledger.head().next_seq && view.at.is_none()
}

/// The sums of a view of the whole ledger, from the `Aggregate` index (each station's sums
/// by slot at the head, written in the commit that changed them) instead of every tally row:
/// O(stations), not O(events). It holds exactly what [`scan`] adds up for that view (the write
/// path adds a record's points and counts the record, and adds a correction's change without
/// counting it, as the scan does; `verify` checks each aggregate against the events, and the
/// tests hold the two paths to each other and to a replay).
fn head_scan(ledger: &Ledger) -> Result<Scan, LedgerError> {
    let stations: Vec<Option<StationEntry>> =
        checked_stations(ledger)?.into_iter().map(Some).collect();
    let n_slots = ledger.rubric().slot_count();
    let mut sums: Vec<Sum> = vec![Sum::default(); stations.len() * n_slots];
    let mut seen = vec![false; stations.len()];
    let mut bad = None;
    ledger
        .store()
        .index_for_each(crate::store::Index::Aggregate, |k, v| {
            let ordinal = <[u8; 4]>::try_from(k).map(u32::from_be_bytes);
            let aggregate = Aggregate::decode(v);
            let (Ok(ordinal), Some(aggregate)) = (ordinal, aggregate) else {
                bad = Some(corrupt("aggregate"));
                return Ok(());
            };
            let ordinal = ordinal as usize;
            if seen.get(ordinal) != Some(&false) {
                bad = Some(corrupt("aggregate's station"));
                return Ok(());
            }
            seen[ordinal] = true;
            for (slot, (fixed, events)) in aggregate.items {
                let slot = usize::from(slot);
                if slot >= n_slots || events == 0 {
                    bad = Some(corrupt("aggregate's slot"));
                    return Ok(());
                }
                if from_fixed(fixed).is_none() {
                    bad = Some(corrupt("aggregate's sum"));
                    return Ok(());
                }
                sums[ordinal * n_slots + slot] = Sum { fixed, events };
            }
            Ok(())
        })?;
    match bad {
        Some(e) => Err(e),
        None => Ok(Scan {
            stations,
            sums,
            n_slots,
            watched: Vec::new(),
        }),
    }
}

/// The station log, checked against the chain: an entry's ordinal decides which station a
/// tally row counts for, so an edited log would move points between stations. Each entry
/// must be the registration event at its seq, in registration order, one per registered
/// station. Reads only the registration events (their blocks), not the whole chain.
fn checked_stations(ledger: &Ledger) -> Result<Vec<StationEntry>, LedgerError> {
    let mut entries: Vec<StationEntry> = Vec::new();
    ledger
        .store()
        .for_each_log_entry(Log::Stations, 0, |_, e| {
            let entry = StationEntry::decode(e)
                .ok_or_else(|| StoreError::Corrupt("station entry".into()))?;
            entries.push(entry);
            Ok(true)
        })?;
    let head = ledger.head();
    if entries.len() as u64 != head.stations {
        return Err(station_log_damaged(
            head.next_seq.saturating_sub(1),
            format!(
                "the station log holds {} entries where the head counts {} stations",
                entries.len(),
                head.stations
            ),
        ));
    }
    if let Some(i) = entries.windows(2).position(|w| w[0].seq >= w[1].seq) {
        let (a, b) = (&entries[i], &entries[i + 1]);
        return Err(station_log_damaged(
            b.seq,
            format!(
                "its entries {i} and {} ({} at seq {}, {} at seq {}) are out of registration order",
                i + 1,
                a.station.code,
                a.seq,
                b.station.code,
                b.seq
            ),
        ));
    }
    for_each_registration(ledger, &entries, |entry, kind| match kind {
        EventKind::StationRegistered(s) if *s == entry.station => Ok(()),
        _ => Err(station_log_damaged(
            entry.seq,
            format!(
                "it names {} at seq {}, where the chain has no such registration",
                entry.station.code, entry.seq
            ),
        )),
    })?;
    Ok(entries)
}

/// Calls `f` with each entry and the event at its seq, reading the chain in runs of nearby
/// seqs (entries are in seq order), so each block is read once.
fn for_each_registration(
    ledger: &Ledger,
    entries: &[StationEntry],
    mut f: impl FnMut(&StationEntry, &EventKind) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    let gap = crate::base::limits::EVENTS_PER_BLOCK;
    let mut start = 0;
    while start < entries.len() {
        let mut end = start + 1;
        while end < entries.len() && entries[end].seq - entries[end - 1].seq <= gap {
            end += 1;
        }
        let run = &entries[start..end];
        let mut next = 0;
        ledger.replay(run[0].seq, run[run.len() - 1].seq + 1, |e| {
            if e.seq == run[next].seq {
                f(&run[next], e.body.kind())?;
                next += 1;
            }
            Ok(next < run.len())
        })?;
        if next < run.len() {
            return Err(station_log_damaged(
                run[next].seq,
                "it names an event the chain does not hold".into(),
            ));
        }
        start = end;
    }
    Ok(())
}

fn station_log_damaged(seq: u64, why: String) -> LedgerError {
    LedgerError::Damaged {
        seq,
        message: format!(
            "the station log disagrees with the chain: {why}; scores from it would count points for the wrong stations"
        ),
    }
}

/// Folds the sums of the stations `keep` accepts into scores.
fn fold_scan<'r>(
    rubric: &'r Rubric,
    scan: &Scan,
    keep: impl Fn(u32) -> bool,
) -> Result<Vec<StationScore<'r>>, LedgerError> {
    let mut fold = Scores::new(rubric);
    let mut index = vec![None; scan.stations.len()];
    for (ordinal, entry) in scan.stations.iter().enumerate() {
        if let Some(entry) = entry.as_ref().filter(|_| keep(ordinal as u32)) {
            index[ordinal] = Some(fold.register(&entry.station));
        }
    }
    for (i, sum) in scan.sums.iter().enumerate().filter(|(_, s)| s.events > 0) {
        if let Some(station) = index[i / scan.n_slots] {
            let total = sum.total().ok_or_else(|| corrupt("sum of rows"))?;
            fold.add(station, i % scan.n_slots, total, sum.events);
        }
    }
    Ok(fold.finish())
}

/// [`scores`] without the link check.
pub(crate) fn scores_unchecked<'r>(
    ledger: &'r Ledger,
    view: &View,
) -> Result<Vec<StationScore<'r>>, LedgerError> {
    let scan = scan(ledger, view, None)?;
    fold_scan(ledger.rubric(), &scan, |_| true)
}

/// One station's score (with its rank among the stations in view), how many stations there
/// are, and the seqs of its records and metric reports — in one pass over the tally, without
/// building every station's score (explain).
pub(crate) fn one_station<'r>(
    ledger: &'r Ledger,
    view: &View,
    ordinal: u32,
) -> Result<(StationScore<'r>, usize, Vec<u64>), LedgerError> {
    let rubric = ledger.rubric();
    let scan = scan(ledger, view, Some(ordinal))?;
    let mut score = fold_scan(rubric, &scan, |o| o == ordinal)?
        .pop()
        .ok_or_else(|| corrupt("station"))?;
    let totals = totals(rubric, &scan)?;
    let stations = totals.iter().flatten().count();
    let better = totals
        .iter()
        .flatten()
        .filter(|t| **t > score.total)
        .count();
    score.rank = better as u32 + 1;
    Ok((score, stations, scan.watched))
}

/// Every station's total (`None` outside the view).
fn totals(rubric: &Rubric, scan: &Scan) -> Result<Vec<Option<Decimal>>, LedgerError> {
    scan.stations
        .iter()
        .enumerate()
        .map(|(ordinal, entry)| {
            if entry.is_none() {
                return Ok(None);
            }
            let sums = &scan.sums[ordinal * scan.n_slots..(ordinal + 1) * scan.n_slots];
            let with_events = sums
                .iter()
                .enumerate()
                .filter(|(_, s)| s.events > 0)
                .map(|(position, s)| (position, s.fixed));
            capped_total(rubric, with_events)
                .map(Some)
                .ok_or_else(|| corrupt("sum of rows"))
        })
        .collect()
}

impl Expected {
    fn row(&mut self, row: Option<Row>) -> Vec<(Log, Vec<u8>)> {
        match row {
            Some(row) => {
                self.rows += 1;
                vec![(Log::Tally, row.encode())]
            }
            None => Vec::new(),
        }
    }
}

/// What the tally should hold for the events, built during a walk of the chain and compared
/// with the stored tally entry by entry (`verify`).
#[derive(Default)]
pub struct Expected {
    pub rows: u64,
    pub station_entries: u64,
}

impl Expected {
    /// The tally entries an event implies: `(log, entry bytes)`. `adjusted` is what the
    /// audit found an appeal, decision or reversal did, and `station` the ordinal of the
    /// station it found a record or report names (`Audit::last_adjusted`,
    /// `Audit::last_station`).
    pub fn entries(
        &mut self,
        rubric: &Rubric,
        body: &Body,
        adjusted: Option<&Adjusted>,
        station: Option<u32>,
    ) -> Vec<(Log, Vec<u8>)> {
        let ordinal = station.unwrap_or(u32::MAX);
        match body.kind() {
            EventKind::StationRegistered(s) => {
                self.station_entries += 1;
                vec![(
                    Log::Stations,
                    StationEntry {
                        seq: body.seq(),
                        station: s.clone(),
                    }
                    .encode(),
                )]
            }
            EventKind::PointsRecorded(p) => {
                let row = Row::of(rubric, body.seq(), body.v1().recorded_at_us, ordinal, p);
                self.row(row)
            }
            EventKind::MetricReported(m) => {
                let row = Row::of_metric(rubric, body.seq(), body.v1().recorded_at_us, ordinal, m);
                self.row(row)
            }
            EventKind::AppealFiled(_)
            | EventKind::AppealDecided(_)
            | EventKind::RecordReversed(_) => {
                let row =
                    adjusted.map(|a| Row::of_dispute(body.seq(), body.v1().recorded_at_us, a));
                self.row(row)
            }
            EventKind::LedgerCreated(_)
            | EventKind::LedgerFollows(_)
            | EventKind::PeriodClosed(_)
            | EventKind::KeyRegistered(_)
            | EventKind::KeyRevoked(_)
            | EventKind::SignaturesRequired
            | EventKind::RootKey(_) => Vec::new(),
        }
    }
}

// A station's postings are read where the write path can reach them too.
pub(crate) use crate::ledger::read::postings;

/// A station's rank at the head (equal totals share the better place) and the number of
/// stations, from the rank index: the stations counted above `total`, and those not counted
/// (no sums yet) when the base score is above it. A total the index cannot hold (more than
/// six places, which no station's sums give) is ranked by [`head_rank_by_scan`].
pub(crate) fn head_rank(ledger: &Ledger, total: Decimal) -> Result<(u32, usize), LedgerError> {
    let stations = ledger.head().stations as usize;
    let Some(value) = fixed(total.normalize()) else {
        return head_rank_by_scan(ledger, total);
    };
    let (above, counted) = ledger.store().rank_counts(value)?;
    // The service's readers share sled with the writer, so the counts may already include a
    // commit made after this reader's head: the stations it counts are bounded by the head
    // read after them (a commit changes both in one batch).
    let live = ledger.store().head()?.map_or(0, |h| h.stations) as usize;
    let (above, counted) = match (usize::try_from(above), usize::try_from(counted)) {
        (Ok(a), Ok(c)) if a <= c && c <= stations.max(live) => (a, c),
        _ => return Err(corrupt("rank index")),
    };
    let mut better = above;
    if ledger.rubric().base_points > total {
        better += stations.saturating_sub(counted);
    }
    let rank = u32::try_from(better + 1).map_err(|_| corrupt("rank index"))?;
    Ok((rank, stations))
}

/// [`head_rank`] from every station's sums, one pass over the `Aggregate` index (the model
/// the rank index is tested against).
pub(crate) fn head_rank_by_scan(
    ledger: &Ledger,
    total: Decimal,
) -> Result<(u32, usize), LedgerError> {
    let rubric = ledger.rubric();
    let stations = ledger.head().stations as usize;
    let (mut with_aggregate, mut better) = (0usize, 0usize);
    let mut bad = false;
    ledger
        .store()
        .index_for_each(crate::store::Index::Aggregate, |_, v| {
            match total_of_encoded(v, rubric) {
                Some(t) => {
                    with_aggregate += 1;
                    if t > total {
                        better += 1;
                    }
                }
                None => bad = true,
            }
            Ok(())
        })?;
    if bad || with_aggregate > stations {
        return Err(corrupt("aggregates"));
    }
    if rubric.base_points > total {
        better += stations - with_aggregate;
    }
    Ok((better as u32 + 1, stations))
}
