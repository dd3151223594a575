//! Durable progress events over real loopback HTTP: 64 concurrent writers, each posting
//! progress events (each answered only after sled's flush), for a few seconds; prints
//! throughput and latency percentiles. For comparison it also measures GETs of a quest log
//! and of `/healthz` (a trivial handler) in the same run.
//!
//! `cargo bench -p quest-api --bench progress_throughput`
//! (`BENCH_SECONDS` sets each phase's length, default 3.)

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{CharacterId, EventId};
use quest_api::{Catalog, Config};

const WRITERS: usize = 64;
const TOKEN: &str = "bench-token";
const CATALOG: &str = r#"
[[quests]]
id = "grind"
title = "Endless wolves"
description = "Never completes within a benchmark."
objectives = [{ kind = { type = "kill", npc = "wolf" }, count = 4000000000 }]
rewards = { xp = 1, coins = 1 }
"#;

struct Phase {
    name: &'static str,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }

    fn report(&self) {
        println!(
            "{:<34} {:>9.0} req/s   p50 {:>8.2?}   p99 {:>8.2?}   ({} requests in {:.2?})",
            self.name,
            self.rate(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.requests,
            self.elapsed
        );
    }
}

/// Runs `WRITERS` concurrent loops of `request` for `duration`, timing each request.
async fn phase<F, Fut>(name: &'static str, duration: Duration, request: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    request(w).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("writer task"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Phase {
        name,
        requests: latencies.len(),
        elapsed,
        latencies,
    }
}

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let duration = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let config = Config::new(
            quest_api::Storage::sled(dir.path()),
            TOKEN,
            Catalog::from_toml(CATALOG, "bench catalog")?,
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(quest_api::run(listener, config, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(WRITERS)
            .build()?;
        let base = format!("http://{addr}");
        // Wait for readiness (bounded).
        let ready_by = Instant::now() + Duration::from_secs(20);
        while http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            anyhow::ensure!(Instant::now() < ready_by, "server not ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let characters: Arc<Vec<CharacterId>> =
            Arc::new((0..WRITERS).map(|_| CharacterId::new_random()).collect());
        for c in characters.iter() {
            let res = http
                .post(format!("{base}/v1/characters/{c}/quests/grind/accept"))
                .bearer_auth(TOKEN)
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "accept: {}", res.status());
        }

        println!(
            "quest-api, {WRITERS} concurrent clients over loopback HTTP, {seconds} s per phase, \
             {} CPUs",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let mut phases = Vec::new();
        for name in ["durable progress POST (warm-up)", "durable progress POST"] {
            let (http, base, characters) = (http.clone(), base.clone(), Arc::clone(&characters));
            let p = phase(name, duration, move |w| {
                let (http, base, c) = (http.clone(), base.clone(), characters[w]);
                async move {
                    let res = http
                        .post(format!("{base}/v1/characters/{c}/quests/grind/progress"))
                        .bearer_auth(TOKEN)
                        .json(&serde_json::json!({
                            "event_id": EventId::new_random(), "objective": 0, "amount": 1
                        }))
                        .send()
                        .await
                        .expect("request");
                    assert!(res.status().is_success(), "{}", res.status());
                    res.bytes().await.expect("body");
                }
            })
            .await;
            p.report();
            phases.push(p);
        }
        // Group commit at work: flushes and their batch sizes so far (both POST phases).
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let flushes = value("quest_api_flush_seconds_count");
        println!(
            "{:<34} {flushes:>9.0} flushes, {:.1} requests per flush, mean flush {:.2} ms",
            "group commit (both POST phases)",
            value("quest_api_flush_batch_size_sum") / flushes,
            value("quest_api_flush_seconds_sum") / flushes * 1000.0
        );
        let (h, b, cs) = (http.clone(), base.clone(), Arc::clone(&characters));
        let get = phase("GET quest log", duration, move |w| {
            let (http, base, c) = (h.clone(), b.clone(), cs[w]);
            async move {
                let res = http
                    .get(format!("{base}/v1/characters/{c}/quests"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("request");
                assert!(res.status().is_success());
                res.bytes().await.expect("body");
            }
        })
        .await;
        get.report();
        let (h, b) = (http.clone(), base.clone());
        let trivial = phase("GET /healthz (trivial handler)", duration, move |_| {
            let (http, base) = (h.clone(), b.clone());
            async move {
                let res = http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .expect("request");
                assert!(res.status().is_success());
                res.bytes().await.expect("body");
            }
        })
        .await;
        trivial.report();
        println!(
            "GET quest log / trivial handler throughput ratio: {:.2}",
            get.rate() / trivial.rate()
        );

        let _ = stop.send(());
        server.await??;
        Ok(())
    })
}
