//! The test hooks' side in the actor (`test-hooks` feature only): moving a player and
//! describing the zone. No wire reaches them, and the production binary does not have them.

use protocol::{CharacterId, Position};

use super::ZoneActorState;
use crate::zone::{PlayerView, ZoneReport};
use service_kit::time::now_millis;

impl ZoneActorState {
    pub(super) fn teleport(&mut self, character: CharacterId, to: Position) {
        if let Some(held) = &mut self.held {
            held.sim.teleport(character, to);
        }
    }

    pub(super) fn report(&self) -> ZoneReport {
        let players = self.held.as_ref().map_or_else(Vec::new, |h| {
            self.outbox
                .players()
                .into_iter()
                .filter_map(|id| {
                    h.sim.player(id).map(|p| PlayerView {
                        entity: id,
                        character: p.character.clone(),
                    })
                })
                .collect()
        });
        ZoneReport {
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
            tick: self.held.as_ref().map_or(0, |h| h.sim.tick_number()),
            players,
            pending_arrivals: self.arrivals.len(),
            saves_in_flight: self.saves.len(),
            world: self
                .held
                .as_ref()
                .map_or_else(Default::default, |h| h.sim.world_state(now_millis())),
            ghosts: self
                .held
                .as_ref()
                .map_or_else(Vec::new, |h| h.sim.ghost_positions()),
        }
    }
}
