//! What the benchmarks share: percentiles, NATS request-reply round trips between two zone
//! identities (as two zone-servers talk, auth and permissions on), environment settings,
//! building the services' release binaries the benchmarks run, and zones' Prometheus
//! counters summed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol::AreaId;
use protocol::cluster::{AreaVerb, Subjects};
use protocol::http::zone::PlayerStay;
use service_kit::nats::NatsArgs;
use tokio::sync::watch;

use crate::stays::{StayReport, fetch_stays};

/// A numeric setting from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile (0..=1) of sorted samples; NaN when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let last = sorted.len() - 1;
    let at = (last as f64 * p).round();
    sorted[(at as usize).min(last)]
}

/// Measures NATS request-reply round trips (milliseconds) from `requester` to `responder`
/// until `stop`, one request every 10 ms, on the subject of an area outside the grid that
/// no zone owns.
pub async fn nats_round_trips(
    responder: NatsArgs,
    requester: NatsArgs,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<f64>> {
    let echo_side = service_kit::nats::connect(&responder, "bench echo").await?;
    let ask_side = service_kit::nats::connect(&requester, "bench ask").await?;
    let nowhere = AreaId::new(999, 999);
    let subject = Subjects::default()
        .speaking_as(ask_side.identity)
        .area(nowhere, AreaVerb::Prepare);
    let mut echo = echo_side
        .client
        .subscribe(Subjects::default().area_all(nowhere))
        .await?;
    echo_side.client.flush().await?;
    let responder = echo_side.client.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });
    let client = ask_side.client;
    let mut samples = Vec::new();
    let mut every = tokio::time::interval(Duration::from_millis(10));
    while !*stop.borrow() {
        tokio::select! {
            _ = stop.changed() => break,
            _ = every.tick() => {
                let started = Instant::now();
                if client.request(subject.clone(), "ping".into()).await.is_ok() {
                    samples.push(started.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }
    Ok(samples)
}

/// Builds the services' release binaries if stale (cargo builds only this crate's targets
/// for a bench, and the cluster runs the binaries beside it).
pub fn build_release_binaries() -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--release", "--locked"]);
    for package in [
        "character-api",
        "quest-api",
        "server-manager",
        "zone-server",
    ] {
        build.args(["-p", package]);
    }
    anyhow::ensure!(build.status()?.success(), "building the services failed");
    Ok(())
}

/// Every stay the zone-servers at `urls` remember, once all are closed (every bot closed
/// its connection once acknowledged) or after 20 s.
pub async fn closed_stays(urls: &[String], token: &str) -> anyhow::Result<Vec<PlayerStay>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stays = fetch_stays(urls, token).await?;
        if stays.iter().all(|s| s.left_us.is_some()) || Instant::now() > deadline {
            return Ok(stays);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The handoff latencies of a stays report, in milliseconds, sorted.
pub fn sorted_latencies_ms(report: &StayReport) -> Vec<f64> {
    let mut latencies: Vec<f64> = report
        .handoff_latencies_us
        .iter()
        .map(|us| *us as f64 / 1e3)
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The invariants a handoff benchmark ends with, and whether p99 met the 2-tick target.
pub fn invariants_line(report: &StayReport, p99_ms: f64, tick_ms: f64) -> String {
    let met = if p99_ms <= 2.0 * tick_ms {
        "met"
    } else {
        "NOT met"
    };
    format!(
        "double owners: {}; inputs lost: {}; target p99 <= 2 ticks: {met}",
        report.double_owners.len(),
        report.lost_inputs
    )
}

/// The sum, over the zone-servers at `urls`, of every sample of the metrics whose line
/// starts with `prefix` (a name, or a name and the start of its labels).
pub async fn sum_metric(http: &reqwest::Client, urls: &[String], prefix: &str) -> f64 {
    let mut total = 0.0;
    for url in urls {
        let Ok(response) = http.get(format!("{url}/metrics")).send().await else {
            continue;
        };
        let text = response.text().await.unwrap_or_default();
        total += text
            .lines()
            .filter(|line| line.starts_with(prefix))
            .filter_map(|line| line.rsplit_once(' '))
            .filter_map(|(_, value)| value.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}
