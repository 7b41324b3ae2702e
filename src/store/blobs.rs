//! Evidence files: blobs in [`EVIDENCE_DIR`] named by the 64 lowercase hex digits of their
//! BLAKE3 hash, written once (`base::files`: `<hex>.tmp` created exclusively, synced,
//! renamed, directory synced).

use crate::base::files::{write_whole, Leftover, Place};
use crate::base::limits::MAX_EVIDENCE_FILE_BYTES;
use crate::events::event::Hash;
use crate::store::layout::{file_error, file_len, Store, StoreError, EVIDENCE_DIR};
use crate::store::segments::read_range;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The stored evidence files: blobs by hash with their sizes, and any other entries of the
/// evidence directory (leftover `.tmp` files of an interrupted store, stray files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceListing {
    pub blobs: BTreeMap<Hash, u64>,
    pub leftovers: Vec<String>,
}

fn sync_dir(d: &Path) -> Result<(), StoreError> {
    File::open(d)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error(&format!("cannot sync {}", d.display()), e))
}

impl Store {
    fn evidence_path(&self, hash: &Hash) -> PathBuf {
        self.path.join(EVIDENCE_DIR).join(hex::encode(hash))
    }

    /// Stores an evidence file under its hash, once: `false` when it was already stored. The
    /// caller hashed `bytes`; the blob is written to `<hex>.tmp` (created exclusively, never
    /// through a link), synced and renamed, and the directory synced, so a stored blob is
    /// whole or absent.
    pub fn put_evidence(&self, hash: &Hash, bytes: &[u8]) -> Result<bool, StoreError> {
        let dir = self.path.join(EVIDENCE_DIR);
        let target = self.evidence_path(hash);
        if target.is_file() {
            return Ok(false);
        }
        if !dir.is_dir() {
            std::fs::create_dir(&dir)
                .map_err(|e| file_error(&format!("cannot create {}", dir.display()), e))?;
            sync_dir(&self.path)?;
        }
        // A leftover `<hex>.tmp` of an interrupted store is unlinked first: the store is locked.
        write_whole(&target, bytes, 0o666, Leftover::Remove, Place::Replace).map_err(|e| {
            StoreError::Io(format!(
                "cannot store evidence file {}: {e}",
                target.display()
            ))
        })?;
        Ok(true)
    }

    /// Whether an evidence file is stored under `hash` (its bytes are not read).
    pub fn has_evidence(&self, hash: &Hash) -> bool {
        self.evidence_path(hash).is_file()
    }

    /// The stored bytes of an evidence file, or `None` when it is not stored. Not checked
    /// against the hash: the caller re-hashes. A blob larger than
    /// [`MAX_EVIDENCE_FILE_BYTES`] was never stored by kaohe and is reported as damage.
    pub fn get_evidence(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.evidence_path(hash);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(&format!("cannot read {}", path.display()), e)),
        };
        let len = file_len(&f)?;
        if len > MAX_EVIDENCE_FILE_BYTES || !f.metadata().is_ok_and(|m| m.is_file()) {
            return Err(StoreError::Corrupt(format!(
                "the stored evidence file {} is not a file of at most {MAX_EVIDENCE_FILE_BYTES} bytes",
                hex::encode(hash)
            )));
        }
        read_range(&f, 0, len).map(Some)
    }

    /// Every stored evidence blob with its size, and the other entries of the evidence
    /// directory by name.
    pub fn evidence_listing(&self) -> Result<EvidenceListing, StoreError> {
        let dir = self.path.join(EVIDENCE_DIR);
        let mut listing = EvidenceListing::default();
        let entries = match std::fs::read_dir(&dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
            Err(e) => return Err(file_error(&format!("cannot read {}", dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| file_error("cannot read the evidence directory", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry
                .metadata()
                .map_err(|e| file_error("cannot read the evidence directory", e))?;
            let hash = (name.len() == 64
                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| crate::events::chain::parse_hash(&name))
            .flatten();
            match hash {
                Some(h) if meta.is_file() => {
                    listing.blobs.insert(h, meta.len());
                }
                _ => listing.leftovers.push(name),
            }
        }
        listing.leftovers.sort();
        Ok(listing)
    }
}
