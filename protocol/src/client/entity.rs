//! What a client sees of an entity, quantized, and the delta encoding of its changes.
//!
//! Positions are in 1/32 m steps, yaw in 1/256 of a turn, health in percent. An update
//! ([`EntityDelta`]) names only the fields that changed since the state the client already
//! holds, and position and yaw travel as differences from it, so a walking entity costs a
//! handful of bytes per tick (see `docs/PROTOCOL.md`, "Entity updates").

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::geometry::Position;
use crate::ids::EntityId;
use crate::wire_enum::wire_enum;

/// Quantization steps per metre for positions on the client wire.
pub const POSITION_STEPS_PER_METRE: f32 = 32.0;

/// A position in whole 1/32 m steps.
pub fn quantize_position(p: Position) -> [i32; 3] {
    // `as` saturates at the i32 range and maps NaN to 0: never panics.
    let q = |v: f32| (v * POSITION_STEPS_PER_METRE).round() as i32;
    [q(p.x), q(p.y), q(p.z)]
}

/// The position a quantized one stands for.
pub fn dequantize_position(q: [i32; 3]) -> Position {
    let d = |v: i32| v as f32 / POSITION_STEPS_PER_METRE;
    Position::new(d(q[0]), d(q[1]), d(q[2]))
}

/// A heading in radians (0 = facing +Z, growing clockwise seen from above) as 1/256 turns.
pub fn quantize_yaw(radians: f32) -> u8 {
    let turns = (radians / std::f32::consts::TAU).rem_euclid(1.0);
    // NaN becomes 0; 1.0 (from rounding) wraps to 0.
    ((turns * 256.0).round() as u32 % 256) as u8
}

/// The heading in radians, in [0, 2π), that a quantized yaw stands for.
pub fn yaw_radians(yaw: u8) -> f32 {
    f32::from(yaw) / 256.0 * std::f32::consts::TAU
}

/// Health as the percentage a client shows, 0 to 100.
pub fn health_percent(health: u32, max_health: u32) -> u8 {
    if max_health == 0 {
        return 0;
    }
    let pct = (u64::from(health.min(max_health)) * 100).div_ceil(u64::from(max_health));
    pct as u8
}

wire_enum! {
    /// What an entity is.
    pub enum EntityKind {
        /// A player character; `type_id` is 0.
        Player = 0 => "player",
        /// An NPC; `type_id` is its `NpcKind`.
        Npc = 1 => "npc",
        /// An item on the ground; `type_id` is its `ItemKind`.
        Item = 2 => "item",
    }
}

wire_enum! {
    /// The animation a client should play for an entity.
    pub enum AnimState {
        /// Standing still.
        Idle = 0 => "idle",
        /// Walking.
        Walk = 1 => "walk",
        /// Running.
        Run = 2 => "run",
        /// Swinging an attack.
        Attack = 3 => "attack",
        /// Dead (until respawned or removed).
        Dead = 4 => "dead",
    }
}

/// Everything a client is told about an entity when it first sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityState {
    /// The entity, zone-local.
    pub id: EntityId,
    /// Player, NPC or ground item.
    pub kind: EntityKind,
    /// The NPC kind or item kind number; 0 for players.
    pub type_id: u16,
    /// Position in 1/32 m steps: x, y, z.
    pub pos: [i32; 3],
    /// Heading in 1/256 turns.
    pub yaw: u8,
    /// Animation.
    pub anim: AnimState,
    /// Health in percent.
    pub health: u8,
    /// Display name (players and named NPCs).
    pub name: Option<String>,
}

impl EntityState {
    /// The part of the state that updates can change.
    pub fn motion(&self) -> EntityMotion {
        EntityMotion {
            pos: self.pos,
            yaw: self.yaw,
            anim: self.anim,
            health: self.health,
        }
    }

    /// Overwrites the part of the state that updates can change.
    pub fn set_motion(&mut self, m: EntityMotion) {
        self.pos = m.pos;
        self.yaw = m.yaw;
        self.anim = m.anim;
        self.health = m.health;
    }
}

/// The part of an entity's visible state that changes tick to tick, and that deltas carry.
/// `Copy`, so a zone can keep what each client has seen without cloning names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityMotion {
    /// Position in 1/32 m steps.
    pub pos: [i32; 3],
    /// Heading in 1/256 turns.
    pub yaw: u8,
    /// Animation.
    pub anim: AnimState,
    /// Health in percent.
    pub health: u8,
}

/// Which fields an [`EntityDelta`] carries, one bit each, in this order on the wire.
pub mod delta_field {
    /// Position x difference (i32).
    pub const DX: u8 = 1;
    /// Position y difference (i32).
    pub const DY: u8 = 2;
    /// Position z difference (i32).
    pub const DZ: u8 = 4;
    /// Yaw difference, wrapping (i8).
    pub const YAW: u8 = 8;
    /// New animation (u8).
    pub const ANIM: u8 = 16;
    /// New health percent (u8).
    pub const HEALTH: u8 = 32;
    /// Every bit a valid mask may hold.
    pub const ALL: u8 = DX | DY | DZ | YAW | ANIM | HEALTH;
}

/// The changes of one entity since the state the client holds.
///
/// On the wire: `[id, mask, <present fields in bit order>]` (see [`delta_field`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntityDelta {
    /// The entity.
    pub id: EntityId,
    /// Position x change in 1/32 m steps.
    pub dx: Option<i32>,
    /// Position y change.
    pub dy: Option<i32>,
    /// Position z change.
    pub dz: Option<i32>,
    /// Heading change in 1/256 turns, wrapping.
    pub dyaw: Option<i8>,
    /// New animation.
    pub anim: Option<AnimState>,
    /// New health percent.
    pub health: Option<u8>,
}

impl EntityDelta {
    /// The delta that turns `old` into `new`, or `None` when nothing a client sees changed.
    pub fn between(old: &EntityState, new: &EntityState) -> Option<Self> {
        Self::between_motion(new.id, &old.motion(), &new.motion())
    }

    /// The delta for entity `id` that turns motion `old` into `new`, or `None` when equal.
    pub fn between_motion(id: EntityId, old: &EntityMotion, new: &EntityMotion) -> Option<Self> {
        let diff = |a: i32, b: i32| (a != b).then(|| b.wrapping_sub(a));
        let delta = Self {
            id,
            dx: diff(old.pos[0], new.pos[0]),
            dy: diff(old.pos[1], new.pos[1]),
            dz: diff(old.pos[2], new.pos[2]),
            dyaw: (old.yaw != new.yaw).then(|| new.yaw.wrapping_sub(old.yaw) as i8),
            anim: (old.anim != new.anim).then_some(new.anim),
            health: (old.health != new.health).then_some(new.health),
        };
        (delta.mask() != 0).then_some(delta)
    }

    /// Applies this delta to the state it was computed against.
    pub fn apply(&self, state: &mut EntityState) {
        let mut motion = state.motion();
        self.apply_motion(&mut motion);
        state.set_motion(motion);
    }

    /// Applies this delta to the motion it was computed against.
    pub fn apply_motion(&self, state: &mut EntityMotion) {
        let add = |v: &mut i32, d: Option<i32>| *v = v.wrapping_add(d.unwrap_or(0));
        add(&mut state.pos[0], self.dx);
        add(&mut state.pos[1], self.dy);
        add(&mut state.pos[2], self.dz);
        if let Some(d) = self.dyaw {
            state.yaw = state.yaw.wrapping_add(d as u8);
        }
        if let Some(a) = self.anim {
            state.anim = a;
        }
        if let Some(h) = self.health {
            state.health = h;
        }
    }

    /// The presence bits of this delta.
    pub fn mask(&self) -> u8 {
        use delta_field::*;
        let bit = |present: bool, b: u8| if present { b } else { 0 };
        bit(self.dx.is_some(), DX)
            | bit(self.dy.is_some(), DY)
            | bit(self.dz.is_some(), DZ)
            | bit(self.dyaw.is_some(), YAW)
            | bit(self.anim.is_some(), ANIM)
            | bit(self.health.is_some(), HEALTH)
    }
}

impl Serialize for EntityDelta {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mask = self.mask();
        let mut seq = s.serialize_seq(Some(2 + mask.count_ones() as usize))?;
        seq.serialize_element(&self.id)?;
        seq.serialize_element(&mask)?;
        for v in [self.dx, self.dy, self.dz].into_iter().flatten() {
            seq.serialize_element(&v)?;
        }
        if let Some(v) = self.dyaw {
            seq.serialize_element(&v)?;
        }
        if let Some(v) = self.anim {
            seq.serialize_element(&v)?;
        }
        if let Some(v) = self.health {
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for EntityDelta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DeltaVisitor;

        impl<'de> Visitor<'de> for DeltaVisitor {
            type Value = EntityDelta;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entity delta [id, mask, fields...]")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntityDelta, A::Error> {
                use delta_field::*;
                let mut read = 0;
                let id = next_field(&mut seq, &mut read)?;
                let mask: u8 = next_field(&mut seq, &mut read)?;
                if mask & !ALL != 0 {
                    return Err(de::Error::custom(format!(
                        "unknown bits in delta mask {mask:#04x}"
                    )));
                }
                let mut delta = EntityDelta {
                    id,
                    ..EntityDelta::default()
                };
                if mask & DX != 0 {
                    delta.dx = Some(next_field(&mut seq, &mut read)?);
                }
                if mask & DY != 0 {
                    delta.dy = Some(next_field(&mut seq, &mut read)?);
                }
                if mask & DZ != 0 {
                    delta.dz = Some(next_field(&mut seq, &mut read)?);
                }
                if mask & YAW != 0 {
                    delta.dyaw = Some(next_field(&mut seq, &mut read)?);
                }
                if mask & ANIM != 0 {
                    delta.anim = Some(next_field(&mut seq, &mut read)?);
                }
                if mask & HEALTH != 0 {
                    delta.health = Some(next_field(&mut seq, &mut read)?);
                }
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom("more fields than the delta mask names"));
                }
                Ok(delta)
            }
        }

        d.deserialize_seq(DeltaVisitor)
    }
}

/// The next element of a delta, or a length error naming how many were there.
fn next_field<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    seq: &mut A,
    read: &mut usize,
) -> Result<T, A::Error> {
    let value = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(*read, &"the fields its mask names"))?;
    *read += 1;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> EntityState {
        EntityState {
            id: EntityId(7),
            kind: EntityKind::Npc,
            type_id: 1,
            pos: [3200, 0, -640],
            yaw: 250,
            anim: AnimState::Walk,
            health: 100,
            name: None,
        }
    }

    #[test]
    fn delta_carries_only_changes_and_applies_back() {
        let old = state();
        let mut new = old.clone();
        assert_eq!(EntityDelta::between(&old, &new), None);
        new.pos[0] += 9;
        new.yaw = 3; // wraps past 255
        let delta = EntityDelta::between(&old, &new).unwrap();
        assert_eq!(delta.mask(), delta_field::DX | delta_field::YAW);
        assert_eq!(delta.dyaw, Some(9));
        let mut applied = old.clone();
        delta.apply(&mut applied);
        assert_eq!(applied, new);
    }

    #[test]
    fn delta_wire_form_is_id_mask_fields() {
        let delta = EntityDelta {
            id: EntityId(7),
            dx: Some(9),
            dyaw: Some(-2),
            ..Default::default()
        };
        let bytes = rmp_serde::to_vec(&delta).unwrap();
        assert_eq!(bytes, [0x94, 0x07, 0x09, 0x09, 0xfe]);
        assert_eq!(rmp_serde::from_slice::<EntityDelta>(&bytes).unwrap(), delta);
    }

    #[test]
    fn delta_decoding_rejects_mask_mismatches() {
        // mask says dx, but no field follows
        assert!(rmp_serde::from_slice::<EntityDelta>(&[0x92, 0x07, 0x01]).is_err());
        // extra field beyond the mask
        assert!(rmp_serde::from_slice::<EntityDelta>(&[0x93, 0x07, 0x00, 0x01]).is_err());
        // unknown mask bit
        assert!(rmp_serde::from_slice::<EntityDelta>(&[0x92, 0x07, 0x40]).is_err());
    }

    #[test]
    fn quantization_is_total() {
        assert_eq!(
            quantize_position(Position::new(1.0, f32::NAN, -2.5)),
            [32, 0, -80]
        );
        assert_eq!(
            quantize_position(Position::new(f32::INFINITY, 0.0, 0.0))[0],
            i32::MAX
        );
        let p = dequantize_position([32, 0, -80]);
        assert_eq!((p.x, p.z), (1.0, -2.5));
        assert_eq!(quantize_yaw(0.0), 0);
        assert_eq!(quantize_yaw(std::f32::consts::PI), 128);
        assert_eq!(quantize_yaw(-std::f32::consts::FRAC_PI_2), 192);
        assert_eq!(quantize_yaw(std::f32::consts::TAU - 0.0001), 0);
        assert_eq!(quantize_yaw(f32::NAN), 0);
        assert_eq!(health_percent(1, 1000), 1);
        assert_eq!(health_percent(50, 0), 0);
        assert_eq!(health_percent(200, 100), 100);
    }
}
