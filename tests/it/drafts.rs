//! Rubric files before any ledger holds them: `kaohe rubric check FILE` (a draft checked as
//! `init` checks it, every error listed) and `kaohe rubric diff OLD NEW`.

use crate::harness::{rubric_path, TestLedger};

fn rubric_text() -> String {
    std::fs::read_to_string(rubric_path()).expect("the 2018 rubric")
}

/// Writes `text` as a rubric file in the test's directory; its path.
fn draft(l: &TestLedger, name: &str, text: &str) -> String {
    let p = l.path(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().unwrap().to_string()
}

/// Guards `rubric check`: the 2018 file is valid (exit 0) and its totals per category are
/// printed; needs no ledger.
#[test]
fn a_valid_draft_prints_its_totals() {
    let l = TestLedger::empty();
    let out = l.ok(&["rubric", "check", rubric_path().to_str().unwrap()]);
    assert!(
        out.contains("valid: 6 categories, 31 items, 93 clauses"),
        "{out}"
    );
    for line in ["1             30", "B             10"] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let j = l.run(&["rubric", "check", "--json", rubric_path().to_str().unwrap()]);
    assert_eq!(j.code, 0);
    let v = j.json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["clauses"], 93);
    let sum: u64 = v["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clauses"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 93);
    assert!(!l.db.exists(), "check writes no ledger");
}

/// Guards that a draft's errors are all listed, each naming its clause and field, with exit 1
/// (a check that found a problem), and that `init` refuses the same file with the first.
#[test]
fn every_error_of_a_draft_is_listed_with_its_clause_and_field() {
    let l = TestLedger::empty();
    let text = rubric_text()
        .replacen("kind = \"fixed\"", "kind = \"fixd\"", 1)
        .replace(
            "metric = \"agreement_fulfilment_rate\"\nthreshold = \"98\"",
            "metric = \"agreement_fulfilment_rate\"\nthreshold = \"abc\"",
        )
        .replace("code = \"3.2.b\"", "code = \"3.3.z\"");
    let file = draft(&l, "draft.toml", &text);
    let err = l.fails(&["rubric", "check", &file], 1);
    assert!(
        err.contains("clause 1.1.b: `kind`: unknown kind `fixd`"),
        "{err}"
    );
    assert!(err.contains("clause 1.6.c: `threshold`"), "{err}");
    assert!(
        err.contains("clause 3.3.z: is not inside item 3.2"),
        "{err}"
    );
    assert!(err.contains("(3 errors)"), "{err}");
    let j = l.run(&["rubric", "check", "--json", &file]);
    assert_eq!(j.code, 1);
    assert_eq!(j.json()["valid"], false);
    assert_eq!(j.json()["errors"].as_array().unwrap().len(), 3);
    let refused = l.fails(&["init", "--rubric", &file], 2);
    assert!(refused.contains("clause 1.1.b"), "{refused}");
    assert!(!l.db.exists(), "nothing written");
    l.fails(
        &["rubric", "check", l.path("absent.toml").to_str().unwrap()],
        2,
    );
}

/// Guards `rubric diff`: nothing between a file and itself; a changed clause text, an added
/// and a removed clause, a changed item, each named by its code; JSON alike.
#[test]
fn diff_names_each_part_that_changed() {
    let l = TestLedger::empty();
    let old = rubric_path().to_str().unwrap().to_string();
    assert_eq!(l.ok(&["rubric", "diff", &old, &old]), "no differences\n");
    let text = rubric_text()
        .replace("录入不及时扣1分", "录入不及时扣2分")
        .replace("code = \"1.3.e\"", "code = \"1.3.f\"")
        .replace("name = \"人民调解小助手应用\"", "name = \"调解系统应用\"");
    let new = draft(&l, "2019.toml", &text);
    let out = l.ok(&["rubric", "diff", &old, &new]);
    assert!(
        out.contains("~ clause 1.1.b: text: \"录入不及时扣1分\" → \"录入不及时扣2分\""),
        "{out}"
    );
    assert!(out.contains("+ clause 1.3.f: fixed:"), "{out}");
    assert!(out.contains("- clause 1.3.e: fixed:"), "{out}");
    assert!(
        out.contains("~ item 1.1: name: \"人民调解小助手应用\" → \"调解系统应用\""),
        "{out}"
    );
    let j = l.run(&["rubric", "diff", "--json", &old, &new]).json();
    let changes = j["differences"].as_array().unwrap();
    assert_eq!(j["count"], changes.len());
    assert!(changes
        .iter()
        .any(|c| c["code"] == "1.3.f" && c["change"] == "added"));
    let broken = draft(&l, "broken.toml", "not a rubric");
    let e = l.fails(&["rubric", "diff", &old, &broken], 2);
    assert!(e.contains("the new file"), "{e}");
}
