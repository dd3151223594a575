//! # character-api
//!
//! The durable home of characters: account, position, stats and inventory, served over
//! HTTP (actix-web) from sled. Saves are compare-and-set on a version (`If-Match`), and a
//! write is answered only after it is on disk, with concurrent writes sharing one flush
//! (group commit, see [`store::commit`]).
//!
//! The binary is a thin `main` over [`run`]; tests and the benchmark call [`run`] the same
//! way, on a listener they bound themselves.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | settings |
//! | [`error`] | [`ApiError`], every failure as `application/problem+json` |
//! | [`auth`] | the bearer service token on `/v1` |
//! | [`store`] | sled: records, name and account indexes, compare-and-set, group commit |
//! | [`routes`] | the HTTP surface |
//! | [`metrics`] | Prometheus metrics |
//! | [`openapi`] | the generated OpenAPI document |

pub mod auth;
pub mod config;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod store;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub use config::Config;
pub use error::ApiError;
pub use routes::{AppState, configure};

/// Serves the API on `listener` until `shutdown` completes, then shuts down gracefully:
/// stops accepting, lets in-flight requests finish (up to `config.shutdown_timeout`),
/// flushes sled, and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    config.validate()?;
    // Install the metrics recorder before anything records.
    metrics::handle();
    let store = store::Store::open(&config.data_dir, config.fsync)?;
    let state = web::Data::new(AppState {
        store: store.clone(),
        service_token: config.service_token.clone(),
        stopping: AtomicBool::new(false),
    });
    let addr = listener.local_addr()?;
    let server = http_server(listener, &config, state.clone())
        .with_context(|| format!("listening on {addr}"))?;
    let handle = server.handle();
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "character-api listening");

    let mut server = std::pin::pin!(server);
    let served = tokio::select! {
        res = &mut server => res,
        () = shutdown => {
            tracing::info!("shutting down: finishing in-flight requests");
            state.stopping.store(true, Ordering::Relaxed);
            let stopped = handle.stop(true);
            let res = server.await;
            stopped.await;
            res
        }
    };
    let closed = store.close().await;
    tracing::info!("character-api stopped");
    served.context("serving HTTP")?;
    closed.context("flushing storage")
}

/// The actix-web server over `listener`. Built outside `run`'s body so that `run`'s future
/// holds only the (`Send`) running server, not the builder, and can be spawned.
fn http_server(
    listener: TcpListener,
    config: &Config,
    state: web::Data<AppState>,
) -> std::io::Result<actix_web::dev::Server> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(metrics::track))
            .configure(configure)
    })
    // The caller decides when to stop (the binary wires SIGTERM and SIGINT to `shutdown`).
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout.as_secs());
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

/// Probes `GET /readyz` of a service listening on `listen` (an unspecified address such as
/// `0.0.0.0` means this host): `Ok` on `200`. For container health checks without curl.
pub async fn healthcheck(listen: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        // The status line is all that is needed.
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        anyhow::Ok(head)
    };
    let head = tokio::time::timeout(timeout, probe)
        .await
        .with_context(|| format!("no answer from {addr} within {timeout:?}"))?
        .with_context(|| format!("probing {addr}"))?;
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    anyhow::ensure!(
        line.split_whitespace().nth(1) == Some("200"),
        "{addr}/readyz answered {line:?}"
    );
    Ok(())
}
