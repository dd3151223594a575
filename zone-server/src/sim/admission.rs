//! Players entering and leaving the simulation: a join or a handoff admits them (put
//! somewhere legal, their carried inputs queued, their session opened), a departure or a
//! handoff takes them out with everything needed to save or hand them on, and a handoff in
//! progress holds them frozen so the state it carries stays exact.

use protocol::client::packets as pk;
use protocol::client::{PROTOCOL_VERSION, ServerPacket};
use protocol::cluster::PlayerTransfer;
use protocol::http::character::Character;
use protocol::http::quest::QuestProgress;
use protocol::{AreaId, EntityId};

use super::Simulation;
use super::movement::hold_inside;
use super::outbox::{inventory_packet, stats_packet};
use super::player::{Player, Presence};
use super::quests::GameEvent;

/// A player joining with the state as loaded: no inputs carried from elsewhere.
pub fn joining(character: Character, quests: Vec<QuestProgress>) -> PlayerTransfer {
    PlayerTransfer {
        character,
        quests,
        pending_inputs: Vec::new(),
        last_input_seq: 0,
        entity: None,
    }
}

impl Simulation {
    /// Admits a player (a join, a handoff or a migration); returns their entity and the
    /// frames that open their session (`Welcome`, `Inventory`, `Stats`, `InputAck`; the
    /// `Snapshot` follows next tick).
    pub fn add_player(&mut self, mut arrival: PlayerTransfer) -> (EntityId, Vec<ServerPacket>) {
        let entity = self.keep_or_mint(arrival.entity);
        let character = &mut arrival.character;
        let outer = self.grid.bounds(self.content.area);
        let band = self.grid.handoff_margin + 1.0;
        let p = character.position;
        let inside = p.is_finite()
            && p.x >= outer.min_x - band
            && p.x < outer.max_x + band
            && p.z >= outer.min_z - band
            && p.z < outer.max_z + band
            && self.grid.area_at(p.x, p.z).is_some();
        if !inside || self.physics.blocked(p.x, p.z) {
            character.position = self.content.player_spawn;
        }
        character.area = self.content.area;
        let next_save = self.tick + self.secs(self.cfg.save_interval_secs as f32);
        let player = Player::new(entity, arrival, next_save);
        let opening = vec![
            ServerPacket::Welcome(pk::Welcome {
                player: entity,
                character: player.character.id,
                area: self.content.area,
                tick_rate: self.cfg.tick_rate.min(255) as u8,
                protocol_version: PROTOCOL_VERSION,
                tick: self.tick,
            }),
            inventory_packet(&player.character),
            stats_packet(&player.character),
            ServerPacket::InputAck(pk::InputAck {
                seq: player.last_input_seq,
            }),
        ];
        self.by_character.insert(player.character.id, entity);
        let visit = GameEvent::Visit(self.content.area);
        super::quests::report(&self.catalog, &player, visit, &mut self.deferred.effects);
        self.players.insert(entity, player);
        (entity, opening)
    }

    /// Takes a player out; their latest state is returned for saving or handing on.
    pub fn remove_player(&mut self, id: EntityId) -> Option<PlayerTransfer> {
        let player = self.players.remove(&id)?;
        self.by_character.remove(&player.character.id);
        Some(player.into_transfer())
    }

    /// Freezes a player for a handoff and returns their state as it stands, which stays
    /// exact while frozen: their packets wait unapplied, nothing hits them, no save starts.
    pub fn freeze(&mut self, id: EntityId) -> Option<PlayerTransfer> {
        let player = self.players.get_mut(&id)?;
        player.presence = Presence::Frozen;
        Some(player.transfer())
    }

    /// Lets a frozen player play on (their handoff was refused or timed out).
    pub fn thaw(&mut self, id: EntityId) {
        if let Some(player) = self.players.get_mut(&id) {
            player.presence = Presence::Playing;
        }
    }

    /// A handoff of the player into `target` did not go through (refused, unanswered, or
    /// the area has no zone yet): from now on they are held inside the border towards it,
    /// put back inside at once if they stood past it, until a retry goes through or they
    /// walk away from it. So a player never plays on in an area this zone does not own.
    pub fn hold_at_border(&mut self, id: EntityId, target: AreaId) {
        let area = self.content.area;
        let bounds = self.grid.bounds(area);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        player.border_hold = Some(target);
        let at = &mut player.character.position;
        let (x, z) = hold_inside(&bounds, area, target, at.x, at.z);
        if (x, z) != (at.x, at.z) {
            (at.x, at.z) = (x, z);
            player.changed();
        }
    }
}
