//! Between services over NATS: subject names (built only here, under a configurable
//! prefix) and the messages, encoded as MessagePack with named fields so a service that
//! is one version behind during a rolling upgrade ignores fields it does not know.

pub mod borders;
pub mod messages;
pub mod subjects;

pub use borders::*;
pub use messages::*;
pub use subjects::{
    AreaSubject, AreaVerb, Identity, ManagerVerb, Permissions, SubjectError, Subjects, ZoneSubject,
    ZoneVerb,
};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a NATS payload is not the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message}: {reason}")]
pub struct MessageDecodeError {
    /// The message type expected.
    pub message: &'static str,
    /// What the decoder found.
    pub reason: String,
}

/// The named-field MessagePack bytes of a cluster message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Cluster messages are plain data (no maps with non-string keys, no unsized
    // sequences), which rmp-serde always encodes; an empty payload cannot decode as any
    // message, so a bug here surfaces as a decode error at the receiver, not a panic.
    rmp_serde::to_vec_named(message).unwrap_or_default()
}

/// The message in a NATS payload.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, MessageDecodeError> {
    rmp_serde::from_slice(payload).map_err(|e| MessageDecodeError {
        message: short_type_name::<T>(),
        reason: e.to_string(),
    })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
