//! A commit: what it appends (frames, log entries, index entries, the new head) and the three
//! steps that make it atomic: (1) cut each file back to its committed length, dropping the torn
//! tail of an interrupted commit, (2) append to the files and sync them, (3) apply one sled
//! batch (head with the new lengths, tally checksums, indices, station log) and flush. A
//! crash before (3) leaves bytes past the committed lengths, which nothing reads and the next
//! commit drops; a crash after it leaves a complete commit. The offsets of the blocks that
//! start in the new bytes go to sled before (3), in batches of their own (as an import
//! spills): no head covers those blocks yet, so nothing reads them until one does.
//!
//! A big commit (an import) writes its events, tally rows and postings past the committed
//! lengths as it is built ([`Store::spill`]), so that memory holds a buffer, not the import:
//! the first spill is step (1), each writes part of step (2), and the commit writes the rest,
//! syncs and does step (3). Until then the spilled bytes are an interrupted commit's tail.

use crate::store::ids::{
    ids_per_run, sled_id_key, IdBuffer, IdRuns, MAX_RUNS, RUNS_KEY, RUN_MIN_IDS, SLED_IDS_MAX,
};
use crate::store::indices::Index;
use crate::store::layout::{io, Head, Store, StoreError, FORMAT_KEY, FORMAT_TAG, HEAD_KEY};
use crate::store::logs::Log;
use crate::store::segments::{stage_block_offsets, Frames, Posting, POSTING_BYTES};

/// The committed head a commit's spills follow: next seq, bytes of `events.seg`, tally rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Base {
    next_seq: u64,
    events_bytes: u64,
    rows: u64,
    /// The committed end of `ids.seg`.
    ids: u64,
}

/// What a commit's spills wrote past the committed lengths, and what its sled batch will
/// need for them (block offsets, tally checksums).
#[derive(Debug, Default)]
struct Spilled {
    base: Option<Base>,
    frames: u64,
    events_bytes: u64,
    rows: u64,
    batch: sled::Batch,
    /// The offsets of the blocks that start in the part written last, not yet applied.
    blocks: sled::Batch,
    blocks_staged: u64,
    /// The checksum of the tally block the spilled rows end in.
    tally_check: Option<u64>,
    /// Bytes of the log entries the last spill kept in the commit (the station log's).
    kept_log_bytes: usize,
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
    /// The postings of the new tally rows, one per row, in order ([`Posting::to_bytes`]).
    pub postings: Vec<u8>,
    /// The new events' ids (fingerprint, seq), and the runs of them already written.
    pub ids: IdBuffer,
    /// The head after the commit.
    pub head: Option<Head>,
    /// Changes to the rank index ([`super::ranks`]): a station total's value → stations
    /// that come to stand there (negative: that leave it). The writer that changes a
    /// station's `Aggregate` entry moves the station from its old total to its new one.
    pub ranks: std::collections::BTreeMap<i128, i64>,
    /// What was already written past the committed lengths ([`Store::spill`]).
    spilled: Spilled,
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

impl Commit {
    /// Adds the posting of the next tally row.
    pub fn push_posting(&mut self, posting: Posting) {
        self.postings.extend_from_slice(&posting.to_bytes());
    }

    /// Bytes held in memory that a spill would write and let go of. The station log's
    /// entries a spill keeps (they go to sled with the commit) are not counted: with 40,000
    /// stations registered in one import they were 1.4 MB of the 2 MB a batch holds before
    /// it spills, so it spilled every few thousand events, each time copying them all.
    pub fn buffered_bytes(&self) -> usize {
        self.frames.byte_len()
            + self
                .logs
                .byte_len()
                .saturating_sub(self.spilled.kept_log_bytes)
            + self.postings.len()
    }

    /// Where the next frame starts, counted from the commit's first frame (spilled ones
    /// included): an argument of [`Store::commit_body`].
    pub fn next_frame_offset(&self) -> u64 {
        self.spilled.events_bytes + self.frames.byte_len() as u64
    }

    /// Frames in the commit, spilled ones included.
    pub fn frame_count(&self) -> u64 {
        self.spilled.frames + self.frames.len() as u64
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

    /// Bytes of the packed keys and values.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
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

    /// Keeps only the entries tagged `keep`, in order, moving their bytes down in place: no
    /// allocation, and entries already where they belong (those kept by the last call) are
    /// not copied.
    pub fn retain_tag(&mut self, keep: T) {
        let (mut kept, mut write, mut start) = (0usize, 0usize, 0usize);
        for i in 0..self.entries.len() {
            let (tag, key_end, end) = self.entries[i];
            if tag == keep {
                if write != start {
                    self.bytes.copy_within(start..end, write);
                }
                let moved_down = start - write;
                self.entries[kept] = (tag, key_end - moved_down, end - moved_down);
                write += end - start;
                kept += 1;
            }
            start = end;
        }
        self.bytes.truncate(write);
        self.entries.truncate(kept);
    }
}

impl Store {
    /// The committed head a commit follows; the first time, the files are cut back to it
    /// (dropping what an interrupted commit may have left past the committed lengths).
    fn base(&self, spilled: &mut Spilled) -> Result<Base, StoreError> {
        if let Some(base) = spilled.base {
            return Ok(base);
        }
        let old = self.head()?;
        let base = Base {
            next_seq: old.map_or(0, |h| h.next_seq),
            events_bytes: old.map_or(0, |h| h.events_bytes),
            rows: old.map_or(0, |h| h.tally_rows),
            ids: self.id_runs()?.end(),
        };
        self.cut_tails(base.events_bytes, base.rows, base.ids)?;
        spilled.base = Some(base);
        Ok(base)
    }

    /// Writes the commit's frames, tally rows and postings held in memory past the committed
    /// lengths (unsynced; [`Store::commit`] syncs them), keeping what its sled batch will
    /// need, and lets go of them. Nothing is committed: until the commit, they are an
    /// interrupted commit's tail, which no reader reads and the next commit cuts.
    pub fn spill(&self, commit: &mut Commit) -> Result<(), StoreError> {
        let base = self.base(&mut commit.spilled)?;
        let rows = self.write_part(base, commit)?;
        self.apply_block_offsets(&mut commit.spilled)?;
        let s = &mut commit.spilled;
        s.frames += commit.frames.len() as u64;
        s.events_bytes += commit.frames.byte_len() as u64;
        s.rows += rows;
        commit.frames = Frames::default();
        commit.postings.clear();
        if !commit.ids.is_empty() && commit.ids.len() >= ids_per_run() {
            self.spill_ids(base, &mut commit.ids)?;
        }
        // The tally rows are written; the station log's entries go to sled with the commit.
        commit.logs.retain_tag(Log::Stations);
        commit.spilled.kept_log_bytes = commit.logs.byte_len();
        Ok(())
    }

    /// Applies the offsets of the blocks that start past the committed end of `events.seg`,
    /// in a sled batch of their own. No head covers those bytes, so nothing reads the
    /// offsets until a commit's head does; a refused or killed import leaves them unread,
    /// and the commit that writes those blocks again sets them again. (Kept out of the
    /// commit's one batch because sled holds a copy of each node a batch changes until the
    /// batch ends: 40,000 block offsets at 10M events cost hundreds of MB there.)
    fn apply_block_offsets(&self, s: &mut Spilled) -> Result<(), StoreError> {
        if s.blocks_staged > 0 {
            self.db
                .apply_batch(std::mem::take(&mut s.blocks))
                .map_err(io)?;
            s.blocks_staged = 0;
        }
        Ok(())
    }

    /// Writes the ids `buffer` holds as a run after those it spilled, and lets go of them.
    fn spill_ids(&self, base: Base, buffer: &mut IdBuffer) -> Result<(), StoreError> {
        let at = buffer.spilled_end.unwrap_or(base.ids);
        let loaded = self.write_id_run(at, &buffer.take_sorted())?;
        buffer.spilled_end = Some(loaded.run.end());
        buffer.spilled.push(loaded);
        Ok(())
    }

    /// Puts a commit's ids where they belong: a commit that spilled runs, or holds
    /// [`RUN_MIN_IDS`] or more, writes a run; a small one adds them to sled, unless that would
    /// take sled past [`SLED_IDS_MAX`], when sled's ids and the new ones become a run.
    fn place_ids(&self, base: Base, ids: &mut IdBuffer) -> Result<IdPlacement, StoreError> {
        let mut record = self.id_runs()?;
        let n = ids.len() as u64;
        if n == 0 && ids.spilled.is_empty() {
            return Ok(IdPlacement::default());
        }
        if !ids.spilled.is_empty() || n >= RUN_MIN_IDS {
            if n > 0 {
                self.spill_ids(base, ids)?;
            }
            record.runs.extend(ids.spilled.iter().map(|l| l.run));
            return Ok(IdPlacement {
                record: Some(record),
                wrote: true,
                ..IdPlacement::default()
            });
        }
        if record.in_sled + n <= SLED_IDS_MAX {
            record.in_sled += n;
            return Ok(IdPlacement {
                record: Some(record),
                insert: ids.take_sorted(),
                ..IdPlacement::default()
            });
        }
        let remove = self.sled_ids()?;
        let mut entries = ids.take_sorted();
        entries.extend_from_slice(&remove);
        entries.sort_unstable();
        let loaded = self.write_id_run(base.ids, &entries)?;
        record.runs.push(loaded.run);
        record.in_sled = 0;
        Ok(IdPlacement {
            record: Some(record),
            remove,
            wrote: true,
            ..IdPlacement::default()
        })
    }

    /// Writes the frames, tally rows and postings `commit` holds after what it spilled;
    /// returns the number of rows.
    fn write_part(&self, base: Base, commit: &mut Commit) -> Result<u64, StoreError> {
        let s = &mut commit.spilled;
        let events_at = base.events_bytes + s.events_bytes;
        s.blocks_staged += stage_block_offsets(
            &mut s.blocks,
            &commit.frames,
            base.next_seq + s.frames,
            events_at,
        );
        let rows_before = base.rows + s.rows;
        let (rows, new_rows, check) = self.pack_tally(
            &mut s.batch,
            (rows_before, s.tally_check),
            commit.logs.values(Log::Tally),
        )?;
        s.tally_check = Some(check);
        // Invariant: every tally row has its posting (`postings.seg` runs beside `tally.seg`).
        assert_eq!(
            commit.postings.len() as u64,
            new_rows * POSTING_BYTES,
            "one posting per tally row"
        );
        let postings = (&rows[..], &commit.postings[..]);
        self.write_segments(&commit.frames, events_at, postings, rows_before)?;
        Ok(new_rows)
    }

    /// The body of a frame of a commit being built: the one `skip` frames after the frame at
    /// `offset` (counted from the commit's first frame, [`Commit::next_frame_offset`]), the
    /// frames up to `end` being read in one go, from the file where they were spilled and
    /// from memory after. A batch keeps the offset of every few frames, not of each.
    pub fn commit_body(
        &self,
        commit: &Commit,
        (offset, end): (u64, u64),
        skip: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let s = &commit.spilled;
        let missing = || StoreError::Io(format!("no frame at {offset} in this commit"));
        let mut bytes = Vec::new();
        if offset < s.events_bytes {
            let base = s.base.ok_or_else(missing)?;
            let upto = end.min(s.events_bytes);
            let at = base.events_bytes;
            bytes = self.uncommitted_frames(at + offset, at + upto)?;
        }
        if end > s.events_bytes {
            let from = offset.max(s.events_bytes) - s.events_bytes;
            let held = commit
                .frames
                .bytes_in(from as usize, (end - s.events_bytes) as usize);
            bytes.extend_from_slice(held.ok_or_else(missing)?);
        }
        Frames::body_after(&bytes, skip)
            .map(<[u8]>::to_vec)
            .ok_or_else(missing)
    }

    /// Appends frames, log entries and index entries atomically, then flushes, and returns the
    /// head as committed. Nothing is reported written until the flush returns.
    pub fn commit(&self, mut commit: Commit) -> Result<Head, StoreError> {
        let mut head = commit
            .head
            .ok_or_else(|| StoreError::Io("commit without a head".into()))?;
        let old = self.head()?;
        // 1. Drop what an interrupted commit may have left past the committed lengths (done
        // by the first spill, if any).
        let base = self.base(&mut commit.spilled)?;
        // Invariant: nothing was committed since the first spill (one writer holds the ledger).
        assert_eq!(
            (base.next_seq, base.events_bytes, base.rows),
            old.map_or((0, 0, 0), |h| (h.next_seq, h.events_bytes, h.tally_rows)),
            "a commit follows the head it was spilled after"
        );
        // 2. Append to the files and sync them.
        let new_rows = self.write_part(base, &mut commit)?;
        let s = &commit.spilled;
        let (frames, rows) = (s.frames + commit.frames.len() as u64, s.rows + new_rows);
        let events_bytes = s.events_bytes + commit.frames.byte_len() as u64;
        // Invariant: the head moves exactly by the number of frames appended (no gap in seq).
        assert_eq!(
            head.next_seq,
            base.next_seq + frames,
            "commit must extend the chain without gaps"
        );
        // Invariant: the head records how long the tally is after the commit.
        assert_eq!(
            head.tally_rows,
            base.rows + rows,
            "the head counts the tally"
        );
        let ids = self.place_ids(base, &mut commit.ids)?;
        self.sync_segments(events_bytes > 0, rows > 0, ids.wrote)?;
        self.apply_block_offsets(&mut commit.spilled)?;
        head.events_bytes = base.events_bytes + events_bytes;
        let mut batch = std::mem::take(&mut commit.spilled.batch);
        if old.is_none() {
            batch.insert(FORMAT_KEY, FORMAT_TAG);
        }
        for &(fp, seq) in &ids.insert {
            batch.insert(sled_id_key(fp, Some(seq)), &[] as &[u8]);
        }
        for &(fp, seq) in &ids.remove {
            batch.remove(sled_id_key(fp, Some(seq)));
        }
        if let Some(record) = ids.record {
            // `J` is read back only with at most MAX_RUNS runs: refused here, not on reading.
            if record.runs.len() > MAX_RUNS as usize {
                return Err(StoreError::Io(format!(
                    "the id index would hold more than {MAX_RUNS} runs; nothing was committed"
                )));
            }
            batch.insert(RUNS_KEY, record.to_bytes());
        }
        // 3. One atomic batch: indices, the station log, the head.
        self.stage_index(&mut batch, commit.index.iter(), base.next_seq)?;
        self.stage_ranks(&mut batch, &commit.ranks)?;
        let stations: Vec<&[u8]> = commit.logs.values(Log::Stations).collect();
        // Invariant: the head records how long the station log is after the commit.
        assert_eq!(
            self.log_len(Log::Stations)? + stations.len() as u64,
            head.stations,
            "the head must count the station log's entries"
        );
        self.append_log(&mut batch, Log::Stations, &stations)?;
        batch.insert(HEAD_KEY, head.to_bytes().as_slice());
        self.db.apply_batch(batch).map_err(io)?;
        self.db.flush().map_err(io)?;
        self.committed_events
            .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
        Ok(head)
    }
}

/// Where a commit's ids go ([`Store::place_ids`]): the new `J`, the ids sled gains or loses,
/// and whether `ids.seg` was written.
#[derive(Debug, Default)]
struct IdPlacement {
    record: Option<IdRuns>,
    insert: Vec<(u64, u64)>,
    remove: Vec<(u64, u64)>,
    wrote: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::indices::{bucket_key, MAX_FRAGMENTS};
    use std::collections::BTreeMap;

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
        commit_to(store, c, old + frames);
    }

    /// Commits `c` with a head at `next_seq` (no tally, no stations).
    fn commit_to(store: &Store, mut c: Commit, next_seq: u64) {
        c.head = Some(Head {
            next_seq,
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

    /// A `Station` entry whose key falls in the same bucket as every other `same_bucket`
    /// entry: the `n`th such key.
    fn same_bucket(n: u64) -> (Index, Vec<u8>, Vec<u8>) {
        let target = bucket_key(Index::Station, b"st-0");
        let key = (0u64..)
            .map(|i| format!("st-{i}").into_bytes())
            .filter(|k| bucket_key(Index::Station, k) == target)
            .nth(n as usize)
            .expect("keys enough in one bucket");
        (Index::Station, key, n.to_be_bytes().to_vec())
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
                Index::Station,
                format!("sid-{seq}").into_bytes(),
                seq.to_be_bytes().to_vec(),
            );
            commit(&store, 1, &[same_bucket(seq), id]);
            assert!(fragments(&store, Index::Station, &same_bucket(seq).1) <= MAX_FRAGMENTS);
        }
        let big: Vec<_> = (0..5000u64)
            .map(|n| {
                (
                    Index::Station,
                    format!("big-{n}").into_bytes(),
                    (100 + n).to_be_bytes().to_vec(),
                )
            })
            .chain(std::iter::once(same_bucket(100)))
            .collect();
        let before = fragments(&store, Index::Station, &same_bucket(0).1);
        commit(&store, 5000, &big);
        assert_eq!(
            fragments(&store, Index::Station, &same_bucket(0).1),
            before + 1
        );
        let mut postings = 0;
        store
            .index_bucket_for_each(Index::Station, &same_bucket(0).1, |k, _| {
                postings += u64::from(k.starts_with(b"st-"));
                Ok(())
            })
            .unwrap();
        assert_eq!(postings, 101);
        for seq in [0u64, 31, 32, 99] {
            let v = store
                .index_get(Index::Station, format!("sid-{seq}").as_bytes())
                .unwrap();
            assert_eq!(v, Some(seq.to_be_bytes().to_vec()));
        }
        let v = store.index_get(Index::Station, b"big-4999").unwrap();
        assert_eq!(v, Some(5099u64.to_be_bytes().to_vec()));
        assert_eq!(store.index_get(Index::Station, b"sid-100").unwrap(), None);
        let mut ids = 0;
        store
            .index_for_each_unique(Index::Station, |_, _| {
                ids += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(ids, 5201);
    }

    /// Guards verify's proof that ids are unique: the same key in two fragments of a bucket
    /// is refused.
    #[test]
    fn a_key_repeated_in_another_fragment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        let id = |seq: u64| (Index::Station, b"same".to_vec(), seq.to_be_bytes().to_vec());
        commit(&store, 1, &[id(0)]);
        commit(&store, 1, &[id(1)]);
        let err = store
            .index_for_each_unique(Index::Station, |_, _| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    /// Commits ids (no events) as the write path would.
    fn commit_ids(store: &Store, ids: &[(String, u64)]) {
        let next_seq = store.head().unwrap().map_or(0, |h| h.next_seq);
        let mut c = Commit::default();
        for (id, seq) in ids {
            c.ids
                .push(crate::store::ids::fingerprint(id.as_bytes()), *seq);
        }
        commit_to(store, c, next_seq);
    }

    /// Guards the id index against a naive map: commits small and big (sled, runs, sled's
    /// ids moved into a run when it would pass SLED_IDS_MAX), then every id is found with its
    /// seq (the first lookups reading the file, the later ones the handle's copy), absent ids
    /// are not, and the merged entries are exactly the map's.
    #[test]
    fn the_id_index_finds_what_a_map_finds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("l")).unwrap();
        let mut model = BTreeMap::new();
        let mut seq = 0u64;
        let sizes = [1u64, 2, 5_000, 3].into_iter().chain([4_000; 16]);
        for n in sizes.chain([10_000, 600, 1_000, 7]) {
            let ids: Vec<(String, u64)> = (0..n)
                .map(|_| {
                    seq += 1;
                    (format!("id-{}", seq * 7919 % 1_000_003), seq)
                })
                .collect();
            model.extend(ids.iter().cloned());
            commit_ids(&store, &ids);
        }
        let record = store.id_runs().unwrap();
        let counts: Vec<u64> = record.runs.iter().map(|r| r.count).collect();
        assert_eq!(counts, [5_000, 10_000, 65_606]);
        assert_eq!(record.in_sled, 7);
        for (id, seq) in &model {
            let found = store.id_candidates(id.as_bytes()).unwrap();
            assert_eq!(found, [*seq], "{id}");
        }
        for k in 0..2_000 {
            let absent = format!("absent-{k}");
            assert!(store.id_candidates(absent.as_bytes()).unwrap().is_empty());
        }
        let mut want: Vec<(u64, u64)> = model
            .iter()
            .map(|(id, seq)| (crate::store::ids::fingerprint(id.as_bytes()), *seq))
            .collect();
        want.sort_unstable();
        let mut have = Vec::new();
        store
            .for_each_id_entry(|fp, seq| {
                have.push((fp, seq));
                Ok(())
            })
            .unwrap();
        assert_eq!(have, want);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        /// `retain_tag` (what a spill keeps of the logs) against a naive model: pushes of
        /// keyed and unkeyed entries under two tags, with retains between them, leave the
        /// entries a filter of everything pushed would, and no bytes beside them.
        #[test]
        fn retain_tag_keeps_what_a_filter_would(
            steps in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(0u8..255, 0..4), proptest::collection::vec(0u8..255, 0..6)),
                0..60,
            ),
        ) {
            let mut packed = Packed::<u8>::default();
            let mut model: Vec<(u8, Vec<u8>, Vec<u8>)> = Vec::new();
            for (op, key, value) in steps {
                if op == 2 {
                    packed.retain_tag(1);
                    model.retain(|e| e.0 == 1);
                } else {
                    packed.push_pair(op, &key, &value);
                    model.push((op, key, value));
                }
                let have: Vec<(u8, Vec<u8>, Vec<u8>)> =
                    packed.iter().map(|(t, k, v)| (t, k.to_vec(), v.to_vec())).collect();
                proptest::prop_assert_eq!(&have, &model);
                let bytes: usize = model.iter().map(|e| e.1.len() + e.2.len()).sum();
                proptest::prop_assert_eq!(packed.byte_len(), bytes);
            }
        }
    }
}
