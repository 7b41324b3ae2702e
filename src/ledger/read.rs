//! The checked read path: every event read back is checked against its stored hash and its
//! predecessor, decodes with no byte left, and stands at its seq; and the cheap check of the
//! tail that `open` runs.

use crate::domain::rows::{day_number, Row};
use crate::events::event::{Body, EventKind, Hash};
use crate::events::{chain, codec};
use crate::ledger::{damaged, EventRef, Ledger, LedgerError, TAIL_CHECK_EVENTS};
use crate::store::{Log, Store, StoreError};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Fewer links than this are checked on one thread (a thread costs more than it saves).
const LINKS_PER_THREAD_MIN: u64 = 4096;

impl Ledger {
    /// A cheap check on open: the files hold what the head says was committed, and the last
    /// event is there with the head's hash.
    pub(super) fn check_tail(&self) -> Result<(), LedgerError> {
        let last = self.head.next_seq.saturating_sub(1);
        let files = self.store.check_files(&self.head);
        files
            .and_then(|()| self.store.check_ids_file())
            .map_err(|e| match e {
                StoreError::Corrupt(m) => damaged(last, m),
                e => e.into(),
            })?;
        let mut seen = false;
        self.store.for_each_frame(last, last + 1, |f| {
            seen = f.hash == &self.head.hash;
            Ok(true)
        })?;
        if !seen {
            return Err(damaged(last, "the last event's hash is not the head hash"));
        }
        for (log, want) in [
            (Log::Tally, self.head.tally_rows),
            (Log::Stations, self.head.stations),
        ] {
            let have = self.store.log_len(log)?;
            if have != want {
                return Err(damaged(
                    last,
                    format!("the {log:?} log holds {have} entries where the head says {want}"),
                ));
            }
        }
        self.check_recent()
    }

    /// Replays events `[from, to)` in order, each checked: it decodes, its seq is its place,
    /// and its hash links it to the one before. `f` returns `false` to stop.
    pub fn replay(
        &self,
        from: u64,
        to: u64,
        f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let to = to.min(self.head.next_seq);
        if from == 0 {
            return read_checked(&self.store, from, to, &chain::GENESIS_PREV, f);
        }
        // The stored hash before `from` is read in the same pass (one block read, not two,
        // for a single event).
        checked_refs(&self.store, from - 1, to, None, f)
    }

    /// Checks the links of events `[0, end)` without decoding them: every stored hash is
    /// BLAKE3 over the previous stored hash and the stored bytes. Answers read from the tally
    /// (a cache) call this first, so that a damaged chain is never read as a valid ledger.
    /// Each link depends only on stored bytes, so the two halves are checked in parallel.
    pub fn check_links(&self, end: u64) -> Result<(), LedgerError> {
        self.check_links_from(0, chain::GENESIS_PREV, end.min(self.head.next_seq))
    }

    /// [`Ledger::check_links`] for the events the last full verification (`verify`, which
    /// records the seq and hash it reached) did not cover: the links from there to `end`,
    /// once the stored hash at the verified seq is found to be the one verified. Without a
    /// recorded verification, or with one the chain no longer holds, every link. What an
    /// answer read from the tally relies on is checked on every read (the tally's checksums,
    /// the station log against the chain, the sealed scores); the events before the
    /// verification are `verify`'s to check again. This keeps `score` O(events since the last
    /// verification), not O(events).
    pub fn check_links_since_verified(&self, end: u64) -> Result<(), LedgerError> {
        let end = end.min(self.head.next_seq);
        let Some(verified) = self.store.last_verified()? else {
            return self.check_links(end);
        };
        if verified.seq >= self.head.next_seq || self.hash_at(verified.seq)? != verified.hash {
            return self.check_links(end);
        }
        if verified.seq + 1 >= end {
            return Ok(());
        }
        self.check_links_from(verified.seq + 1, verified.hash, end)
    }

    /// Checks the links of events `[from, end)`, `prev` being the hash before `from`; the two
    /// halves in parallel (each link depends only on stored bytes).
    fn check_links_from(&self, from: u64, prev: Hash, end: u64) -> Result<(), LedgerError> {
        let mid = from + end.saturating_sub(from) / 2;
        if mid <= from || end - from < LINKS_PER_THREAD_MIN {
            return self.check_link_range(from, end, prev);
        }
        let before_mid = self.hash_at(mid - 1)?;
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| self.check_link_range(mid, end, before_mid));
            let first = self.check_link_range(from, mid, prev);
            (first, second.join())
        });
        first?;
        second.map_err(|_| LedgerError::Io("a link-checking thread failed".into()))?
    }

    fn check_link_range(&self, from: u64, to: u64, prev: Hash) -> Result<(), LedgerError> {
        let mut prev = prev;
        let mut next = from;
        let mut bad = None;
        self.store.for_each_frame(from, to, |f| {
            if f.seq != next {
                bad = Some(damaged(next, "event is missing"));
                return Ok(false);
            }
            if chain::link(&prev, f.body) != *f.hash {
                bad = Some(damaged(
                    f.seq,
                    "hash does not match the stored bytes and the previous hash",
                ));
                return Ok(false);
            }
            prev = *f.hash;
            next += 1;
            Ok(true)
        })?;
        match bad {
            Some(e) => Err(e),
            None if next < to => Err(damaged(next, "event is missing")),
            None => Ok(()),
        }
    }

    /// Replays every event.
    pub fn replay_all(
        &self,
        f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        self.replay(0, self.head.next_seq, f)
    }

    pub(crate) fn hash_at(&self, seq: u64) -> Result<Hash, LedgerError> {
        let mut out = None;
        self.store.for_each_frame(seq, seq + 1, |f| {
            out = Some(*f.hash);
            Ok(false)
        })?;
        out.ok_or_else(|| damaged(seq, "event is missing"))
    }

    /// The open-time check of the recent tail (part of [`Ledger::open`]'s cheap check): the
    /// last [`TAIL_CHECK_EVENTS`] events link, decode and stand at their seqs, their recorded
    /// times do not go back and the last one's is the head's; and the last
    /// [`TAIL_CHECK_EVENTS`] tally rows are whole, in seq order, and each names a tail event
    /// that has a row, at its recorded time (a record's or report's with its points and date).
    /// The full check is `verify`.
    fn check_recent(&self) -> Result<(), LedgerError> {
        let next = self.head.next_seq;
        let from = next.saturating_sub(TAIL_CHECK_EVENTS).max(1);
        if from >= next {
            return Ok(());
        }
        let (rows, last_us) = self.recent_events(from)?;
        let last = next - 1;
        if last_us != self.head.recorded_at_us {
            return Err(damaged(
                last,
                "the head's recorded time disagrees with the last event",
            ));
        }
        match self.recent_rows_problem(from, &rows)? {
            Some(p) => Err(damaged(last, p)),
            None => Ok(()),
        }
    }

    /// Reads events `[from, head)` checked, and their recorded times in order: per event that
    /// has a tally row, its recorded time and (for a record or report) the occurred day and
    /// figure its row holds; and the last recorded time.
    fn recent_events(&self, from: u64) -> Result<(TailRows, i64), LedgerError> {
        let prev = self.hash_at(from - 1)?;
        let mut last_us = i64::MIN;
        let mut rows = TailRows::new();
        read_checked(&self.store, from, self.head.next_seq, &prev, |e| {
            let at = e.body.v1().recorded_at_us;
            if at < last_us {
                return Err(damaged(e.seq, "recorded_at goes back in time"));
            }
            last_us = at;
            let fields = match e.body.kind() {
                EventKind::PointsRecorded(p) => Some((day_number(p.occurred), p.computed_points)),
                EventKind::MetricReported(m) => Some((day_number(m.occurred), m.value)),
                EventKind::AppealFiled(_)
                | EventKind::AppealDecided(_)
                | EventKind::RecordReversed(_) => None,
                _ => return Ok(true),
            };
            rows.insert(e.seq, (at, fields));
            Ok(true)
        })?;
        Ok((rows, last_us))
    }

    /// What is wrong with the last tally rows, given the tail events from `from` that have
    /// rows.
    fn recent_rows_problem(
        &self,
        from: u64,
        rows: &TailRows,
    ) -> Result<Option<String>, LedgerError> {
        let last = self.head.next_seq - 1;
        let n = self.head.tally_rows;
        let mut after = None;
        let mut in_tail = 0u64;
        let mut problem = None;
        self.store.for_each_log_entry(
            Log::Tally,
            n.saturating_sub(TAIL_CHECK_EVENTS),
            |i, e| {
                let bad = match Row::decode(e) {
                    None => Some("is malformed".to_string()),
                    Some(r) if after.is_some_and(|a| r.seq <= a) || r.seq > last => {
                        Some(format!("names seq {}, out of order", r.seq))
                    }
                    Some(r) if r.seq < from => None,
                    Some(r) => match rows.get(&r.seq) {
                        None => Some(format!("names seq {}, which has no row", r.seq)),
                        Some((at, _)) if *at != r.recorded_at_us => {
                            Some(format!("disagrees with seq {}'s recorded time", r.seq))
                        }
                        Some((_, Some(f))) if *f != (r.occurred, r.points) => {
                            Some(format!("disagrees with seq {}'s date or figure", r.seq))
                        }
                        Some(_) => None,
                    },
                };
                if let Some(b) = bad {
                    problem = Some(format!("tally row {i} {b}"));
                    return Ok(false);
                }
                after = Row::decode(e).map(|r| r.seq);
                in_tail += u64::from(after.is_some_and(|a| a >= from));
                Ok(true)
            },
        )?;
        if problem.is_none() && in_tail != rows.len() as u64 {
            problem = Some(format!(
                "the last tally rows hold {in_tail} rows of the last events where they have {}",
                rows.len()
            ));
        }
        Ok(problem)
    }
}

/// The tail events that have tally rows: seq → (recorded_at, the occurred day and points a
/// record's or report's row holds).
type TailRows = BTreeMap<u64, (i64, Option<(u32, Decimal)>)>;

/// Reads `[from, to)` and checks each event; `prev` is the hash before `from`.
pub(crate) fn read_checked(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    checked_refs(store, from, to, Some(*prev), f)
}

/// [`read_checked_from`], handing each event over by reference.
fn checked_refs(
    store: &Store,
    from: u64,
    to: u64,
    prev: Option<Hash>,
    mut f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    read_checked_from(store, from, to, prev, |body, e| {
        f(EventRef {
            seq: e.seq,
            body: &body,
            bytes: e.bytes,
            hash: e.hash,
            prev_hash: e.prev_hash,
        })
    })
}

/// A checked frame, before its body is handed over.
pub(crate) struct CheckedFrame<'a> {
    pub seq: u64,
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
    pub prev_hash: &'a Hash,
}

/// [`read_checked`], handing each decoded body over by value.
pub(crate) fn read_checked_owned(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    f: impl FnMut(Body, CheckedFrame<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    read_checked_from(store, from, to, Some(*prev), f)
}

/// [`read_checked_owned`]; with no `prev`, the frame at `from` gives only its stored hash, as
/// the hash before `from + 1` (it is not checked or handed over).
fn read_checked_from(
    store: &Store,
    from: u64,
    to: u64,
    prev: Option<Hash>,
    mut f: impl FnMut(Body, CheckedFrame<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    let mut prev = prev;
    let mut next = from;
    let mut err = None;
    store.for_each_frame(from, to, |frame| {
        let mut check = || -> Result<bool, LedgerError> {
            if frame.seq != next {
                return Err(damaged(next, "event is missing"));
            }
            let Some(prev) = prev.as_mut() else {
                prev = Some(*frame.hash);
                next += 1;
                return Ok(true);
            };
            if chain::link(prev, frame.body) != *frame.hash {
                return Err(damaged(
                    frame.seq,
                    "hash does not match the stored bytes and the previous hash",
                ));
            }
            let body = codec::decode(frame.body).map_err(|e| damaged(frame.seq, e.to_string()))?;
            if body.seq() != frame.seq {
                return Err(damaged(
                    frame.seq,
                    format!(
                        "event says seq {} but is stored at {}",
                        body.seq(),
                        frame.seq
                    ),
                ));
            }
            let go = f(
                body,
                CheckedFrame {
                    seq: frame.seq,
                    bytes: frame.body,
                    hash: frame.hash,
                    prev_hash: prev,
                },
            )?;
            *prev = *frame.hash;
            next += 1;
            Ok(go)
        };
        match check() {
            Ok(go) => Ok(go),
            Err(e) => {
                err = Some(e);
                Ok(false)
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(())
}

/// A station's postings head as stored (`None`: no posting yet).
pub(crate) fn postings_head(
    store: &Store,
    station: u32,
) -> Result<Option<crate::domain::rows::PostingsHead>, LedgerError> {
    let key = crate::domain::rows::postings_key(station);
    match store.index_get(crate::store::Index::Postings, &key)? {
        None => Ok(None),
        Some(b) => Ok(Some(
            crate::domain::rows::PostingsHead::decode(&b).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the postings head of station {station} is malformed"
                ))
            })?,
        )),
    }
}

/// The seqs of a station's records, metric reports and the disputes of its records, in
/// order, from its chain of postings (head view): from its head (`Postings` index) back
/// through `postings.seg`, one positioned read per posting. A chain that does not go back
/// (which could loop), whose seqs do not go back with it, or whose length is not its head's
/// count is damage.
pub(crate) fn postings(ledger: &Ledger, ordinal: u32) -> Result<Vec<u64>, LedgerError> {
    use crate::domain::rows::NO_POSTING;
    let Some(head) = postings_head(ledger.store(), ordinal)? else {
        return Ok(Vec::new());
    };
    let committed = ledger.head().tally_rows;
    let broken = |why: String| {
        LedgerError::Store(StoreError::Corrupt(format!(
            "the chain of postings of station {ordinal} {why}"
        )))
    };
    if head.count > committed {
        return Err(broken(format!(
            "counts {} postings of the {committed} committed",
            head.count
        )));
    }
    let mut seqs = Vec::with_capacity(head.count as usize);
    let mut at = head.last;
    while at != NO_POSTING {
        if seqs.len() as u64 == head.count {
            return Err(broken(format!("is longer than its {}", head.count)));
        }
        let posting = ledger.store().posting(committed, at)?;
        if posting.prev != NO_POSTING && posting.prev >= at {
            return Err(broken(format!("goes forward at posting {at}")));
        }
        if seqs.last().is_some_and(|later| posting.seq >= *later) {
            return Err(broken(format!("goes forward in seq at posting {at}")));
        }
        seqs.push(posting.seq);
        at = posting.prev;
    }
    if seqs.len() as u64 != head.count {
        return Err(broken(format!(
            "holds {} postings where its head counts {}",
            seqs.len(),
            head.count
        )));
    }
    seqs.reverse();
    Ok(seqs)
}
