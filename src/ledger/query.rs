//! Points in time. Two times, and both combine:
//!
//! - **transaction time** (`seq`, `recorded_at`): `--as-of-seq N` and `--known-at T` cut the
//!   chain to the prefix the ledger held then (events with seq ≤ N and recorded_at ≤ T);
//! - **valid time** (`occurred`): `--at D` keeps, within that prefix, only the records and
//!   metric reports that happened on or before D.
//!
//! Recorded times never go back along the chain, so `--known-at` is a prefix, found by binary
//! search.

use crate::events::event::{Body, EventKind};
use crate::ledger::{Ledger, LedgerError};
use jiff::{civil::Date, Timestamp};

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query {
    pub as_of_seq: Option<u64>,
    pub known_at: Option<Timestamp>,
    pub at: Option<Date>,
}

/// A query resolved against a ledger: the prefix `[0, end)` and the valid-time cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// One past the last seq in view.
    pub end: u64,
    /// Keep only records and metric reports that occurred on or before this day.
    pub at: Option<Date>,
    pub query: Query,
}

impl View {
    /// The whole ledger, every occurred date.
    pub fn all(ledger: &Ledger) -> View {
        View {
            end: ledger.head().next_seq,
            at: None,
            query: Query::default(),
        }
    }

    /// True when the event belongs to the view (its seq is assumed inside the prefix).
    pub fn includes(&self, body: &Body) -> bool {
        let Some(at) = self.at else {
            return true;
        };
        match body.kind() {
            EventKind::PointsRecorded(p) => p.occurred <= at,
            EventKind::MetricReported(m) => m.occurred <= at,
            // Appeals, decisions and reversals have no occurred date: they correct a record
            // from the start, so they stay in every valid-time view (and change nothing where
            // their record is not in view).
            EventKind::LedgerCreated(_)
            | EventKind::LedgerFollows(_)
            | EventKind::StationRegistered(_)
            | EventKind::AppealFiled(_)
            | EventKind::AppealDecided(_)
            | EventKind::RecordReversed(_)
            | EventKind::PeriodClosed(_)
            | EventKind::KeyRegistered(_)
            | EventKind::KeyRevoked(_)
            | EventKind::SignaturesRequired
            | EventKind::RootKey(_) => true,
        }
    }

    /// The last seq in view.
    pub fn last_seq(&self) -> u64 {
        self.end.saturating_sub(1)
    }

    /// A one-line statement of the view, for people.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("as of seq {}", self.last_seq())];
        if let Some(t) = self.query.known_at {
            parts.push(format!("known at {t}"));
        }
        match self.at {
            Some(d) => parts.push(format!("occurred on or before {d}")),
            None => parts.push("every occurred date".into()),
        }
        parts.join(", ")
    }
}

fn refused(field: &str, message: String, zh: String) -> LedgerError {
    LedgerError::Refused {
        line: None,
        field: field.into(),
        message,
        zh,
    }
}

impl Ledger {
    /// The closing seq when a view shows the final scores: it includes the closing event and
    /// every occurred date of the period.
    pub fn final_at(&self, view: &View) -> Option<u64> {
        let whole_period = view.at.is_none_or(|d| d >= self.genesis().period_end);
        self.closed_at()
            .filter(|seq| *seq < view.end && whole_period)
    }

    /// Resolves a query to a view of this ledger.
    pub fn view(&self, q: &Query) -> Result<View, LedgerError> {
        let head = self.head().next_seq;
        let mut end = head;
        if let Some(n) = q.as_of_seq {
            if n >= head {
                return Err(refused(
                    "as-of-seq",
                    format!("seq {n} does not exist yet: the last seq is {}", head - 1),
                    format!("还没有第 {n} 号事件：最后一个是第 {} 号", head - 1),
                ));
            }
            end = end.min(n + 1);
        }
        if let Some(t) = q.known_at {
            let known = self.first_recorded_after(t)?;
            if known == 0 {
                let created = self
                    .event(0)?
                    .map(|b| b.recorded_at().to_string())
                    .unwrap_or_default();
                return Err(refused(
                    "known-at",
                    format!("nothing was recorded by {t}: the ledger was created at {created}"),
                    format!("{t} 时台账中还没有任何记录：台账创建于 {created}"),
                ));
            }
            end = end.min(known);
        }
        Ok(View {
            end,
            at: q.at,
            query: *q,
        })
    }

    /// The first seq recorded after `t` (the number of events known at `t`).
    fn first_recorded_after(&self, t: Timestamp) -> Result<u64, LedgerError> {
        let t_us = t.as_microsecond();
        let (mut lo, mut hi) = (0u64, self.head().next_seq);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let body = self.event(mid)?.ok_or_else(|| LedgerError::Damaged {
                seq: mid,
                message: "event is missing".into(),
            })?;
            if body.v1().recorded_at_us <= t_us {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Finds an event by id, by seq (digits) or by its hash (64 hex digits). A key that is
    /// an id and also names another event as a seq or hash is refused as ambiguous.
    pub fn find_event(&self, key: &str) -> Result<Option<u64>, LedgerError> {
        let by_id = self.find_id(key)?.map(|(seq, _)| seq);
        let by_place = match key.parse::<u64>() {
            Ok(seq) => (seq < self.head().next_seq).then_some(seq),
            Err(_) => self.find_hash(key)?,
        };
        match (by_id, by_place) {
            (Some(a), Some(b)) if a != b => Err(LedgerError::Refused {
                line: None,
                field: "event".into(),
                message: format!(
                    "`{key}` is ambiguous: it is the id of seq {a} and also names seq {b}; use --seq or --hash"
                ),
                zh: format!(
                    "“{key}”有歧义：它是第 {a} 号事件的编号，又指第 {b} 号事件；请改用序号或哈希"
                ),
            }),
            (Some(a), _) => Ok(Some(a)),
            (None, b) => Ok(b),
        }
    }

    /// The seq of the event with this hash (64 hex digits), if any.
    pub fn find_hash(&self, key: &str) -> Result<Option<u64>, LedgerError> {
        let Some(hash) = crate::events::chain::parse_hash(&key.to_ascii_lowercase()) else {
            return Ok(None);
        };
        let mut found = None;
        self.replay_all(|e| {
            if e.hash == &hash {
                found = Some(e.seq);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(found)
    }

    /// Replays the events in view, in order.
    pub fn replay_view(
        &self,
        view: &View,
        mut f: impl FnMut(crate::ledger::EventRef<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        self.replay(0, view.end, |e| {
            if view.includes(e.body) {
                f(e)
            } else {
                Ok(true)
            }
        })
    }
}
