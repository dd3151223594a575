//! Flash crowd (issue 16): a real cluster (every process the release binary) where a crowd
//! of bots (`BENCH_BOTS`, default 300), spread over the neighbours of area 1-0 (0-0 west,
//! 2-0 east, 1-1 south), all walk into 1-0 at once. Area 1-0 takes `BENCH_CAPACITY` players
//! (default 200; its zone's `--area-capacities`): it fills to its capacity, the others are
//! held at its borders (their handoffs refused as full and retried), and a newcomer whose
//! character stands in 1-0 is answered 503 with `Retry-After` (it tries every 2 s from 20 s
//! on).
//!
//! Every second it prints, from the manager's `GET /v1/zones` (the zones' heartbeats): the
//! players in 1-0, the players held at its borders, the arrivals refused as full, the tick
//! p99 of its zone and its clock rate (time dilation). At the end: the capacity reached and
//! when, the most held and refused, the worst tick p99 and slowest clock, bytes per client
//! per second, and the stays check (nobody in two zones, no input lost, no bot lost).
//!
//! Run: `cargo bench -p cluster-tests --bench flash_crowd`
//! (`BENCH_BOTS`, default 300; `BENCH_CAPACITY`, default 200; `BENCH_SECS`, default 60).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster_tests::bot::{Bot, BotConfig, BotStats, Route, create_character, join_once};
use cluster_tests::measure::{build_release_binaries, env, sum_metric};
use cluster_tests::stays::{check_stays, fetch_stays};
use cluster_tests::viewer::place_character;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::http::manager::ZoneInfo;
use protocol::{AreaId, Position};
use tokio::sync::watch;

const TARGET: AreaId = AreaId::new(1, 0);
/// Where the crowd starts: the target's neighbours, and a point in each.
const NEIGHBOURS: [(AreaId, f32, f32); 3] = [
    (AreaId::new(0, 0), 90.0, 64.0),
    (AreaId::new(2, 0), 294.0, 64.0),
    (AreaId::new(1, 1), 192.0, 166.0),
];

/// One second of the run, as the zones reported it.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    secs: u64,
    players: u32,
    held: u32,
    refused: u32,
    tick_p99_ms: f64,
    rate_permille: u16,
}

fn sample(secs: u64, zones: &[ZoneInfo]) -> Sample {
    let target = zones.iter().find(|z| z.area == Some(TARGET));
    Sample {
        secs,
        players: target.map_or(0, |z| z.players),
        held: zones.iter().map(|z| z.crowding.held_at_border).sum(),
        refused: target.map_or(0, |z| z.crowding.refused_full),
        tick_p99_ms: target.map_or(0.0, |z| f64::from(z.tick_p99_us) / 1e3),
        rate_permille: target.map_or(1000, |z| z.crowding.time_rate_permille),
    }
}

async fn zones(http: &reqwest::Client, cluster: &Cluster) -> Vec<ZoneInfo> {
    let answer = http
        .get(format!("{}/v1/zones", cluster.manager_url()))
        .bearer_auth(&cluster.secrets.admin_token)
        .send()
        .await;
    match answer {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// A newcomer whose character stands in the target, trying to join every 2 s: how many
/// tries were answered 503 (full) and how many let in.
async fn newcomer(
    config: BotConfig,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(u32, u32)> {
    let http = reqwest::Client::new();
    let (character, token) = create_character(&http, &config, "newcomer").await?;
    let inside = Position::new(192.0, 0.0, 64.0);
    let character = place_character(&http, &config, &character, TARGET, inside).await?;
    // Once the crowd has filled the area (it does in about 12 s): a join before would take
    // a place, which its later tries keep (one character holds one place).
    tokio::select! {
        _ = stop.changed() => return Ok((0, 0)),
        () = tokio::time::sleep(Duration::from_secs(20)) => {}
    }
    let (mut full, mut admitted) = (0, 0);
    while !*stop.borrow() {
        match join_once(&http, &config.manager_url, &token, character.id).await {
            Err(e) if e.starts_with("503") => full += 1,
            // Let in: the ticket is never spent (it expires, and the place with it).
            Ok(_) => admitted += 1,
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    Ok((full, admitted))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    build_release_binaries()?;
    let bots = env("BENCH_BOTS", 300) as usize;
    let capacity = env("BENCH_CAPACITY", 200);
    let secs = env("BENCH_SECS", 60);
    let cluster = tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterOptions {
            zone_servers: 2,
            slots: 2,
            zone_args: vec!["--area-capacities".into(), format!("{TARGET}={capacity}")],
            ..ClusterOptions::default()
        })
    })
    .await??;
    let config = cluster.bot_config();
    let http = reqwest::Client::new();
    println!(
        "flash crowd: {bots} bots in 0-0, 2-0 and 1-1 all walk into {TARGET} (capacity \
         {capacity}) for {secs} s; 2 zone-server processes x 2 zones"
    );
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut stats: Vec<Arc<BotStats>> = Vec::new();
    for i in 0..bots {
        let mut bot = Bot::create(config.clone(), &format!("flash{i}")).await?;
        let (area, x, z) = NEIGHBOURS[i % NEIGHBOURS.len()];
        let spread = ((i / NEIGHBOURS.len()) % 30) as f32;
        let at = Position::new(x + spread % 6.0, 0.0, z + spread - 15.0);
        bot.character = place_character(&http, &config, &bot.character, area, at).await?;
        bot.controls.fight.store(false, Ordering::SeqCst);
        stats.push(bot.stats.clone());
        tasks.push(tokio::spawn(
            bot.with_route(Route::Converge).play(stopped.clone()),
        ));
    }
    let newcomer = tokio::spawn(newcomer(config.clone(), stopped.clone()));
    println!(
        "{:>5} {:>8} {:>6} {:>12} {:>13} {:>10}",
        "s", "players", "held", "refused/s", "tick p99 ms", "clock"
    );
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = sample(started.elapsed().as_secs(), &zones(&http, &cluster).await);
        println!(
            "{:>5} {:>8} {:>6} {:>12} {:>13.2} {:>9.0}%",
            s.secs,
            s.players,
            s.held,
            s.refused,
            s.tick_p99_ms,
            f64::from(s.rate_permille) / 10.0
        );
        samples.push(s);
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let (joins_full, joins_admitted) = newcomer.await??;
    let elapsed = started.elapsed().as_secs_f64();

    let urls = cluster.zone_urls();
    let m = async |name: &str| sum_metric(&http, &urls, name).await;
    let refused_handoffs = m("zone_arrivals_refused_total{reason=\"full\",via=\"handoff\"}").await;
    let refused_joins = m("zone_arrivals_refused_total{reason=\"full\",via=\"join\"}").await;
    let client_bytes = m("zone_bytes_out_total").await;
    let reached = samples.iter().map(|s| s.players).max().unwrap_or(0);
    let filled_at = samples
        .iter()
        .find(|s| u64::from(s.players) >= capacity)
        .map_or("never".to_owned(), |s| format!("{} s", s.secs));
    let worst_p99 = samples.iter().map(|s| s.tick_p99_ms).fold(0.0, f64::max);
    let slowest = samples
        .iter()
        .map(|s| s.rate_permille)
        .min()
        .unwrap_or(1000);
    println!(
        "capacity reached: {reached} of {capacity} players (full at {filled_at}); most held at \
         its borders at once: {}; handoffs refused as full: {refused_handoffs}; joins refused \
         as full: {refused_joins} ({joins_full} newcomer tries answered 503, {joins_admitted} \
         let in)",
        samples.iter().map(|s| s.held).max().unwrap_or(0)
    );
    println!(
        "target zone: worst tick p99 {worst_p99:.2} ms ({:.1} % of the 50 ms budget), slowest \
         clock {:.0} %; to clients {:.1} KiB/s per client",
        worst_p99 / 50.0 * 100.0,
        f64::from(slowest) / 10.0,
        client_bytes / elapsed / bots as f64 / 1024.0
    );

    let token = cluster.secrets.service_token.clone();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = check_stays(&fetch_stays(&urls, &token).await?);
    let lost_bots = stats
        .iter()
        .filter(|s| s.lost.load(Ordering::Relaxed) > 0)
        .count();
    println!(
        "nobody lost: {} stays, {} handoffs, {} double owners, {} inputs lost, {lost_bots} bots \
         that lost their connection",
        report.stays,
        report.handoffs,
        report.double_owners.len(),
        report.lost_inputs
    );
    let mut cluster = cluster;
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    Ok(())
}
