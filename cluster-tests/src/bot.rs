//! A bot: a real client of the cluster. It gets a character, joins through the manager
//! (`POST /v1/join` with a JWT), speaks the binary protocol over WebSocket, walks between
//! waypoints, fights NPCs and picks items up, follows `Transfer`, and rejoins with backoff
//! (1 s doubling to 30 s) when its connection is lost. What it saw is counted in
//! [`BotStats`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use protocol::client::entity::{EntityKind, EntityState, dequantize_position};
use protocol::client::packets::*;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::http::character::{Character, CreateCharacter};
use protocol::http::manager::{JoinRequest, JoinResponse};
use protocol::{AccountId, EntityId, Position, Ticket};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Where a bot plays and with which credentials.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// The manager's base URL.
    pub manager_url: String,
    /// character-api's base URL (to create the bot's character: bots are their own
    /// account service).
    pub character_api_url: String,
    /// Service token for character-api.
    pub service_token: String,
    /// HS256 secret the manager checks join tokens with.
    pub jwt_secret: String,
}

/// What a bot saw, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct BotStats {
    /// `Welcome`s received (one per zone entered).
    pub welcomes: AtomicU64,
    /// `Transfer`s followed.
    pub transfers: AtomicU64,
    /// Inputs sent.
    pub inputs_sent: AtomicU64,
    /// Highest input acknowledged.
    pub inputs_acked: AtomicU64,
    /// `Error` packets received.
    pub errors: AtomicU64,
    /// Joins through the manager that failed (and were retried).
    pub join_failures: AtomicU64,
    /// Kills made.
    pub kills: AtomicU64,
    /// Items picked up (by inventory growth).
    pub pickups: AtomicU64,
}

/// Mints a player join token (HS256, `sub` = account, valid for an hour).
pub fn join_token(secret: &str, account: AccountId) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Claims {
        sub: String,
        exp: u64,
        iat: u64,
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = Claims {
        sub: account.to_string(),
        exp: now + 3600,
        iat: now,
    };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &key,
    )?)
}

/// One bot.
#[derive(Debug)]
pub struct Bot {
    config: BotConfig,
    http: reqwest::Client,
    /// The bot's character as created.
    pub character: Character,
    token: String,
    /// What it saw.
    pub stats: Arc<BotStats>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How one connection ended.
enum Ended {
    /// Told to go elsewhere.
    Transfer(String, Ticket),
    /// Lost; rejoin through the manager.
    Lost,
    /// Told to stop.
    Stopped,
}

impl Bot {
    /// Creates a fresh account and character named `name`.
    pub async fn create(config: BotConfig, name: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let account = AccountId::new_random();
        let response = http
            .post(format!("{}/v1/characters", config.character_api_url))
            .bearer_auth(&config.service_token)
            .json(&CreateCharacter {
                account_id: account,
                name: name.to_owned(),
            })
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "creating {name}: {}",
            response.text().await?
        );
        let character: Character = response.json().await?;
        let token = join_token(&config.jwt_secret, account)?;
        Ok(Self {
            config,
            http,
            character,
            token,
            stats: Arc::default(),
        })
    }

    /// Joins through the manager, retrying with backoff (1 s doubling to 30 s) until it
    /// works or `stop` is set.
    pub async fn join(&self, stop: &watch::Receiver<bool>) -> Option<JoinResponse> {
        let mut delay = Duration::from_secs(1);
        loop {
            if *stop.borrow() {
                return None;
            }
            let attempt = self
                .http
                .post(format!("{}/v1/join", self.config.manager_url))
                .bearer_auth(&self.token)
                .json(&JoinRequest {
                    character_id: self.character.id,
                })
                .send()
                .await;
            match attempt {
                Ok(r) if r.status().is_success() => {
                    if let Ok(join) = r.json::<JoinResponse>().await {
                        return Some(join);
                    }
                }
                _ => {}
            }
            self.stats.join_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// Plays until `stop` is set: join, play, follow transfers, rejoin when lost.
    pub async fn play(self, mut stop: watch::Receiver<bool>) {
        let mut state = PlayState::new(self.character.position);
        let mut next: Option<(String, Ticket)> = None;
        let mut delay = Duration::from_secs(1);
        while !*stop.borrow() {
            let (url, ticket) = match next.take() {
                Some(target) => target,
                None => match self.join(&stop).await {
                    Some(join) => (join.zone_url, join.ticket),
                    None => return,
                },
            };
            match self.session(&url, ticket, &mut state, &mut stop).await {
                Ended::Transfer(url, ticket) => {
                    self.stats.transfers.fetch_add(1, Ordering::Relaxed);
                    next = Some((url, ticket));
                    delay = Duration::from_secs(1);
                }
                Ended::Lost => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Ended::Stopped => return,
            }
        }
    }

    async fn session(
        &self,
        url: &str,
        ticket: Ticket,
        state: &mut PlayState,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url),
        )
        .await
        else {
            return Ended::Lost;
        };
        if send(
            &mut ws,
            Hello {
                ticket,
                protocol_version: PROTOCOL_VERSION,
            }
            .into(),
        )
        .await
        .is_err()
        {
            return Ended::Lost;
        }
        state.entities.clear();
        state.me = None;
        let mut step = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    return Ended::Stopped;
                }
                _ = step.tick() => {
                    if state.me.is_some() {
                        for packet in state.next_moves() {
                            if matches!(packet, ClientPacket::Input(_)) {
                                self.stats.inputs_sent.fetch_add(1, Ordering::Relaxed);
                            }
                            if send(&mut ws, packet).await.is_err() {
                                return Ended::Lost;
                            }
                        }
                    }
                }
                message = ws.next() => {
                    let frame = match message {
                        Some(Ok(Message::Binary(frame))) => frame,
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_) | Message::Frame(_))) => continue,
                        _ => return Ended::Lost,
                    };
                    let Ok(packet) = ServerPacket::decode(&frame) else { return Ended::Lost };
                    if let Some(end) = self.absorb(packet, state) {
                        return end;
                    }
                }
            }
        }
    }

    fn absorb(&self, packet: ServerPacket, state: &mut PlayState) -> Option<Ended> {
        match packet {
            ServerPacket::Welcome(w) => {
                self.stats.welcomes.fetch_add(1, Ordering::Relaxed);
                state.me = Some(w.player);
            }
            ServerPacket::Snapshot(s) => {
                state.entities = s.entities.into_iter().map(|e| (e.id, e)).collect();
            }
            ServerPacket::Delta(d) => {
                state
                    .entities
                    .extend(d.added.into_iter().map(|e| (e.id, e)));
                for u in d.updated {
                    if let Some(e) = state.entities.get_mut(&u.id) {
                        u.apply(e);
                    }
                }
                for id in d.removed {
                    state.entities.remove(&id);
                }
            }
            ServerPacket::InputAck(a) => {
                state.unacked.retain(|i| i.seq > a.seq);
                self.stats
                    .inputs_acked
                    .fetch_max(u64::from(a.seq), Ordering::Relaxed);
            }
            ServerPacket::Inventory(i) => {
                let items: u64 = i.slots.iter().flatten().map(|s| u64::from(s.count)).sum();
                if items > state.items {
                    self.stats
                        .pickups
                        .fetch_add(items - state.items, Ordering::Relaxed);
                }
                state.items = items;
            }
            ServerPacket::Death(d) if Some(d.killer) == state.me => {
                self.stats.kills.fetch_add(1, Ordering::Relaxed);
            }
            ServerPacket::Transfer(t) => return Some(Ended::Transfer(t.ws_url, t.ticket)),
            ServerPacket::Error(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        None
    }
}

async fn send(ws: &mut Ws, packet: ClientPacket) -> Result<(), ()> {
    let frame = packet.encode().map_err(|_| ())?;
    ws.send(Message::Binary(frame.into())).await.map_err(|_| ())
}

/// What a bot knows and wants.
struct PlayState {
    me: Option<EntityId>,
    entities: HashMap<EntityId, EntityState>,
    seq: u32,
    unacked: VecDeque<Input>,
    waypoint: Position,
    rng: u64,
    last_action: Instant,
    items: u64,
}

impl PlayState {
    fn new(start: Position) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
            | 1;
        Self {
            me: None,
            entities: HashMap::new(),
            seq: 0,
            unacked: VecDeque::new(),
            waypoint: start,
            rng: seed,
            last_action: Instant::now(),
            items: 0,
        }
    }

    fn unit(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 24) as f32
    }

    fn position(&self) -> Option<Position> {
        self.me
            .and_then(|id| self.entities.get(&id))
            .map(|e| dequantize_position(e.pos))
    }

    /// This step's packets: an action now and then (attack or pick up what is near), and
    /// one movement input towards the current waypoint.
    fn next_moves(&mut self) -> Vec<ClientPacket> {
        let Some(at) = self.position() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.last_action.elapsed() >= Duration::from_millis(700) {
            let nearest = |kind: EntityKind, range: f32| {
                self.entities
                    .values()
                    .filter(|e| e.kind == kind && e.anim != protocol::client::AnimState::Dead)
                    .map(|e| (dequantize_position(e.pos).planar_distance(&at), e.id))
                    .filter(|(d, _)| *d <= range)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, id)| id)
            };
            if let Some(target) = nearest(EntityKind::Npc, 2.8) {
                out.push(Attack { target }.into());
                self.last_action = Instant::now();
            } else if let Some(item) = nearest(EntityKind::Item, 2.3) {
                out.push(Pickup { item }.into());
                self.last_action = Instant::now();
            }
        }
        if at.planar_distance(&self.waypoint) < 1.5 {
            // Somewhere new inside the area the bot is in.
            let (ax, az) = (
                (at.x / 128.0).floor() * 128.0,
                (at.z / 128.0).floor() * 128.0,
            );
            self.waypoint = Position::new(
                ax + 10.0 + self.unit() * 108.0,
                0.0,
                az + 10.0 + self.unit() * 108.0,
            );
        }
        let (dx, dz) = (self.waypoint.x - at.x, self.waypoint.z - at.z);
        let len = dx.hypot(dz).max(1e-3);
        self.seq += 1;
        let input = Input {
            seq: self.seq,
            move_x: (dx / len * 127.0) as i8,
            move_z: (dz / len * 127.0) as i8,
            running: false,
            yaw: protocol::client::entity::quantize_yaw(dx.atan2(dz)),
        };
        self.unacked.push_back(input);
        if self.unacked.len() > 256 {
            self.unacked.pop_front();
        }
        out.push(input.into());
        out
    }
}
