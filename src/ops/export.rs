//! Export lines (JSON Lines, one event per line) and their offline verification.
//!
//! Each line holds `seq`, `recorded_at`, `prev_hash`, `hash`, `body` (hex of the stored bytes),
//! `type`, and the decoded fields under the names import uses; an absent field is left out.
//! Verifying an export needs only the decoder: every hash is recomputed from `prev_hash` and
//! the body, every link checked, and each line compared byte for byte with the line written for
//! what its body decodes to (`schema/EVENTS.md`, "The export line"; older exports' `"reason":
//! null` on a closing line is the one other spelling read).

use crate::base::limits::{MAX_EXPORT_BYTES, MAX_EXPORT_LINE_BYTES};
use crate::base::lines::{Line, Lines};
use crate::domain::audit::Audit;
use crate::events::chain;
use crate::events::codec;
use crate::events::event::*;
use serde_json::{json, Map, Value};
use std::io::BufRead;

/// The decoded fields of an event, as export and `log --json` show them.
pub fn decoded(body: &Body) -> Map<String, Value> {
    let e = body.v1();
    let mut m = Map::new();
    m.insert("seq".into(), json!(e.seq));
    m.insert("recorded_at".into(), json!(body.recorded_at().to_string()));
    m.insert("type".into(), json!(e.kind.type_name()));
    m.extend(decoded_kind(&e.kind));
    m
}

/// The fields of an event's kind, under the names import uses.
pub fn decoded_kind(kind: &EventKind) -> Map<String, Value> {
    let mut m = Map::new();
    match kind {
        EventKind::LedgerCreated(g) => genesis_fields(&mut m, g),
        EventKind::LedgerFollows(f) => {
            genesis_fields(&mut m, &f.created);
            let p = &f.previous;
            m.insert(
                "previous".into(),
                json!({
                    "ledger_id": hex::encode(p.ledger_id),
                    "period_start": p.period_start.to_string(),
                    "period_end": p.period_end.to_string(),
                    "seq": p.seq,
                    "hash": hex::encode(p.hash),
                }),
            );
        }
        EventKind::StationRegistered(s) => {
            m.insert("code".into(), json!(s.code));
            m.insert("name".into(), json!(s.name));
            m.insert("kind".into(), json!(s.kind.as_str()));
        }
        EventKind::PointsRecorded(p) => points_fields(&mut m, p),
        EventKind::MetricReported(x) => {
            m.insert("id".into(), json!(x.id));
            m.insert("station".into(), json!(x.station));
            m.insert("metric".into(), json!(x.metric));
            m.insert("value".into(), json!(x.value.to_string()));
            m.insert("occurred".into(), json!(x.occurred.to_string()));
            m.insert("by".into(), json!(x.by));
            m.insert("evidence".into(), json!(x.evidence));
        }
        EventKind::AppealFiled(a) => {
            m.insert("id".into(), json!(a.id));
            m.insert("station".into(), json!(a.station));
            m.insert("against".into(), json!(a.against));
            m.insert("grounds".into(), json!(a.grounds));
            m.insert("evidence".into(), json!(a.evidence));
        }
        EventKind::AppealDecided(d) => decided_fields(&mut m, d),
        EventKind::PeriodClosed(c) => closed_fields(&mut m, c),
        EventKind::KeyRegistered(k) | EventKind::RootKey(k) => {
            m.insert("actor_kind".into(), json!(k.actor.kind_str()));
            m.insert("actor".into(), json!(k.actor.name()));
            m.insert("public_key".into(), json!(hex::encode(k.public_key)));
        }
        EventKind::KeyRevoked(k) => {
            m.insert("public_key".into(), json!(hex::encode(k.public_key)));
            m.insert("reason".into(), json!(k.reason));
        }
        EventKind::SignaturesRequired => {}
        EventKind::RecordReversed(r) => {
            m.insert("id".into(), json!(r.id));
            m.insert("station".into(), json!(r.station));
            m.insert("target".into(), json!(r.target));
            m.insert("by".into(), json!(r.by));
            m.insert("reason".into(), json!(r.reason));
            m.insert("evidence".into(), json!(r.evidence));
        }
    }
    m
}

/// A genesis' fields (in [`decoded_kind`]'s order).
fn genesis_fields(m: &mut Map<String, Value>, g: &LedgerCreated) {
    m.insert("ledger_id".into(), json!(hex::encode(g.ledger_id)));
    m.insert("rubric_hash".into(), json!(hex::encode(g.rubric_hash)));
    m.insert("period_start".into(), json!(g.period_start.to_string()));
    m.insert("period_end".into(), json!(g.period_end.to_string()));
    m.insert("rubric".into(), json!(g.rubric_toml));
}

/// A record's fields (in [`decoded_kind`]'s order).
fn points_fields(m: &mut Map<String, Value>, p: &PointsRecorded) {
    m.insert("id".into(), json!(p.id));
    m.insert("station".into(), json!(p.station));
    m.insert("clause".into(), json!(p.clause));
    let i = &p.inputs;
    if let Some(v) = i.value {
        m.insert("value".into(), json!(v.to_string()));
    }
    if let Some(c) = i.count {
        m.insert("count".into(), json!(c));
    }
    if let Some(d) = i.done {
        m.insert("done".into(), json!(d));
    }
    if let Some(p) = i.points {
        m.insert("points".into(), json!(p.to_string()));
    }
    if let Some(n) = &i.note {
        m.insert("note".into(), json!(n));
    }
    m.insert(
        "computed_points".into(),
        json!(p.computed_points.to_string()),
    );
    m.insert("occurred".into(), json!(p.occurred.to_string()));
    m.insert("by".into(), json!(p.by));
    m.insert("evidence".into(), json!(p.evidence));
}

/// A decision's fields (in [`decoded_kind`]'s order).
fn decided_fields(m: &mut Map<String, Value>, d: &AppealDecided) {
    m.insert("appeal".into(), json!(d.appeal));
    m.insert("appeal_seq".into(), json!(d.appeal_seq));
    m.insert("against".into(), json!(d.against));
    m.insert("station".into(), json!(d.station));
    m.insert("outcome".into(), json!(d.outcome.as_str()));
    if let Some(p) = d.outcome.points() {
        m.insert("points".into(), json!(p.to_string()));
    }
    m.insert("by".into(), json!(d.by));
    m.insert("reason".into(), json!(d.reason));
    m.insert("evidence".into(), json!(d.evidence));
}

/// A closing's fields (in [`decoded_kind`]'s order).
fn closed_fields(m: &mut Map<String, Value>, c: &PeriodClosed) {
    m.insert("head".into(), json!(hex::encode(c.head)));
    let scores: Vec<Value> = c
        .scores
        .iter()
        .map(|s| json!({"station": s.station, "total": s.total.to_string(), "rank": s.rank}))
        .collect();
    m.insert("scores".into(), Value::Array(scores));
    let rankings: Vec<Value> = c
        .rankings
        .iter()
        .map(|r| {
            let entries: Vec<Value> = r
                .entries
                .iter()
                .map(|e| json!({"station": e.station, "value": e.value.to_string(), "rank": e.rank, "points": e.points.to_string()}))
                .collect();
            json!({"clause": r.clause, "qualified": r.qualified, "entries": entries})
        })
        .collect();
    m.insert("rankings".into(), Value::Array(rankings));
    let gaps: Vec<Value> = c
        .accepted_gaps
        .iter()
        .map(|g| json!({"station": g.station, "clause": g.clause, "metric": g.metric, "value": g.value.to_string(), "points": g.points.to_string()}))
        .collect();
    m.insert("accepted_gaps".into(), Value::Array(gaps));
    if let Some(reason) = &c.reason {
        m.insert("reason".into(), json!(reason));
    }
}

/// The one other spelling `verify --export` and `verify-receipt` accept: exports written before
/// `reason` was left out when absent carry `"reason":null` as the last member of a closing
/// event without accepted gaps (`schema/EVENTS.md`, "The export line").
fn legacy_null_reason(body: &Body) -> bool {
    matches!(body.kind(), EventKind::PeriodClosed(c) if c.reason.is_none())
}

/// The canonical line of a closing event without a reason, as kaohe wrote it before: with
/// `,"reason":null` before its closing brace.
fn legacy_line(canonical: &str) -> String {
    let open = canonical.strip_suffix('}').unwrap_or(canonical);
    format!("{open},\"reason\":null}}")
}

/// One export line for an event.
pub fn line(body: &Body, bytes: &[u8], prev_hash: &Hash, hash: &Hash) -> String {
    let fields = decoded(body);
    let mut m = Map::new();
    let mut fields = fields.into_iter();
    // seq and recorded_at first, then the chain, then the rest.
    for (k, v) in fields.by_ref().take(2) {
        m.insert(k, v);
    }
    m.insert("prev_hash".into(), json!(hex::encode(prev_hash)));
    m.insert("hash".into(), json!(hex::encode(hash)));
    m.insert("body".into(), json!(hex::encode(bytes)));
    m.extend(fields);
    Value::Object(m).to_string()
}

/// The first problem an export verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The first seq that does not verify (the line's place when its seq is unreadable).
    pub seq: u64,
    pub line: usize,
    pub message: String,
}

/// What verifying an export found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Lines that verified.
    pub events: u64,
    /// The hash of the last verified event.
    pub head: Hash,
    /// Where the expected head (`--head`) was found, if it was asked for and found.
    pub expected_head_at: Option<u64>,
    pub problem: Option<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the export: {0}")]
    Io(String),
}

/// Verifies an export read from `input`. `expected_head` is a head hash published earlier: the
/// chain must contain it, which catches truncation and rewriting up to that point (a chain alone
/// cannot show that its tail was cut off).
pub fn verify(
    input: impl BufRead,
    expected_head: Option<&Hash>,
) -> Result<ExportReport, ExportError> {
    let each = |_: Verified<'_>| Ok::<(), std::convert::Infallible>(());
    match verify_each(input, expected_head, &mut Audit::new(), each)? {
        Ok(report) => Ok(report),
        Err(never) => match never {},
    }
}

/// An event of an export that verified, with the audit folded up to it.
pub struct Verified<'a> {
    pub seq: u64,
    pub body: &'a Body,
    /// The stored bytes (the line's `body`).
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
    pub audit: &'a Audit,
}

/// [`verify`], handing every event that verifies to `each` as it goes (restore builds a
/// ledger from them in the same pass), folding them through `audit`. Stops at the first
/// problem (in the report) or the first error `each` returns (the inner `Err`).
pub fn verify_each<E>(
    input: impl BufRead,
    expected_head: Option<&Hash>,
    audit: &mut Audit,
    mut each: impl FnMut(Verified<'_>) -> Result<(), E>,
) -> Result<Result<ExportReport, E>, ExportError> {
    let mut report = ExportReport {
        events: 0,
        head: chain::GENESIS_PREV,
        expected_head_at: None,
        problem: None,
    };
    let mut lines = Lines::new(input, MAX_EXPORT_LINE_BYTES);
    while let Some((n, line)) = lines
        .next_line()
        .map_err(|e| ExportError::Io(e.to_string()))?
    {
        let seq = report.events;
        let checked = check_read(line, lines.bytes_read(), seq, &report.head, audit);
        match checked {
            Ok((hash, body, bytes)) => {
                let verified = Verified {
                    seq,
                    body: &body,
                    bytes: &bytes,
                    hash: &hash,
                    audit,
                };
                if let Err(e) = each(verified) {
                    return Ok(Err(e));
                }
                if expected_head == Some(&hash) {
                    report.expected_head_at = Some(seq);
                }
                report.head = hash;
                report.events += 1;
            }
            Err((blamed, message)) => {
                report.problem = Some(Finding {
                    seq: blamed,
                    // One event per line: the blamed event's line.
                    line: n - (seq - blamed) as usize,
                    message,
                });
                return Ok(Ok(report));
            }
        }
    }
    report.problem = end_problem(&report, audit, expected_head);
    Ok(Ok(report))
}

/// Checks one line read from an export (`read` bytes read so far) as the event `seq`.
fn check_read(
    line: Line,
    read: u64,
    seq: u64,
    prev: &Hash,
    audit: &mut Audit,
) -> Result<(Hash, Body, Vec<u8>), (u64, String)> {
    let here = |message: String| (seq, message);
    match line {
        _ if read > MAX_EXPORT_BYTES => Err(here(format!(
            "export is larger than {MAX_EXPORT_BYTES} bytes"
        ))),
        Line::Text(text) => check_line(&text, seq, prev, audit),
        Line::TooLong => Err(here(format!(
            "line is longer than {MAX_EXPORT_LINE_BYTES} bytes"
        ))),
        Line::NotUtf8 => Err(here("line is not UTF-8".into())),
    }
}

/// The problem found once every line verified: the audit's end checks, an empty export, or
/// an expected head the chain does not contain.
fn end_problem(
    report: &ExportReport,
    audit: &mut Audit,
    expected_head: Option<&Hash>,
) -> Option<Finding> {
    if let Err(fault) = audit.finish() {
        Some(Finding {
            seq: fault.seq,
            line: fault.seq as usize + 1,
            message: fault.message,
        })
    } else if report.events == 0 {
        Some(Finding {
            seq: 0,
            line: 1,
            message: "the export is empty: there is no genesis".into(),
        })
    } else if let (Some(h), None) = (expected_head, report.expected_head_at) {
        Some(Finding {
            seq: report.events,
            line: report.events as usize + 1,
            message: missing_head(h, report.events - 1, &report.head),
        })
    } else {
        None
    }
}

/// The message when a chain does not contain the head an auditor holds.
pub fn missing_head(expected: &Hash, last_seq: u64, head: &Hash) -> String {
    format!(
        "the chain does not contain the expected head {} (it ends at seq {last_seq} with head {}): events were removed or changed",
        hex::encode(expected),
        hex::encode(head)
    )
}

/// Checks one export line; returns its hash, decoded body and stored bytes.
fn check_line(
    line: &str,
    seq: u64,
    prev: &Hash,
    audit: &mut Audit,
) -> Result<(Hash, Body, Vec<u8>), (u64, String)> {
    check_line_fields(line, seq, prev, audit).map_err(|e| match e {
        LineError::Audit(f) => (f.seq, f.message),
        LineError::Line(m) => (seq, m),
    })
}

enum LineError {
    Line(String),
    Audit(crate::domain::audit::Fault),
}

impl From<String> for LineError {
    fn from(m: String) -> Self {
        LineError::Line(m)
    }
}

impl From<&str> for LineError {
    fn from(m: &str) -> Self {
        LineError::Line(m.to_string())
    }
}

fn check_line_fields(
    text: &str,
    seq: u64,
    prev: &Hash,
    audit: &mut Audit,
) -> Result<(Hash, Body, Vec<u8>), LineError> {
    let mut obj = crate::domain::command::parse_object(text)?;
    let mut take_hash = |name: &str| -> Result<Hash, String> {
        let v = obj.remove(name).ok_or_else(|| format!("no `{name}`"))?;
        v.as_str()
            .and_then(chain::parse_hash)
            .ok_or_else(|| format!("`{name}` is not 64 lower-case hex digits"))
    };
    let line_prev = take_hash("prev_hash")?;
    let line_hash = take_hash("hash")?;
    let body_hex = obj
        .remove("body")
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or("no `body` hex")?;
    let bytes = body_bytes(&body_hex)?;
    if &line_prev != prev {
        return Err(format!(
            "prev_hash {} does not link to the previous event's hash {} (an event was removed, inserted or moved)",
            hex::encode(line_prev),
            hex::encode(prev)
        ).into());
    }
    let hash = chain::link(prev, &bytes);
    if hash != line_hash {
        return Err("hash does not match prev_hash and body (the body was changed)".into());
    }
    let body = codec::decode(&bytes).map_err(|e| e.to_string())?;
    if body.seq() != seq {
        return Err(format!("body says seq {} but stands at seq {seq}", body.seq()).into());
    }
    audit.check(seq, &body, prev).map_err(LineError::Audit)?;
    // A line equal to the canonical one has every field right; only a line that differs is
    // also compared field by field, for the more precise message.
    if let Err(not_canonical) = check_canonical(text, &body, &bytes, prev, &hash) {
        check_decoded(&obj, &body)?;
        return Err(not_canonical.into());
    }
    Ok((hash, body, bytes))
}

/// The line must be byte for byte the line kaohe writes for its event: a change the JSON
/// reading cannot see (key order, spacing, escapes, upper-case hex) is still a change to the
/// file, and a published export is checked as bytes.
fn check_canonical(
    text: &str,
    body: &Body,
    bytes: &[u8],
    prev: &Hash,
    hash: &Hash,
) -> Result<(), String> {
    let canonical = line(body, bytes, prev, hash);
    if text == canonical || (legacy_null_reason(body) && text == legacy_line(&canonical)) {
        return Ok(());
    }
    let at = text
        .bytes()
        .zip(canonical.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(text.len().min(canonical.len()));
    Err(format!(
        "the line is not the canonical line kaohe writes for its event (it differs at byte {}): spacing, key order, escapes or letter case were changed",
        at + 1
    ))
}

/// The decoded fields of a line (without `prev_hash`, `hash`, `body`) must be exactly what the
/// body decodes to.
fn check_decoded(obj: &Map<String, Value>, body: &Body) -> Result<(), String> {
    let mut expected = decoded(body);
    if legacy_null_reason(body) && obj.get("reason") == Some(&Value::Null) {
        expected.insert("reason".into(), Value::Null);
    }
    if obj != &expected {
        let differing = expected
            .iter()
            .find(|(k, v)| obj.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .or_else(|| obj.keys().find(|k| !expected.contains_key(*k)).cloned())
            .unwrap_or_default();
        return Err(format!(
            "field `{differing}` differs from what the body decodes to"
        ));
    }
    Ok(())
}

/// The bytes of a line's `body`: lower-case hex only, as kaohe writes it (the line is checked
/// byte for byte, so an upper-case spelling is a changed line).
fn body_bytes(text: &str) -> Result<Vec<u8>, String> {
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("`body` is not lower-case hex".into());
    }
    hex::decode(text).map_err(|_| "`body` is not hex".to_string())
}

/// One event checked alone, as a receipt carries it (an export line's object): its hash is
/// recomputed from its `prev_hash` and `body`, the body decodes with no byte left, and every
/// other field is exactly what the body decodes to. Returns (prev_hash, hash, decoded body).
/// It cannot run the audit: that needs the events before it.
pub fn check_event(mut obj: Map<String, Value>) -> Result<(Hash, Hash, Body), String> {
    let mut take_hash = |name: &str| -> Result<Hash, String> {
        let v = obj.remove(name).ok_or_else(|| format!("no `{name}`"))?;
        v.as_str()
            .and_then(chain::parse_hash)
            .ok_or_else(|| format!("`{name}` is not 64 lower-case hex digits"))
    };
    let prev = take_hash("prev_hash")?;
    let hash = take_hash("hash")?;
    let body_hex = obj
        .remove("body")
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or("no `body` hex")?;
    let bytes = body_bytes(&body_hex)?;
    if chain::link(&prev, &bytes) != hash {
        return Err("hash does not match prev_hash and body (the event was changed)".into());
    }
    let body = codec::decode(&bytes).map_err(|e| e.to_string())?;
    check_decoded(&obj, &body)?;
    Ok((prev, hash, body))
}
