//! What a zone tells the manager about itself: a registration when it starts or becomes
//! Idle, a heartbeat every second (state, area, epoch, counts, tick time p99, how full the
//! area is and how fast its clock runs) with a sample of its players' positions, and, on
//! the same beat, the expiry of tickets nobody spent. The tick times kept here also pace
//! the clock (time dilation).

use std::time::Duration;

use protocol::cluster::{Crowding, Heartbeat, PlayerDot, PositionSample, Register};
use ractor::ActorRef;

use super::ZoneActorState;
use crate::sim::dilation::Dilation;
use crate::zone::{ZoneMsg, nats};
use service_kit::time::now_millis;

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
    /// Every second: tickets nobody spent expire, then the manager hears from the zone.
    pub(super) fn heartbeat(&mut self, myself: &ActorRef<ZoneMsg>) {
        self.expire_tickets(myself);
        self.report_heartbeat();
    }

    /// Forgets tickets nobody spent in time; carried state that was this zone's (a
    /// committed handoff, a migration) is saved.
    fn expire_tickets(&mut self, myself: &ActorRef<ZoneMsg>) {
        for pending in self.arrivals.expired(now_millis()) {
            metrics::counter!("zone_tickets_expired_total").increment(1);
            if let Some(character) = pending.unclaimed() {
                self.saves.queue(myself, character);
            }
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
