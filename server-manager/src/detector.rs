//! Failure detection and housekeeping: zones' reports (heartbeats, registrations) feed the
//! registry; a sweeper judges silent zones Unhealthy (3 missed heartbeats by default) and
//! gives their areas to idle zones under new epochs, releases areas that stayed empty past
//! the grace time, and keeps the spawn areas allocated. Whatever the registry decides is
//! carried out here over NATS.

use std::time::{Duration, Instant};

use protocol::cluster::{Released, ZoneState, ZoneVerb};

use crate::manager::Manager;
use crate::metrics as m;
use crate::registry::{Action, AllocError, Report, ReportRefused};

impl Manager {
    /// Takes in a zone's heartbeat or registration, unless it says what its sender may
    /// not: a zone of another NATS identity, an epoch the manager never issued, an area
    /// the manager did not give that zone (refused, counted, and nothing changes).
    pub fn handle_report(&self, report: Report) -> Result<(), ReportRefused> {
        if let Err(refused) = self.check_report(&report) {
            metrics::counter!(m::REFUSED, "reason" => refused.label()).increment(1);
            tracing::warn!(zone = %report.zone, identity = %report.identity, area = ?report.area,
                epoch = ?report.epoch, "refusing a zone's report: {refused}");
            return Err(refused);
        }
        self.link().bind(report.zone, report.identity.clone());
        let register = report.register;
        let actions = self.registry().report(report, Instant::now());
        self.carry_out(actions);
        self.feed().mark_dirty();
        if register {
            self.kick();
        }
        Ok(())
    }

    fn check_report(&self, r: &Report) -> Result<(), ReportRefused> {
        let registry = self.registry();
        registry.admit(r.zone, &r.identity)?;
        let Some(epoch) = r.epoch else { return Ok(()) };
        if !self.store().may_have_issued(epoch) {
            return Err(ReportRefused::UnissuedEpoch);
        }
        // An epoch of this run must be one this run gave that zone for that area; older
        // ones (issued before a restart) are judged by the map as before.
        let claims = matches!(r.state, ZoneState::Allocated | ZoneState::Draining);
        if let Some(area) = r.area
            && claims
            && !self.store().issued_before_open(epoch)
            && !registry.granted(area, epoch, r.zone)
        {
            return Err(ReportRefused::NotAllocated);
        }
        Ok(())
    }

    /// Carries out the registry's decisions, each in its own task.
    pub(crate) fn carry_out(&self, actions: Vec<Action>) {
        for action in actions {
            let me = self.clone();
            match action {
                Action::LostArea(lost) => self.spawn(async move {
                    tracing::info!(zone = %lost.zone, area = %lost.area, lost_epoch = %lost.lost_epoch,
                        new_owner = %lost.new_owner, "telling a zone it lost its area");
                    let timeout = me.config().zone_timeout;
                    let result = me
                        .link()
                        .call::<_, Released>(lost.zone, ZoneVerb::LostArea, &lost, timeout)
                        .await;
                    let label = match &result {
                        Ok(_) => "ok",
                        Err(e) if e.is_wrong_epoch() => "wrong_epoch",
                        Err(_) => "failed",
                    };
                    metrics::counter!(m::LOST_AREA, "outcome" => label).increment(1);
                    match result {
                        Ok(_) => {
                            me.registry().zone_is_idle(lost.zone);
                            me.feed().mark_dirty();
                        }
                        Err(e) => {
                            tracing::debug!(zone = %lost.zone, "LostArea not acknowledged: {e}")
                        }
                    }
                }),
                Action::Allocate(area) => self.spawn(async move {
                    match me.ensure(area).await {
                        Ok(_) => {}
                        Err(AllocError::NoIdleZone) => {
                            tracing::debug!(%area, "no idle zone to allocate the area to yet")
                        }
                        Err(e) => tracing::warn!(%area, "could not allocate the area: {e}"),
                    }
                }),
                Action::Release { area, zone, epoch } => self.spawn(async move {
                    let _ = me.release_from(area, zone, epoch).await;
                }),
            }
        }
    }

    /// The sweeper: runs until the task is aborted.
    pub async fn run_sweeper(self) {
        let period = (self.config().heartbeat_interval / 4)
            .clamp(Duration::from_millis(20), Duration::from_millis(250));
        loop {
            self.kicked(period).await;
            let settled = self.settled();
            let (actions, counts, allocated) = {
                let mut r = self.registry();
                let actions = r.sweep(Instant::now(), settled);
                (actions, r.counts(), r.allocated_areas())
            };
            if !actions.is_empty() {
                self.feed().mark_dirty();
            }
            self.carry_out(actions);
            for (state, n) in counts {
                metrics::gauge!(m::ZONES, "state" => state.word()).set(f64::from(n));
            }
            metrics::gauge!(m::AREAS_ALLOCATED).set(allocated as f64);
        }
    }
}
