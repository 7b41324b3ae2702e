//! Golden bytes: the stored format, pinned.
//!
//! THE BYTES BELOW ARE THE FORMAT. Every ledger ever written hashes exactly these encodings, so
//! a change to any constant in this file is a change of the stored format: it breaks every
//! existing chain. If a test here fails, do not paste the new hex: add a new `Body` version (or
//! a new `EventKind` variant at the end) and keep `Body::V1` decoding these bytes forever
//! (schema/EVENTS.md, "Growth rule").
//!
//! The hex was produced once by `codec::encode` and then checked by hand against
//! schema/EVENTS.md; the two worked examples of that page are checked byte for byte as well.

use kaohe::internals::base::decimal;
use kaohe::internals::events::chain::{self, GENESIS_PREV};
use kaohe::internals::events::codec::{self, CodecError};
use kaohe::internals::events::event::*;
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().expect("a date")
}

/// 2019-01-10T08:00:00Z, the test clock, in microseconds.
const RECORDED_AT_US: i64 = 1_547_107_200_000_000;

/// A short rubric text: the genesis stores whatever text it is given, byte for byte.
const RUBRIC: &str = "[rubric]\nname = \"考核\"\n";

fn v1(seq: u64, kind: EventKind) -> Body {
    Body::V1(EventV1 {
        seq,
        recorded_at_us: RECORDED_AT_US,
        kind,
    })
}

fn genesis() -> Body {
    v1(
        0,
        EventKind::LedgerCreated(LedgerCreated {
            ledger_id: core::array::from_fn(|i| i as u8),
            rubric_toml: RUBRIC.to_string(),
            rubric_hash: chain::plain(RUBRIC.as_bytes()),
            period_start: date("2018-01-01"),
            period_end: date("2018-12-31"),
        }),
    )
}

fn station_town() -> Body {
    v1(
        1,
        EventKind::StationRegistered(StationRegistered {
            code: "WJ01".into(),
            name: "湖塘司法所".into(),
            kind: StationKind::Town,
        }),
    )
}

fn station_subdistrict() -> Body {
    v1(
        2,
        EventKind::StationRegistered(StationRegistered {
            code: "WJ12".into(),
            name: "南夏墅街道司法所".into(),
            kind: StationKind::Subdistrict,
        }),
    )
}

/// Every input set (not a combination the rubric accepts: the codec does not care).
fn points_all_inputs() -> Body {
    v1(
        3,
        EventKind::PointsRecorded(PointsRecorded {
            id: "D1".into(),
            station: "WJ01".into(),
            clause: "3.1.b".into(),
            inputs: Inputs {
                value: Some(dec("95.5")),
                count: Some(300),
                done: Some(2),
                points: Some(dec("-0.25")),
                note: Some("逾期入矫\n第二行".into()),
            },
            computed_points: dec("1.5"),
            occurred: date("2018-06-15"),
            by: "社矫科".into(),
            evidence: vec!["常武司基〔2018〕12号".into(), "E2".into()],
        }),
    )
}

/// No input set at all.
fn points_no_inputs() -> Body {
    v1(
        4,
        EventKind::PointsRecorded(PointsRecorded {
            id: "auto-4".into(),
            station: "WJ12".into(),
            clause: "1.3.a".into(),
            inputs: Inputs::default(),
            computed_points: dec("3"),
            occurred: date("2018-12-31"),
            by: "基层科".into(),
            evidence: vec!["E".into()],
        }),
    )
}

fn metric() -> Body {
    v1(
        5,
        EventKind::MetricReported(MetricReported {
            id: "M1".into(),
            station: "WJ01".into(),
            metric: "mediations_per_mediator".into(),
            value: dec("12.5"),
            occurred: date("2018-12-20"),
            by: "基层科".into(),
            evidence: vec!["年度统计表".into()],
        }),
    )
}

fn appeal() -> Body {
    v1(
        6,
        EventKind::AppealFiled(AppealFiled {
            id: "A1".into(),
            against: 3,
            station: "WJ01".into(),
            grounds: "经批准外出".into(),
            evidence: vec!["审批表".into()],
        }),
    )
}

fn decision_partial() -> Body {
    v1(
        7,
        EventKind::AppealDecided(AppealDecided {
            appeal: "A1".into(),
            appeal_seq: 6,
            against: 3,
            station: "WJ01".into(),
            outcome: AppealOutcome::Partial(dec("0.5")),
            by: "社矫科".into(),
            reason: "部分属实".into(),
            evidence: vec!["复核意见书".into()],
        }),
    )
}

fn reversal() -> Body {
    v1(
        8,
        EventKind::RecordReversed(RecordReversed {
            id: "R1".into(),
            target: 4,
            station: "WJ12".into(),
            by: "基层科".into(),
            reason: "录错站点".into(),
            evidence: Vec::new(),
        }),
    )
}

fn closed() -> Body {
    v1(
        9,
        EventKind::PeriodClosed(PeriodClosed {
            head: [7u8; 32],
            scores: vec![FinalScore {
                station: "WJ01".into(),
                total: dec("99.5"),
                rank: 1,
            }],
            rankings: vec![Ranking {
                clause: "B.6.a".into(),
                entries: vec![RankEntry {
                    station: "WJ01".into(),
                    value: dec("12.5"),
                    rank: 1,
                    points: dec("1"),
                }],
                qualified: 1,
            }],
            accepted_gaps: vec![Gap {
                station: "WJ12".into(),
                clause: "1.6.c".into(),
                metric: "m".into(),
                value: dec("95"),
                points: dec("3"),
            }],
            reason: Some("R".into()),
        }),
    )
}

fn key_registered() -> Body {
    v1(
        10,
        EventKind::KeyRegistered(KeyRegistered {
            actor: Actor::Department("基层科".into()),
            public_key: [0x11; 32],
        }),
    )
}

/// A signed event: the signature bytes here are placeholders (the encoding is what is pinned;
/// tests/it/keys.rs checks real signatures).
fn signed_metric() -> Body {
    let Body::V1(event) = v1(
        11,
        EventKind::MetricReported(MetricReported {
            id: "M2".into(),
            station: "WJ01".into(),
            metric: "m".into(),
            value: dec("1"),
            occurred: date("2018-12-20"),
            by: "基层科".into(),
            evidence: vec!["E".into()],
        }),
    ) else {
        unreachable!("v1 builds unsigned events")
    };
    Body::V2(Signed {
        event,
        signature: Signature {
            public_key: [0x11; 32],
            r: [0x22; 32],
            s: [0x33; 32],
        },
    })
}

fn key_revoked() -> Body {
    v1(
        12,
        EventKind::KeyRevoked(KeyRevoked {
            public_key: [0x11; 32],
            reason: "R".into(),
        }),
    )
}

fn signatures_required() -> Body {
    v1(13, EventKind::SignaturesRequired)
}

/// A version 3 signed event: signed after the head at seq 12 (placeholder signature bytes).
fn signed_after_station() -> Body {
    let Body::V1(event) = v1(
        14,
        EventKind::StationRegistered(StationRegistered {
            code: "WJ03".into(),
            name: "N".into(),
            kind: StationKind::Town,
        }),
    ) else {
        unreachable!("v1 builds unsigned events")
    };
    Body::V3(SignedAfter {
        event,
        after: After {
            seq: 12,
            hash: [0x44; 32],
        },
        signature: Signature {
            public_key: [0x55; 32],
            r: [0x66; 32],
            s: [0x77; 32],
        },
    })
}

/// The root key, as seq 1 of a ledger rooted in a bureau key names it (here at seq 15).
fn root_key() -> Body {
    v1(
        15,
        EventKind::RootKey(KeyRegistered {
            actor: Actor::Bureau("局".into()),
            public_key: [0x55; 32],
        }),
    )
}

/// The genesis of a year that follows another (`init --follows`), here at seq 16: the next
/// year's genesis fields, then the previous year's sealed head (its id, period, and closing
/// event's seq and hash; placeholder bytes).
fn ledger_follows() -> Body {
    v1(
        16,
        EventKind::LedgerFollows(LedgerFollows {
            created: LedgerCreated {
                ledger_id: core::array::from_fn(|i| 0x10 + i as u8),
                rubric_toml: RUBRIC.to_string(),
                rubric_hash: chain::plain(RUBRIC.as_bytes()),
                period_start: date("2019-01-01"),
                period_end: date("2019-12-31"),
            },
            previous: Sealed {
                ledger_id: core::array::from_fn(|i| i as u8),
                period_start: date("2018-01-01"),
                period_end: date("2018-12-31"),
                seq: 300,
                hash: [0x88; 32],
            },
        }),
    )
}

/// (name, event, its body as hex). The events form the chain 0..=16 in this order.
fn golden() -> Vec<(&'static str, Body, &'static str)> {
    vec![
        ("genesis", genesis(), GENESIS_HEX),
        ("station_town", station_town(), STATION_TOWN_HEX),
        (
            "station_subdistrict",
            station_subdistrict(),
            STATION_SUBDISTRICT_HEX,
        ),
        ("points_all_inputs", points_all_inputs(), POINTS_ALL_HEX),
        ("points_no_inputs", points_no_inputs(), POINTS_NONE_HEX),
        ("metric", metric(), METRIC_HEX),
        ("appeal", appeal(), APPEAL_HEX),
        ("decision_partial", decision_partial(), DECISION_PARTIAL_HEX),
        ("reversal", reversal(), REVERSAL_HEX),
        ("closed", closed(), CLOSED_HEX),
        ("key_registered", key_registered(), KEY_REGISTERED_HEX),
        ("signed_metric", signed_metric(), SIGNED_METRIC_HEX),
        ("key_revoked", key_revoked(), KEY_REVOKED_HEX),
        (
            "signatures_required",
            signatures_required(),
            SIGNATURES_REQUIRED_HEX,
        ),
        (
            "signed_after_station",
            signed_after_station(),
            SIGNED_AFTER_STATION_HEX,
        ),
        ("root_key", root_key(), ROOT_KEY_HEX),
        ("ledger_follows", ledger_follows(), LEDGER_FOLLOWS_HEX),
    ]
}

// A change to any of these bytes is a format change needing a new `Body` version.
const GENESIS_HEX: &str = "0000fd00c02bee2bfe0a0000000102030405060708090a0b0c0d0e0f195b7275627269635d0a6e616d65203d2022e88083e6a0b8220a1b2112873546b79c3fe353a17e8df54e1e1644f41a0471368df2a27c1605c7900a323031382d30312d30310a323031382d31322d3331";
const STATION_TOWN_HEX: &str =
    "0001fd00c02bee2bfe0a000104574a30310fe6b996e5a198e58fb8e6b395e6898000";
const STATION_SUBDISTRICT_HEX: &str =
    "0002fd00c02bee2bfe0a000104574a313218e58d97e5a48fe5a285e8a197e98193e58fb8e6b395e6898001";
const POINTS_ALL_HEX: &str = "0003fd00c02bee2bfe0a000202443104574a303105332e312e62010439352e3501fb2c01010201052d302e32350116e980bee69c9fe585a5e79fab0ae7acace4ba8ce8a18c03312e350a323031382d30362d313509e7a4bee79fabe7a791021be5b8b8e6ada6e58fb8e59fbae3809432303138e380953132e58fb7024532";
const POINTS_NONE_HEX: &str = "0004fd00c02bee2bfe0a0002066175746f2d3404574a313205312e332e61000000000001330a323031382d31322d333109e59fbae5b182e7a791010145";
const METRIC_HEX: &str = "0005fd00c02bee2bfe0a0003024d3104574a3031176d6564696174696f6e735f7065725f6d65646961746f720431322e350a323031382d31322d323009e59fbae5b182e7a791010fe5b9b4e5baa6e7bb9fe8aea1e8a1a8";
const APPEAL_HEX: &str = "0006fd00c02bee2bfe0a00040241310304574a30310fe7bb8fe689b9e58786e5a496e587ba0109e5aea1e689b9e8a1a8";
const DECISION_PARTIAL_HEX: &str = "0007fd00c02bee2bfe0a0005024131060304574a30310103302e3509e7a4bee79fabe7a7910ce983a8e58886e5b19ee5ae9e010fe5a48de6a0b8e6848fe8a781e4b9a6";
const REVERSAL_HEX: &str =
    "0008fd00c02bee2bfe0a00060252310404574a313209e59fbae5b182e7a7910ce5bd95e99499e7ab99e782b900";
const CLOSED_HEX: &str = "0009fd00c02bee2bfe0a000707070707070707070707070707070707070707070707070707070707070707070104574a30310439392e35010105422e362e610104574a30310431322e35010131010104574a313205312e362e63016d0239350133010152";
const KEY_REGISTERED_HEX: &str = "000afd00c02bee2bfe0a00080009e59fbae5b182e7a7911111111111111111111111111111111111111111111111111111111111111111";
const SIGNED_METRIC_HEX: &str = "010bfd00c02bee2bfe0a0003024d3204574a3031016d01310a323031382d31322d323009e59fbae5b182e7a791010145111111111111111111111111111111111111111111111111111111111111111122222222222222222222222222222222222222222222222222222222222222223333333333333333333333333333333333333333333333333333333333333333";
const KEY_REVOKED_HEX: &str =
    "000cfd00c02bee2bfe0a000911111111111111111111111111111111111111111111111111111111111111110152";
const SIGNATURES_REQUIRED_HEX: &str = "000dfd00c02bee2bfe0a000a";
const SIGNED_AFTER_STATION_HEX: &str = "020efd00c02bee2bfe0a000104574a3033014e000c4444444444444444444444444444444444444444444444444444444444444444555555555555555555555555555555555555555555555555555555555555555566666666666666666666666666666666666666666666666666666666666666667777777777777777777777777777777777777777777777777777777777777777";
const ROOT_KEY_HEX: &str = "000ffd00c02bee2bfe0a000b0203e5b1805555555555555555555555555555555555555555555555555555555555555555";
const LEDGER_FOLLOWS_HEX: &str = "0010fd00c02bee2bfe0a000c101112131415161718191a1b1c1d1e1f195b7275627269635d0a6e616d65203d2022e88083e6a0b8220a1b2112873546b79c3fe353a17e8df54e1e1644f41a0471368df2a27c1605c7900a323031392d30312d30310a323031392d31322d3331000102030405060708090a0b0c0d0e0f0a323031382d30312d30310a323031382d31322d3331fb2c018888888888888888888888888888888888888888888888888888888888888888";

/// hash_n of the chain genesis → station_town → … → root_key → ledger_follows, from the all-zero
/// prev.
const CHAIN_HEX: [&str; 17] = [
    "31dbff5198a7dc0d6aae5c8b10797fe6a199afef970f25b5e4c1de3fe6c17e6e",
    "c60fed2e4cb4ebecff115b4fd72ef5f4b44e4c692698e788e8e57ccc6093935d",
    "3da7928b7a3e22102b913b62342716ed808888a334af9d3ac9a4d9edc5a00c56",
    "13c3719708e7eb14d401acc6fc9dd32f605704d20a357cc3c90b2fd39f7f833a",
    "ccecb88e71bfab76f3004c79db20ab68b215952e0b74246efa1fefea36d9d701",
    "f446f58ebd44c5607c0ac3f9a2fc0e616f672569074f36d7e18c07370c5a0815",
    "e954ce519c1038900ed64477e206cfa9a32945bd49817c35f45f590442a69890",
    "4b4e5ae111cf034eaf28ed07a019ed1eb421542b08ef25f0b8ac4cca9bad4f38",
    "5117c9e892c83cc28513da8a0f0b9bfc18b392fe5cb01e2be279f826400c3ed7",
    "bd687a6c406a9f043a6dbc93f6ef0bd1e3318f7e4046d242118571383ab3b3cf",
    "c06879c68d625172b699fa2fa1a4d660cfbe1853e5521c73c989bffc0290014e",
    "12f89a344714f4ce1e3e482b06fe8c764c858cd5a5923c83b6289ef6714a53de",
    "91d9228dde23e0acf5ce79fcd1afbd815066a5e9e6c9d06d4a7a9a3f1be978e9",
    "6b9eb521211db4a5e19def9f9d118b3b2c7ad2e4311f777ef2a290f2c8fbe435",
    "d95f4b521ca8214d64b18449c0224e92cc3f9864776138d6df14cdec415a1f30",
    "9a7c86bb6db040ec97eb6f0bd69c30a484a336975deaed973630d7f18f881b76",
    "be52abf843e980f41c575f8b25e1d6eb685c521d9eafeaef8046bd51de7055e0",
];

#[test]
fn golden_bodies_encode_to_the_pinned_bytes() {
    let mut wrong = Vec::new();
    for (name, body, hex) in golden() {
        let bytes = codec::encode(&body).expect("encodes");
        if hex::encode(&bytes) != hex {
            wrong.push(format!("{name}: {}", hex::encode(&bytes)));
        }
    }
    assert!(
        wrong.is_empty(),
        "the stored format changed (see the module comment):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn golden_chain_hashes_are_pinned() {
    let mut prev = GENESIS_PREV;
    let mut got = Vec::new();
    for (_, body, _) in golden() {
        let bytes = codec::encode(&body).expect("encodes");
        prev = chain::link(&prev, &bytes);
        got.push(hex::encode(prev));
    }
    assert_eq!(got, CHAIN_HEX, "the hash chain changed");
}

#[test]
fn golden_hex_decodes_back_to_the_events() {
    for (name, body, hex) in golden() {
        let bytes = hex::decode(hex).expect("hex");
        let decoded = codec::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, body, "{name}");
        // Equal decimals may differ in scale; the bytes tell.
        assert_eq!(codec::encode(&decoded).expect("encodes"), bytes, "{name}");
    }
}

/// The two worked examples of schema/EVENTS.md, byte for byte: the page a foreign decoder is
/// written from must agree with the encoder.
#[test]
fn events_md_worked_examples_match_the_encoder() {
    let station = Body::V1(EventV1 {
        seq: 300,
        recorded_at_us: 1_546_329_600_000_000,
        kind: EventKind::StationRegistered(StationRegistered {
            code: "WJ01".into(),
            name: "湖".into(),
            kind: StationKind::Subdistrict,
        }),
    });
    assert_eq!(
        jiff::Timestamp::from_microsecond(1_546_329_600_000_000)
            .unwrap()
            .to_string(),
        "2019-01-01T08:00:00Z"
    );
    let station_hex = concat!(
        "00",                 // Body::V1
        "fb2c01",             // seq 300
        "fd000007d5c1fc0a00", // recorded_at_us
        "01",                 // StationRegistered
        "04574a3031",         // "WJ01"
        "03e6b996",           // "湖"
        "01",                 // Subdistrict
    );
    assert_eq!(hex::encode(codec::encode(&station).unwrap()), station_hex);

    let points = Body::V1(EventV1 {
        seq: 3,
        recorded_at_us: -1,
        kind: EventKind::PointsRecorded(PointsRecorded {
            id: "D1".into(),
            station: "W".into(),
            clause: "1.6.c".into(),
            inputs: Inputs {
                value: Some(dec("95.5")),
                count: Some(300),
                ..Inputs::default()
            },
            computed_points: dec("3"),
            occurred: date("2018-06-15"),
            by: "B".into(),
            evidence: vec!["E".into()],
        }),
    });
    let points_hex = concat!(
        "00030102",
        "024431",
        "0157",
        "05312e362e63",
        "010439352e35",
        "01fb2c01",
        "000000",
        "0133",
        "0a323031382d30362d3135",
        "0142",
        "010145",
    );
    assert_eq!(hex::encode(codec::encode(&points).unwrap()), points_hex);
    for (body, hex) in [(station, station_hex), (points, points_hex)] {
        assert_eq!(codec::decode(&hex::decode(hex).unwrap()).unwrap(), body);
    }
}

/// The `LedgerFollows` worked example of schema/EVENTS.md, part by part: the previous year's
/// sealed head follows the genesis' own fields, each in the primitive encodings of the page.
#[test]
fn events_md_ledger_follows_example_matches_the_pinned_bytes() {
    let text = |s: &str| format!("{:02x}{}", s.len(), hex::encode(s));
    let parts = [
        "0010fd00c02bee2bfe0a00".to_string(), // V1, seq 16, recorded_at_us
        "0c".into(),                          // EventKind::LedgerFollows
        hex::encode((0x10u8..0x20).collect::<Vec<u8>>()), // created.ledger_id
        text(RUBRIC),                         // created.rubric_toml
        hex::encode(chain::plain(RUBRIC.as_bytes())), // created.rubric_hash
        text("2019-01-01"),
        text("2019-12-31"),
        hex::encode((0u8..0x10).collect::<Vec<u8>>()), // previous.ledger_id
        text("2018-01-01"),
        text("2018-12-31"),
        "fb2c01".into(), // previous.seq 300
        "88".repeat(32), // previous.hash
    ];
    assert_eq!(RUBRIC.len(), 25, "the page says 25 bytes");
    assert_eq!(parts.concat(), LEDGER_FOLLOWS_HEX);
    assert!(hex::encode(chain::plain(RUBRIC.as_bytes())).starts_with("1b211287"));
}

#[test]
fn decode_refuses_trailing_bytes() {
    for (name, _, hex) in golden() {
        let mut bytes = hex::decode(hex).unwrap();
        bytes.push(0);
        assert_eq!(
            codec::decode(&bytes),
            Err(CodecError::TrailingBytes { trailing: 1 }),
            "{name}"
        );
        // A whole second event behind the first is trailing bytes too.
        let mut twice = hex::decode(hex).unwrap();
        twice.extend(hex::decode(hex).unwrap());
        assert_eq!(
            codec::decode(&twice),
            Err(CodecError::TrailingBytes {
                trailing: hex.len() / 2
            }),
            "{name}"
        );
    }
}

#[test]
fn decode_refuses_every_truncation_without_panicking() {
    for (name, _, hex) in golden() {
        let bytes = hex::decode(hex).unwrap();
        for cut in 0..bytes.len() {
            match codec::decode(&bytes[..cut]) {
                Err(CodecError::Malformed(_)) => {}
                other => panic!("{name} cut at {cut}: {other:?}"),
            }
        }
    }
}

/// Bytes kaohe never writes, each refused (not a panic, not a silent default).
#[test]
fn decode_refuses_unknown_tags_bad_text_and_huge_lengths() {
    let station = hex::decode(STATION_TOWN_HEX).unwrap();
    let points = hex::decode(POINTS_NONE_HEX).unwrap();
    // Offsets in STATION_TOWN_HEX: 0 Body tag, 11 EventKind tag, last byte StationKind.
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = station.clone();
    b[0] = 1;
    cases.push(("Body version 1 (there is only V1 = 0)", b));
    let mut b = station.clone();
    b[11] = 4;
    cases.push(("EventKind 4", b));
    let mut b = station.clone();
    *b.last_mut().unwrap() = 2;
    cases.push(("StationKind 2", b));
    let mut b = station.clone();
    b[13] = 0xff; // inside "WJ01"
    cases.push(("invalid UTF-8 in a string", b));
    let mut b = station.clone();
    b[12] = 0xfd; // the code's length becomes a u64 varint
    b.splice(13..13, [0xff; 8]);
    cases.push(("a string length of 2^64-1", b));
    // In POINTS_NONE_HEX the five `00` option tags of Inputs follow the clause "1.3.a".
    let at = points
        .windows(5)
        .position(|w| w == b"1.3.a")
        .expect("clause")
        + 5;
    let mut b = points.clone();
    b[at] = 2;
    cases.push(("Option tag 2", b));
    let mut b = points.clone();
    let date_at = points.windows(10).position(|w| w == b"2018-12-31").unwrap();
    b[date_at + 5..date_at + 7].copy_from_slice(b"13");
    cases.push(("month 13", b));
    let mut b = points.clone();
    b[date_at + 4] = b'/';
    cases.push(("a date not YYYY-MM-DD", b));
    let mut b = points.clone();
    let dec_at = at + 5; // computed_points: 01 33
    b[dec_at + 1] = b'x';
    cases.push(("a decimal that is not a number", b));
    for (what, bytes) in cases {
        assert!(
            matches!(codec::decode(&bytes), Err(CodecError::Malformed(_))),
            "{what}: {:?}",
            codec::decode(&bytes)
        );
    }
}

/// `1.5` and `1.50` are the same figure; the write path normalises, so they are one body.
#[test]
fn equal_decimals_encode_identically_after_normalising() {
    let with = |value: Decimal| {
        let mut b = metric();
        let Body::V1(e) = &mut b else {
            unreachable!("an unsigned event")
        };
        let EventKind::MetricReported(m) = &mut e.kind else {
            unreachable!()
        };
        m.value = value;
        b
    };
    for (a, b) in [
        ("1.5", "1.50"),
        ("1.5", "1.500000"),
        ("3", "3.0"),
        ("0", "-0"),
        ("0", "0.000"),
        ("-0.25", "-0.2500"),
    ] {
        let (a, b) = (dec(a), dec(b));
        assert!(decimal::is_canonical(&decimal::canonical(b)));
        assert_eq!(
            codec::encode(&with(decimal::canonical(a))).unwrap(),
            codec::encode(&with(decimal::canonical(b))).unwrap(),
            "{a} vs {b}"
        );
    }
    // Without normalising they would not be: the encoder refuses to write such a body.
    assert!(!decimal::is_canonical(&dec("1.50")));
    let refused = std::panic::catch_unwind(|| codec::encode(&with(dec("1.50"))));
    assert!(
        refused.is_err(),
        "codec::encode must refuse a non-canonical decimal"
    );
    let refused = std::panic::catch_unwind(|| codec::encode(&with(-dec("0"))));
    assert!(refused.is_err(), "codec::encode must refuse -0");
}

/// The same commands with `1.50`-style figures and with canonical ones write the same bytes:
/// the write path normalises every decimal before the codec sees it.
#[test]
fn the_write_path_stores_equal_decimals_as_identical_bytes() {
    use kaohe::internals::domain::command::{Command, MetricCmd, RecordCmd, StationCmd};
    use kaohe::internals::ledger::{Ledger, Numbered};

    let rubric = std::fs::read_to_string(crate::harness::rubric_path()).unwrap();
    let now: jiff::Timestamp = crate::harness::TEST_NOW.parse().unwrap();
    let bodies = |value: &str, points: &str, rate: &str| -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        Ledger::init(&path, &rubric, now).unwrap();
        let mut ledger = crate::props::open_ledger(&path);
        let cmds = [
            Command::Station(StationCmd {
                code: "WJ01".into(),
                name: "湖塘司法所".into(),
                kind: StationKind::Town,
            }),
            Command::Metric(MetricCmd {
                id: Some("M1".into()),
                station: "WJ01".into(),
                metric: "dispute_entry_rate".into(),
                value: dec(value),
                by: "基层科".into(),
                occurred: date("2018-06-15"),
                evidence: vec!["E".into()],
            }),
            Command::Record(RecordCmd {
                id: Some("R1".into()),
                clause: "3.2.a".into(),
                station: "WJ01".into(),
                by: "矫正科".into(),
                occurred: date("2018-06-15"),
                inputs: Inputs {
                    count: Some(2),
                    points: Some(dec(points)),
                    note: Some("n".into()),
                    ..Inputs::default()
                },
                evidence: vec!["E".into()],
            }),
            Command::Record(RecordCmd {
                id: Some("R2".into()),
                clause: "1.6.c".into(),
                station: "WJ01".into(),
                by: "基层科".into(),
                occurred: date("2018-06-15"),
                inputs: Inputs {
                    value: Some(dec(rate)),
                    ..Inputs::default()
                },
                evidence: vec!["E".into()],
            }),
        ];
        let numbered: Vec<Numbered> = cmds
            .into_iter()
            .map(|command| Numbered {
                line: None,
                command,
            })
            .collect();
        ledger.apply(&numbered, now).unwrap();
        let mut out = Vec::new();
        ledger
            .replay(1, u64::MAX, |e| {
                assert!(e.body.kind().decimals_canonical());
                out.push(e.bytes.to_vec());
                Ok(true)
            })
            .unwrap();
        out
    };
    let canonical = bodies("95.5", "1.5", "96.5");
    let padded = bodies("95.50", "1.500", "96.5000");
    assert_eq!(canonical.len(), 4);
    assert_eq!(canonical, padded);
    // And the stored text is the canonical one: computed 1.5 × 2 = "3", not "3.0".
    let Body::V1(e) = codec::decode(&canonical[2]).unwrap() else {
        unreachable!("an unsigned event")
    };
    let EventKind::PointsRecorded(p) = e.kind else {
        panic!("not a record")
    };
    assert_eq!(p.computed_points.to_string(), "3");
    assert_eq!(
        p.by, "社矫科",
        "the alias is stored as the canonical department"
    );
}

/// One event, one body: a decoder that accepts other spellings of a decimal accepts bodies
/// kaohe never writes, and two different bodies (two different hashes) then mean the same event.
/// schema/EVENTS.md specifies a decimal as "the canonical decimal text ... no exponent, no
/// trailing fractional zeros, no leading `+`".
#[test]
fn decode_refuses_non_canonical_decimal_text() {
    let canonical = hex::decode(METRIC_HEX).unwrap();
    // METRIC_HEX holds the value as `04 "12.5"`.
    let at = canonical
        .windows(5)
        .position(|w| w == b"\x0412.5")
        .expect("value");
    let mut accepted = Vec::new();
    for text in ["12.50", "+12.5", "1.25e1", "012.5", "1_2.5", "12.5000"] {
        let mut b = canonical[..at].to_vec();
        b.push(text.len() as u8);
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(&canonical[at + 5..]);
        if let Ok(body) = codec::decode(&b) {
            assert_eq!(body, metric(), "{text} decodes to the same event");
            accepted.push(text);
        }
    }
    assert!(accepted.is_empty(), "decoded as 12.5: {accepted:?}");
}

/// The same for integers: a varint has one encoding (a value < 251 is one byte).
#[test]
fn decode_refuses_non_minimal_varints() {
    let canonical = hex::decode(METRIC_HEX).unwrap();
    assert_eq!(canonical[1], 5, "seq");
    let mut b = vec![canonical[0], 0xfb, 5, 0];
    b.extend_from_slice(&canonical[2..]);
    assert!(
        codec::decode(&b).is_err(),
        "seq 5 written as a u16 varint decodes to {:?}",
        codec::decode(&b)
    );
}
