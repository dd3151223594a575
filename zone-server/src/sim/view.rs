//! What one client has been told: the entities in its area of interest as it last saw
//! them. Each tick it turns the zone's current states into one compact `Snapshot` (first
//! time) or `Delta` (only what changed, against what this client already holds).

use protocol::EntityId;
use protocol::client::ServerPacket;
use protocol::client::entity::{EntityDelta, EntityMotion, EntityState};
use protocol::client::packets::{Delta, Snapshot};
use rustc_hash::FxHashMap;

/// The client-side table, mirrored on the server.
#[derive(Debug, Default)]
pub struct View {
    known: FxHashMap<EntityId, (EntityMotion, u32)>,
    last_tick: Option<u32>,
    generation: u32,
}

impl View {
    /// The update for this tick given the entities now visible, or `None` when the client
    /// already holds exactly that. `motion_of` gives an entity's current motion; `state_of`
    /// its full state (only called for entities the client has not seen).
    pub fn update(
        &mut self,
        tick: u32,
        visible: impl Iterator<Item = EntityId>,
        motion_of: impl Fn(EntityId) -> Option<EntityMotion>,
        state_of: impl Fn(EntityId) -> Option<EntityState>,
    ) -> Option<ServerPacket> {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let first = self.last_tick.is_none();
        let (mut added, mut updated) = (Vec::new(), Vec::new());
        for id in visible {
            match self.known.get_mut(&id) {
                Some((known, seen)) => {
                    *seen = generation;
                    if let Some(now) = motion_of(id) {
                        if let Some(delta) = EntityDelta::between_motion(id, known, &now) {
                            updated.push(delta);
                            *known = now;
                        }
                    }
                }
                None => {
                    if let Some(state) = state_of(id) {
                        self.known.insert(id, (state.motion(), generation));
                        added.push(state);
                    }
                }
            }
        }
        let mut removed = Vec::new();
        self.known.retain(|id, (_, seen)| {
            let keep = *seen == generation;
            if !keep {
                removed.push(*id);
            }
            keep
        });
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
            updated,
            removed,
        }))
    }

    /// Whether the client currently sees `id`.
    pub fn sees(&self, id: EntityId) -> bool {
        self.known.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use protocol::client::entity::{AnimState, EntityKind};

    use super::*;

    fn state(id: u32, x: i32) -> EntityState {
        EntityState {
            id: EntityId(id),
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
    fn apply(client: &mut FxHashMap<EntityId, EntityState>, packet: ServerPacket) {
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
        let mut client = FxHashMap::default();
        let mut world: Vec<EntityState> = vec![state(1, 0), state(2, 100)];
        for tick in 0..10u32 {
            if tick == 3 {
                world.push(state(3, 7));
            }
            if tick == 6 {
                world.retain(|e| e.id != EntityId(2));
            }
            if tick % 2 == 0 {
                world[0].pos[0] += 5;
            }
            let snapshot = world.clone();
            let packet = view.update(
                tick,
                snapshot.iter().map(|e| e.id),
                |id| {
                    snapshot
                        .iter()
                        .find(|e| e.id == id)
                        .map(EntityState::motion)
                },
                |id| snapshot.iter().find(|e| e.id == id).cloned(),
            );
            if tick == 0 {
                assert!(matches!(packet, Some(ServerPacket::Snapshot(_))));
            }
            if let Some(packet) = packet {
                apply(&mut client, packet);
            }
            let expected: FxHashMap<_, _> = world.iter().map(|e| (e.id, e.clone())).collect();
            assert_eq!(client, expected, "tick {tick}");
        }
    }

    #[test]
    fn nothing_changed_sends_nothing() {
        let mut view = View::default();
        let e = state(1, 0);
        let motion = |_| Some(e.motion());
        let full = |_| Some(e.clone());
        assert!(view.update(0, [e.id].into_iter(), motion, full).is_some());
        assert!(view.update(1, [e.id].into_iter(), motion, full).is_none());
    }
}
