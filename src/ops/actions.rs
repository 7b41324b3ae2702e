//! The use cases: one function per thing a person does with a ledger. The command line calls
//! these and renders what they return; the coming server calls exactly the same functions. So
//! what must hold around an action holds for every caller:
//!
//! - a write's evidence files are stored before the event that references them is committed,
//!   so a committed `blake3:` reference always has its file;
//! - a write's outcome is read back from the chain, never echoed from the request;
//! - a successful full verification is recorded outside the chain (`kaohe verify`'s note for a
//!   damaged ledger's user);
//! - a lookup that names no station or event is refused with the same words everywhere.
//!
//! Every single-event command (station, record, metric, appeal, decide, reverse, key register
//! and revoke) has one shape, the import line (`domain::command`), and one entry, [`submit`].

use crate::domain::command::{self, Command};
use crate::events::event::{Actor, Body, Hash, KeyRegistered, Sealed, StationRegistered};
use crate::events::sign::KeyPair;
use crate::ledger::query::{Query, View};
use crate::ledger::{Applied, InitOutcome, Ledger, LedgerError, Numbered, Outcome};
use crate::ops::close::Closed;
use crate::ops::evidence::EvidenceFile;
use crate::ops::proofs::{ProofError, SignedCheckpoint};
use crate::ops::verify::Report;
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// Why an action was refused or failed, by who must act: the user (input), a check (problem),
/// or the ledger's own error.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A command's field refused by the parser (exit 2).
    #[error(transparent)]
    Field(#[from] command::FieldError),
    /// Bad input: what was asked names nothing, or cannot be done as asked (exit 2); in
    /// English, and in Chinese saying the same.
    #[error("{0}")]
    Input(String, String),
    /// A check found a problem (exit 1); in English, and in Chinese saying the same.
    #[error("{0}")]
    Problem(String, String),
}

/// One event a write produced (or found already there, for an identical re-submission).
#[derive(Debug, Clone)]
pub struct Written {
    pub seq: u64,
    /// False when an identical command was already recorded (idempotent by id).
    pub appended: bool,
    /// The event as the chain holds it.
    pub body: Body,
}

/// Creates a ledger with its rubric (validated; its exact bytes go into the genesis event).
/// With a bureau key (the actor and public key of a `kaohe key new --bureau` file), seq 1
/// names it the root of trust and every event that someone signs must be signed. With
/// `follows` (the previous year's ledger, `--follows PREV`), the genesis holds that ledger's
/// sealed head (`ops::years::sealed_head`: closed, verified in full, its period ending
/// before the rubric's starts; only read); a previous ledger that is not one is refused
/// (exit 2), naming `--follows`, and nothing is created.
pub fn init(
    path: &Path,
    rubric_toml: &str,
    now: Timestamp,
    bureau_key: Option<(Actor, [u8; 32])>,
    follows: Option<&Path>,
) -> Result<InitOutcome, ActionError> {
    let root = bureau_key.map(|(actor, public_key)| KeyRegistered { actor, public_key });
    let previous = match follows {
        None => None,
        Some(previous) => {
            // The rubric first: its period is what the previous year must end before.
            let rubric = crate::domain::rubric::load(rubric_toml).map_err(LedgerError::from)?;
            Some(previous_year(previous, rubric.period_start)?)
        }
    };
    Ok(Ledger::init_with(path, rubric_toml, now, root, previous)?)
}

/// The sealed head of the previous year's ledger at `path` (`init --follows`), or why it
/// cannot be followed, naming `--follows`.
fn previous_year(path: &Path, starts: jiff::civil::Date) -> Result<Sealed, ActionError> {
    let named = |en: &str, zh: &str| {
        ActionError::Input(
            format!("--follows {}: {en}", path.display()),
            format!("--follows {}：{zh}", path.display()),
        )
    };
    match crate::ops::years::sealed_head(path, starts) {
        Ok(Ok(sealed)) => Ok(sealed),
        Ok(Err(m)) => Err(named(&m.message, &m.zh)),
        Err(e) => Err(unreadable_previous(path, e)),
    }
}

/// Adds each evidence file's `blake3:<hex> <name>` reference to a command's evidence (an
/// identical reference once), so that the event names the files it carries.
pub fn attach_files(evidence: &mut Vec<String>, files: &[EvidenceFile]) {
    for f in files {
        if !evidence.contains(&f.reference) {
            evidence.push(f.reference.clone());
        }
    }
}

/// Parses a command in the import-line shape (`{"op":"record",...}`), naming the bad field.
pub fn parse(object: &Map<String, Value>) -> Result<Command, ActionError> {
    command::from_object(object).map_err(ActionError::Field)
}

/// Applies one command, signed by `signer` when given: its evidence files are stored first
/// (with the ledger held), then the command is checked and committed; the outcome is read
/// back from the chain.
pub fn submit(
    ledger: &mut Ledger,
    command: Command,
    files: &[EvidenceFile],
    signer: Option<&KeyPair>,
    now: Timestamp,
) -> Result<Vec<Written>, ActionError> {
    for f in files {
        ledger
            .store()
            .put_evidence(&f.hash, &f.bytes)
            .map_err(LedgerError::from)?;
    }
    let numbered = [Numbered {
        line: None,
        command,
    }];
    let outcomes = ledger.apply_signed(&numbered, now, signer)?;
    outcomes.iter().map(|o| written(ledger, o)).collect()
}

fn written(ledger: &Ledger, o: &Outcome) -> Result<Written, ActionError> {
    let body = ledger.event(o.seq())?.ok_or_else(|| {
        ActionError::Problem(
            format!("event {} cannot be read back", o.seq()),
            format!("第 {} 号事件无法读回", o.seq()),
        )
    })?;
    Ok(Written {
        seq: o.seq(),
        appended: matches!(o, Outcome::Appended { .. }),
        body,
    })
}

/// Applies an import file (JSON Lines of commands), all or nothing, in one durable commit:
/// one thread parses while the other checks and commits. `progress` gets the bytes read.
pub fn import(
    ledger: &mut Ledger,
    input: impl BufRead + Send,
    signer: Option<&KeyPair>,
    now: Timestamp,
    progress: impl FnMut(u64) + Send,
) -> Result<Applied, LedgerError> {
    crate::ops::import::with_parsed_ahead(input, progress, |commands, done| {
        ledger.apply_stream(commands, now, signer, done)
    })
}

/// Closes the period (`ops::close`): refused while appeals are pending or gaps are open.
pub fn close(
    ledger: &mut Ledger,
    now: Timestamp,
    accept_gaps: Option<&str>,
    signer: Option<&KeyPair>,
) -> Result<Closed, LedgerError> {
    crate::ops::close::close(ledger, now, accept_gaps, signer)
}

/// Signs and stores a checkpoint of the head. In a ledger rooted in a bureau key, the bureau
/// publishes its heads: the signer must be a bureau key in force.
pub fn checkpoint(ledger: &Ledger, signer: &KeyPair) -> Result<SignedCheckpoint, ActionError> {
    checkpoint_key_allowed(ledger, &signer.public_key(), true)?;
    Ok(crate::ops::proofs::checkpoint(ledger, signer)?)
}

/// Who signs a rooted ledger's checkpoints: a bureau key in force (`kaohe checkpoint`), or a
/// log key the ledger does not register at all (the service's `--checkpoint-key`, which
/// holds no one's power to act); never a department's, station's or auditor's key, nor a
/// revoked one. A server must not hold any actor's key: `bureau_allowed` is false there.
pub fn checkpoint_key_allowed(
    ledger: &Ledger,
    public: &[u8; 32],
    bureau_allowed: bool,
) -> Result<(), ActionError> {
    let Some(k) = ledger.keys()?.into_iter().find(|k| &k.public_key == public) else {
        return Ok(());
    };
    // A ledger not rooted in a bureau key lets whoever checkpoints choose the key.
    if !ledger.bureau_rooted() && bureau_allowed {
        return Ok(());
    }
    let bureau = matches!(k.actor, Actor::Bureau(_));
    let refused = match (k.revoked_seq.is_some(), bureau, bureau_allowed) {
        (true, _, _) => "a revoked key",
        (false, true, true) => return Ok(()),
        (false, true, false) => {
            "a bureau key, which a server must not hold (it could register keys in anyone's name)"
        }
        (false, false, _) => "an actor's key",
    };
    Err(ActionError::Input(
        format!(
            "key {} is {refused}: checkpoints are signed by a bureau key in force, or by a log key the ledger does not register",
            hex::encode(public)
        ),
        format!(
            "密钥 {} 不能为检查点签名：检查点由有效的司法局密钥，或台账未登记的日志密钥签名",
            hex::encode(public)
        ),
    ))
}

/// Adds the witnesses' cosignatures of a copy of a stored checkpoint to it.
pub fn add_checkpoint_signatures(
    ledger: &Ledger,
    note: &str,
) -> Result<SignedCheckpoint, ProofError> {
    crate::ops::proofs::add_signatures(ledger, note)
}

/// Verifies a stored ledger in full; a success is recorded as its last full verification, at
/// `now` when the clock is known.
pub fn verify(
    path: &Path,
    head: Option<&Hash>,
    now: Option<Timestamp>,
) -> Result<Report, LedgerError> {
    let report = crate::ops::verify::ledger(path, head)?;
    if report.problem.is_none() {
        note_verified(path, &report, now);
    }
    Ok(report)
}

/// `verify --follows PREV`: the ledger as [`verify`] checks it (its success recorded the
/// same way), then, when it verified, that its genesis holds exactly the sealed head of the
/// closed ledger at `previous`, which verifies too (`ops::years::check`; the previous ledger
/// is only read). `None` when the ledger itself failed.
pub fn verify_follows(
    path: &Path,
    head: Option<&Hash>,
    previous: &Path,
    now: Option<Timestamp>,
) -> Result<(Report, Option<Result<Sealed, crate::ops::years::Mismatch>>), ActionError> {
    let report = verify(path, head, now)?;
    if report.problem.is_some() {
        return Ok((report, None));
    }
    let ledger = Ledger::open_read(path)?;
    let follows = match crate::ops::years::check(&ledger, previous) {
        Ok(follows) => follows,
        Err(e) => return Err(unreadable_previous(previous, e)),
    };
    Ok((report, Some(follows)))
}

/// A previous year's ledger (`--follows PREV`) that cannot be opened: busy (its own exit), or
/// not a ledger kaohe can read (bad input), naming `--follows`.
fn unreadable_previous(path: &Path, e: LedgerError) -> ActionError {
    if e.is_busy() {
        return e.into();
    }
    ActionError::Input(
        format!(
            "--follows {}: not a ledger kaohe can read: {e}",
            path.display()
        ),
        format!("--follows {}：不是可读取的台账：{e}", path.display()),
    )
}

/// `verify --evidence`: the ledger as [`verify`] checks it, then the stored evidence files
/// (`None` when the events already failed).
pub fn verify_with_evidence(
    path: &Path,
    head: Option<&Hash>,
    now: Option<Timestamp>,
) -> Result<(Report, Option<crate::ops::evidence::Check>), LedgerError> {
    let (report, check) = crate::ops::verify::ledger_with_evidence(path, head)?;
    if report.problem.is_none() {
        note_verified(path, &report, now);
    }
    Ok((report, check))
}

/// Records a verified head outside the chain. A note for a damaged ledger's user: failing to
/// write it does not make the ledger less verified, so its error is dropped.
fn note_verified(path: &Path, report: &Report, now: Option<Timestamp>) {
    if report.events > 0 {
        let at = now.map(|t| t.as_microsecond());
        let _ = crate::store::Store::open(path)
            .and_then(|s| s.put_verified(report.events - 1, &report.head, at));
    }
}

/// The scores of a view, and the closing seq when the view shows the final scores.
pub struct ScoreView<'r> {
    pub view: View,
    pub scores: Vec<crate::domain::projection::StationScore<'r>>,
    pub final_at: Option<u64>,
    /// What the final scores mean for each station, by station code (the rubric's
    /// consequences table); empty unless the view shows the final scores.
    pub consequences: Consequences,
}

/// The consequences of the final scores, by station code.
pub type Consequences = BTreeMap<String, Vec<crate::domain::consequences::Outcome>>;

/// Every station's score and rank in a view (`score`, `export --scores`), with the
/// consequences of the final scores.
pub fn scores<'r>(ledger: &'r Ledger, query: &Query) -> Result<ScoreView<'r>, LedgerError> {
    let view = ledger.view(query)?;
    let scores = crate::ledger::tally::scores(ledger, &view)?;
    let final_at = ledger.final_at(&view);
    let consequences = match final_at {
        Some(_) => {
            let table = &ledger.rubric().consequences;
            let each = crate::domain::consequences::evaluate(table, &scores);
            scores.iter().map(|s| s.station.clone()).zip(each).collect()
        }
        None => BTreeMap::new(),
    };
    Ok(ScoreView {
        view,
        scores,
        final_at,
        consequences,
    })
}

/// Refuses a station code the ledger never registered.
pub fn known_station(ledger: &Ledger, code: &str) -> Result<(), ActionError> {
    match ledger.find_station(code)? {
        Some(_) => Ok(()),
        None => Err(ActionError::Input(
            format!("unknown station `{code}`"),
            format!("没有登记司法所“{code}”"),
        )),
    }
}

/// The registered stations with their registration seqs, in registration order.
pub fn stations(ledger: &Ledger) -> Result<Vec<(u64, StationRegistered)>, LedgerError> {
    let mut list = Vec::new();
    ledger.replay_all(|e| {
        if let crate::events::event::EventKind::StationRegistered(s) = e.body.kind() {
            list.push((e.seq, s.clone()));
        }
        Ok(true)
    })?;
    Ok(list)
}

/// How an event is named: by its id (or seq), by its seq alone, or by its hash.
#[derive(Debug, Clone, Copy)]
pub enum EventName<'a> {
    Key(&'a str),
    Seq(u64),
    Hash(&'a str),
}

/// The seq of a named event, or a refusal that says what can name one.
pub fn find_event(ledger: &Ledger, name: EventName<'_>) -> Result<u64, ActionError> {
    let last = ledger.head().next_seq - 1;
    let (found, asked) = match name {
        EventName::Seq(n) => ((n <= last).then_some(n), n.to_string()),
        EventName::Hash(h) => (ledger.find_hash(h.trim())?, h.to_string()),
        EventName::Key(key) => (ledger.find_event(key.trim())?, key.to_string()),
    };
    found.ok_or_else(|| {
        ActionError::Input(
            format!("no event `{asked}`: give an id, a seq (0–{last}) or a 64-digit hash"),
            format!("没有事件“{asked}”：请给出编号、序号（0–{last}）或 64 位哈希"),
        )
    })
}

/// One event as `show` gives it: its export line and the next event's hash (`None` at the
/// head).
pub fn event_line(ledger: &Ledger, seq: u64) -> Result<(String, Option<String>), ActionError> {
    let mut line = None;
    let mut next_hash = None;
    ledger.replay(seq, seq + 2, |e| {
        if e.seq == seq {
            line = Some(crate::ops::export::line(
                e.body,
                e.bytes,
                e.prev_hash,
                e.hash,
            ));
        } else {
            next_hash = Some(hex::encode(e.hash));
        }
        Ok(true)
    })?;
    let line = line.ok_or_else(|| {
        ActionError::Input(
            format!("event {seq} cannot be read"),
            format!("第 {seq} 号事件无法读取"),
        )
    })?;
    Ok((line, next_hash))
}

/// A stored evidence file's bytes, checked against its hash (damage is a problem, never
/// served).
pub fn evidence_file(ledger: &Ledger, hash: &Hash) -> Result<Vec<u8>, ActionError> {
    let hex_hash = hex::encode(hash);
    let bytes = ledger
        .store()
        .get_evidence(hash)
        .map_err(LedgerError::from)?
        .ok_or_else(|| {
            ActionError::Input(
                format!("no evidence file {hex_hash} is stored in this ledger"),
                format!("台账中没有证据文件 {hex_hash}"),
            )
        })?;
    let actual = crate::events::chain::file_hash(&bytes);
    if actual != *hash {
        return Err(ActionError::Problem(
            format!(
                "the stored evidence file {hex_hash} is damaged: its {} bytes hash to {}; nothing written",
                bytes.len(),
                hex::encode(actual)
            ),
            format!("台账中的证据文件 {hex_hash} 已损坏"),
        ));
    }
    Ok(bytes)
}

/// The evidence files of a ledger as `evidence list` shows them.
#[derive(Debug, Default)]
pub struct EvidenceList {
    /// Each stored file: hash, size in bytes, the seqs of the events that reference it.
    pub files: Vec<(Hash, u64, Vec<u64>)>,
    /// References whose file is not stored: hash, the seqs that reference it.
    pub missing: Vec<(Hash, Vec<u64>)>,
}

/// Each stored evidence file with the events that reference it, then the references whose
/// file is not stored.
pub fn evidence_list(ledger: &Ledger) -> Result<EvidenceList, LedgerError> {
    let listing = ledger.store().evidence_listing()?;
    let refs = crate::ops::evidence::references(ledger.store())?;
    let files = listing
        .blobs
        .iter()
        .map(|(h, size)| (*h, *size, refs.get(h).cloned().unwrap_or_default()))
        .collect();
    let missing = refs
        .into_iter()
        .filter(|(h, _)| !listing.blobs.contains_key(h))
        .collect();
    Ok(EvidenceList { files, missing })
}

/// The last full verification of a ledger (`kaohe verify` records each success), read
/// without opening the ledger: what a damaged ledger's user is told.
pub fn last_verified(path: &Path) -> Result<Option<crate::store::Verified>, LedgerError> {
    Ok(crate::store::Store::read_last_verified(path)?)
}

/// True while a panic inside the store is being contained (sled's, on damaged files): it
/// becomes a damage error, and a panic hook should stay quiet.
pub fn panic_is_contained() -> bool {
    crate::store::panic_is_contained()
}

/// The folder inside a ledger that holds its evidence files.
pub const EVIDENCE_DIR: &str = crate::store::EVIDENCE_DIR;

/// How long opening a ledger waits for another process to let go of it, for this process.
pub fn set_lock_wait(wait: std::time::Duration) {
    crate::store::set_lock_wait(wait)
}
