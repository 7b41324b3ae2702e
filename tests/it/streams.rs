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

/// Guards `verify --export` reading from a pipe whose writer has not closed it: lines are
/// checked ahead in batches, and a batch is handed on (and everything read folded) whenever
/// the next read may wait, so a bad line is reported as soon as it arrives, as when lines
/// were checked one at a time (before, it waited for 256 lines or the end of the input).
#[test]
fn a_bad_line_on_a_pipe_left_open_is_reported_as_it_arrives() {
    use std::io::Write;
    let l = TestLedger::with_stations();
    let export = l.ok(&["export"]);
    let mut lines: Vec<String> = export.lines().map(str::to_string).collect();
    lines[1] = lines[1].replacen('{', "{ ", 1);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(["verify", "--export", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kaohe runs");
    let mut stdin = child.stdin.take().expect("a pipe");
    stdin
        .write_all((lines.join("\n") + "\n").as_bytes())
        .expect("write the lines");
    // The pipe stays open: the answer must come without its end.
    let status = crate::harness::wait_or_fail(
        &mut child,
        std::time::Duration::from_secs(20),
        "verify --export of a pipe left open (it waited for the pipe's end)",
    );
    drop(stdin);
    let out = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("(line 2)"), "{said}");
    assert!(said.contains("not the canonical line"), "{said}");
}
