//! Test helpers: a real quest-api server on a free loopback port with sled in a temp dir
//! (in-process through `quest_api::run`, or the real binary as a child process), and a
//! small HTTP client for it.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use protocol::http::{Problem, quest::CharacterQuests};
use protocol::{CharacterId, EventId};
use quest_api::{Catalog, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-service-token";

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(TOKEN)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(TOKEN)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let api = self.clone();
        eventually(timeout, "the server to be ready", move || {
            let api = api.clone();
            async move {
                match api.http.get(api.url("/readyz")).send().await {
                    Ok(r) if r.status() == StatusCode::OK => Some(()),
                    _ => None,
                }
            }
        })
        .await;
    }

    pub async fn quests_of(&self, character: CharacterId) -> CharacterQuests {
        let res = self
            .get(&format!("/v1/characters/{character}/quests"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn accept(&self, character: CharacterId, quest: &str) -> reqwest::Response {
        self.post(&format!("/v1/characters/{character}/quests/{quest}/accept"))
            .send()
            .await
            .unwrap()
    }

    pub async fn progress(
        &self,
        character: CharacterId,
        quest: &str,
        event: EventId,
        objective: u8,
        amount: u32,
    ) -> reqwest::Response {
        self.post(&format!(
            "/v1/characters/{character}/quests/{quest}/progress"
        ))
        .json(&json!({"event_id": event, "objective": objective, "amount": amount}))
        .send()
        .await
        .unwrap()
    }
}

/// Asserts `res` is a problem+json answer with `status`, and returns the problem.
pub async fn expect_problem(res: reqwest::Response, status: u16) -> Problem {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    let content_type = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some(PROBLEM_CONTENT_TYPE));
    let body: Value = res.json().await.unwrap();
    let problem: Problem = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(problem.status, status);
    assert!(
        problem
            .problem_type
            .starts_with("urn:zone-cluster:problem:")
    );
    assert!(!problem.title.is_empty());
    assert!(
        problem.detail.as_deref().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    problem
}

/// quest-api running in this process.
pub struct TestServer {
    pub api: Api,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts on a free port with the built-in catalog and data in `data_dir`.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, Catalog::builtin().unwrap()).await
    }

    pub async fn start_with(data_dir: &Path, catalog: Catalog) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::new(data_dir, TOKEN, catalog);
        config.workers = Some(2);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(quest_api::run(listener, config, async move {
            let _ = rx.await;
        }));
        let api = Api::new(addr);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = api.http.get(api.url("/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            if task.is_finished() {
                panic!("quest-api stopped at start-up: {:?}", task.await);
            }
            assert!(Instant::now() < deadline, "quest-api not ready within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            api,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Shuts down gracefully and waits until the store is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server stops within 30 s")
                .unwrap()
                .unwrap();
        }
    }
}

/// The real `quest-api` binary as a child process.
pub struct ChildServer {
    pub api: Api,
    pub child: Child,
    pub log: PathBuf,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ChildServer {
    /// Starts the binary on a free port with data in `data_dir`, logging to `log`.
    pub async fn start(data_dir: &Path, log: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let child = Self::spawn(port, data_dir, log, extra);
        let api = Api::new(([127, 0, 0, 1], port).into());
        let mut server = Self {
            api,
            child,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = server.api.http.get(server.api.url("/readyz")).send().await
                && res.status() == StatusCode::OK
            {
                break;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("quest-api exited early ({status}):\n{}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "quest-api not ready:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    pub fn spawn(port: u16, data_dir: &Path, log: &Path, extra: &[&str]) -> Child {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_quest-api"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("SERVICE_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .env_remove("QUEST_CATALOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "quest-api did not exit:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Never leave a server behind when a test fails.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
