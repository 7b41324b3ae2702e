//! A long `log` streams (issue 13): it prints its table in pages instead of holding every row
//! (2.1 GB and 12 s of silence at 2.9M events before). Guards that paging loses, repeats and
//! reorders nothing, and prints the header once.

use crate::harness::TestLedger;

#[test]
fn a_log_longer_than_a_page_prints_every_event_once_in_order() {
    let l = TestLedger::new();
    let lines: String = (0..4500)
        .map(|i| {
            format!("{{\"op\":\"station\",\"code\":\"S{i:05}\",\"name\":\"所{i:05}\",\"kind\":\"town\"}}\n")
        })
        .collect();
    let out = l.import(&lines);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let log = l.ok(&["log"]);
    let rows: Vec<&str> = log.lines().collect();
    assert!(rows[0].trim_start().starts_with("seq"), "{}", rows[0]);
    assert!(rows[1].starts_with("---"), "{}", rows[1]);
    assert_eq!(
        log.matches("recorded_at").count(),
        1,
        "the header is printed once"
    );
    let seqs: Vec<u64> = rows[2..]
        .iter()
        .map(|r| {
            r.split_whitespace()
                .next()
                .expect("a seq")
                .parse()
                .expect("a number")
        })
        .collect();
    assert_eq!(seqs, (0..4501).collect::<Vec<u64>>());
}
