//! The cluster's messages (DESIGN.md, "Zone lifecycle" and "Flows"). Requests name the
//! epoch they concern; a zone answers a request for an epoch it does not hold with an
//! [`ErrorReply`] and changes nothing. Every reply is a [`Reply`]: `{"Ok": ...}` or
//! `{"Err": ErrorReply}`.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::client::packets::Input;
use crate::content::{ItemStack, NpcKind};
use crate::geometry::Position;
use crate::http::character::Character;
use crate::http::quest::QuestProgress;
use crate::ids::{AccountId, AreaId, CharacterId, EntityId, Epoch, HandoffId, Ticket, ZoneId};
use crate::wire_enum::wire_enum;

/// A reply to a cluster request.
pub type Reply<T> = Result<T, ErrorReply>;

wire_enum! {
    /// A zone's lifecycle state.
    pub enum ZoneState {
        /// Process starting, not yet registered.
        Starting = 0 => "starting",
        /// Waiting for an area.
        Idle = 1 => "idle",
        /// Simulating an area.
        Allocated = 2 => "allocated",
        /// Handing its area to another zone.
        Draining = 3 => "draining",
        /// Missed heartbeats (judged by the manager, never reported by a zone).
        Unhealthy = 4 => "unhealthy",
    }
}

wire_enum! {
    /// Why a cluster request failed.
    pub enum ErrorKind {
        /// The payload did not decode as the request.
        Malformed = 0 => "malformed",
        /// The request names an epoch the zone does not hold (or an older one).
        WrongEpoch = 1 => "wrong_epoch",
        /// The zone is not in a state that allows this (e.g. allocate while allocated).
        WrongState = 2 => "wrong_state",
        /// The zone has no room (slots, players).
        Full = 3 => "full",
        /// A service the zone needed (character-api, quest-api) failed.
        Upstream = 4 => "upstream",
        /// The named thing (character, handoff, area) is unknown.
        NotFound = 5 => "not_found",
        /// No idle zone is left to allocate.
        NoIdleZone = 6 => "no_idle_zone",
        /// A fault of the answering service.
        Internal = 7 => "internal",
        /// The sender may not say this: it speaks for a zone or an area that is not its
        /// own, or claims an epoch the manager never gave it.
        Forbidden = 8 => "forbidden",
    }
}

/// The error half of every [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What failed, for logs and people.
    pub message: String,
}

impl ErrorReply {
    /// An error reply.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.word(), self.message)
    }
}

// ---------------------------------------------------------------- lifecycle

/// A zone announces itself (on start, on becoming Idle, and when the manager restarts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    /// The zone.
    pub zone: ZoneId,
    /// Its process's WebSocket URL for clients.
    pub ws_url: String,
    /// Its state now.
    pub state: ZoneState,
    /// The area it holds, if any (after a manager restart).
    pub area: Option<AreaId>,
    /// The epoch it holds that area under.
    pub epoch: Option<Epoch>,
}

/// The manager's answer to [`Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAck {
    /// How often to heartbeat.
    pub heartbeat_interval_ms: u32,
}

/// A zone's periodic report (every second).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The zone.
    pub zone: ZoneId,
    /// Its process's WebSocket URL.
    pub ws_url: String,
    /// Its state.
    pub state: ZoneState,
    /// The area it simulates.
    pub area: Option<AreaId>,
    /// The epoch it holds the area under.
    pub epoch: Option<Epoch>,
    /// Players connected.
    pub players: u32,
    /// NPCs alive.
    pub npcs: u32,
    /// Tick duration p99 over the last interval, microseconds.
    pub tick_p99_us: u32,
    /// Ghosts held: entities of neighbouring areas shown to this area's players.
    #[serde(default)]
    pub ghosts: u32,
    /// How full the area is and how fast the zone's clock runs.
    #[serde(default)]
    pub crowding: Crowding,
    /// When it was sent (zone clock).
    pub sent_at: UnixMillis,
}

/// How full a zone's area is and how fast its clock runs: what a crowd does to it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crowding {
    /// Players the area takes at most (joins and handoffs beyond it are refused); 0 from
    /// a zone that does not say.
    pub capacity: u32,
    /// Its players held at a border right now, their handoff refused (the next area full,
    /// or not answering).
    pub held_at_border: u32,
    /// Joins and handoffs into the area refused because it was full, since the last
    /// heartbeat.
    pub refused_full: u32,
    /// Game time per real time, per mille (time dilation): 1000 is normal speed.
    pub time_rate_permille: u16,
}

impl Default for Crowding {
    /// What an older zone, which says nothing of it, is taken to mean.
    fn default() -> Self {
        Self {
            capacity: 0,
            held_at_border: 0,
            refused_full: 0,
            time_rate_permille: 1000,
        }
    }
}

/// Manager → zone: take `area` under `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocate {
    /// The zone addressed.
    pub zone: ZoneId,
    /// The area.
    pub area: AreaId,
    /// The new epoch.
    pub epoch: Epoch,
    /// For a drain: the zone that will send the area's whole state (its NPCs and ground
    /// items are believed only from it).
    #[serde(default)]
    pub handover_from: Option<Handover>,
}

/// The zone a drained area's state comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The draining zone.
    pub zone: ZoneId,
    /// The NATS identity serving it.
    pub identity: String,
}

/// A zone's answer to [`Allocate`]: the area is loaded and ticking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocated {
    /// The zone.
    pub zone: ZoneId,
    /// The area.
    pub area: AreaId,
    /// The epoch.
    pub epoch: Epoch,
    /// Where clients connect.
    pub ws_url: String,
}

/// Manager → zone: give `area` (held under `epoch`) up and go Idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The zone addressed.
    pub zone: ZoneId,
    /// The area.
    pub area: AreaId,
    /// The epoch it holds.
    pub epoch: Epoch,
}

/// A zone's answer to [`Release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The zone, now Idle.
    pub zone: ZoneId,
}

/// Manager → zone: the area (lost under `lost_epoch`) now belongs to `new_owner`; hand
/// any players still here to it and go Idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostArea {
    /// The zone addressed.
    pub zone: ZoneId,
    /// The area.
    pub area: AreaId,
    /// The epoch the zone held.
    pub lost_epoch: Epoch,
    /// The new owner.
    pub new_owner: ZoneId,
    /// The new owner's epoch.
    pub new_epoch: Epoch,
    /// The NATS identity serving the new owner (where the players' state is sent); empty
    /// when the manager does not know it (the players are then saved and rejoin).
    #[serde(default)]
    pub new_owner_identity: String,
}

/// Zone → manager: please make sure `area` has an owner (a player waits at its border).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRequest {
    /// The area wanted.
    pub area: AreaId,
    /// Who asks.
    pub requested_by: ZoneId,
}

/// The manager's answer to [`AreaRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaOwner {
    /// The area.
    pub area: AreaId,
    /// Its owner.
    pub zone: ZoneId,
    /// The owner's epoch.
    pub epoch: Epoch,
    /// The owner's WebSocket URL.
    pub ws_url: String,
    /// The owner's NATS identity (the last token of every subject it sends on); empty
    /// when the manager does not know it.
    #[serde(default)]
    pub identity: String,
}

/// Manager → every zone, every heartbeat interval: who owns each allocated area. Zones
/// check neighbours' handoffs against it, so handoffs between allocated areas go on while
/// the manager is away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerMap {
    /// Every allocated area's owner.
    pub owners: Vec<AreaOwner>,
}

/// Zone → manager: who owns `area` now (the manager's word, without allocating it); a
/// zone asks before it believes a neighbour's handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaOwnerQuery {
    /// The area.
    pub area: AreaId,
}

// ---------------------------------------------------------------- join

/// Manager → zone: player `character` will connect with `ticket`; preload their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    /// The zone addressed.
    pub zone: ZoneId,
    /// The area the player joins.
    pub area: AreaId,
    /// The epoch the manager believes the zone holds.
    pub epoch: Epoch,
    /// The account.
    pub account: AccountId,
    /// The character.
    pub character: CharacterId,
    /// The ticket the client will present.
    pub ticket: Ticket,
    /// When the ticket stops being accepted.
    pub expires_at: UnixMillis,
}

/// A zone's answer to [`Expect`]: character and quests are in hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectReady {
    /// The zone.
    pub zone: ZoneId,
    /// Where the client connects.
    pub ws_url: String,
    /// The ticket (as sent).
    pub ticket: Ticket,
    /// When it expires.
    pub expires_at: UnixMillis,
}

// ---------------------------------------------------------------- handoff

/// A player's whole state as it moves between zones, and in and out of a zone's
/// simulation: zone-server's `Simulation` admits and gives back exactly this, so what a
/// handoff or a migration carries is what was simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerTransfer {
    /// The character, as last saved or newer (its `version` is the one to save against).
    pub character: Character,
    /// The character's quest standings.
    pub quests: Vec<QuestProgress>,
    /// Inputs received but not yet applied.
    pub pending_inputs: Vec<Input>,
    /// The highest input sequence number applied.
    pub last_input_seq: u32,
    /// The player's entity id, which they keep in the zone they enter (DESIGN.md,
    /// invariant 6); absent for a join, which mints one.
    #[serde(default)]
    pub entity: Option<EntityId>,
}

/// Zone A → owner of `to_area`: take this player, who is crossing the border.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffPrepare {
    /// Correlates prepare, commit and abort.
    pub handoff: HandoffId,
    /// The sending zone.
    pub from_zone: ZoneId,
    /// The area the player leaves.
    pub from_area: AreaId,
    /// The sender's epoch for it.
    pub from_epoch: Epoch,
    /// The area the player enters.
    pub to_area: AreaId,
    /// The player.
    pub player: PlayerTransfer,
}

/// The answer to [`HandoffPrepare`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandoffAnswer {
    /// A pending arrival exists; the client may connect.
    Accepted {
        /// The handoff.
        handoff: HandoffId,
        /// The receiving zone.
        zone: ZoneId,
        /// Its epoch for the area.
        epoch: Epoch,
        /// Where the client connects.
        ws_url: String,
        /// The ticket for the client's `Hello`.
        ticket: Ticket,
        /// When the ticket expires.
        expires_at: UnixMillis,
    },
    /// Not now (full, not ready, already has the player); keep the player and retry.
    Refused {
        /// The handoff.
        handoff: HandoffId,
        /// Why.
        reason: String,
    },
}

/// Zone A → owner of `to_area`: the player is removed here; their state is yours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffCommit {
    /// The handoff.
    pub handoff: HandoffId,
    /// The area entered.
    pub to_area: AreaId,
    /// The epoch named in `Accepted`.
    pub to_epoch: Epoch,
    /// The character.
    pub character: CharacterId,
}

/// Zone A → owner of `to_area`: forget the pending arrival; the player stays with A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffAbort {
    /// The handoff.
    pub handoff: HandoffId,
    /// The area.
    pub to_area: AreaId,
    /// The epoch named in `Accepted`.
    pub to_epoch: Epoch,
    /// The character.
    pub character: CharacterId,
}

/// The answer to commit and abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffAck {
    /// The handoff.
    pub handoff: HandoffId,
}

// ---------------------------------------------------------------- migration

/// Manager → draining zone: hand the whole area to `target_zone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrate {
    /// The zone addressed (the one draining).
    pub zone: ZoneId,
    /// Its area.
    pub area: AreaId,
    /// Its epoch.
    pub epoch: Epoch,
    /// The zone that takes over.
    pub target_zone: ZoneId,
    /// The new epoch (already given to `target_zone`).
    pub target_epoch: Epoch,
    /// The NATS identity of `target_zone`'s process (where the area's state is sent).
    #[serde(default)]
    pub target_identity: String,
}

/// The draining zone's answer to [`Migrate`], once every client has been sent `Transfer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrated {
    /// The zone, now Idle.
    pub zone: ZoneId,
    /// Players transferred.
    pub players: u32,
}

/// An NPC as it moves between zones in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NpcSnapshot {
    /// Its kind.
    pub kind: NpcKind,
    /// Index of its spawn point in the area's content.
    pub spawn: u32,
    /// Where it is.
    pub position: Position,
    /// Its health.
    pub health: u32,
}

/// An item on the ground as it moves between zones in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroundItemSnapshot {
    /// The stack.
    pub stack: ItemStack,
    /// Where it lies.
    pub position: Position,
    /// When it disappears; 0 for never (a resource waiting at its node).
    pub despawn_at: UnixMillis,
    /// The resource node it grew on (index into the area's content), if any: the node
    /// regrows only once it is picked up.
    #[serde(default)]
    pub node: Option<u32>,
    /// Its entity id, which it keeps in the zone taking the area over.
    #[serde(default)]
    pub entity: Option<EntityId>,
}

/// Draining zone → target zone: the whole area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaStateTransfer {
    /// The target zone addressed.
    pub zone: ZoneId,
    /// The area.
    pub area: AreaId,
    /// The target's (new) epoch.
    pub epoch: Epoch,
    /// The draining zone.
    pub from_zone: ZoneId,
    /// Every player.
    pub players: Vec<PlayerTransfer>,
    /// Every NPC.
    pub npcs: Vec<NpcSnapshot>,
    /// Every ground item.
    pub ground_items: Vec<GroundItemSnapshot>,
}

/// A ticket for one migrated player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerTicket {
    /// The character.
    pub character: CharacterId,
    /// Its ticket.
    pub ticket: Ticket,
}

/// The target zone's answer to [`AreaStateTransfer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaStateAccepted {
    /// The target zone.
    pub zone: ZoneId,
    /// Where clients connect.
    pub ws_url: String,
    /// One ticket per player.
    pub tickets: Vec<PlayerTicket>,
    /// When the tickets expire.
    pub expires_at: UnixMillis,
}

// ---------------------------------------------------------------- dashboard feeds

/// A player's place, for the dashboard's dots.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlayerDot {
    /// The character.
    pub character: CharacterId,
    /// East-west.
    pub x: f32,
    /// North-south.
    pub z: f32,
}

/// Zone → manager, a few times a second: where its players are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionSample {
    /// The zone.
    pub zone: ZoneId,
    /// Its area.
    pub area: AreaId,
    /// Its players.
    pub players: Vec<PlayerDot>,
}

/// Zone → manager: a handoff completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffEvent {
    /// The character.
    pub character: CharacterId,
    /// The area left.
    pub from: AreaId,
    /// The area entered.
    pub to: AreaId,
    /// When the commit was sent.
    pub at: UnixMillis,
}
