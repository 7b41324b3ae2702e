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
    encode_value(kind)
}

/// Room a new encoding starts with: more than most events take, so that writing one
/// allocates once (bincode's own vector starts empty and doubles, five copies for a typical
/// event, which showed in an import's profile).
const ENCODE_START_BYTES: usize = 512;

/// A bincode writer that appends to a vector.
struct VecOut(Vec<u8>);

impl bincode::enc::write::Writer for VecOut {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

fn encode_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = VecOut(Vec::with_capacity(ENCODE_START_BYTES));
    bincode::serde::encode_into_writer(value, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out.0)
}

pub fn encode(body: &Body) -> Result<Vec<u8>, CodecError> {
    assert!(
        body.kind().decimals_canonical(),
        "write path must normalise decimals before encoding"
    );
    let bytes = encode_value(body)?;
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

/// The fast path alone: the body, or `None` where it leaves the bytes to the full decoder
/// (for the tests that hold the two to the same answers).
#[cfg(any(test, feature = "test-hooks"))]
pub fn decode_fast(bytes: &[u8]) -> Option<Body> {
    fast::body(bytes)
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

/// The fast path's varint rule (the property tests in `tests/it/props.rs` hold the fast path
/// to the full decoder on bodies of every kind).
#[cfg(test)]
mod fast_tests {
    use super::*;
    use crate::events::event::*;

    /// Regression guard for the varint rule: every integer written in more bytes than it needs
    /// is left to the full decoder, which names it as not canonical.
    #[test]
    fn a_long_varint_is_not_read_by_the_fast_path() {
        let body = Body::V1(EventV1 {
            seq: 5,
            recorded_at_us: 0,
            kind: EventKind::SignaturesRequired,
        });
        let bytes = encode(&body).expect("encodes");
        assert_eq!(bytes, [0, 5, 0, 10]);
        assert_eq!(decode_fast(&bytes), Some(body));
        for long in [
            vec![0, 251, 5, 0, 0, 10],
            vec![0, 252, 5, 0, 0, 0, 0, 10],
            vec![0, 253, 5, 0, 0, 0, 0, 0, 0, 0, 0, 10],
            vec![251, 0, 0, 5, 0, 10],
        ] {
            assert_eq!(decode_fast(&long), None, "{long:?}");
            assert!(
                matches!(decode(&long), Err(CodecError::NotCanonical { .. })),
                "{long:?}"
            );
        }
    }
}
