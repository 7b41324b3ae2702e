//! Commands that read: scores, explanations, logs, exports, lists and the report.

use super::args::{ExportFormat, TimeArgs};
use super::errors::{action_err, bad, ledger_err, problem, proof_err};
use super::input::{emit, file_err, open_read, out_dir, read_limited};
use anyhow::Result;
use kaohe::files::{write_whole, Leftover, NewFile, Place};
use kaohe::ops::actions::{self, EventName};
use kaohe::ops::{explain, export, proofs};
use kaohe::render::{lists, rubrics, view};
use kaohe::Query;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::path::Path;

/// `checkpoint --list`.
pub(super) fn checkpoint_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let all = proofs::stored_checkpoints(&ledger).map_err(|e| proof_err(e, "checkpoints"))?;
    if as_json {
        let v: Vec<Value> = all
            .iter()
            .map(|s| lists::checkpoint_json(s, None))
            .collect();
        writeln!(out, "{}", Value::Array(v))?;
    } else {
        write!(out, "{}", lists::checkpoints_text(&all))?;
    }
    Ok(())
}

pub(super) fn score(db: &Path, q: &Query, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let s = actions::scores(&ledger, q).map_err(ledger_err)?;
    if as_json {
        let mut w = std::io::BufWriter::new(out);
        let json = view::score_json(&s.scores, &s.view, s.final_at, &s.consequences);
        serde_json::to_writer(&mut w, &json)?;
        writeln!(w)?;
        w.flush()?;
    } else {
        if *q != Query::default() {
            writeln!(out, "view: {}\n", s.view.describe())?;
        }
        if let Some(seq) = s.final_at {
            writeln!(
                out,
                "final scores: the period was closed at seq {seq}, rank bonuses included\n"
            )?;
        }
        write!(out, "{}", view::score_table(&s.scores, &s.consequences))?;
    }
    Ok(())
}

pub(super) fn explain(
    db: &Path,
    station: &str,
    item: Option<&str>,
    q: &Query,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open_read(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let x = explain::explain(&ledger, &view, station, item).map_err(ledger_err)?;
    emit(
        out,
        as_json,
        || view::explain_json(&x),
        || view::explain_text(&x, ledger.rubric()),
    )
}

/// The file an `--out FILE` names, opened to be written: a file name (not a directory) outside
/// the ledger directory. FILE.tmp is created exclusively (never through a link), and removed if
/// anything fails; a link at FILE is refused (see `kaohe::files`).
fn out_file(db: &Path, file: &Path) -> Result<NewFile> {
    let name = file.display();
    if file.as_os_str().is_empty() || file.file_name().is_none() {
        return Err(bad(format!("--out `{name}` does not name a file")));
    }
    if file.is_dir() {
        return Err(bad(format!(
            "--out {name} is a directory; give a file name"
        )));
    }
    out_dir(db, file)?;
    NewFile::create(file, 0o666, Leftover::Refuse, Place::Replace).map_err(file_err)
}

pub(super) fn report(
    db: &Path,
    file: &Path,
    stations: Vec<String>,
    q: &Query,
    out: &mut impl Write,
) -> Result<()> {
    let name = file.display();
    let tmp = out_file(db, file)?;
    let tmp_name = tmp.temp().display().to_string();
    let ledger = open_read(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let opts = kaohe::render::report::Options { stations };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    let summary =
        kaohe::render::report::write(&ledger, &view, &opts, &mut w).map_err(|e| match e {
            kaohe::render::report::ReportError::Ledger(e) => ledger_err(e),
            e => bad(format!("{tmp_name}: {e}")),
        })?;
    w.into_inner()
        .map_err(|e| bad(format!("cannot write {tmp_name}: {}", e.error())))?
        .finish()
        .map_err(file_err)?;
    writeln!(
        out,
        "wrote {name}: {} stations ranked, {} station sections, {} records, {} bytes\nview: {}",
        summary.stations,
        summary.sections,
        summary.events,
        summary.bytes,
        view.describe()
    )?;
    if let Some(p) = ledger.follows() {
        writeln!(out, "{}", kaohe::render::view::follows_text(p))?;
    }
    Ok(())
}

pub(super) fn show(
    db: &Path,
    name: EventName<'_>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open_read(db)?;
    let last = ledger.head().next_seq - 1;
    let seq = actions::find_event(&ledger, name).map_err(action_err)?;
    let (line, next_hash) = actions::event_line(&ledger, seq).map_err(action_err)?;
    let mut v: Map<String, Value> = serde_json::from_str(&line)?;
    if as_json {
        v.insert("last_seq".into(), json!(last));
        v.insert("next_hash".into(), json!(next_hash));
        writeln!(out, "{}", Value::Object(v))?;
        return Ok(());
    }
    writeln!(out, "event seq {seq} of 0–{last}")?;
    for (k, val) in &v {
        if k == "body" || k == "rubric" {
            continue;
        }
        // A nested object (a following genesis' `previous`): one line per member.
        if let Value::Object(members) = val {
            for (member, x) in members {
                let text = x.as_str().map_or(x.to_string(), str::to_string);
                writeln!(out, "  {:<16} {text}", format!("{k}.{member}"))?;
            }
            continue;
        }
        let text = match val {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        writeln!(out, "  {k:<16} {text}")?;
    }
    if let Some(h) = next_hash {
        writeln!(out, "  {:<16} {h}", "next_hash")?;
    } else {
        writeln!(out, "  (this is the head)")?;
    }
    let body = v.get("body").and_then(Value::as_str).unwrap_or_default();
    writeln!(out, "  {:<16} {} bytes: {body}", "body", body.len() / 2)?;
    Ok(())
}

pub(super) fn key_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let keys = ledger.keys().map_err(ledger_err)?;
    emit(
        out,
        as_json,
        || lists::keys_json(&keys),
        || lists::keys_table(&keys),
    )
}

pub(super) fn appeal_list(
    db: &Path,
    station: Option<&str>,
    pending: bool,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open_read(db)?;
    if let Some(code) = station {
        actions::known_station(&ledger, code).map_err(action_err)?;
    }
    let entries = kaohe::ops::appeals::list(&ledger, station, pending).map_err(ledger_err)?;
    emit(
        out,
        as_json,
        || view::appeals_json(ledger.rubric(), &entries),
        || view::appeals_table(&entries),
    )
}

pub(super) fn stations(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let list = actions::stations(&ledger).map_err(ledger_err)?;
    emit(
        out,
        as_json,
        || lists::stations_json(&list),
        || lists::stations_table(&list),
    )
}

pub(super) fn log(
    db: &Path,
    station: Option<&str>,
    q: &Query,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open_read(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    if let Some(s) = station {
        actions::known_station(&ledger, s).map_err(action_err)?;
    }
    let mut table = view::log_table();
    let mut io_err = None;
    ledger
        .replay_view(&view, |e| {
            if station.is_some() && e.body.kind().station() != station {
                return Ok(true);
            }
            if as_json {
                let mut m = export::decoded(e.body);
                m.insert("hash".into(), json!(hex::encode(e.hash)));
                if let Err(err) = writeln!(out, "{}", Value::Object(m)) {
                    io_err = Some(err);
                    return Ok(false);
                }
            } else {
                table.row(view::log_row(ledger.rubric(), e.body));
                if table.held() >= LOG_PAGE_ROWS {
                    if let Err(err) = write!(out, "{}", table.page()) {
                        io_err = Some(err);
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })
        .map_err(ledger_err)?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    if !as_json {
        write!(out, "{}", table.page())?;
    }
    Ok(())
}

/// Rows `log` holds before it prints them: a long log streams in pages this long, aligned
/// within the first page and never narrower after it.
const LOG_PAGE_ROWS: usize = 4096;

pub(super) fn export_all(db: &Path, q: &Query, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let mut w = std::io::BufWriter::new(out);
    let mut io_err = None;
    ledger
        .replay_view(&view, |e| {
            let line = export::line(e.body, e.bytes, e.prev_hash, e.hash);
            if let Err(err) = writeln!(w, "{line}") {
                io_err = Some(err);
                return Ok(false);
            }
            Ok(true)
        })
        .map_err(ledger_err)?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    w.flush()?;
    Ok(())
}

/// `export --scores`: every station's score per item, as CSV, as `score --json`, or as an
/// Excel workbook; to stdout, or with `--out FILE` to that file (a workbook only to a file).
pub(super) fn export_scores(
    db: &Path,
    q: &Query,
    format: ExportFormat,
    file: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    let file = file.filter(|f| f.as_os_str() != "-");
    if format == ExportFormat::Xlsx && file.is_none() {
        return Err(bad(
            "--format xlsx writes an Excel workbook, which is binary: give --out FILE.xlsx \
             (it is never written to a terminal or stdout)",
        ));
    }
    let tmp = file.map(|f| out_file(db, f)).transpose()?;
    let ledger = open_read(db)?;
    let s = actions::scores(&ledger, q).map_err(ledger_err)?;
    let render = |w: &mut dyn Write| -> Result<()> {
        match format {
            ExportFormat::Json => {
                let json = view::score_json(&s.scores, &s.view, s.final_at, &s.consequences);
                serde_json::to_writer(&mut *w, &json)?;
                writeln!(w)?;
            }
            ExportFormat::Xlsx => {
                let about = match s.final_at {
                    Some(seq) => format!(
                        "{}; final scores: the period was closed at seq {seq}",
                        s.view.describe()
                    ),
                    None => s.view.describe(),
                };
                let bytes = kaohe::render::xlsx::workbook(&s.scores, ledger.rubric(), &about)
                    .map_err(|e| anyhow::anyhow!(e))?;
                w.write_all(&bytes)?;
            }
            // (jsonl is refused with --scores before this.)
            ExportFormat::Csv | ExportFormat::Jsonl => {
                kaohe::render::scores::write_scores(&mut &mut *w, &s.scores)?
            }
        }
        Ok(())
    };
    let (Some(tmp), Some(file)) = (tmp, file) else {
        let mut w = std::io::BufWriter::new(out);
        render(&mut w)?;
        w.flush()?;
        return Ok(());
    };
    let tmp_name = tmp.temp().display().to_string();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    render(&mut w).map_err(|e| bad(format!("cannot write {tmp_name}: {e}")))?;
    w.into_inner()
        .map_err(|e| bad(format!("cannot write {tmp_name}: {}", e.error())))?
        .finish()
        .map_err(file_err)?;
    let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
    writeln!(
        out,
        "wrote {}: {} stations, {bytes} bytes\nview: {}",
        file.display(),
        s.scores.len(),
        s.view.describe()
    )?;
    Ok(())
}

/// `export`: the events as JSON Lines, or with `--scores` the scores as CSV, JSON or a workbook.
pub(super) fn export(
    db: &Path,
    time: &TimeArgs,
    scores: bool,
    format: Option<ExportFormat>,
    file: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    match (scores, format) {
        (false, None | Some(ExportFormat::Jsonl)) => export_all(db, &time.query()?, out),
        (false, Some(_)) => Err(bad(
            "--format csv, json or xlsx needs --scores (events export only as jsonl)",
        )),
        (true, Some(ExportFormat::Jsonl)) => Err(bad(
            "--scores exports --format csv, json or xlsx, not jsonl",
        )),
        (true, f) => export_scores(
            db,
            &time.query()?,
            f.unwrap_or(ExportFormat::Csv),
            file,
            out,
        ),
    }
}

/// `reconcile --tallies FILE`: exit 0 when every row agrees, 1 when any differs, 2 when the
/// file cannot be reconciled.
pub(super) fn reconcile_tallies(
    db: &Path,
    file: &Path,
    q: &Query,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    use kaohe::ops::reconcile::{self, ReconcileError};
    let name = if file.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        file.display().to_string()
    };
    let input: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        Box::new(f)
    };
    // A workbook by its name, or (stdin too) by its first bytes: see `reconcile::read_any`.
    let named_xlsx = file
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("xlsx"));
    let in_file = |e: ReconcileError| match e {
        ReconcileError::Ledger(e) => ledger_err(e),
        e => bad(format!("{name}: {e}")),
    };
    let rows = reconcile::read_any(input, named_xlsx).map_err(in_file)?;
    let ledger = open_read(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let mismatches = reconcile::reconcile(&ledger, &view, &rows).map_err(in_file)?;
    let rows_text = format!(
        "{} {}",
        rows.len(),
        if rows.len() == 1 { "row" } else { "rows" }
    );
    if as_json {
        writeln!(
            out,
            "{}",
            kaohe::render::reconcile::mismatches_json(&mismatches)
        )?;
    } else {
        if *q != Query::default() {
            writeln!(out, "view: {}\n", view.describe())?;
        }
        if mismatches.is_empty() {
            writeln!(out, "{name}: {rows_text}, all agree with the ledger")?;
        } else {
            writeln!(
                out,
                "{name}: {} of {rows_text} differ from the ledger:\n",
                mismatches.len()
            )?;
            write!(
                out,
                "{}",
                kaohe::render::reconcile::mismatches_table(&mismatches)
            )?;
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(problem(format!(
            "{name}: {} of {rows_text} differ from the ledger",
            mismatches.len()
        )))
    }
}

/// `evidence get HASH --out FILE`.
pub(super) fn evidence_get(db: &Path, hash: &str, file: &Path, out: &mut impl Write) -> Result<()> {
    let t = hash.trim();
    let t = t
        .strip_prefix(kaohe::ops::evidence::REFERENCE_PREFIX)
        .unwrap_or(t);
    let hash = kaohe::parse_typed_hash(t)
        .ok_or_else(|| bad(format!("`{hash}` is not a hash of 64 hex digits")))?;
    let name = file.display();
    if file.as_os_str().is_empty() || file.file_name().is_none() {
        return Err(bad(format!("--out `{name}` does not name a file")));
    }
    if std::fs::symlink_metadata(file).is_ok() {
        return Err(bad(format!(
            "--out {name} already exists; kaohe does not overwrite it: choose another path"
        )));
    }
    out_dir(db, file)?;
    let ledger = open_read(db)?;
    let hex_hash = hex::encode(hash);
    let bytes = actions::evidence_file(&ledger, &hash).map_err(action_err)?;
    // Never over anything, never through a link (see `kaohe::files`).
    write_whole(file, &bytes, 0o666, Leftover::Refuse, Place::New).map_err(file_err)?;
    writeln!(
        out,
        "wrote {name}: {} bytes, blake3 {hex_hash}",
        bytes.len()
    )?;
    Ok(())
}

/// `evidence list`: each stored file with the events that reference it, then references
/// whose file is not stored.
pub(super) fn evidence_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let list = actions::evidence_list(&ledger).map_err(ledger_err)?;
    emit(
        out,
        as_json,
        || lists::evidence_json(&list),
        || lists::evidence_text(&list),
    )
}

/// `rubric check FILE`: the totals of a valid draft, or every error (exit 1).
pub(super) fn rubric_check(file: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let text = read_limited(file, kaohe::limits::MAX_RUBRIC_BYTES, "rubric file")?;
    match kaohe::ops::rubrics::check(&text) {
        Ok(draft) if as_json => writeln!(out, "{}", rubrics::totals_json(&draft))?,
        Ok(draft) => write!(out, "{}", rubrics::totals_text(&draft))?,
        Err(errors) => {
            if as_json {
                writeln!(out, "{}", rubrics::errors_json(&errors))?;
            }
            let n = errors.len();
            return Err(problem(format!(
                "{} is not a valid rubric ({n} error{}):\n{}",
                file.display(),
                if n == 1 { "" } else { "s" },
                errors.join("\n")
            )));
        }
    }
    Ok(())
}

/// `rubric diff OLD NEW`: what changed, part by part.
pub(super) fn rubric_diff(
    old: &Path,
    new: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let limit = kaohe::limits::MAX_RUBRIC_BYTES;
    let a = read_limited(old, limit, "rubric file")?;
    let b = read_limited(new, limit, "rubric file")?;
    let diffs = kaohe::ops::rubrics::diff(&a, &b).map_err(bad)?;
    match as_json {
        true => writeln!(out, "{}", rubrics::diff_json(&diffs))?,
        false => write!(out, "{}", rubrics::diff_text(&diffs))?,
    }
    Ok(())
}

pub(super) fn rubric(db: &Path, as_json: bool, as_toml: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open_read(db)?;
    let hash = hex::encode(ledger.genesis().rubric_hash);
    if as_toml {
        write!(out, "{}", ledger.genesis().rubric_toml)?;
    } else if as_json {
        writeln!(out, "{}", view::rubric_json(ledger.rubric(), &hash))?;
    } else {
        write!(out, "{}", view::rubric_text(ledger.rubric(), &hash))?;
    }
    Ok(())
}
