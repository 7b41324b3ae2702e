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
use crate::base::text::{hex_lower, parse_hex_lower};
use crate::domain::audit::{Audit, Prepared, Preparer};
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
    m.insert("prev_hash".into(), json!(hex_lower(prev_hash)));
    m.insert("hash".into(), json!(hex_lower(hash)));
    m.insert("body".into(), json!(hex_lower(bytes)));
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
///
/// The checks that need only a line (parsing, hex, the line's own hash, decoding, the
/// canonical line, the fields' bounds and the signature) are made ahead on worker threads, a
/// batch of lines each, in turn ([`ready_line`]); this thread reads the lines and folds the
/// answers in order through the chain and the audit ([`Fold::settle`]), which asks them at the
/// point where it made them itself, so the first problem and its message are the same.
pub fn verify_each<E>(
    input: impl BufRead,
    expected_head: Option<&Hash>,
    audit: &mut Audit,
    mut each: impl FnMut(Verified<'_>) -> Result<(), E>,
) -> Result<Result<ExportReport, E>, ExportError> {
    let mut fold = Fold {
        report: empty_report(),
        expected_head,
        audit,
    };
    let mut lines = Lines::new(
        Watched {
            inner: input,
            buffered: 0,
        },
        MAX_EXPORT_LINE_BYTES,
    );
    // The genesis alone, here: it names the ledger whose signatures the workers check.
    let Some((n, line)) = lines.next_line().map_err(io_error)? else {
        return Ok(Ok(fold.end()));
    };
    let genesis = ready_line(raw(n, line, &lines, 0), &mut Preparer::default());
    let ledger_id = match fold.settle(genesis, &mut each) {
        Step::Next(id) => id,
        Step::Stop(outcome) => return Ok(outcome),
    };
    let workers = if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
        2
    } else {
        1
    };
    let outcome = std::thread::scope(|s| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Vec<RawLine>>(BATCHES_AHEAD);
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(BATCHES_AHEAD);
            let mut preparer = Preparer::after_genesis(ledger_id);
            s.spawn(move || {
                for job in job_rx {
                    let ready: Vec<ReadyLine> = job
                        .into_iter()
                        .map(|l| ready_line(l, &mut preparer))
                        .collect();
                    if done_tx.send(ready).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(job_tx);
            from_workers.push(done_rx);
        }
        let outcome = fold.pipelined(&mut lines, (&to_workers, &from_workers), &mut each);
        // Dropped inside the scope, so that a worker blocked on a send after an early stop
        // ends instead of holding up the scope forever.
        drop(to_workers);
        drop(from_workers);
        outcome
    });
    outcome
}

/// An input that knows whether its next read may have to wait (on a pipe): what the last
/// `fill_buf` gave is all consumed.
struct Watched<R> {
    inner: R,
    /// Bytes the inner input holds that were not consumed yet.
    buffered: usize,
}

impl<R: BufRead> std::io::Read for Watched<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Watched<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let have = self.inner.fill_buf()?;
        self.buffered = have.len();
        Ok(have)
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.buffered = self.buffered.saturating_sub(n);
    }
}

/// Lines in a batch handed to a worker, and the bytes past which a batch is closed early.
const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 4 << 20;
/// Batches each worker may hold ahead of the fold, each way.
const BATCHES_AHEAD: usize = 2;
/// Bytes of lines read ahead of the fold past which no further batch is read (one is always
/// allowed, however long its line).
const AHEAD_BYTES: usize = 32 << 20;

/// The channels to each worker (batches of lines) and back (what their checks found).
type Workers<'a> = (
    &'a [std::sync::mpsc::SyncSender<Vec<RawLine>>],
    &'a [std::sync::mpsc::Receiver<Vec<ReadyLine>>],
);

/// A line as read, to be checked as the event `seq`: its number, the input's bytes read up to
/// its end.
struct RawLine {
    number: usize,
    read: u64,
    seq: u64,
    line: Line,
}

fn raw<R: BufRead>(number: usize, line: Line, lines: &Lines<R>, seq: u64) -> RawLine {
    RawLine {
        number,
        read: lines.bytes_read(),
        seq,
        line,
    }
}

fn io_error(e: std::io::Error) -> ExportError {
    ExportError::Io(e.to_string())
}

/// What the checks of a line that need only the line found ([`ready_line`]).
struct ReadyLine {
    number: usize,
    seq: u64,
    /// The first problem before the link to the previous event, or the line's parts.
    parts: Result<LineParts, String>,
}

struct LineParts {
    /// The line's `prev_hash`, checked against the previous event's hash by the fold.
    prev: Hash,
    hash: Hash,
    bytes: Vec<u8>,
    /// Made once the line links: the hash recomputed, the body decoded at its seq (or the
    /// first problem of these), what the audit may take ahead, and the canonical line's check.
    checked: Result<(Body, Prepared, Result<(), String>), String>,
}

/// The checks of a line that need only the line, in the order `settle` asks for them.
fn ready_line(raw: RawLine, preparer: &mut Preparer) -> ReadyLine {
    let parts = match raw.line {
        _ if raw.read > MAX_EXPORT_BYTES => {
            Err(format!("export is larger than {MAX_EXPORT_BYTES} bytes"))
        }
        Line::Text(text) => line_parts(&text, raw.seq, preparer),
        Line::TooLong => Err(format!("line is longer than {MAX_EXPORT_LINE_BYTES} bytes")),
        Line::NotUtf8 => Err("line is not UTF-8".into()),
    };
    ReadyLine {
        number: raw.number,
        seq: raw.seq,
        parts,
    }
}

fn line_parts(text: &str, seq: u64, preparer: &mut Preparer) -> Result<LineParts, String> {
    if let Some(parts) = canonical_line_parts(text, seq, preparer) {
        return Ok(parts);
    }
    let mut obj = crate::domain::command::parse_object(text)?;
    let (prev, line_hash, bytes) = take_chain_fields(&mut obj)?;
    let hash = chain::link(&prev, &bytes);
    let checked = if hash != line_hash {
        Err("hash does not match prev_hash and body (the body was changed)".into())
    } else {
        match codec::decode(&bytes) {
            Err(e) => Err(e.to_string()),
            Ok(body) if body.seq() != seq => Err(format!(
                "body says seq {} but stands at seq {seq}",
                body.seq()
            )),
            Ok(body) => {
                let prepared = preparer.prepare_one(seq, &body);
                // A line equal to the canonical one has every field right; only a line that
                // differs is also compared field by field, for the more precise message.
                let canonical =
                    check_canonical(text, &body, &bytes, &prev, &hash).map_err(|not_canonical| {
                        match check_decoded(&obj, &body) {
                            Err(field) => field,
                            Ok(()) => not_canonical,
                        }
                    });
                Ok((body, prepared, canonical))
            }
        }
    };
    Ok(LineParts {
        prev,
        hash,
        bytes,
        checked,
    })
}

/// The parts of a line that is exactly the canonical line of its event, found without reading
/// its JSON: its chain fields are taken where the canonical line has them, which is only a
/// guess until the line built from them equals the line (then every check of [`line_parts`]
/// passes, so the answer is the same). `None` for any other line, which [`line_parts`] then
/// reads field by field for its message.
fn canonical_line_parts(text: &str, seq: u64, preparer: &mut Preparer) -> Option<LineParts> {
    let (_, rest) = text.split_once(",\"prev_hash\":\"")?;
    let prev = chain::parse_hash(rest.get(..64)?)?;
    let rest = rest.get(64..)?.strip_prefix("\",\"hash\":\"")?;
    let hash = chain::parse_hash(rest.get(..64)?)?;
    let rest = rest.get(64..)?.strip_prefix("\",\"body\":\"")?;
    let (body_hex, _) = rest.split_once('"')?;
    let bytes = body_bytes(body_hex).ok()?;
    if chain::link(&prev, &bytes) != hash {
        return None;
    }
    let body = codec::decode(&bytes).ok().filter(|b| b.seq() == seq)?;
    check_canonical(text, &body, &bytes, &prev, &hash).ok()?;
    let prepared = preparer.prepare_one(seq, &body);
    Some(LineParts {
        prev,
        hash,
        bytes,
        checked: Ok((body, prepared, Ok(()))),
    })
}

/// The fold of an export's lines, in order, through the chain and the audit.
struct Fold<'a> {
    report: ExportReport,
    expected_head: Option<&'a Hash>,
    audit: &'a mut Audit,
}

/// After a line: go on (with the ledger id of a genesis), or stop with the outcome.
enum Step<E> {
    Next(Option<[u8; 16]>),
    Stop(Result<ExportReport, E>),
}

impl Fold<'_> {
    /// Folds one line: its link to the previous event, then what was checked ahead, the audit
    /// between the decoding and the canonical line (as [`Audit::check`] ran there).
    fn settle<E>(
        &mut self,
        ready: ReadyLine,
        each: &mut impl FnMut(Verified<'_>) -> Result<(), E>,
    ) -> Step<E> {
        let seq = self.report.events;
        // Invariant: lines are read and folded in order, one event each.
        debug_assert_eq!(ready.seq, seq, "lines are folded in order");
        let checked = self.check(ready.parts, seq);
        match checked {
            Ok((hash, body, bytes)) => {
                let verified = Verified {
                    seq,
                    body: &body,
                    bytes: &bytes,
                    hash: &hash,
                    audit: self.audit,
                };
                if let Err(e) = each(verified) {
                    return Step::Stop(Err(e));
                }
                if self.expected_head == Some(&hash) {
                    self.report.expected_head_at = Some(seq);
                }
                self.report.head = hash;
                self.report.events += 1;
                Step::Next(body.kind().genesis().map(|g| g.ledger_id))
            }
            Err((blamed, message)) => {
                self.report.problem = Some(Finding {
                    seq: blamed,
                    // One event per line: the blamed event's line.
                    line: ready.number - (seq - blamed) as usize,
                    message,
                });
                Step::Stop(Ok(std::mem::replace(&mut self.report, empty_report())))
            }
        }
    }

    fn check(
        &mut self,
        parts: Result<LineParts, String>,
        seq: u64,
    ) -> Result<(Hash, Body, Vec<u8>), (u64, String)> {
        let here = |message: String| (seq, message);
        let parts = parts.map_err(here)?;
        let prev = &self.report.head;
        if &parts.prev != prev {
            return Err(here(format!(
                "prev_hash {} does not link to the previous event's hash {} (an event was removed, inserted or moved)",
                hex::encode(parts.prev),
                hex::encode(prev)
            )));
        }
        let (body, prepared, canonical) = parts.checked.map_err(here)?;
        self.audit
            .check_prepared(seq, &body, prev, prepared)
            .map_err(|f| (f.seq, f.message))?;
        canonical.map_err(here)?;
        Ok((parts.hash, body, parts.bytes))
    }

    /// Reads the lines after the genesis in batches, handed to the workers in turn, and folds
    /// their answers in the order read. A read error is reported once every line before it
    /// was folded without a problem. Before a read that may wait for its input (a pipe whose
    /// writer is slow, or never closes it), every line read is folded, so that a problem is
    /// reported as soon as its line arrives, as when lines were checked one by one.
    fn pipelined<R: BufRead, E>(
        &mut self,
        lines: &mut Lines<Watched<R>>,
        (to, from): Workers<'_>,
        each: &mut impl FnMut(Verified<'_>) -> Result<(), E>,
    ) -> Result<Result<ExportReport, E>, ExportError> {
        let mut in_flight = std::collections::VecDeque::new();
        let (mut next_worker, mut ahead_bytes, mut seq) = (0, 0, 1);
        let mut read_error = None;
        let mut ended = false;
        loop {
            let mut may_wait = false;
            while !ended
                && !may_wait
                && in_flight.len() < BATCHES_AHEAD * to.len()
                && (in_flight.is_empty() || ahead_bytes < AHEAD_BYTES)
            {
                let mut batch = Vec::with_capacity(BATCH_LINES);
                let mut bytes = 0;
                while batch.len() < BATCH_LINES && bytes < BATCH_BYTES {
                    match lines.next_line() {
                        Ok(Some((n, line))) => {
                            bytes += match &line {
                                Line::Text(t) => t.len(),
                                _ => 0,
                            };
                            batch.push(raw(n, line, lines, seq));
                            seq += 1;
                        }
                        Ok(None) => ended = true,
                        Err(e) => {
                            read_error = Some(io_error(e));
                            ended = true;
                        }
                    }
                    if ended {
                        break;
                    }
                    if lines.get_ref().buffered == 0 {
                        may_wait = true;
                        break;
                    }
                }
                if batch.is_empty() {
                    break;
                }
                if to[next_worker].send(batch).is_err() {
                    // The worker ended (a panic, which the scope passes on).
                    return Err(ExportError::Io("a checking thread stopped".into()));
                }
                in_flight.push_back((next_worker, bytes));
                ahead_bytes += bytes;
                next_worker = (next_worker + 1) % to.len();
            }
            if in_flight.is_empty() {
                break;
            }
            let folds = if may_wait { in_flight.len() } else { 1 };
            for _ in 0..folds {
                let Some((worker, bytes)) = in_flight.pop_front() else {
                    break;
                };
                ahead_bytes -= bytes;
                let Ok(done) = from[worker].recv() else {
                    return Err(ExportError::Io("a checking thread stopped".into()));
                };
                for ready in done {
                    if let Step::Stop(outcome) = self.settle(ready, each) {
                        return Ok(outcome);
                    }
                }
            }
        }
        match read_error {
            Some(e) => Err(e),
            None => Ok(Ok(self.end())),
        }
    }

    /// The report once every line was folded ([`end_problem`]).
    fn end(&mut self) -> ExportReport {
        let mut report = std::mem::replace(&mut self.report, empty_report());
        report.problem = end_problem(&report, self.audit, self.expected_head);
        report
    }
}

fn empty_report() -> ExportReport {
    ExportReport {
        events: 0,
        head: chain::GENESIS_PREV,
        expected_head_at: None,
        problem: None,
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
    parse_hex_lower(text).ok_or_else(|| {
        if text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            "`body` is not hex".to_string()
        } else {
            "`body` is not lower-case hex".to_string()
        }
    })
}

/// Takes a line's chain fields out of its object, in this order: `prev_hash`, `hash` (each 64
/// lower-case hex digits) and the `body`'s bytes; the rest are the decoded fields.
fn take_chain_fields(obj: &mut Map<String, Value>) -> Result<(Hash, Hash, Vec<u8>), String> {
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
    Ok((prev, hash, body_bytes(&body_hex)?))
}

/// One event checked alone, as a receipt carries it (an export line's object): its hash is
/// recomputed from its `prev_hash` and `body`, the body decodes with no byte left, and every
/// other field is exactly what the body decodes to. Returns (prev_hash, hash, decoded body).
/// It cannot run the audit: that needs the events before it.
pub fn check_event(mut obj: Map<String, Value>) -> Result<(Hash, Hash, Body), String> {
    let (prev, hash, bytes) = take_chain_fields(&mut obj)?;
    if chain::link(&prev, &bytes) != hash {
        return Err("hash does not match prev_hash and body (the event was changed)".into());
    }
    let body = codec::decode(&bytes).map_err(|e| e.to_string())?;
    check_decoded(&obj, &body)?;
    Ok((prev, hash, body))
}
