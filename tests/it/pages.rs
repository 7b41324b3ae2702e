//! The pages of `kaohe serve` in a real headless browser (issue 15): a department signs in with
//! its key file and records a deduction (signed in the browser by WebCrypto); the station signs
//! in, sees it and appeals; the department decides; the station sees its new score; an auditor
//! opens the station as it stood before the decision; a station cannot open another station's
//! records by URL; with a consequences table, the final ranking and a station's page show
//! what the final scores mean (before the close, that it is decided then). No console errors, nothing loaded from elsewhere; screenshots of each page
//! at desktop and phone width go to `target/tmp/screenshots/`.

use crate::serve::{served_ledger, Server};
use crate::webdriver::{tools_or_skip, Browser};
use std::path::PathBuf;

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    dir
}

/// Screenshots of the current page at desktop and phone width.
pub(crate) fn snap(b: &Browser, name: &str) {
    snap_at(b, name, None);
}

/// [`snap`] scrolled to the element `css` (the part of a long page a test is about).
pub(crate) fn snap_at(b: &Browser, name: &str, css: Option<&str>) {
    for (w, h) in [(1280, 900), (390, 844)] {
        b.resize(w, h);
        if let Some(css) = css {
            b.run(&format!(
                "document.querySelector({css:?}).scrollIntoView({{block: 'start'}}); window.scrollBy(0, -16); return true;"
            ));
        }
        b.screenshot(&shots().join(format!("{name}-{w}.png")));
        // Nothing wider than the screen: a phone never scrolls sideways.
        let wide = b.run(
            "return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && getComputedStyle(e).position !== 'fixed' && !e.closest('dialog')).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 40));",
        );
        assert_eq!(
            wide,
            serde_json::json!([]),
            "{name} at {w} px: wider than the screen"
        );
    }
    b.resize(1280, 900);
}

/// Signs in with a key file through the sign-in page; waits for the home page of the role.
pub(crate) fn sign_in(b: &Browser, server: &Server, key_file: &str, lands_on: &str) {
    b.goto(&server.url("/"));
    // Whoever was signed in signs out first (the session cookie is HttpOnly).
    b.run("fetch('/api/v1/session', {method: 'DELETE'}).then(() => { window.__out = true; }); indexedDB.deleteDatabase('kaohe'); return true;");
    b.wait_for("return window.__out === true;", "signing out");
    b.goto(&server.url("/"));
    b.find("#signin");
    b.type_in("#keyfile", key_file);
    b.click("#signin button[type=submit]");
    b.wait_for(
        &format!("return location.pathname.startsWith('{lands_on}');"),
        &format!("landing on {lands_on}"),
    );
}

/// Nothing the page loaded came from another origin, and the console has no errors.
#[track_caller]
pub(crate) fn clean(b: &Browser, server: &Server, page: &str) {
    let foreign = b.run(&format!(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('{}'));",
        server.base
    ));
    assert_eq!(
        foreign,
        serde_json::json!([]),
        "{page} loaded from elsewhere"
    );
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{page}: console errors {errors:?}");
    let unlabelled = b.run(
        "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).filter(e => e.labels.length === 0).map(e => e.name || e.id);",
    );
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "{page}: fields without a label"
    );
}

/// Sets a form control's value as a person choosing it would, and tells the page.
fn choose(b: &Browser, css: &str, value: &str) {
    b.find(css);
    b.run(&format!(
        "const e = document.querySelector({css:?}); e.value = {value:?}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"
    ));
}

/// Submits a signed form and confirms the event in the dialog; waits for the page to reload.
fn submit_and_sign(b: &Browser, form: &str) {
    b.run("window.__before = performance.timeOrigin; return true;");
    b.click(&format!("{form} button[type=submit]"));
    b.wait_for(
        "return document.getElementById('confirm').open === true;",
        "the confirmation",
    );
    b.click("#confirm button[value=sign]");
    b.wait_for(
        "return window.__before === undefined;",
        "the page to reload after the commit",
    );
}

/// Guards the browser flow end to end (see the module comment).
#[test]
fn every_party_works_in_the_browser() {
    let Some(tools) = tools_or_skip("the pages") else {
        return;
    };
    let l = served_ledger();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);

    // The sign-in page.
    b.goto(&server.url("/"));
    b.find("#signin");
    snap(&b, "sign-in");
    clean(&b, &server, "sign-in");

    // The department records a deduction.
    sign_in(&b, &server, &key("jc.key"), "/desk");
    snap(&b, "desk");
    choose(&b, "#clause", "1.1.b");
    choose(&b, "#station", "WJ01");
    choose(&b, "#occurred", "2018-06-02");
    b.type_in("#evidence", "常武司基〔2018〕21号 通报");
    submit_and_sign(&b, "#record");
    clean(&b, &server, "desk after recording");
    // An import file: a refused line is listed with its line and nothing is written; a clean
    // file is signed event by event and written together.
    let line = |id: &str, clause: &str| {
        serde_json::json!({"op": "record", "id": id, "clause": clause, "station": "WJ02",
            "by": "基层科", "occurred": "2018-07-01", "evidence": ["抽查记录"]})
        .to_string()
    };
    let bad = l.path("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{}\n{}\n", line("F1", "1.3.a"), line("F2", "9.9.z")),
    )
    .unwrap();
    b.type_in("#import-file", bad.to_str().unwrap());
    b.click("#import button[type=submit]");
    b.find("#import-refused");
    assert!(
        b.text("#import-refused").contains("第 2 行"),
        "{}",
        b.text("#import-result")
    );
    snap(&b, "desk-import-refused");
    let good = l.path("good.jsonl");
    std::fs::write(
        &good,
        format!("{}\n{}\n", line("F1", "1.3.a"), line("F3", "1.3.b")),
    )
    .unwrap();
    b.run("document.getElementById('import-file').value = ''; return true;");
    b.type_in("#import-file", good.to_str().unwrap());
    b.click("#import button[type=submit]");
    b.wait_for(
        "return document.getElementById('confirm').open === true;",
        "the import's confirmation",
    );
    b.click("#confirm button[value=sign]");
    b.find("#import-applied");
    assert!(
        b.text("#import-applied").contains("2"),
        "{}",
        b.text("#import-result")
    );
    let log =
        crate::serve::Client::sign_in(&server, &key("audit.key")).get("/api/v1/log?station=WJ01");
    assert!(log.text.contains("\"clause\":\"1.1.b\""), "{}", log.text);

    // The station sees it and appeals.
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    let before = b.text("#total");
    assert_eq!(
        b.text(".days-left"),
        "15",
        "days left to appeal, recorded today"
    );
    assert!(b.text("main").contains("1.1.b"), "{}", b.text("main"));
    snap(&b, "station");
    clean(&b, &server, "station");
    b.click("details summary");
    b.type_in(
        "form[data-op=appeal] textarea[name=grounds]",
        "抽查记录有误，已按时录入",
    );
    b.type_in(
        "form[data-op=appeal] textarea[name=evidence]",
        "系统录入日志截图",
    );
    let scan = l.path("录入日志.pdf");
    std::fs::write(&scan, b"%PDF-1.4 entry log").unwrap();
    b.type_in(
        "form[data-op=appeal] input[type=file]",
        scan.to_str().unwrap(),
    );
    submit_and_sign(&b, "form[data-op=appeal]");
    assert!(b.text("main").contains("待复核"), "{}", b.text("main"));

    // A station cannot open another's records by URL.
    b.goto(&server.url("/station/WJ02"));
    assert!(!b.text("#page-error").is_empty(), "{}", b.text("body"));
    snap(&b, "forbidden");
    // The refusal is the console's only complaint.
    let errors = b.console_errors();
    assert!(errors.iter().all(|e| e.contains("403")), "{errors:?}");

    // The department decides: upheld.
    sign_in(&b, &server, &key("jc.key"), "/desk");
    choose(&b, "form[data-op=decide] select[name=outcome]", "upheld");
    b.type_in(
        "form[data-op=decide] textarea[name=reason]",
        "经核实，录入及时",
    );
    b.type_in("form[data-op=decide] textarea[name=evidence]", "复核意见书");
    snap(&b, "desk-appeal");
    submit_and_sign(&b, "form[data-op=decide]");
    assert!(b.text("#no-appeals").contains("没有"), "{}", b.text("main"));
    // The uploaded file went with the appeal, and its department may fetch it.
    let appeals = crate::serve::Client::sign_in(&server, &key("audit.key")).get("/api/v1/appeals");
    let reference = appeals.body["appeals"][0]["evidence"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find_map(|r| r.as_str().filter(|r| r.starts_with("blake3:")))
        })
        .unwrap_or_else(|| panic!("no uploaded file: {}", appeals.text))
        .to_string();
    assert!(reference.ends_with("录入日志.pdf"), "{reference}");
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    let (status, _, bytes) = jc.get_bytes(&format!("/api/v1/evidence/{}", &reference[7..71]));
    assert_eq!(
        (status, bytes.as_slice()),
        (200, &b"%PDF-1.4 entry log"[..])
    );

    // The station sees its new score.
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    let after = b.text("#total");
    assert_ne!(before, after, "the decision changed the score");

    // The auditor opens the station as it stood before the decision.
    let audit = crate::serve::Client::sign_in(&server, &key("audit.key"));
    let appeals = audit.get("/api/v1/appeals");
    let decided_at = appeals.body["appeals"][0]["decision"]["seq"]
        .as_u64()
        .expect("decided");
    sign_in(&b, &server, &key("audit.key"), "/audit");
    snap(&b, "audit");
    // The scores as an Excel workbook, from the link on the page.
    let href = b.run("return document.getElementById('scores-xlsx').getAttribute('href');");
    let (status, disposition, bytes) = audit.get_bytes(href.as_str().unwrap());
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"PK\x03\x04"), "an xlsx (zip) file");
    assert!(disposition
        .unwrap_or_default()
        .contains("kaohe-scores.xlsx"));
    b.goto(&server.url(&format!("/station/WJ01?as_of_seq={}", decided_at - 1)));
    assert_eq!(b.text("#total"), before, "the view before the decision");
    assert!(
        b.text("main").contains("台账截至第"),
        "the page says which view it shows"
    );
    snap(&b, "audit-station-before");
    clean(&b, &server, "auditor's station view");

    // The bureau's page.
    sign_in(&b, &server, &l.bureau_key(), "/bureau");
    snap(&b, "bureau");
    clean(&b, &server, "bureau");
    // Reconciliation of a department's CSV: the row that differs is shown.
    let tally = l.path("基层科台账.csv");
    std::fs::write(
        &tally,
        "司法所,项目,扣分,加分\nWJ01,1.3,5,0\nWJ02,1.3,3,0\n",
    )
    .unwrap();
    b.type_in("#tallies", tally.to_str().unwrap());
    b.click("#reconcile button[type=submit]");
    b.find("#reconcile-summary");
    let rows = b.run("return document.querySelectorAll('#mismatches tbody tr').length;");
    assert_eq!(
        rows,
        serde_json::json!(1),
        "{}",
        b.text("#reconcile-result")
    );
    assert!(
        b.text("#mismatches").contains("WJ01"),
        "{}",
        b.text("#reconcile-result")
    );
    snap(&b, "bureau-reconcile");
    // The bureau closes the year in the browser: the closing event signed with its key.
    submit_and_sign(&b, "form[data-op=close]");
    assert!(b.text("#closed").contains("结算"), "{}", b.text("main"));
    snap(&b, "bureau-closed");
    clean(&b, &server, "bureau after the close");
    drop(b);
    assert_eq!(server.stop(), 0);
    let v = l.ok(&["verify", "--json"]);
    assert!(v.contains("\"ok\":true"), "{v}");
}

/// Guards keyboard-only use of a signed form: from the appeal's summary, Enter opens it, Tab
/// moves through its labelled fields, typing fills them, Enter on the submit button prepares
/// the appeal and Enter in the dialog signs it: the appeal is filed, no mouse involved.
#[test]
fn the_appeal_form_works_from_the_keyboard_alone() {
    use crate::webdriver::{ENTER, TAB};
    let Some(tools) = tools_or_skip("keyboard use of the pages") else {
        return;
    };
    let l = served_ledger();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    let r = jc.write(
        &serde_json::json!({"op": "record", "id": "K1", "clause": "1.1.b",
        "station": "WJ01", "by": "基层科", "occurred": "2018-06-02", "evidence": ["通报"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    b.run("document.querySelector('details summary').focus(); return true;");
    b.keys(ENTER);
    b.keys(TAB);
    b.keys("抽查有误");
    b.keys(TAB);
    b.keys("录入日志");
    // The file input, then the submit button.
    b.keys(TAB);
    b.keys(TAB);
    let focused = b.run("return document.activeElement.type;");
    assert_eq!(
        focused,
        serde_json::json!("submit"),
        "Tab reaches the button"
    );
    b.run("window.__before = 1; return true;");
    b.keys(ENTER);
    b.wait_for(
        "return document.getElementById('confirm').open === true;",
        "the confirmation",
    );
    b.keys(ENTER);
    b.wait_for(
        "return window.__before === undefined;",
        "the page to reload",
    );
    let appeals = jc.get("/api/v1/appeals");
    assert_eq!(
        appeals.body["appeals"][0]["grounds"], "抽查有误",
        "{}",
        appeals.text
    );
}

/// Guards keyboard-only use of the desk's record form: from the clause search, typing a
/// clause's code chooses it, Tab moves through the labelled fields (the station chosen by
/// typing its code, the date typed in the browser's own order), Enter on the button prepares
/// the record, the dialog shows the points the ledger computed and its arithmetic (计算), and
/// Enter signs it: the record is written, no mouse involved.
#[test]
fn a_record_is_made_from_the_keyboard_alone() {
    use crate::webdriver::{ENTER, TAB};
    let Some(tools) = tools_or_skip("keyboard use of the desk") else {
        return;
    };
    let l = served_ledger();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &key("jc.key"), "/desk");
    b.run("document.getElementById('clause-search').focus(); return true;");
    b.keys("1.1.b");
    assert_eq!(
        b.run("return document.getElementById('clause').value;"),
        serde_json::json!("1.1.b"),
        "typing a clause's code chooses it"
    );
    b.keys(TAB); // the clause
    b.keys(TAB); // the station
    b.keys("WJ02");
    assert_eq!(
        b.run("return document.getElementById('station').value;"),
        serde_json::json!("WJ02"),
        "typing a station's code chooses it"
    );
    b.keys(TAB); // the date, typed in the order the browser shows its parts
    let order = b.run(
        "return new Intl.DateTimeFormat(navigator.language, {year: 'numeric', month: '2-digit', day: '2-digit'}).formatToParts(new Date(2018, 5, 2)).filter(p => p.type !== 'literal').map(p => p.type);",
    );
    for part in order.as_array().expect("the date's parts") {
        b.keys(match part.as_str() {
            Some("year") => "2018",
            Some("month") => "06",
            _ => "02",
        });
    }
    assert_eq!(
        b.run("return document.getElementById('occurred').value;"),
        serde_json::json!("2018-06-02"),
        "the date typed ({order})"
    );
    // Tab leaves the date (the browser may first move through the date's own parts).
    let mut tabs = 0;
    while b.run("return document.activeElement.id;") == serde_json::json!("occurred") && tabs < 4 {
        b.keys(TAB);
        tabs += 1;
    }
    assert_eq!(
        b.run("return document.activeElement.id;"),
        serde_json::json!("note"),
        "Tab leaves the date for the note ({tabs} presses)"
    );
    b.keys("抽查发现未及时录入");
    b.keys(TAB);
    b.keys("常武司基〔2018〕21号 通报");
    b.keys(TAB); // the evidence files
    b.keys(TAB);
    assert_eq!(
        b.run("return document.activeElement.type;"),
        serde_json::json!("submit"),
        "Tab reaches the button"
    );
    b.run("window.__before = 1; return true;");
    b.keys(ENTER);
    b.wait_for(
        "return document.getElementById('confirm').open === true;",
        "the confirmation",
    );
    let field = |name: &str| {
        b.run(&format!(
            "const d = document.querySelector('#confirm dd[data-field={name}]'); return d ? d.textContent : null;"
        ))
    };
    assert_eq!(
        field("computed_points"),
        serde_json::json!("1"),
        "the points"
    );
    assert!(
        field("working").as_str().is_some_and(|w| w.contains('1')),
        "the arithmetic: {}",
        b.text("#confirm")
    );
    assert!(
        b.text("#confirm").contains("计算"),
        "{}",
        b.text("#confirm")
    );
    assert_eq!(
        b.text("#confirm [data-signer]"),
        "部门 基层科",
        "the signer, in Chinese"
    );
    snap(&b, "desk-confirm");
    b.keys(ENTER);
    b.wait_for(
        "return window.__before === undefined;",
        "the page to reload",
    );
    let audit = crate::serve::Client::sign_in(&server, &key("audit.key"));
    let log = audit.get("/api/v1/log?type=points_recorded");
    let line: serde_json::Value =
        serde_json::from_str(log.text.lines().next().expect("the record")).unwrap();
    assert_eq!(
        (&line["clause"], &line["station"], &line["occurred"]),
        (
            &serde_json::json!("1.1.b"),
            &serde_json::json!("WJ02"),
            &serde_json::json!("2018-06-02")
        ),
        "{}",
        log.text
    );
    assert_eq!(line["note"], "抽查发现未及时录入");
    assert_eq!(
        line["evidence"],
        serde_json::json!(["常武司基〔2018〕21号 通报"])
    );
}

/// Guards the auditor's log page: reached from /audit, its filter form (a plain GET form with
/// labelled fields) narrows the table to one station's records, each row in Chinese; a station
/// is refused the page.
#[test]
fn the_auditor_filters_the_log() {
    let Some(tools) = tools_or_skip("the log page") else {
        return;
    };
    let l = served_ledger();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    for (id, clause, station) in [
        ("L1", "1.3.a", "WJ01"),
        ("L2", "1.1.b", "WJ02"),
        ("L3", "1.3.b", "WJ01"),
    ] {
        let r = jc.write(&crate::serve::record(id, clause, station, "基层科"));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &key("audit.key"), "/audit");
    b.click("#log-page");
    b.find("#log-filter");
    let all = b.run("return document.querySelectorAll('#log tbody tr').length;");
    assert!(all.as_u64().unwrap() > 3, "{all}");
    snap(&b, "audit-log");
    clean(&b, &server, "the log page");
    choose(&b, "#log-filter select[name=station]", "WJ01");
    choose(&b, "#log-filter select[name=type]", "points_recorded");
    b.click("#log-filter button[type=submit]");
    b.wait_for(
        "return location.search.includes('station=WJ01');",
        "the filtered page",
    );
    let rows = b.run(
        "return Array.from(document.querySelectorAll('#log tbody tr')).map(r => [r.querySelector('.station').textContent, r.querySelector('.clause').textContent, r.cells[2].textContent]);",
    );
    assert_eq!(
        rows,
        serde_json::json!([["WJ01", "1.3.a", "扣分"], ["WJ01", "1.3.b", "扣分"]]),
        "{}",
        b.text("main")
    );
    assert_eq!(
        b.run("return document.querySelector('#log-filter select[name=station]').value;"),
        serde_json::json!("WJ01"),
        "the form shows the filter"
    );
    snap_at(&b, "audit-log-filtered", Some("#log-count"));
    clean(&b, &server, "the filtered log page");
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    b.goto(&server.url("/audit/log"));
    assert!(
        b.text("h1").contains("无权") && b.text("main").contains("司法所不能查看"),
        "{}",
        b.text("body")
    );
}

/// Guards the bureau's year end: a station's year-end figure that fails a standard with no
/// deduction recorded is listed on /bureau before the close, with the field for the reason to
/// accept it; closed with a reason, the page shows the final ranking, the accepted gaps with
/// the reason, and the report to download.
#[test]
fn the_bureau_sees_the_gaps_before_closing() {
    let Some(tools) = tools_or_skip("the bureau's year end") else {
        return;
    };
    let l = served_ledger();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    let m = jc.write(
        &serde_json::json!({"op": "metric", "id": "M1", "station": "WJ01",
        "metric": "dispute_entry_rate", "value": "90", "by": "基层科",
        "occurred": "2018-12-31", "evidence": ["年终统计表"]}),
    );
    assert_eq!(m.status, 200, "{}", m.text);
    let r = jc.write(&crate::serve::record("D2", "1.3.a", "WJ02", "基层科"));
    assert_eq!(r.status, 200, "{}", r.text);
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &l.bureau_key(), "/bureau");
    b.find("#gaps");
    let gap = b.text("#gaps tbody tr");
    assert!(
        gap.contains("WJ01") && gap.contains("1.1.a") && gap.contains("人民调解纠纷录入率"),
        "{gap}"
    );
    assert!(b.text("#no-pending").contains("没有"), "{}", b.text("main"));
    snap_at(&b, "bureau-gaps", Some("#year-end"));
    clean(&b, &server, "bureau with gaps");
    b.type_in("#close-reason", "录入率口径经局务会认定，本年度不扣分");
    submit_and_sign(&b, "form[data-op=close]");
    assert!(b.text("#closed").contains("结算"), "{}", b.text("main"));
    assert!(
        b.text("#accepted-gaps").contains("1.1.a"),
        "{}",
        b.text("main")
    );
    assert!(b.text("#year-end").contains("局务会"), "{}", b.text("main"));
    let ranks = b.run(
        "return Array.from(document.querySelectorAll('#scores tbody tr td:first-child')).map(t => t.textContent);",
    );
    assert_eq!(ranks, serde_json::json!(["1", "2"]), "the final ranking");
    b.find("#report");
    snap_at(&b, "bureau-closed-gaps", Some("#year-end"));
    clean(&b, &server, "bureau closed with gaps");
}

/// Guards what the deciding department sees beside an appeal (the deduction's own evidence
/// as downloads, its note and arithmetic, next to the station's grounds and evidence), and the
/// station's page after the decision: records under their category, item and clause, each
/// record's history in Chinese (the appeal, the decision with its outcome, a reversal), and
/// its receipt to download once a checkpoint covers it.
#[test]
fn the_desk_shows_the_deduction_beside_the_appeal() {
    let Some(tools) = tools_or_skip("the desk's appeals") else {
        return;
    };
    let l = served_ledger();
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let server = Server::start(&l);
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    let wj01 = crate::serve::Client::sign_in(&server, &key("wj01.key"));
    let up = jc.upload("抽查通报.pdf", b"%PDF-1.4 notice");
    assert_eq!(up.status, 200, "{}", up.text);
    let reference = up.body["reference"].as_str().unwrap().to_string();
    let r = jc.write(
        &serde_json::json!({"op": "record", "id": "E1", "clause": "1.1.b",
        "station": "WJ01", "by": "基层科", "occurred": "2018-06-02", "note": "抽查发现延迟录入三件",
        "evidence": [reference, "常武司基〔2018〕21号"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let e1 = r.body["seq"].as_u64().unwrap();
    let r = jc.write(&crate::serve::record("E2", "1.3.a", "WJ01", "基层科"));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = jc.write(
        &serde_json::json!({"op": "reverse", "id": "V1", "target": "E2", "by": "基层科",
        "reason": "录错司法所", "evidence": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = wj01.write(
        &serde_json::json!({"op": "appeal", "id": "P1", "against": "E1", "station": "WJ01",
        "grounds": "三件均在时限内录入", "evidence": ["系统录入日志"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // A checkpoint covers the records: their receipts can be downloaded.
    drop((jc, wj01));
    assert_eq!(server.stop(), 0);
    l.ok(&["--key", &l.bureau_key(), "checkpoint"]);
    let server = Server::start(&l);

    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &key("jc.key"), "/desk");
    let against = b.text(".appeal .against");
    for shown in [
        "1.1.b",
        "抽查发现延迟录入三件",
        "计算",
        "常武司基〔2018〕21号",
        "抽查通报.pdf",
    ] {
        assert!(against.contains(shown), "{shown} in {against}");
    }
    assert!(
        b.text(".appeal .grounds").contains("三件均在时限内录入"),
        "{}",
        b.text(".appeal")
    );
    // The deduction's file, fetched from its link as the department's browser would.
    b.run(
        "fetch(document.querySelector('.appeal .record-evidence a').getAttribute('href')).then(r => r.text()).then(t => { window.__file = t; }); return true;",
    );
    b.wait_for("return window.__file !== undefined;", "the evidence file");
    assert_eq!(
        b.run("return window.__file;"),
        serde_json::json!("%PDF-1.4 notice")
    );
    snap_at(&b, "desk-appeal-evidence", Some(".appeal"));
    clean(&b, &server, "desk with an appeal");
    choose(&b, "form[data-op=decide] select[name=outcome]", "partial");
    b.type_in("form[data-op=decide] input[name=points]", "0.5");
    b.type_in("form[data-op=decide] textarea[name=reason]", "一件超时");
    b.type_in("form[data-op=decide] textarea[name=evidence]", "复核意见书");
    submit_and_sign(&b, "form[data-op=decide]");
    assert!(b.text("#no-appeals").contains("没有"), "{}", b.text("main"));

    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    let categories = b.run(
        "return Array.from(document.querySelectorAll('h2.category')).map(h => h.textContent);",
    );
    assert_eq!(
        categories.as_array().map(Vec::len),
        Some(1),
        "one category: {categories}"
    );
    assert!(
        categories[0].as_str().unwrap().starts_with("1 "),
        "{categories}"
    );
    let history = b
        .run("return Array.from(document.querySelectorAll('ol.history')).map(h => h.textContent);");
    let history = history.to_string();
    for shown in [
        "提出申诉",
        "三件均在时限内录入",
        "部分成立",
        "一件超时",
        "已撤销",
        "录错司法所",
    ] {
        assert!(history.contains(shown), "{shown} in {history}");
    }
    assert!(!history.contains("appeal_"), "no type names: {history}");
    let receipt = format!("a[href='/api/v1/receipt/{e1}']");
    b.find(&receipt);
    b.run(&format!(
        "fetch(document.querySelector(\"{receipt}\").getAttribute('href')).then(r => r.json()).then(j => {{ window.__receipt = j; }}); return true;"
    ));
    b.wait_for("return window.__receipt !== undefined;", "the receipt");
    assert_eq!(
        b.run("return window.__receipt.event.seq;"),
        serde_json::json!(e1),
        "{}",
        b.run("return JSON.stringify(window.__receipt);")
    );
    snap_at(&b, "station-history", Some("ol.history"));
    clean(&b, &server, "station with history");
}

/// Guards the pages' refusals: a record the ledger refuses shows, beside the field it is
/// about, the ledger's reason in Chinese (the JSON's `error_zh`, saying what the command
/// line says), and nothing is signed or written.
#[test]
fn a_refusal_is_shown_in_chinese_beside_its_field() {
    let Some(tools) = tools_or_skip("refusals on the desk") else {
        return;
    };
    let l = served_ledger();
    let before = l.event_count();
    let server = Server::start(&l);
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, l.path("jc.key").to_str().unwrap(), "/desk");
    let cases = [
        // (clause, value, occurred, the field named, words of the Chinese reason)
        (
            "1.3.a",
            "",
            "2017-12-31",
            "occurred",
            "不在考核期 2018-01-01 至 2018-12-31 之内",
        ),
        ("1.1.a", "100", "2018-06-02", "value", "已达标准"),
        ("1.1.a", "abc", "2018-06-02", "value", "“abc”不是数字"),
    ];
    for (clause, value, occurred, field, words) in cases {
        b.goto(&server.url("/desk"));
        choose(&b, "#clause", clause);
        choose(&b, "#station", "WJ01");
        choose(&b, "#occurred", occurred);
        if !value.is_empty() {
            choose(&b, "#record input[name=value]", value);
        }
        choose(&b, "#evidence", "常武司基〔2018〕21号");
        b.click("#record button[type=submit]");
        let shown = format!("#record [data-error-for={field}]");
        b.wait_for(
            &format!("const e = document.querySelector({shown:?}); return e && !e.hidden;"),
            &format!("the refusal beside {field}"),
        );
        let text = b.text(&shown);
        assert!(text.contains(words), "{clause} {field}: {text}");
        assert!(
            !text.contains("is "),
            "{clause} {field}: English shown: {text}"
        );
        assert_eq!(
            b.run("return document.getElementById('confirm').open;"),
            serde_json::json!(false),
            "nothing to sign"
        );
        if field == "occurred" {
            snap_at(&b, "desk-refusal", Some("#record"));
        }
    }
    // The refusals are 400s, which the console lists; nothing else may be there.
    let errors: Vec<String> = b
        .console_errors()
        .into_iter()
        .filter(|e| !e.contains("status of 400"))
        .collect();
    assert!(errors.is_empty(), "console errors {errors:?}");
    drop(b);
    drop(server);
    assert_eq!(l.event_count(), before, "nothing written");
}

/// The 2018 rubric with a consequences table (`schema/RUBRIC.md`, *Consequences*): money per
/// point for the towns, a threshold, the first place and the last.
fn consequences_rubric(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(crate::harness::rubric_path()).expect("the 2018 rubric");
    let path = dir.join("rubric-consequences.toml");
    std::fs::write(
        &path,
        format!(
            "{text}\n[[consequence]]\nkind = \"money\"\nlabel = \"考核奖励\"\nper_point = \"10\"\ngroup = \"town\"\n\n[[consequence]]\nkind = \"below\"\nbelow = \"99.5\"\nlabel = \"取消补助\"\n\n[[consequence]]\nkind = \"top\"\nplaces = 1\nlabel = \"先进\"\n\n[[consequence]]\nkind = \"last\"\nlabel = \"取消评优资格\"\n"
        ),
    )
    .expect("write the rubric");
    path
}

/// Guards the consequences on the pages: before the close the ranking (the bureau's, the
/// auditor's) and a station's own page say that 考核结果 is decided at the close and show none;
/// after it the final ranking has a 考核结果 column with each station's consequences as
/// `score` shows them (the amount for money), and the station's page its own.
#[test]
fn the_pages_show_the_consequences_of_the_final_scores() {
    let Some(tools) = tools_or_skip("the consequences on the pages") else {
        return;
    };
    let rubric_dir = tempfile::tempdir().expect("temp dir");
    let l = crate::serve::served_ledger_with(&consequences_rubric(rubric_dir.path()));
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let jc = crate::serve::Client::sign_in(&server, &key("jc.key"));
    let r = jc.write(&crate::serve::record("K1", "1.1.b", "WJ01", "基层科"));
    assert_eq!(r.status, 200, "{}", r.text);
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    let columns =
        "return Array.from(document.querySelectorAll('#scores thead th')).map(t => t.textContent);";

    // Before the close: a note, no column, nothing on the station's page.
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    let note = b.text("#consequences-pending");
    assert!(
        note.contains("年度结算后") && note.contains("考核奖励"),
        "{note}"
    );
    assert_eq!(
        b.run("return document.getElementById('consequences') === null;"),
        true
    );
    clean(&b, &server, "station before the close");
    sign_in(&b, &server, &l.bureau_key(), "/bureau");
    assert!(b.text("#consequences-pending").contains("年度结算后"));
    assert!(!b.run(columns).to_string().contains("考核结果"));
    snap(&b, "bureau-consequences-pending");

    // The bureau closes: the final ranking with its consequences.
    submit_and_sign(&b, "form[data-op=close]");
    assert!(b.text("#closed").contains("结算"), "{}", b.text("main"));
    assert!(b.run(columns).to_string().contains("考核结果"));
    let cells = b.run(
        "return Array.from(document.querySelectorAll('#scores tbody tr')).map(r => [r.cells[1].textContent, r.querySelector('td.consequences').textContent]);",
    );
    assert_eq!(
        cells,
        serde_json::json!([
            ["WJ02 南夏墅街道司法所", "先进"],
            ["WJ01 湖塘司法所", "考核奖励 990；取消补助；取消评优资格"],
        ]),
        "the final ranking's consequences"
    );
    assert_eq!(
        b.run("return document.getElementById('consequences-pending') === null;"),
        true
    );
    snap_at(&b, "bureau-consequences", Some("#scores"));
    clean(&b, &server, "bureau with consequences");

    // The auditor's ranking shows them too.
    sign_in(&b, &server, &key("audit.key"), "/audit");
    assert!(
        b.text("#scores")
            .contains("考核奖励 990；取消补助；取消评优资格"),
        "{}",
        b.text("#scores")
    );

    // The station's own page.
    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    assert_eq!(
        b.text("#consequences"),
        "考核结果：考核奖励 990；取消补助；取消评优资格"
    );
    snap(&b, "station-consequences");
    clean(&b, &server, "station with consequences");
    // In a view before the close, none yet.
    let closed_at = jc.get("/api/v1/score").body["closed_at_seq"]
        .as_u64()
        .expect("closed");
    b.goto(&server.url(&format!("/station/WJ01?as_of_seq={}", closed_at - 1)));
    assert!(b.text("#consequences-pending").contains("年度结算后"));
    drop(b);
    assert_eq!(server.stop(), 0);
    // The same text as the command line's 考核结果 column.
    let table = l.ok(&["score"]);
    assert!(
        table.contains("考核奖励 990；取消补助；取消评优资格"),
        "{table}"
    );
}

/// The texts of the cells of each row of the table `css` (`th` of the head, `td` of the body).
fn cells(b: &Browser, css: &str) -> Vec<Vec<String>> {
    let v = b.run(&format!(
        "return Array.from(document.querySelectorAll({css:?})).map(r => Array.from(r.cells).map(c => c.textContent.trim()));"
    ));
    serde_json::from_value(v).expect("rows of cells")
}

/// Guards issue 16 ("every view shows each part and the combined score") on the pages, under
/// the 2019 rubric of four sheets: the rankings of /audit and /bureau have a column per sheet
/// (its weight in the head) beside the combined total, with a line on the weights; a station's
/// page shows its sheets, their weights and the weighted sum written out (总分 96.09 = 0.2 ×
/// 96.25 + …), and each record the sheet it counts on (计入：下半年·区局) and, where a
/// sub-part's floor or points kept it from counting in full, that limit, in Chinese. The
/// figures are fixtures/README.md's.
#[test]
fn the_pages_show_each_sheet_and_the_combined_total() {
    let Some(tools) = tools_or_skip("the sheets on the pages") else {
        return;
    };
    let l = crate::serve::served_2019();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    let heads = [
        "上半年·区局 20%",
        "上半年·镇街 20%",
        "下半年·区局 30%",
        "下半年·镇街 30%",
    ];
    let check_ranking = |page: &str| {
        let head = cells(&b, "#scores thead tr");
        assert_eq!(
            head[0][2..7],
            ["总分", heads[0], heads[1], heads[2], heads[3]],
            "{page}: {head:?}"
        );
        let rows = cells(&b, "#scores tbody tr");
        let row = |code: &str| {
            rows.iter()
                .find(|r| r[1].starts_with(code))
                .unwrap_or_else(|| panic!("{page}: {code} in {rows:?}"))
                .clone()
        };
        assert_eq!(
            row("WJ01")[..7],
            [
                "12",
                "WJ01 湖塘司法所",
                "96.09",
                "96.25",
                "97.4",
                "91.2",
                "100"
            ]
        );
        assert_eq!(row("WJ02")[2..7], ["92.45", "90", "100", "98", "83.5"]);
        assert_eq!(row("WJ13")[..3], ["1", "WJ13 西湖街道司法所", "101.5"]);
        let weights = b.text("#weights");
        assert!(
            weights.contains("加权和") && heads.iter().all(|h| weights.contains(h)),
            "{page}: {weights}"
        );
    };

    sign_in(&b, &server, &key("audit.key"), "/audit");
    check_ranking("/audit");
    snap_at(&b, "audit-sheets", Some("#scores"));
    clean(&b, &server, "audit with sheets");

    sign_in(&b, &server, &l.bureau_key(), "/bureau");
    check_ranking("/bureau");
    snap_at(&b, "bureau-sheets", Some("#scores"));
    clean(&b, &server, "bureau with sheets");

    sign_in(&b, &server, &key("wj01.key"), "/station/WJ01");
    assert_eq!(
        cells(&b, "#sheets tbody tr"),
        [
            ["上半年·区局", "20%", "3.75", "0", "96.25", "19.25"],
            ["上半年·镇街", "20%", "2.6", "0", "97.4", "19.48"],
            ["下半年·区局", "30%", "11.8", "3", "91.2", "27.36"],
            ["下半年·镇街", "30%", "0", "0", "100", "30"],
        ]
    );
    assert_eq!(
        b.text("#weighted-sum"),
        "总分 96.09 = 0.2 × 96.25 + 0.2 × 97.4 + 0.3 × 91.2 + 0.3 × 100"
    );
    // Each label once: the two money rows (town, subdistrict) share 考核奖励.
    assert_eq!(
        b.text("#consequences-pending"),
        "考核结果（考核奖励、取消补助、先进、取消一切评优资格）在年度结算后按最终得分确定。"
    );
    // Each record: the sheet it counts on, and the limit that bit (G020: ten committees
    // missing, 50, stop at sub-part 1.1.1's floor: 40).
    let records = b.run(
        "return Array.from(document.querySelectorAll('ul.events > li')).map(li => li.textContent);",
    );
    let records: Vec<String> = serde_json::from_value(records).unwrap();
    let of = |id: &str| {
        records
            .iter()
            .find(|r| r.contains(&format!(" · {id} · ")))
            .unwrap_or_else(|| panic!("{id} in {records:?}"))
            .clone()
    };
    let g020 = of("G020");
    assert!(g020.contains("计入：下半年·区局"), "{g020}");
    assert!(
        g020.contains("受限：分项 1.1.1 组织网络最低保留 20 分，本条现行 50 分，计入 40 分"),
        "{g020}"
    );
    let g004 = of("G004");
    assert!(
        g004.contains("计入：上半年·区局") && !g004.contains("受限"),
        "{g004}"
    );
    assert!(of("G013").contains("计入：上半年·镇街"));
    assert!(of("G027").contains("计入：下半年·区局"));
    snap(&b, "station-sheets");
    snap_at(&b, "station-sheets-limit", Some("div.limit"));
    clean(&b, &server, "station with sheets");
    // Another station: a severe finding capped by its sub-part's points.
    sign_in(&b, &server, &key("audit.key"), "/audit");
    b.goto(&server.url("/station/WJ02"));
    assert_eq!(
        b.text("#weighted-sum"),
        "总分 92.45 = 0.2 × 90 + 0.2 × 100 + 0.3 × 98 + 0.3 × 83.5"
    );
    let limit = b.text("div.limit");
    assert_eq!(
        limit,
        "受限：分项 1.1.1 组织网络满分 60 分，本条现行 60 分，计入 40 分"
    );
}

/// Guards the desk's record form under the new rule kinds, in a real browser: the date is
/// named by the clause's attribution (发生日期, 结果发生日期, 发现日期); a graded clause asks
/// 评定得分 (and not the 数值 of the metric rules); a score in no grade is refused with the
/// ledger's Chinese reason beside the 评定得分 field, nothing signed; a score within a grade is
/// signed and committed, counts on its sheet (下半年·镇街), and the station's page shows it.
#[test]
fn a_graded_score_is_recorded_from_the_desk() {
    let Some(tools) = tools_or_skip("graded scores on the desk") else {
        return;
    };
    let l = crate::serve::served_2019();
    let server = Server::start(&l);
    let key = |n: &str| l.path(n).to_str().unwrap().to_string();
    let audit = crate::serve::Client::sign_in(&server, &key("audit.key"));
    let graded = || {
        let log = audit.get("/api/v1/log?station=WJ03&clause=1.2.a");
        log.text.lines().count()
    };
    let b = Browser::start(&tools, &l.path("profile"), 1280, 900);
    sign_in(&b, &server, &key("zj.key"), "/desk");
    let date_label = || b.text("label[for=occurred]");
    for (clause, label) in [
        ("2.1.a", "发现日期"),
        ("2.1.b", "结果发生日期"),
        ("1.2.a", "发生日期"),
    ] {
        choose(&b, "#clause", clause);
        assert_eq!(date_label(), label, "{clause}");
    }
    let visible = |css: &str| {
        b.run(&format!(
            "const e = document.querySelector({css:?}); return !!e && e.offsetParent !== null;"
        ))
    };
    assert_eq!(visible("[data-for-kinds=graded] input[name=value]"), true);
    assert_eq!(
        visible("[data-for-kinds='below at_least shortfall'] input[name=value]"),
        false
    );
    assert!(b.text("[data-for-kinds=graded]").contains("评定得分"));
    assert!(
        b.text("[data-for-kinds=graded] ul.grades")
            .contains("1.2.a：A 95–100 工作规范，成效显著"),
        "{}",
        b.text("[data-for-kinds=graded]")
    );

    clean(&b, &server, "desk with a graded clause");

    // A score in the gap between grade B (85–94) and grade A (95–100): refused beside the field.
    choose(&b, "#station", "WJ03");
    choose(&b, "#occurred", "2019-08-01");
    choose(&b, "[data-for-kinds=graded] input[name=value]", "94.5");
    choose(&b, "#evidence", "洛阳镇调解工作评定表");
    b.click("#record button[type=submit]");
    let beside = "[data-for-kinds=graded] [data-error-for=value]";
    b.wait_for(
        &format!("const e = document.querySelector({beside:?}); return !!e && e.offsetParent !== null && e.textContent !== '';"),
        "the refusal beside 评定得分",
    );
    let said = b.text(beside);
    assert!(
        said.contains("「评定得分」") && said.contains("得分 94.5 不在任何档次内"),
        "{said}"
    );
    assert!(!said.contains("lies in"), "English shown: {said}");
    assert_eq!(
        b.run("return document.activeElement === document.querySelector('[data-for-kinds=graded] input[name=value]');"),
        true,
        "the graded field has the focus"
    );
    assert_eq!(
        b.run("return document.getElementById('confirm').open;"),
        false,
        "nothing to sign"
    );
    snap_at(&b, "desk-graded-refusal", Some("[data-for-kinds=graded]"));
    assert_eq!(graded(), 0, "nothing written");

    // Within grade B: signed and committed.
    choose(&b, "[data-for-kinds=graded] input[name=value]", "88");
    b.run("window.__before = performance.timeOrigin; return true;");
    b.click("#record button[type=submit]");
    b.wait_for(
        "return document.getElementById('confirm').open === true;",
        "the confirmation",
    );
    let working = b.text("#confirm dd[data-field=working]");
    assert!(working.contains("B") && working.contains("12"), "{working}");
    snap(&b, "desk-graded-confirm");
    b.click("#confirm button[value=sign]");
    b.wait_for(
        "return window.__before === undefined;",
        "the page to reload after the commit",
    );
    // The refusal was a 400, which the console lists; nothing else may be there.
    let errors: Vec<String> = b
        .console_errors()
        .into_iter()
        .filter(|e| !e.contains("status of 400"))
        .collect();
    assert!(errors.is_empty(), "console errors {errors:?}");
    assert_eq!(graded(), 1, "the record written");
    let x = audit.get("/api/v1/stations/WJ03/explain?item=1.2").body;
    let e = &x["items"][0]["clauses"][0]["events"][0];
    assert_eq!(
        (
            &e["value"],
            &e["computed_points"],
            &e["grade"],
            &e["sheet"],
            &e["by"]
        ),
        (
            &serde_json::json!("88"),
            &serde_json::json!("12"),
            &serde_json::json!("B"),
            &serde_json::json!("下半年·镇街"),
            &serde_json::json!("镇街考核办")
        ),
        "{e}"
    );
    // 下半年·镇街 was 96 (G024); the grade takes 15 × 12/100 = 1.8: 94.2; total 98.8 − 0.3 × 1.8.
    assert_eq!(x["total"], "98.26", "{x}");
    sign_in(&b, &server, &key("audit.key"), "/audit");
    b.goto(&server.url("/station/WJ03"));
    assert!(
        b.text("main").contains("计入：下半年·镇街"),
        "{}",
        b.text("main")
    );
}
