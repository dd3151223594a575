//! What [`ZoneMsg::Inspect`] answers: a zone's state as tests see it. Built only with the
//! `test-hooks` feature; the production binary has no way to ask for it.
//!
//! [`ZoneMsg::Inspect`]: super::ZoneMsg::Inspect

use protocol::cluster::{GroundItemSnapshot, NpcSnapshot, ZoneState};
use protocol::http::character::Character;
use protocol::{AreaId, EntityId, Epoch};

/// A player as seen by [`ZoneMsg::Inspect`] (tests).
#[derive(Debug, Clone)]
pub struct PlayerView {
    /// Their entity.
    pub entity: EntityId,
    /// Their character (current).
    pub character: Character,
}

/// A zone's state as seen by [`ZoneMsg::Inspect`] (tests).
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
    /// Ghosts held: id, owning area, position.
    pub ghosts: Vec<(protocol::EntityId, AreaId, [i32; 3])>,
}
