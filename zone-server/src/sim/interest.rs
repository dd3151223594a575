//! Interest by distance: a client is sent the movement of the entities near its player every
//! tick, and of farther ones less often (every second tick beyond 16 m, every fourth beyond
//! 32 m), since a far entity's few centimetres a tick are hardly seen while its bytes cost
//! as much as a near one's.
//!
//! Only movement waits (position and heading): an entity entering or leaving the view, or
//! changing its animation or health, is sent at once whatever its distance. A movement not
//! sent is not lost: the client's table keeps what it was last sent, and the next update
//! sent for the entity is the delta from that (PROTOCOL.md §6, "Interest by distance").

use protocol::client::entity::{EntityMotion, POSITION_STEPS_PER_METRE, quantize_position};
use protocol::{EntityId, Position};

/// Within this distance (metres) an entity's movement is sent every tick.
pub const EVERY_TICK_WITHIN: f32 = 16.0;
/// Within this distance, every second tick; beyond it, every [`FAR_PERIOD`]th.
pub const EVERY_SECOND_TICK_WITHIN: f32 = 32.0;
/// Ticks between two movement updates of an entity beyond [`EVERY_SECOND_TICK_WITHIN`].
pub const FAR_PERIOD: u32 = 4;

/// Which entities' movement one client is sent this tick.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    tick: u32,
    /// The viewer's ground position in quantized steps.
    x: i64,
    z: i64,
}

impl Cadence {
    /// For a client whose player stands at `viewer`, on `tick`.
    pub fn new(tick: u32, viewer: Position) -> Self {
        let [x, _, z] = quantize_position(viewer);
        Self {
            tick,
            x: i64::from(x),
            z: i64::from(z),
        }
    }

    /// Whether the movement of `id`, now at `motion`, is sent this tick. Entities of one
    /// distance band are spread over the band's ticks by their id, so no tick carries all
    /// of them.
    pub fn movement_due(&self, id: EntityId, motion: &EntityMotion) -> bool {
        let period = self.period(motion);
        period == 1 || self.tick.wrapping_add(phase(id)).is_multiple_of(period)
    }

    /// Ticks between two movement updates of an entity at `motion`.
    fn period(&self, motion: &EntityMotion) -> u32 {
        let (dx, dz) = (
            i64::from(motion.pos[0]) - self.x,
            i64::from(motion.pos[2]) - self.z,
        );
        let d2 = dx * dx + dz * dz;
        if d2 <= steps_squared(EVERY_TICK_WITHIN) {
            1
        } else if d2 <= steps_squared(EVERY_SECOND_TICK_WITHIN) {
            2
        } else {
            FAR_PERIOD
        }
    }
}

/// `metres` squared, in quantized steps squared.
fn steps_squared(metres: f32) -> i64 {
    let steps = (metres * POSITION_STEPS_PER_METRE) as i64;
    steps * steps
}

/// An entity's offset within its band's period (its id's low bits, mixed with the high
/// ones so that ids minted in a row spread evenly).
fn phase(id: EntityId) -> u32 {
    (id.0 ^ (id.0 >> 26) ^ (id.0 >> 52)) as u32
}

#[cfg(test)]
mod tests {
    use protocol::client::entity::AnimState;

    use super::*;

    fn at(metres_east: f32) -> EntityMotion {
        EntityMotion {
            pos: quantize_position(Position::new(10.0 + metres_east, 0.0, 20.0)),
            yaw: 0,
            anim: AnimState::Walk,
            health: 100,
        }
    }

    /// How many of `ticks` ticks send the movement of an entity `metres` away.
    fn sends(metres: f32, ticks: u32) -> usize {
        (0..ticks)
            .filter(|&t| {
                Cadence::new(t, Position::new(10.0, 0.0, 20.0))
                    .movement_due(EntityId(77), &at(metres))
            })
            .count()
    }

    #[test]
    fn near_every_tick_then_every_second_then_every_fourth() {
        assert_eq!(sends(0.0, 16), 16);
        assert_eq!(sends(15.9, 16), 16);
        assert_eq!(sends(16.5, 16), 8);
        assert_eq!(sends(31.9, 16), 8);
        assert_eq!(sends(32.5, 16), 4);
        assert_eq!(sends(47.0, 16), 4);
    }

    #[test]
    fn far_entities_are_spread_over_the_ticks() {
        let viewer = Position::new(10.0, 0.0, 20.0);
        let per_tick: Vec<usize> = (0..FAR_PERIOD)
            .map(|t| {
                let cadence = Cadence::new(t, viewer);
                (1..=400u64)
                    .filter(|&id| cadence.movement_due(EntityId(id), &at(40.0)))
                    .count()
            })
            .collect();
        assert_eq!(per_tick.iter().sum::<usize>(), 400);
        assert!(per_tick.iter().all(|&n| n == 100), "{per_tick:?}");
    }
}
