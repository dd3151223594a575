//! Border crowd (issue 12): a real cluster (every process the release binary) with two
//! neighbouring areas, 0-0 and 1-0, on two zone-server processes, and a crowd of bots
//! (`BENCH_BOTS`, default 400) playing in them, a third of them within 40 m of the border
//! between them (so the other side sees them as ghosts), the rest roaming their area. They
//! fight what they meet, ghosts across the border included.
//!
//! Three probes measure: a walker pacing up and down just east of the border, an observer
//! beside it (a client of the walker's own zone) and one across the border (a client of
//! the other zone, which sees the walker as a ghost). **Ghost staleness** is, for each
//! position of the walker, when the observer across saw it minus when the owner's own
//! client saw it, in ticks (target: p99 ≤ 1 tick). Also: bytes per ghost frame on NATS and
//! per client to clients, and the border acts (cross-border hits and pickups) sent,
//! applied by the owners and answered (lost: sent but never answered; double-applied:
//! applied more often than sent; both must be 0).
//!
//! Run: `cargo bench -p cluster-tests --bench border_crowd`
//! (`BENCH_BOTS`, default 400; `BENCH_SECS` of play, default 60).
#![allow(clippy::print_stdout, missing_docs)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cluster_tests::bench::{build_release_binaries, env_or, percentile, sum_metric};
use cluster_tests::bot::{Bot, Route};
use cluster_tests::viewer::{Viewer, place_character};
use cluster_tests::{Cluster, ClusterOptions};
use protocol::{AreaId, Position, WorldGrid};
use tokio::sync::watch;
use zone_server::sim::content::AreaContent;

const TICK_MS: f64 = 50.0;
const WEST: AreaId = AreaId::new(0, 0);
const EAST: AreaId = AreaId::new(1, 0);

/// A row (z) clear of obstacles from 10 m west of the 0-0 | 1-0 border to 15 m east of it,
/// for 10 m north and south (where the walker paces).
fn probe_row() -> f32 {
    let grid = WorldGrid::default();
    let (west, east) = (
        AreaContent::generate(WEST, &grid),
        AreaContent::generate(EAST, &grid),
    );
    (12..116)
        .map(|z| z as f32)
        .find(|&z| {
            west.obstacles.iter().chain(&east.obstacles).all(|o| {
                (118..=143)
                    .step_by(1)
                    .all(|x| (-10..=10).all(|dz| !o.overlaps(x as f32, z + dz as f32, 1.5)))
            })
        })
        .unwrap_or(40.0)
}

/// Reads a probe's frames until `stop`; the walker also paces up and down.
async fn run_probe(mut viewer: Viewer, walks: bool, mut stop: watch::Receiver<bool>) -> Viewer {
    let mut step = 0u32;
    while !*stop.borrow() {
        if walks {
            let dz = if (step / 40).is_multiple_of(2) {
                127
            } else {
                -127
            };
            let _ = viewer.walk(0, dz).await;
            step += 1;
        }
        tokio::select! {
            _ = stop.changed() => break,
            r = viewer.pump(Duration::from_millis(50)) => if r.is_err() { break },
        }
    }
    viewer
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    build_release_binaries()?;
    let bots = env_or("BENCH_BOTS", 400) as usize;
    let secs = env_or("BENCH_SECS", 60);
    let cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 2,
            slots: 1,
            ..ClusterOptions::default()
        })
    })
    .await??;
    let config = cluster.bot_config();
    println!(
        "border crowd: {bots} bots in areas 0-0 and 1-0 (a third within 40 m of their border) \
         for {secs} s, one zone-server process per area"
    );
    // The probes first (their join allocates the east), then the crowd.
    let probe_z = probe_row();
    let walker = Viewer::place(
        &config,
        "probe-walker",
        EAST,
        Position::new(133.0, 0.0, probe_z),
        None,
    )
    .await?;
    let owner_side = Viewer::place(
        &config,
        "probe-owner",
        EAST,
        Position::new(140.0, 0.0, probe_z),
        None,
    )
    .await?;
    let across = Viewer::place(
        &config,
        "probe-across",
        WEST,
        Position::new(121.0, 0.0, probe_z),
        None,
    )
    .await?;
    let walker_id = walker.me;
    let (stop, stopped) = watch::channel(false);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..bots {
        let mut bot = Bot::create(config.clone(), &format!("crowd{i}")).await?;
        let east = i % 2 == 1;
        let band = i % 3 == 0;
        let x = match (east, band) {
            (false, true) => 100.0 + (i % 24) as f32,
            (true, true) => 132.0 + (i % 24) as f32,
            (false, false) => 20.0 + (i % 60) as f32,
            (true, false) => 160.0 + (i % 60) as f32,
        };
        let z = 10.0 + ((i * 37) % 108) as f32;
        let area = if east { EAST } else { WEST };
        bot.character = place_character(
            &http,
            &config,
            &bot.character,
            area,
            Position::new(x, 0.0, z),
        )
        .await?;
        let route = if band { Route::BorderBand } else { Route::Roam };
        tasks.push(tokio::spawn(bot.with_route(route).play(stopped.clone())));
    }
    let probes = [
        tokio::spawn(run_probe(walker, true, stopped.clone())),
        tokio::spawn(run_probe(owner_side, false, stopped.clone())),
        tokio::spawn(run_probe(across, false, stopped.clone())),
    ];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let ghosts = sum_metric(&http, &cluster.zone_urls(), "zone_ghosts{").await;
        println!(
            "  {:>3} s: {ghosts} ghosts held",
            started.elapsed().as_secs()
        );
    }
    let _ = stop.send(true);
    let mut done = Vec::new();
    for probe in probes {
        done.push(probe.await?);
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let across = done.pop().expect("three probes");
    let owner_side = done.pop().expect("three probes");

    // Staleness: each walker position, across-the-border arrival minus owner-side arrival.
    let owner_seen: HashMap<[i32; 3], Instant> = owner_side
        .sightings
        .get(&walker_id)
        .map(|s| s.iter().map(|s| (s.pos, s.at)).collect())
        .unwrap_or_default();
    let mut staleness: Vec<f64> = across
        .sightings
        .get(&walker_id)
        .map(|s| {
            s.iter()
                .filter_map(|s| {
                    let owner = owner_seen.get(&s.pos)?;
                    let ms = if s.at >= *owner {
                        s.at.duration_since(*owner).as_secs_f64() * 1e3
                    } else {
                        -(owner.duration_since(s.at).as_secs_f64() * 1e3)
                    };
                    Some(ms / TICK_MS)
                })
                .collect()
        })
        .unwrap_or_default();
    staleness.sort_by(f64::total_cmp);
    let (s50, s99) = (percentile(&staleness, 0.5), percentile(&staleness, 0.99));

    let urls = cluster.zone_urls();
    let m = async |name: &str| sum_metric(&http, &urls, name).await;
    let (frames, frame_bytes, update_bytes) = (
        m("zone_ghost_frames_sent_total").await,
        m("zone_ghost_frame_bytes_total").await,
        m("zone_ghost_update_bytes_total").await,
    );
    let client_bytes = m("zone_bytes_out_total").await;
    let (sent, answered, unanswered, retries) = (
        m("zone_border_acts_sent_total").await,
        m("zone_border_acts_answered_total").await,
        m("zone_border_acts_unanswered_total").await,
        m("zone_border_act_retries_total").await,
    );
    let (applied, rejected, repeated) = (
        m("zone_border_acts_total{result=\"applied\"}").await,
        m("zone_border_acts_total{result=\"rejected\"}").await,
        m("zone_border_acts_total{result=\"repeated\"}").await,
    );
    let refused =
        m("zone_border_messages_refused_total").await + m("zone_ghost_frames_refused_total").await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ghost staleness (across-the-border client minus the owner's own client, per position of \
         the walker): p50 {s50:.2} ticks, p99 {s99:.2} ticks, max {:.2} ticks ({} positions); \
         target p99 <= 1 tick: {}",
        staleness.last().copied().unwrap_or(f64::NAN),
        staleness.len(),
        if s99 <= 1.0 { "met" } else { "NOT met" }
    );
    println!(
        "ghost frames on NATS: {frames} ({:.0} per s), {:.0} bytes per frame, of which {:.0} the \
         update itself",
        frames / elapsed,
        frame_bytes / frames.max(1.0),
        update_bytes / frames.max(1.0)
    );
    println!(
        "to clients: {:.1} KiB/s per client (everything, ghosts included)",
        client_bytes / elapsed / (bots + 3) as f64 / 1024.0
    );
    println!(
        "border acts: {sent} sent, {answered} answered ({retries} retries), {unanswered} \
         unanswered; at the owners {applied} applied, {rejected} rejected, {repeated} retries \
         answered from memory; lost {}, double-applied {}",
        (sent - answered).max(0.0),
        (applied + rejected - sent).max(0.0)
    );
    println!("ghost frames and border messages refused: {refused}");
    let mut cluster = cluster;
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    Ok(())
}
