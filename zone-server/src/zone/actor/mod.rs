//! The zone actor: lifecycle (`Idle → Allocated → Draining → Idle`), preloading expected
//! players, admitting them, the tick loop, and the saves and quest calls it starts. Handoffs
//! across borders are in [`handoff`], whole-area moves (drain, lost area) in [`evacuation`].

mod evacuation;
mod handoff;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::client::ServerPacket;
use protocol::client::packets::{ErrorCode, Transfer};
use protocol::cluster::{self, *};
use protocol::http::character::Character;
use protocol::http::quest::{ProgressOutcome, QuestProgress};
use protocol::http::zone::{ArrivedBy, PlayerStay};
use protocol::{
    AreaId, CharacterId, EntityId, Epoch, EventId, HandoffId, Ticket, UnixMillis, ZoneId,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use super::{Link, Outbound, PlayerView, ZoneMsg, ZoneReport};
use crate::apis::with_retry;
use crate::shared::Shared;
use crate::sim::{Arrival, Departure, Effect, SimConfig, Simulation, TickOutput, quests};
use crate::stays::now_us;
use evacuation::Evacuation;
use handoff::Crossing;

/// The zone actor (stateless; its state is [`ZoneActorState`]).
#[derive(Debug, Clone, Copy)]
pub struct ZoneActor;

/// A player whose data is loaded and whose ticket is not spent yet.
#[derive(Debug)]
struct PendingArrival {
    /// As loaded (a join) or carried (a handoff or a migration, with its inputs).
    arrival: Arrival,
    expires_at: UnixMillis,
    origin: Origin,
}

/// Where a pending arrival came from, which decides what happens if its ticket expires.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// A join: the data is as saved; nothing to do.
    Join,
    /// A handoff: once committed, the carried state is this zone's to save.
    Handoff { handoff: HandoffId, committed: bool },
    /// A migration: the carried state is this zone's to save.
    Migration,
}

impl Origin {
    fn arrived_by(self) -> ArrivedBy {
        match self {
            Self::Join => ArrivedBy::Join,
            Self::Handoff { .. } => ArrivedBy::Handoff,
            Self::Migration => ArrivedBy::Migration,
        }
    }

    /// Whether the carried state must be saved if the client never comes.
    fn owned(self) -> bool {
        matches!(
            self,
            Self::Migration
                | Self::Handoff {
                    committed: true,
                    ..
                }
        )
    }
}

/// The area a zone holds.
#[derive(Debug)]
struct Held {
    area: AreaId,
    epoch: Epoch,
    sim: Box<Simulation>,
    ticker: JoinHandle<()>,
    /// Forwards the area's NATS subjects (handoffs into it) while held.
    subscription: JoinHandle<()>,
}

/// A player who left while quest calls about them were in flight.
#[derive(Debug)]
struct Leaving {
    character: Box<Character>,
    quests: Vec<QuestProgress>,
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
    /// Pending arrivals made by a handoff prepare.
    by_handoff: HashMap<HandoffId, Ticket>,
    saves: HashMap<CharacterId, SaveSlot>,
    /// Quest calls in flight per character (a handoff waits for them).
    quest_calls: FxHashMap<CharacterId, u32>,
    /// Players gone while quest calls about them were in flight: saved once answered.
    leaving: FxHashMap<CharacterId, Leaving>,
    /// Players at a border.
    crossings: FxHashMap<EntityId, Crossing>,
    /// Players whose stay has had no input applied yet.
    first_input_due: FxHashSet<EntityId>,
    /// The whole area on its way to another zone.
    evacuation: Option<Evacuation>,
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

/// Subscribes to the area's subjects, answers the allocation once the subscription is in
/// place (so a neighbour's first prepare finds this zone), then forwards every request on
/// them to the actor until aborted (which unsubscribes).
fn subscribe_area(
    shared: Arc<Shared>,
    myself: ActorRef<ZoneMsg>,
    allocated: Allocated,
    reply: Option<async_nats::Subject>,
) -> JoinHandle<()> {
    use futures_util::StreamExt;
    tokio::spawn(async move {
        let area = allocated.area;
        let subscribed = shared.nats.subscribe(shared.subjects.area_all(area)).await;
        let _ = shared.nats.flush().await;
        let mut subscriber = match subscribed {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%area, error = %e, "cannot subscribe to the area's subjects");
                return refuse::<Allocated>(&shared, reply, ErrorKind::Upstream, e.to_string());
            }
        };
        answer(&shared, reply, &Ok(allocated));
        while let Some(message) = subscriber.next().await {
            match shared.subjects.parse_area(&message.subject) {
                Some((area, verb)) => {
                    let _ = myself.cast(ZoneMsg::AreaRequest {
                        area,
                        verb,
                        payload: message.payload,
                        reply: message.reply,
                    });
                }
                None => refuse::<()>(
                    &shared,
                    message.reply,
                    ErrorKind::Malformed,
                    format!("no such request: {}", message.subject),
                ),
            }
        }
    })
}

/// Why a request to another part of the cluster got no usable answer.
#[derive(Debug)]
enum AskError {
    /// Nobody listens on the subject.
    NoResponders,
    /// No answer within the deadline.
    TimedOut,
    /// An error reply, an undecodable one, or a NATS failure.
    Failed(String),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoResponders => f.write_str("nobody answers on that subject"),
            Self::TimedOut => f.write_str("no answer in time"),
            Self::Failed(why) => f.write_str(why),
        }
    }
}

/// One NATS request-reply with a deadline, the answer decoded: the asking side of
/// [`answer`] and [`refuse`], shared by every request a zone makes.
async fn ask<T: serde::de::DeserializeOwned>(
    shared: &Shared,
    subject: String,
    body: &impl serde::Serialize,
    within: Duration,
) -> Result<T, AskError> {
    let request = shared
        .nats
        .request(subject, Bytes::from(cluster::encode(body)));
    match tokio::time::timeout(within, request).await {
        Err(_) => Err(AskError::TimedOut),
        Ok(Err(e)) => Err(match e.kind() {
            async_nats::RequestErrorKind::NoResponders => AskError::NoResponders,
            async_nats::RequestErrorKind::TimedOut => AskError::TimedOut,
            _ => AskError::Failed(e.to_string()),
        }),
        Ok(Ok(reply)) => match cluster::decode::<Reply<T>>(&reply.payload) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(AskError::Failed(e.to_string())),
            Err(e) => Err(AskError::Failed(format!("undecodable answer: {e}"))),
        },
    }
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
            by_handoff: HashMap::new(),
            saves: HashMap::new(),
            quest_calls: FxHashMap::default(),
            leaving: FxHashMap::default(),
            crossings: FxHashMap::default(),
            first_input_due: FxHashSet::default(),
            evacuation: None,
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
            held.subscription.abort();
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
            ZoneMsg::Heartbeat => state.heartbeat(&myself),
            ZoneMsg::Request {
                verb,
                payload,
                reply,
            } => state.request(&myself, verb, &payload, reply),
            ZoneMsg::AreaRequest {
                area,
                verb,
                payload,
                reply,
            } => state.area_request(area, verb, &payload, reply),
            ZoneMsg::HandoffAnswered {
                player,
                character,
                handoff,
                target,
                outcome,
            } => {
                state.handoff_answered(player, character, handoff, target, outcome);
                state.try_evacuate(&myself);
            }
            ZoneMsg::EvacuationAnswered(result) => state.evacuation_answered(&myself, result),
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
                let _ = reply.send(state.connect(&myself, ticket, link));
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
            ZoneMsg::SaveDone { character, result } => {
                state.save_done(&myself, character, result);
                state.try_evacuate(&myself);
            }
            ZoneMsg::QuestProgressDone { character, result } => {
                match result {
                    Ok(outcome) => state.quest_outcome(character, outcome),
                    Err(e) => tracing::warn!(%character, error = %e, "quest progress refused"),
                }
                state.quest_call_done(&myself, character);
                state.try_evacuate(&myself);
            }
            ZoneMsg::QuestAcceptDone { character, result } => {
                if let Some(held) = &mut state.held {
                    held.sim
                        .quest_accepted(character, result.map_err(|e| e.to_string()));
                }
                state.quest_call_done(&myself, character);
                state.try_evacuate(&myself);
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
        match (&self.held, &self.evacuation) {
            (Some(_), Some(_)) => ZoneState::Draining,
            (Some(_), None) => ZoneState::Allocated,
            (None, _) => ZoneState::Idle,
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
            let subject = shared.subjects.register();
            match ask::<RegisterAck>(&shared, subject, &message, Duration::from_secs(2)).await {
                Ok(_) => tracing::info!(%zone, "registered with the manager"),
                Err(AskError::Failed(why)) => tracing::warn!(%zone, %why, "registration refused"),
                // No manager yet: heartbeats carry everything, and the manager rebuilds its
                // map from them when it comes up.
                Err(_) => {
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
            world: self
                .held
                .as_ref()
                .map_or_else(Default::default, |h| h.sim.world_state(now_ms())),
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
                    self.lost_area(myself, m);
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
            ZoneVerb::Migrate => match cluster::decode::<Migrate>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => self.migrate(myself, m, reply),
                Ok(m) => self.wrong_epoch::<Migrated>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<Migrated>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::AreaState => match cluster::decode::<AreaStateTransfer>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => self.receive_area(m, reply),
                Ok(m) => self.wrong_epoch::<AreaStateAccepted>(reply, m.zone, m.area, m.epoch),
                Err(e) => refuse::<AreaStateAccepted>(
                    &self.shared,
                    reply,
                    ErrorKind::Malformed,
                    e.to_string(),
                ),
            },
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
        let allocated = Allocated {
            zone: self.id,
            area: m.area,
            epoch: m.epoch,
            ws_url: self.shared.ws_url.clone(),
        };
        let subscription = subscribe_area(self.shared.clone(), myself.clone(), allocated, reply);
        self.held = Some(Held {
            area: m.area,
            epoch: m.epoch,
            sim: Box::new(sim),
            ticker,
            subscription,
        });
        metrics::histogram!("zone_allocate_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(zone = %self.id, area = %m.area, epoch = %m.epoch, "allocated");
        self.report_heartbeat();
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
                        arrival: Arrival::joined(character, quests),
                        expires_at: m.expires_at,
                        origin: Origin::Join,
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

    fn connect(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        ticket: Ticket,
        link: Link,
    ) -> Result<EntityId, super::Refusal> {
        if self.evacuation.is_some() && self.pending.contains_key(&ticket) {
            // The arrival stays pending: leaving the area saves it if it is this zone's.
            return Err((
                ErrorCode::ZONE_UNAVAILABLE,
                "the area is moving to another zone; rejoin".into(),
            ));
        }
        let Some(arrival) = self.pending.remove(&ticket) else {
            return Err((
                ErrorCode::BAD_TICKET,
                "unknown or already spent ticket".into(),
            ));
        };
        if arrival.expires_at <= now_ms() {
            self.unclaimed(myself, &ticket, arrival);
            return Err((ErrorCode::TICKET_EXPIRED, "the ticket expired".into()));
        }
        self.forget_ticket(&ticket, arrival.origin);
        let (origin, arrival) = (arrival.origin, arrival.arrival);
        // The same character twice: the newer connection wins, the older one is closed.
        let old = self
            .held
            .as_ref()
            .and_then(|h| h.sim.player_of(arrival.character.id));
        if let Some(old) = old {
            if let Some(old_link) = self.links.remove(&old) {
                let _ = old_link.try_send(Outbound::Close(
                    ErrorCode::KICKED,
                    "connected again elsewhere".into(),
                ));
            }
            self.remove_from_sim(old, None);
        }
        let Some(held) = &mut self.held else {
            return Err((
                ErrorCode::ZONE_UNAVAILABLE,
                "the zone no longer holds the area".into(),
            ));
        };
        let character = arrival.character.id;
        let entry_seq = arrival.last_input_seq;
        let (entity, opening) = held.sim.add_player(arrival);
        self.shared.stays.open(
            entity,
            PlayerStay {
                character,
                zone: self.id,
                area: held.area,
                entered_us: now_us(),
                left_us: None,
                entry_seq,
                exit_seq: entry_seq,
                inputs_applied: 0,
                handoff_started_us: None,
                first_input_us: None,
                first_input_seq: None,
                arrived_by: origin.arrived_by(),
            },
        );
        self.first_input_due.insert(entity);
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
        if let Some(gone) = self.remove_from_sim(player, None) {
            self.save_departed(myself, gone);
        }
    }

    /// Takes a player out of the simulation, closing their stay and forgetting any border
    /// crossing (`handoff_started_us`: when the handoff that moves them began).
    fn remove_from_sim(
        &mut self,
        player: EntityId,
        handoff_started_us: Option<u64>,
    ) -> Option<Departure> {
        let held = self.held.as_mut()?;
        let inputs_applied = held.sim.player(player).map_or(0, |p| p.inputs_applied);
        let gone = held.sim.remove_player(player)?;
        self.crossings.remove(&player);
        self.first_input_due.remove(&player);
        self.shared.stays.close(
            self.id,
            player,
            gone.last_input_seq,
            inputs_applied,
            handoff_started_us,
        );
        Some(gone)
    }

    /// Tells a client where to go next; dropping the link then closes the connection once
    /// the `Transfer` is written.
    fn send_transfer(&mut self, link: &Link, ws_url: String, ticket: Ticket) {
        let transfer = ServerPacket::Transfer(Transfer { ws_url, ticket });
        self.buf.clear();
        if transfer.encode_into(&mut self.buf).is_ok() {
            let _ = link.try_send(Outbound::Frame(Bytes::copy_from_slice(&self.buf)));
        }
    }

    /// A quest call ended; a player who left meanwhile is saved once their last one has.
    fn quest_call_done(&mut self, myself: &ActorRef<ZoneMsg>, character: CharacterId) {
        if let Some(n) = self.quest_calls.get_mut(&character) {
            *n -= 1;
            if *n == 0 {
                self.quest_calls.remove(&character);
                if let Some(left) = self.leaving.remove(&character) {
                    self.queue_save(myself, left.character);
                }
            }
        }
    }

    /// quest-api's answer to a progress event: into the player's simulation, or, if they
    /// left while it was on its way, into the state about to be saved for them (so a reward
    /// earned just before leaving is never lost).
    fn quest_outcome(&mut self, character: CharacterId, outcome: ProgressOutcome) {
        if let Some(left) = self.leaving.get_mut(&character) {
            let overflow = quests::absorb_outcome(&mut left.character, &mut left.quests, outcome);
            if let (Some(overflow), Some(held)) = (overflow, &mut self.held) {
                held.sim.drop_items(left.character.position, overflow);
            }
        } else if let Some(held) = &mut self.held {
            held.sim.quest_progressed(character, outcome);
        }
    }

    /// Saves a player who left, or holds the save until their quest calls are answered.
    fn save_departed(&mut self, myself: &ActorRef<ZoneMsg>, gone: Departure) {
        let id = gone.character.id;
        if self.quest_calls.contains_key(&id) {
            self.leaving.insert(
                id,
                Leaving {
                    character: Box::new(gone.character),
                    quests: gone.quests,
                },
            );
        } else {
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
        if let Some(gone) = self.remove_from_sim(player, None)
            && save
        {
            self.save_departed(myself, gone);
        }
    }

    /// Gives the area up: every player saved and told to rejoin, timers stopped.
    fn leave_area(&mut self, myself: &ActorRef<ZoneMsg>, code: ErrorCode, why: &str) {
        let players: Vec<EntityId> = self.links.keys().copied().collect();
        for player in players {
            self.drop_player(myself, player, code, why, true);
        }
        let pending: Vec<(Ticket, PendingArrival)> = self.pending.drain().collect();
        for (ticket, arrival) in pending {
            self.unclaimed(myself, &ticket, arrival);
        }
        let leaving: Vec<Leaving> = self.leaving.drain().map(|(_, l)| l).collect();
        for left in leaving {
            self.queue_save(myself, left.character);
        }
        self.crossings.clear();
        self.first_input_due.clear();
        self.evacuation = None;
        if let Some(held) = self.held.take() {
            held.ticker.abort();
            held.subscription.abort();
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
            let result = apis.save_with_retry(&character).await;
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
        // Border crossings last: a save or quest call this tick produced must be seen in
        // flight by the handoff, which then waits for it (the carried state stays exact).
        // (A stable sort in place rather than two new lists every tick.)
        out.effects
            .sort_by_key(|e| matches!(e, Effect::Crossing { .. }));
        for effect in out.effects.drain(..) {
            self.apply(myself, effect);
        }
        self.out = out;
        self.forget_stale_crossings();
        self.note_first_inputs();
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
                *self.quest_calls.entry(character).or_default() += 1;
                tokio::spawn(async move {
                    let result =
                        with_retry(|| apis.progress(character, &quest, event, objective, amount))
                            .await;
                    let _ = myself.cast(ZoneMsg::QuestProgressDone { character, result });
                });
            }
            Effect::QuestAccept { character, quest } => {
                *self.quest_calls.entry(character).or_default() += 1;
                let apis = self.shared.apis.clone();
                let myself = myself.clone();
                tokio::spawn(async move {
                    let result = apis.accept(character, &quest).await;
                    let _ = myself.cast(ZoneMsg::QuestAcceptDone { character, result });
                });
            }
            Effect::Crossing {
                player,
                character,
                target,
            } => self.crossing(myself, player, character, target),
        }
    }

    /// Records when each new stay's first input was applied (the handoff benchmark's end).
    fn note_first_inputs(&mut self) {
        if self.first_input_due.is_empty() {
            return;
        }
        let Some(held) = &self.held else { return };
        let now = now_us();
        let (zone, stays) = (self.id, &self.shared.stays);
        self.first_input_due.retain(|id| {
            let first = held.sim.player(*id).and_then(|p| p.first_input_seq);
            if let Some(seq) = first {
                stays.first_input(zone, *id, now, seq);
            }
            first.is_none()
        });
    }

    // ------------------------------------------------------------------ heartbeat

    fn heartbeat(&mut self, myself: &ActorRef<ZoneMsg>) {
        self.expire_tickets(myself);
        self.report_heartbeat();
    }

    /// Forgets tickets nobody spent in time; carried state that was this zone's (a
    /// committed handoff, a migration) is saved.
    fn expire_tickets(&mut self, myself: &ActorRef<ZoneMsg>) {
        let now = now_ms();
        let expired: Vec<Ticket> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires_at <= now)
            .map(|(t, _)| *t)
            .collect();
        for ticket in expired {
            let Some(arrival) = self.pending.remove(&ticket) else {
                continue;
            };
            metrics::counter!("zone_tickets_expired_total").increment(1);
            self.unclaimed(myself, &ticket, arrival);
        }
    }

    /// A spent or dropped ticket: it no longer admits anyone, nor answers its handoff.
    fn forget_ticket(&mut self, ticket: &Ticket, origin: Origin) {
        self.shared.remove_ticket(ticket);
        if let Origin::Handoff { handoff, .. } = origin {
            self.by_handoff.remove(&handoff);
        }
    }

    /// A pending arrival no client will claim (expired, or the area is left): its ticket
    /// goes, and carried state that is this zone's (a committed handoff, a migration) is
    /// saved, never dropped.
    fn unclaimed(&mut self, myself: &ActorRef<ZoneMsg>, ticket: &Ticket, pending: PendingArrival) {
        self.forget_ticket(ticket, pending.origin);
        if pending.origin.owned() {
            self.queue_save(myself, Box::new(pending.arrival.character));
        }
    }

    fn report_heartbeat(&mut self) {
        let now = now_ms();
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
