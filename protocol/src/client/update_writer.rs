//! A `Snapshot` or `Delta` written entity by entity, straight to the frame's bytes: what a
//! zone does for every client every tick. The bytes are exactly those of encoding the
//! packet (the tests below pin it), but nothing is built first: no list of states or
//! updates per client, and an entity's state or change that many clients are sent can be
//! encoded once ([`encode_entity_state`], [`EncodedUpdate`]) and copied into each client's
//! frame.

use crate::client::codec::{EncodeError, ServerPacket, encode_frame, write_serde};
use crate::client::entity::{EntityDelta, EntityMotion, EntityState};
use crate::client::msgpack::{self as mp, Inline};
use crate::ids::EntityId;

/// The frame ids of `Snapshot` and `Delta` (pinned against the packet table by the tests).
const SNAPSHOT_ID: u8 = 0x41;
const DELTA_ID: u8 = 0x42;

/// Appends `state` as one element of a `Snapshot`'s or `Delta`'s list of entities.
pub fn encode_entity_state(state: &EntityState, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    write_serde(state, buf)
}

/// One entity's update (an element of a `Delta`'s `updated` list) in its wire form, held
/// in place: what a server encodes once and copies into every frame that carries it.
#[derive(Debug, Clone, Copy)]
pub struct EncodedUpdate(Inline);

impl EncodedUpdate {
    /// No change: nothing to send.
    pub const NONE: Self = Self(Inline::EMPTY);

    /// The update that turns `old` into `new` for entity `id` ([`Self::NONE`] when they
    /// are equal).
    #[inline]
    pub fn between(id: EntityId, old: &EntityMotion, new: &EntityMotion) -> Self {
        let mut bytes = Inline::EMPTY;
        if let Some(delta) = EntityDelta::between_motion(id, old, new) {
            mp::entity_delta(&mut bytes, &delta);
        }
        Self(bytes)
    }

    /// The update's bytes (none for no change).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// One client's `Snapshot` or `Delta` being written: the entities added, updated and
/// removed, each list already in its wire form. Reused from tick to tick (`clear`).
#[derive(Debug, Default)]
pub struct UpdateWriter {
    added: Vec<u8>,
    added_count: usize,
    updated: Vec<u8>,
    updated_count: usize,
    removed: Vec<u8>,
    removed_count: usize,
}

impl UpdateWriter {
    /// Empties the lists, keeping their allocations.
    pub fn clear(&mut self) {
        self.added.clear();
        self.updated.clear();
        self.removed.clear();
        (self.added_count, self.updated_count, self.removed_count) = (0, 0, 0);
    }

    /// An entity came into view, in full.
    pub fn add(&mut self, state: &EntityState) -> Result<(), EncodeError> {
        encode_entity_state(state, &mut self.added)?;
        self.added_count += 1;
        Ok(())
    }

    /// An entity came into view: `encoded` is its state as [`encode_entity_state`] wrote
    /// it (one entity, nothing else).
    pub fn add_encoded(&mut self, encoded: &[u8]) {
        self.added.extend_from_slice(encoded);
        self.added_count += 1;
    }

    /// An entity in view changed from `old` to `new` (nothing is written if it did not).
    #[inline]
    pub fn update(&mut self, id: EntityId, old: &EntityMotion, new: &EntityMotion) {
        if let Some(delta) = EntityDelta::between_motion(id, old, new) {
            mp::entity_delta(&mut self.updated, &delta);
            self.updated_count += 1;
        }
    }

    /// An entity in view changed, as encoded once for every client (nothing is written
    /// for [`EncodedUpdate::NONE`]).
    #[inline]
    pub fn update_encoded(&mut self, update: &EncodedUpdate) {
        if !update.0.is_empty() {
            update.0.append_to(&mut self.updated);
            self.updated_count += 1;
        }
    }

    /// An entity left view (or the world).
    pub fn remove(&mut self, id: EntityId) {
        mp::uint(&mut self.removed, id.0);
        self.removed_count += 1;
    }

    /// Whether nothing was added, updated or removed.
    pub fn is_empty(&self) -> bool {
        self.added_count == 0 && self.updated_count == 0 && self.removed_count == 0
    }

    /// Appends the `Snapshot` frame of `tick` showing the entities added (the updates and
    /// removals mean nothing in a snapshot and are left out); `buf` is unchanged on error.
    pub fn snapshot_frame(&self, tick: u32, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_frame(
            SNAPSHOT_ID,
            |b| {
                b.reserve(16 + self.added.len());
                mp::array_len(b, 2);
                mp::uint(b, u64::from(tick));
                mp::array_len(b, self.added_count);
                b.extend_from_slice(&self.added);
                Ok(())
            },
            ServerPacket::MAX_FRAME,
            buf,
        )
    }

    /// Appends the `Delta` frame of `tick` against `baseline`; `buf` is unchanged on error.
    pub fn delta_frame(
        &self,
        tick: u32,
        baseline: u32,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        encode_frame(
            DELTA_ID,
            |b| {
                b.reserve(32 + self.added.len() + self.updated.len() + self.removed.len());
                mp::array_len(b, 5);
                mp::uint(b, u64::from(tick));
                mp::uint(b, u64::from(baseline));
                mp::array_len(b, self.added_count);
                b.extend_from_slice(&self.added);
                mp::array_len(b, self.updated_count);
                b.extend_from_slice(&self.updated);
                mp::array_len(b, self.removed_count);
                b.extend_from_slice(&self.removed);
                Ok(())
            },
            ServerPacket::MAX_FRAME,
            buf,
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::client::entity::{AnimState, EntityKind};
    use crate::client::packets::{Delta, Snapshot};

    fn state(id: u64, x: i32, name: Option<&str>) -> EntityState {
        EntityState {
            id: EntityId(id),
            kind: EntityKind::Player,
            type_id: 0,
            pos: [x, -3, 70_000],
            yaw: 200,
            anim: AnimState::Run,
            health: 55,
            name: name.map(str::to_owned),
        }
    }

    fn motion(pos: [i32; 3], yaw: u8, anim: AnimState, health: u8) -> EntityMotion {
        EntityMotion {
            pos,
            yaw,
            anim,
            health,
        }
    }

    #[test]
    fn frame_ids_are_the_packet_tables() {
        let snapshot = ServerPacket::Snapshot(Snapshot {
            tick: 0,
            entities: vec![],
        });
        assert_eq!(snapshot.id(), SNAPSHOT_ID);
        let delta = ServerPacket::Delta(Delta {
            tick: 0,
            baseline: 0,
            added: vec![],
            updated: vec![],
            removed: vec![],
        });
        assert_eq!(delta.id(), DELTA_ID);
    }

    #[test]
    fn a_snapshot_is_the_packets_bytes() {
        let entities = vec![state(1, 5, Some("Ann")), state(1 << 40, -9, None)];
        let mut w = UpdateWriter::default();
        let mut encoded = Vec::new();
        encode_entity_state(&entities[1], &mut encoded).unwrap();
        w.add(&entities[0]).unwrap();
        w.add_encoded(&encoded);
        let mut frame = Vec::new();
        w.snapshot_frame(7, &mut frame).unwrap();
        let packet = ServerPacket::Snapshot(Snapshot { tick: 7, entities });
        assert_eq!(frame, packet.encode().unwrap());
        assert_eq!(ServerPacket::decode(&frame).unwrap(), packet);
    }

    #[test]
    fn the_largest_update_fits_in_place() {
        let old = motion([0, 0, 0], 0, AnimState::Idle, 0);
        let new = motion([i32::MIN, i32::MIN, i32::MIN], 128, AnimState::Dead, 255);
        let id = EntityId(u64::MAX);
        let mut direct = Vec::new();
        mp::entity_delta(
            &mut direct,
            &EntityDelta::between_motion(id, &old, &new).unwrap(),
        );
        assert_eq!(direct.len(), 31);
        assert_eq!(EncodedUpdate::between(id, &old, &new).as_bytes(), direct);
        assert!(EncodedUpdate::between(id, &old, &old).as_bytes().is_empty());
    }

    #[test]
    fn too_large_a_frame_is_refused_and_writes_nothing() {
        let mut w = UpdateWriter::default();
        let big = state(1, 0, Some(&"x".repeat(60_000)));
        for _ in 0..5 {
            w.add(&big).unwrap();
        }
        let mut frame = vec![9];
        assert!(matches!(
            w.delta_frame(1, 0, &mut frame),
            Err(EncodeError::TooLarge { .. })
        ));
        assert_eq!(frame, [9]);
    }

    fn any_motion() -> impl Strategy<Value = EntityMotion> {
        let anim = prop_oneof![
            Just(AnimState::Idle),
            Just(AnimState::Walk),
            Just(AnimState::Attack)
        ];
        (any::<[i32; 3]>(), any::<u8>(), anim, any::<u8>())
            .prop_map(|(pos, yaw, anim, health)| motion(pos, yaw, anim, health))
    }

    proptest! {
        /// Whatever the mix of entities, encoded one way or the other, the frame is the
        /// `Delta` packet's own bytes.
        #[test]
        fn a_delta_is_the_packets_bytes(
            tick in any::<u32>(),
            baseline in any::<u32>(),
            added in prop::collection::vec((any::<u64>(), any::<i32>()), 0..20),
            changes in prop::collection::vec(
                (any::<u64>(), any_motion(), any_motion(), any::<bool>()), 0..40),
            removed in prop::collection::vec(any::<u64>(), 0..20),
        ) {
            let mut w = UpdateWriter::default();
            let mut packet = Delta { tick, baseline, added: vec![], updated: vec![], removed: vec![] };
            for (i, &(id, x)) in added.iter().enumerate() {
                let s = state(id, x, (i % 2 == 0).then_some("Bo"));
                if i % 3 == 0 {
                    let mut encoded = Vec::new();
                    encode_entity_state(&s, &mut encoded).unwrap();
                    w.add_encoded(&encoded);
                } else {
                    w.add(&s).unwrap();
                }
                packet.added.push(s);
            }
            for &(id, old, new, cached) in &changes {
                let id = EntityId(id);
                if cached {
                    w.update_encoded(&EncodedUpdate::between(id, &old, &new));
                } else {
                    w.update(id, &old, &new);
                }
                packet.updated.extend(EntityDelta::between_motion(id, &old, &new));
            }
            for &id in &removed {
                w.remove(EntityId(id));
                packet.removed.push(EntityId(id));
            }
            prop_assert_eq!(
                w.is_empty(),
                packet.added.is_empty() && packet.updated.is_empty() && packet.removed.is_empty()
            );
            let mut frame = Vec::new();
            w.delta_frame(tick, baseline, &mut frame).unwrap();
            let packet = ServerPacket::Delta(packet);
            prop_assert_eq!(&frame, &packet.encode().unwrap());
            w.clear();
            prop_assert!(w.is_empty());
        }
    }
}
