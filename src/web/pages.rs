//! The pages of `kaohe serve`, in Chinese, rendered on the server (maud escapes every value it
//! is given, so whatever a station or department sent is shown as text). Writes go through
//! forms that `assets/app.js` signs in the browser; every asset is in the binary, and the
//! Content-Security-Policy allows nothing from elsewhere and no inline script.

use crate::service::reads::{LogFilter, LogPage};
use crate::service::sessions::Session;
use crate::service::{parse_query, ServiceError};
use crate::web::{blocking, token, Shared};
use axum::extract::{Path as UrlPath, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;
use std::collections::HashMap;

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Nothing from elsewhere, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(home))
        .route("/station/{code}", get(station))
        .route("/desk", get(desk))
        .route("/audit", get(audit))
        .route("/audit/log", get(audit_log))
        .route("/bureau", get(bureau))
        .route("/report", get(report))
        .route("/scores.xlsx", get(scores_xlsx))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// An HTML page with the security headers every page carries.
fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn layout(title: &str, who: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 考核" }
                link rel="stylesheet" href="/assets/style.css";
                // No icon to fetch: the browser would ask for /favicon.ico otherwise.
                link rel="icon" href="data:,";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "考核 · 司法所绩效考核台账" }
                    @if let Some(s) = who {
                        nav {
                            span { "当前身份：" strong #whoami { (actor_zh(&s.actor)) } }
                            @if !matches!(s.actor, crate::events::event::Actor::Station(_)) {
                                a #nav-log href="/audit/log" { "事件日志" }
                            }
                            form #signout method="post" action="/" {
                                button.secondary type="submit" { "退出" }
                            }
                        }
                    }
                }
                main { (body) }
                (confirm_dialog())
            }
        }
    }
}

/// The dialog that shows an event before it is signed (filled by the script).
fn confirm_dialog() -> Markup {
    html! {
        dialog #confirm aria-labelledby="confirm-title" {
            form method="dialog" {
                h2 #confirm-title { "确认并签名" }
                p { "签名人：" span data-signer {} }
                p.muted { "以下是台账将记录的事件。确认后，浏览器用您的密钥对服务器给出的内容签名。" }
                dl {}
                div.row {
                    button type="submit" value="sign" { "确认签名" }
                    button.secondary type="submit" value="cancel" { "取消" }
                }
            }
        }
    }
}

fn actor_zh(a: &crate::events::event::Actor) -> String {
    use crate::events::event::Actor;
    match a {
        Actor::Department(d) => format!("{d}（部门）"),
        Actor::Station(s) => format!("{s}（司法所）"),
        Actor::Bureau(b) => format!("{b}（司法局）"),
        Actor::Auditor(n) => format!("{n}（审计）"),
        Actor::Witness(n) => format!("{n}（见证方）"),
    }
}

/// The page a request without a session gets.
fn sign_in_first() -> Response {
    error_page(
        None,
        &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
    )
}

fn session_from(app: &Shared, headers: &HeaderMap) -> Option<Session> {
    token(headers).and_then(|t| app.service.session(&t).ok())
}

fn error_page(who: Option<&Session>, e: &ServiceError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (title, explain) = match e.status() {
        401 => (
            "请先登录",
            "会话不存在或已结束（密钥被撤销时会话随即结束）。请重新登录。",
        ),
        403 => (
            "无权查看",
            "您的身份不能查看或办理此项：司法所只能查看本所的记录。",
        ),
        404 => ("没有找到", "没有这一页或这一事件。"),
        400 => ("请求有误", "请检查所填的日期、时点或编号。"),
        _ => ("出错了", "服务器未能完成请求，请稍后再试或联系管理员。"),
    };
    page(
        status,
        layout(
            title,
            who,
            html! {
                section.card {
                    h1 { (title) }
                    p.error #page-error { (explain) }
                    p.muted #page-detail { "详情：" (e.zh()) }
                    p { a href="/" { "返回首页" } }
                }
            },
        ),
    )
}

async fn home(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some(who) = session_from(&app, &headers) else {
        return page(StatusCode::OK, sign_in_page());
    };
    use crate::events::event::Actor;
    let to = match &who.actor {
        Actor::Station(code) => format!("/station/{code}"),
        Actor::Department(_) => "/desk".into(),
        Actor::Bureau(_) => "/bureau".into(),
        _ => "/audit".into(),
    };
    Redirect::to(&to).into_response()
}

fn sign_in_page() -> Markup {
    layout(
        "登录",
        None,
        html! {
            section.card {
                h1 { "登录" }
                p { "选择您的私钥文件（由 " code { "kaohe key new" } " 生成）。密钥只在本浏览器中使用，不会上传。" }
                form #signin.stack {
                    label for="keyfile" {
                        "私钥文件"
                        span.hint { "例如 基层科.key（不是 .pub 文件）" }
                    }
                    input #keyfile name="keyfile" type="file" required;
                    p.error data-error-for="keyfile" hidden {}
                    button type="submit" { "登录" }
                }
            }
        },
    )
}

type Params = UrlQuery<HashMap<String, String>>;

fn view_query(p: &HashMap<String, String>) -> Result<crate::ledger::query::Query, ServiceError> {
    let nonempty = |k: &str| {
        p.get(k)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    parse_query(nonempty("at"), nonempty("known_at"), nonempty("as_of_seq"))
}

async fn station(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(code): UrlPath<String>,
    UrlQuery(p): Params,
) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    let result = blocking(move || {
        let q = view_query(&p)?;
        let today = crate::domain::rules::local_day(app.service.now()).to_string();
        let x = app.service.explain(&session, &code, None, &q)?;
        let appeals = app.service.appeals(&session, false)?;
        let rubric = app.service.rubric()?;
        let receipts = receipts_to(&app.service.checkpoints()?);
        let consequences = app.service.consequences(&session, &code, &q)?;
        let labels = consequence_labels(&*app.service.ledger()?);
        let page = StationPage {
            rubric,
            today,
            receipts,
            labels,
            consequences,
        };
        Ok((x, appeals, page, p))
    })
    .await;
    match result {
        Ok((x, appeals, sp, p)) => page(
            StatusCode::OK,
            layout(
                "司法所",
                who.as_ref(),
                station_body(who.as_ref(), &x, &appeals, &sp, &p),
            ),
        ),
        Err(e) => error_page(who.as_ref(), &e),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What the station page needs beside the explanation and the appeals.
struct StationPage {
    rubric: Value,
    /// Today's local day, for the days left to appeal.
    today: String,
    /// Events before this seq have a receipt (the latest stored checkpoint's size).
    receipts: u64,
    /// The labels of the rubric's consequences table.
    labels: Vec<String>,
    /// What the final scores mean for the station; `None` unless the view shows them.
    consequences: Option<Vec<crate::domain::consequences::Outcome>>,
}

/// The size of the latest stored checkpoint: every event before it has a receipt.
fn receipts_to(checkpoints: &Value) -> u64 {
    checkpoints
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["size"].as_u64())
        .max()
        .unwrap_or(0)
}

/// The explanation's items with records, grouped under the rubric's categories (in the
/// rubric's order); items of no category (none, in a well-formed rubric) under `None`.
fn by_category<'a>(rubric: &'a Value, x: &'a Value) -> Vec<(Option<&'a Value>, Vec<&'a Value>)> {
    let recorded = |item: &&Value| {
        item["clauses"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["events"].as_array().is_some_and(|e| !e.is_empty()))
        })
    };
    let items: Vec<&Value> = x["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(recorded)
        .collect();
    let mut placed = std::collections::HashSet::new();
    let mut out = Vec::new();
    for c in rubric["categories"].as_array().into_iter().flatten() {
        let codes: Vec<&Value> = c["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| &i["item"])
            .collect();
        let mine: Vec<&Value> = items
            .iter()
            .copied()
            .filter(|i| codes.contains(&&i["item"]))
            .collect();
        if !mine.is_empty() {
            placed.extend(mine.iter().map(|i| text(&i["item"])));
            out.push((Some(c), mine));
        }
    }
    let rest: Vec<&Value> = items
        .into_iter()
        .filter(|i| !placed.contains(&text(&i["item"])))
        .collect();
    if !rest.is_empty() {
        out.push((None, rest));
    }
    out
}

fn station_body(
    who: Option<&Session>,
    x: &Value,
    appeals: &Value,
    sp: &StationPage,
    p: &HashMap<String, String>,
) -> Markup {
    let own = who.is_some_and(|s| {
        matches!(&s.actor, crate::events::event::Actor::Station(c) if Value::String(c.clone()) == x["station"])
    });
    let window = sp.rubric["appeal_window_days"].as_u64().unwrap_or(0);
    let sheets = x["sheets"].as_array().cloned().unwrap_or_default();
    let record = Record {
        own_station: own.then(|| text(&x["station"])),
        window_days: window,
        today: &sp.today,
        receipts: sp.receipts,
        limits: limited_clauses(&sp.rubric, !sheets.is_empty()),
    };
    let groups = by_category(&sp.rubric, x);
    html! {
        section.card {
            h1 #station-title { (text(&x["name"])) " " span.muted { (text(&x["station"])) } }
            p {
                span.total #total { (text(&x["total"])) } " 分"
                @if let Some(rank) = x["rank"].as_u64() {
                    " · 第 " strong #rank { (rank) } " 名（共 " (text(&x["stations"])) " 个司法所）"
                }
            }
            p.muted { "扣分 " (text(&x["deducted"])) " · 加分 " (text(&x["awarded"]))
                @if !sheets.is_empty() { "（各评分表加权合计）" }
                " · 视图：" (view_text(&x["view"], p)) }
            @if !sheets.is_empty() { (station_sheets(x, &sheets)) }
            @if !sp.labels.is_empty() {
                @match &sp.consequences {
                    Some(list) => p #consequences { "考核结果：" strong { (consequences_text(list)) } },
                    None => (consequences_pending(&sp.labels)),
                }
            }
            (view_form(p))
        }
        @if groups.is_empty() {
            section.card { p.muted #no-records { "尚无扣分或加分记录。" } }
        }
        @for (category, items) in &groups {
            section.card.category {
                @match category {
                    Some(c) => h2.category { (text(&c["category"])) " " (text(&c["name"])) " " span.muted { (if c["bonus"] == true { "（加分项目）" } else { "（扣分项目）" }) } },
                    None => h2.category { "其他项目" },
                }
                @for item in items {
                    div.item {
                        h3 { (text(&item["item"])) " " (text(&item["name"])) " "
                            span.muted { "（满分 " (text(&item["max"])) "，扣 " (text(&item["deducted"])) "，加 " (text(&item["awarded"])) "）" } }
                        @for clause in item["clauses"].as_array().into_iter().flatten() {
                            @if clause["events"].as_array().is_some_and(|e| !e.is_empty()) {
                                h4 { (text(&clause["clause"])) " " (text(&clause["text"])) }
                                ul.events {
                                    @for e in clause["events"].as_array().into_iter().flatten() {
                                        li { (event_item(e, &text(&clause["clause"]), &record)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "申诉" }
            @let list: Vec<&Value> = appeals["appeals"].as_array().into_iter().flatten().filter(|a| a["station"] == x["station"]).collect();
            @if list.is_empty() { p.muted { "没有申诉。" } }
            @else {
                table #station-appeals {
                    thead { tr { th { "申诉" } th { "针对" } th { "状态" } th.wide { "理由" } } }
                    tbody {
                        @for a in &list {
                            tr { td { (text(&a["id"])) } td { (text(&a["against"]["id"])) } td.status { (status_zh(&text(&a["status"]))) } td.wide { (text(&a["grounds"])) } }
                        }
                    }
                }
            }
        }
    }
}

/// An appeal's status as people read it.
fn status_zh(status: &str) -> &str {
    match status {
        "pending" => "待复核",
        "upheld" => "申诉成立",
        "partial" => "部分成立",
        "rejected" => "维持扣分",
        "reversed" => "记录已撤销",
        other => other,
    }
}

fn view_text(v: &Value, p: &HashMap<String, String>) -> String {
    let mut parts = Vec::new();
    if p.get("as_of_seq").is_some_and(|s| !s.trim().is_empty()) {
        parts.push(format!(
            "台账截至第 {} 号事件时的状态",
            text(&v["as_of_seq"])
        ));
    }
    if let Some(at) = v["at"].as_str() {
        parts.push(format!("截至 {at} 发生的事项"));
    }
    if let Some(k) = v["known_at"].as_str() {
        parts.push(format!("台账在 {k} 时的状态"));
    }
    if parts.is_empty() {
        "当前".into()
    } else {
        parts.join("，")
    }
}

fn view_form(p: &HashMap<String, String>) -> Markup {
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    html! {
        form.row method="get" {
            label { "发生日期截至" input type="date" name="at" value=(get("at")); }
            label { "台账时点（RFC 3339）" input type="text" name="known_at" placeholder="2018-11-01T08:00:00Z" value=(get("known_at")); }
            button.secondary type="submit" { "查看" }
        }
    }
}

/// How a record is shown on a station's page.
struct Record<'a> {
    /// The station reading its own page (who may appeal a deduction not yet disputed).
    own_station: Option<String>,
    window_days: u64,
    today: &'a str,
    /// Events before this seq have a receipt.
    receipts: u64,
    /// The clauses whose records show the limit that bit them (see [`limited_clauses`]).
    limits: Limits,
}

/// Which records show the limit (a sub-part's floor or points, an item's cap) that kept them
/// from counting in full: every record in a rubric of several sheets, else those of clauses
/// in a sub-part (a rubric of one sheet without sub-parts shows its records as it always has).
enum Limits {
    All,
    Clauses(std::collections::HashSet<String>),
}

impl Limits {
    fn shown(&self, clause: &str) -> bool {
        match self {
            Limits::All => true,
            Limits::Clauses(set) => set.contains(clause),
        }
    }
}

/// [`Limits`] for a rubric (`rubric --json`), with or without sheets.
fn limited_clauses(rubric: &Value, sheets: bool) -> Limits {
    if sheets {
        return Limits::All;
    }
    let in_parts = rubric["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["items"].as_array().into_iter().flatten())
        .flat_map(|i| i["clauses"].as_array().into_iter().flatten())
        .filter(|c| c["part"].is_string())
        .map(|c| text(&c["clause"]))
        .collect();
    Limits::Clauses(in_parts)
}

/// A weight given as a fraction (`"0.2"`) in percent (`20`).
fn percent(weight: &Value) -> String {
    weight
        .as_str()
        .and_then(|w| w.parse::<rust_decimal::Decimal>().ok())
        .map(|w| {
            (w * rust_decimal::Decimal::ONE_HUNDRED)
                .normalize()
                .to_string()
        })
        .unwrap_or_else(|| text(weight))
}

/// A sheet's name (`上半年·区局`) from `score --json`'s or `explain --json`'s `sheets`.
fn sheet_name(sheet: &Value) -> String {
    format!(
        "{}·{}",
        text(&sheet["period_name"]),
        text(&sheet["assessor_name"])
    )
}

/// A station's sheets (each an assessor's scoring of a sub-period on the whole rubric), their
/// weights, and the weighted sum that is its total (`总分 96.09 = 0.2 × 96.25 + …`).
fn station_sheets(x: &Value, sheets: &[Value]) -> Markup {
    let weighted = |s: &Value| -> String {
        let d = |v: &Value| {
            v.as_str()
                .and_then(|t| t.parse::<rust_decimal::Decimal>().ok())
        };
        match (d(&s["weight"]), d(&s["total"])) {
            (Some(w), Some(t)) => (w * t).normalize().to_string(),
            _ => String::new(),
        }
    };
    let terms: Vec<String> = sheets
        .iter()
        .map(|s| format!("{} × {}", text(&s["weight"]), text(&s["total"])))
        .collect();
    html! {
        h2 { "各评分表得分" }
        p.muted { "每个考核主体对每个时段按全部细则评分，各为一张评分表；总分为各表得分按权重（时段权重 × 考核主体权重）的加权和。" }
        table #sheets {
            thead { tr {
                th { "评分表" } th.num { "权重" } th.num.wide { "扣分" } th.num.wide { "加分" }
                th.num { "得分" } th.num { "加权" }
            } }
            tbody {
                @for s in sheets {
                    tr {
                        td { (sheet_name(s)) }
                        td.num { (percent(&s["weight"])) "%" }
                        td.num.wide { (text(&s["deducted"])) }
                        td.num.wide { (text(&s["awarded"])) }
                        td.num { (text(&s["total"])) }
                        td.num { (weighted(s)) }
                    }
                }
            }
        }
        p #weighted-sum { "总分 " strong { (text(&x["total"])) } " = " (terms.join(" + ")) }
    }
}

/// One record with its story: points, rule and arithmetic, evidence, hash and receipt, and
/// what happened to it since (appeals, decisions, reversal), in Chinese.
fn event_item(e: &Value, clause: &str, r: &Record<'_>) -> Markup {
    let deduction = e["direction"] == "deduction";
    let class = if deduction { "deduction" } else { "bonus" };
    let seq = e["seq"].as_u64();
    let reversed = e["history"]
        .as_array()
        .is_some_and(|h| h.iter().any(|h| h["type"] == "record_reversed"));
    html! {
        div {
            strong class=(class) { (if deduction { "扣 " } else { "加 " }) (text(&e["applied_points"])) " 分" }
            @if reversed { " " span.tag { "已撤销" } }
            @else if e["standing_points"] != e["computed_points"] { span.muted { "（原记 " (text(&e["computed_points"])) " 分）" } }
            " · " (text(&e["id"])) " · " (text(&e["by"])) " · 发生于 " (text(&e["occurred"]))
        }
        @if let Some(note) = e["note"].as_str() { div { "说明：" (note) } }
        div.muted { "计算：" (text(e.get("working_zh").unwrap_or(&e["working"]))) }
        @if let Some(sheet) = e["sheet"].as_str() { div.sheet { "计入：" (sheet) } }
        @if let Some(limit) = e["limited_by_zh"].as_str().filter(|_| r.limits.shown(clause)) {
            div.limit { "受限：" (limit) "，本条现行 " (text(&e["standing_points"])) " 分，计入 " (text(&e["applied_points"])) " 分" }
        }
        div { "证据：" (evidence_list(&e["evidence"])) }
        div.hash { "第 " (text(&e["seq"])) " 号事件 · 记录于 " (text(&e["recorded_at"])) " · 哈希 " (text(&e["hash"])) }
        div.receipt {
            @match seq {
                Some(n) if n < r.receipts => {
                    a href={ "/api/v1/receipt/" (n) } download={ "kaohe-receipt-" (n) ".json" } { "下载收据" }
                    span.muted { "（证明此记录在台账中，可用 kaohe verify-receipt 离线校验）" }
                },
                _ => span.muted { "收据：下一个检查点签署后可下载。" },
            }
        }
        @let history = e["history"].as_array().cloned().unwrap_or_default();
        @if !history.is_empty() {
            ol.history {
                @for h in &history { li { (history_item(h)) } }
            }
        }
        @if let Some(station) = r.own_station.clone().filter(|_| deduction && history.is_empty()) {
            (appeal_form(e, &station, days_left(e, r.window_days, r.today)))
        }
    }
}

/// The local day of an RFC 3339 time, or the text as it is.
fn day_of(v: &Value) -> String {
    v.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| crate::domain::rules::local_day(t).to_string())
        .unwrap_or_else(|| text(v))
}

/// An appeal's outcome as people read it.
fn outcome_zh(outcome: &str) -> &str {
    match outcome {
        "upheld" => "申诉成立",
        "partial" => "部分成立",
        "rejected" => "维持扣分",
        other => other,
    }
}

/// One step of a record's history (`explain`'s `history`), in Chinese.
fn history_item(h: &Value) -> Markup {
    let points = html! { " · 分值 " (text(&h["points_before"])) " → " (text(&h["points_after"])) };
    html! {
        @match h["type"].as_str().unwrap_or_default() {
            "appeal_filed" => {
                span.when { (day_of(&h["recorded_at"])) } " 司法所提出申诉 " (text(&h["id"])) "：" (text(&h["grounds"]))
                @if h["evidence"].as_array().is_some_and(|e| !e.is_empty()) { div { "申诉证据：" (evidence_list(&h["evidence"])) } }
            }
            "appeal_decided" => {
                span.when { (day_of(&h["recorded_at"])) } " " (text(&h["by"])) " 复核：" strong.outcome { (outcome_zh(&text(&h["outcome"]))) }
                @if h["outcome"] == "partial" { "（保留 " (text(&h["points"])) " 分）" }
                (points)
                div { "复核理由：" (text(&h["reason"])) }
                @if h["evidence"].as_array().is_some_and(|e| !e.is_empty()) { div { "复核证据：" (evidence_list(&h["evidence"])) } }
            }
            "record_reversed" => {
                span.when { (day_of(&h["recorded_at"])) } " " (text(&h["by"])) " " strong.outcome { "已撤销" } " 此记录" (points)
                div { "撤销理由：" (text(&h["reason"])) }
                @if h["evidence"].as_array().is_some_and(|e| !e.is_empty()) { div { "证据：" (evidence_list(&h["evidence"])) } }
            }
            other => { span.when { (day_of(&h["recorded_at"])) } " " (other) " " (text(&h["id"])) }
        }
    }
}

fn evidence_list(v: &Value) -> Markup {
    html! {
        @if v.as_array().is_none_or(|e| e.is_empty()) { "无" }
        @for (i, r) in v.as_array().into_iter().flatten().enumerate() {
            @if i > 0 { "；" }
            @let r = text(r);
            @match r.strip_prefix("blake3:").and_then(|rest| rest.get(..64)) {
                Some(hash) => a href={ "/api/v1/evidence/" (hash) } download { (r.get(72..).unwrap_or("文件").trim()) },
                None => (r),
            }
        }
    }
}

/// Days left to appeal a record: its deadline (`rules::appeal_deadline` from the local day it
/// was recorded) less today; `None` when either is unknown.
fn days_left(e: &Value, window_days: u64, today: &str) -> Option<i64> {
    use crate::domain::rules;
    let recorded: jiff::Timestamp = e["recorded_at"].as_str()?.parse().ok()?;
    let today: jiff::civil::Date = today.parse().ok()?;
    let window = u32::try_from(window_days).ok()?;
    let deadline = rules::appeal_deadline(rules::local_day(recorded), window);
    Some(i64::from((deadline - today).get_days()))
}

fn appeal_form(e: &Value, station: &str, days_left: Option<i64>) -> Markup {
    let seq = text(&e["seq"]);
    let id = format!("appeal-{seq}");
    html! {
        details {
            summary {
                @match days_left {
                    Some(d) if d >= 0 => { "对此扣分申诉（申诉期还剩 " strong.days-left { (d) } " 天）" },
                    Some(_) => { "申诉期已过" },
                    None => { "对此扣分申诉" },
                }
            }
            form.stack data-op="appeal" id=(id) {
                input type="hidden" name="against" value=(seq) data-kind="int";
                input type="hidden" name="station" value=(station);
                label { "理由" textarea name="grounds" required {} }
                p.error data-error-for="grounds" hidden {}
                label { "证据说明" span.hint { "每行一条" } textarea name="evidence" data-kind="lines" {} }
                label { "证据文件" input type="file" data-evidence-files multiple; }
                p.error data-error-for="evidence" hidden {}
                p.error data-error-for="form" hidden {}
                button type="submit" { "提交申诉并签名" }
            }
        }
    }
}

async fn desk(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    let crate::events::event::Actor::Department(dept) = session.actor.clone() else {
        return error_page(
            who.as_ref(),
            &ServiceError::Forbidden(
                "the desk is a department's".into(),
                "部门工作台只供部门使用。".into(),
            ),
        );
    };
    let result = blocking(move || {
        let rubric = app.service.rubric()?;
        let appeals = app.service.appeals(&session, true)?;
        let stations = app
            .service
            .score(&session, &crate::ledger::query::Query::default())?;
        Ok((rubric, appeals, stations))
    })
    .await;
    match result {
        Ok((rubric, appeals, scores)) => page(
            StatusCode::OK,
            layout(
                "部门工作台",
                who.as_ref(),
                desk_body(&dept, &rubric, &appeals, &scores),
            ),
        ),
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// A clause's text in the rubric, or nothing.
fn clause_text(rubric: &Value, clause: &Value) -> String {
    rubric["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["items"].as_array().into_iter().flatten())
        .flat_map(|i| i["clauses"].as_array().into_iter().flatten())
        .find(|c| &c["clause"] == clause)
        .map(|c| text(&c["text"]))
        .unwrap_or_default()
}

/// A clause the desk may record under: code, text, rule kind, what its date is called (its
/// attribution) and its grades (`A 95–100 工作规范…`, graded clauses).
struct OwnClause {
    code: String,
    text: String,
    kind: String,
    date_label: &'static str,
    grades: String,
}

/// The clauses of the items `dept` owns.
fn own_clauses(rubric: &Value, dept: &str) -> Vec<OwnClause> {
    let mut out = Vec::new();
    for c in rubric["categories"].as_array().into_iter().flatten() {
        for i in c["items"].as_array().into_iter().flatten() {
            let owned = i["departments"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == dept));
            if !owned {
                continue;
            }
            for cl in i["clauses"].as_array().into_iter().flatten() {
                if cl["kind"] != "rank" {
                    let date_label = match cl["attribution"].as_str() {
                        Some("result") => "结果发生日期",
                        Some("discovered") => "发现日期",
                        _ => "发生日期",
                    };
                    let grades: Vec<String> = cl["grades"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|g| {
                            format!(
                                "{} {}–{} {}",
                                text(&g["grade"]),
                                text(&g["from"]),
                                text(&g["to"]),
                                text(&g["text"])
                            )
                        })
                        .collect();
                    out.push(OwnClause {
                        code: text(&cl["clause"]),
                        text: text(&cl["text"]),
                        kind: text(&cl["kind"]),
                        date_label,
                        grades: grades.join("；"),
                    });
                }
            }
        }
    }
    out
}

fn desk_body(dept: &str, rubric: &Value, appeals: &Value, scores: &Value) -> Markup {
    let clauses = own_clauses(rubric, dept);
    let stations: Vec<(String, String)> = scores["stations"]
        .as_array()
        .or_else(|| scores.as_array())
        .into_iter()
        .flatten()
        .map(|s| (text(&s["station"]), text(&s["name"])))
        .collect();
    html! {
        section.card {
            h1 { (dept) " · 记录扣分或加分" }
            form.stack #record data-op="record" {
                input type="hidden" name="by" value=(dept);
                label for="clause-search" { "查找条款" span.hint { "按编号或内容筛选" } }
                input #clause-search type="text" data-filters="clause";
                label for="clause" { "条款" }
                select #clause name="clause" data-clause-select required {
                    @for c in &clauses {
                        option value=(c.code) data-kind=(c.kind) data-date-label=(c.date_label) title=(c.grades) { (c.code) " " (c.text) }
                    }
                }
                p.error data-error-for="clause" hidden {}
                label for="station" { "司法所" }
                select #station name="station" required {
                    @for (code, name) in &stations { option value=(code) { (code) " " (name) } }
                }
                p.error data-error-for="station" hidden {}
                label for="occurred" { "发生日期" }
                input #occurred type="date" name="occurred" required;
                p.error data-error-for="occurred" hidden {}
                div data-for-kinds="per_unit range" {
                    label { "件数" input type="number" name="count" min="1" data-kind="int"; }
                    p.error data-error-for="count" hidden {}
                }
                div data-for-kinds="range" {
                    label { "每件扣（加）分" input type="text" name="points" inputmode="decimal"; }
                    p.error data-error-for="points" hidden {}
                }
                div data-for-kinds="below at_least shortfall" {
                    label { "数值" input type="text" name="value" inputmode="decimal"; }
                    p.error data-error-for="value" hidden {}
                }
                div data-for-kinds="missing" {
                    label { "已完成数" input type="number" name="done" min="0" data-kind="int"; }
                    p.error data-error-for="done" hidden {}
                }
                div data-for-kinds="graded" {
                    label { "评定得分" span.hint { "在所评档次的分数范围内" } input type="text" name="value" inputmode="decimal" data-label="评定得分"; }
                    p.error data-error-for="value" hidden {}
                    ul.grades {
                        @for c in clauses.iter().filter(|c| !c.grades.is_empty()) {
                            li { (c.code) "：" (c.grades) }
                        }
                    }
                }
                label for="note" { "说明" span.hint { "幅度条款必填" } }
                textarea #note name="note" {}
                p.error data-error-for="note" hidden {}
                label for="evidence" { "证据" span.hint { "每行一条，如文号、通报名称" } }
                textarea #evidence name="evidence" data-kind="lines" {}
                label for="evidence-files" { "证据文件" }
                input #evidence-files type="file" data-evidence-files multiple;
                p.error data-error-for="evidence" hidden {}
                p.error data-error-for="form" hidden {}
                button type="submit" { "核对并签名" }
            }
        }
        section.card {
            h2 { "报送指标数值" }
            form.stack #metric data-op="metric" {
                input type="hidden" name="by" value=(dept);
                label for="metric-name" { "指标" }
                select #metric-name name="metric" required {
                    @for m in rubric["metrics"].as_array().into_iter().flatten() {
                        option value=(text(&m["metric"])) { (text(&m["label"])) }
                    }
                }
                p.error data-error-for="metric" hidden {}
                label for="metric-station" { "司法所" }
                select #metric-station name="station" required {
                    @for (code, name) in &stations { option value=(code) { (code) " " (name) } }
                }
                label for="metric-value" { "数值" }
                input #metric-value type="text" name="value" inputmode="decimal" required;
                p.error data-error-for="value" hidden {}
                label for="metric-occurred" { "统计日期" }
                input #metric-occurred type="date" name="occurred" required;
                p.error data-error-for="occurred" hidden {}
                label for="metric-evidence" { "证据" span.hint { "每行一条，如统计表名称" } }
                textarea #metric-evidence name="evidence" data-kind="lines" required {}
                p.error data-error-for="evidence" hidden {}
                p.error data-error-for="form" hidden {}
                button type="submit" { "核对并签名" }
            }
        }
        section.card {
            h2 { "导入文件" }
            p.muted { "JSON Lines 格式，每行一条命令（与 kaohe import 相同）。全部通过检查后逐条签名，一并写入；有一行未通过则什么也不写。" }
            form.stack #import {
                label for="import-file" { "导入文件" }
                input #import-file type="file" accept=".jsonl,.json,.txt";
                p.error data-error-for="lines" hidden {}
                button type="submit" { "检查" }
            }
            div #import-result aria-live="polite" {}
        }
        section.card {
            h2 { "撤销误录的记录" }
            p.muted { "录错司法所或条款时使用：原记录从此不计分，再按正确内容重新记录。" }
            form.stack #reverse data-op="reverse" {
                input type="hidden" name="by" value=(dept);
                label for="reverse-target" { "要撤销的记录编号" }
                input #reverse-target type="text" name="target" required;
                p.error data-error-for="target" hidden {}
                label for="reverse-reason" { "撤销理由" }
                textarea #reverse-reason name="reason" required {}
                p.error data-error-for="reason" hidden {}
                label for="reverse-evidence" { "证据" span.hint { "可不填" } }
                textarea #reverse-evidence name="evidence" data-kind="lines" {}
                p.error data-error-for="form" hidden {}
                button type="submit" { "核对并签名" }
            }
        }
        (desk_appeals(dept, rubric, appeals))
    }
}

/// The appeals waiting for `dept`'s decision: each beside the deduction it is against (its
/// evidence as downloads, its note and arithmetic), with the decision form.
fn desk_appeals(dept: &str, rubric: &Value, appeals: &Value) -> Markup {
    html! {
        section.card {
            h2 { "待复核的申诉" }
            @let list: Vec<Value> = appeals["appeals"].as_array().into_iter().flatten().filter(|a| a["against"]["by"] == dept).cloned().collect();
            @if list.is_empty() { p.muted #no-appeals { "没有待复核的申诉。" } }
            @for a in &list {
                div.appeal {
                    p { strong { (text(&a["id"])) } " · " (text(&a["station"])) " 于 " (day_of(&a["filed_at"])) " 对 " (text(&a["against"]["id"])) " 提出申诉" }
                    div.pair {
                        div.side.against {
                            h3 { "扣分记录（第 " (text(&a["against"]["seq"])) " 号事件）" }
                            p { "条款 " (text(&a["against"]["clause"])) " " (clause_text(rubric, &a["against"]["clause"])) }
                            p { strong.deduction { "扣 " (text(&a["against"]["computed_points"])) " 分" } " · 发生于 " (text(&a["against"]["occurred"])) }
                            @if let Some(note) = a["against"]["note"].as_str() { p { "说明：" (note) } }
                            @if let Some(w) = a["against"]["working_zh"].as_str().or(a["against"]["working"].as_str()) { p.muted { "计算：" (w) } }
                            p.record-evidence { "扣分证据：" (evidence_list(&a["against"]["evidence"])) }
                        }
                        div.side.grounds {
                            h3 { "司法所的申诉" }
                            p { "理由：" (text(&a["grounds"])) }
                            p.appeal-evidence { "申诉证据：" (evidence_list(&a["evidence"])) }
                        }
                    }
                    p { a href={ "/station/" (text(&a["station"])) } { "查看该所的全部记录" } }
                    form.stack data-op="decide" {
                        input type="hidden" name="appeal" value=(text(&a["id"]));
                        input type="hidden" name="by" value=(dept);
                        label { "复核结果"
                            select name="outcome" {
                                option value="upheld" { "申诉成立（撤销扣分）" }
                                option value="partial" { "部分成立" }
                                option value="rejected" { "维持扣分" }
                            }
                        }
                        label { "部分成立时保留的分值" input type="text" name="points" inputmode="decimal"; }
                        p.error data-error-for="points" hidden {}
                        label { "复核理由" textarea name="reason" required {} }
                        p.error data-error-for="reason" hidden {}
                        label { "复核证据" span.hint { "每行一条" } textarea name="evidence" data-kind="lines" required {} }
                        p.error data-error-for="evidence" hidden {}
                        p.error data-error-for="form" hidden {}
                        button type="submit" { "复核并签名" }
                    }
                }
            }
        }
    }
}

async fn audit(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    if let crate::events::event::Actor::Station(_) = session.actor {
        return error_page(
            who.as_ref(),
            &ServiceError::Forbidden(
                "the audit page holds every station's records: not for a station".into(),
                "审计页含各司法所的记录：司法所不能查看。".into(),
            ),
        );
    }
    let result = blocking(move || {
        let q = view_query(&p)?;
        let scores = app.service.score(&session, &q)?;
        let ledger = app.service.ledger()?;
        let head = ledger.head();
        let verified = ledger.store().last_verified().ok().flatten();
        let checkpoints = app.service.checkpoints()?;
        let head = (head.next_seq, hex::encode(head.hash));
        let chain = Chain {
            head,
            verified,
            checkpoints,
            previous: ledger.follows().copied(),
        };
        Ok((scores, p, chain, consequence_labels(&ledger)))
    })
    .await;
    match result {
        Ok((scores, p, chain, labels)) => {
            let body = html! {
                (scores_body("各司法所得分", &scores, &p, &labels))
                (chain_card(&chain))
            };
            page(StatusCode::OK, layout("审计", who.as_ref(), body))
        }
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// The event log for those who read every station (auditors, the bureau, departments): a
/// filter form (a plain GET form) and one page of at most `MAX_LOG_PAGE_ROWS` events, with a
/// link to the next page by seq.
async fn audit_log(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    if let crate::events::event::Actor::Station(_) = session.actor {
        return error_page(
            who.as_ref(),
            &ServiceError::Forbidden(
                "the log holds every station's events: not for a station".into(),
                "事件日志含各司法所的记录：司法所不能查看。".into(),
            ),
        );
    }
    let result = blocking(move || {
        let filter = LogFilter::parse(&p)?;
        let q = crate::ledger::query::Query::default();
        let page = app.service.log_page(&session, &filter, &q)?;
        let rubric = app.service.rubric()?;
        let scores = app.service.score(&session, &q)?;
        let receipts = receipts_to(&app.service.checkpoints()?);
        Ok((filter, page, rubric, scores, receipts))
    })
    .await;
    match result {
        Ok((filter, page, rubric, scores, receipts)) => {
            let body = log_body(&filter, &page, &rubric, &scores, receipts);
            page_of("事件日志", who.as_ref(), body)
        }
        Err(e) => error_page(who.as_ref(), &e),
    }
}

fn page_of(title: &str, who: Option<&Session>, body: Markup) -> Response {
    page(StatusCode::OK, layout(title, who, body))
}

/// An event type as people read it (the export's name when it has no Chinese one).
fn type_zh(t: &str) -> &str {
    match t {
        "ledger_created" => "台账创建",
        "ledger_follows" => "台账创建（接续上年）",
        "root_key" => "根密钥",
        "signatures_required" => "启用签名",
        "key_registered" => "登记密钥",
        "key_revoked" => "撤销密钥",
        "station_registered" => "登记司法所",
        "points_recorded" => "记分",
        "metric_reported" => "报送指标",
        "appeal_filed" => "提出申诉",
        "appeal_decided" => "申诉复核",
        "record_reversed" => "撤销记录",
        "period_closed" => "年度结算",
        other => other,
    }
}

/// The departments that own items in the rubric, in the rubric's order.
fn departments(rubric: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in rubric["categories"].as_array().into_iter().flatten() {
        for i in c["items"].as_array().into_iter().flatten() {
            for d in i["departments"].as_array().into_iter().flatten() {
                let d = text(d);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

/// Whether a clause is in a bonus category.
fn bonus_clause(rubric: &Value, clause: &Value) -> bool {
    rubric["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["items"].as_array().into_iter().flatten().any(|i| {
                i["clauses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|cl| &cl["clause"] == clause)
            })
        })
        .is_some_and(|c| c["bonus"] == true)
}

/// The query of a filter (`?station=…&…`, or nothing), with `from_seq` replaced when given
/// (the next page's link).
fn filter_query(f: &LogFilter, from_seq: Option<u64>) -> String {
    let mut q = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            q.push(format!("{k}={}", url_value(&v)));
        }
    };
    put("station", f.station.clone());
    put("by", f.by.clone());
    put("clause", f.clause.clone());
    put("type", f.kind.clone());
    put("from_seq", from_seq.or(f.from_seq).map(|n| n.to_string()));
    put("to_seq", f.to_seq.map(|n| n.to_string()));
    match q.is_empty() {
        true => String::new(),
        false => format!("?{}", q.join("&")),
    }
}

fn log_body(
    f: &LogFilter,
    page: &LogPage,
    rubric: &Value,
    scores: &Value,
    receipts: u64,
) -> Markup {
    let stations: Vec<(String, String)> = scores["stations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (text(&s["station"]), text(&s["name"])))
        .collect();
    let clauses: Vec<(String, String)> = rubric["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["items"].as_array().into_iter().flatten())
        .flat_map(|i| i["clauses"].as_array().into_iter().flatten())
        .map(|c| (text(&c["clause"]), text(&c["text"])))
        .collect();
    let is = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    html! {
        section.card {
            h1 { "事件日志" }
            p.muted { "台账中的每个事件，按序号排列；每页最多 " (crate::base::limits::MAX_LOG_PAGE_ROWS) " 条。也可下载 "
                a #log-json href={ "/api/v1/log" (filter_query(f, None)) } { "JSON Lines" } "（按同一筛选）。" }
            form.filters #log-filter method="get" action="/audit/log" {
                label { "司法所"
                    select name="station" {
                        option value="" { "全部" }
                        @for (code, name) in &stations { option value=(code) selected[is(&f.station, code)] { (code) " " (name) } }
                    }
                }
                label { "部门"
                    select name="by" {
                        option value="" { "全部" }
                        @for d in departments(rubric) { option value=(d) selected[is(&f.by, &d)] { (d) } }
                    }
                }
                label { "条款"
                    select name="clause" {
                        option value="" { "全部" }
                        @for (code, t) in &clauses { option value=(code) selected[is(&f.clause, code)] { (code) " " (t) } }
                    }
                }
                label { "类型"
                    select name="type" {
                        option value="" { "全部" }
                        @for t in crate::service::reads::EVENT_TYPES { option value=(t) selected[is(&f.kind, t)] { (type_zh(t)) } }
                    }
                }
                label { "起始序号" input type="number" name="from_seq" min="0" value=[f.from_seq]; }
                label { "截止序号" input type="number" name="to_seq" min="0" value=[f.to_seq]; }
                div.row {
                    button type="submit" { "筛选" }
                    a #clear-filter href="/audit/log" { "清除筛选" }
                }
            }
        }
        section.card {
            @if page.rows.is_empty() { p.muted #log-empty { "没有符合条件的事件。" } }
            @else {
                p.muted #log-count { "本页 " (page.rows.len()) " 条（第 " (page.rows.first().map(|r| text(&r["seq"])).unwrap_or_default()) " 至 " (page.rows.last().map(|r| text(&r["seq"])).unwrap_or_default()) " 号）" }
                table #log {
                    thead { tr {
                        th.num { "序号" } th.wide { "记录时间" } th { "类型" } th { "司法所" }
                        th { "条款" } th { "部门" } th.num { "分值" } th.wide { "编号" }
                    } }
                    tbody { @for e in &page.rows { (log_row(e, rubric, receipts)) } }
                }
            }
            @if let Some(next) = page.next {
                p { a #next-page href={ "/audit/log" (filter_query(f, Some(next))) } { "下一页" } " （从第 " (next) " 号事件起）" }
            }
        }
    }
}

/// One event of the log page.
fn log_row(e: &Value, rubric: &Value, receipts: u64) -> Markup {
    let t = text(&e["type"]);
    let seq = e["seq"].as_u64().unwrap_or(0);
    let kind = match t.as_str() {
        "points_recorded" if bonus_clause(rubric, &e["clause"]) => "加分".to_string(),
        "points_recorded" => "扣分".to_string(),
        "appeal_decided" => format!("申诉复核：{}", outcome_zh(&text(&e["outcome"]))),
        other => type_zh(other).to_string(),
    };
    let points = match t.as_str() {
        "points_recorded" if bonus_clause(rubric, &e["clause"]) => {
            format!("+{}", text(&e["computed_points"]))
        }
        "points_recorded" => format!("−{}", text(&e["computed_points"])),
        "appeal_decided" if e["outcome"] == "partial" => format!("保留 {}", text(&e["points"])),
        _ => String::new(),
    };
    let by = match t.as_str() {
        "appeal_filed" => text(&e["record"]["by"]),
        _ => text(&e["by"]),
    };
    let id = match t.as_str() {
        "appeal_decided" => text(&e["appeal"]),
        _ => text(&e["id"]),
    };
    html! {
        tr data-type=(t) {
            td.num {
                a href={ "/api/v1/events/" (seq) } { (seq) }
                @if seq < receipts { br; a.receipt href={ "/api/v1/receipt/" (seq) } download={ "kaohe-receipt-" (seq) ".json" } { "收据" } }
            }
            td.wide.hash { (text(&e["recorded_at"])) }
            td { (kind) }
            td.station.code { (text(&e["station"])) }
            td.clause {
                @match t.as_str() {
                    "points_recorded" => span.code { (text(&e["clause"])) },
                    "metric_reported" => { (metric_label(rubric, &e["metric"])) " = " (text(&e["value"])) },
                    "station_registered" => (text(&e["name"])),
                    _ if e["record"].is_object() => { span.code { (text(&e["record"]["clause"])) } span.muted { "（第 " (text(&e["record"]["seq"])) " 号记录）" } },
                    _ => "",
                }
            }
            td { (by) }
            td.num { (points) }
            td.wide { (id) }
        }
    }
}

/// What the audit page's chain card shows.
struct Chain {
    /// The head: events and the last hash.
    head: (u64, String),
    verified: Option<crate::store::Verified>,
    checkpoints: Value,
    /// The previous year's sealed head, when this ledger follows one.
    previous: Option<crate::events::event::Sealed>,
}

/// The chain's head, the previous year it follows, the last full verification, the
/// checkpoints and the downloads.
fn chain_card(c: &Chain) -> Markup {
    let (head, checkpoints) = (&c.head, &c.checkpoints);
    html! {
        section.card #chain {
            h2 { "台账链" }
            p { "事件数 " strong #head-size { (head.0) } " · 链头哈希 " span.hash #head-hash { (head.1) } }
            (previous_year(c.previous.as_ref()))
            @match &c.verified {
                Some(v) => p { "最近一次完整校验（kaohe verify）：至第 " (v.seq) " 号事件无误，链头 " span.hash { (hex::encode(v.hash)) } },
                None => p.muted { "尚无完整校验记录（在服务停止时运行 kaohe verify）。" },
            }
            h3 { "检查点" }
            @let list = checkpoints.as_array().cloned().unwrap_or_default();
            @if list.is_empty() { p.muted { "尚无检查点。" } }
            @else {
                table {
                    thead { tr { th.num { "事件数" } th { "根哈希" } } }
                    tbody { @for c in &list { tr { td.num { (text(&c["size"])) } td.hash { (text(&c["root"])) } } } }
                }
            }
            h3 { "下载" }
            ul {
                li { a href="/api/v1/export" download="kaohe-export.jsonl" { "全部事件（JSON Lines，可离线用 kaohe verify --export 校验）" } }
                li { a #log-page href="/audit/log" { "事件日志（可按司法所、部门、条款、类型和序号筛选）" } }
                li { a href="/api/v1/log" { "事件日志（JSON Lines）" } }
                li { a href="/api/v1/checkpoints" { "检查点（JSON）" } }
            }
            p.muted { "单个事件的收据（证明该事件在已签署的检查点之内，可用 kaohe verify-receipt 离线校验）：在事件日志中每个已被检查点覆盖的事件旁下载，或 /api/v1/receipt/序号。" }
        }
    }
}

async fn bureau(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    if !matches!(session.actor, crate::events::event::Actor::Bureau(_)) {
        return error_page(
            who.as_ref(),
            &ServiceError::Forbidden(
                "the year end is the bureau's".into(),
                "年终结算页只供司法局使用。".into(),
            ),
        );
    }
    let result = blocking(move || {
        let q = view_query(&p)?;
        let pending = app.service.appeals(&session, true)?;
        let scores = app.service.score(&session, &q)?;
        let closing = match app.service.ledger()?.closed_at() {
            Some(seq) => Some(app.service.event(&session, &seq.to_string())?),
            None => None,
        };
        // The gaps matter only before the close (they read the whole chain).
        let gaps = match closing {
            Some(_) => Value::Null,
            None => app.service.gaps(&session)?,
        };
        let ledger = app.service.ledger()?;
        let year_end = YearEnd {
            gaps,
            rubric: app.service.rubric()?,
            closing,
            labels: consequence_labels(&ledger),
            previous: ledger.follows().copied(),
        };
        Ok((scores, p, pending, year_end))
    })
    .await;
    match result {
        Ok((scores, p, pending, year_end)) => {
            let closed = year_end.closing.is_some();
            let body = html! {
                (scores_body(if closed { "最终排名" } else { "排名" }, &scores, &p, &year_end.labels))
                section.card #year-end {
                    h2 { "年终结算" }
                    (previous_year(year_end.previous.as_ref()))
                    @if let Some(c) = &year_end.closing {
                        p #closed { "本年度已于第 " (text(&c["seq"])) " 号事件结算，以上为最终得分和名次。" }
                        @let accepted = c["accepted_gaps"].as_array().cloned().unwrap_or_default();
                        @if !accepted.is_empty() {
                            h3 { "结算时接受的未扣分情形" }
                            (gaps_table(&accepted, &year_end.rubric, "accepted-gaps"))
                            p { "理由：" (text(&c["reason"])) }
                        }
                    } @else {
                        p { "结算前须处理完所有申诉；司法所的年终数值未达标准而未记录扣分的，须先记录扣分，或说明理由后接受。" }
                        h3 { "待复核的申诉" }
                        @let list = pending["appeals"].as_array().cloned().unwrap_or_default();
                        @if list.is_empty() { p.muted #no-pending { "没有待复核的申诉。" } }
                        @else {
                            ul #pending { @for a in &list { li { (text(&a["id"])) " · " (text(&a["station"])) " 对 " (text(&a["against"]["id"])) "（" (text(&a["against"]["by"])) "，条款 " (text(&a["against"]["clause"])) "）" } } }
                        }
                        h3 { "未达标准而未扣分的情形" }
                        @let gaps = year_end.gaps["gaps"].as_array().cloned().unwrap_or_default();
                        @if gaps.is_empty() { p.muted #no-gaps { "没有：各所的年终数值均已达标或已记录扣分。" } }
                        @else {
                            p { "以下 " (gaps.len()) " 项按年终数值应扣分而未记录。可由主管部门先记录扣分；或在下方说明理由后接受，理由与这些情形一并写入结算事件。" }
                            (gaps_table(&gaps, &year_end.rubric, "gaps"))
                        }
                        form.stack #close data-op="close" {
                            @if !gaps.is_empty() {
                                label for="close-reason" { "接受以上情形的理由" span.hint { "必填：例如数值口径经局务会认定" } }
                                textarea #close-reason name="reason" required {}
                                p.error data-error-for="reason" hidden {}
                            }
                            p.error data-error-for="period" hidden {}
                            p.error data-error-for="form" hidden {}
                            button type="submit" { "结算并签名" }
                        }
                    }
                    p { a #report href="/report" download="kaohe-report.html" { "下载考核报告（HTML，可打印）" } }
                }
                section.card {
                    h2 { "对账" }
                    p.muted { "上传部门的台账（CSV 或 Excel .xlsx，表头 司法所,项目,扣分,加分 或 station,item,deducted,awarded），与本台账各项的扣分、加分核对。" }
                    form.stack #reconcile {
                        label for="tallies" { "部门台账文件" }
                        input #tallies type="file" accept=".csv,.xlsx";
                        p.error data-error-for="tallies" hidden {}
                        button type="submit" { "核对" }
                    }
                    div #reconcile-result aria-live="polite" {}
                }
            };
            page(StatusCode::OK, layout("司法局", who.as_ref(), body))
        }
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// What the bureau's year end shows beside the ranking and the pending appeals.
struct YearEnd {
    /// `Service::gaps` (before the close; null after it).
    gaps: Value,
    rubric: Value,
    /// The closing event (`show --json`), once the period is closed.
    closing: Option<Value>,
    /// The labels of the rubric's consequences table.
    labels: Vec<String>,
    /// The previous year's sealed head, when this ledger follows one.
    previous: Option<crate::events::event::Sealed>,
}

/// A metric's label in the rubric, or its name.
fn metric_label(rubric: &Value, metric: &Value) -> String {
    rubric["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| &m["metric"] == metric)
        .map(|m| text(&m["label"]))
        .unwrap_or_else(|| text(metric))
}

/// Gaps (`{"station", "clause", "metric", "value", "points"}`) as a table.
fn gaps_table(gaps: &[Value], rubric: &Value, id: &str) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "司法所" } th { "条款" } th { "指标" } th.num { "年终数值" } th.num { "应扣分" } } }
            tbody {
                @for g in gaps {
                    tr {
                        td.code { (text(&g["station"])) }
                        td { span.code { (text(&g["clause"])) } " " span.wide { (clause_text(rubric, &g["clause"])) } }
                        td { (metric_label(rubric, &g["metric"])) }
                        td.num { (text(&g["value"])) }
                        td.num { (text(&g["points"])) }
                    }
                }
            }
        }
    }
}

/// A file to download: its type and name, never shown inline.
fn download(kind: &'static str, name: &str, body: impl IntoResponse) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The scores as an Excel workbook (`kaohe export --scores --format xlsx`), in a view; a
/// station's own row only until the period is closed, as `score`.
async fn scores_xlsx(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlQuery(p): Params,
) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    let result = blocking(move || {
        let q = view_query(&p)?;
        let ledger = app.service.ledger()?;
        let s = crate::ops::actions::scores(&ledger, &q)?;
        if let crate::events::event::Actor::Station(_) = &session.actor {
            if s.final_at.is_none() {
                return Err(ServiceError::Forbidden(
                    "the scores show ranks: before the close a station reads only its own".into(),
                    "得分表含名次：结算前司法所只能查看本所得分。".into(),
                ));
            }
        }
        crate::render::xlsx::workbook(&s.scores, ledger.rubric(), &s.view.describe())
            .map_err(|e| ServiceError::Internal(e.to_string()))
    })
    .await;
    match result {
        Ok(bytes) => download(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "kaohe-scores.xlsx",
            bytes,
        ),
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// The HTML report (`kaohe report`), as a download: its own inline styles are not this site's
/// pages', so it is never shown inline here.
async fn report(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return sign_in_first();
    };
    if let crate::events::event::Actor::Station(_) = session.actor {
        return error_page(
            who.as_ref(),
            &ServiceError::Forbidden(
                "the report holds every station's records: not for a station".into(),
                "报告含各司法所的记录：司法所不能下载。".into(),
            ),
        );
    }
    let result = blocking(move || {
        let q = view_query(&p)?;
        let ledger = app.service.ledger()?;
        let view = ledger.view(&q)?;
        let opts = crate::render::report::Options {
            stations: Vec::new(),
        };
        crate::render::report::render(&ledger, &view, &opts).map_err(ServiceError::from)
    })
    .await;
    match result {
        Ok(html) => download("text/html; charset=utf-8", "kaohe-report.html", html),
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// A query value percent-encoded where it would change the query's meaning.
fn url_value(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '&' => "%26".to_string(),
            '#' => "%23".to_string(),
            '%' => "%25".to_string(),
            ' ' => "%20".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `?at=…&known_at=…` of the view in `p`, or nothing.
fn view_suffix(p: &HashMap<String, String>) -> String {
    let q: Vec<String> = ["at", "known_at", "as_of_seq"]
        .iter()
        .filter_map(|k| {
            p.get(*k)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", url_value(v)))
        })
        .collect();
    match q.is_empty() {
        true => String::new(),
        false => format!("?{}", q.join("&")),
    }
}

/// The scores of a view as a table; with the rubric's consequences table (`labels`), a
/// 考核结果 column in the final view, and before it a note that they are decided at the close.
fn scores_body(
    title: &str,
    scores: &Value,
    p: &HashMap<String, String>,
    labels: &[String],
) -> Markup {
    let rows = scores["stations"]
        .as_array()
        .or_else(|| scores.as_array())
        .cloned()
        .unwrap_or_default();
    let qs = |code: &str| format!("/station/{code}{}", view_suffix(p));
    let with_consequences = !labels.is_empty() && !scores["closed_at_seq"].is_null();
    // A rubric of several sheets: a column per sheet after the total, its weight in the head.
    let sheets: Vec<(String, String, String)> = rows
        .first()
        .and_then(|s| s["sheets"].as_array())
        .into_iter()
        .flatten()
        .map(|x| {
            (
                text(&x["period_name"]),
                text(&x["assessor_name"]),
                percent(&x["weight"]),
            )
        })
        .collect();
    html! {
        section.card {
            h1 { (title) }
            (view_form(p))
            p { a #scores-xlsx href={ "/scores.xlsx" (view_suffix(p)) } download="kaohe-scores.xlsx" { "下载得分表（Excel）" } }
            @if !labels.is_empty() && !with_consequences { (consequences_pending(labels)) }
            @if !sheets.is_empty() {
                p.muted #weights { "总分为各评分表得分的加权和（每个考核主体对每个时段按全部细则评分）："
                    (sheets.iter().map(|(p, a, w)| format!("{p}·{a} {w}%")).collect::<Vec<_>>().join("、")) "。" }
            }
            table #scores {
                thead { tr {
                    th.num { "名次" } th { "司法所" } th.num { "总分" }
                    @for (period, assessor, weight) in &sheets { th.num.sheet { span.period { (period) } span.dot { "·" } span.assessor { (assessor) } " " span.weight { (weight) "%" } } }
                    th.num.wide { "扣分" } th.num.wide { "加分" }
                    @if with_consequences { th { "考核结果" } }
                } }
                tbody {
                    @for s in &rows {
                        tr {
                            td.num { (text(&s["rank"])) }
                            @if sheets.is_empty() {
                                td { a href=(qs(&text(&s["station"]))) { (text(&s["station"])) " " (text(&s["name"])) } }
                            } @else {
                                // Narrow columns beside it: the code is kept whole.
                                td { a href=(qs(&text(&s["station"]))) { span.code { (text(&s["station"])) } " " (text(&s["name"])) } }
                            }
                            td.num { (text(&s["total"])) }
                            @for x in s["sheets"].as_array().into_iter().flatten() { td.num.sheet { (text(&x["total"])) } }
                            td.num.wide { (text(&s["deducted"])) }
                            td.num.wide { (text(&s["awarded"])) }
                            @if with_consequences { td.consequences { (consequences_cell(&s["consequences"])) } }
                        }
                    }
                }
            }
        }
    }
}

/// The labels of the rubric's consequences table, in its order (none when it has no table).
fn consequence_labels(ledger: &crate::ledger::Ledger) -> Vec<String> {
    // Each label once (two money rows, one per kind of station, may share one).
    let mut labels: Vec<String> = Vec::new();
    for c in &ledger.rubric().consequences {
        if !labels.contains(&c.label) {
            labels.push(c.label.clone());
        }
    }
    labels
}

/// Before the final scores: what the consequences table names, decided at the close.
fn consequences_pending(labels: &[String]) -> Markup {
    html! {
        p.muted #consequences-pending { "考核结果（" (labels.join("、")) "）在年度结算后按最终得分确定。" }
    }
}

/// A station's consequences as `score` shows them (`考核奖励 990；取消补助`), or 无.
fn consequences_text(list: &[crate::domain::consequences::Outcome]) -> String {
    match list.is_empty() {
        true => "无".into(),
        false => crate::render::view::consequences_text(list),
    }
}

/// A station's consequences (`score --json`'s `consequences`) as `score` shows them
/// (`考核奖励 990；取消补助`), or 无.
fn consequences_cell(list: &Value) -> String {
    let parts: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| match o["amount"].as_str() {
            Some(a) => format!("{} {a}", text(&o["label"])),
            None => text(&o["label"]),
        })
        .collect();
    match parts.is_empty() {
        true => "无".into(),
        false => parts.join("；"),
    }
}

/// The previous year this ledger follows (its genesis, `init --follows`): its ledger id,
/// period and sealed head; nothing for a ledger that follows none.
fn previous_year(sealed: Option<&crate::events::event::Sealed>) -> Markup {
    html! {
        @if let Some(s) = sealed {
            p #previous-year {
                "上一年度：台账 " span.hash { (hex::encode(s.ledger_id)) }
                "，" (s.period_start) " 至 " (s.period_end) "，于第 " (s.seq) " 号事件封账，链头 "
                span.hash { (hex::encode(s.hash)) }
            }
        }
    }
}
