//! Witnesses on the command line: `kaohe witness` (cosign a ledger's checkpoint, with no
//! ledger), and the witnesses a verifier requires (`--witness WKEY… [--quorum N]`).

use super::args::WitnessArgs;
use super::errors::{bad, proof_err};
use super::input::{emit, now, public_key_arg, read_limited, signer};
use anyhow::Result;
use kaohe::ops::witness::{self, Quorum, QuorumReport, WitnessKey};
use kaohe::render::checks;
use std::io::{Read as _, Write};
use std::path::Path;

/// `witness --state DIR --key WITNESS.key --log-key LOGKEY INPUT`: never opens --db.
pub(super) fn witness(
    state: &Path,
    key: Option<&Path>,
    log_key: &str,
    input: &Path,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let Some(key) = signer(key)? else {
        return Err(bad(
            "witness needs the witness's key: give --key FILE (`kaohe key new --witness NAME --out FILE` makes one)",
        ));
    };
    let log_key = public_key_arg("--log-key", log_key)?;
    let text = read_input(input)?;
    let second = now()?.as_second();
    let timestamp =
        u64::try_from(second).map_err(|_| bad(format!("the clock ({second} s) is before 1970")))?;
    let c = witness::witness(state, &key, &log_key, &text, timestamp)
        .map_err(|e| proof_err(e, "the witness refuses to cosign"))?;
    emit(
        out,
        as_json,
        || checks::cosigned_json(&c),
        || c.note.clone(),
    )
}

/// The witness's input: a file, or `-` for stdin; at most a consistency file's bound.
fn read_input(input: &Path) -> Result<String> {
    let limit = kaohe::limits::MAX_CONSISTENCY_BYTES;
    if input.as_os_str() != "-" {
        return read_limited(input, limit, "witness input");
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read stdin: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(bad(format!("stdin is longer than {limit} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| bad("stdin is not UTF-8"))
}

/// The witnesses of `--witness` (key files or their .pub, each a witness's) and `--quorum`,
/// or `None` when no witness is given.
pub(super) fn quorum(args: &WitnessArgs) -> Result<Option<Quorum>> {
    if args.witness.is_empty() {
        return Ok(None);
    }
    let max = kaohe::limits::MAX_WITNESSES;
    if args.witness.len() > max {
        return Err(bad(format!(
            "{} --witness keys given; at most {max}",
            args.witness.len()
        )));
    }
    let mut keys = Vec::with_capacity(args.witness.len());
    for path in &args.witness {
        let name = path.display();
        let text = read_limited(path, kaohe::limits::MAX_KEY_FILE_BYTES, "witness key file")?;
        let (actor, public) =
            kaohe::sign::read_public(&text).map_err(|e| bad(format!("--witness {name}: {e}")))?;
        keys.push(
            WitnessKey::new(&actor, public).map_err(|m| bad(format!("--witness {name}: {m}")))?,
        );
    }
    Quorum::new(keys, args.quorum).map(Some).map_err(bad)
}

/// Checks the quorum (when witnesses were given) on a checkpoint note: exit 1 naming the
/// witnesses that did not cosign.
pub(super) fn check(
    quorum: Option<&Quorum>,
    note: &str,
    failing: &str,
) -> Result<Option<QuorumReport>> {
    quorum
        .map(|q| q.check(note).map_err(|e| proof_err(e, failing)))
        .transpose()
}

/// The witnesses' part of a check's text output (nothing when none was required).
pub(super) fn text(report: Option<&QuorumReport>) -> String {
    report.map(checks::quorum_text).unwrap_or_default()
}
