//! Tick benchmark (issue 4): one zone, N players moving, everything a tick does on one
//! core — event stacks, movement through the physics world, NPCs, area of interest, delta
//! building and encoding every client's frames. Prints CPU µs per player-tick and tick
//! p99 as a fraction of the 50 ms budget at 20 Hz.
//!
//! Run: `cargo bench -p zone-server --bench tick`
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::client::ClientPacket;
use protocol::client::packets::Input;
use protocol::cluster::PlayerTransfer;
use protocol::http::character::{Character, Inventory, Stats};
use protocol::{AccountId, AreaId, CharacterId, Position, WorldGrid};
use zone_server::sim::{SimConfig, Simulation, TickOutput};

const WARMUP_TICKS: u32 = 40;
const MEASURED_TICKS: u32 = 200;

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn character(i: usize, at: Position) -> Character {
    Character {
        id: CharacterId::new_random(),
        account_id: AccountId::new_random(),
        name: format!("bot{i}"),
        version: 1,
        area: AreaId::new(0, 0),
        position: at,
        yaw: 0.0,
        stats: Stats {
            health: 100,
            max_health: 100,
            level: 1,
            xp: BTreeMap::new(),
        },
        inventory: Inventory::empty(),
        created_at: 0,
        updated_at: 0,
    }
}

struct Row {
    players: usize,
    us_per_player_tick: f64,
    p50: Duration,
    p99: Duration,
    kib_per_client_s: f64,
}

fn measure(players: usize) -> Row {
    let grid = WorldGrid::default();
    let bounds = grid.bounds(AreaId::new(0, 0));
    let mut sim = Simulation::new(
        AreaId::new(0, 0),
        grid,
        SimConfig::default(),
        Arc::new(Vec::new()),
    );
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let ids: Vec<_> = (0..players)
        .map(|i| {
            let at = Position::new(
                bounds.min_x + 4.0 + rng.unit() * (bounds.max_x - bounds.min_x - 8.0),
                0.0,
                bounds.min_z + 4.0 + rng.unit() * (bounds.max_z - bounds.min_z - 8.0),
            );
            sim.add_player(PlayerTransfer {
                character: character(i, at),
                quests: vec![],
                last_input_seq: 0,
                pending_inputs: vec![],
            })
            .0
        })
        .collect();
    let mut dirs: Vec<(i8, i8)> = vec![(0, 0); players];
    let mut out = TickOutput::default();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut times = Vec::with_capacity(MEASURED_TICKS as usize);
    let mut bytes = 0usize;
    for t in 0..WARMUP_TICKS + MEASURED_TICKS {
        // Clients' inputs arrive between ticks (not part of the tick's cost)...
        for (i, id) in ids.iter().enumerate() {
            if rng.unit() < 0.05 || dirs[i] == (0, 0) {
                dirs[i] = (
                    ((rng.unit() - 0.5) * 254.0) as i8,
                    ((rng.unit() - 0.5) * 254.0) as i8,
                );
            }
            let input = Input {
                seq: t + 1,
                move_x: dirs[i].0,
                move_z: dirs[i].1,
                running: i % 3 == 0,
                yaw: (t % 256) as u8,
            };
            let _ = sim.push(*id, ClientPacket::Input(input));
        }
        // ...the tick is: simulate, then encode every frame for its client.
        let start = Instant::now();
        out.clear();
        sim.tick(&mut out);
        let mut tick_bytes = 0;
        for (_, packet) in &out.frames {
            buf.clear();
            if packet.encode_into(&mut buf).is_ok() {
                tick_bytes += buf.len();
            }
        }
        let elapsed = start.elapsed();
        if t >= WARMUP_TICKS {
            times.push(elapsed);
            bytes += tick_bytes;
        }
    }
    let total: Duration = times.iter().sum();
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let seconds = f64::from(MEASURED_TICKS) / 20.0;
    Row {
        players,
        us_per_player_tick: total.as_secs_f64() * 1e6
            / (f64::from(MEASURED_TICKS) * players as f64),
        p50: pct(0.50),
        p99: pct(0.99),
        kib_per_client_s: bytes as f64 / seconds / players as f64 / 1024.0,
    }
}

fn main() {
    let budget = Duration::from_millis(50);
    println!(
        "one zone at 20 Hz (budget {budget:?}), {MEASURED_TICKS} measured ticks after {WARMUP_TICKS} warm-up, one thread"
    );
    println!(
        "AOI: up to 64 nearest entities within 48 m; 128 m x 128 m area with its obstacles and NPCs"
    );
    println!(
        "{:>8} {:>16} {:>10} {:>10} {:>14} {:>16}",
        "players", "us/player-tick", "p50", "p99", "p99/budget", "KiB/s per client"
    );
    for n in [250, 500, 1000, 2000] {
        let r = measure(n);
        println!(
            "{:>8} {:>16.2} {:>10.2?} {:>10.2?} {:>13.1}% {:>16.1}",
            r.players,
            r.us_per_player_tick,
            r.p50,
            r.p99,
            r.p99.as_secs_f64() / budget.as_secs_f64() * 100.0,
            r.kib_per_client_s
        );
    }
    println!("target: 1000 players with p99 <= 25% of the budget");
}
