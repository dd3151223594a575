//! Client ⇄ zone: packets, quantized entity state with delta updates, and the frame codec.
//! `docs/PROTOCOL.md` is the byte-level description of everything here.

pub mod codec;
pub mod entity;
pub mod packets;

pub use codec::{ClientPacket, DecodeError, EncodeError, PROTOCOL_VERSION, ServerPacket};
pub use entity::{AnimState, EntityDelta, EntityKind, EntityMotion, EntityState};
pub use packets::*;
