//! Test-only hooks: they edit stored bytes behind the store's back, as a forger who owns the
//! disk would, so that the tests can prove that reads and `verify` catch it. Compiled only with
//! the `test-hooks` feature, which only the tests turn on.

use crate::store::ids::{fingerprint, sled_id_key, RUNS_KEY};
use crate::store::indices::{bucket_key, bucket_without, fragment_key, key, push_entry, Index};
use crate::store::layout::{bad_key, file_error, io, Store, StoreError, FORMAT_KEY, HEAD_KEY};
use crate::store::logs::Log;
use crate::store::ranks::{band_key, band_of, value_key};
use crate::store::segments::{
    block_key, fnv1a, read_range, tally_check_key, FNV_OFFSET, POSTING_BYTES, TALLY_ENTRY_BYTES,
};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Replaces `[start, end)` of a file with `bytes`.
fn splice(file: &File, start: u64, end: u64, bytes: &[u8]) -> Result<(), StoreError> {
    let tail = read_range(file, end, u64::MAX)?;
    let mut new = bytes.to_vec();
    new.extend_from_slice(&tail);
    file.set_len(start).map_err(|e| file_error("tamper", e))?;
    file.write_all_at(&new, start)
        .map_err(|e| file_error("tamper", e))?;
    file.sync_data().map_err(|e| file_error("tamper", e))
}

impl Store {
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
        splice(&self.events, start, end, &v)?;
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
            .insert(HEAD_KEY, head.to_bytes().as_slice())
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Test support: replaces a log block's bytes (for the tally: entries `block * 4096` on),
    /// to prove that verification catches it.
    #[doc(hidden)]
    /// Edits the committed bytes of `postings.seg` with `f` (`POSTING_BYTES` per posting: the
    /// row's seq and the number of the station's posting before it, u64 LE each).
    /// Sets the format tag, as an older or newer kaohe would have written it.
    pub fn tamper_format(&self, tag: &[u8]) -> Result<(), StoreError> {
        self.db.insert(FORMAT_KEY, tag).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    pub fn tamper_postings(&self, f: impl FnOnce(&mut Vec<u8>)) -> Result<(), StoreError> {
        let committed = self.head()?.map_or(0, |h| h.tally_rows) * POSTING_BYTES;
        let mut v = read_range(&self.postings, 0, committed)?;
        f(&mut v);
        splice(&self.postings, 0, committed, &v)
    }

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
            return splice(&self.tally, start, end, &v);
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

    /// Test support: removes `id`'s entries from the id index and, when `seq` is given, adds
    /// one naming `seq` in their place: in sled when the id was there (or there are no runs),
    /// else in the runs, which are rewritten as one.
    #[doc(hidden)]
    pub fn tamper_id(&self, id: &[u8], seq: Option<u64>) -> Result<(), StoreError> {
        let fp = fingerprint(id);
        let mut record = self.id_runs()?;
        let mut entries = Vec::new();
        self.for_each_id_entry(|efp, eseq| {
            entries.push((efp, eseq));
            Ok(())
        })?;
        let sled: std::collections::BTreeSet<_> = self.sled_ids()?.into_iter().collect();
        entries.retain(|e| !sled.contains(e));
        let mut in_sled = false;
        for &(efp, eseq) in &sled {
            if efp == fp {
                in_sled = true;
                self.db.remove(sled_id_key(efp, Some(eseq))).map_err(io)?;
                record.in_sled -= 1;
            }
        }
        let before = entries.len();
        entries.retain(|e| e.0 != fp);
        let mut rewrite = entries.len() < before;
        match seq {
            Some(seq) if in_sled || (!rewrite && record.runs.is_empty()) => {
                self.db
                    .insert(sled_id_key(fp, Some(seq)), &[] as &[u8])
                    .map_err(io)?;
                record.in_sled += 1;
            }
            Some(seq) => {
                entries.push((fp, seq));
                entries.sort_unstable();
                rewrite = true;
            }
            None => {}
        }
        if rewrite {
            self.ids.set_len(0).map_err(|e| file_error("tamper", e))?;
            record.runs.clear();
            if !entries.is_empty() {
                record.runs.push(self.write_id_run(0, &entries)?.run);
            }
            self.ids.sync_data().map_err(|e| file_error("tamper", e))?;
        }
        self.db.insert(RUNS_KEY, record.to_bytes()).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Test support: changes how many stations the rank index counts at `value` by `change`
    /// (`(true, false)`), in its band (`(false, true)`), or both (`(true, true)`).
    #[doc(hidden)]
    pub fn tamper_rank(
        &self,
        value: i128,
        change: i64,
        (at_value, in_band): (bool, bool),
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        if at_value {
            self.stage_count(&mut batch, &value_key(value), change)?;
        }
        if in_band {
            self.stage_count(&mut batch, &band_key(band_of(value)), change)?;
        }
        self.db.apply_batch(batch).map_err(io)?;
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
            self.tamper_bucket(index, k, v)?;
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// [`Store::tamper_index`] for a bucketed index: every fragment of the bucket is rebuilt
    /// without the key; a new value goes into the first fragment (or the bucket's value for a
    /// replaced index).
    fn tamper_bucket(&self, index: Index, k: &[u8], v: Option<&[u8]>) -> Result<(), StoreError> {
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
            let mut new = bucket_without(&old, k)?;
            if let (true, Some(v)) = (first, v) {
                push_entry(&mut new, k, v);
            }
            first = false;
            self.db.insert(fk, new).map_err(io)?;
        }
        Ok(())
    }
}
