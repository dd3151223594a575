//! Giving areas owners and taking them back: allocation (coalesced per area), release of
//! idle areas, and drain (allocate the area to a new zone, then tell the old one to
//! migrate).
//!
//! One allocation per area is in flight at a time; every caller that needs the area
//! meanwhile waits on the same outcome, so a burst of joins to an unallocated area costs
//! one zone. The allocation runs as its own task on the manager's runtime: it finishes
//! (and its epoch is recorded) even if the request that started it goes away.

use std::time::{Duration, Instant};

use protocol::cluster::{
    Allocate, Allocated, ErrorKind, Handover, Migrate, Migrated, Release, Released, ZoneVerb,
};
use protocol::http::manager::DrainStarted;
use protocol::{AreaId, Epoch, ZoneId};

use crate::manager::Manager;
use crate::metrics as m;
use crate::nats::ZoneCallError;
use crate::registry::{AllocError, Begin, DrainError, Owner};

/// How many zones one allocation tries before giving up.
const ATTEMPTS: usize = 3;
/// Most zones found unreachable in one allocation before it gives up.
const MAX_UNREACHABLE: usize = 2 * crate::registry::MAX_ZONES_PER_IDENTITY;
/// How long an allocation waits, at most, for a release of the same area to finish.
const BUSY_WAIT: Duration = Duration::from_secs(3);

/// Why a drain failed.
#[derive(Debug, thiserror::Error)]
pub enum DrainFailure {
    /// It could not start.
    #[error(transparent)]
    Refused(#[from] DrainError),
    /// No zone took the area over.
    #[error(transparent)]
    Allocation(#[from] AllocError),
}

/// Why a release failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseFailure {
    /// The area has no owner.
    #[error("area {0} is not allocated")]
    NotAllocated(AreaId),
    /// Another operation on the area is in flight.
    #[error("area {0} is busy with another allocation or release")]
    Busy(AreaId),
    /// The owner did not let go.
    #[error(transparent)]
    Zone(#[from] ZoneCallError),
}

impl Manager {
    /// The area's owner, allocating an idle zone to it if it has none. Concurrent callers
    /// for one area share one allocation.
    pub async fn ensure(&self, area: AreaId) -> Result<Owner, AllocError> {
        // Right after a restart a zone may hold this area without having said so yet.
        if !self.settled() && self.registry().owner(area).is_none() {
            tokio::time::sleep_until(self.settle_until().into()).await;
        }
        let deadline = Instant::now() + BUSY_WAIT;
        loop {
            let begin = self.registry().begin_allocate(area, Instant::now());
            let rx = match begin {
                Begin::Owned(owner) => return Ok(owner),
                Begin::Wait(rx) => rx,
                Begin::Start { zone, rx } => {
                    let me = self.clone();
                    self.spawn(async move { me.allocate(area, zone, None).await });
                    rx
                }
                Begin::Fail(AllocError::Busy(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Begin::Fail(e) => {
                    if e == AllocError::NoIdleZone {
                        metrics::counter!(m::ALLOCATIONS, "outcome" => "no_idle_zone").increment(1);
                    }
                    return Err(e);
                }
            };
            return rx.await.unwrap_or_else(|_| {
                Err(AllocError::ZoneFailed(
                    "the allocation was abandoned".into(),
                ))
            });
        }
    }

    /// Allocates `zone` (reserved by the registry) to `area`, trying other idle zones if it
    /// fails, and records the outcome for every waiter.
    async fn allocate(&self, area: AreaId, first: ZoneId, handover_from: Option<Handover>) {
        let started = Instant::now();
        let timeout = self.config().zone_timeout;
        let mut zone = first;
        let mut attempt = 0;
        let mut unreachable_zones = 0;
        let outcome = loop {
            attempt += 1;
            let epoch = match self.store().next().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!("cannot persist a new epoch: {e}");
                    break Err(AllocError::Store(e.to_string()));
                }
            };
            self.registry().grant(area, epoch, zone);
            let request = Allocate {
                zone,
                area,
                epoch,
                handover_from: handover_from.clone(),
            };
            let result = self
                .link()
                .call::<_, Allocated>(zone, ZoneVerb::Allocate, &request, timeout)
                .await;
            let error = match result {
                Ok(a) if a.area == area && a.epoch == epoch => break Ok((epoch, a.ws_url)),
                Ok(a) => ZoneCallError::Malformed(format!(
                    "answered for area {} epoch {} instead of {area} epoch {epoch}",
                    a.area, a.epoch
                )),
                Err(e) => e,
            };
            tracing::warn!(%zone, %area, %epoch, "allocation refused or lost: {error}");
            // A zone nobody answers for (invented by a registration, or gone) costs no
            // attempt: it is forgotten and the next idle zone is asked at once, so
            // registrations that never serve cannot starve real zones.
            let unreachable = error == ZoneCallError::NoResponders;
            if unreachable {
                unreachable_zones += 1;
            }
            if attempt - unreachable_zones >= ATTEMPTS || unreachable_zones > MAX_UNREACHABLE {
                break Err(AllocError::ZoneFailed(error.to_string()));
            }
            let next = {
                let mut registry = self.registry();
                let next = registry.retry_allocate(area, zone, Instant::now());
                if unreachable {
                    registry.forget_unreachable(zone);
                }
                next
            };
            match next {
                Some(next) => zone = next,
                None => break Err(AllocError::ZoneFailed(error.to_string())),
            }
        };
        let ok = outcome.is_ok();
        let result = self
            .registry()
            .finish_allocate(area, zone, outcome, Instant::now());
        let outcome_label = if ok { "ok" } else { "failed" };
        metrics::counter!(m::ALLOCATIONS, "outcome" => outcome_label).increment(1);
        metrics::histogram!(m::ALLOCATION_SECONDS).record(started.elapsed().as_secs_f64());
        match result {
            Ok(owner) => {
                tracing::info!(%area, zone = %owner.zone, epoch = %owner.epoch, "area allocated")
            }
            Err(e) => tracing::warn!(%area, "allocation failed: {e}"),
        }
        self.feed().mark_dirty();
    }

    /// Asks the owner of `area` to give it up; the area is free afterwards.
    pub async fn release(&self, area: AreaId) -> Result<(), ReleaseFailure> {
        let begin = {
            let mut r = self.registry();
            match r.begin_release(area) {
                Some(b) => Ok(b),
                None if r.owner(area).is_none() => Err(ReleaseFailure::NotAllocated(area)),
                None => Err(ReleaseFailure::Busy(area)),
            }
        };
        let (zone, epoch) = begin?;
        self.release_from(area, zone, epoch).await
    }

    /// Sends `Release` for an area already marked as releasing, and records the outcome.
    pub(crate) async fn release_from(
        &self,
        area: AreaId,
        zone: ZoneId,
        epoch: Epoch,
    ) -> Result<(), ReleaseFailure> {
        let request = Release { zone, area, epoch };
        let result = self
            .link()
            .call::<_, Released>(
                zone,
                ZoneVerb::Release,
                &request,
                self.config().zone_timeout,
            )
            .await;
        // A zone that does not hold that epoch has nothing to give up: the map was stale.
        let released = match &result {
            Ok(_) => true,
            Err(ZoneCallError::Refused(e)) => {
                matches!(e.kind, ErrorKind::WrongEpoch | ErrorKind::NotFound)
            }
            Err(_) => false,
        };
        self.registry()
            .finish_release(area, zone, epoch, released, result.is_ok(), Instant::now());
        self.feed().mark_dirty();
        let label = if released { "ok" } else { "failed" };
        metrics::counter!(m::RELEASES, "outcome" => label).increment(1);
        match result {
            Err(e) if !released => {
                tracing::warn!(%area, %zone, "release failed: {e}");
                Err(e.into())
            }
            _ => {
                tracing::info!(%area, %zone, %epoch, "area released");
                Ok(())
            }
        }
    }

    /// Drains `zone`: its area is allocated to an idle zone under a new epoch, then the
    /// zone is sent `Migrate` (in the background; its answer comes once every client has
    /// been sent `Transfer`).
    pub async fn drain(&self, zone: ZoneId) -> Result<DrainStarted, DrainFailure> {
        let (plan, rx) = self.registry().begin_drain(zone, Instant::now())?;
        let me = self.clone();
        let handover = Handover {
            zone,
            identity: self
                .link()
                .identity_of(zone)
                .map(|i| i.to_string())
                .unwrap_or_default(),
        };
        self.spawn(async move { me.allocate(plan.area, plan.to, Some(handover)).await });
        let owner = match rx.await {
            Ok(Ok(owner)) => owner,
            Ok(Err(e)) => {
                self.registry().end_drain(zone);
                return Err(e.into());
            }
            Err(_) => {
                self.registry().end_drain(zone);
                return Err(AllocError::ZoneFailed("the allocation was abandoned".into()).into());
            }
        };
        let migrate = Migrate {
            zone,
            area: plan.area,
            epoch: plan.from_epoch,
            target_zone: owner.zone,
            target_epoch: owner.epoch,
            target_identity: self
                .link()
                .identity_of(owner.zone)
                .map(|i| i.to_string())
                .unwrap_or_default(),
        };
        tracing::info!(%zone, area = %plan.area, target = %owner.zone, target_epoch = %owner.epoch,
            "draining: area handed to a new zone, telling the old one to migrate");
        let me = self.clone();
        self.spawn(async move {
            let timeout = me.config().migrate_timeout;
            match me
                .link()
                .call::<_, Migrated>(zone, ZoneVerb::Migrate, &migrate, timeout)
                .await
            {
                Ok(m) => {
                    tracing::info!(%zone, players = m.players, "zone migrated its area");
                    me.registry().zone_is_idle(zone);
                }
                Err(e) => {
                    // It keeps claiming the old epoch, so it is sent `LostArea` next.
                    tracing::warn!(%zone, "migration failed: {e}");
                    me.registry().end_drain(zone);
                }
            }
            me.feed().mark_dirty();
        });
        self.feed().mark_dirty();
        Ok(DrainStarted {
            zone,
            area: plan.area,
            epoch: plan.from_epoch,
            target_zone: owner.zone,
            target_epoch: owner.epoch,
        })
    }
}
