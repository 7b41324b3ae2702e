//! The tally's rows and per-station sums: the compact, derived form of what scores need, as
//! bytes. Pure: the write path derives them from events, the reading side (`ledger::tally`)
//! sums them, `verify` compares them with the events.
//!
//! Row (little endian): seq u64 | recorded_at_us i64 | occurred u32 (yyyymmdd) |
//! station ordinal u32 | slot u16 | computed points (rust_decimal's 16-byte form). The slot
//! is where the record counts (`Rubric::record_slot`): its item's position in a rubric of one
//! sheet without sub-parts, as every ledger before sheets had; the aggregates are keyed by it
//! the same way.
//!
//! Station entry: registration seq u64 | kind u8 | code length u8 | code | name.

use crate::base::limits::MAX_STATION_CODE_CHARS;
use crate::domain::rubric::Rubric;
use crate::events::event::{PointsRecorded, StationKind, StationRegistered};
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

// Every slot a rubric may have fits between the dispute marks and the metric marks, so a
// correction's row is never read as a metric report's.
const _: () = assert!(
    crate::domain::rubric::MAX_SHEETS * crate::domain::rubric::MAX_SHEET_SLOTS
        <= (METRIC_ROW_BASE - DISPUTE_ROW_BASE) as usize
);

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
    /// The row of a record at `seq` (its `item` field holds the record's slot,
    /// `Rubric::record_slot`, which is its item's position in a rubric of one sheet without
    /// sub-parts); `None` when its clause is not in the rubric or it counts on no sheet (the
    /// write path never records such a record).
    pub fn of(
        rubric: &Rubric,
        seq: u64,
        recorded_at_us: i64,
        station: u32,
        p: &PointsRecorded,
    ) -> Option<Row> {
        let item = u16::try_from(rubric.record_slot(&p.clause, &p.by, p.occurred)?).ok()?;
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
        m: &crate::events::event::MetricReported,
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

/// Figures with at most this many decimal places are summed as integers (exact and fast);
/// any other figure falls back to decimal arithmetic.
pub(crate) const FIXED_SCALE: u32 = 6;

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
pub(crate) fn total_of_encoded(b: &[u8], rubric: &Rubric) -> Option<Decimal> {
    if !b.len().is_multiple_of(22) {
        return None;
    }
    let sums: Option<Vec<(usize, i128)>> = b
        .chunks_exact(22)
        .map(|c| {
            let slot = u16::from_le_bytes(c[..2].try_into().ok()?);
            Some((
                usize::from(slot),
                i128::from_le_bytes(c[2..18].try_into().ok()?),
            ))
        })
        .collect();
    capped_total(rubric, sums?.into_iter())
}

/// A station's total from per-slot sums in units of 10^-6 (slot, sum). `None` when a figure
/// cannot be one kaohe computed (damage). Ranking reads every station's total, so a rubric of
/// one slot per item (`Rubric::slot_per_item`: every ledger without sheets or sub-parts) is
/// summed in fixed point here, exactly as `Rubric::sheet_figures` does in decimals (the tests
/// hold the tally's ranks to the replay's); any other goes through `Rubric::total_of_slots`.
pub(crate) fn capped_total(
    rubric: &Rubric,
    sums: impl Iterator<Item = (usize, i128)>,
) -> Option<Decimal> {
    if !rubric.slot_per_item() {
        let mut slots = vec![Decimal::ZERO; rubric.slot_count()];
        for (slot, sum) in sums {
            *slots.get_mut(slot)? = from_fixed(sum)?;
        }
        let total = rubric.total_of_slots(&slots);
        fixed(total)?;
        return Some(total);
    }
    let (mut deducted, mut awarded) = (0i128, 0i128);
    for (position, sum) in sums {
        let item = rubric.item_at(position)?;
        let applied = match item.capped {
            true => sum.min(fixed(item.full_marks)?),
            false => sum,
        };
        // A weighted indicator counts `points × applied / full_marks` (`Item::counts`).
        let applied = match item.weighted() {
            true => fixed(item.counts(from_fixed(applied)?))?,
            false => applied,
        };
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
pub(crate) fn fixed(d: Decimal) -> Option<i128> {
    (d.scale() <= FIXED_SCALE).then(|| d.mantissa() * 10i128.pow(FIXED_SCALE - d.scale()))
}

/// The value the store's rank index counts a station at: its total in units of 10^-6, as
/// [`total_of_encoded`] ranks it. `None` where that has none.
pub(crate) fn rank_value(agg: &Aggregate, rubric: &Rubric) -> Option<i128> {
    let sums = agg
        .items
        .iter()
        .map(|(&p, &(sum, _))| (usize::from(p), sum));
    fixed(capped_total(rubric, sums)?.normalize())
}

/// Units of 10^-6 back to a decimal, when they fit one.
pub(crate) fn from_fixed(units: i128) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, FIXED_SCALE).ok()
}

/// The key of a station's aggregate.
pub fn aggregate_key(ordinal: u32) -> [u8; 4] {
    ordinal.to_be_bytes()
}

/// The key of a station's postings head (the `Postings` index).
pub fn postings_key(ordinal: u32) -> [u8; 4] {
    ordinal.to_be_bytes()
}

/// The `prev` of a station's first posting (and the `last` of a station without one).
pub const NO_POSTING: u64 = u64::MAX;

/// Where a station's chain of postings ends: the number of its last posting (the posting of
/// tally row `last`) and how many it has. A station's postings are its tally rows (records,
/// metric reports, disputes of its records), each naming the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostingsHead {
    pub last: u64,
    pub count: u64,
}

impl PostingsHead {
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.last.to_be_bytes());
        b[8..].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<PostingsHead> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(PostingsHead {
            last: u64::from_be_bytes(b[..8].try_into().ok()?),
            count: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// The postings a commit appends, chained by station: the write path and a restore both
/// build them here, one per tally row, in row order.
#[derive(Debug)]
pub struct PostingChains {
    /// Each station's head after the rows so far (the ones this commit touched).
    pub heads: rustc_hash::FxHashMap<u32, PostingsHead>,
    next_row: u64,
}

impl PostingChains {
    /// Chains for a commit whose first tally row is `next_row`.
    pub fn new(next_row: u64) -> PostingChains {
        PostingChains {
            heads: Default::default(),
            next_row,
        }
    }

    /// The number of the next tally row (the tally's length after the rows so far).
    pub fn next_row(&self) -> u64 {
        self.next_row
    }

    /// The posting of the next tally row, a row of `station`: `(seq, prev)`. `stored` gives
    /// the station's head before this commit, asked for on the station's first row.
    pub fn post<E>(
        &mut self,
        station: u32,
        seq: u64,
        stored: impl FnOnce() -> Result<Option<PostingsHead>, E>,
    ) -> Result<(u64, u64), E> {
        let row = self.next_row;
        let head = match self.heads.entry(station) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let none = PostingsHead {
                    last: NO_POSTING,
                    count: 0,
                };
                e.insert(stored()?.unwrap_or(none))
            }
        };
        let prev = head.last;
        *head = PostingsHead {
            last: row,
            count: head.count + 1,
        };
        self.next_row += 1;
        Ok((seq, prev))
    }
}

/// A station code as a map key, held inline: a registered code is at most
/// [`MAX_STATION_CODE_CHARS`] ASCII characters (`rules::code`), so a lookup compares bytes in
/// the map's own table rather than behind a pointer (with tens of thousands of stations, that
/// pointer was a cache miss per event, in the audit and on the write path alike).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeKey {
    len: u8,
    bytes: [u8; MAX_STATION_CODE_CHARS],
}

impl CodeKey {
    /// The key of `code`; `None` for text longer than any registered code.
    pub fn of(code: &str) -> Option<CodeKey> {
        let text = code.as_bytes();
        let mut bytes = [0u8; MAX_STATION_CODE_CHARS];
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        Some(CodeKey {
            len: u8::try_from(text.len()).ok()?,
            bytes,
        })
    }
}
