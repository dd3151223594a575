//! A connected player as the simulation holds them: the authoritative character (saved
//! back to character-api), quest standings, the per-tick event stack of their packets, and
//! what their client has been told.

use std::collections::VecDeque;

use protocol::EntityId;
use protocol::client::ClientPacket;
use protocol::client::entity::{
    AnimState, EntityKind, EntityMotion, EntityState, health_percent, quantize_position,
    quantize_yaw,
};
use protocol::client::packets::Input;
use protocol::http::character::Character;
use protocol::http::quest::QuestProgress;

use super::view::View;

/// Packets held per player between ticks; more are dropped and counted.
pub const EVENT_STACK_CAPACITY: usize = 64;

/// One player in the simulation.
#[derive(Debug)]
pub struct Player {
    /// Their entity in this zone.
    pub entity: EntityId,
    /// The character; position, stats and inventory are kept current in it.
    pub character: Character,
    /// Quest standings, as last answered by quest-api.
    pub quests: Vec<QuestProgress>,
    /// Packets received since the last tick, in arrival order.
    pub events: VecDeque<ClientPacket>,
    /// Highest input sequence number applied.
    pub last_input_seq: u32,
    /// Highest sequence number acknowledged to the client.
    pub acked_seq: u32,
    /// Current movement intent (unit vector or zero) and gait.
    pub intent: (f32, f32, bool),
    /// Facing from the last input, 1/256 turns.
    pub facing: u8,
    /// Animation this tick.
    pub anim: AnimState,
    /// First tick the player may attack again.
    pub attack_ready: u32,
    /// Tick of respawn while dead.
    pub respawn_at: Option<u32>,
    /// What the client has been told.
    pub view: View,
    /// Changed since the last save.
    pub dirty: bool,
    /// Needs saving now (inventory or quest change), not just periodically.
    pub urgent_save: bool,
    /// Tick of the next periodic save.
    pub next_save: u32,
    /// Inventory changed this tick: send it.
    pub inventory_changed: bool,
    /// Stats changed this tick: send them.
    pub stats_changed: bool,
    /// Being handed to another zone: nothing happens to or by the player (their packets
    /// wait in the event stack, no save starts), so the state carried over stays exact.
    pub frozen: bool,
    /// Inputs applied since admission.
    pub inputs_applied: u64,
    /// Sequence number of the first input applied since admission.
    pub first_input_seq: Option<u32>,
}

impl Player {
    /// A player for `character` as entity `entity`.
    pub fn new(
        entity: EntityId,
        character: Character,
        quests: Vec<QuestProgress>,
        last_input_seq: u32,
        next_save: u32,
    ) -> Self {
        Self {
            entity,
            character,
            quests,
            events: VecDeque::with_capacity(8),
            last_input_seq,
            acked_seq: last_input_seq,
            intent: (0.0, 0.0, false),
            facing: 0,
            anim: AnimState::Idle,
            attack_ready: 0,
            respawn_at: None,
            view: View::default(),
            dirty: false,
            urgent_save: false,
            next_save,
            inventory_changed: true,
            stats_changed: true,
            frozen: false,
            inputs_applied: 0,
            first_input_seq: None,
        }
    }

    /// Whether the player is alive.
    pub fn alive(&self) -> bool {
        self.respawn_at.is_none()
    }

    /// Whether NPCs and other players can act on them (alive, not being handed over).
    pub fn targetable(&self) -> bool {
        self.alive() && !self.frozen
    }

    /// Current visible motion.
    pub fn motion(&self) -> EntityMotion {
        let c = &self.character;
        EntityMotion {
            pos: quantize_position(c.position),
            yaw: quantize_yaw(c.yaw),
            anim: if self.alive() {
                self.anim
            } else {
                AnimState::Dead
            },
            health: health_percent(c.stats.health, c.stats.max_health),
        }
    }

    /// Full visible state.
    pub fn state(&self) -> EntityState {
        let m = self.motion();
        EntityState {
            id: self.entity,
            kind: EntityKind::Player,
            type_id: 0,
            pos: m.pos,
            yaw: m.yaw,
            anim: m.anim,
            health: m.health,
            name: Some(self.character.name.clone()),
        }
    }

    /// Inputs still waiting in the event stack (carried along in a handoff).
    pub fn pending_inputs(&self) -> Vec<Input> {
        self.events
            .iter()
            .filter_map(|p| match p {
                ClientPacket::Input(i) if i.seq > self.last_input_seq => Some(*i),
                _ => None,
            })
            .collect()
    }
}
