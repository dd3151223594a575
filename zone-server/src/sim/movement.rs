//! Characters stepped through the physics world: each player's intent becomes a walk or a
//! run against the area's colliders, held inside the area and its handoff margin; a player
//! past the border is reported as crossing; a dead player respawns when due.

use protocol::client::entity::{AnimState, yaw_radians};
use protocol::{CharacterId, EntityId, Position};

use super::{Effect, RUN_SPEED, Simulation, TickOutput, WALK_SPEED};

impl Simulation {
    /// Steps every player, in player order.
    pub(super) fn move_players(&mut self, ids: &[EntityId], out: &mut TickOutput) {
        for &id in ids {
            self.move_player(id, out);
        }
    }

    fn move_player(&mut self, id: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let dt = self.dt();
        let spawn = self.content.player_spawn;
        let bounds = self.grid.bounds(self.content.area);
        let band = self.grid.handoff_margin + 0.5;
        let Some(player) = self.players.get_mut(&id).filter(|p| !p.frozen()) else {
            return;
        };
        if let Some(at) = player.respawn_at {
            if tick >= at {
                player.respawn_at = None;
                let c = &mut player.character;
                c.stats.health = c.stats.max_health;
                c.position = spawn;
                player.stats_changed();
            }
            return;
        }
        if player.anim == AnimState::Attack
            && tick >= player.attack_ready.saturating_sub(self.cfg.tick_rate / 4)
        {
            player.anim = AnimState::Idle;
        }
        player.character.yaw = yaw_radians(player.facing);
        let intent = player.intent;
        if intent.still() {
            if player.anim != AnimState::Attack {
                player.anim = AnimState::Idle;
            }
            return;
        }
        let speed = if intent.running {
            RUN_SPEED
        } else {
            WALK_SPEED
        };
        let c = &mut player.character;
        let (x, z) = (c.position.x, c.position.z);
        let (mut nx, mut nz) =
            self.physics
                .move_character(x, z, intent.x * speed * dt, intent.z * speed * dt, dt);
        // A player may step a little past the border (the handoff margin and a bit), never
        // off the world.
        nx = nx.clamp(bounds.min_x - band, bounds.max_x + band);
        nz = nz.clamp(bounds.min_z - band, bounds.max_z + band);
        if self.grid.area_at(nx, nz).is_none() {
            (nx, nz) = (x, z);
        }
        c.position.x = nx;
        c.position.z = nz;
        let character = c.id;
        player.changed();
        if player.anim != AnimState::Attack {
            player.anim = if intent.running {
                AnimState::Run
            } else {
                AnimState::Walk
            };
        }
        if let Some(target) = self.grid.handoff_target(self.content.area, nx, nz) {
            out.effects.push(Effect::Crossing {
                player: id,
                character,
                target,
            });
        }
    }

    /// Puts a player somewhere (operator and test tool; nothing on the wire can do this).
    pub fn teleport(&mut self, character: CharacterId, to: Position) {
        if let Some(p) = self
            .by_character
            .get(&character)
            .and_then(|id| self.players.get_mut(id))
        {
            p.character.position = to;
            p.changed();
        }
    }
}
