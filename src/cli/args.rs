//! The command line's grammar (clap): every subcommand and flag, and how a write's flags
//! become the import-line object the library parses (`domain::command`), so that a flag and
//! an import line are checked by the same code and name the same fields.

use super::errors::bad;
use super::input::read_limited;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use kaohe::event::Actor;
use kaohe::ops::actions::EventName;
use kaohe::ops::evidence::EvidenceFile;
use kaohe::Query;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

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
    pub(super) db: PathBuf,
    /// Sign what you record with this key file (`kaohe key new`); its actor must be the
    /// event's (the department, or the station for an appeal).
    #[arg(long, global = true, env = "KAOHE_KEY")]
    pub(super) key: Option<PathBuf>,
    /// How long to wait, in seconds, for a ledger another kaohe process holds, before giving
    /// up with exit 3 (busy).
    #[arg(long, global = true, env = "KAOHE_WAIT", value_name = "SECONDS",
          default_value_t = kaohe::limits::DEFAULT_LOCK_WAIT_SECONDS,
          value_parser = clap::value_parser!(u64).range(0..=kaohe::limits::MAX_LOCK_WAIT_SECONDS))]
    pub(super) wait: u64,
    #[command(subcommand)]
    pub(super) command: Cmd,
}

#[derive(Subcommand)]
pub(super) enum Cmd {
    /// Create a ledger governed by a rubric file.
    Init {
        #[arg(long)]
        rubric: PathBuf,
        /// Every record, report, appeal, decision and reversal must be signed by its actor's
        /// registered key; key registrations and revocations, station registrations and the
        /// close by a bureau key in force. Needs --bureau-key.
        #[arg(long, requires = "bureau_key")]
        require_signatures: bool,
        /// The bureau's public key (`kaohe key new --bureau NAME --out FILE` makes FILE.pub):
        /// the root of trust, named at seq 1.
        #[arg(long, value_name = "FILE.pub", requires = "require_signatures")]
        bureau_key: Option<PathBuf>,
        /// The previous year's ledger (a directory), closed: the genesis holds its sealed head
        /// (its id, period, and closing event's seq and hash), so that an auditor can walk the
        /// years back. It must verify, and its period end before the rubric's starts; it is
        /// only read.
        #[arg(long, value_name = "PREV")]
        follows: Option<PathBuf>,
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
        /// The HTML file to write (written to FILE.tmp, created new and never through a link,
        /// then renamed over FILE; a link at FILE is refused).
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
    /// station and item as CSV (`schema/scores-csv.md`), JSON, or an Excel workbook (--format
    /// xlsx --out FILE).
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
        /// jsonl (events, the default); csv (the default with --scores), json (as `score
        /// --json`) or xlsx (an Excel workbook: a sheet of totals and ranks, one per category;
        /// needs --out) with --scores.
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// With --scores: count only what occurred on or before this day (YYYY-MM-DD).
        #[arg(long, requires = "scores")]
        at: Option<String>,
        /// With --scores: the file to write instead of stdout (written to FILE.tmp, created new
        /// and never through a link, then renamed over FILE). Required with --format xlsx.
        #[arg(long, requires = "scores", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check the ledger against a department's own tally: a CSV file or an Excel workbook
    /// (.xlsx, its first sheet) with the header `station,item,deducted,awarded` (or
    /// `司法所,项目,扣分,加分`). Lists the rows whose figures differ from the ledger's applied
    /// figures (exit 1); writes nothing.
    Reconcile {
        /// The department's tally (`-` for stdin): a workbook when its name ends in .xlsx or it
        /// starts as a zip archive does, else CSV.
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
        /// With --export: a checkpoint note (signed by --pubkey) whose root must be the root
        /// of the export's first events (as many as the checkpoint's size).
        #[arg(long, requires_all = ["export", "pubkey"], value_name = "NOTE")]
        checkpoint: Option<PathBuf>,
        /// With --checkpoint: the checkpoint key (a key file, its .pub, or 64 hex digits).
        #[arg(long, requires = "checkpoint", value_name = "KEY")]
        pubkey: Option<String>,
        /// The previous year's ledger: this ledger's genesis must hold exactly its sealed head
        /// (its id, and its closing event's seq and hash), and it must verify (it is only read).
        #[arg(long, value_name = "PREV", conflicts_with_all = ["export", "evidence"])]
        follows: Option<PathBuf>,
        /// With --export: the previous year's export, which must verify and end with the
        /// closing event whose seq and hash the export's genesis holds.
        #[arg(
            long,
            value_name = "PREV_EXPORT",
            requires = "export",
            conflicts_with = "checkpoint"
        )]
        follows_export: Option<PathBuf>,
        #[command(flatten)]
        witnesses: WitnessArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write a complete backup in one file: the export, every evidence file and every stored
    /// checkpoint, closed by a BLAKE3 hash of the whole (`schema/BACKUP.md`); `restore FILE`
    /// takes it back.
    Backup {
        /// The backup file to write (it must not exist; written to FILE.tmp, then renamed).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a ledger at --db (which must not exist) from an export or a backup: it is
    /// verified first (as `verify --export`) and refused when it does not verify; the events
    /// are written byte for byte, the tally and indices derived. A backup (`kaohe backup`)
    /// also brings back the evidence files and checkpoints; an export does not carry them.
    Restore {
        /// The export (`kaohe export > FILE`, `-` for stdin) or backup (`kaohe backup`).
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
        /// Add the signature lines (witnesses' cosignatures, `kaohe witness`) of a copy of a
        /// stored checkpoint to it (no key needed): the copy must carry the stored note's text
        /// and signature byte for byte.
        #[arg(long, value_name = "FILE", conflicts_with = "list")]
        add: Option<PathBuf>,
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
        #[command(flatten)]
        witnesses: WitnessArgs,
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
        /// Witnesses whose cosignatures the NEW checkpoint must carry.
        #[command(flatten)]
        witnesses: WitnessArgs,
        #[arg(long)]
        json: bool,
    },
    /// Act as a witness, with no ledger (--db is not opened): check a ledger's checkpoint
    /// against the key that signs them and against the last checkpoint this witness cosigned
    /// of that ledger, then cosign it with the global --key (a witness key, `key new --witness
    /// NAME`; C2SP tlog-cosignature) and print the note with the cosignature appended. Exit 1
    /// for a fork, a rollback, a proof or signature that does not verify; nothing is
    /// written then.
    Witness {
        /// The witness's state directory: the last checkpoint it cosigned of each ledger, one
        /// file per ledger (made when missing).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// The key that signs the ledger's checkpoints: a key file, its .pub, or 64 hex digits.
        #[arg(long, value_name = "LOGKEY")]
        log_key: String,
        /// A checkpoint note (the first the witness sees of a ledger, or its last one again),
        /// or a consistency file (`kaohe consistency OLD NEW`) whose OLD is the last checkpoint
        /// the witness cosigned; `-` for stdin.
        input: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Serve the ledger over HTTP to every party at once (`/api/v1/…`): sign-in by key
    /// challenge, reads by role, writes prepared by the server and signed by their actor.
    /// Prints `listening on http(s)://ADDR` once ready; SIGTERM or Ctrl-C stops it after what
    /// was accepted is durable.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8018")]
        listen: std::net::SocketAddr,
        /// HTTPS: the certificate chain (PEM).
        #[arg(long, requires = "tls_key", value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// HTTPS: the certificate's private key (PEM).
        #[arg(long, requires = "tls_cert", value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// Sign a checkpoint of the head with this log key on a schedule, and when stopping:
        /// a key made with `kaohe key new` that the ledger does not register (a server holds
        /// no actor's key); verifiers pin its public key.
        #[arg(long, value_name = "FILE")]
        checkpoint_key: Option<PathBuf>,
        /// Seconds between scheduled checkpoints (when the head moved).
        #[arg(long, value_name = "SECONDS", default_value_t = 3600, requires = "checkpoint_key",
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        checkpoint_every: u64,
    },
    /// The rubric in force; `rubric check FILE` checks a draft, `rubric diff A B` compares two
    /// files, clause by clause.
    #[command(args_conflicts_with_subcommands = true)]
    Rubric {
        #[arg(long)]
        json: bool,
        /// Print the rubric file exactly as stored.
        #[arg(long, conflicts_with = "json")]
        toml: bool,
        #[command(subcommand)]
        draft: Option<RubricSub>,
    },
}

#[derive(Subcommand)]
pub(super) enum RubricSub {
    /// Check a rubric file as `init` would, listing every error found (each names its clause,
    /// item or category and the field), and print its totals per category. Exit 0 when it is
    /// valid, 1 when it is not, 2 when it cannot be read. No ledger is needed.
    Check {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// What changed from rubric file OLD to NEW: the header, departments, metrics, and every
    /// category, item and clause by its code (+ added, - removed, ~ changed field). No ledger
    /// is needed.
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// The witnesses a checkpoint must be cosigned by (`verify-receipt`, `verify-consistency`,
/// `verify --export --checkpoint`).
#[derive(Args, Default)]
pub(super) struct WitnessArgs {
    /// A witness's key file or .pub (`kaohe key new --witness NAME`; its name is the key
    /// file's); repeatable. The checkpoint must carry valid cosignatures from --quorum of them.
    #[arg(long = "witness", value_name = "WKEY")]
    pub(super) witness: Vec<PathBuf>,
    /// How many of the witnesses given must have cosigned (default: all of them).
    #[arg(long, requires = "witness", value_name = "N")]
    pub(super) quorum: Option<usize>,
}

/// What `export` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ExportFormat {
    Jsonl,
    Csv,
    Json,
    Xlsx,
}

/// The two times: valid time (`--at`) and transaction time (`--known-at`, `--as-of-seq`).
#[derive(Args, Default)]
pub(super) struct TimeArgs {
    /// Count only what occurred on or before this day (YYYY-MM-DD).
    #[arg(long)]
    pub(super) at: Option<String>,
    /// As the ledger stood at this moment (RFC 3339; includes what was recorded at it).
    #[arg(long)]
    pub(super) known_at: Option<String>,
    /// As the ledger stood at this seq (includes it).
    #[arg(long)]
    pub(super) as_of_seq: Option<u64>,
}

impl TimeArgs {
    pub(super) fn query(&self) -> Result<Query> {
        let at = self
            .at
            .as_deref()
            .map(|d| {
                kaohe::event::date_text::parse_date(d.trim()).ok_or_else(|| {
                    bad(format!(
                        "--at {}",
                        kaohe::event::date_text::why_not_a_date(d.trim())
                    ))
                })
            })
            .transpose()?;
        Ok(Query {
            as_of_seq: self.as_of_seq,
            known_at: parse_known_at(self.known_at.as_deref())?,
            at,
        })
    }
}

pub(super) fn parse_known_at(t: Option<&str>) -> Result<Option<Timestamp>> {
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
pub(super) enum StationCmd {
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
pub(super) struct RecordArgs {
    /// The rubric clause, e.g. 1.3.a (`kaohe rubric` lists them).
    #[arg(long)]
    clause: String,
    /// The station's code, as registered with `station add`.
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
    /// The measured figure, for clauses judged on one (a rate, a number of cases).
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    /// How many units (cases, people), for per-unit clauses.
    #[arg(long, allow_hyphen_values = true)]
    count: Option<String>,
    /// How many of the required things were done, for `missing` clauses (points for each not done).
    #[arg(long, allow_hyphen_values = true)]
    done: Option<String>,
    /// Points per unit for range and per-unit clauses, else the whole figure.
    #[arg(long, allow_hyphen_values = true)]
    points: Option<String>,
    /// A justification (required for range clauses).
    #[arg(long)]
    note: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Subcommand)]
pub(super) enum KeySub {
    /// Make an Ed25519 key pair: FILE (private, mode 0600) and FILE.pub.
    New {
        #[command(flatten)]
        who: KeyFor,
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

/// Whom `key new` makes a key for: exactly one.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(super) struct KeyFor {
    /// A department (records, reports, decisions, reversals on its own items).
    #[arg(long)]
    dept: Option<String>,
    /// A station, by code (its appeals).
    #[arg(long)]
    station: Option<String>,
    /// The bureau: the root of trust of a ledger made with `init --require-signatures
    /// --bureau-key FILE.pub` (registers keys and stations, closes the year, signs
    /// checkpoints).
    #[arg(long)]
    bureau: Option<String>,
    /// A witness (`kaohe witness`): cosigns a ledger's checkpoints; never registered in it.
    #[arg(long)]
    witness: Option<String>,
    /// An auditor: signs in to `kaohe serve` and reads everything, at any time; writes nothing.
    #[arg(long)]
    auditor: Option<String>,
}

#[derive(Subcommand)]
pub(super) enum EvidenceSub {
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
pub(super) enum AppealSub {
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
pub(super) struct ReverseArgs {
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
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct MetricArgs {
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
    pub(super) json: bool,
}

/// A write as the library takes it: the command in the import-line shape, and the evidence
/// files whose references it already names.
pub(super) struct Request {
    pub(super) object: Map<String, Value>,
    pub(super) files: Vec<EvidenceFile>,
}

impl Request {
    fn new(op: &str) -> Request {
        let mut object = Map::new();
        object.insert("op".into(), json!(op));
        Request {
            object,
            files: Vec::new(),
        }
    }

    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.object.insert(key.into(), value.into());
    }

    /// Sets each field that was given.
    fn set_given(&mut self, fields: &[(&str, &Option<String>)]) {
        for (k, v) in fields {
            if let Some(v) = v {
                self.set(k, v.as_str());
            }
        }
    }

    /// Reads each `--evidence-file` (bounded, hashed) and sets the evidence: the references
    /// given, then each file's `blake3:<hex> <name>` reference (an identical one once).
    fn evidence(&mut self, mut evidence: Vec<String>, paths: &[PathBuf]) -> Result<()> {
        for p in paths {
            let f = kaohe::ops::evidence::read_file(p).map_err(|e| bad(e.to_string()))?;
            self.files.push(f);
        }
        kaohe::ops::actions::attach_files(&mut evidence, &self.files);
        self.set("evidence", evidence);
        Ok(())
    }
}

impl RecordArgs {
    pub(super) fn request(self) -> Result<Request> {
        let mut r = Request::new("record");
        r.set_given(&[
            ("id", &self.id),
            ("value", &self.value),
            ("count", &self.count),
            ("done", &self.done),
            ("points", &self.points),
            ("note", &self.note),
        ]);
        r.set("clause", self.clause);
        r.set("station", self.station);
        r.set("by", self.by);
        r.set("occurred", self.occurred);
        r.evidence(self.evidence, &self.evidence_file)?;
        Ok(r)
    }
}

impl MetricArgs {
    pub(super) fn request(self) -> Result<Request> {
        let mut r = Request::new("metric");
        r.set_given(&[("id", &self.id)]);
        r.set("station", self.station);
        r.set("metric", self.metric);
        r.set("value", self.value);
        r.set("by", self.by);
        r.set("occurred", self.occurred);
        r.evidence(self.evidence, &self.evidence_file)?;
        Ok(r)
    }
}

impl ReverseArgs {
    pub(super) fn request(self) -> Result<Request> {
        let mut r = Request::new("reverse");
        r.set_given(&[("id", &self.id)]);
        r.set("target", self.target);
        r.set("by", self.by);
        r.set("reason", self.reason);
        r.evidence(self.evidence, &self.evidence_file)?;
        Ok(r)
    }
}

/// `station add`.
pub(super) fn station_request(code: String, name: String, kind: String) -> Request {
    let mut r = Request::new("station");
    r.set("code", code);
    r.set("name", name);
    r.set("kind", kind);
    r
}

/// `appeal file`.
pub(super) fn appeal_request(
    against: String,
    station: String,
    grounds: String,
    id: Option<String>,
    evidence: (Vec<String>, Vec<PathBuf>),
) -> Result<Request> {
    let mut r = Request::new("appeal");
    r.set_given(&[("id", &id)]);
    r.set("against", against);
    r.set("station", station);
    r.set("grounds", grounds);
    r.evidence(evidence.0, &evidence.1)?;
    Ok(r)
}

/// `appeal decide`.
pub(super) fn decide_request(
    appeal: String,
    outcome: String,
    points: Option<String>,
    (by, reason): (String, String),
    evidence: (Vec<String>, Vec<PathBuf>),
) -> Result<Request> {
    let mut r = Request::new("decide");
    r.set("appeal", appeal);
    r.set("outcome", outcome);
    r.set_given(&[("points", &points)]);
    r.set("by", by);
    r.set("reason", reason);
    r.evidence(evidence.0, &evidence.1)?;
    Ok(r)
}

/// `key register FILE`: the key file's actor and public key.
pub(super) fn key_register_request(file: &std::path::Path) -> Result<Request> {
    let text = read_limited(file, kaohe::limits::MAX_KEY_FILE_BYTES, "key file")?;
    let (actor, public) =
        kaohe::sign::read_public(&text).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    let mut r = Request::new("key_register");
    r.set("actor_kind", actor.kind_str());
    r.set("actor", actor.name());
    r.set("public_key", hex::encode(public));
    Ok(r)
}

/// `key revoke KEY`: KEY is 64 hex digits or a key file.
pub(super) fn key_revoke_request(which: &str, reason: String) -> Result<Request> {
    let public = match kaohe::parse_typed_hash(which.trim()) {
        Some(h) => hex::encode(h),
        None => {
            let path = std::path::Path::new(which);
            let text = read_limited(path, kaohe::limits::MAX_KEY_FILE_BYTES, "key file")?;
            let (_, public) =
                kaohe::sign::read_public(&text).map_err(|e| bad(format!("{which}: {e}")))?;
            hex::encode(public)
        }
    };
    let mut r = Request::new("key_revoke");
    r.set("public_key", public);
    r.set("reason", reason);
    Ok(r)
}

/// `key new --dept D | --station S | --bureau NAME | --witness NAME`: the actor the key is for.
pub(super) fn key_actor(who: KeyFor) -> Result<Actor> {
    let KeyFor {
        dept,
        station,
        bureau,
        witness,
        auditor,
    } = who;
    let pick = [
        dept.map(Actor::Department),
        station.map(Actor::Station),
        bureau.map(Actor::Bureau),
        witness.map(Actor::Witness),
        auditor.map(Actor::Auditor),
    ];
    pick.into_iter().flatten().next().ok_or_else(|| {
        bad("give --dept DEPARTMENT, --station CODE, --bureau NAME, --witness NAME or --auditor NAME")
    })
}

/// `show`'s event: `--seq`, else `--hash`, else the id (or seq) given.
pub(super) fn event_name<'a>(
    event: Option<&'a str>,
    seq: Option<u64>,
    hash: Option<&'a str>,
) -> Result<EventName<'a>> {
    match (event, seq, hash) {
        (_, Some(n), _) => Ok(EventName::Seq(n)),
        (_, _, Some(h)) => Ok(EventName::Hash(h)),
        (Some(key), _, _) => Ok(EventName::Key(key)),
        (None, None, None) => Err(bad("give an id, --seq or --hash")),
    }
}
