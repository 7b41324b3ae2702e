//! The command line: the only place that knows clap. Each subcommand gathers its arguments,
//! calls the library, and prints a view. Exit codes: 0 ok, 1 a check found a problem,
//! 2 bad input or usage.

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use kaohe::domain::command;
use kaohe::events::event::EventKind;
use kaohe::ledger::query::Query;
use kaohe::ledger::{Ledger, LedgerError, Numbered, Outcome};
use kaohe::ops::{explain, export, import, proofs, verify};
use kaohe::render::view;
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The exit code of a check that found a problem.
pub const EXIT_PROBLEM: u8 = 1;
/// The exit code of bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

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

#[derive(Parser)]
#[command(
    name = "kaohe",
    version,
    about = "考核: a hash-chained audit ledger for the yearly assessment of judicial stations"
)]
pub struct Cli {
    /// The ledger directory.
    #[arg(
        long,
        global = true,
        env = "KAOHE_DB",
        default_value = "./kaohe-ledger"
    )]
    db: PathBuf,
    /// Sign what you record with this key file (`kaohe key new`); its actor must be the
    /// event's (the department, or the station for an appeal).
    #[arg(long, global = true, env = "KAOHE_KEY")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a ledger governed by a rubric file.
    Init {
        #[arg(long)]
        rubric: PathBuf,
        /// Every record, report, appeal, decision and reversal must be signed by its actor's
        /// registered key.
        #[arg(long)]
        require_signatures: bool,
    },
    /// Signing keys: make one, register it in the ledger, revoke it, list them.
    #[command(subcommand)]
    Key(KeySub),
    /// Register and list stations.
    #[command(subcommand)]
    Station(StationCmd),
    /// Record a deduction or bonus against a clause; the ledger computes the points.
    Record(RecordArgs),
    /// Report a station's measured figure for a metric the rubric uses.
    Metric(MetricArgs),
    /// Appeals (申诉) of deductions by stations, and their decisions (复核).
    #[command(subcommand)]
    Appeal(AppealSub),
    /// Withdraw a record made in error (wrong station, wrong clause): it then counts for
    /// nothing at every valid time; record the right event anew.
    Reverse(ReverseArgs),
    /// Seal the period: rank bonuses from the latest reports, then a closing event with every
    /// station's final score. Refused while appeals are pending or standards are failed
    /// without a deduction (unless --accept-gaps --reason).
    Close {
        /// Close although some stations' latest figures fail a standard with no deduction
        /// recorded; the closing event keeps the list and the reason.
        #[arg(long, requires = "reason")]
        accept_gaps: bool,
        /// Why the gaps are accepted.
        #[arg(long, requires = "accept_gaps")]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Apply a JSON Lines file of commands (`-` for stdin), all or nothing.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Every station's score.
    Score {
        #[command(flatten)]
        time: TimeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Why a station has its score: items, clauses, events, evidence.
    Explain {
        #[arg(long)]
        station: String,
        /// Only this item (e.g. 3.1), with all its clauses.
        #[arg(long)]
        item: Option<String>,
        #[command(flatten)]
        time: TimeArgs,
        #[arg(long)]
        json: bool,
    },
    /// One HTML file for people (no external resources; prints on A4): the ranking, charts,
    /// every station's deductions and bonuses with clause wording, evidence, appeals and
    /// hashes, and the closing hash with how to verify it.
    Report {
        /// The HTML file to write (written to FILE.tmp, then renamed).
        #[arg(long)]
        out: PathBuf,
        /// Only these stations get a detailed section (repeatable); the ranking table and the
        /// charts always cover every station.
        #[arg(long)]
        station: Vec<String>,
        #[command(flatten)]
        time: TimeArgs,
    },
    /// One event whole, with its place in the chain (by id, seq or hash).
    Show {
        /// An id, a seq or a hash.
        #[arg(required_unless_present_any = ["seq", "hash"])]
        event: Option<String>,
        /// The event at this seq.
        #[arg(long, conflicts_with_all = ["event", "hash"])]
        seq: Option<u64>,
        /// The event with this hash.
        #[arg(long, conflicts_with = "event")]
        hash: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The events, oldest first.
    Log {
        #[arg(long)]
        station: Option<String>,
        #[command(flatten)]
        time: TimeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Every event as JSON Lines, with hashes and stored bytes; with `--scores`, the scores per
    /// station and item as CSV (`schema/scores-csv.md`) or JSON.
    Export {
        /// Export the chain as it stood at this seq.
        #[arg(long)]
        as_of_seq: Option<u64>,
        /// Export the chain as it stood at this moment (RFC 3339).
        #[arg(long)]
        known_at: Option<String>,
        /// Export the scores (per station and item, in rank order) instead of the events.
        #[arg(long)]
        scores: bool,
        /// jsonl (events, the default); csv (the default with --scores) or json (as `score
        /// --json`) with --scores.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// With --scores: count only what occurred on or before this day (YYYY-MM-DD).
        #[arg(long, requires = "scores")]
        at: Option<String>,
    },
    /// Check the ledger against a department's own tally: a CSV file with the header
    /// `station,item,deducted,awarded`. Lists the rows whose figures differ from the ledger's
    /// applied figures (exit 1); writes nothing.
    Reconcile {
        /// The department's tally (`-` for stdin).
        #[arg(long)]
        tallies: PathBuf,
        #[command(flatten)]
        time: TimeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Check the chain and indices of the ledger, or an export file without the ledger.
    Verify {
        /// Verify this export file instead of the ledger.
        #[arg(long)]
        export: Option<PathBuf>,
        /// A head hash published earlier: the chain must contain it (this catches a cut or
        /// rewritten chain up to that head; a chain alone cannot show that its tail is gone).
        #[arg(long)]
        head: Option<String>,
        /// Also re-hash every stored evidence file and check that every `blake3:` evidence
        /// reference has its file.
        #[arg(long, conflicts_with = "export")]
        evidence: bool,
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a ledger at --db (which must not exist) from an export: the export is verified
    /// first (as `verify --export`) and refused when it does not verify; the events are written
    /// byte for byte, the tally and indices derived. Evidence files are not in an export.
    Restore {
        /// The export (`kaohe export > FILE`); `-` for stdin.
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Evidence files stored in the ledger (`--evidence-file`): get one back, list them.
    #[command(subcommand)]
    Evidence(EvidenceSub),
    /// Sign the checkpoint of the whole ledger (origin, size, Merkle root; a C2SP signed
    /// note) with the global --key, store it in the ledger and print it. Not an event: the
    /// chain does not change.
    Checkpoint {
        /// List the stored checkpoints instead (no key needed).
        #[arg(long)]
        list: bool,
        #[arg(long)]
        json: bool,
    },
    /// A receipt for one event (JSON): the event, its inclusion proof and a signed checkpoint
    /// (the latest stored one, or --checkpoint), checkable offline with `verify-receipt`.
    Receipt {
        /// An id, a seq or a hash.
        #[arg(required_unless_present = "seq")]
        event: Option<String>,
        /// The event at this seq.
        #[arg(long, conflicts_with = "event")]
        seq: Option<u64>,
        /// Prove inclusion in this checkpoint (a note file from `kaohe checkpoint`).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Check a receipt offline, with no ledger: the checkpoint's signature, the event's hash
    /// and decoded fields, and its inclusion proof.
    VerifyReceipt {
        file: PathBuf,
        /// The checkpoint key: a key file, its .pub, or the public key's 64 hex digits.
        #[arg(long)]
        pubkey: String,
        #[arg(long)]
        json: bool,
    },
    /// Prove that checkpoint NEW extends checkpoint OLD (JSON, checkable offline with
    /// `verify-consistency`). Each is a checkpoint file or the size of a stored checkpoint.
    Consistency { old: String, new: String },
    /// Check a consistency file offline, with no ledger: both signatures, one origin, and the
    /// proof.
    VerifyConsistency {
        file: PathBuf,
        /// The checkpoint key: a key file, its .pub, or the public key's 64 hex digits.
        #[arg(long)]
        pubkey: String,
        #[arg(long)]
        json: bool,
    },
    /// The rubric in force.
    Rubric {
        #[arg(long)]
        json: bool,
        /// Print the rubric file exactly as stored.
        #[arg(long, conflicts_with = "json")]
        toml: bool,
    },
}

/// What `export` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
    Json,
}

/// The two times: valid time (`--at`) and transaction time (`--known-at`, `--as-of-seq`).
#[derive(Args, Default)]
struct TimeArgs {
    /// Count only what occurred on or before this day (YYYY-MM-DD).
    #[arg(long)]
    at: Option<String>,
    /// As the ledger stood at this moment (RFC 3339; includes what was recorded at it).
    #[arg(long)]
    known_at: Option<String>,
    /// As the ledger stood at this seq (includes it).
    #[arg(long)]
    as_of_seq: Option<u64>,
}

impl TimeArgs {
    fn query(&self) -> Result<Query> {
        let at = self
            .at
            .as_deref()
            .map(|d| {
                kaohe::events::event::date_text::parse_date(d.trim())
                    .ok_or_else(|| bad(format!("--at `{d}` is not a date YYYY-MM-DD")))
            })
            .transpose()?;
        Ok(Query {
            as_of_seq: self.as_of_seq,
            known_at: parse_known_at(self.known_at.as_deref())?,
            at,
        })
    }
}

fn parse_known_at(t: Option<&str>) -> Result<Option<Timestamp>> {
    t.map(|t| {
        t.trim().parse::<Timestamp>().map_err(|_| {
            bad(format!(
                "--known-at `{t}` is not an RFC 3339 time such as 2018-11-01T08:00:00Z"
            ))
        })
    })
    .transpose()
}

#[derive(Subcommand)]
enum StationCmd {
    /// Register a station (idempotent by code).
    Add {
        code: String,
        #[arg(long)]
        name: String,
        /// town (镇) or subdistrict (街道)
        #[arg(long)]
        kind: String,
        #[arg(long)]
        json: bool,
    },
    /// The registered stations.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RecordArgs {
    #[arg(long)]
    clause: String,
    #[arg(long)]
    station: String,
    /// The assessing department.
    #[arg(long)]
    by: String,
    /// When it happened, YYYY-MM-DD.
    #[arg(long)]
    occurred: String,
    /// Evidence reference (repeatable; at least one, or an --evidence-file).
    #[arg(long)]
    evidence: Vec<String>,
    /// A file to hash (BLAKE3) and store in the ledger (repeatable); its reference
    /// `blake3:<hex> <name>` joins the evidence.
    #[arg(long = "evidence-file", value_name = "PATH")]
    evidence_file: Vec<PathBuf>,
    /// The idempotency key (assigned by the ledger when omitted).
    #[arg(long)]
    id: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    count: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    done: Option<String>,
    /// Points per unit for range and per-unit clauses, else the whole figure.
    #[arg(long, allow_hyphen_values = true)]
    points: Option<String>,
    /// A justification (required for range clauses).
    #[arg(long)]
    note: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeySub {
    /// Make an Ed25519 key pair for a department or a station: FILE (private, mode 0600) and
    /// FILE.pub.
    New {
        #[arg(long, conflicts_with = "station", required_unless_present = "station")]
        dept: Option<String>,
        #[arg(long)]
        station: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a public key in force for its actor (from a key file or its .pub).
    Register {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Take a key out of force (a key file, its .pub, or the public key's hex).
    Revoke {
        #[arg(value_name = "KEY")]
        which: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// The keys registered in the ledger.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EvidenceSub {
    /// Write a stored evidence file to FILE (never overwritten), after checking its hash.
    Get {
        /// The file's hash: 64 hex digits (a `blake3:` prefix is allowed).
        hash: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The stored evidence files: hash, size and the events that reference them.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AppealSub {
    /// A station disputes one of its deductions.
    File {
        /// The deduction: its id, seq or hash.
        #[arg(long)]
        against: String,
        /// The appealing station (the deduction's own).
        #[arg(long)]
        station: String,
        /// Why the deduction is wrong.
        #[arg(long)]
        grounds: String,
        /// Evidence reference (repeatable; at least one, or an --evidence-file).
        #[arg(long)]
        evidence: Vec<String>,
        /// A file to hash (BLAKE3) and store in the ledger (repeatable); its reference
        /// `blake3:<hex> <name>` joins the evidence.
        #[arg(long = "evidence-file", value_name = "PATH")]
        evidence_file: Vec<PathBuf>,
        /// The appeal's id, its idempotency key (assigned by the ledger when omitted).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The department owning the deduction's item decides an appeal, once.
    Decide {
        /// The appeal: its id, seq or hash.
        appeal: String,
        /// upheld / 成立 (the deduction is removed), partial / 部分成立 (`--points` stand),
        /// rejected / 不成立 / 驳回.
        #[arg(long)]
        outcome: String,
        /// With partial: the points that stand for the whole deduction.
        #[arg(long, allow_hyphen_values = true)]
        points: Option<String>,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
        /// Evidence reference (repeatable; at least one, or an --evidence-file).
        #[arg(long)]
        evidence: Vec<String>,
        /// A file to hash (BLAKE3) and store in the ledger (repeatable); its reference
        /// `blake3:<hex> <name>` joins the evidence.
        #[arg(long = "evidence-file", value_name = "PATH")]
        evidence_file: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Appeals with their deductions and decisions.
    List {
        #[arg(long)]
        station: Option<String>,
        /// Only appeals not yet decided.
        #[arg(long)]
        pending: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ReverseArgs {
    /// The record: its id, seq or hash.
    target: String,
    /// The department owning the record's item.
    #[arg(long)]
    by: String,
    #[arg(long)]
    reason: String,
    /// Evidence reference (repeatable).
    #[arg(long)]
    evidence: Vec<String>,
    /// A file to hash (BLAKE3) and store in the ledger (repeatable); its reference
    /// `blake3:<hex> <name>` joins the evidence.
    #[arg(long = "evidence-file", value_name = "PATH")]
    evidence_file: Vec<PathBuf>,
    /// The reversal's id, its idempotency key (assigned by the ledger when omitted).
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MetricArgs {
    #[arg(long)]
    station: String,
    #[arg(long)]
    metric: String,
    #[arg(long, allow_hyphen_values = true)]
    value: String,
    #[arg(long)]
    by: String,
    #[arg(long)]
    occurred: String,
    #[arg(long)]
    evidence: Vec<String>,
    /// A file to hash (BLAKE3) and store in the ledger (repeatable); its reference
    /// `blake3:<hex> <name>` joins the evidence.
    #[arg(long = "evidence-file", value_name = "PATH")]
    evidence_file: Vec<PathBuf>,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    json: bool,
}

/// The clock: now, or `KAOHE_NOW` (RFC 3339) when set, so that tests can fix time.
fn now() -> Result<Timestamp> {
    match std::env::var("KAOHE_NOW") {
        Ok(t) => t
            .parse()
            .map_err(|e| bad(format!("KAOHE_NOW `{t}` is not an RFC 3339 time: {e}"))),
        Err(_) => Ok(Timestamp::now()),
    }
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    anyhow!(Exit {
        code: EXIT_BAD_INPUT,
        message: message.into(),
    })
}

fn problem(message: impl Into<String>) -> anyhow::Error {
    anyhow!(Exit {
        code: EXIT_PROBLEM,
        message: message.into(),
    })
}

/// Maps a library error to the exit code its kind deserves.
fn ledger_err(e: LedgerError) -> anyhow::Error {
    if e.is_damage() {
        return anyhow!(Damage(e.to_string()));
    }
    anyhow!(Exit {
        code: EXIT_BAD_INPUT,
        message: e.to_string(),
    })
}

fn open(db: &Path) -> Result<Ledger> {
    Ledger::open(db).map_err(ledger_err)
}

/// Runs a command; damage found in the ledger is reported with how to restore it.
pub fn run(cli: Cli) -> Result<()> {
    // A panic the store contains (sled's, on damaged files) becomes a damage error; only
    // other panics print.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !kaohe::store::panic_is_contained() {
            default_hook(info)
        }
    }));
    let db = cli.db.clone();
    run_command(cli).map_err(|e| match e.downcast::<Damage>() {
        Ok(Damage(message)) => anyhow!(Exit {
            code: EXIT_PROBLEM,
            message: format!("{message}\n{}", restore_hint(&db)),
        }),
        Err(e) => e,
    })
}

fn run_command(cli: Cli) -> Result<()> {
    let db = cli.db.as_path();
    let key = cli.key.as_deref();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Cmd::Init {
            rubric,
            require_signatures,
        } => init(db, &rubric, require_signatures, &mut out),
        Cmd::Key(KeySub::New {
            dept,
            station,
            out: file,
        }) => {
            let actor = match (dept, station) {
                (Some(d), _) => kaohe::events::event::Actor::Department(d),
                (None, Some(s)) => kaohe::events::event::Actor::Station(s),
                (None, None) => return Err(bad("give --dept DEPARTMENT or --station CODE")),
            };
            key_new(actor, &file, &mut out)
        }
        Cmd::Key(KeySub::Register { file, json }) => {
            let text = read_limited(&file, kaohe::base::limits::MAX_KEY_FILE_BYTES, "key file")?;
            let (actor, public) = kaohe::events::sign::read_public(&text)
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            let (kind, name) = match actor {
                kaohe::events::event::Actor::Department(d) => ("department", d),
                kaohe::events::event::Actor::Station(s) => ("station", s),
            };
            let mut obj = Map::new();
            obj.insert("op".into(), json!("key_register"));
            obj.insert("actor_kind".into(), json!(kind));
            obj.insert("actor".into(), json!(name));
            obj.insert("public_key".into(), json!(hex::encode(public)));
            single(db, None, obj, json, &mut out)
        }
        Cmd::Key(KeySub::Revoke {
            which,
            reason,
            json,
        }) => {
            let public = match kaohe::events::chain::parse_hash(which.trim()) {
                Some(h) => hex::encode(h),
                None => {
                    let path = Path::new(&which);
                    let text =
                        read_limited(path, kaohe::base::limits::MAX_KEY_FILE_BYTES, "key file")?;
                    let (_, public) = kaohe::events::sign::read_public(&text)
                        .map_err(|e| bad(format!("{which}: {e}")))?;
                    hex::encode(public)
                }
            };
            let mut obj = Map::new();
            obj.insert("op".into(), json!("key_revoke"));
            obj.insert("public_key".into(), json!(public));
            obj.insert("reason".into(), json!(reason));
            single(db, None, obj, json, &mut out)
        }
        Cmd::Key(KeySub::List { json }) => key_list(db, json, &mut out),
        Cmd::Station(StationCmd::Add {
            code,
            name,
            kind,
            json,
        }) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("station"));
            obj.insert("code".into(), json!(code));
            obj.insert("name".into(), json!(name));
            obj.insert("kind".into(), json!(kind));
            single(db, key, obj, json, &mut out)
        }
        Cmd::Station(StationCmd::List { json }) => stations(db, json, &mut out),
        Cmd::Record(a) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("record"));
            for (k, v) in [
                ("id", &a.id),
                ("value", &a.value),
                ("count", &a.count),
                ("done", &a.done),
                ("points", &a.points),
                ("note", &a.note),
            ] {
                if let Some(v) = v {
                    obj.insert(k.into(), json!(v));
                }
            }
            obj.insert("clause".into(), json!(a.clause));
            obj.insert("station".into(), json!(a.station));
            obj.insert("by".into(), json!(a.by));
            obj.insert("occurred".into(), json!(a.occurred));
            let (evidence, files) = with_files(a.evidence, &a.evidence_file)?;
            obj.insert("evidence".into(), json!(evidence));
            single_with(db, key, obj, &files, a.json, &mut out)
        }
        Cmd::Metric(a) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("metric"));
            if let Some(id) = &a.id {
                obj.insert("id".into(), json!(id));
            }
            obj.insert("station".into(), json!(a.station));
            obj.insert("metric".into(), json!(a.metric));
            obj.insert("value".into(), json!(a.value));
            obj.insert("by".into(), json!(a.by));
            obj.insert("occurred".into(), json!(a.occurred));
            let (evidence, files) = with_files(a.evidence, &a.evidence_file)?;
            obj.insert("evidence".into(), json!(evidence));
            single_with(db, key, obj, &files, a.json, &mut out)
        }
        Cmd::Appeal(AppealSub::File {
            against,
            station,
            grounds,
            evidence,
            evidence_file,
            id,
            json,
        }) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("appeal"));
            if let Some(id) = id {
                obj.insert("id".into(), json!(id));
            }
            obj.insert("against".into(), json!(against));
            obj.insert("station".into(), json!(station));
            obj.insert("grounds".into(), json!(grounds));
            let (evidence, files) = with_files(evidence, &evidence_file)?;
            obj.insert("evidence".into(), json!(evidence));
            single_with(db, key, obj, &files, json, &mut out)
        }
        Cmd::Appeal(AppealSub::Decide {
            appeal,
            outcome,
            points,
            by,
            reason,
            evidence,
            evidence_file,
            json,
        }) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("decide"));
            obj.insert("appeal".into(), json!(appeal));
            obj.insert("outcome".into(), json!(outcome));
            if let Some(p) = points {
                obj.insert("points".into(), json!(p));
            }
            obj.insert("by".into(), json!(by));
            obj.insert("reason".into(), json!(reason));
            let (evidence, files) = with_files(evidence, &evidence_file)?;
            obj.insert("evidence".into(), json!(evidence));
            single_with(db, key, obj, &files, json, &mut out)
        }
        Cmd::Appeal(AppealSub::List {
            station,
            pending,
            json,
        }) => appeal_list(db, station.as_deref(), pending, json, &mut out),
        Cmd::Reverse(a) => {
            let mut obj = Map::new();
            obj.insert("op".into(), json!("reverse"));
            if let Some(id) = a.id {
                obj.insert("id".into(), json!(id));
            }
            obj.insert("target".into(), json!(a.target));
            obj.insert("by".into(), json!(a.by));
            obj.insert("reason".into(), json!(a.reason));
            let (evidence, files) = with_files(a.evidence, &a.evidence_file)?;
            obj.insert("evidence".into(), json!(evidence));
            single_with(db, key, obj, &files, a.json, &mut out)
        }
        Cmd::Close {
            accept_gaps,
            reason,
            json,
        } => close(db, accept_gaps.then_some(reason).flatten(), json, &mut out),
        Cmd::Import { file, json } => import_file(db, key, &file, json, &mut out),
        Cmd::Score { time, json } => score(db, &time.query()?, json, &mut out),
        Cmd::Explain {
            station,
            item,
            time,
            json,
        } => explain(
            db,
            &station,
            item.as_deref(),
            &time.query()?,
            json,
            &mut out,
        ),
        Cmd::Report {
            out: file,
            station,
            time,
        } => report(db, &file, station, &time.query()?, &mut out),
        Cmd::Show {
            event,
            seq,
            hash,
            json,
        } => show(db, event.as_deref(), seq, hash.as_deref(), json, &mut out),
        Cmd::Log {
            station,
            time,
            json,
        } => log(db, station.as_deref(), &time.query()?, json, &mut out),
        Cmd::Export {
            as_of_seq,
            known_at,
            scores,
            format,
            at,
        } => {
            let time = TimeArgs {
                at,
                known_at,
                as_of_seq,
            };
            match (scores, format) {
                (false, None | Some(ExportFormat::Jsonl)) => {
                    export_all(db, &time.query()?, &mut out)
                }
                (false, Some(_)) => Err(bad(
                    "--format csv or json needs --scores (events export only as jsonl)",
                )),
                (true, Some(ExportFormat::Jsonl)) => {
                    Err(bad("--scores exports --format csv or json, not jsonl"))
                }
                (true, f) => {
                    export_scores(db, &time.query()?, f == Some(ExportFormat::Json), &mut out)
                }
            }
        }
        Cmd::Reconcile {
            tallies,
            time,
            json,
        } => reconcile_tallies(db, &tallies, &time.query()?, json, &mut out),
        Cmd::Evidence(EvidenceSub::Get { hash, out: file }) => {
            evidence_get(db, &hash, &file, &mut out)
        }
        Cmd::Evidence(EvidenceSub::List { json }) => evidence_list(db, json, &mut out),
        Cmd::Verify {
            export,
            head,
            evidence,
            json,
        } => {
            let head = head
                .map(|h| {
                    kaohe::events::chain::parse_hash(h.trim())
                        .ok_or_else(|| bad(format!("--head `{h}` is not 64 hex digits")))
                })
                .transpose()?;
            match export {
                Some(file) => verify_export(&file, head.as_ref(), json, &mut out),
                None if evidence => verify_evidence(db, head.as_ref(), json, &mut out),
                None => verify_ledger(db, head.as_ref(), json, &mut out),
            }
        }
        Cmd::Restore { file, json } => restore(db, &file, json, &mut out),
        Cmd::Rubric { json, toml } => rubric(db, json, toml, &mut out),
        Cmd::Checkpoint { list: true, json } => checkpoint_list(db, json, &mut out),
        Cmd::Checkpoint { list: false, json } => checkpoint(db, key, json, &mut out),
        Cmd::Receipt {
            event,
            seq,
            checkpoint,
        } => receipt(db, event.as_deref(), seq, checkpoint.as_deref(), &mut out),
        Cmd::VerifyReceipt { file, pubkey, json } => {
            let public = pubkey_arg(&pubkey)?;
            let text = read_limited(&file, kaohe::base::limits::MAX_RECEIPT_BYTES, "receipt")?;
            let r = proofs::verify_receipt(&text, &public)
                .map_err(|e| proof_err(e, "the receipt does not verify"))?;
            let cp = &r.checkpoint;
            if json {
                let v = json!({
                    "ok": true, "seq": r.seq, "hash": hex::encode(r.hash), "type": r.event_type,
                    "origin": cp.origin, "tree_size": cp.size, "root": hex::encode(cp.root),
                    "public_key": hex::encode(public),
                });
                writeln!(out, "{v}")?;
            } else {
                writeln!(
                    out,
                    "ok: event seq {} ({}, hash {}) is leaf {} of the tree of {} events of {} with root {}, signed by key {}",
                    r.seq, r.event_type, hex::encode(r.hash), r.seq, cp.size, cp.origin,
                    hex::encode(cp.root), hex::encode(public)
                )?;
            }
            Ok(())
        }
        Cmd::Consistency { old, new } => consistency(db, &old, &new, &mut out),
        Cmd::VerifyConsistency { file, pubkey, json } => {
            let public = pubkey_arg(&pubkey)?;
            let text = read_limited(
                &file,
                kaohe::base::limits::MAX_CONSISTENCY_BYTES,
                "consistency file",
            )?;
            let r = proofs::verify_consistency(&text, &public)
                .map_err(|e| proof_err(e, "the consistency proof does not verify"))?;
            if json {
                let v = json!({
                    "ok": true, "origin": r.new.origin,
                    "old": {"size": r.old.size, "root": hex::encode(r.old.root)},
                    "new": {"size": r.new.size, "root": hex::encode(r.new.root)},
                    "public_key": hex::encode(public),
                });
                writeln!(out, "{v}")?;
            } else {
                writeln!(
                    out,
                    "ok: the tree of {} events (root {}) extends the tree of {} events (root {}) of {}, both signed by key {}",
                    r.new.size, hex::encode(r.new.root), r.old.size, hex::encode(r.old.root),
                    r.new.origin, hex::encode(public)
                )?;
            }
            Ok(())
        }
    }
}

/// Maps a proof error to its exit code: 1 when a check failed or the ledger is damaged, 2
/// when the input is unreadable or the request cannot be served.
fn proof_err(e: proofs::ProofError, failing: &str) -> anyhow::Error {
    use proofs::ProofError as P;
    match e {
        P::Failed(m) => problem(format!("{failing}: {m}")),
        P::Unreadable(m) | P::Refused(m) => bad(m),
        P::Ledger(e) => ledger_err(e),
        P::Store(e) => ledger_err(LedgerError::Store(e)),
    }
}

/// `--pubkey`: 64 hex digits, or a key file (private or public).
fn pubkey_arg(arg: &str) -> Result<[u8; 32]> {
    if let Some(public) = proofs::parse_public_hex(arg) {
        return Ok(public);
    }
    let text = read_limited(
        Path::new(arg),
        kaohe::base::limits::MAX_KEY_FILE_BYTES,
        "key file",
    )?;
    let (_, public) =
        kaohe::events::sign::read_public(&text).map_err(|e| bad(format!("--pubkey {arg}: {e}")))?;
    Ok(public)
}

fn checkpoint(db: &Path, key: Option<&Path>, as_json: bool, out: &mut impl Write) -> Result<()> {
    let Some(signer) = signer(key)? else {
        return Err(bad(
            "checkpoint needs a signing key: give --key FILE (`kaohe key new` makes one)",
        ));
    };
    let ledger = open(db)?;
    let s = proofs::checkpoint(&ledger, &signer).map_err(|e| proof_err(e, "cannot checkpoint"))?;
    if as_json {
        writeln!(out, "{}", checkpoint_json(&s, Some(&signer.public_key())))?;
    } else {
        write!(out, "{}", s.note)?;
    }
    Ok(())
}

fn checkpoint_json(s: &proofs::SignedCheckpoint, public: Option<&[u8; 32]>) -> Value {
    let cp = &s.checkpoint;
    let mut v = json!({
        "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root), "note": s.note,
    });
    if let Some(p) = public {
        v["public_key"] = json!(hex::encode(p));
    }
    v
}

fn checkpoint_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let all = proofs::stored_checkpoints(&ledger).map_err(|e| proof_err(e, "checkpoints"))?;
    if as_json {
        let v: Vec<Value> = all.iter().map(|s| checkpoint_json(s, None)).collect();
        writeln!(out, "{}", Value::Array(v))?;
    } else if all.is_empty() {
        writeln!(
            out,
            "no checkpoints stored (`kaohe --key FILE checkpoint` makes one)"
        )?;
    } else {
        for s in &all {
            writeln!(
                out,
                "size {:>10}  root {}",
                s.checkpoint.size,
                hex::encode(s.checkpoint.root)
            )?;
        }
    }
    Ok(())
}

/// A checkpoint argument: the size of a stored checkpoint (digits), else a note file.
fn checkpoint_arg(ledger: &Ledger, arg: &str) -> Result<String> {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        let size = arg
            .parse::<u64>()
            .map_err(|_| bad(format!("`{arg}` is not a size")))?;
        let s = proofs::stored_checkpoint(ledger, size).map_err(|e| proof_err(e, "checkpoint"))?;
        return Ok(s.note);
    }
    read_limited(
        Path::new(arg),
        kaohe::base::limits::MAX_CHECKPOINT_BYTES as u64,
        "checkpoint file",
    )
}

fn receipt(
    db: &Path,
    event: Option<&str>,
    seq: Option<u64>,
    checkpoint: Option<&Path>,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open(db)?;
    let last = ledger.head().next_seq - 1;
    let (found, asked) = match (event, seq) {
        (_, Some(n)) => ((n <= last).then_some(n), n.to_string()),
        (Some(key), None) => (
            ledger.find_event(key.trim()).map_err(ledger_err)?,
            key.to_string(),
        ),
        (None, None) => return Err(bad("give an id, a seq or a hash, or --seq")),
    };
    let Some(seq) = found else {
        return Err(bad(format!(
            "no event `{asked}`: give an id, a seq (0–{last}) or a 64-digit hash"
        )));
    };
    let note = checkpoint
        .map(|p| {
            read_limited(
                p,
                kaohe::base::limits::MAX_CHECKPOINT_BYTES as u64,
                "checkpoint file",
            )
        })
        .transpose()?;
    let r = proofs::receipt(&ledger, seq, note.as_deref())
        .map_err(|e| proof_err(e, "cannot make the receipt"))?;
    writeln!(out, "{r}")?;
    Ok(())
}

fn consistency(db: &Path, old: &str, new: &str, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let old = checkpoint_arg(&ledger, old)?;
    let new = checkpoint_arg(&ledger, new)?;
    let r = proofs::consistency(&ledger, &old, &new)
        .map_err(|e| proof_err(e, "cannot prove consistency"))?;
    writeln!(out, "{r}")?;
    Ok(())
}

fn read_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
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

fn init(db: &Path, rubric: &Path, require_signatures: bool, out: &mut impl Write) -> Result<()> {
    let text = read_limited(rubric, kaohe::base::limits::MAX_RUBRIC_BYTES, "rubric file")?;
    let kaohe::ledger::InitOutcome::Created {
        ledger_id,
        rubric_hash,
    } = Ledger::init_with(db, &text, now()?, require_signatures).map_err(ledger_err)?;
    writeln!(
        out,
        "created ledger {} at {}\nrubric {} (blake3 {})",
        hex::encode(ledger_id),
        db.display(),
        rubric.display(),
        hex::encode(rubric_hash)
    )?;
    Ok(())
}

/// Applies one command built from flags.
/// The signing key of `--key` / `KAOHE_KEY`, read and checked.
fn signer(key: Option<&Path>) -> Result<Option<kaohe::events::sign::KeyPair>> {
    let Some(path) = key else {
        return Ok(None);
    };
    let text = read_limited(path, kaohe::base::limits::MAX_KEY_FILE_BYTES, "key file")?;
    kaohe::events::sign::KeyPair::from_file_text(&text)
        .map(Some)
        .map_err(|e| bad(format!("--key {}: {e}", path.display())))
}

fn single(
    db: &Path,
    key: Option<&Path>,
    obj: Map<String, Value>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    single_with(db, key, obj, &[], as_json, out)
}

/// Reads each `--evidence-file` (bounded, hashed) and adds its `blake3:<hex> <name>`
/// reference to the evidence (an identical reference once).
fn with_files(
    mut evidence: Vec<String>,
    paths: &[PathBuf],
) -> Result<(Vec<String>, Vec<kaohe::ops::evidence::EvidenceFile>)> {
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let f = kaohe::ops::evidence::read_file(p).map_err(|e| bad(e.to_string()))?;
        if !evidence.contains(&f.reference) {
            evidence.push(f.reference.clone());
        }
        files.push(f);
    }
    Ok((evidence, files))
}

/// Applies one command; its evidence files are stored first (with the ledger locked), so a
/// committed reference always has its file.
fn single_with(
    db: &Path,
    key: Option<&Path>,
    obj: Map<String, Value>,
    files: &[kaohe::ops::evidence::EvidenceFile],
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let command = command::from_object(&obj).map_err(|e| bad(e.to_string()))?;
    let signer = signer(key)?;
    let mut ledger = open(db)?;
    for f in files {
        ledger
            .store()
            .put_evidence(&f.hash, &f.bytes)
            .map_err(|e| ledger_err(e.into()))?;
    }
    let outcomes = ledger
        .apply_signed(
            &[Numbered {
                line: None,
                command,
            }],
            now()?,
            signer.as_ref(),
        )
        .map_err(ledger_err)?;
    for o in &outcomes {
        let body = ledger
            .event(o.seq())
            .map_err(ledger_err)?
            .ok_or_else(|| problem(format!("event {} cannot be read back", o.seq())))?;
        let appended = matches!(o, Outcome::Appended { .. });
        if as_json {
            writeln!(
                out,
                "{}",
                outcome_json(&ledger, o.seq(), appended, body.kind())
            )?;
        } else {
            writeln!(
                out,
                "{}",
                outcome_text(&ledger, o.seq(), appended, body.kind())
            )?;
        }
    }
    Ok(())
}

fn outcome_json(ledger: &Ledger, seq: u64, appended: bool, kind: &EventKind) -> Value {
    let status = if appended { "appended" } else { "unchanged" };
    let mut m = Map::new();
    m.insert("status".into(), json!(status));
    m.insert("seq".into(), json!(seq));
    m.insert("type".into(), json!(kind.type_name()));
    if let Some(id) = kind.id() {
        m.insert("id".into(), json!(id));
    }
    if let Some(s) = kind.station() {
        m.insert("station".into(), json!(s));
    }
    if let EventKind::PointsRecorded(p) = kind {
        m.insert("clause".into(), json!(p.clause));
        m.insert(
            "computed_points".into(),
            json!(p.computed_points.to_string()),
        );
        let bonus = ledger
            .rubric()
            .clause(&p.clause)
            .is_some_and(|(i, _)| i.bonus);
        m.insert(
            "direction".into(),
            json!(if bonus { "bonus" } else { "deduction" }),
        );
    }
    if let EventKind::MetricReported(x) = kind {
        m.insert("metric".into(), json!(x.metric));
        m.insert("value".into(), json!(x.value.to_string()));
    }
    if let EventKind::AppealFiled(a) = kind {
        m.insert("against".into(), json!(a.against));
    }
    if let EventKind::AppealDecided(d) = kind {
        m.insert("appeal".into(), json!(d.appeal));
        m.insert("against".into(), json!(d.against));
        m.insert("outcome".into(), json!(d.outcome.as_str()));
        if let Some(p) = d.outcome.points() {
            m.insert("points".into(), json!(p.to_string()));
        }
    }
    if let EventKind::RecordReversed(r) = kind {
        m.insert("target".into(), json!(r.target));
    }
    Value::Object(m)
}

fn outcome_text(ledger: &Ledger, seq: u64, appended: bool, kind: &EventKind) -> String {
    let unchanged = !appended;
    let what = match kind {
        EventKind::StationRegistered(s) => {
            format!("station {} {} ({})", s.code, s.name, s.kind.as_str())
        }
        EventKind::PointsRecorded(p) => {
            let bonus = ledger
                .rubric()
                .clause(&p.clause)
                .is_some_and(|(i, _)| i.bonus);
            format!(
                "{} {}: clause {} for {}, computed_points {} ({})",
                if bonus { "bonus" } else { "deduction" },
                p.id,
                p.clause,
                p.station,
                p.computed_points,
                view::signed_points(ledger.rubric(), &p.clause, &p.computed_points)
            )
        }
        EventKind::MetricReported(m) => {
            format!(
                "metric {}: {} = {} for {}",
                m.id, m.metric, m.value, m.station
            )
        }
        EventKind::AppealFiled(a) => {
            format!("appeal {} by {} against seq {}", a.id, a.station, a.against)
        }
        EventKind::AppealDecided(d) => format!(
            "decision on appeal {} (against seq {}): {}{} by {}",
            d.appeal,
            d.against,
            d.outcome.as_str(),
            d.outcome
                .points()
                .map(|p| format!(", {p} points stand"))
                .unwrap_or_default(),
            d.by
        ),
        EventKind::RecordReversed(r) => {
            format!("reversal {} of seq {} by {}", r.id, r.target, r.by)
        }
        EventKind::PeriodClosed(c) => format!("period closed ({} stations)", c.scores.len()),
        EventKind::KeyRegistered(k) => {
            format!(
                "key {} registered for {}",
                hex::encode(k.public_key),
                k.actor
            )
        }
        EventKind::KeyRevoked(k) => format!("key {} revoked", hex::encode(k.public_key)),
        EventKind::SignaturesRequired => "signatures required".into(),
        EventKind::LedgerCreated(_) => "genesis".into(),
    };
    if unchanged {
        format!("unchanged (already recorded at seq {seq}, same content): {what}")
    } else {
        format!("recorded at seq {seq}: {what}")
    }
}

fn import_file(
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
    let now = now()?;
    let applied = import::with_parsed_ahead(
        reader,
        |n| {
            if let Some(b) = &bar {
                b.set_position(n)
            }
        },
        |commands| ledger.apply_stream(commands, now, signer.as_ref()),
    )
    .map_err(ledger_err)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if as_json {
        let v = json!({
            "commands": applied.commands,
            "appended": applied.appended,
            "unchanged": applied.unchanged,
            "first_seq": applied.first_seq,
            "last_seq": applied.last_seq,
            "head": hex::encode(ledger.head().hash),
        });
        writeln!(out, "{v}")?;
    } else {
        let range = match (applied.first_seq, applied.last_seq) {
            (Some(a), Some(b)) if a == b => format!(" (seq {a})"),
            (Some(a), Some(b)) => format!(" (seq {a}–{b})"),
            _ => String::new(),
        };
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(
            out,
            "imported {}: {} appended{range}, {} unchanged\nhead {}",
            plural(applied.commands, "command", "commands"),
            plural(applied.appended, "event", "events"),
            applied.unchanged,
            hex::encode(ledger.head().hash)
        )?;
        let without_id = applied.without_id;
        if without_id > 0 {
            writeln!(
                out,
                "note: {} without an id; importing this file again would record {} again (give each line an id to make re-imports safe)",
                plural(without_id, "line was", "lines were"),
                if without_id == 1 { "it" } else { "them" }
            )?;
        }
    }
    Ok(())
}

/// A progress bar on a terminal, for files large enough to wait for.
fn progress_bar(size: Option<u64>) -> Option<indicatif::ProgressBar> {
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

fn score(db: &Path, q: &Query, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let scores = kaohe::ledger::tally::scores(&ledger, &view).map_err(ledger_err)?;
    let closed = final_at(&ledger, &view);
    if as_json {
        let mut w = std::io::BufWriter::new(out);
        serde_json::to_writer(&mut w, &view::score_json(&scores, &view, closed))?;
        writeln!(w)?;
        w.flush()?;
    } else {
        if *q != Query::default() {
            writeln!(out, "view: {}\n", view.describe())?;
        }
        if let Some(seq) = closed {
            writeln!(
                out,
                "final scores: the period was closed at seq {seq}, rank bonuses included\n"
            )?;
        }
        write!(out, "{}", view::score_table(&scores))?;
    }
    Ok(())
}

fn explain(
    db: &Path,
    station: &str,
    item: Option<&str>,
    q: &Query,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let x = explain::explain(&ledger, &view, station, item).map_err(ledger_err)?;
    if as_json {
        writeln!(out, "{}", view::explain_json(&x))?;
    } else {
        write!(out, "{}", view::explain_text(&x, ledger.rubric()))?;
    }
    Ok(())
}

/// `report --out FILE`: the HTML is written to FILE.tmp, synced, then renamed over FILE, so a
/// reader never sees half a report.
/// An `--out` path's directory must exist and lie outside the ledger directory (kaohe has
/// the ledger open while it writes).
fn out_dir(db: &Path, file: &Path) -> Result<()> {
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

fn report(
    db: &Path,
    file: &Path,
    stations: Vec<String>,
    q: &Query,
    out: &mut impl Write,
) -> Result<()> {
    let name = file.display();
    if file.as_os_str().is_empty() || file.file_name().is_none() {
        return Err(bad(format!("--out `{name}` does not name a file")));
    }
    if file.is_dir() {
        return Err(bad(format!(
            "--out {name} is a directory; give a file name"
        )));
    }
    if file.exists() && !file.is_file() {
        return Err(bad(format!(
            "--out {name} exists and is not a regular file"
        )));
    }
    out_dir(db, file)?;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    if tmp.is_dir() {
        return Err(bad(format!("{} is a directory", tmp.display())));
    }
    let ledger = open(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let opts = kaohe::render::report::Options { stations };
    let written = (|| -> Result<kaohe::render::report::Summary> {
        let f = std::fs::File::create(&tmp)
            .map_err(|e| bad(format!("cannot write {}: {e}", tmp.display())))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let summary =
            kaohe::render::report::write(&ledger, &view, &opts, &mut w).map_err(|e| match e {
                kaohe::render::report::ReportError::Ledger(e) => ledger_err(e),
                e => bad(format!("{}: {e}", tmp.display())),
            })?;
        let f = w
            .into_inner()
            .map_err(|e| bad(format!("cannot write {}: {}", tmp.display(), e.error())))?;
        f.sync_all()
            .map_err(|e| bad(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, file)
            .map_err(|e| bad(format!("cannot rename {} to {name}: {e}", tmp.display())))?;
        Ok(summary)
    })();
    let summary = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    writeln!(
        out,
        "wrote {name}: {} stations ranked, {} station sections, {} records, {} bytes\nview: {}",
        summary.stations,
        summary.sections,
        summary.events,
        summary.bytes,
        view.describe()
    )?;
    Ok(())
}

fn show(
    db: &Path,
    event: Option<&str>,
    seq: Option<u64>,
    hash: Option<&str>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open(db)?;
    let last = ledger.head().next_seq - 1;
    let (found, asked) = match (event, seq, hash) {
        (_, Some(n), _) => ((n <= last).then_some(n), n.to_string()),
        (_, _, Some(h)) => (
            ledger.find_hash(h.trim()).map_err(ledger_err)?,
            h.to_string(),
        ),
        (Some(key), _, _) => (
            ledger.find_event(key.trim()).map_err(ledger_err)?,
            key.to_string(),
        ),
        (None, None, None) => return Err(bad("give an id, --seq or --hash")),
    };
    let Some(seq) = found else {
        return Err(bad(format!(
            "no event `{asked}`: give an id, a seq (0–{last}) or a 64-digit hash"
        )));
    };
    let mut line = None;
    let mut next_hash = None;
    ledger
        .replay(seq, seq + 2, |e| {
            if e.seq == seq {
                line = Some(export::line(e.body, e.bytes, e.prev_hash, e.hash));
            } else {
                next_hash = Some(hex::encode(e.hash));
            }
            Ok(true)
        })
        .map_err(ledger_err)?;
    let line = line.ok_or_else(|| bad(format!("event {seq} cannot be read")))?;
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

/// The closing seq when a view shows the final scores: it includes the closing event and
/// every occurred date of the period.
fn final_at(ledger: &Ledger, view: &kaohe::ledger::query::View) -> Option<u64> {
    let whole_period = view.at.is_none_or(|d| d >= ledger.genesis().period_end);
    ledger
        .closed_at()
        .filter(|seq| *seq < view.end && whole_period)
}

fn close(
    db: &Path,
    accept_gaps: Option<String>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let mut ledger = open(db)?;
    let closed = match kaohe::ops::close::close(&mut ledger, now()?, accept_gaps.as_deref()) {
        Ok(closed) => closed,
        Err(e @ LedgerError::NotReady(_)) => {
            let message = e.to_string().trim_end().to_string();
            if as_json {
                // Scripts get the refusal on stdout too: what stops the close, line by line.
                let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
                writeln!(out, "{}", json!({ "closed": false, "refused": lines }))?;
            }
            return Err(problem(message));
        }
        Err(e) => return Err(ledger_err(e)),
    };
    if as_json {
        writeln!(out, "{}", view::closed_json(&closed))?;
    } else {
        write!(out, "{}", view::closed_text(ledger.rubric(), &closed))?;
    }
    Ok(())
}

fn key_new(actor: kaohe::events::event::Actor, file: &Path, out: &mut impl Write) -> Result<()> {
    let pair = kaohe::events::sign::KeyPair::generate(actor).map_err(|e| problem(e.to_string()))?;
    let public = file.with_file_name(format!(
        "{}.pub",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    if public.exists() {
        return Err(bad(format!(
            "{} already exists; choose another --out (a key pair is written as a new FILE and FILE.pub)",
            public.display()
        )));
    }
    write_new(file, pair.to_file_text().as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public, pair.to_public_text().as_bytes(), 0o644) {
        // Never leave a private key without its public half.
        let _ = std::fs::remove_file(file);
        return Err(e);
    }
    writeln!(
        out,
        "made a key for {}: {} (private, mode 0600) and {}\npublic key {}\nput it in force with `kaohe key register {}`",
        pair.actor,
        file.display(),
        public.display(),
        hex::encode(pair.public_key()),
        public.display()
    )?;
    Ok(())
}

/// Writes a file that must not exist yet, with the given mode.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| bad(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn key_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let keys = ledger.keys().map_err(ledger_err)?;
    if as_json {
        let list: Vec<Value> = keys
            .iter()
            .map(|k| {
                json!({
                    "public_key": hex::encode(k.public_key),
                    "actor": k.actor.to_string(),
                    "registered_seq": k.registered_seq,
                    "revoked_seq": k.revoked_seq,
                })
            })
            .collect();
        writeln!(out, "{}", json!({ "keys": list }))?;
        return Ok(());
    }
    let mut t = view::Table::new(
        &["public key", "actor", "registered", "revoked"],
        &[false, false, true, true],
    );
    for k in &keys {
        t.row(vec![
            hex::encode(k.public_key),
            k.actor.to_string(),
            format!("seq {}", k.registered_seq),
            k.revoked_seq
                .map(|s| format!("seq {s}"))
                .unwrap_or_default(),
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}

fn appeal_list(
    db: &Path,
    station: Option<&str>,
    pending: bool,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open(db)?;
    if let Some(code) = station {
        if ledger.find_station(code).map_err(ledger_err)?.is_none() {
            return Err(bad(format!("unknown station `{code}`")));
        }
    }
    let entries = kaohe::ops::appeals::list(&ledger, station, pending).map_err(ledger_err)?;
    if as_json {
        writeln!(out, "{}", view::appeals_json(ledger.rubric(), &entries))?;
    } else {
        write!(out, "{}", view::appeals_table(&entries))?;
    }
    Ok(())
}

fn stations(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let mut list = Vec::new();
    ledger
        .replay_all(|e| {
            if let kaohe::events::event::EventKind::StationRegistered(s) = e.body.kind() {
                list.push((e.seq, s.clone()));
            }
            Ok(true)
        })
        .map_err(ledger_err)?;
    if as_json {
        let v: Vec<Value> = list
            .iter()
            .map(|(seq, s)| json!({"code": s.code, "name": s.name, "kind": s.kind.as_str(), "seq": seq}))
            .collect();
        writeln!(out, "{}", json!({ "stations": v }))?;
        return Ok(());
    }
    let mut t = view::Table::new(
        &["站点", "名称", "类型", "seq"],
        &[false, false, false, true],
    );
    for (seq, s) in list {
        t.row(vec![
            s.code,
            s.name,
            s.kind.label_zh().into(),
            seq.to_string(),
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}

fn log(
    db: &Path,
    station: Option<&str>,
    q: &Query,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let ledger = open(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    if let Some(s) = station {
        if ledger.find_station(s).map_err(ledger_err)?.is_none() {
            return Err(bad(format!("unknown station `{s}`")));
        }
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
            }
            Ok(true)
        })
        .map_err(ledger_err)?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    if !as_json {
        write!(out, "{}", table.render())?;
    }
    Ok(())
}

fn export_all(db: &Path, q: &Query, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
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

/// `export --scores`: every station's score per item, as CSV or as `score --json`.
fn export_scores(db: &Path, q: &Query, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let view = ledger.view(q).map_err(ledger_err)?;
    let scores = kaohe::ledger::tally::scores(&ledger, &view).map_err(ledger_err)?;
    let closed = final_at(&ledger, &view);
    let mut w = std::io::BufWriter::new(out);
    if as_json {
        serde_json::to_writer(&mut w, &view::score_json(&scores, &view, closed))?;
        writeln!(w)?;
    } else {
        kaohe::render::scores::write_scores(&mut w, &scores)?;
    }
    w.flush()?;
    Ok(())
}

/// `reconcile --tallies FILE`: exit 0 when every row agrees, 1 when any differs, 2 when the
/// file cannot be reconciled.
fn reconcile_tallies(
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
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        Box::new(BufReader::new(f))
    };
    let in_file = |e: ReconcileError| match e {
        ReconcileError::Ledger(e) => ledger_err(e),
        e => bad(format!("{name}: {e}")),
    };
    let rows = reconcile::read(input).map_err(in_file)?;
    let ledger = open(db)?;
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

fn verify_ledger(
    db: &Path,
    head: Option<&kaohe::events::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let report = verify::ledger(db, head).map_err(ledger_err)?;
    finish_ledger_verify(db, &report, as_json, out)
}

/// [`finish_verify`] for a stored ledger: a success is recorded as the last full
/// verification; a problem is damage, reported with how to restore.
fn finish_ledger_verify(
    db: &Path,
    report: &verify::Report,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if report.problem.is_none() && report.events > 0 {
        // A note for a damaged ledger's user, outside the chain; failing to write it does not
        // make the ledger less verified.
        let at = now().ok().map(|t| t.as_microsecond());
        let _ = kaohe::store::Store::open(db)
            .and_then(|s| s.put_verified(report.events - 1, &report.head, at));
    }
    finish_verify(
        report.events,
        &report.head,
        report.expected_head_at,
        report.problem.clone().map(|p| (p.seq, None, p.message)),
        as_json,
        out,
    )
    .map_err(|e| match e.downcast::<Exit>() {
        Ok(x) if x.code == EXIT_PROBLEM => anyhow!(Damage(x.message)),
        Ok(x) => anyhow!(x),
        Err(e) => e,
    })
}

/// `verify --evidence`: the ledger as `verify` checks it, then the stored evidence files.
fn verify_evidence(
    db: &Path,
    head: Option<&kaohe::events::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let (report, check) = verify::ledger_with_evidence(db, head).map_err(ledger_err)?;
    let Some(check) = check else {
        return finish_ledger_verify(db, &report, as_json, out);
    };
    if report.events > 0 {
        let at = now().ok().map(|t| t.as_microsecond());
        let _ = kaohe::store::Store::open(db)
            .and_then(|s| s.put_verified(report.events - 1, &report.head, at));
    }
    let mut problems: Vec<String> = check
        .damaged
        .iter()
        .map(|(h, m)| {
            format!(
                "the stored evidence file {} is damaged: {m}",
                hex::encode(h)
            )
        })
        .collect();
    problems.extend(check.missing.iter().map(|(seq, h)| {
        format!(
            "seq {seq} references the evidence file {}, which is not stored",
            hex::encode(h)
        )
    }));
    let mut notes: Vec<String> = check
        .unreferenced
        .iter()
        .map(|h| {
            format!(
                "the stored evidence file {} is referenced by no event (left by a refused or interrupted command; harmless)",
                hex::encode(h)
            )
        })
        .collect();
    notes.extend(check.leftovers.iter().map(|n| {
        format!(
            "{}/{n} is not a stored evidence file (a leftover of an interrupted store; harmless)",
            kaohe::store::EVIDENCE_DIR
        )
    }));
    if as_json {
        let v = json!({
            "ok": check.ok(), "events": report.events, "head": hex::encode(report.head),
            "expected_head_at": report.expected_head_at,
            "evidence": {
                "stored": check.stored.len(),
                "referenced": check.references.len(),
                "damaged": check.damaged.iter().map(|(h, m)| json!({"hash": hex::encode(h), "problem": m})).collect::<Vec<_>>(),
                "missing": check.missing.iter().map(|(s, h)| json!({"seq": s, "hash": hex::encode(h)})).collect::<Vec<_>>(),
                "unreferenced": check.unreferenced.iter().map(hex::encode).collect::<Vec<_>>(),
                "leftovers": check.leftovers,
            },
            "problems": problems, "notes": notes,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "{}: {} events verified\nhead {}\nevidence: {} files stored, {} referenced",
            if check.ok() { "ok" } else { "events ok" },
            report.events,
            hex::encode(report.head),
            check.stored.len(),
            check.references.len()
        )?;
        for n in &notes {
            writeln!(out, "note: {n}")?;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problem(format!(
            "evidence verification failed:\n  {}",
            problems.join("\n  ")
        )))
    }
}

/// `evidence get HASH --out FILE`.
fn evidence_get(db: &Path, hash: &str, file: &Path, out: &mut impl Write) -> Result<()> {
    let t = hash.trim();
    let t = t
        .strip_prefix(kaohe::ops::evidence::REFERENCE_PREFIX)
        .unwrap_or(t);
    let hash = kaohe::events::chain::parse_hash(t)
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
    let ledger = open(db)?;
    let hex_hash = hex::encode(hash);
    let bytes = ledger
        .store()
        .get_evidence(&hash)
        .map_err(|e| ledger_err(e.into()))?
        .ok_or_else(|| {
            bad(format!(
                "no evidence file {hex_hash} is stored in this ledger"
            ))
        })?;
    let actual = kaohe::events::chain::file_hash(&bytes);
    if actual != hash {
        return Err(problem(format!(
            "the stored evidence file {hex_hash} is damaged: its {} bytes hash to {}; nothing written",
            bytes.len(),
            hex::encode(actual)
        )));
    }
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(bad(format!("cannot write {name}: {e}")));
    }
    writeln!(
        out,
        "wrote {name}: {} bytes, blake3 {hex_hash}",
        bytes.len()
    )?;
    Ok(())
}

/// `evidence list`: each stored file with the events that reference it, then references
/// whose file is not stored.
fn evidence_list(db: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
    let listing = ledger
        .store()
        .evidence_listing()
        .map_err(|e| ledger_err(e.into()))?;
    let refs = kaohe::ops::evidence::references(ledger.store()).map_err(ledger_err)?;
    let no_refs = Vec::new();
    let files: Vec<Value> = listing
        .blobs
        .iter()
        .map(|(h, size)| {
            json!({"hash": hex::encode(h), "size": size, "seqs": refs.get(h).unwrap_or(&no_refs)})
        })
        .collect();
    let missing: Vec<Value> = refs
        .iter()
        .filter(|(h, _)| !listing.blobs.contains_key(*h))
        .map(|(h, seqs)| json!({"hash": hex::encode(h), "seqs": seqs}))
        .collect();
    if as_json {
        writeln!(out, "{}", json!({"files": files, "missing": missing}))?;
        return Ok(());
    }
    let seqs = |v: &Value| {
        let s: Vec<String> = v["seqs"]
            .as_array()
            .map(|a| a.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default();
        if s.is_empty() {
            "referenced by no event".to_string()
        } else {
            format!("seq {}", s.join(", "))
        }
    };
    for f in &files {
        writeln!(
            out,
            "{}  {} bytes  {}",
            f["hash"].as_str().unwrap_or_default(),
            f["size"],
            seqs(f)
        )?;
    }
    for m in &missing {
        writeln!(
            out,
            "{}  NOT STORED  {}",
            m["hash"].as_str().unwrap_or_default(),
            seqs(m)
        )?;
    }
    if files.is_empty() && missing.is_empty() {
        writeln!(out, "no evidence files")?;
    }
    Ok(())
}

fn verify_export(
    file: &Path,
    head: Option<&kaohe::events::event::Hash>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot read {}", file.display()))
            .map_err(|e| bad(e.to_string()))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    let report = export::verify(input, head).map_err(|e| bad(e.to_string()))?;
    finish_verify(
        report.events,
        &report.head,
        report.expected_head_at,
        report.problem.map(|p| (p.seq, Some(p.line), p.message)),
        as_json,
        out,
    )
}

fn finish_verify(
    events: u64,
    head: &kaohe::events::event::Hash,
    expected_head_at: Option<u64>,
    problem: Option<(u64, Option<usize>, String)>,
    as_json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if as_json {
        let v = match &problem {
            None => json!({
                "ok": true, "events": events, "head": hex::encode(head),
                "expected_head_at": expected_head_at,
            }),
            Some((seq, line, message)) => json!({
                "ok": false, "events_verified": events, "first_bad_seq": seq,
                "line": line, "problem": message,
            }),
        };
        writeln!(out, "{v}")?;
    }
    match problem {
        None => {
            if !as_json {
                writeln!(
                    out,
                    "ok: {events} events verified\nhead {}",
                    hex::encode(head)
                )?;
            }
            Ok(())
        }
        Some((seq, line, message)) => {
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Err(problem_err(format!(
                "verification failed at seq {seq}{at}: {message}"
            )))
        }
    }
}

fn problem_err(message: String) -> anyhow::Error {
    problem(message)
}

fn rubric(db: &Path, as_json: bool, as_toml: bool, out: &mut impl Write) -> Result<()> {
    let ledger = open(db)?;
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

/// Damage found in the ledger (exit 1); [`run`] adds how to restore it.
#[derive(Debug)]
struct Damage(String);

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Damage {}

/// What a damaged ledger's user can do: how far it was last verified, and how to restore it.
fn restore_hint(db: &Path) -> String {
    let last = match kaohe::store::Store::read_last_verified(db) {
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

/// `restore FILE`: rebuild a ledger at `--db` from a verified export.
fn restore(db: &Path, file: &Path, as_json: bool, out: &mut impl Write) -> Result<()> {
    use kaohe::ops::restore::{RestoreError, Source};
    let mut stdin;
    let source = if file.as_os_str() == "-" {
        stdin = std::io::stdin().lock();
        Source::Reader(&mut stdin)
    } else {
        Source::File(file)
    };
    let r = kaohe::ops::restore::restore(source, db).map_err(|e| match e {
        RestoreError::Exists(_) | RestoreError::Input(_) => bad(e.to_string()),
        e if e.is_problem() => problem(e.to_string()),
        e => bad(e.to_string()),
    })?;
    let evidence_note = (r.evidence_events > 0).then(|| {
        format!(
            "{} events reference {} evidence files (`blake3:`); an export does not carry the files: copy the `{}` directory of the original ledger (or a backup) into {}, then check with `kaohe --db {} verify --evidence`",
            r.evidence_events,
            r.evidence_files,
            kaohe::store::EVIDENCE_DIR,
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
