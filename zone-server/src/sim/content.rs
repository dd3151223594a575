//! An area's static content, generated deterministically from its id: every zone that
//! loads area (x, z) builds the same obstacles, resource nodes and NPC spawn points, so a
//! migrated or reallocated area looks the same to its players.

use protocol::content::{ItemKind, NpcKind};
use protocol::{AreaBounds, AreaId, Position, WorldGrid};

use super::rng::SplitMix;

/// Height of every obstacle, metres (taller than any character).
pub const OBSTACLE_HEIGHT: f32 = 3.0;
/// No obstacle comes closer than this to an area's edge, so borders stay walkable.
const EDGE_CLEARANCE: f32 = 8.0;
/// No obstacle comes closer than this to the player spawn point.
const SPAWN_CLEARANCE: f32 = 12.0;

/// A box standing on the ground.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obstacle {
    /// Centre on the ground plane (y = 0).
    pub centre: Position,
    /// Half its width along X.
    pub half_x: f32,
    /// Half its depth along Z.
    pub half_z: f32,
}

impl Obstacle {
    /// Whether the ground point (x, z), grown by `radius`, overlaps this box.
    pub fn overlaps(&self, x: f32, z: f32, radius: f32) -> bool {
        (x - self.centre.x).abs() < self.half_x + radius
            && (z - self.centre.z).abs() < self.half_z + radius
    }
}

/// A place where a gatherable item keeps appearing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourceNode {
    /// Where.
    pub position: Position,
    /// What grows there.
    pub item: ItemKind,
}

/// Where an NPC of some kind lives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NpcSpawn {
    /// Its home point.
    pub position: Position,
    /// Its kind.
    pub kind: NpcKind,
}

/// Everything static about one area.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaContent {
    /// The area.
    pub area: AreaId,
    /// Its ground rectangle.
    pub bounds: AreaBounds,
    /// Where players appear and respawn.
    pub player_spawn: Position,
    /// Boxes nobody walks through.
    pub obstacles: Vec<Obstacle>,
    /// Gathering spots.
    pub resource_nodes: Vec<ResourceNode>,
    /// NPC homes.
    pub npc_spawns: Vec<NpcSpawn>,
}

impl AreaContent {
    /// The content of `area` of `grid`.
    pub fn generate(area: AreaId, grid: &WorldGrid) -> Self {
        let bounds = grid.bounds(area);
        let mut rng =
            SplitMix::new(u64::from(area.x) << 32 | u64::from(area.z) | 0x5eed_0000_0000_0000);
        let player_spawn = bounds.centre();
        let size = grid.area_size;
        // Small areas (tests, tiny grids) get proportionally less content.
        let scale = (size / 128.0).clamp(0.1, 4.0);
        let inner = |rng: &mut SplitMix, margin: f32| {
            let m = margin.min(size / 4.0);
            Position::new(
                rng.range(bounds.min_x + m, bounds.max_x - m),
                0.0,
                rng.range(bounds.min_z + m, bounds.max_z - m),
            )
        };

        let mut obstacles = Vec::new();
        for _ in 0..((14.0 * scale) as usize).max(1) {
            let centre = inner(&mut rng, EDGE_CLEARANCE + 3.0);
            let obstacle = Obstacle {
                centre,
                half_x: rng.range(1.0, 3.5),
                half_z: rng.range(1.0, 3.5),
            };
            if !obstacle.overlaps(player_spawn.x, player_spawn.z, SPAWN_CLEARANCE) {
                obstacles.push(obstacle);
            }
        }
        let free = |p: &Position, obstacles: &[Obstacle]| {
            obstacles.iter().all(|o| !o.overlaps(p.x, p.z, 1.5))
        };
        let place = |rng: &mut SplitMix, obstacles: &[Obstacle]| loop {
            let p = inner(rng, EDGE_CLEARANCE);
            if free(&p, obstacles) {
                break p;
            }
        };

        let kinds = [NpcKind::WOLF, NpcKind::WOLF, NpcKind::BOAR, NpcKind::BANDIT];
        let npc_spawns = (0..((10.0 * scale) as usize).max(2))
            .map(|i| NpcSpawn {
                position: place(&mut rng, &obstacles),
                kind: kinds[i % kinds.len()],
            })
            .collect();
        let items = [ItemKind::HEALING_HERB, ItemKind::IRON_ORE];
        let resource_nodes = (0..((6.0 * scale) as usize).max(2))
            .map(|i| ResourceNode {
                position: place(&mut rng, &obstacles),
                item: items[i % items.len()],
            })
            .collect();
        Self {
            area,
            bounds,
            player_spawn,
            obstacles,
            resource_nodes,
            npc_spawns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_keeps_spawn_and_edges_clear() {
        let grid = WorldGrid::default();
        let a = AreaContent::generate(AreaId::new(1, 2), &grid);
        assert_eq!(a, AreaContent::generate(AreaId::new(1, 2), &grid));
        assert_ne!(
            a.obstacles,
            AreaContent::generate(AreaId::new(2, 1), &grid).obstacles
        );
        assert!(
            !a.obstacles.is_empty() && !a.npc_spawns.is_empty() && !a.resource_nodes.is_empty()
        );
        for o in &a.obstacles {
            assert!(!o.overlaps(a.player_spawn.x, a.player_spawn.z, 10.0));
            assert!(o.centre.x - o.half_x > a.bounds.min_x + EDGE_CLEARANCE);
            assert!(o.centre.z + o.half_z < a.bounds.max_z - EDGE_CLEARANCE);
        }
        for s in &a.npc_spawns {
            assert!(a.bounds.contains(s.position.x, s.position.z));
        }
    }
}
