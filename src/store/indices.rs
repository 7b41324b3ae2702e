//! The secondary indices in sled. Most are packed into [`INDEX_BUCKETS`] hash buckets, each a
//! list of entries `key length (u16 LE) | key | value length (u16 LE) | value`: the append-only
//! one (station) as fragments, one per commit that added to the bucket, merged when a
//! small commit finds [`MAX_FRAGMENTS`]; the replaced ones (aggregates, postings heads,
//! disputes) as one value per bucket, rewritten when it changes.

use crate::store::layout::{io, Store, StoreError};
use std::collections::BTreeMap;

/// Hash buckets of the bucketed indices. Changing it changes the store layout.
pub const INDEX_BUCKETS: u64 = 4096;
/// Fragments a bucket of an append-only index may reach before a small commit merges them.
pub(super) const MAX_FRAGMENTS: usize = 32;
/// Commits touching at most this many buckets of an index merge crowded buckets (a big import
/// touches every bucket once, adding one fragment each, and is not slowed by merging).
const COMPACT_BUCKETS_MAX: usize = 64;

/// The secondary indices, each a key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// station code → seq of its registration
    Station,
    /// station + 0x00 + clause (+ 0x00 + sheet u32 BE, on a sheet after the first) → units
    /// recorded (u32 BE)
    UnitCount,
    /// station ordinal (u32 BE) → the station's sums at the head (replaced, not appended)
    Aggregate,
    /// station ordinal (u32 BE) → where its chain of postings in `postings.seg` ends: the
    /// number of its last posting (u64 BE) and how many it has (u64 BE) (replaced, not
    /// appended)
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
    pub(super) fn replaced(self) -> bool {
        matches!(self, Index::Aggregate | Index::Dispute | Index::Postings)
    }

    /// True for indices packed into hash buckets.
    pub(super) fn bucketed(self) -> bool {
        !matches!(self, Index::UnitCount | Index::Key)
    }

    pub(super) fn prefix(self) -> u8 {
        match self {
            Index::Station => b'S',
            Index::UnitCount => b'N',
            Index::Aggregate => b'A',
            Index::Postings => b'P',
            Index::Dispute => b'D',
            Index::Key => b'K',
        }
    }
}

pub(super) fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
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

pub(super) fn bucket_key(index: Index, k: &[u8]) -> [u8; 3] {
    let b = bucket_of(k).to_be_bytes();
    [index.prefix(), b[0], b[1]]
}

/// The key of a fragment of an append-only bucketed index: the bucket's key and the first seq
/// of the commit that wrote it.
pub(super) fn fragment_key(bk: [u8; 3], commit_seq: u64) -> [u8; 11] {
    let mut k = [0u8; 11];
    k[..3].copy_from_slice(&bk);
    k[3..].copy_from_slice(&commit_seq.to_be_bytes());
    k
}

pub(super) fn push_entry(bucket: &mut Vec<u8>, k: &[u8], v: &[u8]) {
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

/// The entries of a bucket (or fragment) but those with key `k`.
pub(super) fn bucket_without(bucket: &[u8], k: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut rebuilt = Vec::with_capacity(bucket.len());
    parse_bucket(bucket, |ek, ev| {
        if ek != k {
            push_entry(&mut rebuilt, ek, ev);
        }
        Ok(())
    })?;
    Ok(rebuilt)
}

impl Store {
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
    /// e.g. for the `Station` index to prove codes registered once).
    pub fn index_for_each_unique(
        &self,
        index: Index,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !index.bucketed() {
            return self.index_for_each(index, f);
        }
        // A key is in one bucket, whose fragments are adjacent: keys are unique when they are
        // unique within each bucket. 64-bit hashes of the keys first; only when two collide
        // are the bucket's keys compared.
        let mut bucket = None;
        let mut hashes = rustc_hash::FxHashSet::default();
        let mut collided = false;
        for entry in self.db.scan_prefix([index.prefix()]) {
            let (k, v) = entry.map_err(io)?;
            let this = k.get(..3).map(<[u8]>::to_vec);
            if this != bucket {
                if let (true, Some(b)) = (collided, &bucket) {
                    self.refuse_repeated_keys(index, b)?;
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
            self.refuse_repeated_keys(index, b)?;
        }
        Ok(())
    }

    /// Compares the keys of the bucket `bk` of `index` exactly, refusing one found twice.
    fn refuse_repeated_keys(&self, index: Index, bk: &[u8]) -> Result<(), StoreError> {
        let twice = |k: &[u8]| {
            StoreError::Corrupt(format!(
                "the {index:?} index holds the key {} twice",
                String::from_utf8_lossy(k)
            ))
        };
        let mut keys = std::collections::HashSet::new();
        for fragment in self.db.scan_prefix(bk) {
            let (_, v) = fragment.map_err(io)?;
            parse_bucket(&v, |k, _| match keys.insert(k.to_vec()) {
                true => Ok(()),
                false => Err(twice(k)),
            })?;
        }
        Ok(())
    }

    /// Adds a commit's index entries to `batch`: the unbucketed ones as they are, each changed
    /// bucket of a replaced index rewritten whole, and the append-only ones as new fragments
    /// keyed by `commit_seq`, the commit's first seq ([`Store::add_fragments`]).
    pub(super) fn stage_index<'e>(
        &self,
        batch: &mut sled::Batch,
        entries: impl Iterator<Item = (Index, &'e [u8], &'e [u8])>,
        commit_seq: u64,
    ) -> Result<(), StoreError> {
        let mut buckets: BTreeMap<[u8; 3], Vec<u8>> = BTreeMap::new();
        let mut fragments: BTreeMap<[u8; 3], Vec<u8>> = BTreeMap::new();
        for (index, k, v) in entries {
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
            // Rebuild the bucket without the old entry.
            *value = bucket_without(value, k)?;
            push_entry(value, k, v);
        }
        for (bk, value) in buckets {
            batch.insert(bk.as_slice(), value);
        }
        self.add_fragments(batch, fragments, commit_seq)
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
}
