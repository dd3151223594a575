//! What a zone tells the manager about itself: a registration when it starts or becomes
//! Idle, a heartbeat every second (state, area, epoch, counts, tick time p99, how full the
//! area is and how fast its clock runs) with a sample of its players' positions, and, on
//! the same beat, the expiry of tickets nobody spent and a look at the manager's owner map:
//! a zone whose area the map gives to another zone under a newer epoch stands down as if
//! told `LostArea`, for when that request cannot reach it (seen after a partition healed:
//! the NATS cluster lost one zone's subscription for minutes while its other subscriptions
//! worked). The tick times kept here also pace the clock (time dilation).

use std::sync::Arc;
use std::time::Duration;

use protocol::cluster::{
    self, AreaOwner, AreaOwnerQuery, Crowding, Heartbeat, Identity, LostArea, ManagerVerb,
    PlayerDot, PositionSample, Register, Reply, Subjects, ZoneVerb,
};
use protocol::{AreaId, Epoch, ZoneId};
use ractor::ActorRef;

use super::ZoneActorState;
use crate::shared::Shared;
use crate::sim::dilation::Dilation;
use crate::zone::{Distrust, ZoneMsg, nats, trust};
use service_kit::time::now_millis;

/// How long the manager may take to say who owns the zone's area.
const OWNER_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Players' positions sent per heartbeat at most (the dashboard's dots).
const POSITIONS_PER_BEAT: usize = 500;

/// Tick durations since the last heartbeat, the clock they pace, arrivals refused as full
/// since then, and the zone's metrics label.
#[derive(Debug)]
pub(super) struct Heartbeats {
    pub(super) label: String,
    tick_micros: Vec<u32>,
    /// The zone's clock rate, slowed by ticks that overrun the budget.
    pub(super) dilation: Dilation,
    refused_full: u32,
}

impl Heartbeats {
    pub(super) fn new(label: String, dilation_floor_percent: u8) -> Self {
        Self {
            label,
            tick_micros: Vec::new(),
            dilation: Dilation::new(dilation_floor_percent),
            refused_full: 0,
        }
    }

    /// One tick took `took`, of a `budget` (the time between ticks at normal speed):
    /// recorded, and the clock paced by it. Returns the clock's new rate when it changed.
    pub(super) fn tick_took(&mut self, took: Duration, budget: Duration) -> Option<u16> {
        let micros = took.as_micros().min(u128::from(u32::MAX)) as u32;
        self.tick_micros.push(micros);
        metrics::histogram!("zone_tick_duration_seconds").record(f64::from(micros) / 1e6);
        let changed = self.dilation.tick_took(took, budget);
        if let Some(permille) = changed {
            tracing::info!(zone = %self.label, rate = f64::from(permille) / 1000.0, "the zone's clock rate changed (time dilation)");
            metrics::gauge!("zone_time_rate", "zone" => self.label.clone())
                .set(f64::from(permille) / 1000.0);
        }
        changed
    }

    /// A join or a handoff was refused: the area is full.
    pub(super) fn refused_full(&mut self, via: &'static str) {
        self.refused_full = self.refused_full.saturating_add(1);
        metrics::counter!("zone_arrivals_refused_total", "reason" => "full", "via" => via)
            .increment(1);
    }

    /// The 99th percentile of the tick times since the last call (0 without ticks), which
    /// starts the next period.
    fn take_p99(&mut self) -> u32 {
        let micros = &mut self.tick_micros;
        micros.sort_unstable();
        let p99 = micros
            .get((micros.len() * 99 / 100).min(micros.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0);
        micros.clear();
        p99
    }
}

impl ZoneActorState {
    /// Every second: tickets nobody spent expire, the manager hears from the zone, and the
    /// zone checks it still owns its area.
    pub(super) fn heartbeat(&mut self, myself: &ActorRef<ZoneMsg>) {
        self.expire_tickets(myself);
        self.report_heartbeat();
        if self.evacuation.is_none()
            && let Some(held) = &self.held
        {
            let held = (held.area, held.epoch);
            tokio::spawn(stand_down_if_replaced(
                self.shared.clone(),
                myself.clone(),
                self.id,
                held,
            ));
        }
    }

    /// Forgets tickets nobody spent in time ([`save_unclaimed`](Self::save_unclaimed)).
    fn expire_tickets(&mut self, myself: &ActorRef<ZoneMsg>) {
        for pending in self.arrivals.expired(now_millis()) {
            metrics::counter!("zone_tickets_expired_total").increment(1);
            self.save_unclaimed(myself, pending);
        }
    }

    /// Registers with the manager (on start and on becoming Idle).
    pub(super) fn register(&self) {
        let message = Register {
            zone: self.id,
            ws_url: self.shared.ws_url.clone(),
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
        };
        nats::register(&self.shared, message);
    }

    /// Sends a heartbeat now (also on a change of state, so the manager sees it at once).
    pub(super) fn report_heartbeat(&mut self) {
        let now = now_millis();
        let p99 = self.heartbeats.take_p99();
        let (players, npcs, held_at_border) = self.held.as_ref().map_or((0, 0, 0), |h| {
            let sim = &h.sim;
            (
                sim.player_count(),
                sim.npc_count(),
                sim.held_at_border_count(),
            )
        });
        let label = &self.heartbeats.label;
        metrics::gauge!("zone_players", "zone" => label.clone()).set(players as f64);
        metrics::gauge!("zone_npcs", "zone" => label.clone()).set(npcs as f64);
        metrics::gauge!("zone_players_held_at_border", "zone" => label.clone())
            .set(held_at_border as f64);
        let capacity = self
            .held
            .as_ref()
            .map_or(self.shared.config.area_capacity, |h| {
                self.shared.config.capacity_of(h.area)
            });
        metrics::gauge!("zone_area_capacity", "zone" => label.clone()).set(f64::from(capacity));
        let crowding = Crowding {
            capacity,
            held_at_border: held_at_border as u32,
            refused_full: std::mem::take(&mut self.heartbeats.refused_full),
            time_rate_permille: self.heartbeats.dilation.permille(),
        };
        let beat = Heartbeat {
            zone: self.id,
            ws_url: self.shared.ws_url.clone(),
            state: self.zone_state(),
            area: self.held.as_ref().map(|h| h.area),
            epoch: self.held.as_ref().map(|h| h.epoch),
            players: players as u32,
            npcs: npcs as u32,
            tick_p99_us: p99,
            ghosts: self.held.as_ref().map_or(0, |h| h.sim.ghost_count() as u32),
            crowding,
            sent_at: now,
        };
        let sample = self.held.as_ref().map(|h| PositionSample {
            zone: self.id,
            area: h.area,
            players: h
                .sim
                .player_positions()
                .take(POSITIONS_PER_BEAT)
                .map(|(character, x, z)| PlayerDot { character, x, z })
                .collect(),
        });
        nats::publish_heartbeat(&self.shared, beat, sample);
    }
}

/// Checks `zone`'s ownership of its area against the manager's owner map (the manager is
/// asked only when the map disagrees); if the manager names another zone under a newer
/// epoch, the zone is sent the `LostArea` the manager would have sent. The manager naming
/// no owner (it may have just restarted and not heard the zone's heartbeat yet), or not
/// answering (this zone may be the one cut off), changes nothing.
async fn stand_down_if_replaced(
    shared: Arc<Shared>,
    myself: ActorRef<ZoneMsg>,
    zone: ZoneId,
    (area, epoch): (AreaId, Epoch),
) {
    let verdict = trust::check_accepted(&shared, area, zone, epoch, &shared.ws_url).await;
    if !matches!(verdict, Err(Distrust::NotTheOwner(_))) {
        return;
    }
    let Some(owner) = owner_of(&shared, area).await else {
        return;
    };
    if owner.zone == zone || owner.epoch <= epoch {
        return;
    }
    tracing::warn!(%zone, %area, new_owner = %owner.zone, new_epoch = %owner.epoch,
        "the manager's owner map gives this zone's area to another zone; standing down");
    metrics::counter!("zone_stood_down_by_owner_map_total").increment(1);
    let lost = LostArea {
        zone,
        area,
        lost_epoch: epoch,
        new_owner: owner.zone,
        new_epoch: owner.epoch,
        new_owner_identity: owner.identity,
    };
    let Ok(sender) = Identity::new(Subjects::ANONYMOUS) else {
        return;
    };
    let _ = myself.cast(ZoneMsg::Request {
        verb: ZoneVerb::LostArea,
        sender,
        payload: cluster::encode(&lost).into(),
        reply: None,
    });
}

/// Who owns `area` by the manager's word, asked directly; `None` when it names nobody or
/// does not answer.
async fn owner_of(shared: &Shared, area: AreaId) -> Option<AreaOwner> {
    let subject = shared.subjects.manager(ManagerVerb::AreaOwner);
    let body = cluster::encode(&AreaOwnerQuery { area });
    let request = shared.nats.request(subject, body.into());
    let reply = tokio::time::timeout(OWNER_QUERY_TIMEOUT, request)
        .await
        .ok()?
        .ok()?;
    cluster::decode::<Reply<AreaOwner>>(&reply.payload)
        .ok()?
        .ok()
}
