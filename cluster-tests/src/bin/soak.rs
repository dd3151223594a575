//! `soak`: random schedules of faults on a cluster over simulated hosts (network
//! namespaces: run it as root, or with `CAP_NET_ADMIN`), with bots playing. Each schedule
//! is one to three faults in a row (a NATS node killed, any host partitioned, a zone-server
//! paused or killed), each held 1–12 s, and ends with the stays check and the item audit.
//! Prints each schedule, its figures and violations as it goes, then the totals: schedules
//! run, violations found, and every figure's median and maximum. Inputs missing from the
//! stays that the zones themselves refused (a zone resumed after SIGSTOP gets the client's
//! backlog at once, over its rate limit) are listed apart as REFUSED BACKLOG, not counted. Exits 1 if any violation
//! was found, 0 otherwise (and 0 with a SKIP line where namespaces cannot be made).
//!
//! `cargo run --release -p cluster-tests --bin soak -- --schedules 100` (the services'
//! binaries are taken from beside it: build them first, `cargo build --release --bins`).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use cluster_tests::drills::summary::plays_again_lines;
use cluster_tests::drills::{Drills, Players, Schedules, Summary};
use cluster_tests::hosts::{HostCluster, HostsError};

/// Zone-server processes in the cluster over simulated hosts (`cluster_tests::hosts`).
const ZONE_SERVERS: usize = 3;

/// Random fault schedules on a cluster over simulated hosts, checked by the stays and the
/// item audit.
#[derive(Debug, Parser)]
#[command(name = "soak", version)]
struct Options {
    /// How many schedules to run.
    #[arg(long, default_value_t = 10)]
    schedules: usize,
    /// The random seed (default: the time); printed, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Bots running back and forth between the two zone hosts.
    #[arg(long, default_value_t = 8)]
    border_runners: usize,
    /// Bots gathering items in the spawn area.
    #[arg(long, default_value_t = 2)]
    gatherers: usize,
    /// Where the cluster's data and logs go (default: a temp dir, deleted at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Start at schedule N of the seed's sequence (the ones before are made and skipped),
    /// to run again a schedule that found something without those before it.
    #[arg(long, default_value_t = 1)]
    from: usize,
    /// Only print the schedules (no cluster, no root needed).
    #[arg(long)]
    list: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<ExitCode> {
    let options = Options::parse();
    let seed = options.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    if options.list {
        // The same sequence as a run (its zone-server count is the cluster's: 3).
        let mut schedules = Schedules::new(seed, ZONE_SERVERS);
        for n in 1..options.from + options.schedules {
            let steps = schedules.next_schedule();
            if n >= options.from {
                let plan: Vec<String> = steps.iter().map(ToString::to_string).collect();
                println!("schedule {n}: {}", plan.join("; "));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut cluster = match HostCluster::start(options.dir.as_deref()).await {
        Ok(cluster) => cluster,
        Err(HostsError::Unavailable(why)) => {
            println!("SKIP soak: {why}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => anyhow::bail!("the cluster did not start: {e}"),
    };
    let players = Players::start(
        &cluster.bot_config(),
        &format!("soak{seed}-"),
        options.border_runners,
        options.gatherers,
    )
    .await?;
    let zero = vec![0; players.players.len()];
    if let Err(behind) = players
        .playing_again(&zero, 20, Duration::from_secs(60))
        .await
    {
        anyhow::bail!("bots did not start playing: {behind:?}");
    }
    // The border runners walk to the border first: a fault before they cross would time
    // "handoffs going on again" from the start of play, not from the fault.
    let runners = u64::try_from(options.border_runners).unwrap_or(u64::MAX);
    if players
        .crossing(0, runners, Duration::from_secs(120))
        .await
        .is_none()
    {
        anyhow::bail!("the border runners did not start crossing");
    }
    println!(
        "soak: seed {seed}, {} schedules, {} bots; cluster in {}",
        options.schedules,
        players.players.len(),
        cluster.dir().display()
    );
    anyhow::ensure!(
        cluster.zones.len() == ZONE_SERVERS,
        "the cluster has {} zone-servers, the schedules are made for {ZONE_SERVERS}",
        cluster.zones.len()
    );
    let mut schedules = Schedules::new(seed, cluster.zones.len());
    for _ in 1..options.from {
        schedules.next_schedule();
    }
    let mut drills = Drills::default();
    let mut summary = Summary::default();
    let started = Instant::now();
    for n in options.from..options.from + options.schedules {
        let steps = schedules.next_schedule();
        let plan: Vec<String> = steps.iter().map(ToString::to_string).collect();
        println!("schedule {n}: {}", plan.join("; "));
        let report = drills.run(&mut cluster, &players, &steps).await;
        for figure in &report.figures {
            println!("  {} {:.2} s", figure.what, figure.took.as_secs_f64());
        }
        for line in plays_again_lines(&report.plays_again) {
            println!("  {line}");
        }
        println!(
            "  audit: {} items, {} coins, {} arrivals, {} rolled back; violations: {}",
            report.items,
            report.coins,
            report.arrivals,
            report.rolled_back,
            report.violations.len()
        );
        for violation in &report.violations {
            println!("  VIOLATION {violation}");
        }
        for refused in &report.refused_backlog {
            println!("  REFUSED BACKLOG {refused}");
        }
        summary.add(n, &steps, &report);
    }
    players.stop().await;
    println!(
        "soak: seed {seed}: {} schedules run in {:.0} s, {} violations; {} stays with inputs \
         a stalled zone refused from the backlog (not counted)",
        summary.schedules,
        started.elapsed().as_secs_f64(),
        summary.violations.len(),
        summary.refused_backlog.len()
    );
    for line in summary.figure_lines() {
        println!("  {line}");
    }
    for line in summary.plays_again_lines() {
        println!("  {line}");
    }
    for violation in &summary.violations {
        println!("  VIOLATION {violation}");
    }
    Ok(if summary.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
