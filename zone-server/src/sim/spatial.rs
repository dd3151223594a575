//! A uniform grid over the ground plane for "who is near this point" queries, so the area
//! of interest and NPC aggro never compare every pair of entities.
//!
//! It holds slots (indices into the tick's table of entities, `Simulation::frame`) rather
//! than entity ids: a query's answer then leads to the entity's id and motion without a
//! hash lookup.

/// Cell edge, metres: small enough that a ring search touches few extra entities.
pub const CELL_SIZE: f32 = 8.0;

/// Entities bucketed by cell over a fixed rectangle (the area plus its border band;
/// anything outside lands in the edge cells). Rebuilt every tick: cheap, never stale.
#[derive(Debug)]
pub struct SpatialGrid {
    min_x: f32,
    min_z: f32,
    columns: i32,
    rows: i32,
    cells: Vec<Vec<(u32, f32, f32)>>,
}

impl SpatialGrid {
    /// A grid covering the rectangle from (min_x, min_z) to (max_x, max_z).
    pub fn covering(min_x: f32, min_z: f32, max_x: f32, max_z: f32) -> Self {
        let columns = (((max_x - min_x) / CELL_SIZE).ceil() as i32).max(1);
        let rows = (((max_z - min_z) / CELL_SIZE).ceil() as i32).max(1);
        Self {
            min_x,
            min_z,
            columns,
            rows,
            cells: vec![Vec::new(); (columns * rows) as usize],
        }
    }

    fn cell_of(&self, x: f32, z: f32) -> (i32, i32) {
        let cx = ((x - self.min_x) / CELL_SIZE).floor() as i32;
        let cz = ((z - self.min_z) / CELL_SIZE).floor() as i32;
        (cx.clamp(0, self.columns - 1), cz.clamp(0, self.rows - 1))
    }

    /// Empties the grid, keeping its allocations.
    pub fn clear(&mut self) {
        self.cells.iter_mut().for_each(Vec::clear);
    }

    /// Adds the entity in `slot` at (x, z).
    pub fn insert(&mut self, slot: u32, x: f32, z: f32) {
        let (cx, cz) = self.cell_of(x, z);
        self.cells[(cz * self.columns + cx) as usize].push((slot, x, z));
    }

    /// Every entity within `radius` of (x, z), with its squared distance, appended to `out`.
    pub fn within(&self, x: f32, z: f32, radius: f32, out: &mut Vec<(f32, u32)>) {
        let rings = (radius / CELL_SIZE).ceil() as i32 + 1;
        self.scan(x, z, radius, rings, usize::MAX, out);
    }

    /// At most about `max` entities within `radius` of (x, z), nearest first, in `out`.
    ///
    /// Scans rings of cells outwards and stops after the ring that brought the count to
    /// `max`, then keeps the `max` nearest: cost grows with `max`, not with the crowd.
    pub fn nearest(&self, x: f32, z: f32, radius: f32, max: usize, out: &mut Vec<(f32, u32)>) {
        out.clear();
        let rings = (radius / CELL_SIZE).ceil() as i32 + 1;
        self.scan(x, z, radius, rings, max, out);
        if out.len() > max {
            // Squared distances are never negative: their bits order as the numbers do,
            // and integers compare faster than floats in total order.
            out.select_nth_unstable_by_key(max - 1, |&(d2, _)| d2.to_bits());
            out.truncate(max);
        }
    }

    fn scan(&self, x: f32, z: f32, radius: f32, rings: i32, max: usize, out: &mut Vec<(f32, u32)>) {
        let (cx, cz) = self.cell_of(x, z);
        let r2 = radius * radius;
        for ring in 0..=rings {
            let (z0, z1) = ((cz - ring).max(0), (cz + ring).min(self.rows - 1));
            let (x0, x1) = ((cx - ring).max(0), (cx + ring).min(self.columns - 1));
            for gz in z0..=z1 {
                let edge_row = (gz - cz).abs() == ring;
                // Inner rows only visit the ring's two edge cells.
                let step = if edge_row { 1 } else { (2 * ring).max(1) };
                let mut gx = if edge_row { x0 } else { cx - ring };
                while gx <= x1 {
                    if gx >= x0 {
                        for &(id, ex, ez) in &self.cells[(gz * self.columns + gx) as usize] {
                            let d2 = (ex - x) * (ex - x) + (ez - z) * (ez - z);
                            if d2 <= r2 {
                                out.push((d2, id));
                            }
                        }
                    }
                    gx += step;
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
        let mut g = SpatialGrid::covering(-10.0, -10.0, 110.0, 110.0);
        for i in 0..100u32 {
            g.insert(i, i as f32, 0.0);
        }
        let mut out = Vec::new();
        g.within(50.0, 0.0, 10.0, &mut out);
        let mut ids: Vec<u32> = out.iter().map(|(_, slot)| *slot).collect();
        ids.sort_unstable();
        assert_eq!(ids, (40..=60).collect::<Vec<_>>());
    }

    #[test]
    fn nearest_keeps_the_closest() {
        let mut g = SpatialGrid::covering(-10.0, -10.0, 110.0, 110.0);
        for i in 0..100u32 {
            g.insert(i, i as f32 * 0.5, 3.0);
        }
        let mut out = Vec::new();
        g.nearest(0.0, 3.0, 100.0, 5, &mut out);
        let mut ids: Vec<u32> = out.iter().map(|(_, slot)| *slot).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1, 2, 3, 4]);
        g.clear();
        g.nearest(0.0, 3.0, 100.0, 5, &mut out);
        assert!(out.is_empty());
    }
}
