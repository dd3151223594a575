//! The authoritative simulation of one area: pure game logic with no I/O, driven by the
//! zone actor. Between ticks, decoded client packets are pushed onto each player's event
//! stack; [`Simulation::tick`] drains them in arrival order, validates every intent, moves
//! characters through the physics world, runs NPCs, combat, items and quest matching, and
//! returns the frames each client should get plus the side effects (saves, quest-api
//! calls, border crossings) that the actor performs outside the tick.

pub mod content;
pub mod inventory;
pub mod npc;
pub mod physics;
pub mod player;
pub mod quests;
mod rng;
pub mod spatial;
pub mod view;
mod world_state;

use std::sync::Arc;

use protocol::client::entity::{
    AnimState, EntityKind, EntityMotion, EntityState, quantize_position, yaw_radians,
};
use protocol::client::packets::{self as pk, ChatChannel, ErrorCode, Input};
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::cluster::PlayerTransfer;
use protocol::content::ItemStack;
use protocol::http::character::{Character, Skill};
use protocol::http::quest::{ProgressOutcome, Quest, QuestProgress};
use protocol::{AreaId, CharacterId, EntityId, Position, QuestId, WorldGrid};
use rustc_hash::FxHashMap;

use content::AreaContent;
use npc::{Npc, NpcHit};
use physics::Physics;
use player::{EVENT_STACK_CAPACITY, Player};
use quests::GameEvent;
use rng::SplitMix;
use spatial::SpatialGrid;

/// Tunables of the simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Ticks per second.
    pub tick_rate: u32,
    /// Clients see entities within this radius...
    pub aoi_radius: f32,
    /// ...up to this many, nearest first.
    pub aoi_max: usize,
    /// Seconds between periodic saves of a player whose state changed.
    pub save_interval_secs: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tick_rate: 20,
            aoi_radius: 48.0,
            aoi_max: 64,
            save_interval_secs: 10,
        }
    }
}

/// Walking speed, m/s.
pub const WALK_SPEED: f32 = 4.0;
/// Running speed, m/s: the most any input can move a player.
pub const RUN_SPEED: f32 = 7.0;
/// How close a player must be to hit an NPC.
pub const PLAYER_ATTACK_RANGE: f32 = 3.0;
/// How close a player must be to pick an item up.
pub const PICKUP_RANGE: f32 = 2.5;
/// Local chat reaches this far.
pub const LOCAL_CHAT_RADIUS: f32 = 30.0;
/// Packets processed per player per tick; the rest of the stack is dropped and counted.
pub const EVENTS_PER_TICK: usize = 16;
const PLAYER_BASE_DAMAGE: u16 = 8;
const ATTACK_COOLDOWN_SECS: f32 = 0.6;
const PLAYER_RESPAWN_SECS: u32 = 3;
const NPC_RESPAWN_SECS: u32 = 15;
const GROUND_ITEM_SECS: u32 = 120;
const RESOURCE_RESPAWN_SECS: u32 = 30;
const XP_PER_LEVEL: u64 = 100;

/// A player entering the simulation (a join or a handoff).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The character as loaded or carried.
    pub character: Character,
    /// Quest standings.
    pub quests: Vec<QuestProgress>,
    /// Highest input sequence number already applied elsewhere.
    pub last_input_seq: u32,
    /// Inputs received elsewhere but not applied yet.
    pub pending_inputs: Vec<Input>,
}

impl Arrival {
    /// A player joining with the state as loaded (no inputs carried from elsewhere).
    pub fn joined(character: Character, quests: Vec<QuestProgress>) -> Self {
        Self {
            character,
            quests,
            last_input_seq: 0,
            pending_inputs: Vec::new(),
        }
    }
}

/// A player carried in by a handoff or a migration.
impl From<PlayerTransfer> for Arrival {
    fn from(t: PlayerTransfer) -> Self {
        Self {
            character: t.character,
            quests: t.quests,
            last_input_seq: t.last_input_seq,
            pending_inputs: t.pending_inputs,
        }
    }
}

/// A player handed on by a handoff or a migration.
impl From<Departure> for PlayerTransfer {
    fn from(d: Departure) -> Self {
        Self {
            character: d.character,
            quests: d.quests,
            pending_inputs: d.pending_inputs,
            last_input_seq: d.last_input_seq,
        }
    }
}

/// A player leaving the simulation, with everything needed to save or hand them on.
#[derive(Debug, Clone)]
pub struct Departure {
    /// The character, current.
    pub character: Character,
    /// Quest standings.
    pub quests: Vec<QuestProgress>,
    /// Highest input sequence number applied.
    pub last_input_seq: u32,
    /// Inputs not applied yet.
    pub pending_inputs: Vec<Input>,
}

/// Work the actor does outside the tick.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Save this character (compare-and-set on its `version`).
    Save {
        /// The player.
        player: EntityId,
        /// The character to write.
        character: Box<Character>,
    },
    /// Report quest progress to quest-api.
    QuestProgress {
        /// The character.
        character: CharacterId,
        /// The quest.
        quest: QuestId,
        /// Objective index.
        objective: u8,
        /// How much.
        amount: u32,
    },
    /// Ask quest-api to accept a quest.
    QuestAccept {
        /// The character.
        character: CharacterId,
        /// The quest.
        quest: QuestId,
    },
    /// The player is past the border into `target`.
    Crossing {
        /// The player.
        player: EntityId,
        /// The character.
        character: CharacterId,
        /// The area entered.
        target: AreaId,
    },
}

/// What one tick produced.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// Packets for clients, in order.
    pub frames: Vec<(EntityId, ServerPacket)>,
    /// Side effects for the actor.
    pub effects: Vec<Effect>,
    /// Players whose stay had its first input applied this tick, with that input's seq.
    pub first_inputs: Vec<(EntityId, u32)>,
}

impl TickOutput {
    /// Empties every list, keeping their allocations.
    pub fn clear(&mut self) {
        self.frames.clear();
        self.effects.clear();
        self.first_inputs.clear();
    }
}

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No such player here.
    #[error("no such player")]
    UnknownPlayer,
    /// The player's event stack is full; the packet was dropped.
    #[error("event stack full")]
    StackFull,
}

#[derive(Debug, Clone)]
struct GroundItem {
    entity: EntityId,
    stack: ItemStack,
    pos: Position,
    despawn_at: Option<u32>,
    node: Option<usize>,
}

impl GroundItem {
    fn motion(&self) -> EntityMotion {
        EntityMotion {
            pos: quantize_position(self.pos),
            yaw: 0,
            anim: AnimState::Idle,
            health: 100,
        }
    }

    fn state(&self) -> EntityState {
        let m = self.motion();
        EntityState {
            id: self.entity,
            kind: EntityKind::Item,
            type_id: self.stack.item.0,
            pos: m.pos,
            yaw: 0,
            anim: m.anim,
            health: m.health,
            name: None,
        }
    }
}

/// The simulation of one area.
pub struct Simulation {
    cfg: SimConfig,
    grid: WorldGrid,
    content: AreaContent,
    physics: Physics,
    catalog: Arc<Vec<Quest>>,
    tick: u32,
    next_entity: u32,
    players: FxHashMap<EntityId, Player>,
    by_character: FxHashMap<CharacterId, EntityId>,
    npcs: Vec<Npc>,
    npc_index: FxHashMap<EntityId, usize>,
    items: FxHashMap<EntityId, GroundItem>,
    node_respawn: Vec<Option<u32>>,
    spatial: SpatialGrid,
    /// Every entity's motion this tick, indexed by entity id (ids are dense).
    motions: Vec<Option<EntityMotion>>,
    motions_set: Vec<usize>,
    visible: Vec<EntityId>,
    rng: SplitMix,
    ids: Vec<EntityId>,
    near: Vec<(f32, EntityId)>,
    deferred: TickOutput,
    /// The packets one player's turn applies (kept for its allocation).
    batch: Vec<ClientPacket>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("area", &self.content.area)
            .field("tick", &self.tick)
            .field("players", &self.players.len())
            .field("npcs", &self.npcs.len())
            .finish()
    }
}

impl Simulation {
    /// Loads `area`: its deterministic content, colliders, NPCs and resource items.
    pub fn new(area: AreaId, grid: WorldGrid, cfg: SimConfig, catalog: Arc<Vec<Quest>>) -> Self {
        let content = AreaContent::generate(area, &grid);
        let physics = Physics::new(&content);
        let mut sim = Self {
            cfg,
            grid,
            physics,
            catalog,
            tick: 0,
            next_entity: 1,
            players: FxHashMap::default(),
            by_character: FxHashMap::default(),
            npcs: Vec::new(),
            npc_index: FxHashMap::default(),
            items: FxHashMap::default(),
            node_respawn: vec![Some(0); content.resource_nodes.len()],
            spatial: {
                let b = grid.bounds(area);
                let band = grid.handoff_margin + 2.0;
                SpatialGrid::covering(
                    b.min_x - band,
                    b.min_z - band,
                    b.max_x + band,
                    b.max_z + band,
                )
            },
            motions: Vec::new(),
            motions_set: Vec::new(),
            visible: Vec::new(),
            rng: SplitMix::new(u64::from(area.x) * 7919 + u64::from(area.z)),
            ids: Vec::new(),
            near: Vec::new(),
            deferred: TickOutput::default(),
            batch: Vec::with_capacity(EVENTS_PER_TICK),
            content,
        };
        for (i, spawn) in sim.content.npc_spawns.clone().iter().enumerate() {
            let entity = sim.new_entity();
            if let Some(npc) = Npc::new(entity, spawn.kind, i as u32, spawn.position) {
                sim.npc_index.insert(entity, sim.npcs.len());
                sim.npcs.push(npc);
            }
        }
        sim.tend_items();
        sim.rebuild_spatial();
        sim
    }

    /// The area simulated.
    pub fn area(&self) -> AreaId {
        self.content.area
    }

    /// The area's static content.
    pub fn content(&self) -> &AreaContent {
        &self.content
    }

    /// The current tick number.
    pub fn tick_number(&self) -> u32 {
        self.tick
    }

    /// Players present.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// NPCs alive.
    pub fn npc_count(&self) -> usize {
        self.npcs.iter().filter(|n| n.alive()).count()
    }

    /// The player playing `character`, if here.
    pub fn player_of(&self, character: CharacterId) -> Option<EntityId> {
        self.by_character.get(&character).copied()
    }

    /// A player's current state, for tests, the dashboard and handoffs.
    pub fn player(&self, id: EntityId) -> Option<&Player> {
        self.players.get(&id)
    }

    /// Every player's character id and ground position (for the dashboard feed).
    pub fn player_positions(&self) -> impl Iterator<Item = (CharacterId, f32, f32)> + '_ {
        self.players.values().map(|p| {
            (
                p.character.id,
                p.character.position.x,
                p.character.position.z,
            )
        })
    }

    /// Ground items lying here, as (entity, stack, position).
    pub fn ground_items(&self) -> impl Iterator<Item = (EntityId, ItemStack, Position)> + '_ {
        self.items.values().map(|i| (i.entity, i.stack, i.pos))
    }

    /// NPCs, for tests and migration.
    pub fn npcs(&self) -> &[Npc] {
        &self.npcs
    }

    fn new_entity(&mut self) -> EntityId {
        let id = EntityId(self.next_entity);
        self.next_entity += 1;
        id
    }

    fn secs(&self, secs: f32) -> u32 {
        (secs * self.cfg.tick_rate as f32).round() as u32
    }

    fn dt(&self) -> f32 {
        1.0 / self.cfg.tick_rate as f32
    }

    /// Admits a player; returns their entity and the frames that open their session
    /// (`Welcome`, `Inventory`, `Stats`, `InputAck`; the `Snapshot` follows next tick).
    pub fn add_player(&mut self, arrival: Arrival) -> (EntityId, Vec<ServerPacket>) {
        let entity = self.new_entity();
        let mut character = arrival.character;
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
        let mut player = Player::new(
            entity,
            character,
            arrival.quests,
            arrival.last_input_seq,
            self.tick + self.secs(self.cfg.save_interval_secs as f32),
        );
        player.dirty = true;
        for input in arrival
            .pending_inputs
            .into_iter()
            .filter(|i| i.seq > arrival.last_input_seq)
        {
            player.events.push_back(ClientPacket::Input(input));
        }
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
                seq: arrival.last_input_seq,
            }),
        ];
        player.inventory_changed = false;
        player.stats_changed = false;
        self.by_character.insert(player.character.id, entity);
        let visits = quests::advanced_objectives(
            &self.catalog,
            &player.quests,
            GameEvent::Visit(self.content.area),
        );
        let character_id = player.character.id;
        self.players.insert(entity, player);
        self.defer_quest_effects(character_id, visits);
        (entity, opening)
    }

    /// Takes a player out; their latest state is returned for saving or handing on.
    pub fn remove_player(&mut self, id: EntityId) -> Option<Departure> {
        let player = self.players.remove(&id)?;
        self.by_character.remove(&player.character.id);
        if let Some(slot) = self.motions.get_mut(id.0 as usize) {
            *slot = None;
        }
        let pending_inputs = player.pending_inputs();
        Some(Departure {
            character: player.character,
            quests: player.quests,
            last_input_seq: player.last_input_seq,
            pending_inputs,
        })
    }

    /// Freezes a player for a handoff and returns their state as it stands, which stays
    /// exact while frozen: their packets wait unapplied, nothing hits them, no save starts.
    pub fn freeze(&mut self, id: EntityId) -> Option<Departure> {
        let player = self.players.get_mut(&id)?;
        player.frozen = true;
        Some(Departure {
            character: player.character.clone(),
            quests: player.quests.clone(),
            last_input_seq: player.last_input_seq,
            pending_inputs: player.pending_inputs(),
        })
    }

    /// Lets a frozen player play on (their handoff was refused or timed out).
    pub fn thaw(&mut self, id: EntityId) {
        if let Some(player) = self.players.get_mut(&id) {
            player.frozen = false;
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
            p.dirty = true;
        }
    }

    /// Appends a decoded packet to the player's event stack (bounded).
    pub fn push(&mut self, id: EntityId, packet: ClientPacket) -> Result<(), PushError> {
        let player = self.players.get_mut(&id).ok_or(PushError::UnknownPlayer)?;
        if player.events.len() >= EVENT_STACK_CAPACITY {
            metrics::counter!("zone_inputs_dropped_total", "reason" => "stack_full").increment(1);
            return Err(PushError::StackFull);
        }
        player.events.push_back(packet);
        Ok(())
    }

    /// A save of `character` succeeded with `version`: later saves must name it.
    pub fn saved(&mut self, character: CharacterId, version: u64) {
        if let Some(p) = self
            .by_character
            .get(&character)
            .and_then(|id| self.players.get_mut(id))
        {
            p.character.version = p.character.version.max(version);
        }
    }

    /// quest-api answered a progress event.
    pub fn quest_progressed(&mut self, character: CharacterId, outcome: ProgressOutcome) {
        let Some(&id) = self.by_character.get(&character) else {
            return;
        };
        let Some(quest) = self
            .catalog
            .iter()
            .find(|q| q.id == outcome.progress.quest_id)
            .cloned()
        else {
            return;
        };
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        let new = &outcome.progress;
        for (i, count) in new.counters.iter().enumerate() {
            let required = quest.objectives.get(i).map_or(0, |o| o.count);
            self.deferred.frames.push((
                id,
                ServerPacket::QuestProgress(pk::QuestProgress {
                    quest: new.quest_id.clone(),
                    objective: i.min(255) as u8,
                    count: *count,
                    required,
                }),
            ));
        }
        let rewards = outcome.rewards.clone();
        if let Some(overflow) =
            quests::absorb_outcome(&mut player.character, &mut player.quests, outcome)
            && let Some(rewards) = rewards
        {
            let at = player.character.position;
            player.inventory_changed = true;
            player.stats_changed = true;
            player.urgent_save = true;
            self.deferred.frames.push((
                id,
                ServerPacket::QuestCompleted(pk::QuestCompleted {
                    quest: quest.id,
                    xp: rewards.xp,
                    coins: rewards.coins,
                    items: rewards.items,
                }),
            ));
            // What does not fit in the bags is put at the player's feet, never lost.
            for stack in overflow {
                self.spawn_ground_item(stack, at, None);
            }
        }
    }

    /// Puts items on the ground at `at` (rewards of a player who already left, that did not
    /// fit in their bags).
    pub fn drop_items(&mut self, at: Position, stacks: Vec<ItemStack>) {
        for stack in stacks {
            self.spawn_ground_item(stack, at, None);
        }
    }

    /// quest-api answered an accept request.
    pub fn quest_accepted(
        &mut self,
        character: CharacterId,
        result: Result<QuestProgress, String>,
    ) {
        let Some(&id) = self.by_character.get(&character) else {
            return;
        };
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        match result {
            Ok(progress) => {
                upsert_standing(&mut player.quests, progress);
                let log = quest_log(&player.quests);
                let visits = quests::advanced_objectives(
                    &self.catalog,
                    &player.quests,
                    GameEvent::Visit(self.content.area),
                );
                self.deferred.frames.push((id, log));
                self.defer_quest_effects(character, visits);
            }
            Err(reason) => self
                .deferred
                .frames
                .push((id, ServerPacket::error(ErrorCode::REJECTED, reason))),
        }
    }

    fn defer_quest_effects(&mut self, character: CharacterId, advanced: Vec<(QuestId, u8, u32)>) {
        for (quest, objective, amount) in advanced {
            self.deferred.effects.push(Effect::QuestProgress {
                character,
                quest,
                objective,
                amount,
            });
        }
    }

    /// Runs one tick, appending to `out`.
    pub fn tick(&mut self, out: &mut TickOutput) {
        self.tick = self.tick.wrapping_add(1);
        out.frames.append(&mut self.deferred.frames);
        out.effects.append(&mut self.deferred.effects);
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.players.keys().copied());
        ids.sort_unstable();

        for &id in &ids {
            self.process_events(id, out);
        }
        for &id in &ids {
            self.move_player(id, out);
        }
        self.rebuild_spatial();
        self.run_npcs(out);
        self.tend_items();
        self.rebuild_spatial();
        for &id in &ids {
            self.finish_player(id, out);
        }
        self.ids = ids;
    }

    fn process_events(&mut self, id: EntityId, out: &mut TickOutput) {
        let Some(player) = self.players.get_mut(&id).filter(|p| !p.frozen) else {
            return;
        };
        // At most EVENTS_PER_TICK now; the rest wait for the next tick (the stack itself is
        // bounded at push, and the connection's rate limit bounds the flow), so a burst from
        // an honest client, such as the inputs it resends after a transfer, loses nothing.
        let take = player.events.len().min(EVENTS_PER_TICK);
        if player.events.len() > take {
            metrics::counter!("zone_inputs_deferred_total").increment(1);
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(player.events.drain(..take));
        for packet in batch.drain(..) {
            self.apply_packet(id, packet, out);
        }
        self.batch = batch;
    }

    fn reject(out: &mut TickOutput, id: EntityId, why: &str) {
        metrics::counter!("zone_rejected_intents_total").increment(1);
        out.frames
            .push((id, ServerPacket::error(ErrorCode::REJECTED, why)));
    }

    fn apply_packet(&mut self, id: EntityId, packet: ClientPacket, out: &mut TickOutput) {
        let tick = self.tick;
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        match packet {
            ClientPacket::Input(input) => {
                if input.seq <= player.last_input_seq {
                    return; // already applied (resent after a transfer)
                }
                player.last_input_seq = input.seq;
                player.inputs_applied += 1;
                if player.first_input_seq.is_none() {
                    player.first_input_seq = Some(input.seq);
                    out.first_inputs.push((id, input.seq));
                }
                let (x, z) = (f32::from(input.move_x), f32::from(input.move_z));
                let len = x.hypot(z);
                player.intent = if len > 0.0 {
                    (x / len, z / len, input.running)
                } else {
                    (0.0, 0.0, false)
                };
                player.facing = input.yaw;
            }
            ClientPacket::Attack(a) => self.player_attacks(id, a.target, out),
            ClientPacket::Pickup(p) => self.pickup(id, p.item, out),
            ClientPacket::UseItem(u) => match inventory::use_item(&mut player.character, u.slot) {
                Ok(()) => {
                    player.inventory_changed = true;
                    player.stats_changed = true;
                    player.urgent_save = true;
                }
                Err(e) => Self::reject(out, id, &e.to_string()),
            },
            ClientPacket::EquipItem(e) => {
                match inventory::equip(&mut player.character.inventory, e.slot) {
                    Ok(()) => {
                        player.inventory_changed = true;
                        player.urgent_save = true;
                    }
                    Err(e) => Self::reject(out, id, &e.to_string()),
                }
            }
            ClientPacket::DropItem(d) => {
                if d.count == 0 {
                    return Self::reject(out, id, "nothing to drop");
                }
                match inventory::take(&mut player.character.inventory, d.slot, d.count) {
                    Ok(stack) => {
                        player.inventory_changed = true;
                        player.urgent_save = true;
                        let at = player.character.position;
                        let despawn = tick + self.secs(GROUND_ITEM_SECS as f32);
                        self.spawn_ground_item(stack, at, Some(despawn));
                    }
                    Err(e) => Self::reject(out, id, &e.to_string()),
                }
            }
            ClientPacket::Chat(chat) => self.chat(id, chat, out),
            ClientPacket::QuestList(_) => {
                let log = quest_log(&player.quests);
                out.frames.push((id, log));
            }
            ClientPacket::QuestAccept(a) => {
                if self.catalog.iter().any(|q| q.id == a.quest) {
                    let character = player.character.id;
                    out.effects.push(Effect::QuestAccept {
                        character,
                        quest: a.quest,
                    });
                } else {
                    Self::reject(out, id, "no such quest");
                }
            }
            ClientPacket::Ping(p) => out
                .frames
                .push((id, ServerPacket::Pong(pk::Pong { nonce: p.nonce }))),
            ClientPacket::Hello(_) => {
                out.frames.push((
                    id,
                    ServerPacket::error(ErrorCode::UNEXPECTED_PACKET, "already admitted"),
                ));
            }
        }
    }

    fn player_attacks(&mut self, id: EntityId, target: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let cooldown = self.secs(ATTACK_COOLDOWN_SECS);
        let respawn = self.secs(NPC_RESPAWN_SECS as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if !player.alive() {
            return Self::reject(out, id, "dead");
        }
        if tick < player.attack_ready {
            return Self::reject(out, id, "attack on cooldown");
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
        player.attack_ready = tick + cooldown;
        player.anim = AnimState::Attack;
        let damage = PLAYER_BASE_DAMAGE + inventory::weapon_bonus(&player.character.inventory);
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
        if killed {
            self.broadcast_near(
                at,
                ServerPacket::Death(pk::Death {
                    entity: target,
                    killer: id,
                }),
                out,
            );
            let despawn = tick + self.secs(GROUND_ITEM_SECS as f32);
            self.spawn_ground_item(
                ItemStack {
                    item: spec.drop,
                    count: 1,
                },
                at,
                Some(despawn),
            );
            if let Some(player) = self.players.get_mut(&id) {
                let c = &mut player.character;
                *c.stats.xp.entry(Skill::Combat).or_default() += u64::from(spec.xp);
                c.stats.level = level_of(c);
                player.stats_changed = true;
                player.dirty = true;
                let character = c.id;
                let advanced = quests::advanced_objectives(
                    &self.catalog,
                    &player.quests,
                    GameEvent::Kill(spec.kind),
                );
                for (quest, objective, amount) in advanced {
                    out.effects.push(Effect::QuestProgress {
                        character,
                        quest,
                        objective,
                        amount,
                    });
                }
            }
        }
    }

    fn pickup(&mut self, id: EntityId, item: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let respawn = self.secs(RESOURCE_RESPAWN_SECS as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if !player.alive() {
            return Self::reject(out, id, "dead");
        }
        let Some(ground) = self.items.get_mut(&item) else {
            return Self::reject(out, id, "no such item");
        };
        if ground.pos.planar_distance(&player.character.position) > PICKUP_RANGE {
            return Self::reject(out, id, "item out of reach");
        }
        let left = inventory::add_stack(&mut player.character.inventory, ground.stack);
        let taken = ground.stack.count - left.count;
        if taken == 0 {
            return Self::reject(out, id, "inventory is full");
        }
        player.inventory_changed = true;
        player.urgent_save = true;
        *player
            .character
            .stats
            .xp
            .entry(Skill::Gathering)
            .or_default() += 1;
        let kind = ground.stack.item;
        let character = player.character.id;
        let advanced = quests::advanced_objectives(
            &self.catalog,
            &player.quests,
            GameEvent::Gather(kind, u32::from(taken)),
        );
        if left.count == 0 {
            if let Some(node) = ground.node {
                self.node_respawn[node] = Some(tick + respawn);
            }
            self.items.remove(&item);
        } else {
            ground.stack = left;
        }
        for (quest, objective, amount) in advanced {
            out.effects.push(Effect::QuestProgress {
                character,
                quest,
                objective,
                amount,
            });
        }
    }

    fn chat(&mut self, id: EntityId, chat: pk::Chat, out: &mut TickOutput) {
        let Some(player) = self.players.get(&id) else {
            return;
        };
        let message = ServerPacket::Chat(pk::ChatMessage {
            from: id,
            name: player.character.name.clone(),
            channel: chat.channel,
            text: chat.text,
        });
        match chat.channel {
            ChatChannel::Area => {
                for &other in self.players.keys() {
                    out.frames.push((other, message.clone()));
                }
            }
            ChatChannel::Local => {
                let at = player.character.position;
                self.near.clear();
                self.spatial
                    .within(at.x, at.z, LOCAL_CHAT_RADIUS, &mut self.near);
                for &(_, other) in &self.near {
                    if self.players.contains_key(&other) {
                        out.frames.push((other, message.clone()));
                    }
                }
            }
        }
    }

    /// Sends `packet` to every player whose area of interest may hold `at`.
    fn broadcast_near(&mut self, at: Position, packet: ServerPacket, out: &mut TickOutput) {
        self.near.clear();
        self.spatial
            .within(at.x, at.z, self.cfg.aoi_radius, &mut self.near);
        for &(_, other) in &self.near {
            if self.players.contains_key(&other) {
                out.frames.push((other, packet.clone()));
            }
        }
    }

    fn move_player(&mut self, id: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let dt = self.dt();
        let spawn = self.content.player_spawn;
        let bounds = self.grid.bounds(self.content.area);
        let band = self.grid.handoff_margin + 0.5;
        let Some(player) = self.players.get_mut(&id).filter(|p| !p.frozen) else {
            return;
        };
        if let Some(at) = player.respawn_at {
            if tick >= at {
                player.respawn_at = None;
                let c = &mut player.character;
                c.stats.health = c.stats.max_health;
                c.position = spawn;
                player.stats_changed = true;
                player.dirty = true;
            }
            return;
        }
        if player.anim == AnimState::Attack
            && tick >= player.attack_ready.saturating_sub(self.cfg.tick_rate / 4)
        {
            player.anim = AnimState::Idle;
        }
        let c = &mut player.character;
        c.yaw = yaw_radians(player.facing);
        let (ix, iz, running) = player.intent;
        if ix == 0.0 && iz == 0.0 {
            if player.anim != AnimState::Attack {
                player.anim = AnimState::Idle;
            }
            return;
        }
        let speed = if running { RUN_SPEED } else { WALK_SPEED };
        let (x, z) = (c.position.x, c.position.z);
        let (mut nx, mut nz) =
            self.physics
                .move_character(x, z, ix * speed * dt, iz * speed * dt, dt);
        // A player may step a little past the border (the handoff margin and a bit), never
        // off the world.
        nx = nx.clamp(bounds.min_x - band, bounds.max_x + band);
        nz = nz.clamp(bounds.min_z - band, bounds.max_z + band);
        if self.grid.area_at(nx, nz).is_none() {
            (nx, nz) = (x, z);
        }
        c.position.x = nx;
        c.position.z = nz;
        player.dirty = true;
        if player.anim != AnimState::Attack {
            player.anim = if running {
                AnimState::Run
            } else {
                AnimState::Walk
            };
        }
        if let Some(target) = self.grid.handoff_target(self.content.area, nx, nz) {
            out.effects.push(Effect::Crossing {
                player: id,
                character: c.id,
                target,
            });
        }
    }

    fn run_npcs(&mut self, out: &mut TickOutput) {
        let (tick, dt, rate) = (self.tick, self.dt(), self.cfg.tick_rate);
        let mut hits: Vec<NpcHit> = Vec::new();
        let mut near = std::mem::take(&mut self.near);
        for npc in &mut self.npcs {
            let players = &self.players;
            let spatial = &self.spatial;
            let nearest_player = |at: Position, radius: f32| {
                near.clear();
                spatial.within(at.x, at.z, radius, &mut near);
                near.iter()
                    .filter(|(_, id)| players.get(id).is_some_and(Player::targetable))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, id)| *id)
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
            let Some(player) = self.players.get_mut(&hit.target).filter(|p| !p.frozen) else {
                continue;
            };
            let stats = &mut player.character.stats;
            stats.health = stats.health.saturating_sub(u32::from(hit.damage));
            player.stats_changed = true;
            player.dirty = true;
            let (at, health) = (player.character.position, stats.health);
            if health == 0 {
                player.respawn_at = Some(tick + respawn);
                player.intent = (0.0, 0.0, false);
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

    fn spawn_ground_item(
        &mut self,
        stack: ItemStack,
        at: Position,
        despawn_at: Option<u32>,
    ) -> EntityId {
        let entity = self.new_entity();
        self.items.insert(
            entity,
            GroundItem {
                entity,
                stack,
                pos: at,
                despawn_at,
                node: None,
            },
        );
        entity
    }

    fn tend_items(&mut self) {
        let tick = self.tick;
        self.items
            .retain(|_, item| item.despawn_at.is_none_or(|at| tick < at));
        for node in 0..self.node_respawn.len() {
            if self.node_respawn[node].is_some_and(|at| tick >= at) {
                self.node_respawn[node] = None;
                let spec = self.content.resource_nodes[node];
                let entity = self.spawn_ground_item(
                    ItemStack {
                        item: spec.item,
                        count: 1,
                    },
                    spec.position,
                    None,
                );
                if let Some(item) = self.items.get_mut(&entity) {
                    item.node = Some(node);
                }
            }
        }
    }

    fn rebuild_spatial(&mut self) {
        self.spatial.clear();
        for i in self.motions_set.drain(..) {
            self.motions[i] = None;
        }
        if self.motions.len() < self.next_entity as usize {
            self.motions.resize(self.next_entity as usize, None);
        }
        let mut set = |id: EntityId, m: EntityMotion, x: f32, z: f32| {
            self.spatial.insert(id, x, z);
            self.motions[id.0 as usize] = Some(m);
            self.motions_set.push(id.0 as usize);
        };
        for p in self.players.values() {
            set(
                p.entity,
                p.motion(),
                p.character.position.x,
                p.character.position.z,
            );
        }
        for n in &self.npcs {
            set(n.entity, n.motion(), n.pos.x, n.pos.z);
        }
        for i in self.items.values() {
            set(i.entity, i.motion(), i.pos.x, i.pos.z);
        }
    }

    fn state_of(&self, id: EntityId) -> Option<EntityState> {
        if let Some(p) = self.players.get(&id) {
            return Some(p.state());
        }
        if let Some(&i) = self.npc_index.get(&id) {
            return Some(self.npcs[i].state());
        }
        self.items.get(&id).map(GroundItem::state)
    }

    fn finish_player(&mut self, id: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let save_every = self.secs(self.cfg.save_interval_secs as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        let at = player.character.position;
        let mut view = std::mem::take(&mut player.view);
        let mut near = std::mem::take(&mut self.near);
        let mut visible = std::mem::take(&mut self.visible);
        self.spatial
            .nearest(at.x, at.z, self.cfg.aoi_radius, self.cfg.aoi_max, &mut near);
        visible.clear();
        visible.extend(near.iter().map(|(_, e)| *e));
        let motions = &self.motions;
        let update = view.update(
            tick,
            &mut visible,
            |e| motions.get(e.0 as usize).copied().flatten(),
            |e| self.state_of(e),
        );
        self.near = near;
        self.visible = visible;
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        player.view = view;
        if let Some(packet) = update {
            out.frames.push((id, packet));
        }
        if player.last_input_seq > player.acked_seq {
            player.acked_seq = player.last_input_seq;
            out.frames.push((
                id,
                ServerPacket::InputAck(pk::InputAck {
                    seq: player.acked_seq,
                }),
            ));
        }
        if player.inventory_changed {
            player.inventory_changed = false;
            out.frames.push((id, inventory_packet(&player.character)));
        }
        if player.stats_changed {
            player.stats_changed = false;
            out.frames.push((id, stats_packet(&player.character)));
        }
        if !player.frozen && (player.urgent_save || (player.dirty && tick >= player.next_save)) {
            player.urgent_save = false;
            player.dirty = false;
            player.next_save = tick + save_every;
            out.effects.push(Effect::Save {
                player: id,
                character: Box::new(player.character.clone()),
            });
        }
    }
}

pub(crate) fn level_of(c: &Character) -> u32 {
    let total: u64 = c.stats.xp.values().sum();
    (1 + total / XP_PER_LEVEL).min(u64::from(u32::MAX)) as u32
}

pub(crate) fn upsert_standing(standings: &mut Vec<QuestProgress>, new: QuestProgress) {
    match standings.iter_mut().find(|q| q.quest_id == new.quest_id) {
        Some(old) => *old = new,
        None => standings.push(new),
    }
}

fn quest_log(standings: &[QuestProgress]) -> ServerPacket {
    ServerPacket::QuestLog(pk::QuestLog {
        quests: standings
            .iter()
            .map(|q| pk::QuestEntry {
                quest: q.quest_id.clone(),
                status: q.status,
                counters: q.counters.clone(),
            })
            .collect(),
    })
}

fn inventory_packet(c: &Character) -> ServerPacket {
    ServerPacket::Inventory(pk::Inventory {
        coins: c.inventory.coins,
        slots: c.inventory.slots.clone(),
        weapon: c.inventory.weapon,
    })
}

fn stats_packet(c: &Character) -> ServerPacket {
    ServerPacket::Stats(pk::Stats {
        health: c.stats.health,
        max_health: c.stats.max_health,
        level: c.stats.level,
        xp: c.stats.xp.values().sum(),
    })
}

#[cfg(test)]
mod tests;
