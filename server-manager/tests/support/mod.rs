//! Shared pieces of the manager's integration tests (and its benchmark): a stand-in zone
//! that speaks the real NATS messages from `protocol`, a manager started in-process or as
//! the real binary, and a real character-api as a child process (started by
//! `test-support`, as are nats-server and the waits).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::{Client, Message};
use futures_util::StreamExt;
use protocol::cluster::{
    self, Allocate, Allocated, AreaOwner, AreaRequest, ErrorKind, ErrorReply, Expect, ExpectReady,
    Heartbeat, LostArea, ManagerVerb, Migrate, Migrated, PlayerDot, PositionSample, Register,
    RegisterAck, Release, Released, Reply, Subjects, ZoneState, ZoneVerb,
};
use protocol::{AccountId, AreaId, CharacterId, Epoch, Ticket, ZoneId};
use server_manager::Config;
use test_support::{
    ManagedProcess, NatsServer, ProcessSpec, Service, ServiceOptions, free_addr, wait_ready,
};
use tokio::task::JoinHandle;

pub const SERVICE_TOKEN: &str = "svc-token";
pub const JWT_SECRET: &str = "jwt-secret-for-tests";
pub const ADMIN_TOKEN: &str = "admin-token";

// ------------------------------------------------------------------ stand-in zone

/// What a stand-in zone holds and what it was asked.
#[derive(Debug, Clone, Default)]
pub struct ZoneSim {
    pub state: Option<ZoneState>,
    pub area: Option<AreaId>,
    pub epoch: Option<Epoch>,
    pub players: u32,
    pub allocations: Vec<Allocate>,
    pub releases: Vec<Release>,
    pub expects: Vec<Expect>,
    pub lost: Vec<LostArea>,
    pub migrates: Vec<Migrate>,
    pub heartbeat_interval_ms: u32,
}

impl ZoneSim {
    pub fn holds(&self) -> Option<(AreaId, Epoch)> {
        match (self.state, self.area, self.epoch) {
            (Some(ZoneState::Allocated), Some(a), Some(e)) => Some((a, e)),
            _ => None,
        }
    }
}

/// How a stand-in zone behaves.
#[derive(Debug, Clone)]
pub struct ZoneOptions {
    pub prefix: String,
    /// How long answering `Expect` takes (the real zone fetches character and quests).
    pub preload: Duration,
    /// How long answering `Allocate` takes (the real zone builds the area).
    pub allocate_delay: Duration,
    /// Publish a position sample with this many dots each heartbeat while allocated.
    pub sample_players: u32,
}

impl Default for ZoneOptions {
    fn default() -> Self {
        Self {
            prefix: Subjects::DEFAULT_PREFIX.to_owned(),
            preload: Duration::ZERO,
            allocate_delay: Duration::ZERO,
            sample_players: 0,
        }
    }
}

/// A zone as far as the manager can tell: registers, heartbeats, and answers Allocate,
/// Release, Expect, LostArea and Migrate like the zone-server does (epoch checks
/// included), over a real NATS connection.
pub struct StandInZone {
    pub id: ZoneId,
    pub ws_url: String,
    sim: Arc<Mutex<ZoneSim>>,
    paused: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    client: Client,
    subjects: Subjects,
}

impl StandInZone {
    pub async fn start(nats: &NatsServer, options: ZoneOptions) -> Self {
        Self::start_with(nats, options, ZoneSim::default()).await
    }

    /// A zone already holding `area` under `epoch` (as after a manager restart).
    pub async fn start_holding(
        nats: &NatsServer,
        options: ZoneOptions,
        area: AreaId,
        epoch: Epoch,
    ) -> Self {
        let sim = ZoneSim {
            state: Some(ZoneState::Allocated),
            area: Some(area),
            epoch: Some(epoch),
            ..ZoneSim::default()
        };
        Self::start_with(nats, options, sim).await
    }

    async fn start_with(nats: &NatsServer, options: ZoneOptions, mut initial: ZoneSim) -> Self {
        let id = ZoneId::new_random();
        let ws_url = format!("ws://127.0.0.1:7200/zones/{id}");
        // Stand-in zones take turns with the zone identities the server admits, as the
        // zone actors of several zone-server processes would.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let role = format!("zone-{}", NEXT.fetch_add(1, Ordering::Relaxed) % 8 + 1);
        let link = service_kit::nats::connect(&nats.args(&role), "stand-in zone")
            .await
            .expect("stand-in zone: NATS");
        let client = link.client;
        let subjects = Subjects::new(&options.prefix)
            .unwrap()
            .speaking_as(link.identity);
        if initial.state.is_none() {
            initial.state = Some(ZoneState::Idle);
        }
        initial.heartbeat_interval_ms = 1000;
        let sim = Arc::new(Mutex::new(initial));
        let paused = Arc::new(AtomicBool::new(false));
        let sub = client.subscribe(subjects.zone_all(id)).await.unwrap();
        client.flush().await.unwrap();
        let mut tasks = Vec::new();
        {
            let (client, sim, ws_url, opts) =
                (client.clone(), sim.clone(), ws_url.clone(), options.clone());
            let subjects = subjects.clone();
            tasks.push(tokio::spawn(async move {
                let mut sub = sub;
                while let Some(msg) = sub.next().await {
                    let (client, sim, ws_url, opts, subjects) = (
                        client.clone(),
                        sim.clone(),
                        ws_url.clone(),
                        opts.clone(),
                        subjects.clone(),
                    );
                    tokio::spawn(async move {
                        answer(&client, &subjects, id, &ws_url, &sim, &opts, msg).await;
                    });
                }
            }));
        }
        {
            let (client, sim, ws_url, paused) =
                (client.clone(), sim.clone(), ws_url.clone(), paused.clone());
            let subjects = subjects.clone();
            let sample_players = options.sample_players;
            tasks.push(tokio::spawn(async move {
                register(&client, &subjects, id, &ws_url, &sim).await;
                loop {
                    let interval = sim.lock().unwrap().heartbeat_interval_ms.max(10);
                    tokio::time::sleep(Duration::from_millis(u64::from(interval))).await;
                    if paused.load(Ordering::Acquire) {
                        continue;
                    }
                    let hb = {
                        let s = sim.lock().unwrap();
                        Heartbeat {
                            zone: id,
                            ws_url: ws_url.clone(),
                            state: s.state.unwrap_or(ZoneState::Idle),
                            area: s.area,
                            epoch: s.epoch,
                            players: s.players,
                            npcs: 0,
                            tick_p99_us: 1200,
                            // A holding zone shows its players some ghosts.
                            ghosts: if s.area.is_some() { 5 } else { 0 },
                            // ...is crowded: arrivals refused, players held at its
                            // borders, its clock slowed.
                            crowding: if s.area.is_some() {
                                protocol::cluster::Crowding {
                                    capacity: s.players.max(1),
                                    held_at_border: 2,
                                    refused_full: 3,
                                    time_rate_permille: 600,
                                }
                            } else {
                                Default::default()
                            },
                            sent_at: service_kit::time::now_millis(),
                        }
                    };
                    let _ = client
                        .publish(
                            subjects.manager(ManagerVerb::Heartbeat),
                            cluster::encode(&hb).into(),
                        )
                        .await;
                    if sample_players > 0
                        && let (Some(area), Some(ZoneState::Allocated)) = (hb.area, Some(hb.state))
                    {
                        let grid = protocol::WorldGrid::default();
                        let b = grid.bounds(area);
                        let t = (service_kit::time::now_millis() % 10_000) as f32 / 10_000.0;
                        let players = (0..sample_players)
                            .map(|i| PlayerDot {
                                character: CharacterId(uuid::Uuid::from_u128(u128::from(i) + 1)),
                                x: b.min_x + (b.max_x - b.min_x) * ((t + i as f32 * 0.1) % 1.0),
                                z: b.min_z + (b.max_z - b.min_z) * 0.5,
                            })
                            .collect();
                        let sample = PositionSample {
                            zone: id,
                            area,
                            players,
                        };
                        let _ = client
                            .publish(
                                subjects.manager(ManagerVerb::Positions),
                                cluster::encode(&sample).into(),
                            )
                            .await;
                    }
                }
            }));
        }
        Self {
            id,
            ws_url,
            sim,
            paused,
            tasks,
            client,
            subjects,
        }
    }

    pub fn sim(&self) -> ZoneSim {
        self.sim.lock().unwrap().clone()
    }

    /// Drops the area it holds, as a zone that released it behind the manager's back.
    pub fn give_up_area(&self) {
        let mut s = self.sim.lock().unwrap();
        s.state = Some(ZoneState::Idle);
        s.area = None;
        s.epoch = None;
    }

    pub fn set_players(&self, players: u32) {
        self.sim.lock().unwrap().players = players;
    }

    /// Stops (or resumes) heartbeats, as a hung or partitioned zone would; it still
    /// answers requests.
    pub fn pause_heartbeats(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// A request to the manager as this zone: please own `area`.
    pub async fn area_request(&self, prefix: &str, area: AreaId) -> Reply<AreaOwner> {
        let s = Subjects::new(prefix)
            .unwrap()
            .speaking_as(self.subjects.me().clone());
        let req = AreaRequest {
            area,
            requested_by: self.id,
        };
        let msg = self
            .client
            .request(
                s.manager(ManagerVerb::AreaRequest),
                cluster::encode(&req).into(),
            )
            .await
            .unwrap();
        cluster::decode(&msg.payload).unwrap()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The subjects this zone sends on (as its NATS identity).
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }
}

impl Drop for StandInZone {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn register(client: &Client, s: &Subjects, id: ZoneId, ws_url: &str, sim: &Mutex<ZoneSim>) {
    // The manager may not be up yet: retry until it answers (heartbeats go out meanwhile
    // at the default interval, once this returns).
    for _ in 0..100 {
        let reg = {
            let s = sim.lock().unwrap();
            Register {
                zone: id,
                ws_url: ws_url.to_owned(),
                state: s.state.unwrap_or(ZoneState::Idle),
                area: s.area,
                epoch: s.epoch,
            }
        };
        let req = async_nats::Request::new()
            .payload(cluster::encode(&reg).into())
            .timeout(Some(Duration::from_millis(500)));
        if let Ok(msg) = client
            .send_request(s.manager(ManagerVerb::Register), req)
            .await
            && let Ok(Ok(ack)) = cluster::decode::<Reply<RegisterAck>>(&msg.payload)
        {
            sim.lock().unwrap().heartbeat_interval_ms = ack.heartbeat_interval_ms;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn answer(
    client: &Client,
    subjects: &Subjects,
    id: ZoneId,
    ws_url: &str,
    sim: &Mutex<ZoneSim>,
    opts: &ZoneOptions,
    msg: Message,
) {
    let Some(reply_to) = msg.reply.clone() else {
        return;
    };
    let Some(verb) = subjects.parse_zone(&msg.subject).map(|z| z.verb) else {
        return;
    };
    let wrong_epoch = || ErrorReply::new(ErrorKind::WrongEpoch, "not my epoch");
    let payload: Vec<u8> = match verb {
        ZoneVerb::Allocate => {
            let r: Reply<Allocated> = match cluster::decode::<Allocate>(&msg.payload) {
                Err(e) => Err(ErrorReply::new(ErrorKind::Malformed, e.to_string())),
                Ok(a) => {
                    if !opts.allocate_delay.is_zero() {
                        tokio::time::sleep(opts.allocate_delay).await;
                    }
                    let mut s = sim.lock().unwrap();
                    s.allocations.push(a.clone());
                    if s.state == Some(ZoneState::Idle) {
                        s.state = Some(ZoneState::Allocated);
                        s.area = Some(a.area);
                        s.epoch = Some(a.epoch);
                        Ok(Allocated {
                            zone: id,
                            area: a.area,
                            epoch: a.epoch,
                            ws_url: ws_url.to_owned(),
                        })
                    } else {
                        Err(ErrorReply::new(ErrorKind::WrongState, "not idle"))
                    }
                }
            };
            cluster::encode(&r)
        }
        ZoneVerb::Release => {
            let r: Reply<Released> = match cluster::decode::<Release>(&msg.payload) {
                Err(e) => Err(ErrorReply::new(ErrorKind::Malformed, e.to_string())),
                Ok(rel) => {
                    let mut s = sim.lock().unwrap();
                    s.releases.push(rel);
                    if s.holds() == Some((rel.area, rel.epoch)) {
                        s.state = Some(ZoneState::Idle);
                        s.area = None;
                        s.epoch = None;
                        s.players = 0;
                        Ok(Released { zone: id })
                    } else {
                        Err(wrong_epoch())
                    }
                }
            };
            cluster::encode(&r)
        }
        ZoneVerb::Expect => {
            let r: Reply<ExpectReady> = match cluster::decode::<Expect>(&msg.payload) {
                Err(e) => Err(ErrorReply::new(ErrorKind::Malformed, e.to_string())),
                Ok(x) => {
                    let holds = sim.lock().unwrap().holds() == Some((x.area, x.epoch));
                    if holds {
                        if !opts.preload.is_zero() {
                            tokio::time::sleep(opts.preload).await;
                        }
                        sim.lock().unwrap().expects.push(x);
                        Ok(ExpectReady {
                            zone: id,
                            ws_url: ws_url.to_owned(),
                            ticket: x.ticket,
                            expires_at: x.expires_at,
                        })
                    } else {
                        Err(wrong_epoch())
                    }
                }
            };
            cluster::encode(&r)
        }
        ZoneVerb::LostArea => {
            let r: Reply<Released> = match cluster::decode::<LostArea>(&msg.payload) {
                Err(e) => Err(ErrorReply::new(ErrorKind::Malformed, e.to_string())),
                Ok(l) => {
                    let mut s = sim.lock().unwrap();
                    s.lost.push(l.clone());
                    match s.holds() {
                        Some((a, e)) if a == l.area && e <= l.lost_epoch => {
                            s.state = Some(ZoneState::Idle);
                            s.area = None;
                            s.epoch = None;
                            s.players = 0;
                            Ok(Released { zone: id })
                        }
                        _ => Err(wrong_epoch()),
                    }
                }
            };
            cluster::encode(&r)
        }
        ZoneVerb::Migrate => {
            let r: Reply<Migrated> = match cluster::decode::<Migrate>(&msg.payload) {
                Err(e) => Err(ErrorReply::new(ErrorKind::Malformed, e.to_string())),
                Ok(m) => {
                    let mut s = sim.lock().unwrap();
                    s.migrates.push(m.clone());
                    if s.holds() == Some((m.area, m.epoch)) {
                        let players = s.players;
                        s.state = Some(ZoneState::Idle);
                        s.area = None;
                        s.epoch = None;
                        s.players = 0;
                        Ok(Migrated { zone: id, players })
                    } else {
                        Err(wrong_epoch())
                    }
                }
            };
            cluster::encode(&r)
        }
        ZoneVerb::AreaState | ZoneVerb::Ghosts | ZoneVerb::BorderAct | ZoneVerb::BorderChat => {
            let r: Reply<()> = Err(ErrorReply::new(ErrorKind::WrongState, "not in this test"));
            cluster::encode(&r)
        }
    };
    let _ = client.publish(reply_to, payload.into()).await;
}

// ------------------------------------------------------------------ the manager

/// Settings for a test manager: fast heartbeats, no settle wait, two HTTP workers.
pub fn test_config(data_dir: &std::path::Path, nats: &NatsServer, character_api: &str) -> Config {
    let mut c = Config::new(data_dir, SERVICE_TOKEN, JWT_SECRET, ADMIN_TOKEN);
    c.nats = nats.args("manager");
    c.character_api = character_api.to_owned();
    c.heartbeat_interval = Duration::from_millis(200);
    c.heartbeat_timeout = Duration::from_secs(1);
    c.zone_timeout = Duration::from_secs(1);
    c.expect_timeout = Duration::from_secs(3);
    c.settle = Some(Duration::ZERO);
    c.workers = Some(2);
    c.spawn_areas = vec![];
    c
}

/// A manager running in this process.
pub struct TestManager {
    pub addr: SocketAddr,
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::sync::oneshot::Receiver<Result<(), server_manager::RunError>>>,
}

/// Logs to the test's output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

impl TestManager {
    /// Starts a manager on a runtime of its own (as its own process would have), so load
    /// generated by the test cannot starve it.
    pub async fn start(config: Config) -> Self {
        init_logs();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("manager-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                let result = rt.block_on(server_manager::run(listener, config, async move {
                    let _ = rx.await;
                }));
                let _ = done_tx.send(result);
            })
            .unwrap();
        let url = format!("http://{addr}");
        wait_ready(&url).await;
        Self {
            addr,
            url,
            shutdown: Some(tx),
            done: Some(done_rx),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestManager {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The real server-manager binary as a child process.
pub fn manager_process(
    name: &str,
    log_dir: &std::path::Path,
    data_dir: &std::path::Path,
    nats: &NatsServer,
    character_api: &str,
    extra: &[(&str, &str)],
) -> ManagedProcess {
    let addr = free_addr().unwrap();
    let mut spec = ProcessSpec::new(name, env!("CARGO_BIN_EXE_server-manager"), addr);
    for (key, value) in [
        ("LISTEN", addr.to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("NATS_URL", nats.url()),
        ("NATS_CREDS", nats.creds("manager").display().to_string()),
        ("CHARACTER_API_URL", character_api.to_owned()),
        ("SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("HEARTBEAT_INTERVAL", "200ms".to_owned()),
        ("HEARTBEAT_TIMEOUT", "1s".to_owned()),
        ("WORKERS", "2".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ] {
        spec = spec.env(key, value);
    }
    for (key, value) in extra {
        spec = spec.env(*key, *value);
    }
    ManagedProcess::start(spec, log_dir).expect("server-manager did not start")
}

// ------------------------------------------------------------------ character-api

/// A real character-api on a free port with its own data dir.
pub struct CharacterApi {
    pub service: Service,
    pub url: String,
}

impl CharacterApi {
    pub fn start() -> Self {
        let service = ServiceOptions::new("character-api", SERVICE_TOKEN)
            .env("RUST_LOG", "warn")
            .start()
            .expect("character-api did not start");
        let url = service.url();
        Self { service, url }
    }

    /// Creates a character for `account` (it starts in area 0-0).
    pub async fn create(&self, account: AccountId) -> CharacterId {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "T{}x{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10],
            N.fetch_add(1, Ordering::Relaxed)
        );
        let res = http()
            .post(format!("{}/v1/characters", self.url))
            .bearer_auth(SERVICE_TOKEN)
            .json(&serde_json::json!({ "account_id": account, "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }
}

// ------------------------------------------------------------------ HTTP helpers

/// An HTTP client for the current test. Building a reqwest client loads TLS roots (slow,
/// blocking), so each test runtime builds one; clients are not shared across runtimes
/// because their pooled connections die with the runtime that opened them.
pub fn http() -> reqwest::Client {
    static CLIENTS: OnceLock<
        Mutex<std::collections::HashMap<tokio::runtime::Id, reqwest::Client>>,
    > = OnceLock::new();
    let id = tokio::runtime::Handle::current().id();
    CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(id)
        .or_default()
        .clone()
}

pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

pub fn token_for(account: AccountId) -> String {
    server_manager::auth::mint(JWT_SECRET.as_bytes(), account, Duration::from_secs(600)).unwrap()
}

pub async fn admin_get(url: &str, path: &str) -> serde_json::Value {
    let res = http()
        .get(format!("{url}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

pub async fn admin_post(url: &str, path: &str) -> reqwest::Response {
    http()
        .post(format!("{url}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
}

/// The owners of every allocated area, `area text -> (zone, epoch)`.
pub async fn area_map(url: &str) -> std::collections::BTreeMap<String, (String, u64)> {
    let areas = admin_get(url, "/v1/areas?allocated=true").await;
    areas
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let area = format!("{}-{}", a["area"]["x"], a["area"]["z"]);
            (
                area,
                (
                    a["zone"].as_str().unwrap().to_owned(),
                    a["epoch"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// Sends `payload` as a raw request to `subject` and decodes the reply as `Reply<T>`.
pub async fn raw_request<T: serde::de::DeserializeOwned>(
    client: &Client,
    subject: String,
    payload: Vec<u8>,
) -> Reply<T> {
    let msg = client.request(subject, payload.into()).await.unwrap();
    cluster::decode(&msg.payload).unwrap()
}

pub fn ticket_hex(t: &Ticket) -> String {
    t.to_string()
}
