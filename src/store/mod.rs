//! The store: the only place that knows sled.
//!
//! A ledger directory holds a sled database and two append-only files:
//!
//! - `events.seg`: every event's frame, in seq order: body length (u32 LE), body, hash (32).
//! - `tally.seg`: the tally log, [`TALLY_ENTRY_BYTES`]-byte entries: length (u16 LE), row.
//!
//! The bulk of the data lives in the files and is read with positioned reads through a small
//! buffer, so memory does not grow with the ledger (sled keeps every page it has read, whatever
//! its cache is set to). sled holds the head, which records how many bytes of each file are
//! committed, the offset of each block of events, and the indices:
//!
//! | key | value |
//! |---|---|
//! | `F` | the format tag, [`FORMAT_TAG`] |
//! | `H` | the head: next seq (u64 BE), head hash (32), last recorded_at (i64 BE), tally rows (u64 BE), stations (u64 BE), committed bytes of `events.seg` (u64 BE) |
//! | `B` + block number (u64 BE) | the offset in `events.seg` (u64 BE) of the block's first frame |
//! | `I` + bucket (u16 BE) + commit seq (u64 BE) | a fragment: entries id → seq (u64 BE) of the event that holds the id |
//! | `S` + bucket (u16 BE) + commit seq (u64 BE) | a fragment: entries station code → seq (u64 BE) of its registration, ordinal (u32 BE) |
//! | `N` + station + 0x00 + clause | units recorded so far under a per-unit clause (u32 BE) |
//! | `O` + block (u64 BE) | station log: one entry per registered station, [`Log::Stations`] |
//! | `R` + block (u64 BE) | FNV-1a (u64 BE) over the bytes of tally entries `4096·block ..` committed so far: checked on every read of `tally.seg` |
//! | `A` + bucket (u16 BE) | entries station ordinal → the station's sums at the head |
//! | `P` + bucket (u16 BE) + commit seq (u64 BE) | a fragment: entries station ordinal + seq → nothing (a station's events) |
//! | `D` + bucket (u16 BE) | entries record seq → seqs of its appeals, decisions, reversals |
//! | `K` + public key (32) | seq of its registration, seq of its revocation (`u64::MAX`: none) |
//! | `C` + tree size (u64 BE) | a signed checkpoint of the first `size` events (the note's bytes, `schema/PROOFS.md`); not an event, so the chain does not cover it |
//! | `V` | the last full verification (`kaohe verify`): seq (u64 BE), head hash (32), time (i64 BE µs, `i64::MIN`: unknown); not an event |
//!
//! Evidence files (`--evidence-file`) live beside them in the directory [`EVIDENCE_DIR`], one
//! file per blob named by the 64 lowercase hex digits of its BLAKE3 hash, written once
//! (`<hex>.tmp`, synced, renamed, directory synced). They are not events: an event names a
//! blob by a `blake3:<hex> <name>` evidence reference, and `verify --evidence` checks both.
//!
//! Events form blocks of [`EVENTS_PER_BLOCK`]: frame `j` of block `b` is seq
//! `b * EVENTS_PER_BLOCK + j`; every block but the last is full.
//!
//! A commit (1) cuts each file back to its committed length, dropping the torn tail of an
//! interrupted commit, (2) appends to the files and syncs them, (3) applies one sled batch
//! (head with the new lengths, block offsets, indices, logs) and flushes. A crash before (3)
//! leaves bytes past the committed lengths, which nothing reads and the next commit drops; a
//! crash after it leaves a complete commit. Only the process holding sled's lock opens the
//! files, so that lock guards them too.
//!
//! The station log is packed into sled blocks: entry `j` of block `b` is entry
//! `b * per_block + j`, each `length (u16 LE) | bytes`. The id, station, aggregate, postings
//! and dispute indices are packed into [`INDEX_BUCKETS`] hash buckets, each a list of entries
//! `key length (u16 LE) | key | value length (u16 LE) | value`. The append-only ones (id,
//! station, postings) keep each bucket as fragments, one per commit that added to it (keyed by
//! the commit's first seq), so a commit writes only its new entries however big the index is:
//! an import never rewrites what earlier imports wrote. A small commit merges a bucket that
//! has reached [`MAX_FRAGMENTS`]. The replaced ones (aggregates, disputes) are one value per
//! bucket, rewritten when it changes; they grow with stations and disputes, not events.

use crate::base::limits::{EVENTS_PER_BLOCK, MAX_EVENT_BYTES, MAX_EVIDENCE_FILE_BYTES};
use crate::events::event::Hash;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Identifies a kaohe store and its layout version.
pub const FORMAT_TAG: &[u8] = b"kaohe-store-v4";
/// The events file inside a ledger directory.
pub const EVENTS_FILE: &str = "events.seg";
/// The tally file inside a ledger directory.
pub const TALLY_FILE: &str = "tally.seg";
/// The directory of stored evidence files inside a ledger directory.
pub const EVIDENCE_DIR: &str = "evidence";
/// Bytes of one tally entry in `tally.seg`: length (u16 LE) and a 42-byte row.
pub const TALLY_ENTRY_BYTES: u64 = 2 + 42;
/// The most bytes a block of events can hold (a bound on what a damaged offset can ask for).
const MAX_BLOCK_BYTES: u64 = EVENTS_PER_BLOCK * (MAX_EVENT_BYTES as u64 + FRAME_OVERHEAD as u64);
/// Tally entries read per positioned read, and per checksum: block `b` of the tally is
/// entries `b * TALLY_ENTRIES_PER_READ ..`, and sled holds the FNV-1a state over its bytes
/// (key `R` + block), so that a damaged row is found when it is read, not only by `verify`.
const TALLY_ENTRIES_PER_READ: u64 = 4096;
/// FNV-1a's offset basis: the checksum of no bytes.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FRAME_OVERHEAD: usize = 4 + 32;
/// Hash buckets of the bucketed indices. Changing it changes the store layout.
pub const INDEX_BUCKETS: u64 = 4096;
/// Fragments a bucket of an append-only index may reach before a small commit merges them.
const MAX_FRAGMENTS: usize = 32;
/// Commits touching at most this many buckets of an index merge crowded buckets (a big import
/// touches every bucket once, adding one fragment each, and is not slowed by merging).
const COMPACT_BUCKETS_MAX: usize = 64;

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
    #[error("the ledger at {} has the store format `{found}`; this kaohe reads `{}` (rebuild it from an export)", path.display(), String::from_utf8_lossy(FORMAT_TAG))]
    OtherFormat { path: PathBuf, found: String },
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Io(String),
}

fn io(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => {
            StoreError::Corrupt(format!("the database files hold damaged data (sled: {e})"))
        }
        other => StoreError::Io(other.to_string()),
    }
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
    fn to_bytes(self) -> [u8; HEAD_BYTES] {
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

/// The secondary indices, each a key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// id → seq
    Id,
    /// station code → seq of its registration
    Station,
    /// station + 0x00 + clause → units recorded (u32 BE)
    UnitCount,
    /// station ordinal (u32 BE) → the station's sums at the head (replaced, not appended)
    Aggregate,
    /// station ordinal (u32 BE) + seq (u64 BE) → nothing: the station's records and reports,
    /// bucketed by the ordinal alone so that one bucket holds all of a station's entries
    Postings,
    /// seq of a record (u64 BE) → the seqs (u64 BE each) of its appeals, decisions and
    /// reversals, in order (replaced, not appended)
    Dispute,
    /// public key (32 bytes) → seq of its registration (u64 BE) and of its revocation (u64 BE,
    /// `u64::MAX` while in force)
    Key,
}

impl Index {
    /// True for indices whose entries are replaced (one value per key), not appended.
    fn replaced(self) -> bool {
        matches!(self, Index::Aggregate | Index::Dispute)
    }

    /// True for indices packed into hash buckets.
    fn bucketed(self) -> bool {
        !matches!(self, Index::UnitCount | Index::Key)
    }

    /// The bytes of a key that choose its bucket.
    fn bucket_part(self, k: &[u8]) -> &[u8] {
        match self {
            Index::Postings => &k[..k.len().min(4)],
            _ => k,
        }
    }

    fn prefix(self) -> u8 {
        match self {
            Index::Id => b'I',
            Index::Station => b'S',
            Index::UnitCount => b'N',
            Index::Aggregate => b'A',
            Index::Postings => b'P',
            Index::Dispute => b'D',
            Index::Key => b'K',
        }
    }
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

fn block_key(block: u64) -> [u8; 9] {
    let mut k = [b'B'; 9];
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

fn checkpoint_key(size: u64) -> [u8; 9] {
    let mut k = [b'C'; 9];
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

/// One stored event: its seq (by position), body bytes and stored hash.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub seq: u64,
    pub body: &'a [u8],
    pub hash: &'a Hash,
}

/// Derived append-only tables (caches of the events, checked by `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// One fixed-size row per record, metric report or dispute (in `tally.seg`).
    Tally,
    /// One entry per registered station, in registration order.
    Stations,
}

impl Log {
    fn prefix(self) -> u8 {
        match self {
            Log::Tally => b'R',
            Log::Stations => b'O',
        }
    }

    fn per_block(self) -> u64 {
        match self {
            Log::Tally => 4096,
            Log::Stations => 1024,
        }
    }

    fn key(self, block: u64) -> [u8; 9] {
        let mut k = [self.prefix(); 9];
        k[1..].copy_from_slice(&block.to_be_bytes());
        k
    }
}

/// What one commit appends.
#[derive(Debug, Default)]
pub struct Commit {
    /// Entries appended to the derived logs, in order per log.
    pub logs: Packed<Log>,
    /// New events in seq order, starting at the head's `next_seq`: (body, hash).
    pub frames: Frames,
    /// Index entries to set.
    pub index: Packed<Index>,
    /// The head after the commit.
    pub head: Option<Head>,
}

/// A commit's new events, packed back to back as `events.seg` stores them (a big import holds
/// a million of them: one allocation, no per-event overhead).
#[derive(Debug, Default)]
pub struct Frames {
    bytes: Vec<u8>,
    count: usize,
}

impl Frames {
    pub fn push(&mut self, (body, hash): (Vec<u8>, Hash)) {
        // Invariant: the codec bounds an event's size.
        assert!(body.len() <= MAX_EVENT_BYTES, "codec bounds event size");
        self.bytes
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&body);
        self.bytes.extend_from_slice(&hash);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the packed frames.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// (offset in the packed bytes, body, hash) of each frame, in order.
    fn iter(&self) -> impl Iterator<Item = (usize, &[u8], &Hash)> + '_ {
        let mut at = 0usize;
        std::iter::from_fn(move || {
            let len_bytes: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            let body = &self.bytes[at + 4..at + 4 + len];
            let hash: &Hash = self.bytes[at + 4 + len..at + FRAME_OVERHEAD + len]
                .try_into()
                .ok()?;
            let start = at;
            at += FRAME_OVERHEAD + len;
            Some((start, body, hash))
        })
    }
}

/// Tagged entries (log entries, or index keys and values) packed into one buffer, so that a
/// commit of a million entries holds no per-entry allocation.
#[derive(Debug)]
pub struct Packed<T> {
    bytes: Vec<u8>,
    /// (tag, end of key in `bytes`, end of value in `bytes`)
    entries: Vec<(T, usize, usize)>,
}

impl<T> Default for Packed<T> {
    fn default() -> Self {
        Packed {
            bytes: Vec::new(),
            entries: Vec::new(),
        }
    }
}

impl Packed<Index> {
    /// Adds an index entry: (index, key, value).
    pub fn push(&mut self, (index, key, value): (Index, Vec<u8>, Vec<u8>)) {
        self.push_pair(index, &key, &value);
    }
}

impl Packed<Log> {
    /// Adds a log entry: (log, entry).
    pub fn push(&mut self, (log, entry): (Log, Vec<u8>)) {
        self.push_entry(log, &entry);
    }
}

impl Extend<(Log, Vec<u8>)> for Packed<Log> {
    fn extend<I: IntoIterator<Item = (Log, Vec<u8>)>>(&mut self, entries: I) {
        for e in entries {
            self.push(e);
        }
    }
}

impl<T: Copy + PartialEq> Packed<T> {
    /// Adds a log entry (a value with no key).
    pub fn push_entry(&mut self, tag: T, value: &[u8]) {
        self.push_pair(tag, &[], value);
    }

    pub fn push_pair(&mut self, tag: T, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.entries.push((tag, key_end, self.bytes.len()));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (tag, key, value) of every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = (T, &[u8], &[u8])> + '_ {
        let mut start = 0usize;
        self.entries.iter().map(move |&(tag, key_end, end)| {
            let key = &self.bytes[start..key_end];
            let value = &self.bytes[key_end..end];
            start = end;
            (tag, key, value)
        })
    }

    /// Entries with one tag: their values (log entries).
    pub fn values(&self, tag: T) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().filter(move |e| e.0 == tag).map(|e| e.2)
    }

    pub fn count(&self, tag: T) -> u64 {
        self.entries.iter().filter(|e| e.0 == tag).count() as u64
    }
}

/// The stored evidence files: blobs by hash with their sizes, and any other entries of the
/// evidence directory (leftover `.tmp` files of an interrupted store, stray files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceListing {
    pub blobs: BTreeMap<Hash, u64>,
    pub leftovers: Vec<String>,
}

pub struct Store {
    db: sled::Db,
    path: PathBuf,
    events: File,
    tally: File,
}

/// Opens (or, for a new store, creates empty) one of the store's files.
fn open_file(path: &Path, name: &str, create: bool) -> Result<File, StoreError> {
    let full = path.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    if create {
        options.create(true).truncate(true);
    }
    options.open(&full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::Corrupt(format!(
            "{} is missing: the ledger's events or tally are gone",
            full.display()
        )),
        _ => StoreError::Io(format!("cannot open {}: {e}", full.display())),
    })
}

fn file_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

fn file_len(file: &File) -> Result<u64, StoreError> {
    Ok(file
        .metadata()
        .map_err(|e| file_error("cannot read a ledger file's size", e))?
        .len())
}

/// Reads `[start, end)` of a file, or as much of it as the file holds.
fn read_range(file: &File, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
    let want = end.min(file_len(file)?).saturating_sub(start);
    let mut buf = vec![0u8; usize::try_from(want).map_err(|_| bad_key())?];
    let mut got = 0usize;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], start + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(file_error("cannot read the ledger", e)),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Cuts a file back to its committed length (dropping an interrupted commit's tail); a file
/// shorter than that has lost committed data.
fn cut_to(file: &File, committed: u64, what: &str) -> Result<(), StoreError> {
    let len = file_len(file)?;
    if len < committed {
        return Err(StoreError::Corrupt(format!(
            "the {what} file holds {len} bytes where {committed} were committed"
        )));
    }
    if len > committed {
        file.set_len(committed)
            .map_err(|e| file_error("cannot drop an interrupted commit's tail", e))?;
    }
    Ok(())
}

fn has_sled_files(path: &Path) -> bool {
    path.join("db").is_file() && path.join("conf").is_file()
}

/// sled's page cache: bounded, so that memory does not grow with the ledger (reads stream
/// through it).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How long to wait for a lock that another process, or a just-dropped handle whose background
/// threads have not finished, still holds: attempts × pause.
const LOCK_ATTEMPTS: u32 = 250;
const LOCK_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let mut attempt = 1;
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
                if attempt == LOCK_ATTEMPTS {
                    return Err(StoreError::InUse(path.to_path_buf()));
                }
                attempt += 1;
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
        let db = open_db(path)?;
        match db.get(b"F").map_err(io)? {
            Some(tag) if tag.as_ref() != FORMAT_TAG => {
                return Err(StoreError::NotALedger(path.to_path_buf()))
            }
            _ => {}
        }
        if db.get(b"H").map_err(io)?.is_some() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        let store = Store {
            events: open_file(path, EVENTS_FILE, true)?,
            tally: open_file(path, TALLY_FILE, true)?,
            db,
            path: path.to_path_buf(),
        };
        // The new files' directory entries must survive a crash like their contents.
        File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| file_error("cannot sync the ledger directory", e))?;
        match store.db.get(b"F").map_err(io)? {
            Some(tag) if tag.as_ref() != FORMAT_TAG => {
                return Err(StoreError::NotALedger(path.to_path_buf()))
            }
            _ => {}
        }
        if store.head()?.is_some() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        Ok(store)
    }

    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
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
        let db = open_db(path)?;
        match db.get(b"F").map_err(io)? {
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
        Ok(Store {
            events: open_file(path, EVENTS_FILE, false)?,
            tally: open_file(path, TALLY_FILE, false)?,
            db,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn evidence_path(&self, hash: &Hash) -> PathBuf {
        self.path.join(EVIDENCE_DIR).join(hex::encode(hash))
    }

    /// Stores an evidence file under its hash, once: `false` when it was already stored. The
    /// caller hashed `bytes`; the blob is written to `<hex>.tmp`, synced and renamed, and the
    /// directory synced, so a stored blob is whole or absent.
    pub fn put_evidence(&self, hash: &Hash, bytes: &[u8]) -> Result<bool, StoreError> {
        let dir = self.path.join(EVIDENCE_DIR);
        let target = self.evidence_path(hash);
        if target.is_file() {
            return Ok(false);
        }
        let sync_dir = |d: &Path| {
            File::open(d)
                .and_then(|d| d.sync_all())
                .map_err(|e| file_error(&format!("cannot sync {}", d.display()), e))
        };
        if !dir.is_dir() {
            std::fs::create_dir(&dir)
                .map_err(|e| file_error(&format!("cannot create {}", dir.display()), e))?;
            sync_dir(&self.path)?;
        }
        let tmp = dir.join(format!("{}.tmp", hex::encode(hash)));
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            std::io::Write::write_all(&mut f, bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(file_error(
                &format!("cannot store evidence file {}", target.display()),
                e,
            ));
        }
        sync_dir(&dir)?;
        Ok(true)
    }

    /// The stored bytes of an evidence file, or `None` when it is not stored. Not checked
    /// against the hash: the caller re-hashes. A blob larger than
    /// [`MAX_EVIDENCE_FILE_BYTES`] was never stored by kaohe and is reported as damage.
    pub fn get_evidence(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.evidence_path(hash);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(&format!("cannot read {}", path.display()), e)),
        };
        let len = file_len(&f)?;
        if len > MAX_EVIDENCE_FILE_BYTES || !f.metadata().is_ok_and(|m| m.is_file()) {
            return Err(StoreError::Corrupt(format!(
                "the stored evidence file {} is not a file of at most {MAX_EVIDENCE_FILE_BYTES} bytes",
                hex::encode(hash)
            )));
        }
        read_range(&f, 0, len).map(Some)
    }

    /// Every stored evidence blob with its size, and the other entries of the evidence
    /// directory by name.
    pub fn evidence_listing(&self) -> Result<EvidenceListing, StoreError> {
        let dir = self.path.join(EVIDENCE_DIR);
        let mut listing = EvidenceListing::default();
        let entries = match std::fs::read_dir(&dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(file_error(&format!("cannot read {}", dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| file_error("cannot read the evidence directory", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry
                .metadata()
                .map_err(|e| file_error("cannot read the evidence directory", e))?;
            let hash = (name.len() == 64
                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| crate::events::chain::parse_hash(&name))
            .flatten();
            match hash {
                Some(h) if meta.is_file() => {
                    listing.blobs.insert(h, meta.len());
                }
                _ => listing.leftovers.push(name),
            }
        }
        listing.leftovers.sort();
        Ok(listing)
    }

    /// The head, or `None` before the genesis is committed.
    pub fn head(&self) -> Result<Option<Head>, StoreError> {
        match self.db.get(b"H").map_err(io)? {
            None => Ok(None),
            Some(v) => Head::from_bytes(&v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("head record has the wrong size".into())),
        }
    }

    pub fn index_get(&self, index: Index, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if !index.bucketed() {
            return Ok(self
                .db
                .get(key(index.prefix(), k))
                .map_err(io)?
                .map(|v| v.to_vec()));
        }
        let mut found = None;
        for fragment in self.db.scan_prefix(bucket_key(index, k)) {
            let (_, v) = fragment.map_err(io)?;
            parse_bucket(&v, |ek, ev| {
                if found.is_none() && ek == k {
                    found = Some(ev.to_vec());
                }
                Ok(())
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }

    /// Calls `f` with every entry in the bucket that `k` falls in (for postings: every entry
    /// of one station, among a few others).
    pub fn index_bucket_for_each(
        &self,
        index: Index,
        k: &[u8],
        f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        assert!(index.bucketed(), "only bucketed indices have buckets");
        let mut f = f;
        for fragment in self.db.scan_prefix(bucket_key(index, k)) {
            let (_, v) = fragment.map_err(io)?;
            parse_bucket(&v, &mut f)?;
        }
        Ok(())
    }

    /// Calls `f` with every entry of an index (bucket by bucket for bucketed indices).
    pub fn index_for_each(
        &self,
        index: Index,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for entry in self.db.scan_prefix([index.prefix()]) {
            let (k, v) = entry.map_err(io)?;
            if index.bucketed() {
                parse_bucket(&v, &mut f)?;
            } else {
                f(&k[1..], &v)?;
            }
        }
        Ok(())
    }

    /// [`Store::index_for_each`], refusing an index that holds a key twice (a bucket is a list
    /// of entries, so only a check finds a repeated key; `verify` relies on keys being unique,
    /// e.g. for the `Id` index to prove ids unique).
    pub fn index_for_each_unique(
        &self,
        index: Index,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !index.bucketed() {
            return self.index_for_each(index, f);
        }
        let twice = |k: &[u8]| {
            StoreError::Corrupt(format!(
                "the {index:?} index holds the key {} twice",
                String::from_utf8_lossy(k)
            ))
        };
        // A key is in one bucket, whose fragments are adjacent: keys are unique when they are
        // unique within each bucket. 64-bit hashes of the keys first; only when two collide
        // are the bucket's keys compared.
        let mut bucket = None;
        let mut hashes = rustc_hash::FxHashSet::default();
        let mut collided = false;
        let exact = |bk: &[u8]| -> Result<(), StoreError> {
            let mut keys = std::collections::HashSet::new();
            for fragment in self.db.scan_prefix(bk) {
                let (_, v) = fragment.map_err(io)?;
                parse_bucket(&v, |k, _| match keys.insert(k.to_vec()) {
                    true => Ok(()),
                    false => Err(twice(k)),
                })?;
            }
            Ok(())
        };
        for entry in self.db.scan_prefix([index.prefix()]) {
            let (k, v) = entry.map_err(io)?;
            let this = k.get(..3).map(<[u8]>::to_vec);
            if this != bucket {
                if let (true, Some(b)) = (collided, &bucket) {
                    exact(b)?;
                }
                bucket = this;
                hashes.clear();
                collided = false;
            }
            parse_bucket(&v, |k, val| {
                collided |= !hashes.insert(std::hash::BuildHasher::hash_one(
                    &rustc_hash::FxBuildHasher,
                    k,
                ));
                f(k, val)
            })?;
        }
        if let (true, Some(b)) = (collided, &bucket) {
            exact(b)?;
        }
        Ok(())
    }

    /// Calls `f` with every frame from `from_seq` up to (not including) `to_seq`, in order;
    /// `to_seq == u64::MAX` reads to the last committed frame. `f` returns `false` to stop
    /// early. Blocks are read one at a time, so memory stays flat however far it reads.
    pub fn for_each_frame(
        &self,
        from_seq: u64,
        to_seq: u64,
        mut f: impl FnMut(Frame<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let Some(head) = self.head()? else {
            return Ok(());
        };
        let to_seq = to_seq.min(head.next_seq);
        if from_seq >= to_seq {
            return Ok(());
        }
        let first = from_seq / EVENTS_PER_BLOCK;
        let last = (to_seq - 1) / EVENTS_PER_BLOCK;
        let offsets = self.block_offsets(&head, first, last)?;
        for (block, range) in (first..=last).zip(offsets.windows(2)) {
            let bytes = read_range(&self.events, range[0], range[1])?;
            let base = block * EVENTS_PER_BLOCK;
            let mut stop = false;
            let mut frames = 0u64;
            parse_block(block, &bytes, |j, body, hash| {
                frames = j + 1;
                let seq = base + j;
                if stop || seq < from_seq || seq >= to_seq {
                    return Ok(());
                }
                if !f(Frame { seq, body, hash })? {
                    stop = true;
                }
                Ok(())
            })?;
            if stop {
                return Ok(());
            }
            let want = EVENTS_PER_BLOCK.min(head.next_seq - base);
            if frames > want {
                return Err(StoreError::Corrupt(format!(
                    "block {block} holds {frames} events where the head counts {want}: seq {} is not committed",
                    base + want
                )));
            }
            if frames != want || (bytes.len() as u64) < range[1] - range[0] {
                return Err(StoreError::Corrupt(format!(
                    "block {block} holds {frames} of its {want} events: events from seq {} are missing",
                    base + frames
                )));
            }
        }
        Ok(())
    }

    /// The byte ranges of blocks `first..=last` in `events.seg`, as `last - first + 2`
    /// boundaries: each block ends where the next begins, the ledger's last block at the
    /// committed length.
    fn block_offsets(&self, head: &Head, first: u64, last: u64) -> Result<Vec<u64>, StoreError> {
        let last_of_ledger = head.next_seq.saturating_sub(1) / EVENTS_PER_BLOCK;
        let upto = if last < last_of_ledger {
            last + 1
        } else {
            last
        };
        let mut offsets = Vec::with_capacity((upto - first + 2) as usize);
        let mut expected = first;
        for entry in self.db.range(block_key(first)..=block_key(upto)) {
            let (k, v) = entry.map_err(io)?;
            let block = u64::from_be_bytes(k[1..9].try_into().map_err(|_| bad_key())?);
            if block != expected {
                return Err(missing_block(expected));
            }
            let offset = u64::from_be_bytes(v.as_ref().try_into().map_err(|_| bad_key())?);
            offsets.push(offset);
            expected += 1;
        }
        if expected <= upto {
            return Err(missing_block(expected));
        }
        if upto == last {
            offsets.push(head.events_bytes);
        }
        for (i, w) in offsets.windows(2).enumerate() {
            if w[1] < w[0] || w[1] - w[0] > MAX_BLOCK_BYTES {
                return Err(StoreError::Corrupt(format!(
                    "block {} has a damaged offset",
                    first + i as u64
                )));
            }
        }
        Ok(offsets)
    }

    /// Appends frames, log entries and index entries atomically, then flushes, and returns the
    /// head as committed. Nothing is reported written until the flush returns.
    pub fn commit(&self, commit: Commit) -> Result<Head, StoreError> {
        let mut head = commit
            .head
            .ok_or_else(|| StoreError::Io("commit without a head".into()))?;
        let old = self.head()?;
        let old_next = old.map_or(0, |h| h.next_seq);
        let old_bytes = old.map_or(0, |h| h.events_bytes);
        let old_rows = old.map_or(0, |h| h.tally_rows);
        // Invariant: the head moves exactly by the number of frames appended (no gap in seq).
        assert_eq!(
            head.next_seq,
            old_next + commit.frames.len() as u64,
            "commit must extend the chain without gaps"
        );
        let mut batch = sled::Batch::default();
        if old.is_none() {
            batch.insert(b"F".as_slice(), FORMAT_TAG);
        }
        // 1. Drop what an interrupted commit may have left past the committed lengths.
        cut_to(&self.events, old_bytes, "events")?;
        cut_to(&self.tally, old_rows * TALLY_ENTRY_BYTES, "tally")?;
        // 2. Append to the files and sync them.
        for (seq, (at, _, _)) in (old_next..).zip(commit.frames.iter()) {
            if seq % EVENTS_PER_BLOCK == 0 {
                let offset = old_bytes + at as u64;
                batch.insert(
                    block_key(seq / EVENTS_PER_BLOCK).as_slice(),
                    offset.to_be_bytes().as_slice(),
                );
            }
        }
        let events = &commit.frames.bytes;
        let mut rows = Vec::new();
        let mut new_rows = 0u64;
        let total_rows = commit.logs.count(Log::Tally);
        let mut check = match old_rows % TALLY_ENTRIES_PER_READ {
            0 => FNV_OFFSET,
            _ => self.tally_check(old_rows / TALLY_ENTRIES_PER_READ)?,
        };
        for e in commit.logs.values(Log::Tally) {
            // Invariant: tally entries are the fixed-size rows of `tally::Row`.
            assert_eq!(
                e.len() as u64 + 2,
                TALLY_ENTRY_BYTES,
                "tally rows are fixed-size"
            );
            let at = rows.len();
            rows.extend_from_slice(&(e.len() as u16).to_le_bytes());
            rows.extend_from_slice(e);
            check = fnv1a(check, &rows[at..]);
            let n = old_rows + new_rows;
            new_rows += 1;
            // A block's checksum is stored when the block fills or the commit ends.
            if (n + 1).is_multiple_of(TALLY_ENTRIES_PER_READ) || new_rows == total_rows {
                batch.insert(
                    &tally_check_key(n / TALLY_ENTRIES_PER_READ),
                    &check.to_be_bytes(),
                );
                if (n + 1).is_multiple_of(TALLY_ENTRIES_PER_READ) {
                    check = FNV_OFFSET;
                }
            }
        }
        // Invariant: the head records how long the tally is after the commit.
        assert_eq!(
            head.tally_rows,
            old_rows + new_rows,
            "the head counts the tally"
        );
        for (file, bytes, at) in [
            (&self.events, events, old_bytes),
            (&self.tally, &rows, old_rows * TALLY_ENTRY_BYTES),
        ] {
            if !bytes.is_empty() {
                file.write_all_at(bytes, at)
                    .map_err(|e| file_error("cannot write the ledger", e))?;
                file.sync_data()
                    .map_err(|e| file_error("cannot sync the ledger", e))?;
            }
        }
        head.events_bytes = old_bytes + events.len() as u64;
        // 3. One atomic batch: indices, the station log, the head.
        let mut buckets: BTreeMap<[u8; 3], Vec<u8>> = BTreeMap::new();
        let mut fragments: BTreeMap<[u8; 3], Vec<u8>> = BTreeMap::new();
        for (index, k, v) in commit.index.iter() {
            if !index.bucketed() {
                batch.insert(key(index.prefix(), k), v);
                continue;
            }
            let bk = bucket_key(index, k);
            if !index.replaced() {
                push_entry(fragments.entry(bk).or_default(), k, v);
                continue;
            }
            let value = match buckets.entry(bk) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let old = self.db.get(bk).map_err(io)?;
                    e.insert(old.map(|v| v.to_vec()).unwrap_or_default())
                }
            };
            if index.replaced() {
                // Rebuild the bucket without the old entry.
                let mut rebuilt = Vec::with_capacity(value.len() + v.len() + 8);
                parse_bucket(value, |ek, ev| {
                    if ek != k {
                        push_entry(&mut rebuilt, ek, ev);
                    }
                    Ok(())
                })?;
                *value = rebuilt;
            }
            push_entry(value, k, v);
        }
        for (bk, value) in buckets {
            batch.insert(bk.as_slice(), value);
        }
        self.add_fragments(&mut batch, fragments, old_next)?;
        let stations: Vec<&[u8]> = commit.logs.values(Log::Stations).collect();
        // Invariant: the head records how long the station log is after the commit.
        assert_eq!(
            self.log_len(Log::Stations)? + stations.len() as u64,
            head.stations,
            "the head must count the station log's entries"
        );
        self.append_log(&mut batch, Log::Stations, &stations)?;
        batch.insert(b"H".as_slice(), head.to_bytes().as_slice());
        self.db.apply_batch(batch).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(head)
    }

    /// Stores a signed checkpoint note of the tree of `size` events (replacing one stored for
    /// the same size), in one batch, flushed before it returns. It does not touch the chain.
    pub fn put_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(checkpoint_key(size).as_slice(), note);
        self.db.apply_batch(batch).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// The stored checkpoint note of the tree of `size` events.
    pub fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(checkpoint_key(size))
            .map_err(io)?
            .map(|v| v.to_vec()))
    }

    /// Every stored checkpoint as (size, note bytes), smallest size first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix([b'C']) {
            let (k, v) = entry.map_err(io)?;
            let size = u64::from_be_bytes(k[1..].try_into().map_err(|_| bad_key())?);
            out.push((size, v.to_vec()));
        }
        Ok(out)
    }

    /// The stored checkpoint with the largest size, as (size, note bytes).
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(entry) = self.db.scan_prefix([b'C']).next_back() else {
            return Ok(None);
        };
        let (k, v) = entry.map_err(io)?;
        let size = u64::from_be_bytes(k[1..].try_into().map_err(|_| bad_key())?);
        Ok(Some((size, v.to_vec())))
    }

    /// Adds entries to the end of a sled-packed log, rewriting only its last block.
    fn append_log(
        &self,
        batch: &mut sled::Batch,
        log: Log,
        entries: &[&[u8]],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let start = self.log_len(log)?;
        let mut block = start / log.per_block();
        let mut value = match start % log.per_block() {
            0 => Vec::new(),
            _ => self
                .db
                .get(log.key(block))
                .map_err(io)?
                .map(|v| v.to_vec())
                .unwrap_or_default(),
        };
        for (position, e) in (start..).zip(entries) {
            // Invariant: log entries are small, fixed-layout records built by the ledger.
            assert!(e.len() <= usize::from(u16::MAX), "log entries are small");
            if position / log.per_block() != block {
                batch.insert(log.key(block).as_slice(), std::mem::take(&mut value));
                block = position / log.per_block();
            }
            value.extend_from_slice(&(e.len() as u16).to_le_bytes());
            value.extend_from_slice(e);
        }
        batch.insert(log.key(block).as_slice(), value);
        Ok(())
    }

    /// The number of entries a log holds: for the station log, from its last block; for the
    /// tally, the committed entries the file actually holds (fewer than the head says when it
    /// was cut).
    pub fn log_len(&self, log: Log) -> Result<u64, StoreError> {
        if log == Log::Tally {
            let committed = self.head()?.map_or(0, |h| h.tally_rows);
            return Ok(committed.min(file_len(&self.tally)? / TALLY_ENTRY_BYTES));
        }
        let Some(entry) = self.db.scan_prefix([log.prefix()]).next_back() else {
            return Ok(0);
        };
        let (k, v) = entry.map_err(io)?;
        let block = u64::from_be_bytes(k[1..9].try_into().map_err(|_| bad_key())?);
        let mut n = 0u64;
        parse_log_block(&v, |_| {
            n += 1;
            Ok(())
        })?;
        Ok(block * log.per_block() + n)
    }

    /// Calls `f` with every entry of a log from entry `from`, in order; `f` returns `false` to
    /// stop early.
    pub fn for_each_log_entry(
        &self,
        log: Log,
        from: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        if log == Log::Tally {
            return self.for_each_tally_entry(from, f);
        }
        let first = from / log.per_block();
        let blocks = self.db.range(log.key(first)..=log.key(u64::MAX));
        for (expected, entry) in (first..).zip(blocks) {
            let (k, v) = entry.map_err(io)?;
            let block = u64::from_be_bytes(k[1..9].try_into().map_err(|_| bad_key())?);
            if block != expected {
                return Err(StoreError::Corrupt(format!(
                    "{log:?} log block {expected} is missing"
                )));
            }
            let mut n = block * log.per_block();
            if !feed_entries(&v, &mut n, from, &mut f)? {
                break;
            }
        }
        Ok(())
    }

    /// The committed tally entries from `from`, read [`TALLY_ENTRIES_PER_READ`] at a time.
    fn for_each_tally_entry(
        &self,
        from: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let committed = self.head()?.map_or(0, |h| h.tally_rows);
        // Whole checksum blocks are read, so that each can be checked.
        let mut n = from - from % TALLY_ENTRIES_PER_READ;
        while n < committed {
            let upto = committed.min(n + TALLY_ENTRIES_PER_READ);
            let bytes = read_range(&self.tally, n * TALLY_ENTRY_BYTES, upto * TALLY_ENTRY_BYTES)?;
            if (bytes.len() as u64) < (upto - n) * TALLY_ENTRY_BYTES {
                return Err(StoreError::Corrupt(format!(
                    "the tally file ends before entry {}",
                    n + bytes.len() as u64 / TALLY_ENTRY_BYTES
                )));
            }
            let block = n / TALLY_ENTRIES_PER_READ;
            if fnv1a(FNV_OFFSET, &bytes) != self.tally_check(block)? {
                return Err(StoreError::Corrupt(format!(
                    "tally entries {n}–{} do not match their checksum (the tally file is damaged)",
                    upto - 1
                )));
            }
            if !feed_entries(&bytes, &mut n, from, &mut f)? {
                break;
            }
        }
        Ok(())
    }

    /// Adds each bucket's new entries as a fragment of its own (key: bucket + the commit's first
    /// seq), so that a commit writes only what is new, however big the index. A bucket that a
    /// small commit finds with [`MAX_FRAGMENTS`] fragments is merged into one.
    fn add_fragments(
        &self,
        batch: &mut sled::Batch,
        fragments: BTreeMap<[u8; 3], Vec<u8>>,
        commit_seq: u64,
    ) -> Result<(), StoreError> {
        let compact = fragments.len() <= COMPACT_BUCKETS_MAX;
        for (bk, mut value) in fragments {
            let key = fragment_key(bk, commit_seq);
            if compact {
                let mut old = Vec::new();
                let mut merged = Vec::new();
                for fragment in self.db.scan_prefix(bk) {
                    let (k, v) = fragment.map_err(io)?;
                    merged.extend_from_slice(&v);
                    old.push(k);
                }
                if old.len() >= MAX_FRAGMENTS {
                    for k in old {
                        batch.remove(k);
                    }
                    merged.append(&mut value);
                    value = merged;
                }
            }
            batch.insert(key.as_slice(), value);
        }
        Ok(())
    }

    /// The stored checksum of tally block `block`.
    fn tally_check(&self, block: u64) -> Result<u64, StoreError> {
        let v = self.db.get(tally_check_key(block)).map_err(io)?;
        v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("the checksum of tally block {block} is missing"))
            })
    }

    /// Checks that the files hold everything the head says was committed (cheap: lengths and
    /// the block offsets' count), so that a cut file is found when a ledger is opened.
    pub fn check_files(&self, head: &Head) -> Result<(), StoreError> {
        let events = file_len(&self.events)?;
        if events < head.events_bytes {
            return Err(StoreError::Corrupt(format!(
                "the events file holds {events} bytes where {} were committed: the last events are gone",
                head.events_bytes
            )));
        }
        let blocks = head.next_seq.div_ceil(EVENTS_PER_BLOCK);
        let stored = match self.db.scan_prefix([b'B']).next_back() {
            None => 0,
            Some(entry) => {
                let (k, _) = entry.map_err(io)?;
                1 + u64::from_be_bytes(k[1..9].try_into().map_err(|_| bad_key())?)
            }
        };
        if stored < blocks {
            return Err(missing_block(stored));
        }
        Ok(())
    }

    /// Bytes the store occupies on disk: sled's files and the two segment files.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk().map_err(io)? + file_len(&self.events)? + file_len(&self.tally)?)
    }

    /// Replaces `[start, end)` of a file with `bytes` (test support).
    fn splice(file: &File, start: u64, end: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let tail = read_range(file, end, u64::MAX)?;
        let mut new = bytes.to_vec();
        new.extend_from_slice(&tail);
        file.set_len(start).map_err(|e| file_error("tamper", e))?;
        file.write_all_at(&new, start)
            .map_err(|e| file_error("tamper", e))?;
        file.sync_data().map_err(|e| file_error("tamper", e))
    }

    /// Test support: replaces a stored block's bytes (its frames in `events.seg`) as a forger
    /// who owns the disk would: later blocks' offsets and the committed length move with it,
    /// the head's count and hash stay. Proves that verification catches it.
    #[doc(hidden)]
    pub fn tamper_block(&self, block: u64, f: impl FnOnce(&mut Vec<u8>)) -> Result<(), StoreError> {
        let mut head = self
            .head()?
            .ok_or_else(|| StoreError::Corrupt("no head".into()))?;
        let offsets = self.block_offsets(&head, block, block)?;
        let (start, end) = (offsets[0], offsets[1]);
        let mut v = read_range(&self.events, start, end)?;
        f(&mut v);
        Self::splice(&self.events, start, end, &v)?;
        let shift = |x: u64| (x + v.len() as u64).saturating_sub(end - start);
        let later: Vec<(sled::IVec, u64)> = self
            .db
            .range(block_key(block + 1)..=block_key(u64::MAX))
            .map(|e| {
                let (k, o) = e.map_err(io)?;
                let o = u64::from_be_bytes(o.as_ref().try_into().map_err(|_| bad_key())?);
                Ok((k, o))
            })
            .collect::<Result<_, StoreError>>()?;
        for (k, o) in later {
            self.db
                .insert(k, shift(o).to_be_bytes().as_slice())
                .map_err(io)?;
        }
        head.events_bytes = shift(head.events_bytes);
        self.db
            .insert(b"H", head.to_bytes().as_slice())
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Test support: replaces a log block's bytes (for the tally: entries `block * 4096` on),
    /// to prove that verification catches it.
    #[doc(hidden)]
    pub fn tamper_log(
        &self,
        log: Log,
        block: u64,
        f: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        if log == Log::Tally {
            let per = log.per_block() * TALLY_ENTRY_BYTES;
            let committed = self.head()?.map_or(0, |h| h.tally_rows) * TALLY_ENTRY_BYTES;
            let (start, end) = (block * per, committed.min((block + 1) * per));
            let mut v = read_range(&self.tally, start, end)?;
            f(&mut v);
            // A forger who knows the format fixes the checksum too: what is left to find
            // the forgery is `verify`, which compares the rows with the events.
            if (v.len() as u64) == end - start {
                self.db
                    .insert(tally_check_key(block), &fnv1a(FNV_OFFSET, &v).to_be_bytes())
                    .map_err(io)?;
                self.db.flush().map_err(io)?;
            }
            return Self::splice(&self.tally, start, end, &v);
        }
        let mut v = self
            .db
            .get(log.key(block))
            .map_err(io)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        f(&mut v);
        self.db.insert(log.key(block), v).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Test support: sets or removes an index entry directly.
    #[doc(hidden)]
    pub fn tamper_index(&self, index: Index, k: &[u8], v: Option<&[u8]>) -> Result<(), StoreError> {
        if !index.bucketed() {
            let full = key(index.prefix(), k);
            match v {
                Some(v) => self.db.insert(full, v).map(|_| ()),
                None => self.db.remove(full).map(|_| ()),
            }
            .map_err(io)?;
        } else {
            // Every fragment of the bucket is rebuilt without the key; a new value goes into
            // the first fragment (or the bucket's value for a replaced index).
            let bk = bucket_key(index, k);
            let mut first = true;
            let mut fragments: Vec<(sled::IVec, sled::IVec)> = Vec::new();
            for fragment in self.db.scan_prefix(bk) {
                fragments.push(fragment.map_err(io)?);
            }
            if fragments.is_empty() {
                let key = match index.replaced() {
                    true => bk.to_vec(),
                    false => fragment_key(bk, 0).to_vec(),
                };
                fragments.push((key.into(), sled::IVec::default()));
            }
            for (fk, old) in fragments {
                let mut new = Vec::new();
                parse_bucket(&old, |ek, ev| {
                    if ek != k {
                        push_entry(&mut new, ek, ev);
                    }
                    Ok(())
                })?;
                if let (true, Some(v)) = (first, v) {
                    push_entry(&mut new, k, v);
                }
                first = false;
                self.db.insert(fk, new).map_err(io)?;
            }
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Records the last full verification (`kaohe verify` found no problem up to `seq`, whose
    /// hash is `hash`, at `at_us`), flushed before it returns. Not an event: the chain does not
    /// cover it; it only tells a damaged ledger's user how far it was last known good.
    pub fn put_verified(
        &self,
        seq: u64,
        hash: &Hash,
        at_us: Option<i64>,
    ) -> Result<(), StoreError> {
        let v = Verified {
            seq,
            hash: *hash,
            at_us,
        };
        self.db
            .insert(VERIFIED_KEY, v.to_bytes().as_slice())
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// The last full verification recorded by [`Store::put_verified`].
    pub fn last_verified(&self) -> Result<Option<Verified>, StoreError> {
        match self.db.get(VERIFIED_KEY).map_err(io)? {
            None => Ok(None),
            Some(v) => Verified::from_bytes(&v).map(Some).ok_or_else(|| {
                StoreError::Corrupt("the last-verified record has the wrong size".into())
            }),
        }
    }

    /// [`Store::last_verified`] of the ledger at `path`, read from sled alone (so it answers
    /// when the events or tally file is damaged or gone). A panic inside sled is contained.
    pub fn read_last_verified(path: &Path) -> Result<Option<Verified>, StoreError> {
        if !has_sled_files(path) {
            return Err(StoreError::NotALedger(path.to_path_buf()));
        }
        let db = open_db(path)?;
        let got = contain("read the last verification", || {
            db.get(VERIFIED_KEY).map_err(io)
        })?;
        match got {
            None => Ok(None),
            Some(v) => Ok(Verified::from_bytes(&v)),
        }
    }
}

/// The sled key of the last full verification ([`Store::put_verified`]).
const VERIFIED_KEY: &[u8] = b"V";

/// The last full verification of a ledger: the seq and hash it verified up to, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub seq: u64,
    pub hash: Hash,
    /// When (µs since the epoch), if the verifier said.
    pub at_us: Option<i64>,
}

impl Verified {
    fn to_bytes(self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..40].copy_from_slice(&self.hash);
        b[40..].copy_from_slice(&self.at_us.unwrap_or(i64::MIN).to_be_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Verified> {
        let b: &[u8; 48] = b.try_into().ok()?;
        let at = i64::from_be_bytes(b[40..].try_into().ok()?);
        Some(Verified {
            seq: u64::from_be_bytes(b[..8].try_into().ok()?),
            hash: b[8..40].try_into().ok()?,
            at_us: (at != i64::MIN).then_some(at),
        })
    }
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
fn contain<T>(what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
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

/// FNV-1a: spreads keys over buckets (not a security property; the chain is).
fn bucket_of(k: &[u8]) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in k {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % INDEX_BUCKETS) as u16
}

fn bucket_key(index: Index, k: &[u8]) -> [u8; 3] {
    let b = bucket_of(index.bucket_part(k)).to_be_bytes();
    [index.prefix(), b[0], b[1]]
}

/// The key of a fragment of an append-only bucketed index: the bucket's key and the first seq
/// of the commit that wrote it.
fn fragment_key(bk: [u8; 3], commit_seq: u64) -> [u8; 11] {
    let mut k = [0u8; 11];
    k[..3].copy_from_slice(&bk);
    k[3..].copy_from_slice(&commit_seq.to_be_bytes());
    k
}

fn push_entry(bucket: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    // Invariant: keys are bounded by the command limits (ids, station codes); values are seqs
    // or a station's sums (at most one small record per item).
    assert!(k.len() <= usize::from(u16::MAX) && v.len() <= usize::from(u16::MAX));
    bucket.extend_from_slice(&(k.len() as u16).to_le_bytes());
    bucket.extend_from_slice(k);
    bucket.extend_from_slice(&(v.len() as u16).to_le_bytes());
    bucket.extend_from_slice(v);
}

/// Splits an index bucket into its entries: `key length (u16 LE) | key | value length (u16
/// LE) | value`.
fn parse_bucket(
    v: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let corrupt = || StoreError::Corrupt("an index bucket is malformed".into());
    let len_at = |at: usize| {
        v.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(corrupt)
    };
    let mut at = 0usize;
    while at < v.len() {
        let klen = len_at(at)?;
        let k = v.get(at + 2..at + 2 + klen).ok_or_else(corrupt)?;
        let vlen = len_at(at + 2 + klen)?;
        let val = v
            .get(at + 4 + klen..at + 4 + klen + vlen)
            .ok_or_else(corrupt)?;
        f(k, val)?;
        at += 4 + klen + vlen;
    }
    Ok(())
}

/// Calls `f` with the entries of a log block numbered from `*n` (skipping those before
/// `from`), advancing `*n`; `false` when `f` asked to stop.
fn feed_entries(
    block: &[u8],
    n: &mut u64,
    from: u64,
    f: &mut impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
) -> Result<bool, StoreError> {
    let mut go = true;
    parse_log_block(block, |e| {
        if go && *n >= from {
            go = f(*n, e)?;
        }
        *n += 1;
        Ok(())
    })?;
    Ok(go)
}

/// Splits a log block into its entries.
fn parse_log_block(
    v: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut at = 0usize;
    while at < v.len() {
        let corrupt = || StoreError::Corrupt("a log block is malformed".into());
        let len = v
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(corrupt)?;
        let e = v.get(at + 2..at + 2 + len).ok_or_else(corrupt)?;
        f(e)?;
        at += 2 + len;
    }
    Ok(())
}

/// Splits a block into frames; `f(index in block, body, hash)`.
fn parse_block(
    block: u64,
    v: &[u8],
    mut f: impl FnMut(u64, &[u8], &Hash) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut at = 0usize;
    let mut j = 0u64;
    while at < v.len() {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!(
                "block {block}, seq {}: {what}",
                block * EVENTS_PER_BLOCK + j
            ))
        };
        if j >= EVENTS_PER_BLOCK {
            return Err(corrupt("more frames than a block holds"));
        }
        let len_bytes: [u8; 4] = v
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| corrupt("truncated frame length"))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_EVENT_BYTES || at + FRAME_OVERHEAD + len > v.len() {
            return Err(corrupt("frame overruns the block"));
        }
        let body = &v[at + 4..at + 4 + len];
        let hash: &Hash = v[at + 4 + len..at + FRAME_OVERHEAD + len]
            .try_into()
            .map_err(|_| corrupt("truncated hash"))?;
        f(j, body, hash)?;
        at += FRAME_OVERHEAD + len;
        j += 1;
    }
    Ok(())
}

/// The sled key of a tally block's checksum.
fn tally_check_key(block: u64) -> [u8; 9] {
    Log::Tally.key(block)
}

/// FNV-1a over `bytes`, from `state`: a running checksum (it catches damage, not forgery;
/// the events' hash chain and `verify` do that).
fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        state ^= u64::from(*b);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    state
}

fn missing_block(block: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "block {block} is missing: events from seq {} are gone",
        block * EVENTS_PER_BLOCK
    ))
}

fn bad_key() -> StoreError {
    StoreError::Corrupt("a block key has the wrong size".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits one (meaningless) frame with `entries`, as the write path would.
    fn commit(store: &Store, frames: u64, entries: &[(Index, Vec<u8>, Vec<u8>)]) {
        let old = store.head().unwrap().map_or(0, |h| h.next_seq);
        let mut c = Commit::default();
        for seq in old..old + frames {
            c.frames.push((vec![seq as u8; 10], [seq as u8; 32]));
        }
        for e in entries {
            c.index.push(e.clone());
        }
        c.head = Some(Head {
            next_seq: old + frames,
            hash: [0; 32],
            recorded_at_us: 0,
            tally_rows: 0,
            stations: 0,
            events_bytes: 0,
        });
        store.commit(c).unwrap();
    }

    fn fragments(store: &Store, index: Index, k: &[u8]) -> usize {
        store.db.scan_prefix(bucket_key(index, k)).count()
    }

    fn posting(seq: u64) -> (Index, Vec<u8>, Vec<u8>) {
        let mut k = 7u32.to_be_bytes().to_vec();
        k.extend_from_slice(&seq.to_be_bytes());
        (Index::Postings, k, Vec::new())
    }

    /// Guards the fragment layout: many small commits to one bucket are merged before a
    /// lookup has to read more than MAX_FRAGMENTS values, a big commit adds one fragment per
    /// bucket without merging, and every entry stays found.
    #[test]
    fn crowded_buckets_are_merged_and_every_entry_stays_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        for seq in 0..100u64 {
            let id = (
                Index::Id,
                format!("id-{seq}").into_bytes(),
                seq.to_be_bytes().to_vec(),
            );
            commit(&store, 1, &[posting(seq), id]);
            assert!(fragments(&store, Index::Postings, &posting(seq).1) <= MAX_FRAGMENTS);
        }
        let big: Vec<_> = (0..5000u64)
            .map(|n| {
                (
                    Index::Id,
                    format!("big-{n}").into_bytes(),
                    (100 + n).to_be_bytes().to_vec(),
                )
            })
            .chain(std::iter::once(posting(100)))
            .collect();
        let before = fragments(&store, Index::Postings, &posting(0).1);
        commit(&store, 5000, &big);
        assert_eq!(
            fragments(&store, Index::Postings, &posting(0).1),
            before + 1
        );
        let mut postings = 0;
        store
            .index_bucket_for_each(Index::Postings, &posting(0).1, |k, _| {
                postings += u64::from(k.starts_with(&7u32.to_be_bytes()));
                Ok(())
            })
            .unwrap();
        assert_eq!(postings, 101);
        for seq in [0u64, 31, 32, 99] {
            let v = store
                .index_get(Index::Id, format!("id-{seq}").as_bytes())
                .unwrap();
            assert_eq!(v, Some(seq.to_be_bytes().to_vec()));
        }
        let v = store.index_get(Index::Id, b"big-4999").unwrap();
        assert_eq!(v, Some(5099u64.to_be_bytes().to_vec()));
        assert_eq!(store.index_get(Index::Id, b"id-100").unwrap(), None);
        let mut ids = 0;
        store
            .index_for_each_unique(Index::Id, |_, _| {
                ids += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(ids, 5100);
    }

    /// Guards verify's proof that ids are unique: the same key in two fragments of a bucket
    /// is refused.
    #[test]
    fn a_key_repeated_in_another_fragment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        let id = |seq: u64| (Index::Id, b"same".to_vec(), seq.to_be_bytes().to_vec());
        commit(&store, 1, &[id(0)]);
        commit(&store, 1, &[id(1)]);
        let err = store
            .index_for_each_unique(Index::Id, |_, _| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }
}
