//! Zone actors (ractor) and their supervisor. A zone actor owns one slot of the process:
//! Idle until the manager allocates it an area, then the area's [`Simulation`] ticking at
//! the configured rate. Everything that touches the network or an API runs in tasks whose
//! results come back as [`ZoneMsg`]s, so a tick never waits on I/O.
//!
//! The actor's core and the owner of each of its concerns live in `actor/`, its NATS
//! requests and replies in `nats`. The messages only tests send (`Teleport`, `Inspect`,
//! `Panic`) exist only with the `test-hooks` feature, which the crate's own tests enable.
//!
//! [`Simulation`]: crate::sim::Simulation

mod actor;
mod nats;
#[cfg(feature = "test-hooks")]
mod report;
mod supervisor;
mod trust;

use bytes::Bytes;
use protocol::client::ClientPacket;
use protocol::client::packets::ErrorCode;
use protocol::cluster::{
    AreaStateAccepted, AreaStateTransfer, AreaVerb, BorderAct, BorderOutcome, Expect,
    HandoffAnswer, HandoffPrepare, Identity, ZoneVerb,
};
use protocol::http::character::Character;
use protocol::http::quest::{ProgressOutcome, QuestProgress};
use protocol::{AreaId, CharacterId, EntityId, HandoffId, Ticket};
use ractor::RpcReplyPort;
use tokio::sync::mpsc;

pub use actor::ZoneActor;
pub use nats::{AskError, follow_owner_map};
#[cfg(feature = "test-hooks")]
pub use report::{PlayerView, ZoneReport};
pub use supervisor::{SupervisorMsg, ZoneSupervisor};
pub use trust::{Distrust, OwnerBook};

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

/// Why a ticket presented in `Hello` did not admit its player; the client gets
/// [`code`](Self::code) and the message in an `Error` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectRefused {
    /// The area is on its way to another zone; the arrival stays pending (and is saved
    /// if it is this zone's), the client rejoins through the manager.
    #[error("the area is moving to another zone; rejoin")]
    AreaMoving,
    /// No pending arrival has this ticket (never issued, spent, or expired and forgotten).
    #[error("unknown or already spent ticket")]
    UnknownTicket,
    /// The ticket was still pending but is past its expiry.
    #[error("the ticket expired")]
    TicketExpired,
    /// The zone gave its area up between the ticket and the connection.
    #[error("the zone no longer holds the area")]
    AreaGone,
}

impl ConnectRefused {
    /// The protocol error code the client sees.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::AreaMoving | Self::AreaGone => ErrorCode::ZONE_UNAVAILABLE,
            Self::UnknownTicket => ErrorCode::BAD_TICKET,
            Self::TicketExpired => ErrorCode::TICKET_EXPIRED,
        }
    }
}

/// A preloaded player: what character-api and quest-api hold about them.
#[derive(Debug, Clone)]
pub struct Preload {
    /// The character as saved.
    pub character: Character,
    /// Their quest standings.
    pub quests: Vec<QuestProgress>,
}

/// Why a preload for an expected player failed; the manager gets it as the message of an
/// `upstream` error reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PreloadError {
    /// The character exists but the join named another account.
    #[error("character {character} belongs to another account than {account}")]
    OtherAccount {
        /// The character asked for.
        character: CharacterId,
        /// The account the join named.
        account: protocol::AccountId,
    },
    /// An API did not answer or refused.
    #[error(transparent)]
    Api(#[from] ApiError),
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
        /// Who sent it (the NATS server vouches for it).
        sender: Identity,
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
        /// Who sent it (the NATS server vouches for it).
        sender: Identity,
        /// Its payload.
        payload: Bytes,
        /// Where to answer.
        reply: Option<async_nats::Subject>,
    },
    /// A whole area's state was checked against the manager's word and character-api.
    AreaStateChecked {
        /// The state.
        transfer: Box<AreaStateTransfer>,
        /// Where to answer.
        reply: Option<async_nats::Subject>,
        /// Whether it is believed.
        verdict: Result<(), Distrust>,
    },
    /// A handoff prepare was checked against the manager and character-api.
    PrepareChecked {
        /// The area named in the subject.
        area: AreaId,
        /// Who sent it.
        sender: Identity,
        /// The prepare.
        prepare: Box<HandoffPrepare>,
        /// Where to answer.
        reply: Option<async_nats::Subject>,
        /// Whether it is believed.
        verdict: Result<(), Distrust>,
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
        /// What came back: accepted or refused, or no usable answer (nobody owns the
        /// area, no answer in time: it may have accepted).
        outcome: Result<HandoffAnswer, AskError>,
    },
    /// The zone taking over this area answered the area's state (a drain or a lost area).
    EvacuationAnswered(Result<AreaStateAccepted, AskError>),
    /// The owner of an entity across the border answered a player's act on it (or never
    /// did, after retries).
    BorderActAnswered {
        /// The act.
        act: BorderAct,
        /// Its outcome, or why there is none.
        answer: Result<BorderOutcome, AskError>,
    },
    /// character-api and quest-api answered a preload started by `Expect`.
    Preloaded {
        /// The request.
        expect: Expect,
        /// Where to answer the manager.
        reply: Option<async_nats::Subject>,
        /// The data, or what failed.
        result: Result<Preload, PreloadError>,
    },
    /// A WebSocket presented a ticket in `Hello`.
    Connect {
        /// The ticket.
        ticket: Ticket,
        /// Where the zone sends this client's frames.
        link: Link,
        /// The player's entity, or why not.
        reply: RpcReplyPort<Result<EntityId, ConnectRefused>>,
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
    /// Moves a player (tests only: no wire reaches this).
    #[cfg(feature = "test-hooks")]
    Teleport {
        /// The character.
        character: CharacterId,
        /// Where to.
        to: protocol::Position,
    },
    /// Describe yourself (tests only).
    #[cfg(feature = "test-hooks")]
    Inspect(RpcReplyPort<ZoneReport>),
    /// Leave the area (saving everyone) and answer once every save is acknowledged.
    Shutdown(RpcReplyPort<()>),
    /// Panic, to exercise supervision (tests only: no wire reaches this).
    #[cfg(feature = "test-hooks")]
    Panic,
}
