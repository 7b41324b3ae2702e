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

use crate::base::limits::MAX_EVIDENCE_FILE_BYTES;
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
/// export's lines, or the log's (one station's, or all).
pub struct Lines {
    ledger: Arc<Ledger>,
    view: View,
    form: Form,
    station: Option<String>,
}

/// Which lines: `kaohe export`'s, or `kaohe log --json`'s.
enum Form {
    Export,
    Log,
}

impl Lines {
    /// Each line (with its newline), in order, to `each`, until it returns false (the client
    /// went away): never the whole in memory.
    pub fn lines(&self, mut each: impl FnMut(String) -> bool) -> Result<(), ServiceError> {
        let station = self.station.as_deref();
        self.ledger.replay_view(&self.view, |e| {
            if station.is_some() && e.body.kind().station() != station {
                return Ok(true);
            }
            let mut line = match self.form {
                Form::Export => export::line(e.body, e.bytes, e.prev_hash, e.hash),
                Form::Log => {
                    let mut m = export::decoded(e.body);
                    m.insert("hash".into(), json!(hex::encode(e.hash)));
                    Value::Object(m).to_string()
                }
            };
            line.push('\n');
            Ok(each(line))
        })?;
        Ok(())
    }
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

    /// `GET /api/v1/export`: the events as `kaohe export` writes them, as the ledger stood at a
    /// seq or a time (`at`, an occurred date, is refused: as `kaohe export` without
    /// `--scores`). It holds every station's records: the bureau, the departments and the
    /// auditors only.
    /// `GET /api/v1/log`: the events in view as `log --json` prints them (JSON Lines); a
    /// station's own only.
    pub fn log(
        &self,
        who: &Session,
        station: Option<&str>,
        q: &Query,
    ) -> Result<Lines, ServiceError> {
        let station = match (&who.actor, station) {
            (Actor::Station(own), asked) => {
                if let Some(asked) = asked {
                    super::may_read_station(who, asked)?;
                }
                Some(own.as_str())
            }
            (_, asked) => asked,
        };
        let ledger = self.ledger()?;
        if let Some(s) = station {
            actions::known_station(&ledger, s)?;
        }
        let view = ledger.view(q)?;
        Ok(Lines {
            ledger,
            view,
            form: Form::Log,
            station: station.map(str::to_string),
        })
    }

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
            station: None,
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
