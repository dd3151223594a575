//! The area's world (NPCs and items on the ground) as it moves with a migration: exported
//! by the draining zone, loaded by the zone taking over, so nothing on the ground is lost
//! or duplicated and the NPCs are where they were.

use protocol::UnixMillis;
use protocol::cluster::{GroundItemSnapshot, NpcSnapshot};

use super::Simulation;
use super::combat::NPC_RESPAWN_SECS;
use super::items::RESOURCE_RESPAWN_SECS;

impl Simulation {
    /// Every NPC and ground item as they stand; tick-based timers become wall-clock times
    /// (`now` is the current Unix time in milliseconds).
    pub fn world_state(&self, now: UnixMillis) -> (Vec<NpcSnapshot>, Vec<GroundItemSnapshot>) {
        let ms_per_tick = self.ms_per_tick();
        let npcs = self
            .npcs
            .iter()
            .map(|npc| NpcSnapshot {
                kind: npc.spec.kind,
                spawn: npc.spawn_index,
                position: npc.pos,
                health: if npc.alive() { npc.health } else { 0 },
            })
            .collect();
        let items = self
            .items
            .values()
            .map(|item| GroundItemSnapshot {
                stack: item.stack,
                position: item.pos,
                despawn_at: item.despawn_at.map_or(0, |at| {
                    now + u64::from(at.saturating_sub(self.tick)) * ms_per_tick
                }),
                node: item.node.map(|n| n as u32),
                entity: Some(item.entity),
            })
            .collect();
        (npcs, items)
    }

    /// Replaces this area's NPC and ground-item state with a migrated snapshot. NPCs are
    /// matched by spawn point (unknown ones are ignored: the content is the same for the
    /// same area); resource nodes with no item on them regrow as if just picked.
    pub fn load_world_state(
        &mut self,
        npcs: &[NpcSnapshot],
        items: &[GroundItemSnapshot],
        now: UnixMillis,
    ) {
        let ms_per_tick = self.ms_per_tick();
        let tick = self.tick;
        let npc_respawn = self.secs(NPC_RESPAWN_SECS as f32);
        for snapshot in npcs {
            if let Some(npc) = self
                .npcs
                .iter_mut()
                .find(|n| n.spawn_index == snapshot.spawn && n.spec.kind == snapshot.kind)
                && snapshot.position.is_finite()
            {
                npc.restore(snapshot.position, snapshot.health, tick, npc_respawn);
            }
        }
        self.items.clear();
        let regrow = tick + self.secs(RESOURCE_RESPAWN_SECS as f32);
        for slot in &mut self.node_respawn {
            *slot = Some(regrow);
        }
        for snapshot in items {
            if snapshot.stack.count == 0 || !snapshot.position.is_finite() {
                continue;
            }
            let despawn_at = (snapshot.despawn_at != 0).then(|| {
                let left = snapshot.despawn_at.saturating_sub(now) / ms_per_tick;
                tick + left.min(u64::from(u32::MAX / 2)) as u32
            });
            let entity = self.spawn_ground_item_as(
                snapshot.entity,
                snapshot.stack,
                snapshot.position,
                despawn_at,
            );
            let node = snapshot
                .node
                .map(|n| n as usize)
                .filter(|n| *n < self.node_respawn.len());
            if let (Some(node), Some(item)) = (node, self.items.get_mut(&entity)) {
                item.node = Some(node);
                self.node_respawn[node] = None;
            }
        }
        self.rebuild_spatial();
    }

    /// Milliseconds per tick (at least 1), to turn tick timers into wall-clock times.
    fn ms_per_tick(&self) -> u64 {
        (1000 / u64::from(self.cfg.tick_rate.max(1))).max(1)
    }
}
