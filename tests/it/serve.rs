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
    let response = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("no response: {e}"),
    };
    let status = response.status();
    let text = response.into_string().expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, body, text }
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
        let to_sign = hex::decode(prepared.body["to_sign"].as_str().unwrap()).unwrap();
        let sig = hex::encode(self.key.as_ref().expect("signed in").sign_message(&to_sign));
        self.post(
            "/api/v1/commands/commit",
            &json!({"prepared": prepared.body["prepared"], "signature": sig}),
        )
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

fn record(id: &str, clause: &str, station: &str, by: &str) -> Value {
    json!({"op": "record", "id": id, "clause": clause, "station": station, "by": by,
           "occurred": "2018-06-02", "evidence": ["常武司基〔2018〕61号"]})
}

fn key(l: &TestLedger, name: &str) -> String {
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
