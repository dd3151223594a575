//! The real binary on a real PostgreSQL, under faults: `kill -9` of the API under 64
//! concurrent writers and an immediate stop of the database under the same load lose no
//! acknowledged write (the database's outage answers 503 with `Retry-After`, never a hang
//! or a 500, and the service resumes by itself); two API processes on one database racing
//! creates of one name and saves on the same characters let exactly one win (per name,
//! per version); the `copy` subcommand
//! moves every character from sled to the database and back, checked; connections commit
//! durably whatever the server's default.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::http::character::Character;
use protocol::{AccountId, CharacterId};
use reqwest::StatusCode;
use serde_json::json;
use support::{Api, BIN, CharacterCalls, PATIENCE, TOKEN, api_of, body_of, start_process};
use test_support::{Backend, Service, ServiceOptions, TestStore, wait_for, wait_ready};

/// Writers under load, as the issue asks.
const WRITERS: usize = 64;

/// The API's bound on a database operation in these tests: an outage answers 503 within it.
const DB_TIMEOUT_MS: &str = "2000";

/// Starts the binary on `store` (its database; logs in its dir), and waits until ready.
async fn start(store: &TestStore) -> Service {
    let mut args = store.args();
    args.extend(["--workers", "2", "--database-timeout-ms", DB_TIMEOUT_MS].map(String::from));
    start_process(store.dir.path(), &args).await
}

/// What the writers were told was stored: character id → highest acknowledged version.
type Acked = Arc<Mutex<HashMap<CharacterId, u64>>>;

/// What the writers share: their acknowledgements and counters, and when to stop.
#[derive(Clone, Default)]
struct Load {
    acked: Acked,
    total: Arc<AtomicUsize>,
    unavailable: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Load {
    async fn wait_total(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.total.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "load never reached {n} writes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One writer: creates a character, then saves it again and again chaining If-Match; every
/// save sets `coins` to the version it will produce, so a stored version can be checked
/// against its content. With `ride_out`, a 503 or a broken connection (the database is
/// away) is waited out: the writer reads the character again, since the failed write may
/// or may not have been applied, and goes on from what is stored. Without it, the writer
/// returns at the first transport error (the service was killed). Any other answer fails
/// the test.
async fn writer(api: Api, account: AccountId, n: usize, load: Load, ride_out: bool) {
    let c = loop {
        let r = api
            .post("/v1/characters")
            .json(&json!({ "account_id": account, "name": format!("Writer{n}") }))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == StatusCode::CREATED => match r.json::<Character>().await {
                Ok(c) => break c,
                Err(_) if !ride_out => return,
                Err(_) => {}
            },
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE && ride_out => {
                assert_eq!(r.headers()["retry-after"], "1");
                load.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            // An earlier try that answered 503 was applied after all.
            Ok(r) if r.status() == StatusCode::CONFLICT && ride_out => {
                let name = format!("Writer{n}");
                if let Some(c) = api.list(account).await.into_iter().find(|c| c.name == name) {
                    break c;
                }
            }
            Ok(r) => panic!(
                "create answered {}: {}",
                r.status(),
                r.text().await.unwrap()
            ),
            Err(_) if !ride_out => return,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    load.acked.lock().unwrap().insert(c.id, 1);
    load.total.fetch_add(1, Ordering::Relaxed);
    let mut body = body_of(&c);
    let mut version = 1;
    while !load.stop.load(Ordering::Relaxed) {
        body["inventory"]["coins"] = json!(version + 1);
        let r = api
            .put(&format!("/v1/characters/{}", c.id))
            .header("if-match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await;
        let saved = match r {
            Ok(r) if r.status() == StatusCode::OK => r.json::<Character>().await.ok(),
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE && ride_out => {
                assert_eq!(r.headers()["retry-after"], "1");
                load.unavailable.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(r) => panic!("save answered {}: {}", r.status(), r.text().await.unwrap()),
            Err(_) => None,
        };
        match saved {
            Some(saved) => {
                assert_eq!(saved.version, version + 1);
                version = saved.version;
                load.acked.lock().unwrap().insert(c.id, version);
                load.total.fetch_add(1, Ordering::Relaxed);
            }
            None if !ride_out => return,
            None => version = current_version(&api, c.id, &load).await,
        }
    }
}

/// The stored version of `id`, read again and again until the service answers.
async fn current_version(api: &Api, id: CharacterId, load: &Load) -> u64 {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match api.get(&format!("/v1/characters/{id}")).send().await {
            Ok(r) if r.status() == StatusCode::OK => {
                if let Ok(c) = r.json::<Character>().await {
                    return c.version;
                }
            }
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                load.unavailable.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => panic!("read answered {}", r.status()),
            Err(_) => {}
        }
    }
}

/// Every acknowledged version is stored (or a later one), with its content.
async fn verify(api: &Api, acked: &HashMap<CharacterId, u64>) {
    for (id, version) in acked {
        let c = api.fetch(*id).await;
        assert!(
            c.version >= *version,
            "{id}: acknowledged version {version}, found {}",
            c.version
        );
        if c.version > 1 {
            assert_eq!(c.inventory.coins, c.version, "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_64_writers_loses_no_acknowledged_write() {
    let store = TestStore::new(Backend::Postgres).await;
    let mut service = start(&store).await;
    let api = api_of(&service);
    let account = AccountId::new_random();
    let load = Load::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(writer(api.clone(), account, n, load.clone(), false)))
        .collect();
    load.wait_total(1000).await;
    wait_for("every writer created its character", PATIENCE, async || {
        load.acked.lock().unwrap().len() == WRITERS
    })
    .await;
    service.process().kill().expect("it was running"); // SIGKILL
    for w in writers {
        w.await.unwrap();
    }
    let acked = load.acked.lock().unwrap().clone();

    let service = start(&store).await;
    let api = api_of(&service);
    verify(&api, &acked).await;
    assert_eq!(api.list(account).await.len(), WRITERS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_immediate_database_stop_under_load_answers_503_then_resumes_losing_nothing() {
    let mut store = TestStore::new(Backend::Postgres).await;
    let service = start(&store).await;
    let api = api_of(&service);
    let http = reqwest::Client::new();
    let account = AccountId::new_random();
    let load = Load::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(writer(api.clone(), account, n, load.clone(), true)))
        .collect();
    load.wait_total(500).await;

    let pg = store.postgres.as_mut().unwrap();
    tokio::task::block_in_place(|| pg.stop_immediate()).expect("pg_ctl stop -m immediate");
    let down = Instant::now();
    // Reads, writes and readiness answer 503 with Retry-After, promptly.
    let id = *load.acked.lock().unwrap().keys().next().unwrap();
    for path in [format!("/v1/characters/{id}"), "/readyz".to_owned()] {
        let asked = Instant::now();
        let r = http
            .get(api.url(&path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(r.headers()["retry-after"], "1", "{path}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{path} took {:?}",
            asked.elapsed()
        );
    }
    let unavailable = load.unavailable.load(Ordering::Relaxed);
    wait_for("writers answered 503", PATIENCE, async || {
        load.unavailable.load(Ordering::Relaxed) > unavailable + WRITERS
    })
    .await;
    let written_while_down = load.total.load(Ordering::Relaxed);

    tokio::task::block_in_place(|| store.postgres.as_mut().unwrap().restart())
        .expect("postgres starts again");
    eprintln!("database down for {:?}", down.elapsed());
    // The service resumes by itself: ready again, and the writers go on.
    wait_ready(&service.url()).await;
    load.wait_total(written_while_down + 1000).await;
    load.stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = load.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), WRITERS);
    verify(&api, &acked).await;
    assert!(service.log().contains("character-api listening"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_creates_and_saves_let_exactly_one_win() {
    let store = TestStore::new(Backend::Postgres).await;
    let (a, b) = (start(&store).await, start(&store).await);
    let apis = [api_of(&a), api_of(&b)];
    let account = AccountId::new_random();
    let mut characters = Vec::new();
    for i in 0..8 {
        characters.push(apis[i % 2].create(account, &format!("Racer{i}")).await);
    }
    // Racing creates of one name through both processes: exactly one wins.
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let api = apis[i % 2].clone();
            let name = if i % 3 == 0 {
                format!("Twin{round}")
            } else {
                format!("TWIN{round}")
            };
            tasks.push(tokio::spawn(async move {
                api.create_raw(account, &name).await.status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            vec![201, 409, 409, 409, 409, 409],
            "round {round}"
        );
    }
    for round in 0..15u64 {
        let mut tasks = Vec::new();
        for c in &characters {
            for racer in 0..4u64 {
                let api = apis[(racer % 2) as usize].clone();
                let mut body = body_of(c);
                body["inventory"]["coins"] = json!(round * 10 + racer);
                let (id, version) = (c.id, round + 1);
                tasks.push(tokio::spawn(async move {
                    let r = api.put_json(id, version, &body).await;
                    (id, r.status(), racer)
                }));
            }
        }
        let mut winners: HashMap<CharacterId, Vec<u64>> = HashMap::new();
        for t in tasks {
            let (id, status, racer) = t.await.unwrap();
            match status {
                StatusCode::OK => winners.entry(id).or_default().push(racer),
                StatusCode::PRECONDITION_FAILED => {}
                other => panic!("unexpected {other}"),
            }
        }
        for c in &characters {
            let won = &winners[&c.id];
            assert_eq!(won.len(), 1, "round {round}, {}: winners {won:?}", c.id);
            // Both processes read what the winner wrote.
            for api in &apis {
                let now = api.fetch(c.id).await;
                assert_eq!(now.version, round + 2);
                assert_eq!(now.inventory.coins, round * 10 + won[0]);
            }
        }
    }
}

/// Runs `character-api copy --from <from> --to <to>`; whether it succeeded, and its output.
fn copy(from: &str, to: &str) -> (bool, String) {
    let out = Command::new(BIN)
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

/// Every character of `account` as its GET body, by id.
async fn snapshot(api: &Api, account: AccountId) -> HashMap<CharacterId, String> {
    let mut out = HashMap::new();
    for c in api.list(account).await {
        let (status, _, body) = api.snapshot(c.id).await;
        assert_eq!(status, StatusCode::OK);
        out.insert(c.id, body);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_moves_every_character_from_sled_to_the_database_and_back() {
    let sled = TestStore::new(Backend::Sled).await;
    let pg = TestStore::new(Backend::Postgres).await;
    let url = pg.database_url().unwrap();
    let account = AccountId::new_random();

    // Characters in sled, some saved a few times, one renamed, one deleted.
    let mut service = start(&sled).await;
    let api = api_of(&service);
    for i in 0..1200 {
        let c = api.create(account, &format!("Copy{i}")).await;
        if i % 100 == 0 {
            let mut body = body_of(&c);
            body["inventory"]["coins"] = json!(i);
            body["name"] = json!(format!("Moved{i}"));
            assert_eq!(api.put_json(c.id, 1, &body).await.status(), StatusCode::OK);
        }
    }
    let gone = api.create(account, "Gone").await;
    let r = api
        .delete(&format!("/v1/characters/{}", gone.id))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let before = snapshot(&api, account).await;
    assert_eq!(before.len(), 1200);
    service.process().terminate(PATIENCE).expect("it stops");
    let sled_dir = sled.dir.path().join("data");
    let sled_dir = sled_dir.to_str().unwrap();

    let (ok, out) = copy(sled_dir, &url);
    assert!(ok, "{out}");
    assert!(out.contains("counts and contents match"), "{out}");
    // A second copy into the now full database is refused, changing nothing.
    let (ok, out) = copy(sled_dir, &url);
    assert!(!ok && out.contains("already holds 1200"), "{out}");

    let mut service = start(&pg).await;
    let api = api_of(&service);
    assert_eq!(snapshot(&api, account).await, before);
    // The copied store keeps every rule: names stay taken, versions go on.
    assert_eq!(
        api.create_raw(account, "moved100").await.status(),
        StatusCode::CONFLICT
    );
    service.process().terminate(PATIENCE).expect("it stops");

    // And back, into a fresh sled directory.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("data");
    let (ok, out) = copy(&url, back_dir.to_str().unwrap());
    assert!(ok, "{out}");
    let service = ServiceOptions::new("character-api", TOKEN)
        .program(BIN)
        .dir(back.path())
        .clean_env()
        .start()
        .expect("character-api starts on the copy");
    wait_ready(&service.url()).await;
    assert_eq!(snapshot(&api_of(&service), account).await, before);

    // A missing source directory is an error, not an empty copy.
    let (ok, out) = copy(
        Path::new("/nonexistent/chars").to_str().unwrap(),
        back_dir.to_str().unwrap(),
    );
    assert!(!ok && out.contains("no such directory"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_commit_durably_even_where_the_server_default_is_off() {
    use service_kit::postgres::{Database, DatabaseOptions};
    let store = TestStore::new(Backend::Postgres).await;
    let options = DatabaseOptions::new(store.database_url().unwrap(), "test");
    let admin = Database::open(&options).unwrap();
    admin
        .connection()
        .await
        .unwrap()
        .batch_execute("ALTER DATABASE postgres SET synchronous_commit = off")
        .await
        .unwrap();
    let setting = |db: Database| async move {
        let c = db.connection().await.unwrap();
        let row = c.query_one("SHOW synchronous_commit", &[]).await.unwrap();
        row.get::<_, String>(0)
    };
    // A plain session now defaults to off; the pool's are raised to on.
    let plain = tokio_postgres::connect(&store.database_url().unwrap(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(plain.1);
    let row = plain
        .0
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "off");
    assert_eq!(setting(Database::open(&options).unwrap()).await, "on");
}
