//! Limits on everything that comes from outside. Each is named here so that a reader can find
//! every bound kaohe puts on its input in one place.

/// Largest rubric file accepted by `init`, in bytes.
pub const MAX_RUBRIC_BYTES: u64 = 1024 * 1024;
/// Largest import file, in bytes.
pub const MAX_IMPORT_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Longest import line, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most commands one import may hold.
pub const MAX_IMPORT_COMMANDS: usize = 20_000_000;
/// Largest export file `verify --export` reads, in bytes.
pub const MAX_EXPORT_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Longest export line, in bytes: an event's body as hex (2×) plus its decoded fields (the
/// genesis carries the rubric; a closing event every station's final score).
pub const MAX_EXPORT_LINE_BYTES: usize = 8 * MAX_EVENT_BYTES;
/// Largest signed checkpoint note kaohe reads: its own are about 200 bytes, and each witness's
/// cosignature line adds about 110 bytes and the witness's name.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;
/// Most signature lines read from one checkpoint note: the log's and the witnesses'
/// cosignatures (as the Go reference implementation of C2SP signed notes).
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// Most witness keys one check takes (`--witness`, repeatable).
pub const MAX_WITNESSES: usize = 32;
/// Largest receipt file, in bytes: one event as an export line, a proof and a checkpoint.
pub const MAX_RECEIPT_BYTES: u64 = MAX_EXPORT_LINE_BYTES as u64 + 64 * 1024;
/// Largest consistency file, in bytes: two checkpoints and a proof.
pub const MAX_CONSISTENCY_BYTES: u64 = 64 * 1024;
/// Most hashes in an inclusion or consistency proof (a tree of 2^64 leaves needs fewer).
pub const MAX_PROOF_HASHES: usize = 130;
/// Largest key file, in bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Most evidence references on one event.
pub const MAX_EVIDENCE_COUNT: usize = 32;
/// Longest evidence reference, in characters.
pub const MAX_EVIDENCE_CHARS: usize = 256;
/// Largest evidence file (`--evidence-file`) stored in a ledger, in bytes.
pub const MAX_EVIDENCE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Longest id (record, metric), in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest station code, in characters.
pub const MAX_STATION_CODE_CHARS: usize = 32;
/// Longest station name, in characters.
pub const MAX_STATION_NAME_CHARS: usize = 64;
/// Longest note (justification), in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// Characters in an appeal's grounds.
pub const MAX_GROUNDS_CHARS: usize = 2000;
/// Characters in a decision's or reversal's reason.
pub const MAX_REASON_CHARS: usize = 2000;
/// Characters in a reference to an event (an id, a seq or a 64-digit hash).
pub const MAX_REFERENCE_CHARS: usize = 64;
/// Longest department name, in characters.
pub const MAX_DEPARTMENT_CHARS: usize = 32;
/// Largest `count` on one record.
pub const MAX_COUNT: u32 = 10_000;
/// Largest `done` on one record.
pub const MAX_DONE: u32 = 10_000;
/// Largest absolute value of a measured figure.
pub const MAX_ABS_VALUE: i64 = 1_000_000_000;
/// Most decimal places in any figure a user gives.
pub const MAX_DECIMAL_PLACES: u32 = 6;
/// Largest encoded event body, in bytes. The genesis carries the rubric; the closing event
/// every station's score and the rank clauses' rankings, which at [`MAX_STATIONS`] with the
/// longest codes and figures take about 12.3 MiB (every station tied in one rank clause; a test
/// in `events::codec` builds it). Every other event is bounded by the command limits to a few
/// KiB.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// The earliest `recorded_at_us` a body may hold: 0000-01-01T00:00:00Z, in microseconds.
/// Every recorded time from it to [`RECORDED_US_END`] is written in an export line as a
/// four-digit year (`schema/EVENTS.md`, "The export line").
pub const RECORDED_US_START: i64 = -62_167_219_200_000_000;
/// The first `recorded_at_us` past the range a body may hold: 9999-01-01T00:00:00Z.
pub const RECORDED_US_END: i64 = 253_370_764_800_000_000;
/// Events per stored block. Changing it changes the store layout.
pub const EVENTS_PER_BLOCK: u64 = 256;
/// Largest tally file `reconcile --tallies` reads, in bytes.
pub const MAX_TALLY_BYTES: u64 = 128 * 1024 * 1024;
/// Longest line of a tally file, in bytes (a row is a station code, an item and two figures).
pub const MAX_TALLY_LINE_BYTES: usize = 1024;
/// Most rows (besides the header) in one tally file (room for every item of 40,000 stations).
pub const MAX_TALLY_ROWS: usize = 2_000_000;
/// Most cells that hold a value in the first sheet of a tally workbook (`.xlsx`): the header and
/// [`MAX_TALLY_ROWS`] rows of four cells. It also bounds the strings the workbook's shared-string
/// table may declare.
pub const MAX_TALLY_XLSX_CELLS: usize = 4 * (MAX_TALLY_ROWS + 1);
/// Most parts (files inside the zip archive) of a tally workbook; a workbook has about a dozen.
pub const MAX_TALLY_XLSX_PARTS: usize = 1000;
/// Most bytes the parts of a tally workbook may unpack to, in all (their declared sizes, which
/// the reader holds each part to): room for [`MAX_TALLY_XLSX_CELLS`] cells of XML.
pub const MAX_TALLY_XLSX_UNPACKED_BYTES: u64 = 1024 * 1024 * 1024;

/// The longest a command may be asked to wait for a ledger another process holds
/// (`--wait SECONDS`).
pub const MAX_LOCK_WAIT_SECONDS: u64 = 3600;
/// How long a command waits for a busy ledger unless told otherwise.
pub const DEFAULT_LOCK_WAIT_SECONDS: u64 = 5;
/// Most a writer's clock may be behind the ledger's last recorded time, in seconds (a day).
/// Within it the event is stored at the head's time (recorded times never go back); beyond
/// it the clock is wrong and the write is refused.
pub const MAX_CLOCK_BEHIND_SECS: i64 = 24 * 60 * 60;
/// Most days a writer's clock may be past both the ledger's last recorded time and the end of
/// its period. A ledger may lie idle for months, but its events belong to its period and the
/// months after it, up to the close; a clock more than a year past both is set wrong.
pub const MAX_CLOCK_AHEAD_DAYS: i64 = 366;
/// Most stations one ledger registers (national size, with room: a county has about 20, the
/// country about 40,000). The closing event holds every station's score and must encode.
pub const MAX_STATIONS: u32 = 100_000;

/// How far behind the event a signer's head may be, in events: a signed event binds the head
/// its signer saw (`After`), and may follow it by at most this many events. It bounds what a
/// verifier keeps to check the binding (the last hashes: 32 MB), and how stale a prepared,
/// signed command may be; sign again against a newer head.
pub const MAX_SIGNED_HEAD_LAG: u64 = 1_000_000;

/// How long a sign-in challenge may be answered, in seconds (`kaohe serve`).
pub const CHALLENGE_TTL_SECS: i64 = 120;
/// How long a session lasts, in seconds (`kaohe serve`): a working day.
pub const SESSION_TTL_SECS: i64 = 10 * 3600;
/// Challenges outstanding at once, in all.
pub const MAX_CHALLENGES: usize = 100_000;
/// Sessions open at once, in all.
pub const MAX_SESSIONS: usize = 100_000;
/// Sign-in challenges one key may ask for within a minute (then 429).
pub const MAX_SIGN_IN_ATTEMPTS_PER_MINUTE: u32 = 10;
/// Prepared commands waiting for their signature, in all.
pub const MAX_PREPARED: usize = 100_000;
/// How long a prepared command waits for its signature, in seconds.
pub const PREPARED_TTL_SECS: i64 = 15 * 60;
/// The largest request body `kaohe serve` reads, but for evidence uploads.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Requests `kaohe serve` works on at once (more wait).
pub const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Evidence files `kaohe serve` holds in memory at once, uploads and downloads together (more
/// wait): each is at most [`MAX_EVIDENCE_FILE_BYTES`], so they take at most 512 MiB.
pub const MAX_CONCURRENT_EVIDENCE_FILES: usize = 8;
/// `kaohe serve` sends an export in chunks of whole lines, each closed once it holds this many
/// bytes…
pub const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// …and its producer runs at most this many chunks ahead of the client: a slow client holds
/// about a MiB of the export in memory (more only while a line is longer than a chunk), never
/// the whole export.
pub const EXPORT_CHUNKS_AHEAD: usize = 16;
/// Lines of an import file the service prepares at once (more: `kaohe import`).
pub const MAX_SERVICE_BATCH_LINES: usize = 10_000;
/// Evidence files the service remembers the uploaders of until an event cites them.
pub const MAX_UPLOADS_REMEMBERED: usize = 100_000;
/// Prepared commands one key may hold at once (then 429).
pub const MAX_PREPARED_PER_KEY: usize = 1_000;
/// Seconds a client may take to send a request's body (then 408).
pub const REQUEST_BODY_TIMEOUT_SECS: u64 = 30;
/// Seconds the service waits, once told to stop, for requests still running.
pub const SHUTDOWN_GRACE_SECS: u64 = 10;
/// Events the log page (`/audit/log`) shows at once; the next page starts at the seq after.
pub const MAX_LOG_PAGE_ROWS: usize = 200;

/// `value`, or in a build with the test hooks the positive whole number the environment
/// variable `knob` holds: the tests shrink a bound that takes a million events to reach
/// (`KAOHE_TEST_IDS_PER_RUN`, `KAOHE_TEST_RECENT_HASHES`). A release build never reads it.
#[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
pub fn test_knob(knob: &str, value: u64) -> u64 {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = std::env::var(knob)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    value
}
