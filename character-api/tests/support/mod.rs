//! Shared test helpers: a real server on a free loopback port over a real sled directory,
//! an HTTP client that speaks to it, and problem assertions.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use character_api::Config;
use protocol::http::Problem;
use protocol::http::character::Character;
use protocol::http::problem::PROBLEM_CONTENT_TYPE;
use protocol::{AccountId, CharacterId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service token the test servers use.
pub const TOKEN: &str = "test-token";

/// How long anything may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A character-api running in this process, as the binary runs it.
pub struct TestServer {
    pub base: String,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server on a free port over the sled directory `dir`. Retries while the
    /// directory is still locked by a server that is shutting down.
    pub async fn start(dir: &Path) -> Self {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let mut config = Config::new(dir, TOKEN);
            config.workers = Some(2);
            let (stop, stopped) = oneshot::channel::<()>();
            let mut task = tokio::spawn(character_api::run(listener, config, async move {
                let _ = stopped.await;
            }));
            let client = reqwest::Client::new();
            loop {
                if task.is_finished() {
                    break;
                }
                if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                    && r.status() == StatusCode::OK
                {
                    return Self {
                        base,
                        dir: dir.to_owned(),
                        stop: Some(stop),
                        task: Some(task),
                    };
                }
                assert!(
                    Instant::now() < deadline,
                    "server at {base} never got ready"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let err = (&mut task).await.unwrap().unwrap_err();
            assert!(
                Instant::now() < deadline,
                "server did not start in time: {err:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts the server down gracefully and waits until it has flushed and returned.
    pub async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }

    /// A client for this server that sends the service token.
    pub fn client(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A thin client over the API's routes; every call carries the service token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(TOKEN)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(TOKEN)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(TOKEN)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(TOKEN)
    }

    /// `POST /v1/characters`, expecting `201`.
    pub async fn create(&self, account: AccountId, name: &str) -> Character {
        let r = self.create_raw(account, name).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    pub async fn create_raw(&self, account: AccountId, name: &str) -> reqwest::Response {
        self.post("/v1/characters")
            .json(&json!({ "account_id": account, "name": name }))
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/characters/{id}`: the status, the ETag and the body as JSON text.
    pub async fn snapshot(&self, id: CharacterId) -> (StatusCode, Option<String>, String) {
        let r = self
            .get(&format!("/v1/characters/{id}"))
            .send()
            .await
            .unwrap();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status(), etag, r.text().await.unwrap())
    }

    pub async fn fetch(&self, id: CharacterId) -> Character {
        let (status, _, body) = self.snapshot(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `PUT /v1/characters/{id}` with `If-Match: "<version>"` and a JSON body.
    pub async fn put_json(&self, id: CharacterId, version: u64, body: &Value) -> reqwest::Response {
        self.put(&format!("/v1/characters/{id}"))
            .header("if-match", format!("\"{version}\""))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn list(&self, account: AccountId) -> Vec<Character> {
        let r = self
            .get(&format!("/v1/accounts/{account}/characters"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        serde_json::from_value(v["characters"].clone()).unwrap()
    }
}

/// Asserts `r` is a problem with `status`: the status line, the content type, and a body
/// with `type`, `title`, the same `status` and a `detail`. Returns the problem.
pub async fn assert_problem(r: reqwest::Response, status: u16) -> Problem {
    let got = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, PROBLEM_CONTENT_TYPE, "{body}");
    let problem: Problem = serde_json::from_str(&body).unwrap();
    assert_eq!(problem.status, status);
    assert!(
        problem
            .problem_type
            .starts_with("urn:zone-cluster:problem:")
    );
    assert!(!problem.title.is_empty());
    assert!(problem.detail.as_deref().is_some_and(|d| !d.is_empty()));
    problem
}

/// The character as a PUT body (its GET representation).
pub fn body_of(c: &Character) -> Value {
    serde_json::to_value(c).unwrap()
}
