//! What the command line reads from outside: the clock, files with a bound, key files, the
//! ledger it opens, and where it may write.

use super::errors::{bad, ledger_err, proof_err};
use anyhow::Result;
use jiff::Timestamp;
use kaohe::ops::proofs;
use kaohe::Ledger;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// The clock: now, or `KAOHE_NOW` (RFC 3339) when set, so that tests can fix time.
pub(super) fn now() -> Result<Timestamp> {
    match std::env::var("KAOHE_NOW") {
        Ok(t) => t
            .parse()
            .map_err(|e| bad(format!("KAOHE_NOW `{t}` is not an RFC 3339 time: {e}"))),
        Err(_) => Ok(Timestamp::now()),
    }
}

/// Opens the ledger to write to it: the command holds it alone.
pub(super) fn open(db: &Path) -> Result<Ledger> {
    Ledger::open(db).map_err(ledger_err)
}

/// Opens the ledger to read it: nothing in it is written, and other commands may read it
/// meanwhile (`Ledger::open_read`).
pub(super) fn open_read(db: &Path) -> Result<Ledger> {
    Ledger::open_read(db).map_err(ledger_err)
}

/// `--pubkey`: 64 hex digits, or a key file (private or public).
pub(super) fn pubkey_arg(arg: &str) -> Result<[u8; 32]> {
    public_key_arg("--pubkey", arg)
}

/// A public key given with `flag`: 64 hex digits, or a key file (private or public).
pub(super) fn public_key_arg(flag: &str, arg: &str) -> Result<[u8; 32]> {
    if let Some(public) = proofs::parse_public_hex(arg) {
        return Ok(public);
    }
    let text = read_limited(
        Path::new(arg),
        kaohe::limits::MAX_KEY_FILE_BYTES,
        "key file",
    )?;
    let (_, public) =
        kaohe::sign::read_public(&text).map_err(|e| bad(format!("{flag} {arg}: {e}")))?;
    Ok(public)
}

/// A checkpoint argument: the size of a stored checkpoint (digits), else a note file.
pub(super) fn checkpoint_arg(ledger: &Ledger, arg: &str) -> Result<String> {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        let size = arg
            .parse::<u64>()
            .map_err(|_| bad(format!("`{arg}` is not a size")))?;
        let s = proofs::stored_checkpoint(ledger, size).map_err(|e| proof_err(e, "checkpoint"))?;
        return Ok(s.note);
    }
    read_limited(
        Path::new(arg),
        kaohe::limits::MAX_CHECKPOINT_BYTES as u64,
        "checkpoint file",
    )
}

pub(super) fn read_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.len() > limit {
        return Err(bad(format!(
            "{what} {} is {} bytes; the limit is {limit}",
            path.display(),
            meta.len()
        )));
    }
    // The size a path reports is not a bound (`/dev/zero`, a pipe): read at most one byte more.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, limit + 1), &mut bytes)
        })
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(bad(format!(
            "{what} {} is longer than {limit} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|_| bad(format!("{what} {} is not UTF-8", path.display())))
}

/// Applies one command built from flags.
/// The signing key of `--key` / `KAOHE_KEY`, read and checked.
pub(super) fn signer(key: Option<&Path>) -> Result<Option<kaohe::sign::KeyPair>> {
    let Some(path) = key else {
        return Ok(None);
    };
    let text = read_limited(path, kaohe::limits::MAX_KEY_FILE_BYTES, "key file")?;
    kaohe::sign::KeyPair::from_file_text(&text)
        .map(Some)
        .map_err(|e| bad(format!("--key {}: {e}", path.display())))
}

/// A progress bar on a terminal, for files large enough to wait for.
pub(super) fn progress_bar(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    const MIN_BYTES_FOR_BAR: u64 = 4 * 1024 * 1024;
    let size = size?;
    if size < MIN_BYTES_FOR_BAR || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("reading");
    Some(bar)
}

/// An `--out` path's directory must exist and lie outside the ledger directory (kaohe has
/// the ledger open while it writes).
pub(super) fn out_dir(db: &Path, file: &Path) -> Result<()> {
    let name = file.display();
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(bad(format!(
            "--out {name}: the directory {} does not exist",
            parent.display()
        )));
    }
    if let (Ok(dir), Ok(ledger_dir)) = (parent.canonicalize(), db.canonicalize()) {
        if dir.starts_with(&ledger_dir) {
            return Err(bad(format!(
                "--out {name} is inside the ledger directory {}: writing there would damage the ledger; choose a path outside it",
                db.display()
            )));
        }
    }
    Ok(())
}

/// A file that could not be written (see `kaohe::files`): bad usage, exit 2.
pub(super) fn file_err(e: kaohe::files::FileError) -> anyhow::Error {
    bad(e.to_string())
}

/// Prints an answer as one JSON line (`--json`) or as text for people; only the one asked
/// for is made.
pub(super) fn emit<J: std::fmt::Display, T: std::fmt::Display>(
    out: &mut impl Write,
    as_json: bool,
    json: impl FnOnce() -> J,
    text: impl FnOnce() -> T,
) -> Result<()> {
    if as_json {
        writeln!(out, "{}", json())?;
    } else {
        write!(out, "{}", text())?;
    }
    Ok(())
}
