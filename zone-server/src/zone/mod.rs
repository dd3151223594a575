//! Zone actors (ractor) and their supervisor. A zone actor owns one slot of the process:
//! Idle until the manager allocates it an area, then the area's [`Simulation`] ticking at
//! the configured rate. Everything that touches the network or an API runs in tasks whose
//! results come back as [`ZoneMsg`]s, so a tick never waits on I/O.
//!
//! [`Simulation`]: crate::sim::Simulation

mod actor;
mod supervisor;

use bytes::Bytes;
use protocol::client::ClientPacket;
use protocol::client::packets::ErrorCode;
use protocol::cluster::{
    AreaStateAccepted, AreaVerb, Expect, GroundItemSnapshot, HandoffAnswer, NpcSnapshot, ZoneState,
    ZoneVerb,
};
use protocol::http::character::Character;
use protocol::http::quest::{ProgressOutcome, QuestProgress};
use protocol::{AreaId, CharacterId, EntityId, Epoch, HandoffId, Position, Ticket};
use ractor::RpcReplyPort;
use tokio::sync::mpsc;

pub use actor::ZoneActor;
pub use supervisor::{SupervisorMsg, ZoneSupervisor};

use crate::apis::ApiError;

/// Frames queued for one client; bounded, so a client that stops reading is dropped
/// instead of slowing the tick.
pub const OUTBOUND_QUEUE: usize = 256;

/// What the zone sends to a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    /// One encoded packet.
    Frame(Bytes),
    /// A last `Error`, then close.
    Close(ErrorCode, String),
}

/// The sending end of a connection, held by the zone.
pub type Link = mpsc::Sender<Outbound>;

/// Why a `Hello` was not admitted.
pub type Refusal = (ErrorCode, String);

/// A player as seen by [`ZoneMsg::Inspect`] (tests, diagnostics).
#[derive(Debug, Clone)]
pub struct PlayerView {
    /// Their entity.
    pub entity: EntityId,
    /// Their character (current).
    pub character: Character,
}

/// A zone's state as seen by [`ZoneMsg::Inspect`].
#[derive(Debug, Clone)]
pub struct ZoneReport {
    /// Lifecycle state.
    pub state: ZoneState,
    /// The area held.
    pub area: Option<AreaId>,
    /// Its epoch.
    pub epoch: Option<Epoch>,
    /// The tick number.
    pub tick: u32,
    /// Players present.
    pub players: Vec<PlayerView>,
    /// Tickets waiting to be spent.
    pub pending_arrivals: usize,
    /// Saves not yet acknowledged by character-api.
    pub saves_in_flight: usize,
    /// NPCs and ground items, as a migration would carry them.
    pub world: (Vec<NpcSnapshot>, Vec<GroundItemSnapshot>),
}

/// How a handoff prepare ended, as the sending zone sees it.
#[derive(Debug)]
pub enum HandoffOutcome {
    /// The owner's answer (accepted or refused).
    Answered(HandoffAnswer),
    /// The owner answered with an error (wrong area, malformed).
    Failed(String),
    /// Nobody owns the area: ask the manager for an owner.
    NoOwner,
    /// No answer in time: it may have accepted, so abort.
    TimedOut,
}

/// Messages of a zone actor.
#[derive(Debug)]
pub enum ZoneMsg {
    /// Run one tick (sent by the tick timer while allocated).
    Tick,
    /// Report to the manager (every second).
    Heartbeat,
    /// A NATS request addressed to this zone.
    Request {
        /// Which request.
        verb: ZoneVerb,
        /// Its payload.
        payload: Bytes,
        /// Where to answer.
        reply: Option<async_nats::Subject>,
    },
    /// A NATS request addressed to whichever zone owns `area` (handoffs into it).
    AreaRequest {
        /// The area named in the subject.
        area: AreaId,
        /// Which request.
        verb: AreaVerb,
        /// Its payload.
        payload: Bytes,
        /// Where to answer.
        reply: Option<async_nats::Subject>,
    },
    /// The neighbouring area's owner answered (or failed to answer) a handoff prepare.
    HandoffAnswered {
        /// The player being handed over.
        player: EntityId,
        /// Their character.
        character: CharacterId,
        /// The handoff.
        handoff: HandoffId,
        /// The area they cross into.
        target: AreaId,
        /// What came back.
        outcome: HandoffOutcome,
    },
    /// The zone taking over this area answered the area's state (a drain or a lost area).
    EvacuationAnswered(Result<AreaStateAccepted, String>),
    /// character-api and quest-api answered a preload started by `Expect`.
    Preloaded {
        /// The request.
        expect: Expect,
        /// Where to answer the manager.
        reply: Option<async_nats::Subject>,
        /// The data, or what failed.
        result: Result<(Character, Vec<QuestProgress>), String>,
    },
    /// A WebSocket presented a ticket in `Hello`.
    Connect {
        /// The ticket.
        ticket: Ticket,
        /// Where the zone sends this client's frames.
        link: Link,
        /// The player's entity, or why not.
        reply: RpcReplyPort<Result<EntityId, Refusal>>,
    },
    /// A decoded packet from a connected player.
    Packet {
        /// The player.
        player: EntityId,
        /// The packet.
        packet: ClientPacket,
    },
    /// A player's connection ended.
    Disconnected {
        /// The player.
        player: EntityId,
    },
    /// A save finished.
    SaveDone {
        /// The character.
        character: CharacterId,
        /// The new version, or why not.
        result: Result<u64, ApiError>,
    },
    /// quest-api answered a progress event.
    QuestProgressDone {
        /// The character.
        character: CharacterId,
        /// The outcome.
        result: Result<ProgressOutcome, ApiError>,
    },
    /// quest-api answered an accept.
    QuestAcceptDone {
        /// The character.
        character: CharacterId,
        /// The standing, or why not.
        result: Result<QuestProgress, ApiError>,
    },
    /// Moves a player (diagnostics and tests only: no wire reaches this).
    Teleport {
        /// The character.
        character: CharacterId,
        /// Where to.
        to: Position,
    },
    /// Describe yourself.
    Inspect(RpcReplyPort<ZoneReport>),
    /// Leave the area (saving everyone) and answer once every save is acknowledged.
    Shutdown(RpcReplyPort<()>),
    /// Panic, to exercise supervision (tests only: no wire reaches this).
    Panic,
}
