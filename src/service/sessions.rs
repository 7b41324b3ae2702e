//! Sign-in by key challenge, and sessions: who is asking, proven by a signature of a one-use
//! challenge with a key the ledger holds in force. Nothing here is stored in the ledger.

use crate::base::limits::{
    CHALLENGE_TTL_SECS, MAX_CHALLENGES, MAX_SESSIONS, MAX_SIGN_IN_ATTEMPTS_PER_MINUTE,
    SESSION_TTL_SECS,
};
use crate::events::event::Actor;
use crate::events::sign;
use std::collections::HashMap;

/// The domain of the bytes a person signs to sign in (never an event's).
const SIGN_IN_DOMAIN: &[u8] = b"kaohe sign-in v1";

/// The bytes a key signs to sign in: `"kaohe sign-in v1" || ledger_id (16) || challenge (32)`.
pub fn sign_in_message(ledger_id: &[u8; 16], challenge: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGN_IN_DOMAIN.len() + 48);
    m.extend_from_slice(SIGN_IN_DOMAIN);
    m.extend_from_slice(ledger_id);
    m.extend_from_slice(challenge);
    m
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub public_key: [u8; 32],
    pub actor: Actor,
    /// Microseconds since the epoch.
    pub expires_us: i64,
}

/// Why signing in failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInError {
    /// Too many challenges asked for one key within a minute.
    TooMany,
    /// Too many challenges or sessions outstanding.
    Full,
    /// The challenge is unknown, spent, expired or for another key.
    BadChallenge,
    /// The signature does not verify.
    BadSignature,
}

struct Challenge {
    public_key: [u8; 32],
    expires_us: i64,
}

/// The challenges outstanding and the sessions open.
#[derive(Default)]
pub struct Sessions {
    challenges: HashMap<[u8; 32], Challenge>,
    /// public key → (minute, attempts in it)
    attempts: HashMap<[u8; 32], (i64, u32)>,
    sessions: HashMap<String, Session>,
}

const MINUTE_US: i64 = 60_000_000;

impl Sessions {
    /// A new one-use challenge for a key, valid [`CHALLENGE_TTL_SECS`].
    pub fn challenge(
        &mut self,
        public_key: [u8; 32],
        now_us: i64,
    ) -> Result<[u8; 32], SignInError> {
        self.expire(now_us);
        let minute = now_us.div_euclid(MINUTE_US);
        let entry = self.attempts.entry(public_key).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= MAX_SIGN_IN_ATTEMPTS_PER_MINUTE {
            return Err(SignInError::TooMany);
        }
        entry.1 += 1;
        if self.challenges.len() >= MAX_CHALLENGES {
            return Err(SignInError::Full);
        }
        let challenge = random32().map_err(|_| SignInError::Full)?;
        self.challenges.insert(
            challenge,
            Challenge {
                public_key,
                expires_us: now_us + CHALLENGE_TTL_SECS * 1_000_000,
            },
        );
        Ok(challenge)
    }

    /// Spends a challenge: the key's signature of [`sign_in_message`] opens a session for
    /// `actor` (the key's, as the ledger registered it); gives its token.
    pub fn sign_in(
        &mut self,
        ledger_id: &[u8; 16],
        public_key: [u8; 32],
        challenge: [u8; 32],
        signature: &[u8; 64],
        actor: Actor,
        now_us: i64,
    ) -> Result<(String, Session), SignInError> {
        self.expire(now_us);
        let c = self
            .challenges
            .remove(&challenge)
            .ok_or(SignInError::BadChallenge)?;
        if c.public_key != public_key {
            return Err(SignInError::BadChallenge);
        }
        let message = sign_in_message(ledger_id, &challenge);
        if !sign::verify_message(&public_key, &message, signature) {
            return Err(SignInError::BadSignature);
        }
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(SignInError::Full);
        }
        let token = hex::encode(random32().map_err(|_| SignInError::Full)?);
        let session = Session {
            public_key,
            actor,
            expires_us: now_us + SESSION_TTL_SECS * 1_000_000,
        };
        self.sessions.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The session of a token, if it is open.
    pub fn get(&mut self, token: &str, now_us: i64) -> Option<Session> {
        let s = self.sessions.get(token)?;
        if s.expires_us <= now_us {
            self.sessions.remove(token);
            return None;
        }
        Some(s.clone())
    }

    /// Ends every session of a key (revoked).
    pub fn end_key(&mut self, public_key: &[u8; 32]) {
        self.sessions.retain(|_, s| &s.public_key != public_key);
    }

    /// Ends one session.
    pub fn end(&mut self, token: &str) {
        self.sessions.remove(token);
    }

    /// How many sessions are open.
    pub fn open_count(&self) -> usize {
        self.sessions.len()
    }

    fn expire(&mut self, now_us: i64) {
        self.challenges.retain(|_, c| c.expires_us > now_us);
        self.sessions.retain(|_, s| s.expires_us > now_us);
        let minute = now_us.div_euclid(MINUTE_US);
        self.attempts.retain(|_, (m, _)| *m == minute);
    }
}

/// 32 bytes from the system's randomness.
pub fn random32() -> Result<[u8; 32], getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> sign::KeyPair {
        sign::KeyPair::generate(Actor::Station("WJ01".into())).unwrap()
    }

    #[test]
    fn a_challenge_is_spent_once_and_only_by_its_key() {
        let k = pair();
        let id = [7u8; 16];
        let mut s = Sessions::default();
        let c = s.challenge(k.public_key(), 0).unwrap();
        let sig = k.sign_message(&sign_in_message(&id, &c));
        let other = pair();
        assert_eq!(
            s.sign_in(&id, other.public_key(), c, &sig, k.actor.clone(), 1)
                .unwrap_err(),
            SignInError::BadChallenge
        );
        // The wrong key spent it: it is gone.
        let c = s.challenge(k.public_key(), 2).unwrap();
        let sig = k.sign_message(&sign_in_message(&id, &c));
        let (token, session) = s
            .sign_in(&id, k.public_key(), c, &sig, k.actor.clone(), 3)
            .unwrap();
        assert_eq!(session.actor, k.actor);
        assert!(s.get(&token, 4).is_some());
        assert_eq!(
            s.sign_in(&id, k.public_key(), c, &sig, k.actor.clone(), 5)
                .unwrap_err(),
            SignInError::BadChallenge,
            "a challenge is spent once"
        );
        s.end_key(&k.public_key());
        assert!(s.get(&token, 6).is_none());
    }

    #[test]
    fn challenges_expire_and_are_rate_limited() {
        let k = pair();
        let id = [7u8; 16];
        let mut s = Sessions::default();
        let c = s.challenge(k.public_key(), 0).unwrap();
        let sig = k.sign_message(&sign_in_message(&id, &c));
        let late = CHALLENGE_TTL_SECS * 1_000_000 + 1;
        assert_eq!(
            s.sign_in(&id, k.public_key(), c, &sig, k.actor.clone(), late)
                .unwrap_err(),
            SignInError::BadChallenge
        );
        let t = 10 * MINUTE_US;
        for _ in 0..MAX_SIGN_IN_ATTEMPTS_PER_MINUTE {
            s.challenge(k.public_key(), t).unwrap();
        }
        assert_eq!(
            s.challenge(k.public_key(), t).unwrap_err(),
            SignInError::TooMany
        );
        assert!(s.challenge(k.public_key(), t + MINUTE_US).is_ok());
    }
}
