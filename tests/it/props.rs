//! Properties, checked on generated inputs (proptest):
//!
//! - the codec round-trips every event, and its bytes are stable;
//! - decoding never panics, whatever the bytes;
//! - replaying a ledger built from random valid commands gives the scores of a naive model
//!   written here from the 2018 rubric's text (not from kaohe's rubric code), at the end and at
//!   every prefix of the chain, and does so deterministically;
//! - any single-byte change to an export line is caught by `export::verify` at that line.
//!
//! Case counts are kept modest so that the suite stays fast.

use jiff::civil::Date;
use kaohe::internals::base::decimal::canonical;
use kaohe::internals::domain::command::{Command, MetricCmd, RecordCmd, StationCmd};
use kaohe::internals::domain::projection::{Scores, StationScore};
use kaohe::internals::events::chain;
use kaohe::internals::events::codec;
use kaohe::internals::events::event::*;
use kaohe::internals::ledger::{Ledger, Numbered, Outcome};
use kaohe::ops::export;
use proptest::prelude::*;
use proptest::test_runner::Config;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

fn now() -> jiff::Timestamp {
    crate::harness::TEST_NOW.parse().expect("test clock")
}

fn rubric_2018() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    // The generators know nothing of format 2's conditions (tests/it/conditions.rs).
    TEXT.get_or_init(crate::harness::rubric_2018_format1)
}

// ---------------------------------------------------------------------------------------------
// Strategies for events.

/// Any canonical decimal: a mantissa and a scale, normalised as the write path does.
fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| canonical(Decimal::new(m, s))),
        (-1_000_000i64..1_000_000, 0u32..=6).prop_map(|(m, s)| canonical(Decimal::new(m, s))),
        Just(Decimal::ZERO),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
    ]
}

/// Any Unicode text (control characters, newlines, astral planes included).
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter)
}

/// Any date kaohe can write: years 0000–9999 (always `YYYY-MM-DD`).
fn date() -> impl Strategy<Value = Date> {
    (0i16..=9999, 1i8..=12, 1i8..=31)
        .prop_filter_map("a real date", |(y, m, d)| Date::new(y, m, d).ok())
}

fn station_kind() -> impl Strategy<Value = StationKind> {
    prop_oneof![Just(StationKind::Town), Just(StationKind::Subdistrict)]
}

fn inputs() -> impl Strategy<Value = Inputs> {
    (
        prop::option::of(decimal()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::option::of(decimal()),
        prop::option::of(text()),
    )
        .prop_map(|(value, count, done, points, note)| Inputs {
            value,
            count,
            done,
            points,
            note,
        })
}

/// Integers of every varint width (one byte, then the u16, u32 and u64 markers).
fn int() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..251,
        251u64..65_536,
        65_536u64..(1 << 32),
        any::<u64>()
    ]
}

fn int32() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..251, 251u32..65_536, any::<u32>()]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn actor() -> impl Strategy<Value = Actor> {
    (0u8..5, text()).prop_map(|(k, n)| match k {
        0 => Actor::Department(n),
        1 => Actor::Station(n),
        2 => Actor::Bureau(n),
        3 => Actor::Witness(n),
        _ => Actor::Auditor(n),
    })
}

fn created() -> impl Strategy<Value = LedgerCreated> {
    (any::<[u8; 16]>(), text(), any::<[u8; 32]>(), date(), date()).prop_map(
        |(ledger_id, rubric_toml, rubric_hash, period_start, period_end)| LedgerCreated {
            ledger_id,
            rubric_toml,
            rubric_hash,
            period_start,
            period_end,
        },
    )
}

fn closed() -> impl Strategy<Value = PeriodClosed> {
    let score = (text(), decimal(), int32()).prop_map(|(station, total, rank)| FinalScore {
        station,
        total,
        rank,
    });
    let entry =
        (text(), decimal(), int32(), decimal()).prop_map(|(station, value, rank, points)| {
            RankEntry {
                station,
                value,
                rank,
                points,
            }
        });
    let ranking = (text(), prop::collection::vec(entry, 0..3), int32()).prop_map(
        |(clause, entries, qualified)| Ranking {
            clause,
            entries,
            qualified,
        },
    );
    let gap = (text(), text(), text(), decimal(), decimal()).prop_map(
        |(station, clause, metric, value, points)| Gap {
            station,
            clause,
            metric,
            value,
            points,
        },
    );
    (
        any::<[u8; 32]>(),
        prop::collection::vec(score, 0..3),
        prop::collection::vec(ranking, 0..2),
        prop::collection::vec(gap, 0..2),
        prop::option::of(text()),
    )
        .prop_map(
            |(head, scores, rankings, accepted_gaps, reason)| PeriodClosed {
                head,
                scores,
                rankings,
                accepted_gaps,
                reason,
            },
        )
}

/// Every kind of event, the records, reports and registrations most often.
fn event_kind() -> impl Strategy<Value = EventKind> {
    let station = (text(), text(), station_kind()).prop_map(|(code, name, kind)| {
        EventKind::StationRegistered(StationRegistered { code, name, kind })
    });
    let points = (
        (text(), text(), text()),
        inputs(),
        decimal(),
        date(),
        text(),
        texts(),
    )
        .prop_map(
            |((id, station, clause), inputs, computed_points, occurred, by, evidence)| {
                EventKind::PointsRecorded(PointsRecorded {
                    id,
                    station,
                    clause,
                    inputs,
                    computed_points,
                    occurred,
                    by,
                    evidence,
                })
            },
        );
    let metric = ((text(), text(), text()), decimal(), date(), text(), texts()).prop_map(
        |((id, station, metric), value, occurred, by, evidence)| {
            EventKind::MetricReported(MetricReported {
                id,
                station,
                metric,
                value,
                occurred,
                by,
                evidence,
            })
        },
    );
    let appeal = (text(), int(), text(), text(), texts()).prop_map(
        |(id, against, station, grounds, evidence)| {
            EventKind::AppealFiled(AppealFiled {
                id,
                against,
                station,
                grounds,
                evidence,
            })
        },
    );
    let outcome = prop_oneof![
        Just(AppealOutcome::Upheld),
        decimal().prop_map(AppealOutcome::Partial),
        Just(AppealOutcome::Rejected),
    ];
    let decision = (
        (text(), int(), int(), text()),
        outcome,
        text(),
        text(),
        texts(),
    )
        .prop_map(
            |((appeal, appeal_seq, against, station), outcome, by, reason, evidence)| {
                EventKind::AppealDecided(AppealDecided {
                    appeal,
                    appeal_seq,
                    against,
                    station,
                    outcome,
                    by,
                    reason,
                    evidence,
                })
            },
        );
    let reversal = (text(), int(), text(), text(), text(), texts()).prop_map(
        |(id, target, station, by, reason, evidence)| {
            EventKind::RecordReversed(RecordReversed {
                id,
                target,
                station,
                by,
                reason,
                evidence,
            })
        },
    );
    let key = || {
        (actor(), any::<[u8; 32]>())
            .prop_map(|(actor, public_key)| KeyRegistered { actor, public_key })
    };
    let revoked = (any::<[u8; 32]>(), text())
        .prop_map(|(public_key, reason)| EventKind::KeyRevoked(KeyRevoked { public_key, reason }));
    let follows = (
        created(),
        any::<[u8; 16]>(),
        date(),
        date(),
        int(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(created, ledger_id, period_start, period_end, seq, hash)| {
                EventKind::LedgerFollows(LedgerFollows {
                    created,
                    previous: Sealed {
                        ledger_id,
                        period_start,
                        period_end,
                        seq,
                        hash,
                    },
                })
            },
        );
    prop_oneof![
        6 => points,
        4 => metric,
        4 => station,
        2 => created().prop_map(EventKind::LedgerCreated),
        1 => appeal,
        1 => decision,
        1 => reversal,
        1 => closed().prop_map(EventKind::PeriodClosed),
        1 => key().prop_map(EventKind::KeyRegistered),
        1 => revoked,
        1 => Just(EventKind::SignaturesRequired),
        1 => key().prop_map(EventKind::RootKey),
        1 => follows,
    ]
}

/// A recorded time a body may hold (schema/EVENTS.md, "Canonical bodies", 3).
fn recorded_us() -> std::ops::Range<i64> {
    use kaohe::internals::base::limits::{RECORDED_US_END, RECORDED_US_START};
    RECORDED_US_START..RECORDED_US_END
}

/// A body of every version: unsigned, signed (version 2) and signed after a head (3).
fn body() -> impl Strategy<Value = Body> {
    let event =
        (int(), recorded_us(), event_kind()).prop_map(|(seq, recorded_at_us, kind)| EventV1 {
            seq,
            recorded_at_us,
            kind,
        });
    let signature =
        any::<[[u8; 32]; 3]>().prop_map(|[public_key, r, s]| Signature { public_key, r, s });
    (0u8..4, event, signature, int(), any::<[u8; 32]>()).prop_map(
        |(version, event, signature, seq, hash)| match version {
            0 | 1 => Body::V1(event),
            2 => Body::V2(Signed { event, signature }),
            _ => Body::V3(SignedAfter {
                event,
                after: After { seq, hash },
                signature,
            }),
        },
    )
}

/// What a byte string may suffer: (position, new byte) edits, then a cut or an insertion.
#[derive(Debug, Clone)]
enum Damage {
    Set(Vec<(usize, u8)>),
    Cut(usize),
    Insert(usize, Vec<u8>),
}

fn damaged_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), 249u8..=255, 0u8..=2]
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        // Bytes near the varint markers and option tags reach the decoder's edges.
        prop::collection::vec((any::<usize>(), damaged_byte()), 1..4).prop_map(Damage::Set),
        any::<usize>().prop_map(Damage::Cut),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(at, b)| Damage::Insert(at, b)),
    ]
}

fn apply_damage(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match d {
        Damage::Set(edits) => {
            let n = bytes.len();
            for (at, b) in edits {
                bytes[at % n] = *b;
            }
        }
        Damage::Cut(at) => bytes.truncate(at % bytes.len()),
        Damage::Insert(at, b) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    /// decode(encode(x)) == x, and the bytes are stable: encoding the decoded event again gives
    /// the same bytes (so decimals keep their canonical scale), and so the same hash.
    #[test]
    fn prop_codec_round_trips_and_bytes_are_stable(body in body()) {
        prop_assert!(body.kind().decimals_canonical());
        let bytes = codec::encode(&body).expect("encodes");
        let decoded = codec::decode(&bytes).expect("decodes");
        prop_assert_eq!(&decoded, &body);
        let again = codec::encode(&decoded).expect("encodes again");
        prop_assert_eq!(&again, &bytes);
        prop_assert_eq!(chain::link(&chain::GENESIS_PREV, &again), chain::link(&chain::GENESIS_PREV, &bytes));
        // Decimals come back with their text, not just their value.
        if let EventKind::PointsRecorded(p) = decoded.kind() {
            let EventKind::PointsRecorded(q) = body.kind() else { unreachable!() };
            prop_assert_eq!(p.computed_points.to_string(), q.computed_points.to_string());
            prop_assert_eq!(p.inputs.value.map(|v| v.to_string()), q.inputs.value.map(|v| v.to_string()));
        }
    }

    /// Guards "Canonical bodies", 3: a recorded time outside the range encodes (the write
    /// path never makes one) but never decodes.
    #[test]
    fn prop_a_recorded_time_outside_the_range_is_refused(
        body in body(),
        at in prop_oneof![i64::MIN..recorded_us().start, recorded_us().end..=i64::MAX],
    ) {
        let mut body = body;
        body.v1_mut().recorded_at_us = at;
        let bytes = codec::encode(&body).expect("encodes");
        prop_assert_eq!(codec::decode(&bytes), Err(codec::CodecError::TimeOutOfRange(at)));
    }

    /// Arbitrary bytes decode to an event or an error, never a panic.
    #[test]
    fn prop_decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(body) = codec::decode(&bytes) {
            // Whatever decodes can be shown (the export and log path) without panicking.
            let _ = export::decoded(&body);
        }
    }

    /// Damaged encodings of real events (which get much deeper into the decoder than random
    /// bytes) decode or fail, never panic; a decoded event can be shown.
    #[test]
    fn prop_decode_never_panics_on_damaged_events(body in body(), d in damage()) {
        let mut bytes = codec::encode(&body).expect("encodes");
        apply_damage(&mut bytes, &d);
        if let Ok(body) = codec::decode(&bytes) {
            let _ = export::decoded(&body);
        }
    }

    /// Guards the codec's fast path (a canonical body read by hand) against the full
    /// decoder: it reads every body the write path makes, and on those bodies' bytes, damaged
    /// or not, `decode` gives exactly the full decoder's answer (the same event, or the same
    /// error).
    #[test]
    fn prop_the_fast_path_reads_what_the_full_decoder_reads(body in body(), d in damage()) {
        let mut bytes = codec::encode(&body).expect("encodes");
        prop_assert_eq!(codec::decode_fast(&bytes), Some(body));
        prop_assert_eq!(codec::decode(&bytes), codec::decode_in_full(&bytes));
        apply_damage(&mut bytes, &d);
        prop_assert_eq!(codec::decode(&bytes), codec::decode_in_full(&bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// The naive scoring model: the 2018 rubric's clauses, typed in from its text.

#[derive(Debug, Clone, Copy)]
enum Amount {
    Fixed(&'static str),
    Range(&'static str, &'static str),
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    Fixed(&'static str),
    /// points per unit, at most this many units per station
    PerUnit(&'static str, Option<u32>),
    /// the assessor's points per unit, within min–max
    Range(&'static str, &'static str),
    /// points × ⌈gap / step⌉, gap = threshold − value (or value − threshold when `above`)
    Shortfall {
        threshold: &'static str,
        step: &'static str,
        points: &'static str,
        above: bool,
    },
    /// points × (required − done)
    Missing(u32, &'static str),
    /// value below the threshold for the station's kind (town, subdistrict)
    Below(&'static str, &'static str, Amount),
    /// value at least the threshold for the station's kind (town, subdistrict)
    AtLeast(&'static str, &'static str, &'static str),
}

struct Clause {
    code: &'static str,
    item: &'static str,
    by: &'static str,
    rule: Rule,
    /// The metric a value belongs to (for its bounds).
    max_value: Option<&'static str>,
}

const CLAUSES: &[Clause] = &[
    Clause {
        code: "1.3.a",
        item: "1.3",
        by: "基层科",
        rule: Rule::Fixed("3"),
        max_value: None,
    },
    Clause {
        code: "1.3.b",
        item: "1.3",
        by: "基层科",
        rule: Rule::Fixed("1"),
        max_value: None,
    },
    Clause {
        code: "2.1.a",
        item: "2.1",
        by: "公律科",
        rule: Rule::Fixed("0.5"),
        max_value: None,
    },
    Clause {
        code: "3.1.c",
        item: "3.1",
        by: "社矫科",
        rule: Rule::Fixed("8"),
        max_value: None,
    },
    Clause {
        code: "B.1.a",
        item: "B.1",
        by: "宣教科",
        rule: Rule::Fixed("2"),
        max_value: None,
    },
    Clause {
        code: "B.3.a",
        item: "B.3",
        by: "办公室",
        rule: Rule::Fixed("1.5"),
        max_value: None,
    },
    Clause {
        code: "B.4.b",
        item: "B.4",
        by: "基层科",
        rule: Rule::Fixed("0.5"),
        max_value: None,
    },
    Clause {
        code: "1.2.a",
        item: "1.2",
        by: "基层科",
        rule: Rule::PerUnit("2", None),
        max_value: None,
    },
    Clause {
        code: "2.1.f",
        item: "2.1",
        by: "公律科",
        rule: Rule::PerUnit("0.1", None),
        max_value: None,
    },
    Clause {
        code: "5.1.b",
        item: "5.1",
        by: "政治处",
        rule: Rule::PerUnit("1", Some(3)),
        max_value: None,
    },
    Clause {
        code: "3.1.b",
        item: "3.1",
        by: "矫正科",
        rule: Rule::Range("2", "8"),
        max_value: None,
    },
    Clause {
        code: "3.2.a",
        item: "3.2",
        by: "社矫科",
        rule: Rule::Range("0.5", "2"),
        max_value: None,
    },
    Clause {
        code: "B.7.b",
        item: "B.7",
        by: "社矫科",
        rule: Rule::Range("0.1", "1"),
        max_value: None,
    },
    Clause {
        code: "B.8.a",
        item: "B.8",
        by: "社矫科",
        rule: Rule::Range("0.1", "1"),
        max_value: None,
    },
    Clause {
        code: "1.6.c",
        item: "1.6",
        by: "基层科",
        rule: Rule::Shortfall {
            threshold: "98",
            step: "1",
            points: "1",
            above: false,
        },
        max_value: Some("100"),
    },
    Clause {
        code: "1.6.d",
        item: "1.6",
        by: "基层科",
        rule: Rule::Shortfall {
            threshold: "100",
            step: "5",
            points: "1",
            above: false,
        },
        max_value: Some("100"),
    },
    Clause {
        code: "3.6.b",
        item: "3.6",
        by: "社矫科",
        rule: Rule::Shortfall {
            threshold: "4",
            step: "0.1",
            points: "0.5",
            above: true,
        },
        max_value: Some("100"),
    },
    Clause {
        code: "1.4.a",
        item: "1.4",
        by: "基层科",
        rule: Rule::Missing(5, "2"),
        max_value: None,
    },
    Clause {
        code: "2.2.b",
        item: "2.2",
        by: "法援科",
        rule: Rule::Missing(2, "0.5"),
        max_value: None,
    },
    Clause {
        code: "1.1.a",
        item: "1.1",
        by: "基层科",
        rule: Rule::Below("100", "100", Amount::Fixed("1")),
        max_value: Some("100"),
    },
    Clause {
        code: "2.2.a",
        item: "2.2",
        by: "法援科",
        rule: Rule::Below("100", "50", Amount::Range("0.5", "1")),
        max_value: None,
    },
    Clause {
        code: "B.5.a",
        item: "B.5",
        by: "法援科",
        rule: Rule::AtLeast("50", "20", "1"),
        max_value: None,
    },
];

/// The points of the items the clauses above belong to.
const ITEM_POINTS: &[(&str, &str)] = &[
    ("1.1", "6"),
    ("1.2", "4"),
    ("1.3", "3"),
    ("1.4", "8"),
    ("1.6", "4"),
    ("2.1", "6"),
    ("2.2", "4"),
    ("3.1", "7"),
    ("3.2", "6"),
    ("3.6", "2"),
    ("5.1", "7"),
    ("B.1", "2"),
    ("B.3", "1.5"),
    ("B.4", "1.5"),
    ("B.5", "1"),
    ("B.7", "1"),
    ("B.8", "1"),
];
const BASE: &str = "100";
const BONUS_CAP: &str = "10";
const STATIONS: usize = 4;
const STATION_NAMES: [&str; STATIONS] = [
    "湖塘司法所",
    "南夏墅街道司法所",
    "Station \"3\" ✓",
    // A label holds no control character (the rulebook refuses a line break in a name).
    "站\u{1F600}二",
];

fn station_code(s: usize) -> String {
    format!("S{s}")
}

fn item_points(item: &str) -> Decimal {
    dec(ITEM_POINTS
        .iter()
        .find(|(i, _)| *i == item)
        .expect("item")
        .1)
}

/// One generated step.
#[derive(Debug, Clone)]
enum Op {
    Register(usize),
    Record {
        station: usize,
        clause: usize,
        a: u32,
        b: u32,
        id: bool,
        give_points: bool,
    },
    Metric {
        station: usize,
        a: u32,
        id: bool,
    },
    /// Send an earlier command again (idempotent: nothing appended).
    Repeat(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..STATIONS).prop_map(Op::Register),
        8 => (0..STATIONS, 0..CLAUSES.len(), any::<u32>(), any::<u32>(), any::<bool>(), any::<bool>())
            .prop_map(|(station, clause, a, b, id, give_points)| Op::Record { station, clause, a, b, id, give_points }),
        1 => (0..STATIONS, any::<u32>(), any::<bool>()).prop_map(|(station, a, id)| Op::Metric { station, a, id }),
        1 => any::<usize>().prop_map(Op::Repeat),
    ]
}

/// What an appended event does to the scores.
#[derive(Debug, Clone)]
enum Effect {
    Station {
        code: String,
        name: String,
        kind: StationKind,
    },
    Points {
        station: String,
        item: &'static str,
        bonus: bool,
        points: Decimal,
    },
    Metric,
}

/// A command and what it is expected to do (`None`: nothing appended).
#[derive(Debug, Clone)]
struct Planned {
    command: Command,
    effect: Option<Effect>,
}

/// `n / 10^scale` as a decimal.
fn scaled(n: u64, scale: u32) -> Decimal {
    canonical(Decimal::from_i128_with_scale(i128::from(n), scale))
}

/// A figure in [0, limit) with two decimals.
fn below(limit: Decimal, a: u32) -> Decimal {
    let hundredths = (limit * Decimal::from(100)).trunc();
    let h = u64::try_from(hundredths.mantissa() / 10i128.pow(hundredths.scale())).unwrap();
    scaled(u64::from(a) % h, 2)
}

/// An assessor's choice in [min, max], in steps of 0.1.
fn choose(min: &str, max: &str, b: u32) -> Decimal {
    let (min, max) = (dec(min), dec(max));
    let steps = ((max - min) * Decimal::from(10)).trunc();
    let steps = u32::try_from(steps.mantissa() / 10i128.pow(steps.scale())).unwrap();
    canonical(min + scaled(u64::from(b % (steps + 1)), 1))
}

/// Turns generated steps into commands a valid ledger accepts, with their expected effects.
/// Records for a station not yet registered register it first; a per-unit clause at its
/// max_count is skipped.
fn plan(ops: &[Op], kinds: &[StationKind]) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    let mut registered = BTreeSet::new();
    let mut units: BTreeMap<(usize, &str), u32> = BTreeMap::new();
    let mut repeatable: Vec<usize> = Vec::new();
    let register = |s: usize,
                    out: &mut Vec<Planned>,
                    registered: &mut BTreeSet<usize>,
                    repeatable: &mut Vec<usize>| {
        let first = registered.insert(s);
        repeatable.push(out.len());
        out.push(Planned {
            command: Command::Station(StationCmd {
                code: station_code(s),
                name: STATION_NAMES[s].to_string(),
                kind: kinds[s],
            }),
            effect: first.then(|| Effect::Station {
                code: station_code(s),
                name: STATION_NAMES[s].to_string(),
                kind: kinds[s],
            }),
        });
    };
    for (n, op) in ops.iter().enumerate() {
        let occurred =
            Date::new(2018, 1, 1).unwrap() + jiff::Span::new().days(i64::from(n as u32 % 365));
        let evidence = vec![format!("证据{n}")];
        match *op {
            Op::Register(s) => register(s, &mut out, &mut registered, &mut repeatable),
            Op::Repeat(k) => {
                if !repeatable.is_empty() {
                    let command = out[repeatable[k % repeatable.len()]].command.clone();
                    out.push(Planned {
                        command,
                        effect: None,
                    });
                }
            }
            Op::Metric { station, a, id } => {
                if !registered.contains(&station) {
                    register(station, &mut out, &mut registered, &mut repeatable);
                }
                let (metric, by, value) = if a % 2 == 0 {
                    (
                        "dispute_entry_rate",
                        "基层科",
                        scaled(u64::from(a) % 10_001, 2),
                    )
                } else {
                    ("legal_aid_referrals", "法援科", Decimal::from(a % 200))
                };
                if id {
                    repeatable.push(out.len());
                }
                out.push(Planned {
                    command: Command::Metric(MetricCmd {
                        id: id.then(|| format!("P{n}")),
                        station: station_code(station),
                        metric: metric.into(),
                        value,
                        by: by.into(),
                        occurred,
                        evidence,
                    }),
                    effect: Some(Effect::Metric),
                });
            }
            Op::Record {
                station,
                clause,
                a,
                b,
                id,
                give_points,
            } => {
                let c = &CLAUSES[clause];
                let kind = kinds[station];
                let mut inputs = Inputs::default();
                let by_kind = |town: &str, sub: &str| match kind {
                    StationKind::Town => dec(town),
                    StationKind::Subdistrict => dec(sub),
                };
                let points = match c.rule {
                    Rule::Fixed(p) => {
                        if a % 3 == 0 {
                            inputs.count = Some(1);
                        }
                        dec(p)
                    }
                    Rule::PerUnit(p, max) => {
                        let mut count = 1 + a % 4;
                        if let Some(max) = max {
                            let used = units.get(&(station, c.code)).copied().unwrap_or(0);
                            if used >= max {
                                continue;
                            }
                            count = count.min(max - used);
                            *units.entry((station, c.code)).or_default() += count;
                        }
                        if count > 1 || b % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        if give_points {
                            inputs.points = Some(dec(p));
                        }
                        dec(p) * Decimal::from(count)
                    }
                    Rule::Range(min, max) => {
                        let count = 1 + a % 3;
                        if count > 1 || b % 2 == 0 {
                            inputs.count = Some(count);
                        }
                        let chosen = choose(min, max, b);
                        inputs.points = Some(chosen);
                        inputs.note = Some(format!("理由 {n}\n第二行"));
                        chosen * Decimal::from(count)
                    }
                    Rule::Shortfall {
                        threshold,
                        step,
                        points,
                        above,
                    } => {
                        let (t, step, p) = (dec(threshold), dec(step), dec(points));
                        let value = if above {
                            let room = dec(c.max_value.unwrap()) - t;
                            t + below(room, a) + dec("0.01")
                        } else {
                            below(t, a)
                        };
                        let gap = if above { value - t } else { t - value };
                        inputs.value = Some(canonical(value));
                        p * (gap / step).ceil()
                    }
                    Rule::Missing(required, p) => {
                        let done = a % required;
                        inputs.done = Some(done);
                        dec(p) * Decimal::from(required - done)
                    }
                    Rule::Below(town, sub, amount) => {
                        inputs.value = Some(below(by_kind(town, sub), a));
                        match amount {
                            Amount::Fixed(p) => dec(p),
                            Amount::Range(min, max) => {
                                let chosen = choose(min, max, b);
                                inputs.points = Some(chosen);
                                inputs.note = Some(format!("视情 {n}"));
                                chosen
                            }
                        }
                    }
                    Rule::AtLeast(town, sub, p) => {
                        inputs.value = Some(by_kind(town, sub) + Decimal::from(a % 1000));
                        dec(p)
                    }
                };
                let points = canonical(points);
                // The recorder may state the whole figure for clauses that compute it.
                if give_points
                    && matches!(
                        c.rule,
                        Rule::Fixed(_)
                            | Rule::Shortfall { .. }
                            | Rule::Missing(..)
                            | Rule::Below(_, _, Amount::Fixed(_))
                            | Rule::AtLeast(..)
                    )
                {
                    inputs.points = Some(points);
                }
                if !registered.contains(&station) {
                    register(station, &mut out, &mut registered, &mut repeatable);
                }
                if id {
                    repeatable.push(out.len());
                }
                out.push(Planned {
                    command: Command::Record(RecordCmd {
                        id: id.then(|| format!("P{n}")),
                        clause: c.code.into(),
                        station: station_code(station),
                        by: c.by.into(),
                        occurred,
                        inputs,
                        evidence,
                    }),
                    effect: Some(Effect::Points {
                        station: station_code(station),
                        item: c.item,
                        bonus: c.item.starts_with('B'),
                        points,
                    }),
                });
            }
        }
    }
    out
}

/// One station's figures, in a form both the model and kaohe's scores are brought to.
#[derive(Debug, PartialEq)]
struct Figures {
    name: String,
    kind: StationKind,
    total: Decimal,
    deducted: Decimal,
    awarded: Decimal,
    raw_deducted: Decimal,
    raw_awarded: Decimal,
    awarded_before_cap: Decimal,
    rank: u32,
    /// item → (applied deducted, applied awarded, raw deducted, raw awarded, events), for the
    /// items that have events.
    items: BTreeMap<String, (Decimal, Decimal, Decimal, Decimal, u32)>,
}

/// The naive model over the effects of events 1.. (the genesis has none).
fn naive(effects: &[Effect]) -> BTreeMap<String, Figures> {
    let zero = Decimal::ZERO;
    let mut stations: BTreeMap<String, (String, StationKind)> = BTreeMap::new();
    let mut raw: BTreeMap<String, BTreeMap<&str, (Decimal, Decimal, u32)>> = BTreeMap::new();
    for e in effects {
        match e {
            Effect::Station { code, name, kind } => {
                stations.insert(code.clone(), (name.clone(), *kind));
            }
            Effect::Points {
                station,
                item,
                bonus,
                points,
            } => {
                let r = raw
                    .entry(station.clone())
                    .or_default()
                    .entry(item)
                    .or_default();
                if *bonus {
                    r.1 += points;
                } else {
                    r.0 += points;
                }
                r.2 += 1;
            }
            Effect::Metric => {}
        }
    }
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    for (code, (name, kind)) in stations {
        let mut f = Figures {
            name,
            kind,
            total: zero,
            deducted: zero,
            awarded: zero,
            raw_deducted: zero,
            raw_awarded: zero,
            awarded_before_cap: zero,
            rank: 0,
            items: BTreeMap::new(),
        };
        for (item, (d, a, n)) in raw.remove(&code).unwrap_or_default() {
            let cap = item_points(item);
            let (ad, aa) = (d.min(cap), a.min(cap));
            f.deducted += ad;
            f.awarded_before_cap += aa;
            f.raw_deducted += d;
            f.raw_awarded += a;
            f.items.insert(item.to_string(), (ad, aa, d, a, n));
        }
        f.awarded = f.awarded_before_cap.min(dec(BONUS_CAP));
        f.total = dec(BASE) - f.deducted + f.awarded;
        out.insert(code, f);
    }
    // Equal totals share the better place: 1 + the number of stations strictly ahead.
    let totals: Vec<Decimal> = out.values().map(|f| f.total).collect();
    for f in out.values_mut() {
        f.rank = 1 + totals.iter().filter(|t| **t > f.total).count() as u32;
    }
    out
}

/// kaohe's scores in the model's form; items without events must be all zero.
fn figures(scores: &[StationScore]) -> BTreeMap<String, Figures> {
    scores
        .iter()
        .map(|s| {
            let mut items = BTreeMap::new();
            for i in &s.items {
                if i.events == 0 {
                    assert!(
                        i.deducted.is_zero()
                            && i.awarded.is_zero()
                            && i.raw_deducted.is_zero()
                            && i.raw_awarded.is_zero(),
                        "{} item {} has figures without events",
                        s.station,
                        i.item
                    );
                    continue;
                }
                assert_eq!(i.max, item_points(i.item), "item {} points", i.item);
                assert_eq!(i.bonus, i.item.starts_with('B'), "item {} bonus", i.item);
                items.insert(
                    i.item.to_string(),
                    (
                        i.deducted,
                        i.awarded,
                        i.raw_deducted,
                        i.raw_awarded,
                        i.events,
                    ),
                );
            }
            let f = Figures {
                name: s.name.clone(),
                kind: s.kind,
                total: s.total,
                deducted: s.deducted,
                awarded: s.awarded,
                raw_deducted: s.raw_deducted,
                raw_awarded: s.raw_awarded,
                awarded_before_cap: s.awarded_before_cap,
                rank: s.rank,
                items,
            };
            (s.station.clone(), f)
        })
        .collect()
}

/// Scores of events [0, to), read back through the checked replay.
fn scores_upto(ledger: &Ledger, to: u64) -> Vec<StationScore<'_>> {
    let mut fold = Scores::new(ledger.rubric());
    ledger
        .replay(0, to, |e| {
            fold.apply(e.body).expect("a valid event scores");
            Ok(true)
        })
        .expect("replay");
    fold.finish()
}

fn new_ledger(dir: &Path) -> Ledger {
    let path = dir.join("ledger");
    Ledger::init(&path, rubric_2018(), now()).expect("init");
    open_ledger(&path)
}

/// Opens a ledger this process has just closed. A dropped `sled::Db` can hold its lock for a
/// moment in background threads, so the first attempts may find the ledger "in use".
pub(crate) fn open_ledger(path: &Path) -> Ledger {
    use kaohe::internals::ledger::LedgerError;
    use kaohe::internals::store::StoreError;
    for _ in 0..2000 {
        match Ledger::open(path) {
            Err(LedgerError::Store(StoreError::InUse(_))) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            other => return other.expect("open"),
        }
    }
    panic!("{} stays in use", path.display())
}

/// Applies the planned commands in chunks of the given sizes (cycled); checks each outcome.
/// Returns the effects of events 1.. in seq order.
fn apply_all(ledger: &mut Ledger, planned: &[Planned], chunks: &[usize]) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut at = 0;
    for size in chunks.iter().cycle() {
        if at >= planned.len() {
            break;
        }
        let chunk = &planned[at..(at + size).min(planned.len())];
        let commands: Vec<Numbered> = chunk
            .iter()
            .map(|p| Numbered {
                line: None,
                command: p.command.clone(),
            })
            .collect();
        let outcomes = ledger.apply(&commands, now()).unwrap_or_else(|e| {
            panic!(
                "refused {:?}: {e}",
                chunk.iter().map(|p| &p.command).collect::<Vec<_>>()
            )
        });
        assert_eq!(outcomes.len(), chunk.len());
        for (p, o) in chunk.iter().zip(&outcomes) {
            match (o, &p.effect) {
                (Outcome::Appended { seq, .. }, Some(e)) => {
                    assert_eq!(*seq, 1 + effects.len() as u64, "seqs without gaps");
                    effects.push(e.clone());
                }
                (Outcome::Unchanged { .. }, None) => {}
                (o, e) => panic!("{:?}: outcome {o:?}, expected effect {e:?}", p.command),
            }
        }
        at += size;
    }
    assert_eq!(ledger.head().next_seq, 1 + effects.len() as u64);
    effects
}

proptest! {
    #![proptest_config(Config::with_cases(48))]

    /// Scores from the replayed chain equal the naive model, at the end and at every prefix,
    /// and replaying (again, or after reopening) gives exactly the same scores.
    #[test]
    fn prop_replayed_scores_match_the_naive_model(
        ops in prop::collection::vec(op(), 1..40),
        kinds in prop::collection::vec(station_kind(), STATIONS),
        chunks in prop::collection::vec(1usize..8, 1..6),
    ) {
        let planned = plan(&ops, &kinds);
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = new_ledger(dir.path());
        let effects = apply_all(&mut ledger, &planned, &chunks);
        let end = ledger.head().next_seq;

        // (a) the final scores
        let scores = scores_upto(&ledger, end);
        prop_assert_eq!(figures(&scores), naive(&effects));
        for s in &scores {
            prop_assert!(kaohe::internals::base::decimal::is_canonical(&s.total), "total {} is canonical", s.total);
        }

        // (b) determinism: the same bytes of output, again and after reopening
        let again = scores_upto(&ledger, end);
        prop_assert_eq!(format!("{scores:?}"), format!("{again:?}"));
        let mut all = Scores::new(ledger.rubric());
        ledger.replay_all(|e| { all.apply(e.body).expect("scores"); Ok(true) }).unwrap();
        prop_assert_eq!(format!("{scores:?}"), format!("{:?}", all.finish()));
        let before_reopen = format!("{scores:?}");
        drop(all);
        drop(scores);
        drop(ledger);
        let ledger = open_ledger(&dir.path().join("ledger"));
        prop_assert_eq!(before_reopen, format!("{:?}", scores_upto(&ledger, end)));

        // (d) explain at the head ranks from the store's rank index (stations counted per
        // total): the model's rank and station count, for every station.
        let model = naive(&effects);
        let head = ledger.view(&Default::default()).unwrap();
        for (code, f) in &model {
            let x = kaohe::ops::explain::explain(&ledger, &head, code, None).unwrap();
            prop_assert_eq!((x.score.rank, x.stations), (f.rank, model.len()), "{}", code);
        }

        // (c) every prefix: events [0, n) are the genesis and the first n − 1 effects
        for n in 0..=end {
            let model = naive(&effects[..n.saturating_sub(1) as usize]);
            prop_assert_eq!(figures(&scores_upto(&ledger, n)), model, "prefix {}", n);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Single-byte changes to an export.

/// A small ledger's export (every event kind, unicode, a range note with a newline), made once.
fn small_export() -> &'static Vec<String> {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let ops: Vec<Op> = (0..24u32)
            .map(|i| match i % 6 {
                0 => Op::Metric {
                    station: (i as usize / 6) % STATIONS,
                    a: i * 7919,
                    id: i % 12 == 0,
                },
                _ => Op::Record {
                    station: i as usize % STATIONS,
                    clause: (i as usize * 5) % CLAUSES.len(),
                    a: i * 104_729,
                    b: i * 31,
                    id: i % 2 == 0,
                    give_points: i % 3 == 0,
                },
            })
            .collect();
        let kinds = [
            StationKind::Town,
            StationKind::Subdistrict,
            StationKind::Town,
            StationKind::Subdistrict,
        ];
        let planned = plan(&ops, &kinds);
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = new_ledger(dir.path());
        apply_all(&mut ledger, &planned, &[5]);
        let mut lines = Vec::new();
        ledger
            .replay_all(|e| {
                lines.push(export::line(e.body, e.bytes, e.prev_hash, e.hash));
                Ok(true)
            })
            .unwrap();
        assert!(lines.len() > 20);
        lines
    })
}

fn verify_bytes(bytes: &[u8]) -> Result<export::ExportReport, export::ExportError> {
    export::verify(std::io::Cursor::new(bytes), None)
}

/// The byte ranges of the hex values of `prev_hash`, `hash` and `body` in a line: the only
/// places where a change of letter case (a–f ↔ A–F) keeps the meaning (hex is case-blind).
fn case_blind_ranges(line: &str) -> Vec<std::ops::Range<usize>> {
    ["\"prev_hash\":\"", "\"hash\":\"", "\"body\":\""]
        .iter()
        .map(|key| {
            let start = line.find(key).expect("key") + key.len();
            let end = start + line[start..].find('"').expect("end quote");
            start..end
        })
        .collect()
}

#[test]
fn untouched_small_export_verifies() {
    let mut text = small_export().join("\n");
    text.push('\n');
    let report = verify_bytes(text.as_bytes()).expect("reads");
    assert_eq!(report.problem, None);
    assert_eq!(report.events, small_export().len() as u64);
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    /// Any single byte of any line changed (its newline included, except the file's last):
    /// `export::verify` names that line's seq. A change of case of a hex digit in the chain
    /// fields is caught too (it means the same, but a line must be the canonical line).
    #[test]
    fn prop_any_single_byte_change_to_an_export_line_is_caught(
        line in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        in_body in any::<bool>(),
        byte in any::<u8>(),
    ) {
        let lines = small_export();
        let i = line.index(lines.len());
        let target = &lines[i];
        let at = if in_body {
            // Aim at the body hex half of the time: it is where the stored bytes are.
            let r = case_blind_ranges(target).remove(2);
            r.start + pos.index(r.len())
        } else {
            let with_newline = if i + 1 < lines.len() { target.len() + 1 } else { target.len() };
            pos.index(with_newline)
        };
        let mut text = lines.join("\n").into_bytes();
        text.push(b'\n');
        let offset: usize = lines[..i].iter().map(|l| l.len() + 1).sum::<usize>() + at;
        let old = text[offset];
        prop_assume!(byte != old);
        text[offset] = byte;

        // Bytes that are not UTF-8 are a finding like any other, not an unreadable export.
        let report = verify_bytes(&text).expect("an export is read, whatever its bytes");
        let p = report.problem.expect("the change is caught");
        prop_assert_eq!(p.seq, i as u64, "{}", p.message);
        prop_assert_eq!(p.line, i + 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 7, through the command line: single-byte changes to an export file, and deterministic
// replay.

/// Runs `kaohe --db <ledger> args…` at the test clock, retrying while a ledger this process
/// just closed is still locked by sled's background threads.
pub(crate) fn cli(db: &Path, args: &[&str]) -> crate::harness::Output {
    let l = crate::harness::TestLedger {
        dir: tempfile::tempdir().unwrap(),
        db: db.to_path_buf(),
        now: crate::harness::TEST_NOW.to_string(),
    };
    for _ in 0..400 {
        let out = l.run(args);
        if !(out.code == 3 && out.stderr.contains("in use")) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} stays in use", db.display())
}

fn cli_ok(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert_eq!(out.code, 0, "kaohe {args:?} failed: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out.stdout
}

/// A small random ledger's export as `kaohe export` writes it.
fn random_export(ops: &[Op], kinds: &[StationKind]) -> String {
    let planned = plan(ops, kinds);
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = new_ledger(dir.path());
    apply_all(&mut ledger, &planned, &[4]);
    drop(ledger);
    cli_ok(&dir.path().join("ledger"), &["export"])
}

proptest! {
    #![proptest_config(Config::with_cases(40))]

    /// Any single byte of an export file replaced by any other (newlines, the last one
    /// included; a change of letter case included, even in hex): `kaohe verify --export`
    /// fails (exit 1 or 2), never passes. The untouched file passes.
    #[test]
    fn prop_cli_verify_export_detects_any_single_byte_change(
        ops in prop::collection::vec(op(), 1..10),
        kinds in prop::collection::vec(station_kind(), STATIONS),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        flip_case in any::<bool>(),
    ) {
        let export = random_export(&ops, &kinds);
        let files = tempfile::tempdir().unwrap();
        let nowhere = files.path().join("no-ledger");
        let good = files.path().join("good.jsonl");
        std::fs::write(&good, &export).unwrap();
        let out = cli(&nowhere, &["verify", "--export", good.to_str().unwrap()]);
        prop_assert_eq!(out.code, 0, "the untouched export fails: {}", out.stderr);

        let mut bytes = export.into_bytes();
        let at = pos.index(bytes.len());
        let old = bytes[at];
        let new = if flip_case && old.is_ascii_alphabetic() { old ^ 0x20 } else { byte };
        prop_assume!(new != old);
        bytes[at] = new;
        let bad = files.path().join("bad.jsonl");
        std::fs::write(&bad, &bytes).unwrap();
        let out = cli(&nowhere, &["verify", "--export", bad.to_str().unwrap()]);
        prop_assert!(
            out.code == 1 || out.code == 2,
            "byte {} changed from {:?} to {:?}: exit {}, {}{}",
            at, old as char, new as char, out.code, out.stdout, out.stderr
        );
        prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

/// The fixture's import lines: its stations first, then a subsequence of the rest, where a
/// reversal goes with the record it reverses (such a subsequence of a valid import in its order
/// is valid under the format-1 rubric: ids stay unique, counts only fall).
fn fixture_import(keep: &[bool]) -> String {
    let text =
        std::fs::read_to_string(crate::harness::fixture_path("wujin-2018.jsonl")).expect("fixture");
    let mut out = String::new();
    let mut others = 0;
    let mut dropped = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a fixture line");
        if v["op"] == "station" {
            out.push_str(line);
            out.push('\n');
        } else {
            let target_dropped = v["target"].as_str().is_some_and(|t| dropped.contains(t));
            if keep[others % keep.len()] && !target_dropped {
                out.push_str(line);
                out.push('\n');
            } else if let Some(id) = v["id"].as_str() {
                dropped.insert(id.to_string());
            }
            others += 1;
        }
    }
    out
}

/// Everything a ledger shows that replay computes: the export, `score --json` (twice: scoring
/// the same ledger again gives the same bytes), and `explain --json` of some stations.
fn replayed_views(db: &Path, import: &Path, stations: &[&str]) -> Vec<(String, String)> {
    let out = cli(db, &["import", import.to_str().unwrap()]);
    assert_eq!(out.code, 0, "import failed: {}", out.stderr);
    let mut views = vec![("export".to_string(), cli_ok(db, &["export"]))];
    let score = cli_ok(db, &["score", "--json"]);
    let again = cli_ok(db, &["score", "--json"]);
    assert_eq!(score, again, "scoring the same ledger twice differs");
    views.push(("score --json".into(), score));
    for s in stations {
        views.push((
            format!("explain --json --station {s}"),
            cli_ok(db, &["explain", "--json", "--station", s]),
        ));
    }
    views
}

proptest! {
    #![proptest_config(Config::with_cases(6))]

    /// Replay is deterministic: the same import applied to two fresh ledgers gives byte-identical
    /// exports, `score --json` and `explain --json`. The two ledgers are made one after the
    /// other at the same path, clock and process, so they have the same ledger id (a ledger id
    /// is derived from those) and so the same chain of hashes.
    #[test]
    fn prop_cli_replay_is_deterministic(
        keep in prop::collection::vec(any::<bool>(), 1..40),
        picks in prop::collection::vec(0usize..15, 1..4),
    ) {
        let import_text = fixture_import(&keep);
        let dir = tempfile::tempdir().unwrap();
        let import = dir.path().join("import.jsonl");
        std::fs::write(&import, &import_text).unwrap();
        let stations: Vec<String> = picks.iter().map(|i| format!("WJ{:02}", i + 1)).collect();
        let stations: Vec<&str> = stations.iter().map(String::as_str).collect();
        let db = dir.path().join("ledger");
        let mut runs = Vec::new();
        for _ in 0..2 {
            if db.exists() {
                std::fs::remove_dir_all(&db).unwrap();
            }
            Ledger::init(&db, rubric_2018(), now()).expect("init");
            runs.push(replayed_views(&db, &import, &stations));
        }
        prop_assert_eq!(runs[0].len(), runs[1].len());
        for ((what, a), (_, b)) in runs[0].iter().zip(&runs[1]) {
            prop_assert!(a == b, "{} differs between two replays of the same import", what);
        }
    }
}
