//! Players coming and going: a ticket admitted into the simulation, a packet onto their
//! event stack, a disconnect or a drop (saving what they leave), and the whole area given
//! up (everyone saved and told to rejoin). Every removal from the simulation goes through
//! [`ZoneActorState::remove_from_sim`], which closes the player's stay.

use protocol::client::ClientPacket;
use protocol::client::packets::ErrorCode;
use protocol::cluster::PlayerTransfer;
use protocol::http::zone::PlayerStay;
use protocol::{EntityId, Ticket};
use ractor::{ActorRef, RpcReplyPort};

use std::time::{Duration, Instant};

use super::ZoneActorState;
use super::arrivals::PendingArrival;
use crate::stays::now_us;
use crate::zone::{ConnectRefused, Link, ZoneMsg};
use service_kit::time::now_millis;

/// A zone that did not run for longer than this has lost its clients: 2 s, the silence
/// after which a client rejoins elsewhere (PROTOCOL.md §12).
pub(super) const STALL_FENCE: Duration = Duration::from_secs(2);

/// Why an arrival was refused: the area holds as many players as it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("area {area} is full: {present} players and {expected} expected, capacity {capacity}")]
pub(super) struct AreaFull {
    area: protocol::AreaId,
    present: usize,
    expected: usize,
    capacity: u32,
}

impl ZoneActorState {
    /// Whether the held area has room for `character`: those present and those expected
    /// (a ticket not spent yet holds a place) stay under the capacity. A character already
    /// here or expected takes no second place (it reconnects, or joins again). A refusal is
    /// counted for the heartbeat and metrics (`via`: "join" or "handoff").
    pub(super) fn room_for(
        &mut self,
        character: protocol::CharacterId,
        via: &'static str,
    ) -> Result<(), AreaFull> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        if held.sim.player_of(character).is_some() {
            return Ok(());
        }
        let (present, expected) = (
            held.sim.player_count(),
            self.arrivals.places_held(character),
        );
        let capacity = self.shared.config.capacity_of(held.area);
        if present + expected < capacity as usize {
            return Ok(());
        }
        self.heartbeats.refused_full(via);
        Err(AreaFull {
            area: held.area,
            present,
            expected,
            capacity,
        })
    }

    /// A WebSocket presented `ticket`: the pending arrival joins the simulation and `link`
    /// gets its frames from now on.
    pub(super) fn connect(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        ticket: Ticket,
        link: Link,
    ) -> Result<EntityId, ConnectRefused> {
        if self.evacuation.is_some() && self.arrivals.contains(&ticket) {
            // The arrival stays pending: leaving the area saves it if it is this zone's.
            return Err(ConnectRefused::AreaMoving);
        }
        let Some(pending) = self.arrivals.claim(&ticket) else {
            return Err(ConnectRefused::UnknownTicket);
        };
        if pending.expires_at <= now_millis() {
            self.save_unclaimed(myself, pending);
            return Err(ConnectRefused::TicketExpired);
        }
        let (origin, mut arrival) = (pending.origin, pending.arrival);
        // The same character twice: the newer connection wins, the older one is closed,
        // and the newer continues the freshest state of the character held here.
        let old = self
            .held
            .as_ref()
            .and_then(|h| h.sim.player_of(arrival.character.id));
        let replaced = old.and_then(|old| {
            self.outbox
                .close(old, ErrorCode::KICKED, "connected again elsewhere");
            self.remove_from_sim(old, None)
        });
        self.resume_freshest(&mut arrival, origin, replaced);
        let Some(held) = &mut self.held else {
            return Err(ConnectRefused::AreaGone);
        };
        let character = arrival.character.id;
        let entry_seq = arrival.last_input_seq;
        let (entity, opening) = held.sim.add_player(arrival);
        self.shared.stays.open(
            entity,
            PlayerStay {
                character,
                zone: self.id,
                area: held.area,
                entered_us: now_us(),
                left_us: None,
                entry_seq,
                exit_seq: entry_seq,
                inputs_applied: 0,
                handoff_started_us: None,
                first_input_us: None,
                first_input_seq: None,
                arrived_by: origin.arrived_by(),
            },
        );
        self.outbox.connect(entity, link, opening);
        metrics::counter!("zone_players_admitted_total").increment(1);
        Ok(entity)
    }

    /// A decoded packet onto the player's event stack for the next tick.
    pub(super) fn packet(&mut self, player: EntityId, packet: ClientPacket) {
        if let Some(held) = &mut self.held {
            // Unknown player: already left (e.g. transferred); nothing to do.
            let _ = held.sim.push(player, packet);
        }
    }

    /// The client's connection ended: if they were still this zone's, they leave and
    /// their state is saved.
    pub(super) fn disconnected(&mut self, myself: &ActorRef<ZoneMsg>, player: EntityId) {
        if self.outbox.disconnected(player)
            && let Some(gone) = self.remove_from_sim(player, None)
        {
            self.save_departed(myself, gone);
        }
    }

    /// Takes a player out of the simulation, closing their stay and forgetting any border
    /// crossing (`handoff_started_us`: when the handoff that moves them began).
    pub(super) fn remove_from_sim(
        &mut self,
        player: EntityId,
        handoff_started_us: Option<u64>,
    ) -> Option<PlayerTransfer> {
        self.remove_from_sim_as_of(player, handoff_started_us, None)
    }

    /// [`ZoneActorState::remove_from_sim`], the stay ending at `left_us` (now if `None`).
    fn remove_from_sim_as_of(
        &mut self,
        player: EntityId,
        handoff_started_us: Option<u64>,
        left_us: Option<u64>,
    ) -> Option<PlayerTransfer> {
        let held = self.held.as_mut()?;
        let inputs_applied = held.sim.player(player).map_or(0, |p| p.inputs_applied);
        let gone = held.sim.remove_player(player)?;
        self.crossings.remove(player);
        self.shared.stays.close(
            self.id,
            player,
            gone.last_input_seq,
            inputs_applied,
            handoff_started_us,
            left_us,
        );
        Some(gone)
    }

    /// Called before every message: a zone whose ticker did not get through for longer
    /// than [`STALL_FENCE`] was not running (the process was stopped, or starved), and its
    /// clients have given up on it (a client takes 2 s without a frame as a lost
    /// connection and rejoins through the manager, PROTOCOL.md §12), maybe into another
    /// zone the area was given to meanwhile. So every player is dropped at once, before
    /// anything they sent during the stall is applied, their stays ending when the zone
    /// last ran, and nothing saved: the player's state is what was saved, or what the zone
    /// they rejoined holds now (a save from here could only race it).
    pub(super) fn fence_after_stall(&mut self, beat: bool) {
        let now = Instant::now();
        let Some(held) = &mut self.held else { return };
        let stalled = held
            .last_beat
            .filter(|(at, _)| now.duration_since(*at) > STALL_FENCE);
        if beat || stalled.is_some() {
            held.last_beat = Some((now, now_us()));
        }
        let Some((at, last_us)) = stalled else { return };
        let players = self.outbox.players();
        tracing::warn!(
            zone = %self.id,
            stalled_ms = u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX),
            players = players.len(),
            "the zone did not run for longer than its clients wait: its players are dropped, \
             what they sent meanwhile unapplied"
        );
        metrics::counter!("zone_stalls_total").increment(1);
        for player in players {
            metrics::counter!("zone_clients_dropped_total", "reason" => "stalled").increment(1);
            self.outbox.close(
                player,
                ErrorCode::ZONE_UNAVAILABLE,
                "the zone stalled; rejoin",
            );
            let _ = self.remove_from_sim_as_of(player, None, Some(last_us));
        }
    }

    /// Saves a player who left, or holds the save until their quest calls are answered.
    fn save_departed(&mut self, myself: &ActorRef<ZoneMsg>, gone: PlayerTransfer) {
        if let Some(character) = self.quests.departed(gone) {
            self.saves.queue(myself, character);
        }
    }

    /// Closes a player's connection with `code` and takes them out, saving their state if
    /// `save` (not when a newer writer owns it).
    pub(super) fn drop_player(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        player: EntityId,
        code: ErrorCode,
        why: &str,
        save: bool,
    ) {
        self.outbox.close(player, code, why);
        if let Some(gone) = self.remove_from_sim(player, None)
            && save
        {
            self.save_departed(myself, gone);
        }
    }

    /// An arrival nobody will claim: carried state that was this zone's (a committed
    /// handoff, a migration) is saved, unless its character plays here (joined since, in a
    /// session that wins and saves its own, newer state).
    pub(super) fn save_unclaimed(&mut self, myself: &ActorRef<ZoneMsg>, pending: PendingArrival) {
        let playing = self
            .held
            .as_ref()
            .is_some_and(|h| h.sim.player_of(pending.arrival.character.id).is_some());
        if let Some(character) = pending.unclaimed().filter(|_| !playing) {
            self.saves.queue(myself, character);
        }
    }

    /// Gives the area up: every player saved and told to rejoin (carried state still
    /// pending first, so the players are still there to be told apart), timers stopped.
    pub(super) fn leave_area(&mut self, myself: &ActorRef<ZoneMsg>, code: ErrorCode, why: &str) {
        for pending in self.arrivals.drain() {
            self.save_unclaimed(myself, pending);
        }
        for player in self.outbox.players() {
            self.drop_player(myself, player, code, why, true);
        }
        for character in self.quests.drain_leaving() {
            self.saves.queue(myself, character);
        }
        self.crossings.clear();
        self.evacuation = None;
        if let Some(held) = self.held.take() {
            held.stop();
            tracing::info!(zone = %self.id, area = %held.area, epoch = %held.epoch, "released; idle");
            self.register();
        }
    }

    /// The process is stopping: leave the area (saving everyone) and answer once every
    /// save is acknowledged.
    pub(super) fn shutdown(&mut self, myself: &ActorRef<ZoneMsg>, reply: RpcReplyPort<()>) {
        self.leave_area(
            myself,
            ErrorCode::ZONE_UNAVAILABLE,
            "the zone server is shutting down",
        );
        self.saves.when_drained(reply);
    }
}
