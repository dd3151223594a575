//! NPCs and their AI: wander near home, aggro on a player within a radius, chase, attack,
//! leash back home when dragged too far (healing on the way), die, respawn.

use protocol::client::entity::{
    AnimState, EntityKind, EntityMotion, EntityState, health_percent, quantize_position,
    quantize_yaw,
};
use protocol::content::{NpcKind, NpcSpec};
use protocol::{EntityId, Position};

use super::physics::Physics;
use super::rng::SplitMix;

/// How far an NPC sees a player to attack.
pub const AGGRO_RADIUS: f32 = 8.0;
/// How far from home an NPC chases before giving up.
pub const LEASH_RADIUS: f32 = 20.0;
/// How close an NPC must be to hit.
pub const NPC_ATTACK_RANGE: f32 = 2.0;
const WANDER_RADIUS: f32 = 6.0;
const WANDER_SPEED: f32 = 1.5;
const CHASE_SPEED: f32 = 4.5;

/// What an NPC is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpcMode {
    /// Strolling around home.
    Wander,
    /// After a player.
    Chase(EntityId),
    /// Walking home after losing its target.
    Return,
    /// Dead until the given tick.
    Dead {
        /// Tick of respawn.
        respawn_at: u32,
    },
}

/// One NPC.
#[derive(Debug, Clone)]
pub struct Npc {
    /// Its entity.
    pub entity: EntityId,
    /// Its kind's fixed facts.
    pub spec: &'static NpcSpec,
    /// Index of its spawn point in the area content.
    pub spawn_index: u32,
    /// Its home.
    pub home: Position,
    /// Where it stands.
    pub pos: Position,
    /// Heading, radians.
    pub yaw: f32,
    /// Current health.
    pub health: u32,
    /// What it is doing.
    pub mode: NpcMode,
    /// First tick it may attack again.
    pub attack_ready: u32,
    wander_to: Option<(f32, f32)>,
    moving: bool,
}

/// What an NPC decided to do to a player this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpcHit {
    /// The attacker.
    pub npc: EntityId,
    /// The player hit.
    pub target: EntityId,
    /// Damage dealt.
    pub damage: u16,
}

impl Npc {
    /// A fresh NPC of `kind` at its home.
    pub fn new(entity: EntityId, kind: NpcKind, spawn_index: u32, home: Position) -> Option<Self> {
        let spec = kind.spec()?;
        Some(Self {
            entity,
            spec,
            spawn_index,
            home,
            pos: home,
            yaw: 0.0,
            health: u32::from(spec.max_health),
            mode: NpcMode::Wander,
            attack_ready: 0,
            wander_to: None,
            moving: false,
        })
    }

    /// Whether it is alive.
    pub fn alive(&self) -> bool {
        !matches!(self.mode, NpcMode::Dead { .. })
    }

    /// Its current visible motion.
    pub fn motion(&self) -> EntityMotion {
        let anim = match self.mode {
            NpcMode::Dead { .. } => AnimState::Dead,
            NpcMode::Chase(_) if self.moving => AnimState::Run,
            _ if self.moving => AnimState::Walk,
            _ => AnimState::Idle,
        };
        EntityMotion {
            pos: quantize_position(self.pos),
            yaw: quantize_yaw(self.yaw),
            anim,
            health: health_percent(self.health, u32::from(self.spec.max_health)),
        }
    }

    /// Its full visible state.
    pub fn state(&self) -> EntityState {
        let m = self.motion();
        EntityState {
            id: self.entity,
            kind: EntityKind::Npc,
            type_id: self.spec.kind.0,
            pos: m.pos,
            yaw: m.yaw,
            anim: m.anim,
            health: m.health,
            name: Some(self.spec.name.to_owned()),
        }
    }

    /// Puts it where a migrated area's snapshot says it was: at `pos` with `health`, dead
    /// until `tick + respawn_ticks` when `health` is 0, otherwise wandering from there.
    pub fn restore(&mut self, pos: Position, health: u32, tick: u32, respawn_ticks: u32) {
        self.pos = pos;
        self.health = health.min(u32::from(self.spec.max_health));
        self.wander_to = None;
        self.moving = false;
        self.mode = if self.health == 0 {
            NpcMode::Dead {
                respawn_at: tick + respawn_ticks,
            }
        } else {
            NpcMode::Wander
        };
    }

    /// Takes `damage` from `attacker`: returns true if this killed it. A living NPC turns
    /// on whoever hits it.
    pub fn take_hit(
        &mut self,
        attacker: EntityId,
        damage: u16,
        tick: u32,
        respawn_ticks: u32,
    ) -> bool {
        let killed = self.take_damage(damage, tick, respawn_ticks);
        if self.alive() && !matches!(self.mode, NpcMode::Chase(_)) {
            self.mode = NpcMode::Chase(attacker);
        }
        killed
    }

    /// Takes `damage` without turning on anyone (a hit from across the border: the
    /// attacker is not a player it can chase, and chasing nobody would send it home,
    /// healed): returns true if this killed it.
    pub fn take_damage(&mut self, damage: u16, tick: u32, respawn_ticks: u32) -> bool {
        if !self.alive() {
            return false;
        }
        self.health = self.health.saturating_sub(u32::from(damage));
        if self.health == 0 {
            self.mode = NpcMode::Dead {
                respawn_at: tick + respawn_ticks,
            };
            self.moving = false;
            return true;
        }
        false
    }

    /// One tick of AI. `nearest_player` finds the closest living player within a radius of
    /// a point; `player_pos` finds a player by id (None when gone or dead).
    #[allow(clippy::too_many_arguments)] // one call site; a context struct would only rename these
    pub(crate) fn think(
        &mut self,
        tick: u32,
        dt: f32,
        tick_rate: u32,
        physics: &Physics,
        rng: &mut SplitMix,
        mut nearest_player: impl FnMut(Position, f32) -> Option<EntityId>,
        player_pos: impl Fn(EntityId) -> Option<Position>,
    ) -> Option<NpcHit> {
        self.moving = false;
        match self.mode {
            NpcMode::Dead { respawn_at } => {
                if tick >= respawn_at {
                    self.mode = NpcMode::Wander;
                    self.health = u32::from(self.spec.max_health);
                    self.pos = self.home;
                }
                None
            }
            NpcMode::Wander => {
                if let Some(target) = nearest_player(self.pos, AGGRO_RADIUS) {
                    self.mode = NpcMode::Chase(target);
                    return None;
                }
                if self.wander_to.is_none() && rng.unit() < 0.02 {
                    let angle = rng.range(0.0, std::f32::consts::TAU);
                    let r = rng.range(0.0, WANDER_RADIUS);
                    self.wander_to =
                        Some((self.home.x + angle.sin() * r, self.home.z + angle.cos() * r));
                }
                if let Some((x, z)) = self.wander_to
                    && self.step_towards(x, z, WANDER_SPEED * dt, dt, physics) < 0.2
                {
                    self.wander_to = None;
                }
                None
            }
            NpcMode::Return => {
                let left =
                    self.step_towards(self.home.x, self.home.z, CHASE_SPEED * dt, dt, physics);
                self.health = u32::from(self.spec.max_health);
                if left < 0.5 {
                    self.mode = NpcMode::Wander;
                }
                None
            }
            NpcMode::Chase(target) => {
                let Some(tp) = player_pos(target) else {
                    self.mode = NpcMode::Return;
                    return None;
                };
                if self.pos.planar_distance(&self.home) > LEASH_RADIUS {
                    self.mode = NpcMode::Return;
                    return None;
                }
                let dist = self.pos.planar_distance(&tp);
                if dist > NPC_ATTACK_RANGE * 0.8 {
                    self.step_towards(tp.x, tp.z, CHASE_SPEED * dt, dt, physics);
                } else {
                    self.yaw = (tp.x - self.pos.x).atan2(tp.z - self.pos.z);
                }
                if dist <= NPC_ATTACK_RANGE && tick >= self.attack_ready {
                    self.attack_ready = tick + tick_rate * 3 / 2;
                    return Some(NpcHit {
                        npc: self.entity,
                        target,
                        damage: self.spec.damage,
                    });
                }
                None
            }
        }
    }

    /// Moves up to `step` towards (x, z); returns the distance left.
    fn step_towards(&mut self, x: f32, z: f32, step: f32, dt: f32, physics: &Physics) -> f32 {
        let (dx, dz) = (x - self.pos.x, z - self.pos.z);
        let dist = dx.hypot(dz);
        if dist < 1e-3 {
            return 0.0;
        }
        let s = step.min(dist) / dist;
        let (nx, nz) = physics.move_character(self.pos.x, self.pos.z, dx * s, dz * s, dt);
        self.moving = (nx - self.pos.x).abs() + (nz - self.pos.z).abs() > 1e-4;
        self.yaw = dx.atan2(dz);
        self.pos.x = nx;
        self.pos.z = nz;
        (x - nx).hypot(z - nz)
    }
}
