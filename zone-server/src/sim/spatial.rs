//! A uniform grid over the ground plane for "who is near this point" queries, so the area
//! of interest and NPC aggro never compare every pair of entities.

use std::collections::HashMap;

use protocol::EntityId;

/// Cell edge, metres: small enough that a ring search touches few extra entities.
pub const CELL_SIZE: f32 = 8.0;

/// Entities bucketed by cell; rebuilt every tick (cheap, and never stale).
#[derive(Debug, Default)]
pub struct SpatialGrid {
    cells: HashMap<(i32, i32), Vec<(EntityId, f32, f32)>>,
}

fn cell_of(x: f32, z: f32) -> (i32, i32) {
    (
        (x / CELL_SIZE).floor() as i32,
        (z / CELL_SIZE).floor() as i32,
    )
}

impl SpatialGrid {
    /// Empties the grid, keeping its allocations.
    pub fn clear(&mut self) {
        self.cells.values_mut().for_each(Vec::clear);
    }

    /// Adds an entity at (x, z).
    pub fn insert(&mut self, id: EntityId, x: f32, z: f32) {
        self.cells
            .entry(cell_of(x, z))
            .or_default()
            .push((id, x, z));
    }

    /// Every entity within `radius` of (x, z), with its squared distance, appended to `out`.
    pub fn within(&self, x: f32, z: f32, radius: f32, out: &mut Vec<(f32, EntityId)>) {
        let rings = (radius / CELL_SIZE).ceil() as i32;
        self.scan(x, z, radius, rings, usize::MAX, out);
    }

    /// At most about `max` entities within `radius` of (x, z), nearest first, in `out`.
    ///
    /// Scans rings of cells outwards and stops after the ring that brought the count to
    /// `max`, then keeps the `max` nearest: cost grows with `max`, not with the crowd.
    pub fn nearest(&self, x: f32, z: f32, radius: f32, max: usize, out: &mut Vec<(f32, EntityId)>) {
        out.clear();
        let rings = (radius / CELL_SIZE).ceil() as i32;
        self.scan(x, z, radius, rings, max, out);
        if out.len() > max {
            out.select_nth_unstable_by(max - 1, |a, b| a.0.total_cmp(&b.0));
            out.truncate(max);
        }
    }

    fn scan(
        &self,
        x: f32,
        z: f32,
        radius: f32,
        rings: i32,
        max: usize,
        out: &mut Vec<(f32, EntityId)>,
    ) {
        let (cx, cz) = cell_of(x, z);
        let r2 = radius * radius;
        for ring in 0..=rings {
            for dz in -ring..=ring {
                for dx in -ring..=ring {
                    if dx.abs() != ring && dz.abs() != ring {
                        continue; // inside: an earlier ring
                    }
                    let Some(cell) = self.cells.get(&(cx + dx, cz + dz)) else {
                        continue;
                    };
                    for &(id, ex, ez) in cell {
                        let d2 = (ex - x) * (ex - x) + (ez - z) * (ez - z);
                        if d2 <= r2 {
                            out.push((d2, id));
                        }
                    }
                }
            }
            if out.len() >= max {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_finds_exactly_the_entities_in_range() {
        let mut g = SpatialGrid::default();
        for i in 0..100u32 {
            g.insert(EntityId(i), i as f32, 0.0);
        }
        let mut out = Vec::new();
        g.within(50.0, 0.0, 10.0, &mut out);
        let mut ids: Vec<u32> = out.iter().map(|(_, id)| id.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, (40..=60).collect::<Vec<_>>());
    }

    #[test]
    fn nearest_keeps_the_closest() {
        let mut g = SpatialGrid::default();
        for i in 0..100u32 {
            g.insert(EntityId(i), i as f32 * 0.5, 3.0);
        }
        let mut out = Vec::new();
        g.nearest(0.0, 3.0, 100.0, 5, &mut out);
        let mut ids: Vec<u32> = out.iter().map(|(_, id)| id.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        g.clear();
        g.nearest(0.0, 3.0, 100.0, 5, &mut out);
        assert!(out.is_empty());
    }
}
