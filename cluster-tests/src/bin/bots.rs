//! `bots`: N bots playing a running cluster (the compose `bots` profile, and the compose
//! smoke test's client outside Docker). Each bot gets a fresh character from character-api
//! (service token), joins through the manager (`POST /v1/join`, HS256 JWT), plays, follows
//! `Transfer` and rejoins when its zone goes away.
//!
//! Every `--report-every` seconds it prints one JSON line: totals over all bots and each
//! bot's own counts, e.g. `{"elapsed_s":12,"bots":4,"welcomes":4,"transfers":0,...,
//! "each":[{"name":"bot3f9a1c-0","route":"roam","welcomes":1,"transfers":0,"acked":230,
//! "join_failures":0},...]}`. It stops on SIGINT/SIGTERM or after `--duration` seconds.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use cluster_tests::Secrets;
use cluster_tests::bot::{Bot, BotConfig, BotStats, Route};

/// Bots playing a running zone cluster. Secrets come from the environment: SERVICE_TOKEN
/// (character-api) and JWT_SECRET (join tokens), with the development values
/// (dev-service-token, dev-jwt-secret) when unset.
#[derive(Debug, Parser)]
#[command(name = "bots", version)]
struct Options {
    /// The manager's base URL.
    #[arg(long, env = "MANAGER_URL", default_value = "http://127.0.0.1:7100")]
    manager_url: String,
    /// character-api's base URL (bots create their own characters).
    #[arg(
        long,
        env = "CHARACTER_API_URL",
        default_value = "http://127.0.0.1:7101"
    )]
    character_api_url: String,
    /// How many bots.
    #[arg(long, env = "BOTS", default_value_t = 4)]
    count: usize,
    /// How many of them run back and forth across the border between areas 0-0 and 1-0
    /// (handed between zones again and again); the others roam inside their area.
    #[arg(long, env = "BOT_BORDER_RUNNERS", default_value_t = 0)]
    border_runners: usize,
    /// Characters are named `<prefix>-<i>` (default: `bot` and 6 random hex digits, so a
    /// restarted `bots` does not ask for the names it took before).
    #[arg(long, env = "BOT_NAME_PREFIX")]
    name_prefix: Option<String>,
    /// Stop after this many seconds (default: at SIGINT or SIGTERM).
    #[arg(long, env = "BOT_DURATION")]
    duration: Option<u64>,
    /// Seconds between two stats lines.
    #[arg(long, env = "BOT_REPORT_EVERY", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    report_every: u64,
}

/// One bot as the report sees it.
struct Watched {
    name: String,
    route: Route,
    stats: Arc<BotStats>,
}

fn report(started: Instant, bots: &[Watched]) -> String {
    let sum = |f: fn(&BotStats) -> &AtomicU64| {
        bots.iter()
            .map(|b| f(&b.stats).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let each: Vec<_> = bots
        .iter()
        .map(|b| {
            serde_json::json!({
                "name": b.name,
                "route": format!("{:?}", b.route).to_lowercase(),
                "welcomes": b.stats.welcomes.load(Ordering::Relaxed),
                "transfers": b.stats.transfers.load(Ordering::Relaxed),
                "acked": b.stats.inputs_acked.load(Ordering::Relaxed),
                "join_failures": b.stats.join_failures.load(Ordering::Relaxed),
            })
        })
        .collect();
    serde_json::json!({
        "elapsed_s": started.elapsed().as_secs(),
        "bots": bots.len(),
        "welcomes": sum(|s| &s.welcomes),
        "transfers": sum(|s| &s.transfers),
        "inputs_sent": sum(|s| &s.inputs_sent),
        "inputs_acked": sum(|s| &s.inputs_acked),
        "join_failures": sum(|s| &s.join_failures),
        "errors": sum(|s| &s.errors),
        "kills": sum(|s| &s.kills),
        "pickups": sum(|s| &s.pickups),
        "each": each,
    })
    .to_string()
}

async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(options: Options) -> anyhow::Result<()> {
    let defaults = Secrets::default();
    let secret = |name: &str, default: String| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
    };
    let manager_url = options.manager_url.trim_end_matches('/').to_owned();
    let character_api_url = options.character_api_url.trim_end_matches('/').to_owned();
    let prefix = options
        .name_prefix
        .clone()
        .unwrap_or_else(|| format!("bot{}", &uuid::Uuid::new_v4().simple().to_string()[..6]));
    let config = BotConfig {
        manager_url: manager_url.clone(),
        character_api_url: character_api_url.clone(),
        service_token: secret("SERVICE_TOKEN", defaults.service_token),
        jwt_secret: secret("JWT_SECRET", defaults.jwt_secret),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut stats = Vec::new();
    for i in 0..options.count {
        let name = format!("{prefix}-{i}");
        // character-api may still be starting when the bots start with the cluster.
        let mut delay = Duration::from_millis(500);
        let bot = loop {
            match Bot::create(config.clone(), &name).await {
                Ok(bot) => break bot,
                Err(e) if delay < Duration::from_secs(16) => {
                    eprintln!("bots: creating {name}: {e:#}; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.context(format!("creating {name}"))),
            }
        };
        let route = if i < options.border_runners {
            Route::BorderRunner
        } else {
            Route::Roam
        };
        let bot = bot.with_route(route);
        stats.push(Watched {
            name,
            route,
            stats: bot.stats.clone(),
        });
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    eprintln!(
        "bots: {} playing ({} border runners) through {manager_url} (character-api {character_api_url})",
        options.count,
        options.border_runners.min(options.count)
    );
    let started = Instant::now();
    let deadline = async {
        match options.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs(d)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let end = terminated();
    tokio::pin!(end);
    let mut every = tokio::time::interval(Duration::from_secs(options.report_every));
    loop {
        tokio::select! {
            _ = every.tick() => println!("{}", report(started, &stats)),
            _ = &mut deadline => break,
            _ = &mut end => break,
        }
    }
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    println!("{}", report(started, &stats));
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Options::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bots: {e:#}");
            ExitCode::FAILURE
        }
    }
}
