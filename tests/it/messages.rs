//! Every refusal says in Chinese what it says in English: the service's JSON error carries
//! `error` (the command line's words) and `error_zh` (the pages' words). The Chinese names
//! the same field and the same figures, codes and dates as the English.

use crate::serve::{key, record, served_ledger, Client, Server};
use serde_json::{json, Value};

/// The figures and quoted values of an English message: its numbers, dates and the text
/// between backticks (but a field's name, `value`, which the Chinese names in Chinese).
/// Whatever the English names, the Chinese must name too.
fn named_values(english: &str) -> Vec<String> {
    let field_name = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    let mut out = Vec::new();
    for (i, part) in english.split('`').enumerate() {
        if i % 2 == 1 && !part.is_empty() && !part.contains(' ') && !field_name(part) {
            out.push(part.to_string());
        }
    }
    let mut number = String::new();
    for c in english.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (!number.is_empty() && (c == '.' || c == '-')) {
            number.push(c);
        } else if !number.is_empty() {
            let n = number.trim_end_matches(['.', '-']).to_string();
            // A clause or item code (`1.3.a`) is named whole in the backticks above.
            if n.chars().any(|c| c.is_ascii_digit()) {
                out.push(n);
            }
            number.clear();
        }
    }
    out
}

fn has_han(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Asserts a refusal: its status, its field, and Chinese that names what the English names.
#[track_caller]
fn says_it_in_chinese(case: &str, reply: &crate::serve::Reply, status: u16, field: Option<&str>) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text);
    if let Some(f) = field {
        assert_eq!(reply.body["field"], f, "{case}: {}", reply.text);
    }
    let en = reply.body["error"].as_str().unwrap_or_default();
    let zh = reply.body["error_zh"].as_str().unwrap_or_default();
    assert!(!en.is_empty(), "{case}: no English message: {}", reply.text);
    assert!(has_han(zh), "{case}: no Chinese message: {}", reply.text);
    for v in named_values(en) {
        assert!(
            zh.contains(&v),
            "{case}: the English names `{v}`, the Chinese does not:\n  {en}\n  {zh}"
        );
    }
}

fn with(base: Value, changes: Value) -> Value {
    let mut v = base;
    for (k, x) in changes.as_object().unwrap() {
        match x {
            Value::Null => {
                v.as_object_mut().unwrap().remove(k);
            }
            x => v[k] = x.clone(),
        }
    }
    v
}

/// Guards the pages' messages: each refusal of the write path (parser, rules, rubric
/// arithmetic, disputes, ids) and of the service's reads carries Chinese that names the same
/// field, figures and codes as the command line's English.
#[test]
fn every_refusal_says_in_chinese_what_it_says_in_english() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let wj01 = Client::sign_in(&server, &key(&l, "wj01.key"));
    let prepare = |c: &Client, v: &Value| c.post("/api/v1/commands/prepare", v);
    let base = record("M1", "1.3.a", "WJ01", "基层科");
    let long_note = "说".repeat(kaohe::limits::MAX_NOTE_CHARS + 1);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown clause", json!({"clause": "9.9.z"}), "clause"),
        ("no such day", json!({"occurred": "2018-02-30"}), "occurred"),
        ("not a date", json!({"occurred": "6月2日"}), "occurred"),
        (
            "outside the period",
            json!({"occurred": "2017-12-31"}),
            "occurred",
        ),
        ("no evidence", json!({"evidence": []}), "evidence"),
        ("evidence not text", json!({"evidence": [5]}), "evidence"),
        ("unknown station", json!({"station": "WJ99"}), "station"),
        ("reserved id", json!({"id": "auto-7"}), "id"),
        ("a field the op lacks", json!({"colour": "red"}), "colour"),
        (
            "not a number",
            json!({"clause": "1.1.a", "value": "abc"}),
            "value",
        ),
        (
            "too precise",
            json!({"clause": "1.1.a", "value": "1.123456789"}),
            "value",
        ),
        ("an input missing", json!({"clause": "1.1.a"}), "value"),
        ("an input not taken", json!({"value": "3"}), "value"),
        (
            "a count of zero",
            json!({"clause": "1.2.a", "count": 0}),
            "count",
        ),
        ("points disagree", json!({"points": "1.5"}), "points"),
        ("a note too long", json!({"note": long_note}), "note"),
        ("another's item", json!({"clause": "3.1.a"}), "by"),
        (
            "standard met",
            json!({"clause": "1.1.a", "value": "100"}),
            "value",
        ),
        ("unknown op", json!({"op": "frobnicate"}), "op"),
    ];
    for (case, change, field) in cases {
        let r = prepare(&jc, &with(base.clone(), change));
        says_it_in_chinese(case, &r, 400, Some(field));
    }

    // A clash of ids (409), a metric out of bounds, an appeal of nothing, an outcome unknown.
    assert_eq!(jc.write(&base).status, 200);
    let clash = prepare(&jc, &with(base.clone(), json!({"clause": "1.1.b"})));
    says_it_in_chinese("an id taken", &clash, 409, Some("id"));
    let metric = json!({"op": "metric", "station": "WJ01", "metric": "dispute_entry_rate",
        "value": "150", "by": "基层科", "occurred": "2018-06-02", "evidence": ["年度统计表"]});
    says_it_in_chinese("out of bounds", &prepare(&jc, &metric), 400, Some("value"));
    let unknown_metric = with(metric, json!({"metric": "happiness"}));
    says_it_in_chinese(
        "unknown metric",
        &prepare(&jc, &unknown_metric),
        400,
        Some("metric"),
    );
    let appeal = json!({"op": "appeal", "against": "nope", "station": "WJ01",
        "grounds": "理由", "evidence": ["说明"]});
    says_it_in_chinese(
        "appeal of nothing",
        &prepare(&wj01, &appeal),
        400,
        Some("against"),
    );
    let decide = json!({"op": "decide", "appeal": "A1", "outcome": "maybe", "by": "基层科",
        "reason": "理由", "evidence": ["复核意见"]});
    says_it_in_chinese(
        "unknown outcome",
        &prepare(&jc, &decide),
        400,
        Some("outcome"),
    );
    let as_other = prepare(&wj01, &with(base.clone(), json!({"id": "M9"})));
    says_it_in_chinese("in another's name", &as_other, 403, None);

    // Reads: a view that does not parse, another station's page, no session.
    says_it_in_chinese(
        "a bad date",
        &jc.get("/api/v1/score?at=2018-02-30"),
        400,
        Some("at"),
    );
    says_it_in_chinese(
        "a bad time",
        &jc.get("/api/v1/score?known_at=yesterday"),
        400,
        Some("known_at"),
    );
    says_it_in_chinese(
        "another station",
        &wj01.get("/api/v1/stations/WJ02/explain"),
        403,
        None,
    );
    says_it_in_chinese(
        "no session",
        &Client::anonymous(&server).get("/api/v1/score"),
        401,
        None,
    );
}

/// Guards the import's refusals: every refused line of a prepared import carries its
/// Chinese message beside the English.
#[test]
fn an_import_lists_its_refused_lines_in_chinese() {
    let l = served_ledger();
    let server = Server::start(&l);
    let jc = Client::sign_in(&server, &key(&l, "jc.key"));
    let good = record("I1", "1.3.a", "WJ01", "基层科").to_string();
    let bad = with(
        record("I2", "1.3.a", "WJ01", "基层科"),
        json!({"occurred": "2018-02-30"}),
    )
    .to_string();
    let lines = format!("{good}\n{bad}\nnot json\n");
    let r = jc.post("/api/v1/commands/prepare-batch", &json!({ "lines": lines }));
    assert_eq!(r.status, 200, "{}", r.text);
    let refused = r.body["refused"].as_array().expect("refused lines");
    assert_eq!(refused.len(), 2, "{}", r.text);
    for line in refused {
        let zh = line["error_zh"].as_str().unwrap_or_default();
        assert!(has_han(zh), "{line}");
    }
    assert!(refused[0]["error_zh"]
        .as_str()
        .unwrap()
        .contains("2018-02-30"));
}
