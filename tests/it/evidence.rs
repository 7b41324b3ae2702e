//! Evidence files (`--evidence-file`): hashed, stored once in the ledger, named in the event by
//! a `blake3:<hex> <name>` reference, given back by `evidence get`, checked by
//! `verify --evidence`.

use crate::harness::TestLedger;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn record_args<'a>(id: &'a str, files: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "record",
        "--id",
        id,
        "--clause",
        "1.1.b",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
    ];
    for f in files {
        a.extend(["--evidence-file", f]);
    }
    a
}

fn write(l: &TestLedger, name: &str, bytes: &[u8]) -> String {
    let p = l.path(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn blob(l: &TestLedger, hash: &str) -> PathBuf {
    l.db.join("evidence").join(hash)
}

fn hash_of(bytes: &[u8]) -> String {
    hex::encode(kaohe::internals::events::chain::file_hash(bytes))
}

fn stored(l: &TestLedger) -> Vec<String> {
    match std::fs::read_dir(l.db.join("evidence")) {
        Err(_) => Vec::new(),
        Ok(d) => {
            let mut v: Vec<String> = d
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }
}

fn get(l: &TestLedger, hash: &str, out: &Path) -> crate::harness::Output {
    l.run(&["evidence", "get", hash, "--out", out.to_str().unwrap()])
}

const REPORT: &[u8] = b"inspection report, 2018-06-01\n";
const PHOTO: &[u8] = b"\x89PNG\r\n\x1a\nnot really a photo";

/// A ledger with R1 at seq 3 carrying report.txt, photo.png and a copy of report.txt.
fn recorded() -> (TestLedger, String, String) {
    let l = TestLedger::with_stations();
    let report = write(&l, "report.txt", REPORT);
    let photo = write(&l, "photo.png", PHOTO);
    let copy = write(&l, "copy.txt", REPORT);
    let v = l.run(&record_args("R1", &[&report, &photo, &copy, &report]));
    assert_eq!(v.code, 0, "{}", v.stderr);
    (l, hash_of(REPORT), hash_of(PHOTO))
}

#[test]
fn files_are_stored_once_referenced_and_given_back() {
    let (l, hr, hp) = recorded();
    // Stored once each (the copy and the repeat share a blob).
    let mut want = vec![hr.clone(), hp.clone()];
    want.sort();
    assert_eq!(stored(&l), want);

    // The references are in the event, one per distinct file name.
    let show: Value = serde_json::from_str(&l.ok(&["show", "R1", "--json"])).unwrap();
    let text = show.to_string();
    let ev: Vec<String> = find_evidence(&show).expect("evidence in show --json");
    assert_eq!(
        ev,
        vec![
            format!("blake3:{hr} report.txt"),
            format!("blake3:{hp} photo.png"),
            format!("blake3:{hr} copy.txt"),
        ],
        "{text}"
    );
    let export = l.ok(&["export"]);
    assert!(
        export.contains(&format!("blake3:{hp} photo.png")),
        "{export}"
    );

    // Given back byte for byte; never over an existing file.
    let out = l.path("back.png");
    let r = get(&l, &hp, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), PHOTO);
    assert!(get(&l, &hp, &out).stderr.contains("already exists"));
    assert_eq!(get(&l, &hp, &out).code, 2);
    let r = get(&l, &format!("blake3:{hr}"), &l.path("back.txt"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(l.path("back.txt")).unwrap(), REPORT);
    // Not inside the ledger; an unknown hash is bad input.
    assert_eq!(get(&l, &hp, &l.db.join("x")).code, 2);
    assert_eq!(get(&l, &hash_of(b"nothing"), &l.path("n")).code, 2);
    assert_eq!(get(&l, "xyz", &l.path("n")).code, 2);

    // verify --evidence passes; plain verify is unchanged.
    let v = l.ok(&["verify", "--evidence"]);
    assert!(v.starts_with("ok: 4 events verified"), "{v}");
    assert!(v.contains("evidence: 2 files stored, 2 referenced"), "{v}");
    let j: Value = serde_json::from_str(&l.ok(&["verify", "--evidence", "--json"])).unwrap();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["evidence"]["stored"], 2, "{j}");
    assert!(!l.ok(&["verify"]).contains("evidence"));

    // evidence list names the referencing seq.
    let list: Value = serde_json::from_str(&l.ok(&["evidence", "list", "--json"])).unwrap();
    let files = list["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{list}");
    assert!(
        files.iter().all(|f| f["seqs"] == serde_json::json!([3])),
        "{list}"
    );
    assert!(l
        .ok(&["evidence", "list"])
        .contains(&format!("{hp}  {} bytes  seq 3", PHOTO.len())));
}

fn find_evidence(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(a)) = m.get("evidence") {
                return Some(a.iter().map(|x| x.as_str().unwrap().to_string()).collect());
            }
            m.values().find_map(find_evidence)
        }
        Value::Array(a) => a.iter().find_map(find_evidence),
        _ => None,
    }
}

#[test]
fn a_damaged_blob_is_found_and_never_given_back() {
    let (l, hr, hp) = recorded();
    let path = blob(&l, &hp);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&path, &bytes).unwrap();

    let e = l.fails(&["verify", "--evidence"], 1);
    assert!(
        e.contains(&format!("the stored evidence file {hp} is damaged")),
        "{e}"
    );
    assert!(!e.contains(&hr), "{e}");
    let out = l.run(&["verify", "--evidence", "--json"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["evidence"]["damaged"][0]["hash"], hp.as_str());

    let back = l.path("back.png");
    let r = get(&l, &hp, &back);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(!back.exists());
    // The events themselves are fine.
    l.ok(&["verify"]);
}

#[test]
fn a_deleted_blob_is_found_at_its_seq_and_a_stray_one_is_a_note() {
    let (l, _, hp) = recorded();
    std::fs::remove_file(blob(&l, &hp)).unwrap();
    let e = l.fails(&["verify", "--evidence"], 1);
    assert!(
        e.contains(&format!(
            "seq 3 references the evidence file {hp}, which is not stored"
        )),
        "{e}"
    );
    assert_eq!(get(&l, &hp, &l.path("gone")).code, 2);

    // An unreferenced blob and a .tmp leftover are notes, not failures.
    let l = TestLedger::with_stations();
    let stray = hash_of(b"stray");
    std::fs::create_dir_all(l.db.join("evidence")).unwrap();
    std::fs::write(blob(&l, &stray), b"stray").unwrap();
    std::fs::write(blob(&l, &format!("{stray}.tmp")), b"str").unwrap();
    let v = l.ok(&["verify", "--evidence"]);
    assert!(
        v.contains(&format!(
            "note: the stored evidence file {stray} is referenced by no event"
        )),
        "{v}"
    );
    assert!(v.contains(".tmp is not a stored evidence file"), "{v}");
}

#[test]
fn an_over_limit_file_or_a_directory_is_refused_with_nothing_written() {
    let l = TestLedger::with_stations();
    let big = l.path("big.bin");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(kaohe::internals::base::limits::MAX_EVIDENCE_FILE_BYTES + 1)
        .unwrap();
    drop(f);
    let before = l.event_count();
    let e = l.fails(&record_args("R1", &[big.to_str().unwrap()]), 2);
    assert!(e.contains("big.bin"), "{e}");
    assert!(
        e.contains(&(kaohe::internals::base::limits::MAX_EVIDENCE_FILE_BYTES + 1).to_string()),
        "{e}"
    );
    assert!(
        e.contains(&kaohe::internals::base::limits::MAX_EVIDENCE_FILE_BYTES.to_string()),
        "{e}"
    );
    assert_eq!(l.event_count(), before);
    assert!(stored(&l).is_empty());

    let dir = l.path("adir");
    std::fs::create_dir(&dir).unwrap();
    let e = l.fails(&record_args("R1", &[dir.to_str().unwrap()]), 2);
    assert!(e.contains("is a directory"), "{e}");
    let e = l.fails(&record_args("R1", &[l.path("absent").to_str().unwrap()]), 2);
    assert!(e.contains("absent"), "{e}");
    assert_eq!(l.event_count(), before);
    assert!(stored(&l).is_empty());
}

#[test]
fn evidence_files_work_on_every_kind_and_with_signatures() {
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
    let dept = l.path("jc.key");
    let st = l.path("wj02.key");
    l.ok(&[
        "key",
        "new",
        "--dept",
        "基层科",
        "--out",
        dept.to_str().unwrap(),
    ]);
    l.ok(&[
        "key",
        "new",
        "--station",
        "WJ02",
        "--out",
        st.to_str().unwrap(),
    ]);
    for key in [&dept, &st] {
        l.ok(&[
            "--key",
            &bureau,
            "key",
            "register",
            &format!("{}.pub", key.display()),
        ]);
    }
    let dk = dept.to_str().unwrap();
    let sk = st.to_str().unwrap();
    let f1 = write(&l, "scan1.pdf", b"scan one");
    let f2 = write(&l, "scan2.pdf", b"scan two");
    let f3 = write(&l, "scan3.pdf", b"scan three");
    let f4 = write(&l, "scan4.pdf", b"scan four");

    // Unsigned: refused (the blob may stay, unreferenced), nothing recorded.
    l.fails(&record_args("R1", &[&f1]), 2);
    let mut a = vec!["--key", dk];
    a.extend(record_args("R1", &[&f1]));
    l.ok(&a);
    l.ok(&[
        "--key",
        sk,
        "appeal",
        "file",
        "--id",
        "A1",
        "--against",
        "R1",
        "--station",
        "WJ02",
        "--grounds",
        "扣分事实认定有误",
        "--evidence-file",
        &f2,
    ]);
    l.ok(&[
        "--key",
        dk,
        "appeal",
        "decide",
        "A1",
        "--outcome",
        "rejected",
        "--by",
        "基层科",
        "--reason",
        "经复核，扣分依据充分",
        "--evidence",
        "常武司基〔2018〕61号",
        "--evidence-file",
        &f3,
    ]);
    l.ok(&[
        "--key",
        dk,
        "reverse",
        "R1",
        "--id",
        "V1",
        "--by",
        "基层科",
        "--reason",
        "录入错误",
        "--evidence-file",
        &f4,
    ]);
    let export = l.ok(&["export"]);
    for (bytes, name) in [
        (&b"scan one"[..], "scan1.pdf"),
        (b"scan two", "scan2.pdf"),
        (b"scan three", "scan3.pdf"),
        (b"scan four", "scan4.pdf"),
    ] {
        assert!(
            export.contains(&format!("blake3:{} {name}", hash_of(bytes))),
            "{name}"
        );
    }
    let j: Value = serde_json::from_str(&l.ok(&["verify", "--evidence", "--json"])).unwrap();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["evidence"]["stored"], 4, "{j}");
    assert_eq!(j["evidence"]["referenced"], 4, "{j}");
}

#[test]
fn a_metric_report_takes_an_evidence_file() {
    let l = TestLedger::with_stations();
    let f = write(&l, "台账.xlsx", b"rows");
    l.ok(&[
        "metric",
        "--station",
        "WJ01",
        "--metric",
        "dispute_entry_rate",
        "--value",
        "100",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence-file",
        &f,
    ]);
    let list: Value = serde_json::from_str(&l.ok(&["evidence", "list", "--json"])).unwrap();
    assert_eq!(list["files"][0]["hash"], hash_of(b"rows").as_str());
    assert_eq!(list["files"][0]["seqs"], serde_json::json!([3]));
    assert!(l
        .ok(&["export"])
        .contains(&format!("blake3:{} 台账.xlsx", hash_of(b"rows"))));
}
