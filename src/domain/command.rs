//! Commands: what a user asks the ledger to do, parsed from an import line or from CLI flags
//! (the CLI builds the same JSON object, so both paths share every check and message).

use crate::base::decimal;
use crate::base::limits::*;
use crate::domain::rules::{self, Problem};
use crate::events::event::{
    date_text::{self, parse_date},
    Inputs, StationKind,
};
use jiff::civil::Date;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

pub use crate::domain::rules::AUTO_ID_PREFIX;

/// A field-level error: which field, and what is wrong with it, in English (the command
/// line's words) and in Chinese (the pages'), saying the same thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub zh: String,
}

pub(crate) fn field_error(
    field: &str,
    message: impl Into<String>,
    zh: impl Into<String>,
) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
        zh: zh.into(),
    }
}

impl From<Problem> for FieldError {
    fn from(p: Problem) -> FieldError {
        field_error(p.field, p.message, p.zh)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Station(StationCmd),
    Record(RecordCmd),
    Metric(MetricCmd),
    Appeal(AppealCmd),
    Decide(DecideCmd),
    Reverse(ReverseCmd),
    KeyRegister(KeyRegisterCmd),
    KeyRevoke(KeyRevokeCmd),
}

impl Command {
    /// The command's evidence references, and whether its kind requires one
    /// ([`rules::evidence`]); `None` for a kind that carries no evidence.
    pub fn evidence(&self) -> Option<(&[String], bool)> {
        match self {
            Command::Record(r) => Some((&r.evidence, true)),
            Command::Metric(m) => Some((&m.evidence, true)),
            Command::Appeal(a) => Some((&a.evidence, true)),
            Command::Decide(d) => Some((&d.evidence, true)),
            Command::Reverse(r) => Some((&r.evidence, false)),
            Command::Station(_) | Command::KeyRegister(_) | Command::KeyRevoke(_) => None,
        }
    }
}

/// Put a public key in force for an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRegisterCmd {
    pub actor: crate::events::event::Actor,
    pub public_key: [u8; 32],
}

/// Take a key out of force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRevokeCmd {
    pub public_key: [u8; 32],
    pub reason: String,
}

/// A station disputes one of its deductions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealCmd {
    pub id: Option<String>,
    /// The deduction: its id, seq or hash.
    pub against: String,
    pub station: String,
    pub grounds: String,
    pub evidence: Vec<String>,
}

/// How a decision says an appeal went, as given (points are checked by the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeCmd {
    Upheld,
    Partial,
    Rejected,
}

impl OutcomeCmd {
    /// `upheld` / `partial` / `rejected`, or the Chinese 成立 / 部分成立 / 不成立 (驳回).
    pub fn parse(text: &str) -> Option<OutcomeCmd> {
        match text.trim() {
            "upheld" | "成立" => Some(OutcomeCmd::Upheld),
            "partial" | "部分成立" => Some(OutcomeCmd::Partial),
            "rejected" | "不成立" | "驳回" => Some(OutcomeCmd::Rejected),
            _ => None,
        }
    }
}

/// The owning department decides an appeal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideCmd {
    /// The appeal: its id, seq or hash.
    pub appeal: String,
    pub outcome: OutcomeCmd,
    /// With `partial`: the points that stand for the whole deduction.
    pub points: Option<Decimal>,
    pub by: String,
    pub reason: String,
    pub evidence: Vec<String>,
}

/// The owning department withdraws a record made in error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseCmd {
    pub id: Option<String>,
    /// The record: its id, seq or hash.
    pub target: String,
    pub by: String,
    pub reason: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationCmd {
    pub code: String,
    pub name: String,
    pub kind: StationKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCmd {
    pub id: Option<String>,
    pub clause: String,
    pub station: String,
    pub by: String,
    pub occurred: Date,
    pub inputs: Inputs,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricCmd {
    pub id: Option<String>,
    pub station: String,
    pub metric: String,
    pub value: Decimal,
    pub by: String,
    pub occurred: Date,
    pub evidence: Vec<String>,
}

/// Parses one import line.
pub fn parse_line(line: &str) -> Result<Command, FieldError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(field_error(
            "line",
            format!("longer than {MAX_LINE_BYTES} bytes"),
            format!("一行超过 {MAX_LINE_BYTES} 字节"),
        ));
    }
    let fields = parse_fields(line).map_err(|m| field_error("line", &m, json_error_zh(&m)))?;
    from_fields(Fields(&fields))
}

/// Parses a command from a JSON object (flags the CLI gathered, a form the service read), as
/// an import line's fields are.
pub fn from_object(obj: &Map<String, Value>) -> Result<Command, FieldError> {
    let fields: Vec<(String, Value)> = obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    from_fields(Fields(&fields))
}

/// A command from its fields. They are read in a fixed order per op, so the first bad one is
/// the one named.
fn from_fields(f: Fields<'_>) -> Result<Command, FieldError> {
    let op = f.text("op")?;
    let allowed = allowed_fields(&op)?;
    if let Some((k, _)) = f.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(field_error(
            k,
            format!("is not a field of op `{op}`"),
            format!("“{op}”命令没有“{k}”这一项"),
        ));
    }
    match op.as_str() {
        "station" => station(&f),
        "record" => record(&f),
        "appeal" => appeal(&f),
        "decide" => decide(&f),
        "reverse" => reverse(&f),
        "key_register" => key_register(&f),
        "key_revoke" => key_revoke(&f),
        _ => metric(&f),
    }
}

/// The fields an op takes (`op` included), or the refusal of an unknown op.
fn allowed_fields(op: &str) -> Result<&'static [&'static str], FieldError> {
    Ok(match op {
        "station" => &["op", "code", "name", "kind"],
        "record" => &[
            "op", "id", "clause", "station", "by", "occurred", "value", "count", "done", "points",
            "note", "evidence",
        ],
        "metric" => &[
            "op", "id", "station", "metric", "value", "by", "occurred", "evidence",
        ],
        "appeal" => &["op", "id", "against", "station", "grounds", "evidence"],
        "decide" => &[
            "op", "appeal", "outcome", "points", "by", "reason", "evidence",
        ],
        "reverse" => &["op", "id", "target", "by", "reason", "evidence"],
        "key_register" => &["op", "actor_kind", "actor", "public_key"],
        "key_revoke" => &["op", "public_key", "reason"],
        other => {
            return Err(field_error(
                "op",
                format!(
                    "unknown op `{other}` (station, record, metric, appeal, decide, reverse, key_register or key_revoke)"
                ),
                format!(
                    "没有“{other}”这种命令（可用：station、record、metric、appeal、decide、reverse、key_register、key_revoke）"
                ),
            ))
        }
    })
}

fn station(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Station(StationCmd {
        code: f.code("code", MAX_STATION_CODE_CHARS)?,
        name: f.label("name", MAX_STATION_NAME_CHARS)?,
        kind: {
            let k = f.text("kind")?;
            StationKind::parse(&k).ok_or_else(|| {
                field_error(
                    "kind",
                    format!("`{k}` is not town or subdistrict"),
                    format!("“{k}”不是 镇（town）或 街道（subdistrict）"),
                )
            })?
        },
    }))
}

fn record(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Record(RecordCmd {
        id: f.id()?,
        clause: f.text("clause")?,
        station: f.text("station")?,
        by: f.label("by", MAX_DEPARTMENT_CHARS)?,
        occurred: f.date("occurred")?,
        inputs: Inputs {
            value: f.opt_decimal("value")?,
            count: f.opt_whole("count", MAX_COUNT)?,
            done: f.opt_whole("done", MAX_DONE)?,
            points: f.opt_decimal("points")?,
            note: f.opt_note()?,
        },
        evidence: f.evidence()?,
    }))
}

fn metric(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Metric(MetricCmd {
        id: f.id()?,
        station: f.text("station")?,
        metric: f.text("metric")?,
        value: f
            .opt_decimal("value")?
            .ok_or_else(|| field_error("value", "is required", "必须填写"))?,
        by: f.label("by", MAX_DEPARTMENT_CHARS)?,
        occurred: f.date("occurred")?,
        evidence: f.evidence()?,
    }))
}

fn appeal(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Appeal(AppealCmd {
        id: f.id()?,
        against: f.reference("against")?,
        station: f.text("station")?,
        grounds: f.long_text("grounds", MAX_GROUNDS_CHARS)?,
        evidence: f.evidence()?,
    }))
}

fn decide(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Decide(DecideCmd {
        appeal: f.reference("appeal")?,
        outcome: {
            let o = f.text("outcome")?;
            OutcomeCmd::parse(&o).ok_or_else(|| {
                field_error(
                    "outcome",
                    format!("`{o}` is not upheld, partial or rejected (or 成立, 部分成立, 不成立 / 驳回)"),
                    format!("“{o}”不是 成立、部分成立、不成立（驳回）之一"),
                )
            })?
        },
        points: f.opt_decimal("points")?,
        by: f.label("by", MAX_DEPARTMENT_CHARS)?,
        reason: f.long_text("reason", MAX_REASON_CHARS)?,
        evidence: f.evidence()?,
    }))
}

fn reverse(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::Reverse(ReverseCmd {
        id: f.id()?,
        target: f.reference("target")?,
        by: f.label("by", MAX_DEPARTMENT_CHARS)?,
        reason: f.long_text("reason", MAX_REASON_CHARS)?,
        evidence: f.opt_evidence()?,
    }))
}

fn key_register(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::KeyRegister(KeyRegisterCmd {
        actor: {
            let name = f.label("actor", MAX_DEPARTMENT_CHARS.max(MAX_STATION_CODE_CHARS))?;
            let kind = f.text("actor_kind")?;
            match crate::events::event::Actor::from_parts(&kind, name) {
                Some(actor) => actor,
                None => {
                    return Err(field_error(
                        "actor_kind",
                        format!("`{kind}` is not department, station or bureau"),
                        format!(
                            "“{kind}”不是 部门（department）、司法所（station）或 司法局（bureau）"
                        ),
                    ))
                }
            }
        },
        public_key: f.public_key()?,
    }))
}

fn key_revoke(f: &Fields<'_>) -> Result<Command, FieldError> {
    Ok(Command::KeyRevoke(KeyRevokeCmd {
        public_key: f.public_key()?,
        reason: f.long_text("reason", MAX_REASON_CHARS)?,
    }))
}

/// Parses a line that must be one JSON object whose keys are all different: with a key given
/// twice, a reader could see one value and kaohe another.
pub(crate) fn parse_object(line: &str) -> Result<Map<String, Value>, String> {
    // The names are all different, so the map keeps every field, in its order.
    parse_fields(line).map(|fields| fields.into_iter().collect())
}

/// Fields past which [`parse_fields`] also keeps a set of the names it has seen (no op has
/// more than twelve; the set keeps a line of thousands of keys from costing their square).
const FIELDS_SEARCHED_IN_ORDER: usize = 16;

/// [`parse_object`]'s fields as a list in their order, as an import line is read: a line has a
/// dozen fields at most, and a list searched from the front costs far less than a `Map`,
/// which hashes every name with SipHash (it was a fifth of the parsing thread of an import).
fn parse_fields(line: &str) -> Result<Vec<(String, Value)>, String> {
    struct Strict(Vec<(String, Value)>);

    impl<'de> serde::Deserialize<'de> for Strict {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Strict;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Strict, A::Error> {
                    let mut fields: Vec<(String, Value)> = Vec::new();
                    let mut seen: rustc_hash::FxHashSet<String> = Default::default();
                    while let Some(k) = a.next_key::<String>()? {
                        let twice = if fields.len() < FIELDS_SEARCHED_IN_ORDER {
                            fields.iter().any(|(name, _)| *name == k)
                        } else {
                            if seen.is_empty() {
                                seen.extend(fields.iter().map(|(name, _)| name.clone()));
                            }
                            !seen.insert(k.clone())
                        };
                        if twice {
                            return Err(serde::de::Error::custom(format!(
                                "key `{k}` appears twice"
                            )));
                        }
                        let v: Value = a.next_value()?;
                        fields.push((k, v));
                    }
                    Ok(Strict(fields))
                }
            }
            d.deserialize_map(V)
        }
    }

    serde_json::from_str::<Strict>(line)
        .map(|s| s.0)
        .map_err(|e| json_error(&e))
}

/// [`json_error`]'s message in Chinese: what is wrong, with the parser's own words beneath.
pub(crate) fn json_error_zh(message: &str) -> String {
    match message.strip_prefix("not JSON (column ") {
        Some(rest) => {
            let (column, what) = rest.split_once("): ").unwrap_or((rest, ""));
            format!("不是有效的 JSON（第 {column} 列）：{what}")
        }
        None => format!("不是所需的 JSON 对象：{message}"),
    }
}

/// A JSON syntax error located by column: the line number is the import's, not the parser's.
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    if e.is_data() {
        return what.to_string();
    }
    format!("not JSON (column {}): {what}", e.column())
}

/// A command's JSON object: its fields in order ([`parse_fields`]).
struct Fields<'a>(&'a [(String, Value)]);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let t = s.trim();
                if t.is_empty() {
                    return Err(field_error(name, "is empty", "不能为空"));
                }
                Ok(Some(t.to_string()))
            }
            Some(_) => Err(field_error(name, "must be a string", "应为文字")),
        }
    }

    fn text(&self, name: &str) -> Result<String, FieldError> {
        self.opt_text(name)?
            .ok_or_else(|| field_error(name, "is required", "必须填写"))
    }

    /// A single-line label of bounded length ([`rules::label`]).
    fn label(&self, name: &'static str, max: usize) -> Result<String, FieldError> {
        let t = self.text(name)?;
        rules::label(name, &t, max)?;
        Ok(t)
    }

    /// A code ([`rules::code`]).
    fn code(&self, name: &'static str, max: usize) -> Result<String, FieldError> {
        let t = self.text(name)?;
        rules::code(name, &t, max)?;
        Ok(t)
    }

    fn id(&self) -> Result<Option<String>, FieldError> {
        let Some(id) = self.opt_text("id")? else {
            return Ok(None);
        };
        rules::caller_id(&id)?;
        Ok(Some(id))
    }

    fn date(&self, name: &str) -> Result<Date, FieldError> {
        let t = self.text(name)?;
        parse_date(&t).ok_or_else(|| {
            field_error(
                name,
                date_text::why_not_a_date(&t),
                date_text::why_not_a_date_zh(&t),
            )
        })
    }

    /// A decimal given as a JSON string or number.
    fn opt_decimal(&self, name: &str) -> Result<Option<Decimal>, FieldError> {
        let text = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => {
                return decimal::parse_json_number(&n.to_string())
                    .map(Some)
                    .map_err(|e| field_error(name, e.to_string(), e.zh()))
            }
            Some(_) => return Err(field_error(name, "must be a number", "应为数字")),
        };
        decimal::parse(&text)
            .map(Some)
            .map_err(|e| field_error(name, e.to_string(), e.zh()))
    }

    /// A whole number ≥ 0 given as a JSON integer or string.
    fn opt_whole(&self, name: &'static str, max: u32) -> Result<Option<u32>, FieldError> {
        let text = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(field_error(
                    name,
                    "must be a whole number",
                    "应为不小于 0 的整数",
                ))
            }
        };
        let n: u32 = text.parse().map_err(|_| {
            field_error(
                name,
                format!("`{text}` is not a whole number ≥ 0"),
                format!("“{text}”不是不小于 0 的整数"),
            )
        })?;
        rules::whole(name, n, max)?;
        Ok(Some(n))
    }

    fn opt_note(&self) -> Result<Option<String>, FieldError> {
        self.opt_long_text("note", MAX_NOTE_CHARS)
    }

    /// Free text of bounded length, line breaks allowed ([`rules::long_text`]).
    fn opt_long_text(&self, name: &'static str, max: usize) -> Result<Option<String>, FieldError> {
        let Some(t) = self.opt_text(name)? else {
            return Ok(None);
        };
        rules::long_text(name, &t, max)?;
        Ok(Some(t))
    }

    fn long_text(&self, name: &'static str, max: usize) -> Result<String, FieldError> {
        self.opt_long_text(name, max)?
            .ok_or_else(|| field_error(name, "is required", "必须填写"))
    }

    /// A reference to an event: its id, seq or hash.
    fn reference(&self, name: &'static str) -> Result<String, FieldError> {
        let text = match self.get(name) {
            Some(Value::Number(n)) => n.to_string(),
            _ => self.text(name)?,
        };
        rules::label(name, &text, MAX_REFERENCE_CHARS)?;
        Ok(text)
    }

    /// An Ed25519 public key as 64 hex digits.
    fn public_key(&self) -> Result<[u8; 32], FieldError> {
        let t = self.text("public_key")?;
        let bytes = crate::events::chain::parse_hash(&t).ok_or_else(|| {
            field_error(
                "public_key",
                "is not 64 lower-case hex digits",
                "不是 64 位小写十六进制数",
            )
        })?;
        if !crate::events::sign::is_public_key(&bytes) {
            return Err(field_error(
                "public_key",
                "is not an Ed25519 public key",
                "不是 Ed25519 公钥",
            ));
        }
        Ok(bytes)
    }

    /// Evidence references that may be left out (a reversal's).
    fn opt_evidence(&self) -> Result<Vec<String>, FieldError> {
        self.references(false)
    }

    /// Evidence references: a non-empty array of non-empty strings (a single string is taken
    /// as a list of one).
    fn evidence(&self) -> Result<Vec<String>, FieldError> {
        self.references(true)
    }

    /// Evidence references, each trimmed, checked by [`rules::evidence`].
    fn references(&self, required: bool) -> Result<Vec<String>, FieldError> {
        let items: Vec<&Value> = match self.get("evidence") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::String(_)) => vec![v],
            Some(_) => {
                return Err(field_error(
                    "evidence",
                    "must be an array of strings",
                    "应为一组文字",
                ))
            }
        };
        let refs = items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                _ => Err(field_error(
                    "evidence",
                    format!("entry {} is not a string", i + 1),
                    format!("第 {} 条证据应为文字", i + 1),
                )),
            })
            .collect::<Result<Vec<String>, FieldError>>()?;
        rules::evidence(&refs, required)?;
        Ok(refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_examples() {
        let s = parse_line(r#"{"op":"station","code":"WJ01","name":"湖塘司法所","kind":"town"}"#);
        assert!(matches!(s, Ok(Command::Station(_))));
        let r = parse_line(r#"{"op":"record","id":"D1","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-06-15","value":"95","evidence":["常武司基〔2018〕12号"]}"#).unwrap();
        let Command::Record(r) = r else { panic!() };
        assert_eq!(r.inputs.value.unwrap().to_string(), "95");
        let m = parse_line(r#"{"op":"metric","id":"M1","station":"WJ01","metric":"mediations_per_mediator","value":12.5,"by":"基层科","occurred":"2018-12-20","evidence":["年度统计表"]}"#).unwrap();
        let Command::Metric(m) = m else { panic!() };
        assert_eq!(m.value.to_string(), "12.5");
    }

    #[test]
    fn names_the_bad_field() {
        let e = parse_line(r#"{"op":"record","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-06-15","value":"abc","evidence":["x"]}"#).unwrap_err();
        assert_eq!(e.field, "value");
        let e = parse_line(r#"{"op":"record","clause":"1.6.c","station":"WJ01","by":"基层科","occurred":"2018-06-15","evidence":[]}"#).unwrap_err();
        assert_eq!(e.field, "evidence");
        let e =
            parse_line(r#"{"op":"station","code":"WJ01","name":"x","kind":"town","colour":"red"}"#)
                .unwrap_err();
        assert_eq!(e.field, "colour");
    }

    /// A JSON object line: some of a station's or a record's fields (so that some lines
    /// are whole commands and the field readers are reached), maybe other distinct names (one
    /// escaped), values of every kind, maybe one name repeated at a later place (before or
    /// after the first [`FIELDS_SEARCHED_IN_ORDER`]), and a broken line now and then.
    fn object_line() -> impl proptest::strategy::Strategy<Value = (String, bool, bool)> {
        use proptest::prelude::*;
        let value = prop_oneof![
            Just("null".to_string()),
            Just("12.50".to_string()),
            Just("[\"a\",{\"b\":1}]".to_string()),
            Just("{\"x\":{\"x\":2}}".to_string()),
            Just("\"1.3.b\"".to_string()),
        ];
        let station = [
            ("op", "\"station\""),
            ("code", "\"S01\""),
            ("name", "\"甲所\""),
            ("kind", "\"town\""),
        ];
        let record = [
            ("op", "\"record\""),
            ("clause", "\"1.3.b\""),
            ("station", "\"S01\""),
            ("by", "\"基层科\""),
            ("occurred", "\"2018-06-01\""),
            ("evidence", "[\"e\"]"),
        ];
        let others = prop_oneof![
            2 => Just(std::collections::BTreeSet::new()),
            1 => proptest::collection::btree_set("[a-z]{1,3}|\\\\u00e9", 1..40),
        ];
        (
            any::<bool>(),
            proptest::collection::vec(proptest::bool::weighted(0.9), 6),
            others,
            proptest::collection::vec(value, 45),
            proptest::option::weighted(
                0.4,
                (
                    any::<proptest::sample::Index>(),
                    any::<proptest::sample::Index>(),
                ),
            ),
            proptest::bool::weighted(0.1),
        )
            .prop_map(move |(is_station, kept, others, values, repeat, broken)| {
                let known: &[(&str, &str)] = if is_station { &station } else { &record };
                let mut fields: Vec<(String, String)> = known
                    .iter()
                    .zip(kept.iter().chain(std::iter::repeat(&true)))
                    .filter(|(_, keep)| **keep)
                    .map(|((k, v), _)| (k.to_string(), v.to_string()))
                    .collect();
                let taken: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
                fields.extend(
                    others
                        .into_iter()
                        .filter(|n| !taken.contains(n))
                        .zip(values.iter().cycle().cloned()),
                );
                let repeated = repeat.is_some() && !fields.is_empty();
                if let (Some((from, to)), true) = (repeat, repeated) {
                    let from = from.index(fields.len());
                    let at = from + 1 + to.index(fields.len() - from);
                    fields.insert(at, fields[from].clone());
                }
                let body: Vec<String> =
                    fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                let line = format!("{{{}}}", body.join(","));
                match broken {
                    true => (line[..line.len() - 2].to_string(), repeated, broken),
                    false => (line, repeated, broken),
                }
            })
    }

    /// An import line and the same object handed in as a `Map` agree on lines that are no
    /// object, and on a name written once escaped and once plain.
    #[test]
    fn an_import_lines_fields_refuse_what_the_object_refuses() {
        for line in [
            "[]",
            "\"op\"",
            "1",
            "null",
            "{}",
            "{\"op\":\"station\"} x",
            "{\"op\":\"station\",\"\\u006fp\":\"station\"}",
            "{\"\\u006fp\":\"station\",\"code\":\"S1\",\"name\":\"甲\",\"kind\":\"town\"}",
        ] {
            let list =
                parse_fields(line).map(|l| from_fields(Fields(&l)).map_err(|e| e.to_string()));
            let map = parse_object(line).map(|m| from_object(&m).map_err(|e| e.to_string()));
            assert_eq!(format!("{list:?}"), format!("{map:?}"), "{line}");
        }
        assert!(matches!(
            parse_line(
                "{\"\\u006fp\":\"station\",\"code\":\"S1\",\"name\":\"甲\",\"kind\":\"town\"}"
            ),
            Ok(Command::Station(_))
        ));
    }

    proptest::proptest! {
        /// Guards the import's reading of a line: a whole line is refused exactly when a name
        /// repeats (found by the list before [`FIELDS_SEARCHED_IN_ORDER`] names and by the set
        /// after), a broken one always; the `Map` the other parsers of a line get keeps every
        /// field; and a command handed in as that `Map` (the CLI's and the service's way in)
        /// gives the same command or error as the import line.
        #[test]
        fn an_import_lines_fields_are_the_objects((line, repeated, broken) in object_line()) {
            let list = parse_fields(&line);
            if broken {
                proptest::prop_assert!(list.is_err());
            } else {
                let twice = list.as_ref().err().is_some_and(|e| e.contains("appears twice"));
                proptest::prop_assert_eq!(twice, repeated, "{:?}", list);
                proptest::prop_assert_eq!(list.is_ok(), !repeated);
            }
            if let Ok(l) = &list {
                let m = parse_object(&line).map_err(|e| e.to_string());
                proptest::prop_assert_eq!(m.as_ref().map(|m| m.len()).ok(), Some(l.len()));
                let a = from_fields(Fields(l)).map_err(|e| e.to_string());
                let b = from_object(&m.unwrap_or_default()).map_err(|e| e.to_string());
                proptest::prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
    }
}
