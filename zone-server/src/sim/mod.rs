//! The authoritative simulation of one area: pure game logic with no I/O, driven by the
//! zone actor. Between ticks, decoded client packets are pushed onto each player's event
//! stack; [`Simulation::tick`] drains them in arrival order, validates every intent, moves
//! characters through the physics world, runs NPCs, combat, items and quest matching, and
//! returns the frames each client should get plus the side effects (saves, quest-api
//! calls, border crossings) that the actor performs outside the tick.
//!
//! This file is the tick's table of contents; each phase is a file of its own on the same
//! `impl Simulation`:
//!
//! | phase | file |
//! | --- | --- |
//! | players entering, leaving, held for a handoff | `admission.rs` |
//! | the event stack drained, every packet validated and applied | `intents.rs` |
//! | characters stepped through the physics world, border crossings | `movement.rs` |
//! | players hitting NPCs, NPC AI hitting players | `combat.rs` |
//! | items picked up, used, dropped, despawned, regrown | `items.rs` |
//! | chat | `chat.rs` |
//! | quest events counted, quest-api answers taken in | `quests.rs` |
//! | ghosts of neighbouring areas expired | `ghosts.rs` |
//! | each client sent what it can see (real entities and ghosts; far ones' movement less often, `interest.rs`; written straight to bytes by its `view.rs`, each entity encoded once for all views, `encodings.rs`), saves started | `outbox.rs` |
//! | each neighbouring area's owner sent what lies near its border | `ghost_stream.rs` |
//!
//! The zone actor paces the ticks (`dilation.rs`: a tick that overruns its budget slows
//! the zone's clock, and clients are told its rate with their next update).
//!
//! Between ticks, the owners of neighbouring areas' ghost frames come in (`ghosts.rs`), and
//! acts and chat across the border both ways (`border_acts.rs`).

mod admission;
mod border_acts;
mod chat;
mod combat;
pub mod content;
pub mod dilation;
mod encodings;
mod ghost_stream;
mod ghosts;
mod id_order;
mod intents;
pub mod interest;
pub mod inventory;
mod items;
mod movement;
pub mod npc;
mod outbox;
pub mod physics;
pub mod player;
pub mod quests;
mod rng;
pub mod spatial;
pub mod view;
mod world_state;

use std::sync::Arc;

use protocol::client::entity::EntityMotion;
use protocol::client::packets::TimeRate;
use protocol::client::{ClientPacket, DecodeError, ServerPacket, UpdateWriter};
use protocol::content::ItemStack;
use protocol::http::character::Character;
use protocol::http::quest::Quest;
use protocol::{AreaId, CharacterId, EntityId, Epoch, Position, QuestId, WorldGrid};
use rustc_hash::FxHashMap;

pub use admission::joining;
pub use border_acts::BorderActAnswer;
use content::AreaContent;
use encodings::EntityEncodings;
use ghost_stream::GhostStreams;
pub use ghost_stream::{GhostUpdate, NeighbourOwner};
pub use ghosts::GhostRefusal;
use ghosts::Ghosts;
use id_order::IdOrder;
use items::GroundItem;
use npc::Npc;
use physics::Physics;
use player::{EVENT_STACK_CAPACITY, Player};
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
            aoi_radius: protocol::client::INTEREST_RADIUS,
            aoi_max: protocol::client::INTEREST_CAP,
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

/// Work the actor does outside the tick.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Save this character (compare-and-set on its `version`).
    Save {
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
    /// A player acts on an entity across the border: ask its owner to apply it.
    BorderAct {
        /// The area of the entity acted on.
        to_area: AreaId,
        /// The acting player.
        actor: EntityId,
        /// Where they stand.
        actor_position: Position,
        /// What they do.
        action: protocol::cluster::BorderAction,
    },
    /// A player's local chat reaches across the border into `to_area`.
    BorderChat {
        /// The area reached.
        to_area: AreaId,
        /// The line, as its owner delivers it.
        chat: BorderChatLine,
    },
}

/// A local chat line as it crosses a border.
#[derive(Debug, Clone, PartialEq)]
pub struct BorderChatLine {
    /// The speaker.
    pub speaker: EntityId,
    /// Their name.
    pub name: String,
    /// Where they stand.
    pub position: Position,
    /// What they said.
    pub text: String,
}

/// A frame for one client.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A packet, encoded as it is sent.
    Packet(ServerPacket),
    /// A `Snapshot` or `Delta` its view wrote straight to bytes (`view.rs`).
    Encoded(Vec<u8>),
}

impl Frame {
    /// The packet this frame carries (decoded if it was written as bytes): for whoever
    /// needs to look inside, such as tests.
    pub fn packet(&self) -> Result<std::borrow::Cow<'_, ServerPacket>, DecodeError> {
        match self {
            Self::Packet(packet) => Ok(std::borrow::Cow::Borrowed(packet)),
            Self::Encoded(bytes) => ServerPacket::decode(bytes).map(std::borrow::Cow::Owned),
        }
    }
}

/// What one tick produced.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// Frames for clients, in order.
    pub frames: Vec<(EntityId, Frame)>,
    /// Side effects for the actor.
    pub effects: Vec<Effect>,
    /// Players whose first input since admission was applied this tick, with that input's
    /// sequence number (once per stay: the handoff benchmark's end mark).
    pub first_inputs: Vec<(EntityId, u32)>,
    /// The buffers of the encoded frames cleared (emptied), for the next tick's views: a
    /// crowd's every client gets one each tick, so they are reused rather than allocated
    /// and freed thousands of times a tick (a sender that keeps a frame's bytes takes them).
    spare_buffers: Vec<Vec<u8>>,
}

impl TickOutput {
    /// Empties every list, keeping their allocations (and those of the encoded frames,
    /// for the next tick's).
    pub fn clear(&mut self) {
        for (_, frame) in self.frames.drain(..) {
            if let Frame::Encoded(mut bytes) = frame
                && bytes.capacity() > 0
            {
                bytes.clear();
                self.spare_buffers.push(bytes);
            }
        }
        self.effects.clear();
        self.first_inputs.clear();
    }

    /// Queues `packet` for the client of player `to`.
    pub fn send(&mut self, to: EntityId, packet: ServerPacket) {
        self.frames.push((to, Frame::Packet(packet)));
    }

    /// Every packet queued, with its player, in order (decoding the encoded ones): for
    /// whoever looks inside the frames, such as tests.
    pub fn packets(&self) -> Vec<(EntityId, ServerPacket)> {
        self.frames
            .iter()
            .filter_map(|(player, frame)| Some((*player, frame.packet().ok()?.into_owned())))
            .collect()
    }

    /// An empty buffer for an encoded frame, reused if one is spare.
    fn buffer(&mut self) -> Vec<u8> {
        self.spare_buffers.pop().unwrap_or_default()
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

/// The simulation of one area.
pub struct Simulation {
    cfg: SimConfig,
    grid: WorldGrid,
    content: AreaContent,
    physics: Physics,
    catalog: Arc<Vec<Quest>>,
    tick: u32,
    /// The epoch this area is held under: the namespace of the ids minted here.
    epoch: Epoch,
    next_entity: u64,
    players: FxHashMap<EntityId, Player>,
    by_character: FxHashMap<CharacterId, EntityId>,
    npcs: Vec<Npc>,
    npc_index: FxHashMap<EntityId, usize>,
    items: FxHashMap<EntityId, GroundItem>,
    node_respawn: Vec<Option<u32>>,
    /// Every entity (real or ghost) where it stands this tick, indexed by the slots the
    /// spatial grid holds.
    spatial: SpatialGrid,
    frame: Vec<(EntityId, EntityMotion)>,
    /// Counts the rebuilds of `frame` (what `encodings` was made for).
    frame_version: u64,
    /// How many of `frame`'s slots (the first ones) are this area's own entities.
    local_slots: usize,
    /// Entities of neighbouring areas, shown here as their owners last described them.
    ghosts: Ghosts,
    /// What each neighbouring area's owner was last sent.
    ghost_streams: GhostStreams,
    /// `Damage` and `Death` shown near the border since the last ghost frames, for the
    /// neighbours' players near it too.
    border_events: Vec<(Position, ServerPacket)>,
    /// Border acts already applied here, by idempotency key.
    border_acts: border_acts::Applied,
    visible: Vec<(EntityId, u32)>,
    /// `frame`'s slots ranked by id (the order a view merges in), once per tick before
    /// the views.
    id_order: IdOrder,
    /// A client's visible slots in id order.
    in_order: Vec<u32>,
    /// The tick's entities, each encoded once for all the views that show it.
    encodings: EntityEncodings,
    /// Scratch space of the view being written.
    writer: UpdateWriter,
    rng: SplitMix,
    /// This tick's players in id order (kept for its allocation).
    ids: Vec<EntityId>,
    near: Vec<(f32, u32)>,
    /// What quest-api's answers produced between ticks, sent with the next tick.
    deferred: TickOutput,
    /// The packets one player's turn applies (kept for its allocation).
    batch: Vec<ClientPacket>,
    /// How fast the zone's clock runs against real time, per mille (time dilation, decided
    /// by the zone actor, which paces the ticks): clients are told when it changes.
    time_rate: u16,
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
    /// Loads `area`, held under `epoch`: its deterministic content, colliders, NPCs and
    /// resource items.
    pub fn new(
        area: AreaId,
        grid: WorldGrid,
        cfg: SimConfig,
        catalog: Arc<Vec<Quest>>,
        epoch: Epoch,
    ) -> Self {
        let content = AreaContent::generate(area, &grid);
        let physics = Physics::new(&content);
        // The area and the band around it that ghosts stand in.
        let spatial = {
            let b = grid.bounds(area);
            let band = cfg.aoi_radius + grid.handoff_margin + 2.0;
            SpatialGrid::covering(
                b.min_x - band,
                b.min_z - band,
                b.max_x + band,
                b.max_z + band,
            )
        };
        let mut sim = Self {
            cfg,
            grid,
            physics,
            catalog,
            tick: 0,
            epoch,
            next_entity: 1,
            players: FxHashMap::default(),
            by_character: FxHashMap::default(),
            npcs: Vec::new(),
            npc_index: FxHashMap::default(),
            items: FxHashMap::default(),
            node_respawn: vec![Some(0); content.resource_nodes.len()],
            spatial,
            frame: Vec::new(),
            local_slots: 0,
            ghosts: Ghosts::default(),
            ghost_streams: GhostStreams::default(),
            border_events: Vec::new(),
            border_acts: border_acts::Applied::default(),
            visible: Vec::new(),
            id_order: IdOrder::default(),
            in_order: Vec::new(),
            encodings: EntityEncodings::default(),
            frame_version: 0,
            writer: UpdateWriter::default(),
            rng: SplitMix::new(u64::from(area.x) * 7919 + u64::from(area.z)),
            ids: Vec::new(),
            near: Vec::new(),
            deferred: TickOutput::default(),
            batch: Vec::with_capacity(EVENTS_PER_TICK),
            time_rate: TimeRate::NORMAL.permille,
            content,
        };
        for (i, spawn) in sim.content.npc_spawns.clone().iter().enumerate() {
            let entity = EntityId::npc(area, i as u32);
            if let Some(npc) = Npc::new(entity, spawn.kind, i as u32, spawn.position) {
                sim.npc_index.insert(entity, sim.npcs.len());
                sim.npcs.push(npc);
            }
        }
        sim.tend_items();
        sim.rebuild_spatial();
        sim
    }

    /// Runs one tick, appending to `out`: the phases in the order DESIGN's tick paragraph
    /// gives them.
    pub fn tick(&mut self, out: &mut TickOutput) {
        self.tick = self.tick.wrapping_add(1);
        self.send_quest_answers(out); // quest-api's answers since the last tick
        let ids = self.players_in_order();
        self.apply_intents(&ids, out); // drain the event stacks, validate every intent
        self.move_players(&ids, out); // step physics
        self.rebuild_spatial();
        self.run_npcs(out); // NPC AI and their attacks
        self.tend_items(); // despawn and regrow
        self.expire_ghosts(); // neighbours fallen silent
        self.rebuild_spatial();
        self.send_views(&ids, out); // each client what it can see; saves due
        self.ids = ids;
    }

    /// This tick's players, in entity order (so a tick's outcome does not depend on the
    /// hash map's order).
    fn players_in_order(&mut self) -> Vec<EntityId> {
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(self.players.keys().copied());
        ids.sort_unstable();
        ids
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

    /// Players held inside a border, their handoff not gone through (the next area full,
    /// not answering, or without a zone yet).
    pub fn held_at_border_count(&self) -> usize {
        self.players
            .values()
            .filter(|p| p.border_hold.is_some())
            .count()
    }

    /// Sets how fast the zone's clock runs, per mille of real time (1..=1000): every
    /// client whose last `TimeRate` said otherwise is sent one with its next update.
    pub fn set_time_rate(&mut self, permille: u16) {
        self.time_rate = permille.clamp(1, TimeRate::NORMAL.permille);
    }

    /// NPCs alive.
    pub fn npc_count(&self) -> usize {
        self.npcs.iter().filter(|n| n.alive()).count()
    }

    /// The player playing `character`, if here.
    pub fn player_of(&self, character: CharacterId) -> Option<EntityId> {
        self.by_character.get(&character).copied()
    }

    /// The player playing `character` from state that names `version`: the session a write
    /// naming `version` was of (one started from other data is not).
    pub fn player_at_version(&self, character: CharacterId, version: u64) -> Option<EntityId> {
        let id = self.player_of(character)?;
        (self.players.get(&id)?.character.version == version).then_some(id)
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

    /// What a client is told of an entity of this area or a ghost.
    pub fn entity_state(&self, id: EntityId) -> Option<protocol::client::entity::EntityState> {
        self.state_of(id)
    }

    /// NPCs, for tests and migration.
    pub fn npcs(&self) -> &[Npc] {
        &self.npcs
    }

    /// A new id, unique in the world (see [`EntityId`]).
    fn new_entity(&mut self) -> EntityId {
        let id = EntityId::minted(self.epoch, self.next_entity);
        self.next_entity += 1;
        id
    }

    /// Whether `id` is one of this area's own entities (not a ghost).
    fn is_local(&self, id: EntityId) -> bool {
        self.players.contains_key(&id)
            || self.npc_index.contains_key(&id)
            || self.items.contains_key(&id)
    }

    /// `id` if it is a valid id no entity here has, else a new one: an entity arriving
    /// from elsewhere keeps its id unless that would give two entities one id.
    fn keep_or_mint(&mut self, id: Option<EntityId>) -> EntityId {
        match id {
            Some(id) if id.is_valid() && id.npc_area().is_none() && !self.is_local(id) => id,
            _ => self.new_entity(),
        }
    }

    /// `secs` seconds in ticks.
    fn secs(&self, secs: f32) -> u32 {
        (secs * self.cfg.tick_rate as f32).round() as u32
    }

    /// One tick in seconds.
    fn dt(&self) -> f32 {
        1.0 / self.cfg.tick_rate as f32
    }
}

#[cfg(test)]
mod border_tests;
#[cfg(test)]
mod crowd_tests;
#[cfg(test)]
mod tests;
