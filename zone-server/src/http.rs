//! The HTTP side of a zone-server process: `/ws` for players, `/healthz`, `/readyz` and
//! `/metrics` for operators, `/v1/stays` for tests and operators. `configure` serves both
//! `run` and the tests; unknown paths and methods get `404` and `405` problems.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use service_kit::framework::FrameworkError;
use service_kit::problem::ProblemResponse;
use service_kit::routing::{Endpoint, not_found};

use crate::net::ws;
use crate::shared::Shared;

/// Registers every route and the fallbacks for unknown paths and methods.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(Endpoint::new("/ws").get(ws::route))
        .service(Endpoint::new("/healthz").get(healthz))
        .service(Endpoint::new("/readyz").get(readyz))
        .service(Endpoint::new("/metrics").get(metrics_text))
        .service(Endpoint::new("/v1/stays").get(stays))
        .default_service(web::to(not_found));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when NATS is connected: without it the zones can neither be allocated nor report.
async fn readyz(shared: web::Data<Shared>) -> HttpResponse {
    if shared.nats.connection_state() == async_nats::connection::State::Connected {
        HttpResponse::Ok()
            .json(serde_json::json!({ "status": "ready", "zones": shared.zones().len() }))
    } else {
        ProblemResponse::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "not connected to NATS",
        )
        .finish()
    }
}

async fn metrics_text() -> HttpResponse {
    service_kit::metrics::response()
}

/// `GET /v1/stays` (bearer: the service token, unless none is configured): every player
/// stay this process remembers.
async fn stays(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, FrameworkError> {
    let token = &shared.config.service_token;
    if !token.is_empty() {
        service_kit::auth::check(req.headers(), token)?;
    }
    Ok(HttpResponse::Ok().json(shared.stays.all()))
}
