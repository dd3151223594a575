//! Server-authoritative movement: a rapier3d kinematic character controller against the
//! area's static colliders. Characters do not collide with each other (as in most MMOs),
//! so the physics world holds only the obstacles, and a move whose swept box touches no
//! obstacle skips the shape casts altogether.

use rapier3d::control::KinematicCharacterController;
use rapier3d::prelude::*;

use super::content::{AreaContent, OBSTACLE_HEIGHT, Obstacle};

/// Radius of every character's capsule.
pub const CHARACTER_RADIUS: f32 = 0.4;
const CHARACTER_HALF_HEIGHT: f32 = 0.5;
/// Height of a capsule's centre above the ground.
const CHARACTER_CENTRE_Y: f32 = CHARACTER_HALF_HEIGHT + CHARACTER_RADIUS + 0.05;

/// The static world of one area and the controller that moves characters through it.
pub struct Physics {
    world: PhysicsWorld,
    controller: KinematicCharacterController,
    shape: SharedShape,
    obstacles: Vec<Obstacle>,
}

impl std::fmt::Debug for Physics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Physics")
            .field("obstacles", &self.obstacles.len())
            .finish()
    }
}

impl Physics {
    /// The area's obstacles as colliders.
    pub fn new(content: &AreaContent) -> Self {
        let mut world = PhysicsWorld::new();
        for o in &content.obstacles {
            let collider = ColliderBuilder::cuboid(o.half_x, OBSTACLE_HEIGHT / 2.0, o.half_z)
                .translation(Vector::new(o.centre.x, OBSTACLE_HEIGHT / 2.0, o.centre.z))
                .build();
            world.insert_collider(collider, None);
        }
        // One step puts the static colliders into the broad phase used by the queries.
        world.step();
        let controller = KinematicCharacterController {
            snap_to_ground: None,
            slide: true,
            ..KinematicCharacterController::default()
        };
        Self {
            world,
            controller,
            shape: SharedShape::capsule_y(CHARACTER_HALF_HEIGHT, CHARACTER_RADIUS),
            obstacles: content.obstacles.clone(),
        }
    }

    /// Where a character standing at ground point (x, z) ends up when it tries to move by
    /// (dx, dz) this tick: stopped or slid along obstacles, never through them.
    pub fn move_character(&self, x: f32, z: f32, dx: f32, dz: f32, dt: f32) -> (f32, f32) {
        if dx == 0.0 && dz == 0.0 {
            return (x, z);
        }
        let reach = CHARACTER_RADIUS + 0.1;
        let (min_x, max_x) = (x.min(x + dx) - reach, x.max(x + dx) + reach);
        let (min_z, max_z) = (z.min(z + dz) - reach, z.max(z + dz) + reach);
        let near_obstacle = self.obstacles.iter().any(|o| {
            o.centre.x + o.half_x > min_x
                && o.centre.x - o.half_x < max_x
                && o.centre.z + o.half_z > min_z
                && o.centre.z - o.half_z < max_z
        });
        if !near_obstacle {
            return (x + dx, z + dz);
        }
        let pose = Pose::from_translation(Vector::new(x, CHARACTER_CENTRE_Y, z));
        let queries = self.world.query_pipeline();
        let movement = self.controller.move_shape(
            dt,
            &queries,
            &*self.shape,
            &pose,
            Vector::new(dx, 0.0, dz),
            |_| {},
        );
        (x + movement.translation.x, z + movement.translation.z)
    }

    /// Whether a character of the standard radius at (x, z) overlaps an obstacle.
    pub fn blocked(&self, x: f32, z: f32) -> bool {
        self.obstacles
            .iter()
            .any(|o| o.overlaps(x, z, CHARACTER_RADIUS))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{AreaId, Position, WorldGrid};

    use super::*;

    fn one_box() -> AreaContent {
        let mut content = AreaContent::generate(AreaId::new(0, 0), &WorldGrid::default());
        content.obstacles = vec![Obstacle {
            centre: Position::new(10.0, 0.0, 10.0),
            half_x: 2.0,
            half_z: 2.0,
        }];
        content
    }

    #[test]
    fn free_movement_is_exact() {
        let p = Physics::new(&one_box());
        assert_eq!(p.move_character(50.0, 50.0, 0.3, -0.2, 0.05), (50.3, 49.8));
    }

    #[test]
    fn walking_into_a_box_stops_at_its_face() {
        let p = Physics::new(&one_box());
        // Walk east into the box's west face (x = 8) from x = 7, many small steps.
        let (mut x, z) = (6.0, 10.0);
        for _ in 0..40 {
            (x, _) = p.move_character(x, z, 0.3, 0.0, 0.05);
        }
        assert!(
            x < 8.0 - CHARACTER_RADIUS + 0.05,
            "walked into the box: x = {x}"
        );
        assert!(x > 7.0, "stopped too early: x = {x}");
        assert!(!p.blocked(x - 0.02, z));
    }

    #[test]
    fn a_long_step_cannot_tunnel_through() {
        let p = Physics::new(&one_box());
        let (x, _) = p.move_character(6.0, 10.0, 10.0, 0.0, 0.05);
        assert!(x < 8.0, "tunnelled to {x}");
    }
}
