//! Handoff latency across hosts: the cluster over simulated hosts (`cluster_tests::hosts`:
//! network namespaces on a bridge, a NATS node on each, routed into one NATS cluster with
//! auth on; every process the release binary), area 0-0 owned on host `zone-a` and area
//! 1-0 on host `zone-b`, with N bots in the root namespace walking back and forth across
//! their border. For every handoff, the time from the border-crossing tick in the old zone
//! to the first input applied in the new zone, read from the zones' own stays: p50 and p99
//! in milliseconds and in ticks at 20 Hz, beside one NATS request-reply round trip between
//! the two hosts (zone identities on the two hosts' nodes, so across a route). Also the
//! invariants: double owners and lost inputs (both must be 0).
//!
//! Run (as root: it makes namespaces): `cargo bench -p cluster-tests --bench
//! cross_host_handoff` (`BENCH_BOTS`, default 100; `BENCH_SECS` of play, default 60).
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use cluster_tests::bot::{Bot, Route};
use cluster_tests::hosts::{HostCluster, HostsError};
use cluster_tests::measure::{
    build_release_binaries, closed_stays, env, invariants_line, nats_round_trips, percentile,
    sorted_latencies_ms,
};
use cluster_tests::stays::check_stays;
use service_kit::nats::NatsArgs;
use tokio::sync::watch;

const TICK_MS: f64 = 50.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    build_release_binaries()?;
    let bots = env("BENCH_BOTS", 100) as usize;
    let secs = env("BENCH_SECS", 60);
    let cluster = match HostCluster::start(None).await {
        Ok(cluster) => cluster,
        Err(HostsError::Unavailable(why)) => {
            println!("SKIP cross-host handoff: {why}");
            return Ok(());
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    println!(
        "cross-host handoff: {bots} border-running bots for {secs} s; area 0-0 on host zone-a, \
         1-0 on host zone-b, a NATS node on each"
    );
    // A zone identity on each zone host's node: the round trip crosses the route.
    let node_url = |host: &str| -> anyhow::Result<String> {
        let node = cluster
            .nats_node_on(host)
            .ok_or_else(|| anyhow::anyhow!("no node on {host}"))?;
        Ok(cluster.nats.nodes()[node].url())
    };
    let (stop, stopped) = watch::channel(false);
    let rtt = tokio::spawn(nats_round_trips(
        NatsArgs::with_creds(&node_url("zone-a")?, &cluster.nats.creds("zone-7")),
        NatsArgs::with_creds(&node_url("zone-b")?, &cluster.nats.creds("zone-8")),
        stopped.clone(),
    ));
    let mut tasks = Vec::new();
    for i in 0..bots {
        let bot = Bot::create(cluster.bot_config(), &format!("cross{i}"))
            .await?
            .with_route(Route::BorderRunner);
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let mut rtts = rtt.await??;
    rtts.sort_by(f64::total_cmp);
    let token = cluster.secrets.service_token.clone();
    let urls = cluster.zone_urls();
    let stays = closed_stays(&urls, &token).await?;
    let report = check_stays(&stays);
    let latencies = sorted_latencies_ms(&report);
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let (rtt50, rtt99) = (percentile(&rtts, 0.50), percentile(&rtts, 0.99));
    println!(
        "played {:.0} s; handoffs: {} ({} with a first input measured)",
        started.elapsed().as_secs_f64(),
        report.handoffs,
        latencies.len()
    );
    println!(
        "NATS request-reply round trip between the zone hosts: p50 {rtt50:.3} ms, p99 \
         {rtt99:.3} ms ({} samples)",
        rtts.len()
    );
    println!(
        "cross-host handoff latency (crossing tick -> first input applied in the new zone): \
         p50 {p50:.1} ms = {:.2} ticks; p99 {p99:.1} ms = {:.2} ticks; max {:.1} ms",
        p50 / TICK_MS,
        p99 / TICK_MS,
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    println!("{}", invariants_line(&report, p99, TICK_MS));
    for line in report.double_owners.iter().chain(&report.losses).take(10) {
        println!("  {line}");
    }
    // Dropping the cluster kills every process and deletes the namespaces.
    tokio::task::block_in_place(|| drop(cluster));
    Ok(())
}
