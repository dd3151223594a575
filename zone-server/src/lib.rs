//! # zone-server
//!
//! One process hosting K zone actors (ractor). A zone is idle until the server-manager
//! allocates it to an area of the world; it then runs the authoritative tick for that area
//! (per-tick event stacks of client inputs, rapier3d physics, NPCs, combat, items, quest
//! progress) for the players connected to it over WebSocket.
//!
//! | module | what |
//! | --- | --- |
//! | [`sim`] | the pure simulation of one area: the tick, physics, NPCs, combat, items, views |
//! | [`zone`] | zone actors and their supervisor: lifecycle, preloads, admissions, saves, handoff and migration over NATS |
//! | [`net`] | the WebSocket endpoint and per-connection limits |
//! | [`apis`] | character-api and quest-api clients |
//! | [`http`] | routes: `/ws`, `/healthz`, `/readyz`, `/metrics`, `/v1/stays` |
//! | [`stays`] | who was in which zone when (the record the tests prove ownership from) |
//! | [`config`], [`shared`] | settings, process-wide state |
//!
//! Every format it speaks lives in the `protocol` crate, and the plumbing every service
//! shares (logging, the shutdown signal, the healthcheck probe, the metrics recorder and
//! request metrics, problem+json errors, bearer-token checks) in `service-kit`; this crate
//! owns the behaviour.
//! The binary is a thin `main` over [`run`], which tests call the same way.

pub mod apis;
pub mod config;
pub mod http;
pub mod net;
pub mod shared;
pub mod sim;
pub mod stays;
pub mod zone;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use futures_util::StreamExt;
use protocol::ZoneId;
use ractor::Actor;
use ractor::rpc::CallResult;

use apis::Apis;
use config::Config;
use shared::Shared;
use zone::{ZoneMsg, ZoneSupervisor};

/// How long start-up waits for NATS to confirm the zones' subscriptions.
const SUBSCRIBED_WITHIN: Duration = Duration::from_secs(5);

/// The service's name on the request metrics every service shares.
pub const SERVICE: &str = "zone-server";

/// A running zone-server, for tests: its shared state and the address it serves.
#[derive(Debug, Clone)]
pub struct Handle {
    /// Process-wide state (zones, NATS, APIs).
    pub shared: Arc<Shared>,
    /// The zone ids of this process.
    pub zones: Vec<ZoneId>,
}

/// Runs a zone-server on `listener` until `shutdown` completes, then saves every player
/// and stops. `started` learns the handle once the zones are up.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(Handle),
) -> anyhow::Result<()> {
    service_kit::metrics::init(SERVICE);
    let grid = config.grid()?;
    let bound = listener.local_addr()?;
    let ws_url = config.ws_url(bound);
    let link = service_kit::nats::connect(&config.nats, "zone-server").await?;
    let nats = link.client.clone();
    let apis = Apis::new(
        &config.character_api,
        &config.quest_api,
        &config.service_token,
    )?;
    let shared = Arc::new(Shared::new(
        config.clone(),
        grid,
        link,
        apis,
        ws_url.clone(),
    )?);

    spawn_catalog_loader(shared.clone());
    let zones: Vec<ZoneId> = (0..config.slots).map(|_| ZoneId::new_random()).collect();
    let (supervisor, supervisor_task) =
        Actor::spawn(None, ZoneSupervisor, (zones.clone(), shared.clone())).await?;
    let mut forwarders = vec![zone::follow_owner_map(shared.clone()).await?];
    for zone in &zones {
        forwarders.push(spawn_forwarder(shared.clone(), *zone).await?);
    }
    // The subscriptions are on the server before anyone is told this process is up (a
    // request sent right after would find no responder); bounded, as NATS may not be up
    // yet, and then they are made when it is.
    service_kit::nats::flush(&nats, SUBSCRIBED_WITHIN).await;
    tracing::info!(%bound, %ws_url, slots = config.slots, "zone-server up");

    let data = web::Data::from(shared.clone());
    let server = HttpServer::new(move || {
        service_kit::app::app()
            .app_data(data.clone())
            .configure(http::configure)
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(5)
    .run();
    let server_handle = server.handle();
    let server_task = tokio::spawn(server);
    started(Handle {
        shared: shared.clone(),
        zones: zones.clone(),
    });

    shutdown.await;
    // Every wait from here on is bounded, so that SIGTERM always ends the process: a NATS
    // client that is not connected never answers a flush (it waits for a reconnect that
    // may never come), and that unbounded flush used to keep the process alive until it
    // was killed.
    tracing::info!("shutting down: saving every player");
    let saves = shared.zones().into_iter().map(|(id, zone)| async move {
        (id, zone.call(ZoneMsg::Shutdown, Some(SAVES_WITHIN)).await)
    });
    for (zone, answer) in futures_util::future::join_all(saves).await {
        if !matches!(answer, Ok(CallResult::Success(()))) {
            tracing::warn!(
                %zone,
                "a zone did not confirm its saves before shutdown (gave up after \
                 {SAVES_WITHIN:?}): its players' latest changes may be lost"
            );
        }
    }
    let server = async {
        server_handle.stop(true).await;
        let _ = server_task.await;
    };
    if tokio::time::timeout(STEP_WITHIN, server).await.is_err() {
        tracing::warn!("gave up waiting for the HTTP server to close its connections");
    }
    for f in forwarders {
        f.abort();
    }
    supervisor.stop(None);
    if tokio::time::timeout(STEP_WITHIN, supervisor_task)
        .await
        .is_err()
    {
        tracing::warn!("gave up waiting for the zone actors to stop");
    }
    service_kit::nats::flush(&nats, STEP_WITHIN).await;
    tracing::info!("stopped");
    Ok(())
}

/// How long the zones, all at once, may take to save their players at shutdown: saves go
/// to character-api, which a cluster stopped in order keeps up until the zones are done;
/// if it is gone, waiting longer would not make them succeed.
const SAVES_WITHIN: Duration = Duration::from_secs(10);
/// How long each later step of stopping may take before it is given up.
const STEP_WITHIN: Duration = Duration::from_secs(3);

/// Forwards NATS requests addressed to `zone` to whichever actor serves it now.
async fn spawn_forwarder(
    shared: Arc<Shared>,
    zone: ZoneId,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut subscriber = shared
        .nats
        .subscribe(shared.subjects.zone_all(zone))
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            let parsed = shared.subjects.parse_zone(&message.subject);
            match (parsed, shared.zone(zone)) {
                (Some(parsed), Some(actor)) => {
                    let _ = actor.cast(ZoneMsg::Request {
                        verb: parsed.verb,
                        sender: parsed.sender,
                        payload: message.payload,
                        reply: message.reply,
                    });
                }
                (None, _) => {
                    metrics::counter!("zone_nats_errors_total", "kind" => "unknown_verb")
                        .increment(1);
                    if let Some(reply) = message.reply {
                        let err: protocol::cluster::Reply<()> =
                            Err(protocol::cluster::ErrorReply::new(
                                protocol::cluster::ErrorKind::Malformed,
                                format!("no such request: {}", message.subject),
                            ));
                        let _ = shared
                            .nats
                            .publish(reply, protocol::cluster::encode(&err).into())
                            .await;
                    }
                }
                (Some(_), None) => {}
            }
        }
    }))
}

/// Fetches the quest catalog until quest-api answers, then every minute.
fn spawn_catalog_loader(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        loop {
            match shared.apis.catalog().await {
                Ok(catalog) => {
                    shared.set_catalog(catalog);
                    delay = Duration::from_secs(60);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the quest catalog yet");
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
            tokio::time::sleep(delay).await;
        }
    });
}
