//! The id index: which event holds an id. An id is found by its 64-bit fingerprint
//! ([`fingerprint`]); the store answers with the seqs whose ids have that fingerprint, and the
//! caller confirms each by reading the event and comparing its id, so that a collision costs a
//! read, never a wrong answer.
//!
//! Where the entries (fingerprint, seq) live:
//!
//! - **sled**, for small commits: one key per id, `I` + fingerprint (u64 BE) + seq (u64 BE),
//!   no value, at most [`SLED_IDS_MAX`] of them;
//! - **runs in `ids.seg`**, for everything else. A commit that brings [`RUN_MIN_IDS`] ids or
//!   more (an import writes one run per [`IDS_PER_RUN`] ids as it goes), or that would take
//!   sled past [`SLED_IDS_MAX`] (then sled's ids move into the run, and out of sled in the
//!   same batch), appends a run: its entries (fingerprint u64 LE, seq u64 LE) sorted, then a
//!   fence per [`FENCE_ENTRIES`] entries (the fingerprint of the first, u64 LE), then a
//!   blocked Bloom filter of [`BLOOM_BITS_PER_ID`] bits per id in 64-byte blocks.
//!
//! sled's `J` lists the runs (offset, count) and counts the ids sled holds: `ids.seg` is
//! committed up to the end of the last run, and a commit cuts anything past it, as it does
//! for the other files. A lookup probes one Bloom block per run, then reads the run's fences
//! and one block of entries. A handle that makes many lookups (an import) keeps the runs'
//! fences and filters in memory, about 1.3 bytes per id.

use crate::store::layout::{file_error, file_len, io, Hold, IdCache, Store, StoreError};
pub use crate::store::layout::{Loaded, Run};
use crate::store::segments::read_range;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes of one run entry: fingerprint (u64 LE), seq (u64 LE).
pub(super) const ENTRY_BYTES: u64 = 16;
/// Entries per fence: a lookup reads this many entries (4 KiB) after the fences.
pub(super) const FENCE_ENTRIES: u64 = 256;
/// Bits of Bloom filter per id: about 1 % of lookups of an absent id read a block of entries.
pub(super) const BLOOM_BITS_PER_ID: u64 = 10;
/// Bytes of a Bloom block: every probe of one id falls in one block (one cache line).
pub(super) const BLOOM_BLOCK_BYTES: u64 = 64;
/// Bits set per id in its Bloom block.
const BLOOM_PROBES: u64 = 7;
/// The most ids sled holds; a commit that would pass it moves them into a run.
pub const SLED_IDS_MAX: u64 = 65_536;
/// A commit with at least this many ids writes them as a run, not into sled.
pub const RUN_MIN_IDS: u64 = 4_096;
/// Ids a commit holds in memory before it writes them as a run ([`Store::spill`]).
pub const IDS_PER_RUN: usize = 1 << 20;
/// Ids a commit holds before it writes them as a run: [`IDS_PER_RUN`], or in a build with the
/// test hooks `KAOHE_TEST_IDS_PER_RUN`, so that the tests spill runs without a million ids.
pub fn ids_per_run() -> usize {
    let n = crate::base::limits::test_knob("KAOHE_TEST_IDS_PER_RUN", IDS_PER_RUN as u64);
    usize::try_from(n).unwrap_or(IDS_PER_RUN)
}

/// The most ids a run may hold (a bound on what a damaged record can ask for; far beyond
/// any ledger, and small enough that a run's size is computed without overflow).
const MAX_RUN_IDS: u64 = 1 << 40;
/// The most runs `J` may list (a bound on what a damaged record can ask for).
pub(super) const MAX_RUNS: u32 = 1 << 20;
/// After this many lookups a handle keeps the runs' fences and filters in memory.
const LOOKUPS_BEFORE_CACHING: u64 = 64;
/// The sled key of the run list.
pub(super) const RUNS_KEY: &[u8] = b"J";
/// The sled key prefix of the ids sled holds.
pub(super) const SLED_ID_PREFIX: u8 = b'I';
/// Keys the fingerprints, so that they mean nothing outside this index.
const FINGERPRINT_KEY: &[u8; 32] = b"kaohe store v6 id fingerprint...";

/// The 64-bit fingerprint of an id (keyed BLAKE3; never 0, which callers may use for "none").
pub fn fingerprint(id: &[u8]) -> u64 {
    let hash = blake3::keyed_hash(FINGERPRINT_KEY, id);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first).max(1)
}

impl Run {
    pub(super) fn fences(self) -> u64 {
        self.count.div_ceil(FENCE_ENTRIES)
    }

    pub(super) fn blocks(self) -> u64 {
        bloom_blocks(self.count)
    }

    pub(super) fn fences_at(self) -> u64 {
        self.offset + self.count * ENTRY_BYTES
    }

    pub(super) fn bloom_at(self) -> u64 {
        self.fences_at() + self.fences() * 8
    }

    /// Bytes of the run: entries, fences and filter.
    fn bytes(self) -> u64 {
        self.count * ENTRY_BYTES + self.fences() * 8 + self.blocks() * BLOOM_BLOCK_BYTES
    }

    pub fn end(self) -> u64 {
        self.offset + self.bytes()
    }
}

/// The `J` record: the ids sled holds, and the runs of `ids.seg`, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdRuns {
    pub in_sled: u64,
    pub runs: Vec<Run>,
}

impl IdRuns {
    /// `in_sled` (u64 BE), the number of runs (u32 BE), each run's offset and count (u64 BE).
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + 16 * self.runs.len());
        b.extend_from_slice(&self.in_sled.to_be_bytes());
        // Invariant: runs are added one per IDS_PER_RUN ids or per commit, far below u32.
        let n = u32::try_from(self.runs.len()).expect("fewer runs than a u32 counts");
        b.extend_from_slice(&n.to_be_bytes());
        for r in &self.runs {
            b.extend_from_slice(&r.offset.to_be_bytes());
            b.extend_from_slice(&r.count.to_be_bytes());
        }
        b
    }

    /// Parses `J`, refusing runs that do not follow each other from the file's start.
    fn from_bytes(b: &[u8]) -> Option<IdRuns> {
        let u64_at = |i: usize| b.get(i..i + 8)?.try_into().ok().map(u64::from_be_bytes);
        let in_sled = u64_at(0)?;
        let n = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
        if in_sled > SLED_IDS_MAX || n > MAX_RUNS || b.len() != 12 + 16 * n as usize {
            return None;
        }
        let mut runs = Vec::with_capacity(n as usize);
        let mut end = 0u64;
        for i in 0..n as usize {
            let run = Run {
                offset: u64_at(12 + 16 * i)?,
                count: u64_at(20 + 16 * i)?,
            };
            if run.offset != end || run.count == 0 || run.count > MAX_RUN_IDS {
                return None;
            }
            end = run.offset.checked_add(run.bytes())?;
            runs.push(run);
        }
        Some(IdRuns { in_sled, runs })
    }

    /// Where the committed part of `ids.seg` ends.
    pub fn end(&self) -> u64 {
        self.runs.last().map_or(0, |r| r.end())
    }
}

pub(super) fn bloom_blocks(count: u64) -> u64 {
    (count * BLOOM_BITS_PER_ID)
        .div_ceil(BLOOM_BLOCK_BYTES * 8)
        .max(1)
}

/// The Bloom block of a fingerprint: its high 32 bits scaled to the number of blocks.
pub(super) fn bloom_block(fp: u64, blocks: u64) -> u64 {
    ((u128::from(fp >> 32) * u128::from(blocks)) >> 32) as u64
}

/// The bits of a fingerprint in its block (from its low 18 bits, by double hashing).
fn bloom_bits(fp: u64) -> impl Iterator<Item = usize> {
    let bits = BLOOM_BLOCK_BYTES * 8;
    let (a, b) = (fp % bits, ((fp >> 9) % bits) | 1);
    (0..BLOOM_PROBES).map(move |i| ((a + i * b) % bits) as usize)
}

fn bloom_has(block: &[u8], fp: u64) -> bool {
    bloom_bits(fp).all(|bit| {
        block
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
    })
}

/// A run's entries, fences and filter built from sorted entries.
pub(super) struct Built {
    pub bytes: Vec<u8>,
    pub loaded: Loaded,
}

/// Builds a run at `offset` from entries sorted by (fingerprint, seq).
pub(super) fn build(offset: u64, entries: &[(u64, u64)]) -> Built {
    // Invariant: callers sort the entries (a run is binary-searched).
    debug_assert!(
        entries.windows(2).all(|w| w[0] <= w[1]),
        "run entries sorted"
    );
    let run = Run {
        offset,
        count: entries.len() as u64,
    };
    let mut bytes = Vec::with_capacity((run.end() - offset) as usize);
    let mut fences = Vec::with_capacity(run.fences() as usize);
    let mut bloom = vec![0u8; (run.blocks() * BLOOM_BLOCK_BYTES) as usize];
    for (i, &(fp, seq)) in entries.iter().enumerate() {
        bytes.extend_from_slice(&fp.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        if (i as u64).is_multiple_of(FENCE_ENTRIES) {
            fences.push(fp);
        }
        let at = (bloom_block(fp, run.blocks()) * BLOOM_BLOCK_BYTES) as usize;
        for bit in bloom_bits(fp) {
            bloom[at + bit / 8] |= 1 << (bit % 8);
        }
    }
    for f in &fences {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    bytes.extend_from_slice(&bloom);
    Built {
        bytes,
        loaded: Loaded { run, fences, bloom },
    }
}

fn damaged(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("the id index is damaged: {what}"))
}

fn entry_at(bytes: &[u8], i: usize) -> (u64, u64) {
    let e = &bytes[i * ENTRY_BYTES as usize..(i + 1) * ENTRY_BYTES as usize];
    let mut fp = [0u8; 8];
    let mut seq = [0u8; 8];
    fp.copy_from_slice(&e[..8]);
    seq.copy_from_slice(&e[8..]);
    (u64::from_le_bytes(fp), u64::from_le_bytes(seq))
}

/// Reads `[start, end)` of `ids.seg`, refusing a file that ends before.
fn read_exact(file: &File, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
    let bytes = read_range(file, start, end)?;
    match bytes.len() as u64 == end - start {
        true => Ok(bytes),
        false => Err(damaged(format!("ids.seg ends before byte {end}"))),
    }
}

fn u64s(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Reads one byte of `fp`'s Bloom block in each loaded run before any is tested: the loads
/// do not depend on each other, so the processor waits for their cache misses together, not
/// one run after another as the tests (each a branch on its block) made it.
fn touch_blooms(loaded: &[Loaded], fp: u64) {
    let mut any = 0u8;
    for l in loaded {
        let at = (bloom_block(fp, l.run.blocks()) * BLOOM_BLOCK_BYTES) as usize;
        any ^= l.bloom.get(at).copied().unwrap_or(0);
    }
    std::hint::black_box(any);
}

/// Adds to `out` the seqs of `run`'s entries with fingerprint `fp`, using its fences and
/// filter from memory when `loaded`, else from the file.
fn run_seqs(
    file: &File,
    run: Run,
    loaded: Option<&Loaded>,
    fp: u64,
    out: &mut Vec<u64>,
) -> Result<(), StoreError> {
    let block = bloom_block(fp, run.blocks());
    let present = match loaded {
        Some(l) => {
            let at = (block * BLOOM_BLOCK_BYTES) as usize;
            bloom_has(&l.bloom[at..at + BLOOM_BLOCK_BYTES as usize], fp)
        }
        None => {
            let at = run.bloom_at() + block * BLOOM_BLOCK_BYTES;
            bloom_has(&read_exact(file, at, at + BLOOM_BLOCK_BYTES)?, fp)
        }
    };
    if !present {
        return Ok(());
    }
    let read_fences;
    let fences = match loaded {
        Some(l) => &l.fences,
        None => {
            read_fences = u64s(&read_exact(file, run.fences_at(), run.bloom_at())?);
            &read_fences
        }
    };
    // Entries with `fp` start in the block before the first fence not below it.
    let mut i = fences.partition_point(|&f| f < fp).saturating_sub(1) as u64 * FENCE_ENTRIES;
    while i < run.count {
        let upto = (i + FENCE_ENTRIES).min(run.count);
        let at = run.offset + i * ENTRY_BYTES;
        let bytes = read_exact(file, at, run.offset + upto * ENTRY_BYTES)?;
        for j in 0..(upto - i) as usize {
            let (efp, seq) = entry_at(&bytes, j);
            if efp > fp {
                return Ok(());
            }
            if efp == fp {
                out.push(seq);
            }
        }
        i = upto;
    }
    Ok(())
}

/// The ids a commit holds in memory, and the runs it has written past the committed end of
/// `ids.seg` ([`Store::spill`]).
#[derive(Debug, Default)]
pub struct IdBuffer {
    /// fingerprint → seq, and the rare second id with a fingerprint already held.
    map: rustc_hash::FxHashMap<u64, u64>,
    collided: Vec<(u64, u64)>,
    pub(super) spilled: Vec<Loaded>,
    /// Where the next spilled run starts (set by the first spill).
    pub(super) spilled_end: Option<u64>,
    /// The committed run list, read at the first lookup: only this commit changes it.
    committed: std::cell::OnceCell<IdRuns>,
    /// sled's ids (fingerprint, seq), sorted, read once by a writer's batch after
    /// [`LOOKUPS_BEFORE_CACHING`] lookups: only this commit changes them, and a scan of sled
    /// per lookup was a tenth of an import.
    sled_ids: std::cell::OnceCell<Vec<(u64, u64)>>,
    lookups: std::cell::Cell<u64>,
}

impl IdBuffer {
    pub fn push(&mut self, fp: u64, seq: u64) {
        if let Some(&held) = self.map.get(&fp) {
            // Invariant: ids are pushed in seq order, so the held one came first.
            debug_assert!(held < seq, "ids pushed in seq order");
            self.collided.push((fp, seq));
            return;
        }
        self.map.insert(fp, seq);
    }

    pub fn len(&self) -> usize {
        self.map.len() + self.collided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries held in memory, sorted, and let go of.
    pub(super) fn take_sorted(&mut self) -> Vec<(u64, u64)> {
        let mut entries: Vec<(u64, u64)> = self.map.drain().collect();
        entries.append(&mut self.collided);
        entries.sort_unstable();
        entries
    }

    /// sled's ids, once this buffer has looked up enough ids to be worth reading them all
    /// (`load`); `None` before.
    fn sled_ids(
        &self,
        load: impl FnOnce() -> Result<Vec<(u64, u64)>, StoreError>,
    ) -> Result<Option<&[(u64, u64)]>, StoreError> {
        if let Some(ids) = self.sled_ids.get() {
            return Ok(Some(ids));
        }
        self.lookups.set(self.lookups.get() + 1);
        if self.lookups.get() <= LOOKUPS_BEFORE_CACHING {
            return Ok(None);
        }
        let ids = load()?;
        Ok(Some(self.sled_ids.get_or_init(|| ids)))
    }

    fn seqs_in_memory(&self, fp: u64, out: &mut Vec<u64>) {
        out.extend(self.map.get(&fp));
        out.extend(self.collided.iter().filter(|e| e.0 == fp).map(|e| e.1));
    }
}

impl Store {
    /// The `J` record (none yet: no runs, no ids in sled).
    pub fn id_runs(&self) -> Result<IdRuns, StoreError> {
        match self.db.get(RUNS_KEY).map_err(io)? {
            None => Ok(IdRuns::default()),
            Some(v) => IdRuns::from_bytes(&v).ok_or_else(|| damaged("its run list is malformed")),
        }
    }

    /// The seqs of committed events whose ids have the fingerprint of `id`, each to be
    /// confirmed by the caller.
    pub fn id_candidates(&self, id: &[u8]) -> Result<Vec<u64>, StoreError> {
        self.id_candidates_in(None, fingerprint(id))
    }

    /// [`Store::id_candidates`] of the id whose [`fingerprint`] is `fp`, and among the ids of
    /// `commit` (being built) too.
    pub fn id_candidates_in(
        &self,
        commit: Option<&IdBuffer>,
        fp: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        if let Some(buffer) = commit {
            buffer.seqs_in_memory(fp, &mut out);
            for l in &buffer.spilled {
                run_seqs(&self.ids, l.run, Some(l), fp, &mut out)?;
            }
        }
        // sled's ids first, then the run list: a commit that moves sled's ids into a run
        // (one atomic batch) between the two is then seen as the new run, never missed.
        let writer = matches!(self._hold, Hold::Lock(_));
        let cached = match commit {
            Some(buffer) if writer => buffer.sled_ids(|| self.sled_ids())?,
            _ => None,
        };
        match cached {
            Some(all) => {
                let from = all.partition_point(|e| e.0 < fp);
                out.extend(all[from..].iter().take_while(|e| e.0 == fp).map(|e| e.1));
            }
            None => {
                for entry in self.db.scan_prefix(sled_id_key(fp, None)) {
                    let (k, _) = entry.map_err(io)?;
                    out.push(sled_id_seq(&k).ok_or_else(|| damaged("a key in sled is malformed"))?);
                }
            }
        }
        // A writer's batch reads the run list once: only its own commit changes it. A
        // handle that shares the store with its writer reads it each time.
        let read;
        let runs = match (commit, writer) {
            (Some(buffer), true) => match buffer.committed.get() {
                Some(runs) => runs,
                None => {
                    let runs = self.id_runs()?;
                    buffer.committed.get_or_init(|| runs)
                }
            },
            _ => {
                read = self.id_runs()?;
                &read
            }
        };
        let mut cache = self
            .ids_cache
            .lock()
            .map_err(|_| StoreError::Io("the id cache was poisoned".into()))?;
        cache.lookups += 1;
        if cache.lookups > LOOKUPS_BEFORE_CACHING {
            self.load_runs(&mut cache, &runs.runs)?;
        }
        touch_blooms(&cache.loaded, fp);
        for (i, &run) in runs.runs.iter().enumerate() {
            let loaded = cache.loaded.get(i).filter(|l| l.run == run);
            run_seqs(&self.ids, run, loaded, fp, &mut out)?;
        }
        Ok(out)
    }

    /// Brings the handle's copy of fences and filters up to `runs` (starting over if a run
    /// it holds is no longer listed where it was; a shorter list, read earlier, is a prefix).
    fn load_runs(&self, cache: &mut IdCache, runs: &[Run]) -> Result<(), StoreError> {
        let same = cache.loaded.iter().zip(runs).all(|(l, r)| l.run == *r);
        if !same {
            cache.loaded.clear();
        }
        for &run in runs.iter().skip(cache.loaded.len()) {
            let fences = u64s(&read_exact(&self.ids, run.fences_at(), run.bloom_at())?);
            let bloom = read_exact(&self.ids, run.bloom_at(), run.end())?;
            cache.loaded.push(Loaded { run, fences, bloom });
        }
        Ok(())
    }

    /// Writes `entries` (sorted) as a run at `offset` of `ids.seg` (unsynced).
    pub(super) fn write_id_run(
        &self,
        offset: u64,
        entries: &[(u64, u64)],
    ) -> Result<Loaded, StoreError> {
        let built = build(offset, entries);
        self.ids
            .write_all_at(&built.bytes, offset)
            .map_err(|e| file_error("cannot write the id index", e))?;
        Ok(built.loaded)
    }

    /// The (fingerprint, seq) entries sled holds, in order.
    pub(super) fn sled_ids(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.db.scan_prefix([SLED_ID_PREFIX]) {
            let (k, _) = entry.map_err(io)?;
            let fp = k.get(1..9).and_then(|b| b.try_into().ok());
            match (fp.map(u64::from_be_bytes), sled_id_seq(&k)) {
                (Some(fp), Some(seq)) => out.push((fp, seq)),
                _ => return Err(damaged("a key in sled is malformed")),
            }
        }
        Ok(out)
    }

    /// Checks that `ids.seg` holds every committed run; and, when sled's state was rebuilt
    /// from an older snapshot, nothing more: bytes past the run list's end would be cut by
    /// the next commit as an interrupted one's, so committed runs that the older list no
    /// longer names would be lost (a restore's last commit writes runs and no events, which
    /// the events file's check cannot see).
    pub fn check_ids_file(&self) -> Result<(), StoreError> {
        let end = self.id_runs()?.end();
        let len = file_len(&self.ids)?;
        if len < end {
            return Err(StoreError::Corrupt(format!(
                "the ids file holds {len} bytes where {end} were committed: the last ids are gone"
            )));
        }
        // Only a writer can tell: a reader opens after dropping its lock, when a writer may be
        // writing runs past the end.
        if self.repaired && matches!(self._hold, Hold::Lock(_)) && len != end {
            return Err(StoreError::Corrupt(format!(
                "the database's state was rebuilt from an older snapshot and no longer accounts for every id in the ids file ({len} bytes, {end} listed)"
            )));
        }
        Ok(())
    }

    /// Calls `f` with every entry of the id index, sled's and the runs', in (fingerprint,
    /// seq) order, after checking each run's order, fences and filter against its entries
    /// and sled's count against `J` (`verify`). Runs are read through a buffer each.
    pub fn for_each_id_entry(
        &self,
        mut f: impl FnMut(u64, u64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let runs = self.id_runs()?;
        let sled = self.sled_ids()?;
        if sled.len() as u64 != runs.in_sled {
            return Err(damaged(format!(
                "sled holds {} ids where {} were counted",
                sled.len(),
                runs.in_sled
            )));
        }
        let mut readers = Vec::with_capacity(runs.runs.len());
        for &run in &runs.runs {
            readers.push(RunReader::new(&self.ids, run)?);
        }
        let mut heap = std::collections::BinaryHeap::new();
        let mut sled = sled.into_iter();
        let push = |heap: &mut std::collections::BinaryHeap<_>, src: usize, e| {
            if let Some((fp, seq)) = e {
                heap.push(std::cmp::Reverse((fp, seq, src)));
            }
        };
        push(&mut heap, usize::MAX, sled.next());
        for (i, r) in readers.iter_mut().enumerate() {
            let first = r.next()?;
            push(&mut heap, i, first);
        }
        while let Some(std::cmp::Reverse((fp, seq, src))) = heap.pop() {
            f(fp, seq)?;
            let next = match readers.get_mut(src) {
                Some(r) => r.next()?,
                None => sled.next(),
            };
            push(&mut heap, src, next);
        }
        for r in readers {
            r.finish()?;
        }
        Ok(())
    }
}

/// Reads a run's entries in order through a buffer, checking their order, fences and
/// filter as it goes ([`Store::for_each_id_entry`]).
struct RunReader<'f> {
    file: &'f File,
    run: Run,
    next: u64,
    buf: Vec<u8>,
    buf_first: u64,
    last: Option<(u64, u64)>,
    fences: Vec<u64>,
    bloom: Vec<u8>,
}

/// Entries read at a time by a [`RunReader`].
const RUN_READ_ENTRIES: u64 = 4096;

impl<'f> RunReader<'f> {
    fn new(file: &'f File, run: Run) -> Result<Self, StoreError> {
        Ok(RunReader {
            file,
            run,
            next: 0,
            buf: Vec::new(),
            buf_first: 0,
            last: None,
            fences: u64s(&read_exact(file, run.fences_at(), run.bloom_at())?),
            bloom: vec![0u8; (run.blocks() * BLOOM_BLOCK_BYTES) as usize],
        })
    }

    fn next(&mut self) -> Result<Option<(u64, u64)>, StoreError> {
        let n = self.next;
        if n == self.run.count {
            return Ok(None);
        }
        if n >= self.buf_first + (self.buf.len() as u64 / ENTRY_BYTES) {
            let upto = (n + RUN_READ_ENTRIES).min(self.run.count);
            let at = |i: u64| self.run.offset + i * ENTRY_BYTES;
            self.buf = read_exact(self.file, at(n), at(upto))?;
            self.buf_first = n;
        }
        let entry = entry_at(&self.buf, (n - self.buf_first) as usize);
        let at = self.run.offset;
        if self.last.is_some_and(|last| last >= entry) {
            return Err(damaged(format!("the run at byte {at} is out of order")));
        }
        if n.is_multiple_of(FENCE_ENTRIES)
            && self.fences.get((n / FENCE_ENTRIES) as usize) != Some(&entry.0)
        {
            return Err(damaged(format!("a fence of the run at byte {at} is wrong")));
        }
        let block = (bloom_block(entry.0, self.run.blocks()) * BLOOM_BLOCK_BYTES) as usize;
        for bit in bloom_bits(entry.0) {
            self.bloom[block + bit / 8] |= 1 << (bit % 8);
        }
        self.last = Some(entry);
        self.next += 1;
        Ok(Some(entry))
    }

    /// After the last entry: the stored filter must be the one the entries make.
    fn finish(self) -> Result<(), StoreError> {
        let stored = read_exact(self.file, self.run.bloom_at(), self.run.end())?;
        match stored == self.bloom {
            true => Ok(()),
            false => Err(damaged(format!(
                "the filter of the run at byte {} is wrong",
                self.run.offset
            ))),
        }
    }
}

/// The sled key of an id held in sled: `I` + fingerprint (u64 BE) + seq (u64 BE), or the
/// prefix of a fingerprint's keys when `seq` is `None`.
pub(super) fn sled_id_key(fp: u64, seq: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(SLED_ID_PREFIX);
    k.extend_from_slice(&fp.to_be_bytes());
    if let Some(seq) = seq {
        k.extend_from_slice(&seq.to_be_bytes());
    }
    k
}

fn sled_id_seq(k: &[u8]) -> Option<u64> {
    match k.len() {
        17 => k[9..17].try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries of a run of `n` ids (seqs 0..n, each id its seq's bytes), sorted.
    fn sorted_entries(n: u64) -> Vec<(u64, u64)> {
        let mut e: Vec<_> = (0..n).map(|s| (fingerprint(&s.to_le_bytes()), s)).collect();
        e.sort_unstable();
        e
    }

    /// Guards the run format: fences and filter are found wrong when a byte of them changes.
    #[test]
    fn a_changed_fence_or_filter_byte_is_found() {
        let entries = sorted_entries(1_000);
        for at in [|r: Run| r.fences_at() + 8, |r: Run| r.bloom_at() + 3] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::create(&dir.path().join("l")).unwrap();
            let run = store.write_id_run(0, &entries).unwrap().run;
            let mut b = [0u8; 1];
            store.ids.read_exact_at(&mut b, at(run)).unwrap();
            store.ids.write_all_at(&[b[0] ^ 0x10], at(run)).unwrap();
            let record = IdRuns {
                in_sled: 0,
                runs: vec![run],
            };
            store.db.insert(RUNS_KEY, record.to_bytes()).unwrap();
            let err = store.for_each_id_entry(|_, _| Ok(())).unwrap_err();
            assert!(err.to_string().contains("is wrong"), "{err}");
        }
    }

    /// Guards a rolled-back run list: bytes of `ids.seg` past the end `J` names are an
    /// interrupted commit's tail (the next commit cuts them), unless sled's state was rebuilt
    /// from an older snapshot: then they may be committed runs the older `J` forgot, and the
    /// store is refused rather than let a commit cut them. A cut file is refused either way.
    #[test]
    fn ids_past_the_run_list_are_refused_after_sled_was_rebuilt() {
        let entries = sorted_entries(300);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("l")).unwrap();
        let first = store.write_id_run(0, &entries).unwrap().run;
        let record = IdRuns {
            in_sled: 0,
            runs: vec![first],
        };
        store.db.insert(RUNS_KEY, record.to_bytes()).unwrap();
        // A second run written after the first, which the (older) run list does not name.
        store.write_id_run(first.end(), &entries).unwrap();
        store
            .check_ids_file()
            .expect("an unnamed tail is an interrupted commit's");
        store.repaired = true;
        let err = store.check_ids_file().unwrap_err();
        assert!(err.to_string().contains("older snapshot"), "{err}");
        store.repaired = false;
        store.ids.set_len(first.end() - 1).unwrap();
        let err = store.check_ids_file().unwrap_err();
        assert!(err.to_string().contains("the last ids are gone"), "{err}");
    }
}
