//! Client ⇄ zone: packets, quantized entity state with delta updates, and the frame codec.
//! `docs/PROTOCOL.md` is the byte-level description of everything here.

pub mod codec;
pub mod entity;
mod msgpack;
pub mod packets;
pub mod update_writer;

pub use codec::{ClientPacket, DecodeError, EncodeError, PROTOCOL_VERSION, ServerPacket};
pub use entity::{AnimState, EntityDelta, EntityKind, EntityMotion, EntityState};
pub use packets::*;
pub use update_writer::UpdateWriter;

/// A client sees the entities within this many metres of its player (PROTOCOL.md §6)...
pub const INTEREST_RADIUS: f32 = 48.0;
/// ...up to this many, nearest first.
pub const INTEREST_CAP: usize = 64;
