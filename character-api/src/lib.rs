//! # character-api
//!
//! The durable home of characters: account, position, stats and inventory, served over
//! HTTP (actix-web) from sled. Saves are compare-and-set on a version (`If-Match`), and a
//! write is answered only after it is on disk, with concurrent writes sharing one flush
//! (group commit, see [`service_kit::commit`]).
//!
//! The binary is a thin `main` over [`run`]; tests and the benchmark call [`run`] the same
//! way, on a listener they bound themselves.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | settings |
//! | [`error`] | [`ApiError`], this service's failures as `application/problem+json` |
//! | [`store`] | sled: records, name and account indexes, compare-and-set |
//! | [`routes`] | the HTTP surface |
//! | [`metrics`] | this service's Prometheus metrics (group commits) |
//! | [`openapi`] | the generated OpenAPI document |
//!
//! The plumbing every service shares (logging, the shutdown signal, the healthcheck probe,
//! request metrics, framework errors, the service token, the group committer) is
//! [`service_kit`]'s.

pub mod config;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod store;

use std::future::Future;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpServer, web};
use anyhow::Context as _;
use service_kit::auth::ServiceToken;

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
    metrics::init();
    let store = store::Store::open(&config.data_dir, config.fsync)?;
    let state = web::Data::new(AppState {
        store: store.clone(),
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
    let token = ServiceToken::new(config.service_token.as_str());
    let mut server = HttpServer::new(move || {
        service_kit::app::app()
            .app_data(state.clone())
            .app_data(token.clone())
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
