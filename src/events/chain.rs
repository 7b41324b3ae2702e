//! Hash chaining: the only place that knows BLAKE3.
//!
//! `hash_n = BLAKE3-derive_key("kaohe event v1", prev_hash_(n-1) || body_n)`, the genesis'
//! `prev_hash` being 32 zero bytes. The hash covers exactly the stored body bytes.

use crate::events::event::Hash;

/// The key-derivation context; changing it changes every hash.
pub const EVENT_CONTEXT: &str = "kaohe event v1";

/// The `prev_hash` of the genesis event.
pub const GENESIS_PREV: Hash = [0u8; 32];

/// The hash of an event body linked to its predecessor.
pub fn link(prev: &Hash, body: &[u8]) -> Hash {
    // Deriving the context's key is a hash of its own: done once per thread, and the hasher
    // reset for each event (a copy of it moved 1.9 KB, a tenth of an event's hashing).
    thread_local! {
        static HASHER: std::cell::RefCell<blake3::Hasher> =
            std::cell::RefCell::new(blake3::Hasher::new_derive_key(EVENT_CONTEXT));
    }
    HASHER.with_borrow_mut(|h| {
        h.reset();
        h.update(prev);
        h.update(body);
        *h.finalize().as_bytes()
    })
}

/// A plain BLAKE3 hash (of rubric bytes, evidence files).
pub fn plain(bytes: &[u8]) -> Hash {
    *blake3::hash(bytes).as_bytes()
}

/// The hash that names a stored evidence file: plain BLAKE3 of its bytes.
pub fn file_hash(bytes: &[u8]) -> Hash {
    plain(bytes)
}

/// The Merkle leaf hash of an event hash: `BLAKE3(0x00 || event_hash)` (see `schema/PROOFS.md`).
pub fn merkle_leaf(event_hash: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(event_hash);
    *h.finalize().as_bytes()
}

/// The Merkle interior node hash: `BLAKE3(0x01 || left || right)` (see `schema/PROOFS.md`).
pub fn merkle_node(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// 16 bytes derived from anything unique to a ledger's creation.
pub fn ledger_id(seed: &[u8]) -> [u8; 16] {
    let h = blake3::derive_key("kaohe ledger id v1", seed);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h[..16]);
    id
}

/// Parses 64 lower-case hex digits: a hash as kaohe writes it in every file it writes and
/// reads back (exports, receipts, key files, evidence references). Upper case is refused there:
/// those files are checked byte for byte, so one spelling is the only spelling.
pub fn parse_hash(text: &str) -> Option<Hash> {
    crate::base::text::parse_hex_lower(text)?.try_into().ok()
}

/// Parses 64 hex digits in either case: a hash a person types to look something up (`--head`,
/// `show --hash`, `evidence get`, `--pubkey`, `key revoke KEY`).
pub fn parse_typed_hash(text: &str) -> Option<Hash> {
    parse_hash(&text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_depends_on_prev_and_body() {
        let a = link(&GENESIS_PREV, b"x");
        assert_ne!(a, link(&GENESIS_PREV, b"y"));
        assert_ne!(a, link(&a, b"x"));
        assert_eq!(a, link(&GENESIS_PREV, b"x"));
    }
}

/// An order-independent digest of a set of (key, value) entries: the wrapping sum of a keyed
/// hash of each. Two sets with the same digest and count are equal with overwhelming
/// probability; `verify` uses it to compare an index with the events in one sequential scan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetDigest {
    sum: u128,
    count: u64,
}

impl SetDigest {
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        // The derived key is computed once; a keyed hasher then costs one compression per entry.
        static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        let k = KEY.get_or_init(|| blake3::derive_key("kaohe index entry v1", b""));
        let hash = entry_hash(k, key, value);
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash.as_bytes()[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The keyed hash of `len(key) || key || value` (`len` as u64 LE). An entry that fits a small
/// buffer is hashed in one call, which spares the incremental hasher's set-up (entries are
/// index keys and values: tens of bytes); the hash is the same either way.
fn entry_hash(k: &[u8; 32], key: &[u8], value: &[u8]) -> blake3::Hash {
    const SMALL: usize = 256;
    let len = 8 + key.len() + value.len();
    if len > SMALL {
        let mut h = blake3::Hasher::new_keyed(k);
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key);
        h.update(value);
        return h.finalize();
    }
    let mut buffer = [0u8; SMALL];
    buffer[..8].copy_from_slice(&(key.len() as u64).to_le_bytes());
    buffer[8..8 + key.len()].copy_from_slice(key);
    buffer[8 + key.len()..len].copy_from_slice(value);
    blake3::keyed_hash(k, &buffer[..len])
}
