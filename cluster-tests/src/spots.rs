//! Places on the map for tests and benchmarks that need players at a border: spots clear
//! of obstacles, the NPC that lives nearest a border (from the areas' deterministic
//! content), and small moves of a [`Viewer`] there.

use std::time::{Duration, Instant};

use protocol::{AreaId, Position, WorldGrid};
use zone_server::sim::content::AreaContent;

use crate::viewer::Viewer;

/// An NPC's home near a border between two areas side by side.
#[derive(Debug, Clone, Copy)]
pub struct NpcAtBorder {
    /// The NPC's area.
    pub home: AreaId,
    /// Its spawn point's index in the area's content.
    pub spawn: u32,
    /// Where it spawns.
    pub at: Position,
    /// The area across the border.
    pub across: AreaId,
    /// The border's x.
    pub edge: f32,
}

/// A spot near (x, z) in `area` where no obstacle stands (searching along z).
pub fn free_spot(area: AreaId, x: f32, z: f32) -> Position {
    let content = AreaContent::generate(area, &WorldGrid::default());
    let b = content.bounds;
    (0..240)
        .map(|i| {
            z + if i % 2 == 0 {
                i as f32 / 2.0
            } else {
                -(i as f32 + 1.0) / 2.0
            }
        })
        .find(|&z| {
            z > b.min_z + 4.0
                && z < b.max_z - 4.0
                && content.obstacles.iter().all(|o| !o.overlaps(x, z, 2.5))
        })
        .map(|z| Position::new(x, 0.0, z))
        .unwrap_or_else(|| panic!("no free spot near ({x}, {z}) in {area}"))
}

/// A row (z, near `z`) where both sides of the border between `west` and the area east of
/// it are free 4 m from the border.
pub fn border_row(west: AreaId, z: f32) -> f32 {
    let east = AreaId::new(west.x + 1, west.z);
    let edge = WorldGrid::default().bounds(east).min_x;
    let mut z = z;
    loop {
        let w = free_spot(west, edge - 4.0, z).z;
        let e = free_spot(east, edge + 4.0, w).z;
        if (w - e).abs() < 0.1 {
            return w;
        }
        z = e;
    }
}

/// Reads the viewers' frames for `duration` (each in turn, 10 ms at a time). Panics when
/// a connection closes: for tests and benchmarks, where that is the failure.
pub async fn pump_all(viewers: &mut [&mut Viewer], duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        for v in viewers.iter_mut() {
            v.pump(Duration::from_millis(10)).await.expect("connected");
        }
    }
}

/// One step of walking `viewer` along x to `x` (stopping within 0.3 m).
pub async fn steer(viewer: &mut Viewer, x: f32) {
    let at = viewer.position().expect("in view of itself").x;
    let dx = if (at - x).abs() < 0.3 {
        0
    } else if at < x {
        127
    } else {
        -127
    };
    viewer.walk(dx, 0).await.expect("sent");
}

/// The NPC spawn nearest a border between two areas side by side in the default grid.
pub fn npc_near_a_border() -> NpcAtBorder {
    let grid = WorldGrid::default();
    let mut best: Option<(f32, NpcAtBorder)> = None;
    for z in 0..grid.rows {
        for x in 0..grid.columns - 1 {
            let (w, e) = (AreaId::new(x, z), AreaId::new(x + 1, z));
            let edge = grid.bounds(e).min_x;
            for (area, across) in [(w, e), (e, w)] {
                let content = AreaContent::generate(area, &grid);
                for (i, spawn) in content.npc_spawns.iter().enumerate() {
                    let d = (spawn.position.x - edge).abs();
                    if best.as_ref().is_none_or(|(b, _)| d < *b) {
                        let found = NpcAtBorder {
                            home: area,
                            spawn: i as u32,
                            at: spawn.position,
                            across,
                            edge,
                        };
                        best = Some((d, found));
                    }
                }
            }
        }
    }
    best.expect("some NPC").1
}
