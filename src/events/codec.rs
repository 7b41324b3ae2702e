//! The one bincode configuration, and the only place that knows bincode.
//!
//! `encode` asserts the event is canonical (decimals normalised) before writing bytes;
//! `decode` refuses trailing bytes, a recorded time outside the range a body may hold, and any
//! body that is not byte for byte the encoding of the event it decodes to, so one event has
//! exactly one body (`schema/EVENTS.md`, "Canonical bodies").

use crate::base::limits::{MAX_EVENT_BYTES, RECORDED_US_END, RECORDED_US_START};
use crate::events::event::Body;

mod fast;

/// The fixed configuration: little endian, variable-length integers, bounded allocation.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_EVENT_BYTES>()
}

/// Why bytes are not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("body does not decode: {0}")]
    Malformed(String),
    #[error("body has {trailing} trailing bytes after the event")]
    TrailingBytes { trailing: usize },
    #[error("body is not the canonical encoding of the event it decodes to: it differs from that encoding at byte offset {offset} (an integer, length or variant index written in more bytes than it needs)")]
    NotCanonical { offset: usize },
    #[error("body's recorded_at_us {0} is outside 0000-01-01T00:00:00Z .. 9999-01-01T00:00:00Z")]
    TimeOutOfRange(i64),
    #[error("event does not encode: {0}")]
    Encode(String),
}

/// Encodes an event body. The event must be canonical (an invariant of the write path).
/// The encoding of an event kind alone: what its actor signs (`sign::message`).
pub fn encode_kind(kind: &crate::events::event::EventKind) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(kind, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

pub fn encode(body: &Body) -> Result<Vec<u8>, CodecError> {
    assert!(
        body.kind().decimals_canonical(),
        "write path must normalise decimals before encoding"
    );
    let bytes = bincode::serde::encode_to_vec(body, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(CodecError::Encode(format!(
            "{} bytes exceeds the limit of {MAX_EVENT_BYTES}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Decodes an event body, consuming every byte; the body must be the event's one encoding.
/// A canonical body is read by hand in one pass ([`fast`]); anything else goes through the
/// full decoder below, which names what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Body, CodecError> {
    match fast::body(bytes) {
        Some(body) => in_time_range(body),
        None => decode_in_full(bytes),
    }
}

/// A decoded body whose recorded time lies in the range a body may hold.
fn in_time_range(body: Body) -> Result<Body, CodecError> {
    let at = body.v1().recorded_at_us;
    if !(RECORDED_US_START..RECORDED_US_END).contains(&at) {
        return Err(CodecError::TimeOutOfRange(at));
    }
    Ok(body)
}

/// [`decode`] through bincode: decoded, then encoded again against the stored bytes. The
/// reference the fast path is checked against (here and by the `event_decode` fuzz target).
pub fn decode_in_full(bytes: &[u8]) -> Result<Body, CodecError> {
    let (body, used): (Body, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Malformed(describe(&e)))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            trailing: bytes.len() - used,
        });
    }
    let body = in_time_range(body)?;
    // One event, one body. Decimal and date text are checked strictly as they decode; the
    // event is then encoded again into a writer that compares each byte with the stored ones
    // (nothing is allocated), which finds every other spelling (a varint written in more
    // bytes than it needs). The hash is still over the stored bytes: this only checks them.
    let mut same = Compare {
        stored: bytes,
        at: 0,
        first_difference: None,
    };
    bincode::serde::encode_into_writer(&body, &mut same, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    match same.first_difference {
        None if same.at == bytes.len() => Ok(body),
        difference => Err(CodecError::NotCanonical {
            offset: difference.unwrap_or(same.at),
        }),
    }
}

/// A bincode writer that compares what is written with stored bytes.
struct Compare<'a> {
    stored: &'a [u8],
    /// Bytes written so far.
    at: usize,
    /// The offset of the first byte that differs from the stored one (or lies past them).
    first_difference: Option<usize>,
}

impl bincode::enc::write::Writer for Compare<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        if self.first_difference.is_none() {
            let stored = self.stored.get(self.at..).unwrap_or_default();
            // The bytes are nearly always the same: compare them whole, then byte by byte
            // only to find where they differ.
            if !stored.starts_with(bytes) {
                let same = bytes.iter().zip(stored).take_while(|(a, b)| a == b).count();
                self.first_difference = Some(self.at + same);
            }
        }
        self.at += bytes.len();
        Ok(())
    }
}

/// Why bincode refused bytes, in the words of `schema/EVENTS.md`.
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::{DecodeError as D, IntegerType as I};
    match e {
        D::OtherString(message) => message.clone(),
        D::InvalidIntegerType { expected, found } => {
            let marker = match found {
                I::U16 => "251 (u16)",
                I::U32 => "252 (u32)",
                I::U64 => "253 (u64)",
                I::U128 => "254 (u128)",
                _ => "255 (reserved)",
            };
            let field = format!("{expected:?}").to_lowercase();
            format!("a {field} field carries the varint marker {marker}, wider than a {field}")
        }
        D::UnexpectedEnd { .. } => "the bytes end before the event does".into(),
        D::Utf8 { .. } => "a string is not UTF-8".into(),
        D::LimitExceeded => {
            format!("a length claims more than the {MAX_EVENT_BYTES} bytes a body may hold")
        }
        D::UnexpectedVariant {
            type_name, found, ..
        } => {
            format!("{found} is not a tag of {type_name}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::limits::{MAX_DECIMAL_PLACES, MAX_STATIONS, MAX_STATION_CODE_CHARS};
    use crate::events::event::{EventKind, EventV1, FinalScore, PeriodClosed, RankEntry, Ranking};
    use rust_decimal::Decimal;

    /// Regression: 1,000,000 stations made the closing event too big to encode, so the year
    /// could never be closed. At [`MAX_STATIONS`], with every field as long as the write path
    /// lets it be (the longest codes, totals and figures of the most places, ranks needing
    /// five bytes) and every station tied in a rank clause (all of them earn its points), the
    /// closing event encodes and decodes.
    #[test]
    fn a_closing_event_at_max_stations_encodes() {
        // -999999xxx.xxxxx1: the most digits a figure may have, and canonical.
        let long =
            |n: u32| Decimal::new(-999_999_000_000_001 - 10 * i64::from(n), MAX_DECIMAL_PLACES);
        let code = |n: u32| format!("{n:0>width$}", width = MAX_STATION_CODE_CHARS);
        let scores = (0..MAX_STATIONS)
            .map(|n| FinalScore {
                station: code(n),
                total: long(n),
                rank: MAX_STATIONS - n,
            })
            .collect();
        let entries = (0..MAX_STATIONS)
            .map(|n| RankEntry {
                station: code(n),
                value: long(n),
                rank: MAX_STATIONS,
                points: long(n),
            })
            .collect();
        let closed = PeriodClosed {
            head: [0xff; 32],
            scores,
            rankings: vec![Ranking {
                clause: "B.6.a".into(),
                entries,
                qualified: MAX_STATIONS,
            }],
            accepted_gaps: Vec::new(),
            reason: None,
        };
        let body = Body::V1(EventV1 {
            seq: u64::MAX,
            recorded_at_us: RECORDED_US_END - 1,
            kind: EventKind::PeriodClosed(closed),
        });
        let bytes = encode(&body).expect("the closing event encodes");
        assert!(bytes.len() <= MAX_EVENT_BYTES, "{}", bytes.len());
        assert_eq!(decode(&bytes).expect("and decodes"), body);
    }
}

/// The fast path ([`fast`]) against the full decoder, on bodies of every kind and on their
/// bytes changed at random: whenever either accepts bytes short enough for the fast path, both
/// give the same event, and whenever the fast path accepts, so does the full decoder.
#[cfg(test)]
mod fast_tests {
    use super::*;
    use crate::events::event::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9 .:-]{0,12}", "\\PC{0,6}"]
    }

    fn figure() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..8).prop_map(|(m, scale)| Decimal::new(m, scale).normalize())
    }

    fn date() -> impl Strategy<Value = jiff::civil::Date> {
        (1i16..=9999, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| jiff::civil::date(y, m, d))
    }

    /// Integers of every varint width.
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

    fn strings() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(text(), 0..3)
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

    fn inputs() -> impl Strategy<Value = Inputs> {
        (
            proptest::option::of(figure()),
            proptest::option::of(int32()),
            proptest::option::of(int32()),
            proptest::option::of(figure()),
            proptest::option::of(text()),
        )
            .prop_map(|(value, count, done, points, note)| Inputs {
                value,
                count,
                done,
                points,
                note,
            })
    }

    fn closed() -> impl Strategy<Value = PeriodClosed> {
        let score = (text(), figure(), int32()).prop_map(|(station, total, rank)| FinalScore {
            station,
            total,
            rank,
        });
        let entry =
            (text(), figure(), int32(), figure()).prop_map(|(station, value, rank, points)| {
                RankEntry {
                    station,
                    value,
                    rank,
                    points,
                }
            });
        let ranking = (text(), proptest::collection::vec(entry, 0..3), int32()).prop_map(
            |(clause, entries, qualified)| Ranking {
                clause,
                entries,
                qualified,
            },
        );
        let gap = (text(), text(), text(), figure(), figure()).prop_map(
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
            proptest::collection::vec(score, 0..3),
            proptest::collection::vec(ranking, 0..2),
            proptest::collection::vec(gap, 0..2),
            proptest::option::of(text()),
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

    fn kind() -> impl Strategy<Value = EventKind> {
        let outcome = prop_oneof![
            Just(AppealOutcome::Upheld),
            figure().prop_map(AppealOutcome::Partial),
            Just(AppealOutcome::Rejected),
        ];
        prop_oneof![
            created().prop_map(EventKind::LedgerCreated),
            (text(), text(), any::<bool>()).prop_map(|(code, name, town)| {
                EventKind::StationRegistered(StationRegistered {
                    code,
                    name,
                    kind: if town {
                        StationKind::Town
                    } else {
                        StationKind::Subdistrict
                    },
                })
            }),
            (
                (text(), text(), text()),
                inputs(),
                figure(),
                date(),
                text(),
                strings()
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
                    }
                ),
            (text(), text(), text(), figure(), date(), text(), strings()).prop_map(
                |(id, station, metric, value, occurred, by, evidence)| {
                    EventKind::MetricReported(MetricReported {
                        id,
                        station,
                        metric,
                        value,
                        occurred,
                        by,
                        evidence,
                    })
                }
            ),
            (text(), int(), text(), text(), strings()).prop_map(
                |(id, against, station, grounds, evidence)| {
                    EventKind::AppealFiled(AppealFiled {
                        id,
                        against,
                        station,
                        grounds,
                        evidence,
                    })
                }
            ),
            (
                (text(), int(), int(), text()),
                outcome,
                text(),
                text(),
                strings()
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
                    }
                ),
            (text(), int(), text(), text(), text(), strings()).prop_map(
                |(id, target, station, by, reason, evidence)| {
                    EventKind::RecordReversed(RecordReversed {
                        id,
                        target,
                        station,
                        by,
                        reason,
                        evidence,
                    })
                }
            ),
            closed().prop_map(EventKind::PeriodClosed),
            (actor(), any::<[u8; 32]>()).prop_map(|(actor, public_key)| {
                EventKind::KeyRegistered(KeyRegistered { actor, public_key })
            }),
            (any::<[u8; 32]>(), text()).prop_map(|(public_key, reason)| {
                EventKind::KeyRevoked(KeyRevoked { public_key, reason })
            }),
            Just(EventKind::SignaturesRequired),
            (actor(), any::<[u8; 32]>()).prop_map(|(actor, public_key)| {
                EventKind::RootKey(KeyRegistered { actor, public_key })
            }),
            (
                created(),
                any::<[u8; 16]>(),
                date(),
                date(),
                int(),
                any::<[u8; 32]>()
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
                    }
                ),
        ]
    }

    fn body() -> impl Strategy<Value = Body> {
        let event = (int(), any::<i64>(), kind()).prop_map(|(seq, recorded_at_us, kind)| EventV1 {
            seq,
            recorded_at_us,
            kind,
        });
        let signature =
            any::<[[u8; 32]; 3]>().prop_map(|[public_key, r, s]| Signature { public_key, r, s });
        (0u8..3, event, signature, int(), any::<[u8; 32]>()).prop_map(
            |(version, event, signature, seq, hash)| match version {
                0 => Body::V1(event),
                1 => Body::V2(Signed { event, signature }),
                _ => Body::V3(SignedAfter {
                    event,
                    after: After { seq, hash },
                    signature,
                }),
            },
        )
    }

    /// The bytes of a body, encoded without the write path's canonical-decimal assertion (the
    /// strategies make canonical figures; a time out of range is kept, to be refused).
    fn bytes_of(body: &Body) -> Vec<u8> {
        bincode::serde::encode_to_vec(body, config()).expect("a body encodes")
    }

    /// Both decoders on `bytes`: they must agree wherever the fast path reads.
    fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
        let full = decode_in_full(bytes);
        match fast::body(bytes) {
            Some(body) => prop_assert_eq!(in_time_range(body), full),
            None => prop_assert!(
                full.is_err(),
                "the fast path refused what decodes: {bytes:?}"
            ),
        }
        prop_assert_eq!(decode(bytes), decode_in_full(bytes));
        Ok(())
    }

    /// A change to stored bytes: a byte replaced, inserted or removed, or the end cut.
    #[derive(Debug, Clone)]
    enum Change {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Cut(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        let at = any::<usize>();
        let byte = prop_oneof![any::<u8>(), 249u8..=255, 0u8..=2];
        prop_oneof![
            (at, byte.clone()).prop_map(|(i, b)| Change::Set(i, b)),
            (at, byte).prop_map(|(i, b)| Change::Insert(i, b)),
            at.prop_map(Change::Remove),
            at.prop_map(Change::Cut),
        ]
    }

    fn changed(mut bytes: Vec<u8>, change: &Change) -> Vec<u8> {
        let n = bytes.len().max(1);
        match *change {
            Change::Set(i, b) => {
                if let Some(x) = bytes.get_mut(i % n) {
                    *x = b;
                }
            }
            Change::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Change::Remove(i) => {
                if !bytes.is_empty() {
                    bytes.remove(i % n);
                }
            }
            Change::Cut(i) => bytes.truncate(i % n),
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_fast_path_reads_every_body_as_the_full_decoder_does(body in body()) {
            let bytes = bytes_of(&body);
            prop_assert!(fast::body(&bytes).is_some() || decode_in_full(&bytes).is_err());
            agree(&bytes)?;
        }

        #[test]
        fn the_fast_path_accepts_no_changed_bytes_the_full_decoder_refuses(
            body in body(),
            changes in proptest::collection::vec(change(), 1..4),
        ) {
            let bytes = changes.iter().fold(bytes_of(&body), changed);
            agree(&bytes)?;
        }
    }

    /// Regression guard for the varint rule: every integer written in more bytes than it needs
    /// is left to the full decoder, which names it as not canonical.
    #[test]
    fn a_long_varint_is_not_read_by_the_fast_path() {
        let body = Body::V1(EventV1 {
            seq: 5,
            recorded_at_us: 0,
            kind: EventKind::SignaturesRequired,
        });
        let bytes = bytes_of(&body);
        assert_eq!(bytes, [0, 5, 0, 10]);
        for long in [
            vec![0, 251, 5, 0, 0, 10],
            vec![0, 252, 5, 0, 0, 0, 0, 10],
            vec![0, 253, 5, 0, 0, 0, 0, 0, 0, 0, 0, 10],
            vec![251, 0, 0, 5, 0, 10],
        ] {
            assert_eq!(fast::body(&long), None, "{long:?}");
            assert!(
                matches!(decode(&long), Err(CodecError::NotCanonical { .. })),
                "{long:?}"
            );
        }
    }
}
