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

/// An entity (player, NPC or ground item), by one number for the whole world: the same
/// entity has the same id in every zone that simulates it or shows it as a ghost, and a
/// player keeps theirs across handoffs (DESIGN.md, invariant 6).
///
/// Ids fit in 53 bits, so a JavaScript client holds them as exact `Number`s:
///
/// - **NPCs** (bit 52 set): `1 << 52 | x << 36 | z << 20 | spawn`, from their area and spawn
///   point, so an NPC keeps its id when its area changes owner, and a receiver can check
///   that an NPC said to be in area `x-z` is one of that area's.
/// - **Minted** (bit 52 clear): `(epoch mod 2^26) << 26 | (n mod 2^26)`, the `n`th id a zone
///   minted while owning its area under `epoch`. Epochs are issued once in the whole world,
///   so two zones never mint the same id (until one allocation has minted 2^26 ids, or
///   the manager 2^26 epochs). Players get one when they join and keep it; ground items
///   when they are dropped or grow.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct EntityId(pub u64);

impl EntityId {
    /// The bit that marks an NPC's id.
    pub const NPC_BIT: u64 = 1 << 52;
    /// The largest id there is (53 bits).
    pub const MAX: u64 = (1 << 53) - 1;
    const MINTED_BITS: u32 = 26;
    const MINTED_MASK: u64 = (1 << Self::MINTED_BITS) - 1;
    const SPAWN_BITS: u32 = 20;

    /// The id of the NPC of `area` born at spawn point `spawn` (spawn points beyond 2^20
    /// share ids: no area has that many).
    pub const fn npc(area: AreaId, spawn: u32) -> Self {
        Self(
            Self::NPC_BIT
                | (area.x as u64) << 36
                | (area.z as u64) << Self::SPAWN_BITS
                | (spawn as u64 & ((1 << Self::SPAWN_BITS) - 1)),
        )
    }

    /// The `n`th id minted under `epoch`.
    pub const fn minted(epoch: Epoch, n: u64) -> Self {
        Self((epoch.0 & Self::MINTED_MASK) << Self::MINTED_BITS | (n & Self::MINTED_MASK))
    }

    /// For an NPC's id, the area it belongs to.
    pub const fn npc_area(self) -> Option<AreaId> {
        if self.0 & Self::NPC_BIT == 0 || self.0 > Self::MAX {
            return None;
        }
        Some(AreaId::new(
            (self.0 >> 36 & 0xffff) as u16,
            (self.0 >> Self::SPAWN_BITS & 0xffff) as u16,
        ))
    }

    /// Whether this is an id some zone could have made (53 bits, not 0).
    pub const fn is_valid(self) -> bool {
        self.0 != 0 && self.0 <= Self::MAX
    }
}

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
    fn entity_ids_say_where_they_were_made_and_fit_53_bits() {
        let area = AreaId::new(65535, 65535);
        let npc = EntityId::npc(area, (1 << 20) - 1);
        assert!(npc.0 <= EntityId::MAX && npc.is_valid());
        assert_eq!(npc.npc_area(), Some(area));
        assert_eq!(
            EntityId::npc(AreaId::new(1, 0), 3).npc_area(),
            Some(AreaId::new(1, 0))
        );
        let minted = EntityId::minted(Epoch(u64::MAX), u64::MAX);
        assert!(minted.0 <= EntityId::MAX && minted.npc_area().is_none());
        assert_ne!(EntityId::minted(Epoch(1), 1), EntityId::minted(Epoch(2), 1));
        assert!(!EntityId(0).is_valid() && !EntityId(1 << 53).is_valid());
    }

    #[test]
    fn quest_ids_are_validated() {
        assert!("wolf-cull".parse::<QuestId>().is_ok());
        assert!("Wolf Cull".parse::<QuestId>().is_err());
        assert!("".parse::<QuestId>().is_err());
    }
}
