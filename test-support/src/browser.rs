//! A real headless Chromium driven over the DevTools protocol, for the tests of the pages
//! the cluster serves (the dashboard, the web client): start it, open a page, evaluate
//! JavaScript, press keys, click, type, take screenshots, and collect every console error,
//! uncaught exception and failed load along the way. `scripts/test` installs Chromium.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// `$CHROMIUM`, else `chromium` (Debian's package; `scripts/test` installs it).
fn chromium_program() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from)
}

/// A headless Chromium process with a throw-away profile; killed when dropped.
pub struct Browser {
    child: Child,
    ws_url: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and waits for its DevTools endpoint.
    pub fn start() -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium_program())
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1280,800",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium is needed for this test (Debian package `chromium`)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
                // Keep draining so chromium never blocks on a full pipe.
            }
        });
        let ws_url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium did not open its DevTools endpoint");
        Self {
            child,
            ws_url,
            _profile: profile,
        }
    }

    /// A new tab on `url`, with the runtime, log and page domains on.
    pub async fn open(&self, url: &str) -> Page {
        let (ws, _) = tokio_tungstenite::connect_async(&self.ws_url)
            .await
            .expect("the DevTools endpoint answers");
        let mut page = Page {
            ws,
            next_id: 0,
            session: None,
            events: Vec::new(),
        };
        let target = page
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        page.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            page.call(domain, json!({})).await;
        }
        page.call("Page.navigate", json!({ "url": url })).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One tab: sequential DevTools commands, every event kept.
pub struct Page {
    ws: Ws,
    next_id: u64,
    session: Option<String>,
    events: Vec<Value>,
}

impl Page {
    /// Sends a DevTools command and waits for its answer.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("DevTools connection closed")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.events.push(v);
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` every 100 ms until it is true; panics with `what` and the
    /// value of `describe` after `timeout`.
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        expression: &str,
        describe: &str,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                let state = self.eval(describe).await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}\nstate: {state:#}\nerrors: {:#?}",
                    self.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses (`down`) or releases a key: `code` as in `KeyboardEvent.code` (`KeyD`),
    /// `key` as in `KeyboardEvent.key` (`d`), with Shift held when `shift`.
    pub async fn key(&mut self, down: bool, code: &str, key: &str, shift: bool) {
        let vk = match key.chars().next() {
            Some(c) if key.len() == 1 => c.to_ascii_uppercase() as u32,
            _ => 0,
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({
                "type": if down { "rawKeyDown" } else { "keyUp" },
                "code": code,
                "key": key,
                "windowsVirtualKeyCode": vk,
                "modifiers": if shift { 8 } else { 0 },
            }),
        )
        .await;
    }

    /// A left click at a point of the page (CSS pixels).
    pub async fn click(&mut self, x: f64, y: f64) {
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }

    /// Types `text` into the focused element, as an input method would.
    pub async fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// Presses and releases Enter.
    pub async fn enter(&mut self) {
        for kind in ["rawKeyDown", "char", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "code": "Enter", "key": "Enter", "text": "\r",
                        "windowsVirtualKeyCode": 13 }),
            )
            .await;
        }
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("DevTools sends base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Console errors, uncaught exceptions and failed loads seen so far.
    pub fn errors(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => true,
                Some("Runtime.consoleAPICalled") => {
                    matches!(e["params"]["type"].as_str(), Some("error" | "assert"))
                }
                Some("Log.entryAdded") => e["params"]["entry"]["level"] == "error",
                _ => false,
            })
            .cloned()
            .collect()
    }
}
