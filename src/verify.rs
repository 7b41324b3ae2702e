//! Verifying a stored ledger: the whole chain and its indices, reporting the first problem.

use crate::chain::{self, SetDigest};
use crate::event::*;
use crate::ledger::{read_checked, LedgerError};
use crate::rubric::{self, Context, Rubric, Rule};
use crate::store::{Index, Store};
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
    let store = Store::open(path)?;
    let mut v = Verifier {
        expected_head: expected_head.copied(),
        ..Verifier::default()
    };
    let problem = match v.run(&store) {
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
            message: crate::export::missing_head(h, v.verified.saturating_sub(1), &v.head),
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
    rubric: Option<std::rc::Rc<Rubric>>,
    stations: BTreeMap<String, StationKind>,
    /// Digests of the index entries the events imply.
    id_digest: SetDigest,
    station_digest: SetDigest,
    unit_counts: BTreeMap<Vec<u8>, u32>,
    last_recorded: i64,
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
        // Walk to the last stored frame (not the head's count), so that damage anywhere is
        // found at its own seq.
        read_checked(store, 0, u64::MAX, &chain::GENESIS_PREV, |e| {
            self.event(e.seq, e.body)?;
            if self.expected_head.as_ref() == Some(e.hash) {
                self.expected_head_at = Some(e.seq);
            }
            self.verified = e.seq + 1;
            if e.seq + 1 == head.next_seq && e.hash != &head.hash {
                return Err(damaged(e.seq, "the last event's hash is not the head hash"));
            }
            Ok(true)
        })?;
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
        if head.recorded_at_us != self.last_recorded {
            return Err(damaged(
                head.next_seq - 1,
                "the head's recorded time disagrees with the last event",
            ));
        }
        self.check_indices(store, head.next_seq)
    }

    fn event(&mut self, seq: u64, body: &Body) -> Result<(), LedgerError> {
        let at = body.v1().recorded_at_us;
        if at < self.last_recorded {
            return Err(damaged(seq, "recorded_at goes back in time"));
        }
        self.last_recorded = at;
        let kind = body.kind();
        if let EventKind::LedgerCreated(g) = kind {
            if seq != 0 {
                return Err(damaged(seq, "a second genesis"));
            }
            if chain::plain(g.rubric_toml.as_bytes()) != g.rubric_hash {
                return Err(damaged(0, "the rubric does not match its hash"));
            }
            let r = rubric::load(&g.rubric_toml).map_err(|e| damaged(0, e.to_string()))?;
            self.rubric = Some(std::rc::Rc::new(r));
            return Ok(());
        }
        let Some(rubric) = self.rubric.clone() else {
            return Err(damaged(seq, "the first event is not the genesis"));
        };
        if let Some(station) = kind.station() {
            if let EventKind::StationRegistered(s) = kind {
                if self.stations.insert(station.to_string(), s.kind).is_some() {
                    return Err(damaged(seq, format!("station {station} registered twice")));
                }
                self.station_digest
                    .add(station.as_bytes(), &seq.to_be_bytes());
            } else if !self.stations.contains_key(station) {
                return Err(damaged(
                    seq,
                    format!("event for unregistered station {station}"),
                ));
            }
        }
        if let Some(id) = kind.id() {
            self.id_digest.add(id.as_bytes(), &seq.to_be_bytes());
        }
        if let EventKind::PointsRecorded(p) = kind {
            self.recompute(&rubric, seq, p)?;
        }
        Ok(())
    }

    /// Recomputes a record's points from the rubric and the state before it: a forged or
    /// miscomputed figure that still chains is caught here.
    fn recompute(
        &mut self,
        rubric: &Rubric,
        seq: u64,
        p: &PointsRecorded,
    ) -> Result<(), LedgerError> {
        let Some((item, clause)) = rubric.clause(&p.clause) else {
            return Err(damaged(
                seq,
                format!("clause {} is not in the rubric", p.clause),
            ));
        };
        if !item.departments.contains(&p.by) {
            return Err(damaged(
                seq,
                format!("{} does not assess item {}", p.by, item.code),
            ));
        }
        let station_kind = self.stations[&p.station];
        let mut k = p.station.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(p.clause.as_bytes());
        let counted = matches!(
            clause.rule,
            Rule::PerUnit {
                max_count: Some(_),
                ..
            }
        );
        let prior_count = if counted {
            self.unit_counts.get(&k).copied().unwrap_or(0)
        } else {
            0
        };
        let ctx = Context {
            station_kind,
            prior_count,
        };
        match rubric.compute(clause, &ctx, &p.inputs) {
            Ok(points) if points == p.computed_points => {}
            Ok(points) => {
                return Err(damaged(
                    seq,
                    format!(
                        "computed_points {} but the rubric gives {points}",
                        p.computed_points
                    ),
                ))
            }
            Err(e) => return Err(damaged(seq, format!("the rubric refuses this record: {e}"))),
        }
        if counted {
            *self.unit_counts.entry(k).or_default() += p.inputs.count.unwrap_or(1);
        }
        Ok(())
    }

    /// Compares each index with what the events imply, in one sequential scan per index.
    fn check_indices(&self, store: &Store, next_seq: u64) -> Result<(), LedgerError> {
        for (index, want) in [
            (Index::Id, &self.id_digest),
            (Index::Station, &self.station_digest),
        ] {
            let mut have = SetDigest::default();
            store.index_for_each(index, |k, v| {
                have.add(k, v);
                Ok(())
            })?;
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
        let mut counts = BTreeMap::new();
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
        if counts != self.unit_counts {
            return Err(damaged(
                last,
                "the unit-count index disagrees with the events",
            ));
        }
        Ok(())
    }
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
    let walk = read_checked(store, 0, next_seq, &chain::GENESIS_PREV, |e| {
        let kind = e.body.kind();
        let key = match (index, kind) {
            (Index::Id, k) => k.id(),
            (Index::Station, EventKind::StationRegistered(s)) => Some(s.code.as_str()),
            _ => None,
        };
        if let Some(key) = key {
            if store.index_get(index, key.as_bytes())?.as_deref() != Some(&e.seq.to_be_bytes()[..])
            {
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
