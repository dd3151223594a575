//! The real binary on a real PostgreSQL: the `copy` subcommand moves all quest progress
//! (records and event outcomes) from sled to the database and back, checked, so an event
//! retried after the move is still counted once; an immediate stop of the database answers
//! 503 with `Retry-After` and the service resumes by itself; two processes on one database
//! count each event once.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use protocol::http::quest::{CharacterQuests, ProgressOutcome};
use protocol::{CharacterId, EventId};
use support::{ChildServer, QuestCalls};
use test_support::{Backend, TestStore, wait_ready};

/// Runs `quest-api copy --from <from> --to <to>`; whether it succeeded, and its output.
fn copy(from: &str, to: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quest-api"))
        .env_clear()
        .args(["copy", "--from", from, "--to", to])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every character's quest log.
async fn logs(server: &ChildServer, characters: &[CharacterId]) -> Vec<CharacterQuests> {
    let mut out = Vec::new();
    for c in characters {
        out.push(server.api.quests_of(*c).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_moves_all_progress_from_sled_to_the_database_and_back() {
    let sled = TestStore::new(Backend::Sled).await;
    let pg = TestStore::new(Backend::Postgres).await;
    let url = pg.database_url().unwrap();

    let mut server = ChildServer::start(sled.dir.path(), &[]).await;
    let mut characters = Vec::new();
    let mut events = Vec::new();
    for i in 0..300 {
        let me = CharacterId::new_random();
        characters.push(me);
        assert_eq!(server.api.accept(me, "wolf-cull").await.status(), 200);
        for _ in 0..(i % 4) {
            let event = EventId::new_random();
            let r = server.api.progress(me, "wolf-cull", event, 0, 1).await;
            assert_eq!(r.status(), 200);
            events.push((me, event, r.json::<ProgressOutcome>().await.unwrap()));
        }
    }
    let before = logs(&server, &characters).await;
    server
        .service
        .process()
        .terminate(Duration::from_secs(30))
        .expect("it stops");
    let sled_dir = sled.dir.path().join("data");
    let sled_dir = sled_dir.to_str().unwrap();

    let (ok, out) = copy(sled_dir, &url);
    assert!(ok, "{out}");
    assert!(out.contains("counts and contents match"), "{out}");
    let (ok, out) = copy(sled_dir, &url);
    assert!(
        !ok && out.contains("already holds 300 quest records"),
        "{out}"
    );

    let mut server = ChildServer::start(pg.dir.path(), &["--database-url", &url]).await;
    assert_eq!(logs(&server, &characters).await, before);
    // Events copied are still known: a retry is a duplicate with the first answer.
    for (me, event, first) in events.iter().step_by(7) {
        let r = server.api.progress(*me, "wolf-cull", *event, 0, 1).await;
        let replay: ProgressOutcome = r.json().await.unwrap();
        assert!(replay.duplicate);
        assert_eq!(replay.progress, first.progress);
    }
    server
        .service
        .process()
        .terminate(Duration::from_secs(30))
        .expect("it stops");

    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("data");
    let (ok, out) = copy(&url, back_dir.to_str().unwrap());
    assert!(ok, "{out}");
    let server = ChildServer::start(back.path(), &[]).await;
    assert_eq!(logs(&server, &characters).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_immediate_database_stop_answers_503_then_resumes() {
    let mut store = TestStore::new(Backend::Postgres).await;
    let url = store.database_url().unwrap();
    let server = ChildServer::start(
        store.dir.path(),
        &["--database-url", &url, "--database-timeout-ms", "2000"],
    )
    .await;
    let me = CharacterId::new_random();
    assert_eq!(server.api.accept(me, "wolf-cull").await.status(), 200);

    let pg = store.postgres.as_mut().unwrap();
    tokio::task::block_in_place(|| pg.stop_immediate()).expect("pg_ctl stop -m immediate");
    let event = EventId::new_random();
    for attempt in 0..3 {
        let asked = Instant::now();
        let r = server.api.progress(me, "wolf-cull", event, 0, 1).await;
        assert_eq!(r.status(), 503, "attempt {attempt}");
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        let r = server
            .api
            .get(&format!("/v1/characters/{me}/quests"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        let r = server
            .api
            .http
            .get(server.api.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
    }

    tokio::task::block_in_place(|| store.postgres.as_mut().unwrap().restart())
        .expect("postgres starts again");
    wait_ready(&server.api.base).await;
    // The same event, retried: counted once.
    let first: ProgressOutcome = server
        .api
        .progress(me, "wolf-cull", event, 0, 1)
        .await
        .json()
        .await
        .unwrap();
    assert!(!first.duplicate);
    let again: ProgressOutcome = server
        .api
        .progress(me, "wolf-cull", event, 0, 1)
        .await
        .json()
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(server.api.quests_of(me).await.quests[0].counters, vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_count_each_event_once() {
    let store = TestStore::new(Backend::Postgres).await;
    let url = store.database_url().unwrap();
    let args = ["--database-url", url.as_str()];
    let a = ChildServer::start(store.dir.path(), &args).await;
    let b = ChildServer::start(store.dir.path(), &args).await;
    let me = CharacterId::new_random();
    // Racing accepts: exactly one wins.
    let (x, y) = tokio::join!(a.api.accept(me, "wolf-cull"), b.api.accept(me, "wolf-cull"));
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    // Every event sent twice, once to each process, at once: counted once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let event = EventId::new_random();
        for api in [a.api.clone(), b.api.clone()] {
            tasks.push(tokio::spawn(async move {
                let r = api.progress(me, "wolf-cull", event, 0, 1).await;
                assert_eq!(r.status(), 200);
                r.json::<ProgressOutcome>().await.unwrap().duplicate
            }));
        }
    }
    let mut duplicates = 0;
    for t in tasks {
        duplicates += usize::from(t.await.unwrap());
    }
    assert_eq!(duplicates, 4);
    assert_eq!(a.api.quests_of(me).await.quests[0].counters, vec![4]);
    assert_eq!(b.api.quests_of(me).await, a.api.quests_of(me).await);
}
