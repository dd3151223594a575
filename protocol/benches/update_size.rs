//! Size benchmark (issue 2): the encoded bytes of one tick of updates for 50 moving
//! entities (position, yaw, animation state) in our format, against plain
//! `rmp_serde::to_vec_named` of the obvious struct (the usual style of JavaScript engines).
//!
//! Run: `cargo bench -p protocol --bench update_size`
#![allow(clippy::print_stdout, missing_docs)]

use protocol::EntityId;
use protocol::Position;
use protocol::client::ServerPacket;
use protocol::client::entity::{
    AnimState, EntityDelta, EntityKind, EntityState, quantize_position, quantize_yaw,
};
use protocol::client::packets::Delta;
use serde::Serialize;

const ENTITIES: usize = 50;
const TICKS: u32 = 400;
const TICK_RATE: f32 = 20.0;

/// What a typical engine sends per entity per tick.
#[derive(Serialize)]
struct NamedEntityUpdate {
    id: u32,
    x: f32,
    y: f32,
    z: f32,
    yaw: f32,
    anim: &'static str,
}

#[derive(Serialize)]
struct NamedTick {
    tick: u32,
    entities: Vec<NamedEntityUpdate>,
}

/// A walker wandering inside a 128 m area, turning now and then, sometimes running.
struct Walker {
    pos: Position,
    yaw: f32,
    speed: f32,
}

/// Deterministic xorshift, so every run measures the same motion.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn anim_of(speed: f32) -> AnimState {
    if speed > 5.0 {
        AnimState::Run
    } else if speed > 0.0 {
        AnimState::Walk
    } else {
        AnimState::Idle
    }
}

fn state_of(id: usize, w: &Walker) -> EntityState {
    EntityState {
        id: EntityId(id as u64 + 1),
        kind: EntityKind::Player,
        type_id: 0,
        pos: quantize_position(w.pos),
        yaw: quantize_yaw(w.yaw),
        anim: anim_of(w.speed),
        health: 100,
        name: None,
    }
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut walkers: Vec<Walker> = (0..ENTITIES)
        .map(|_| Walker {
            pos: Position::new(rng.next() * 128.0, 0.0, rng.next() * 128.0),
            yaw: rng.next() * std::f32::consts::TAU,
            speed: if rng.next() < 0.3 { 6.0 } else { 3.0 },
        })
        .collect();
    let mut known: Vec<EntityState> = walkers
        .iter()
        .enumerate()
        .map(|(i, w)| state_of(i, w))
        .collect();

    let (mut ours_total, mut named_total, mut compact_total) = (0usize, 0usize, 0usize);
    for tick in 1..=TICKS {
        for w in &mut walkers {
            // Turn gently every tick, sharply now and then; switch gait rarely.
            w.yaw += (rng.next() - 0.5) * 0.2;
            if rng.next() < 0.02 {
                w.yaw += std::f32::consts::FRAC_PI_2;
            }
            if rng.next() < 0.01 {
                w.speed = if w.speed > 5.0 { 3.0 } else { 6.0 };
            }
            let step = w.speed / TICK_RATE;
            w.pos.x = (w.pos.x + w.yaw.sin() * step).rem_euclid(128.0);
            w.pos.z = (w.pos.z + w.yaw.cos() * step).rem_euclid(128.0);
        }

        let current: Vec<EntityState> = walkers
            .iter()
            .enumerate()
            .map(|(i, w)| state_of(i, w))
            .collect();
        let updated = known
            .iter()
            .zip(&current)
            .filter_map(|(old, new)| EntityDelta::between(old, new))
            .collect();
        let packet = ServerPacket::Delta(Delta {
            tick,
            baseline: tick - 1,
            added: vec![],
            updated,
            removed: vec![],
        });
        ours_total += packet.encode().expect("encodes").len();
        known = current;

        let named = NamedTick {
            tick,
            entities: walkers
                .iter()
                .enumerate()
                .map(|(i, w)| NamedEntityUpdate {
                    id: i as u32 + 1,
                    x: w.pos.x,
                    y: w.pos.y,
                    z: w.pos.z,
                    yaw: w.yaw,
                    anim: match anim_of(w.speed) {
                        AnimState::Run => "run",
                        _ => "walk",
                    },
                })
                .collect(),
        };
        named_total += rmp_serde::to_vec_named(&named).expect("encodes").len();
        compact_total += rmp_serde::to_vec(&named).expect("encodes").len();
    }

    let per_tick = |total: usize| total as f64 / f64::from(TICKS);
    let per_entity = |total: usize| per_tick(total) / ENTITIES as f64;
    let ratio = ours_total as f64 / named_total as f64;
    println!(
        "one tick of updates, {ENTITIES} moving entities, averaged over {TICKS} ticks at {TICK_RATE} Hz"
    );
    println!(
        "{:<44} {:>10} {:>12}",
        "encoding", "bytes/tick", "bytes/entity"
    );
    println!(
        "{:<44} {:>10.1} {:>12.2}",
        "rmp_serde::to_vec_named (obvious struct)",
        per_tick(named_total),
        per_entity(named_total)
    );
    println!(
        "{:<44} {:>10.1} {:>12.2}",
        "rmp_serde::to_vec (same struct, arrays)",
        per_tick(compact_total),
        per_entity(compact_total)
    );
    println!(
        "{:<44} {:>10.1} {:>12.2}",
        "ours (quantized delta, Delta packet)",
        per_tick(ours_total),
        per_entity(ours_total)
    );
    println!(
        "ratio ours / named = {ratio:.3} (1/{:.1}); target <= 0.200: {}",
        1.0 / ratio,
        if ratio <= 0.2 { "met" } else { "NOT met" }
    );
}
