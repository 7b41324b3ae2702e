//! A complete backup in one file (`kaohe backup --out FILE`), and its restore (`kaohe restore
//! FILE`): the export, every evidence file and every stored checkpoint, so that a restore
//! loses nothing an export leaves out. The format is `schema/BACKUP.md`:
//!
//! ```text
//! kaohe backup v1
//! {export line}…                      the export, byte for byte as `kaohe export` writes it
//! evidence <64 hex> <bytes>           then that many bytes (the file), then a newline
//! checkpoint <bytes>                  then that many bytes (the signed note), then a newline
//! end <64 hex>                        BLAKE3 of every byte before this line
//! ```
//!
//! A restore checks everything before the new ledger appears: the export as `verify --export`
//! does, each evidence file against its hash (and that an event references it), each
//! checkpoint against the restored chain's Merkle root at its size, and the closing hash over
//! the whole file.

use crate::base::limits::{MAX_CHECKPOINT_BYTES, MAX_EVIDENCE_FILE_BYTES};
use crate::events::chain;
use crate::events::event::Hash;
use crate::ledger::{Ledger, LedgerError};
use crate::ops::restore::{self, RestoreError, Restored, Source};
use crate::store::Store;
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// The first line of a backup file.
pub const BACKUP_MAGIC: &str = "kaohe backup v1";

/// What a backup holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub events: u64,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
    pub checkpoints: u64,
    /// BLAKE3 of the backup before its last line (the `end` line's hash).
    pub hash: Hash,
}

/// Writes a complete backup of `ledger` to `out`.
pub fn write(ledger: &Ledger, out: &mut impl Write) -> Result<BackupSummary, LedgerError> {
    let mut w = HashingWriter {
        inner: out,
        hasher: blake3::Hasher::new(),
    };
    let io = |e: std::io::Error| LedgerError::Io(format!("cannot write the backup: {e}"));
    let mut summary = BackupSummary::default();
    writeln!(w, "{BACKUP_MAGIC}").map_err(io)?;
    let mut failed = None;
    ledger.replay_all(|e| {
        let line = crate::ops::export::line(e.body, e.bytes, e.prev_hash, e.hash);
        if let Err(err) = writeln!(w, "{line}") {
            failed = Some(err);
            return Ok(false);
        }
        summary.events += 1;
        Ok(true)
    })?;
    if let Some(e) = failed {
        return Err(io(e));
    }
    let listing = ledger.store().evidence_listing()?;
    for hash in listing.blobs.keys() {
        let bytes = stored_evidence(ledger, hash)?;
        writeln!(w, "evidence {} {}", hex::encode(hash), bytes.len()).map_err(io)?;
        w.write_all(&bytes).map_err(io)?;
        w.write_all(b"\n").map_err(io)?;
        summary.evidence_files += 1;
        summary.evidence_bytes += bytes.len() as u64;
    }
    for (_, note) in ledger.store().checkpoints()? {
        writeln!(w, "checkpoint {}", note.len()).map_err(io)?;
        w.write_all(&note).map_err(io)?;
        w.write_all(b"\n").map_err(io)?;
        summary.checkpoints += 1;
    }
    summary.hash = *w.hasher.finalize().as_bytes();
    writeln!(w.inner, "end {}", hex::encode(summary.hash)).map_err(io)?;
    Ok(summary)
}

/// A stored evidence file, checked against its hash: a damaged file is never backed up as if
/// it were whole.
fn stored_evidence(ledger: &Ledger, hash: &Hash) -> Result<Vec<u8>, LedgerError> {
    let damaged = |why: &str| LedgerError::Damaged {
        seq: ledger.head().next_seq.saturating_sub(1),
        message: format!("the stored evidence file {} {why}", hex::encode(hash)),
    };
    let bytes = ledger
        .store()
        .get_evidence(hash)?
        .ok_or_else(|| damaged("is listed but cannot be read"))?;
    if chain::file_hash(&bytes) != *hash {
        return Err(damaged("is damaged: its bytes do not hash to its name"));
    }
    Ok(bytes)
}

/// True when `head` (the first bytes of a file) is a backup's first line.
pub fn is_backup(head: &[u8]) -> bool {
    head.starts_with(BACKUP_MAGIC.as_bytes())
}

/// Restores a complete backup into a new ledger at `target`: the events, then the evidence
/// files and checkpoints, all checked, before the ledger is moved into place.
pub fn restore(file: &Path, target: &Path) -> Result<(Restored, BackupSummary), RestoreError> {
    let f = std::fs::File::open(file)
        .map_err(|e| RestoreError::Input(format!("cannot read {}: {e}", file.display())))?;
    let mut input = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, f),
        hasher: blake3::Hasher::new(),
    };
    let first = read_line(&mut input, BACKUP_MAGIC.len() + 1)?;
    if first != BACKUP_MAGIC {
        return Err(bad_backup(format!(
            "its first line is not `{BACKUP_MAGIC}`"
        )));
    }
    let staged = {
        let mut export = ExportPart {
            inner: &mut input,
            at_line_start: true,
        };
        restore::build_staged(Source::Reader(&mut export), target, restore::CHUNK_EVENTS)?
    };
    let summary = restore_files(&mut input, &staged.built, staged.restored.events)?;
    let restored = restore::complete(staged)?;
    Ok((restored, summary))
}

/// The sections after the export: evidence files and checkpoints, checked and stored in the
/// ledger being built; then the closing hash.
fn restore_files(
    input: &mut HashingReader<impl BufRead>,
    built: &Path,
    events: u64,
) -> Result<BackupSummary, RestoreError> {
    let ledger = Ledger::open(built).map_err(|e| RestoreError::Build(e.to_string()))?;
    let referenced = crate::ops::evidence::references(ledger.store())?;
    let mut summary = BackupSummary {
        events,
        ..BackupSummary::default()
    };
    loop {
        let before = input.hasher.clone();
        let line = read_line(input, 128)?;
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["evidence", hash, len] => {
                let hash = chain::parse_hash(hash)
                    .filter(|_| hash.bytes().all(|b| !b.is_ascii_uppercase()))
                    .ok_or_else(|| bad_backup(format!("`{line}` names no hash")))?;
                let bytes = read_section(input, len, MAX_EVIDENCE_FILE_BYTES, &line)?;
                store_evidence(ledger.store(), &hash, &bytes, &referenced)?;
                summary.evidence_files += 1;
                summary.evidence_bytes += bytes.len() as u64;
            }
            ["checkpoint", len] => {
                let note = read_section(input, len, MAX_CHECKPOINT_BYTES as u64, &line)?;
                adopt_checkpoint(&ledger, &note)?;
                summary.checkpoints += 1;
            }
            ["end", hash] => {
                let want = *before.finalize().as_bytes();
                if *hash != hex::encode(want) {
                    return Err(RestoreError::BackupNotVerified(
                        "its closing hash does not match its bytes (a damaged or edited backup)"
                            .into(),
                    ));
                }
                summary.hash = want;
                return match input.inner.fill_buf() {
                    Ok([]) => Ok(summary),
                    _ => Err(bad_backup("there are bytes after its `end` line".into())),
                };
            }
            _ => return Err(bad_backup(format!("`{line}` is not a section of a backup"))),
        }
    }
}

/// A section's bytes: `len` (decimal, at most `limit`), then a newline.
fn read_section(
    input: &mut HashingReader<impl BufRead>,
    len: &str,
    limit: u64,
    line: &str,
) -> Result<Vec<u8>, RestoreError> {
    let n: u64 = len.parse().ok().filter(|n| *n <= limit).ok_or_else(|| {
        bad_backup(format!(
            "`{line}`: the length is not a number up to {limit}"
        ))
    })?;
    let mut bytes = vec![0u8; n as usize];
    input
        .read_exact(&mut bytes)
        .map_err(|_| bad_backup(format!("`{line}`: the file ends inside the section")))?;
    let mut newline = [0u8; 1];
    match input.read_exact(&mut newline) {
        Ok(()) if newline == *b"\n" => Ok(bytes),
        _ => Err(bad_backup(format!(
            "`{line}`: no newline after the section"
        ))),
    }
}

fn store_evidence(
    store: &Store,
    hash: &Hash,
    bytes: &[u8],
    referenced: &std::collections::BTreeMap<Hash, Vec<u64>>,
) -> Result<(), RestoreError> {
    if chain::file_hash(bytes) != *hash {
        return Err(RestoreError::BackupNotVerified(format!(
            "its evidence file {} does not hash to its name (a damaged or edited backup)",
            hex::encode(hash)
        )));
    }
    if !referenced.contains_key(hash) {
        return Err(bad_backup(format!(
            "it holds the evidence file {}, which no event references",
            hex::encode(hash)
        )));
    }
    store
        .put_evidence(hash, bytes)
        .map(|_| ())
        .map_err(|e| RestoreError::Build(e.to_string()))
}

/// Stores a checkpoint of the restored ledger after checking it is of this ledger and that
/// its root is the chain's at its size (its signature is checked by whoever holds the key:
/// `verify-receipt` and `verify-consistency`).
fn adopt_checkpoint(ledger: &Ledger, note: &[u8]) -> Result<(), RestoreError> {
    let note =
        std::str::from_utf8(note).map_err(|_| bad_backup("a checkpoint is not UTF-8".into()))?;
    crate::ops::proofs::adopt_checkpoint(ledger, note)
        .map(|_| ())
        .map_err(|e| {
            RestoreError::BackupNotVerified(format!(
                "a checkpoint does not belong to its events: {e}"
            ))
        })
}

fn bad_backup(why: String) -> RestoreError {
    RestoreError::Input(format!("not a kaohe backup, or a damaged one: {why}"))
}

/// One line without its newline, at most `limit` bytes, UTF-8.
fn read_line(input: &mut impl BufRead, limit: usize) -> Result<String, RestoreError> {
    let mut line = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| bad_backup(e.to_string()))?;
    if line.pop() != Some(b'\n') {
        return Err(bad_backup(
            "a line is too long or the file ends early".into(),
        ));
    }
    String::from_utf8(line).map_err(|_| bad_backup("a line is not UTF-8".into()))
}

/// A writer that hashes what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A buffered reader that hashes exactly the bytes consumed from it (not those merely
/// buffered), so that the closing hash covers every byte before the `end` line.
struct HashingReader<R: BufRead> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: BufRead> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The buffer is unchanged between `fill_buf` and `consume` (BufRead's contract), so
        // asking for it again gives the bytes being consumed.
        if let Ok(buf) = self.inner.fill_buf() {
            self.hasher.update(&buf[..n.min(buf.len())]);
        }
        self.inner.consume(n);
    }
}

/// The export part of a backup: its lines, up to the first line that is not a JSON object
/// (which is left unread for the sections after it).
struct ExportPart<'a, R: BufRead> {
    inner: &'a mut HashingReader<R>,
    at_line_start: bool,
}

impl<R: BufRead> Read for ExportPart<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.inner.fill_buf()?;
        if available.is_empty() || (self.at_line_start && available[0] != b'{') {
            return Ok(0);
        }
        let line_end = available
            .iter()
            .position(|&b| b == b'\n')
            .map_or(available.len(), |i| i + 1);
        let n = line_end.min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.at_line_start = available[n - 1] == b'\n';
        self.inner.consume(n);
        Ok(n)
    }
}
