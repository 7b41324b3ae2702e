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

    pub fn is_metric(&self) -> bool {
        self.item >= METRIC_ROW_BASE
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

/// A per (station, item) sum: integer units of 10^-FIXED_SCALE, plus a decimal remainder for
/// figures with more places.
#[derive(Clone, Copy, Default)]
struct Sum {
    fixed: i128,
    other: Decimal,
    events: u32,
}

impl Sum {
    fn add(&mut self, d: Decimal) {
        if d.scale() <= FIXED_SCALE {
            self.fixed += d.mantissa() * 10i128.pow(FIXED_SCALE - d.scale());
        } else {
            self.other += d;
        }
        self.events += 1;
    }

    fn total(&self) -> Decimal {
        // Invariant: |fixed| stays far below 2^96 (a million events of at most 10^9 points).
        Decimal::from_i128_with_scale(self.fixed, FIXED_SCALE) + self.other
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
        let item = usize::from(row.item);
        if item >= n_items {
            bad = Some(corrupt("row's item"));
            return Ok(false);
        }
        sums[row.station as usize * n_items + item].add(row.points);
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
) -> Vec<StationScore<'r>> {
    let mut fold = Scores::new(rubric);
    let mut index = vec![None; scan.stations.len()];
    for (ordinal, entry) in scan.stations.iter().enumerate() {
        if let Some(entry) = entry.as_ref().filter(|_| keep(ordinal as u32)) {
            index[ordinal] = Some(fold.register(&entry.station));
        }
    }
    for (i, sum) in scan.sums.iter().enumerate().filter(|(_, s)| s.events > 0) {
        if let Some(station) = index[i / scan.n_items] {
            fold.add(station, i % scan.n_items, sum.total(), sum.events);
        }
    }
    fold.finish()
}

/// [`scores`] without the link check.
pub(crate) fn scores_unchecked<'r>(
    ledger: &'r Ledger,
    view: &View,
) -> Result<Vec<StationScore<'r>>, LedgerError> {
    let scan = scan(ledger, view, None)?;
    Ok(fold_scan(ledger.rubric(), &scan, |_| true))
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
    let mut score = fold_scan(rubric, &scan, |o| o == ordinal)
        .pop()
        .ok_or_else(|| corrupt("station"))?;
    let totals = totals(rubric, &scan);
    let stations = totals.iter().flatten().count();
    let better = totals
        .iter()
        .flatten()
        .filter(|t| **t > score.total)
        .count();
    score.rank = better as u32 + 1;
    Ok((score, stations, scan.watched))
}

/// Every station's total (`None` outside the view): base − capped deductions + capped bonus.
fn totals(rubric: &Rubric, scan: &Scan) -> Vec<Option<Decimal>> {
    let items: Vec<&crate::rubric::Item> = rubric.items().collect();
    scan.stations
        .iter()
        .enumerate()
        .map(|(ordinal, entry)| {
            entry.as_ref()?;
            let (mut deducted, mut awarded) = (Decimal::ZERO, Decimal::ZERO);
            let sums = &scan.sums[ordinal * scan.n_items..(ordinal + 1) * scan.n_items];
            for (sum, item) in sums.iter().zip(&items).filter(|(s, _)| s.events > 0) {
                let applied = sum.total().min(item.points);
                if item.bonus {
                    awarded += applied;
                } else {
                    deducted += applied;
                }
            }
            Some(rubric.base_points - deducted + awarded.min(rubric.bonus_cap))
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
    stations: std::collections::HashMap<String, u32>,
    pub rows: u64,
    pub station_entries: u64,
}

impl Expected {
    /// The tally entries an event implies: `(log, entry bytes)`.
    pub fn entries(&mut self, rubric: &Rubric, body: &Body) -> Vec<(Log, Vec<u8>)> {
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
            EventKind::LedgerCreated(_) => Vec::new(),
        }
    }
}
