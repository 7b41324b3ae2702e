//! Closing the period (`kaohe close`): the rank bonuses, the gap check, and the closing event
//! that seals the ledger.

use crate::event::{EventKind, Hash, PeriodClosed};
use crate::ledger::{Ledger, LedgerError};
use jiff::Timestamp;

/// The closing event of a sealed ledger.
#[derive(Debug, Clone)]
pub struct Closing {
    pub seq: u64,
    /// The closing event's own hash (the ledger's final head).
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub closed: PeriodClosed,
}

/// The closing event, when the period is closed (it is always the last event).
pub fn closing(ledger: &Ledger) -> Result<Option<Closing>, LedgerError> {
    let last = ledger.head().next_seq.saturating_sub(1);
    let mut out = None;
    ledger.replay(last, last + 1, |e| {
        if let EventKind::PeriodClosed(c) = e.body.kind() {
            out = Some(Closing {
                seq: e.seq,
                hash: *e.hash,
                recorded_at: e.body.recorded_at(),
                closed: c.clone(),
            });
        }
        Ok(false)
    })?;
    Ok(out)
}
