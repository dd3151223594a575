//! The zone actor: lifecycle (`Idle → Allocated → Idle`), preloading expected players,
//! admitting them, the tick loop, and the saves and quest calls it starts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::client::packets::ErrorCode;
use protocol::cluster::{self, *};
use protocol::http::character::Character;
use protocol::http::quest::QuestProgress;
use protocol::{AreaId, CharacterId, EntityId, Epoch, EventId, Ticket, UnixMillis, ZoneId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use super::{Link, Outbound, PlayerView, ZoneMsg, ZoneReport};
use crate::apis::with_retry;
use crate::shared::Shared;
use crate::sim::{Arrival, Effect, SimConfig, Simulation, TickOutput};

/// The zone actor (stateless; its state is [`ZoneActorState`]).
#[derive(Debug, Clone, Copy)]
pub struct ZoneActor;

/// A player whose data is loaded and whose ticket is not spent yet.
#[derive(Debug)]
struct PendingArrival {
    character: Character,
    quests: Vec<QuestProgress>,
    expires_at: UnixMillis,
}

/// The area a zone holds.
#[derive(Debug)]
struct Held {
    area: AreaId,
    epoch: Epoch,
    sim: Box<Simulation>,
    ticker: JoinHandle<()>,
}

/// Saves of one character: one in flight at a time, the newest waiting behind it.
#[derive(Debug, Default)]
struct SaveSlot {
    next: Option<Box<Character>>,
}

/// A zone actor's state.
#[derive(Debug)]
pub struct ZoneActorState {
    id: ZoneId,
    shared: Arc<Shared>,
    held: Option<Held>,
    links: FxHashMap<EntityId, Link>,
    pending: HashMap<Ticket, PendingArrival>,
    saves: HashMap<CharacterId, SaveSlot>,
    tick_micros: Vec<u32>,
    out: TickOutput,
    bytes_per_client: FxHashMap<EntityId, usize>,
    buf: Vec<u8>,
    drained: Vec<RpcReplyPort<()>>,
    label: String,
}

fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn answer<T: serde::Serialize>(
    shared: &Arc<Shared>,
    reply: Option<async_nats::Subject>,
    body: &Reply<T>,
) {
    let Some(reply) = reply else { return };
    let nats = shared.nats.clone();
    let payload = Bytes::from(cluster::encode(body));
    tokio::spawn(async move {
        if let Err(e) = nats.publish(reply, payload).await {
            tracing::warn!(error = %e, "cannot answer a NATS request");
        }
        let _ = nats.flush().await;
    });
}

fn refuse<T: serde::Serialize>(
    shared: &Arc<Shared>,
    reply: Option<async_nats::Subject>,
    kind: ErrorKind,
    message: impl Into<String>,
) {
    let message = message.into();
    metrics::counter!("zone_nats_errors_total", "kind" => kind.word()).increment(1);
    tracing::debug!(%message, ?kind, "refusing a cluster request");
    answer::<T>(shared, reply, &Err(ErrorReply::new(kind, message)));
}

impl Actor for ZoneActor {
    type Msg = ZoneMsg;
    type State = ZoneActorState;
    type Arguments = (ZoneId, Arc<Shared>);

    async fn pre_start(
        &self,
        myself: ActorRef<ZoneMsg>,
        (id, shared): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(Duration::from_secs(1), || ZoneMsg::Heartbeat);
        let mut state = ZoneActorState {
            id,
            label: id.to_string(),
            shared,
            held: None,
            links: FxHashMap::default(),
            pending: HashMap::new(),
            saves: HashMap::new(),
            tick_micros: Vec::new(),
            out: TickOutput::default(),
            bytes_per_client: FxHashMap::default(),
            buf: Vec::with_capacity(4096),
            drained: Vec::new(),
        };
        state.register();
        Ok(state)
    }

    async fn post_stop(
        &self,
        _: ActorRef<ZoneMsg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(held) = state.held.take() {
            held.ticker.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ZoneMsg>,
        message: ZoneMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ZoneMsg::Tick => state.tick(&myself),
            ZoneMsg::Heartbeat => state.heartbeat(),
            ZoneMsg::Request {
                verb,
                payload,
                reply,
            } => state.request(&myself, verb, &payload, reply),
            ZoneMsg::Preloaded {
                expect,
                reply,
                result,
            } => state.preloaded(expect, reply, result),
            ZoneMsg::Connect {
                ticket,
                link,
                reply,
            } => {
                let _ = reply.send(state.connect(ticket, link));
            }
            ZoneMsg::Packet { player, packet } => {
                if let Some(held) = &mut state.held {
                    // Unknown player: already left (e.g. transferred); nothing to do.
                    let _ = held.sim.push(player, packet);
                }
            }
            ZoneMsg::Disconnected { player } => {
                if state.links.remove(&player).is_some() {
                    state.depart(&myself, player);
                }
            }
            ZoneMsg::SaveDone { character, result } => state.save_done(&myself, character, result),
            ZoneMsg::QuestProgressDone { character, result } => match result {
                Ok(outcome) => {
                    if let Some(held) = &mut state.held {
                        held.sim.quest_progressed(character, outcome);
                    }
                }
                Err(e) => tracing::warn!(%character, error = %e, "quest progress refused"),
            },
            ZoneMsg::QuestAcceptDone { character, result } => {
                if let Some(held) = &mut state.held {
                    held.sim
                        .quest_accepted(character, result.map_err(|e| e.to_string()));
                }
            }
            ZoneMsg::Teleport { character, to } => {
                if let Some(held) = &mut state.held {
                    held.sim.teleport(character, to);
                }
            }
            ZoneMsg::Inspect(reply) => {
                let _ = reply.send(state.report());
            }
            ZoneMsg::Shutdown(reply) => {
                state.leave_area(
                    &myself,
                    ErrorCode::ZONE_UNAVAILABLE,
                    "the zone server is shutting down",
                );
                state.drained.push(reply);
                state.reply_if_drained();
            }
            ZoneMsg::Panic => panic!("zone {} asked to panic (supervision test)", state.id),
        }
        Ok(())
    }
}

impl ZoneActorState {
    fn zone_state(&self) -> ZoneState {
        if self.held.is_some() {
            ZoneState::Allocated
        } else {
            ZoneState::Idle
        }
    }

    fn register(&mut self) {
        let shared = self.shared.clone();
        let message = Register {
            zone: self.id,
            ws_url: shared.ws_url.clone(),
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
        };
        let zone = self.id;
        tokio::spawn(async move {
            let payload = Bytes::from(cluster::encode(&message));
            let request = shared.nats.request(shared.subjects.register(), payload);
            match tokio::time::timeout(Duration::from_secs(2), request).await {
                Ok(Ok(reply)) => match cluster::decode::<Reply<RegisterAck>>(&reply.payload) {
                    Ok(Ok(_)) => tracing::info!(%zone, "registered with the manager"),
                    other => tracing::warn!(%zone, ?other, "registration refused"),
                },
                // No manager yet: heartbeats carry everything, and the manager rebuilds its
                // map from them when it comes up.
                _ => {
                    tracing::info!(%zone, "no manager answered the registration; heartbeats go on")
                }
            }
        });
    }

    fn report(&self) -> ZoneReport {
        let players = self.held.as_ref().map_or_else(Vec::new, |h| {
            self.links
                .keys()
                .filter_map(|id| {
                    h.sim.player(*id).map(|p| PlayerView {
                        entity: *id,
                        character: p.character.clone(),
                    })
                })
                .collect()
        });
        ZoneReport {
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
            tick: self.held.as_ref().map_or(0, |h| h.sim.tick_number()),
            players,
            pending_arrivals: self.pending.len(),
            saves_in_flight: self.saves.len(),
        }
    }

    // ------------------------------------------------------------------ NATS requests

    fn request(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        verb: ZoneVerb,
        payload: &[u8],
        reply: Option<async_nats::Subject>,
    ) {
        metrics::counter!("zone_nats_requests_total", "verb" => verb.to_string()).increment(1);
        match verb {
            ZoneVerb::Allocate => match cluster::decode::<Allocate>(payload) {
                Ok(m) => self.allocate(myself, m, reply),
                Err(e) => {
                    refuse::<Allocated>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Release => match cluster::decode::<Release>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => {
                    self.leave_area(myself, ErrorCode::ZONE_UNAVAILABLE, "the area was released");
                    answer(&self.shared, reply, &Ok(Released { zone: self.id }));
                }
                Ok(m) => self.wrong_epoch::<Released>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<Released>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::LostArea => match cluster::decode::<LostArea>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.lost_epoch) => {
                    tracing::warn!(zone = %self.id, area = %m.area, new_owner = %m.new_owner, "lost the area");
                    self.leave_area(
                        myself,
                        ErrorCode::ZONE_UNAVAILABLE,
                        "the area moved to another zone",
                    );
                    answer(&self.shared, reply, &Ok(Released { zone: self.id }));
                }
                Ok(m) => self.wrong_epoch::<Released>(reply, m.zone, m.area, m.lost_epoch),
                Err(e) => {
                    refuse::<Released>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Expect => match cluster::decode::<Expect>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => self.expect(myself, m, reply),
                Ok(m) => self.wrong_epoch::<ExpectReady>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<ExpectReady>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Migrate => refuse::<Migrated>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone server does not migrate areas yet",
            ),
            ZoneVerb::AreaState => refuse::<AreaStateAccepted>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone server does not accept migrated areas yet",
            ),
        }
    }

    fn holds(&self, zone: ZoneId, area: AreaId, epoch: Epoch) -> bool {
        zone == self.id
            && self
                .held
                .as_ref()
                .is_some_and(|h| h.area == area && h.epoch == epoch)
    }

    fn wrong_epoch<T: serde::Serialize>(
        &self,
        reply: Option<async_nats::Subject>,
        zone: ZoneId,
        area: AreaId,
        epoch: Epoch,
    ) {
        let holds = self
            .held
            .as_ref()
            .map(|h| format!("{} under epoch {}", h.area, h.epoch))
            .unwrap_or_else(|| "no area".into());
        let message = if zone == self.id {
            format!("zone {zone} does not hold area {area} under epoch {epoch}; it holds {holds}")
        } else {
            format!("this is zone {}, not {zone}", self.id)
        };
        refuse::<T>(&self.shared, reply, ErrorKind::WrongEpoch, message);
    }

    fn allocate(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        m: Allocate,
        reply: Option<async_nats::Subject>,
    ) {
        if m.zone != self.id {
            return self.wrong_epoch::<Allocated>(reply, m.zone, m.area, m.epoch);
        }
        if let Some(held) = &self.held {
            if held.area == m.area && held.epoch == m.epoch {
                // A retried allocation: same answer.
                return answer(
                    &self.shared,
                    reply,
                    &Ok(Allocated {
                        zone: self.id,
                        area: m.area,
                        epoch: m.epoch,
                        ws_url: self.shared.ws_url.clone(),
                    }),
                );
            }
            let message = format!(
                "already holds area {} under epoch {}",
                held.area, held.epoch
            );
            return refuse::<Allocated>(&self.shared, reply, ErrorKind::WrongState, message);
        }
        if !self.shared.grid.contains(m.area) {
            return refuse::<Allocated>(
                &self.shared,
                reply,
                ErrorKind::NotFound,
                format!("area {} is outside the world grid", m.area),
            );
        }
        let started = Instant::now();
        let cfg = SimConfig {
            tick_rate: self.shared.config.tick_rate,
            ..SimConfig::default()
        };
        let sim = Simulation::new(m.area, self.shared.grid, cfg, self.shared.catalog());
        let ticker = myself.send_interval(self.shared.config.tick_interval(), || ZoneMsg::Tick);
        self.held = Some(Held {
            area: m.area,
            epoch: m.epoch,
            sim: Box::new(sim),
            ticker,
        });
        metrics::histogram!("zone_allocate_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(zone = %self.id, area = %m.area, epoch = %m.epoch, "allocated");
        answer(
            &self.shared,
            reply,
            &Ok(Allocated {
                zone: self.id,
                area: m.area,
                epoch: m.epoch,
                ws_url: self.shared.ws_url.clone(),
            }),
        );
        self.heartbeat();
    }

    fn expect(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        m: Expect,
        reply: Option<async_nats::Subject>,
    ) {
        if m.expires_at <= now_ms() {
            return refuse::<ExpectReady>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                "the ticket has already expired",
            );
        }
        let apis = self.shared.apis.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let (character, quests) =
                tokio::join!(apis.character(m.character), apis.quests(m.character));
            let result = match (character, quests) {
                (Ok(c), Ok(q)) if c.account_id == m.account => Ok((c, q)),
                (Ok(c), Ok(_)) => Err(format!(
                    "character {} belongs to another account than {}",
                    c.id, m.account
                )),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            };
            let _ = myself.cast(ZoneMsg::Preloaded {
                expect: m,
                reply,
                result,
            });
        });
    }

    fn preloaded(
        &mut self,
        m: Expect,
        reply: Option<async_nats::Subject>,
        result: Result<(Character, Vec<QuestProgress>), String>,
    ) {
        if !self.holds(m.zone, m.area, m.epoch) {
            return self.wrong_epoch::<ExpectReady>(reply, m.zone, m.area, m.epoch);
        }
        match result {
            Ok((character, quests)) => {
                self.pending.insert(
                    m.ticket,
                    PendingArrival {
                        character,
                        quests,
                        expires_at: m.expires_at,
                    },
                );
                self.shared.add_ticket(m.ticket, self.id);
                answer(
                    &self.shared,
                    reply,
                    &Ok(ExpectReady {
                        zone: self.id,
                        ws_url: self.shared.ws_url.clone(),
                        ticket: m.ticket,
                        expires_at: m.expires_at,
                    }),
                );
            }
            Err(reason) => refuse::<ExpectReady>(&self.shared, reply, ErrorKind::Upstream, reason),
        }
    }

    // ------------------------------------------------------------------ players

    fn connect(&mut self, ticket: Ticket, link: Link) -> Result<EntityId, super::Refusal> {
        let Some(arrival) = self.pending.remove(&ticket) else {
            return Err((
                ErrorCode::BAD_TICKET,
                "unknown or already spent ticket".into(),
            ));
        };
        self.shared.remove_ticket(&ticket);
        if arrival.expires_at <= now_ms() {
            return Err((ErrorCode::TICKET_EXPIRED, "the ticket expired".into()));
        }
        let Some(held) = &mut self.held else {
            return Err((
                ErrorCode::ZONE_UNAVAILABLE,
                "the zone no longer holds the area".into(),
            ));
        };
        // The same character twice: the newer connection wins, the older one is closed.
        if let Some(old) = held.sim.player_of(arrival.character.id) {
            if let Some(old_link) = self.links.remove(&old) {
                let _ = old_link.try_send(Outbound::Close(
                    ErrorCode::KICKED,
                    "connected again elsewhere".into(),
                ));
            }
            held.sim.remove_player(old);
        }
        let (entity, opening) = held.sim.add_player(Arrival {
            character: arrival.character,
            quests: arrival.quests,
            last_input_seq: 0,
            pending_inputs: Vec::new(),
        });
        for packet in opening {
            self.buf.clear();
            if packet.encode_into(&mut self.buf).is_ok() {
                let _ = link.try_send(Outbound::Frame(Bytes::copy_from_slice(&self.buf)));
            }
        }
        self.links.insert(entity, link);
        metrics::counter!("zone_players_admitted_total").increment(1);
        Ok(entity)
    }

    /// A player left (disconnected or dropped): take them out and save their state.
    fn depart(&mut self, myself: &ActorRef<ZoneMsg>, player: EntityId) {
        let Some(held) = &mut self.held else { return };
        if let Some(gone) = held.sim.remove_player(player) {
            self.queue_save(myself, Box::new(gone.character));
        }
    }

    fn drop_player(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        player: EntityId,
        code: ErrorCode,
        why: &str,
        save: bool,
    ) {
        if let Some(link) = self.links.remove(&player) {
            let _ = link.try_send(Outbound::Close(code, why.to_owned()));
        }
        let Some(held) = &mut self.held else { return };
        if let Some(gone) = held.sim.remove_player(player)
            && save
        {
            self.queue_save(myself, Box::new(gone.character));
        }
    }

    /// Gives the area up: every player saved and told to rejoin, timers stopped.
    fn leave_area(&mut self, myself: &ActorRef<ZoneMsg>, code: ErrorCode, why: &str) {
        let players: Vec<EntityId> = self.links.keys().copied().collect();
        for player in players {
            self.drop_player(myself, player, code, why, true);
        }
        for ticket in self.pending.keys() {
            self.shared.remove_ticket(ticket);
        }
        self.pending.clear();
        if let Some(held) = self.held.take() {
            held.ticker.abort();
            tracing::info!(zone = %self.id, area = %held.area, epoch = %held.epoch, "released; idle");
            self.register();
        }
    }

    // ------------------------------------------------------------------ saves

    fn queue_save(&mut self, myself: &ActorRef<ZoneMsg>, character: Box<Character>) {
        match self.saves.get_mut(&character.id) {
            Some(slot) => slot.next = Some(character),
            None => {
                self.saves.insert(character.id, SaveSlot::default());
                self.start_save(myself, character);
            }
        }
    }

    fn start_save(&self, myself: &ActorRef<ZoneMsg>, character: Box<Character>) {
        let apis = self.shared.apis.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let result = with_retry(|| apis.save(&character)).await;
            let _ = myself.cast(ZoneMsg::SaveDone {
                character: character.id,
                result,
            });
        });
    }

    fn save_done(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        result: Result<u64, crate::apis::ApiError>,
    ) {
        let next = self.saves.get_mut(&character).and_then(|s| s.next.take());
        match result {
            Ok(version) => {
                metrics::counter!("zone_saves_total", "result" => "ok").increment(1);
                if let Some(held) = &mut self.held {
                    held.sim.saved(character, version);
                }
                if let Some(mut next) = next {
                    next.version = version;
                    return self.start_save(myself, next);
                }
            }
            Err(e) => {
                let stale = e.status() == Some(412);
                metrics::counter!("zone_saves_total", "result" => if stale { "stale" } else { "refused" }).increment(1);
                tracing::warn!(%character, error = %e, "save failed");
                if stale {
                    // Someone newer owns this character's state: this zone must not write it
                    // again, nor keep simulating the player from old data.
                    let player = self.held.as_ref().and_then(|h| h.sim.player_of(character));
                    if let Some(player) = player {
                        self.drop_player(
                            myself,
                            player,
                            ErrorCode::STALE_STATE,
                            "your character was saved elsewhere; rejoin",
                            false,
                        );
                    }
                }
            }
        }
        self.saves.remove(&character);
        self.reply_if_drained();
    }

    fn reply_if_drained(&mut self) {
        if self.saves.is_empty() {
            for reply in self.drained.drain(..) {
                let _ = reply.send(());
            }
        }
    }

    // ------------------------------------------------------------------ the tick

    fn tick(&mut self, myself: &ActorRef<ZoneMsg>) {
        let started = Instant::now();
        let Some(held) = &mut self.held else { return };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        held.sim.tick(&mut out);
        self.bytes_per_client.clear();
        let mut too_slow = Vec::new();
        for (player, packet) in &out.frames {
            let Some(link) = self.links.get(player) else {
                continue;
            };
            self.buf.clear();
            if let Err(e) = packet.encode_into(&mut self.buf) {
                tracing::error!(error = %e, "cannot encode a frame");
                continue;
            }
            *self.bytes_per_client.entry(*player).or_default() += self.buf.len();
            match link.try_send(Outbound::Frame(Bytes::copy_from_slice(&self.buf))) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => too_slow.push(*player),
                Err(TrySendError::Closed(_)) => {}
            }
        }
        let mut bytes_total = 0;
        for bytes in self.bytes_per_client.values() {
            metrics::histogram!("zone_client_tick_bytes").record(*bytes as f64);
            bytes_total += bytes;
        }
        metrics::counter!("zone_bytes_out_total", "zone" => self.label.clone())
            .increment(bytes_total as u64);
        too_slow.sort_unstable();
        too_slow.dedup();
        for player in too_slow {
            metrics::counter!("zone_clients_dropped_total", "reason" => "too_slow").increment(1);
            self.drop_player(
                myself,
                player,
                ErrorCode::TOO_SLOW,
                "the client fell too far behind",
                true,
            );
        }
        for effect in out.effects.drain(..) {
            self.apply(myself, effect);
        }
        self.out = out;
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        self.tick_micros.push(micros);
        metrics::histogram!("zone_tick_duration_seconds").record(f64::from(micros) / 1e6);
    }

    fn apply(&mut self, myself: &ActorRef<ZoneMsg>, effect: Effect) {
        match effect {
            Effect::Save { character, .. } => self.queue_save(myself, character),
            Effect::QuestProgress {
                character,
                quest,
                objective,
                amount,
            } => {
                let apis = self.shared.apis.clone();
                let myself = myself.clone();
                // One event id for every retry: quest-api counts it once.
                let event = EventId::new_random();
                tokio::spawn(async move {
                    let result =
                        with_retry(|| apis.progress(character, &quest, event, objective, amount))
                            .await;
                    let _ = myself.cast(ZoneMsg::QuestProgressDone { character, result });
                });
            }
            Effect::QuestAccept { character, quest } => {
                let apis = self.shared.apis.clone();
                let myself = myself.clone();
                tokio::spawn(async move {
                    let result = apis.accept(character, &quest).await;
                    let _ = myself.cast(ZoneMsg::QuestAcceptDone { character, result });
                });
            }
            // The player is held at the border by the simulation; handing them to the
            // neighbouring zone is the handoff protocol's job.
            Effect::Crossing { .. } => {}
        }
    }

    // ------------------------------------------------------------------ heartbeat

    fn heartbeat(&mut self) {
        let now = now_ms();
        let expired: Vec<Ticket> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires_at <= now)
            .map(|(t, _)| *t)
            .collect();
        for ticket in expired {
            self.pending.remove(&ticket);
            self.shared.remove_ticket(&ticket);
            metrics::counter!("zone_tickets_expired_total").increment(1);
        }
        let mut micros = std::mem::take(&mut self.tick_micros);
        micros.sort_unstable();
        let p99 = micros
            .get((micros.len() * 99 / 100).min(micros.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0);
        let (players, npcs) = self
            .held
            .as_ref()
            .map_or((0, 0), |h| (h.sim.player_count(), h.sim.npc_count()));
        metrics::gauge!("zone_players", "zone" => self.label.clone()).set(players as f64);
        metrics::gauge!("zone_npcs", "zone" => self.label.clone()).set(npcs as f64);
        let beat = Heartbeat {
            zone: self.id,
            ws_url: self.shared.ws_url.clone(),
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
            players: players as u32,
            npcs: npcs as u32,
            tick_p99_us: p99,
            sent_at: now,
        };
        let sample = self.held.as_ref().map(|h| PositionSample {
            zone: self.id,
            area: h.area,
            players: h
                .sim
                .player_positions()
                .take(500)
                .map(|(character, x, z)| PlayerDot { character, x, z })
                .collect(),
        });
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let _ = shared
                .nats
                .publish(shared.subjects.heartbeat(), cluster::encode(&beat).into())
                .await;
            if let Some(sample) = sample {
                let _ = shared
                    .nats
                    .publish(shared.subjects.positions(), cluster::encode(&sample).into())
                    .await;
            }
        });
        self.tick_micros = micros;
        self.tick_micros.clear();
    }
}
