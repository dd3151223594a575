//! Acting across a border: a player attacks an NPC or picks up an item that is a ghost here
//! (it belongs to a neighbouring area), or speaks in local chat near the border.
//!
//! The acting side checks what it can (alive, cooldown, range to the ghost) and asks the
//! entity's owner (`Effect::BorderAct`); the owner applies the act **once** per idempotency
//! key, checking range and damage against its own state, and answers with the outcome, which
//! the acting side applies to its player (experience, quest kills, the picked-up stack). A
//! retry of the same key gets the first outcome again. Both sides show the outcome to their
//! own players (`Damage`, `Death`); the NPC's health, death and loot reach the acting side's
//! clients through the ghost stream, like everything else about the NPC.

use std::collections::VecDeque;

use protocol::client::ServerPacket;
use protocol::client::entity::{AnimState, EntityKind, dequantize_position};
use protocol::client::packets::{self as pk, ChatChannel};
use protocol::cluster::{BorderAct, BorderAction, BorderOutcome};
use protocol::content::{ItemKind, ItemStack};
use protocol::http::character::Skill;
use protocol::{EntityId, EventId, Position};
use rustc_hash::FxHashMap;

use super::combat::{
    ATTACK_COOLDOWN_SECS, NPC_RESPAWN_SECS, PLAYER_BASE_DAMAGE, ready_to_attack, swing,
};
use super::items::{GROUND_ITEM_SECS, RESOURCE_RESPAWN_SECS, gathered};
use super::player::level_of;
use super::quests::GameEvent;
use super::{
    BorderChatLine, Effect, LOCAL_CHAT_RADIUS, PICKUP_RANGE, PLAYER_ATTACK_RANGE, Simulation,
    TickOutput, inventory,
};

/// How many applied acts are remembered for answering retries: far more than can be in
/// flight within a retry window.
const REMEMBERED_ACTS: usize = 8192;
/// How far an actor may seem to be from the entity, beyond the range, when the owner checks:
/// the actor saw a ghost up to a tick old, at 1/32 m steps.
const RANGE_SLACK: f32 = 1.5;

/// The outcome of acts already applied here, by idempotency key (bounded, oldest first out).
#[derive(Debug, Default)]
pub(super) struct Applied {
    outcomes: FxHashMap<EventId, BorderOutcome>,
    order: VecDeque<EventId>,
}

impl Applied {
    fn remember(&mut self, key: EventId, outcome: BorderOutcome) {
        if self.outcomes.insert(key, outcome).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > REMEMBERED_ACTS {
            if let Some(old) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
    }
}

/// How a border act the acting side asked for ended.
#[derive(Debug, Clone, PartialEq)]
pub enum BorderActAnswer {
    /// The owner applied it (or refused it for a game reason).
    Outcome(BorderOutcome),
    /// No answer: the owner may or may not have applied it.
    Unanswered(String),
}

impl Simulation {
    // ------------------------------------------------------------ the acting side

    /// A player attacks `target`, a ghost NPC of a neighbouring area.
    pub(super) fn attack_across_border(
        &mut self,
        id: EntityId,
        target: EntityId,
        out: &mut TickOutput,
    ) {
        let tick = self.tick;
        let cooldown = self.secs(ATTACK_COOLDOWN_SECS);
        let (Some(ghost), Some(owner)) = (self.ghosts.get(target), self.ghosts.source_of(target))
        else {
            return Self::reject(out, id, "no such target");
        };
        let (ghost_at, alive) = (
            dequantize_position(ghost.pos),
            ghost.kind == EntityKind::Npc && ghost.anim != AnimState::Dead && ghost.health > 0,
        );
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if let Err(why) = ready_to_attack(player, tick) {
            return Self::reject(out, id, why);
        }
        if !alive {
            return Self::reject(out, id, "target is dead");
        }
        if ghost_at.planar_distance(&player.character.position) > PLAYER_ATTACK_RANGE {
            return Self::reject(out, id, "target out of range");
        }
        let damage = swing(player, tick, cooldown);
        out.effects.push(Effect::BorderAct {
            to_area: owner,
            actor: id,
            actor_position: player.character.position,
            action: BorderAction::Hit {
                npc: target,
                damage,
            },
        });
    }

    /// A player picks up `item`, a ghost item of a neighbouring area.
    pub(super) fn pickup_across_border(
        &mut self,
        id: EntityId,
        item: EntityId,
        out: &mut TickOutput,
    ) {
        let (Some(ghost), Some(owner)) = (self.ghosts.get(item), self.ghosts.source_of(item))
        else {
            return Self::reject(out, id, "no such item");
        };
        if ghost.kind != EntityKind::Item {
            return Self::reject(out, id, "no such item");
        }
        let (ghost_at, kind) = (dequantize_position(ghost.pos), ItemKind(ghost.type_id));
        let Some(player) = self.players.get(&id) else {
            return;
        };
        if !player.alive() {
            return Self::reject(out, id, "dead");
        }
        if ghost_at.planar_distance(&player.character.position) > PICKUP_RANGE {
            return Self::reject(out, id, "item out of reach");
        }
        let room = room_for(&player.character.inventory, kind);
        if room == 0 {
            return Self::reject(out, id, "inventory is full");
        }
        out.effects.push(Effect::BorderAct {
            to_area: owner,
            actor: id,
            actor_position: player.character.position,
            action: BorderAction::Pickup { item, room },
        });
    }

    /// The owner's answer to a border act of player `actor` (who stood at `at` when they
    /// acted). Applied at once; the frames go out with the next tick. A stack picked up by
    /// a player who has left or is being handed over lies down where they stood: never lost.
    pub fn border_act_answered(&mut self, actor: EntityId, at: Position, answer: BorderActAnswer) {
        let mut out = std::mem::take(&mut self.deferred);
        match answer {
            // The `Damage` and `Death` come with the owner's next ghost frame, to every
            // player near the NPC on both sides at once; the hit's reward is earned here.
            BorderActAnswer::Outcome(BorderOutcome::Hit {
                kind, killed, xp, ..
            }) => {
                if let Some(player) = self.players.get_mut(&actor).filter(|_| killed) {
                    let c = &mut player.character;
                    *c.stats.xp.entry(Skill::Combat).or_default() += u64::from(xp);
                    c.stats.level = level_of(c);
                    player.stats_changed();
                    let kill = GameEvent::Kill(kind);
                    super::quests::report(&self.catalog, player, kill, &mut out.effects);
                }
            }
            BorderActAnswer::Outcome(BorderOutcome::Picked { stack }) => {
                self.take_picked(actor, at, stack, &mut out);
            }
            BorderActAnswer::Outcome(BorderOutcome::Rejected { reason }) => {
                if self.players.contains_key(&actor) {
                    Self::reject(&mut out, actor, &reason);
                }
            }
            BorderActAnswer::Unanswered(why) => {
                if self.players.contains_key(&actor) {
                    Self::reject(
                        &mut out,
                        actor,
                        &format!("no answer from across the border: {why}"),
                    );
                }
            }
        }
        self.deferred = out;
    }

    fn take_picked(
        &mut self,
        actor: EntityId,
        at: Position,
        stack: ItemStack,
        out: &mut TickOutput,
    ) {
        let Some(player) = self.players.get_mut(&actor).filter(|p| !p.frozen()) else {
            self.spawn_ground_item(stack, at, None);
            return;
        };
        let left = inventory::add_stack(&mut player.character.inventory, stack);
        gathered(
            &self.catalog,
            player,
            stack.item,
            stack.count - left.count,
            out,
        );
        if left.count > 0 {
            // The bags filled meanwhile: what does not fit lies at the player's feet.
            let feet = player.character.position;
            self.spawn_ground_item(left, feet, None);
        }
    }

    /// A player's local chat line, to the neighbouring areas it reaches (their owners
    /// deliver it to their players within reach).
    pub(super) fn chat_across_border(&self, line: &BorderChatLine, out: &mut TickOutput) {
        let me = self.content.area;
        for area in self.grid.neighbours(me) {
            let (dx, dz) = (
                i32::from(area.x) - i32::from(me.x),
                i32::from(area.z) - i32::from(me.z),
            );
            let reach = self.border_distance(dx, dz, line.position.x, line.position.z);
            if reach.is_some_and(|d| d <= LOCAL_CHAT_RADIUS) {
                out.effects.push(Effect::BorderChat {
                    to_area: area,
                    chat: line.clone(),
                });
            }
        }
    }

    // ------------------------------------------------------------ the owner's side

    /// Applies a border act on one of this area's entities, once per idempotency key (a
    /// retry is answered with the first outcome). The sender is already known to own the
    /// neighbouring area it names.
    pub fn apply_border_act(&mut self, act: &BorderAct) -> BorderOutcome {
        if let Some(outcome) = self.border_acts.outcomes.get(&act.request) {
            metrics::counter!("zone_border_acts_total", "result" => "repeated").increment(1);
            return outcome.clone();
        }
        let mut out = std::mem::take(&mut self.deferred);
        let outcome = match act.action {
            BorderAction::Hit { npc, damage } => self.hit_from_across(act, npc, damage, &mut out),
            BorderAction::Pickup { item, room } => self.pickup_from_across(act, item, room),
        };
        self.deferred = out;
        let result = match outcome {
            BorderOutcome::Rejected { .. } => "rejected",
            _ => "applied",
        };
        metrics::counter!("zone_border_acts_total", "result" => result).increment(1);
        self.border_acts.remember(act.request, outcome.clone());
        outcome
    }

    fn hit_from_across(
        &mut self,
        act: &BorderAct,
        target: EntityId,
        damage: u16,
        out: &mut TickOutput,
    ) -> BorderOutcome {
        let tick = self.tick;
        let respawn = self.secs(NPC_RESPAWN_SECS as f32);
        let rejected = |reason: &str| BorderOutcome::Rejected {
            reason: reason.to_owned(),
        };
        let Some(&index) = self.npc_index.get(&target) else {
            return rejected("no such target");
        };
        let npc = &mut self.npcs[index];
        if !npc.alive() {
            return rejected("target is dead");
        }
        if !act.actor_position.is_finite()
            || npc.pos.planar_distance(&act.actor_position) > PLAYER_ATTACK_RANGE + RANGE_SLACK
        {
            return rejected("target out of range");
        }
        let damage = damage.min(max_hit_damage());
        let killed = npc.take_damage(damage, tick, respawn);
        let (at, health, spec) = (npc.pos, npc.health, npc.spec);
        self.show_hit(act.actor, target, at, damage, health, killed, out);
        if killed {
            let despawn = tick + self.secs(GROUND_ITEM_SECS as f32);
            let loot = ItemStack {
                item: spec.drop,
                count: 1,
            };
            self.spawn_ground_item(loot, at, Some(despawn));
        }
        BorderOutcome::Hit {
            npc: target,
            kind: spec.kind,
            damage,
            health,
            killed,
            xp: if killed { spec.xp } else { 0 },
        }
    }

    fn pickup_from_across(&mut self, act: &BorderAct, item: EntityId, room: u16) -> BorderOutcome {
        let tick = self.tick;
        let respawn = self.secs(RESOURCE_RESPAWN_SECS as f32);
        let rejected = |reason: &str| BorderOutcome::Rejected {
            reason: reason.to_owned(),
        };
        let Some(ground) = self.items.get_mut(&item) else {
            return rejected("no such item");
        };
        if !act.actor_position.is_finite()
            || ground.pos.planar_distance(&act.actor_position) > PICKUP_RANGE + RANGE_SLACK
        {
            return rejected("item out of reach");
        }
        if room == 0 {
            return rejected("inventory is full");
        }
        let taken = ground.stack.count.min(room);
        let stack = ItemStack {
            item: ground.stack.item,
            count: taken,
        };
        if taken == ground.stack.count {
            if let Some(node) = ground.node {
                self.node_respawn[node] = Some(tick + respawn);
            }
            self.items.remove(&item);
        } else {
            ground.stack.count -= taken;
        }
        BorderOutcome::Picked { stack }
    }

    /// A local chat line from across the border, to this area's players within reach.
    pub fn border_chat(&mut self, line: BorderChatLine) {
        if !line.position.is_finite() {
            return;
        }
        let message = ServerPacket::Chat(pk::ChatMessage {
            from: line.speaker,
            name: line.name,
            channel: ChatChannel::Local,
            text: line.text,
        });
        let mut out = std::mem::take(&mut self.deferred);
        let mut near = std::mem::take(&mut self.near);
        near.clear();
        self.spatial.within(
            line.position.x,
            line.position.z,
            LOCAL_CHAT_RADIUS,
            &mut near,
        );
        for &(_, slot) in &near {
            let id = self.frame[slot as usize].0;
            if self.players.contains_key(&id) {
                out.send(id, message.clone());
            }
        }
        self.near = near;
        self.deferred = out;
    }

    // ------------------------------------------------------------ both sides

    /// Shows a hit (and a kill) to this area's players near the NPC.
    #[allow(clippy::too_many_arguments)] // the hit's facts, each used once
    fn show_hit(
        &mut self,
        source: EntityId,
        target: EntityId,
        at: Position,
        damage: u16,
        health: u32,
        killed: bool,
        out: &mut TickOutput,
    ) {
        self.broadcast_near(
            at,
            ServerPacket::Damage(pk::Damage {
                source,
                target,
                amount: damage,
                health: health.min(u32::from(u16::MAX)) as u16,
            }),
            out,
        );
        if killed {
            self.broadcast_near(
                at,
                ServerPacket::Death(pk::Death {
                    entity: target,
                    killer: source,
                }),
                out,
            );
        }
    }
}

/// The most damage any hit can deal: the best weapon's bonus on the base damage.
fn max_hit_damage() -> u16 {
    let best = ItemKind::TABLE
        .iter()
        .filter_map(|spec| match spec.use_effect {
            protocol::content::ItemUse::Weapon(bonus) => Some(bonus),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    PLAYER_BASE_DAMAGE.saturating_add(best)
}

/// How many items of `kind` the bags can still take.
fn room_for(inv: &protocol::http::character::Inventory, kind: ItemKind) -> u16 {
    let mut trial = inv.clone();
    let left = inventory::add_stack(
        &mut trial,
        ItemStack {
            item: kind,
            count: u16::MAX,
        },
    );
    u16::MAX - left.count
}
