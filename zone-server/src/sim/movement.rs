//! Characters stepped through the physics world: each player's intent becomes a walk or a
//! run against the area's colliders, held inside the area and its handoff margin; a player
//! past the border is reported as crossing; one whose handoff did not go through is held
//! inside the border (and reported as crossing while they press against it, so the zone
//! retries); a dead player respawns when due.

use protocol::client::entity::{AnimState, yaw_radians};
use protocol::{AreaBounds, AreaId, CharacterId, EntityId, Position};

use super::{Effect, RUN_SPEED, Simulation, TickOutput, WALK_SPEED};

/// How far inside the border a held player stands, metres.
const HOLD_INSIDE: f32 = 0.05;
/// A held player this close to the border presses against it (the zone retries the
/// handoff); one who walks further away is let go.
const HOLD_REACH: f32 = 1.0;

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
        let area = self.content.area;
        if let Some(held_towards) = player.border_hold {
            (nx, nz) = hold_inside(&bounds, area, held_towards, nx, nz);
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
        let target = match player.border_hold {
            Some(held_towards) if at_border(&bounds, area, held_towards, nx, nz) => {
                Some(held_towards)
            }
            Some(_) => {
                player.border_hold = None;
                None
            }
            None => self.grid.handoff_target(area, nx, nz),
        };
        if let Some(target) = target {
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

/// (x, z) kept inside `area`'s border on the sides that face `towards` (a neighbour).
pub(super) fn hold_inside(
    bounds: &AreaBounds,
    area: AreaId,
    towards: AreaId,
    x: f32,
    z: f32,
) -> (f32, f32) {
    let x = match towards.x.cmp(&area.x) {
        std::cmp::Ordering::Greater => x.min(bounds.max_x - HOLD_INSIDE),
        std::cmp::Ordering::Less => x.max(bounds.min_x + HOLD_INSIDE),
        std::cmp::Ordering::Equal => x,
    };
    let z = match towards.z.cmp(&area.z) {
        std::cmp::Ordering::Greater => z.min(bounds.max_z - HOLD_INSIDE),
        std::cmp::Ordering::Less => z.max(bounds.min_z + HOLD_INSIDE),
        std::cmp::Ordering::Equal => z,
    };
    (x, z)
}

/// Whether (x, z) is within reach of `area`'s border with `towards` on every side that
/// faces it.
fn at_border(bounds: &AreaBounds, area: AreaId, towards: AreaId, x: f32, z: f32) -> bool {
    let near = |value: f32, here: u16, there: u16, min: f32, max: f32| match there.cmp(&here) {
        std::cmp::Ordering::Greater => max - value <= HOLD_REACH,
        std::cmp::Ordering::Less => value - min <= HOLD_REACH,
        std::cmp::Ordering::Equal => true,
    };
    near(x, area.x, towards.x, bounds.min_x, bounds.max_x)
        && near(z, area.z, towards.z, bounds.min_z, bounds.max_z)
}
