//! # protocol
//!
//! The single source of truth for every format that crosses a process boundary in the
//! zone cluster. No I/O lives here: only types, their encodings, and the pure rules that
//! both ends of a wire must agree on.
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`ids`] | identifier newtypes (account, character, zone, area, ticket, epoch, ...) |
//! | [`geometry`] | the world grid: area of a point, bounds, neighbours, handoff hysteresis |
//! | [`content`] | item and NPC kinds, numbered once and for all |
//! | [`client`] | client ⇄ zone packets, quantization, delta updates, the frame codec |
//! | [`cluster`] | NATS subjects and the named-field MessagePack messages between services |
//! | [`http`] | request/response bodies of the HTTP APIs, problem details |
//!
//! `docs/PROTOCOL.md` describes the client ⇄ zone wire byte by byte.

pub mod client;
pub mod cluster;
pub mod content;
pub mod geometry;
pub mod http;
pub mod ids;
#[cfg(feature = "openapi")]
mod openapi;
mod wire_enum;

pub use geometry::{AreaBounds, Position, WorldGrid};
pub use ids::{
    AccountId, AreaId, CharacterId, EntityId, Epoch, EventId, HandoffId, QuestId, Ticket, ZoneId,
};

/// Milliseconds since the Unix epoch: the one timestamp format on every wire.
pub type UnixMillis = u64;
