//! The rulebook: each rule an event obeys, written once. The command parser
//! (`domain::command`) checks each field with the text, count and evidence rules (a figure's
//! limits through `base::decimal::within_limits`, which [`figure`] applies too); the write
//! path (`ledger::write`) checks a command with these rules before it appends anything; and
//! the audit (`domain::audit`) re-checks every stored event with the same rules on read. So
//! they cannot disagree, and they say the same thing. A rule is pure: it takes the facts it
//! needs (the rubric, the period, today, the counts so far, the record) and returns `Ok` or a
//! [`Problem`] naming the command field it is about. The write path reports a problem as a
//! field error (exit 2, with the import line); the audit as a fault at the event's seq.
//! `schema/EVENTS.md` ("Rules every event obeys") lists them.

use crate::base::limits::{
    MAX_CLOCK_AHEAD_DAYS, MAX_CLOCK_BEHIND_SECS, MAX_DONE, MAX_EVIDENCE_CHARS, MAX_EVIDENCE_COUNT,
    MAX_GROUNDS_CHARS, MAX_ID_CHARS, MAX_NOTE_CHARS, MAX_REASON_CHARS, MAX_SIGNED_HEAD_LAG,
    MAX_STATIONS, MAX_STATION_CODE_CHARS, MAX_STATION_NAME_CHARS,
};
use crate::base::text::{has_control, is_invisible};
use crate::domain::rubric::{Clause, Context, Item, Metric, Rubric, RuleError};
use crate::events::event::{Actor, AppealOutcome, EventKind, Inputs, Sealed, Signer};
use jiff::{civil::Date, Timestamp};
use rust_decimal::Decimal;

/// A rule broken: the command field it is about, and why, in English (the command line's
/// words) and in Chinese (the pages' words, saying the same thing). Every rule writes both
/// where it writes one, so no message reaches a page untranslated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
    pub zh: String,
}

impl Problem {
    fn new(field: &'static str, message: impl Into<String>, zh: impl Into<String>) -> Problem {
        Problem {
            field,
            message: message.into(),
            zh: zh.into(),
        }
    }

    /// The problem of a rule that counts per sheet, naming the sheet when the rubric has
    /// several (`… (on the sheet 三季度·市局)`).
    pub fn on_sheet(self, rubric: &Rubric, sheet: usize) -> Problem {
        if !rubric.has_sheets() {
            return self;
        }
        let name = rubric.sheet_name(sheet);
        Problem {
            field: self.field,
            message: format!("{} (counted on the sheet {name})", self.message),
            zh: format!("{}（按计分表“{name}”计）", self.zh),
        }
    }
}

/// Ids the ledger assigns start with this (`auto-<seq>`); callers may not choose such ids.
pub const AUTO_ID_PREFIX: &str = "auto-";

/// How an evidence reference to a file stored in the ledger begins (`blake3:<hex> <name>`).
pub const REFERENCE_PREFIX: &str = "blake3:";

// ---------------------------------------------------------------------------------------------
// Text: what every stored text field is. The command parser trims what it is given and then
// applies these; the audit applies them to the stored text, where a space at either end is
// itself a fault (the parser never stores one).

/// Text as a field stores it: not empty, no white space at either end.
fn stored_text(field: &'static str, text: &str) -> Result<(), Problem> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Problem::new(field, "is empty", "不能为空"));
    }
    // `trim` gives a part of `text`: the same text exactly when it is as long.
    if trimmed.len() != text.len() {
        return Err(Problem::new(
            field,
            "begins or ends with white space",
            "开头或结尾有空白",
        ));
    }
    Ok(())
}

fn at_most(field: &'static str, text: &str, max: usize) -> Result<(), Problem> {
    match text.chars().count() > max {
        true => Err(Problem::new(
            field,
            format!("longer than {max} characters"),
            format!("超过 {max} 个字符"),
        )),
        false => Ok(()),
    }
}

fn invisible(field: &'static str) -> Problem {
    Problem::new(
        field,
        "contains control or invisible characters",
        "含有控制字符或不可见字符",
    )
}

/// A single-line label (a name, a department): not empty, at most `max` characters, no
/// control or invisible character.
pub fn label(field: &'static str, text: &str, max: usize) -> Result<(), Problem> {
    stored_text(field, text)?;
    at_most(field, text, max)?;
    match has_control(text) {
        true => Err(invisible(field)),
        false => Ok(()),
    }
}

/// A code (a station's): a [`label`] of ASCII letters, digits, `-`, `_` and `.`.
pub fn code(field: &'static str, text: &str, max: usize) -> Result<(), Problem> {
    label(field, text, max)?;
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Problem::new(
            field,
            format!("`{text}` may hold only ASCII letters, digits, '-', '_' and '.'"),
            format!("“{text}”只能由英文字母、数字和 - _ . 组成"),
        ));
    }
    Ok(())
}

/// Free text (a note, grounds, a reason): not empty, at most `max` characters, no control
/// character but the line break, no invisible character.
pub fn long_text(field: &'static str, text: &str, max: usize) -> Result<(), Problem> {
    stored_text(field, text)?;
    at_most(field, text, max)?;
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || is_invisible(c))
    {
        return Err(invisible(field));
    }
    Ok(())
}

/// An id a caller gives: not empty, at most [`MAX_ID_CHARS`] characters, no space, control
/// or invisible character, and not in the ledger's own [`AUTO_ID_PREFIX`] form.
pub fn caller_id(id: &str) -> Result<(), Problem> {
    id_text(id)?;
    match id.starts_with(AUTO_ID_PREFIX) {
        true => Err(reserved_id()),
        false => Ok(()),
    }
}

/// A stored event's id: a caller's ([`caller_id`]), or exactly `auto-<seq>` for the event at
/// `seq` when the ledger assigned it.
pub fn stored_id(id: &str, seq: u64) -> Result<(), Problem> {
    id_text(id)?;
    match id.starts_with(AUTO_ID_PREFIX) && id != format!("{AUTO_ID_PREFIX}{seq}") {
        true => Err(reserved_id()),
        false => Ok(()),
    }
}

fn id_text(id: &str) -> Result<(), Problem> {
    stored_text("id", id)?;
    if id.chars().count() > MAX_ID_CHARS {
        return Err(Problem::new(
            "id",
            format!("longer than {MAX_ID_CHARS} characters"),
            format!("超过 {MAX_ID_CHARS} 个字符"),
        ));
    }
    if id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return Err(Problem::new(
            "id",
            "may not contain spaces, control or invisible characters",
            "不能含有空格、控制字符或不可见字符",
        ));
    }
    Ok(())
}

fn reserved_id() -> Problem {
    Problem::new(
        "id",
        format!("ids starting with `{AUTO_ID_PREFIX}` are reserved for ids the ledger assigns"),
        format!("以“{AUTO_ID_PREFIX}”开头的编号由台账自动分配，不能自行使用"),
    )
}

/// A whole number a user gives (`count`, `done`) is at most `max`.
pub fn whole(field: &'static str, n: u32, max: u32) -> Result<(), Problem> {
    match n > max {
        true => Err(Problem::new(
            field,
            format!("{n} is more than {max}"),
            format!("{n} 超过上限 {max}"),
        )),
        false => Ok(()),
    }
}

/// A figure a user gives (a value, points) has at most [`MAX_DECIMAL_PLACES`] places and lies
/// within ±[`MAX_ABS_VALUE`] (the parser's limits, `base::decimal`, with its words).
///
/// [`MAX_DECIMAL_PLACES`]: crate::base::limits::MAX_DECIMAL_PLACES
/// [`MAX_ABS_VALUE`]: crate::base::limits::MAX_ABS_VALUE
pub fn figure(field: &'static str, d: Decimal) -> Result<(), Problem> {
    crate::base::decimal::within_limits(d, &d.to_string())
        .map_err(|e| Problem::new(field, e.to_string(), e.zh()))
}

/// The field rules of the event at `seq`: every text field, figure, `done` and the evidence as
/// the command parser bounds them ([`label`], [`code`], [`long_text`], [`stored_id`],
/// [`figure`], [`whole`], [`evidence`]). The write path checks each event it is about to append
/// with it (a command built in code skips the parser), the audit each stored event. A
/// department, clause, metric or station an event names is checked against the rubric and the
/// stations instead; a record's `count` where its clause is known (a rank bonus's is its place).
pub fn event_fields(seq: u64, kind: &EventKind) -> Result<(), Problem> {
    let reason = |t: &str| long_text("reason", t, MAX_REASON_CHARS);
    match kind {
        EventKind::LedgerCreated(_)
        | EventKind::LedgerFollows(_)
        | EventKind::SignaturesRequired => Ok(()),
        EventKind::KeyRegistered(_) | EventKind::RootKey(_) => Ok(()),
        EventKind::StationRegistered(s) => {
            code("code", &s.code, MAX_STATION_CODE_CHARS)?;
            label("name", &s.name, MAX_STATION_NAME_CHARS)
        }
        EventKind::PointsRecorded(p) => {
            stored_id(&p.id, seq)?;
            inputs(&p.inputs)?;
            evidence(&p.evidence, true)
        }
        EventKind::MetricReported(m) => {
            stored_id(&m.id, seq)?;
            figure("value", m.value)?;
            evidence(&m.evidence, true)
        }
        EventKind::AppealFiled(a) => {
            stored_id(&a.id, seq)?;
            long_text("grounds", &a.grounds, MAX_GROUNDS_CHARS)?;
            evidence(&a.evidence, true)
        }
        EventKind::AppealDecided(d) => {
            d.outcome.points().map_or(Ok(()), |p| figure("points", p))?;
            reason(&d.reason)?;
            evidence(&d.evidence, true)
        }
        EventKind::RecordReversed(r) => {
            stored_id(&r.id, seq)?;
            reason(&r.reason)?;
            evidence(&r.evidence, false)
        }
        EventKind::KeyRevoked(k) => reason(&k.reason),
        EventKind::PeriodClosed(c) => c.reason.as_deref().map_or(Ok(()), reason),
    }
}

/// A record's inputs as the parser bounds them: figures, `done`, the note. (`count` is bounded
/// where the record checks its clause: a rank bonus's count is its place.)
fn inputs(i: &Inputs) -> Result<(), Problem> {
    i.value.map_or(Ok(()), |v| figure("value", v))?;
    i.points.map_or(Ok(()), |p| figure("points", p))?;
    i.done.map_or(Ok(()), |n| whole("done", n, MAX_DONE))?;
    i.note
        .as_deref()
        .map_or(Ok(()), |n| long_text("note", n, MAX_NOTE_CHARS))
}

// ---------------------------------------------------------------------------------------------
// Evidence.

/// An event's evidence references: at least one where the kind requires evidence (`required`:
/// a record, a report, an appeal, a decision; a reversal may have none), at most
/// [`MAX_EVIDENCE_COUNT`], each one an [`evidence_entry`].
pub fn evidence(refs: &[String], required: bool) -> Result<(), Problem> {
    if required && refs.is_empty() {
        return Err(Problem::new(
            "evidence",
            "at least one evidence reference is required",
            "至少需要一条证据",
        ));
    }
    if refs.len() > MAX_EVIDENCE_COUNT {
        return Err(Problem::new(
            "evidence",
            format!("more than {MAX_EVIDENCE_COUNT} references"),
            format!("证据超过 {MAX_EVIDENCE_COUNT} 条"),
        ));
    }
    refs.iter()
        .enumerate()
        .try_for_each(|(i, r)| evidence_entry(i + 1, r))
}

/// Evidence reference number `n` (from 1): not empty, no white space at either end, at most
/// [`MAX_EVIDENCE_CHARS`] characters, no control or invisible character; one that begins with
/// [`REFERENCE_PREFIX`] names a stored file ([`stored_file`]) in exactly that form.
pub fn evidence_entry(n: usize, text: &str) -> Result<(), Problem> {
    let fault = |what: String, zh: String| {
        Problem::new(
            "evidence",
            format!("entry {n} {what}"),
            format!("第 {n} 条证据{zh}"),
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fault("is empty".into(), "为空".into()));
    }
    if trimmed.len() != text.len() {
        return Err(fault(
            "begins or ends with white space".into(),
            "开头或结尾有空白".into(),
        ));
    }
    if text.chars().count() > MAX_EVIDENCE_CHARS {
        return Err(fault(
            format!("is longer than {MAX_EVIDENCE_CHARS} characters"),
            format!("超过 {MAX_EVIDENCE_CHARS} 个字符"),
        ));
    }
    if has_control(text) {
        return Err(fault(
            "contains control or invisible characters".into(),
            "含有控制字符或不可见字符".into(),
        ));
    }
    if text.starts_with(REFERENCE_PREFIX) && stored_file(text).is_none() {
        return Err(fault(
            format!("begins with `{REFERENCE_PREFIX}` but is not `{REFERENCE_PREFIX}<64 lower-case hex digits>`, alone or followed by a space and a name"),
            format!("以“{REFERENCE_PREFIX}”开头，却不是“{REFERENCE_PREFIX}<64 位小写十六进制数>”（其后可有一个空格和文件名）"),
        ));
    }
    Ok(())
}

/// The file hash a `blake3:<64 lower-case hex digits>[ <name>]` reference names; `None` for
/// any other text (upper-case hex included: a hash is written in lower case only).
pub fn stored_file(text: &str) -> Option<[u8; 32]> {
    let rest = text.strip_prefix(REFERENCE_PREFIX)?;
    let digits = rest.get(..64)?;
    if !digits
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    match rest[64..].chars().next() {
        None | Some(' ') => {
            let mut h = [0u8; 32];
            hex::decode_to_slice(digits, &mut h).ok()?;
            Some(h)
        }
        Some(_) => None,
    }
}

/// A typed reference names a file the ledger does not hold (checked by the write path, which
/// stores a command's attached files first; the audit of an export cannot see the files, and
/// `verify --evidence` checks them in a store).
pub fn file_not_stored(n: usize, hash: &[u8; 32]) -> Problem {
    let hash = hex::encode(hash);
    Problem::new(
        "evidence",
        format!(
            "entry {n} names the file {REFERENCE_PREFIX}{hash}, which this ledger does not hold: attach the file with --evidence-file FILE"
        ),
        format!(
            "第 {n} 条证据指向文件 {REFERENCE_PREFIX}{hash}，台账中没有这个文件：请先上传该文件"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Time.

/// The offset of the rubric's local time (China Standard Time, UTC+8): it decides which day
/// "today" is when an occurred date is checked.
pub const LOCAL_OFFSET_HOURS: i8 = 8;

/// The local day of a moment.
pub fn local_day(at: Timestamp) -> Date {
    local_offset().to_datetime(at).date()
}

/// An occurred date lies in the rubric's period and not after `today`.
pub fn occurred(period: (Date, Date), occurred: Date, today: Date) -> Result<(), Problem> {
    let (start, end) = period;
    if occurred < start || occurred > end {
        return Err(Problem::new(
            "occurred",
            format!("{occurred} is outside the rubric's period {start} to {end}"),
            format!("{occurred} 不在考核期 {start} 至 {end} 之内"),
        ));
    }
    if occurred > today {
        return Err(Problem::new(
            "occurred",
            format!("{occurred} is in the future (today is {today}); record what has happened"),
            format!("{occurred} 晚于今天（{today}）：只能记录已经发生的事"),
        ));
    }
    Ok(())
}

/// A writer's clock `now` is close enough to the ledger's time: at most
/// [`MAX_CLOCK_BEHIND_SECS`] behind the head's recorded time `head`, and at most
/// [`MAX_CLOCK_AHEAD_DAYS`] past both the head and the end of the period (the local midnight
/// after `period_end`). A clock far off would be stamped into this event and, since recorded
/// times never go back, into every event after it.
pub fn clock(now: Timestamp, head: Timestamp, period_end: Date) -> Result<(), Problem> {
    let (now_us, head_us) = (now.as_microsecond(), head.as_microsecond());
    let behind = head_us.saturating_sub(now_us);
    if behind > MAX_CLOCK_BEHIND_SECS * 1_000_000 {
        return Err(Problem::new(
            "clock",
            format!(
                "the clock says {now}, {} before the ledger's last event ({head}); a clock more than {} behind is refused: set the clock right",
                span(behind),
                span(MAX_CLOCK_BEHIND_SECS * 1_000_000)
            ),
            format!(
                "服务器时钟为 {now}，比台账最后一个事件（{head}）早 {}；早于 {} 以上的时钟不予接受：请校正时钟",
                span_zh(behind),
                span_zh(MAX_CLOCK_BEHIND_SECS * 1_000_000)
            ),
        ));
    }
    let period_over = period_end
        .tomorrow()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::fixed(local_offset())))
        .map_or(head_us, |z| z.timestamp().as_microsecond());
    let since = head_us.max(period_over);
    let ahead = now_us.saturating_sub(since);
    if ahead > MAX_CLOCK_AHEAD_DAYS * DAY_US {
        return Err(Problem::new(
            "clock",
            format!(
                "the clock says {now}, {} after the ledger's last event ({head}) and after its period ended ({period_end}); a clock more than {MAX_CLOCK_AHEAD_DAYS} days past both is refused: set the clock right",
                span(ahead)
            ),
            format!(
                "服务器时钟为 {now}，比台账最后一个事件（{head}）及考核期结束（{period_end}）都晚 {}；超过 {MAX_CLOCK_AHEAD_DAYS} 天的时钟不予接受：请校正时钟",
                span_zh(ahead)
            ),
        ));
    }
    Ok(())
}

const DAY_US: i64 = 24 * 60 * 60 * 1_000_000;

fn local_offset() -> jiff::tz::Offset {
    jiff::tz::Offset::constant(LOCAL_OFFSET_HOURS)
}

/// A span of microseconds in days and hours, for messages.
fn span(us: i64) -> String {
    let hours = us / (60 * 60 * 1_000_000);
    match (hours / 24, hours % 24) {
        (0, h) => format!("{h} hours"),
        (1, 0) => "1 day".into(),
        (d, 0) => format!("{d} days"),
        (d, h) => format!("{d} days {h} hours"),
    }
}

/// [`span`] in Chinese.
fn span_zh(us: i64) -> String {
    let hours = us / (60 * 60 * 1_000_000);
    match (hours / 24, hours % 24) {
        (0, h) => format!("{h} 小时"),
        (d, 0) => format!("{d} 天"),
        (d, h) => format!("{d} 天 {h} 小时"),
    }
}

/// One more station may be registered where `registered` already are: a ledger holds at most
/// [`MAX_STATIONS`].
pub fn station_count(registered: u32) -> Result<(), Problem> {
    if registered >= MAX_STATIONS {
        return Err(Problem::new(
            "code",
            format!(
                "the ledger holds {registered} stations; one more would make more than {MAX_STATIONS} stations in one ledger"
            ),
            format!(
                "台账已有 {registered} 个司法所；一个台账最多 {MAX_STATIONS} 个司法所"
            ),
        ));
    }
    Ok(())
}

/// Nothing follows the closing event of the period, closed at `seq`.
pub fn after_close(period: (Date, Date), seq: u64) -> Problem {
    let (start, end) = period;
    Problem::new(
        "op",
        format!(
            "the period {start} to {end} was closed at seq {seq}; nothing can be recorded, appealed or decided after it"
        ),
        format!(
            "考核期 {start} 至 {end} 已于第 {seq} 号事件结算；此后不能再记录、申诉或复核"
        ),
    )
}

/// A genesis that follows a previous year (`init --follows`) names another ledger's sealed
/// head: a closing event (never seq 0, the genesis), of a period that ends before this one
/// starts. `init`, the write path's genesis and the audit call it.
pub fn follows(previous: &Sealed, ledger_id: &[u8; 16], period_start: Date) -> Result<(), Problem> {
    if &previous.ledger_id == ledger_id {
        let id = hex::encode(ledger_id);
        return Err(Problem::new(
            "follows",
            format!(
                "the previous year's ledger is this ledger ({id}): a ledger cannot follow itself"
            ),
            format!("上一年度台账就是本台账（{id}）：台账不能接续自身"),
        ));
    }
    follows_period((previous.period_start, previous.period_end), period_start)?;
    if previous.seq == 0 {
        return Err(Problem::new(
            "follows",
            "the previous year's sealed head is seq 0, its genesis, which is never a closing event",
            "上一年度的结算链头是第 0 号事件（创建事件），而创建事件不是结算事件",
        ));
    }
    Ok(())
}

/// The previous year's period (`start`, `end`) ends before this one starts on
/// `period_start` ([`follows`]' rule of the periods, which `init --follows` checks first).
pub fn follows_period((start, end): (Date, Date), period_start: Date) -> Result<(), Problem> {
    if start > end {
        return Err(Problem::new(
            "follows",
            format!("the previous year's period {start} to {end} ends before it starts"),
            format!("上一年度的考核期 {start} 至 {end} 结束早于开始"),
        ));
    }
    if end >= period_start {
        return Err(Problem::new(
            "follows",
            format!(
                "the previous year's period {start} to {end} does not end before this period starts on {period_start}: the years must follow one another"
            ),
            format!(
                "上一年度的考核期 {start} 至 {end} 未在本考核期开始（{period_start}）之前结束：年度须前后相接"
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The rubric's names and owners.

/// The canonical name of a department of the rubric (an alias is accepted).
/// Which actors' keys a ledger registers: departments, stations and auditors; bureau keys only in a
/// ledger rooted in a bureau key (`init --bureau-key`), where they are signed by a bureau key
/// in force; never a witness's (witnesses cosign checkpoints outside the ledger).
pub fn registrable(actor: &Actor, bureau_rooted: bool) -> Result<(), Problem> {
    match actor {
        Actor::Department(_) | Actor::Station(_) | Actor::Auditor(_) => Ok(()),
        Actor::Bureau(_) if bureau_rooted => Ok(()),
        Actor::Bureau(_) => Err(Problem::new(
            "actor_kind",
            "this ledger has no bureau key in its genesis, so it registers no bureau keys (make one with `init --require-signatures --bureau-key FILE.pub`)",
            "本台账创建时没有司法局根密钥，因此不能登记司法局密钥（用 init --require-signatures --bureau-key 文件.pub 创建台账）",
        )),
        Actor::Witness(_) => Err(Problem::new(
            "actor_kind",
            "a witness key is not registered in a ledger: a witness cosigns checkpoints with it (`kaohe witness`)",
            "见证方密钥不在台账中登记：见证方用它为检查点联署（kaohe witness）",
        )),
    }
}

/// A key signs the events after its registration, up to and including its revocation (a key
/// may sign its own revocation): chain order decides, not recorded times, which events of one
/// commit share.
pub fn key_in_force(registered_seq: u64, revoked_seq: Option<u64>, seq: u64) -> bool {
    registered_seq < seq && revoked_seq.is_none_or(|r| seq <= r)
}

/// The key that signs an event is its actor's, or a bureau's for the bureau's kinds.
pub fn signer_matches(signer: &Signer, key_actor: &Actor) -> Result<(), Problem> {
    let ok = match signer {
        Signer::Actor(actor) => actor == key_actor,
        Signer::Bureau => matches!(key_actor, Actor::Bureau(_)),
    };
    match ok {
        true => Ok(()),
        false => Err(Problem::new(
            "key",
            format!("the key is {key_actor}'s; this event is signed by {signer}"),
            format!("这把密钥属于 {key_actor}，而此事件应由 {signer} 签名"),
        )),
    }
}

/// The head a signer saw comes before the event, by at most [`MAX_SIGNED_HEAD_LAG`] events.
pub fn signed_after(seq: u64, after_seq: u64) -> Result<(), Problem> {
    if after_seq >= seq {
        return Err(Problem::new(
            "after",
            format!("the signed head (seq {after_seq}) does not come before the event (seq {seq})"),
            format!("签名所依据的链头（第 {after_seq} 号）不在此事件（第 {seq} 号）之前"),
        ));
    }
    if seq - after_seq > MAX_SIGNED_HEAD_LAG {
        return Err(Problem::new(
            "after",
            format!("the signed head (seq {after_seq}) is more than {MAX_SIGNED_HEAD_LAG} events before the event (seq {seq}): sign again against a newer head"),
            format!("签名所依据的链头（第 {after_seq} 号）比此事件（第 {seq} 号）早 {MAX_SIGNED_HEAD_LAG} 个事件以上：请按新的链头重新签名"),
        ));
    }
    Ok(())
}

/// A ledger rooted in a bureau key keeps one in force: its last is not revoked.
pub fn keeps_a_bureau_key(
    revoking_bureau_key: bool,
    others_in_force: usize,
) -> Result<(), Problem> {
    match revoking_bureau_key && others_in_force == 0 {
        true => Err(Problem::new(
            "public_key",
            "this is the last bureau key in force: register another bureau key first, or the ledger could register, revoke and close no more",
            "这是最后一把有效的司法局密钥：请先登记另一把，否则台账将无法再登记、撤销密钥或结算",
        )),
        false => Ok(()),
    }
}

pub fn department<'r>(rubric: &'r Rubric, by: &str) -> Result<&'r str, Problem> {
    rubric.department(by).ok_or_else(|| {
        let names: Vec<&str> = rubric.departments.iter().map(|d| d.name.as_str()).collect();
        Problem::new(
            "by",
            format!(
                "`{by}` is not a department of this rubric ({})",
                names.join(", ")
            ),
            format!(
                "“{by}”不是本考核细则中的部门（部门有：{}）",
                names.join("、")
            ),
        )
    })
}

/// A clause of the rubric, with its item.
pub fn clause<'r>(rubric: &'r Rubric, code: &str) -> Result<(&'r Item, &'r Clause), Problem> {
    rubric.clause(code).ok_or_else(|| {
        Problem::new(
            "clause",
            format!("unknown clause `{code}`"),
            format!("考核细则中没有条款“{code}”"),
        )
    })
}

/// A metric of the rubric.
pub fn metric<'r>(rubric: &'r Rubric, name: &str) -> Result<&'r Metric, Problem> {
    rubric.metric(name).ok_or_else(|| {
        let names: Vec<&str> = rubric.metrics.iter().map(|x| x.name.as_str()).collect();
        Problem::new(
            "metric",
            format!(
                "unknown metric `{name}` (the rubric's metrics: {})",
                names.join(", ")
            ),
            format!("考核细则中没有指标“{name}”（指标有：{}）", names.join("、")),
        )
    })
}

/// A station must be registered before anything names it. (The write path adds how to
/// register it; the audit reports it as it is.)
pub fn unknown_station(code: &str) -> Problem {
    Problem::new(
        "station",
        format!("unknown station `{code}`"),
        format!("没有登记司法所“{code}”"),
    )
}

/// Only a department that assesses an item records under its clauses.
pub fn assesses(item: &Item, by: &str) -> Result<(), Problem> {
    if item.departments.iter().any(|d| d == by) {
        return Ok(());
    }
    Err(Problem::new(
        "by",
        format!(
            "{by} does not assess item {} (assessed by {})",
            item.code,
            item.departments.join(", ")
        ),
        format!(
            "{by} 不负责考核项目 {}（由 {} 考核）",
            item.code,
            item.departments.join("、")
        ),
    ))
}

/// Only a department whose items read a metric reports it.
pub fn reports(rubric: &Rubric, metric: &str, by: &str) -> Result<(), Problem> {
    if rubric.metric_reported_by(metric, by) {
        return Ok(());
    }
    let owners = rubric.metric_departments(metric);
    let owners: Vec<&str> = owners.into_iter().collect();
    Err(Problem::new(
        "by",
        format!(
            "{by} does not report {metric} (reported by {})",
            owners.join(", ")
        ),
        format!("{by} 不报送指标 {metric}（由 {} 报送）", owners.join("、")),
    ))
}

/// A reported value lies within its metric's bounds (`value` in canonical form).
pub fn within_bounds(metric: &Metric, value: Decimal) -> Result<(), Problem> {
    metric.check_bounds(value).map_err(|b| {
        Problem::new(
            "value",
            format!("{value} is outside the bounds of {} ({b})", metric.name),
            format!("{value} 超出指标 {} 的取值范围（{b}）", metric.name),
        )
    })
}

/// Only an item's owner decides an appeal against, or reverses, a record of it.
pub fn owner(item: &Item, by: &str) -> Result<(), Problem> {
    if item.departments.iter().any(|d| d == by) {
        return Ok(());
    }
    Err(Problem::new(
        "by",
        format!(
            "{by} does not own item {} (owned by {}); only its owner decides or reverses",
            item.code,
            item.departments.join(", ")
        ),
        format!(
            "项目 {} 不归 {by} 负责（由 {} 负责）；只有负责部门能复核或撤销",
            item.code,
            item.departments.join("、")
        ),
    ))
}

/// A decision or reversal is made for the assessor the record was made for: with several
/// assessors, a department of another (the township's 考核办 for a bureau's record) neither
/// reverses it nor decides its appeal. `sheet` is the record's (`Rubric::sheet_of`).
pub fn same_assessor(rubric: &Rubric, sheet: usize, by: &str) -> Result<(), Problem> {
    if rubric.assessors.len() < 2 {
        return Ok(());
    }
    let (_, own) = rubric.sheet_parts(sheet);
    let theirs = rubric
        .assessors
        .iter()
        .position(|a| a.departments.iter().any(|d| d == by));
    if theirs == Some(own) {
        return Ok(());
    }
    let own = &rubric.assessors[own];
    let other = theirs
        .and_then(|t| rubric.assessors.get(t))
        .map_or("no assessor", |a| a.name.as_str());
    Err(Problem::new(
        "by",
        format!(
            "{by} records for {other}, and the record was made for {} ({}): only its departments ({}) decide or reverse it",
            own.name,
            own.code,
            own.departments.join(", ")
        ),
        format!(
            "{by} 属于{other}，该记录由{}作出：只有{}的部门（{}）能复核或撤销",
            own.name,
            own.name,
            own.departments.join("、")
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// Points and unit counts.

/// Whether a station's standing records under a clause are counted: a per-unit clause with a
/// `max_count` (its units), and a clause that counts `once` or that another excludes or
/// requires (its records) — `Rubric::counted`.
pub fn counts_units(rubric: &Rubric, clause: &Clause) -> bool {
    rubric.counted(&clause.code)
}

/// The units a record counts under its clause (0 where the clause is not counted): its
/// `count` (1 when it has none).
pub fn units(rubric: &Rubric, clause: &Clause, inputs: &Inputs) -> u32 {
    match counts_units(rubric, clause) {
        true => inputs.count.unwrap_or(1),
        false => 0,
    }
}

/// A record's occurred date is on or before its clause's deadline, when it has one.
pub fn deadline(clause: &Clause, occurred: Date) -> Result<(), Problem> {
    match clause.deadline {
        Some(d) if occurred > d => Err(Problem::new(
            "occurred",
            format!(
                "clause {} counts what occurred on or before {d}; {occurred} is after it",
                clause.code
            ),
            format!(
                "条款 {} 只计 {d} 及以前发生的事项；{occurred} 在此之后",
                clause.code
            ),
        )),
        _ => Ok(()),
    }
}

/// A clause that counts once per station and period takes no second standing record:
/// `standing` records of the station stand under it already, the first of them `first`
/// (its id and seq, where the caller knows it).
pub fn once(clause: &Clause, standing: u32, first: Option<&str>) -> Result<(), Problem> {
    if !clause.once || standing == 0 {
        return Ok(());
    }
    let (at, at_zh) = match first {
        Some(f) => (format!(" ({f})"), format!("（{f}）")),
        None => (String::new(), String::new()),
    };
    Err(Problem::new(
        "clause",
        format!(
            "clause {} counts once per station and period, and this station has a standing record under it{at}: reverse that record to correct it",
            clause.code
        ),
        format!(
            "条款 {} 每个司法所每个考核期只计一次，该所在此条款下已有记录{at_zh}：如需更正，请先撤销那条记录",
            clause.code
        ),
    ))
}

/// A clause excluded by `other` takes no record for a station with a standing record under
/// `other` (`standing` of them, the first `first`).
pub fn excluded(
    clause: &Clause,
    other: &str,
    standing: u32,
    first: Option<&str>,
) -> Result<(), Problem> {
    if standing == 0 {
        return Ok(());
    }
    let (at, at_zh) = match first {
        Some(f) => (format!(" ({f})"), format!("（{f}）")),
        None => (String::new(), String::new()),
    };
    Err(Problem::new(
        "clause",
        format!(
            "clauses {} and {other} exclude each other, and this station has a standing record under {other}{at}",
            clause.code
        ),
        format!(
            "条款 {} 与 {other} 只能择一，该所在 {other} 下已有记录{at_zh}",
            clause.code
        ),
    ))
}

/// A clause that requires `other` takes a record only for a station with a standing record
/// under `other` (`standing` of them).
pub fn required(clause: &Clause, other: &str, standing: u32) -> Result<(), Problem> {
    match standing {
        0 => Err(Problem::new(
            "clause",
            format!(
                "clause {} requires a standing record under {other} for this station first",
                clause.code
            ),
            format!("条款 {} 须该所在 {other} 下先有记录", clause.code),
        )),
        _ => Ok(()),
    }
}

/// A record under `clause` stops counting (a reversal, or an appeal that removes it) and
/// `remaining` records of the station stand under it on its sheet afterwards: refused while
/// `dependents` records stand under `dependent`, a clause that requires it (reverse those
/// first), so that no standing record is left without the one it requires.
pub fn still_required(
    field: &'static str,
    clause: &str,
    remaining: u32,
    dependent: &str,
    dependents: u32,
) -> Result<(), Problem> {
    if remaining > 0 || dependents == 0 {
        return Ok(());
    }
    Err(Problem::new(
        field,
        format!(
            "the record is the station's last standing record under {clause}, which {dependent} requires, and {dependents} record(s) under {dependent} still stand: reverse them first"
        ),
        format!(
            "该记录是该所在 {clause} 下最后一条有效记录，而 {dependent} 以其为前提，且 {dependent} 下仍有 {dependents} 条有效记录：请先撤销后者"
        ),
    ))
}

/// The key of a (station, clause, sheet) unit count: records count per sheet (one assessor's
/// scoring of one sub-period, `domain::rubric::sheets`). Sheet 0 adds nothing, so a rubric of
/// one sheet keeps the keys it always had.
pub fn unit_key(station: &str, clause: &str, sheet: usize) -> Vec<u8> {
    let mut k = station.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(clause.as_bytes());
    if sheet > 0 {
        k.push(0);
        k.extend_from_slice(&(sheet as u32).to_be_bytes());
    }
    k
}

/// A record's points, computed from the rubric and never taken from the user: the clause's
/// rule over the inputs, for the station's kind, with the units already recorded under a
/// clause that has a maximum (`ctx.prior_count`).
pub fn points(
    rubric: &Rubric,
    clause: &Clause,
    ctx: &Context,
    inputs: &Inputs,
) -> Result<Decimal, Problem> {
    rubric
        .compute(clause, ctx, inputs)
        .map_err(|e: RuleError| Problem::new(e.field(), e.to_string(), e.zh()))
}

// ---------------------------------------------------------------------------------------------
// Disputes.

/// The last local day on which a record recorded on `recorded_day` may be appealed.
pub fn appeal_deadline(recorded_day: Date, window_days: u32) -> Date {
    recorded_day
        .checked_add(jiff::Span::new().days(i64::from(window_days)))
        .unwrap_or(Date::MAX)
}

/// What an appeal names, as the rules need it.
pub struct Appealed<'a> {
    /// The record's id, station and item, and the local day it was recorded.
    pub id: &'a str,
    pub station: &'a str,
    pub item: &'a Item,
    pub recorded_day: Date,
}

/// `station` may appeal the record on `filed_day`: a deduction of its own, within the
/// rubric's appeal window.
pub fn appeal(
    record: &Appealed<'_>,
    station: &str,
    filed_day: Date,
    window_days: u32,
) -> Result<(), Problem> {
    if record.item.bonus {
        return Err(Problem::new(
            "against",
            format!(
                "{} is a bonus (item {}); only deductions can be appealed",
                record.id, record.item.code
            ),
            format!(
                "{} 是加分（项目 {}）；只能对扣分申诉",
                record.id, record.item.code
            ),
        ));
    }
    if record.station != station {
        return Err(Problem::new(
            "station",
            format!(
                "{} is a deduction of station {}, not of {station}; a station appeals only its own deductions",
                record.id, record.station
            ),
            format!(
                "{} 是司法所 {} 的扣分，不是 {station} 的；司法所只能对本所的扣分申诉",
                record.id, record.station
            ),
        ));
    }
    let deadline = appeal_deadline(record.recorded_day, window_days);
    if filed_day > deadline {
        return Err(Problem::new(
            "against",
            format!(
                "the appeal window for {} closed on {deadline}: it was recorded on {} and the rubric allows {window_days} days; today is {filed_day}",
                record.id, record.recorded_day
            ),
            format!(
                "{} 的申诉期已于 {deadline} 结束：它记录于 {}，考核细则允许 {window_days} 天内申诉；今天是 {filed_day}",
                record.id, record.recorded_day
            ),
        ));
    }
    Ok(())
}

/// A decision is final: an appeal decided (`outcome`, at `place`) is not decided again.
pub fn already_decided(appeal: &str, outcome: &AppealOutcome, place: &str) -> Problem {
    Problem::new(
        "appeal",
        format!(
            "appeal {appeal} was already decided ({}, {place}); a decision is final",
            outcome.as_str()
        ),
        format!(
            "申诉 {appeal} 已经复核（{}，{place}）；复核结果是最终的",
            outcome.zh()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// The close.

/// Why the gaps of a close are not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapRefusal {
    /// Gaps were found and not accepted.
    NotAccepted,
    /// Gaps were accepted with an empty reason.
    NoReason,
}

impl GapRefusal {
    /// The problem of [`GapRefusal::NoReason`] (the other is reported with the gaps listed).
    pub fn no_reason() -> Problem {
        Problem::new(
            "reason",
            "accepting gaps needs a reason",
            "接受未扣分情形须说明理由",
        )
    }
}

/// A close with gaps (`found`: standards failed with no deduction) needs them accepted with a
/// reason; the reason that is recorded (trimmed), or `None` when there is nothing to accept.
pub fn accepted_gaps(found: bool, reason: Option<&str>) -> Result<Option<&str>, GapRefusal> {
    match (found, reason.map(str::trim)) {
        (true, None) => Err(GapRefusal::NotAccepted),
        (_, Some("")) => Err(GapRefusal::NoReason),
        (false, _) => Ok(None),
        (true, Some(r)) => Ok(Some(r)),
    }
}
