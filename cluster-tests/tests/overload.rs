//! Overload on a real cluster: a zone whose ticks overrun their budget slows its own clock
//! (time dilation) instead of falling behind, tells its clients, reports it, and speeds up
//! again once the overload is gone — and nobody is lost meanwhile.
//!
//! The overload is real: the zone-server process is held by the kernel to 40 % of the CPU it
//! was using (a cgroup CPU quota, as a container's CPU limit or a crowded host would), so
//! its ticks take longer than the 50 ms between them. Where cgroups cannot be written (not
//! root, no CPU controller) the test says so and skips.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster_tests::bot::Bot;
use cluster_tests::cpu_quota::{self, CpuQuota};
use cluster_tests::viewer::Viewer;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::{AreaId, Position};
use support::{Admin, SERIAL, stays_closed_and_nothing_lost, stop_cluster, wait_for};
use tokio::sync::watch;

mod support;

const AREA: AreaId = AreaId::new(0, 0);
const BOTS: usize = 4;
/// The zone's CPU while overloaded, as a share of what it used before: less than it needs
/// at full speed, more than it needs at the 50 % floor (ticks are most of its work), so its
/// clock slows and it copes, rather than stalls.
const STARVED: f64 = 0.4;
/// ...for at least this long.
const OVERLOAD: Duration = Duration::from_secs(6);

/// The zone's clock rate as the manager last heard it, per mille.
async fn reported_rate(admin: &Admin) -> Option<u16> {
    Some(admin.owner(AREA).await?.crowding.time_rate_permille)
}

/// Watches for `within`, polling the manager and reading the viewer's frames, until
/// `done(rate the manager reports, rates the viewer was told)`; prints the rate over time.
async fn watch_rate(
    admin: &Admin,
    viewer: &mut Viewer,
    since: Instant,
    within: Duration,
    mut done: impl FnMut(u16, &[(u16, Instant)]) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        viewer
            .pump(Duration::from_millis(500))
            .await
            .expect("the viewer stays connected");
        let Some(rate) = reported_rate(admin).await else {
            continue;
        };
        eprintln!(
            "t={:>5.1}s  clock {:>4} ‰ (heartbeat); told the client {:?}",
            since.elapsed().as_secs_f64(),
            rate,
            viewer.time_rates.last().map(|(r, _)| r)
        );
        if done(rate, &viewer.time_rates) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starved_zone_slows_its_clock_tells_its_clients_and_recovers_losing_nobody() {
    let _serial = SERIAL.lock().await;
    let cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 1,
            slots: 1,
            ..ClusterOptions::default()
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts");
    let (stop, stopped) = watch::channel(false);
    let mut bots = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..BOTS {
        let bot = Bot::create(cluster.bot_config(), &format!("load{i}"))
            .await
            .expect("a bot");
        bots.push((bot.stats.clone(), bot.character.id));
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    let mut viewer = Viewer::place(
        &cluster.bot_config(),
        "Timekeeper",
        AREA,
        Position::new(64.0, 0.0, 64.0),
        None,
    )
    .await
    .expect("the viewer joins");
    let admin = Admin::new(&cluster);
    let started = Instant::now();

    let pid = cluster.zones[0].pid().expect("the zone runs");
    // What it uses once everyone is in and playing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_quota::usage(pid, Duration::from_secs(3))
        .await
        .expect("the zone's CPU time");
    let quota = match CpuQuota::limit(pid, used * STARVED) {
        Ok(quota) => quota,
        Err(e) => {
            eprintln!("SKIPPED: cannot put a CPU quota on the zone ({e})");
            let _ = stop.send(true);
            stop_cluster(cluster).await;
            return;
        }
    };
    eprintln!(
        "the zone used {:.1} % of a CPU; it is held to {:.1} %",
        used * 100.0,
        used * STARVED * 100.0
    );
    // Held for a while: the clock goes down and stays down, not just a dip.
    let overloaded = Instant::now();
    let slowed = watch_rate(
        &admin,
        &mut viewer,
        started,
        Duration::from_secs(40),
        |rate, told| {
            rate < 1000 && told.iter().any(|(r, _)| *r < 1000) && overloaded.elapsed() > OVERLOAD
        },
    )
    .await;
    let slowest = viewer.time_rates.iter().map(|(r, _)| *r).min();
    drop(quota);
    assert!(
        slowed,
        "the starved zone's clock slowed, in its heartbeats and to its clients"
    );
    let floor = slowest.expect("a rate was told");
    assert!(
        (500..1000).contains(&floor),
        "never below the 50 % floor: {floor}"
    );

    eprintln!("the quota is lifted");
    let told_before = viewer.time_rates.len();
    let recovered = watch_rate(
        &admin,
        &mut viewer,
        started,
        Duration::from_secs(40),
        |rate, told| rate == 1000 && told.last().is_some_and(|(r, _)| *r == 1000),
    )
    .await;
    assert!(recovered, "the clock back at full speed");
    assert!(
        viewer.time_rates[told_before..]
            .windows(2)
            .all(|w| w[1].0 <= w[0].0 + 50),
        "speeding up goes 5 % at a time: {:?}",
        viewer.time_rates
    );
    assert!(viewer.errors.is_empty(), "{:?}", viewer.errors);

    // Everyone plays at the end: a bot whose zone fell silent for 2 s under the quota
    // rejoins (PROTOCOL.md §12), which is counted, not a loss.
    wait_for("every bot playing", Duration::from_secs(20), async || {
        bots.iter()
            .all(|(stats, _)| stats.connected.load(Ordering::SeqCst))
    })
    .await;
    let rejoined: u64 = bots
        .iter()
        .map(|(stats, _)| stats.lost.load(Ordering::Relaxed))
        .sum();
    eprintln!("bots that gave a silent zone up and rejoined: {rejoined}");
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let mut ids: Vec<_> = bots.iter().map(|(_, id)| *id).collect();
    ids.push(viewer.character.id);
    drop(viewer);
    stays_closed_and_nothing_lost(&cluster, &ids).await;
    stop_cluster(cluster).await;
}
