//! Shared test helpers: a real server on a free loopback port over a real store (a sled
//! directory, or a real PostgreSQL started for the test), and an HTTP client that speaks to
//! it (problem assertions come from `test-support`). `test_support::on_both_backends!` runs
//! one test body against each backend.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use character_api::{Config, Storage};
use protocol::http::character::Character;
use protocol::{AccountId, CharacterId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::{ServiceClient, TestStore};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service token the test servers use.
pub const TOKEN: &str = "test-token";

/// How long anything may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The character-api storage for a test's store: its database, or sled in its dir.
pub fn storage(store: &TestStore) -> Storage {
    match store.database_url() {
        Some(url) => Storage::Postgres(service_kit::postgres::DatabaseOptions::new(
            url,
            "character-api-test",
        )),
        None => Storage::sled(store.dir.path().join("data")),
    }
}

/// A character-api running in this process, as the binary runs it.
pub struct TestServer {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server on a free port over `storage`. Retries while a sled directory is
    /// still locked by a server that is shutting down.
    pub async fn start(storage: Storage) -> Self {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let mut config = Config::new(storage.clone(), TOKEN);
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
        api(self.base.clone(), reqwest::Client::new())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client of a character-api; every call carries the service token.
pub type Api = ServiceClient;

/// A client for a character-api at `base`.
pub fn api(base: String, http: reqwest::Client) -> Api {
    ServiceClient::new(base, TOKEN, http)
}

/// The character-api's routes, as calls on its client.
pub trait CharacterCalls {
    async fn create(&self, account: AccountId, name: &str) -> Character;
    async fn create_raw(&self, account: AccountId, name: &str) -> reqwest::Response;
    async fn snapshot(&self, id: CharacterId) -> (StatusCode, Option<String>, String);
    async fn fetch(&self, id: CharacterId) -> Character;
    async fn put_json(&self, id: CharacterId, version: u64, body: &Value) -> reqwest::Response;
    async fn list(&self, account: AccountId) -> Vec<Character>;
}

impl CharacterCalls for Api {
    /// `POST /v1/characters`, expecting `201`.
    async fn create(&self, account: AccountId, name: &str) -> Character {
        let r = self.create_raw(account, name).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    async fn create_raw(&self, account: AccountId, name: &str) -> reqwest::Response {
        self.post("/v1/characters")
            .json(&json!({ "account_id": account, "name": name }))
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/characters/{id}`: the status, the ETag and the body as JSON text.
    async fn snapshot(&self, id: CharacterId) -> (StatusCode, Option<String>, String) {
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

    async fn fetch(&self, id: CharacterId) -> Character {
        let (status, _, body) = self.snapshot(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `PUT /v1/characters/{id}` with `If-Match: "<version>"` and a JSON body.
    async fn put_json(&self, id: CharacterId, version: u64, body: &Value) -> reqwest::Response {
        self.put(&format!("/v1/characters/{id}"))
            .header("if-match", format!("\"{version}\""))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn list(&self, account: AccountId) -> Vec<Character> {
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

/// The character as a PUT body (its GET representation).
pub fn body_of(c: &Character) -> Value {
    serde_json::to_value(c).unwrap()
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_character-api");

/// Starts the real binary with its data (or log) in `dir` and `args`, on a free loopback
/// port, with nothing from the test's environment, and waits until `/readyz` answers 200;
/// killed if the test panics.
pub async fn start_process(dir: &std::path::Path, args: &[String]) -> test_support::Service {
    let service = test_support::ServiceOptions::new("character-api", TOKEN)
        .program(BIN)
        .dir(dir)
        .args(args.iter().cloned())
        .env("RUST_LOG", "info")
        .clean_env()
        .start()
        .expect("character-api starts");
    test_support::wait_ready(&service.url()).await;
    service
}

/// A client for a process, giving up on a request after 10 s (a hang is a failure).
pub fn api_of(service: &test_support::Service) -> Api {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    api(service.url(), http)
}
