//! The events: every state change of a ledger, named in the past tense.
//!
//! These types *are* the stored format (see `schema/EVENTS.md`): they are encoded by the codec
//! with bincode's serde API, so every enum is externally tagged, every map is a `BTreeMap`, and
//! no field is skipped or flattened. New fields arrive only as new variants: [`Body`] carries
//! the format version, [`EventKind`] the kind; both only ever grow at the end.

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A BLAKE3 hash.
pub type Hash = [u8; 32];

/// The stored body of one event: the bytes the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Format version 1.
    V1(EventV1),
    /// An event signed by its actor's key (`Signed`): the signature covers the ledger and the
    /// kind. Written by kaohe before the bureau key; still read and verified.
    V2(Signed),
    /// An event signed by its actor's key over the ledger, the head the signer saw, and the
    /// kind (`SignedAfter`). Every signature kaohe writes now.
    V3(SignedAfter),
}

/// A version 1 event, the head its signer saw, and the signer's signature over both (see
/// `sign::message_after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAfter {
    pub event: EventV1,
    /// The event the signer saw as the chain's head: this event follows it, in a chain that
    /// holds it (its seq is smaller, and the event at that seq has that hash).
    pub after: After,
    pub signature: Signature,
}

/// A place in the chain a signer saw: an event's seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub seq: u64,
    pub hash: Hash,
}

/// A version 1 event and its actor's signature over it (see [`Signed::message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub event: EventV1,
    pub signature: Signature,
}

/// An Ed25519 signature and the public key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub public_key: [u8; 32],
    /// The signature's two halves (R, S).
    pub r: [u8; 32],
    pub s: [u8; 32],
}

/// One event, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventV1 {
    /// Position in the chain, from 0 (the genesis), without gaps.
    pub seq: u64,
    /// When the ledger recorded it: microseconds since 1970-01-01T00:00:00Z.
    pub recorded_at_us: i64,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    LedgerCreated(LedgerCreated),
    StationRegistered(StationRegistered),
    PointsRecorded(PointsRecorded),
    MetricReported(MetricReported),
    AppealFiled(AppealFiled),
    AppealDecided(AppealDecided),
    RecordReversed(RecordReversed),
    PeriodClosed(PeriodClosed),
    KeyRegistered(KeyRegistered),
    KeyRevoked(KeyRevoked),
    /// Set at seq 1 by `init --require-signatures`: every record, metric report, appeal,
    /// decision and reversal must be signed by its actor's key in force.
    SignaturesRequired,
    /// Set at seq 1 by `init --require-signatures --bureau-key FILE.pub`: every actor must
    /// sign, and this bureau key is the root of trust. Bureau keys in force sign key
    /// registrations and revocations, station registrations and the close.
    RootKey(KeyRegistered),
    /// The genesis of a year that follows another (`init --follows PREV`): the genesis'
    /// fields, and the previous year's sealed head. Only ever at seq 0, like `LedgerCreated`.
    LedgerFollows(LedgerFollows),
}

/// Who acts: a department (records, reports, decisions, reversals), a station (appeals), the
/// bureau (the root of trust: keys, stations, the close, checkpoints), a witness (cosigns
/// checkpoints outside the ledger; never registered in one), or an auditor (reads everything,
/// signs nothing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Actor {
    Department(String),
    Station(String),
    Bureau(String),
    Witness(String),
    Auditor(String),
}

impl Actor {
    /// The kinds' names, as key files, exports and import lines spell them.
    pub const KINDS: [&'static str; 5] = ["department", "station", "bureau", "witness", "auditor"];

    /// The kind's name: `department`, `station`, `bureau` or `witness`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Actor::Department(_) => "department",
            Actor::Station(_) => "station",
            Actor::Bureau(_) => "bureau",
            Actor::Witness(_) => "witness",
            Actor::Auditor(_) => "auditor",
        }
    }

    /// The department's name, the station's code, the bureau's or the witness's name.
    pub fn name(&self) -> &str {
        match self {
            Actor::Department(n)
            | Actor::Station(n)
            | Actor::Bureau(n)
            | Actor::Witness(n)
            | Actor::Auditor(n) => n,
        }
    }

    /// An actor from its kind's name and its name; `None` for an unknown kind.
    pub fn from_parts(kind: &str, name: String) -> Option<Actor> {
        match kind {
            "department" => Some(Actor::Department(name)),
            "station" => Some(Actor::Station(name)),
            "bureau" => Some(Actor::Bureau(name)),
            "witness" => Some(Actor::Witness(name)),
            "auditor" => Some(Actor::Auditor(name)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind_str(), self.name())
    }
}

/// Who signs an event: its actor's key, or any bureau key in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    Actor(Actor),
    Bureau,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Actor(a) => a.fmt(f),
            Signer::Bureau => f.write_str("the bureau"),
        }
    }
}

/// A public key was put in force for an actor, from this event's recorded time on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRegistered {
    pub actor: Actor,
    pub public_key: [u8; 32],
}

/// A key stopped being in force, from this event's recorded time on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRevoked {
    pub public_key: [u8; 32],
    pub reason: String,
}

/// The genesis: which rubric governs the ledger, for which period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCreated {
    /// 16 bytes that tell this ledger apart from every other.
    pub ledger_id: [u8; 16],
    /// The rubric file, byte for byte as given to `init`.
    pub rubric_toml: String,
    /// BLAKE3 of `rubric_toml`'s bytes.
    pub rubric_hash: Hash,
    #[serde(with = "date_text")]
    pub period_start: Date,
    #[serde(with = "date_text")]
    pub period_end: Date,
}

/// The genesis of a ledger that follows the previous year's: what [`LedgerCreated`] holds,
/// and that year's sealed head, so that an auditor can walk the years back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFollows {
    pub created: LedgerCreated,
    pub previous: Sealed,
}

/// A closed ledger's sealed head: its id and period, and its closing event (`PeriodClosed`,
/// its last) by seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub ledger_id: [u8; 16],
    #[serde(with = "date_text")]
    pub period_start: Date,
    #[serde(with = "date_text")]
    pub period_end: Date,
    /// The closing event's seq and hash.
    pub seq: u64,
    pub hash: Hash,
}

/// A judicial station's kind: the rubric's thresholds differ for towns and subdistricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StationKind {
    /// 镇
    Town,
    /// 街道
    Subdistrict,
}

impl StationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StationKind::Town => "town",
            StationKind::Subdistrict => "subdistrict",
        }
    }

    /// The kind as the pages name it.
    pub fn zh(self) -> &'static str {
        match self {
            StationKind::Town => "镇",
            StationKind::Subdistrict => "街道",
        }
    }

    /// Accepts `town` / `subdistrict` and the Chinese 镇 / 街道.
    pub fn parse(text: &str) -> Option<StationKind> {
        match text.trim() {
            "town" | "镇" => Some(StationKind::Town),
            "subdistrict" | "街道" => Some(StationKind::Subdistrict),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            StationKind::Town => "镇",
            StationKind::Subdistrict => "街道",
        }
    }
}

/// A station joined the assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StationRegistered {
    pub code: String,
    pub name: String,
    pub kind: StationKind,
}

/// What the recorder gave for a clause; which fields a clause takes depends on its rule kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// A measured figure (threshold and shortfall clauses).
    #[serde(with = "opt_decimal_text")]
    pub value: Option<Decimal>,
    /// How many units (per-unit and range clauses).
    pub count: Option<u32>,
    /// How many of the required were done (missing clauses).
    pub done: Option<u32>,
    /// Points the recorder gave: per unit for per-unit and range clauses, else the whole figure.
    #[serde(with = "opt_decimal_text")]
    pub points: Option<Decimal>,
    /// A justification.
    pub note: Option<String>,
}

/// A deduction (categories 1–5) or bonus (category B) was recorded against a clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsRecorded {
    pub id: String,
    pub station: String,
    pub clause: String,
    pub inputs: Inputs,
    /// The points the ledger computed from the rubric and the inputs; always positive. Whether
    /// they are taken or given follows from the clause's category.
    #[serde(with = "decimal_text")]
    pub computed_points: Decimal,
    #[serde(with = "date_text")]
    pub occurred: Date,
    /// The assessing department (canonical name).
    pub by: String,
    pub evidence: Vec<String>,
}

/// A station's measured figure for a metric the rubric uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricReported {
    pub id: String,
    pub station: String,
    pub metric: String,
    #[serde(with = "decimal_text")]
    pub value: Decimal,
    #[serde(with = "date_text")]
    pub occurred: Date,
    pub by: String,
    pub evidence: Vec<String>,
}

/// A station disputed one of its deductions (申诉).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealFiled {
    pub id: String,
    /// The seq of the disputed deduction (a `PointsRecorded` of a deduction item).
    pub against: u64,
    /// The appealing station: the deduction's own station.
    pub station: String,
    pub grounds: String,
    pub evidence: Vec<String>,
}

/// How an appeal was decided (复核).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppealOutcome {
    /// The deduction is removed.
    Upheld,
    /// These points stand for the whole deduction (between 0 and the original).
    Partial(#[serde(with = "decimal_text")] Decimal),
    /// The deduction stands.
    Rejected,
}

impl AppealOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            AppealOutcome::Upheld => "upheld",
            AppealOutcome::Partial(_) => "partial",
            AppealOutcome::Rejected => "rejected",
        }
    }

    /// The outcome as the pages name it.
    pub fn zh(&self) -> &'static str {
        match self {
            AppealOutcome::Upheld => "申诉成立",
            AppealOutcome::Partial(_) => "部分成立",
            AppealOutcome::Rejected => "维持扣分",
        }
    }

    pub fn points(&self) -> Option<Decimal> {
        match self {
            AppealOutcome::Partial(p) => Some(*p),
            _ => None,
        }
    }
}

/// The department owning a disputed deduction's item decided an appeal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealDecided {
    /// The appeal's id and seq.
    pub appeal: String,
    pub appeal_seq: u64,
    /// The deduction's seq and station (the appeal's).
    pub against: u64,
    pub station: String,
    pub outcome: AppealOutcome,
    pub by: String,
    pub reason: String,
    pub evidence: Vec<String>,
}

/// The department owning a record's item withdrew it as a clerical error (wrong station, wrong
/// clause): from then on it counts for nothing, at every valid time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReversed {
    pub id: String,
    /// The seq of the reversed record.
    pub target: u64,
    /// The record's station.
    pub station: String,
    pub by: String,
    pub reason: String,
    pub evidence: Vec<String>,
}

/// The bureau sealed the period (`kaohe close`): nothing can be recorded for it after this.
/// The rank bonuses it computed are `PointsRecorded` events just before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodClosed {
    /// The chain's head when it was sealed: the hash of the event just before this one.
    pub head: Hash,
    /// Every station's final score, best first.
    pub scores: Vec<FinalScore>,
    /// The rankings of the rubric's rank clauses, down to the last place that earns points.
    pub rankings: Vec<Ranking>,
    /// Standards failed without a deduction that the bureau accepted (`--accept-gaps`).
    pub accepted_gaps: Vec<Gap>,
    /// Why the gaps were accepted (present exactly when there are some).
    pub reason: Option<String>,
}

/// A station's final score at close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalScore {
    pub station: String,
    #[serde(with = "decimal_text")]
    pub total: Decimal,
    pub rank: u32,
}

/// The ranking of one rank clause at close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranking {
    pub clause: String,
    /// The stations that qualified, by place, down to the last place that earns points.
    pub entries: Vec<RankEntry>,
    /// How many stations qualified in all.
    pub qualified: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankEntry {
    pub station: String,
    /// The ranked figure (the station's latest report of the clause's metric).
    #[serde(with = "decimal_text")]
    pub value: Decimal,
    pub rank: u32,
    /// The bonus its place earns (zero past the last band).
    #[serde(with = "decimal_text")]
    pub points: Decimal,
}

/// A standard a station's latest figure fails, with no deduction recorded under its clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub station: String,
    pub clause: String,
    pub metric: String,
    #[serde(with = "decimal_text")]
    pub value: Decimal,
    /// What the clause would deduct for it.
    #[serde(with = "decimal_text")]
    pub points: Decimal,
}

impl EventKind {
    /// The name used in exports and logs.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::LedgerCreated(_) => "ledger_created",
            EventKind::StationRegistered(_) => "station_registered",
            EventKind::PointsRecorded(_) => "points_recorded",
            EventKind::MetricReported(_) => "metric_reported",
            EventKind::AppealFiled(_) => "appeal_filed",
            EventKind::AppealDecided(_) => "appeal_decided",
            EventKind::RecordReversed(_) => "record_reversed",
            EventKind::PeriodClosed(_) => "period_closed",
            EventKind::KeyRegistered(_) => "key_registered",
            EventKind::KeyRevoked(_) => "key_revoked",
            EventKind::SignaturesRequired => "signatures_required",
            EventKind::RootKey(_) => "root_key",
            EventKind::LedgerFollows(_) => "ledger_follows",
        }
    }

    /// The station an event concerns, if any.
    pub fn station(&self) -> Option<&str> {
        match self {
            EventKind::LedgerCreated(_) | EventKind::LedgerFollows(_) => None,
            EventKind::StationRegistered(s) => Some(&s.code),
            EventKind::PointsRecorded(p) => Some(&p.station),
            EventKind::MetricReported(m) => Some(&m.station),
            EventKind::AppealFiled(a) => Some(&a.station),
            EventKind::AppealDecided(d) => Some(&d.station),
            EventKind::RecordReversed(r) => Some(&r.station),
            EventKind::KeyRegistered(k) => match &k.actor {
                Actor::Station(s) => Some(s),
                _ => None,
            },
            EventKind::PeriodClosed(_)
            | EventKind::KeyRevoked(_)
            | EventKind::SignaturesRequired
            | EventKind::RootKey(_) => None,
        }
    }

    /// The genesis' fields, for either kind of genesis (`LedgerCreated`, `LedgerFollows`).
    pub fn genesis(&self) -> Option<&LedgerCreated> {
        match self {
            EventKind::LedgerCreated(g) => Some(g),
            EventKind::LedgerFollows(f) => Some(&f.created),
            _ => None,
        }
    }

    /// The previous year's sealed head a genesis follows, if it follows one.
    pub fn follows(&self) -> Option<&Sealed> {
        match self {
            EventKind::LedgerFollows(f) => Some(&f.previous),
            _ => None,
        }
    }

    /// The caller's idempotency key, if the event has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            EventKind::PointsRecorded(p) => Some(&p.id),
            EventKind::MetricReported(m) => Some(&m.id),
            EventKind::AppealFiled(a) => Some(&a.id),
            EventKind::RecordReversed(r) => Some(&r.id),
            _ => None,
        }
    }

    /// Who acts in the event, for the kinds that are signed by their actor.
    pub fn actor(&self) -> Option<Actor> {
        match self {
            EventKind::PointsRecorded(p) => Some(Actor::Department(p.by.clone())),
            EventKind::MetricReported(m) => Some(Actor::Department(m.by.clone())),
            EventKind::AppealDecided(d) => Some(Actor::Department(d.by.clone())),
            EventKind::RecordReversed(r) => Some(Actor::Department(r.by.clone())),
            EventKind::AppealFiled(a) => Some(Actor::Station(a.station.clone())),
            _ => None,
        }
    }

    /// Who must sign the event where signatures are required: its actor, or a bureau key in
    /// force (in a ledger rooted in a bureau key). `None`: the ledger writes it unsigned (the
    /// genesis, seq 1, and the rank bonuses close computes, which the closing event covers).
    pub fn signer(&self, bureau_rooted: bool) -> Option<Signer> {
        if let Some(actor) = self.actor() {
            return Some(Signer::Actor(actor));
        }
        match self {
            EventKind::StationRegistered(_)
            | EventKind::KeyRegistered(_)
            | EventKind::KeyRevoked(_)
            | EventKind::PeriodClosed(_)
                if bureau_rooted =>
            {
                Some(Signer::Bureau)
            }
            _ => None,
        }
    }

    /// The record an appeal, decision or reversal concerns.
    pub fn dispute_target(&self) -> Option<u64> {
        match self {
            EventKind::AppealFiled(a) => Some(a.against),
            EventKind::AppealDecided(d) => Some(d.against),
            EventKind::RecordReversed(r) => Some(r.target),
            _ => None,
        }
    }

    /// True when every decimal is in canonical form (asserted before encoding).
    pub fn decimals_canonical(&self) -> bool {
        use crate::base::decimal::is_canonical;
        match self {
            EventKind::PointsRecorded(p) => {
                is_canonical(&p.computed_points)
                    && p.inputs.value.as_ref().is_none_or(is_canonical)
                    && p.inputs.points.as_ref().is_none_or(is_canonical)
            }
            EventKind::MetricReported(m) => is_canonical(&m.value),
            EventKind::AppealDecided(d) => d.outcome.points().as_ref().is_none_or(is_canonical),
            EventKind::PeriodClosed(c) => {
                c.scores.iter().all(|s| is_canonical(&s.total))
                    && c.rankings
                        .iter()
                        .flat_map(|r| &r.entries)
                        .all(|e| is_canonical(&e.value) && is_canonical(&e.points))
                    && c.accepted_gaps
                        .iter()
                        .all(|g| is_canonical(&g.value) && is_canonical(&g.points))
            }
            _ => true,
        }
    }
}

impl Body {
    /// The event, signed or not.
    pub fn v1(&self) -> &EventV1 {
        match self {
            Body::V1(e) => e,
            Body::V2(s) => &s.event,
            Body::V3(s) => &s.event,
        }
    }
    pub fn v1_mut(&mut self) -> &mut EventV1 {
        match self {
            Body::V1(e) => e,
            Body::V2(s) => &mut s.event,
            Body::V3(s) => &mut s.event,
        }
    }
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            Body::V1(_) => None,
            Body::V2(s) => Some(&s.signature),
            Body::V3(s) => Some(&s.signature),
        }
    }
    /// The head a `V3` signature binds.
    pub fn after(&self) -> Option<After> {
        match self {
            Body::V3(s) => Some(s.after),
            _ => None,
        }
    }
    pub fn seq(&self) -> u64 {
        self.v1().seq
    }
    pub fn kind(&self) -> &EventKind {
        &self.v1().kind
    }
    pub fn recorded_at(&self) -> jiff::Timestamp {
        timestamp_from_us(self.v1().recorded_at_us)
    }
}

/// Microseconds since the Unix epoch as a timestamp; out-of-range values clamp (they cannot
/// be produced by kaohe, and a decoder of foreign bytes must not panic).
pub fn timestamp_from_us(us: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// Dates are stored as their ISO 8601 text, `YYYY-MM-DD`, so that any decoder can read them.
pub mod date_text {
    use crate::base::decimal::{displays_as, with_displayed};
    use jiff::civil::Date;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        with_displayed(d, |text| s.serialize_str(text))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        d.deserialize_str(super::ParsedText(|text: &str| {
            parse_date(text).ok_or_else(|| format!("bad date `{text}`"))
        }))
    }

    /// Strict `YYYY-MM-DD` (what kaohe writes); anything else is refused.
    pub fn parse_date(text: &str) -> Option<Date> {
        if text.len() != 10 {
            return None;
        }
        let d: Date = text.parse().ok()?;
        displays_as(&d, text).then_some(d)
    }

    /// Why `text` is not a date, for messages: written `YYYY-MM-DD` but a day the calendar
    /// does not have (`2018-02-29`, `2018-13-01`, or a day and month swapped) is "no such
    /// day"; anything else is not in the form.
    pub fn why_not_a_date(text: &str) -> String {
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if shaped {
            format!("`{text}`: no such day (read as YYYY-MM-DD)")
        } else {
            format!("`{text}` is not a date YYYY-MM-DD")
        }
    }

    /// [`why_not_a_date`] in Chinese.
    pub fn why_not_a_date_zh(text: &str) -> String {
        match why_not_a_date(text).contains("no such day") {
            true => format!("没有“{text}”这一天（按 年-月-日 读）"),
            false => format!("“{text}”不是 年-月-日（YYYY-MM-DD）格式的日期"),
        }
    }
}

/// Decimals are stored as their canonical text (`"95.5"`, never `"95.50"`, `"+95.5"` or
/// `"9.55e1"`); decoding refuses any other spelling.
pub mod decimal_text {
    use crate::base::decimal::with_displayed;
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        with_displayed(d, |text| s.serialize_str(text))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_str(super::ParsedText(|text: &str| {
            crate::base::decimal::parse_canonical(text)
                .ok_or_else(|| format!("`{text}` is not a canonical decimal"))
        }))
    }
}

/// A string field read in place (the decoder lends the stored bytes; nothing is allocated)
/// and parsed by the function it holds, whose `Err` is the decoder's message.
struct ParsedText<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> serde::de::Visitor<'de> for ParsedText<F> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

/// [`decimal_text`] for optional decimals.
pub mod opt_decimal_text {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Text(#[serde(with = "super::decimal_text")] Decimal);

    pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        d.map(Text).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<Text>::deserialize(d)?.map(|t| t.0))
    }
}
