//! A connected player as the simulation holds them: the authoritative character (saved
//! back to character-api), quest standings, the per-tick event stack of their packets, and
//! what their client and storage have been told.

use std::collections::VecDeque;

use protocol::client::ClientPacket;
use protocol::client::entity::{
    AnimState, EntityKind, EntityMotion, EntityState, health_percent, quantize_position,
    quantize_yaw,
};
use protocol::client::packets::{Input, TimeRate};
use protocol::cluster::PlayerTransfer;
use protocol::http::character::Character;
use protocol::http::quest::QuestProgress;
use protocol::{AreaId, EntityId};

use super::view::View;

/// Packets held per player between ticks; more are dropped and counted.
pub const EVENT_STACK_CAPACITY: usize = 64;
const XP_PER_LEVEL: u64 = 100;

/// Where a player wants to go, from their last input: the movement phase applies it every
/// tick until the next input changes it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Intent {
    /// Ground direction, x part: a unit vector with `z`, or zero standing still.
    pub x: f32,
    /// Ground direction, z part.
    pub z: f32,
    /// Running rather than walking.
    pub running: bool,
}

impl Intent {
    /// Standing still (after a death, or an input with no stick).
    pub const STILL: Self = Self {
        x: 0.0,
        z: 0.0,
        running: false,
    };

    /// The direction of an input's stick, normalised so that no input moves faster than
    /// the gait allows however far the stick is pushed.
    pub fn of(input: &Input) -> Self {
        let (x, z) = (f32::from(input.move_x), f32::from(input.move_z));
        let len = x.hypot(z);
        if len > 0.0 {
            Self {
                x: x / len,
                z: z / len,
                running: input.running,
            }
        } else {
            Self::STILL
        }
    }

    /// Whether the player stands still.
    pub fn still(&self) -> bool {
        self.x == 0.0 && self.z == 0.0
    }
}

/// Whether a player takes part in the play or is held for a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presence {
    /// Playing here.
    #[default]
    Playing,
    /// Being handed to another zone: nothing happens to or by the player (their packets
    /// wait in the event stack, no save starts), so the state carried over stays exact.
    Frozen,
}

/// How soon storage must hear of a player's changes. Ordered: a change only ever makes a
/// save more urgent, and one save settles them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum SaveDue {
    /// Storage holds the player as they are.
    #[default]
    Saved,
    /// Changed (moved, hurt, gained xp): saved with the next periodic save, since losing
    /// a few seconds of it to a crash costs little.
    Periodic,
    /// The bags or quests changed: saved at once, so no item is lost or duplicated.
    Now,
}

/// What of a player's own panel (bags, stats) their client has not been sent yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unsent {
    /// The client shows both as they are.
    #[default]
    Nothing,
    /// Health, level or xp changed.
    Stats,
    /// The bags changed.
    Inventory,
    /// Both changed.
    InventoryAndStats,
}

impl Unsent {
    /// This and `other` together.
    fn with(self, other: Self) -> Self {
        match (
            self.inventory() || other.inventory(),
            self.stats() || other.stats(),
        ) {
            (false, false) => Self::Nothing,
            (false, true) => Self::Stats,
            (true, false) => Self::Inventory,
            (true, true) => Self::InventoryAndStats,
        }
    }

    /// Whether the bags are to be sent.
    pub fn inventory(self) -> bool {
        matches!(self, Self::Inventory | Self::InventoryAndStats)
    }

    /// Whether the stats are to be sent.
    pub fn stats(self) -> bool {
        matches!(self, Self::Stats | Self::InventoryAndStats)
    }
}

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
    /// Where the last input steers.
    pub intent: Intent,
    /// Facing from the last input, 1/256 turns.
    pub facing: u8,
    /// Animation this tick.
    pub anim: AnimState,
    /// First tick the player may attack again.
    pub attack_ready: u32,
    /// Tick of respawn while dead.
    pub respawn_at: Option<u32>,
    /// What the client has been told of the world around.
    pub view: View,
    /// Playing, or held for a handoff.
    pub presence: Presence,
    /// The neighbouring area a handoff into did not go through (refused, unanswered, no
    /// zone there yet): the player is held inside the border towards it until a retry goes
    /// through or they walk away from it.
    pub border_hold: Option<AreaId>,
    /// How soon storage must hear of the player's changes.
    pub save: SaveDue,
    /// Tick of the next periodic save.
    pub next_save: u32,
    /// What of their own panel the client is sent at the end of this tick.
    pub unsent: Unsent,
    /// Inputs applied since admission.
    pub inputs_applied: u64,
    /// The zone's clock rate (per mille) the client was last told: 1000 (normal) until a
    /// `TimeRate` says otherwise.
    pub time_rate_told: u16,
}

impl Player {
    /// A player admitted as `entity` with the state carried in `arrival`, whose client has
    /// been sent their panel (the opening frames) and whose state is due with the periodic
    /// save at `next_save`. The inputs carried along wait in the event stack.
    pub fn new(entity: EntityId, arrival: PlayerTransfer, next_save: u32) -> Self {
        let mut player = Self {
            entity,
            character: arrival.character,
            quests: arrival.quests,
            events: VecDeque::with_capacity(8),
            last_input_seq: arrival.last_input_seq,
            acked_seq: arrival.last_input_seq,
            intent: Intent::STILL,
            facing: 0,
            anim: AnimState::Idle,
            attack_ready: 0,
            respawn_at: None,
            view: View::default(),
            presence: Presence::Playing,
            border_hold: None,
            save: SaveDue::Periodic,
            next_save,
            unsent: Unsent::Nothing,
            inputs_applied: 0,
            time_rate_told: TimeRate::NORMAL.permille,
        };
        for input in arrival.pending_inputs {
            if player.unapplied(input.seq) {
                player.events.push_back(ClientPacket::Input(input));
            }
        }
        player
    }

    /// Whether the input numbered `seq` is still to be applied: inputs are applied once
    /// each, in order, and a client resends the unacknowledged ones after a transfer.
    pub fn unapplied(&self, seq: u32) -> bool {
        seq > self.last_input_seq
    }

    /// Whether the player is alive.
    pub fn alive(&self) -> bool {
        self.respawn_at.is_none()
    }

    /// Whether the player is held for a handoff.
    pub fn frozen(&self) -> bool {
        self.presence == Presence::Frozen
    }

    /// Whether NPCs and other players can act on them (alive, not being handed over).
    pub fn targetable(&self) -> bool {
        self.alive() && !self.frozen()
    }

    /// The bags changed: the client is sent them this tick and storage hears at once.
    pub fn inventory_changed(&mut self) {
        self.unsent = self.unsent.with(Unsent::Inventory);
        self.save = self.save.max(SaveDue::Now);
    }

    /// Health, level or xp changed: the client is sent them this tick, storage with the
    /// next periodic save.
    pub fn stats_changed(&mut self) {
        self.unsent = self.unsent.with(Unsent::Stats);
        self.changed();
    }

    /// Something only storage cares about changed (position, gathering xp).
    pub fn changed(&mut self) {
        self.save = self.save.max(SaveDue::Periodic);
    }

    /// Whether a save is to start at `tick` (never while frozen: the carried state is the
    /// handoff's).
    pub fn save_due(&self, tick: u32) -> bool {
        match self.save {
            _ if self.frozen() => false,
            SaveDue::Saved => false,
            SaveDue::Periodic => tick >= self.next_save,
            SaveDue::Now => true,
        }
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

    /// The player as they stand, to carry to another zone (or keep for a handoff that may
    /// yet be refused).
    pub fn transfer(&self) -> PlayerTransfer {
        PlayerTransfer {
            character: self.character.clone(),
            quests: self.quests.clone(),
            pending_inputs: self.pending_inputs(),
            last_input_seq: self.last_input_seq,
            entity: Some(self.entity),
        }
    }

    /// The player leaving, with everything needed to save or hand them on.
    pub fn into_transfer(self) -> PlayerTransfer {
        let pending_inputs = self.pending_inputs();
        PlayerTransfer {
            character: self.character,
            quests: self.quests,
            pending_inputs,
            last_input_seq: self.last_input_seq,
            entity: Some(self.entity),
        }
    }

    /// Inputs still waiting in the event stack (carried along in a handoff).
    fn pending_inputs(&self) -> Vec<Input> {
        self.events
            .iter()
            .filter_map(|p| match p {
                ClientPacket::Input(i) if self.unapplied(i.seq) => Some(*i),
                _ => None,
            })
            .collect()
    }
}

/// A character's level, from their xp in every skill.
pub fn level_of(c: &Character) -> u32 {
    let total: u64 = c.stats.xp.values().sum();
    (1 + total / XP_PER_LEVEL).min(u64::from(u32::MAX)) as u32
}
