//! Restoring a ledger from an export (`kaohe restore FILE --db NEW`).
//!
//! The export is read once: every line is verified exactly as `verify --export` does
//! ([`export::verify_each`]), and each event that verifies is written with its stored bytes
//! (`body`, never a re-encoding) and hash, so the events, their hashes and the head are
//! byte-identical to the original ledger's; the tally and every index are derived from the
//! events as the write path does (the same derivation `verify` compares them with). An export
//! that does not verify is refused at its first problem and nothing is left. The ledger is built in chunks of [`CHUNK_EVENTS`] events (at most [`CHUNK_BYTES`]
//! of bodies), one store commit each, so memory does not grow with the export beyond what the
//! audit folds (as for `verify`).
//!
//! The ledger is built in a staging directory beside NEW (`.NEW.restore-<pid>`), verified
//! whole (`verify::ledger`), and only then renamed to NEW; on any failure the staging
//! directory is removed, so NEW either is a whole, verified ledger or does not exist.
//!
//! Evidence files (`--evidence-file`) are not in an export: events that reference them
//! (`blake3:` evidence) are restored, the files are not ([`Restored::evidence_files`]).

use crate::domain::audit::Audit;
use crate::domain::rows::{
    aggregate_key, postings_key, rank_value, Adjusted, Aggregate, PostingChains,
};
use crate::domain::rubric::Rubric;
use crate::events::event::*;
use crate::ledger::tally::Expected;
use crate::ledger::LedgerError;
use crate::ops::evidence::{parse_reference, references_of};
use crate::ops::export::{self, Verified};
use crate::store::{ids_per_run, Commit, Head, IdBuffer, Index, Log, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Events per store commit while restoring. Each commit rewrites the index buckets it touches,
/// so bigger chunks write less; a chunk holds its bodies and index entries (~100 MB at most).
pub const CHUNK_EVENTS: usize = 131_072;
/// Body bytes per store commit while restoring (a chunk ends at whichever comes first).
pub const CHUNK_BYTES: usize = 64 * 1024 * 1024;

/// Where the export comes from.
pub enum Source<'a> {
    /// A file, read twice (verified, then restored).
    File(&'a Path),
    /// A stream (stdin), read once like a file (at most [`crate::base::limits::MAX_EXPORT_BYTES`], as
    /// `verify --export` bounds it).
    Reader(&'a mut dyn Read),
}

/// What a restore built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub path: PathBuf,
    /// Events restored.
    pub events: u64,
    /// The head hash (the last event's hash).
    pub head: Hash,
    /// Tally rows and stations derived.
    pub tally_rows: u64,
    pub stations: u64,
    /// Events with `blake3:` evidence references, and the distinct files they name: these
    /// files are not in an export and were not restored.
    pub evidence_events: u64,
    pub evidence_files: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The target already exists (bad usage: exit 2).
    #[error("{} already exists: restore builds a new ledger and never writes over anything; choose another --db", .0.display())]
    Exists(PathBuf),
    /// The input or target cannot be used (exit 2).
    #[error("{0}")]
    Input(String),
    /// The export does not verify: nothing was created (exit 1).
    #[error(
        "the export does not verify at seq {seq} (line {line}): {message}; nothing was restored"
    )]
    NotVerified {
        seq: u64,
        line: usize,
        message: String,
    },
    /// A backup's evidence files, checkpoints or closing hash do not verify: nothing was
    /// created (exit 1).
    #[error("the backup does not verify: {0}; nothing was restored")]
    BackupNotVerified(String),
    /// Building the ledger failed; the partly built directory was removed.
    #[error("restore failed, nothing was left behind: {0}")]
    Build(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl RestoreError {
    /// True when the export was refused because it does not verify (exit 1).
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            RestoreError::NotVerified { .. }
                | RestoreError::BackupNotVerified(_)
                | RestoreError::Build(_)
        ) || matches!(self, RestoreError::Ledger(e) if e.is_damage())
    }
}

/// Removes the staging directory unless the restore finished.
struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Rebuilds a ledger at `target` from a verified export. Refuses an existing `target`, an
/// export that does not verify, and leaves nothing behind when it fails.
pub fn restore(source: Source<'_>, target: &Path) -> Result<Restored, RestoreError> {
    restore_in_chunks(source, target, CHUNK_EVENTS)
}

/// [`restore`], committing every `chunk_events` events (tests use small chunks to cover the
/// index entries that later chunks replace).
pub fn restore_in_chunks(
    source: Source<'_>,
    target: &Path,
    chunk_events: usize,
) -> Result<Restored, RestoreError> {
    complete(build_staged(source, target, chunk_events)?)
}

/// A ledger built from a verified export in a staging directory, not yet verified whole nor
/// moved into place ([`complete`]); dropped unfinished, the staging directory is removed.
pub(crate) struct Staged {
    /// The ledger's directory inside the staging directory.
    pub(crate) built: PathBuf,
    pub(crate) restored: Restored,
    target: PathBuf,
    parent: PathBuf,
    staging: Staging,
}

/// Step 1 of a restore: one pass over the export, verified exactly as `verify --export`
/// checks it, each event written as it verifies. An export that does not verify leaves only
/// the staging directory, which is removed.
pub(crate) fn build_staged(
    source: Source<'_>,
    target: &Path,
    chunk_events: usize,
) -> Result<Staged, RestoreError> {
    let (parent, staging) = stage(&source, target)?;
    let built = staging.dir.join("ledger");
    let chunk_events = chunk_events.max(1);
    let built_ok = match source {
        Source::File(file) => {
            let input = std::fs::File::open(file)
                .map(|f| BufReader::with_capacity(1 << 20, f))
                .map_err(|e| RestoreError::Input(format!("cannot read {}: {e}", file.display())))?;
            build(input, &built, chunk_events)
        }
        Source::Reader(input) => build(
            BufReader::with_capacity(1 << 20, input),
            &built,
            chunk_events,
        ),
    };
    let restored = built_ok.map_err(|e| match e {
        RestoreError::Ledger(e) => RestoreError::Build(e.to_string()),
        e => e,
    })?;
    Ok(Staged {
        built,
        restored,
        target: target.to_path_buf(),
        parent,
        staging,
    })
}

/// Step 2: verifies what was built, as `kaohe verify` will, records it, and moves it into
/// place, never over anything.
pub(crate) fn complete(staged: Staged) -> Result<Restored, RestoreError> {
    let Staged {
        built,
        mut restored,
        target,
        parent,
        staging,
    } = staged;
    check_built(&built, &restored)?;
    move_into_place(&built, &target, &parent)?;
    finish(staging);
    restored.path = target;
    Ok(restored)
}

/// Checks that `target` and its directory can be used and the source can be read, and
/// creates the staging directory beside `target`; returns the directory and the staging.
fn stage(source: &Source<'_>, target: &Path) -> Result<(PathBuf, Staging), RestoreError> {
    if target.exists() || target.symlink_metadata().is_ok() {
        return Err(RestoreError::Exists(target.to_path_buf()));
    }
    let name = target
        .file_name()
        .ok_or_else(|| {
            RestoreError::Input(format!("--db {} names no directory", target.display()))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(RestoreError::Input(format!(
            "{} is not a directory: create it first",
            parent.display()
        )));
    }
    if let Source::File(file) = source {
        std::fs::File::open(file)
            .map_err(|e| RestoreError::Input(format!("cannot read {}: {e}", file.display())))?;
    }
    // `create_dir` fails on any entry at that name, a symbolic link too: the staging
    // directory is always new and this process's own (what `base::files` does for a file).
    let dir = parent.join(format!(".{name}.restore-{}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| {
        RestoreError::Input(format!(
            "cannot create the staging directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok((parent, Staging { dir, done: false }))
}

/// Verifies the ledger built at `built` as `kaohe verify` will, and records it as verified.
fn check_built(built: &Path, restored: &Restored) -> Result<(), RestoreError> {
    let check = crate::ops::verify::ledger(built, Some(&restored.head))
        .map_err(|e| RestoreError::Build(e.to_string()))?;
    if let Some(p) = check.problem {
        return Err(RestoreError::Build(format!(
            "the rebuilt ledger does not verify at seq {}: {}",
            p.seq, p.message
        )));
    }
    Store::open(built)
        .and_then(|s| s.put_verified(restored.events - 1, &restored.head, None))
        .map_err(|e| RestoreError::Build(e.to_string()))
}

/// Renames `built` to `target` (in `parent`), never over anything, and syncs `parent`. A
/// rename never follows a link: an entry that appears at `target` after the check makes it
/// fail (a file or a link: not a directory; a directory that is not empty), but for an empty
/// directory, which it replaces with nothing lost.
fn move_into_place(built: &Path, target: &Path, parent: &Path) -> Result<(), RestoreError> {
    if target.exists() || target.symlink_metadata().is_ok() {
        return Err(RestoreError::Exists(target.to_path_buf()));
    }
    std::fs::rename(built, target).map_err(|e| {
        RestoreError::Build(format!(
            "cannot move the ledger to {}: {e}",
            target.display()
        ))
    })?;
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| RestoreError::Build(format!("cannot sync {}: {e}", parent.display())))
}

/// Keeps the finished restore: the staging directory (now empty) is removed.
fn finish(mut staging: Staging) {
    staging.done = true;
    let _ = std::fs::remove_dir_all(&staging.dir);
}

/// Writes the events of an export to a new store at `path` as they verify, with the tally and
/// the indices derived from them; refuses the export at its first problem.
fn build(
    input: impl std::io::BufRead,
    path: &Path,
    chunk_events: usize,
) -> Result<Restored, RestoreError> {
    let store = Store::create(path).map_err(LedgerError::from)?;
    let mut b = Builder::default();
    let mut audit = Audit::new();
    let report = export::verify_each(input, None, &mut audit, |v| {
        b.add(&v).map_err(RestoreError::Build)?;
        if b.commit.frames.len() >= chunk_events || b.chunk_bytes >= CHUNK_BYTES {
            b.flush(&store, v.audit, false)?;
        }
        Ok::<(), RestoreError>(())
    })
    .map_err(|e| RestoreError::Input(e.to_string()))??;
    if let Some(p) = report.problem {
        return Err(RestoreError::NotVerified {
            seq: p.seq,
            line: p.line,
            message: p.message,
        });
    }
    b.flush(&store, &audit, true)?;
    drop(store);
    Ok(Restored {
        path: path.to_path_buf(),
        events: b.next_seq,
        head: b.prev,
        tally_rows: b.expected.rows,
        stations: b.expected.station_entries,
        evidence_events: b.evidence_events,
        evidence_files: b.evidence_files.len() as u64,
    })
}

/// The derived data of the events so far, and the commit being gathered.
#[derive(Default)]
struct Builder {
    expected: Expected,
    next_seq: u64,
    prev: Hash,
    recorded_at_us: i64,
    /// The seq the gathered commit starts at.
    chunk_start: u64,
    chunk_bytes: usize,
    commit: Commit,
    /// Every station's sums (the `Aggregate` index), and those this chunk changed.
    aggregates: HashMap<u32, Aggregate>,
    touched: BTreeSet<u32>,
    /// The value each station is counted at in the rank index, as last committed.
    ranked: HashMap<u32, i128>,
    /// Every station's chain of postings (the `Postings` index), and those this chunk added to.
    postings: Option<PostingChains>,
    posted: BTreeSet<u32>,
    /// The ids of the chunks so far not yet committed: they are committed with the chunk that
    /// brings them to [`ids_per_run`] (or the last), so that the id index has runs of that
    /// size, not one per chunk. The staging ledger is nobody's until the restore ends.
    ids: IdBuffer,
    /// The unit counts as last written.
    units_written: BTreeMap<Vec<u8>, u32>,
    evidence_events: u64,
    evidence_files: BTreeSet<Hash>,
}

impl Builder {
    /// Folds one verified event in (the audit has checked it): its frame, tally entries and
    /// append-only index entries.
    fn add(&mut self, v: &Verified<'_>) -> Result<(), String> {
        let (seq, body) = (v.seq, v.body);
        let kind = body.kind();
        if let EventKind::StationRegistered(s) = kind {
            let mut value = seq.to_be_bytes().to_vec();
            value.extend_from_slice(&(self.expected.station_entries as u32).to_be_bytes());
            self.commit
                .index
                .push((Index::Station, s.code.as_bytes().to_vec(), value));
        }
        if let Some(rubric) = v.audit.rubric() {
            let adjusted = v.audit.last_adjusted().copied();
            let ordinal = v.audit.last_station();
            let entries = self
                .expected
                .entries(&rubric, body, adjusted.as_ref(), ordinal);
            self.commit.logs.extend(entries);
            let station = self.posted_station(&rubric, adjusted, kind, ordinal)?;
            if let Some(station) = station {
                // A restore starts from an empty ledger: every head is in `postings`.
                let chains = self.postings.get_or_insert_with(|| PostingChains::new(0));
                let (seq, prev) = chains.post(station, seq, || Ok::<_, String>(None))?;
                self.commit
                    .push_posting(crate::store::Posting { seq, prev });
                self.posted.insert(station);
            }
        }
        if let Some(id) = kind.id() {
            let fp = crate::store::id_fingerprint(id.as_bytes());
            self.ids.push(fp, seq);
        }
        let files: Vec<Hash> = references_of(kind)
            .iter()
            .filter_map(|r| parse_reference(r))
            .collect();
        if !files.is_empty() {
            self.evidence_events += 1;
            self.evidence_files.extend(files);
        }
        self.chunk_bytes += v.bytes.len();
        self.commit.frames.push((v.bytes.to_vec(), *v.hash));
        self.prev = *v.hash;
        self.recorded_at_us = body.v1().recorded_at_us;
        self.next_seq = seq + 1;
        Ok(())
    }

    /// The station whose postings the event joins (an adjusted record's, a record's or a
    /// report's: `ordinal`, as the audit found it), with the sums of the station it changes
    /// updated.
    fn posted_station(
        &mut self,
        rubric: &Rubric,
        adjusted: Option<Adjusted>,
        kind: &EventKind,
        ordinal: Option<u32>,
    ) -> Result<Option<u32>, String> {
        let station = match (adjusted, kind) {
            (Some(a), _) => {
                self.aggregates
                    .entry(a.station)
                    .or_default()
                    .adjust(a.position, a.delta);
                self.touched.insert(a.station);
                Some(a.station)
            }
            (None, EventKind::PointsRecorded(p)) => {
                let ordinal = ordinal.ok_or("a record names an unknown station")?;
                let position = rubric
                    .record_slot(&p.clause, &p.by, p.occurred)
                    .ok_or("a record names a clause not in the rubric, or counts on no sheet")?;
                self.aggregates
                    .entry(ordinal)
                    .or_default()
                    .add(position as u16, p.computed_points);
                self.touched.insert(ordinal);
                Some(ordinal)
            }
            (None, EventKind::MetricReported(_)) => {
                Some(ordinal.ok_or("a report names an unknown station")?)
            }
            _ => None,
        };
        Ok(station)
    }

    /// Commits the gathered chunk with the replaced index entries it changed (aggregates,
    /// disputes, unit counts, keys), as the write path's commits would have left them.
    fn flush(&mut self, store: &Store, audit: &Audit, last: bool) -> Result<(), RestoreError> {
        // The last flush commits the ids still held even when the events are all committed.
        if self.commit.frames.is_empty() && (!last || self.ids.is_empty()) {
            return Ok(());
        }
        let start = self.chunk_start;
        let mut commit = std::mem::take(&mut self.commit);
        if last || self.ids.len() >= ids_per_run() {
            commit.ids = std::mem::take(&mut self.ids);
        }
        let rubric = audit.rubric();
        for station in std::mem::take(&mut self.touched) {
            let agg = &self.aggregates[&station];
            // A station's sums are only touched once the rubric is known (the genesis).
            let value = rubric
                .as_deref()
                .and_then(|r| rank_value(agg, r))
                .ok_or_else(|| {
                    RestoreError::Build("a station's sums have no total a rank can count".into())
                })?;
            if let Some(old) = self.ranked.insert(station, value) {
                *commit.ranks.entry(old).or_default() -= 1;
            }
            *commit.ranks.entry(value).or_default() += 1;
            commit.index.push((
                Index::Aggregate,
                aggregate_key(station).to_vec(),
                agg.encode(),
            ));
        }
        let heads = self.postings.as_ref().map(|p| &p.heads);
        for station in std::mem::take(&mut self.posted) {
            // Invariant: a posted station's head was set when it was posted.
            let head = heads
                .and_then(|h| h.get(&station))
                .expect("a posted station's head");
            commit.index.push((
                Index::Postings,
                postings_key(station).to_vec(),
                head.encode().to_vec(),
            ));
        }
        for (target, seqs) in audit.disputes() {
            if seqs.last().is_some_and(|s| *s >= start) {
                let value: Vec<u8> = seqs.iter().flat_map(|s| s.to_be_bytes()).collect();
                commit
                    .index
                    .push((Index::Dispute, target.to_be_bytes().to_vec(), value));
            }
        }
        for (k, n) in audit.unit_counts() {
            if self.units_written.get(&k) != Some(&n) {
                commit
                    .index
                    .push((Index::UnitCount, k.clone(), n.to_be_bytes().to_vec()));
                self.units_written.insert(k, n);
            }
        }
        for (key, state) in audit.keys() {
            let revoked = state.revoked.map(|r| r.0);
            if state.registered_seq >= start || revoked.is_some_and(|r| r >= start) {
                let mut value = state.registered_seq.to_be_bytes().to_vec();
                value.extend_from_slice(&revoked.unwrap_or(u64::MAX).to_be_bytes());
                commit.index.push((Index::Key, key.to_vec(), value));
            }
        }
        commit.head = Some(Head {
            next_seq: self.next_seq,
            hash: self.prev,
            recorded_at_us: self.recorded_at_us,
            tally_rows: self.expected.rows,
            stations: self.expected.station_entries,
            // The store sets it.
            events_bytes: 0,
        });
        debug_assert!(commit
            .logs
            .iter()
            .all(|(l, _, _)| matches!(l, Log::Tally | Log::Stations)));
        store.commit(commit).map_err(LedgerError::from)?;
        self.chunk_start = self.next_seq;
        self.chunk_bytes = 0;
        Ok(())
    }
}
