//! Signatures: the only module that knows Ed25519.
//!
//! An actor (a department, a station for its appeals, the bureau for keys, stations and the
//! close) signs the events it records:
//! `Ed25519(secret, "kaohe signed event v2" || ledger_id (16 bytes) || after_seq (8 bytes, big
//! endian) || after_hash (32 bytes) || kind)`, where `kind` is the event kind's encoding
//! (`codec::encode_kind`) and `after` the chain's head the signer saw. The ledger id ties a
//! signature to one ledger, the head to one history: the event must follow that head in a
//! chain that holds it. Seq and recorded time are the ledger's, so they are not signed (the
//! chain's hash covers them, signature included). Version 1 (no head) is still verified.
//!
//! A key file is text: `kaohe-key v1`, `actor: department 基层科` (or `station WJ02`),
//! `public: <64 hex>`, `secret: <64 hex>`; its `.pub` companion has no secret line and the
//! tag `kaohe-public-key v1`.

use crate::events::event::{Actor, After, Signature};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

const DOMAIN: &[u8] = b"kaohe signed event v1";
const DOMAIN_AFTER: &[u8] = b"kaohe signed event v2";
/// The first line of a private key file.
pub const KEY_FILE_TAG: &str = "kaohe-key v1";
/// The first line of a public key file.
pub const PUBLIC_FILE_TAG: &str = "kaohe-public-key v1";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a kaohe key file: {0}")]
    BadFile(String),
    #[error("cannot make a key: no randomness from the system ({0})")]
    NoRandomness(String),
}

/// The bytes an actor signs for an event kind.
pub fn message(ledger_id: &[u8; 16], kind: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 16 + kind.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(ledger_id);
    m.extend_from_slice(kind);
    m
}

/// The bytes an actor signs for an event kind that follows `after` (a `V3` body): what
/// `commands/prepare` hands a signer as `to_sign`.
pub fn message_after(ledger_id: &[u8; 16], after: &After, kind: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_AFTER.len() + 16 + 8 + 32 + kind.len());
    m.extend_from_slice(DOMAIN_AFTER);
    m.extend_from_slice(ledger_id);
    m.extend_from_slice(&after.seq.to_be_bytes());
    m.extend_from_slice(&after.hash);
    m.extend_from_slice(kind);
    m
}

/// True when `sig` is its key's valid signature of `message` (from [`message`] or
/// [`message_after`]).
pub fn verify(sig: &Signature, message: &[u8]) -> bool {
    VerifyingKey::from_bytes(&sig.public_key).is_ok_and(|key| verify_by(&key, sig, message))
}

/// [`verify`] with the signature's key already decompressed.
fn verify_by(key: &VerifyingKey, sig: &Signature, message: &[u8]) -> bool {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&sig.r);
    bytes[32..].copy_from_slice(&sig.s);
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify_strict(message, &signature).is_ok()
}

/// [`verify`] for many signatures by few keys: each public key is decompressed (and checked
/// to be a point) once, for up to [`KeyCache::MAX_KEYS`] keys; later ones are not kept.
#[derive(Default)]
pub struct KeyCache {
    keys: std::collections::HashMap<[u8; 32], Option<VerifyingKey>>,
}

impl KeyCache {
    /// Keys kept: a ledger registers a few per actor, and a damaged one cannot make the cache
    /// grow without bound.
    pub const MAX_KEYS: usize = 4096;

    /// Exactly [`verify`]'s answer.
    pub fn verify(&mut self, sig: &Signature, message: &[u8]) -> bool {
        let key = match self.keys.get(&sig.public_key) {
            Some(key) => *key,
            None => {
                let key = VerifyingKey::from_bytes(&sig.public_key).ok();
                if self.keys.len() < Self::MAX_KEYS {
                    self.keys.insert(sig.public_key, key);
                }
                key
            }
        };
        key.is_some_and(|key| verify_by(&key, sig, message))
    }
}

/// A signature from its key and the 64 bytes Ed25519 made (R then S).
pub fn signature_from(public_key: [u8; 32], bytes: &[u8; 64]) -> Signature {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    s.copy_from_slice(&bytes[32..]);
    Signature { public_key, r, s }
}

/// True when the bytes are a valid Ed25519 public key.
pub fn is_public_key(bytes: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(bytes).is_ok()
}

/// The signature type byte of Ed25519 in C2SP signed notes.
const NOTE_ED25519: u8 = 0x01;

/// The key hash of a signed-note verifier key (C2SP signed-note, Ed25519): the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x01 || public_key)`.
pub fn note_key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    key_id(name, NOTE_ED25519, public)
}

/// A C2SP key ID: the first 4 bytes of `SHA-256(name || 0x0A || type || public_key)`.
fn key_id(name: &str, signature_type: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', signature_type]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// True when `signature` is the key's valid (strict) Ed25519 signature of `message`.
pub fn verify_message(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// An actor's key pair, as read from its key file.
pub struct KeyPair {
    pub actor: Actor,
    key: SigningKey,
}

fn actor_text(actor: &Actor) -> String {
    actor.to_string()
}

fn parse_actor(text: &str) -> Option<Actor> {
    let (kind, name) = text.trim().split_once(' ')?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return None;
    }
    Actor::from_parts(kind, name)
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// A key file's fields: tag, actor, public key, and the secret when present.
type Fields = (String, Actor, [u8; 32], Option<[u8; 32]>);

/// Reads a key file's fields.
fn parse_fields(text: &str) -> Result<Fields, SignError> {
    let bad = |m: &str| SignError::BadFile(m.to_string());
    let mut lines = text.lines();
    let tag = lines.next().unwrap_or_default().trim().to_string();
    let (mut actor, mut public, mut secret) = (None, None, None);
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad("a line without `name: value`"))?;
        match k.trim() {
            "actor" => actor = Some(parse_actor(v).ok_or_else(|| bad("bad `actor`"))?),
            "public" => {
                public =
                    Some(hex32(v).ok_or_else(|| bad("bad `public` (64 lower-case hex digits)"))?)
            }
            "secret" => {
                secret =
                    Some(hex32(v).ok_or_else(|| bad("bad `secret` (64 lower-case hex digits)"))?)
            }
            other => return Err(bad(&format!("unknown line `{other}`"))),
        }
    }
    let actor = actor.ok_or_else(|| bad("no `actor` line"))?;
    let public = public.ok_or_else(|| bad("no `public` line"))?;
    Ok((tag, actor, public, secret))
}

impl KeyPair {
    /// A new key pair from the system's randomness.
    pub fn generate(actor: Actor) -> Result<KeyPair, SignError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| SignError::NoRandomness(e.to_string()))?;
        Ok(KeyPair {
            actor,
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The private key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "{KEY_FILE_TAG}\nactor: {}\npublic: {}\nsecret: {}\n",
            actor_text(&self.actor),
            hex::encode(self.public_key()),
            hex::encode(self.key.to_bytes())
        )
    }

    /// The public key file's text.
    pub fn to_public_text(&self) -> String {
        public_text(&self.actor, &self.public_key())
    }

    /// Reads a private key file; its public line must match its secret.
    pub fn from_file_text(text: &str) -> Result<KeyPair, SignError> {
        let (tag, actor, public, secret) = parse_fields(text)?;
        if tag != KEY_FILE_TAG {
            return Err(SignError::BadFile(format!(
                "the first line is `{tag}`, not `{KEY_FILE_TAG}` (a public key file cannot sign)"
            )));
        }
        let secret = secret.ok_or_else(|| SignError::BadFile("no `secret` line".into()))?;
        let key = SigningKey::from_bytes(&secret);
        if key.verifying_key().to_bytes() != public {
            return Err(SignError::BadFile(
                "its `public` line does not belong to its `secret`".into(),
            ));
        }
        Ok(KeyPair { actor, key })
    }

    /// Signs arbitrary bytes (a checkpoint note's text) with plain Ed25519.
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Signs the bytes of an event ([`message`], [`message_after`]).
    pub fn sign(&self, message: &[u8]) -> Signature {
        signature_from(self.public_key(), &self.key.sign(message).to_bytes())
    }
}

/// A public key file's text.
pub fn public_text(actor: &Actor, public: &[u8; 32]) -> String {
    format!(
        "{PUBLIC_FILE_TAG}\nactor: {}\npublic: {}\n",
        actor_text(actor),
        hex::encode(public)
    )
}

/// The actor and public key of a key file (private or public).
pub fn read_public(text: &str) -> Result<(Actor, [u8; 32]), SignError> {
    let (tag, actor, public, _) = parse_fields(text)?;
    if tag != KEY_FILE_TAG && tag != PUBLIC_FILE_TAG {
        return Err(SignError::BadFile(format!("the first line is `{tag}`")));
    }
    if !is_public_key(&public) {
        return Err(SignError::BadFile("`public` is not an Ed25519 key".into()));
    }
    Ok((actor, public))
}

/// The signature type byte of Ed25519 cosignatures (C2SP tlog-cosignature, `cosignature/v1`).
const COSIGNATURE_ED25519: u8 = 0x04;

/// The key ID of a witness's Ed25519 cosignatures (C2SP tlog-cosignature): the first 4 bytes
/// of `SHA-256(name || 0x0A || 0x04 || public_key)`.
pub fn cosignature_key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    key_id(name, COSIGNATURE_ED25519, public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_ledger_and_kind() {
        let k = KeyPair::generate(Actor::Department("基层科".into())).unwrap();
        let id = [1u8; 16];
        let sig = k.sign(&message(&id, b"kind"));
        assert!(verify(&sig, &message(&id, b"kind")));
        assert!(!verify(&sig, &message(&[2u8; 16], b"kind")));
        assert!(!verify(&sig, &message(&id, b"kine")));
        let after = After {
            seq: 7,
            hash: [3u8; 32],
        };
        let sig = k.sign(&message_after(&id, &after, b"kind"));
        assert!(verify(&sig, &message_after(&id, &after, b"kind")));
        let moved = After { seq: 8, ..after };
        assert!(!verify(&sig, &message_after(&id, &moved, b"kind")));
        let back = KeyPair::from_file_text(&k.to_file_text()).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(read_public(&k.to_public_text()).unwrap().1, k.public_key());
        assert!(KeyPair::from_file_text(&k.to_public_text()).is_err());
    }
}
