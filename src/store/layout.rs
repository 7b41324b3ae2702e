//! The ledger directory: the names of its files, the store's format tag, the store's errors
//! and handle, the head record, and creating or opening a store. sled is opened here: its lock
//! (another process holding the ledger) and its panics on damaged files become [`StoreError`]s.

use crate::events::event::Hash;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies a kaohe store and its layout version.
pub const FORMAT_TAG: &[u8] = b"kaohe-store-v7";
/// The events file inside a ledger directory.
pub const EVENTS_FILE: &str = "events.seg";
/// The tally file inside a ledger directory.
pub const TALLY_FILE: &str = "tally.seg";
/// The postings file inside a ledger directory: one entry per tally row, chained by station.
pub const POSTINGS_FILE: &str = "postings.seg";
/// The id index's runs inside a ledger directory.
pub const IDS_FILE: &str = "ids.seg";
/// The directory of stored evidence files inside a ledger directory.
pub const EVIDENCE_DIR: &str = "evidence";
/// The sled key of the format tag.
pub(super) const FORMAT_KEY: &[u8] = b"F";
/// The sled key of the head.
pub(super) const HEAD_KEY: &[u8] = b"H";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the ledger at {0} is in use by another kaohe process; wait for it to finish and try again"
    )]
    InUse(PathBuf),
    #[error("no ledger at {0}; create one with `kaohe --db {0} init --rubric FILE`")]
    NotFound(PathBuf),
    #[error("{0} already holds a ledger")]
    Exists(PathBuf),
    #[error("{0} is not a kaohe ledger")]
    NotALedger(PathBuf),
    #[error("the ledger at {} has the store format `{found}`; this kaohe reads `{}` (rebuild it from an export: `kaohe --db {} export > FILE` with the kaohe that wrote it, then `kaohe restore FILE --db NEW` with this one)", path.display(), String::from_utf8_lossy(FORMAT_TAG), path.display())]
    OtherFormat { path: PathBuf, found: String },
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Io(String),
}

pub(super) fn io(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => {
            StoreError::Corrupt(format!("the database files hold damaged data (sled: {e})"))
        }
        other => StoreError::Io(other.to_string()),
    }
}

pub(super) fn file_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

pub(super) fn bad_key() -> StoreError {
    StoreError::Corrupt("a block key has the wrong size".into())
}

/// An open store: sled's database (which holds the lock on the directory) and the two
/// append-only files. The fields are the `store` module's alone.
pub struct Store {
    pub(super) db: Db,
    /// A writer's exclusive lock on the ledger directory ([`open_db`]), or a reader's copy of
    /// sled's files ([`Store::open_read`]), held as long as the store is open.
    pub(super) _hold: Hold,
    pub(super) path: PathBuf,
    pub(super) events: File,
    pub(super) tally: File,
    pub(super) postings: File,
    pub(super) ids: File,
    /// Fences and filters of the id runs, kept by a handle that makes many lookups.
    pub(super) ids_cache: std::sync::Mutex<IdCache>,
    /// sled's state was rebuilt from an older snapshot when it opened: the append-only files
    /// must then end exactly where its head says ([`Store::refuse_rolled_back`]).
    pub(super) repaired: bool,
    /// Events this handle committed (a writer's; see `Drop for Store`).
    pub(super) committed_events: AtomicU64,
    /// Held by this store and every handle [`Store::share`] made of it: a writer reopens
    /// sled when dropped only if no other handle still has it open.
    pub(super) handles: std::sync::Arc<()>,
}

/// sled's database in an open store: there from the opening until the store is dropped, when
/// a writer may take it out to open sled once more (`Drop for Store`).
pub(super) struct Db(Option<sled::Db>);

impl std::ops::Deref for Db {
    type Target = sled::Db;
    fn deref(&self) -> &sled::Db {
        // Invariant: only `Store::drop` takes the database out, and nothing reads it after.
        self.0
            .as_ref()
            .expect("a store's database is open until the store is dropped")
    }
}

/// A writer that committed at least this many events has sled write a snapshot of its log
/// when the store is dropped. sled 0.34 writes snapshots only as it opens, and every opening
/// replays the log written since the newest one: after a big import, each later `explain` (on
/// a reader's copy) or `record` paid for replaying the whole import's index writes, about
/// half of an `explain` at 1M events (67 ms against 36 ms after a snapshot).
const SNAPSHOT_AFTER_EVENTS: u64 = 1_000;

/// How long the snapshot's opening waits for the dropped database's background threads to let
/// go of its lock; past it, the snapshot is left to the next opening.
const SNAPSHOT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Drop for Store {
    /// A writer that committed many events (an import, a long-running service) opens sled once
    /// more before it lets go of the directory's lock, so that sled writes a snapshot that
    /// covers them (see [`SNAPSHOT_AFTER_EVENTS`]). Best effort: what was committed is already
    /// flushed, and a snapshot sled fails to finish (a kill) is removed by the next writer.
    fn drop(&mut self) {
        let sole_handle = std::sync::Arc::strong_count(&self.handles) == 1;
        let many = self.committed_events.load(Ordering::Relaxed) >= SNAPSHOT_AFTER_EVENTS;
        if !(matches!(self._hold, Hold::Lock(_)) && sole_handle && many) {
            return;
        }
        if let Some(db) = self.db.0.take() {
            drop(db);
            let _ = open_sled(&self.path, std::time::Instant::now() + SNAPSHOT_LOCK_WAIT);
        }
    }
}

/// What an open store holds on to: a writer the directory's exclusive lock, a reader its
/// private copy of sled's files (removed when the store is dropped).
pub(super) enum Hold {
    Lock(#[allow(dead_code)] File),
    Copy(#[allow(dead_code)] Scratch),
    /// A handle that shares an open store in this process ([`Store::share`]), which holds
    /// the lock.
    Shared,
}

/// A reader's private directory (see [`Store::open_read`]), removed on drop.
pub(super) struct Scratch(PathBuf, #[allow(dead_code)] Option<File>);

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover in the temporary directory holds no one up.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A run of `ids.seg` (the id index, `ids`): where it starts and how many entries it has;
/// the rest follows. Here because a handle holds copies of runs ([`IdCache`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub offset: u64,
    pub count: u64,
}

/// What a lookup needs of a run in memory: its fences and filter.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub run: Run,
    pub(super) fences: Vec<u64>,
    pub(super) bloom: Vec<u8>,
}

/// A handle's copy of the runs' fences and filters (a prefix of the run list: runs are only
/// ever added), made after a handle's first lookups (`ids`).
#[derive(Debug, Default)]
pub(super) struct IdCache {
    pub(super) lookups: u64,
    pub(super) loaded: Vec<Loaded>,
}

/// Where the chain ends, and how long the derived logs are at that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The seq the next event gets (= number of events).
    pub next_seq: u64,
    /// The hash of the last event (zeros when empty).
    pub hash: Hash,
    /// The last event's recorded time (µs); recorded times never go back.
    pub recorded_at_us: i64,
    /// Entries in the tally log.
    pub tally_rows: u64,
    /// Entries in the station log.
    pub stations: u64,
    /// Committed bytes of `events.seg` (set by [`Store::commit`]).
    pub events_bytes: u64,
}

const HEAD_BYTES: usize = 72;

impl Head {
    pub(super) fn to_bytes(self) -> [u8; HEAD_BYTES] {
        let mut b = [0u8; HEAD_BYTES];
        b[..8].copy_from_slice(&self.next_seq.to_be_bytes());
        b[8..40].copy_from_slice(&self.hash);
        b[40..48].copy_from_slice(&self.recorded_at_us.to_be_bytes());
        b[48..56].copy_from_slice(&self.tally_rows.to_be_bytes());
        b[56..64].copy_from_slice(&self.stations.to_be_bytes());
        b[64..72].copy_from_slice(&self.events_bytes.to_be_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Head> {
        if b.len() != HEAD_BYTES {
            return None;
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[8..40]);
        let u64_at = |i: usize| b[i..i + 8].try_into().ok().map(u64::from_be_bytes);
        Some(Head {
            next_seq: u64_at(0)?,
            hash,
            recorded_at_us: i64::from_be_bytes(b[40..48].try_into().ok()?),
            tally_rows: u64_at(48)?,
            stations: u64_at(56)?,
            events_bytes: u64_at(64)?,
        })
    }
}

/// Opens (or, for a new store, creates empty) one of the store's files. A new store's file is
/// created exclusively, never through a link: a leftover of an interrupted `init` (no head
/// was written) is unlinked first, which removes a link itself, never its target.
fn open_file(path: &Path, name: &str, create: bool) -> Result<File, StoreError> {
    open_file_as(path, name, create, true)
}

/// [`open_file`], read-only unless `write`.
fn open_file_as(path: &Path, name: &str, create: bool, write: bool) -> Result<File, StoreError> {
    let full = path.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(write);
    if create {
        match std::fs::remove_file(&full) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(file_error(&format!("cannot remove {}", full.display()), e))
            }
            _ => {}
        }
        options.create_new(true);
    }
    options.open(&full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::Corrupt(format!(
            "{} is missing: the ledger's events or tally are gone",
            full.display()
        )),
        _ => StoreError::Io(format!("cannot open {}: {e}", full.display())),
    })
}

pub(super) fn file_len(file: &File) -> Result<u64, StoreError> {
    Ok(file
        .metadata()
        .map_err(|e| file_error("cannot read a ledger file's size", e))?
        .len())
}

pub(super) fn has_sled_files(path: &Path) -> bool {
    path.join("db").is_file() && path.join("conf").is_file()
}

/// sled's page cache: bounded, so that memory does not grow with the ledger (reads stream
/// through it).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How long to wait for a lock that another process, or a just-dropped handle whose background
/// threads have not finished, still holds (milliseconds; [`set_lock_wait`]), and the pause
/// between attempts.
static LOCK_WAIT_MS: AtomicU64 =
    AtomicU64::new(crate::base::limits::DEFAULT_LOCK_WAIT_SECONDS * 1000);
/// The file in a reader's copy of sled's files that its owner keeps locked.
const HELD_FILE: &str = "held";

/// How old a reader's copy must be before another reader may judge it orphaned.
const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

const LOCK_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Sets how long opening a ledger waits for another process to let go of it, for this
/// process (a command line's `--wait SECONDS`). At least one attempt is always made.
pub fn set_lock_wait(wait: std::time::Duration) {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    LOCK_WAIT_MS.store(ms, Ordering::Relaxed);
}

/// Opens sled's database in `path`, holding the ledger directory's own lock first
/// ([`lock_dir`]): under it, leftovers of a snapshot sled was writing when its process was
/// killed are removed ([`remove_interrupted_snapshots`]), which sled would otherwise read as
/// damaged data. Gives the database, the lock (to be held as long as the database), and
/// whether sled's state had to be rebuilt from an older snapshot ([`drop_newest_snapshot`]).
pub(super) fn open_db(path: &Path) -> Result<(sled::Db, File, bool), StoreError> {
    let deadline = lock_deadline();
    let lock = lock_dir(path, deadline, Lock::Exclusive)?;
    remove_interrupted_snapshots(path)?;
    let (db, repaired) = open_sled_repairing(path, deadline)?;
    Ok((db, lock, repaired))
}

fn lock_deadline() -> std::time::Instant {
    std::time::Instant::now()
        + std::time::Duration::from_millis(LOCK_WAIT_MS.load(Ordering::Relaxed))
}

/// Opens sled's database in `dir`; when sled finds damaged data, once more without the
/// newest snapshot ([`drop_newest_snapshot`]). Gives whether it had to.
fn open_sled_repairing(
    dir: &Path,
    deadline: std::time::Instant,
) -> Result<(sled::Db, bool), StoreError> {
    match open_sled(dir, deadline) {
        Err(StoreError::Corrupt(_)) if drop_newest_snapshot(dir)? => {
            Ok((open_sled(dir, deadline)?, true))
        }
        opened => Ok((opened?, false)),
    }
}

/// Opens a copy of the ledger's sled files for a reader, nothing in `path` written: under a
/// shared lock on the directory (writers hold it exclusively, so no process has sled open
/// there), sled's files are copied into a private directory, where sled opens them (and
/// rewrites its snapshot). A snapshot sled was writing when its process died
/// (`snap.*.generating`) is not copied. Gives the database, the shared lock (to hold until the
/// store's checks are done), the copy, and whether sled's state had to be rebuilt.
pub(super) fn open_db_copy(path: &Path) -> Result<(sled::Db, File, Scratch, bool), StoreError> {
    let deadline = lock_deadline();
    let lock = lock_dir(path, deadline, Lock::Shared)?;
    let bases = scratch_bases();
    remove_orphaned_copies(&bases);
    let mut tried = bases.iter().peekable();
    while let Some(base) = tried.next() {
        let opened = copy_sled_files(path, base).and_then(|scratch| {
            let (db, repaired) = open_sled_repairing(&scratch.0, deadline)?;
            Ok((db, scratch, repaired))
        });
        match opened {
            Ok((db, scratch, repaired)) => return Ok((db, lock, scratch, repaired)),
            // Out of room in memory, say (which sled may report as damage, or panic on): the
            // copy is removed and made again on disk, whose answer stands.
            Err(e) if tried.peek().is_some() && !matches!(e, StoreError::InUse(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    // Invariant: `scratch_bases` always gives the temporary directory.
    unreachable!("the temporary directory is always tried")
}

/// Where a reader's private copy of sled's files may go, in order: memory (`/dev/shm`) where
/// the system has it and `TMPDIR` does not choose, then the temporary directory. The copy is
/// thrown away, so a disk would gain nothing but the writes and syncs sled makes when it
/// opens (and the removal): in memory, `explain` at 1M events opens in 33 ms, not 42, and
/// closes in 5 ms, not 13.
fn scratch_bases() -> Vec<PathBuf> {
    let memory = Path::new("/dev/shm");
    let mut bases = Vec::with_capacity(2);
    if std::env::var_os("TMPDIR").is_none() && memory.is_dir() {
        bases.push(memory.to_path_buf());
    }
    bases.push(std::env::temp_dir());
    bases
}

/// Copies sled's files (`conf`, `db`, its snapshots and `blobs/`) into a new private
/// directory under `base`.
fn copy_sled_files(path: &Path, base: &Path) -> Result<Scratch, StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "kaohe-read-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = base.join(name);
    std::fs::create_dir(&dir)
        .map_err(|e| file_error(&format!("cannot create {}", dir.display()), e))?;
    // The copy's owner holds a lock on `held` for as long as it lives: another reader that
    // finds the lock free knows the copy is orphaned, in whatever process namespace its
    // owner ran (`/dev/shm` is often shared between containers that do not share pids).
    let mut scratch = Scratch(dir, None);
    let held = File::create_new(scratch.0.join(HELD_FILE))
        .map_err(|e| file_error("cannot create the copy's lock", e))?;
    held.try_lock()
        .map_err(|e| file_error("cannot lock the copy", std::io::Error::other(e)))?;
    scratch.1 = Some(held);
    copy_tree(path, &scratch.0, &|name| {
        name == "conf"
            || name == "db"
            || name == "blobs"
            || (name.starts_with("snap.") && !name.ends_with(".generating"))
    })?;
    Ok(scratch)
}

/// Removes the copies of readers that died before they could remove their own (a kill): a
/// copy older than [`ORPHAN_MIN_AGE`] whose lock (`held`) is free has no owner. A copy
/// without one (made by an older kaohe) is named after its process, and a process that no
/// longer exists (`/proc/PID`) holds none. Best effort; a copy left behind holds no one up.
fn remove_orphaned_copies(bases: &[PathBuf]) {
    for entries in bases.iter().filter_map(|b| std::fs::read_dir(b).ok()) {
        remove_orphans_in(entries);
    }
}

fn remove_orphans_in(entries: std::fs::ReadDir) {
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kaohe-read-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        // A copy is made in milliseconds; one younger than ORPHAN_MIN_AGE may still be
        // between its creation and its lock, and is left alone (a copy whose reader died
        // that young goes with a later reader).
        let young = entry
            .metadata()
            .and_then(|m| m.modified())
            .map_or(true, |t| {
                t.elapsed().map_or(true, |age| age < ORPHAN_MIN_AGE)
            });
        if young {
            continue;
        }
        let orphaned = match File::open(entry.path().join(HELD_FILE)) {
            // The lock is released when `held` is closed, after the removal.
            Ok(held) => held.try_lock().is_ok(),
            Err(_) => {
                !Path::new("/proc").join(pid.to_string()).exists()
                    && Path::new("/proc/self").exists()
            }
        };
        if orphaned {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies the entries of `from` that `keep` names (directories whole) into `to`.
fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(from)
        .map_err(|e| file_error(&format!("cannot read {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error("cannot read the ledger directory", e))?;
        let name = entry.file_name();
        if !keep(&name.to_string_lossy()) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .map_err(|e| file_error(&format!("cannot read {}", source.display()), e))?;
        if kind.is_dir() {
            std::fs::create_dir(&target)
                .map_err(|e| file_error(&format!("cannot create {}", target.display()), e))?;
            copy_tree(&source, &target, &|_| true)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target)
                .map_err(|e| file_error(&format!("cannot copy {}", source.display()), e))?;
        }
    }
    Ok(())
}

/// How a process holds the ledger directory: writers alone, readers together.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    Exclusive,
    Shared,
}

/// When sled finds damaged data and keeps more than one snapshot, removes the newest: a
/// process killed while sled wrote it can leave a whole snapshot file that describes log
/// writes the kill cut off (found by killing `verify` at its first `fsync`,
/// `tests/it/faults.rs`). A snapshot is only a summary of sled's log, so sled rebuilds the
/// state from the older one and the log; if the data is really damaged, the second open
/// reports it. True when a snapshot was removed. Called only under the directory's lock.
fn drop_newest_snapshot(path: &Path) -> Result<bool, StoreError> {
    let entries = std::fs::read_dir(path)
        .map_err(|e| file_error(&format!("cannot read {}", path.display()), e))?;
    let mut snapshots: Vec<(u64, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| file_error("cannot read the ledger directory", e))?;
        let name = entry.file_name();
        let lsn = name
            .to_str()
            .and_then(|n| n.strip_prefix("snap."))
            .filter(|hex| hex.len() == 16)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok());
        if let Some(lsn) = lsn {
            snapshots.push((lsn, entry.path()));
        }
    }
    if snapshots.len() < 2 {
        return Ok(false);
    }
    snapshots.sort();
    let (_, newest) = snapshots.pop().expect("at least two snapshots");
    std::fs::remove_file(&newest)
        .map_err(|e| file_error(&format!("cannot remove {}", newest.display()), e))?;
    Ok(true)
}

/// Locks the ledger directory (an advisory lock on the directory itself, so no file is made
/// for it), waiting until `deadline` for another process to let go: exclusively for a writer,
/// shared for a reader.
fn lock_dir(path: &Path, deadline: std::time::Instant, how: Lock) -> Result<File, StoreError> {
    if how == Lock::Exclusive {
        std::fs::create_dir_all(path)
            .map_err(|e| file_error(&format!("cannot create {}", path.display()), e))?;
    }
    let dir =
        File::open(path).map_err(|e| file_error(&format!("cannot open {}", path.display()), e))?;
    loop {
        let tried = match how {
            Lock::Exclusive => dir.try_lock(),
            Lock::Shared => dir.try_lock_shared(),
        };
        match tried {
            Ok(()) => return Ok(dir),
            Err(std::fs::TryLockError::WouldBlock) => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::InUse(path.to_path_buf()));
                }
                std::thread::sleep(LOCK_PAUSE);
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(file_error("cannot lock the ledger directory", e))
            }
        }
    }
}

/// Removes `snap.*.generating` files: a snapshot sled was writing when its process died (a
/// kill or Ctrl-C in the moment a ledger is opened). sled writes a snapshot to such a file and
/// renames it when whole, so a leftover is never the snapshot in use; left in place, sled
/// reads it and reports damaged data. Called only under the directory's lock.
fn remove_interrupted_snapshots(path: &Path) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(path)
        .map_err(|e| file_error(&format!("cannot read {}", path.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_error("cannot read the ledger directory", e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())
                .map_err(|e| file_error(&format!("cannot remove {name}"), e))?;
        }
    }
    Ok(())
}

fn open_sled(path: &Path, deadline: std::time::Instant) -> Result<sled::Db, StoreError> {
    loop {
        // sled reads its files here; damaged ones must be an error, not a panic.
        let opened = contain("open its files", || {
            Ok(sled::Config::new()
                .path(path)
                .cache_capacity(CACHE_BYTES)
                .open())
        })?;
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(ref e)) if is_lock_error(e) => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::InUse(path.to_path_buf()));
                }
                std::thread::sleep(LOCK_PAUSE);
            }
            Err(sled::Error::Io(ref e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(StoreError::Io(format!(
                    "permission denied on {}: kaohe needs write access to the ledger directory, even to read it (it locks the ledger while open)",
                    path.display()
                )))
            }
            // sled cannot read its configuration: damaged (a new store writes its own).
            Err(sled::Error::Unsupported(m)) if path.join("conf").is_file() => {
                return Err(StoreError::Corrupt(format!(
                    "the store's database cannot read its configuration ({m})"
                )))
            }
            Err(other) => return Err(io(other)),
        }
    }
}

/// sled reports a lock held by another process as an I/O error that wraps `WouldBlock`.
fn is_lock_error(e: &std::io::Error) -> bool {
    let wraps_would_block = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        .is_some_and(|inner| inner.kind() == std::io::ErrorKind::WouldBlock);
    e.kind() == std::io::ErrorKind::WouldBlock
        || wraps_would_block
        || e.to_string().contains("could not acquire lock")
}

thread_local! {
    static CONTAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread runs sled code whose panic [`contain`] turns into an error: a panic
/// hook can then stay quiet (the error says what happened).
pub fn panic_is_contained() -> bool {
    CONTAINING.with(|c| c.get())
}

/// Runs `f`, turning a panic inside it (sled's, on damaged files) into [`StoreError::Corrupt`].
pub(super) fn contain<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let outer = CONTAINING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(outer));
    result.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no detail");
        Err(StoreError::Corrupt(format!(
            "the store's database failed to {what} ({detail}): its files are damaged"
        )))
    })
}

/// Refuses a database that holds another format's tag (not a kaohe ledger) or a head (a
/// ledger already).
fn refuse_taken(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    match db.get(FORMAT_KEY).map_err(io)? {
        Some(tag) if tag.as_ref() != FORMAT_TAG => {
            return Err(StoreError::NotALedger(path.to_path_buf()))
        }
        _ => {}
    }
    if db.get(HEAD_KEY).map_err(io)?.is_some() {
        return Err(StoreError::Exists(path.to_path_buf()));
    }
    Ok(())
}

/// Refuses a path that holds no ledger, or a ledger's events without sled's files.
fn check_ledger_files(path: &Path) -> Result<(), StoreError> {
    if !path.exists() {
        return Err(StoreError::NotFound(path.to_path_buf()));
    }
    if !has_sled_files(path) {
        if path.join(EVENTS_FILE).is_file() {
            return Err(StoreError::Corrupt(format!(
                "{} holds a ledger's events but its database files (db, conf) are missing",
                path.display()
            )));
        }
        return Err(StoreError::NotALedger(path.to_path_buf()));
    }
    Ok(())
}

impl Store {
    /// Creates a new, empty store. Refuses a path that already holds a ledger.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            let empty_dir = path.is_dir()
                && std::fs::read_dir(path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
            if !empty_dir && !has_sled_files(path) {
                return Err(StoreError::NotALedger(path.to_path_buf()));
            }
        }
        let (db, lock, _) = open_db(path)?;
        refuse_taken(&db, path)?;
        let store = Store {
            events: open_file(path, EVENTS_FILE, true)?,
            tally: open_file(path, TALLY_FILE, true)?,
            postings: open_file(path, POSTINGS_FILE, true)?,
            ids: open_file(path, IDS_FILE, true)?,
            ids_cache: Default::default(),
            db: Db(Some(db)),
            committed_events: AtomicU64::new(0),
            handles: Default::default(),
            _hold: Hold::Lock(lock),
            path: path.to_path_buf(),
            repaired: false,
        };
        // The new files' directory entries must survive a crash like their contents.
        File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| file_error("cannot sync the ledger directory", e))?;
        Ok(store)
    }

    /// Opens an existing store to write to it (and read): the ledger is this process's alone
    /// until the store is dropped.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        check_ledger_files(path)?;
        let (db, lock, repaired) = open_db(path)?;
        Self::opened(path, db, Hold::Lock(lock), repaired, true)
    }

    /// Opens an existing store to read it, writing nothing in `path`, beside other readers and
    /// without holding up a writer for longer than the opening: sled works on a private copy
    /// of its files ([`open_db_copy`]); the events and tally files, which are only ever
    /// appended to, are read in place up to the lengths the copied head records. Nothing
    /// committed after the opening is seen.
    pub fn open_read(path: &Path) -> Result<Store, StoreError> {
        check_ledger_files(path)?;
        let (db, lock, scratch, repaired) = open_db_copy(path)?;
        let store = Self::opened(path, db, Hold::Copy(scratch), repaired, false);
        // Held until the files' lengths were checked against the copied head.
        drop(lock);
        store
    }

    /// Another handle on this open store, for reading beside its writer in the same process
    /// (the service): sled's database is shared, the files are opened again read-only. It
    /// reads what was committed up to the head it is given, which a writer never changes.
    pub fn share(&self) -> Result<Store, StoreError> {
        Ok(Store {
            db: Db(Some(sled::Db::clone(&self.db))),
            committed_events: AtomicU64::new(0),
            handles: self.handles.clone(),
            _hold: Hold::Shared,
            events: open_file_as(&self.path, EVENTS_FILE, false, false)?,
            tally: open_file_as(&self.path, TALLY_FILE, false, false)?,
            postings: open_file_as(&self.path, POSTINGS_FILE, false, false)?,
            ids: open_file_as(&self.path, IDS_FILE, false, false)?,
            ids_cache: Default::default(),
            path: self.path.clone(),
            repaired: self.repaired,
        })
    }

    fn opened(
        path: &Path,
        db: sled::Db,
        hold: Hold,
        repaired: bool,
        write: bool,
    ) -> Result<Store, StoreError> {
        match db.get(FORMAT_KEY).map_err(io)? {
            Some(tag) if tag.as_ref() == FORMAT_TAG => {}
            Some(tag) if tag.starts_with(b"kaohe-store-") => {
                return Err(StoreError::OtherFormat {
                    path: path.to_path_buf(),
                    found: String::from_utf8_lossy(&tag).into_owned(),
                })
            }
            Some(_) => return Err(StoreError::NotALedger(path.to_path_buf())),
            None => return Err(StoreError::NotFound(path.to_path_buf())),
        }
        let store = Store {
            events: open_file_as(path, EVENTS_FILE, false, write)?,
            tally: open_file_as(path, TALLY_FILE, false, write)?,
            postings: open_file_as(path, POSTINGS_FILE, false, write)?,
            ids: open_file_as(path, IDS_FILE, false, write)?,
            ids_cache: Default::default(),
            db: Db(Some(db)),
            committed_events: AtomicU64::new(0),
            handles: Default::default(),
            _hold: hold,
            path: path.to_path_buf(),
            repaired,
        };
        if repaired {
            store.refuse_rolled_back()?;
        }
        Ok(store)
    }

    /// After sled's state was rebuilt from an older snapshot: its head must account for every
    /// byte of the events file. Bytes past the head are read as an interrupted commit's tail
    /// and cut by the next commit, so a head that went back would lose committed events; it is
    /// damage instead, never repaired silently.
    fn refuse_rolled_back(&self) -> Result<(), StoreError> {
        let head_bytes = self.head()?.map_or(0, |h| h.events_bytes);
        if file_len(&self.events)? != head_bytes {
            return Err(StoreError::Corrupt(
                "the database's state was rebuilt from an older snapshot and no longer accounts for every event in the events file".into(),
            ));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head, or `None` before the genesis is committed.
    pub fn head(&self) -> Result<Option<Head>, StoreError> {
        match self.db.get(HEAD_KEY).map_err(io)? {
            None => Ok(None),
            Some(v) => Head::from_bytes(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("head record has the wrong size".into())),
        }
    }

    /// Bytes the store occupies on disk: sled's files and the segment files.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk().map_err(io)?
            + file_len(&self.events)?
            + file_len(&self.tally)?
            + file_len(&self.postings)?
            + file_len(&self.ids)?)
    }
}
