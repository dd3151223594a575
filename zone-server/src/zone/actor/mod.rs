//! The zone actor: lifecycle (`Idle → Allocated → Draining → Idle`), the messages it
//! handles and the state they act on. The core here only routes messages; each concern has
//! a type of its own that owns its fields and invariants, in a file beside this one:
//!
//! | file | owns |
//! | --- | --- |
//! | [`arrivals`] | expected players: their data, tickets and the handoffs that made them |
//! | [`outbox`] | the connected clients' links and the per-tick frame fan-out |
//! | [`saves`] | the save pipeline (one in flight per character) and shutdown waiters |
//! | [`quest_calls`] | quest-api calls in flight and players who left meanwhile |
//! | [`crossings`] | players at the border, as the sending end of a handoff |
//! | [`resume`] | one session per character: the freshest of the states held of them |
//! | [`heartbeat`] | heartbeats, registration, tick times, ticket expiry |
//! | [`borders`] | ghost streams both ways, border acts and chat with neighbours' owners |
//!
//! and the behaviour over them, also beside it: [`requests`] (what the manager asks of a
//! zone: allocate, release, expect), [`players`] (admitting and removing players), [`tick`]
//! (the tick and the API calls its effects start), [`handoff`] (both ends of a border
//! crossing), [`evacuation`] (whole-area moves). NATS plumbing is in [`crate::zone`]'s
//! `nats` module.

mod arrivals;
mod borders;
mod crossings;
mod evacuation;
mod handoff;
mod heartbeat;
#[cfg(feature = "test-hooks")]
mod hooks;
mod outbox;
mod players;
mod quest_calls;
mod requests;
mod resume;
mod saves;
mod tick;

use std::sync::Arc;
use std::time::Duration;

use protocol::cluster::{Handover, ZoneState};
use protocol::{AreaId, Epoch, ZoneId};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::ZoneMsg;
use crate::shared::Shared;
use crate::sim::{Simulation, TickOutput};
use arrivals::Arrivals;
use borders::Borders;
use crossings::Crossings;
use evacuation::Evacuation;
use heartbeat::Heartbeats;
use outbox::Outbox;
use quest_calls::QuestCalls;
use saves::SaveQueue;

/// How often a zone reports to the manager (and expires tickets nobody spent).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// The zone actor (stateless; its state is [`ZoneActorState`]).
#[derive(Debug, Clone, Copy)]
pub struct ZoneActor;

/// The area a zone holds.
#[derive(Debug)]
struct Held {
    area: AreaId,
    epoch: Epoch,
    sim: Box<Simulation>,
    ticker: JoinHandle<()>,
    /// Forwards the area's NATS subjects (handoffs into it) while held.
    subscription: JoinHandle<()>,
    /// For a drain: the zone the manager named to send the area's world.
    handover_from: Option<Handover>,
    /// When the ticker last got through (and the wall clock then, in microseconds).
    last_beat: Option<(std::time::Instant, u64)>,
}

impl Held {
    /// Stops ticking and unsubscribes from the area's subjects.
    fn stop(&self) {
        self.ticker.abort();
        self.subscription.abort();
    }
}

/// A zone actor's state: who it is, the area it holds, and one owner per concern.
#[derive(Debug)]
pub struct ZoneActorState {
    id: ZoneId,
    shared: Arc<Shared>,
    held: Option<Held>,
    outbox: Outbox,
    arrivals: Arrivals,
    saves: SaveQueue,
    quests: QuestCalls,
    crossings: Crossings,
    /// The whole area on its way to another zone.
    evacuation: Option<Evacuation>,
    heartbeats: Heartbeats,
    borders: Borders,
    /// One tick's output, its allocations reused by the next.
    out: TickOutput,
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
        myself.send_interval(HEARTBEAT_EVERY, || ZoneMsg::Heartbeat);
        let label = id.to_string();
        let state = ZoneActorState {
            id,
            outbox: Outbox::new(label.clone()),
            arrivals: Arrivals::new(id, shared.clone()),
            saves: SaveQueue::new(shared.apis.clone()),
            quests: QuestCalls::new(shared.apis.clone()),
            crossings: Crossings::default(),
            evacuation: None,
            heartbeats: Heartbeats::new(label, shared.config.dilation_floor),
            borders: Borders::new(&shared),
            out: TickOutput::default(),
            held: None,
            shared,
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
            held.stop();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ZoneMsg>,
        message: ZoneMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.fence_after_stall(matches!(message, ZoneMsg::Tick));
        match message {
            ZoneMsg::Tick => state.tick(&myself),
            ZoneMsg::Heartbeat => state.heartbeat(&myself),
            ZoneMsg::Request {
                verb,
                sender,
                payload,
                reply,
            } => state.request(&myself, verb, &sender, &payload, reply),
            ZoneMsg::AreaRequest {
                area,
                verb,
                sender,
                payload,
                reply,
            } => state.area_request(&myself, area, verb, sender, &payload, reply),
            ZoneMsg::PrepareChecked {
                area,
                sender,
                prepare,
                reply,
                verdict,
            } => state.prepare_checked(area, sender, *prepare, reply, verdict),
            ZoneMsg::AreaStateChecked {
                transfer,
                reply,
                verdict,
            } => state.area_state_checked(*transfer, reply, verdict),
            ZoneMsg::HandoffAnswered {
                player,
                character,
                handoff,
                target,
                outcome,
            } => state.handoff_answered(player, character, handoff, target, outcome),
            ZoneMsg::EvacuationAnswered(result) => state.evacuation_answered(&myself, result),
            ZoneMsg::BorderActAnswered { act, answer } => state.border_act_answered(act, answer),
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
            ZoneMsg::Packet { player, packet } => state.packet(player, packet),
            ZoneMsg::Disconnected { player } => state.disconnected(&myself, player),
            ZoneMsg::SaveDone { character, result } => {
                state.save_done(&myself, character, result);
            }
            ZoneMsg::QuestProgressDone { character, result } => {
                state.quest_progress_done(&myself, character, result);
            }
            ZoneMsg::QuestAcceptDone { character, result } => {
                state.quest_accept_done(&myself, character, result);
            }
            ZoneMsg::Shutdown(reply) => state.shutdown(&myself, reply),
            #[cfg(feature = "test-hooks")]
            ZoneMsg::Teleport { character, to } => state.teleport(character, to),
            #[cfg(feature = "test-hooks")]
            ZoneMsg::Inspect(reply) => {
                let _ = reply.send(state.report());
            }
            #[cfg(feature = "test-hooks")]
            ZoneMsg::Panic => panic!("zone {} asked to panic (supervision test)", state.id),
        }
        // Whatever the message was, an evacuation leaves as soon as nothing about its
        // players is in flight any more: decided here, once, not by each completion.
        state.try_evacuate(&myself);
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
}
