//! The manager's shared handle: configuration, the registry (pool + area map) behind one
//! short-held lock, the epoch store, the NATS link, the character-api client and the
//! dashboard feed. Cheap to clone; HTTP handlers get it through `web::Data`.
//!
//! Network work (allocations, joins, drains) runs on the runtime the manager was started
//! on (the one `main` builds), not on actix-web's per-worker runtimes: an allocation that
//! several joins wait on must not die with the request that happened to start it.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use protocol::UnixMillis;
use protocol::cluster::Subjects;
use serde::Serialize;
use tokio::sync::Notify;

use crate::characters::CharacterClient;
use crate::config::Config;
use crate::feed::Feed;
use crate::nats::ZoneLink;
use crate::registry::{Registry, Timings};
use crate::store::EpochStore;

/// The manager: cheap to clone, shared by every task and handler.
#[derive(Clone, Debug)]
pub struct Manager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    registry: Mutex<Registry>,
    store: EpochStore,
    link: ZoneLink,
    characters: CharacterClient,
    feed: Feed,
    runtime: tokio::runtime::Handle,
    started: Instant,
    settle_until: Instant,
    kick: Notify,
}

/// The whole picture at one instant: what the dashboard draws and `GET
/// /v1/dashboard/state` returns.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When it was taken (manager clock).
    pub at: UnixMillis,
    /// The world grid.
    pub grid: protocol::WorldGrid,
    /// Areas kept allocated.
    pub spawn_areas: Vec<protocol::AreaId>,
    /// Every known zone.
    pub zones: Vec<protocol::http::manager::ZoneInfo>,
    /// Areas with an owner (the others are free).
    pub areas: Vec<protocol::http::manager::AreaInfo>,
    /// The pool's shape.
    pub pool: protocol::http::manager::PoolStatus,
    /// Still rebuilding the area map after a start.
    pub settling: bool,
    /// How far players see, metres: within this of an edge, an area's entities are ghosts
    /// in its neighbours (the dashboard draws the band).
    pub interest_radius: f32,
}

impl Manager {
    /// A manager over an open store and a NATS client, on the current runtime.
    pub fn new(
        config: Config,
        subjects: Subjects,
        store: EpochStore,
        client: async_nats::Client,
        characters: CharacterClient,
    ) -> Self {
        let timings = Timings {
            heartbeat_timeout: config.heartbeat_timeout,
            release_grace: config.release_grace,
            forget_after: config.forget_after,
            report_grace: config.heartbeat_interval * 2 + Duration::from_millis(500),
        };
        let registry = Registry::new(config.grid, &config.spawn_areas, timings);
        let settle = config.settle.unwrap_or(if store.issued_before() {
            config.heartbeat_timeout
        } else {
            Duration::ZERO
        });
        let started = Instant::now();
        if !settle.is_zero() {
            tracing::info!(
                settle_ms = settle.as_millis() as u64,
                "rebuilding the area map from heartbeats before allocating unclaimed areas"
            );
        }
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                store,
                link: ZoneLink::new(client, subjects),
                characters,
                feed: Feed::new(),
                runtime: tokio::runtime::Handle::current(),
                started,
                settle_until: started + settle,
                kick: Notify::new(),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The registry, locked. Held only for bookkeeping, never across an await.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The epoch store.
    pub fn store(&self) -> &EpochStore {
        &self.inner.store
    }

    /// Requests to zones.
    pub fn link(&self) -> &ZoneLink {
        &self.inner.link
    }

    /// The character-api client.
    pub fn characters(&self) -> &CharacterClient {
        &self.inner.characters
    }

    /// The dashboard feed.
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    /// When the manager started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// When the settle period after the start ends.
    pub fn settle_until(&self) -> Instant {
        self.inner.settle_until
    }

    /// Whether the settle period is over: zones holding areas have had time to report them.
    pub fn settled(&self) -> bool {
        Instant::now() >= self.inner.settle_until
    }

    /// Whether NATS is connected.
    pub fn nats_connected(&self) -> bool {
        matches!(
            self.inner.link.client().connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// Wakes the sweeper now (a zone registered: spawn areas may be allocatable).
    pub fn kick(&self) {
        self.inner.kick.notify_one();
    }

    /// Waits for [`Manager::kick`] (or `timeout`).
    pub async fn kicked(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.kick.notified()).await;
    }

    /// Runs `fut` on the manager's runtime and waits for it; the work completes even if
    /// the caller is dropped.
    pub async fn on_runtime<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        self.inner.runtime.spawn(fut).await.ok()
    }

    /// Starts `fut` on the manager's runtime in the background.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.inner.runtime.spawn(fut);
    }

    /// The current picture.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let settling = !self.settled();
        let r = self.registry();
        Snapshot {
            at: service_kit::time::now_millis(),
            grid: *r.grid(),
            spawn_areas: r.spawn_areas().collect(),
            zones: r.zones(now),
            areas: r.areas(true),
            pool: r.pool(self.inner.config.idle_buffer),
            settling,
            interest_radius: protocol::client::INTEREST_RADIUS,
        }
    }
}
