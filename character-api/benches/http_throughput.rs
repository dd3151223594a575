//! character-api throughput over real loopback HTTP, on each storage backend in the same
//! run: sled in a temp dir, then a real PostgreSQL (Debian's, started by `test-support`,
//! `fsync` and `synchronous_commit` on).
//!
//! * GET: `GET /v1/characters/{id}` against a trivial actix-web handler (a small JSON
//!   answer) served the same way and measured in the same run, as a ratio (target ≥ 0.5).
//!   The two alternate, so drift on the machine hits both alike.
//! * PUT: 64 concurrent writers, each saving its own character with If-Match chaining,
//!   every answer durable (sled: group commit; PostgreSQL: `COMMIT`): writes/s, p50 and
//!   p99 (target ≥ 5,000 writes/s on sled; PostgreSQL's figure is reported beside it).
//!
//! `cargo bench -p character-api --bench http_throughput`; `BENCH_SECS` sets the length
//! of each measured phase (default 3), `BENCH_BACKENDS` which backends run (`sled`,
//! `postgres`, or both, the default, comma-separated), `BENCH_POOL` PostgreSQL's pool size
//! (default 16, the service's).

#![allow(clippy::print_stdout)] // The table on stdout is what a benchmark is for.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use character_api::{Config, Storage};
use protocol::http::character::Character;
use serde_json::{Value, json};
use service_kit::postgres::DatabaseOptions;
use test_support::Postgres;
use tokio::sync::oneshot;

const TOKEN: &str = "bench-token";
const CONCURRENCY: usize = 64;

fn main() -> anyhow::Result<()> {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let phase = Duration::from_secs_f64(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(phase))
}

/// One measured phase: how many requests completed, in how long, with what latencies.
struct Phase {
    name: String,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }

    fn row(&self, backend: &str) -> String {
        format!(
            "| {:<46} | {:>9} | {:>10.0} | {:>9.2} | {:>9.2} |",
            format!("{backend}: {}", self.name),
            self.count,
            self.rate(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One backend's figures.
struct Figures {
    backend: &'static str,
    trivial: Phase,
    get: Phase,
    put: Phase,
    /// sled's group commits during the PUT phase (PostgreSQL's are its own).
    commits: Option<f64>,
}

async fn bench(phase: Duration) -> anyhow::Result<()> {
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sled,postgres".into());
    let (trivial_base, trivial) = trivial_server()?;
    let trivial_handle = trivial.handle();
    let trivial_task = tokio::spawn(trivial);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    wait_ready(&http, &format!("{trivial_base}/trivial")).await?;
    let trivial_urls = Arc::new(vec![format!("{trivial_base}/trivial")]);

    let mut figures = Vec::new();
    if backends.contains("sled") {
        let dir = tempfile::tempdir()?;
        let storage = Storage::sled(dir.path());
        figures.push(bench_backend(&http, "sled", storage, &trivial_urls, phase).await?);
    }
    if backends.contains("postgres") {
        let pg = tokio::task::spawn_blocking(Postgres::start).await??;
        let mut options = DatabaseOptions::new(pg.url(), "character-api-bench");
        if let Some(size) = std::env::var("BENCH_POOL")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            options.pool_size = size;
        }
        let storage = Storage::Postgres(options);
        figures.push(bench_backend(&http, "PostgreSQL", storage, &trivial_urls, phase).await?);
    }

    println!();
    println!(
        "character-api over loopback HTTP, {CONCURRENCY} concurrent clients, {:.1} s per phase",
        phase.as_secs_f64()
    );
    println!();
    println!(
        "| {:<46} | {:>9} | {:>10} | {:>9} | {:>9} |",
        "phase", "requests", "req/s", "p50 ms", "p99 ms"
    );
    println!(
        "|{:-<48}|{:->11}|{:->12}|{:->11}|{:->11}|",
        "", "", "", "", ""
    );
    for f in &figures {
        for p in [&f.trivial, &f.get, &f.put] {
            println!("{}", p.row(f.backend));
        }
    }
    println!();
    for f in &figures {
        let ratio = f.get.rate() / f.trivial.rate();
        println!(
            "{}: GET ratio to trivial handler: {ratio:.2} (target >= 0.50) {}",
            f.backend,
            verdict(ratio >= 0.5)
        );
        println!(
            "{}: durable PUT throughput: {:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms{}",
            f.backend,
            f.put.rate(),
            ms(f.put.percentile(0.50)),
            ms(f.put.percentile(0.99)),
            if f.backend == "sled" {
                format!(
                    " (target >= 5000 writes/s) {}",
                    verdict(f.put.rate() >= 5000.0)
                )
            } else {
                String::new()
            }
        );
        if let Some(commits) = f.commits.filter(|c| *c > 0.0) {
            println!(
                "{}: group commits during PUT: {commits:.0}, {:.1} writes per flush on average",
                f.backend,
                f.put.count as f64 / commits
            );
        }
    }
    trivial_handle.stop(true).await;
    trivial_task.await??;
    Ok(())
}

/// The GET and PUT phases against a character-api over `storage`, with the trivial
/// handler's GETs alternating with its own.
async fn bench_backend(
    http: &reqwest::Client,
    backend: &'static str,
    storage: Storage,
    trivial_urls: &Arc<Vec<String>>,
    phase: Duration,
) -> anyhow::Result<Figures> {
    let sled = matches!(storage, Storage::Sled { .. });
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let api_task = tokio::spawn(character_api::run(
        listener,
        Config::new(storage, TOKEN),
        async move {
            let _ = api_stopped.await;
        },
    ));
    wait_ready(http, &format!("{base}/readyz")).await?;

    // One character per writer.
    let account = protocol::AccountId::new_random();
    let mut characters = Vec::new();
    for i in 0..CONCURRENCY {
        let r = http
            .post(format!("{base}/v1/characters"))
            .bearer_auth(TOKEN)
            .json(&json!({ "account_id": account, "name": format!("Bench{i}") }))
            .send()
            .await?
            .error_for_status()?;
        characters.push(r.json::<Character>().await?);
    }
    let get_urls: Arc<Vec<String>> = Arc::new(
        characters
            .iter()
            .map(|c| format!("{base}/v1/characters/{}", c.id))
            .collect(),
    );

    // GET: alternate trivial and character phases, after a warm-up of each.
    let half = phase / 2;
    run_gets(http, trivial_urls, Duration::from_millis(500), "warm-up").await?;
    run_gets(http, &get_urls, Duration::from_millis(500), "warm-up").await?;
    let mut trivial_phases = Vec::new();
    let mut get_phases = Vec::new();
    for _ in 0..2 {
        trivial_phases.push(run_gets(http, trivial_urls, half, "trivial").await?);
        get_phases.push(run_gets(http, &get_urls, half, "get").await?);
    }
    let trivial = merge("GET trivial actix-web handler", trivial_phases);
    let get = merge("GET /v1/characters/{id}", get_phases);

    // PUT: 64 writers, each on its own character.
    let flushes_before = flushes(http, &base).await?;
    let put = run_puts(http, &base, &characters, phase).await?;
    let flushes_after = flushes(http, &base).await?;

    stop_api.send(()).ok();
    api_task.await??;
    Ok(Figures {
        backend,
        trivial,
        get,
        put,
        commits: sled.then_some(flushes_after - flushes_before),
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "BELOW TARGET" }
}

/// The baseline: an actix-web server with one handler answering a small JSON, on the
/// same number of workers as the API.
fn trivial_server() -> anyhow::Result<(String, actix_web::dev::Server)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = HttpServer::new(|| {
        App::new().route(
            "/trivial",
            web::get().to(|| async { HttpResponse::Ok().json(json!({ "ok": true })) }),
        )
    })
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((base, server))
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{url} never got ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn merge(name: &str, phases: Vec<Phase>) -> Phase {
    let mut out = Phase {
        name: name.to_owned(),
        count: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for p in phases {
        out.count += p.count;
        out.elapsed += p.elapsed;
        out.latencies.extend(p.latencies);
    }
    out.latencies.sort_unstable();
    out
}

/// `CONCURRENCY` clients GET `urls` round-robin for `length`.
async fn run_gets(
    http: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    length: Duration,
    name: &str,
) -> anyhow::Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..CONCURRENCY {
        let (http, urls, stop) = (http.clone(), urls.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = n;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http
                    .get(&urls[i % urls.len()])
                    .bearer_auth(TOKEN)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "GET answered {}", r.status());
                r.bytes().await?;
                latencies.push(t.elapsed());
                i += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Phase {
        name: name.to_owned(),
        count: latencies.len(),
        elapsed,
        latencies,
    })
}

/// One writer per character, chaining If-Match, for `length`.
async fn run_puts(
    http: &reqwest::Client,
    base: &str,
    characters: &[Character],
    length: Duration,
) -> anyhow::Result<Phase> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in characters {
        let (http, stop) = (http.clone(), stop.clone());
        let url = format!("{base}/v1/characters/{}", c.id);
        let mut body: Value = serde_json::to_value(c)?;
        let mut version = c.version;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                body["position"]["x"] = json!(10.0 + (version % 100) as f32);
                body["inventory"]["coins"] = json!(version);
                let t = Instant::now();
                let r = http
                    .put(&url)
                    .bearer_auth(TOKEN)
                    .header("if-match", format!("\"{version}\""))
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "PUT answered {}", r.status());
                r.bytes().await?;
                latencies.push(t.elapsed());
                version += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Phase {
        name: format!("PUT durable, {CONCURRENCY} writers"),
        count: latencies.len(),
        elapsed,
        latencies,
    })
}

/// Group commits so far, from `/metrics`.
async fn flushes(http: &reqwest::Client, base: &str) -> anyhow::Result<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("character_api_flushes_total{outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}
