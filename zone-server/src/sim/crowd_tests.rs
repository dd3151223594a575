//! The simulation under a crowd: clients told the clock's pace once per change, far
//! entities' movement sent less often yet every client's table kept exact.

use std::collections::HashMap;

use protocol::client::ServerPacket;
use protocol::client::entity::EntityState;
use protocol::client::packets::TimeRate;
use protocol::{EntityId, Position};

use super::tests::{input, join, run, sim};
use super::{Simulation, TickOutput};

/// The `TimeRate` frames `out` holds for `player`.
fn rates(out: &TickOutput, player: EntityId) -> Vec<u16> {
    out.packets()
        .iter()
        .filter(|(to, _)| *to == player)
        .filter_map(|(_, p)| match p {
            ServerPacket::TimeRate(r) => Some(r.permille),
            _ => None,
        })
        .collect()
}

#[test]
fn clients_are_told_the_clock_rate_once_per_change_and_newcomers_at_once() {
    let mut sim = sim();
    let first = join(&mut sim, "First", Position::new(60.0, 0.0, 60.0), vec![]);
    assert!(
        rates(&run(&mut sim, 3), first).is_empty(),
        "normal speed is not said"
    );
    sim.set_time_rate(600);
    let out = run(&mut sim, 5);
    assert_eq!(rates(&out, first), [600], "once, not every tick");
    let late = join(&mut sim, "Late", Position::new(62.0, 0.0, 60.0), vec![]);
    let out = run(&mut sim, 2);
    assert_eq!(
        rates(&out, late),
        [600],
        "a newcomer learns the rate with its first update"
    );
    assert!(rates(&out, first).is_empty());
    sim.set_time_rate(0);
    assert_eq!(
        rates(&run(&mut sim, 1), first),
        [1],
        "never 0: the wire's floor is 1"
    );
    sim.set_time_rate(5000);
    assert_eq!(rates(&run(&mut sim, 1), first), [TimeRate::NORMAL.permille]);
}

/// Plays every update `out` holds for `player` into `table`, as its client would.
fn apply(table: &mut HashMap<EntityId, EntityState>, out: &TickOutput, player: EntityId) {
    for (_, packet) in out.packets().iter().filter(|(to, _)| *to == player) {
        match packet {
            ServerPacket::Snapshot(s) => {
                table.clear();
                table.extend(s.entities.iter().map(|e| (e.id, e.clone())));
            }
            ServerPacket::Delta(d) => {
                table.extend(d.added.iter().map(|e| (e.id, e.clone())));
                for u in &d.updated {
                    u.apply(table.get_mut(&u.id).expect("an update of a known entity"));
                }
                for id in &d.removed {
                    table.remove(id);
                }
            }
            _ => {}
        }
    }
}

fn walk_all(sim: &mut Simulation, players: &[EntityId], seq: u32) {
    for (i, &p) in players.iter().enumerate() {
        let east = if (seq / 10 + i as u32).is_multiple_of(2) {
            60
        } else {
            -60
        };
        let _ = sim.push(p, input(seq, east, 20, false));
    }
}

#[test]
fn far_movement_waits_at_most_its_period_and_every_update_applies() {
    let mut sim = sim();
    // A viewer with walkers at 5 m (every tick), 24 m (every 2nd) and 40 m (every 4th).
    let viewer = join(&mut sim, "Viewer", Position::new(20.0, 0.0, 64.0), vec![]);
    let walkers: Vec<EntityId> = [5.0, 24.0, 40.0]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            join(
                &mut sim,
                &format!("W{i}"),
                Position::new(20.0 + d, 0.0, 64.0),
                vec![],
            )
        })
        .collect();
    let mut table = HashMap::new();
    let mut updates_of = HashMap::<EntityId, usize>::new();
    for tick in 1..=40u32 {
        walk_all(&mut sim, &walkers, tick);
        let out = run(&mut sim, 1);
        for (_, p) in out.packets().iter().filter(|(to, _)| *to == viewer) {
            if let ServerPacket::Delta(d) = p {
                for u in &d.updated {
                    *updates_of.entry(u.id).or_default() += 1;
                }
            }
        }
        apply(&mut table, &out, viewer);
        // Every FAR_PERIOD ticks every walker's movement has been sent in full.
        if tick.is_multiple_of(4) {
            for &w in &walkers {
                let held = sim.entity_state(w).expect("walker");
                let shown = table.get(&w).expect("walker in view");
                let off = (0..3)
                    .map(|k| (held.pos[k] - shown.pos[k]).abs())
                    .max()
                    .unwrap();
                assert!(off <= 3 * 7, "tick {tick}: {w:?} shown {off} steps off");
            }
        }
    }
    let counts: Vec<usize> = walkers.iter().map(|w| updates_of[w]).collect();
    assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
    assert!(
        counts[2] <= 40 / 4 + 2,
        "the far walker every 4th tick: {counts:?}"
    );
}
