//! Test helpers: a real quest-api server on a free loopback port over a real store (sled in
//! a temp dir, or a real PostgreSQL started for the test), in-process through
//! `quest_api::run` or the real binary as a child process started by `test-support`, and a
//! small HTTP client for it. `test_support::on_both_backends!` runs one test body against
//! each backend.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use protocol::http::quest::CharacterQuests;
use protocol::{CharacterId, EventId};
use quest_api::{Catalog, Config, Storage};
use reqwest::StatusCode;
use serde_json::json;
use test_support::{Service, ServiceClient, ServiceOptions, TestStore, wait_ready};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-service-token";

/// A client of a quest-api; every call carries the service token.
pub type Api = ServiceClient;

/// A client for the quest-api on `addr`, giving up on a request after 30 s.
pub fn api(addr: std::net::SocketAddr) -> Api {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    ServiceClient::new(format!("http://{addr}"), TOKEN, http)
}

/// The quest-api's routes, as calls on its client.
pub trait QuestCalls {
    async fn quests_of(&self, character: CharacterId) -> CharacterQuests;
    async fn accept(&self, character: CharacterId, quest: &str) -> reqwest::Response;
    async fn progress(
        &self,
        character: CharacterId,
        quest: &str,
        event: EventId,
        objective: u8,
        amount: u32,
    ) -> reqwest::Response;
}

impl QuestCalls for Api {
    async fn quests_of(&self, character: CharacterId) -> CharacterQuests {
        let res = self
            .get(&format!("/v1/characters/{character}/quests"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn accept(&self, character: CharacterId, quest: &str) -> reqwest::Response {
        self.post(&format!("/v1/characters/{character}/quests/{quest}/accept"))
            .send()
            .await
            .unwrap()
    }

    async fn progress(
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

/// The quest-api storage for a test's store: its database, or sled in its dir.
pub fn storage(store: &TestStore) -> Storage {
    match store.database_url() {
        Some(url) => Storage::Postgres(service_kit::postgres::DatabaseOptions::new(
            url,
            "quest-api-test",
        )),
        None => Storage::sled(store.dir.path().join("data")),
    }
}

/// quest-api running in this process.
pub struct TestServer {
    pub api: Api,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts on a free port with the built-in catalog over `storage`.
    pub async fn start(storage: Storage) -> Self {
        Self::start_with(storage, Catalog::builtin().unwrap()).await
    }

    pub async fn start_with(storage: Storage, catalog: Catalog) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::new(storage, TOKEN, catalog);
        config.workers = Some(2);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(quest_api::run(listener, config, async move {
            let _ = rx.await;
        }));
        let api = api(addr);
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

/// The real `quest-api` binary as a child process; killed if the test panics.
pub struct ChildServer {
    pub api: Api,
    pub service: Service,
}

impl ChildServer {
    /// Starts the binary on a free port with its data in `<dir>/data` and its log in `dir`,
    /// and waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, extra: &[&str]) -> Self {
        let service = Self::options(dir, extra).start().expect("quest-api starts");
        wait_ready(&service.url()).await;
        Self {
            api: api(service.addr()),
            service,
        }
    }

    /// How the binary is run: with nothing from the test's environment (no
    /// `QUEST_CATALOG`), logging at info.
    pub fn options(dir: &Path, extra: &[&str]) -> ServiceOptions {
        ServiceOptions::new("quest-api", TOKEN)
            .program(env!("CARGO_BIN_EXE_quest-api"))
            .dir(dir)
            .args(extra.iter().copied())
            .env("RUST_LOG", "info")
            .clean_env()
    }

    pub fn log_text(&self) -> String {
        self.service.log()
    }
}
