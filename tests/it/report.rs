//! `kaohe report` (issue 5): one self-contained HTML file for people.
//!
//! - The bundled year with appeals (partial, rejected, pending), a reversal and a station whose
//!   name, evidence and grounds hold `<script>` and `&`: the HTML is checked in Rust (every
//!   station, ranking figures, clause wording, hashes, appeal history, escaping, no external
//!   resource, the two SVG charts, print CSS, the closing section), in the whole ledger and in
//!   a cut view, with `--station`, and after `kaohe close`.
//! - The report's per-station stories (`explain::explain_scored`, one ranking for every
//!   station) equal `explain` station by station in many views.
//! - The command line: atomic write, a directory or a missing directory refused with exit 2.
//! - A real headless browser (Debian's chromium; `KAOHE_CHROMIUM` or `chromium` /
//!   `chromium-browser` on PATH): the page loads without console errors, the DOM shows every
//!   station, and it prints to a PDF of more pages than stations. Without a browser the test
//!   fails when `CI` is set and is skipped (with a note) otherwise.

use crate::harness::{fixture_path, TestLedger};
use kaohe::render::report::escape;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A station name, evidence and grounds that would run or inject markup if not escaped.
const NASTY_NAME: &str = "<script>alert(1)</script>&测试司法所";
const NASTY_EVIDENCE: &str = "<script>alert('证据')</script> & <b>粗体</b> \"引号\"";
const NASTY_GROUNDS: &str = "理由 <script>document.write('x')</script> & 其他";

/// The bundled year, then: D008 (3.4.a, WJ02, 社矫科) appealed and partly upheld (0.5 → 0.2);
/// D007 (3.1.e, WJ07, 社矫科) appealed and rejected; D010 (1.7.a, WJ04, 基层科) appealed and
/// pending; D003 (2.1.f, WJ04, 公律科) reversed; WJ99 with markup in its name, a record whose
/// evidence holds markup, appealed with markup in the grounds.
fn wujin_with_appeals() -> TestLedger {
    let l = TestLedger::new();
    l.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    let lines = [
        serde_json::json!({"op":"station","code":"WJ99","name":NASTY_NAME,"kind":"subdistrict"}),
        serde_json::json!({"op":"record","id":"X1","clause":"1.3.d","station":"WJ99","by":"基层科","occurred":"2018-06-01","evidence":[NASTY_EVIDENCE, "常武司基〔2018〕20号"]}),
        serde_json::json!({"op":"appeal","id":"A1","against":"D008","station":"WJ02","grounds":"信息采集已于当日补录，通报所列系系统延迟","evidence":["信息采集补录截图","系统日志"]}),
        serde_json::json!({"op":"decide","appeal":"A1","outcome":"partial","points":"0.2","by":"社矫科","reason":"补录属实，系统延迟部分不予扣分","evidence":["复核意见书〔2019〕1号"]}),
        serde_json::json!({"op":"appeal","id":"A2","against":"D007","station":"WJ07","grounds":"该对象系经批准外出","evidence":["外出审批表"]}),
        serde_json::json!({"op":"decide","appeal":"A2","outcome":"rejected","by":"社矫科","reason":"审批表日期晚于失联日期，不予采信","evidence":["复核意见书〔2019〕2号"]}),
        serde_json::json!({"op":"appeal","id":"A3","against":"D010","station":"WJ04","grounds":"上访系个人原因，非处置不力","evidence":["调解卷宗"]}),
        serde_json::json!({"op":"reverse","id":"R1","target":"D003","by":"公律科","reason":"录错站点","evidence":["更正说明"]}),
        serde_json::json!({"op":"appeal","id":"A4","against":"X1","station":"WJ99","grounds":NASTY_GROUNDS,"evidence":[NASTY_EVIDENCE]}),
    ];
    let text: String = lines.iter().map(|v| format!("{v}\n")).collect();
    let out = l.import(&text);
    assert_eq!(out.code, 0, "import failed: {}{}", out.stdout, out.stderr);
    l
}

/// Guards issue 16 in the report, under the 2019 rubric of four sheets (two half-years × two
/// assessors; figures worked out in fixtures/README.md): a line says how the weights make the
/// total, the ranking has a column per sheet (its weight in the head) beside the combined
/// total, and a station's section shows its sheets with their weights and the weighted sum
/// written out, and each record the sheet it counts on and the sub-part's limit that bit it.
/// A rubric of one sheet shows none of it.
#[test]
fn a_report_of_several_sheets_shows_each_sheet_and_the_weighted_sum() {
    let mut l = TestLedger::empty();
    l.now = "2020-01-10T08:00:00Z".into();
    let rubric = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/rubric-2019.toml");
    l.ok(&["init", "--rubric", rubric.to_str().unwrap()]);
    l.ok(&["import", fixture_path("wujin-2019.jsonl").to_str().unwrap()]);
    let (html, _, _) = report(&l, "2019.html", &[]);
    check_page(&html);
    // Regression (found exploring): a category's row added its weighted indicators on their
    // own 100-point scales. WJ01's category 1 counts 1.1 (0.2 × 3.75 + 0.3 × 10) and 1.2
    // (0.2 × 0.6 + 0.3 × 1.8): 4.41, and WJ02's 0.3 × 16.5 = 4.95.
    for cell in ["−4.41", "−4.95"] {
        let row = format!("<td>1 人民调解</td><td class=\"n\">40</td><td class=\"n neg\">{cell}<");
        assert!(html.contains(&row), "{row}");
    }
    let ranking = between(&html, "<h2 id=\"ranking\">", "</table>");
    let weights = between(ranking, "<p class=\"weights\">", "</p>");
    for part in [
        "总分为各评分表得分的加权和",
        "区局 50%、镇街 50%",
        "上半年 40%、下半年 60%",
        "上半年·区局 20%，上半年·镇街 20%，下半年·区局 30%，下半年·镇街 30%",
    ] {
        assert!(weights.contains(part), "{part} in {weights}");
    }
    assert!(
        ranking.contains(
            "<th class=\"n\">总分</th><th class=\"n\">上半年·区局<br>20%</th><th class=\"n\">上半年·镇街<br>20%</th>\
             <th class=\"n\">下半年·区局<br>30%</th><th class=\"n\">下半年·镇街<br>30%</th><th class=\"n\">扣分</th>"
        ),
        "{ranking}"
    );
    for (code, cells) in [
        ("WJ01", "<b>96.09</b></td><td class=\"n\">96.25</td><td class=\"n\">97.4</td><td class=\"n\">91.2</td><td class=\"n\">100</td>"),
        ("WJ02", "<b>92.45</b></td><td class=\"n\">90</td><td class=\"n\">100</td><td class=\"n\">98</td><td class=\"n\">83.5</td>"),
        ("WJ13", "<b>101.5</b></td><td class=\"n\">100</td><td class=\"n\">100</td><td class=\"n\">100</td><td class=\"n\">105</td>"),
    ] {
        let row = ranking
            .lines()
            .find(|r| r.contains(&format!(">{code}</a>")))
            .unwrap_or_else(|| panic!("{code}'s row"));
        assert!(row.contains(cells), "{code}: {row}");
    }
    // WJ01's section: its sheets and the weighted sum.
    let wj01 = between(&html, "WJ01 湖塘司法所（镇）</h2>", "</section>");
    let sheets = between(wj01, "<table class=\"sheets\">", "</table>");
    for row in [
        "<td>上半年·区局</td><td class=\"n\">20%</td><td class=\"n neg\">−3.75</td><td class=\"n pos\">0</td><td class=\"n\"><b>96.25</b></td><td class=\"n\">19.25</td>",
        "<td>下半年·区局</td><td class=\"n\">30%</td><td class=\"n neg\">−11.8</td><td class=\"n pos\">+3</td><td class=\"n\"><b>91.2</b></td><td class=\"n\">27.36</td>",
        "<td>下半年·镇街</td><td class=\"n\">30%</td><td class=\"n neg\">0</td><td class=\"n pos\">0</td><td class=\"n\"><b>100</b></td><td class=\"n\">30</td>",
    ] {
        assert!(sheets.contains(row), "{row} in {sheets}");
    }
    assert!(
        wj01.contains("总分 <b>96.09</b> = 0.2 × 96.25 + 0.2 × 97.4 + 0.3 × 91.2 + 0.3 × 100"),
        "{wj01}"
    );
    // G020: ten committees missing (50) stop at sub-part 1.1.1's floor (40), on 下半年·区局.
    let g020 = between(wj01, "计算 −50", "</table>");
    assert!(
        g020.contains("计入 −40（受限于分项 1.1.1 组织网络最低保留 20 分）"),
        "{g020}"
    );
    assert!(
        g020.contains("<th>评分表</th><td colspan=\"3\">计入下半年·区局</td>"),
        "{g020}"
    );
    // WJ02's severe finding: the sub-part's 60 points, 20 of which G019 had taken.
    let wj02 = between(&html, "WJ02 牛塘司法所（镇）</h2>", "</section>");
    assert!(
        wj02.contains("总分 <b>92.45</b> = 0.2 × 90 + 0.2 × 100 + 0.3 × 98 + 0.3 × 83.5"),
        "{wj02}"
    );
    assert!(
        wj02.contains("计入 −40（受限于分项 1.1.1 组织网络满分 60 分）"),
        "{wj02}"
    );

    // A rubric of one sheet: none of it.
    let one = TestLedger::new();
    one.ok(&["import", fixture_path("wujin-2018.jsonl").to_str().unwrap()]);
    let (html, _, _) = report(&one, "2018.html", &[]);
    for absent in [
        "class=\"weights\"",
        "class=\"sheets\"",
        "各评分表得分",
        "受限于",
        "计入下半年",
    ] {
        assert!(!html.contains(absent), "{absent} in a report of one sheet");
    }
}

/// Runs `kaohe report --out FILE args…` and returns the HTML and what it printed.
fn report(l: &TestLedger, name: &str, args: &[&str]) -> (String, String, PathBuf) {
    let file = l.path(name);
    let mut a = vec!["report", "--out", file.to_str().unwrap()];
    a.extend_from_slice(args);
    let stdout = l.ok(&a);
    let html = std::fs::read_to_string(&file).expect("the report exists");
    let mut tmp = file.clone().into_os_string();
    tmp.push(".tmp");
    assert!(
        !Path::new(&tmp).exists(),
        "the temporary file is left behind"
    );
    (html, stdout, file)
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in the report"))
        + start.len();
    let to = text[from..].find(end).map_or(text.len(), |i| from + i);
    &text[from..to]
}

fn head_hash(l: &TestLedger) -> String {
    let out = l.ok(&["verify", "--json"]);
    let v: Value = serde_json::from_str(&out).expect("verify json");
    v["head"].as_str().expect("head").to_string()
}

/// Checks that hold for every report: a self-contained page with its structure.
fn check_page(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"), "doctype");
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_lowercase();
    for external in [
        "http://",
        "https://",
        "src=",
        "url(",
        "@import",
        "<link",
        "<iframe",
        "<object",
        "<embed",
        "<img",
        "<script",
        "javascript:",
        "xlink:href",
    ] {
        assert!(
            !lower.contains(external),
            "the report holds `{external}` (markup or an external resource)"
        );
    }
    // Every link is to an anchor of the page itself, and every anchor exists.
    for part in html.split("href=\"").skip(1) {
        let target = &part[..part.find('"').expect("closed href")];
        let id = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("link to `{target}` leaves the page"));
        assert!(html.contains(&format!("id=\"{id}\"")), "no anchor `{id}`");
    }
    assert_eq!(html.matches("<svg").count(), 2, "two inline SVG charts");
    assert_eq!(html.matches("</svg>").count(), 2);
    for label in ["总分（分）", "站点数", "扣分合计（分）", "类别"] {
        assert!(
            between(html, "<h2 id=\"charts\">", "</div>").contains(label),
            "axis label {label}"
        );
    }
    for css in ["@page", "size: A4", "break-before: page", "@media print"] {
        assert!(html.contains(css), "print CSS `{css}`");
    }
    for label in ["排名", "名次", "站点", "总分", "扣分", "加分", "封账与验证"] {
        assert!(html.contains(label), "label {label}");
    }
}

#[test]
fn the_report_tells_every_station_and_deduction() {
    let l = wujin_with_appeals();
    let (html, stdout, file) = report(&l, "wujin-2018.html", &[]);
    check_page(&html);
    assert!(
        stdout.starts_with(&format!(
            "wrote {}: 16 stations ranked, 16 station sections",
            file.display()
        )),
        "{stdout}"
    );
    assert!(html.contains("2018年度基层司法行政绩效考核细则"));
    assert!(html.contains("常武司字〔2018〕48号"));
    assert!(html.contains("2018-01-01 至 2018-12-31"));

    // The ranking table: every station with its rank and figures, in rank order.
    let scores = l.scores();
    let stations = scores["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 16);
    let table = between(&html, "<table class=\"ranking\">", "</table>");
    let mut last_place = 0;
    for s in stations {
        let code = s["station"].as_str().unwrap();
        let row_at = table
            .find(&format!(">{}</a></td>", escape(code)))
            .unwrap_or_else(|| panic!("{code} is not in the ranking"));
        assert!(row_at > last_place, "{code} out of rank order");
        last_place = row_at;
        let row = between(&table[row_at..], "", "</tr>");
        let total = s["total"].as_str().unwrap();
        assert!(
            row.contains(&format!("<b>{total}</b>")),
            "{code} total {total}: {row}"
        );
        assert!(
            row.contains(&escape(s["name"].as_str().unwrap())),
            "{code} name"
        );
        let rank = s["rank"].as_u64().unwrap();
        let row_start = table[..row_at].rfind("<tr>").unwrap();
        assert!(
            table[row_start..].starts_with(&format!("<tr><td class=\"n\">{rank}</td>")),
            "{code} rank {rank}"
        );
    }

    // Every station has its section (registration order), and the figures of its header.
    let sections: Vec<&str> = html.split("<section class=\"station\"").skip(1).collect();
    assert_eq!(sections.len(), 16);
    let codes: Vec<String> = (1..=15)
        .map(|i| format!("WJ{i:02}"))
        .chain(["WJ99".to_string()])
        .collect();
    for (section, code) in sections.iter().zip(&codes) {
        let s = stations
            .iter()
            .find(|s| s["station"] == code.as_str())
            .unwrap();
        let title = between(section, "<h2>", "</h2>");
        assert!(
            title.starts_with(&format!("{code} ")),
            "section order: {title}"
        );
        assert!(
            section.contains(&format!("总分 <b>{}</b>", s["total"].as_str().unwrap())),
            "{code} total in its section"
        );
    }

    // Every deduction and bonus: its clause wording, hash, id, evidence, in its station's section.
    let rubric: Value = serde_json::from_str(&l.ok(&["rubric", "--json"])).unwrap();
    let clause_text = |code: &str| -> String {
        for c in rubric["categories"].as_array().unwrap() {
            for i in c["items"].as_array().unwrap() {
                for cl in i["clauses"].as_array().unwrap() {
                    if cl["clause"] == code {
                        return cl["text"].as_str().unwrap().to_string();
                    }
                }
            }
        }
        panic!("no clause {code}")
    };
    let mut records = 0;
    for line in l.ok(&["log", "--json"]).lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        if e["type"] != "points_recorded" {
            continue;
        }
        records += 1;
        let code = e["station"].as_str().unwrap();
        let n = codes.iter().position(|c| c == code).unwrap();
        let section = sections[n];
        let hash = e["hash"].as_str().unwrap();
        let at = section
            .find(hash)
            .unwrap_or_else(|| panic!("{} ({code}) hash not in its section", e["id"]));
        let block = &section[section[..at].rfind("<div class=\"ev").unwrap()..];
        let block = &block[..block.find("</div>\n</div>").unwrap_or(block.len())];
        let clause = e["clause"].as_str().unwrap();
        assert!(block.contains(&format!("条款 {clause} ")), "{clause}");
        assert!(
            block.contains(&escape(&clause_text(clause))),
            "{clause} wording"
        );
        assert!(block.contains(&format!(
            "{}（seq {}）",
            escape(e["id"].as_str().unwrap()),
            e["seq"]
        )));
        for ev in e["evidence"].as_array().unwrap() {
            assert!(
                block.contains(&escape(ev.as_str().unwrap())),
                "evidence of {}",
                e["id"]
            );
        }
    }
    assert_eq!(records, 141, "the fixture's 140 records and X1");
    assert!(stdout.contains(", 141 records,"), "{stdout}");

    // Appeal histories: partial (before → after), rejected, pending, a reversal.
    let wj02 = sections[1];
    assert!(wj02.contains("<b>申诉</b> A1"));
    assert!(wj02.contains("信息采集已于当日补录，通报所列系系统延迟"));
    assert!(wj02.contains("部分成立（整条扣分改为 0.2 分）"));
    assert!(wj02.contains("分值 0.5 → 0.2"));
    assert!(wj02.contains("复核意见书〔2019〕1号"));
    assert!(wj02.contains("申诉/更正后现行 −0.2"));
    assert!(sections[6].contains("驳回（维持原扣分）"));
    let wj04 = sections[3];
    assert!(wj04.contains("<b>申诉</b> A3"));
    assert!(between(wj04, "<b>申诉</b> A3", "</li>").contains("待复核"));
    assert!(!between(wj02, "<b>申诉</b> A1", "</li>").contains("待复核"));
    assert!(wj04.contains("<b>撤回更正</b> R1"));
    assert!(wj04.contains("录错站点"));

    // Escaping: the markup shows as text, never as markup.
    let wj99 = sections[15];
    assert!(wj99.contains(&escape(NASTY_NAME)));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;测试司法所"));
    assert!(wj99.contains(&escape(NASTY_EVIDENCE)));
    assert!(wj99.contains(&escape(NASTY_GROUNDS)));
    assert!(!html.contains(NASTY_NAME) && !html.contains("<b>粗体</b>"));

    // Closing and verification: not closed, the current head and how to verify it.
    let head = head_hash(&l);
    let closing = between(
        &html,
        "<section class=\"closing\" id=\"verify\">",
        "</section>",
    );
    assert!(closing.contains("尚未封账"));
    assert!(closing.contains(&head));
    assert!(closing.contains(&format!("verify --head {head}")));
    assert!(closing.contains(&format!(
        "export &gt; x.jsonl &amp;&amp; kaohe verify --export x.jsonl --head {head}"
    )));

    // The same ledger and view give the same bytes.
    let (again, _, _) = report(&l, "again.html", &[]);
    assert_eq!(again, html);
}

#[test]
fn a_cut_view_a_station_filter_and_refusals() {
    let l = wujin_with_appeals();
    // Before A1 was decided: D008 counts as recorded, A1 is pending, and the page says which
    // prefix it shows and how to verify that prefix.
    let a1: Value = serde_json::from_str(&l.ok(&["show", "A1", "--json"])).unwrap();
    let a1_seq = a1["seq"].as_u64().unwrap();
    let cut = a1_seq.to_string();
    let (html, stdout, _) = report(&l, "cut.html", &["--as-of-seq", &cut]);
    check_page(&html);
    assert!(stdout.contains(&format!("as of seq {cut}")), "{stdout}");
    assert!(html.contains(&format!("截至 seq {cut}")));
    let wj02 = between(&html, "<h2>WJ02 ", "</section>");
    assert!(between(wj02, "<b>申诉</b> A1", "</li>").contains("待复核"));
    assert!(!wj02.contains("部分成立"));
    assert!(html.contains("<h2>WJ99 "), "WJ99 registered before A1");
    assert!(
        !html.contains("<b>申诉</b> A4"),
        "A4 was filed after the cut"
    );
    assert!(
        !html.contains("<b>撤回更正</b> R1"),
        "R1 came after the cut"
    );
    let export = l.ok(&["export", "--as-of-seq", &cut]);
    let last: Value = serde_json::from_str(export.lines().last().unwrap()).unwrap();
    let cut_hash = last["hash"].as_str().unwrap();
    assert!(html.contains(&format!(
        "export --as-of-seq {cut} &gt; x.jsonl &amp;&amp; kaohe verify --export x.jsonl --head {cut_hash}"
    )));
    assert!(html.contains(&head_hash(&l)), "the current head too");

    // --at: only what occurred by then.
    let (html, _, _) = report(&l, "at.html", &["--at", "2018-03-31"]);
    check_page(&html);
    assert!(html.contains("仅计发生日期在 2018-03-31 及以前的记录"));

    // --station: sections for those only; the ranking still lists every station.
    let (html, stdout, _) = report(&l, "two.html", &["--station", "WJ07", "--station", "WJ02"]);
    check_page(&html);
    assert!(
        stdout.contains("16 stations ranked, 2 station sections"),
        "{stdout}"
    );
    assert_eq!(html.matches("<section class=\"station\"").count(), 2);
    assert!(html.contains("<h2>WJ02 ") && html.contains("<h2>WJ07 "));
    assert!(between(&html, "<table class=\"ranking\">", "</table>").contains(">WJ13<"));

    // Refusals: exit 2, nothing written.
    let stderr = l.fails(&["report", "--out", "x.html", "--station", "WJ00"], 2);
    assert!(stderr.contains("unknown station `WJ00`"), "{stderr}");
    let dir = l.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let stderr = l.fails(&["report", "--out", dir.to_str().unwrap()], 2);
    assert!(stderr.contains("is a directory"), "{stderr}");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    let missing = l.path("no-such-dir/r.html");
    let stderr = l.fails(&["report", "--out", missing.to_str().unwrap()], 2);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let stderr = l.fails(&["report", "--out", "x.html", "--as-of-seq", "100000"], 2);
    assert!(stderr.contains("as-of-seq"), "{stderr}");
    let empty = TestLedger::empty();
    let out = l.path("nothing.html");
    empty.fails(&["report", "--out", out.to_str().unwrap()], 2);
    assert!(!out.exists());
}

#[test]
fn stories_equal_explain_in_every_view() {
    let l = wujin_with_appeals();
    let ledger = kaohe::internals::ledger::Ledger::open(&l.db).expect("open");
    let last = ledger.head().next_seq - 1;
    let mut queries: Vec<kaohe::internals::ledger::query::Query> =
        vec![kaohe::internals::ledger::query::Query::default()];
    for seq in [20, 100, 250, last - 6, last - 4, last - 2, last - 1] {
        queries.push(kaohe::internals::ledger::query::Query {
            as_of_seq: Some(seq),
            ..Default::default()
        });
    }
    for day in ["2018-03-01", "2018-06-30", "2018-12-31"] {
        queries.push(kaohe::internals::ledger::query::Query {
            at: kaohe::internals::events::event::date_text::parse_date(day),
            ..Default::default()
        });
        queries.push(kaohe::internals::ledger::query::Query {
            at: kaohe::internals::events::event::date_text::parse_date(day),
            as_of_seq: Some(last - 3),
            ..Default::default()
        });
    }
    for q in queries {
        let view = ledger.view(&q).expect("view");
        let scores = kaohe::internals::ledger::tally::scores(&ledger, &view).expect("scores");
        for s in &scores {
            let one =
                kaohe::ops::explain::explain(&ledger, &view, &s.station, None).expect("explain");
            let story =
                kaohe::ops::explain::explain_scored(&ledger, &view, s.clone(), scores.len())
                    .expect("explain_scored");
            assert_eq!(
                kaohe::render::view::explain_json(&story),
                kaohe::render::view::explain_json(&one),
                "{} in {q:?}",
                s.station
            );
        }
    }
}

#[test]
fn a_closed_period_shows_its_closing_hash() {
    let l = TestLedger::with_stations();
    l.ok(&[
        "record",
        "--clause",
        "1.3.d",
        "--station",
        "WJ01",
        "--by",
        "基层科",
        "--occurred",
        "2018-06-01",
        "--evidence",
        "常武司基〔2018〕16号",
        "--id",
        "D1",
    ]);
    let sealed = head_hash(&l);
    let out = l.run(&["close", "--accept-gaps", "--reason", "测试"]);
    if out.code != 0 {
        // Close refused (e.g. nothing to accept): close without accepting.
        l.ok(&["close"]);
    }
    let (html, _, _) = report(&l, "closed.html", &[]);
    check_page(&html);
    let head = head_hash(&l);
    assert_ne!(head, sealed);
    let closing = between(
        &html,
        "<section class=\"closing\" id=\"verify\">",
        "</section>",
    );
    assert!(closing.contains("本考核期已封账"), "{closing}");
    assert!(
        closing.contains(&format!("<b>{head}</b>")),
        "the final head"
    );
    assert!(closing.contains(&sealed), "the head it sealed");
    assert!(closing.contains("与本报告的排名表一致"), "{closing}");
    assert!(closing.contains(&format!("verify --head {head}")));
    assert!(html.contains("已封账（见文末"));
}

// ---------------------------------------------------------------------------------------------
// The browser.

/// A chromium binary: `KAOHE_CHROMIUM`, `/usr/bin/chromium`, or `chromium` /
/// `chromium-browser` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KAOHE_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// What a headless run left.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs chromium headless with `args` and the page, killing it after two minutes.
fn headless(chromium: &Path, profile: &Path, args: &[String], page: &Path) -> Run {
    let url = format!("file://{}", page.display());
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
    // Read both pipes on threads so that a full pipe never blocks the browser.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut s);
        s
    });
    let what = format!("chromium {args:?}");
    let status = crate::harness::wait_or_fail(&mut child, Duration::from_secs(120), &what);
    let run = Run {
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    };
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}): {}",
        run.stderr
    );
    run
}

/// Console errors and failed loads in chromium's log.
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains("Uncaught")
                || (line.contains("CONSOLE") && (line.contains("ERROR") || line.contains("Error")))
                || line.contains("Failed to load resource")
                || line.contains("net::ERR_")
                || line.contains("Refused to")
        })
        .collect()
}

/// The pages of a PDF (`/Type /Page` objects, not `/Pages`).
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(i, _)| {
            let rest = text[i + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[test]
fn the_report_loads_and_prints_in_a_headless_browser() {
    let Some(chromium) = chromium() else {
        let message = "no chromium found (KAOHE_CHROMIUM, /usr/bin/chromium, chromium or \
                       chromium-browser on PATH): the report was not tested in a browser";
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI must have it (.ci/run installs Debian's chromium)");
        }
        eprintln!("note: {message}");
        return;
    };
    let l = wujin_with_appeals();
    let (html, _, file) = report(&l, "wujin-2018.html", &[]);
    check_page(&html);
    let profile = l.path("chromium-profile");

    // The page loads without errors and its DOM shows every station.
    let dom = headless(&chromium, &profile, &["--dump-dom".into()], &file);
    let errors = page_errors(&dom.stderr);
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    assert!(
        dom.stdout.contains("<section class=\"station\""),
        "no DOM: {}",
        dom.stderr
    );
    assert_eq!(dom.stdout.matches("<section class=\"station\"").count(), 16);
    for i in 1..=15 {
        let code = format!("WJ{i:02}");
        assert!(
            dom.stdout.contains(&format!("<h2>{code} ")),
            "{code} not in the DOM"
        );
    }
    assert!(dom.stdout.contains("湖塘司法所") && dom.stdout.contains("潞城街道司法所"));
    // The markup in the name stayed text: the browser parsed no script element from it.
    assert!(!dom.stdout.to_lowercase().contains("<script"));
    assert!(dom
        .stdout
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;测试司法所"));
    assert_eq!(dom.stdout.matches("<svg").count(), 2);

    // It prints: a PDF with a page per station section at least.
    let pdf = l.path("wujin-2018.pdf");
    let run = headless(
        &chromium,
        &profile,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &file,
    );
    let errors = page_errors(&run.stderr);
    assert!(errors.is_empty(), "printing logged errors: {errors:#?}");
    let bytes = std::fs::read(&pdf).expect("the PDF exists");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let pages = pdf_pages(&bytes);
    assert!(
        pages > 16,
        "the PDF has {pages} pages; each of the 16 station sections starts a page"
    );
}
