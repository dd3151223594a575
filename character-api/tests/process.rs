//! The real binary as a child process: killed with SIGKILL under concurrent writes it loses
//! nothing it acknowledged; on SIGTERM it drains and exits 0; its `healthcheck` subcommand
//! tells ready from not.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::http::character::Character;
use protocol::{AccountId, CharacterId};
use reqwest::StatusCode;
use serde_json::json;
use support::{Api, BIN, CharacterCalls, PATIENCE, api_of, body_of, start_process};
use test_support::{Service, free_addr};

/// Starts the binary over `<dir>/data` and waits until ready.
async fn start(dir: &Path) -> Service {
    start_process(dir, &["--workers".to_owned(), "2".to_owned()]).await
}

/// What the writers were told was stored: character id → highest acknowledged version.
type Acked = Arc<Mutex<HashMap<CharacterId, u64>>>;

/// One writer: creates characters and saves each a few times, chaining If-Match. Every save
/// sets `coins` to the version it will produce, so a stored version can be checked against
/// its content. Returns at the first transport error (the service was killed).
async fn writer(api: Api, account: AccountId, n: usize, acked: Acked, total: Arc<AtomicUsize>) {
    for round in 0.. {
        let name = format!("W{n}r{round}");
        let Ok(r) = api
            .post("/v1/characters")
            .json(&json!({ "account_id": account, "name": name }))
            .send()
            .await
        else {
            return;
        };
        assert_eq!(r.status(), StatusCode::CREATED);
        let Ok(c) = r.json::<Character>().await else {
            return;
        };
        acked.lock().unwrap().insert(c.id, 1);
        total.fetch_add(1, Ordering::Relaxed);
        let mut body = body_of(&c);
        for version in 1..=8u64 {
            body["inventory"]["coins"] = json!(version + 1);
            let Ok(r) = api
                .put(&format!("/v1/characters/{}", c.id))
                .header("if-match", format!("\"{version}\""))
                .json(&body)
                .send()
                .await
            else {
                return;
            };
            assert_eq!(r.status(), StatusCode::OK);
            let Ok(saved) = r.json::<Character>().await else {
                return;
            };
            assert_eq!(saved.version, version + 1);
            acked.lock().unwrap().insert(c.id, saved.version);
            total.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = start(tmp.path()).await;
    let api = api_of(&service);
    let account = AccountId::new_random();
    let acked: Acked = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));

    let writers: Vec<_> = (0..16)
        .map(|n| {
            tokio::spawn(writer(
                api.clone(),
                account,
                n,
                acked.clone(),
                total.clone(),
            ))
        })
        .collect();
    // Let the load build, then kill the service mid-stream.
    let deadline = Instant::now() + PATIENCE;
    while total.load(Ordering::Relaxed) < 400 {
        assert!(Instant::now() < deadline, "load never built up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.process().kill().expect("it was running"); // SIGKILL
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 16, "{} characters acknowledged", acked.len());

    let service = start(tmp.path()).await;
    let api = api_of(&service);
    for (id, version) in &acked {
        let c = api.fetch(*id).await;
        assert!(
            c.version >= *version,
            "{id}: acknowledged version {version}, found {}",
            c.version
        );
        // Content and version were stored together.
        if c.version > 1 {
            assert_eq!(c.inventory.coins, c.version, "{id}");
        }
    }
    // The indexes agree with the records: every acknowledged character is listed once,
    // and no name is held twice.
    let listed = api.list(account).await;
    for id in acked.keys() {
        assert_eq!(listed.iter().filter(|c| c.id == *id).count(), 1);
    }
    let mut names: Vec<_> = listed.iter().map(|c| c.name.to_lowercase()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), listed.len());
    // And it takes writes again where the acknowledged state left off.
    let (id, _) = acked.iter().next().unwrap();
    let c = api.fetch(*id).await;
    let r = api
        .put(&format!("/v1/characters/{id}"))
        .header("if-match", format!("\"{}\"", c.version))
        .json(&body_of(&c))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut service = start(tmp.path()).await;
    let api = api_of(&service);
    let account = AccountId::new_random();
    let c = api.create(account, "Terminus").await;

    // Writes in flight while the signal arrives either complete or are refused cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (api, stop, c) = (api.clone(), stop.clone(), c.clone());
        tokio::spawn(async move {
            let mut acked = 1;
            let mut body = body_of(&c);
            while !stop.load(Ordering::Relaxed) {
                body["inventory"]["coins"] = json!(acked + 1);
                let Ok(r) = api.put_json_try(c.id, acked, &body).await else {
                    break;
                };
                match r.status() {
                    StatusCode::OK => acked += 1,
                    StatusCode::SERVICE_UNAVAILABLE => break,
                    other => panic!("unexpected {other}"),
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = service
        .process()
        .terminate(PATIENCE)
        .expect("it exits on SIGTERM");
    stop.store(true, Ordering::Relaxed);
    let acked = busy.await.unwrap();
    assert!(status.success(), "{status}:\n{}", service.log());
    assert!(service.log().contains("character-api stopped"));

    let service = start(tmp.path()).await;
    let stored = api_of(&service).fetch(c.id).await;
    assert!(stored.version >= acked);
    assert!(acked > 1, "no save was acknowledged before the signal");
    assert_eq!(stored.inventory.coins, stored.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_reports_readiness() {
    let tmp = tempfile::tempdir().unwrap();
    let service = start(tmp.path()).await;
    let probe = |addr: SocketAddr| {
        Command::new(BIN)
            .env_clear()
            .arg("healthcheck")
            .arg("--listen")
            .arg(addr.to_string())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    assert!(probe(service.addr()).success());
    // The same through the environment, as a container would run it.
    let via_env = Command::new(BIN)
        .env_clear()
        .env("LISTEN", format!("0.0.0.0:{}", service.addr().port()))
        .arg("healthcheck")
        .status()
        .unwrap();
    assert!(via_env.success());
    assert_eq!(probe(free_addr().unwrap()).code(), Some(1));
}

trait TryPut {
    async fn put_json_try(
        &self,
        id: CharacterId,
        version: u64,
        body: &serde_json::Value,
    ) -> reqwest::Result<reqwest::Response>;
}

impl TryPut for Api {
    async fn put_json_try(
        &self,
        id: CharacterId,
        version: u64,
        body: &serde_json::Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.put(&format!("/v1/characters/{id}"))
            .header("if-match", format!("\"{version}\""))
            .json(body)
            .send()
            .await
    }
}
