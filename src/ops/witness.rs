//! Witnesses: parties outside the ledger that cosign its checkpoints, so that a ledger cannot
//! show two different histories to people who check the cosignatures. `schema/PROOFS.md`,
//! section "Witnesses", is the normative description; this module follows it.
//!
//! - A **cosignature** is a C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519): one more
//!   signature line on a checkpoint note, `— <witness name> base64(key ID (4) || timestamp
//!   (u64 BE, 8) || Ed25519 signature (64))`, the key ID being
//!   `SHA-256(name || 0x0A || 0x04 || public key)[:4]` and the signed message
//!   `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's text.
//! - A **witness** ([`witness`]) keeps, per origin, the last checkpoint it cosigned (one file
//!   per ledger in its state directory). It cosigns the first checkpoint it is shown of a
//!   ledger, the same checkpoint again, or a newer one only with a consistency proof from the
//!   one it holds; anything else is a fork or a rollback, and it refuses.
//! - A **quorum** ([`Quorum::check`]): a verifier that knows the witnesses' keys requires valid
//!   cosignatures from at least N of them on the checkpoint it relies on.

use crate::base::files::{self, Leftover, Place};
use crate::base::limits::{MAX_CHECKPOINT_BYTES, MAX_WITNESSES};
use crate::events::event::Actor;
use crate::events::sign::{self, KeyPair};
use crate::ops::proofs::{
    self, is_key_name, read_checkpoint, split_note, verify_checkpoint, Checkpoint, ProofError,
    SIGNATURE_LINE_START,
};
use base64ct::{Base64, Encoding as _};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The first line of the message a witness signs (C2SP tlog-cosignature, Ed25519).
pub const COSIGNATURE_HEADER: &str = "cosignature/v1\n";
/// The suffix of a witness state file's name: `kaohe-<ledger id hex>.checkpoint`.
pub const STATE_SUFFIX: &str = ".checkpoint";
/// Bytes after the key ID in a cosignature: the timestamp (8) and the Ed25519 signature (64).
const COSIGNATURE_BYTES: usize = 8 + 64;

fn failed(m: impl Into<String>) -> ProofError {
    ProofError::Failed(m.into())
}

fn unreadable(m: impl Into<String>) -> ProofError {
    ProofError::Unreadable(m.into())
}

fn refused(m: impl Into<String>) -> ProofError {
    ProofError::Refused(m.into())
}

/// A witness as a verifier knows it: its name and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub public: [u8; 32],
}

impl WitnessKey {
    /// The witness of a key file's actor: a witness (`key new --witness NAME`) whose name can
    /// be a signed note's key name.
    pub fn new(actor: &Actor, public: [u8; 32]) -> Result<WitnessKey, String> {
        Ok(WitnessKey {
            name: witness_name(actor)?,
            public,
        })
    }

    /// The key ID of its cosignatures.
    pub fn key_id(&self) -> [u8; 4] {
        sign::cosignature_key_hash(&self.name, &self.public)
    }
}

/// The name a witness signs under: the actor must be a witness, and its name a valid key name.
pub fn witness_name(actor: &Actor) -> Result<String, String> {
    let Actor::Witness(name) = actor else {
        return Err(format!(
            "the key is a {}'s ({actor}), not a witness's: `kaohe key new --witness NAME` makes a witness key",
            actor.kind_str()
        ));
    };
    if !is_key_name(name) {
        return Err(format!(
            "the witness name `{name}` cannot name a key in a signed note (no spaces, no `+`)"
        ));
    }
    Ok(name.clone())
}

/// The message a cosignature signs: `cosignature/v1\ntime <timestamp>\n` and the checkpoint's
/// text (with its final newline, without the blank line and the signatures).
pub fn cosignature_message(text: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{text}")
}

/// One cosignature line (with its newline) of the checkpoint text, by the witness `name`.
pub fn cosignature_line(text: &str, key: &KeyPair, name: &str, timestamp: u64) -> String {
    let signature = key.sign_message(cosignature_message(text, timestamp).as_bytes());
    let mut bytes = Vec::with_capacity(4 + COSIGNATURE_BYTES);
    bytes.extend_from_slice(&sign::cosignature_key_hash(name, &key.public_key()));
    bytes.extend_from_slice(&timestamp.to_be_bytes());
    bytes.extend_from_slice(&signature);
    format!(
        "{SIGNATURE_LINE_START}{name} {}\n",
        Base64::encode_string(&bytes)
    )
}

/// The note cosigned: its text, its signature lines byte for byte except this witness's own
/// earlier cosignatures, and this witness's new cosignature last.
pub fn cosign(note: &str, key: &KeyPair, name: &str, timestamp: u64) -> Result<String, ProofError> {
    if i64::try_from(timestamp).is_err() {
        return Err(refused(format!(
            "the time {timestamp} is past 2^63 - 1 seconds"
        )));
    }
    let (text, sigs) = split_note(note).map_err(unreadable)?;
    let key_id = sign::cosignature_key_hash(name, &key.public_key());
    let mut out = format!("{text}\n");
    for s in sigs
        .iter()
        .filter(|s| !(s.name == name && s.key_hash == key_id))
    {
        out.push_str(&s.line);
        out.push('\n');
    }
    out.push_str(&cosignature_line(text, key, name, timestamp));
    split_note(&out).map_err(|m| refused(format!("the cosigned checkpoint: {m}")))?;
    Ok(out)
}

/// A witness's valid cosignature found on a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub witness: WitnessKey,
    /// Its timestamp (POSIX seconds); the latest when the note carries several.
    pub timestamp: u64,
}

/// The valid cosignatures of these witnesses on a note, in the witnesses' order. A line that
/// names a witness by its name and key ID must verify: one that does not fails the check.
pub fn cosignatures(note: &str, witnesses: &[WitnessKey]) -> Result<Vec<Cosignature>, ProofError> {
    let (text, sigs) = split_note(note)
        .map_err(|m| failed(format!("the checkpoint is not a signed note: {m}")))?;
    let mut out = Vec::new();
    for w in witnesses {
        let key_id = w.key_id();
        let mut latest: Option<u64> = None;
        for s in sigs
            .iter()
            .filter(|s| s.name == w.name && s.key_hash == key_id)
        {
            let timestamp = check_cosignature(text, w, &s.signature)?;
            latest = latest.max(Some(timestamp));
        }
        if let Some(timestamp) = latest {
            out.push(Cosignature {
                witness: w.clone(),
                timestamp,
            });
        }
    }
    Ok(out)
}

/// Checks one cosignature's bytes (after the key ID) and returns its timestamp.
fn check_cosignature(text: &str, w: &WitnessKey, bytes: &[u8]) -> Result<u64, ProofError> {
    let name = &w.name;
    if bytes.len() != COSIGNATURE_BYTES {
        return Err(failed(format!(
            "the cosignature of witness `{name}` is {} bytes after its key ID, not {COSIGNATURE_BYTES} (a timestamp and an Ed25519 signature)",
            bytes.len()
        )));
    }
    let (time, signature) = bytes.split_at(8);
    let mut t = [0u8; 8];
    t.copy_from_slice(time);
    let timestamp = u64::from_be_bytes(t);
    if i64::try_from(timestamp).is_err() {
        return Err(failed(format!(
            "the cosignature of witness `{name}` has a timestamp past 2^63 - 1"
        )));
    }
    let mut sig = [0u8; 64];
    sig.copy_from_slice(signature);
    let message = cosignature_message(text, timestamp);
    if !sign::verify_message(&w.public, message.as_bytes(), &sig) {
        return Err(failed(format!(
            "the cosignature of witness `{name}` does not verify (the checkpoint or the cosignature was changed)"
        )));
    }
    Ok(timestamp)
}

/// The witnesses a verifier requires, and how many of them must have cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// Distinct witnesses (a key given twice counts once).
    pub witnesses: Vec<WitnessKey>,
    pub quorum: usize,
}

/// What a quorum check found: the witnesses that cosigned, and those that did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReport {
    pub cosigned: Vec<Cosignature>,
    pub missing: Vec<WitnessKey>,
    pub quorum: usize,
}

impl Quorum {
    /// The witnesses (at least one, at most [`MAX_WITNESSES`] distinct) and the quorum: at
    /// least 1, at most their number; all of them when not given.
    pub fn new(keys: Vec<WitnessKey>, quorum: Option<usize>) -> Result<Quorum, String> {
        let mut witnesses: Vec<WitnessKey> = Vec::new();
        for k in keys {
            if !witnesses.contains(&k) {
                witnesses.push(k);
            }
        }
        if witnesses.is_empty() {
            return Err("a quorum needs at least one witness (--witness WKEY)".into());
        }
        if witnesses.len() > MAX_WITNESSES {
            return Err(format!(
                "{} witnesses given; at most {MAX_WITNESSES}",
                witnesses.len()
            ));
        }
        let n = witnesses.len();
        let quorum = quorum.unwrap_or(n);
        if quorum == 0 || quorum > n {
            return Err(format!(
                "--quorum {quorum}: give a number from 1 to the {n} distinct witnesses given"
            ));
        }
        Ok(Quorum { witnesses, quorum })
    }

    /// Checks that the note carries valid cosignatures from at least `quorum` of the
    /// witnesses; fails naming the missing ones.
    pub fn check(&self, note: &str) -> Result<QuorumReport, ProofError> {
        let cosigned = cosignatures(note, &self.witnesses)?;
        let missing: Vec<WitnessKey> = self
            .witnesses
            .iter()
            .filter(|w| !cosigned.iter().any(|c| &c.witness == *w))
            .cloned()
            .collect();
        if cosigned.len() < self.quorum {
            let names: Vec<String> = missing
                .iter()
                .map(|w| format!("`{}` (key {})", w.name, hex::encode(w.public)))
                .collect();
            return Err(failed(format!(
                "the checkpoint carries valid cosignatures from {} of the {} witnesses given, fewer than the quorum of {}; no cosignature from {}",
                cosigned.len(),
                self.witnesses.len(),
                self.quorum,
                names.join(", ")
            )));
        }
        Ok(QuorumReport {
            cosigned,
            missing,
            quorum: self.quorum,
        })
    }
}

/// What a witness was shown: a checkpoint alone, or a consistency proof from `old` to it. Both
/// verified against the log's key.
struct Claim {
    old: Option<Checkpoint>,
    new: Checkpoint,
    new_note: String,
}

/// Reads and verifies the witness's input: a consistency file (JSON) or a checkpoint note.
fn read_claim(input: &str, log_key: &[u8; 32]) -> Result<Claim, ProofError> {
    if input.trim_start().starts_with('{') {
        let file = proofs::read_consistency(input)?;
        for (which, note) in [("old", &file.old), ("new", &file.new)] {
            read_checkpoint(note)
                .map_err(|m| unreadable(format!("the {which} checkpoint: {m}")))?;
        }
        let r = proofs::verify_consistency(input, log_key)?;
        return Ok(Claim {
            old: Some(r.old),
            new: r.new,
            new_note: r.new_note,
        });
    }
    read_checkpoint(input).map_err(|m| unreadable(format!("not a checkpoint note: {m}")))?;
    let new = verify_checkpoint(input, log_key)?;
    Ok(Claim {
        old: None,
        new,
        new_note: input.to_string(),
    })
}

/// The state file of an origin in the witness's directory: `kaohe-<ledger id>.checkpoint`.
pub fn state_path(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("{}{STATE_SUFFIX}", origin.replace('/', "-")))
}

/// The last checkpoint the witness cosigned for an origin, if any. The file is never read
/// through a symbolic link.
fn read_state(path: &Path, origin: &str) -> Result<Option<Checkpoint>, ProofError> {
    let name = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(refused(format!(
                "cannot read the witness state {name}: {e}"
            )))
        }
    };
    if meta.file_type().is_symlink() {
        return Err(refused(format!(
            "the witness state {name} is a symbolic link; the witness never reads or writes its state through a link: remove it"
        )));
    }
    if !meta.is_file() {
        return Err(refused(format!(
            "the witness state {name} is not a regular file"
        )));
    }
    let damaged = |m: String| failed(format!("the witness state {name} is damaged: {m}"));
    let file = std::fs::File::open(path)
        .map_err(|e| refused(format!("cannot read the witness state {name}: {e}")))?;
    let opened = file
        .metadata()
        .map_err(|e| refused(format!("cannot read the witness state {name}: {e}")))?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(refused(format!(
            "the witness state {name} was replaced while it was read; try again"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CHECKPOINT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refused(format!("cannot read the witness state {name}: {e}")))?;
    let note = String::from_utf8(bytes).map_err(|_| damaged("not UTF-8".into()))?;
    let cp = read_checkpoint(&note).map_err(damaged)?;
    if cp.origin != origin {
        return Err(damaged(format!(
            "it holds a checkpoint of `{}`, not of `{origin}`",
            cp.origin
        )));
    }
    Ok(Some(cp))
}

/// Refuses a claim that does not extend the last checkpoint the witness cosigned.
fn check_extends(claim: &Claim, last: Option<&Checkpoint>) -> Result<(), ProofError> {
    let new = &claim.new;
    let same = |a: &Checkpoint, b: &Checkpoint| a.size == b.size && a.root == b.root;
    let Some(last) = last else {
        return match &claim.old {
            None => Ok(()),
            Some(old) => Err(failed(format!(
                "the witness has cosigned no checkpoint of {} yet, so it cannot take a consistency proof from checkpoint {}: give it the ledger's first checkpoint note itself",
                new.origin, old.size
            ))),
        };
    };
    if same(new, last) {
        // The checkpoint it cosigned last, again (a retry): cosigned afresh.
        return Ok(());
    }
    let why = match &claim.old {
        Some(old) if same(old, last) => return Ok(()),
        Some(old) => format!(
            "the consistency proof starts from checkpoint {} (root {}), not from the last one the witness cosigned (size {}, root {})",
            old.size,
            Base64::encode_string(&old.root),
            last.size,
            Base64::encode_string(&last.root)
        ),
        None if new.size < last.size => {
            "it is smaller: a ledger's tree never shrinks (a rollback)".to_string()
        }
        None if new.size == last.size => {
            "it has the same size and another root: two histories of one ledger (a fork)".into()
        }
        None => format!(
            "give a consistency file from checkpoint {} to it (`kaohe consistency {} NEW`)",
            last.size, last.size
        ),
    };
    Err(failed(format!(
        "the witness has not seen checkpoint {} extend its last cosigned checkpoint {} of {}: {why}; nothing was cosigned",
        new.size, last.size, new.origin
    )))
}

/// What a witness cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub checkpoint: Checkpoint,
    /// The last checkpoint it had cosigned of this ledger before, if any.
    pub previous: Option<Checkpoint>,
    /// The checkpoint note with the cosignature appended.
    pub note: String,
    pub witness: WitnessKey,
    pub timestamp: u64,
    /// The state file it recorded the checkpoint in.
    pub state_file: PathBuf,
}

/// Opens (making it when missing) and locks the witness's state directory: one witness run at
/// a time, so that two runs cannot both extend the same last checkpoint.
fn lock_state_dir(dir: &Path) -> Result<std::fs::File, ProofError> {
    let name = dir.display();
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| {
            refused(format!(
                "cannot make the witness state directory {name}: {e}"
            ))
        })?;
    }
    if !dir.is_dir() {
        return Err(refused(format!("--state {name} is not a directory")));
    }
    let lock = std::fs::File::open(dir).map_err(|e| {
        refused(format!(
            "cannot open the witness state directory {name}: {e}"
        ))
    })?;
    lock.lock().map_err(|e| {
        refused(format!(
            "cannot lock the witness state directory {name}: {e}"
        ))
    })?;
    Ok(lock)
}

/// The witness: verifies the input against the log's key (a checkpoint note, or a
/// consistency file from the last checkpoint it cosigned), checks that it extends what it
/// cosigned before, cosigns it at `timestamp` and records it as its last checkpoint of that
/// ledger (written to a new file, synced, renamed into place; never through a link). A
/// refusal writes nothing.
pub fn witness(
    state_dir: &Path,
    key: &KeyPair,
    log_key: &[u8; 32],
    input: &str,
    timestamp: u64,
) -> Result<Cosigned, ProofError> {
    let name = witness_name(&key.actor).map_err(refused)?;
    let claim = read_claim(input, log_key)?;
    let _lock = lock_state_dir(state_dir)?;
    let path = state_path(state_dir, &claim.new.origin);
    let previous = read_state(&path, &claim.new.origin)?;
    check_extends(&claim, previous.as_ref())?;
    let note = cosign(&claim.new_note, key, &name, timestamp)?;
    files::write_whole(
        &path,
        note.as_bytes(),
        0o644,
        Leftover::Remove,
        Place::Replace,
    )
    .map_err(|e| refused(e.to_string()))?;
    Ok(Cosigned {
        checkpoint: claim.new,
        previous,
        note,
        witness: WitnessKey {
            name,
            public: key.public_key(),
        },
        timestamp,
        state_file: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_key() -> KeyPair {
        KeyPair::from_file_text("kaohe-key v1\nactor: department 基层科\npublic: 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c\nsecret: 0101010101010101010101010101010101010101010101010101010101010101\n").unwrap()
    }

    fn witness_key() -> KeyPair {
        KeyPair::from_file_text("kaohe-key v1\nactor: witness witness.example/w1\npublic: 8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394\nsecret: 0202020202020202020202020202020202020202020202020202020202020202\n").unwrap()
    }

    fn vector_checkpoint() -> Checkpoint {
        let mut id = [0u8; 16];
        id.iter_mut().zip(0u8..).for_each(|(b, i)| *b = i);
        let root = crate::events::chain::parse_hash(
            "86e6ed55103cc18ad02044adebbe358f7bbad2c542c086973de8a1813e3bb83e",
        )
        .unwrap();
        Checkpoint {
            origin: proofs::origin(&id),
            size: 7,
            root,
        }
    }

    const LOG_LINE: &str = "\u{2014} kaohe/000102030405060708090a0b0c0d0e0f sV+zh0U2anAVbpfTVBkIf1prEyRYQ92ufASMiGg0dEuqloErzdRNLfEG8Ie4Ppn+oxy/OxPQSR4h+S6qOBkUKaZsVg0=\n";

    /// The cosignature vector of `schema/PROOFS.md` ("Witnesses"), computed independently
    /// (Python `cryptography` and `hashlib`): witness `witness.example/w1` with secret key 32
    /// bytes of 0x02, cosigning the checkpoint vector at time 1547107200.
    #[test]
    fn the_cosignature_vector_of_proofs_md() {
        let w = witness_key();
        let name = "witness.example/w1";
        assert_eq!(
            hex::encode(sign::cosignature_key_hash(name, &w.public_key())),
            "df1c0a35"
        );
        let note = proofs::sign_checkpoint(&vector_checkpoint(), &log_key());
        assert!(note.ends_with(LOG_LINE));
        let cosigned = cosign(&note, &w, name, 1_547_107_200).unwrap();
        let expected = format!(
            "{note}\u{2014} witness.example/w1 3xwKNQAAAABcNvuAwxnZQbBVqNOAR+5zATAj0ZNlRBRuDG20gHE9emrLieavF8aB/9AcWcGV/xsofIco3dIEE5josowvmPW1w7zpBg==\n"
        );
        assert_eq!(cosigned, expected);
        let wk = WitnessKey::new(&w.actor, w.public_key()).unwrap();
        let found = cosignatures(&cosigned, std::slice::from_ref(&wk)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].timestamp, 1_547_107_200);
        // The log's signature still verifies on the cosigned note.
        assert_eq!(
            verify_checkpoint(&cosigned, &log_key().public_key()).unwrap(),
            vector_checkpoint()
        );
        // Cosigning again replaces the witness's own line, and keeps the log's.
        let again = cosign(&cosigned, &w, name, 1_547_107_201).unwrap();
        assert_eq!(again.matches(name).count(), 1);
        assert!(again.contains(LOG_LINE));
    }

    #[test]
    fn a_quorum_names_the_missing_witnesses() {
        let w = witness_key();
        let wk = WitnessKey::new(&w.actor, w.public_key()).unwrap();
        let other = KeyPair::generate(Actor::Witness("w2".into())).unwrap();
        let ok = WitnessKey::new(&other.actor, other.public_key()).unwrap();
        let note = proofs::sign_checkpoint(&vector_checkpoint(), &log_key());
        let cosigned = cosign(&note, &w, &wk.name, 5).unwrap();
        let both = Quorum::new(vec![wk.clone(), ok.clone(), wk.clone()], None).unwrap();
        assert_eq!(both.quorum, 2, "a key given twice counts once");
        let err = both.check(&cosigned).unwrap_err().to_string();
        assert!(
            err.contains("`w2`") && !err.contains("`witness.example/w1`"),
            "{err}"
        );
        let one = Quorum::new(vec![wk, ok], Some(1)).unwrap();
        let r = one.check(&cosigned).unwrap();
        assert_eq!((r.cosigned.len(), r.missing.len()), (1, 1));
        assert!(Quorum::new(vec![], None).is_err());
        assert!(Quorum::new(vec![r.missing[0].clone()], Some(0)).is_err());
        assert!(Quorum::new(vec![r.missing[0].clone()], Some(2)).is_err());
    }

    #[test]
    fn only_a_witness_key_with_a_key_name_cosigns() {
        assert!(witness_name(&Actor::Department("基层科".into())).is_err());
        assert!(witness_name(&Actor::Witness("city bureau".into())).is_err());
        assert!(witness_name(&Actor::Witness("a+b".into())).is_err());
        assert_eq!(
            witness_name(&Actor::Witness("市局".into())).unwrap(),
            "市局"
        );
    }
}
