//! A busy ledger is its own exit code (issue 13): when another process holds the ledger, a
//! command waits `--wait SECONDS` (5 by default) and then exits 3, not 2 (which says the input
//! was bad, sending the user to look for a mistake that is not there).

use crate::harness::TestLedger;
use kaohe::internals::store::Store;

#[test]
fn a_held_ledger_is_busy_exit_3_and_says_how_to_wait() {
    let l = TestLedger::with_stations();
    let held = Store::open(&l.db).expect("open");
    let out = l.run(&["--wait", "0", "score"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("in use"), "{}", out.stderr);
    assert!(out.stderr.contains("--wait SECONDS"), "{}", out.stderr);
    drop(held);
}

#[test]
fn a_command_waits_for_a_ledger_that_is_let_go() {
    let l = TestLedger::with_stations();
    let held = Store::open(&l.db).expect("open");
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(held);
    });
    let out = l.run(&["--wait", "30", "score"]);
    release.join().expect("release");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn a_wait_beyond_the_limit_is_bad_input() {
    let l = TestLedger::with_stations();
    let out = l.run(&["--wait", "86400", "score"]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
}
