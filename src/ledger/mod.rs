//! The ledger: opening a store with its rubric, the write path (check a batch of commands
//! against the rubric and the current state, then append it in one durable commit), and the
//! checked read path every projection replays.

pub mod query;
pub mod tally;
pub mod walk;

use crate::domain::audit::{local_day, occurred_problem, unit_key};
use crate::domain::command::{
    AppealCmd, Command, DecideCmd, FieldError, MetricCmd, OutcomeCmd, RecordCmd, ReverseCmd,
    StationCmd,
};
use crate::domain::dispute::{appeal_problem, owner_problem, Appealed, Standing};
use crate::domain::rows::{aggregate_key, posting_key, Adjusted, Aggregate, Row, StationEntry};
use crate::domain::rubric::{self, Context, Rubric, RubricError, Rule};
use crate::events::chain;
use crate::events::codec::{self, CodecError};
use crate::events::event::*;
use crate::store::{Commit, Head, Index, Log, Store, StoreError};
use jiff::{civil::Date, Timestamp};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::domain::command::AUTO_ID_PREFIX;

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
    },
    /// The ledger is not ready for what was asked (`close` with pending appeals or gaps).
    #[error("cannot close the period: {0}")]
    NotReady(String),
    /// Stored data breaks an invariant: the ledger is damaged.
    #[error("ledger damaged at seq {seq}: {message}")]
    Damaged { seq: u64, message: String },
    #[error("{0}")]
    Io(String),
}

impl LedgerError {
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

/// What an import did ([`Ledger::apply_stream`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub commands: u64,
    pub appended: u64,
    pub unchanged: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Commands that could carry an id and had none (importing the file again would
    /// record them again).
    pub without_id: u64,
}

impl Applied {
    fn count(&mut self, c: &Command, o: Outcome) {
        self.commands += 1;
        match o {
            Outcome::Appended { seq } => {
                self.appended += 1;
                self.first_seq.get_or_insert(seq);
                self.last_seq = Some(seq);
            }
            Outcome::Unchanged { .. } => self.unchanged += 1,
        }
        let no_id = match c {
            Command::Record(r) => r.id.is_none(),
            Command::Metric(m) => m.id.is_none(),
            Command::Appeal(a) => a.id.is_none(),
            Command::Reverse(r) => r.id.is_none(),
            Command::Station(_)
            | Command::Decide(_)
            | Command::KeyRegister(_)
            | Command::KeyRevoke(_) => false,
        };
        self.without_id += u64::from(no_id);
    }
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
    head: Head,
    /// The seq of the closing event, once the period is closed (it is the last event).
    closed: Option<u64>,
    /// Whether actors must sign what they record (seq 1 says so).
    signatures_required: bool,
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    Created {
        ledger_id: [u8; 16],
        rubric_hash: Hash,
    },
}

impl Ledger {
    /// Creates a ledger whose genesis holds the rubric's exact bytes.
    pub fn init(
        path: &Path,
        rubric_toml: &str,
        now: Timestamp,
    ) -> Result<InitOutcome, LedgerError> {
        Self::init_with(path, rubric_toml, now, false)
    }

    /// [`Ledger::init`]; with `require_signatures`, seq 1 says that every record, report,
    /// appeal, decision and reversal must be signed by its actor's registered key.
    pub fn init_with(
        path: &Path,
        rubric_toml: &str,
        now: Timestamp,
        require_signatures: bool,
    ) -> Result<InitOutcome, LedgerError> {
        let rubric = rubric::load(rubric_toml)?;
        let store = Store::create(path)?;
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
        let body = Body::V1(EventV1 {
            seq: 0,
            recorded_at_us: now.as_microsecond(),
            kind: EventKind::LedgerCreated(genesis.clone()),
        });
        let bytes = codec::encode(&body).map_err(|e| LedgerError::Io(e.to_string()))?;
        let mut hash = chain::link(&chain::GENESIS_PREV, &bytes);
        let mut frames = vec![(bytes, hash)];
        if require_signatures {
            let policy = Body::V1(EventV1 {
                seq: 1,
                recorded_at_us: now.as_microsecond(),
                kind: EventKind::SignaturesRequired,
            });
            let bytes = codec::encode(&policy).map_err(|e| LedgerError::Io(e.to_string()))?;
            hash = chain::link(&hash, &bytes);
            frames.push((bytes, hash));
        }
        let mut packed = crate::store::Frames::default();
        for frame in frames {
            packed.push(frame);
        }
        store.commit(Commit {
            logs: Default::default(),
            head: Some(Head {
                next_seq: packed.len() as u64,
                hash,
                recorded_at_us: now.as_microsecond(),
                tally_rows: 0,
                stations: 0,
                events_bytes: 0,
            }),
            frames: packed,
            index: Default::default(),
        })?;
        Ok(InitOutcome::Created {
            ledger_id: genesis.ledger_id,
            rubric_hash: genesis.rubric_hash,
        })
    }

    /// Opens a ledger: reads the genesis and its rubric, and checks the head against the tail.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(path)?;
        let head = store
            .head()?
            .ok_or_else(|| StoreError::NotFound(path.to_path_buf()))?;
        let mut genesis = None;
        read_checked(&store, 0, 1, &chain::GENESIS_PREV, |e| {
            match e.body.kind() {
                EventKind::LedgerCreated(g) => genesis = Some(g.clone()),
                _ => return Err(damaged(0, "the first event is not the genesis")),
            }
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
            head,
            closed: None,
            signatures_required: false,
        };
        ledger.check_tail()?;
        if let Some(body) = ledger.event(1)? {
            ledger.signatures_required = matches!(body.kind(), EventKind::SignaturesRequired);
        }
        let last = ledger.head.next_seq.saturating_sub(1);
        if let Some(body) = ledger.event(last)? {
            if let EventKind::PeriodClosed(_) = body.kind() {
                ledger.closed = Some(last);
            }
        }
        Ok(ledger)
    }

    /// A cheap check on open: the files hold what the head says was committed, and the last
    /// event is there with the head's hash.
    fn check_tail(&self) -> Result<(), LedgerError> {
        let last = self.head.next_seq.saturating_sub(1);
        self.store.check_files(&self.head).map_err(|e| match e {
            StoreError::Corrupt(m) => damaged(last, m),
            e => e.into(),
        })?;
        let mut seen = false;
        self.store.for_each_frame(last, last + 1, |f| {
            seen = f.hash == &self.head.hash;
            Ok(true)
        })?;
        if !seen {
            return Err(damaged(last, "the last event's hash is not the head hash"));
        }
        for (log, want) in [
            (Log::Tally, self.head.tally_rows),
            (Log::Stations, self.head.stations),
        ] {
            let have = self.store.log_len(log)?;
            if have != want {
                return Err(damaged(
                    last,
                    format!("the {log:?} log holds {have} entries where the head says {want}"),
                ));
            }
        }
        self.check_recent()
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

    /// The seq of the closing event, once the period is closed.
    pub fn closed_at(&self) -> Option<u64> {
        self.closed
    }

    /// Whether actors must sign what they record.
    pub fn signatures_required(&self) -> bool {
        self.signatures_required
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
                Some(EventKind::KeyRegistered(k)) if k.public_key == public_key => {
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

    /// Replays events `[from, to)` in order, each checked: it decodes, its seq is its place,
    /// and its hash links it to the one before. `f` returns `false` to stop.
    pub fn replay(
        &self,
        from: u64,
        to: u64,
        f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        let to = to.min(self.head.next_seq);
        let prev = if from == 0 {
            chain::GENESIS_PREV
        } else {
            self.hash_at(from - 1)?
        };
        read_checked(&self.store, from, to, &prev, f)
    }

    /// Checks the links of events `[0, end)` without decoding them: every stored hash is
    /// BLAKE3 over the previous stored hash and the stored bytes. Answers read from the tally
    /// (a cache) call this first, so that a damaged chain is never read as a valid ledger.
    /// Each link depends only on stored bytes, so the two halves are checked in parallel.
    pub fn check_links(&self, end: u64) -> Result<(), LedgerError> {
        let end = end.min(self.head.next_seq);
        let mid = end / 2;
        if mid == 0 {
            return self.check_link_range(0, end, chain::GENESIS_PREV);
        }
        let before_mid = self.hash_at(mid - 1)?;
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| self.check_link_range(mid, end, before_mid));
            let first = self.check_link_range(0, mid, chain::GENESIS_PREV);
            (first, second.join())
        });
        first?;
        second.map_err(|_| LedgerError::Io("a link-checking thread failed".into()))?
    }

    fn check_link_range(&self, from: u64, to: u64, prev: Hash) -> Result<(), LedgerError> {
        let mut prev = prev;
        let mut next = from;
        let mut bad = None;
        self.store.for_each_frame(from, to, |f| {
            if f.seq != next {
                bad = Some(damaged(next, "event is missing"));
                return Ok(false);
            }
            if chain::link(&prev, f.body) != *f.hash {
                bad = Some(damaged(
                    f.seq,
                    "hash does not match the stored bytes and the previous hash",
                ));
                return Ok(false);
            }
            prev = *f.hash;
            next += 1;
            Ok(true)
        })?;
        match bad {
            Some(e) => Err(e),
            None if next < to => Err(damaged(next, "event is missing")),
            None => Ok(()),
        }
    }

    /// Replays every event.
    pub fn replay_all(
        &self,
        f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
    ) -> Result<(), LedgerError> {
        self.replay(0, self.head.next_seq, f)
    }

    fn hash_at(&self, seq: u64) -> Result<Hash, LedgerError> {
        let mut out = None;
        self.store.for_each_frame(seq, seq + 1, |f| {
            out = Some(*f.hash);
            Ok(false)
        })?;
        out.ok_or_else(|| damaged(seq, "event is missing"))
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

    /// The event that holds an id, if any.
    pub fn find_id(&self, id: &str) -> Result<Option<(u64, Body)>, LedgerError> {
        self.indexed(Index::Id, id.as_bytes())
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

    fn unit_count(&self, station: &str, clause: &str) -> Result<u32, LedgerError> {
        match self
            .store
            .index_get(Index::UnitCount, &unit_key(station, clause))?
        {
            None => Ok(0),
            Some(v) => {
                let b: [u8; 4] = v
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("a unit count has the wrong size".into()))?;
                Ok(u32::from_be_bytes(b))
            }
        }
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

    /// Checks every command (against the ledger and the commands before it), then appends the
    /// new events in one durable commit. On any refusal nothing is written.
    pub fn apply(
        &mut self,
        commands: &[Numbered],
        now: Timestamp,
    ) -> Result<Vec<Outcome>, LedgerError> {
        self.apply_signed(commands, now, None)
    }

    /// [`Ledger::apply`], signing each record, report, appeal, decision and reversal with
    /// `signer` (whose registered actor must be each event's actor).
    pub fn apply_signed(
        &mut self,
        commands: &[Numbered],
        now: Timestamp,
        signer: Option<&crate::events::sign::KeyPair>,
    ) -> Result<Vec<Outcome>, LedgerError> {
        let mut outcomes = Vec::with_capacity(commands.len());
        self.apply_each(
            commands.iter().map(|c| Ok(Cow::Borrowed(c))),
            now,
            signer,
            |_, o| outcomes.push(o),
        )?;
        Ok(outcomes)
    }

    /// [`Ledger::apply_signed`] over commands as they are parsed (an import file): each is
    /// checked and dropped, so that only what the commit needs is held. Returns a summary
    /// instead of one outcome per command. The first error (a line that does not parse or a
    /// command refused) stops it with nothing written.
    pub fn apply_stream(
        &mut self,
        commands: impl Iterator<Item = Result<Numbered, LedgerError>>,
        now: Timestamp,
        signer: Option<&crate::events::sign::KeyPair>,
    ) -> Result<Applied, LedgerError> {
        let mut applied = Applied::default();
        self.apply_each(commands.map(|c| c.map(Cow::Owned)), now, signer, |c, o| {
            applied.count(c, o)
        })?;
        Ok(applied)
    }

    fn apply_each<'c>(
        &mut self,
        commands: impl Iterator<Item = Result<Cow<'c, Numbered>, LedgerError>>,
        now: Timestamp,
        signer: Option<&crate::events::sign::KeyPair>,
        mut outcome: impl FnMut(&Command, Outcome),
    ) -> Result<(), LedgerError> {
        let mut commands = commands.peekable();
        let first_line = match commands.peek() {
            Some(Ok(c)) => Some(c.line),
            _ => None,
        };
        if let (Some(seq), Some(line)) = (self.closed, first_line) {
            return Err(LedgerError::Refused {
                line,
                field: "op".into(),
                message: format!(
                    "the period {} to {} was closed at seq {seq}; nothing can be recorded, appealed or decided after it",
                    self.genesis.period_start, self.genesis.period_end
                ),
            });
        }
        let recorded_at_us = now.as_microsecond().max(self.head.recorded_at_us);
        let mut batch = Batch::new(self, recorded_at_us, now)?;
        batch.signer = signer;
        for c in commands {
            let c = c?;
            let o = batch.check(&c.command).map_err(|e| refused(c.line, e))?;
            outcome(&c.command, o);
        }
        let (commit, _) = batch.into_commit()?;
        if !commit.frames.is_empty() {
            self.head = self.store.commit(commit)?;
        }
        Ok(())
    }
}

/// A station's aggregate as this commit builds it, read from the store on first use.
fn aggregate_for<'m>(
    aggregates: &'m mut BTreeMap<u32, Aggregate>,
    store: &Store,
    station: u32,
) -> Result<&'m mut Aggregate, LedgerError> {
    Ok(match aggregates.entry(station) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => {
            let stored = store.index_get(Index::Aggregate, &aggregate_key(station))?;
            let agg = match stored {
                None => Aggregate::default(),
                Some(b) => Aggregate::decode(&b)
                    .ok_or_else(|| StoreError::Corrupt("an aggregate is malformed".into()))?,
            };
            e.insert(agg)
        }
    })
}

impl Ledger {
    /// Appends the rank bonuses `close` computed (each gets a ledger-assigned id) and the
    /// closing event, in one commit; returns the bonuses' seqs. `close::close` checks first.
    pub(crate) fn append_closing(
        &mut self,
        bonuses: Vec<PointsRecorded>,
        closed: PeriodClosed,
        now: Timestamp,
    ) -> Result<Vec<u64>, LedgerError> {
        assert!(
            self.closed.is_none(),
            "close checks that the period is open"
        );
        let recorded_at_us = now.as_microsecond().max(self.head.recorded_at_us);
        let mut batch = Batch::new(self, recorded_at_us, now)?;
        let mut seqs = Vec::with_capacity(bonuses.len());
        for mut b in bonuses {
            batch
                .known_station(&b.station)
                .map_err(|e| refused(None, e))?;
            b.id = format!("{AUTO_ID_PREFIX}{}", batch.next_seq);
            seqs.push(batch.next_seq);
            batch.push(EventKind::PointsRecorded(b));
        }
        batch.push(EventKind::PeriodClosed(closed));
        let (commit, _) = batch.into_commit()?;
        self.head = self.store.commit(commit)?;
        self.closed = Some(self.head.next_seq - 1);
        Ok(seqs)
    }

    /// The open-time check of the recent tail (part of [`Ledger::open`]'s cheap check): the
    /// last [`TAIL_CHECK_EVENTS`] events link, decode and stand at their seqs, their recorded
    /// times do not go back and the last one's is the head's; and the last
    /// [`TAIL_CHECK_EVENTS`] tally rows are whole, in seq order, and each names a tail event
    /// that has a row, at its recorded time (a record's or report's with its points and date).
    /// The full check is `verify`.
    fn check_recent(&self) -> Result<(), LedgerError> {
        let next = self.head.next_seq;
        let from = next.saturating_sub(TAIL_CHECK_EVENTS).max(1);
        if from >= next {
            return Ok(());
        }
        let prev = self.hash_at(from - 1)?;
        let mut last_us = i64::MIN;
        // seq → (recorded_at, the occurred day and points a record's or report's row holds)
        let mut rows: BTreeMap<u64, (i64, Option<(u32, Decimal)>)> = BTreeMap::new();
        read_checked(&self.store, from, next, &prev, |e| {
            let at = e.body.v1().recorded_at_us;
            if at < last_us {
                return Err(damaged(e.seq, "recorded_at goes back in time"));
            }
            last_us = at;
            let fields = match e.body.kind() {
                EventKind::PointsRecorded(p) => Some((
                    crate::domain::rows::day_number(p.occurred),
                    p.computed_points,
                )),
                EventKind::MetricReported(m) => {
                    Some((crate::domain::rows::day_number(m.occurred), m.value))
                }
                EventKind::AppealFiled(_)
                | EventKind::AppealDecided(_)
                | EventKind::RecordReversed(_) => None,
                _ => return Ok(true),
            };
            rows.insert(e.seq, (at, fields));
            Ok(true)
        })?;
        let last = next - 1;
        if last_us != self.head.recorded_at_us {
            return Err(damaged(
                last,
                "the head's recorded time disagrees with the last event",
            ));
        }
        let n = self.head.tally_rows;
        let mut after = None;
        let mut in_tail = 0u64;
        let mut problem = None;
        self.store.for_each_log_entry(
            Log::Tally,
            n.saturating_sub(TAIL_CHECK_EVENTS),
            |i, e| {
                let bad = match Row::decode(e) {
                    None => Some("is malformed".to_string()),
                    Some(r) if after.is_some_and(|a| r.seq <= a) || r.seq > last => {
                        Some(format!("names seq {}, out of order", r.seq))
                    }
                    Some(r) if r.seq < from => None,
                    Some(r) => match rows.get(&r.seq) {
                        None => Some(format!("names seq {}, which has no row", r.seq)),
                        Some((at, _)) if *at != r.recorded_at_us => {
                            Some(format!("disagrees with seq {}'s recorded time", r.seq))
                        }
                        Some((_, Some(f))) if *f != (r.occurred, r.points) => {
                            Some(format!("disagrees with seq {}'s date or figure", r.seq))
                        }
                        Some(_) => None,
                    },
                };
                if let Some(b) = bad {
                    problem = Some(format!("tally row {i} {b}"));
                    return Ok(false);
                }
                after = Row::decode(e).map(|r| r.seq);
                in_tail += u64::from(after.is_some_and(|a| a >= from));
                Ok(true)
            },
        )?;
        if problem.is_none() && in_tail != rows.len() as u64 {
            problem = Some(format!(
                "the last tally rows hold {in_tail} rows of the last events where they have {}",
                rows.len()
            ));
        }
        match problem {
            Some(p) => Err(damaged(last, p)),
            None => Ok(()),
        }
    }
}

/// Events (and tally rows) [`Ledger::open`] checks at the tail, beyond the head and the last
/// event: a block's worth, a few milliseconds.
pub const TAIL_CHECK_EVENTS: u64 = crate::base::limits::EVENTS_PER_BLOCK;

/// A `Key` index value: the registration's seq and the revocation's (`u64::MAX`: none).
fn key_value(registered: u64, revoked: Option<u64>) -> Vec<u8> {
    let mut v = registered.to_be_bytes().to_vec();
    v.extend_from_slice(&revoked.unwrap_or(u64::MAX).to_be_bytes());
    v
}

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

/// Reads `[from, to)` and checks each event; `prev` is the hash before `from`.
pub(crate) fn read_checked(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    mut f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    read_checked_owned(store, from, to, prev, |body, e| {
        f(EventRef {
            seq: e.seq,
            body: &body,
            bytes: e.bytes,
            hash: e.hash,
            prev_hash: e.prev_hash,
        })
    })
}

/// A checked frame, before its body is handed over.
pub(crate) struct CheckedFrame<'a> {
    pub seq: u64,
    pub bytes: &'a [u8],
    pub hash: &'a Hash,
    pub prev_hash: &'a Hash,
}

/// [`read_checked`], handing each decoded body over by value.
pub(crate) fn read_checked_owned(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    mut f: impl FnMut(Body, CheckedFrame<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    let mut prev = *prev;
    let mut next = from;
    let mut err = None;
    store.for_each_frame(from, to, |frame| {
        let mut check = || -> Result<bool, LedgerError> {
            if frame.seq != next {
                return Err(damaged(next, "event is missing"));
            }
            if chain::link(&prev, frame.body) != *frame.hash {
                return Err(damaged(
                    frame.seq,
                    "hash does not match the stored bytes and the previous hash",
                ));
            }
            let body = codec::decode(frame.body).map_err(|e| damaged(frame.seq, e.to_string()))?;
            if body.seq() != frame.seq {
                return Err(damaged(
                    frame.seq,
                    format!(
                        "event says seq {} but is stored at {}",
                        body.seq(),
                        frame.seq
                    ),
                ));
            }
            let go = f(
                body,
                CheckedFrame {
                    seq: frame.seq,
                    bytes: frame.body,
                    hash: frame.hash,
                    prev_hash: &prev,
                },
            )?;
            prev = *frame.hash;
            next += 1;
            Ok(go)
        };
        match check() {
            Ok(go) => Ok(go),
            Err(e) => {
                err = Some(e);
                Ok(false)
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(())
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

/// A batch of commands being checked: the ledger's state plus what earlier commands add.
/// A registered station as a batch knows it.
#[derive(Debug, Clone)]
struct StationInfo {
    seq: u64,
    ordinal: u32,
    reg: StationRegistered,
}

struct Batch<'a> {
    ledger: &'a Ledger,
    recorded_at_us: i64,
    /// The clock's time, which decides what "today" is (recorded times never go back, so
    /// `recorded_at_us` may be later).
    now: Timestamp,
    next_seq: u64,
    events: Vec<EventKind>,
    stations: BTreeMap<String, Option<StationInfo>>,
    /// Stations registered before this batch, and by it: the next registration's ordinal is
    /// their sum.
    stations_before: u32,
    stations_new: u32,
    /// ids claimed by this batch → seq
    ids: BTreeMap<String, u64>,
    unit_counts: BTreeMap<Vec<u8>, u32>,
    /// Records whose disputes this batch has looked at, as they stand with its events.
    disputes: BTreeMap<u64, Standing>,
    /// What each dispute event of this batch did to its record: seq → change.
    adjusted: BTreeMap<u64, Adjusted>,
    /// The key that signs this batch's actors' events, and which of its events it signs.
    signer: Option<&'a crate::events::sign::KeyPair>,
    signed: std::collections::BTreeSet<u64>,
    /// Keys this batch registers or revokes: public key → (registered seq, actor, revoked seq).
    keys: BTreeMap<[u8; 32], (u64, Actor, Option<u64>)>,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    crate::domain::command::field_error(field, message)
}

impl<'a> Batch<'a> {
    fn new(ledger: &'a Ledger, recorded_at_us: i64, now: Timestamp) -> Result<Self, LedgerError> {
        let stations_before = u32::try_from(ledger.store.log_len(Log::Stations)?)
            .map_err(|_| LedgerError::Io("more stations than a u32 counts".into()))?;
        Ok(Batch {
            ledger,
            recorded_at_us,
            now,
            next_seq: ledger.head.next_seq,
            events: Vec::new(),
            stations: BTreeMap::new(),
            stations_before,
            stations_new: 0,
            ids: BTreeMap::new(),
            unit_counts: BTreeMap::new(),
            disputes: BTreeMap::new(),
            adjusted: BTreeMap::new(),
            signer: None,
            signed: Default::default(),
            keys: BTreeMap::new(),
        })
    }

    /// Where an event stands, for messages: in the ledger, or earlier in this batch.
    fn place(&self, seq: u64) -> String {
        if seq < self.ledger.head.next_seq {
            format!("seq {seq}")
        } else {
            "by an earlier line of this import".into()
        }
    }

    fn ledger_err(e: LedgerError) -> FieldError {
        err("ledger", e.to_string())
    }

    fn station(&mut self, code: &str) -> Result<Option<StationInfo>, FieldError> {
        if let Some(s) = self.stations.get(code) {
            return Ok(s.clone());
        }
        let ledger = self.ledger;
        let found = match ledger.station_ordinal(code).map_err(Self::ledger_err)? {
            None => None,
            Some((seq, ordinal)) => match ledger.event(seq).map_err(Self::ledger_err)? {
                Some(b) => match b.kind() {
                    EventKind::StationRegistered(reg) if reg.code == code => Some(StationInfo {
                        seq,
                        ordinal,
                        reg: reg.clone(),
                    }),
                    _ => {
                        return Err(Self::ledger_err(damaged(
                            seq,
                            "the station index points at another event",
                        )))
                    }
                },
                None => {
                    return Err(Self::ledger_err(damaged(
                        seq,
                        "the station index points past the head",
                    )))
                }
            },
        };
        self.stations.insert(code.to_string(), found.clone());
        Ok(found)
    }

    fn known_station(&mut self, code: &str) -> Result<StationRegistered, FieldError> {
        self.station(code)?.map(|s| s.reg).ok_or_else(|| {
            err(
                "station",
                format!("unknown station `{code}`; register it first with `station add`"),
            )
        })
    }

    fn id_holder(&self, id: &str) -> Result<Option<(u64, EventKind)>, FieldError> {
        if let Some(&seq) = self.ids.get(id) {
            let first = self.ledger.head.next_seq;
            // Invariant: ids claimed by this batch name events of this batch.
            let kind = self.events[(seq - first) as usize].clone();
            return Ok(Some((seq, kind)));
        }
        Ok(self
            .ledger
            .find_id(id)
            .map_err(Self::ledger_err)?
            .map(|(seq, b)| (seq, b.kind().clone())))
    }

    fn push(&mut self, kind: EventKind) -> Outcome {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(id) = kind.id() {
            self.ids.insert(id.to_string(), seq);
        }
        self.events.push(kind);
        Outcome::Appended { seq }
    }

    /// A key as this batch knows it: (registered seq, actor, revoked seq).
    fn key(&self, public_key: &[u8; 32]) -> Result<Option<(u64, Actor, Option<u64>)>, FieldError> {
        if let Some(k) = self.keys.get(public_key) {
            return Ok(Some(k.clone()));
        }
        let Some((seq, revoked)) = self
            .ledger
            .key_state(public_key)
            .map_err(Self::ledger_err)?
        else {
            return Ok(None);
        };
        match self.kind_at(seq)?.0 {
            EventKind::KeyRegistered(k) if &k.public_key == public_key => {
                Ok(Some((seq, k.actor, revoked)))
            }
            _ => Err(Self::ledger_err(damaged(
                seq,
                "the key index points at another event",
            ))),
        }
    }

    /// Pushes an event an actor records: signed by the batch's key, which must be that
    /// actor's and in force; unsigned only where the ledger does not require signatures.
    fn push_by_actor(&mut self, kind: EventKind) -> Result<Outcome, FieldError> {
        // Invariant: only kinds with an actor come here.
        let actor = kind.actor().expect("an actor's event");
        match self.signer {
            None if self.ledger.signatures_required => {
                return Err(err(
                    "key",
                    format!("this ledger requires signatures: sign as {actor} with --key FILE (or KAOHE_KEY)"),
                ))
            }
            None => {}
            Some(signer) => {
                let public = signer.public_key();
                let hex = hex::encode(public);
                match self.key(&public)? {
                    None => {
                        return Err(err(
                            "key",
                            format!("key {hex} is not registered in this ledger (`kaohe key register FILE.pub`)"),
                        ))
                    }
                    Some((_, _, Some(revoked))) => {
                        return Err(err(
                            "key",
                            format!("key {hex} was revoked ({})", self.place(revoked)),
                        ))
                    }
                    Some((_, registered, None)) if registered != actor => {
                        return Err(err(
                            "key",
                            format!("key {hex} is {registered}'s; this event's actor is {actor}"),
                        ))
                    }
                    Some(_) => {
                        self.signed.insert(self.next_seq);
                    }
                }
            }
        }
        Ok(self.push(kind))
    }

    fn check_key_register(
        &mut self,
        k: &crate::domain::command::KeyRegisterCmd,
    ) -> Result<Outcome, FieldError> {
        let actor = match &k.actor {
            Actor::Department(d) => {
                Actor::Department(self.department(d).map_err(|e| err("actor", e.message))?)
            }
            Actor::Station(s) => {
                self.known_station(s).map_err(|e| err("actor", e.message))?;
                Actor::Station(s.clone())
            }
        };
        if let Some((seq, registered, _)) = self.key(&k.public_key)? {
            if registered == actor {
                return Ok(Outcome::Unchanged { seq });
            }
            return Err(err(
                "public_key",
                format!(
                    "this key is already registered for {registered} ({}); a key serves one actor",
                    self.place(seq)
                ),
            ));
        }
        let seq = self.next_seq;
        self.keys.insert(k.public_key, (seq, actor.clone(), None));
        Ok(self.push(EventKind::KeyRegistered(KeyRegistered {
            actor,
            public_key: k.public_key,
        })))
    }

    fn check_key_revoke(
        &mut self,
        k: &crate::domain::command::KeyRevokeCmd,
    ) -> Result<Outcome, FieldError> {
        let hex = hex::encode(k.public_key);
        match self.key(&k.public_key)? {
            None => Err(err("public_key", format!("key {hex} is not registered"))),
            Some((_, _, Some(revoked))) => Err(err(
                "public_key",
                format!("key {hex} was already revoked ({})", self.place(revoked)),
            )),
            Some((registered, actor, None)) => {
                let seq = self.next_seq;
                self.keys
                    .insert(k.public_key, (registered, actor, Some(seq)));
                Ok(self.push(EventKind::KeyRevoked(KeyRevoked {
                    public_key: k.public_key,
                    reason: k.reason.clone(),
                })))
            }
        }
    }

    fn check(&mut self, command: &Command) -> Result<Outcome, FieldError> {
        match command {
            Command::KeyRegister(k) => self.check_key_register(k),
            Command::KeyRevoke(k) => self.check_key_revoke(k),
            Command::Station(s) => self.check_station(s),
            Command::Record(r) => self.check_record(r),
            Command::Metric(m) => self.check_metric(m),
            Command::Appeal(a) => self.check_appeal(a),
            Command::Decide(d) => self.check_decide(d),
            Command::Reverse(r) => self.check_reverse(r),
        }
    }

    fn check_station(&mut self, s: &StationCmd) -> Result<Outcome, FieldError> {
        let reg = StationRegistered {
            code: s.code.clone(),
            name: s.name.clone(),
            kind: s.kind,
        };
        if let Some(StationInfo {
            seq, reg: existing, ..
        }) = self.station(&s.code)?
        {
            if existing == reg {
                return Ok(Outcome::Unchanged { seq });
            }
            return Err(err(
                "code",
                format!(
                    "station {} is already registered ({}) as {} ({}); a station's name and kind cannot change",
                    s.code,
                    self.place(seq),
                    existing.name,
                    existing.kind.as_str()
                ),
            ));
        }
        let info = StationInfo {
            seq: self.next_seq,
            ordinal: self.stations_before + self.stations_new,
            reg: reg.clone(),
        };
        self.stations_new += 1;
        self.stations.insert(s.code.clone(), Some(info));
        Ok(self.push(EventKind::StationRegistered(reg)))
    }

    /// The id to use, or the outcome when the same command was applied before.
    fn claim_id(
        &mut self,
        id: &Option<String>,
        same: impl Fn(&EventKind) -> bool,
    ) -> Result<Result<String, Outcome>, FieldError> {
        let Some(id) = id else {
            // The event this command becomes gets seq `next_seq`, unique for good.
            let auto = format!("{AUTO_ID_PREFIX}{}", self.next_seq);
            return Ok(Ok(auto));
        };
        match self.id_holder(id)? {
            None => Ok(Ok(id.clone())),
            Some((seq, kind)) if same(&kind) => Ok(Err(Outcome::Unchanged { seq })),
            Some((seq, _)) => Err(err(
                "id",
                format!(
                    "id `{id}` is already used ({}) with other content; an id names one event for good",
                    self.place(seq)
                ),
            )),
        }
    }

    fn department(&self, by: &str) -> Result<String, FieldError> {
        let rubric = &self.ledger.rubric;
        rubric.department(by).map(str::to_string).ok_or_else(|| {
            let names: Vec<&str> = rubric.departments.iter().map(|d| d.name.as_str()).collect();
            err(
                "by",
                format!(
                    "`{by}` is not a department of this rubric ({})",
                    names.join(", ")
                ),
            )
        })
    }

    fn check_occurred(&self, occurred: Date) -> Result<(), FieldError> {
        let g = &self.ledger.genesis;
        let period = (g.period_start, g.period_end);
        match occurred_problem(period, occurred, local_day(self.now)) {
            Some(problem) => Err(err("occurred", problem)),
            None => Ok(()),
        }
    }

    fn check_record(&mut self, r: &RecordCmd) -> Result<Outcome, FieldError> {
        let rubric = &self.ledger.rubric;
        let (item, clause) = rubric
            .clause(&r.clause)
            .ok_or_else(|| err("clause", format!("unknown clause `{}`", r.clause)))?;
        let by = self.department(&r.by)?;
        let mut inputs = r.inputs.clone();
        inputs.value = inputs.value.map(crate::base::decimal::canonical);
        inputs.points = inputs.points.map(crate::base::decimal::canonical);
        let same = |k: &EventKind| match k {
            EventKind::PointsRecorded(p) => {
                p.station == r.station
                    && p.clause == r.clause
                    && p.by == by
                    && p.occurred == r.occurred
                    && p.inputs == inputs
                    && p.evidence == r.evidence
            }
            _ => false,
        };
        let id = match self.claim_id(&r.id, same)? {
            Ok(id) => id,
            Err(unchanged) => return Ok(unchanged),
        };
        let station = self.known_station(&r.station)?;
        if !item.departments.contains(&by) {
            return Err(err(
                "by",
                format!(
                    "{by} does not assess item {} (assessed by {})",
                    item.code,
                    item.departments.join(", ")
                ),
            ));
        }
        self.check_occurred(r.occurred)?;
        let ukey = unit_key(&r.station, &r.clause);
        let prior_count = match self.unit_counts.get(&ukey) {
            Some(n) => *n,
            None => self
                .ledger
                .unit_count(&r.station, &r.clause)
                .map_err(Self::ledger_err)?,
        };
        let ctx = Context {
            station_kind: station.kind,
            prior_count,
        };
        let computed = rubric
            .compute(clause, &ctx, &inputs)
            .map_err(|e| err(e.field(), e.to_string()))?;
        if let Rule::PerUnit {
            max_count: Some(_), ..
        } = clause.rule
        {
            let units = inputs.count.unwrap_or(1);
            self.unit_counts.insert(ukey, prior_count + units);
        }
        self.push_by_actor(EventKind::PointsRecorded(PointsRecorded {
            id,
            station: r.station.clone(),
            clause: r.clause.clone(),
            inputs,
            computed_points: computed,
            occurred: r.occurred,
            by,
            evidence: r.evidence.clone(),
        }))
    }

    fn check_metric(&mut self, m: &MetricCmd) -> Result<Outcome, FieldError> {
        let rubric = &self.ledger.rubric;
        let metric = rubric.metric(&m.metric).ok_or_else(|| {
            let names: Vec<&str> = rubric.metrics.iter().map(|x| x.name.as_str()).collect();
            err(
                "metric",
                format!(
                    "unknown metric `{}` (the rubric's metrics: {})",
                    m.metric,
                    names.join(", ")
                ),
            )
        })?;
        let by = self.department(&m.by)?;
        let value = crate::base::decimal::canonical(m.value);
        let same = |k: &EventKind| match k {
            EventKind::MetricReported(x) => {
                x.station == m.station
                    && x.metric == m.metric
                    && x.value == value
                    && x.by == by
                    && x.occurred == m.occurred
                    && x.evidence == m.evidence
            }
            _ => false,
        };
        let id = match self.claim_id(&m.id, same)? {
            Ok(id) => id,
            Err(unchanged) => return Ok(unchanged),
        };
        self.known_station(&m.station)?;
        let owners = rubric.metric_departments(&m.metric);
        if !owners.contains(by.as_str()) {
            let owners: Vec<&str> = owners.into_iter().collect();
            return Err(err(
                "by",
                format!(
                    "{by} does not report {} (reported by {})",
                    m.metric,
                    owners.join(", ")
                ),
            ));
        }
        metric.check_bounds(value).map_err(|b| {
            err(
                "value",
                format!("{value} is outside the bounds of {} ({b})", m.metric),
            )
        })?;
        self.check_occurred(m.occurred)?;
        self.push_by_actor(EventKind::MetricReported(MetricReported {
            id,
            station: m.station.clone(),
            metric: m.metric.clone(),
            value,
            occurred: m.occurred,
            by,
            evidence: m.evidence.clone(),
        }))
    }

    /// An event of the ledger or of this batch, with its recorded time (µs).
    fn kind_at(&self, seq: u64) -> Result<(EventKind, i64), FieldError> {
        let first = self.ledger.head.next_seq;
        if seq >= first {
            // Invariant: callers ask only for seqs below `next_seq`.
            let kind = self.events[(seq - first) as usize].clone();
            return Ok((kind, self.recorded_at_us));
        }
        let body = self
            .ledger
            .event(seq)
            .map_err(Self::ledger_err)?
            .ok_or_else(|| Self::ledger_err(damaged(seq, "event is missing")))?;
        let at = body.v1().recorded_at_us;
        Ok((body.v1().kind.clone(), at))
    }

    /// The seq of the event a reference names: an id (of the ledger or of this batch), a seq
    /// or a hash.
    fn resolve(&self, field: &str, key: &str) -> Result<u64, FieldError> {
        if let Some(&seq) = self.ids.get(key) {
            return Ok(seq);
        }
        if let Ok(seq) = key.parse::<u64>() {
            if (self.ledger.head.next_seq..self.next_seq).contains(&seq)
                && self
                    .ledger
                    .find_id(key)
                    .map_err(Self::ledger_err)?
                    .is_none()
            {
                return Ok(seq);
            }
        }
        self.ledger
            .find_event(key)
            .map_err(|e| match e {
                LedgerError::Refused { message, .. } => err(field, message),
                e => Self::ledger_err(e),
            })?
            .ok_or_else(|| {
                err(
                    field,
                    format!("no event `{key}` in the ledger (name it by id, seq or hash)"),
                )
            })
    }

    /// The record a reference names, with its seq and recorded time.
    fn record_at(&self, field: &str, key: &str) -> Result<(u64, PointsRecorded, i64), FieldError> {
        let seq = self.resolve(field, key)?;
        match self.kind_at(seq)? {
            (EventKind::PointsRecorded(p), at) => Ok((seq, p, at)),
            (other, _) => Err(err(
                field,
                format!(
                    "`{key}` is seq {seq}, an event of type {}, not a recorded deduction or bonus",
                    other.type_name()
                ),
            )),
        }
    }

    /// Where a record stands with its disputes so far (the ledger's and this batch's).
    fn standing(&mut self, target: u64, original: Decimal) -> Result<&mut Standing, FieldError> {
        if !self.disputes.contains_key(&target) {
            let mut standing = Standing::new(original);
            if target < self.ledger.head.next_seq {
                for seq in self.ledger.dispute_seqs(target).map_err(Self::ledger_err)? {
                    let (kind, _) = self.kind_at(seq)?;
                    if kind.dispute_target() != Some(target) {
                        return Err(Self::ledger_err(damaged(
                            seq,
                            format!("the dispute index lists it for seq {target}"),
                        )));
                    }
                    standing
                        .apply(seq, &kind)
                        .map_err(|c| Self::ledger_err(damaged(seq, c.0)))?;
                }
            }
            self.disputes.insert(target, standing);
        }
        // Invariant: inserted just above when missing.
        Ok(self.disputes.get_mut(&target).expect("standing present"))
    }

    /// Folds a dispute event of record `target` into its standing and pushes it.
    fn push_dispute(
        &mut self,
        field: &str,
        target: u64,
        record: &PointsRecorded,
        kind: EventKind,
    ) -> Result<Outcome, FieldError> {
        let rubric = &self.ledger.rubric;
        // Invariant: a stored or checked record names a clause of the rubric.
        let (item, clause) = rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        let position = rubric
            .item_position(&item.code)
            .expect("every item has a position") as u16;
        let counted = matches!(
            clause.rule,
            Rule::PerUnit {
                max_count: Some(_),
                ..
            }
        );
        let ordinal = match self.station(&record.station)? {
            Some(s) => s.ordinal,
            None => return Err(err("station", "the record's station is not registered")),
        };
        let seq = self.next_seq;
        let effect = self
            .standing(target, record.computed_points)?
            .apply(seq, &kind)
            .map_err(|c| err(field, c.0))?;
        if effect.removed && counted {
            let ukey = unit_key(&record.station, &record.clause);
            let prior = match self.unit_counts.get(&ukey) {
                Some(n) => *n,
                None => self
                    .ledger
                    .unit_count(&record.station, &record.clause)
                    .map_err(Self::ledger_err)?,
            };
            let units = record.inputs.count.unwrap_or(1);
            self.unit_counts.insert(ukey, prior.saturating_sub(units));
        }
        self.adjusted.insert(
            seq,
            Adjusted {
                station: ordinal,
                position,
                occurred: record.occurred,
                delta: effect.delta,
            },
        );
        self.push_by_actor(kind)
    }

    fn check_appeal(&mut self, a: &AppealCmd) -> Result<Outcome, FieldError> {
        let (target, record, recorded_us) = self.record_at("against", &a.against)?;
        let filed = |id: String| AppealFiled {
            id,
            against: target,
            station: a.station.clone(),
            grounds: a.grounds.clone(),
            evidence: a.evidence.clone(),
        };
        let same =
            |k: &EventKind| matches!(k, EventKind::AppealFiled(x) if *x == filed(x.id.clone()));
        let id = match self.claim_id(&a.id, same)? {
            Ok(id) => id,
            Err(unchanged) => return Ok(unchanged),
        };
        self.known_station(&a.station)?;
        let rubric = &self.ledger.rubric;
        // Invariant: a stored or checked record names a clause of the rubric.
        let (item, _) = rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        let appealed = Appealed {
            id: &record.id,
            station: &record.station,
            item,
            recorded_day: local_day(timestamp_from_us(recorded_us)),
        };
        // The day the appeal is stored at: recorded times never go back, so it may be later
        // than the clock's (the audit checks the stored time).
        let today = local_day(timestamp_from_us(self.recorded_at_us));
        if let Some((field, problem)) =
            appeal_problem(&appealed, &a.station, today, rubric.appeal_window_days)
        {
            return Err(err(field, problem));
        }
        self.push_dispute(
            "against",
            target,
            &record,
            EventKind::AppealFiled(filed(id)),
        )
    }

    fn check_decide(&mut self, d: &DecideCmd) -> Result<Outcome, FieldError> {
        let appeal_seq = self.resolve("appeal", &d.appeal)?;
        let appeal = match self.kind_at(appeal_seq)? {
            (EventKind::AppealFiled(a), _) => a,
            (other, _) => {
                return Err(err(
                    "appeal",
                    format!(
                        "`{}` is seq {appeal_seq}, an event of type {}, not an appeal",
                        d.appeal,
                        other.type_name()
                    ),
                ))
            }
        };
        let record = match self.kind_at(appeal.against)? {
            (EventKind::PointsRecorded(p), _) => p,
            _ => {
                return Err(Self::ledger_err(damaged(
                    appeal_seq,
                    "the appeal names an event that is not a record",
                )))
            }
        };
        let by = self.department(&d.by)?;
        // Invariant: a stored or checked record names a clause of the rubric.
        let (item, _) = self
            .ledger
            .rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        if let Some(problem) = owner_problem(item, &by) {
            return Err(err("by", problem));
        }
        let outcome = match (d.outcome, d.points) {
            (OutcomeCmd::Partial, None) => {
                return Err(err(
                    "points",
                    "a partial decision needs the points that stand for the whole deduction",
                ))
            }
            (OutcomeCmd::Partial, Some(p)) => {
                AppealOutcome::Partial(crate::base::decimal::canonical(p))
            }
            (other, Some(_)) => {
                return Err(err(
                    "points",
                    format!(
                        "only a partial decision takes points; {} does not",
                        match other {
                            OutcomeCmd::Upheld => "upheld",
                            _ => "rejected",
                        }
                    ),
                ))
            }
            (OutcomeCmd::Upheld, None) => AppealOutcome::Upheld,
            (OutcomeCmd::Rejected, None) => AppealOutcome::Rejected,
        };
        let decided = AppealDecided {
            appeal: appeal.id.clone(),
            appeal_seq,
            against: appeal.against,
            station: appeal.station.clone(),
            outcome,
            by,
            reason: d.reason.clone(),
            evidence: d.evidence.clone(),
        };
        let earlier = self
            .standing(appeal.against, record.computed_points)?
            .appeal(appeal_seq)
            .and_then(|a| a.decided.clone());
        if let Some((seq, outcome)) = earlier {
            if let (EventKind::AppealDecided(x), _) = self.kind_at(seq)? {
                if x == decided {
                    return Ok(Outcome::Unchanged { seq });
                }
            }
            return Err(err(
                "appeal",
                format!(
                    "appeal {} was already decided ({}, {}); a decision is final",
                    appeal.id,
                    outcome.as_str(),
                    self.place(seq)
                ),
            ));
        }
        self.push_dispute(
            "points",
            appeal.against,
            &record,
            EventKind::AppealDecided(decided),
        )
    }

    fn check_reverse(&mut self, r: &ReverseCmd) -> Result<Outcome, FieldError> {
        let (target, record, _) = self.record_at("target", &r.target)?;
        let by = self.department(&r.by)?;
        let reversed = |id: String| RecordReversed {
            id,
            target,
            station: record.station.clone(),
            by: by.clone(),
            reason: r.reason.clone(),
            evidence: r.evidence.clone(),
        };
        let same = |k: &EventKind| matches!(k, EventKind::RecordReversed(x) if *x == reversed(x.id.clone()));
        let id = match self.claim_id(&r.id, same)? {
            Ok(id) => id,
            Err(unchanged) => return Ok(unchanged),
        };
        // Invariant: a stored or checked record names a clause of the rubric.
        let (item, _) = self
            .ledger
            .rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        if let Some(problem) = owner_problem(item, &by) {
            return Err(err("by", problem));
        }
        let kind = EventKind::RecordReversed(reversed(id));
        self.push_dispute("target", target, &record, kind)
    }

    /// Encodes and chains the new events and gathers their index entries.
    fn into_commit(self) -> Result<(Commit, Head), LedgerError> {
        let mut prev = self.ledger.head.hash;
        let mut seq = self.ledger.head.next_seq;
        let mut commit = Commit::default();
        let mut aggregates: BTreeMap<u32, Aggregate> = BTreeMap::new();
        for kind in self.events {
            let ordinal = |code: &str| {
                // Invariant: every station a batch event names was looked up by its check.
                self.stations
                    .get(code)
                    .and_then(|s| s.as_ref())
                    .map(|s| s.ordinal)
                    .expect("checked commands name known stations")
            };
            match &kind {
                EventKind::StationRegistered(s) => {
                    let mut value = seq.to_be_bytes().to_vec();
                    value.extend_from_slice(&ordinal(&s.code).to_be_bytes());
                    commit
                        .index
                        .push((Index::Station, s.code.as_bytes().to_vec(), value));
                    let entry = StationEntry {
                        seq,
                        station: s.clone(),
                    };
                    commit.logs.push((Log::Stations, entry.encode()));
                }
                EventKind::PointsRecorded(p) => {
                    let station = ordinal(&p.station);
                    let agg = aggregate_for(&mut aggregates, &self.ledger.store, station)?;
                    let (item, _) = self
                        .ledger
                        .rubric
                        .clause(&p.clause)
                        .expect("checked records name clauses of the rubric");
                    let position = self
                        .ledger
                        .rubric
                        .item_position(&item.code)
                        .expect("every item has a position");
                    agg.add(position as u16, p.computed_points);
                    commit.index.push((
                        Index::Postings,
                        posting_key(station, seq).to_vec(),
                        Vec::new(),
                    ));
                    let row = Row::of(
                        &self.ledger.rubric,
                        seq,
                        self.recorded_at_us,
                        ordinal(&p.station),
                        p,
                    )
                    .expect("checked records name clauses of the rubric");
                    commit.logs.push((Log::Tally, row.encode()));
                }
                EventKind::MetricReported(m) => {
                    commit.index.push((
                        Index::Postings,
                        posting_key(ordinal(&m.station), seq).to_vec(),
                        Vec::new(),
                    ));
                    let row = Row::of_metric(
                        &self.ledger.rubric,
                        seq,
                        self.recorded_at_us,
                        ordinal(&m.station),
                        m,
                    )
                    .expect("checked reports name metrics of the rubric");
                    commit.logs.push((Log::Tally, row.encode()));
                }
                EventKind::AppealFiled(_)
                | EventKind::AppealDecided(_)
                | EventKind::RecordReversed(_) => {
                    // Invariant: every dispute event of a batch was folded by push_dispute.
                    let a = self.adjusted[&seq];
                    commit.index.push((
                        Index::Postings,
                        posting_key(a.station, seq).to_vec(),
                        Vec::new(),
                    ));
                    aggregate_for(&mut aggregates, &self.ledger.store, a.station)?
                        .adjust(a.position, a.delta);
                    let row = Row::of_dispute(seq, self.recorded_at_us, &a);
                    commit.logs.push((Log::Tally, row.encode()));
                }
                EventKind::KeyRegistered(k) => {
                    commit
                        .index
                        .push((Index::Key, k.public_key.to_vec(), key_value(seq, None)));
                }
                EventKind::KeyRevoked(k) => {
                    // Invariant: a revocation was checked against the key's registration.
                    let registered = self
                        .keys
                        .get(&k.public_key)
                        .map(|x| x.0)
                        .expect("checked key");
                    commit.index.push((
                        Index::Key,
                        k.public_key.to_vec(),
                        key_value(registered, Some(seq)),
                    ));
                }
                EventKind::PeriodClosed(_) | EventKind::SignaturesRequired => {}
                EventKind::LedgerCreated(_) => {
                    unreachable!("a batch never holds a genesis")
                }
            }
            if let Some(id) = kind.id() {
                commit.index.push((
                    Index::Id,
                    id.as_bytes().to_vec(),
                    seq.to_be_bytes().to_vec(),
                ));
            }
            let event = EventV1 {
                seq,
                recorded_at_us: self.recorded_at_us,
                kind,
            };
            let body = match self.signer.filter(|_| self.signed.contains(&seq)) {
                Some(signer) => {
                    let kind_bytes = codec::encode_kind(&event.kind)?;
                    let signature = signer.sign(&self.ledger.genesis.ledger_id, &kind_bytes);
                    Body::V2(Signed { event, signature })
                }
                None => Body::V1(event),
            };
            let bytes = codec::encode(&body)?;
            let hash = chain::link(&prev, &bytes);
            commit.frames.push((bytes, hash));
            prev = hash;
            seq += 1;
        }
        for (station, agg) in aggregates {
            commit.index.push((
                Index::Aggregate,
                aggregate_key(station).to_vec(),
                agg.encode(),
            ));
        }
        for (target, standing) in &self.disputes {
            if standing
                .seqs
                .iter()
                .any(|s| *s >= self.ledger.head.next_seq)
            {
                let value: Vec<u8> = standing.seqs.iter().flat_map(|s| s.to_be_bytes()).collect();
                commit
                    .index
                    .push((Index::Dispute, target.to_be_bytes().to_vec(), value));
            }
        }
        for (k, n) in self.unit_counts {
            commit
                .index
                .push((Index::UnitCount, k, n.to_be_bytes().to_vec()));
        }
        let count = |log: Log| commit.logs.count(log);
        let head = Head {
            tally_rows: self.ledger.head.tally_rows + count(Log::Tally),
            stations: self.ledger.head.stations + count(Log::Stations),
            next_seq: seq,
            hash: prev,
            // The store sets it when it commits.
            events_bytes: self.ledger.head.events_bytes,
            recorded_at_us: if commit.frames.is_empty() {
                self.ledger.head.recorded_at_us
            } else {
                self.recorded_at_us
            },
        };
        commit.head = Some(head);
        Ok((commit, head))
    }
}
