//! Allocation and join throughput and latency through the real manager, a real NATS server
//! and stand-in zones that answer like zone-servers (loopback only, bounded in time).
//!
//! `cargo bench -p server-manager --bench allocation`
//!
//! 1. **Operator allocations** (`POST /v1/areas/{area}/allocate`): rounds of allocating an
//!    area to each of `ZONES` idle zones with `CONCURRENCY` requests in flight, releasing
//!    them between rounds. Latency is the client's, HTTP included.
//! 2. **Zone area requests** (`<prefix>.manager.area-request` over NATS, the handoff path):
//!    the same, requested by zones instead of an operator.
//! 3. **Joins** (`POST /v1/join`, real character-api): JWT check, character read, routing,
//!    `Expect` to a zone that takes `BENCH_PRELOAD_MS` (default 2 ms) to preload.
//!
//! Targets (issue 5): ≥ 1,000 allocations/s, allocation p99 ≤ 10 ms.
//! Settings: `BENCH_ZONES` (default 256), `BENCH_ROUNDS` (8), `BENCH_CONCURRENCY` (32),
//! `BENCH_JOINS` (2000), `BENCH_PRELOAD_MS` (2).
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_tests::NatsServer;
use futures_util::StreamExt;
use futures_util::stream;
use protocol::{AccountId, AreaId, CharacterId, WorldGrid};
use support::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Stats {
    count: usize,
    elapsed: Duration,
    sorted: Vec<Duration>,
}

impl Stats {
    fn new(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort();
        Self {
            count: latencies.len(),
            elapsed,
            sorted: latencies,
        }
    }

    fn pct(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.sorted.len() as f64 * p).ceil() as usize).clamp(1, self.sorted.len()) - 1;
        self.sorted[i]
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what:<28} {:>6} ops  {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            self.count,
            self.count as f64 / self.elapsed.as_secs_f64(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.pct(1.0).as_secs_f64() * 1e3,
        )
    }
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let zones_n = env_or("BENCH_ZONES", 256) as usize;
    let rounds = env_or("BENCH_ROUNDS", 8) as usize;
    let concurrency = env_or("BENCH_CONCURRENCY", 32) as usize;
    let joins_n = env_or("BENCH_JOINS", 2000) as usize;
    let preload = Duration::from_millis(env_or("BENCH_PRELOAD_MS", 2));

    let nats = NatsServer::start().expect("nats-server");
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats.url(), &api.url);
    // A grid with room for every zone, heartbeats at the production rate.
    config.grid = WorldGrid {
        columns: 64,
        rows: 64,
        ..WorldGrid::default()
    };
    config.heartbeat_interval = Duration::from_secs(1);
    config.heartbeat_timeout = Duration::from_secs(3);
    config.zone_timeout = Duration::from_secs(2);
    config.release_grace = Duration::from_secs(3600);
    config.workers = Some(2);
    let manager = TestManager::start(config).await;
    let url = manager.url.clone();

    let options = ZoneOptions {
        preload,
        ..ZoneOptions::default()
    };
    let mut zones = Vec::new();
    for _ in 0..zones_n {
        zones.push(StandInZone::start(&nats.url(), options.clone()).await);
    }
    let wait_idle = |n: usize| {
        let url = url.clone();
        async move {
            eventually(Duration::from_secs(30), "zones idle", || async {
                admin_get(&url, "/v1/pool").await["idle"].as_u64() == Some(n as u64)
            })
            .await;
        }
    };
    wait_idle(zones_n).await;
    out(&format!(
        "server-manager allocation bench: {zones_n} stand-in zones, {concurrency} in flight, \
         preload {} ms (loopback, real NATS, real character-api)",
        preload.as_millis()
    ));

    let areas: Vec<AreaId> = (0..zones_n)
        .map(|i| AreaId::new((i % 64) as u16, (i / 64) as u16))
        .collect();
    let http = http();

    // 1. Operator allocations over HTTP.
    let mut latencies = Vec::new();
    let mut busy = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        let lat: Vec<Duration> = stream::iter(areas.clone())
            .map(|area| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let t = Instant::now();
                    let res = http
                        .post(format!("{url}/v1/areas/{area}/allocate"))
                        .bearer_auth(ADMIN_TOKEN)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        res.status(),
                        200,
                        "{}",
                        res.text().await.unwrap_or_default()
                    );
                    t.elapsed()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        busy += started.elapsed();
        latencies.extend(lat);
        release_all(&http, &url, &areas, concurrency).await;
        wait_idle(zones_n).await;
    }
    let alloc = Stats::new(latencies, busy);
    out(&alloc.line("allocate (HTTP operator)"));

    // 2. Area requests from zones over NATS.
    let zones = Arc::new(zones);
    let mut latencies = Vec::new();
    let mut busy = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        let lat: Vec<Duration> = stream::iter(areas.clone().into_iter().enumerate())
            .map(|(i, area)| {
                let zones = zones.clone();
                async move {
                    let t = Instant::now();
                    let asker = &zones[i % zones.len()];
                    asker.area_request("zc", area).await.expect("area request");
                    t.elapsed()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        busy += started.elapsed();
        latencies.extend(lat);
        release_all(&http, &url, &areas, concurrency).await;
        wait_idle(zones_n).await;
    }
    let requests = Stats::new(latencies, busy);
    out(&requests.line("area request (NATS, zones)"));

    // 3. Joins: characters spread over a few areas that are already allocated (the common
    // case) — the cost is the token, the character read, and the zone's preload.
    let mut players: Vec<(AccountId, CharacterId)> = Vec::new();
    for _ in 0..64 {
        let account = AccountId::new_random();
        players.push((account, api.create(account).await));
    }
    let tokens: Vec<String> = players.iter().map(|(a, _)| token_for(*a)).collect();
    let started = Instant::now();
    let lat: Vec<Duration> = stream::iter(0..joins_n)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            let (_, character) = players[i % players.len()];
            let token = tokens[i % tokens.len()].clone();
            async move {
                let t = Instant::now();
                let res = http
                    .post(format!("{url}/v1/join"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "character_id": character }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    200,
                    "{}",
                    res.text().await.unwrap_or_default()
                );
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let joins = Stats::new(lat, started.elapsed());
    out(&joins.line("join (incl. preload)"));

    let metrics = get_text(&format!("{url}/metrics")).await;
    let allocated = metrics
        .lines()
        .find(|l| l.starts_with("manager_allocations_total{outcome=\"ok\"}"))
        .unwrap_or("manager_allocations_total{outcome=\"ok\"} ?")
        .to_owned();
    out(&format!("manager says: {allocated}"));
    let ok = alloc.count as f64 / alloc.elapsed.as_secs_f64() >= 1000.0
        && alloc.pct(0.99) <= Duration::from_millis(10);
    out(&format!(
        "target (≥ 1000 allocations/s, p99 ≤ 10 ms, operator path): {}",
        if ok { "met" } else { "NOT met" }
    ));
    drop(zones);
    manager.stop().await;
}

async fn release_all(http: &reqwest::Client, url: &str, areas: &[AreaId], concurrency: usize) {
    stream::iter(areas.to_vec())
        .map(|area| {
            let (http, url) = (http.clone(), url.to_owned());
            async move {
                let res = http
                    .post(format!("{url}/v1/areas/{area}/release"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
}
