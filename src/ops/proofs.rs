//! Checkpoints, receipts and consistency files: what `merkle` proves, signed and packaged so
//! that anyone holding the ledger's checkpoint key can check it offline, with no ledger.
//! `schema/PROOFS.md` is the normative description (sections "Checkpoint", "Receipt" and
//! "Consistency file"); this module follows it.
//!
//! - A **checkpoint** is a C2SP `tlog-checkpoint` in a C2SP `signed-note`: the text
//!   `kaohe/<ledger id hex>\n<size>\n<base64 root>\n`, a blank line, and one Ed25519 signature
//!   line `— <origin> <base64(key hash (4) || signature (64))>\n`. It is stored in the ledger
//!   (`Store::put_checkpoint`) but is not an event: the chain does not change. Witnesses append
//!   their cosignature lines (`ops::witness`); every reader of a note takes them, finds the
//!   log's line by its key hash and keeps the others byte for byte.
//! - A **receipt** is one event (as an export line's object), its inclusion proof, and the
//!   checkpoint the proof leads to.
//! - A **consistency file** is two checkpoints and the proof that the newer tree extends the
//!   older one.
//!
//! Verification is strict and exact: a file that is not the right JSON shape is
//! [`ProofError::Unreadable`]; a receipt or consistency file that does not prove what it claims
//! is [`ProofError::Failed`], naming the first check that failed.
//!
//! Cost: a checkpoint hashes every event hash once (the root, from the events themselves) and
//! keeps the roots of the complete subtrees of 256 leaves and up on the way
//! (`Store::put_checkpoint_with`; 1/128 of a hash per event), checking any it kept before.
//! Receipts and consistency files are made from those kept roots ([`Tree`]): O(log n) reads
//! and at most two tiles of 256 event hashes, whatever the ledger's size. A root not kept
//! (a ledger checkpointed before they were, a size past the last checkpoint) is computed from
//! its children, down to the event hashes. Every proof made is checked against its
//! checkpoint's root before it is given out, so a damaged kept root is refused, never
//! passed on.

use crate::base::limits::{MAX_CHECKPOINT_BYTES, MAX_NOTE_SIGNATURES, MAX_PROOF_HASHES};
use crate::events::chain;
use crate::events::event::Hash;
use crate::events::merkle;
use crate::events::sign::{self, KeyPair};
use crate::ledger::{Ledger, LedgerError};
use crate::ops::export;
use crate::store::StoreError;
use base64ct::{Base64, Encoding as _};
use serde_json::{json, Map, Value};

/// The `format` of a receipt.
pub const RECEIPT_FORMAT: &str = "kaohe-receipt-v1";
/// The `format` of a consistency file.
pub const CONSISTENCY_FORMAT: &str = "kaohe-consistency-v1";
/// The origin's prefix; the ledger id (32 lowercase hex digits) follows.
pub const ORIGIN_PREFIX: &str = "kaohe/";
/// A signature line starts with an em dash (U+2014) and a space.
pub const SIGNATURE_LINE_START: &str = "\u{2014} ";

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The input is not a receipt or consistency file at all (not JSON, a field missing, unknown
    /// or of the wrong JSON type).
    #[error("{0}")]
    Unreadable(String),
    /// A check failed: the file does not prove what it claims.
    #[error("{0}")]
    Failed(String),
    /// The ledger cannot make what was asked (no checkpoint covers the event, another
    /// ledger's checkpoint, a size it does not have).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn failed(m: impl Into<String>) -> ProofError {
    ProofError::Failed(m.into())
}

fn unreadable(m: impl Into<String>) -> ProofError {
    ProofError::Unreadable(m.into())
}

/// The origin line of a ledger's checkpoints: `kaohe/` and the ledger id in lowercase hex.
pub fn origin(ledger_id: &[u8; 16]) -> String {
    format!("{ORIGIN_PREFIX}{}", hex::encode(ledger_id))
}

/// What a checkpoint says: the tree of the first `size` events of ledger `origin` has `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each ending with a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            Base64::encode_string(&self.root)
        )
    }

    /// The ledger id the origin names.
    pub fn ledger_id(&self) -> Option<[u8; 16]> {
        let id = self.origin.strip_prefix(ORIGIN_PREFIX)?;
        let mut out = [0u8; 16];
        (id.len() == 32 && is_lower_hex(id) && hex::decode_to_slice(id, &mut out).is_ok())
            .then_some(out)
    }

    /// Parses a note text exactly as [`Checkpoint::text`] writes it (no extension lines).
    pub fn parse_text(text: &str) -> Result<Checkpoint, String> {
        let body = text
            .strip_suffix('\n')
            .ok_or("the checkpoint text does not end with a newline")?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(format!(
                "the checkpoint text has {} lines; a kaohe checkpoint has 3 (origin, size, root)",
                lines.len()
            ));
        };
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_size)
            .ok_or_else(|| format!("the checkpoint's size `{size}` is not a decimal number"))?;
        let root_bytes = Base64::decode_vec(root)
            .ok()
            .filter(|b| b.len() == 32 && Base64::encode_string(b) == root)
            .ok_or_else(|| format!("the checkpoint's root `{root}` is not 32 bytes in base64"))?;
        let mut root = [0u8; 32];
        root.copy_from_slice(&root_bytes);
        let cp = Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        };
        if cp.ledger_id().is_none() {
            return Err(format!(
                "the checkpoint's origin `{origin}` is not `{ORIGIN_PREFIX}` and a 32-digit ledger id"
            ));
        }
        Ok(cp)
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A checkpoint signed by the key, as a complete signed note: the text, a blank line, and one
/// signature line whose key name is the origin.
pub fn sign_checkpoint(cp: &Checkpoint, key: &KeyPair) -> String {
    let text = cp.text();
    let mut sig = Vec::with_capacity(68);
    sig.extend_from_slice(&sign::note_key_hash(&cp.origin, &key.public_key()));
    sig.extend_from_slice(&key.sign_message(text.as_bytes()));
    format!(
        "{text}\n{SIGNATURE_LINE_START}{} {}\n",
        cp.origin,
        Base64::encode_string(&sig)
    )
}

/// One signature line of a note: the log's, or a witness's cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key hash (the key ID of a cosignature).
    pub key_hash: [u8; 4],
    /// What follows the key hash: an Ed25519 signature, or a cosignature's timestamp and
    /// signature.
    pub signature: Vec<u8>,
    /// The whole line as read, without its newline (kept byte for byte when a note is
    /// cosigned or merged).
    pub line: String,
}

/// Splits a signed note into its text (with its final newline) and its signature lines,
/// checking the note's syntax: at most [`MAX_CHECKPOINT_BYTES`], no control character but the
/// newline, at most [`MAX_NOTE_SIGNATURES`] lines of the form `— <name> <base64>`.
pub fn split_note(note: &str) -> Result<(&str, Vec<NoteSignature>), String> {
    if note.len() > MAX_CHECKPOINT_BYTES {
        return Err(format!(
            "the checkpoint is longer than {MAX_CHECKPOINT_BYTES} bytes"
        ));
    }
    if note.bytes().any(|b| b.is_ascii_control() && b != b'\n') {
        return Err("the checkpoint holds a control character".into());
    }
    let split = note
        .rfind("\n\n")
        .ok_or("the checkpoint has no blank line before its signatures")?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let sigs = sigs
        .strip_suffix('\n')
        .ok_or("the checkpoint's signatures do not end with a newline")?;
    let mut out = Vec::new();
    for line in sigs.split('\n') {
        if out.len() == MAX_NOTE_SIGNATURES {
            return Err(format!(
                "the checkpoint has more than {MAX_NOTE_SIGNATURES} signatures"
            ));
        }
        let rest = line
            .strip_prefix(SIGNATURE_LINE_START)
            .ok_or("a signature line does not start with `— `")?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or("a signature line has no key name")?;
        if !is_key_name(name) {
            return Err(format!("a signature line has a bad key name `{name}`"));
        }
        let bytes = Base64::decode_vec(b64)
            .ok()
            .filter(|b| b.len() >= 5 && Base64::encode_string(b) == b64)
            .ok_or("a signature line's signature is not base64")?;
        let mut key_hash = [0u8; 4];
        key_hash.copy_from_slice(&bytes[..4]);
        out.push(NoteSignature {
            name: name.to_string(),
            key_hash,
            signature: bytes[4..].to_vec(),
            line: line.to_string(),
        });
    }
    Ok((text, out))
}

/// True when `name` can name a key in a signed note: not empty, no `+`, no white space.
pub fn is_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// Reads a signed checkpoint without checking its signature (the ledger's own view of a
/// checkpoint it is given: it checks the root against its events instead).
pub fn read_checkpoint(note: &str) -> Result<Checkpoint, String> {
    let (text, _) = split_note(note)?;
    Checkpoint::parse_text(text)
}

/// Checks a signed checkpoint against a public key and returns what it says. The note must
/// parse, and carry a signature line named by its origin whose key hash is this key's, and
/// every such line must be a valid Ed25519 signature of the text. Lines of other keys are
/// ignored (C2SP signed-note).
pub fn verify_checkpoint(note: &str, public: &[u8; 32]) -> Result<Checkpoint, ProofError> {
    let (text, sigs) = split_note(note)
        .map_err(|m| failed(format!("the checkpoint is not a signed note: {m}")))?;
    let cp = Checkpoint::parse_text(text).map_err(failed)?;
    let key_hash = sign::note_key_hash(&cp.origin, public);
    let mine: Vec<&NoteSignature> = sigs
        .iter()
        .filter(|s| s.name == cp.origin && s.key_hash == key_hash)
        .collect();
    if mine.is_empty() {
        return Err(failed(format!(
            "the checkpoint is not signed by key {} under the name `{}` (another key, or the origin was changed)",
            hex::encode(public),
            cp.origin
        )));
    }
    for s in mine {
        let Ok(signature) = <[u8; 64]>::try_from(s.signature.as_slice()) else {
            return Err(failed("the checkpoint's signature is not 64 bytes"));
        };
        if !sign::verify_message(public, text.as_bytes(), &signature) {
            return Err(failed(
                "the checkpoint's signature does not verify (its origin, size or root was changed, or the signature)",
            ));
        }
    }
    Ok(cp)
}

/// The stored event hashes of the first `size` events (32 bytes each).
/// The ledger's Merkle tree, read through the kept subtree roots: the root of any subtree a
/// proof asks for in O(log n) reads, from the kept roots of complete subtrees of
/// 2^`TILE_LEVEL` leaves and up, and the event hashes of at most a few tiles below that.
struct Tree<'l> {
    ledger: &'l Ledger,
    /// The event hashes of the tiles read so far, by tile (`seq >> TILE_LEVEL`).
    tiles: std::collections::HashMap<u64, Vec<Hash>>,
    /// The first failure while serving roots to a generator that cannot return one.
    failed: Option<ProofError>,
}

impl<'l> Tree<'l> {
    fn new(ledger: &'l Ledger) -> Self {
        Tree {
            ledger,
            tiles: std::collections::HashMap::new(),
            failed: None,
        }
    }

    /// The root of leaves `lo..hi` (as `merkle::subtree_root_from` asks).
    fn root(&mut self, lo: u64, hi: u64) -> Result<Hash, ProofError> {
        if lo >= hi {
            return Ok(merkle::empty_root());
        }
        merkle::subtree_root_from(lo, hi, &mut |level, index| self.perfect(level, index))
    }

    /// [`Tree::root`] for the generators: a failure is kept for [`Tree::done`].
    fn serve(&mut self, lo: u64, hi: u64) -> Hash {
        match self.root(lo, hi) {
            Ok(h) => h,
            Err(e) => {
                self.failed.get_or_insert(e);
                [0u8; 32]
            }
        }
    }

    fn done(self) -> Result<(), ProofError> {
        self.failed.map_or(Ok(()), Err)
    }

    /// The root of the complete subtree of leaves `index·2^level .. (index+1)·2^level`.
    fn perfect(&mut self, level: u32, index: u64) -> Result<Hash, ProofError> {
        if level >= merkle::TILE_LEVEL {
            if let Some(h) = self.ledger.store().subtree(level, index)? {
                return Ok(h);
            }
            let left = self.perfect(level - 1, 2 * index)?;
            let right = self.perfect(level - 1, 2 * index + 1)?;
            return Ok(chain::merkle_node(&left, &right));
        }
        let lo = index << level;
        let tile = lo >> merkle::TILE_LEVEL;
        let start = usize::try_from(lo - (tile << merkle::TILE_LEVEL)).unwrap_or(usize::MAX);
        let leaves = self.tile(tile)?;
        let slice = leaves
            .get(start..start.saturating_add(1 << level))
            .ok_or_else(|| failed(format!("leaves {lo}.. are past the ledger's events")))?;
        Ok(merkle::root(slice))
    }

    /// The event hashes of one tile (fewer at the ledger's end).
    fn tile(&mut self, tile: u64) -> Result<&Vec<Hash>, ProofError> {
        if !self.tiles.contains_key(&tile) {
            let mut hashes = Vec::with_capacity(1 << merkle::TILE_LEVEL);
            let from = tile << merkle::TILE_LEVEL;
            self.ledger
                .store()
                .for_each_frame(from, from + (1 << merkle::TILE_LEVEL), |f| {
                    hashes.push(*f.hash);
                    Ok(true)
                })?;
            self.tiles.insert(tile, hashes);
        }
        // Invariant: inserted just above when absent.
        Ok(self.tiles.get(&tile).expect("the tile was just read"))
    }
}

/// A signed checkpoint of the whole ledger.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

/// Signs the checkpoint of the whole ledger at its current size and stores it (replacing one
/// stored for the same size, unless that one is the same checkpoint with this very signature
/// and more lines, witnesses' cosignatures, which it keeps). The chain's links are checked
/// first, so a damaged chain is never signed.
pub fn checkpoint(ledger: &Ledger, key: &KeyPair) -> Result<SignedCheckpoint, ProofError> {
    let size = ledger.head().next_seq;
    ledger.check_links(size)?;
    let mut frontier = merkle::Frontier::new();
    let mut completed = Vec::new();
    ledger.store().for_each_frame(0, size, |f| {
        frontier.push_observed(f.hash, |level, index, root| {
            if level >= merkle::TILE_LEVEL {
                completed.push((level, index, *root));
            }
        });
        Ok(true)
    })?;
    // The kept roots are a cache: each one kept before must be the one just computed.
    let mut fresh = Vec::new();
    for (level, index, root) in completed {
        match ledger.store().subtree(level, index)? {
            None => fresh.push((level, index, root)),
            Some(kept) if kept == root => {}
            Some(_) => {
                return Err(failed(format!(
                    "the kept root of leaves {}..{} differs from the events' (a damaged ledger: run `kaohe verify`)",
                    index << level,
                    (index + 1) << level
                )))
            }
        }
    }
    let cp = Checkpoint {
        origin: origin(&ledger.genesis().ledger_id),
        size: frontier.size(),
        root: frontier.root(),
    };
    let note = sign_checkpoint(&cp, key);
    if let Some(bytes) = ledger.store().checkpoint(cp.size)? {
        let kept = stored(cp.size, bytes)?;
        if kept.checkpoint == cp && carries_lines(&kept.note, &note) {
            return Ok(kept);
        }
    }
    ledger
        .store()
        .put_checkpoint_with(cp.size, note.as_bytes(), &fresh)?;
    Ok(SignedCheckpoint {
        checkpoint: cp,
        note,
    })
}

/// True when `note` carries every signature line of `of`, byte for byte.
fn carries_lines(note: &str, of: &str) -> bool {
    match (split_note(note), split_note(of)) {
        (Ok((_, have)), Ok((_, need))) => {
            need.iter().all(|n| have.iter().any(|h| h.line == n.line))
        }
        _ => false,
    }
}

/// Adds the signature lines of a copy of a stored checkpoint (the witnesses' cosignatures,
/// `kaohe witness`) to the stored note. The copy's text must be the stored checkpoint's and it
/// must carry the stored note's signature lines named by the origin (the log's) byte for byte,
/// so the log's signature is the one the ledger already holds. The stored lines are kept first, then the copy's other
/// lines, each line once. Cosignatures are not checked here: a verifier checks them against
/// the witnesses' keys (`verify-receipt --witness`).
pub fn add_signatures(ledger: &Ledger, note: &str) -> Result<SignedCheckpoint, ProofError> {
    let (text, sigs) = split_note(note).map_err(unreadable)?;
    let cp = Checkpoint::parse_text(text).map_err(unreadable)?;
    let own = origin(&ledger.genesis().ledger_id);
    if cp.origin != own {
        return Err(ProofError::Refused(format!(
            "the checkpoint is of ledger `{}`, not of this one (`{own}`)",
            cp.origin
        )));
    }
    let kept = stored_checkpoint(ledger, cp.size)?;
    if kept.checkpoint != cp {
        return Err(failed(format!(
            "the checkpoint's root is not the root of the checkpoint of size {} this ledger holds (a forged checkpoint, or one of another history)",
            cp.size
        )));
    }
    let (_, kept_sigs) = split_note(&kept.note)
        .map_err(|m| StoreError::Corrupt(format!("stored checkpoint of size {}: {m}", cp.size)))?;
    if kept_sigs
        .iter()
        .filter(|k| k.name == cp.origin)
        .any(|k| !sigs.iter().any(|n| n.line == k.line))
    {
        return Err(failed(format!(
            "the checkpoint does not carry the stored checkpoint's signature by `{}` byte for byte: it is not a copy of the checkpoint of size {} this ledger holds",
            cp.origin, cp.size
        )));
    }
    let mut lines: Vec<&str> = Vec::new();
    for s in kept_sigs.iter().chain(sigs.iter()) {
        if !lines.contains(&s.line.as_str()) {
            lines.push(&s.line);
        }
    }
    let merged = format!("{text}\n{}\n", lines.join("\n"));
    split_note(&merged).map_err(|m| ProofError::Refused(format!("the merged checkpoint: {m}")))?;
    ledger.store().put_checkpoint(cp.size, merged.as_bytes())?;
    Ok(SignedCheckpoint {
        checkpoint: cp,
        note: merged,
    })
}

/// Stores a checkpoint made of another copy of this ledger (a backup's), after checking that
/// it is of this ledger and that its root is this chain's at its size. Its signature is
/// checked by whoever holds the key (`verify-receipt`, `verify-consistency`).
pub fn adopt_checkpoint(ledger: &Ledger, note: &str) -> Result<Checkpoint, ProofError> {
    let cp = read_checkpoint(note).map_err(unreadable)?;
    check_own(ledger, &cp)?;
    ledger.store().put_checkpoint(cp.size, note.as_bytes())?;
    Ok(cp)
}

/// The stored checkpoints, smallest size first.
pub fn stored_checkpoints(ledger: &Ledger) -> Result<Vec<SignedCheckpoint>, ProofError> {
    ledger
        .store()
        .checkpoints()?
        .into_iter()
        .map(|(size, bytes)| stored(size, bytes))
        .collect()
}

/// The stored checkpoint of a size.
pub fn stored_checkpoint(ledger: &Ledger, size: u64) -> Result<SignedCheckpoint, ProofError> {
    match ledger.store().checkpoint(size)? {
        Some(bytes) => stored(size, bytes),
        None => Err(ProofError::Refused(format!(
            "no checkpoint of size {size} is stored (`kaohe checkpoint --list` shows them)"
        ))),
    }
}

fn stored(size: u64, bytes: Vec<u8>) -> Result<SignedCheckpoint, ProofError> {
    let damaged = |m: String| StoreError::Corrupt(format!("stored checkpoint of size {size}: {m}"));
    let note = String::from_utf8(bytes).map_err(|_| damaged("not UTF-8".into()))?;
    let checkpoint = read_checkpoint(&note).map_err(damaged)?;
    if checkpoint.size != size {
        return Err(damaged(format!("it says size {}", checkpoint.size)).into());
    }
    Ok(SignedCheckpoint { checkpoint, note })
}

/// Checks that a checkpoint is this ledger's: its origin, a size the ledger has, and the root
/// of the ledger's first `size` events. Returns those events' hashes.
fn check_own<'l>(ledger: &'l Ledger, cp: &Checkpoint) -> Result<Tree<'l>, ProofError> {
    let own = origin(&ledger.genesis().ledger_id);
    if cp.origin != own {
        return Err(ProofError::Refused(format!(
            "the checkpoint is of ledger `{}`, not of this one (`{own}`)",
            cp.origin
        )));
    }
    let head = ledger.head().next_seq;
    if cp.size > head {
        return Err(ProofError::Refused(format!(
            "the checkpoint is of size {} but the ledger holds {head} events",
            cp.size
        )));
    }
    let mut tree = Tree::new(ledger);
    if tree.root(0, cp.size)? != cp.root {
        return Err(failed(format!(
            "the checkpoint's root is not the root of this ledger's first {} events (a forged checkpoint or a damaged ledger)",
            cp.size
        )));
    }
    Ok(tree)
}

fn hex_list(hashes: &[Hash]) -> Value {
    Value::Array(hashes.iter().map(|h| json!(hex::encode(h))).collect())
}

/// The receipt of the event at `seq` (pretty JSON, without a final newline): against the
/// given checkpoint note, or else the stored checkpoint with the largest size, which must
/// cover the event.
pub fn receipt(ledger: &Ledger, seq: u64, checkpoint: Option<&str>) -> Result<String, ProofError> {
    let head = ledger.head().next_seq;
    if seq >= head {
        return Err(ProofError::Refused(format!(
            "no event at seq {seq}: the ledger holds seqs 0–{}",
            head - 1
        )));
    }
    let (cp, note) = match checkpoint {
        Some(note) => {
            let cp = read_checkpoint(note)
                .map_err(|m| ProofError::Refused(format!("the checkpoint given: {m}")))?;
            (cp, note.to_string())
        }
        None => match ledger.store().latest_checkpoint()? {
            Some((size, bytes)) => {
                let s = stored(size, bytes)?;
                (s.checkpoint, s.note)
            }
            None => {
                return Err(ProofError::Refused(
                    "no checkpoint is stored: run `kaohe --key FILE checkpoint` first".into(),
                ))
            }
        },
    };
    if cp.size <= seq {
        return Err(ProofError::Refused(format!(
            "the checkpoint covers seqs 0–{} and not seq {seq}: run `kaohe --key FILE checkpoint` for a newer one",
            cp.size as i128 - 1
        )));
    }
    let mut tree = check_own(ledger, &cp)?;
    let proof = merkle::inclusion_proof_with(seq, cp.size, |lo, hi| tree.serve(lo, hi))
        .ok_or_else(|| failed("cannot make the inclusion proof"))?;
    tree.done()?;
    let mut line = None;
    ledger.replay(seq, seq + 1, |e| {
        line = Some((export::line(e.body, e.bytes, e.prev_hash, e.hash), *e.hash));
        Ok(false)
    })?;
    let (line, hash) = line.ok_or_else(|| failed(format!("event {seq} cannot be read")))?;
    if !merkle::verify_inclusion(&hash, seq, cp.size, &proof, &cp.root) {
        return Err(failed(format!(
            "the inclusion proof of seq {seq} made from the kept subtree roots does not lead to the checkpoint's root (a damaged ledger: run `kaohe verify`)"
        )));
    }
    let event: Value =
        serde_json::from_str(&line).map_err(|e| failed(format!("event {seq}: {e}")))?;
    let mut m = Map::new();
    m.insert("format".into(), json!(RECEIPT_FORMAT));
    m.insert("event".into(), event);
    m.insert("leaf_index".into(), json!(seq));
    m.insert("tree_size".into(), json!(cp.size));
    m.insert("inclusion".into(), hex_list(&proof));
    m.insert("checkpoint".into(), json!(note));
    serde_json::to_string_pretty(&Value::Object(m)).map_err(|e| failed(e.to_string()))
}

/// The consistency file from checkpoint `old` to checkpoint `new` (signed notes), both of this
/// ledger (pretty JSON, without a final newline).
pub fn consistency(ledger: &Ledger, old: &str, new: &str) -> Result<String, ProofError> {
    let read = |which: &str, note: &str| {
        read_checkpoint(note).map_err(|m| ProofError::Refused(format!("checkpoint {which}: {m}")))
    };
    let (old_cp, new_cp) = (read("OLD", old)?, read("NEW", new)?);
    if old_cp.size > new_cp.size {
        return Err(ProofError::Refused(format!(
            "OLD is of size {} and NEW of size {}: OLD must not be larger",
            old_cp.size, new_cp.size
        )));
    }
    check_own(ledger, &old_cp)?;
    let mut tree = check_own(ledger, &new_cp)?;
    let proof =
        merkle::consistency_proof_with(old_cp.size, new_cp.size, |lo, hi| tree.serve(lo, hi))
            .ok_or_else(|| failed("cannot make the consistency proof"))?;
    tree.done()?;
    let proved =
        merkle::verify_consistency(old_cp.size, new_cp.size, &old_cp.root, &new_cp.root, &proof);
    if !proved {
        return Err(failed(
            "the consistency proof made from the kept subtree roots does not lead from OLD's root to NEW's (a damaged ledger: run `kaohe verify`)",
        ));
    }
    let mut m = Map::new();
    m.insert("format".into(), json!(CONSISTENCY_FORMAT));
    m.insert("old".into(), json!(old));
    m.insert("new".into(), json!(new));
    m.insert("proof".into(), hex_list(&proof));
    serde_json::to_string_pretty(&Value::Object(m)).map_err(|e| failed(e.to_string()))
}

/// Reads a JSON object with exactly these top-level fields and this `format`.
fn read_object(
    text: &str,
    fields: &[&str],
    format: &str,
    what: &str,
) -> Result<Map<String, Value>, ProofError> {
    let obj = crate::domain::command::parse_object(text)
        .map_err(|m| unreadable(format!("not a {what}: {m}")))?;
    if let Some(k) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(unreadable(format!("not a {what}: unknown field `{k}`")));
    }
    if let Some(k) = fields.iter().find(|k| !obj.contains_key(**k)) {
        return Err(unreadable(format!("not a {what}: no `{k}`")));
    }
    if obj["format"] != json!(format) {
        return Err(unreadable(format!(
            "not a {what}: `format` is {}, not \"{format}\"",
            obj["format"]
        )));
    }
    Ok(obj)
}

fn string_field<'a>(obj: &'a Map<String, Value>, k: &str) -> Result<&'a str, ProofError> {
    obj[k]
        .as_str()
        .ok_or_else(|| unreadable(format!("`{k}` is not a string")))
}

fn u64_field(obj: &Map<String, Value>, k: &str) -> Result<u64, ProofError> {
    obj[k]
        .as_u64()
        .ok_or_else(|| unreadable(format!("`{k}` is not a whole number")))
}

/// A proof: an array of at most [`MAX_PROOF_HASHES`] hashes, 64 lowercase hex digits each.
fn proof_field(obj: &Map<String, Value>, k: &str) -> Result<Vec<Hash>, ProofError> {
    let items = obj[k]
        .as_array()
        .ok_or_else(|| unreadable(format!("`{k}` is not an array")))?;
    if items.len() > MAX_PROOF_HASHES {
        return Err(failed(format!(
            "`{k}` has {} hashes; no proof has more than {MAX_PROOF_HASHES}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = v
                .as_str()
                .ok_or_else(|| unreadable(format!("`{k}`[{i}] is not a string")))?;
            chain::parse_hash(s)
                .filter(|_| is_lower_hex(s))
                .ok_or_else(|| failed(format!("`{k}`[{i}] is not 64 lowercase hex digits")))
        })
        .collect()
}

/// What a verified receipt proves: event `seq` with `hash` is leaf `seq` of the tree of
/// `checkpoint.size` events whose root the checkpoint key signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptReport {
    pub checkpoint: Checkpoint,
    pub seq: u64,
    pub hash: Hash,
    pub event_type: String,
    /// The checkpoint note as the receipt carries it (with any witnesses' cosignatures).
    pub note: String,
}

/// Verifies a receipt offline against the checkpoint key.
pub fn verify_receipt(text: &str, public: &[u8; 32]) -> Result<ReceiptReport, ProofError> {
    let fields = [
        "format",
        "event",
        "leaf_index",
        "tree_size",
        "inclusion",
        "checkpoint",
    ];
    let obj = read_object(text, &fields, RECEIPT_FORMAT, "kaohe receipt")?;
    let event = obj["event"]
        .as_object()
        .cloned()
        .ok_or_else(|| unreadable("`event` is not an object"))?;
    let leaf_index = u64_field(&obj, "leaf_index")?;
    let tree_size = u64_field(&obj, "tree_size")?;
    let note = string_field(&obj, "checkpoint")?;
    let proof = proof_field(&obj, "inclusion")?;
    let cp = verify_checkpoint(note, public)?;
    if tree_size != cp.size {
        return Err(failed(format!(
            "`tree_size` is {tree_size} but the checkpoint is of size {}",
            cp.size
        )));
    }
    let (_, hash, body) =
        export::check_event(event).map_err(|m| failed(format!("the event: {m}")))?;
    if leaf_index != body.seq() {
        return Err(failed(format!(
            "`leaf_index` is {leaf_index} but the event is seq {}",
            body.seq()
        )));
    }
    if leaf_index >= cp.size {
        return Err(failed(format!(
            "the event is seq {leaf_index}, outside the checkpoint's {} events",
            cp.size
        )));
    }
    if let Some(g) = body.kind().genesis() {
        if cp.ledger_id() != Some(g.ledger_id) {
            return Err(failed(
                "the genesis event is of another ledger than the checkpoint",
            ));
        }
    }
    if !merkle::verify_inclusion(&hash, leaf_index, cp.size, &proof, &cp.root) {
        return Err(failed(format!(
            "the inclusion proof does not lead from event {leaf_index} to the checkpoint's root"
        )));
    }
    Ok(ReceiptReport {
        seq: leaf_index,
        hash,
        event_type: body.kind().type_name().to_string(),
        checkpoint: cp,
        note: note.to_string(),
    })
}

/// What a verified consistency file proves: the tree of `new.size` events extends the tree
/// of `old.size` events, both signed by the checkpoint key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub old: Checkpoint,
    pub new: Checkpoint,
    /// The two checkpoint notes as the file carries them (with any witnesses' cosignatures).
    pub old_note: String,
    pub new_note: String,
}

/// A consistency file's fields, read but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyFile {
    pub old: String,
    pub new: String,
    pub proof: Vec<Hash>,
}

/// Reads a consistency file's shape (exactly its four fields, `format`, the proof's hashes);
/// nothing is verified.
pub fn read_consistency(text: &str) -> Result<ConsistencyFile, ProofError> {
    let fields = ["format", "old", "new", "proof"];
    let obj = read_object(text, &fields, CONSISTENCY_FORMAT, "kaohe consistency file")?;
    Ok(ConsistencyFile {
        old: string_field(&obj, "old")?.to_string(),
        new: string_field(&obj, "new")?.to_string(),
        proof: proof_field(&obj, "proof")?,
    })
}

/// Verifies a consistency file offline against the checkpoint key.
pub fn verify_consistency(text: &str, public: &[u8; 32]) -> Result<ConsistencyReport, ProofError> {
    let file = read_consistency(text)?;
    let (old_note, new_note, proof) = (file.old, file.new, file.proof);
    let old = verify_checkpoint(&old_note, public)
        .map_err(|e| failed(format!("the old checkpoint: {e}")))?;
    let new = verify_checkpoint(&new_note, public)
        .map_err(|e| failed(format!("the new checkpoint: {e}")))?;
    if old.origin != new.origin {
        return Err(failed(format!(
            "the checkpoints are of two ledgers: `{}` and `{}`",
            old.origin, new.origin
        )));
    }
    if old.size > new.size {
        return Err(failed(format!(
            "the old checkpoint (size {}) is larger than the new one (size {})",
            old.size, new.size
        )));
    }
    if !merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof) {
        return Err(failed(format!(
            "the consistency proof does not show that the tree of {} events extends the tree of {}",
            new.size, old.size
        )));
    }
    Ok(ConsistencyReport {
        old,
        new,
        old_note,
        new_note,
    })
}

/// An export verified as `verify --export` verifies it, with the Merkle root of its first
/// `size` events (a checkpoint's size).
#[derive(Debug, Clone)]
pub struct ExportRoot {
    pub report: export::ExportReport,
    pub size: u64,
    /// The root of the first `size` events; `None` when the export stopped before them.
    pub root: Option<Hash>,
}

/// Verifies an export (as [`export::verify`]) and computes the root of its first `size` events
/// on the way, in O(log n) memory.
pub fn export_root(
    input: impl std::io::BufRead,
    expected_head: Option<&Hash>,
    size: u64,
) -> Result<ExportRoot, export::ExportError> {
    let mut frontier = merkle::Frontier::new();
    let each = |v: export::Verified<'_>| {
        if v.seq < size {
            frontier.push(v.hash);
        }
        Ok::<(), std::convert::Infallible>(())
    };
    let audit = &mut crate::domain::audit::Audit::new();
    let report = match export::verify_each(input, expected_head, audit, each)? {
        Ok(report) => report,
        Err(never) => match never {},
    };
    let root = (frontier.size() == size).then(|| frontier.root());
    Ok(ExportRoot { report, size, root })
}

/// Checks that a verified checkpoint's root is the export's root at the checkpoint's size.
pub fn check_export_root(export: &ExportRoot, cp: &Checkpoint) -> Result<(), ProofError> {
    match export.root {
        _ if export.size != cp.size => Err(failed(format!(
            "the export's root was computed at size {}, not at the checkpoint's {}",
            export.size, cp.size
        ))),
        None => Err(failed(format!(
            "the export holds {} events; the checkpoint is of the first {}",
            export.report.events, cp.size
        ))),
        Some(root) if root != cp.root => Err(failed(format!(
            "the root of the export's first {} events is not the checkpoint's root: the export is not the history the checkpoint signed",
            cp.size
        ))),
        Some(_) => Ok(()),
    }
}

/// A public key a person gives as 64 hex digits (either case), or `None`.
pub fn parse_public_hex(text: &str) -> Option<[u8; 32]> {
    chain::parse_typed_hash(text.trim()).filter(sign::is_public_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event::Actor;

    fn key() -> KeyPair {
        KeyPair::generate(Actor::Department("基层科".into())).unwrap()
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: origin(&[0xab; 16]),
            size: 7,
            root: [7u8; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_reads_back() {
        let k = key();
        let note = sign_checkpoint(&cp(), &k);
        assert_eq!(verify_checkpoint(&note, &k.public_key()).unwrap(), cp());
        assert_eq!(read_checkpoint(&note).unwrap(), cp());
        assert!(note.starts_with("kaohe/abababababababababababababababab\n7\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u{2014} kaohe/abab"));
        assert!(verify_checkpoint(&note, &key().public_key()).is_err());
        let altered = note.replacen("\n7\n", "\n8\n", 1);
        assert!(verify_checkpoint(&altered, &k.public_key()).is_err());
    }

    /// The vector of `schema/PROOFS.md`, computed independently (Python `cryptography` and
    /// `hashlib`): secret key 32 bytes of 0x01, ledger id 00 01 … 0f, the tree of 7.
    #[test]
    fn the_checkpoint_vector_of_proofs_md() {
        let text = "kaohe-key v1\nactor: department 基层科\npublic: 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\nsecret: 0101010101010101010101010101010101010101010101010101010101010101\n";
        let k = KeyPair::from_file_text(text).unwrap();
        let mut id = [0u8; 16];
        id.iter_mut().zip(0u8..).for_each(|(b, i)| *b = i);
        let root =
            chain::parse_hash("86e6ed55103cc18ad02044adebbe358f7bbad2c542c086973de8a1813e3bb83e")
                .unwrap();
        let cp = Checkpoint {
            origin: origin(&id),
            size: 7,
            root,
        };
        assert_eq!(
            hex::encode(sign::note_key_hash(&cp.origin, &k.public_key())),
            "b15fb387"
        );
        let note = sign_checkpoint(&cp, &k);
        assert_eq!(
            note,
            "kaohe/000102030405060708090a0b0c0d0e0f\n7\nhubtVRA8wYrQIESt6741j3u60sVCwIaXPeihgT47uD4=\n\n\u{2014} kaohe/000102030405060708090a0b0c0d0e0f sV+zh0U2anAVbpfTVBkIf1prEyRYQ92ufASMiGg0dEuqloErzdRNLfEG8Ie4Ppn+oxy/OxPQSR4h+S6qOBkUKaZsVg0=\n"
        );
        assert_eq!(verify_checkpoint(&note, &k.public_key()).unwrap(), cp);
    }

    #[test]
    fn checkpoint_text_is_parsed_strictly() {
        let good = cp().text();
        assert_eq!(Checkpoint::parse_text(&good).unwrap(), cp());
        for bad in [
            good.replacen("\n7\n", "\n07\n", 1),
            good.replacen("\n7\n", "\n+7\n", 1),
            good.replacen("\n7\n", "\n\n", 1),
            good.trim_end().to_string(),
            format!("{good}extension\n"),
            good.replacen("kaohe/", "kaohe:", 1),
            good.replacen("=\n", "\n", 1),
        ] {
            assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
        }
    }
}
