//! The documents are the specification: `schema/EVENTS.md` ("Canonical bodies", "The export
//! line", the closing event), `schema/PROOFS.md` ("Key files") and `schema/export.schema.json`
//! say what `verify --export` accepts, precisely enough for a verifier written elsewhere. Each
//! test crafts an export that breaks one written rule and requires `verify --export` to exit 1
//! naming the event's seq and the rule; or checks that what kaohe writes is what is written.

use crate::harness::{Output, TestLedger};
use kaohe::internals::events::event::{Body, EventKind};
use kaohe::internals::events::{chain, codec};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Exports and forgeries.

fn export_lines(l: &TestLedger) -> Vec<String> {
    l.ok(&["export"]).lines().map(str::to_string).collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("an export line is JSON")
}

/// `verify --export` of a file holding exactly `bytes`.
fn verify_bytes(bytes: &[u8]) -> Output {
    let l = TestLedger::empty();
    let file = l.path("export.jsonl");
    std::fs::write(&file, bytes).expect("write export");
    l.run(&["verify", "--export", file.to_str().expect("utf-8 path")])
}

/// `verify --export` of `lines`, each ended by LF.
fn verify_lines(lines: &[String]) -> Output {
    verify_bytes((lines.join("\n") + "\n").as_bytes())
}

/// `verify --export` refused the file (exit 1) at `seq`, in words containing `words`.
#[track_caller]
fn assert_refused(out: &Output, seq: u64, words: &str) {
    assert_eq!(out.code, 1, "verifies: {}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("at seq {seq}")),
        "not blamed on seq {seq}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(words),
        "the message does not say `{words}`: {}",
        out.stderr
    );
}

/// The export up to line `i`, whose stored bytes are replaced by `edit` of them and re-chained
/// (its `hash` is recomputed; every other member of the line is left as it was). The bytes need
/// not decode: the line is edited as text.
fn with_bytes(lines: &[String], i: usize, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<String> {
    let v = parse(&lines[i]);
    let prev = chain::parse_hash(v["prev_hash"].as_str().expect("prev_hash")).expect("hash");
    let old_hex = v["body"].as_str().expect("body").to_string();
    let mut bytes = hex::decode(&old_hex).expect("hex");
    edit(&mut bytes);
    let hash = hex::encode(chain::link(&prev, &bytes));
    let line = lines[i]
        .replacen(&old_hex, &hex::encode(&bytes), 1)
        .replacen(v["hash"].as_str().expect("hash"), &hash, 1);
    let mut out = lines[..i].to_vec();
    out.push(line);
    out
}

/// The export up to line `i`, its event edited, encoded and re-chained, and the line written
/// as kaohe writes it (as a forger with kaohe's own code can).
fn with_event(lines: &[String], i: usize, edit: impl FnOnce(&mut Body)) -> Vec<String> {
    let v = parse(&lines[i]);
    let prev = chain::parse_hash(v["prev_hash"].as_str().expect("prev_hash")).expect("hash");
    let mut body = codec::decode(&hex::decode(v["body"].as_str().expect("body")).expect("hex"))
        .expect("decodes");
    edit(&mut body);
    let bytes = codec::encode(&body).expect("encodes");
    let hash = chain::link(&prev, &bytes);
    let mut out = lines[..i].to_vec();
    out.push(kaohe::ops::export::line(&body, &bytes, &prev, &hash));
    out
}

/// Replaces the first occurrence of `from` in `bytes` by `to`.
fn splice(bytes: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{from:02x?} is not in the body"));
    bytes.splice(at..at + from.len(), to.iter().copied());
}

/// A string as the body encodes it: its length (< 251) and its bytes.
fn encoded(text: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(text.len()).expect("a short text")];
    out.extend_from_slice(text.as_bytes());
    out
}

/// A ledger with WJ01 and WJ02 whose last event comes from the import `line`; its export.
fn ending_with(line: Value) -> (TestLedger, Vec<String>) {
    let l = TestLedger::with_stations();
    let out = l.import(&format!("{line}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = export_lines(&l);
    let out = verify_lines(&lines);
    assert_eq!(out.code, 0, "the untouched export: {}", out.stderr);
    (l, lines)
}

fn metric(value: &str) -> Value {
    json!({"op": "metric", "id": "M1", "station": "WJ01", "metric": "dispute_entry_rate",
        "value": value, "by": "基层科", "occurred": "2018-06-15", "evidence": ["统计表"]})
}

/// A per-unit record with a count and a note of `note_len` bytes.
fn counted(count: u32, note_len: usize) -> Value {
    json!({"op": "record", "id": "R1", "clause": "3.2.a", "station": "WJ01", "by": "社矫科",
        "occurred": "2018-06-15", "count": count, "points": "1.5", "note": "n".repeat(note_len),
        "evidence": ["通报"]})
}

// ---------------------------------------------------------------------------------------------
// Canonical bodies (EVENTS.md, "Primitive encodings" and "Canonical bodies").

/// Guards "Canonical bodies", 4: a varint written longer than it needs decodes to the same
/// event, so it is refused (one event, one body), wherever it is: the seq, a time, a variant
/// index, a string length, a count. The hash is over the stored bytes, so the forged line
/// links; only the canonicality check finds it.
#[test]
fn a_varint_longer_than_it_needs_is_refused_at_its_seq() {
    let (_l, lines) = ending_with(counted(2, 250));
    let last = lines.len() - 1;
    let seq = last as u64;
    let words = "not the canonical encoding of the event it decodes to";
    let seq_byte = u8::try_from(seq).expect("a small seq");
    let n = |bytes: &[u8]| [bytes, b"nn"].concat();
    // (what, bytes as written, the same value written longer): the first occurrence is edited.
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("seq as u16", vec![0, seq_byte], vec![0, 0xfb, seq_byte, 0]),
        (
            "seq as u64",
            vec![0, seq_byte],
            vec![0, 0xfd, seq_byte, 0, 0, 0, 0, 0, 0, 0],
        ),
        ("250 (a length) as u16", n(&[1, 250]), n(&[1, 0xfb, 250, 0])),
        (
            "count 2 as u32 (a u32 field may take the u32 marker, but not for 2)",
            vec![0, 1, 2, 0, 1, 3],
            vec![0, 1, 0xfc, 2, 0, 0, 0, 0, 1, 3],
        ),
    ];
    for (what, from, to) in cases {
        let out = verify_lines(&with_bytes(&lines, last, |b| splice(b, &from, &to)));
        assert_refused(&out, seq, words);
        assert!(out.stderr.contains("byte offset"), "{what}: {}", out.stderr);
    }
    // The EventKind index (2, PointsRecorded) as a u16: the body's third varint.
    let out = verify_lines(&with_bytes(&lines, last, |b| {
        let kind_at = 1 + 1 + 9; // Body tag, seq (one byte), recorded_at_us (marker + 8)
        assert_eq!(b[kind_at], 2, "the kind's index");
        b.splice(kind_at..kind_at + 1, [0xfb, 2, 0]).for_each(drop);
    }));
    assert_refused(&out, seq, words);
}

/// Guards the varint row of "Primitive encodings": 251 is the first value that needs the u16
/// marker (`fb fb 00`), and is canonical so; written with the u32 or u64 marker it is not.
#[test]
fn the_shortest_varint_of_251_is_fb_fb_00() {
    let (_l, lines) = ending_with(counted(2, 251));
    let last = lines.len() - 1;
    let v = parse(&lines[last]);
    let body = v["body"].as_str().expect("body");
    assert!(
        body.contains(&format!("01fbfb00{}", "6e".repeat(251))),
        "a note of 251 bytes: {body}"
    );
    let note = [&[1u8, 0xfb, 251, 0][..], b"nn"].concat();
    for longer in [&[0xfc, 251, 0, 0, 0][..], &[0xfd, 251, 0, 0, 0, 0, 0, 0, 0]] {
        let forged = with_bytes(&lines, last, |b| {
            splice(b, &note, &[&[1u8][..], longer, b"nn"].concat())
        });
        assert_refused(
            &verify_lines(&forged),
            last as u64,
            "not the canonical encoding",
        );
    }
}

/// Guards the varint row: a u32 field (`count`) refuses the u64 marker even for a value that
/// fits, in words naming the two widths.
#[test]
fn a_u32_field_refuses_the_u64_marker() {
    let (_l, lines) = ending_with(counted(2, 3));
    let last = lines.len() - 1;
    let forged = with_bytes(&lines, last, |b| {
        splice(
            b,
            &[0, 1, 2, 0, 1, 3],
            &[0, 1, 0xfd, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3],
        )
    });
    assert_refused(
        &verify_lines(&forged),
        last as u64,
        "a u32 field carries the varint marker 253 (u64), wider than a u32",
    );
    // Markers 254 and 255 are refused in every field.
    for marker in [0xfe, 0xff] {
        let forged = with_bytes(&lines, last, |b| {
            splice(b, &[0, 1, 2, 0, 1, 3], &[0, 1, marker, 2, 0, 1, 3])
        });
        assert_refused(
            &verify_lines(&forged),
            last as u64,
            "body does not decode: a u32 field",
        );
    }
}

/// Guards the decimal row: only the canonical text decodes. Each other spelling of 95.5 (or of
/// another figure) is refused at decoding with the text named.
#[test]
fn a_decimal_decodes_only_in_its_canonical_text() {
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    for text in [
        "95.50",
        "+95.5",
        "095.5",
        "9.55e1",
        "95.5 ",
        " 95.5",
        "95_5",
        "-0",
        "-0.0",
        ".5",
        "5.",
        "0.00000000000000000000000000001",
        "79228162514264337593543950336",
        "95,5",
        "",
    ] {
        let forged = with_bytes(&lines, last, |b| {
            splice(b, &encoded("95.5"), &encoded(text))
        });
        let out = verify_lines(&forged);
        assert_refused(&out, last as u64, "is not a canonical decimal");
        assert!(
            out.stderr.contains(&format!("`{text}`")),
            "{text}: {}",
            out.stderr
        );
    }
}

/// Guards the decimal row's last sentence: a canonical decimal beyond the rules' limits
/// decodes (it fits 96 bits), and the event is then refused by the rule, in its words.
#[test]
fn a_decimal_beyond_the_limits_decodes_and_breaks_a_rule() {
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    let seq = last as u64;
    for (text, words) in [
        (
            "0.0000000000000000000000000001",
            "has more than 6 decimal places",
        ),
        ("79228162514264337593543950335", "is too large"),
    ] {
        let forged = with_bytes(&lines, last, |b| {
            splice(b, &encoded("95.5"), &encoded(text))
        });
        assert_refused(&verify_lines(&forged), seq, words);
        assert_refused(&verify_lines(&forged), seq, "field `value`");
    }
}

/// Guards the date row: a date is `YYYY-MM-DD` of a day the calendar has; 2018-02-29 and
/// every other spelling are refused at decoding.
#[test]
fn a_date_decodes_only_as_a_real_day_in_its_one_spelling() {
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    for text in [
        "2018-02-29",
        "2018-13-01",
        "2018-06-31",
        "2018-6-15",
        "2018/06/15",
        "20180615",
        "+2018-06-15",
        "2018-06-15T00:00:00",
    ] {
        let forged = with_bytes(&lines, last, |b| {
            splice(b, &encoded("2018-06-15"), &encoded(text))
        });
        assert_refused(
            &verify_lines(&forged),
            last as u64,
            &format!("bad date `{text}`"),
        );
    }
}

/// Guards "Canonical bodies", 2: a byte after the event, or a whole second event, is refused.
#[test]
fn trailing_bytes_after_a_body_are_refused() {
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    let forged = with_bytes(&lines, last, |b| b.push(0));
    assert_refused(&verify_lines(&forged), last as u64, "1 trailing bytes");
    let forged = with_bytes(&lines, last, |b| b.extend_from_slice(&b.clone()));
    assert_refused(&verify_lines(&forged), last as u64, "trailing bytes");
}

/// Guards "Canonical bodies", 3: a recorded time outside the years 0000–9998 is refused (its
/// export text would not have a four-digit year); the range's ends are exact.
#[test]
fn a_recorded_time_outside_the_four_digit_years_is_refused() {
    use kaohe::internals::base::limits::{RECORDED_US_END, RECORDED_US_START};
    assert_eq!(
        jiff::Timestamp::from_microsecond(RECORDED_US_START)
            .expect("in range")
            .to_string(),
        "0000-01-01T00:00:00Z"
    );
    assert_eq!(
        jiff::Timestamp::from_microsecond(RECORDED_US_END - 1)
            .expect("in range")
            .to_string(),
        "9998-12-31T23:59:59.999999Z"
    );
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    for us in [RECORDED_US_END, i64::MAX] {
        let forged = with_event(&lines, last, |b| b.v1_mut().recorded_at_us = us);
        assert_refused(
            &verify_lines(&forged),
            last as u64,
            &format!("recorded_at_us {us} is outside"),
        );
    }
    // The last microsecond in range is a time (the event is valid: times never go back).
    let forged = with_event(&lines, last, |b| {
        b.v1_mut().recorded_at_us = RECORDED_US_END - 1
    });
    let out = verify_lines(&forged);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(forged[last].contains("\"recorded_at\":\"9998-12-31T23:59:59.999999Z\""));
}

// ---------------------------------------------------------------------------------------------
// The export line (EVENTS.md, "The export line").

/// Guards "The export line": the line is checked byte for byte. Each spelling below means the
/// same JSON (or the same event) but is not the line kaohe writes, and is refused at its seq.
#[test]
fn every_other_spelling_of_a_line_is_refused() {
    let (_l, lines) = ending_with(metric("95.5"));
    let last = lines.len() - 1;
    let line = lines[last].clone();
    let v = parse(&line);
    let hash = v["hash"].as_str().expect("hash").to_string();
    let canonical = "not the canonical line kaohe writes";
    let cases: Vec<(String, &str)> = vec![
        // Key order.
        (
            line.replacen(&format!("\"hash\":\"{hash}\","), "", 1)
                .replacen("{", &format!("{{\"hash\":\"{hash}\","), 1),
            canonical,
        ),
        // White space.
        (line.replace("\",\"", "\", \""), canonical),
        (line.replacen("\":", "\": ", 1), canonical),
        (format!("{line} "), canonical),
        (format!(" {line}"), canonical),
        // recorded_at spelled otherwise.
        (
            line.replace("08:00:00Z", "08:00:00.000Z"),
            "field `recorded_at` differs",
        ),
        (
            line.replace("08:00:00Z", "08:00:00+00:00"),
            "field `recorded_at` differs",
        ),
        // Escapes a JSON reader reads as the same text.
        (line.replace("\"WJ01\"", "\"\\u0057J01\""), canonical),
        (
            line.replace("统计表", &format!("\\u{:04x}计表", '统' as u32)),
            canonical,
        ),
        // A number spelled otherwise, a decimal as a number.
        (
            line.replacen(&format!("\"seq\":{last}"), &format!("\"seq\":{last}.0"), 1),
            "field `seq` differs",
        ),
        (
            line.replace("\"value\":\"95.5\"", "\"value\":95.5"),
            "field `value` differs",
        ),
        // A member kaohe never writes.
        (
            line.replacen('}', ",\"signature\":\"00\"}", 1),
            "field `signature` differs",
        ),
        (
            line.replacen("\"by\"", "\"note\":null,\"by\"", 1),
            "field `note` differs",
        ),
    ];
    for (forged, words) in cases {
        assert_ne!(forged, line, "{words}: the case changes nothing");
        let mut all = lines.clone();
        all[last] = forged;
        assert_refused(&verify_lines(&all), last as u64, words);
    }
}

/// Guards "Values": every hex string is lower case, the decoded ones too (ledger id, rubric
/// hash, public key), not only the chain's.
#[test]
fn upper_case_hex_in_a_decoded_field_is_refused() {
    let l = TestLedger::with_stations();
    let key = l.path("jc.key");
    let key = key.to_str().expect("utf-8");
    l.ok(&["key", "new", "--dept", "基层科", "--out", key]);
    l.ok(&["key", "register", &format!("{key}.pub")]);
    let lines = export_lines(&l);
    let last = lines.len() - 1;
    for (i, field) in [(0, "ledger_id"), (0, "rubric_hash"), (last, "public_key")] {
        let v = parse(&lines[i]);
        let value = v[field].as_str().expect("hex").to_string();
        let mut forged = lines.clone();
        let member = format!("\"{field}\":\"{value}\"");
        let upper = format!("\"{field}\":\"{}\"", value.to_uppercase());
        forged[i] = lines[i].replacen(&member, &upper, 1);
        assert_ne!(forged[i], lines[i]);
        assert_refused(
            &verify_lines(&forged),
            i as u64,
            &format!("field `{field}` differs"),
        );
    }
}

/// Guards "The file": CR LF line ends, a missing last LF and a byte-order mark at the start of
/// the file are read as kaohe's file; a mark anywhere else, or an empty line, is a line that
/// does not verify.
#[test]
fn the_file_around_the_lines() {
    let (_l, lines) = ending_with(metric("95.5"));
    let text = lines.join("\n") + "\n";
    for ok in [
        text.replace('\n', "\r\n"),
        text.trim_end().to_string(),
        format!("\u{feff}{text}"),
    ] {
        let out = verify_bytes(ok.as_bytes());
        assert_eq!(out.code, 0, "{:?}: {}", &ok[..8], out.stderr);
    }
    let mut marked = lines.clone();
    marked[1] = format!("\u{feff}{}", lines[1]);
    assert_refused(&verify_lines(&marked), 1, "line 2");
    let mut blank = lines.clone();
    blank.insert(2, String::new());
    assert_refused(&verify_lines(&blank), 2, "line 3");
    let out = verify_bytes(format!("{text}\n").as_bytes());
    assert_refused(&out, lines.len() as u64, "");
}

/// Guards "Strings": the escapes serde_json writes are the line's, and the rubric (with its
/// quotes, backslashes and line breaks) round-trips through them; a control character in text
/// is written `\u00XX` in lower case.
#[test]
fn strings_are_escaped_as_documented() {
    let (_l, lines) = ending_with(metric("95.5"));
    let genesis = &lines[0];
    assert!(genesis.contains("\\n"), "line breaks are \\n");
    assert!(genesis.contains("\\\""), "quotes are \\\"");
    assert!(
        !genesis.contains("\\u"),
        "no other escape in the bundled rubric"
    );
    assert_eq!(
        json!("a\u{1}\u{1f}/\u{7f}\u{2028}\t").to_string(),
        "\"a\\u0001\\u001f/\u{7f}\u{2028}\\t\""
    );
}

/// Guards "Signed events": a signed event's line has no signature member; it is the unsigned
/// line of the same event but for `body` (variant 1) and `hash`.
#[test]
fn a_signed_line_differs_from_the_unsigned_only_in_body_and_hash() {
    let l = crate::schemas::signed_ledger();
    let lines = export_lines(&l);
    let i = lines
        .iter()
        .position(|line| parse(line)["type"] == "points_recorded")
        .expect("a signed record");
    let v = parse(&lines[i]);
    let body_hex = v["body"].as_str().expect("body");
    assert!(
        body_hex.starts_with("02"),
        "Body variant 2 (V3, signed after a head)"
    );
    let Body::V3(signed) = codec::decode(&hex::decode(body_hex).expect("hex")).expect("decodes")
    else {
        panic!("a signed body")
    };
    let prev = chain::parse_hash(v["prev_hash"].as_str().expect("prev")).expect("hash");
    let unsigned = Body::V1(signed.event);
    let bytes = codec::encode(&unsigned).expect("encodes");
    let plain = kaohe::ops::export::line(&unsigned, &bytes, &prev, &chain::link(&prev, &bytes));
    let without = |line: &str| {
        let mut v = parse(line);
        let m = v.as_object_mut().expect("object");
        m.remove("body");
        m.remove("hash");
        serde_json::to_string(&v).expect("json")
    };
    assert_eq!(without(&lines[i]), without(&plain));
    assert!(lines
        .iter()
        .all(|line| parse(line).get("signature").is_none()));
}

/// Guards that the genesis is never signed (EVENTS.md, *Signatures*): the audit once returned
/// from the genesis before it looked at a signature, so a genesis with any signature verified;
/// the forged signed genesis is refused at seq 0.
#[test]
fn a_signed_genesis_is_refused() {
    use kaohe::internals::events::event::{Signature, Signed};
    let (_l, lines) = ending_with(metric("95.5"));
    let forged = with_event(&lines, 0, |b| {
        let Body::V1(e) = b.clone() else {
            panic!("an unsigned genesis")
        };
        *b = Body::V2(Signed {
            event: e,
            signature: Signature {
                public_key: [1; 32],
                r: [2; 32],
                s: [3; 32],
            },
        });
    });
    assert_refused(&verify_lines(&forged), 0, "sign");
}

// ---------------------------------------------------------------------------------------------
// The closing event: reason, ties, qualified, gaps.

/// A metric report import line.
fn report(id: &str, station: &str, metric: &str, value: &str) -> String {
    json!({"op": "metric", "id": id, "station": station, "metric": metric, "value": value,
        "by": "基层科", "occurred": "2018-12-20", "evidence": ["统计表"]})
    .to_string()
        + "\n"
}

/// The closing line of `lines` (the last).
fn closing(lines: &[String]) -> Value {
    let v = parse(lines.last().expect("a line"));
    assert_eq!(v["type"], "period_closed");
    v
}

/// Guards "The export line" and "Older exports": a close without gaps has no `reason` member;
/// an older export's `"reason":null` as the line's last member still verifies and restores,
/// and nowhere else.
#[test]
fn a_closing_line_leaves_out_an_absent_reason_and_reads_the_older_null() {
    let l = TestLedger::with_stations();
    l.ok(&["close"]);
    let lines = export_lines(&l);
    let last = lines.len() - 1;
    assert!(!lines[last].contains("reason"), "{}", lines[last]);
    assert!(!lines.iter().any(|line| line.contains("null")));

    let mut older = lines.clone();
    older[last] = format!(
        "{},\"reason\":null}}",
        lines[last].strip_suffix('}').expect("an object")
    );
    let out = verify_lines(&older);
    assert_eq!(out.code, 0, "an older export: {}", out.stderr);
    let file = l.path("older.jsonl");
    std::fs::write(&file, older.join("\n") + "\n").expect("write");
    let restored = l.path("restored");
    let file = file.to_str().expect("utf-8");
    l.ok(&["restore", file, "--db", restored.to_str().expect("utf-8")]);

    // Anywhere else, or on a close that accepted gaps, a null is refused.
    let mut moved = lines.clone();
    moved[last] = lines[last].replacen("\"head\"", "\"reason\":null,\"head\"", 1);
    assert_refused(&verify_lines(&moved), last as u64, "not the canonical line");
    let mut spaced = lines.clone();
    spaced[last] = older[last].replace(",\"reason\":null}", ",\"reason\": null}");
    assert_refused(
        &verify_lines(&spaced),
        last as u64,
        "not the canonical line",
    );
}

/// Guards the closing event's `scores`: equal totals are ordered by station code in byte order
/// (`WJ10` before `WJ9`, `WJB` before `WJa`) and share the better place, the next skipping
/// (1, 1, 1, 1, 5); `score` shows the same order and places; a close with the tie in another
/// order is refused at its seq.
#[test]
fn equal_totals_are_ordered_by_code_bytes_and_share_the_better_place() {
    let l = TestLedger::new();
    for code in ["WJa", "WJ9", "WJB", "WJ10", "WJ01"] {
        l.ok(&["station", "add", code, "--name", "所", "--kind", "town"]);
    }
    let record = json!({"op": "record", "id": "R1", "clause": "1.3.a", "station": "WJ01",
        "by": "基层科", "occurred": "2018-05-10", "evidence": ["通报"]});
    assert_eq!(l.import(&format!("{record}\n")).code, 0);
    let order = ["WJ10", "WJ9", "WJB", "WJa", "WJ01"];
    let ranks = [1, 1, 1, 1, 5];
    let score = l.scores();
    let shown: Vec<(&str, u64)> = score["stations"]
        .as_array()
        .expect("stations")
        .iter()
        .map(|s| {
            (
                s["station"].as_str().expect("code"),
                s["rank"].as_u64().expect("rank"),
            )
        })
        .collect();
    assert_eq!(shown, order.iter().copied().zip(ranks).collect::<Vec<_>>());
    l.ok(&["close"]);
    let lines = export_lines(&l);
    let sealed: Vec<(String, u64)> = closing(&lines)["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|s| {
            (
                s["station"].as_str().expect("code").to_string(),
                s["rank"].as_u64().expect("rank"),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = order.iter().map(|s| s.to_string()).zip(ranks).collect();
    assert_eq!(sealed, expected);
    let last = lines.len() - 1;
    let forged = with_event(&lines, last, |b| {
        let EventKind::PeriodClosed(c) = &mut b.v1_mut().kind else {
            panic!("the close")
        };
        c.scores.swap(0, 1);
    });
    assert_refused(
        &verify_lines(&forged),
        last as u64,
        "its final scores are not what the events give",
    );
}

/// Guards the closing event's `rankings`: `qualified` counts every qualifying station, also
/// those past the last band; `entries` stop before the first place that earns nothing, equal
/// figures share the better place and are ordered by code; a close that says otherwise is
/// refused at its seq.
#[test]
fn qualified_counts_every_qualifying_station_and_entries_stop_at_the_last_band() {
    let l = TestLedger::new();
    // mediations_per_mediator (ranked, and a qualifier at 8); fulltime at least 16.
    let figures = [
        ("WJ01", "20", "16"),
        ("WJ02", "19", "16"),
        ("WJ03", "18", "16"),
        ("WJ04", "17", "16"),
        ("WJ05", "16", "16"),
        ("WJ07", "15", "16"),
        ("WJ06", "15", "16"),
        ("WJ08", "14", "16"),
        ("WJ09", "30", "15"), // fails the fulltime qualifier
        ("WJ10", "7", "16"),  // fails its own figure's qualifier
    ];
    let mut batch = String::new();
    for (i, (code, per, full)) in figures.iter().enumerate() {
        l.ok(&["station", "add", code, "--name", "所", "--kind", "town"]);
        batch += &report(&format!("P{i}"), code, "mediations_per_mediator", per);
        batch += &report(
            &format!("F{i}"),
            code,
            "mediations_per_fulltime_mediator",
            full,
        );
    }
    l.ok(&["station", "add", "WJ11", "--name", "所", "--kind", "town"]); // reports nothing
    let out = l.import(&batch);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // WJ09's and WJ10's failed figures are gaps (1.1.c, 1.1.d), accepted.
    l.ok(&["close", "--accept-gaps", "--reason", "经研究同意"]);
    let lines = export_lines(&l);
    let ranking = &closing(&lines)["rankings"][0];
    assert_eq!(ranking["clause"], "B.6.a");
    assert_eq!(ranking["qualified"], 8, "{ranking}");
    let entries: Vec<(&str, u64, &str)> = ranking["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["station"].as_str().expect("code"),
                e["rank"].as_u64().expect("rank"),
                e["points"].as_str().expect("points"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("WJ01", 1, "1"),
            ("WJ02", 2, "1"),
            ("WJ03", 3, "1"),
            ("WJ04", 4, "0.5"),
            ("WJ05", 5, "0.5"),
            ("WJ06", 6, "0.5"),
            ("WJ07", 6, "0.5"),
        ]
    );
    let last = lines.len() - 1;
    let forged = with_event(&lines, last, |b| {
        let EventKind::PeriodClosed(c) = &mut b.v1_mut().kind else {
            panic!("the close")
        };
        c.rankings[0].qualified = 7;
    });
    assert_refused(
        &verify_lines(&forged),
        last as u64,
        "its rankings are not what the latest reports give",
    );
}

/// Guards the closing event's `accepted_gaps`: one per failed standard, by station in
/// registration order then clause; `points` is what recording the deduction would compute
/// (the record's `computed_points` for the same figure), and nothing is deducted.
#[test]
fn a_gaps_points_are_what_the_clause_would_deduct() {
    let l = TestLedger::with_stations();
    let mut batch = report("M1", "WJ02", "dispute_entry_rate", "90");
    batch += &report("M2", "WJ01", "agreement_fulfilment_rate", "95.5");
    assert_eq!(l.import(&batch).code, 0);
    let before = l.station_score("WJ01")["total"].clone();
    l.ok(&["close", "--accept-gaps", "--reason", "经研究同意"]);
    let lines = export_lines(&l);
    let c = closing(&lines);
    assert_eq!(c["reason"], "经研究同意");
    let gaps: Vec<(&str, &str, &str, &str)> = c["accepted_gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .map(|g| {
            (
                g["station"].as_str().expect("station"),
                g["clause"].as_str().expect("clause"),
                g["value"].as_str().expect("value"),
                g["points"].as_str().expect("points"),
            )
        })
        .collect();
    assert_eq!(
        gaps,
        [("WJ01", "1.6.c", "95.5", "3"), ("WJ02", "1.1.a", "90", "1")]
    );
    assert_eq!(
        l.station_score("WJ01")["total"],
        before,
        "a gap deducts nothing"
    );

    let r = TestLedger::with_stations();
    for (clause, station, value) in [("1.6.c", "WJ01", "95.5"), ("1.1.a", "WJ02", "90")] {
        let line = json!({"op": "record", "clause": clause, "station": station, "by": "基层科",
            "occurred": "2018-12-20", "value": value, "evidence": ["通报"]});
        assert_eq!(r.import(&format!("{line}\n")).code, 0);
    }
    let recorded: Vec<String> = export_lines(&r)[3..]
        .iter()
        .map(|line| {
            parse(line)["computed_points"]
                .as_str()
                .expect("points")
                .to_string()
        })
        .collect();
    assert_eq!(recorded, ["3", "1"]);
}

// ---------------------------------------------------------------------------------------------
// The documents say it.

fn read_doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    std::fs::read_to_string(path).expect("the document")
}

/// The member lists of EVENTS.md's "The export line", by type (and array element): name →
/// (member, optional).
fn documented_members() -> std::collections::BTreeMap<String, Vec<(String, bool)>> {
    let doc = read_doc("EVENTS.md");
    let at = doc
        .find("and the fields of each type")
        .expect("the member table");
    let block = doc[at..].split("```").nth(1).expect("a code block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().expect("a type").to_string();
            let members = words
                .map(|w| (w.trim_end_matches('?').to_string(), w.ends_with('?')))
                .collect();
            (name, members)
        })
        .collect()
}

/// `keys` follow `documented` in order, leaving out only optional members.
#[track_caller]
fn follows(keys: &[String], documented: &[(String, bool)], what: &str) {
    let mut it = keys.iter().peekable();
    for (name, optional) in documented {
        if it.peek().is_some_and(|k| *k == name) {
            it.next();
        } else {
            assert!(
                *optional,
                "{what}: `{name}` missing or out of order in {keys:?}"
            );
        }
    }
    assert!(
        it.next().is_none(),
        "{what}: members beyond the documented ones: {keys:?}"
    );
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// Guards that EVENTS.md's member order is kaohe's: every line of two ledgers holding every
/// event kind (signed and unsigned, a close with a reason and one without) has exactly the
/// documented members in the documented order, its closing arrays' objects too.
#[test]
fn the_documented_member_order_is_the_order_kaohe_writes() {
    let members = documented_members();
    let head: Vec<(String, bool)> = ["seq", "recorded_at", "prev_hash", "hash", "body", "type"]
        .iter()
        .map(|k| (k.to_string(), false))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for l in [
        crate::schemas::signed_ledger(),
        crate::schemas::unsigned_ledger(),
    ] {
        for line in export_lines(&l) {
            let v = parse(&line);
            let kind = v["type"].as_str().expect("type").to_string();
            let mut documented = head.clone();
            documented.extend(members[&kind].iter().cloned());
            follows(&keys(&v), &documented, &kind);
            seen.insert(kind);
            for array in ["scores", "rankings", "accepted_gaps"] {
                for item in v[array].as_array().into_iter().flatten() {
                    follows(&keys(item), &members[&format!("{array}[]")], array);
                    for entry in item["entries"].as_array().into_iter().flatten() {
                        follows(&keys(entry), &members["entries[]"], "entries");
                    }
                }
            }
        }
    }
    assert_eq!(seen.len(), 11, "every kind was seen: {seen:?}");
}

/// Guards PROOFS.md, "Key files": the files `key new` writes are exactly the documented lines,
/// for every actor kind; the reader takes the documented other spellings (CR LF, blank lines,
/// space around names and values) and refuses the documented faults (exit 2).
#[test]
fn key_files_are_as_documented() {
    let l = TestLedger::with_stations();
    let hex64 = |s: &str| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    for (flag, kind, name) in [
        ("--dept", "department", "基层科"),
        ("--station", "station", "WJ01"),
        ("--bureau", "bureau", "司法局"),
        ("--witness", "witness", "见证 人"),
    ] {
        let file = l.path(&format!("{kind}.key"));
        let path = file.to_str().expect("utf-8");
        l.ok(&["key", "new", flag, name, "--out", path]);
        let private = std::fs::read_to_string(&file).expect("key");
        let public = std::fs::read_to_string(format!("{path}.pub")).expect("pub");
        let p: Vec<&str> = private.split_inclusive('\n').collect();
        assert_eq!(p.len(), 4, "{private}");
        assert_eq!(p[0], "kaohe-key v1\n");
        assert_eq!(p[1], format!("actor: {kind} {name}\n"));
        let key = p[2]
            .strip_prefix("public: ")
            .expect("public")
            .trim_end_matches('\n');
        assert!(hex64(key), "{key}");
        let secret = p[3]
            .strip_prefix("secret: ")
            .expect("secret")
            .trim_end_matches('\n');
        assert!(hex64(secret), "{secret}");
        assert_eq!(
            public,
            format!("kaohe-public-key v1\nactor: {kind} {name}\npublic: {key}\n")
        );
    }
    let public = std::fs::read_to_string(l.path("department.key.pub")).expect("pub");
    let key = public.lines().nth(2).expect("public line")["public: ".len()..].to_string();
    let register = |text: &str| {
        let f = l.path("k.pub");
        std::fs::write(&f, text).expect("write");
        l.run(&["key", "register", f.to_str().expect("utf-8")])
    };
    for bad in [
        format!(
            "kaohe-public-key v1\nactor: department 基层科\npublic: {}\n",
            key.to_uppercase()
        ),
        format!("kaohe-public-key v1\nactor: department 基层科\npublic: {key}\nnote: x\n"),
        format!("kaohe-public-key v1\npublic: {key}\n"),
        format!("kaohe-public-key v1\nactor: office 基层科\npublic: {key}\n"),
        format!("kaohe-public-key v1\nactor: department\npublic: {key}\n"),
        format!("kaohe-key v2\nactor: department 基层科\npublic: {key}\n"),
    ] {
        let out = register(&bad);
        assert_eq!(out.code, 2, "accepted: {bad}");
        assert!(
            out.stderr.contains("not a kaohe key file"),
            "{}",
            out.stderr
        );
    }
    let loose =
        format!(" kaohe-public-key v1 \r\n\r\n  actor :  department 基层科 \r\npublic:{key}  \r\n");
    let out = register(&loose);
    assert_eq!(
        out.code, 0,
        "the documented other spellings: {}",
        out.stderr
    );
}
