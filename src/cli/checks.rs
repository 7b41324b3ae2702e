//! Commands that check: verification of a ledger, an export, evidence files, receipts and
//! consistency proofs. Exit 1 when a check fails.

use super::args::WitnessArgs;
use super::errors::{action_err, bad, ledger_err, problem, proof_err, Damage, Exit, EXIT_PROBLEM};
use super::input::{checkpoint_arg, now, open_read, pubkey_arg, read_limited};
use super::witness;
use anyhow::{anyhow, Context as _, Result};
use kaohe::ops::{actions, export, proofs, verify, years};
use kaohe::render::checks;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

pub(super) fn receipt(
    db: &Path,
    event: Option<&str>,
    seq: Option<u64>,
    checkpoint: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open_read(db)?;
    let last = ledger.head().next_seq - 1;
    let (found, asked) = match (event, seq) {
        (_, Some(n)) => ((n <= last).then_some(n), n.to_string()),
        (Some(key), None) => (
            ledger.find_event(key.trim()).map_err(ledger_err)?,
            key.to_string(),
        ),
        (None, None) => return Err(bad("give an id, a seq or a hash, or --seq")),
    };
    let Some(seq) = found else {
        return Err(bad(format!(
            "no event `{asked}`: give an id, a seq (0–{last}) or a 64-digit hash"
        )));
    };
    let note = checkpoint
        .map(|p| {
            read_limited(
                p,
                kaohe::limits::MAX_CHECKPOINT_BYTES as u64,
                "checkpoint file",
            )
        })
        .transpose()?;
    let r = proofs::receipt(&ledger, seq, note.as_deref())
        .map_err(|e| proof_err(e, "cannot make the receipt"))?;
    writeln!(out, "{r}")?;
    Ok(())
}

pub(super) fn consistency(db: &Path, old: &str, new: &str, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let old = checkpoint_arg(&ledger, old)?;
    let new = checkpoint_arg(&ledger, new)?;
    let r = proofs::consistency(&ledger, &old, &new)
        .map_err(|e| proof_err(e, "cannot prove consistency"))?;
    writeln!(out, "{r}")?;
    Ok(())
}

pub(super) fn verify_ledger(
    db: &Path,
    head: Option<&kaohe::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let report = actions::verify(db, head, now().ok()).map_err(ledger_err)?;
    finish_ledger_verify(&report, as_json, out)
}

/// [`finish_verify`] for a stored ledger: a problem is damage, reported with how to restore.
pub(super) fn finish_ledger_verify(
    report: &verify::Report,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    finish_verify(
        report.events,
        &report.head,
        report.expected_head_at,
        report.problem.clone().map(|p| (p.seq, None, p.message)),
        as_json,
        out,
    )
    .map_err(|e| match e.downcast::<Exit>() {
        Ok(x) if x.code == EXIT_PROBLEM => anyhow!(Damage(x.message)),
        Ok(x) => anyhow!(x),
        Err(e) => e,
    })
}

/// `verify --evidence`: the ledger as `verify` checks it, then the stored evidence files.
pub(super) fn verify_evidence(
    db: &Path,
    head: Option<&kaohe::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let (report, check) =
        actions::verify_with_evidence(db, head, now().ok()).map_err(ledger_err)?;
    let Some(check) = check else {
        return finish_ledger_verify(&report, as_json, out);
    };
    let (problems, notes) = checks::evidence_findings(&check);
    if as_json {
        let v = checks::evidence_json(&report, &check, &problems, &notes);
        writeln!(out, "{v}")?;
    } else {
        write!(out, "{}", checks::evidence_text(&report, &check, &notes))?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problem(format!(
            "evidence verification failed:\n  {}",
            problems.join("\n  ")
        )))
    }
}

/// An export file, or stdin for `-`.
fn export_input(file: &Path) -> Result<Box<dyn BufRead>> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(file)
        .with_context(|| format!("cannot read {}", file.display()))
        .map_err(|e| bad(e.to_string()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
}

pub(super) fn verify_export(
    file: &Path,
    head: Option<&kaohe::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let report = export::verify(export_input(file)?, head).map_err(|e| bad(e.to_string()))?;
    finish_verify(
        report.events,
        &report.head,
        report.expected_head_at,
        report.problem.map(|p| (p.seq, Some(p.line), p.message)),
        as_json,
        out,
    )
}

pub(super) fn finish_verify(
    events: u64,
    head: &kaohe::event::Hash,
    expected_head_at: Option<u64>,
    problem: Option<(u64, Option<usize>, String)>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if as_json {
        let v = match &problem {
            None => json!({
                "ok": true, "events": events, "head": hex::encode(head),
                "expected_head_at": expected_head_at,
            }),
            Some((seq, line, message)) => json!({
                "ok": false, "events_verified": events, "first_bad_seq": seq,
                "line": line, "problem": message,
            }),
        };
        writeln!(out, "{v}")?;
    }
    match problem {
        None => {
            if !as_json {
                writeln!(
                    out,
                    "ok: {events} events verified\nhead {}",
                    hex::encode(head)
                )?;
            }
            Ok(())
        }
        Some((seq, line, message)) => {
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Err(super::errors::problem(format!(
                "verification failed at seq {seq}{at}: {message}"
            )))
        }
    }
}

/// What `verify --export` checks the export against besides its own chain: a signed
/// checkpoint (`--checkpoint NOTE --pubkey KEY`) and its witnesses.
pub(super) struct Against<'a> {
    pub(super) checkpoint: Option<&'a Path>,
    pub(super) pubkey: Option<&'a str>,
    pub(super) witnesses: &'a WitnessArgs,
    /// `--follows PREV`: the previous year's ledger the ledger's genesis must follow.
    pub(super) follows: Option<&'a Path>,
    /// `--follows-export PREV`: the same for an export, against the previous year's export.
    pub(super) follows_export: Option<&'a Path>,
}

/// `verify`: a stored ledger, an export (`--export FILE`), or the ledger and its evidence
/// files (`--evidence`), optionally against a published head; an export also against a
/// signed checkpoint and its witnesses.
pub(super) fn verify(
    db: &Path,
    export: Option<&Path>,
    head: Option<&str>,
    evidence: bool,
    against: &Against<'_>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let head = head
        .map(|h| {
            kaohe::parse_typed_hash(h.trim())
                .ok_or_else(|| bad(format!("--head `{h}` is not 64 hex digits")))
        })
        .transpose()?;
    if !against.witnesses.witness.is_empty() && against.checkpoint.is_none() {
        return Err(bad(
            "--witness needs the checkpoint they cosigned: verify --export FILE --checkpoint NOTE --pubkey KEY --witness WKEY",
        ));
    }
    match (export, against.checkpoint, against.pubkey) {
        (Some(file), Some(note), Some(key)) => {
            let checkpoint = (note, key, against.witnesses);
            verify_export_checkpoint(file, head.as_ref(), checkpoint, as_json, out)
        }
        (Some(file), _, _) => match against.follows_export {
            Some(previous) => verify_export_follows(file, head.as_ref(), previous, as_json, out),
            None => verify_export(file, head.as_ref(), as_json, out),
        },
        (None, _, _) if evidence => verify_evidence(db, head.as_ref(), as_json, out),
        (None, _, _) => match against.follows {
            Some(previous) => verify_follows(db, head.as_ref(), previous, as_json, out),
            None => verify_ledger(db, head.as_ref(), as_json, out),
        },
    }
}

/// `verify --follows PREV`: the ledger as `verify` checks it, then its genesis against the
/// previous year's closed ledger (`actions::verify_follows`); exit 1 when they do not match.
fn verify_follows(
    db: &Path,
    head: Option<&kaohe::event::Hash>,
    previous: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let (report, follows) =
        actions::verify_follows(db, head, previous, now().ok()).map_err(action_err)?;
    match follows {
        None => finish_ledger_verify(&report, as_json, out),
        Some(follows) => {
            let verified = (report.events, &report.head, report.expected_head_at);
            finish_follows(verified, None, previous, follows, as_json, out)
        }
    }
}

/// `verify --export FILE --follows-export PREV`: the export as `verify --export` checks it,
/// then its genesis against the previous year's export (`years::check_exports`).
fn verify_export_follows(
    file: &Path,
    head: Option<&kaohe::event::Hash>,
    previous: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let checked = years::check_exports(export_input(file)?, head, export_input(previous)?)
        .map_err(|e| bad(e.to_string()))?;
    let r = checked.report;
    match checked.follows {
        None => finish_verify(
            r.events,
            &r.head,
            r.expected_head_at,
            r.problem.map(|p| (p.seq, Some(p.line), p.message)),
            as_json,
            out,
        ),
        Some(follows) => {
            let verified = (r.events, &r.head, r.expected_head_at);
            finish_follows(verified, Some(1), previous, follows, as_json, out)
        }
    }
}

/// What `verify --follows` / `--follows-export` prints once the newer year verified: the
/// sealed head its genesis follows (exit 0), or why it does not follow `previous` (exit 1,
/// blamed on the genesis, at `line` in an export).
fn finish_follows(
    (events, head, expected_head_at): (u64, &kaohe::event::Hash, Option<u64>),
    line: Option<usize>,
    previous: &Path,
    follows: Result<kaohe::event::Sealed, years::Mismatch>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let sealed = match follows {
        Ok(sealed) => sealed,
        Err(m) => {
            let message = format!("it does not follow {}: {}", previous.display(), m.message);
            return finish_verify(
                events,
                head,
                expected_head_at,
                Some((0, line, message)),
                as_json,
                out,
            );
        }
    };
    if as_json {
        let v = json!({
            "ok": true, "events": events, "head": hex::encode(head),
            "expected_head_at": expected_head_at,
            "follows": {
                "ledger_id": hex::encode(sealed.ledger_id),
                "period_start": sealed.period_start.to_string(),
                "period_end": sealed.period_end.to_string(),
                "seq": sealed.seq, "hash": hex::encode(sealed.hash),
            },
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "ok: {events} events verified\nhead {}\nfollows ledger {} ({} to {}): {} verifies and was closed at seq {} with hash {}",
            hex::encode(head),
            hex::encode(sealed.ledger_id),
            sealed.period_start,
            sealed.period_end,
            previous.display(),
            sealed.seq,
            hex::encode(sealed.hash)
        )?;
    }
    Ok(())
}

/// `verify --export FILE --checkpoint NOTE --pubkey KEY [--witness WKEY… --quorum N]`: the
/// export as `verify --export` checks it, the checkpoint's signature, its witnesses, and the
/// export's root at the checkpoint's size.
fn verify_export_checkpoint(
    file: &Path,
    head: Option<&kaohe::event::Hash>,
    (note_file, pubkey, witnesses): (&Path, &str, &WitnessArgs),
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let public = pubkey_arg(pubkey)?;
    let quorum = witness::quorum(witnesses)?;
    let limit = kaohe::limits::MAX_CHECKPOINT_BYTES as u64;
    let note = read_limited(note_file, limit, "checkpoint file")?;
    proofs::read_checkpoint(&note)
        .map_err(|m| bad(format!("--checkpoint {}: {m}", note_file.display())))?;
    let cp = proofs::verify_checkpoint(&note, &public)
        .map_err(|e| proof_err(e, "the checkpoint does not verify"))?;
    let witnessed = witness::check(quorum.as_ref(), &note, "the checkpoint is not witnessed")?;
    let er =
        proofs::export_root(export_input(file)?, head, cp.size).map_err(|e| bad(e.to_string()))?;
    let r = &er.report;
    if let Some(p) = &r.problem {
        let problem = Some((p.seq, Some(p.line), p.message.clone()));
        return finish_verify(r.events, &r.head, r.expected_head_at, problem, as_json, out);
    }
    proofs::check_export_root(&er, &cp)
        .map_err(|e| proof_err(e, "the export does not match the checkpoint"))?;
    if as_json {
        let mut v = json!({
            "ok": true, "events": r.events, "head": hex::encode(r.head),
            "expected_head_at": r.expected_head_at,
            "checkpoint": {
                "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root),
                "public_key": hex::encode(public),
            },
        });
        if let Some(w) = &witnessed {
            v["witnesses"] = checks::quorum_json(w);
        }
        writeln!(out, "{v}")?;
    } else {
        write!(
            out,
            "ok: {} events verified\nhead {}\ncheckpoint: the first {} events of {} have root {}, signed by key {}\n{}",
            r.events, hex::encode(r.head), cp.size, cp.origin, hex::encode(cp.root),
            hex::encode(public), witness::text(witnessed.as_ref())
        )?;
    }
    Ok(())
}

/// `verify-receipt FILE --pubkey KEY`: offline, with no ledger.
pub(super) fn verify_receipt(
    file: &Path,
    pubkey: &str,
    witnesses: &WitnessArgs,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let public = pubkey_arg(pubkey)?;
    let quorum = witness::quorum(witnesses)?;
    let text = read_limited(file, kaohe::limits::MAX_RECEIPT_BYTES, "receipt")?;
    let failing = "the receipt does not verify";
    let r = proofs::verify_receipt(&text, &public).map_err(|e| proof_err(e, failing))?;
    let witnessed = witness::check(quorum.as_ref(), &r.note, failing)?;
    let cp = &r.checkpoint;
    if as_json {
        let mut v = json!({
            "ok": true, "seq": r.seq, "hash": hex::encode(r.hash), "type": r.event_type,
            "origin": cp.origin, "tree_size": cp.size, "root": hex::encode(cp.root),
            "public_key": hex::encode(public),
        });
        if let Some(w) = &witnessed {
            v["witnesses"] = checks::quorum_json(w);
        }
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "ok: event seq {} ({}, hash {}) is leaf {} of the tree of {} events of {} with root {}, signed by key {}",
            r.seq, r.event_type, hex::encode(r.hash), r.seq, cp.size, cp.origin,
            hex::encode(cp.root), hex::encode(public)
        )?;
        write!(out, "{}", witness::text(witnessed.as_ref()))?;
    }
    Ok(())
}

/// `verify-consistency FILE --pubkey KEY`: offline, with no ledger.
pub(super) fn verify_consistency(
    file: &Path,
    pubkey: &str,
    witnesses: &WitnessArgs,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let public = pubkey_arg(pubkey)?;
    let quorum = witness::quorum(witnesses)?;
    let text = read_limited(
        file,
        kaohe::limits::MAX_CONSISTENCY_BYTES,
        "consistency file",
    )?;
    let failing = "the consistency proof does not verify";
    let r = proofs::verify_consistency(&text, &public).map_err(|e| proof_err(e, failing))?;
    let witnessed = witness::check(quorum.as_ref(), &r.new_note, failing)?;
    if as_json {
        let mut v = json!({
            "ok": true, "origin": r.new.origin,
            "old": {"size": r.old.size, "root": hex::encode(r.old.root)},
            "new": {"size": r.new.size, "root": hex::encode(r.new.root)},
            "public_key": hex::encode(public),
        });
        if let Some(w) = &witnessed {
            v["witnesses"] = checks::quorum_json(w);
        }
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "ok: the tree of {} events (root {}) extends the tree of {} events (root {}) of {}, both signed by key {}",
            r.new.size, hex::encode(r.new.root), r.old.size, hex::encode(r.old.root),
            r.new.origin, hex::encode(public)
        )?;
        write!(out, "{}", witness::text(witnessed.as_ref()))?;
    }
    Ok(())
}
