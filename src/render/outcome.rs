//! What a write did, as JSON and as a line of text: the command line prints it, the service
//! returns it.

use crate::domain::rubric::Rubric;
use crate::events::event::{EventKind, Hash};
use crate::ledger::Applied;
use crate::render::view::signed_points;
use serde_json::{json, Map, Value};

/// A write's outcome as `--json` prints it (and the service returns it): status, seq, type,
/// and the fields that identify what was written.
pub fn outcome_json(rubric: &Rubric, seq: u64, appended: bool, kind: &EventKind) -> Value {
    let status = if appended { "appended" } else { "unchanged" };
    let mut m = Map::new();
    m.insert("status".into(), json!(status));
    m.insert("seq".into(), json!(seq));
    m.insert("type".into(), json!(kind.type_name()));
    if let Some(id) = kind.id() {
        m.insert("id".into(), json!(id));
    }
    if let Some(s) = kind.station() {
        m.insert("station".into(), json!(s));
    }
    if let EventKind::PointsRecorded(p) = kind {
        m.insert("clause".into(), json!(p.clause));
        m.insert(
            "computed_points".into(),
            json!(p.computed_points.to_string()),
        );
        let bonus = rubric.clause(&p.clause).is_some_and(|(i, _)| i.bonus);
        m.insert(
            "direction".into(),
            json!(if bonus { "bonus" } else { "deduction" }),
        );
    }
    if let EventKind::MetricReported(x) = kind {
        m.insert("metric".into(), json!(x.metric));
        m.insert("value".into(), json!(x.value.to_string()));
    }
    if let EventKind::AppealFiled(a) = kind {
        m.insert("against".into(), json!(a.against));
    }
    if let EventKind::AppealDecided(d) = kind {
        m.insert("appeal".into(), json!(d.appeal));
        m.insert("against".into(), json!(d.against));
        m.insert("outcome".into(), json!(d.outcome.as_str()));
        if let Some(p) = d.outcome.points() {
            m.insert("points".into(), json!(p.to_string()));
        }
    }
    if let EventKind::RecordReversed(r) = kind {
        m.insert("target".into(), json!(r.target));
    }
    Value::Object(m)
}

/// A write's outcome as one line for people.
pub fn outcome_text(rubric: &Rubric, seq: u64, appended: bool, kind: &EventKind) -> String {
    let unchanged = !appended;
    let what = match kind {
        EventKind::StationRegistered(s) => {
            format!("station {} {} ({})", s.code, s.name, s.kind.as_str())
        }
        EventKind::PointsRecorded(p) => {
            let bonus = rubric.clause(&p.clause).is_some_and(|(i, _)| i.bonus);
            format!(
                "{} {}: clause {} for {}, computed_points {} ({})",
                if bonus { "bonus" } else { "deduction" },
                p.id,
                p.clause,
                p.station,
                p.computed_points,
                signed_points(rubric, &p.clause, &p.computed_points)
            )
        }
        EventKind::MetricReported(m) => {
            format!(
                "metric {}: {} = {} for {}",
                m.id, m.metric, m.value, m.station
            )
        }
        EventKind::AppealFiled(a) => {
            format!("appeal {} by {} against seq {}", a.id, a.station, a.against)
        }
        EventKind::AppealDecided(d) => format!(
            "decision on appeal {} (against seq {}): {}{} by {}",
            d.appeal,
            d.against,
            d.outcome.as_str(),
            d.outcome
                .points()
                .map(|p| format!(", {p} points stand"))
                .unwrap_or_default(),
            d.by
        ),
        EventKind::RecordReversed(r) => {
            format!("reversal {} of seq {} by {}", r.id, r.target, r.by)
        }
        EventKind::PeriodClosed(c) => format!("period closed ({} stations)", c.scores.len()),
        EventKind::KeyRegistered(k) => {
            format!(
                "key {} registered for {}",
                hex::encode(k.public_key),
                k.actor
            )
        }
        EventKind::KeyRevoked(k) => format!("key {} revoked", hex::encode(k.public_key)),
        EventKind::SignaturesRequired => "signatures required".into(),
        EventKind::RootKey(k) => format!(
            "signatures required; root key {} of {}",
            hex::encode(k.public_key),
            k.actor
        ),
        EventKind::LedgerCreated(_) => "genesis".into(),
        EventKind::LedgerFollows(f) => format!(
            "genesis following ledger {} (sealed at seq {})",
            hex::encode(f.previous.ledger_id),
            f.previous.seq
        ),
    };
    if unchanged {
        format!("unchanged (already recorded at seq {seq}, same content): {what}")
    } else {
        format!("recorded at seq {seq}: {what}")
    }
}

/// An import's summary as `import --json` prints it.
pub fn import_json(applied: &Applied, head: &Hash) -> Value {
    json!({
        "commands": applied.commands,
        "appended": applied.appended,
        "unchanged": applied.unchanged,
        "first_seq": applied.first_seq,
        "last_seq": applied.last_seq,
        "head": hex::encode(head),
    })
}

/// An import's summary for people, with a note when lines without an id would be recorded
/// again by a second import of the same file.
pub fn import_text(applied: &Applied, head: &Hash) -> String {
    let range = match (applied.first_seq, applied.last_seq) {
        (Some(a), Some(b)) if a == b => format!(" (seq {a})"),
        (Some(a), Some(b)) => format!(" (seq {a}–{b})"),
        _ => String::new(),
    };
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "imported {}: {} appended{range}, {} unchanged\nhead {}\n",
        plural(applied.commands, "command", "commands"),
        plural(applied.appended, "event", "events"),
        applied.unchanged,
        hex::encode(head)
    );
    let without_id = applied.without_id;
    if without_id > 0 {
        text.push_str(&format!(
            "note: {} without an id; importing this file again would record {} again (give each line an id to make re-imports safe)\n",
            plural(without_id, "line was", "lines were"),
            if without_id == 1 { "it" } else { "them" }
        ));
    }
    text
}

/// A refused close as `close --json` prints it: what stops the close, line by line.
pub fn close_refused_json(message: &str) -> Value {
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    json!({ "closed": false, "refused": lines })
}
