//! Crash safety of `kaohe serve` (issue 14): a server killed with SIGKILL while eight clients
//! commit signed records at once leaves a ledger that verifies, holds every record whose
//! commit was answered `appended`, and that a new server opens.
//!
//! The kill lands wherever the writes are (mid-prepare, mid-commit, mid-flush, between
//! requests): the assertions hold wherever it lands, so they do not depend on timing.

use crate::serve::{key, record, Client, Server};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Clients committing at once, each signed in once as 基层科 (the per-key sign-in limit is
/// `MAX_SIGN_IN_ATTEMPTS_PER_MINUTE`, and the test clock stands still).
const WRITERS: usize = 8;
/// Commits answered `appended` before the kill.
const APPENDED_BEFORE_KILL: usize = 50;
/// Fixed clauses of 基层科's items, which a station may be recorded against any number of
/// times (the item's cap applies to the score, not to the records).
const CLAUSES: [&str; 4] = ["1.3.b", "1.3.c", "1.3.d", "1.1.b"];

/// Guards that every commit that got a success is in the ledger afterwards, and verify passes:
/// eight clients commit signed records with unique ids; after 50 are answered `appended` the
/// server is killed with SIGKILL; then `kaohe verify` exits 0, every acknowledged id is in the
/// export, and a new server starts on the ledger and takes a record.
#[test]
fn every_acknowledged_commit_survives_a_killed_server() {
    let l = crate::serve::served_ledger();
    let server = Server::start(&l);
    let jc = key(&l, "jc.key");
    // Signed in before the writes start, so that no sign-in meets the kill.
    let clients: Vec<Client> = (0..WRITERS)
        .map(|_| Client::sign_in(&server, &jc))
        .collect();
    let appended = AtomicUsize::new(0);
    let acknowledged: Vec<String> = std::thread::scope(|s| {
        let writers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(w, client)| {
                let appended = &appended;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for n in 0.. {
                        let id = format!("K{w}-{n}");
                        let station = ["WJ01", "WJ02"][n % 2];
                        let clause = CLAUSES[(w + n) % CLAUSES.len()];
                        match client.try_write(&record(&id, clause, station, "基层科")) {
                            Ok(r) => {
                                assert_eq!(r.status, 200, "{id}: {}", r.text);
                                assert_eq!(r.body["status"], "appended", "{id}: {}", r.text);
                                mine.push(id);
                                appended.fetch_add(1, Ordering::SeqCst);
                            }
                            // The server is gone: no answer, so no promise.
                            Err(_) => break,
                        }
                    }
                    mine
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(300);
        while appended.load(Ordering::SeqCst) < APPENDED_BEFORE_KILL
            && !writers.iter().any(|w| w.is_finished())
        {
            assert!(
                Instant::now() < deadline,
                "only {} commits in 300 s",
                appended.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Then up to 30 ms more, so that the kill lands at a different point of a commit from
        // run to run (the assertions hold wherever it lands).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::thread::sleep(Duration::from_micros(u64::from(nanos % 30_000)));
        server.kill();
        writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer saw only successes"))
            .collect()
    });
    drop(server);
    assert!(
        acknowledged.len() >= APPENDED_BEFORE_KILL,
        "{} acknowledged",
        acknowledged.len()
    );

    let verify = l.run(&["verify"]);
    assert_eq!(
        verify.code, 0,
        "verify after the kill: {}{}",
        verify.stdout, verify.stderr
    );
    let stored: HashSet<String> = l
        .ok(&["export"])
        .lines()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("an export line");
            v["id"].as_str().map(str::to_string)
        })
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the ledger: {lost:?}"
    );
    let unanswered = stored.iter().filter(|id| id.starts_with('K')).count() - acknowledged.len();
    eprintln!(
        "{} commits acknowledged before the kill, all stored; {unanswered} more stored unanswered",
        acknowledged.len()
    );

    // A new server opens the ledger and takes a record.
    let again = Server::start(&l);
    let c = Client::sign_in(&again, &jc);
    let r = c.write(&record("after-kill", "1.3.b", "WJ01", "基层科"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "appended", "{}", r.text);
    assert_eq!(again.stop(), 0, "SIGTERM stops the new server cleanly");
    l.ok(&["verify"]);
}
