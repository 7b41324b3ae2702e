//! `kaohe serve`: opens the ledger for the service and serves it until stopped.

use super::errors::{bad, ledger_err};
use super::input::{now, signer};
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};

pub(super) fn serve(
    db: &Path,
    listen: std::net::SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    checkpoints: Option<(PathBuf, u64)>,
    out: &mut impl Write,
) -> Result<()> {
    // The clock is read now so that a bad KAOHE_NOW is refused before the server starts.
    now()?;
    let key = checkpoints
        .as_ref()
        .map(|(file, _)| signer(Some(file)))
        .transpose()?
        .flatten();
    let clock = Box::new(|| now().unwrap_or_else(|_| jiff::Timestamp::now()));
    let mut service = kaohe::service::Service::open(db, clock).map_err(ledger_err)?;
    if let Some(key) = key {
        service = service
            .with_checkpoint_key(key)
            .map_err(|e| bad(format!("--checkpoint-key: {e}")))?;
    }
    let config = kaohe::web::Config {
        listen,
        tls,
        checkpoint_every: checkpoints.map(|(_, s)| std::time::Duration::from_secs(s)),
    };
    let mut printed = Ok(());
    kaohe::web::serve(service, config, |addr| {
        printed = writeln!(out, "listening on {addr}").and_then(|_| out.flush());
    })
    .map_err(|e| bad(e.to_string()))?;
    printed?;
    Ok(())
}
