//! The ledger as a service, without HTTP (`src/web/` maps requests onto it): one writer and
//! many readers in one process; sign-in by key challenge; what each actor may read; and writes
//! in two steps: the service prepares the event and the bytes its signer signs, the signer
//! signs them where they are (a browser, a script), and the service commits with that
//! signature, re-checked against the ledger as it then stands. The service never holds an
//! actor's private key.

pub mod group;
pub mod reads;
pub mod sessions;

use crate::base::limits::{MAX_PREPARED, PREPARED_TTL_SECS};
use crate::domain::rules;
use crate::events::event::{Actor, After, EventKind, Signer};
use crate::events::sign;
use crate::ledger::query::Query;
use crate::ledger::{Attached, Ledger, LedgerError, Numbered, Outcome, Prepared};
use crate::ops::{actions, explain, export};
use crate::render::{outcome, view};
use serde_json::{json, Map, Value};
use sessions::{Session, Sessions, SignInError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use sessions::sign_in_message;

/// What the service refuses, with the HTTP status it maps to (`ServiceError::status`). Each
/// refusal says why in English (the command line's words: `Display`, the JSON `error`) and in
/// Chinese (the pages' words, saying the same: [`ServiceError::zh`], the JSON `error_zh`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Bad input: a field named, the CLI's message (400).
    #[error("field `{field}`: {message}")]
    Bad {
        field: String,
        message: String,
        zh: String,
    },
    /// No session, or it ended (401).
    #[error("{0}")]
    Unauthorized(String, String),
    /// Signed in, but this actor may not (403).
    #[error("{0}")]
    Forbidden(String, String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String, String),
    /// The ledger holds something else under this id, or moved on since prepare (409).
    #[error("field `{field}`: {message}")]
    Conflict {
        field: String,
        message: String,
        zh: String,
    },
    /// Too many sign-in attempts, or prepared commands for one key (429).
    #[error("{0}")]
    TooMany(String, String),
    /// The request's body did not arrive in time (408).
    #[error("{0}")]
    Timeout(String, String),
    /// Full (too many sessions, challenges or prepared commands) (503).
    #[error("{0}")]
    Unavailable(String, String),
    /// The ledger is damaged or cannot be read or written (500): the detail is an operator's,
    /// in English only.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Bad { .. } => 400,
            ServiceError::Unauthorized(..) => 401,
            ServiceError::Forbidden(..) => 403,
            ServiceError::NotFound(..) => 404,
            ServiceError::Conflict { .. } => 409,
            ServiceError::TooMany(..) => 429,
            ServiceError::Timeout(..) => 408,
            ServiceError::Unavailable(..) => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    /// The refusal in Chinese, saying what the English one says.
    pub fn zh(&self) -> String {
        match self {
            ServiceError::Bad { zh, .. } | ServiceError::Conflict { zh, .. } => zh.clone(),
            ServiceError::Unauthorized(_, zh)
            | ServiceError::Forbidden(_, zh)
            | ServiceError::NotFound(_, zh)
            | ServiceError::TooMany(_, zh)
            | ServiceError::Timeout(_, zh)
            | ServiceError::Unavailable(_, zh) => zh.clone(),
            ServiceError::Internal(detail) => format!("服务器内部错误：{detail}"),
        }
    }

    /// The field a refusal names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Bad { field, .. } | ServiceError::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The error as the service's JSON body: `{"error": …, "error_zh": …, "field": …}`.
    pub fn json(&self) -> Value {
        let message = match self {
            ServiceError::Bad { message, .. } | ServiceError::Conflict { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        };
        let mut m = Map::new();
        m.insert("error".into(), json!(message));
        m.insert("error_zh".into(), json!(self.zh()));
        if let Some(f) = self.field() {
            m.insert("field".into(), json!(f));
        }
        Value::Object(m)
    }

    pub fn bad(field: &str, message: impl Into<String>, zh: impl Into<String>) -> ServiceError {
        ServiceError::Bad {
            field: field.into(),
            message: message.into(),
            zh: zh.into(),
        }
    }
}

impl From<LedgerError> for ServiceError {
    fn from(e: LedgerError) -> ServiceError {
        match e {
            LedgerError::Refused {
                field, message, zh, ..
            } => {
                let conflict = matches!(field.as_str(), "signature" | "after")
                    || (field == "id" && message.contains("already"));
                match conflict {
                    true => ServiceError::Conflict { field, message, zh },
                    false => ServiceError::Bad { field, message, zh },
                }
            }
            LedgerError::NotReady(message, zh) => ServiceError::Conflict {
                field: "period".into(),
                message,
                zh,
            },
            LedgerError::Clock(message, zh) => ServiceError::Unavailable(message, zh),
            e if e.is_busy() => ServiceError::Unavailable(
                e.to_string(),
                "台账正被另一个程序使用：请稍后再试".into(),
            ),
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<actions::ActionError> for ServiceError {
    fn from(e: actions::ActionError) -> ServiceError {
        match e {
            actions::ActionError::Ledger(e) => e.into(),
            actions::ActionError::Field(e) => ServiceError::bad(&e.field, e.message, e.zh),
            actions::ActionError::Input(m, zh) => input_error(&m, zh),
            actions::ActionError::Problem(m, zh) => ServiceError::NotFound(m, zh),
            actions::ActionError::Proof(e) => ServiceError::Internal(e.to_string()),
        }
    }
}

/// A parser's "field `F`: message" as a refusal naming F.
fn input_error(text: &str, zh: String) -> ServiceError {
    let named = text
        .strip_prefix("field `")
        .and_then(|rest| rest.split_once("`: "));
    match named {
        Some((field, message)) => ServiceError::bad(field, message, zh),
        None => ServiceError::bad("body", text, zh),
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub commits: AtomicU64,
    pub commit_us_total: AtomicU64,
    pub prepared: AtomicU64,
    pub sign_ins: AtomicU64,
}

/// A command prepared for its signer: held until it is committed or expires.
struct Pending {
    public_key: [u8; 32],
    what: What,
    after: After,
    expires_us: i64,
}

/// What a prepared write does.
#[derive(Clone)]
enum What {
    Command(Numbered),
    /// The close, with the reason to accept gaps if any.
    Close(Option<String>),
    /// An import file's commands, each with whether its event needs a signature (false:
    /// already applied, unchanged).
    Batch(Vec<(Numbered, bool)>),
}

/// The service: a ledger opened to write, the readers' view of it, sessions and prepared
/// commands.
pub struct Service {
    writer: Mutex<Ledger>,
    /// The ledger as of the last commit: readers take it and never wait for the writer.
    reader: RwLock<Arc<Ledger>>,
    ledger_id: [u8; 16],
    sessions: Mutex<Sessions>,
    prepared: Mutex<HashMap<String, Pending>>,
    /// Commits waiting for the writer, applied together.
    group: group::Group,
    /// Who uploaded each evidence file through this service (they may cite it).
    uploads: Mutex<HashMap<crate::events::event::Hash, std::collections::BTreeSet<[u8; 32]>>>,
    /// The log key that signs the scheduled checkpoints, if any.
    checkpoint_key: Option<sign::KeyPair>,
    clock: Box<dyn Fn() -> jiff::Timestamp + Send + Sync>,
    pub metrics: Metrics,
}

fn poisoned() -> ServiceError {
    ServiceError::Internal("a request failed while it held the ledger; restart the service".into())
}

impl Service {
    /// Opens the ledger at `path` for the service (it holds it alone); `clock` tells the time
    /// (the command line's, which `KAOHE_NOW` fixes in tests).
    pub fn open(
        path: &Path,
        clock: Box<dyn Fn() -> jiff::Timestamp + Send + Sync>,
    ) -> Result<Service, LedgerError> {
        let writer = Ledger::open(path)?;
        let reader = Arc::new(writer.reader()?);
        Ok(Service {
            ledger_id: writer.genesis().ledger_id,
            writer: Mutex::new(writer),
            reader: RwLock::new(reader),
            sessions: Mutex::new(Sessions::default()),
            prepared: Mutex::new(HashMap::new()),
            group: group::Group::default(),
            checkpoint_key: None,
            uploads: Mutex::new(HashMap::new()),
            clock,
            metrics: Metrics::default(),
        })
    }

    /// Signs checkpoints with `key` on the service's schedule ([`Service::checkpoint_now`]):
    /// a log key the ledger does not register (or, in a ledger not rooted in a bureau key,
    /// any key but an actor's in force) — a server never holds an actor's key.
    pub fn with_checkpoint_key(mut self, key: sign::KeyPair) -> Result<Service, ServiceError> {
        let ledger = self.ledger()?;
        actions::checkpoint_key_allowed(&ledger, &key.public_key(), false)?;
        drop(ledger);
        self.checkpoint_key = Some(key);
        Ok(self)
    }

    /// Signs and stores a checkpoint of the head with the service's log key when the head
    /// moved since the last stored checkpoint; gives its size (`None`: nothing to do).
    pub fn checkpoint_now(&self) -> Result<Option<u64>, ServiceError> {
        let Some(key) = &self.checkpoint_key else {
            return Ok(None);
        };
        let writer = self.writer.lock().map_err(|_| poisoned())?;
        let size = writer.head().next_seq;
        let latest = crate::ops::proofs::stored_checkpoints(&writer)
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .iter()
            .map(|c| c.checkpoint.size)
            .max();
        if latest == Some(size) {
            return Ok(None);
        }
        crate::ops::proofs::checkpoint(&writer, key)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Some(size))
    }

    pub fn ledger_id(&self) -> [u8; 16] {
        self.ledger_id
    }

    /// The service's clock (the command line's: `KAOHE_NOW` fixes it in tests).
    pub fn now(&self) -> jiff::Timestamp {
        (self.clock)()
    }

    fn now_us(&self) -> i64 {
        self.now().as_microsecond()
    }

    /// The ledger as of the last commit.
    pub fn ledger(&self) -> Result<Arc<Ledger>, ServiceError> {
        Ok(self.reader.read().map_err(|_| poisoned())?.clone())
    }

    fn sessions(&self) -> Result<std::sync::MutexGuard<'_, Sessions>, ServiceError> {
        self.sessions.lock().map_err(|_| poisoned())
    }

    /// Open sessions (for `/metrics`).
    pub fn session_count(&self) -> usize {
        self.sessions().map(|s| s.open_count()).unwrap_or(0)
    }

    /// The registered actor of a key in force, or a refusal.
    fn actor_in_force(&self, public_key: &[u8; 32]) -> Result<Actor, ServiceError> {
        let ledger = self.ledger()?;
        let seq = self.in_force(&ledger, public_key)?;
        match ledger.event(seq)?.map(|b| b.kind().clone()) {
            Some(EventKind::KeyRegistered(k) | EventKind::RootKey(k))
                if &k.public_key == public_key =>
            {
                Ok(k.actor)
            }
            Some(_) => Err(ServiceError::Internal(format!(
                "the key index points at seq {seq}, which registers another key: run kaohe verify"
            ))),
            None => Err(not_registered(public_key)),
        }
    }

    /// The seq that registered a key in force (one index lookup: every request checks it).
    fn in_force(&self, ledger: &Ledger, public_key: &[u8; 32]) -> Result<u64, ServiceError> {
        match ledger.key_state(public_key)? {
            Some((seq, None)) => Ok(seq),
            Some((_, Some(_))) => Err(ServiceError::Unauthorized(
                format!("key {} was revoked", hex::encode(public_key)),
                format!("密钥 {} 已被撤销", hex::encode(public_key)),
            )),
            None => Err(not_registered(public_key)),
        }
    }

    /// `POST /api/v1/session/challenge`: a one-use challenge for a key in force, and the
    /// bytes to sign (`sign_in_message`).
    pub fn challenge(&self, public_hex: &str) -> Result<Value, ServiceError> {
        let public = hex32("public_key", public_hex)?;
        self.actor_in_force(&public)?;
        let challenge = self
            .sessions()?
            .challenge(public, self.now_us())
            .map_err(session_error)?;
        Ok(json!({
            "challenge": hex::encode(challenge),
            "to_sign": hex::encode(sign_in_message(&self.ledger_id, &challenge)),
        }))
    }

    /// `POST /api/v1/session`: the challenge's signature opens a session; gives the token and
    /// `{"token", "actor", "expires_at"}`.
    pub fn sign_in(
        &self,
        public_hex: &str,
        challenge_hex: &str,
        signature_hex: &str,
    ) -> Result<(String, Value), ServiceError> {
        let public = hex32("public_key", public_hex)?;
        let challenge = hex32("challenge", challenge_hex)?;
        let signature = hex64("signature", signature_hex)?;
        let actor = self.actor_in_force(&public)?;
        let (token, session) = self
            .sessions()?
            .sign_in(
                &self.ledger_id,
                public,
                challenge,
                &signature,
                actor,
                self.now_us(),
            )
            .map_err(session_error)?;
        self.metrics.sign_ins.fetch_add(1, Ordering::Relaxed);
        let expires = jiff::Timestamp::from_microsecond(session.expires_us)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let body = json!({
            "token": token,
            "actor": session.actor.to_string(),
            "actor_kind": session.actor.kind_str(),
            "actor_name": session.actor.name(),
            "public_key": hex::encode(session.public_key),
            "expires_at": expires,
        });
        Ok((token, body))
    }

    /// The session of a token: open, and its key still in force (a revoked key's sessions
    /// end at once).
    pub fn session(&self, token: &str) -> Result<Session, ServiceError> {
        let now = self.now_us();
        let session = self.sessions()?.get(token, now).ok_or_else(|| {
            ServiceError::Unauthorized(
                "sign in first (no session, or it ended)".into(),
                "请先登录（没有会话，或会话已结束）".into(),
            )
        })?;
        if let Err(e) = self.in_force(&*self.ledger()?, &session.public_key) {
            self.sessions()?.end_key(&session.public_key);
            return Err(e);
        }
        Ok(session)
    }

    /// Who a token's session is for, without checking its key (the access log's `who`).
    pub fn session_actor(&self, token: &str) -> Option<Actor> {
        let now = self.now_us();
        self.sessions().ok()?.get(token, now).map(|s| s.actor)
    }

    /// Ends a session (sign out).
    pub fn sign_out(&self, token: &str) -> Result<(), ServiceError> {
        self.sessions()?.end(token);
        Ok(())
    }

    /// `GET /api/v1/score`: every station's score (a station sees only its own row until the
    /// period is closed, then the whole ranking).
    pub fn score(&self, who: &Session, q: &Query) -> Result<Value, ServiceError> {
        let ledger = self.ledger()?;
        let mut s = actions::scores(&ledger, q)?;
        let hide_rank = matches!(who.actor, Actor::Station(_)) && s.final_at.is_none();
        if let Actor::Station(code) = &who.actor {
            if s.final_at.is_none() {
                s.scores.retain(|x| &x.station == code);
            }
        }
        let json = view::score_json(&s.scores, &s.view, s.final_at, &s.consequences);
        let mut v =
            serde_json::to_value(json).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if hide_rank {
            for row in v["stations"].as_array_mut().into_iter().flatten() {
                if let Value::Object(m) = row {
                    m.remove("rank");
                }
            }
        }
        Ok(v)
    }

    /// `GET /api/v1/stations/{code}/explain`.
    pub fn explain(
        &self,
        who: &Session,
        station: &str,
        item: Option<&str>,
        q: &Query,
    ) -> Result<Value, ServiceError> {
        may_read_station(who, station)?;
        let ledger = self.ledger()?;
        actions::known_station(&ledger, station)?;
        let view = ledger.view(q)?;
        let x = explain::explain(&ledger, &view, station, item)?;
        let mut v = view::explain_json(&x);
        // A station learns the ranking (its place, how many compete) only once it is final.
        if matches!(who.actor, Actor::Station(_)) && ledger.closed_at().is_none() {
            if let Value::Object(m) = &mut v {
                m.remove("rank");
                m.remove("stations");
            }
        }
        Ok(v)
    }

    /// What the final scores mean for one station (its row's `consequences` in
    /// `GET /api/v1/score`): `None` unless the view shows the final scores. Only a view that
    /// includes the close ranks every station for it, and then everyone may read the ranking.
    pub fn consequences(
        &self,
        who: &Session,
        station: &str,
        q: &Query,
    ) -> Result<Option<Vec<crate::domain::consequences::Outcome>>, ServiceError> {
        may_read_station(who, station)?;
        let ledger = self.ledger()?;
        let view = ledger.view(q)?;
        if ledger.final_at(&view).is_none() {
            return Ok(None);
        }
        if ledger.rubric().consequences.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut s = actions::scores(&ledger, q)?;
        Ok(Some(s.consequences.remove(station).unwrap_or_default()))
    }

    /// `GET /api/v1/rubric`.
    pub fn rubric(&self) -> Result<Value, ServiceError> {
        let ledger = self.ledger()?;
        let hash = hex::encode(ledger.genesis().rubric_hash);
        Ok(view::rubric_json(ledger.rubric(), &hash))
    }

    /// `GET /api/v1/appeals`: a station's own; everyone else's all.
    pub fn appeals(&self, who: &Session, pending: bool) -> Result<Value, ServiceError> {
        let ledger = self.ledger()?;
        let own = match &who.actor {
            Actor::Station(code) => Some(code.as_str()),
            _ => None,
        };
        let entries = crate::ops::appeals::list(&ledger, own, pending)?;
        let mut v = view::appeals_json(ledger.rubric(), &entries);
        // What the deciding department weighs beside the grounds: the deduction's own
        // evidence, note and arithmetic (fields added to `appeal list --json`'s `against`).
        let mut kinds = HashMap::new();
        let rows = v["appeals"].as_array_mut().into_iter().flatten();
        for (row, e) in rows.zip(&entries) {
            let record = &e.record;
            let working = working(&ledger, &mut kinds, record)?;
            if let Value::Object(against) = &mut row["against"] {
                against.insert("evidence".into(), json!(record.evidence));
                against.insert("note".into(), json!(record.inputs.note));
                against.insert("working".into(), json!(working.as_ref().map(|w| &w.text)));
                against.insert(
                    "working_zh".into(),
                    json!(working.as_ref().map(|w| &w.text_zh)),
                );
            }
        }
        Ok(v)
    }

    /// The gaps a close would find now (`GET /api/v1/gaps`): each standard a station's latest
    /// figure fails with no deduction recorded under its clause, as the closing event lists
    /// accepted gaps (`{"gaps": [{"station", "clause", "metric", "value", "points"}]}`). They
    /// name every station: not for a station.
    pub fn gaps(&self, who: &Session) -> Result<Value, ServiceError> {
        if let Actor::Station(_) = who.actor {
            return Err(ServiceError::Forbidden(
                "the gaps name every station: not for a station".into(),
                "未扣分情形涉及所有司法所：司法所不能查看".into(),
            ));
        }
        let ledger = self.ledger()?;
        let gaps = crate::ops::close::pending_gaps(&ledger)?;
        let list: Vec<Value> = gaps
            .iter()
            .map(|g| json!({"station": g.station, "clause": g.clause, "metric": g.metric, "value": g.value.to_string(), "points": g.points.to_string()}))
            .collect();
        Ok(json!({"gaps": list, "closed_at_seq": ledger.closed_at()}))
    }

    /// `POST /api/v1/commands/prepare`: a command in the import-line shape, checked fully
    /// with nothing written; its id fixed when it has none; the event and the bytes its
    /// signer signs. Only the event's signer may prepare it.
    pub fn prepare(&self, who: &Session, body: &Value) -> Result<Value, ServiceError> {
        let Value::Object(object) = body else {
            return Err(ServiceError::bad(
                "body",
                "a command is a JSON object",
                "命令应为一个 JSON 对象",
            ));
        };
        let object = with_id(object)?;
        let command = actions::parse(&object)?;
        let ledger = self.ledger()?;
        let prepared = ledger.prepare(&command, self.now())?;
        let (kind, signer, after, to_sign) = match prepared {
            Prepared::Unchanged { seq } => {
                let body = ledger
                    .event(seq)?
                    .ok_or_else(|| ServiceError::Internal(format!("event {seq} is missing")))?;
                // Only its signer learns that an event with this content exists.
                may_sign(who, body.kind().signer(ledger.bureau_rooted()).as_ref())?;
                return Ok(outcome::outcome_json(
                    ledger.rubric(),
                    seq,
                    false,
                    body.kind(),
                ));
            }
            Prepared::Event {
                kind,
                signer,
                after,
                to_sign,
            } => (kind, signer, after, to_sign),
        };
        may_sign(who, signer.as_ref())?;
        self.may_cite(who, crate::ops::evidence::references_of(&kind))?;
        let id = self.hold(
            who,
            What::Command(Numbered {
                line: None,
                command,
            }),
            after,
        )?;
        self.metrics.prepared.fetch_add(1, Ordering::Relaxed);
        let mut v = prepared_json(&id, &to_sign, &after, who, &kind);
        if let EventKind::PointsRecorded(p) = kind.as_ref() {
            // The arithmetic behind the points, shown before the signer signs.
            let w = working(&ledger, &mut HashMap::new(), p)?;
            v["working"] = json!(w.as_ref().map(|w| &w.text));
            v["working_zh"] = json!(w.as_ref().map(|w| &w.text_zh));
        }
        Ok(v)
    }

    /// Holds a prepared write for its signer; gives its id.
    fn hold(&self, who: &Session, what: What, after: After) -> Result<String, ServiceError> {
        let random = sessions::random32().map_err(|e| ServiceError::Internal(e.to_string()))?;
        let id = hex::encode(&random[..16]);
        let now = self.now_us();
        let mut held = self.prepared.lock().map_err(|_| poisoned())?;
        held.retain(|_, p| p.expires_us > now);
        let mine = held
            .values()
            .filter(|p| p.public_key == who.public_key)
            .count();
        if mine >= crate::base::limits::MAX_PREPARED_PER_KEY {
            return Err(ServiceError::TooMany(
                format!("this key holds {mine} prepared commands: commit them, or wait {PREPARED_TTL_SECS} s for them to expire"),
                format!("这把密钥已有 {mine} 条待签名的命令：请先签名提交，或等 {PREPARED_TTL_SECS} 秒后它们过期"),
            ));
        }
        if held.len() >= MAX_PREPARED {
            return Err(ServiceError::Unavailable(
                format!(
                    "more than {MAX_PREPARED} commands wait for their signatures; try again later"
                ),
                format!("等待签名的命令超过 {MAX_PREPARED} 条；请稍后再试"),
            ));
        }
        held.insert(
            id.clone(),
            Pending {
                public_key: who.public_key,
                what,
                after,
                expires_us: now + PREPARED_TTL_SECS * 1_000_000,
            },
        );
        Ok(id)
    }

    /// `POST /api/v1/close/prepare`: the bureau's close, checked (pending appeals and gaps
    /// refuse it, 409) with nothing written: the closing event and the bytes the bureau signs;
    /// committed like any prepared command.
    pub fn prepare_close(
        &self,
        who: &Session,
        accept_gaps: Option<&str>,
    ) -> Result<Value, ServiceError> {
        may_sign(who, Some(&Signer::Bureau))?;
        let ledger = self.ledger()?;
        let (kind, after, to_sign) = crate::ops::close::prepare(&ledger, self.now(), accept_gaps)?;
        let id = self.hold(who, What::Close(accept_gaps.map(str::to_string)), after)?;
        Ok(prepared_json(&id, &to_sign, &after, who, &kind))
    }

    /// `POST /api/v1/commands/commit`: the signer's signature of a prepared command's
    /// `to_sign`; the command is checked again against the ledger as it stands and committed
    /// durably. Committing it again gives `unchanged`.
    pub fn commit(
        &self,
        who: &Session,
        prepared: &str,
        signature_hex: &str,
    ) -> Result<Value, ServiceError> {
        let signature = hex64("signature", signature_hex)?;
        let (what, after) = self.pending(who, prepared)?;
        let attached = Attached {
            after,
            signature: sign::signature_from(who.public_key, &signature),
        };
        let numbered = match what {
            What::Command(numbered) => numbered,
            What::Close(reason) => return self.commit_close(reason.as_deref(), attached),
            What::Batch(_) => {
                return Err(ServiceError::bad(
                    "signatures",
                    "a prepared import is committed with `signatures`, one per event",
                    "导入须为每个事件各给一个签名",
                ))
            }
        };
        let started = std::time::Instant::now();
        let o = self
            .group
            .commit(&self.writer, numbered, attached, self.now(), |w| {
                // Readers see the group's events from now on; if a reader cannot be made,
                // they keep the last one (older, never wrong).
                if let (Ok(fresh), Ok(mut slot)) = (w.reader(), self.reader.write()) {
                    *slot = Arc::new(fresh);
                }
            })?;
        let (seq, appended) = match o {
            Outcome::Appended { seq } => (seq, true),
            Outcome::Unchanged { seq } => (seq, false),
        };
        let reader = self.ledger()?;
        let body = reader
            .event(seq)?
            .ok_or_else(|| ServiceError::Internal(format!("event {seq} is missing")))?;
        let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .commit_us_total
            .fetch_add(elapsed, Ordering::Relaxed);
        if let EventKind::KeyRevoked(k) = body.kind() {
            self.sessions()?.end_key(&k.public_key);
        }
        Ok(outcome::outcome_json(
            reader.rubric(),
            seq,
            appended,
            body.kind(),
        ))
    }
}

/// The time views of a read, from its query parameters: `at` (a day), `known_at` (an RFC 3339
/// time) and `as_of_seq`.
pub fn parse_query(
    at: Option<&str>,
    known_at: Option<&str>,
    as_of_seq: Option<&str>,
) -> Result<Query, ServiceError> {
    use crate::events::event::date_text;
    let at = at
        .map(|d| {
            date_text::parse_date(d.trim()).ok_or_else(|| {
                ServiceError::bad(
                    "at",
                    date_text::why_not_a_date(d.trim()),
                    date_text::why_not_a_date_zh(d.trim()),
                )
            })
        })
        .transpose()?;
    let known_at = known_at
        .map(|t| {
            t.trim().parse::<jiff::Timestamp>().map_err(|_| {
                ServiceError::bad(
                    "known_at",
                    format!("`{t}` is not an RFC 3339 time such as 2018-11-01T08:00:00Z"),
                    format!("“{t}”不是 RFC 3339 格式的时间（如 2018-11-01T08:00:00Z）"),
                )
            })
        })
        .transpose()?;
    let as_of_seq = as_of_seq
        .map(|n| {
            n.trim().parse::<u64>().map_err(|_| {
                ServiceError::bad(
                    "as_of_seq",
                    format!("`{n}` is not a seq"),
                    format!("“{n}”不是事件序号"),
                )
            })
        })
        .transpose()?;
    Ok(Query {
        as_of_seq,
        known_at,
        at,
    })
}

impl Service {
    /// `POST /api/v1/commands/prepare-batch`: an import file's lines (JSON Lines, the
    /// import-line shape), checked together as `kaohe import` checks them, nothing written.
    /// Every refused line is listed with its reason (`{"refused": [...]}`); otherwise the
    /// events and their `to_sign`, all signed after the same head by the session's key, and
    /// committed together (all or nothing) with one signature each.
    pub fn prepare_batch(&self, who: &Session, lines: &str) -> Result<Value, ServiceError> {
        let mut commands = Vec::new();
        let mut refused = Vec::new();
        for (i, line) in lines
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            if commands.len() + refused.len() >= crate::base::limits::MAX_SERVICE_BATCH_LINES {
                return Err(ServiceError::bad(
                    "lines",
                    format!(
                        "more than {} lines: import a larger file with `kaohe import`",
                        crate::base::limits::MAX_SERVICE_BATCH_LINES
                    ),
                    format!(
                        "超过 {} 行：更大的文件请用命令行 kaohe import 导入",
                        crate::base::limits::MAX_SERVICE_BATCH_LINES
                    ),
                ));
            }
            let parsed = serde_json::from_str::<Value>(line)
                .map_err(|e| {
                    ServiceError::bad(
                        "line",
                        format!("not JSON: {e}"),
                        format!("不是有效的 JSON：{e}"),
                    )
                })
                .and_then(|v| match v {
                    Value::Object(o) => Ok(o),
                    _ => Err(ServiceError::bad(
                        "line",
                        "a command is a JSON object",
                        "每行应为一个 JSON 对象",
                    )),
                })
                .and_then(|o| with_id(&o))
                .and_then(|o| actions::parse(&o).map_err(ServiceError::from));
            match parsed {
                Ok(command) => commands.push(Numbered {
                    line: Some(i + 1),
                    command,
                }),
                Err(e) => refused.push(refusal_json(i + 1, &e)),
            }
        }
        let ledger = self.ledger()?;
        let prepared = ledger.prepare_many(&commands, self.now())?;
        let mut events = Vec::new();
        let mut held = Vec::new();
        for (numbered, p) in commands.into_iter().zip(prepared) {
            let line = numbered.line.unwrap_or(0);
            match p.map_err(ServiceError::from) {
                Err(e) => refused.push(refusal_json(line, &e)),
                Ok(Prepared::Unchanged { seq }) => {
                    let signer = ledger
                        .event(seq)?
                        .and_then(|b| b.kind().signer(ledger.bureau_rooted()));
                    if let Err(e) = may_sign(who, signer.as_ref()) {
                        refused.push(refusal_json(line, &e));
                        continue;
                    }
                    events.push(json!({"line": line, "status": "unchanged", "seq": seq}));
                    held.push((numbered, false));
                }
                Ok(Prepared::Event {
                    kind,
                    signer,
                    to_sign,
                    ..
                }) => {
                    let allowed = may_sign(who, signer.as_ref()).and_then(|_| {
                        self.may_cite(who, crate::ops::evidence::references_of(&kind))
                    });
                    if let Err(e) = allowed {
                        refused.push(refusal_json(line, &e));
                        continue;
                    }
                    events.push(json!({"line": line, "to_sign": hex::encode(to_sign), "event": event_json(&kind)}));
                    held.push((numbered, true));
                }
            }
        }
        if !refused.is_empty() {
            refused.sort_by_key(|r| r["line"].as_u64());
            return Ok(json!({"refused": refused, "lines": events.len() + refused.len()}));
        }
        if held.iter().all(|(_, signed)| !signed) {
            // Nothing to sign: every line was applied before; nothing is held.
            return Ok(json!({"status": "unchanged", "events": events}));
        }
        let id = self.hold(who, What::Batch(held), ledger.head_after())?;
        Ok(json!({"prepared": id, "events": events, "signer": who.actor.to_string()}))
    }

    /// Commits a prepared import with one signature per event needing one, in order: all
    /// together, or nothing (the first refusal names its line).
    pub fn commit_batch(
        &self,
        who: &Session,
        prepared: &str,
        signatures: &[String],
    ) -> Result<Value, ServiceError> {
        let (what, after) = self.pending(who, prepared)?;
        let What::Batch(held) = what else {
            return Err(ServiceError::bad(
                "signature",
                "this prepared command takes one `signature`",
                "这条命令只需一个签名",
            ));
        };
        let needed = held.iter().filter(|(_, signed)| *signed).count();
        if signatures.len() != needed {
            return Err(ServiceError::bad(
                "signatures",
                format!(
                    "{needed} signatures are needed, one per event, in order; {} were given",
                    signatures.len()
                ),
                format!(
                    "需要 {needed} 个签名（每个事件一个，按顺序），收到 {} 个",
                    signatures.len()
                ),
            ));
        }
        let mut sigs = signatures.iter();
        let mut commands = Vec::with_capacity(held.len());
        for (numbered, signed) in held {
            let attached = match signed {
                false => None,
                true => {
                    let hex = sigs.next().map(String::as_str).unwrap_or_default();
                    Some(Attached {
                        after,
                        signature: sign::signature_from(who.public_key, &hex64("signatures", hex)?),
                    })
                }
            };
            commands.push((numbered, attached));
        }
        let mut writer = self.writer.lock().map_err(|_| poisoned())?;
        let outcomes = writer.apply_attached(&commands, self.now())?;
        let fresh = Arc::new(writer.reader()?);
        *self.reader.write().map_err(|_| poisoned())? = fresh;
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        let appended = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Appended { .. }))
            .count();
        Ok(json!({
            "status": "applied",
            "appended": appended,
            "unchanged": outcomes.len() - appended,
            "head": hex::encode(writer.head().hash),
        }))
    }

    /// `POST /api/v1/reconcile`: a department's tally (CSV or .xlsx, as `kaohe reconcile`
    /// reads it) compared with the ledger's applied figures in a view: the rows that differ.
    /// Not for stations (it covers every station).
    pub fn reconcile(
        &self,
        who: &Session,
        bytes: &[u8],
        named_xlsx: bool,
        q: &Query,
    ) -> Result<Value, ServiceError> {
        if let Actor::Station(_) = who.actor {
            return Err(ServiceError::Forbidden(
                "reconciliation covers every station: not for a station".into(),
                "对账涉及所有司法所：司法所不能使用".into(),
            ));
        }
        let rows = crate::ops::reconcile::read_any(bytes, named_xlsx)
            .map_err(|e| ServiceError::bad("tallies", e.to_string(), e.zh()))?;
        let ledger = self.ledger()?;
        let view = ledger.view(q)?;
        let mismatches = crate::ops::reconcile::reconcile(&ledger, &view, &rows)
            .map_err(|e| ServiceError::bad("tallies", e.to_string(), e.zh()))?;
        let mut v = crate::render::reconcile::mismatches_json(&mismatches);
        v["rows"] = json!(rows.len());
        Ok(v)
    }

    /// A prepared write of this session's key, not expired.
    fn pending(&self, who: &Session, prepared: &str) -> Result<(What, After), ServiceError> {
        let held = self.prepared.lock().map_err(|_| poisoned())?;
        let p = held
            .get(prepared)
            .filter(|p| p.expires_us > self.now_us())
            .ok_or_else(|| {
                ServiceError::NotFound(
                    format!("no prepared command `{prepared}` (it expired after {PREPARED_TTL_SECS} s, or never was): prepare it again"),
                    format!("没有待签名的命令“{prepared}”（已超过 {PREPARED_TTL_SECS} 秒过期，或从未有过）：请重新提交"),
                )
            })?;
        if p.public_key != who.public_key {
            return Err(ServiceError::Forbidden(
                "only the key that prepared a command commits it".into(),
                "只有准备该命令的密钥才能提交它".into(),
            ));
        }
        Ok((p.what.clone(), p.after))
    }

    /// Commits a prepared close: planned again against the ledger as it stands, the
    /// signature must cover the closing event it gives now. Replies as `close --json`.
    fn commit_close(
        &self,
        reason: Option<&str>,
        attached: Attached,
    ) -> Result<Value, ServiceError> {
        let mut writer = self.writer.lock().map_err(|_| poisoned())?;
        let closed = crate::ops::close::close_attached(&mut writer, self.now(), reason, attached)?;
        let fresh = Arc::new(writer.reader()?);
        *self.reader.write().map_err(|_| poisoned())? = fresh;
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        Ok(view::closed_json(&closed))
    }
}

/// What prepare replies: `{"prepared", "to_sign", "after", "signer", "event"}`.
fn prepared_json(
    id: &str,
    to_sign: &[u8],
    after: &After,
    who: &Session,
    kind: &EventKind,
) -> Value {
    json!({
        "prepared": id,
        "to_sign": hex::encode(to_sign),
        "after": {"seq": after.seq, "hash": hex::encode(after.hash)},
        "signer": who.actor.to_string(),
        "event": event_json(kind),
    })
}

/// An event's kind as export shows it: `type` and the decoded fields.
fn event_json(kind: &EventKind) -> Value {
    let mut event = Map::new();
    event.insert("type".into(), json!(kind.type_name()));
    event.extend(export::decoded_kind(kind));
    Value::Object(event)
}

/// The arithmetic that gives a record its points (explain's `working`, and in Chinese), as its
/// clause's rule shows it for the station's kind; `kinds` keeps the stations' kinds already
/// looked up.
fn working(
    ledger: &Ledger,
    kinds: &mut HashMap<String, crate::events::event::StationKind>,
    p: &crate::events::event::PointsRecorded,
) -> Result<Option<crate::domain::rubric::Working>, ServiceError> {
    let Some((_, clause)) = ledger.rubric().clause(&p.clause) else {
        return Ok(None);
    };
    let kind = match kinds.get(&p.station) {
        Some(k) => *k,
        None => match ledger.find_station(&p.station)? {
            Some(s) => *kinds.entry(p.station.clone()).or_insert(s.kind),
            None => return Ok(None),
        },
    };
    Ok(Some(clause.rule.working(
        kind,
        &p.inputs,
        p.computed_points,
    )))
}

/// A refused line of a prepared import: `{"line", "field", "error", "status"}`.
fn refusal_json(line: usize, e: &ServiceError) -> Value {
    let mut v = e.json();
    v["line"] = json!(line);
    v["status"] = json!(e.status());
    v
}

/// A station reads only its own records; everyone else reads every station.
pub(super) fn may_read_station(who: &Session, station: &str) -> Result<(), ServiceError> {
    match &who.actor {
        Actor::Station(own) if own != station => Err(ServiceError::Forbidden(
            format!("station {own} reads only its own records, not {station}'s"),
            format!("司法所 {own} 只能查看本所的记录，不能查看 {station} 的"),
        )),
        _ => Ok(()),
    }
}

/// Only the event's signer prepares it: its actor, or a bureau key for the bureau's kinds.
fn may_sign(who: &Session, signer: Option<&Signer>) -> Result<(), ServiceError> {
    let Some(signer) = signer else {
        return Err(ServiceError::Forbidden(
            "this ledger writes that event without a signature: it cannot be prepared".into(),
            "本台账不为此类事件签名：不能在网页上办理".into(),
        ));
    };
    if let Actor::Auditor(_) = who.actor {
        return Err(ServiceError::Forbidden(
            "an auditor reads everything and writes nothing".into(),
            "审计人员可查看一切，但不能写入".into(),
        ));
    }
    rules::signer_matches(signer, &who.actor).map_err(|p| {
        ServiceError::Forbidden(
            format!("signed in as {}: {}", who.actor, p.message),
            format!("当前身份为 {}：{}", who.actor, p.zh),
        )
    })
}

/// The ops whose events carry an id the caller may leave out.
const OPS_WITH_IDS: [&str; 4] = ["record", "metric", "appeal", "reverse"];

/// The command with an id fixed when it has none: random, so that it does not depend on the
/// seq the event will get (`auto-<seq>` would change if another commit comes first, and the
/// signature covers the id).
fn with_id(object: &Map<String, Value>) -> Result<Map<String, Value>, ServiceError> {
    let mut object = object.clone();
    let op = object.get("op").and_then(Value::as_str).unwrap_or_default();
    if OPS_WITH_IDS.contains(&op) && !object.contains_key("id") {
        let r = sessions::random32().map_err(|e| ServiceError::Internal(e.to_string()))?;
        object.insert("id".into(), json!(format!("w-{}", hex::encode(&r[..8]))));
    }
    Ok(object)
}

fn not_registered(public_key: &[u8; 32]) -> ServiceError {
    ServiceError::Unauthorized(
        format!(
            "key {} is not registered in this ledger",
            hex::encode(public_key)
        ),
        format!(
            "密钥 {} 未在本台账登记：请联系司法局登记您的公钥",
            hex::encode(public_key)
        ),
    )
}

fn session_error(e: SignInError) -> ServiceError {
    match e {
        SignInError::TooMany => {
            ServiceError::TooMany(
                "too many sign-in attempts for this key: wait a minute".into(),
                "这把密钥的登录尝试过多：请一分钟后再试".into(),
            )
        }
        SignInError::Full => ServiceError::Unavailable(
            "too many sign-ins at once: try again later".into(),
            "同时登录的人过多：请稍后再试".into(),
        ),
        SignInError::BadChallenge => ServiceError::Unauthorized(
            "the challenge is unknown, spent or expired, or was made for another key: ask for a new one".into(),
            "登录校验码不存在、已用过或已过期，或属于另一把密钥：请重新登录".into(),
        ),
        SignInError::BadSignature => ServiceError::Unauthorized(
            "the signature does not verify: sign the `to_sign` bytes with the key's secret".into(),
            "签名校验未通过：所选私钥文件与登记的公钥不符".into(),
        ),
    }
}

fn hex32(field: &str, text: &str) -> Result<[u8; 32], ServiceError> {
    hex_n::<32>(field, text)
}

fn hex64(field: &str, text: &str) -> Result<[u8; 64], ServiceError> {
    hex_n::<64>(field, text)
}

/// Exactly N bytes as 2N lower-case hex digits.
fn hex_n<const N: usize>(field: &str, text: &str) -> Result<[u8; N], ServiceError> {
    let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let bytes = hex::decode(text).ok().filter(|_| lower);
    bytes
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| {
            ServiceError::bad(
                field,
                format!("not {} lower-case hex digits", 2 * N),
                format!("应为 {} 位小写十六进制数", 2 * N),
            )
        })
}
