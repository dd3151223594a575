//! The local cluster (the README's run command, via `scripts/run-local`): nats-server (or,
//! with `--nats-nodes 3`, a 3-node NATS cluster every process fails over across), both
//! APIs, the manager and zone-server processes on the well-known loopback ports, a few
//! bots playing (half of them walking back and forth across the border between areas 0-0
//! and 1-0, so handoffs show on the dashboard), the URLs of the web client (played with the
//! manager's development login, which the local cluster turns on) and the dashboard printed.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops everything in order: the bots, then the zone-servers
//! (each saves its players), then the manager, the APIs and NATS last. The children run in
//! process groups of their own, so the terminal's Ctrl-C (sent to its whole foreground
//! group) reaches only this launcher: were it to reach them too, NATS and the APIs would
//! stop at once with the zones, whose last saves would then have nowhere to go.
#![allow(clippy::print_stdout)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use cluster_tests::bot::{Bot, Route};
use cluster_tests::{Cluster, ClusterOptions};
use tokio::signal::unix::{SignalKind, signal};

/// How long the bots may take to leave their zones before the zones are stopped anyway.
const BOTS_LEAVE_WITHIN: Duration = Duration::from_secs(5);

/// Runs a whole cluster on this machine, with bots playing, until Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "local-cluster", version)]
struct Options {
    /// How many bots play.
    #[arg(long, env = "BOTS", default_value_t = 4)]
    bots: usize,
    /// How many zone-server processes (two zones each).
    #[arg(long, env = "ZONE_SERVERS", default_value_t = 2)]
    zone_servers: usize,
    /// How many NATS nodes, routed into one NATS cluster (ports 4222, 4223, …; routes
    /// 6222, …); every process is given them all and fails over when its node dies.
    #[arg(long, env = "NATS_NODES", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    nats_nodes: u16,
    /// Where data and logs go.
    #[arg(long, env = "CLUSTER_DIR", default_value = ".cluster")]
    dir: PathBuf,
    /// Free loopback ports instead of the well-known ones (manager 7100, APIs 7101/7102,
    /// zones 7200+, NATS 4222), e.g. beside another cluster; the URLs printed say which.
    #[arg(long)]
    free_ports: bool,
}

/// Completes on the first SIGINT or SIGTERM. Installed before anything starts: the
/// children do not hear the terminal, so this launcher must never die of a signal's
/// default action and leave them running.
fn stop_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let mut stop_signal = Box::pin(stop_signal()?);
    test_support::process::own_process_groups();
    let Options {
        bots,
        zone_servers,
        nats_nodes,
        dir,
        free_ports,
    } = options;
    println!(
        "starting the local cluster in {} ({zone_servers} zone servers, {nats_nodes} NATS \
         node(s), {bots} bots)...",
        dir.display()
    );
    let cluster_options = ClusterOptions {
        zone_servers,
        slots: 2,
        well_known_ports: !free_ports,
        dir: Some(dir.clone()),
        dev_login: true,
        zone_args: Vec::new(),
    };
    let mut starting = tokio::task::spawn_blocking(move || {
        Cluster::start_with_nats_nodes(cluster_options, usize::from(nats_nodes))
    });
    let (mut cluster, mut stopping) = tokio::select! {
        started = &mut starting => (started??, false),
        signal = &mut stop_signal => {
            println!("{signal} received while starting: stopping once everything is up...");
            (starting.await??, true)
        }
    };

    let config = cluster.bot_config();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut players = Vec::new();
    let mut failure = None;
    let run_id = std::process::id() % 10_000;
    for i in 0..bots {
        if stopping {
            break;
        }
        let route = if i % 2 == 0 {
            Route::Roam
        } else {
            Route::BorderRunner
        };
        match Bot::create(config.clone(), &format!("bot{run_id}x{i}")).await {
            Ok(bot) => {
                let bot = bot.with_route(route);
                let stats = bot.stats.clone();
                players.push((tokio::spawn(bot.play(stopped.clone())), stats));
            }
            // Stopped in order below all the same: a bot already playing has state to save.
            Err(e) => {
                failure = Some(e.context(format!("creating bot {i}")));
                stopping = true;
            }
        }
    }

    if !stopping {
        println!();
        println!(
            "  play:         {}/play/ (pick a name: the development login is on)",
            cluster.manager_url()
        );
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
        println!(
            "  NATS:         {} (auth on: each role's nkey and the server config in {})",
            cluster.nats_url(),
            cluster.nats.bundle().dir.display()
        );
        println!("  logs:         {}/*.log", dir.display());
        println!();
        println!("Ctrl-C stops everything.");

        let mut report = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                signal = &mut stop_signal => {
                    println!("{signal} received");
                    break;
                }
                _ = report.tick() => {
                    let welcomes: u64 = players.iter().map(|(_, s)| s.welcomes.load(Ordering::Relaxed)).sum();
                    let acked: u64 = players.iter().map(|(_, s)| s.inputs_acked.load(Ordering::Relaxed)).sum();
                    let kills: u64 = players.iter().map(|(_, s)| s.kills.load(Ordering::Relaxed)).sum();
                    let transfers: u64 = players.iter().map(|(_, s)| s.transfers.load(Ordering::Relaxed)).sum();
                    println!("bots: {} in play, {welcomes} zone entries, {transfers} handoffs followed, {acked} inputs acknowledged, {kills} kills", players.len());
                }
            }
        }
    }

    println!("stopping: the bots...");
    let _ = stop.send(true);
    let leaving = futures_util::future::join_all(players.into_iter().map(|(task, _)| task));
    if tokio::time::timeout(BOTS_LEAVE_WITHIN, leaving)
        .await
        .is_err()
    {
        println!(
            "  some bots did not leave within {BOTS_LEAVE_WITHIN:?}; stopping the zones anyway"
        );
    }
    println!("stopping: the zone-servers (saving their players), the manager, the APIs, NATS...");
    let killed = tokio::task::spawn_blocking(move || cluster.stop()).await?;
    if killed.is_empty() {
        println!("stopped.");
    } else {
        println!(
            "stopped; had to kill (SIGKILL) what did not stop in time: {}",
            killed.join(", ")
        );
    }
    failure.map_or(Ok(()), Err)
}
