//! Players at this zone's border, as the sending end of a handoff tracks them: at most one
//! prepare in flight per player, retries backing off after a refusal or no answer, and an
//! entry kept only while the simulation keeps reporting the player past the border (or a
//! prepare about them is in flight).

use std::time::{Duration, Instant};

use protocol::{EntityId, HandoffId};
use rustc_hash::FxHashMap;

use crate::stays::now_us;

/// First wait before retrying a refused handoff; doubles per attempt.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A player at the border.
#[derive(Debug)]
struct Crossing {
    /// The first tick the player was past the margin (the benchmark's start).
    started_us: u64,
    /// Attempts so far.
    attempts: u32,
    /// Last tick a `Crossing` effect named the player (entries not renewed are dropped).
    seen_tick: u32,
    state: CrossingState,
}

#[derive(Debug)]
enum CrossingState {
    /// Prepare sent; the player is frozen.
    InFlight { handoff: HandoffId },
    /// Waiting until then before trying again.
    Waiting { until: Instant },
}

/// The players at one zone's border.
#[derive(Debug, Default)]
pub(super) struct Crossings {
    players: FxHashMap<EntityId, Crossing>,
}

impl Crossings {
    /// The simulation reports `player` past the border on `tick`: whether a prepare may
    /// be sent now (none in flight, no retry wait running).
    pub(super) fn seen(&mut self, player: EntityId, tick: u32) -> bool {
        let entry = self.players.entry(player).or_insert_with(|| Crossing {
            started_us: now_us(),
            attempts: 0,
            seen_tick: tick,
            state: CrossingState::Waiting {
                until: Instant::now(),
            },
        });
        entry.seen_tick = tick;
        match entry.state {
            CrossingState::InFlight { .. } => false,
            CrossingState::Waiting { until } => Instant::now() >= until,
        }
    }

    /// A prepare for `player` is on its way as `handoff`.
    pub(super) fn sent(&mut self, player: EntityId, handoff: HandoffId) {
        if let Some(c) = self.players.get_mut(&player) {
            c.state = CrossingState::InFlight { handoff };
            c.attempts += 1;
        }
    }

    /// Whether `handoff` is the prepare in flight for `player` (a stale answer is not).
    pub(super) fn is_current(&self, player: EntityId, handoff: HandoffId) -> bool {
        self.players.get(&player).is_some_and(
            |c| matches!(c.state, CrossingState::InFlight { handoff: h } if h == handoff),
        )
    }

    /// When `player`'s crossing began, in wall-clock microseconds.
    pub(super) fn started_us(&self, player: EntityId) -> Option<u64> {
        self.players.get(&player).map(|c| c.started_us)
    }

    /// The attempt failed: wait (doubling per attempt) before the next one.
    pub(super) fn retry_later(&mut self, player: EntityId, reason: &str) {
        if let Some(c) = self.players.get_mut(&player) {
            let wait = RETRY_FIRST
                .saturating_mul(1 << c.attempts.saturating_sub(1).min(8))
                .min(RETRY_MAX);
            tracing::debug!(%player, %reason, attempts = c.attempts, ?wait, "handoff not done; holding the player at the border");
            c.state = CrossingState::Waiting {
                until: Instant::now() + wait,
            };
        }
    }

    /// Drops entries the simulation did not report on `tick` (the player stepped back),
    /// unless a prepare about them is in flight.
    pub(super) fn forget_stale(&mut self, tick: u32) {
        self.players.retain(|_, c| {
            matches!(c.state, CrossingState::InFlight { .. }) || c.seen_tick == tick
        });
    }

    /// Whether any prepare is waiting for its answer.
    pub(super) fn any_in_flight(&self) -> bool {
        self.players
            .values()
            .any(|c| matches!(c.state, CrossingState::InFlight { .. }))
    }

    /// The player left the simulation.
    pub(super) fn remove(&mut self, player: EntityId) {
        self.players.remove(&player);
    }

    /// The area is left.
    pub(super) fn clear(&mut self) {
        self.players.clear();
    }
}
