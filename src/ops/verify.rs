//! Verifying a stored ledger: the whole chain and its indices, reporting the first problem.

use crate::domain::audit::Audit;
use crate::events::chain::{self, SetDigest};
use crate::events::event::*;
use crate::ledger::walk::read_checked_parallel;
use crate::ledger::{read_checked, LedgerError};
use crate::store::{Index, Log, Store};
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

#[derive(Default)]
struct Verifier {
    verified: u64,
    head: Hash,
    audit: Audit,
    /// Digests of the index entries the events imply.
    id_digest: SetDigest,
    station_digest: SetDigest,
    /// What the tally logs should hold, and digests of it by position.
    tally: crate::ledger::tally::Expected,
    tally_digest: SetDigest,
    stations_digest: SetDigest,
    /// The postings the events imply.
    postings_digest: SetDigest,
    expected_head: Option<Hash>,
    expected_head_at: Option<u64>,
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
        // The stored per-event indices and the tally are read on a thread of their own while
        // the chain is walked: neither depends on the other until they are compared.
        std::thread::scope(|scope| {
            let stored = scope.spawn(|| StoredDigests::read(store));
            let walked = self.walk(store, &head);
            let stored = stored
                .join()
                .map_err(|_| LedgerError::Io("an index-reading thread failed".into()))?;
            walked?;
            self.check_indices(store, head.next_seq, stored)
        })
    }

    /// The walk of the chain: every event through the audit, folded into what the indices
    /// and logs should hold; then the head against what was walked.
    fn walk(&mut self, store: &Store, head: &crate::store::Head) -> Result<(), LedgerError> {
        // Walk to the last stored frame (not the head's count), so that damage anywhere is
        // found at its own seq.
        read_checked_parallel(store, 0, u64::MAX, &chain::GENESIS_PREV, |e| {
            self.audit
                .check(e.seq, e.body, e.prev_hash)
                .map_err(|f| damaged(f.seq, f.message))?;
            let kind = e.body.kind();
            if let EventKind::StationRegistered(s) = kind {
                let value = station_index_value(e.seq, self.tally.station_entries);
                self.station_digest.add(s.code.as_bytes(), &value);
            }
            if let Some(rubric) = self.audit.rubric() {
                self.derived(e.seq, kind);
                let adjusted = self.audit.last_adjusted().copied();
                let station = self.audit.last_station();
                for (log, entry) in self
                    .tally
                    .entries(&rubric, e.body, adjusted.as_ref(), station)
                {
                    let (digest, n) = match log {
                        Log::Tally => (&mut self.tally_digest, self.tally.rows - 1),
                        Log::Stations => {
                            (&mut self.stations_digest, self.tally.station_entries - 1)
                        }
                    };
                    digest.add(&n.to_be_bytes(), &entry);
                }
            }
            if let Some(id) = kind.id() {
                self.id_digest.add(id.as_bytes(), &e.seq.to_be_bytes());
            }
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
    /// station exists).
    fn derived(&mut self, seq: u64, kind: &EventKind) {
        let ordinal = match (self.audit.last_adjusted(), kind) {
            (Some(a), _) => Some(a.station),
            (None, EventKind::PointsRecorded(_) | EventKind::MetricReported(_)) => {
                self.audit.last_station()
            }
            _ => None,
        };
        if let Some(ordinal) = ordinal {
            self.postings_digest
                .add(&crate::domain::rows::posting_key(ordinal, seq), &[]);
        }
    }

    /// The `Aggregate` index the events imply: each station's item sums, from the audit.
    fn aggregate_digest(&self) -> Result<SetDigest, LedgerError> {
        let mut digest = SetDigest::default();
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
        }
        Ok(digest)
    }

    /// Compares each index with what the events imply, in one sequential scan per index.
    fn check_indices(
        &self,
        store: &Store,
        next_seq: u64,
        stored: StoredDigests,
    ) -> Result<(), LedgerError> {
        let StoredDigests {
            id,
            postings,
            tally,
        } = stored;
        let (mut id, mut postings, mut tally) = (Some(id), Some(postings), Some(tally));
        // Invariant: each index and log is compared once, in the loops below.
        let read = |d: &mut Option<Result<SetDigest, crate::store::StoreError>>| {
            d.take().expect("each stored digest is compared once")
        };
        let aggregate_digest = self.aggregate_digest()?;
        let key_digest = self.key_digest();
        let dispute_digest = self.dispute_digest();
        for (index, want) in [
            (Index::Id, &self.id_digest),
            (Index::Dispute, &dispute_digest),
            (Index::Key, &key_digest),
            (Index::Station, &self.station_digest),
            (Index::Aggregate, &aggregate_digest),
            (Index::Postings, &self.postings_digest),
        ] {
            let have = match index {
                Index::Id => read(&mut id)?,
                Index::Postings => read(&mut postings)?,
                _ => index_digest(store, index)?,
            };
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
        for (log, want) in [
            (Log::Tally, &self.tally_digest),
            (Log::Stations, &self.stations_digest),
        ] {
            let have = match log {
                Log::Tally => read(&mut tally)?,
                Log::Stations => log_digest(store, log)?,
            };
            if &have != want {
                return Err(locate_log_damage(
                    store,
                    log,
                    next_seq,
                    have.count(),
                    want.count(),
                ));
            }
        }
        self.check_unit_counts(store, last)
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

/// Digests of what the store holds in its per-event indices and the tally (read while the
/// chain is walked).
struct StoredDigests {
    id: Result<SetDigest, crate::store::StoreError>,
    postings: Result<SetDigest, crate::store::StoreError>,
    tally: Result<SetDigest, crate::store::StoreError>,
}

impl StoredDigests {
    fn read(store: &Store) -> StoredDigests {
        StoredDigests {
            id: index_digest(store, Index::Id),
            postings: index_digest(store, Index::Postings),
            tally: log_digest(store, Log::Tally),
        }
    }
}

/// The digest of an index's entries, refusing a key held twice ([`Store::index_for_each_unique`]):
/// keys are unique, so equal digests prove the events' ids unique, and the audit of a stored
/// ledger keeps no id set.
fn index_digest(store: &Store, index: Index) -> Result<SetDigest, crate::store::StoreError> {
    let mut have = SetDigest::default();
    store.index_for_each_unique(index, |k, v| {
        have.add(k, v);
        Ok(())
    })?;
    Ok(have)
}

/// The digest of a log's entries by position.
fn log_digest(store: &Store, log: Log) -> Result<SetDigest, crate::store::StoreError> {
    let mut have = SetDigest::default();
    store.for_each_log_entry(log, 0, |n, e| {
        have.add(&n.to_be_bytes(), e);
        Ok(true)
    })?;
    Ok(have)
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
            (Index::Id, k) => (k.id(), e.seq.to_be_bytes().to_vec()),
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
    read_checked(store, 0, next_seq, &chain::GENESIS_PREV, |e| {
        audit
            .check(e.seq, e.body, e.prev_hash)
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
