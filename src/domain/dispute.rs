//! Disputes of recorded points: appeals (申诉), their decisions (复核) and reversals of
//! clerical errors. None of them changes an event; each is a new event, and the points that
//! stand for a record follow from the record and its disputes, folded in seq order.
//!
//! Meaning in time: a decision or reversal corrects the record from the start, so in every
//! valid-time view (`--at`) the record counts at its corrected value; in a transaction-time
//! view from before the decision (`--as-of-seq`, `--known-at`) it counts as first recorded.

use crate::base::limits::MAX_DECIMAL_PLACES;
use crate::domain::rules::already_decided;
use crate::events::event::{AppealOutcome, EventKind};
use rust_decimal::Decimal;

/// The points a record stands at after a dispute event, given the points before it (the
/// event is assumed valid: see [`Standing::apply`]).
pub fn points_after(kind: &EventKind, before: Decimal) -> Decimal {
    match kind {
        EventKind::AppealDecided(d) => match &d.outcome {
            AppealOutcome::Upheld => Decimal::ZERO,
            AppealOutcome::Partial(p) => *p,
            AppealOutcome::Rejected => before,
        },
        EventKind::RecordReversed(_) => Decimal::ZERO,
        _ => before,
    }
}

/// An appeal against a record, and its decision once there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealState {
    pub seq: u64,
    pub id: String,
    /// The seq of its decision, and the outcome.
    pub decided: Option<(u64, AppealOutcome)>,
}

/// Where one record stands after its disputes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The points the record was recorded with.
    pub original: Decimal,
    /// The points that stand now.
    pub points: Decimal,
    /// Appeals in filing order (at most the last is open).
    pub appeals: Vec<AppealState>,
    /// The reversal's seq and id, once reversed.
    pub reversed: Option<(u64, String)>,
    /// The seqs of the dispute events, in order.
    pub seqs: Vec<u64>,
}

/// What a dispute event did to its record's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// Points that stand after, minus points that stood before (zero for a filing or a
    /// rejection).
    pub delta: Decimal,
    /// True when the record now counts for nothing where it counted before (upheld or
    /// reversed): its units no longer count towards a clause's maximum.
    pub removed: bool,
}

/// Why a dispute event cannot apply to a record (the write path refuses such a command; on
/// read it is damage): in English, and in Chinese saying the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict(pub String, pub String);

impl Standing {
    pub fn new(original: Decimal) -> Standing {
        Standing {
            original,
            points: original,
            appeals: Vec::new(),
            reversed: None,
            seqs: Vec::new(),
        }
    }

    /// The open appeal, if any.
    pub fn open_appeal(&self) -> Option<&AppealState> {
        self.appeals.last().filter(|a| a.decided.is_none())
    }

    /// The appeal filed at `seq`.
    pub fn appeal(&self, seq: u64) -> Option<&AppealState> {
        self.appeals.iter().find(|a| a.seq == seq)
    }

    /// True when an upheld decision or a reversal removed the record.
    pub fn removed(&self) -> bool {
        self.reversed.is_some() || self.removing_appeal().is_some()
    }

    /// The appeal whose decision removed the record: upheld, or partial with nothing left
    /// standing (the same in effect, so the same in what follows).
    fn removing_appeal(&self) -> Option<&AppealState> {
        self.appeals.iter().find(|a| match &a.decided {
            Some((_, AppealOutcome::Upheld)) => true,
            Some((_, AppealOutcome::Partial(p))) => p.is_zero(),
            _ => false,
        })
    }

    /// Why the record cannot be appealed or reversed now, if it cannot.
    fn closed(&self, what: &str, what_zh: &str) -> Result<(), Conflict> {
        if let Some((seq, id)) = &self.reversed {
            return Err(Conflict(
                format!("it was reversed by {id} (seq {seq}); {what}"),
                format!("该记录已被 {id}（第 {seq} 号事件）撤销；{what_zh}"),
            ));
        }
        if let Some(a) = self.removing_appeal() {
            let (how, how_zh) = match &a.decided {
                Some((_, AppealOutcome::Upheld)) => ("was upheld", "申诉成立"),
                _ => (
                    "was decided partial with 0 points standing",
                    "部分成立且保留 0 分",
                ),
            };
            return Err(Conflict(
                format!(
                    "appeal {} (seq {}) {how} and removed it; {what}",
                    a.id, a.seq
                ),
                format!(
                    "申诉 {}（第 {} 号事件）{how_zh}，该记录已不计分；{what_zh}",
                    a.id, a.seq
                ),
            ));
        }
        if let Some(a) = self.open_appeal() {
            return Err(Conflict(
                format!(
                    "it is already under appeal {} (seq {}), not yet decided",
                    a.id, a.seq
                ),
                format!("该记录已有申诉 {}（第 {} 号事件）尚未复核", a.id, a.seq),
            ));
        }
        Ok(())
    }

    /// Checks that `kind` (a dispute event of this record, at `seq`) may follow the ones
    /// before it, and folds it in.
    pub fn apply(&mut self, seq: u64, kind: &EventKind) -> Result<Effect, Conflict> {
        let before = self.points;
        let was_removed = self.removed();
        match kind {
            EventKind::AppealFiled(a) => {
                self.closed("there is nothing left to appeal", "没有可申诉的了")?;
                self.appeals.push(AppealState {
                    seq,
                    id: a.id.clone(),
                    decided: None,
                });
            }
            EventKind::AppealDecided(d) => {
                let (original, current) = (self.original, self.points);
                let appeal = self
                    .appeals
                    .iter_mut()
                    .find(|a| a.seq == d.appeal_seq)
                    .ok_or_else(|| {
                        Conflict(
                            format!("seq {} is not an appeal against this record", d.appeal_seq),
                            format!("第 {} 号事件不是对该记录的申诉", d.appeal_seq),
                        )
                    })?;
                if let Some((at, outcome)) = &appeal.decided {
                    let p = already_decided(&appeal.id, outcome, &format!("seq {at}"));
                    return Err(Conflict(p.message, p.zh));
                }
                if let AppealOutcome::Partial(p) = &d.outcome {
                    if *p < Decimal::ZERO || *p > original {
                        return Err(Conflict(
                            format!(
                                "partial points {p} are not between 0 and the original {original}"
                            ),
                            format!("部分成立保留的分值 {p} 不在 0 与原扣分 {original} 之间"),
                        ));
                    }
                    if p.scale() > MAX_DECIMAL_PLACES {
                        return Err(Conflict(
                            format!(
                                "partial points {p} have more than {MAX_DECIMAL_PLACES} decimal places"
                            ),
                            format!("部分成立保留的分值 {p} 的小数超过 {MAX_DECIMAL_PLACES} 位"),
                        ));
                    }
                }
                appeal.decided = Some((seq, d.outcome.clone()));
                self.points = points_after(kind, current);
            }
            EventKind::RecordReversed(r) => {
                self.closed("it counts for nothing already", "它已经不计分")?;
                self.reversed = Some((seq, r.id.clone()));
                self.points = points_after(kind, self.points);
            }
            _ => {
                return Err(Conflict(
                    "not an appeal, decision or reversal".into(),
                    "不是申诉、复核或撤销".into(),
                ))
            }
        }
        self.seqs.push(seq);
        Ok(Effect {
            delta: crate::base::decimal::canonical(self.points - before),
            removed: self.removed() && !was_removed,
        })
    }
}
