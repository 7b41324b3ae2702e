//! The store: the only place that knows sled.
//!
//! A ledger directory holds a sled database and four append-only files:
//!
//! - `events.seg`: every event's frame, in seq order: body length (u32 LE), body, hash (32).
//! - `tally.seg`: the tally log, [`TALLY_ENTRY_BYTES`]-byte entries: length (u16 LE), row.
//! - `postings.seg`: one [`POSTING_BYTES`]-byte posting per tally row: the row's seq and the
//!   number of the same station's posting before it (u64 LE each), so that a station's rows
//!   are found from its head (`P`) back, and sled holds nothing per event for them. Its
//!   committed length is the head's tally rows × [`POSTING_BYTES`].
//! - `ids.seg`: the id index's runs (see [`ids`]), committed up to the end of the last run
//!   `J` lists.
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
//! | `I` + fingerprint (u64 BE) + seq (u64 BE) | an id held in sled (no value): the event at seq holds an id with this fingerprint ([`ids`]) |
//! | `J` | the id index's run list: ids held in sled (u64 BE), number of runs (u32 BE), each run's offset in `ids.seg` and count (u64 BE) |
//! | `S` + bucket (u16 BE) + commit seq (u64 BE) | a fragment: entries station code → seq (u64 BE) of its registration, ordinal (u32 BE) |
//! | `N` + station + 0x00 + clause | units recorded so far under a per-unit clause (u32 BE) |
//! | `O` + block (u64 BE) | station log: one entry per registered station, [`Log::Stations`] |
//! | `R` + block (u64 BE) | FNV-1a (u64 BE) over the bytes of tally entries `4096·block ..` committed so far: checked on every read of `tally.seg` |
//! | `A` + bucket (u16 BE) | entries station ordinal → the station's sums at the head |
//! | `P` + bucket (u16 BE) | entries station ordinal → the number of its last posting (u64 BE) and how many it has (u64 BE) |
//! | `D` + bucket (u16 BE) | entries record seq → seqs of its appeals, decisions, reversals |
//! | `K` + public key (32) | seq of its registration, seq of its revocation (`u64::MAX`: none) |
//! | `C` + tree size (u64 BE) | a signed checkpoint of the first `size` events (the note's bytes, `schema/PROOFS.md`); not an event, so the chain does not cover it |
//! | `G` + value (i128 BE, sign bit flipped) | stations whose total at the head is this value, in units of 10^-6 points (u64 BE; [`ranks`]) |
//! | `L` + band (i64 BE, sign bit flipped) | stations whose total falls in this band of [`ranks::RANK_BAND_UNITS`] (one point) (u64 BE) |
//! | `T` + level (u8) + index (u64 BE) | a subtree root a checkpoint kept (32 bytes; [`checkpoints`]) |
//! | `V` | the last full verification (`kaohe verify`): seq (u64 BE), head hash (32), time (i64 BE µs, `i64::MIN`: unknown); not an event |
//!
//! Evidence files (`--evidence-file`) live beside them in the directory [`EVIDENCE_DIR`], one
//! file per blob named by the 64 lowercase hex digits of its BLAKE3 hash, written once
//! (`<hex>.tmp`, synced, renamed, directory synced). They are not events: an event names a
//! blob by a `blake3:<hex> <name>` evidence reference, and `verify --evidence` checks both.
//!
//! Events form blocks of [`EVENTS_PER_BLOCK`](crate::base::limits::EVENTS_PER_BLOCK): frame
//! `j` of block `b` is seq `b * EVENTS_PER_BLOCK + j`; every block but the last is full.
//!
//! A commit (1) cuts each file back to its committed length, dropping the torn tail of an
//! interrupted commit, (2) appends to the files and syncs them, (3) applies one sled batch
//! (head with the new lengths, indices, logs) and flushes (the offsets of new blocks just
//! before, in a batch of their own: no head covers them yet). A crash before (3)
//! leaves bytes past the committed lengths, which nothing reads and the next commit drops; a
//! crash after it leaves a complete commit. Only the process holding sled's lock opens the
//! files, so that lock guards them too.
//!
//! The station log is packed into sled blocks: entry `j` of block `b` is entry
//! `b * per_block + j`, each `length (u16 LE) | bytes`. The station, aggregate, postings
//! and dispute indices are packed into [`INDEX_BUCKETS`] hash buckets, each a list of entries
//! `key length (u16 LE) | key | value length (u16 LE) | value`. The append-only one
//! (station) keeps each bucket as fragments, one per commit that added to it (keyed by
//! the commit's first seq), so a commit writes only its new entries however big the index is:
//! an import never rewrites what earlier imports wrote. A small commit merges a bucket that
//! has reached `MAX_FRAGMENTS`. The replaced ones (aggregates, postings heads, disputes) are one value
//! per bucket, rewritten when it changes; they grow with stations and disputes, not events.
//!
//! The parts, each importing only those before it: `layout` (names, errors, the handle, the
//! head, create and open), `segments` (the files), `logs` (tally and station log),
//! `indices`, `ranks` (stations per total), `ids` (the id index), `blobs` (evidence files), `checkpoints` (and the last verification),
//! `commit`, and the test-only `hooks`. This file is their facade.

mod blobs;
mod checkpoints;
mod commit;
#[cfg(feature = "test-hooks")]
mod hooks;
mod ids;
mod indices;
mod layout;
mod logs;
mod ranks;
mod segments;

pub use checkpoints::Verified;
pub use commit::Commit;
pub use ids::{fingerprint as id_fingerprint, ids_per_run, IdBuffer};
pub use indices::Index;
pub use layout::{panic_is_contained, set_lock_wait, Head, Store, StoreError, EVIDENCE_DIR};
pub use logs::Log;
pub use ranks::rank_bands;
pub use segments::{Frames, Posting};

/// Names the tests use to reach stored files and entries (through `kaohe::internals`).
#[cfg(feature = "test-hooks")]
pub use {
    blobs::EvidenceListing,
    commit::Packed,
    ids::{IdRuns, IDS_PER_RUN, RUN_MIN_IDS, SLED_IDS_MAX},
    indices::INDEX_BUCKETS,
    layout::{EVENTS_FILE, FORMAT_TAG, IDS_FILE, POSTINGS_FILE, TALLY_FILE},
    segments::{Frame, POSTING_BYTES, TALLY_ENTRY_BYTES},
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards sled's key space: each part of the store has a first byte of its own, so that a
    /// scan of one part's prefix never reads another's keys (the rank index first took `T`,
    /// which the checkpoints' subtree roots hold, and its scans would have counted them).
    #[test]
    fn every_part_of_the_store_has_its_own_key_prefix() {
        let mut prefixes = vec![
            (layout::FORMAT_KEY[0], "format"),
            (layout::HEAD_KEY[0], "head"),
            (segments::BLOCK_PREFIX, "block offsets"),
            (Log::Tally.prefix(), "tally checksums"),
            (Log::Stations.prefix(), "station log"),
            (checkpoints::CHECKPOINT_PREFIX, "checkpoints"),
            (checkpoints::SUBTREE_PREFIX, "subtree roots"),
            (checkpoints::VERIFIED_KEY[0], "last verification"),
            (ids::RUNS_KEY[0], "id runs"),
            (ids::SLED_ID_PREFIX, "ids in sled"),
            (ranks::VALUE_PREFIX, "rank values"),
            (ranks::BAND_PREFIX, "rank bands"),
        ];
        // Every index (a new one is added here too).
        for index in [
            Index::Station,
            Index::UnitCount,
            Index::Aggregate,
            Index::Postings,
            Index::Dispute,
            Index::Key,
        ] {
            prefixes.push((index.prefix(), "an index"));
        }
        let mut seen = std::collections::BTreeMap::new();
        for (prefix, part) in prefixes {
            if let Some(other) = seen.insert(prefix, part) {
                panic!(
                    "{part} and {other} share the key prefix `{}`",
                    prefix as char
                );
            }
        }
    }
}
