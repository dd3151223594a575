//! The pool of zones and the area map, as one synchronous state machine.
//!
//! Everything here is pure bookkeeping under one lock: no I/O, no awaiting. Operations
//! that need the network (allocate, release, tell a zone it lost its area) are split in
//! two: a `begin_*` call records the operation in flight (so concurrent callers coalesce
//! onto it and nobody else can pick the same idle zone), the caller does the I/O without
//! the lock, and a `finish_*` call records the outcome. Background decisions (a zone went
//! silent, an area has been empty long enough, a stale owner must be told) come back as
//! [`Action`]s for the caller to carry out.
//!
//! The invariant kept here: an area has at most one owner in the map, a zone owns at most
//! one area, and when two zones claim one area the higher epoch wins (the other is sent
//! `LostArea`). Epochs only grow, so "higher" always means "given out later".

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use protocol::cluster::{Crowding, Identity, LostArea, ZoneState};
use protocol::http::manager::{AreaInfo, PoolStatus, ZoneInfo};
use protocol::{AreaId, Epoch, WorldGrid, ZoneId};
use tokio::sync::oneshot;

/// Longest `ws_url` accepted from a zone; longer ones are cut (they end up in every join
/// answer and dashboard frame).
const MAX_URL_LEN: usize = 512;
/// How long a zone whose `Allocate` failed is skipped when picking idle zones.
const FAILED_ZONE_COOLDOWN: Duration = Duration::from_secs(5);
/// Most zones one NATS identity (one zone-server process's credentials) may register: a
/// process runs a handful of slots; a flood of invented zones stops here.
pub const MAX_ZONES_PER_IDENTITY: usize = 64;
/// Grants remembered per area (enough to judge the reports of a few recent owners).
const GRANTS_KEPT: usize = 16;

/// Why a zone's report is refused before it touches the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    /// The zone id was registered by another NATS identity.
    #[error("zone id belongs to another NATS identity")]
    NotYourZone,
    /// The identity already has [`MAX_ZONES_PER_IDENTITY`] zones.
    #[error("too many zones for one NATS identity")]
    TooManyZones,
    /// It claims an epoch the manager never issued.
    #[error("claims an epoch the manager never issued")]
    UnissuedEpoch,
    /// It claims an area under an epoch the manager gave another zone or area.
    #[error("claims an area the manager did not allocate to it")]
    NotAllocated,
}

impl ReportRefused {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotYourZone => "not_your_zone",
            Self::TooManyZones => "too_many_zones",
            Self::UnissuedEpoch => "unissued_epoch",
            Self::NotAllocated => "not_allocated",
        }
    }
}

/// Where an area lives: enough to route a player there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning zone.
    pub zone: ZoneId,
    /// Its epoch for the area.
    pub epoch: Epoch,
    /// Its WebSocket URL.
    pub ws_url: String,
}

/// Why an area could not be given an owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Every zone is busy or unhealthy.
    #[error("no idle zone is left")]
    NoIdleZone,
    /// The area is not a cell of the grid.
    #[error("area {0} is outside the world grid")]
    OutsideGrid(AreaId),
    /// The area is being released; try again in a moment.
    #[error("area {0} is being released")]
    Busy(AreaId),
    /// Zones were asked and none took the area.
    #[error("no zone took the area: {0}")]
    ZoneFailed(String),
    /// The epoch could not be persisted.
    #[error("{0}")]
    Store(String),
}

/// The outcome of [`Registry::begin_allocate`].
#[derive(Debug)]
pub enum Begin {
    /// The area already has an owner.
    Owned(Owner),
    /// An allocation is already in flight: wait for its outcome.
    Wait(oneshot::Receiver<Result<Owner, AllocError>>),
    /// The caller must allocate `zone` to the area, then call
    /// [`Registry::finish_allocate`]; the receiver gets the outcome like every waiter's.
    Start {
        /// The idle zone reserved for the area.
        zone: ZoneId,
        /// Resolves when the allocation ends.
        rx: oneshot::Receiver<Result<Owner, AllocError>>,
    },
    /// Cannot start now.
    Fail(AllocError),
}

/// Something the registry decided and the caller must carry out over the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tell a zone it no longer owns an area.
    LostArea(LostArea),
    /// Give the area an owner (its zone failed, or it is a spawn area without one).
    Allocate(AreaId),
    /// Ask the zone to give the area up (already marked as releasing).
    Release {
        /// The area.
        area: AreaId,
        /// Its owner.
        zone: ZoneId,
        /// The owner's epoch.
        epoch: Epoch,
    },
}

/// A zone's report, from a heartbeat or a registration.
#[derive(Debug, Clone)]
pub struct Report {
    /// The zone.
    pub zone: ZoneId,
    /// The NATS identity that sent it (its subject's last token, vouched for by the server).
    pub identity: Identity,
    /// Its WebSocket URL.
    pub ws_url: String,
    /// The state it reports.
    pub state: ZoneState,
    /// The area it says it holds.
    pub area: Option<AreaId>,
    /// The epoch it holds it under.
    pub epoch: Option<Epoch>,
    /// Players connected.
    pub players: u32,
    /// Tick p99, µs.
    pub tick_p99_us: u32,
    /// Ghosts it shows its players.
    pub ghosts: u32,
    /// How full its area is, how fast its clock runs.
    pub crowding: Crowding,
    /// True for a `Register` (an explicit statement of state, no grace for races).
    pub register: bool,
}

/// What the registry knows about one zone.
#[derive(Debug, Clone)]
pub struct ZoneEntry {
    identity: Identity,
    ws_url: String,
    reported: ZoneState,
    reported_area: Option<AreaId>,
    reported_epoch: Option<Epoch>,
    players: u32,
    tick_p99_us: u32,
    ghosts: u32,
    crowding: Crowding,
    last_seen: Instant,
    unhealthy: bool,
    /// The area the map gives it.
    owns: Option<AreaId>,
    /// An `Allocate` to it is in flight for this area.
    reserved_for: Option<AreaId>,
    /// It was told to migrate this area away (or reported Draining).
    draining: Option<AreaId>,
    /// Not picked for allocation before this.
    cooldown_until: Option<Instant>,
    /// When it was last sent `LostArea` (not repeated every heartbeat).
    lost_sent_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct OwnerRec {
    zone: ZoneId,
    epoch: Epoch,
    since: Instant,
}

type Waiter = oneshot::Sender<Result<Owner, AllocError>>;

#[derive(Debug)]
enum Op {
    Allocating { zone: ZoneId, waiters: Vec<Waiter> },
    Releasing,
}

#[derive(Debug)]
struct AreaEntry {
    owner: Option<OwnerRec>,
    players: u32,
    last_busy: Instant,
    op: Option<Op>,
}

impl AreaEntry {
    fn new(now: Instant) -> Self {
        Self {
            owner: None,
            players: 0,
            last_busy: now,
            op: None,
        }
    }
}

/// Timings the registry's judgements depend on.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Silence after which a zone is Unhealthy.
    pub heartbeat_timeout: Duration,
    /// Empty time after which an area is released.
    pub release_grace: Duration,
    /// Silence after which an Unhealthy zone is forgotten.
    pub forget_after: Duration,
    /// How long a fresh ownership is kept although the owner's reports do not show it yet
    /// (a heartbeat sent before the zone handled `Allocate` can arrive after its reply).
    pub report_grace: Duration,
}

/// A drain about to happen: `from` hands `area` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainPlan {
    /// The area.
    pub area: AreaId,
    /// The draining zone.
    pub from: ZoneId,
    /// Its epoch.
    pub from_epoch: Epoch,
    /// The idle zone reserved to take over.
    pub to: ZoneId,
}

/// Why a drain cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// No such zone.
    #[error("zone {0} is not known")]
    UnknownZone(ZoneId),
    /// The zone holds no area, is unhealthy, or is already draining.
    #[error("zone {0} {1}")]
    NotDrainable(ZoneId, &'static str),
    /// The area is busy with another operation.
    #[error("area {0} is busy with another allocation or release")]
    Busy(AreaId),
    /// No idle zone to take over.
    #[error("no idle zone is left to take the area over")]
    NoIdleZone,
}

/// The pool and the area map.
#[derive(Debug)]
pub struct Registry {
    grid: WorldGrid,
    spawn: BTreeSet<AreaId>,
    timings: Timings,
    zones: BTreeMap<ZoneId, ZoneEntry>,
    areas: BTreeMap<AreaId, AreaEntry>,
    /// Per area, the highest epoch known to be given up (released, or denied by its zone):
    /// a report claiming the area under it or under an older epoch is a late heartbeat.
    retired: BTreeMap<AreaId, Epoch>,
    /// Per area, the epochs this process handed out and to which zone: a report claiming
    /// an epoch issued by this process must match one.
    grants: BTreeMap<AreaId, BTreeMap<Epoch, ZoneId>>,
    /// No zone has been heard for longer than the failure timeout: the manager is the one
    /// cut off (its host partitioned, its NATS gone), so it judges nobody.
    blackout: bool,
}

impl Registry {
    /// An empty registry for `grid`, keeping `spawn` areas allocated.
    pub fn new(grid: WorldGrid, spawn: &[AreaId], timings: Timings) -> Self {
        Self {
            grid,
            spawn: spawn.iter().copied().collect(),
            timings,
            zones: BTreeMap::new(),
            areas: BTreeMap::new(),
            retired: BTreeMap::new(),
            grants: BTreeMap::new(),
            blackout: false,
        }
    }

    /// Records that `epoch` for `area` is being offered to `zone` (before the `Allocate`
    /// is sent, so the zone's first heartbeat finds it).
    pub fn grant(&mut self, area: AreaId, epoch: Epoch, zone: ZoneId) {
        let grants = self.grants.entry(area).or_default();
        grants.insert(epoch, zone);
        while grants.len() > GRANTS_KEPT {
            grants.pop_first();
        }
    }

    /// Whether this process gave `area` to `zone` under `epoch`.
    pub fn granted(&self, area: AreaId, epoch: Epoch, zone: ZoneId) -> bool {
        self.grants
            .get(&area)
            .and_then(|g| g.get(&epoch))
            .is_some_and(|z| *z == zone)
    }

    /// Whether `identity` may speak for `zone`: the zone is its own (or new, and the
    /// identity has room for another).
    pub fn admit(&self, zone: ZoneId, identity: &Identity) -> Result<(), ReportRefused> {
        match self.zones.get(&zone) {
            Some(z) if z.identity == *identity => Ok(()),
            Some(_) => Err(ReportRefused::NotYourZone),
            None => {
                let owned = self
                    .zones
                    .values()
                    .filter(|z| z.identity == *identity)
                    .count();
                if owned >= MAX_ZONES_PER_IDENTITY {
                    Err(ReportRefused::TooManyZones)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The NATS identity of `zone` as a message field (empty when unknown).
    fn identity_word(&self, zone: ZoneId) -> String {
        self.zones
            .get(&zone)
            .map(|z| z.identity.to_string())
            .unwrap_or_default()
    }

    /// The NATS identity that speaks for `zone`.
    pub fn identity_of(&self, zone: ZoneId) -> Option<Identity> {
        self.zones.get(&zone).map(|z| z.identity.clone())
    }

    /// Forgets a zone that does not answer on its subjects at all (nobody subscribes: it
    /// was invented, or its process is gone), so it is not picked again.
    pub fn forget_unreachable(&mut self, zone: ZoneId) {
        if self.zones.get(&zone).is_some_and(|z| z.owns.is_none()) {
            tracing::info!(%zone, "forgetting a zone nobody answers for");
            self.zones.remove(&zone);
        }
    }

    /// The world grid.
    pub fn grid(&self) -> &WorldGrid {
        &self.grid
    }

    // ------------------------------------------------------------ reports

    /// Takes in a heartbeat or registration: updates the zone, adopts or disputes its
    /// claim on an area, and says which zones must be told they lost an area.
    pub fn report(&mut self, r: Report, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let z = self.zones.entry(r.zone).or_insert_with(|| ZoneEntry {
            identity: r.identity.clone(),
            ws_url: String::new(),
            reported: r.state,
            reported_area: None,
            reported_epoch: None,
            players: 0,
            tick_p99_us: 0,
            ghosts: 0,
            crowding: Crowding::default(),
            last_seen: now,
            unhealthy: false,
            owns: None,
            reserved_for: None,
            draining: None,
            cooldown_until: None,
            lost_sent_at: None,
        });
        if z.unhealthy {
            tracing::info!(zone = %r.zone, "zone is heartbeating again");
        }
        z.ws_url = truncate(r.ws_url);
        z.reported = r.state;
        z.reported_area = r.area;
        z.reported_epoch = r.epoch;
        z.players = r.players;
        z.tick_p99_us = r.tick_p99_us;
        z.ghosts = r.ghosts;
        z.crowding = r.crowding;
        z.last_seen = now;
        z.unhealthy = false;
        match r.state {
            ZoneState::Idle => z.draining = None,
            ZoneState::Draining => z.draining = r.area.or(z.draining),
            _ => {}
        }
        let reserved = z.reserved_for.is_some();
        let owns = z.owns;

        let claim = match (r.state, r.area, r.epoch) {
            (ZoneState::Allocated, Some(a), Some(e)) if self.grid.contains(a) => Some((a, e)),
            _ => None,
        };

        // The area the map gives this zone, when the zone no longer reports it.
        if let Some(owned) = owns
            && claim.map(|(a, _)| a) != Some(owned)
            && r.state != ZoneState::Draining
            && !reserved
        {
            let since = self
                .areas
                .get(&owned)
                .and_then(|a| a.owner)
                .map(|o| o.since);
            let fresh = since.is_some_and(|s| now.duration_since(s) < self.timings.report_grace);
            if r.register || !fresh {
                tracing::info!(zone = %r.zone, area = %owned, "zone no longer holds its area");
                self.set_owner(owned, None, now);
                if self.spawn.contains(&owned) {
                    actions.push(Action::Allocate(owned));
                }
            }
        }

        if let Some((area, epoch)) = claim {
            self.claim(r.zone, area, epoch, now, &mut actions);
        }

        // The owner's player count is the area's.
        if let Some(a) = self.zones.get(&r.zone).and_then(|z| z.owns)
            && let Some(entry) = self.areas.get_mut(&a)
        {
            entry.players = r.players;
            if r.players > 0 {
                entry.last_busy = now;
            }
        }
        actions
    }

    fn claim(
        &mut self,
        zone: ZoneId,
        area: AreaId,
        epoch: Epoch,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if self.retired.get(&area).is_some_and(|r| epoch <= *r) {
            // Sent before the zone gave the area up; its next report will say so.
            return;
        }
        let entry = self
            .areas
            .entry(area)
            .or_insert_with(|| AreaEntry::new(now));
        match entry.owner {
            None => {
                // An allocation or release in flight settles the area; the next report
                // is judged against its outcome.
                if entry.op.is_some() {
                    return;
                }
                tracing::info!(%zone, %area, %epoch, "area adopted from a zone's report");
                self.set_owner(area, Some((zone, epoch)), now);
            }
            Some(o) if o.zone == zone => {
                if epoch > o.epoch
                    && let Some(owner) = entry.owner.as_mut()
                {
                    owner.epoch = epoch;
                }
            }
            Some(o) if epoch > o.epoch => {
                // The claimer holds a later epoch: it is the rightful owner (seen after a
                // restart, when reports arrive in any order).
                tracing::warn!(%area, winner = %zone, %epoch, loser = %o.zone, lost_epoch = %o.epoch,
                    "two zones claim one area; the higher epoch keeps it");
                self.set_owner(area, Some((zone, epoch)), now);
                let old_draining = self
                    .zones
                    .get(&o.zone)
                    .is_some_and(|z| z.draining.is_some());
                if !old_draining {
                    let new_owner_identity = self.identity_word(zone);
                    actions.push(Action::LostArea(LostArea {
                        zone: o.zone,
                        area,
                        lost_epoch: o.epoch,
                        new_owner: zone,
                        new_epoch: epoch,
                        new_owner_identity,
                    }));
                    if let Some(z) = self.zones.get_mut(&o.zone) {
                        z.lost_sent_at = Some(now);
                    }
                }
            }
            Some(o) => {
                // The claimer is stale: tell it (not on every heartbeat), unless it is
                // already handing the area over.
                let Some(z) = self.zones.get_mut(&zone) else {
                    return;
                };
                let recently = z
                    .lost_sent_at
                    .is_some_and(|t| now.duration_since(t) < self.timings.report_grace);
                if z.draining.is_none() && !recently {
                    z.lost_sent_at = Some(now);
                    let new_owner_identity = self.identity_word(o.zone);
                    actions.push(Action::LostArea(LostArea {
                        zone,
                        area,
                        lost_epoch: epoch,
                        new_owner: o.zone,
                        new_epoch: o.epoch,
                        new_owner_identity,
                    }));
                }
            }
        }
    }

    /// Sets (or clears) an area's owner, keeping "a zone owns at most one area" true.
    fn set_owner(&mut self, area: AreaId, owner: Option<(ZoneId, Epoch)>, now: Instant) {
        let entry = self
            .areas
            .entry(area)
            .or_insert_with(|| AreaEntry::new(now));
        if let Some(old) = entry.owner.take()
            && let Some(z) = self.zones.get_mut(&old.zone)
            && z.owns == Some(area)
        {
            z.owns = None;
        }
        entry.players = 0;
        if let Some((zone, epoch)) = owner {
            entry.owner = Some(OwnerRec {
                zone,
                epoch,
                since: now,
            });
            entry.last_busy = now;
            let previous = self.zones.get_mut(&zone).and_then(|z| z.owns.replace(area));
            if let Some(prev) = previous.filter(|p| *p != area)
                && let Some(e) = self.areas.get_mut(&prev)
                && e.owner.is_some_and(|o| o.zone == zone)
            {
                e.owner = None;
            }
        }
    }

    // ------------------------------------------------------------ allocation

    /// The area's owner, if it has one.
    pub fn owner(&self, area: AreaId) -> Option<Owner> {
        let o = self.areas.get(&area)?.owner?;
        Some(Owner {
            zone: o.zone,
            epoch: o.epoch,
            ws_url: self
                .zones
                .get(&o.zone)
                .map(|z| z.ws_url.clone())
                .unwrap_or_default(),
        })
    }

    /// Whether the area has an owner or an operation in flight.
    pub fn is_settled(&self, area: AreaId) -> bool {
        self.areas
            .get(&area)
            .is_some_and(|a| a.owner.is_some() || a.op.is_some())
    }

    /// Starts (or joins) giving `area` an owner.
    pub fn begin_allocate(&mut self, area: AreaId, now: Instant) -> Begin {
        if !self.grid.contains(area) {
            return Begin::Fail(AllocError::OutsideGrid(area));
        }
        if let Some(owner) = self.owner(area) {
            return Begin::Owned(owner);
        }
        let idle = self.pick_idle(now);
        let entry = self
            .areas
            .entry(area)
            .or_insert_with(|| AreaEntry::new(now));
        match &mut entry.op {
            Some(Op::Allocating { waiters, .. }) => {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                Begin::Wait(rx)
            }
            Some(Op::Releasing) => Begin::Fail(AllocError::Busy(area)),
            None => {
                let Some(zone) = idle else {
                    return Begin::Fail(AllocError::NoIdleZone);
                };
                let (tx, rx) = oneshot::channel();
                entry.op = Some(Op::Allocating {
                    zone,
                    waiters: vec![tx],
                });
                if let Some(z) = self.zones.get_mut(&zone) {
                    z.reserved_for = Some(area);
                }
                Begin::Start { zone, rx }
            }
        }
    }

    /// After `failed` did not take the area: reserves another idle zone for the same
    /// allocation, or `None` when none is left.
    pub fn retry_allocate(&mut self, area: AreaId, failed: ZoneId, now: Instant) -> Option<ZoneId> {
        if let Some(z) = self.zones.get_mut(&failed) {
            z.reserved_for = None;
            z.cooldown_until = Some(now + FAILED_ZONE_COOLDOWN);
        }
        let next = self.pick_idle(now)?;
        match self.areas.get_mut(&area).and_then(|a| a.op.as_mut()) {
            Some(Op::Allocating { zone, .. }) => *zone = next,
            _ => return None,
        }
        if let Some(z) = self.zones.get_mut(&next) {
            z.reserved_for = Some(area);
        }
        Some(next)
    }

    /// Ends an allocation: on success `zone` owns the area under `epoch`; every waiter
    /// learns the outcome.
    pub fn finish_allocate(
        &mut self,
        area: AreaId,
        zone: ZoneId,
        outcome: Result<(Epoch, String), AllocError>,
        now: Instant,
    ) -> Result<Owner, AllocError> {
        if let Some(z) = self.zones.get_mut(&zone)
            && z.reserved_for == Some(area)
        {
            z.reserved_for = None;
        }
        let waiters = match self.areas.get_mut(&area).map(|a| a.op.take()) {
            Some(Some(Op::Allocating { waiters, .. })) => waiters,
            Some(other) => {
                // Not ours (cannot happen: only the allocation task finishes it); put back.
                if let Some(a) = self.areas.get_mut(&area) {
                    a.op = other;
                }
                Vec::new()
            }
            None => Vec::new(),
        };
        let result = match outcome {
            Ok((epoch, ws_url)) => {
                if let Some(z) = self.zones.get_mut(&zone) {
                    if !ws_url.is_empty() {
                        z.ws_url = truncate(ws_url);
                    }
                    z.cooldown_until = None;
                }
                self.set_owner(area, Some((zone, epoch)), now);
                Ok(self.owner(area).unwrap_or(Owner {
                    zone,
                    epoch,
                    ws_url: String::new(),
                }))
            }
            Err(e) => Err(e),
        };
        for w in waiters {
            let _ = w.send(result.clone());
        }
        result
    }

    fn pick_idle(&self, now: Instant) -> Option<ZoneId> {
        self.zones
            .iter()
            .filter(|(_, z)| is_idle(z) && z.cooldown_until.is_none_or(|t| t <= now))
            .map(|(id, _)| *id)
            .next()
    }

    /// Drops the owner of `area` if it is still `zone` under `epoch` (the zone said it does
    /// not hold that epoch).
    pub fn forget_owner_if(&mut self, area: AreaId, zone: ZoneId, epoch: Epoch, now: Instant) {
        let current = self.areas.get(&area).and_then(|a| a.owner);
        if current.is_some_and(|o| o.zone == zone && o.epoch == epoch) {
            tracing::info!(%area, %zone, %epoch, "zone does not hold the area; forgetting it");
            self.set_owner(area, None, now);
        }
        self.retire(area, epoch);
    }

    fn retire(&mut self, area: AreaId, epoch: Epoch) {
        let r = self.retired.entry(area).or_default();
        *r = (*r).max(epoch);
    }

    /// The zone confirmed it holds no area (it answered `Release`, `LostArea` or
    /// `Migrate`): it is Idle now, without waiting for its next heartbeat.
    pub fn zone_is_idle(&mut self, zone: ZoneId) {
        if let Some(z) = self.zones.get_mut(&zone)
            && z.owns.is_none()
            && z.reserved_for.is_none()
        {
            z.reported = ZoneState::Idle;
            z.reported_area = None;
            z.reported_epoch = None;
            z.players = 0;
            z.draining = None;
        }
    }

    /// Notes that a player was routed to `area` (it is not idle).
    pub fn touch(&mut self, area: AreaId, now: Instant) {
        if let Some(a) = self.areas.get_mut(&area) {
            a.last_busy = now;
        }
    }

    // ------------------------------------------------------------ release

    /// Starts releasing an area that has an owner and nothing in flight.
    pub fn begin_release(&mut self, area: AreaId) -> Option<(ZoneId, Epoch)> {
        let entry = self.areas.get_mut(&area)?;
        if entry.op.is_some() {
            return None;
        }
        let owner = entry.owner?;
        entry.op = Some(Op::Releasing);
        Some((owner.zone, owner.epoch))
    }

    /// Ends a release; `released` when the zone let the area go (or never held it),
    /// `idle` when it answered that it is Idle now.
    pub fn finish_release(
        &mut self,
        area: AreaId,
        zone: ZoneId,
        epoch: Epoch,
        released: bool,
        idle: bool,
        now: Instant,
    ) {
        if let Some(entry) = self.areas.get_mut(&area)
            && matches!(entry.op, Some(Op::Releasing))
        {
            entry.op = None;
        }
        if released {
            self.forget_owner_if(area, zone, epoch, now);
        }
        if idle {
            self.zone_is_idle(zone);
        }
    }

    // ------------------------------------------------------------ drain

    /// Starts draining `zone`: reserves an idle zone for its area, marks the area busy.
    /// Finish with [`Registry::finish_allocate`] (for the new owner) and
    /// [`Registry::end_drain`].
    pub fn begin_drain(
        &mut self,
        zone: ZoneId,
        now: Instant,
    ) -> Result<(DrainPlan, oneshot::Receiver<Result<Owner, AllocError>>), DrainError> {
        let z = self.zones.get(&zone).ok_or(DrainError::UnknownZone(zone))?;
        if z.unhealthy {
            return Err(DrainError::NotDrainable(zone, "is unhealthy"));
        }
        if z.draining.is_some() {
            return Err(DrainError::NotDrainable(zone, "is already draining"));
        }
        let area = z
            .owns
            .ok_or(DrainError::NotDrainable(zone, "holds no area"))?;
        let to = self.pick_idle(now).ok_or(DrainError::NoIdleZone)?;
        let entry = self
            .areas
            .get_mut(&area)
            .ok_or(DrainError::NotDrainable(zone, "holds no area"))?;
        let owner = entry
            .owner
            .ok_or(DrainError::NotDrainable(zone, "holds no area"))?;
        if entry.op.is_some() {
            return Err(DrainError::Busy(area));
        }
        let (tx, rx) = oneshot::channel();
        entry.op = Some(Op::Allocating {
            zone: to,
            waiters: vec![tx],
        });
        if let Some(t) = self.zones.get_mut(&to) {
            t.reserved_for = Some(area);
        }
        if let Some(z) = self.zones.get_mut(&zone) {
            z.draining = Some(area);
        }
        Ok((
            DrainPlan {
                area,
                from: zone,
                from_epoch: owner.epoch,
                to,
            },
            rx,
        ))
    }

    /// The drain of `zone` ended (migrated, failed or abandoned).
    pub fn end_drain(&mut self, zone: ZoneId) {
        if let Some(z) = self.zones.get_mut(&zone) {
            z.draining = None;
        }
    }

    // ------------------------------------------------------------ sweep

    /// The periodic judgement: zones silent too long become Unhealthy (their areas are to
    /// be reallocated), long-silent ones are forgotten, empty areas are to be released,
    /// and (once `settled`) spawn areas without an owner are to be allocated.
    pub fn sweep(&mut self, now: Instant, settled: bool) -> Vec<Action> {
        let t = self.timings;
        let mut actions = Vec::new();
        let mut orphaned = Vec::new();
        let newest = self.heard_from_any_since_blackout(now);
        for (id, z) in &mut self.zones {
            let silent = now.duration_since(z.last_seen);
            // Silence is judged against the others: a zone is Unhealthy only if another was
            // heard well after it fell silent. When all fall silent together the manager is
            // the one cut off, and none of them has failed.
            let others_heard = newest.is_some_and(|n| n > z.last_seen + t.heartbeat_timeout / 2);
            if !z.unhealthy && silent > t.heartbeat_timeout && others_heard {
                tracing::warn!(zone = %id, silent_ms = silent.as_millis() as u64, "zone is unhealthy");
                metrics::counter!(crate::metrics::UNHEALTHY).increment(1);
                z.unhealthy = true;
                z.draining = None;
                if let Some(a) = z.owns {
                    orphaned.push(a);
                }
            }
        }
        for area in orphaned {
            self.set_owner(area, None, now);
            actions.push(Action::Allocate(area));
        }
        self.zones.retain(|id, z| {
            let forget = z.unhealthy
                && z.owns.is_none()
                && z.reserved_for.is_none()
                && now.duration_since(z.last_seen) > t.forget_after;
            if forget {
                tracing::info!(zone = %id, "forgetting a long-silent zone");
            }
            !forget
        });
        for (area, entry) in &mut self.areas {
            let Some(owner) = entry.owner else { continue };
            let healthy = self
                .zones
                .get(&owner.zone)
                .is_some_and(|z| !z.unhealthy && z.draining.is_none());
            if healthy
                && entry.op.is_none()
                && !self.spawn.contains(area)
                && entry.players == 0
                && now.duration_since(entry.last_busy) > t.release_grace
            {
                entry.op = Some(Op::Releasing);
                actions.push(Action::Release {
                    area: *area,
                    zone: owner.zone,
                    epoch: owner.epoch,
                });
            }
        }
        if settled && self.pick_idle(now).is_some() {
            for area in &self.spawn {
                if !self.is_settled(*area) {
                    actions.push(Action::Allocate(*area));
                }
            }
        }
        // Entries with nothing in them only cost memory.
        self.areas
            .retain(|_, a| a.owner.is_some() || a.op.is_some());
        actions
    }

    /// When a healthy zone was last heard from. After a blackout (none heard for longer than
    /// the failure timeout) every zone's silence starts again from the first one heard, so
    /// the zones whose reports arrive a moment later are not judged for the manager's own
    /// outage.
    fn heard_from_any_since_blackout(&mut self, now: Instant) -> Option<Instant> {
        let newest = self
            .zones
            .values()
            .filter(|z| !z.unhealthy)
            .map(|z| z.last_seen)
            .max()?;
        let silent = now.duration_since(newest);
        if silent > self.timings.heartbeat_timeout {
            if !self.blackout {
                tracing::warn!(
                    silent_ms = u64::try_from(silent.as_millis()).unwrap_or(u64::MAX),
                    "no zone heard from: the manager is cut off; judging none until they are"
                );
                self.blackout = true;
            }
        } else if self.blackout {
            tracing::info!("zones heard from again; each gets a full timeout before it is judged");
            self.blackout = false;
            for z in self.zones.values_mut().filter(|z| !z.unhealthy) {
                z.last_seen = z.last_seen.max(newest);
            }
        }
        Some(newest)
    }

    // ------------------------------------------------------------ views

    /// Every known zone, as the operator API shows it.
    pub fn zones(&self, now: Instant) -> Vec<ZoneInfo> {
        self.zones
            .iter()
            .map(|(id, z)| {
                let owned = z
                    .owns
                    .and_then(|a| self.areas.get(&a)?.owner.map(|o| (a, o.epoch)));
                ZoneInfo {
                    zone: *id,
                    ws_url: z.ws_url.clone(),
                    state: display_state(z),
                    area: owned.map(|(a, _)| a).or(z.reported_area),
                    epoch: owned.map(|(_, e)| e).or(z.reported_epoch),
                    players: z.players,
                    tick_p99_us: z.tick_p99_us,
                    ghosts: z.ghosts,
                    crowding: z.crowding,
                    last_seen_ms: u64::try_from(now.duration_since(z.last_seen).as_millis())
                        .unwrap_or(u64::MAX),
                }
            })
            .collect()
    }

    /// Every area of the grid (or only those with an owner), as the operator API shows it.
    pub fn areas(&self, only_allocated: bool) -> Vec<AreaInfo> {
        let info = |area: AreaId| {
            let e = self.areas.get(&area);
            let owner = e.and_then(|e| e.owner);
            AreaInfo {
                area,
                zone: owner.map(|o| o.zone),
                epoch: owner.map(|o| o.epoch),
                players: e.map_or(0, |e| e.players),
            }
        };
        if only_allocated {
            self.areas
                .iter()
                .filter(|(_, e)| e.owner.is_some())
                .map(|(a, _)| info(*a))
                .collect()
        } else {
            self.grid.areas().map(info).collect()
        }
    }

    /// The pool's shape; with an idle buffer, the change in zone slots to keep it.
    pub fn pool(&self, idle_buffer: Option<u32>) -> PoolStatus {
        let mut p = PoolStatus {
            idle: 0,
            allocated: 0,
            draining: 0,
            unhealthy: 0,
            idle_buffer,
            scale_delta: 0,
        };
        for z in self.zones.values() {
            match display_state(z) {
                ZoneState::Idle => p.idle += 1,
                ZoneState::Allocated => p.allocated += 1,
                ZoneState::Draining => p.draining += 1,
                ZoneState::Unhealthy => p.unhealthy += 1,
                ZoneState::Starting => {}
            }
        }
        if let Some(buffer) = idle_buffer {
            p.scale_delta = i64::from(buffer) - i64::from(p.idle);
        }
        p
    }

    /// Zones in each state, for the gauges.
    pub fn counts(&self) -> BTreeMap<ZoneState, u32> {
        let mut m: BTreeMap<ZoneState, u32> = ZoneState::ALL.iter().map(|s| (*s, 0)).collect();
        for z in self.zones.values() {
            *m.entry(display_state(z)).or_default() += 1;
        }
        m
    }

    /// Areas with an owner.
    pub fn allocated_areas(&self) -> usize {
        self.areas.values().filter(|a| a.owner.is_some()).count()
    }

    /// The spawn areas.
    pub fn spawn_areas(&self) -> impl Iterator<Item = AreaId> + '_ {
        self.spawn.iter().copied()
    }
}

fn is_idle(z: &ZoneEntry) -> bool {
    !z.unhealthy
        && z.reported == ZoneState::Idle
        && z.owns.is_none()
        && z.reserved_for.is_none()
        && z.draining.is_none()
}

fn display_state(z: &ZoneEntry) -> ZoneState {
    if z.unhealthy {
        ZoneState::Unhealthy
    } else if z.draining.is_some() || z.reported == ZoneState::Draining {
        ZoneState::Draining
    } else if z.owns.is_some() || z.reserved_for.is_some() {
        ZoneState::Allocated
    } else {
        z.reported
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_URL_LEN {
        let mut cut = MAX_URL_LEN;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings() -> Timings {
        Timings {
            heartbeat_timeout: Duration::from_secs(3),
            release_grace: Duration::from_secs(10),
            forget_after: Duration::from_secs(60),
            report_grace: Duration::from_secs(2),
        }
    }

    fn reg() -> Registry {
        Registry::new(WorldGrid::default(), &[AreaId::new(0, 0)], timings())
    }

    fn idle(zone: ZoneId) -> Report {
        Report {
            zone,
            identity: Identity::new("UZONE").unwrap(),
            ws_url: format!("ws://{zone}"),
            state: ZoneState::Idle,
            area: None,
            epoch: None,
            players: 0,
            tick_p99_us: 0,
            ghosts: 0,
            crowding: Crowding::default(),
            register: false,
        }
    }

    fn holding(zone: ZoneId, area: AreaId, epoch: u64) -> Report {
        Report {
            state: ZoneState::Allocated,
            area: Some(area),
            epoch: Some(Epoch(epoch)),
            ..idle(zone)
        }
    }

    fn allocate(r: &mut Registry, area: AreaId, epoch: u64, now: Instant) -> ZoneId {
        let Begin::Start { zone, .. } = r.begin_allocate(area, now) else {
            panic!("expected to start an allocation");
        };
        r.finish_allocate(area, zone, Ok((Epoch(epoch), String::new())), now)
            .unwrap();
        zone
    }

    #[test]
    fn concurrent_allocations_coalesce_onto_one_zone() {
        let mut r = reg();
        let now = Instant::now();
        let (a, b) = (ZoneId::new_random(), ZoneId::new_random());
        r.report(idle(a), now);
        r.report(idle(b), now);
        let area = AreaId::new(1, 1);
        let Begin::Start { zone, rx } = r.begin_allocate(area, now) else {
            panic!()
        };
        let mut waiters = vec![rx];
        for _ in 0..99 {
            match r.begin_allocate(area, now) {
                Begin::Wait(rx) => waiters.push(rx),
                other => panic!("{other:?}"),
            }
        }
        r.finish_allocate(area, zone, Ok((Epoch(7), "ws://x".into())), now)
            .unwrap();
        for mut w in waiters {
            assert_eq!(w.try_recv().unwrap().unwrap().zone, zone);
        }
        assert_eq!(r.pool(None).idle, 1);
        assert!(matches!(r.begin_allocate(area, now), Begin::Owned(o) if o.epoch == Epoch(7)));
    }

    #[test]
    fn no_idle_zone_fails_fast() {
        let mut r = reg();
        assert!(matches!(
            r.begin_allocate(AreaId::new(0, 1), Instant::now()),
            Begin::Fail(AllocError::NoIdleZone)
        ));
        assert!(matches!(
            r.begin_allocate(AreaId::new(9, 9), Instant::now()),
            Begin::Fail(AllocError::OutsideGrid(_))
        ));
    }

    /// Two idle zones, then `area` given to one of them: (its owner, the other).
    fn owner_and_idle(r: &mut Registry, area: AreaId, now: Instant) -> (ZoneId, ZoneId) {
        let (a, b) = (ZoneId::new_random(), ZoneId::new_random());
        r.report(idle(a), now);
        r.report(idle(b), now);
        let owner = allocate(r, area, 1, now);
        (owner, if owner == a { b } else { a })
    }

    #[test]
    fn silent_owner_becomes_unhealthy_and_its_area_is_reallocated() {
        let mut r = reg();
        let t0 = Instant::now();
        let area = AreaId::new(2, 2);
        let (owner, other) = owner_and_idle(&mut r, area, t0);
        let t1 = t0 + Duration::from_secs(4);
        r.report(idle(other), t1);
        let actions = r.sweep(t1, true);
        assert!(actions.contains(&Action::Allocate(area)), "{actions:?}");
        assert_eq!(r.counts()[&ZoneState::Unhealthy], 1);
        let new_owner = allocate(&mut r, area, 2, t1);
        assert_eq!(new_owner, other);
        // The old owner comes back claiming the area under its old epoch: it is told.
        let actions = r.report(holding(owner, area, 1), t1);
        assert_eq!(
            actions,
            vec![Action::LostArea(LostArea {
                zone: owner,
                area,
                lost_epoch: Epoch(1),
                new_owner: other,
                new_epoch: Epoch(2),
                new_owner_identity: "UZONE".into(),
            })]
        );
        assert_eq!(r.owner(area).unwrap().zone, other);
    }

    #[test]
    fn zones_all_silent_at_once_are_not_judged_the_manager_was_cut_off() {
        let mut r = reg();
        let t0 = Instant::now();
        let area = AreaId::new(2, 2);
        let (_, other) = owner_and_idle(&mut r, area, t0);
        r.report(idle(other), t0 + Duration::from_millis(900));
        // Nothing heard for 10 s: the manager's own outage.
        let actions = r.sweep(t0 + Duration::from_secs(10), true);
        assert!(!actions.contains(&Action::Allocate(area)), "{actions:?}");
        assert_eq!(
            r.counts().get(&ZoneState::Unhealthy).copied().unwrap_or(0),
            0
        );
        // One zone is heard again; the other's report is a moment behind: not judged.
        let back = t0 + Duration::from_secs(11);
        r.report(idle(other), back);
        let actions = r.sweep(back + Duration::from_millis(200), true);
        assert!(!actions.contains(&Action::Allocate(area)), "{actions:?}");
        assert_eq!(
            r.counts().get(&ZoneState::Unhealthy).copied().unwrap_or(0),
            0
        );
        assert!(r.owner(area).is_some());
        // Still silent a full timeout after the others came back: now it has failed.
        let later = back + Duration::from_secs(4);
        r.report(idle(other), later);
        let actions = r.sweep(later, true);
        assert!(actions.contains(&Action::Allocate(area)), "{actions:?}");
        assert_eq!(r.counts()[&ZoneState::Unhealthy], 1);
    }

    #[test]
    fn after_a_restart_the_higher_epoch_wins() {
        let mut r = reg();
        let now = Instant::now();
        let (old, new) = (ZoneId::new_random(), ZoneId::new_random());
        let area = AreaId::new(3, 0);
        assert!(r.report(holding(old, area, 4), now).is_empty());
        let actions = r.report(holding(new, area, 9), now);
        assert!(
            matches!(&actions[..], [Action::LostArea(l)] if l.zone == old && l.new_owner == new)
        );
        assert_eq!(r.owner(area).unwrap().zone, new);
        // The same order reversed ends the same way.
        let mut r = reg();
        assert!(r.report(holding(new, area, 9), now).is_empty());
        let actions = r.report(holding(old, area, 4), now);
        assert!(matches!(&actions[..], [Action::LostArea(l)] if l.zone == old));
        assert_eq!(r.owner(area).unwrap().epoch, Epoch(9));
        // Not repeated on every heartbeat.
        assert!(r.report(holding(old, area, 4), now).is_empty());
    }

    #[test]
    fn empty_areas_are_released_after_the_grace_but_spawn_areas_stay() {
        let mut r = reg();
        let t0 = Instant::now();
        for _ in 0..2 {
            r.report(idle(ZoneId::new_random()), t0);
        }
        let spawn = AreaId::new(0, 0);
        let other = AreaId::new(1, 0);
        let zs = allocate(&mut r, spawn, 1, t0);
        let zo = allocate(&mut r, other, 2, t0);
        let t1 = t0 + Duration::from_secs(11);
        r.report(holding(zs, spawn, 1), t1);
        r.report(holding(zo, other, 2), t1);
        let actions = r.sweep(t1, true);
        assert_eq!(
            actions,
            vec![Action::Release {
                area: other,
                zone: zo,
                epoch: Epoch(2)
            }]
        );
        r.finish_release(other, zo, Epoch(2), true, true, t1);
        assert_eq!(
            r.pool(None).idle,
            1,
            "idle at once, not at its next heartbeat"
        );
        // A heartbeat sent before the release arrives late: not adopted again.
        assert!(r.report(holding(zo, other, 2), t1).is_empty());
        assert!(r.owner(other).is_none());
        assert!(r.owner(other).is_none());
        assert!(r.owner(spawn).is_some());
    }

    #[test]
    fn busy_areas_are_kept() {
        let mut r = reg();
        let t0 = Instant::now();
        r.report(idle(ZoneId::new_random()), t0);
        let area = AreaId::new(1, 0);
        let z = allocate(&mut r, area, 1, t0);
        let t1 = t0 + Duration::from_secs(11);
        r.report(
            Report {
                players: 3,
                ..holding(z, area, 1)
            },
            t1,
        );
        assert!(r.sweep(t1, true).is_empty());
    }

    #[test]
    fn spawn_areas_are_allocated_once_settled() {
        let mut r = reg();
        let now = Instant::now();
        r.report(idle(ZoneId::new_random()), now);
        assert!(r.sweep(now, false).is_empty());
        assert_eq!(
            r.sweep(now, true),
            vec![Action::Allocate(AreaId::new(0, 0))]
        );
    }

    #[test]
    fn drain_reserves_a_target_and_keeps_the_old_owner_quiet() {
        let mut r = reg();
        let now = Instant::now();
        let (a, b) = (ZoneId::new_random(), ZoneId::new_random());
        r.report(idle(a), now);
        let area = AreaId::new(1, 1);
        allocate(&mut r, area, 1, now);
        assert_eq!(r.begin_drain(a, now).unwrap_err(), DrainError::NoIdleZone);
        r.report(idle(b), now);
        let (plan, _rx) = r.begin_drain(a, now).unwrap();
        assert_eq!((plan.from, plan.to, plan.area), (a, b, area));
        r.finish_allocate(area, b, Ok((Epoch(2), String::new())), now)
            .unwrap();
        // The draining zone still reports the old epoch: no LostArea while it migrates.
        assert!(r.report(holding(a, area, 1), now).is_empty());
        assert_eq!(r.counts()[&ZoneState::Draining], 1);
        r.report(idle(a), now);
        assert_eq!(r.counts()[&ZoneState::Idle], 1);
        assert_eq!(r.owner(area).unwrap().zone, b);
    }

    #[test]
    fn a_fresh_allocation_survives_a_late_idle_heartbeat() {
        let mut r = reg();
        let now = Instant::now();
        let a = ZoneId::new_random();
        r.report(idle(a), now);
        let area = AreaId::new(2, 1);
        allocate(&mut r, area, 1, now);
        r.report(idle(a), now + Duration::from_millis(100));
        assert!(r.owner(area).is_some());
        r.report(idle(a), now + Duration::from_secs(3));
        assert!(r.owner(area).is_none());
    }

    #[test]
    fn a_zone_speaks_only_through_the_identity_that_registered_it() {
        let mut r = reg();
        let now = Instant::now();
        let zone = ZoneId::new_random();
        let mine = Identity::new("UZONE").unwrap();
        let other = Identity::new("UOTHER").unwrap();
        assert_eq!(r.admit(zone, &mine), Ok(()));
        r.report(idle(zone), now);
        assert_eq!(r.admit(zone, &mine), Ok(()));
        assert_eq!(r.admit(zone, &other), Err(ReportRefused::NotYourZone));
        // One identity has room for MAX_ZONES_PER_IDENTITY zones, no more.
        for _ in 1..MAX_ZONES_PER_IDENTITY {
            r.report(idle(ZoneId::new_random()), now);
        }
        assert_eq!(
            r.admit(ZoneId::new_random(), &mine),
            Err(ReportRefused::TooManyZones)
        );
        assert_eq!(r.admit(ZoneId::new_random(), &other), Ok(()));
    }

    #[test]
    fn grants_name_one_zone_per_area_and_epoch() {
        let mut r = reg();
        let (area, zone) = (AreaId::new(1, 1), ZoneId::new_random());
        r.grant(area, Epoch(5), zone);
        assert!(r.granted(area, Epoch(5), zone));
        assert!(!r.granted(area, Epoch(5), ZoneId::new_random()));
        assert!(!r.granted(AreaId::new(1, 2), Epoch(5), zone));
        assert!(!r.granted(area, Epoch(6), zone));
        for e in 6..40 {
            r.grant(area, Epoch(e), zone);
        }
        assert!(!r.granted(area, Epoch(5), zone), "old grants are dropped");
        assert!(r.granted(area, Epoch(39), zone));
    }
}
