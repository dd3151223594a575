//! The live dashboard: one HTML page with its script and style compiled into the binary
//! (no build step), fed by Server-Sent Events from `GET /v1/events` (frames fanned out by
//! [`crate::feed`]).
//!
//! The feed carries `state` frames (the whole [`Snapshot`](crate::manager::Snapshot): zones,
//! owned areas, pool; sent on every change, at most four times a second, and at least once
//! a second), `positions` frames (zones' sampled player dots, forwarded as they arrive) and
//! `handoff` frames (completed handoffs). SSE rather than WebSocket: one direction is all
//! the page needs, `EventSource` reconnects by itself, and it passes through any proxy.
//!
//! The dashboard and its feed are open (no admin token): they show zone ids, URLs, areas,
//! player counts and character ids with positions, never tickets or tokens, and
//! `EventSource` cannot send an `Authorization` header. Put the manager behind a proxy if
//! even that must stay private.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web;
use actix_web::{HttpResponse, Responder};
use futures_util::StreamExt;
use tokio::sync::broadcast;

use crate::feed::frame;
use crate::manager::Manager;

const INDEX_HTML: &str = include_str!("../static/index.html");
const DASHBOARD_JS: &str = include_str!("../static/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../static/dashboard.css");

/// Fastest `state` frame rate.
const MIN_STATE_GAP: Duration = Duration::from_millis(250);
/// Slowest `state` frame rate (also the feed's keep-alive).
const MAX_STATE_GAP: Duration = Duration::from_secs(1);

/// Sends `state` frames while pages listen: soon after a change, and every second anyway.
pub async fn run_publisher(manager: Manager) {
    let mut last = Instant::now() - MAX_STATE_GAP;
    loop {
        tokio::time::sleep(MIN_STATE_GAP).await;
        let feed = manager.feed();
        if !feed.has_subscribers() {
            continue;
        }
        if feed.take_dirty() || last.elapsed() >= MAX_STATE_GAP {
            feed.send("state", &manager.snapshot());
            last = Instant::now();
        }
    }
}

/// `GET /`: the dashboard page.
pub async fn index() -> impl Responder {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(INDEX_HTML)
}

/// `GET /dashboard.js`.
pub async fn script() -> impl Responder {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DASHBOARD_JS)
}

/// `GET /dashboard.css`.
pub async fn style() -> impl Responder {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DASHBOARD_CSS)
}

/// `GET /favicon.ico`: nothing, so browsers do not log a 404 on every load.
pub async fn favicon() -> impl Responder {
    HttpResponse::NoContent().finish()
}

/// `GET /v1/dashboard/state`: the current picture as JSON.
pub async fn state(manager: web::Data<Manager>) -> impl Responder {
    web::Json(manager.snapshot())
}

/// `GET /v1/events`: the SSE feed, starting with the current picture.
pub async fn events(manager: web::Data<Manager>) -> HttpResponse {
    let Some(rx) = manager.feed().subscribe() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let first = frame("state", &manager.snapshot());
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(bytes) => return Some((Ok::<_, Infallible>(bytes), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(first) }).chain(rest);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream)
}
