//! What one client has been told: the entities in its area of interest as it last saw
//! them. Each tick it writes the zone's current states as one compact `Snapshot` (first
//! time) or `Delta` (only what changed, against what this client already holds), straight
//! to the frame's bytes.
//!
//! The table is a vector sorted by entity id, merged with the (sorted) visible set each
//! tick: no hashing on the per-client path, which runs players × visible entities times a
//! tick.

use protocol::EntityId;
use protocol::client::EncodeError;
use protocol::client::UpdateWriter;
use protocol::client::entity::EntityMotion;

/// `visible` (sorted by id) with each id's first entry only, in place.
fn dedup_sorted(visible: &mut [(EntityId, u32)]) -> &mut [(EntityId, u32)] {
    let mut kept = 0;
    for i in 0..visible.len() {
        if kept == 0 || visible[kept - 1].0 != visible[i].0 {
            visible[kept] = visible[i];
            kept += 1;
        }
    }
    &mut visible[..kept]
}

/// The tick's entities, by slot of its entity table, as a view writes them.
pub trait EntitySource {
    /// The current motion of the entity in `slot`.
    fn motion(&self, slot: u32) -> EntityMotion;

    /// Writes the entity `id` in `slot` entering the view, in full; the motion the client
    /// then holds, or `None` when there is nothing to show (it stays out of the view).
    fn write_added(
        &mut self,
        slot: u32,
        id: EntityId,
        writer: &mut UpdateWriter,
    ) -> Option<EntityMotion>;

    /// Writes the change of the entity `id` in `slot` from `old` to `now` (they differ).
    fn write_update(
        &self,
        slot: u32,
        id: EntityId,
        old: &EntityMotion,
        now: &EntityMotion,
        writer: &mut UpdateWriter,
    ) {
        let _ = slot;
        writer.update(id, old, now);
    }
}

/// The client-side table, mirrored on the server.
#[derive(Debug, Default)]
pub struct View {
    known: Vec<(EntityId, EntityMotion)>,
    next: Vec<(EntityId, EntityMotion)>,
    last_tick: Option<u32>,
}

impl View {
    /// Appends to `frame` the update for this tick given the entities now visible, each
    /// with its slot in the tick's entity table (`visible` is sorted by id here); false
    /// when the client already holds exactly that. Every change is sent (a neighbour's
    /// ghost stream wants them all). `writer` is scratch space kept between calls.
    ///
    /// A frame that cannot be encoded (over the size limit) is not sent and the view
    /// starts over: its next update is a `Snapshot`.
    pub fn update(
        &mut self,
        tick: u32,
        visible: &mut [(EntityId, u32)],
        entities: &mut impl EntitySource,
        writer: &mut UpdateWriter,
        frame: &mut Vec<u8>,
    ) -> Result<bool, EncodeError> {
        self.update_paced(tick, visible, entities, |_, _| true, writer, frame)
    }

    /// [`View::update`], sending an entity's movement (position, heading) only when
    /// `movement_due` says so: a movement held back stays unsent, and the next update of
    /// the entity carries the whole difference from what the client holds. Entering,
    /// leaving, animation and health are sent at once.
    pub fn update_paced(
        &mut self,
        tick: u32,
        visible: &mut [(EntityId, u32)],
        entities: &mut impl EntitySource,
        movement_due: impl Fn(EntityId, &EntityMotion) -> bool,
        writer: &mut UpdateWriter,
        frame: &mut Vec<u8>,
    ) -> Result<bool, EncodeError> {
        visible.sort_unstable_by_key(|(id, _)| *id);
        // One entity shown by two neighbours (a player between their areas) counts once.
        let visible = dedup_sorted(visible);
        writer.clear();
        self.next.clear();
        let mut known = self.known.iter().peekable();
        for &(id, slot) in visible.iter() {
            while let Some(&&(gone, _)) = known.peek() {
                if gone >= id {
                    break;
                }
                writer.remove(gone);
                known.next();
            }
            match known.peek() {
                Some(&&(same, old)) if same == id => {
                    known.next();
                    let now = entities.motion(slot);
                    if now == old {
                        self.next.push((id, old));
                        continue;
                    }
                    let held_back =
                        old.anim == now.anim && old.health == now.health && !movement_due(id, &now);
                    if held_back {
                        self.next.push((id, old));
                        continue;
                    }
                    entities.write_update(slot, id, &old, &now, writer);
                    self.next.push((id, now));
                }
                _ => {
                    if let Some(motion) = entities.write_added(slot, id, writer) {
                        self.next.push((id, motion));
                    }
                }
            }
        }
        for &(gone, _) in known {
            writer.remove(gone);
        }
        let written = match self.last_tick {
            None => writer.snapshot_frame(tick, frame).map(|()| true),
            Some(_) if writer.is_empty() => Ok(false),
            Some(baseline) => writer.delta_frame(tick, baseline, frame).map(|()| true),
        };
        match written {
            Ok(true) => {
                std::mem::swap(&mut self.known, &mut self.next);
                self.last_tick = Some(tick);
            }
            Ok(false) => std::mem::swap(&mut self.known, &mut self.next),
            Err(_) => *self = Self::default(),
        }
        written
    }

    /// Whether the client currently sees `id`.
    pub fn sees(&self, id: EntityId) -> bool {
        self.known.binary_search_by_key(&id, |(e, _)| *e).is_ok()
    }

    /// How many entities the client currently sees.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether the client sees nothing.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use protocol::client::ServerPacket;
    use protocol::client::entity::{AnimState, EntityKind, EntityState};

    use super::*;

    /// A world of entities, each in the slot of its index.
    struct World<'a>(&'a [EntityState]);

    impl EntitySource for World<'_> {
        fn motion(&self, slot: u32) -> EntityMotion {
            self.0[slot as usize].motion()
        }

        fn write_added(
            &mut self,
            slot: u32,
            _: EntityId,
            writer: &mut UpdateWriter,
        ) -> Option<EntityMotion> {
            let state = &self.0[slot as usize];
            writer.add(state).ok()?;
            Some(state.motion())
        }
    }

    /// The view's update of `world` as the client decodes it.
    fn update(
        view: &mut View,
        tick: u32,
        visible: &mut [(EntityId, u32)],
        world: &[EntityState],
        movement_due: impl Fn(EntityId, &EntityMotion) -> bool,
    ) -> Option<ServerPacket> {
        let mut frame = Vec::new();
        let written = view
            .update_paced(
                tick,
                visible,
                &mut World(world),
                movement_due,
                &mut UpdateWriter::default(),
                &mut frame,
            )
            .expect("encodes");
        assert_eq!(written, !frame.is_empty());
        written.then(|| ServerPacket::decode(&frame).expect("decodes"))
    }

    fn state(id: u32, x: i32) -> EntityState {
        EntityState {
            id: EntityId(u64::from(id)),
            kind: EntityKind::Npc,
            type_id: 1,
            pos: [x, 0, 0],
            yaw: 0,
            anim: AnimState::Idle,
            health: 100,
            name: None,
        }
    }

    /// Plays the packets the view emits into a client-side table, as a client would.
    fn apply(client: &mut HashMap<EntityId, EntityState>, packet: ServerPacket) {
        match packet {
            ServerPacket::Snapshot(s) => {
                client.clear();
                client.extend(s.entities.into_iter().map(|e| (e.id, e)));
            }
            ServerPacket::Delta(d) => {
                client.extend(d.added.into_iter().map(|e| (e.id, e)));
                for u in d.updated {
                    u.apply(client.get_mut(&u.id).expect("updated entity is known"));
                }
                for id in d.removed {
                    client.remove(&id);
                }
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn snapshot_then_deltas_keep_the_client_in_sync() {
        let mut view = View::default();
        let mut client = HashMap::new();
        let mut world: Vec<EntityState> = vec![state(5, 0), state(2, 100), state(9, 3)];
        for tick in 0..12u32 {
            match tick {
                3 => world.push(state(3, 7)),
                6 => world.retain(|e| e.id != EntityId(2)),
                8 => world.retain(|e| e.id != EntityId(9)),
                9 => world.push(state(1, 1)),
                _ => {}
            }
            if tick % 2 == 0 {
                world[0].pos[0] += 5;
            }
            let snapshot = world.clone();
            let mut ids: Vec<(EntityId, u32)> = snapshot
                .iter()
                .enumerate()
                .map(|(slot, e)| (e.id, slot as u32))
                .collect();
            let packet = update(&mut view, tick, &mut ids, &snapshot, |_, _| true);
            if tick == 0 {
                assert!(matches!(packet, Some(ServerPacket::Snapshot(_))));
            }
            if let Some(packet) = packet {
                apply(&mut client, packet);
            }
            let expected: HashMap<_, _> = world.iter().map(|e| (e.id, e.clone())).collect();
            assert_eq!(client, expected, "tick {tick}");
            assert!(world.iter().all(|e| view.sees(e.id)));
        }
    }

    #[test]
    fn nothing_changed_sends_nothing() {
        let mut view = View::default();
        let world = [state(1, 0)];
        let id = world[0].id;
        assert!(update(&mut view, 0, &mut [(id, 0)], &world, |_, _| true).is_some());
        assert!(update(&mut view, 1, &mut [(id, 0)], &world, |_, _| true).is_none());
    }

    #[test]
    fn movement_held_back_arrives_whole_and_the_rest_at_once() {
        let mut view = View::default();
        let mut client = HashMap::new();
        let mut world = vec![state(1, 0), state(2, 0)];
        for tick in 0..12u32 {
            world[0].pos[0] += 3;
            world[1].pos[0] += 5;
            if tick == 5 {
                world[1].anim = AnimState::Attack;
            }
            let snapshot = world.clone();
            let mut ids = vec![(EntityId(1), 0), (EntityId(2), 1)];
            // Entity 2 is "far": its movement is due every fourth tick only.
            let packet = update(&mut view, tick, &mut ids, &snapshot, |id, _| {
                id == EntityId(1) || tick.is_multiple_of(4)
            });
            if let Some(packet) = packet {
                apply(&mut client, packet);
            }
            assert_eq!(client[&EntityId(1)], world[0], "tick {tick}");
            let far = &client[&EntityId(2)];
            assert_eq!(far.anim, world[1].anim, "tick {tick}: animation at once");
            if tick.is_multiple_of(4) || tick == 5 {
                assert_eq!(far.pos, world[1].pos, "tick {tick}: the whole movement");
            } else {
                assert!(far.pos[0] < world[1].pos[0], "tick {tick}: held back");
            }
        }
    }

    #[test]
    fn a_frame_too_large_to_send_starts_the_view_over() {
        let mut view = View::default();
        let mut big = state(1, 0);
        big.name = Some("x".repeat(300 * 1024));
        let world = [big, state(2, 0)];
        let mut frame = Vec::new();
        let mut ids = [(EntityId(1), 0), (EntityId(2), 1)];
        let written = view.update(
            0,
            &mut ids,
            &mut World(&world),
            &mut UpdateWriter::default(),
            &mut frame,
        );
        assert!(written.is_err());
        assert!(frame.is_empty() && view.is_empty());
        let packet = update(&mut view, 1, &mut [(EntityId(2), 1)], &world, |_, _| true);
        assert!(
            matches!(packet, Some(ServerPacket::Snapshot(s)) if s.entities.len() == 1),
            "a fresh snapshot follows"
        );
    }
}
