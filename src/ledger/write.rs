//! The write path: a batch of commands checked against the rubric (the rules of
//! `domain::rules`), the current state and the commands before it, then appended in one
//! durable commit. Any refusal happens before the first byte is written.

use crate::base::limits::MAX_STATION_CODE_CHARS;
use crate::domain::command::{
    AppealCmd, Command, DecideCmd, FieldError, KeyRegisterCmd, KeyRevokeCmd, MetricCmd, OutcomeCmd,
    RecordCmd, ReverseCmd, StationCmd,
};
use crate::domain::dispute::Standing;
use crate::domain::rows::{
    aggregate_key, postings_key, rank_value, Adjusted, Aggregate, CodeKey, PostingChains,
    PostingsHead, Row, StationEntry,
};
use crate::domain::rubric::{Clause, Context, Item};
use crate::domain::rules::{self, local_day, unit_key, Appealed};
use crate::events::chain;
use crate::events::codec;
use crate::events::event::*;
use crate::events::sign::{self, KeyPair};
use crate::ledger::{damaged, refused, Ledger, LedgerError, Numbered, Outcome, AUTO_ID_PREFIX};
use crate::store::{id_fingerprint, Commit, Head, Index, Log, Store, StoreError};
use jiff::{civil::Date, Timestamp};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

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

/// Bytes of events, tally rows and postings a batch holds before it writes them past the
/// committed lengths ([`Store::spill`]): an import's memory is this buffer, not the import.
const SPILL_BYTES: usize = 2 << 20;

/// A batch keeps where every `FRAMES_PER_GROUP`th of its frames starts, and finds one of
/// its events by reading its group's frames (memory: a few bits per event, not a word).
const FRAMES_PER_GROUP: u64 = 16;

/// Station lookups from the index a batch makes before it reads every station's
/// registration, sums and postings head in one scan each ([`Batch::warm_up`]): a big import
/// touches most stations, and a scan costs less than a lookup per station.
const WARM_UP_AFTER_STATIONS: u32 = 1024;

/// What a commit derives from its events besides the events: each touched station's sums and
/// its chain of postings.
struct Derived {
    /// Hashed, not ordered: every event of an import looks its station up here, and a
    /// B-tree of 40,000 stations cost a dozen compares and several cache misses each time
    /// ([`Batch::index_batch`] sorts what it writes).
    aggregates: rustc_hash::FxHashMap<u32, Aggregate>,
    /// Each touched station's sums as committed (`None`: it had none), which the rank index
    /// moves it away from.
    before: BTreeMap<u32, Option<Aggregate>>,
    postings: PostingChains,
    /// Every station's stored sums and postings head, once the batch has read them all.
    stored: Option<Stored>,
}

/// The `Aggregate`, `Postings` and `UnitCount` indices as committed, read whole
/// ([`Batch::warm_up`]).
#[derive(Default)]
struct Stored {
    aggregates: rustc_hash::FxHashMap<u32, Aggregate>,
    heads: rustc_hash::FxHashMap<u32, PostingsHead>,
    units: rustc_hash::FxHashMap<Vec<u8>, u32>,
}

impl Derived {
    /// A station's aggregate as this commit builds it, read from the store on first use
    /// (from the batch's copy of the index once it has one), which is kept as it was.
    fn aggregate(&mut self, store: &Store, station: u32) -> Result<&mut Aggregate, LedgerError> {
        Ok(match self.aggregates.entry(station) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let stored = match &self.stored {
                    Some(copy) => copy.aggregates.get(&station).cloned(),
                    None => match store.index_get(Index::Aggregate, &aggregate_key(station))? {
                        None => None,
                        Some(b) => Some(Aggregate::decode(&b).ok_or_else(|| {
                            StoreError::Corrupt("an aggregate is malformed".into())
                        })?),
                    },
                };
                self.before.insert(station, stored.clone());
                e.insert(stored.unwrap_or_default())
            }
        })
    }

    /// Appends the posting of the next tally row, a row of `station` at `seq`.
    fn post(
        &mut self,
        commit: &mut Commit,
        store: &Store,
        station: u32,
        seq: u64,
    ) -> Result<(), LedgerError> {
        let copy = self.stored.as_ref();
        let (seq, prev) = self.postings.post(station, seq, || match copy {
            Some(copy) => Ok(copy.heads.get(&station).copied()),
            None => crate::ledger::read::postings_head(store, station),
        })?;
        commit.push_posting(crate::store::Posting { seq, prev });
        Ok(())
    }
}

/// A `Key` index value: the registration's seq and the revocation's (`u64::MAX`: none).
pub(super) fn key_value(registered: u64, revoked: Option<u64>) -> Vec<u8> {
    let mut v = registered.to_be_bytes().to_vec();
    v.extend_from_slice(&revoked.unwrap_or(u64::MAX).to_be_bytes());
    v
}

impl Ledger {
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
        signer: Option<&KeyPair>,
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
    /// command refused) stops it with nothing written. Each command checked is handed to
    /// `done` (the import gives them back to the thread that parsed them, to be freed there).
    pub fn apply_stream(
        &mut self,
        commands: impl Iterator<Item = Result<Numbered, LedgerError>>,
        now: Timestamp,
        signer: Option<&KeyPair>,
        done: &mut dyn FnMut(Numbered),
    ) -> Result<Applied, LedgerError> {
        let mut applied = Applied::default();
        self.apply_each(commands.map(|c| c.map(Cow::Owned)), now, signer, |c, o| {
            applied.count(&c.command, o);
            if let Cow::Owned(c) = c {
                done(c);
            }
        })?;
        Ok(applied)
    }

    /// [`Ledger::apply`] of commands that come with their signer's signature, made elsewhere
    /// over the `to_sign` bytes [`Ledger::prepare`] gave (the service's commit): each is
    /// checked against the ledger as it now stands, and its signature must cover the event
    /// the ledger computes now, after the head the signer saw. On any refusal nothing is
    /// written.
    pub fn apply_attached(
        &mut self,
        commands: &[(Numbered, Option<Attached>)],
        now: Timestamp,
    ) -> Result<Vec<Outcome>, LedgerError> {
        let mut outcomes = Vec::with_capacity(commands.len());
        self.apply_batch(
            commands
                .iter()
                .map(|(c, a)| Ok((Cow::Borrowed(c), a.clone()))),
            now,
            None,
            |_, o| outcomes.push(o),
        )?;
        Ok(outcomes)
    }

    /// What a command would append, checked as [`Ledger::apply`] checks it with nothing
    /// written and no signature asked for: the event, who must sign it, the head a signer
    /// signs after, and the bytes to sign (`sign::message_after`). A command that would
    /// change nothing (the same id and content already recorded) gives its seq instead.
    pub fn prepare(&self, command: &Command, now: Timestamp) -> Result<Prepared, LedgerError> {
        let numbered = [Numbered {
            line: None,
            command: command.clone(),
        }];
        let mut all = self.prepare_many(&numbered, now)?;
        // Invariant: one outcome per command.
        all.pop()
            .ok_or_else(|| LedgerError::Io("a command was not prepared".into()))?
    }

    /// [`Ledger::prepare`] of several commands as one batch would apply them, each checked
    /// against the ledger and the commands before it, nothing written: one outcome per
    /// command, a refusal naming its line. Every event is signed after the same head.
    pub fn prepare_many(
        &self,
        commands: &[Numbered],
        now: Timestamp,
    ) -> Result<Vec<Result<Prepared, LedgerError>>, LedgerError> {
        if let Some(seq) = self.closed {
            let period = (self.genesis.period_start, self.genesis.period_end);
            let line = commands.first().and_then(|c| c.line);
            return Err(refused(line, rules::after_close(period, seq).into()));
        }
        let recorded_at_us = self.stamp(now)?;
        let mut batch = Batch::new(self, recorded_at_us, now)?;
        batch.preparing = true;
        let after = self.head_after();
        let mut out = Vec::with_capacity(commands.len());
        for c in commands {
            let pushed = batch.pushed_count();
            let prepared = match batch.check(&c.command) {
                Err(e) => Err(refused(c.line, e)),
                Ok(Outcome::Unchanged { seq }) => Ok(Prepared::Unchanged { seq }),
                Ok(Outcome::Appended { seq }) => match batch.pushed(seq) {
                    // Invariant: a command the service prepares appends exactly one event.
                    Ok(kind) if batch.pushed_count() == pushed + 1 => {
                        let kind = &kind;
                        let bytes = codec::encode_kind(kind)?;
                        Ok(Prepared::Event {
                            signer: kind.signer(self.bureau_rooted),
                            kind: Box::new(kind.clone()),
                            after,
                            to_sign: sign::message_after(&self.genesis.ledger_id, &after, &bytes),
                        })
                    }
                    _ => Err(LedgerError::Io("a command appends one event".into())),
                },
            };
            out.push(prepared);
        }
        Ok(out)
    }

    fn apply_each<'c>(
        &mut self,
        commands: impl Iterator<Item = Result<Cow<'c, Numbered>, LedgerError>>,
        now: Timestamp,
        signer: Option<&KeyPair>,
        outcome: impl FnMut(Cow<'c, Numbered>, Outcome),
    ) -> Result<(), LedgerError> {
        self.apply_batch(commands.map(|c| c.map(|c| (c, None))), now, signer, outcome)
    }

    fn apply_batch<'c>(
        &mut self,
        commands: impl Iterator<Item = Result<(Cow<'c, Numbered>, Option<Attached>), LedgerError>>,
        now: Timestamp,
        signer: Option<&KeyPair>,
        mut outcome: impl FnMut(Cow<'c, Numbered>, Outcome),
    ) -> Result<(), LedgerError> {
        let mut commands = commands.peekable();
        let first_line = match commands.peek() {
            Some(Ok((c, _))) => Some(c.line),
            _ => None,
        };
        if let (Some(seq), Some(line)) = (self.closed, first_line) {
            let period = (self.genesis.period_start, self.genesis.period_end);
            return Err(refused(line, rules::after_close(period, seq).into()));
        }
        let recorded_at_us = self.stamp(now)?;
        let mut batch = Batch::new(self, recorded_at_us, now)?;
        batch.signer = signer;
        for c in commands {
            let (c, attached) = c?;
            batch.attached = attached;
            let o = batch.check(&c.command).map_err(|e| refused(c.line, e))?;
            outcome(c, o);
        }
        let (commit, _) = batch.into_commit()?;
        if commit.frame_count() > 0 {
            self.head = self.store.commit(commit)?;
        }
        Ok(())
    }

    /// Appends the rank bonuses `close` computed (each gets a ledger-assigned id) and the
    /// closing event, in one commit; returns the bonuses' seqs. `close::close` checks first.
    pub(crate) fn append_closing(
        &mut self,
        bonuses: Vec<PointsRecorded>,
        closed: PeriodClosed,
        now: Timestamp,
        signer: Option<&KeyPair>,
        attached: Option<Attached>,
    ) -> Result<Vec<u64>, LedgerError> {
        assert!(
            self.closed.is_none(),
            "close checks that the period is open"
        );
        let recorded_at_us = self.stamp(now)?;
        let mut batch = Batch::new(self, recorded_at_us, now)?;
        batch.signer = signer;
        let mut seqs = Vec::with_capacity(bonuses.len());
        for mut b in bonuses {
            batch
                .known_station(&b.station)
                .map_err(|e| refused(None, e))?;
            b.id = format!("{AUTO_ID_PREFIX}{}", batch.next_seq);
            seqs.push(batch.next_seq);
            batch
                .push(EventKind::PointsRecorded(b))
                .map_err(|e| refused(None, e))?;
        }
        // The rank bonuses are computed, unsigned: the closing event, signed by the bureau
        // where the ledger is rooted in its key, lists them.
        batch.attached = attached;
        batch
            .push_signed(EventKind::PeriodClosed(closed))
            .map_err(|e| refused(None, e))?;
        let (commit, _) = batch.into_commit()?;
        self.head = self.store.commit(commit)?;
        self.closed = Some(self.head.next_seq - 1);
        Ok(seqs)
    }

    /// The recorded time of what is written at `now`: the clock's, or the head's when the
    /// clock is a little behind it (recorded times never go back). A clock far from the
    /// ledger's time is refused ([`rules::clock`]).
    pub(crate) fn stamp(&self, now: Timestamp) -> Result<i64, LedgerError> {
        let head = crate::events::event::timestamp_from_us(self.head.recorded_at_us);
        rules::clock(now, head, self.genesis.period_end)
            .map_err(|p| LedgerError::Clock(p.message, p.zh))?;
        Ok(now.as_microsecond().max(self.head.recorded_at_us))
    }

    fn unit_count(&self, ukey: &[u8]) -> Result<u32, LedgerError> {
        match self.store.index_get(Index::UnitCount, ukey)? {
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
}

/// A signature made elsewhere for a command's event: the head its signer saw and the
/// signature over `sign::message_after` (the service's prepare and commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub after: After,
    pub signature: Signature,
}

/// What [`Ledger::prepare`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The command would append this event; `signer` must sign `to_sign`.
    Event {
        kind: Box<EventKind>,
        signer: Option<Signer>,
        after: After,
        to_sign: Vec<u8>,
    },
    /// The same command was applied before, at `seq`: nothing to sign.
    Unchanged { seq: u64 },
}

/// A registered station as a batch knows it.
#[derive(Debug, Clone)]
struct StationInfo {
    seq: u64,
    ordinal: u32,
    /// The registration's kind, which records' points may depend on (kept beside `reg`, so
    /// that a record's check reads it without touching the shared registration).
    kind: StationKind,
    /// The whole registration, which only a station's own registration compares with
    /// ([`Batch::station`]); behind a pointer, so that the map of stations stays small.
    reg: std::sync::Arc<StationRegistered>,
}

/// A batch of commands being checked: the ledger's state plus what earlier commands add.
struct Batch<'a> {
    ledger: &'a Ledger,
    recorded_at_us: i64,
    /// The clock's time, which decides what "today" is (recorded times never go back, so
    /// `recorded_at_us` may be later).
    now: Timestamp,
    next_seq: u64,
    /// The seq, id and fingerprint of the id the command being checked claimed
    /// ([`Batch::claim_id`]), so that its event is not fingerprinted again when it is
    /// appended (a comparison of the id costs less than its keyed hash).
    claimed: Option<(u64, String, u64)>,
    /// This batch's events, encoded and chained as they are pushed, with the tally rows,
    /// postings and index entries they derive: the commit being built. Holding the encoded
    /// bytes (not the decoded events) keeps a big import's memory near its bytes on disk.
    /// Boxed, as `derived` is: each push takes both out of the batch and puts them back,
    /// which moved a few hundred bytes each way per event when they were held inline.
    commit: Option<Box<Commit>>,
    /// Where every [`FRAMES_PER_GROUP`]th of this batch's frames starts in the commit
    /// ([`Commit::next_frame_offset`]), and how many frames it holds.
    group_at: Vec<u64>,
    pushed: u64,
    /// The stations' sums and chains of postings the events so far changed.
    derived: Option<Box<Derived>>,
    /// The hash of the last event pushed (the head's before the first).
    prev: Hash,
    stations: rustc_hash::FxHashMap<CodeKey, Option<StationInfo>>,
    /// Stations registered before this batch, and by it: the next registration's ordinal is
    /// their sum.
    stations_before: u32,
    stations_new: u32,
    /// Stations looked up in the index so far, and whether every committed station's
    /// registration is in `stations` ([`Batch::warm_up`]).
    station_lookups: u32,
    warm: bool,
    unit_counts: BTreeMap<Vec<u8>, u32>,
    /// Records whose disputes this batch has looked at, as they stand with its events.
    disputes: BTreeMap<u64, Standing>,
    /// What each dispute event of this batch did to its record: seq → change.
    adjusted: BTreeMap<u64, Adjusted>,
    /// The key that signs this batch's actors' events, and which of its events it signs.
    signer: Option<&'a KeyPair>,
    signed: BTreeSet<u64>,
    /// The signature that came with the command being checked, and those of the events
    /// pushed so far, by seq.
    attached: Option<Attached>,
    signed_elsewhere: BTreeMap<u64, Attached>,
    /// Checking for `prepare`: no signature is asked for.
    preparing: bool,
    /// Keys this batch registers or revokes: public key → (registered seq, actor, revoked seq).
    keys: BTreeMap<[u8; 32], (u64, Actor, Option<u64>)>,
}

fn err(field: &str, message: impl Into<String>, zh: impl Into<String>) -> FieldError {
    crate::domain::command::field_error(field, message, zh)
}

/// A rule's problem as a field error, both languages kept.
fn problem(p: rules::Problem) -> FieldError {
    p.into()
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
            claimed: None,
            commit: Some(Box::default()),
            group_at: Vec::new(),
            pushed: 0,
            derived: Some(Box::new(Derived {
                aggregates: rustc_hash::FxHashMap::default(),
                before: BTreeMap::new(),
                postings: PostingChains::new(ledger.head.tally_rows),
                stored: None,
            })),
            prev: ledger.head.hash,
            stations: rustc_hash::FxHashMap::default(),
            stations_before,
            stations_new: 0,
            station_lookups: 0,
            warm: false,
            unit_counts: BTreeMap::new(),
            disputes: BTreeMap::new(),
            adjusted: BTreeMap::new(),
            signer: None,
            signed: Default::default(),
            attached: None,
            signed_elsewhere: BTreeMap::new(),
            preparing: false,
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

    /// [`Self::place`] in Chinese.
    fn place_zh(&self, seq: u64) -> String {
        if seq < self.ledger.head.next_seq {
            format!("第 {seq} 号事件")
        } else {
            "本次导入的前面一行".into()
        }
    }

    /// The commit being built.
    fn commit(&self) -> &Commit {
        // Invariant: only `append` takes the commit out, and it puts it back before it
        // returns; `into_commit` consumes the batch.
        self.commit.as_deref().expect("the batch's commit")
    }

    fn ledger_err(e: LedgerError) -> FieldError {
        let zh = format!("台账出错：{e}");
        err("ledger", e.to_string(), zh)
    }

    fn station(&mut self, code: &str) -> Result<Option<StationInfo>, FieldError> {
        self.station_with(code, StationInfo::clone)
    }

    /// `f` of the station registered under `code`, if one is, looked at where the batch keeps
    /// it: a lookup that takes only what it needs does not touch the shared registration (with
    /// tens of thousands of stations, that was a cache miss per record, twice).
    fn station_with<R>(
        &mut self,
        code: &str,
        f: impl FnOnce(&StationInfo) -> R,
    ) -> Result<Option<R>, FieldError> {
        // A code longer than any a station can have names none.
        let Some(key) = CodeKey::of(code) else {
            return Ok(None);
        };
        if let Some(s) = self.stations.get(&key) {
            return Ok(s.as_ref().map(f));
        }
        if self.warm {
            // Every committed station is in `stations`, and so is every one this batch added.
            return Ok(None);
        }
        self.station_lookups += 1;
        if self.station_lookups == WARM_UP_AFTER_STATIONS {
            self.warm_up().map_err(Self::ledger_err)?;
            return self.station_with(code, f);
        }
        let found = self.read_station(code)?;
        let answer = found.as_ref().map(f);
        self.stations.insert(key, found);
        Ok(answer)
    }

    /// The registration of the station `code` as committed, read from the store.
    fn read_station(&self, code: &str) -> Result<Option<StationInfo>, FieldError> {
        let ledger = self.ledger;
        // The registration is read from the station log (entry `ordinal`), which holds it
        // whole and which `verify` compares with the events: one sled block, not an event.
        let found = match ledger.station_ordinal(code).map_err(Self::ledger_err)? {
            None => None,
            Some((seq, ordinal)) => {
                let mut entry = None;
                if u64::from(ordinal) < ledger.head.stations {
                    let read = ledger.store.for_each_log_entry(
                        Log::Stations,
                        u64::from(ordinal),
                        |_, bytes| {
                            entry = StationEntry::decode(bytes);
                            Ok(false)
                        },
                    );
                    read.map_err(|e| Self::ledger_err(e.into()))?;
                }
                match entry {
                    Some(e) if e.seq == seq && e.station.code == code => Some(StationInfo {
                        seq,
                        ordinal,
                        kind: e.station.kind,
                        reg: e.station.into(),
                    }),
                    _ => {
                        return Err(Self::ledger_err(damaged(
                            seq,
                            "the station index and the station log disagree",
                        )))
                    }
                }
            }
        };
        Ok(found)
    }

    /// Reads every committed station's registration (the station log), sums (`Aggregate`),
    /// postings head (`Postings`) and unit counts (`UnitCount`) in one scan each, keeping what
    /// this batch already changed: later lookups are in memory.
    fn warm_up(&mut self) -> Result<(), LedgerError> {
        let (ledger, mut bad) = (self.ledger, false);
        let stations = &mut self.stations;
        ledger
            .store
            .for_each_log_entry(Log::Stations, 0, |n, bytes| {
                match (StationEntry::decode(bytes), u32::try_from(n)) {
                    _ if n >= ledger.head.stations => return Ok(false),
                    (Some(e), Ok(ordinal)) => match CodeKey::of(&e.station.code) {
                        Some(key) => {
                            let info = StationInfo {
                                seq: e.seq,
                                ordinal,
                                kind: e.station.kind,
                                reg: e.station.into(),
                            };
                            stations.entry(key).or_insert(Some(info));
                        }
                        None => bad = true,
                    },
                    _ => bad = true,
                }
                Ok(true)
            })?;
        let mut stored = Stored::default();
        let ordinal = |k: &[u8]| <[u8; 4]>::try_from(k).ok().map(u32::from_be_bytes);
        ledger.store.index_for_each(Index::Aggregate, |k, v| {
            match (ordinal(k), Aggregate::decode(v)) {
                (Some(s), Some(a)) => drop(stored.aggregates.insert(s, a)),
                _ => bad = true,
            }
            Ok(())
        })?;
        ledger.store.index_for_each(Index::Postings, |k, v| {
            match (ordinal(k), PostingsHead::decode(v)) {
                (Some(s), Some(h)) => drop(stored.heads.insert(s, h)),
                _ => bad = true,
            }
            Ok(())
        })?;
        ledger.store.index_for_each(Index::UnitCount, |k, v| {
            match <[u8; 4]>::try_from(v) {
                Ok(n) => drop(stored.units.insert(k.to_vec(), u32::from_be_bytes(n))),
                Err(_) => bad = true,
            }
            Ok(())
        })?;
        if bad {
            return Err(StoreError::Corrupt(
                "the station log, aggregates, postings heads or unit counts hold a malformed entry"
                    .into(),
            )
            .into());
        }
        if let Some(derived) = self.derived.as_mut() {
            derived.stored = Some(stored);
        }
        self.warm = true;
        Ok(())
    }

    /// The kind of the station registered under `code`; refused when none is.
    fn known_station(&mut self, code: &str) -> Result<StationKind, FieldError> {
        self.station_with(code, |s| s.kind)?.ok_or_else(|| {
            let p = rules::unknown_station(code);
            err(
                p.field,
                format!("{}; register it first with `station add`", p.message),
                format!("{}；请先登记该司法所", p.zh),
            )
        })
    }

    /// The event of the ledger or of this batch that holds `id`: each the id index offers
    /// (by the id's fingerprint) is read and its id compared.
    fn id_holder(&self, id: &str, fp: u64) -> Result<Option<(u64, EventKind)>, FieldError> {
        let first = self.ledger.head.next_seq;
        let seqs = self
            .ledger
            .store
            .id_candidates_in(Some(&self.commit().ids), fp)
            .map_err(|e| Self::ledger_err(e.into()))?;
        for seq in seqs {
            let kind = match seq {
                s if s >= self.next_seq => continue,
                s if s >= first => self.pushed(s)?,
                s => self.kind_at(s)?.0,
            };
            if kind.id() == Some(id) {
                return Ok(Some((seq, kind)));
            }
        }
        Ok(None)
    }

    /// Appends an event to the batch: checked by the rules every event obeys (a command
    /// built in code has not been through the parser), then encoded, chained and indexed.
    /// A refusal drops the batch.
    fn push(&mut self, kind: EventKind) -> Result<Outcome, FieldError> {
        let seq = self.next_seq;
        rules::event_fields(seq, &kind)?;
        self.append(seq, kind).map_err(Self::ledger_err)?;
        self.next_seq += 1;
        Ok(Outcome::Appended { seq })
    }

    /// Encodes, chains and indexes the event at `seq` (the next).
    fn append(&mut self, seq: u64, kind: EventKind) -> Result<(), LedgerError> {
        // Invariant: `commit` and `derived` are only taken here, which puts them back before
        // it returns, and in `into_commit`, which consumes the batch.
        let mut commit = self.commit.take().expect("the batch's commit");
        let mut derived = self.derived.take().expect("the batch's derived state");
        let indexed = self.index_event(&mut commit, &mut derived, seq, &kind);
        self.derived = Some(derived);
        // The id claimed for this event was fingerprinted when it was looked up.
        let claimed = self.claimed.take();
        let id = kind.id().map(|id| match claimed {
            Some((at, held, fp)) if at == seq && held == id => fp,
            _ => id_fingerprint(id.as_bytes()),
        });
        let encoded = indexed.and_then(|()| self.encode(seq, kind));
        let appended = encoded.map(|bytes| {
            // The id is claimed once its event is in the batch (a prepared batch goes on
            // after an event that does not encode).
            if let Some(fp) = id {
                commit.ids.push(fp, seq);
            }
            let hash = chain::link(&self.prev, &bytes);
            if self.pushed.is_multiple_of(FRAMES_PER_GROUP) {
                self.group_at.push(commit.next_frame_offset());
            }
            self.pushed += 1;
            commit.frames.push((bytes, hash));
            self.prev = hash;
        });
        // A big batch writes what it holds past the committed lengths and lets go of it
        // (a prepared one is never committed, so it writes nothing).
        let spilled = match appended.is_ok() && !self.preparing {
            true if commit.buffered_bytes() >= SPILL_BYTES => self
                .ledger
                .store
                .spill(&mut commit)
                .map_err(LedgerError::from),
            _ => Ok(()),
        };
        self.commit = Some(commit);
        appended.and(spilled)
    }

    /// The event this batch pushed at `seq`, decoded from its frame.
    fn pushed(&self, seq: u64) -> Result<EventKind, FieldError> {
        let first = self.ledger.head.next_seq;
        let i = seq.checked_sub(first).filter(|&i| i < self.pushed);
        let group = i.map(|i| (i / FRAMES_PER_GROUP) as usize);
        let Some(&at) = group.and_then(|g| self.group_at.get(g)) else {
            return Err(Self::ledger_err(LedgerError::Io(format!(
                "seq {seq} is not an event of this batch"
            ))));
        };
        let (i, g) = (i.unwrap_or_default(), group.unwrap_or_default());
        let end = match self.group_at.get(g + 1) {
            Some(&next) => next,
            None => self.commit().next_frame_offset(),
        };
        let skip = (i % FRAMES_PER_GROUP) as usize;
        let bytes = self
            .ledger
            .store
            .commit_body(self.commit(), (at, end), skip)
            .map_err(|e| Self::ledger_err(e.into()))?;
        let body = codec::decode(&bytes).map_err(|e| Self::ledger_err(e.into()))?;
        Ok(body.v1().kind.clone())
    }

    /// How many events the batch holds.
    fn pushed_count(&self) -> usize {
        self.pushed as usize
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
            EventKind::KeyRegistered(k) | EventKind::RootKey(k) if &k.public_key == public_key => {
                Ok(Some((seq, k.actor, revoked)))
            }
            _ => Err(Self::ledger_err(damaged(
                seq,
                "the key index points at another event",
            ))),
        }
    }

    /// Pushes an event that its signer signs where signatures are required (its actor, or a
    /// bureau key for the bureau's kinds): signed by the batch's key, which must be the
    /// signer's and in force at the event's place; unsigned only where the ledger does not
    /// require signatures. Kinds no one signs are pushed unsigned.
    fn push_signed(&mut self, kind: EventKind) -> Result<Outcome, FieldError> {
        // No key, no signature made elsewhere and none required: the event is pushed unsigned
        // whoever its signer is, so it is not worked out (it clones the actor's name).
        if self.attached.is_none() && self.signer.is_none() && !self.ledger.signatures_required {
            return self.push(kind);
        }
        let Some(signer) = kind.signer(self.ledger.bureau_rooted) else {
            return self.push(kind);
        };
        if let Some(attached) = self.attached.take() {
            self.check_attached(&attached, &signer, &kind)?;
            self.signed_elsewhere.insert(self.next_seq, attached);
            return self.push(kind);
        }
        match self.signer {
            None if self.preparing => {}
            None if self.ledger.signatures_required => {
                let (how, how_zh) = match &signer {
                    Signer::Bureau => (
                        "with a bureau key in force".to_string(),
                        "用有效的司法局密钥".to_string(),
                    ),
                    Signer::Actor(a) => (format!("as {a}"), format!("以 {a} 的身份")),
                };
                return Err(err(
                    "key",
                    format!("this ledger requires signatures: sign {how} with --key FILE (or KAOHE_KEY)"),
                    format!("本台账要求签名：请{how_zh}签名"),
                ));
            }
            None => {}
            Some(key) => {
                self.check_signing_key(&key.public_key(), &signer)?;
                self.signed.insert(self.next_seq);
            }
        }
        self.push(kind)
    }

    /// A signature made elsewhere for the next event: by a key that may sign it, after a head
    /// this chain holds, over the event as this batch computed it.
    fn check_attached(
        &self,
        attached: &Attached,
        signer: &Signer,
        kind: &EventKind,
    ) -> Result<(), FieldError> {
        self.check_signing_key(&attached.signature.public_key, signer)?;
        let after = attached.after;
        rules::signed_after(self.next_seq, after.seq).map_err(problem)?;
        let held = match after.seq + 1 == self.ledger.head.next_seq {
            true => self.ledger.head.hash,
            false => self.ledger.hash_at(after.seq).map_err(Self::ledger_err)?,
        };
        if held != after.hash {
            return Err(err(
                "after",
                format!("this ledger's event at seq {} has another hash: the signer saw another history", after.seq),
                format!("台账第 {} 号事件的哈希与签名所依据的不同：签名人看到的是另一段历史", after.seq),
            ));
        }
        let bytes = codec::encode_kind(kind)
            .map_err(|e| err("signature", e.to_string(), format!("无法编码事件：{e}")))?;
        let message = sign::message_after(&self.ledger.genesis.ledger_id, &after, &bytes);
        match sign::verify(&attached.signature, &message) {
            true => Ok(()),
            false => Err(err(
                "signature",
                "the signature does not cover this event as the ledger computes it now: prepare it again and sign what is shown",
                "签名与台账现在算出的事件不符：请重新核对并签名",
            )),
        }
    }

    /// The batch's key may sign the next event for `signer`: registered, in force, the
    /// signer's.
    fn check_signing_key(&self, public: &[u8; 32], signer: &Signer) -> Result<(), FieldError> {
        let hex = hex::encode(public);
        let Some((registered, actor, revoked)) = self.key(public)? else {
            return Err(err(
                "key",
                format!(
                    "key {hex} is not registered in this ledger (`kaohe key register FILE.pub`)"
                ),
                format!("密钥 {hex} 未在本台账登记"),
            ));
        };
        if !rules::key_in_force(registered, revoked, self.next_seq) {
            let when = revoked.map(|r| self.place(r)).unwrap_or_default();
            let when_zh = revoked.map(|r| self.place_zh(r)).unwrap_or_default();
            return Err(err(
                "key",
                format!("key {hex} was revoked ({when})"),
                format!("密钥 {hex} 已被撤销（{when_zh}）"),
            ));
        }
        rules::signer_matches(signer, &actor).map_err(|p| {
            err(
                p.field,
                format!("key {hex}: {}", p.message),
                format!("密钥 {hex}：{}", p.zh),
            )
        })
    }

    fn check_key_register(&mut self, k: &KeyRegisterCmd) -> Result<Outcome, FieldError> {
        let actor = match &k.actor {
            Actor::Department(d) => Actor::Department(
                self.department(d)
                    .map_err(|e| err("actor", e.message, e.zh))?,
            ),
            Actor::Station(s) => {
                self.known_station(s)
                    .map_err(|e| err("actor", e.message, e.zh))?;
                Actor::Station(s.clone())
            }
            other => {
                rules::registrable(other, self.ledger.bureau_rooted).map_err(problem)?;
                other.clone()
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
                format!(
                    "这把密钥已登记给 {registered}（{}）；一把密钥只属于一个身份",
                    self.place_zh(seq)
                ),
            ));
        }
        let seq = self.next_seq;
        let outcome = self.push_signed(EventKind::KeyRegistered(KeyRegistered {
            actor: actor.clone(),
            public_key: k.public_key,
        }))?;
        self.keys.insert(k.public_key, (seq, actor, None));
        Ok(outcome)
    }

    fn check_key_revoke(&mut self, k: &KeyRevokeCmd) -> Result<Outcome, FieldError> {
        let hex = hex::encode(k.public_key);
        match self.key(&k.public_key)? {
            None => Err(err(
                "public_key",
                format!("key {hex} is not registered"),
                format!("密钥 {hex} 未登记"),
            )),
            Some((_, _, Some(revoked))) => Err(err(
                "public_key",
                format!("key {hex} was already revoked ({})", self.place(revoked)),
                format!("密钥 {hex} 已被撤销（{}）", self.place_zh(revoked)),
            )),
            Some((registered, actor, None)) => {
                let bureau = matches!(actor, Actor::Bureau(_));
                let others = self.bureau_keys_in_force(&k.public_key)?;
                rules::keeps_a_bureau_key(bureau, others).map_err(problem)?;
                let seq = self.next_seq;
                let outcome = self.push_signed(EventKind::KeyRevoked(KeyRevoked {
                    public_key: k.public_key,
                    reason: k.reason.clone(),
                }))?;
                self.keys
                    .insert(k.public_key, (registered, actor, Some(seq)));
                Ok(outcome)
            }
        }
    }

    /// Bureau keys in force at the next event, other than `except`: the ledger's, as this
    /// batch changes them.
    fn bureau_keys_in_force(&self, except: &[u8; 32]) -> Result<usize, FieldError> {
        let mut keys: BTreeMap<[u8; 32], (u64, Actor, Option<u64>)> = BTreeMap::new();
        for k in self.ledger.keys().map_err(Self::ledger_err)? {
            keys.insert(k.public_key, (k.registered_seq, k.actor, k.revoked_seq));
        }
        keys.extend(self.keys.iter().map(|(k, v)| (*k, v.clone())));
        Ok(keys
            .iter()
            .filter(|(public, (registered, actor, revoked))| {
                *public != except
                    && matches!(actor, Actor::Bureau(_))
                    && rules::key_in_force(*registered, *revoked, self.next_seq)
            })
            .count())
    }

    fn check(&mut self, command: &Command) -> Result<Outcome, FieldError> {
        // A claim made by a command that was then refused is not this command's.
        self.claimed = None;
        self.check_evidence(command)?;
        let outcome = match command {
            Command::KeyRegister(k) => self.check_key_register(k),
            Command::KeyRevoke(k) => self.check_key_revoke(k),
            Command::Station(s) => self.check_station(s),
            Command::Record(r) => self.check_record(r),
            Command::Metric(m) => self.check_metric(m),
            Command::Appeal(a) => self.check_appeal(a),
            Command::Decide(d) => self.check_decide(d),
            Command::Reverse(r) => self.check_reverse(r),
        }?;
        Ok(outcome)
    }

    /// A command's evidence obeys the rulebook ([`rules::evidence`]; attached files are among
    /// the references by now), and every `blake3:` reference names a file the ledger holds: the
    /// use case stores a command's attached files before it is checked, so a reference to a
    /// file neither attached nor stored earlier is refused here.
    fn check_evidence(&self, command: &Command) -> Result<(), FieldError> {
        let Some((refs, required)) = command.evidence() else {
            return Ok(());
        };
        rules::evidence(refs, required)?;
        for (i, r) in refs.iter().enumerate() {
            if let Some(hash) = rules::stored_file(r) {
                if !self.ledger.store.has_evidence(&hash) {
                    return Err(rules::file_not_stored(i + 1, &hash).into());
                }
            }
        }
        Ok(())
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
            if *existing == reg {
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
                format!(
                    "司法所 {} 已登记（{}）为 {}（{}）；司法所的名称和类型不能更改",
                    s.code,
                    self.place_zh(seq),
                    existing.name,
                    existing.kind.zh()
                ),
            ));
        }
        rules::station_count(self.stations_before + self.stations_new)?;
        rules::code("code", &s.code, MAX_STATION_CODE_CHARS)?;
        let key = CodeKey::of(&s.code).ok_or_else(|| {
            err(
                "code",
                "a station code longer than any a station can have",
                "司法所代码过长",
            )
        })?;
        let info = StationInfo {
            seq: self.next_seq,
            ordinal: self.stations_before + self.stations_new,
            kind: reg.kind,
            reg: reg.clone().into(),
        };
        self.stations_new += 1;
        // Known before it is pushed (its tally entry names its ordinal); forgotten again if
        // the push is refused (a prepared batch goes on after a refusal).
        let known = self.stations.insert(key, Some(info));
        let outcome = self.push_signed(EventKind::StationRegistered(reg));
        if outcome.is_err() {
            self.stations_new -= 1;
            match known {
                Some(k) => self.stations.insert(key, k),
                None => self.stations.remove(&key),
            };
        }
        outcome
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
        let fp = id_fingerprint(id.as_bytes());
        match self.id_holder(id, fp)? {
            None => {
                self.claimed = Some((self.next_seq, id.clone(), fp));
                Ok(Ok(id.clone()))
            }
            Some((seq, kind)) if same(&kind) => Ok(Err(Outcome::Unchanged { seq })),
            Some((seq, _)) => Err(err(
                "id",
                format!(
                    "id `{id}` is already used ({}) with other content; an id names one event for good",
                    self.place(seq)
                ),
                format!(
                    "编号“{id}”已被另一条内容不同的事件使用（{}）；一个编号永远只指一个事件",
                    self.place_zh(seq)
                ),
            )),
        }
    }

    fn department(&self, by: &str) -> Result<String, FieldError> {
        Ok(rules::department(&self.ledger.rubric, by)?.to_string())
    }

    fn check_occurred(&self, occurred: Date) -> Result<(), FieldError> {
        let g = &self.ledger.genesis;
        let period = (g.period_start, g.period_end);
        Ok(rules::occurred(period, occurred, local_day(self.now))?)
    }

    /// Units recorded so far under `ukey` (a station's clause): as this batch counts them,
    /// else as the ledger does.
    fn units_so_far(&self, ukey: &[u8]) -> Result<u32, FieldError> {
        let copy = self.derived.as_ref().and_then(|d| d.stored.as_ref());
        match (self.unit_counts.get(ukey), copy) {
            (Some(n), _) => Ok(*n),
            (None, Some(copy)) => Ok(copy.units.get(ukey).copied().unwrap_or(0)),
            (None, None) => self.ledger.unit_count(ukey).map_err(Self::ledger_err),
        }
    }

    /// The clauses a record's clause excludes or requires, against the station's standing
    /// records under them (`rules::excluded`, `rules::required`).
    fn check_conditions(
        &mut self,
        station: &str,
        clause: &Clause,
        sheet: usize,
    ) -> Result<(), FieldError> {
        for other in &clause.excludes {
            let n = self.units_so_far(&unit_key(station, other, sheet))?;
            if n > 0 {
                let first = self.first_standing(station, other, sheet)?;
                rules::excluded(clause, other, n, Some(&first))
                    .map_err(|p| p.on_sheet(&self.ledger.rubric, sheet))?;
            }
        }
        for other in &clause.requires {
            let n = self.units_so_far(&unit_key(station, other, sheet))?;
            rules::required(clause, other, n)
                .map_err(|p| p.on_sheet(&self.ledger.rubric, sheet))?;
        }
        Ok(())
    }

    /// The first record of `station` under `clause` on `sheet` that still stands (not
    /// reversed, not removed by an appeal), named for a refusal: its id and seq, or an earlier
    /// line of this import.
    fn first_standing(
        &mut self,
        station: &str,
        clause: &str,
        sheet: usize,
    ) -> Result<String, FieldError> {
        let rubric = &self.ledger.rubric;
        let seqs = match self.station_with(station, |s| s.ordinal)? {
            Some(ordinal) => {
                crate::ledger::read::postings(self.ledger, ordinal).map_err(Self::ledger_err)?
            }
            None => Vec::new(),
        };
        for seq in seqs {
            let (kind, _) = self.kind_at(seq)?;
            let EventKind::PointsRecorded(p) = kind else {
                continue;
            };
            let same_sheet = rubric.sheet_of(&p.by, p.occurred) == Some(sheet);
            if p.clause == clause && same_sheet && !self.standing(seq, p.computed_points)?.removed()
            {
                return Ok(format!("{}, seq {seq}", p.id));
            }
        }
        Ok("by an earlier line of this import".into())
    }

    fn check_record(&mut self, r: &RecordCmd) -> Result<Outcome, FieldError> {
        let rubric = &self.ledger.rubric;
        let (item, clause) = rules::clause(rubric, &r.clause)?;
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
        let station_kind = self.known_station(&r.station)?;
        if let Some(n) = inputs.count {
            // Checked by the parser too; a command built in code has not been through it.
            rules::whole("count", n, crate::base::limits::MAX_COUNT)?;
        }
        rules::assesses(item, &by)?;
        self.check_occurred(r.occurred)?;
        rules::deadline(clause, r.occurred)?;
        // Invariant: the date lies in the period (checked above), which the sub-periods tile,
        // and every department records for an assessor.
        let sheet = rubric
            .sheet_of(&by, r.occurred)
            .expect("a date in the period by a department counts on a sheet");
        let ukey = unit_key(&r.station, &r.clause, sheet);
        let prior_count = self.units_so_far(&ukey)?;
        let ctx = Context {
            station_kind,
            prior_count,
        };
        // The record's own inputs first, then what the station's other records allow.
        let computed = rules::points(rubric, clause, &ctx, &inputs)?;
        if clause.once && prior_count > 0 {
            let first = self.first_standing(&r.station, &r.clause, sheet)?;
            rules::once(clause, prior_count, Some(&first))
                .map_err(|p| p.on_sheet(rubric, sheet))?;
        }
        self.check_conditions(&r.station, clause, sheet)?;
        if rules::counts_units(rubric, clause) {
            let units = rules::units(rubric, clause, &inputs);
            self.unit_counts.insert(ukey, prior_count + units);
        }
        self.push_signed(EventKind::PointsRecorded(PointsRecorded {
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
        let metric = rules::metric(rubric, &m.metric)?;
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
        rules::reports(rubric, &m.metric, &by)?;
        rules::within_bounds(metric, value)?;
        self.check_occurred(m.occurred)?;
        self.push_signed(EventKind::MetricReported(MetricReported {
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
            return Ok((self.pushed(seq)?, self.recorded_at_us));
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
        if let Some((seq, _)) = self.id_holder(key, id_fingerprint(key.as_bytes()))? {
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
                LedgerError::Refused { message, zh, .. } => err(field, message, zh),
                e => Self::ledger_err(e),
            })?
            .ok_or_else(|| {
                err(
                    field,
                    format!("no event `{key}` in the ledger (name it by id, seq or hash)"),
                    format!("台账中没有事件“{key}”（可用编号、序号或哈希指明）"),
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
                format!(
                    "“{key}”是第 {seq} 号事件，类型为 {}，不是扣分或加分记录",
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

    /// The item a stored or checked record's clause belongs to.
    /// [`rules::same_assessor`] for a decision or reversal of `record` by `by`.
    fn check_assessor(&self, record: &PointsRecorded, by: &str) -> Result<(), FieldError> {
        let rubric = &self.ledger.rubric;
        // Invariant: a stored record's department and date put it on a sheet.
        let sheet = rubric
            .sheet_of(&record.by, record.occurred)
            .expect("a stored record counts on a sheet");
        Ok(rules::same_assessor(rubric, sheet, by)?)
    }

    fn item_of(&self, record: &PointsRecorded) -> &'a Item {
        // Invariant: a stored or checked record names a clause of the rubric.
        let (item, _) = self
            .ledger
            .rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        item
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
        let (_, clause) = rubric
            .clause(&record.clause)
            .expect("records name clauses of the rubric");
        let position = rubric
            .record_slot(&record.clause, &record.by, record.occurred)
            .expect("a checked record counts on a sheet") as u16;
        let ordinal = match self.station_with(&record.station, |s| s.ordinal)? {
            Some(ordinal) => ordinal,
            None => {
                return Err(err(
                    "station",
                    "the record's station is not registered",
                    "该记录的司法所未登记",
                ))
            }
        };
        let seq = self.next_seq;
        // Applied to a copy first: nothing changes in this batch unless every rule passes.
        let mut after = self.standing(target, record.computed_points)?.clone();
        let effect = after.apply(seq, &kind).map_err(|c| err(field, c.0, c.1))?;
        if effect.removed && rules::counts_units(rubric, clause) {
            let sheet = usize::from(position) / rubric.slots_per_sheet();
            let ukey = unit_key(&record.station, &record.clause, sheet);
            let prior = self.units_so_far(&ukey)?;
            let units = rules::units(rubric, clause, &record.inputs);
            let remaining = prior.saturating_sub(units);
            // A removal is a reversal's (its `target`) or a decision's (its `outcome`).
            let field = match field {
                "target" => "target",
                _ => "outcome",
            };
            for dependent in rubric.required_by(&record.clause) {
                let dkey = unit_key(&record.station, &dependent.code, sheet);
                let standing = self.units_so_far(&dkey)?;
                rules::still_required(field, &record.clause, remaining, &dependent.code, standing)
                    .map_err(|p| p.on_sheet(rubric, sheet))?;
            }
            self.unit_counts.insert(ukey, remaining);
        }
        *self.standing(target, record.computed_points)? = after;
        self.adjusted.insert(
            seq,
            Adjusted {
                station: ordinal,
                position,
                occurred: record.occurred,
                delta: effect.delta,
            },
        );
        self.push_signed(kind)
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
        let appealed = Appealed {
            id: &record.id,
            station: &record.station,
            item: self.item_of(&record),
            recorded_day: local_day(timestamp_from_us(recorded_us)),
        };
        // The day the appeal is stored at: recorded times never go back, so it may be later
        // than the clock's (the audit checks the stored time).
        let today = local_day(timestamp_from_us(self.recorded_at_us));
        let window = self.ledger.rubric.appeal_window_days;
        rules::appeal(&appealed, &a.station, today, window)?;
        self.push_dispute(
            "against",
            target,
            &record,
            EventKind::AppealFiled(filed(id)),
        )
    }

    /// The appeal a decision names, and the record it is against.
    fn appeal_at(&self, key: &str) -> Result<(u64, AppealFiled, PointsRecorded), FieldError> {
        let appeal_seq = self.resolve("appeal", key)?;
        let appeal = match self.kind_at(appeal_seq)? {
            (EventKind::AppealFiled(a), _) => a,
            (other, _) => {
                return Err(err(
                    "appeal",
                    format!(
                        "`{key}` is seq {appeal_seq}, an event of type {}, not an appeal",
                        other.type_name()
                    ),
                    format!(
                        "“{key}”是第 {appeal_seq} 号事件，类型为 {}，不是申诉",
                        other.type_name()
                    ),
                ))
            }
        };
        match self.kind_at(appeal.against)? {
            (EventKind::PointsRecorded(p), _) => Ok((appeal_seq, appeal, p)),
            _ => Err(Self::ledger_err(damaged(
                appeal_seq,
                "the appeal names an event that is not a record",
            ))),
        }
    }

    fn check_decide(&mut self, d: &DecideCmd) -> Result<Outcome, FieldError> {
        let (appeal_seq, appeal, record) = self.appeal_at(&d.appeal)?;
        let by = self.department(&d.by)?;
        rules::owner(self.item_of(&record), &by)?;
        self.check_assessor(&record, &by)?;
        let decided = AppealDecided {
            appeal: appeal.id.clone(),
            appeal_seq,
            against: appeal.against,
            station: appeal.station.clone(),
            outcome: decided_outcome(d)?,
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
            return Err(rules::already_decided(&appeal.id, &outcome, &self.place(seq)).into());
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
        rules::owner(self.item_of(&record), &by)?;
        self.check_assessor(&record, &by)?;
        let kind = EventKind::RecordReversed(reversed(id));
        self.push_dispute("target", target, &record, kind)
    }

    /// The commit of the events pushed, with the index entries the batch as a whole changes.
    fn into_commit(mut self) -> Result<(Commit, Head), LedgerError> {
        // Invariant: `commit` and `derived` are put back after every push.
        let mut commit = *self.commit.take().expect("the batch's commit");
        let derived = *self.derived.take().expect("the batch's derived state");
        let (seq, prev) = (self.next_seq, self.prev);
        let tally_rows = derived.postings.next_row();
        self.index_batch(&mut commit, derived)?;
        let head = Head {
            tally_rows,
            stations: self.ledger.head.stations + commit.logs.count(Log::Stations),
            next_seq: seq,
            hash: prev,
            // The store sets it when it commits.
            events_bytes: self.ledger.head.events_bytes,
            recorded_at_us: if commit.frame_count() == 0 {
                self.ledger.head.recorded_at_us
            } else {
                self.recorded_at_us
            },
        };
        commit.head = Some(head);
        Ok((commit, head))
    }

    /// A station's ordinal.
    fn ordinal(&self, code: &str) -> u32 {
        // Invariant: every station a batch event names was looked up by its check.
        CodeKey::of(code)
            .and_then(|key| self.stations.get(&key))
            .and_then(|s| s.as_ref())
            .map(|s| s.ordinal)
            .expect("checked commands name known stations")
    }

    /// The index entries, log entries and aggregate changes of the event at `seq`.
    fn index_event(
        &self,
        commit: &mut Commit,
        derived: &mut Derived,
        seq: u64,
        kind: &EventKind,
    ) -> Result<(), LedgerError> {
        let (rubric, at) = (&self.ledger.rubric, self.recorded_at_us);
        let store = &self.ledger.store;
        match kind {
            EventKind::StationRegistered(s) => {
                let mut value = seq.to_be_bytes().to_vec();
                value.extend_from_slice(&self.ordinal(&s.code).to_be_bytes());
                let key = s.code.as_bytes().to_vec();
                commit.index.push((Index::Station, key, value));
                let entry = StationEntry {
                    seq,
                    station: s.clone(),
                };
                commit.logs.push((Log::Stations, entry.encode()));
            }
            EventKind::PointsRecorded(p) => {
                let station = self.ordinal(&p.station);
                // Invariant: a checked record names a clause of the rubric, by a department of
                // an assessor, on a date within the period: it counts in a slot.
                let position = rubric
                    .record_slot(&p.clause, &p.by, p.occurred)
                    .expect("a checked record counts in a slot");
                derived
                    .aggregate(store, station)?
                    .add(position as u16, p.computed_points);
                derived.post(commit, store, station, seq)?;
                let row = Row::of(rubric, seq, at, station, p)
                    .expect("checked records name clauses of the rubric");
                commit.logs.push((Log::Tally, row.encode()));
            }
            EventKind::MetricReported(m) => {
                let station = self.ordinal(&m.station);
                derived.post(commit, store, station, seq)?;
                // Invariant: a checked report names a metric of the rubric.
                let row = Row::of_metric(rubric, seq, at, station, m)
                    .expect("checked reports name metrics of the rubric");
                commit.logs.push((Log::Tally, row.encode()));
            }
            EventKind::AppealFiled(_)
            | EventKind::AppealDecided(_)
            | EventKind::RecordReversed(_) => {
                // Invariant: every dispute event of a batch was folded by push_dispute.
                let a = self.adjusted[&seq];
                derived.post(commit, store, a.station, seq)?;
                derived
                    .aggregate(store, a.station)?
                    .adjust(a.position, a.delta);
                commit
                    .logs
                    .push((Log::Tally, Row::of_dispute(seq, at, &a).encode()));
            }
            EventKind::KeyRegistered(k) => self.index_key(commit, &k.public_key, seq, false)?,
            EventKind::KeyRevoked(k) => self.index_key(commit, &k.public_key, seq, true)?,
            EventKind::PeriodClosed(_) | EventKind::SignaturesRequired => {}
            EventKind::RootKey(_) => unreachable!("a batch never holds seq 1"),
            EventKind::LedgerCreated(_) | EventKind::LedgerFollows(_) => {
                unreachable!("a batch never holds a genesis")
            }
        }
        Ok(())
    }

    /// The `Key` index entry of a key registered (or revoked) at `seq`.
    fn index_key(
        &self,
        commit: &mut Commit,
        public_key: &[u8; 32],
        seq: u64,
        revoked: bool,
    ) -> Result<(), LedgerError> {
        let value = match revoked {
            false => key_value(seq, None),
            true => {
                // The key as it stands before its revocation (this batch's or the ledger's).
                let known = self.key(public_key).map_err(|e| refused(None, e))?;
                // Invariant: a revocation was checked against the key's registration.
                let registered = known.map(|x| x.0).expect("a revoked key was registered");
                key_value(registered, Some(seq))
            }
        };
        commit.index.push((Index::Key, public_key.to_vec(), value));
        Ok(())
    }

    /// The stored bytes of the event at `seq`: signed by the batch's key when it is an
    /// actor's event the key signs.
    fn encode(&self, seq: u64, kind: EventKind) -> Result<Vec<u8>, LedgerError> {
        let event = EventV1 {
            seq,
            recorded_at_us: self.recorded_at_us,
            kind,
        };
        if let Some(a) = self.signed_elsewhere.get(&seq) {
            let body = Body::V3(SignedAfter {
                event,
                after: a.after,
                signature: a.signature.clone(),
            });
            return Ok(codec::encode(&body)?);
        }
        let body = match self.signer.filter(|_| self.signed.contains(&seq)) {
            Some(signer) => {
                let kind_bytes = codec::encode_kind(&event.kind)?;
                let after = self.ledger.head_after();
                let message =
                    sign::message_after(&self.ledger.genesis.ledger_id, &after, &kind_bytes);
                let signature = signer.sign(&message);
                Body::V3(SignedAfter {
                    event,
                    after,
                    signature,
                })
            }
            None => Body::V1(event),
        };
        Ok(codec::encode(&body)?)
    }

    /// The entries the batch as a whole changes: the stations' aggregates and postings
    /// heads, the disputes of records this batch disputed, and the unit counts.
    fn index_batch(&self, commit: &mut Commit, derived: Derived) -> Result<(), LedgerError> {
        let rubric = &self.ledger.rubric;
        let rank = |agg: &Aggregate| {
            rank_value(agg, rubric).ok_or_else(|| {
                LedgerError::from(StoreError::Corrupt(
                    "a station's sums have no total a rank can count".into(),
                ))
            })
        };
        // In station order, as the batch's other index entries: what a commit writes does
        // not depend on a hash map's order.
        let mut aggregates: Vec<(u32, Aggregate)> = derived.aggregates.into_iter().collect();
        aggregates.sort_unstable_by_key(|(station, _)| *station);
        for (station, agg) in aggregates {
            // Invariant: `Derived::aggregate` keeps what it first read for each station.
            if let Some(old) = &derived.before[&station] {
                *commit.ranks.entry(rank(old)?).or_default() -= 1;
            }
            *commit.ranks.entry(rank(&agg)?).or_default() += 1;
            let key = aggregate_key(station).to_vec();
            commit.index.push((Index::Aggregate, key, agg.encode()));
        }
        for (station, head) in derived.postings.heads {
            let key = postings_key(station).to_vec();
            commit
                .index
                .push((Index::Postings, key, head.encode().to_vec()));
        }
        let first_new = self.ledger.head.next_seq;
        for (target, standing) in &self.disputes {
            if standing.seqs.iter().any(|s| *s >= first_new) {
                let value: Vec<u8> = standing.seqs.iter().flat_map(|s| s.to_be_bytes()).collect();
                let key = target.to_be_bytes().to_vec();
                commit.index.push((Index::Dispute, key, value));
            }
        }
        for (k, n) in &self.unit_counts {
            let value = n.to_be_bytes().to_vec();
            commit.index.push((Index::UnitCount, k.clone(), value));
        }
        Ok(())
    }
}

/// The outcome a decision command asks for: points only with a partial decision, which needs
/// them.
fn decided_outcome(d: &DecideCmd) -> Result<AppealOutcome, FieldError> {
    match (d.outcome, d.points) {
        (OutcomeCmd::Partial, None) => Err(err(
            "points",
            "a partial decision needs the points that stand for the whole deduction",
            "部分成立须填写该扣分最终保留的分值",
        )),
        (OutcomeCmd::Partial, Some(p)) => {
            Ok(AppealOutcome::Partial(crate::base::decimal::canonical(p)))
        }
        (other, Some(_)) => Err(err(
            "points",
            format!(
                "only a partial decision takes points; {} does not",
                match other {
                    OutcomeCmd::Upheld => "upheld",
                    _ => "rejected",
                }
            ),
            "只有“部分成立”填写分值；申诉成立或维持扣分不填",
        )),
        (OutcomeCmd::Upheld, None) => Ok(AppealOutcome::Upheld),
        (OutcomeCmd::Rejected, None) => Ok(AppealOutcome::Rejected),
    }
}
