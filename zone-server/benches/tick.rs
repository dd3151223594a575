//! Tick benchmark (issue 4): one zone, N players moving, everything a tick does on one
//! core — event stacks, movement through the physics world, NPCs, area of interest, delta
//! building and encoding every client's frames. Prints µs per player-tick and tick p99 as
//! a fraction of the 50 ms budget at 20 Hz, both in wall-clock time and in the thread's CPU
//! time (what the tick costs on one core, without the time other processes on a busy
//! machine take from it), and the bytes each client is sent.
//!
//! Then the same with ghosts (issue 12): a neighbouring area (1-0) with as many players
//! sends its ghost stream every tick; the measured tick also takes that frame in and
//! builds its own frame for the neighbour. Prints the added p99 as a share of the budget
//! and the bytes of a ghost update.
//!
//! Run: `cargo bench -p zone-server --bench tick` (`TICK_PLAYERS=2000,4000` for other crowds
//! than 250–4,000, `TICK_MEASURED=20` for fewer ticks and `TICK_GHOSTS=0` without the
//! ghosts' table, e.g. under a profiler).
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};

use protocol::client::ClientPacket;
use protocol::client::packets::Input;
use protocol::cluster::PlayerTransfer;
use protocol::http::character::{Character, Inventory, Stats};
use protocol::{AccountId, AreaId, CharacterId, Epoch, Position, WorldGrid, ZoneId};
use zone_server::sim::{Frame, GhostUpdate, NeighbourOwner, SimConfig, Simulation, TickOutput};

const WARMUP_TICKS: u32 = 40;

/// Ticks measured per row (`TICK_MEASURED`, default 200).
fn measured_ticks() -> u32 {
    env_number("TICK_MEASURED").map_or(200, |n| n.max(1) as u32)
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The crowds measured (`TICK_PLAYERS`, comma-separated; default 250 to 4,000).
fn crowds() -> Vec<usize> {
    std::env::var("TICK_PLAYERS")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .filter(|list: &Vec<usize>| !list.is_empty())
        .unwrap_or_else(|| vec![250, 500, 1000, 2000, 4000])
}

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

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

struct Row {
    players: usize,
    us_per_player_tick: f64,
    p50: Duration,
    p99: Duration,
    cpu_p99: Duration,
    kib_per_client_s: f64,
    /// Mean bytes of one ghost update (the client-protocol frame inside a `GhostFrame`).
    ghost_update_bytes: f64,
}

/// One area's simulation with `players` players spread over it, walking at random.
struct Crowd {
    sim: Simulation,
    ids: Vec<protocol::EntityId>,
    dirs: Vec<(i8, i8)>,
}

impl Crowd {
    fn new(area: AreaId, players: usize, rng: &mut Rng) -> Self {
        let grid = WorldGrid::default();
        let bounds = grid.bounds(area);
        let mut sim = Simulation::new(
            area,
            grid,
            SimConfig::default(),
            Arc::new(Vec::new()),
            Epoch(u64::from(area.x) + 1),
        );
        let ids = (0..players)
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
                    entity: None,
                })
                .0
            })
            .collect();
        Self {
            sim,
            ids,
            dirs: vec![(0, 0); players],
        }
    }

    /// Clients' inputs, arriving between ticks (not part of the tick's cost).
    fn steer(&mut self, t: u32, rng: &mut Rng) {
        for (i, id) in self.ids.iter().enumerate() {
            if rng.unit() < 0.05 || self.dirs[i] == (0, 0) {
                self.dirs[i] = (
                    ((rng.unit() - 0.5) * 254.0) as i8,
                    ((rng.unit() - 0.5) * 254.0) as i8,
                );
            }
            let input = Input {
                seq: t + 1,
                move_x: self.dirs[i].0,
                move_z: self.dirs[i].1,
                running: i % 3 == 0,
                yaw: (t % 256) as u8,
            };
            let _ = self.sim.push(*id, ClientPacket::Input(input));
        }
    }
}

fn owner(area: AreaId) -> NeighbourOwner {
    NeighbourOwner {
        area,
        zone: ZoneId(uuid_of(area)),
        epoch: Epoch(u64::from(area.x) + 1),
    }
}

fn uuid_of(area: AreaId) -> uuid::Uuid {
    uuid::Uuid::from_u128(u128::from(area.x) << 16 | u128::from(area.z))
}

fn measure(players: usize, with_ghosts: bool) -> Row {
    let (here, there) = (AreaId::new(0, 0), AreaId::new(1, 0));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut crowd = Crowd::new(here, players, &mut rng);
    let mut neighbour = with_ghosts.then(|| Crowd::new(there, players, &mut rng));
    let mut out = TickOutput::default();
    let mut theirs = TickOutput::default();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut times = Vec::with_capacity(measured_ticks() as usize);
    let mut cpu_times = Vec::with_capacity(measured_ticks() as usize);
    let mut bytes = 0usize;
    let (mut ghost_bytes, mut ghost_updates) = (0usize, 0usize);
    let mut incoming: Vec<GhostUpdate> = Vec::new();
    let mut outgoing: Vec<GhostUpdate> = Vec::new();
    for t in 0..WARMUP_TICKS + measured_ticks() {
        crowd.steer(t, &mut rng);
        // The neighbour's zone runs elsewhere: its tick and frame are not this zone's cost.
        if let Some(n) = &mut neighbour {
            n.steer(t, &mut rng);
            theirs.clear();
            n.sim.tick(&mut theirs);
            incoming.clear();
            n.sim.ghost_frames(&[owner(here)], &mut incoming);
        }
        // The tick is: the neighbour's frame taken in, simulate, encode every frame for
        // its client, and build this area's frame for the neighbour.
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        for frame in &incoming {
            let _ = crowd
                .sim
                .apply_ghost_frame(there, &frame.update, &frame.events);
        }
        out.clear();
        crowd.sim.tick(&mut out);
        // As the zone's outbox does: packets are encoded, the views' frames (already
        // bytes) are taken and dropped, as the connections do once they are written.
        let mut tick_bytes = 0;
        for (_, frame) in &mut out.frames {
            match frame {
                Frame::Packet(packet) => {
                    buf.clear();
                    if packet.encode_into(&mut buf).is_ok() {
                        tick_bytes += buf.len();
                    }
                }
                Frame::Encoded(bytes) => tick_bytes += std::mem::take(bytes).len(),
            }
        }
        outgoing.clear();
        if with_ghosts {
            crowd.sim.ghost_frames(&[owner(there)], &mut outgoing);
        }
        let (elapsed, cpu) = (start.elapsed(), thread_cpu().saturating_sub(cpu_start));
        if t >= WARMUP_TICKS {
            if std::env::var("TICK_DUMP").is_ok() {
                eprintln!(
                    "tick {t} {:.2} cpu {:.2}",
                    elapsed.as_secs_f64() * 1e3,
                    cpu.as_secs_f64() * 1e3
                );
            }
            times.push(elapsed);
            cpu_times.push(cpu);
            bytes += tick_bytes;
            ghost_updates += outgoing.len();
            ghost_bytes += outgoing.iter().map(|f| f.update.len()).sum::<usize>();
        }
    }
    let total: Duration = times.iter().sum();
    times.sort_unstable();
    cpu_times.sort_unstable();
    let at = |p: f64| ((times.len() as f64 * p) as usize).min(times.len() - 1);
    let pct = |p: f64| times[at(p)];
    let seconds = f64::from(measured_ticks()) / 20.0;
    Row {
        players,
        us_per_player_tick: total.as_secs_f64() * 1e6
            / (f64::from(measured_ticks()) * players as f64),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_p99: cpu_times[at(0.99)],
        kib_per_client_s: bytes as f64 / seconds / players as f64 / 1024.0,
        ghost_update_bytes: ghost_bytes as f64 / ghost_updates.max(1) as f64,
    }
}

fn main() {
    let budget = Duration::from_millis(50);
    println!(
        "one zone at 20 Hz (budget {budget:?}), {} measured ticks after {WARMUP_TICKS} warm-up, one thread",
        measured_ticks()
    );
    println!(
        "AOI: up to 64 nearest entities within 48 m; 128 m x 128 m area with its obstacles and NPCs"
    );
    println!(
        "{:>8} {:>16} {:>10} {:>10} {:>14} {:>10} {:>14} {:>16}",
        "players",
        "us/player-tick",
        "p50",
        "p99",
        "p99/budget",
        "CPU p99",
        "CPU p99/budget",
        "KiB/s per client"
    );
    let share = |d: Duration| d.as_secs_f64() / budget.as_secs_f64() * 100.0;
    for n in crowds() {
        let r = measure(n, false);
        println!(
            "{:>8} {:>16.2} {:>10.2?} {:>10.2?} {:>13.1}% {:>10.2?} {:>13.1}% {:>16.1}",
            r.players,
            r.us_per_player_tick,
            r.p50,
            r.p99,
            share(r.p99),
            r.cpu_p99,
            share(r.cpu_p99),
            r.kib_per_client_s
        );
    }
    println!("target: 2000 players with p99 <= 25% of the budget");
    println!();
    println!(
        "with ghosts: a neighbouring area (1-0) with as many players streams its border band in"
    );
    println!(
        "{:>8} {:>16} {:>10} {:>10} {:>14} {:>16} {:>18} {:>19} {:>18}",
        "players",
        "us/player-tick",
        "p50",
        "p99",
        "p99/budget",
        "KiB/s per client",
        "added p99/budget",
        "added mean/budget",
        "B per ghost update"
    );
    let with_ghosts = env_number("TICK_GHOSTS") != Some(0);
    for n in crowds()
        .into_iter()
        .filter(|n| with_ghosts && [1000, 2000].contains(n))
    {
        let (plain, ghosts) = (measure(n, false), measure(n, true));
        let added = (ghosts.p99.as_secs_f64() - plain.p99.as_secs_f64()) / budget.as_secs_f64();
        let mean_added = (ghosts.us_per_player_tick - plain.us_per_player_tick) * n as f64
            / 1e6
            / budget.as_secs_f64();
        println!(
            "{:>8} {:>16.2} {:>10.2?} {:>10.2?} {:>13.1}% {:>16.1} {:>17.1}% {:>18.1}% {:>18.0}",
            ghosts.players,
            ghosts.us_per_player_tick,
            ghosts.p50,
            ghosts.p99,
            ghosts.p99.as_secs_f64() / budget.as_secs_f64() * 100.0,
            ghosts.kib_per_client_s,
            added * 100.0,
            mean_added * 100.0,
            ghosts.ghost_update_bytes
        );
    }
    println!("target: ghosts add at most 15% of the budget at 1000 players per zone");
}
