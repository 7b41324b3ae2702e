//! Commands that write: each calls its use case (`kaohe::ops::actions`) and renders what it
//! returns.

use super::args::Request;
use super::errors::{action_err, bad, ledger_err, problem, proof_err};
use super::input::{emit, file_err, now, open, progress_bar, read_limited, signer};
use anyhow::Result;
use kaohe::files::{Leftover, NewFile, Place};
use kaohe::ops::actions;
use kaohe::render::{outcome, view};
use kaohe::LedgerError;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

pub(super) fn checkpoint(
    db: &Path,
    key: Option<&Path>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let Some(signer) = signer(key)? else {
        return Err(bad(
            "checkpoint needs a signing key: give --key FILE (`kaohe key new` makes one)",
        ));
    };
    let ledger = open(db)?;
    let s = actions::checkpoint(&ledger, &signer).map_err(|e| match e {
        actions::ActionError::Proof(e) => proof_err(e, "cannot checkpoint"),
        other => action_err(other),
    })?;
    if as_json {
        writeln!(
            out,
            "{}",
            kaohe::render::lists::checkpoint_json(&s, Some(&signer.public_key()))
        )?;
    } else {
        write!(out, "{}", s.note)?;
    }
    Ok(())
}

/// `checkpoint --add FILE`: a cosigned copy of a stored checkpoint.
pub(super) fn checkpoint_add(
    db: &Path,
    file: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let note = read_limited(
        file,
        kaohe::limits::MAX_CHECKPOINT_BYTES as u64,
        "checkpoint file",
    )?;
    let ledger = open(db)?;
    let s = actions::add_checkpoint_signatures(&ledger, &note)
        .map_err(|e| proof_err(e, "cannot add the checkpoint"))?;
    if as_json {
        writeln!(out, "{}", kaohe::render::lists::checkpoint_json(&s, None))?;
    } else {
        write!(out, "{}", s.note)?;
    }
    Ok(())
}

pub(super) fn init(
    db: &Path,
    rubric: &Path,
    bureau_key: Option<&Path>,
    follows: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    let text = read_limited(rubric, kaohe::limits::MAX_RUBRIC_BYTES, "rubric file")?;
    let root = bureau_key.map(read_bureau_key).transpose()?;
    let kaohe::InitOutcome::Created {
        ledger_id,
        rubric_hash,
        follows: previous,
    } = actions::init(db, &text, now()?, root, follows).map_err(action_err)?;
    writeln!(
        out,
        "created ledger {} at {}\nrubric {} (blake3 {})",
        hex::encode(ledger_id),
        db.display(),
        rubric.display(),
        hex::encode(rubric_hash)
    )?;
    if let Some(p) = previous {
        writeln!(out, "{}", kaohe::render::view::follows_text(&p))?;
    }
    Ok(())
}

/// Applies one command built from flags (`args::Request`): parsed as an import line, signed
/// with `--key` when given; its evidence files are stored before it is committed.
pub(super) fn submit(
    db: &Path,
    key: Option<&Path>,
    request: Request,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let command = actions::parse(&request.object).map_err(action_err)?;
    let signer = signer(key)?;
    let mut ledger = open(db)?;
    let written = actions::submit(
        &mut ledger,
        command,
        &request.files,
        signer.as_ref(),
        now()?,
    )
    .map_err(action_err)?;
    for w in &written {
        let (rubric, kind) = (ledger.rubric(), w.body.kind());
        if as_json {
            writeln!(
                out,
                "{}",
                outcome::outcome_json(rubric, w.seq, w.appended, kind)
            )?;
        } else {
            writeln!(
                out,
                "{}",
                outcome::outcome_text(rubric, w.seq, w.appended, kind)
            )?;
        }
    }
    Ok(())
}

pub(super) fn import_file(
    db: &Path,
    key: Option<&Path>,
    file: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let signer = signer(key)?;
    let (reader, size): (Box<dyn BufRead + Send>, Option<u64>) = if file.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
        let size = f.metadata().map(|m| m.len()).ok();
        (Box::new(BufReader::with_capacity(1 << 20, f)), size)
    };
    let mut ledger = open(db)?;
    let bar = progress_bar(size);
    let progress = |n| {
        if let Some(b) = &bar {
            b.set_position(n)
        }
    };
    let applied = actions::import(&mut ledger, reader, signer.as_ref(), now()?, progress)
        .map_err(ledger_err)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let head = ledger.head().hash;
    emit(
        out,
        as_json,
        || outcome::import_json(&applied, &head),
        || outcome::import_text(&applied, &head),
    )
}

/// `init --bureau-key FILE.pub`: the bureau's actor and public key.
fn read_bureau_key(path: &Path) -> Result<(kaohe::Actor, [u8; 32])> {
    let text = read_limited(path, kaohe::limits::MAX_KEY_FILE_BYTES, "key file")?;
    let (actor, public) =
        kaohe::sign::read_public(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    if !matches!(actor, kaohe::Actor::Bureau(_)) {
        return Err(bad(format!(
            "{}: --bureau-key takes a bureau's key (`kaohe key new --bureau NAME --out FILE`); this one is {actor}'s",
            path.display()
        )));
    }
    Ok((actor, public))
}

pub(super) fn close(
    db: &Path,
    key: Option<&Path>,
    accept_gaps: Option<String>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let signer = signer(key)?;
    let mut ledger = open(db)?;
    let closed = match actions::close(&mut ledger, now()?, accept_gaps.as_deref(), signer.as_ref())
    {
        Ok(closed) => closed,
        Err(e @ LedgerError::NotReady(..)) => {
            let message = e.to_string().trim_end().to_string();
            if as_json {
                // Scripts get the refusal on stdout too.
                writeln!(out, "{}", outcome::close_refused_json(&message))?;
            }
            return Err(problem(message));
        }
        Err(e) => return Err(ledger_err(e)),
    };
    emit(
        out,
        as_json,
        || view::closed_json(&closed),
        || view::closed_text(ledger.rubric(), &closed),
    )
}

pub(super) fn key_new(actor: kaohe::event::Actor, file: &Path, out: &mut impl Write) -> Result<()> {
    let pair = kaohe::sign::KeyPair::generate(actor).map_err(|e| problem(e.to_string()))?;
    let public = file.with_file_name(format!(
        "{}.pub",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    for path in [file, public.as_path()] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(bad(format!(
                "{} already exists; choose another --out (a key pair is written as a new FILE and FILE.pub)",
                path.display()
            )));
        }
    }
    // Both halves are written to FILE.tmp and FILE.pub.tmp (created exclusively, never through
    // a link) before either is put in place, each where nothing exists (see `kaohe::files`).
    let write = |path: &Path, text: String, mode: u32| -> Result<NewFile> {
        let mut f = NewFile::create(path, mode, Leftover::Refuse, Place::New).map_err(file_err)?;
        f.write_all(text.as_bytes())
            .map_err(|e| bad(format!("cannot write {}: {e}", f.temp().display())))?;
        Ok(f)
    };
    let private = write(file, pair.to_file_text(), 0o600)?;
    let public_file = write(&public, pair.to_public_text(), 0o644)?;
    let placed = private.finish().map_err(file_err)?;
    if let Err(e) = public_file.finish() {
        // Never leave a private key without its public half.
        placed.remove();
        return Err(file_err(e));
    }
    let next = match pair.actor {
        kaohe::event::Actor::Bureau(_) => format!(
            "name it the root of trust with `kaohe init --require-signatures --bureau-key {}`, or register it in a ledger rooted in another bureau key",
            public.display()
        ),
        kaohe::event::Actor::Witness(_) => {
            "give FILE to `kaohe witness --key`, and FILE.pub to those who check its cosignatures"
                .into()
        }
        _ => format!(
            "put it in force with `kaohe key register {}` (signed by the bureau's key where the ledger is rooted in one)",
            public.display()
        ),
    };
    writeln!(
        out,
        "made a key for {}: {} (private, mode 0600) and {}\npublic key {}\n{next}",
        pair.actor,
        file.display(),
        public.display(),
        hex::encode(pair.public_key()),
    )?;
    Ok(())
}

/// `restore FILE`: rebuild a ledger at `--db` from a verified export.
pub(super) fn restore(db: &Path, file: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    use kaohe::ops::restore::Source;
    if file.as_os_str() != "-" && is_backup_file(file) {
        return restore_backup(db, file, as_json, out);
    }
    let mut stdin;
    let source = if file.as_os_str() == "-" {
        stdin = std::io::stdin().lock();
        Source::Reader(&mut stdin)
    } else {
        Source::File(file)
    };
    let r = kaohe::ops::restore::restore(source, db).map_err(restore_err)?;
    let evidence_note = (r.evidence_events > 0).then(|| {
        format!(
            "{} events reference {} evidence files (`blake3:`); an export does not carry the files: copy the `{}` directory of the original ledger (or a backup) into {}, then check with `kaohe --db {} verify --evidence`",
            r.evidence_events,
            r.evidence_files,
            kaohe::ops::actions::EVIDENCE_DIR,
            r.path.display(),
            r.path.display()
        )
    });
    if as_json {
        let v = json!({
            "ok": true, "db": r.path.display().to_string(), "events": r.events,
            "head": hex::encode(r.head), "tally_rows": r.tally_rows, "stations": r.stations,
            "evidence_events": r.evidence_events, "evidence_files": r.evidence_files,
            "evidence_restored": false, "note": evidence_note,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "restored {} events into {} (verified)\nhead {}",
            r.events,
            r.path.display(),
            hex::encode(r.head)
        )?;
        if let Some(n) = evidence_note {
            writeln!(out, "note: {n}")?;
        }
    }
    Ok(())
}

/// Maps a restore's error to its exit code.
fn restore_err(e: kaohe::ops::restore::RestoreError) -> anyhow::Error {
    use kaohe::ops::restore::RestoreError;
    match e {
        RestoreError::Exists(_) | RestoreError::Input(_) => bad(e.to_string()),
        e if e.is_problem() => problem(e.to_string()),
        e => bad(e.to_string()),
    }
}

/// True when the file starts with a backup's first line (an export starts with `{`).
fn is_backup_file(file: &Path) -> bool {
    let mut head = [0u8; 32];
    std::fs::File::open(file)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .is_ok_and(|n| kaohe::ops::backup::is_backup(&head[..n]))
}

/// `restore BACKUP`: the events, evidence files and checkpoints, all verified first.
fn restore_backup(db: &Path, file: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let (r, b) = kaohe::ops::backup::restore(file, db).map_err(restore_err)?;
    if as_json {
        let v = json!({
            "ok": true, "db": r.path.display().to_string(), "events": r.events,
            "head": hex::encode(r.head), "tally_rows": r.tally_rows, "stations": r.stations,
            "evidence_events": r.evidence_events, "evidence_files": b.evidence_files,
            "evidence_restored": true, "checkpoints": b.checkpoints, "note": null,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "restored {} events, {} evidence files and {} checkpoints into {} (verified)\nhead {}",
            r.events,
            b.evidence_files,
            b.checkpoints,
            r.path.display(),
            hex::encode(r.head)
        )?;
    }
    Ok(())
}

/// `backup --out FILE`: written to FILE.tmp (created new, never through a link; mode 0600,
/// for a backup holds the evidence files), synced, then put at FILE, which must not exist.
pub(super) fn backup(db: &Path, file: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let name = file.display();
    if file.as_os_str().is_empty() || file.file_name().is_none() {
        return Err(bad(format!("--out `{name}` does not name a file")));
    }
    super::input::out_dir(db, file)?;
    let tmp = NewFile::create(file, 0o600, Leftover::Refuse, Place::New)
        .map_err(super::input::file_err)?;
    let tmp_name = tmp.temp().display().to_string();
    let ledger = super::input::open_read(db)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let summary = kaohe::ops::backup::write(&ledger, &mut w).map_err(ledger_err)?;
    w.into_inner()
        .map_err(|e| bad(format!("cannot write {tmp_name}: {}", e.error())))?
        .finish()
        .map_err(super::input::file_err)?;
    emit(
        out,
        as_json,
        || {
            json!({
                "ok": true, "file": name.to_string(), "events": summary.events,
                "evidence_files": summary.evidence_files, "evidence_bytes": summary.evidence_bytes,
                "checkpoints": summary.checkpoints, "hash": hex::encode(summary.hash),
            })
        },
        || {
            format!(
                "wrote {name}: {} events, {} evidence files ({} bytes), {} checkpoints\nblake3 {}\n",
                summary.events,
                summary.evidence_files,
                summary.evidence_bytes,
                summary.checkpoints,
                hex::encode(summary.hash)
            )
        },
    )
}
