//! What one client has been told: the entities in its area of interest as it last saw
//! them. Each tick it turns the zone's current states into one compact `Snapshot` (first
//! time) or `Delta` (only what changed, against what this client already holds).
//!
//! The table is a vector sorted by entity id, merged with the (sorted) visible set each
//! tick: no hashing on the per-client path, which runs players × visible entities times a
//! tick.

use protocol::EntityId;
use protocol::client::ServerPacket;
use protocol::client::entity::{EntityDelta, EntityMotion, EntityState};
use protocol::client::packets::{Delta, Snapshot};

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

/// The client-side table, mirrored on the server.
#[derive(Debug, Default)]
pub struct View {
    known: Vec<(EntityId, EntityMotion)>,
    next: Vec<(EntityId, EntityMotion)>,
    last_tick: Option<u32>,
}

impl View {
    /// The update for this tick given the entities now visible, each with its slot in the
    /// tick's entity table (`visible` is sorted by id here), or `None` when the client
    /// already holds exactly that. `motion_of` gives the current motion of a slot's
    /// entity; `state_of` an entity's full state (only for entities new to the client).
    /// Every change is sent (a neighbour's ghost stream wants them all).
    pub fn update(
        &mut self,
        tick: u32,
        visible: &mut [(EntityId, u32)],
        motion_of: impl Fn(u32) -> EntityMotion,
        state_of: impl Fn(EntityId) -> Option<EntityState>,
    ) -> Option<ServerPacket> {
        self.update_paced(
            tick,
            visible,
            motion_of,
            state_of,
            |_, _| true,
            &mut Vec::new(),
        )
    }

    /// [`View::update`], sending an entity's movement (position, heading) only when
    /// `movement_due` says so: a movement held back stays unsent, and the next update of
    /// the entity carries the whole difference from what the client holds. Entering,
    /// leaving, animation and health are sent at once. The `Delta`'s updates are gathered
    /// in `updates` (empty; a list kept from earlier ticks), which it takes.
    pub fn update_paced(
        &mut self,
        tick: u32,
        visible: &mut [(EntityId, u32)],
        motion_of: impl Fn(u32) -> EntityMotion,
        state_of: impl Fn(EntityId) -> Option<EntityState>,
        movement_due: impl Fn(EntityId, &EntityMotion) -> bool,
        updates: &mut Vec<EntityDelta>,
    ) -> Option<ServerPacket> {
        visible.sort_unstable_by_key(|(id, _)| *id);
        // One entity shown by two neighbours (a player between their areas) counts once.
        let visible = dedup_sorted(visible);
        let first = self.last_tick.is_none();
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        let updated = updates;
        updated.clear();
        updated.reserve(visible.len());
        self.next.clear();
        let mut known = self.known.iter().peekable();
        for &(id, slot) in visible.iter() {
            while let Some(&&(gone, _)) = known.peek() {
                if gone >= id {
                    break;
                }
                removed.push(gone);
                known.next();
            }
            match known.peek() {
                Some(&&(same, old)) if same == id => {
                    known.next();
                    let now = motion_of(slot);
                    let held_back =
                        old.anim == now.anim && old.health == now.health && !movement_due(id, &now);
                    if held_back {
                        self.next.push((id, old));
                        continue;
                    }
                    if let Some(delta) = EntityDelta::between_motion(id, &old, &now) {
                        updated.push(delta);
                    }
                    self.next.push((id, now));
                }
                _ => {
                    if let Some(state) = state_of(id) {
                        self.next.push((id, state.motion()));
                        added.push(state);
                    }
                }
            }
        }
        removed.extend(known.map(|(id, _)| *id));
        std::mem::swap(&mut self.known, &mut self.next);
        if first {
            self.last_tick = Some(tick);
            return Some(ServerPacket::Snapshot(Snapshot {
                tick,
                entities: added,
            }));
        }
        if added.is_empty() && updated.is_empty() && removed.is_empty() {
            return None;
        }
        let baseline = self.last_tick.replace(tick).unwrap_or(tick);
        Some(ServerPacket::Delta(Delta {
            tick,
            baseline,
            added,
            updated: std::mem::take(updated),
            removed,
        }))
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

    use protocol::client::entity::{AnimState, EntityKind};

    use super::*;

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
            let packet = view.update(
                tick,
                &mut ids,
                |slot| snapshot[slot as usize].motion(),
                |id| snapshot.iter().find(|e| e.id == id).cloned(),
            );
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
        let e = state(1, 0);
        let motion = |_| e.motion();
        let full = |_| Some(e.clone());
        assert!(view.update(0, &mut [(e.id, 0)], motion, full).is_some());
        assert!(view.update(1, &mut [(e.id, 0)], motion, full).is_none());
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
            let packet = view.update_paced(
                tick,
                &mut ids,
                |slot| snapshot[slot as usize].motion(),
                |id| snapshot.iter().find(|e| e.id == id).cloned(),
                |id, _| id == EntityId(1) || tick.is_multiple_of(4),
                &mut Vec::new(),
            );
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
}
