//! Verifying a stored ledger: the whole chain and its indices, reporting the first problem.

use crate::domain::audit::{store_recent_hashes, Audit, Prepared, Preparer};
use crate::events::chain::{self, SetDigest};
use crate::events::event::*;
use crate::ledger::walk::read_checked_parallel;
use crate::ledger::{read_checked, LedgerError};
use crate::store::{id_fingerprint, Index, Log, Store};
use std::collections::BTreeMap;
use std::path::Path;

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub seq: u64,
    pub message: String,
}

/// What verifying a ledger found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Events that verified.
    pub events: u64,
    /// The head hash the store records.
    pub head: Hash,
    /// Where the expected head was found, if one was asked for and found.
    pub expected_head_at: Option<u64>,
    pub problem: Option<Finding>,
}

/// Verifies every stored event and every index entry, and that the chain contains
/// `expected_head` (a head published earlier) when one is given. Returns `Err` only when the
/// ledger cannot be opened at all (missing, in use); damage is a finding.
pub fn ledger(path: &Path, expected_head: Option<&Hash>) -> Result<Report, LedgerError> {
    let store = Store::open_read(path)?;
    verify_store(&store, expected_head)
}

/// [`ledger`], then, when the ledger verified, the stored evidence files
/// ([`crate::ops::evidence::check`]): every blob re-hashed, every `blake3:` reference resolved.
pub fn ledger_with_evidence(
    path: &Path,
    expected_head: Option<&Hash>,
) -> Result<(Report, Option<crate::ops::evidence::Check>), LedgerError> {
    let store = Store::open_read(path)?;
    let report = verify_store(&store, expected_head)?;
    if report.problem.is_some() {
        return Ok((report, None));
    }
    let check = crate::ops::evidence::check(&store)?;
    Ok((report, Some(check)))
}

fn verify_store(store: &Store, expected_head: Option<&Hash>) -> Result<Report, LedgerError> {
    // The audit keeps the facts of disputed records only, as the Dispute index lists them;
    // the index is compared with the events at the end, and a dispute of a record it does
    // not list is damage found at that dispute.
    let disputed = disputed_records(store)?;
    let mut v = Verifier {
        expected_head: expected_head.copied(),
        audit: Audit::for_store(disputed),
        tally_check: LogCheck::new(Log::Tally),
        stations_check: LogCheck::new(Log::Stations),
        ..Verifier::default()
    };
    let problem = match v.run(store) {
        Ok(()) => None,
        Err(LedgerError::Damaged { seq, message }) => Some(Finding { seq, message }),
        Err(LedgerError::Store(crate::store::StoreError::Corrupt(message))) => Some(Finding {
            seq: v.verified,
            message,
        }),
        Err(e) => return Err(e),
    };
    let problem = match (problem, expected_head, v.expected_head_at) {
        (None, Some(h), None) => Some(Finding {
            seq: v.verified,
            message: crate::ops::export::missing_head(h, v.verified.saturating_sub(1), &v.head),
        }),
        (p, _, _) => p,
    };
    Ok(Report {
        events: v.verified,
        head: v.head,
        expected_head_at: v.expected_head_at,
        problem,
    })
}

/// No frame is shorter: a length (4 bytes), a body, a hash (32).
const MIN_FRAME_BYTES: u64 = 37;

#[derive(Default)]
struct Verifier {
    verified: u64,
    head: Hash,
    audit: Audit,
    /// The fingerprint of each event's id, by seq (0: no id), compared with the id index
    /// after the walk ([`Verifier::check_ids`]).
    ids: Vec<u64>,
    /// The digest of the station index entries the events imply.
    station_digest: SetDigest,
    /// What the tally logs should hold, each entry compared with the stored one as it is made.
    tally: crate::ledger::tally::Expected,
    tally_check: LogCheck,
    stations_check: LogCheck,
    /// The postings the events imply, compared with `postings.seg` as they are made.
    postings: PostingsCheck,
    expected_head: Option<Hash>,
    expected_head_at: Option<u64>,
}

/// Gives `prepared` the hash stored at the head the signed event `seq` follows, when that is
/// older than the audit of a store keeps ([`store_recent_hashes`]). `last` keeps the last one
/// read: a signed import's events all follow the same head. A hash that cannot be read is
/// left out (the walk finds that damage when it reaches it, before this event).
fn read_after_hash(
    store: &Store,
    seq: u64,
    body: &Body,
    prepared: &mut Prepared,
    last: &mut Option<(u64, Hash)>,
) {
    let Some(after) = body.after() else { return };
    if seq.saturating_sub(after.seq) < store_recent_hashes() {
        return;
    }
    let hash = match *last {
        Some((s, h)) if s == after.seq => Some(h),
        _ => {
            let mut hash = None;
            let _ = store.for_each_frame(after.seq, after.seq + 1, |f| {
                hash = Some(*f.hash);
                Ok(false)
            });
            hash
        }
    };
    if let Some(h) = hash {
        *last = Some((after.seq, h));
        prepared.set_after_hash(h);
    }
}

fn damaged(seq: u64, message: impl Into<String>) -> LedgerError {
    LedgerError::Damaged {
        seq,
        message: message.into(),
    }
}

impl Verifier {
    fn run(&mut self, store: &Store) -> Result<(), LedgerError> {
        let head = store
            .head()?
            .ok_or_else(|| damaged(0, "the ledger has no head"))?;
        self.head = head.hash;
        self.walk(store, &head)?;
        self.check_indices(store, head.next_seq)
    }

    /// The walk of the chain: every event through the audit, folded into what the indices
    /// and logs should hold; then the head against what was walked.
    fn walk(&mut self, store: &Store, head: &crate::store::Head) -> Result<(), LedgerError> {
        // One fingerprint per event, reserved at once: grown by doubling, the table would
        // briefly need half as much again beside it (at 10M events, 128 MB for 80). The head
        // is only a hint here, bounded by what the disk could hold.
        let most = store.size_on_disk()? / MIN_FRAME_BYTES;
        self.ids
            .reserve_exact(usize::try_from(head.next_seq.min(most)).unwrap_or(0));
        // Walk to the last stored frame (not the head's count), so that damage anywhere is
        // found at its own seq.
        // What needs only the event is made on the reader's thread: the checks of its fields
        // and signature, and its id's fingerprint.
        // The audit keeps only the last `store_recent_hashes()` hashes: the head an older
        // signature follows is read from the store here (the last one read is kept, since a
        // signed import's events all follow the same head).
        let mut preparer = Preparer::default();
        let mut prepared = Vec::new();
        let mut after_read: Option<(u64, Hash)> = None;
        let prepare = |first_seq: u64, bodies: &[Body], out: &mut Vec<(Prepared, u64)>| {
            preparer.prepare(first_seq, bodies, &mut prepared);
            for ((seq, body), p) in (first_seq..).zip(bodies).zip(prepared.iter_mut()) {
                read_after_hash(store, seq, body, p, &mut after_read);
            }
            let fingerprints = bodies
                .iter()
                .map(|b| b.kind().id().map_or(0, |id| id_fingerprint(id.as_bytes())));
            out.extend(prepared.drain(..).zip(fingerprints));
        };
        read_checked_parallel(store, 0, u64::MAX, &chain::GENESIS_PREV, prepare, |e, p| {
            let (prepared, fingerprint) = p;
            self.audit
                .check_prepared(e.seq, e.body, e.prev_hash, prepared)
                .map_err(|f| damaged(f.seq, f.message))?;
            let kind = e.body.kind();
            if let EventKind::StationRegistered(s) = kind {
                let value = station_index_value(e.seq, self.tally.station_entries);
                self.station_digest.add(s.code.as_bytes(), &value);
            }
            if let Some(rubric) = self.audit.rubric() {
                self.derived(store, e.seq, kind)?;
                let adjusted = self.audit.last_adjusted().copied();
                let station = self.audit.last_station();
                for (log, entry) in self
                    .tally
                    .entries(&rubric, e.body, adjusted.as_ref(), station)
                {
                    match log {
                        Log::Tally => self.tally_check.next(store, &entry),
                        Log::Stations => self.stations_check.next(store, &entry),
                    }
                }
            }
            // Invariant: the walk visits every seq from 0, in order.
            debug_assert_eq!(self.ids.len() as u64, e.seq, "ids are kept by seq");
            self.ids.push(fingerprint);
            if self.expected_head.as_ref() == Some(e.hash) {
                self.expected_head_at = Some(e.seq);
            }
            self.verified = e.seq + 1;
            if e.seq + 1 == head.next_seq && e.hash != &head.hash {
                return Err(damaged(e.seq, "the last event's hash is not the head hash"));
            }
            Ok(true)
        })?;
        self.audit.finish().map_err(|f| damaged(f.seq, f.message))?;
        let stored = self.verified;
        if stored != head.next_seq {
            return Err(damaged(
                stored.min(head.next_seq),
                format!(
                    "the head says {} events but {stored} are stored",
                    head.next_seq
                ),
            ));
        }
        if Some(head.recorded_at_us) != self.audit.last_recorded_us() {
            return Err(damaged(
                head.next_seq - 1,
                "the head's recorded time disagrees with the last event",
            ));
        }
        if (head.tally_rows, head.stations) != (self.tally.rows, self.tally.station_entries) {
            return Err(damaged(
                head.next_seq - 1,
                "the head's counts of the tally logs disagree with the events",
            ));
        }
        Ok(())
    }

    /// Folds an event into the postings it implies (the audit has already checked that its
    /// station exists) and compares the posting with the stored one, in order.
    fn derived(&mut self, store: &Store, seq: u64, kind: &EventKind) -> Result<(), LedgerError> {
        let ordinal = match (self.audit.last_adjusted(), kind) {
            (Some(a), _) => Some(a.station),
            (None, EventKind::PointsRecorded(_) | EventKind::MetricReported(_)) => {
                self.audit.last_station()
            }
            _ => None,
        };
        match ordinal {
            Some(ordinal) => self.postings.next(store, ordinal, seq),
            None => Ok(()),
        }
    }

    /// The `Aggregate` index the events imply: each station's item sums, from the audit; and
    /// the rank index they imply: how many stations stand at each total.
    fn aggregate_digest(&self) -> Result<(SetDigest, BTreeMap<i128, u64>), LedgerError> {
        let mut digest = SetDigest::default();
        let mut ranks: BTreeMap<i128, u64> = BTreeMap::new();
        let rubric = self.audit.rubric();
        let mut sums = self.audit.item_sums().peekable();
        while let Some(&(station, ..)) = sums.peek() {
            let mut items = Vec::new();
            while let Some((_, position, points, n)) = sums.next_if(|s| s.0 == station) {
                items.push((position as u16, points, n));
            }
            let agg =
                crate::domain::rows::Aggregate::from_sums(items.into_iter()).ok_or_else(|| {
                    damaged(
                        self.verified.saturating_sub(1),
                        "an item's points have more than six places",
                    )
                })?;
            digest.add(&crate::domain::rows::aggregate_key(station), &agg.encode());
            let value = rubric
                .as_deref()
                .and_then(|r| crate::domain::rows::rank_value(&agg, r))
                .ok_or_else(|| {
                    damaged(
                        self.verified.saturating_sub(1),
                        "a station's sums have no total",
                    )
                })?;
            *ranks.entry(value).or_default() += 1;
        }
        Ok((digest, ranks))
    }

    /// Compares the rank index with the totals the events imply: every value's count, and
    /// every band's (damage is blamed on the `last` event).
    fn check_ranks(
        store: &Store,
        want: &BTreeMap<i128, u64>,
        last: u64,
    ) -> Result<(), LedgerError> {
        let (values, bands) = store.rank_entries()?;
        if &values != want || bands != crate::store::rank_bands(want) {
            return Err(damaged(
                last,
                "the rank index disagrees with the stations' totals",
            ));
        }
        Ok(())
    }

    /// Compares each index with what the events imply, in one sequential scan per index.
    fn check_indices(&mut self, store: &Store, next_seq: u64) -> Result<(), LedgerError> {
        self.check_ids(store)?;
        let (aggregate_digest, ranks) = self.aggregate_digest()?;
        let key_digest = self.key_digest();
        let dispute_digest = self.dispute_digest();
        for (index, want) in [
            (Index::Dispute, &dispute_digest),
            (Index::Key, &key_digest),
            (Index::Station, &self.station_digest),
            (Index::Aggregate, &aggregate_digest),
        ] {
            let have = index_digest(store, index)?;
            if &have != want {
                return Err(locate_index_damage(
                    store,
                    index,
                    next_seq,
                    want.count(),
                    have.count(),
                ));
            }
        }
        let last = next_seq.saturating_sub(1);
        // After the aggregates, whose damage is located at a station's events: the rank index
        // is derived from them.
        Self::check_ranks(store, &ranks, last)?;
        // The walk checked that the head counts as many entries of each as the events imply.
        let counts = (self.tally.rows, self.tally.station_entries);
        for (check, count) in [
            (&mut self.tally_check, counts.0),
            (&mut self.stations_check, counts.1),
        ] {
            match check.problem.take() {
                None => {}
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(_)) => {
                    return Err(locate_log_damage(store, check.log, next_seq, count, count))
                }
            }
        }
        self.postings.check_heads(store, last)?;
        self.check_unit_counts(store, last)
    }

    /// Compares the id index with the events' ids (`self.ids`, by seq) in one merge of its
    /// entries in fingerprint order ([`Store::for_each_id_entry`], which also checks each
    /// run's order, fences and filter): every entry must name an event whose id has its
    /// fingerprint, no event twice, and every event with an id must be named. The events of
    /// entries that share a fingerprint are read and their ids compared, which proves the ids
    /// unique (the audit of a stored ledger keeps no id set).
    fn check_ids(&mut self, store: &Store) -> Result<(), LedgerError> {
        let ids = &mut self.ids;
        let mut prev = None;
        let mut shared: Vec<Vec<u64>> = Vec::new();
        let mut wrong = None;
        store.for_each_id_entry(|fp, seq| {
            match ids.get_mut(seq as usize) {
                Some(have) if *have == fp && fp != 0 => *have = 0,
                // Kept, so that an event the entry was taken from is named first.
                _ => {
                    wrong.get_or_insert(seq);
                }
            }
            match (prev, shared.last_mut()) {
                (Some((p, q)), Some(group)) if p == fp && group.last() == Some(&q) => {
                    group.push(seq)
                }
                (Some((p, q)), _) if p == fp => shared.push(vec![q, seq]),
                _ => {}
            }
            prev = Some((fp, seq));
            Ok(())
        })?;
        if let Some(seq) = ids.iter().position(|&fp| fp != 0) {
            return Err(damaged(
                seq as u64,
                "this event's id is missing from the id index",
            ));
        }
        if let Some(seq) = wrong {
            return Err(crate::store::StoreError::Corrupt(format!(
                "the id index names seq {seq}, which holds no such id (or is named twice)"
            ))
            .into());
        }
        for group in shared {
            let mut seen = std::collections::BTreeMap::new();
            for seq in group {
                if let Some(first) = id_at(store, seq)?.and_then(|id| seen.insert(id, seq)) {
                    return Err(damaged(
                        seq,
                        format!("its id names a second event (seq {first})"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `Key` index the events imply: each key's registration and revocation seqs.
    fn key_digest(&self) -> SetDigest {
        let mut digest = SetDigest::default();
        for (key, state) in self.audit.keys() {
            let mut value = state.registered_seq.to_be_bytes().to_vec();
            value.extend_from_slice(&state.revoked.map_or(u64::MAX, |r| r.0).to_be_bytes());
            digest.add(key, &value);
        }
        digest
    }

    /// The `Dispute` index the events imply: each disputed record's dispute seqs.
    fn dispute_digest(&self) -> SetDigest {
        let mut digest = SetDigest::default();
        for (target, seqs) in self.audit.disputes() {
            let value: Vec<u8> = seqs.iter().flat_map(|s| s.to_be_bytes()).collect();
            digest.add(&target.to_be_bytes(), &value);
        }
        digest
    }

    /// Compares the `UnitCount` index with the counts the events imply (damage is blamed on
    /// the `last` event).
    fn check_unit_counts(&self, store: &Store, last: u64) -> Result<(), LedgerError> {
        let mut counts = rustc_hash::FxHashMap::default();
        let mut malformed = false;
        store.index_for_each(Index::UnitCount, |k, v| {
            match <[u8; 4]>::try_from(v) {
                Ok(b) => {
                    counts.insert(k.to_vec(), u32::from_be_bytes(b));
                }
                Err(_) => malformed = true,
            }
            Ok(())
        })?;
        if malformed {
            return Err(damaged(last, "a unit count has the wrong size"));
        }
        if counts != self.audit.unit_counts() {
            return Err(damaged(
                last,
                "the unit-count index disagrees with the events",
            ));
        }
        Ok(())
    }
}

/// A derived log (the tally, the station log) compared with what the events imply entry by
/// entry, in order, as the walk makes them; the stored entries are read ahead
/// [`LOG_READ_AHEAD`] at a time (the tally's against its checksums). The first difference, or
/// a read error, is kept and reported after the walk, where damage to the events themselves
/// is found first.
struct LogCheck {
    log: Log,
    /// Stored entries read ahead, packed, with the end of each; the first is entry `from`.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    from: u64,
    /// Entries compared so far.
    compared: u64,
    /// The first entry that differs, or the error reading the stored ones.
    problem: Option<Result<u64, crate::store::StoreError>>,
}

/// Stored log entries a [`LogCheck`] reads at a time (a whole tally checksum block).
const LOG_READ_AHEAD: usize = 4096;

/// A check of the tally (`verify_store` names each log).
impl Default for LogCheck {
    fn default() -> Self {
        LogCheck::new(Log::Tally)
    }
}

impl LogCheck {
    fn new(log: Log) -> LogCheck {
        LogCheck {
            log,
            bytes: Vec::new(),
            ends: Vec::new(),
            from: 0,
            compared: 0,
            problem: None,
        }
    }

    /// Compares the next entry the events imply with the stored one.
    fn next(&mut self, store: &Store, entry: &[u8]) {
        let n = self.compared;
        self.compared += 1;
        if self.problem.is_some() {
            return;
        }
        match self.stored(store, n) {
            Ok(Some(stored)) if stored == entry => {}
            Ok(_) => self.problem = Some(Ok(n)),
            Err(e) => self.problem = Some(Err(e)),
        }
    }

    /// Stored entry `n`, reading ahead from it when it is not buffered (`None`: there is none).
    fn stored(&mut self, store: &Store, n: u64) -> Result<Option<&[u8]>, crate::store::StoreError> {
        let buffered = n
            .checked_sub(self.from)
            .is_some_and(|i| (i as usize) < self.ends.len());
        if !buffered {
            self.bytes.clear();
            self.ends.clear();
            self.from = n;
            let (bytes, ends) = (&mut self.bytes, &mut self.ends);
            store.for_each_log_entry(self.log, n, |_, e| {
                bytes.extend_from_slice(e);
                ends.push(bytes.len());
                Ok(ends.len() < LOG_READ_AHEAD)
            })?;
        }
        let i = (n - self.from) as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1],
        };
        Ok(self.ends.get(i).map(|&end| &self.bytes[start..end]))
    }
}

/// Postings compared with `postings.seg` in one pass, in order, as the walk makes them: each
/// tally row's posting must hold the row's seq and name the same station's posting before
/// it; at the end each station's head (the `Postings` index) must name its last posting and
/// count its postings. Memory: one head per station, and one read's worth of postings.
struct PostingsCheck {
    chains: crate::domain::rows::PostingChains,
    /// Postings made so far.
    made: u64,
    /// Stored postings read ahead, from number `buffered_from`.
    buffered: Vec<crate::store::Posting>,
    buffered_from: u64,
}

impl Default for PostingsCheck {
    fn default() -> Self {
        PostingsCheck {
            chains: crate::domain::rows::PostingChains::new(0),
            made: 0,
            buffered: Vec::new(),
            buffered_from: 0,
        }
    }
}

/// Stored postings read at a time by [`PostingsCheck`].
const POSTINGS_READ_AHEAD: u64 = 4096;

impl PostingsCheck {
    /// The posting of the next tally row, a row of `station` at `seq`, against the stored one.
    fn next(&mut self, store: &Store, station: u32, seq: u64) -> Result<(), LedgerError> {
        let (seq, prev) = self
            .chains
            .post(station, seq, || Ok::<_, LedgerError>(None))?;
        let n = self.made;
        self.made += 1;
        let stored = self.stored(store, n, seq)?;
        if stored.seq != seq || stored.prev != prev {
            return Err(damaged(
                seq,
                format!(
                    "the Postings chain disagrees with the events: posting {n} holds seq {} after posting {}, where the events imply seq {seq} after posting {}",
                    stored.seq,
                    shown(stored.prev),
                    shown(prev)
                ),
            ));
        }
        Ok(())
    }

    /// Stored posting `n`, reading ahead.
    fn stored(
        &mut self,
        store: &Store,
        n: u64,
        seq: u64,
    ) -> Result<crate::store::Posting, LedgerError> {
        let at = n.checked_sub(self.buffered_from).map(|i| i as usize);
        if let Some(p) = at.and_then(|i| self.buffered.get(i)) {
            return Ok(*p);
        }
        let committed = store.head()?.map_or(0, |h| h.tally_rows);
        if n >= committed {
            return Err(damaged(
                seq,
                format!("the Postings chain ends at posting {n}, where the events imply more"),
            ));
        }
        self.buffered.clear();
        self.buffered_from = n;
        let upto = committed.min(n + POSTINGS_READ_AHEAD);
        let buffered = &mut self.buffered;
        store.for_each_posting_from(n, upto, |_, p| {
            buffered.push(p);
            Ok(true)
        })?;
        self.buffered
            .first()
            .copied()
            .ok_or_else(|| damaged(seq, format!("posting {n} cannot be read")))
    }

    /// Each station's stored head against the chains the events made.
    fn check_heads(&self, store: &Store, last: u64) -> Result<(), LedgerError> {
        let mut stored = 0usize;
        let mut bad = None;
        store.index_for_each_unique(Index::Postings, |k, v| {
            stored += 1;
            let station = <[u8; 4]>::try_from(k).map(u32::from_be_bytes);
            let head = crate::domain::rows::PostingsHead::decode(v);
            let want = station.ok().and_then(|s| self.chains.heads.get(&s));
            if bad.is_none() && (head.is_none() || head.as_ref() != want) {
                bad = Some(format!(
                    "the Postings index's head of station {} disagrees with the events",
                    station.map_or_else(|_| "?".to_string(), |s| s.to_string())
                ));
            }
            Ok(())
        })?;
        if let Some(message) = bad {
            return Err(damaged(last, message));
        }
        if stored != self.chains.heads.len() {
            return Err(damaged(
                last,
                format!(
                    "the Postings index holds {stored} heads where the events imply {}",
                    self.chains.heads.len()
                ),
            ));
        }
        Ok(())
    }
}

/// A posting's number as a message shows it.
fn shown(n: u64) -> String {
    match n {
        crate::domain::rows::NO_POSTING => "none".into(),
        n => n.to_string(),
    }
}

/// The digest of an index's entries, refusing a key held twice ([`Store::index_for_each_unique`]):
/// keys are unique, so equal digests prove each station registered once.
fn index_digest(store: &Store, index: Index) -> Result<SetDigest, crate::store::StoreError> {
    let mut have = SetDigest::default();
    store.index_for_each_unique(index, |k, v| {
        have.add(k, v);
        Ok(())
    })?;
    Ok(have)
}

/// The id of the (verified) event at `seq`.
fn id_at(store: &Store, seq: u64) -> Result<Option<String>, LedgerError> {
    let mut id = None;
    store.for_each_frame(seq, seq + 1, |frame| {
        let body = crate::events::codec::decode(frame.body).ok();
        id = body.and_then(|b| b.kind().id().map(str::to_string));
        Ok(false)
    })?;
    Ok(id)
}

/// A station index entry: registration seq (u64 BE) and ordinal (u32 BE).
fn station_index_value(seq: u64, ordinal: u64) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.extend_from_slice(&(ordinal as u32).to_be_bytes());
    v
}

/// The slow path, taken only when an index is known to be wrong: finds the first event whose
/// index entry does not point at it.
fn locate_index_damage(
    store: &Store,
    index: Index,
    next_seq: u64,
    want: u64,
    have: u64,
) -> LedgerError {
    let mut found = None;
    let mut stations = 0u64;
    let walk = read_checked(store, 0, next_seq, &chain::GENESIS_PREV, |e| {
        let kind = e.body.kind();
        let (key, value) = match (index, kind) {
            (Index::Station, EventKind::StationRegistered(s)) => {
                stations += 1;
                (
                    Some(s.code.as_str()),
                    station_index_value(e.seq, stations - 1),
                )
            }
            _ => (None, Vec::new()),
        };
        if let Some(key) = key {
            if store.index_get(index, key.as_bytes())?.as_deref() != Some(&value[..]) {
                found = Some(e.seq);
                return Ok(false);
            }
        }
        Ok(true)
    });
    match (walk, found) {
        (Err(e), _) => e,
        (Ok(()), Some(seq)) => damaged(
            seq,
            format!("the {index:?} index does not point at this event"),
        ),
        (Ok(()), None) => damaged(
            next_seq.saturating_sub(1),
            format!("the {index:?} index holds {have} entries where the events imply {want}"),
        ),
    }
}

/// The slow path, taken only when a tally log is known to be wrong: walks the chain again to
/// derive the log and names what differs — the station log's entries by place, the tally's
/// rows by the stations they count for — so that a damaged ledger's user learns which stations'
/// scores the damage touches.
fn locate_log_damage(store: &Store, log: Log, next_seq: u64, have: u64, want: u64) -> LedgerError {
    let last = next_seq.saturating_sub(1);
    let counts = format!("{have} entries where the events imply {want}");
    let found = match derive_logs(store, next_seq) {
        Ok(derived) => match log {
            Log::Stations => station_log_differences(store, &derived),
            Log::Tally => tally_differences(store, &derived),
        },
        Err(e) => return e,
    };
    match found {
        Ok(what) if !what.is_empty() => damaged(
            last,
            format!("the {log:?} log disagrees with the events ({counts}): {what}"),
        ),
        Ok(_) => damaged(
            last,
            format!("the {log:?} log disagrees with the events ({counts})"),
        ),
        Err(e) => LedgerError::from(e),
    }
}

/// The records the `Dispute` index lists as disputed: the audit of a stored ledger keeps the
/// facts of these only (the index is compared with the events at the end).
fn disputed_records(store: &Store) -> Result<rustc_hash::FxHashSet<u64>, crate::store::StoreError> {
    let mut disputed = rustc_hash::FxHashSet::default();
    store.index_for_each(Index::Dispute, |k, _| {
        if let Ok(seq) = <[u8; 8]>::try_from(k) {
            disputed.insert(u64::from_be_bytes(seq));
        }
        Ok(())
    })?;
    Ok(disputed)
}

/// What the tally logs should hold, derived from the events: station entries in order, and
/// each station's rows as a digest (by ordinal).
struct DerivedLogs {
    stations: Vec<Vec<u8>>,
    rows: std::collections::BTreeMap<u32, SetDigest>,
}

fn derive_logs(store: &Store, next_seq: u64) -> Result<DerivedLogs, LedgerError> {
    let disputed = disputed_records(store)?;
    let mut audit = Audit::for_store(disputed);
    let mut expected = crate::ledger::tally::Expected::default();
    let mut derived = DerivedLogs {
        stations: Vec::new(),
        rows: std::collections::BTreeMap::new(),
    };
    let mut after_read = None;
    read_checked(store, 0, next_seq, &chain::GENESIS_PREV, |e| {
        let mut prepared = Prepared::of(e.seq, e.body);
        read_after_hash(store, e.seq, e.body, &mut prepared, &mut after_read);
        audit
            .check_prepared(e.seq, e.body, e.prev_hash, prepared)
            .map_err(|f| damaged(f.seq, f.message))?;
        let Some(rubric) = audit.rubric() else {
            return Ok(true);
        };
        let adjusted = audit.last_adjusted().copied();
        let station = audit.last_station();
        for (log, entry) in expected.entries(&rubric, e.body, adjusted.as_ref(), station) {
            match log {
                Log::Stations => derived.stations.push(entry),
                Log::Tally => add_row(&mut derived.rows, expected.rows - 1, &entry),
            }
        }
        Ok(true)
    })?;
    Ok(derived)
}

/// Adds a tally entry to its station's digest (a row that does not decode counts for no
/// station, under `u32::MAX`).
fn add_row(rows: &mut std::collections::BTreeMap<u32, SetDigest>, n: u64, entry: &[u8]) {
    let station = crate::domain::rows::Row::decode(entry).map_or(u32::MAX, |r| r.station);
    rows.entry(station)
        .or_default()
        .add(&n.to_be_bytes(), entry);
}

/// A station's code by ordinal, from the derived station entries.
fn station_name(derived: &DerivedLogs, ordinal: u32) -> String {
    derived
        .stations
        .get(ordinal as usize)
        .and_then(|e| crate::domain::rows::StationEntry::decode(e))
        .map_or_else(|| format!("station #{ordinal}"), |e| e.station.code)
}

/// The station log's entries that differ from the events, by place.
fn station_log_differences(
    store: &Store,
    derived: &DerivedLogs,
) -> Result<String, crate::store::StoreError> {
    let mut differ = Vec::new();
    let mut stored = 0usize;
    store.for_each_log_entry(Log::Stations, 0, |n, e| {
        stored += 1;
        if derived.stations.get(n as usize).map(Vec::as_slice) != Some(e) {
            let held = crate::domain::rows::StationEntry::decode(e)
                .map_or_else(|| "a malformed entry".to_string(), |s| s.station.code);
            differ.push(format!(
                "entry {n} holds {held} where the events register {}",
                station_name(derived, n as u32)
            ));
        }
        Ok(differ.len() < MAX_NAMED_DIFFERENCES)
    })?;
    if stored < derived.stations.len() && differ.len() < MAX_NAMED_DIFFERENCES {
        differ.push(format!("entries from {stored} on are missing"));
    }
    Ok(differ.join("; "))
}

/// The stations whose tally rows differ from the events.
fn tally_differences(
    store: &Store,
    derived: &DerivedLogs,
) -> Result<String, crate::store::StoreError> {
    let mut stored: std::collections::BTreeMap<u32, SetDigest> = std::collections::BTreeMap::new();
    store.for_each_log_entry(Log::Tally, 0, |n, e| {
        add_row(&mut stored, n, e);
        Ok(true)
    })?;
    let ordinals: std::collections::BTreeSet<u32> =
        stored.keys().chain(derived.rows.keys()).copied().collect();
    let differ: Vec<String> = ordinals
        .into_iter()
        .filter(|o| stored.get(o) != derived.rows.get(o))
        .take(MAX_NAMED_DIFFERENCES)
        .map(|o| station_name(derived, o))
        .collect();
    Ok(match differ.is_empty() {
        true => String::new(),
        false => format!("the rows of {} differ", differ.join(", ")),
    })
}

/// How many differences a damage report names (the rest are implied: restore the ledger).
const MAX_NAMED_DIFFERENCES: usize = 20;
