//! Allocation and join throughput and latency through the real manager, a real NATS server
//! and stand-in zones that answer like zone-servers (loopback only, bounded in time).
//!
//! `cargo bench -p server-manager --bench allocation`
//!
//! 1. **Operator allocations** (`POST /v1/areas/{area}/allocate`): rounds of allocating an
//!    area to each of `BENCH_ZONES` idle zones, releasing them between rounds. Latency is
//!    the client's, HTTP included.
//! 2. **Zone area requests** (`<prefix>.manager.area-request` over NATS, the handoff path):
//!    the same, requested by zones instead of an operator.
//! 3. **Joins** (`POST /v1/join`, real character-api): JWT check, character read, routing,
//!    `Expect` to a zone that takes `BENCH_PRELOAD_MS` (default 2 ms) to preload.
//!
//! Each runs twice: with `BENCH_CONCURRENCY` requests in flight (the throughput ceiling;
//! its latency is mostly queueing) and offered at a steady `BENCH_RATE` per second (the
//! latency at that load, measured from each request's scheduled start).
//!
//! Target (issue 5): ≥ 1,000 allocations/s with p99 ≤ 10 ms.
//! Settings: `BENCH_ZONES` (default 256), `BENCH_ROUNDS` (8), `BENCH_CONCURRENCY` (32),
//! `BENCH_RATE` (1000), `BENCH_JOINS` (2000), `BENCH_PRELOAD_MS` (2).
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use protocol::{AccountId, AreaId, CharacterId, WorldGrid};
use support::*;
use test_support::{NatsServer, wait_for};

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
            "{what:<32} {:>6} ops  {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
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
    let rate = env_or("BENCH_RATE", 1000);

    let nats = NatsServer::start().expect("nats-server");
    let api = CharacterApi::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, &api.url);
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
        zones.push(StandInZone::start(&nats, options.clone()).await);
    }
    let wait_idle = |n: usize| {
        let url = url.clone();
        async move {
            wait_for("zones idle", Duration::from_secs(30), || async {
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
    let zones = Arc::new(zones);

    // Operator allocations (HTTP) and zones' area requests (NATS), each first with
    // `concurrency` requests in flight (throughput), then offered at a steady `rate`
    // (latency at the target load; measured from each request's scheduled start, so a
    // stall counts against every request it delays).
    let mut alloc_paced = None;
    for path in [Path::Operator, Path::AreaRequest] {
        for mode in [Mode::Saturate(concurrency), Mode::Paced(rate)] {
            let mut latencies = Vec::new();
            let mut busy = Duration::ZERO;
            for _ in 0..rounds {
                let started = Instant::now();
                let lat = run(mode, areas.len(), |i, at| {
                    let (http, url, zones, area) =
                        (http.clone(), url.clone(), zones.clone(), areas[i]);
                    async move {
                        match path {
                            Path::Operator => {
                                let res = http
                                    .post(format!("{url}/v1/areas/{area}/allocate"))
                                    .bearer_auth(ADMIN_TOKEN)
                                    .send()
                                    .await
                                    .unwrap();
                                assert_eq!(res.status(), 200);
                            }
                            Path::AreaRequest => {
                                let asker = &zones[i % zones.len()];
                                asker.area_request("zc", area).await.expect("area request");
                            }
                        }
                        at.elapsed()
                    }
                })
                .await;
                busy += started.elapsed();
                latencies.extend(lat);
                release_all(&http, &url, &areas, concurrency).await;
                wait_idle(zones_n).await;
            }
            let stats = Stats::new(latencies, busy);
            out(&stats.line(&format!("{} {}", path.name(), mode.name())));
            if matches!((path, mode), (Path::Operator, Mode::Paced(_))) {
                alloc_paced = Some(stats);
            }
        }
    }

    // Joins: characters in an allocated area (the common case); the cost is the token, the
    // character read from character-api, and the zone's preload.
    let mut players: Vec<(AccountId, CharacterId)> = Vec::new();
    for _ in 0..64 {
        let account = AccountId::new_random();
        players.push((account, api.create(account).await));
    }
    let tokens: Vec<String> = players.iter().map(|(a, _)| token_for(*a)).collect();
    for mode in [Mode::Saturate(concurrency), Mode::Paced(rate)] {
        let started = Instant::now();
        let lat = run(mode, joins_n, |i, at| {
            let (http, url) = (http.clone(), url.clone());
            let (_, character) = players[i % players.len()];
            let token = tokens[i % tokens.len()].clone();
            async move {
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
                at.elapsed()
            }
        })
        .await;
        out(&Stats::new(lat, started.elapsed()).line(&format!("join {}", mode.name())));
    }

    let metrics = get_text(&format!("{url}/metrics")).await;
    out(&format!(
        "manager-side allocation time (epoch + zone round trip, all phases): p99 <= {}",
        bucket_quantile(&metrics, "manager_allocation_duration_seconds", 0.99)
            .map_or("?".to_owned(), |s| format!("{:.1} ms", s * 1e3))
    ));
    let paced = alloc_paced.expect("paced phase ran");
    let ok = paced.count as f64 / paced.elapsed.as_secs_f64() >= 0.95 * rate as f64
        && paced.pct(0.99) <= Duration::from_millis(10);
    out(&format!(
        "target (operator allocations at {rate}/s with p99 <= 10 ms): {}",
        if ok { "met" } else { "NOT met" }
    ));
    drop(zones);
    manager.stop().await;
}

#[derive(Clone, Copy)]
enum Path {
    Operator,
    AreaRequest,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Operator => "allocate/HTTP",
            Path::AreaRequest => "area-request/NATS",
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// This many requests always in flight.
    Saturate(usize),
    /// Requests started at this steady rate per second.
    Paced(u64),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Saturate(c) => format!("{c} in flight"),
            Mode::Paced(r) => format!("@{r}/s"),
        }
    }
}

/// Runs `n` requests built by `make(i, start)` and returns their latencies.
async fn run<F, Fut>(mode: Mode, n: usize, make: F) -> Vec<Duration>
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    match mode {
        Mode::Saturate(c) => {
            stream::iter(0..n)
                .map(|i| make(i, Instant::now()))
                .buffer_unordered(c)
                .collect()
                .await
        }
        Mode::Paced(rate) => {
            let t0 = Instant::now();
            let gap = Duration::from_secs(1) / rate.max(1) as u32;
            let mut tasks = Vec::with_capacity(n);
            for i in 0..n {
                let at = t0 + gap * i as u32;
                tokio::time::sleep_until(at.into()).await;
                tasks.push(tokio::spawn(make(i, at)));
            }
            let mut out = Vec::with_capacity(n);
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    }
}

/// The upper bound of the histogram bucket holding quantile `q`, from Prometheus text.
fn bucket_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.iter().map(|(_, c)| *c).fold(0.0, f64::max);
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(le, _)| *le)
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
