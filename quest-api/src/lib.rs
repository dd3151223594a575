//! # quest-api
//!
//! The quest catalog (a data file shipped in this crate) and each character's quest
//! progress, served over HTTP (actix-web) from sled in a directory (the embedded default)
//! or from PostgreSQL (`--database-url`, shared by any number of processes). Progress
//! events are idempotent by event id, so a zone that retries never counts twice, and every
//! write is answered only once it is durable, on either backend (see [`store`]).
//!
//! The binary (`src/main.rs`) only parses flags, sets up logging and calls [`run`]; tests
//! and the cluster harness call the same [`run`] (or [`configure`]).
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | start-up settings |
//! | [`catalog`] | loading and validating the quest catalog |
//! | [`store`] | the storage interface, the rules both backends apply, sled and PostgreSQL |
//! | [`copy`] | copying all quest progress from one store to another, checked |
//! | [`routes`] | the HTTP routes |
//! | [`error`] | `ApiError`: this service's failures as problem+json |
//! | [`metrics`] | this service's Prometheus metrics (flushes) |
//! | [`openapi`] | the OpenAPI document |
//!
//! The plumbing every service shares (logging, the shutdown signal, the healthcheck probe,
//! request metrics, framework errors, the service token, the group committer) is
//! [`service_kit`]'s.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpServer, web};
use anyhow::Context;
use service_kit::auth::ServiceToken;

pub mod catalog;
pub mod config;
pub mod copy;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod store;

pub use catalog::{Catalog, CatalogError};
pub use config::{Config, Storage};
pub use error::ApiError;
pub use routes::configure;
pub use store::QuestStore;

/// What every request handler shares: the catalog, the store, readiness.
pub struct AppState {
    /// The validated quest catalog.
    pub catalog: Arc<Catalog>,
    /// Durable progress.
    pub store: Arc<dyn QuestStore>,
    ready: AtomicBool,
}

impl AppState {
    /// State over an open store; ready at once.
    pub fn new(catalog: Catalog, store: Arc<dyn QuestStore>) -> Self {
        Self {
            catalog: Arc::new(catalog),
            store,
            ready: AtomicBool::new(true),
        }
    }

    /// Whether the service takes traffic (false once shutdown has begun).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// Serves quest-api on `listener` until `shutdown` completes, then shuts down gracefully:
/// stops accepting, lets in-flight requests finish (up to `config.shutdown_timeout`),
/// makes every write durable, closes the store, and returns.
///
/// Opens the store first (creating the sled directory, or bringing the database's schema
/// up to date); an error there (e.g. another process holding the directory, the database
/// unreachable) is returned before anything is served.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    metrics::init();
    let store = store::open(&config.storage).await?;
    let state = web::Data::new(AppState::new(config.catalog.clone(), store.clone()));
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;

    let stopping = state.clone();
    let signal = async move {
        shutdown.await;
        stopping.ready.store(false, Ordering::Release);
        tracing::info!("shutting down: finishing in-flight requests");
    };
    let server = serve(listener, state.clone(), signal, &config)?;
    tracing::info!(
        %addr,
        storage = %config.storage,
        quests = state.catalog.quests().len(),
        "quest-api listening"
    );
    server.await.context("serving HTTP")?;

    // Every request has been answered: make the last writes durable, close the store.
    store
        .close()
        .await
        .map_err(|e| anyhow::anyhow!("closing the store: {e}"))?;
    // The worker threads drop their copies of the state (and so of the sled trees) just
    // after reporting they stopped; wait for that, so that when `run` returns the database
    // is closed and its directory can be opened again (by a restart in the same process).
    let state = state.into_inner();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&state) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if Arc::strong_count(&state) > 1 {
        tracing::warn!("HTTP workers still hold the store 10 s after stopping");
    }
    drop((state, store));
    tracing::info!("stopped; all writes flushed");
    Ok(())
}

/// The HTTP server over `state`, stopping gracefully when `signal` completes. (A plain
/// function: the builder is not `Send`, and must not live inside `run`'s future.)
fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    signal: impl Future<Output = ()> + Send + 'static,
    config: &Config,
) -> std::io::Result<actix_web::dev::Server> {
    let token = ServiceToken::new(config.service_token.as_str());
    let mut server = HttpServer::new(move || {
        service_kit::app::app()
            .app_data(state.clone())
            .app_data(token.clone())
            .configure(configure)
    })
    .disable_signals()
    .shutdown_signal(signal)
    .shutdown_timeout(config.shutdown_timeout.as_secs().max(1));
    if let Some(workers) = config.workers {
        server = server.workers(workers.max(1));
    }
    Ok(server.listen(listener)?.run())
}
