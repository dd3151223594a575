//! Identifiers as newtypes, so an account id can never be passed where a character id is
//! expected. Each has `Display`/`FromStr` in the form it takes in URLs and logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an id could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind}: {reason}")]
pub struct IdParseError {
    /// Which kind of id was being parsed.
    pub kind: &'static str,
    /// What was wrong with the text.
    pub reason: String,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|e| IdParseError {
                    kind: $kind,
                    reason: e.to_string(),
                })
            }
        }
    };
}

uuid_id!(
    /// A player's account; the `sub` of their token. Owns characters.
    AccountId,
    "account id"
);
uuid_id!(
    /// A character: the durable player avatar stored by character-api.
    CharacterId,
    "character id"
);
uuid_id!(
    /// One zone actor (a slot of a zone-server process), stable for the process's life.
    ZoneId,
    "zone id"
);
uuid_id!(
    /// Correlates the messages of one handoff (prepare, accepted, commit, abort).
    HandoffId,
    "handoff id"
);
uuid_id!(
    /// Idempotency key of a quest progress event: a retried event is counted once.
    EventId,
    "event id"
);

/// A one-time admission ticket: 128 random bits, spent by `Hello`, valid until it expires.
///
/// On the client wire it is 16 raw bytes (MessagePack `bin 8`), in text 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub [u8; 16]);

impl Ticket {
    /// A new unguessable ticket.
    pub fn new_random() -> Self {
        Self(*Uuid::new_v4().as_bytes())
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tickets are credentials: logs show only a prefix.
        write!(f, "Ticket({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for Ticket {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| IdParseError {
            kind: "ticket",
            reason: reason.to_owned(),
        };
        if s.len() != 32 || !s.is_ascii() {
            return Err(err("expected 32 hex digits"));
        }
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| err("expected 32 hex digits"))?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Ticket {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TicketVisitor;
        impl serde::de::Visitor<'_> for TicketVisitor {
            type Value = Ticket;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 bytes or 32 hex digits")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Ticket, E> {
                <[u8; 16]>::try_from(v)
                    .map(Ticket)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Ticket, E> {
                v.parse().map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(TicketVisitor)
        } else {
            deserializer.deserialize_bytes(TicketVisitor)
        }
    }
}

/// An area's ownership generation. Only ever grows (the manager persists its counter), so
/// a message naming an older epoch is recognisably stale.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Epoch {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse()
            .map(Self)
            .map_err(|e: std::num::ParseIntError| IdParseError {
                kind: "epoch",
                reason: e.to_string(),
            })
    }
}

/// A cell of the world grid: column `x` (west to east) and row `z` (north to south).
///
/// Text form `x-z` (e.g. `3-1`), used in URLs and NATS subjects; on the wire `[x, z]`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AreaId {
    /// Column, counted from the grid's west edge.
    #[cfg_attr(feature = "openapi", schema(maximum = 65535))]
    pub x: u16,
    /// Row, counted from the grid's north edge.
    #[cfg_attr(feature = "openapi", schema(maximum = 65535))]
    pub z: u16,
}

impl AreaId {
    /// The area at column `x`, row `z`.
    pub const fn new(x: u16, z: u16) -> Self {
        Self { x, z }
    }
}

impl fmt::Display for AreaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.x, self.z)
    }
}

impl FromStr for AreaId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IdParseError {
            kind: "area id",
            reason: format!("expected `<column>-<row>` such as `3-1`, got `{s}`"),
        };
        let (x, z) = s.split_once('-').ok_or_else(err)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(x) || !digits(z) {
            return Err(err());
        }
        Ok(Self::new(
            x.parse().map_err(|_| err())?,
            z.parse().map_err(|_| err())?,
        ))
    }
}

/// An entity inside one zone's simulation (player, NPC or ground item). Zone-local: the
/// same character gets a new entity id in each zone it enters.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct EntityId(pub u32);

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A quest of the catalog, by its stable text id (e.g. `wolf-cull`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuestId(pub String);

impl QuestId {
    /// Longest quest id accepted anywhere.
    pub const MAX_LEN: usize = 64;

    /// Whether this is a well-formed quest id: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= Self::MAX_LEN
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
}

impl fmt::Display for QuestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for QuestId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = Self(s.to_owned());
        if id.is_valid() {
            Ok(id)
        } else {
            Err(IdParseError {
                kind: "quest id",
                reason: "expected 1 to 64 of a-z, 0-9, '-', '_'".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_id_text_round_trips_and_rejects_junk() {
        let a = AreaId::new(3, 12);
        assert_eq!(a.to_string(), "3-12");
        assert_eq!("3-12".parse::<AreaId>(), Ok(a));
        for bad in ["", "3", "3-", "-1", "a-b", "3-1-2", "+3-1", "99999-1"] {
            assert!(bad.parse::<AreaId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ticket_text_round_trips_and_debug_hides_it() {
        let t = Ticket::new_random();
        assert_eq!(t.to_string().parse::<Ticket>(), Ok(t));
        assert!(format!("{t:?}").len() < 16);
        assert!("zz".repeat(16).parse::<Ticket>().is_err());
        assert!("é".repeat(16).parse::<Ticket>().is_err());
    }

    #[test]
    fn uuid_ids_parse_from_display() {
        let c = CharacterId::new_random();
        assert_eq!(c.to_string().parse::<CharacterId>(), Ok(c));
        assert_eq!(
            "nope".parse::<CharacterId>().unwrap_err().kind,
            "character id"
        );
    }

    #[test]
    fn quest_ids_are_validated() {
        assert!("wolf-cull".parse::<QuestId>().is_ok());
        assert!("Wolf Cull".parse::<QuestId>().is_err());
        assert!("".parse::<QuestId>().is_err());
    }
}
