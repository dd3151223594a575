//! The payloads of client ⇄ zone packets. Each is a struct encoded as a MessagePack array
//! of its fields in declaration order; field order is therefore part of the format.

use serde::{Deserialize, Serialize};

use crate::client::entity::{EntityDelta, EntityState};
use crate::content::ItemStack;
use crate::ids::{AreaId, CharacterId, EntityId, QuestId, Ticket};
use crate::wire_enum::wire_enum;

/// Longest chat text accepted, in UTF-8 bytes.
pub const MAX_CHAT_BYTES: usize = 256;
/// Longest `Error` message a zone sends, in UTF-8 bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 512;
/// Longest `Transfer` URL, in bytes.
pub const MAX_URL_BYTES: usize = 512;

// ---------------------------------------------------------------- client → zone

/// The first packet on every connection: spends the ticket that admits the player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The one-time ticket from `join` or from a `Transfer`.
    pub ticket: Ticket,
    /// The client's protocol version; must equal the zone's.
    pub protocol_version: u16,
}

/// Movement intent for one tick. The zone decides where the player actually goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Increases by one per input; echoed in `InputAck` for client reconciliation.
    pub seq: u32,
    /// Wanted direction east-west, −127..=127 (scaled to a unit vector by the zone).
    pub move_x: i8,
    /// Wanted direction north-south, −127..=127.
    pub move_z: i8,
    /// Run instead of walk.
    pub running: bool,
    /// Facing, 1/256 turns.
    pub yaw: u8,
}

/// Attack an entity (NPC) in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attack {
    /// The entity attacked.
    pub target: EntityId,
}

/// Pick up an item lying on the ground within reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pickup {
    /// The ground item entity.
    pub item: EntityId,
}

/// Use (consume) the item in an inventory slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseItem {
    /// Inventory slot index.
    pub slot: u8,
}

/// Equip the item in an inventory slot (swapping out what was equipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquipItem {
    /// Inventory slot index.
    pub slot: u8,
}

/// Drop `count` items from an inventory slot onto the ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropItem {
    /// Inventory slot index.
    pub slot: u8,
    /// How many of the stack to drop.
    pub count: u16,
}

wire_enum! {
    /// Who hears a chat message.
    pub enum ChatChannel {
        /// Players within the local chat radius.
        Local = 0 => "local",
        /// Every player in the area.
        Area = 1 => "area",
    }
}

/// Say something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// Local or area-wide.
    pub channel: ChatChannel,
    /// At most [`MAX_CHAT_BYTES`] bytes of UTF-8, no control characters.
    pub text: String,
}

/// Ask for the player's quest log (answered with `QuestLog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestListRequest {}

/// Accept a quest from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestAccept {
    /// The quest.
    pub quest: QuestId,
}

/// Liveness and round-trip probe; answered with `Pong` carrying the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Any number; echoed.
    pub nonce: u32,
}

// ---------------------------------------------------------------- zone → client

/// The answer to a good `Hello`: the player is in the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The player's own entity in this zone.
    pub player: EntityId,
    /// The player's character.
    pub character: CharacterId,
    /// The area this zone simulates.
    pub area: AreaId,
    /// Ticks per second.
    pub tick_rate: u8,
    /// The zone's protocol version.
    pub protocol_version: u16,
    /// The zone's current tick number.
    pub tick: u32,
}

/// Everything the client can see, replacing whatever it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tick this describes.
    pub tick: u32,
    /// Every entity within the client's area of interest.
    pub entities: Vec<EntityState>,
}

/// One tick's changes to what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The tick this describes.
    pub tick: u32,
    /// The tick of the `Snapshot` or `Delta` this one applies to: the last one sent on this
    /// connection. A client holding another tick must reconnect.
    pub baseline: u32,
    /// Entities that came into view, in full.
    pub added: Vec<EntityState>,
    /// Entities in view whose visible state changed, as deltas.
    pub updated: Vec<EntityDelta>,
    /// Entities that left view or the world.
    pub removed: Vec<EntityId>,
}

/// The player's inventory, sent whole whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Coins.
    pub coins: u64,
    /// Every slot, empty ones as nil.
    pub slots: Vec<Option<ItemStack>>,
    /// The equipped weapon, if any.
    pub weapon: Option<ItemStack>,
}

/// A chat line heard by this player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The speaker's entity.
    pub from: EntityId,
    /// The speaker's name.
    pub name: String,
    /// Local or area-wide.
    pub channel: ChatChannel,
    /// What was said.
    pub text: String,
}

/// Damage dealt to an entity this player can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damage {
    /// Who dealt it.
    pub source: EntityId,
    /// Who took it.
    pub target: EntityId,
    /// How much.
    pub amount: u16,
    /// The target's health left.
    pub health: u16,
}

/// An entity died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Death {
    /// Who died.
    pub entity: EntityId,
    /// Who killed it.
    pub killer: EntityId,
}

/// The player's own health and progression, sent whenever they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Current health.
    pub health: u32,
    /// Maximum health.
    pub max_health: u32,
    /// Level.
    pub level: u32,
    /// Total experience.
    pub xp: u64,
}

wire_enum! {
    /// Where a character stands with a quest.
    pub enum QuestStatus {
        /// Prerequisites met, not accepted.
        Available = 0 => "available",
        /// Accepted, objectives counting.
        Active = 1 => "active",
        /// Done; rewards given.
        Completed = 2 => "completed",
        /// Prerequisites not met yet.
        Locked = 3 => "locked",
    }
}

/// One line of the quest log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestEntry {
    /// The quest.
    pub quest: QuestId,
    /// Its status for this character.
    pub status: QuestStatus,
    /// Progress per objective, in catalog order.
    pub counters: Vec<u32>,
}

/// The player's quest log (answer to `QuestList`, and after `QuestAccept`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestLog {
    /// Every quest of the catalog with this character's status.
    pub quests: Vec<QuestEntry>,
}

/// An objective of an active quest advanced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestProgress {
    /// The quest.
    pub quest: QuestId,
    /// The objective's index in the catalog.
    pub objective: u8,
    /// Count reached.
    pub count: u32,
    /// Count required.
    pub required: u32,
}

/// A quest completed; its rewards are already in the character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestCompleted {
    /// The quest.
    pub quest: QuestId,
    /// Experience awarded.
    pub xp: u64,
    /// Coins awarded.
    pub coins: u64,
    /// Items awarded.
    pub items: Vec<ItemStack>,
}

/// The zone has applied every input up to and including `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAck {
    /// Highest input sequence number applied.
    pub seq: u32,
}

/// The player now lives in another zone: connect to `ws_url` and send `Hello` with
/// `ticket`, then resend every input not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The other zone's WebSocket URL.
    pub ws_url: String,
    /// A one-time ticket for it.
    pub ticket: Ticket,
}

/// A numbered error. Unknown codes must be tolerated by clients (treat as generic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// The frame was not a packet: empty, or its payload is not valid MessagePack of the
    /// packet's shape.
    pub const MALFORMED: Self = Self(1);
    /// The packet id is not one this version knows.
    pub const UNKNOWN_PACKET: Self = Self(2);
    /// The frame is longer than the maximum frame size.
    pub const FRAME_TOO_LARGE: Self = Self(3);
    /// A well-formed packet that is not allowed now (e.g. anything before `Hello`).
    pub const UNEXPECTED_PACKET: Self = Self(4);
    /// `Hello` named another protocol version.
    pub const VERSION_MISMATCH: Self = Self(5);
    /// The ticket is unknown or already spent.
    pub const BAD_TICKET: Self = Self(6);
    /// The ticket expired before it was spent.
    pub const TICKET_EXPIRED: Self = Self(7);
    /// No `Hello` arrived within the deadline.
    pub const HELLO_TIMEOUT: Self = Self(8);
    /// Too many packets of one kind; the excess was dropped.
    pub const RATE_LIMITED: Self = Self(9);
    /// A well-formed request the game rules refuse (out of range, on cooldown, ...).
    pub const REJECTED: Self = Self(10);
    /// The connection is closed for repeated abuse.
    pub const KICKED: Self = Self(11);
    /// The zone no longer holds this player's latest state; rejoin through the manager.
    pub const STALE_STATE: Self = Self(12);
    /// The zone is shutting down or lost its area; rejoin through the manager.
    pub const ZONE_UNAVAILABLE: Self = Self(13);
    /// The connection sent nothing for too long.
    pub const IDLE_TIMEOUT: Self = Self(14);
    /// The client did not read fast enough and fell too far behind.
    pub const TOO_SLOW: Self = Self(15);
    /// A fault of the zone's own.
    pub const INTERNAL: Self = Self(16);
}

/// Something went wrong; `code` says what, `message` says it for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What went wrong.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

/// The answer to `Ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The ping's nonce.
    pub nonce: u32,
}

/// How fast the zone's clock runs against real time (time dilation): a zone whose tick
/// overruns its budget slows its own clock rather than falling behind, so each tick still
/// moves the world by `1 / tick_rate` s of game time but ticks come `permille / 1000` as
/// often. Sent when it changes, and after `Welcome` when it is not 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRate {
    /// Game time per real time, per mille: 1000 is normal speed, 500 half speed
    /// (1..=1000).
    pub permille: u16,
}

impl TimeRate {
    /// Normal speed.
    pub const NORMAL: Self = Self { permille: 1000 };

    /// The ticks a second a client gets at this rate, given `Welcome.tick_rate`.
    pub fn ticks_per_second(self, tick_rate: u8) -> f32 {
        f32::from(tick_rate) * f32::from(self.permille) / 1000.0
    }
}
