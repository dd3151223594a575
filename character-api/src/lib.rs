//! # character-api
//!
//! The durable home of characters: account, position, stats and inventory, served over
//! HTTP (actix-web) from sled in a directory (the embedded default) or from PostgreSQL
//! (`--database-url`, shared by any number of processes). Saves are compare-and-set on a
//! version (`If-Match`), names are unique, and a write is answered only once it is durable,
//! with concurrent writes sharing one flush, on either backend (see [`store`]).
//!
//! The binary is a thin `main` over [`run`]; tests and the benchmark call [`run`] the same
//! way, on a listener they bound themselves.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | settings |
//! | [`error`] | [`ApiError`], this service's failures as `application/problem+json` |
//! | [`store`] | the storage interface and its two backends, sled and PostgreSQL |
//! | [`copy`] | copying every character from one store to another, checked |
//! | [`routes`] | the HTTP surface |
//! | [`metrics`] | this service's Prometheus metrics (group commits) |
//! | [`openapi`] | the generated OpenAPI document |
//!
//! The plumbing every service shares (logging, the shutdown signal, the healthcheck probe,
//! request metrics, framework errors, the service token, the group committer) is
//! [`service_kit`]'s.

pub mod config;
pub mod copy;
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

pub use config::{Config, Storage};
pub use error::ApiError;
pub use routes::{AppState, configure};

/// Serves the API on `listener` until `shutdown` completes, then shuts down gracefully:
/// stops accepting, lets in-flight requests finish (up to `config.shutdown_timeout`),
/// makes every write durable, closes the store, and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    config.validate()?;
    // Install the metrics recorder before anything records.
    metrics::init();
    let store = store::open(&config.storage).await?;
    let state = web::Data::new(AppState {
        store: store.clone(),
        stopping: AtomicBool::new(false),
    });
    let addr = listener.local_addr()?;
    let server = http_server(listener, &config, state.clone())
        .with_context(|| format!("listening on {addr}"))?;
    let handle = server.handle();
    tracing::info!(%addr, storage = %config.storage, "character-api listening");

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
    // The workers have stopped; drop their state (and so the store's handles) before
    // returning, so a sled directory can be opened again at once.
    drop(state);
    drop(store);
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
