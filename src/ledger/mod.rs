//! The ledger: opening a store with its rubric, and its lookups. Its two paths are parts of
//! it: `write` (check a batch of commands against the rubric and the current state, then
//! append it in one durable commit) and `read` (the checked read path every projection
//! replays).

mod read;
mod write;

pub mod query;
pub mod tally;
pub mod walk;

use crate::domain::command::{Command, FieldError};
use crate::domain::rubric::{self, Rubric, RubricError};
use crate::domain::rules;
use crate::events::chain;
use crate::events::codec::{self, CodecError};
use crate::events::event::*;
use crate::store::{Commit, Head, Index, Store, StoreError};
use jiff::Timestamp;
use std::path::Path;

pub use crate::domain::command::AUTO_ID_PREFIX;
pub(crate) use read::{read_checked, read_checked_owned};
pub use write::{Applied, Attached, Prepared};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rubric(#[from] RubricError),
    /// A command was refused; nothing was written.
    #[error("{}field `{field}`: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Refused {
        line: Option<usize>,
        field: String,
        message: String,
        /// The message in Chinese (the pages'), saying what `message` says.
        zh: String,
    },
    /// The writer's clock is far from the ledger's time (`rules::clock`); nothing was written.
    #[error("{0}")]
    Clock(String, String),
    /// The ledger is not ready for what was asked (`close` with pending appeals or gaps).
    #[error("cannot close the period: {0}")]
    NotReady(String, String),
    /// Stored data breaks an invariant: the ledger is damaged.
    #[error("ledger damaged at seq {seq}: {message}")]
    Damaged { seq: u64, message: String },
    #[error("{0}")]
    Io(String),
}

impl LedgerError {
    /// True when the ledger is held by another process (its own exit code: try again).
    pub fn is_busy(&self) -> bool {
        matches!(self, LedgerError::Store(StoreError::InUse(_)))
    }

    /// True when the error reports damage found in stored data (exit 1), not bad input.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            LedgerError::Damaged { .. } | LedgerError::Store(StoreError::Corrupt(_))
        )
    }
}

fn refused(line: Option<usize>, e: FieldError) -> LedgerError {
    LedgerError::Refused {
        line,
        field: e.field,
        message: e.message,
        zh: e.zh,
    }
}

/// A genesis that cannot follow the previous year it names (`rules::follows`).
fn follows_refused(p: &rules::Problem) -> LedgerError {
    LedgerError::Refused {
        line: None,
        field: p.field.into(),
        message: p.message.clone(),
        zh: p.zh.clone(),
    }
}

fn damaged(seq: u64, message: impl Into<String>) -> LedgerError {
    LedgerError::Damaged {
        seq,
        message: message.into(),
    }
}

/// A command with the import line it came from (`None` for a single CLI command).
#[derive(Debug, Clone)]
pub struct Numbered {
    pub line: Option<usize>,
    pub command: Command,
}

/// A registered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub public_key: [u8; 32],
    pub actor: Actor,
    pub registered_seq: u64,
    pub revoked_seq: Option<u64>,
}

/// What happened to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new event was appended.
    Appended { seq: u64 },
    /// The same command was applied before: nothing written.
    Unchanged { seq: u64 },
}

impl Outcome {
    /// The seq of the event the command is (or was already) in the ledger as.
    pub fn seq(&self) -> u64 {
        match self {
            Outcome::Appended { seq } | Outcome::Unchanged { seq } => *seq,
        }
    }
}

/// One event as read back: checked against its stored hash and its predecessor.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub seq: u64,
    pub body: &'a Body,
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
    pub prev_hash: &'a Hash,
}

pub struct Ledger {
    store: Store,
    rubric: Rubric,
    genesis: LedgerCreated,
    /// The previous year's sealed head, when the genesis follows one (`LedgerFollows`).
    follows: Option<Sealed>,
    head: Head,
    /// The seq of the closing event, once the period is closed (it is the last event).
    closed: Option<u64>,
    /// Whether actors must sign what they record (seq 1 says so).
    signatures_required: bool,
    /// Whether seq 1 names a bureau key, the root of trust (`RootKey`).
    bureau_rooted: bool,
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    Created {
        ledger_id: [u8; 16],
        rubric_hash: Hash,
        /// The previous year's sealed head the genesis holds, if it follows one.
        follows: Option<Sealed>,
    },
}

impl Ledger {
    /// Creates a ledger whose genesis holds the rubric's exact bytes.
    pub fn init(
        path: &Path,
        rubric_toml: &str,
        now: Timestamp,
    ) -> Result<InitOutcome, LedgerError> {
        Self::init_with(path, rubric_toml, now, None, None)
    }

    /// [`Ledger::init`]; with a bureau key, seq 1 (`RootKey`) names it the root of trust:
    /// every record, report, appeal, decision and reversal must then be signed by its actor's
    /// registered key, and every key registration and revocation, station registration and
    /// the close by a bureau key in force. With `previous` (the sealed head of the year before,
    /// which the caller read and verified: `ops::years`), the genesis is a `LedgerFollows`
    /// holding it; its period must end before the rubric's starts ([`rules::follows`]).
    pub fn init_with(
        path: &Path,
        rubric_toml: &str,
        now: Timestamp,
        bureau_key: Option<KeyRegistered>,
        previous: Option<Sealed>,
    ) -> Result<InitOutcome, LedgerError> {
        let rubric = rubric::load(rubric_toml)?;
        if let Some(k) = &bureau_key {
            if !matches!(k.actor, Actor::Bureau(_)) {
                return Err(LedgerError::Refused {
                    line: None,
                    field: "bureau_key".into(),
                    message: format!(
                        "the root key must be a bureau's (`kaohe key new --bureau NAME`), not {}'s",
                        k.actor
                    ),
                    zh: format!("根密钥必须是司法局的密钥，而不是 {} 的", k.actor),
                });
            }
        }
        let seed = format!(
            "{}|{}|{}",
            now.as_nanosecond(),
            std::process::id(),
            path.display()
        );
        let genesis = LedgerCreated {
            ledger_id: chain::ledger_id(seed.as_bytes()),
            rubric_toml: rubric_toml.to_string(),
            rubric_hash: chain::plain(rubric_toml.as_bytes()),
            period_start: rubric.period_start,
            period_end: rubric.period_end,
        };
        let follows = previous;
        let kind = match previous {
            None => EventKind::LedgerCreated(genesis.clone()),
            Some(previous) => {
                rules::follows(&previous, &genesis.ledger_id, genesis.period_start)
                    .map_err(|e| follows_refused(&e))?;
                EventKind::LedgerFollows(LedgerFollows {
                    created: genesis.clone(),
                    previous,
                })
            }
        };
        let store = Store::create(path)?;
        let body = Body::V1(EventV1 {
            seq: 0,
            recorded_at_us: now.as_microsecond(),
            kind,
        });
        let bytes = codec::encode(&body).map_err(|e| LedgerError::Io(e.to_string()))?;
        let mut hash = chain::link(&chain::GENESIS_PREV, &bytes);
        let mut frames = vec![(bytes, hash)];
        let mut commit = Commit::default();
        if let Some(root) = bureau_key {
            commit.index.push((
                Index::Key,
                root.public_key.to_vec(),
                write::key_value(1, None),
            ));
            let policy = Body::V1(EventV1 {
                seq: 1,
                recorded_at_us: now.as_microsecond(),
                kind: EventKind::RootKey(root),
            });
            let bytes = codec::encode(&policy).map_err(|e| LedgerError::Io(e.to_string()))?;
            hash = chain::link(&hash, &bytes);
            frames.push((bytes, hash));
        }
        let mut packed = crate::store::Frames::default();
        for frame in frames {
            packed.push(frame);
        }
        commit.head = Some(Head {
            next_seq: packed.len() as u64,
            hash,
            recorded_at_us: now.as_microsecond(),
            tally_rows: 0,
            stations: 0,
            events_bytes: 0,
        });
        commit.frames = packed;
        store.commit(commit)?;
        Ok(InitOutcome::Created {
            ledger_id: genesis.ledger_id,
            rubric_hash: genesis.rubric_hash,
            follows,
        })
    }

    /// Opens a ledger: reads the genesis and its rubric, and checks the head against the tail.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Self::opened(path, Store::open(path)?)
    }

    /// Opens a ledger to read it: nothing in `path` is written, other readers may read it at
    /// the same time, and a writer waits only while it opens ([`Store::open_read`]). It shows
    /// the ledger as it stood when opened; writing through it fails.
    pub fn open_read(path: &Path) -> Result<Ledger, LedgerError> {
        Self::opened(path, Store::open_read(path)?)
    }

    /// A reader of this ledger as it stands now, for another thread of this process (the
    /// service's readers): it shares the store and keeps today's head, so that it never
    /// waits for the writer and shows one state.
    pub fn reader(&self) -> Result<Ledger, LedgerError> {
        Ok(Ledger {
            store: self.store.share()?,
            rubric: self.rubric.clone(),
            genesis: self.genesis.clone(),
            follows: self.follows,
            head: self.head,
            closed: self.closed,
            signatures_required: self.signatures_required,
            bureau_rooted: self.bureau_rooted,
        })
    }

    fn opened(path: &Path, store: Store) -> Result<Ledger, LedgerError> {
        let head = store
            .head()?
            .ok_or_else(|| StoreError::NotFound(path.to_path_buf()))?;
        let mut genesis = None;
        let mut follows = None;
        read_checked(&store, 0, 1, &chain::GENESIS_PREV, |e| {
            let kind = e.body.kind();
            match kind.genesis() {
                Some(g) => genesis = Some(g.clone()),
                None => return Err(damaged(0, "the first event is not the genesis")),
            }
            follows = kind.follows().copied();
            Ok(true)
        })?;
        let genesis = genesis.ok_or_else(|| damaged(0, "the genesis is missing"))?;
        if chain::plain(genesis.rubric_toml.as_bytes()) != genesis.rubric_hash {
            return Err(damaged(0, "the rubric does not match its hash"));
        }
        let rubric = rubric::load(&genesis.rubric_toml)?;
        let mut ledger = Ledger {
            store,
            rubric,
            genesis,
            follows,
            head,
            closed: None,
            signatures_required: false,
            bureau_rooted: false,
        };
        ledger.check_tail()?;
        if let Some(body) = ledger.event(1)? {
            ledger.bureau_rooted = matches!(body.kind(), EventKind::RootKey(_));
            ledger.signatures_required =
                ledger.bureau_rooted || matches!(body.kind(), EventKind::SignaturesRequired);
        }
        let last = ledger.head.next_seq.saturating_sub(1);
        if let Some(body) = ledger.event(last)? {
            if let EventKind::PeriodClosed(_) = body.kind() {
                ledger.closed = Some(last);
            }
        }
        Ok(ledger)
    }

    pub fn rubric(&self) -> &Rubric {
        &self.rubric
    }

    pub fn genesis(&self) -> &LedgerCreated {
        &self.genesis
    }

    pub fn head(&self) -> Head {
        self.head
    }

    /// The previous year's sealed head, when this ledger's genesis follows one.
    pub fn follows(&self) -> Option<&Sealed> {
        self.follows.as_ref()
    }

    /// The seq of the closing event, once the period is closed.
    pub fn closed_at(&self) -> Option<u64> {
        self.closed
    }

    /// Whether actors must sign what they record.
    pub fn signatures_required(&self) -> bool {
        self.signatures_required
    }

    /// The head as a signer sees it: what a signature made now binds.
    pub fn head_after(&self) -> After {
        // Invariant: a ledger holds its genesis, so the head is an event.
        debug_assert!(self.head.next_seq > 0, "an open ledger has a genesis");
        After {
            seq: self.head.next_seq.saturating_sub(1),
            hash: self.head.hash,
        }
    }

    /// Whether a bureau key is the root of trust (seq 1 names it).
    pub fn bureau_rooted(&self) -> bool {
        self.bureau_rooted
    }

    /// Every registered key, by registration.
    pub fn keys(&self) -> Result<Vec<KeyInfo>, LedgerError> {
        let mut publics = Vec::new();
        self.store.index_for_each(Index::Key, |k, _| {
            if let Ok(k) = <[u8; 32]>::try_from(k) {
                publics.push(k);
            }
            Ok(())
        })?;
        let mut out = Vec::new();
        for public_key in publics {
            let Some((registered_seq, revoked_seq)) = self.key_state(&public_key)? else {
                continue;
            };
            match self.event(registered_seq)?.map(|b| b.kind().clone()) {
                Some(EventKind::KeyRegistered(k) | EventKind::RootKey(k))
                    if k.public_key == public_key =>
                {
                    out.push(KeyInfo {
                        public_key,
                        actor: k.actor,
                        registered_seq,
                        revoked_seq,
                    })
                }
                _ => {
                    return Err(damaged(
                        registered_seq,
                        "the key index points at another event",
                    ))
                }
            }
        }
        out.sort_by_key(|k| k.registered_seq);
        Ok(out)
    }

    /// A key's registration: (seq registered, seq revoked), from the `Key` index.
    pub fn key_state(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<(u64, Option<u64>)>, LedgerError> {
        let Some(v) = self.store.index_get(Index::Key, public_key)? else {
            return Ok(None);
        };
        let seqs = parse_seqs(&v)
            .filter(|s| s.len() == 2)
            .ok_or_else(|| StoreError::Corrupt("a key index entry has the wrong size".into()))?;
        Ok(Some((seqs[0], (seqs[1] != u64::MAX).then_some(seqs[1]))))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads one event (checked against its stored hash).
    pub fn event(&self, seq: u64) -> Result<Option<Body>, LedgerError> {
        if seq >= self.head.next_seq {
            return Ok(None);
        }
        let mut out = None;
        self.replay(seq, seq + 1, |e| {
            out = Some(e.body.clone());
            Ok(false)
        })?;
        Ok(out)
    }

    /// The seq an index entry points at (and, for stations, the station's ordinal).
    fn index_entry(&self, index: Index, key: &[u8]) -> Result<Option<(u64, u32)>, LedgerError> {
        let Some(v) = self.store.index_get(index, key)? else {
            return Ok(None);
        };
        let wrong = || StoreError::Corrupt(format!("a {index:?} index entry has the wrong size"));
        let want = match index {
            Index::Station => 12,
            _ => 8,
        };
        if v.len() != want {
            return Err(wrong().into());
        }
        let seq = u64::from_be_bytes(v[..8].try_into().map_err(|_| wrong())?);
        let ordinal = match index {
            Index::Station => u32::from_be_bytes(v[8..12].try_into().map_err(|_| wrong())?),
            _ => 0,
        };
        Ok(Some((seq, ordinal)))
    }

    /// A station's registration seq and ordinal (its place in registration order).
    pub fn station_ordinal(&self, code: &str) -> Result<Option<(u64, u32)>, LedgerError> {
        self.index_entry(Index::Station, code.as_bytes())
    }

    /// The event that holds an id, if any: each event the id index offers (by the id's
    /// fingerprint) is read and its id compared. Seqs past this handle's head (committed
    /// since it was opened, seen through a shared store) are not its events.
    pub fn find_id(&self, id: &str) -> Result<Option<(u64, Body)>, LedgerError> {
        for seq in self.store.id_candidates(id.as_bytes())? {
            if seq >= self.head.next_seq {
                continue;
            }
            let body = self
                .event(seq)?
                .ok_or_else(|| damaged(seq, "the id index points at a missing event"))?;
            if body.kind().id() == Some(id) {
                return Ok(Some((seq, body)));
            }
        }
        Ok(None)
    }

    /// A station's registration, if any.
    pub fn find_station(&self, code: &str) -> Result<Option<StationRegistered>, LedgerError> {
        Ok(self
            .indexed(Index::Station, code.as_bytes())?
            .and_then(|(_, b)| match b.kind() {
                EventKind::StationRegistered(s) => Some(s.clone()),
                _ => None,
            }))
    }

    fn indexed(&self, index: Index, key: &[u8]) -> Result<Option<(u64, Body)>, LedgerError> {
        let Some((seq, _)) = self.index_entry(index, key)? else {
            return Ok(None);
        };
        let body = self
            .event(seq)?
            .ok_or_else(|| damaged(seq, "an index points past the head"))?;
        Ok(Some((seq, body)))
    }

    /// The seqs of a record's appeals, decisions and reversals, from the `Dispute` index.
    pub fn dispute_seqs(&self, target: u64) -> Result<Vec<u64>, LedgerError> {
        let Some(v) = self
            .store
            .index_get(Index::Dispute, &target.to_be_bytes())?
        else {
            return Ok(Vec::new());
        };
        parse_seqs(&v).ok_or_else(|| {
            StoreError::Corrupt(format!("the dispute entry of seq {target} is malformed")).into()
        })
    }

    /// Every disputed record and the seqs of its disputes, in record order.
    pub fn all_disputes(&self) -> Result<Vec<(u64, Vec<u64>)>, LedgerError> {
        let mut out = Vec::new();
        let mut bad = false;
        self.store.index_for_each(Index::Dispute, |k, v| {
            match (<[u8; 8]>::try_from(k), parse_seqs(v)) {
                (Ok(k), Some(seqs)) => out.push((u64::from_be_bytes(k), seqs)),
                _ => bad = true,
            }
            Ok(())
        })?;
        if bad {
            return Err(StoreError::Corrupt("a dispute entry is malformed".into()).into());
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// Events (and tally rows) [`Ledger::open`] checks at the tail, beyond the head and the last
/// event: a block's worth, a few milliseconds.
pub const TAIL_CHECK_EVENTS: u64 = crate::base::limits::EVENTS_PER_BLOCK;

/// A list of big-endian seqs.
fn parse_seqs(v: &[u8]) -> Option<Vec<u64>> {
    if !v.len().is_multiple_of(8) {
        return None;
    }
    Some(
        v.chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect(),
    )
}

impl From<crate::domain::projection::ProjectionError> for LedgerError {
    fn from(e: crate::domain::projection::ProjectionError) -> Self {
        damaged(e.seq, e.message)
    }
}

impl From<CodecError> for LedgerError {
    fn from(e: CodecError) -> Self {
        LedgerError::Io(e.to_string())
    }
}
