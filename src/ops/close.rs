//! Closing the period (`kaohe close`): the rank bonuses, the gap check, and the closing event
//! that seals the ledger.
//!
//! Close reads the ledger once (a replay: the truth, and a once-a-year operation), refuses
//! while an appeal is pending or a station's latest figure fails a standard with no deduction
//! recorded (unless the gaps are accepted with a reason), ranks the stations for each rank
//! clause from their latest reports (latest = last recorded), and appends in one commit a
//! `PointsRecorded` per rank bonus (dated the period's last day, the ranking as evidence) and
//! the `PeriodClosed` event with every station's final score. The ranking and gap rules here
//! are the ones the audit re-checks on read.

use crate::base::limits::MAX_REASON_CHARS;
use crate::domain::projection::Scores;
use crate::domain::ranking::{gaps, ranking_evidence, rankings};
use crate::domain::rubric::Rubric;
use crate::domain::rules::{self, GapRefusal};
use crate::events::event::After;
use crate::events::event::{
    Body, EventKind, EventV1, FinalScore, Gap, Hash, Inputs, PeriodClosed, PointsRecorded, Ranking,
    StationKind,
};
use crate::events::sign::KeyPair;
use crate::ledger::{Attached, Ledger, LedgerError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

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

/// What close found that stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// Appeals not yet decided: (appeal id, seq, station, deduction id).
    PendingAppeals(Vec<(String, u64, String, String)>),
    /// Standards failed with no deduction recorded.
    Gaps(Vec<Gap>),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::PendingAppeals(list) => {
                writeln!(
                    f,
                    "{} appeal(s) are pending; decide them before closing:",
                    list.len()
                )?;
                for (id, seq, station, against) in list {
                    writeln!(f, "  {id} (seq {seq}) by {station} against {against}")?;
                }
                Ok(())
            }
            NotReady::Gaps(gaps) => {
                writeln!(
                    f,
                    "{} standard(s) are failed by a station's latest figure with no deduction recorded under the clause; record them, or close with --accept-gaps --reason TEXT:",
                    gaps.len()
                )?;
                for g in gaps {
                    writeln!(
                        f,
                        "  {} {}: {} = {} (would deduct {})",
                        g.station, g.clause, g.metric, g.value, g.points
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl NotReady {
    /// What `Display` says, in Chinese.
    pub fn zh(&self) -> String {
        let mut out = String::new();
        match self {
            NotReady::PendingAppeals(list) => {
                out.push_str(&format!(
                    "还有 {} 件申诉待复核；请先复核再结算：\n",
                    list.len()
                ));
                for (id, seq, station, against) in list {
                    out.push_str(&format!(
                        "  {id}（第 {seq} 号事件）：{station} 对 {against} 的申诉\n"
                    ));
                }
            }
            NotReady::Gaps(gaps) => {
                out.push_str(&format!(
                    "有 {} 处司法所的最新数值未达标准，而该条款下没有扣分记录；请补记扣分，或说明理由后接受：\n",
                    gaps.len()
                ));
                for g in gaps {
                    out.push_str(&format!(
                        "  {} {}：{} = {}（应扣 {} 分）\n",
                        g.station, g.clause, g.metric, g.value, g.points
                    ));
                }
            }
        }
        out
    }
}

impl From<NotReady> for LedgerError {
    fn from(n: NotReady) -> LedgerError {
        LedgerError::NotReady(n.to_string(), n.zh())
    }
}

/// What close did.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The rank bonuses: (seq, record).
    pub bonuses: Vec<(u64, PointsRecorded)>,
    pub closing: Closing,
}

/// What one replay gathers for close.
#[derive(Default)]
struct State {
    stations: Vec<(String, StationKind)>,
    /// (station, metric) → latest value (last recorded).
    latest: HashMap<(String, String), Decimal>,
    /// record seq → (station, clause), for records not reversed.
    records: BTreeMap<u64, (String, String)>,
}

impl State {
    fn fold(&mut self, kind: &EventKind, seq: u64) {
        match kind {
            EventKind::StationRegistered(s) => self.stations.push((s.code.clone(), s.kind)),
            EventKind::MetricReported(m) => {
                self.latest
                    .insert((m.station.clone(), m.metric.clone()), m.value);
            }
            EventKind::PointsRecorded(p) => {
                self.records
                    .insert(seq, (p.station.clone(), p.clause.clone()));
            }
            EventKind::RecordReversed(r) => {
                self.records.remove(&r.target);
            }
            _ => {}
        }
    }

    fn latest(&self, station: &str, metric: &str) -> Option<Decimal> {
        self.latest
            .get(&(station.to_string(), metric.to_string()))
            .copied()
    }

    /// The standards failed by a station's latest figure with no record under the clause.
    fn gaps(&self, rubric: &Rubric) -> Vec<Gap> {
        let recorded: std::collections::HashSet<(&str, &str)> = self
            .records
            .values()
            .map(|(s, c)| (s.as_str(), c.as_str()))
            .collect();
        gaps(
            rubric,
            &self.stations,
            |s, m| self.latest(s, m),
            |s, c| recorded.contains(&(s, c)),
        )
    }
}

/// The gaps a close would find now, with nothing written: each standard a station's latest
/// figure fails with no deduction recorded under its clause (records not reversed). The
/// bureau sees them before it closes, and accepts them with a reason or records them first.
pub fn pending_gaps(ledger: &Ledger) -> Result<Vec<Gap>, LedgerError> {
    let mut state = State::default();
    ledger.replay_all(|e| {
        state.fold(e.body.kind(), e.seq);
        Ok(true)
    })?;
    Ok(state.gaps(ledger.rubric()))
}

/// Closes the period: checks, ranks, and appends the rank bonuses and the closing event in one
/// commit. `accept_gaps` is the reason to close despite gaps.
pub fn close(
    ledger: &mut Ledger,
    now: Timestamp,
    accept_gaps: Option<&str>,
    signer: Option<&KeyPair>,
) -> Result<Closed, LedgerError> {
    let (bonuses, closed) = plan(ledger, now, accept_gaps)?;
    let seqs = ledger.append_closing(bonuses, closed, now, signer, None)?;
    read_back(ledger, seqs)
}

/// [`close`] with the closing event signed elsewhere (the service: the bureau signed the
/// `to_sign` of [`prepare`] in its browser). The close is planned again against the ledger
/// as it stands; the signature must cover the closing event it gives now.
pub fn close_attached(
    ledger: &mut Ledger,
    now: Timestamp,
    accept_gaps: Option<&str>,
    attached: Attached,
) -> Result<Closed, LedgerError> {
    let (bonuses, closed) = plan(ledger, now, accept_gaps)?;
    let seqs = ledger.append_closing(bonuses, closed, now, None, Some(attached))?;
    read_back(ledger, seqs)
}

/// What a close would append, with nothing written: the closing event, and the bytes the
/// bureau signs for it after the ledger's head (`sign::message_after`).
pub fn prepare(
    ledger: &Ledger,
    now: Timestamp,
    accept_gaps: Option<&str>,
) -> Result<(EventKind, After, Vec<u8>), LedgerError> {
    let (_, closed) = plan(ledger, now, accept_gaps)?;
    let kind = EventKind::PeriodClosed(closed);
    let after = ledger.head_after();
    let bytes = crate::events::codec::encode_kind(&kind)?;
    let to_sign = crate::events::sign::message_after(&ledger.genesis().ledger_id, &after, &bytes);
    Ok((kind, after, to_sign))
}

/// The rank bonuses and the closing event a close appends now (checked: closable, gaps
/// accepted or none).
fn plan(
    ledger: &Ledger,
    now: Timestamp,
    accept_gaps: Option<&str>,
) -> Result<(Vec<PointsRecorded>, PeriodClosed), LedgerError> {
    check_closable(ledger, now)?;
    let rubric = ledger.rubric().clone();
    let mut state = State::default();
    let mut fold = Scores::new(&rubric);
    ledger.replay_all(|e| {
        state.fold(e.body.kind(), e.seq);
        fold.apply(e.body)?;
        Ok(true)
    })?;
    let gaps = state.gaps(&rubric);
    let reason = gaps_reason(&gaps, accept_gaps)?;
    let rankings = rankings(&rubric, &state.stations, |s, m| state.latest(s, m));
    let bonuses = rank_bonuses(&rubric, &rankings);
    let first = ledger.head().next_seq;
    for (i, b) in bonuses.iter().enumerate() {
        fold.apply(&Body::V1(EventV1 {
            seq: first + i as u64,
            recorded_at_us: 0,
            kind: EventKind::PointsRecorded(b.clone()),
        }))?;
    }
    let scores = fold
        .finish()
        .into_iter()
        .map(|s| FinalScore {
            station: s.station,
            total: s.total,
            rank: s.rank,
        })
        .collect();
    let closed = PeriodClosed {
        head: ledger.head().hash,
        scores,
        rankings,
        accepted_gaps: if reason.is_some() { gaps } else { Vec::new() },
        reason,
    };
    Ok((bonuses, closed))
}

/// Refuses to close a closed period, before the period's last day, or with appeals pending.
fn check_closable(ledger: &Ledger, now: Timestamp) -> Result<(), LedgerError> {
    if let Some(seq) = ledger.closed_at() {
        return Err(LedgerError::Refused {
            line: None,
            field: "close".into(),
            message: format!("the period was already closed at seq {seq}"),
            zh: format!("考核期已于第 {seq} 号事件结算"),
        });
    }
    let stored_at = ledger.stamp(now)?;
    let today = rules::local_day(crate::events::event::timestamp_from_us(stored_at));
    let period_end = ledger.genesis().period_end;
    if today < period_end {
        return Err(LedgerError::Refused {
            line: None,
            field: "close".into(),
            message: format!(
                "the period runs to {period_end}; close it on or after that day (today is {today}): the rank bonuses are dated the period's last day"
            ),
            zh: format!(
                "考核期到 {period_end} 为止；请在当天或之后结算（今天是 {today}）：名次加分记在考核期的最后一天"
            ),
        });
    }
    let pending = crate::ops::appeals::list(ledger, None, true)?;
    if !pending.is_empty() {
        let list = pending
            .iter()
            .map(|a| {
                (
                    a.appeal.id.clone(),
                    a.seq,
                    a.appeal.station.clone(),
                    a.record.id.clone(),
                )
            })
            .collect();
        return Err(NotReady::PendingAppeals(list).into());
    }
    Ok(())
}

/// The reason recorded for closing despite `gaps` (`None` when there are none); refuses
/// gaps not accepted, or accepted with no reason.
fn gaps_reason(gaps: &[Gap], accept_gaps: Option<&str>) -> Result<Option<String>, LedgerError> {
    match rules::accepted_gaps(!gaps.is_empty(), accept_gaps) {
        Ok(Some(reason)) => match rules::long_text("reason", reason, MAX_REASON_CHARS) {
            Ok(()) => Ok(Some(reason.to_string())),
            Err(p) => Err(LedgerError::Refused {
                line: None,
                field: p.field.into(),
                message: p.message,
                zh: p.zh,
            }),
        },
        Ok(None) => Ok(None),
        Err(GapRefusal::NotAccepted) => Err(NotReady::Gaps(gaps.to_vec()).into()),
        Err(GapRefusal::NoReason) => {
            let p = GapRefusal::no_reason();
            Err(LedgerError::Refused {
                line: None,
                field: p.field.into(),
                message: p.message,
                zh: p.zh,
            })
        }
    }
}

/// The rank bonus records, dated the period's last day with the ranking as evidence.
fn rank_bonuses(rubric: &Rubric, rankings: &[Ranking]) -> Vec<PointsRecorded> {
    let mut bonuses = Vec::new();
    for ranking in rankings {
        // Invariant: rankings are built from the rubric's rank clauses.
        let (item, clause) = rubric
            .clause(&ranking.clause)
            .expect("ranked clauses are in the rubric");
        let metric = clause.rule.metric().unwrap_or_default();
        for e in &ranking.entries {
            bonuses.push(PointsRecorded {
                id: String::new(),
                station: e.station.clone(),
                clause: ranking.clause.clone(),
                inputs: Inputs {
                    value: Some(e.value),
                    count: Some(e.rank),
                    note: Some(format!("第{}名（{}个站点达标）", e.rank, ranking.qualified)),
                    ..Inputs::default()
                },
                computed_points: e.points,
                occurred: rubric.period_end,
                by: item.departments.first().cloned().unwrap_or_default(),
                evidence: ranking_evidence(ranking, metric),
            });
        }
    }
    bonuses
}

/// What close appended, read back: the rank bonuses at `seqs` and the closing event.
fn read_back(ledger: &Ledger, seqs: Vec<u64>) -> Result<Closed, LedgerError> {
    let closing = closing(ledger)?.ok_or_else(|| LedgerError::Damaged {
        seq: ledger.head().next_seq.saturating_sub(1),
        message: "the closing event cannot be read back".into(),
    })?;
    let mut bonuses = Vec::new();
    for seq in seqs {
        if let Some(EventKind::PointsRecorded(p)) = ledger.event(seq)?.map(|b| b.kind().clone()) {
            bonuses.push((seq, p));
        }
    }
    Ok(Closed { bonuses, closing })
}
