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
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args([
                "--db",
                l.db.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
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
    let l = TestLedger::rooted();
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
