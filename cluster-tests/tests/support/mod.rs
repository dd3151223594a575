//! Helpers shared by the fault, hostile-client and seamless-world tests: a real cluster
//! started off the async runtime, a polling `wait_for`, the manager's operator API,
//! character-api reads, a zone-server's `/metrics`, players (library bots that roam without
//! fighting, or gather, juggle or stand on command) and a raw WebSocket client that
//! misbehaves on purpose.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster_tests::bot::{self, Bot, BotConfig, BotStats, Controls, join_once};
use cluster_tests::stays::{StayReport, check_stays, fetch_stays};
use cluster_tests::{Cluster, ClusterOptions};
use futures_util::{SinkExt, StreamExt};
use protocol::client::packets::{self as pk, ErrorCode};
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::http::character::Character;
use protocol::http::manager::{AreaInfo, JoinResponse, ZoneInfo};
use protocol::{AreaId, Ticket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Where new characters appear.
pub const SPAWN_AREA: AreaId = AreaId::new(0, 0);

// ---------------------------------------------------------------------------- cluster

/// Starts a cluster of real processes (blocking work, so off the async workers).
pub async fn start_cluster(zone_servers: usize, slots: u16) -> Cluster {
    tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterOptions {
            zone_servers,
            slots,
            well_known_ports: false,
            dir: None,
            dev_login: false,
            zone_args: Vec::new(),
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts")
}

/// Stops every process gently.
pub async fn stop_cluster(mut cluster: Cluster) {
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("stopped");
}

/// How bots reach this cluster.
pub fn bot_config(cluster: &Cluster) -> BotConfig {
    cluster.bot_config()
}

/// The fault tests each run a whole cluster of processes; on a 2-core machine they must
/// not run at the same time (their timings would mean nothing).
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub use test_support::wait_for;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

// ---------------------------------------------------------------------------- manager

/// A service's HTTP API, read with a bearer token.
#[derive(Debug, Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: String, token: &str) -> Self {
        Self {
            http: http(),
            base,
            token: token.to_owned(),
        }
    }

    /// `GET base + path` as JSON; `None` while the service does not answer or refuses.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Option<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }
}

/// The manager's operator API.
#[derive(Debug, Clone)]
pub struct Admin(Api);

impl Admin {
    /// For this cluster's manager.
    pub fn new(cluster: &Cluster) -> Self {
        Self(Api::new(
            cluster.manager_url(),
            &cluster.secrets.admin_token,
        ))
    }

    /// `GET /v1/areas`; `None` while the manager does not answer.
    pub async fn areas(&self) -> Option<Vec<AreaInfo>> {
        self.0.get("/v1/areas").await
    }

    /// One area as the manager sees it.
    pub async fn area(&self, area: AreaId) -> Option<AreaInfo> {
        self.areas().await?.into_iter().find(|a| a.area == area)
    }

    /// `GET /v1/zones`.
    pub async fn zones(&self) -> Option<Vec<ZoneInfo>> {
        self.0.get("/v1/zones").await
    }

    /// The zone owning `area`, with its details.
    pub async fn owner(&self, area: AreaId) -> Option<ZoneInfo> {
        let owner = self.area(area).await?.zone?;
        self.zones().await?.into_iter().find(|z| z.zone == owner)
    }
}

/// Which of the cluster's zone-server processes serves `ws_url` (by its port).
pub fn zone_process_of(cluster: &Cluster, ws_url: &str) -> Option<usize> {
    cluster
        .zones
        .iter()
        .position(|z| ws_url.contains(&format!("//{}/", z.addr())))
}

// ---------------------------------------------------------------------------- APIs

/// character-api as the services see it.
#[derive(Debug, Clone)]
pub struct Characters(Api);

impl Characters {
    /// For this cluster's character-api.
    pub fn new(cluster: &Cluster) -> Self {
        Self(Api::new(
            cluster.character_api_url(),
            &cluster.secrets.service_token,
        ))
    }

    /// The stored character; `None` while the API does not answer.
    pub async fn get(&self, id: protocol::CharacterId) -> Option<Character> {
        self.0.get(&format!("/v1/characters/{id}")).await
    }
}

/// A zone-server process's `/metrics` text (empty when it does not answer).
pub async fn zone_metrics(addr: SocketAddr) -> String {
    match http().get(format!("http://{addr}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[allow(unused_imports)] // not every test file that includes this module reads metrics
pub use test_support::metric;

/// Once the stays of `characters` are all closed (their bots stopped): the zones' record
/// of them, checked to show one owner at a time and no input lost (asserted here).
pub async fn stays_closed_and_nothing_lost(
    cluster: &Cluster,
    characters: &[protocol::CharacterId],
) -> StayReport {
    let token = cluster.secrets.service_token.clone();
    let urls = cluster.zone_urls();
    let mut report = None;
    wait_for("every stay closed", Duration::from_secs(15), async || {
        let stays = fetch_stays(&urls, &token).await.expect("stays");
        let open = stays
            .iter()
            .any(|s| characters.contains(&s.character) && s.left_us.is_none());
        report = Some(check_stays(&stays));
        !open
    })
    .await;
    let report = report.expect("read");
    assert!(
        report.double_owners.is_empty(),
        "double owners: {:?}",
        report.double_owners
    );
    assert_eq!(report.lost_inputs, 0, "lost inputs: {:?}", report.losses);
    report
}

// ---------------------------------------------------------------------------- joining

/// A fresh account and character, and the account's join token.
pub async fn create_character(config: &BotConfig, name: &str) -> (Character, String) {
    bot::create_character(&http(), config, name)
        .await
        .expect("character-api creates the character")
}

/// Joins, retrying every 500 ms for up to `timeout`.
pub async fn join_until(
    config: &BotConfig,
    token: &str,
    character: protocol::CharacterId,
    timeout: Duration,
) -> JoinResponse {
    let http = http();
    let deadline = Instant::now() + timeout;
    loop {
        match join_once(&http, &config.manager_url, token, character).await {
            Ok(join) => return join,
            Err(e) => assert!(
                Instant::now() < deadline,
                "join failed for {timeout:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------------------- players

/// What a test keeps of a player (a library bot) it started.
#[derive(Debug, Clone)]
pub struct PlayerHandle {
    /// The character's name.
    pub name: String,
    /// The character.
    pub character: protocol::CharacterId,
    /// What it saw.
    pub stats: Arc<BotStats>,
    /// What it does.
    pub controls: Arc<Controls>,
}

/// Every player's name, controls and stats, for a failure message.
pub fn describe(players: &[PlayerHandle]) -> String {
    players
        .iter()
        .map(|p| format!("{}: {:?}\n  {:?}", p.name, p.controls, p.stats))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts one player named `name`: it roams its area without fighting, or gathers items.
pub async fn spawn_player(
    config: &BotConfig,
    name: &str,
    gather: bool,
    stop: &watch::Receiver<bool>,
) -> (PlayerHandle, JoinHandle<()>) {
    let bot = Bot::create(config.clone(), name).await.expect("a player");
    bot.controls.fight.store(false, Ordering::SeqCst);
    bot.controls.gather.store(gather, Ordering::SeqCst);
    let handle = PlayerHandle {
        name: bot.character.name.clone(),
        character: bot.character.id,
        stats: bot.stats.clone(),
        controls: bot.controls.clone(),
    };
    (handle, tokio::spawn(bot.play(stop.clone())))
}

/// Starts `n` players named `<prefix><i>` (see [`spawn_player`]).
pub async fn spawn_players(
    config: &BotConfig,
    prefix: &str,
    n: usize,
    gather: bool,
    stop: &watch::Receiver<bool>,
) -> (Vec<PlayerHandle>, Vec<JoinHandle<()>>) {
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (handle, task) = spawn_player(config, &format!("{prefix}{i}"), gather, stop).await;
        handles.push(handle);
        tasks.push(task);
    }
    (handles, tasks)
}

/// Stops every player and waits (briefly) for their tasks.
pub async fn stop_players(stop: watch::Sender<bool>, tasks: Vec<JoinHandle<()>>) {
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

// ---------------------------------------------------------------------------- raw client

/// What a raw client got next.
#[derive(Debug)]
pub enum Next {
    /// A packet.
    Packet(ServerPacket),
    /// A frame that is not a packet.
    Garbage,
    /// The connection ended.
    Closed,
    /// Nothing within the time given.
    Timeout,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, packet: ClientPacket) -> Result<(), ()> {
    let frame = packet.encode().map_err(|_| ())?;
    ws.send(Message::Binary(frame.into())).await.map_err(|_| ())
}

/// A WebSocket client that sends whatever it is told to.
pub struct RawClient {
    ws: Ws,
}

impl RawClient {
    /// Connects to a zone's WebSocket URL.
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("connected in time")
        .expect("connected");
        Self { ws }
    }

    /// Sends a packet; false when the connection is gone.
    pub async fn send(&mut self, packet: ClientPacket) -> bool {
        send(&mut self.ws, packet).await.is_ok()
    }

    /// Sends `Hello` with this ticket.
    pub async fn hello(&mut self, ticket: Ticket) -> bool {
        self.send(
            pk::Hello {
                ticket,
                protocol_version: PROTOCOL_VERSION,
            }
            .into(),
        )
        .await
    }

    /// Sends arbitrary bytes as one binary message.
    pub async fn send_raw(&mut self, frame: Vec<u8>) -> bool {
        self.ws.send(Message::Binary(frame.into())).await.is_ok()
    }

    /// Sends a text message (not allowed by the protocol).
    pub async fn send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    /// The next packet, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Next::Timeout,
                Ok(Some(Ok(Message::Binary(frame)))) => {
                    return match ServerPacket::decode(&frame) {
                        Ok(p) => Next::Packet(p),
                        Err(_) => Next::Garbage,
                    };
                }
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => return Next::Closed,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Reads until `f` picks something out of a packet; `None` if the connection ends or
    /// `timeout` passes first.
    pub async fn until<T>(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&ServerPacket) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Packet(p) => {
                    if let Some(t) = f(&p) {
                        return Some(t);
                    }
                }
                Next::Garbage => {}
                Next::Closed | Next::Timeout => return None,
            }
        }
    }

    /// The next `Error` packet's code.
    pub async fn next_error(&mut self, timeout: Duration) -> Option<ErrorCode> {
        self.until(timeout, |p| match p {
            ServerPacket::Error(e) => Some(e.code),
            _ => None,
        })
        .await
    }

    /// Reads everything until the connection closes (or `timeout`): every error code seen,
    /// and whether it closed.
    pub async fn errors_until_closed(&mut self, timeout: Duration) -> (Vec<ErrorCode>, bool) {
        let deadline = Instant::now() + timeout;
        let mut codes = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Next::Packet(ServerPacket::Error(e)) => codes.push(e.code),
                Next::Packet(_) | Next::Garbage => {}
                Next::Closed => return (codes, true),
                Next::Timeout => return (codes, false),
            }
        }
    }

    /// Splits off the underlying stream (for tests that read and write concurrently).
    pub fn into_inner(self) -> Ws {
        self.ws
    }
}

/// Sends a packet on a raw stream.
pub async fn send_on(ws: &mut Ws, packet: ClientPacket) -> bool {
    send(ws, packet).await.is_ok()
}
