//! The service's reads of whole things and its evidence files (issue 14): one event as
//! `kaohe show --json` gives it, its receipt, the export (line by line, for a stream), the
//! stored checkpoints; evidence files stored and served. Each use case checks who asks before
//! it reads anything.
//!
//! Evidence files can hold personal data of people under community correction, so a file is
//! served only to the bureau, the auditors, and the parties of an event that references it:
//! the station the event is about, the department that recorded it (`by` of a record, a metric,
//! a decision or a reversal), and for an appeal the department whose record it appeals (the
//! one that must decide it). A file no event references yet is served to the bureau and the
//! auditors alone.

use crate::base::limits::{
    MAX_DEPARTMENT_CHARS, MAX_EVIDENCE_FILE_BYTES, MAX_LOG_PAGE_ROWS, MAX_REFERENCE_CHARS,
    MAX_STATION_CODE_CHARS,
};
use crate::events::chain;
use crate::events::event::{Actor, EventKind, Hash};
use crate::ledger::query::{Query, View};
use crate::ledger::{Ledger, LedgerError};
use crate::ops::actions::{self, ActionError, EventName};
use crate::ops::evidence::{self, REFERENCE_PREFIX};
use crate::ops::export;
use crate::ops::proofs::{self, ProofError};
use crate::render::lists;
use crate::service::sessions::Session;
use crate::service::{poisoned, Service, ServiceError};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The events of a view, checked and ready to be sent line by line ([`Lines::lines`]): the
/// export's lines, or the log's (filtered by a [`LogFilter`]).
pub struct Lines {
    ledger: Arc<Ledger>,
    view: View,
    form: Form,
    filter: LogFilter,
}

/// Which lines: `kaohe export`'s, or `kaohe log --json`'s.
enum Form {
    Export,
    Log,
}

/// The event types as the export names them (`type`), which the log's `type` filter takes.
pub const EVENT_TYPES: [&str; 13] = [
    "ledger_created",
    "ledger_follows",
    "root_key",
    "signatures_required",
    "key_registered",
    "key_revoked",
    "station_registered",
    "points_recorded",
    "metric_reported",
    "appeal_filed",
    "appeal_decided",
    "record_reversed",
    "period_closed",
];

/// Which events the log keeps (`GET /api/v1/log`, the log page); each `None` keeps every
/// event. Read from a request's parameters by [`LogFilter::parse`] (an empty value is no
/// filter) and checked against the ledger by [`Service::log`] (an unknown station, department,
/// clause or type is refused, naming the parameter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// The station an event is about.
    pub station: Option<String>,
    /// The department that wrote a record, metric report, decision or reversal, or whose
    /// record an appeal is against (an alias is read as its department).
    pub by: Option<String>,
    /// The clause of a record, and of the record an appeal, decision or reversal is about.
    pub clause: Option<String>,
    /// The event's type as the export names it ([`EVENT_TYPES`]).
    pub kind: Option<String>,
    /// The first seq kept, and the last (both included).
    pub from_seq: Option<u64>,
    pub to_seq: Option<u64>,
}

impl LogFilter {
    /// The filter a request's parameters ask for: `station`, `by`, `clause`, `type`,
    /// `from_seq`, `to_seq`; an empty value asks for nothing.
    pub fn parse(
        params: &std::collections::HashMap<String, String>,
    ) -> Result<LogFilter, ServiceError> {
        let text = |name: &str, max: usize| -> Result<Option<String>, ServiceError> {
            let Some(v) = params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            if v.chars().count() > max {
                return Err(ServiceError::bad(
                    name,
                    format!("longer than {max} characters"),
                    format!("超过 {max} 个字符"),
                ));
            }
            Ok(Some(v.to_string()))
        };
        let seq = |name: &str| -> Result<Option<u64>, ServiceError> {
            text(name, MAX_REFERENCE_CHARS)?
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ServiceError::bad(
                            name,
                            format!("`{v}` is not a seq"),
                            format!("“{v}”不是事件序号"),
                        )
                    })
                })
                .transpose()
        };
        let filter = LogFilter {
            station: text("station", MAX_STATION_CODE_CHARS)?,
            by: text("by", MAX_DEPARTMENT_CHARS)?,
            clause: text("clause", MAX_REFERENCE_CHARS)?,
            kind: text("type", MAX_REFERENCE_CHARS)?,
            from_seq: seq("from_seq")?,
            to_seq: seq("to_seq")?,
        };
        if let (Some(from), Some(to)) = (filter.from_seq, filter.to_seq) {
            if to < from {
                return Err(ServiceError::bad(
                    "to_seq",
                    format!("{to} is before from_seq {from}"),
                    format!("截止序号 {to} 早于起始序号 {from}"),
                ));
            }
        }
        Ok(filter)
    }

    /// Whether any filter but the seqs is set.
    fn by_content(&self) -> bool {
        self.station.is_some() || self.by.is_some() || self.clause.is_some() || self.kind.is_some()
    }
}

/// One page of the log ([`Service::log_page`]): the events kept, each a log line's fields with,
/// for an appeal, a decision or a reversal, the record it is about (`record`: its `seq`,
/// `clause` and `by`); and the seq to read the next page from, when there are more.
pub struct LogPage {
    pub rows: Vec<Value>,
    pub next: Option<u64>,
}

/// The record an appeal, a decision or a reversal is about.
fn record_seq_of(kind: &EventKind) -> Option<u64> {
    match kind {
        EventKind::AppealFiled(a) => Some(a.against),
        EventKind::AppealDecided(d) => Some(d.against),
        EventKind::RecordReversed(r) => Some(r.target),
        _ => None,
    }
}

/// A record's clause and department, read from the chain.
fn record_at(ledger: &Ledger, seq: u64) -> Result<Option<(String, String)>, LedgerError> {
    Ok(match ledger.event(seq)?.map(|b| b.kind().clone()) {
        Some(EventKind::PointsRecorded(p)) => Some((p.clause, p.by)),
        _ => None,
    })
}

impl Lines {
    /// Whether the filter keeps an event of this kind.
    fn keeps(&self, kind: &EventKind) -> Result<bool, LedgerError> {
        let f = &self.filter;
        if !f.by_content() {
            return Ok(true);
        }
        if f.kind.as_deref().is_some_and(|t| t != kind.type_name())
            || f.station.is_some() && kind.station() != f.station.as_deref()
        {
            return Ok(false);
        }
        if f.by.is_none() && f.clause.is_none() {
            return Ok(true);
        }
        let (clause, by) = match kind {
            EventKind::PointsRecorded(p) => (Some(p.clause.clone()), Some(p.by.clone())),
            EventKind::MetricReported(m) => (None, Some(m.by.clone())),
            other => match record_seq_of(other) {
                Some(seq) => match record_at(&self.ledger, seq)? {
                    Some((clause, by)) => (
                        Some(clause),
                        Some(department_of(other).map_or(by, str::to_string)),
                    ),
                    None => (None, department_of(other).map(str::to_string)),
                },
                None => (None, None),
            },
        };
        Ok(f.by.as_ref().is_none_or(|b| by.as_ref() == Some(b))
            && f.clause.as_ref().is_none_or(|c| clause.as_ref() == Some(c)))
    }

    /// Each event in view the filter keeps, in order, to `f`, until it returns false.
    fn each(
        &self,
        mut f: impl FnMut(crate::ledger::EventRef<'_>) -> bool,
    ) -> Result<(), ServiceError> {
        let from = self.filter.from_seq.unwrap_or(0);
        let end = match self.filter.to_seq {
            Some(to) => self.view.end.min(to.saturating_add(1)),
            None => self.view.end,
        };
        if from >= end {
            return Ok(());
        }
        self.ledger.replay(from, end, |e| {
            if !self.view.includes(e.body) || !self.keeps(e.body.kind())? {
                return Ok(true);
            }
            Ok(f(e))
        })?;
        Ok(())
    }

    /// Each line (with its newline), in order, to `each`, until it returns false (the client
    /// went away): never the whole in memory.
    pub fn lines(&self, mut each: impl FnMut(String) -> bool) -> Result<(), ServiceError> {
        self.each(|e| {
            let mut line = match self.form {
                Form::Export => export::line(e.body, e.bytes, e.prev_hash, e.hash),
                Form::Log => Value::Object(log_fields(&e)).to_string(),
            };
            line.push('\n');
            each(line)
        })
    }
}

/// A log line's fields (`log --json`): the decoded event and its hash.
fn log_fields(e: &crate::ledger::EventRef<'_>) -> Map<String, Value> {
    let mut m = export::decoded(e.body);
    m.insert("hash".into(), json!(hex::encode(e.hash)));
    m
}

/// A stored evidence file as it is served: its bytes (checked against the hash) and the name
/// an event gave it, if any.
pub struct EvidenceDownload {
    pub bytes: Vec<u8>,
    pub name: Option<String>,
}

impl Service {
    /// `GET /api/v1/events/{ref}`: one event whole, as `kaohe show --json` prints it (the
    /// export line, `last_seq`, `next_hash`); `ref` is an id, a seq or a hash. A station reads
    /// only the events about itself.
    pub fn event(&self, who: &Session, name: &str) -> Result<Value, ServiceError> {
        let ledger = self.ledger()?;
        let seq = readable_event(&ledger, who, name)?;
        let (line, next_hash) = actions::event_line(&ledger, seq).map_err(action_error)?;
        let mut v: Map<String, Value> =
            serde_json::from_str(&line).map_err(|e| ServiceError::Internal(e.to_string()))?;
        v.insert("last_seq".into(), json!(ledger.head().next_seq - 1));
        v.insert("next_hash".into(), json!(next_hash));
        Ok(Value::Object(v))
    }

    /// `GET /api/v1/receipt/{ref}`: the event's receipt against the latest stored checkpoint,
    /// as `kaohe receipt` prints it (pretty JSON and a newline). Same rule as [`Self::event`];
    /// 409 when no stored checkpoint covers the event yet.
    pub fn receipt(&self, who: &Session, name: &str) -> Result<String, ServiceError> {
        let ledger = self.ledger()?;
        let seq = readable_event(&ledger, who, name)?;
        let mut r = proofs::receipt(&ledger, seq, None).map_err(proof_error)?;
        r.push('\n');
        Ok(r)
    }

    /// `GET /api/v1/checkpoints`: the stored checkpoints, as `kaohe checkpoint --list --json`.
    pub fn checkpoints(&self) -> Result<Value, ServiceError> {
        let ledger = self.ledger()?;
        let all = proofs::stored_checkpoints(&ledger).map_err(proof_error)?;
        Ok(Value::Array(
            all.iter()
                .map(|s| lists::checkpoint_json(s, None))
                .collect(),
        ))
    }

    /// `GET /api/v1/log`: the events in view the filter keeps, as `log --json` prints them
    /// (JSON Lines); a station's own only. The filter's station, department, clause and type
    /// must be the ledger's (400 naming the parameter).
    pub fn log(&self, who: &Session, filter: &LogFilter, q: &Query) -> Result<Lines, ServiceError> {
        let mut filter = filter.clone();
        if let Actor::Station(own) = &who.actor {
            if let Some(asked) = &filter.station {
                super::may_read_station(who, asked)?;
            }
            filter.station = Some(own.clone());
        }
        let ledger = self.ledger()?;
        if let Some(s) = &filter.station {
            actions::known_station(&ledger, s).map_err(|e| match e {
                ActionError::Input(m, zh) => ServiceError::bad("station", m, zh),
                e => e.into(),
            })?;
        }
        if let Some(by) = &filter.by {
            let rubric = ledger.rubric();
            let canonical = rubric.department(by).ok_or_else(|| {
                let known: Vec<&str> = rubric.departments.iter().map(|d| d.name.as_str()).collect();
                ServiceError::bad(
                    "by",
                    format!(
                        "unknown department `{by}`: the rubric's are {}",
                        known.join(", ")
                    ),
                    format!("没有部门“{by}”：考核细则中的部门有 {}", known.join("、")),
                )
            })?;
            filter.by = Some(canonical.to_string());
        }
        if let Some(c) = &filter.clause {
            if ledger.rubric().clause(c).is_none() {
                return Err(ServiceError::bad(
                    "clause",
                    format!("unknown clause `{c}`: the rubric has no such clause"),
                    format!("考核细则中没有条款“{c}”"),
                ));
            }
        }
        if let Some(t) = &filter.kind {
            if !EVENT_TYPES.contains(&t.as_str()) {
                return Err(ServiceError::bad(
                    "type",
                    format!(
                        "unknown event type `{t}`: one of {}",
                        EVENT_TYPES.join(", ")
                    ),
                    format!("没有事件类型“{t}”：可选 {}", EVENT_TYPES.join("、")),
                ));
            }
        }
        let view = ledger.view(q)?;
        Ok(Lines {
            ledger,
            view,
            form: Form::Log,
            filter,
        })
    }

    /// One page of the log for the log page: at most [`MAX_LOG_PAGE_ROWS`] events the filter
    /// keeps from its `from_seq` on, and the seq the next page starts at. Checked as
    /// [`Self::log`]; the events past the page are not read.
    pub fn log_page(
        &self,
        who: &Session,
        filter: &LogFilter,
        q: &Query,
    ) -> Result<LogPage, ServiceError> {
        let lines = self.log(who, filter, q)?;
        let mut rows = Vec::new();
        let mut next = None;
        let mut failed = None;
        lines.each(|e| {
            if rows.len() == MAX_LOG_PAGE_ROWS {
                next = Some(e.seq);
                return false;
            }
            let mut m = log_fields(&e);
            if let Some(seq) = record_seq_of(e.body.kind()) {
                match record_at(&lines.ledger, seq) {
                    Ok(Some((clause, by))) => {
                        m.insert(
                            "record".into(),
                            json!({"seq": seq, "clause": clause, "by": by}),
                        );
                    }
                    Ok(None) => {}
                    Err(err) => {
                        failed = Some(err);
                        return false;
                    }
                }
            }
            rows.push(Value::Object(m));
            true
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok(LogPage { rows, next })
    }

    /// `GET /api/v1/export`: the events as `kaohe export` writes them, as the ledger stood at a
    /// seq or a time (`at`, an occurred date, is refused: as `kaohe export` without
    /// `--scores`). It holds every station's records: the bureau, the departments and the
    /// auditors only.
    pub fn export(&self, who: &Session, q: &Query) -> Result<Lines, ServiceError> {
        match &who.actor {
            Actor::Bureau(_) | Actor::Department(_) | Actor::Auditor(_) => {}
            other => {
                return Err(ServiceError::Forbidden(
                    format!("signed in as {other}: the export holds every station's records; the bureau, the departments and the auditors export"),
                    format!("当前身份为 {other}：导出文件含各司法所的记录，只有司法局、部门和审计人员可以导出"),
                ))
            }
        }
        if q.at.is_some() {
            return Err(ServiceError::bad(
                "at",
                "the export is the chain as it stood (`as_of_seq`, `known_at`); an occurred date would cut events out of it",
                "导出的是台账在某一时点的完整链（as_of_seq、known_at）；按发生日期截取会漏掉事件",
            ));
        }
        let ledger = self.ledger()?;
        let view = ledger.view(q)?;
        Ok(Lines {
            ledger,
            view,
            form: Form::Export,
            filter: LogFilter::default(),
        })
    }

    /// `POST /api/v1/evidence`: stores an evidence file (at most [`MAX_EVIDENCE_FILE_BYTES`])
    /// under its BLAKE3 hash, as `--evidence-file` does; gives the `blake3:<hex> <name>`
    /// reference an event's evidence then names it by, the hash and the size.
    pub fn put_evidence(
        &self,
        who: &Session,
        name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Value, ServiceError> {
        may_upload(who)?;
        if bytes.len() as u64 > MAX_EVIDENCE_FILE_BYTES {
            return Err(evidence_too_large());
        }
        let hash = chain::file_hash(bytes);
        let reference = evidence::reference(&hash, base_name(name.unwrap_or_default()));
        let writer = self.writer.lock().map_err(|_| poisoned())?;
        writer
            .store()
            .put_evidence(&hash, bytes)
            .map_err(LedgerError::from)?;
        drop(writer);
        self.note_upload(&hash, who)?;
        Ok(json!({
            "reference": reference,
            "hash": hex::encode(hash),
            "bytes": bytes.len(),
        }))
    }

    /// `GET /api/v1/evidence/{hash}`: a stored evidence file, to those it concerns (see the
    /// module's documentation); 404 when no file of that hash is stored.
    pub fn evidence(&self, who: &Session, hash: &str) -> Result<EvidenceDownload, ServiceError> {
        let typed = hash.trim();
        let hash = chain::parse_typed_hash(typed.strip_prefix(REFERENCE_PREFIX).unwrap_or(typed))
            .ok_or_else(|| {
            ServiceError::bad(
                "hash",
                format!("`{typed}` is not a hash of 64 hex digits"),
                format!("“{typed}”不是 64 位十六进制哈希"),
            )
        })?;
        let ledger = self.ledger()?;
        if !ledger.store().has_evidence(&hash) {
            return Err(no_evidence(&hash));
        }
        let concerned = concerned(&ledger, &hash)?;
        may_download(who, &concerned)?;
        let bytes = actions::evidence_file(&ledger, &hash).map_err(|e| match e {
            ActionError::Input(..) => no_evidence(&hash),
            ActionError::Problem(m, _) => ServiceError::Internal(m),
            e => e.into(),
        })?;
        Ok(EvidenceDownload {
            bytes,
            name: concerned.name,
        })
    }
}

impl Service {
    /// Remembers who uploaded a file: they may cite it before any event does.
    fn note_upload(&self, hash: &Hash, who: &Session) -> Result<(), ServiceError> {
        let mut up = self.uploads.lock().map_err(|_| poisoned())?;
        if up.len() >= crate::base::limits::MAX_UPLOADS_REMEMBERED && !up.contains_key(hash) {
            return Err(ServiceError::Unavailable(
                "too many files wait to be cited: cite or drop some first".into(),
                "待引用的上传文件过多：请先在记录中引用它们".into(),
            ));
        }
        up.entry(*hash).or_default().insert(who.public_key);
        Ok(())
    }

    /// A command may cite a stored file (`blake3:` evidence) only when its signer uploaded it
    /// through this service, or may already download it: citing a file makes it readable by
    /// the event's parties, so citing another's file would read it.
    pub(super) fn may_cite(&self, who: &Session, evidence: &[String]) -> Result<(), ServiceError> {
        let ledger = self.ledger()?;
        for r in evidence {
            let Some(hash) = evidence::parse_reference(r) else {
                continue;
            };
            let uploaded = self
                .uploads
                .lock()
                .map_err(|_| poisoned())?
                .get(&hash)
                .is_some_and(|keys| keys.contains(&who.public_key));
            if uploaded || matches!(who.actor, Actor::Bureau(_)) {
                continue;
            }
            may_download(who, &concerned(&ledger, &hash)?).map_err(|_| {
                ServiceError::Forbidden(
                    format!("evidence `{r}`: cite only files you uploaded or may read (upload the file yourself)"),
                    format!("证据“{r}”：只能引用您自己上传或有权查看的文件（请自行上传该文件）"),
                )
            })?;
        }
        Ok(())
    }
}

/// Refuses an upload by anyone but a department, a station or the bureau (an auditor reads
/// and writes nothing): checked before the file is read.
pub fn may_upload(who: &Session) -> Result<(), ServiceError> {
    match &who.actor {
        Actor::Department(_) | Actor::Station(_) | Actor::Bureau(_) => Ok(()),
        other => Err(ServiceError::Forbidden(
            format!("signed in as {other}: only departments, stations and the bureau store evidence files"),
            format!("当前身份为 {other}：只有部门、司法所和司法局可以上传证据文件"),
        )),
    }
}

/// The refusal of a file over [`MAX_EVIDENCE_FILE_BYTES`] (413).
pub fn evidence_too_large() -> ServiceError {
    ServiceError::bad(
        "body",
        format!(
            "larger than {MAX_EVIDENCE_FILE_BYTES} bytes ({} MiB), the largest evidence file",
            MAX_EVIDENCE_FILE_BYTES / (1024 * 1024)
        ),
        format!(
            "文件超过 {} MiB，这是证据文件的上限",
            MAX_EVIDENCE_FILE_BYTES / (1024 * 1024)
        ),
    )
}

fn no_evidence(hash: &Hash) -> ServiceError {
    ServiceError::NotFound(
        format!(
            "no evidence file {} is stored in this ledger",
            hex::encode(hash)
        ),
        format!("台账中没有证据文件 {}", hex::encode(hash)),
    )
}

/// The seq of a named event the asker may read: 404 when none, 403 for a station asking for
/// an event about another station (or about none).
fn readable_event(ledger: &Ledger, who: &Session, name: &str) -> Result<u64, ServiceError> {
    let seq = actions::find_event(ledger, EventName::Key(name)).map_err(action_error)?;
    let body = ledger
        .event(seq)?
        .ok_or_else(|| ServiceError::Internal(format!("event {seq} is missing")))?;
    if let Actor::Station(own) = &who.actor {
        if body.kind().station() != Some(own.as_str()) {
            return Err(ServiceError::Forbidden(
                format!("station {own} reads only the events about itself, and event {seq} is not"),
                format!("司法所 {own} 只能查看与本所有关的事件，第 {seq} 号事件不是"),
            ));
        }
    }
    Ok(seq)
}

/// A lookup's refusal: an event it cannot find is 404.
fn action_error(e: ActionError) -> ServiceError {
    match e {
        ActionError::Input(m, zh) => ServiceError::NotFound(m, zh),
        e => e.into(),
    }
}

fn proof_error(e: ProofError) -> ServiceError {
    match e {
        ProofError::Refused(message) => ServiceError::Conflict {
            field: "checkpoint".into(),
            zh: format!("检查点不符：{message}"),
            message,
        },
        ProofError::Ledger(e) => e.into(),
        ProofError::Store(e) => LedgerError::Store(e).into(),
        ProofError::Failed(m) | ProofError::Unreadable(m) => ServiceError::Internal(m),
    }
}

/// A file name without the folders a client may have sent with it.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default()
}

/// Whom a stored evidence file concerns, from the events that reference it.
#[derive(Default)]
struct Concerned {
    stations: BTreeSet<String>,
    departments: BTreeSet<String>,
    /// The name the first referencing event gives it.
    name: Option<String>,
}

/// The department that wrote an event: `by` of a record, a metric, a decision or a reversal.
fn department_of(kind: &EventKind) -> Option<&str> {
    match kind {
        EventKind::PointsRecorded(p) => Some(&p.by),
        EventKind::MetricReported(m) => Some(&m.by),
        EventKind::AppealDecided(d) => Some(&d.by),
        EventKind::RecordReversed(r) => Some(&r.by),
        _ => None,
    }
}

/// Scans the chain for the events that reference `hash` (a `blake3:<hex>[ name]` evidence
/// entry).
fn concerned(ledger: &Ledger, hash: &Hash) -> Result<Concerned, ServiceError> {
    let mut c = Concerned::default();
    let mut appealed = Vec::new();
    ledger.replay_all(|e| {
        let kind = e.body.kind();
        let mut names = evidence::references_of(kind)
            .iter()
            .filter(|r| evidence::parse_reference(r) == Some(*hash))
            .map(|r| {
                r.get(REFERENCE_PREFIX.len() + 64..)
                    .unwrap_or_default()
                    .trim()
            })
            .peekable();
        if names.peek().is_none() {
            return Ok(true);
        }
        if c.name.is_none() {
            c.name = names.find(|n| !n.is_empty()).map(str::to_string);
        }
        if let Some(s) = kind.station() {
            c.stations.insert(s.to_string());
        }
        if let Some(d) = department_of(kind) {
            c.departments.insert(d.to_string());
        }
        if let EventKind::AppealFiled(a) = kind {
            appealed.push(a.against);
        }
        Ok(true)
    })?;
    for seq in appealed {
        if let Some(body) = ledger.event(seq)? {
            if let Some(d) = department_of(body.kind()) {
                c.departments.insert(d.to_string());
            }
        }
    }
    Ok(c)
}

fn may_download(who: &Session, c: &Concerned) -> Result<(), ServiceError> {
    let allowed = match &who.actor {
        Actor::Bureau(_) | Actor::Auditor(_) => true,
        Actor::Department(d) => c.departments.contains(d),
        Actor::Station(s) => c.stations.contains(s),
        Actor::Witness(_) => false,
    };
    match allowed {
        true => Ok(()),
        false => Err(ServiceError::Forbidden(
            format!(
                "signed in as {}: an evidence file is served to the bureau, the auditors, and the station and the department of an event that references it",
                who.actor
            ),
            format!(
                "当前身份为 {}：证据文件只提供给司法局、审计人员，以及引用它的事件所涉的司法所和部门",
                who.actor
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_loses_its_folders() {
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name("C:\\材料\\谈话笔录.pdf"), "谈话笔录.pdf");
        assert_eq!(base_name("plain.txt"), "plain.txt");
        assert_eq!(base_name(""), "");
    }
}
