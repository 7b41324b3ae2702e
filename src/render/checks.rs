//! What the checks found, as `verify --evidence` prints it.

use crate::ops::evidence::Check;
use crate::ops::verify::Report;
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
