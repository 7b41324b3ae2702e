//! The tally: a compact, derived copy of what scores need, so that questions about 40,000
//! stations and a million events are answered by scanning fixed 42-byte rows instead of
//! decoding every event. It is a cache of the events: written in the same commit, checked row
//! by row by `verify`, and tested to give exactly the scores a replay gives.
//!
//! Row (little endian): seq u64 | recorded_at_us i64 | occurred u32 (yyyymmdd) |
//! station ordinal u32 | item position u16 | computed points (rust_decimal's 16-byte form).
//!
//! Station entry: registration seq u64 | kind u8 | code length u8 | code | name.

use crate::event::{Body, EventKind, PointsRecorded, StationKind, StationRegistered};
use crate::ledger::{Ledger, LedgerError};
use crate::projection::{Scores, StationScore};
use crate::query::View;
use crate::rubric::Rubric;
use crate::store::{Log, StoreError};
use jiff::civil::Date;
use rust_decimal::Decimal;

pub const ROW_BYTES: usize = 42;

/// Item positions from here up (below [`METRIC_ROW_BASE`]) mark appeals, decisions and
/// reversals: position − base = the disputed record's item; `points` holds the change they made
/// to the record's points (zero for a filing or a rejection), and `occurred` is the record's, so
/// that a valid-time cut keeps a correction exactly when it keeps the record.
pub const DISPUTE_ROW_BASE: u16 = 0x8000;

/// Item positions from here up mark metric reports (position − base = the metric's place in
/// the rubric's metric list; `points` holds the value). Explain finds a station's reports here.
pub const METRIC_ROW_BASE: u16 = 0xF000;

/// One recorded deduction or bonus, as the tally keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub seq: u64,
    pub recorded_at_us: i64,
    /// yyyymmdd
    pub occurred: u32,
    pub station: u32,
    pub item: u16,
    pub points: Decimal,
}

/// A date as yyyymmdd (orders like the date).
pub fn day_number(d: Date) -> u32 {
    // Invariant: dates kaohe accepts lie in years 1..9999.
    (d.year() as u32) * 10_000 + (d.month() as u32) * 100 + d.day() as u32
}

impl Row {
    /// The row of a record at `seq`; `None` when its clause is not in the rubric (the write
    /// path never records such a clause).
    pub fn of(
        rubric: &Rubric,
        seq: u64,
        recorded_at_us: i64,
        station: u32,
        p: &PointsRecorded,
    ) -> Option<Row> {
        let (item, _) = rubric.clause(&p.clause)?;
        let item = u16::try_from(rubric.item_position(&item.code)?).ok()?;
        Some(Row {
            seq,
            recorded_at_us,
            occurred: day_number(p.occurred),
            station,
            item,
            points: p.computed_points,
        })
    }

    /// The row of a metric report at `seq`.
    pub fn of_metric(
        rubric: &Rubric,
        seq: u64,
        recorded_at_us: i64,
        station: u32,
        m: &crate::event::MetricReported,
    ) -> Option<Row> {
        let position = rubric.metrics.iter().position(|x| x.name == m.metric)?;
        Some(Row {
            seq,
            recorded_at_us,
            occurred: day_number(m.occurred),
            station,
            item: METRIC_ROW_BASE.checked_add(u16::try_from(position).ok()?)?,
            points: m.value,
        })
    }

    /// The row of an appeal, decision or reversal at `seq` that changed a record's points by
    /// `delta`.
    pub fn of_dispute(seq: u64, recorded_at_us: i64, adjusted: &Adjusted) -> Row {
        Row {
            seq,
            recorded_at_us,
            occurred: day_number(adjusted.occurred),
            station: adjusted.station,
            item: DISPUTE_ROW_BASE + adjusted.position,
            points: adjusted.delta,
        }
    }

    pub fn is_metric(&self) -> bool {
        self.item >= METRIC_ROW_BASE
    }

    /// The disputed record's item position, for an appeal, decision or reversal row.
    pub fn dispute_item(&self) -> Option<u16> {
        (DISPUTE_ROW_BASE..METRIC_ROW_BASE)
            .contains(&self.item)
            .then(|| self.item - DISPUTE_ROW_BASE)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ROW_BYTES);
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.extend_from_slice(&self.recorded_at_us.to_le_bytes());
        b.extend_from_slice(&self.occurred.to_le_bytes());
        b.extend_from_slice(&self.station.to_le_bytes());
        b.extend_from_slice(&self.item.to_le_bytes());
        b.extend_from_slice(&self.points.serialize());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Row> {
        if b.len() != ROW_BYTES {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        let mut points = [0u8; 16];
        points.copy_from_slice(&b[26..42]);
        Some(Row {
            seq: u64_at(0),
            recorded_at_us: u64_at(8) as i64,
            occurred: u32::from_le_bytes(b[16..20].try_into().ok()?),
            station: u32::from_le_bytes(b[20..24].try_into().ok()?),
            item: u16::from_le_bytes(b[24..26].try_into().ok()?),
            points: Decimal::deserialize(points),
        })
    }
}

/// What an appeal, decision or reversal did to its record, as the derived data needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjusted {
    /// The record's station ordinal and item position.
    pub station: u32,
    pub position: u16,
    /// The record's occurred date.
    pub occurred: Date,
    /// The change in the record's points.
    pub delta: Decimal,
}

/// A registered station, as the tally keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationEntry {
    pub seq: u64,
    pub station: StationRegistered,
}

impl StationEntry {
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.station;
        let mut b = self.seq.to_le_bytes().to_vec();
        b.push(match s.kind {
            StationKind::Town => 0,
            StationKind::Subdistrict => 1,
        });
        // Invariant: station codes are at most MAX_STATION_CODE_CHARS ASCII characters.
        b.push(s.code.len() as u8);
        b.extend_from_slice(s.code.as_bytes());
        b.extend_from_slice(s.name.as_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<StationEntry> {
        let seq = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        let kind = match b.get(8)? {
            0 => StationKind::Town,
            1 => StationKind::Subdistrict,
            _ => return None,
        };
        let len = *b.get(9)? as usize;
        let code = std::str::from_utf8(b.get(10..10 + len)?).ok()?.to_string();
        let name = std::str::from_utf8(b.get(10 + len..)?).ok()?.to_string();
        Some(StationEntry {
            seq,
            station: StationRegistered { code, name, kind },
        })
    }
}

fn corrupt(what: &str) -> LedgerError {
    LedgerError::Store(StoreError::Corrupt(format!(
        "the tally's {what} is malformed"
    )))
}

/// Every station's score in a view, from the tally, after checking the chain's links. Gives
/// exactly what a replay of the view through [`Scores`] gives (tested), without decoding
/// events.
pub fn scores<'r>(ledger: &'r Ledger, view: &View) -> Result<Vec<StationScore<'r>>, LedgerError> {
    ledger.check_links(view.end)?;
    scores_unchecked(ledger, view)
}

/// Figures with at most this many decimal places are summed as integers (exact and fast);
/// any other figure falls back to decimal arithmetic.
const FIXED_SCALE: u32 = 6;

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
    /// Sums by `ordinal * n_items + item position`.
    sums: Vec<Sum>,
    n_items: usize,
    /// The seqs of the watched station's rows in view (records and metric reports).
    watched: Vec<u64>,
}

fn scan(ledger: &Ledger, view: &View, watch: Option<u32>) -> Result<Scan, LedgerError> {
    let store = ledger.store();
    let mut stations: Vec<Option<StationEntry>> = Vec::new();
    store.for_each_log_entry(Log::Stations, 0, |_, e| {
        let entry =
            StationEntry::decode(e).ok_or_else(|| StoreError::Corrupt("station entry".into()))?;
        stations.push((entry.seq < view.end).then_some(entry));
        Ok(true)
    })?;
    let n_items = ledger.rubric().items().count();
    let mut sums: Vec<Sum> = vec![Sum::default(); stations.len() * n_items];
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
        if item >= n_items {
            bad = Some(corrupt("row's item"));
            return Ok(false);
        }
        let sum = &mut sums[row.station as usize * n_items + item];
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
            n_items,
            watched,
        }),
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
        if let Some(station) = index[i / scan.n_items] {
            let total = sum.total().ok_or_else(|| corrupt("sum of rows"))?;
            fold.add(station, i % scan.n_items, total, sum.events);
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
    let items: Vec<&crate::rubric::Item> = rubric.items().collect();
    scan.stations
        .iter()
        .enumerate()
        .map(|(ordinal, entry)| {
            if entry.is_none() {
                return Ok(None);
            }
            let sums = &scan.sums[ordinal * scan.n_items..(ordinal + 1) * scan.n_items];
            let with_events = sums
                .iter()
                .enumerate()
                .filter(|(_, s)| s.events > 0)
                .map(|(position, s)| (position, s.fixed));
            capped_total(rubric, &items, with_events)
                .map(Some)
                .ok_or_else(|| corrupt("sum of rows"))
        })
        .collect()
}

impl Expected {
    /// A station's ordinal, once its registration has been seen.
    pub fn ordinal(&self, code: &str) -> Option<u32> {
        self.stations.get(code).copied()
    }

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
    stations: rustc_hash::FxHashMap<String, u32>,
    pub rows: u64,
    pub station_entries: u64,
}

impl Expected {
    /// The tally entries an event implies: `(log, entry bytes)`.
    /// `adjusted` is what the audit found an appeal, decision or reversal did.
    pub fn entries(
        &mut self,
        rubric: &Rubric,
        body: &Body,
        adjusted: Option<&Adjusted>,
    ) -> Vec<(Log, Vec<u8>)> {
        match body.kind() {
            EventKind::StationRegistered(s) => {
                let ordinal = self.stations.len() as u32;
                self.stations.insert(s.code.clone(), ordinal);
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
                let ordinal = self.stations.get(&p.station).copied().unwrap_or(u32::MAX);
                let row = Row::of(rubric, body.seq(), body.v1().recorded_at_us, ordinal, p);
                self.row(row)
            }
            EventKind::MetricReported(m) => {
                let ordinal = self.stations.get(&m.station).copied().unwrap_or(u32::MAX);
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
            | EventKind::PeriodClosed(_)
            | EventKind::KeyRegistered(_)
            | EventKind::KeyRevoked(_)
            | EventKind::SignaturesRequired => Vec::new(),
        }
    }
}

/// A station's sums at the head, by item position: the head's snapshot of the projection for
/// one station, kept in the `Aggregate` index so that explain can rank a station without
/// scanning the tally. Sums are in units of 10^-6 (every computed figure has at most six
/// decimal places).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    /// item position → (sum in 10^-6 units, events)
    pub items: std::collections::BTreeMap<u16, (i128, u32)>,
}

impl Aggregate {
    pub fn add(&mut self, item: u16, points: Decimal) {
        // Invariant: the rubric computes figures to at most FIXED_SCALE places (the write path
        // computes them; verify adds only figures the audit recomputed).
        let units = fixed(points).expect("computed points have at most 6 places");
        let e = self.items.entry(item).or_default();
        e.0 += units;
        e.1 += 1;
    }

    /// Adds an appeal's or reversal's change to a record's points (not an event of its own).
    pub fn adjust(&mut self, item: u16, delta: Decimal) {
        // Invariant: a change is a difference of figures with at most FIXED_SCALE places.
        let units = fixed(delta).expect("changes have at most 6 places");
        self.items.entry(item).or_default().0 += units;
    }

    /// An aggregate from per-item sums (item position, points, records); `None` when a sum
    /// has more than six places (it cannot be one kaohe computed).
    pub fn from_sums(sums: impl Iterator<Item = (u16, Decimal, u32)>) -> Option<Aggregate> {
        let mut items = std::collections::BTreeMap::new();
        for (item, points, events) in sums {
            items.insert(item, (fixed(points)?, events));
        }
        Some(Aggregate { items })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.items.len() * 22);
        for (item, (sum, events)) in &self.items {
            b.extend_from_slice(&item.to_le_bytes());
            b.extend_from_slice(&sum.to_le_bytes());
            b.extend_from_slice(&events.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Option<Aggregate> {
        if !b.len().is_multiple_of(22) {
            return None;
        }
        let mut items = std::collections::BTreeMap::new();
        for c in b.chunks_exact(22) {
            let item = u16::from_le_bytes(c[..2].try_into().ok()?);
            let sum = i128::from_le_bytes(c[2..18].try_into().ok()?);
            let events = u32::from_le_bytes(c[18..22].try_into().ok()?);
            items.insert(item, (sum, events));
        }
        Some(Aggregate { items })
    }
}

/// The total of an encoded aggregate, read in place (ranking reads every station's).
fn total_of_encoded(b: &[u8], rubric: &Rubric, items: &[&crate::rubric::Item]) -> Option<Decimal> {
    if !b.len().is_multiple_of(22) {
        return None;
    }
    let sums: Option<Vec<(usize, i128)>> = b
        .chunks_exact(22)
        .map(|c| {
            let position = u16::from_le_bytes(c[..2].try_into().ok()?);
            Some((
                usize::from(position),
                i128::from_le_bytes(c[2..18].try_into().ok()?),
            ))
        })
        .collect();
    capped_total(rubric, items, sums?.into_iter())
}

/// Base − capped deductions + capped bonus, from per-item sums in units of 10^-6 (item
/// position, sum). `None` when a figure cannot be one kaohe computed (damage).
fn capped_total(
    rubric: &Rubric,
    items: &[&crate::rubric::Item],
    sums: impl Iterator<Item = (usize, i128)>,
) -> Option<Decimal> {
    let (mut deducted, mut awarded) = (0i128, 0i128);
    for (position, sum) in sums {
        let item = items.get(position)?;
        let applied = sum.min(fixed(item.points)?);
        let side = if item.bonus {
            &mut awarded
        } else {
            &mut deducted
        };
        *side = side.checked_add(applied)?;
    }
    let total = fixed(rubric.base_points)?
        .checked_sub(deducted)?
        .checked_add(awarded.min(fixed(rubric.bonus_cap)?))?;
    from_fixed(total)
}

/// A figure in units of 10^-6, when it has at most six places.
fn fixed(d: Decimal) -> Option<i128> {
    (d.scale() <= FIXED_SCALE).then(|| d.mantissa() * 10i128.pow(FIXED_SCALE - d.scale()))
}

/// Units of 10^-6 back to a decimal, when they fit one.
fn from_fixed(units: i128) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, FIXED_SCALE).ok()
}

/// The key of a station's aggregate.
pub fn aggregate_key(ordinal: u32) -> [u8; 4] {
    ordinal.to_be_bytes()
}

/// The key of a posting: the station's ordinal, then the seq.
pub fn posting_key(ordinal: u32, seq: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&ordinal.to_be_bytes());
    k[4..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The seqs of a station's records and metric reports, from its postings (head view).
pub(crate) fn postings(ledger: &Ledger, ordinal: u32) -> Result<Vec<u64>, LedgerError> {
    let prefix = aggregate_key(ordinal);
    let mut seqs = Vec::new();
    ledger
        .store()
        .index_bucket_for_each(crate::store::Index::Postings, &prefix, |k, _| {
            if k.len() == 12 && k[..4] == prefix {
                seqs.push(u64::from_be_bytes(k[4..].try_into().unwrap_or_default()));
            }
            Ok(())
        })?;
    seqs.sort_unstable();
    Ok(seqs)
}

/// A station's rank at the head (equal totals share the better place) and the number of
/// stations, from the aggregates: stations without one have the base score.
pub(crate) fn head_rank(ledger: &Ledger, total: Decimal) -> Result<(u32, usize), LedgerError> {
    let rubric = ledger.rubric();
    let items: Vec<&crate::rubric::Item> = rubric.items().collect();
    let stations = ledger.head().stations as usize;
    let (mut with_aggregate, mut better) = (0usize, 0usize);
    let mut bad = false;
    ledger
        .store()
        .index_for_each(crate::store::Index::Aggregate, |_, v| {
            match total_of_encoded(v, rubric, &items) {
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
