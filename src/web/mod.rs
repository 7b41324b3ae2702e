//! `kaohe serve`: the service over HTTP (the only module that knows HTTP). Every route maps a
//! request onto a `service::Service` use case and its outcome onto a status and a JSON body
//! (`{"error", "field"}` when refused). Requests from another site are refused; every body is
//! bounded; one access-log line per request goes to stderr, outside the chain.

mod pages;

use crate::base::limits::{
    EXPORT_CHUNKS_AHEAD, EXPORT_CHUNK_BYTES, MAX_CONCURRENT_EVIDENCE_FILES,
    MAX_CONCURRENT_REQUESTS, MAX_EVIDENCE_FILE_BYTES, MAX_REQUEST_BYTES, SESSION_TTL_SECS,
};
use crate::service::{parse_query, Service, ServiceError};
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query as UrlQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kaohe_session";

/// How `kaohe serve` runs.
pub struct Config {
    pub listen: SocketAddr,
    /// How often the service signs a checkpoint of the head (when it moved), if it has a log
    /// key (`Service::with_checkpoint_key`); and once more when it stops.
    pub checkpoint_every: Option<std::time::Duration>,
    /// PEM files of the certificate chain and its key, for HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the server failed: {0}")]
    Run(String),
}

pub(super) struct App {
    pub(super) service: Service,
    requests: AtomicU64,
    limit: tokio::sync::Semaphore,
    secure: bool,
}

pub(super) type Shared = Arc<App>;

/// Serves `service` until SIGTERM or Ctrl-C: then it stops accepting, finishes what was
/// accepted (every commit is durable before its response) and returns. `ready` is called with
/// the address once the server listens.
pub fn serve(service: Service, config: Config, ready: impl FnOnce(&str)) -> Result<(), WebError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| WebError::Run(e.to_string()))?;
    runtime.block_on(run(service, config, ready))
}

async fn run(service: Service, config: Config, ready: impl FnOnce(&str)) -> Result<(), WebError> {
    let app = Arc::new(App {
        service,
        requests: AtomicU64::new(0),
        limit: tokio::sync::Semaphore::new(MAX_CONCURRENT_REQUESTS),
        secure: config.tls.is_some(),
    });
    let router = routes(app.clone());
    if let Some(every) = config.checkpoint_every {
        tokio::spawn(scheduled_checkpoints(app.clone(), every));
    }
    let served = match config.tls {
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| WebError::Listen(config.listen, e.to_string()))?;
            let addr = listener
                .local_addr()
                .map_err(|e| WebError::Listen(config.listen, e.to_string()))?;
            ready(&format!("http://{addr}"));
            // Once told to stop: stop accepting, let running requests finish, but wait no
            // longer than SHUTDOWN_GRACE_SECS for a client that never finishes sending.
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = tx.send(true);
            });
            let mut stopping = rx.clone();
            let graceful = async move {
                let mut rx = rx;
                let _ = rx.wait_for(|stop| *stop).await;
            };
            let deadline = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
                let grace = crate::base::limits::SHUTDOWN_GRACE_SECS;
                tokio::time::sleep(std::time::Duration::from_secs(grace)).await;
            };
            tokio::select! {
                served = axum::serve(listener, router).with_graceful_shutdown(graceful) => {
                    served.map_err(|e| WebError::Run(e.to_string()))
                }
                _ = deadline => Ok(()),
            }
        }
        Some((cert, key)) => serve_tls(router, config.listen, &cert, &key, ready).await,
    };
    if config.checkpoint_every.is_some() {
        checkpoint_once(&app).await;
    }
    served
}

/// Signs a checkpoint every `every` while the head moves.
async fn scheduled_checkpoints(app: Shared, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        checkpoint_once(&app).await;
    }
}

async fn checkpoint_once(app: &Shared) {
    let app = app.clone();
    let done = blocking(move || app.service.checkpoint_now()).await;
    let line = match done {
        Ok(Some(size)) => {
            serde_json::json!({"at": jiff::Timestamp::now().to_string(), "checkpoint": size})
        }
        Ok(None) => return,
        Err(e) => {
            serde_json::json!({"at": jiff::Timestamp::now().to_string(), "checkpoint_error": e.to_string()})
        }
    };
    eprintln!("{line}");
}

async fn serve_tls(
    router: Router,
    listen: SocketAddr,
    cert: &std::path::Path,
    key: &std::path::Path,
    ready: impl FnOnce(&str),
) -> Result<(), WebError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| WebError::Tls(e.to_string()))?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|e| WebError::Listen(listen, e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| WebError::Listen(listen, e.to_string()))?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopper.graceful_shutdown(None);
    });
    ready(&format!("https://{addr}"));
    axum_server::from_tcp_rustls(listener, tls)
        .handle(handle)
        .serve(router.into_make_service())
        .await
        .map_err(|e| WebError::Run(e.to_string()))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn routes(app: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/session/challenge", post(challenge))
        .route("/api/v1/session", post(sign_in).delete(sign_out))
        .route("/api/v1/score", get(score))
        .route("/api/v1/stations/{code}/explain", get(explain))
        .route("/api/v1/log", get(log))
        .route("/api/v1/appeals", get(appeals))
        .route("/api/v1/gaps", get(gaps))
        .route("/api/v1/rubric", get(rubric))
        .route("/api/v1/commands/prepare", post(prepare))
        .route("/api/v1/commands/commit", post(commit))
        .route("/api/v1/close/prepare", post(prepare_close))
        .route("/api/v1/commands/prepare-batch", post(prepare_batch))
        .route("/api/v1/reconcile", post(reconcile))
        .route("/api/v1/events/{name}", get(event))
        .route("/api/v1/receipt/{name}", get(receipt))
        .route("/api/v1/export", get(export))
        .route("/api/v1/checkpoints", get(checkpoints))
        .route("/api/v1/evidence", post(upload_evidence))
        .route("/api/v1/evidence/{hash}", get(download_evidence))
        .merge(pages::routes())
        .fallback(|| async {
            refusal(ServiceError::NotFound(
                "no such page".into(),
                "没有这一页".into(),
            ))
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Around every request: the concurrency bound, cross-site refusal, and the access log.
async fn guard(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let who = token(request.headers())
        .and_then(|t| app.service.session_actor(&t))
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let response = match cross_site(&method, request.headers()) {
        true => refusal(ServiceError::Forbidden(
            "requests from another site are refused".into(),
            "拒绝来自其他网站的请求".into(),
        )),
        false => match app.limit.acquire().await {
            Ok(_permit) => next.run(request).await,
            Err(_) => refusal(shutting_down()),
        },
    };
    let mut response = response;
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        // Nothing a signed-in person reads may be kept by a browser or a proxy.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    app.requests.fetch_add(1, Ordering::Relaxed);
    let line = serde_json::json!({
        "at": jiff::Timestamp::now().to_string(), "who": who, "method": method.as_str(),
        "path": path, "status": response.status().as_u16(),
        "ms": started.elapsed().as_secs_f64() * 1e3,
    });
    eprintln!("{line}");
    response
}

/// A request that changes something, sent by a page of another site (the browser says so:
/// `Sec-Fetch-Site`, or an `Origin` that is not this host).
fn cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site") | Some("same-site")) {
        return true;
    }
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin_host != host
}

/// The session token: `Authorization: Bearer T`, else the session cookie.
pub(super) fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

fn refusal(e: ServiceError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(e.json())).into_response()
}

fn json_ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Runs a use case off the async workers (it reads files and waits for disks).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
}

/// The request's session, or 401.
fn session_of(
    app: &App,
    headers: &HeaderMap,
) -> Result<crate::service::sessions::Session, ServiceError> {
    let t = token(headers).ok_or_else(|| {
        ServiceError::Unauthorized(
            "sign in first: POST /api/v1/session/challenge".into(),
            "请先登录：POST /api/v1/session/challenge".into(),
        )
    })?;
    app.service.session(&t)
}

/// A JSON object body, at most [`MAX_REQUEST_BYTES`].
async fn json_body(body: Body) -> Result<Value, ServiceError> {
    let bytes: Bytes = read_body(body, MAX_REQUEST_BYTES, too_large).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::bad(
            "body",
            format!("not JSON: {e}"),
            format!("不是有效的 JSON：{e}"),
        )
    })
}

fn shutting_down() -> ServiceError {
    ServiceError::Unavailable("shutting down".into(), "服务正在停止".into())
}

/// A request's body, at most `limit` bytes, within [`REQUEST_BODY_TIMEOUT_SECS`]: a client that
/// stops sending holds a request slot no longer than that (408).
async fn read_body(
    body: Body,
    limit: usize,
    too_large: fn() -> ServiceError,
) -> Result<Bytes, ServiceError> {
    let wait = std::time::Duration::from_secs(crate::base::limits::REQUEST_BODY_TIMEOUT_SECS);
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ServiceError::Timeout(
            format!(
                "the request's body did not arrive within {} s",
                crate::base::limits::REQUEST_BODY_TIMEOUT_SECS
            ),
            format!(
                "请求内容未在 {} 秒内传完",
                crate::base::limits::REQUEST_BODY_TIMEOUT_SECS
            ),
        )),
        Ok(Err(_)) => Err(too_large()),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn too_large() -> ServiceError {
    ServiceError::Bad {
        field: "body".into(),
        message: format!("larger than {MAX_REQUEST_BYTES} bytes"),
        zh: format!("请求超过 {MAX_REQUEST_BYTES} 字节"),
    }
}

fn text_field<'a>(v: &'a Value, field: &str) -> Result<&'a str, ServiceError> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ServiceError::bad(field, "is required (a string)", "必须填写（文字）"))
}

async fn challenge(State(app): State<Shared>, body: Body) -> Response {
    let result = async {
        let v = json_body(body).await?;
        let public = text_field(&v, "public_key")?.to_string();
        blocking(move || app.service.challenge(&public)).await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

async fn sign_in(State(app): State<Shared>, body: Body) -> Response {
    let secure = app.secure;
    let result = async {
        let v = json_body(body).await?;
        let (p, c, s) = (
            text_field(&v, "public_key")?.to_string(),
            text_field(&v, "challenge")?.to_string(),
            text_field(&v, "signature")?.to_string(),
        );
        blocking(move || app.service.sign_in(&p, &c, &s)).await
    };
    match result.await {
        Ok((token, body)) => {
            let cookie = format!(
                "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_SECS}{}",
                if secure { "; Secure" } else { "" }
            );
            let mut r = json_ok(body);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => refusal_of(e),
    }
}

async fn sign_out(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(t) = token(&headers) {
        let _ = app.service.sign_out(&t);
    }
    let mut r = json_ok(serde_json::json!({"status": "signed out"}));
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

type Params = UrlQuery<HashMap<String, String>>;

fn query_of(p: &HashMap<String, String>) -> Result<crate::ledger::query::Query, ServiceError> {
    parse_query(
        p.get("at").map(String::as_str),
        p.get("known_at").map(String::as_str),
        p.get("as_of_seq").map(String::as_str),
    )
}

async fn score(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.score(&who, &query_of(&p)?)
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn explain(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(code): UrlPath<String>,
    UrlQuery(p): Params,
) -> Response {
    blocking(move || {
        let who = session_of(&app, &headers)?;
        let item = p.get("item").map(String::as_str);
        app.service.explain(&who, &code, item, &query_of(&p)?)
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn log(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let checked = blocking(move || {
        let who = session_of(&app, &headers)?;
        let filter = crate::service::reads::LogFilter::parse(&p)?;
        app.service.log(&who, &filter, &query_of(&p)?)
    })
    .await;
    match checked {
        Ok(lines) => stream_lines(lines),
        Err(e) => refusal_of(e),
    }
}

async fn appeals(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    blocking(move || {
        let who = session_of(&app, &headers)?;
        let pending = p.get("pending").is_some_and(|v| v == "true" || v == "1");
        app.service.appeals(&who, pending)
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn gaps(State(app): State<Shared>, headers: HeaderMap) -> Response {
    blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.gaps(&who)
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn rubric(State(app): State<Shared>, headers: HeaderMap) -> Response {
    blocking(move || {
        session_of(&app, &headers)?;
        app.service.rubric()
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn prepare(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let v = json_body(body).await?;
        blocking(move || {
            let who = session_of(&app, &headers)?;
            app.service.prepare(&who, &v)
        })
        .await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

async fn commit(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let v = json_body(body).await?;
        let prepared = text_field(&v, "prepared")?.to_string();
        if let Some(list) = v.get("signatures") {
            let signatures: Vec<String> = list
                .as_array()
                .ok_or_else(|| {
                    ServiceError::bad(
                        "signatures",
                        "a list of hex signatures",
                        "应为一组十六进制签名",
                    )
                })?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ServiceError::bad(
                        "signatures",
                        "a list of hex signatures",
                        "应为一组十六进制签名",
                    )
                })?;
            return blocking(move || {
                let who = session_of(&app, &headers)?;
                app.service.commit_batch(&who, &prepared, &signatures)
            })
            .await;
        }
        let signature = text_field(&v, "signature")?.to_string();
        blocking(move || {
            let who = session_of(&app, &headers)?;
            app.service.commit(&who, &prepared, &signature)
        })
        .await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

async fn reconcile(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlQuery(p): Params,
    body: Body,
) -> Response {
    let limit = usize::try_from(crate::base::limits::MAX_TALLY_BYTES).unwrap_or(usize::MAX);
    let result = async {
        let bytes = read_body(body, limit, too_large).await?;
        let named_xlsx = p
            .get("name")
            .is_some_and(|n| n.to_lowercase().ends_with(".xlsx"));
        blocking(move || {
            let who = session_of(&app, &headers)?;
            app.service
                .reconcile(&who, &bytes, named_xlsx, &query_of(&p)?)
        })
        .await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

async fn prepare_batch(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let v = json_body(body).await?;
        let lines = text_field(&v, "lines")?.to_string();
        blocking(move || {
            let who = session_of(&app, &headers)?;
            app.service.prepare_batch(&who, &lines)
        })
        .await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

async fn prepare_close(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let v = json_body(body).await?;
        let reason = match v.get("accept_gaps_reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ServiceError::bad(
                    "accept_gaps_reason",
                    "a string",
                    "应为文字",
                ))
            }
        };
        blocking(move || {
            let who = session_of(&app, &headers)?;
            app.service.prepare_close(&who, reason.as_deref())
        })
        .await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

/// `/metrics`, in the Prometheus text format.
async fn metrics(State(app): State<Shared>) -> Response {
    let m = &app.service.metrics;
    let commits = m.commits.load(Ordering::Relaxed);
    let commit_s = m.commit_us_total.load(Ordering::Relaxed) as f64 / 1e6;
    let events = app.service.ledger().map(|l| l.head().next_seq).unwrap_or(0);
    let text = format!(
        "# TYPE kaohe_requests_total counter\nkaohe_requests_total {}\n\
         # TYPE kaohe_commits_total counter\nkaohe_commits_total {commits}\n\
         # TYPE kaohe_commit_seconds_total counter\nkaohe_commit_seconds_total {commit_s}\n\
         # TYPE kaohe_prepared_total counter\nkaohe_prepared_total {}\n\
         # TYPE kaohe_sign_ins_total counter\nkaohe_sign_ins_total {}\n\
         # TYPE kaohe_events gauge\nkaohe_events {events}\n\
         # TYPE kaohe_sessions gauge\nkaohe_sessions {}\n",
        app.requests.load(Ordering::Relaxed),
        m.prepared.load(Ordering::Relaxed),
        m.sign_ins.load(Ordering::Relaxed),
        app.service.session_count(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn refusal_of(e: ServiceError) -> Response {
    let too_large = matches!(&e, ServiceError::Bad { field, message, .. } if field == "body" && message.starts_with("larger than"));
    if too_large {
        let status = StatusCode::PAYLOAD_TOO_LARGE;
        return (status, axum::Json(e.json())).into_response();
    }
    refusal(e)
}

// ---------------------------------------------------------------------------------------------
// Reads and evidence (`service::reads`).

/// Evidence files held in memory at once, uploads and downloads together (a permit is held
/// until the file is stored or sent).
static EVIDENCE_FILES: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_CONCURRENT_EVIDENCE_FILES);

/// A response body fed through a channel (the export's producer thread, or one evidence
/// file), holding its permit while it is sent.
struct Feed {
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    _permit: Option<tokio::sync::SemaphorePermit<'static>>,
}

impl futures_core::Stream for Feed {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.chunks.poll_recv(cx)
    }
}

async fn event(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.event(&who, &name)
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

async fn receipt(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    // The file a person saves: named by what was asked for (an id, a seq or a hash).
    let file = format!("kaohe-receipt-{}.json", safe_name(&name));
    let result = blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.receipt(&who, &name)
    })
    .await;
    match result {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (header::CONTENT_DISPOSITION, attachment(Some(&file))),
            ],
            text,
        )
            .into_response(),
        Err(e) => refusal_of(e),
    }
}

async fn checkpoints(State(app): State<Shared>, headers: HeaderMap) -> Response {
    blocking(move || {
        session_of(&app, &headers)?;
        app.service.checkpoints()
    })
    .await
    .map(json_ok)
    .unwrap_or_else(refusal_of)
}

/// `GET /api/v1/export`: checked first (a refusal has its status), then streamed: a blocking
/// thread reads the chain and sends whole lines in chunks, a bounded number ahead of the
/// client. A failure after the first byte breaks the response off (the client sees an
/// incomplete body, never a short export that looks whole).
async fn export(State(app): State<Shared>, headers: HeaderMap, UrlQuery(p): Params) -> Response {
    let checked = blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.export(&who, &query_of(&p)?)
    })
    .await;
    let export = match checked {
        Ok(e) => e,
        Err(e) => return refusal_of(e),
    };
    stream_lines(export)
}

/// JSON Lines sent as they are read, in chunks of about [`EXPORT_CHUNK_BYTES`], at most
/// [`EXPORT_CHUNKS_AHEAD`] ahead of the client: never the whole in memory.
fn stream_lines(lines: crate::service::reads::Lines) -> Response {
    let (tx, chunks) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(EXPORT_CHUNK_BYTES);
        let result = lines.lines(|line| {
            chunk.extend_from_slice(line.as_bytes());
            if chunk.len() < EXPORT_CHUNK_BYTES {
                return true;
            }
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(EXPORT_CHUNK_BYTES));
            tx.blocking_send(Ok(Bytes::from(full))).is_ok()
        });
        let last = match result {
            Ok(()) if chunk.is_empty() => return,
            Ok(()) => Ok(Bytes::from(chunk)),
            Err(e) => {
                eprintln!("{}", serde_json::json!({"export_failed": e.to_string()}));
                Err(std::io::Error::other(e.to_string()))
            }
        };
        let _ = tx.blocking_send(last);
    });
    let feed = Feed {
        chunks,
        _permit: None,
    };
    (
        [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
        Body::from_stream(feed),
    )
        .into_response()
}

/// `POST /api/v1/evidence?name=FILE`: the raw body is the file. Who asks is checked, and a
/// declared length over the limit refused, before a byte of it is read; the body is read up
/// to the limit and no further.
async fn upload_evidence(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlQuery(p): Params,
    body: Body,
) -> Response {
    let result = async {
        let checker = app.clone();
        let who = blocking(move || {
            let who = session_of(&checker, &headers)?;
            crate::service::reads::may_upload(&who)?;
            Ok((who, declared_length(&headers)))
        })
        .await;
        let (who, declared) = who?;
        let limit = usize::try_from(MAX_EVIDENCE_FILE_BYTES).unwrap_or(usize::MAX);
        if declared.is_some_and(|n| n > MAX_EVIDENCE_FILE_BYTES) {
            return Err(crate::service::reads::evidence_too_large());
        }
        let _permit = EVIDENCE_FILES
            .acquire()
            .await
            .map_err(|_| shutting_down())?;
        let bytes = read_body(body, limit, crate::service::reads::evidence_too_large).await?;
        let name = p.get("name").cloned();
        blocking(move || app.service.put_evidence(&who, name.as_deref(), &bytes)).await
    };
    result.await.map(json_ok).unwrap_or_else(refusal_of)
}

/// The request's `Content-Length`, when it declares one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// `GET /api/v1/evidence/{hash}`: the file's bytes as an attachment, never cached.
async fn download_evidence(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(hash): UrlPath<String>,
) -> Response {
    let permit = match EVIDENCE_FILES.acquire().await {
        Ok(p) => p,
        Err(_) => return refusal(shutting_down()),
    };
    let result = blocking(move || {
        let who = session_of(&app, &headers)?;
        app.service.evidence(&who, &hash)
    })
    .await;
    let file = match result {
        Ok(f) => f,
        Err(e) => return refusal_of(e),
    };
    let length = file.bytes.len();
    let (tx, chunks) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(Ok(Bytes::from(file.bytes)));
    let feed = Feed {
        chunks,
        _permit: Some(permit),
    };
    let mut r = Body::from_stream(feed).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&attachment(file.name.as_deref())) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A name's letters, digits, `-` and `_` (at most 64; others become `_`), for a file name.
fn safe_name(name: &str) -> String {
    name.chars()
        .take(crate::base::limits::MAX_REFERENCE_CHARS)
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// `Content-Disposition: attachment`, with the name when known (RFC 6266: an ASCII
/// `filename` for old clients, the UTF-8 `filename*` percent-encoded).
fn attachment(name: Option<&str>) -> String {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "attachment".into();
    };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' if c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(b))
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
