//! The client side of a zone-server process: the WebSocket endpoint (`/ws`) and the
//! per-connection limits.

pub mod ratelimit;
pub mod ws;
