//! The HTTP surface: routing (`POST /v1/join`), the operator API (admin bearer token), the
//! dashboard, health and metrics. [`configure`] is the one route table, used by the server
//! and by tests alike.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `POST /v1/join` | player (JWT) | route a character to its area's zone |
//! | `GET /v1/world` | open | the world grid (positions on the client wire are world coordinates) |
//! | `POST /v1/dev/login` | open, with `--dev-login` only | a character and a join token for a name |
//! | `GET /v1/zones` | operator | every known zone (`ZoneInfo[]`) |
//! | `GET /v1/areas[?allocated=true]` | operator | every area of the grid (`AreaInfo[]`) |
//! | `GET /v1/pool` | operator | pool shape and autoscaler delta (`PoolStatus`) |
//! | `POST /v1/areas/{area}/allocate` | operator | give the area an owner (`AreaInfo`) |
//! | `POST /v1/areas/{area}/release` | operator | take the area back (`AreaInfo`) |
//! | `POST /v1/zones/{id}/drain` | operator | move the zone's area to another zone (202) |
//! | `GET /` | open | the dashboard |
//! | `GET /play/` | open | the web client (`web/`) |
//! | `GET /v1/events` | open | the dashboard's SSE feed |
//! | `GET /v1/dashboard/state` | open | the dashboard's picture as JSON |
//! | `GET /healthz`, `/readyz`, `/metrics` | open | liveness, readiness, Prometheus |
//! | `GET /openapi.json` | open | the OpenAPI document of the routes above but the dashboard's |

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, Responder};
use protocol::http::Problem;
use protocol::http::manager::{
    AreaInfo, DrainStarted, JoinRequest, JoinResponse, PoolStatus, ZoneInfo,
};
use protocol::{AreaId, ZoneId};
use serde::Deserialize;
use service_kit::routing::{Endpoint, not_found};
use utoipa::OpenApi;

use crate::allocation::{DrainFailure, ReleaseFailure};
use crate::auth;
use crate::dashboard;
use crate::dev_login;
use crate::error::ApiError;
use crate::manager::Manager;
use crate::metrics as m;
use crate::openapi;
use crate::play;
use crate::registry::{AllocError, DrainError};

/// Largest request body accepted (a join body is under 100 bytes).
const BODY_LIMIT: usize = 16 * 1024;

/// Registers every route, the fallbacks for unknown paths and methods, and the extractor
/// settings. The caller adds the [`Manager`] as `web::Data`.
pub fn configure(cfg: &mut ServiceConfig) {
    service_kit::framework::configure_extractors(cfg, BODY_LIMIT);
    cfg.service(Endpoint::new("/v1/join").post(join))
        .service(Endpoint::new("/v1/world").get(play::world))
        .service(Endpoint::new("/v1/dev/login").post(dev_login::login))
        .service(Endpoint::new("/v1/zones").get(zones))
        .service(Endpoint::new("/v1/areas").get(areas))
        .service(Endpoint::new("/v1/pool").get(pool))
        .service(Endpoint::new("/v1/areas/{area}/allocate").post(allocate))
        .service(Endpoint::new("/v1/areas/{area}/release").post(release))
        .service(Endpoint::new("/v1/zones/{zone}/drain").post(drain))
        .service(Endpoint::new("/v1/events").get(dashboard::events))
        .service(Endpoint::new("/v1/dashboard/state").get(dashboard::state))
        .service(Endpoint::new("/").get(dashboard::index))
        .service(Endpoint::new("/dashboard.js").get(dashboard::script))
        .service(Endpoint::new("/dashboard.css").get(dashboard::style))
        .service(Endpoint::new("/favicon.ico").get(dashboard::favicon))
        .service(Endpoint::new("/play").get(play::redirect))
        .service(Endpoint::new("/play/{file:.*}").get(play::file))
        .service(Endpoint::new("/healthz").get(healthz))
        .service(Endpoint::new("/readyz").get(readyz))
        .service(Endpoint::new("/metrics").get(metrics_text))
        .service(Endpoint::new("/openapi.json").get(openapi_json))
        .default_service(web::to(not_found));
}

/// Every operation of the HTTP API, for the OpenAPI document ([`openapi::document`] adds
/// the title, tags and security schemes around them). The dashboard's and the web client's
/// pages, assets and event stream are for browsers and stay out of it.
#[derive(OpenApi)]
#[openapi(paths(
    join,
    play::world,
    dev_login::login,
    zones,
    areas,
    pool,
    allocate,
    release,
    drain,
    healthz,
    readyz,
    metrics_text,
    openapi_json,
))]
pub struct Operations;

trait IntoResponse {
    fn error_response_owned(self) -> HttpResponse;
}

impl IntoResponse for ApiError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

// ------------------------------------------------------------------ join

/// Routes the token's character to the zone of its area, allocating one if the area has
/// none, and hands back where to connect with a one-time ticket.
#[utoipa::path(
    post,
    path = "/v1/join",
    tag = "players",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Connect to `zone_url` and send the ticket in `Hello` before `expires_at`.", body = JoinResponse),
        (status = 400, description = "The body is not `{\"character_id\": <uuid>}`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, malformed, wrongly signed or expired player token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The character belongs to another account.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such character.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the size limit (see the description).", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The manager failed; the details are in its log.", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "character-api did not answer, or the zone could not preload the player.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No idle zone is left for the area, the area is full (at its player capacity: the detail says so), or its zone did not take the player.", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u32, description = "Seconds to wait before trying again.")
        )),
    ),
    security(("player_token" = []))
)]
async fn join(req: HttpRequest, body: Bytes, manager: web::Data<Manager>) -> HttpResponse {
    let started = Instant::now();
    let result = join_inner(&req, &body, &manager).await;
    metrics::histogram!(m::JOIN_SECONDS).record(started.elapsed().as_secs_f64());
    match result {
        Ok(res) => {
            metrics::counter!(m::JOINS, "outcome" => "ok").increment(1);
            HttpResponse::Ok().json(res)
        }
        Err(e) => {
            let reason = e.reason();
            metrics::counter!(m::JOINS, "outcome" => reason).increment(1);
            metrics::counter!(m::JOIN_FAILURES, "reason" => reason).increment(1);
            e.error_response_owned()
        }
    }
}

async fn join_inner(
    req: &HttpRequest,
    body: &[u8],
    manager: &Manager,
) -> Result<protocol::http::manager::JoinResponse, ApiError> {
    let account = auth::join_account(req, manager.config().jwt_secret.as_bytes())?;
    // Read by hand after the token check, so a stranger learns nothing about the body.
    let request: JoinRequest = service_kit::framework::json_body(req, body)?;
    let m = manager.clone();
    manager
        .on_runtime(async move { m.join(account, request).await })
        .await
        .unwrap_or_else(|| Err(ApiError::Internal("the join task failed".into())))
}

// ------------------------------------------------------------------ operator API

/// Every zone the manager knows, with its state, area and load.
#[utoipa::path(
    get,
    path = "/v1/zones",
    tag = "operators",
    responses(
        (status = 200, description = "Every known zone.", body = [ZoneInfo]),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
async fn zones(req: HttpRequest, manager: web::Data<Manager>) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let zones = manager.registry().zones(Instant::now());
    Ok(HttpResponse::Ok().json(zones))
}

/// `GET /v1/areas` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AreasQuery {
    /// Only areas with an owner.
    #[serde(default)]
    allocated: bool,
}

/// Every area of the grid with its owner, if any.
#[utoipa::path(
    get,
    path = "/v1/areas",
    tag = "operators",
    params(AreasQuery),
    responses(
        (status = 200, description = "The areas, in grid order.", body = [AreaInfo]),
        (status = 400, description = "Malformed query (`allocated` is `true` or `false`).", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
async fn areas(
    req: HttpRequest,
    query: web::Query<AreasQuery>,
    manager: web::Data<Manager>,
) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let areas = manager.registry().areas(query.allocated);
    Ok(HttpResponse::Ok().json(areas))
}

/// The pool's shape and the change in zone slots an autoscaler should make.
#[utoipa::path(
    get,
    path = "/v1/pool",
    tag = "operators",
    responses(
        (status = 200, description = "The pool.", body = PoolStatus),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
async fn pool(req: HttpRequest, manager: web::Data<Manager>) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let pool = manager.registry().pool(manager.config().idle_buffer);
    Ok(HttpResponse::Ok().json(pool))
}

fn parse_area(manager: &Manager, text: &str) -> Result<AreaId, ApiError> {
    let area: AreaId = text
        .parse()
        .map_err(|e: protocol::ids::IdParseError| ApiError::BadRequest(e.to_string()))?;
    if !manager.config().grid.contains(area) {
        return Err(ApiError::NotFound(format!(
            "area {area} is outside the world grid"
        )));
    }
    Ok(area)
}

fn area_info(manager: &Manager, area: AreaId) -> AreaInfo {
    let r = manager.registry();
    r.areas(false)
        .into_iter()
        .find(|a| a.area == area)
        .unwrap_or(AreaInfo {
            area,
            zone: None,
            epoch: None,
            players: 0,
        })
}

/// Gives the area an owner (an idle zone under a new epoch) unless it has one.
#[utoipa::path(
    post,
    path = "/v1/areas/{area}/allocate",
    tag = "operators",
    params(("area" = String, Path, pattern = "^[0-9]{1,5}-[0-9]{1,5}$", description = "The area as `<column>-<row>`, e.g. `3-1` (each at most 65535).")),
    responses(
        (status = 200, description = "The area and its owner.", body = AreaInfo),
        (status = 400, description = "Malformed area id.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The area is outside the world grid.", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The manager failed; the details are in its log.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No idle zone is left, or the zone did not take the area.", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u32, description = "Seconds to wait before trying again.")
        )),
    ),
    security(("admin_token" = []))
)]
async fn allocate(
    req: HttpRequest,
    path: web::Path<String>,
    manager: web::Data<Manager>,
) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let area = parse_area(&manager, &path)?;
    let m = manager.get_ref().clone();
    let result = manager
        .on_runtime(async move { m.ensure(area).await })
        .await
        .unwrap_or_else(|| Err(AllocError::ZoneFailed("the allocation task failed".into())));
    let retry_after = manager.config().retry_after;
    match result {
        Ok(_) => Ok(HttpResponse::Ok().json(area_info(&manager, area))),
        Err(AllocError::NoIdleZone) => Err(ApiError::NoIdleZone { retry_after }),
        Err(AllocError::Store(e)) => Err(ApiError::Internal(e)),
        Err(e) => Err(ApiError::ZoneUnavailable {
            detail: e.to_string(),
            retry_after,
        }),
    }
}

/// Takes the area back from its owner, which goes back to the idle pool.
#[utoipa::path(
    post,
    path = "/v1/areas/{area}/release",
    tag = "operators",
    params(("area" = String, Path, pattern = "^[0-9]{1,5}-[0-9]{1,5}$", description = "The area as `<column>-<row>`, e.g. `3-1` (each at most 65535).")),
    responses(
        (status = 200, description = "The area, now without an owner.", body = AreaInfo),
        (status = 400, description = "Malformed area id.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The area is outside the world grid.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The area has no owner, or is busy (being allocated, released or drained).", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The zone did not release the area.", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u32, description = "Seconds to wait before trying again.")
        )),
    ),
    security(("admin_token" = []))
)]
async fn release(
    req: HttpRequest,
    path: web::Path<String>,
    manager: web::Data<Manager>,
) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let area = parse_area(&manager, &path)?;
    let m = manager.get_ref().clone();
    let result = manager
        .on_runtime(async move { m.release(area).await })
        .await
        .unwrap_or(Err(ReleaseFailure::Busy(area)));
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(area_info(&manager, area))),
        Err(e @ (ReleaseFailure::NotAllocated(_) | ReleaseFailure::Busy(_))) => {
            Err(ApiError::Conflict(e.to_string()))
        }
        Err(ReleaseFailure::Zone(e)) => Err(ApiError::ZoneUnavailable {
            detail: format!("the zone did not release the area: {e}"),
            retry_after: manager.config().retry_after,
        }),
    }
}

/// Moves the zone's area to an idle zone under a new epoch; the zone then migrates its
/// players and goes back to the idle pool.
#[utoipa::path(
    post,
    path = "/v1/zones/{zone}/drain",
    tag = "operators",
    params(("zone" = ZoneId, Path, description = "The zone.")),
    responses(
        (status = 202, description = "The area has a new owner; the old one was told to migrate.", body = DrainStarted),
        (status = 400, description = "Malformed zone id.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong admin token (`WWW-Authenticate: Bearer`).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The zone is not known.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The zone has no area to drain, or is busy.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No idle zone is left, or the new owner did not take the area.", body = Problem, content_type = "application/problem+json", headers(
            ("Retry-After" = u32, description = "Seconds to wait before trying again.")
        )),
    ),
    security(("admin_token" = []))
)]
async fn drain(
    req: HttpRequest,
    path: web::Path<String>,
    manager: web::Data<Manager>,
) -> Result<HttpResponse, ApiError> {
    auth::require_admin(&req, &manager.config().admin_token)?;
    let zone: ZoneId = path
        .parse()
        .map_err(|e: protocol::ids::IdParseError| ApiError::BadRequest(e.to_string()))?;
    let m = manager.get_ref().clone();
    let result = manager
        .on_runtime(async move { m.drain(zone).await })
        .await
        .unwrap_or_else(|| {
            Err(DrainFailure::Allocation(AllocError::ZoneFailed(
                "the drain task failed".into(),
            )))
        });
    let retry_after = manager.config().retry_after;
    match result {
        Ok(started) => Ok(HttpResponse::Accepted().json(started)),
        Err(DrainFailure::Refused(DrainError::UnknownZone(z))) => {
            Err(ApiError::NotFound(format!("zone {z} is not known")))
        }
        Err(DrainFailure::Refused(DrainError::NoIdleZone))
        | Err(DrainFailure::Allocation(AllocError::NoIdleZone)) => {
            Err(ApiError::NoIdleZone { retry_after })
        }
        Err(DrainFailure::Refused(e)) => Err(ApiError::Conflict(e.to_string())),
        Err(DrainFailure::Allocation(e)) => Err(ApiError::ZoneUnavailable {
            detail: e.to_string(),
            retry_after,
        }),
    }
}

// ------------------------------------------------------------------ health

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up: `{\"status\": \"ok\"}`.")))]
async fn healthz() -> impl Responder {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: connected to NATS.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Connected to NATS; `settling` while the area map is still being rebuilt from heartbeats after a start."),
        (status = 503, description = "Not connected to NATS.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(manager: web::Data<Manager>) -> HttpResponse {
    if manager.nats_connected() {
        HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "nats": "connected",
            "settling": !manager.settled(),
        }))
    } else {
        ApiError::Unavailable("not connected to NATS".into()).error_response_owned()
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format.", content_type = "text/plain")))]
async fn metrics_text() -> HttpResponse {
    service_kit::metrics::response()
}

/// This service's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")))]
async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    service_kit::openapi::response(&JSON, || {
        openapi::document(Operations::openapi(), BODY_LIMIT)
    })
}
