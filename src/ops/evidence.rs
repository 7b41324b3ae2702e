//! Evidence files: read with a bound, named by their BLAKE3 hash in a `blake3:<hex> <name>`
//! evidence reference, stored once in the ledger's content-addressed store
//! ([`crate::store::Store::put_evidence`]), and checked by `verify --evidence`.
//!
//! The event format does not change: a stored file is an ordinary evidence reference whose
//! text starts with [`REFERENCE_PREFIX`] and 64 hex digits, so the hash is covered by the
//! chain (and by the signature of a signed event).

use crate::base::limits::{MAX_EVIDENCE_CHARS, MAX_EVIDENCE_FILE_BYTES};
use crate::domain::rules;
use crate::events::chain;
use crate::events::event::{EventKind, Hash};
use crate::ledger::{read_checked, LedgerError};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How an evidence reference to a stored file begins.
pub use crate::domain::rules::REFERENCE_PREFIX;

/// An evidence file read from disk, ready to be stored and referenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFile {
    pub hash: Hash,
    pub bytes: Vec<u8>,
    /// `blake3:<hex> <file name>`, at most [`MAX_EVIDENCE_CHARS`] characters.
    pub reference: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence file {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("evidence file {} is {size} bytes; the limit is {limit} bytes ({} MiB)", path.display(), limit / (1024 * 1024))]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
}

/// Reads an evidence file (a regular file of at most [`MAX_EVIDENCE_FILE_BYTES`]) and hashes it.
pub fn read_file(path: &Path) -> Result<EvidenceFile, EvidenceError> {
    read_file_limited(path, MAX_EVIDENCE_FILE_BYTES)
}

/// [`read_file`] with a given limit.
pub fn read_file_limited(path: &Path, limit: u64) -> Result<EvidenceFile, EvidenceError> {
    let unreadable = |message: String| EvidenceError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(format!("cannot read it: {e}")))?;
    if meta.is_dir() {
        return Err(unreadable("is a directory; give a file".into()));
    }
    if !meta.is_file() {
        return Err(unreadable("is not a regular file".into()));
    }
    let too_large = |size: u64| EvidenceError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let f = std::fs::File::open(path).map_err(|e| unreadable(format!("cannot read it: {e}")))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    let hash = chain::file_hash(&bytes);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(EvidenceFile {
        hash,
        bytes,
        reference: reference(&hash, &name),
    })
}

/// `blake3:<hex> <name>`: the name loses characters a reader could not see (replaced by `_`)
/// and is cut to fit [`MAX_EVIDENCE_CHARS`]; the hash is never cut.
pub fn reference(hash: &Hash, name: &str) -> String {
    let mut r = format!("{REFERENCE_PREFIX}{}", hex::encode(hash));
    let room = MAX_EVIDENCE_CHARS - r.chars().count() - 1;
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_control() || crate::base::text::is_invisible(c) {
                '_'
            } else {
                c
            }
        })
        .take(room)
        .collect();
    let name = name.trim();
    if !name.is_empty() {
        r.push(' ');
        r.push_str(name);
    }
    r
}

/// The hash a `blake3:<64 lower-case hex>[ name]` reference names; `None` for any other
/// reference ([`rules::stored_file`]).
pub fn parse_reference(text: &str) -> Option<Hash> {
    rules::stored_file(text.trim())
}

/// The evidence references of an event.
pub fn references_of(kind: &EventKind) -> &[String] {
    match kind {
        EventKind::PointsRecorded(p) => &p.evidence,
        EventKind::MetricReported(m) => &m.evidence,
        EventKind::AppealFiled(a) => &a.evidence,
        EventKind::AppealDecided(d) => &d.evidence,
        EventKind::RecordReversed(r) => &r.evidence,
        _ => &[],
    }
}

/// Every stored file an event references: hash → the seqs that reference it, in order.
pub fn references(store: &Store) -> Result<BTreeMap<Hash, Vec<u64>>, LedgerError> {
    let mut refs: BTreeMap<Hash, Vec<u64>> = BTreeMap::new();
    read_checked(store, 0, u64::MAX, &chain::GENESIS_PREV, |e| {
        for r in references_of(e.body.kind()) {
            if let Some(h) = parse_reference(r) {
                let seqs = refs.entry(h).or_default();
                if seqs.last() != Some(&e.seq) {
                    seqs.push(e.seq);
                }
            }
        }
        Ok(true)
    })?;
    Ok(refs)
}

/// What checking the stored evidence files found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Stored blobs and their sizes.
    pub stored: BTreeMap<Hash, u64>,
    /// Referenced hashes and the seqs that reference them.
    pub references: BTreeMap<Hash, Vec<u64>>,
    /// Stored blobs whose bytes do not hash to their name, with what is wrong.
    pub damaged: Vec<(Hash, String)>,
    /// References with no stored blob: (seq, hash), in seq order.
    pub missing: Vec<(u64, Hash)>,
    /// Stored blobs no event references (left by a refused or interrupted command; harmless).
    pub unreferenced: Vec<Hash>,
    /// Other entries of the evidence directory (`.tmp` leftovers; harmless).
    pub leftovers: Vec<String>,
}

impl Check {
    /// True when no stored file is damaged and every reference has its file.
    pub fn ok(&self) -> bool {
        self.damaged.is_empty() && self.missing.is_empty()
    }
}

/// Re-hashes every stored evidence file and checks that every `blake3:` reference of every
/// event has its file.
pub fn check(store: &Store) -> Result<Check, LedgerError> {
    let listing = store.evidence_listing()?;
    let references = references(store)?;
    let mut check = Check {
        leftovers: listing.leftovers,
        ..Check::default()
    };
    for hash in listing.blobs.keys() {
        match store.get_evidence(hash) {
            Ok(Some(bytes)) => {
                let actual = chain::file_hash(&bytes);
                if actual != *hash {
                    check.damaged.push((
                        *hash,
                        format!("its {} bytes hash to {}", bytes.len(), hex::encode(actual)),
                    ));
                }
            }
            Ok(None) => check.damaged.push((*hash, "it vanished while read".into())),
            Err(StoreError::Corrupt(m)) => check.damaged.push((*hash, m)),
            Err(e) => return Err(e.into()),
        }
        if !references.contains_key(hash) {
            check.unreferenced.push(*hash);
        }
    }
    let mut missing: Vec<(u64, Hash)> = references
        .iter()
        .filter(|(h, _)| !listing.blobs.contains_key(*h))
        .flat_map(|(h, seqs)| seqs.iter().map(move |s| (*s, *h)))
        .collect();
    missing.sort();
    check.missing = missing;
    check.stored = listing.blobs;
    check.references = references;
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_keeps_its_hash_and_fits() {
        let h = chain::file_hash(b"x");
        let r = reference(&h, &"长".repeat(400));
        assert_eq!(r.chars().count(), MAX_EVIDENCE_CHARS);
        assert_eq!(parse_reference(&r), Some(h));
        assert_eq!(parse_reference(&reference(&h, "")), Some(h));
        assert_eq!(
            reference(&h, "a\u{200B}b"),
            format!("blake3:{} a_b", hex::encode(h))
        );
        assert_eq!(parse_reference("blake3:xyz"), None);
        assert_eq!(
            parse_reference(&format!("blake3:{}x", hex::encode(h))),
            None
        );
        assert_eq!(parse_reference("常武司基〔2018〕61号"), None);
    }
}
