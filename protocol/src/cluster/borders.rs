//! What the owners of neighbouring areas tell each other so the world looks and acts like
//! one (DESIGN.md, "Ghosts"): every tick a [`GhostFrame`] with the entities near their shared
//! edge or corner; a [`BorderAct`] when a player acts on an entity across the border; a
//! [`BorderChat`] when local chat reaches over it.
//!
//! All three travel on the recipient zone's own subject (`ZoneVerb::Ghosts`,
//! `ZoneVerb::BorderAct`, `ZoneVerb::BorderChat`), which only that zone's process may read,
//! and name the sender's area and epoch: the receiver believes them only from the current
//! owner of a neighbouring area by the manager's word, sent under that owner's identity.

use serde::{Deserialize, Serialize};

use crate::content::{ItemStack, NpcKind};
use crate::geometry::Position;
use crate::ids::{AreaId, EntityId, Epoch, EventId, ZoneId};

/// Who speaks, in every border message: the sending zone, the area it owns and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BorderSender {
    /// The sending zone.
    pub zone: ZoneId,
    /// The area it owns.
    pub area: AreaId,
    /// Its epoch for that area.
    pub epoch: Epoch,
}

/// Owner of an area → owner of a neighbouring area (`to_area`), once per tick: the
/// entities within the interest radius of their shared edge or corner, as ghosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostFrame {
    /// The sender.
    pub from: BorderSender,
    /// The neighbouring area addressed.
    pub to_area: AreaId,
    /// The sender's tick.
    pub tick: u32,
    /// A client-protocol frame (`docs/PROTOCOL.md`): a `Snapshot` (every ghost, at least
    /// once a second and after any change of owner) or a `Delta` against the previous
    /// frame sent to this area. Empty when nothing changed: the frame still says the
    /// sender is alive.
    #[serde(with = "serde_bytes")]
    pub update: Vec<u8>,
    /// What happened near the border since the last frame and that the neighbour's
    /// players near it should see too: `Damage` and `Death` frames, where they happened.
    #[serde(default)]
    pub events: Vec<GhostEvent>,
}

/// A client-protocol `Damage` or `Death` frame, and where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostEvent {
    /// Where, in 1/32 m steps (as positions on the client wire).
    pub pos: [i32; 3],
    /// The frame.
    #[serde(with = "serde_bytes")]
    pub frame: Vec<u8>,
}

/// What a player does to an entity across the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BorderAction {
    /// Hit an NPC.
    Hit {
        /// The NPC.
        npc: EntityId,
        /// The damage the attacker's weapon deals.
        damage: u16,
    },
    /// Pick up a ground item.
    Pickup {
        /// The item.
        item: EntityId,
        /// How many the picker's bags can take.
        room: u16,
    },
}

/// Requester → owner of the entity acted on: apply this once. Retried with the same
/// `request` until answered; the owner answers a retry with the first outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BorderAct {
    /// The idempotency key.
    pub request: EventId,
    /// The sender.
    pub from: BorderSender,
    /// The area of the entity acted on.
    pub to_area: AreaId,
    /// The acting player.
    pub actor: EntityId,
    /// Where the actor stands.
    pub actor_position: Position,
    /// What they do.
    pub action: BorderAction,
}

/// The answer to a [`BorderAct`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BorderOutcome {
    /// The hit landed.
    Hit {
        /// The NPC.
        npc: EntityId,
        /// Its kind (the attacker's quests count kills by kind).
        kind: NpcKind,
        /// Damage dealt.
        damage: u16,
        /// Hit points left.
        health: u32,
        /// Whether the hit killed it.
        killed: bool,
        /// Combat experience the attacker earns (non-zero only for the killing hit).
        xp: u32,
    },
    /// The item (or as much of it as the picker had room for) left the ground; it is the
    /// picker's now.
    Picked {
        /// What was taken.
        stack: ItemStack,
    },
    /// Not applied, for a game reason the player is told (`REJECTED`).
    Rejected {
        /// Why.
        reason: String,
    },
}

/// Speaker's zone → owner of a neighbouring area within local chat reach: deliver this
/// line to its players within reach of the speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BorderChat {
    /// The sender.
    pub from: BorderSender,
    /// The area addressed.
    pub to_area: AreaId,
    /// The speaker.
    pub speaker: EntityId,
    /// Their name.
    pub name: String,
    /// Where they stand.
    pub position: Position,
    /// What they said (already checked by the speaker's zone; checked again here).
    pub text: String,
}
