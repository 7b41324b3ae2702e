//! The codec's fast path: an event body read by hand, in one pass, in the stored format
//! (`schema/EVENTS.md`: bincode's standard configuration through serde), accepting only its
//! canonical spelling.
//!
//! It answers `Some` only for bytes the full decoder ([`super::decode`]) accepts, with the
//! same event; for anything else it answers `None` and the full decoder runs, so it gives every
//! error, in its own words. Soundness is all that matters here: every check the full decoder
//! makes is made, or the bytes are left to it.
//! - Integers, lengths and variant indices are varints written in the fewest bytes: a byte
//!   below 251, or a marker (251: u16, 252: u32, 253: u64) and a value that needs that width.
//!   A longer spelling is not canonical, so it is left to the full decoder, which names it.
//! - Options and booleans are one byte, 0 or 1.
//! - Text is UTF-8; figures and dates are their canonical text, parsed by the same functions.
//! - The full decoder bounds what it reads by [`MAX_EVENT_BYTES`] of claimed memory (eight per
//!   integer read, however short its varint). A body of at most an eighth of that cannot reach
//!   the bound, so longer bodies are left to the full decoder.

use crate::base::limits::MAX_EVENT_BYTES;
use crate::events::event::*;

/// The longest body read here: no body this long claims more than [`MAX_EVENT_BYTES`].
const MAX_FAST_BYTES: usize = MAX_EVENT_BYTES / 8;

/// Elements of a list reserved before they are read.
const MAX_RESERVED: usize = 1024;

/// The varint markers of the stored format.
const U16_MARKER: u8 = 251;
const U32_MARKER: u8 = 252;
const U64_MARKER: u8 = 253;

/// Decodes `bytes` as one whole canonical body; `None` when they are anything else (or too
/// long to be read here).
pub(super) fn body(bytes: &[u8]) -> Option<Body> {
    if bytes.len() > MAX_FAST_BYTES {
        return None;
    }
    let mut r = Reader { bytes, at: 0 };
    let body = match r.variant()? {
        0 => Body::V1(r.event()?),
        1 => Body::V2(Signed {
            event: r.event()?,
            signature: r.signature()?,
        }),
        2 => Body::V3(SignedAfter {
            event: r.event()?,
            after: After {
                seq: r.u64()?,
                hash: r.array()?,
            },
            signature: r.signature()?,
        }),
        _ => return None,
    };
    (r.at == bytes.len()).then_some(body)
}

/// A cursor over the stored bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A varint of at most `widest` marker, in its fewest bytes.
    fn varint(&mut self, widest: u8) -> Option<u64> {
        let first = self.byte()?;
        if first < U16_MARKER {
            return Some(u64::from(first));
        }
        if first > widest {
            return None;
        }
        let (value, least) = match first {
            U16_MARKER => (u64::from(u16::from_le_bytes(self.array()?)), 251),
            U32_MARKER => (u64::from(u32::from_le_bytes(self.array()?)), 1 << 16),
            _ => (u64::from_le_bytes(self.array()?), 1 << 32),
        };
        (value >= least).then_some(value)
    }

    fn u64(&mut self) -> Option<u64> {
        self.varint(U64_MARKER)
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint(U32_MARKER)?).ok()
    }

    /// A signed integer: zigzag, then a varint.
    fn i64(&mut self) -> Option<i64> {
        let z = self.u64()?;
        // Invariant: z >> 1 < 2^63, so it fits an i64 and its complement is negative.
        let half = i64::try_from(z >> 1).ok()?;
        Some(if z & 1 == 1 { !half } else { half })
    }

    /// An enum's variant index.
    fn variant(&mut self) -> Option<u32> {
        self.u32()
    }

    /// Whether an option holds a value.
    fn some(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.some()? {
            true => read(self).map(Some),
            false => Some(None),
        }
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.str().map(String::from)
    }

    fn vec<T>(&mut self, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.len()?;
        // Every element takes at least one byte, so a count beyond the bytes left is damage;
        // and an element in memory is larger than its bytes, so no more than a few are
        // reserved ahead (a hostile count must not reserve memory).
        let mut out = Vec::with_capacity(n.min(self.bytes.len() - self.at).min(MAX_RESERVED));
        for _ in 0..n {
            out.push(read(self)?);
        }
        Some(out)
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        self.vec(Self::string)
    }

    fn decimal(&mut self) -> Option<rust_decimal::Decimal> {
        crate::base::decimal::parse_canonical(self.str()?)
    }

    fn date(&mut self) -> Option<jiff::civil::Date> {
        date_text::parse_date(self.str()?)
    }

    fn signature(&mut self) -> Option<Signature> {
        Some(Signature {
            public_key: self.array()?,
            r: self.array()?,
            s: self.array()?,
        })
    }

    fn event(&mut self) -> Option<EventV1> {
        Some(EventV1 {
            seq: self.u64()?,
            recorded_at_us: self.i64()?,
            kind: self.kind()?,
        })
    }

    /// The variants in [`EventKind`]'s order: the index is the position.
    fn kind(&mut self) -> Option<EventKind> {
        Some(match self.variant()? {
            0 => EventKind::LedgerCreated(self.created()?),
            1 => EventKind::StationRegistered(StationRegistered {
                code: self.string()?,
                name: self.string()?,
                kind: match self.variant()? {
                    0 => StationKind::Town,
                    1 => StationKind::Subdistrict,
                    _ => return None,
                },
            }),
            2 => EventKind::PointsRecorded(PointsRecorded {
                id: self.string()?,
                station: self.string()?,
                clause: self.string()?,
                inputs: Inputs {
                    value: self.option(Self::decimal)?,
                    count: self.option(Self::u32)?,
                    done: self.option(Self::u32)?,
                    points: self.option(Self::decimal)?,
                    note: self.option(Self::string)?,
                },
                computed_points: self.decimal()?,
                occurred: self.date()?,
                by: self.string()?,
                evidence: self.strings()?,
            }),
            3 => EventKind::MetricReported(MetricReported {
                id: self.string()?,
                station: self.string()?,
                metric: self.string()?,
                value: self.decimal()?,
                occurred: self.date()?,
                by: self.string()?,
                evidence: self.strings()?,
            }),
            4 => EventKind::AppealFiled(AppealFiled {
                id: self.string()?,
                against: self.u64()?,
                station: self.string()?,
                grounds: self.string()?,
                evidence: self.strings()?,
            }),
            5 => EventKind::AppealDecided(AppealDecided {
                appeal: self.string()?,
                appeal_seq: self.u64()?,
                against: self.u64()?,
                station: self.string()?,
                outcome: match self.variant()? {
                    0 => AppealOutcome::Upheld,
                    1 => AppealOutcome::Partial(self.decimal()?),
                    2 => AppealOutcome::Rejected,
                    _ => return None,
                },
                by: self.string()?,
                reason: self.string()?,
                evidence: self.strings()?,
            }),
            6 => EventKind::RecordReversed(RecordReversed {
                id: self.string()?,
                target: self.u64()?,
                station: self.string()?,
                by: self.string()?,
                reason: self.string()?,
                evidence: self.strings()?,
            }),
            7 => EventKind::PeriodClosed(self.closed()?),
            8 => EventKind::KeyRegistered(self.key()?),
            9 => EventKind::KeyRevoked(KeyRevoked {
                public_key: self.array()?,
                reason: self.string()?,
            }),
            10 => EventKind::SignaturesRequired,
            11 => EventKind::RootKey(self.key()?),
            12 => EventKind::LedgerFollows(LedgerFollows {
                created: self.created()?,
                previous: Sealed {
                    ledger_id: self.array()?,
                    period_start: self.date()?,
                    period_end: self.date()?,
                    seq: self.u64()?,
                    hash: self.array()?,
                },
            }),
            _ => return None,
        })
    }

    fn created(&mut self) -> Option<LedgerCreated> {
        Some(LedgerCreated {
            ledger_id: self.array()?,
            rubric_toml: self.string()?,
            rubric_hash: self.array()?,
            period_start: self.date()?,
            period_end: self.date()?,
        })
    }

    fn key(&mut self) -> Option<KeyRegistered> {
        Some(KeyRegistered {
            actor: self.actor()?,
            public_key: self.array()?,
        })
    }

    /// The variants in [`Actor`]'s order.
    fn actor(&mut self) -> Option<Actor> {
        let kind = self.variant()?;
        let name = self.string()?;
        Some(match kind {
            0 => Actor::Department(name),
            1 => Actor::Station(name),
            2 => Actor::Bureau(name),
            3 => Actor::Witness(name),
            4 => Actor::Auditor(name),
            _ => return None,
        })
    }

    fn closed(&mut self) -> Option<PeriodClosed> {
        Some(PeriodClosed {
            head: self.array()?,
            scores: self.vec(|r| {
                Some(FinalScore {
                    station: r.string()?,
                    total: r.decimal()?,
                    rank: r.u32()?,
                })
            })?,
            rankings: self.vec(|r| {
                Some(Ranking {
                    clause: r.string()?,
                    entries: r.vec(|r| {
                        Some(RankEntry {
                            station: r.string()?,
                            value: r.decimal()?,
                            rank: r.u32()?,
                            points: r.decimal()?,
                        })
                    })?,
                    qualified: r.u32()?,
                })
            })?,
            accepted_gaps: self.vec(|r| {
                Some(Gap {
                    station: r.string()?,
                    clause: r.string()?,
                    metric: r.string()?,
                    value: r.decimal()?,
                    points: r.decimal()?,
                })
            })?,
            reason: self.option(Self::string)?,
        })
    }
}
