//! The derived logs: the tally (entries in `tally.seg`, read a checksum block at a time) and
//! the station log (packed into sled blocks). Both hold entries `length (u16 LE) | bytes`.

use crate::store::layout::{bad_key, file_len, io, Store, StoreError};
use crate::store::segments::{
    fnv1a, read_range, FNV_OFFSET, TALLY_CHECK_PREFIX, TALLY_ENTRIES_PER_READ, TALLY_ENTRY_BYTES,
};

/// Derived append-only tables (caches of the events, checked by `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// One fixed-size row per record, metric report or dispute (in `tally.seg`).
    Tally,
    /// One entry per registered station, in registration order.
    Stations,
}

impl Log {
    pub(super) fn prefix(self) -> u8 {
        match self {
            Log::Tally => TALLY_CHECK_PREFIX,
            Log::Stations => b'O',
        }
    }

    pub(super) fn per_block(self) -> u64 {
        match self {
            Log::Tally => TALLY_ENTRIES_PER_READ,
            Log::Stations => 1024,
        }
    }

    pub(super) fn key(self, block: u64) -> [u8; 9] {
        let mut k = [self.prefix(); 9];
        k[1..].copy_from_slice(&block.to_be_bytes());
        k
    }
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

impl Store {
    /// Adds entries to the end of a sled-packed log, rewriting only its last block.
    pub(super) fn append_log(
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
}
