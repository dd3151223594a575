//! Handoff latency (issue 6): a real cluster (nats-server, both APIs, the manager, two
//! zone-server processes, every process the release binary) with N bots walking back and
//! forth across the border between areas 0-0 and 1-0. For every handoff, the time from the
//! border-crossing tick in the old zone to the first input applied in the new zone, read
//! from the zones' own stays; p50 and p99 in milliseconds, in ticks at 20 Hz, and as a
//! multiple of one NATS request-reply round trip measured during the same run. Also the
//! invariants: double owners and lost inputs (both must be 0).
//!
//! Run: `cargo bench -p cluster-tests --bench handoff_latency`
//! (`BENCH_BOTS`, default 200; `BENCH_SECS` of play, default 60).
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster_tests::bot::{Bot, Route};
use cluster_tests::measure::{
    build_release_binaries, closed_stays, env, invariants_line, nats_round_trips, percentile,
    sorted_latencies_ms,
};
use cluster_tests::stays::check_stays;
use cluster_tests::{Cluster, ClusterOptions};
use tokio::sync::watch;

const TICK_MS: f64 = 50.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    build_release_binaries()?;
    let bots = env("BENCH_BOTS", 200) as usize;
    let secs = env("BENCH_SECS", 60);
    let cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 2,
            slots: 2,
            ..ClusterOptions::default()
        })
    })
    .await??;
    println!("handoff latency: {bots} border-running bots for {secs} s, 2 zone-server processes");

    let (stop, stopped) = watch::channel(false);
    let rtt = tokio::spawn(nats_round_trips(
        cluster.nats.args("zone-7"),
        cluster.nats.args("zone-8"),
        stopped.clone(),
    ));
    let mut tasks = Vec::new();
    let mut stats = Vec::new();
    for i in 0..bots {
        let bot = Bot::create(cluster.bot_config(), &format!("bench{i}"))
            .await?
            .with_route(Route::BorderRunner);
        stats.push(bot.stats.clone());
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let transfers: u64 = stats
            .iter()
            .map(|s| s.transfers.load(Ordering::Relaxed))
            .sum();
        println!(
            "  {:>3} s: {transfers} transfers so far",
            started.elapsed().as_secs()
        );
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    let mut rtts = rtt.await??;
    rtts.sort_by(f64::total_cmp);

    // Every bot closed its connection once acknowledged: wait until every stay is closed.
    let token = cluster.secrets.service_token.clone();
    let urls = cluster.zone_urls();
    let stays = closed_stays(&urls, &token).await?;
    let report = check_stays(&stays);
    // What the zones dropped or refused, by reason (the losses' explanation, if any).
    let http = reqwest::Client::new();
    let mut refusals = std::collections::BTreeMap::<String, f64>::new();
    for url in &urls {
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        for line in text.lines() {
            let counted = [
                "zone_rejected_packets_total",
                "zone_inputs_dropped_total",
                "zone_rejected_intents_total",
                "zone_clients_dropped_total",
            ];
            if counted.iter().any(|c| line.starts_with(c))
                && let Some((name, value)) = line.rsplit_once(' ')
            {
                *refusals.entry(name.to_owned()).or_default() +=
                    value.parse::<f64>().unwrap_or(0.0);
            }
        }
    }
    let latencies = sorted_latencies_ms(&report);
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let (rtt50, rtt99) = (percentile(&rtts, 0.50), percentile(&rtts, 0.99));
    let lost: u64 = stats.iter().map(|s| s.lost.load(Ordering::Relaxed)).sum();
    let errors: u64 = stats.iter().map(|s| s.errors.load(Ordering::Relaxed)).sum();
    println!(
        "handoffs: {} ({} with a first input measured); connections lost: {lost}; \
         Error packets to bots: {errors}",
        report.handoffs,
        latencies.len()
    );
    println!(
        "NATS request-reply round trip: p50 {rtt50:.3} ms, p99 {rtt99:.3} ms ({} samples)",
        rtts.len()
    );
    println!(
        "handoff latency (crossing tick -> first input applied in the new zone): \
         p50 {p50:.1} ms = {:.2} ticks = {:.0}x RTT; p99 {p99:.1} ms = {:.2} ticks = {:.0}x RTT; max {:.1} ms",
        p50 / TICK_MS,
        p50 / rtt50,
        p99 / TICK_MS,
        p99 / rtt50,
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    println!("{}", invariants_line(&report, p99, TICK_MS));
    for (name, value) in &refusals {
        println!("  {name} {value}");
    }
    for line in report.double_owners.iter().chain(&report.losses).take(10) {
        println!("  {line}");
    }
    let mut cluster = cluster;
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    Ok(())
}
