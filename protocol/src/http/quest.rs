//! quest-api bodies: the catalog's quests, a character's progress, and progress events.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
pub use crate::client::packets::QuestStatus;
use crate::content::{ItemKind, ItemStack, NpcKind};
use crate::ids::{AreaId, CharacterId, EventId, QuestId};

/// The largest `amount` one progress event may carry: the top of JSON Schema's `int32`, so
/// every client's integer type holds it, and far past any real event (a kill counts 1, a
/// pickup one stack). quest-api refuses larger amounts with a `400`.
pub const MAX_PROGRESS_AMOUNT: u32 = i32::MAX as u32;

/// What an objective counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObjectiveKind {
    /// Kill NPCs of a kind.
    Kill {
        /// The kind.
        npc: NpcKind,
    },
    /// Gather (pick up) items of a kind.
    Gather {
        /// The kind.
        item: ItemKind,
    },
    /// Enter an area.
    Visit {
        /// The area.
        area: AreaId,
    },
}

/// One objective: `count` of `kind`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// What counts.
    pub kind: ObjectiveKind,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::objective_count))]
    /// How many are needed, at least 1.
    pub count: u32,
}

/// What completing a quest gives.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rewards {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::xp))]
    /// Experience.
    pub xp: u64,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::coins))]
    /// Coins.
    pub coins: u64,
    /// Items.
    #[serde(default)]
    pub items: Vec<ItemStack>,
}

/// A quest of the catalog.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quest {
    /// Stable id.
    pub id: QuestId,
    /// Title shown to players.
    pub title: String,
    /// Description shown to players.
    pub description: String,
    /// Quests that must be completed before this one can be accepted.
    #[serde(default)]
    pub prerequisites: Vec<QuestId>,
    /// What must be done, all of it.
    pub objectives: Vec<Objective>,
    /// What completing it gives.
    pub rewards: Rewards,
}

/// `GET /v1/quests`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestCatalog {
    /// Every quest.
    pub quests: Vec<Quest>,
}

/// A character's standing with one quest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestProgress {
    /// The quest.
    pub quest_id: QuestId,
    /// Locked, available, active or completed.
    pub status: QuestStatus,
    /// Progress per objective, in catalog order (all 0 unless active or completed).
    pub counters: Vec<u32>,
    /// When it was accepted (milliseconds since the Unix epoch).
    // `UnixMillis` is an alias: spelled out so the schema is an integer, not a `$ref` to a
    // `u64` schema that no document defines.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub accepted_at: Option<UnixMillis>,
    /// When it was completed (milliseconds since the Unix epoch).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub completed_at: Option<UnixMillis>,
}

/// `GET /v1/characters/{id}/quests`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharacterQuests {
    /// The character.
    pub character_id: CharacterId,
    /// Every quest of the catalog with this character's standing.
    pub quests: Vec<QuestProgress>,
}

/// `POST /v1/characters/{id}/quests/{quest_id}/progress`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressEvent {
    /// Idempotency key: a repeated event id is answered as the first time, counted once.
    pub event_id: EventId,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::objective_index))]
    /// The objective's index in the quest.
    pub objective: u8,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::progress_amount))]
    /// How much it advanced: 1 to [`MAX_PROGRESS_AMOUNT`].
    pub amount: u32,
}

/// The answer to a progress event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressOutcome {
    /// The quest's standing after the event.
    pub progress: QuestProgress,
    /// The rewards, present only on the answer to the event that completed the quest
    /// (and on replays of that same event id).
    pub rewards: Option<Rewards>,
    /// Whether this event id had been seen before (nothing was counted this time).
    pub duplicate: bool,
}
