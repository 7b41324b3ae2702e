//! A temp ledger and a command runner.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Waits for `child` to exit; past `limit` it is killed (and reaped) and the test fails,
/// naming `what`: a hang a test guards against fails it instead of stalling the suite.
pub fn wait_or_fail(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The clock the tests run at unless a test says otherwise (after the whole 2018 period).
pub const TEST_NOW: &str = "2019-01-10T08:00:00Z";

/// The bundled 2018 rubric.
pub fn rubric_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rubric-2018.toml")
}

/// The 2018 rubric as a format-1 file: without `format`, the items' `capped` (format 1 caps
/// every item, as the file states) and the clauses' conditions (`once` by default, `excludes`,
/// `requires`, `deadline`). Its scores are the format-2 file's for every set of records both
/// accept; the property tests whose generators know nothing of the conditions use it (the
/// conditions have their own tests, `tests/it/conditions.rs`).
pub fn rubric_2018_format1() -> String {
    let text = std::fs::read_to_string(rubric_path()).expect("the 2018 rubric");
    text.lines()
        .filter(|l| {
            ![
                "format = ",
                "capped = ",
                "excludes = ",
                "requires = ",
                "deadline = ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A ledger in a temp directory, removed when dropped.
pub struct TestLedger {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub now: String,
}

impl TestLedger {
    /// A path for a ledger that does not exist yet.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("ledger");
        TestLedger {
            dir,
            db,
            now: TEST_NOW.to_string(),
        }
    }

    /// A ledger initialised with the 2018 rubric.
    pub fn new() -> Self {
        let l = Self::empty();
        l.ok(&["init", "--rubric", rubric_path().to_str().unwrap()]);
        l
    }

    /// A ledger rooted in a bureau key (`init --require-signatures --bureau-key`), whose key
    /// files are at [`TestLedger::bureau_key`] and `….pub`.
    pub fn rooted() -> Self {
        Self::rooted_with(&rubric_path())
    }

    /// [`TestLedger::rooted`] under the rubric file `rubric`.
    pub fn rooted_with(rubric: &Path) -> Self {
        let l = Self::empty();
        let key = l.bureau_key();
        l.ok(&["key", "new", "--bureau", "武进区司法局", "--out", &key]);
        l.ok(&[
            "init",
            "--rubric",
            rubric.to_str().unwrap(),
            "--require-signatures",
            "--bureau-key",
            &format!("{key}.pub"),
        ]);
        l
    }

    /// The bureau's private key file of a [`TestLedger::rooted`] ledger.
    pub fn bureau_key(&self) -> String {
        self.path("bureau.key")
            .to_str()
            .expect("a UTF-8 path")
            .to_string()
    }

    /// A ledger with a town (WJ01) and a subdistrict (WJ02).
    pub fn with_stations() -> Self {
        Self::with_stations_at(TEST_NOW)
    }

    /// [`TestLedger::with_stations`], created (and its clock left) at `now`.
    pub fn with_stations_at(now: &str) -> Self {
        let mut l = Self::empty();
        l.now = now.to_string();
        l.ok(&["init", "--rubric", rubric_path().to_str().unwrap()]);
        l.ok(&[
            "station",
            "add",
            "WJ01",
            "--name",
            "湖塘司法所",
            "--kind",
            "town",
        ]);
        l.ok(&[
            "station",
            "add",
            "WJ02",
            "--name",
            "南夏墅街道司法所",
            "--kind",
            "subdistrict",
        ]);
        l
    }

    /// A path inside the temp directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `kaohe --db <ledger> args…` with the test clock.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_with_input(args, stdin.map(str::as_bytes))
    }

    /// Runs with these bytes (text or not) on stdin.
    pub fn run_with_input(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaohe"));
        cmd.arg("--db")
            .arg(&self.db)
            .args(args)
            .env("KAOHE_NOW", &self.now)
            .env_remove("KAOHE_DB")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kaohe runs");
        if let Some(bytes) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(bytes)
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("kaohe finishes");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code, 0,
            "kaohe {args:?} failed: {}{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs and asserts the exit code; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.code, code,
            "kaohe {args:?} should exit {code}: {}{}",
            out.stdout, out.stderr
        );
        out.stderr
    }

    /// Writes JSON Lines to a file in the temp dir and imports it.
    pub fn import(&self, jsonl: &str) -> Output {
        let file = self.path("batch.jsonl");
        std::fs::write(&file, jsonl).expect("write batch");
        self.run(&["import", file.to_str().unwrap()])
    }

    /// `score --json`.
    pub fn scores(&self) -> Value {
        let out = self.run(&["score", "--json"]);
        assert_eq!(out.code, 0, "score failed: {}", out.stderr);
        out.json()
    }

    /// One station's entry of `score --json`.
    pub fn station_score(&self, code: &str) -> Value {
        self.scores()["stations"]
            .as_array()
            .expect("stations")
            .iter()
            .find(|s| s["station"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no score for {code}"))
    }

    /// One item of one station's score.
    pub fn item_score(&self, code: &str, item: &str) -> Value {
        self.station_score(code)["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["item"] == item)
            .cloned()
            .unwrap_or_else(|| panic!("no item {item}"))
    }

    /// The number of events (from export).
    pub fn event_count(&self) -> usize {
        self.ok(&["export"]).lines().count()
    }
}
