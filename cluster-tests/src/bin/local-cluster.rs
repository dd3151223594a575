//! The local cluster (the README's run command, via `scripts/run-local`): nats-server, both
//! APIs, the manager and zone-server processes on the well-known loopback ports, a few
//! bots playing (half of them walking back and forth across the border between areas 0-0
//! and 1-0, so handoffs show on the dashboard), the dashboard URL printed; Ctrl-C stops
//! everything cleanly.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_tests::bot::{Bot, Route};
use cluster_tests::{Cluster, ClusterOptions};

fn arg(name: &str, default: usize) -> usize {
    let mut args = std::env::args();
    while let Some(a) = args.next() {
        if a == name {
            return args.next().and_then(|v| v.parse().ok()).unwrap_or(default);
        }
    }
    default
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bots = arg("--bots", 4);
    let zone_servers = arg("--zone-servers", 2);
    let dir = PathBuf::from(std::env::var("CLUSTER_DIR").unwrap_or_else(|_| ".cluster".into()));
    println!(
        "starting the local cluster in {} ({zone_servers} zone servers, {bots} bots)...",
        dir.display()
    );
    let options = ClusterOptions {
        zone_servers,
        slots: 2,
        well_known_ports: true,
        dir: Some(dir.clone()),
    };
    let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(options)).await??;

    let config = cluster.bot_config();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut players = Vec::new();
    let run_id = std::process::id() % 10_000;
    for i in 0..bots {
        let route = if i % 2 == 0 {
            Route::Roam
        } else {
            Route::BorderRunner
        };
        let bot = Bot::create(config.clone(), &format!("bot{run_id}x{i}"))
            .await?
            .with_route(route);
        let stats = bot.stats.clone();
        players.push((tokio::spawn(bot.play(stopped.clone())), stats));
    }

    println!();
    println!("  dashboard:    {}/", cluster.manager_url());
    println!(
        "  join API:     {}/v1/join (HS256 JWT, secret `{}`)",
        cluster.manager_url(),
        cluster.secrets.jwt_secret
    );
    println!(
        "  operator API: {}/v1/zones (Bearer {})",
        cluster.manager_url(),
        cluster.secrets.admin_token
    );
    println!("  logs:         {}/*.log", dir.display());
    println!();
    println!("Ctrl-C stops everything.");

    let mut report = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = report.tick() => {
                let welcomes: u64 = players.iter().map(|(_, s)| s.welcomes.load(Ordering::Relaxed)).sum();
                let acked: u64 = players.iter().map(|(_, s)| s.inputs_acked.load(Ordering::Relaxed)).sum();
                let kills: u64 = players.iter().map(|(_, s)| s.kills.load(Ordering::Relaxed)).sum();
                let transfers: u64 = players.iter().map(|(_, s)| s.transfers.load(Ordering::Relaxed)).sum();
                println!("bots: {} in play, {welcomes} zone entries, {transfers} handoffs followed, {acked} inputs acknowledged, {kills} kills", players.len());
            }
        }
    }
    println!("stopping...");
    let _ = stop.send(true);
    for (task, _) in players {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    println!("stopped.");
    Ok(())
}
