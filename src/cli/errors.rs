//! Exit codes and how the library's errors map to them: 0 ok, 1 a check found a problem
//! (damage is reported with how to restore), 2 bad input or usage.

use anyhow::anyhow;
use jiff::Timestamp;
use kaohe::ops::actions::ActionError;
use kaohe::ops::proofs;
use kaohe::LedgerError;
use std::path::Path;

/// The exit code of a check that found a problem.
pub const EXIT_PROBLEM: u8 = 1;
/// The exit code of bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;
/// The exit code of a ledger another kaohe process holds: nothing is wrong, try again (or
/// give `--wait SECONDS`).
pub const EXIT_BUSY: u8 = 3;

/// A run that ended with a definite exit code and message.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub(super) fn bad(message: impl Into<String>) -> anyhow::Error {
    anyhow!(Exit {
        code: EXIT_BAD_INPUT,
        message: message.into(),
    })
}

pub(super) fn problem(message: impl Into<String>) -> anyhow::Error {
    anyhow!(Exit {
        code: EXIT_PROBLEM,
        message: message.into(),
    })
}

/// Maps a library error to the exit code its kind deserves.
pub(super) fn ledger_err(e: LedgerError) -> anyhow::Error {
    if e.is_busy() {
        return anyhow!(Exit {
            code: EXIT_BUSY,
            message: format!("{e} (`--wait SECONDS` waits longer)"),
        });
    }
    if e.is_damage() {
        return anyhow!(Damage(e.to_string()));
    }
    anyhow!(Exit {
        code: EXIT_BAD_INPUT,
        message: e.to_string(),
    })
}

/// Maps a proof error to its exit code: 1 when a check failed or the ledger is damaged, 2
/// when the input is unreadable or the request cannot be served.
pub(super) fn proof_err(e: proofs::ProofError, failing: &str) -> anyhow::Error {
    use proofs::ProofError as P;
    match e {
        P::Failed(m) => problem(format!("{failing}: {m}")),
        P::Unreadable(m) | P::Refused(m) => bad(m),
        P::Ledger(e) => ledger_err(e),
        P::Store(e) => ledger_err(LedgerError::Store(e)),
    }
}

/// Damage found in the ledger (exit 1); [`run`] adds how to restore it.
#[derive(Debug)]
pub(super) struct Damage(pub(super) String);

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Damage {}

/// What a damaged ledger's user can do: how far it was last verified, and how to restore it.
pub(super) fn restore_hint(db: &Path) -> String {
    let last = match kaohe::ops::actions::last_verified(db) {
        Ok(Some(v)) => {
            let at = v
                .at_us
                .and_then(|us| Timestamp::from_microsecond(us).ok())
                .map(|t| format!(" on {t}"))
                .unwrap_or_default();
            format!(
                "last full verification: seq {} (head {}){at}",
                v.seq,
                hex::encode(v.hash)
            )
        }
        Ok(None) => "last full verification: never (`kaohe verify` records each success)".into(),
        Err(_) => "last full verification: unknown (the store cannot be read)".into(),
    };
    format!(
        "{last}\nto restore: export a backup copy of the ledger (`kaohe --db BACKUP export > ledger.jsonl`) or take a previous export, then `kaohe restore ledger.jsonl --db NEW` (it verifies the export first and builds NEW from it); `kaohe --db {} verify` checks this ledger in full",
        db.display()
    )
}

/// Maps a use case's error to its exit code.
pub(super) fn action_err(e: ActionError) -> anyhow::Error {
    match e {
        ActionError::Ledger(e) => ledger_err(e),
        ActionError::Proof(e) => proof_err(e, "the check failed"),
        ActionError::Field(e) => bad(e.to_string()),
        ActionError::Input(m, _) => bad(m),
        ActionError::Problem(m, _) => problem(m),
    }
}
