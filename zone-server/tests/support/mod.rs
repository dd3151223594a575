//! A zone-server under test: a real nats-server (auth on), real character-api and quest-api
//! child processes, the zone-server's own `run` in this process on a free port (as
//! `zone-1`), a NATS client with the manager's credentials that plays the manager with
//! `protocol`'s messages (and answers the zone's area-owner questions from what it
//! allocated), a second zone's client (`zone-2`) for what only zones send, and WebSocket
//! clients.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use protocol::client::packets::Hello;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::cluster::{self, *};
use protocol::http::character::{Character, CreateCharacter};
use protocol::{AccountId, AreaId, Epoch, Ticket, ZoneId};
use test_support::{NatsServer, Service, wait_for};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use zone_server::config::Config;
use zone_server::zone::{ZoneMsg, ZoneReport};

pub const TOKEN: &str = "zone-test-token";

pub struct TestZone {
    pub nats_server: NatsServer,
    pub characters: Service,
    pub quests: Service,
    /// The manager's connection, and its subjects.
    pub nats: async_nats::Client,
    pub subjects: Subjects,
    /// Another zone-server's connection (`zone-2`), and its subjects.
    pub neighbour: async_nats::Client,
    pub neighbour_subjects: Subjects,
    /// The zone-server's own NATS identity.
    pub identity: Identity,
    /// Who owns which area, as this stand-in manager allocated them.
    pub owners: Arc<Mutex<HashMap<AreaId, AreaOwner>>>,
    /// Whether the stand-in manager answers area-owner questions (off: as if it were down).
    pub answering: Arc<std::sync::atomic::AtomicBool>,
    owner_answers: tokio::task::JoinHandle<()>,
    pub handle: zone_server::Handle,
    pub ws_url: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestZone {
    pub async fn start() -> Self {
        let nats_server = NatsServer::start().expect("nats-server");
        let characters = Service::character_api(TOKEN).expect("character-api");
        let quests = Service::quest_api(TOKEN).expect("quest-api");
        let config = Config::new(
            nats_server.args("zone-1"),
            &characters.url(),
            &quests.url(),
            TOKEN,
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (stop, stopped) = oneshot::channel::<()>();
        let (up, handle) = oneshot::channel();
        let task = tokio::spawn(zone_server::run(
            listener,
            config,
            async move {
                let _ = stopped.await;
            },
            move |h| {
                let _ = up.send(h);
            },
        ));
        let handle = tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .expect("zone up in time")
            .expect("zone up");
        let manager = service_kit::nats::connect(&nats_server.args("manager"), "test manager")
            .await
            .expect("nats client");
        let neighbour = service_kit::nats::connect(&nats_server.args("zone-2"), "test zone")
            .await
            .expect("nats client");
        let subjects = Subjects::default().speaking_as(manager.identity);
        let owners = Arc::new(Mutex::new(HashMap::new()));
        let answering = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let owner_answers = answer_owner_queries(
            &manager.client,
            &subjects,
            owners.clone(),
            answering.clone(),
        )
        .await;
        let ws_url = handle.shared.ws_url.clone();
        let zone = Self {
            nats_server,
            characters,
            quests,
            nats: manager.client,
            subjects,
            neighbour: neighbour.client,
            neighbour_subjects: Subjects::default().speaking_as(neighbour.identity),
            identity: handle.shared.subjects.me().clone(),
            owners,
            answering,
            owner_answers,
            handle,
            ws_url,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        };
        // The quest catalog loads in the background: wait for it.
        let shared = zone.handle.shared.clone();
        wait_for("the quest catalog", Duration::from_secs(10), async || {
            !shared.catalog().is_empty()
        })
        .await;
        zone
    }

    pub fn zone(&self, i: usize) -> ZoneId {
        self.handle.zones[i]
    }

    /// A request to one of the zone-server's zones: from the manager, or for a whole
    /// area's state (which only zones send) from the neighbouring zone-server.
    pub async fn request<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        zone: ZoneId,
        verb: ZoneVerb,
        body: &T,
    ) -> Reply<R> {
        let (client, subjects) = match verb {
            ZoneVerb::AreaState => (&self.neighbour, &self.neighbour_subjects),
            _ => (&self.nats, &self.subjects),
        };
        let reply = client
            .request(
                subjects.zone(&self.identity, zone, verb),
                cluster::encode(body).into(),
            )
            .await
            .expect("a reply");
        cluster::decode::<Reply<R>>(&reply.payload).expect("a well-formed reply")
    }

    pub async fn allocate(&self, zone: ZoneId, area: AreaId, epoch: u64) -> Reply<Allocated> {
        self.allocate_with(zone, area, epoch, None).await
    }

    /// Allocates as for a drain: the area's world comes from `from` (a zone of this
    /// process).
    pub async fn allocate_from(
        &self,
        zone: ZoneId,
        area: AreaId,
        epoch: u64,
        from: ZoneId,
    ) -> Reply<Allocated> {
        let handover = Handover {
            zone: from,
            identity: self.identity.to_string(),
        };
        self.allocate_with(zone, area, epoch, Some(handover)).await
    }

    async fn allocate_with(
        &self,
        zone: ZoneId,
        area: AreaId,
        epoch: u64,
        handover_from: Option<Handover>,
    ) -> Reply<Allocated> {
        let body = Allocate {
            zone,
            area,
            epoch: Epoch(epoch),
            handover_from,
        };
        let reply: Reply<Allocated> = self.request(zone, ZoneVerb::Allocate, &body).await;
        if let Ok(a) = &reply {
            self.owners.lock().unwrap().insert(
                area,
                AreaOwner {
                    area,
                    zone,
                    epoch: a.epoch,
                    ws_url: a.ws_url.clone(),
                    identity: self.identity.to_string(),
                },
            );
        }
        reply
    }

    /// Publishes the owner map, as the manager does every heartbeat interval.
    pub async fn publish_owner_map(&self) {
        let map = OwnerMap {
            owners: self.owners.lock().unwrap().values().cloned().collect(),
        };
        self.nats
            .publish(self.subjects.owners(), cluster::encode(&map).into())
            .await
            .expect("published");
        self.nats.flush().await.expect("flushed");
    }

    pub async fn create_character(&self, name: &str) -> Character {
        let body = CreateCharacter {
            account_id: AccountId::new_random(),
            name: name.into(),
        };
        let response = self
            .http
            .post(format!("{}/v1/characters", self.characters.url()))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("character-api answers");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.expect("a character")
    }

    pub async fn character(&self, c: &Character) -> Character {
        self.http
            .get(format!("{}/v1/characters/{}", self.characters.url(), c.id))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("character-api answers")
            .json()
            .await
            .expect("a character")
    }

    pub async fn expect(
        &self,
        zone: ZoneId,
        area: AreaId,
        epoch: u64,
        c: &Character,
        ticket: Ticket,
        ttl_ms: u64,
    ) -> Reply<ExpectReady> {
        let body = Expect {
            zone,
            area,
            epoch: Epoch(epoch),
            account: c.account_id,
            character: c.id,
            ticket,
            expires_at: service_kit::time::now_millis() + ttl_ms,
        };
        self.request(zone, ZoneVerb::Expect, &body).await
    }

    /// Allocates zone 0 to area 0-0, expects `c`, and connects it: the client after the
    /// opening packets.
    pub async fn join(&self, c: &Character, epoch: u64) -> Client {
        let ticket = Ticket::new_random();
        self.expect(self.zone(0), AreaId::new(0, 0), epoch, c, ticket, 30_000)
            .await
            .expect("expect answered ready");
        Client::hello(&self.ws_url, ticket).await
    }

    pub async fn inspect(&self, zone: ZoneId) -> ZoneReport {
        let actor = self.handle.shared.zone(zone).expect("zone actor");
        match actor
            .call(ZoneMsg::Inspect, Some(Duration::from_secs(5)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(report)) => report,
            other => panic!("inspect failed: {other:?}"),
        }
    }

    pub async fn stop(mut self) {
        self.owner_answers.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }
}

/// Answers the zone's "who owns this area" questions, as the manager would, from `owners`.
async fn answer_owner_queries(
    client: &async_nats::Client,
    subjects: &Subjects,
    owners: Arc<Mutex<HashMap<AreaId, AreaOwner>>>,
    answering: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let mut queries = client
        .subscribe(subjects.manager_all(ManagerVerb::AreaOwner))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    let client = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = queries.next().await {
            if !answering.load(std::sync::atomic::Ordering::Acquire) {
                continue;
            }
            let Ok(q) = cluster::decode::<AreaOwnerQuery>(&msg.payload) else {
                continue;
            };
            let owner = owners.lock().unwrap().get(&q.area).cloned();
            let answer: Reply<AreaOwner> =
                owner.ok_or_else(|| ErrorReply::new(ErrorKind::NotFound, "no owner"));
            if let Some(reply) = msg.reply {
                let _ = client.publish(reply, cluster::encode(&answer).into()).await;
            }
        }
    })
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Self { ws }
    }

    /// Connects to `url` and says `Hello` with `ticket`.
    pub async fn hello(url: &str, ticket: Ticket) -> Self {
        let mut client = Self::connect(url).await;
        client
            .send(
                Hello {
                    ticket,
                    protocol_version: PROTOCOL_VERSION,
                }
                .into(),
            )
            .await;
        client
    }

    pub async fn send(&mut self, packet: ClientPacket) {
        self.send_raw(packet.encode().expect("encodes")).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next packet, or `None` when the connection closed or nothing came within 5 s.
    pub async fn next(&mut self) -> Option<ServerPacket> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Binary(b) => {
                    return Some(ServerPacket::decode(&b).expect("the zone sends valid packets"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads until `pick` matches, failing after 10 s.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(&ServerPacket) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "the expected packet did not come"
            );
            let packet = self.next().await.expect("connection open");
            if let Some(t) = pick(&packet) {
                return t;
            }
        }
    }

    /// Reads until the connection closes; returns the last `Error` seen.
    pub async fn error_then_close(&mut self) -> Option<protocol::client::packets::Error> {
        let mut last = None;
        while let Some(packet) = self.next().await {
            if let ServerPacket::Error(e) = packet {
                last = Some(e);
            }
        }
        last
    }
}
