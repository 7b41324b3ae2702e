//! Load benchmark of `kaohe serve` over loopback (issue 14): signed records per second with
//! 1, 8 and 32 concurrent clients, each record prepared, signed by the client and committed;
//! the commit's latency (p50, p99); and the latency (p99) of `GET /api/v1/stations/WJ01/explain`
//! while the writes run.
//!
//! ```text
//! cargo bench --bench serve                           # 2,000 records per run, 3 runs per level
//! KAOHE_BENCH_RECORDS=5000 KAOHE_BENCH_RUNS=5 cargo bench --bench serve
//! KAOHE_BENCH_CLIENTS=32 cargo bench --bench serve    # one level only
//! ```
//!
//! Each level runs `KAOHE_BENCH_RUNS` times (default 3), each run on a fresh ledger and a fresh
//! server, and the median of the runs' figures is reported: the machine is shared and noisy.
//! The server is the `kaohe` binary cargo builds beside the bench (`CARGO_BIN_EXE_kaohe`, the
//! release profile under `cargo bench`), listening on 127.0.0.1 only, with the clock fixed
//! (`KAOHE_NOW`) inside the rubric's period. The ledger is made as people make it, through the
//! command line: rooted in a bureau key, two stations, 基层科's key registered. The clients
//! sign in once (the per-key sign-in limit) and share the session; each client is a thread
//! with its own connection (`ureq`). The explain reader asks every `EXPLAIN_PAUSE` so that it
//! samples the latency without becoming a load of its own.

use kaohe::internals::events::sign::KeyPair;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The issue's targets.
const TARGET_RECORDS_PER_S: f64 = 2_000.0;
const TARGET_EXPLAIN_P99_MS: f64 = 50.0;
/// The clock of the server and of the command line: after the 2018 period, within reach of it.
const NOW: &str = "2019-01-10T08:00:00Z";
/// Between two explain requests of the reader.
const EXPLAIN_PAUSE: Duration = Duration::from_millis(10);
/// Fixed clauses of 基层科, which a station may be recorded against any number of times.
const CLAUSES: [&str; 4] = ["1.3.b", "1.3.c", "1.3.d", "1.1.b"];

type Error = Box<dyn std::error::Error + Send + Sync>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `q` quantile of sorted durations (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `kaohe --db <db> args…` at the bench's clock; its stdout, or its failure.
fn kaohe(db: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("KAOHE_NOW", NOW)
        .env_remove("KAOHE_DB")
        .env_remove("KAOHE_KEY")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "kaohe {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// A ledger made through the command line: rooted in the bureau's key, two stations, and
/// 基层科's key registered by the bureau. Gives the ledger and 基层科's key file.
fn ledger(dir: &Path) -> Result<(PathBuf, PathBuf), Error> {
    let db = dir.join("ledger");
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (bureau, jc) = (path("bureau.key"), path("jc.key"));
    kaohe(
        &db,
        &["key", "new", "--bureau", "武进区司法局", "--out", &bureau],
    )?;
    let rubric = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rubric-2018.toml");
    kaohe(
        &db,
        &[
            "init",
            "--rubric",
            &rubric.to_string_lossy(),
            "--require-signatures",
            "--bureau-key",
            &format!("{bureau}.pub"),
        ],
    )?;
    for (code, name, kind) in [
        ("WJ01", "湖塘司法所", "town"),
        ("WJ02", "南夏墅街道司法所", "subdistrict"),
    ] {
        kaohe(
            &db,
            &[
                "--key", &bureau, "station", "add", code, "--name", name, "--kind", kind,
            ],
        )?;
    }
    kaohe(&db, &["key", "new", "--dept", "基层科", "--out", &jc])?;
    kaohe(
        &db,
        &["--key", &bureau, "key", "register", &format!("{jc}.pub")],
    )?;
    Ok((db, PathBuf::from(jc)))
}

/// A running `kaohe serve` on loopback, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &Path) -> Result<Server, Error> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("KAOHE_NOW", NOW)
            .env_remove("KAOHE_DB")
            .env_remove("KAOHE_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // The access log, one line per request.
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("kaohe serve is not ready: {line:?}"))?
            .to_string();
        Ok(Server { child, base })
    }

    /// Stops the server with SIGTERM; an error unless it exits 0.
    fn stop(mut self) -> Result<(), Error> {
        let code = self.terminate();
        std::mem::forget(self);
        match code {
            Some(0) => Ok(()),
            other => Err(format!("kaohe serve exited with {other:?} after SIGTERM").into()),
        }
    }

    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// A request's JSON answer, or its status and body as the error.
fn answer(r: Result<ureq::Response, ureq::Error>) -> Result<Value, Error> {
    match r {
        Ok(r) => Ok(r.into_json()?),
        Err(ureq::Error::Status(code, r)) => {
            Err(format!("status {code}: {}", r.into_string().unwrap_or_default()).into())
        }
        Err(e) => Err(e.into()),
    }
}

fn hex_field(v: &Value, field: &str) -> Result<Vec<u8>, Error> {
    let text = v[field]
        .as_str()
        .ok_or_else(|| format!("no `{field}`: {v}"))?;
    Ok(hex::decode(text)?)
}

/// Signs in with the key: challenge, signature, session; the session's token.
fn sign_in(base: &str, key: &KeyPair) -> Result<String, Error> {
    let a = agent();
    let public = hex::encode(key.public_key());
    let ch = answer(
        a.post(&format!("{base}/api/v1/session/challenge"))
            .send_json(json!({"public_key": public})),
    )?;
    let signature = hex::encode(key.sign_message(&hex_field(&ch, "to_sign")?));
    let s = answer(a.post(&format!("{base}/api/v1/session")).send_json(
        json!({"public_key": public, "challenge": ch["challenge"], "signature": signature}),
    ))?;
    Ok(s["token"].as_str().ok_or("no token")?.to_string())
}

/// One client: `records` records prepared, signed and committed one after the other; each
/// commit's latency.
fn write(
    base: &str,
    token: &str,
    key: &KeyPair,
    client: usize,
    records: u64,
) -> Result<Vec<Duration>, Error> {
    let a = agent();
    let bearer = format!("Bearer {token}");
    let (prepare_url, commit_url) = (
        format!("{base}/api/v1/commands/prepare"),
        format!("{base}/api/v1/commands/commit"),
    );
    let mut latencies = Vec::with_capacity(records as usize);
    for n in 0..records as usize {
        let station = ["WJ01", "WJ02"][n % 2];
        let command = json!({
            "op": "record", "id": format!("L{client}-{n}"),
            "clause": CLAUSES[(client + n) % CLAUSES.len()],
            "station": station, "by": "基层科", "occurred": "2018-06-02",
            "evidence": ["常武司基〔2018〕61号"],
        });
        let p = answer(
            a.post(&prepare_url)
                .set("Authorization", &bearer)
                .send_json(command),
        )?;
        let signature = hex::encode(key.sign_message(&hex_field(&p, "to_sign")?));
        let body = json!({"prepared": p["prepared"], "signature": signature});
        let t = Instant::now();
        let c = answer(
            a.post(&commit_url)
                .set("Authorization", &bearer)
                .send_json(body),
        )?;
        latencies.push(t.elapsed());
        if c["status"] != "appended" {
            return Err(format!("a new record was not appended: {c}").into());
        }
    }
    Ok(latencies)
}

/// Explain requests every [`EXPLAIN_PAUSE`] until `stop`; each one's latency.
fn explain(base: &str, token: &str, stop: &AtomicBool) -> Result<Vec<Duration>, Error> {
    let a = agent();
    let (url, bearer) = (
        format!("{base}/api/v1/stations/WJ01/explain"),
        format!("Bearer {token}"),
    );
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let x = answer(a.get(&url).set("Authorization", &bearer).call())?;
        latencies.push(t.elapsed());
        if x["station"] != "WJ01" {
            return Err(format!("not an explanation: {x}").into());
        }
        std::thread::sleep(EXPLAIN_PAUSE);
    }
    Ok(latencies)
}

/// One run's figures.
struct Run {
    records_per_s: f64,
    commit_p50: Duration,
    commit_p99: Duration,
    explain_p99: Duration,
    explains: usize,
}

/// One run at `clients` concurrent clients: a fresh ledger and server, `records` records in
/// all, the explain reader beside them.
fn run(clients: usize, records: u64) -> Result<Run, Error> {
    let dir = tempfile::tempdir()?;
    let (db, key_file) = ledger(dir.path())?;
    let key = KeyPair::from_file_text(&std::fs::read_to_string(&key_file)?)?;
    let server = Server::start(&db)?;
    let base = server.base.as_str();
    let token = sign_in(base, &key)?;
    let stop = AtomicBool::new(false);
    let start = Barrier::new(clients + 1);
    let (commits, explains, elapsed) = std::thread::scope(|s| {
        let reader = s.spawn(|| explain(base, &token, &stop));
        let writers: Vec<_> = (0..clients)
            .map(|c| {
                // The records shared out: the first `records % clients` clients take one more.
                let mine =
                    records / clients as u64 + u64::from((c as u64) < records % clients as u64);
                let (token, key, start) = (&token, &key, &start);
                s.spawn(move || {
                    start.wait();
                    write(base, token, key, c, mine)
                })
            })
            .collect();
        start.wait();
        let t = Instant::now();
        let commits: Result<Vec<Vec<Duration>>, Error> = writers
            .into_iter()
            .map(|w| w.join().map_err(|_| Error::from("a client panicked"))?)
            .collect();
        let elapsed = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        let explains = reader
            .join()
            .map_err(|_| Error::from("the explain reader panicked"))?;
        Ok::<_, Error>((commits?, explains?, elapsed))
    })?;
    server.stop()?;
    let mut commits: Vec<Duration> = commits.into_iter().flatten().collect();
    commits.sort();
    let mut explains = explains;
    explains.sort();
    Ok(Run {
        records_per_s: commits.len() as f64 / elapsed.as_secs_f64(),
        commit_p50: quantile(&commits, 0.50),
        commit_p99: quantile(&commits, 0.99),
        explain_p99: quantile(&explains, 0.99),
        explains: explains.len(),
    })
}

fn verdict(met: bool) -> &'static str {
    match met {
        true => "met",
        false => "NOT met",
    }
}

fn main() -> Result<(), Error> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let records = env_u64("KAOHE_BENCH_RECORDS", 2_000).max(1);
    let runs = env_u64("KAOHE_BENCH_RUNS", 3).max(1);
    let levels: Vec<usize> = match std::env::var("KAOHE_BENCH_CLIENTS") {
        Ok(v) => v
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("KAOHE_BENCH_CLIENTS: {v:?}"))
            })
            .collect::<Result<_, _>>()?,
        Err(_) => vec![1, 8, 32],
    };
    println!(
        "kaohe serve bench: {records} signed records per run (prepare + sign + commit), \
         {runs} runs per level, medians; loopback, {}",
        env!("CARGO_BIN_EXE_kaohe")
    );
    println!(
        "clients  records/s  commit p50   commit p99   explain p99 (samples)   targets: \
         >= {TARGET_RECORDS_PER_S:.0} records/s at 32 clients, explain p99 <= {TARGET_EXPLAIN_P99_MS:.0} ms"
    );
    for &clients in &levels {
        let mut figures = Vec::new();
        for _ in 0..runs {
            figures.push(run(clients.max(1), records)?);
        }
        let rate = median(figures.iter().map(|f| f.records_per_s).collect());
        let p50 = median(figures.iter().map(|f| ms(f.commit_p50)).collect());
        let p99 = median(figures.iter().map(|f| ms(f.commit_p99)).collect());
        let x99 = median(figures.iter().map(|f| ms(f.explain_p99)).collect());
        let samples: usize = figures.iter().map(|f| f.explains).sum();
        println!(
            "{clients:>7}  {rate:>9.0}  {p50:>8.2} ms  {p99:>8.2} ms  {x99:>8.2} ms ({samples:>5})",
        );
        if clients == 32 {
            println!(
                "         records/s at 32 clients: {rate:.0} against >= {TARGET_RECORDS_PER_S:.0}: {}",
                verdict(rate >= TARGET_RECORDS_PER_S)
            );
        }
        println!(
            "         explain p99 while {clients} write: {x99:.2} ms against <= {TARGET_EXPLAIN_P99_MS:.0} ms: {}",
            verdict(x99 <= TARGET_EXPLAIN_P99_MS)
        );
    }
    Ok(())
}
