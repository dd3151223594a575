//! NATS subjects. Every subject the cluster uses is built by a method here, under one
//! prefix (default `zc`), so several clusters can share a NATS deployment.
//!
//! | subject | direction | pattern |
//! | --- | --- | --- |
//! | `<p>.manager.register` | zone → manager | request: `Register` → `RegisterAck` |
//! | `<p>.manager.heartbeat` | zone → manager | publish: `Heartbeat` |
//! | `<p>.manager.area-request` | zone → manager | request: `AreaRequest` → `AreaOwner` |
//! | `<p>.manager.positions` | zone → manager | publish: `PositionSample` |
//! | `<p>.manager.handoffs` | zone → manager | publish: `HandoffEvent` |
//! | `<p>.zone.<zone>.<verb>` | manager/zone → zone | request, verbs in [`ZoneVerb`] |
//! | `<p>.area.<x-z>.<verb>` | zone → area owner | request, verbs in [`AreaVerb`] |

use std::fmt;

use crate::ids::{AreaId, ZoneId};

/// Why a prefix cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad NATS subject prefix `{0}`: use dot-separated tokens of letters, digits, '-' and '_'")]
pub struct SubjectError(pub String);

/// Requests addressed to one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneVerb {
    /// `Allocate`: take an area under an epoch.
    Allocate,
    /// `Release`: give the area up.
    Release,
    /// `Expect`: preload a joining player.
    Expect,
    /// `Migrate`: hand the whole area to another zone (drain).
    Migrate,
    /// `AreaStateTransfer`: receive a whole area from a draining zone.
    AreaState,
    /// `LostArea`: the area went to someone else.
    LostArea,
}

/// Requests addressed to whichever zone owns an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AreaVerb {
    /// `HandoffPrepare`.
    Prepare,
    /// `HandoffCommit`.
    Commit,
    /// `HandoffAbort`.
    Abort,
}

const ZONE_VERBS: &[(ZoneVerb, &str)] = &[
    (ZoneVerb::Allocate, "allocate"),
    (ZoneVerb::Release, "release"),
    (ZoneVerb::Expect, "expect"),
    (ZoneVerb::Migrate, "migrate"),
    (ZoneVerb::AreaState, "area-state"),
    (ZoneVerb::LostArea, "lost-area"),
];

const AREA_VERBS: &[(AreaVerb, &str)] = &[
    (AreaVerb::Prepare, "handoff-prepare"),
    (AreaVerb::Commit, "handoff-commit"),
    (AreaVerb::Abort, "handoff-abort"),
];

fn word<V: PartialEq + Copy>(table: &[(V, &'static str)], verb: V) -> &'static str {
    table
        .iter()
        .find(|(v, _)| *v == verb)
        .map_or("unknown", |(_, w)| w)
}

fn verb<V: Copy>(table: &[(V, &'static str)], w: &str) -> Option<V> {
    table.iter().find(|(_, word)| *word == w).map(|(v, _)| *v)
}

impl fmt::Display for ZoneVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(word(ZONE_VERBS, *self))
    }
}

impl fmt::Display for AreaVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(word(AREA_VERBS, *self))
    }
}

/// The subject builder for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Default for Subjects {
    fn default() -> Self {
        Self {
            prefix: Self::DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Subjects {
    /// The prefix used when none is configured.
    pub const DEFAULT_PREFIX: &'static str = "zc";

    /// Subjects under `prefix`, which must be dot-separated tokens of `[A-Za-z0-9_-]`.
    pub fn new(prefix: &str) -> Result<Self, SubjectError> {
        let ok = !prefix.is_empty()
            && prefix.split('.').all(|t| {
                !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if ok {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(SubjectError(prefix.to_owned()))
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Zones register here.
    pub fn register(&self) -> String {
        format!("{}.manager.register", self.prefix)
    }

    /// Zones publish heartbeats here.
    pub fn heartbeat(&self) -> String {
        format!("{}.manager.heartbeat", self.prefix)
    }

    /// Zones ask the manager to allocate an area here.
    pub fn area_request(&self) -> String {
        format!("{}.manager.area-request", self.prefix)
    }

    /// Zones publish sampled player positions here (for the dashboard).
    pub fn positions(&self) -> String {
        format!("{}.manager.positions", self.prefix)
    }

    /// Zones publish completed handoffs here (for the dashboard).
    pub fn handoff_events(&self) -> String {
        format!("{}.manager.handoffs", self.prefix)
    }

    /// A request to one zone.
    pub fn zone(&self, zone: ZoneId, verb: ZoneVerb) -> String {
        format!("{}.zone.{zone}.{verb}", self.prefix)
    }

    /// Everything addressed to one zone (to subscribe once).
    pub fn zone_all(&self, zone: ZoneId) -> String {
        format!("{}.zone.{zone}.*", self.prefix)
    }

    /// The zone and verb of a subject built by [`Subjects::zone`].
    pub fn parse_zone(&self, subject: &str) -> Option<(ZoneId, ZoneVerb)> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".zone.")?;
        let (zone, w) = rest.split_once('.')?;
        Some((zone.parse().ok()?, verb(ZONE_VERBS, w)?))
    }

    /// A request to the owner of an area.
    pub fn area(&self, area: AreaId, verb: AreaVerb) -> String {
        format!("{}.area.{area}.{verb}", self.prefix)
    }

    /// Everything addressed to an area's owner (to subscribe once when allocated).
    pub fn area_all(&self, area: AreaId) -> String {
        format!("{}.area.{area}.*", self.prefix)
    }

    /// The area and verb of a subject built by [`Subjects::area`].
    pub fn parse_area(&self, subject: &str) -> Option<(AreaId, AreaVerb)> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".area.")?;
        let (area, w) = rest.split_once('.')?;
        Some((area.parse().ok()?, verb(AREA_VERBS, w)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        let s = Subjects::new("prod.eu-1").unwrap();
        let zone = ZoneId::new_random();
        for (v, _) in ZONE_VERBS {
            assert_eq!(s.parse_zone(&s.zone(zone, *v)), Some((zone, *v)));
        }
        let area = AreaId::new(2, 7);
        for (v, _) in AREA_VERBS {
            assert_eq!(s.parse_area(&s.area(area, *v)), Some((area, *v)));
        }
        assert_eq!(
            s.area(area, AreaVerb::Prepare),
            "prod.eu-1.area.2-7.handoff-prepare"
        );
        assert_eq!(s.parse_zone("other.zone.x.allocate"), None);
        assert_eq!(Subjects::default().heartbeat(), "zc.manager.heartbeat");
    }

    #[test]
    fn prefixes_are_validated() {
        for bad in ["", "a..b", "a.*", "a b", "a.>", ".a"] {
            assert!(Subjects::new(bad).is_err(), "{bad}");
        }
    }
}
