//! The Merkle layer (`kaohe::internals::events::merkle`, `schema/PROOFS.md`):
//!
//! - the worked vectors of `schema/PROOFS.md`, pinned in hex so that the format never drifts;
//! - roots, inclusion and consistency proofs agree with a model written here straight from the
//!   recursive definitions of RFC 9162 §2.1 (MTH, PATH, SUBPROOF), for every index and every
//!   pair of sizes of small trees and of random trees up to 300 leaves;
//! - the verifiers reject every altered proof: a flipped byte in any element, swapped
//!   neighbours, a missing or an extra element, a wrong index, size or root, swapped sizes or
//!   roots; and they never panic, whatever the input.
//!
//! Proofs are generated through a memoised model oracle (`inclusion_proof_with`) so that the
//! exhaustive checks stay fast; the slice-based generators are compared with it on small trees.

use kaohe::internals::events::chain::{self, merkle_leaf, merkle_node};
use kaohe::internals::events::event::Hash;
use kaohe::internals::events::merkle::{self, Frontier};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::HashMap;

fn h(text: &str) -> Hash {
    chain::parse_hash(text).unwrap_or_else(|| panic!("`{text}` is not 64 hex digits"))
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The vector events of `schema/PROOFS.md`: event hash `i` is 32 bytes of value `i`.
fn vector_events(n: u8) -> Vec<Hash> {
    (0..n).map(|i| [i; 32]).collect()
}

/// Distinct pseudo-random event hashes.
fn random_events(seed: u64, n: u64) -> Vec<Hash> {
    let seed = seed.to_le_bytes();
    (0..n)
        .map(|i| chain::plain(&[&seed[..], &i.to_le_bytes()].concat()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The model: RFC 9162 §2.1's recursive definitions, memoised.

/// The largest power of two smaller than `n >= 2`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

struct Model {
    events: Vec<Hash>,
    memo: HashMap<(u64, u64), Hash>,
}

impl Model {
    fn new(events: Vec<Hash>) -> Self {
        Self {
            events,
            memo: HashMap::new(),
        }
    }

    /// MTH(D[lo:hi]).
    fn mth(&mut self, lo: u64, hi: u64) -> Hash {
        if let Some(h) = self.memo.get(&(lo, hi)) {
            return *h;
        }
        let h = match hi - lo {
            0 => chain::plain(b""),
            1 => merkle_leaf(&self.events[lo as usize]),
            n => {
                let k = split(n);
                merkle_node(&self.mth(lo, lo + k), &self.mth(lo + k, hi))
            }
        };
        self.memo.insert((lo, hi), h);
        h
    }

    fn inclusion(&mut self, index: u64, size: u64) -> Vec<Hash> {
        merkle::inclusion_proof_with(index, size, |lo, hi| self.mth(lo, hi)).expect("index < size")
    }

    fn consistency(&mut self, old: u64, new: u64) -> Vec<Hash> {
        merkle::consistency_proof_with(old, new, |lo, hi| self.mth(lo, hi)).expect("old <= new")
    }
}

/// PATH(m, D[n]) as the elements' sides, deepest first: `true` for a left sibling.
fn path_shape(m: u64, n: u64) -> Vec<bool> {
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    let (mut shape, left) = match m < k {
        true => (path_shape(m, k), false),
        false => (path_shape(m - k, n - k), true),
    };
    shape.push(left);
    shape
}

/// SUBPROOF(m, D[n], b) as the elements' sides, deepest first: `true` for a left sibling (an
/// element of both trees), `false` for a right one (of the new tree only), and the seed
/// (`None`) when the proof carries the old tree's own subtree.
fn subproof_shape(m: u64, n: u64, complete: bool) -> Vec<Option<bool>> {
    if m == n {
        return if complete { vec![] } else { vec![None] };
    }
    let k = split(n);
    let (mut shape, side) = match m <= k {
        true => (subproof_shape(m, k, complete), false),
        false => (subproof_shape(m - k, n - k, false), true),
    };
    shape.push(Some(side));
    shape
}

/// Whether a proof for `(index, size)` verifies as one for `(index2, size2)` against the same
/// root: exactly when the verifier does the same hashing for both.
fn inclusion_same_shape(index: u64, size: u64, index2: u64, size2: u64) -> bool {
    index2 < size2 && path_shape(index, size) == path_shape(index2, size2)
}

/// Same for consistency proofs, `0 < old < new`.
fn consistency_same_shape(old: u64, new: u64, old2: u64, new2: u64) -> bool {
    0 < old2 && old2 < new2 && subproof_shape(old, new, true) == subproof_shape(old2, new2, true)
}

// ---------------------------------------------------------------------------------------------
// The pinned vectors of schema/PROOFS.md.

const EMPTY: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

const LEAVES: [&str; 3] = [
    "232b17a92a13d46fdeeba07519406dcdad6d67b7399159364b5e26af0ab95bcf",
    "a2ddb4931d05ba6281549052c62d2780a2d3ac29514c0a77598283d61e861206",
    "ada21777220442b46d8e0b3fe5a5099502eca1cb91e919758c33a320bc9f2d88",
];

/// Roots of the vector trees of sizes 1 to 8.
const ROOTS: [&str; 8] = [
    "232b17a92a13d46fdeeba07519406dcdad6d67b7399159364b5e26af0ab95bcf",
    "601ae0d333efaf511cc72652be96836dc134955fc1c681ff185f99b5a12b2ae5",
    "3f97043de3a7a8fe71e55454f9f9dead4e44301744481419a20754c5a4f5ee38",
    "0429a1b33a4380638861ac320355688368261d8ed7ff2acb4b9701a8480b9e4b",
    "e6072121201b0f45dece141a4783b36b646b545bdde45368a59f50f52d4ecd55",
    "a8cd6567f2d79ef21a12b24ab0f582df630d715b4b9e91ca990779775e0e2171",
    "86e6ed55103cc18ad02044adebbe358f7bbad2c542c086973de8a1813e3bb83e",
    "d02f2e47c40dae9ee4408bea7af7b740ede960abf340d954e910250c1aa994cb",
];

/// Inclusion of leaf 5 in the tree of 7.
const INCLUSION_5_OF_7: [&str; 3] = [
    "ecb2bfa29ca32cd4afafa7021bf444ce0956ad6f04d024d0a4ce5afe6f229d10",
    "0d604e0af588009fa5babdae6568deb547e996f0c3232dade6df0c5433163b07",
    "0429a1b33a4380638861ac320355688368261d8ed7ff2acb4b9701a8480b9e4b",
];

/// Inclusion of leaf 0 in the tree of 5.
const INCLUSION_0_OF_5: [&str; 3] = [
    "a2ddb4931d05ba6281549052c62d2780a2d3ac29514c0a77598283d61e861206",
    "c747007bb034f2e8f17688207accd745d7e5e4c12edddf7ddd331ef68f711b0d",
    "ecb2bfa29ca32cd4afafa7021bf444ce0956ad6f04d024d0a4ce5afe6f229d10",
];

/// Consistency of the tree of 3 with the tree of 7.
const CONSISTENCY_3_TO_7: [&str; 4] = [
    "ada21777220442b46d8e0b3fe5a5099502eca1cb91e919758c33a320bc9f2d88",
    "7e14f3d3c9ad356fc347f27541758e9af6fa7b71480d1933065abd0b649f3f8d",
    "601ae0d333efaf511cc72652be96836dc134955fc1c681ff185f99b5a12b2ae5",
    "f02ce904154b86be4b9d50197ed65fb6feb317d8ea48141fc54285554c390dfa",
];

/// Consistency of the tree of 4 with the tree of 7.
const CONSISTENCY_4_TO_7: [&str; 1] =
    ["f02ce904154b86be4b9d50197ed65fb6feb317d8ea48141fc54285554c390dfa"];

#[test]
fn vector_hashing() {
    assert_eq!(hex::encode(merkle::empty_root()), EMPTY);
    assert_eq!(hex::encode(merkle::root(&[])), EMPTY);
    assert_eq!(hex::encode(Frontier::new().root()), EMPTY);
    let events = vector_events(8);
    for (e, leaf) in events.iter().zip(LEAVES) {
        assert_eq!(hex::encode(merkle_leaf(e)), leaf);
    }
    let node01 = merkle_node(&h(LEAVES[0]), &h(LEAVES[1]));
    assert_eq!(hex::encode(node01), ROOTS[1]);
}

#[test]
fn vector_roots() {
    let events = vector_events(8);
    for (n, want) in (1..=8).zip(ROOTS) {
        assert_eq!(hex::encode(merkle::root(&events[..n])), want, "size {n}");
        let frontier: Frontier = events[..n].iter().collect();
        assert_eq!(hex::encode(frontier.root()), want, "frontier of size {n}");
    }
}

#[test]
fn vector_inclusion_proofs() {
    let events = vector_events(8);
    for (index, size, want) in [(5, 7, &INCLUSION_5_OF_7), (0, 5, &INCLUSION_0_OF_5)] {
        let proof = merkle::inclusion_proof(&events, index, size).expect("in range");
        assert_eq!(hexes(&proof), want, "leaf {index} of {size}");
        let root = h(ROOTS[size as usize - 1]);
        assert!(merkle::verify_inclusion(
            &events[index as usize],
            index,
            size,
            &proof,
            &root
        ));
    }
}

#[test]
fn vector_consistency_proofs() {
    let events = vector_events(8);
    let cases: [(u64, u64, &[&str]); 2] =
        [(3, 7, &CONSISTENCY_3_TO_7), (4, 7, &CONSISTENCY_4_TO_7)];
    for (old, new, want) in cases {
        let proof = merkle::consistency_proof(&events, old, new).expect("old <= new");
        assert_eq!(hexes(&proof), want, "{old} to {new}");
        let (r_old, r_new) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
        assert!(merkle::verify_consistency(old, new, &r_old, &r_new, &proof));
    }
}

/// RFC 9162 leaves the size out of an inclusion proof: the size (like the root) must come
/// from a signed checkpoint. Leaf 0's proof in the tree of 5 has the shape of one in the tree
/// of 6, so it "verifies" for size 6 against the root of size 5; PROOFS.md says so.
#[test]
fn size_is_bound_by_the_checkpoint_not_by_the_proof() {
    let events = vector_events(8);
    let proof = merkle::inclusion_proof(&events, 0, 5).expect("in range");
    let root5 = h(ROOTS[4]);
    assert!(merkle::verify_inclusion(&events[0], 0, 6, &proof, &root5));
    assert!(!merkle::verify_inclusion(&events[0], 0, 4, &proof, &root5));
    assert!(!merkle::verify_inclusion(&events[0], 0, 9, &proof, &root5));
}

// ---------------------------------------------------------------------------------------------
// Generation edge cases and the slice-based generators.

#[test]
fn generators_refuse_what_does_not_exist() {
    let events = vector_events(5);
    assert_eq!(merkle::inclusion_proof(&events, 5, 5), None);
    assert_eq!(merkle::inclusion_proof(&events, 0, 0), None);
    assert_eq!(merkle::inclusion_proof(&events, 0, 6), None);
    assert_eq!(merkle::consistency_proof(&events, 3, 2), None);
    assert_eq!(merkle::consistency_proof(&events, 3, 6), None);
    assert_eq!(merkle::consistency_proof(&events, 0, 5), Some(vec![]));
    assert_eq!(merkle::consistency_proof(&events, 5, 5), Some(vec![]));
    assert_eq!(merkle::consistency_proof(&events, 0, 0), Some(vec![]));
    assert_eq!(merkle::inclusion_proof(&events, 0, 1), Some(vec![]));
}

#[test]
fn slice_generators_agree_with_the_model() {
    for n in 0..=33 {
        let events = random_events(n, n);
        let mut model = Model::new(events.clone());
        assert_eq!(merkle::root(&events), model.mth(0, n), "root of {n}");
        for i in 0..n {
            assert_eq!(
                merkle::inclusion_proof(&events, i, n),
                Some(model.inclusion(i, n))
            );
        }
        for old in 0..=n {
            let proof = merkle::consistency_proof(&events, old, n);
            assert_eq!(proof, Some(model.consistency(old, n)), "{old} to {n}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checks, shared by the exhaustive tests and the properties.

/// Every variant of a proof with one element changed, two neighbours swapped, one element
/// missing or one too many.
fn forgeries(proof: &[Hash], stranger: &Hash) -> Vec<(String, Vec<Hash>)> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i][i % 32] ^= 1 << (i % 8);
        out.push((format!("flipped byte in element {i}"), p));
        let mut p = proof.to_vec();
        p.remove(i);
        out.push((format!("element {i} removed"), p));
        if i + 1 < proof.len() {
            assert_ne!(proof[i], proof[i + 1], "distinct siblings");
            let mut p = proof.to_vec();
            p.swap(i, i + 1);
            out.push((format!("elements {i} and {} swapped", i + 1), p));
        }
    }
    for at in [0, proof.len()] {
        let mut p = proof.to_vec();
        p.insert(at, *stranger);
        out.push((format!("extra element at {at}"), p));
    }
    out
}

fn flip(hash: &Hash) -> Hash {
    let mut h = *hash;
    h[31] ^= 0x80;
    h
}

/// Leaf `index` of the model's tree of `size`: its proof verifies, and nothing else does.
fn check_inclusion(model: &mut Model, index: u64, size: u64) {
    let event = model.events[index as usize];
    let root = model.mth(0, size);
    let proof = model.inclusion(index, size);
    let verify =
        |e: &Hash, i: u64, n: u64, p: &[Hash], r: &Hash| merkle::verify_inclusion(e, i, n, p, r);
    assert!(
        verify(&event, index, size, &proof, &root),
        "leaf {index} of {size}"
    );
    for (what, forged) in forgeries(&proof, &root) {
        assert!(
            !verify(&event, index, size, &forged, &root),
            "{what}: leaf {index} of {size}"
        );
    }
    for i2 in [index.wrapping_sub(1), index + 1, index + size, u64::MAX] {
        assert!(
            !verify(&event, i2, size, &proof, &root),
            "index {i2} for {index} of {size}"
        );
    }
    for n2 in [size - 1, size + 1, 2 * size, u64::MAX] {
        let same = inclusion_same_shape(index, size, index, n2);
        assert_eq!(
            verify(&event, index, n2, &proof, &root),
            same,
            "size {n2}: {index} of {size}"
        );
    }
    assert!(
        !verify(&event, index, size, &proof, &flip(&root)),
        "wrong root"
    );
    assert!(
        !verify(&flip(&event), index, size, &proof, &root),
        "wrong event"
    );
    assert!(
        !verify(&merkle_leaf(&event), index, size, &proof, &root),
        "leaf hash as event hash"
    );
}

/// The model's trees of `old` and `new`: the proof verifies, and nothing else does.
fn check_consistency(model: &mut Model, old: u64, new: u64) {
    let (r_old, r_new) = (model.mth(0, old), model.mth(0, new));
    let proof = model.consistency(old, new);
    let verify = merkle::verify_consistency;
    assert!(verify(old, new, &r_old, &r_new, &proof), "{old} to {new}");
    if old == 0 || old == new {
        return check_trivial_consistency(old, new, &r_old, &r_new);
    }
    for (what, forged) in forgeries(&proof, &r_old) {
        assert!(
            !verify(old, new, &r_old, &r_new, &forged),
            "{what}: {old} to {new}"
        );
    }
    let sizes = [
        (old - 1, new),
        (old + 1, new),
        (old, new - 1),
        (old, new + 1),
        (new, old),
    ];
    for (o2, n2) in sizes {
        let same = consistency_same_shape(old, new, o2, n2);
        assert_eq!(
            verify(o2, n2, &r_old, &r_new, &proof),
            same,
            "{o2} to {n2} for {old} to {new}"
        );
    }
    assert!(!verify(new, old, &r_new, &r_old, &proof), "swapped");
    assert!(!verify(old, new, &r_new, &r_old, &proof), "swapped roots");
    assert!(
        !verify(old, new, &flip(&r_old), &r_new, &proof),
        "wrong old root"
    );
    assert!(
        !verify(old, new, &r_old, &flip(&r_new), &proof),
        "wrong new root"
    );
    assert!(!verify(old, new, &r_old, &r_new, &[]), "empty proof");
}

/// RFC 9162's edge cases: from size 0 (any tree extends the empty one) and to the same size
/// (the proof is empty and the roots are equal); both only with an empty proof.
fn check_trivial_consistency(old: u64, new: u64, r_old: &Hash, r_new: &Hash) {
    let verify = merkle::verify_consistency;
    assert!(
        !verify(old, new, r_old, r_new, &[*r_old]),
        "non-empty proof, {old} to {new}"
    );
    assert!(
        !verify(old, new, &flip(r_old), r_new, &[]),
        "wrong old root, {old} to {new}"
    );
    if new > old {
        assert!(
            !verify(new, old, r_new, r_old, &[]),
            "swapped, {old} to {new}"
        );
    }
    // From size 0 nothing about the new root can be checked; at the same size it must match.
    let other_new_root = verify(old, new, r_old, &flip(r_new), &[]);
    assert_eq!(
        other_new_root,
        old == 0 && new > 0,
        "wrong new root, {old} to {new}"
    );
}

#[test]
fn every_proof_of_small_trees() {
    for n in 0..=48 {
        let mut model = Model::new(random_events(1000 + n, n));
        for i in 0..n {
            check_inclusion(&mut model, i, n);
        }
        for old in 0..=n {
            check_consistency(&mut model, old, n);
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let empty = merkle::empty_root();
    let events = vector_events(8);
    let (r1, r4) = (merkle::root(&events[..1]), merkle::root(&events[..4]));
    let verify = merkle::verify_consistency;
    assert!(verify(0, 0, &empty, &empty, &[]));
    assert!(!verify(0, 0, &empty, &r1, &[]));
    assert!(!verify(0, 0, &r1, &r1, &[]));
    assert!(verify(0, 4, &empty, &r4, &[]));
    assert!(!verify(0, 4, &r1, &r4, &[]));
    assert!(!verify(0, 4, &empty, &r4, &[r4]));
    assert!(verify(4, 4, &r4, &r4, &[]));
    assert!(!verify(4, 4, &r4, &r1, &[]));
    assert!(!verify(4, 4, &r4, &r4, &[r4]));
    assert!(!verify(4, 1, &r4, &r1, &[]));
    assert!(!verify(u64::MAX, 0, &r4, &r1, &[]));
    // A power-of-two old tree's root is implicit: sending it too is an extra element.
    let proof = merkle::consistency_proof(&events, 4, 7).expect("4 <= 7");
    let r7 = merkle::root(&events[..7]);
    assert!(!verify(4, 7, &r4, &r7, &[&[r4], &proof[..]].concat()));
}

/// With domain separation an interior node is no leaf: the classic second-preimage attack
/// (present the two children of a node as "events" of a smaller tree) fails.
#[test]
fn interior_nodes_are_not_leaves() {
    let events = vector_events(4);
    let root = merkle::root(&events);
    let n01 = merkle_node(&merkle_leaf(&events[0]), &merkle_leaf(&events[1]));
    let n23 = merkle_node(&merkle_leaf(&events[2]), &merkle_leaf(&events[3]));
    assert_eq!(merkle_node(&n01, &n23), root);
    assert!(!merkle::verify_inclusion(&n01, 0, 2, &[n23], &root));
    assert_ne!(merkle::root(&[n01, n23]), root);
}

#[test]
fn frontier_saves_and_resumes() {
    let events = random_events(7, 100);
    let mut whole = Frontier::new();
    for (n, e) in events.iter().enumerate() {
        let saved = Frontier::from_parts(whole.size(), whole.peaks().to_vec()).expect("valid");
        assert_eq!(saved, whole);
        assert_eq!(whole.size(), n as u64);
        assert_eq!(whole.peaks().len(), n.count_ones() as usize);
        whole.push(e);
    }
    let mut resumed = Frontier::from_parts(0, vec![]).expect("empty");
    resumed.extend(events.iter().copied());
    assert_eq!(resumed.root(), merkle::root(&events));
    assert_eq!(Frontier::from_parts(3, vec![[0; 32]]), None);
    assert_eq!(Frontier::from_parts(0, vec![[0; 32]]), None);
}

#[test]
fn verifiers_stop_early_on_overlong_proofs() {
    let proof = vec![[7u8; 32]; 100_000];
    let root = [9u8; 32];
    assert!(!merkle::verify_inclusion(
        &root,
        u64::MAX - 1,
        u64::MAX,
        &proof,
        &root
    ));
    assert!(!merkle::verify_consistency(
        1,
        u64::MAX,
        &root,
        &root,
        &proof
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties on random trees.

fn any_size() -> impl Strategy<Value = u64> {
    prop_oneof![0..600u64, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
}

proptest! {
    #![proptest_config(Config::with_cases(32))]

    #[test]
    fn every_proof_of_random_trees(seed in any::<u64>(), n in 1..=300u64) {
        let mut model = Model::new(random_events(seed, n));
        let mut frontier = Frontier::new();
        for i in 0..n {
            prop_assert_eq!(frontier.root(), model.mth(0, i));
            frontier.push(&model.events[i as usize]);
            check_inclusion(&mut model, i, n);
        }
        prop_assert_eq!(frontier.root(), model.mth(0, n));
        prop_assert_eq!(merkle::root(&model.events), model.mth(0, n));
        for old in 0..=n {
            check_consistency(&mut model, old, n);
        }
    }
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn verifiers_never_panic(
        a in any_size(),
        b in any_size(),
        proof in prop::collection::vec(any::<[u8; 32]>(), 0..70),
        x in any::<[u8; 32]>(),
        y in any::<[u8; 32]>(),
    ) {
        prop_assert!(!merkle::verify_inclusion(&x, a, b, &proof, &y));
        let accepted = merkle::verify_consistency(a, b, &x, &y, &proof);
        // Only the trivial case can hold by chance: the empty tree extended without a proof.
        let trivial = a == 0 && b > 0 && proof.is_empty() && x == merkle::empty_root();
        prop_assert_eq!(accepted, trivial);
    }
}

/// Guards the kept subtree roots (issue 17): `subtree_root_from`, served the complete aligned
/// subtrees of the model, gives the model's root of every range a proof asks for, and
/// `Frontier::push_observed` reports exactly the complete aligned subtrees, each with its
/// model root, as the leaf that completes it is pushed.
#[test]
fn subtree_roots_from_complete_subtrees_and_the_observed_pushes_match_the_model() {
    for n in [1u64, 2, 3, 5, 8, 255, 256, 257, 511, 513, 1000] {
        let events = random_events(n, n);
        let mut f = Frontier::new();
        let mut seen = Vec::new();
        for (i, e) in events.iter().enumerate() {
            f.push_observed(e, |level, index, root| {
                let lo = (index << level) as usize;
                let hi = ((index + 1) << level) as usize;
                assert_eq!(hi, i + 1, "completed by the leaf just pushed");
                assert_eq!(
                    *root,
                    merkle::root(&events[lo..hi]),
                    "level {level} index {index}"
                );
                seen.push((level, index));
            });
        }
        let expected: usize = (1..64).map(|l| (n >> l) as usize).sum();
        assert_eq!(
            seen.len(),
            expected,
            "every complete subtree of {n} leaves, once"
        );
        let mut perfect = |level: u32, index: u64| -> Result<Hash, ()> {
            let lo = (index << level) as usize;
            Ok(merkle::root(&events[lo..lo + (1 << level)]))
        };
        assert_eq!(
            merkle::subtree_root_from(0, n, &mut perfect),
            Ok(merkle::root(&events))
        );
        for index in (0..n).step_by(7) {
            let served = merkle::inclusion_proof_with(index, n, |lo, hi| {
                merkle::subtree_root_from(lo, hi, &mut perfect).unwrap()
            });
            assert_eq!(
                served,
                merkle::inclusion_proof(&events, index, n),
                "n {n} index {index}"
            );
        }
        for old in (1..n).step_by(13) {
            let served = merkle::consistency_proof_with(old, n, |lo, hi| {
                merkle::subtree_root_from(lo, hi, &mut perfect).unwrap()
            });
            assert_eq!(
                served,
                merkle::consistency_proof(&events, old, n),
                "{old} → {n}"
            );
        }
    }
}
