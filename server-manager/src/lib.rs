//! # server-manager
//!
//! The cluster's control plane: the pool of zones (registered over NATS, watched through
//! their heartbeats), the area map with its ever-growing epochs (persisted in sled), the
//! allocation of idle zones to areas, player routing (`POST /v1/join`), failure detection,
//! drain orchestration, the operator HTTP API and the live dashboard.
//!
//! | module | concern |
//! | --- | --- |
//! | [`config`] | settings, flags and environment |
//! | [`store`] | the persisted epoch counter (sled) |
//! | [`registry`] | the pool and the area map (pure state machine) |
//! | [`allocation`] | allocate (coalesced), release, drain |
//! | [`join`] | player routing |
//! | [`dev_login`] | the development login (`--dev-login` only) |
//! | [`play`] | the web client's files and the world grid |
//! | [`detector`] | heartbeats, Unhealthy zones, idle release, spawn areas |
//! | [`inbound`] | zones' NATS messages to the manager |
//! | [`owners`] | the owner map published to every zone |
//! | [`nats`] | typed requests to zones (each zone's NATS identity) |
//! | [`characters`] | the character-api client |
//! | [`auth`] | join tokens (JWT) and the admin token |
//! | [`api`] | HTTP routes |
//! | [`openapi`] | the OpenAPI document's frame |
//! | [`feed`] | the fan-out of dashboard frames to open pages |
//! | [`dashboard`] | the page, its SSE feed and the `state` frame publisher |
//! | [`metrics`] | the manager's own Prometheus metrics |
//! | [`error`] | HTTP errors as problem+json |
//!
//! The binary is a thin `main` over [`run`]; tests start the same code. The plumbing every
//! service shares (logging, the shutdown signal, the healthcheck probe, request metrics,
//! framework errors, bearer-token checks) is [`service_kit`]'s.

pub mod allocation;
pub mod api;
pub mod auth;
pub mod characters;
pub mod config;
pub mod dashboard;
pub mod detector;
pub mod dev_login;
pub mod error;
pub mod feed;
pub mod inbound;
pub mod join;
pub mod manager;
pub mod metrics;
pub mod nats;
pub mod openapi;
pub mod owners;
pub mod play;
pub mod registry;
pub mod store;

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::{HttpServer, web};

pub use api::configure;
pub use config::Config;
pub use manager::Manager;

/// Why the manager could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The epoch store could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// NATS could not be set up.
    #[error("NATS: {0}")]
    Nats(String),
    /// The character-api client could not be built.
    #[error(transparent)]
    Characters(#[from] characters::CharacterError),
    /// The development login's HTTP client could not be built.
    #[error("the development login's client: {0}")]
    DevLogin(#[from] reqwest::Error),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

/// Runs the manager on `listener` until `shutdown` completes, then stops gracefully.
///
/// Must be called inside a multi-threaded tokio runtime: the NATS link, the sweeper and
/// the dashboard publisher are spawned on it, and the HTTP handlers hand their network
/// work to it.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    config.validate()?;
    let subjects = config.subjects()?;
    metrics::init();
    let store = store::EpochStore::open(&config.data_dir, config.epoch_block)?;
    let characters =
        characters::CharacterClient::new(&config.character_api, &config.service_token)?;
    let dev_login = dev_login::DevLogin::new(&config)?;
    if config.dev_login {
        tracing::warn!(
            "the development login is ON (--dev-login): anyone who reaches this manager gets \
             a join token for any character name; never run a production cluster like this"
        );
    }
    let nats = service_kit::nats::connect(&config.nats, "server-manager")
        .await
        .map_err(|e| RunError::Nats(e.to_string()))?;
    let client = nats.client.clone();
    let subjects = subjects.speaking_as(nats.identity);
    let workers = config.workers;
    let addr = listener.local_addr()?;
    let manager = Manager::new(config, subjects, store, client.clone(), characters);

    let mut tasks = inbound::start(&manager)
        .await
        .map_err(|e| RunError::Nats(e.to_string()))?;
    // Subscribed on the server before the manager reports ready (bounded: NATS may be down).
    service_kit::nats::flush(&client, Duration::from_secs(5)).await;
    tasks.push(tokio::spawn(manager.clone().run_sweeper()));
    tasks.push(tokio::spawn(dashboard::run_publisher(manager.clone())));
    tasks.push(tokio::spawn(owners::run_publisher(manager.clone())));

    let server = http_server(listener, manager.clone(), dev_login, workers)?;
    let handle = server.handle();
    tracing::info!(%addr, "server-manager listening");

    let served = tokio::spawn(server);
    shutdown.await;
    tracing::info!("shutting down");
    manager.feed().close();
    handle.stop(true).await;
    let result = served.await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    service_kit::nats::flush(&client, Duration::from_secs(1)).await;
    if let Err(e) = manager.store().flush().await {
        tracing::warn!("final flush failed: {e}");
    }
    match result {
        Ok(r) => r.map_err(RunError::Http),
        Err(e) => Err(RunError::Http(std::io::Error::other(e.to_string()))),
    }
}

/// Builds and starts the HTTP server (kept out of `run` so `run`'s future stays `Send`:
/// the server builder is not).
fn http_server(
    listener: TcpListener,
    manager: Manager,
    dev_login: dev_login::DevLogin,
    workers: Option<usize>,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(manager);
    let dev_login = web::Data::new(dev_login);
    let mut server = HttpServer::new(move || {
        service_kit::app::app()
            .app_data(data.clone())
            .app_data(dev_login.clone())
            .configure(configure)
    })
    .disable_signals()
    .shutdown_timeout(5);
    if let Some(w) = workers {
        server = server.workers(w);
    }
    Ok(server.listen(listener)?.run())
}
