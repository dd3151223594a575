//! What a zone-server tells its operators over HTTP about the players it hosted.

use serde::{Deserialize, Serialize};

use crate::{AreaId, CharacterId, ZoneId};

/// One stay of a player in a zone, from admission to removal (`GET /v1/stays` on a
/// zone-server). Times are wall-clock microseconds since the Unix epoch, so stays recorded
/// by different processes on one host compare directly: a player is in at most one zone at
/// every instant exactly when no two of their stays overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlayerStay {
    /// The character.
    pub character: CharacterId,
    /// The zone.
    pub zone: ZoneId,
    /// Its area.
    pub area: AreaId,
    /// Admitted (the ticket spent).
    pub entered_us: u64,
    /// Removed from the simulation; `None` while still there.
    pub left_us: Option<u64>,
    /// The highest input sequence number already applied when admitted (carried in by a
    /// handoff or a migration; 0 on a join).
    pub entry_seq: u32,
    /// The highest input sequence number applied when removed (as admitted while open).
    pub exit_seq: u32,
    /// Inputs applied during the stay (0 while open): with gap-free client sequence numbers, an input was
    /// lost exactly when this is less than `exit_seq - entry_seq`.
    pub inputs_applied: u64,
    /// When the handoff that ended this stay began (the border-crossing tick), if one did.
    pub handoff_started_us: Option<u64>,
    /// When the first input of the stay was applied.
    pub first_input_us: Option<u64>,
    /// The sequence number of that first input: after a handoff, `entry_seq + 1`; after a
    /// join, wherever the client's numbering had got to.
    pub first_input_seq: Option<u32>,
    /// How the stay began.
    pub arrived_by: ArrivedBy,
}

/// How a player came into a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ArrivedBy {
    /// Through the manager's `join`.
    Join,
    /// Handed over by a neighbouring zone.
    Handoff,
    /// Moved with the whole area when its zone was drained.
    Migration,
}
