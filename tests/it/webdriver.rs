//! A small W3C WebDriver client over loopback (ureq), driving Debian's chromium through its
//! chromedriver: enough to sign in with a key file, fill and submit forms, read the page, check
//! the console, and take screenshots. `.ci/run` installs chromium and chromium-driver; without
//! them a browser test skips with a note, unless `CI` is set, where it fails.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Tab and Enter keys of the W3C protocol.
pub(crate) const TAB: &str = "\u{E004}";
pub(crate) const ENTER: &str = "\u{E007}";

/// The element key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver and chromium, if installed (`KAOHE_CHROMEDRIVER`, `KAOHE_CHROMIUM`).
pub(crate) fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |env: &str, names: &[&str]| -> Option<PathBuf> {
        if let Ok(p) = std::env::var(env) {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .find(|p| p.is_file())
    };
    let driver = find("KAOHE_CHROMEDRIVER", &["chromedriver"])?;
    let browser = find("KAOHE_CHROMIUM", &["chromium", "chromium-browser"])?;
    Some((driver, browser))
}

/// Skips (returns `None`) when the tools are missing, or panics under CI.
pub(crate) fn tools_or_skip(what: &str) -> Option<(PathBuf, PathBuf)> {
    let found = tools();
    if found.is_none() {
        let message = format!("no chromedriver/chromium: {what} was not tested in a browser");
        if std::env::var_os("CI").is_some() {
            panic!("{message}; CI must have them (.ci/run installs chromium and chromium-driver)");
        }
        eprintln!("note: {message}");
    }
    found
}

/// A chromedriver process and one browser session, both ended on drop.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let r = ureq::request(method, url);
    let response = match body {
        Some(b) => r.send_json(b),
        None => r.call(),
    };
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("webdriver {method} {url}: {e}"),
    };
    let v: Value = response.into_json().expect("webdriver JSON");
    if let Some(err) = v["value"].get("error") {
        panic!("webdriver {method} {url}: {err} {}", v["value"]["message"]);
    }
    v["value"].clone()
}

impl Browser {
    /// Starts chromedriver and a headless chromium window `width` × `height`.
    pub(crate) fn start(
        tools: &(PathBuf, PathBuf),
        profile: &Path,
        width: u32,
        height: u32,
    ) -> Browser {
        let port = free_port();
        let driver = Command::new(&tools.0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": tools.1.to_str().unwrap(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display()),
                         "--lang=zh-CN"],
            }
        }}});
        let v = call("POST", &format!("{base}/session"), Some(caps));
        let session = v["sessionId"].as_str().expect("a session").to_string();
        Browser {
            driver,
            base,
            session,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub(crate) fn goto(&self, url: &str) {
        call("POST", &self.url("/url"), Some(json!({"url": url})));
    }

    pub(crate) fn resize(&self, width: u32, height: u32) {
        call(
            "POST",
            &self.url("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    #[track_caller]
    pub(crate) fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = ureq::post(&self.url("/element"))
                .send_json(json!({"using": "css selector", "value": css}));
            if let Ok(r) = r {
                let v: Value = r.into_json().expect("JSON");
                if let Some(id) = v["value"][ELEMENT].as_str() {
                    return id.to_string();
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "no element `{css}` on {}\n{}",
                    self.current_url(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn click(&self, css: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    pub(crate) fn type_in(&self, css: &str, text: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Presses keys as a keyboard does (W3C actions): text, and keys such as [`TAB`], [`ENTER`].
    pub(crate) fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let k = c.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        call(
            "POST",
            &self.url("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    pub(crate) fn text(&self, css: &str) -> String {
        let r = ureq::post(&self.url("/element"))
            .send_json(json!({"using": "css selector", "value": css}));
        let Ok(r) = r else { return String::new() };
        let v: Value = r.into_json().expect("JSON");
        let Some(id) = v["value"][ELEMENT].as_str() else {
            return String::new();
        };
        call("GET", &self.url(&format!("/element/{id}/text")), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) fn run(&self, script: &str) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    pub(crate) fn current_url(&self) -> String {
        call("GET", &self.url("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits up to 10 s until `script` returns true.
    #[track_caller]
    pub(crate) fn wait_for(&self, script: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.run(script) != Value::Bool(true) {
            if Instant::now() > deadline {
                panic!(
                    "waited for {what} on {}:\n{}",
                    self.current_url(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes a PNG screenshot.
    pub(crate) fn screenshot(&self, file: &Path) {
        let v = call("GET", &self.url("/screenshot"), None);
        let png = base64_decode(v.as_str().expect("base64"));
        std::fs::write(file, png).expect("write screenshot");
    }

    /// The console's severe messages since the last call.
    pub(crate) fn console_errors(&self) -> Vec<String> {
        let r = ureq::post(&self.url("/se/log")).send_json(json!({"type": "browser"}));
        let Ok(r) = r else { return Vec::new() };
        let v: Value = r.into_json().unwrap_or(Value::Null);
        v["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (a screenshot), without a crate.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
