//! NATS subjects. Every subject the cluster uses is built by a method here, under one
//! prefix (default `zc`), so several clusters can share a NATS deployment.
//!
//! **Every subject ends with its sender's identity** (the NATS role's public key, see
//! [`Identity`]), and the NATS server lets each identity publish only subjects ending in
//! its own ([`Subjects::zone_permissions`], [`Subjects::manager_permissions`]). So a
//! receiver reads who sent a message from its subject, with the server's word for it,
//! and checks that against what the message claims (the zone it speaks for, the area it
//! says it owns). Messages *to* a zone also name the recipient's identity, so only that
//! process may subscribe to them: an `expect` (which carries a ticket) reaches no one else.
//!
//! | subject | direction | pattern |
//! | --- | --- | --- |
//! | `<p>.manager.register.<sender>` | zone → manager | request: `Register` → `RegisterAck` |
//! | `<p>.manager.heartbeat.<sender>` | zone → manager | publish: `Heartbeat` |
//! | `<p>.manager.area-request.<sender>` | zone → manager | request: `AreaRequest` → `AreaOwner` |
//! | `<p>.manager.area-owner.<sender>` | zone → manager | request: `AreaOwnerQuery` → `AreaOwner` |
//! | `<p>.manager.positions.<sender>` | zone → manager | publish: `PositionSample` |
//! | `<p>.manager.handoffs.<sender>` | zone → manager | publish: `HandoffEvent` |
//! | `<p>.owners.<sender>` | manager → every zone | publish: `OwnerMap` |
//! | `<p>.zone.<recipient>.<zone>.<verb>.<sender>` | manager/zone → zone | request or publish, verbs in [`ZoneVerb`] |
//! | `<p>.area.<x-z>.<verb>.<sender>` | zone → area owner | request, verbs in [`AreaVerb`] |
//!
//! Replies travel on each requester's own inbox, `_INBOX.<identity>.…`, which only that
//! identity may subscribe to; responders may publish only to the reply subject of a request
//! they received (NATS's `allow_responses`).

use std::fmt;

use crate::ids::{AreaId, ZoneId};

/// Why a prefix or an identity cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The prefix is not dot-separated tokens of `[A-Za-z0-9_-]`.
    #[error(
        "bad NATS subject prefix `{0}`: use dot-separated tokens of letters, digits, '-' and '_'"
    )]
    Prefix(String),
    /// The identity is not one token of `[A-Za-z0-9_-]`.
    #[error("bad NATS identity `{0}`: use one token of letters, digits, '-' and '_'")]
    Identity(String),
}

fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Who sends a message: one subject token naming a NATS identity. For the credentials
/// the cluster's `nats-security` command makes, it is the role's nkey public key (so the
/// server config, which lists public keys, names the same thing the subjects do).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(String);

impl Identity {
    /// An identity, which must be one subject token of `[A-Za-z0-9_-]` (at most 128 bytes).
    pub fn new(token: &str) -> Result<Self, SubjectError> {
        if is_token(token) {
            Ok(Self(token.to_owned()))
        } else {
            Err(SubjectError::Identity(token.to_owned()))
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What zones send the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagerVerb {
    /// `Register` (request).
    Register,
    /// `Heartbeat` (publish).
    Heartbeat,
    /// `AreaRequest`: give an area an owner (request).
    AreaRequest,
    /// `AreaOwnerQuery`: who owns an area now, without allocating it (request).
    AreaOwner,
    /// `PositionSample` (publish).
    Positions,
    /// `HandoffEvent` (publish).
    Handoffs,
}

/// Requests addressed to one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneVerb {
    /// `Allocate`: take an area under an epoch (manager only).
    Allocate,
    /// `Release`: give the area up (manager only).
    Release,
    /// `Expect`: preload a joining player (manager only).
    Expect,
    /// `Migrate`: hand the whole area to another zone (manager only).
    Migrate,
    /// `AreaStateTransfer`: receive a whole area from a draining zone (zones).
    AreaState,
    /// `LostArea`: the area went to someone else (manager only).
    LostArea,
    /// `GhostFrame`: a neighbouring area's entities near the border (zones, publish).
    Ghosts,
    /// `BorderAct`: a player across the border acts on one of this area's entities
    /// (zones, request).
    BorderAct,
    /// `BorderChat`: local chat from across the border (zones, publish).
    BorderChat,
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

const MANAGER_VERBS: &[(ManagerVerb, &str)] = &[
    (ManagerVerb::Register, "register"),
    (ManagerVerb::Heartbeat, "heartbeat"),
    (ManagerVerb::AreaRequest, "area-request"),
    (ManagerVerb::AreaOwner, "area-owner"),
    (ManagerVerb::Positions, "positions"),
    (ManagerVerb::Handoffs, "handoffs"),
];

const ZONE_VERBS: &[(ZoneVerb, &str)] = &[
    (ZoneVerb::Allocate, "allocate"),
    (ZoneVerb::Release, "release"),
    (ZoneVerb::Expect, "expect"),
    (ZoneVerb::Migrate, "migrate"),
    (ZoneVerb::AreaState, "area-state"),
    (ZoneVerb::LostArea, "lost-area"),
    (ZoneVerb::Ghosts, "ghosts"),
    (ZoneVerb::BorderAct, "border-act"),
    (ZoneVerb::BorderChat, "border-chat"),
];

/// The zone verbs zones send each other.
const ZONE_TO_ZONE: &[ZoneVerb] = &[
    ZoneVerb::AreaState,
    ZoneVerb::Ghosts,
    ZoneVerb::BorderAct,
    ZoneVerb::BorderChat,
];

/// The zone verbs only the manager may send.
const MANAGER_ONLY: &[ZoneVerb] = &[
    ZoneVerb::Allocate,
    ZoneVerb::Release,
    ZoneVerb::Expect,
    ZoneVerb::Migrate,
    ZoneVerb::LostArea,
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

impl fmt::Display for ManagerVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(word(MANAGER_VERBS, *self))
    }
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

/// What one NATS identity may publish and subscribe to (the server config's
/// `permissions` block for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish (besides replies to requests it received).
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

/// A message to a zone, as read from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSubject {
    /// The zone addressed.
    pub zone: ZoneId,
    /// The request.
    pub verb: ZoneVerb,
    /// Who sent it (the server checked it may publish this subject).
    pub sender: Identity,
}

/// A message to an area's owner, as read from its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaSubject {
    /// The area addressed.
    pub area: AreaId,
    /// The request.
    pub verb: AreaVerb,
    /// Who sent it.
    pub sender: Identity,
}

/// The subject builder for one cluster, speaking as one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
    me: Identity,
}

impl Default for Subjects {
    fn default() -> Self {
        Self {
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            me: Identity(Self::ANONYMOUS.to_owned()),
        }
    }
}

impl Subjects {
    /// The prefix used when none is configured.
    pub const DEFAULT_PREFIX: &'static str = "zc";
    /// The identity of a process connected without credentials naming one.
    pub const ANONYMOUS: &'static str = "anonymous";

    /// Subjects under `prefix`, which must be dot-separated tokens of `[A-Za-z0-9_-]`,
    /// sent as the anonymous identity (see [`Subjects::speaking_as`]).
    pub fn new(prefix: &str) -> Result<Self, SubjectError> {
        let ok = !prefix.is_empty() && prefix.split('.').all(is_token);
        if ok {
            Ok(Self {
                prefix: prefix.to_owned(),
                me: Identity(Self::ANONYMOUS.to_owned()),
            })
        } else {
            Err(SubjectError::Prefix(prefix.to_owned()))
        }
    }

    /// The same subjects, sent as `me`.
    pub fn speaking_as(mut self, me: Identity) -> Self {
        self.me = me;
        self
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Who this builder's subjects say sends them.
    pub fn me(&self) -> &Identity {
        &self.me
    }

    /// The inbox prefix of `identity`: replies to its requests arrive under it.
    pub fn inbox_prefix(identity: &Identity) -> String {
        format!("_INBOX.{identity}")
    }

    /// A message from this identity to the manager.
    pub fn manager(&self, verb: ManagerVerb) -> String {
        format!("{}.manager.{verb}.{}", self.prefix, self.me)
    }

    /// Everything any zone sends the manager as `verb` (the manager subscribes once).
    pub fn manager_all(&self, verb: ManagerVerb) -> String {
        format!("{}.manager.{verb}.*", self.prefix)
    }

    /// The sender of a subject built by [`Subjects::manager`].
    pub fn parse_manager(&self, subject: &str) -> Option<(ManagerVerb, Identity)> {
        let rest = subject
            .strip_prefix(&self.prefix)?
            .strip_prefix(".manager.")?;
        let (w, sender) = rest.split_once('.')?;
        Some((verb(MANAGER_VERBS, w)?, Identity::new(sender).ok()?))
    }

    /// The manager's map of area owners, published to every zone.
    pub fn owners(&self) -> String {
        format!("{}.owners.{}", self.prefix, self.me)
    }

    /// Where zones read the owner map (only the manager's role may publish there).
    pub fn owners_all(&self) -> String {
        format!("{}.owners.*", self.prefix)
    }

    /// A request to `zone`, served by the process of identity `recipient`.
    pub fn zone(&self, recipient: &Identity, zone: ZoneId, verb: ZoneVerb) -> String {
        format!("{}.zone.{recipient}.{zone}.{verb}.{}", self.prefix, self.me)
    }

    /// Everything addressed to one of this identity's zones (to subscribe once per zone).
    pub fn zone_all(&self, zone: ZoneId) -> String {
        format!("{}.zone.{}.{zone}.*.*", self.prefix, self.me)
    }

    /// The zone, verb and sender of a subject built by [`Subjects::zone`].
    pub fn parse_zone(&self, subject: &str) -> Option<ZoneSubject> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".zone.")?;
        let mut tokens = rest.split('.');
        let (_recipient, zone, w, sender) = (
            tokens.next()?,
            tokens.next()?,
            tokens.next()?,
            tokens.next()?,
        );
        if tokens.next().is_some() {
            return None;
        }
        Some(ZoneSubject {
            zone: zone.parse().ok()?,
            verb: verb(ZONE_VERBS, w)?,
            sender: Identity::new(sender).ok()?,
        })
    }

    /// A request to the owner of an area.
    pub fn area(&self, area: AreaId, verb: AreaVerb) -> String {
        format!("{}.area.{area}.{verb}.{}", self.prefix, self.me)
    }

    /// Everything addressed to an area's owner (to subscribe once when allocated).
    pub fn area_all(&self, area: AreaId) -> String {
        format!("{}.area.{area}.*.*", self.prefix)
    }

    /// The area, verb and sender of a subject built by [`Subjects::area`].
    pub fn parse_area(&self, subject: &str) -> Option<AreaSubject> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".area.")?;
        let mut tokens = rest.split('.');
        let (area, w, sender) = (tokens.next()?, tokens.next()?, tokens.next()?);
        if tokens.next().is_some() {
            return None;
        }
        Some(AreaSubject {
            area: area.parse().ok()?,
            verb: verb(AREA_VERBS, w)?,
            sender: Identity::new(sender).ok()?,
        })
    }

    /// What the manager of identity `me` may do: send the manager-only zone verbs, read
    /// what zones send the manager and its own inbox, answer requests it received.
    pub fn manager_permissions(&self, me: &Identity) -> Permissions {
        let p = &self.prefix;
        Permissions {
            publish: MANAGER_ONLY
                .iter()
                .map(|v| format!("{p}.zone.*.*.{v}.{me}"))
                .chain(std::iter::once(format!("{p}.owners.{me}")))
                .collect(),
            subscribe: vec![
                format!("{p}.manager.>"),
                format!("{}.>", Self::inbox_prefix(me)),
            ],
        }
    }

    /// What a zone-server of identity `me` may do: send zones' messages (to the manager,
    /// to areas' owners, a whole area to the zone taking it over, ghosts and border actions
    /// to a neighbouring area's owner), all signed with its own
    /// identity; read its own zones' subjects, areas' subjects (which area it owns is the
    /// manager's word, checked by the zone, so the server cannot narrow this) and its
    /// own inbox; answer requests it received.
    pub fn zone_permissions(&self, me: &Identity) -> Permissions {
        let p = &self.prefix;
        Permissions {
            publish: [format!("{p}.manager.*.{me}"), format!("{p}.area.*.*.{me}")]
                .into_iter()
                .chain(
                    ZONE_TO_ZONE
                        .iter()
                        .map(|v| format!("{p}.zone.*.*.{v}.{me}")),
                )
                .collect(),
            subscribe: vec![
                format!("{p}.zone.{me}.>"),
                format!("{p}.area.>"),
                format!("{p}.owners.*"),
                format!("{}.>", Self::inbox_prefix(me)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identity {
        Identity::new(s).unwrap()
    }

    #[test]
    fn subjects_round_trip_and_name_their_sender() {
        let s = Subjects::new("prod.eu-1").unwrap().speaking_as(id("UZONE"));
        let zone = ZoneId::new_random();
        for (v, _) in ZONE_VERBS {
            let parsed = s.parse_zone(&s.zone(&id("UOTHER"), zone, *v)).unwrap();
            assert_eq!((parsed.zone, parsed.verb), (zone, *v));
            assert_eq!(parsed.sender, id("UZONE"));
        }
        let area = AreaId::new(2, 7);
        for (v, _) in AREA_VERBS {
            let parsed = s.parse_area(&s.area(area, *v)).unwrap();
            assert_eq!(
                (parsed.area, parsed.verb, parsed.sender),
                (area, *v, id("UZONE"))
            );
        }
        for (v, _) in MANAGER_VERBS {
            assert_eq!(s.parse_manager(&s.manager(*v)), Some((*v, id("UZONE"))));
        }
        assert_eq!(
            s.area(area, AreaVerb::Prepare),
            "prod.eu-1.area.2-7.handoff-prepare.UZONE"
        );
        assert_eq!(s.parse_zone("other.zone.a.x.allocate.b"), None);
        assert_eq!(
            Subjects::default().manager(ManagerVerb::Heartbeat),
            "zc.manager.heartbeat.anonymous"
        );
    }

    #[test]
    fn prefixes_and_identities_are_validated() {
        for bad in ["", "a..b", "a.*", "a b", "a.>", ".a"] {
            assert!(Subjects::new(bad).is_err(), "{bad}");
        }
        for bad in ["", "a.b", "*", ">", "a b"] {
            assert!(Identity::new(bad).is_err(), "{bad}");
        }
    }

    /// A NATS subject pattern matches a subject (`*` one token, `>` the rest).
    fn matches(pattern: &str, subject: &str) -> bool {
        let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    fn may(patterns: &[String], subject: &str) -> bool {
        patterns.iter().any(|p| matches(p, subject))
    }

    #[test]
    fn each_identity_may_send_only_under_its_own_name() {
        let (m, z, other) = (id("UMANAGER"), id("UZONE"), id("UOTHER"));
        let s = Subjects::default();
        let as_manager = s.clone().speaking_as(m.clone());
        let as_zone = s.clone().speaking_as(z.clone());
        let mp = s.manager_permissions(&m);
        let zp = s.zone_permissions(&z);
        let zone = ZoneId::new_random();
        for v in MANAGER_ONLY {
            assert!(may(&mp.publish, &as_manager.zone(&z, zone, *v)));
            assert!(!may(&zp.publish, &as_zone.zone(&other, zone, *v)), "{v}");
        }
        for v in ZONE_TO_ZONE {
            assert!(may(&zp.publish, &as_zone.zone(&other, zone, *v)), "{v}");
            let forged = s.clone().speaking_as(other.clone());
            assert!(!may(&zp.publish, &forged.zone(&z, zone, *v)), "{v}");
        }
        assert!(may(&zp.publish, &as_zone.manager(ManagerVerb::Heartbeat)));
        assert!(may(
            &zp.publish,
            &as_zone.area(AreaId::new(0, 0), AreaVerb::Prepare)
        ));
        // Not as someone else.
        let forged = s.clone().speaking_as(other.clone());
        assert!(!may(&zp.publish, &forged.manager(ManagerVerb::Heartbeat)));
        assert!(!may(
            &zp.publish,
            &forged.area(AreaId::new(0, 0), AreaVerb::Prepare)
        ));
        // A zone reads its own zones' subjects, never another's (tickets travel there).
        assert!(may(
            &zp.subscribe,
            &as_manager.zone(&z, zone, ZoneVerb::Expect)
        ));
        assert!(!may(
            &zp.subscribe,
            &as_manager.zone(&other, zone, ZoneVerb::Expect)
        ));
        assert!(!may(&zp.subscribe, &as_zone.manager(ManagerVerb::Register)));
        assert!(!may(&zp.subscribe, "_INBOX.UMANAGER.x.y"));
        assert!(may(&mp.subscribe, &as_zone.manager(ManagerVerb::Register)));
        // Only the manager publishes the owner map; every zone reads it.
        assert!(may(&mp.publish, &as_manager.owners()));
        assert!(!may(&zp.publish, &as_zone.owners()));
        assert!(may(&zp.subscribe, &as_manager.owners()));
        assert!(!may(
            &mp.subscribe,
            &as_manager.zone(&z, zone, ZoneVerb::Expect)
        ));
    }
}
