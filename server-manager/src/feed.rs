//! The fan-out of dashboard frames (SSE `event:`/`data:` blocks) to every open page. The
//! manager holds one [`Feed`] and writes to it as things change; the
//! [`dashboard`](crate::dashboard) serves it. Kept apart from both so neither depends on
//! the other's internals: the manager knows nothing of pages, the page only of the manager.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::web::Bytes;
use protocol::cluster::{HandoffEvent, PositionSample};
use serde::Serialize;
use tokio::sync::broadcast;

/// Frames buffered per subscriber; a slower page skips frames (the next `state` frame
/// carries everything again).
const CHANNEL: usize = 1024;

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

    /// Whether the picture changed since the last call.
    pub fn take_dirty(&self) -> bool {
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
pub fn frame(event: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}
