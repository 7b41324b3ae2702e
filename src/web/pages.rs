//! The pages of `kaohe serve`, in Chinese, rendered on the server (maud escapes every value it
//! is given, so whatever a station or department sent is shown as text). Writes go through
//! forms that `assets/app.js` signs in the browser; every asset is in the binary, and the
//! Content-Security-Policy allows nothing from elsewhere and no inline script.

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
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
    };
    let result = blocking(move || {
        let q = view_query(&p)?;
        let today = crate::domain::rules::local_day(app.service.now()).to_string();
        let x = app.service.explain(&session, &code, None, &q)?;
        let appeals = app.service.appeals(&session, false)?;
        let rubric = app.service.rubric()?;
        Ok((x, appeals, rubric, p, today))
    })
    .await;
    match result {
        Ok((x, appeals, rubric, p, today)) => page(
            StatusCode::OK,
            layout(
                "司法所",
                who.as_ref(),
                station_body(who.as_ref(), &x, &appeals, &rubric, &p, &today),
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

fn station_body(
    who: Option<&Session>,
    x: &Value,
    appeals: &Value,
    rubric: &Value,
    p: &HashMap<String, String>,
    today: &str,
) -> Markup {
    let own = who.is_some_and(|s| {
        matches!(&s.actor, crate::events::event::Actor::Station(c) if Value::String(c.clone()) == x["station"])
    });
    let window = rubric["appeal_window_days"].as_u64().unwrap_or(0);
    html! {
        section.card {
            h1 #station-title { (text(&x["name"])) " " span.muted { (text(&x["station"])) } }
            p {
                span.total #total { (text(&x["total"])) } " 分"
                @if let Some(rank) = x["rank"].as_u64() {
                    " · 第 " strong #rank { (rank) } " 名（共 " (text(&x["stations"])) " 个司法所）"
                }
            }
            p.muted { "扣分 " (text(&x["deducted"])) " · 加分 " (text(&x["awarded"])) " · 视图：" (view_text(&x["view"], p)) }
            (view_form(p))
        }
        @for item in x["items"].as_array().into_iter().flatten() {
            @if item["clauses"].as_array().is_some_and(|c| c.iter().any(|c| c["events"].as_array().is_some_and(|e| !e.is_empty()))) {
                section.card.item {
                    h2 { (text(&item["item"])) " " (text(&item["name"])) " "
                        span.muted { "（满分 " (text(&item["max"])) "，扣 " (text(&item["deducted"])) "，加 " (text(&item["awarded"])) "）" } }
                    @for clause in item["clauses"].as_array().into_iter().flatten() {
                        @if clause["events"].as_array().is_some_and(|e| !e.is_empty()) {
                            h3 { (text(&clause["clause"])) " " (text(&clause["text"])) }
                            ul.events {
                                @for e in clause["events"].as_array().into_iter().flatten() {
                                    li { (event_item(e, own.then(|| text(&x["station"])), window, today)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "申诉" }
            @let list = appeals["appeals"].as_array().cloned().unwrap_or_default();
            @if list.is_empty() { p.muted { "没有申诉。" } }
            @else {
                table {
                    thead { tr { th { "申诉" } th { "针对" } th { "状态" } th.wide { "理由" } } }
                    tbody {
                        @for a in &list {
                            @if a["station"] == x["station"] {
                                tr { td { (text(&a["id"])) } td { (text(&a["against"]["id"])) } td.status { (status_zh(&text(&a["status"]))) } td.wide { (text(&a["grounds"])) } }
                            }
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

/// One record with its story; `own_station` when the person reading is its station (who may
/// appeal a deduction not yet disputed).
fn event_item(e: &Value, own_station: Option<String>, window_days: u64, today: &str) -> Markup {
    let deduction = e["direction"] == "deduction";
    let class = if deduction { "deduction" } else { "bonus" };
    html! {
        div {
            strong class=(class) { (if deduction { "扣 " } else { "加 " }) (text(&e["applied_points"])) " 分" }
            " · " (text(&e["id"])) " · " (text(&e["by"])) " · 发生于 " (text(&e["occurred"]))
        }
        @if let Some(note) = e["note"].as_str() { div { "说明：" (note) } }
        div.muted { "计算：" (text(&e["working"])) }
        div { "证据：" (evidence_list(&e["evidence"])) }
        div.hash { "记录于 " (text(&e["recorded_at"])) " · 哈希 " (text(&e["hash"])) }
        @for h in e["history"].as_array().into_iter().flatten() {
            div.muted { (text(&h["type"])) " " (text(&h["id"])) " " (text(&h["outcome"])) " " (text(&h["reason"])) (text(&h["grounds"])) }
        }
        @if let Some(station) = own_station.filter(|_| deduction && e["history"].as_array().is_none_or(|h| h.is_empty())) {
            (appeal_form(e, &station, days_left(e, window_days, today)))
        }
    }
}

fn evidence_list(v: &Value) -> Markup {
    html! {
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
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
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

/// The clause codes and texts of the items `dept` owns, with their rule kinds.
fn own_clauses(rubric: &Value, dept: &str) -> Vec<(String, String, String)> {
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
                    out.push((text(&cl["clause"]), text(&cl["text"]), text(&cl["kind"])));
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
                    @for (code, t, kind) in &clauses {
                        option value=(code) data-kind=(kind) { (code) " " (t) }
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
        section.card {
            h2 { "待复核的申诉" }
            @let list: Vec<Value> = appeals["appeals"].as_array().into_iter().flatten().filter(|a| a["against"]["by"] == dept).cloned().collect();
            @if list.is_empty() { p.muted #no-appeals { "没有待复核的申诉。" } }
            @for a in &list {
                div.appeal {
                    p { strong { (text(&a["id"])) } " · " (text(&a["station"])) " 对 " (text(&a["against"]["id"]))
                        "（条款 " (text(&a["against"]["clause"])) "，扣 " (text(&a["against"]["computed_points"])) " 分）的申诉：" (text(&a["grounds"])) }
                    p.muted { "申诉证据：" (evidence_list(&a["evidence"])) }
                    p { a href={ "/station/" (text(&a["station"])) } { "查看该所的扣分及其证据" } }
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
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
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
        Ok((scores, p, head, verified, checkpoints))
    })
    .await;
    match result {
        Ok((scores, p, head, verified, checkpoints)) => {
            let body = html! {
                (scores_body("各司法所得分", &scores, &p))
                (chain_card(&head, verified.as_ref(), &checkpoints))
            };
            page(StatusCode::OK, layout("审计", who.as_ref(), body))
        }
        Err(e) => error_page(who.as_ref(), &e),
    }
}

/// The chain's head, the last full verification, the checkpoints and the downloads.
fn chain_card(
    head: &(u64, String),
    verified: Option<&crate::store::Verified>,
    checkpoints: &Value,
) -> Markup {
    html! {
        section.card #chain {
            h2 { "台账链" }
            p { "事件数 " strong #head-size { (head.0) } " · 链头哈希 " span.hash #head-hash { (head.1) } }
            @match verified {
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
                li { a href="/api/v1/log" { "事件日志（JSON Lines）" } }
                li { a href="/api/v1/checkpoints" { "检查点（JSON）" } }
            }
        }
    }
}

async fn bureau(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let who = session_from(&app, &headers);
    let Some(session) = who.clone() else {
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
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
        Ok((app.service.score(&session, &q)?, p, pending))
    })
    .await;
    match result {
        Ok((scores, p, pending)) => {
            let closed = !scores["closed_at_seq"].is_null();
            let body = html! {
                (scores_body("排名", &scores, &p))
                section.card #year-end {
                    h2 { "年终结算" }
                    @if closed {
                        p #closed { "本年度已于第 " (text(&scores["closed_at_seq"])) " 号事件结算，以上为最终得分。" }
                    } @else {
                        p { "结算前须处理完所有申诉；未达标准而未扣分的情形须说明理由后接受。" }
                        @let list = pending["appeals"].as_array().cloned().unwrap_or_default();
                        @if list.is_empty() { p.muted #no-pending { "没有待复核的申诉。" } }
                        @else {
                            p { "待复核的申诉：" }
                            ul #pending { @for a in &list { li { (text(&a["id"])) " · " (text(&a["station"])) " · " (text(&a["against"]["by"])) } } }
                        }
                        form.stack data-op="close" {
                            label { "接受未扣分情形的理由（如有）" textarea name="reason" {} }
                            p.error data-error-for="period" hidden {}
                            p.error data-error-for="form" hidden {}
                            button type="submit" { "结算并签名" }
                        }
                    }
                    p { a href="/report" download="kaohe-report.html" { "下载考核报告（HTML，可打印）" } }
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
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
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
        return error_page(
            None,
            &ServiceError::Unauthorized("sign in first".into(), "请先登录。".into()),
        );
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

fn scores_body(title: &str, scores: &Value, p: &HashMap<String, String>) -> Markup {
    let rows = scores["stations"]
        .as_array()
        .or_else(|| scores.as_array())
        .cloned()
        .unwrap_or_default();
    let qs = |code: &str| format!("/station/{code}{}", view_suffix(p));
    html! {
        section.card {
            h1 { (title) }
            (view_form(p))
            p { a #scores-xlsx href={ "/scores.xlsx" (view_suffix(p)) } download="kaohe-scores.xlsx" { "下载得分表（Excel）" } }
            table #scores {
                thead { tr { th.num { "名次" } th { "司法所" } th.num { "总分" } th.num.wide { "扣分" } th.num.wide { "加分" } } }
                tbody {
                    @for s in &rows {
                        tr {
                            td.num { (text(&s["rank"])) }
                            td { a href=(qs(&text(&s["station"]))) { (text(&s["station"])) " " (text(&s["name"])) } }
                            td.num { (text(&s["total"])) }
                            td.num.wide { (text(&s["deducted"])) }
                            td.num.wide { (text(&s["awarded"])) }
                        }
                    }
                }
            }
        }
    }
}
