//! Combat: a player's attack on an NPC (checked for life, cooldown, target and range; a
//! kill drops loot, grants combat xp and counts for quests), and the NPCs' turn (their AI
//! picks targets among the players and hits them; a player brought to zero health dies
//! and respawns later). Everyone near sees the `Damage` and `Death` frames.

use protocol::client::ServerPacket;
use protocol::client::entity::AnimState;
use protocol::client::packets as pk;
use protocol::content::ItemStack;
use protocol::http::character::Skill;
use protocol::{EntityId, Position};

use super::items::GROUND_ITEM_SECS;
use super::npc::NpcHit;
use super::player::{Intent, Player, level_of};
use super::quests::GameEvent;
use super::{PLAYER_ATTACK_RANGE, Simulation, TickOutput, inventory};

pub(super) const PLAYER_BASE_DAMAGE: u16 = 8;
pub(super) const ATTACK_COOLDOWN_SECS: f32 = 0.6;
const PLAYER_RESPAWN_SECS: u32 = 3;
/// How long a killed NPC stays dead.
pub(super) const NPC_RESPAWN_SECS: u32 = 15;

impl Simulation {
    /// A player's attack on an NPC (of this area, or a ghost of a neighbour's).
    pub(super) fn player_attacks(&mut self, id: EntityId, target: EntityId, out: &mut TickOutput) {
        if !self.npc_index.contains_key(&target) {
            return self.attack_across_border(id, target, out);
        }
        let tick = self.tick;
        let cooldown = self.secs(ATTACK_COOLDOWN_SECS);
        let respawn = self.secs(NPC_RESPAWN_SECS as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if let Err(why) = ready_to_attack(player, tick) {
            return Self::reject(out, id, why);
        }
        let Some(&index) = self.npc_index.get(&target) else {
            return Self::reject(out, id, "no such target");
        };
        let npc = &mut self.npcs[index];
        if !npc.alive() {
            return Self::reject(out, id, "target is dead");
        }
        if npc.pos.planar_distance(&player.character.position) > PLAYER_ATTACK_RANGE {
            return Self::reject(out, id, "target out of range");
        }
        let damage = swing(player, tick, cooldown);
        let killed = npc.take_hit(id, damage, tick, respawn);
        let (at, health, spec) = (npc.pos, npc.health, npc.spec);
        self.broadcast_near(
            at,
            ServerPacket::Damage(pk::Damage {
                source: id,
                target,
                amount: damage,
                health: health.min(u32::from(u16::MAX)) as u16,
            }),
            out,
        );
        if !killed {
            return;
        }
        self.broadcast_near(
            at,
            ServerPacket::Death(pk::Death {
                entity: target,
                killer: id,
            }),
            out,
        );
        let despawn = tick + self.secs(GROUND_ITEM_SECS as f32);
        let loot = ItemStack {
            item: spec.drop,
            count: 1,
        };
        self.spawn_ground_item(loot, at, Some(despawn));
        if let Some(player) = self.players.get_mut(&id) {
            let c = &mut player.character;
            *c.stats.xp.entry(Skill::Combat).or_default() += u64::from(spec.xp);
            c.stats.level = level_of(c);
            player.stats_changed();
            let kill = GameEvent::Kill(spec.kind);
            super::quests::report(&self.catalog, player, kill, &mut out.effects);
        }
    }

    /// The NPCs' turn: each thinks (wander, chase, attack, leash home), then their hits
    /// land on the players they chose.
    pub(super) fn run_npcs(&mut self, out: &mut TickOutput) {
        let (tick, dt, rate) = (self.tick, self.dt(), self.cfg.tick_rate);
        let mut hits: Vec<NpcHit> = Vec::new();
        let mut near = std::mem::take(&mut self.near);
        for npc in &mut self.npcs {
            let players = &self.players;
            let (spatial, frame) = (&self.spatial, &self.frame);
            let nearest_player = |at: Position, radius: f32| {
                near.clear();
                spatial.within(at.x, at.z, radius, &mut near);
                near.iter()
                    .map(|&(d2, slot)| (d2, frame[slot as usize].0))
                    .filter(|(_, id)| players.get(id).is_some_and(Player::targetable))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, id)| id)
            };
            let player_pos = |id: EntityId| {
                players
                    .get(&id)
                    .filter(|p| p.targetable())
                    .map(|p| p.character.position)
            };
            if let Some(hit) = npc.think(
                tick,
                dt,
                rate,
                &self.physics,
                &mut self.rng,
                nearest_player,
                player_pos,
            ) {
                hits.push(hit);
            }
        }
        self.near = near;
        let respawn = self.secs(PLAYER_RESPAWN_SECS as f32);
        for hit in hits {
            let Some(player) = self.players.get_mut(&hit.target).filter(|p| !p.frozen()) else {
                continue;
            };
            let stats = &mut player.character.stats;
            stats.health = stats.health.saturating_sub(u32::from(hit.damage));
            let (at, health) = (player.character.position, stats.health);
            player.stats_changed();
            if health == 0 {
                player.respawn_at = Some(tick + respawn);
                player.intent = Intent::STILL;
            }
            self.broadcast_near(
                at,
                ServerPacket::Damage(pk::Damage {
                    source: hit.npc,
                    target: hit.target,
                    amount: hit.damage,
                    health: health.min(u32::from(u16::MAX)) as u16,
                }),
                out,
            );
            if health == 0 {
                self.broadcast_near(
                    at,
                    ServerPacket::Death(pk::Death {
                        entity: hit.target,
                        killer: hit.npc,
                    }),
                    out,
                );
            }
        }
    }

    /// Sends `packet` to every player whose area of interest may hold `at`, here and (by
    /// the next ghost frames) in the neighbouring areas near it.
    pub(super) fn broadcast_near(
        &mut self,
        at: Position,
        packet: ServerPacket,
        out: &mut TickOutput,
    ) {
        if self.near_a_border(at) {
            self.record_border_event(at, packet.clone());
        }
        self.broadcast_here(at, packet, out);
    }

    /// Sends `packet` to this area's players whose area of interest may hold `at`.
    pub(super) fn broadcast_here(
        &mut self,
        at: Position,
        packet: ServerPacket,
        out: &mut TickOutput,
    ) {
        self.near.clear();
        self.spatial
            .within(at.x, at.z, self.cfg.aoi_radius, &mut self.near);
        for &(_, slot) in &self.near {
            let other = self.frame[slot as usize].0;
            if self.players.contains_key(&other) {
                out.send(other, packet.clone());
            }
        }
    }
}

/// Whether `player` can swing now (here or across a border), or why not.
pub(super) fn ready_to_attack(player: &Player, tick: u32) -> Result<(), &'static str> {
    if !player.alive() {
        return Err("dead");
    }
    if tick < player.attack_ready {
        return Err("attack on cooldown");
    }
    Ok(())
}

/// `player` swings: the cooldown starts, the attack shows, and the damage it deals.
pub(super) fn swing(player: &mut Player, tick: u32, cooldown: u32) -> u16 {
    player.attack_ready = tick + cooldown;
    player.anim = AnimState::Attack;
    PLAYER_BASE_DAMAGE + inventory::weapon_bonus(&player.character.inventory)
}
