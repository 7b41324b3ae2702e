//! Files written through links (issue 13): every file kaohe writes is first written to
//! `<FILE>.tmp`, created exclusively, so a link planted there is never followed (a link named
//! `rep.html.tmp` into the ledger used to cut `events.seg` to 0 bytes; one at `out.bin.tmp`
//! overwrote another file). Covered: `report --out`, `evidence get --out`, `key new --out`,
//! the store's evidence blobs, a new store's files, and `kaohe::files` itself (a temporary
//! file is removed only while it is still the one this process created).

use crate::harness::TestLedger;
use kaohe::files::{FileError, Leftover, NewFile, Place};
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// A ledger with one record carrying an evidence file; returns it with the file's hash.
fn with_evidence() -> (TestLedger, String) {
    let l = TestLedger::with_stations();
    let file = l.path("scan.pdf");
    std::fs::write(&file, EVIDENCE).unwrap();
    l.ok(&[
        "record",
        "--id",
        "R1",
        "--clause",
        "1.1.b",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence-file",
        file.to_str().unwrap(),
    ]);
    let hash = hex::encode(kaohe::internals::events::chain::file_hash(EVIDENCE));
    (l, hash)
}

const EVIDENCE: &[u8] = b"%PDF-1.4 the inspection report";
const OTHER: &[u8] = b"someone else's file, not to be touched\n";

fn tmp_of(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The two targets a planted link points at: the ledger's `events.seg` and another file.
fn targets(l: &TestLedger) -> Vec<PathBuf> {
    let other = l.path("other.txt");
    std::fs::write(&other, OTHER).unwrap();
    vec![l.db.join("events.seg"), other]
}

/// Runs `args`, which write `out`, with a link at `out.tmp` to each of `targets`: refused
/// (exit 2, naming the link), the link's target byte for byte unchanged, `out` not written,
/// the link left alone, and the ledger still verifies.
#[track_caller]
fn refused_through_tmp_link(l: &TestLedger, out: &Path, args: &[&str]) {
    let tmp = tmp_of(out);
    for target in targets(l) {
        let before = std::fs::read(&target).unwrap();
        symlink(&target, &tmp).unwrap();
        let err = l.fails(args, 2);
        assert!(err.contains(s(&tmp)), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "{target:?} changed"
        );
        assert!(
            std::fs::symlink_metadata(out).is_err(),
            "{out:?} was written"
        );
        assert!(std::fs::symlink_metadata(&tmp)
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_file(&tmp).unwrap();
        l.ok(&["verify"]);
    }
    // A dangling link: nothing is created where it points.
    let nowhere = l.path("nowhere");
    symlink(&nowhere, &tmp).unwrap();
    l.fails(args, 2);
    assert!(!nowhere.exists());
    std::fs::remove_file(&tmp).unwrap();
}

/// Runs `args`, which write `out`, with a regular file left at `out.tmp` (a crash's
/// leftover): refused (exit 2, naming it), the file unchanged.
#[track_caller]
fn refused_over_leftover(l: &TestLedger, out: &Path, args: &[&str]) {
    let tmp = tmp_of(out);
    std::fs::write(&tmp, OTHER).unwrap();
    let err = l.fails(args, 2);
    assert!(err.contains(s(&tmp)), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&tmp).unwrap(), OTHER);
    std::fs::remove_file(&tmp).unwrap();
}

/// Guards `report --out F` against a link at `F.tmp` (into the ledger or at another file) and
/// against a crash's leftover `F.tmp`; then the report is written and replaces an old one.
#[test]
fn a_report_never_writes_through_a_link_at_its_temporary_file() {
    let (l, _) = with_evidence();
    let out = l.path("rep.html");
    let args = ["report", "--out", s(&out)];
    refused_through_tmp_link(&l, &out, &args);
    refused_over_leftover(&l, &out, &args);
    std::fs::write(&out, b"last year's report").unwrap();
    l.ok(&args);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<html"), "{html}");
    assert!(!tmp_of(&out).exists());
    l.ok(&["verify"]);
}

/// Guards `report --out F` where F is a link: refused (exit 2), neither written through nor
/// replaced.
#[test]
fn a_report_refuses_a_link_as_its_file() {
    let l = TestLedger::with_stations();
    for target in targets(&l) {
        let out = l.path("linked.html");
        let before = std::fs::read(&target).unwrap();
        symlink(&target, &out).unwrap();
        let err = l.fails(&["report", "--out", s(&out)], 2);
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), before);
        assert_eq!(std::fs::read_link(&out).unwrap(), target);
        assert!(!tmp_of(&out).exists());
        std::fs::remove_file(&out).unwrap();
    }
    l.ok(&["verify"]);
}

/// Guards `evidence get --out F` against a link at `F.tmp` (into the ledger or at another
/// file), a crash's leftover `F.tmp` and a link at F; then the file is given back.
#[test]
fn evidence_get_never_writes_through_a_link() {
    let (l, hash) = with_evidence();
    let out = l.path("out.bin");
    let args = ["evidence", "get", &hash, "--out", s(&out)];
    refused_through_tmp_link(&l, &out, &args);
    refused_over_leftover(&l, &out, &args);
    for target in targets(&l) {
        let before = std::fs::read(&target).unwrap();
        symlink(&target, &out).unwrap();
        let err = l.fails(&args, 2);
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), before);
        std::fs::remove_file(&out).unwrap();
    }
    l.ok(&args);
    assert_eq!(std::fs::read(&out).unwrap(), EVIDENCE);
    assert!(!tmp_of(&out).exists());
    l.ok(&["verify", "--evidence"]);
}

/// Guards `key new --out FILE` against a link at FILE, FILE.pub, FILE.tmp or FILE.pub.tmp:
/// refused (exit 2), the link's target unchanged, and no half of a key pair left behind.
#[test]
fn key_new_never_writes_through_a_link() {
    let l = TestLedger::with_stations();
    let key = l.path("dept.key");
    let public = l.path("dept.key.pub");
    let args = ["key", "new", "--dept", "基层科", "--out", s(&key)];
    for at in [key.clone(), public.clone(), tmp_of(&key), tmp_of(&public)] {
        for target in targets(&l) {
            let before = std::fs::read(&target).unwrap();
            symlink(&target, &at).unwrap();
            let err = l.fails(&args, 2);
            assert!(err.contains(s(&at)), "{err}");
            assert_eq!(std::fs::read(&target).unwrap(), before, "link at {at:?}");
            std::fs::remove_file(&at).unwrap();
            for p in [&key, &public, &tmp_of(&key), &tmp_of(&public)] {
                assert!(std::fs::symlink_metadata(p).is_err(), "{p:?} left behind");
            }
        }
    }
    l.ok(&["verify"]);
    let made = l.ok(&args);
    assert!(made.contains("public key"), "{made}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&public).unwrap().contains("基层科"));
    assert!(!tmp_of(&key).exists() && !tmp_of(&public).exists());
}

/// Guards the store's evidence blobs: a link left at `evidence/<hex>.tmp` is unlinked, never
/// followed: the file it points at is unchanged and the blob is stored as a regular file.
#[test]
fn a_stored_evidence_file_is_not_written_through_a_link() {
    let l = TestLedger::with_stations();
    let other = l.path("other.txt");
    std::fs::write(&other, OTHER).unwrap();
    let hash = hex::encode(kaohe::internals::events::chain::file_hash(EVIDENCE));
    let dir = l.db.join("evidence");
    std::fs::create_dir_all(&dir).unwrap();
    symlink(&other, dir.join(format!("{hash}.tmp"))).unwrap();
    let file = l.path("scan.pdf");
    std::fs::write(&file, EVIDENCE).unwrap();
    l.ok(&[
        "record",
        "--id",
        "R1",
        "--clause",
        "1.1.b",
        "--station",
        "WJ02",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence-file",
        s(&file),
    ]);
    assert_eq!(std::fs::read(&other).unwrap(), OTHER);
    let blob = std::fs::symlink_metadata(dir.join(&hash)).unwrap();
    assert!(blob.is_file());
    assert_eq!(std::fs::read(dir.join(&hash)).unwrap(), EVIDENCE);
    assert!(!dir.join(format!("{hash}.tmp")).exists());
    l.ok(&["verify", "--evidence"]);
}

/// Guards a new store's files: a link at `events.seg` left in a store whose creation was
/// interrupted (no head) is replaced by a new empty file, never truncated through.
#[test]
fn a_new_store_does_not_truncate_through_a_link() {
    use kaohe::internals::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    drop(Store::create(&path).unwrap());
    let other = dir.path().join("other.txt");
    std::fs::write(&other, OTHER).unwrap();
    let seg = path.join("events.seg");
    std::fs::remove_file(&seg).unwrap();
    symlink(&other, &seg).unwrap();
    drop(Store::create(&path).unwrap());
    assert_eq!(std::fs::read(&other).unwrap(), OTHER);
    let m = std::fs::symlink_metadata(&seg).unwrap();
    assert!(m.is_file() && m.len() == 0);
}

/// Guards `kaohe::files`: a temporary file that someone replaced while kaohe wrote is not put
/// in place and not removed (only the file this process created is); dropped unfinished, its
/// own temporary file is removed; a placed half of a pair is removed only while it is ours.
#[test]
fn only_the_temporary_file_this_process_created_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.bin");
    let tmp = tmp_of(&target);

    let f = NewFile::create(&target, 0o644, Leftover::Refuse, Place::Replace).unwrap();
    assert!(tmp.is_file());
    drop(f);
    assert!(!tmp.exists());

    let mut f = NewFile::create(&target, 0o644, Leftover::Refuse, Place::Replace).unwrap();
    f.write_all(b"ours").unwrap();
    std::fs::remove_file(&tmp).unwrap();
    std::fs::write(&tmp, OTHER).unwrap();
    assert!(matches!(f.finish(), Err(FileError::TempReplaced(_))));
    assert_eq!(std::fs::read(&tmp).unwrap(), OTHER);
    assert!(!target.exists());

    // Leftover::Remove unlinks a leftover (a link: never its target) and writes.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, OTHER).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    symlink(&other, &tmp).unwrap();
    kaohe::files::write_whole(&target, b"new", 0o644, Leftover::Remove, Place::New).unwrap();
    assert_eq!(std::fs::read(&other).unwrap(), OTHER);
    assert_eq!(std::fs::read(&target).unwrap(), b"new");

    // Place::New refuses an existing target; a placed file replaced by another is not removed.
    let again = kaohe::files::write_whole(&target, b"x", 0o644, Leftover::Refuse, Place::New);
    assert!(matches!(again, Err(FileError::TargetExists(_))));
    assert!(!tmp.exists());
    let second = dir.path().join("second.bin");
    let placed =
        kaohe::files::write_whole(&second, b"2", 0o644, Leftover::Refuse, Place::New).unwrap();
    std::fs::remove_file(&second).unwrap();
    std::fs::write(&second, OTHER).unwrap();
    placed.remove();
    assert_eq!(std::fs::read(&second).unwrap(), OTHER);
}
