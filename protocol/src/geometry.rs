//! The world's geometry: a rectangle on the XZ plane (Y up) cut into a grid of equal square
//! areas. The grid is configuration shared by the manager and every zone; everything here
//! is pure arithmetic on it.

use serde::{Deserialize, Serialize};

use crate::ids::AreaId;

/// A point in world space, metres. X grows east, Z grows south, Y is up.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Position {
    /// East-west, metres; every coordinate is a finite 32-bit float.
    #[cfg_attr(feature = "openapi", schema(minimum = -3.402_823_5e38, maximum = 3.402_823_5e38))]
    pub x: f32,
    /// Height, metres.
    #[cfg_attr(feature = "openapi", schema(minimum = -3.402_823_5e38, maximum = 3.402_823_5e38))]
    pub y: f32,
    /// North-south, metres.
    #[cfg_attr(feature = "openapi", schema(minimum = -3.402_823_5e38, maximum = 3.402_823_5e38))]
    pub z: f32,
}

impl Position {
    /// The point (x, y, z).
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Self { x, y, z }
    }

    /// Whether every coordinate is a finite number.
    pub fn is_finite(&self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }

    /// Distance to `other` on the ground plane, ignoring height.
    pub fn planar_distance(&self, other: &Position) -> f32 {
        (self.x - other.x).hypot(self.z - other.z)
    }
}

/// An axis-aligned rectangle on the ground plane: `min` inclusive, `max` exclusive.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AreaBounds {
    /// West edge.
    pub min_x: f32,
    /// North edge.
    pub min_z: f32,
    /// East edge.
    pub max_x: f32,
    /// South edge.
    pub max_z: f32,
}

impl AreaBounds {
    /// Whether (x, z) lies inside.
    pub fn contains(&self, x: f32, z: f32) -> bool {
        x >= self.min_x && x < self.max_x && z >= self.min_z && z < self.max_z
    }

    /// The centre point on the ground (y = 0).
    pub fn centre(&self) -> Position {
        Position::new(
            (self.min_x + self.max_x) / 2.0,
            0.0,
            (self.min_z + self.max_z) / 2.0,
        )
    }

    /// How far (x, z) lies outside these bounds; 0 inside.
    pub fn distance_outside(&self, x: f32, z: f32) -> f32 {
        let dx = (self.min_x - x).max(x - self.max_x).max(0.0);
        let dz = (self.min_z - z).max(z - self.max_z).max(0.0);
        dx.max(dz)
    }
}

/// Why a grid configuration is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GridError {
    /// Zero columns or rows.
    #[error("the world grid needs at least one column and one row")]
    Empty,
    /// Area edge not a positive finite number.
    #[error("the area edge must be a positive number of metres, got {0}")]
    BadAreaSize(f32),
    /// Origin not finite.
    #[error("the world origin must be finite")]
    BadOrigin,
    /// Margin negative or not smaller than half an area.
    #[error("the handoff margin must be at least 0 and under half the area edge, got {0}")]
    BadMargin(f32),
}

/// The world grid: `columns` × `rows` square areas of `area_size` metres, the north-west
/// corner at (`origin_x`, `origin_z`), and the hysteresis `handoff_margin`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorldGrid {
    /// Areas west to east.
    pub columns: u16,
    /// Areas north to south.
    pub rows: u16,
    /// Edge length of one square area, metres.
    pub area_size: f32,
    /// X of the world's north-west corner.
    pub origin_x: f32,
    /// Z of the world's north-west corner.
    pub origin_z: f32,
    /// How far past a border a player must walk before being handed to the neighbour, so a
    /// player walking along a border does not bounce between zones.
    pub handoff_margin: f32,
}

impl Default for WorldGrid {
    /// 4 × 4 areas of 128 m from (0, 0), a 2 m handoff margin.
    fn default() -> Self {
        Self {
            columns: 4,
            rows: 4,
            area_size: 128.0,
            origin_x: 0.0,
            origin_z: 0.0,
            handoff_margin: 2.0,
        }
    }
}

impl WorldGrid {
    /// Checks that the grid is usable.
    pub fn validate(&self) -> Result<(), GridError> {
        if self.columns == 0 || self.rows == 0 {
            return Err(GridError::Empty);
        }
        if !(self.area_size.is_finite() && self.area_size > 0.0) {
            return Err(GridError::BadAreaSize(self.area_size));
        }
        if !(self.origin_x.is_finite() && self.origin_z.is_finite()) {
            return Err(GridError::BadOrigin);
        }
        if !(self.handoff_margin >= 0.0 && self.handoff_margin < self.area_size / 2.0) {
            return Err(GridError::BadMargin(self.handoff_margin));
        }
        Ok(())
    }

    /// Whether `area` is a cell of this grid.
    pub fn contains(&self, area: AreaId) -> bool {
        area.x < self.columns && area.z < self.rows
    }

    /// Every area of the grid, row by row.
    pub fn areas(&self) -> impl Iterator<Item = AreaId> + '_ {
        (0..self.rows).flat_map(move |z| (0..self.columns).map(move |x| AreaId::new(x, z)))
    }

    /// The area containing the ground point (x, z), or `None` outside the world.
    pub fn area_at(&self, x: f32, z: f32) -> Option<AreaId> {
        let col = ((x - self.origin_x) / self.area_size).floor();
        let row = ((z - self.origin_z) / self.area_size).floor();
        // NaN fails both comparisons, so it is outside too.
        if col >= 0.0 && row >= 0.0 && col < f32::from(self.columns) && row < f32::from(self.rows) {
            Some(AreaId::new(col as u16, row as u16))
        } else {
            None
        }
    }

    /// The ground rectangle of `area` (which need not be inside the grid).
    pub fn bounds(&self, area: AreaId) -> AreaBounds {
        let min_x = self.origin_x + f32::from(area.x) * self.area_size;
        let min_z = self.origin_z + f32::from(area.z) * self.area_size;
        AreaBounds {
            min_x,
            min_z,
            max_x: min_x + self.area_size,
            max_z: min_z + self.area_size,
        }
    }

    /// The up to eight areas around `area` that are inside the grid.
    pub fn neighbours(&self, area: AreaId) -> impl Iterator<Item = AreaId> + '_ {
        let (x, z) = (i32::from(area.x), i32::from(area.z));
        (-1..=1)
            .flat_map(move |dz| (-1..=1).map(move |dx| (x + dx, z + dz)))
            .filter(move |&(nx, nz)| (nx, nz) != (x, z))
            .filter_map(|(nx, nz)| {
                Some(AreaId::new(
                    u16::try_from(nx).ok()?,
                    u16::try_from(nz).ok()?,
                ))
            })
            .filter(move |a| self.contains(*a))
    }

    /// The area a player simulated in `current` should be handed to, standing at (x, z):
    /// `Some` only once the player is past the border by more than the handoff margin and
    /// inside the world. Within the margin the player stays where they are.
    pub fn handoff_target(&self, current: AreaId, x: f32, z: f32) -> Option<AreaId> {
        let target = self.area_at(x, z)?;
        if target == current {
            return None;
        }
        let outside = self.bounds(current).distance_outside(x, z);
        (outside > self.handoff_margin).then_some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> WorldGrid {
        WorldGrid {
            columns: 3,
            rows: 2,
            area_size: 100.0,
            origin_x: -50.0,
            origin_z: 0.0,
            handoff_margin: 2.0,
        }
    }

    #[test]
    fn points_map_to_areas() {
        let g = grid();
        assert_eq!(g.area_at(-50.0, 0.0), Some(AreaId::new(0, 0)));
        assert_eq!(g.area_at(49.9, 99.9), Some(AreaId::new(0, 0)));
        assert_eq!(g.area_at(50.0, 100.0), Some(AreaId::new(1, 1)));
        assert_eq!(g.area_at(249.0, 199.0), Some(AreaId::new(2, 1)));
        assert_eq!(g.area_at(250.0, 0.0), None);
        assert_eq!(g.area_at(-50.1, 0.0), None);
        assert_eq!(g.area_at(f32::NAN, 0.0), None);
        assert_eq!(g.area_at(f32::INFINITY, 0.0), None);
    }

    #[test]
    fn bounds_and_neighbours() {
        let g = grid();
        let b = g.bounds(AreaId::new(1, 1));
        assert_eq!(
            (b.min_x, b.min_z, b.max_x, b.max_z),
            (50.0, 100.0, 150.0, 200.0)
        );
        let mut n: Vec<_> = g.neighbours(AreaId::new(0, 0)).collect();
        n.sort();
        assert_eq!(
            n,
            vec![AreaId::new(0, 1), AreaId::new(1, 0), AreaId::new(1, 1)]
        );
        assert_eq!(g.neighbours(AreaId::new(1, 0)).count(), 5);
        assert_eq!(g.areas().count(), 6);
    }

    #[test]
    fn handoff_waits_for_the_margin() {
        let g = grid();
        let a = AreaId::new(0, 0);
        assert_eq!(g.handoff_target(a, 49.0, 10.0), None);
        assert_eq!(g.handoff_target(a, 51.0, 10.0), None, "inside the margin");
        assert_eq!(g.handoff_target(a, 52.5, 10.0), Some(AreaId::new(1, 0)));
        assert_eq!(g.handoff_target(a, -60.0, 10.0), None, "outside the world");
    }

    #[test]
    fn validation_rejects_nonsense() {
        assert!(grid().validate().is_ok());
        assert_eq!(
            WorldGrid {
                columns: 0,
                ..grid()
            }
            .validate(),
            Err(GridError::Empty)
        );
        assert!(
            WorldGrid {
                area_size: f32::NAN,
                ..grid()
            }
            .validate()
            .is_err()
        );
        assert!(
            WorldGrid {
                handoff_margin: 60.0,
                ..grid()
            }
            .validate()
            .is_err()
        );
    }
}
