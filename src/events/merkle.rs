//! A Merkle tree over the chain's event hashes, for checkpoints, receipts and consistency
//! proofs. `schema/PROOFS.md` is the normative description; this module follows it.
//!
//! - Leaf `i` is the event of seq `i`; its leaf hash is `BLAKE3(0x00 || event_hash)` and an
//!   interior node is `BLAKE3(0x01 || left || right)` ([`chain::merkle_leaf`],
//!   [`chain::merkle_node`]); the empty tree's root is `BLAKE3("")` ([`empty_root`]).
//! - The shape, the proofs and their verification are those of RFC 9162 §2.1 (RFC 6962): a
//!   tree of `n > 1` leaves is a complete left subtree of the largest power of two `k < n`
//!   leaves, and a right subtree of the other `n - k`.
//!
//! Costs: [`root`] and the [`Frontier`] hash every leaf once and hold O(log n) hashes. Proof
//! generation asks for the roots of O(log n) subtrees that together cover the tree, so the
//! slice-based generators hash all `size` leaves again for each proof (about 2n BLAKE3
//! compressions: a second or so at 10M events); a store that keeps subtree roots can serve
//! them to [`inclusion_proof_with`] and [`consistency_proof_with`] instead. Verification is
//! O(log n), exact (a proof must have precisely the length the algorithm consumes) and never
//! panics.

use crate::events::chain::{self, merkle_leaf, merkle_node};
use crate::events::event::Hash;

/// The lowest level of the subtree roots a store keeps (`ops::proofs`): a complete subtree of
/// 2^8 = 256 leaves and every complete aligned subtree above it. Below this level a root is
/// computed from at most 256 event hashes.
pub const TILE_LEVEL: u32 = 8;

/// The root of the empty tree: BLAKE3 of the empty string.
pub fn empty_root() -> Hash {
    chain::plain(b"")
}

/// The root of the tree whose leaves are `event_hashes`, in seq order.
pub fn root(event_hashes: &[Hash]) -> Hash {
    event_hashes.iter().collect::<Frontier>().root()
}

/// The right edge of a tree built leaf by leaf: the roots of its maximal complete subtrees,
/// leftmost (largest) first, one per set bit of the size. It takes O(log n) memory and about
/// two hashes per leaf, so the root of the first `n` events of any iterator is
/// `events.take(n).collect::<Frontier>().root()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier saved earlier with [`Frontier::size`] and [`Frontier::peaks`]; `None` unless
    /// there is exactly one peak per set bit of `size`. (Tested; nothing saves a frontier yet,
    /// so only the tests call it and `peaks` for now.)
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Option<Self> {
        (peaks.len() == size.count_ones() as usize).then_some(Self { size, peaks })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the maximal complete subtrees, leftmost first.
    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends the leaf of one event hash.
    pub fn push(&mut self, event_hash: &Hash) {
        self.push_observed(event_hash, |_, _, _| {});
    }

    /// [`Frontier::push`], telling `completed(level, index, root)` of every complete subtree
    /// the leaf completes above the leaves: the subtree of leaves `index·2^level ..
    /// (index+1)·2^level`, lowest first.
    pub fn push_observed(&mut self, event_hash: &Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut node = merkle_leaf(event_hash);
        let leaf = self.size;
        // Each trailing one bit of the size is a complete subtree of the new leaf's size.
        for level in 1..=self.size.trailing_ones() {
            // Invariant: one peak per set bit of `size` (kept by `push` and `from_parts`).
            let left = self.peaks.pop().expect("a peak per set bit of the size");
            node = merkle_node(&left, &node);
            completed(level, leaf >> level, &node);
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The tree's root: the peaks folded from the right.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| merkle_node(left, &right))
    }
}

impl<'a> Extend<&'a Hash> for Frontier {
    fn extend<I: IntoIterator<Item = &'a Hash>>(&mut self, event_hashes: I) {
        event_hashes.into_iter().for_each(|h| self.push(h));
    }
}

impl Extend<Hash> for Frontier {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, event_hashes: I) {
        event_hashes.into_iter().for_each(|h| self.push(&h));
    }
}

impl<'a> FromIterator<&'a Hash> for Frontier {
    fn from_iter<I: IntoIterator<Item = &'a Hash>>(event_hashes: I) -> Self {
        let mut f = Self::new();
        f.extend(event_hashes);
        f
    }
}

impl FromIterator<Hash> for Frontier {
    fn from_iter<I: IntoIterator<Item = Hash>>(event_hashes: I) -> Self {
        let mut f = Self::new();
        f.extend(event_hashes);
        f
    }
}

/// The root of leaves `lo..hi` (`lo < hi`, and `lo` a multiple of the largest power of two
/// not above `hi − lo`, as every subtree RFC 9162's proofs ask for is) from the roots of
/// complete aligned subtrees, `perfect(level, index)`: split at the largest power of two below
/// the width, as the tree itself is. O(log n) calls.
pub fn subtree_root_from<E>(
    lo: u64,
    hi: u64,
    perfect: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let width = hi - lo;
    if width.is_power_of_two() && lo.is_multiple_of(width) {
        let level = width.trailing_zeros();
        return perfect(level, lo >> level);
    }
    let k = split(width);
    let left = subtree_root_from(lo, lo + k, perfect)?;
    let right = subtree_root_from(lo + k, hi, perfect)?;
    Ok(merkle_node(&left, &right))
}

/// The inclusion proof of leaf `index` in the tree of the first `size` event hashes (RFC 9162
/// §2.1.3.1), sibling of the leaf first; `None` if `index >= size` or `size` exceeds the
/// leaves given.
// The slice generators are the naive model the tests hold the stored-root path to.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub fn inclusion_proof(event_hashes: &[Hash], index: u64, size: u64) -> Option<Vec<Hash>> {
    let leaves = prefix(event_hashes, size)?;
    inclusion_proof_with(index, size, |lo, hi| {
        root(&leaves[lo as usize..hi as usize])
    })
}

/// [`inclusion_proof`] with the subtree roots served by `subtree_root(lo, hi)`, the root of
/// leaves `lo..hi` (always `lo < hi <= size`).
pub fn inclusion_proof_with(
    index: u64,
    size: u64,
    mut subtree_root: impl FnMut(u64, u64) -> Hash,
) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(index, 0, size, &mut subtree_root, &mut proof);
    Some(proof)
}

/// The consistency proof from the tree of the first `old_size` event hashes to that of the
/// first `new_size` (RFC 9162 §2.1.4.1); empty when `old_size` is 0 or equals `new_size`;
/// `None` if `old_size > new_size` or `new_size` exceeds the leaves given.
// The slice generators are the naive model the tests hold the stored-root path to.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub fn consistency_proof(event_hashes: &[Hash], old_size: u64, new_size: u64) -> Option<Vec<Hash>> {
    let leaves = prefix(event_hashes, new_size)?;
    consistency_proof_with(old_size, new_size, |lo, hi| {
        root(&leaves[lo as usize..hi as usize])
    })
}

/// [`consistency_proof`] with the subtree roots served by `subtree_root(lo, hi)`, the root of
/// leaves `lo..hi` (always `lo < hi <= new_size`).
pub fn consistency_proof_with(
    old_size: u64,
    new_size: u64,
    mut subtree_root: impl FnMut(u64, u64) -> Hash,
) -> Option<Vec<Hash>> {
    if old_size > new_size {
        return None;
    }
    let mut proof = Vec::new();
    if 0 < old_size && old_size < new_size {
        subproof(old_size, 0, new_size, true, &mut subtree_root, &mut proof);
    }
    Some(proof)
}

/// Whether `proof` proves that the event hash `event_hash` is leaf `index` of the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2). The leaf hash is computed here.
/// The proof does not authenticate `size` by itself: take `size` and `root` from one signed
/// checkpoint (see `schema/PROOFS.md`).
pub fn verify_inclusion(
    event_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let mut walk = Walk::new(index, size - 1);
    let mut r = merkle_leaf(event_hash);
    for p in proof {
        match walk.climb() {
            None => return false,
            Some(true) => r = merkle_node(p, &r),
            Some(false) => r = merkle_node(&r, p),
        }
    }
    walk.done() && r == *root
}

/// Whether `proof` proves that the tree of `new_size` leaves with root `new_root` extends the
/// tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2). Edge cases: `old_size >
/// new_size` is rejected; `old_size == 0` needs an empty proof and `old_root` the empty root
/// (and says nothing of `new_root` unless `new_size` is 0 too); `old_size == new_size` needs an
/// empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    let empty = empty_root();
    if old_size > new_size {
        false
    } else if old_size == 0 {
        proof.is_empty() && *old_root == empty && (new_size > 0 || *new_root == empty)
    } else if old_size == new_size {
        proof.is_empty() && old_root == new_root
    } else {
        consistency_roots(old_size, new_size, old_root, proof) == Some((*old_root, *new_root))
    }
}

/// RFC 9162 §2.1.4.2 steps 1 to 6 for `0 < old_size < new_size`: the old and new roots the
/// proof leads to, or `None` if its length is not exactly right.
fn consistency_roots(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    proof: &[Hash],
) -> Option<(Hash, Hash)> {
    if proof.is_empty() {
        return None;
    }
    // A power-of-two old tree is a complete subtree of the new one: its root is the seed.
    let (seed, rest) = match old_size.is_power_of_two() {
        true => (old_root, proof),
        false => proof.split_first()?,
    };
    let mut walk = Walk::new(old_size - 1, new_size - 1);
    walk.skip_right_edges();
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        match walk.climb()? {
            true => (fr, sr) = (merkle_node(c, &fr), merkle_node(c, &sr)),
            false => sr = merkle_node(&sr, c),
        }
    }
    walk.done().then_some((fr, sr))
}

/// The positions `fn` (of the node being hashed up) and `sn` (of the last node at the same
/// level) of RFC 9162's verification algorithms.
struct Walk {
    f: u64,
    s: u64,
}

impl Walk {
    fn new(f: u64, s: u64) -> Self {
        Self { f, s }
    }

    fn shift(&mut self) {
        self.f >>= 1;
        self.s >>= 1;
    }

    /// Step 4 of §2.1.4.2: right-shift while `LSB(fn)` is set.
    fn skip_right_edges(&mut self) {
        while self.f & 1 == 1 {
            self.shift();
        }
    }

    /// One proof element's step: whether the element is the left sibling, then climbs to the
    /// level of the next element; `None` if the root is already reached (`sn == 0`).
    fn climb(&mut self) -> Option<bool> {
        if self.s == 0 {
            return None;
        }
        let left = self.f & 1 == 1 || self.f == self.s;
        if left {
            while self.f & 1 == 0 && self.f != 0 {
                self.shift();
            }
        }
        self.shift();
        Some(left)
    }

    /// Whether the walk ended at the root.
    fn done(&self) -> bool {
        self.s == 0
    }
}

/// The first `size` leaves, if there are that many.
// The slice generators are the naive model the tests hold the stored-root path to.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
fn prefix(event_hashes: &[Hash], size: u64) -> Option<&[Hash]> {
    event_hashes.get(..usize::try_from(size).ok()?)
}

/// The largest power of two smaller than `n`, for `n >= 2`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// RFC 9162 `PATH(m, D[lo:hi])`, appended to `out` deepest first.
fn path(m: u64, lo: u64, hi: u64, sub: &mut impl FnMut(u64, u64) -> Hash, out: &mut Vec<Hash>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split(hi - lo);
    if m < k {
        path(m, lo, lo + k, sub, out);
        out.push(sub(lo + k, hi));
    } else {
        path(m - k, lo + k, hi, sub, out);
        out.push(sub(lo, lo + k));
    }
}

/// RFC 9162 `SUBPROOF(m, D[lo:hi], complete)` for `0 < m <= hi - lo`, appended to `out`
/// deepest first.
fn subproof(
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    sub: &mut impl FnMut(u64, u64) -> Hash,
    out: &mut Vec<Hash>,
) {
    if m == hi - lo {
        if !complete {
            out.push(sub(lo, hi));
        }
        return;
    }
    let k = split(hi - lo);
    if m <= k {
        subproof(m, lo, lo + k, complete, sub, out);
        out.push(sub(lo + k, hi));
    } else {
        subproof(m - k, lo + k, hi, false, sub, out);
        out.push(sub(lo, lo + k));
    }
}
