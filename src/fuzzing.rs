//! The bodies of the fuzz targets (`fuzz/fuzz_targets/`), shared with the regression tests
//! (`tests/it/fuzzcases.rs`) so that a case found by the fuzzer is replayed by `cargo test`.
//!
//! Each function takes arbitrary bytes, feeds them to one reader of outside input, and panics
//! (an assertion) only when an invariant breaks; a refusal is the expected answer to garbage.
//! The invariants:
//!
//! - [`import_line`]: a parsed command keeps every bound the parser promises (text trimmed and
//!   bounded, no control characters, decimals within range and places); reading the same bytes
//!   as an import file gives, line for line, what [`command::parse_line`] gives.
//! - [`event_decode`]: the codec's fast path and its full decoder give the same answer; a
//!   decoded body encodes back to exactly the input bytes (one event, one body); its export
//!   line checks back to the same body; the audit does not panic on it.
//! - [`rubric_load`]: a rubric that loads loads again to the same rubric, its lookups agree with
//!   its lists, and every clause computes canonical points (or refuses) for a set of inputs.
//! - [`receipt_verify`]: the offline verifiers never accept what the checkpoint key did not
//!   sign: anything accepted must agree with a ledger whose event hashes are known here.
//!
//! The known ledger is the one whose receipts, consistency file and checkpoints are the seeds
//! in `fuzz/seeds/receipt_verify/` (made with `kaohe checkpoint`, `receipt` and `consistency`).

use crate::base::decimal;
use crate::base::limits::*;
use crate::domain::audit::Audit;
use crate::domain::command::{self, Command};
use crate::domain::rubric::{self, Context};
use crate::events::chain;
use crate::events::codec;
use crate::events::event::{Hash, Inputs, StationKind};
use crate::events::merkle;
use crate::ops::export;
use crate::ops::proofs;
use rust_decimal::Decimal;

/// The public key that signed the seed checkpoints (a test key, made for the seeds).
pub const SEED_PUBLIC_KEY: &str =
    "52ec20a071af6afda8f50eacb85037798c2efaf0554b964cf25f440f05e3f582";

/// The origin of the seed ledger's checkpoints.
pub const SEED_ORIGIN: &str = "kaohe/9cd8a5347ecb3b051bbbe4407223356a";

/// The event hashes of the seed ledger, seq 0 to 30. Its key signed checkpoints of sizes 9
/// and 31 only.
pub const SEED_EVENT_HASHES: [&str; 31] = [
    "dea41e1a558384aef511499e0bbf5c94cf2aa751bd39d4423b4f0f63cfc5628c",
    "6ec21a2e4943971bfe773bd703919e7180cba38ad0e4178e54634c4a825c135f",
    "bc1d39e486b4b3ec5795a2d73ee996311286fcd1e174328adf5bc9dff7897119",
    "7e6f6c23bd8fc2d610c562efe7c6f8a98c81f36cd57a6f39fd6470b52e2e9d18",
    "46d393ded2f2338a2e9ffc93089a277d1413b788f1f126b7822a46338788b06d",
    "8433d51a887b9769fffe8e9985752fb3a6f79d873c382222ccfdd2246c2de822",
    "da2ed8e07b6c1f905281b140b4dcab2192af86130e456c5990123494369f68da",
    "7625090fec32afe2e7a57b1140e4f9f7e12767f001d20b4daf954ab09e25b4e5",
    "89fd21e3ca58bd044a8ea987f75fa56d5b9fe075b61d9a9801c5557dab996194",
    "ab50f65de49f4dbd63aa1989a4668d68914cfc2c3bf174179e7d06e4b48864bb",
    "ca8ff8580a858bb143024d8a936fc9eb29ba9bf813eb75763a042dcbce3df033",
    "d3d1755ac1b32fef759db0c58910ee1a68d8cd1c90db1a7b157cb9cb3a0bbf46",
    "d5ad13eb06b7a60c832b1e353dc7d5b5be35e989fc7ac0b19ae39fcde36c9fcd",
    "d82502e69cc9d3bf5e1e79f400ffdf0d2eda6cf56749a4a4fb6214202f670b54",
    "4f6cab861c2f1e7a5c7c3366adda2207514caf79d47e070902ce5d481f3b0fa8",
    "80c93de9ddfe33263947c51005030f5fbc32376c8ea66d65620bde5e6901d71d",
    "be7069c4bc8a002ca76952b139124f97859458f6ef59f698e73a7616a10d9434",
    "a3ce76b116bab6f30a0dde8fc51f1a23abd70f430383487015862c78abbf6888",
    "a7ac180354a140097931f530a4e084ab97673f62217658d421659b96b9312e28",
    "6a8ffb7f6218838543223b53703dfd8fda73a60c2b119ff80ee49da19dca0353",
    "df60ff3e700ab968f1529c0e71ee1944dade070be4a9c28ee72c0318918ccbbf",
    "0901784a0f4b4f6a39280a275ef97101e1c4a24842ebb0cac0abd411dac7eb36",
    "e6c90cdac3ee1f34e04d1e137154cf0bacc57804c58edb5133fa054ff02a02ce",
    "b985158945847a05e270bbb7bcc364cba2a5f00e480a0ed6793b85ffaf2b7fdf",
    "96f4fd2111876063d477d5eb759b41e0908671af9151af36baedf1e515e4d5b1",
    "a6b2d39d92114dde4793e1af6cf9b6066dc7e8fc58eb3ec02c936d37bb645983",
    "293f300105778faa23327b7f4edaa75550910dcc930eb97665f4bc208256a8b2",
    "076444538f167fbb1187fb78716857b32759f6648604b8e89caa7c8bff2f057e",
    "4228635c1c988e41297453da2ea7949b04d5270042d8e6cf333f2b6cb7e051b2",
    "9255e3243f7971893d40c260e914ab463104ad6ed8413e2f147fd9455141f914",
    "0d14ddf36b772bc26351f5e54bcf078c6ec836b4e7b1668b060c85f09a427c01",
];

/// The tree sizes the seed key signed.
pub const SEED_SIGNED_SIZES: [u64; 2] = [9, 31];

// ---------------------------------------------------------------------------------------------
// import_line

/// One import line ([`command::parse_line`]) and the same bytes as a whole import file
/// ([`crate::ops::import::read`]).
pub fn import_line(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = command::parse_line(text) {
            check_command(&c);
            assert_eq!(command::parse_line(text), Ok(c), "parsing is deterministic");
        }
    }
    if let Ok(commands) = crate::ops::import::read(data, |_| {}) {
        let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        for numbered in commands {
            let n = numbered
                .line
                .expect("an import command has its line number");
            let raw = lines[n - 1];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = std::str::from_utf8(raw).expect("an accepted line is UTF-8");
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            assert!(
                !text.trim().is_empty(),
                "line {n}: a blank line is a command"
            );
            check_command(&numbered.command);
            assert_eq!(
                command::parse_line(text).as_ref(),
                Ok(&numbered.command),
                "line {n}: import and parse_line disagree"
            );
        }
    }
}

/// The bounds a parsed command keeps.
fn check_command(c: &Command) {
    match c {
        Command::Station(s) => {
            bound::label(&s.code, MAX_STATION_CODE_CHARS);
            assert!(s
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
            bound::label(&s.name, MAX_STATION_NAME_CHARS);
        }
        Command::Record(r) => {
            bound::id(&r.id);
            assert!(!r.clause.is_empty() && !r.station.is_empty());
            bound::label(&r.by, MAX_DEPARTMENT_CHARS);
            let i = &r.inputs;
            i.value
                .iter()
                .chain(i.points.iter())
                .for_each(bound::figure);
            assert!(i.count.is_none_or(|n| n <= MAX_COUNT));
            assert!(i.done.is_none_or(|n| n <= MAX_DONE));
            if let Some(n) = &i.note {
                bound::text(n, MAX_NOTE_CHARS);
            }
            bound::evidence(&r.evidence, true);
        }
        Command::Metric(m) => {
            bound::id(&m.id);
            bound::figure(&m.value);
            bound::label(&m.by, MAX_DEPARTMENT_CHARS);
            bound::evidence(&m.evidence, true);
        }
        Command::Appeal(a) => {
            bound::id(&a.id);
            bound::label(&a.against, MAX_REFERENCE_CHARS);
            bound::text(&a.grounds, MAX_GROUNDS_CHARS);
            bound::evidence(&a.evidence, true);
        }
        Command::Decide(d) => {
            bound::label(&d.appeal, MAX_REFERENCE_CHARS);
            d.points.iter().for_each(bound::figure);
            bound::label(&d.by, MAX_DEPARTMENT_CHARS);
            bound::text(&d.reason, MAX_REASON_CHARS);
            bound::evidence(&d.evidence, true);
        }
        Command::Reverse(r) => {
            bound::id(&r.id);
            bound::label(&r.target, MAX_REFERENCE_CHARS);
            bound::label(&r.by, MAX_DEPARTMENT_CHARS);
            bound::text(&r.reason, MAX_REASON_CHARS);
            bound::evidence(&r.evidence, false);
        }
        Command::KeyRegister(k) => {
            assert!(crate::events::sign::is_public_key(&k.public_key));
        }
        Command::KeyRevoke(k) => {
            assert!(crate::events::sign::is_public_key(&k.public_key));
            bound::text(&k.reason, MAX_REASON_CHARS);
        }
    }
}

/// The checks of one kind of field of a parsed command, for [`check_command`].
mod bound {
    use crate::base::limits::*;
    use rust_decimal::Decimal;

    /// Trimmed, not empty, within `max` characters, no control character but a line break.
    pub(super) fn text(t: &str, max: usize) {
        assert!(!t.is_empty() && t.trim() == t, "text {t:?} is not trimmed");
        assert!(t.chars().count() <= max, "text {t:?} is over {max}");
        assert!(
            !t.chars().any(|c| c.is_control() && c != '\n'),
            "text {t:?} holds a control character"
        );
    }

    /// A [`text`] of one line.
    pub(super) fn label(t: &str, max: usize) {
        text(t, max);
        assert!(!t.contains('\n'), "label {t:?} holds a line break");
    }

    /// An id, when given: a [`label`] without spaces.
    pub(super) fn id(i: &Option<String>) {
        if let Some(i) = i {
            label(i, MAX_ID_CHARS);
            assert!(
                !i.chars().any(char::is_whitespace),
                "id {i:?} holds a space"
            );
        }
    }

    /// Evidence references: bounded in number and length, at least one when `required`.
    pub(super) fn evidence(e: &[String], required: bool) {
        assert!(!required || !e.is_empty(), "no evidence");
        assert!(
            e.len() <= MAX_EVIDENCE_COUNT,
            "{} evidence references",
            e.len()
        );
        for r in e {
            label(r, MAX_EVIDENCE_CHARS);
        }
    }

    /// A figure within range and places, without trailing zeros.
    pub(super) fn figure(d: &Decimal) {
        assert!(d.scale() <= MAX_DECIMAL_PLACES, "{d} has too many places");
        assert!(d.abs() <= Decimal::from(MAX_ABS_VALUE), "{d} is too large");
        assert_eq!(d.scale(), d.normalize().scale(), "{d} is not normalised");
    }
}

// ---------------------------------------------------------------------------------------------
// event_decode

/// An event body ([`codec::decode`]).
pub fn event_decode(data: &[u8]) {
    let decoded = codec::decode(data);
    assert_eq!(
        decoded,
        codec::decode_in_full(data),
        "the fast path and the full decoder disagree"
    );
    let Ok(body) = decoded else {
        return;
    };
    assert!(
        body.kind().decimals_canonical(),
        "a decoded body has a non-canonical decimal"
    );
    let bytes = codec::encode(&body).expect("a decoded body encodes");
    assert_eq!(bytes, data, "decode then encode changed the bytes");
    assert_eq!(codec::decode(&bytes).as_ref(), Ok(&body));

    // Its export line checks back to the same body.
    let prev = [7u8; 32];
    let hash = chain::link(&prev, data);
    let line = export::line(&body, data, &prev, &hash);
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&line).expect("an export line is a JSON object");
    let (p, h, b) = export::check_event(obj).expect("an export line checks");
    assert_eq!((p, h), (prev, hash));
    assert_eq!(b, body);

    // The audit judges it (refusing most) without panicking.
    let _ = Audit::new().check(body.seq(), &body, &chain::GENESIS_PREV);
}

// ---------------------------------------------------------------------------------------------
// rubric_load

/// A rubric file ([`rubric::load`]).
pub fn rubric_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = rubric::load(text) else {
        return;
    };
    let again = rubric::load(text).expect("a rubric that loaded loads again");
    assert_eq!(
        format!("{r:?}"),
        format!("{again:?}"),
        "loading is deterministic"
    );

    for (position, item) in r.items().enumerate() {
        let found = r.item(&item.code).expect("every item is found by its code");
        assert_eq!(found.code, item.code);
        assert_eq!(r.item_position(&item.code), Some(position));
        for clause in &item.clauses {
            let (owner, found) = r.clause(&clause.code).expect("every clause is found");
            assert_eq!(
                (owner.code.as_str(), found.code.as_str()),
                (item.code.as_str(), clause.code.as_str())
            );
            let _ = clause.rule.describe();
            for metric in clause.rule.metrics() {
                assert!(
                    r.metric(metric).is_some(),
                    "clause {} reads unknown metric {metric}",
                    clause.code
                );
            }
            compute_clause(&r, clause);
        }
    }
    for d in &r.departments {
        assert_eq!(r.department(&d.name), Some(d.name.as_str()));
    }
    for m in &r.metrics {
        for v in sample_figures() {
            let _ = m.check_bounds(v);
        }
    }
}

fn sample_figures() -> Vec<Decimal> {
    let max = Decimal::from(MAX_ABS_VALUE);
    let tiny = Decimal::new(1, MAX_DECIMAL_PLACES);
    vec![
        Decimal::ZERO,
        Decimal::ONE,
        Decimal::new(5, 1),
        Decimal::from(95),
        Decimal::from(100),
        tiny,
        -tiny,
        max,
        -max,
        max - tiny,
    ]
}

/// Every clause computes points from a spread of inputs for both kinds of station, or refuses
/// them; the points are canonical with at most six places.
fn compute_clause(r: &rubric::Rubric, clause: &rubric::Clause) {
    let figures = sample_figures();
    let counts = [None, Some(0), Some(1), Some(7), Some(MAX_COUNT)];
    let mut inputs_list = Vec::new();
    for v in figures.iter() {
        inputs_list.push(Inputs {
            value: Some(*v),
            ..Inputs::default()
        });
        inputs_list.push(Inputs {
            points: Some(*v),
            ..Inputs::default()
        });
        for count in counts {
            inputs_list.push(Inputs {
                points: Some(*v),
                count,
                ..Inputs::default()
            });
        }
    }
    for done in [0, 1, 3, MAX_DONE] {
        inputs_list.push(Inputs {
            done: Some(done),
            ..Inputs::default()
        });
    }
    for count in counts {
        inputs_list.push(Inputs {
            count,
            ..Inputs::default()
        });
    }
    for kind in [StationKind::Town, StationKind::Subdistrict] {
        for prior_count in [0, 1, MAX_COUNT, u32::MAX] {
            let ctx = Context {
                station_kind: kind,
                prior_count,
            };
            for inputs in &inputs_list {
                if let Ok(points) = r.compute(clause, &ctx, inputs) {
                    assert!(
                        decimal::is_canonical(&points) && points.scale() <= MAX_DECIMAL_PLACES,
                        "clause {}: points {points} are not canonical",
                        clause.code
                    );
                    let _ = clause.rule.working(kind, inputs, points);
                }
                if let Some(v) = inputs.value {
                    let _ = r.shortfall_points(clause, kind, v);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// receipt_verify

fn seed_hashes() -> Vec<Hash> {
    SEED_EVENT_HASHES
        .iter()
        .map(|h| chain::parse_hash(h).expect("seed hash"))
        .collect()
}

fn seed_key() -> [u8; 32] {
    chain::parse_hash(SEED_PUBLIC_KEY).expect("seed key")
}

/// A checkpoint the seed key signed must be one of the seed ledger's trees.
fn assert_signed_tree(cp: &proofs::Checkpoint, hashes: &[Hash]) {
    assert_eq!(
        cp.origin, SEED_ORIGIN,
        "a checkpoint of another origin was accepted"
    );
    assert!(
        SEED_SIGNED_SIZES.contains(&cp.size),
        "a checkpoint of size {} was accepted; the key signed {SEED_SIGNED_SIZES:?}",
        cp.size
    );
    assert_eq!(
        cp.root,
        merkle::root(&hashes[..cp.size as usize]),
        "a checkpoint with a forged root was accepted"
    );
}

/// A receipt, a consistency file and a checkpoint note ([`proofs::verify_receipt`],
/// [`proofs::verify_consistency`], [`proofs::read_checkpoint`],
/// [`proofs::verify_checkpoint`]), all checked against the seed ledger's key.
pub fn receipt_verify(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = seed_key();
    let hashes = seed_hashes();

    if let Ok(report) = proofs::verify_receipt(text, &key) {
        assert_signed_tree(&report.checkpoint, &hashes);
        assert!(report.seq < report.checkpoint.size);
        assert_eq!(
            report.hash, hashes[report.seq as usize],
            "a receipt for an event the ledger does not hold at seq {} was accepted",
            report.seq
        );
    }

    if let Ok(report) = proofs::verify_consistency(text, &key) {
        assert_signed_tree(&report.old, &hashes);
        assert_signed_tree(&report.new, &hashes);
        assert!(report.old.size <= report.new.size);
    }

    if let Ok(cp) = proofs::verify_checkpoint(text, &key) {
        assert_signed_tree(&cp, &hashes);
    }

    if let Ok(cp) = proofs::read_checkpoint(text) {
        // Strict reading: the note's text is exactly the canonical text of what it says.
        assert!(
            text.starts_with(&cp.text()) && text[cp.text().len()..].starts_with('\n'),
            "a checkpoint read from a note that is not its canonical text"
        );
        assert_eq!(proofs::Checkpoint::parse_text(&cp.text()), Ok(cp));
    }
}
