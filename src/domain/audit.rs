//! The rules every event obeys given the events before it — what the write path enforces —
//! re-checked on read. `verify` (a stored ledger) and `export::verify` (an export file) fold
//! every event through an [`Audit`], so a consistently re-chained forgery that the write path
//! would have refused is still caught at its seq.

use crate::base::limits::{MAX_COUNT, MAX_SIGNED_HEAD_LAG};
use crate::domain::dispute::Standing;
use crate::domain::rows::{Adjusted, CodeKey};
use crate::domain::rubric::{self, Context, Rubric, Rule};
use crate::domain::rules::{self, local_day, unit_key, Appealed, Problem, LOCAL_OFFSET_HOURS};
use crate::events::chain;
use crate::events::event::*;
use crate::events::sign::KeyCache;
use jiff::civil::Date;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// What every rule of one event may need: the rubric and period of the genesis, the local
/// day the event was recorded on, its seq and recorded time, and the hash before it.
struct Facts<'a> {
    rubric: &'a Rubric,
    period: (Date, Date),
    today: Date,
    seq: u64,
    at: i64,
    prev: &'a Hash,
}

/// What the rules need to know of a recorded deduction or bonus when it is disputed later.
#[derive(Debug, Clone, Copy)]
struct RecordFacts {
    /// The station's ordinal (its place in registration order).
    station: u32,
    /// The clause's place in the rubric.
    clause: u16,
    occurred: Date,
    recorded_day: Date,
    computed: rust_decimal::Decimal,
    /// Units counted towards the clause's maximum (0 when it has none).
    units: u32,
    /// The slot it counts in (`Rubric::record_slot`).
    slot: u16,
}

/// A registered key: its actor, the seq and time it came into force, and its revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub actor: Actor,
    pub registered_seq: u64,
    pub registered_us: i64,
    pub revoked: Option<(u64, i64)>,
}

/// The hashes of the last [`MAX_SIGNED_HEAD_LAG`] events, by seq: what a signed event's head
/// is checked against. A ring: the hash of `seq` is at `(seq - first) % capacity`.
struct RecentHashes {
    hashes: Vec<Hash>,
    /// The first seq kept since the run began, and the seq after the last one kept.
    first: u64,
    next: u64,
    /// How many are kept: [`MAX_SIGNED_HEAD_LAG`], or fewer where the caller reads older
    /// hashes from its store ([`Audit::for_store`], [`Prepared::set_after_hash`]).
    capacity: u64,
}

impl Default for RecentHashes {
    fn default() -> Self {
        RecentHashes {
            hashes: Vec::new(),
            first: 0,
            next: 0,
            capacity: MAX_SIGNED_HEAD_LAG,
        }
    }
}

/// The recent hashes an audit of a stored ledger keeps (2 MB, not 32 MB at a full
/// [`MAX_SIGNED_HEAD_LAG`]): a signed event that follows an older head has that head's hash
/// read from the store ahead ([`Prepared::set_after_hash`]).
pub const STORE_RECENT_HASHES: u64 = 1 << 16;

/// [`STORE_RECENT_HASHES`], or in a build with the test hooks `KAOHE_TEST_RECENT_HASHES`, so
/// that the tests reach past it without 65,536 events.
pub fn store_recent_hashes() -> u64 {
    crate::base::limits::test_knob("KAOHE_TEST_RECENT_HASHES", STORE_RECENT_HASHES)
}

impl RecentHashes {
    /// Keeps the hash of the event at `seq`. The audit's callers feed events in seq order
    /// from the genesis; a seq out of that order (a caller's mistake, or a fuzzer's input)
    /// starts a new run, so that no hash is ever found at a wrong seq.
    fn push(&mut self, seq: u64, hash: Hash) {
        if seq != self.next || self.hashes.is_empty() {
            self.hashes.clear();
            self.first = seq;
        }
        let i = ((seq - self.first) % self.capacity) as usize;
        match self.hashes.get_mut(i) {
            Some(slot) => *slot = hash,
            None => self.hashes.push(hash),
        }
        self.next = seq + 1;
    }

    /// The hash of the event at `seq`, if it is one of the last kept.
    fn get(&self, seq: u64) -> Option<&Hash> {
        if seq < self.first || seq >= self.next || self.next - seq > self.capacity {
            return None;
        }
        self.hashes
            .get(((seq - self.first) % self.capacity) as usize)
    }
}

/// A rule an event breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The event to blame.
    pub seq: u64,
    pub message: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A close in progress: what its rank bonuses must be.
struct ClosingCheck {
    /// The chain's head when close began (the hash before its first event), and its seq.
    began_at: Hash,
    first_seq: u64,
    rankings: Vec<crate::events::event::Ranking>,
    /// (clause, station) of the rank bonuses seen so far.
    awarded: std::collections::BTreeSet<(String, String)>,
}

/// The state the rules need, folded event by event.
#[derive(Default)]
pub struct Audit {
    /// The genesis' period (the rubric text itself is not kept twice).
    period: Option<(Date, Date)>,
    rubric: Option<Rc<Rubric>>,
    /// code → (kind, ordinal)
    stations: FxHashMap<CodeKey, (StationKind, u32)>,
    station_codes: Vec<String>,
    /// Clause codes in rubric order, and their places.
    clause_codes: Vec<String>,
    clause_places: FxHashMap<String, u16>,
    /// By clause place: whether it is a rank clause.
    rank_clauses: Vec<bool>,
    /// The local day of recorded times in `[start, end)` µs (recorded times never go back, so
    /// most events fall in the day of the one before).
    day: Option<(i64, i64, Date)>,
    /// What is kept of the records: bounded by stations and disputes, not by events.
    records: RecordBook,
    /// Records with appeals, decisions or reversals.
    disputes: BTreeMap<u64, Standing>,
    /// appeal seq → the record it disputes
    appeals: HashMap<u64, u64>,
    /// What the last event did to a record's points, if it was a dispute.
    last_adjusted: Option<Adjusted>,
    /// The ordinal of the station the last event registered or recorded or reported for.
    last_station: Option<u32>,
    /// (station ordinal, the metric's place in the rubric) → the latest reported value.
    latest: FxHashMap<(u32, usize), rust_decimal::Decimal>,
    /// Set by the first rank bonus of a close, until the closing event.
    closing: Option<ClosingCheck>,
    /// The closing event's seq, once the period is closed.
    closed: Option<u64>,
    /// The event to blame for the fault being reported, when it is not the one checked.
    blame: Option<u64>,
    /// The genesis' ledger id (signatures cover it).
    ledger_id: [u8; 16],
    /// Whether actors must sign (`SignaturesRequired` or `RootKey` at seq 1).
    signatures_required: bool,
    /// Whether a bureau key is the root of trust (`RootKey` at seq 1).
    bureau_rooted: bool,
    /// The last hashes, for the heads signed events bind.
    recent: RecentHashes,
    /// public key → who it is for, and when it was in force.
    keys: HashMap<[u8; 32], KeyState>,
    /// 64-bit hashes of the ids seen (a collision could only raise a false alarm); not kept
    /// when the caller proves ids unique another way ([`Audit::for_store`]).
    ids: HashSet<u64>,
    ids_checked_elsewhere: bool,
    /// Units per (station, clause, sheet) of counted clauses ([`UnitKey`]).
    unit_counts: FxHashMap<UnitKey, u32>,
    last_recorded_us: Option<i64>,
}

impl Audit {
    /// An audit that keeps what it needs of every record: for an export, where nothing else
    /// says which records will be disputed.
    pub fn new() -> Self {
        Self::default()
    }

    /// An audit of a stored ledger, whose indices (checked against the events by `verify`)
    /// say which records are disputed and prove ids unique: it keeps the facts of the
    /// `disputed` records only and no id set, so its memory is bounded by stations and
    /// disputes, not by events. A dispute of a record not in `disputed` is reported as damage
    /// to the `Dispute` index.
    pub fn for_store(disputed: FxHashSet<u64>) -> Self {
        Audit {
            records: RecordBook {
                keep_only: Some(disputed),
                ..RecordBook::default()
            },
            ids_checked_elsewhere: true,
            recent: RecentHashes {
                capacity: store_recent_hashes(),
                ..RecentHashes::default()
            },
            ..Self::default()
        }
    }

    /// Units recorded per (station, clause, sheet) for the counted clauses, under the keys
    /// of the `UnitCount` index ([`rules::unit_key`]).
    pub fn unit_counts(&self) -> FxHashMap<Vec<u8>, u32> {
        self.unit_counts
            .iter()
            .map(|(k, n)| {
                let (station, clause, sheet) = k.parts();
                let station = &self.station_codes[station as usize];
                let clause = &self.clause_codes[usize::from(clause)];
                (unit_key(station, clause, usize::from(sheet)), *n)
            })
            .collect()
    }

    /// The unit-count key of a station (ordinal), a clause (code) and a sheet; `None` for a
    /// clause not in the rubric (no record counts under it).
    fn unit_key_of(&self, station: u32, clause: &str, sheet: usize) -> Option<UnitKey> {
        let place = *self.clause_places.get(clause)?;
        Some(UnitKey::new(station, place, sheet))
    }

    /// Units standing under a key (0 for none).
    fn units_at(&self, key: Option<UnitKey>) -> u32 {
        key.and_then(|k| self.unit_counts.get(&k).copied())
            .unwrap_or(0)
    }

    /// The rubric of the genesis, once it has been read.
    pub fn rubric(&self) -> Option<Rc<Rubric>> {
        self.rubric.clone()
    }

    pub fn last_recorded_us(&self) -> Option<i64> {
        self.last_recorded_us
    }

    /// What the event just checked did to its record's points, when it was an appeal, a
    /// decision or a reversal.
    pub fn last_adjusted(&self) -> Option<&Adjusted> {
        self.last_adjusted.as_ref()
    }

    /// The ordinal (place in registration order) of the station the event just checked
    /// registered, or that its record or report names; `None` for the other kinds.
    pub fn last_station(&self) -> Option<u32> {
        self.last_station
    }

    /// Per station (ordinal, ascending) and item position: the points standing on the item
    /// and the records counted (what the `Aggregate` index holds at the head), once
    /// [`Audit::finish`] has been called.
    pub fn item_sums(&self) -> impl Iterator<Item = (u32, usize, rust_decimal::Decimal, u32)> + '_ {
        self.records.sums()
    }

    /// The records with disputes and the seqs of their dispute events (the `Dispute` index).
    pub fn disputes(&self) -> impl Iterator<Item = (u64, &[u64])> {
        self.disputes.iter().map(|(k, s)| (*k, s.seqs.as_slice()))
    }

    /// Checks the event at `seq` (chained after `prev`) against the rules and the events before
    /// it, then folds it in. A fault names the event to blame: this one, or the first of an
    /// unfinished close that this one interrupts.
    pub fn check(&mut self, seq: u64, body: &Body, prev: &Hash) -> Result<(), Fault> {
        self.check_prepared(seq, body, prev, Prepared::of(seq, body))
    }

    /// [`Audit::check`], with the checks that need only the event made ahead ([`Prepared`]),
    /// perhaps on another thread. Same rules, same order, same faults.
    pub fn check_prepared(
        &mut self,
        seq: u64,
        body: &Body,
        prev: &Hash,
        prepared: Prepared,
    ) -> Result<(), Fault> {
        self.check_event(seq, body, prev, prepared)
            .map_err(|message| Fault {
                seq: self.blame.take().unwrap_or(seq),
                message,
            })
    }

    /// Every key registered so far.
    pub fn keys(&self) -> &HashMap<[u8; 32], KeyState> {
        &self.keys
    }

    /// After the last event: a close that began (rank bonuses) must have ended (the closing
    /// event). Call it before [`Audit::item_sums`].
    pub fn finish(&mut self) -> Result<(), Fault> {
        self.records.add_pending();
        match &self.closing {
            Some(c) => Err(Fault {
                seq: c.first_seq,
                message: "rank bonuses with no closing event after them (a close was cut off, or a rank bonus was recorded by hand)".into(),
            }),
            None => Ok(()),
        }
    }

    fn check_event(
        &mut self,
        seq: u64,
        body: &Body,
        prev: &Hash,
        mut prepared: Prepared,
    ) -> Result<(), String> {
        if let Some(closed) = self.closed {
            return Err(match self.period {
                Some(period) => rules::after_close(period, closed).message,
                None => format!("an event after the period was closed at seq {closed}"),
            });
        }
        if seq > 0 {
            self.recent.push(seq - 1, *prev);
        }
        let at = body.v1().recorded_at_us;
        if self.last_recorded_us.is_some_and(|last| at < last) {
            return Err("recorded_at goes back in time".into());
        }
        self.last_recorded_us = Some(at);
        self.last_adjusted = None;
        self.last_station = None;
        let kind = body.kind();
        if let Some(g) = kind.genesis() {
            if body.signature().is_some() {
                return Err("the genesis is never signed".into());
            }
            self.genesis(seq, g)?;
            if let Some(previous) = kind.follows() {
                rules::follows(previous, &g.ledger_id, g.period_start)
                    .map_err(|p| field_fault(&p))?;
            }
            return Ok(());
        }
        let (Some(period), Some(rubric)) = (self.period, self.rubric.clone()) else {
            return Err("the first event is not the genesis".into());
        };
        self.unique_id(kind)?;
        let today = self.today(at, body);
        let rank_bonus = matches!(kind, EventKind::PointsRecorded(p)
            if self.clause_places.get(&p.clause).is_some_and(|k| self.rank_clauses[usize::from(*k)]));
        // Rank bonuses are computed by close, not recorded by an actor.
        self.signature(seq, body, rank_bonus, &mut prepared)?;
        if let Some(c) = &self.closing {
            if !rank_bonus && !matches!(kind, EventKind::PeriodClosed(_)) {
                self.blame = Some(c.first_seq);
                return Err(format!(
                    "the rank bonus at seq {} is followed by seq {seq}, which is neither a rank bonus nor the closing event: rank bonuses are recorded only by close",
                    c.first_seq
                ));
            }
        }
        let facts = Facts {
            rubric: &rubric,
            period,
            today,
            seq,
            at,
            prev,
        };
        prepared.fields?;
        self.check_kind(&facts, kind)
    }

    /// The rules of the event's kind.
    fn check_kind(&mut self, f: &Facts<'_>, kind: &EventKind) -> Result<(), String> {
        match kind {
            EventKind::LedgerCreated(_) | EventKind::LedgerFollows(_) => {
                unreachable!("checked by check_event")
            }
            EventKind::StationRegistered(s) => self.station_registered(s),
            EventKind::PointsRecorded(p) => self.record(f, p),
            EventKind::AppealFiled(a) => self.appeal_filed(f, a, kind),
            EventKind::AppealDecided(d) => self.appeal_decided(f, d, kind),
            EventKind::RecordReversed(r) => {
                let facts = self.record_facts(r.target)?;
                self.check_owner(f.rubric, &facts, &r.by, &r.station)?;
                self.dispute(f.rubric, f.seq, r.target, facts, kind)
            }
            EventKind::MetricReported(m) => self.metric(f, m),
            EventKind::PeriodClosed(c) => self.period_closed(f.rubric, f.seq, c, f.prev),
            EventKind::SignaturesRequired => {
                if f.seq != 1 {
                    return Err("signatures can be required only at seq 1, by init".into());
                }
                self.signatures_required = true;
                Ok(())
            }
            EventKind::RootKey(k) => {
                if f.seq != 1 {
                    return Err("the root key is named only at seq 1, by init".into());
                }
                if !matches!(k.actor, Actor::Bureau(_)) {
                    return Err(format!("the root key is {}'s, not a bureau's", k.actor));
                }
                self.signatures_required = true;
                self.bureau_rooted = true;
                self.key_registered(f, k)
            }
            EventKind::KeyRegistered(k) => self.key_registered(f, k),
            EventKind::KeyRevoked(k) => self.key_revoked(f, k),
        }
    }

    /// An id names one event (unless the caller proves ids unique another way).
    fn unique_id(&mut self, kind: &EventKind) -> Result<(), String> {
        if let Some(id) = kind.id().filter(|_| !self.ids_checked_elsewhere) {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(id, &mut h);
            if !self.ids.insert(std::hash::Hasher::finish(&h)) {
                return Err(format!("id {id} names a second event"));
            }
        }
        Ok(())
    }

    fn station_registered(&mut self, s: &StationRegistered) -> Result<(), String> {
        let ordinal = self.station_codes.len() as u32;
        rules::station_count(ordinal).map_err(|p| p.message)?;
        // Invariant: `rules::code` (`event_fields`, checked before this) holds a code to
        // MAX_STATION_CODE_CHARS ASCII characters.
        let key = CodeKey::of(&s.code).expect("a registered code fits a key");
        if self.stations.insert(key, (s.kind, ordinal)).is_some() {
            return Err(format!("station {} registered twice", s.code));
        }
        self.station_codes.push(s.code.clone());
        self.last_station = Some(ordinal);
        Ok(())
    }

    fn appeal_filed(
        &mut self,
        f: &Facts<'_>,
        a: &AppealFiled,
        kind: &EventKind,
    ) -> Result<(), String> {
        let facts = self.record_facts(a.against)?;
        let (item, _) = self.clause_of(f.rubric, &facts)?;
        self.station_kind(&a.station)?;
        let record_id = format!("seq {}", a.against);
        let appealed = Appealed {
            id: &record_id,
            station: &self.station_codes[facts.station as usize],
            item,
            recorded_day: facts.recorded_day,
        };
        rules::appeal(&appealed, &a.station, f.today, f.rubric.appeal_window_days)
            .map_err(|p| p.message)?;
        self.appeals.insert(f.seq, a.against);
        self.dispute(f.rubric, f.seq, a.against, facts, kind)
    }

    fn appeal_decided(
        &mut self,
        f: &Facts<'_>,
        d: &AppealDecided,
        kind: &EventKind,
    ) -> Result<(), String> {
        if self.appeals.get(&d.appeal_seq) != Some(&d.against) {
            return Err(format!(
                "seq {} is not an appeal against seq {}",
                d.appeal_seq, d.against
            ));
        }
        let named = self
            .disputes
            .get(&d.against)
            .and_then(|s| s.appeal(d.appeal_seq))
            .is_some_and(|a| a.id == d.appeal);
        if !named {
            return Err(format!("appeal {} is not seq {}", d.appeal, d.appeal_seq));
        }
        let facts = self.record_facts(d.against)?;
        self.check_owner(f.rubric, &facts, &d.by, &d.station)?;
        self.dispute(f.rubric, f.seq, d.against, facts, kind)
    }

    fn key_registered(&mut self, f: &Facts<'_>, k: &KeyRegistered) -> Result<(), String> {
        match &k.actor {
            Actor::Department(d) => match rules::department(f.rubric, d) {
                Err(p) => return Err(p.message),
                Ok(canonical) if canonical != d => {
                    return Err(format!("{d} is not a department of the rubric"))
                }
                Ok(_) => {}
            },
            Actor::Station(st) => {
                self.station_kind(st)?;
            }
            other => rules::registrable(other, self.bureau_rooted).map_err(|p| p.message)?,
        }
        if !crate::events::sign::is_public_key(&k.public_key) {
            return Err("the registered key is not an Ed25519 public key".into());
        }
        let state = KeyState {
            actor: k.actor.clone(),
            registered_seq: f.seq,
            registered_us: f.at,
            revoked: None,
        };
        if self.keys.insert(k.public_key, state).is_some() {
            return Err("the key is registered a second time".into());
        }
        Ok(())
    }

    fn key_revoked(&mut self, f: &Facts<'_>, k: &KeyRevoked) -> Result<(), String> {
        let key = self
            .keys
            .get(&k.public_key)
            .ok_or("the revoked key was never registered")?;
        if key.revoked.is_some() {
            return Err("the key is revoked a second time".into());
        }
        let bureau = matches!(key.actor, Actor::Bureau(_));
        let others = self.bureau_keys_in_force(f.seq, &k.public_key);
        rules::keeps_a_bureau_key(bureau, others).map_err(|p| p.message)?;
        if let Some(key) = self.keys.get_mut(&k.public_key) {
            key.revoked = Some((f.seq, f.at));
        }
        Ok(())
    }

    /// Bureau keys in force at `seq`, other than `except`.
    fn bureau_keys_in_force(&self, seq: u64, except: &[u8; 32]) -> usize {
        self.keys
            .iter()
            .filter(|(public, k)| {
                *public != except
                    && matches!(k.actor, Actor::Bureau(_))
                    && rules::key_in_force(k.registered_seq, k.revoked.map(|r| r.0), seq)
            })
            .count()
    }

    fn metric(&mut self, f: &Facts<'_>, m: &MetricReported) -> Result<(), String> {
        let (_, ordinal) = self.station(&m.station)?;
        self.last_station = Some(ordinal);
        let metric = rules::metric(f.rubric, &m.metric).map_err(|p| p.message)?;
        rules::department(f.rubric, &m.by).map_err(|p| p.message)?;
        rules::reports(f.rubric, &m.metric, &m.by).map_err(|p| p.message)?;
        rules::within_bounds(metric, m.value).map_err(|p| p.message)?;
        // Invariant: `rules::metric` found the metric in this rubric's list.
        let place = (f.rubric.metrics.iter())
            .position(|x| std::ptr::eq(x, metric))
            .expect("a metric of the rubric");
        self.latest.insert((ordinal, place), m.value);
        rules::occurred(f.period, m.occurred, f.today).map_err(|p| p.message)
    }

    /// A signed event is signed by a key in force at its place in the chain (its actor's, or a
    /// bureau's for the bureau's kinds), over this ledger and, in version 3, the head its
    /// signer saw; an unsigned one is allowed only where signatures are not required.
    fn signature(
        &self,
        seq: u64,
        body: &Body,
        computed: bool,
        prepared: &mut Prepared,
    ) -> Result<(), String> {
        let (after_hash, prepared) = (prepared.after_hash, prepared.signature.take());
        let kind = body.kind();
        let signer = kind.signer(self.bureau_rooted).filter(|_| !computed);
        let Some(sig) = body.signature() else {
            if self.signatures_required && signer.is_some() {
                return Err(format!(
                    "seq {seq} is not signed, and this ledger requires signatures"
                ));
            }
            return Ok(());
        };
        let signer = signer.ok_or("a signed event of a kind no one signs")?;
        let key = self
            .keys
            .get(&sig.public_key)
            .ok_or("signed by a key never registered")?;
        if !rules::key_in_force(key.registered_seq, key.revoked.map(|r| r.0), seq) {
            return Err("signed by a key not in force at its place in the chain (after its registration, up to its revocation)".into());
        }
        rules::signer_matches(&signer, &key.actor).map_err(|p| p.message)?;
        let verifies = match prepared {
            Some(p) if p.ledger_id == self.ledger_id => p.verifies,
            _ => signature_verifies(&self.ledger_id, sig, body, &mut KeyCache::default()),
        }?;
        match body.after() {
            None if self.bureau_rooted => {
                return Err("signed without the head it follows (version 2): a ledger rooted in a bureau key takes version 3 signatures only".into())
            }
            None => {}
            Some(after) => {
                rules::signed_after(seq, after.seq).map_err(|p| p.message)?;
                let known = self.recent.get(after.seq).or(after_hash.as_ref());
                if known != Some(&after.hash) {
                    return Err(format!(
                        "signed after seq {} with a hash this chain does not have there: the signer saw another history",
                        after.seq
                    ));
                }
            }
        }
        if !verifies {
            return Err("the signature does not verify".into());
        }
        Ok(())
    }

    fn genesis(&mut self, seq: u64, g: &LedgerCreated) -> Result<(), String> {
        self.ledger_id = g.ledger_id;
        if seq != 0 || self.period.is_some() {
            return Err("only the first event is the genesis".into());
        }
        if chain::plain(g.rubric_toml.as_bytes()) != g.rubric_hash {
            return Err("the rubric does not match its rubric_hash".into());
        }
        let r = rubric::load(&g.rubric_toml).map_err(|e| e.to_string())?;
        if (r.period_start, r.period_end) != (g.period_start, g.period_end) {
            return Err("the genesis' period differs from its rubric's".into());
        }
        for (i, (_, c)) in r.clauses().enumerate() {
            self.clause_codes.push(c.code.clone());
            self.clause_places.insert(c.code.clone(), i as u16);
            self.rank_clauses.push(matches!(c.rule, Rule::Rank { .. }));
        }
        self.records.shape(r.slot_count(), self.clause_codes.len());
        self.rubric = Some(Rc::new(r));
        self.period = Some((g.period_start, g.period_end));
        Ok(())
    }

    /// The local day of the recorded time `at_us` (of `body`).
    fn today(&mut self, at_us: i64, body: &Body) -> Date {
        if let Some((start, end, day)) = self.day {
            if (start..end).contains(&at_us) {
                return day;
            }
        }
        let day = local_day(body.recorded_at());
        let bounds = jiff::tz::Offset::constant(LOCAL_OFFSET_HOURS)
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .ok()
            .zip(day.tomorrow().ok().and_then(|d| {
                jiff::tz::Offset::constant(LOCAL_OFFSET_HOURS)
                    .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                    .ok()
            }));
        self.day = bounds.map(|(s, e)| (s.as_microsecond(), e.as_microsecond(), day));
        day
    }

    fn station_kind(&self, station: &str) -> Result<StationKind, String> {
        self.station(station).map(|s| s.0)
    }

    /// A registered station's kind and ordinal.
    fn station(&self, station: &str) -> Result<(StationKind, u32), String> {
        self.station_entry(station)
            .ok_or_else(|| rules::unknown_station(station).message)
    }

    /// A registered station's kind and ordinal, if it is registered.
    fn station_entry(&self, station: &str) -> Option<(StationKind, u32)> {
        self.stations.get(&CodeKey::of(station)?).copied()
    }

    /// The record at `seq`, which a dispute names.
    fn record_facts(&self, seq: u64) -> Result<RecordFacts, String> {
        if !self.records.is_record(seq) {
            return Err(format!("seq {seq} is not a recorded deduction or bonus"));
        }
        self.records.facts.get(&seq).copied().ok_or_else(|| {
            format!("the Dispute index does not list seq {seq}, which this event disputes")
        })
    }

    fn clause_of<'r>(
        &self,
        rubric: &'r Rubric,
        facts: &RecordFacts,
    ) -> Result<(&'r rubric::Item, &'r rubric::Clause), String> {
        let code = &self.clause_codes[usize::from(facts.clause)];
        rules::clause(rubric, code).map_err(|p| p.message)
    }

    /// A decision or reversal is made by the record's item's owner, for the record's station.
    fn check_owner(
        &self,
        rubric: &Rubric,
        facts: &RecordFacts,
        by: &str,
        station: &str,
    ) -> Result<(), String> {
        let (item, _) = self.clause_of(rubric, facts)?;
        rules::owner(item, by).map_err(|p| p.message)?;
        let sheet = usize::from(facts.slot) / rubric.slots_per_sheet().max(1);
        rules::same_assessor(rubric, sheet, by).map_err(|p| p.message)?;
        let own = &self.station_codes[facts.station as usize];
        if own != station {
            return Err(format!(
                "names station {station}, but the record is {own}'s"
            ));
        }
        Ok(())
    }

    /// Folds a dispute event into its record's standing.
    fn dispute(
        &mut self,
        rubric: &Rubric,
        seq: u64,
        target: u64,
        facts: RecordFacts,
        kind: &EventKind,
    ) -> Result<(), String> {
        let position = usize::from(facts.slot);
        let sheet = position / rubric.slots_per_sheet().max(1);
        let standing = self
            .disputes
            .entry(target)
            .or_insert_with(|| Standing::new(facts.computed));
        let was_reversed = standing.reversed.is_some();
        let effect = standing.apply(seq, kind).map_err(|c| c.0)?;
        let reversed_now = !was_reversed && standing.reversed.is_some();
        self.records.adjust(facts.station, position, effect.delta)?;
        if reversed_now {
            self.records.unrecord(facts.station, facts.clause);
        }
        if effect.removed && facts.units > 0 {
            let code = &self.clause_codes[usize::from(facts.clause)];
            let key = UnitKey::new(facts.station, facts.clause, sheet);
            let n = self.unit_counts.entry(key).or_default();
            *n = n.saturating_sub(facts.units);
            let remaining = *n;
            for dependent in rubric.required_by(code) {
                let key = self.unit_key_of(facts.station, &dependent.code, sheet);
                let standing = self.units_at(key);
                rules::still_required("target", code, remaining, &dependent.code, standing)
                    .map_err(|p| p.on_sheet(rubric, sheet).message)?;
            }
        }
        self.last_adjusted = Some(Adjusted {
            station: facts.station,
            position: position as u16,
            occurred: facts.occurred,
            delta: effect.delta,
        });
        Ok(())
    }

    /// Recomputes a record's points from the rubric and the state before it.
    fn record(&mut self, f: &Facts<'_>, p: &PointsRecorded) -> Result<(), String> {
        let (station_kind, ordinal) = self.station(&p.station)?;
        self.last_station = Some(ordinal);
        let (item, clause) = rules::clause(f.rubric, &p.clause).map_err(|e| e.message)?;
        rules::department(f.rubric, &p.by).map_err(|e| e.message)?;
        rules::assesses(item, &p.by).map_err(|e| e.message)?;
        rules::occurred(f.period, p.occurred, f.today).map_err(|e| e.message)?;
        rules::deadline(clause, p.occurred).map_err(|e| e.message)?;
        let slot = f
            .rubric
            .record_slot(&p.clause, &p.by, p.occurred)
            .ok_or_else(|| {
                format!(
                    "the record by {} on {} counts on no sheet",
                    p.by, p.occurred
                )
            })?;
        let sheet = slot / f.rubric.slots_per_sheet().max(1);
        // Invariant: the clause was looked up in the same rubric above.
        let place = self.clause_places[&p.clause];
        let key =
            rules::counts_units(f.rubric, clause).then(|| UnitKey::new(ordinal, place, sheet));
        let prior_count = self.units_at(key);
        let ctx = Context {
            station_kind,
            prior_count,
        };
        if let Rule::Rank { .. } = clause.rule {
            self.rank_bonus(f.rubric, f.period, f.seq, p, f.prev)?;
        } else {
            if let Some(n) = p.inputs.count {
                rules::whole("count", n, MAX_COUNT).map_err(|p| field_fault(&p))?;
            }
            recompute(f.rubric, clause, &ctx, p)?;
        }
        // The record's own inputs first, then what the station's other records allow (the
        // write path's order, so the first fault named is the one it would have refused).
        rules::once(clause, prior_count, None).map_err(|e| e.on_sheet(f.rubric, sheet).message)?;
        let standing = |other: &str| self.units_at(self.unit_key_of(ordinal, other, sheet));
        for other in &clause.excludes {
            rules::excluded(clause, other, standing(other), None)
                .map_err(|e| e.on_sheet(f.rubric, sheet).message)?;
        }
        for other in &clause.requires {
            rules::required(clause, other, standing(other))
                .map_err(|e| e.on_sheet(f.rubric, sheet).message)?;
        }
        let units = rules::units(f.rubric, clause, &p.inputs);
        if let Some(key) = key {
            *self.unit_counts.entry(key).or_default() += units;
        }
        let facts = RecordFacts {
            station: ordinal,
            clause: place,
            occurred: p.occurred,
            recorded_day: f.today,
            computed: p.computed_points,
            units,
            // Invariant: slots are below MAX_SHEETS × MAX_SHEET_SLOTS, which fits u16.
            slot: slot as u16,
        };
        self.records.record(f.seq, facts, slot)
    }

    /// Every station with its kind, in registration order.
    fn station_list(&self) -> Vec<(String, StationKind)> {
        self.station_codes
            .iter()
            // Invariant: every listed code was registered (inserted) first.
            .map(|c| {
                (
                    c.clone(),
                    self.station_entry(c).expect("a registered station").0,
                )
            })
            .collect()
    }

    fn latest_of(&self, station: &str, metric: &str) -> Option<rust_decimal::Decimal> {
        let ordinal = self.station_entry(station)?.1;
        let rubric = self.rubric.as_ref()?;
        let place = rubric.metrics.iter().position(|m| m.name == metric)?;
        self.latest.get(&(ordinal, place)).copied()
    }

    /// A rank bonus is recorded only by close, exactly as the ranking of the latest reports
    /// gives it.
    fn rank_bonus(
        &mut self,
        rubric: &Rubric,
        period: (Date, Date),
        seq: u64,
        p: &PointsRecorded,
        prev: &Hash,
    ) -> Result<(), String> {
        if self.closing.is_none() {
            let stations = self.station_list();
            let rankings =
                crate::domain::ranking::rankings(rubric, &stations, |s, m| self.latest_of(s, m));
            self.closing = Some(ClosingCheck {
                began_at: *prev,
                first_seq: seq,
                rankings,
                awarded: Default::default(),
            });
        }
        // Invariant: set just above.
        let closing = self.closing.as_mut().expect("a close in progress");
        let entry = closing
            .rankings
            .iter()
            .filter(|r| r.clause == p.clause)
            .flat_map(|r| &r.entries)
            .find(|e| e.station == p.station)
            .ok_or_else(|| {
                format!(
                    "{} earns no {} rank bonus from the latest reports",
                    p.station, p.clause
                )
            })?;
        let expected = (Some(entry.value), Some(entry.rank), entry.points, period.1);
        let got = (
            p.inputs.value,
            p.inputs.count,
            p.computed_points,
            p.occurred,
        );
        if got != expected {
            return Err(format!(
                "the {} rank bonus of {} is not what the ranking gives (place {}, value {}, {} points, dated {})",
                p.clause, p.station, entry.rank, entry.value, entry.points, period.1
            ));
        }
        if !closing
            .awarded
            .insert((p.clause.clone(), p.station.clone()))
        {
            return Err(format!(
                "a second {} rank bonus for {}",
                p.clause, p.station
            ));
        }
        Ok(())
    }

    /// The closing event: no appeal pending, its rank bonuses all recorded, its gaps and
    /// final scores exactly what the events give, and its head the chain's when close began.
    fn period_closed(
        &mut self,
        rubric: &Rubric,
        seq: u64,
        c: &crate::events::event::PeriodClosed,
        prev: &Hash,
    ) -> Result<(), String> {
        self.records.add_pending();
        let stations = self.station_list();
        let closing = self.closing.take();
        let began_at = closing.as_ref().map_or(*prev, |c| c.began_at);
        if c.head != began_at {
            return Err("its head is not the chain's head when close began".into());
        }
        let rankings = match &closing {
            Some(check) => check.rankings.clone(),
            None => {
                crate::domain::ranking::rankings(rubric, &stations, |s, m| self.latest_of(s, m))
            }
        };
        if c.rankings != rankings {
            return Err("its rankings are not what the latest reports give".into());
        }
        let awarded = closing.map(|c| c.awarded).unwrap_or_default();
        let due: std::collections::BTreeSet<(String, String)> = rankings
            .iter()
            .flat_map(|r| {
                r.entries
                    .iter()
                    .map(|e| (r.clause.clone(), e.station.clone()))
            })
            .collect();
        if awarded != due {
            return Err("the rank bonuses recorded before it are not the ranking's".into());
        }
        self.nothing_pending()?;
        self.gaps_accepted(rubric, &stations, c)?;
        if c.scores != self.final_scores(rubric) {
            return Err("its final scores are not what the events give".into());
        }
        self.closed = Some(seq);
        Ok(())
    }

    /// No appeal is pending when the period closes.
    fn nothing_pending(&self) -> Result<(), String> {
        match self
            .disputes
            .iter()
            .find_map(|(record, s)| s.open_appeal().map(|a| (record, a)))
        {
            Some((record, a)) => Err(format!(
                "appeal {} against seq {record} is still pending",
                a.id
            )),
            None => Ok(()),
        }
    }

    /// The closing event's accepted gaps are the standards failed with no deduction, accepted
    /// with a reason exactly as the close's rule ([`rules::accepted_gaps`]) allows.
    fn gaps_accepted(
        &self,
        rubric: &Rubric,
        stations: &[(String, StationKind)],
        c: &crate::events::event::PeriodClosed,
    ) -> Result<(), String> {
        let gaps = crate::domain::ranking::gaps(
            rubric,
            stations,
            |s, m| self.latest_of(s, m),
            |s, clause| {
                let ordinal = self.station_entry(s).map_or(u32::MAX, |x| x.1);
                self.clause_places
                    .get(clause)
                    .is_some_and(|k| self.records.standing_count(ordinal, *k) > 0)
            },
        );
        let ok = match rules::accepted_gaps(!gaps.is_empty(), c.reason.as_deref()) {
            Ok(Some(_)) => c.accepted_gaps == gaps,
            Ok(None) => c.reason.is_none() && c.accepted_gaps.is_empty(),
            Err(_) => false,
        };
        if !ok {
            return Err(format!(
                "its accepted gaps are not the standards failed without a deduction ({} found)",
                gaps.len()
            ));
        }
        Ok(())
    }

    /// Every station's score from the records and their disputes, ranked.
    fn final_scores(&self, rubric: &Rubric) -> Vec<crate::events::event::FinalScore> {
        let mut fold = crate::domain::projection::Scores::new(rubric);
        for (code, kind) in self.station_list() {
            fold.register(&StationRegistered {
                code,
                name: String::new(),
                kind,
            });
        }
        for (station, position, points, records) in self.records.sums() {
            fold.add(station as usize, position, points, records);
        }
        fold.finish()
            .into_iter()
            .map(|s| crate::events::event::FinalScore {
                station: s.station,
                total: s.total,
                rank: s.rank,
            })
            .collect()
    }
}

/// A (station ordinal, clause place, sheet) unit count's key, packed; the `UnitCount` index
/// keys it by code ([`rules::unit_key`], built by [`Audit::unit_counts`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct UnitKey(u64);

impl UnitKey {
    fn new(station: u32, clause: u16, sheet: usize) -> UnitKey {
        // Invariant: sheets are fewer than MAX_SHEETS, which fits u16.
        let sheet = u16::try_from(sheet).expect("a sheet of the rubric");
        UnitKey(u64::from(station) << 32 | u64::from(clause) << 16 | u64::from(sheet))
    }

    /// (station ordinal, clause place, sheet)
    fn parts(self) -> (u32, u16, u16) {
        ((self.0 >> 32) as u32, (self.0 >> 16) as u16, self.0 as u16)
    }
}

/// What the audit keeps of the records. Per record only a bit (is the seq a record?) and,
/// for records that may be disputed, their facts; per station the points standing in each
/// slot (the close's final scores) and the records standing on each clause (the close's
/// gaps). So its memory grows with stations and disputes, and by one bit per event.
#[derive(Default)]
struct RecordBook {
    /// Bit `seq` is set when the event at `seq` is a record.
    is_record: Vec<u64>,
    /// The facts of the records kept.
    facts: FxHashMap<u64, RecordFacts>,
    /// When set, only these records' facts are kept.
    keep_only: Option<FxHashSet<u64>>,
    /// The rubric's slots and clauses (the strides of the two tables below), from the genesis.
    slots: usize,
    clauses: usize,
    /// Points standing (in units of 10^-6) by station × slot (`Rubric::record_slot`), and
    /// records counted in `slot_records` beside it: two tables, since a pair would be padded
    /// to 32 bytes (at 40,000 stations and 42 slots, 54 MB where these take 34).
    slot_points: Vec<i128>,
    slot_records: Vec<u32>,
    /// Records not reversed, by station × clause place.
    standing: Vec<u32>,
    /// Records not yet added to the two tables above: (`slot_points` place, `standing` place,
    /// points). They are added [`PENDING_RECORDS`] at a time, in a loop whose reads of the
    /// tables overlap (one record at a time, each read was a cache miss of its own at tens of
    /// thousands of stations), and always before either table is read.
    pending: Vec<(usize, usize, i128)>,
}

/// Records gathered before they are added to a [`RecordBook`]'s tables.
const PENDING_RECORDS: usize = 1024;

impl RecordBook {
    /// Sets the strides, from the genesis' rubric.
    fn shape(&mut self, slots: usize, clauses: usize) {
        self.slots = slots;
        self.clauses = clauses;
    }

    fn is_record(&self, seq: u64) -> bool {
        let word = (seq / 64) as usize;
        self.is_record
            .get(word)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// Where a station's slot is in `slot_points`, growing the table to hold the station.
    fn slot_at(&mut self, station: u32, slot: usize) -> usize {
        // Invariant: slots come from the genesis' rubric.
        assert!(slot < self.slots, "a slot of the rubric");
        let at = station as usize * self.slots + slot;
        if self.slot_points.len() <= at {
            let len = (station as usize + 1) * self.slots;
            self.slot_points.resize(len, 0);
            self.slot_records.resize(len, 0);
        }
        at
    }

    fn clause_slot(&mut self, station: u32, clause: u16) -> usize {
        // Invariant: clause places come from the genesis' rubric.
        assert!(
            usize::from(clause) < self.clauses,
            "a clause place of the rubric"
        );
        let at = station as usize * self.clauses + usize::from(clause);
        if self.standing.len() <= at {
            self.standing
                .resize((station as usize + 1) * self.clauses, 0);
        }
        at
    }

    fn record(&mut self, seq: u64, facts: RecordFacts, slot: usize) -> Result<(), String> {
        let units = fixed_points(facts.computed)?;
        let word = (seq / 64) as usize;
        if self.is_record.len() <= word {
            self.is_record.resize(word + 1, 0);
        }
        self.is_record[word] |= 1 << (seq % 64);
        if self.keep_only.as_ref().is_none_or(|k| k.contains(&seq)) {
            self.facts.insert(seq, facts);
        }
        let at = self.slot_at(facts.station, slot);
        let standing = self.clause_slot(facts.station, facts.clause);
        self.pending.push((at, standing, units));
        if self.pending.len() >= PENDING_RECORDS {
            self.add_pending();
        }
        Ok(())
    }

    /// Adds the pending records to the tables.
    fn add_pending(&mut self) {
        for (at, standing, units) in self.pending.drain(..) {
            self.slot_points[at] += units;
            self.slot_records[at] += 1;
            self.standing[standing] += 1;
        }
    }

    /// A decision or reversal changed a record's points by `delta`.
    fn adjust(
        &mut self,
        station: u32,
        slot: usize,
        delta: rust_decimal::Decimal,
    ) -> Result<(), String> {
        let units = fixed_points(delta)?;
        let at = self.slot_at(station, slot);
        self.slot_points[at] += units;
        Ok(())
    }

    /// A record was reversed: it no longer stands on its clause.
    fn unrecord(&mut self, station: u32, clause: u16) {
        self.add_pending();
        let at = self.clause_slot(station, clause);
        // Invariant: only a counted record is reversed, and only once (`Standing` refuses a
        // second reversal).
        assert!(self.standing[at] > 0, "a reversal undoes a counted record");
        self.standing[at] -= 1;
    }

    /// Records of `station` on clause `clause` that were not reversed.
    fn standing_count(&self, station: u32, clause: u16) -> u32 {
        // Invariant: read only after `add_pending` (the close, `Audit::finish`).
        assert!(
            self.pending.is_empty(),
            "records added before they are read"
        );
        let at = station as usize * self.clauses + usize::from(clause);
        match usize::from(clause) < self.clauses {
            true => self.standing.get(at).copied().unwrap_or(0),
            false => 0,
        }
    }

    /// (station, slot, points standing, records) for every slot with records.
    fn sums(&self) -> impl Iterator<Item = (u32, usize, rust_decimal::Decimal, u32)> + '_ {
        // Invariant: read only after `add_pending` (the close, `Audit::finish`).
        assert!(
            self.pending.is_empty(),
            "records added before they are read"
        );
        let slots = self.slots;
        self.slot_points
            .iter()
            .zip(&self.slot_records)
            .enumerate()
            .filter(|(_, (_, n))| **n > 0)
            .map(move |(at, (units, n))| {
                let points = rust_decimal::Decimal::from_i128_with_scale(*units, FIXED_PLACES);
                ((at / slots) as u32, at % slots, points.normalize(), *n)
            })
    }
}

/// The places of the fixed-point sums: every computed figure has at most this many.
const FIXED_PLACES: u32 = crate::base::limits::MAX_DECIMAL_PLACES;

/// Points in units of 10^-[`FIXED_PLACES`]; an error for a figure with more places (no
/// figure kaohe computes or accepts has them, so only a forged event can).
fn fixed_points(d: rust_decimal::Decimal) -> Result<i128, String> {
    match d.scale() <= FIXED_PLACES {
        true => Ok(d.mantissa() * 10i128.pow(FIXED_PLACES - d.scale())),
        false => Err(format!(
            "points {d} have more than {FIXED_PLACES} decimal places"
        )),
    }
}

/// The checks of one event that need nothing but the event: its fields' bounds
/// ([`rules::event_fields`]) and, made by a [`Preparer`], whether its signature verifies. A
/// reader on another thread makes them ahead of the audit ([`Audit::check_prepared`]), which
/// takes their answers where it would have made them.
#[derive(Debug)]
pub struct Prepared {
    fields: Result<(), String>,
    signature: Option<PreparedSignature>,
    /// The hash at the seq a signed event follows, read from the store by a caller whose audit
    /// keeps fewer recent hashes than the lag allows; used only where the audit keeps none.
    after_hash: Option<Hash>,
}

/// Whether a signature verifies over the ledger with this id ([`signature_verifies`]).
#[derive(Debug)]
struct PreparedSignature {
    ledger_id: [u8; 16],
    verifies: Result<bool, String>,
}

impl Prepared {
    /// The fields' checks only (the audit checks the signature itself).
    pub fn of(seq: u64, body: &Body) -> Prepared {
        Prepared {
            fields: rules::event_fields(seq, body.kind()).map_err(|p| field_fault(&p)),
            signature: None,
            after_hash: None,
        }
    }

    /// Gives the hash the store holds at the seq this signed event follows (its `after`), for
    /// an audit of the store that no longer keeps it ([`STORE_RECENT_HASHES`]). The walk
    /// reaches that seq, and checks the stored hash there, before it reaches this event.
    pub fn set_after_hash(&mut self, hash: Hash) {
        self.after_hash = Some(hash);
    }
}

/// Whether `sig` is its key's signature of the event, over the ledger `ledger_id` and, in
/// version 3, the head its signer saw (`sign::message`, `sign::message_after`); `Err` when
/// the kind does not encode. The crypto of [`Audit::check`], made ahead or in place.
fn signature_verifies(
    ledger_id: &[u8; 16],
    sig: &crate::events::event::Signature,
    body: &Body,
    keys: &mut KeyCache,
) -> Result<bool, String> {
    let bytes = crate::events::codec::encode_kind(body.kind()).map_err(|e| e.to_string())?;
    let message = match body.after() {
        None => crate::events::sign::message(ledger_id, &bytes),
        Some(after) => crate::events::sign::message_after(ledger_id, &after, &bytes),
    };
    Ok(keys.verify(sig, &message))
}

/// Makes [`Prepared`] for the events of a chain, in order from its genesis (whose ledger id
/// every signature covers). A run holding many signatures is checked on two threads, each
/// with its own cache of decompressed keys: an Ed25519 verification costs some thirty times
/// all the other checks of an event.
#[derive(Default)]
pub struct Preparer {
    ledger_id: Option<[u8; 16]>,
    keys: [KeyCache; 2],
    /// Whether a second thread can run beside this one (asked once: it reads cgroup files).
    parallel: Option<bool>,
}

/// Signatures in a run from which their checks are split across two threads.
const SPLIT_SIGNATURES_MIN: usize = 16;

impl Preparer {
    /// Pushes onto `out` what is prepared of each of `bodies`, the events from `first_seq`.
    pub fn prepare(&mut self, first_seq: u64, bodies: &[Body], out: &mut Vec<Prepared>) {
        if first_seq == 0 {
            self.ledger_id = bodies
                .first()
                .and_then(|b| b.kind().genesis())
                .map(|g| g.ledger_id);
        }
        let ledger_id = self.ledger_id;
        let [near, far] = &mut self.keys;
        let signed = bodies.iter().filter(|b| b.signature().is_some()).count();
        let two = signed >= SPLIT_SIGNATURES_MIN
            && *self.parallel.get_or_insert_with(|| {
                std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
            });
        if !two {
            Self::run(ledger_id, first_seq, bodies, near, out);
            return;
        }
        let half = bodies.len() / 2;
        let (first, second) = bodies.split_at(half);
        let second_seq = first_seq + half as u64;
        let mut later = Vec::with_capacity(second.len());
        std::thread::scope(|s| {
            s.spawn(|| Self::run(ledger_id, second_seq, second, far, &mut later));
            Self::run(ledger_id, first_seq, first, near, out);
        });
        out.append(&mut later);
    }

    /// A preparer for the events after a genesis that named the ledger `ledger_id`, one at a
    /// time on its caller's thread ([`Preparer::prepare_one`]; its caller runs several).
    pub fn after_genesis(ledger_id: Option<[u8; 16]>) -> Preparer {
        Preparer {
            ledger_id,
            keys: Default::default(),
            parallel: Some(false),
        }
    }

    /// What is prepared of the event `seq`, on this thread. Its ledger is the one the last
    /// genesis prepared (or [`Preparer::after_genesis`]) named.
    pub fn prepare_one(&mut self, seq: u64, body: &Body) -> Prepared {
        if seq == 0 {
            self.ledger_id = body.kind().genesis().map(|g| g.ledger_id);
        }
        Self::one(self.ledger_id, seq, body, &mut self.keys[0])
    }

    fn run(
        ledger_id: Option<[u8; 16]>,
        first_seq: u64,
        bodies: &[Body],
        keys: &mut KeyCache,
        out: &mut Vec<Prepared>,
    ) {
        for (seq, body) in (first_seq..).zip(bodies) {
            out.push(Self::one(ledger_id, seq, body, keys));
        }
    }

    fn one(ledger_id: Option<[u8; 16]>, seq: u64, body: &Body, keys: &mut KeyCache) -> Prepared {
        let mut prepared = Prepared::of(seq, body);
        if let (Some(ledger_id), Some(sig)) = (ledger_id, body.signature()) {
            prepared.signature = Some(PreparedSignature {
                ledger_id,
                verifies: signature_verifies(&ledger_id, sig, body, keys),
            });
        }
        prepared
    }
}

/// A field rule's fault, in the words the write path refuses the command with.
fn field_fault(p: &Problem) -> String {
    format!("field `{}`: {}", p.field, p.message)
}

/// A record's points are what the rubric computes from its inputs, never what it claims.
fn recompute(
    rubric: &Rubric,
    clause: &rubric::Clause,
    ctx: &Context,
    p: &PointsRecorded,
) -> Result<(), String> {
    match rules::points(rubric, clause, ctx, &p.inputs) {
        Ok(points) if points == p.computed_points => Ok(()),
        Ok(points) => Err(format!(
            "computed_points {} but the rubric gives {points}",
            p.computed_points
        )),
        Err(e) => Err(format!("the rubric refuses this record: {e}")),
    }
}
