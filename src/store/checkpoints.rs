//! What sled holds beside the chain, not covered by it: the signed checkpoints (`C` + tree
//! size), the Merkle tree's subtree roots they were computed with (`T` + level + index), and
//! the record of the last full verification (`V`).

use crate::events::event::Hash;
use crate::store::layout::{bad_key, contain, has_sled_files, io, open_db_copy, Store, StoreError};
use std::path::Path;

/// The sled key prefix of a stored checkpoint.
pub(super) const CHECKPOINT_PREFIX: u8 = b'C';
/// The sled key prefix of a kept subtree root.
pub(super) const SUBTREE_PREFIX: u8 = b'T';
/// The sled key of the last full verification ([`Store::put_verified`]).
pub(super) const VERIFIED_KEY: &[u8] = b"V";

fn checkpoint_key(size: u64) -> [u8; 9] {
    let mut k = [CHECKPOINT_PREFIX; 9];
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

fn subtree_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [SUBTREE_PREFIX; 10];
    // Invariant: levels are below 64 (a tree of at most 2^64 leaves).
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

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

impl Store {
    /// Stores a signed checkpoint note of the tree of `size` events (replacing one stored for
    /// the same size), in one batch, flushed before it returns. It does not touch the chain.
    pub fn put_checkpoint(&self, size: u64, note: &[u8]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(checkpoint_key(size).as_slice(), note);
        self.db.apply_batch(batch).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// [`Store::put_checkpoint`], with the subtree roots (level, index, root) computed on the
    /// way, in the same batch.
    pub fn put_checkpoint_with(
        &self,
        size: u64,
        note: &[u8],
        subtrees: &[(u32, u64, Hash)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (level, index, root) in subtrees {
            batch.insert(subtree_key(*level, *index).as_slice(), root.as_slice());
        }
        batch.insert(checkpoint_key(size).as_slice(), note);
        self.db.apply_batch(batch).map_err(io)?;
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// The kept root of the complete subtree of leaves `index·2^level .. (index+1)·2^level`.
    /// A cache: a checkpoint checks every root it recomputes against it, and a proof made with
    /// it is checked against its checkpoint's root before it is given out.
    pub fn subtree(&self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        match self.db.get(subtree_key(level, index)).map_err(io)? {
            None => Ok(None),
            Some(v) => {
                let h: Hash = v.as_ref().try_into().map_err(|_| {
                    StoreError::Corrupt("a kept subtree root has the wrong size".into())
                })?;
                Ok(Some(h))
            }
        }
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
        for entry in self.db.scan_prefix([CHECKPOINT_PREFIX]) {
            let (k, v) = entry.map_err(io)?;
            let size = u64::from_be_bytes(k[1..].try_into().map_err(|_| bad_key())?);
            out.push((size, v.to_vec()));
        }
        Ok(out)
    }

    /// The stored checkpoint with the largest size, as (size, note bytes).
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(entry) = self.db.scan_prefix([CHECKPOINT_PREFIX]).next_back() else {
            return Ok(None);
        };
        let (k, v) = entry.map_err(io)?;
        let size = u64::from_be_bytes(k[1..].try_into().map_err(|_| bad_key())?);
        Ok(Some((size, v.to_vec())))
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
        let (db, _lock, _copy, _) = open_db_copy(path)?;
        let got = contain("read the last verification", || {
            db.get(VERIFIED_KEY).map_err(io)
        })?;
        match got {
            None => Ok(None),
            Some(v) => Ok(Verified::from_bytes(&v)),
        }
    }
}
