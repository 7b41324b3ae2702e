//! Appeals as people ask about them: every appeal with its deduction and decision (`appeal
//! list`), and the dispute history of one record (explain). Read from the `Dispute` index,
//! then from the events themselves.

use crate::domain::dispute::points_after;
use crate::events::event::{AppealDecided, AppealFiled, EventKind, Hash, PointsRecorded};
use crate::ledger::{Ledger, LedgerError};
use jiff::Timestamp;
use rust_decimal::Decimal;

/// One appeal, decision or reversal of a record, with the points before and after it.
#[derive(Debug, Clone)]
pub struct DisputeStory {
    pub seq: u64,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub kind: EventKind,
    /// Points that stood for the record before and after this event.
    pub before: Decimal,
    pub after: Decimal,
}

/// Folds a record's dispute events (in seq order) into stories.
pub fn stories(
    original: Decimal,
    events: impl IntoIterator<Item = (u64, Hash, Timestamp, EventKind)>,
) -> Vec<DisputeStory> {
    let mut points = original;
    events
        .into_iter()
        .map(|(seq, hash, recorded_at, kind)| {
            let after = crate::base::decimal::canonical(points_after(&kind, points));
            let story = DisputeStory {
                seq,
                hash,
                recorded_at,
                kind,
                before: points,
                after,
            };
            points = after;
            story
        })
        .collect()
}

/// An appeal with its deduction and, once decided, its decision.
#[derive(Debug, Clone)]
pub struct AppealEntry {
    pub seq: u64,
    pub hash: Hash,
    pub filed_at: Timestamp,
    pub appeal: AppealFiled,
    pub record_seq: u64,
    pub record: PointsRecorded,
    /// Points that stood when it was filed.
    pub points_before: Decimal,
    pub decision: Option<Decision>,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub seq: u64,
    pub hash: Hash,
    pub decided_at: Timestamp,
    pub decided: AppealDecided,
    /// Points that stand after it.
    pub points_after: Decimal,
}

impl AppealEntry {
    pub fn status(&self) -> &'static str {
        match &self.decision {
            None => "pending",
            Some(d) => d.decided.outcome.as_str(),
        }
    }
}

/// One event, checked, with its hash and recorded time.
fn read(ledger: &Ledger, seq: u64) -> Result<(EventKind, Hash, Timestamp), LedgerError> {
    let mut out = None;
    ledger.replay(seq, seq + 1, |e| {
        out = Some((e.body.kind().clone(), *e.hash, e.body.recorded_at()));
        Ok(false)
    })?;
    out.ok_or_else(|| LedgerError::Damaged {
        seq,
        message: "the dispute index names an event that is missing".into(),
    })
}

/// Every appeal (of one station, or only the pending ones), in filing order.
pub fn list(
    ledger: &Ledger,
    station: Option<&str>,
    pending_only: bool,
) -> Result<Vec<AppealEntry>, LedgerError> {
    let mut out = Vec::new();
    for (target, seqs) in ledger.all_disputes()? {
        let record = match read(ledger, target)?.0 {
            EventKind::PointsRecorded(p) => p,
            _ => {
                return Err(LedgerError::Damaged {
                    seq: target,
                    message: "the dispute index names an event that is not a record".into(),
                })
            }
        };
        if station.is_some_and(|s| s != record.station) {
            continue;
        }
        let mut events = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let (kind, hash, at) = read(ledger, seq)?;
            events.push((seq, hash, at, kind));
        }
        let mut entries: Vec<AppealEntry> = Vec::new();
        for s in stories(record.computed_points, events) {
            match s.kind {
                EventKind::AppealFiled(a) => entries.push(AppealEntry {
                    seq: s.seq,
                    hash: s.hash,
                    filed_at: s.recorded_at,
                    appeal: a,
                    record_seq: target,
                    record: record.clone(),
                    points_before: s.before,
                    decision: None,
                }),
                EventKind::AppealDecided(d) => {
                    if let Some(e) = entries.iter_mut().find(|e| e.seq == d.appeal_seq) {
                        e.decision = Some(Decision {
                            seq: s.seq,
                            hash: s.hash,
                            decided_at: s.recorded_at,
                            decided: d,
                            points_after: s.after,
                        });
                    }
                }
                _ => {}
            }
        }
        out.extend(
            entries
                .into_iter()
                .filter(|e| !pending_only || e.decision.is_none()),
        );
    }
    out.sort_by_key(|e| e.seq);
    Ok(out)
}
