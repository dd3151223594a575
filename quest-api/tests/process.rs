//! The real `quest-api` binary as a child process, on sled and on PostgreSQL: killed with
//! SIGKILL under 64 concurrent writers, every acknowledged event survives; SIGTERM exits 0
//! having finished what it acknowledged; a malformed catalog stops start-up with a message
//! naming the place.

mod support;

test_support::on_both_backends!(
    sigkill_under_load_loses_no_acknowledged_event,
    sigterm_finishes_in_flight_requests_and_exits_0,
);

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use protocol::http::quest::{ProgressOutcome, QuestStatus};
use protocol::{CharacterId, EventId};
use support::{ChildServer, QuestCalls};
use test_support::{Backend, TestStore};
use tokio::sync::Notify;

/// A catalog with a quest that never completes during the test, so every event counts.
const GRIND_CATALOG: &str = r#"
[[quests]]
id = "grind"
title = "Endless wolves"
description = "Kill a million wolves."
objectives = [{ kind = { type = "kill", npc = "wolf" }, count = 1000000 }]
rewards = { xp = 1, coins = 1 }
"#;

const WRITERS: usize = 64;

/// What one writer saw: the outcome of every acknowledged event, and how many it sent.
struct WriterLog {
    character: CharacterId,
    acked: Vec<(EventId, ProgressOutcome)>,
    sent: usize,
}

/// Starts `WRITERS` writers (one character each, the quest already accepted) that send
/// progress events until a request fails, plus a signal once `kill_after` events in total
/// have been acknowledged.
async fn load(
    server: &ChildServer,
    kill_after: usize,
) -> (Vec<tokio::task::JoinHandle<WriterLog>>, Arc<Notify>) {
    let acked_total = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let api = server.api.clone();
        let character = CharacterId::new_random();
        assert_eq!(api.accept(character, "grind").await.status(), 200);
        let acked_total = Arc::clone(&acked_total);
        let enough = Arc::clone(&enough);
        writers.push(tokio::spawn(async move {
            let mut log = WriterLog {
                character,
                acked: Vec::new(),
                sent: 0,
            };
            loop {
                let event = EventId::new_random();
                log.sent += 1;
                let res = api
                    .post(&format!("/v1/characters/{character}/quests/grind/progress"))
                    .json(&serde_json::json!({"event_id": event, "objective": 0, "amount": 1}))
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if res.status() != 200 {
                    break;
                }
                let Ok(outcome) = res.json::<ProgressOutcome>().await else {
                    break; // the answer was cut off: not acknowledged
                };
                log.acked.push((event, outcome));
                if acked_total.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                    enough.notify_one();
                }
            }
            log
        }));
    }
    (writers, enough)
}

/// After a restart: every acknowledged event replays as a duplicate with its original
/// answer, and each counter includes all acknowledged events (and no more than were sent).
async fn verify(server: &ChildServer, logs: &[WriterLog]) -> usize {
    let mut total = 0;
    for log in logs {
        let api = &server.api;
        for (event, original) in &log.acked {
            let res = api.progress(log.character, "grind", *event, 0, 1).await;
            assert_eq!(res.status(), 200);
            let replay: ProgressOutcome = res.json().await.unwrap();
            assert!(replay.duplicate, "acknowledged event {event} was lost");
            assert_eq!(&replay.progress, &original.progress);
        }
        let quests = api.quests_of(log.character).await;
        let grind = &quests.quests[0];
        assert_eq!(grind.status, QuestStatus::Active);
        let count = grind.counters[0] as usize;
        assert!(
            count >= log.acked.len() && count <= log.sent,
            "counter {count}, acknowledged {}, sent {}",
            log.acked.len(),
            log.sent
        );
        total += log.acked.len();
    }
    total
}

async fn sigkill_under_load_loses_no_acknowledged_event(backend: Backend) {
    let store = TestStore::new(backend).await;
    let dir = store.dir.path();
    let catalog = dir.join("grind.toml");
    std::fs::write(&catalog, GRIND_CATALOG).unwrap();
    let mut args = vec!["--catalog".to_owned(), catalog.display().to_string()];
    args.extend(store.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut server = ChildServer::start(dir, &args).await;
    let (writers, enough) = load(&server, 500).await;
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("500 events acknowledged within 60 s");
    // Mid-load: writers still have requests in flight.
    let status = server.service.process().kill().expect("it was running");
    assert!(!status.success());
    let mut logs = Vec::new();
    for w in writers {
        logs.push(w.await.unwrap());
    }
    let in_flight: usize = logs.iter().map(|l| l.sent - l.acked.len()).sum();
    assert!(in_flight > 0, "the kill should cut some requests off");
    drop(server);

    let server = ChildServer::start(dir, &args).await;
    let verified = verify(&server, &logs).await;
    assert!(verified >= 500);
}

async fn sigterm_finishes_in_flight_requests_and_exits_0(backend: Backend) {
    let store = TestStore::new(backend).await;
    let dir = store.dir.path();
    let catalog = dir.join("grind.toml");
    std::fs::write(&catalog, GRIND_CATALOG).unwrap();
    let mut args = vec!["--catalog".to_owned(), catalog.display().to_string()];
    args.extend(store.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut server = ChildServer::start(dir, &args).await;
    let (writers, enough) = load(&server, 200).await;
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("200 events acknowledged within 60 s");
    let status = server
        .service
        .process()
        .terminate(Duration::from_secs(30))
        .expect("quest-api exits on SIGTERM");
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.log_text()
    );
    assert!(server.log_text().contains("all writes flushed"));
    let mut logs = Vec::new();
    for w in writers {
        logs.push(w.await.unwrap());
    }
    drop(server);

    let server = ChildServer::start(dir, &args).await;
    verify(&server, &logs).await;
    // The healthcheck subcommand probes the running server.
    let port = server.api.base.rsplit(':').next().unwrap().to_owned();
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_quest-api"))
        .args(["healthcheck", "--listen", &format!("127.0.0.1:{port}")])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut server = server;
    let status = server
        .service
        .process()
        .terminate(Duration::from_secs(30))
        .expect("quest-api exits on SIGTERM");
    assert!(status.success());
    let down = std::process::Command::new(env!("CARGO_BIN_EXE_quest-api"))
        .args(["healthcheck", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(down.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_catalog_stops_start_up_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let cases: HashMap<&str, (String, &str)> = HashMap::from([
        (
            "syntax.toml",
            (
                GRIND_CATALOG.replace("title = \"Endless wolves\"", "title = Endless"),
                ":4:",
            ),
        ),
        (
            "semantic.toml",
            (
                GRIND_CATALOG.replace("rewards =", "prerequisites = [\"nope\"]\nrewards ="),
                ":2: quest `grind`, prerequisites[0]: no quest has the id `nope`",
            ),
        ),
    ]);
    for (name, (text, place)) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut child = ChildServer::options(dir.path(), &["--catalog", path.to_str().unwrap()])
            .spawn()
            .expect("quest-api starts");
        let status = child
            .process()
            .wait_exit(Duration::from_secs(30))
            .expect("quest-api exits");
        assert!(!status.success());
        let output = child.log();
        let expected = format!("{}{place}", path.display());
        assert!(output.contains(&expected), "{expected:?} not in:\n{output}");
    }
}
