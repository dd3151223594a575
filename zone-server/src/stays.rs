//! The record of who was in which zone when ([`PlayerStay`]), kept by every zone of the
//! process and served at `GET /v1/stays`. Operators use it to trace a player's path across
//! zones; the end-to-end tests use it to prove from the zones' own state that no player was
//! ever simulated by two zones at once, and the handoff benchmark reads its latencies here.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use protocol::http::zone::PlayerStay;
use protocol::{EntityId, ZoneId};
use rustc_hash::FxHashMap;

/// Closed stays kept per process; the oldest are forgotten first.
pub const STAYS_KEPT: usize = 100_000;

/// Wall-clock microseconds since the Unix epoch: the unit of every stay timestamp.
pub use service_kit::time::now_micros as now_us;

/// Open and recently closed stays of one process.
#[derive(Debug, Default)]
pub struct StayBook {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    open: FxHashMap<(ZoneId, EntityId), PlayerStay>,
    closed: VecDeque<PlayerStay>,
}

impl StayBook {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A player was admitted as `entity` of `stay.zone`.
    pub fn open(&self, entity: EntityId, stay: PlayerStay) {
        self.book().open.insert((stay.zone, entity), stay);
    }

    /// The stay's first input (sequence number `seq`) was applied.
    pub fn first_input(&self, zone: ZoneId, entity: EntityId, at_us: u64, seq: u32) {
        if let Some(stay) = self.book().open.get_mut(&(zone, entity)) {
            stay.first_input_us.get_or_insert(at_us);
            stay.first_input_seq.get_or_insert(seq);
        }
    }

    /// The player left the simulation (now, or at `left_us`: the last instant the zone
    /// simulated them, when it learns only later that it stopped then).
    pub fn close(
        &self,
        zone: ZoneId,
        entity: EntityId,
        exit_seq: u32,
        inputs_applied: u64,
        handoff_started_us: Option<u64>,
        left_us: Option<u64>,
    ) {
        let mut book = self.book();
        if let Some(mut stay) = book.open.remove(&(zone, entity)) {
            stay.left_us = Some(left_us.unwrap_or_else(now_us));
            stay.exit_seq = exit_seq;
            stay.inputs_applied = inputs_applied;
            stay.handoff_started_us = handoff_started_us;
            if book.closed.len() >= STAYS_KEPT {
                book.closed.pop_front();
            }
            book.closed.push_back(stay);
        }
    }

    /// Every stay known, closed first (oldest first), then the open ones.
    pub fn all(&self) -> Vec<PlayerStay> {
        let book = self.book();
        book.closed
            .iter()
            .cloned()
            .chain(book.open.values().cloned())
            .collect()
    }
}
