//! The one bincode configuration, and the only place that knows bincode.
//!
//! `encode` asserts the event is canonical (decimals normalised) before writing bytes;
//! `decode` refuses trailing bytes and non-canonical bodies, so one event has exactly one body.

use crate::base::limits::MAX_EVENT_BYTES;
use crate::events::event::Body;

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
    #[error("body is not in canonical form ({len} bytes where the event encodes in {canonical})")]
    NotCanonical { len: usize, canonical: usize },
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

/// Decodes an event body, consuming every byte.
pub fn decode(bytes: &[u8]) -> Result<Body, CodecError> {
    let (body, used): (Body, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            trailing: bytes.len() - used,
        });
    }
    // One event, one body. Decimal and date text are checked strictly as they decode; every
    // other non-canonical spelling (a varint written in more bytes than needed) makes the body
    // longer than the event's encoding, which a size-only encoding pass measures without
    // allocating.
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(&body, &mut size, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if size.bytes_written != bytes.len() {
        return Err(CodecError::NotCanonical {
            len: bytes.len(),
            canonical: size.bytes_written,
        });
    }
    Ok(body)
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
            recorded_at_us: i64::MAX,
            kind: EventKind::PeriodClosed(closed),
        });
        let bytes = encode(&body).expect("the closing event encodes");
        assert!(bytes.len() <= MAX_EVENT_BYTES, "{}", bytes.len());
        assert_eq!(decode(&bytes).expect("and decodes"), body);
    }
}
