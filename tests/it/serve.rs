//! `kaohe serve` end to end over loopback with a real HTTP client (issue 14): sign-in by key
//! challenge for each actor kind, a department records, a station reads and appeals, the
//! department decides, an auditor reads at a past time; the refusals; and the ledger written
//! through the server verifies and scores as one written by the command line.

use crate::harness::TestLedger;
use kaohe::internals::events::sign::KeyPair;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `kaohe serve`, stopped (SIGTERM) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    /// Starts `kaohe serve --db <ledger> --listen 127.0.0.1:0` at the ledger's clock and waits
    /// for its `listening on` line.
    pub(crate) fn start(l: &TestLedger) -> Server {
        Self::start_with(l, &[])
    }

    /// [`Server::start`] with more `serve` flags.
    pub(crate) fn start_with(l: &TestLedger, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args([
                "--db",
                l.db.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(flags)
            .env("KAOHE_NOW", &l.now)
            .env_remove("KAOHE_DB")
            .env_remove("KAOHE_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kaohe serve runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("a first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not ready: {line:?}"))
            .to_string();
        Server { child, base }
    }

    /// Stops the server with SIGTERM and returns its exit code.
    pub(crate) fn stop(mut self) -> i32 {
        terminate(&self.child);
        let status = self.child.wait().expect("the server ends");
        std::mem::forget(self);
        status.code().unwrap_or(-1)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills the server with SIGKILL, at once, whatever it is doing (the process is reaped
    /// when the `Server` is dropped).
    pub(crate) fn kill(&self) {
        let killed = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success(), "SIGKILL was sent");
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&self.child);
        let _ = self.child.wait();
    }
}

/// A response: status and body (JSON when it parses).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) text: String,
}

fn reply(r: Result<ureq::Response, ureq::Error>) -> Reply {
    try_reply(r).unwrap_or_else(|e| panic!("no response: {e}"))
}

/// A response, or what kept it from coming (the connection refused or cut, the body cut).
fn try_reply(r: Result<ureq::Response, ureq::Error>) -> Result<Reply, String> {
    let response = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let text = response.into_string().map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply { status, body, text })
}

/// A client signed in (or not) to a server.
pub(crate) struct Client<'s> {
    server: &'s Server,
    token: Option<String>,
    key: Option<KeyPair>,
}

impl<'s> Client<'s> {
    pub(crate) fn anonymous(server: &'s Server) -> Self {
        Client {
            server,
            token: None,
            key: None,
        }
    }

    /// Signs in with a private key file: challenge, signature, session.
    #[track_caller]
    pub(crate) fn sign_in(server: &'s Server, key_file: &str) -> Self {
        let key = KeyPair::from_file_text(&std::fs::read_to_string(key_file).expect("key"))
            .expect("a key file");
        let mut c = Client::anonymous(server);
        let public = hex::encode(key.public_key());
        let ch = c.post("/api/v1/session/challenge", &json!({"public_key": public}));
        assert_eq!(ch.status, 200, "{}", ch.text);
        let to_sign = hex::decode(ch.body["to_sign"].as_str().unwrap()).unwrap();
        let sig = hex::encode(key.sign_message(&to_sign));
        let s = c.post(
            "/api/v1/session",
            &json!({"public_key": public, "challenge": ch.body["challenge"], "signature": sig}),
        );
        assert_eq!(s.status, 200, "{}", s.text);
        c.token = Some(s.body["token"].as_str().unwrap().to_string());
        c.key = Some(key);
        c
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let r = ureq::request(method, &self.server.url(path));
        match &self.token {
            Some(t) => r.set("Authorization", &format!("Bearer {t}")),
            None => r,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        reply(self.request("GET", path).call())
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Reply {
        reply(self.request("POST", path).send_json(body.clone()))
    }

    /// Prepares a command and commits it signed by this client's key; returns the commit's
    /// reply (or the prepare's, when it refused).
    #[track_caller]
    pub(crate) fn write(&self, command: &Value) -> Reply {
        let p = self.post("/api/v1/commands/prepare", command);
        if p.status != 200 || p.body.get("prepared").is_none() {
            return p;
        }
        self.commit(&p)
    }

    /// Uploads an evidence file: `POST /api/v1/evidence?name=NAME` with the raw bytes.
    pub(crate) fn upload(&self, name: &str, bytes: &[u8]) -> Reply {
        reply(
            self.request("POST", "/api/v1/evidence")
                .query("name", name)
                .send_bytes(bytes),
        )
    }

    /// A response's status, `Content-Disposition` and raw bytes (an evidence file).
    pub(crate) fn get_bytes(&self, path: &str) -> (u16, Option<String>, Vec<u8>) {
        let response = match self.request("GET", path).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("no response: {e}"),
        };
        let status = response.status();
        let disposition = response.header("Content-Disposition").map(str::to_string);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("a body");
        (status, disposition, bytes)
    }

    pub(crate) fn commit(&self, prepared: &Reply) -> Reply {
        self.post("/api/v1/commands/commit", &self.signed(prepared))
    }

    /// The commit request of a prepared command: its `to_sign` signed by this client's key.
    fn signed(&self, prepared: &Reply) -> Value {
        let to_sign = hex::decode(prepared.body["to_sign"].as_str().unwrap()).unwrap();
        let sig = hex::encode(self.key.as_ref().expect("signed in").sign_message(&to_sign));
        json!({"prepared": prepared.body["prepared"], "signature": sig})
    }

    /// [`Client::post`] that gives the transport's error rather than panicking (the server
    /// may be gone).
    pub(crate) fn try_post(&self, path: &str, body: &Value) -> Result<Reply, String> {
        try_reply(self.request("POST", path).send_json(body.clone()))
    }

    /// [`Client::write`] that gives the transport's error rather than panicking: the reply
    /// of the commit (or of the prepare, when it refused), or why none came.
    pub(crate) fn try_write(&self, command: &Value) -> Result<Reply, String> {
        let p = self.try_post("/api/v1/commands/prepare", command)?;
        if p.status != 200 || p.body.get("prepared").is_none() {
            return Ok(p);
        }
        self.try_post("/api/v1/commands/commit", &self.signed(&p))
    }
}

/// A ledger rooted in the bureau's key with two stations, keys for 基层科, 公律科, WJ01 and an
/// auditor registered by the bureau, all from the command line (before any server holds it).
pub(crate) fn served_ledger() -> TestLedger {
    served_ledger_with(&crate::harness::rubric_path())
}

/// [`served_ledger`] under the rubric file `rubric`.
pub(crate) fn served_ledger_with(rubric: &std::path::Path) -> TestLedger {
    let l = TestLedger::rooted_with(rubric);
    let bureau = l.bureau_key();
    for (code, name, kind) in [
        ("WJ01", "湖塘司法所", "town"),
        ("WJ02", "南夏墅街道司法所", "subdistrict"),
    ] {
        l.ok(&[
            "--key", &bureau, "station", "add", code, "--name", name, "--kind", kind,
        ]);
    }
    for (who, file) in [
        (["--dept", "基层科"], "jc.key"),
        (["--dept", "公律科"], "gl.key"),
        (["--station", "WJ01"], "wj01.key"),
        (["--auditor", "市局审计"], "audit.key"),
    ] {
        let path = l.path(file);
        let path = path.to_str().unwrap();
        let mut args = vec!["key", "new"];
        args.extend(who);
        args.extend(["--out", path]);
        l.ok(&args);
        l.ok(&["--key", &bureau, "key", "register", &format!("{path}.pub")]);
    }
    l
}

/// A ledger rooted in the bureau's key under the made-up 2019 rubric (two half-years × two
/// assessors: four sheets), its clock in January 2020, with the fixture year
/// (`fixtures/wujin-2019.jsonl`) imported in order, each run of lines signed by its signer (the
/// bureau for the stations, each department's key for its records), and keys for 基层科,
/// 镇街考核办 (`jc.key`, `zj.key`), WJ01 (`wj01.key`) and an auditor (`audit.key`).
pub(crate) fn served_2019() -> TestLedger {
    let mut l = TestLedger::empty();
    l.now = "2020-01-10T08:00:00Z".into();
    let bureau = l.bureau_key();
    let rubric = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rubric-2019.toml");
    l.ok(&["key", "new", "--bureau", "武进区司法局", "--out", &bureau]);
    l.ok(&[
        "init",
        "--rubric",
        rubric.to_str().unwrap(),
        "--require-signatures",
        "--bureau-key",
        &format!("{bureau}.pub"),
    ]);
    let fixture = std::fs::read_to_string(crate::harness::fixture_path("wujin-2019.jsonl"))
        .expect("the 2019 fixture");
    let lines: Vec<(String, &str)> = fixture
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a fixture line");
            (v["by"].as_str().unwrap_or("bureau").to_string(), line)
        })
        .collect();
    let keys = [
        ("基层科", "jc.key"),
        ("社矫科", "sj.key"),
        ("宣教科", "xj.key"),
        ("办公室", "bgs.key"),
        ("镇街考核办", "zj.key"),
    ];
    let mut registered = false;
    let mut at = 0;
    while at < lines.len() {
        let by = lines[at].0.clone();
        let run: Vec<&str> = lines[at..]
            .iter()
            .take_while(|(b, _)| *b == by)
            .map(|(_, line)| *line)
            .collect();
        at += run.len();
        if by != "bureau" && !registered {
            // The stations are in: every key can be registered now.
            let mut who: Vec<(Vec<&str>, &str)> =
                keys.iter().map(|(d, f)| (vec!["--dept", *d], *f)).collect();
            who.push((vec!["--station", "WJ01"], "wj01.key"));
            who.push((vec!["--auditor", "市局审计"], "audit.key"));
            for (flags, file) in who {
                let path = key(&l, file);
                let mut args = vec!["key", "new"];
                args.extend(flags);
                args.extend(["--out", &path]);
                l.ok(&args);
                l.ok(&["--key", &bureau, "key", "register", &format!("{path}.pub")]);
            }
            registered = true;
        }
        let signer = match keys.iter().find(|(d, _)| *d == by) {
            Some((_, file)) => key(&l, file),
            None => bureau.clone(),
        };
        let file = l.path("run.jsonl");
        std::fs::write(&file, run.join("\n") + "\n").expect("write a run of lines");
        l.ok(&["--key", &signer, "import", file.to_str().unwrap()]);
    }
    assert_eq!(l.scores()["stations"].as_array().map(Vec::len), Some(15));
    l
}

pub(crate) fn record(id: &str, clause: &str, station: &str, by: &str) -> Value {
    json!({"op": "record", "id": id, "clause": clause, "station": station, "by": by,
           "occurred": "2018-06-02", "evidence": ["常武司基〔2018〕61号"]})
}

pub(crate) fn key(l: &TestLedger, name: &str) -> String {
    l.path(name).to_str().unwrap().to_string()
}

/// Guards the flow end to end: each actor kind signs in with its key; a department
/// records (signed in its name, never the server's), a station reads its own explanation and
/// appeals, the department decides, an auditor reads the score as the ledger stood before;
/// replaying a commit changes nothing; after SIGTERM (exit 0) the ledger verifies and holds
/// the same scores as the command line gives for the same commands.
#[test]
fn every_party_works_through_the_server() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));
    let bureau = Client::sign_in(&server, &l.bureau_key());

    let r = jc.write(&record("R1", "1.3.a", "WJ01", "基层科"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "appended");
    let r1_seq = r.body["seq"].as_u64().unwrap();
    // The same prepared command committed again: unchanged.
    let p = jc.post(
        "/api/v1/commands/prepare",
        &record("R2", "1.1.b", "WJ02", "基层科"),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["event"]["clause"], "1.1.b", "{}", p.text);
    assert_eq!(jc.commit(&p).body["status"], "appended");
    let again = jc.commit(&p);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["status"], "unchanged");
    // An id the server fixes when the command has none.
    let mut no_id = record("x", "1.3.b", "WJ01", "基层科");
    no_id.as_object_mut().unwrap().remove("id");
    let r = jc.write(&no_id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["id"].as_str().unwrap().starts_with("w-"),
        "{}",
        r.text
    );

    // The station reads its own explanation and appeals its deduction.
    let x = wj01.get("/api/v1/stations/WJ01/explain");
    assert_eq!(x.status, 200, "{}", x.text);
    let appeal = json!({"op": "appeal", "id": "A1", "against": "R1", "station": "WJ01",
                        "grounds": "扣分事实认定有误", "evidence": ["情况说明"]});
    let r = wj01.write(&appeal);
    assert_eq!(r.status, 200, "{}", r.text);
    let decide = json!({"op": "decide", "appeal": "A1", "outcome": "upheld", "by": "基层科",
                        "reason": "属实", "evidence": ["复核意见书"]});
    let r = jc.write(&decide);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["against"], r1_seq);

    // The bureau registers a station through the server.
    let r = bureau
        .write(&json!({"op": "station", "code": "WJ03", "name": "牛塘司法所", "kind": "town"}));
    assert_eq!(r.status, 200, "{}", r.text);

    // The auditor reads everything, at a past time too.
    let now = audit.get("/api/v1/score");
    assert_eq!(now.status, 200, "{}", now.text);
    let before = audit.get(&format!("/api/v1/score?as_of_seq={r1_seq}"));
    assert_eq!(before.status, 200, "{}", before.text);
    assert_ne!(now.body, before.body, "the past view differs");
    let log = audit.get("/api/v1/log");
    assert_eq!(log.status, 200);
    assert!(log.text.lines().count() > 10, "{}", log.text);

    assert_eq!(server.stop(), 0, "SIGTERM stops the server cleanly");
    let v = l.ok(&["verify", "--json"]);
    assert!(v.contains("\"ok\":true"), "{v}");

    // The same commands from the command line give the same scores.
    let cli = served_ledger();
    let k = |n: &str| key(&cli, n);
    let signed = |file: &str, v: &Value| {
        let f = cli.path("one.jsonl");
        std::fs::write(&f, format!("{v}\n")).unwrap();
        cli.ok(&["--key", &k(file), "import", f.to_str().unwrap()]);
    };
    signed("jc.key", &record("R1", "1.3.a", "WJ01", "基层科"));
    signed("jc.key", &record("R2", "1.1.b", "WJ02", "基层科"));
    signed("jc.key", &record("R3", "1.3.b", "WJ01", "基层科"));
    signed("wj01.key", &appeal);
    signed("jc.key", &decide);
    signed(
        &cli.bureau_key(),
        &json!({"op": "station", "code": "WJ03", "name": "牛塘司法所", "kind": "town"}),
    );
    assert_eq!(
        cli.ok(&["score", "--json"]),
        l.ok(&["score", "--json"]),
        "the server's ledger scores as the command line's"
    );
}

/// Guards what each actor may do: a station reads only its own explanation and log, sees only
/// its own score row before the close; a department cannot sign another's record; an auditor
/// writes nothing; the bureau's kinds need a bureau key.
#[test]
fn each_actor_reads_and_writes_only_what_it_may() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));
    assert_eq!(
        jc.write(&record("R1", "1.3.a", "WJ02", "基层科")).status,
        200
    );

    let other = wj01.get("/api/v1/stations/WJ02/explain");
    assert_eq!(other.status, 403, "{}", other.text);
    assert!(other.body["error"].is_string());
    let score = wj01.get("/api/v1/score");
    assert_eq!(score.status, 200, "{}", score.text);
    assert_eq!(
        score.text.matches("\"station\"").count(),
        1,
        "{}",
        score.text
    );
    let log = wj01.get("/api/v1/log");
    assert!(
        !log.text.contains("\"WJ02\""),
        "a station's log is its own: {}",
        log.text
    );

    // 基层科 cannot sign 公律科's record, nor a station's registration.
    let r = jc.post(
        "/api/v1/commands/prepare",
        &record("G1", "2.1.a", "WJ01", "公律科"),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = jc.post(
        "/api/v1/commands/prepare",
        &json!({"op": "station", "code": "WJ09", "name": "x", "kind": "town"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let r = audit.post(
        "/api/v1/commands/prepare",
        &record("A9", "1.3.a", "WJ01", "基层科"),
    );
    assert_eq!(r.status, 403, "{}", r.text);
}

/// Guards the refusals: 401 without a session or with a bad signature, 400 naming the field
/// (the CLI's message), 409 for an id taken with other content and for a signature that does
/// not cover the event, 403 cross-site, 413 too large, 429 too many sign-ins, 404 unknown; a
/// revoked key's session ends at once; nothing refused is written.
#[test]
fn refusals_have_their_status_and_write_nothing() {
    let l = served_ledger();
    let server = Server::start(&l);
    let anon = Client::anonymous(&server);
    assert_eq!(anon.get("/api/v1/score").status, 401);
    assert_eq!(anon.get("/healthz").status, 200);
    assert_eq!(anon.get("/nothing/here").status, 404);

    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let events = |c: &Client| c.get("/api/v1/log").text.lines().count();
    let n = events(&jc);
    let bad = jc.post(
        "/api/v1/commands/prepare",
        &json!({"op": "record", "id": "B1", "clause": "9.9.z", "station": "WJ01",
                "by": "基层科", "occurred": "2018-06-02", "evidence": ["x"]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["field"], "clause", "{}", bad.text);
    assert_eq!(
        jc.write(&record("R1", "1.3.a", "WJ01", "基层科")).status,
        200
    );
    let clash = jc.write(&record("R1", "1.1.b", "WJ01", "基层科"));
    assert_eq!(clash.status, 409, "{}", clash.text);
    // A signature of other bytes.
    let p = jc.post(
        "/api/v1/commands/prepare",
        &record("R2", "1.1.b", "WJ01", "基层科"),
    );
    let forged = jc.post(
        "/api/v1/commands/commit",
        &json!({"prepared": p.body["prepared"], "signature": "00".repeat(64)}),
    );
    assert_eq!(forged.status, 409, "{}", forged.text);
    assert_eq!(forged.body["field"], "signature", "{}", forged.text);

    let cross = reply(
        ureq::post(&server.url("/api/v1/commands/prepare"))
            .set(
                "Authorization",
                &format!("Bearer {}", jc.token.as_ref().unwrap()),
            )
            .set("Origin", "http://evil.example")
            .send_json(record("E1", "1.3.a", "WJ01", "基层科")),
    );
    assert_eq!(cross.status, 403, "{}", cross.text);
    let huge = "x".repeat(kaohe::limits::MAX_REQUEST_BYTES + 10);
    let big = jc.post("/api/v1/commands/prepare", &json!({"op": huge}));
    assert_eq!(big.status, 413, "{}", big.text);

    let public = hex::encode(jc.key.as_ref().unwrap().public_key());
    let statuses: Vec<u16> = (0..kaohe::limits::MAX_SIGN_IN_ATTEMPTS_PER_MINUTE + 1)
        .map(|_| {
            anon.post("/api/v1/session/challenge", &json!({"public_key": public}))
                .status
        })
        .collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let ch = Client::anonymous(&server).post(
        "/api/v1/session/challenge",
        &json!({"public_key": hex::encode(KeyPair::generate(kaohe::event::Actor::Station("WJ01".into())).unwrap().public_key())}),
    );
    assert_eq!(ch.status, 401, "an unregistered key: {}", ch.text);
    assert_eq!(events(&jc), n + 1, "only R1 was written");

    // The bureau revokes 基层科's key: its session ends at once.
    let bureau = Client::sign_in(&server, &l.bureau_key());
    let r = bureau.write(&json!({"op": "key_revoke", "public_key": public, "reason": "遗失"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(jc.get("/api/v1/score").status, 401);
}

/// Guards group commit: commits that arrive together are applied together, and a refused one
/// (an id taken with other content) is answered alone while the others in its group are
/// appended; every acknowledged record is in the ledger and it verifies.
#[test]
fn concurrent_commits_each_get_their_own_outcome() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    assert_eq!(
        jc.write(&record("TAKEN", "1.3.a", "WJ01", "基层科")).status,
        200
    );
    let prepared: Vec<Reply> = (0..12)
        .map(|i| {
            let cmd = match i {
                5 => record("TAKEN", "1.1.b", "WJ02", "基层科"),
                i => record(&format!("C{i}"), "1.3.a", ["WJ01", "WJ02"][i % 2], "基层科"),
            };
            let p = jc.post("/api/v1/commands/prepare", &cmd);
            if i == 5 {
                assert_eq!(p.status, 409, "{}", p.text);
            } else {
                assert_eq!(p.status, 200, "{}", p.text);
            }
            p
        })
        .collect();
    // The clash is refused at prepare; make one at commit too: prepare twice, commit both.
    let twin = record("TWIN", "1.3.a", "WJ01", "基层科");
    let a = jc.post("/api/v1/commands/prepare", &twin);
    let b = jc.post("/api/v1/commands/prepare", &twin);
    let outcomes: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .iter()
            .filter(|p| p.status == 200)
            .chain([&a, &b])
            .map(|p| s.spawn(|| jc.commit(p)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outcomes {
        assert_eq!(o.status, 200, "{}", o.text);
    }
    let appended = outcomes
        .iter()
        .filter(|o| o.body["status"] == "appended")
        .count();
    assert_eq!(
        appended, 12,
        "11 records and one TWIN; the other TWIN is unchanged"
    );
    assert_eq!(server.stop(), 0);
    for i in (0..12).filter(|i| *i != 5) {
        l.ok(&["show", &format!("C{i}")]);
    }
    let v = l.ok(&["verify", "--json"]);
    assert!(v.contains("\"ok\":true"), "{v}");
}

/// Guards the service's scheduled checkpoints (issue 13: publish heads while the year runs):
/// a server refuses to hold a bureau's or any actor's key as its checkpoint key (exit 2); with
/// an unregistered log key it signs a checkpoint of the head when it moved, and once more
/// when it stops, so the last commit is always covered.
#[test]
fn the_service_checkpoints_on_a_schedule_with_a_log_key() {
    let l = served_ledger();
    for actor_key in [l.bureau_key(), key(&l, "jc.key")] {
        let out = l.run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--checkpoint-key",
            &actor_key,
        ]);
        assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("checkpoint"), "{}", out.stderr);
    }
    let log_key = key(&l, "log.key");
    l.ok(&["key", "new", "--dept", "日志", "--out", &log_key]);
    let server = Server::start_with(
        &l,
        &["--checkpoint-key", &log_key, "--checkpoint-every", "1"],
    );
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    assert_eq!(
        jc.write(&record("R1", "1.3.a", "WJ01", "基层科")).status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(
        jc.write(&record("R2", "1.3.a", "WJ02", "基层科")).status,
        200
    );
    assert_eq!(server.stop(), 0);
    let listed: Value = serde_json::from_str(&l.ok(&["checkpoint", "--list", "--json"])).unwrap();
    let sizes: Vec<u64> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    let head = l.event_count() as u64;
    assert!(sizes.contains(&(head - 1)), "the scheduled one: {sizes:?}");
    assert!(sizes.contains(&head), "the one at stop: {sizes:?}");
}

/// Guards the bureau's close through the service: only the bureau prepares it; a commit made
/// between its prepare and its commit changes the closing event, so the old signature is
/// refused (409) and nothing is written; prepared again and signed, the period closes, and
/// from then on a station sees the whole ranking.
#[test]
fn the_bureau_closes_the_year_through_the_service() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let bureau = Client::sign_in(&server, &l.bureau_key());
    assert_eq!(
        jc.write(&record("R1", "1.3.a", "WJ01", "基层科")).status,
        200
    );
    assert_eq!(jc.post("/api/v1/close/prepare", &json!({})).status, 403);
    let stale = bureau.post("/api/v1/close/prepare", &json!({}));
    assert_eq!(stale.status, 200, "{}", stale.text);
    assert_eq!(
        stale.body["event"]["type"], "period_closed",
        "{}",
        stale.text
    );
    assert_eq!(
        jc.write(&record("R2", "1.3.a", "WJ02", "基层科")).status,
        200
    );
    let refused = bureau.commit(&stale);
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(
        wj01.get("/api/v1/score")
            .text
            .matches("\"station\"")
            .count(),
        1
    );
    let fresh = bureau.post("/api/v1/close/prepare", &json!({}));
    let closed = bureau.commit(&fresh);
    assert_eq!(closed.status, 200, "{}", closed.text);
    let score = wj01.get("/api/v1/score");
    assert_eq!(
        score.text.matches("\"station\"").count(),
        2,
        "{}",
        score.text
    );
    assert_eq!(
        jc.write(&record("R3", "1.3.a", "WJ01", "基层科")).status,
        400
    );
    assert_eq!(server.stop(), 0);
    assert!(l.ok(&["verify", "--json"]).contains("\"ok\":true"));
}

/// Imports one command signed by a key file, from the command line (no server holds the
/// ledger).
fn import_signed(l: &TestLedger, key_file: &str, command: &Value) {
    let f = l.path("one.jsonl");
    std::fs::write(&f, format!("{command}\n")).unwrap();
    l.ok(&["--key", key_file, "import", f.to_str().unwrap()]);
}

/// Guards the reads of whole things against the command line's own output: an event by id,
/// seq and hash is `kaohe show --json`; its receipt is `kaohe receipt`; the checkpoints are
/// `checkpoint --list --json`; the export (now and as of a seq) is `kaohe export`, byte for
/// byte. And who reads what: a station reads only the events about itself (403 for another
/// station's, and for events about no station) and cannot export (403); unknown events are 404;
/// a receipt for an event no stored checkpoint covers is 409.
#[test]
fn events_receipts_checkpoints_and_the_export_read_as_the_command_line() {
    let l = served_ledger();
    import_signed(
        &l,
        &key(&l, "jc.key"),
        &record("R1", "1.3.a", "WJ01", "基层科"),
    );
    import_signed(
        &l,
        &key(&l, "jc.key"),
        &record("R2", "1.1.b", "WJ02", "基层科"),
    );
    // Enough events that the export is sent in several chunks.
    let stations: String = (0..400)
        .map(|i| format!("{}\n", json!({"op": "station", "code": format!("S{i:03}"), "name": format!("所{i:03}"), "kind": "town"})))
        .collect();
    let f = l.path("stations.jsonl");
    std::fs::write(&f, stations).unwrap();
    l.ok(&["--key", &l.bureau_key(), "import", f.to_str().unwrap()]);
    l.ok(&["--key", &l.bureau_key(), "checkpoint"]);
    let show: Value = serde_json::from_str(&l.ok(&["show", "R1", "--json"])).unwrap();
    let receipt = l.ok(&["receipt", "R1"]);
    let checkpoints: Value =
        serde_json::from_str(&l.ok(&["checkpoint", "--list", "--json"])).unwrap();
    let export = l.ok(&["export"]);
    assert!(
        export.len() > 3 * kaohe::limits::EXPORT_CHUNK_BYTES,
        "{}",
        export.len()
    );
    let r1_seq = show["seq"].as_u64().unwrap();
    let export_before = l.ok(&["export", "--as-of-seq", &r1_seq.to_string()]);
    assert_ne!(export, export_before);

    let server = Server::start(&l);
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));
    let bureau = Client::sign_in(&server, &l.bureau_key());

    let hash = show["hash"].as_str().unwrap();
    for name in ["R1", &r1_seq.to_string(), hash] {
        let e = wj01.get(&format!("/api/v1/events/{name}"));
        assert_eq!(e.status, 200, "{name}: {}", e.text);
        assert_eq!(e.body, show, "{name}: as `kaohe show --json`");
    }
    let other = wj01.get("/api/v1/events/R2");
    assert_eq!(other.status, 403, "{}", other.text);
    assert_eq!(
        wj01.get("/api/v1/events/0").status,
        403,
        "the genesis is about no station"
    );
    assert_eq!(jc.get("/api/v1/events/R2").status, 200);
    assert_eq!(audit.get("/api/v1/events/0").status, 200);
    let none = audit.get("/api/v1/events/NOPE");
    assert_eq!(none.status, 404, "{}", none.text);
    assert_eq!(audit.get("/api/v1/events/99999").status, 404);

    let r = wj01.get("/api/v1/receipt/R1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, receipt, "as `kaohe receipt`");
    assert_eq!(wj01.get("/api/v1/receipt/R2").status, 403);
    assert_eq!(audit.get("/api/v1/receipt/NOPE").status, 404);

    let c = wj01.get("/api/v1/checkpoints");
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body, checkpoints, "as `checkpoint --list --json`");
    assert_eq!(
        Client::anonymous(&server).get("/api/v1/checkpoints").status,
        401
    );

    for who in [&audit, &jc, &bureau] {
        let x = who.get("/api/v1/export");
        assert_eq!(x.status, 200, "{}", x.text);
        assert_eq!(x.text, export, "as `kaohe export`, byte for byte");
    }
    let x = audit.get(&format!("/api/v1/export?as_of_seq={r1_seq}"));
    assert_eq!(x.text, export_before, "as `kaohe export --as-of-seq`");
    let x = wj01.get("/api/v1/export");
    assert_eq!(x.status, 403, "a station does not export: {}", x.text);
    let bad = audit.get("/api/v1/export?known_at=yesterday");
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["field"], "known_at");
    let cut = audit.get("/api/v1/export?at=2018-06-01");
    assert_eq!(
        cut.status, 400,
        "an occurred date would break the chain: {}",
        cut.text
    );
    assert_eq!(cut.body["field"], "at");

    // An event after the stored checkpoint has no receipt yet.
    let r3 = jc.write(&record("R3", "1.3.b", "WJ01", "基层科"));
    assert_eq!(r3.status, 200, "{}", r3.text);
    let late = wj01.get("/api/v1/receipt/R3");
    assert_eq!(late.status, 409, "{}", late.text);
    let e = wj01.get("/api/v1/events/R3");
    assert_eq!(e.status, 200, "a commit is read at once: {}", e.text);
    assert_eq!(e.body["next_hash"], Value::Null, "R3 is the head");
}

/// Guards the evidence files end to end: a department uploads a file (binary, a Chinese name
/// sent with folders), uses its reference in a record through prepare and commit; the station
/// concerned downloads it byte for byte, with its name; the bureau and the auditors read it;
/// another department and another station may not (403), nor anyone the file of a record they
/// have no part in; a station's appeal evidence reaches the department that must decide it;
/// an auditor cannot upload (403); an unknown file is 404; and the ledger then verifies with
/// its evidence.
#[test]
fn evidence_is_stored_and_served_only_to_those_it_concerns() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let gl = Client::sign_in(&server, &key(&l, "gl.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));
    let bureau = Client::sign_in(&server, &l.bureau_key());

    let file: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let up = jc.upload("材料/谈话笔录.pdf", &file);
    assert_eq!(up.status, 200, "{}", up.text);
    let hash = hex::encode(kaohe::internals::events::chain::file_hash(&file));
    assert_eq!(up.body["hash"], hash.as_str());
    assert_eq!(up.body["bytes"], file.len());
    let reference = up.body["reference"].as_str().unwrap().to_string();
    assert_eq!(reference, format!("blake3:{hash} 谈话笔录.pdf"));

    // Before any event references it, only the bureau and the auditors read it.
    let path = format!("/api/v1/evidence/{hash}");
    assert_eq!(jc.get_bytes(&path).0, 403);
    assert_eq!(audit.get_bytes(&path).0, 200);

    let mut r1 = record("R1", "1.3.a", "WJ01", "基层科");
    r1["evidence"] = json!([reference]);
    let w = jc.write(&r1);
    assert_eq!(w.status, 200, "{}", w.text);

    let (status, disposition, bytes) = wj01.get_bytes(&path);
    assert_eq!(status, 200);
    assert!(
        bytes == file,
        "the station concerned gets the file byte for byte"
    );
    let disposition = disposition.expect("Content-Disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E8%B0%88%E8%AF%9D%E7%AC%94%E5%BD%95.pdf"),
        "{disposition}"
    );
    for who in [&jc, &bureau, &audit] {
        let (status, _, bytes) = who.get_bytes(&format!("/api/v1/evidence/blake3:{hash}"));
        assert_eq!(status, 200);
        assert!(bytes == file);
    }
    let (status, _, bytes) = gl.get_bytes(&path);
    assert_eq!(status, 403, "a department with no part in the record");
    assert!(
        !bytes.windows(16).any(|w| w == &file[..16]),
        "nothing of it"
    );

    // A file of a record about WJ02: WJ01 may not read it.
    let other = jc.upload("WJ02.txt", "南夏墅的谈话记录".as_bytes());
    assert_eq!(other.status, 200, "{}", other.text);
    let mut r2 = record("R2", "1.1.b", "WJ02", "基层科");
    r2["evidence"] = json!([other.body["reference"]]);
    assert_eq!(jc.write(&r2).status, 200);
    let other_path = format!("/api/v1/evidence/{}", other.body["hash"].as_str().unwrap());
    assert_eq!(wj01.get_bytes(&other_path).0, 403, "another station's file");
    assert_eq!(jc.get_bytes(&other_path).0, 200);

    // The station's appeal evidence reaches the department whose record it appeals.
    let note = wj01.upload("情况说明.txt", "扣分事实认定有误".as_bytes());
    assert_eq!(note.status, 200, "{}", note.text);
    let appeal = json!({"op": "appeal", "id": "A1", "against": "R1", "station": "WJ01",
                        "grounds": "扣分事实认定有误", "evidence": [note.body["reference"]]});
    let w = wj01.write(&appeal);
    assert_eq!(w.status, 200, "{}", w.text);
    let note_path = format!("/api/v1/evidence/{}", note.body["hash"].as_str().unwrap());
    let (status, _, bytes) = jc.get_bytes(&note_path);
    assert_eq!(status, 200);
    assert_eq!(bytes, "扣分事实认定有误".as_bytes());
    assert_eq!(gl.get_bytes(&note_path).0, 403);

    // Refusals.
    let denied = audit.upload("x.txt", b"x");
    assert_eq!(
        denied.status, 403,
        "an auditor writes nothing: {}",
        denied.text
    );
    let unknown = format!("/api/v1/evidence/{}", "ab".repeat(32));
    assert_eq!(audit.get_bytes(&unknown).0, 404);
    assert_eq!(audit.get_bytes("/api/v1/evidence/xyz").0, 400);
    assert_eq!(Client::anonymous(&server).get_bytes(&path).0, 401);
    let anon = Client::anonymous(&server).upload("x.txt", b"x");
    assert_eq!(anon.status, 401);

    assert_eq!(server.stop(), 0);
    let v = l.ok(&["verify", "--evidence", "--json"]);
    assert!(v.contains("\"ok\":true"), "{v}");
}

/// Guards the upload's bound: a body that declares more than MAX_EVIDENCE_FILE_BYTES is
/// refused with 413 before any of it is read (so the test need not send 64 MiB), and the
/// refusal names the limit; nothing is stored.
#[test]
fn an_upload_over_the_limit_is_413() {
    use std::io::{Read, Write};
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let limit = kaohe::limits::MAX_EVIDENCE_FILE_BYTES;
    let host = server.base.strip_prefix("http://").unwrap();
    let mut tcp = std::net::TcpStream::connect(host).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        tcp,
        "POST /api/v1/evidence?name=big.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        jc.token.as_ref().unwrap(),
        limit + 1
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|h| {
            h.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains(&limit.to_string()),
        "the refusal names the limit: {body}"
    );
    drop(tcp);
    // A small file from the same client is stored.
    let ok = jc.upload("small.bin", b"small");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(server.stop(), 0);
    let listed = l.ok(&["evidence", "list", "--json"]);
    assert_eq!(
        listed.matches("\"hash\"").count(),
        1,
        "only small.bin: {listed}"
    );
}

/// Guards a department's import through the service: every refused line is listed with its
/// line, field and reason, and nothing is written; a clean file is prepared event by event,
/// signed once per event and committed together; a wrong number of signatures is refused.
#[test]
fn an_import_file_is_prepared_line_by_line_and_committed_together() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let good = record("I1", "1.3.a", "WJ01", "基层科");
    let bad_clause = record("I2", "9.9.z", "WJ01", "基层科");
    let not_theirs = record("I3", "2.1.a", "WJ01", "公律科");
    let lines = format!("{good}\n{bad_clause}\n\n{not_theirs}\nnot json\n");
    let r = jc.post("/api/v1/commands/prepare-batch", &json!({"lines": lines}));
    assert_eq!(r.status, 200, "{}", r.text);
    let refused: Vec<(u64, Value)> = r.body["refused"]
        .as_array()
        .expect("refusals")
        .iter()
        .map(|x| (x["line"].as_u64().unwrap(), x["field"].clone()))
        .collect();
    assert_eq!(
        refused,
        vec![(2, json!("clause")), (4, Value::Null), (5, json!("line"))],
        "{}",
        r.text
    );
    let before = jc.get("/api/v1/log").text.lines().count();
    let clean = format!("{good}\n{}\n", record("I4", "1.1.b", "WJ02", "基层科"));
    let p = jc.post("/api/v1/commands/prepare-batch", &json!({"lines": clean}));
    assert_eq!(p.status, 200, "{}", p.text);
    let events = p.body["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 2);
    let key =
        KeyPair::from_file_text(&std::fs::read_to_string(key(&l, "jc.key")).unwrap()).unwrap();
    let sigs: Vec<String> = events
        .iter()
        .map(|e| {
            hex::encode(key.sign_message(&hex::decode(e["to_sign"].as_str().unwrap()).unwrap()))
        })
        .collect();
    let short = jc.post(
        "/api/v1/commands/commit",
        &json!({"prepared": p.body["prepared"], "signatures": [sigs[0]]}),
    );
    assert_eq!(short.status, 400, "{}", short.text);
    assert_eq!(
        jc.get("/api/v1/log").text.lines().count(),
        before,
        "nothing written"
    );
    let c = jc.post(
        "/api/v1/commands/commit",
        &json!({"prepared": p.body["prepared"], "signatures": sigs}),
    );
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["appended"], 2, "{}", c.text);
    assert_eq!(jc.get("/api/v1/log").text.lines().count(), before + 2);
}

/// Guards against reading a file by citing it (found by attacking the service): citing a
/// stored file made it readable by the citing event's parties, so a department could cite
/// another's file about another station and download it. Now a command cites only files its
/// signer uploaded or may already read (403 otherwise), and the file stays unreadable.
#[test]
fn nobody_reads_a_file_by_citing_it() {
    let l = served_ledger();
    let server = Server::start(&l);
    let gl = Client::sign_in(&server, &key(&l, "gl.key"));
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let up = gl.upload("谈话笔录.pdf", b"personal data of WJ02");
    assert_eq!(up.status, 200, "{}", up.text);
    let reference = up.body["reference"].as_str().unwrap().to_string();
    let hash = up.body["hash"].as_str().unwrap().to_string();
    let mut cite = record("G1", "2.1.a", "WJ02", "公律科");
    cite["evidence"] = json!([reference]);
    assert_eq!(
        gl.write(&cite).status,
        200,
        "the uploader cites its own file"
    );
    let mut steal = record("S1", "1.1.b", "WJ01", "基层科");
    steal["evidence"] = json!([format!("blake3:{hash} 随便")]);
    let refused = jc.post("/api/v1/commands/prepare", &steal);
    assert_eq!(refused.status, 403, "{}", refused.text);
    let (status, _, _) = jc.get_bytes(&format!("/api/v1/evidence/{hash}"));
    assert_eq!(status, 403, "the file stays unreadable to 基层科");
}

/// Guards that a station learns the ranking only once it is final: before the close its own
/// score row and explanation carry no rank and no count of stations; the workbook of scores
/// (which has ranks) is refused; after the close all of it is there.
#[test]
fn a_station_sees_no_rank_before_the_close() {
    let l = served_ledger();
    let server = Server::start(&l);
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let score = wj01.get("/api/v1/score");
    assert!(
        score.body["stations"][0].get("rank").is_none(),
        "{}",
        score.text
    );
    let x = wj01.get("/api/v1/stations/WJ01/explain");
    assert!(
        x.body.get("rank").is_none() && x.body.get("stations").is_none(),
        "{}",
        x.text
    );
    assert_eq!(wj01.get_bytes("/scores.xlsx").0, 403);
    let bureau = Client::sign_in(&server, &l.bureau_key());
    let p = bureau.post("/api/v1/close/prepare", &json!({}));
    assert_eq!(bureau.commit(&p).status, 200);
    let x = wj01.get("/api/v1/stations/WJ01/explain");
    assert!(x.body["rank"].is_u64(), "{}", x.text);
    assert_eq!(wj01.get_bytes("/scores.xlsx").0, 200);
}

/// The log's lines as JSON values.
fn log_lines(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The seqs of the log's lines.
fn log_seqs(reply: &Reply) -> Vec<u64> {
    log_lines(reply)
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect()
}

/// Guards the log's filters (issue 15): by station, by department (an appeal counts as the
/// department's whose record it appeals; an alias is its department), by clause (the appeals
/// and decisions of the clause's records with them), by type (as the export names it) and by
/// seq; an unknown station, department, clause or type is a 400 naming its parameter; a
/// station reads only its own and cannot open the log page; the prepare of a record shows its
/// arithmetic, and an appeal the deduction's own evidence, note and arithmetic.
#[test]
fn the_log_filters_by_station_department_clause_type_and_seq() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let gl = Client::sign_in(&server, &key(&l, "gl.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));

    let p = jc.post(
        "/api/v1/commands/prepare",
        &record("R1", "1.3.a", "WJ01", "基层科"),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(
        p.body["working"].as_str().is_some_and(|w| !w.is_empty()),
        "prepare shows the arithmetic: {}",
        p.text
    );
    let r1 = jc.commit(&p);
    assert_eq!(r1.status, 200, "{}", r1.text);
    let r1_seq = r1.body["seq"].as_u64().unwrap();
    let r2 = jc.write(&record("R2", "1.1.b", "WJ02", "基层科"));
    assert_eq!(r2.status, 200, "{}", r2.text);
    let g1 = gl.write(&record("G1", "2.1.a", "WJ01", "公律科"));
    assert_eq!(g1.status, 200, "{}", g1.text);
    let a1 = wj01.write(
        &json!({"op": "appeal", "id": "A1", "against": "R1", "station": "WJ01",
                        "grounds": "扣分事实认定有误", "evidence": ["情况说明"]}),
    );
    assert_eq!(a1.status, 200, "{}", a1.text);
    // The deciding department sees the deduction's own evidence and arithmetic beside the
    // grounds.
    let pending = jc.get("/api/v1/appeals?pending=true");
    let against = &pending.body["appeals"][0]["against"];
    assert_eq!(
        against["evidence"],
        json!(["常武司基〔2018〕61号"]),
        "{}",
        pending.text
    );
    assert_eq!(against["working"], p.body["working"], "{}", pending.text);
    assert!(against.get("note").is_some(), "{}", pending.text);
    let d1 = jc.write(
        &json!({"op": "decide", "appeal": "A1", "outcome": "rejected", "by": "基层科",
                        "reason": "事实清楚", "evidence": ["复核意见书"]}),
    );
    assert_eq!(d1.status, 200, "{}", d1.text);
    let [r2_seq, g1_seq, a1_seq, d1_seq] =
        [&r2, &g1, &a1, &d1].map(|r| r.body["seq"].as_u64().unwrap());

    let station = log_lines(&audit.get("/api/v1/log?station=WJ01"));
    assert!(
        station
            .iter()
            .all(|l| [&l["station"], &l["code"], &l["actor"]].contains(&&json!("WJ01"))),
        "{station:?}"
    );
    assert!(
        station.len() >= 5,
        "registration, key, R1, G1, A1, D1: {station:?}"
    );
    assert_eq!(
        log_seqs(&audit.get("/api/v1/log?by=基层科")),
        [r1_seq, r2_seq, a1_seq, d1_seq],
        "基层科's records, the appeal against its record, its decision"
    );
    assert_eq!(
        log_seqs(&audit.get("/api/v1/log?station=WJ01&by=公律科")),
        [g1_seq]
    );
    assert_eq!(
        log_seqs(&audit.get("/api/v1/log?clause=1.3.a")),
        [r1_seq, a1_seq, d1_seq],
        "the clause's record, its appeal and decision"
    );
    assert_eq!(
        log_seqs(&audit.get("/api/v1/log?type=appeal_filed")),
        [a1_seq]
    );
    assert_eq!(
        log_seqs(&audit.get(&format!(
            "/api/v1/log?type=points_recorded&from_seq={r2_seq}&to_seq={g1_seq}"
        ))),
        [r2_seq, g1_seq]
    );
    assert_eq!(
        log_seqs(&audit.get(&format!("/api/v1/log?from_seq={d1_seq}"))),
        [d1_seq]
    );
    // An alias is its department; an empty parameter is no filter.
    assert_eq!(
        log_seqs(&audit.get("/api/v1/log?by=矫正科")),
        Vec::<u64>::new()
    );
    assert_eq!(
        audit.get("/api/v1/log?station=&type=").text,
        audit.get("/api/v1/log").text
    );
    // The filtered lines are the unfiltered ones, unchanged (`log --json`).
    let all = log_lines(&audit.get("/api/v1/log"));
    assert!(station.iter().all(|l| all.contains(l)));

    for (query, field) in [
        ("station=WJ99", "station"),
        ("by=无此科", "by"),
        ("clause=9.9.z", "clause"),
        ("type=points", "type"),
        ("from_seq=first", "from_seq"),
        ("from_seq=9&to_seq=3", "to_seq"),
    ] {
        let r = audit.get(&format!("/api/v1/log?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
        assert!(r.body["error"].is_string(), "{query}: {}", r.text);
    }
    let long = audit.get(&format!("/api/v1/log?station={}", "W".repeat(100)));
    assert_eq!(long.status, 400, "{}", long.text);

    // A station: its own events only, whatever it asks.
    assert_eq!(wj01.get("/api/v1/log?station=WJ02").status, 403);
    let own = log_lines(&wj01.get("/api/v1/log?type=points_recorded"));
    assert_eq!(own.len(), 2, "R1 and G1: {own:?}");
    assert!(own.iter().all(|l| l["station"] == "WJ01"));

    // The log page: for everyone who reads every station, not for a station.
    let refused = wj01.get("/audit/log");
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("司法所不能查看"), "{}", refused.text);
    let page = audit.get("/audit/log?station=WJ01&type=points_recorded");
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.text
            .matches("<tr data-type=\"points_recorded\"")
            .count(),
        2
    );
    assert!(!page.text.contains("next-page"), "one page");
    let bad = audit.get("/audit/log?clause=9.9.z");
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(jc.get("/audit/log?by=基层科").status, 200);
}

/// Guards the log page's paging: at most `MAX_LOG_PAGE_ROWS` events a page, a link to the
/// next page by seq, and every event on exactly one page.
#[test]
fn the_log_page_is_read_page_by_page() {
    let l = served_ledger();
    let stations: String = (0..450)
        .map(|i| format!("{}\n", json!({"op": "station", "code": format!("S{i:03}"), "name": format!("所{i:03}"), "kind": "town"})))
        .collect();
    let f = l.path("stations.jsonl");
    std::fs::write(&f, stations).unwrap();
    l.ok(&["--key", &l.bureau_key(), "import", f.to_str().unwrap()]);
    let server = Server::start(&l);
    let audit = Client::sign_in(&server, &key(&l, "audit.key"));
    let total = audit.get("/api/v1/log").text.lines().count();
    assert!(total > 2 * kaohe::limits::MAX_LOG_PAGE_ROWS, "{total}");
    let mut path = "/audit/log".to_string();
    let mut seen = Vec::new();
    loop {
        let page = audit.get(&path);
        assert_eq!(page.status, 200, "{}", page.text);
        let rows = page.text.matches("<tr data-type=").count();
        assert!(rows <= kaohe::limits::MAX_LOG_PAGE_ROWS, "{rows}");
        seen.push(rows);
        let Some(at) = page.text.find("id=\"next-page\" href=\"") else {
            break;
        };
        let rest = &page.text[at + "id=\"next-page\" href=\"".len()..];
        path = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
        assert!(path.starts_with("/audit/log?from_seq="), "{path}");
    }
    assert_eq!(seen.iter().sum::<usize>(), total, "{seen:?}");
    assert_eq!(seen[0], kaohe::limits::MAX_LOG_PAGE_ROWS);
    // A filter is kept from page to page.
    let page = audit.get("/audit/log?type=station_registered");
    let link = page
        .text
        .find("id=\"next-page\"")
        .map(|at| &page.text[at..at + 120]);
    assert!(
        link.is_some_and(|l| l.contains("type=station_registered")),
        "{link:?}"
    );
}

/// Guards the gaps the bureau sees before it closes (`GET /api/v1/gaps`): a station's latest
/// figure that fails a standard with no deduction recorded is listed, and leaves the list once
/// the deduction is recorded; a station may not read them.
#[test]
fn the_gaps_a_close_would_refuse_are_listed_before_it() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let bureau = Client::sign_in(&server, &l.bureau_key());
    assert_eq!(bureau.get("/api/v1/gaps").body["gaps"], json!([]));
    let m = jc.write(
        &json!({"op": "metric", "id": "M1", "station": "WJ01", "metric": "dispute_entry_rate",
        "value": "90", "by": "基层科", "occurred": "2018-12-31", "evidence": ["年终统计表"]}),
    );
    assert_eq!(m.status, 200, "{}", m.text);
    let gaps = bureau.get("/api/v1/gaps");
    assert_eq!(gaps.status, 200, "{}", gaps.text);
    assert_eq!(
        gaps.body["gaps"].as_array().map(Vec::len),
        Some(1),
        "{}",
        gaps.text
    );
    let g = &gaps.body["gaps"][0];
    assert_eq!(
        (&g["station"], &g["clause"], &g["metric"], &g["value"]),
        (
            &json!("WJ01"),
            &json!("1.1.a"),
            &json!("dispute_entry_rate"),
            &json!("90")
        )
    );
    assert_eq!(wj01.get("/api/v1/gaps").status, 403);
    // The close is refused for them, naming them, until they are accepted with a reason.
    let refused = bureau.post("/api/v1/close/prepare", &json!({}));
    assert_eq!(refused.status, 409, "{}", refused.text);
    let r = jc.write(
        &json!({"op": "record", "id": "D1", "clause": "1.1.a", "station": "WJ01",
        "by": "基层科", "occurred": "2018-12-31", "value": "90", "evidence": ["年终统计表"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(bureau.get("/api/v1/gaps").body["gaps"], json!([]));
}
