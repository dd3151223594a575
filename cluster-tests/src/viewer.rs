//! A player who watches closely: a character placed where a test wants it (written to
//! character-api before the join, as an operator would), joined through the manager, its
//! client table kept by the delta rules of `docs/PROTOCOL.md` §6 and every `Transfer`
//! followed. It records what tests of the view need: each entity's positions as they
//! arrived (with the local time), chat, hits and deaths, and what each transfer changed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use protocol::client::entity::{EntityKind, EntityState, dequantize_position};
use protocol::client::packets::{self as pk, Hello};
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::http::character::{Character, CharacterUpdate};
use protocol::{AreaId, EntityId, Position, Ticket};
use tokio_tungstenite::tungstenite::Message;

use crate::bot::{BotConfig, create_character, join_once};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What one `Transfer` changed in the client's view.
#[derive(Debug, Clone, Default)]
pub struct TransferReport {
    /// Whether the new zone named the player by the id it had.
    pub kept_own_id: bool,
    /// Entities seen before and after (in the old table and the new zone's first snapshot).
    pub kept: usize,
    /// Players (names are unique) seen before and after under another id: `(name,
    /// before, after)`. Must stay empty.
    pub renamed: Vec<(String, EntityId, EntityId)>,
}

/// A position of an entity as the client received it.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    /// The quantized position.
    pub pos: [i32; 3],
    /// When the frame arrived.
    pub at: Instant,
}

/// The watching player.
pub struct Viewer {
    /// The character as placed.
    pub character: Character,
    /// The player's own entity.
    pub me: EntityId,
    /// The area of the zone connected to.
    pub area: AreaId,
    /// The client table.
    pub table: HashMap<EntityId, EntityState>,
    /// Every position each entity was sent at, in arrival order.
    pub sightings: HashMap<EntityId, Vec<Sighting>>,
    /// Chat lines received.
    pub chat: Vec<pk::ChatMessage>,
    /// Damage frames received.
    pub damage: Vec<pk::Damage>,
    /// Death frames received.
    pub deaths: Vec<pk::Death>,
    /// Error frames received.
    pub errors: Vec<pk::Error>,
    /// The last `Stats`.
    pub stats: Option<pk::Stats>,
    /// The last `Inventory`.
    pub inventory: Option<pk::Inventory>,
    /// One report per transfer followed.
    pub transfers: Vec<TransferReport>,
    /// Every clock rate the zones announced (`TimeRate`, per mille), with when it came.
    pub time_rates: Vec<(u16, Instant)>,
    ws: Ws,
    tick: Option<u32>,
    seq: u32,
    before_transfer: Option<(EntityId, HashMap<EntityId, EntityState>)>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("name", &self.character.name)
            .field("me", &self.me)
            .field("area", &self.area)
            .field("seen", &self.table.len())
            .finish()
    }
}

/// Writes `character` at `area`/`position` to character-api (compare-and-set on its
/// version), as an operator placing a character would.
pub async fn place_character(
    http: &reqwest::Client,
    config: &BotConfig,
    character: &Character,
    area: AreaId,
    position: Position,
) -> anyhow::Result<Character> {
    let mut update = CharacterUpdate::from(character.clone());
    update.area = area;
    update.position = position;
    let response = http
        .put(format!(
            "{}/v1/characters/{}",
            config.character_api_url, character.id
        ))
        .bearer_auth(&config.service_token)
        .header("If-Match", format!("\"{}\"", character.version))
        .json(&update)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "placing {}: {}",
        character.name,
        response.text().await?
    );
    Ok(response.json().await?)
}

impl Viewer {
    /// A new character named `name`, placed at `position` in `area` (carrying
    /// `inventory` if given), joined and connected; returns once the zone's first
    /// snapshot arrived.
    pub async fn place(
        config: &BotConfig,
        name: &str,
        area: AreaId,
        position: Position,
        inventory: Option<protocol::http::character::Inventory>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let (mut character, token) = create_character(&http, config, name).await?;
        if let Some(inventory) = inventory {
            character.inventory = inventory;
        }
        let character = place_character(&http, config, &character, area, position).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let join = loop {
            match join_once(&http, &config.manager_url, &token, character.id).await {
                Ok(join) => break join,
                Err(e) if Instant::now() > deadline => anyhow::bail!("joining {name}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        };
        let ws = connect(&join.zone_url, join.ticket).await?;
        let mut viewer = Self {
            character,
            me: EntityId::default(),
            area,
            table: HashMap::new(),
            sightings: HashMap::new(),
            chat: Vec::new(),
            damage: Vec::new(),
            deaths: Vec::new(),
            errors: Vec::new(),
            stats: None,
            inventory: None,
            transfers: Vec::new(),
            time_rates: Vec::new(),
            ws,
            tick: None,
            seq: 0,
            before_transfer: None,
        };
        let ready = viewer
            .pump_until(Duration::from_secs(10), |v| v.tick.is_some())
            .await?;
        anyhow::ensure!(ready, "{name} got no snapshot");
        Ok(viewer)
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: ClientPacket) -> anyhow::Result<()> {
        let frame = packet.encode()?;
        self.ws.send(Message::Binary(frame.into())).await?;
        Ok(())
    }

    /// Sends one movement input (numbered after the last).
    pub async fn walk(&mut self, move_x: i8, move_z: i8) -> anyhow::Result<()> {
        self.seq += 1;
        let input = pk::Input {
            seq: self.seq,
            move_x,
            move_z,
            running: false,
            yaw: 0,
        };
        self.send(input.into()).await
    }

    /// Reads frames for `duration`.
    pub async fn pump(&mut self, duration: Duration) -> anyhow::Result<()> {
        self.pump_until(duration, |_| false).await.map(|_| ())
    }

    /// Reads frames until `done` holds (true) or `timeout` passes (false).
    pub async fn pump_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> anyhow::Result<bool> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(true);
            }
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(false),
                Ok(Some(Ok(Message::Binary(frame)))) => frame,
                Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => {
                    anyhow::bail!("{}: the connection closed", self.character.name)
                }
                Ok(Some(Ok(_))) => continue,
            };
            let packet = ServerPacket::decode(&frame).context("a frame that is not a packet")?;
            self.absorb(packet).await?;
        }
    }

    async fn absorb(&mut self, packet: ServerPacket) -> anyhow::Result<()> {
        let now = Instant::now();
        match packet {
            ServerPacket::Welcome(w) => {
                if let Some((old_me, _)) = &self.before_transfer {
                    let kept = *old_me == w.player;
                    self.transfers.push(TransferReport {
                        kept_own_id: kept,
                        ..TransferReport::default()
                    });
                }
                self.me = w.player;
                self.area = w.area;
            }
            ServerPacket::Snapshot(s) => {
                self.table = s.entities.into_iter().map(|e| (e.id, e)).collect();
                self.tick = Some(s.tick);
                if let Some((_, before)) = self.before_transfer.take()
                    && let Some(report) = self.transfers.last_mut()
                {
                    compare_views(&before, &self.table, report);
                }
                let seen: Vec<_> = self.table.values().map(|e| (e.id, e.pos)).collect();
                for (id, pos) in seen {
                    self.sighted(id, pos, now);
                }
            }
            ServerPacket::Delta(d) => {
                anyhow::ensure!(
                    self.tick == Some(d.baseline),
                    "a delta on baseline {} at tick {:?}",
                    d.baseline,
                    self.tick
                );
                for e in d.added {
                    self.sighted(e.id, e.pos, now);
                    self.table.insert(e.id, e);
                }
                for u in d.updated {
                    let entity = self
                        .table
                        .get_mut(&u.id)
                        .context("a delta updates an entity never sent")?;
                    u.apply(entity);
                    let pos = entity.pos;
                    self.sighted(u.id, pos, now);
                }
                for id in d.removed {
                    self.table.remove(&id);
                }
                self.tick = Some(d.tick);
            }
            ServerPacket::Transfer(t) => {
                self.before_transfer = Some((self.me, std::mem::take(&mut self.table)));
                self.tick = None;
                self.ws = connect(&t.ws_url, t.ticket).await?;
            }
            ServerPacket::Chat(c) => self.chat.push(c),
            ServerPacket::Damage(d) => self.damage.push(d),
            ServerPacket::Death(d) => self.deaths.push(d),
            ServerPacket::Error(e) => self.errors.push(e),
            ServerPacket::Stats(s) => self.stats = Some(s),
            ServerPacket::Inventory(i) => self.inventory = Some(i),
            ServerPacket::TimeRate(r) => self.time_rates.push((r.permille, now)),
            _ => {}
        }
        Ok(())
    }

    fn sighted(&mut self, id: EntityId, pos: [i32; 3], at: Instant) {
        let list = self.sightings.entry(id).or_default();
        if list.last().is_none_or(|s| s.pos != pos) {
            list.push(Sighting { pos, at });
        }
    }

    /// Where the client last saw `id`.
    pub fn position_of(&self, id: EntityId) -> Option<Position> {
        self.table.get(&id).map(|e| dequantize_position(e.pos))
    }

    /// Where the client last saw itself.
    pub fn position(&self) -> Option<Position> {
        self.position_of(self.me)
    }

    /// Entities of `kind` in view.
    pub fn in_view(&self, kind: EntityKind) -> impl Iterator<Item = &EntityState> {
        self.table.values().filter(move |e| e.kind == kind)
    }

    /// The id of the player named `name` in view.
    pub fn player_named(&self, name: &str) -> Option<EntityId> {
        self.in_view(EntityKind::Player)
            .find(|e| e.name.as_deref() == Some(name))
            .map(|e| e.id)
    }
}

fn compare_views(
    before: &HashMap<EntityId, EntityState>,
    after: &HashMap<EntityId, EntityState>,
    report: &mut TransferReport,
) {
    report.kept = before.keys().filter(|id| after.contains_key(id)).count();
    // Player names are unique (character-api enforces it); NPCs share theirs.
    for old in before.values().filter(|e| e.kind == EntityKind::Player) {
        let Some(name) = &old.name else { continue };
        if let Some(new) = after
            .values()
            .find(|e| e.kind == EntityKind::Player && e.name.as_ref() == Some(name))
            && new.id != old.id
        {
            report.renamed.push((name.clone(), old.id, new.id));
        }
    }
}

async fn connect(url: &str, ticket: Ticket) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .context("connecting in time")??;
    let hello = ClientPacket::from(Hello {
        ticket,
        protocol_version: PROTOCOL_VERSION,
    });
    ws.send(Message::Binary(hello.encode()?.into())).await?;
    Ok(ws)
}
