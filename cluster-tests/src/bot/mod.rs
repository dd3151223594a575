//! A bot: a real client of the cluster. It gets a character, joins through the manager
//! (`POST /v1/join` with a JWT), speaks the binary protocol over WebSocket, walks between
//! waypoints (inside its area, or back and forth across a border: [`Route`]), fights NPCs
//! and picks items up, follows `Transfer` (resending every input the old zone did not
//! acknowledge, by sequence number), and rejoins through the manager when its connection is
//! lost, as `docs/PROTOCOL.md` §12 asks of every client: a connection that brought no frame
//! for 2 s is lost (a stalled zone keeps its TCP connections open), no more than 1 s of
//! inputs is ever unacknowledged (a zone resumed from a stall is not flooded), and joins
//! are retried after 250 ms doubling to 2 s, each wait jittered. What it saw is counted in [`BotStats`]; what it does can be changed
//! while it plays through its [`Controls`] (the fault tests make bots gather, juggle items
//! or stand still).
//!
//! | module | what |
//! | --- | --- |
//! | `mod.rs` | joining, the connection loop, reading what the zone sends |
//! | [`stats`] | what a bot saw, and its controls |
//! | `play` | its view of the zone and its choice of packets each step |

mod play;
pub mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use protocol::client::packets::Hello;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::http::character::{Character, CreateCharacter};
use protocol::http::manager::{JoinRequest, JoinResponse};
use protocol::{AccountId, CharacterId, Ticket};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use self::play::PlayState;
pub use self::stats::{BotStats, Controls, items_in};

/// A connection that brought no frame for this long is lost (the zone stalled or is cut
/// off; its TCP connection may stay open): 40 ticks at 20 Hz.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(2);
/// The first wait before joining again after a failed join or a lost connection...
pub const REJOIN_FIRST: Duration = Duration::from_millis(250);
/// ...doubling up to this (each wait is jittered down to half of it).
pub const REJOIN_LAST: Duration = Duration::from_secs(2);
/// Inputs a bot lets go unacknowledged at most (1 s at 20 steps a second): past it, it
/// sends nothing until the zone acknowledges some.
pub const UNACKED_MOST: usize = 20;

/// The wait before the next try and the one after it: `delay` jittered down to half of it
/// (so clients cut off together do not come back together), and the next delay (doubled,
/// at most [`REJOIN_LAST`]).
fn backoff(delay: Duration) -> (Duration, Duration) {
    let jittered = delay.mul_f64(rand::random_range(0.5..=1.0));
    (jittered, (delay * 2).min(REJOIN_LAST))
}

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

/// Where a bot walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// Between random waypoints inside the area it is in.
    #[default]
    Roam,
    /// Back and forth across the border between the first two areas of the first row
    /// (x = one area edge), so it is handed between zones again and again.
    BorderRunner,
    /// Between random waypoints within 40 m of its area's nearer west or east edge, on its
    /// own side: always in view of the area across it (a crowd of ghosts there).
    BorderBand,
    /// Into the second area of the first row and about inside it, from wherever it is (a
    /// flash crowd converging on one area): held at its border while it is full, the bot
    /// keeps walking into it.
    Converge,
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

/// One `POST /v1/join`: the zone to connect to and a ticket, or why not.
pub async fn join_once(
    http: &reqwest::Client,
    manager_url: &str,
    token: &str,
    character: CharacterId,
) -> Result<JoinResponse, String> {
    let response = http
        .post(format!("{manager_url}/v1/join"))
        .bearer_auth(token)
        .json(&JoinRequest {
            character_id: character,
        })
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "{status}: {}",
            response.text().await.unwrap_or_default()
        ));
    }
    response.json().await.map_err(|e| e.to_string())
}

/// A fresh account, its character named `name` (character-api, service token), and the
/// account's join token.
pub async fn create_character(
    http: &reqwest::Client,
    config: &BotConfig,
    name: &str,
) -> anyhow::Result<(Character, String)> {
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
    Ok((character, token))
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
    /// What it does (walk and fight, unless changed).
    pub controls: Arc<Controls>,
    route: Route,
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
        let (character, token) = create_character(&http, &config, name).await?;
        Ok(Self {
            config,
            http,
            character,
            token,
            stats: Arc::default(),
            controls: Arc::new(Controls::fighting()),
            route: Route::Roam,
        })
    }

    /// Makes the bot walk `route`.
    pub fn with_route(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// Joins through the manager, retrying with backoff (250 ms doubling to 2 s, jittered)
    /// until it works or `stop` is set.
    pub async fn join(&self, stop: &mut watch::Receiver<bool>) -> Option<JoinResponse> {
        let mut delay = REJOIN_FIRST;
        loop {
            if *stop.borrow() {
                return None;
            }
            let attempt = join_once(
                &self.http,
                &self.config.manager_url,
                &self.token,
                self.character.id,
            )
            .await;
            if let Ok(join) = attempt {
                self.stats.joins.fetch_add(1, Ordering::Relaxed);
                return Some(join);
            }
            self.stats.join_failures.fetch_add(1, Ordering::Relaxed);
            let (wait, next) = backoff(delay);
            if !pause(wait, stop).await {
                return None;
            }
            delay = next;
        }
    }

    /// Plays until `stop` is set: join, play, follow transfers, rejoin when lost.
    pub async fn play(self, mut stop: watch::Receiver<bool>) {
        let mut state = PlayState::new(self.character.position, self.route);
        let mut next: Option<(String, Ticket)> = None;
        let mut delay = REJOIN_FIRST;
        while !*stop.borrow() {
            let (url, ticket) = match next.take() {
                Some(target) => target,
                None => match self.join(&mut stop).await {
                    Some(join) => (join.zone_url, join.ticket),
                    None => return,
                },
            };
            let ended = self.session(&url, ticket, &mut state, &mut stop).await;
            self.stats.connected.store(false, Ordering::SeqCst);
            match ended {
                Ended::Transfer(url, ticket) => {
                    self.stats.transfers.fetch_add(1, Ordering::Relaxed);
                    next = Some((url, ticket));
                    state.resend = true;
                    delay = REJOIN_FIRST;
                }
                Ended::Lost => {
                    self.stats.lost.fetch_add(1, Ordering::Relaxed);
                    // A fresh join starts from the saved state: old inputs mean nothing there.
                    state.resend = false;
                    state.unacked.clear();
                    let (wait, next) = backoff(delay);
                    if !pause(wait, &mut stop).await {
                        return;
                    }
                    delay = next;
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
        self.stats.connecting(url);
        // A stalled zone's kernel still accepts the TCP connection: the upgrade is held to
        // the silence limit too.
        let Ok(Ok((mut ws, _))) =
            tokio::time::timeout(SILENCE_LIMIT, tokio_tungstenite::connect_async(url)).await
        else {
            return Ended::Lost;
        };
        let hello = Hello {
            ticket,
            protocol_version: PROTOCOL_VERSION,
        };
        if send(&mut ws, hello.into()).await.is_err() {
            return Ended::Lost;
        }
        state.new_connection();
        let mut step = tokio::time::interval(Duration::from_millis(50));
        // A late step is skipped, not made up in a burst: a client sends at its frame rate.
        step.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The bot sends an input every step and the zone acknowledges inputs every tick:
        // silence means the zone is gone, whether or not the TCP connection is.
        let mut heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    self.finish(&mut ws, state).await;
                    return Ended::Stopped;
                }
                _ = tokio::time::sleep_until(heard + SILENCE_LIMIT) => {
                    self.stats.silent.fetch_add(1, Ordering::Relaxed);
                    return Ended::Lost;
                }
                _ = step.tick() => {
                    // Nothing new before the zone's first ack: resent inputs go first. No
                    // more than a second's inputs unacknowledged: a zone that stalls gets no
                    // backlog to choke on (and refuse) when it resumes.
                    if state.me.is_some() && !state.fresh && state.unacked.len() < UNACKED_MOST {
                        let packets = state.next_packets(self.controls.activity());
                        if self.send_all(&mut ws, packets).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                }
                message = ws.next() => {
                    heard = tokio::time::Instant::now();
                    let frame = match message {
                        Some(Ok(Message::Binary(frame))) => frame,
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_) | Message::Frame(_))) => continue,
                        _ => return Ended::Lost,
                    };
                    let Ok(packet) = ServerPacket::decode(&frame) else { return Ended::Lost };
                    let admitted = matches!(packet, ServerPacket::InputAck(_)) && state.fresh;
                    if let Some(end) = self.absorb(packet, state) {
                        return end;
                    }
                    if admitted {
                        // The zone's first ack says what it applied: after a transfer, send
                        // the rest again; either way, play on at once.
                        state.fresh = false;
                        let mut packets: Vec<ClientPacket> = Vec::new();
                        if std::mem::take(&mut state.resend) {
                            packets.extend(state.unacked.iter().map(|i| ClientPacket::from(*i)));
                            self.stats.resent.fetch_add(packets.len() as u64, Ordering::Relaxed);
                        }
                        if packets.is_empty() {
                            packets = state.next_packets(self.controls.activity());
                        }
                        if self.send_all(&mut ws, packets).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                }
            }
        }
    }

    /// Sends packets in order, counting them.
    async fn send_all(&self, ws: &mut Ws, packets: Vec<ClientPacket>) -> Result<(), ()> {
        for packet in packets {
            let counter = match &packet {
                ClientPacket::Input(_) => Some(&self.stats.inputs_sent),
                ClientPacket::Pickup(_) => Some(&self.stats.pickups_sent),
                ClientPacket::DropItem(_) => Some(&self.stats.drops_sent),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            send(ws, packet).await?;
        }
        Ok(())
    }

    /// Stops gracefully: waits (briefly) until every input sent is acknowledged, so none is
    /// in flight when the connection closes, then closes.
    async fn finish(&self, ws: &mut Ws, state: &mut PlayState) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !state.unacked.is_empty() {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(Message::Binary(frame)))) => {
                    if let Ok(packet) = ServerPacket::decode(&frame) {
                        let _ = self.absorb(packet, state);
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        let _ = ws.close(None).await;
    }

    fn absorb(&self, packet: ServerPacket, state: &mut PlayState) -> Option<Ended> {
        match packet {
            ServerPacket::Welcome(w) => {
                self.stats.welcomed();
                self.stats.welcomes.fetch_add(1, Ordering::SeqCst);
                self.stats.connected.store(true, Ordering::SeqCst);
                state.me = Some(w.player);
                state.awaiting_welcome_inventory = true;
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
                    .fetch_max(u64::from(a.seq), Ordering::SeqCst);
            }
            ServerPacket::Inventory(i) => {
                let (before, after) = (state.inventory.as_ref().map_or(0, items_in), items_in(&i));
                if after > before && !state.awaiting_welcome_inventory {
                    self.stats
                        .pickups
                        .fetch_add(after - before, Ordering::Relaxed);
                }
                let first = std::mem::take(&mut state.awaiting_welcome_inventory);
                self.stats.saw_inventory(i.clone(), first);
                state.inventory = Some(i);
            }
            ServerPacket::Death(d) if Some(d.killer) == state.me => {
                self.stats.kills.fetch_add(1, Ordering::Relaxed);
            }
            ServerPacket::Transfer(t) => return Some(Ended::Transfer(t.ws_url, t.ticket)),
            ServerPacket::Error(e) => self.stats.saw_error(e),
            _ => {}
        }
        if let Some(at) = state.position() {
            self.stats.saw_position(at);
        }
        None
    }
}

/// Sleeps `delay`, or less if `stop` is set meanwhile; false when stopped.
async fn pause(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

async fn send(ws: &mut Ws, packet: ClientPacket) -> Result<(), ()> {
    let frame = packet.encode().map_err(|_| ())?;
    ws.send(Message::Binary(frame.into())).await.map_err(|_| ())
}
