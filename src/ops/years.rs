//! Years in sequence: a ledger whose genesis holds the previous year's sealed head
//! (`init --follows PREV`, a `LedgerFollows` genesis), and the walk from a year back to the
//! one before it (`verify --follows PREV`, `verify --export FILE --follows-export PREV`).
//!
//! A previous ledger is only read: it is opened with [`Ledger::open_read`] and verified with
//! [`crate::ops::verify::ledger`], which works on a private copy of its database; nothing is
//! written in it, not even the note of a successful verification that `kaohe verify` keeps.

use crate::domain::audit::Audit;
use crate::domain::rules;
use crate::events::event::{EventKind, Hash, LedgerCreated, Sealed};
use crate::ledger::{Ledger, LedgerError};
use crate::ops::export::{self, ExportError, ExportReport};
use crate::ops::verify;
use jiff::civil::Date;
use std::io::BufRead;
use std::path::Path;

/// Why a previous year cannot be followed, or is not the one a ledger follows: in English,
/// and in Chinese saying the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub message: String,
    pub zh: String,
}

impl Mismatch {
    fn new(message: impl Into<String>, zh: impl Into<String>) -> Mismatch {
        Mismatch {
            message: message.into(),
            zh: zh.into(),
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The sealed head of the closed ledger at `previous`, for a year whose period starts on
/// `period_start`: its id and period, and its closing event's seq and hash. The ledger must
/// be closed, its period must end before `period_start` ([`rules::follows_period`], checked
/// before the full verification), and it must verify in full as `verify` checks it, up to
/// its closing event (its last). `Err`: it cannot be opened as a ledger; `Ok(Err)`: it is not
/// one a year starting on `period_start` can follow.
pub fn sealed_head(
    previous: &Path,
    period_start: Date,
) -> Result<Result<Sealed, Mismatch>, LedgerError> {
    let (genesis, closed, head) = {
        let ledger = Ledger::open_read(previous)?;
        (
            ledger.genesis().clone(),
            ledger.closed_at(),
            ledger.head().hash,
        )
    };
    let period = (genesis.period_start, genesis.period_end);
    let Some(seq) = closed else {
        let (start, end) = period;
        return Ok(Err(Mismatch::new(
            format!(
                "its period {start} to {end} is not closed: a year follows a closed one (`kaohe close` seals it)"
            ),
            format!("其考核期 {start} 至 {end} 尚未结算：新的年度只能接续已结算的年度（用 kaohe close 结算）"),
        )));
    };
    if let Err(p) = rules::follows_period(period, period_start) {
        return Ok(Err(Mismatch::new(p.message, p.zh)));
    }
    Ok(verified(previous, sealed(&genesis, seq, head)))
}

/// The sealed head of a ledger closed at `seq` with hash `hash`.
fn sealed(genesis: &LedgerCreated, seq: u64, hash: Hash) -> Sealed {
    Sealed {
        ledger_id: genesis.ledger_id,
        period_start: genesis.period_start,
        period_end: genesis.period_end,
        seq,
        hash,
    }
}

/// `sealed`, once the ledger at `previous` verifies in full and ends at it.
fn verified(previous: &Path, sealed: Sealed) -> Result<Sealed, Mismatch> {
    let report = match verify::ledger(previous, Some(&sealed.hash)) {
        Ok(report) => report,
        Err(e) => {
            return Err(Mismatch::new(
                format!("it cannot be verified: {e}"),
                format!("无法校验该台账：{e}"),
            ))
        }
    };
    if let Some(p) = report.problem {
        return Err(Mismatch::new(
            format!("it does not verify: at seq {}: {}", p.seq, p.message),
            format!("该台账校验未通过：第 {} 号事件：{}", p.seq, p.message),
        ));
    }
    if report.events != sealed.seq + 1 || report.head != sealed.hash {
        return Err(Mismatch::new(
            format!(
                "it changed while it was read: its closing event was seq {}, and {} events verified",
                sealed.seq, report.events
            ),
            format!(
                "读取期间该台账发生了变化：其结算事件为第 {} 号，校验通过 {} 个事件",
                sealed.seq, report.events
            ),
        ));
    }
    Ok(sealed)
}

/// A genesis that follows no previous year, asked to.
fn follows_nothing() -> Mismatch {
    Mismatch::new(
        "this ledger's genesis follows no previous year (it was made without --follows)",
        "本台账的创建事件没有接续任何上一年度（创建时未使用 --follows）",
    )
}

/// What a genesis says it follows (`named`) compared with the previous year's sealed head as
/// it is (`actual`): the same ledger, period, closing seq and hash.
pub fn compare(named: &Sealed, actual: &Sealed) -> Result<(), Mismatch> {
    let (n, a) = (hex::encode(named.ledger_id), hex::encode(actual.ledger_id));
    if named.ledger_id != actual.ledger_id {
        return Err(Mismatch::new(
            format!(
                "this ledger's genesis follows ledger {n}, but the previous ledger given is {a}"
            ),
            format!("本台账的创建事件接续的是台账 {n}，而给出的上一年度台账是 {a}"),
        ));
    }
    let (ns, ne, as_, ae) = (
        named.period_start,
        named.period_end,
        actual.period_start,
        actual.period_end,
    );
    if (ns, ne) != (as_, ae) {
        return Err(Mismatch::new(
            format!("this ledger's genesis names the period {ns} to {ne} for ledger {n}, whose period is {as_} to {ae}"),
            format!("本台账的创建事件称台账 {n} 的考核期为 {ns} 至 {ne}，而其考核期为 {as_} 至 {ae}"),
        ));
    }
    if (named.seq, named.hash) != (actual.seq, actual.hash) {
        let (nh, ah) = (hex::encode(named.hash), hex::encode(actual.hash));
        return Err(Mismatch::new(
            format!(
                "this ledger's genesis holds the sealed head seq {} hash {nh}, but ledger {n} was closed at seq {} with hash {ah}",
                named.seq, actual.seq
            ),
            format!(
                "本台账的创建事件记载的结算链头为第 {} 号、哈希 {nh}，而台账 {n} 于第 {} 号事件结算、哈希 {ah}",
                named.seq, actual.seq
            ),
        ));
    }
    Ok(())
}

/// `verify --follows PREV` beyond the ledger's own verification: the genesis of `ledger`
/// (verified already) holds exactly the sealed head of the closed ledger at `previous`, which
/// verifies. `Err`: the previous ledger cannot be opened as a ledger; `Ok(Err)`: they do not
/// match, or the previous ledger is not closed or does not verify.
pub fn check(ledger: &Ledger, previous: &Path) -> Result<Result<Sealed, Mismatch>, LedgerError> {
    let (named, starts) = (ledger.follows().copied(), ledger.genesis().period_start);
    let Some(named) = named else {
        return Ok(Err(follows_nothing()));
    };
    let actual = match sealed_head(previous, starts)? {
        Ok(s) => s,
        Err(m) => return Ok(Err(previous_mismatch(("ledger", "台账"), m))),
    };
    Ok(compare(&named, &actual).map(|()| actual))
}

/// A previous year that cannot be followed, as `verify --follows` says it: `what` names it
/// (the previous ledger, or export), in English and Chinese.
fn previous_mismatch((en, zh): (&str, &str), m: Mismatch) -> Mismatch {
    Mismatch::new(
        format!("the previous {en}: {}", m.message),
        format!("上一年度{zh}：{}", m.zh),
    )
}

/// What `verify --export FILE --follows-export PREV` found: the export's own report, and
/// (when it verified) whether its genesis follows the previous year's export.
pub struct ExportFollows {
    pub report: ExportReport,
    pub follows: Option<Result<Sealed, Mismatch>>,
}

/// Verifies the export `input` as `verify --export` does, and when it verifies, the export
/// `previous` of the year before it: that one verifies too, ends with its closing event, and
/// its sealed head is exactly what the first export's genesis holds.
pub fn check_exports(
    input: impl BufRead,
    expected_head: Option<&Hash>,
    previous: impl BufRead,
) -> Result<ExportFollows, ExportError> {
    let mut genesis: Option<(Option<Sealed>, Date)> = None;
    let each = |v: export::Verified<'_>| {
        if let Some(g) = v.body.kind().genesis() {
            genesis = Some((v.body.kind().follows().copied(), g.period_start));
        }
        Ok::<(), std::convert::Infallible>(())
    };
    let report = match export::verify_each(input, expected_head, &mut Audit::new(), each)? {
        Ok(report) => report,
        Err(never) => match never {},
    };
    let Some((named, starts)) = genesis.filter(|_| report.problem.is_none()) else {
        return Ok(ExportFollows {
            report,
            follows: None,
        });
    };
    let follows = match named {
        None => Err(follows_nothing()),
        Some(named) => match export_sealed(previous, starts)? {
            Ok(actual) => compare(&named, &actual).map(|()| actual),
            Err(m) => Err(previous_mismatch(("export", "导出文件"), m)),
        },
    };
    Ok(ExportFollows {
        report,
        follows: Some(follows),
    })
}

/// The sealed head of the export of a closed year (`input`), which must verify as
/// `verify --export` checks it and end with its closing event, and whose period must end
/// before `period_start`.
pub fn export_sealed(
    input: impl BufRead,
    period_start: Date,
) -> Result<Result<Sealed, Mismatch>, ExportError> {
    let mut genesis = None;
    let mut last: Option<(u64, Hash, bool)> = None;
    let each = |v: export::Verified<'_>| {
        if let Some(g) = v.body.kind().genesis() {
            genesis = Some(g.clone());
        }
        let closing = matches!(v.body.kind(), EventKind::PeriodClosed(_));
        last = Some((v.seq, *v.hash, closing));
        Ok::<(), std::convert::Infallible>(())
    };
    let report = match export::verify_each(input, None, &mut Audit::new(), each)? {
        Ok(report) => report,
        Err(never) => match never {},
    };
    if let Some(p) = report.problem {
        return Ok(Err(Mismatch::new(
            format!(
                "it does not verify: at seq {} (line {}): {}",
                p.seq, p.line, p.message
            ),
            format!(
                "该导出文件校验未通过：第 {} 号事件（第 {} 行）：{}",
                p.seq, p.line, p.message
            ),
        )));
    }
    let (Some(genesis), Some((seq, hash, closing))) = (genesis, last) else {
        return Ok(Err(Mismatch::new(
            "it holds no events",
            "该导出文件没有事件",
        )));
    };
    let (start, end) = (genesis.period_start, genesis.period_end);
    if !closing {
        return Ok(Err(Mismatch::new(
            format!("its period {start} to {end} is not closed: its last event, seq {seq}, is not the closing event"),
            format!("其考核期 {start} 至 {end} 尚未结算：最后一个事件（第 {seq} 号）不是结算事件"),
        )));
    }
    if let Err(p) = rules::follows_period((start, end), period_start) {
        return Ok(Err(Mismatch::new(p.message, p.zh)));
    }
    Ok(Ok(sealed(&genesis, seq, hash)))
}
