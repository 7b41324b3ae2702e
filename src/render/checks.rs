//! What the checks found: `verify --evidence`, and the witnesses of a checkpoint.

use crate::ops::evidence::Check;
use crate::ops::verify::Report;
use crate::ops::witness::{Cosigned, QuorumReport};
use serde_json::{json, Value};

/// What an evidence check found: problems (a damaged or missing file: the check fails) and
/// notes (harmless leftovers), each a sentence.
pub fn evidence_findings(check: &Check) -> (Vec<String>, Vec<String>) {
    let mut problems: Vec<String> = check
        .damaged
        .iter()
        .map(|(h, m)| {
            format!(
                "the stored evidence file {} is damaged: {m}",
                hex::encode(h)
            )
        })
        .collect();
    problems.extend(check.missing.iter().map(|(seq, h)| {
        format!(
            "seq {seq} references the evidence file {}, which is not stored",
            hex::encode(h)
        )
    }));
    let mut notes: Vec<String> = check
        .unreferenced
        .iter()
        .map(|h| {
            format!(
                "the stored evidence file {} is referenced by no event (left by a refused or interrupted command; harmless)",
                hex::encode(h)
            )
        })
        .collect();
    notes.extend(check.leftovers.iter().map(|n| {
        format!(
            "{}/{n} is not a stored evidence file (a leftover of an interrupted store; harmless)",
            crate::store::EVIDENCE_DIR
        )
    }));
    (problems, notes)
}

/// `verify --evidence --json`.
pub fn evidence_json(
    report: &Report,
    check: &Check,
    problems: &[String],
    notes: &[String],
) -> Value {
    json!({
        "ok": check.ok(), "events": report.events, "head": hex::encode(report.head),
        "expected_head_at": report.expected_head_at,
        "evidence": {
            "stored": check.stored.len(),
            "referenced": check.references.len(),
            "damaged": check.damaged.iter().map(|(h, m)| json!({"hash": hex::encode(h), "problem": m})).collect::<Vec<_>>(),
            "missing": check.missing.iter().map(|(s, h)| json!({"seq": s, "hash": hex::encode(h)})).collect::<Vec<_>>(),
            "unreferenced": check.unreferenced.iter().map(hex::encode).collect::<Vec<_>>(),
            "leftovers": check.leftovers,
        },
        "problems": problems, "notes": notes,
    })
}

/// `verify --evidence` for people: the events, the head, the files, and each note.
pub fn evidence_text(report: &Report, check: &Check, notes: &[String]) -> String {
    let mut text = format!(
        "{}: {} events verified\nhead {}\nevidence: {} files stored, {} referenced\n",
        if check.ok() { "ok" } else { "events ok" },
        report.events,
        hex::encode(report.head),
        check.stored.len(),
        check.references.len()
    );
    for n in notes {
        text.push_str(&format!("note: {n}\n"));
    }
    text
}

/// A cosignature's time for people: RFC 3339 in UTC (the raw seconds when out of range).
fn cosigned_at(timestamp: u64) -> String {
    i64::try_from(timestamp)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| timestamp.to_string())
}

/// The witnesses a quorum check found, as the `--json` outputs carry them.
pub fn quorum_json(r: &QuorumReport) -> Value {
    let cosigned: Vec<Value> = r
        .cosigned
        .iter()
        .map(|c| {
            json!({
                "name": c.witness.name, "public_key": hex::encode(c.witness.public),
                "timestamp": c.timestamp, "time": cosigned_at(c.timestamp),
            })
        })
        .collect();
    let missing: Vec<Value> = r
        .missing
        .iter()
        .map(|w| json!({"name": w.name, "public_key": hex::encode(w.public)}))
        .collect();
    json!({"quorum": r.quorum, "cosigned": cosigned, "missing": missing})
}

/// The witnesses a quorum check found, for people (one line, two when some did not cosign).
pub fn quorum_text(r: &QuorumReport) -> String {
    let names: Vec<String> = r
        .cosigned
        .iter()
        .map(|c| format!("`{}` at {}", c.witness.name, cosigned_at(c.timestamp)))
        .collect();
    let mut text = format!(
        "cosigned by {} of {} witnesses (quorum {}): {}\n",
        r.cosigned.len(),
        r.cosigned.len() + r.missing.len(),
        r.quorum,
        names.join(", ")
    );
    if !r.missing.is_empty() {
        let missing: Vec<String> = r.missing.iter().map(|w| format!("`{}`", w.name)).collect();
        text.push_str(&format!("not cosigned by: {}\n", missing.join(", ")));
    }
    text
}

/// What a witness cosigned (`kaohe witness --json`).
pub fn cosigned_json(c: &Cosigned) -> Value {
    let cp = &c.checkpoint;
    json!({
        "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root),
        "previous_size": c.previous.as_ref().map(|p| p.size),
        "witness": c.witness.name, "public_key": hex::encode(c.witness.public),
        "timestamp": c.timestamp, "time": cosigned_at(c.timestamp),
        "state_file": c.state_file.display().to_string(), "note": c.note,
    })
}
