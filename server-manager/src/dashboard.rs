//! The live dashboard: one HTML page with its script and style compiled into the binary
//! (no build step), fed by Server-Sent Events from `GET /v1/events`.
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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, Responder};
use futures_util::StreamExt;
use protocol::cluster::{HandoffEvent, PositionSample};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::manager::Manager;

const INDEX_HTML: &str = include_str!("../static/index.html");
const DASHBOARD_JS: &str = include_str!("../static/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../static/dashboard.css");

/// Frames buffered per subscriber; a slower page skips frames (the next `state` frame
/// carries everything again).
const CHANNEL: usize = 1024;
/// Fastest `state` frame rate.
const MIN_STATE_GAP: Duration = Duration::from_millis(250);
/// Slowest `state` frame rate (also the feed's keep-alive).
const MAX_STATE_GAP: Duration = Duration::from_secs(1);

/// The fan-out of dashboard frames to every open page.
#[derive(Debug)]
pub struct Feed {
    tx: Mutex<Option<broadcast::Sender<Bytes>>>,
    dirty: AtomicBool,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    /// A feed nobody listens to yet.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL);
        Self {
            tx: Mutex::new(Some(tx)),
            dirty: AtomicBool::new(true),
        }
    }

    fn sender(&self) -> Option<broadcast::Sender<Bytes>> {
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A new subscriber (`None` once the feed is closed for shutdown).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Bytes>> {
        self.sender().map(|tx| tx.subscribe())
    }

    /// Whether any page listens.
    pub fn has_subscribers(&self) -> bool {
        self.sender().is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Notes that the picture changed; the next `state` frame goes out soon.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Sends one frame to every page.
    pub fn send(&self, event: &str, data: &impl Serialize) {
        if let Some(tx) = self.sender()
            && tx.receiver_count() > 0
        {
            let _ = tx.send(frame(event, data));
        }
    }

    /// Forwards a zone's position sample.
    pub fn positions(&self, sample: &PositionSample) {
        self.send("positions", sample);
    }

    /// Forwards a completed handoff.
    pub fn handoff(&self, event: &HandoffEvent) {
        self.send("handoff", event);
    }

    /// Ends every page's stream (on shutdown, so open pages do not hold it up).
    pub fn close(&self) {
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

/// One SSE frame: `event: <name>`, `data: <json>`, blank line. JSON has no raw newlines,
/// so one `data:` line holds it.
fn frame(event: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

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
