//! The HTTP side of a zone-server process: `/ws` for players, `/healthz`, `/readyz` and
//! `/metrics` for operators. `configure` serves both `run` and the tests.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::net::ws;
use crate::shared::Shared;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(ws::route))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text))
        .route("/v1/stays", web::get().to(stays));
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
        HttpResponse::ServiceUnavailable()
            .content_type(protocol::http::problem::PROBLEM_CONTENT_TYPE)
            .json(protocol::http::Problem::new(
                503,
                "not-ready",
                "Not ready",
                "not connected to NATS",
            ))
    }
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::handle().render())
}

/// `GET /v1/stays` (bearer: the service token): every player stay this process remembers.
async fn stays(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let token = &shared.config.service_token;
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(protocol::http::parse_bearer);
    if !token.is_empty() && presented != Some(token.as_str()) {
        metrics::counter!("zone_http_unauthorized_total").increment(1);
        return HttpResponse::Unauthorized()
            .content_type(protocol::http::problem::PROBLEM_CONTENT_TYPE)
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .json(protocol::http::Problem::new(
                401,
                "unauthorized",
                "Unauthorized",
                "a bearer token naming the service token is required",
            ));
    }
    HttpResponse::Ok().json(shared.stays.all())
}
