//! The append-only files: `events.seg` (every event's frame, in blocks of
//! [`EVENTS_PER_BLOCK`] whose offsets sled holds) and `tally.seg` (fixed-size tally entries,
//! checked by a running checksum per [`TALLY_ENTRIES_PER_READ`] entries, also in sled). They
//! are read with positioned reads of a block at a time, appended to and synced by a commit,
//! and cut back to their committed lengths before one.

use crate::base::limits::{EVENTS_PER_BLOCK, MAX_EVENT_BYTES};
use crate::events::event::Hash;
use crate::store::layout::{bad_key, file_error, file_len, io, Head, Store, StoreError};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes of one tally entry in `tally.seg`: length (u16 LE) and a 42-byte row.
pub const TALLY_ENTRY_BYTES: u64 = 2 + 42;
/// Bytes of one entry of `postings.seg`: the seq of tally row `n` (u64 LE) and the number of
/// the station's posting before it (u64 LE, `u64::MAX` for its first:
/// `domain::rows::NO_POSTING`; the store does not read the chains).
pub const POSTING_BYTES: u64 = 16;
/// Postings read per positioned read when the whole file is read in order (`verify`).
const POSTINGS_PER_READ: u64 = 4096;
/// The most bytes a block of events can hold (a bound on what a damaged offset can ask for).
const MAX_BLOCK_BYTES: u64 = EVENTS_PER_BLOCK * (MAX_EVENT_BYTES as u64 + FRAME_OVERHEAD as u64);
/// Tally entries read per positioned read, and per checksum: block `b` of the tally is
/// entries `b * TALLY_ENTRIES_PER_READ ..`, and sled holds the FNV-1a state over its bytes
/// (key `R` + block), so that a damaged row is found when it is read, not only by `verify`.
pub(super) const TALLY_ENTRIES_PER_READ: u64 = 4096;
/// FNV-1a's offset basis: the checksum of no bytes.
pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FRAME_OVERHEAD: usize = 4 + 32;
/// The sled key prefix of a block's offset in `events.seg`.
pub(super) const BLOCK_PREFIX: u8 = b'B';
/// The sled key prefix of a tally block's checksum (also the tally log's prefix).
pub(super) const TALLY_CHECK_PREFIX: u8 = b'R';

/// One stored event: its seq (by position), body bytes and stored hash.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub seq: u64,
    pub body: &'a [u8],
    pub hash: &'a Hash,
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

    /// The packed bytes `[from, to)`.
    pub(super) fn bytes_in(&self, from: usize, to: usize) -> Option<&[u8]> {
        self.bytes.get(from..to)
    }

    /// The body of frame `skip` (from 0) of packed frames `bytes`.
    pub(super) fn body_after(bytes: &[u8], skip: usize) -> Option<&[u8]> {
        let mut at = 0usize;
        for i in 0..=skip {
            let len_bytes: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            let len = u32::from_le_bytes(len_bytes) as usize;
            if i == skip {
                return bytes.get(at + 4..at + 4 + len);
            }
            at += FRAME_OVERHEAD + len;
        }
        None
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

pub(super) fn block_key(block: u64) -> [u8; 9] {
    let mut k = [BLOCK_PREFIX; 9];
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// The sled key of a tally block's checksum.
pub(super) fn tally_check_key(block: u64) -> [u8; 9] {
    let mut k = [TALLY_CHECK_PREFIX; 9];
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// FNV-1a over `bytes`, from `state`: a running checksum (it catches damage, not forgery;
/// the events' hash chain and `verify` do that).
pub(super) fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
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

/// Reads `[start, end)` of a file, or as much of it as the file holds.
pub(super) fn read_range(file: &File, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
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

/// Adds to `batch` the offset in `events.seg` of each block that starts among `frames`,
/// the frames of seqs `first_seq..` to be appended at byte `at`.
pub(super) fn stage_block_offsets(
    batch: &mut sled::Batch,
    frames: &Frames,
    first_seq: u64,
    at: u64,
) -> u64 {
    let mut staged = 0;
    for (seq, (offset, _, _)) in (first_seq..).zip(frames.iter()) {
        if seq % EVENTS_PER_BLOCK == 0 {
            let offset = at + offset as u64;
            batch.insert(
                block_key(seq / EVENTS_PER_BLOCK).as_slice(),
                offset.to_be_bytes().as_slice(),
            );
            staged += 1;
        }
    }
    staged
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

/// Checks that block `block` (read as `read` bytes of the `range` its offsets give) holds
/// `frames` events, as many as the head counts for it.
fn check_block_count(
    head: &Head,
    block: u64,
    frames: u64,
    read: usize,
    range: &[u64],
) -> Result<(), StoreError> {
    let base = block * EVENTS_PER_BLOCK;
    let want = EVENTS_PER_BLOCK.min(head.next_seq - base);
    if frames > want {
        return Err(StoreError::Corrupt(format!(
            "block {block} holds {frames} events where the head counts {want}: seq {} is not committed",
            base + want
        )));
    }
    if frames != want || (read as u64) < range[1] - range[0] {
        return Err(StoreError::Corrupt(format!(
            "block {block} holds {frames} of its {want} events: events from seq {} are missing",
            base + frames
        )));
    }
    Ok(())
}

impl Store {
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
            check_block_count(&head, block, frames, bytes.len(), range)?;
        }
        Ok(())
    }

    /// The byte ranges of blocks `first..=last` in `events.seg`, as `last - first + 2`
    /// boundaries: each block ends where the next begins, the ledger's last block at the
    /// committed length.
    pub(super) fn block_offsets(
        &self,
        head: &Head,
        first: u64,
        last: u64,
    ) -> Result<Vec<u64>, StoreError> {
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
        let postings = file_len(&self.postings)?;
        if postings < head.tally_rows * POSTING_BYTES {
            return Err(StoreError::Corrupt(format!(
                "the postings file holds {postings} bytes where {} were committed: the last postings are gone",
                head.tally_rows * POSTING_BYTES
            )));
        }
        let blocks = head.next_seq.div_ceil(EVENTS_PER_BLOCK);
        let stored = match self.db.scan_prefix([BLOCK_PREFIX]).next_back() {
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

    /// The stored checksum of tally block `block`.
    pub(super) fn tally_check(&self, block: u64) -> Result<u64, StoreError> {
        let v = self.db.get(tally_check_key(block)).map_err(io)?;
        v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("the checksum of tally block {block} is missing"))
            })
    }

    /// A commit's first step: cuts each file back to its committed length (`events_bytes`
    /// bytes, `tally_rows` entries), dropping what an interrupted commit may have left.
    pub(super) fn cut_tails(
        &self,
        events_bytes: u64,
        tally_rows: u64,
        ids_bytes: u64,
    ) -> Result<(), StoreError> {
        cut_to(&self.events, events_bytes, "events")?;
        cut_to(&self.tally, tally_rows * TALLY_ENTRY_BYTES, "tally")?;
        cut_to(&self.postings, tally_rows * POSTING_BYTES, "postings")?;
        cut_to(&self.ids, ids_bytes, "ids")
    }

    /// Packs tally entries as `tally.seg` stores them, to follow the `old_rows` before them,
    /// and adds to `batch` the checksum of each tally block they fill or end in. `running` is
    /// the checksum of the block the rows before them ended in, when they are not committed
    /// yet (a spilled part of the same commit); else it is read from sled. Returns the packed
    /// bytes, the number of entries and the checksum they end with.
    pub(super) fn pack_tally<'e>(
        &self,
        batch: &mut sled::Batch,
        (old_rows, running): (u64, Option<u64>),
        entries: impl Iterator<Item = &'e [u8]>,
    ) -> Result<(Vec<u8>, u64, u64), StoreError> {
        let mut rows = Vec::new();
        let mut new_rows = 0u64;
        let mut check = match (running, old_rows % TALLY_ENTRIES_PER_READ) {
            (Some(check), _) => check,
            (None, 0) => FNV_OFFSET,
            (None, _) => self.tally_check(old_rows / TALLY_ENTRIES_PER_READ)?,
        };
        let mut entries = entries.peekable();
        while let Some(e) = entries.next() {
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
            let fills = (n + 1).is_multiple_of(TALLY_ENTRIES_PER_READ);
            if fills || entries.peek().is_none() {
                batch.insert(
                    &tally_check_key(n / TALLY_ENTRIES_PER_READ),
                    &check.to_be_bytes(),
                );
                if fills {
                    check = FNV_OFFSET;
                }
            }
        }
        Ok((rows, new_rows, check))
    }

    /// Writes the packed frames at byte `events_at` of `events.seg`, the packed tally rows
    /// after the `old_rows` before them to `tally.seg` and their postings to
    /// `postings.seg`. Nothing is synced ([`Store::sync_segments`]).
    pub(super) fn write_segments(
        &self,
        frames: &Frames,
        events_at: u64,
        (rows, postings): (&[u8], &[u8]),
        old_rows: u64,
    ) -> Result<(), StoreError> {
        for (file, bytes, at) in [
            (&self.events, frames.bytes.as_slice(), events_at),
            (&self.tally, rows, old_rows * TALLY_ENTRY_BYTES),
            (&self.postings, postings, old_rows * POSTING_BYTES),
        ] {
            if !bytes.is_empty() {
                file.write_all_at(bytes, at)
                    .map_err(|e| file_error("cannot write the ledger", e))?;
            }
        }
        Ok(())
    }

    /// Syncs the segment files a commit wrote to: the events file when `events` (and the
    /// tally and postings files when `rows`, the ids file when `ids`). The files are synced at the same time, one
    /// thread each, so that the file system can make them durable in one journal commit
    /// instead of one after another (a single `record` waits for them).
    pub(super) fn sync_segments(
        &self,
        events: bool,
        rows: bool,
        ids: bool,
    ) -> Result<(), StoreError> {
        let sync = |file: &File| {
            file.sync_data()
                .map_err(|e| file_error("cannot sync the ledger", e))
        };
        std::thread::scope(|scope| {
            let others: Vec<_> = [
                (&self.tally, rows),
                (&self.postings, rows),
                (&self.ids, ids),
            ]
            .into_iter()
            .filter(|f| f.1)
            .map(|(file, _)| scope.spawn(move || sync(file)))
            .collect();
            let first = match events {
                true => sync(&self.events),
                false => Ok(()),
            };
            for t in others {
                t.join()
                    .map_err(|_| StoreError::Io("a syncing thread failed".into()))??;
            }
            first
        })
    }

    /// Frames written past the committed length of `events.seg`, bytes `[start, end)` (a
    /// spilled part of a commit being built).
    pub(super) fn uncommitted_frames(&self, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
        let bytes = read_range(&self.events, start, end)?;
        match bytes.len() as u64 == end - start {
            true => Ok(bytes),
            false => Err(StoreError::Io("a spilled frame is cut short".into())),
        }
    }
}

/// One entry of `postings.seg`: the seq of a tally row and the number of the same station's
/// posting before it (`u64::MAX` for its first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub seq: u64,
    pub prev: u64,
}

impl Posting {
    pub fn to_bytes(self) -> [u8; POSTING_BYTES as usize] {
        let mut b = [0u8; POSTING_BYTES as usize];
        b[..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..].copy_from_slice(&self.prev.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Posting> {
        Some(Posting {
            seq: u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            prev: u64::from_le_bytes(b.get(8..16)?.try_into().ok()?),
        })
    }
}

impl Store {
    /// Posting `n` (the posting of tally row `n`), one of the `committed` the head counts.
    pub fn posting(&self, committed: u64, n: u64) -> Result<Posting, StoreError> {
        if n >= committed {
            return Err(StoreError::Corrupt(format!(
                "posting {n} is beyond the {committed} committed"
            )));
        }
        let at = n * POSTING_BYTES;
        let bytes = read_range(&self.postings, at, at + POSTING_BYTES)?;
        Posting::from_bytes(&bytes)
            .ok_or_else(|| StoreError::Corrupt(format!("posting {n} is cut short")))
    }

    /// Calls `f(n, posting)` with each posting from `from` up to (not including) `to`, which
    /// must be committed, in order, reading [`POSTINGS_PER_READ`] at a time (memory stays
    /// flat). `f` returns `false` to stop.
    pub fn for_each_posting_from(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, Posting) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let committed = to;
        let mut n = from;
        while n < committed {
            let upto = committed.min(n + POSTINGS_PER_READ);
            let bytes = read_range(&self.postings, n * POSTING_BYTES, upto * POSTING_BYTES)?;
            if bytes.len() as u64 != (upto - n) * POSTING_BYTES {
                return Err(StoreError::Corrupt(format!(
                    "the postings file ends before posting {}",
                    n + bytes.len() as u64 / POSTING_BYTES
                )));
            }
            for entry in bytes.chunks_exact(POSTING_BYTES as usize) {
                // Invariant: `chunks_exact` yields whole entries.
                let posting = Posting::from_bytes(entry).expect("a whole posting");
                if !f(n, posting)? {
                    return Ok(());
                }
                n += 1;
            }
        }
        Ok(())
    }
}
